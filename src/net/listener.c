/*
 * TCP listener with a live-connection cap.
 */
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "listener.h"

/* Live connections from one address. */
struct listener_src {
	uint8_t key[16]; /* IPv6 form; IPv4 as ::ffff:a.b.c.d */
	int live;
};

struct listener {
	uv_tcp_t tcp;
	uv_loop_t *loop;
	struct sockaddr_storage addr;
	int max_conns;
	size_t rcap;
	int live;                 /* accepted connections not yet freed */
	int per_src_max;          /* from one address: a quarter of max_conns */
	struct listener_src *src; /* max_conns entries; live > 0 in use */
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
	if (l->closed && !l->handle_open && l->live == 0) {
		free(l->src);
		free(l);
	}
}

static void
listener_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(
		    &key[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* The entry of key, or a free one (live == 0) when create. */
static struct listener_src *
listener_src_get(struct listener *l, const uint8_t key[16], int create)
{
	struct listener_src *free_slot = NULL;

	for (int i = 0; i < l->max_conns; i++) {
		struct listener_src *e = &l->src[i];

		if (e->live > 0 && memcmp(e->key, key, 16) == 0)
			return e;
		if (e->live == 0 && free_slot == NULL)
			free_slot = e;
	}
	if (create && free_slot != NULL)
		memcpy(free_slot->key, key, 16);
	return create ? free_slot : NULL;
}

struct listener_conn_ref {
	struct listener *l;
	uint8_t key[16];
};

static void
listener_conn_freed(void *arg)
{
	struct listener_conn_ref *ref = arg;
	struct listener *l = ref->l;
	struct listener_src *e = listener_src_get(l, ref->key, 0);

	if (e != NULL)
		e->live--;
	free(ref);
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
	{
		struct sockaddr_storage peer;
		struct listener_conn_ref *ref;
		struct listener_src *e;
		int len = sizeof(peer);

		memset(&peer, 0, sizeof(peer));
		uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &len);
		ref = xcalloc(1, sizeof(*ref));
		ref->l = l;
		listener_key((struct sockaddr *)&peer, ref->key);
		e = listener_src_get(l, ref->key, 1);
		if (e == NULL || e->live >= l->per_src_max) {
			/* One address may not take every slot. */
			log_debug("per-address connection limit %d reached: "
				  "closing",
			    l->per_src_max);
			free(ref);
			conn_close(c, 0);
			return;
		}
		e->live++;
		l->live++;
		c->on_free = listener_conn_freed;
		c->free_arg = ref;
	}
	l->cb(l->arg, c);
}

int
listener_start(uv_loop_t *loop, const struct sockaddr *addr, int max_conns,
    size_t rcap, listener_cb cb, void *arg, struct listener **out)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	int len = sizeof(l->addr), err;

	l->loop = loop;
	l->max_conns = max_conns > 0 ? max_conns : 1;
	l->per_src_max = l->max_conns / 4 > 4 ? l->max_conns / 4 : 4;
	l->src = xcalloc((size_t)l->max_conns, sizeof(*l->src));
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
