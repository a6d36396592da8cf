/*
 * index.c: the session/file/owner index of a directory or supernode (see
 * index.h) in SQLite. Counters of links per session and per file keep
 * every LOGI/ADDF/DELF/LOGO at a few B-tree lookups; an external-content
 * FTS5 trigram table, kept in step with files.name by triggers, narrows
 * FIND to candidates that course_term_match() then decides on.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "db.h"
#include "index.h"
#include "warren/error.h"

#define IX_SCHEMA_VERSION    1
#define IX_MAX_SESSIONS      10000  /* default of index_limits */
#define IX_FILES_PER_SESSION 100000 /* default of index_limits */
#define IX_ID_TRIES          16     /* fresh SessionID draws before failing */
#define IX_TRIGRAM           3      /* shortest term the tokenizer indexes */
#define IX_FTS_PROBE         20000  /* candidates above which FIND walks */

/*
 * sessions.nfiles and files.nowners count owner rows, so the limit check
 * and the "owners left" answers need no scan. files.id is an INTEGER
 * PRIMARY KEY so that the FTS rowids survive VACUUM. Names are TEXT bound
 * with their length: SQLite stores the bytes as given (invalid UTF-8
 * included), NOCASE folds ASCII only, and the trigram tokenizer reads
 * bytes within bounds whatever they are.
 */
#define IX_SCHEMA                                                              \
	"CREATE TABLE IF NOT EXISTS sessions("                                 \
	" id TEXT PRIMARY KEY,"                                                \
	" v4 BLOB NOT NULL, v6 BLOB NOT NULL, port INTEGER NOT NULL,"          \
	" last_ms INTEGER NOT NULL,"                                           \
	" nfiles INTEGER NOT NULL DEFAULT 0,"                                  \
	" UNIQUE (v4, v6, port)) WITHOUT ROWID;"                               \
	"CREATE TABLE IF NOT EXISTS files("                                    \
	" id INTEGER PRIMARY KEY,"                                             \
	" md5 TEXT NOT NULL UNIQUE,"                                           \
	" name TEXT NOT NULL,"                                                 \
	" downloads INTEGER NOT NULL DEFAULT 0,"                               \
	" nowners INTEGER NOT NULL DEFAULT 0);"                                \
	"CREATE INDEX IF NOT EXISTS files_by_name"                             \
	" ON files(name COLLATE NOCASE, md5);"                                 \
	"CREATE TABLE IF NOT EXISTS owners("                                   \
	" file INTEGER NOT NULL, session TEXT NOT NULL,"                       \
	" PRIMARY KEY (file, session)) WITHOUT ROWID;"                         \
	"CREATE INDEX IF NOT EXISTS owners_by_session ON owners(session);"     \
	"CREATE VIRTUAL TABLE IF NOT EXISTS files_fts USING fts5(name,"        \
	" content='files', content_rowid='id', tokenize='trigram');"           \
	"CREATE TRIGGER IF NOT EXISTS files_fts_ins AFTER INSERT ON files"     \
	" BEGIN INSERT INTO files_fts(rowid, name)"                            \
	" VALUES (new.id, new.name); END;"                                     \
	"CREATE TRIGGER IF NOT EXISTS files_fts_del AFTER DELETE ON files"     \
	" BEGIN INSERT INTO files_fts(files_fts, rowid, name)"                 \
	" VALUES ('delete', old.id, old.name); END;"                           \
	"CREATE TRIGGER IF NOT EXISTS files_fts_upd"                           \
	" AFTER UPDATE OF name ON files"                                       \
	" BEGIN INSERT INTO files_fts(files_fts, rowid, name)"                 \
	" VALUES ('delete', old.id, old.name);"                                \
	" INSERT INTO files_fts(rowid, name) VALUES (new.id, new.name); END;"

/* Dropping is O(pages); deleting row by row would fire the FTS trigger. */
#define IX_DROP                                                                \
	"DROP TABLE IF EXISTS files_fts;"                                      \
	"DROP TABLE IF EXISTS owners;"                                         \
	"DROP TABLE IF EXISTS files;"                                          \
	"DROP TABLE IF EXISTS sessions;"

enum {
	ST_BEGIN_WRITE,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SESS_BY_PEER,
	ST_SESS_GET,
	ST_SESS_INSERT,
	ST_SESS_TOUCH,
	ST_SESS_NFILES,
	ST_SESS_DELETE,
	ST_SESS_ALL,
	ST_SESS_COUNT,
	ST_FILE_GET,
	ST_FILE_INSERT,
	ST_FILE_RENAME,
	ST_FILE_NOWNERS,
	ST_FILE_DELETE,
	ST_FILE_DREG,
	ST_FILE_DOWNLOADS,
	ST_LINK_GET,
	ST_LINK_INSERT,
	ST_LINK_DELETE,
	ST_LOGO_ORPHANS,
	ST_LOGO_UNLINK,
	ST_LOGO_LINKS,
	ST_FIND_ALL,
	ST_FIND_PROBE,
	ST_FIND_FTS,
	ST_FIND_OWNERS,
	ST_STATS,
	ST_COUNT
};

static const char *const ix_sql[ST_COUNT] = {
    [ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SESS_BY_PEER] = "SELECT id FROM sessions "
			"WHERE v4 = ?1 AND v6 = ?2 AND port = ?3",
    [ST_SESS_GET] = "SELECT v4, v6, port, nfiles FROM sessions WHERE id = ?1",
    [ST_SESS_INSERT] = "INSERT INTO sessions(id, v4, v6, port, last_ms) "
		       "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_SESS_TOUCH] = "UPDATE sessions SET last_ms = ?2 WHERE id = ?1",
    [ST_SESS_NFILES] = "UPDATE sessions SET nfiles = nfiles + ?2 "
		       "WHERE id = ?1",
    [ST_SESS_DELETE] = "DELETE FROM sessions WHERE id = ?1",
    [ST_SESS_ALL] = "SELECT id, v4, v6, port, last_ms FROM sessions",
    [ST_SESS_COUNT] = "SELECT count(*) FROM sessions",
    [ST_FILE_GET] = "SELECT id, nowners FROM files WHERE md5 = ?1",
    [ST_FILE_INSERT] = "INSERT INTO files(md5, name, nowners) "
		       "VALUES (?1, ?2, 1)",
    [ST_FILE_RENAME] = "UPDATE files SET name = ?2 "
		       "WHERE id = ?1 AND name IS NOT ?2",
    [ST_FILE_NOWNERS] = "UPDATE files SET nowners = nowners + ?2 "
			"WHERE id = ?1",
    [ST_FILE_DELETE] = "DELETE FROM files WHERE id = ?1",
    [ST_FILE_DREG] = "UPDATE files SET downloads = downloads + 1 "
		     "WHERE md5 = ?1",
    [ST_FILE_DOWNLOADS] = "SELECT downloads FROM files WHERE md5 = ?1",
    [ST_LINK_GET] = "SELECT 1 FROM owners WHERE file = ?1 AND session = ?2",
    [ST_LINK_INSERT] = "INSERT INTO owners(file, session) VALUES (?1, ?2)",
    [ST_LINK_DELETE] = "DELETE FROM owners WHERE file = ?1 AND session = ?2",
    [ST_LOGO_ORPHANS] = "DELETE FROM files WHERE nowners <= 1 AND id IN "
			"(SELECT file FROM owners WHERE session = ?1)",
    [ST_LOGO_UNLINK] = "UPDATE files SET nowners = nowners - 1 WHERE id IN "
		       "(SELECT file FROM owners WHERE session = ?1)",
    [ST_LOGO_LINKS] = "DELETE FROM owners WHERE session = ?1",
    [ST_FIND_ALL] = "SELECT id, md5, name FROM files "
		    "ORDER BY name COLLATE NOCASE, md5",
    [ST_FIND_PROBE] = "SELECT rowid FROM files_fts "
		      "WHERE files_fts MATCH ?1 LIMIT ?2",
    [ST_FIND_FTS] = "SELECT f.id, f.md5, f.name "
		    "FROM files_fts JOIN files AS f ON f.id = files_fts.rowid "
		    "WHERE files_fts MATCH ?1 "
		    "ORDER BY f.name COLLATE NOCASE, f.md5",
    [ST_FIND_OWNERS] = "SELECT s.v4, s.v6, s.port FROM owners AS o "
		       "JOIN sessions AS s ON s.id = o.session "
		       "WHERE o.file = ?1 LIMIT ?2",
    [ST_STATS] = "SELECT (SELECT count(*) FROM sessions), "
		 "(SELECT count(*) FROM files), (SELECT count(*) FROM owners)",
};

struct index {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT]; /* prepared in index_open */
	struct index_limits lim;    /* zero fields replaced by defaults */
	uint64_t nsessions;         /* rows in sessions, as committed */
	int in_cb;                  /* index_find() is calling back */
};

/* One row of index_foreach_session(), copied out before calling back. */
struct ix_session_row {
	char id[COURSE_SESSION_LEN];
	struct course_peer peer;
	uint64_t last_ms;
};

/* ------------------------------------------------------------ helpers */

/* Serialise calls from several threads; a callback must not call back in. */
static void
ix_lock(struct index *ix)
{
	sqlite3_mutex_enter(sqlite3_db_mutex(ix->db));
	assert(!ix->in_cb);
}

static void
ix_unlock(struct index *ix)
{
	sqlite3_mutex_leave(sqlite3_db_mutex(ix->db));
}

static void
ix_reset(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Log the connection's last error. Always returns -EIO. */
static int
ix_fail(struct index *ix)
{
	log_error("index: %s", sqlite3_errmsg(ix->db));
	return -EIO;
}

/* Step s: SQLITE_ROW, SQLITE_DONE, or -EIO (logged; s is reset). */
static int
ix_step(struct index *ix, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	rc = ix_fail(ix);
	ix_reset(s);
	return rc;
}

/* Run a statement without results and reset it: 0 or -EIO (logged). */
static int
ix_run(struct index *ix, sqlite3_stmt *s)
{
	int rc = ix_step(ix, s);

	if (rc < 0)
		return rc;
	ix_reset(s);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int
ix_begin(struct index *ix, int write)
{
	return ix_run(ix, ix->st[write ? ST_BEGIN_WRITE : ST_BEGIN_READ]);
}

/* Commit when rc >= 0, else roll back. Returns rc, or -EIO. */
static int
ix_end(struct index *ix, int rc)
{
	if (rc >= 0 && ix_run(ix, ix->st[ST_COMMIT]) == 0)
		return rc;
	if (rc >= 0)
		rc = -EIO;
	if (sqlite3_get_autocommit(ix->db) == 0)
		(void)ix_run(ix, ix->st[ST_ROLLBACK]);
	return rc;
}

static void
ix_bind_id(sqlite3_stmt *s, int col, const char id[COURSE_SESSION_LEN])
{
	sqlite3_bind_text(s, col, id, COURSE_SESSION_LEN, SQLITE_STATIC);
}

static void
ix_bind_peer(sqlite3_stmt *s, int col, const struct course_peer *p)
{
	sqlite3_bind_blob(s, col, p->v4, sizeof(p->v4), SQLITE_STATIC);
	sqlite3_bind_blob(s, col + 1, p->v6, sizeof(p->v6), SQLITE_STATIC);
	sqlite3_bind_int(s, col + 2, p->port);
}

/* Columns col..col+2 (v4, v6, port) into *p; a short blob reads as zeros. */
static void
ix_column_peer(sqlite3_stmt *s, int col, struct course_peer *p)
{
	const void *b;

	memset(p, 0, sizeof(*p));
	b = sqlite3_column_blob(s, col);
	if (b != NULL && sqlite3_column_bytes(s, col) == sizeof(p->v4))
		memcpy(p->v4, b, sizeof(p->v4));
	b = sqlite3_column_blob(s, col + 1);
	if (b != NULL && sqlite3_column_bytes(s, col + 1) == sizeof(p->v6))
		memcpy(p->v6, b, sizeof(p->v6));
	p->port = (uint16_t)sqlite3_column_int(s, col + 2);
}

/* Column col as a SessionID; 0, or -1 if it is not 16 bytes. */
static int
ix_column_id(sqlite3_stmt *s, int col, char id[COURSE_SESSION_LEN])
{
	const unsigned char *t = sqlite3_column_text(s, col);

	if (t == NULL || sqlite3_column_bytes(s, col) != COURSE_SESSION_LEN)
		return -1;
	memcpy(id, t, COURSE_SESSION_LEN);
	return 0;
}

/*
 * Copy a 32-digit hex md5 in lower case into out (NUL-terminated).
 * Returns 0, or -1 if md5 is not 32 hex digits.
 */
static int
ix_md5(const char *md5, char out[COURSE_MD5_LEN + 1])
{
	size_t i;

	for (i = 0; i < COURSE_MD5_LEN; i++) {
		char c = md5[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		out[i] = c;
	}
	if (md5[COURSE_MD5_LEN] != '\0')
		return -1;
	out[COURSE_MD5_LEN] = '\0';
	return 0;
}

/*
 * Look up a live session. Returns 1 with *nfiles (may be NULL), 0 if
 * unknown, -EIO. The statement is reset.
 */
static int
ix_session_get(struct index *ix, const char id[COURSE_SESSION_LEN],
    struct course_peer *peer, int64_t *nfiles)
{
	sqlite3_stmt *s = ix->st[ST_SESS_GET];
	int rc;

	ix_bind_id(s, 1, id);
	rc = ix_step(ix, s);
	if (rc < 0)
		return rc;
	if (rc == SQLITE_ROW) {
		if (peer != NULL)
			ix_column_peer(s, 0, peer);
		if (nfiles != NULL)
			*nfiles = sqlite3_column_int64(s, 3);
	}
	ix_reset(s);
	return rc == SQLITE_ROW;
}

/* Add delta to a session's link counter: 0 or -EIO. */
static int
ix_session_nfiles(
    struct index *ix, const char id[COURSE_SESSION_LEN], int delta)
{
	sqlite3_stmt *s = ix->st[ST_SESS_NFILES];

	ix_bind_id(s, 1, id);
	sqlite3_bind_int(s, 2, delta);
	return ix_run(ix, s);
}

/* Add delta to a file's owner counter: 0 or -EIO. */
static int
ix_file_nowners(struct index *ix, int64_t fid, int delta)
{
	sqlite3_stmt *s = ix->st[ST_FILE_NOWNERS];

	sqlite3_bind_int64(s, 1, fid);
	sqlite3_bind_int(s, 2, delta);
	return ix_run(ix, s);
}

/* A file by md5: 1 with *fid and *nowners, 0 if unknown, -EIO. */
static int
ix_file_get(struct index *ix, const char *md5, int64_t *fid, int64_t *nowners)
{
	sqlite3_stmt *s = ix->st[ST_FILE_GET];
	int rc;

	sqlite3_bind_text(s, 1, md5, COURSE_MD5_LEN, SQLITE_STATIC);
	rc = ix_step(ix, s);
	if (rc < 0)
		return rc;
	if (rc == SQLITE_ROW) {
		*fid = sqlite3_column_int64(s, 0);
		*nowners = sqlite3_column_int64(s, 1);
	}
	ix_reset(s);
	return rc == SQLITE_ROW;
}

/* Run a statement with one int64 and one session bound: 0 or -EIO. */
static int
ix_run_link(
    struct index *ix, int which, int64_t fid, const char id[COURSE_SESSION_LEN])
{
	sqlite3_stmt *s = ix->st[which];

	sqlite3_bind_int64(s, 1, fid);
	ix_bind_id(s, 2, id);
	return ix_run(ix, s);
}

/* Is the link (fid, id) there? 1, 0 or -EIO. */
static int
ix_link_get(struct index *ix, int64_t fid, const char id[COURSE_SESSION_LEN])
{
	sqlite3_stmt *s = ix->st[ST_LINK_GET];
	int rc;

	sqlite3_bind_int64(s, 1, fid);
	ix_bind_id(s, 2, id);
	rc = ix_step(ix, s);
	if (rc < 0)
		return rc;
	ix_reset(s);
	return rc == SQLITE_ROW;
}

/* Run a statement with one session bound: changes made, or -EIO. */
static int
ix_run_id(struct index *ix, int which, const char id[COURSE_SESSION_LEN])
{
	sqlite3_stmt *s = ix->st[which];
	int rc;

	ix_bind_id(s, 1, id);
	rc = ix_run(ix, s);
	return rc < 0 ? rc : sqlite3_changes(ix->db);
}

/* ------------------------------------------------------------ open/close */

int
index_open(const char *path, int fresh, const struct index_limits *lim,
    struct index **out)
{
	struct index *ix = xcalloc(1, sizeof(*ix));
	int i, rc;

	if (lim != NULL)
		ix->lim = *lim;
	if (ix->lim.max_sessions == 0)
		ix->lim.max_sessions = IX_MAX_SESSIONS;
	if (ix->lim.files_per_session == 0)
		ix->lim.files_per_session = IX_FILES_PER_SESSION;

	if ((rc = db_open(path, &ix->db)) != 0)
		goto fail;
	rc = -EIO;
	if (db_migrate(ix->db, "index", IX_SCHEMA_VERSION, IX_SCHEMA) != 0)
		goto fail;
	if (fresh &&
	    db_exec(ix->db, "BEGIN IMMEDIATE;" IX_DROP IX_SCHEMA "COMMIT;") !=
		0) {
		if (sqlite3_get_autocommit(ix->db) == 0)
			db_exec(ix->db, "ROLLBACK");
		goto fail;
	}
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v2(
			ix->db, ix_sql[i], -1, &ix->st[i], NULL) != SQLITE_OK) {
			ix_fail(ix);
			goto fail;
		}
	}
	if (ix_step(ix, ix->st[ST_SESS_COUNT]) != SQLITE_ROW)
		goto fail;
	ix->nsessions = (uint64_t)sqlite3_column_int64(
	    ix->st[ST_SESS_COUNT], 0);
	ix_reset(ix->st[ST_SESS_COUNT]);
	*out = ix;
	return 0;
fail:
	log_error("index: cannot open %s", path);
	index_close(ix);
	return rc;
}

void
index_close(struct index *ix)
{
	int i;

	if (ix == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(ix->st[i]);
	db_close(ix->db);
	free(ix);
}

/* ------------------------------------------------------------ sessions */

/*
 * A fresh SessionID not in use: 0, or a negative code. 64 strong-random
 * bits make a collision or zero astronomically unlikely; both are retried.
 */
static int
ix_new_id(struct index *ix, char id[COURSE_SESSION_LEN])
{
	uint64_t v;
	int i, rc;

	for (i = 0; i < IX_ID_TRIES; i++) {
		if ((rc = uv_random(NULL, NULL, &v, sizeof(v), 0, NULL)) != 0) {
			log_error(
			    "index: no random SessionID: %s", uv_strerror(rc));
			return rc;
		}
		if (v == 0)
			continue;
		course_hex16(v, id);
		if ((rc = ix_session_get(ix, id, NULL, NULL)) < 0)
			return rc;
		if (rc == 0)
			return 0;
	}
	log_error("index: no unused SessionID after %d draws", IX_ID_TRIES);
	return -EIO;
}

int
index_login(struct index *ix, const struct course_peer *p, uint64_t now_ms,
    char id[COURSE_SESSION_LEN], int *created)
{
	sqlite3_stmt *s;
	int rc;

	*created = 0;
	ix_lock(ix);
	if ((rc = ix_begin(ix, 1)) < 0)
		goto out;
	s = ix->st[ST_SESS_BY_PEER];
	ix_bind_peer(s, 1, p);
	if ((rc = ix_step(ix, s)) < 0)
		goto end;
	if (rc == SQLITE_ROW) {
		rc = ix_column_id(s, 0, id) == 0 ? 0 : -EIO;
		ix_reset(s);
		goto end;
	}
	ix_reset(s);
	if (ix->nsessions >= ix->lim.max_sessions) {
		rc = WARREN_ELIMIT;
		goto end;
	}
	if ((rc = ix_new_id(ix, id)) < 0)
		goto end;
	s = ix->st[ST_SESS_INSERT];
	ix_bind_id(s, 1, id);
	ix_bind_peer(s, 2, p);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)now_ms);
	if ((rc = ix_run(ix, s)) < 0)
		goto end;
	*created = 1;
end:
	rc = ix_end(ix, rc);
	if (rc == 0 && *created)
		ix->nsessions++;
	else
		*created = 0;
out:
	ix_unlock(ix);
	return rc;
}

int
index_session(struct index *ix, const char id[COURSE_SESSION_LEN],
    struct course_peer *out)
{
	int rc;

	ix_lock(ix);
	rc = ix_session_get(ix, id, out, NULL);
	ix_unlock(ix);
	if (rc < 0)
		return rc;
	return rc == 1 ? 0 : WARREN_ENOTFOUND;
}

void
index_touch(
    struct index *ix, const char id[COURSE_SESSION_LEN], uint64_t now_ms)
{
	sqlite3_stmt *s = ix->st[ST_SESS_TOUCH];

	ix_lock(ix);
	ix_bind_id(s, 1, id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)now_ms);
	(void)ix_run(ix, s);
	ix_unlock(ix);
}

int
index_logout(struct index *ix, const char id[COURSE_SESSION_LEN])
{
	int rc, links = 0;

	ix_lock(ix);
	if ((rc = ix_begin(ix, 1)) < 0)
		goto out;
	if ((rc = ix_session_get(ix, id, NULL, NULL)) <= 0) {
		if (rc == 0)
			rc = WARREN_ENOTFOUND;
		goto end;
	}
	/* Orphans first: the owner rows still say which files were ours. */
	if ((rc = ix_run_id(ix, ST_LOGO_ORPHANS, id)) < 0 ||
	    (rc = ix_run_id(ix, ST_LOGO_UNLINK, id)) < 0 ||
	    (rc = links = ix_run_id(ix, ST_LOGO_LINKS, id)) < 0 ||
	    (rc = ix_run_id(ix, ST_SESS_DELETE, id)) < 0)
		goto end;
	rc = links;
end:
	rc = ix_end(ix, rc);
	if (rc >= 0)
		ix->nsessions--;
out:
	ix_unlock(ix);
	return rc;
}

void
index_foreach_session(struct index *ix, index_session_cb cb, void *arg)
{
	sqlite3_stmt *s = ix->st[ST_SESS_ALL];
	struct ix_session_row *rows = NULL;
	size_t n = 0, cap = 0, i;
	int rc;

	/* Copied out first, so that cb may log a session out. */
	ix_lock(ix);
	if (ix_begin(ix, 0) < 0) {
		ix_unlock(ix);
		return;
	}
	while ((rc = ix_step(ix, s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			rows = xreallocarray(rows, cap, sizeof(*rows));
		}
		if (ix_column_id(s, 0, rows[n].id) != 0)
			continue;
		ix_column_peer(s, 1, &rows[n].peer);
		rows[n].last_ms = (uint64_t)sqlite3_column_int64(s, 4);
		n++;
	}
	if (rc >= 0)
		ix_reset(s);
	(void)ix_end(ix, 0);
	ix_unlock(ix);
	for (i = 0; i < n; i++)
		cb(arg, rows[i].id, &rows[i].peer, rows[i].last_ms);
	free(rows);
}

/* ------------------------------------------------------------ files */

int
index_add(struct index *ix, const char id[COURSE_SESSION_LEN], const char *md5,
    const char *name, size_t name_len)
{
	char key[COURSE_MD5_LEN + 1];
	int64_t nfiles = 0, fid = 0, nowners = 0;
	int rc, known, linked = 0;
	sqlite3_stmt *s;

	if (name_len == 0)
		return WARREN_EEMPTY;
	if (ix_md5(md5, key) != 0 || name_len > INT32_MAX)
		return WARREN_EFIELD;
	ix_lock(ix);
	if ((rc = ix_begin(ix, 1)) < 0)
		goto out;
	if ((rc = ix_session_get(ix, id, NULL, &nfiles)) <= 0) {
		if (rc == 0)
			rc = WARREN_ENOTFOUND;
		goto end;
	}
	if ((rc = known = ix_file_get(ix, key, &fid, &nowners)) < 0)
		goto end;
	if (known && (rc = linked = ix_link_get(ix, fid, id)) < 0)
		goto end;
	if (!linked && nfiles >= (int64_t)ix->lim.files_per_session) {
		rc = WARREN_ELIMIT;
		goto end;
	}
	if (!known) {
		s = ix->st[ST_FILE_INSERT];
		sqlite3_bind_text(s, 1, key, COURSE_MD5_LEN, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, name, (int)name_len, SQLITE_STATIC);
		if ((rc = ix_run(ix, s)) < 0)
			goto end;
		fid = sqlite3_last_insert_rowid(ix->db);
		nowners = 0; /* the insert counted this owner already */
	} else {
		s = ix->st[ST_FILE_RENAME];
		sqlite3_bind_int64(s, 1, fid);
		sqlite3_bind_text(s, 2, name, (int)name_len, SQLITE_STATIC);
		if ((rc = ix_run(ix, s)) < 0)
			goto end;
		if (linked) {
			rc = (int)nowners;
			goto end;
		}
		if ((rc = ix_file_nowners(ix, fid, 1)) < 0)
			goto end;
	}
	if ((rc = ix_run_link(ix, ST_LINK_INSERT, fid, id)) < 0 ||
	    (rc = ix_session_nfiles(ix, id, 1)) < 0)
		goto end;
	rc = (int)nowners + 1;
end:
	rc = ix_end(ix, rc);
out:
	ix_unlock(ix);
	return rc;
}

int
index_del(struct index *ix, const char id[COURSE_SESSION_LEN], const char *md5)
{
	char key[COURSE_MD5_LEN + 1];
	int64_t fid = 0, nowners = 0;
	int rc;
	sqlite3_stmt *s;

	ix_lock(ix);
	if ((rc = ix_begin(ix, 1)) < 0)
		goto out;
	if ((rc = ix_session_get(ix, id, NULL, NULL)) <= 0) {
		if (rc == 0)
			rc = WARREN_ENOTFOUND;
		goto end;
	}
	if (ix_md5(md5, key) != 0) {
		rc = INDEX_NOT_OWNED;
		goto end;
	}
	if ((rc = ix_file_get(ix, key, &fid, &nowners)) <= 0) {
		if (rc == 0)
			rc = INDEX_NOT_OWNED;
		goto end;
	}
	if ((rc = ix_run_link(ix, ST_LINK_DELETE, fid, id)) < 0)
		goto end;
	if (sqlite3_changes(ix->db) == 0) {
		rc = INDEX_NOT_OWNED;
		goto end;
	}
	if (nowners <= 1) {
		s = ix->st[ST_FILE_DELETE];
		sqlite3_bind_int64(s, 1, fid);
		rc = ix_run(ix, s);
		nowners = 1;
	} else {
		rc = ix_file_nowners(ix, fid, -1);
	}
	if (rc < 0 || (rc = ix_session_nfiles(ix, id, -1)) < 0)
		goto end;
	rc = (int)nowners - 1;
end:
	rc = ix_end(ix, rc);
out:
	ix_unlock(ix);
	return rc;
}

long
index_dreg(struct index *ix, const char *md5)
{
	char key[COURSE_MD5_LEN + 1];
	sqlite3_stmt *s;
	long n = 0;
	int rc;

	if (ix_md5(md5, key) != 0)
		return 0;
	ix_lock(ix);
	if ((rc = ix_begin(ix, 1)) < 0)
		goto out;
	s = ix->st[ST_FILE_DREG];
	sqlite3_bind_text(s, 1, key, COURSE_MD5_LEN, SQLITE_STATIC);
	if ((rc = ix_run(ix, s)) < 0 || sqlite3_changes(ix->db) == 0)
		goto end;
	s = ix->st[ST_FILE_DOWNLOADS];
	sqlite3_bind_text(s, 1, key, COURSE_MD5_LEN, SQLITE_STATIC);
	if ((rc = ix_step(ix, s)) < 0)
		goto end;
	if (rc == SQLITE_ROW)
		n = (long)sqlite3_column_int64(s, 0);
	ix_reset(s);
	rc = 0;
end:
	/* Nothing to keep when the md5 was unknown: commit is harmless. */
	if (ix_end(ix, rc) < 0)
		n = 0;
out:
	ix_unlock(ix);
	return n;
}

/* ------------------------------------------------------------ find */

/* run as one FTS5 string: double-quoted, '"' doubled. Caller frees. */
static char *
ix_fts_quote(struct course_str run, size_t *len)
{
	char *q = xmalloc(2 * run.len + 3);
	size_t i, n = 0;

	q[n++] = '"';
	for (i = 0; i < run.len; i++) {
		if (run.ptr[i] == '"')
			q[n++] = '"';
		q[n++] = run.ptr[i];
	}
	q[n++] = '"';
	q[n] = '\0';
	*len = n;
	return q;
}

/*
 * The statement FIND walks, with its bindings: FTS candidates sorted by
 * name when the term has a trigram-sized ASCII run and that run is
 * selective; otherwise every file in name order (the walk stops after
 * max_md5 matches, which a common term reaches quickly). -EIO on error.
 */
static int
ix_find_stmt(struct index *ix, struct course_str term, sqlite3_stmt **out)
{
	struct course_str run = course_term_index_run(term);
	sqlite3_stmt *s = ix->st[ST_FIND_PROBE];
	char *q;
	size_t qlen;
	int rc, n = 0;

	*out = ix->st[ST_FIND_ALL];
	if (run.len < IX_TRIGRAM)
		return 0;
	q = ix_fts_quote(run, &qlen);
	sqlite3_bind_text(s, 1, q, (int)qlen, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, IX_FTS_PROBE);
	while ((rc = ix_step(ix, s)) == SQLITE_ROW)
		n++;
	if (rc < 0) {
		free(q);
		return rc;
	}
	ix_reset(s);
	if (n < IX_FTS_PROBE) {
		*out = ix->st[ST_FIND_FTS];
		sqlite3_bind_text(*out, 1, q, (int)qlen, SQLITE_TRANSIENT);
	}
	free(q);
	return 0;
}

/* Report one file's owners. Returns how many, or -EIO. */
static int
ix_find_owners(struct index *ix, int64_t fid, const char *md5, const char *name,
    size_t name_len, unsigned max_copies, index_find_cb cb, void *arg)
{
	sqlite3_stmt *s = ix->st[ST_FIND_OWNERS];
	struct course_peer peer;
	int rc, n = 0;

	sqlite3_bind_int64(s, 1, fid);
	sqlite3_bind_int64(s, 2, max_copies);
	while ((rc = ix_step(ix, s)) == SQLITE_ROW) {
		ix_column_peer(s, 0, &peer);
		ix->in_cb = 1;
		cb(arg, md5, name, name_len, &peer);
		ix->in_cb = 0;
		n++;
	}
	if (rc < 0)
		return rc;
	ix_reset(s);
	return n;
}

int
index_find(struct index *ix, struct course_str term, unsigned max_md5,
    unsigned max_copies, index_find_cb cb, void *arg)
{
	sqlite3_stmt *s;
	unsigned n = 0;
	int rc;

	if (max_md5 == 0 || max_copies == 0)
		return 0;
	if (max_md5 > INT32_MAX)
		max_md5 = INT32_MAX;
	ix_lock(ix);
	if (ix_begin(ix, 0) < 0)
		goto out;
	if (ix_find_stmt(ix, term, &s) < 0)
		goto end;
	while (n < max_md5 && (rc = ix_step(ix, s)) == SQLITE_ROW) {
		const char *md5 = (const char *)sqlite3_column_text(s, 1);
		const char *name = (const char *)sqlite3_column_text(s, 2);
		size_t len = (size_t)sqlite3_column_bytes(s, 2);

		if (md5 == NULL || name == NULL ||
		    !course_term_match(term, name, len))
			continue;
		rc = ix_find_owners(ix, sqlite3_column_int64(s, 0), md5, name,
		    len, max_copies, cb, arg);
		if (rc < 0)
			goto end;
		if (rc > 0)
			n++;
	}
	/* After an error, the files already reported stand. */
end:
	ix_reset(s);
	(void)ix_end(ix, 0);
out:
	ix_unlock(ix);
	return (int)n;
}

void
index_stats(struct index *ix, struct index_stats *out)
{
	sqlite3_stmt *s = ix->st[ST_STATS];

	memset(out, 0, sizeof(*out));
	ix_lock(ix);
	if (ix_step(ix, s) == SQLITE_ROW) {
		out->sessions = (uint64_t)sqlite3_column_int64(s, 0);
		out->files = (uint64_t)sqlite3_column_int64(s, 1);
		out->links = (uint64_t)sqlite3_column_int64(s, 2);
		ix_reset(s);
	}
	ix_unlock(ix);
}
