/*
 * Unit tests for src/overlay/chord_store.c: PUT as insert or refresh,
 * GET newest first without the expired ones, pages of a ring interval
 * (plain and wrapping past zero) continued with cursors, purge, the cap
 * that refuses without evicting, and the cursor text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "overlay/chord_store.h"
#include "warren/error.h"
#include "wire/chordtxt.h"

/* A key whose first byte is b (the rest zero). */
static struct chord_id
key_of(uint8_t b)
{
	struct chord_id k;

	memset(&k, 0, sizeof(k));
	k.b[0] = b;
	return k;
}

/* The record "md5(n) size ip 3000 name". */
static struct chord_record
rec_of(unsigned n, const char *ip, const char *name)
{
	struct chord_record r;

	memset(&r, 0, sizeof(r));
	snprintf(r.md5, sizeof(r.md5), "%032x", n);
	r.size = 100 + n;
	assert_int_equal(chord_ip_parse(ip, strlen(ip), &r.holder), 0);
	r.port = 3000;
	r.name.ptr = name;
	r.name.len = strlen(name);
	return r;
}

static void
test_put_refresh_get(void **state)
{
	struct chord_store *s = chord_store_new(100);
	struct chord_id k = key_of(0x10), other = key_of(0x11);
	const struct chord_srec *out[8];
	struct chord_record a = rec_of(1, "10.0.0.1", "a.txt");
	struct chord_record b = rec_of(2, "10.0.0.2", "b.txt");

	(void)state;
	assert_int_equal(chord_store_put(s, &k, &a, 1000), 0);
	assert_int_equal(chord_store_put(s, &k, &b, 1000), 0);
	assert_int_equal(chord_store_put(s, &other, &a, 1000), 0);
	assert_int_equal(chord_store_count(s), 3);
	/* Newest first. */
	assert_int_equal(chord_store_get(s, &k, 0, out, 8), 2);
	assert_string_equal(out[0]->name, "b.txt");
	assert_string_equal(out[1]->name, "a.txt");
	/* A refresh replaces size and name and makes it the newest. */
	a.size = 7;
	a.name.ptr = "renamed";
	a.name.len = 7;
	assert_int_equal(chord_store_put(s, &k, &a, 2000), 1);
	assert_int_equal(chord_store_count(s), 3);
	assert_int_equal(chord_store_get(s, &k, 0, out, 8), 2);
	assert_string_equal(out[0]->name, "renamed");
	assert_int_equal(out[0]->size, 7);
	assert_string_equal(out[0]->ip, "10.0.0.1");
	/* The same md5 from another holder is another record. */
	a = rec_of(1, "::ffff:10.0.0.9", "a.txt");
	assert_int_equal(chord_store_put(s, &k, &a, 1000), 0);
	assert_int_equal(chord_store_get(s, &k, 0, out, 2), 2); /* capped */
	/* Expired ones are not returned, and purge removes them. */
	assert_int_equal(chord_store_get(s, &k, 1500, out, 8), 1);
	assert_string_equal(out[0]->name, "renamed");
	assert_int_equal(chord_store_purge(s, 1500), 3);
	assert_int_equal(chord_store_count(s), 1);
	assert_int_equal(chord_store_get(s, &other, 0, out, 8), 0);
	chord_store_free(s);
}

static void
test_full_store_refuses(void **state)
{
	struct chord_store *s = chord_store_new(2);
	struct chord_id k = key_of(1);
	struct chord_record a = rec_of(1, "10.0.0.1", "a");
	struct chord_record b = rec_of(2, "10.0.0.1", "b");
	struct chord_record c = rec_of(3, "10.0.0.1", "c");
	const struct chord_srec *out[4];

	(void)state;
	assert_int_equal(chord_store_put(s, &k, &a, 10), 0);
	assert_int_equal(chord_store_put(s, &k, &b, 10), 0);
	assert_int_equal(chord_store_put(s, &k, &c, 10), WARREN_ELIMIT);
	assert_int_equal(chord_store_put(s, &k, &a, 20), 1); /* refresh */
	assert_int_equal(chord_store_get(s, &k, 0, out, 4), 2);
	assert_int_equal(chord_store_purge(s, 15), 1);
	assert_int_equal(chord_store_put(s, &k, &c, 10), 0);
	chord_store_free(s);
}

/* Pages of (lo, hi] of max lines; the keys' first bytes in order. */
static size_t
walk(struct chord_store *s, uint8_t lo, uint8_t hi, size_t max, uint8_t *got,
    size_t cap, unsigned *pages)
{
	struct chord_id l = key_of(lo), h = key_of(hi);
	const struct chord_srec *out[16];
	struct chord_store_pos pos;
	char cursor[CHORD_CURSOR_MAX + 1];
	size_t n = 0, k;
	int more, have = 0, len;

	*pages = 0;
	do {
		k = chord_store_range(
		    s, &l, &h, have ? &pos : NULL, 0, out, max, &more);
		(*pages)++;
		for (size_t i = 0; i < k && n < cap; i++)
			got[n++] = out[i]->key.b[0];
		if (more) {
			assert_true(k > 0);
			len = chord_store_cursor(
			    out[k - 1], cursor, sizeof(cursor));
			assert_true(len > 0);
			assert_int_equal(
			    chord_store_pos_parse(cursor, (size_t)len, &pos),
			    0);
			have = 1;
		}
	} while (more && *pages < 100);
	return n;
}

static void
test_range_pages(void **state)
{
	struct chord_store *s = chord_store_new(100);
	static const uint8_t keys[] = {
	    0x00, 0x05, 0x10, 0x10, 0x10, 0x40, 0x80, 0x81, 0xfe, 0xff};
	uint8_t got[32];
	unsigned pages;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(keys); i++) {
		struct chord_id k = key_of(keys[i]);
		struct chord_record r = rec_of((unsigned)i, "10.0.0.1", "x");

		assert_int_equal(chord_store_put(s, &k, &r, 10), 0);
	}
	/* (0x05, 0x80]: plain, three pages of 2. */
	n = walk(s, 0x05, 0x80, 2, got, sizeof(got), &pages);
	assert_int_equal(n, 5);
	assert_memory_equal(
	    got, ((uint8_t[]){0x10, 0x10, 0x10, 0x40, 0x80}), 5);
	assert_int_equal(pages, 3);
	/* (0x80, 0x05]: wraps; sorted from zero: [0, 0x05] then (0x80, max]. */
	n = walk(s, 0x80, 0x05, 3, got, sizeof(got), &pages);
	assert_int_equal(n, 5);
	assert_memory_equal(
	    got, ((uint8_t[]){0x00, 0x05, 0x81, 0xfe, 0xff}), 5);
	assert_int_equal(pages, 2);
	/* (x, x]: the whole ring, one page when it fits exactly. */
	n = walk(s, 0x33, 0x33, 10, got, sizeof(got), &pages);
	assert_int_equal(n, 10);
	assert_int_equal(pages, 1);
	/* Empty interval parts. */
	n = walk(s, 0x41, 0x7f, 4, got, sizeof(got), &pages);
	assert_int_equal(n, 0);
	chord_store_free(s);
}

static void
test_cursor_text(void **state)
{
	struct chord_store *s = chord_store_new(10);
	struct chord_id k = key_of(0xab);
	struct chord_record r = rec_of(5, "fd00::20", "y");
	const struct chord_srec *out[1];
	struct chord_store_pos pos;
	char cursor[CHORD_CURSOR_MAX + 1];
	int more;
	static const char *bad[] = {"", "a,b,c,d", "x", "a b",
	    "ab00000000000000000000000000000000000000,"
	    "00000000000000000000000000000005,fd00::20",
	    "ab00000000000000000000000000000000000000,"
	    "00000000000000000000000000000005,fd00::20,0",
	    "ab00000000000000000000000000000000000000,"
	    "00000000000000000000000000000005,fd00::20,1,2"};

	(void)state;
	assert_int_equal(chord_store_put(s, &k, &r, 10), 0);
	assert_int_equal(
	    chord_store_range(s, &k, &k, NULL, 0, out, 1, &more), 1);
	assert_int_equal(chord_store_cursor(out[0], cursor, sizeof(cursor)),
	    strlen("ab00000000000000000000000000000000000000,"
		   "00000000000000000000000000000005,fd00::20,3000"));
	assert_string_equal(cursor,
	    "ab00000000000000000000000000000000000000,"
	    "00000000000000000000000000000005,fd00::20,3000");
	assert_int_equal(
	    chord_store_pos_parse(cursor, strlen(cursor), &pos), 0);
	assert_string_equal(pos.ip, "fd00::20");
	assert_int_equal(pos.port, 3000);
	/* Upper case and a non-canonical address are read canonically. */
	assert_int_equal(chord_store_pos_parse("AB00000000000000000000000000000"
					       "000000000,000000000000000000000"
					       "00000000005,FD00:0:0::20,3000",
			     strlen("AB00000000000000000000000000000000000000,"
				    "00000000000000000000000000000005,FD00:0:0:"
				    ":20,3000"),
			     &pos),
	    0);
	assert_string_equal(pos.ip, "fd00::20");
	assert_memory_equal(&pos.key, &k, sizeof(k));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    chord_store_pos_parse(bad[i], strlen(bad[i]), &pos),
		    WARREN_EFIELD);
	/* After the only record: nothing more. */
	assert_int_equal(
	    chord_store_pos_parse(cursor, strlen(cursor), &pos), 0);
	assert_int_equal(
	    chord_store_range(s, &k, &k, &pos, 0, out, 1, &more), 0);
	assert_int_equal(more, 0);
	chord_store_free(s);
}

/* Many records in random order come back sorted, and purge keeps the
 * order of the rest. */
static void
test_many_sorted(void **state)
{
	struct chord_store *s = chord_store_new(5000);
	const struct chord_srec *out[16];
	struct chord_store_pos pos;
	struct chord_id zero = key_of(0), prev;
	char cursor[CHORD_CURSOR_MAX + 1], name[16];
	uint64_t x = 88172645463325252ULL;
	size_t total = 0, k;
	int more = 1, have = 0, len;

	(void)state;
	for (unsigned i = 0; i < 3000; i++) {
		struct chord_id key;
		struct chord_record r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memset(&key, 0, sizeof(key));
		memcpy(key.b, &x, sizeof(x));
		snprintf(name, sizeof(name), "f%u", i);
		r = rec_of(i, "10.1.2.3", name);
		assert_int_equal(
		    chord_store_put(s, &key, &r, i % 2 ? 10 : 20), 0);
	}
	assert_int_equal(chord_store_purge(s, 15), 1500);
	memset(&prev, 0, sizeof(prev));
	while (more) {
		k = chord_store_range(
		    s, &zero, &zero, have ? &pos : NULL, 0, out, 16, &more);
		for (size_t i = 0; i < k; i++) {
			assert_true(
			    memcmp(&prev, &out[i]->key, sizeof(prev)) <= 0);
			prev = out[i]->key;
		}
		total += k;
		if (more) {
			len = chord_store_cursor(
			    out[k - 1], cursor, sizeof(cursor));
			assert_int_equal(
			    chord_store_pos_parse(cursor, (size_t)len, &pos),
			    0);
			have = 1;
		}
	}
	assert_int_equal(total, 1500);
	chord_store_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_refresh_get),
	    cmocka_unit_test(test_full_store_refuses),
	    cmocka_unit_test(test_range_pages),
	    cmocka_unit_test(test_cursor_text),
	    cmocka_unit_test(test_many_sorted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
