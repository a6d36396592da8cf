/*
 * test_beer2beer.c: unit tests of the beer2beer codec (src/wire/beer2beer.c)
 * against beer2beer.md: every worked example of §6 byte for byte in both
 * directions, every message kind, every KO reason, framing, line
 * tolerance, field limits and the client's record tolerance of §4.7.
 * Inputs are copied into heap blocks of exactly their length, and encoders
 * write into blocks of exactly their capacity, so that AddressSanitizer
 * catches any access past either end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/beer2beer.h"

/* ------------------------------------------------------------ fixtures */

#define SHA1_H "22596363b3de40b06f981fb85d82312e8c0ed511"
#define MD5_H  "6f5902ac237024bdd0c176cb93063dc4"
#define SHA1_U "22596363B3DE40B06F981FB85D82312E8C0ED511"
#define MD5_U  "6F5902AC237024BDD0C176CB93063DC4"
#define SHA1_B "da39a3ee5e6b4b0d3255bfef95601890afd80709"
#define MD5_B  "d41d8cd98f00b204e9800998ecf8427e"

/* §6, transcribed from the hex dumps. */
static const char register_hex[] =
    "8d000100616c6963650a7333637265740a68656c6c6f2e7478747c31327c3232"
    "3539363336336233646534306230366639383166623835643832333132653863"
    "3065643531310a32323539363336336233646534306230366639383166623835"
    "6438323331326538633065643531317c36663539303261633233373032346264"
    "643063313736636239333036336463340a";
static const char register_ok_hex[] = "0e00650052454749535445525f4f4b0a3432";
static const char register_ko_hex[] =
    "1b00c90052454749535445525f4b4f0a75736572206e616d652074616b656e";

/* The "other exchanges" of §6: header [len type], payload as text. */
struct exchange {
	const char *label;
	uint16_t len;
	uint16_t type;
	const char *payload;
};

static const struct exchange exchanges[] = {
    {"LOGIN", 34, 2, "alice\ns3cret\n42\n192.168.1.10\n3000\n"},
    {"LOGIN_OK", 8, 102, "LOGIN_OK"},
    {"KEEP_ALIVE", 3, 3, "42\n"},
    {"KEEP_ALIVE_OK", 13, 103, "KEEP_ALIVE_OK"},
    {"SEARCH_FILE", 6, 7, "hello\n"},
    {"SEARCH_FILE_OK", 96, 107,
	"SEARCH_FILE_OK\nhello.txt\n12\n" SHA1_H
	"\nalice\n42\n192.168.1.10\n3000\n"},
    {"DOWNLOAD_FILE", 41, 8, SHA1_H "\n"},
    {"DOWNLOAD_FILE_OK", 131, 108,
	"DOWNLOAD_FILE_OK\nhello.txt\n12\n" SHA1_H
	"\nalice\n42\n192.168.1.10\n3000\n" MD5_H "\n"},
    {"LOGOUT", 16, 4, "alice\ns3cret\n42\n"},
    {"LOGOUT_OK", 9, 103, "LOGOUT_OK"},
};

#define NEXCHANGES (sizeof(exchanges) / sizeof(exchanges[0]))

/* Blocks handed out by guard(), freed after each test. */
static void *blocks[256];
static size_t nblocks;

/* A copy of p[0:n) in a heap block of exactly n bytes (ASan guard). */
static uint8_t *
guard(const void *p, size_t n)
{
	uint8_t *b = malloc(n > 0 ? n : 1);

	assert_non_null(b);
	if (n > 0 && p != NULL)
		memcpy(b, p, n);
	if (nblocks == sizeof(blocks) / sizeof(blocks[0])) {
		free(blocks[0]);
		memmove(blocks, blocks + 1, sizeof(blocks) - sizeof(blocks[0]));
		nblocks--;
	}
	blocks[nblocks++] = b;
	return b;
}

static int
teardown_blocks(void **state)
{
	(void)state;
	while (nblocks > 0)
		free(blocks[--nblocks]);
	return 0;
}

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2, i;
	unsigned v;

	assert_true(n <= cap);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static struct b2b_str
str(const char *s)
{
	return (struct b2b_str){s, s != NULL ? strlen(s) : 0};
}

static void
assert_view(struct b2b_str v, const char *expect)
{
	assert_int_equal(v.len, strlen(expect));
	if (v.len > 0)
		assert_memory_equal(v.ptr, expect, v.len);
}

/* A whole frame: header then payload. Returns its length. */
static size_t
frame(uint16_t type, const void *payload, size_t n, uint8_t *out)
{
	assert_int_equal(b2b_frame_encode_head(type, n, out), B2B_HEAD_LEN);
	if (n > 0)
		memcpy(out + B2B_HEAD_LEN, payload, n);
	return B2B_HEAD_LEN + n;
}

/* b2b_request_parse() on a guarded copy of the text s. */
static int
parse_req(uint16_t type, const char *s, struct b2b_request *r)
{
	size_t n = strlen(s);

	return b2b_request_parse(type, guard(s, n), n, r);
}

/* b2b_request_parse() on n bytes. */
static int
parse_req_n(uint16_t type, const void *s, size_t n, struct b2b_request *r)
{
	return b2b_request_parse(type, guard(s, n), n, r);
}

static int
parse_resp(uint16_t req, uint16_t type, const char *s, struct b2b_response *r)
{
	size_t n = strlen(s);

	return b2b_response_parse(req, type, guard(s, n), n, r);
}

static struct b2b_addr
addr(const char *text)
{
	struct b2b_addr a;

	assert_int_equal(b2b_ip_parse(text, strlen(text), &a), 0);
	return a;
}

/* Expect a parse failure with this code and KO reason. */
static void
assert_req_fails(
    uint16_t type, const char *payload, int rc, enum b2b_reason reason)
{
	struct b2b_request r;
	int got = parse_req(type, payload, &r);

	if (got != rc || r.reason != reason)
		fail_msg("type %u payload \"%s\": rc %d reason %d, want %d %d",
		    type, payload, got, r.reason, rc, reason);
}

static void
assert_req_ok(uint16_t type, const char *payload)
{
	struct b2b_request r;
	int got = parse_req(type, payload, &r);

	if (got != 0)
		fail_msg("type %u payload \"%s\": rc %d reason %d", type,
		    payload, got, r.reason);
	assert_int_equal(r.reason, B2B_R_NONE);
}

/* ----------------------------------------------------------- codes */

static void
test_codes(void **state)
{
	static const struct {
		uint16_t req, ok, ko;
		const char *name;
	} t[] = {
	    {1, 101, 201, "REGISTER"},
	    {2, 102, 202, "LOGIN"},
	    {3, 103, 203, "KEEP_ALIVE"},
	    {4, 103, 203, "LOGOUT"}, /* §2: LOGOUT reuses 103/203 */
	    {5, 105, 205, "SHOW_PEERS"},
	    {6, 106, 206, "BROWSE_PEER"},
	    {7, 107, 207, "SEARCH_FILE"},
	    {8, 108, 208, "DOWNLOAD_FILE"},
	    {9, 109, 209, "REGISTER_UPDATE"},
	    {10, 110, 210, "REGISTER_APPEND"},
	};
	static const uint16_t not_requests[] = {
	    0, 11, 100, 101, 103, 104, 201, 255, 256, 257, 65535};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_true(b2b_is_request(t[i].req));
		assert_int_equal(b2b_ok_type(t[i].req), t[i].ok);
		assert_int_equal(b2b_ko_type(t[i].req), t[i].ko);
		assert_string_equal(b2b_request_name(t[i].req), t[i].name);
	}
	for (i = 0; i < sizeof(not_requests) / sizeof(not_requests[0]); i++) {
		assert_false(b2b_is_request(not_requests[i]));
		assert_int_equal(b2b_ok_type(not_requests[i]), 0);
		assert_int_equal(b2b_ko_type(not_requests[i]), 0);
		assert_string_equal(b2b_request_name(not_requests[i]), "?");
	}
	assert_string_equal(b2b_reason_text(B2B_R_NONE), "?");
	assert_string_equal(b2b_reason_text(B2B_R_COUNT), "?");
	assert_string_equal(
	    b2b_reason_text(B2B_R_MALFORMED), "malformed request");
}

/* ------------------------------------------------------------ frames */

static void
test_frame_header(void **state)
{
	uint8_t h[B2B_HEAD_LEN], *b;
	uint16_t type = 0, len = 0;
	struct b2b_str p;
	size_t i;

	(void)state;
	assert_int_equal(b2b_frame_encode_head(0x0065, 14, h), 4);
	assert_memory_equal(h, "\x0e\x00\x65\x00", 4);
	assert_int_equal(b2b_frame_encode_head(0xabcd, 65535, h), 4);
	assert_memory_equal(h, "\xff\xff\xcd\xab", 4);
	assert_int_equal(b2b_frame_encode_head(1, 65536, h), WARREN_ELENGTH);

	/* Split at every byte: need more until 4 bytes are there. */
	b = guard("\x8d\x00\x01\x00", 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    b2b_frame_decode(guard(b, i), i, &type, &len), 0);
	assert_int_equal(b2b_frame_decode(b, 4, &type, &len), 4);
	assert_int_equal(type, 1);
	assert_int_equal(len, 141);

	/* Length 65535 with fewer bytes: need more, never a read past. */
	b = guard(NULL, 4 + 1000);
	memset(b, 'x', 4 + 1000);
	(void)b2b_frame_encode_head(7, 65535, b);
	assert_int_equal(b2b_frame_decode(b, 1004, &type, &len), 4);
	assert_int_equal(len, 65535);
	for (i = 0; i <= 1004; i++)
		assert_int_equal(b2b_frame_next(b, i, &type, &p), 0);

	/* A whole 65535-byte frame, then one more byte of the next. */
	b = guard(NULL, B2B_FRAME_MAX + 1);
	memset(b, 'y', B2B_FRAME_MAX + 1);
	(void)b2b_frame_encode_head(7, 65535, b);
	assert_int_equal(b2b_frame_next(b, B2B_FRAME_MAX - 1, &type, &p), 0);
	assert_int_equal(
	    b2b_frame_next(b, B2B_FRAME_MAX, &type, &p), B2B_FRAME_MAX);
	assert_int_equal(
	    b2b_frame_next(b, B2B_FRAME_MAX + 1, &type, &p), B2B_FRAME_MAX);
	assert_ptr_equal(p.ptr, b + 4);
	assert_int_equal(p.len, 65535);

	/* An empty payload is a whole frame at 4 bytes. */
	b = guard("\x00\x00\x05\x00", 4);
	assert_int_equal(b2b_frame_next(b, 4, &type, &p), 4);
	assert_int_equal(type, 5);
	assert_int_equal(p.len, 0);
}

/* Every §6 frame fed one byte at a time to a reader that appends to its
 * buffer: no frame before the last byte, exactly the frame at it. */
static void
test_frame_bytewise(void **state)
{
	uint8_t f[256], acc[256];
	struct b2b_str p;
	uint16_t type;
	size_t i, j, n;

	(void)state;
	for (i = 0; i < NEXCHANGES; i++) {
		n = frame(exchanges[i].type, exchanges[i].payload,
		    exchanges[i].len, f);
		for (j = 0; j < n; j++) {
			acc[j] = f[j];
			if (j + 1 < n)
				assert_int_equal(
				    b2b_frame_next(
					guard(acc, j + 1), j + 1, &type, &p),
				    0);
		}
		assert_int_equal(
		    b2b_frame_next(guard(acc, n), n, &type, &p), (int)n);
		assert_int_equal(type, exchanges[i].type);
		assert_view(p, exchanges[i].payload);
	}
}

/* ------------------------------------------------------------- lines */

/* All the lines of s, joined with '/' for comparison. */
static int
lines_of(const char *s, size_t n, char *out, size_t cap)
{
	struct b2b_lines it;
	struct b2b_str l;
	size_t o = 0;
	int rc, count = 0;

	assert_int_equal(b2b_lines_init(&it, guard(s, n), n), 0);
	out[0] = '\0';
	while ((rc = b2b_lines_next(&it, &l)) > 0) {
		assert_true(o + l.len + 2 < cap);
		if (count++ > 0)
			out[o++] = '/';
		memcpy(out + o, l.ptr, l.len);
		o += l.len;
		out[o] = '\0';
	}
	assert_int_equal(rc, 0);
	assert_true(b2b_lines_done(&it));
	assert_int_equal(it.n, count);
	return count;
}

static void
test_lines(void **state)
{
	static const struct {
		const char *in;
		int count;
		const char *joined;
	} t[] = {
	    {"", 0, ""}, {"\n", 1, ""}, {"a", 1, "a"}, {"a\n", 1, "a"},
	    {"a\nb", 2, "a/b"}, {"a\nb\n", 2, "a/b"}, {"a\r\nb\r\n", 2, "a/b"},
	    {"a\r\nb", 2, "a/b"}, {"a\r\nb\r", 2, "a/b"}, {"a\n\nb", 3, "a//b"},
	    {"a\n\n", 2, "a/"}, {"\r\n\r\n", 2, "/"},
	    {"a\rb\n", 1, "a\rb"},      /* a lone CR stays in the line */
	    {"a\r\r\n", 1, "a\r"},      /* one CR only is dropped */
	    {"\xff\x00z\n", 1, "\xff"}, /* bytes are bytes (NUL cuts strcmp) */
	};
	char joined[128];
	struct b2b_lines it;
	struct b2b_str l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].in);

		if (i == sizeof(t) / sizeof(t[0]) - 1)
			n = 4;
		assert_int_equal(
		    lines_of(t[i].in, n, joined, sizeof(joined)), t[i].count);
		assert_string_equal(joined, t[i].joined);
	}

	/* Bytes consumed: the line and its terminator. */
	assert_int_equal(b2b_lines_init(&it, guard("ab\r\ncd", 6), 6), 0);
	assert_int_equal(b2b_lines_next(&it, &l), 4);
	assert_int_equal(b2b_lines_next(&it, &l), 2);
	assert_int_equal(b2b_lines_next(&it, &l), 0);
	assert_int_equal(b2b_lines_next(&it, &l), 0);

	/* A payload over the frame limit. */
	assert_int_equal(b2b_lines_init(&it, "x", 65536), WARREN_ELENGTH);
	assert_int_equal(b2b_lines_next(&it, &l), 0);
}

static void
test_lines_limits(void **state)
{
	struct b2b_lines it, copy;
	struct b2b_str l;
	char *big;

	(void)state;
	/* max_len counts the line without its CR LF. */
	assert_int_equal(
	    b2b_lines_init(&it, guard("abc\r\nabcd\n", 10), 10), 0);
	it.max_len = 3;
	assert_int_equal(b2b_lines_next(&it, &l), 5);
	assert_view(l, "abc");
	assert_int_equal(b2b_lines_next(&it, &l), WARREN_ETOOLONG);
	assert_int_equal(b2b_lines_next(&it, &l), WARREN_ETOOLONG);
	assert_int_equal(it.n, 1);

	/* Unterminated too-long last line, and one that just fits. */
	assert_int_equal(b2b_lines_init(&it, guard("abcd", 4), 4), 0);
	it.max_len = 3;
	assert_int_equal(b2b_lines_next(&it, &l), WARREN_ETOOLONG);
	assert_int_equal(b2b_lines_init(&it, guard("abc\r", 4), 4), 0);
	it.max_len = 3;
	assert_int_equal(b2b_lines_next(&it, &l), 4);
	assert_view(l, "abc");
	assert_int_equal(b2b_lines_init(&it, guard("", 0), 0), 0);
	it.max_len = 0;
	assert_int_equal(b2b_lines_next(&it, &l), 0);
	assert_int_equal(b2b_lines_init(&it, guard("\n\nx", 3), 3), 0);
	it.max_len = 0;
	assert_int_equal(b2b_lines_next(&it, &l), 1);
	assert_int_equal(b2b_lines_next(&it, &l), 1);
	assert_int_equal(b2b_lines_next(&it, &l), WARREN_ETOOLONG);

	/* Too many lines. */
	assert_int_equal(b2b_lines_init(&it, guard("a\nb\nc\n", 6), 6), 0);
	it.max_lines = 2;
	assert_int_equal(b2b_lines_next(&it, &l), 2);
	copy = it; /* a copy iterates again from here */
	assert_int_equal(b2b_lines_next(&it, &l), 2);
	assert_view(l, "b");
	assert_int_equal(b2b_lines_next(&it, &l), WARREN_ELIMIT);
	assert_int_equal(b2b_lines_next(&copy, &l), 2);
	assert_view(l, "b");

	/* The most lines one frame can hold, and one over-long line. */
	big = (char *)guard(NULL, B2B_PAYLOAD_MAX);
	memset(big, '\n', B2B_PAYLOAD_MAX);
	assert_int_equal(b2b_lines_init(&it, big, B2B_PAYLOAD_MAX), 0);
	while (b2b_lines_next(&it, &l) > 0)
		assert_int_equal(l.len, 0);
	assert_int_equal(it.n, B2B_PAYLOAD_MAX);
	memset(big, 'x', B2B_PAYLOAD_MAX);
	assert_int_equal(b2b_lines_init(&it, big, B2B_PAYLOAD_MAX), 0);
	assert_int_equal(b2b_lines_next(&it, &l), B2B_PAYLOAD_MAX);
	assert_int_equal(l.len, B2B_PAYLOAD_MAX);
	assert_int_equal(b2b_lines_init(&it, big, B2B_PAYLOAD_MAX), 0);
	it.max_len = B2B_FILENAME_MAX;
	assert_int_equal(b2b_lines_next(&it, &l), WARREN_ETOOLONG);
}

/* ------------------------------------------------------- field checks */

static void
test_utf8(void **state)
{
	static const char *const good[] = {
	    "",
	    "plain",
	    "z\xc3\xabrich",
	    "\xe2\x82\xac",
	    "\xf0\x9f\x8d\xba",
	    "\xed\x9f\xbf",
	    "\xee\x80\x80",
	    "\xf4\x8f\xbf\xbf",
	    "\xc2\x80",
	};
	static const char *const bad[] = {
	    "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", /* overlong 2-byte */
	    "\xe0\x80\xaf",                         /* overlong 3-byte */
	    "\xf0\x80\x80\xaf",                     /* overlong 4-byte */
	    "\xed\xa0\x80", "\xed\xbf\xbf",         /* surrogates */
	    "\xf4\x90\x80\x80",                     /* over U+10FFFF */
	    "\xf5\x80\x80\x80", "\xff", "\xfe", "\xc3", "\xe2\x82",
	    "\xf0\x9f\x8d",              /* truncated */
	    "\xc3\x28", "a\xe2\x28\xa1", /* bad continuation */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(b2b_utf8_check(guard(good[i], strlen(good[i])),
				     strlen(good[i])),
		    0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (b2b_utf8_check(guard(bad[i], strlen(bad[i])),
			strlen(bad[i])) != WARREN_EFIELD)
			fail_msg("bad UTF-8 #%zu accepted", i);
}

static int
check_str(int (*fn)(const void *, size_t), const char *s, size_t n)
{
	return fn(guard(s, n), n);
}

static void
test_user_pwd(void **state)
{
	char buf[200];

	(void)state;
	assert_int_equal(check_str(b2b_user_check, "alice", 5), 0);
	assert_int_equal(check_str(b2b_user_check, "z\xc3\xab", 3), 0);
	assert_int_equal(check_str(b2b_user_check, "a|b", 3), 0);
	assert_int_equal(check_str(b2b_user_check, "", 0), WARREN_EEMPTY);
	memset(buf, 'u', sizeof(buf));
	assert_int_equal(check_str(b2b_user_check, buf, 64), 0);
	assert_int_equal(check_str(b2b_user_check, buf, 65), WARREN_ETOOLONG);
	assert_int_equal(check_str(b2b_pwd_check, buf, 128), 0);
	assert_int_equal(check_str(b2b_pwd_check, buf, 129), WARREN_ETOOLONG);
	assert_int_equal(check_str(b2b_pwd_check, "", 0), WARREN_EEMPTY);
	/* Whitespace, ASCII and Unicode, and control characters. */
	assert_int_equal(check_str(b2b_user_check, "a b", 3), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_user_check, "a\tb", 3), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_user_check, "a\x0b", 2), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_user_check, "a\x1c", 2), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_user_check, "a\x7f", 2), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_user_check, "a\0b", 3), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_user_check, "a\xc2\xa0", 3),
	    WARREN_EFIELD); /* NBSP */
	assert_int_equal(
	    check_str(b2b_user_check, "a\xc2\x85", 3), WARREN_EFIELD); /* NEL */
	assert_int_equal(check_str(b2b_user_check, "a\xe3\x80\x80", 4),
	    WARREN_EFIELD); /* ideographic space */
	assert_int_equal(check_str(b2b_pwd_check, "s3 cret", 7), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_pwd_check, "s3\xe2\x80\xa8", 5),
	    WARREN_EFIELD); /* line separator */
	/* Not UTF-8. */
	assert_int_equal(check_str(b2b_user_check, "al\xe9", 3), WARREN_EFIELD);
	assert_int_equal(
	    check_str(b2b_pwd_check, "\xc0\xaf", 2), WARREN_EFIELD);
}

static void
test_filename(void **state)
{
	char buf[300];

	(void)state;
	assert_int_equal(check_str(b2b_filename_check, "hello.txt", 9), 0);
	assert_int_equal(check_str(b2b_filename_check, "a b|c.txt", 9), 0);
	assert_int_equal(check_str(b2b_filename_check, " ", 1), 0);
	assert_int_equal(check_str(b2b_filename_check, "...", 3), 0);
	assert_int_equal(check_str(b2b_filename_check, "a\\b", 3), 0);
	assert_int_equal(
	    check_str(b2b_filename_check, "caf\xc3\xa9.mp3", 8), 0);
	memset(buf, 'f', sizeof(buf));
	assert_int_equal(check_str(b2b_filename_check, buf, 255), 0);
	assert_int_equal(
	    check_str(b2b_filename_check, buf, 256), WARREN_ETOOLONG);
	assert_int_equal(check_str(b2b_filename_check, "", 0), WARREN_EEMPTY);
	assert_int_equal(
	    check_str(b2b_filename_check, "a/b", 3), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_filename_check, "/", 1), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_filename_check, ".", 1), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_filename_check, "..", 2), WARREN_EFIELD);
	assert_int_equal(
	    check_str(b2b_filename_check, "a\nb", 3), WARREN_EFIELD);
	assert_int_equal(
	    check_str(b2b_filename_check, "a\rb", 3), WARREN_EFIELD);
	assert_int_equal(
	    check_str(b2b_filename_check, "a\0b", 3), WARREN_EFIELD);
	assert_int_equal(
	    check_str(b2b_filename_check, "a\tb", 3), WARREN_EFIELD);
	assert_int_equal(
	    check_str(b2b_filename_check, "a\x7f", 2), WARREN_EFIELD);
	assert_int_equal(check_str(b2b_filename_check, "a\xc2\x9b", 3),
	    WARREN_EFIELD); /* C1 CSI */
	assert_int_equal(check_str(b2b_filename_check, "a\xe9.txt", 6),
	    WARREN_EFIELD); /* Latin-1, not UTF-8 */
}

static void
test_numbers(void **state)
{
	static const struct {
		const char *s;
		int ok;
		uint32_t v;
	} ids[] = {
	    {"1", 1, 1},
	    {"42", 1, 42},
	    {"2147483647", 1, 2147483647},
	    {"0", 0, 0},
	    {"2147483648", 0, 0},
	    {"4294967296", 0, 0},
	    {"042", 0, 0},
	    {"00000000042", 0, 0},
	    {"12345678901", 0, 0},
	    {"99999999999999999999999", 0, 0},
	    {"", 0, 0},
	    {"+1", 0, 0},
	    {"-1", 0, 0},
	    {" 1", 0, 0},
	    {"1 ", 0, 0},
	    {"1a", 0, 0},
	    {"0x10", 0, 0},
	};
	static const struct {
		const char *s;
		int ok;
		uint16_t v;
	} ports[] = {
	    {"1", 1, 1},
	    {"3000", 1, 3000},
	    {"03000", 1, 3000},
	    {"65535", 1, 65535},
	    {"0", 0, 0},
	    {"00", 0, 0},
	    {"65536", 0, 0},
	    {"99999999999999999999", 0, 0},
	    {"", 0, 0},
	    {"-1", 0, 0},
	    {"80 ", 0, 0},
	};
	static const struct {
		const char *s;
		int ok;
		uint64_t v;
	} sizes[] = {
	    {"0", 1, 0},
	    {"12", 1, 12},
	    {"0012", 1, 12},
	    {"9223372036854775807", 1, 9223372036854775807ULL},
	    {"09223372036854775807", 1, 9223372036854775807ULL},
	    {"9223372036854775808", 0, 0},
	    {"18446744073709551615", 0, 0},
	    {"18446744073709551616", 0, 0},
	    {"", 0, 0},
	    {"-1", 0, 0},
	    {"1.5", 0, 0},
	    {"12MB", 0, 0},
	};
	uint32_t id, off;
	uint16_t port;
	uint64_t size;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		size_t n = strlen(ids[i].s);

		id = 7;
		assert_int_equal(b2b_id_parse(guard(ids[i].s, n), n, &id),
		    ids[i].ok ? 0 : WARREN_EFIELD);
		assert_int_equal(id, ids[i].ok ? ids[i].v : 7);
	}
	for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		size_t n = strlen(ports[i].s);

		port = 7;
		assert_int_equal(b2b_port_parse(guard(ports[i].s, n), n, &port),
		    ports[i].ok ? 0 : WARREN_EFIELD);
		assert_int_equal(port, ports[i].ok ? ports[i].v : 7);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = strlen(sizes[i].s);

		size = 7;
		if (b2b_size_parse(guard(sizes[i].s, n), n, &size) !=
		    (sizes[i].ok ? 0 : WARREN_EFIELD))
			fail_msg("size \"%s\"", sizes[i].s);
		assert_true(size == (sizes[i].ok ? sizes[i].v : 7));
	}
	assert_int_equal(b2b_offset_parse("0", 1, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(b2b_offset_parse("4294967295", 10, &off), 0);
	assert_int_equal(off, 4294967295U);
	assert_int_equal(
	    b2b_offset_parse("4294967296", 10, &off), WARREN_EFIELD);
	assert_int_equal(b2b_offset_parse("", 0, &off), WARREN_EFIELD);
	assert_int_equal(b2b_offset_parse("x", 1, &off), WARREN_EFIELD);
}

static void
test_hashes(void **state)
{
	char sha1[B2B_SHA1_LEN + 1], md5[B2B_MD5_LEN + 1];

	(void)state;
	assert_int_equal(b2b_sha1_parse(guard(SHA1_U, 40), 40, sha1), 0);
	assert_string_equal(sha1, SHA1_H);
	assert_int_equal(b2b_md5_parse(guard(MD5_U, 32), 32, md5), 0);
	assert_string_equal(md5, MD5_H);
	assert_int_equal(b2b_sha1_parse(SHA1_H, 39, sha1), WARREN_EFIELD);
	assert_int_equal(b2b_sha1_parse(SHA1_H "0", 41, sha1), WARREN_EFIELD);
	assert_int_equal(
	    b2b_sha1_parse(
		"g2596363b3de40b06f981fb85d82312e8c0ed511", 40, sha1),
	    WARREN_EFIELD);
	assert_int_equal(b2b_sha1_parse(MD5_H, 32, sha1), WARREN_EFIELD);
	assert_int_equal(b2b_md5_parse(SHA1_H, 40, md5), WARREN_EFIELD);
	assert_int_equal(
	    b2b_md5_parse("6f5902ac237024bdd0c176cb93063dc ", 32, md5),
	    WARREN_EFIELD);
	assert_int_equal(b2b_md5_parse("", 0, md5), WARREN_EFIELD);
}

static void
test_ip(void **state)
{
	static const struct {
		const char *in;
		int family;
		const char *canon;
	} good[] = {
	    {"192.168.1.10", AF_INET, "192.168.1.10"},
	    {"192.168.001.010", AF_INET, "192.168.1.10"},
	    {"1.2.3.4", AF_INET, "1.2.3.4"},
	    {"0.0.0.1", AF_INET, "0.0.0.1"},
	    {"223.255.255.255", AF_INET, "223.255.255.255"},
	    {"240.0.0.1", AF_INET, "240.0.0.1"},
	    {"255.255.255.255", AF_INET, "255.255.255.255"},
	    {"::1", AF_INET6, "::1"},
	    {"FD00:0:0:0:0:0:0:10", AF_INET6, "fd00::10"},
	    {"2001:0db8:0000:0000:0000:0000:0000:0002", AF_INET6,
		"2001:db8::2"},
	    {"fe80::1", AF_INET6, "fe80::1"},
	    {"::ffff:192.168.1.10", AF_INET6, "::ffff:192.168.1.10"},
	    {"fe00::1", AF_INET6, "fe00::1"},
	    {"fe80:ffff:ffff:ffff:ffff:ffff:255.255.255.255", AF_INET6,
		"fe80:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	};
	static const char *const bad[] = {
	    "",
	    "0.0.0.0",
	    "000.000.000.000",
	    "224.0.0.1",
	    "239.255.255.255",
	    "230.1.2.3",
	    "256.1.1.1",
	    "1.2.3",
	    "1.2.3.4.5",
	    "1.2.3.",
	    ".1.2.3",
	    "1..2.3",
	    "1.2.3.1234",
	    "1.2.3.4 ",
	    " 1.2.3.4",
	    "a.b.c.d",
	    "None",
	    "::",
	    "0:0:0:0:0:0:0:0",
	    "ff02::1",
	    "ff00::",
	    "::ffff:0.0.0.0",
	    "::ffff:224.0.0.1",
	    "fe80::1%eth0",
	    "1::2::3",
	    ":::",
	    "[::1]",
	    "::1\n",
	    "localhost",
	    "12345::",
	    "::1\0",
	};
	char text[B2B_IP_TEXT_MAX];
	struct b2b_addr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t n = strlen(good[i].in);

		memset(&a, 0xaa, sizeof(a));
		if (b2b_ip_parse(guard(good[i].in, n), n, &a) != 0)
			fail_msg("ip %s refused", good[i].in);
		assert_int_equal(a.family, good[i].family);
		assert_int_equal(b2b_ip_format(&a, text, sizeof(text)),
		    (int)strlen(good[i].canon));
		assert_string_equal(text, good[i].canon);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]) +
		    (i == sizeof(bad) / sizeof(bad[0]) - 1);

		memset(&a, 0xaa, sizeof(a));
		if (b2b_ip_parse(guard(bad[i], n), n, &a) != WARREN_EFIELD)
			fail_msg("ip \"%s\" accepted", bad[i]);
		assert_int_equal(a.family, (int)0xaaaaaaaa);
	}
	/* Format: capacity and family. */
	a = addr("192.168.1.10");
	assert_int_equal(b2b_ip_format(&a, text, 13), 12);
	assert_int_equal(b2b_ip_format(&a, text, 12), WARREN_ESPACE);
	a.family = 0;
	assert_int_equal(b2b_ip_format(&a, text, sizeof(text)), WARREN_EFIELD);
}

static void
test_words(void **state)
{
	struct b2b_str rest = str("  hello\t \tWorld x  "), w;

	(void)state;
	assert_int_equal(b2b_word_next(&rest, &w), 1);
	assert_view(w, "hello");
	assert_int_equal(b2b_word_next(&rest, &w), 1);
	assert_view(w, "World");
	assert_int_equal(b2b_word_next(&rest, &w), 1);
	assert_view(w, "x");
	assert_int_equal(b2b_word_next(&rest, &w), 0);
	assert_int_equal(b2b_word_next(&rest, &w), 0);
	rest = str("");
	assert_int_equal(b2b_word_next(&rest, &w), 0);
	rest = (struct b2b_str){NULL, 0};
	assert_int_equal(b2b_word_next(&rest, &w), 0);
}

/* ------------------------------------------------------- file lines */

static void
test_file_lines(void **state)
{
	static const struct {
		const char *line;
		enum b2b_file_kind kind; /* 0: bad line */
		const char *name;
		uint64_t size;
		const char *sha1;
		const char *md5;
	} t[] = {
	    {"hello.txt|12|" SHA1_H, B2B_FILE3, "hello.txt", 12, SHA1_H, ""},
	    {"hello.txt|12|" SHA1_U, B2B_FILE3, "hello.txt", 12, SHA1_H, ""},
	    {"hello.txt|12|" SHA1_H "|" MD5_H, B2B_FILE4, "hello.txt", 12,
		SHA1_H, MD5_H},
	    {"hello.txt|12|" SHA1_U "|" MD5_U, B2B_FILE4, "hello.txt", 12,
		SHA1_H, MD5_H},
	    {SHA1_H "|" MD5_H, B2B_ANNOT, "", 0, SHA1_H, MD5_H},
	    {SHA1_U "|" MD5_U, B2B_ANNOT, "", 0, SHA1_H, MD5_H},
	    /* A filename may contain '|': parsed from the right. */
	    {"a|b.txt|12|" SHA1_H, B2B_FILE3, "a|b.txt", 12, SHA1_H, ""},
	    {"|a||12|" SHA1_H, B2B_FILE3, "|a|", 12, SHA1_H, ""},
	    {"a|b|0|" SHA1_H "|" MD5_H, B2B_FILE4, "a|b", 0, SHA1_H, MD5_H},
	    {SHA1_B "|99|" SHA1_H, B2B_FILE3, SHA1_B, 99, SHA1_H, ""},
	    {MD5_B "|7|" SHA1_H, B2B_FILE3, MD5_B, 7, SHA1_H, ""},
	    {"x|" SHA1_B "|7|" SHA1_H, B2B_FILE3, "x|" SHA1_B, 7, SHA1_H, ""},
	    {SHA1_B "|" MD5_B "|7|" SHA1_H "|" MD5_H, B2B_FILE4,
		SHA1_B "|" MD5_B, 7, SHA1_H, MD5_H},
	    /* Sizes at the limits. */
	    {"big|9223372036854775807|" SHA1_H, B2B_FILE3, "big",
		9223372036854775807ULL, SHA1_H, ""},
	    {"big|9223372036854775808|" SHA1_H, 0, NULL, 0, NULL, NULL},
	    {"neg|-1|" SHA1_H, 0, NULL, 0, NULL, NULL},
	    {"mb|12MB|" SHA1_H, 0, NULL, 0, NULL, NULL},
	    {"nosize||" SHA1_H, 0, NULL, 0, NULL, NULL},
	    {"|12|" SHA1_H, 0, NULL, 0, NULL, NULL},
	    {"a/b|12|" SHA1_H, 0, NULL, 0, NULL, NULL},
	    {"..|12|" SHA1_H, 0, NULL, 0, NULL, NULL},
	    {"tab\tname|12|" SHA1_H, 0, NULL, 0, NULL, NULL},
	    /* Wrong hex. */
	    {"f|12|" MD5_H, 0, NULL, 0, NULL, NULL},
	    {"f|12|" SHA1_H "0", 0, NULL, 0, NULL, NULL},
	    {"f|12|2259636", 0, NULL, 0, NULL, NULL},
	    {"f|12|g2596363b3de40b06f981fb85d82312e8c0ed511", 0, NULL, 0, NULL,
		NULL},
	    {"f|12|" SHA1_H "|" MD5_H "0", 0, NULL, 0, NULL, NULL},
	    {"f|12|" SHA1_H "|x", 0, NULL, 0, NULL, NULL},
	    {"f|12|" SHA1_H "|", 0, NULL, 0, NULL, NULL},
	    {SHA1_H "|" MD5_H "|", 0, NULL, 0, NULL, NULL},
	    {"12|" SHA1_H "|" MD5_H, 0, NULL, 0, NULL, NULL}, /* no filename */
	    {SHA1_H "|" SHA1_H, 0, NULL, 0, NULL, NULL},
	    {MD5_H "|" MD5_H, 0, NULL, 0, NULL, NULL},
	    {SHA1_H, 0, NULL, 0, NULL, NULL},
	    {"hello.txt", 0, NULL, 0, NULL, NULL},
	    {"", 0, NULL, 0, NULL, NULL},
	    {"|", 0, NULL, 0, NULL, NULL},
	    {"||", 0, NULL, 0, NULL, NULL},
	};
	struct b2b_file f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = strlen(t[i].line);
		int rc = b2b_file_parse(guard(t[i].line, n), n, &f);

		if (t[i].kind == 0) {
			if (rc != WARREN_EFIELD)
				fail_msg("line \"%s\" accepted", t[i].line);
			continue;
		}
		if (rc != 0)
			fail_msg("line \"%s\" refused", t[i].line);
		assert_int_equal(f.kind, t[i].kind);
		assert_view(f.name, t[i].name);
		assert_true(f.size == t[i].size);
		assert_string_equal(f.sha1, t[i].sha1);
		assert_string_equal(f.md5, t[i].md5);
		assert_int_equal(f.line, 0);
	}
}

static void
test_file_name_limits(void **state)
{
	char line[400];
	struct b2b_file f;
	int n;

	(void)state;
	memset(line, 'n', 255);
	n = 255 + snprintf(line + 255, sizeof(line) - 255, "|1|%s", SHA1_H);
	assert_int_equal(
	    b2b_file_parse(guard(line, (size_t)n), (size_t)n, &f), 0);
	assert_int_equal(f.name.len, 255);
	memset(line, 'n', 256);
	n = 256 + snprintf(line + 256, sizeof(line) - 256, "|1|%s", SHA1_H);
	assert_int_equal(b2b_file_parse(guard(line, (size_t)n), (size_t)n, &f),
	    WARREN_EFIELD);
}

/* ----------------------------------------------------- §6 examples */

static void
test_example_register(void **state)
{
	uint8_t want[256], buf[256];
	struct b2b_request req, r;
	struct b2b_out o;
	struct b2b_file f;
	struct b2b_lines it;
	size_t n;

	(void)state;
	n = unhex(register_hex, want, sizeof(want));
	assert_int_equal(n, 4 + 141);

	/* Encode. */
	memset(&req, 0, sizeof(req));
	req.type = B2B_REGISTER;
	req.user = str("alice");
	req.pwd = str("s3cret");
	assert_int_equal(b2b_request_begin(&o, &req, buf, sizeof(buf)), 0);
	assert_int_equal(
	    b2b_out_file(&o, str("hello.txt"), 12, SHA1_H, MD5_H), 54 + 74);
	assert_int_equal(b2b_out_end(&o), (int)n);
	assert_memory_equal(buf, want, n);
	/* Hashes in upper case are sent in lower case. */
	assert_int_equal(b2b_request_begin(&o, &req, buf, sizeof(buf)), 0);
	assert_int_equal(
	    b2b_out_file(&o, str("hello.txt"), 12, SHA1_U, MD5_U), 128);
	assert_int_equal(b2b_out_end(&o), (int)n);
	assert_memory_equal(buf, want, n);

	/* Decode. */
	assert_int_equal(parse_req_n(B2B_REGISTER, want + 4, n - 4, &r), 0);
	assert_int_equal(r.type, B2B_REGISTER);
	assert_view(r.user, "alice");
	assert_view(r.pwd, "s3cret");
	assert_int_equal(r.nfiles, 1);
	assert_int_equal(r.nannots, 1);
	it = r.files;
	assert_int_equal(b2b_file_next(&it, &f), 54);
	assert_int_equal(f.kind, B2B_FILE3);
	assert_view(f.name, "hello.txt");
	assert_true(f.size == 12);
	assert_string_equal(f.sha1, SHA1_H);
	assert_string_equal(f.md5, "");
	assert_int_equal(f.line, 3);
	assert_int_equal(b2b_file_next(&it, &f), 74);
	assert_int_equal(f.kind, B2B_ANNOT);
	assert_string_equal(f.sha1, SHA1_H);
	assert_string_equal(f.md5, MD5_H);
	assert_int_equal(f.line, 4);
	assert_int_equal(b2b_file_next(&it, &f), 0);
	/* The request's iterator was not moved: it can be walked again. */
	assert_int_equal(b2b_file_next(&r.files, &f), 54);

	/* The older 4-field form: 100 bytes. */
	{
		const char *p = "alice\ns3cret\nhello.txt|12|" SHA1_H "|" MD5_H
				"\n";

		assert_int_equal(strlen(p), 100);
		assert_int_equal(parse_req(B2B_REGISTER, p, &r), 0);
		assert_int_equal(r.nfiles, 1);
		assert_int_equal(r.nannots, 0);
		assert_int_equal(b2b_file_next(&r.files, &f), 87);
		assert_int_equal(f.kind, B2B_FILE4);
		assert_view(f.name, "hello.txt");
		assert_string_equal(f.sha1, SHA1_H);
		assert_string_equal(f.md5, MD5_H);
	}
}

static void
test_example_register_replies(void **state)
{
	uint8_t want[64], buf[64];
	struct b2b_response r;
	size_t n;

	(void)state;
	n = unhex(register_ok_hex, want, sizeof(want));
	assert_int_equal(n, 4 + 14);
	assert_int_equal(
	    b2b_encode_ok_id(B2B_REGISTER, 42, buf, sizeof(buf)), (int)n);
	assert_memory_equal(buf, want, n);
	assert_int_equal(b2b_response_parse(B2B_REGISTER, 101,
			     guard(want + 4, n - 4), n - 4, &r),
	    0);
	assert_true(r.ok);
	assert_int_equal(r.id, 42);
	assert_view(r.name, "REGISTER_OK");

	n = unhex(register_ko_hex, want, sizeof(want));
	assert_int_equal(n, 4 + 27);
	assert_int_equal(
	    b2b_encode_ko(B2B_REGISTER, B2B_R_USER_TAKEN, 0, buf, sizeof(buf)),
	    (int)n);
	assert_memory_equal(buf, want, n);
	assert_int_equal(b2b_response_parse(B2B_REGISTER, 201,
			     guard(want + 4, n - 4), n - 4, &r),
	    0);
	assert_false(r.ok);
	assert_view(r.name, "REGISTER_KO");
	assert_view(r.reason, "user name taken");
}

static const struct exchange *
exchange(const char *label)
{
	size_t i;

	for (i = 0; i < NEXCHANGES; i++)
		if (strcmp(exchanges[i].label, label) == 0)
			return &exchanges[i];
	fail_msg("no exchange %s", label);
	return NULL;
}

static struct b2b_hit
example_hit(void)
{
	struct b2b_hit h;

	memset(&h, 0, sizeof(h));
	h.name = str("hello.txt");
	h.size = 12;
	memcpy(h.sha1, SHA1_H, sizeof(h.sha1));
	h.user = str("alice");
	h.user_id = 42;
	h.addr = addr("192.168.1.10");
	h.port = 3000;
	memcpy(h.md5, MD5_H, sizeof(h.md5));
	return h;
}

/*
 * Encode the §6 exchange with this label into buf[0..cap) with the
 * function a warren peer or server uses for it.
 */
static int
encode_exchange(const char *label, uint8_t *buf, size_t cap)
{
	struct b2b_request req;
	struct b2b_hit h = example_hit();
	struct b2b_out o;
	int rc;

	memset(&req, 0, sizeof(req));
	req.user = str("alice");
	req.pwd = str("s3cret");
	req.id = 42;
	if (strcmp(label, "LOGIN") == 0) {
		req.type = B2B_LOGIN;
		req.addr = addr("192.168.1.10");
		req.port = 3000;
		return b2b_request_encode(&req, buf, cap);
	}
	if (strcmp(label, "LOGIN_OK") == 0)
		return b2b_encode_ok(B2B_LOGIN, buf, cap);
	if (strcmp(label, "KEEP_ALIVE") == 0) {
		req.type = B2B_KEEP_ALIVE;
		return b2b_request_encode(&req, buf, cap);
	}
	if (strcmp(label, "KEEP_ALIVE_OK") == 0)
		return b2b_encode_ok(B2B_KEEP_ALIVE, buf, cap);
	if (strcmp(label, "SEARCH_FILE") == 0) {
		req.type = B2B_SEARCH_FILE;
		req.query = str("hello");
		return b2b_request_encode(&req, buf, cap);
	}
	if (strcmp(label, "SEARCH_FILE_OK") == 0 ||
	    strcmp(label, "DOWNLOAD_FILE_OK") == 0) {
		rc = b2b_response_begin(&o,
		    label[0] == 'S' ? B2B_SEARCH_FILE : B2B_DOWNLOAD_FILE, buf,
		    cap);
		if (rc < 0 || (rc = b2b_out_hit(&o, &h)) < 0)
			return rc;
		return b2b_out_end(&o);
	}
	if (strcmp(label, "DOWNLOAD_FILE") == 0) {
		req.type = B2B_DOWNLOAD_FILE;
		memcpy(req.sha1, SHA1_U, sizeof(req.sha1));
		return b2b_request_encode(&req, buf, cap);
	}
	if (strcmp(label, "LOGOUT") == 0) {
		req.type = B2B_LOGOUT;
		return b2b_request_encode(&req, buf, cap);
	}
	if (strcmp(label, "LOGOUT_OK") == 0)
		return b2b_encode_ok(B2B_LOGOUT, buf, cap);
	fail_msg("no encoder for %s", label);
	return -1;
}

static void
test_examples_encode(void **state)
{
	uint8_t want[256], buf[256];
	size_t i, n;

	(void)state;
	for (i = 0; i < NEXCHANGES; i++) {
		const struct exchange *e = &exchanges[i];

		assert_int_equal(strlen(e->payload), e->len);
		n = frame(e->type, e->payload, e->len, want);
		if (encode_exchange(e->label, buf, sizeof(buf)) != (int)n)
			fail_msg("%s: wrong length", e->label);
		assert_memory_equal(buf, want, n);
	}
}

static void
test_examples_decode(void **state)
{
	struct b2b_request r;
	struct b2b_response p;
	struct b2b_hit h;
	const struct exchange *e;
	char text[B2B_IP_TEXT_MAX];

	(void)state;
	e = exchange("LOGIN");
	assert_int_equal(parse_req(e->type, e->payload, &r), 0);
	assert_view(r.user, "alice");
	assert_view(r.pwd, "s3cret");
	assert_int_equal(r.id, 42);
	assert_int_equal(r.addr.family, AF_INET);
	assert_int_equal(b2b_ip_format(&r.addr, text, sizeof(text)), 12);
	assert_string_equal(text, "192.168.1.10");
	assert_int_equal(r.port, 3000);

	e = exchange("LOGIN_OK");
	assert_int_equal(parse_resp(B2B_LOGIN, e->type, e->payload, &p), 0);
	assert_true(p.ok);
	assert_view(p.name, "LOGIN_OK");

	e = exchange("KEEP_ALIVE");
	assert_int_equal(parse_req(e->type, e->payload, &r), 0);
	assert_int_equal(r.id, 42);
	e = exchange("KEEP_ALIVE_OK");
	assert_int_equal(
	    parse_resp(B2B_KEEP_ALIVE, e->type, e->payload, &p), 0);
	assert_true(p.ok);

	e = exchange("SEARCH_FILE");
	assert_int_equal(parse_req(e->type, e->payload, &r), 0);
	assert_view(r.query, "hello");
	assert_int_equal(r.nwords, 1);

	e = exchange("SEARCH_FILE_OK");
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, e->type, e->payload, &p), 0);
	assert_true(p.ok);
	assert_int_equal(p.layout, 7);
	assert_int_equal(b2b_response_next_hit(&p, &h), 81);
	assert_view(h.name, "hello.txt");
	assert_true(h.size == 12);
	assert_string_equal(h.sha1, SHA1_H);
	assert_view(h.user, "alice");
	assert_int_equal(h.user_id, 42);
	assert_int_equal(b2b_ip_format(&h.addr, text, sizeof(text)), 12);
	assert_string_equal(text, "192.168.1.10");
	assert_int_equal(h.port, 3000);
	assert_string_equal(h.md5, "");
	assert_int_equal(b2b_response_next_hit(&p, &h), 0);
	assert_int_equal(p.dropped, 0);

	e = exchange("DOWNLOAD_FILE");
	assert_int_equal(parse_req(e->type, e->payload, &r), 0);
	assert_string_equal(r.sha1, SHA1_H);

	e = exchange("DOWNLOAD_FILE_OK");
	assert_int_equal(
	    parse_resp(B2B_DOWNLOAD_FILE, e->type, e->payload, &p), 0);
	assert_int_equal(p.layout, 8);
	assert_int_equal(b2b_response_next_hit(&p, &h), 81 + 33);
	assert_view(h.name, "hello.txt");
	assert_int_equal(h.port, 3000);
	assert_string_equal(h.md5, MD5_H);
	assert_int_equal(b2b_response_next_hit(&p, &h), 0);

	e = exchange("LOGOUT");
	assert_int_equal(parse_req(e->type, e->payload, &r), 0);
	assert_view(r.user, "alice");
	assert_view(r.pwd, "s3cret");
	assert_int_equal(r.id, 42);

	/* LOGOUT_OK is 103, like KEEP_ALIVE_OK. */
	e = exchange("LOGOUT_OK");
	assert_int_equal(e->type, 103);
	assert_int_equal(parse_resp(B2B_LOGOUT, e->type, e->payload, &p), 0);
	assert_true(p.ok);
	assert_view(p.name, "LOGOUT_OK");
	assert_int_equal(
	    parse_resp(B2B_LOGOUT, 203, "LOGOUT_KO\nunknown id", &p), 0);
	assert_false(p.ok);
	assert_view(p.reason, "unknown id");
	assert_int_equal(
	    parse_resp(B2B_LOGOUT, 104, "LOGOUT_OK", &p), WARREN_EPROTO);
}

/* Every encoder, every capacity short of the frame: WARREN_ESPACE, and not
 * a byte written past the capacity (the buffer is exactly cap bytes). */
static void
test_examples_too_small(void **state)
{
	uint8_t want[256];
	size_t i, cap, n;

	(void)state;
	for (i = 0; i < NEXCHANGES; i++) {
		n = frame(exchanges[i].type, exchanges[i].payload,
		    exchanges[i].len, want);
		for (cap = 0; cap < n; cap++) {
			uint8_t *b = guard(NULL, cap);

			if (encode_exchange(exchanges[i].label, b, cap) !=
			    WARREN_ESPACE)
				fail_msg("%s cap %zu", exchanges[i].label, cap);
		}
		assert_int_equal(
		    encode_exchange(exchanges[i].label, guard(NULL, n), n),
		    (int)n);
	}
	for (cap = 0; cap < 18; cap++)
		assert_int_equal(
		    b2b_encode_ok_id(B2B_REGISTER, 42, guard(NULL, cap), cap),
		    WARREN_ESPACE);
	for (cap = 0; cap < 31; cap++)
		assert_int_equal(b2b_encode_ko(B2B_REGISTER, B2B_R_USER_TAKEN,
				     0, guard(NULL, cap), cap),
		    WARREN_ESPACE);
}

/* ------------------------------------------------- every message kind */

static void
assert_req_equal(const struct b2b_request *a, const struct b2b_request *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->user.len, b->user.len);
	if (a->user.len > 0)
		assert_memory_equal(a->user.ptr, b->user.ptr, a->user.len);
	assert_int_equal(a->pwd.len, b->pwd.len);
	if (a->pwd.len > 0)
		assert_memory_equal(a->pwd.ptr, b->pwd.ptr, a->pwd.len);
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->addr.family, b->addr.family);
	if (a->addr.family != 0)
		assert_memory_equal(a->addr.a, b->addr.a, 16);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->filter, b->filter);
	assert_int_equal(a->offset, b->offset);
	assert_int_equal(a->query.len, b->query.len);
	if (a->query.len > 0)
		assert_memory_equal(a->query.ptr, b->query.ptr, a->query.len);
	assert_string_equal(a->sha1, b->sha1);
}

static void
test_requests_roundtrip(void **state)
{
	struct b2b_request t[40], r;
	uint8_t buf[512];
	struct b2b_str payload;
	uint16_t type;
	size_t n = 0, i;
	int len;

	(void)state;
	memset(t, 0, sizeof(t));
#define REQ(ty)                                                                \
	(t[n].type = (ty), t[n].user = str("bob"),                             \
	    t[n].pwd = str("pa\xc3\x9f"), &t[n++])
	REQ(B2B_REGISTER);
	REQ(B2B_REGISTER_UPDATE)->id = 7;
	REQ(B2B_REGISTER_APPEND)->id = 2147483647;
	REQ(B2B_LOGIN)->id = 1;
	REQ(B2B_LOGIN)->id = 1;
	t[n - 1].addr = addr("10.0.0.2");
	REQ(B2B_LOGIN)->id = 1;
	t[n - 1].addr = addr("2001:db8::2");
	t[n - 1].port = 65535;
	REQ(B2B_LOGOUT);
	REQ(B2B_LOGOUT)->id = 99;
	n++;
	t[n - 1].type = B2B_KEEP_ALIVE;
	t[n - 1].id = 123456;
	n++;
	t[n - 1].type = B2B_SHOW_PEERS;
	n++;
	t[n - 1].type = B2B_SHOW_PEERS;
	t[n - 1].filter = B2B_ONLINE;
	n++;
	t[n - 1].type = B2B_SHOW_PEERS;
	t[n - 1].filter = B2B_OFFLINE;
	t[n - 1].offset = 4294967295U;
	n++;
	t[n - 1].type = B2B_BROWSE_PEER;
	t[n - 1].id = 5;
	n++;
	t[n - 1].type = B2B_BROWSE_PEER;
	t[n - 1].id = 5;
	t[n - 1].offset = 100;
	n++;
	t[n - 1].type = B2B_SEARCH_FILE;
	t[n - 1].query = str("\tHello  World\xc3\xa9 ");
	n++;
	t[n - 1].type = B2B_DOWNLOAD_FILE;
	memcpy(t[n - 1].sha1, SHA1_H, 41);
#undef REQ

	for (i = 0; i < n; i++) {
		len = b2b_request_encode(&t[i], buf, sizeof(buf));
		if (len <= 0)
			fail_msg(
			    "request %zu (type %u): %d", i, t[i].type, len);
		assert_int_equal(
		    b2b_frame_next(buf, (size_t)len, &type, &payload), len);
		assert_int_equal(type, t[i].type);
		assert_int_equal(
		    parse_req_n(type, payload.ptr, payload.len, &r), 0);
		assert_req_equal(&t[i], &r);
	}

	/* The exact payloads of the optional forms. */
	len = b2b_request_encode(&t[6], buf, sizeof(buf)); /* LOGOUT 2 lines */
	assert_int_equal(len, 4 + 9);
	assert_memory_equal(buf + 4, "bob\npa\xc3\x9f\n", 9);
	len = b2b_request_encode(&t[9], buf, sizeof(buf)); /* SHOW_PEERS */
	assert_memory_equal(buf + 4, "all\n", (size_t)len - 4);
	len = b2b_request_encode(&t[11], buf, sizeof(buf));
	assert_memory_equal(buf + 4, "offline\n4294967295\n", (size_t)len - 4);
	len = b2b_request_encode(&t[13], buf, sizeof(buf)); /* BROWSE_PEER */
	assert_memory_equal(buf + 4, "5\n100\n", (size_t)len - 4);
	len = b2b_request_encode(&t[4], buf, sizeof(buf)); /* LOGIN, ip */
	assert_memory_equal(
	    buf + 4, "bob\npa\xc3\x9f\n1\n10.0.0.2\n", (size_t)len - 4);
	len = b2b_request_encode(&t[5], buf, sizeof(buf));
	assert_memory_equal(buf + 4, "bob\npa\xc3\x9f\n1\n2001:db8::2\n65535\n",
	    (size_t)len - 4);
}

static void
test_requests_tolerated(void **state)
{
	struct b2b_request r;
	struct b2b_file f;

	(void)state;
	/* CR LF everywhere, and no final LF. */
	assert_int_equal(
	    parse_req(B2B_LOGIN,
		"alice\r\ns3cret\r\n42\r\n192.168.1.10\r\n3000\r\n", &r),
	    0);
	assert_int_equal(r.port, 3000);
	assert_int_equal(
	    parse_req(B2B_LOGIN, "alice\ns3cret\n42\n192.168.1.10\n3000", &r),
	    0);
	assert_int_equal(r.port, 3000);
	assert_int_equal(parse_req(B2B_KEEP_ALIVE, "42", &r), 0);
	assert_int_equal(r.id, 42);
	assert_int_equal(parse_req(B2B_KEEP_ALIVE, "42\r\n", &r), 0);
	assert_int_equal(parse_req(B2B_REGISTER,
			     "alice\r\ns3cret\r\nhello.txt|12|" SHA1_H
			     "\r\n" SHA1_H "|" MD5_H,
			     &r),
	    0);
	assert_int_equal(r.nfiles, 1);
	assert_int_equal(r.nannots, 1);
	assert_int_equal(b2b_file_next(&r.files, &f), 55);
	assert_view(f.name, "hello.txt");
	assert_int_equal(b2b_file_next(&r.files, &f), 73);
	assert_string_equal(f.md5, MD5_H);
	assert_int_equal(b2b_file_next(&r.files, &f), 0);

	/* LOGIN without port, without ip (existing peers' forms). */
	assert_int_equal(
	    parse_req(B2B_LOGIN, "alice\ns3cret\n42\n192.168.1.10\n", &r), 0);
	assert_int_equal(r.addr.family, AF_INET);
	assert_int_equal(r.port, 0);
	assert_int_equal(parse_req(B2B_LOGIN, "alice\ns3cret\n42\n", &r), 0);
	assert_int_equal(r.addr.family, 0);
	assert_int_equal(r.port, 0);
	assert_int_equal(parse_req(B2B_LOGIN,
			     "alice\ns3cret\n42\n192.168.001.010\n03000\n", &r),
	    0);
	assert_int_equal(r.port, 3000);

	/* REGISTER with an empty list; the same user twice is the server's. */
	assert_int_equal(parse_req(B2B_REGISTER, "alice\ns3cret\n", &r), 0);
	assert_int_equal(r.nfiles, 0);
	assert_int_equal(b2b_file_next(&r.files, &f), 0);
	assert_int_equal(parse_req(B2B_REGISTER, "alice\ns3cret", &r), 0);

	/* SHOW_PEERS: empty payload and empty line mean all. */
	assert_int_equal(parse_req(B2B_SHOW_PEERS, "", &r), 0);
	assert_int_equal(r.filter, B2B_ALL);
	assert_int_equal(parse_req(B2B_SHOW_PEERS, "\n", &r), 0);
	assert_int_equal(r.filter, B2B_ALL);
	assert_int_equal(parse_req(B2B_SHOW_PEERS, "online", &r), 0);
	assert_int_equal(r.filter, B2B_ONLINE);
	assert_int_equal(parse_req(B2B_SHOW_PEERS, "all\n0\n", &r), 0);
	assert_int_equal(r.offset, 0);
	assert_int_equal(parse_req(B2B_SHOW_PEERS, "\n20\n", &r), 0);
	assert_int_equal(r.offset, 20);

	/* SEARCH_FILE: 32 words of 255 bytes. */
	{
		char q[32 * 256 + 2];
		size_t i;

		for (i = 0; i < 32; i++) {
			memset(q + i * 256, 'a' + (char)(i % 26), 255);
			q[i * 256 + 255] = i < 31 ? ' ' : '\n';
		}
		q[32 * 256] = '\0';
		assert_int_equal(parse_req(B2B_SEARCH_FILE, q, &r), 0);
		assert_int_equal(r.nwords, 32);
		q[100] = '\t';
		assert_int_equal(
		    parse_req(B2B_SEARCH_FILE, q, &r), WARREN_ELIMIT);
		assert_int_equal(r.reason, B2B_R_TOO_MANY_WORDS);
	}
	assert_int_equal(parse_req(B2B_SEARCH_FILE, "  hello  \t", &r), 0);
	assert_int_equal(r.nwords, 1);
	assert_int_equal(parse_req(B2B_DOWNLOAD_FILE, SHA1_U, &r), 0);
	assert_string_equal(r.sha1, SHA1_H);
}

/* Every KO reason the spec lists for a malformed request (§4, §7). */
static void
test_requests_malformed(void **state)
{
	char buf[400];

	(void)state;
	/* Not a request code: no KO exists, close (§7). */
	assert_req_fails(0, "", WARREN_EKIND, B2B_R_NONE);
	assert_req_fails(11, "x\n", WARREN_EKIND, B2B_R_NONE);
	assert_req_fails(102, "LOGIN_OK", WARREN_EKIND, B2B_R_NONE);
	assert_req_fails(103, "", WARREN_EKIND, B2B_R_NONE);

	/* Missing lines. */
	assert_req_fails(B2B_REGISTER, "", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_REGISTER, "alice\n", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(B2B_REGISTER_UPDATE, "alice\ns3cret\n", WARREN_EPROTO,
	    B2B_R_MALFORMED);
	assert_req_fails(B2B_REGISTER_APPEND, "alice\ns3cret\n", WARREN_EPROTO,
	    B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_LOGIN, "alice\ns3cret\n", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(B2B_KEEP_ALIVE, "", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGOUT, "alice\n", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(B2B_BROWSE_PEER, "", WARREN_EPROTO, B2B_R_MALFORMED);

	/* Too many lines. */
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n42\n10.0.0.1\n3000\nx\n",
	    WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n42\n10.0.0.1\n3000\n\n",
	    WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_KEEP_ALIVE, "42\n43\n", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_KEEP_ALIVE, "42\n\n", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGOUT, "alice\ns3cret\n42\n42\n", WARREN_EPROTO,
	    B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_SHOW_PEERS, "all\n0\n0\n", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_BROWSE_PEER, "5\n0\n0\n", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_SEARCH_FILE, "hello\nworld\n", WARREN_EPROTO, B2B_R_MALFORMED);
	assert_req_fails(B2B_DOWNLOAD_FILE, SHA1_H "\n" SHA1_H "\n",
	    WARREN_EPROTO, B2B_R_MALFORMED);

	/* Bad fields. */
	assert_req_fails(
	    B2B_REGISTER, "\ns3cret\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_REGISTER, "alice\n\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_REGISTER, "al ice\ns3cret\n", WARREN_EFIELD, B2B_R_MALFORMED);
	memset(buf, 'u', 65);
	strcpy(buf + 65, "\ns3cret\n");
	assert_req_fails(B2B_REGISTER, buf, WARREN_EFIELD, B2B_R_MALFORMED);
	buf[1] = '\n';
	buf[2] = '\0';
	memset(buf + 2, 'p', 129);
	strcpy(buf + 131, "\n");
	assert_req_fails(B2B_REGISTER, buf, WARREN_EFIELD, B2B_R_MALFORMED);
	buf[130] = '\n';
	buf[131] = '\0';
	assert_req_ok(B2B_REGISTER, buf); /* 128-byte password */
	assert_req_fails(
	    B2B_LOGIN, "alice\ns3cret\n042\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_LOGIN, "alice\ns3cret\n0\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n2147483648\n",
	    WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_ok(B2B_LOGIN, "alice\ns3cret\n2147483647\n");
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n42\n0.0.0.0\n",
	    WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n42\n224.0.0.5\n",
	    WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n42\n::\n", WARREN_EFIELD,
	    B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n42\n\n3000\n",
	    WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n42\n10.0.0.1\n0\n",
	    WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(B2B_LOGIN, "alice\ns3cret\n42\n10.0.0.1\n65536\n",
	    WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(B2B_KEEP_ALIVE, "x\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_KEEP_ALIVE, " 42\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_LOGOUT, "alice\ns3cret\n0\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(B2B_REGISTER_UPDATE, "alice\ns3cret\nx\n",
	    WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_BROWSE_PEER, "0\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_BROWSE_PEER, "5\n-1\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_SHOW_PEERS, "all\nx\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(
	    B2B_SHOW_PEERS, "all\n\n", WARREN_EFIELD, B2B_R_MALFORMED);

	/* bad filter, empty query, too many words, bad sha1. */
	assert_req_fails(
	    B2B_SHOW_PEERS, "Online\n", WARREN_EFIELD, B2B_R_BAD_FILTER);
	assert_req_fails(
	    B2B_SHOW_PEERS, "everyone\n", WARREN_EFIELD, B2B_R_BAD_FILTER);
	assert_req_fails(B2B_SEARCH_FILE, "", WARREN_EEMPTY, B2B_R_EMPTY_QUERY);
	assert_req_fails(
	    B2B_SEARCH_FILE, "\n", WARREN_EEMPTY, B2B_R_EMPTY_QUERY);
	assert_req_fails(
	    B2B_SEARCH_FILE, " \t \n", WARREN_EEMPTY, B2B_R_EMPTY_QUERY);
	assert_req_fails(B2B_SEARCH_FILE,
	    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 "
	    "26 27 28 29 30 31 32 33\n",
	    WARREN_ELIMIT, B2B_R_TOO_MANY_WORDS);
	memset(buf, 'w', 256);
	strcpy(buf + 256, "\n");
	assert_req_fails(
	    B2B_SEARCH_FILE, buf, WARREN_ETOOLONG, B2B_R_MALFORMED);
	buf[255] = '\n';
	buf[256] = '\0';
	assert_req_ok(B2B_SEARCH_FILE, buf);
	assert_req_fails(
	    B2B_SEARCH_FILE, "a\x01z\n", WARREN_EFIELD, B2B_R_MALFORMED);
	assert_req_fails(B2B_DOWNLOAD_FILE, "", WARREN_EFIELD, B2B_R_BAD_SHA1);
	assert_req_fails(
	    B2B_DOWNLOAD_FILE, "\n", WARREN_EFIELD, B2B_R_BAD_SHA1);
	assert_req_fails(
	    B2B_DOWNLOAD_FILE, MD5_H "\n", WARREN_EFIELD, B2B_R_BAD_SHA1);
	assert_req_fails(
	    B2B_DOWNLOAD_FILE, SHA1_H "0\n", WARREN_EFIELD, B2B_R_BAD_SHA1);
	assert_req_fails(B2B_DOWNLOAD_FILE,
	    "z2596363b3de40b06f981fb85d82312e8c0ed511\n", WARREN_EFIELD,
	    B2B_R_BAD_SHA1);

	/* bad encoding: the payload is not UTF-8 (§7), in any field. */
	assert_req_fails(B2B_REGISTER, "al\xe9\ns3cret\n", WARREN_EFIELD,
	    B2B_R_BAD_ENCODING);
	assert_req_fails(B2B_LOGIN, "alice\ns3\xc0\xafret\n42\n", WARREN_EFIELD,
	    B2B_R_BAD_ENCODING);
	assert_req_fails(B2B_REGISTER,
	    "alice\ns3cret\nh\xe9llo|12|" SHA1_H "\n", WARREN_EFIELD,
	    B2B_R_BAD_ENCODING);
	assert_req_fails(
	    B2B_SEARCH_FILE, "caf\xe9\n", WARREN_EFIELD, B2B_R_BAD_ENCODING);
	assert_req_fails(B2B_SEARCH_FILE, "\xed\xa0\x80\n", WARREN_EFIELD,
	    B2B_R_BAD_ENCODING);
	assert_req_fails(
	    B2B_KEEP_ALIVE, "42\xff\n", WARREN_EFIELD, B2B_R_BAD_ENCODING);
	assert_req_ok(B2B_SEARCH_FILE, "caf\xc3\xa9\n");
	assert_req_ok(
	    B2B_REGISTER, "z\xc3\xab\ns3cret\nh\xc3\xa9llo|12|" SHA1_H);
}

static void
test_requests_bad_file_line(void **state)
{
	static const struct {
		const char *payload;
		unsigned line;
	} t[] = {
	    {"alice\ns3cret\nhello.txt\n", 3},
	    {"alice\ns3cret\n\n", 3},
	    {"alice\ns3cret\nhello.txt|12|" SHA1_H "\n\n", 4},
	    {"alice\ns3cret\nhello.txt|12|" SHA1_H "\nbad|" SHA1_H "\n", 4},
	    {"alice\ns3cret\nhello.txt|12|" SHA1_H "\n" SHA1_H "|" MD5_H
	     "\nx|1|" SHA1_H "0\n",
		5},
	    {"alice\ns3cret\nhello.txt|-12|" SHA1_H "\n", 3},
	    {"alice\ns3cret\nsub/hello.txt|12|" SHA1_H "\n", 3},
	    {"alice\r\ns3cret\r\na|1|" SHA1_H "\r\nb|2|" SHA1_B "\r\n" SHA1_H
	     "|" MD5_H "x\r\n",
		5},
	};
	struct b2b_request r;
	struct b2b_file f;
	struct b2b_lines it;
	uint8_t buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(
		    parse_req(B2B_REGISTER, t[i].payload, &r), WARREN_EFIELD);
		assert_int_equal(r.reason, B2B_R_BAD_FILE_LINE);
		assert_int_equal(r.bad_line, t[i].line);
	}
	/* REGISTER_UPDATE and REGISTER_APPEND count the id line too. */
	assert_int_equal(
	    parse_req(B2B_REGISTER_UPDATE, "alice\ns3cret\n42\nnope\n", &r),
	    WARREN_EFIELD);
	assert_int_equal(r.reason, B2B_R_BAD_FILE_LINE);
	assert_int_equal(r.bad_line, 4);
	assert_int_equal(parse_req(B2B_REGISTER_APPEND,
			     "alice\ns3cret\n42\na|1|" SHA1_H "\nnope\n", &r),
	    WARREN_EFIELD);
	assert_int_equal(r.bad_line, 5);
	assert_int_equal(
	    b2b_encode_ko(B2B_REGISTER_APPEND, r.reason, r.bad_line, buf, 64),
	    4 + 34);
	assert_memory_equal(
	    buf, "\x22\x00\xd2\x00REGISTER_APPEND_KO\nbad file line 5", 38);

	/* b2b_file_next stops on a bad line and reports it again. */
	assert_int_equal(b2b_lines_init(&it,
			     guard("a|1|" SHA1_H "\nbad\nb|2|" SHA1_H, 93), 93),
	    0);
	assert_int_equal(b2b_file_next(&it, &f), 45);
	assert_int_equal(f.line, 1);
	assert_int_equal(b2b_file_next(&it, &f), WARREN_EFIELD);
	assert_int_equal(f.line, 2);
	assert_int_equal(b2b_file_next(&it, &f), WARREN_EFIELD);
	assert_int_equal(f.line, 2);
	assert_int_equal(it.n, 1);
}

/* Several lines for one sha1, annotations not next to their line: the
 * codec returns them all in order; the bookkeeping is the server's. */
static void
test_requests_file_order(void **state)
{
	struct b2b_request r;
	struct b2b_file f;
	enum b2b_file_kind kinds[8];
	unsigned n = 0;

	(void)state;
	assert_int_equal(
	    parse_req(B2B_REGISTER,
		"alice\ns3cret\n" SHA1_H "|" MD5_B "\n"
		"one|1|" SHA1_H "\n"
		"two|2|" SHA1_H "|" MD5_H "\n" SHA1_H "|" MD5_H "\n",
		&r),
	    0);
	assert_int_equal(r.nfiles, 2);
	assert_int_equal(r.nannots, 2);
	while (b2b_file_next(&r.files, &f) > 0)
		kinds[n++] = f.kind;
	assert_int_equal(n, 4);
	assert_int_equal(kinds[0], B2B_ANNOT);
	assert_int_equal(kinds[1], B2B_FILE3);
	assert_int_equal(kinds[2], B2B_FILE4);
	assert_int_equal(kinds[3], B2B_ANNOT);
}

static void
test_requests_too_big(void **state)
{
	struct b2b_request r;
	struct b2b_response p;
	char *big;

	(void)state;
	big = (char *)guard(NULL, B2B_PAYLOAD_MAX + 1);
	memset(big, 'a', B2B_PAYLOAD_MAX + 1);
	assert_int_equal(
	    b2b_request_parse(B2B_KEEP_ALIVE, big, B2B_PAYLOAD_MAX + 1, &r),
	    WARREN_ELENGTH);
	assert_int_equal(
	    b2b_response_parse(B2B_LOGIN, 102, big, B2B_PAYLOAD_MAX + 1, &p),
	    WARREN_ELENGTH);
	/* The largest payload: one huge line, refused as a user. */
	assert_int_equal(
	    b2b_request_parse(B2B_REGISTER, big, B2B_PAYLOAD_MAX, &r),
	    WARREN_EPROTO);
	big[100] = '\n';
	assert_int_equal(
	    b2b_request_parse(B2B_REGISTER, big, B2B_PAYLOAD_MAX, &r),
	    WARREN_EFIELD);
	assert_int_equal(r.reason, B2B_R_MALFORMED);
}

/* A REGISTER list split over REGISTER + REGISTER_APPEND frames (§4.11):
 * every file and its annotation end up in one frame, every frame fits. */
static void
test_register_batches(void **state)
{
	enum { NFILES = 2000 };
	uint8_t *buf = guard(NULL, B2B_FRAME_MAX);
	struct b2b_request req, r;
	struct b2b_out o;
	struct b2b_file f;
	char name[32];
	unsigned i = 0, got = 0, frames = 0;
	int rc, len;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.type = B2B_REGISTER;
	req.user = str("alice");
	req.pwd = str("s3cret");
	req.id = 42;
	while (i < NFILES) {
		assert_int_equal(
		    b2b_request_begin(&o, &req, buf, B2B_FRAME_MAX), 0);
		for (; i < NFILES; i++) {
			snprintf(name, sizeof(name), "file %u|x.bin", i);
			rc = b2b_out_file(&o, str(name), i, SHA1_H, MD5_H);
			if (rc == WARREN_ESPACE)
				break;
			assert_true(rc > 0);
		}
		len = b2b_out_end(&o);
		assert_true(len <= B2B_FRAME_MAX);
		frames++;
		assert_int_equal(
		    parse_req_n(req.type, buf + 4, (size_t)len - 4, &r), 0);
		assert_int_equal(r.nfiles, r.nannots);
		while (b2b_file_next(&r.files, &f) > 0)
			if (f.kind == B2B_FILE3) {
				snprintf(
				    name, sizeof(name), "file %u|x.bin", got);
				assert_view(f.name, name);
				assert_true(f.size == got);
				got++;
			}
		/* Less than one more pair would have fitted. */
		if (i < NFILES)
			assert_true(B2B_FRAME_MAX - len < 150);
		req.type = B2B_REGISTER_APPEND;
	}
	assert_int_equal(got, NFILES);
	assert_true(frames >= 3);
}

static void
test_request_encode_refusals(void **state)
{
	struct b2b_request q;
	struct b2b_out o;
	uint8_t buf[128];
	size_t before;

	(void)state;
#define RESET(ty)                                                              \
	do {                                                                   \
		memset(&q, 0, sizeof(q));                                      \
		q.type = (ty);                                                 \
		q.user = str("alice");                                         \
		q.pwd = str("s3cret");                                         \
		q.id = 42;                                                     \
	} while (0)
	RESET(0);
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EKIND);
	RESET(103);
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EKIND);
	RESET(B2B_REGISTER);
	q.user = str("a b");
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	q.user = str("");
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EEMPTY);
	RESET(B2B_LOGIN);
	q.port = 3000; /* a port without an ip */
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	q.addr.family = AF_INET; /* 0.0.0.0 */
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	RESET(B2B_KEEP_ALIVE);
	q.id = 0;
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	q.id = 2147483648U;
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	RESET(B2B_LOGOUT);
	q.id = 2147483648U;
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	RESET(B2B_SHOW_PEERS);
	q.filter = (enum b2b_filter)3;
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	RESET(B2B_SEARCH_FILE);
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EEMPTY);
	q.query = str("  ");
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EEMPTY);
	q.query = str("a\nb");
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	q.query = str("caf\xe9");
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	q.query = str(
	    "a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 "
	    "4 5 6 7");
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_ELIMIT);
	RESET(B2B_DOWNLOAD_FILE);
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);
	memcpy(q.sha1, MD5_H, 33);
	assert_int_equal(
	    b2b_request_encode(&q, buf, sizeof(buf)), WARREN_EFIELD);

	/* Files: bad fields, wrong frame, all or nothing. */
	RESET(B2B_REGISTER);
	assert_int_equal(b2b_request_begin(&o, &q, buf, sizeof(buf)), 0);
	before = o.len;
	assert_int_equal(
	    b2b_out_file(&o, str("a/b"), 1, SHA1_H, NULL), WARREN_EFIELD);
	assert_int_equal(
	    b2b_out_file(&o, str(""), 1, SHA1_H, NULL), WARREN_EEMPTY);
	assert_int_equal(
	    b2b_out_file(&o, str("a"), 1, MD5_H, NULL), WARREN_EFIELD);
	assert_int_equal(
	    b2b_out_file(&o, str("a"), 1, SHA1_H, SHA1_H), WARREN_EFIELD);
	assert_int_equal(b2b_out_file(&o, str("a"), 1ULL << 63, SHA1_H, NULL),
	    WARREN_EFIELD);
	assert_int_equal(
	    b2b_out_file(&o, str("a"), 1, NULL, NULL), WARREN_EFIELD);
	assert_int_equal(o.len, before);
	assert_int_equal(b2b_out_file(&o, str("a"), 1, SHA1_H, NULL), 45);
	/* 128 - 4 - 13 - 45 = 66 bytes left: a pair (45 + 74) does not fit. */
	before = o.len;
	assert_int_equal(
	    b2b_out_file(&o, str("b"), 2, SHA1_H, MD5_H), WARREN_ESPACE);
	assert_int_equal(o.len, before);
	assert_int_equal(b2b_out_end(&o), 4 + 13 + 45);
	RESET(B2B_LOGIN);
	assert_int_equal(b2b_request_begin(&o, &q, buf, sizeof(buf)), 0);
	assert_int_equal(
	    b2b_out_file(&o, str("a"), 1, SHA1_H, NULL), WARREN_EKIND);
	assert_int_equal(b2b_request_begin(&o, &q, buf, 3), WARREN_ESPACE);
	assert_int_equal(b2b_out_end(&o), WARREN_ESPACE);
#undef RESET
}

/* ------------------------------------------------ server responses */

static void
test_ko_reasons(void **state)
{
	static const struct {
		uint16_t req;
		enum b2b_reason reason;
		unsigned line;
		uint16_t type;
		const char *payload;
	} t[] = {
	    {1, B2B_R_MALFORMED, 0, 201, "REGISTER_KO\nmalformed request"},
	    {1, B2B_R_BAD_FILE_LINE, 3, 201, "REGISTER_KO\nbad file line 3"},
	    {1, B2B_R_USER_TAKEN, 0, 201, "REGISTER_KO\nuser name taken"},
	    {1, B2B_R_TOO_MANY_FILES, 0, 201, "REGISTER_KO\ntoo many files"},
	    {1, B2B_R_SERVER_FULL, 0, 201, "REGISTER_KO\nserver full"},
	    {1, B2B_R_BAD_ENCODING, 0, 201, "REGISTER_KO\nbad encoding"},
	    {2, B2B_R_BAD_CREDENTIALS, 0, 202,
		"LOGIN_KO\nbad user or password"},
	    {2, B2B_R_UNKNOWN_ID, 0, 202, "LOGIN_KO\nunknown id"},
	    {2, B2B_R_MALFORMED, 0, 202, "LOGIN_KO\nmalformed request"},
	    {3, B2B_R_NOT_LOGGED_IN, 0, 203, "KEEP_ALIVE_KO\nnot logged in"},
	    {4, B2B_R_BAD_CREDENTIALS, 0, 203,
		"LOGOUT_KO\nbad user or password"},
	    {4, B2B_R_UNKNOWN_ID, 0, 203, "LOGOUT_KO\nunknown id"},
	    {4, B2B_R_MALFORMED, 0, 203, "LOGOUT_KO\nmalformed request"},
	    {5, B2B_R_BAD_FILTER, 0, 205, "SHOW_PEERS_KO\nbad filter"},
	    {6, B2B_R_UNKNOWN_PEER, 0, 206, "BROWSE_PEER_KO\nunknown peer"},
	    {6, B2B_R_MALFORMED, 0, 206, "BROWSE_PEER_KO\nmalformed request"},
	    {7, B2B_R_EMPTY_QUERY, 0, 207, "SEARCH_FILE_KO\nempty query"},
	    {7, B2B_R_TOO_MANY_WORDS, 0, 207, "SEARCH_FILE_KO\ntoo many words"},
	    {7, B2B_R_MALFORMED, 0, 207, "SEARCH_FILE_KO\nmalformed request"},
	    {8, B2B_R_BAD_SHA1, 0, 208, "DOWNLOAD_FILE_KO\nbad sha1"},
	    {9, B2B_R_BAD_CREDENTIALS, 0, 209,
		"REGISTER_UPDATE_KO\nbad user or password"},
	    {9, B2B_R_UNKNOWN_ID, 0, 209, "REGISTER_UPDATE_KO\nunknown id"},
	    {9, B2B_R_BAD_FILE_LINE, 4294967295U, 209,
		"REGISTER_UPDATE_KO\nbad file line 4294967295"},
	    {9, B2B_R_TOO_MANY_FILES, 0, 209,
		"REGISTER_UPDATE_KO\ntoo many files"},
	    {10, B2B_R_TOO_MANY_FILES, 0, 210,
		"REGISTER_APPEND_KO\ntoo many files"},
	};
	uint8_t want[128], buf[128];
	struct b2b_response r;
	size_t i, n, cap;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = frame(t[i].type, t[i].payload, strlen(t[i].payload), want);
		assert_int_equal(b2b_encode_ko(t[i].req, t[i].reason, t[i].line,
				     buf, sizeof(buf)),
		    (int)n);
		assert_memory_equal(buf, want, n);
		assert_true(n - 4 - strlen(b2b_request_name(t[i].req)) - 4 <=
		    B2B_REASON_MAX);
		assert_int_equal(
		    parse_resp(t[i].req, t[i].type, t[i].payload, &r), 0);
		assert_false(r.ok);
		assert_int_equal(r.reason.len,
		    strlen(t[i].payload) -
			(size_t)(strchr(t[i].payload, '\n') - t[i].payload) -
			1);
		for (cap = 0; cap < n; cap++)
			assert_int_equal(b2b_encode_ko(t[i].req, t[i].reason,
					     t[i].line, guard(NULL, cap), cap),
			    WARREN_ESPACE);
	}
	assert_int_equal(b2b_encode_ko(0, B2B_R_MALFORMED, 0, buf, sizeof(buf)),
	    WARREN_EKIND);
	assert_int_equal(
	    b2b_encode_ko(1, B2B_R_NONE, 0, buf, sizeof(buf)), WARREN_EFIELD);
	assert_int_equal(
	    b2b_encode_ko(1, B2B_R_COUNT, 0, buf, sizeof(buf)), WARREN_EFIELD);
}

static void
test_ok_responses(void **state)
{
	uint8_t buf[64];

	(void)state;
	assert_int_equal(b2b_encode_ok(B2B_LOGIN, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "\x08\x00\x66\x00LOGIN_OK", 12);
	assert_int_equal(b2b_encode_ok(B2B_LOGOUT, buf, sizeof(buf)), 13);
	assert_memory_equal(buf, "\x09\x00\x67\x00LOGOUT_OK", 13);
	assert_int_equal(b2b_encode_ok(B2B_REGISTER, buf, 64), WARREN_EKIND);
	assert_int_equal(b2b_encode_ok(B2B_SEARCH_FILE, buf, 64), WARREN_EKIND);
	assert_int_equal(
	    b2b_encode_ok_id(B2B_REGISTER_UPDATE, 2147483647, buf, 64), 33);
	assert_memory_equal(
	    buf, "\x1d\x00\x6d\x00REGISTER_UPDATE_OK\n2147483647", 33);
	assert_int_equal(b2b_encode_ok_id(B2B_REGISTER_APPEND, 1, buf, 64), 24);
	assert_memory_equal(buf, "\x14\x00\x6e\x00REGISTER_APPEND_OK\n1", 24);
	assert_int_equal(
	    b2b_encode_ok_id(B2B_REGISTER, 0, buf, 64), WARREN_EFIELD);
	assert_int_equal(b2b_encode_ok_id(B2B_REGISTER, 2147483648U, buf, 64),
	    WARREN_EFIELD);
	assert_int_equal(b2b_encode_ok_id(B2B_LOGIN, 1, buf, 64), WARREN_EKIND);
}

static void
test_record_responses(void **state)
{
	uint8_t buf[512];
	struct b2b_out o;
	struct b2b_peer p;
	struct b2b_file f;
	struct b2b_hit h;
	struct b2b_response r;
	int len;

	(void)state;
	memset(&h, 0, sizeof(h));
	/* SHOW_PEERS_OK: online, and never logged in (empty ip and port). */
	assert_int_equal(
	    b2b_response_begin(&o, B2B_SHOW_PEERS, buf, sizeof(buf)), 0);
	memset(&p, 0, sizeof(p));
	p.user_id = 42;
	p.user = str("alice");
	p.online = 1;
	p.addr = addr("192.168.1.10");
	p.port = 3000;
	assert_int_equal(b2b_out_peer(&o, &p), 34);
	memset(&p, 0, sizeof(p));
	p.user_id = 43;
	p.user = str("bob");
	assert_int_equal(b2b_out_peer(&o, &p), 17);
	len = b2b_out_end(&o);
	assert_int_equal(len, 4 + 14 + 34 + 17);
	assert_memory_equal(buf,
	    "\x41\x00\x69\x00SHOW_PEERS_OK\n42\nalice\nonline\n192.168.1."
	    "10\n3000\n"
	    "43\nbob\noffline\n\n\n",
	    (size_t)len);
	assert_int_equal(
	    b2b_response_parse(B2B_SHOW_PEERS, 105,
		guard(buf + 4, (size_t)len - 4), (size_t)len - 4, &r),
	    0);
	assert_int_equal(b2b_response_next_peer(&r, &p), 34);
	assert_int_equal(p.user_id, 42);
	assert_view(p.user, "alice");
	assert_true(p.online);
	assert_int_equal(p.addr.family, AF_INET);
	assert_int_equal(p.port, 3000);
	assert_int_equal(b2b_response_next_peer(&r, &p), 17);
	assert_int_equal(p.user_id, 43);
	assert_false(p.online);
	assert_int_equal(p.addr.family, 0);
	assert_int_equal(p.port, 0);
	assert_int_equal(b2b_response_next_peer(&r, &p), 0);
	assert_int_equal(r.dropped, 0);
	assert_int_equal(b2b_response_next_hit(&r, &h), WARREN_EKIND);

	/* SHOW_PEERS_OK with no record. */
	assert_int_equal(
	    b2b_response_begin(&o, B2B_SHOW_PEERS, buf, sizeof(buf)), 0);
	assert_int_equal(b2b_out_end(&o), 4 + 14);
	assert_memory_equal(buf + 4, "SHOW_PEERS_OK\n", 14);

	/* BROWSE_PEER_OK. */
	assert_int_equal(
	    b2b_response_begin(&o, B2B_BROWSE_PEER, buf, sizeof(buf)), 0);
	memset(&f, 0, sizeof(f));
	f.name = str("a|b.txt");
	f.size = 0;
	memcpy(f.sha1, SHA1_U, 41);
	assert_int_equal(b2b_out_entry(&o, &f), 8 + 2 + 41);
	assert_int_equal(b2b_out_peer(&o, &p), WARREN_EKIND);
	assert_int_equal(b2b_out_hit(&o, &h), WARREN_EKIND);
	len = b2b_out_end(&o);
	assert_memory_equal(buf + 4, "BROWSE_PEER_OK\na|b.txt\n0\n" SHA1_H "\n",
	    (size_t)len - 4);
	assert_int_equal(
	    b2b_response_parse(B2B_BROWSE_PEER, 106,
		guard(buf + 4, (size_t)len - 4), (size_t)len - 4, &r),
	    0);
	assert_int_equal(b2b_response_next_entry(&r, &f), 51);
	assert_view(f.name, "a|b.txt");
	assert_true(f.size == 0);
	assert_string_equal(f.sha1, SHA1_H);
	assert_int_equal(f.line, 2);
	assert_int_equal(b2b_response_next_entry(&r, &f), 0);

	/* DOWNLOAD_FILE_OK: a holder without md5 gets an empty line. */
	assert_int_equal(
	    b2b_response_begin(&o, B2B_DOWNLOAD_FILE, buf, sizeof(buf)), 0);
	h = example_hit();
	h.md5[0] = '\0';
	h.addr = addr("fd00::10");
	h.port = 6000;
	assert_int_equal(b2b_out_hit(&o, &h), 10 + 3 + 41 + 6 + 3 + 9 + 5 + 1);
	assert_int_equal(b2b_out_entry(&o, &f), WARREN_EKIND);
	len = b2b_out_end(&o);
	assert_memory_equal(buf + 4,
	    "DOWNLOAD_FILE_OK\nhello.txt\n12\n" SHA1_H
	    "\nalice\n42\nfd00::10\n6000\n\n",
	    (size_t)len - 4);
	assert_int_equal(
	    b2b_response_parse(B2B_DOWNLOAD_FILE, 108,
		guard(buf + 4, (size_t)len - 4), (size_t)len - 4, &r),
	    0);
	assert_int_equal(b2b_response_next_hit(&r, &h), 78);
	assert_string_equal(h.md5, "");
	assert_int_equal(h.addr.family, AF_INET6);
	assert_int_equal(h.port, 6000);

	/* Encoder refusals: what a client would drop is never sent. */
	assert_int_equal(
	    b2b_response_begin(&o, B2B_SEARCH_FILE, buf, sizeof(buf)), 0);
	h = example_hit();
	h.addr.family = 0;
	assert_int_equal(b2b_out_hit(&o, &h), WARREN_EFIELD);
	h = example_hit();
	h.port = 0;
	assert_int_equal(b2b_out_hit(&o, &h), WARREN_EFIELD);
	h = example_hit();
	h.user_id = 0;
	assert_int_equal(b2b_out_hit(&o, &h), WARREN_EFIELD);
	h = example_hit();
	h.name = str("a\nb");
	assert_int_equal(b2b_out_hit(&o, &h), WARREN_EFIELD);
	h = example_hit();
	h.sha1[0] = 'x';
	assert_int_equal(b2b_out_hit(&o, &h), WARREN_EFIELD);
	assert_int_equal(b2b_out_end(&o), 4 + 15);
	assert_int_equal(
	    b2b_response_begin(&o, B2B_DOWNLOAD_FILE, buf, sizeof(buf)), 0);
	h = example_hit();
	h.md5[3] = 'x';
	assert_int_equal(b2b_out_hit(&o, &h), WARREN_EFIELD);
	assert_int_equal(
	    b2b_response_begin(&o, B2B_SHOW_PEERS, buf, sizeof(buf)), 0);
	memset(&p, 0, sizeof(p));
	p.user_id = 1;
	p.user = str("a b");
	assert_int_equal(b2b_out_peer(&o, &p), WARREN_EFIELD);
	p.user = str("ab");
	p.addr.family = AF_INET; /* 0.0.0.0 */
	assert_int_equal(b2b_out_peer(&o, &p), WARREN_EFIELD);
	assert_int_equal(
	    b2b_response_begin(&o, B2B_LOGIN, buf, sizeof(buf)), WARREN_EKIND);
	assert_int_equal(
	    b2b_response_begin(&o, B2B_SHOW_PEERS, buf, 17), WARREN_ESPACE);

	/* Generic lines. */
	assert_int_equal(
	    b2b_response_begin(&o, B2B_SHOW_PEERS, buf, sizeof(buf)), 0);
	assert_int_equal(b2b_out_line(&o, "x", 1), 2);
	assert_int_equal(b2b_out_line(&o, "", 0), 1);
	assert_int_equal(b2b_out_line(&o, "a\nb", 3), WARREN_EFIELD);
	assert_int_equal(b2b_out_line(&o, "a\r", 2), WARREN_EFIELD);
	assert_int_equal(b2b_out_end(&o), 4 + 14 + 3);
}

/* A response is cut at a record boundary, never past 65 535 bytes. */
static void
test_response_paging(void **state)
{
	uint8_t *buf = guard(NULL, B2B_FRAME_MAX + 100);
	struct b2b_response r;
	struct b2b_out o;
	struct b2b_hit h = example_hit();
	unsigned n = 0, back = 0;
	size_t before;
	int rc, len;

	(void)state;
	assert_int_equal(
	    b2b_response_begin(&o, B2B_DOWNLOAD_FILE, buf, B2B_FRAME_MAX + 100),
	    0);
	assert_int_equal(o.cap, B2B_FRAME_MAX);
	for (;;) {
		before = o.len;
		rc = b2b_out_hit(&o, &h);
		if (rc == WARREN_ESPACE) {
			assert_int_equal(o.len, before);
			break;
		}
		assert_int_equal(rc, 114);
		n++;
	}
	len = b2b_out_end(&o);
	assert_int_equal(n, (B2B_PAYLOAD_MAX - 17) / 114);
	assert_int_equal(len, 4 + 17 + 114 * n);
	assert_true(len <= B2B_FRAME_MAX);
	assert_int_equal(b2b_response_parse(B2B_DOWNLOAD_FILE, 108, buf + 4,
			     (size_t)len - 4, &r),
	    0);
	while ((rc = b2b_response_next_hit(&r, &h)) > 0)
		back++;
	assert_int_equal(rc, 0);
	assert_int_equal(back, n);
	assert_int_equal(r.dropped, 0);
}

/* ------------------------------------------------- client responses */

static void
test_response_codes(void **state)
{
	struct b2b_response r;
	struct b2b_hit h;

	(void)state;
	/* Success is the type code, whatever the text (§2). */
	assert_int_equal(parse_resp(B2B_LOGIN, 102, "WHATEVER", &r), 0);
	assert_true(r.ok);
	assert_int_equal(
	    parse_resp(B2B_LOGIN, 202, "LOGIN_KO_BAD_USER_OR_PWD", &r), 0);
	assert_false(r.ok);
	assert_view(r.name, "LOGIN_KO_BAD_USER_OR_PWD");
	assert_view(r.reason, "");
	assert_int_equal(parse_resp(B2B_LOGIN, 202, "", &r), 0);
	assert_false(r.ok);
	assert_int_equal(parse_resp(B2B_LOGIN, 202,
			     "LOGIN_KO\r\nbad user or password\r\n", &r),
	    0);
	assert_view(r.reason, "bad user or password");
	assert_int_equal(parse_resp(B2B_REGISTER, 101, "OK\n7\n", &r), 0);
	assert_int_equal(r.id, 7);
	assert_int_equal(
	    parse_resp(B2B_REGISTER_UPDATE, 109, "REGISTER_UPDATE_OK\r\n9", &r),
	    0);
	assert_int_equal(r.id, 9);
	assert_int_equal(parse_resp(B2B_REGISTER_APPEND, 110,
			     "REGISTER_APPEND_OK\n2147483647", &r),
	    0);
	assert_int_equal(r.id, 2147483647);
	/* An OK without a usable id. */
	assert_int_equal(
	    parse_resp(B2B_REGISTER, 101, "REGISTER_OK", &r), WARREN_EFIELD);
	assert_int_equal(
	    parse_resp(B2B_REGISTER, 101, "REGISTER_OK\n", &r), WARREN_EFIELD);
	assert_int_equal(
	    parse_resp(B2B_REGISTER, 101, "REGISTER_OK\n0", &r), WARREN_EFIELD);
	assert_int_equal(
	    parse_resp(B2B_REGISTER, 101, "REGISTER_OK\n2147483648", &r),
	    WARREN_EFIELD);
	assert_int_equal(parse_resp(B2B_REGISTER, 101, "REGISTER_OK\n042", &r),
	    WARREN_EFIELD);
	/* A type that is neither the OK nor the KO of the request. */
	assert_int_equal(
	    parse_resp(B2B_LOGIN, 101, "REGISTER_OK\n1", &r), WARREN_EPROTO);
	assert_int_equal(parse_resp(B2B_LOGIN, 2, "", &r), WARREN_EPROTO);
	assert_int_equal(
	    parse_resp(B2B_SHOW_PEERS, 104, "", &r), WARREN_EPROTO);
	assert_int_equal(parse_resp(B2B_KEEP_ALIVE, 103, "LOGOUT_OK", &r), 0);
	assert_int_equal(parse_resp(0, 102, "", &r), WARREN_EKIND);
	assert_int_equal(parse_resp(104, 103, "", &r), WARREN_EKIND);
	/* Records of a KO: none. */
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, 207, "SEARCH_FILE_KO\nempty query", &r),
	    0);
	assert_int_equal(b2b_response_next_hit(&r, &h), WARREN_EKIND);
	/* No match is an OK with no records; the final LF is optional. */
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, 107, "SEARCH_FILE_OK\n", &r), 0);
	assert_int_equal(b2b_response_next_hit(&r, &h), 0);
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, 107, "SEARCH_FILE_OK", &r), 0);
	assert_int_equal(b2b_response_next_hit(&r, &h), 0);
	assert_int_equal(r.dropped, 0);
}

#define REC7(name, id, ip, port)                                               \
	name "\n12\n" SHA1_H "\nuser" #id "\n" #id "\n" ip "\n" port "\n"
#define REC6(name, id, ip)                                                     \
	name "\n12\n" SHA1_H "\nuser" #id "\n" #id "\n" ip "\n"

static void
test_search_tolerance(void **state)
{
	struct b2b_response r;
	struct b2b_hit h;
	uint32_t ids[8];
	uint16_t ports[8];
	unsigned n;
	int rc;

	(void)state;
	/* Seven-line records; an offline holder with ip None is dropped. */
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, 107,
		"SEARCH_FILE_OK\r\n" REC7("a", 1, "10.0.0.1", "3000")
		    REC7("b", 2, "None", "3000") REC7("c", 3, "::1", "4000"),
		&r),
	    0);
	assert_int_equal(r.layout, 7);
	for (n = 0; (rc = b2b_response_next_hit(&r, &h)) > 0; n++) {
		ids[n] = h.user_id;
		ports[n] = h.port;
	}
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 3);
	assert_int_equal(ports[1], 4000);
	assert_int_equal(r.dropped, 1);

	/* Six-line records from older servers: default peer port. */
	assert_int_equal(parse_resp(B2B_SEARCH_FILE, 107,
			     "SEARCH_FILE_OK\n" REC6("a", 1, "10.0.0.1")
				 REC6("b", 2, "None") REC6("c", 3, "10.0.0.3"),
			     &r),
	    0);
	assert_int_equal(r.layout, 6);
	r.default_port = 3001;
	for (n = 0; b2b_response_next_hit(&r, &h) > 0; n++) {
		ids[n] = h.user_id;
		ports[n] = h.port;
	}
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 3);
	assert_int_equal(ports[0], 3001);
	assert_int_equal(r.dropped, 1);
	/* 42 lines: six-line records still read as six (not seven). */
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, 107,
		"SEARCH_FILE_OK\n" REC6("a", 1, "10.0.0.1")
		    REC6("a", 2, "10.0.0.1") REC6("a", 3, "10.0.0.1")
			REC6("a", 4, "10.0.0.1") REC6("a", 5, "10.0.0.1")
			    REC6("a", 6, "10.0.0.1") REC6("a", 7, "10.0.0.1"),
		&r),
	    0);
	assert_int_equal(r.layout, 6);
	for (n = 0; b2b_response_next_hit(&r, &h) > 0; n++)
		assert_int_equal(h.user_id, n + 1);
	assert_int_equal(n, 7);
	/* And 42 lines of seven-line records as seven. */
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, 107,
		"SEARCH_FILE_OK\n" REC7("a", 1, "10.0.0.1", "1") REC7(
		    "a", 2, "10.0.0.1", "2") REC7("a", 3, "10.0.0.1", "3")
		    REC7("a", 4, "10.0.0.1", "4") REC7("a", 5, "10.0.0.1", "5")
			REC7("a", 6, "10.0.0.1", "6"),
		&r),
	    0);
	assert_int_equal(r.layout, 7);
	for (n = 0; b2b_response_next_hit(&r, &h) > 0; n++)
		assert_int_equal(h.port, n + 1);
	assert_int_equal(n, 6);

	/* A record with bad fields is dropped, the rest kept; an incomplete
	 * last record is dropped too. */
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, 107,
		"SEARCH_FILE_OK\n" REC7("a", 1, "10.0.0.1", "3000") REC7(
		    "b", 2, "10.0.0.2", "0") REC7("c/d", 3, "10.0.0.3", "3000")
		    REC7("e", 4, "10.0.0.4", "3000") "f\n12\n",
		&r),
	    0);
	assert_int_equal(r.layout, 7);
	for (n = 0; b2b_response_next_hit(&r, &h) > 0; n++)
		ids[n] = h.user_id;
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 4);
	assert_int_equal(r.dropped, 3);
	assert_int_equal(b2b_response_next_hit(&r, &h), 0);
	assert_int_equal(r.dropped, 3);

	/* Non-UTF-8 in a record (§7): dropped. */
	assert_int_equal(
	    parse_resp(B2B_SEARCH_FILE, 107,
		"SEARCH_FILE_OK\n" REC7("caf\xe9", 1, "10.0.0.1", "3000")
		    REC7("caf\xc3\xa9", 2, "10.0.0.1", "3000"),
		&r),
	    0);
	assert_int_equal(b2b_response_next_hit(&r, &h), 72);
	assert_int_equal(h.user_id, 2);
	assert_int_equal(r.dropped, 1);
}

static void
test_download_and_peers_tolerance(void **state)
{
	struct b2b_response r;
	struct b2b_hit h;
	struct b2b_peer p;
	struct b2b_file f;
	unsigned n;

	(void)state;
	assert_int_equal(
	    parse_resp(B2B_DOWNLOAD_FILE, 108,
		"DOWNLOAD_FILE_OK\n" REC7("a", 1, "10.0.0.1", "3000") MD5_U
		"\n" REC7("b", 2, "10.0.0.2", "3000") "nothex\n" REC7(
		    "c", 3, "10.0.0.3", "3000") "\n",
		&r),
	    0);
	assert_int_equal(b2b_response_next_hit(&r, &h), 68 + 33);
	assert_string_equal(h.md5, MD5_H);
	assert_int_equal(b2b_response_next_hit(&r, &h), 68 + 1);
	assert_int_equal(h.user_id, 3);
	assert_string_equal(h.md5, "");
	assert_int_equal(b2b_response_next_hit(&r, &h), 0);
	assert_int_equal(r.dropped, 1);

	assert_int_equal(parse_resp(B2B_SHOW_PEERS, 105,
			     "SHOW_PEERS_OK\n1\nann\nonline\n10.0.0.1\n3000\n"
			     "2\nbob\nasleep\n10.0.0.2\n3000\n"
			     "0\ncid\noffline\n\n\n"
			     "4\nd d\noffline\n\n\n"
			     "5\ndan\noffline\nNone\n\n"
			     "6\neve\noffline\n10.0.0.6\n\n"
			     "7\nfay\n",
			     &r),
	    0);
	for (n = 0; b2b_response_next_peer(&r, &p) > 0; n++)
		assert_int_equal(p.user_id, n == 0 ? 1 : 6);
	assert_int_equal(n, 2);
	assert_int_equal(r.dropped, 5);

	assert_int_equal(parse_resp(B2B_BROWSE_PEER, 106,
			     "BROWSE_PEER_OK\nx\n1\n" SHA1_H "\n"
			     "y\nbig\n" SHA1_H "\n"
			     "z\n3\n" SHA1_U "\n",
			     &r),
	    0);
	assert_int_equal(b2b_response_next_entry(&r, &f), 45);
	assert_view(f.name, "x");
	assert_int_equal(b2b_response_next_entry(&r, &f), 45);
	assert_view(f.name, "z");
	assert_string_equal(f.sha1, SHA1_H);
	assert_int_equal(f.line, 8);
	assert_int_equal(b2b_response_next_entry(&r, &f), 0);
	assert_int_equal(r.dropped, 1);
}

int
main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown_blocks)
	const struct CMUnitTest tests[] = {
	    T(test_codes),
	    T(test_frame_header),
	    T(test_frame_bytewise),
	    T(test_lines),
	    T(test_lines_limits),
	    T(test_utf8),
	    T(test_user_pwd),
	    T(test_filename),
	    T(test_numbers),
	    T(test_hashes),
	    T(test_ip),
	    T(test_words),
	    T(test_file_lines),
	    T(test_file_name_limits),
	    T(test_example_register),
	    T(test_example_register_replies),
	    T(test_examples_encode),
	    T(test_examples_decode),
	    T(test_examples_too_small),
	    T(test_requests_roundtrip),
	    T(test_requests_tolerated),
	    T(test_requests_malformed),
	    T(test_requests_bad_file_line),
	    T(test_requests_file_order),
	    T(test_requests_too_big),
	    T(test_register_batches),
	    T(test_request_encode_refusals),
	    T(test_ko_reasons),
	    T(test_ok_responses),
	    T(test_record_responses),
	    T(test_response_paging),
	    T(test_response_codes),
	    T(test_search_tolerance),
	    T(test_download_and_peers_tolerance),
	};

#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
