/*
 * chord_store.h: the record store of a chord node (chord.md §3.2-§3.3):
 * index records under 160-bit keys, kept in memory in the order
 * (key, md5, holder_ip, holder_port) so that GET finds a key's records
 * together and LIST / TRANSFER_KEYS page through a ring interval with a
 * "continue after this record" cursor. Bounded: a full store refuses new
 * records and never evicts. Times are the caller's monotonic milliseconds.
 */
#ifndef WARREN_OVERLAY_CHORD_STORE_H
#define WARREN_OVERLAY_CHORD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "wire/chordtxt.h"

struct chord_store;

/* One stored record. Owned by the store; valid until the next change. */
struct chord_srec {
	struct chord_id key;
	char md5[CHORD_MD5_LEN + 1];   /* lower-case hex */
	uint64_t size;                 /* bytes */
	char ip[CHORD_IP_TEXT_MAX];    /* holder, canonical text */
	uint16_t port;                 /* holder's transfer port */
	size_t name_len;               /* 1..CHORD_NAME_MAX */
	char name[CHORD_NAME_MAX + 1]; /* NUL-terminated */
	uint64_t expires_ms;           /* gone at this time */
	uint64_t seq;                  /* PUT order: higher is newer */
};

/* A position in the store's order: the cursor of LIST / TRANSFER_KEYS. */
struct chord_store_pos {
	struct chord_id key;
	char md5[CHORD_MD5_LEN + 1];
	char ip[CHORD_IP_TEXT_MAX]; /* canonical text */
	uint16_t port;
};

/* A store of at most max records. */
struct chord_store *chord_store_new(size_t max);
void chord_store_free(struct chord_store *s);

/* Records held, expired ones not yet purged included. */
size_t chord_store_count(const struct chord_store *s);

/*
 * Store or refresh the record r under key with the given expiry: a record
 * with the same identity (key, md5, holder, port) has its size and name
 * replaced and becomes the newest. Returns 0 (new), 1 (refreshed),
 * WARREN_ELIMIT when the store is full (nothing evicted), or
 * WARREN_EFIELD for a record that cannot be stored (bad address).
 */
int chord_store_put(struct chord_store *s, const struct chord_id *key,
    const struct chord_record *r, uint64_t expires_ms);

/*
 * The unexpired records under key, most recently refreshed first, at most
 * max of them, into out. Returns how many.
 */
size_t chord_store_get(struct chord_store *s, const struct chord_id *key,
    uint64_t now_ms, const struct chord_srec **out, size_t max);

/*
 * A page of the unexpired records whose key lies in the ring interval
 * (lo, hi] ((lo, lo] is the whole ring), in store order, after the
 * position after (or from the start when NULL). At most max into out;
 * *more is set to 1 when further records of the interval remain. Returns
 * how many.
 */
size_t chord_store_range(struct chord_store *s, const struct chord_id *lo,
    const struct chord_id *hi, const struct chord_store_pos *after,
    uint64_t now_ms, const struct chord_srec **out, size_t max, int *more);

/* Remove the records expired at now_ms. Returns how many. */
size_t chord_store_purge(struct chord_store *s, uint64_t now_ms);

/*
 * The cursor of a record: "<key>,<md5>,<ip>,<port>" with a NUL. Returns
 * its length or WARREN_ESPACE.
 */
int chord_store_cursor(const struct chord_srec *r, char *out, size_t cap);

/* Parse a cursor written by chord_store_cursor(). 0 or WARREN_EFIELD. */
int
chord_store_pos_parse(const void *s, size_t len, struct chord_store_pos *out);

#endif
