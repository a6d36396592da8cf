/*
 * Unit tests for src/overlay/flood.c: the Pktid duplicate cache, the
 * per-source token buckets, and the one-shot sender against real
 * listeners on loopback.
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

#include "overlay/flood.h"
#include "warren/error.h"
#include "wire/course.h"

#define WAIT_MS 10000 /* bound on every wait */

/* ---------------------------------------------------------- pktid_cache */

/* A Pktid as the protocol writes them: 16 upper-case hex digits. */
static void
pktid(uint64_t v, char out[COURSE_PKTID_LEN])
{
	course_hex16(v, out);
}

static void
test_pktid_add_has(void **state)
{
	struct pktid_cache *c = pktid_cache_new(16, 300000);
	char a[COURSE_PKTID_LEN], b[COURSE_PKTID_LEN];

	(void)state;
	pktid(1, a);
	pktid(2, b);
	assert_int_equal(pktid_cache_has(c, a, 0), 0);
	assert_int_equal(pktid_cache_count(c, 0), 0);
	assert_int_equal(pktid_cache_add(c, a, 0), 1);
	assert_int_equal(pktid_cache_has(c, a, 1), 1);
	assert_int_equal(pktid_cache_has(c, b, 1), 0);
	/* A duplicate is reported as such and not stored twice. */
	assert_int_equal(pktid_cache_add(c, a, 2), 0);
	assert_int_equal(pktid_cache_count(c, 2), 1);
	assert_int_equal(pktid_cache_add(c, b, 3), 1);
	assert_int_equal(pktid_cache_count(c, 3), 2);
	pktid_cache_free(c);
	pktid_cache_free(NULL);
}

static void
test_pktid_expiry(void **state)
{
	struct pktid_cache *c = pktid_cache_new(16, 1000);
	char a[COURSE_PKTID_LEN], b[COURSE_PKTID_LEN], d[COURSE_PKTID_LEN];

	(void)state;
	pktid(0xa, a);
	pktid(0xb, b);
	pktid(0xd, d);
	assert_int_equal(pktid_cache_add(c, a, 5000), 1);
	assert_int_equal(pktid_cache_add(c, b, 5500), 1);
	assert_int_equal(pktid_cache_has(c, a, 5999), 1);
	/* A duplicate does not extend the lifetime. */
	assert_int_equal(pktid_cache_add(c, a, 5999), 0);
	assert_int_equal(pktid_cache_count(c, 5999), 2);
	/* a lived 1000 ms: gone at 6000, b still there. */
	assert_int_equal(pktid_cache_has(c, a, 6000), 0);
	assert_int_equal(pktid_cache_has(c, b, 6000), 1);
	assert_int_equal(pktid_cache_count(c, 6000), 1);
	/* Once expired, the same id is new again. */
	assert_int_equal(pktid_cache_add(c, a, 6100), 1);
	assert_int_equal(pktid_cache_add(c, d, 6200), 1);
	assert_int_equal(pktid_cache_count(c, 6200), 3);
	assert_int_equal(pktid_cache_count(c, 6500), 2);
	assert_int_equal(pktid_cache_has(c, b, 6500), 0);
	assert_int_equal(pktid_cache_count(c, 1000000), 0);
	assert_int_equal(pktid_cache_has(c, d, 1000000), 0);
	pktid_cache_free(c);
}

/* now_ms should not go backwards; if it does, answers stay sane. */
static void
test_pktid_time_backwards(void **state)
{
	struct pktid_cache *c = pktid_cache_new(16, 100);
	char a[COURSE_PKTID_LEN], b[COURSE_PKTID_LEN];

	(void)state;
	pktid(1, a);
	pktid(2, b);
	assert_int_equal(pktid_cache_add(c, a, 1000), 1);
	assert_int_equal(pktid_cache_add(c, b, 0), 1);
	/* b expired at 100 although a, older in the ring, has not. */
	assert_int_equal(pktid_cache_has(c, b, 500), 0);
	assert_int_equal(pktid_cache_has(c, a, 500), 1);
	assert_int_equal(pktid_cache_add(c, b, 500), 1);
	assert_int_equal(pktid_cache_add(c, b, 599), 0);
	assert_int_equal(pktid_cache_has(c, b, 600), 0);
	assert_int_equal(pktid_cache_count(c, 2000), 0);
	pktid_cache_free(c);
}

static void
test_pktid_evict_oldest(void **state)
{
	struct pktid_cache *c = pktid_cache_new(3, 300000);
	char id[5][COURSE_PKTID_LEN];

	(void)state;
	for (int i = 0; i < 5; i++)
		pktid((uint64_t)i, id[i]);
	assert_int_equal(pktid_cache_add(c, id[0], 0), 1);
	assert_int_equal(pktid_cache_add(c, id[1], 1), 1);
	assert_int_equal(pktid_cache_add(c, id[2], 2), 1);
	/* Seeing id[0] again does not make it younger. */
	assert_int_equal(pktid_cache_add(c, id[0], 3), 0);
	assert_int_equal(pktid_cache_add(c, id[3], 4), 1);
	assert_int_equal(pktid_cache_count(c, 4), 3);
	assert_int_equal(pktid_cache_has(c, id[0], 4), 0);
	assert_int_equal(pktid_cache_has(c, id[1], 4), 1);
	assert_int_equal(pktid_cache_has(c, id[2], 4), 1);
	assert_int_equal(pktid_cache_has(c, id[3], 4), 1);
	assert_int_equal(pktid_cache_add(c, id[4], 5), 1);
	assert_int_equal(pktid_cache_has(c, id[1], 5), 0);
	assert_int_equal(pktid_cache_has(c, id[2], 5), 1);
	/* The evicted one is new again and pushes out the next oldest. */
	assert_int_equal(pktid_cache_add(c, id[0], 6), 1);
	assert_int_equal(pktid_cache_has(c, id[2], 6), 0);
	assert_int_equal(pktid_cache_count(c, 6), 3);
	pktid_cache_free(c);
}

static void
test_pktid_single_entry(void **state)
{
	struct pktid_cache *c = pktid_cache_new(1, 300000);
	char a[COURSE_PKTID_LEN], b[COURSE_PKTID_LEN];

	(void)state;
	pktid(1, a);
	pktid(2, b);
	assert_int_equal(pktid_cache_add(c, a, 0), 1);
	assert_int_equal(pktid_cache_add(c, a, 0), 0);
	assert_int_equal(pktid_cache_add(c, b, 0), 1);
	assert_int_equal(pktid_cache_has(c, a, 0), 0);
	assert_int_equal(pktid_cache_has(c, b, 0), 1);
	assert_int_equal(pktid_cache_count(c, 0), 1);
	pktid_cache_free(c);
}

/* Ids are opaque bytes: case, NUL and high bytes all count. */
static void
test_pktid_opaque_bytes(void **state)
{
	struct pktid_cache *c = pktid_cache_new(64, 300000);
	char lower[COURSE_PKTID_LEN], upper[COURSE_PKTID_LEN];
	char zero[COURSE_PKTID_LEN], high[COURSE_PKTID_LEN];
	char last[COURSE_PKTID_LEN];

	(void)state;
	memcpy(lower, "abcdef0123456789", COURSE_PKTID_LEN);
	memcpy(upper, "ABCDEF0123456789", COURSE_PKTID_LEN);
	memset(zero, 0, sizeof(zero));
	memset(high, 0xff, sizeof(high));
	memcpy(last, zero, sizeof(last));
	last[COURSE_PKTID_LEN - 1] = 1;
	assert_int_equal(pktid_cache_add(c, lower, 0), 1);
	assert_int_equal(pktid_cache_has(c, upper, 0), 0);
	assert_int_equal(pktid_cache_add(c, upper, 0), 1);
	assert_int_equal(pktid_cache_add(c, zero, 0), 1);
	assert_int_equal(pktid_cache_has(c, last, 0), 0);
	assert_int_equal(pktid_cache_add(c, last, 0), 1);
	assert_int_equal(pktid_cache_add(c, high, 0), 1);
	assert_int_equal(pktid_cache_add(c, zero, 0), 0);
	assert_int_equal(pktid_cache_add(c, high, 0), 0);
	assert_int_equal(pktid_cache_add(c, lower, 0), 0);
	assert_int_equal(pktid_cache_count(c, 0), 5);
	pktid_cache_free(c);
}

/* 100000 ids through a cache of 65536: exactly the last 65536 remain. */
static void
test_pktid_many(void **state)
{
	const unsigned max = 65536, total = 100000;
	struct pktid_cache *c = pktid_cache_new(max, 300000);
	char id[COURSE_PKTID_LEN];

	(void)state;
	for (unsigned i = 0; i < total; i++) {
		pktid(0x5eed0000ULL + i, id);
		assert_int_equal(pktid_cache_add(c, id, i / 1000), 1);
	}
	assert_int_equal(pktid_cache_count(c, total / 1000), max);
	for (unsigned i = 0; i < total; i++) {
		pktid(0x5eed0000ULL + i, id);
		if (pktid_cache_has(c, id, total / 1000) != (i >= total - max))
			fail_msg("id %u: has %d", i,
			    pktid_cache_has(c, id, total / 1000));
	}
	/* The youngest thousand (added at 99 ms) go last. */
	assert_int_equal(pktid_cache_count(c, 99 + 299999), 1000);
	assert_int_equal(pktid_cache_count(c, 99 + 300000), 0);
	pktid_cache_free(c);
}

/* ----------------------------------------------------------- flood_rate */

static struct sockaddr_storage
v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* Take tokens until refused; returns how many were granted. */
static unsigned
drain(struct flood_rate *r, const struct sockaddr *sa, uint64_t now)
{
	unsigned n = 0;

	while (flood_rate_allow(r, sa, now)) {
		n++;
		if (n > 1000000)
			fail_msg("bucket never runs dry");
	}
	return n;
}

static void
test_rate_burst_refill(void **state)
{
	struct flood_rate *r = flood_rate_new(10, 5, 64);
	struct sockaddr_storage a = v4("192.0.2.1", 4000);

	(void)state;
	assert_int_equal(drain(r, SA(a), 1000), 5);
	assert_int_equal(flood_rate_allow(r, SA(a), 1000), 0);
	/* 10 per second: one token per 100 ms. */
	assert_int_equal(flood_rate_allow(r, SA(a), 1099), 0);
	assert_int_equal(flood_rate_allow(r, SA(a), 1100), 1);
	assert_int_equal(flood_rate_allow(r, SA(a), 1100), 0);
	assert_int_equal(drain(r, SA(a), 1400), 3);
	/* A long silence refills to the burst, not beyond. */
	assert_int_equal(drain(r, SA(a), 100000), 5);
	flood_rate_free(r);
	flood_rate_free(NULL);
}

static void
test_rate_addresses_independent(void **state)
{
	struct flood_rate *r = flood_rate_new(1, 3, 65536);
	struct sockaddr_storage a = v4("192.0.2.1", 4000);
	struct sockaddr_storage a_other_port = v4("192.0.2.1", 5000);
	char ip[INET_ADDRSTRLEN];
	int independent = 0;

	(void)state;
	assert_int_equal(drain(r, SA(a), 0), 3);
	/* The port does not matter. */
	assert_int_equal(flood_rate_allow(r, SA(a_other_port), 0), 0);
	/*
	 * Another address has its own bucket. The table is keyed with a
	 * random secret, so two addresses may share a slot (then the newer
	 * takes it over with a full bucket): one in 65536 for each try, so
	 * four tries all colliding means the buckets are not per address.
	 */
	for (int i = 0; i < 4 && !independent; i++) {
		struct sockaddr_storage b;

		snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
		b = v4(ip, 4000);
		drain(r, SA(a), 0);
		assert_int_equal(drain(r, SA(b), 0), 3);
		independent = flood_rate_allow(r, SA(a), 0) == 0;
	}
	assert_true(independent);
	flood_rate_free(r);
}

static void
test_rate_v4_mapped_same(void **state)
{
	struct flood_rate *r = flood_rate_new(1, 4, 64);
	struct sockaddr_storage a = v4("203.0.113.7", 1);
	struct sockaddr_storage mapped = v6("::ffff:203.0.113.7", 2);
	struct sockaddr_storage native6 = v6("2001:db8::1", 3);

	(void)state;
	assert_int_equal(flood_rate_allow(r, SA(a), 0), 1);
	assert_int_equal(flood_rate_allow(r, SA(mapped), 0), 1);
	assert_int_equal(drain(r, SA(a), 0), 2);
	assert_int_equal(flood_rate_allow(r, SA(mapped), 0), 0);
	/* 1 per second, whichever form it comes in. */
	assert_int_equal(flood_rate_allow(r, SA(mapped), 1000), 1);
	assert_int_equal(flood_rate_allow(r, SA(a), 1000), 0);
	/* A native IPv6 address is counted on its own. */
	assert_int_equal(drain(r, SA(native6), 1000), 4);
	flood_rate_free(r);
}

static void
test_rate_zero_unlimited(void **state)
{
	struct flood_rate *r = flood_rate_new(0, 1, 1);
	struct sockaddr_storage a = v4("192.0.2.1", 4000);

	(void)state;
	for (int i = 0; i < 100000; i++)
		assert_int_equal(flood_rate_allow(r, SA(a), 0), 1);
	flood_rate_free(r);
}

/* A table of one slot stays one slot: a new address takes it over. */
static void
test_rate_bounded_table(void **state)
{
	struct flood_rate *r = flood_rate_new(1, 2, 1);
	struct sockaddr_storage a = v4("192.0.2.1", 1);
	struct sockaddr_storage b = v4("192.0.2.2", 1);

	(void)state;
	assert_int_equal(drain(r, SA(a), 0), 2);
	assert_int_equal(drain(r, SA(b), 0), 2);
	assert_int_equal(drain(r, SA(a), 0), 2);
	flood_rate_free(r);
}

/* -------------------------------------------------------------- oneshot */

#define MAX_MSGS 64

/* One accepted connection on the test listener. */
struct sconn {
	uv_tcp_t tcp;
	struct fx *fx;
	char buf[1024];
	size_t len;
	int overflow; /* more than buf */
};

struct fx {
	uv_loop_t loop;
	uv_tcp_t lst; /* the listener */
	int lst_open;
	uint16_t port;
	uv_timer_t deadline;
	int expired;

	/* What the listener received: one entry per connection at EOF. */
	char got[MAX_MSGS][1024];
	size_t got_len[MAX_MSGS];
	unsigned ngot;
	unsigned accepted;
	unsigned open_sconns;
	int reply; /* the listener writes junk back on every connection */

	/* oneshot callbacks */
	struct oneshot *o;
	unsigned ncb;
	int status[MAX_MSGS]; /* by tag */
	unsigned cb_count[MAX_MSGS];
	unsigned max_active_seen;
	int free_in_cb; /* oneshot_free() from the first callback */
};

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
got_at_least(struct fx *fx, unsigned n)
{
	return fx->ngot >= n;
}

static int
cbs_at_least(struct fx *fx, unsigned n)
{
	return fx->ncb >= n;
}

static void
sconn_closed(uv_handle_t *h)
{
	struct sconn *s = h->data;

	s->fx->open_sconns--;
	free(s);
}

static void
sconn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sconn *s = h->data;

	(void)suggested;
	if (s->len == sizeof(s->buf)) {
		s->overflow = 1;
		s->len = 0;
	}
	*buf = uv_buf_init(
	    s->buf + s->len, (unsigned)(sizeof(s->buf) - s->len));
}

static void
sconn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct sconn *s = st->data;
	struct fx *fx = s->fx;

	(void)buf;
	if (nread > 0) {
		s->len += (size_t)nread;
		return;
	}
	if (nread == 0)
		return;
	/* EOF (or error): the sender is done; keep what came. */
	if (nread == UV_EOF && !s->overflow && fx->ngot < MAX_MSGS) {
		memcpy(fx->got[fx->ngot], s->buf, s->len);
		fx->got_len[fx->ngot] = s->len;
		fx->ngot++;
	}
	uv_close((uv_handle_t *)&s->tcp, sconn_closed);
}

static void
lst_conn(uv_stream_t *server, int status)
{
	struct fx *fx = server->data;
	struct sconn *s;

	if (status != 0)
		return;
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->fx = fx;
	uv_tcp_init(&fx->loop, &s->tcp);
	s->tcp.data = s;
	fx->open_sconns++;
	if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
		uv_close((uv_handle_t *)&s->tcp, sconn_closed);
		return;
	}
	fx->accepted++;
	uv_read_start((uv_stream_t *)&s->tcp, sconn_alloc, sconn_read);
	if (fx->reply) {
		static char junk[300]; /* more than the sender reads at once */
		uv_buf_t b = uv_buf_init(junk, sizeof(junk));

		memset(junk, 'j', sizeof(junk));
		assert_int_equal(uv_try_write((uv_stream_t *)&s->tcp, &b, 1),
		    (int)sizeof(junk));
	}
}

/* Listen on ip port 0; returns 0 or a libuv error. */
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
	    (err = uv_listen((uv_stream_t *)&fx->lst, 128, lst_conn)) != 0)
		return err;
	uv_tcp_getsockname(&fx->lst, (struct sockaddr *)&bound, &len);
	if (bound.ss_family == AF_INET)
		fx->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	else
		fx->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	return 0;
}

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
	*state = fx;
	return 0;
}

static int
loop_idle(struct fx *fx, unsigned arg)
{
	(void)arg;
	return !uv_loop_alive(&fx->loop);
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		fprintf(stderr, "handle of type %s left open\n",
		    uv_handle_type_name(uv_handle_get_type(h)));
}

/*
 * Free the sender, close the listener, and let every connection finish
 * (lingering closes end when the listener side closes): the loop must end
 * with nothing open and nothing leaked.
 */
static int
teardown(void **state)
{
	struct fx *fx = *state;

	oneshot_free(fx->o);
	fx->o = NULL;
	if (fx->lst_open)
		uv_close((uv_handle_t *)&fx->lst, NULL);
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

static void
send_cb(void *arg, uint64_t tag, int status)
{
	struct fx *fx = arg;
	struct oneshot_stats st;

	assert_true(tag < MAX_MSGS);
	fx->status[tag] = status;
	fx->cb_count[tag]++;
	fx->ncb++;
	if (fx->free_in_cb) {
		oneshot_free(fx->o);
		fx->o = NULL;
		return;
	}
	oneshot_stats(fx->o, &st);
	if (st.active > fx->max_active_seen)
		fx->max_active_seen = st.active;
}

static struct course_peer
peer_v4(const char *ip, uint16_t port)
{
	struct course_peer p;

	memset(&p, 0, sizeof(p));
	assert_int_equal(inet_pton(AF_INET, ip, p.v4), 1);
	p.port = port;
	return p;
}

/*
 * The message for tag: an AQUE-sized frame whose Pktid field names the
 * tag, with every byte value somewhere in it (the sender must not care).
 */
static size_t
make_msg(uint64_t tag, char out[COURSE_MSG_MAX])
{
	memcpy(out, "AQUE", 4);
	course_hex16(tag, out + 4);
	for (size_t i = 20; i < COURSE_MSG_MAX; i++)
		out[i] = (char)(unsigned char)(i * 7 + tag);
	return COURSE_MSG_MAX;
}

/* Every message received is byte-identical to the one sent for its tag,
 * and each tag arrived exactly once. */
static void
check_received(struct fx *fx, unsigned n)
{
	unsigned seen[MAX_MSGS] = {0};
	char want[COURSE_MSG_MAX];

	assert_int_equal(fx->ngot, n);
	for (unsigned i = 0; i < fx->ngot; i++) {
		uint64_t tag = MAX_MSGS;

		assert_int_equal(fx->got_len[i], COURSE_MSG_MAX);
		for (uint64_t t = 0; t < MAX_MSGS; t++) {
			make_msg(t, want);
			if (memcmp(fx->got[i], want, COURSE_MSG_MAX) == 0)
				tag = t;
		}
		if (tag == MAX_MSGS)
			fail_msg("message %u does not match any sent", i);
		seen[tag]++;
	}
	for (unsigned t = 0; t < n; t++)
		assert_int_equal(seen[t], 1);
}

static void
listen_v4(struct fx *fx)
{
	struct sockaddr_storage sa = v4("127.0.0.1", 0);

	assert_int_equal(listen_on(fx, SA(sa)), 0);
}

static void
test_oneshot_delivers(void **state)
{
	struct fx *fx = *state;
	struct dial_opts dopts = {.timeout_ms = 2000};
	struct course_peer p;
	struct oneshot_stats st;
	char msg[COURSE_MSG_MAX];
	size_t len;

	listen_v4(fx);
	p = peer_v4("127.0.0.1", fx->port);
	fx->o = oneshot_new(&fx->loop, &dopts, 4, 4);
	len = make_msg(0, msg);
	assert_int_equal(oneshot_send(fx->o, &p, msg, len, send_cb, fx, 0), 0);
	/* The message was copied. */
	memset(msg, 0, sizeof(msg));
	/* Never called back from inside oneshot_send(). */
	assert_int_equal(fx->ncb, 0);
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.active, 1);
	run_until(fx, cbs_at_least, 1, "the send callback");
	assert_int_equal(fx->status[0], 0);
	run_until(fx, got_at_least, 1, "the message at the listener");
	check_received(fx, 1);
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.active, 0);
	assert_int_equal(st.queued, 0);
}

/* A peer that writes back (an error sentence, say) changes nothing. */
static void
test_oneshot_peer_talks_back(void **state)
{
	struct fx *fx = *state;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	fx->reply = 1;
	listen_v4(fx);
	p = peer_v4("127.0.0.1", fx->port);
	fx->o = oneshot_new(&fx->loop, NULL, 2, 4);
	for (uint64_t t = 0; t < 4; t++) {
		len = make_msg(t, msg);
		assert_int_equal(
		    oneshot_send(fx->o, &p, msg, len, send_cb, fx, t), 0);
	}
	run_until(fx, cbs_at_least, 4, "four send callbacks");
	run_until(fx, got_at_least, 4, "four messages at the listener");
	check_received(fx, 4);
	for (unsigned t = 0; t < 4; t++)
		assert_int_equal(fx->status[t], 0);
}

/* An IPv6 half that is the IPv4-mapped form is usable on its own. */
static void
test_oneshot_mapped_only(void **state)
{
	struct fx *fx = *state;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	listen_v4(fx);
	p = peer_v4("0.0.0.0", fx->port);
	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", p.v6), 1);
	fx->o = oneshot_new(&fx->loop, NULL, 1, 0);
	len = make_msg(3, msg);
	assert_int_equal(oneshot_send(fx->o, &p, msg, len, send_cb, fx, 3), 0);
	run_until(fx, got_at_least, 1, "the message at the listener");
	run_until(fx, cbs_at_least, 1, "the send callback");
	assert_int_equal(fx->status[3], 0);
	assert_int_equal(fx->ngot, 1);
	assert_memory_equal(fx->got[0], msg, COURSE_MSG_MAX);
}

/* The IPv4 half refuses: the IPv6 half is tried next. */
static void
test_oneshot_falls_back_to_v6(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_storage sa = v6("::1", 0);
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	if (listen_on(fx, SA(sa)) != 0) {
		skip(); /* no IPv6 loopback here */
		return;
	}
	/* Nothing listens on 127.0.0.1 at that port: [::1] is IPv6 only. */
	p = peer_v4("127.0.0.1", fx->port);
	assert_int_equal(inet_pton(AF_INET6, "::1", p.v6), 1);
	fx->o = oneshot_new(&fx->loop, NULL, 1, 0);
	len = make_msg(5, msg);
	assert_int_equal(oneshot_send(fx->o, &p, msg, len, send_cb, fx, 5), 0);
	run_until(fx, cbs_at_least, 1, "the send callback");
	assert_int_equal(fx->status[5], 0);
	run_until(fx, got_at_least, 1, "the message at the listener");
	assert_memory_equal(fx->got[0], msg, COURSE_MSG_MAX);
}

/* A port that nothing listens on: the callback reports the failure. */
static void
test_oneshot_refused(void **state)
{
	struct fx *fx = *state;
	struct oneshot_stats st;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	/* Bind a port, then close it: now nothing listens there. */
	listen_v4(fx);
	uv_close((uv_handle_t *)&fx->lst, NULL);
	fx->lst_open = 0;
	p = peer_v4("127.0.0.1", fx->port);
	assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", p.v6), 1);
	fx->o = oneshot_new(&fx->loop, NULL, 1, 1);
	len = make_msg(1, msg);
	assert_int_equal(oneshot_send(fx->o, &p, msg, len, send_cb, fx, 1), 0);
	run_until(fx, cbs_at_least, 1, "the send callback");
	assert_int_equal(fx->status[1], UV_ECONNREFUSED);
	assert_int_equal(fx->cb_count[1], 1);
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.active, 0);
}

static void
test_oneshot_no_address(void **state)
{
	struct fx *fx = *state;
	struct oneshot_stats st;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len = make_msg(0, msg);

	fx->o = oneshot_new(&fx->loop, NULL, 1, 1);
	memset(&p, 0, sizeof(p));
	p.port = 4000;
	assert_int_equal(
	    oneshot_send(fx->o, &p, msg, len, send_cb, fx, 0), WARREN_EFIELD);
	/* Broadcast and multicast halves count as absent too. */
	p = peer_v4("255.255.255.255", 4000);
	assert_int_equal(inet_pton(AF_INET6, "ff02::1", p.v6), 1);
	assert_int_equal(
	    oneshot_send(fx->o, &p, msg, len, send_cb, fx, 0), WARREN_EFIELD);
	/* So does a port of 0. */
	p = peer_v4("127.0.0.1", 0);
	assert_int_equal(
	    oneshot_send(fx->o, &p, msg, len, send_cb, fx, 0), WARREN_EFIELD);
	/* Longer than any course message: refused, not truncated. */
	p = peer_v4("127.0.0.1", 4000);
	assert_int_equal(
	    oneshot_send(fx->o, &p, msg, COURSE_MSG_MAX + 1, send_cb, fx, 0),
	    WARREN_ELENGTH);
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.dropped, 3);
	assert_int_equal(st.active, 0);
	assert_int_equal(st.queued, 0);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->ncb, 0);
}

static void
test_oneshot_queue_full(void **state)
{
	struct fx *fx = *state;
	struct oneshot_stats st;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	listen_v4(fx);
	p = peer_v4("127.0.0.1", fx->port);
	fx->o = oneshot_new(&fx->loop, NULL, 1, 2);
	for (uint64_t t = 0; t < 3; t++) {
		len = make_msg(t, msg);
		assert_int_equal(
		    oneshot_send(fx->o, &p, msg, len, send_cb, fx, t), 0);
	}
	len = make_msg(3, msg);
	assert_int_equal(
	    oneshot_send(fx->o, &p, msg, len, send_cb, fx, 3), WARREN_ELIMIT);
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.active, 1);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.dropped, 1);
	run_until(fx, cbs_at_least, 3, "three send callbacks");
	run_until(fx, got_at_least, 3, "three messages at the listener");
	check_received(fx, 3);
	assert_int_equal(fx->cb_count[3], 0);
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.queued, 0);
	/* Room again. */
	assert_int_equal(oneshot_send(fx->o, &p, msg, len, send_cb, fx, 3), 0);
	run_until(fx, cbs_at_least, 4, "the fourth send callback");
	assert_int_equal(fx->status[3], 0);
}

static int
active_seen(struct fx *fx, unsigned n)
{
	struct oneshot_stats st;

	oneshot_stats(fx->o, &st);
	if (st.active > fx->max_active_seen)
		fx->max_active_seen = st.active;
	return fx->ncb >= n;
}

/* Many answers to one originator: at most 8 connections to it at once,
 * whatever max_active allows (receivers cap connections per address). */
static void
test_oneshot_per_destination(void **state)
{
	struct fx *fx = *state;
	struct oneshot_stats st;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	listen_v4(fx);
	p = peer_v4("127.0.0.1", fx->port);
	fx->o = oneshot_new(&fx->loop, NULL, 64, 64);
	for (uint64_t t = 0; t < 30; t++) {
		len = make_msg(t, msg);
		assert_int_equal(
		    oneshot_send(fx->o, &p, msg, len, send_cb, fx, t), 0);
	}
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.active, 8);
	assert_int_equal(st.queued, 22);
	run_until(fx, active_seen, 30, "thirty send callbacks");
	assert_int_equal(fx->max_active_seen, 8);
	run_until(fx, got_at_least, 30, "thirty messages at the listener");
	check_received(fx, 30);
}

static void
test_oneshot_max_active(void **state)
{
	struct fx *fx = *state;
	struct oneshot_stats st;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	listen_v4(fx);
	p = peer_v4("127.0.0.1", fx->port);
	fx->o = oneshot_new(&fx->loop, NULL, 2, 16);
	for (uint64_t t = 0; t < 10; t++) {
		len = make_msg(t, msg);
		assert_int_equal(
		    oneshot_send(fx->o, &p, msg, len, send_cb, fx, t), 0);
	}
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.active, 2);
	assert_int_equal(st.queued, 8);
	run_until(fx, active_seen, 10, "ten send callbacks");
	assert_int_equal(fx->max_active_seen, 2);
	run_until(fx, got_at_least, 10, "ten messages at the listener");
	check_received(fx, 10);
	for (unsigned t = 0; t < 10; t++) {
		assert_int_equal(fx->cb_count[t], 1);
		assert_int_equal(fx->status[t], 0);
	}
	oneshot_stats(fx->o, &st);
	assert_int_equal(st.sent, 10);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.active, 0);
	assert_int_equal(st.queued, 0);
}

/* Freed right after sending: dials cancelled, queue dropped, silence. */
static void
test_oneshot_free_pending(void **state)
{
	struct fx *fx = *state;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	listen_v4(fx);
	p = peer_v4("127.0.0.1", fx->port);
	fx->o = oneshot_new(&fx->loop, NULL, 3, 8);
	for (uint64_t t = 0; t < 8; t++) {
		len = make_msg(t, msg);
		assert_int_equal(
		    oneshot_send(fx->o, &p, msg, len, send_cb, fx, t), 0);
	}
	oneshot_free(fx->o);
	fx->o = NULL;
	/* teardown runs the loop until every handle is closed. */
	uv_close((uv_handle_t *)&fx->lst, NULL);
	fx->lst_open = 0;
	uv_unref((uv_handle_t *)&fx->deadline);
	run_until(fx, loop_idle, 0, "every handle to close");
	assert_int_equal(fx->ncb, 0);
}

/* Freed while connections are at every stage, from inside a callback:
 * that callback is the last one. */
static void
test_oneshot_free_in_flight(void **state)
{
	struct fx *fx = *state;
	struct course_peer p;
	char msg[COURSE_MSG_MAX];
	size_t len;

	listen_v4(fx);
	p = peer_v4("127.0.0.1", fx->port);
	fx->o = oneshot_new(&fx->loop, NULL, 4, 16);
	fx->free_in_cb = 1;
	for (uint64_t t = 0; t < 12; t++) {
		len = make_msg(t, msg);
		assert_int_equal(
		    oneshot_send(fx->o, &p, msg, len, send_cb, fx, t), 0);
	}
	run_until(fx, cbs_at_least, 1, "the first send callback");
	assert_null(fx->o);
	uv_close((uv_handle_t *)&fx->lst, NULL);
	fx->lst_open = 0;
	uv_unref((uv_handle_t *)&fx->deadline);
	run_until(fx, loop_idle, 0, "every handle to close");
	assert_int_equal(fx->ncb, 1);
}

/* Freed with dials under way after a few loop turns, to a closed port and
 * a listener alike: whatever stage each one is at, no callback. */
static void
test_oneshot_free_mid_dial(void **state)
{
	struct fx *fx = *state;
	struct course_peer ok, closed;
	char msg[COURSE_MSG_MAX];
	size_t len;
	uv_tcp_t tmp;
	struct sockaddr_storage sa = v4("127.0.0.1", 0), bound;
	int blen = sizeof(bound);

	listen_v4(fx);
	ok = peer_v4("127.0.0.1", fx->port);
	uv_tcp_init(&fx->loop, &tmp);
	assert_int_equal(uv_tcp_bind(&tmp, SA(sa), 0), 0);
	uv_tcp_getsockname(&tmp, (struct sockaddr *)&bound, &blen);
	closed = peer_v4(
	    "127.0.0.1", ntohs(((struct sockaddr_in *)&bound)->sin_port));
	uv_close((uv_handle_t *)&tmp, NULL);
	for (int turns = 0; turns < 6; turns++) {
		fx->o = oneshot_new(&fx->loop, NULL, 4, 4);
		for (uint64_t t = 0; t < 8; t++) {
			len = make_msg(t, msg);
			assert_int_equal(
			    oneshot_send(fx->o, t % 2 ? &ok : &closed, msg, len,
				send_cb, fx, t),
			    0);
		}
		for (int i = 0; i < turns; i++)
			uv_run(&fx->loop, UV_RUN_NOWAIT);
		fx->ncb = 0;
		oneshot_free(fx->o);
		fx->o = NULL;
		uv_run(&fx->loop, UV_RUN_NOWAIT);
		uv_run(&fx->loop, UV_RUN_NOWAIT);
		assert_int_equal(fx->ncb, 0);
	}
	uv_close((uv_handle_t *)&fx->lst, NULL);
	fx->lst_open = 0;
	uv_unref((uv_handle_t *)&fx->deadline);
	run_until(fx, loop_idle, 0, "every handle to close");
	assert_int_equal(fx->ncb, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pktid_add_has),
	    cmocka_unit_test(test_pktid_expiry),
	    cmocka_unit_test(test_pktid_time_backwards),
	    cmocka_unit_test(test_pktid_evict_oldest),
	    cmocka_unit_test(test_pktid_single_entry),
	    cmocka_unit_test(test_pktid_opaque_bytes),
	    cmocka_unit_test(test_pktid_many),
	    cmocka_unit_test(test_rate_burst_refill),
	    cmocka_unit_test(test_rate_addresses_independent),
	    cmocka_unit_test(test_rate_v4_mapped_same),
	    cmocka_unit_test(test_rate_zero_unlimited),
	    cmocka_unit_test(test_rate_bounded_table),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_delivers, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_peer_talks_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_mapped_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_falls_back_to_v6, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_no_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_queue_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_max_active, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_per_destination, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_free_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_free_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_oneshot_free_mid_dial, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
