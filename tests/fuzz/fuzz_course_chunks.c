/*
 * fuzz_course_chunks.c: libFuzzer target for the streaming ARET/AREP
 * parser and course_chunk_plan(). The input is a reply (an AREP if its
 * 4th byte is 'P', else an ARET), parsed whole, in two pieces split at a
 * point taken from the data, and one byte at a time: the data returned and
 * the way the parse stops must agree. A complete reply is re-chunked
 * canonically and must carry the same data. Any violated invariant aborts.
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
	uint64_t hash; /* FNV-1a of the data bytes, in order */
	uint64_t total;
	size_t consumed;
	unsigned long nchunk;
	int rc;
	int done;
};

static void
fold(uint64_t *h, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*h ^= p[i];
		*h *= 1099511628211ULL;
	}
}

/*
 * Parse; data[0:first) is available at first, then one more byte at a
 * time if bytewise, else everything. The file data found is appended to
 * out (room for size bytes) when out is not NULL.
 */
static void
run(enum course_kind kind, const uint8_t *data, size_t size, size_t first,
    int bytewise, struct summary *s, uint8_t *out)
{
	struct course_chunks p;
	const uint8_t *run_ptr;
	size_t run_len, avail = first;
	int rc;

	memset(s, 0, sizeof(*s));
	s->hash = 14695981039346656037ULL;
	course_chunks_init(&p, kind);
	for (;;) {
		const uint8_t *buf = data + s->consumed;

		rc = course_chunks_feed(
		    &p, buf, avail - s->consumed, &run_ptr, &run_len);
		if (rc > 0) {
			check((size_t)rc <= avail - s->consumed);
			check(run_len <= (size_t)rc);
			if (run_len > 0) {
				check(run_ptr >= buf &&
				    run_ptr + run_len <= buf + rc);
				fold(&s->hash, run_ptr, run_len);
				if (out != NULL)
					memcpy(
					    out + s->total, run_ptr, run_len);
				s->total += run_len;
			}
			s->consumed += (size_t)rc;
			check(p.total == s->total);
			if (course_chunks_done(&p))
				break;
			continue;
		}
		check(run_len == 0);
		if (rc == 0 && avail < size) {
			avail = bytewise ? avail + 1 : size;
			continue;
		}
		check(rc == 0 || rc == WARREN_EREFUSED || rc == WARREN_EFIELD);
		s->rc = rc;
		break;
	}
	s->done = course_chunks_done(&p);
	s->nchunk = p.nchunk;
	if (s->done) {
		/* Exactly the reply: header, one Lenchunk per chunk, data. */
		check(s->consumed ==
		    COURSE_CHUNKS_HEAD_LEN + COURSE_CHUNK_LEN_LEN * p.nchunk +
			s->total);
		check(course_chunks_feed(&p, data + s->consumed,
			  size - s->consumed, &run_ptr,
			  &run_len) == WARREN_EPROTO);
	}
}

static int
same(const struct summary *a, const struct summary *b)
{
	return a->hash == b->hash && a->total == b->total &&
	    a->consumed == b->consumed && a->nchunk == b->nchunk &&
	    a->rc == b->rc && a->done == b->done;
}

/* Re-chunk the data with the chunk size of the plan and parse it again. */
static void
rechunk(enum course_kind kind, const uint8_t *file, uint64_t len,
    unsigned chunk, const struct summary *expect)
{
	struct summary s;
	unsigned c;
	unsigned long n, i;
	size_t cap, off = 0, pos;
	uint8_t *wire;

	check(course_chunk_plan(len, chunk, &c, &n) == 0);
	cap = COURSE_CHUNKS_HEAD_LEN + COURSE_CHUNK_LEN_LEN * n + len;
	wire = malloc(cap);
	check(wire != NULL);
	check(course_encode_chunks_head(kind, n, wire, cap) ==
	    COURSE_CHUNKS_HEAD_LEN);
	pos = COURSE_CHUNKS_HEAD_LEN;
	for (i = 0; i < n; i++) {
		size_t k = len - off < c ? len - off : c;

		check(course_encode_chunk_len((unsigned)k, wire + pos,
			  cap - pos) == COURSE_CHUNK_LEN_LEN);
		pos += COURSE_CHUNK_LEN_LEN;
		memcpy(wire + pos, file + off, k);
		pos += k;
		off += k;
	}
	check(pos == cap && off == len);
	run(kind, wire, cap, cap, 0, &s, NULL);
	check(s.done && s.rc == 0 && s.consumed == cap);
	check(s.hash == expect->hash && s.total == expect->total);
	free(wire);
}

/* §8 item 4 invariants for a size and chunk taken from the data. */
static void
fuzz_plan(const uint8_t *data, size_t size)
{
	uint64_t fsize = 0;
	unsigned chunk = 0, c;
	unsigned long n;
	size_t i;
	int rc;

	if (size < 12)
		return;
	for (i = 0; i < 8; i++)
		fsize = fsize << 8 | data[i];
	for (i = 8; i < 12; i++)
		chunk = chunk << 8 | data[i];
	fsize >>= data[0] % 64; /* reach small sizes too */
	chunk %= 100001;
	rc = course_chunk_plan(fsize, chunk, &c, &n);
	if (chunk == 0 || chunk > COURSE_CHUNK_MAX) {
		check(rc == WARREN_ECONFIG);
		return;
	}
	if (rc == WARREN_ETOOLONG) {
		check(fsize > (uint64_t)COURSE_CHUNK_MAX * COURSE_NCHUNK_MAX);
		return;
	}
	check(rc == 0);
	check(c >= chunk && c <= COURSE_CHUNK_MAX && n <= COURSE_NCHUNK_MAX);
	check((uint64_t)c * n >= fsize);
	check(n == 0 ? fsize == 0 : (uint64_t)c * (n - 1) < fsize);
	if (c > chunk)
		check(fsize > (uint64_t)chunk * COURSE_NCHUNK_MAX);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum course_kind kind = size >= 4 && data[3] == 'P' ? COURSE_AREP
							    : COURSE_ARET;
	struct summary whole, split, bytewise;
	uint8_t *file;
	size_t cut;

	file = malloc(size > 0 ? size : 1);
	check(file != NULL);
	run(kind, data, size, size, 0, &whole, file);
	check(whole.total <= size);

	cut = size > 0 ? (size_t)data[size - 1] * 257 % (size + 1) : 0;
	run(kind, data, size, cut, 0, &split, NULL);
	check(same(&whole, &split));
	run(kind, data, size, 0, 1, &bytewise, NULL);
	check(same(&whole, &bytewise));

	if (whole.done) {
		rechunk(kind, file, whole.total, COURSE_CHUNK_DEFAULT, &whole);
		rechunk(kind, file, whole.total,
		    1 + (size > 0 ? data[0] % 16 : 0), &whole);
	}
	free(file);
	fuzz_plan(data, size);
	return 0;
}
