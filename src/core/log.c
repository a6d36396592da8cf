/*
 * Line-oriented logging to stderr: one fprintf per line so lines from the
 * thread pool and the loop do not interleave mid-line. Text for people
 * ("12:00:01.234 info: ..."), or with --json one JSON object per line for
 * programs: {"time":"2026-11-22T12:00:01.234Z","level":"info",
 * "tag":"...","msg":"..."} (time in UTC with the date; tag when set).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum log_level log_level = LOG_LEVEL_INFO;
static char log_tag[64];
static int log_json;

static const char *const log_names[] = {"error", "warn", "info", "debug"};

void
log_set_level(enum log_level level)
{
	log_level = level;
}

void
log_set_tag(const char *tag)
{
	snprintf(log_tag, sizeof(log_tag), "%s", tag ? tag : "");
}

void
log_set_json(int on)
{
	log_json = on;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0. */
static size_t
log_utf8_len(const unsigned char *s)
{
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong, surrogates, above U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

/*
 * Append s as a JSON string body (no quotes) to out[*n..cap), NUL-
 * terminated: '"' and '\\' escaped, control bytes as \u00XX, valid UTF-8
 * as it is, any other byte as \ufffd. Cut where the next piece would not
 * fit, never inside an escape or a UTF-8 sequence.
 */
static void
log_json_escape(char *out, size_t *n, size_t cap, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s != '\0' && *n + 11 < cap) {
		size_t len;

		if (*s == '"' || *s == '\\') {
			out[(*n)++] = '\\';
			out[(*n)++] = (char)*s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			*n += (size_t)snprintf(
			    out + *n, cap - *n, "\\u%04x", (unsigned)*s++);
		} else if (*s < 0x80) {
			out[(*n)++] = (char)*s++;
		} else if ((len = log_utf8_len(s)) > 0) {
			memcpy(out + *n, s, len);
			*n += len;
			s += len;
		} else {
			*n += (size_t)snprintf(out + *n, cap - *n, "\\ufffd");
			s++;
		}
	}
	out[*n] = '\0';
}

static void
log_line_json(enum log_level level, const struct timespec *ts, const char *msg)
{
	char line[2048];
	struct tm tm;
	size_t n;

	gmtime_r(&ts->tv_sec, &tm);
	n = (size_t)snprintf(line, sizeof(line),
	    "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":"
	    "\"%s\",",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts->tv_nsec / 1000000, log_names[level]);
	if (log_tag[0] != '\0') {
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\"tag\":\"");
		log_json_escape(line, &n, sizeof(line), log_tag);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\",");
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\"msg\":\"");
	log_json_escape(line, &n, sizeof(line), msg);
	fprintf(stderr, "%s\"}\n", line);
}

int
log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (log_json) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		log_line_json(level, &ts, line);
		return;
	}
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%02d:%02d:%02d.%03ld %s%s%s: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000, log_tag, log_tag[0] ? " " : "",
	    log_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
