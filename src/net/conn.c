/*
 * TCP connections on libuv: bounded read buffer, idle deadline, writes
 * with caller-owned buffers, and a lingering close so that a reply written
 * just before closing is not destroyed by a reset (the peer may still have
 * unread bytes in flight, e.g. after a malformed request).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/xmalloc.h"
#include "conn.h"
#include "warren/error.h"

#define CONN_LINGER_MS 2000

struct conn_write {
	uv_write_t req;
	struct conn *c;
	conn_write_cb cb;
	void *arg;
	size_t len;
	void *copy; /* owned copy for conn_write_copy */
	int close_after;
};

static void
conn_timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	conn_close(c, UV_ETIMEDOUT);
}

static void
conn_touch(struct conn *c)
{
	if (c->timeout_ms > 0 && !c->closing)
		uv_timer_start(&c->timer, conn_timer_cb, c->timeout_ms, 0);
}

static void
conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	if (c->on_close != NULL)
		c->on_close(c, c->close_err);
	if (c->on_free != NULL)
		c->on_free(c->free_arg);
	free(c->rbase);
	free(c);
}

struct conn *
conn_new(uv_loop_t *loop, size_t rcap)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->rcap = rcap;
	c->rbase = xmalloc(rcap);
	c->rbuf = c->rbase;
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	return c;
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	size_t used = (size_t)(c->rbuf - c->rbase) + c->rlen;

	(void)suggested;
	/* Move unread bytes to the front only when the tail is short, so
	 * consuming small frames from a large buffer stays linear. */
	if (c->rbuf != c->rbase && c->rcap - used < c->rcap / 2) {
		memmove(c->rbase, c->rbuf, c->rlen);
		c->rbuf = c->rbase;
		used = c->rlen;
	}
	buf->base = (char *)c->rbase + used;
	buf->len = c->rcap - used;
}

/* The peer half-closed: libuv has stopped reading (the handle is no longer
 * readable); the owner finishes and closes. */
static void
conn_half_closed(struct conn *c)
{
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = 0;
	if (c->on_eof != NULL)
		c->on_eof(c);
}

static void
conn_read_cb_(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (c->closing)
		return;
	if (nread == UV_ENOBUFS) {
		conn_close(c, WARREN_ELENGTH);
		return;
	}
	if (nread == UV_EOF) {
		c->eof = 1;
		if (c->half_close) {
			conn_half_closed(c);
			return;
		}
	}
	if (nread < 0) {
		conn_close(c, (int)nread);
		return;
	}
	if (nread == 0)
		return;
	c->rlen += (size_t)nread;
	c->rx_bytes += (uint64_t)nread;
	conn_touch(c);
	if (c->on_read != NULL)
		c->on_read(c);
	if (!c->closing && c->rlen == c->rcap && !c->paused)
		conn_close(c, WARREN_ELENGTH);
	/* (A full buffer that is not all unread bytes is compacted by the
	 * next allocation.) */
}

static void
conn_fill_addrs(struct conn *c)
{
	int len = sizeof(c->peer);

	uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len);
	len = sizeof(c->local);
	uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&c->local, &len);
}

int
conn_start(struct conn *c, conn_read_cb on_read, conn_close_cb on_close,
    void *owner, uint64_t timeout_ms)
{
	int err;

	c->on_read = on_read;
	c->on_close = on_close;
	c->owner = owner;
	c->timeout_ms = timeout_ms;
	conn_fill_addrs(c);
	uv_tcp_nodelay(&c->tcp, 1);
	err = uv_read_start(
	    (uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb_);
	if (err != 0)
		return err;
	c->reading = 1;
	conn_touch(c);
	return 0;
}

void
conn_set_timeout(struct conn *c, uint64_t timeout_ms)
{
	c->timeout_ms = timeout_ms;
	if (timeout_ms == 0)
		uv_timer_stop(&c->timer);
	else
		conn_touch(c);
}

void
conn_allow_half_close(struct conn *c, conn_eof_cb on_eof)
{
	c->half_close = 1;
	c->on_eof = on_eof;
}

void
conn_consume(struct conn *c, size_t n)
{
	if (n >= c->rlen) {
		c->rlen = 0;
		c->rbuf = c->rbase;
		return;
	}
	c->rbuf += n;
	c->rlen -= n;
}

void
conn_pause(struct conn *c)
{
	if (c->closing || c->paused)
		return;
	c->paused = 1;
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

void
conn_resume(struct conn *c)
{
	if (c->closing || !c->paused)
		return;
	c->paused = 0;
	conn_touch(c);
	if (c->eof)
		return; /* nothing more will come */
	if (uv_read_start(
		(uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb_) == 0)
		c->reading = 1;
}

static void
conn_write_done(uv_write_t *req, int status)
{
	struct conn_write *w = req->data;
	struct conn *c = w->c;

	c->wpending -= w->len;
	if (status == 0) {
		c->tx_bytes += w->len;
		conn_touch(c);
	}
	if (w->cb != NULL)
		w->cb(c, w->arg, status);
	free(w->copy);
	free(w);
}

static int
conn_queue(
    struct conn *c, const uv_buf_t *bufs, unsigned nbufs, struct conn_write *w)
{
	int err;

	if (c->closing) {
		free(w->copy);
		free(w);
		return UV_ECANCELED;
	}
	w->c = c;
	w->req.data = w;
	w->len = 0;
	for (unsigned i = 0; i < nbufs; i++)
		w->len += bufs[i].len;
	err = uv_write(
	    &w->req, (uv_stream_t *)&c->tcp, bufs, nbufs, conn_write_done);
	if (err != 0) {
		free(w->copy);
		free(w);
		return err;
	}
	c->wpending += w->len;
	return 0;
}

int
conn_writev(struct conn *c, const uv_buf_t *bufs, unsigned nbufs,
    conn_write_cb cb, void *arg)
{
	struct conn_write *w = xcalloc(1, sizeof(*w));

	w->cb = cb;
	w->arg = arg;
	return conn_queue(c, bufs, nbufs, w);
}

int
conn_write_copy(struct conn *c, const void *buf, size_t len)
{
	struct conn_write *w = xcalloc(1, sizeof(*w));
	uv_buf_t b;

	w->copy = xmalloc(len);
	memcpy(w->copy, buf, len);
	b = uv_buf_init(w->copy, (unsigned)len);
	return conn_queue(c, &b, 1, w);
}

/* Lingering close: after our last byte, discard what the peer still sends
 * until it closes or the linger deadline passes. */
static void
conn_drain_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (nread < 0)
		conn_close(c, 0);
	else
		conn_consume(c, c->rlen + (size_t)nread);
}

static void
conn_shutdown_done(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	free(req);
	if (c->closing)
		return;
	if (status != 0) {
		conn_close(c, 0);
		return;
	}
	if (c->eof) {
		/* Both sides are shut and everything was read: no reset can
		 * destroy the reply, nothing is left to drain. */
		c->lingering = 1;
		conn_close(c, 0);
		return;
	}
	conn_consume(c, c->rlen);
	c->on_read = NULL;
	c->timeout_ms = CONN_LINGER_MS;
	uv_timer_start(&c->timer, conn_timer_cb, CONN_LINGER_MS, 0);
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->tcp);
	if (uv_read_start(
		(uv_stream_t *)&c->tcp, conn_alloc_cb, conn_drain_read) != 0)
		conn_close(c, 0);
	c->reading = 1;
	c->lingering = 1;
}

void
conn_finish(struct conn *c)
{
	uv_shutdown_t *req;

	if (c->closing)
		return;
	req = xcalloc(1, sizeof(*req));
	req->data = c;
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, conn_shutdown_done) != 0) {
		free(req);
		conn_close(c, 0);
	}
}

static void
conn_write_close_done(struct conn *c, void *arg, int status)
{
	(void)arg;
	if (status != 0)
		conn_close(c, status);
	else
		conn_finish(c);
}

int
conn_write_close(struct conn *c, const void *buf, size_t len)
{
	struct conn_write *w = xcalloc(1, sizeof(*w));
	uv_buf_t b;
	int err;

	w->copy = xmalloc(len ? len : 1);
	memcpy(w->copy, buf, len);
	w->cb = conn_write_close_done;
	b = uv_buf_init(w->copy, (unsigned)len);
	err = conn_queue(c, &b, 1, w);
	if (err != 0)
		conn_close(c, err);
	return err;
}

void
conn_close(struct conn *c, int err)
{
	if (c->closing || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	c->closing = 1;
	/* Once our reply is out, how the peer goes away is no error. */
	c->close_err = c->lingering ? 0 : err;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

int
conn_peek_more(struct conn *c)
{
	uv_os_fd_t fd;
	char b;

	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
		return 0;
	return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}
