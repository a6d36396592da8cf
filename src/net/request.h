/*
 * request.h: the server side of course.md's framing on a node's main port.
 * Reads the 4-byte kind, then exactly the kind's length within the request
 * deadline, checks that nothing follows (§2.3), decodes, and hands the
 * message to the handler registered for that kind. Malformed requests get
 * the answer of §11: LOGI -> "ALGI" + sixteen '0', other R kinds -> the
 * "Invalid request" sentence, O/F kinds and unknown kinds -> close.
 */
#ifndef WARREN_NET_REQUEST_H
#define WARREN_NET_REQUEST_H

#include <uv.h>

#include "conn.h"
#include "wire/course.h"

struct request_server;

/*
 * A valid request arrived on c. The handler owns c from now on: it sets
 * c->on_read / c->on_close / c->owner as it needs (reading is paused) and
 * eventually closes it. c allows a half-close: if the handler reads on,
 * the client's EOF sets c->eof (and calls c->on_eof, NULL unless the
 * handler sets it) instead of closing, so the answer still goes out. m and
 * its views are valid only during the call.
 */
typedef void (*request_cb)(
    void *arg, struct conn *c, const struct course_msg *m);

struct request_stats {
	uint64_t accepted;  /* connections accepted */
	uint64_t handled;   /* valid requests handed to a handler */
	uint64_t malformed; /* wrong length or bad field */
	uint64_t unknown;   /* unknown or unhandled kind */
	uint64_t timeouts;  /* request deadline passed */
	uint64_t truncated; /* EOF before the full request */
};

struct request_server *
request_server_new(uv_loop_t *loop, uint64_t deadline_ms, int max_conns);

/* Listen on one more address. 0 or a negative libuv error. */
int request_server_listen(struct request_server *s, const struct sockaddr *sa);

/* Bound address of the i-th listener, or NULL. */
const struct sockaddr *
request_server_addr(const struct request_server *s, unsigned i);

/* Handle kind with cb. Registering a kind again replaces the handler. */
void request_server_on(
    struct request_server *s, enum course_kind kind, request_cb cb, void *arg);

/*
 * Serve c, accepted by another server on a port it shares with the
 * course protocol, as if s had accepted it: its first bytes (already in
 * c->rbuf) are a course request. s takes c over, callbacks and all.
 */
void request_server_adopt(struct request_server *s, struct conn *c);

/* True for kinds answered on the same connection (model R, §2.1). */
int request_kind_is_rr(enum course_kind kind);

void
request_server_stats(const struct request_server *s, struct request_stats *out);

/* Stop listening; connections already handed over are their handlers'. */
void request_server_free(struct request_server *s);

#endif
