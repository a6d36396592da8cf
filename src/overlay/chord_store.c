/*
 * chord_store.c: the record store of a chord node as a skip list ordered
 * by (key, md5, holder_ip, holder_port): O(log n) insert and seek, and
 * in-order walks for GET (one key) and for the pages of LIST and
 * TRANSFER_KEYS (a ring interval, which may wrap past zero).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chord_store.h"
#include "core/xmalloc.h"
#include "warren/error.h"

#define SL_LEVELS 24

struct sl_node {
	struct chord_srec r;
	unsigned level;          /* 1..SL_LEVELS */
	struct sl_node *next[1]; /* level entries (allocated with the node) */
};

struct chord_store {
	struct sl_node *head; /* sentinel with SL_LEVELS links */
	unsigned level;       /* highest level in use */
	size_t count, max;
	uint64_t seq;                  /* last seq given */
	uint64_t rng;                  /* xorshift state for levels */
	const struct chord_srec **tmp; /* GET scratch, tmpcap entries */
	size_t tmpcap;
};

static struct sl_node *
sl_node_new(unsigned level)
{
	struct sl_node *n = xcalloc(1,
	    offsetof(struct sl_node, next) + level * sizeof(struct sl_node *));

	n->level = level;
	return n;
}

static unsigned
sl_random_level(struct chord_store *s)
{
	unsigned level = 1;
	uint64_t x = s->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	/* p = 1/4 per level */
	while (level < SL_LEVELS && (x & 3) == 0) {
		level++;
		x >>= 2;
	}
	return level;
}

struct chord_store *
chord_store_new(size_t max)
{
	struct chord_store *s = xcalloc(1, sizeof(*s));

	s->head = sl_node_new(SL_LEVELS);
	s->level = 1;
	s->max = max;
	s->rng = 0x9e3779b97f4a7c15ULL;
	return s;
}

void
chord_store_free(struct chord_store *s)
{
	struct sl_node *n, *next;

	if (s == NULL)
		return;
	for (n = s->head; n != NULL; n = next) {
		next = n->next[0];
		free(n);
	}
	free(s->tmp);
	free(s);
}

size_t
chord_store_count(const struct chord_store *s)
{
	return s->count;
}

/* Order of a record against a position. */
static int
sl_cmp(const struct chord_srec *r, const struct chord_store_pos *p)
{
	int c = memcmp(r->key.b, p->key.b, CHORD_ID_BYTES);

	if (c != 0)
		return c;
	if ((c = strcmp(r->md5, p->md5)) != 0)
		return c;
	if ((c = strcmp(r->ip, p->ip)) != 0)
		return c;
	return (int)r->port - (int)p->port;
}

/*
 * The first node at or after p (strict: after p). update, if not NULL,
 * receives the last node before it at each level.
 */
static struct sl_node *
sl_seek(struct chord_store *s, const struct chord_store_pos *p, int strict,
    struct sl_node **update)
{
	struct sl_node *x = s->head;

	for (int i = (int)s->level - 1; i >= 0; i--) {
		while (x->next[i] != NULL) {
			int c = sl_cmp(&x->next[i]->r, p);

			if (c < 0 || (strict && c == 0))
				x = x->next[i];
			else
				break;
		}
		if (update != NULL)
			update[i] = x;
	}
	return x->next[0];
}

/* The first node whose key is above k. */
static struct sl_node *
sl_seek_key_after(struct chord_store *s, const struct chord_id *k)
{
	struct sl_node *x = s->head;

	for (int i = (int)s->level - 1; i >= 0; i--)
		while (x->next[i] != NULL &&
		    memcmp(x->next[i]->r.key.b, k->b, CHORD_ID_BYTES) <= 0)
			x = x->next[i];
	return x->next[0];
}

int
chord_store_put(struct chord_store *s, const struct chord_id *key,
    const struct chord_record *r, uint64_t expires_ms)
{
	struct sl_node *update[SL_LEVELS], *x;
	struct chord_store_pos p;
	unsigned level;

	memset(&p, 0, sizeof(p));
	p.key = *key;
	memcpy(p.md5, r->md5, sizeof(p.md5));
	if (chord_ip_format(&r->holder, p.ip, sizeof(p.ip)) < 0 ||
	    r->name.len == 0 || r->name.len > CHORD_NAME_MAX)
		return WARREN_EFIELD;
	p.port = r->port;
	x = sl_seek(s, &p, 0, update);
	if (x == NULL || sl_cmp(&x->r, &p) != 0) {
		if (s->count >= s->max)
			return WARREN_ELIMIT;
		level = sl_random_level(s);
		if (level > s->level) {
			for (unsigned i = s->level; i < level; i++)
				update[i] = s->head;
			s->level = level;
		}
		x = sl_node_new(level);
		for (unsigned i = 0; i < level; i++) {
			x->next[i] = update[i]->next[i];
			update[i]->next[i] = x;
		}
		x->r.key = *key;
		memcpy(x->r.md5, p.md5, sizeof(x->r.md5));
		memcpy(x->r.ip, p.ip, sizeof(x->r.ip));
		x->r.port = p.port;
		s->count++;
		level = 0; /* new */
	} else {
		level = 1; /* refreshed */
	}
	x->r.size = r->size;
	memcpy(x->r.name, r->name.ptr, r->name.len);
	x->r.name[r->name.len] = '\0';
	x->r.name_len = r->name.len;
	x->r.expires_ms = expires_ms;
	x->r.seq = ++s->seq;
	return (int)level;
}

static int
srec_newer_first(const void *a, const void *b)
{
	const struct chord_srec *x = *(const struct chord_srec *const *)a;
	const struct chord_srec *y = *(const struct chord_srec *const *)b;

	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

size_t
chord_store_get(struct chord_store *s, const struct chord_id *key,
    uint64_t now_ms, const struct chord_srec **out, size_t max)
{
	struct chord_store_pos p;
	struct sl_node *x;
	size_t n = 0;

	memset(&p, 0, sizeof(p));
	p.key = *key;
	for (x = sl_seek(s, &p, 0, NULL);
	     x != NULL && memcmp(x->r.key.b, key->b, CHORD_ID_BYTES) == 0;
	     x = x->next[0]) {
		if (x->r.expires_ms <= now_ms)
			continue;
		if (n == s->tmpcap) {
			s->tmpcap = s->tmpcap ? s->tmpcap * 2 : 64;
			s->tmp = xreallocarray(
			    s->tmp, s->tmpcap, sizeof(*s->tmp));
		}
		s->tmp[n++] = &x->r;
	}
	if (n > 1)
		qsort(s->tmp, n, sizeof(*s->tmp), srec_newer_first);
	if (n > max)
		n = max;
	if (n > 0)
		memcpy(out, s->tmp, n * sizeof(*out));
	return n;
}

size_t
chord_store_range(struct chord_store *s, const struct chord_id *lo,
    const struct chord_id *hi, const struct chord_store_pos *after,
    uint64_t now_ms, const struct chord_srec **out, size_t max, int *more)
{
	int whole = memcmp(lo->b, hi->b, CHORD_ID_BYTES) == 0;
	int wraps = memcmp(lo->b, hi->b, CHORD_ID_BYTES) > 0;
	struct sl_node *x;
	size_t n = 0;

	*more = 0;
	x = after != NULL ? sl_seek(s, after, 1, NULL) : s->head->next[0];
	while (x != NULL) {
		int above_hi = memcmp(x->r.key.b, hi->b, CHORD_ID_BYTES) > 0;
		int above_lo = memcmp(x->r.key.b, lo->b, CHORD_ID_BYTES) > 0;

		if (!whole && !wraps && !above_lo) {
			/* (lo, hi]: skip to the first key above lo. */
			x = sl_seek_key_after(s, lo);
			continue;
		}
		if (!whole && !wraps && above_hi)
			break;
		if (!whole && wraps && above_hi && !above_lo) {
			/* [0, hi] then (lo, max]: jump the gap. */
			x = sl_seek_key_after(s, lo);
			continue;
		}
		if (x->r.expires_ms > now_ms) {
			if (n == max) {
				*more = 1;
				break;
			}
			out[n++] = &x->r;
		}
		x = x->next[0];
	}
	return n;
}

size_t
chord_store_purge(struct chord_store *s, uint64_t now_ms)
{
	struct sl_node *update[SL_LEVELS], *x, *next;
	size_t removed = 0;

	for (unsigned i = 0; i < SL_LEVELS; i++)
		update[i] = s->head;
	for (x = s->head->next[0]; x != NULL; x = next) {
		next = x->next[0];
		if (x->r.expires_ms > now_ms) {
			for (unsigned i = 0; i < x->level; i++)
				update[i] = x;
			continue;
		}
		for (unsigned i = 0; i < x->level; i++)
			update[i]->next[i] = x->next[i];
		free(x);
		s->count--;
		removed++;
	}
	while (s->level > 1 && s->head->next[s->level - 1] == NULL)
		s->level--;
	return removed;
}

int
chord_store_cursor(const struct chord_srec *r, char *out, size_t cap)
{
	char key[CHORD_ID_LEN + 1];
	int n;

	chord_id_format(&r->key, key);
	n = snprintf(out, cap, "%s,%s,%s,%u", key, r->md5, r->ip, r->port);
	if (n < 0 || (size_t)n >= cap)
		return WARREN_ESPACE;
	return n;
}

int
chord_store_pos_parse(const void *buf, size_t len, struct chord_store_pos *out)
{
	const char *s = buf, *end = s + len, *f[4];
	size_t flen[4];
	struct chord_addr a;
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (chord_cursor_check(buf, len) != 0)
		return WARREN_EFIELD;
	for (i = 0; i < 4; i++) {
		const char *comma = memchr(s, ',', (size_t)(end - s));

		if (i < 3 && comma == NULL)
			return WARREN_EFIELD;
		if (i == 3 && comma != NULL)
			return WARREN_EFIELD;
		f[i] = s;
		flen[i] = (size_t)((i < 3 ? comma : end) - s);
		s = i < 3 ? comma + 1 : end;
	}
	if (chord_id_parse(f[0], flen[0], &out->key) != 0 ||
	    chord_md5_parse(f[1], flen[1], out->md5) != 0 ||
	    chord_ip_parse(f[2], flen[2], &a) != 0 ||
	    chord_ip_format(&a, out->ip, sizeof(out->ip)) < 0 ||
	    chord_port_parse(f[3], flen[3], &out->port) != 0)
		return WARREN_EFIELD;
	return 0;
}
