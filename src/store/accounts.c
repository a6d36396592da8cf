/*
 * accounts.c: the beer2beer registrations and their files (accounts.h) in
 * SQLite, next to the course index in directory.db. Statements are
 * prepared once per handle; an external-content FTS5 trigram table, kept
 * in step with b2b_files.name by triggers, narrows SEARCH_FILE and the
 * course FIND to candidates that the exact rules of each protocol decide.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "accounts.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "db.h"
#include "warren/error.h"

#define AC_SCHEMA_VERSION 1
#define AC_MAX_REGS       100000
#define AC_FILES_PER_REG  100000
#define AC_TTL_MS         (30LL * 24 * 3600 * 1000) /* §5: 30 days */
#define AC_ONLINE_MS      (360LL * 1000)            /* 300 s + 60 s grace */
#define AC_SALT_LEN       16                        /* §5 */
#define AC_KEY_LEN        32                        /* SHA-256 output */
#define AC_PW_ALGO        "pbkdf2-sha256"
#define AC_TRIGRAM        3 /* shortest word the tokenizer indexes */

/*
 * b2b_regs.id is AUTOINCREMENT: ids only grow and are never reused, even
 * after the sweeper deletes the highest one (§4.1). b2b_files has its own
 * INTEGER PRIMARY KEY so that the FTS rowids survive VACUUM; (reg, sha1)
 * is the natural key. ip and src are 4- or 16-byte blobs, NULL until the
 * first LOGIN. Times are wall-clock ms.
 */
#define AC_SCHEMA                                                              \
	"CREATE TABLE IF NOT EXISTS b2b_regs("                                 \
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"                               \
	" user TEXT NOT NULL, pwrec TEXT NOT NULL,"                            \
	" ip BLOB, port INTEGER, src BLOB,"                                    \
	" online INTEGER NOT NULL DEFAULT 0,"                                  \
	" last_seen INTEGER NOT NULL DEFAULT 0,"                               \
	" created INTEGER NOT NULL, expires INTEGER NOT NULL);"                \
	"CREATE INDEX IF NOT EXISTS b2b_regs_by_user ON b2b_regs(user, id);"   \
	"CREATE INDEX IF NOT EXISTS b2b_regs_by_expiry ON b2b_regs(expires);"  \
	"CREATE TABLE IF NOT EXISTS b2b_files("                                \
	" id INTEGER PRIMARY KEY,"                                             \
	" reg INTEGER NOT NULL REFERENCES b2b_regs(id) ON DELETE CASCADE,"     \
	" sha1 TEXT NOT NULL, size INTEGER NOT NULL, name TEXT NOT NULL,"      \
	" md5 TEXT, UNIQUE (reg, sha1));"                                      \
	"CREATE INDEX IF NOT EXISTS b2b_files_by_name"                         \
	" ON b2b_files(reg, name, sha1);"                                      \
	"CREATE INDEX IF NOT EXISTS b2b_files_by_sha1 ON b2b_files(sha1);"     \
	"CREATE INDEX IF NOT EXISTS b2b_files_by_nocase"                       \
	" ON b2b_files(name COLLATE NOCASE, md5);"                             \
	"CREATE VIRTUAL TABLE IF NOT EXISTS b2b_files_fts USING fts5(name,"    \
	" content='b2b_files', content_rowid='id', tokenize='trigram');"       \
	"CREATE TRIGGER IF NOT EXISTS b2b_files_fts_ins"                       \
	" AFTER INSERT ON b2b_files BEGIN"                                     \
	" INSERT INTO b2b_files_fts(rowid, name) VALUES (new.id, new.name);"   \
	" END;"                                                                \
	"CREATE TRIGGER IF NOT EXISTS b2b_files_fts_del"                       \
	" AFTER DELETE ON b2b_files BEGIN"                                     \
	" INSERT INTO b2b_files_fts(b2b_files_fts, rowid, name)"               \
	" VALUES ('delete', old.id, old.name); END;"                           \
	"CREATE TRIGGER IF NOT EXISTS b2b_files_fts_upd"                       \
	" AFTER UPDATE OF name ON b2b_files BEGIN"                             \
	" INSERT INTO b2b_files_fts(b2b_files_fts, rowid, name)"               \
	" VALUES ('delete', old.id, old.name);"                                \
	" INSERT INTO b2b_files_fts(rowid, name) VALUES (new.id, new.name);"   \
	" END;"

/* "online" in SQL, with ?now and ?since = now - online_ms bound. */
#define AC_LIVE     "r.expires > :now"
#define AC_ONLINE   "(r.online = 1 AND r.last_seen >= :since)"
#define AC_HIT_COLS "f.name, f.size, f.sha1, r.user, r.id, r.ip, r.port, f.md5"

enum {
	ST_BEGIN_WRITE,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_REG_GET,
	ST_REG_USER_REC,
	ST_REG_USER_OTHER,
	ST_REG_COUNT,
	ST_REG_INSERT,
	ST_REG_LOGIN,
	ST_REG_TOUCH,
	ST_REG_LOGOUT,
	ST_FILE_COUNT,
	ST_FILE_HAS,
	ST_FILE_CLEAR,
	ST_FILE_PUT,
	ST_SWEEP_FILES,
	ST_SWEEP_REGS,
	ST_PEERS,
	ST_BROWSE,
	ST_HOLDERS,
	ST_SEARCH_ALL,
	ST_SEARCH_FTS,
	ST_FIND_ALL,
	ST_FIND_FTS,
	ST_STATS,
	ST_COUNT
};

static const char *const ac_sql[ST_COUNT] = {
    [ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_REG_GET] = "SELECT user, pwrec, ip, port, src, online, last_seen,"
		   " expires FROM b2b_regs AS r WHERE id = :id AND " AC_LIVE,
    [ST_REG_USER_REC] = "SELECT pwrec FROM b2b_regs AS r"
			" WHERE user = :user AND " AC_LIVE
			" ORDER BY id DESC LIMIT 1",
    [ST_REG_USER_OTHER] = "SELECT 1 FROM b2b_regs AS r"
			  " WHERE user = :user AND " AC_LIVE
			  " AND pwrec IS NOT :rec LIMIT 1",
    [ST_REG_COUNT] = "SELECT count(*) FROM b2b_regs AS r WHERE " AC_LIVE,
    [ST_REG_INSERT] = "INSERT INTO b2b_regs(user, pwrec, created, expires)"
		      " VALUES (:user, :rec, :now, :expires)",
    [ST_REG_LOGIN] = "UPDATE b2b_regs SET online = 1, last_seen = :now,"
		     " expires = :expires, ip = :ip, port = :port, src = :src"
		     " WHERE id = :id",
    [ST_REG_TOUCH] = "UPDATE b2b_regs SET last_seen = :now WHERE id = :id",
    [ST_REG_LOGOUT] = "UPDATE b2b_regs AS r SET online = 0"
		      " WHERE user = :user AND pwrec = :rec AND " AC_LIVE
		      " AND (:id = 0 OR id = :id)",
    [ST_FILE_COUNT] = "SELECT count(*) FROM b2b_files WHERE reg = :id",
    [ST_FILE_HAS] = "SELECT 1 FROM b2b_files WHERE reg = :id AND sha1 = :sha1",
    [ST_FILE_CLEAR] = "DELETE FROM b2b_files WHERE reg = :id",
    [ST_FILE_PUT] =
	"INSERT INTO b2b_files(reg, sha1, size, name, md5)"
	" VALUES (:id, :sha1, :size, :name, :md5)"
	" ON CONFLICT (reg, sha1) DO UPDATE SET size = excluded.size,"
	" name = excluded.name, md5 = excluded.md5",
    [ST_SWEEP_FILES] = "DELETE FROM b2b_files WHERE id IN (SELECT f.id"
		       " FROM b2b_regs AS r JOIN b2b_files AS f ON f.reg = r.id"
		       " WHERE r.expires <= :now LIMIT :n)",
    [ST_SWEEP_REGS] =
	"DELETE FROM b2b_regs WHERE id IN (SELECT r.id"
	" FROM b2b_regs AS r WHERE r.expires <= :now AND NOT EXISTS"
	" (SELECT 1 FROM b2b_files AS f WHERE f.reg = r.id)"
	" LIMIT :n)",
    [ST_PEERS] = "SELECT r.id, r.user, " AC_ONLINE ", r.ip, r.port"
		 " FROM b2b_regs AS r WHERE " AC_LIVE
		 " AND (:filter = 0 OR (:filter = 1) = " AC_ONLINE ")"
		 " ORDER BY r.id LIMIT -1 OFFSET :offset",
    [ST_BROWSE] = "SELECT name, size, sha1 FROM b2b_files WHERE reg = :id"
		  " ORDER BY name, sha1 LIMIT -1 OFFSET :offset",
    [ST_HOLDERS] = "SELECT " AC_HIT_COLS " FROM b2b_files AS f"
		   " JOIN b2b_regs AS r ON r.id = f.reg"
		   " WHERE f.sha1 = :sha1 AND " AC_LIVE " AND " AC_ONLINE
		   " ORDER BY r.id",
    [ST_SEARCH_ALL] = "SELECT " AC_HIT_COLS " FROM b2b_regs AS r"
		      " JOIN b2b_files AS f ON f.reg = r.id"
		      " WHERE " AC_LIVE " AND " AC_ONLINE,
    [ST_SEARCH_FTS] = "SELECT " AC_HIT_COLS " FROM b2b_files_fts AS t"
		      " JOIN b2b_files AS f ON f.id = t.rowid"
		      " JOIN b2b_regs AS r ON r.id = f.reg"
		      " WHERE t.b2b_files_fts MATCH :match AND " AC_LIVE
		      " AND " AC_ONLINE,
    [ST_FIND_ALL] = "SELECT " AC_HIT_COLS " FROM b2b_regs AS r"
		    " JOIN b2b_files AS f ON f.reg = r.id"
		    " WHERE f.md5 IS NOT NULL AND " AC_LIVE " AND " AC_ONLINE
		    " ORDER BY f.name COLLATE NOCASE, f.md5, r.id",
    [ST_FIND_FTS] = "SELECT " AC_HIT_COLS " FROM b2b_files_fts AS t"
		    " JOIN b2b_files AS f ON f.id = t.rowid"
		    " JOIN b2b_regs AS r ON r.id = f.reg"
		    " WHERE t.b2b_files_fts MATCH :match AND f.md5 IS NOT NULL"
		    " AND " AC_LIVE " AND " AC_ONLINE
		    " ORDER BY f.name COLLATE NOCASE, f.md5, r.id",
    [ST_STATS] = "SELECT count(*), coalesce(sum(" AC_ONLINE "), 0),"
		 " (SELECT count(*) FROM b2b_files AS f JOIN b2b_regs AS r"
		 " ON r.id = f.reg WHERE " AC_LIVE ")"
		 " FROM b2b_regs AS r WHERE " AC_LIVE,
};

struct accounts {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT]; /* prepared in accounts_open */
	struct accounts_limits lim; /* zero fields replaced by defaults */
	int in_cb;                  /* a query is calling back */
};

/* ------------------------------------------------------------ helpers */

static void
ac_lock(struct accounts *a)
{
	sqlite3_mutex_enter(sqlite3_db_mutex(a->db));
	assert(!a->in_cb);
}

static void
ac_unlock(struct accounts *a)
{
	sqlite3_mutex_leave(sqlite3_db_mutex(a->db));
}

static void
ac_reset(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Log the connection's last error. Always returns -EIO. */
static int
ac_fail(struct accounts *a)
{
	log_error("accounts: %s", sqlite3_errmsg(a->db));
	return -EIO;
}

/* Step s: SQLITE_ROW, SQLITE_DONE, or -EIO (logged; s is reset). */
static int
ac_step(struct accounts *a, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc;
	rc = ac_fail(a);
	ac_reset(s);
	return rc;
}

/* Run a statement without results and reset it: changes made, or -EIO. */
static int
ac_run(struct accounts *a, sqlite3_stmt *s)
{
	int rc = ac_step(a, s);

	if (rc < 0)
		return rc;
	ac_reset(s);
	return rc == SQLITE_DONE ? sqlite3_changes(a->db) : -EIO;
}

static int
ac_begin(struct accounts *a, int write)
{
	int rc = ac_run(a, a->st[write ? ST_BEGIN_WRITE : ST_BEGIN_READ]);

	return rc < 0 ? rc : 0;
}

/* Commit when rc >= 0, else roll back. Returns rc, or -EIO. */
static int
ac_end(struct accounts *a, int rc)
{
	if (rc >= 0 && ac_run(a, a->st[ST_COMMIT]) >= 0)
		return rc;
	if (rc >= 0)
		rc = -EIO;
	if (sqlite3_get_autocommit(a->db) == 0)
		(void)ac_run(a, a->st[ST_ROLLBACK]);
	return rc;
}

/* Bind by name; a statement without that parameter is left alone. */
static int
ac_param(sqlite3_stmt *s, const char *name)
{
	return sqlite3_bind_parameter_index(s, name);
}

static void
ac_bind_i64(sqlite3_stmt *s, const char *name, int64_t v)
{
	int i = ac_param(s, name);

	if (i > 0)
		sqlite3_bind_int64(s, i, v);
}

static void
ac_bind_text(sqlite3_stmt *s, const char *name, const char *p, size_t len)
{
	int i = ac_param(s, name);

	if (i > 0)
		sqlite3_bind_text(s, i, p, (int)len, SQLITE_STATIC);
}

/* Bind :now and :since (now - online_ms) where the statement has them. */
static void
ac_bind_now(struct accounts *a, sqlite3_stmt *s, int64_t now_ms)
{
	ac_bind_i64(s, ":now", now_ms);
	ac_bind_i64(s, ":since", now_ms - a->lim.online_ms);
}

/* An address as a 4- or 16-byte blob (NULL for family 0). */
static void
ac_bind_addr(sqlite3_stmt *s, const char *name, const struct b2b_addr *ad)
{
	int i = ac_param(s, name);

	if (i <= 0)
		return;
	if (ad == NULL || (ad->family != AF_INET && ad->family != AF_INET6))
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_blob(
		    s, i, ad->a, ad->family == AF_INET ? 4 : 16, SQLITE_STATIC);
}

/* Column col as an address; family 0 when NULL or not 4/16 bytes. */
static void
ac_column_addr(sqlite3_stmt *s, int col, struct b2b_addr *out)
{
	const void *b = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);

	memset(out, 0, sizeof(*out));
	if (b == NULL || (n != 4 && n != 16))
		return;
	out->family = n == 4 ? AF_INET : AF_INET6;
	memcpy(out->a, b, (size_t)n);
}

/* Column col as a view (never NULL: "" for a NULL column). */
static struct b2b_str
ac_column_str(sqlite3_stmt *s, int col)
{
	struct b2b_str v;

	v.ptr = (const char *)sqlite3_column_text(s, col);
	v.len = (size_t)sqlite3_column_bytes(s, col);
	if (v.ptr == NULL) {
		v.ptr = "";
		v.len = 0;
	}
	return v;
}

/* Copy a hex column of exactly len digits into out; "" otherwise. */
static void
ac_column_hex(sqlite3_stmt *s, int col, char *out, size_t len)
{
	struct b2b_str v = ac_column_str(s, col);

	out[0] = '\0';
	if (v.len == len) {
		memcpy(out, v.ptr, len);
		out[len] = '\0';
	}
}

/* ------------------------------------------------------------ open/close */

int
accounts_open(const char *path, const struct accounts_limits *lim, int durable,
    struct accounts **out)
{
	struct accounts *a = xcalloc(1, sizeof(*a));
	int i, rc;

	if (lim != NULL)
		a->lim = *lim;
	if (a->lim.max_regs == 0)
		a->lim.max_regs = AC_MAX_REGS;
	if (a->lim.files_per_reg == 0)
		a->lim.files_per_reg = AC_FILES_PER_REG;
	if (a->lim.ttl_ms <= 0)
		a->lim.ttl_ms = AC_TTL_MS;
	if (a->lim.online_ms <= 0)
		a->lim.online_ms = AC_ONLINE_MS;
	if ((rc = db_open(path, &a->db)) != 0)
		goto fail;
	rc = -EIO;
	/* §5: committed to stable storage before the response. */
	if (durable && db_exec(a->db, "PRAGMA synchronous=FULL") != 0)
		goto fail;
	if (db_migrate(a->db, "accounts", AC_SCHEMA_VERSION, AC_SCHEMA) != 0)
		goto fail;
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v2(a->db, ac_sql[i], -1, &a->st[i], NULL) !=
		    SQLITE_OK) {
			ac_fail(a);
			goto fail;
		}
	}
	*out = a;
	return 0;
fail:
	log_error("accounts: cannot open %s", path);
	accounts_close(a);
	return rc;
}

void
accounts_close(struct accounts *a)
{
	int i;

	if (a == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(a->st[i]);
	db_close(a->db);
	free(a);
}

/* ------------------------------------------------------------ passwords */

static void
ac_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Exactly 2n lower-case hex digits into n bytes: 0 or -1. */
static int
ac_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

static int
ac_pbkdf2(const char *pwd, size_t len, const uint8_t *salt, unsigned iter,
    uint8_t key[AC_KEY_LEN])
{
	if (len > INT32_MAX || iter > INT32_MAX)
		return -EIO;
	if (PKCS5_PBKDF2_HMAC(pwd, (int)len, salt, AC_SALT_LEN, (int)iter,
		EVP_sha256(), AC_KEY_LEN, key) != 1)
		return -EIO;
	return 0;
}

int
accounts_pw_hash(const char *pwd, size_t len, unsigned iterations,
    char rec[ACCOUNTS_PWREC_MAX])
{
	uint8_t salt[AC_SALT_LEN], key[AC_KEY_LEN];
	char salt_hex[2 * AC_SALT_LEN + 1], key_hex[2 * AC_KEY_LEN + 1];

	if (iterations < ACCOUNTS_ITER_MIN || iterations > ACCOUNTS_ITER_MAX)
		return WARREN_EFIELD;
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		log_error("accounts: no random salt from libcrypto");
		return -EIO;
	}
	if (ac_pbkdf2(pwd, len, salt, iterations, key) != 0)
		return -EIO;
	ac_hex(salt, sizeof(salt), salt_hex);
	ac_hex(key, sizeof(key), key_hex);
	snprintf(rec, ACCOUNTS_PWREC_MAX, AC_PW_ALGO "$%u$%s$%s", iterations,
	    salt_hex, key_hex);
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

int
accounts_pw_verify(const char *pwd, size_t len, const char *rec)
{
	static const char algo[] = AC_PW_ALGO "$";
	uint8_t salt[AC_SALT_LEN], want[AC_KEY_LEN], got[AC_KEY_LEN];
	const char *p, *s, *k;
	unsigned long iter;
	char *end;
	int ok;

	if (strncmp(rec, algo, sizeof(algo) - 1) != 0)
		return WARREN_EFIELD;
	p = rec + sizeof(algo) - 1;
	if (*p < '1' || *p > '9')
		return WARREN_EFIELD;
	iter = strtoul(p, &end, 10);
	if (*end != '$' || iter < ACCOUNTS_ITER_MIN || iter > ACCOUNTS_ITER_MAX)
		return WARREN_EFIELD;
	s = end + 1;
	k = strchr(s, '$');
	if (k == NULL || ac_unhex(s, (size_t)(k - s), salt, sizeof(salt)) < 0 ||
	    ac_unhex(k + 1, strlen(k + 1), want, sizeof(want)) < 0)
		return WARREN_EFIELD;
	if (ac_pbkdf2(pwd, len, salt, (unsigned)iter, got) != 0)
		return WARREN_EFIELD;
	ok = CRYPTO_memcmp(got, want, sizeof(got)) == 0;
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

/* ---------------------------------------------------------- file lists */

static int
ac_file_cmp(const void *x, const void *y)
{
	const struct accounts_file *a = x, *b = y;
	int c = strcmp(a->sha1, b->sha1);

	if (c != 0)
		return c;
	return a->line < b->line ? -1 : a->line > b->line;
}

/* The file with sha1 in the sorted, deduplicated list, or NULL. */
static struct accounts_file *
ac_file_find(struct accounts_file *v, size_t n, const char *sha1)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v[mid].sha1, sha1);

		if (c == 0)
			return &v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
accounts_files_collect(
    struct b2b_lines files, struct accounts_file **out, unsigned *bad_line)
{
	struct b2b_lines it = files;
	struct accounts_file *v = NULL;
	struct b2b_file f;
	size_t n = 0, cap = 0, i, w;
	int rc;

	*out = NULL;
	*bad_line = 0;
	/* Pass 1: every file line, in line order. */
	while ((rc = b2b_file_next(&it, &f)) > 0) {
		if (f.kind == B2B_ANNOT)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n].name = f.name;
		v[n].size = f.size;
		memcpy(v[n].sha1, f.sha1, sizeof(v[n].sha1));
		v[n].md5[0] = '\0';
		v[n].line = f.line;
		n++;
	}
	if (rc < 0) {
		*bad_line = f.line;
		free(v);
		return WARREN_EFIELD;
	}
	/* The last line of a sha1 wins: sort by (sha1, line), keep the last
	 * of each run. */
	if (n > 0)
		qsort(v, n, sizeof(*v), ac_file_cmp);
	for (i = 0, w = 0; i < n; i++) {
		if (i + 1 < n && strcmp(v[i].sha1, v[i + 1].sha1) == 0)
			continue;
		v[w++] = v[i];
	}
	n = w;
	/* Pass 2: md5s in line order, so the last one wins. */
	it = files;
	while ((rc = b2b_file_next(&it, &f)) > 0) {
		struct accounts_file *t;

		if (f.kind == B2B_FILE3)
			continue;
		t = ac_file_find(v, n, f.sha1);
		if (t == NULL) {
			/* An annotation without a file line (§3). */
			*bad_line = f.line;
			free(v);
			return WARREN_EFIELD;
		}
		memcpy(t->md5, f.md5, sizeof(t->md5));
	}
	*out = v;
	return (int)n;
}

/* -------------------------------------------------------- registrations */

/* Read the registration row of ST_REG_GET into *out. */
static void
ac_column_reg(sqlite3_stmt *s, uint32_t id, struct accounts_reg *out)
{
	struct b2b_str user = ac_column_str(s, 0), rec = ac_column_str(s, 1);

	memset(out, 0, sizeof(*out));
	out->id = id;
	out->user_len = user.len <= B2B_USER_MAX ? user.len : B2B_USER_MAX;
	memcpy(out->user, user.ptr, out->user_len);
	if (rec.len < ACCOUNTS_PWREC_MAX)
		memcpy(out->pwrec, rec.ptr, rec.len);
	ac_column_addr(s, 2, &out->ip);
	out->port = (uint16_t)sqlite3_column_int(s, 3);
	ac_column_addr(s, 4, &out->src);
	out->online = sqlite3_column_int(s, 5);
	out->last_seen_ms = sqlite3_column_int64(s, 6);
	out->expires_ms = sqlite3_column_int64(s, 7);
}

/* The live registration id, locked: 0, ACCOUNTS_EUNKNOWN or -EIO. */
static int
ac_get(
    struct accounts *a, uint32_t id, int64_t now_ms, struct accounts_reg *out)
{
	sqlite3_stmt *s = a->st[ST_REG_GET];
	int rc;

	ac_bind_i64(s, ":id", id);
	ac_bind_now(a, s, now_ms);
	if ((rc = ac_step(a, s)) < 0)
		return rc;
	if (rc == SQLITE_ROW) {
		ac_column_reg(s, id, out);
		out->online = out->online &&
		    now_ms - out->last_seen_ms <= a->lim.online_ms;
	}
	ac_reset(s);
	return rc == SQLITE_ROW ? 0 : ACCOUNTS_EUNKNOWN;
}

int
accounts_get(
    struct accounts *a, uint32_t id, int64_t now_ms, struct accounts_reg *out)
{
	int rc;

	ac_lock(a);
	rc = ac_get(a, id, now_ms, out);
	ac_unlock(a);
	return rc;
}

int
accounts_user_pwrec(struct accounts *a, const char *user, size_t user_len,
    int64_t now_ms, char rec[ACCOUNTS_PWREC_MAX])
{
	sqlite3_stmt *s = a->st[ST_REG_USER_REC];
	int rc;

	ac_lock(a);
	ac_bind_text(s, ":user", user, user_len);
	ac_bind_now(a, s, now_ms);
	if ((rc = ac_step(a, s)) == SQLITE_ROW) {
		struct b2b_str v = ac_column_str(s, 0);

		rec[0] = '\0';
		if (v.len < ACCOUNTS_PWREC_MAX) {
			memcpy(rec, v.ptr, v.len);
			rec[v.len] = '\0';
		}
	}
	if (rc >= 0)
		ac_reset(s);
	ac_unlock(a);
	return rc < 0 ? rc : rc == SQLITE_ROW;
}

/* Is there a live registration of user with a record other than rec?
 * 1, 0 or -EIO. */
static int
ac_user_other(struct accounts *a, const char *user, size_t user_len,
    const char *rec, int64_t now_ms)
{
	sqlite3_stmt *s = a->st[ST_REG_USER_OTHER];
	int rc;

	ac_bind_text(s, ":user", user, user_len);
	ac_bind_text(s, ":rec", rec, strlen(rec));
	ac_bind_now(a, s, now_ms);
	if ((rc = ac_step(a, s)) < 0)
		return rc;
	ac_reset(s);
	return rc == SQLITE_ROW;
}

/* One count(*) with id and now bound: the count, or -EIO. */
static int64_t
ac_count(struct accounts *a, int which, uint32_t id, int64_t now_ms)
{
	sqlite3_stmt *s = a->st[which];
	int64_t n;
	int rc;

	ac_bind_i64(s, ":id", id);
	ac_bind_now(a, s, now_ms);
	if ((rc = ac_step(a, s)) < 0)
		return rc;
	n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	ac_reset(s);
	return n;
}

/* Store the files of registration id (insert or replace by sha1). */
static int
ac_put_files(struct accounts *a, uint32_t id, const struct accounts_file *files,
    size_t n)
{
	sqlite3_stmt *s = a->st[ST_FILE_PUT];
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct accounts_file *f = &files[i];

		ac_bind_i64(s, ":id", id);
		ac_bind_text(s, ":sha1", f->sha1, B2B_SHA1_LEN);
		ac_bind_i64(s, ":size", (int64_t)f->size);
		ac_bind_text(s, ":name", f->name.ptr, f->name.len);
		if (f->md5[0] != '\0')
			ac_bind_text(s, ":md5", f->md5, B2B_MD5_LEN);
		if ((rc = ac_run(a, s)) < 0)
			return rc;
	}
	return 0;
}

int
accounts_register(struct accounts *a, const char *user, size_t user_len,
    const char *pwrec, const struct accounts_file *files, size_t nfiles,
    int64_t now_ms, uint32_t *id)
{
	sqlite3_stmt *s = a->st[ST_REG_INSERT];
	int64_t n, rowid;
	int rc;

	if (nfiles > a->lim.files_per_reg)
		return ACCOUNTS_EFILES;
	ac_lock(a);
	if ((rc = ac_begin(a, 1)) < 0)
		goto out;
	if ((rc = ac_user_other(a, user, user_len, pwrec, now_ms)) != 0) {
		if (rc > 0)
			rc = ACCOUNTS_ETAKEN;
		goto end;
	}
	if ((n = ac_count(a, ST_REG_COUNT, 0, now_ms)) < 0) {
		rc = (int)n;
		goto end;
	}
	if (n >= a->lim.max_regs) {
		rc = ACCOUNTS_EFULL;
		goto end;
	}
	ac_bind_text(s, ":user", user, user_len);
	ac_bind_text(s, ":rec", pwrec, strlen(pwrec));
	ac_bind_i64(s, ":now", now_ms);
	ac_bind_i64(s, ":expires", now_ms + a->lim.ttl_ms);
	if ((rc = ac_run(a, s)) < 0)
		goto end;
	rowid = sqlite3_last_insert_rowid(a->db);
	if (rowid < 1 || rowid > (int64_t)B2B_ID_MAX) {
		rc = ACCOUNTS_EFULL; /* ids are spent: none is ever reused */
		goto end;
	}
	*id = (uint32_t)rowid;
	rc = ac_put_files(a, *id, files, nfiles);
end:
	rc = ac_end(a, rc);
out:
	ac_unlock(a);
	return rc;
}

/* The live registration id must still be user's with pwrec: 0,
 * ACCOUNTS_EUNKNOWN, ACCOUNTS_EAUTH or -EIO. Locked, in a transaction. */
static int
ac_check(struct accounts *a, uint32_t id, const char *user, size_t user_len,
    const char *pwrec, int64_t now_ms, struct accounts_reg *reg)
{
	int rc = ac_get(a, id, now_ms, reg);

	if (rc < 0)
		return rc;
	if (reg->user_len != user_len ||
	    memcmp(reg->user, user, user_len) != 0 ||
	    strcmp(reg->pwrec, pwrec) != 0)
		return ACCOUNTS_EAUTH;
	return 0;
}

int
accounts_login(struct accounts *a, uint32_t id, const char *user,
    size_t user_len, const char *pwrec, const struct b2b_addr *ip,
    uint16_t port, const struct b2b_addr *src, int64_t now_ms)
{
	sqlite3_stmt *s = a->st[ST_REG_LOGIN];
	struct accounts_reg reg;
	int rc;

	ac_lock(a);
	if ((rc = ac_begin(a, 1)) < 0)
		goto out;
	if ((rc = ac_check(a, id, user, user_len, pwrec, now_ms, &reg)) < 0)
		goto end;
	ac_bind_i64(s, ":id", id);
	ac_bind_i64(s, ":now", now_ms);
	ac_bind_i64(s, ":expires", now_ms + a->lim.ttl_ms);
	ac_bind_addr(s, ":ip", ip);
	ac_bind_i64(s, ":port", port);
	ac_bind_addr(s, ":src", src);
	rc = ac_run(a, s);
end:
	rc = ac_end(a, rc < 0 ? rc : 0);
out:
	ac_unlock(a);
	return rc;
}

static int
ac_addr_eq(const struct b2b_addr *x, const struct b2b_addr *y)
{
	if (x->family == 0 || x->family != y->family)
		return 0;
	return memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

int
accounts_keepalive(
    struct accounts *a, uint32_t id, const struct b2b_addr *src, int64_t now_ms)
{
	sqlite3_stmt *s = a->st[ST_REG_TOUCH];
	struct accounts_reg reg;
	int rc;

	ac_lock(a);
	if ((rc = ac_begin(a, 1)) < 0)
		goto out;
	if ((rc = ac_get(a, id, now_ms, &reg)) < 0)
		goto end;
	if (!reg.online ||
	    (!ac_addr_eq(&reg.src, src) && !ac_addr_eq(&reg.ip, src))) {
		rc = ACCOUNTS_EUNKNOWN;
		goto end;
	}
	ac_bind_i64(s, ":id", id);
	ac_bind_i64(s, ":now", now_ms);
	rc = ac_run(a, s);
end:
	rc = ac_end(a, rc < 0 ? rc : 0);
out:
	ac_unlock(a);
	return rc;
}

int
accounts_logout(struct accounts *a, const char *user, size_t user_len,
    const char *pwrec, uint32_t id, int64_t now_ms)
{
	sqlite3_stmt *s = a->st[ST_REG_LOGOUT];
	int rc;

	ac_lock(a);
	if ((rc = ac_begin(a, 1)) < 0)
		goto out;
	ac_bind_text(s, ":user", user, user_len);
	ac_bind_text(s, ":rec", pwrec, strlen(pwrec));
	ac_bind_i64(s, ":id", id);
	ac_bind_now(a, s, now_ms);
	rc = ac_run(a, s);
	rc = ac_end(a, rc);
out:
	ac_unlock(a);
	return rc;
}

/* Files of id that the list does not already hold: the count, or -EIO. */
static int64_t
ac_count_new(struct accounts *a, uint32_t id, const struct accounts_file *files,
    size_t n)
{
	sqlite3_stmt *s = a->st[ST_FILE_HAS];
	int64_t fresh = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		ac_bind_i64(s, ":id", id);
		ac_bind_text(s, ":sha1", files[i].sha1, B2B_SHA1_LEN);
		if ((rc = ac_step(a, s)) < 0)
			return rc;
		if (rc == SQLITE_DONE)
			fresh++;
		ac_reset(s);
	}
	return fresh;
}

int
accounts_set_files(struct accounts *a, uint32_t id, const char *user,
    size_t user_len, const char *pwrec, const struct accounts_file *files,
    size_t nfiles, int replace, int64_t now_ms)
{
	struct accounts_reg reg;
	int64_t have = 0, fresh;
	int rc;

	if (nfiles > a->lim.files_per_reg)
		return ACCOUNTS_EFILES;
	ac_lock(a);
	if ((rc = ac_begin(a, 1)) < 0)
		goto out;
	if ((rc = ac_check(a, id, user, user_len, pwrec, now_ms, &reg)) < 0)
		goto end;
	if (!replace) {
		if ((have = ac_count(a, ST_FILE_COUNT, id, now_ms)) < 0 ||
		    (fresh = ac_count_new(a, id, files, nfiles)) < 0) {
			rc = -EIO;
			goto end;
		}
		if (have + fresh > (int64_t)a->lim.files_per_reg) {
			rc = ACCOUNTS_EFILES;
			goto end;
		}
	} else {
		sqlite3_stmt *s = a->st[ST_FILE_CLEAR];

		ac_bind_i64(s, ":id", id);
		if ((rc = ac_run(a, s)) < 0)
			goto end;
	}
	rc = ac_put_files(a, id, files, nfiles);
end:
	rc = ac_end(a, rc);
out:
	ac_unlock(a);
	return rc;
}

int
accounts_sweep(struct accounts *a, int64_t now_ms, int *more)
{
	sqlite3_stmt *s;
	int rc, files = 0;

	*more = 0;
	ac_lock(a);
	if ((rc = ac_begin(a, 1)) < 0)
		goto out;
	/* Files first, a bounded number per transaction: an expired
	 * registration is invisible already, so it may lose its files over
	 * several transactions, and the other writers of the file (the
	 * course index) never wait long. */
	s = a->st[ST_SWEEP_FILES];
	ac_bind_i64(s, ":now", now_ms);
	ac_bind_i64(s, ":n", ACCOUNTS_SWEEP_FILES);
	if ((rc = files = ac_run(a, s)) < 0)
		goto end;
	rc = 0;
	if (files < ACCOUNTS_SWEEP_FILES) {
		s = a->st[ST_SWEEP_REGS];
		ac_bind_i64(s, ":now", now_ms);
		ac_bind_i64(s, ":n", ACCOUNTS_SWEEP_BATCH);
		rc = ac_run(a, s);
	}
end:
	rc = ac_end(a, rc);
	if (rc >= 0)
		*more = files == ACCOUNTS_SWEEP_FILES ||
		    rc == ACCOUNTS_SWEEP_BATCH;
out:
	ac_unlock(a);
	return rc;
}

/* ------------------------------------------------------------- queries */

int
accounts_peers(struct accounts *a, enum b2b_filter filter, uint32_t offset,
    int64_t now_ms, accounts_peer_cb cb, void *arg)
{
	sqlite3_stmt *s = a->st[ST_PEERS];
	struct b2b_peer p;
	int rc, n = 0;

	ac_lock(a);
	if ((rc = ac_begin(a, 0)) < 0)
		goto out;
	ac_bind_now(a, s, now_ms);
	ac_bind_i64(s, ":filter", (int64_t)filter);
	ac_bind_i64(s, ":offset", offset);
	while ((rc = ac_step(a, s)) == SQLITE_ROW) {
		int stop;

		memset(&p, 0, sizeof(p));
		p.user_id = (uint32_t)sqlite3_column_int64(s, 0);
		p.user = ac_column_str(s, 1);
		p.online = sqlite3_column_int(s, 2);
		ac_column_addr(s, 3, &p.addr);
		p.port = (uint16_t)sqlite3_column_int(s, 4);
		if (p.addr.family == 0)
			p.port = 0;
		a->in_cb = 1;
		stop = cb(arg, &p);
		a->in_cb = 0;
		n++;
		if (stop)
			break;
	}
	if (rc >= 0) {
		ac_reset(s);
		rc = n;
	}
	rc = ac_end(a, rc);
out:
	ac_unlock(a);
	return rc;
}

int
accounts_browse(struct accounts *a, uint32_t id, uint32_t offset,
    int64_t now_ms, accounts_entry_cb cb, void *arg)
{
	sqlite3_stmt *s = a->st[ST_BROWSE];
	struct accounts_reg reg;
	struct b2b_file f;
	int rc, n = 0;

	ac_lock(a);
	if ((rc = ac_begin(a, 0)) < 0)
		goto out;
	if ((rc = ac_get(a, id, now_ms, &reg)) < 0)
		goto end;
	ac_bind_i64(s, ":id", id);
	ac_bind_i64(s, ":offset", offset);
	while ((rc = ac_step(a, s)) == SQLITE_ROW) {
		int stop;

		memset(&f, 0, sizeof(f));
		f.kind = B2B_FILE3;
		f.name = ac_column_str(s, 0);
		f.size = (uint64_t)sqlite3_column_int64(s, 1);
		ac_column_hex(s, 2, f.sha1, B2B_SHA1_LEN);
		a->in_cb = 1;
		stop = cb(arg, &f);
		a->in_cb = 0;
		n++;
		if (stop)
			break;
	}
	if (rc >= 0) {
		ac_reset(s);
		rc = n;
	}
end:
	rc = ac_end(a, rc);
out:
	ac_unlock(a);
	return rc;
}

/* One row of AC_HIT_COLS into *h (views into the statement's row). */
static void
ac_column_hit(sqlite3_stmt *s, struct b2b_hit *h)
{
	memset(h, 0, sizeof(*h));
	h->name = ac_column_str(s, 0);
	h->size = (uint64_t)sqlite3_column_int64(s, 1);
	ac_column_hex(s, 2, h->sha1, B2B_SHA1_LEN);
	h->user = ac_column_str(s, 3);
	h->user_id = (uint32_t)sqlite3_column_int64(s, 4);
	ac_column_addr(s, 5, &h->addr);
	h->port = (uint16_t)sqlite3_column_int(s, 6);
	ac_column_hex(s, 7, h->md5, B2B_MD5_LEN);
}

int
accounts_holders(struct accounts *a, const char *sha1, int64_t now_ms,
    accounts_hit_cb cb, void *arg)
{
	sqlite3_stmt *s = a->st[ST_HOLDERS];
	struct b2b_hit h;
	int rc, n = 0;

	ac_lock(a);
	if ((rc = ac_begin(a, 0)) < 0)
		goto out;
	ac_bind_text(s, ":sha1", sha1, strlen(sha1));
	ac_bind_now(a, s, now_ms);
	while ((rc = ac_step(a, s)) == SQLITE_ROW) {
		int stop;

		ac_column_hit(s, &h);
		if (h.addr.family == 0)
			continue; /* online without an address: impossible */
		a->in_cb = 1;
		stop = cb(arg, &h);
		a->in_cb = 0;
		n++;
		if (stop)
			break;
	}
	if (rc >= 0) {
		ac_reset(s);
		rc = n;
	}
	rc = ac_end(a, rc);
out:
	ac_unlock(a);
	return rc;
}

/* ------------------------------------------------------------- search */

static char
ac_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

uint64_t
accounts_score(
    const struct b2b_str *words, unsigned nwords, const char *name, size_t len)
{
	char low[B2B_FILENAME_MAX];
	uint64_t score = 0;

	if (len > sizeof(low))
		len = sizeof(low);
	for (size_t i = 0; i < len; i++)
		low[i] = ac_lower(name[i]);
	for (unsigned w = 0; w < nwords; w++) {
		size_t wl = words[w].len, i = 0;

		if (wl == 0 || wl > len)
			continue;
		/* Non-overlapping: after a match, go on after it. */
		while (i + wl <= len) {
			if (memcmp(low + i, words[w].ptr, wl) == 0) {
				score++;
				i += wl;
			} else {
				i++;
			}
		}
	}
	return score;
}

/* One kept SEARCH_FILE result, copied out of its row. */
struct ac_top {
	uint64_t score;
	struct b2b_hit hit; /* views into the arrays below */
	char name[B2B_FILENAME_MAX];
	char user[B2B_USER_MAX];
};

/* -1 if x ranks before y (§4.7 order; sha1 last, for a total order). */
static int
ac_rank(const struct ac_top *x, const struct ac_top *y)
{
	size_t n;
	int c;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	n = x->hit.name.len < y->hit.name.len ? x->hit.name.len
					      : y->hit.name.len;
	c = memcmp(x->name, y->name, n);
	if (c != 0)
		return c < 0 ? -1 : 1;
	if (x->hit.name.len != y->hit.name.len)
		return x->hit.name.len < y->hit.name.len ? -1 : 1;
	if (x->hit.user_id != y->hit.user_id)
		return x->hit.user_id < y->hit.user_id ? -1 : 1;
	c = strcmp(x->hit.sha1, y->hit.sha1);
	return c < 0 ? -1 : c > 0;
}

static int
ac_rank_cmp(const void *x, const void *y)
{
	return ac_rank(x, y);
}

/*
 * The best max results, as a binary heap whose root is the worst kept
 * one, so that a better candidate replaces it in O(log max).
 */
struct ac_heap {
	struct ac_top *v;
	size_t n, max;
};

static void
ac_heap_swap(struct ac_heap *h, size_t i, size_t j)
{
	struct ac_top t = h->v[i];

	h->v[i] = h->v[j];
	h->v[j] = t;
}

static void
ac_heap_down(struct ac_heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, worst = i;

		if (l < h->n && ac_rank(&h->v[l], &h->v[worst]) > 0)
			worst = l;
		if (r < h->n && ac_rank(&h->v[r], &h->v[worst]) > 0)
			worst = r;
		if (worst == i)
			return;
		ac_heap_swap(h, i, worst);
		i = worst;
	}
}

static void
ac_heap_up(struct ac_heap *h, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (ac_rank(&h->v[i], &h->v[p]) <= 0)
			return;
		ac_heap_swap(h, i, p);
		i = p;
	}
}

/* Offer the row's hit with its score. */
static void
ac_heap_offer(struct ac_heap *h, uint64_t score, const struct b2b_hit *hit)
{
	struct ac_top t;

	if (hit->name.len > sizeof(t.name) || hit->user.len > sizeof(t.user) ||
	    hit->addr.family == 0)
		return;
	t.score = score;
	t.hit = *hit;
	memcpy(t.name, hit->name.ptr, hit->name.len);
	memcpy(t.user, hit->user.ptr, hit->user.len);
	if (h->n == h->max && ac_rank(&t, &h->v[0]) >= 0)
		return;
	if (h->n < h->max) {
		h->v[h->n] = t;
		ac_heap_up(h, h->n++);
	} else {
		h->v[0] = t;
		ac_heap_down(h, 0);
	}
}

/*
 * FTS5 expression "w1" OR "w2" ... (quotes doubled) when every word can
 * use the trigram index, else NULL (scan every online file). Caller frees.
 */
static char *
ac_fts_words(const struct b2b_str *words, unsigned n, size_t *len)
{
	size_t cap = 0, k = 0;
	char *q;

	for (unsigned i = 0; i < n; i++) {
		if (words[i].len < AC_TRIGRAM)
			return NULL;
		cap += 2 * words[i].len + 6;
	}
	q = xmalloc(cap + 1);
	for (unsigned i = 0; i < n; i++) {
		if (i > 0) {
			memcpy(q + k, " OR ", 4);
			k += 4;
		}
		q[k++] = '"';
		for (size_t j = 0; j < words[i].len; j++) {
			if (words[i].ptr[j] == '"')
				q[k++] = '"';
			q[k++] = words[i].ptr[j];
		}
		q[k++] = '"';
	}
	q[k] = '\0';
	*len = k;
	return q;
}

int
accounts_search(struct accounts *a, struct b2b_str query, unsigned max,
    int64_t now_ms, accounts_hit_cb cb, void *arg)
{
	struct b2b_str words[B2B_WORDS_MAX], rest = query, w;
	char low[B2B_WORDS_MAX][B2B_WORD_MAX];
	struct ac_heap h = {NULL, 0, max};
	struct b2b_hit hit;
	sqlite3_stmt *s;
	unsigned nw = 0;
	size_t qlen = 0;
	char *q;
	int rc, n = 0;

	while (nw < B2B_WORDS_MAX && b2b_word_next(&rest, &w)) {
		if (w.len > B2B_WORD_MAX)
			return 0; /* rejected by the parser already */
		for (size_t i = 0; i < w.len; i++)
			low[nw][i] = ac_lower(w.ptr[i]);
		words[nw].ptr = low[nw];
		words[nw].len = w.len;
		nw++;
	}
	if (nw == 0 || max == 0)
		return 0;
	h.v = xcalloc(max, sizeof(*h.v));
	q = ac_fts_words(words, nw, &qlen);
	s = a->st[q != NULL ? ST_SEARCH_FTS : ST_SEARCH_ALL];
	ac_lock(a);
	if ((rc = ac_begin(a, 0)) < 0)
		goto out;
	ac_bind_now(a, s, now_ms);
	if (q != NULL)
		ac_bind_text(s, ":match", q, qlen);
	while ((rc = ac_step(a, s)) == SQLITE_ROW) {
		uint64_t score;

		ac_column_hit(s, &hit);
		score = accounts_score(words, nw, hit.name.ptr, hit.name.len);
		if (score > 0)
			ac_heap_offer(&h, score, &hit);
	}
	if (rc >= 0)
		ac_reset(s);
	rc = ac_end(a, rc);
	if (rc < 0)
		goto out;
	/* Sorted best first; views re-pointed at the copies. */
	qsort(h.v, h.n, sizeof(*h.v), ac_rank_cmp);
	for (size_t i = 0; i < h.n; i++) {
		h.v[i].hit.name.ptr = h.v[i].name;
		h.v[i].hit.user.ptr = h.v[i].user;
		h.v[i].hit.md5[0] = '\0';
		a->in_cb = 1;
		rc = cb(arg, &h.v[i].hit);
		a->in_cb = 0;
		n++;
		if (rc != 0)
			break;
	}
	rc = n;
out:
	ac_unlock(a);
	free(q);
	free(h.v);
	return rc;
}

/* ------------------------------------------------------------ course FIND */

/* The holder of a hit as a course peer (course_peer_from_sockaddr). */
static int
ac_course_peer(
    const struct b2b_addr *ip, uint16_t port, struct course_peer *out)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;

	if (ip->family == AF_INET) {
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		memcpy(&v4.sin_addr, ip->a, 4);
		return course_peer_from_sockaddr(
		    (struct sockaddr *)&v4, NULL, port, out);
	}
	if (ip->family == AF_INET6) {
		memset(&v6, 0, sizeof(v6));
		v6.sin6_family = AF_INET6;
		memcpy(&v6.sin6_addr, ip->a, 16);
		return course_peer_from_sockaddr(
		    NULL, (struct sockaddr *)&v6, port, out);
	}
	return WARREN_EFIELD;
}

int
accounts_find(struct accounts *a, struct course_str term, int64_t now_ms,
    accounts_find_cb cb, void *arg)
{
	struct course_str run = course_term_index_run(term);
	struct course_peer peer;
	struct b2b_hit h;
	sqlite3_stmt *s = a->st[ST_FIND_ALL];
	char *q = NULL;
	size_t qlen = 0;
	int rc, n = 0;

	if (run.len >= AC_TRIGRAM) {
		struct b2b_str w = {run.ptr, run.len};

		q = ac_fts_words(&w, 1, &qlen);
		s = a->st[ST_FIND_FTS];
	}
	ac_lock(a);
	if ((rc = ac_begin(a, 0)) < 0)
		goto out;
	ac_bind_now(a, s, now_ms);
	if (q != NULL)
		ac_bind_text(s, ":match", q, qlen);
	while ((rc = ac_step(a, s)) == SQLITE_ROW) {
		size_t len;
		int stop;

		ac_column_hit(s, &h);
		if (h.md5[0] == '\0' ||
		    !course_term_match(term, h.name.ptr, h.name.len) ||
		    ac_course_peer(&h.addr, h.port, &peer) != 0)
			continue;
		/* Cut to the course's 100 bytes, never inside a character
		 * (names are UTF-8: continuation bytes are 10xxxxxx). */
		len = h.name.len;
		if (len > COURSE_NAME_LEN) {
			len = COURSE_NAME_LEN;
			while (len > 0 &&
			    ((unsigned char)h.name.ptr[len] & 0xc0) == 0x80)
				len--;
		}
		a->in_cb = 1;
		stop = cb(arg, h.md5, h.name.ptr, len, &peer);
		a->in_cb = 0;
		n++;
		if (stop)
			break;
	}
	if (rc >= 0) {
		ac_reset(s);
		rc = n;
	}
	rc = ac_end(a, rc);
out:
	ac_unlock(a);
	free(q);
	return rc;
}

int
accounts_stats(struct accounts *a, int64_t now_ms, struct accounts_stats *out)
{
	sqlite3_stmt *s = a->st[ST_STATS];
	int rc;

	memset(out, 0, sizeof(*out));
	ac_lock(a);
	ac_bind_now(a, s, now_ms);
	if ((rc = ac_step(a, s)) == SQLITE_ROW) {
		out->regs = (uint64_t)sqlite3_column_int64(s, 0);
		out->online = (uint64_t)sqlite3_column_int64(s, 1);
		out->files = (uint64_t)sqlite3_column_int64(s, 2);
	}
	if (rc >= 0)
		ac_reset(s);
	ac_unlock(a);
	return rc < 0 ? rc : 0;
}
