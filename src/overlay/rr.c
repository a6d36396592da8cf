/*
 * rr.c: one "R" exchange of course.md (§2.1 item 4) from the client side:
 * dial the peer (IPv4 half, then IPv6), write the request with one write
 * (§2.2), hand the reply to the caller's parser as it arrives and close as
 * soon as the parser says it is complete, never waiting for EOF (§2.3).
 */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "overlay/peerset.h"
#include "rr.h"
#include "warren/error.h"

#define RR_TIMEOUT_MS 10000 /* idle deadline when opts has none (§13) */
#define RR_RCAP       4096  /* read buffer when opts has none */

enum rr_state {
	RR_DIALING,    /* dial in progress: r->dial */
	RR_EXCHANGING, /* connected: writing, reading the reply: r->c */
	RR_CLOSING,    /* we closed r->c; r->status is the outcome */
	RR_DONE,       /* done delivered (or cancelled): freed when idle */
};

/*
 * One exchange. Lives from rr_start() until it is DONE and nothing of
 * dial or conn refers to it any more (the dial callback has run, the
 * conn's close callback has run, the write callback has run).
 */
struct rr {
	enum rr_state state;
	int canceled;      /* rr_cancel(): the user hears nothing more */
	int status;        /* outcome chosen when we closed (CLOSING) */
	int write_pending; /* conn_writev() queued, callback not yet run */
	struct dial *dial; /* DIALING, else NULL */
	struct conn *c;    /* until its close callback, else NULL */
	uint64_t timeout_ms;
	uint8_t *msg; /* the request, owned; alive until the write callback */
	size_t len;
	rr_read_cb on_read;
	rr_done_cb done;
	void *arg;
	char label[ADDR_STRLEN]; /* the peer, for logs */
};

static const char *
rr_state_name(enum rr_state s)
{
	switch (s) {
	case RR_DIALING:
		return "DIALING";
	case RR_EXCHANGING:
		return "EXCHANGING";
	case RR_CLOSING:
		return "CLOSING";
	case RR_DONE:
		return "DONE";
	}
	return "?";
}

static void
rr_set_state(struct rr *r, enum rr_state s)
{
	log_debug("rr %s: %s -> %s", r->label, rr_state_name(r->state),
	    rr_state_name(s));
	r->state = s;
}

/* Free r once it is over and no callback of dial or conn can reach it. */
static void
rr_maybe_free(struct rr *r)
{
	if (r->state != RR_DONE || r->dial != NULL || r->c != NULL ||
	    r->write_pending)
		return;
	free(r->msg);
	free(r);
}

/*
 * The exchange is over with status. The user hears of it last (unless
 * cancelled), from a dial or conn callback, so done may start another
 * exchange; r is freed after done returns if nothing refers to it.
 */
static void
rr_end(struct rr *r, int status)
{
	rr_set_state(r, RR_DONE);
	if (status != 0)
		log_debug("rr %s: %s", r->label, warren_strerror(status));
	if (!r->canceled)
		r->done(r->arg, status);
	rr_maybe_free(r);
}

/* Close the connection; the outcome is status, reported by rr_closed(). */
static void
rr_close(struct rr *r, int status)
{
	r->status = status;
	rr_set_state(r, RR_CLOSING);
	conn_close(r->c, status);
}

static void
rr_closed(struct conn *c, int err)
{
	struct rr *r = c->owner;
	/* Unless we closed it, the conn ended on its own: EOF, idle
	 * deadline, full buffer without progress, a socket error. */
	int status = err != 0 ? err : UV_EOF;

	r->c = NULL;
	switch (r->state) {
	case RR_EXCHANGING:
		break;
	case RR_CLOSING:
		status = r->status;
		break;
	case RR_DIALING:
	case RR_DONE:
		assert(0);
		return;
	}
	rr_end(r, status);
}

static void
rr_read(struct conn *c)
{
	struct rr *r = c->owner;
	int done, n;

	/*
	 * Offer the unread bytes again while the parser makes progress, so
	 * a parser that takes one piece at a time does not wait for bytes
	 * that have already come.
	 */
	while (r->state == RR_EXCHANGING && c->rlen > 0) {
		done = 0;
		n = r->on_read(r->arg, c->rbuf, c->rlen, &done);
		if (r->state != RR_EXCHANGING)
			return; /* rr_cancel() from the callback */
		if (n < 0) {
			rr_close(r, n);
			return;
		}
		assert((size_t)n <= c->rlen);
		conn_consume(c, (size_t)n);
		if (done) {
			/* Complete: close now, never wait for the peer's
			 * close (§2.1 item 3). */
			rr_close(r, 0);
			return;
		}
		if (n == 0)
			break;
	}
	/* A full buffer without progress: conn closes with WARREN_ELENGTH. */
}

static void
rr_written(struct conn *c, void *arg, int status)
{
	struct rr *r = arg;

	r->write_pending = 0;
	/* ECANCELED after a close is no news: only a failed write of a
	 * connection still open decides the outcome. */
	if (status != 0 && r->state == RR_EXCHANGING && !c->closing)
		rr_close(r, status);
	rr_maybe_free(r);
}

static void
rr_dialed(void *arg, struct conn *c, int status)
{
	struct rr *r = arg;
	uv_buf_t buf;
	int err;

	r->dial = NULL;
	if (r->canceled) {
		if (c != NULL)
			conn_close(c, UV_ECANCELED);
		rr_end(r, UV_ECANCELED);
		return;
	}
	if (status != 0) {
		rr_end(r, status);
		return;
	}
	rr_set_state(r, RR_EXCHANGING);
	r->c = c;
	err = conn_start(c, rr_read, rr_closed, r, r->timeout_ms);
	if (err == 0) {
		buf = uv_buf_init((char *)r->msg, (unsigned)r->len);
		r->write_pending = 1;
		err = conn_writev(c, &buf, 1, rr_written, r);
		if (err != 0)
			r->write_pending = 0; /* its callback will not run */
	}
	if (err != 0)
		rr_close(r, err);
}

struct rr *
rr_start(uv_loop_t *loop, const struct rr_opts *opts,
    const struct course_peer *peer, const void *msg, size_t len,
    rr_read_cb on_read, rr_done_cb done, void *arg)
{
	struct download_source src;
	struct dial_opts dopts;
	struct rr *r;

	assert(len <= UINT_MAX);
	peer_source(peer, &src);
	if (src.naddrs == 0)
		return NULL;
	memset(&dopts, 0, sizeof(dopts));
	if (opts != NULL)
		dopts = opts->dial;
	dopts.rcap = opts != NULL && opts->rcap > 0 ? opts->rcap : RR_RCAP;

	r = xcalloc(1, sizeof(*r));
	r->timeout_ms = opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms
							     : RR_TIMEOUT_MS;
	r->msg = xmalloc(len > 0 ? len : 1);
	memcpy(r->msg, msg, len);
	r->len = len;
	r->on_read = on_read;
	r->done = done;
	r->arg = arg;
	memcpy(r->label, src.label, sizeof(r->label));
	r->state = RR_DIALING;
	log_debug("rr %s: DIALING (%zu byte request)", r->label, len);
	/* dial never calls back from inside dial_start(). */
	r->dial = dial_start(loop, src.addrs, src.naddrs, &dopts, rr_dialed, r);
	return r;
}

void
rr_cancel(struct rr *r)
{
	if (r == NULL || r->canceled)
		return;
	r->canceled = 1;
	switch (r->state) {
	case RR_DIALING:
		/* rr_dialed() runs later with the result and frees r. */
		dial_cancel(r->dial);
		break;
	case RR_EXCHANGING:
		rr_close(r, UV_ECANCELED);
		break;
	case RR_CLOSING:
	case RR_DONE:
		/* Closing already (rr_closed() frees r), or done is being
		 * delivered right now: nothing more runs either way. */
		break;
	}
}
