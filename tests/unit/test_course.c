/*
 * test_course.c: unit tests of the course protocol codec (src/wire/course.c)
 * against course.md: every worked example of §10 byte for byte, round
 * trips, prefixes, bad and tolerated fields, and the streaming parsers.
 * Every input is copied into a buffer of exactly its length so that
 * AddressSanitizer catches a read past its end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/course.h"

/* ------------------------------------------------------------ fixtures */

#define SP10 "          "
#define SP14 SP10 "    "
#define SP15 SP10 "     "
#define SP83 SP10 SP10 SP10 SP10 SP10 SP10 SP10 SP10 "   "

#define IP_P1    "192.168.001.010|fd00:0000:0000:0000:0000:0000:0000:0010"
#define IP_P2    "010.000.000.002|2001:0db8:0000:0000:0000:0000:0000:0002"
#define IP_S     "172.016.001.001|fc00:0000:0000:0000:0000:0000:0001:0001"
#define IP_S2    "172.016.001.002|fc00:0000:0000:0000:0000:0000:0001:0002"
#define SESS     "7C1E0A93D2F4B658"
#define NULLSESS "0000000000000000"
#define PK1      "3F2A9C04B7D1E856"
#define PK2      "C2D7E4190A6B35F8"
#define PK3      "9B0E51C7A2D4F360"
#define MD5_A    "0f53217fc7c8e7f89e8a8558e64a7083"
#define MD5_H    "e2c78d5e95c4fc1ec8841be424e905d6"
#define NAME_A   "Annual_Report.pdf"
#define NAME_H   "Holiday_Video.mp4"

#define AFIN457                                                                \
	"AFIN002" MD5_A NAME_A SP83 "001" IP_P2 "06000" MD5_H NAME_H SP83      \
	"002" IP_P2 "06000" IP_P1 "03000"
#define AFIN262 "AFIN001" MD5_H NAME_H SP83 "002" IP_P2 "06000" IP_S2 "03000"

#define SHA_0 "c76f3560f00dcfa97faaaf16b9a830f1cfc1c055"
#define SHA_1 "cecb13e609ccb9d723615d38598b0cb571867617"
#define SHA_2 "db809f27f443d528c946d82bd95b231cbd27c90a"
#define AHAS148                                                                \
	"AHAS"                                                                 \
	"0000600000"                                                           \
	"262144"                                                               \
	"00000003" SHA_0 SHA_1 SHA_2

static const struct course_peer P1 = {{192, 168, 1, 10},
    {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}, 3000};
static const struct course_peer P2 = {{10, 0, 0, 2},
    {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02}, 6000};
static const struct course_peer S = {
    {172, 16, 1, 1}, {0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}, 3000};
static const struct course_peer S2 = {
    {172, 16, 1, 2}, {0xfc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2}, 3000};

/* A copy of p[0:n) in a heap block of exactly n bytes (ASan guard). */
static uint8_t *
guard(const void *p, size_t n)
{
	uint8_t *b = malloc(n > 0 ? n : 1);

	assert_non_null(b);
	if (n > 0)
		memcpy(b, p, n);
	return b;
}

static struct course_str
str(const char *s)
{
	return (struct course_str){s, s != NULL ? strlen(s) : 0};
}

static void
assert_view(struct course_str v, const char *expect)
{
	assert_int_equal(v.len, strlen(expect));
	if (v.len > 0)
		assert_memory_equal(v.ptr, expect, v.len);
}

/* The copy the views of the last decode_guarded() point into. */
static uint8_t *last_input;

/*
 * course_decode() on an exact-size copy, kept until the next call so that
 * the views in *m stay valid.
 */
static int
decode_guarded(const void *p, size_t n, struct course_msg *m)
{
	free(last_input);
	last_input = guard(p, n);
	return course_decode(last_input, n, m);
}

static int
teardown_input(void **state)
{
	(void)state;
	free(last_input);
	last_input = NULL;
	return 0;
}

/* ------------------------------------------------ fixed-length examples */

/* One worked example of §10, with the fields it carries. */
struct example {
	const char *label;
	const char *wire;
	size_t len; /* as printed in the spec */
	enum course_kind kind;
	const char *pktid;
	const char *session;
	const struct course_peer *peer;
	unsigned ttl;
	const char *md5;
	const char *name;
	const char *term;
	unsigned long count;
	unsigned long partnum;
};

static const struct example examples[] = {
    /* §10.1 */
    {"LOGI P1", "LOGI" IP_P1 "03000", 64, COURSE_LOGI, .peer = &P1},
    {"ALGI", "ALGI" SESS, 20, COURSE_ALGI, .session = SESS},
    {"ALGI refused", "ALGI" NULLSESS, 20, COURSE_ALGI, .session = NULLSESS},
    {"ADDF", "ADDF" SESS MD5_A NAME_A SP83, 152, COURSE_ADDF, .session = SESS,
	.md5 = MD5_A, .name = NAME_A},
    {"AADD 001", "AADD001", 7, COURSE_AADD, .count = 1},
    {"DELF", "DELF" SESS MD5_A, 52, COURSE_DELF, .session = SESS, .md5 = MD5_A},
    {"ADEL 000", "ADEL000", 7, COURSE_ADEL, .count = 0},
    {"ADEL 999", "ADEL999", 7, COURSE_ADEL, .count = 999},
    {"FIND report", "FIND" SESS "report" SP14, 40, COURSE_FIND, .session = SESS,
	.term = "report"},
    {"DREG", "DREG" SESS MD5_A, 52, COURSE_DREG, .session = SESS, .md5 = MD5_A},
    {"ADRE 00007", "ADRE00007", 9, COURSE_ADRE, .count = 7},
    {"LOGO", "LOGO" SESS, 20, COURSE_LOGO, .session = SESS},
    {"ALGO 002", "ALGO002", 7, COURSE_ALGO, .count = 2},
    /* §10.2 */
    {"NEAR P1 03",
	"NEAR" PK1 IP_P1 "03000"
	"03",
	82, COURSE_NEAR, .pktid = PK1, .peer = &P1, .ttl = 3},
    {"NEAR P1 02",
	"NEAR" PK1 IP_P1 "03000"
	"02",
	82, COURSE_NEAR, .pktid = PK1, .peer = &P1, .ttl = 2},
    {"ANEA P2", "ANEA" PK1 IP_P2 "06000", 80, COURSE_ANEA, .pktid = PK1,
	.peer = &P2},
    {"QUER P1 report",
	"QUER" PK2 IP_P1 "03000"
	"05"
	"report" SP14,
	102, COURSE_QUER, .pktid = PK2, .peer = &P1, .ttl = 5,
	.term = "report"},
    {"AQUE P2 annual", "AQUE" PK2 IP_P2 "06000" MD5_A NAME_A SP83, 212,
	COURSE_AQUE, .pktid = PK2, .peer = &P2, .md5 = MD5_A, .name = NAME_A},
    /* §10.3 */
    {"SUPE P1 04",
	"SUPE" PK1 IP_P1 "03000"
	"04",
	82, COURSE_SUPE, .pktid = PK1, .peer = &P1, .ttl = 4},
    {"ASUP S", "ASUP" PK1 IP_S "03000", 80, COURSE_ASUP, .pktid = PK1,
	.peer = &S},
    {"ADFF", "ADFF" SESS MD5_H NAME_H SP83, 152, COURSE_ADFF, .session = SESS,
	.md5 = MD5_H, .name = NAME_H},
    {"DEFF", "DEFF" SESS MD5_H, 52, COURSE_DEFF, .session = SESS, .md5 = MD5_H},
    {"FIND video", "FIND" SESS "video" SP15, 40, COURSE_FIND, .session = SESS,
	.term = "video"},
    {"QUER S video",
	"QUER" PK3 IP_S "03000"
	"05"
	"video" SP15,
	102, COURSE_QUER, .pktid = PK3, .peer = &S, .ttl = 5, .term = "video"},
    {"AQUE P2 holiday", "AQUE" PK3 IP_P2 "06000" MD5_H NAME_H SP83, 212,
	COURSE_AQUE, .pktid = PK3, .peer = &P2, .md5 = MD5_H, .name = NAME_H},
    {"ALGO 000", "ALGO000", 7, COURSE_ALGO, .count = 0},
    /* §10.4 and §10.5 */
    {"RETR", "RETR" MD5_A, 36, COURSE_RETR, .md5 = MD5_A},
    {"HASH", "HASH" MD5_H, 36, COURSE_HASH, .md5 = MD5_H},
    {"RETP 2", "RETP" MD5_H "00000002", 44, COURSE_RETP, .md5 = MD5_H,
	.partnum = 2},
};

#define NEXAMPLES (sizeof(examples) / sizeof(examples[0]))

static const struct example *
example(const char *label)
{
	size_t i;

	for (i = 0; i < NEXAMPLES; i++)
		if (strcmp(examples[i].label, label) == 0)
			return &examples[i];
	fail_msg("no example %s", label);
	return NULL;
}

static void
msg_from_example(const struct example *e, struct course_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->kind = e->kind;
	if (e->pktid != NULL)
		memcpy(m->pktid, e->pktid, COURSE_PKTID_LEN);
	if (e->session != NULL)
		memcpy(m->session, e->session, COURSE_SESSION_LEN);
	if (e->peer != NULL)
		m->peer = *e->peer;
	m->ttl = e->ttl;
	if (e->md5 != NULL)
		memcpy(m->md5, e->md5, COURSE_MD5_LEN + 1);
	m->name = str(e->name);
	m->term = str(e->term);
	m->count = e->count;
	m->partnum = e->partnum;
}

/* Every field of a decoded message against what the example says. */
static void
assert_msg_is(const struct course_msg *m, const struct example *e)
{
	static const char zero16[16];
	static const struct course_peer nopeer;

	assert_int_equal(m->kind, e->kind);
	assert_memory_equal(m->pktid, e->pktid ? e->pktid : zero16, 16);
	assert_memory_equal(m->session, e->session ? e->session : zero16, 16);
	assert_true(course_peer_equal(&m->peer, e->peer ? e->peer : &nopeer));
	assert_int_equal(m->ttl, e->ttl);
	assert_string_equal(m->md5, e->md5 ? e->md5 : "");
	assert_view(m->name, e->name ? e->name : "");
	assert_view(m->term, e->term ? e->term : "");
	assert_int_equal(m->count, e->count);
	assert_int_equal(m->partnum, e->partnum);
}

static void
test_kind_table(void **state)
{
	static const struct {
		const char *tag;
		enum course_kind kind;
		size_t len;
	} kinds[] = {
	    {"LOGI", COURSE_LOGI, 64},
	    {"ALGI", COURSE_ALGI, 20},
	    {"ADDF", COURSE_ADDF, 152},
	    {"AADD", COURSE_AADD, 7},
	    {"DELF", COURSE_DELF, 52},
	    {"ADEL", COURSE_ADEL, 7},
	    {"FIND", COURSE_FIND, 40},
	    {"AFIN", COURSE_AFIN, 0},
	    {"DREG", COURSE_DREG, 52},
	    {"ADRE", COURSE_ADRE, 9},
	    {"LOGO", COURSE_LOGO, 20},
	    {"ALGO", COURSE_ALGO, 7},
	    {"SUPE", COURSE_SUPE, 82},
	    {"ASUP", COURSE_ASUP, 80},
	    {"NEAR", COURSE_NEAR, 82},
	    {"ANEA", COURSE_ANEA, 80},
	    {"QUER", COURSE_QUER, 102},
	    {"AQUE", COURSE_AQUE, 212},
	    {"ADFF", COURSE_ADFF, 152},
	    {"DEFF", COURSE_DEFF, 52},
	    {"RETR", COURSE_RETR, 36},
	    {"ARET", COURSE_ARET, 0},
	    {"HASH", COURSE_HASH, 36},
	    {"AHAS", COURSE_AHAS, 0},
	    {"RETP", COURSE_RETP, 44},
	    {"AREP", COURSE_AREP, 0},
	};
	size_t i, longest = 0;

	(void)state;
	assert_int_equal(
	    sizeof(kinds) / sizeof(kinds[0]), COURSE_KIND_COUNT - 1);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		assert_int_equal(
		    course_kind_parse(kinds[i].tag), kinds[i].kind);
		assert_string_equal(
		    course_kind_name(kinds[i].kind), kinds[i].tag);
		assert_int_equal(course_kind_len(kinds[i].kind), kinds[i].len);
		if (kinds[i].len > longest)
			longest = kinds[i].len;
	}
	assert_int_equal(longest, COURSE_MSG_MAX);
	assert_int_equal(course_kind_parse("logi"), COURSE_NONE);
	assert_int_equal(course_kind_parse("XXXX"), COURSE_NONE);
	assert_int_equal(course_kind_parse("Sorr"), COURSE_NONE);
	assert_string_equal(course_kind_name(COURSE_NONE), "?");
	assert_string_equal(course_kind_name(COURSE_KIND_COUNT), "?");
	assert_int_equal(course_kind_len(COURSE_NONE), 0);
	assert_int_equal(course_kind_len(COURSE_KIND_COUNT), 0);
}

static void
test_examples_decode(void **state)
{
	struct course_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < NEXAMPLES; i++) {
		const struct example *e = &examples[i];

		print_message("decode %s\n", e->label);
		assert_int_equal(strlen(e->wire), e->len);
		assert_int_equal(course_kind_len(e->kind), e->len);
		assert_int_equal(
		    decode_guarded(e->wire, e->len, &m), (int)e->len);
		assert_msg_is(&m, e);
	}
}

static void
test_examples_encode(void **state)
{
	uint8_t out[COURSE_MSG_MAX];
	struct course_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < NEXAMPLES; i++) {
		const struct example *e = &examples[i];
		uint8_t *b;

		print_message("encode %s\n", e->label);
		msg_from_example(e, &m);
		memset(out, 'x', sizeof(out));
		assert_int_equal(
		    course_encode(&m, out, sizeof(out)), (int)e->len);
		assert_memory_equal(out, e->wire, e->len);
		/* Nothing added after the message (§2.2). */
		if (e->len < sizeof(out))
			assert_int_equal(out[e->len], 'x');
		/* Exactly the length fits; one byte less does not. */
		b = guard(out, e->len);
		assert_int_equal(course_encode(&m, b, e->len), (int)e->len);
		assert_int_equal(
		    course_encode(&m, b, e->len - 1), WARREN_ESPACE);
		free(b);
	}
}

static void
test_examples_prefix(void **state)
{
	struct course_msg m;
	size_t i, n;

	(void)state;
	for (i = 0; i < NEXAMPLES; i++) {
		const struct example *e = &examples[i];

		for (n = 0; n < e->len; n++) {
			assert_int_equal(decode_guarded(e->wire, n, &m), 0);
			if (course_kind_len(e->kind) != 0) {
				uint8_t *b = guard(e->wire, n);

				assert_int_equal(
				    course_decode_reply(e->kind, b, n, &m), 0);
				free(b);
			}
		}
	}
}

/*
 * Round trip with extreme values: encode, decode, compare fields, and the
 * canonical form is a fixed point.
 */
static void
test_roundtrip_fixed(void **state)
{
	static const char name100[] = "n123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "012345678z";
	static const char term20[] = "t123456789012345678z";
	uint8_t out[COURSE_MSG_MAX], again[COURSE_MSG_MAX];
	struct course_msg m, d;
	int k, n;

	(void)state;
	for (k = COURSE_NONE + 1; k < COURSE_KIND_COUNT; k++) {
		if (course_kind_len((enum course_kind)k) == 0)
			continue;
		memset(&m, 0, sizeof(m));
		m.kind = (enum course_kind)k;
		memcpy(m.pktid, "azAZ09azAZ09azAZ", 16);
		memcpy(m.session, "ZZZZ00009999zzzz", 16);
		memcpy(m.peer.v4, "\xff\x00\x7f\x80", 4);
		memcpy(m.peer.v6,
		    "\x20\x01\x0d\xb8\xff\xee\x00\x00\x12\x34"
		    "\x00\x01\xab\xcd\x00\x00",
		    16);
		m.peer.port = 65535;
		m.ttl = 99;
		memcpy(m.md5, "0123456789ABCDEFabcdef0123456789", 33);
		m.name = str(name100);
		m.term = str(term20);
		m.count = k == COURSE_ADRE ? 99999 : 999;
		m.partnum = 99999999;
		print_message("round trip %s\n", course_kind_name(m.kind));
		n = course_encode(&m, out, sizeof(out));
		assert_int_equal(n, (int)course_kind_len(m.kind));
		assert_int_equal(decode_guarded(out, (size_t)n, &d), n);
		assert_int_equal(d.kind, m.kind);
		if (m.kind == COURSE_SUPE || m.kind == COURSE_NEAR ||
		    m.kind == COURSE_QUER)
			assert_int_equal(d.ttl, 99);
		if (d.pktid[0] != '\0') {
			assert_memory_equal(d.pktid, m.pktid, 16);
			assert_true(course_peer_equal(&d.peer, &m.peer));
		}
		if (m.kind == COURSE_LOGI)
			assert_true(course_peer_equal(&d.peer, &m.peer));
		if (m.kind == COURSE_QUER || m.kind == COURSE_FIND)
			assert_view(d.term, term20);
		if (m.kind == COURSE_ADDF || m.kind == COURSE_ADFF ||
		    m.kind == COURSE_AQUE)
			assert_view(d.name, name100);
		if (d.md5[0] != '\0')
			assert_string_equal(
			    d.md5, "0123456789abcdefabcdef0123456789");
		if (m.kind == COURSE_AADD || m.kind == COURSE_ADEL ||
		    m.kind == COURSE_ALGO)
			assert_int_equal(d.count, 999);
		if (m.kind == COURSE_ADRE)
			assert_int_equal(d.count, 99999);
		if (m.kind == COURSE_RETP)
			assert_int_equal(d.partnum, 99999999);
		if (m.kind == COURSE_ALGI || m.kind == COURSE_LOGO ||
		    m.kind == COURSE_ADDF || m.kind == COURSE_FIND)
			assert_memory_equal(d.session, m.session, 16);
		assert_int_equal(course_encode(&d, again, sizeof(again)), n);
		assert_memory_equal(again, out, (size_t)n);
	}
}

/* ------------------------------------------------------- ALGI and replies */

static void
test_algi(void **state)
{
	static const struct {
		const char *in;
		int rc;       /* for the whole input */
		int shortest; /* bytes after which rc is known */
	} rows[] = {
	    {"ALGI" SESS, 20, 20},
	    {"ALGI" NULLSESS, 20, 20},
	    {NULLSESS, 16, 16},         /* §2.7 item 4 */
	    {NULLSESS "extra", 16, 16}, /* extra not looked at */
	    {"Sorry, this peer", WARREN_EREFUSED, 1},
	    {"Invalid packet. Unable to reply.", WARREN_EREFUSED, 1},
	    {"AL GI", WARREN_EREFUSED, 3},
	    {"ALGO002", WARREN_EREFUSED, 4},
	    {"0x", WARREN_EREFUSED, 2},
	    {"000 ", WARREN_EREFUSED, 4},
	    {"00001000000000000", WARREN_EFIELD, 5},
	    {"000000000000000 ", WARREN_EFIELD, 16},
	};
	struct course_msg m;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t len = strlen(rows[i].in);

		print_message("algi %s\n", rows[i].in);
		for (n = 0; n <= len; n++) {
			uint8_t *b = guard(rows[i].in, n);
			int rc = course_decode_algi(b, n, &m);

			if ((int)n < rows[i].shortest)
				assert_int_equal(rc, 0);
			else
				assert_int_equal(rc, rows[i].rc);
			free(b);
		}
	}
	assert_int_equal(course_decode_algi(NULLSESS, 16, &m), 16);
	assert_int_equal(m.kind, COURSE_ALGI);
	assert_true(course_session_is_null(m.session));
	assert_int_equal(course_decode_algi("ALGI" NULLSESS, 20, &m), 20);
	assert_true(course_session_is_null(m.session));
	assert_int_equal(course_decode_algi("ALGI" SESS, 20, &m), 20);
	assert_false(course_session_is_null(m.session));
	assert_memory_equal(m.session, SESS, 16);
}

static void
test_decode_reply(void **state)
{
	static const char sorry[] = COURSE_SAY_NOTFOUND;
	static const enum course_kind replies[] = {
	    COURSE_ALGI, COURSE_AADD, COURSE_ADEL, COURSE_ADRE, COURSE_ALGO};
	struct course_msg m;
	uint8_t *b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		/* An error sentence is known after its first byte. */
		b = guard(sorry, 1);
		assert_int_equal(
		    course_decode_reply(replies[i], b, 1, &m), WARREN_EREFUSED);
		free(b);
		assert_int_equal(course_decode_reply(
				     replies[i], sorry, sizeof(sorry) - 1, &m),
		    WARREN_EREFUSED);
		assert_int_equal(course_decode_reply(replies[i], "", 0, &m), 0);
	}
	/* A reply of another kind is a refusal, not an unknown kind. */
	b = guard("ADEL999", 7);
	assert_int_equal(
	    course_decode_reply(COURSE_AADD, b, 7, &m), WARREN_EREFUSED);
	assert_int_equal(course_decode_reply(COURSE_ADEL, b, 7, &m), 7);
	assert_int_equal(m.count, 999);
	free(b);
	/* §12 item 18: "File not found." in place of ADRE. */
	assert_int_equal(
	    course_decode_reply(COURSE_ADRE, "File not found.", 15, &m),
	    WARREN_EREFUSED);
	assert_int_equal(course_decode_reply(COURSE_ADRE, "ADRE0000x", 9, &m),
	    WARREN_EFIELD);
	assert_int_equal(
	    course_decode_reply(COURSE_ALGI, NULLSESS, 16, &m), 16);
	assert_int_equal(
	    course_decode_reply(COURSE_AFIN, "AFIN000", 7, &m), WARREN_EKIND);
	assert_int_equal(
	    course_decode_reply(COURSE_NONE, "AFIN000", 7, &m), WARREN_EKIND);
	/* course_decode itself only says "unknown kind" after 4 bytes. */
	assert_int_equal(course_decode(sorry, 3, &m), 0);
	assert_int_equal(course_decode(sorry, 4, &m), WARREN_EKIND);
}

/* --------------------------------------------------------- bad fields */

/* A valid frame with one field overwritten. */
struct patch {
	const char *label;
	const char *base;
	size_t off;
	size_t width; /* bytes set to ' ' before the copy (0: none) */
	const char *repl;
	size_t repl_len; /* 0: strlen(repl) */
	int rc;
};

#define LOGI_F "LOGI" IP_P1 "03000"
#define QUER_F                                                                 \
	"QUER" PK2 IP_P1 "03000"                                               \
	"05"                                                                   \
	"report" SP14
#define ADDF_F "ADDF" SESS MD5_A NAME_A SP83
#define AQUE_F "AQUE" PK2 IP_P2 "06000" MD5_A NAME_A SP83

/* The IPP2P of a LOGI, padded with spaces to 55 bytes. */
#define LOGI_IP(label, text, rc)                                               \
	{                                                                      \
		label, LOGI_F, 4, 55, text, 0, rc                              \
	}

static const struct patch bad_fields[] = {
    /* IPP2P */
    LOGI_IP("two bars",
	"192.168.001.010|fd00:0000:0000:0000:0000:0000:0000|010",
	WARREN_EFIELD),
    LOGI_IP("two bars adjacent", "10.0.0.1||fd00::10", WARREN_EFIELD),
    LOGI_IP("bar in the v4 part", "10.0|.0.1|fd00::10", WARREN_EFIELD),
    LOGI_IP("no bar", "192.168.001.010:fd00:0000:0000:0000:0000:0000:0000:0010",
	WARREN_EFIELD),
    LOGI_IP("no bar, spaces", "192.168.1.10 fd00::10", WARREN_EFIELD),
    LOGI_IP("octet 256", "192.168.001.256|fd00::10", WARREN_EFIELD),
    LOGI_IP("octet 999", "999.168.001.010|fd00::10", WARREN_EFIELD),
    LOGI_IP("four digit octet", "0192.168.1.10|fd00::10", WARREN_EFIELD),
    LOGI_IP("three octets", "192.168.1|fd00::10", WARREN_EFIELD),
    LOGI_IP("five octets", "192.168.1.10.1|fd00::10", WARREN_EFIELD),
    LOGI_IP("empty octet", "192.168..10|fd00::10", WARREN_EFIELD),
    LOGI_IP("hex octet", "0x0.168.001.010|fd00::10", WARREN_EFIELD),
    LOGI_IP("space inside v4", "192.168.0 1.010|fd00::10", WARREN_EFIELD),
    LOGI_IP("empty v4", "|fd00::10", WARREN_EFIELD),
    LOGI_IP("host name for v4", "localhost|::1", WARREN_EFIELD),
    LOGI_IP("bad v6 group", "192.168.1.10|gd00::10", WARREN_EFIELD),
    LOGI_IP("v6 two ::", "192.168.1.10|fd00::10::1", WARREN_EFIELD),
    LOGI_IP("v6 nine groups", "1.2.3.4|1:2:3:4:5:6:7:8:9", WARREN_EFIELD),
    LOGI_IP("v6 40 chars", "1.2.3.4|0000:0000:0000:0000:0000:0000:0000:00010",
	WARREN_EFIELD),
    LOGI_IP("v6 empty", "1.2.3.4|", WARREN_EFIELD),
    LOGI_IP("v6 with scope", "1.2.3.4|fe80::1%eth0", WARREN_EFIELD),
    LOGI_IP("v6 is an IPv4", "1.2.3.4|1.2.3.4", WARREN_EFIELD),
    {"v6 NUL inside", LOGI_F, 4, 55, "1.2.3.4|fd00::1\0:2", 18, WARREN_EFIELD},
    {"bad IPP2P in QUER", QUER_F, 20, 55, "1.2.3.4", 0, WARREN_EFIELD},
    {"bad IPP2P in AQUE", AQUE_F, 20, 55, "x", 0, WARREN_EFIELD},
    {"bad IPP2P in ANEA", "ANEA" PK1 IP_P2 "06000", 20, 55, "1.2.3.4|", 0,
	WARREN_EFIELD},
    /* PP2P */
    {"port 00000", LOGI_F, 59, 0, "00000", 0, WARREN_EFIELD},
    {"port 0", LOGI_F, 59, 0, "0    ", 0, WARREN_EFIELD},
    {"port 65536", LOGI_F, 59, 0, "65536", 0, WARREN_EFIELD},
    {"port 99999", LOGI_F, 59, 0, "99999", 0, WARREN_EFIELD},
    {"port abcde", LOGI_F, 59, 0, "abcde", 0, WARREN_EFIELD},
    {"port 30 00", LOGI_F, 59, 0, "30 00", 0, WARREN_EFIELD},
    {"port spaces", LOGI_F, 59, 0, "     ", 0, WARREN_EFIELD},
    {"port +3000", LOGI_F, 59, 0, "+3000", 0, WARREN_EFIELD},
    {"port -3000", LOGI_F, 59, 0, "-3000", 0, WARREN_EFIELD},
    {"port NUL", LOGI_F, 59, 0, "3000\0", 5, WARREN_EFIELD},
    {"QUER port", QUER_F, 75, 0, "0x1F4", 0, WARREN_EFIELD},
    {"ASUP port", "ASUP" PK1 IP_S "03000", 75, 0, "00000", 0, WARREN_EFIELD},
    /* TTL */
    {"TTL ab", QUER_F, 80, 0, "ab", 0, WARREN_EFIELD},
    {"TTL -1", QUER_F, 80, 0, "-1", 0, WARREN_EFIELD},
    {"TTL spaces", QUER_F, 80, 0, "  ", 0, WARREN_EFIELD},
    {"TTL 5x", QUER_F, 80, 0, "5x", 0, WARREN_EFIELD},
    {"NEAR TTL",
	"NEAR" PK1 IP_P1 "03000"
	"03",
	80, 0, "x3", 0, WARREN_EFIELD},
    {"SUPE TTL",
	"SUPE" PK1 IP_P1 "03000"
	"04",
	80, 0, "0\0", 2, WARREN_EFIELD},
    /* md5 */
    {"md5 not hex", ADDF_F, 20, 0, "g", 0, WARREN_EFIELD},
    {"md5 space", ADDF_F, 51, 0, " ", 0, WARREN_EFIELD},
    {"md5 NUL", ADDF_F, 30, 0, "\0", 1, WARREN_EFIELD},
    {"AQUE md5", AQUE_F, 111, 0, "Z", 0, WARREN_EFIELD},
    {"RETR md5", "RETR" MD5_A, 4, 0, "0f53217fc7c8e7f8 ", 0, WARREN_EFIELD},
    {"HASH md5", "HASH" MD5_H, 35, 0, "-", 0, WARREN_EFIELD},
    {"RETP md5", "RETP" MD5_H "00000002", 4, 0, "x", 0, WARREN_EFIELD},
    {"DELF md5", "DELF" SESS MD5_A, 20, 0, "0x", 0, WARREN_EFIELD},
    {"DREG md5", "DREG" SESS MD5_A, 50, 0, "..", 0, WARREN_EFIELD},
    {"DEFF md5", "DEFF" SESS MD5_H, 40, 0, "h", 0, WARREN_EFIELD},
    /* names: empty after stripping spaces and NULs (§11) */
    {"ADDF name spaces", ADDF_F, 52, 100, "", 0, WARREN_EFIELD},
    {"ADDF name NULs", ADDF_F, 52, 100, "\0\0\0 \0", 5, WARREN_EFIELD},
    {"ADFF name spaces", "ADFF" SESS MD5_H NAME_H SP83, 52, 100, " ", 0,
	WARREN_EFIELD},
    {"AQUE name spaces", AQUE_F, 112, 100, "", 0, WARREN_EFIELD},
    /* counts */
    {"AADD 0x1", "AADD001", 4, 0, "0x1", 0, WARREN_EFIELD},
    {"AADD spaces", "AADD001", 4, 0, "   ", 0, WARREN_EFIELD},
    {"ADEL 1 2", "ADEL000", 4, 0, "1 2", 0, WARREN_EFIELD},
    {"ALGO -1", "ALGO000", 4, 0, "-1 ", 0, WARREN_EFIELD},
    {"ADRE 1e3", "ADRE00007", 4, 0, "001e3", 0, WARREN_EFIELD},
    {"RETP partnum", "RETP" MD5_H "00000002", 36, 0, "0000000x", 0,
	WARREN_EFIELD},
    {"RETP partnum spaces", "RETP" MD5_H "00000002", 36, 8, "", 0,
	WARREN_EFIELD},
    /* kinds */
    {"unknown kind", "AADD001", 0, 0, "XXXX", 0, WARREN_EKIND},
    {"lower-case kind", LOGI_F, 0, 0, "logi", 0, WARREN_EKIND},
    {"AFIN to course_decode", "AADD001", 0, 0, "AFIN", 0, WARREN_EKIND},
    {"ARET to course_decode", "AADD0010000000000", 0, 0, "ARET", 0,
	WARREN_EKIND},
    {"AHAS to course_decode", "AADD001", 0, 0, "AHAS", 0, WARREN_EKIND},
    {"AREP to course_decode", "AADD001", 0, 0, "AREP", 0, WARREN_EKIND},
};

static void
test_bad_fields(void **state)
{
	uint8_t buf[COURSE_MSG_MAX];
	struct course_msg m;
	size_t i, len, n;

	(void)state;
	for (i = 0; i < sizeof(bad_fields) / sizeof(bad_fields[0]); i++) {
		const struct patch *p = &bad_fields[i];

		print_message("bad field: %s\n", p->label);
		len = strlen(p->base);
		n = p->repl_len ? p->repl_len : strlen(p->repl);
		assert_true(p->off + n <= len && p->off + p->width <= len);
		memcpy(buf, p->base, len);
		memset(buf + p->off, ' ', p->width);
		memcpy(buf + p->off, p->repl, n);
		assert_int_equal(decode_guarded(buf, len, &m), p->rc);
	}
}

/* ---------------------------------------------------- tolerated forms */

enum check { C_PORT, C_TTL, C_COUNT, C_PARTNUM, C_NAME, C_TERM, C_MD5 };

struct tolerated {
	const char *label;
	const char *base;
	size_t off;
	size_t width; /* bytes set to ' ' before the copy (0: none) */
	const char *repl;
	size_t repl_len;
	enum check check;
	unsigned long num;
	const char *text;
	size_t text_len; /* 0: strlen(text) */
};

static const struct tolerated tolerated[] = {
    {"port 3000 space", LOGI_F, 59, 0, "3000 ", 0, C_PORT, 3000, NULL, 0},
    {"port space 3000", LOGI_F, 59, 0, " 3000", 0, C_PORT, 3000, NULL, 0},
    {"port 1", LOGI_F, 59, 0, "1    ", 0, C_PORT, 1, NULL, 0},
    {"port 00001", LOGI_F, 59, 0, "00001", 0, C_PORT, 1, NULL, 0},
    {"port 65535", LOGI_F, 59, 0, "65535", 0, C_PORT, 65535, NULL, 0},
    {"port  80 ", LOGI_F, 59, 0, " 80  ", 0, C_PORT, 80, NULL, 0},
    {"QUER port 3000 space", QUER_F, 75, 0, "3000 ", 0, C_PORT, 3000, NULL, 0},
    {"AQUE port 6000 space", AQUE_F, 75, 0, "6000 ", 0, C_PORT, 6000, NULL, 0},
    {"LOGI tolerant IPP2P", LOGI_F, 4, 55, " 10.0.0.2 | ::1 ", 0, C_PORT, 3000,
	NULL, 0},
    {"TTL 5 space", QUER_F, 80, 0, "5 ", 0, C_TTL, 5, NULL, 0},
    {"TTL space 5", QUER_F, 80, 0, " 5", 0, C_TTL, 5, NULL, 0},
    {"TTL 00", QUER_F, 80, 0, "00", 0, C_TTL, 0, NULL, 0},
    {"TTL 50", QUER_F, 80, 0, "50", 0, C_TTL, 50, NULL, 0},
    {"AADD 1 padded", "AADD001", 4, 0, " 1 ", 0, C_COUNT, 1, NULL, 0},
    {"ADRE 7 space", "ADRE00007", 4, 0, "7    ", 0, C_COUNT, 7, NULL, 0},
    {"ADRE 99999", "ADRE00007", 4, 0, "99999", 0, C_COUNT, 99999, NULL, 0},
    {"RETP partnum padded", "RETP" MD5_H "00000002", 36, 0, "     12 ", 0,
	C_PARTNUM, 12, NULL, 0},
    {"upper-case md5", ADDF_F, 20, 0, "0F53217FC7C8E7F89E8A8558E64A7083", 0,
	C_MD5, 0, MD5_A, 0},
    {"mixed-case md5", "RETR" MD5_A, 4, 0, "0F53217fc7C8e7f89E8A8558e64a7083",
	0, C_MD5, 0, MD5_A, 0},
    {"upper-case md5 in AQUE", AQUE_F, 80, 0,
	"0F53217FC7C8E7F89E8A8558E64A7083", 0, C_MD5, 0, MD5_A, 0},
    {"name NUL padded", ADDF_F, 52, 0,
	"\0\0Annual_Report.pdf\0\0\0\0\0 \0 \0" SP10 SP10 SP10 SP10 SP10 SP10
	    SP10 " \0",
	100, C_NAME, 0, NAME_A, 0},
    {"name leading spaces", ADDF_F, 52, 100, "   x y  ", 0, C_NAME, 0, "x y",
	0},
    {"name NUL inside kept", ADDF_F, 52, 100, "a\0b", 3, C_NAME, 0, "a\0b", 3},
    {"name lower-cased echo", AQUE_F, 112, 100, "annual_report.pdf", 0, C_NAME,
	0, "annual_report.pdf", 0},
    {"name right-aligned", "ADFF" SESS MD5_H NAME_H SP83, 52, 0,
	SP10 SP10 SP10 SP10 SP10 SP10 SP10 SP10 SP10 "123456789x", 0, C_NAME, 0,
	"123456789x", 0},
    {"term %report%", QUER_F, 82, 20, "%report%", 0, C_TERM, 0, "%report%", 0},
    {"term NUL padded", "FIND" SESS "report" SP14, 20, 0,
	"\0report\0\0\0\0\0\0\0\0\0\0\0\0\0", 20, C_TERM, 0, "report", 0},
    {"term all spaces", "FIND" SESS "report" SP14, 20, 20, "", 0, C_TERM, 0, "",
	0},
};

static void
test_tolerated(void **state)
{
	uint8_t buf[COURSE_MSG_MAX];
	struct course_msg m;
	size_t i, len, n;

	(void)state;
	for (i = 0; i < sizeof(tolerated) / sizeof(tolerated[0]); i++) {
		const struct tolerated *t = &tolerated[i];

		print_message("tolerated: %s\n", t->label);
		len = strlen(t->base);
		n = t->repl_len ? t->repl_len : strlen(t->repl);
		assert_true(t->off + n <= len && t->off + t->width <= len);
		memcpy(buf, t->base, len);
		memset(buf + t->off, ' ', t->width);
		memcpy(buf + t->off, t->repl, n);
		assert_int_equal(decode_guarded(buf, len, &m), (int)len);
		switch (t->check) {
		case C_PORT:
			assert_int_equal(m.peer.port, t->num);
			break;
		case C_TTL:
			assert_int_equal(m.ttl, t->num);
			break;
		case C_COUNT:
			assert_int_equal(m.count, t->num);
			break;
		case C_PARTNUM:
			assert_int_equal(m.partnum, t->num);
			break;
		case C_MD5:
			assert_string_equal(m.md5, t->text);
			break;
		case C_NAME:
		case C_TERM: {
			/* The view points into the input; decode again in
			 * place to compare against it. */
			struct course_str v;

			assert_int_equal(course_decode(buf, len, &m), (int)len);
			v = t->check == C_NAME ? m.name : m.term;
			n = t->text_len ? t->text_len : strlen(t->text);
			assert_int_equal(v.len, n);
			if (n > 0)
				assert_memory_equal(v.ptr, t->text, n);
			break;
		}
		}
	}
}

/* ----------------------------------------------------------- IPP2P */

struct ipp2p_row {
	const char *text; /* padded with spaces to 55 */
	size_t len;       /* 0: strlen(text) */
	int rc;
	uint8_t v4[4];
	const char *v6; /* inet_pton text */
};

static const struct ipp2p_row ipp2p_rows[] = {
    {IP_P1, 0, 0, {192, 168, 1, 10}, "fd00::10"},
    {IP_P2, 0, 0, {10, 0, 0, 2}, "2001:db8::2"},
    {"010.000.000.002|::1", 0, 0, {10, 0, 0, 2}, "::1"},
    {"077.008.099.019|::1", 0, 0, {77, 8, 99, 19}, "::1"},
    {"10.0.0.2|2001:db8::2", 0, 0, {10, 0, 0, 2}, "2001:db8::2"},
    {"  10.0.0.2  |  FD00::10  ", 0, 0, {10, 0, 0, 2}, "fd00::10"},
    {"\0\0001.2.3.4\0|\0::ffff:127.0.0.2\0", 29, 0, {1, 2, 3, 4},
	"::ffff:127.0.0.2"},
    {"000.000.000.000|0000:0000:0000:0000:0000:0000:0000:0000", 0, 0,
	{0, 0, 0, 0}, "::"},
    {"255.255.255.255|ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 0,
	{255, 255, 255, 255}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
    {"1.2.3.4|::ffff:1.2.3.4", 0, 0, {1, 2, 3, 4}, "::ffff:1.2.3.4"},
    {"1.2.3.4|0:0:0:0:0:0:0:1", 0, 0, {1, 2, 3, 4}, "::1"},
    /* 39 characters: the longest IPv6 text accepted. */
    {"1.2.3.4|00:0000:0000:0000::ffff:255.255.255.255", 0, 0, {1, 2, 3, 4},
	"::ffff:255.255.255.255"},
    /* refused */
    {"1.2.3.4|::1|", 0, WARREN_EFIELD, {0}, NULL},
    {"|1.2.3.4|::1", 0, WARREN_EFIELD, {0}, NULL},
    {"1.2.3.4 ::1", 0, WARREN_EFIELD, {0}, NULL},
    {"1.2.3.256|::1", 0, WARREN_EFIELD, {0}, NULL},
    {"1.2.3.-4|::1", 0, WARREN_EFIELD, {0}, NULL},
    {"1.2.3.4.|::1", 0, WARREN_EFIELD, {0}, NULL},
    {".1.2.3|::1", 0, WARREN_EFIELD, {0}, NULL},
    {"1.2.3.4|:::1", 0, WARREN_EFIELD, {0}, NULL},
    {"1.2.3.4|1.2.3.4", 0, WARREN_EFIELD, {0}, NULL},
    /* 40 characters that inet_pton would accept are too long. */
    {"1.2.3.4|000:0000:0000:0000::ffff:255.255.255.255", 0, WARREN_EFIELD, {0},
	NULL},
    {"1.2.3.4|", 0, WARREN_EFIELD, {0}, NULL},
    {"|::1", 0, WARREN_EFIELD, {0}, NULL},
    {"1.2\0.3.4|::1", 12, WARREN_EFIELD, {0}, NULL},
    {"1.2.3.4\t|::1", 0, WARREN_EFIELD, {0}, NULL},
};

static void
test_ipp2p(void **state)
{
	uint8_t field[COURSE_IPP2P_LEN], v6[16];
	struct course_peer p;
	char out[COURSE_IPP2P_LEN];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(ipp2p_rows) / sizeof(ipp2p_rows[0]); i++) {
		const struct ipp2p_row *r = &ipp2p_rows[i];
		uint8_t *b;

		print_message("ipp2p row %zu\n", i);
		n = r->len ? r->len : strlen(r->text);
		assert_true(n <= sizeof(field));
		memset(field, ' ', sizeof(field));
		memcpy(field, r->text, n);
		b = guard(field, sizeof(field));
		memset(&p, 0, sizeof(p));
		assert_int_equal(course_ipp2p_parse(b, &p), r->rc);
		free(b);
		if (r->rc < 0)
			continue;
		assert_memory_equal(p.v4, r->v4, 4);
		assert_int_equal(inet_pton(AF_INET6, r->v6, v6), 1);
		assert_memory_equal(p.v6, v6, 16);
		/* Canonical form parses back to the same addresses. */
		course_ipp2p_format(&p, out);
		assert_int_equal(out[15], '|');
		{
			struct course_peer q;

			memset(&q, 0, sizeof(q));
			assert_int_equal(course_ipp2p_parse(out, &q), 0);
			assert_memory_equal(q.v4, p.v4, 4);
			assert_memory_equal(q.v6, p.v6, 16);
		}
	}
}

static void
test_ipp2p_format(void **state)
{
	char out[COURSE_IPP2P_LEN];
	struct course_peer p;

	(void)state;
	course_ipp2p_format(&P1, out);
	assert_memory_equal(out, IP_P1, 55);
	course_ipp2p_format(&P2, out);
	assert_memory_equal(out, IP_P2, 55);
	course_ipp2p_format(&S, out);
	assert_memory_equal(out, IP_S, 55);
	course_ipp2p_format(&S2, out);
	assert_memory_equal(out, IP_S2, 55);
	/* §2.4 item 2: the IPv4-mapped form of 192.168.1.10. */
	memset(&p, 0, sizeof(p));
	memcpy(p.v4, "\xc0\xa8\x01\x0a", 4);
	memcpy(p.v6 + 10, "\xff\xff\xc0\xa8\x01\x0a", 6);
	course_ipp2p_format(&p, out);
	assert_memory_equal(
	    out, "192.168.001.010|0000:0000:0000:0000:0000:ffff:c0a8:010a", 55);
}

static void
test_port_parse(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint16_t port;
	} rows[] = {
	    {"03000", 0, 3000},
	    {"3000 ", 0, 3000},
	    {" 3000", 0, 3000},
	    {"65535", 0, 65535},
	    {"1    ", 0, 1},
	    {"00000", WARREN_EFIELD, 0},
	    {"65536", WARREN_EFIELD, 0},
	    {"abcde", WARREN_EFIELD, 0},
	    {"30 00", WARREN_EFIELD, 0},
	    {"     ", WARREN_EFIELD, 0},
	    {"3e3  ", WARREN_EFIELD, 0},
	};
	uint16_t port;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint8_t *b = guard(rows[i].in, 5);

		port = 0;
		assert_int_equal(course_port_parse(b, &port), rows[i].rc);
		assert_int_equal(port, rows[i].port);
		free(b);
	}
}

/* §2.4 item 6: three spellings of one address are the same peer. */
static void
test_peer_equal(void **state)
{
	static const char *spellings[] = {
	    "127.0.0.2|::ffff:127.0.0.2",
	    "127.000.000.002|::ffff:7f00:2",
	    "127.0.0.2|0000:0000:0000:0000:0000:ffff:7f00:0002",
	};
	struct course_peer p[3], q;
	uint8_t frame[64];
	struct course_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		memcpy(frame, "LOGI", 4);
		memset(frame + 4, ' ', 55);
		memcpy(frame + 4, spellings[i], strlen(spellings[i]));
		memcpy(frame + 59, "3000 ", 5);
		assert_int_equal(decode_guarded(frame, 64, &m), 64);
		p[i] = m.peer;
	}
	assert_true(course_peer_equal(&p[0], &p[1]));
	assert_true(course_peer_equal(&p[1], &p[2]));
	assert_true(course_peer_equal(&p[0], &p[2]));
	q = p[0];
	q.port = 3001;
	assert_false(course_peer_equal(&p[0], &q));
	q = p[0];
	q.v4[3] = 3;
	assert_false(course_peer_equal(&p[0], &q));
	q = p[0];
	q.v6[15] = 3;
	assert_false(course_peer_equal(&p[0], &q));
	assert_false(course_peer_equal(&P1, &P2));
	assert_true(course_peer_equal(&P1, &P1));
}

/* ------------------------------------------------------ encode refusals */

static void
test_encode_refusals(void **state)
{
	static const char name101[] = "n123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789"
				      "0123456789x";
	uint8_t out[COURSE_MSG_MAX], padded[120];
	struct course_msg m, d;
	int k;

	(void)state;
	assert_int_equal(strlen(name101), 101);
	msg_from_example(example("ADDF"), &m);
	m.name = str(name101);
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_ETOOLONG);
	m.name = str("");
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EEMPTY);
	m.name = (struct course_str){NULL, 0};
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EEMPTY);
	m.name = str("     ");
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EEMPTY);
	m.name = (struct course_str){"a\0b", 3};
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EFIELD);
	/* 100 bytes once its surrounding spaces are stripped (§2.6 item 3). */
	memset(padded, ' ', sizeof(padded));
	memcpy(padded + 7, name101, 100);
	m.name = (struct course_str){(const char *)padded, sizeof(padded)};
	assert_int_equal(course_encode(&m, out, sizeof(out)), 152);
	assert_memory_equal(out + 52, name101, 100);
	m.name = str("  Annual_Report.pdf ");
	assert_int_equal(course_encode(&m, out, sizeof(out)), 152);
	assert_memory_equal(out, example("ADDF")->wire, 152);
	memcpy(m.md5, "0f53217fc7c8e7f89e8a8558e64a708g", 33);
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EFIELD);
	memcpy(m.md5, "0F53217FC7C8E7F89E8A8558E64A7083", 33);
	assert_int_equal(course_encode(&m, out, sizeof(out)), 152);
	assert_memory_equal(out + 20, MD5_A, 32);

	msg_from_example(example("FIND report"), &m);
	m.term = str("t12345678901234567890");
	assert_int_equal(m.term.len, 21);
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_ETOOLONG);
	m.term = str("t1234567890123456789");
	assert_int_equal(course_encode(&m, out, sizeof(out)), 40);
	m.term = (struct course_str){"re\0port", 7};
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EFIELD);
	m.term = str("");
	assert_int_equal(course_encode(&m, out, sizeof(out)), 40);
	assert_memory_equal(out + 20, SP10 SP10, 20);
	assert_int_equal(course_decode(out, 40, &d), 40);
	assert_int_equal(d.term.len, 0);

	msg_from_example(example("LOGI P1"), &m);
	m.peer.port = 0;
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EFIELD);

	msg_from_example(example("NEAR P1 03"), &m);
	m.ttl = 100;
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EFIELD);

	msg_from_example(example("AADD 001"), &m);
	m.count = 1000;
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EFIELD);
	msg_from_example(example("ADRE 00007"), &m);
	m.count = 100000;
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EFIELD);
	msg_from_example(example("RETP 2"), &m);
	m.partnum = 100000000;
	assert_int_equal(course_encode(&m, out, sizeof(out)), WARREN_EFIELD);

	/* Variable-length and unknown kinds have no fixed encoding. */
	memset(&m, 0, sizeof(m));
	for (k = 0; k <= COURSE_KIND_COUNT; k++) {
		m.kind = (enum course_kind)k;
		if (course_kind_len(m.kind) == 0)
			assert_int_equal(
			    course_encode(&m, out, sizeof(out)), WARREN_EKIND);
	}
	/* Every kind refuses a buffer one byte short. */
	for (k = 0; k < (int)NEXAMPLES; k++) {
		msg_from_example(&examples[k], &m);
		assert_int_equal(
		    course_encode(&m, out, examples[k].len - 1), WARREN_ESPACE);
		assert_int_equal(course_encode(&m, out, 0), WARREN_ESPACE);
	}
}

/* --------------------------------------------------------- sockaddrs */

static void
peer_set(struct course_peer *p, const char *v4, const char *v6, uint16_t port)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(inet_pton(AF_INET, v4, p->v4), 1);
	assert_int_equal(inet_pton(AF_INET6, v6, p->v6), 1);
	p->port = port;
}

static void
test_peer_sockaddr(void **state)
{
	static const struct {
		const char *v4, *v6;
		int rc4, rc6;
		int fam6; /* family returned for the IPv6 half */
	} rows[] = {
	    {"192.168.1.10", "fd00::10", 0, 0, AF_INET6},
	    {"10.0.0.2", "::ffff:127.0.0.2", 0, 0, AF_INET},
	    {"0.0.0.0", "::", WARREN_EFIELD, WARREN_EFIELD, 0},
	    {"224.0.0.1", "ff02::1", WARREN_EFIELD, WARREN_EFIELD, 0},
	    {"239.255.255.250", "ff05::1:3", WARREN_EFIELD, WARREN_EFIELD, 0},
	    {"255.255.255.255", "::ffff:255.255.255.255", WARREN_EFIELD,
		WARREN_EFIELD, 0},
	    {"1.2.3.4", "::ffff:0.0.0.0", 0, WARREN_EFIELD, 0},
	    {"1.2.3.4", "::ffff:224.0.0.1", 0, WARREN_EFIELD, 0},
	    {"223.255.255.255", "::1", 0, 0, AF_INET6},
	    {"240.0.0.1", "fe80::1", 0, 0, AF_INET6},
	};
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct course_peer p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		print_message("sockaddr %s %s\n", rows[i].v4, rows[i].v6);
		peer_set(&p, rows[i].v4, rows[i].v6, 3000);
		assert_int_equal(
		    course_peer_sockaddr(&p, AF_INET, &ss), rows[i].rc4);
		if (rows[i].rc4 == 0) {
			assert_int_equal(ss.ss_family, AF_INET);
			memcpy(&sin, &ss, sizeof(sin));
			assert_int_equal(ntohs(sin.sin_port), 3000);
			assert_memory_equal(&sin.sin_addr, p.v4, 4);
		}
		assert_int_equal(
		    course_peer_sockaddr(&p, AF_INET6, &ss), rows[i].rc6);
		if (rows[i].rc6 != 0)
			continue;
		assert_int_equal(ss.ss_family, rows[i].fam6);
		if (rows[i].fam6 == AF_INET) {
			memcpy(&sin, &ss, sizeof(sin));
			assert_int_equal(ntohs(sin.sin_port), 3000);
			assert_memory_equal(&sin.sin_addr, p.v6 + 12, 4);
		} else {
			memcpy(&sin6, &ss, sizeof(sin6));
			assert_int_equal(ntohs(sin6.sin6_port), 3000);
			assert_memory_equal(&sin6.sin6_addr, p.v6, 16);
		}
	}
	peer_set(&p, "1.2.3.4", "::1", 3000);
	assert_int_equal(course_peer_sockaddr(&p, AF_UNIX, &ss), WARREN_EFIELD);
	p.port = 0;
	assert_int_equal(course_peer_sockaddr(&p, AF_INET, &ss), WARREN_EFIELD);
}

static void
test_peer_from_sockaddr(void **state)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6, mapped;
	struct course_peer p;
	char out[COURSE_IPP2P_LEN];

	(void)state;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(9); /* ignored */
	inet_pton(AF_INET, "192.168.1.10", &sin.sin_addr);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fd00::10", &sin6.sin6_addr);
	memset(&mapped, 0, sizeof(mapped));
	mapped.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.168.1.10", &mapped.sin6_addr);

	assert_int_equal(course_peer_from_sockaddr((struct sockaddr *)&sin,
			     (struct sockaddr *)&sin6, 3000, &p),
	    0);
	assert_true(course_peer_equal(&p, &P1));

	/* No IPv6: the IPv4-mapped form (§2.4 item 2). */
	assert_int_equal(
	    course_peer_from_sockaddr((struct sockaddr *)&sin, NULL, 3000, &p),
	    0);
	course_ipp2p_format(&p, out);
	assert_memory_equal(
	    out, "192.168.001.010|0000:0000:0000:0000:0000:ffff:c0a8:010a", 55);
	assert_int_equal(p.port, 3000);

	/* No IPv4: 000.000.000.000 (§2.4 item 3). */
	assert_int_equal(
	    course_peer_from_sockaddr(NULL, (struct sockaddr *)&sin6, 6000, &p),
	    0);
	course_ipp2p_format(&p, out);
	assert_memory_equal(
	    out, "000.000.000.000|fd00:0000:0000:0000:0000:0000:0000:0010", 55);
	assert_int_equal(p.port, 6000);

	/* An IPv4-mapped AF_INET6 given as the IPv4 is its IPv4. */
	assert_int_equal(course_peer_from_sockaddr((struct sockaddr *)&mapped,
			     (struct sockaddr *)&sin6, 3000, &p),
	    0);
	assert_true(course_peer_equal(&p, &P1));
	/* An IPv4-mapped IPv6 alone also gives the IPv4. */
	assert_int_equal(course_peer_from_sockaddr(
			     NULL, (struct sockaddr *)&mapped, 3000, &p),
	    0);
	assert_memory_equal(p.v4, P1.v4, 4);

	/* Wrong families, no address, port 0. */
	assert_int_equal(
	    course_peer_from_sockaddr((struct sockaddr *)&sin6, NULL, 3000, &p),
	    WARREN_EFIELD);
	assert_int_equal(course_peer_from_sockaddr((struct sockaddr *)&sin,
			     (struct sockaddr *)&sin, 3000, &p),
	    WARREN_EFIELD);
	assert_int_equal(
	    course_peer_from_sockaddr(NULL, NULL, 3000, &p), WARREN_EEMPTY);
	{
		struct sockaddr_storage other;

		memset(&other, 0, sizeof(other));
		other.ss_family = AF_UNIX;
		assert_int_equal(course_peer_from_sockaddr(
				     (struct sockaddr *)&other, NULL, 3000, &p),
		    WARREN_EFIELD);
	}
	assert_int_equal(
	    course_peer_from_sockaddr((struct sockaddr *)&sin, NULL, 0, &p),
	    WARREN_EFIELD);
}

/* ------------------------------------------------- small helpers */

static void
test_term_match(void **state)
{
	static const struct {
		const char *term;
		size_t term_len; /* 0: strlen */
		const char *name;
		int match;
	} rows[] = {
	    {"report", 0, NAME_A, 1},
	    {"REPORT", 0, NAME_A, 1},
	    {"%report%", 0, NAME_A, 1},
	    {"%REPORT%", 0, NAME_A, 1},
	    {"%report", 0, NAME_A, 1},
	    {"report%", 0, NAME_A, 1},
	    {"% report %", 0, NAME_A, 1},
	    {"%%report%%", 0, NAME_A, 0}, /* only one % is stripped */
	    {"\0report\0\0", 9, NAME_A, 1},
	    {"", 0, NAME_A, 1},
	    {"*", 0, NAME_A, 1},
	    {"%*%", 0, NAME_A, 1},
	    {"%", 0, NAME_A, 1},
	    {"%%", 0, NAME_A, 1},
	    {"% %", 0, NAME_A, 1},
	    {"video", 0, NAME_H, 1},
	    {"video", 0, NAME_A, 0},
	    {"audio", 0, NAME_H, 0},
	    {"r*t", 0, NAME_A, 0},
	    {"a*", 0, "abc", 0},
	    {"a*", 0, "xa*y", 1},
	    {"_", 0, "a_b", 1},
	    {"_", 0, "ab", 0},
	    {"a%b", 0, "axb", 0},
	    {"a%b", 0, "a%b", 1},
	    {".pdf", 0, NAME_A, 1},
	    {".", 0, "abc", 0},
	    {"[a]", 0, "a", 0},
	    {"[a]", 0, "x[A]y", 1},
	    {"Annual_Report.pdf", 0, NAME_A, 1},
	    {"Annual_Report.pdfx", 0, NAME_A, 0},
	    {"caf\xc3\xa9", 0, "Caf\xc3\xa9.txt", 1},
	    {"CAF\xc3\x89", 0, "caf\xc3\xa9.txt", 0}, /* bytes >= 0x80 exact */
	    {"\xc3\xa9", 0, "\xc3\xa9", 1},
	    {"x", 0, "", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct course_str t = {rows[i].term,
		    rows[i].term_len ? rows[i].term_len : strlen(rows[i].term)};
		size_t n = strlen(rows[i].name);
		uint8_t *b = guard(rows[i].name, n);
		uint8_t *tb = guard(t.ptr, t.len);

		print_message("term match %zu\n", i);
		t.ptr = (const char *)tb;
		assert_int_equal(
		    course_term_match(t, (const char *)b, n), rows[i].match);
		free(b);
		free(tb);
	}
}

static void
test_name_sanitize(void **state)
{
	static const struct {
		const char *in;
		size_t len; /* 0: strlen */
		size_t cap;
		int rc;
		const char *out;
	} rows[] = {
	    {NAME_A, 0, 200, 17, NAME_A},
	    {"a/b", 0, 200, 3, "a_b"},
	    {"../../etc/passwd", 0, 200, 16, ".._.._etc_passwd"},
	    {"..\\x", 0, 200, 4, ".._x"},
	    {"\x01\x1f\x7f", 0, 200, 3, "___"},
	    {"a\0b", 3, 200, 3, "a_b"},
	    {"a\nb\tc", 0, 200, 5, "a_b_c"},
	    {"caf\xc3\xa9 \xe2\x82\xac", 0, 200, 9, "caf\xc3\xa9 \xe2\x82\xac"},
	    {"", 0, 200, 32, MD5_A},
	    {".", 0, 200, 32, MD5_A},
	    {"..", 0, 200, 32, MD5_A},
	    {"...", 0, 200, 3, "..."},
	    {".a", 0, 200, 2, ".a"},
	    {"/", 0, 200, 1, "_"},
	    {"", 0, 33, 32, MD5_A},
	    {"", 0, 32, WARREN_ESPACE, NULL},
	    {"x", 0, 32, WARREN_ESPACE, NULL},
	    {"0123456789012345678901234567890123", 0, 34, WARREN_ESPACE, NULL},
	    {"012345678901234567890123456789012", 0, 34, 33,
		"012345678901234567890123456789012"},
	};
	char out[200];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].in);
		uint8_t *b = guard(rows[i].in, len);

		print_message("sanitize %zu\n", i);
		assert_int_equal(course_name_sanitize((const char *)b, len,
				     MD5_A, out, rows[i].cap),
		    rows[i].rc);
		if (rows[i].out != NULL)
			assert_string_equal(out, rows[i].out);
		free(b);
	}
	/* The md5 is lower-cased; a bad one is refused. */
	assert_int_equal(
	    course_name_sanitize(
		"..", 2, "0F53217FC7C8E7F89E8A8558E64A7083", out, sizeof(out)),
	    32);
	assert_string_equal(out, MD5_A);
	assert_int_equal(
	    course_name_sanitize(
		".", 1, "../../../../../../../../../../../", out, sizeof(out)),
	    WARREN_EFIELD);
}

static void
test_sentence_classify(void **state)
{
	static const struct {
		const char *in;
		int rc;
	} rows[] = {
	    {COURSE_SAY_BUSY, WARREN_EBUSY},
	    {COURSE_SAY_NOTFOUND, WARREN_ENOTFOUND},
	    {"File not found.", WARREN_ENOTFOUND},
	    {COURSE_SAY_INVALID, WARREN_EREFUSED},
	    {COURSE_SAY_UNAUTHORIZED, WARREN_EREFUSED},
	    {COURSE_SAY_FAILED, WARREN_EREFUSED},
	    {"Invalid packet. Unable to reply.", WARREN_EREFUSED},
	    {"", WARREN_EREFUSED},
	    {"Bus", WARREN_EREFUSED},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = strlen(rows[i].in);
		uint8_t *b = guard(rows[i].in, n);

		assert_int_equal(course_sentence_classify(b, n), rows[i].rc);
		free(b);
	}
}

static void
test_hex_helpers(void **state)
{
	char out[16], md5[33];

	(void)state;
	course_hex16(0x3F2A9C04B7D1E856ULL, out);
	assert_memory_equal(out, PK1, 16);
	course_hex16(0, out);
	assert_memory_equal(out, NULLSESS, 16);
	course_hex16(UINT64_MAX, out);
	assert_memory_equal(out, "FFFFFFFFFFFFFFFF", 16);
	assert_true(course_session_is_null(NULLSESS));
	assert_false(course_session_is_null(SESS));
	assert_false(course_session_is_null("000000000000000O"));

	assert_int_equal(
	    course_md5_parse("0F53217FC7C8E7F89E8A8558E64A7083", md5), 0);
	assert_string_equal(md5, MD5_A);
	assert_int_equal(course_md5_parse(MD5_A, md5), 0);
	assert_string_equal(md5, MD5_A);
	memset(md5, 'q', sizeof(md5));
	assert_int_equal(
	    course_md5_parse("0f53217fc7c8e7f89e8a8558e64a708 ", md5),
	    WARREN_EFIELD);
	assert_int_equal(md5[0], 'q'); /* untouched on error */
}

/* ---------------------------------------------------------------- AFIN */

#define MAX_ITEMS 16

/* Everything a run of the AFIN parser returned. */
struct afin_run {
	struct course_afin_item items[MAX_ITEMS];
	char names[MAX_ITEMS][COURSE_NAME_LEN]; /* copies of the views */
	size_t nitems;
	size_t consumed;
	int last_rc; /* the call that stopped the run: 0 or an error */
	int done;
};

static void
afin_keep(struct afin_run *r, const struct course_afin_item *it)
{
	assert_true(r->nitems < MAX_ITEMS);
	r->items[r->nitems] = *it;
	if (it->name.len > 0)
		memcpy(r->names[r->nitems], it->name.ptr, it->name.len);
	r->items[r->nitems].name.ptr = r->names[r->nitems];
	r->nitems++;
}

/*
 * Run the AFIN parser over data. step 0 hands it everything at once;
 * step n makes n more bytes available at each round, as a socket would.
 * Every call sees an exact-size copy of the bytes available.
 */
static void
afin_drive(const void *data, size_t len, size_t step, struct afin_run *r)
{
	struct course_afin p;
	struct course_afin_item it;
	size_t avail = step ? 0 : len;
	int rc;

	memset(r, 0, sizeof(*r));
	course_afin_init(&p);
	for (;;) {
		uint8_t *b = guard(
		    (const uint8_t *)data + r->consumed, avail - r->consumed);

		rc = course_afin_next(&p, b, avail - r->consumed, &it);
		if (rc > 0) {
			/* The view must point into what was given. */
			if (it.name.len > 0)
				assert_true((const uint8_t *)it.name.ptr >= b &&
				    (const uint8_t *)it.name.ptr +
					    it.name.len <=
					b + rc);
			afin_keep(r, &it);
			r->consumed += (size_t)rc;
		}
		free(b);
		if (rc > 0 && course_afin_done(&p))
			break;
		if (rc < 0 || (rc == 0 && avail == len)) {
			r->last_rc = rc;
			break;
		}
		if (rc == 0)
			avail = avail + step > len ? len : avail + step;
	}
	r->done = course_afin_done(&p);
}

static void
assert_afin_same(const struct afin_run *a, const struct afin_run *b)
{
	size_t i;

	assert_int_equal(a->nitems, b->nitems);
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->last_rc, b->last_rc);
	assert_int_equal(a->done, b->done);
	for (i = 0; i < a->nitems; i++) {
		const struct course_afin_item *x = &a->items[i],
					      *y = &b->items[i];

		assert_int_equal(x->type, y->type);
		assert_int_equal(x->count, y->count);
		assert_string_equal(x->md5, y->md5);
		assert_int_equal(x->name.len, y->name.len);
		assert_memory_equal(x->name.ptr, y->name.ptr, x->name.len);
		assert_int_equal(x->valid, y->valid);
		assert_true(course_peer_equal(&x->peer, &y->peer));
	}
}

/* Expected items: type, count, md5, name, peer. */
struct afin_expect {
	enum course_afin_type type;
	unsigned count;
	const char *md5;
	const char *name;
	const struct course_peer *peer;
	int valid;
};

static void
assert_afin_items(
    const struct afin_run *r, const struct afin_expect *e, size_t n)
{
	size_t i;

	assert_int_equal(r->nitems, n);
	for (i = 0; i < n; i++) {
		const struct course_afin_item *it = &r->items[i];

		assert_int_equal(it->type, e[i].type);
		assert_int_equal(it->valid, e[i].valid);
		if (e[i].type != COURSE_AFIN_COPY)
			assert_int_equal(it->count, e[i].count);
		if (e[i].md5 != NULL)
			assert_string_equal(it->md5, e[i].md5);
		if (e[i].name != NULL)
			assert_view(it->name, e[i].name);
		if (e[i].peer != NULL)
			assert_true(course_peer_equal(&it->peer, e[i].peer));
	}
}

static const struct afin_expect afin457_items[] = {
    {COURSE_AFIN_COUNT, 2, NULL, NULL, NULL, 1},
    {COURSE_AFIN_ENTRY, 1, MD5_A, NAME_A, NULL, 1},
    {COURSE_AFIN_COPY, 0, NULL, NULL, &P2, 1},
    {COURSE_AFIN_ENTRY, 2, MD5_H, NAME_H, NULL, 1},
    {COURSE_AFIN_COPY, 0, NULL, NULL, &P2, 1},
    {COURSE_AFIN_COPY, 0, NULL, NULL, &P1, 1},
};

static const struct afin_expect afin262_items[] = {
    {COURSE_AFIN_COUNT, 1, NULL, NULL, NULL, 1},
    {COURSE_AFIN_ENTRY, 2, MD5_H, NAME_H, NULL, 1},
    {COURSE_AFIN_COPY, 0, NULL, NULL, &P2, 1},
    {COURSE_AFIN_COPY, 0, NULL, NULL, &S2, 1},
};

static void
test_afin_examples(void **state)
{
	static const char a457[] = AFIN457, a262[] = AFIN262;
	struct afin_run whole, bytewise, other;
	struct course_afin p;
	struct course_afin_item it;
	size_t step;

	(void)state;
	assert_int_equal(sizeof(a457) - 1, 457);
	afin_drive(a457, 457, 0, &whole);
	assert_int_equal(whole.consumed, 457);
	assert_true(whole.done);
	assert_afin_items(&whole, afin457_items, 6);
	afin_drive(a457, 457, 1, &bytewise);
	assert_afin_same(&whole, &bytewise);
	for (step = 2; step < 200; step += 37) {
		afin_drive(a457, 457, step, &other);
		assert_afin_same(&whole, &other);
	}

	assert_int_equal(sizeof(a262) - 1, 262);
	afin_drive(a262, 262, 0, &whole);
	assert_int_equal(whole.consumed, 262);
	assert_true(whole.done);
	assert_afin_items(&whole, afin262_items, 4);
	afin_drive(a262, 262, 1, &bytewise);
	assert_afin_same(&whole, &bytewise);

	/* No match: AFIN000, then nothing more is expected. */
	course_afin_init(&p);
	assert_false(course_afin_done(&p));
	assert_int_equal(course_afin_next(&p, "AFIN000", 7, &it), 7);
	assert_int_equal(it.type, COURSE_AFIN_COUNT);
	assert_int_equal(it.count, 0);
	assert_true(course_afin_done(&p));
	assert_int_equal(
	    course_afin_next(&p, "AFIN000", 7, &it), WARREN_EPROTO);
	/* An entry without copies can end the reply. */
	afin_drive("AFIN001" MD5_A NAME_A SP83 "000", 142, 1, &other);
	assert_true(other.done);
	assert_int_equal(other.nitems, 2);
	assert_int_equal(other.consumed, 142);
	assert_int_equal(other.items[1].count, 0);
	/* §12 item 3: bytes after the end are not looked at. */
	afin_drive(AFIN262 "AFIN000", 269, 0, &other);
	assert_int_equal(other.consumed, 262);
	assert_true(other.done);
}

static void
test_afin_encode(void **state)
{
	static const char a457[] = AFIN457, a262[] = AFIN262;
	uint8_t out[512], *o = out;
	int n;

	(void)state;
	n = course_encode_afin_head(2, o, 7);
	assert_int_equal(n, 7);
	o += n;
	n = course_encode_afin_entry(MD5_A, str(NAME_A), 1, o, 135);
	assert_int_equal(n, 135);
	o += n;
	o += course_encode_afin_copy(&P2, o, 60);
	/* Upper-case md5 and padded name are made canonical. */
	n = course_encode_afin_entry("E2C78D5E95C4FC1EC8841BE424E905D6",
	    str(" " NAME_H "  "), 2, o, 135);
	assert_int_equal(n, 135);
	o += n;
	assert_int_equal(course_encode_afin_copy(&P2, o, 60), 60);
	o += 60;
	assert_int_equal(course_encode_afin_copy(&P1, o, 60), 60);
	o += 60;
	assert_int_equal(o - out, 457);
	assert_memory_equal(out, a457, 457);

	o = out;
	o += course_encode_afin_head(1, o, sizeof(out));
	o += course_encode_afin_entry(MD5_H, str(NAME_H), 2, o, 135);
	o += course_encode_afin_copy(&P2, o, 60);
	o += course_encode_afin_copy(&S2, o, 60);
	assert_int_equal(o - out, 262);
	assert_memory_equal(out, a262, 262);

	assert_int_equal(course_encode_afin_head(0, out, 7), 7);
	assert_memory_equal(out, "AFIN000", 7);
	assert_int_equal(course_encode_afin_head(999, out, 7), 7);
	assert_memory_equal(out, "AFIN999", 7);

	/* Refusals. */
	assert_int_equal(course_encode_afin_head(1000, out, 7), WARREN_EFIELD);
	assert_int_equal(course_encode_afin_head(1, out, 6), WARREN_ESPACE);
	assert_int_equal(course_encode_afin_entry(MD5_A, str(""), 1, out, 135),
	    WARREN_EEMPTY);
	assert_int_equal(
	    course_encode_afin_entry(MD5_A, str("   "), 1, out, 135),
	    WARREN_EEMPTY);
	assert_int_equal(
	    course_encode_afin_entry(MD5_A,
		str("x" SP10 SP10 SP10 SP10 SP10 SP10 SP10 SP10 SP10 SP10 "x"),
		1, out, 135),
	    WARREN_ETOOLONG);
	assert_int_equal(course_encode_afin_entry("not an md5 at all, no no no "
						  "nono",
			     str(NAME_A), 1, out, 135),
	    WARREN_EFIELD);
	assert_int_equal(
	    course_encode_afin_entry(MD5_A, str(NAME_A), 1000, out, 135),
	    WARREN_EFIELD);
	assert_int_equal(
	    course_encode_afin_entry(MD5_A, str(NAME_A), 1, out, 134),
	    WARREN_ESPACE);
	{
		struct course_peer q = P1;

		q.port = 0;
		assert_int_equal(
		    course_encode_afin_copy(&q, out, 60), WARREN_EFIELD);
	}
	assert_int_equal(course_encode_afin_copy(&P1, out, 59), WARREN_ESPACE);
}

/* Round trip of a generated AFIN, with maximal counts on one entry. */
static void
test_afin_roundtrip(void **state)
{
	static const struct course_peer *owners[] = {&P1, &P2, &S, &S2};
	static const char *md5s[] = {
	    MD5_A, MD5_H, "00000000000000000000000000000000"};
	static const char *names[] = {"a", NAME_H,
	    "x123456789"
	    "0123456789"
	    "0123456789"
	    "0123456789"
	    "0123456789"
	    "0123456789"
	    "0123456789"
	    "0123456789"
	    "0123456789"
	    "012345678y"};
	static const unsigned ncopies[] = {0, 4, 999};
	size_t cap = 7 + 3 * 135 + (4 + 999) * 60, len = 0;
	uint8_t *buf = malloc(cap);
	struct course_afin p;
	struct course_afin_item it;
	size_t e, c, off = 0;
	int rc;

	(void)state;
	assert_non_null(buf);
	len += (size_t)course_encode_afin_head(3, buf, cap);
	for (e = 0; e < 3; e++) {
		rc = course_encode_afin_entry(
		    md5s[e], str(names[e]), ncopies[e], buf + len, cap - len);
		assert_int_equal(rc, 135);
		len += 135;
		for (c = 0; c < ncopies[e]; c++) {
			struct course_peer q = *owners[c % 4];

			q.port = (uint16_t)(c + 1);
			rc = course_encode_afin_copy(&q, buf + len, cap - len);
			assert_int_equal(rc, 60);
			len += 60;
		}
	}
	assert_int_equal(len, cap);

	course_afin_init(&p);
	assert_int_equal(course_afin_next(&p, buf, len, &it), 7);
	off = 7;
	assert_int_equal(it.count, 3);
	for (e = 0; e < 3; e++) {
		rc = course_afin_next(&p, buf + off, len - off, &it);
		assert_int_equal(rc, 135);
		off += 135;
		assert_int_equal(it.type, COURSE_AFIN_ENTRY);
		assert_string_equal(it.md5, md5s[e]);
		assert_view(it.name, names[e]);
		assert_int_equal(it.count, ncopies[e]);
		assert_int_equal(p.copies_left, ncopies[e]);
		for (c = 0; c < ncopies[e]; c++) {
			struct course_peer q = *owners[c % 4];

			q.port = (uint16_t)(c + 1);
			rc = course_afin_next(&p, buf + off, len - off, &it);
			assert_int_equal(rc, 60);
			off += 60;
			assert_int_equal(it.type, COURSE_AFIN_COPY);
			assert_true(it.valid);
			assert_true(course_peer_equal(&it.peer, &q));
		}
	}
	assert_int_equal(off, len);
	assert_true(course_afin_done(&p));
	free(buf);
}

static void
test_afin_prefixes(void **state)
{
	static const char a457[] = AFIN457;
	struct afin_run r;
	size_t n;

	(void)state;
	/* A proper prefix never fails and never completes. */
	for (n = 0; n < 457; n++) {
		afin_drive(a457, n, 0, &r);
		assert_int_equal(r.last_rc, 0);
		assert_false(r.done);
	}
	for (n = 0; n < 7; n++) {
		afin_drive("AFIN000", n, 0, &r);
		assert_int_equal(r.last_rc, 0);
		assert_false(r.done);
	}
}

static void
test_afin_bad(void **state)
{
	static const char sorry[] = COURSE_SAY_NOTFOUND;
	uint8_t buf[457];
	struct afin_run r;
	struct afin_expect e[6];

	(void)state;
	/* An error sentence is known after its first byte. */
	afin_drive(sorry, 1, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EREFUSED);
	afin_drive(sorry, sizeof(sorry) - 1, 1, &r);
	assert_int_equal(r.last_rc, WARREN_EREFUSED);
	assert_int_equal(r.consumed, 0);
	afin_drive("AFIX002", 3, 0, &r);
	assert_int_equal(r.last_rc, 0);
	afin_drive("AFIX002", 4, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EREFUSED);
	afin_drive("afin000", 7, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EREFUSED);

	/* Bad count. */
	afin_drive("AFIN0x2", 7, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EFIELD);
	afin_drive("AFIN   ", 7, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EFIELD);
	afin_drive("AFIN-01", 7, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EFIELD);
	afin_drive("AFIN 2 ", 7, 0, &r); /* tolerated */
	assert_int_equal(r.items[0].count, 2);
	assert_int_equal(r.last_rc, 0);

	/* Bad md5 in the second entry: the first entry and its copy are
	 * kept, the rest is refused (§11). */
	memcpy(buf, AFIN457, 457);
	buf[202 + 5] = 'g';
	afin_drive(buf, 457, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EFIELD);
	assert_int_equal(r.nitems, 3);
	assert_int_equal(r.consumed, 202);
	assert_false(r.done);
	afin_drive(buf, 457, 1, &r);
	assert_int_equal(r.last_rc, WARREN_EFIELD);
	assert_int_equal(r.nitems, 3);

	/* Bad #copy: a name of the wrong length misaligns it (§11). */
	memcpy(buf, AFIN457, 457);
	memcpy(buf + 7 + 132, "0 1", 3);
	afin_drive(buf, 457, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EFIELD);
	assert_int_equal(r.nitems, 1);

	/* A copy with a bad address or port: valid = 0, parsing goes on
	 * (§12 item 11). */
	memcpy(buf, AFIN457, 457);
	memcpy(buf + 7 + 135, "010.000.000.256", 15);
	memcpy(buf + 337 + 55, "00000", 5); /* P2's port, 2nd entry */
	afin_drive(buf, 457, 0, &r);
	assert_int_equal(r.last_rc, 0);
	assert_true(r.done);
	assert_int_equal(r.consumed, 457);
	memcpy(e, afin457_items, sizeof(e));
	e[2].valid = 0;
	e[2].peer = NULL;
	e[4].valid = 0;
	e[4].peer = NULL;
	assert_afin_items(&r, e, 6);
	{
		static const struct course_peer none;

		/* An invalid copy carries no half-parsed address. */
		assert_true(course_peer_equal(&r.items[2].peer, &none));
		assert_true(course_peer_equal(&r.items[4].peer, &none));
	}
	/* A copy whose port is padded with a space is fine. */
	memcpy(buf, AFIN457, 457);
	memcpy(buf + 7 + 135 + 55, "6000 ", 5);
	afin_drive(buf, 457, 1, &r);
	assert_afin_items(&r, afin457_items, 6);

	/* Entry names padded with NULs are stripped; lower-cased names
	 * come back as sent (§12 item 2). */
	memcpy(buf, AFIN457, 457);
	memset(buf + 7 + 32 + 17, '\0', 83);
	memcpy(buf + 7 + 32, "annual_report.pdf", 17);
	afin_drive(buf, 457, 0, &r);
	assert_true(r.done);
	assert_view(r.items[1].name, "annual_report.pdf");

	/* Upper-case md5 in an entry is lower-cased. */
	memcpy(buf, AFIN457, 457);
	memcpy(buf + 7, "0F53217FC7C8E7F89E8A8558E64A7083", 32);
	afin_drive(buf, 457, 0, &r);
	assert_afin_items(&r, afin457_items, 6);
}

/* ------------------------------------------------------- ARET and AREP */

/* Everything a run of the chunk parser returned. */
struct chunks_run {
	uint8_t *data; /* concatenated data runs */
	size_t data_len;
	size_t consumed;
	int last_rc;
	int done;
	unsigned long nchunk;
};

static void
chunks_drive(enum course_kind kind, const void *wire, size_t len, size_t step,
    size_t data_cap, struct chunks_run *r)
{
	struct course_chunks p;
	const uint8_t *data;
	size_t data_len, avail = step ? 0 : len;
	int rc;

	memset(r, 0, sizeof(*r));
	r->data = malloc(data_cap > 0 ? data_cap : 1);
	assert_non_null(r->data);
	course_chunks_init(&p, kind);
	for (;;) {
		uint8_t *b = guard(
		    (const uint8_t *)wire + r->consumed, avail - r->consumed);

		rc = course_chunks_feed(
		    &p, b, avail - r->consumed, &data, &data_len);
		if (rc > 0) {
			assert_true(data_len <= (size_t)rc);
			if (data_len > 0) {
				assert_true(
				    data >= b && data + data_len <= b + rc);
				assert_true(r->data_len + data_len <= data_cap);
				memcpy(r->data + r->data_len, data, data_len);
				r->data_len += data_len;
			}
			r->consumed += (size_t)rc;
		} else {
			assert_int_equal(data_len, 0);
		}
		free(b);
		if (rc > 0 && course_chunks_done(&p))
			break;
		if (rc < 0 || (rc == 0 && avail == len)) {
			r->last_rc = rc;
			break;
		}
		if (rc == 0)
			avail = avail + step > len ? len : avail + step;
	}
	r->done = course_chunks_done(&p);
	r->nchunk = p.nchunk;
	assert_int_equal(p.total, r->data_len);
}

/* Build a chunked reply of size bytes of patterned data, chunk bytes each. */
static size_t
chunks_build(enum course_kind kind, uint64_t size, unsigned chunk, uint8_t *out,
    size_t cap, uint8_t *data)
{
	unsigned long nchunk = 0, i;
	unsigned c;
	size_t len = 0, off = 0, n;

	assert_int_equal(course_chunk_plan(size, chunk, &c, &nchunk), 0);
	assert_int_equal(course_encode_chunks_head(kind, nchunk, out, cap), 10);
	len = 10;
	for (i = 0; i < nchunk; i++) {
		n = size - off < c ? size - off : c;
		assert_int_equal(
		    course_encode_chunk_len((unsigned)n, out + len, cap - len),
		    5);
		len += 5;
		assert_true(len + n <= cap);
		memcpy(out + len, data + off, n);
		len += n;
		off += n;
	}
	assert_int_equal(off, size);
	return len;
}

static uint8_t *
pattern(size_t n, unsigned seed)
{
	uint8_t *d = malloc(n > 0 ? n : 1);
	size_t i;

	assert_non_null(d);
	for (i = 0; i < n; i++)
		d[i] = (uint8_t)((i * 131 + seed) ^ (i >> 8));
	return d;
}

static void
test_chunks_examples(void **state)
{
	uint8_t *data = pattern(75712, 7), *wire, *expect;
	struct chunks_run whole, bytewise, other;
	size_t len, step;

	(void)state;
	/* §10.4: 10 000 bytes in 4096-byte chunks, 10 025 bytes in all. */
	wire = malloc(10025);
	expect = malloc(10025);
	len = chunks_build(COURSE_ARET, 10000, 4096, wire, 10025, data);
	assert_int_equal(len, 10025);
	memcpy(expect,
	    "ARET000003"
	    "04096",
	    15);
	memcpy(expect + 15, data, 4096);
	memcpy(expect + 15 + 4096, "04096", 5);
	memcpy(expect + 20 + 4096, data + 4096, 4096);
	memcpy(expect + 20 + 8192, "01808", 5);
	memcpy(expect + 25 + 8192, data + 8192, 1808);
	assert_memory_equal(wire, expect, 10025);

	chunks_drive(COURSE_ARET, wire, len, 0, 10000, &whole);
	assert_true(whole.done);
	assert_int_equal(whole.last_rc, 0);
	assert_int_equal(whole.consumed, 10025);
	assert_int_equal(whole.nchunk, 3);
	assert_int_equal(whole.data_len, 10000);
	assert_memory_equal(whole.data, data, 10000);
	chunks_drive(COURSE_ARET, wire, len, 1, 10000, &bytewise);
	assert_true(bytewise.done);
	assert_int_equal(bytewise.consumed, 10025);
	assert_memory_equal(bytewise.data, data, 10000);
	free(bytewise.data);
	for (step = 2; step < 5000; step = step * 3 + 1) {
		chunks_drive(COURSE_ARET, wire, len, step, 10000, &other);
		assert_true(other.done);
		assert_int_equal(other.consumed, 10025);
		assert_memory_equal(other.data, data, 10000);
		free(other.data);
	}
	free(whole.data);
	/* The same bytes are not an AREP: refused at the 4th byte. */
	chunks_drive(COURSE_AREP, wire, len, 1, 10000, &other);
	assert_int_equal(other.last_rc, WARREN_EREFUSED);
	assert_int_equal(other.consumed, 0);
	free(other.data);
	free(wire);
	free(expect);

	/* §10.5: part 2 of 75 712 bytes, 18 × 4096 + 1984: 75 817 bytes. */
	wire = malloc(75817);
	len = chunks_build(COURSE_AREP, 75712, 4096, wire, 75817, data);
	assert_int_equal(len, 75817);
	assert_memory_equal(wire,
	    "AREP000019"
	    "04096",
	    15);
	assert_memory_equal(wire + 75817 - 1984 - 5, "01984", 5);
	chunks_drive(COURSE_AREP, wire, len, 0, 75712, &whole);
	assert_true(whole.done);
	assert_int_equal(whole.nchunk, 19);
	assert_int_equal(whole.consumed, 75817);
	assert_memory_equal(whole.data, data, 75712);
	free(whole.data);
	chunks_drive(COURSE_AREP, wire, len, 997, 75712, &other);
	assert_true(other.done);
	assert_memory_equal(other.data, data, 75712);
	free(other.data);
	free(wire);

	/* Empty file. */
	chunks_drive(COURSE_ARET, "ARET000000", 10, 0, 0, &whole);
	assert_true(whole.done);
	assert_int_equal(whole.consumed, 10);
	assert_int_equal(whole.data_len, 0);
	free(whole.data);
	free(data);
}

static void
test_chunks_mixed_and_bounds(void **state)
{
	static const char mixed[] = "ARET000003"
				    "00001"
				    "a"
				    "00003"
				    "bcd"
				    " 2   "
				    "ef";
	struct course_chunks p;
	const uint8_t *data;
	size_t data_len;
	struct chunks_run r;
	uint8_t *b;

	(void)state;
	/* Any mix of chunk lengths, padded counts. */
	chunks_drive(COURSE_ARET, mixed, sizeof(mixed) - 1, 0, 16, &r);
	assert_true(r.done);
	assert_int_equal(r.data_len, 6);
	assert_memory_equal(r.data, "abcdef", 6);
	free(r.data);

	/* Never consumes past the end of the reply. */
	b = guard("ARET000001"
		  "00002"
		  "xyTRAILING",
	    25);
	course_chunks_init(&p, COURSE_ARET);
	assert_int_equal(course_chunks_feed(&p, b, 25, &data, &data_len), 17);
	assert_int_equal(data_len, 2);
	assert_memory_equal(data, "xy", 2);
	assert_true(course_chunks_done(&p));
	assert_int_equal(
	    course_chunks_feed(&p, b + 17, 8, &data, &data_len), WARREN_EPROTO);
	free(b);

	/* One call stops at the end of a chunk. */
	b = guard("AREP000002"
		  "00001"
		  "x"
		  "00001"
		  "y",
	    22);
	course_chunks_init(&p, COURSE_AREP);
	assert_int_equal(course_chunks_feed(&p, b, 22, &data, &data_len), 16);
	assert_memory_equal(data, "x", 1);
	assert_int_equal(
	    course_chunks_feed(&p, b + 16, 6, &data, &data_len), 6);
	assert_memory_equal(data, "y", 1);
	assert_true(course_chunks_done(&p));
	assert_int_equal(p.total, 2);
	free(b);

	/* Every proper prefix is "need more" or progress, never an error,
	 * never the end. */
	{
		static const char w[] = "ARET000002"
					"00003"
					"abc"
					"00002"
					"de";
		size_t n;

		for (n = 0; n < sizeof(w) - 1; n++) {
			chunks_drive(COURSE_ARET, w, n, 0, 16, &r);
			assert_int_equal(r.last_rc, 0);
			assert_false(r.done);
			free(r.data);
		}
		for (n = 0; n < 10; n++) {
			chunks_drive(COURSE_ARET, "ARET000000", n, 0, 0, &r);
			assert_int_equal(r.last_rc, 0);
			assert_false(r.done);
			free(r.data);
		}
	}
}

static void
test_chunks_bad(void **state)
{
	static const char sorry[] = COURSE_SAY_NOTFOUND;
	static const struct {
		const char *wire;
		int rc;
		size_t consumed;
		size_t data_len;
	} rows[] = {
	    {"Sorry", WARREN_EREFUSED, 0, 0},
	    {"S", WARREN_EREFUSED, 0, 0},
	    {"ARET00000x", WARREN_EFIELD, 0, 0},
	    {"ARET      ", WARREN_EFIELD, 0, 0},
	    {"ARET-00001", WARREN_EFIELD, 0, 0},
	    {"ARET000001"
	     "00000",
		WARREN_EFIELD, 10, 0},
	    {"ARET000001"
	     "0409x",
		WARREN_EFIELD, 10, 0},
	    {"ARET000001"
	     "     ",
		WARREN_EFIELD, 10, 0},
	    {"ARET000002"
	     "00001"
	     "a"
	     "00000",
		WARREN_EFIELD, 16, 1},
	    {"ARET000002"
	     "00001"
	     "a"
	     "x0001"
	     "b",
		WARREN_EFIELD, 16, 1},
	};
	struct chunks_run r;
	size_t i, step;

	(void)state;
	chunks_drive(COURSE_ARET, sorry, 1, 0, 0, &r);
	assert_int_equal(r.last_rc, WARREN_EREFUSED);
	free(r.data);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (step = 0; step < 3; step++) {
			print_message(
			    "chunks bad %s step %zu\n", rows[i].wire, step);
			chunks_drive(COURSE_ARET, rows[i].wire,
			    strlen(rows[i].wire), step, 16, &r);
			assert_int_equal(r.last_rc, rows[i].rc);
			assert_int_equal(r.consumed, rows[i].consumed);
			assert_int_equal(r.data_len, rows[i].data_len);
			assert_false(r.done);
			free(r.data);
		}
	}
	/* A parser for another kind refuses to run. */
	{
		struct course_chunks p;
		const uint8_t *data;
		size_t data_len;

		course_chunks_init(&p, COURSE_RETR);
		assert_int_equal(
		    course_chunks_feed(&p, "ARET000000", 10, &data, &data_len),
		    WARREN_EKIND);
	}
}

static void
test_chunk_plan(void **state)
{
	static const struct {
		uint64_t size;
		unsigned chunk;
		int rc;
		unsigned chunk_out;
		unsigned long nchunk;
	} rows[] = {
	    {0, 4096, 0, 4096, 0},
	    {1, 4096, 0, 4096, 1},
	    {4096, 4096, 0, 4096, 1},
	    {4097, 4096, 0, 4096, 2},
	    {10000, 4096, 0, 4096, 3},
	    {75712, 4096, 0, 4096, 19},
	    {600000, 99999, 0, 99999, 7},
	    {4095995904ULL, 4096, 0, 4096, 999999},
	    {4095995905ULL, 4096, 0, 4097, 999755},
	    {10000000000ULL, 4096, 0, 10001, 999901},
	    {65535934464ULL, 65536, 0, 65536, 999999},
	    {99998900001ULL, 4096, 0, 99999, 999999},
	    {99998900002ULL, 4096, WARREN_ETOOLONG, 0, 0},
	    {UINT64_MAX, 99999, WARREN_ETOOLONG, 0, 0},
	    {10, 0, WARREN_ECONFIG, 0, 0},
	    {10, 100000, WARREN_ECONFIG, 0, 0},
	};
	unsigned c;
	unsigned long n;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		c = 0;
		n = 0;
		assert_int_equal(
		    course_chunk_plan(rows[i].size, rows[i].chunk, &c, &n),
		    rows[i].rc);
		if (rows[i].rc != 0)
			continue;
		assert_int_equal(c, rows[i].chunk_out);
		assert_int_equal(n, rows[i].nchunk);
	}
}

static void
test_chunks_encode(void **state)
{
	uint8_t out[16];

	(void)state;
	assert_int_equal(
	    course_encode_chunks_head(COURSE_ARET, 3, out, 10), 10);
	assert_memory_equal(out, "ARET000003", 10);
	assert_int_equal(
	    course_encode_chunks_head(COURSE_AREP, 999999, out, 10), 10);
	assert_memory_equal(out, "AREP999999", 10);
	assert_int_equal(
	    course_encode_chunks_head(COURSE_AREP, 1000000, out, 10),
	    WARREN_EFIELD);
	assert_int_equal(
	    course_encode_chunks_head(COURSE_RETR, 1, out, 10), WARREN_EKIND);
	assert_int_equal(
	    course_encode_chunks_head(COURSE_ARET, 1, out, 9), WARREN_ESPACE);
	assert_int_equal(course_encode_chunk_len(4096, out, 5), 5);
	assert_memory_equal(out, "04096", 5);
	assert_int_equal(course_encode_chunk_len(99999, out, 5), 5);
	assert_memory_equal(out, "99999", 5);
	assert_int_equal(course_encode_chunk_len(0, out, 5), WARREN_EFIELD);
	assert_int_equal(
	    course_encode_chunk_len(100000, out, 5), WARREN_EFIELD);
	assert_int_equal(course_encode_chunk_len(1, out, 4), WARREN_ESPACE);
}

/* ---------------------------------------------------------------- AHAS */

struct ahas_run {
	uint8_t sha1[8][20];
	uint32_t index[8];
	size_t nparts;
	int head;
	size_t consumed;
	int last_rc;
	int done;
	struct course_ahas p;
};

static void
ahas_drive(const void *wire, size_t len, size_t step, uint32_t max_parts,
    struct ahas_run *r)
{
	size_t avail = step ? 0 : len;
	uint8_t sha1[20];
	uint32_t index;
	int rc;

	memset(r, 0, sizeof(*r));
	course_ahas_init(&r->p, max_parts);
	for (;;) {
		uint8_t *b = guard(
		    (const uint8_t *)wire + r->consumed, avail - r->consumed);

		index = 12345;
		rc = course_ahas_next(
		    &r->p, b, avail - r->consumed, sha1, &index);
		free(b);
		if (rc > 0) {
			r->consumed += (size_t)rc;
			if (index == UINT32_MAX) {
				assert_int_equal(rc, 28);
				r->head++;
			} else {
				assert_int_equal(rc, 40);
				assert_true(r->nparts < 8);
				memcpy(r->sha1[r->nparts], sha1, 20);
				r->index[r->nparts++] = index;
			}
		}
		if (rc > 0 && course_ahas_done(&r->p))
			break;
		if (rc < 0 || (rc == 0 && avail == len)) {
			r->last_rc = rc;
			break;
		}
		if (rc == 0)
			avail = avail + step > len ? len : avail + step;
	}
	r->done = course_ahas_done(&r->p);
}

static void
sha1_bin(const char *hex, uint8_t out[20])
{
	size_t i;
	unsigned v;

	for (i = 0; i < 20; i++) {
		v = 0;
		for (int j = 0; j < 2; j++) {
			char c = hex[2 * i + (size_t)j];

			v = v * 16 +
			    (unsigned)(c <= '9' ? c - '0'
						: (c | 0x20) - 'a' + 10);
		}
		out[i] = (uint8_t)v;
	}
}

static void
test_ahas_example(void **state)
{
	static const char *shas[] = {SHA_0, SHA_1, SHA_2};
	uint8_t bin[3][20], out[148];
	struct ahas_run whole, bytewise;
	size_t i, n, step;

	(void)state;
	assert_int_equal(strlen(AHAS148), 148);
	for (i = 0; i < 3; i++)
		sha1_bin(shas[i], bin[i]);

	ahas_drive(AHAS148, 148, 0, COURSE_NPART_MAX, &whole);
	assert_int_equal(whole.last_rc, 0);
	assert_true(whole.done);
	assert_int_equal(whole.head, 1);
	assert_int_equal(whole.p.lenfile, 600000);
	assert_int_equal(whole.p.lenpart, 262144);
	assert_int_equal(whole.p.nparts, 3);
	assert_int_equal(whole.nparts, 3);
	assert_int_equal(whole.consumed, 148);
	for (i = 0; i < 3; i++) {
		assert_int_equal(whole.index[i], i);
		assert_memory_equal(whole.sha1[i], bin[i], 20);
	}
	for (step = 1; step < 60; step += 19) {
		ahas_drive(AHAS148, 148, step, COURSE_NPART_MAX, &bytewise);
		assert_true(bytewise.done);
		assert_int_equal(bytewise.consumed, 148);
		assert_memory_equal(
		    bytewise.sha1, whole.sha1, sizeof(whole.sha1));
		assert_memory_equal(
		    bytewise.index, whole.index, sizeof(whole.index));
	}

	/* Encode the same reply from binary. */
	n = (size_t)course_encode_ahas_head(600000, 262144, 3, out, 28);
	assert_int_equal(n, 28);
	for (i = 0; i < 3; i++) {
		assert_int_equal(
		    course_encode_ahas_part(bin[i], out + n, 40), 40);
		n += 40;
	}
	assert_memory_equal(out, AHAS148, 148);

	/* Every proper prefix: need more, never an error, never done. */
	for (n = 0; n < 148; n++) {
		ahas_drive(AHAS148, n, 0, COURSE_NPART_MAX, &whole);
		assert_int_equal(whole.last_rc, 0);
		assert_false(whole.done);
	}

	/* After the end: EPROTO. */
	ahas_drive(AHAS148, 148, 0, 3, &whole);
	assert_true(whole.done);
	{
		uint8_t sha1[20];
		uint32_t index;

		assert_int_equal(
		    course_ahas_next(&whole.p, SHA_0, 40, sha1, &index),
		    WARREN_EPROTO);
	}
}

static void
test_ahas_bad(void **state)
{
	static const struct {
		const char *wire;
		uint32_t max_parts;
		int rc;
		size_t consumed;
	} rows[] = {
	    {COURSE_SAY_NOTFOUND, COURSE_NPART_MAX, WARREN_EREFUSED, 0},
	    {"S", COURSE_NPART_MAX, WARREN_EREFUSED, 0},
	    {"AHAX", COURSE_NPART_MAX, WARREN_EREFUSED, 0},
	    /* inconsistent #part */
	    {"AHAS"
	     "0000600000"
	     "262144"
	     "00000004",
		COURSE_NPART_MAX, WARREN_EFIELD, 0},
	    {"AHAS"
	     "0000600000"
	     "262144"
	     "00000002",
		COURSE_NPART_MAX, WARREN_EFIELD, 0},
	    {"AHAS"
	     "0000000000"
	     "262144"
	     "00000001",
		COURSE_NPART_MAX, WARREN_EFIELD, 0},
	    /* LenPart 0 */
	    {"AHAS"
	     "0000600000"
	     "000000"
	     "00000003",
		COURSE_NPART_MAX, WARREN_EFIELD, 0},
	    {"AHAS"
	     "0000000000"
	     "000000"
	     "00000000",
		COURSE_NPART_MAX, WARREN_EFIELD, 0},
	    /* non-digits */
	    {"AHAS"
	     "00006000x0"
	     "262144"
	     "00000003",
		COURSE_NPART_MAX, WARREN_EFIELD, 0},
	    {"AHAS"
	     "0000600000"
	     "2621 4"
	     "00000003",
		COURSE_NPART_MAX, WARREN_EFIELD, 0},
	    {"AHAS"
	     "0000600000"
	     "262144"
	     "        ",
		COURSE_NPART_MAX, WARREN_EFIELD, 0},
	    /* too many parts */
	    {AHAS148, 2, WARREN_ELIMIT, 0},
	    {"AHAS"
	     "0099999999"
	     "000001"
	     "99999999",
		COURSE_NPART_MAX, WARREN_ELIMIT, 0},
	    /* bad hash */
	    {"AHAS"
	     "0000600000"
	     "262144"
	     "00000003" SHA_0 "cecb13e609ccb9d723615d38598b0cb57186761g",
		COURSE_NPART_MAX, WARREN_EFIELD, 68},
	    {"AHAS"
	     "0000600000"
	     "262144"
	     "00000003"
	     " c76f3560f00dcfa97faaaf16b9a830f1cfc1c05",
		COURSE_NPART_MAX, WARREN_EFIELD, 28},
	};
	struct ahas_run r;
	size_t i, step;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (step = 0; step < 2; step++) {
			print_message("ahas bad %zu\n", i);
			ahas_drive(rows[i].wire, strlen(rows[i].wire), step,
			    rows[i].max_parts, &r);
			assert_int_equal(r.last_rc, rows[i].rc);
			assert_int_equal(r.consumed, rows[i].consumed);
			assert_false(r.done);
		}
	}
	/* Sentence after one byte. */
	ahas_drive("Busy", 1, 0, 10, &r);
	assert_int_equal(r.last_rc, WARREN_EREFUSED);
}

static void
test_ahas_tolerated_and_roundtrip(void **state)
{
	static const char upper[] =
	    "AHAS"
	    " 600000   "
	    "262144"
	    "3       "
	    "C76F3560F00DCFA97FAAAF16B9A830F1CFC1C055" SHA_1 SHA_2;
	uint8_t bin[5][20], out[28 + 5 * 40];
	struct ahas_run a, b;
	size_t i, n;

	(void)state;
	/* Padded counts and upper-case hex (§12 item 5). */
	ahas_drive(upper, 148, 0, COURSE_NPART_MAX, &a);
	ahas_drive(AHAS148, 148, 0, COURSE_NPART_MAX, &b);
	assert_true(a.done);
	assert_memory_equal(a.sha1, b.sha1, sizeof(a.sha1));

	/* Empty file: no part hash at all. */
	ahas_drive("AHAS"
		   "0000000000"
		   "262144"
		   "00000000",
	    28, 0, 0, &a);
	assert_true(a.done);
	assert_int_equal(a.head, 1);
	assert_int_equal(a.nparts, 0);

	/* Round trip: 5 parts of a 1 000 001-byte file, parts of 250 000. */
	for (i = 0; i < 5; i++)
		for (n = 0; n < 20; n++)
			bin[i][n] = (uint8_t)(i * 37 + n * 11);
	n = (size_t)course_encode_ahas_head(1000001, 250000, 5, out, 28);
	for (i = 0; i < 5; i++)
		n += (size_t)course_encode_ahas_part(bin[i], out + n, 40);
	assert_int_equal(n, sizeof(out));
	ahas_drive(out, n, 1, 5, &a);
	assert_true(a.done);
	assert_int_equal(a.p.lenfile, 1000001);
	assert_int_equal(a.p.lenpart, 250000);
	assert_int_equal(a.p.nparts, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(a.index[i], i);
		assert_memory_equal(a.sha1[i], bin[i], 20);
	}
	/* Largest values. */
	assert_int_equal(
	    course_encode_ahas_head(9999999999ULL, 999999, 10001, out, 28), 28);
	assert_memory_equal(out,
	    "AHAS9999999999999999"
	    "00010001",
	    28);

	/* Encoder refusals. */
	assert_int_equal(
	    course_encode_ahas_head(600000, 262144, 4, out, 28), WARREN_EFIELD);
	assert_int_equal(
	    course_encode_ahas_head(600000, 0, 0, out, 28), WARREN_EFIELD);
	assert_int_equal(course_encode_ahas_head(600000, 1000000, 1, out, 28),
	    WARREN_EFIELD);
	assert_int_equal(
	    course_encode_ahas_head(10000000000ULL, 999999, 10001, out, 28),
	    WARREN_EFIELD);
	assert_int_equal(
	    course_encode_ahas_head(600000, 262144, 3, out, 27), WARREN_ESPACE);
	assert_int_equal(
	    course_encode_ahas_part(bin[0], out, 39), WARREN_ESPACE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kind_table),
	    cmocka_unit_test(test_examples_decode),
	    cmocka_unit_test(test_examples_encode),
	    cmocka_unit_test(test_examples_prefix),
	    cmocka_unit_test(test_roundtrip_fixed),
	    cmocka_unit_test(test_algi),
	    cmocka_unit_test(test_decode_reply),
	    cmocka_unit_test(test_bad_fields),
	    cmocka_unit_test(test_tolerated),
	    cmocka_unit_test(test_ipp2p),
	    cmocka_unit_test(test_ipp2p_format),
	    cmocka_unit_test(test_port_parse),
	    cmocka_unit_test(test_peer_equal),
	    cmocka_unit_test(test_encode_refusals),
	    cmocka_unit_test(test_peer_sockaddr),
	    cmocka_unit_test(test_peer_from_sockaddr),
	    cmocka_unit_test(test_term_match),
	    cmocka_unit_test(test_name_sanitize),
	    cmocka_unit_test(test_sentence_classify),
	    cmocka_unit_test(test_hex_helpers),
	    cmocka_unit_test(test_afin_examples),
	    cmocka_unit_test(test_afin_encode),
	    cmocka_unit_test(test_afin_roundtrip),
	    cmocka_unit_test(test_afin_prefixes),
	    cmocka_unit_test(test_afin_bad),
	    cmocka_unit_test(test_chunks_examples),
	    cmocka_unit_test(test_chunks_mixed_and_bounds),
	    cmocka_unit_test(test_chunks_bad),
	    cmocka_unit_test(test_chunk_plan),
	    cmocka_unit_test(test_chunks_encode),
	    cmocka_unit_test(test_ahas_example),
	    cmocka_unit_test(test_ahas_bad),
	    cmocka_unit_test(test_ahas_tolerated_and_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, teardown_input);
}
