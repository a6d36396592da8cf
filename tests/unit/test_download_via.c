/*
 * Unit tests for download_source_via_merge() (src/transfer/download.c):
 * the list of overlays through which a download source was found, kept
 * without repeats and cut to its buffer, never overflowing it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "transfer/download.h"

static void
test_merge_adds_each_name_once(void **state)
{
	struct download_source s;

	(void)state;
	memset(&s, 0, sizeof(s));
	download_source_via_merge(&s, "napster");
	assert_string_equal(s.via, "napster");
	download_source_via_merge(&s, "napster");
	assert_string_equal(s.via, "napster");
	download_source_via_merge(&s, "kazaa");
	assert_string_equal(s.via, "napster,kazaa");
	download_source_via_merge(&s, "kazaa,chord,napster");
	assert_string_equal(s.via, "napster,kazaa,chord");
	download_source_via_merge(&s, "");
	assert_string_equal(s.via, "napster,kazaa,chord");
	/* A name that is a prefix of one present is another name. */
	download_source_via_merge(&s, "chor");
	assert_string_equal(s.via, "napster,kazaa,chord,chor");
}

static void
test_merge_skips_empty_names_and_bounds(void **state)
{
	struct download_source s;
	char big[3 * DOWNLOAD_VIA_MAX];

	(void)state;
	memset(&s, 0, sizeof(s));
	download_source_via_merge(&s, ",,gnutella,,");
	assert_string_equal(s.via, "gnutella");
	/* Names that do not fit are left out whole; the buffer stays a
	 * string. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	download_source_via_merge(&s, big);
	assert_string_equal(s.via, "gnutella");
	for (int i = 0; i < 40; i++) {
		char name[8];

		snprintf(name, sizeof(name), "ov%d", i);
		download_source_via_merge(&s, name);
		assert_true(strlen(s.via) < sizeof(s.via));
	}
	assert_non_null(strstr(s.via, "gnutella,ov0,ov1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merge_adds_each_name_once),
	    cmocka_unit_test(test_merge_skips_empty_names_and_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
