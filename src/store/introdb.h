/*
 * introdb.h: the table of `warren introducer` (chord.md §2): recently seen
 * ring members keyed by (ip, port), in an SQLite database (WAL), so that
 * the table survives a restart or a kill -9. Times are wall-clock Unix
 * seconds, because they outlive the process.
 *
 * Every call is one transaction and runs on the caller's thread: each
 * touches a handful of rows through an index.
 */
#ifndef WARREN_STORE_INTRODB_H
#define WARREN_STORE_INTRODB_H

#include <stddef.h>
#include <stdint.h>

#define INTRODB_PEER_ID_MAX 64 /* bytes of a peer_id */
#define INTRODB_IP_MAX      46 /* bytes of an ip text, NUL included */

struct introdb;

/* One row of peers, copied out of the database. */
struct introdb_row {
	int64_t rowid;
	char peer_id[INTRODB_PEER_ID_MAX + 1]; /* NUL-terminated */
	char ip[INTRODB_IP_MAX];               /* as stored, NUL-terminated */
	unsigned port;
	int64_t last_seen; /* Unix seconds */
	unsigned failures; /* failed liveness checks in a row */
};

/* What introdb_join() did to the table. */
enum introdb_join_result {
	INTRODB_JOIN_NEW,      /* a row was created */
	INTRODB_JOIN_REFRESH,  /* the row was there with that peer_id */
	INTRODB_JOIN_REPLACED, /* the row was there with another peer_id */
};

/*
 * Open (creating) the database at path (":memory:" for a private one).
 * Returns 0 and *out (close with introdb_close), or a negative code after
 * logging why.
 */
int introdb_open(const char *path, struct introdb **out);
void introdb_close(struct introdb *db);

/*
 * JOIN (§2.1): upsert the row keyed by (ip, port), setting peer_id,
 * last_seen = now and failures = 0, then copy at most max other rows into
 * others, most recently seen first, then by rowid; the joiner's own row is
 * never among them. peer_id (at most INTRODB_PEER_ID_MAX bytes) and ip are
 * NUL-terminated and already checked by the caller. Returns the number of
 * rows in others (0..max) and sets *rowid and *result, or -EIO (logged;
 * nothing changed).
 */
int introdb_join(struct introdb *db, const char *peer_id, const char *ip,
    unsigned port, int64_t now, int64_t *rowid,
    enum introdb_join_result *result, struct introdb_row *others, unsigned max);

/* DELETE (§2.1): remove every row with peer_id (len bytes). Returns the
 * rows removed, or -EIO. */
int introdb_delete(struct introdb *db, const char *peer_id, size_t len);

/* Skip a row in introdb_stale(): nonzero to skip it. */
typedef int (*introdb_skip_cb)(void *arg, int64_t rowid);

/*
 * The rows not seen since before (last_seen <= before), oldest first, then
 * by rowid: at most max of them that skip (may be NULL) does not reject,
 * copied into out. Returns their number, or -EIO. skip must not call back
 * into db.
 */
int introdb_stale(struct introdb *db, int64_t before, struct introdb_row *out,
    unsigned max, introdb_skip_cb skip, void *arg);

/* A liveness check of rowid succeeded: failures = 0. 0 or -EIO. */
int introdb_alive(struct introdb *db, int64_t rowid);

/*
 * A liveness check of rowid failed: failures + 1, unless the row was seen
 * again after the check began (last_seen is no longer seen); at
 * max_failures the row is deleted. Returns 1 if it was deleted, 0 if not,
 * or -EIO.
 */
int introdb_failed(
    struct introdb *db, int64_t rowid, int64_t seen, unsigned max_failures);

/* Delete the rows not seen since before (last_seen <= before). Returns
 * the rows removed, or -EIO. */
int introdb_expire(struct introdb *db, int64_t before);

/* Rows in the table, or -EIO. */
int64_t introdb_count(struct introdb *db);

#endif
