/*
 * rr.h: course.md's "R" model from the client side: connect (IPv4 half of
 * the peer first, then IPv6), write one request with one write, read the
 * reply by counts with a deadline, close. The caller parses: each time
 * bytes arrive its read callback looks at them and says whether the reply
 * is complete. Used by Kazaa peers (LOGI, FIND, LOGO) and the napster
 * overlay (LOGI, ADDF, DELF, FIND, DREG, LOGO).
 */
#ifndef WARREN_OVERLAY_RR_H
#define WARREN_OVERLAY_RR_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "net/dial.h"
#include "wire/course.h"

struct rr;

/*
 * Bytes of the reply so far are buf[0..len) (everything not consumed
 * yet). Return the number of bytes consumed (0..len) and set *done to 1
 * when the reply is complete, or return a negative WARREN_E code to fail
 * the exchange (the connection is closed). Called again when more bytes
 * arrive; a buffer that is full without progress fails with
 * WARREN_ELENGTH.
 */
typedef int (*rr_read_cb)(void *arg, const uint8_t *buf, size_t len, int *done);

/*
 * The exchange ended: status 0 after the read callback said done, or a
 * negative error: connect failure (libuv code), UV_ETIMEDOUT (deadline),
 * UV_EOF (the peer closed before the reply was complete: the read
 * callback has seen every byte), a WARREN_E code from the read callback.
 * Called exactly once, never from inside rr_start().
 */
typedef void (*rr_done_cb)(void *arg, int status);

struct rr_opts {
	struct dial_opts dial; /* connect deadline per address, binding */
	uint64_t timeout_ms;   /* idle deadline while waiting for bytes */
	size_t rcap;           /* read buffer (default 4096) */
};

/*
 * Start an exchange with peer: send msg[0..len) (copied). Returns a handle
 * for rr_cancel (valid until done runs), or NULL if peer has no usable
 * address (done is not called then).
 */
struct rr *rr_start(uv_loop_t *loop, const struct rr_opts *opts,
    const struct course_peer *peer, const void *msg, size_t len,
    rr_read_cb on_read, rr_done_cb done, void *arg);

/* Abort: no callback runs afterwards. */
void rr_cancel(struct rr *r);

#endif
