/*
 * Persistent download state (see dlstate.h). All statements are prepared
 * once; every change is one statement, so each is atomic by itself.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "db.h"
#include "dlstate.h"

enum {
	ST_CREATE,
	ST_PART_PATH,
	ST_ADD_SOURCE,
	ST_LAYOUT,
	ST_PROGRESS,
	ST_STATE,
	ST_DELETE,
	ST_COUNT
};

static const char *const dlstate_sql[ST_COUNT] = {
    [ST_CREATE] = "INSERT INTO dl(md5, name, dir, state) "
		  "VALUES (?, ?, ?, 'active')",
    [ST_PART_PATH] = "UPDATE dl SET part_path = ? WHERE id = ?",
    [ST_ADD_SOURCE] = "INSERT OR IGNORE INTO dl_source(dl_id, label, "
		      "addrs) VALUES (?, ?, ?)",
    [ST_LAYOUT] = "UPDATE dl SET size = ?, lenpart = ?, nparts = ?, "
		  "hashes = ?, done = NULL WHERE id = ?",
    [ST_PROGRESS] = "UPDATE dl SET done = ?, fetched = ? WHERE id = ?",
    [ST_STATE] = "UPDATE dl SET state = ? WHERE id = ?",
    [ST_DELETE] = "DELETE FROM dl WHERE id = ?",
};

struct dlstate {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
};

static const char dlstate_schema[] =
    "CREATE TABLE IF NOT EXISTS dl("
    " id INTEGER PRIMARY KEY,"
    " md5 TEXT NOT NULL, name TEXT NOT NULL, dir TEXT NOT NULL,"
    " part_path TEXT, state TEXT NOT NULL,"
    " size INTEGER, lenpart INTEGER, nparts INTEGER, hashes BLOB,"
    " done BLOB, fetched INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS dl_source("
    " dl_id INTEGER NOT NULL REFERENCES dl(id) ON DELETE CASCADE,"
    " label TEXT NOT NULL, addrs TEXT NOT NULL,"
    " PRIMARY KEY (dl_id, label));";

struct dlstate *
dlstate_open(const char *path)
{
	struct dlstate *st = xcalloc(1, sizeof(*st));

	if (db_open(path, &st->db) != 0)
		goto fail;
	if (db_migrate(st->db, "download", 1, dlstate_schema) != 0)
		goto fail;
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v2(st->db, dlstate_sql[i], -1, &st->st[i],
			NULL) != SQLITE_OK) {
			log_error("download state: %s", sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	return st;
fail:
	dlstate_close(st);
	return NULL;
}

void
dlstate_close(struct dlstate *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->st[i]);
	db_close(st->db);
	free(st);
}

/* Run a prepared statement to completion and reset it. 0 or -1 (logged). */
static int
dlstate_run(struct dlstate *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		log_error("download state: %s", sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

int64_t
dlstate_create(
    struct dlstate *st, const char *md5, const char *name, const char *dir)
{
	sqlite3_stmt *s = st->st[ST_CREATE];
	int64_t id;

	sqlite3_mutex_enter(sqlite3_db_mutex(st->db));
	sqlite3_bind_text(s, 1, md5, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, dir, -1, SQLITE_STATIC);
	id = dlstate_run(st, s) == 0 ? sqlite3_last_insert_rowid(st->db) : -1;
	sqlite3_mutex_leave(sqlite3_db_mutex(st->db));
	return id;
}

int
dlstate_set_part_path(struct dlstate *st, int64_t id, const char *path)
{
	sqlite3_stmt *s = st->st[ST_PART_PATH];
	int rc;

	sqlite3_mutex_enter(sqlite3_db_mutex(st->db));
	sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, id);
	rc = dlstate_run(st, s);
	sqlite3_mutex_leave(sqlite3_db_mutex(st->db));
	return rc;
}

int
dlstate_add_source(
    struct dlstate *st, int64_t id, const char *label, const char *addrs)
{
	sqlite3_stmt *s = st->st[ST_ADD_SOURCE];
	int rc;

	sqlite3_mutex_enter(sqlite3_db_mutex(st->db));
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, label, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, addrs, -1, SQLITE_STATIC);
	rc = dlstate_run(st, s);
	sqlite3_mutex_leave(sqlite3_db_mutex(st->db));
	return rc;
}

int
dlstate_set_layout(struct dlstate *st, int64_t id, uint64_t size,
    uint32_t lenpart, uint32_t nparts, const uint8_t *hashes)
{
	sqlite3_stmt *s = st->st[ST_LAYOUT];
	int rc;

	sqlite3_mutex_enter(sqlite3_db_mutex(st->db));
	sqlite3_bind_int64(s, 1, (sqlite3_int64)size);
	sqlite3_bind_int64(s, 2, lenpart);
	sqlite3_bind_int64(s, 3, nparts);
	sqlite3_bind_blob(s, 4, hashes, (int)nparts * 20, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, id);
	rc = dlstate_run(st, s);
	sqlite3_mutex_leave(sqlite3_db_mutex(st->db));
	return rc;
}

int
dlstate_progress(struct dlstate *st, int64_t id, const uint8_t *bitmap,
    size_t len, uint64_t fetched)
{
	sqlite3_stmt *s = st->st[ST_PROGRESS];
	int rc;

	sqlite3_mutex_enter(sqlite3_db_mutex(st->db));
	sqlite3_bind_blob(s, 1, bitmap, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)fetched);
	sqlite3_bind_int64(s, 3, id);
	rc = dlstate_run(st, s);
	sqlite3_mutex_leave(sqlite3_db_mutex(st->db));
	return rc;
}

int
dlstate_set_state(struct dlstate *st, int64_t id, const char *state)
{
	int keep = strcmp(state, "active") == 0 || strcmp(state, "paused") == 0;
	sqlite3_stmt *s = st->st[keep ? ST_STATE : ST_DELETE];
	int rc;

	sqlite3_mutex_enter(sqlite3_db_mutex(st->db));
	if (keep) {
		sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, id);
	} else {
		sqlite3_bind_int64(s, 1, id);
	}
	rc = dlstate_run(st, s);
	sqlite3_mutex_leave(sqlite3_db_mutex(st->db));
	return rc;
}

int
dlstate_load(struct dlstate *st,
    void (*fn)(void *arg, const struct dlstate_row *row), void *arg)
{
	sqlite3_stmt *q = NULL, *qs = NULL;
	struct dlstate_source *src = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(st->db,
		"SELECT id, md5, name, dir, part_path, state, size, lenpart, "
		"nparts, hashes, done, fetched FROM dl "
		"WHERE state IN ('active', 'paused') ORDER BY id",
		-1, &q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db,
		"SELECT label, addrs FROM dl_source WHERE dl_id = ? "
		"ORDER BY rowid",
		-1, &qs, NULL) != SQLITE_OK) {
		log_error("download state: %s", sqlite3_errmsg(st->db));
		goto out;
	}
	while (sqlite3_step(q) == SQLITE_ROW) {
		struct dlstate_row r;
		unsigned nsrc = 0, cap = 0;
		int hlen, dlen;

		memset(&r, 0, sizeof(r));
		r.id = sqlite3_column_int64(q, 0);
		r.md5 = (const char *)sqlite3_column_text(q, 1);
		r.name = (const char *)sqlite3_column_text(q, 2);
		r.dir = (const char *)sqlite3_column_text(q, 3);
		r.part_path = (const char *)sqlite3_column_text(q, 4);
		r.state = (const char *)sqlite3_column_text(q, 5);
		r.size = sqlite3_column_type(q, 6) == SQLITE_NULL
		    ? -1
		    : sqlite3_column_int64(q, 6);
		r.lenpart = (uint32_t)sqlite3_column_int64(q, 7);
		r.nparts = (uint32_t)sqlite3_column_int64(q, 8);
		r.hashes = sqlite3_column_blob(q, 9);
		hlen = sqlite3_column_bytes(q, 9);
		r.done = sqlite3_column_blob(q, 10);
		dlen = sqlite3_column_bytes(q, 10);
		r.fetched = (uint64_t)sqlite3_column_int64(q, 11);
		/* A row whose blobs do not agree with its counts restarts
		 * from scratch rather than trusting them. */
		if (r.hashes == NULL || hlen != (int)r.nparts * 20 ||
		    r.size < 0) {
			r.hashes = NULL;
			r.nparts = 0;
			r.size = -1;
		}
		if (r.done != NULL && dlen != (int)(r.nparts + 7) / 8)
			r.done = NULL;
		sqlite3_bind_int64(qs, 1, r.id);
		while (sqlite3_step(qs) == SQLITE_ROW) {
			if (nsrc == cap) {
				cap = cap ? cap * 2 : 4;
				src = xreallocarray(src, cap, sizeof(*src));
			}
			/* Column text dies at the next step: copy. */
			src[nsrc].label = xstrdup(
			    (const char *)sqlite3_column_text(qs, 0));
			src[nsrc].addrs = xstrdup(
			    (const char *)sqlite3_column_text(qs, 1));
			nsrc++;
		}
		r.sources = src;
		r.nsources = nsrc;
		if (r.md5 != NULL && r.name != NULL && r.dir != NULL)
			fn(arg, &r);
		for (unsigned i = 0; i < nsrc; i++) {
			free((char *)src[i].label);
			free((char *)src[i].addrs);
		}
		sqlite3_reset(qs);
	}
	rc = 0;
out:
	free(src);
	sqlite3_finalize(q);
	sqlite3_finalize(qs);
	return rc;
}
