/*
 * flood.c: the bounded pieces around flooding (course.md §3): a duplicate
 * cache of Pktids, a token bucket per source address, and a one-shot
 * sender ("O" model: connect, one write, close) with a bounded number of
 * connections and a bounded queue. Every table is allocated once.
 */
#include <assert.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "flood.h"
#include "warren/error.h"

/* ------------------------------------------------------------ keyed hash */

/*
 * Both tables are indexed by 16 bytes that come from the network, so the
 * hash is keyed with a random secret per table (SipHash-1-3): a peer that
 * cannot learn the key cannot aim many keys at one chain or one slot.
 */
#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = ROTL64(v1, 13);                                           \
		v1 ^= v0;                                                      \
		v0 = ROTL64(v0, 32);                                           \
		v2 += v3;                                                      \
		v3 = ROTL64(v3, 16);                                           \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = ROTL64(v3, 21);                                           \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = ROTL64(v1, 17);                                           \
		v1 ^= v2;                                                      \
		v2 = ROTL64(v2, 32);                                           \
	} while (0)

static uint64_t
flood_hash16(const uint64_t key[2], const void *p16)
{
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = key[1] ^ 0x7465646279746573ULL;
	uint64_t m[2];
	const uint64_t b = (uint64_t)16 << 56;

	/* Host byte order: the value only indexes a local table. */
	memcpy(m, p16, sizeof(m));
	for (int i = 0; i < 2; i++) {
		v3 ^= m[i];
		SIPROUND;
		v0 ^= m[i];
	}
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static void
flood_seed(uint64_t key[2])
{
	if (uv_random(NULL, NULL, key, 2 * sizeof(key[0]), 0, NULL) == 0)
		return;
	/* No entropy source: at least differ per process and per table. */
	key[0] = uv_hrtime() ^ (uint64_t)(uintptr_t)key;
	key[1] = (uint64_t)uv_os_getpid() * 0x9e3779b97f4a7c15ULL;
}

/* Smallest power of two >= n (n >= 1). */
static size_t
flood_pow2(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* ---------------------------------------------------------- pktid_cache */

#define PKTID_NIL UINT32_MAX

struct pktid_entry {
	char id[COURSE_PKTID_LEN];
	uint64_t expires_ms; /* absent at and after this time */
	uint32_t next;       /* next entry of its hash chain, or PKTID_NIL */
};

struct pktid_cache {
	/*
	 * max entries used as a ring: the n live ones start at head, in
	 * insertion order, which is also expiry order (one lifetime for all
	 * and now_ms does not go backwards), so expiry and eviction both
	 * take from head.
	 */
	struct pktid_entry *ring;
	unsigned max;
	unsigned head;    /* oldest entry, < max */
	unsigned n;       /* live entries, <= max */
	uint32_t *chains; /* mask + 1 heads: ring index or PKTID_NIL */
	size_t mask;
	uint64_t lifetime_ms;
	uint64_t key[2]; /* hash secret */
};

struct pktid_cache *
pktid_cache_new(unsigned max, uint64_t lifetime_ms)
{
	struct pktid_cache *c = xcalloc(1, sizeof(*c));
	size_t nchains;

	if (max < 1)
		max = 1;
	if (max > PKTID_NIL - 1)
		max = PKTID_NIL - 1;
	c->max = max;
	c->lifetime_ms = lifetime_ms;
	c->ring = xcalloc(max, sizeof(c->ring[0]));
	nchains = flood_pow2(max); /* load factor <= 1 */
	c->chains = xmalloc(nchains * sizeof(c->chains[0]));
	for (size_t i = 0; i < nchains; i++)
		c->chains[i] = PKTID_NIL;
	c->mask = nchains - 1;
	flood_seed(c->key);
	return c;
}

void
pktid_cache_free(struct pktid_cache *c)
{
	if (c == NULL)
		return;
	free(c->chains);
	free(c->ring);
	free(c);
}

static uint32_t *
pktid_chain(struct pktid_cache *c, const char id[COURSE_PKTID_LEN])
{
	return &c->chains[flood_hash16(c->key, id) & c->mask];
}

/* The entry holding id, or NULL. */
static struct pktid_entry *
pktid_find(struct pktid_cache *c, const char id[COURSE_PKTID_LEN])
{
	uint32_t i = *pktid_chain(c, id);

	while (i != PKTID_NIL) {
		if (memcmp(c->ring[i].id, id, COURSE_PKTID_LEN) == 0)
			return &c->ring[i];
		i = c->ring[i].next;
	}
	return NULL;
}

/* Remove the oldest entry (n > 0). */
static void
pktid_drop_head(struct pktid_cache *c)
{
	struct pktid_entry *e = &c->ring[c->head];
	uint32_t *link = pktid_chain(c, e->id);

	while (*link != c->head) {
		assert(*link != PKTID_NIL);
		link = &c->ring[*link].next;
	}
	*link = e->next;
	if (++c->head == c->max)
		c->head = 0;
	c->n--;
}

static void
pktid_expire(struct pktid_cache *c, uint64_t now_ms)
{
	while (c->n > 0 && c->ring[c->head].expires_ms <= now_ms)
		pktid_drop_head(c);
}

int
pktid_cache_add(
    struct pktid_cache *c, const char id[COURSE_PKTID_LEN], uint64_t now_ms)
{
	struct pktid_entry *e;
	uint64_t expires;
	uint32_t *chain;
	unsigned i;

	expires = now_ms + c->lifetime_ms;
	if (expires < now_ms)
		expires = UINT64_MAX;
	pktid_expire(c, now_ms);
	if ((e = pktid_find(c, id)) != NULL) {
		if (e->expires_ms > now_ms)
			return 0;
		/* Expired but not at head: now_ms went backwards at some
		 * point. Count it as new without moving it. */
		e->expires_ms = expires;
		return 1;
	}
	if (c->n == c->max)
		pktid_drop_head(c);
	i = (unsigned)(((uint64_t)c->head + c->n) % c->max);
	e = &c->ring[i];
	memcpy(e->id, id, COURSE_PKTID_LEN);
	e->expires_ms = expires;
	chain = pktid_chain(c, id);
	e->next = *chain;
	*chain = i;
	c->n++;
	return 1;
}

int
pktid_cache_has(
    struct pktid_cache *c, const char id[COURSE_PKTID_LEN], uint64_t now_ms)
{
	struct pktid_entry *e;

	pktid_expire(c, now_ms);
	e = pktid_find(c, id);
	return e != NULL && e->expires_ms > now_ms;
}

unsigned
pktid_cache_count(struct pktid_cache *c, uint64_t now_ms)
{
	pktid_expire(c, now_ms);
	return c->n;
}

/* ----------------------------------------------------------- flood_rate */

struct flood_slot {
	uint8_t addr[16]; /* IPv6 form; IPv4 as ::ffff:a.b.c.d */
	double tokens;    /* 0 .. burst */
	uint64_t last_ms; /* time of the last refill */
	int used;         /* addr means something */
};

struct flood_rate {
	double rate;  /* tokens per second; 0 = no limit */
	double burst; /* bucket size, >= 1 */
	struct flood_slot *slots;
	size_t mask;     /* slots - 1 */
	uint64_t key[2]; /* hash secret */
};

struct flood_rate *
flood_rate_new(double rate, double burst, unsigned slots)
{
	struct flood_rate *r = xcalloc(1, sizeof(*r));
	size_t n;

	r->rate = rate > 0 ? rate : 0;
	r->burst = burst >= 1 ? burst : 1;
	n = flood_pow2(slots > 0 ? slots : 1);
	r->slots = xcalloc(n, sizeof(r->slots[0]));
	r->mask = n - 1;
	flood_seed(r->key);
	return r;
}

void
flood_rate_free(struct flood_rate *r)
{
	if (r == NULL)
		return;
	free(r->slots);
	free(r);
}

/* The address of sa as 16 bytes; IPv4 in its IPv4-mapped IPv6 form. */
static void
flood_rate_key(const struct sockaddr *sa, uint8_t out[16])
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(&sin, sa, sizeof(sin));
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &sin.sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(out, &sin6.sin6_addr, 16);
	}
	/* Any other family shares the all-zero key (not seen on TCP). */
}

int
flood_rate_allow(
    struct flood_rate *r, const struct sockaddr *sa, uint64_t now_ms)
{
	struct flood_slot *s;
	uint8_t key[16];

	if (r->rate == 0)
		return 1;
	flood_rate_key(sa, key);
	s = &r->slots[flood_hash16(r->key, key) & r->mask];
	if (!s->used || memcmp(s->addr, key, sizeof(key)) != 0) {
		/* New address, or another one took the slot: a full bucket.
		 * The table stays bounded; a peer can at worst get a fresh
		 * burst by making its slot be reused. */
		memcpy(s->addr, key, sizeof(key));
		s->tokens = r->burst;
		s->last_ms = now_ms;
		s->used = 1;
	} else if (now_ms > s->last_ms) {
		s->tokens += (double)(now_ms - s->last_ms) * r->rate / 1000.0;
		if (s->tokens > r->burst)
			s->tokens = r->burst;
		s->last_ms = now_ms;
	}
	if (s->tokens < 1)
		return 0;
	s->tokens -= 1;
	return 1;
}

/* -------------------------------------------------------------- oneshot */

#define ONESHOT_RCAP       64   /* replies are not expected; reads dropped */
#define ONESHOT_TIMEOUT_MS 5000 /* idle deadline when the dial has none */

enum oneshot_state {
	ONESHOT_QUEUED,  /* waiting for a connection slot */
	ONESHOT_DIALING, /* dial in progress: it->dial */
	ONESHOT_WRITING, /* connected, the write not done: it->c */
	ONESHOT_CLOSING, /* written; until the receiver closes: it->c */
};

/*
 * One message. Lives from oneshot_send() until its dial failed or its
 * connection closed (after the write, once the receiver closed), or
 * until oneshot_free() for a queued one. oneshot_free() detaches the ones
 * in progress (o = NULL) and they free themselves when dial or conn calls
 * back, without calling the user.
 */
/* Connections at once to one destination address (see oneshot_pump). */
#define ONESHOT_PER_DEST 8

struct oneshot_item {
	struct oneshot_item *prev, *next; /* in o->queue or o->active */
	struct oneshot *o; /* NULL once detached by oneshot_free() */
	enum oneshot_state state;
	struct dial *dial; /* DIALING */
	struct conn *c;    /* WRITING, CLOSING */
	int status;        /* of the write, once it is over */
	struct sockaddr_storage addrs[2];
	unsigned naddrs;
	uint8_t msg[COURSE_MSG_MAX]; /* the write buffer: lives until the
					write callback */
	size_t len;
	oneshot_cb cb;
	void *arg;
	uint64_t tag;
};

struct oneshot_list {
	struct oneshot_item *head, *tail;
	unsigned n;
};

struct oneshot {
	uv_loop_t *loop;
	struct dial_opts dial; /* rcap replaced by ONESHOT_RCAP */
	uint64_t timeout_ms;   /* idle deadline of a connection */
	unsigned max_active;   /* >= 1 */
	unsigned max_queued;
	struct oneshot_list queue;  /* QUEUED, oldest first */
	struct oneshot_list active; /* DIALING or WRITING, <= max_active */
	uint64_t sent, failed, dropped;
};

static void oneshot_dial_cb(void *arg, struct conn *c, int status);

static void
oneshot_list_push(struct oneshot_list *l, struct oneshot_item *it)
{
	it->next = NULL;
	it->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	l->n++;
}

static void
oneshot_list_remove(struct oneshot_list *l, struct oneshot_item *it)
{
	if (it->prev != NULL)
		it->prev->next = it->next;
	else
		l->head = it->next;
	if (it->next != NULL)
		it->next->prev = it->prev;
	else
		l->tail = it->prev;
	it->prev = it->next = NULL;
	l->n--;
}

static const char *
oneshot_state_name(enum oneshot_state s)
{
	switch (s) {
	case ONESHOT_QUEUED:
		return "QUEUED";
	case ONESHOT_DIALING:
		return "DIALING";
	case ONESHOT_WRITING:
		return "WRITING";
	case ONESHOT_CLOSING:
		return "CLOSING";
	}
	return "?";
}

static void
oneshot_set_state(struct oneshot_item *it, enum oneshot_state s)
{
	log_debug("oneshot %llu: %s -> %s", (unsigned long long)it->tag,
	    oneshot_state_name(it->state), oneshot_state_name(s));
	it->state = s;
}

/* The peer's addresses to try: IPv4 half, then IPv6 half unless it is the
 * same address. Returns how many (0: none usable). */
static unsigned
oneshot_addrs(const struct course_peer *peer, struct sockaddr_storage out[2])
{
	unsigned n = 0;

	if (course_peer_sockaddr(peer, AF_INET, &out[n]) == 0)
		n++;
	if (course_peer_sockaddr(peer, AF_INET6, &out[n]) == 0 &&
	    (n == 0 ||
		!addr_equal((const struct sockaddr *)&out[0],
		    (const struct sockaddr *)&out[n])))
		n++;
	return n;
}

static void
oneshot_start(struct oneshot *o, struct oneshot_item *it)
{
	oneshot_list_push(&o->active, it);
	oneshot_set_state(it, ONESHOT_DIALING);
	it->dial = dial_start(
	    o->loop, it->addrs, it->naddrs, &o->dial, oneshot_dial_cb, it);
}

/*
 * Connections in progress to it's destination. Receivers accept only so
 * many connections from one address at once (a quarter of their slots)
 * and close the rest at once, after our write has already "succeeded":
 * a burst of answers to one originator must not exceed that.
 */
static unsigned
oneshot_dest_active(const struct oneshot *o, const struct oneshot_item *it)
{
	unsigned n = 0;

	for (const struct oneshot_item *a = o->active.head; a != NULL;
	     a = a->next)
		if (addr_equal((const struct sockaddr *)&a->addrs[0],
			(const struct sockaddr *)&it->addrs[0]))
			n++;
	return n;
}

/* Start queued items while connection slots are free, oldest first,
 * skipping those whose destination has ONESHOT_PER_DEST in progress. */
static void
oneshot_pump(struct oneshot *o)
{
	struct oneshot_item *it = o->queue.head, *next;

	for (; it != NULL && o->active.n < o->max_active; it = next) {
		next = it->next;
		if (oneshot_dest_active(o, it) >= ONESHOT_PER_DEST)
			continue;
		oneshot_list_remove(&o->queue, it);
		oneshot_start(o, it);
	}
}

/*
 * it (attached, in o->active) is over with status: count it, free it,
 * give its slot to the next one, and tell the user last, so that the
 * callback may call oneshot_send() or oneshot_free().
 */
static void
oneshot_done(struct oneshot_item *it, int status)
{
	struct oneshot *o = it->o;
	oneshot_cb cb = it->cb;
	void *arg = it->arg;
	uint64_t tag = it->tag;

	oneshot_list_remove(&o->active, it);
	if (status == 0)
		o->sent++;
	else
		o->failed++;
	if (status != 0)
		log_debug("oneshot %llu: %s", (unsigned long long)tag,
		    warren_strerror(status));
	free(it);
	oneshot_pump(o);
	if (cb != NULL)
		cb(arg, tag, status);
}

static void
oneshot_read_cb(struct conn *c)
{
	/* Nothing is expected back; whatever comes is dropped. */
	conn_consume(c, c->rlen);
}

/*
 * The write is over. On success the item keeps its connection slot until
 * the receiver has read the message and closed (or the lingering close
 * gives up after 2 s): the slot is only free when the receiver's is, so a
 * burst of answers never holds more of the receiver's connections than
 * ONESHOT_PER_DEST.
 */
static void
oneshot_write_cb(struct conn *c, void *arg, int status)
{
	struct oneshot_item *it = arg;

	it->status = status;
	if (status == 0 && it->o != NULL) {
		oneshot_set_state(it, ONESHOT_CLOSING);
		conn_finish(c);
	} else {
		conn_close(c, status);
	}
}

/* The connection is gone: the item is over (its status is the write's,
 * or why the connection ended before the write was done). */
static void
oneshot_closed_cb(struct conn *c, int err)
{
	struct oneshot_item *it = c->owner;

	it->c = NULL;
	if (it->o == NULL) { /* detached by oneshot_free() */
		free(it);
		return;
	}
	if (it->state != ONESHOT_CLOSING && it->status == 0)
		it->status = err != 0 ? err : UV_ECONNRESET;
	oneshot_done(it, it->state == ONESHOT_CLOSING ? 0 : it->status);
}

static void
oneshot_dial_cb(void *arg, struct conn *c, int status)
{
	struct oneshot_item *it = arg;
	struct oneshot *o = it->o;
	uv_buf_t buf;
	int err;

	it->dial = NULL;
	if (o == NULL) { /* detached by oneshot_free() */
		if (c != NULL)
			conn_close(c, UV_ECANCELED);
		free(it);
		return;
	}
	if (status != 0) {
		oneshot_done(it, status);
		return;
	}
	oneshot_set_state(it, ONESHOT_WRITING);
	it->c = c;
	err = conn_start(
	    c, oneshot_read_cb, oneshot_closed_cb, it, o->timeout_ms);
	if (err == 0) {
		buf = uv_buf_init((char *)it->msg, (unsigned)it->len);
		err = conn_writev(c, &buf, 1, oneshot_write_cb, it);
	}
	if (err != 0) {
		/* The write callback will not run; the close callback ends
		 * the item. */
		it->status = err;
		conn_close(c, err);
	}
}

struct oneshot *
oneshot_new(uv_loop_t *loop, const struct dial_opts *dial, unsigned max_active,
    unsigned max_queued)
{
	struct oneshot *o = xcalloc(1, sizeof(*o));

	o->loop = loop;
	if (dial != NULL)
		o->dial = *dial;
	o->dial.rcap = ONESHOT_RCAP;
	o->timeout_ms = o->dial.timeout_ms > 0 ? o->dial.timeout_ms
					       : ONESHOT_TIMEOUT_MS;
	o->max_active = max_active > 0 ? max_active : 1;
	o->max_queued = max_queued;
	return o;
}

int
oneshot_send(struct oneshot *o, const struct course_peer *peer, const void *msg,
    size_t len, oneshot_cb cb, void *arg, uint64_t tag)
{
	struct oneshot_item *it;
	struct sockaddr_storage addrs[2];
	unsigned naddrs;

	if (len > COURSE_MSG_MAX)
		return WARREN_ELENGTH; /* a caller's bug: not a drop */
	naddrs = oneshot_addrs(peer, addrs);
	if (naddrs == 0) {
		o->dropped++;
		return WARREN_EFIELD;
	}
	if (o->active.n >= o->max_active && o->queue.n >= o->max_queued) {
		o->dropped++;
		return WARREN_ELIMIT;
	}
	it = xcalloc(1, sizeof(*it));
	it->o = o;
	memcpy(it->addrs, addrs, sizeof(addrs));
	it->naddrs = naddrs;
	memcpy(it->msg, msg, len);
	it->len = len;
	it->cb = cb;
	it->arg = arg;
	it->tag = tag;
	it->state = ONESHOT_QUEUED;
	if (o->active.n < o->max_active &&
	    oneshot_dest_active(o, it) < ONESHOT_PER_DEST)
		oneshot_start(o, it);
	else
		oneshot_list_push(&o->queue, it);
	return 0;
}

void
oneshot_stats(const struct oneshot *o, struct oneshot_stats *out)
{
	out->sent = o->sent;
	out->failed = o->failed;
	out->dropped = o->dropped;
	out->active = o->active.n;
	out->queued = o->queue.n;
}

void
oneshot_free(struct oneshot *o)
{
	struct oneshot_item *it;

	if (o == NULL)
		return;
	while ((it = o->queue.head) != NULL) {
		oneshot_list_remove(&o->queue, it);
		free(it);
	}
	/* In progress: detach; each frees itself when dial or conn calls
	 * back (dial_cancel and conn_close never call back from inside). */
	while ((it = o->active.head) != NULL) {
		oneshot_list_remove(&o->active, it);
		it->o = NULL;
		switch (it->state) {
		case ONESHOT_QUEUED:
			assert(0);
			break;
		case ONESHOT_DIALING:
			dial_cancel(it->dial);
			break;
		case ONESHOT_WRITING:
		case ONESHOT_CLOSING:
			conn_close(it->c, UV_ECANCELED);
			break;
		}
	}
	free(o);
}

/* ---------------------------------------------------------- flood_config */

const struct config_key flood_config_keys[] = {
    {"fail_limit", "N",
	"failed sends in a row before a neighbour or friend is down "
	"(default 3)"},
    {"pktid_lifetime", "SECONDS", "duplicate Pktid memory (default 300)"},
    {"pktid_cache", "N", "duplicate Pktids remembered (default 65536)"},
    {"max_answers", "N", "answers sent for one received query (default 100)"},
    {"flood_rate", "N",
	"floods accepted per second from one IP address, 0 = no limit "
	"(default 50)"},
    {"flood_burst", "N", "burst of the flood rate (default 200)"},
    {"max_oneshots", "N", "outgoing one-shot connections at once (default 64)"},
    {"oneshot_queue", "N",
	"one-shot messages waiting for a connection, beyond: dropped "
	"(default 4096)"},
    {"max_searches", "N", "searches and collections pending (default 64)"},
    {"max_hits", "N", "distinct answers kept per search (default 10000)"},
    {"max_forward_ttl", "N", "cap on forwarded TTLs (default 10)"},
    {NULL, NULL, NULL},
};

void
flood_config_defaults(struct flood_config *c)
{
	memset(c, 0, sizeof(*c));
	c->fail_limit = 3;
	c->pktid_lifetime_ms = 300000;
	c->pktid_cache = 65536;
	c->max_answers = 100;
	c->flood_rate = 50;
	c->flood_burst = 200;
	c->max_oneshots = 64;
	c->oneshot_queue = 4096;
	c->max_searches = 64;
	c->max_hits = 10000;
	c->max_forward_ttl = 10;
}

/* clang-format off */
#define FLOOD_F(name, type, min, max) \
	{#name, type, offsetof(struct flood_config, name), min, max}
/* clang-format on */

static const struct conf_field flood_fields[] = {
    FLOOD_F(fail_limit, CONF_UINT, 1, 100),
    FLOOD_F(pktid_cache, CONF_UINT, 64, 1 << 22),
    FLOOD_F(max_answers, CONF_UINT, 0, 10000),
    FLOOD_F(max_oneshots, CONF_UINT, 1, 4096),
    FLOOD_F(oneshot_queue, CONF_UINT, 1, 1 << 20),
    FLOOD_F(max_searches, CONF_UINT, 1, 4096),
    FLOOD_F(max_hits, CONF_UINT, 1, 1000000),
    FLOOD_F(max_forward_ttl, CONF_UINT, 1, 99),
    {"pktid_lifetime", CONF_SECONDS,
	offsetof(struct flood_config, pktid_lifetime_ms), 0.001, 86400},
    FLOOD_F(flood_rate, CONF_DOUBLE, 0, 1e6),
    FLOOD_F(flood_burst, CONF_DOUBLE, 1, 1e6),
    {NULL, CONF_UINT, 0, 0, 0},
};

int
flood_config_set(struct flood_config *c, const char *section, const char *key,
    const char *value, char *err, size_t errlen)
{
	return conf_set_field(
	    c, flood_fields, section, key, value, err, errlen);
}

/* ----------------------------------------------------------- flood_guard */

void
flood_guard_init(struct flood_guard *g, const struct flood_config *c)
{
	g->seen = pktid_cache_new(c->pktid_cache, c->pktid_lifetime_ms);
	/* Own Pktids: all those of the last lifetime (§3 step 2). */
	g->own = pktid_cache_new(c->pktid_cache, c->pktid_lifetime_ms);
	g->rate = flood_rate_new(c->flood_rate, c->flood_burst, 4096);
}

void
flood_guard_release(struct flood_guard *g)
{
	pktid_cache_free(g->seen);
	pktid_cache_free(g->own);
	flood_rate_free(g->rate);
	memset(g, 0, sizeof(*g));
}

enum flood_verdict
flood_guard_check(struct flood_guard *g, const char pktid[COURSE_PKTID_LEN],
    const struct sockaddr *from, uint64_t now_ms)
{
	if (!flood_rate_allow(g->rate, from, now_ms))
		return FLOOD_RATE;
	if (pktid_cache_has(g->own, pktid, now_ms))
		return FLOOD_OWN;
	if (!pktid_cache_add(g->seen, pktid, now_ms))
		return FLOOD_DUP;
	return FLOOD_NEW;
}

void
flood_guard_pktid(
    struct flood_guard *g, char pktid[COURSE_PKTID_LEN], uint64_t now_ms)
{
	uint64_t v;

	if (uv_random(NULL, NULL, &v, sizeof(v), 0, NULL) != 0)
		v = uv_hrtime() ^ ((uint64_t)rand() << 32) ^ (uint64_t)rand();
	course_hex16(v, pktid);
	pktid_cache_add(g->own, pktid, now_ms);
	pktid_cache_add(g->seen, pktid, now_ms);
}

int
flood_encode(enum course_kind kind, const char pktid[COURSE_PKTID_LEN],
    const struct course_peer *self, unsigned ttl, struct course_str term,
    char buf[COURSE_MSG_MAX])
{
	struct course_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	memcpy(m.pktid, pktid, COURSE_PKTID_LEN);
	m.peer = *self;
	m.ttl = ttl;
	m.term = term;
	return course_encode(&m, buf, COURSE_MSG_MAX);
}
