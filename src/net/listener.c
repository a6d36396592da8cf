/*
 * TCP listener with a live-connection cap.
 */
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "listener.h"

struct listener {
	uv_tcp_t tcp;
	uv_loop_t *loop;
	struct sockaddr_storage addr;
	int max_conns;
	size_t rcap;
	int live;   /* accepted connections not yet freed */
	int closed; /* listener_close() called; freed when live == 0 */
	int handle_open;
	listener_cb cb;
	void *arg;
};

static void
listener_reject_closed(uv_handle_t *h)
{
	free(h);
}

static void
listener_maybe_free(struct listener *l)
{
	if (l->closed && !l->handle_open && l->live == 0)
		free(l);
}

static void
listener_conn_freed(void *arg)
{
	struct listener *l = arg;

	l->live--;
	listener_maybe_free(l);
}

static void
listener_accept_cb(uv_stream_t *s, int status)
{
	struct listener *l = s->data;
	struct conn *c;

	if (status != 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	if (l->live >= l->max_conns) {
		uv_tcp_t *t = xmalloc(sizeof(*t));

		uv_tcp_init(l->loop, t);
		if (uv_accept(s, (uv_stream_t *)t) == 0)
			log_debug("connection limit %d reached: closing",
			    l->max_conns);
		uv_close((uv_handle_t *)t, listener_reject_closed);
		return;
	}
	c = conn_new(l->loop, l->rcap);
	if (uv_accept(s, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c, 0);
		return;
	}
	l->live++;
	c->on_free = listener_conn_freed;
	c->free_arg = l;
	l->cb(l->arg, c);
}

int
listener_start(uv_loop_t *loop, const struct sockaddr *addr, int max_conns,
    size_t rcap, listener_cb cb, void *arg, struct listener **out)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	int len = sizeof(l->addr), err;

	l->loop = loop;
	l->max_conns = max_conns;
	l->rcap = rcap;
	l->cb = cb;
	l->arg = arg;
	uv_tcp_init(loop, &l->tcp);
	l->handle_open = 1;
	l->tcp.data = l;
	err = uv_tcp_bind(&l->tcp, addr, 0);
	if (err == 0)
		err = uv_listen(
		    (uv_stream_t *)&l->tcp, 511, listener_accept_cb);
	if (err != 0) {
		listener_close(l);
		return err;
	}
	uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&l->addr, &len);
	*out = l;
	return 0;
}

const struct sockaddr *
listener_addr(const struct listener *l)
{
	return (const struct sockaddr *)&l->addr;
}

int
listener_live(const struct listener *l)
{
	return l->live;
}

static void
listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;

	l->handle_open = 0;
	listener_maybe_free(l);
}

void
listener_close(struct listener *l)
{
	l->closed = 1;
	uv_close((uv_handle_t *)&l->tcp, listener_closed);
}
