/*
 * Course-protocol request reader and dispatcher for a node's main port.
 */
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "listener.h"
#include "request.h"
#include "warren/error.h"

#define REQUEST_MAX_LISTENERS 8
#define REQUEST_RCAP          512 /* > COURSE_MSG_MAX, so extra bytes are seen */

struct request_handler {
	request_cb cb;
	void *arg;
};

struct request_server {
	uv_loop_t *loop;
	uint64_t deadline_ms;
	int max_conns;
	struct listener *listeners[REQUEST_MAX_LISTENERS];
	unsigned nlisteners;
	struct request_handler handlers[COURSE_KIND_COUNT];
	struct request_stats stats;
	unsigned pending; /* connections still reading their request */
	int dead;         /* request_server_free() called; freed at pending 0 */
};

int
request_kind_is_rr(enum course_kind kind)
{
	switch (kind) {
	case COURSE_LOGI:
	case COURSE_ADDF:
	case COURSE_DELF:
	case COURSE_FIND:
	case COURSE_DREG:
	case COURSE_LOGO:
	case COURSE_RETR:
	case COURSE_HASH:
	case COURSE_RETP:
		return 1;
	default:
		return 0;
	}
}

static void
request_reject(struct request_server *s, struct conn *c, enum course_kind kind)
{
	static const char refused_login[] = "ALGI0000000000000000";
	char peer[ADDR_STRLEN];

	s->stats.malformed++;
	addr_format((struct sockaddr *)&c->peer, peer, sizeof(peer));
	log_debug("malformed %s from %s", course_kind_name(kind), peer);
	if (kind == COURSE_LOGI)
		conn_write_close(c, refused_login, sizeof(refused_login) - 1);
	else if (request_kind_is_rr(kind))
		conn_write_close(
		    c, COURSE_SAY_INVALID, sizeof(COURSE_SAY_INVALID) - 1);
	else
		conn_close(c, WARREN_ELENGTH);
}

static void
request_read(struct conn *c)
{
	struct request_server *s = c->owner;
	struct request_handler *h;
	struct course_msg m;
	enum course_kind kind;
	size_t len;
	int n;

	if (s->dead) {
		/* The node is stopping: its handlers may be gone. */
		conn_close(c, 0);
		return;
	}
	if (c->rlen < COURSE_KIND_LEN)
		return;
	kind = course_kind_parse(c->rbuf);
	len = course_kind_len(kind);
	h = &s->handlers[kind];
	if (kind == COURSE_NONE || len == 0 || h->cb == NULL) {
		s->stats.unknown++;
		conn_close(c, WARREN_EKIND);
		return;
	}
	if (c->rlen < len)
		return;
	if (c->rlen > len || conn_peek_more(c)) {
		request_reject(s, c, kind);
		return;
	}
	n = course_decode(c->rbuf, c->rlen, &m);
	if (n <= 0) {
		request_reject(s, c, kind);
		return;
	}
	s->stats.handled++;
	s->pending--;
	conn_pause(c);
	c->on_read = NULL;
	c->on_close = NULL;
	c->owner = NULL;
	conn_set_timeout(c, 0);
	/* One request per connection (§2.1): the client may shut down its
	 * side now (shutdown(SHUT_WR), nc -N) and still reads the answer. A
	 * handler that reads on sees c->eof instead of a close. */
	conn_allow_half_close(c, NULL);
	/* m's views point into rbuf; the handler consumes when done. */
	h->cb(h->arg, c, &m);
}

static void
request_closed(struct conn *c, int err)
{
	struct request_server *s = c->owner;

	if (err == UV_ETIMEDOUT)
		s->stats.timeouts++;
	else if (err == UV_EOF && c->rx_bytes > 0)
		s->stats.truncated++;
	if (--s->pending == 0 && s->dead)
		free(s);
}

static void
request_accept(void *arg, struct conn *c)
{
	struct request_server *s = arg;

	s->stats.accepted++;
	s->pending++;
	if (conn_start(c, request_read, request_closed, s, s->deadline_ms) != 0)
		conn_close(c, 0);
}

void
request_server_adopt(struct request_server *s, struct conn *c)
{
	s->stats.accepted++;
	s->pending++;
	c->owner = s;
	c->on_read = request_read;
	c->on_close = request_closed;
	request_read(c);
}

struct request_server *
request_server_new(uv_loop_t *loop, uint64_t deadline_ms, int max_conns)
{
	struct request_server *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->deadline_ms = deadline_ms;
	s->max_conns = max_conns;
	return s;
}

int
request_server_listen(struct request_server *s, const struct sockaddr *sa)
{
	struct listener *l;
	int err;

	if (s->nlisteners == REQUEST_MAX_LISTENERS)
		return UV_ENOSPC;
	err = listener_start(
	    s->loop, sa, s->max_conns, REQUEST_RCAP, request_accept, s, &l);
	if (err != 0)
		return err;
	s->listeners[s->nlisteners++] = l;
	return 0;
}

const struct sockaddr *
request_server_addr(const struct request_server *s, unsigned i)
{
	return i < s->nlisteners ? listener_addr(s->listeners[i]) : NULL;
}

void
request_server_on(
    struct request_server *s, enum course_kind kind, request_cb cb, void *arg)
{
	s->handlers[kind].cb = cb;
	s->handlers[kind].arg = arg;
}

void
request_server_stats(const struct request_server *s, struct request_stats *out)
{
	*out = s->stats;
}

void
request_server_free(struct request_server *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->nlisteners; i++)
		listener_close(s->listeners[i]);
	s->nlisteners = 0;
	s->dead = 1;
	if (s->pending == 0)
		free(s);
}
