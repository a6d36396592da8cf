/*
 * fuzz_course_ahas.c: libFuzzer target for the streaming AHAS parser. The
 * input is parsed whole, in two pieces split at a point taken from the
 * data, and one byte at a time; all must agree. What was parsed is
 * re-encoded canonically and must parse back the same; a lower part limit
 * must turn an accepted header into WARREN_ELIMIT exactly when #part
 * exceeds it. Any violated invariant aborts.
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

struct summary {
	uint64_t hash; /* FNV-1a over the part numbers and hashes */
	uint64_t lenfile;
	uint32_t lenpart, nparts;
	size_t nhashes;
	size_t consumed;
	int head; /* the header was accepted */
	int rc;
	int done;
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

/*
 * Parse with a limit of max_parts; data[0:first) is available at first,
 * then one more byte at a time if bytewise, else everything. When reenc
 * is not NULL, the canonical form of what was parsed is written there
 * (room for size bytes).
 */
static void
run(const uint8_t *data, size_t size, size_t first, int bytewise,
    uint32_t max_parts, struct summary *s, uint8_t *reenc, size_t *reenc_len)
{
	struct course_ahas p;
	uint8_t sha1[20];
	uint32_t index;
	size_t avail = first;
	int rc;

	memset(s, 0, sizeof(*s));
	s->hash = 14695981039346656037ULL;
	if (reenc_len != NULL)
		*reenc_len = 0;
	course_ahas_init(&p, max_parts);
	for (;;) {
		rc = course_ahas_next(
		    &p, data + s->consumed, avail - s->consumed, sha1, &index);
		if (rc > 0) {
			check((size_t)rc <= avail - s->consumed);
			if (!s->head) {
				check(rc == COURSE_AHAS_HEAD_LEN);
				check(index == UINT32_MAX);
				check(p.lenpart >= 1 && p.nparts <= max_parts);
				check(p.nparts ==
				    p.lenfile / p.lenpart +
					(p.lenfile % p.lenpart != 0));
				s->head = 1;
				s->lenfile = p.lenfile;
				s->lenpart = p.lenpart;
				s->nparts = p.nparts;
				if (reenc != NULL)
					check(course_encode_ahas_head(p.lenfile,
						  p.lenpart, p.nparts, reenc,
						  size) == rc);
			} else {
				check(rc == COURSE_SHA1_LEN);
				check(index == s->nhashes && index < s->nparts);
				fold(&s->hash, &index, sizeof(index));
				fold(&s->hash, sha1, sizeof(sha1));
				if (reenc != NULL)
					check(course_encode_ahas_part(sha1,
						  reenc + *reenc_len,
						  size - *reenc_len) == rc);
				s->nhashes++;
			}
			if (reenc_len != NULL)
				*reenc_len += (size_t)rc;
			s->consumed += (size_t)rc;
			if (course_ahas_done(&p))
				break;
			continue;
		}
		if (rc == 0 && avail < size) {
			avail = bytewise ? avail + 1 : size;
			continue;
		}
		check(rc == 0 || rc == WARREN_EREFUSED || rc == WARREN_EFIELD ||
		    rc == WARREN_ELIMIT);
		s->rc = rc;
		break;
	}
	s->done = course_ahas_done(&p);
	if (s->done) {
		check(s->nhashes == s->nparts);
		check(s->consumed ==
		    COURSE_AHAS_HEAD_LEN + (size_t)COURSE_SHA1_LEN * s->nparts);
		check(course_ahas_next(&p, data + s->consumed,
			  size - s->consumed, sha1, &index) == WARREN_EPROTO);
	}
}

static int
same(const struct summary *a, const struct summary *b)
{
	return a->hash == b->hash && a->lenfile == b->lenfile &&
	    a->lenpart == b->lenpart && a->nparts == b->nparts &&
	    a->nhashes == b->nhashes && a->consumed == b->consumed &&
	    a->head == b->head && a->rc == b->rc && a->done == b->done;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct summary whole, split, bytewise, canon, limited;
	uint8_t *reenc;
	size_t reenc_len, cut;
	uint32_t limit;

	reenc = malloc(size > 0 ? size : 1);
	check(reenc != NULL);
	run(data, size, size, 0, COURSE_NPART_MAX, &whole, reenc, &reenc_len);
	check(reenc_len == whole.consumed);

	cut = size > 0 ? (size_t)data[size - 1] * 263 % (size + 1) : 0;
	run(data, size, cut, 0, COURSE_NPART_MAX, &split, NULL, NULL);
	check(same(&whole, &split));
	run(data, size, 0, 1, COURSE_NPART_MAX, &bytewise, NULL, NULL);
	check(same(&whole, &bytewise));

	/* The canonical form parses to the same header and hashes. */
	run(reenc, reenc_len, reenc_len, 0, COURSE_NPART_MAX, &canon, NULL,
	    NULL);
	check(canon.hash == whole.hash && canon.nhashes == whole.nhashes &&
	    canon.head == whole.head && canon.done == whole.done &&
	    canon.rc == 0);
	if (whole.head)
		check(canon.lenfile == whole.lenfile &&
		    canon.lenpart == whole.lenpart &&
		    canon.nparts == whole.nparts);

	/* A lower limit refuses exactly the headers above it. */
	limit = size > 0 ? data[0] % 8 : 0;
	run(data, size, size, 0, limit, &limited, NULL, NULL);
	if (whole.head && whole.nparts > limit)
		check(!limited.head && limited.rc == WARREN_ELIMIT);
	else
		check(same(&whole, &limited));
	free(reenc);
	return 0;
}
