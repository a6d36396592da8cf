/*
 * test_index.c: the directory/supernode index (src/store/index.c) against
 * course.md §4 and §5.3: sessions, ADDF/DELF/LOGO counts, FIND semantics
 * (case, literal characters, bytes >= 0x80, order, caps), DREG, and
 * persistence in a real SQLite file. A timed FIND over many files is
 * printed, never asserted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/db.h"
#include "store/index.h"
#include "warren/error.h"
#include "wire/course.h"

#define MD5_A "0f53217fc7c8e7f89e8a8558e64a7083"
#define MD5_B "e2c78d5e95c4fc1ec8841be424e905d6"
#define MD5_C "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define MD5_D "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

#define MAX_HITS 128

/* What index_find reported, one row per (file, owner). */
struct hit {
	char md5[COURSE_MD5_LEN + 1];
	char name[COURSE_NAME_LEN + 1];
	size_t name_len;
	struct course_peer owner;
};

struct hits {
	struct hit h[MAX_HITS];
	size_t n;
};

/* ------------------------------------------------------------ helpers */

/* A node 10.0.0.n with the IPv4-mapped IPv6 the codec produces. */
static struct course_peer
peer(unsigned n, uint16_t port)
{
	struct course_peer p;

	memset(&p, 0, sizeof(p));
	p.v4[0] = 10;
	p.v4[3] = (uint8_t)n;
	p.v6[10] = 0xff;
	p.v6[11] = 0xff;
	memcpy(p.v6 + 12, p.v4, 4);
	p.port = port;
	return p;
}

static struct index *
open_mem(unsigned max_sessions, unsigned files_per_session)
{
	struct index_limits lim = {max_sessions, files_per_session};
	struct index *ix = NULL;

	assert_int_equal(index_open(":memory:", 0, &lim, &ix), 0);
	assert_non_null(ix);
	return ix;
}

static void
login(struct index *ix, unsigned n, uint16_t port, char id[COURSE_SESSION_LEN])
{
	struct course_peer p = peer(n, port);
	int created = -1;

	assert_int_equal(index_login(ix, &p, 1000, id, &created), 0);
	assert_int_equal(created, 1);
}

static int
add(struct index *ix, const char *id, const char *md5, const char *name)
{
	return index_add(ix, id, md5, name, strlen(name));
}

static void
collect_cb(void *arg, const char *md5, const char *name, size_t name_len,
    const struct course_peer *owner)
{
	struct hits *hs = arg;
	struct hit *h;

	assert_true(hs->n < MAX_HITS);
	assert_int_equal(strlen(md5), COURSE_MD5_LEN);
	assert_true(name_len >= 1 && name_len <= COURSE_NAME_LEN);
	h = &hs->h[hs->n++];
	memcpy(h->md5, md5, COURSE_MD5_LEN + 1);
	memcpy(h->name, name, name_len);
	h->name[name_len] = '\0';
	h->name_len = name_len;
	h->owner = *owner;
}

static int
find(struct index *ix, const char *term, unsigned max_md5, unsigned max_copies,
    struct hits *hs)
{
	struct course_str t = {term, strlen(term)};

	memset(hs, 0, sizeof(*hs));
	return index_find(ix, t, max_md5, max_copies, collect_cb, hs);
}

/*
 * FIND term with no caps and compare the names found (one per file, in
 * order) with the NULL-terminated list want.
 */
static void
expect_names(struct index *ix, const char *term, const char *const *want)
{
	struct hits hs;
	size_t i, nwant = 0, files = 0;
	int n;

	while (want[nwant] != NULL)
		nwant++;
	n = find(ix, term, 999, 999, &hs);
	for (i = 0; i < hs.n; i++) {
		if (i > 0 && strcmp(hs.h[i].md5, hs.h[i - 1].md5) == 0)
			continue;
		if (files >= nwant || strcmp(hs.h[i].name, want[files]) != 0)
			fail_msg("term \"%s\": file %zu is \"%s\", want \"%s\"",
			    term, files, hs.h[i].name,
			    files < nwant ? want[files] : "(none)");
		files++;
	}
	if (files != nwant || (size_t)n != nwant)
		fail_msg("term \"%s\": %zu files (returned %d), want %zu", term,
		    files, n, nwant);
}

/* ------------------------------------------------------------ sessions */

static void
test_login_same_node(void **state)
{
	struct index *ix = open_mem(0, 0);
	struct course_peer p = peer(1, 3000), q, out;
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN],
	    c[COURSE_SESSION_LEN], d[COURSE_SESSION_LEN];
	int created, i;

	(void)state;
	assert_int_equal(index_login(ix, &p, 5, a, &created), 0);
	assert_int_equal(created, 1);
	for (i = 0; i < COURSE_SESSION_LEN; i++)
		assert_true((a[i] >= '0' && a[i] <= '9') ||
		    (a[i] >= 'A' && a[i] <= 'F'));
	assert_memory_not_equal(a, "0000000000000000", COURSE_SESSION_LEN);

	/* Same addresses and port: the same SessionID, nothing created. */
	assert_int_equal(index_login(ix, &p, 6, b, &created), 0);
	assert_int_equal(created, 0);
	assert_memory_equal(a, b, COURSE_SESSION_LEN);

	/* Another port, or another IPv6 half: another node. */
	q = peer(1, 3001);
	assert_int_equal(index_login(ix, &q, 7, c, &created), 0);
	assert_int_equal(created, 1);
	assert_memory_not_equal(a, c, COURSE_SESSION_LEN);
	q = peer(1, 3000);
	q.v6[0] = 0xfd;
	assert_int_equal(index_login(ix, &q, 8, d, &created), 0);
	assert_int_equal(created, 1);
	assert_memory_not_equal(a, d, COURSE_SESSION_LEN);
	assert_memory_not_equal(c, d, COURSE_SESSION_LEN);

	assert_int_equal(index_session(ix, a, &out), 0);
	assert_memory_equal(&out, &p, sizeof(p));
	assert_int_equal(index_session(ix, d, &out), 0);
	assert_memory_equal(&out, &q, sizeof(q));
	index_close(ix);
}

static void
test_login_limit(void **state)
{
	struct index *ix = open_mem(2, 0);
	struct course_peer p = peer(3, 3000);
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN],
	    c[COURSE_SESSION_LEN];
	struct index_stats st;
	int created = -1;

	(void)state;
	login(ix, 1, 3000, a);
	login(ix, 2, 3000, b);
	assert_int_equal(index_login(ix, &p, 1, c, &created), WARREN_ELIMIT);
	assert_int_equal(created, 0);
	index_stats(ix, &st);
	assert_int_equal(st.sessions, 2);

	/* A live node still gets its SessionID back when the table is full. */
	p = peer(1, 3000);
	assert_int_equal(index_login(ix, &p, 1, c, &created), 0);
	assert_int_equal(created, 0);
	assert_memory_equal(a, c, COURSE_SESSION_LEN);

	/* A LOGO frees a place. */
	assert_int_equal(index_logout(ix, b), 0);
	login(ix, 3, 3000, c);
	index_close(ix);
}

static void
test_unknown_session(void **state)
{
	struct index *ix = open_mem(0, 0);
	char id[COURSE_SESSION_LEN], ghost[COURSE_SESSION_LEN];
	struct course_peer out;
	struct index_stats st;

	(void)state;
	login(ix, 1, 3000, id);
	memcpy(ghost, "0123456789ABCDEF", COURSE_SESSION_LEN);
	assert_int_equal(add(ix, ghost, MD5_A, "x.txt"), WARREN_ENOTFOUND);
	assert_int_equal(index_del(ix, ghost, MD5_A), WARREN_ENOTFOUND);
	assert_int_equal(index_logout(ix, ghost), WARREN_ENOTFOUND);
	assert_int_equal(index_session(ix, ghost, &out), WARREN_ENOTFOUND);
	memcpy(ghost, "0000000000000000", COURSE_SESSION_LEN);
	assert_int_equal(index_session(ix, ghost, &out), WARREN_ENOTFOUND);
	index_touch(ix, ghost, 5); /* harmless */
	index_stats(ix, &st);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.files, 0);
	assert_int_equal(st.links, 0);
	index_close(ix);
}

static void
test_foreach_cb(void *arg, const char id[COURSE_SESSION_LEN],
    const struct course_peer *p, uint64_t last_ms)
{
	uint64_t *seen = arg;

	(void)id;
	assert_true(p->v4[3] >= 1 && p->v4[3] <= 3);
	seen[p->v4[3]] = last_ms;
}

/* A callback that logs each session out: foreach copies rows first. */
static void
logout_cb(void *arg, const char id[COURSE_SESSION_LEN],
    const struct course_peer *p, uint64_t last_ms)
{
	struct index *ix = arg;

	(void)p;
	(void)last_ms;
	assert_true(index_logout(ix, id) >= 0);
}

static void
test_foreach_session(void **state)
{
	struct index *ix = open_mem(0, 0);
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN],
	    c[COURSE_SESSION_LEN];
	uint64_t seen[4] = {0};
	struct index_stats st;

	(void)state;
	login(ix, 1, 3000, a);
	login(ix, 2, 3000, b);
	login(ix, 3, 3000, c);
	index_touch(ix, b, 777);
	index_foreach_session(ix, test_foreach_cb, seen);
	assert_int_equal(seen[1], 1000);
	assert_int_equal(seen[2], 777);
	assert_int_equal(seen[3], 1000);

	assert_int_equal(add(ix, a, MD5_A, "a.txt"), 1);
	index_foreach_session(ix, logout_cb, ix);
	index_stats(ix, &st);
	assert_int_equal(st.sessions, 0);
	assert_int_equal(st.files, 0);
	assert_int_equal(st.links, 0);
	index_close(ix);
}

/* ------------------------------------------------------------ ADDF/DELF */

static void
test_add_counts(void **state)
{
	struct index *ix = open_mem(0, 0);
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN];
	struct index_stats st;
	struct hits hs;

	(void)state;
	login(ix, 1, 3000, a);
	login(ix, 2, 3000, b);
	assert_int_equal(add(ix, a, MD5_A, "first name.txt"), 1);
	assert_int_equal(add(ix, b, MD5_A, "second name.txt"), 2);
	/* Same owner again: still 2, the name changes for every owner. */
	assert_int_equal(add(ix, a, MD5_A, "Third Name.txt"), 2);
	index_stats(ix, &st);
	assert_int_equal(st.sessions, 2);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.links, 2);

	assert_int_equal(find(ix, "name", 999, 999, &hs), 1);
	assert_int_equal(hs.n, 2);
	assert_string_equal(hs.h[0].name, "Third Name.txt");
	assert_string_equal(hs.h[1].name, "Third Name.txt");
	assert_string_equal(hs.h[0].md5, MD5_A);
	/* The FTS index follows the rename. */
	assert_int_equal(find(ix, "first", 999, 999, &hs), 0);
	assert_int_equal(find(ix, "second", 999, 999, &hs), 0);
	assert_int_equal(find(ix, "third", 999, 999, &hs), 1);

	/* An upper-case md5 is the same file. */
	assert_int_equal(
	    add(ix, a, "0F53217FC7C8E7F89E8A8558E64A7083", "Third Name.txt"),
	    2);
	assert_int_equal(add(ix, a, MD5_A, ""), WARREN_EEMPTY);
	assert_int_equal(add(ix, a, "0f53", "short.txt"), WARREN_EFIELD);
	index_stats(ix, &st);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.links, 2);
	index_close(ix);
}

static void
test_add_limit(void **state)
{
	struct index *ix = open_mem(0, 2);
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN];
	struct index_stats st;
	struct hits hs;

	(void)state;
	login(ix, 1, 3000, a);
	login(ix, 2, 3000, b);
	assert_int_equal(add(ix, a, MD5_A, "one.txt"), 1);
	assert_int_equal(add(ix, a, MD5_B, "two.txt"), 1);
	assert_int_equal(add(ix, a, MD5_C, "three.txt"), WARREN_ELIMIT);
	assert_int_equal(add(ix, b, MD5_C, "three.txt"), 1);
	/* A known md5 is refused too, and its name is left alone. */
	assert_int_equal(add(ix, a, MD5_C, "renamed.txt"), WARREN_ELIMIT);
	assert_int_equal(find(ix, "three", 999, 999, &hs), 1);
	assert_int_equal(hs.n, 1);
	/* Re-adding an owned file is no new link. */
	assert_int_equal(add(ix, a, MD5_B, "deux.txt"), 1);
	index_stats(ix, &st);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.links, 3);
	/* DELF frees a place. */
	assert_int_equal(index_del(ix, a, MD5_A), 0);
	assert_int_equal(add(ix, a, MD5_C, "trois.txt"), 2);
	index_close(ix);
}

static void
test_del(void **state)
{
	struct index *ix = open_mem(0, 0);
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN];
	struct index_stats st;
	struct hits hs;

	(void)state;
	login(ix, 1, 3000, a);
	login(ix, 2, 3000, b);
	assert_int_equal(add(ix, a, MD5_A, "shared.txt"), 1);
	assert_int_equal(add(ix, b, MD5_A, "shared.txt"), 2);
	assert_int_equal(add(ix, a, MD5_B, "mine.txt"), 1);

	assert_int_equal(index_del(ix, b, MD5_B), INDEX_NOT_OWNED);
	assert_int_equal(index_del(ix, a, MD5_C), INDEX_NOT_OWNED);
	assert_int_equal(index_del(ix, a, "nonsense"), INDEX_NOT_OWNED);
	index_stats(ix, &st);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.links, 3);

	assert_int_equal(index_del(ix, a, MD5_A), 1);
	assert_int_equal(index_del(ix, a, MD5_A), INDEX_NOT_OWNED);
	assert_int_equal(find(ix, "shared", 999, 999, &hs), 1);
	assert_int_equal(hs.n, 1);
	assert_memory_equal(hs.h[0].owner.v4, peer(2, 3000).v4, 4);

	assert_int_equal(index_del(ix, b, MD5_A), 0);
	assert_int_equal(find(ix, "shared", 999, 999, &hs), 0);
	assert_int_equal(find(ix, "", 999, 999, &hs), 1);
	assert_string_equal(hs.h[0].name, "mine.txt");
	index_stats(ix, &st);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.links, 1);
	/* The md5 is new again: a fresh entry with a fresh counter. */
	assert_int_equal(add(ix, b, MD5_A, "back.txt"), 1);
	index_close(ix);
}

static void
test_logout(void **state)
{
	struct index *ix = open_mem(0, 0);
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN];
	struct course_peer out;
	struct index_stats st;
	struct hits hs;

	(void)state;
	login(ix, 1, 3000, a);
	login(ix, 2, 3000, b);
	assert_int_equal(add(ix, a, MD5_A, "shared.txt"), 1);
	assert_int_equal(add(ix, b, MD5_A, "shared.txt"), 2);
	assert_int_equal(add(ix, a, MD5_B, "only-a-1.txt"), 1);
	assert_int_equal(add(ix, a, MD5_C, "only-a-2.txt"), 1);
	assert_int_equal(add(ix, b, MD5_D, "only-b.txt"), 1);

	assert_int_equal(index_logout(ix, a), 3);
	assert_int_equal(index_session(ix, a, &out), WARREN_ENOTFOUND);
	assert_int_equal(index_logout(ix, a), WARREN_ENOTFOUND);
	assert_int_equal(add(ix, a, MD5_B, "x.txt"), WARREN_ENOTFOUND);
	index_stats(ix, &st);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.links, 2);
	assert_int_equal(find(ix, "only-a", 999, 999, &hs), 0);
	assert_int_equal(find(ix, "shared", 999, 999, &hs), 1);
	assert_int_equal(hs.n, 1);
	/* The shared file's owner count went down: B's DELF leaves 0. */
	assert_int_equal(index_del(ix, b, MD5_A), 0);

	/* The same node logging in again gets a new session. */
	login(ix, 1, 3000, a);
	assert_int_equal(index_logout(ix, a), 0);
	index_close(ix);
}

static void
test_dreg(void **state)
{
	struct index *ix = open_mem(0, 0);
	char a[COURSE_SESSION_LEN];

	(void)state;
	login(ix, 1, 3000, a);
	assert_int_equal(index_dreg(ix, MD5_A), 0);
	assert_int_equal(add(ix, a, MD5_A, "f.txt"), 1);
	assert_int_equal(index_dreg(ix, MD5_A), 1);
	assert_int_equal(index_dreg(ix, "0F53217FC7C8E7F89E8A8558E64A7083"), 2);
	assert_int_equal(index_dreg(ix, MD5_B), 0);
	assert_int_equal(index_dreg(ix, "zz"), 0);
	/* Renaming keeps the counter. */
	assert_int_equal(add(ix, a, MD5_A, "g.txt"), 1);
	assert_int_equal(index_dreg(ix, MD5_A), 3);
	assert_int_equal(index_del(ix, a, MD5_A), 0);
	assert_int_equal(index_dreg(ix, MD5_A), 0);
	index_close(ix);
}

/* ------------------------------------------------------------ FIND */

static const char *const find_names[] = {
    "Annual_Report.pdf",
    "report-2023.txt",
    "REPORTS.zip",
    "music.mp3",
    "a",
    "ab",
    "say \"hi\" now.txt",
    "star*name.txt",
    "AND gate.txt",
    "x-y.txt",
    "a:b (paren).txt",
    "NEAR(x y).txt",
    "100%_sure.txt",
    "Stra\xc3\x9f"
    "e.txt", /* Straße */
    "STRASSE.txt",
    "\xc3\x89t\xc3\xa9.mp3", /* Été */
    "\xc3\xa9t\xc3\xa9.mp3", /* été */
    "bad\xff\xfename.bin",
    "\x80\x80lead.bin",
    "a\xc3\xa9\x80"
    "bcd.bin", /* é followed by a stray continuation */
    "trunc\xc3",
};
#define NFIND (sizeof(find_names) / sizeof(find_names[0]))

static struct index *
find_fixture(char id[COURSE_SESSION_LEN])
{
	struct index *ix = open_mem(0, 0);
	char md5[COURSE_MD5_LEN + 1];
	size_t i;

	login(ix, 1, 3000, id);
	for (i = 0; i < NFIND; i++) {
		snprintf(md5, sizeof(md5), "%032zx", i + 1);
		assert_int_equal(add(ix, id, md5, find_names[i]), 1);
	}
	return ix;
}

struct find_case {
	const char *term;
	const char *want[NFIND + 1]; /* sorted by name ignoring case */
};

static const struct find_case find_cases[] = {
    {"report", {"Annual_Report.pdf", "report-2023.txt", "REPORTS.zip"}},
    {"%report%", {"Annual_Report.pdf", "report-2023.txt", "REPORTS.zip"}},
    {"  %REPORT% ", {"Annual_Report.pdf", "report-2023.txt", "REPORTS.zip"}},
    {"%report", {"Annual_Report.pdf", "report-2023.txt", "REPORTS.zip"}},
    {"Reports", {"REPORTS.zip"}},
    {"l_R", {"Annual_Report.pdf"}},
    {"l R", {NULL}},
    {"l%R", {NULL}},
    {"0%_s", {"100%_sure.txt"}},
    {"mp", {"music.mp3", "\xc3\x89t\xc3\xa9.mp3", "\xc3\xa9t\xc3\xa9.mp3"}},
    {"p3", {"music.mp3", "\xc3\x89t\xc3\xa9.mp3", "\xc3\xa9t\xc3\xa9.mp3"}},
    {"b",
	{"a:b (paren).txt", "ab",
	    "a\xc3\xa9\x80"
	    "bcd.bin",
	    "bad\xff\xfename.bin", "\x80\x80lead.bin"}},
    {"\"hi\"", {"say \"hi\" now.txt"}},
    {"\"", {"say \"hi\" now.txt"}},
    {"\"hi", {"say \"hi\" now.txt"}},
    {"r*n", {"star*name.txt"}},
    {"*name", {"star*name.txt"}},
    {"AND", {"AND gate.txt"}},
    {"and g", {"AND gate.txt"}},
    {"x-y", {"x-y.txt"}},
    {"-y.", {"x-y.txt"}},
    {"a:b", {"a:b (paren).txt"}},
    {"(pa", {"a:b (paren).txt"}},
    {"NEAR(", {"NEAR(x y).txt"}},
    {"r(x y)", {"NEAR(x y).txt"}},
    {"a*b", {NULL}},
    {"re.ort", {NULL}},
    {"rep[o]rt", {NULL}},
    {"Stra\xc3\x9f"
     "e",
	{"Stra\xc3\x9f"
	 "e.txt"}},
    {"stra\xc3\x9f",
	{"Stra\xc3\x9f"
	 "e.txt"}},
    {"\xc3\x9f",
	{"Stra\xc3\x9f"
	 "e.txt"}},
    {"STRASSE", {"STRASSE.txt"}},
    {"strasse", {"STRASSE.txt"}},
    {"\xc3\xa9t\xc3\xa9", {"\xc3\xa9t\xc3\xa9.mp3"}},
    {"\xc3\x89t\xc3\xa9", {"\xc3\x89t\xc3\xa9.mp3"}},
    {"\xc3\x89T\xc3\xa9.MP3", {"\xc3\x89t\xc3\xa9.mp3"}},
    /* A cut UTF-8 sequence still matches byte for byte. */
    {"\xa9t\xc3\xa9.mp3", {"\xc3\xa9t\xc3\xa9.mp3"}},
    {"\xa9.mp3", {"\xc3\x89t\xc3\xa9.mp3", "\xc3\xa9t\xc3\xa9.mp3"}},
    {"\xff\xfe", {"bad\xff\xfename.bin"}},
    {"\xfename.BIN", {"bad\xff\xfename.bin"}},
    {"\x80lead", {"\x80\x80lead.bin"}},
    {"\xc3\xa9\x80"
     "bcd",
	{"a\xc3\xa9\x80"
	 "bcd.bin"}},
    {"\x80"
     "bcd",
	{"a\xc3\xa9\x80"
	 "bcd.bin"}},
    {"bcd",
	{"a\xc3\xa9\x80"
	 "bcd.bin"}},
    {"trunc\xc3", {"trunc\xc3"}},
    {"unc", {"trunc\xc3"}},
    {"nothing like it", {NULL}},
};

static void
test_find_semantics(void **state)
{
	char id[COURSE_SESSION_LEN];
	struct index *ix = find_fixture(id);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(find_cases) / sizeof(find_cases[0]); i++)
		expect_names(ix, find_cases[i].term, find_cases[i].want);
	index_close(ix);
}

/* Every term and every name of the fixture: index_find == §4. */
static void
test_find_agrees_with_term_match(void **state)
{
	char id[COURSE_SESSION_LEN];
	struct index *ix = find_fixture(id);
	struct hits hs;
	size_t i, j, k, l;
	char term[COURSE_TERM_LEN + 1];

	(void)state;
	/* Every substring (up to 20 bytes) of every name as a term. */
	for (i = 0; i < NFIND; i++) {
		size_t len = strlen(find_names[i]);

		for (j = 0; j < len; j++) {
			for (k = 1; k <= COURSE_TERM_LEN && j + k <= len; k++) {
				struct course_str t = {term, k};
				size_t want = 0;

				memcpy(term, find_names[i] + j, k);
				term[k] = '\0';
				for (l = 0; l < NFIND; l++)
					want += (size_t)course_term_match(t,
					    find_names[l],
					    strlen(find_names[l]));
				if ((size_t)find(ix, term, 999, 999, &hs) !=
				    want)
					fail_msg("term \"%s\": want %zu", term,
					    want);
				assert_int_equal(hs.n, want);
			}
		}
	}
	index_close(ix);
}

static void
test_find_all(void **state)
{
	char id[COURSE_SESSION_LEN];
	struct index *ix = find_fixture(id);
	struct hits hs;
	size_t i;

	(void)state;
	assert_int_equal(find(ix, "", 999, 999, &hs), NFIND);
	assert_int_equal(find(ix, "*", 999, 999, &hs), NFIND);
	assert_int_equal(find(ix, "%*%", 999, 999, &hs), NFIND);
	assert_int_equal(find(ix, " % ", 999, 999, &hs), NFIND);
	assert_int_equal(find(ix, "%", 999, 999, &hs), NFIND);
	assert_int_equal(find(ix, "%%", 999, 999, &hs), NFIND);
	assert_int_equal(find(ix, "**", 999, 999, &hs), 0);
	/* Sorted by name ignoring ASCII case, then md5. */
	assert_int_equal(find(ix, "*", 999, 999, &hs), NFIND);
	for (i = 1; i < hs.n; i++)
		assert_true(
		    sqlite3_stricmp(hs.h[i - 1].name, hs.h[i].name) < 0);
	/* Names come back byte for byte, invalid UTF-8 included. */
	for (i = 0; i < hs.n; i++) {
		size_t j;

		for (j = 0; j < NFIND; j++)
			if (hs.h[i].name_len == strlen(find_names[j]) &&
			    memcmp(hs.h[i].name, find_names[j],
				hs.h[i].name_len) == 0)
				break;
		assert_true(j < NFIND);
	}
	index_close(ix);
}

static void
test_find_order_and_caps(void **state)
{
	struct index *ix = open_mem(0, 0);
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN],
	    c[COURSE_SESSION_LEN];
	struct hits hs;
	size_t i;

	(void)state;
	login(ix, 1, 3000, a);
	login(ix, 2, 3000, b);
	login(ix, 3, 3000, c);
	assert_int_equal(add(ix, a, MD5_D, "apple.txt"), 1);
	assert_int_equal(add(ix, a, MD5_C, "APPLE.txt"), 1);
	assert_int_equal(add(ix, a, MD5_B, "Banana.txt"), 1);
	assert_int_equal(add(ix, a, MD5_A, "cherry.txt"), 1);
	assert_int_equal(add(ix, b, MD5_A, "cherry.txt"), 2);
	assert_int_equal(add(ix, c, MD5_A, "cherry.txt"), 3);

	assert_int_equal(find(ix, ".txt", 999, 999, &hs), 4);
	assert_int_equal(hs.n, 6);
	assert_string_equal(hs.h[0].md5, MD5_C); /* APPLE, md5 aaa... */
	assert_string_equal(hs.h[1].md5, MD5_D); /* apple, md5 bbb... */
	assert_string_equal(hs.h[2].name, "Banana.txt");
	for (i = 3; i < 6; i++)
		assert_string_equal(hs.h[i].name, "cherry.txt");
	/* Every owner once, with its stored peer. */
	assert_int_equal(
	    hs.h[3].owner.v4[3] + hs.h[4].owner.v4[3] + hs.h[5].owner.v4[3], 6);
	assert_int_equal(hs.h[3].owner.port, 3000);

	assert_int_equal(find(ix, "txt", 2, 999, &hs), 2);
	assert_int_equal(hs.n, 2);
	assert_string_equal(hs.h[1].md5, MD5_D);
	assert_int_equal(find(ix, "cherry", 999, 2, &hs), 1);
	assert_int_equal(hs.n, 2);
	assert_int_equal(find(ix, "t", 3, 1, &hs), 3);
	assert_int_equal(hs.n, 3);
	assert_string_equal(hs.h[2].name, "Banana.txt");
	assert_int_equal(find(ix, "", 1, 999, &hs), 1);
	assert_int_equal(find(ix, "", 0, 999, &hs), 0);
	assert_int_equal(hs.n, 0);
	index_close(ix);
}

/* Names that are not UTF-8 survive storage, FTS, renames and deletes. */
static void
test_invalid_utf8(void **state)
{
	static const char *const names[] = {
	    "\xff",
	    "\xfe\xff\xfe",
	    "\xc0\x80",
	    "\xed\xa0\x80surrogate",
	    "\xf4\x90\x80\x80max",
	    "ok\xe2\x82",
	    "\x80\x81\x82\x83\x84",
	};
	struct index *ix = open_mem(0, 0);
	char id[COURSE_SESSION_LEN], md5[COURSE_MD5_LEN + 1];
	struct hits hs;
	size_t i, j;

	(void)state;
	login(ix, 1, 3000, id);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(md5, sizeof(md5), "%032zx", i + 1);
		assert_int_equal(add(ix, id, md5, names[i]), 1);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(find(ix, names[i], 999, 999, &hs) >= 1, 1);
		for (j = 0; j < hs.n; j++)
			if (strcmp(hs.h[j].name, names[i]) == 0)
				break;
		assert_true(j < hs.n);
		assert_int_equal(hs.h[j].name_len, strlen(names[i]));
	}
	/* Rename to and from invalid names, then delete: FTS stays right. */
	snprintf(md5, sizeof(md5), "%032zx", (size_t)4);
	assert_int_equal(add(ix, id, md5, "plain\xff name"), 1);
	assert_int_equal(find(ix, "surrogate", 999, 999, &hs), 0);
	assert_int_equal(find(ix, "plain", 999, 999, &hs), 1);
	assert_int_equal(find(ix, "\xff name", 999, 999, &hs), 1);
	assert_int_equal(index_del(ix, id, md5), 0);
	assert_int_equal(find(ix, "plain", 999, 999, &hs), 0);
	assert_int_equal(find(ix, "", 999, 999, &hs), 6);
	assert_int_equal(index_logout(ix, id), 6);
	assert_int_equal(find(ix, "", 999, 999, &hs), 0);
	index_close(ix);
}

/* ------------------------------------------------------------ files */

static int
fts_integrity(const char *path)
{
	sqlite3 *db = NULL;
	int rc;

	assert_int_equal(db_open(path, &db), 0);
	rc = db_exec(db,
	    "INSERT INTO files_fts(files_fts, rank) "
	    "VALUES ('integrity-check', 1)");
	db_close(db);
	return rc;
}

static void
test_persistence(void **state)
{
	char dir[] = "/tmp/warren-index-XXXXXX", path[PATH_MAX];
	char a[COURSE_SESSION_LEN], b[COURSE_SESSION_LEN];
	struct course_peer p = peer(1, 3000), out;
	struct index *ix = NULL;
	struct index_stats st;
	struct hits hs;
	int created;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/index.db", dir);

	assert_int_equal(index_open(path, 0, NULL, &ix), 0);
	login(ix, 1, 3000, a);
	login(ix, 2, 3000, b);
	assert_int_equal(add(ix, a, MD5_A, "Annual_Report.pdf"), 1);
	assert_int_equal(add(ix, b, MD5_A, "Annual_Report.pdf"), 2);
	assert_int_equal(add(ix, a, MD5_B, "old name.txt"), 1);
	assert_int_equal(add(ix, a, MD5_B, "new name.txt"), 1);
	assert_int_equal(add(ix, b, MD5_C, "gone.txt"), 1);
	assert_int_equal(index_del(ix, b, MD5_C), 0);
	assert_int_equal(index_dreg(ix, MD5_A), 1);
	index_close(ix);
	assert_int_equal(fts_integrity(path), 0);

	/* Reopened: everything is still there, SessionIDs included. */
	assert_int_equal(index_open(path, 0, NULL, &ix), 0);
	index_stats(ix, &st);
	assert_int_equal(st.sessions, 2);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.links, 3);
	assert_int_equal(index_session(ix, a, &out), 0);
	assert_memory_equal(&out, &p, sizeof(p));
	assert_int_equal(index_login(ix, &p, 1, b, &created), 0);
	assert_int_equal(created, 0);
	assert_memory_equal(a, b, COURSE_SESSION_LEN);
	assert_int_equal(find(ix, "report", 999, 999, &hs), 1);
	assert_int_equal(hs.n, 2);
	assert_int_equal(find(ix, "new name", 999, 999, &hs), 1);
	assert_int_equal(find(ix, "old name", 999, 999, &hs), 0);
	assert_int_equal(index_dreg(ix, MD5_A), 2);
	index_close(ix);

	/* fresh: nothing left, and the index works as new. */
	assert_int_equal(index_open(path, 1, NULL, &ix), 0);
	index_stats(ix, &st);
	assert_int_equal(st.sessions, 0);
	assert_int_equal(st.files, 0);
	assert_int_equal(st.links, 0);
	assert_int_equal(index_session(ix, a, &out), WARREN_ENOTFOUND);
	assert_int_equal(find(ix, "", 999, 999, &hs), 0);
	assert_int_equal(find(ix, "report", 999, 999, &hs), 0);
	login(ix, 1, 3000, a);
	assert_int_equal(add(ix, a, MD5_A, "Annual_Report.pdf"), 1);
	assert_int_equal(find(ix, "report", 999, 999, &hs), 1);
	assert_int_equal(index_dreg(ix, MD5_A), 1);
	index_close(ix);
	assert_int_equal(fts_integrity(path), 0);

	snprintf(path, sizeof(path), "%s/index.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.db-shm", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.db", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_open_error(void **state)
{
	struct index *ix = NULL;

	(void)state;
	assert_true(
	    index_open("/nonexistent-dir/x/index.db", 0, NULL, &ix) < 0);
	assert_null(ix);
	index_close(NULL);
}

/* ------------------------------------------------------------ timing */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
count_cb(void *arg, const char *md5, const char *name, size_t name_len,
    const struct course_peer *owner)
{
	(void)md5;
	(void)name;
	(void)name_len;
	(void)owner;
	(*(size_t *)arg)++;
}

static double
timed_find(struct index *ix, const char *term, int *files)
{
	struct course_str t = {term, strlen(term)};
	size_t calls = 0;
	double t0 = now_s();

	*files = index_find(ix, t, 999, 999, count_cb, &calls);
	return (now_s() - t0) * 1e3;
}

/*
 * INDEX_BENCH_FILES (default 20000, small enough for ASan and the test
 * timeout) files in a temp file database, names from a small vocabulary
 * plus a unique serial; ADDF, FIND and LOGO timings printed.
 */
static void
test_timing(void **state)
{
	static const char *const words[] = {"holiday", "report", "Music",
	    "video", "backup", "draft", "Photo", "invoice", "thesis", "song"};
	const char *env = getenv("INDEX_BENCH_FILES");
	unsigned long nfiles = env ? strtoul(env, NULL, 10) : 20000;
	char dir[] = "/tmp/warren-index-XXXXXX", path[PATH_MAX];
	char id[4][COURSE_SESSION_LEN], md5[COURSE_MD5_LEN + 1], name[101];
	struct index_limits lim = {0, 1000000};
	struct index *ix = NULL;
	double t0, ms;
	unsigned long i;
	int n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/index.db", dir);
	assert_int_equal(index_open(path, 0, &lim, &ix), 0);
	for (i = 0; i < 4; i++)
		login(ix, (unsigned)i + 1, 3000, id[i]);
	t0 = now_s();
	for (i = 0; i < nfiles; i++) {
		snprintf(md5, sizeof(md5), "%032lx", i * 2654435761UL);
		snprintf(name, sizeof(name), "%s %s %07lu.dat", words[i % 10],
		    words[(i / 10) % 10], i);
		assert_true(add(ix, id[i % 4], md5, name) >= 1);
	}
	ms = (now_s() - t0) * 1e3;
	printf("# index: %lu ADDF in %.0f ms (%.1f us each)\n", nfiles, ms,
	    ms * 1e3 / (double)nfiles);

	ms = timed_find(ix, "0012345", &n);
	printf("# index: FIND selective \"0012345\": %d files in %.2f ms\n", n,
	    ms);
	assert_int_equal(n, nfiles > 12345 ? 1 : 0);
	ms = timed_find(ix, "draft thesis 00", &n);
	printf(
	    "# index: FIND \"draft thesis 00\": %d files in %.2f ms\n", n, ms);
	ms = timed_find(ix, "PHOTO", &n);
	printf(
	    "# index: FIND common \"PHOTO\" (cap 999): %d files in %.2f ms\n",
	    n, ms);
	ms = timed_find(ix, "zq", &n);
	printf("# index: FIND 2-byte \"zq\" (no match, full walk): %d files in "
	       "%.2f ms\n",
	    n, ms);
	ms = timed_find(ix, "*", &n);
	printf("# index: FIND \"*\" (cap 999): %d files in %.2f ms\n", n, ms);

	t0 = now_s();
	n = index_logout(ix, id[0]);
	printf(
	    "# index: LOGO of %d links in %.0f ms\n", n, (now_s() - t0) * 1e3);
	index_close(ix);

	snprintf(path, sizeof(path), "%s/index.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.db-shm", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/index.db", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login_same_node),
	    cmocka_unit_test(test_login_limit),
	    cmocka_unit_test(test_unknown_session),
	    cmocka_unit_test(test_foreach_session),
	    cmocka_unit_test(test_add_counts),
	    cmocka_unit_test(test_add_limit),
	    cmocka_unit_test(test_del),
	    cmocka_unit_test(test_logout),
	    cmocka_unit_test(test_dreg),
	    cmocka_unit_test(test_find_semantics),
	    cmocka_unit_test(test_find_agrees_with_term_match),
	    cmocka_unit_test(test_find_all),
	    cmocka_unit_test(test_find_order_and_caps),
	    cmocka_unit_test(test_invalid_utf8),
	    cmocka_unit_test(test_persistence),
	    cmocka_unit_test(test_open_error),
	    cmocka_unit_test(test_timing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
