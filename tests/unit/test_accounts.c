/*
 * test_accounts.c: the beer2beer registrations (src/store/accounts.c)
 * against beer2beer.md §3-§5: password records, file-list semantics
 * (last line wins, md5 annotations, orphans), REGISTER/LOGIN/KEEP_ALIVE/
 * LOGOUT/UPDATE/APPEND, expiry with a moving clock, the online window,
 * paging, SEARCH_FILE scoring and order, DOWNLOAD_FILE holders, the course
 * FIND view, caps, and persistence in a real SQLite file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "store/accounts.h"
#include "warren/error.h"
#include "wire/beer2beer.h"
#include "wire/course.h"

#define SHA_A "22596363b3de40b06f981fb85d82312e8c0ed511"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccc"
#define MD5_A "6f5902ac237024bdd0c176cb93063dc4"
#define MD5_B "0f53217fc7c8e7f89e8a8558e64a7083"

#define T0     1700000000000LL /* a wall-clock "now" in ms */
#define TTL    (30LL * 24 * 3600 * 1000)
#define ONLINE (360LL * 1000)
#define ITER   ACCOUNTS_ITER_MIN

/* ------------------------------------------------------------ helpers */

static struct accounts *
open_mem(unsigned max_regs, unsigned files_per_reg)
{
	struct accounts_limits lim = {max_regs, files_per_reg, TTL, ONLINE};
	struct accounts *a = NULL;

	assert_int_equal(accounts_open(":memory:", &lim, 0, &a), 0);
	return a;
}

/* The file list of a REGISTER payload "u\np\n<lines>". Caller frees. */
static int
collect(const char *lines, struct accounts_file **out, unsigned *bad)
{
	static char payload[B2B_PAYLOAD_MAX];
	struct b2b_request req;
	int n = snprintf(payload, sizeof(payload), "u\np\n%s", lines);

	if (b2b_request_parse(B2B_REGISTER, payload, (size_t)n, &req) != 0) {
		*bad = req.bad_line;
		*out = NULL;
		return WARREN_EFIELD;
	}
	return accounts_files_collect(req.files, out, bad);
}

static struct b2b_addr
v4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	struct b2b_addr x;

	memset(&x, 0, sizeof(x));
	x.family = AF_INET;
	x.a[0] = (uint8_t)a;
	x.a[1] = (uint8_t)b;
	x.a[2] = (uint8_t)c;
	x.a[3] = (uint8_t)d;
	return x;
}

/* REGISTER user with a fresh record and the given lines; returns the id. */
static uint32_t
reg(struct accounts *a, const char *user, const char *rec, const char *lines,
    int64_t now)
{
	struct accounts_file *f = NULL;
	unsigned bad = 0;
	uint32_t id = 0;
	int n = collect(lines, &f, &bad);

	assert_true(n >= 0);
	assert_int_equal(accounts_register(a, user, strlen(user), rec, f,
			     (size_t)n, now, &id),
	    0);
	free(f);
	assert_true(id > 0);
	return id;
}

static void
login(struct accounts *a, uint32_t id, const char *user, const char *rec,
    struct b2b_addr ip, uint16_t port, int64_t now)
{
	assert_int_equal(
	    accounts_login(a, id, user, strlen(user), rec, &ip, port, &ip, now),
	    0);
}

/* Records collected by the query callbacks. */
#define MAX_ROWS 64
struct rows {
	unsigned n, stop_after;
	uint32_t id[MAX_ROWS];
	char text[MAX_ROWS][300]; /* name or user */
	char md5[MAX_ROWS][B2B_MD5_LEN + 1];
	int online[MAX_ROWS];
	uint16_t port[MAX_ROWS];
	struct course_peer peer[MAX_ROWS];
};

static int
peer_cb(void *arg, const struct b2b_peer *p)
{
	struct rows *r = arg;

	assert_true(r->n < MAX_ROWS);
	r->id[r->n] = p->user_id;
	snprintf(r->text[r->n], sizeof(r->text[0]), "%.*s", (int)p->user.len,
	    p->user.ptr);
	r->online[r->n] = p->online;
	r->port[r->n] = p->port;
	r->n++;
	return r->stop_after != 0 && r->n >= r->stop_after;
}

static int
entry_cb(void *arg, const struct b2b_file *f)
{
	struct rows *r = arg;

	assert_true(r->n < MAX_ROWS);
	snprintf(r->text[r->n], sizeof(r->text[0]), "%.*s", (int)f->name.len,
	    f->name.ptr);
	r->n++;
	return r->stop_after != 0 && r->n >= r->stop_after;
}

static int
hit_cb(void *arg, const struct b2b_hit *h)
{
	struct rows *r = arg;

	assert_true(r->n < MAX_ROWS);
	r->id[r->n] = h->user_id;
	snprintf(r->text[r->n], sizeof(r->text[0]), "%.*s", (int)h->name.len,
	    h->name.ptr);
	memcpy(r->md5[r->n], h->md5, sizeof(r->md5[0]));
	r->port[r->n] = h->port;
	r->n++;
	return 0;
}

static int
find_cb(void *arg, const char *md5, const char *name, size_t len,
    const struct course_peer *holder)
{
	struct rows *r = arg;

	assert_true(r->n < MAX_ROWS);
	snprintf(r->text[r->n], sizeof(r->text[0]), "%.*s", (int)len, name);
	memcpy(r->md5[r->n], md5, B2B_MD5_LEN + 1);
	r->peer[r->n] = *holder;
	r->n++;
	return 0;
}

static struct b2b_str
S(const char *s) {
	struct b2b_str v = {s, strlen(s)};

	return v;
}

static struct course_str
C(const char *s) {
	struct course_str v = {s, strlen(s)};

	return v;
}

/* ------------------------------------------------------------ passwords */

static void
test_pw_record(void **state)
{
	char r1[ACCOUNTS_PWREC_MAX], r2[ACCOUNTS_PWREC_MAX];

	(void)state;
	assert_int_equal(accounts_pw_hash("s3cret", 6, ITER, r1), 0);
	assert_int_equal(accounts_pw_hash("s3cret", 6, ITER, r2), 0);
	/* Algorithm and parameters travel with the hash; salts differ. */
	assert_memory_equal(r1, "pbkdf2-sha256$1000$", 19);
	assert_int_equal(strlen(r1), 19 + 32 + 1 + 64);
	assert_string_not_equal(r1, r2);
	assert_int_equal(accounts_pw_verify("s3cret", 6, r1), 1);
	assert_int_equal(accounts_pw_verify("s3cret", 6, r2), 1);
	assert_int_equal(accounts_pw_verify("s3cres", 6, r1), 0);
	assert_int_equal(accounts_pw_verify("s3cret", 5, r1), 0);
	assert_int_equal(accounts_pw_verify("s3cret!", 7, r1), 0);
	/* Records it cannot read, and iteration counts out of range. */
	assert_int_equal(
	    accounts_pw_verify("x", 1, "md5$1$aa$bb"), WARREN_EFIELD);
	assert_int_equal(accounts_pw_verify("x", 1, "pbkdf2-sha256$999$00$00"),
	    WARREN_EFIELD);
	r1[strlen(r1) - 1] = 'X';
	assert_int_equal(accounts_pw_verify("s3cret", 6, r1), WARREN_EFIELD);
	r1[strlen(r1) - 1] = '\0';
	assert_int_equal(accounts_pw_verify("s3cret", 6, r1), WARREN_EFIELD);
	assert_int_equal(accounts_pw_hash("x", 1, 999, r1), WARREN_EFIELD);
}

/* Known answer from an independent implementation (Python's
 * hashlib.pbkdf2_hmac("sha256", b"password", bytes(range(16)), 1000)). */
static void
test_pw_known_answer(void **state)
{
	const char *rec =
	    "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
	    "25eb86acc76e43018f18b9a8f90c2fed462d1c799e83d48ae3d7c69046a60b67";

	(void)state;
	assert_int_equal(accounts_pw_verify("password", 8, rec), 1);
	assert_int_equal(accounts_pw_verify("Password", 8, rec), 0);
}

/* ---------------------------------------------------------- file lists */

static void
test_files_collect(void **state)
{
	struct accounts_file *f;
	unsigned bad;
	int n;

	(void)state;
	/* Empty list. */
	assert_int_equal(collect("", &f, &bad), 0);
	free(f);
	/* The 3-field line then its annotation (§6 example). */
	n = collect("hello.txt|12|" SHA_A "\n" SHA_A "|" MD5_A "\n", &f, &bad);
	assert_int_equal(n, 1);
	assert_memory_equal(f[0].name.ptr, "hello.txt", 9);
	assert_int_equal(f[0].size, 12);
	assert_string_equal(f[0].sha1, SHA_A);
	assert_string_equal(f[0].md5, MD5_A);
	free(f);
	/* Annotation before its line, upper-case hashes, 4-field form. */
	n = collect(SHA_A
	    "|" MD5_A
	    "\nhello.txt|12|22596363B3DE40B06F981FB85D82312E8C0ED511\n"
	    "b.bin|5|" SHA_B "|0F53217FC7C8E7F89E8A8558E64A7083\n",
	    &f, &bad);
	assert_int_equal(n, 2);
	assert_string_equal(f[0].sha1, SHA_A);
	assert_string_equal(f[0].md5, MD5_A);
	assert_string_equal(f[1].sha1, SHA_B);
	assert_string_equal(f[1].md5, MD5_B);
	free(f);
	/* A repeated sha1 keeps the last line; the last md5 wins, even one
	 * given by an earlier 4-field line when a later line has none. */
	n = collect("a|1|" SHA_A "|" MD5_B "\nb|2|" SHA_A "\nc|3|" SHA_C "\n"
		    "d|4|" SHA_C "\n" SHA_C "|" MD5_A "\n" SHA_C "|" MD5_B "\n",
	    &f, &bad);
	assert_int_equal(n, 2);
	assert_memory_equal(f[0].name.ptr, "b", 1);
	assert_int_equal(f[0].size, 2);
	assert_string_equal(f[0].md5, MD5_B);
	assert_memory_equal(f[1].name.ptr, "d", 1);
	assert_string_equal(f[1].md5, MD5_B);
	assert_int_equal(f[1].line, 6); /* user, pwd, then lines 3.. */
	free(f);
	/* A filename with '|' in it is parsed from the right. */
	n = collect("x|y.txt|7|" SHA_B "\n", &f, &bad);
	assert_int_equal(n, 1);
	assert_int_equal(f[0].name.len, 7);
	free(f);
	/* An annotation whose sha1 has no file line: bad file line 4. */
	assert_int_equal(
	    collect("a|1|" SHA_A "\n" SHA_B "|" MD5_A "\n", &f, &bad),
	    WARREN_EFIELD);
	assert_int_equal(bad, 4);
	assert_null(f);
	/* A malformed line is refused by the parser with its number. */
	assert_int_equal(collect("a|1|" SHA_A "\nnot a file line\n", &f, &bad),
	    WARREN_EFIELD);
	assert_int_equal(bad, 4);
}

/* -------------------------------------------------------- registrations */

static void
test_register_login_logout(void **state)
{
	struct accounts *a = open_mem(0, 0);
	char rec[ACCOUNTS_PWREC_MAX], other[ACCOUNTS_PWREC_MAX],
	    got[ACCOUNTS_PWREC_MAX];
	struct accounts_reg r;
	struct b2b_addr ip = v4(192, 168, 1, 10), elsewhere = v4(10, 0, 0, 9);
	uint32_t id1, id2, id3;

	(void)state;
	assert_int_equal(accounts_pw_hash("s3cret", 6, ITER, rec), 0);
	assert_int_equal(accounts_pw_hash("other", 5, ITER, other), 0);
	assert_int_equal(accounts_user_pwrec(a, "alice", 5, T0, got), 0);
	id1 = reg(a, "alice", rec,
	    "hello.txt|12|" SHA_A "\n" SHA_A "|" MD5_A "\n", T0);
	/* The name now has a record; a second registration shares it. */
	assert_int_equal(accounts_user_pwrec(a, "alice", 5, T0, got), 1);
	assert_string_equal(got, rec);
	id2 = reg(a, "alice", rec, "", T0 + 1);
	assert_true(id2 > id1);
	/* Another record for a taken name is refused; nothing is stored. */
	assert_int_equal(
	    accounts_register(a, "alice", 5, other, NULL, 0, T0, &id3),
	    ACCOUNTS_ETAKEN);
	/* Fresh registrations are offline and never logged in. */
	assert_int_equal(accounts_get(a, id1, T0, &r), 0);
	assert_string_equal(r.user, "alice");
	assert_int_equal(r.online, 0);
	assert_int_equal(r.ip.family, 0);
	assert_int_equal(r.expires_ms, T0 + TTL);
	assert_int_equal(accounts_get(a, 9999, T0, &r), ACCOUNTS_EUNKNOWN);
	/* LOGIN: online, address stored, expiry pushed. */
	login(a, id1, "alice", rec, ip, 3000, T0 + 1000);
	assert_int_equal(accounts_get(a, id1, T0 + 1000, &r), 0);
	assert_int_equal(r.online, 1);
	assert_int_equal(r.port, 3000);
	assert_int_equal(r.expires_ms, T0 + 1000 + TTL);
	assert_memory_equal(r.ip.a, ip.a, 4);
	/* Wrong user or record for that id. */
	assert_int_equal(accounts_login(a, id1, "bob", 3, rec, &ip, 1, &ip, T0),
	    ACCOUNTS_EAUTH);
	assert_int_equal(
	    accounts_login(a, id1, "alice", 5, other, &ip, 1, &ip, T0),
	    ACCOUNTS_EAUTH);
	assert_int_equal(
	    accounts_login(a, 424242, "alice", 5, rec, &ip, 1, &ip, T0),
	    ACCOUNTS_EUNKNOWN);
	/* KEEP_ALIVE from the LOGIN's address only, while online. */
	assert_int_equal(accounts_keepalive(a, id1, &ip, T0 + 2000), 0);
	assert_int_equal(accounts_keepalive(a, id1, &elsewhere, T0 + 2000),
	    ACCOUNTS_EUNKNOWN);
	assert_int_equal(
	    accounts_keepalive(a, id2, &ip, T0 + 2000), ACCOUNTS_EUNKNOWN);
	/* The online window: 360 s after the last keep-alive, not later. */
	assert_int_equal(accounts_get(a, id1, T0 + 2000 + ONLINE, &r), 0);
	assert_int_equal(r.online, 1);
	assert_int_equal(accounts_get(a, id1, T0 + 2001 + ONLINE, &r), 0);
	assert_int_equal(r.online, 0);
	assert_int_equal(accounts_keepalive(a, id1, &ip, T0 + 2001 + ONLINE),
	    ACCOUNTS_EUNKNOWN);
	/* LOGOUT with an id: only that one; idempotent. */
	login(a, id1, "alice", rec, ip, 3000, T0 + 3000);
	login(a, id2, "alice", rec, ip, 3001, T0 + 3000);
	assert_int_equal(
	    accounts_logout(a, "alice", 5, rec, id1, T0 + 3000), 1);
	assert_int_equal(
	    accounts_logout(a, "alice", 5, rec, id1, T0 + 3000), 1);
	assert_int_equal(accounts_get(a, id1, T0 + 3000, &r), 0);
	assert_int_equal(r.online, 0);
	assert_int_equal(accounts_get(a, id2, T0 + 3000, &r), 0);
	assert_int_equal(r.online, 1);
	/* The two-line form: every registration with that record. */
	assert_int_equal(accounts_logout(a, "alice", 5, rec, 0, T0 + 3000), 2);
	assert_int_equal(accounts_get(a, id2, T0 + 3000, &r), 0);
	assert_int_equal(r.online, 0);
	assert_int_equal(
	    accounts_logout(a, "alice", 5, other, 0, T0 + 3000), 0);
	accounts_close(a);
}

static void
test_expiry_and_sweep(void **state)
{
	struct accounts *a = open_mem(0, 0);
	char rec[ACCOUNTS_PWREC_MAX], other[ACCOUNTS_PWREC_MAX];
	struct accounts_reg r;
	struct accounts_stats st;
	struct rows rows;
	uint32_t id1, id2, id3;
	int more;

	(void)state;
	assert_int_equal(accounts_pw_hash("pw", 2, ITER, rec), 0);
	assert_int_equal(accounts_pw_hash("pw2", 3, ITER, other), 0);
	id1 = reg(a, "carol", rec, "c.txt|1|" SHA_C "\n", T0);
	id2 = reg(a, "dave", rec, "d.txt|1|" SHA_B "\n", T0);
	/* A LOGIN pushes the expiry: 30 days after the LOGIN. */
	login(a, id2, "dave", rec, v4(10, 0, 0, 2), 3000, T0 + 1000);
	assert_int_equal(accounts_get(a, id1, T0 + TTL - 1, &r), 0);
	/* Expired: invisible to every call, before any sweep. */
	assert_int_equal(accounts_get(a, id1, T0 + TTL, &r), ACCOUNTS_EUNKNOWN);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_peers(a, B2B_ALL, 0, T0 + TTL, peer_cb, &rows), 1);
	assert_int_equal(rows.id[0], id2);
	assert_int_equal(accounts_browse(a, id1, 0, T0 + TTL, entry_cb, &rows),
	    ACCOUNTS_EUNKNOWN);
	/* The name is free again: another password may take it. */
	assert_int_equal(accounts_user_pwrec(a, "carol", 5, T0 + TTL, rec), 0);
	id3 = reg(a, "carol", other, "", T0 + TTL);
	assert_true(id3 > id2);
	/* The sweep deletes carol's first registration and its files. */
	assert_int_equal(accounts_sweep(a, T0 + TTL, &more), 1);
	assert_int_equal(more, 0);
	assert_int_equal(accounts_sweep(a, T0 + TTL, &more), 0);
	assert_int_equal(accounts_stats(a, T0 + TTL, &st), 0);
	assert_int_equal(st.regs, 2);
	assert_int_equal(st.files, 1);
	/* A registration with more files than one step deletes goes over
	 * several steps; it is invisible all along. */
	{
		static struct accounts_file many[5000];
		static char names[5000][16];
		uint32_t big;

		for (int i = 0; i < 5000; i++) {
			snprintf(names[i], sizeof(names[i]), "f%d", i);
			many[i].name = S(names[i]);
			many[i].size = 1;
			snprintf(
			    many[i].sha1, sizeof(many[i].sha1), "%040x", i);
		}
		assert_int_equal(accounts_register(a, "big", 3, rec, many, 5000,
				     T0 + TTL, &big),
		    0);
		assert_int_equal(accounts_sweep(a, T0 + 3 * TTL, &more), 0);
		assert_int_equal(more, 1);
		assert_int_equal(
		    accounts_get(a, big, T0 + 3 * TTL, &r), ACCOUNTS_EUNKNOWN);
		assert_int_equal(accounts_stats(a, T0 + TTL, &st), 0);
		assert_int_equal(st.files, 5000 - ACCOUNTS_SWEEP_FILES + 1);
	}
	/* Ids are never reused, even after the highest one is swept. */
	assert_int_equal(accounts_sweep(a, T0 + 1000 + 3 * TTL, &more), 3);
	assert_int_equal(more, 0);
	assert_true(reg(a, "erin", rec, "", T0 + 3 * TTL + 1000) > id3);
	accounts_close(a);
}

static void
test_files_update_append_caps(void **state)
{
	struct accounts *a = open_mem(2, 3);
	char rec[ACCOUNTS_PWREC_MAX], other[ACCOUNTS_PWREC_MAX];
	struct accounts_file *f;
	struct rows rows;
	unsigned bad;
	uint32_t id, id2;
	int n;

	(void)state;
	assert_int_equal(accounts_pw_hash("pw", 2, ITER, rec), 0);
	assert_int_equal(accounts_pw_hash("xx", 2, ITER, other), 0);
	/* Four distinct files: over the cap of 3, nothing is created. */
	n = collect("a|1|" SHA_A "\nb|1|" SHA_B "\nc|1|" SHA_C "\nd|1|"
		    "dddddddddddddddddddddddddddddddddddddddd\n",
	    &f, &bad);
	assert_int_equal(n, 4);
	assert_int_equal(
	    accounts_register(a, "u", 1, rec, f, 4, T0, &id), ACCOUNTS_EFILES);
	free(f);
	id = reg(a, "u", rec, "b|1|" SHA_B "\na|1|" SHA_A "\n", T0);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_browse(a, id, 0, T0, entry_cb, &rows), 2);
	assert_string_equal(rows.text[0], "a");
	assert_string_equal(rows.text[1], "b");
	/* APPEND: a known sha1 is replaced, a new one added. */
	n = collect("a2|9|" SHA_A "\nc|1|" SHA_C "\n", &f, &bad);
	assert_int_equal(
	    accounts_set_files(a, id, "u", 1, rec, f, (size_t)n, 0, T0), 0);
	free(f);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_browse(a, id, 0, T0, entry_cb, &rows), 3);
	assert_string_equal(rows.text[0], "a2");
	/* APPEND beyond the cap: refused whole. */
	n = collect("d|1|dddddddddddddddddddddddddddddddddddddddd\n", &f, &bad);
	assert_int_equal(
	    accounts_set_files(a, id, "u", 1, rec, f, (size_t)n, 0, T0),
	    ACCOUNTS_EFILES);
	/* UPDATE replaces the list; wrong credentials change nothing. */
	assert_int_equal(
	    accounts_set_files(a, id, "u", 1, other, f, (size_t)n, 1, T0),
	    ACCOUNTS_EAUTH);
	assert_int_equal(
	    accounts_set_files(a, id, "v", 1, rec, f, (size_t)n, 1, T0),
	    ACCOUNTS_EAUTH);
	assert_int_equal(
	    accounts_set_files(a, 77, "u", 1, rec, f, (size_t)n, 1, T0),
	    ACCOUNTS_EUNKNOWN);
	assert_int_equal(
	    accounts_set_files(a, id, "u", 1, rec, f, (size_t)n, 1, T0), 0);
	free(f);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_browse(a, id, 0, T0, entry_cb, &rows), 1);
	assert_string_equal(rows.text[0], "d");
	/* An empty UPDATE empties the list. */
	assert_int_equal(
	    accounts_set_files(a, id, "u", 1, rec, NULL, 0, 1, T0), 0);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_browse(a, id, 0, T0, entry_cb, &rows), 0);
	/* Server full at 2 live registrations; an expired one frees a slot. */
	id2 = reg(a, "w", rec, "", T0 + 10);
	assert_int_equal(accounts_register(a, "x", 1, rec, NULL, 0, T0, &id),
	    ACCOUNTS_EFULL);
	assert_int_equal(
	    accounts_register(a, "x", 1, rec, NULL, 0, T0 + TTL, &id), 0);
	assert_true(id > id2);
	accounts_close(a);
}

static void
test_paging(void **state)
{
	struct accounts *a = open_mem(0, 0);
	char rec[ACCOUNTS_PWREC_MAX], user[16], lines[4096];
	struct rows rows;
	uint32_t ids[10];
	size_t k = 0;

	(void)state;
	assert_int_equal(accounts_pw_hash("pw", 2, ITER, rec), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "user%d", i);
		ids[i] = reg(a, user, rec, "", T0);
		if (i % 3 == 0)
			login(a, ids[i], user, rec, v4(10, 0, 0, (unsigned)i),
			    (uint16_t)(4000 + i), T0);
	}
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_peers(a, B2B_ALL, 0, T0, peer_cb, &rows), 10);
	assert_int_equal(rows.id[0], ids[0]);
	assert_int_equal(rows.online[0], 1);
	assert_int_equal(rows.port[0], 4000);
	assert_int_equal(rows.online[1], 0);
	assert_int_equal(rows.port[1], 0); /* never logged in */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_peers(a, B2B_ONLINE, 0, T0, peer_cb, &rows), 4);
	assert_int_equal(rows.id[3], ids[9]);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_peers(a, B2B_OFFLINE, 2, T0, peer_cb, &rows), 4);
	assert_int_equal(rows.id[0], ids[4]);
	/* Offline after the window: the filter follows the clock. */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_peers(a, B2B_ONLINE, 0, T0 + ONLINE + 1, peer_cb, &rows),
	    0);
	/* The callback stops the walk; the next page starts after. */
	memset(&rows, 0, sizeof(rows));
	rows.stop_after = 3;
	assert_int_equal(accounts_peers(a, B2B_ALL, 3, T0, peer_cb, &rows), 3);
	assert_int_equal(rows.id[0], ids[3]);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_peers(a, B2B_ALL, 10, T0, peer_cb, &rows), 0);
	/* BROWSE: bytewise filename order, paged. */
	for (int i = 0; i < 20; i++)
		k += (size_t)snprintf(lines + k, sizeof(lines) - k,
		    "%c%02d|1|%040x\n", i % 2 ? 'B' : 'a', 19 - i, i);
	ids[0] = reg(a, "browse", rec, lines, T0);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_browse(a, ids[0], 15, T0, entry_cb, &rows), 5);
	assert_string_equal(rows.text[0], "a11"); /* B.. sort before a.. */
	assert_string_equal(rows.text[4], "a19");
	accounts_close(a);
}

static void
test_score(void **state)
{
	struct b2b_str w[3] = {S("aa"), S("b"), S("aa")};

	(void)state;
	assert_int_equal(accounts_score(w, 1, "aaaa", 4), 2);
	assert_int_equal(accounts_score(w, 1, "aaa", 3), 1); /* no overlap */
	assert_int_equal(accounts_score(w, 1, "AaXaA", 5), 2);
	assert_int_equal(accounts_score(w, 3, "AAbaa", 5), 5); /* repeats */
	assert_int_equal(accounts_score(w, 2, "xyz", 3), 0);
	assert_int_equal(accounts_score(w, 1, "a", 1), 0);
	/* Only ASCII letters are lower-cased. */
	w[0] = S("\xc3\xa9");
	assert_int_equal(accounts_score(w, 1, "\xc3\x89", 2), 0);
	assert_int_equal(accounts_score(w, 1, "\xc3\xa9t\xc3\xa9", 5), 2);
}

static void
test_search_and_holders(void **state)
{
	struct accounts *a = open_mem(0, 0);
	char rec[ACCOUNTS_PWREC_MAX];
	struct rows rows;
	uint32_t bob, amy, zed, off;

	(void)state;
	assert_int_equal(accounts_pw_hash("pw", 2, ITER, rec), 0);
	bob = reg(a, "bob", rec,
	    "Hello World.txt|10|" SHA_A "\n" SHA_A "|" MD5_A "\n"
	    "hello hello.txt|20|" SHA_B "\n"
	    "other.bin|30|" SHA_C "\n",
	    T0);
	amy = reg(a, "amy", rec,
	    "Hello World.txt|10|" SHA_A "\n"
	    "HELLO-there.txt|5|dddddddddddddddddddddddddddddddddddddddd\n",
	    T0);
	zed = reg(a, "zed", rec, "hello world.txt|10|" SHA_A "\n", T0);
	off = reg(a, "off", rec, "hello hello hello.txt|1|" SHA_C "\n", T0);
	login(a, bob, "bob", rec, v4(10, 0, 0, 1), 3001, T0);
	login(a, amy, "amy", rec, v4(10, 0, 0, 2), 3002, T0);
	login(a, zed, "zed", rec, v4(10, 0, 0, 3), 3003, T0);
	(void)off; /* never logs in: not searched */

	/* "hello": 2 for "hello hello.txt", then 1 each, by filename
	 * (bytewise: 'H' < 'h'), then user_id. */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_search(a, S("hello"), 200, T0, hit_cb, &rows), 5);
	assert_string_equal(rows.text[0], "hello hello.txt");
	assert_string_equal(rows.text[1], "HELLO-there.txt");
	assert_string_equal(rows.text[2], "Hello World.txt");
	assert_int_equal(rows.id[2], bob);
	assert_string_equal(rows.text[3], "Hello World.txt");
	assert_int_equal(rows.id[3], amy);
	assert_string_equal(rows.text[4], "hello world.txt");
	assert_int_equal(rows.port[4], 3003);
	/* Several words add up; a repeated word counts again; short words
	 * (no trigram) are found by the full scan. */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_search(a, S("WORLD\thello world"), 200, T0, hit_cb, &rows),
	    5);
	assert_string_equal(rows.text[0], "Hello World.txt"); /* 3 */
	assert_string_equal(rows.text[3], "hello hello.txt"); /* 2 */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_search(a, S("t"), 200, T0, hit_cb, &rows), 6);
	assert_string_equal(rows.text[0], "HELLO-there.txt"); /* 3 t's */
	assert_string_equal(rows.text[5], "other.bin");       /* 1 */
	/* The cap keeps the best ones. */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_search(a, S("hello"), 2, T0, hit_cb, &rows), 2);
	assert_string_equal(rows.text[1], "HELLO-there.txt");
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_search(a, S("nothing"), 200, T0, hit_cb, &rows), 0);
	/* Offline peers are not searched. */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(
	    accounts_search(a, S("hello"), 200, T0 + ONLINE + 1, hit_cb, &rows),
	    0);

	/* DOWNLOAD_FILE: online holders by id, md5 or "". */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_holders(a, SHA_A, T0, hit_cb, &rows), 3);
	assert_int_equal(rows.id[0], bob);
	assert_string_equal(rows.md5[0], MD5_A);
	assert_int_equal(rows.id[1], amy);
	assert_string_equal(rows.md5[1], "");
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_holders(a, SHA_C, T0, hit_cb, &rows), 1);

	/* Course FIND: online holders with an md5 only, as course peers. */
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_find(a, C("world"), T0, find_cb, &rows), 1);
	assert_string_equal(rows.text[0], "Hello World.txt");
	assert_string_equal(rows.md5[0], MD5_A);
	assert_int_equal(rows.peer[0].v4[0], 10);
	assert_int_equal(rows.peer[0].v4[3], 1);
	assert_int_equal(rows.peer[0].v6[10], 0xff);
	assert_int_equal(rows.peer[0].v6[15], 1);
	assert_int_equal(rows.peer[0].port, 3001);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_find(a, C("*"), T0, find_cb, &rows), 1);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_find(a, C("%wo%"), T0, find_cb, &rows), 1);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_find(a, C("there"), T0, find_cb, &rows), 0);
	accounts_close(a);
}

static void
test_find_ipv6_and_long_names(void **state)
{
	struct accounts *a = open_mem(0, 0);
	char rec[ACCOUNTS_PWREC_MAX], lines[1024], name[300];
	struct b2b_addr ip6;
	struct rows rows;
	uint32_t id;

	(void)state;
	assert_int_equal(accounts_pw_hash("pw", 2, ITER, rec), 0);
	/* 99 ASCII bytes then "é" (2 bytes): cut before the é. */
	memset(name, 'n', 99);
	memcpy(name + 99, "\xc3\xa9xyz", 5);
	name[104] = '\0';
	snprintf(lines, sizeof(lines), "%s|1|%s\n%s|%s\n", name, SHA_A, SHA_A,
	    MD5_A);
	id = reg(a, "six", rec, lines, T0);
	ip6 = v4(0, 0, 0, 0);
	ip6.family = AF_INET6;
	ip6.a[0] = 0x20;
	ip6.a[1] = 0x01;
	ip6.a[15] = 7;
	login(a, id, "six", rec, ip6, 5000, T0);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_find(a, C("nnn"), T0, find_cb, &rows), 1);
	assert_int_equal(strlen(rows.text[0]), 99);
	assert_memory_equal(rows.peer[0].v4, "\0\0\0\0", 4);
	assert_int_equal(rows.peer[0].v6[0], 0x20);
	assert_int_equal(rows.peer[0].v6[15], 7);
	assert_int_equal(rows.peer[0].port, 5000);
	accounts_close(a);
}

static void
test_persistence(void **state)
{
	char path[] = "/tmp/test_accounts_XXXXXX";
	char db[64], rec[ACCOUNTS_PWREC_MAX];
	struct accounts *a, *b;
	struct accounts_reg r;
	struct rows rows;
	uint32_t id;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	snprintf(db, sizeof(db), "%s.db", path);
	assert_int_equal(accounts_open(db, NULL, 1, &a), 0);
	assert_int_equal(accounts_pw_hash("pw", 2, ITER, rec), 0);
	id = reg(a, "pers", rec, "p.txt|3|" SHA_B "\n", T0);
	login(a, id, "pers", rec, v4(10, 1, 1, 1), 3000, T0);
	/* A second handle on the same file (the directory has two) sees
	 * every commit. */
	assert_int_equal(accounts_open(db, NULL, 0, &b), 0);
	assert_int_equal(accounts_get(b, id, T0, &r), 0);
	assert_int_equal(r.online, 1);
	accounts_close(a);
	accounts_close(b);
	assert_int_equal(accounts_open(db, NULL, 0, &a), 0);
	assert_int_equal(accounts_get(a, id, T0 + 1, &r), 0);
	assert_string_equal(r.pwrec, rec);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(accounts_browse(a, id, 0, T0, entry_cb, &rows), 1);
	assert_string_equal(rows.text[0], "p.txt");
	accounts_close(a);
	unlink(db);
	snprintf(db, sizeof(db), "%s.db-wal", path);
	unlink(db);
	snprintf(db, sizeof(db), "%s.db-shm", path);
	unlink(db);
}

/* Time one verification at the spec's count: printed, never asserted. */
static void
test_pw_timing(void **state)
{
	char rec[ACCOUNTS_PWREC_MAX];
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(
	    accounts_pw_hash("s3cret", 6, ACCOUNTS_ITER_SPEC, rec), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(accounts_pw_verify("s3cret", 6, rec), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# PBKDF2-HMAC-SHA256 x %u: %.1f ms per verification\n",
	    ACCOUNTS_ITER_SPEC,
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pw_record),
	    cmocka_unit_test(test_pw_known_answer),
	    cmocka_unit_test(test_files_collect),
	    cmocka_unit_test(test_register_login_logout),
	    cmocka_unit_test(test_expiry_and_sweep),
	    cmocka_unit_test(test_files_update_append_caps),
	    cmocka_unit_test(test_paging),
	    cmocka_unit_test(test_score),
	    cmocka_unit_test(test_search_and_holders),
	    cmocka_unit_test(test_find_ipv6_and_long_names),
	    cmocka_unit_test(test_persistence),
	    cmocka_unit_test(test_pw_timing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
