/*
 * library.c: the shared-file library. A scan walks the shared folder on the
 * libuv thread pool and hands the list of regular files back to the loop,
 * which compares it with what is listed, takes unchanged files from the
 * SQLite cache (first scan) and queues the rest for hashing on the pool, at
 * most hash_jobs at once. One inotify watcher per directory (debounced) and
 * a periodic timer trigger rescans. Cache writes are queued in order and
 * applied in batches by one writer on the pool: the loop never touches disk.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>
#include <uv.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "db.h"
#include "hash.h"
#include "library.h"

#define LIB_RESCAN_MS       60000   /* default periodic rescan */
#define LIB_MAX_FILES       1000000 /* default bound on listed + pending */
#define LIB_WATCH_MAX       4096    /* inotify watchers (directories) */
#define LIB_DEBOUNCE_MS     200     /* quiet time after an fs event */
#define LIB_DEBOUNCE_MAX_MS 2000    /* events never delay a scan longer */
#define LIB_CHANGED_MS      1000 /* retry of a file that moved while hashed */
#define LIB_NAME_MAX        100  /* course protocol file name field */
#define LIB_ESC_LEN         256  /* printable copy of a path for logs */
#define LIB_TABLE_MIN       64   /* initial hash table slots */
#define LIB_SLICE           2048 /* entries reconciled per loop iteration */

#define LIB_CONTAINER(p, type, member)                                         \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

#define LIB_SCHEMA                                                             \
	"CREATE TABLE IF NOT EXISTS library_file("                             \
	" path TEXT PRIMARY KEY,"                                              \
	" size INTEGER NOT NULL,"                                              \
	" mtime_ns INTEGER NOT NULL,"                                          \
	" md5 TEXT NOT NULL,"                                                  \
	" sha1 TEXT NOT NULL,"                                                 \
	" parts BLOB NOT NULL);"

/* A node of an intrusive chained hash table keyed by a C string. */
struct lib_node {
	struct lib_node *next; /* chain */
	uint64_t hash;         /* of key */
	const char *key;       /* borrowed from the containing object */
};

/* Duplicate keys are allowed: find returns any one, remove unlinks one. */
struct lib_table {
	struct lib_node **slots; /* cap chains */
	size_t cap;              /* power of two */
	size_t len;              /* nodes linked */
};

/* A listed file; pub first so a library_file pointer converts back. */
struct lib_file {
	struct library_file pub;
	struct lib_node by_path; /* in lib->files, key pub.path */
	struct lib_node by_md5;  /* in lib->md5s, key pub.md5 */
	uint64_t seen;           /* generation of the last scan that saw it */
};

/* A file waiting for (in lib->qhead's list) or being hashed (running). */
struct lib_job {
	uv_work_t req;
	struct library *lib;
	struct lib_node node;        /* in lib->jobs, key path */
	struct lib_job *prev, *next; /* lib->qhead list while waiting */
	char *path;                  /* owned */
	uint64_t size;               /* as the scan saw it */
	int64_t mtime_ns, ctime_ns;  /* as the scan saw it */
	uint64_t seen;               /* scan generation */
	int running;                 /* handed to the thread pool */
	/* Written by the worker, read in the after-work callback. */
	int err;                     /* 0 or -errno */
	int changed;                 /* size/mtime/inode moved while hashed */
	uint64_t hsize;              /* size as hashed */
	int64_t hmtime_ns;           /* mtime as hashed */
	struct hash_file_result res; /* valid when err == 0; parts owned */
};

/* A path that could not be read: retried only once it changes. */
struct lib_failed {
	struct lib_node node;       /* in lib->failed, key path */
	char *path;                 /* owned */
	uint64_t size;              /* UINT64_MAX for a scan error */
	int64_t mtime_ns, ctime_ns; /* scan error: errno, 0 */
	uint64_t seen;              /* scan generation */
};

/* An inotify watcher on one directory. Freed in its close callback. */
struct lib_watch {
	uv_fs_event_t h;
	struct library *lib;
	struct lib_node node; /* in lib->watches, key path */
	char *path;           /* owned */
	uint64_t seen;        /* scan generation */
	int stale;            /* the directory itself may have gone */
};

/* One entry found by a scan. */
struct lib_item {
	char *path;                 /* owned */
	uint64_t size;              /* st_size */
	int64_t mtime_ns, ctime_ns; /* st_mtim, st_ctim */
	int err;    /* 0, or -errno: the path could not be read */
	int cached; /* md5..parts come from a matching cache row */
	char md5[2 * HASH_MD5_LEN + 1];
	char sha1[2 * HASH_SHA1_LEN + 1];
	uint32_t nparts;
	uint8_t *parts; /* owned until taken */
};

/* A cache row, loaded by the first scan's worker. */
struct lib_row {
	struct lib_node node; /* key path */
	char *path;           /* owned */
	uint64_t size;
	int64_t mtime_ns;
	int valid; /* the row is well formed */
	int used;  /* a scanned file matched it */
	char md5[2 * HASH_MD5_LEN + 1];
	char sha1[2 * HASH_SHA1_LEN + 1];
	uint32_t nparts;
	uint8_t *parts; /* owned until taken */
};

enum lib_phase {
	LIB_PHASE_WALK,  /* the worker walks the folder */
	LIB_PHASE_ITEMS, /* the loop compares what it found, in slices */
	LIB_PHASE_GONE,  /* the loop removes what it did not find, in slices */
};

/* One scan: the worker fills the results, the loop reconciles them. */
struct lib_scan {
	uv_work_t req;
	struct library *lib;
	enum lib_phase phase;
	size_t pos;                 /* next item or gone entry */
	struct library_file **gone; /* files not found, one ref each */
	size_t ngone;
	int added;      /* watchers were added */
	int load_cache; /* first scan: load the cache */
	char **prune;   /* rows no file matched: paths, owned */
	size_t nprune, prune_cap;
	size_t max_items;       /* bound on items */
	struct lib_item *items; /* files (and unreadable paths) found */
	size_t nitems, items_cap;
	char **dirs;            /* directories found, root first, owned */
	size_t ndirs, dirs_cap; /* ndirs <= LIB_WATCH_MAX */
	size_t ndirs_seen;      /* all directories walked */
	int err;                /* root unreadable: -errno */
	int cancelled;          /* library_close() stopped the walk */
	int truncated;          /* max_items reached */
};

struct lib_sub {
	library_cb cb;
	void *arg;
};

/* A cache write: put holds a reference, del owns its path. */
struct lib_op {
	struct library_file *put; /* row to insert or replace, or NULL */
	char *del;                /* path of the row to delete, or NULL */
};

/* A batch of cache writes, applied in order in one transaction. */
struct lib_writer {
	uv_work_t req;
	struct library *lib;
	struct lib_op *ops; /* owned */
	size_t nops;
};

struct library {
	uv_loop_t *loop;
	sqlite3 *db;           /* borrowed */
	sqlite3_stmt *st_put;  /* writer only (one at a time) */
	sqlite3_stmt *st_load; /* first scan's worker only */
	sqlite3_stmt *st_del;  /* writer only */
	char *dir;             /* realpath of the shared folder, owned */
	uint64_t rescan_ms;    /* periodic rescan */
	unsigned hash_jobs;    /* bound on running jobs */
	unsigned max_files;    /* bound on listed + pending files */

	struct lib_table files;   /* lib_file by path */
	struct lib_table md5s;    /* lib_file by md5 (duplicates) */
	struct lib_table jobs;    /* lib_job by path (waiting and running) */
	struct lib_table failed;  /* lib_failed by path */
	struct lib_table watches; /* lib_watch by path (open handles only) */
	struct lib_job *qhead, *qtail; /* waiting jobs, FIFO */
	unsigned running;              /* jobs on the pool */
	struct lib_op *ops;            /* cache writes for the next batch */
	size_t nops, ops_cap;          /* bounded by listed files */
	struct lib_writer *writer;     /* batch in flight, or NULL */

	struct lib_scan *scan; /* walked or reconciled, or NULL */
	int rescan_wanted;     /* a scan was asked for while one ran */
	uint64_t gen;          /* scan generation, for mark and sweep */
	int cache_loaded;      /* a scan loaded the cache */
	int first_done;        /* the first scan completed */
	int ready;             /* first scan and its hashing complete */
	int started;           /* library_start() was called */
	int closing;           /* library_close() was called */
	volatile int cancel;   /* read by workers: stop now */
	unsigned inflight;     /* uv_work requests not yet completed */
	unsigned handles;      /* handles whose close callback is due */
	uv_timer_t debounce;   /* fs events and touches -> rescan */
	uv_timer_t rescan;     /* periodic rescan */
	uv_idle_t slicer;      /* runs a reconcile in slices */
	uint64_t poke_first;   /* uv_now() when the debounce was armed */
	int full_warned;       /* max_files warning logged */
	int watch_warned;      /* watcher failure logged */

	struct lib_sub *subs;
	size_t nsubs;
	void (*ready_fn)(void *arg);
	void *ready_arg;
	void (*done_fn)(void *arg);
	void *done_arg;
	struct library_stats st; /* pending is njobs */
	uint64_t njobs;          /* waiting + running */
};

static void lib_scan_request(struct library *lib);
static void lib_maybe_finish(struct library *lib);
static void lib_op_put(struct library *lib, const struct library_file *f);
static void lib_op_del(struct library *lib, char *path);

/* ---- small helpers ---- */

/* A printable copy of s for a log line: control bytes as \xNN. */
static const char *
lib_esc(const char *s, char *buf, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (o + 8 > cap) { /* room for \xNN, "..." and the NUL */
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (c < 0x20 || c == 0x7f || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = digits[c >> 4];
			buf[o++] = digits[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}

static int64_t
lib_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* ⌈size / HASH_PART_LEN⌉, or -1 if it does not fit a uint32_t. */
static int64_t
lib_nparts(uint64_t size)
{
	uint64_t n = size / HASH_PART_LEN + (size % HASH_PART_LEN != 0);

	return n > UINT32_MAX ? -1 : (int64_t)n;
}

static int
lib_is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return s[len] == '\0';
}

/* ---- hash table ---- */

static uint64_t
lib_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void
lib_table_init(struct lib_table *t)
{
	t->cap = LIB_TABLE_MIN;
	t->len = 0;
	t->slots = xcalloc(t->cap, sizeof(*t->slots));
}

static void
lib_table_release(struct lib_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->len = 0;
}

static void
lib_table_grow(struct lib_table *t)
{
	size_t cap = t->cap * 2;
	struct lib_node **slots = xcalloc(cap, sizeof(*slots));

	for (size_t i = 0; i < t->cap; i++) {
		struct lib_node *n, *next;

		for (n = t->slots[i]; n != NULL; n = next) {
			next = n->next;
			n->next = slots[n->hash & (cap - 1)];
			slots[n->hash & (cap - 1)] = n;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
}

/* Link n under key (borrowed: it must live in n's containing object). */
static void
lib_table_insert(struct lib_table *t, struct lib_node *n, const char *key)
{
	if (t->len >= t->cap)
		lib_table_grow(t);
	n->key = key;
	n->hash = lib_hash(key);
	n->next = t->slots[n->hash & (t->cap - 1)];
	t->slots[n->hash & (t->cap - 1)] = n;
	t->len++;
}

static struct lib_node *
lib_table_find(const struct lib_table *t, const char *key)
{
	uint64_t h = lib_hash(key);

	for (struct lib_node *n = t->slots[h & (t->cap - 1)]; n != NULL;
	     n = n->next) {
		if (n->hash == h && strcmp(n->key, key) == 0)
			return n;
	}
	return NULL;
}

static void
lib_table_remove(struct lib_table *t, struct lib_node *n)
{
	struct lib_node **pp = &t->slots[n->hash & (t->cap - 1)];

	while (*pp != n) {
		assert(*pp != NULL);
		pp = &(*pp)->next;
	}
	*pp = n->next;
	n->next = NULL;
	t->len--;
}

/* Iterate with removal of the current node allowed: save next first. */
#define LIB_TABLE_FOREACH(t, i, n, nx)                                         \
	for ((i) = 0; (i) < (t)->cap; (i)++)                                   \
		for ((n) = (t)->slots[(i)];                                    \
		     (n) != NULL && (((nx) = (n)->next), 1); (n) = (nx))

/* ---- files ---- */

struct library_file *
library_file_ref(const struct library_file *f)
{
	struct library_file *m = (struct library_file *)(uintptr_t)f;

	assert(m->refs > 0);
	m->refs++;
	return m;
}

void
library_file_unref(struct library_file *f)
{
	struct lib_file *lf;

	if (f == NULL)
		return;
	assert(f->refs > 0);
	if (--f->refs > 0)
		return;
	lf = LIB_CONTAINER(f, struct lib_file, pub);
	free(f->path);
	free(f->parts);
	free(lf);
}

/* A new file with one reference; takes path and parts. */
static struct lib_file *
lib_file_new(char *path, uint64_t size, int64_t mtime_ns, const char *md5,
    const char *sha1, uint32_t nparts, uint8_t *parts)
{
	struct lib_file *f = xcalloc(1, sizeof(*f));
	const char *slash = strrchr(path, '/');

	f->pub.refs = 1;
	f->pub.path = path;
	f->pub.name = slash != NULL ? slash + 1 : path;
	f->pub.name_len = strlen(f->pub.name);
	f->pub.size = size;
	f->pub.mtime_ns = mtime_ns;
	memcpy(f->pub.md5, md5, sizeof(f->pub.md5));
	f->pub.md5[sizeof(f->pub.md5) - 1] = '\0';
	memcpy(f->pub.sha1, sha1, sizeof(f->pub.sha1));
	f->pub.sha1[sizeof(f->pub.sha1) - 1] = '\0';
	f->pub.nparts = nparts;
	f->pub.parts = parts;
	f->pub.name_too_long = f->pub.name_len > LIB_NAME_MAX;
	return f;
}

static void
lib_emit(struct library *lib, enum library_event ev, const struct lib_file *f)
{
	/* Index, not pointer: a subscriber may subscribe another. */
	for (size_t i = 0; i < lib->nsubs && !lib->closing; i++)
		lib->subs[i].cb(lib->subs[i].arg, ev, &f->pub);
}

static struct lib_file *
lib_file_by_path(const struct library *lib, const char *path)
{
	struct lib_node *n = lib_table_find(&lib->files, path);

	return n != NULL ? LIB_CONTAINER(n, struct lib_file, by_path) : NULL;
}

/* List f (the library keeps the reference it was created with). */
static void
lib_list(struct library *lib, struct lib_file *f)
{
	char eb[LIB_ESC_LEN];

	f->pub.shared = 1;
	f->seen = lib->gen;
	lib_table_insert(&lib->files, &f->by_path, f->pub.path);
	lib_table_insert(&lib->md5s, &f->by_md5, f->pub.md5);
	lib->st.files++;
	lib->st.bytes += f->pub.size;
	if (f->pub.name_too_long) {
		lib->st.name_too_long++;
		log_warn("library: %s: name is %zu bytes, more than the %d "
			 "the course protocols carry; listed but not announced",
		    lib_esc(f->pub.path, eb, sizeof(eb)), f->pub.name_len,
		    LIB_NAME_MAX);
	}
	lib_emit(lib, LIBRARY_ADDED, f);
}

/* Remove f from the listing and the cache, tell subscribers, unref. */
static void
lib_unlist(struct library *lib, struct lib_file *f)
{
	lib_op_del(lib, xstrdup(f->pub.path));
	lib_table_remove(&lib->files, &f->by_path);
	lib_table_remove(&lib->md5s, &f->by_md5);
	lib->st.files--;
	lib->st.bytes -= f->pub.size;
	if (f->pub.name_too_long)
		lib->st.name_too_long--;
	f->pub.shared = 0;
	lib_emit(lib, LIBRARY_REMOVED, f);
	library_file_unref(&f->pub);
}

/* ---- database ---- */

/* Writer: insert or replace the row of a hashed file. */
static void
lib_db_put(struct library *lib, const struct library_file *f)
{
	sqlite3_stmt *st = lib->st_put;
	char eb[LIB_ESC_LEN];

	sqlite3_bind_text(st, 1, f->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)f->size);
	sqlite3_bind_int64(st, 3, f->mtime_ns);
	sqlite3_bind_text(st, 4, f->md5, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f->sha1, -1, SQLITE_STATIC);
	/* A NULL pointer would bind NULL; an empty file has no parts. */
	sqlite3_bind_blob(st, 6, f->parts != NULL ? (const void *)f->parts : "",
	    (int)((size_t)f->nparts * HASH_SHA1_LEN), SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("library: cannot cache the hashes of %s: %s",
		    lib_esc(f->path, eb, sizeof(eb)), sqlite3_errmsg(lib->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Writer: delete the row of one path. */
static void
lib_db_del(struct library *lib, const char *path)
{
	sqlite3_bind_text(lib->st_del, 1, path, -1, SQLITE_STATIC);
	if (sqlite3_step(lib->st_del) != SQLITE_DONE)
		log_warn("library: cannot delete a cache row: %s",
		    sqlite3_errmsg(lib->db));
	sqlite3_reset(lib->st_del);
	sqlite3_clear_bindings(lib->st_del);
}

static void
lib_writer_work(uv_work_t *req)
{
	struct lib_writer *w = LIB_CONTAINER(req, struct lib_writer, req);
	struct library *lib = w->lib;
	int began;

	/*
	 * The connection is shared with other modules: if one of them has a
	 * transaction open, BEGIN fails and these writes simply join it.
	 */
	began = sqlite3_exec(lib->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	for (size_t i = 0; i < w->nops; i++) {
		if (w->ops[i].put != NULL)
			lib_db_put(lib, w->ops[i].put);
		else
			lib_db_del(lib, w->ops[i].del);
	}
	if (began && db_exec(lib->db, "COMMIT") != 0)
		sqlite3_exec(lib->db, "ROLLBACK", NULL, NULL, NULL);
}

static void
lib_ops_free(struct lib_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		library_file_unref(ops[i].put);
		free(ops[i].del);
	}
	free(ops);
}

static void lib_flush(struct library *lib);

static void
lib_writer_done(uv_work_t *req, int status)
{
	struct lib_writer *w = LIB_CONTAINER(req, struct lib_writer, req);
	struct library *lib = w->lib;

	lib->inflight--;
	lib->writer = NULL;
	lib_ops_free(w->ops, w->nops);
	free(w);
	lib_flush(lib); /* even while closing: what was hashed is kept */
	lib_maybe_finish(lib);
}

/* Hand the queued writes to the writer unless a batch is in flight. */
static void
lib_flush(struct library *lib)
{
	struct lib_writer *w;
	int err;

	if (lib->writer != NULL || lib->nops == 0)
		return;
	w = xcalloc(1, sizeof(*w));
	w->lib = lib;
	w->ops = lib->ops;
	w->nops = lib->nops;
	lib->ops = NULL;
	lib->nops = lib->ops_cap = 0;
	err = uv_queue_work(
	    lib->loop, &w->req, lib_writer_work, lib_writer_done);
	if (err != 0) {
		log_error(
		    "library: cannot queue cache writes: %s", uv_strerror(err));
		lib_ops_free(w->ops, w->nops);
		free(w);
		return;
	}
	lib->writer = w;
	lib->inflight++;
}

static struct lib_op *
lib_op_new(struct library *lib)
{
	struct lib_op *op;

	if (lib->nops == lib->ops_cap) {
		lib->ops_cap = lib->ops_cap ? lib->ops_cap * 2 : 64;
		lib->ops = xreallocarray(
		    lib->ops, lib->ops_cap, sizeof(*lib->ops));
	}
	op = &lib->ops[lib->nops++];
	op->put = NULL;
	op->del = NULL;
	return op;
}

/* Queue the cache row of f (the op holds a reference). */
static void
lib_op_put(struct library *lib, const struct library_file *f)
{
	lib_op_new(lib)->put = library_file_ref(f);
	lib_flush(lib);
}

/* Queue the deletion of path's cache row; takes path. */
static void
lib_op_del(struct library *lib, char *path)
{
	lib_op_new(lib)->del = path;
	lib_flush(lib);
}

static void
lib_row_free(struct lib_row *r)
{
	free(r->path);
	free(r->parts);
	free(r);
}

/* Worker: load every cache row into rows. 0, or -1 (logged). */
static int
lib_db_load(struct library *lib, struct lib_table *rows)
{
	sqlite3_stmt *st = lib->st_load;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 0);
		const char *md5 = (const char *)sqlite3_column_text(st, 3);
		const char *sha1 = (const char *)sqlite3_column_text(st, 4);
		const void *blob = sqlite3_column_blob(st, 5);
		size_t blen = (size_t)sqlite3_column_bytes(st, 5);
		sqlite3_int64 size = sqlite3_column_int64(st, 1);
		struct lib_row *r;
		int64_t np;

		if (path == NULL)
			continue;
		r = xcalloc(1, sizeof(*r));
		r->path = xstrdup(path);
		r->size = (uint64_t)size;
		r->mtime_ns = sqlite3_column_int64(st, 2);
		np = size >= 0 ? lib_nparts((uint64_t)size) : -1;
		r->valid = np >= 0 && md5 != NULL && sha1 != NULL &&
		    strlen(md5) == 2 * HASH_MD5_LEN &&
		    lib_is_hex(md5, 2 * HASH_MD5_LEN) &&
		    strlen(sha1) == 2 * HASH_SHA1_LEN &&
		    lib_is_hex(sha1, 2 * HASH_SHA1_LEN) &&
		    blen == (size_t)np * HASH_SHA1_LEN;
		if (r->valid) {
			memcpy(r->md5, md5, sizeof(r->md5));
			memcpy(r->sha1, sha1, sizeof(r->sha1));
			r->nparts = (uint32_t)np;
			if (blen > 0) {
				r->parts = xmalloc(blen);
				memcpy(r->parts, blob, blen);
			}
		}
		lib_table_insert(rows, &r->node, r->path);
	}
	if (rc != SQLITE_DONE)
		log_warn("library: cannot read the hash cache: %s",
		    sqlite3_errmsg(lib->db));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- scan (worker side) ---- */

static struct lib_item *
lib_scan_add(struct lib_scan *sc, char *path)
{
	struct lib_item *it;

	if (sc->nitems == sc->items_cap) {
		sc->items_cap = sc->items_cap ? sc->items_cap * 2 : 256;
		sc->items = xreallocarray(
		    sc->items, sc->items_cap, sizeof(*sc->items));
	}
	it = &sc->items[sc->nitems++];
	memset(it, 0, sizeof(*it));
	it->path = path;
	return it;
}

static int
lib_skip_name(const char *name)
{
	size_t len = strlen(name);

	return name[0] == '.' ||
	    (len >= 5 && memcmp(name + len - 5, ".part", 5) == 0);
}

/* Read one directory: files become items, subdirectories are pushed. */
static void
lib_walk_dir(struct lib_scan *sc, DIR *d, const char *dir, char ***stack,
    size_t *nstack, size_t *stack_cap)
{
	struct dirent *de;
	struct stat st;

	for (;;) {
		char path[PATH_MAX];
		int n, err;

		if (sc->lib->cancel) {
			sc->cancelled = 1;
			return;
		}
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			err = -errno;
			if (err != 0 && sc->nitems < sc->max_items)
				lib_scan_add(sc, xstrdup(dir))->err = err;
			return;
		}
		if (lib_skip_name(de->d_name))
			continue;
		if (sc->nitems >= sc->max_items) {
			sc->truncated = 1;
			return;
		}
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			lib_scan_add(sc, xasprintf("%s/%s", dir, de->d_name))
			    ->err = -ENAMETOOLONG;
			continue;
		}
		if (lstat(path, &st) == -1) {
			err = -errno;
			if (err != -ENOENT) /* vanished: nothing to say */
				lib_scan_add(sc, xstrdup(path))->err = err;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (sc->ndirs_seen >= sc->max_items) {
				sc->truncated = 1;
				continue;
			}
			sc->ndirs_seen++;
			if (*nstack == *stack_cap) {
				*stack_cap = *stack_cap ? *stack_cap * 2 : 64;
				*stack = xreallocarray(
				    *stack, *stack_cap, sizeof(**stack));
			}
			(*stack)[(*nstack)++] = xstrdup(path);
		} else if (S_ISREG(st.st_mode)) {
			struct lib_item *it = lib_scan_add(sc, xstrdup(path));

			it->size = (uint64_t)st.st_size;
			it->mtime_ns = lib_ns(&st.st_mtim);
			it->ctime_ns = lib_ns(&st.st_ctim);
		}
		/* Symlinks, fifos, sockets, devices: never shared. */
	}
}

/* Walk the tree from the root without recursion (depth is unbounded). */
static void
lib_walk(struct lib_scan *sc)
{
	char **stack = NULL;
	size_t nstack = 0, stack_cap = 0;
	int root = 1;

	stack = xreallocarray(NULL, 1, sizeof(*stack));
	stack_cap = 1;
	stack[nstack++] = xstrdup(sc->lib->dir);
	while (nstack > 0 && !sc->cancelled && !sc->truncated) {
		char *dir = stack[--nstack];
		DIR *d = opendir(dir);

		if (d == NULL) {
			int err = -errno;

			if (root) {
				sc->err = err;
				free(dir);
				break;
			}
			if (err != -ENOENT && sc->nitems < sc->max_items)
				lib_scan_add(sc, dir)->err = err;
			else
				free(dir);
			continue;
		}
		root = 0;
		lib_walk_dir(sc, d, dir, &stack, &nstack, &stack_cap);
		closedir(d);
		if (sc->ndirs < LIB_WATCH_MAX) {
			if (sc->ndirs == sc->dirs_cap) {
				sc->dirs_cap = sc->dirs_cap ? sc->dirs_cap * 2
							    : 16;
				sc->dirs = xreallocarray(
				    sc->dirs, sc->dirs_cap, sizeof(*sc->dirs));
			}
			sc->dirs[sc->ndirs++] = dir;
		} else {
			free(dir);
		}
	}
	while (nstack > 0)
		free(stack[--nstack]);
	free(stack);
}

/* Worker: attach cache rows to unchanged files; list the other rows. */
static void
lib_scan_cache(struct lib_scan *sc)
{
	struct library *lib = sc->lib;
	struct lib_table rows;
	struct lib_node *n, *nx;
	size_t i;
	int ok;

	lib_table_init(&rows);
	ok = lib_db_load(lib, &rows) == 0;
	for (i = 0; ok && i < sc->nitems; i++) {
		struct lib_item *it = &sc->items[i];
		struct lib_row *r;

		if (it->err != 0 ||
		    (n = lib_table_find(&rows, it->path)) == NULL)
			continue;
		r = LIB_CONTAINER(n, struct lib_row, node);
		if (!r->valid || r->size != it->size ||
		    r->mtime_ns != it->mtime_ns)
			continue;
		r->used = 1;
		it->cached = 1;
		memcpy(it->md5, r->md5, sizeof(it->md5));
		memcpy(it->sha1, r->sha1, sizeof(it->sha1));
		it->nparts = r->nparts;
		it->parts = r->parts;
		r->parts = NULL;
	}
	/* Prune only after a full walk: a partial one proves nothing gone. */
	if (ok && sc->err == 0 && !sc->cancelled && !sc->truncated) {
		LIB_TABLE_FOREACH(&rows, i, n, nx)
		{
			struct lib_row *r = LIB_CONTAINER(
			    n, struct lib_row, node);

			if (r->used)
				continue;
			if (sc->nprune == sc->prune_cap) {
				sc->prune_cap = sc->prune_cap
				    ? sc->prune_cap * 2
				    : 64;
				sc->prune = xreallocarray(sc->prune,
				    sc->prune_cap, sizeof(*sc->prune));
			}
			sc->prune[sc->nprune++] = r->path;
			r->path = NULL; /* the node's key: rows is not used */
		}
	}
	LIB_TABLE_FOREACH(&rows, i, n, nx)
	{
		lib_row_free(LIB_CONTAINER(n, struct lib_row, node));
	}
	lib_table_release(&rows);
}

static void
lib_scan_work(uv_work_t *req)
{
	struct lib_scan *sc = LIB_CONTAINER(req, struct lib_scan, req);

	lib_walk(sc);
	if (sc->load_cache && sc->err == 0 && !sc->cancelled)
		lib_scan_cache(sc);
}

static void
lib_scan_free(struct lib_scan *sc)
{
	for (size_t i = 0; i < sc->nitems; i++) {
		free(sc->items[i].path);
		free(sc->items[i].parts);
	}
	free(sc->items);
	for (size_t i = 0; i < sc->ndirs; i++)
		free(sc->dirs[i]);
	free(sc->dirs);
	for (size_t i = 0; i < sc->nprune; i++)
		free(sc->prune[i]);
	free(sc->prune);
	for (size_t i = 0; i < sc->ngone; i++)
		library_file_unref(sc->gone[i]);
	free(sc->gone);
	free(sc);
}

/* ---- hashing jobs ---- */

static void
lib_job_free(struct lib_job *j)
{
	free(j->path);
	free(j->res.parts);
	free(j);
}

static void
lib_queue_unlink(struct library *lib, struct lib_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		lib->qhead = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	else
		lib->qtail = j->prev;
	j->prev = j->next = NULL;
}

/* Forget a job that has not started. */
static void
lib_job_drop(struct library *lib, struct lib_job *j)
{
	assert(!j->running);
	lib_queue_unlink(lib, j);
	lib_table_remove(&lib->jobs, &j->node);
	lib->njobs--;
	lib_job_free(j);
}

static void
lib_job_work(uv_work_t *req)
{
	struct lib_job *j = LIB_CONTAINER(req, struct lib_job, req);
	struct stat a, b;
	int err;

	if (lstat(j->path, &a) == -1) {
		j->err = -errno;
		return;
	}
	if (!S_ISREG(a.st_mode)) {
		j->err = -ENOENT; /* replaced by something not shared */
		return;
	}
	err = hash_file(j->path, &j->lib->cancel, &j->res);
	if (err != 0) {
		j->err = err;
		return;
	}
	j->hsize = (uint64_t)a.st_size;
	j->hmtime_ns = lib_ns(&a.st_mtim);
	/* Re-stat: a hash of a file that moved meanwhile describes nothing. */
	if (lstat(j->path, &b) == -1 || !S_ISREG(b.st_mode) ||
	    b.st_ino != a.st_ino || b.st_dev != a.st_dev ||
	    b.st_size != a.st_size || lib_ns(&b.st_mtim) != j->hmtime_ns ||
	    j->res.size != j->hsize)
		j->changed = 1;
}

/* Remember that path could not be read; count and log it once. */
static void
lib_fail(struct library *lib, const char *path, uint64_t size, int64_t mtime_ns,
    int64_t ctime_ns, int err)
{
	struct lib_node *n = lib_table_find(&lib->failed, path);
	struct lib_failed *fl;
	char eb[LIB_ESC_LEN];

	if (n != NULL) {
		fl = LIB_CONTAINER(n, struct lib_failed, node);
		fl->seen = lib->gen;
		if (fl->size == size && fl->mtime_ns == mtime_ns &&
		    fl->ctime_ns == ctime_ns)
			return;
	} else {
		fl = xcalloc(1, sizeof(*fl));
		fl->path = xstrdup(path);
		fl->seen = lib->gen;
		lib_table_insert(&lib->failed, &fl->node, fl->path);
	}
	fl->size = size;
	fl->mtime_ns = mtime_ns;
	fl->ctime_ns = ctime_ns;
	lib->st.errors++;
	log_warn("library: cannot read %s: %s; not shared",
	    lib_esc(path, eb, sizeof(eb)), uv_strerror(err));
}

static void
lib_failed_drop(struct library *lib, struct lib_failed *fl)
{
	lib_table_remove(&lib->failed, &fl->node);
	free(fl->path);
	free(fl);
}

static void lib_job_done(uv_work_t *req, int status);

/* Start waiting jobs while fewer than hash_jobs run. */
static void
lib_pump(struct library *lib)
{
	while (!lib->closing && lib->qhead != NULL &&
	    lib->running < lib->hash_jobs) {
		struct lib_job *j = lib->qhead;
		int err;

		lib_queue_unlink(lib, j);
		err = uv_queue_work(
		    lib->loop, &j->req, lib_job_work, lib_job_done);
		if (err != 0) { /* cannot happen with a valid loop */
			log_error("library: cannot queue hashing: %s",
			    uv_strerror(err));
			lib_table_remove(&lib->jobs, &j->node);
			lib->njobs--;
			lib_job_free(j);
			continue;
		}
		j->running = 1;
		lib->running++;
		lib->inflight++;
	}
}

static void
lib_check_ready(struct library *lib)
{
	if (lib->ready || lib->closing || !lib->first_done || lib->njobs > 0)
		return;
	lib->ready = 1;
	log_info("library: %s ready: %llu files, %llu hashed, %llu from cache",
	    lib->dir, (unsigned long long)lib->st.files,
	    (unsigned long long)lib->st.hashed_files,
	    (unsigned long long)lib->st.cached_files);
	if (lib->ready_fn != NULL)
		lib->ready_fn(lib->ready_arg);
}

/* Arm the debounce timer: a scan follows after delay_ms of quiet. */
static void lib_debounce_cb(uv_timer_t *t);

static void
lib_poke(struct library *lib, uint64_t delay_ms)
{
	uint64_t now;

	if (lib->closing || !lib->started)
		return;
	now = uv_now(lib->loop);
	if (!uv_is_active((uv_handle_t *)&lib->debounce)) {
		lib->poke_first = now;
		uv_timer_start(&lib->debounce, lib_debounce_cb, delay_ms, 0);
	} else if (now - lib->poke_first < LIB_DEBOUNCE_MAX_MS) {
		uv_timer_start(&lib->debounce, lib_debounce_cb, delay_ms, 0);
	}
}

static void
lib_job_done(uv_work_t *req, int status)
{
	struct lib_job *j = LIB_CONTAINER(req, struct lib_job, req);
	struct library *lib = j->lib;
	struct lib_file *f;
	char eb[LIB_ESC_LEN];

	lib->inflight--;
	lib->running--;
	lib->njobs--;
	lib_table_remove(&lib->jobs, &j->node);
	if (lib->closing || status != 0) {
		lib_job_free(j);
		lib_maybe_finish(lib);
		return;
	}
	if (j->err == 0)
		lib->st.hashed_bytes += j->res.size;
	if (j->err == -ENOENT || j->err == -ENOTDIR) {
		log_debug("library: %s vanished before hashing",
		    lib_esc(j->path, eb, sizeof(eb)));
	} else if (j->err != 0) {
		lib_fail(
		    lib, j->path, j->size, j->mtime_ns, j->ctime_ns, j->err);
	} else if (j->changed) {
		log_debug("library: %s changed while hashed; again later",
		    lib_esc(j->path, eb, sizeof(eb)));
		lib_poke(lib, LIB_CHANGED_MS);
	} else {
		/* Not expected: a path is either listed or hashed. */
		if ((f = lib_file_by_path(lib, j->path)) != NULL)
			lib_unlist(lib, f);
		f = lib_file_new(j->path, j->hsize, j->hmtime_ns, j->res.md5,
		    j->res.sha1, j->res.nparts, j->res.parts);
		j->path = NULL;
		j->res.parts = NULL;
		lib->st.hashed_files++;
		lib_op_put(lib, &f->pub);
		lib_list(lib, f);
	}
	lib_job_free(j);
	lib_pump(lib);
	lib_check_ready(lib);
	if (lib->closing) /* a subscriber closed the library */
		lib_maybe_finish(lib);
}

/* Queue it for hashing; takes its path. */
static void
lib_job_add(struct library *lib, struct lib_item *it)
{
	struct lib_job *j = xcalloc(1, sizeof(*j));

	j->lib = lib;
	j->path = it->path;
	it->path = NULL;
	j->size = it->size;
	j->mtime_ns = it->mtime_ns;
	j->ctime_ns = it->ctime_ns;
	j->seen = lib->gen;
	lib_table_insert(&lib->jobs, &j->node, j->path);
	j->prev = lib->qtail;
	if (lib->qtail != NULL)
		lib->qtail->next = j;
	else
		lib->qhead = j;
	lib->qtail = j;
	lib->njobs++;
}

/* ---- watchers ---- */

static void
lib_handle_closed(uv_handle_t *h)
{
	struct library *lib = h->data;

	lib->handles--;
	lib_maybe_finish(lib);
}

static void
lib_watch_closed(uv_handle_t *h)
{
	struct lib_watch *w = LIB_CONTAINER(h, struct lib_watch, h);
	struct library *lib = w->lib;

	free(w->path);
	free(w);
	lib->handles--;
	lib_maybe_finish(lib);
}

static void
lib_watch_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct lib_watch *w = LIB_CONTAINER(h, struct lib_watch, h);
	const char *base = strrchr(w->path, '/');

	if (status < 0)
		log_debug(
		    "library: watching %s: %s", w->path, uv_strerror(status));
	/*
	 * inotify reports the watched directory's own deletion or move under
	 * its base name, and the watch is dead from then on: if a directory
	 * of that name is found again, the next reconcile watches it anew.
	 */
	if ((events & UV_RENAME) &&
	    (filename == NULL ||
		(base != NULL && strcmp(filename, base + 1) == 0)))
		w->stale = 1;
	lib_poke(w->lib, LIB_DEBOUNCE_MS);
}

static void
lib_watch_remove(struct library *lib, struct lib_watch *w)
{
	lib_table_remove(&lib->watches, &w->node);
	uv_close((uv_handle_t *)&w->h, lib_watch_closed);
}

/* Watch dir unless it is watched; 1 if a watcher was added. */
static int
lib_watch_add(struct library *lib, const char *dir)
{
	struct lib_node *n = lib_table_find(&lib->watches, dir);
	struct lib_watch *w;
	char eb[LIB_ESC_LEN];
	int err;

	if (n != NULL) {
		w = LIB_CONTAINER(n, struct lib_watch, node);
		if (!w->stale) {
			w->seen = lib->gen;
			return 0;
		}
		lib_watch_remove(lib, w);
	}
	if (lib->watches.len >= LIB_WATCH_MAX)
		return 0;
	w = xcalloc(1, sizeof(*w));
	w->lib = lib;
	w->path = xstrdup(dir);
	w->seen = lib->gen;
	if ((err = uv_fs_event_init(lib->loop, &w->h)) != 0) {
		free(w->path);
		free(w);
		return 0;
	}
	lib->handles++;
	if ((err = uv_fs_event_start(&w->h, lib_watch_cb, w->path, 0)) != 0) {
		if (!lib->watch_warned)
			log_warn("library: cannot watch %s: %s; changes there "
				 "are seen by the periodic rescan only",
			    lib_esc(dir, eb, sizeof(eb)), uv_strerror(err));
		lib->watch_warned = 1;
		uv_close((uv_handle_t *)&w->h, lib_watch_closed);
		return 0;
	}
	lib_table_insert(&lib->watches, &w->node, w->path);
	return 1;
}

/* ---- scan (loop side) ---- */

/* Compare one scanned entry with the listing. */
static void
lib_reconcile_item(struct library *lib, struct lib_item *it)
{
	struct lib_file *f = lib_file_by_path(lib, it->path);
	struct lib_node *n;

	if (f != NULL && it->err == 0) {
		if (f->pub.size == it->size &&
		    f->pub.mtime_ns == it->mtime_ns) {
			f->seen = lib->gen;
			return;
		}
		/* Changed: REMOVED now, ADDED once hashed again. */
		lib_unlist(lib, f);
		if (lib->closing)
			return;
	}
	if ((n = lib_table_find(&lib->jobs, it->path)) != NULL) {
		LIB_CONTAINER(n, struct lib_job, node)->seen = lib->gen;
		return;
	}
	if (it->err != 0) {
		lib_fail(lib, it->path, UINT64_MAX, it->err, 0, it->err);
		return;
	}
	if ((n = lib_table_find(&lib->failed, it->path)) != NULL) {
		struct lib_failed *fl = LIB_CONTAINER(
		    n, struct lib_failed, node);

		if (fl->size == it->size && fl->mtime_ns == it->mtime_ns &&
		    fl->ctime_ns == it->ctime_ns) {
			fl->seen = lib->gen;
			return;
		}
		lib_failed_drop(lib, fl); /* changed: try again */
	}
	if (lib->st.files + lib->njobs >= lib->max_files) {
		if (!lib->full_warned)
			log_warn("library: more than %u files in %s; the rest "
				 "are not shared",
			    lib->max_files, lib->dir);
		lib->full_warned = 1;
		return;
	}
	if (it->cached) {
		f = lib_file_new(it->path, it->size, it->mtime_ns, it->md5,
		    it->sha1, it->nparts, it->parts);
		it->path = NULL;
		it->parts = NULL;
		lib->st.cached_files++;
		lib_list(lib, f);
		return;
	}
	lib_job_add(lib, it);
}

/*
 * Whatever the scan did not see is gone: collect the files (their removal,
 * which tells subscribers, runs in slices), forget the rest at once.
 */
static void
lib_sweep(struct library *lib, struct lib_scan *sc)
{
	struct lib_node *n, *nx;
	size_t i, cap = 0;

	LIB_TABLE_FOREACH(&lib->files, i, n, nx)
	{
		struct lib_file *f = LIB_CONTAINER(n, struct lib_file, by_path);

		if (f->seen == lib->gen)
			continue;
		if (sc->ngone == cap) {
			cap = cap ? cap * 2 : 64;
			sc->gone = xreallocarray(
			    sc->gone, cap, sizeof(*sc->gone));
		}
		sc->gone[sc->ngone++] = library_file_ref(&f->pub);
	}
	LIB_TABLE_FOREACH(&lib->jobs, i, n, nx)
	{
		struct lib_job *j = LIB_CONTAINER(n, struct lib_job, node);

		if (j->seen != lib->gen && !j->running)
			lib_job_drop(lib, j);
	}
	LIB_TABLE_FOREACH(&lib->failed, i, n, nx)
	{
		struct lib_failed *fl = LIB_CONTAINER(
		    n, struct lib_failed, node);

		if (fl->seen != lib->gen)
			lib_failed_drop(lib, fl);
	}
	LIB_TABLE_FOREACH(&lib->watches, i, n, nx)
	{
		struct lib_watch *w = LIB_CONTAINER(n, struct lib_watch, node);

		if (w->seen != lib->gen)
			lib_watch_remove(lib, w);
	}
}

/* The scan is over: count it, free it, start what it queued. */
static void
lib_scan_end(struct library *lib, struct lib_scan *sc)
{
	lib->st.scans++;
	/* Changes between the walk and the new watchers were missed. */
	if (sc->added)
		lib->rescan_wanted = 1;
	lib->scan = NULL;
	lib->first_done = 1;
	lib_scan_free(sc);
	lib_pump(lib);
	lib_check_ready(lib);
	if (lib->rescan_wanted) {
		lib->rescan_wanted = 0;
		lib_poke(lib, LIB_DEBOUNCE_MS);
	}
}

/*
 * One slice of a reconcile, from the idle handle: a scan of 100k files
 * lets the loop serve other handles between slices of LIB_SLICE entries.
 */
static void
lib_slice_cb(uv_idle_t *h)
{
	struct library *lib = h->data;
	struct lib_scan *sc = lib->scan;
	size_t end;

	assert(sc != NULL && sc->phase != LIB_PHASE_WALK);
	if (sc->phase == LIB_PHASE_ITEMS) {
		end = sc->nitems - sc->pos < LIB_SLICE ? sc->nitems
						       : sc->pos + LIB_SLICE;
		while (sc->pos < end && !lib->closing)
			lib_reconcile_item(lib, &sc->items[sc->pos++]);
		lib_pump(lib); /* hash while the rest is compared */
		if (lib->closing || sc->pos < sc->nitems)
			return;
		lib_sweep(lib, sc);
		sc->phase = LIB_PHASE_GONE;
		sc->pos = 0;
	}
	end = sc->ngone - sc->pos < LIB_SLICE ? sc->ngone : sc->pos + LIB_SLICE;
	while (sc->pos < end && !lib->closing) {
		struct library_file *f = sc->gone[sc->pos];
		struct lib_file *lf = LIB_CONTAINER(f, struct lib_file, pub);

		sc->gone[sc->pos++] = NULL;
		/* Still listed and still not seen (a job may have re-listed). */
		if (f->shared && lf->seen != lib->gen)
			lib_unlist(lib, lf);
		library_file_unref(f);
	}
	if (lib->closing || sc->pos < sc->ngone)
		return;
	uv_idle_stop(h);
	lib_scan_end(lib, sc);
}

static void
lib_scan_done(uv_work_t *req, int status)
{
	struct lib_scan *sc = LIB_CONTAINER(req, struct lib_scan, req);
	struct library *lib = sc->lib;

	lib->inflight--;
	if (lib->closing || status != 0 || sc->cancelled) {
		lib->scan = NULL;
		lib_scan_free(sc);
		lib_maybe_finish(lib);
		return;
	}
	if (sc->err != 0) {
		log_warn("library: cannot read the shared folder %s: %s",
		    lib->dir, uv_strerror(sc->err));
		lib_scan_end(lib, sc);
		return;
	}
	if (sc->load_cache)
		lib->cache_loaded = 1;
	if (sc->truncated && !lib->full_warned)
		log_warn("library: more than %u files in %s; the rest are not "
			 "shared",
		    lib->max_files, lib->dir);
	lib->full_warned |= sc->truncated;

	lib->gen++;
	/* Rows of files gone while we were not running. */
	for (size_t i = 0; i < sc->nprune; i++) {
		lib_op_del(lib, sc->prune[i]);
		sc->prune[i] = NULL;
	}
	/* Watch first: a change during the reconcile then still counts. */
	for (size_t i = 0; i < sc->ndirs; i++)
		sc->added |= lib_watch_add(lib, sc->dirs[i]);
	sc->phase = LIB_PHASE_ITEMS;
	sc->pos = 0;
	uv_idle_start(&lib->slicer, lib_slice_cb);
}

/* Start a scan now, or right after the one in flight. */
static void
lib_scan_request(struct library *lib)
{
	struct lib_scan *sc;
	int err;

	if (lib->closing)
		return;
	if (lib->scan != NULL) {
		lib->rescan_wanted = 1;
		return;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->lib = lib;
	sc->load_cache = !lib->cache_loaded;
	sc->max_items = lib->max_files;
	err = uv_queue_work(lib->loop, &sc->req, lib_scan_work, lib_scan_done);
	if (err != 0) {
		log_error("library: cannot queue a scan: %s", uv_strerror(err));
		lib_scan_free(sc);
		return;
	}
	lib->scan = sc;
	lib->inflight++;
}

static void
lib_debounce_cb(uv_timer_t *t)
{
	lib_scan_request(t->data);
}

static void
lib_rescan_cb(uv_timer_t *t)
{
	lib_scan_request(t->data);
}

/* ---- public ---- */

/* Default parallel jobs: one per core, leaving a pool thread for others. */
static unsigned
lib_default_jobs(void)
{
	unsigned ncpu = uv_available_parallelism();
	const char *env = getenv("UV_THREADPOOL_SIZE");
	unsigned long pool = 4; /* libuv's default */
	char *end;

	if (env != NULL && *env != '\0') {
		errno = 0;
		pool = strtoul(env, &end, 10);
		if (errno != 0 || *end != '\0' || pool == 0)
			pool = 4;
	}
	if (pool > 1 && ncpu > pool - 1)
		ncpu = (unsigned)(pool - 1);
	return ncpu > 0 ? ncpu : 1;
}

struct library *
library_new(
    uv_loop_t *loop, struct sqlite3 *db, const struct library_opts *opts)
{
	struct library *lib;
	sqlite3_stmt *put = NULL, *load = NULL, *del = NULL;
	struct stat st;
	char *dir;

	if (opts == NULL || opts->dir == NULL || opts->dir[0] == '\0') {
		log_error("library: no shared folder given");
		return NULL;
	}
	if ((dir = realpath(opts->dir, NULL)) == NULL) {
		log_error("library: cannot use shared folder %s: %s", opts->dir,
		    strerror(errno));
		return NULL;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_error("library: shared folder %s is not a directory", dir);
		goto fail_dir;
	}
	if (db_migrate(db, "library", 1, LIB_SCHEMA) != 0)
		goto fail_dir;
	if (sqlite3_prepare_v2(db,
		"INSERT OR REPLACE INTO library_file"
		"(path, size, mtime_ns, md5, sha1, parts) "
		"VALUES (?, ?, ?, ?, ?, ?)",
		-1, &put, NULL) != SQLITE_OK)
		goto fail_sql;
	if (sqlite3_prepare_v2(db,
		"SELECT path, size, mtime_ns, md5, sha1, parts "
		"FROM library_file",
		-1, &load, NULL) != SQLITE_OK)
		goto fail_sql;
	if (sqlite3_prepare_v2(db, "DELETE FROM library_file WHERE path = ?",
		-1, &del, NULL) != SQLITE_OK)
		goto fail_sql;

	lib = xcalloc(1, sizeof(*lib));
	lib->loop = loop;
	lib->db = db;
	lib->st_put = put;
	lib->st_load = load;
	lib->st_del = del;
	lib->dir = dir;
	lib->rescan_ms = opts->rescan_ms ? opts->rescan_ms : LIB_RESCAN_MS;
	lib->hash_jobs = opts->hash_jobs ? opts->hash_jobs : lib_default_jobs();
	lib->max_files = opts->max_files ? opts->max_files : LIB_MAX_FILES;
	lib_table_init(&lib->files);
	lib_table_init(&lib->md5s);
	lib_table_init(&lib->jobs);
	lib_table_init(&lib->failed);
	lib_table_init(&lib->watches);
	uv_timer_init(loop, &lib->debounce);
	lib->debounce.data = lib;
	uv_timer_init(loop, &lib->rescan);
	lib->rescan.data = lib;
	uv_idle_init(loop, &lib->slicer);
	lib->slicer.data = lib;
	lib->handles = 3;
	return lib;

fail_sql:
	log_error("library: cannot prepare statements: %s", sqlite3_errmsg(db));
	sqlite3_finalize(del);
	sqlite3_finalize(load);
	sqlite3_finalize(put);
fail_dir:
	free(dir);
	return NULL;
}

int
library_start(struct library *lib)
{
	int err;

	if (lib->closing || lib->started)
		return -EINVAL;
	lib->started = 1;
	err = uv_timer_start(
	    &lib->rescan, lib_rescan_cb, lib->rescan_ms, lib->rescan_ms);
	if (err != 0)
		return err;
	log_info("library: scanning %s with %u hashing jobs", lib->dir,
	    lib->hash_jobs);
	lib_scan_request(lib);
	return 0;
}

void
library_subscribe(struct library *lib, library_cb cb, void *arg)
{
	lib->subs = xreallocarray(
	    lib->subs, lib->nsubs + 1, sizeof(*lib->subs));
	lib->subs[lib->nsubs].cb = cb;
	lib->subs[lib->nsubs].arg = arg;
	lib->nsubs++;
}

void
library_foreach(struct library *lib,
    void (*fn)(void *arg, const struct library_file *f), void *arg)
{
	struct lib_node *n, *nx;
	size_t i;

	LIB_TABLE_FOREACH(&lib->files, i, n, nx)
	{
		fn(arg, &LIB_CONTAINER(n, struct lib_file, by_path)->pub);
	}
}

const struct library_file *
library_find(struct library *lib, const char *md5)
{
	struct lib_node *n = lib_table_find(&lib->md5s, md5);

	return n != NULL ? &LIB_CONTAINER(n, struct lib_file, by_md5)->pub
			 : NULL;
}

void
library_touch(struct library *lib, const char *path)
{
	struct lib_node *n;

	if (lib->closing || path == NULL)
		return;
	/*
	 * A debounced rescan re-examines the path with everything else. The
	 * path is not checked against the folder: callers may spell it
	 * through a symlink or relative to the working directory, and
	 * resolving it would be disk I/O on the loop; a needless rescan
	 * costs a walk on the pool. A file that failed is tried again even
	 * if it looks unchanged.
	 */
	if ((n = lib_table_find(&lib->failed, path)) != NULL)
		lib_failed_drop(lib, LIB_CONTAINER(n, struct lib_failed, node));
	lib_poke(lib, LIB_DEBOUNCE_MS);
}

int
library_ready(const struct library *lib)
{
	return lib->ready;
}

void
library_on_ready(struct library *lib, void (*fn)(void *arg), void *arg)
{
	lib->ready_fn = fn;
	lib->ready_arg = arg;
	if (lib->ready && fn != NULL)
		fn(arg);
}

void
library_stats(const struct library *lib, struct library_stats *out)
{
	*out = lib->st;
	out->pending = lib->njobs;
}

const char *
library_dir(const struct library *lib)
{
	return lib->dir;
}

/* Free everything once no worker and no handle refers to lib. */
static void
lib_maybe_finish(struct library *lib)
{
	void (*done)(void *arg);
	void *arg;
	struct lib_node *n, *nx;
	size_t i;

	if (!lib->closing || lib->inflight > 0 || lib->handles > 0)
		return;
	assert(lib->running == 0 && lib->qhead == NULL && lib->writer == NULL);
	if (lib->scan != NULL) /* closed during a reconcile */
		lib_scan_free(lib->scan);
	LIB_TABLE_FOREACH(&lib->files, i, n, nx)
	{
		struct lib_file *f = LIB_CONTAINER(n, struct lib_file, by_path);

		f->pub.shared = 0;
		library_file_unref(&f->pub);
	}
	LIB_TABLE_FOREACH(&lib->failed, i, n, nx)
	{
		struct lib_failed *fl = LIB_CONTAINER(
		    n, struct lib_failed, node);

		free(fl->path);
		free(fl);
	}
	lib_table_release(&lib->files);
	lib_table_release(&lib->md5s);
	lib_table_release(&lib->jobs);
	lib_table_release(&lib->failed);
	lib_table_release(&lib->watches);
	lib_ops_free(lib->ops, lib->nops); /* only if queueing failed */
	free(lib->subs);
	sqlite3_finalize(lib->st_put);
	sqlite3_finalize(lib->st_load);
	sqlite3_finalize(lib->st_del);
	free(lib->dir);
	done = lib->done_fn;
	arg = lib->done_arg;
	free(lib);
	if (done != NULL)
		done(arg);
}

void
library_close(struct library *lib, void (*done)(void *arg), void *arg)
{
	struct lib_node *n, *nx;
	size_t i;

	assert(!lib->closing);
	lib->closing = 1;
	lib->cancel = 1;
	lib->done_fn = done;
	lib->done_arg = arg;
	if (lib->scan != NULL && lib->scan->phase == LIB_PHASE_WALK)
		uv_cancel((uv_req_t *)&lib->scan->req);
	LIB_TABLE_FOREACH(&lib->jobs, i, n, nx)
	{
		struct lib_job *j = LIB_CONTAINER(n, struct lib_job, node);

		if (j->running)
			uv_cancel((uv_req_t *)&j->req); /* or it sees cancel */
		else
			lib_job_drop(lib, j);
	}
	LIB_TABLE_FOREACH(&lib->watches, i, n, nx)
	{
		lib_watch_remove(lib, LIB_CONTAINER(n, struct lib_watch, node));
	}
	uv_close((uv_handle_t *)&lib->debounce, lib_handle_closed);
	uv_close((uv_handle_t *)&lib->rescan, lib_handle_closed);
	uv_close((uv_handle_t *)&lib->slicer, lib_handle_closed);
	lib_flush(lib); /* keep what was hashed; close waits for it */
	/* The timers' close callbacks run later: done is never called here. */
}
