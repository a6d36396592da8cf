/*
 * Unit tests for the control API's line framing (src/wire/ctl.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "warren/error.h"
#include "wire/ctl.h"

static void
test_line_complete(void **state)
{
	const char buf[] = "{\"op\":\"status\"}\n{\"op\"";

	(void)state;
	assert_int_equal(ctl_line_next(buf, strlen(buf), CTL_LINE_MAX), 16);
	/* the second line is incomplete */
	assert_int_equal(
	    ctl_line_next(buf + 16, strlen(buf) - 16, CTL_LINE_MAX), 0);
}

static void
test_line_prefixes_need_more(void **state)
{
	const char buf[] = "{\"id\":1,\"op\":\"share.ls\"}\n";
	size_t len = strlen(buf);

	(void)state;
	for (size_t i = 0; i < len; i++)
		assert_int_equal(ctl_line_next(buf, i, CTL_LINE_MAX), 0);
	assert_int_equal(ctl_line_next(buf, len, CTL_LINE_MAX), (int)len);
}

static void
test_line_empty(void **state)
{
	(void)state;
	assert_int_equal(ctl_line_next("\n", 1, CTL_LINE_MAX), 1);
	assert_int_equal(ctl_line_next("", 0, CTL_LINE_MAX), 0);
}

static void
test_line_too_long(void **state)
{
	char *buf = malloc(100);

	(void)state;
	memset(buf, 'x', 100);
	assert_int_equal(ctl_line_next(buf, 99, 100), 0);
	assert_int_equal(ctl_line_next(buf, 100, 100), WARREN_ELENGTH);
	/* A newline just inside the limit is fine. */
	buf[99] = '\n';
	assert_int_equal(ctl_line_next(buf, 100, 100), 100);
	free(buf);
}

static void
test_line_nul(void **state)
{
	const char buf[] = {'{', '\0', '}', '\n'};

	(void)state;
	assert_int_equal(
	    ctl_line_next(buf, sizeof(buf), CTL_LINE_MAX), WARREN_EFIELD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_complete),
	    cmocka_unit_test(test_line_prefixes_need_more),
	    cmocka_unit_test(test_line_empty),
	    cmocka_unit_test(test_line_too_long),
	    cmocka_unit_test(test_line_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
