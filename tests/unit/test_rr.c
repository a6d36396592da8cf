/*
 * Unit tests for src/overlay/rr.c: request/response exchanges against a
 * scripted server on loopback, in the same libuv loop. The server reads
 * the request, answers with scripted pieces (optionally delayed), and
 * keeps the connection open, so every success here also shows that the
 * client does not wait for EOF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "overlay/rr.h"
#include "warren/error.h"
#include "wire/course.h"

#define WAIT_MS    10000 /* bound on every wait */
#define MAX_SCONNS 16
#define MAX_PIECES 4
#define LOGI_LEN   (COURSE_KIND_LEN + COURSE_IPP2P_LEN + COURSE_PP2P_LEN)
#define ALGI_LEN   (COURSE_KIND_LEN + COURSE_SESSION_LEN)

/* One piece of the server's reply: written delay_ms after the previous. */
struct piece {
	size_t off, len;
	uint64_t delay_ms;
};

enum reader_mode {
	READER_FIXED,     /* need want bytes, take them all at once */
	READER_PIECEWISE, /* take at most 4 bytes per call */
	READER_FAIL,      /* any byte is an error */
	READER_CANCEL,    /* rr_cancel() from inside the callback */
};

struct sconn; /* an accepted connection */

struct fx {
	uv_loop_t loop;
	uv_tcp_t lst;
	int lst_open;
	uv_tcp_t hold; /* bound, not listening: connects are refused */
	int hold_open;
	uint16_t port;
	uv_timer_t deadline;
	int expired;

	/* The server's script. */
	size_t need; /* request bytes to read before answering */
	uint8_t reply[256];
	struct piece pieces[MAX_PIECES];
	unsigned npieces; /* 0: never answer */
	int close_after;  /* close once the pieces are out */
	struct sconn *sc[MAX_SCONNS];
	unsigned accepted;         /* connections accepted */
	unsigned nreq;             /* requests read in full */
	unsigned server_eof;       /* connections the client closed */
	uint8_t got[LOGI_LEN * 2]; /* what the last connection sent */
	size_t got_len;            /* all of it, up to the client's close */

	/* The client. */
	struct rr *r;
	struct rr_opts opts;
	struct course_peer peer;
	uint8_t req[LOGI_LEN];
	enum reader_mode mode;
	size_t want;       /* READER_FIXED, READER_PIECEWISE: reply length */
	size_t taken;      /* bytes consumed so far (this exchange) */
	unsigned nread;    /* read callback calls */
	size_t last_len;   /* len offered at the last call */
	uint8_t seen[256]; /* consumed bytes (this exchange) */
	unsigned ndone;
	int status;
	uint64_t started_ms, done_ms;
	unsigned chain; /* exchanges still to start from done */
	int chain_status[8];
};

struct sconn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* next piece */
	struct fx *fx;
	unsigned slot; /* in fx->sc */
	unsigned open; /* handles not yet closed */
	int replying;  /* request read, pieces under way */
	unsigned next; /* next piece */
	uint8_t buf[LOGI_LEN * 2];
	size_t len;
};

/* ---------------------------------------------------------------- loop */

static void
deadline_cb(uv_timer_t *t)
{
	struct fx *fx = t->data;

	fx->expired = 1;
}

typedef int (*pred_fn)(struct fx *fx, unsigned arg);

/* Run the loop until pred holds; fail the test after WAIT_MS. */
static void
run_until(struct fx *fx, pred_fn pred, unsigned arg, const char *what)
{
	fx->expired = 0;
	uv_timer_start(&fx->deadline, deadline_cb, WAIT_MS, 0);
	while (!pred(fx, arg) && !fx->expired)
		uv_run(&fx->loop, UV_RUN_ONCE);
	uv_timer_stop(&fx->deadline);
	if (!pred(fx, arg))
		fail_msg("timed out after %d ms waiting for %s", WAIT_MS, what);
}

static int
done_at_least(struct fx *fx, unsigned n)
{
	return fx->ndone >= n;
}

static int
reqs_at_least(struct fx *fx, unsigned n)
{
	return fx->nreq >= n;
}

static int
eofs_at_least(struct fx *fx, unsigned n)
{
	return fx->server_eof >= n;
}

static int
loop_idle(struct fx *fx, unsigned arg)
{
	(void)arg;
	return !uv_loop_alive(&fx->loop);
}

/* -------------------------------------------------------------- server */

static void
sconn_closed(uv_handle_t *h)
{
	struct sconn *s = h->data;

	if (--s->open > 0)
		return;
	s->fx->sc[s->slot] = NULL;
	free(s);
}

static void
sconn_close(struct sconn *s)
{
	if (uv_is_closing((uv_handle_t *)&s->tcp))
		return;
	uv_close((uv_handle_t *)&s->tcp, sconn_closed);
	uv_close((uv_handle_t *)&s->timer, sconn_closed);
}

static void
sconn_write_piece(struct sconn *s)
{
	struct fx *fx = s->fx;
	const struct piece *p = &fx->pieces[s->next++];
	uv_buf_t b = uv_buf_init((char *)fx->reply + p->off, (unsigned)p->len);

	if (p->len == 0)
		return;
	/* Small pieces on loopback: the kernel takes each one whole. */
	assert_int_equal(
	    uv_try_write((uv_stream_t *)&s->tcp, &b, 1), (int)p->len);
}

static void sconn_next(struct sconn *s);

static void
sconn_timer(uv_timer_t *t)
{
	struct sconn *s = t->data;

	sconn_write_piece(s);
	sconn_next(s);
}

/* Write the pieces due now, arm the timer for a delayed one. */
static void
sconn_next(struct sconn *s)
{
	struct fx *fx = s->fx;

	while (s->next < fx->npieces) {
		if (fx->pieces[s->next].delay_ms > 0) {
			uv_timer_start(&s->timer, sconn_timer,
			    fx->pieces[s->next].delay_ms, 0);
			return;
		}
		sconn_write_piece(s);
	}
	if (fx->npieces > 0 && fx->close_after)
		sconn_close(s);
	/* Otherwise the connection stays open: the client closes it. */
}

static void
sconn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sconn *s = h->data;

	(void)suggested;
	*buf = uv_buf_init(
	    (char *)s->buf + s->len, (unsigned)(sizeof(s->buf) - s->len));
}

static void
sconn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct sconn *s = st->data;
	struct fx *fx = s->fx;

	(void)buf;
	if (nread > 0) {
		s->len += (size_t)nread;
		memcpy(fx->got, s->buf, s->len);
		fx->got_len = s->len;
		if (!s->replying && s->len >= fx->need) {
			s->replying = 1;
			fx->nreq++;
			sconn_next(s);
		}
		if (s->len == sizeof(s->buf))
			fail_msg("the client sent more than %zu bytes",
			    sizeof(s->buf));
		return;
	}
	if (nread == 0)
		return;
	if (nread == UV_EOF)
		fx->server_eof++;
	sconn_close(s);
}

static void
lst_conn(uv_stream_t *server, int status)
{
	struct fx *fx = server->data;
	struct sconn *s;
	unsigned i;

	if (status != 0)
		return;
	for (i = 0; i < MAX_SCONNS && fx->sc[i] != NULL; i++)
		;
	assert_true(i < MAX_SCONNS);
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->fx = fx;
	s->slot = i;
	fx->sc[i] = s;
	uv_tcp_init(&fx->loop, &s->tcp);
	uv_timer_init(&fx->loop, &s->timer);
	s->tcp.data = s;
	s->timer.data = s;
	s->open = 2;
	if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
		sconn_close(s);
		return;
	}
	fx->accepted++;
	uv_read_start((uv_stream_t *)&s->tcp, sconn_alloc, sconn_read);
}

/* Listen on sa (port 0); returns 0 or a libuv error. */
static int
listen_on(struct fx *fx, const struct sockaddr *sa)
{
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	int err;

	uv_tcp_init(&fx->loop, &fx->lst);
	fx->lst.data = fx;
	fx->lst_open = 1;
	if ((err = uv_tcp_bind(&fx->lst, sa, 0)) != 0 ||
	    (err = uv_listen((uv_stream_t *)&fx->lst, 16, lst_conn)) != 0)
		return err;
	uv_tcp_getsockname(&fx->lst, (struct sockaddr *)&bound, &len);
	if (bound.ss_family == AF_INET)
		fx->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	else
		fx->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	return 0;
}

/*
 * Bind 127.0.0.1:port (0: any) without listening, and keep it: connects
 * there are refused, and unlike a closed listener's port no other process
 * can be given it meanwhile. Returns 0 or a libuv error.
 */
static int
hold_v4(struct fx *fx, uint16_t port)
{
	struct sockaddr_in sin;
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	int err;

	uv_tcp_init(&fx->loop, &fx->hold);
	fx->hold_open = 1;
	assert_int_equal(uv_ip4_addr("127.0.0.1", port, &sin), 0);
	if ((err = uv_tcp_bind(&fx->hold, (const struct sockaddr *)&sin, 0)) !=
	    0)
		return err;
	/* libuv may report EADDRINUSE only later: look at what we got. */
	if ((err = uv_tcp_getsockname(
		 &fx->hold, (struct sockaddr *)&bound, &len)) != 0)
		return err;
	if (bound.ss_family != AF_INET ||
	    ((struct sockaddr_in *)&bound)->sin_port == 0)
		return UV_EADDRINUSE;
	fx->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return 0;
}

static void
listen_v4(struct fx *fx)
{
	struct sockaddr_in sin;

	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
	assert_int_equal(listen_on(fx, (const struct sockaddr *)&sin), 0);
}

/* ------------------------------------------------------------- scripts */

/* An ALGI reply (20 bytes) with a session id holding odd byte values. */
static void
script_algi(struct fx *fx)
{
	memcpy(fx->reply, "ALGI", 4);
	for (size_t i = 4; i < ALGI_LEN; i++)
		fx->reply[i] = (uint8_t)(i * 37 + 1);
	fx->reply[7] = 0;
	fx->reply[8] = 0xff;
	fx->want = ALGI_LEN;
}

/* The reply in pieces of the given lengths, each delay_ms apart. */
static void
script_pieces(struct fx *fx, const size_t *lens, unsigned n, uint64_t delay_ms)
{
	size_t off = 0;

	assert_true(n <= MAX_PIECES);
	for (unsigned i = 0; i < n; i++) {
		fx->pieces[i].off = off;
		fx->pieces[i].len = lens[i];
		fx->pieces[i].delay_ms = i == 0 ? 0 : delay_ms;
		off += lens[i];
	}
	fx->npieces = n;
}

/* A LOGI request as a peer at 127.0.0.1 port 4000 sends it. */
static void
make_logi(uint8_t out[LOGI_LEN])
{
	struct course_peer me;

	memset(&me, 0, sizeof(me));
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", me.v4), 1);
	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", me.v6), 1);
	me.port = 4000;
	memcpy(out, "LOGI", 4);
	course_ipp2p_format(&me, (char *)out + 4);
	memcpy(out + 4 + COURSE_IPP2P_LEN, "04000", COURSE_PP2P_LEN);
}

static struct course_peer
peer_v4(const char *ip, uint16_t port)
{
	struct course_peer p;

	memset(&p, 0, sizeof(p)); /* IPv6 half "::": absent */
	assert_int_equal(inet_pton(AF_INET, ip, p.v4), 1);
	p.port = port;
	return p;
}

/* -------------------------------------------------------------- client */

static void done_cb(void *arg, int status);

static int
read_cb(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct fx *fx = arg;
	size_t n = 0;

	assert_true(len > 0);
	fx->nread++;
	fx->last_len = len;
	switch (fx->mode) {
	case READER_FIXED:
		if (len < fx->want - fx->taken)
			return 0;
		n = fx->want - fx->taken;
		break;
	case READER_PIECEWISE:
		n = len < 4 ? len : 4;
		if (n > fx->want - fx->taken)
			n = fx->want - fx->taken;
		break;
	case READER_FAIL:
		return WARREN_EPROTO;
	case READER_CANCEL:
		rr_cancel(fx->r);
		fx->r = NULL;
		return 0;
	}
	assert_true(fx->taken + n <= sizeof(fx->seen));
	memcpy(fx->seen + fx->taken, buf, n);
	fx->taken += n;
	if (fx->taken == fx->want)
		*done = 1;
	return (int)n;
}

static void
start(struct fx *fx)
{
	fx->taken = 0;
	fx->r = rr_start(&fx->loop, &fx->opts, &fx->peer, fx->req,
	    sizeof(fx->req), read_cb, done_cb, fx);
	assert_non_null(fx->r);
}

static void
done_cb(void *arg, int status)
{
	struct fx *fx = arg;

	if (fx->ndone < 8)
		fx->chain_status[fx->ndone] = status;
	fx->ndone++;
	fx->status = status;
	fx->done_ms = uv_now(&fx->loop);
	fx->r = NULL;
	if (status == 0 && fx->mode != READER_FAIL)
		assert_memory_equal(fx->seen, fx->reply, fx->want);
	if (fx->chain > 0) {
		fx->chain--;
		start(fx);
	}
}

/* ------------------------------------------------------------- fixture */

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	if (uv_loop_init(&fx->loop) != 0)
		return -1;
	uv_timer_init(&fx->loop, &fx->deadline);
	fx->deadline.data = fx;
	fx->need = LOGI_LEN;
	fx->mode = READER_FIXED;
	make_logi(fx->req);
	script_algi(fx);
	*state = fx;
	return 0;
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		fprintf(stderr, "handle of type %s left open\n",
		    uv_handle_type_name(uv_handle_get_type(h)));
}

/* Close the server side and let everything end: the loop must finish
 * with nothing open (LSan checks nothing leaked in the ASan build). */
static int
teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->r != NULL)
		rr_cancel(fx->r);
	if (fx->lst_open)
		uv_close((uv_handle_t *)&fx->lst, NULL);
	if (fx->hold_open)
		uv_close((uv_handle_t *)&fx->hold, NULL);
	for (unsigned i = 0; i < MAX_SCONNS; i++)
		if (fx->sc[i] != NULL)
			sconn_close(fx->sc[i]);
	uv_unref((uv_handle_t *)&fx->deadline);
	run_until(fx, loop_idle, 0, "every handle to close");
	uv_close((uv_handle_t *)&fx->deadline, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&fx->loop) != 0) {
		uv_walk(&fx->loop, close_walk, NULL);
		fail_msg("loop still has handles");
	}
	free(fx);
	return 0;
}

/* Start one exchange with the listener on 127.0.0.1. */
static void
start_v4(struct fx *fx)
{
	listen_v4(fx);
	fx->peer = peer_v4("127.0.0.1", fx->port);
	fx->started_ms = uv_now(&fx->loop);
	start(fx);
	/* Never called back from inside rr_start(). */
	assert_int_equal(fx->ndone, 0);
}

/* The exchange is over and the client, not the server, closed. */
static void
wait_client_closed(struct fx *fx)
{
	run_until(fx, eofs_at_least, 1, "the client to close");
	assert_int_equal(fx->accepted, 1);
}

/* --------------------------------------------------------------- tests */

/* An ALGI in one piece: done(0), every byte of it seen. */
static void
test_reply_in_one_piece(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {ALGI_LEN};

	script_pieces(fx, lens, 1, 0);
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, 0);
	assert_int_equal(fx->ndone, 1);
	assert_int_equal(fx->nread, 1);
	assert_int_equal(fx->taken, ALGI_LEN);
	wait_client_closed(fx);
	assert_int_equal(fx->ndone, 1);
}

/* The request reaches the server byte for byte, nothing added. */
static void
test_request_identical(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {ALGI_LEN};

	script_pieces(fx, lens, 1, 0);
	start_v4(fx);
	/* The caller's buffer may change at once: rr keeps its own copy. */
	memset(fx->req, 'x', sizeof(fx->req));
	run_until(fx, done_at_least, 1, "done");
	wait_client_closed(fx);
	make_logi(fx->req);
	assert_int_equal(fx->got_len, LOGI_LEN);
	assert_memory_equal(fx->got, fx->req, LOGI_LEN);
}

/* The reply in 3 writes 30 ms apart: the parser sees it grow. */
static void
test_reply_split(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {3, 9, ALGI_LEN - 12};

	script_pieces(fx, lens, 3, 30);
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, 0);
	assert_int_equal(fx->nread, 3);
	assert_int_equal(fx->last_len, ALGI_LEN);
	assert_true(fx->done_ms - fx->started_ms >= 60);
	wait_client_closed(fx);
}

/*
 * The server answers and keeps the connection open: done(0) comes long
 * before the idle deadline, and it is the client that closes.
 */
static void
test_no_wait_for_eof(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {ALGI_LEN};

	script_pieces(fx, lens, 1, 0);
	fx->opts.timeout_ms = 5000;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, 0);
	assert_true(fx->done_ms - fx->started_ms < 1000);
	wait_client_closed(fx);
	assert_int_equal(fx->ndone, 1);
}

/* A parser that takes a few bytes per call gets the rest without waiting
 * for more to arrive. */
static void
test_piecewise_parser(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {ALGI_LEN};

	script_pieces(fx, lens, 1, 0);
	fx->mode = READER_PIECEWISE;
	fx->opts.timeout_ms = 5000;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, 0);
	assert_int_equal(fx->nread, ALGI_LEN / 4);
	assert_true(fx->done_ms - fx->started_ms < 1000);
}

/* The server sends half the reply and closes: UV_EOF, the parser saw
 * every byte that came. */
static void
test_server_closes_early(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {10};

	script_pieces(fx, lens, 1, 0);
	fx->close_after = 1;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, UV_EOF);
	assert_int_equal(fx->last_len, 10);
	assert_int_equal(fx->taken, 0);
}

/* The server closes without a byte of reply: UV_EOF. */
static void
test_server_closes_at_once(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {0};

	script_pieces(fx, lens, 1, 0);
	fx->close_after = 1;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, UV_EOF);
	assert_int_equal(fx->nread, 0);
}

/* The server reads the request and says nothing: UV_ETIMEDOUT after the
 * idle deadline, not before. */
static void
test_server_silent(void **state)
{
	struct fx *fx = *state;

	fx->npieces = 0;
	fx->opts.timeout_ms = 100;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, UV_ETIMEDOUT);
	assert_true(fx->done_ms - fx->started_ms >= 100);
	assert_int_equal(fx->nreq, 1);
	wait_client_closed(fx);
}

/* The deadline is per read: a reply that keeps coming, slower in total
 * than the deadline, is fine. */
static void
test_deadline_is_idle(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {5, 5, 5, ALGI_LEN - 15};

	script_pieces(fx, lens, 4, 60);
	fx->opts.timeout_ms = 150;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, 0);
	assert_true(fx->done_ms - fx->started_ms >= 180);
}

/* Nothing listens on the port: the connect error. */
static void
test_refused(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(hold_v4(fx, 0), 0);
	fx->peer = peer_v4("127.0.0.1", fx->port);
	assert_int_equal(
	    inet_pton(AF_INET6, "::ffff:127.0.0.1", fx->peer.v6), 1);
	start(fx);
	assert_int_equal(fx->ndone, 0);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, UV_ECONNREFUSED);
	assert_int_equal(fx->nread, 0);
}

/* No usable half: NULL, and done never runs. */
static void
test_no_address(void **state)
{
	struct fx *fx = *state;
	struct course_peer p;

	memset(&p, 0, sizeof(p)); /* 0.0.0.0 and :: */
	p.port = 4000;
	assert_null(rr_start(&fx->loop, NULL, &p, fx->req, sizeof(fx->req),
	    read_cb, done_cb, fx));
	p = peer_v4("224.0.0.1", 4000);
	assert_int_equal(inet_pton(AF_INET6, "ff02::1", p.v6), 1);
	assert_null(rr_start(&fx->loop, NULL, &p, fx->req, sizeof(fx->req),
	    read_cb, done_cb, fx));
	p = peer_v4("255.255.255.255", 4000);
	assert_null(rr_start(&fx->loop, NULL, &p, fx->req, sizeof(fx->req),
	    read_cb, done_cb, fx));
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->ndone, 0);
}

/* The IPv4 half refuses: the IPv6 half is tried next. */
static void
test_falls_back_to_v6(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_in6 sin6;
	const size_t lens[] = {ALGI_LEN};
	int err = UV_EADDRINUSE;

	/* 127.0.0.1:P refuses (held), [::1]:P listens. */
	for (int try = 0; try < 8 && err == UV_EADDRINUSE; try++) {
		if (try > 0) {
			uv_close((uv_handle_t *)&fx->lst, NULL);
			uv_close((uv_handle_t *)&fx->hold, NULL);
			fx->lst_open = fx->hold_open = 0;
			uv_run(&fx->loop, UV_RUN_NOWAIT);
		}
		assert_int_equal(hold_v4(fx, 0), 0);
		assert_int_equal(uv_ip6_addr("::1", fx->port, &sin6), 0);
		err = listen_on(fx, (const struct sockaddr *)&sin6);
	}
	if (err != 0) {
		skip(); /* no IPv6 loopback here */
		return;
	}
	script_pieces(fx, lens, 1, 0);
	fx->peer = peer_v4("127.0.0.1", fx->port);
	assert_int_equal(inet_pton(AF_INET6, "::1", fx->peer.v6), 1);
	start(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, 0);
	assert_int_equal(fx->accepted, 1);
}

/* The parser rejects the reply: its error, and the client closes. */
static void
test_reader_error(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {ALGI_LEN};

	script_pieces(fx, lens, 1, 0);
	fx->mode = READER_FAIL;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, WARREN_EPROTO);
	assert_int_equal(fx->nread, 1);
	wait_client_closed(fx);
}

/* A reply larger than the read buffer that the parser cannot take in
 * parts: WARREN_ELENGTH. */
static void
test_buffer_full(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {ALGI_LEN};

	script_pieces(fx, lens, 1, 0);
	fx->opts.rcap = 16;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, WARREN_ELENGTH);
	assert_int_equal(fx->last_len, 16);
}

/* ... while one that takes it in parts gets it through the small buffer. */
static void
test_small_buffer_piecewise(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {ALGI_LEN};

	script_pieces(fx, lens, 1, 0);
	fx->opts.rcap = 8;
	fx->mode = READER_PIECEWISE;
	start_v4(fx);
	run_until(fx, done_at_least, 1, "done");
	assert_int_equal(fx->status, 0);
	assert_int_equal(fx->taken, ALGI_LEN);
}

/* rr_cancel() at every point of the dial and the exchange: no callback,
 * everything freed (the loop ends; LSan sees no leak). */
static void
test_cancel_anywhere(void **state)
{
	struct fx *fx = *state;

	fx->npieces = 0; /* the server never answers */
	listen_v4(fx);
	fx->peer = peer_v4("127.0.0.1", fx->port);
	for (unsigned k = 0; k < 8; k++) {
		start(fx);
		for (unsigned i = 0; i < k; i++)
			uv_run(&fx->loop, UV_RUN_NOWAIT);
		rr_cancel(fx->r);
		fx->r = NULL;
	}
	uv_close((uv_handle_t *)&fx->lst, NULL);
	fx->lst_open = 0;
	for (unsigned i = 0; i < MAX_SCONNS; i++)
		if (fx->sc[i] != NULL)
			sconn_close(fx->sc[i]);
	uv_unref((uv_handle_t *)&fx->deadline);
	run_until(fx, loop_idle, 0, "every handle to close");
	uv_ref((uv_handle_t *)&fx->deadline);
	assert_int_equal(fx->ndone, 0);
}

static void
cancel_in_prepare(uv_prepare_t *h)
{
	struct fx *fx = h->data;

	rr_cancel(fx->r);
	fx->r = NULL;
	uv_prepare_stop(h);
}

/*
 * rr_cancel() while the connect is under way: dial issues it from its
 * timer in the first loop iteration, and a prepare handle runs before the
 * poll that would see it complete.
 */
static void
test_cancel_mid_connect(void **state)
{
	struct fx *fx = *state;
	uv_prepare_t prep;

	fx->npieces = 0;
	start_v4(fx);
	uv_prepare_init(&fx->loop, &prep);
	prep.data = fx;
	uv_prepare_start(&prep, cancel_in_prepare);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_null(fx->r);
	uv_close((uv_handle_t *)&prep, NULL);
	uv_close((uv_handle_t *)&fx->lst, NULL);
	fx->lst_open = 0;
	uv_unref((uv_handle_t *)&fx->deadline);
	run_until(fx, loop_idle, 0, "every handle to close");
	uv_ref((uv_handle_t *)&fx->deadline);
	assert_int_equal(fx->ndone, 0);
}

/* rr_cancel() once the request is at the server and the client waits for
 * the reply: no callback, and the connection is closed. */
static void
test_cancel_while_reading(void **state)
{
	struct fx *fx = *state;

	fx->npieces = 0;
	start_v4(fx);
	run_until(fx, reqs_at_least, 1, "the request at the server");
	rr_cancel(fx->r);
	fx->r = NULL;
	wait_client_closed(fx);
	assert_int_equal(fx->ndone, 0);
}

/* rr_cancel() from inside the read callback. */
static void
test_cancel_from_reader(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {ALGI_LEN};

	script_pieces(fx, lens, 1, 0);
	fx->mode = READER_CANCEL;
	start_v4(fx);
	wait_client_closed(fx);
	assert_int_equal(fx->nread, 1);
	assert_int_equal(fx->ndone, 0);
}

/* done starts the next exchange: three in a row, each complete. */
static void
test_chain_from_done(void **state)
{
	struct fx *fx = *state;
	const size_t lens[] = {4, ALGI_LEN - 4};

	script_pieces(fx, lens, 2, 10);
	fx->chain = 2;
	start_v4(fx);
	run_until(fx, done_at_least, 3, "three exchanges");
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(fx->chain_status[i], 0);
	assert_null(fx->r);
	run_until(fx, eofs_at_least, 3, "the client to close all three");
	assert_int_equal(fx->accepted, 3);
	assert_int_equal(fx->nreq, 3);
	assert_int_equal(fx->ndone, 3);
}

/* A chain after failures too: done(ECONNREFUSED) starts another. */
static void
test_chain_after_error(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(hold_v4(fx, 0), 0);
	fx->peer = peer_v4("127.0.0.1", fx->port);
	fx->chain = 2;
	start(fx);
	run_until(fx, done_at_least, 3, "three exchanges");
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(fx->chain_status[i], UV_ECONNREFUSED);
	assert_null(fx->r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_reply_in_one_piece, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_request_identical, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_split, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_no_wait_for_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_piecewise_parser, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_server_closes_early, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_server_closes_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_server_silent, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_deadline_is_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_falls_back_to_v6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reader_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffer_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_small_buffer_piecewise, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_cancel_anywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_cancel_mid_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_cancel_while_reading, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_cancel_from_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_chain_from_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_chain_after_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
