/*
 * SQLite helpers shared by the node, the directory and the introducer.
 */
#include <errno.h>
#include <stddef.h>
#include <sqlite3.h>

#include "core/log.h"
#include "db.h"
#include "warren/error.h"

int
db_open(const char *path, struct sqlite3 **out)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open_v2(path, &db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		log_error("cannot open database %s: %s", path,
		    db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, 5000);
	if (db_exec(db,
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=NORMAL;"
		"PRAGMA foreign_keys=ON;"
		"CREATE TABLE IF NOT EXISTS schema_version("
		" module TEXT PRIMARY KEY, version INTEGER NOT NULL);") != 0) {
		sqlite3_close(db);
		return -EIO;
	}
	*out = db;
	return 0;
}

void
db_close(struct sqlite3 *db)
{
	if (db != NULL)
		sqlite3_close(db);
}

int
db_exec(struct sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("database: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
db_migrate(struct sqlite3 *db, const char *module, int version, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int have = 0;

	if (sqlite3_prepare_v2(db,
		"SELECT version FROM schema_version WHERE module = ?", -1, &st,
		NULL) != SQLITE_OK) {
		log_error("database: %s", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (have >= version)
		return 0;

	if (db_exec(db, "BEGIN IMMEDIATE") != 0)
		return -1;
	if (db_exec(db, sql) != 0)
		goto fail;
	if (sqlite3_prepare_v2(db,
		"INSERT OR REPLACE INTO schema_version(module, version) "
		"VALUES (?, ?)",
		-1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, version);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		goto fail;
	}
	sqlite3_finalize(st);
	return db_exec(db, "COMMIT");
fail:
	log_error("database: migrating %s to version %d failed: %s", module,
	    version, sqlite3_errmsg(db));
	db_exec(db, "ROLLBACK");
	return -1;
}
