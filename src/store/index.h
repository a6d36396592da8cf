/*
 * index.h: the file index of a server that peers log in to and publish
 * files at: the Kazaa supernode (course.md §7.2) and the directory
 * (course.md §5.3). Sessions (a peer's parsed addresses, port and
 * SessionID), files (md5, name) and owner links live in SQLite; names are
 * searched through an FTS5 trigram index and every candidate is checked
 * with course.md §4 semantics (course_term_match), so results are exactly
 * §4 whatever the tokenizer does.
 *
 * Every call is one transaction: applied completely or not at all. Calls
 * run on the caller's thread (single-row statements; FIND is bounded by
 * its limits).
 */
#ifndef WARREN_STORE_INDEX_H
#define WARREN_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "wire/course.h"

struct index;

struct index_limits {
	unsigned max_sessions;      /* live sessions (10000) */
	unsigned files_per_session; /* owner links per session (100000) */
};

/*
 * Open (creating) the index at path (":memory:" for a private in-memory
 * one). fresh: drop every session, file and link first (a supernode's
 * children log in again after a restart). Returns 0 and *out, or a
 * negative WARREN_E code after logging why.
 */
int index_open(const char *path, int fresh, const struct index_limits *lim,
    struct index **out);
void index_close(struct index *ix);

/*
 * LOGI. If p (same addresses after parsing, same port) has a live session,
 * its SessionID is returned and nothing changes (*created = 0); otherwise a
 * new session with a fresh strong-random SessionID (16 upper-case hex
 * digits, never all '0', unique) is created (*created = 1). now_ms is
 * stored as its last activity. Returns 0, or WARREN_ELIMIT when
 * max_sessions are live.
 */
int index_login(struct index *ix, const struct course_peer *p, uint64_t now_ms,
    char id[COURSE_SESSION_LEN], int *created);

/* The peer of a live session: 0, or WARREN_ENOTFOUND. */
int index_session(struct index *ix, const char id[COURSE_SESSION_LEN],
    struct course_peer *out);

/* Record activity of a session (any request, a successful probe). */
void index_touch(
    struct index *ix, const char id[COURSE_SESSION_LEN], uint64_t now_ms);

/*
 * ADDF / ADFF: md5 (lower-case hex) named name (stripped, 1..100 bytes,
 * stored in its original case). A new md5 creates the file; a known md5
 * gets this name for every owner; the owner link is added if missing.
 * Returns the number of distinct owners after the add (>= 1),
 * WARREN_ENOTFOUND for an unknown session, WARREN_EEMPTY for an empty
 * name, WARREN_ELIMIT when the session owns files_per_session files.
 */
int index_add(struct index *ix, const char id[COURSE_SESSION_LEN],
    const char *md5, const char *name, size_t name_len);

/*
 * DELF / DEFF: remove the session's link to md5; the file goes with its
 * last owner. Returns the owners left (>= 0), WARREN_ENOTFOUND for an
 * unknown session, or INDEX_NOT_OWNED if the session does not own md5
 * (nothing changes: the directory answers ADEL999).
 */
#define INDEX_NOT_OWNED (-100000)
int
index_del(struct index *ix, const char id[COURSE_SESSION_LEN], const char *md5);

/*
 * LOGO (and dropping a dead peer): remove the session, its links and the
 * files left without owners. Returns the number of links removed (>= 0),
 * or WARREN_ENOTFOUND.
 */
int index_logout(struct index *ix, const char id[COURSE_SESSION_LEN]);

/*
 * DREG: add one download to md5's counter and return the new value, or 0
 * (nothing stored) when md5 is not in the index.
 */
long index_dreg(struct index *ix, const char *md5);

/* One match of index_find(): called per owner, grouped by md5 in order. */
typedef void (*index_find_cb)(void *arg, const char *md5, const char *name,
    size_t name_len, const struct course_peer *owner);

/*
 * FIND: every file whose name matches term (§4: padding already stripped,
 * as decoded; '%' trimming, '*' and case rules are course_term_match's),
 * sorted by name ignoring ASCII case, then md5; at most max_md5 files and
 * max_copies owners each. cb runs for each (file, owner). Returns the
 * number of files reported.
 */
int index_find(struct index *ix, struct course_str term, unsigned max_md5,
    unsigned max_copies, index_find_cb cb, void *arg);

/* Sessions, for liveness probes: id, peer, last activity. */
typedef void (*index_session_cb)(void *arg, const char id[COURSE_SESSION_LEN],
    const struct course_peer *p, uint64_t last_ms);
void index_foreach_session(struct index *ix, index_session_cb cb, void *arg);

struct index_stats {
	uint64_t sessions, files, links;
};
void index_stats(struct index *ix, struct index_stats *out);

#endif
