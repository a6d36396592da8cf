/*
 * Outgoing connections with per-address deadlines and source binding.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "dial.h"

struct dial {
	uv_loop_t *loop;
	struct sockaddr_storage addrs[DIAL_MAX_ADDRS];
	unsigned n, next;
	struct dial_opts opts;
	struct sockaddr_storage bind4, bind6;
	int has_bind4, has_bind6;
	dial_cb cb;
	void *arg;
	struct conn *c; /* attempt in progress */
	uv_connect_t req;
	uv_timer_t timer; /* per-attempt deadline */
	int last_err;
	int canceled;
	int finished; /* cb delivered or about to be */
};

static void dial_next(struct dial *d);

static void
dial_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
dial_finish(struct dial *d, struct conn *c, int status)
{
	d->finished = 1;
	uv_timer_stop(&d->timer);
	d->cb(d->arg, c, status);
	uv_close((uv_handle_t *)&d->timer, dial_timer_closed);
}

static void
dial_attempt_closed(struct conn *c, int err)
{
	struct dial *d = c->owner;

	(void)err;
	/* The failed attempt's handles are gone: move on. */
	if (d->canceled)
		dial_finish(d, NULL, UV_ECANCELED);
	else
		dial_next(d);
}

static void
dial_fail_attempt(struct dial *d, int err)
{
	struct conn *c = d->c;

	d->last_err = err;
	d->c = NULL;
	uv_timer_stop(&d->timer);
	c->owner = d;
	c->on_close = dial_attempt_closed;
	conn_close(c, err);
}

static void
dial_connect_cb(uv_connect_t *req, int status)
{
	struct dial *d = req->data;
	struct conn *c = d->c;

	if (c == NULL)
		return; /* attempt already abandoned (timeout, cancel) */
	if (status == 0 && !d->canceled) {
		d->c = NULL;
		dial_finish(d, c, 0);
		return;
	}
	dial_fail_attempt(d, d->canceled ? UV_ECANCELED : status);
}

static void
dial_timeout_cb(uv_timer_t *t)
{
	struct dial *d = t->data;

	if (d->c != NULL)
		dial_fail_attempt(d, UV_ETIMEDOUT);
}

static void
dial_next_cb(uv_timer_t *t)
{
	struct dial *d = t->data;

	dial_next(d);
}

static void
dial_next(struct dial *d)
{
	const struct sockaddr *sa;
	int err;

	if (d->canceled) {
		dial_finish(d, NULL, UV_ECANCELED);
		return;
	}
	if (d->next >= d->n) {
		dial_finish(d, NULL, d->last_err ? d->last_err : UV_EINVAL);
		return;
	}
	sa = (const struct sockaddr *)&d->addrs[d->next++];
	d->c = conn_new(d->loop, d->opts.rcap);
	err = 0;
	if (sa->sa_family == AF_INET && d->has_bind4)
		err = uv_tcp_bind(
		    &d->c->tcp, (const struct sockaddr *)&d->bind4, 0);
	else if (sa->sa_family == AF_INET6 && d->has_bind6)
		err = uv_tcp_bind(
		    &d->c->tcp, (const struct sockaddr *)&d->bind6, 0);
	if (err == 0) {
		d->req.data = d;
		err = uv_tcp_connect(&d->req, &d->c->tcp, sa, dial_connect_cb);
	}
	if (err != 0) {
		dial_fail_attempt(d, err);
		return;
	}
	uv_timer_start(&d->timer, dial_timeout_cb, d->opts.timeout_ms, 0);
}

struct dial *
dial_start(uv_loop_t *loop, const struct sockaddr_storage *addrs, unsigned n,
    const struct dial_opts *opts, dial_cb cb, void *arg)
{
	struct dial *d = xcalloc(1, sizeof(*d));

	d->loop = loop;
	d->n = n < DIAL_MAX_ADDRS ? n : DIAL_MAX_ADDRS;
	memcpy(d->addrs, addrs, d->n * sizeof(addrs[0]));
	d->opts = *opts;
	if (d->opts.timeout_ms == 0)
		d->opts.timeout_ms = 5000;
	if (d->opts.rcap == 0)
		d->opts.rcap = 4096;
	if (opts->bind4 != NULL) {
		memcpy(&d->bind4, opts->bind4, sizeof(struct sockaddr_in));
		((struct sockaddr_in *)&d->bind4)->sin_port = 0;
		d->has_bind4 = 1;
	}
	if (opts->bind6 != NULL) {
		memcpy(&d->bind6, opts->bind6, sizeof(struct sockaddr_in6));
		((struct sockaddr_in6 *)&d->bind6)->sin6_port = 0;
		d->has_bind6 = 1;
	}
	d->opts.bind4 = d->opts.bind6 = NULL;
	d->cb = cb;
	d->arg = arg;
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	/* Never call back from inside dial_start(): begin on the next tick. */
	uv_timer_start(&d->timer, dial_next_cb, 0, 0);
	return d;
}

void
dial_cancel(struct dial *d)
{
	if (d->finished || d->canceled)
		return;
	d->canceled = 1;
	if (d->c != NULL) {
		dial_fail_attempt(d, UV_ECANCELED);
	} else {
		/* Between attempts (the start timer): finish from the timer. */
		uv_timer_stop(&d->timer);
		uv_timer_start(&d->timer, dial_next_cb, 0, 0);
	}
}
