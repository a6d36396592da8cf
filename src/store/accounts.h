/*
 * accounts.h: the beer2beer registrations of `warren directory`
 * (beer2beer.md §4, §5) in SQLite: username, salted slow password hash,
 * last known address, online flag and keep-alive clock, expiry, and the
 * shared files of each registration (sha1, size, name, optional md5) with
 * an FTS5 trigram index over their names.
 *
 * Time is wall-clock milliseconds since the epoch, passed in by the caller
 * (now_ms) so that expiry survives a restart and tests can move the clock.
 * A registration is live while now_ms < expires; an expired one is
 * invisible to every call here until the sweeper deletes it. It is online
 * while its online flag is set and now_ms - last_seen <= online_ms
 * (keep-alive period + grace): nothing has to run for a silent peer to go
 * offline.
 *
 * Every writing call is one transaction, committed (synchronous=FULL when
 * opened durable) before it returns: applied completely or not at all.
 * Calls on one handle are serialised by the connection's mutex, so a
 * handle may be used from the libuv thread pool; callbacks must not call
 * back into the same handle. Password hashing (accounts_pw_*) touches no
 * handle and runs anywhere.
 */
#ifndef WARREN_STORE_ACCOUNTS_H
#define WARREN_STORE_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "wire/beer2beer.h"
#include "wire/course.h"

struct accounts;

/* Results besides 0 and -EIO. */
#define ACCOUNTS_EUNKNOWN WARREN_ENOTFOUND /* no live registration */
#define ACCOUNTS_EAUTH    WARREN_EAUTH     /* user or password differs */
#define ACCOUNTS_EFILES   WARREN_ELIMIT    /* over files_per_reg */
#define ACCOUNTS_EFULL    (-200001)        /* max_regs live ones */
#define ACCOUNTS_ETAKEN   (-200002)        /* the name has other creds */

#define ACCOUNTS_PWREC_MAX   160    /* a password record, NUL included */
#define ACCOUNTS_ITER_MIN    1000   /* lowest PBKDF2 count accepted */
#define ACCOUNTS_ITER_SPEC   200000 /* beer2beer.md §5: the least to deploy */
#define ACCOUNTS_ITER_MAX    100000000
#define ACCOUNTS_SWEEP_BATCH 256  /* registrations deleted per transaction */
#define ACCOUNTS_SWEEP_FILES 4096 /* their files deleted per transaction */

struct accounts_limits {
	unsigned max_regs;      /* live registrations (100000) */
	unsigned files_per_reg; /* files of one registration (100000) */
	int64_t ttl_ms;         /* life after REGISTER or LOGIN (30 days) */
	int64_t online_ms;      /* keep-alive period + grace (360 s) */
};

/*
 * Open (creating) the tables in the database at path (":memory:" for a
 * private one; several handles may share a file: WAL). durable: commit
 * with synchronous=FULL, so a commit is on stable storage when the call
 * returns. Zero limits take the defaults. Returns 0 and *out (free with
 * accounts_close), or a negative code after logging why.
 */
int accounts_open(const char *path, const struct accounts_limits *lim,
    int durable, struct accounts **out);
void accounts_close(struct accounts *a);

/* ------------------------------------------------------------ passwords */

/*
 * A password record: "pbkdf2-sha256$<iterations>$<salt hex>$<key hex>",
 * PBKDF2-HMAC-SHA256 over pwd with a 16-byte random salt and a 32-byte
 * key, so the algorithm and its parameters travel with the hash (§5).
 * Returns 0 with rec NUL-terminated, WARREN_EFIELD for iterations out of
 * ACCOUNTS_ITER_MIN..MAX, -EIO if no random salt or no PBKDF2.
 */
int accounts_pw_hash(const char *pwd, size_t len, unsigned iterations,
    char rec[ACCOUNTS_PWREC_MAX]);

/*
 * Does pwd match the record? Recomputes the key with the record's own
 * parameters and compares in constant time. Returns 1, 0, or
 * WARREN_EFIELD for a record it cannot read.
 */
int accounts_pw_verify(const char *pwd, size_t len, const char *rec);

/* ---------------------------------------------------------- file lists */

/* One shared file as stored: views into the request that gave it. */
struct accounts_file {
	struct b2b_str name;         /* 1..255 bytes, §3 */
	uint64_t size;               /* bytes */
	char sha1[B2B_SHA1_LEN + 1]; /* lower-case hex */
	char md5[B2B_MD5_LEN + 1];   /* lower-case hex, or "" (none given) */
	unsigned line;               /* the line that gave name and size */
};

/*
 * The file list of a REGISTER, REGISTER_UPDATE or REGISTER_APPEND (lines
 * already validated by b2b_request_parse) with §3's semantics: a repeated
 * sha1 keeps its last file line; the md5 of a sha1 is the last one that a
 * 4-field line or an annotation gives, wherever it stands in the request;
 * an annotation whose sha1 has no file line in the request is a bad line.
 * Returns the number of distinct files (>= 0) with *out (caller frees,
 * views into the request's payload, sorted by sha1), or WARREN_EFIELD
 * with *bad_line set to the first bad line (nothing to free).
 */
int accounts_files_collect(
    struct b2b_lines files, struct accounts_file **out, unsigned *bad_line);

/* -------------------------------------------------------- registrations */

/* One live registration as stored. */
struct accounts_reg {
	uint32_t id;
	char user[B2B_USER_MAX + 1];    /* NUL-terminated copy */
	size_t user_len;                /* bytes */
	char pwrec[ACCOUNTS_PWREC_MAX]; /* password record */
	struct b2b_addr ip;             /* family 0: never logged in */
	uint16_t port;                  /* 0: never logged in */
	struct b2b_addr src;  /* source address of the last LOGIN, or 0 */
	int online;           /* flag set and keep-alive clock running */
	int64_t last_seen_ms; /* last LOGIN or KEEP_ALIVE */
	int64_t expires_ms;   /* live while now < expires */
};

/* The live registration id: 0 with *out, ACCOUNTS_EUNKNOWN, or -EIO. */
int accounts_get(
    struct accounts *a, uint32_t id, int64_t now_ms, struct accounts_reg *out);

/*
 * The password record of the newest live registration of user (every
 * live registration of a name shares its password, §4.1). Returns 1 with
 * rec set, 0 if the name has no live registration, or -EIO.
 */
int accounts_user_pwrec(struct accounts *a, const char *user, size_t user_len,
    int64_t now_ms, char rec[ACCOUNTS_PWREC_MAX]);

/*
 * REGISTER: a new registration (offline, expiring at now + ttl) with pwrec
 * and the files, under a fresh id higher than every id ever given. pwrec
 * is what the caller checked the password against (the record every live
 * registration of user has) or a fresh one if the name was free. Returns
 * 0 with *id, ACCOUNTS_ETAKEN if a live registration of user has another
 * record, ACCOUNTS_EFULL, ACCOUNTS_EFILES, or -EIO.
 */
int accounts_register(struct accounts *a, const char *user, size_t user_len,
    const char *pwrec, const struct accounts_file *files, size_t nfiles,
    int64_t now_ms, uint32_t *id);

/*
 * LOGIN after the password verified against pwrec: online, last_seen =
 * now, expiry now + ttl, ip and port stored, src (the connection's
 * source) kept for KEEP_ALIVE. Returns 0, ACCOUNTS_EUNKNOWN (gone
 * meanwhile), ACCOUNTS_EAUTH (user or record changed), or -EIO.
 */
int accounts_login(struct accounts *a, uint32_t id, const char *user,
    size_t user_len, const char *pwrec, const struct b2b_addr *ip,
    uint16_t port, const struct b2b_addr *src, int64_t now_ms);

/*
 * KEEP_ALIVE from src: last_seen = now if id is live, online, and src is
 * the source of its LOGIN or the ip that LOGIN gave. Returns 0,
 * ACCOUNTS_EUNKNOWN (the "not logged in" KO), or -EIO.
 */
int accounts_keepalive(struct accounts *a, uint32_t id,
    const struct b2b_addr *src, int64_t now_ms);

/*
 * LOGOUT: every live registration of user whose record is pwrec goes
 * offline; id 0 means all of them (the two-line form), otherwise only
 * that id. Returns how many matched (already offline ones count: LOGOUT is
 * idempotent), or -EIO.
 */
int accounts_logout(struct accounts *a, const char *user, size_t user_len,
    const char *pwrec, uint32_t id, int64_t now_ms);

/*
 * REGISTER_UPDATE (replace = 1: the list becomes files) or REGISTER_APPEND
 * (replace = 0: files are added; a sha1 already listed has its line
 * replaced) after the password verified against pwrec. Status, address and
 * expiry stay. Returns 0, ACCOUNTS_EUNKNOWN, ACCOUNTS_EAUTH,
 * ACCOUNTS_EFILES (nothing changes), or -EIO.
 */
int accounts_set_files(struct accounts *a, uint32_t id, const char *user,
    size_t user_len, const char *pwrec, const struct accounts_file *files,
    size_t nfiles, int replace, int64_t now_ms);

/*
 * One bounded step of deleting what expired at now: up to
 * ACCOUNTS_SWEEP_FILES files of expired registrations, then up to
 * ACCOUNTS_SWEEP_BATCH expired registrations left without files, in one
 * transaction. Returns the registrations deleted with *more set while
 * there may be more to do (call again), or -EIO.
 */
int accounts_sweep(struct accounts *a, int64_t now_ms, int *more);

/* ------------------------------------------------------------- queries */

/* Return nonzero from a callback to stop the walk. */

/*
 * SHOW_PEERS: live registrations matching filter, by ascending id,
 * skipping the first offset. p's views are valid during the call only.
 * Returns the number of records passed to cb, or -EIO.
 */
typedef int (*accounts_peer_cb)(void *arg, const struct b2b_peer *p);
int accounts_peers(struct accounts *a, enum b2b_filter filter, uint32_t offset,
    int64_t now_ms, accounts_peer_cb cb, void *arg);

/*
 * BROWSE_PEER: the files of live registration id by filename (bytewise),
 * then sha1, skipping offset. Returns the number passed to cb,
 * ACCOUNTS_EUNKNOWN, or -EIO.
 */
typedef int (*accounts_entry_cb)(void *arg, const struct b2b_file *f);
int accounts_browse(struct accounts *a, uint32_t id, uint32_t offset,
    int64_t now_ms, accounts_entry_cb cb, void *arg);

/*
 * DOWNLOAD_FILE (with_md5) and SEARCH_FILE records: h->md5 is "" when the
 * holder gave none. Views valid during the call only.
 */
typedef int (*accounts_hit_cb)(void *arg, const struct b2b_hit *h);

/* DOWNLOAD_FILE: the online holders of sha1 (lower-case) by id. Returns
 * the number passed to cb, or -EIO. */
int accounts_holders(struct accounts *a, const char *sha1, int64_t now_ms,
    accounts_hit_cb cb, void *arg);

/*
 * §4.7 score of a filename: the sum over words (lower-cased, repeats
 * counted again) of the non-overlapping occurrences of each word in the
 * filename lower-cased (ASCII letters only).
 */
uint64_t accounts_score(
    const struct b2b_str *words, unsigned nwords, const char *name, size_t len);

/*
 * SEARCH_FILE: the files of online registrations whose score for the
 * query line (split on spaces and tabs, as b2b_request_parse checked) is
 * above 0: score descending, filename bytewise, user_id, then sha1; at
 * most max. FTS5 selects candidates when every word is long enough for
 * the trigram index; the score decides. Returns the number passed to cb,
 * or -EIO.
 */
int accounts_search(struct accounts *a, struct b2b_str query, unsigned max,
    int64_t now_ms, accounts_hit_cb cb, void *arg);

/*
 * The course FIND over beer2beer files (course.md §4 matching, as
 * course_term_match): files of online registrations that have an md5,
 * sorted by name ignoring ASCII case, then md5, then id; cb gets the
 * holder as a course peer (IPv4: + mapped IPv6; IPv6: 0.0.0.0 + it) and
 * the name cut to at most COURSE_NAME_LEN bytes on a character boundary.
 * Returns the rows passed to cb, or -EIO.
 */
typedef int (*accounts_find_cb)(void *arg, const char *md5, const char *name,
    size_t name_len, const struct course_peer *holder);
int accounts_find(struct accounts *a, struct course_str term, int64_t now_ms,
    accounts_find_cb cb, void *arg);

struct accounts_stats {
	uint64_t regs;   /* live registrations */
	uint64_t online; /* of which online */
	uint64_t files;  /* files of live registrations */
};
int
accounts_stats(struct accounts *a, int64_t now_ms, struct accounts_stats *out);

#endif
