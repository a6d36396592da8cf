/*
 * peerset.h: what the flooding overlays share about other nodes.
 *
 *   - peer_*: course_peer addresses compared the way course.md §2.4 item 6
 *     and §3 item 6 say (binary, port included), labels, download sources.
 *   - peerset: a list of nodes a flood goes to (Gnutella neighbours, Kazaa
 *     friends): configured ones are kept for ever and only marked down
 *     after fail_limit failed sends in a row; learned ones are forgotten
 *     then. Each entry has a stable id to tag its one-shots with.
 *   - hitset: a seeded hash set of (md5, holder) to de-duplicate answers.
 */
#ifndef WARREN_OVERLAY_PEERSET_H
#define WARREN_OVERLAY_PEERSET_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "core/addr.h"
#include "transfer/download.h"
#include "wire/course.h"

/* ------------------------------------------------------------- peer_* */

/* The usable addresses of p in IPv6 form (IPv4 as ::ffff:a.b.c.d), at
 * most two, absent halves (§2.4 item 4) left out. Returns how many. */
unsigned peer_keys(const struct course_peer *p, uint8_t keys[2][16]);

/* The IPv6-form key of a socket address (port ignored). */
void peer_sa_key(const struct sockaddr *sa, uint8_t key[16]);

/* Does p own the address key? */
int peer_has(const struct course_peer *p, const uint8_t key[16]);

/* Same node: same port and an address in common. */
int peer_same(const struct course_peer *a, const struct course_peer *b);

/* "a.b.c.d:port" from the IPv4 half when usable, else "[v6]:port". */
void peer_label(const struct course_peer *p, char *out, size_t cap);

/* A download source for p: IPv4 half first, then IPv6 (§2.4 item 5). */
void peer_source(const struct course_peer *p, struct download_source *s);

/* A course_peer for an address the user configured (HOST:PORT): 0, or
 * WARREN_EFIELD. */
int peer_from_sockaddr(const struct sockaddr *sa, struct course_peer *out);

/* ------------------------------------------------------------ peerset */

enum peerset_state {
	PEERSET_UNKNOWN, /* not yet contacted */
	PEERSET_UP,      /* the last message reached it */
	PEERSET_DOWN,    /* fail_limit failures in a row */
};

struct peerset_entry {
	uint64_t id; /* tag of its one-shots: survives reordering */
	struct course_peer peer;
	char label[ADDR_STRLEN];
	int configured;
	enum peerset_state state;
	unsigned fails; /* consecutive */
	uint64_t last_ok_ms, added_ms;
	uint64_t sent, failed;
};

struct peerset {
	struct peerset_entry *v; /* owned */
	unsigned n, cap;
	uint64_t next_id;
	unsigned fail_limit;
	const char *what; /* "gnutella: neighbour", for logs */
	uv_loop_t *loop;
	uint64_t learned, lost; /* counters */
};

void peerset_init(
    struct peerset *ps, uv_loop_t *loop, const char *what, unsigned fail_limit);
void peerset_release(struct peerset *ps);

/* Add p unless self or already present: the new entry, or NULL.
 * Pointers into the set are valid until the next add or remove. */
struct peerset_entry *
peerset_add(struct peerset *ps, const struct course_peer *p, int configured,
    const struct course_peer *self);
struct peerset_entry *
peerset_find(struct peerset *ps, const struct course_peer *p);
struct peerset_entry *peerset_by_id(struct peerset *ps, uint64_t id);

/* Entries not down; entries learned. */
unsigned peerset_alive(const struct peerset *ps);
unsigned peerset_learned(const struct peerset *ps);

/*
 * A send to entry id ended with status. Returns 1 if this made the entry
 * unavailable (a configured one down, a learned one removed), else 0.
 */
int peerset_result(struct peerset *ps, uint64_t id, int status);

/*
 * The entry that delivered a message from address from: the only entry
 * owning that IP (§3 item 6), or NULL. A down entry found so is marked
 * unknown again: it talks to us, so it is worth trying.
 */
struct peerset_entry *
peerset_deliverer(struct peerset *ps, const struct sockaddr *from);

/*
 * Forward a flood (course.md §3 items 5 and 6): raw is the message as
 * received (len bytes, TTL at [80:82)), ttl its TTL. Unless ttl <= 1, a
 * copy with TTL min(ttl - 1, max_ttl) goes through send() to every entry
 * that is not down, not the one that delivered it (from), and not the
 * originator. Returns the number of copies.
 */
typedef void (*peerset_send_fn)(
    void *arg, struct peerset_entry *e, const void *msg, size_t len);
unsigned peerset_flood(struct peerset *ps, const uint8_t *raw, size_t len,
    unsigned ttl, unsigned max_ttl, const struct course_peer *origin,
    const struct sockaddr *from, peerset_send_fn send, void *arg);

/* Counts by state for status: {"up","unknown","down","learned"}. */
json_t *peerset_counts_json(const struct peerset *ps);

/* The entries for `peers`. */
json_t *peerset_json(const struct peerset *ps);

/* ------------------------------------------------------------- hitset */

struct hitset {
	uint64_t *v; /* 0 = free slot; owned */
	unsigned cap, n, max;
	uint64_t seed;
};

void hitset_init(struct hitset *hs, unsigned max);
void hitset_release(struct hitset *hs);

/* Remember (md5, holder): 1 if new, 0 if seen or the set is full. */
int hitset_add(struct hitset *hs, const char *md5, const struct course_peer *p);

#endif
