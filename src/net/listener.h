/*
 * listener.h: a TCP listener that hands each accepted connection to its
 * owner, with a cap on simultaneous connections (course.md §11: beyond it,
 * accept and close at once). Binding "::" gives a dual-stack socket that
 * also accepts IPv4 (IPV6_V6ONLY off, course.md §2.4).
 */
#ifndef WARREN_NET_LISTENER_H
#define WARREN_NET_LISTENER_H

#include <uv.h>

#include "conn.h"

struct listener;

/* A new connection; the callee starts it with conn_start() or closes it. */
typedef void (*listener_cb)(void *arg, struct conn *c);

/*
 * Listen on addr (port 0 picks a free port: see listener_addr). rcap is the
 * read buffer size of accepted connections. Returns 0 and sets *out, or a
 * negative libuv error (nothing to free then).
 */
int listener_start(uv_loop_t *loop, const struct sockaddr *addr, int max_conns,
    size_t rcap, listener_cb cb, void *arg, struct listener **out);

/* The bound address (with the real port). */
const struct sockaddr *listener_addr(const struct listener *l);

/* Connections accepted and still open. */
int listener_live(const struct listener *l);

/* Stop listening and free l once its handle is closed. Connections already
 * accepted stay open and are their owners' business. */
void listener_close(struct listener *l);

#endif
