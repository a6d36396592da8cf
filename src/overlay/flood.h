/*
 * flood.h: the pieces every flooding overlay (Gnutella, Kazaa supernodes)
 * needs around course.md §3:
 *
 *   - pktid_cache: the bounded duplicate cache keyed by the 16 Pktid bytes,
 *     with a lifetime per entry (default 300 s) and oldest-first eviction
 *     when full. Also used for the Pktids a node originated itself.
 *   - flood_rate: a token bucket per source IP address, so one peer that
 *     floods cannot take a node down. Bounded: a fixed table, an entry is
 *     reused when another address hashes to its slot.
 *   - oneshot: course.md's "O" model as a service: connect, one write,
 *     close. Bounded number of connections at once and a bounded queue
 *     behind them; a message that does not fit is dropped (and counted),
 *     never buffered without limit.
 */
#ifndef WARREN_OVERLAY_FLOOD_H
#define WARREN_OVERLAY_FLOOD_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/conf.h"
#include "net/dial.h"
#include "wire/course.h"

/* ---------------------------------------------------------- flood_config */

/* The bounds every flooding overlay has ([gnutella] and [kazaa] keys). */
struct flood_config {
	unsigned fail_limit;        /* failed sends: a neighbour is down (3) */
	uint64_t pktid_lifetime_ms; /* duplicate cache lifetime (300 s) */
	unsigned pktid_cache;       /* duplicate cache entries (65536) */
	unsigned max_answers;       /* answers sent per received query (100) */
	double flood_rate;          /* floods/s accepted per source IP (50) */
	double flood_burst;         /* bucket size (200) */
	unsigned max_oneshots;      /* outgoing one-shots at once (64) */
	unsigned oneshot_queue;     /* waiting behind them (4096) */
	unsigned max_searches;      /* pending collections (64) */
	unsigned max_hits;        /* distinct answers kept per search (10000) */
	unsigned max_forward_ttl; /* cap on forwarded TTLs (10) */
};

void flood_config_defaults(struct flood_config *c);

/* Set one of the keys above: 0, 1 if key is not one of them, -1 with err. */
int flood_config_set(struct flood_config *c, const char *section,
    const char *key, const char *value, char *err, size_t errlen);

/* Their descriptions, NULL-terminated, for --help. */
extern const struct config_key flood_config_keys[];

/* ----------------------------------------------------------- flood_guard */

struct pktid_cache;
struct flood_rate;

/*
 * §3 steps 2 and 3 plus the per-source rate limit, for one overlay: the
 * duplicate cache, the cache of Pktids this node originated, the buckets.
 */
struct flood_guard {
	struct pktid_cache *seen;
	struct pktid_cache *own;
	struct flood_rate *rate;
};

enum flood_verdict {
	FLOOD_NEW,  /* handle it */
	FLOOD_RATE, /* over the source's rate: drop */
	FLOOD_OWN,  /* one of ours came back: drop */
	FLOOD_DUP,  /* seen before: drop */
};

void flood_guard_init(struct flood_guard *g, const struct flood_config *c);
void flood_guard_release(struct flood_guard *g);

/* Check a valid flood from address from at now_ms (new ones enter the
 * duplicate cache). */
enum flood_verdict
flood_guard_check(struct flood_guard *g, const char pktid[COURSE_PKTID_LEN],
    const struct sockaddr *from, uint64_t now_ms);

/* A fresh strong-random Pktid (§2.5), recorded as this node's own. */
void flood_guard_pktid(
    struct flood_guard *g, char pktid[COURSE_PKTID_LEN], uint64_t now_ms);

/*
 * Encode a flood this node originates (SUPE, NEAR or QUER) from self with
 * ttl and term (QUER only; may be empty) into buf. Returns its length or
 * a negative WARREN_E code.
 */
int flood_encode(enum course_kind kind, const char pktid[COURSE_PKTID_LEN],
    const struct course_peer *self, unsigned ttl, struct course_str term,
    char buf[COURSE_MSG_MAX]);

/* ---------------------------------------------------------- pktid_cache */

struct pktid_cache;

/* max entries (>= 1) living lifetime_ms each. Caller frees. */
struct pktid_cache *pktid_cache_new(unsigned max, uint64_t lifetime_ms);
void pktid_cache_free(struct pktid_cache *c);

/*
 * Insert id (16 opaque bytes) at time now_ms. Returns 1 if it was not
 * there (inserted), 0 if it was present and not expired (left as it was).
 * Expired entries are dropped first; when the cache is full the oldest
 * entry is evicted. O(1) amortised.
 */
int pktid_cache_add(
    struct pktid_cache *c, const char id[COURSE_PKTID_LEN], uint64_t now_ms);

/* 1 if id is present and not expired at now_ms, else 0. */
int pktid_cache_has(
    struct pktid_cache *c, const char id[COURSE_PKTID_LEN], uint64_t now_ms);

/* Entries held (after dropping the expired ones at now_ms). */
unsigned pktid_cache_count(struct pktid_cache *c, uint64_t now_ms);

/* ----------------------------------------------------------- flood_rate */

struct flood_rate;

/*
 * A bucket per source address: rate messages per second, bursts of up to
 * burst. slots is the table size (rounded up to a power of two). rate 0
 * turns limiting off. Caller frees.
 */
struct flood_rate *flood_rate_new(double rate, double burst, unsigned slots);
void flood_rate_free(struct flood_rate *r);

/*
 * May a message from sa's address (the port is ignored; an IPv4-mapped
 * IPv6 address counts as its IPv4) be handled at now_ms? Takes one token
 * and returns 1, or returns 0 (drop it).
 */
int flood_rate_allow(
    struct flood_rate *r, const struct sockaddr *sa, uint64_t now_ms);

/* -------------------------------------------------------------- oneshot */

struct oneshot;

/*
 * Outcome of one send: status 0 when the whole message was handed to the
 * kernel, or a negative error (connect failure on every address,
 * UV_ECANCELED when the sender was freed first is NOT reported: after
 * oneshot_free() no callback runs). tag is the caller's.
 */
typedef void (*oneshot_cb)(void *arg, uint64_t tag, int status);

struct oneshot_stats {
	uint64_t sent;    /* written to the kernel */
	uint64_t failed;  /* could not connect or write */
	uint64_t dropped; /* queue full, or no usable address */
	unsigned active;  /* connections in progress now */
	unsigned queued;  /* waiting for a connection slot now */
};

/*
 * max_active connections at once (>= 1), max_queued messages waiting
 * behind them. dial: connect deadline and source binding (copied; the
 * bind addresses it points to must outlive the sender).
 */
struct oneshot *oneshot_new(uv_loop_t *loop, const struct dial_opts *dial,
    unsigned max_active, unsigned max_queued);

/*
 * Send msg[0..len) (copied; len <= COURSE_MSG_MAX) to peer: connect to its
 * IPv4 half, then its IPv6 half if that fails (an IPv4-mapped IPv6 half
 * that equals the IPv4 half is not tried twice; absent halves are skipped,
 * course.md §2.4), write the message with one write, close gracefully.
 * cb (may be NULL) runs once, later, from the loop.
 * Returns 0, WARREN_EFIELD if the peer has no usable address, or
 * WARREN_ELIMIT if the queue is full; cb is not called then.
 */
int oneshot_send(struct oneshot *o, const struct course_peer *peer,
    const void *msg, size_t len, oneshot_cb cb, void *arg, uint64_t tag);

void oneshot_stats(const struct oneshot *o, struct oneshot_stats *out);

/* Cancel everything queued or in progress; no callback runs afterwards. */
void oneshot_free(struct oneshot *o);

#endif
