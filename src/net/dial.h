/*
 * dial.h: outgoing TCP connections. Tries a list of addresses in order,
 * each with its own connect deadline (course.md §2.4 item 5: IPv4 half
 * first, then IPv6), binding the node's own source address for the family
 * when one is configured (so peers see the right address).
 */
#ifndef WARREN_NET_DIAL_H
#define WARREN_NET_DIAL_H

#include <uv.h>

#include "conn.h"

#define DIAL_MAX_ADDRS 4

struct dial;

/*
 * Result: c is a connected conn (not yet started: call conn_start) and
 * status 0, or c is NULL and status is the last attempt's error. Called
 * exactly once, never from inside dial_start().
 */
typedef void (*dial_cb)(void *arg, struct conn *c, int status);

struct dial_opts {
	uint64_t timeout_ms;          /* per address; 0 = 5000 */
	size_t rcap;                  /* read buffer of the conn */
	const struct sockaddr *bind4; /* source for IPv4, or NULL */
	const struct sockaddr *bind6; /* source for IPv6, or NULL */
};

/*
 * Start connecting to addrs[0..n) in turn (n <= DIAL_MAX_ADDRS). Returns a
 * handle for dial_cancel(), valid until cb has run.
 */
struct dial *dial_start(uv_loop_t *loop, const struct sockaddr_storage *addrs,
    unsigned n, const struct dial_opts *opts, dial_cb cb, void *arg);

/* Stop: cb runs with UV_ECANCELED (later, from the loop). */
void dial_cancel(struct dial *d);

#endif
