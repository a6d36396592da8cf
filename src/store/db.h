/*
 * db.h: opening warren's SQLite databases the same way everywhere: WAL
 * journal (crash-safe, readers never block the writer), NORMAL sync,
 * foreign keys on, a busy timeout, and a schema version per module.
 */
#ifndef WARREN_STORE_DB_H
#define WARREN_STORE_DB_H

struct sqlite3;

/*
 * Open or create the database at path. Returns 0 and sets *out (close with
 * db_close), or a negative WARREN_E code or -errno; on error a message naming the
 * path is logged.
 */
int db_open(const char *path, struct sqlite3 **out);
void db_close(struct sqlite3 *db);

/* Run SQL with no results (schema, pragmas). 0 or -1 (logged). */
int db_exec(struct sqlite3 *db, const char *sql);

/*
 * Bring module's schema to version `version`: if the stored version is
 * older, run sql (which must be idempotent: CREATE ... IF NOT EXISTS) in
 * one transaction and record the version. 0 or -1 (logged).
 */
int db_migrate(
    struct sqlite3 *db, const char *module, int version, const char *sql);

#endif
