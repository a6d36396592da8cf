/*
 * test_library.c: the shared-file library against a real temp folder, a
 * real SQLite file and a real libuv loop: what a scan lists and skips, the
 * hashes (checked against hash_md5/hash_sha1 over the same bytes), the
 * cache across restarts, watcher events, reference counts and closing.
 */
#define _XOPEN_SOURCE 700 /* nftw() */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "store/db.h"
#include "store/hash.h"
#include "store/library.h"

#define WAIT_MS 20000 /* generous: ASan and a busy CI machine */

struct ev {
	enum library_event ev;
	char *path;
	char md5[33];
};

struct fx {
	char tmp[64];          /* mkdtemp */
	char share[PATH_MAX];  /* tmp/share, as created */
	char real[PATH_MAX];   /* realpath(share): what the library reports */
	char dbpath[PATH_MAX]; /* tmp/node.db, outside the shared folder */
	uv_loop_t loop;
	uv_timer_t deadline; /* fails a wait that takes too long */
	int expired;
	sqlite3 *db;
	struct library *lib;
	int ready;  /* on_ready calls */
	int closed; /* done calls */
	struct ev *evs;
	size_t nevs, evs_cap;
};

/* ---- fixture ---- */

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/warren-lib-XXXXXX");
	assert_non_null(mkdtemp(fx->tmp));
	snprintf(fx->share, sizeof(fx->share), "%s/share", fx->tmp);
	snprintf(fx->dbpath, sizeof(fx->dbpath), "%s/node.db", fx->tmp);
	assert_int_equal(mkdir(fx->share, 0755), 0);
	assert_non_null(realpath(fx->share, fx->real));
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	assert_int_equal(uv_timer_init(&fx->loop, &fx->deadline), 0);
	fx->deadline.data = fx;
	assert_int_equal(db_open(fx->dbpath, &fx->db), 0);
	*state = fx;
	return 0;
}

static void
closed_cb(void *arg)
{
	struct fx *fx = arg;

	fx->closed++;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->lib != NULL) { /* a failed test left it open */
		library_close(fx->lib, closed_cb, fx);
		fx->lib = NULL;
		while (fx->closed == 0)
			uv_run(&fx->loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&fx->deadline, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	/* Every handle the library opened is closed: the loop closes. */
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	db_close(fx->db);
	for (size_t i = 0; i < fx->nevs; i++)
		free(fx->evs[i].path);
	free(fx->evs);
	chmod(fx->share, 0755);
	nftw(fx->tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* ---- loop driving ---- */

static void
deadline_cb(uv_timer_t *t)
{
	struct fx *fx = t->data;

	fx->expired = 1;
}

typedef int (*pred_fn)(struct fx *fx, const void *arg);

/* Run the loop until pred holds; fail the test after ms. */
static void
run_until(struct fx *fx, pred_fn pred, const void *arg, const char *what)
{
	fx->expired = 0;
	uv_timer_start(&fx->deadline, deadline_cb, WAIT_MS, 0);
	while (!pred(fx, arg) && !fx->expired)
		uv_run(&fx->loop, UV_RUN_ONCE);
	uv_timer_stop(&fx->deadline);
	if (!pred(fx, arg))
		fail_msg("timed out after %d ms waiting for %s", WAIT_MS, what);
}

static int
is_ready(struct fx *fx, const void *arg)
{
	(void)arg;
	return fx->ready > 0;
}

static int
is_closed(struct fx *fx, const void *arg)
{
	(void)arg;
	return fx->closed > 0;
}

/* ---- library wiring ---- */

static void
sub_cb(void *arg, enum library_event ev, const struct library_file *f)
{
	struct fx *fx = arg;
	struct ev *e;

	if (fx->nevs == fx->evs_cap) {
		fx->evs_cap = fx->evs_cap ? fx->evs_cap * 2 : 64;
		fx->evs = realloc(fx->evs, fx->evs_cap * sizeof(*fx->evs));
		assert_non_null(fx->evs);
	}
	e = &fx->evs[fx->nevs++];
	e->ev = ev;
	e->path = strdup(f->path);
	assert_non_null(e->path);
	memcpy(e->md5, f->md5, sizeof(e->md5));
	/* The contract: ADDED files are shared, REMOVED ones are not. */
	assert_int_equal(f->shared, ev == LIBRARY_ADDED);
}

static void
ready_cb(void *arg)
{
	struct fx *fx = arg;

	fx->ready++;
}

static void
lib_open(struct fx *fx, uint64_t rescan_ms, unsigned jobs, unsigned max)
{
	struct library_opts o = {.dir = fx->share,
	    .rescan_ms = rescan_ms,
	    .hash_jobs = jobs,
	    .max_files = max};

	fx->ready = 0;
	fx->closed = 0;
	fx->lib = library_new(&fx->loop, fx->db, &o);
	assert_non_null(fx->lib);
	assert_string_equal(library_dir(fx->lib), fx->real);
	library_subscribe(fx->lib, sub_cb, fx);
	library_on_ready(fx->lib, ready_cb, fx);
	assert_false(library_ready(fx->lib));
	assert_int_equal(library_start(fx->lib), 0);
}

static void
lib_open_ready(struct fx *fx, uint64_t rescan_ms, unsigned jobs, unsigned max)
{
	lib_open(fx, rescan_ms, jobs, max);
	run_until(fx, is_ready, NULL, "the first scan");
	assert_true(library_ready(fx->lib));
	assert_int_equal(fx->ready, 1);
}

static void
lib_close(struct fx *fx)
{
	size_t nevs = fx->nevs;

	library_close(fx->lib, closed_cb, fx);
	fx->lib = NULL;
	assert_int_equal(fx->closed, 0); /* done comes later, from the loop */
	run_until(fx, is_closed, NULL, "library_close");
	assert_int_equal(fx->closed, 1);
	assert_int_equal(fx->nevs, nevs); /* nothing after close */
}

static void
stats(struct fx *fx, struct library_stats *st)
{
	library_stats(fx->lib, st);
}

/* ---- files ---- */

static void
abs_path(struct fx *fx, const char *rel, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", fx->real, rel);

	assert_true(n > 0 && (size_t)n < cap);
}

/* Deterministic bytes; the caller frees. */
static uint8_t *
content(size_t len, unsigned seed)
{
	uint8_t *b = malloc(len ? len : 1);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed * 131 + i * 31 + i / 7);
	return b;
}

static void
put_file(struct fx *fx, const char *rel, const uint8_t *buf, size_t len)
{
	char path[PATH_MAX];
	int fd;

	abs_path(fx, rel, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (len > 0)
		assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Write len bytes from seed at rel; md5 (hex) of them to md5 if not NULL. */
static void
make_file(struct fx *fx, const char *rel, size_t len, unsigned seed, char *md5)
{
	uint8_t *b = content(len, seed);
	uint8_t d[HASH_MD5_LEN];

	put_file(fx, rel, b, len);
	if (md5 != NULL) {
		hash_md5(b, len, d);
		hash_hex(d, HASH_MD5_LEN, md5);
	}
	free(b);
}

static void
make_dir(struct fx *fx, const char *rel)
{
	char path[PATH_MAX];

	abs_path(fx, rel, path, sizeof(path));
	assert_int_equal(mkdir(path, 0755), 0);
}

static void
remove_file(struct fx *fx, const char *rel)
{
	char path[PATH_MAX];

	abs_path(fx, rel, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
}

struct lookup {
	const char *path;
	const struct library_file *f;
	size_t count;
};

static void
lookup_fn(void *arg, const struct library_file *f)
{
	struct lookup *l = arg;

	l->count++;
	if (strcmp(f->path, l->path) == 0)
		l->f = f;
}

/* The listed file at rel, or NULL. */
static const struct library_file *
listed(struct fx *fx, const char *rel)
{
	char path[PATH_MAX];
	struct lookup l = {.path = path};

	abs_path(fx, rel, path, sizeof(path));
	library_foreach(fx->lib, lookup_fn, &l);
	return l.f;
}

static size_t
count_listed(struct fx *fx)
{
	struct lookup l = {.path = ""};

	library_foreach(fx->lib, lookup_fn, &l);
	return l.count;
}

/* Check f's hashes against an independent computation over the bytes. */
static void
check_hashes(const struct library_file *f, const uint8_t *b, size_t len)
{
	uint8_t d[HASH_SHA1_LEN];
	char hex[2 * HASH_SHA1_LEN + 1];
	size_t nparts = (len + HASH_PART_LEN - 1) / HASH_PART_LEN;

	assert_non_null(f);
	assert_int_equal(f->size, len);
	hash_md5(b, len, d);
	hash_hex(d, HASH_MD5_LEN, hex);
	assert_string_equal(f->md5, hex);
	hash_sha1(b, len, d);
	hash_hex(d, HASH_SHA1_LEN, hex);
	assert_string_equal(f->sha1, hex);
	assert_int_equal(f->nparts, nparts);
	for (size_t i = 0; i < nparts; i++) {
		size_t off = i * HASH_PART_LEN;
		size_t n = len - off < HASH_PART_LEN ? len - off
						     : HASH_PART_LEN;

		hash_sha1(b + off, n, d);
		assert_memory_equal(
		    f->parts + i * HASH_SHA1_LEN, d, HASH_SHA1_LEN);
	}
}

/* ---- events ---- */

struct want {
	enum library_event ev;
	const char *rel;
	size_t from; /* first event index to look at */
};

static long
find_ev(struct fx *fx, enum library_event ev, const char *rel, size_t from)
{
	char path[PATH_MAX];

	abs_path(fx, rel, path, sizeof(path));
	for (size_t i = from; i < fx->nevs; i++) {
		if (fx->evs[i].ev == ev && strcmp(fx->evs[i].path, path) == 0)
			return (long)i;
	}
	return -1;
}

static int
has_ev(struct fx *fx, const void *arg)
{
	const struct want *w = arg;

	return find_ev(fx, w->ev, w->rel, w->from) >= 0;
}

static long
wait_ev(struct fx *fx, enum library_event ev, const char *rel, size_t from)
{
	struct want w = {ev, rel, from};
	char what[PATH_MAX + 32];

	snprintf(what, sizeof(what), "%s of %s",
	    ev == LIBRARY_ADDED ? "ADDED" : "REMOVED", rel);
	run_until(fx, has_ev, &w, what);
	return find_ev(fx, ev, rel, from);
}

static size_t
count_ev(struct fx *fx, enum library_event ev)
{
	size_t n = 0;

	for (size_t i = 0; i < fx->nevs; i++)
		n += fx->evs[i].ev == ev;
	return n;
}

/* ---- tests ---- */

#define LONG_NAME                                                              \
	"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn" \
	"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn.bin"
#define ODD_NAME "odd\n\x01\xff %s name"

static const char *const listed_rels[] = {"a.bin", "empty", "one",
    "sub/deeper/c.txt", "sub/dup", LONG_NAME, ODD_NAME};
#define NLISTED (sizeof(listed_rels) / sizeof(listed_rels[0]))

/* The folder of the first test: seven shared files and some that are not. */
static void
make_tree(struct fx *fx)
{
	char path[PATH_MAX], target[PATH_MAX];

	make_file(fx, "a.bin", 600000, 1, NULL);
	make_file(fx, "empty", 0, 0, NULL);
	make_file(fx, "one", 1, 2, NULL);
	make_dir(fx, "sub");
	make_dir(fx, "sub/deeper");
	make_file(fx, "sub/deeper/c.txt", 1000, 3, NULL);
	make_file(fx, "sub/dup", 1, 2, NULL); /* same bytes as "one" */
	make_file(fx, LONG_NAME, 10, 4, NULL);
	make_file(fx, ODD_NAME, 20, 5, NULL);
	/* Not shared: hidden, partial downloads, symlinks, a fifo. */
	make_file(fx, ".hidden", 10, 6, NULL);
	make_dir(fx, ".hiddendir");
	make_file(fx, ".hiddendir/inside", 10, 7, NULL);
	make_file(fx, "dl.part", 10, 8, NULL);
	make_file(fx, "sub/deeper/x.part", 10, 9, NULL);
	abs_path(fx, "a.bin", target, sizeof(target));
	abs_path(fx, "link", path, sizeof(path));
	assert_int_equal(symlink(target, path), 0);
	abs_path(fx, "linkdir", path, sizeof(path));
	assert_int_equal(symlink(fx->tmp, path), 0); /* out of the folder */
	abs_path(fx, "fifo", path, sizeof(path));
	assert_int_equal(mkfifo(path, 0644), 0);
}

static void
test_scan_cache(void **state)
{
	struct fx *fx = *state;
	struct library_stats st;
	const struct library_file *f, *g;
	char one_md5[33], path[PATH_MAX];
	uint8_t *b;
	sqlite3_stmt *q;

	assert_int_equal(strlen(LONG_NAME), 120);
	make_tree(fx);

	/* First start: everything is hashed. */
	lib_open_ready(fx, 0, 0, 0);
	stats(fx, &st);
	assert_int_equal(st.files, NLISTED);
	assert_int_equal(st.hashed_files, NLISTED);
	assert_int_equal(st.cached_files, 0);
	assert_int_equal(st.name_too_long, 1);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.pending, 0);
	assert_true(st.scans >= 1);
	assert_int_equal(st.bytes, 600000 + 0 + 1 + 1000 + 1 + 10 + 20);
	assert_true(st.hashed_bytes >= st.bytes);
	assert_int_equal(count_listed(fx), NLISTED);
	assert_int_equal(count_ev(fx, LIBRARY_ADDED), NLISTED);
	assert_int_equal(count_ev(fx, LIBRARY_REMOVED), 0);
	for (size_t i = 0; i < NLISTED; i++) {
		f = listed(fx, listed_rels[i]);
		assert_non_null(f);
		assert_int_equal(f->shared, 1);
		assert_int_equal(f->name_len, strlen(f->name));
		assert_int_equal(f->name_too_long, f->name_len > 100);
		assert_ptr_equal(f->name, strrchr(f->path, '/') + 1);
	}
	assert_true(listed(fx, LONG_NAME)->name_too_long);
	assert_int_equal(listed(fx, LONG_NAME)->name_len, 120);

	/* Hashes against independent computations and known vectors. */
	b = content(600000, 1);
	check_hashes(listed(fx, "a.bin"), b, 600000);
	assert_int_equal(listed(fx, "a.bin")->nparts, 3);
	free(b);
	b = content(1000, 3);
	check_hashes(listed(fx, "sub/deeper/c.txt"), b, 1000);
	free(b);
	b = content(1, 2);
	check_hashes(listed(fx, "one"), b, 1);
	assert_int_equal(listed(fx, "one")->nparts, 1);
	free(b);
	f = listed(fx, "empty");
	assert_string_equal(f->md5, "d41d8cd98f00b204e9800998ecf8427e");
	assert_string_equal(
	    f->sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	assert_int_equal(f->nparts, 0);
	assert_int_equal(f->size, 0);

	/* Not shared. */
	assert_null(listed(fx, ".hidden"));
	assert_null(listed(fx, ".hiddendir/inside"));
	assert_null(listed(fx, "dl.part"));
	assert_null(listed(fx, "sub/deeper/x.part"));
	assert_null(listed(fx, "link"));
	assert_null(listed(fx, "fifo"));
	assert_null(listed(fx, "linkdir/node.db"));

	/* find by md5; two paths share one md5. */
	f = listed(fx, "a.bin");
	assert_ptr_equal(library_find(fx->lib, f->md5), f);
	g = library_find(fx->lib, listed(fx, "one")->md5);
	assert_true(g == listed(fx, "one") || g == listed(fx, "sub/dup"));
	assert_null(library_find(fx->lib, "00000000000000000000000000000000"));
	snprintf(one_md5, sizeof(one_md5), "%s", listed(fx, "one")->md5);
	lib_close(fx);

	/* Restart over the same database: nothing is read again. */
	lib_open_ready(fx, 0, 0, 0);
	stats(fx, &st);
	assert_int_equal(st.hashed_files, 0);
	assert_int_equal(st.hashed_bytes, 0);
	assert_int_equal(st.cached_files, NLISTED);
	assert_int_equal(st.files, NLISTED);
	assert_int_equal(st.name_too_long, 1);
	b = content(600000, 1);
	check_hashes(listed(fx, "a.bin"), b, 600000);
	free(b);
	f = listed(fx, "empty");
	assert_string_equal(f->md5, "d41d8cd98f00b204e9800998ecf8427e");
	assert_int_equal(f->nparts, 0);
	assert_string_equal(listed(fx, "one")->md5, one_md5);
	lib_close(fx);

	/* One changed (size), one new, one gone: exactly two hashed. */
	make_file(fx, "one", 2, 2, NULL);
	make_file(fx, "new.bin", 5000, 10, NULL);
	remove_file(fx, "sub/deeper/c.txt");
	lib_open_ready(fx, 0, 0, 0);
	stats(fx, &st);
	assert_int_equal(st.hashed_files, 2);
	assert_int_equal(st.cached_files, NLISTED - 2);
	assert_int_equal(st.files, NLISTED);
	assert_null(listed(fx, "sub/deeper/c.txt"));
	b = content(2, 2);
	check_hashes(listed(fx, "one"), b, 2);
	free(b);
	b = content(5000, 10);
	check_hashes(listed(fx, "new.bin"), b, 5000);
	free(b);
	lib_close(fx);

	/* The gone file's row was deleted; the others are cached. */
	assert_int_equal(sqlite3_prepare_v2(fx->db,
			     "SELECT count(*), sum(path = ?) FROM library_file",
			     -1, &q, NULL),
	    SQLITE_OK);
	abs_path(fx, "sub/deeper/c.txt", path, sizeof(path));
	sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), NLISTED);
	assert_int_equal(sqlite3_column_int(q, 1), 0);
	sqlite3_finalize(q);
}

static int
scans_settled(struct fx *fx, const void *arg)
{
	struct library_stats st;

	(void)arg;
	stats(fx, &st);
	return st.scans >= 2 && st.pending == 0;
}

struct settle {
	uint64_t scans; /* at least this many scans completed */
};

static int
scans_done(struct fx *fx, const void *arg)
{
	const struct settle *w = arg;
	struct library_stats st;

	stats(fx, &st);
	return st.scans >= w->scans && st.pending == 0;
}

static void
test_watch(void **state)
{
	struct fx *fx = *state;
	struct library_stats st;
	struct library_file *held;
	const struct library_file *f;
	char one_md5[33], new_md5[33], path[PATH_MAX];
	long rm, add;
	size_t mark;
	struct settle settle;

	make_file(fx, "a", 100, 1, NULL);
	make_file(fx, "one", 1, 2, one_md5);
	make_dir(fx, "sub");
	make_file(fx, "sub/dup", 1, 2, NULL);
	make_file(fx, "sub/keep", 10, 3, NULL);

	/* An hour between periodic rescans: only the watchers can tell. */
	lib_open_ready(fx, 3600000, 0, 0);
	/* The library rescans once after adding its watchers (a change
	 * between its walk and its watchers would be lost otherwise); wait
	 * for that, so that what follows can only be seen by a watcher. */
	run_until(fx, scans_settled, NULL, "the follow-up scan");
	stats(fx, &st);
	assert_int_equal(st.files, 4);

	/* A new file. */
	mark = fx->nevs;
	make_file(fx, "sub/new.txt", 777, 4, new_md5);
	wait_ev(fx, LIBRARY_ADDED, "sub/new.txt", mark);
	f = listed(fx, "sub/new.txt");
	assert_non_null(f);
	assert_string_equal(f->md5, new_md5);

	/* A removed file that an upload still holds; its twin stays. */
	held = library_file_ref(listed(fx, "sub/dup"));
	assert_int_equal(held->refs, 2);
	mark = fx->nevs;
	remove_file(fx, "sub/dup");
	wait_ev(fx, LIBRARY_REMOVED, "sub/dup", mark);
	assert_int_equal(held->shared, 0);
	assert_int_equal(held->refs, 1);
	abs_path(fx, "sub/dup", path, sizeof(path));
	assert_string_equal(held->path, path); /* still valid */
	assert_string_equal(held->md5, one_md5);
	f = library_find(fx->lib, one_md5);
	assert_non_null(f);
	assert_ptr_equal(f, listed(fx, "one"));
	library_file_unref(held);

	/* A changed file: REMOVED of the old entry, then ADDED. */
	mark = fx->nevs;
	make_file(fx, "one", 3, 5, new_md5);
	add = wait_ev(fx, LIBRARY_ADDED, "one", mark);
	rm = find_ev(fx, LIBRARY_REMOVED, "one", mark);
	assert_true(rm >= 0 && rm < add);
	assert_string_equal(fx->evs[rm].md5, one_md5);
	assert_string_equal(fx->evs[add].md5, new_md5);
	assert_null(library_find(fx->lib, one_md5));
	assert_ptr_equal(library_find(fx->lib, new_md5), listed(fx, "one"));

	/* A new directory gets a watcher; files in it are seen. */
	mark = fx->nevs;
	make_dir(fx, "newdir");
	make_file(fx, "newdir/f", 50, 6, NULL);
	wait_ev(fx, LIBRARY_ADDED, "newdir/f", mark);
	mark = fx->nevs;
	make_file(fx, "newdir/g", 60, 7, NULL);
	wait_ev(fx, LIBRARY_ADDED, "newdir/g", mark);

	/* A folder deleted and made again is watched again. */
	mark = fx->nevs;
	remove_file(fx, "newdir/f");
	remove_file(fx, "newdir/g");
	abs_path(fx, "newdir", path, sizeof(path));
	assert_int_equal(rmdir(path), 0);
	make_dir(fx, "newdir");
	make_file(fx, "newdir/h", 70, 12, NULL);
	wait_ev(fx, LIBRARY_REMOVED, "newdir/f", mark);
	wait_ev(fx, LIBRARY_REMOVED, "newdir/g", mark);
	wait_ev(fx, LIBRARY_ADDED, "newdir/h", mark);
	stats(fx, &st);
	settle.scans = st.scans + 1; /* the follow-up of the new watcher */
	run_until(fx, scans_done, &settle, "the follow-up scan");
	mark = fx->nevs;
	make_file(fx, "newdir/i", 80, 13, NULL);
	wait_ev(fx, LIBRARY_ADDED, "newdir/i", mark);

	/* Hidden and partial files make no event; a later file does. */
	mark = fx->nevs;
	make_file(fx, ".hidden2", 10, 8, NULL);
	make_file(fx, "newdir/x.part", 10, 9, NULL);
	make_file(fx, "marker", 10, 10, NULL);
	wait_ev(fx, LIBRARY_ADDED, "marker", mark);
	assert_int_equal(fx->nevs, mark + 1);

	/* Deletion. */
	mark = fx->nevs;
	remove_file(fx, "sub/new.txt");
	wait_ev(fx, LIBRARY_REMOVED, "sub/new.txt", mark);
	assert_null(listed(fx, "sub/new.txt"));

	/* library_touch() on a new path, and on one outside the folder. */
	mark = fx->nevs;
	make_file(fx, "touched", 10, 11, NULL);
	abs_path(fx, "touched", path, sizeof(path));
	library_touch(fx->lib, path);
	library_touch(fx->lib, "/etc/passwd");
	wait_ev(fx, LIBRARY_ADDED, "touched", mark);

	stats(fx, &st);
	/* a, one, sub/keep, newdir/h, newdir/i, marker, touched */
	assert_int_equal(st.files, 7);
	assert_int_equal(count_listed(fx), 7);
	assert_int_equal(st.errors, 0);
	lib_close(fx);
}

static int
has_added(struct fx *fx, const void *arg)
{
	(void)arg;
	return count_ev(fx, LIBRARY_ADDED) > 0;
}

/* Close while big files are being hashed: workers stop, nothing leaks. */
static void
test_close_while_hashing(void **state)
{
	struct fx *fx = *state;
	struct library_stats st;
	char name[32];

	make_file(fx, "small", 10, 1, NULL);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "big%d", i);
		make_file(fx, name, 16 * 1024 * 1024, (unsigned)i, NULL);
	}
	lib_open(fx, 0, 1, 0);
	run_until(fx, has_added, NULL, "a first file");
	stats(fx, &st);
	assert_true(st.pending > 0);
	assert_false(library_ready(fx->lib));
	lib_close(fx);
	assert_int_equal(fx->ready, 0); /* on_ready not called after close */
}

static int
has_pending(struct fx *fx, const void *arg)
{
	struct library_stats st;

	(void)arg;
	stats(fx, &st);
	return st.pending > 0;
}

/*
 * A file that grows while it is hashed: whatever the timing, the only
 * ADDED is for the final content (a stale hash is never listed).
 */
static void
test_changed_while_hashing(void **state)
{
	struct fx *fx = *state;
	const size_t len = 32 * 1024 * 1024;
	uint8_t *b = content(len, 3);
	uint8_t d[HASH_MD5_LEN], extra = 0x5a;
	char md5[33], path[PATH_MAX];
	struct hash h;
	long add;
	int fd;

	put_file(fx, "big", b, len);
	hash_init(&h, HASH_MD5);
	hash_update(&h, b, len);
	hash_update(&h, &extra, 1);
	hash_final(&h, d);
	hash_hex(d, HASH_MD5_LEN, md5);
	free(b);

	lib_open(fx, 3600000, 1, 0);
	run_until(fx, has_pending, NULL, "hashing to start");
	abs_path(fx, "big", path, sizeof(path));
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, &extra, 1), 1);
	assert_int_equal(close(fd), 0);
	add = wait_ev(fx, LIBRARY_ADDED, "big", 0);
	assert_string_equal(fx->evs[add].md5, md5);
	assert_int_equal(count_ev(fx, LIBRARY_ADDED), 1);
	assert_int_equal(listed(fx, "big")->size, len + 1);
	lib_close(fx);
}

/* Close before the first scan came back; close without start. */
static void
test_close_early(void **state)
{
	struct fx *fx = *state;
	struct library_opts o = {.dir = fx->share};

	make_file(fx, "f", 10, 1, NULL);
	lib_open(fx, 0, 0, 0);
	lib_close(fx);

	fx->closed = 0;
	fx->lib = library_new(&fx->loop, fx->db, &o);
	assert_non_null(fx->lib);
	lib_close(fx);

	o.dir = "/nonexistent/warren";
	assert_null(library_new(&fx->loop, fx->db, &o));
}

static void
close_cb(void *arg, enum library_event ev, const struct library_file *f)
{
	struct fx *fx = arg;

	(void)ev;
	(void)f;
	assert_non_null(fx->lib);
	library_close(fx->lib, closed_cb, fx);
	fx->lib = NULL;
}

/* A subscriber that closes the library from its callback, while files
 * are listed from the hashing jobs, then from the cache. */
static void
test_close_from_subscriber(void **state)
{
	struct fx *fx = *state;
	struct library_opts o = {.dir = fx->share};
	char name[32];

	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		make_file(fx, name, 100, (unsigned)i, NULL);
	}
	for (int round = 0; round < 3; round++) {
		size_t nevs = fx->nevs;

		fx->closed = 0;
		fx->lib = library_new(&fx->loop, fx->db, &o);
		assert_non_null(fx->lib);
		library_subscribe(fx->lib, close_cb, fx);
		library_subscribe(fx->lib, sub_cb, fx);
		assert_int_equal(library_start(fx->lib), 0);
		run_until(fx, is_closed, NULL, "a close from a subscriber");
		/* The second subscriber never heard of the first event. */
		assert_int_equal(fx->nevs, nevs);
	}
}

static void
test_max_files(void **state)
{
	struct fx *fx = *state;
	struct library_stats st;
	char name[32];

	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		make_file(fx, name, 10 + (size_t)i, (unsigned)i, NULL);
	}
	lib_open_ready(fx, 0, 0, 4);
	stats(fx, &st);
	assert_int_equal(st.files, 4);
	assert_int_equal(count_listed(fx), 4);
	lib_close(fx);
}

/* A few thousand files in a few dozen directories, then from cache. */
static void
test_many_files(void **state)
{
	struct fx *fx = *state;
	struct library_stats st;
	char name[64];
	const int ndirs = 30, nper = 100;

	for (int d = 0; d < ndirs; d++) {
		snprintf(name, sizeof(name), "d%d", d);
		make_dir(fx, name);
		for (int i = 0; i < nper; i++) {
			snprintf(name, sizeof(name), "d%d/f%d", d, i);
			make_file(fx, name, (size_t)(d + i) % 64,
			    (unsigned)(d * nper + i), NULL);
		}
	}
	lib_open_ready(fx, 0, 0, 0);
	stats(fx, &st);
	assert_int_equal(st.files, ndirs * nper);
	assert_int_equal(st.hashed_files, ndirs * nper);
	lib_close(fx);

	lib_open_ready(fx, 0, 0, 0);
	stats(fx, &st);
	assert_int_equal(st.files, ndirs * nper);
	assert_int_equal(st.hashed_files, 0);
	assert_int_equal(st.cached_files, ndirs * nper);
	lib_close(fx);
}

/* Unreadable files and folders are counted and skipped (not as root). */
static void
test_unreadable(void **state)
{
	struct fx *fx = *state;
	struct library_stats st;
	char path[PATH_MAX];
	size_t mark;

	if (geteuid() == 0)
		skip(); /* root reads everything */
	make_file(fx, "ok", 10, 1, NULL);
	make_file(fx, "secret", 10, 2, NULL);
	make_dir(fx, "closed");
	make_file(fx, "closed/inside", 10, 3, NULL);
	abs_path(fx, "secret", path, sizeof(path));
	assert_int_equal(chmod(path, 0), 0);
	abs_path(fx, "closed", path, sizeof(path));
	assert_int_equal(chmod(path, 0), 0);
	lib_open_ready(fx, 3600000, 0, 0);
	stats(fx, &st);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.errors, 2);
	assert_non_null(listed(fx, "ok"));
	assert_null(listed(fx, "secret"));

	/* Readable again (only ctime changes): the watcher sees it. */
	mark = fx->nevs;
	assert_int_equal(chmod(path, 0755), 0);
	abs_path(fx, "secret", path, sizeof(path));
	assert_int_equal(chmod(path, 0644), 0);
	wait_ev(fx, LIBRARY_ADDED, "secret", mark);
	wait_ev(fx, LIBRARY_ADDED, "closed/inside", mark);
	stats(fx, &st);
	assert_int_equal(st.files, 3);
	assert_int_equal(st.errors, 2); /* not counted again */
	lib_close(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scan_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_close_while_hashing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_changed_while_hashing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_early, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_close_from_subscriber, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
