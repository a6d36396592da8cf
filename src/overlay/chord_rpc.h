/*
 * chord_rpc.h: one exchange of chord.md §1 from the client side: connect,
 * write the request line with one write, read the status line and exactly
 * LEN bytes of data, close, all within one deadline (connect plus complete
 * reply). The reply is checked as §5 says (status line at most 256 bytes,
 * LEN at most 1 MiB, data lines at most 512 bytes, LEN matching the data)
 * before the caller sees it. Used for the node protocol and the
 * introducer alike.
 */
#ifndef WARREN_OVERLAY_CHORD_RPC_H
#define WARREN_OVERLAY_CHORD_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "net/dial.h"
#include "wire/chordtxt.h"

struct chord_rpc;

/*
 * The exchange ended. status 0: st is the status line and data its data
 * lines (walk them with chord_lines_next()); both views are valid during
 * the call only. Else a negative code: a libuv error of connect or the
 * socket, UV_ETIMEDOUT (the deadline passed), UV_EOF (closed before the
 * reply was complete), or a WARREN_E code for a reply that breaks §1/§5.
 * Called exactly once, never from inside chord_rpc_start(), and never
 * after chord_rpc_cancel().
 */
typedef void (*chord_rpc_cb)(void *arg, int status,
    const struct chord_status *st, struct chord_str data);

/*
 * Send the request line req[0..len) (copied) to `to` (AF_INET or
 * AF_INET6, with its port), using dial's source binding. timeout_ms
 * bounds the whole exchange. cb may be NULL (fire and forget). Returns a
 * handle for chord_rpc_cancel(), valid until cb has run.
 */
struct chord_rpc *chord_rpc_start(uv_loop_t *loop, const struct dial_opts *dial,
    const struct sockaddr *to, const void *req, size_t len, uint64_t timeout_ms,
    chord_rpc_cb cb, void *arg);

/* Abort: cb does not run. NULL-safe. */
void chord_rpc_cancel(struct chord_rpc *r);

#endif
