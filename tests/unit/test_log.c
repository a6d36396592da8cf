/*
 * Unit tests for src/core/log.c in JSON mode (--json of the daemons):
 * every line is one JSON object whose msg is the message, whatever bytes
 * it holds (quotes, backslashes, control bytes, UTF-8), and a long
 * message is cut, never split into invalid JSON.
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
#include <jansson.h>

#include "core/log.h"

/* Log msg with stderr sent to a file; the line written, parsed. */
static json_t *
logged(enum log_level level, const char *msg)
{
	char path[] = "/tmp/warren-test-log.XXXXXX", line[16384];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	json_t *j;
	FILE *f;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	log_msg(level, "%s", msg);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	f = fdopen(fd, "r");
	assert_non_null(f);
	rewind(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strchr(line, '\n'));
	/* One line only. */
	assert_null(fgets(line + strlen(line), 2, f));
	fclose(f);
	unlink(path);
	j = json_loads(line, 0, NULL);
	assert_non_null(j);
	return j;
}

static void
test_json_lines_hold_any_message(void **state)
{
	static const char *const msgs[] = {
	    "plain",
	    "a \"quoted\" name and a back\\slash",
	    "tab\there, newline\nthere, cr\r, bell\a, esc\033[0m",
	    "utf-8: caf\xc3\xa9 \xe2\x9c\x93",
	    "",
	};
	/* Not UTF-8 (a Latin-1 name from a peer, a cut sequence, an
	 * overlong '/', a surrogate): each bad byte becomes U+FFFD. */
	static const char *const bad[][2] = {
	    {"caf\xe9.mp3", "caf\xef\xbf\xbd.mp3"},
	    {"cut \xe2\x9c", "cut \xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	};
	json_t *j;

	(void)state;
	log_set_json(1);
	log_set_level(LOG_LEVEL_DEBUG);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		j = logged(LOG_LEVEL_WARN, msgs[i]);
		assert_string_equal(
		    json_string_value(json_object_get(j, "msg")), msgs[i]);
		assert_string_equal(
		    json_string_value(json_object_get(j, "level")), "warn");
		assert_non_null(
		    strchr(json_string_value(json_object_get(j, "time")), 'Z'));
		assert_null(json_object_get(j, "tag"));
		json_decref(j);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = logged(LOG_LEVEL_INFO, bad[i][0]);
		assert_string_equal(
		    json_string_value(json_object_get(j, "msg")), bad[i][1]);
		json_decref(j);
	}
	log_set_tag("node \"7\"");
	j = logged(LOG_LEVEL_INFO, "tagged");
	assert_string_equal(
	    json_string_value(json_object_get(j, "tag")), "node \"7\"");
	json_decref(j);
	log_set_tag(NULL);
	log_set_json(0);
}

static void
test_long_messages_are_cut_not_broken(void **state)
{
	char big[4096];
	json_t *j;

	(void)state;
	log_set_json(1);
	/* Control bytes take six bytes each once escaped. */
	memset(big, '\x01', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	j = logged(LOG_LEVEL_ERROR, big);
	assert_true(strlen(json_string_value(json_object_get(j, "msg"))) > 100);
	json_decref(j);
	memset(big, '"', sizeof(big) - 1);
	j = logged(LOG_LEVEL_ERROR, big);
	assert_true(strlen(json_string_value(json_object_get(j, "msg"))) > 500);
	json_decref(j);
	/* Three-byte sequences: the cut falls between two of them. */
	for (size_t i = 0; i + 3 < sizeof(big); i += 3)
		memcpy(big + i, "\xe2\x9c\x93", 3);
	big[sizeof(big) - 1 - (sizeof(big) - 1) % 3] = '\0';
	j = logged(LOG_LEVEL_ERROR, big);
	assert_true(strlen(json_string_value(json_object_get(j, "msg"))) > 500);
	json_decref(j);
	log_set_json(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_lines_hold_any_message),
	    cmocka_unit_test(test_long_messages_are_cut_not_broken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
