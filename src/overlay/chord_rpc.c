/*
 * chord_rpc.c: a chord.md §1 exchange over rr.c (dial, one write, read by
 * counts, close without waiting for EOF) with one deadline for all of it:
 * rr's deadlines are per connect attempt and per silence, and a peer that
 * sends one byte a second must not hold a lookup for minutes.
 */
#include <stdlib.h>
#include <string.h>

#include "chord_rpc.h"
#include "core/xmalloc.h"
#include "peerset.h"
#include "rr.h"
#include "warren/error.h"

#define RPC_RCAP 4096

enum rpc_state {
	RPC_STATUS, /* reading the status line */
	RPC_DATA,   /* copying LEN bytes of data */
};

struct chord_rpc {
	uv_timer_t timer; /* the deadline; r is freed in its close callback */
	struct rr *rr;    /* the exchange, until its done callback */
	enum rpc_state state;
	char *resp;   /* status line + data, want bytes, owned */
	size_t have;  /* bytes of resp received */
	size_t want;  /* status line + LEN, once the status line is in */
	int early;    /* error to report from the timer (no usable address) */
	int finished; /* cb delivered or cancelled */
	chord_rpc_cb cb;
	void *arg;
};

static void
rpc_closed(uv_handle_t *h)
{
	struct chord_rpc *r = h->data;

	free(r->resp);
	free(r);
}

/* Deliver the outcome once and let the timer's close free r. */
static void
rpc_finish(struct chord_rpc *r, int status)
{
	struct chord_status st;
	struct chord_str data = {NULL, 0};
	int n;

	r->finished = 1;
	uv_timer_stop(&r->timer);
	memset(&st, 0, sizeof(st));
	if (status == 0) {
		/* Every data line within LEN, none too long or empty. */
		n = chord_response_parse(r->resp, r->have, &st, &data);
		if (n < 0)
			status = n;
		else if (n == 0 || (size_t)n != r->have)
			status = WARREN_EPROTO;
	}
	if (r->cb != NULL)
		r->cb(r->arg, status, status == 0 ? &st : NULL, data);
	uv_close((uv_handle_t *)&r->timer, rpc_closed);
}

static int
rpc_read(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct chord_rpc *r = arg;
	struct chord_status st;
	size_t take;
	int n;

	switch (r->state) {
	case RPC_STATUS:
		n = chord_status_parse(buf, len, &st);
		if (n <= 0)
			return n;
		r->want = (size_t)n + st.len;
		r->resp = xmalloc(r->want);
		memcpy(r->resp, buf, (size_t)n);
		r->have = (size_t)n;
		r->state = RPC_DATA;
		*done = r->have == r->want;
		return n;
	case RPC_DATA:
		take = r->want - r->have;
		if (take > len)
			take = len;
		memcpy(r->resp + r->have, buf, take);
		r->have += take;
		*done = r->have == r->want;
		return (int)take;
	}
	return WARREN_EPROTO;
}

static void
rpc_done(void *arg, int status)
{
	struct chord_rpc *r = arg;

	r->rr = NULL;
	rpc_finish(r, status);
}

static void
rpc_timeout(uv_timer_t *t)
{
	struct chord_rpc *r = t->data;

	if (r->rr != NULL) {
		rr_cancel(r->rr);
		r->rr = NULL;
		rpc_finish(r, UV_ETIMEDOUT);
	} else {
		rpc_finish(r, r->early);
	}
}

struct chord_rpc *
chord_rpc_start(uv_loop_t *loop, const struct dial_opts *dial,
    const struct sockaddr *to, const void *req, size_t len, uint64_t timeout_ms,
    chord_rpc_cb cb, void *arg)
{
	struct chord_rpc *r = xcalloc(1, sizeof(*r));
	struct course_peer peer;
	struct rr_opts ro;

	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->cb = cb;
	r->arg = arg;
	r->state = RPC_STATUS;
	memset(&ro, 0, sizeof(ro));
	if (dial != NULL)
		ro.dial = *dial;
	if (ro.dial.timeout_ms == 0 || ro.dial.timeout_ms > timeout_ms)
		ro.dial.timeout_ms = timeout_ms;
	ro.timeout_ms = timeout_ms;
	ro.rcap = RPC_RCAP;
	if (peer_from_sockaddr(to, &peer) == 0)
		r->rr = rr_start(
		    loop, &ro, &peer, req, len, rpc_read, rpc_done, r);
	if (r->rr == NULL) {
		/* No usable address: report it from the loop, not from here. */
		r->early = UV_EINVAL;
		uv_timer_start(&r->timer, rpc_timeout, 0, 0);
		return r;
	}
	uv_timer_start(&r->timer, rpc_timeout, timeout_ms, 0);
	return r;
}

void
chord_rpc_cancel(struct chord_rpc *r)
{
	if (r == NULL || r->finished)
		return;
	r->finished = 1;
	if (r->rr != NULL)
		rr_cancel(r->rr);
	r->rr = NULL;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, rpc_closed);
}
