/*
 * library.h: the shared-file library. It scans a shared folder
 * (recursively; hidden files and *.part skipped), hashes each file once
 * (MD5, SHA-1 and per-part SHA-1s, hash.h) on the libuv thread pool with
 * as many jobs at once as there are cores, caches the results in SQLite
 * keyed by path, size and mtime so a restart rehashes nothing unchanged,
 * notices added, changed and removed files (libuv fs events plus a periodic
 * rescan), and tells subscribers.
 */
#ifndef WARREN_STORE_LIBRARY_H
#define WARREN_STORE_LIBRARY_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct sqlite3;
struct library;

/*
 * One hashed, shared file. Immutable once published to subscribers; a file
 * that changes on disk is removed and a new library_file is added. The
 * library holds one reference while the file is shared; anyone who keeps
 * the pointer across loop iterations (an upload) takes its own with
 * library_file_ref() and drops it with library_file_unref().
 */
struct library_file {
	unsigned refs;     /* library's own + holders' */
	char *path;        /* absolute path, owned */
	const char *name;  /* base name inside path: what is shared */
	size_t name_len;   /* strlen(name) */
	uint64_t size;     /* bytes, as hashed */
	int64_t mtime_ns;  /* st_mtim at hashing time, nanoseconds */
	char md5[33];      /* lower-case hex */
	char sha1[41];     /* lower-case hex */
	uint32_t nparts;   /* ⌈size / HASH_PART_LEN⌉ */
	uint8_t *parts;    /* nparts × 20-byte SHA-1, owned */
	int name_too_long; /* name_len > 100: listed and hashed, but cannot be
			      announced over the course protocols */
	int shared;        /* 1 while in the library, 0 once removed */
};

enum library_event {
	LIBRARY_ADDED,   /* a new file finished hashing (or came from cache) */
	LIBRARY_REMOVED, /* a file disappeared or changed (then ADDED follows) */
};

/* Called on the loop thread. f is borrowed for the duration of the call. */
typedef void (*library_cb)(
    void *arg, enum library_event ev, const struct library_file *f);

struct library_opts {
	const char *dir;    /* shared folder; copied */
	uint64_t rescan_ms; /* periodic rescan; 0 = default 60000 */
	unsigned hash_jobs; /* parallel hashing jobs; 0 = CPU count */
	unsigned max_files; /* bound on files listed; 0 = 1000000 */
};

struct library_stats {
	uint64_t files;         /* files currently listed (hashed) */
	uint64_t bytes;         /* their total size */
	uint64_t hashed_files;  /* files hashed since start (not cache hits) */
	uint64_t hashed_bytes;  /* bytes read for hashing since start */
	uint64_t cached_files;  /* files taken from the SQLite cache */
	uint64_t pending;       /* files waiting for or being hashed */
	uint64_t scans;         /* completed scans of the folder */
	uint64_t name_too_long; /* listed files whose name exceeds 100 bytes */
	uint64_t errors;        /* files that could not be read */
};

/*
 * Create a library over opts->dir using the database db (borrowed; must
 * outlive the library). Creates its table if needed. Does not scan yet.
 * Returns NULL (logged) if the folder or the table cannot be used.
 */
struct library *library_new(
    uv_loop_t *loop, struct sqlite3 *db, const struct library_opts *opts);

/* Start the first scan, the watchers and the rescan timer. 0 or < 0. */
int library_start(struct library *lib);

/*
 * Register a subscriber; every later ADDED/REMOVED is delivered to it.
 * Files already listed are not replayed: call library_foreach() for those.
 */
void library_subscribe(struct library *lib, library_cb cb, void *arg);

/* Call fn for every listed file, in no particular order. */
void library_foreach(struct library *lib,
    void (*fn)(void *arg, const struct library_file *f), void *arg);

/* The listed file with this lower-case hex md5, or NULL. Borrowed. */
const struct library_file *library_find(struct library *lib, const char *md5);

/*
 * Ask the library to look at one path now (a file just downloaded into the
 * shared folder, or a file an upload found changed): it is re-stat'ed and
 * hashed if new or changed, removed if gone.
 */
void library_touch(struct library *lib, const char *path);

/* True once the first scan and its hashing are complete. */
int library_ready(const struct library *lib);

/*
 * Called once when library_ready() becomes true (after the first scan), on
 * the loop thread; at once if it already is. Not called after
 * library_close().
 */
void library_on_ready(struct library *lib, void (*fn)(void *arg), void *arg);

void library_stats(const struct library *lib, struct library_stats *out);

/* The shared folder's absolute path. */
const char *library_dir(const struct library *lib);

/*
 * Take and drop a reference (loop thread only: the count is not atomic).
 * The last unref frees the file, even after library_close(). unref is
 * NULL-safe.
 */
struct library_file *library_file_ref(const struct library_file *f);
void library_file_unref(struct library_file *f);

/*
 * Stop scanning and watching, wait for hashing jobs in flight to notice
 * cancellation, close every handle, then call done(arg) and free lib. No
 * subscriber is called after library_close() returns.
 */
void library_close(struct library *lib, void (*done)(void *arg), void *arg);

#endif
