/*
 * test_introdb.c: unit tests of the introducer's table
 * (src/store/introdb.c) against chord.md §2: the JOIN upsert and its
 * answer (other rows only, most recently seen first, then by rowid, at
 * most the asked number), DELETE by peer_id, the liveness bookkeeping
 * (oldest first, skips, failures counted only while the row stays
 * silent, deletion at the limit, alive resets), expiry, and persistence
 * across a reopen. Also the identifiers of chord.md §4, derived with
 * libcrypto's SHA-1 from the texts the wire codec builds (the codec
 * itself links nothing but libc).
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
#include <unistd.h>

#include "store/hash.h"
#include "store/introdb.h"
#include "wire/chordtxt.h"

#define N1_ID "c18d70378a501332d44491b30c826156b30fcc90"
#define N2_ID "53f5ff6630002b87390834acfa0e33e0676a8622"
#define N3_ID "4f3ad5732ccf9068fcfff6ed0276b0672b7eec00"

struct fixture {
	char dir[64];
	char path[PATH_MAX];
	struct introdb *db;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/warren-introdb-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/introducer.db", f->dir);
	assert_int_equal(introdb_open(f->path, &f->db), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX + 8];

	introdb_close(f->db);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* JOIN and return the rowid; *n others in rows. */
static int64_t
join(struct introdb *db, const char *id, const char *ip, unsigned port,
    int64_t now, enum introdb_join_result want, struct introdb_row *rows,
    int *n)
{
	struct introdb_row tmp[8];
	enum introdb_join_result res;
	int64_t rowid = 0;
	int got;

	got = introdb_join(db, id, ip, port, now, &rowid, &res,
	    rows != NULL ? rows : tmp, rows != NULL ? 5 : 8);
	assert_true(got >= 0);
	assert_int_equal(res, want);
	if (n != NULL)
		*n = got;
	return rowid;
}

/* §4: N3 joins; N1 and N2 were registered in the same second. */
static void
test_join_of_section4(void **state)
{
	struct fixture *f = *state;
	struct introdb_row rows[5];
	int n;

	assert_int_equal(join(f->db, N1_ID, "192.168.1.10", 7495, 1000,
			     INTRODB_JOIN_NEW, rows, &n),
	    1);
	assert_int_equal(n, 0); /* alone: an empty list */
	assert_int_equal(join(f->db, N2_ID, "192.168.1.11", 7495, 1000,
			     INTRODB_JOIN_NEW, rows, &n),
	    2);
	assert_int_equal(n, 1);
	assert_int_equal(join(f->db, N3_ID, "192.168.1.12", 7495, 1001,
			     INTRODB_JOIN_NEW, rows, &n),
	    3);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].rowid, 1);
	assert_string_equal(rows[0].peer_id, N1_ID);
	assert_string_equal(rows[0].ip, "192.168.1.10");
	assert_int_equal(rows[0].port, 7495);
	assert_int_equal(rows[1].rowid, 2);
	assert_string_equal(rows[1].peer_id, N2_ID);
	assert_int_equal(introdb_count(f->db), 3);
	/* DELETE, also of what is not there. */
	assert_int_equal(introdb_delete(f->db, N3_ID, 40), 1);
	assert_int_equal(introdb_delete(f->db, N3_ID, 40), 0);
	assert_int_equal(introdb_count(f->db), 2);
}

static void
test_join_order_and_upsert(void **state)
{
	struct fixture *f = *state;
	struct introdb_row rows[5];
	char id[16], ip[32];
	int64_t r;
	int i, n;

	/* Eight nodes seen at 100, 101, ... 107; two more tie at 103. */
	for (i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "id%d", i);
		snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
		assert_int_equal(join(f->db, id, ip, 7495, 100 + i,
				     INTRODB_JOIN_NEW, NULL, NULL),
		    i + 1);
	}
	assert_int_equal(join(f->db, "tie-a", "10.0.1.1", 7495, 103,
			     INTRODB_JOIN_NEW, NULL, NULL),
	    9);
	assert_int_equal(join(f->db, "tie-b", "10.0.1.2", 7495, 103,
			     INTRODB_JOIN_NEW, NULL, NULL),
	    10);
	/* A newcomer gets the 5 most recent, ties by rowid. */
	r = join(
	    f->db, "new", "10.0.2.1", 7495, 50, INTRODB_JOIN_NEW, rows, &n);
	assert_int_equal(r, 11);
	assert_int_equal(n, 5);
	/* its own row (last_seen 50) is never among them anyway; id7 (107)
	 * ... id4 (104), then at 103: id3 (row 4) before tie-a and tie-b. */
	assert_string_equal(rows[0].peer_id, "id7");
	assert_string_equal(rows[1].peer_id, "id6");
	assert_string_equal(rows[2].peer_id, "id5");
	assert_string_equal(rows[3].peer_id, "id4");
	assert_string_equal(rows[4].peer_id, "id3");
	assert_int_equal(rows[4].rowid, 4);
	/* The most recent joiner is not in its own answer. */
	r = join(f->db, "id7", "10.0.0.8", 7495, 200, INTRODB_JOIN_REFRESH,
	    rows, &n);
	assert_int_equal(r, 8);
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_true(rows[i].rowid != 8);
	assert_string_equal(rows[0].peer_id, "id6");
	/* Same (ip, port), new id: the row is replaced, rowid kept. */
	r = join(f->db, "id7-new", "10.0.0.8", 7495, 201, INTRODB_JOIN_REPLACED,
	    rows, &n);
	assert_int_equal(r, 8);
	assert_int_equal(introdb_count(f->db), 11);
	assert_int_equal(introdb_delete(f->db, "id7", 3), 0);
	/* Another port on the same ip is another node. */
	r = join(
	    f->db, "id7", "10.0.0.8", 7496, 202, INTRODB_JOIN_NEW, rows, &n);
	assert_int_equal(r, 12);
	assert_string_equal(rows[0].peer_id, "id7-new");
	/* DELETE removes every row with that peer_id. */
	join(f->db, "dup", "10.0.3.1", 1, 300, INTRODB_JOIN_NEW, NULL, NULL);
	join(f->db, "dup", "10.0.3.2", 1, 300, INTRODB_JOIN_NEW, NULL, NULL);
	assert_int_equal(introdb_delete(f->db, "dupx", 3), 2); /* len 3 */
	assert_int_equal(introdb_count(f->db), 12);
}

/* introdb_skip_cb: skip the rowid in *arg. */
static int
skip_one(void *arg, int64_t rowid)
{
	return rowid == *(int64_t *)arg;
}

static void
test_liveness(void **state)
{
	struct fixture *f = *state;
	struct introdb_row rows[8];
	int64_t skip;
	int n;

	join(f->db, "a", "10.0.0.1", 1, 300, INTRODB_JOIN_NEW, NULL, NULL);
	join(f->db, "b", "10.0.0.2", 1, 100, INTRODB_JOIN_NEW, NULL, NULL);
	join(f->db, "c", "10.0.0.3", 1, 200, INTRODB_JOIN_NEW, NULL, NULL);
	join(f->db, "d", "10.0.0.4", 1, 100, INTRODB_JOIN_NEW, NULL, NULL);
	/* Oldest first, then rowid; only rows not seen since `before`. */
	n = introdb_stale(f->db, 200, rows, 8, NULL, NULL);
	assert_int_equal(n, 3);
	assert_string_equal(rows[0].peer_id, "b");
	assert_string_equal(rows[1].peer_id, "d");
	assert_string_equal(rows[2].peer_id, "c");
	assert_int_equal(rows[0].last_seen, 100);
	assert_int_equal(rows[0].failures, 0);
	assert_int_equal(introdb_stale(f->db, 200, rows, 2, NULL, NULL), 2);
	assert_int_equal(introdb_stale(f->db, 99, rows, 8, NULL, NULL), 0);
	skip = rows[0].rowid;
	n = introdb_stale(f->db, 200, rows, 2, skip_one, &skip);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].peer_id, "d");
	assert_string_equal(rows[1].peer_id, "c");

	/* b fails twice, answers once (reset), then fails three times. */
	assert_int_equal(introdb_failed(f->db, 2, 100, 3), 0);
	assert_int_equal(introdb_failed(f->db, 2, 100, 3), 0);
	n = introdb_stale(f->db, 100, rows, 1, NULL, NULL);
	assert_int_equal(rows[0].failures, 2);
	assert_int_equal(introdb_alive(f->db, 2), 0);
	n = introdb_stale(f->db, 100, rows, 1, NULL, NULL);
	assert_int_equal(rows[0].failures, 0);
	assert_int_equal(introdb_failed(f->db, 2, 100, 3), 0);
	assert_int_equal(introdb_failed(f->db, 2, 100, 3), 0);
	assert_int_equal(introdb_failed(f->db, 2, 100, 3), 1);
	assert_int_equal(introdb_count(f->db), 3);
	assert_int_equal(introdb_failed(f->db, 2, 100, 3), 0); /* gone */

	/* d fails twice, then JOINs again: a failed check that began
	 * before the JOIN does not count. */
	assert_int_equal(introdb_failed(f->db, 4, 100, 3), 0);
	assert_int_equal(introdb_failed(f->db, 4, 100, 3), 0);
	join(f->db, "d", "10.0.0.4", 1, 400, INTRODB_JOIN_REFRESH, NULL, NULL);
	assert_int_equal(introdb_failed(f->db, 4, 100, 3), 0);
	assert_int_equal(introdb_failed(f->db, 4, 100, 3), 0);
	assert_int_equal(introdb_stale(f->db, 400, rows, 8, NULL, NULL), 3);
	assert_string_equal(rows[2].peer_id, "d");
	assert_int_equal(rows[2].failures, 0); /* JOIN reset them */

	/* Expiry: rows not seen since 250. */
	assert_int_equal(introdb_expire(f->db, 250), 1); /* c */
	assert_int_equal(introdb_count(f->db), 2);
	assert_int_equal(introdb_expire(f->db, 250), 0);
}

static void
test_persistence(void **state)
{
	struct fixture *f = *state;
	struct introdb_row rows[5];
	int n;

	join(f->db, N1_ID, "192.168.1.10", 7495, 1000, INTRODB_JOIN_NEW, NULL,
	    NULL);
	join(
	    f->db, N2_ID, "fd00::20", 7495, 1000, INTRODB_JOIN_NEW, NULL, NULL);
	assert_int_equal(introdb_delete(f->db, N2_ID, 40), 1);
	introdb_close(f->db);
	f->db = NULL;
	assert_int_equal(introdb_open(f->path, &f->db), 0);
	assert_int_equal(introdb_count(f->db), 1);
	/* AUTOINCREMENT: a deleted rowid is never given again. */
	assert_int_equal(join(f->db, N3_ID, "192.168.1.12", 7495, 1001,
			     INTRODB_JOIN_NEW, rows, &n),
	    3);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].peer_id, N1_ID);
	assert_int_equal(rows[0].last_seen, 1000);
}

/* SHA-1 of text as 40 lower-case hex digits. */
static void
sha1_hex(const char *text, char out[CHORD_ID_LEN + 1])
{
	struct chord_id id;

	hash_sha1(text, strlen(text), id.b);
	chord_id_format(&id, out);
}

/* chord.md §4: node ids are SHA-1 of the ring address text, keys SHA-1
 * of the keyword; the ring order and responsibilities follow. */
static void
test_ids_of_section4(void **state)
{
	static const struct {
		const char *ip, *id;
	} nodes[] = {
	    {"fd00::20", "21f1e6a9ee7ccede4cb270bbe1d579158191390c"},
	    {"192.168.1.12", N3_ID},
	    {"192.168.1.11", N2_ID},
	    {"192.168.1.10", N1_ID},
	    {"192.168.1.13", "f0a576a168acfd15f3cd1e4308e90b73a9f1ca8e"},
	};
	char text[CHORD_ID_TEXT_MAX], hex[CHORD_ID_LEN + 1];
	struct chord_id ids[5], key;
	struct chord_keywords it;
	struct chord_addr a;
	char kw[CHORD_KEYWORD_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_int_equal(
		    chord_ip_parse(nodes[i].ip, strlen(nodes[i].ip), &a), 0);
		assert_true(chord_id_text(&a, 7495, text, sizeof(text)) > 0);
		sha1_hex(text, hex);
		assert_string_equal(hex, nodes[i].id);
		assert_int_equal(chord_id_parse(hex, 40, &ids[i]), 0);
		if (i > 0)
			assert_true(chord_id_cmp(&ids[i - 1], &ids[i]) < 0);
	}
	/* The texts hashed are exactly these. */
	assert_int_equal(chord_ip_parse("fd00::20", 8, &a), 0);
	chord_id_text(&a, 7495, text, sizeof(text));
	assert_string_equal(text, "[fd00::20]:7495");
	sha1_hex("192.168.1.10:7495", hex);
	assert_string_equal(hex, N1_ID);

	/* report: key a272..., in (N2, N1]: N1 is responsible. */
	chord_keywords_init(&it, "Annual_Report.pdf", 17);
	assert_int_equal(chord_keywords_next(&it, kw), 6);
	assert_int_equal(chord_keywords_next(&it, kw), 6);
	assert_string_equal(kw, "report");
	sha1_hex(kw, hex);
	assert_string_equal(hex, "a27297bde9732f2e73fbc06db2611764e3ad9855");
	assert_int_equal(chord_id_parse(hex, 40, &key), 0);
	assert_true(chord_id_between_incl(&key, &ids[2], &ids[3]));
	for (i = 0; i < 5; i++)
		if (i != 3)
			assert_false(chord_id_between_incl(
			    &key, &ids[(i + 4) % 5], &ids[i]));
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_join_of_section4),
	    T(test_join_order_and_upsert),
	    T(test_liveness),
	    T(test_persistence),
	    cmocka_unit_test(test_ids_of_section4),
	};

#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
