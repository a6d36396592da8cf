/*
 * introdb.c: the peers table of the introducer (chord.md §2) in SQLite.
 * Statements are prepared once in introdb_open() and finalised in
 * introdb_close(); every call is one transaction.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "db.h"
#include "introdb.h"

#define ID_SCHEMA_VERSION 1

/* The table is exactly chord.md §2's, so that existing introducers' files
 * read the same; the indexes serve JOIN, DELETE and the checks. */
#define ID_SCHEMA                                                              \
	"CREATE TABLE IF NOT EXISTS peers("                                    \
	" rowid INTEGER PRIMARY KEY AUTOINCREMENT, peer_id TEXT, ip TEXT,"     \
	" port INTEGER, last_seen INTEGER, failures INTEGER,"                  \
	" UNIQUE(ip, port));"                                                  \
	"CREATE INDEX IF NOT EXISTS peers_last_seen ON peers(last_seen);"      \
	"CREATE INDEX IF NOT EXISTS peers_peer_id ON peers(peer_id);"

enum {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_BY_ADDR,
	ST_INSERT,
	ST_UPDATE,
	ST_OTHERS,
	ST_DELETE,
	ST_STALE,
	ST_ALIVE,
	ST_FAILED,
	ST_DROP_FAILED,
	ST_EXPIRE,
	ST_COUNT_ROWS,
	ST_COUNT
};

static const char *const id_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_BY_ADDR] = "SELECT rowid, peer_id FROM peers "
		   "WHERE ip = ?1 AND port = ?2",
    [ST_INSERT] = "INSERT INTO peers(peer_id, ip, port, last_seen, failures) "
		  "VALUES (?1, ?2, ?3, ?4, 0)",
    [ST_UPDATE] = "UPDATE peers SET peer_id = ?2, last_seen = ?3, "
		  "failures = 0 WHERE rowid = ?1",
    [ST_OTHERS] = "SELECT rowid, peer_id, ip, port, last_seen, failures "
		  "FROM peers WHERE rowid <> ?1 "
		  "ORDER BY last_seen DESC, rowid ASC LIMIT ?2",
    [ST_DELETE] = "DELETE FROM peers WHERE peer_id = ?1",
    [ST_STALE] = "SELECT rowid, peer_id, ip, port, last_seen, failures "
		 "FROM peers WHERE last_seen <= ?1 "
		 "ORDER BY last_seen ASC, rowid ASC",
    [ST_ALIVE] = "UPDATE peers SET failures = 0 WHERE rowid = ?1",
    [ST_FAILED] = "UPDATE peers SET failures = coalesce(failures, 0) + 1 "
		  "WHERE rowid = ?1 AND last_seen = ?2",
    [ST_DROP_FAILED] = "DELETE FROM peers WHERE rowid = ?1 AND failures >= ?2",
    [ST_EXPIRE] = "DELETE FROM peers WHERE last_seen <= ?1",
    [ST_COUNT_ROWS] = "SELECT count(*) FROM peers",
};

struct introdb {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT]; /* prepared in introdb_open */
};

/* ------------------------------------------------------------ helpers */

static void
id_reset(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Log the connection's last error. Always returns -EIO. */
static int
id_fail(struct introdb *db)
{
	log_error("introducer database: %s", sqlite3_errmsg(db->db));
	return -EIO;
}

/* Step s: SQLITE_ROW, SQLITE_DONE, or -EIO (logged; s is reset). */
static int
id_step(struct introdb *db, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	rc = id_fail(db);
	id_reset(s);
	return rc;
}

/* Run a statement without results and reset it: 0 or -EIO. */
static int
id_run(struct introdb *db, sqlite3_stmt *s)
{
	int rc = id_step(db, s);

	if (rc < 0)
		return rc;
	id_reset(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int
id_begin(struct introdb *db)
{
	return id_run(db, db->st[ST_BEGIN]);
}

/* Commit when rc >= 0, else roll back. Returns rc, or -EIO. */
static int
id_end(struct introdb *db, int rc)
{
	if (rc >= 0 && id_run(db, db->st[ST_COMMIT]) == 0)
		return rc;
	if (rc >= 0)
		rc = -EIO;
	if (sqlite3_get_autocommit(db->db) == 0)
		(void)id_run(db, db->st[ST_ROLLBACK]);
	return rc;
}

/* Copy text column col into out (cap bytes, NUL-terminated, cut). */
static void
id_column_text(sqlite3_stmt *s, int col, char *out, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t n = t != NULL ? (size_t)sqlite3_column_bytes(s, col) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(out, t, n);
	out[n] = '\0';
}

/* The current row of a SELECT rowid, peer_id, ip, port, last_seen,
 * failures. */
static void
id_column_row(sqlite3_stmt *s, struct introdb_row *r)
{
	memset(r, 0, sizeof(*r));
	r->rowid = sqlite3_column_int64(s, 0);
	id_column_text(s, 1, r->peer_id, sizeof(r->peer_id));
	id_column_text(s, 2, r->ip, sizeof(r->ip));
	r->port = (unsigned)sqlite3_column_int(s, 3);
	r->last_seen = sqlite3_column_int64(s, 4);
	r->failures = (unsigned)sqlite3_column_int(s, 5);
}

/* ------------------------------------------------------------ open/close */

int
introdb_open(const char *path, struct introdb **out)
{
	struct introdb *db = xcalloc(1, sizeof(*db));
	int i, rc;

	if ((rc = db_open(path, &db->db)) != 0)
		goto fail;
	rc = -EIO;
	if (db_migrate(db->db, "introducer", ID_SCHEMA_VERSION, ID_SCHEMA) != 0)
		goto fail;
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v2(
			db->db, id_sql[i], -1, &db->st[i], NULL) != SQLITE_OK) {
			id_fail(db);
			goto fail;
		}
	}
	*out = db;
	return 0;
fail:
	log_error("introducer: cannot open the database %s", path);
	introdb_close(db);
	return rc;
}

void
introdb_close(struct introdb *db)
{
	int i;

	if (db == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	db_close(db->db);
	free(db);
}

/* ------------------------------------------------------------ requests */

/* The upsert of JOIN, inside a transaction: 0 or -EIO. */
static int
id_upsert(struct introdb *db, const char *peer_id, const char *ip,
    unsigned port, int64_t now, int64_t *rowid,
    enum introdb_join_result *result)
{
	sqlite3_stmt *s = db->st[ST_BY_ADDR];
	int rc;

	sqlite3_bind_text(s, 1, ip, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, (int)port);
	if ((rc = id_step(db, s)) < 0)
		return rc;
	if (rc == SQLITE_ROW) {
		const unsigned char *old = sqlite3_column_text(s, 1);

		*rowid = sqlite3_column_int64(s, 0);
		*result = old != NULL && strcmp((const char *)old, peer_id) == 0
		    ? INTRODB_JOIN_REFRESH
		    : INTRODB_JOIN_REPLACED;
		id_reset(s);
		s = db->st[ST_UPDATE];
		sqlite3_bind_int64(s, 1, *rowid);
		sqlite3_bind_text(s, 2, peer_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, now);
		return id_run(db, s);
	}
	id_reset(s);
	s = db->st[ST_INSERT];
	sqlite3_bind_text(s, 1, peer_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ip, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, (int)port);
	sqlite3_bind_int64(s, 4, now);
	if ((rc = id_run(db, s)) < 0)
		return rc;
	*rowid = sqlite3_last_insert_rowid(db->db);
	*result = INTRODB_JOIN_NEW;
	return 0;
}

int
introdb_join(struct introdb *db, const char *peer_id, const char *ip,
    unsigned port, int64_t now, int64_t *rowid,
    enum introdb_join_result *result, struct introdb_row *others, unsigned max)
{
	sqlite3_stmt *s = db->st[ST_OTHERS];
	unsigned n = 0;
	int rc;

	if ((rc = id_begin(db)) < 0)
		return rc;
	rc = id_upsert(db, peer_id, ip, port, now, rowid, result);
	if (rc == 0) {
		sqlite3_bind_int64(s, 1, *rowid);
		sqlite3_bind_int(s, 2, (int)max);
		while (n < max && (rc = id_step(db, s)) == SQLITE_ROW)
			id_column_row(s, &others[n++]);
		if (rc >= 0) {
			id_reset(s);
			rc = 0;
		}
	}
	rc = id_end(db, rc);
	return rc < 0 ? rc : (int)n;
}

int
introdb_delete(struct introdb *db, const char *peer_id, size_t len)
{
	sqlite3_stmt *s = db->st[ST_DELETE];
	int rc;

	if ((rc = id_begin(db)) < 0)
		return rc;
	sqlite3_bind_text(s, 1, peer_id, (int)len, SQLITE_STATIC);
	rc = id_run(db, s);
	if (rc == 0)
		rc = sqlite3_changes(db->db);
	return id_end(db, rc);
}

/* -------------------------------------------------------------- liveness */

int
introdb_stale(struct introdb *db, int64_t before, struct introdb_row *out,
    unsigned max, introdb_skip_cb skip, void *arg)
{
	sqlite3_stmt *s = db->st[ST_STALE];
	unsigned n = 0;
	int rc = SQLITE_DONE;

	sqlite3_bind_int64(s, 1, before);
	while (n < max && (rc = id_step(db, s)) == SQLITE_ROW) {
		if (skip != NULL && skip(arg, sqlite3_column_int64(s, 0)))
			continue;
		id_column_row(s, &out[n++]);
	}
	if (rc < 0)
		return rc;
	id_reset(s);
	return (int)n;
}

int
introdb_alive(struct introdb *db, int64_t rowid)
{
	sqlite3_stmt *s = db->st[ST_ALIVE];

	sqlite3_bind_int64(s, 1, rowid);
	return id_run(db, s);
}

int
introdb_failed(
    struct introdb *db, int64_t rowid, int64_t seen, unsigned max_failures)
{
	sqlite3_stmt *s = db->st[ST_FAILED];
	int rc;

	if ((rc = id_begin(db)) < 0)
		return rc;
	sqlite3_bind_int64(s, 1, rowid);
	sqlite3_bind_int64(s, 2, seen);
	rc = id_run(db, s);
	if (rc == 0 && sqlite3_changes(db->db) > 0) {
		s = db->st[ST_DROP_FAILED];
		sqlite3_bind_int64(s, 1, rowid);
		sqlite3_bind_int(s, 2, (int)max_failures);
		rc = id_run(db, s);
		if (rc == 0)
			rc = sqlite3_changes(db->db) > 0;
	}
	return id_end(db, rc);
}

int
introdb_expire(struct introdb *db, int64_t before)
{
	sqlite3_stmt *s = db->st[ST_EXPIRE];
	int rc;

	sqlite3_bind_int64(s, 1, before);
	rc = id_run(db, s);
	return rc < 0 ? rc : sqlite3_changes(db->db);
}

int64_t
introdb_count(struct introdb *db)
{
	sqlite3_stmt *s = db->st[ST_COUNT_ROWS];
	int64_t n;
	int rc;

	if ((rc = id_step(db, s)) != SQLITE_ROW)
		return rc < 0 ? rc : -EIO;
	n = sqlite3_column_int64(s, 0);
	id_reset(s);
	return n;
}
