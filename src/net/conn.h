/*
 * conn.h: one TCP connection on libuv with a bounded read buffer, an idle
 * deadline, and writes whose buffers the caller keeps alive until their
 * callback. Every protocol in warren (course requests, transfers) sits on
 * top of it.
 *
 * Ownership: a conn is created by the listener or by dial and freed by this
 * module after its close callback has run. Its owner learns of the end
 * through on_close and must forget the pointer then.
 */
#ifndef WARREN_NET_CONN_H
#define WARREN_NET_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct conn;

/*
 * New bytes are in c->rbuf[0 .. c->rlen). The callback consumes what it can
 * with conn_consume(). If the buffer is full and nothing is consumed the
 * connection is closed with WARREN_ELENGTH.
 */
typedef void (*conn_read_cb)(struct conn *c);
/* The connection ended: err is 0 for a local close, UV_EOF for the peer's
 * close, UV_ETIMEDOUT for the idle deadline, or another negative code. */
typedef void (*conn_close_cb)(struct conn *c, int err);
/* A write finished (status 0) or failed; the buffer may be reused. */
typedef void (*conn_write_cb)(struct conn *c, void *arg, int status);
/*
 * The peer shut down its sending side (TCP half-close) on a conn that
 * allows it (conn_allow_half_close): reading has stopped for good, c->eof
 * is set and the bytes not yet consumed are still in c->rbuf. The owner
 * answers what it already holds, as usual, and closes once it has nothing
 * left to send (conn_finish, conn_write_close or conn_close).
 */
typedef void (*conn_eof_cb)(struct conn *c);

struct conn {
	uv_tcp_t tcp;     /* embedded; tcp.data == this */
	uv_timer_t timer; /* idle deadline */
	uv_loop_t *loop;
	unsigned open_handles; /* handles not yet closed; freed at 0 */
	int closing;           /* conn_close() called */
	int close_err;         /* reported to on_close */
	int reading;           /* uv_read_start active */
	int paused;            /* reading paused by the owner */
	int eof;               /* peer shut down its side */
	int half_close;        /* the peer's EOF does not close (on_eof) */
	int lingering;         /* reply sent, draining until the peer closes */
	uint64_t timeout_ms;   /* idle deadline; 0 = none */

	uint8_t *rbase; /* read buffer allocation, rcap bytes, owned */
	uint8_t *rbuf;  /* unread bytes start here (inside rbase) */
	size_t rlen;    /* unread bytes held */
	size_t rcap;    /* hard maximum */

	size_t wpending;   /* bytes queued in uv_write not yet done */
	uint64_t rx_bytes; /* totals since connect */
	uint64_t tx_bytes;

	struct sockaddr_storage peer; /* remote address */
	struct sockaddr_storage local;

	conn_read_cb on_read;
	conn_close_cb on_close;
	conn_eof_cb on_eof; /* with half_close; may be NULL */
	void *owner;        /* for the callbacks */
	/* Called just before the conn is freed (the listener's count). */
	void (*on_free)(void *arg);
	void *free_arg;
};

/* Allocate a conn with an initialised, unconnected TCP handle. */
struct conn *conn_new(uv_loop_t *loop, size_t rcap);

/* Start reading and the idle deadline. 0 or a negative libuv error. */
int conn_start(struct conn *c, conn_read_cb on_read, conn_close_cb on_close,
    void *owner, uint64_t timeout_ms);

/* Change the idle deadline (restarts it). */
void conn_set_timeout(struct conn *c, uint64_t timeout_ms);

/*
 * Let the peer half-close: its EOF then stops reading, sets c->eof and
 * calls on_eof (if not NULL) instead of closing the conn, so that answers
 * to requests already received still go out. The owner must close the conn
 * itself once it has answered; the idle deadline keeps running meanwhile.
 * Without this call, the peer's EOF closes the conn with UV_EOF.
 */
void conn_allow_half_close(struct conn *c, conn_eof_cb on_eof);

/* Drop n bytes from the front of the read buffer. */
void conn_consume(struct conn *c, size_t n);

/* Stop / restart reading (backpressure). After a half-close, resuming
 * only clears the pause: nothing more can be read. */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);

/*
 * Queue bufs for writing as one uv_write (a single writev when the socket
 * accepts it all, never split on purpose: course.md §2.2). The buffers must
 * stay valid until cb runs; cb may be NULL. Returns 0 or a negative libuv
 * error (then cb is not called).
 */
int conn_writev(struct conn *c, const uv_buf_t *bufs, unsigned nbufs,
    conn_write_cb cb, void *arg);

/* Copy len bytes and write them; the copy is freed when done. */
int conn_write_copy(struct conn *c, const void *buf, size_t len);

/* Write a message and close once it is out (error sentences, replies). */
int conn_write_close(struct conn *c, const void *buf, size_t len);

/*
 * Close gracefully once the queued writes are out: shut down our side, then
 * discard what the peer still sends until it closes or 2 s pass (so a
 * reply is never destroyed by a reset; at once if the peer has already
 * half-closed). on_close then reports 0.
 */
void conn_finish(struct conn *c);

/*
 * Close the connection; on_close(c, err) runs once, later, from the loop.
 * Pending writes are cancelled. Idempotent.
 */
void conn_close(struct conn *c, int err);

/* Bytes the peer has sent that are not yet read by libuv (MSG_PEEK). */
int conn_peek_more(struct conn *c);

#endif
