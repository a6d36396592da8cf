/*
 * fuzz_course_afin.c: libFuzzer target for the streaming AFIN parser. The
 * input is parsed whole, in two pieces split at a point taken from the
 * data, and one byte at a time; all three must return the same items and
 * stop the same way. The items are then re-encoded canonically and must
 * parse back to the same items. Any violated invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "warren/error.h"
#include "wire/course.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

/* What a run returned, folded into a hash. */
struct summary {
	uint64_t hash;
	size_t nitems;
	size_t consumed;
	int rc; /* what stopped the run: 0 (need more) or an error */
	int done;
	int reencodable; /* every item has a canonical form */
};

static void
fold(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 1099511628211ULL;
	}
}

static void
fold_item(uint64_t *h, const struct course_afin_item *it)
{
	unsigned type = it->type;

	fold(h, &type, sizeof(type));
	fold(h, &it->valid, sizeof(it->valid));
	if (it->type != COURSE_AFIN_COPY)
		fold(h, &it->count, sizeof(it->count));
	if (it->type == COURSE_AFIN_ENTRY) {
		fold(h, it->md5, sizeof(it->md5));
		fold(h, &it->name.len, sizeof(it->name.len));
		fold(h, it->name.ptr, it->name.len);
	}
	if (it->type == COURSE_AFIN_COPY && it->valid) {
		fold(h, it->peer.v4, sizeof(it->peer.v4));
		fold(h, it->peer.v6, sizeof(it->peer.v6));
		fold(h, &it->peer.port, sizeof(it->peer.port));
	}
}

/* Write the canonical form of one item at out; 0 if it has none. */
static size_t
reencode(const struct course_afin_item *it, uint8_t *out, size_t cap)
{
	int rc;

	switch (it->type) {
	case COURSE_AFIN_COUNT:
		rc = course_encode_afin_head(it->count, out, cap);
		check(rc == COURSE_AFIN_HEAD_LEN);
		return (size_t)rc;
	case COURSE_AFIN_ENTRY:
		rc = course_encode_afin_entry(
		    it->md5, it->name, it->count, out, cap);
		if (rc < 0) {
			/* Only names that warren would never send. */
			check(rc == WARREN_EEMPTY || rc == WARREN_EFIELD);
			check(it->name.len == 0 ||
			    memchr(it->name.ptr, '\0', it->name.len) != NULL);
			return 0;
		}
		check(rc == COURSE_AFIN_ENTRY_LEN);
		return (size_t)rc;
	case COURSE_AFIN_COPY:
		if (!it->valid) {
			/* Any invalid copy: no '|' at all. */
			check(cap >= COURSE_AFIN_COPY_LEN);
			memset(out, ' ', COURSE_AFIN_COPY_LEN);
			return COURSE_AFIN_COPY_LEN;
		}
		rc = course_encode_afin_copy(&it->peer, out, cap);
		check(rc == COURSE_AFIN_COPY_LEN);
		return (size_t)rc;
	}
	abort();
}

/*
 * Parse data; first only data[0:first) is available, then one more byte
 * at a time if bytewise, else everything. If reenc is not NULL, write the
 * canonical form of every item there (it has room for size bytes).
 */
static void
run(const uint8_t *data, size_t size, size_t first, int bytewise,
    struct summary *s, uint8_t *reenc, size_t *reenc_len)
{
	struct course_afin p;
	struct course_afin_item it;
	size_t avail = first, n;
	int rc;

	memset(s, 0, sizeof(*s));
	s->hash = 14695981039346656037ULL;
	s->reencodable = 1;
	if (reenc_len != NULL)
		*reenc_len = 0;
	course_afin_init(&p);
	for (;;) {
		rc = course_afin_next(
		    &p, data + s->consumed, avail - s->consumed, &it);
		if (rc > 0) {
			check((size_t)rc <= avail - s->consumed);
			check(rc == COURSE_AFIN_HEAD_LEN ||
			    rc == COURSE_AFIN_ENTRY_LEN ||
			    rc == COURSE_AFIN_COPY_LEN);
			if (it.name.len > 0)
				check((const uint8_t *)it.name.ptr >=
					data + s->consumed &&
				    (const uint8_t *)it.name.ptr +
					    it.name.len <=
					data + s->consumed + (size_t)rc);
			fold_item(&s->hash, &it);
			s->nitems++;
			s->consumed += (size_t)rc;
			if (reenc != NULL && s->reencodable) {
				n = reencode(
				    &it, reenc + *reenc_len, size - *reenc_len);
				if (n == 0)
					s->reencodable = 0;
				*reenc_len += n;
			}
			if (course_afin_done(&p))
				break;
			continue;
		}
		if (rc == 0 && avail < size) {
			avail = bytewise ? avail + 1 : size;
			continue;
		}
		check(rc == 0 || rc == WARREN_EREFUSED || rc == WARREN_EFIELD);
		s->rc = rc;
		break;
	}
	s->done = course_afin_done(&p);
	if (s->done) {
		check(s->rc == 0);
		check(course_afin_next(&p, data + s->consumed,
			  size - s->consumed, &it) == WARREN_EPROTO);
	}
}

static int
same(const struct summary *a, const struct summary *b)
{
	return a->hash == b->hash && a->nitems == b->nitems &&
	    a->consumed == b->consumed && a->rc == b->rc && a->done == b->done;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct summary whole, split, bytewise, canon;
	uint8_t *reenc;
	size_t reenc_len, cut;

	reenc = malloc(size > 0 ? size : 1);
	check(reenc != NULL);
	run(data, size, size, 0, &whole, reenc, &reenc_len);

	cut = size > 0 ? (size_t)data[size / 2] * 131 % (size + 1) : 0;
	run(data, size, cut, 0, &split, NULL, NULL);
	check(same(&whole, &split));
	run(data, size, 0, 1, &bytewise, NULL, NULL);
	check(same(&whole, &bytewise));

	if (whole.reencodable) {
		check(reenc_len == whole.consumed);
		run(reenc, reenc_len, reenc_len, 0, &canon, NULL, NULL);
		check(canon.hash == whole.hash);
		check(canon.nitems == whole.nitems);
		check(canon.done == whole.done);
		check(canon.consumed == reenc_len);
		check(canon.rc == 0);
	}
	free(reenc);
	return 0;
}
