/*
 * Unit tests for src/store/hash.c: digests against published vectors and
 * the one-pass file hasher against independent one-shot digests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/hash.h"

static void
test_vectors(void **state)
{
	uint8_t d[HASH_SHA1_LEN];
	char hex[2 * HASH_SHA1_LEN + 1];

	(void)state;
	hash_md5("", 0, d);
	hash_hex(d, HASH_MD5_LEN, hex);
	assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
	hash_md5("abc", 3, d);
	hash_hex(d, HASH_MD5_LEN, hex);
	assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
	hash_sha1("abc", 3, d);
	hash_hex(d, HASH_SHA1_LEN, hex);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

static void
test_incremental_equals_oneshot(void **state)
{
	static uint8_t buf[100000];
	uint8_t a[HASH_MD5_LEN], b[HASH_MD5_LEN];
	struct hash h;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	hash_init(&h, HASH_MD5);
	hash_update(&h, buf, 1);
	hash_update(&h, buf + 1, 4095);
	hash_update(&h, buf + 4096, sizeof(buf) - 4096);
	hash_final(&h, a);
	hash_md5(buf, sizeof(buf), b);
	assert_memory_equal(a, b, HASH_MD5_LEN);
}

static void
test_unhex(void **state)
{
	uint8_t out[2];

	(void)state;
	assert_int_equal(hash_unhex("aB0f", 2, out), 0);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0x0f);
	assert_int_equal(hash_unhex("zz00", 2, out), -1);
}

/* Write size bytes of a pattern, hash the file, compare with one-shots. */
static void
check_file(size_t size)
{
	char path[] = "/tmp/warren-test-hash-XXXXXX";
	struct hash_file_result r;
	uint8_t *buf = malloc(size ? size : 1);
	uint8_t d[HASH_SHA1_LEN];
	char hex[2 * HASH_SHA1_LEN + 1];
	uint32_t nparts = (uint32_t)((size + HASH_PART_LEN - 1) /
	    HASH_PART_LEN);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)((i * 2654435761u) >> 13);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);

	assert_int_equal(hash_file(path, NULL, &r), 0);
	assert_int_equal(r.size, size);
	hash_md5(buf, size, d);
	hash_hex(d, HASH_MD5_LEN, hex);
	assert_string_equal(r.md5, hex);
	hash_sha1(buf, size, d);
	hash_hex(d, HASH_SHA1_LEN, hex);
	assert_string_equal(r.sha1, hex);
	assert_int_equal(r.nparts, nparts);
	for (uint32_t p = 0; p < nparts; p++) {
		size_t off = (size_t)p * HASH_PART_LEN;
		size_t len = size - off < HASH_PART_LEN ? size - off
							: HASH_PART_LEN;

		hash_sha1(buf + off, len, d);
		assert_memory_equal(
		    r.parts + (size_t)p * HASH_SHA1_LEN, d, HASH_SHA1_LEN);
	}
	free(r.parts);
	free(buf);
	unlink(path);
}

static void
test_file_sizes(void **state)
{
	static const size_t sizes[] = {0, 1, 4095, 4096, 4097,
	    HASH_PART_LEN - 1, HASH_PART_LEN, HASH_PART_LEN + 1, 600000,
	    4 * 1024 * 1024 + 17};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_file(sizes[i]);
}

static void
test_file_missing(void **state)
{
	struct hash_file_result r;

	(void)state;
	assert_true(hash_file("/nonexistent/warren", NULL, &r) < 0);
}

static void
test_file_cancel(void **state)
{
	char path[] = "/tmp/warren-test-hash-XXXXXX";
	struct hash_file_result r;
	volatile int cancel = 1;
	int fd = mkstemp(path);

	(void)state;
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	assert_true(hash_file(path, &cancel, &r) < 0);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_incremental_equals_oneshot),
	    cmocka_unit_test(test_unhex),
	    cmocka_unit_test(test_file_sizes),
	    cmocka_unit_test(test_file_missing),
	    cmocka_unit_test(test_file_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
