/*
 * warren search TERM: run a search through the node, merge the hits into
 * one row per file (MD5), show the table live on a terminal or once at the
 * end otherwise, and save it so that 'warren get N' can fetch result N.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/path.h"
#include "core/conf.h"
#include "core/xmalloc.h"

#define SEARCH_WINDOW_MAX 86400.0 /* seconds; keeps timeouts in an int */
#define SEARCH_TTL_MAX    99      /* the course protocols' two digits */
#define SEARCH_GRACE_MS   30000   /* node's answer after the window */
#define SEARCH_OV_MAX     32      /* overlay names a search tells apart */
#define SEARCH_LIVE_ROWS  20      /* rows of the live table, at most */
#define SEARCH_TICK_MS    100     /* live table: redraw after new hits */
#define SEARCH_CLOCK_MS   250     /* live table: redraw for the clock */
#define SEARCH_SHORT_MD5  8       /* hex digits shown without --long */

/* One name holders gave a file. */
struct search_name {
	char *name;     /* as received; owned */
	unsigned count; /* distinct sources that gave it */
};

/* One file: every hit with its md5. */
struct search_row {
	char md5[33];
	struct search_name *names; /* in the order first seen */
	size_t nnames;
	const char *name; /* the most common of names (first on a tie) */
	uint64_t size;    /* valid when size_known: the first size told */
	int size_known;
	json_t *sources;   /* [source], one per distinct label; own ref */
	uint32_t overlays; /* bit i: search.ov[i] found it */
	unsigned hits;     /* hit events, every holder and overlay */
};

/* What the user asked to see (client side). */
struct search_filter {
	uint64_t min_size, max_size; /* inclusive */
	int by_size;                 /* --min-size or --max-size given */
	char **exts;                 /* without the dot; borrowed from argv */
	size_t nexts;
};

struct search {
	const char *term;
	struct search_filter filter;
	int long_form;            /* --long: full md5, size in bytes */
	struct search_row **rows; /* in the order first seen */
	size_t nrows, caprows;
	json_t *by_md5;          /* md5 -> index in rows */
	char *ov[SEARCH_OV_MAX]; /* overlay names as they came; owned */
	size_t nov;
	uint32_t ov_done; /* bit i: ov[i] sent overlay_done */
	unsigned hits;    /* hit events received */
	/* The live table (stdout a terminal, no --json). */
	int live;
	int drawn;         /* lines of the last frame, cursor below them */
	int dirty;         /* something changed since the last frame */
	uint64_t start_ms; /* monotonic */
	uint64_t drawn_ms; /* when the last frame was drawn */
};

static uint64_t
search_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Folder of the saved results: $XDG_CACHE_HOME/warren, else
 * ~/.cache/warren. Caller frees. */
static char *
search_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");

	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/warren", xdg);
	return xasprintf("%s/.cache/warren", home != NULL ? home : "/tmp");
}

/*
 * Save the results for 'warren get N': written to a temporary file then
 * renamed, so a reader never sees half a file. A failure is only a
 * warning: the search itself went well. The socket is recorded with an
 * absolute path, which names the same node from any folder.
 */
static void
search_save(const char *socket, const char *term, json_t *list)
{
	char *dir = search_cache_dir(), *path, *tmp, abs[PATH_MAX];
	json_t *doc;
	int fd = -1, err;

	if (realpath(socket, abs) != NULL)
		socket = abs;
	doc = json_pack(
	    "{s:s,s:s,s:O}", "socket", socket, "term", term, "results", list);

	path = xasprintf("%s/last-search.json", dir);
	tmp = xasprintf("%s/.last-search.XXXXXX", dir);
	if ((err = path_mkdirs(dir, 0700, 0700)) == 0 &&
	    (fd = mkstemp(tmp)) < 0)
		err = -errno;
	if (err == 0 && json_dumpfd(doc, fd, JSON_INDENT(1)) != 0)
		err = -EIO;
	if (fd >= 0 && close(fd) != 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = -errno;
	if (err != 0) {
		if (fd >= 0)
			unlink(tmp);
		cli_err("cannot save the results in %s: %s ('warren get N' "
			"will not know them; use 'warren get MD5')",
		    path, strerror(-err));
	}
	json_decref(doc);
	free(tmp);
	free(path);
	free(dir);
}

json_t *
cmd_search_result(unsigned long n)
{
	char *dir = search_cache_dir();
	char *path = xasprintf("%s/last-search.json", dir);
	json_t *doc = NULL, *list, *r, *found = NULL;
	json_error_t jerr;
	size_t i;

	if (access(path, F_OK) != 0) {
		cli_err("no saved search results in %s: run 'warren search "
			"TERM' first",
		    path);
		goto out;
	}
	doc = json_load_file(path, 0, &jerr);
	list = json_object_get(doc, "results");
	if (!json_is_array(list)) {
		cli_err("cannot read the saved search results %s: %s (run "
			"'warren search' again)",
		    path, doc == NULL ? jerr.text : "no \"results\" list");
		goto out;
	}
	json_array_foreach(list, i, r)
	{
		if (json_integer_value(json_object_get(r, "n")) ==
		    (json_int_t)n)
			found = json_incref(r);
	}
	if (found == NULL)
		cli_err(
		    "no result %lu in the last search (it had %zu result%s; "
		    "run 'warren search' again)",
		    n, json_array_size(list),
		    json_array_size(list) == 1 ? "" : "s");
out:
	json_decref(doc);
	free(path);
	free(dir);
	return found;
}

/* Index of an overlay name in s->ov (added if new), or -1 when full. */
static int
search_overlay(struct search *s, const char *name)
{
	for (size_t i = 0; i < s->nov; i++)
		if (strcmp(s->ov[i], name) == 0)
			return (int)i;
	if (s->nov == SEARCH_OV_MAX)
		return -1;
	s->ov[s->nov] = xstrdup(name);
	return (int)s->nov++;
}

/* "gnutella,kazaa": the overlays of mask, in alphabetical order. */
static void
search_overlay_list(
    const struct search *s, uint32_t mask, char *out, size_t cap)
{
	const char *names[SEARCH_OV_MAX];
	size_t n = 0, len = 0;

	for (size_t i = 0; i < s->nov; i++)
		if (mask & (UINT32_C(1) << i))
			names[n++] = s->ov[i];
	/* A handful of names: an insertion sort. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0;
		     j--) {
			const char *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	out[0] = '\0';
	for (size_t i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(
		    out + len, cap - len, "%s%s", i > 0 ? "," : "", names[i]);
	if (n == 0)
		snprintf(out, cap, "-");
}

/* Count name once more for r and choose its shown name again. */
static void
search_row_name(struct search_row *r, const char *name)
{
	size_t i, best = 0;

	for (i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i].name, name) == 0)
			break;
	if (i == r->nnames) {
		r->names = xreallocarray(
		    r->names, r->nnames + 1, sizeof(*r->names));
		r->names[i].name = xstrdup(name);
		r->names[i].count = 0;
		r->nnames++;
	}
	r->names[i].count++;
	for (i = 1; i < r->nnames; i++)
		if (r->names[i].count > r->names[best].count)
			best = i;
	r->name = r->names[best].name;
}

/*
 * Merge a hit event's "hit" into its file's row (a new md5 makes a new
 * row). A source is counted once per file by its label, and so is the name
 * it gave; a hit without an md5 of 32 characters is ignored.
 */
static void
search_add(struct search *s, json_t *hit)
{
	const char *md5 = json_string_value(json_object_get(hit, "md5"));
	const char *name = json_string_value(json_object_get(hit, "name"));
	const char *ov = json_string_value(json_object_get(hit, "overlay"));
	json_t *src = json_object_get(hit, "source"), *size, *idx, *e;
	const char *label = json_string_value(json_object_get(src, "label"));
	struct search_row *r;
	size_t i;
	int bit;

	if (md5 == NULL || strlen(md5) != 32)
		return;
	s->hits++;
	s->dirty = 1;
	idx = json_object_get(s->by_md5, md5);
	if (idx != NULL) {
		r = s->rows[json_integer_value(idx)];
	} else {
		if (s->nrows == s->caprows) {
			s->caprows = s->caprows ? s->caprows * 2 : 64;
			s->rows = xreallocarray(
			    s->rows, s->caprows, sizeof(*s->rows));
		}
		r = xcalloc(1, sizeof(*r));
		memcpy(r->md5, md5, sizeof(r->md5));
		r->sources = json_array();
		json_object_set_new(
		    s->by_md5, md5, json_integer((json_int_t)s->nrows));
		s->rows[s->nrows++] = r;
	}
	r->hits++;
	if (ov != NULL && (bit = search_overlay(s, ov)) >= 0)
		r->overlays |= UINT32_C(1) << bit;
	size = json_object_get(hit, "size");
	if (!r->size_known && json_is_integer(size) &&
	    json_integer_value(size) >= 0) {
		r->size = (uint64_t)json_integer_value(size);
		r->size_known = 1;
	}
	if (label != NULL) {
		json_array_foreach(r->sources, i, e)
		{
			const char *l = json_string_value(
			    json_object_get(e, "label"));

			if (l != NULL && strcmp(l, label) == 0)
				return; /* known holder, maybe another overlay */
		}
		json_array_append(r->sources, src);
	}
	search_row_name(r, name != NULL ? name : "");
}

static void
search_free(struct search *s)
{
	for (size_t i = 0; i < s->nrows; i++) {
		struct search_row *r = s->rows[i];

		for (size_t j = 0; j < r->nnames; j++)
			free(r->names[j].name);
		free(r->names);
		json_decref(r->sources);
		free(r);
	}
	free(s->rows);
	for (size_t i = 0; i < s->nov; i++)
		free(s->ov[i]);
	json_decref(s->by_md5);
}

/* Does name end in "." + ext (either case)? */
static int
search_has_ext(const char *name, const char *ext)
{
	size_t n = strlen(name), e = strlen(ext);

	return n > e && name[n - e - 1] == '.' &&
	    strcasecmp(name + n - e, ext) == 0;
}

/* Does a file of this name and size pass the filters? */
static int
search_pass(const struct search_filter *f, const char *name, int size_known,
    uint64_t size)
{
	if (f->by_size &&
	    (!size_known || size < f->min_size || size > f->max_size))
		return 0;
	if (f->nexts == 0)
		return 1;
	for (size_t i = 0; i < f->nexts; i++)
		if (search_has_ext(name, f->exts[i]))
			return 1;
	return 0;
}

/* The order of the table: most sources first, then by name, then md5. */
static int
search_cmp(const void *a, const void *b)
{
	const struct search_row *x = *(struct search_row *const *)a;
	const struct search_row *y = *(struct search_row *const *)b;
	size_t sx = json_array_size(x->sources),
	       sy = json_array_size(y->sources);
	int c;

	if (sx != sy)
		return sx > sy ? -1 : 1;
	if ((c = strcasecmp(x->name, y->name)) != 0 ||
	    (c = strcmp(x->name, y->name)) != 0)
		return c;
	return strcmp(x->md5, y->md5);
}

/* The rows that pass the filters, in table order, into *out (caller
 * frees; the rows are borrowed). Returns their number. */
static size_t
search_view(const struct search *s, struct search_row ***out)
{
	struct search_row **v = xreallocarray(NULL, s->nrows + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < s->nrows; i++) {
		struct search_row *r = s->rows[i];

		if (search_pass(&s->filter, r->name, r->size_known, r->size))
			v[n++] = r;
	}
	qsort(v, n, sizeof(*v), search_cmp);
	*out = v;
	return n;
}

/*
 * A copy of a string from the network without its control characters
 * (C0, DEL and the two-byte UTF-8 C1 ones), so that a file name cannot
 * drive the terminal; "-" for an empty one. Caller frees.
 */
static char *
search_safe(const char *s)
{
	char *out = xmalloc(strlen(s) + 2), *o = out;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			*o++ = '?';
			p++;
		} else {
			*o++ = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
		}
	}
	if (o == out)
		*o++ = '-';
	*o = '\0';
	return out;
}

/*
 * Cut line so that it takes at most cols columns. A UTF-8 sequence counts
 * as two columns (a wide character's width), so that the line never wraps,
 * which would throw off the redraw.
 */
static void
search_cut(char *line, int cols)
{
	int w = 0;

	for (unsigned char *p = (unsigned char *)line; *p; p++) {
		int cw = *p >= 0xc0 ? 2 : 1;

		if ((*p & 0xc0) == 0x80)
			continue;
		if (w + cw > cols) {
			*p = '\0';
			return;
		}
		w += cw;
	}
}

/* The size cell: "1.2 MiB", bytes with --long, "?" when unknown. */
static void
search_size(
    const struct search *s, const struct search_row *r, char *out, size_t cap)
{
	if (!r->size_known)
		snprintf(out, cap, "?");
	else if (s->long_form)
		snprintf(out, cap, "%llu", (unsigned long long)r->size);
	else
		fmt_bytes(r->size, out, cap);
}

static int
search_digits(size_t n)
{
	int d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/*
 * Print the header and the first n rows of v on f, numbered from 1. The
 * columns are as wide as these rows need. With cols > 0 every line is cut
 * to cols - 1 columns (the live table); else names are printed whole.
 */
static void
search_table(
    FILE *f, const struct search *s, struct search_row **v, size_t n, int cols)
{
	int wn = search_digits(n), wsz = 4, wsrc = 3, wov = 8;
	int wmd5 = s->long_form ? 32 : SEARCH_SHORT_MD5;
	char sz[32], ovs[256], *line;

	for (size_t i = 0; i < n; i++) {
		search_size(s, v[i], sz, sizeof(sz));
		search_overlay_list(s, v[i]->overlays, ovs, sizeof(ovs));
		if ((int)strlen(sz) > wsz)
			wsz = (int)strlen(sz);
		if ((int)strlen(ovs) > wov)
			wov = (int)strlen(ovs);
		if (search_digits(json_array_size(v[i]->sources)) > wsrc)
			wsrc = search_digits(json_array_size(v[i]->sources));
	}
	line = xasprintf("%*s  %-*s  %*s  %*s  %-*s  %s", wn, "#", wmd5, "MD5",
	    wsz, "SIZE", wsrc, "SRC", wov, "OVERLAYS", "NAME");
	if (cols > 0)
		search_cut(line, cols - 1);
	fprintf(f, "%s\n", line);
	free(line);
	for (size_t i = 0; i < n; i++) {
		char *name = search_safe(v[i]->name);

		search_size(s, v[i], sz, sizeof(sz));
		search_overlay_list(s, v[i]->overlays, ovs, sizeof(ovs));
		line = xasprintf("%*zu  %-*.*s  %*s  %*zu  %-*s  %s", wn, i + 1,
		    wmd5, wmd5, v[i]->md5, wsz, sz, wsrc,
		    json_array_size(v[i]->sources), wov, ovs, name);
		if (cols > 0)
			search_cut(line, cols - 1);
		fprintf(f, "%s\n", line);
		free(line);
		free(name);
	}
}

/* Move the cursor back over the last live frame and clear it. */
static void
search_erase(FILE *f, struct search *s)
{
	if (s->drawn > 0)
		fprintf(f, "\r\033[%dA\033[J", s->drawn);
	s->drawn = 0;
}

/*
 * Draw the live table in place of the previous frame: the first rows (as
 * many as fit the terminal, at most SEARCH_LIVE_ROWS) and a status line.
 * The frame goes out in one write, so it does not flicker.
 */
static void
search_draw(struct search *s)
{
	struct winsize ws;
	int rows = 24, cols = 80, lines;
	struct search_row **v;
	size_t n = search_view(s, &v), shown;
	char *frame = NULL, *status, *safe;
	size_t flen = 0;
	FILE *f = open_memstream(&frame, &flen);

	if (f == NULL) {
		free(v);
		return;
	}
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	/* Header, rows, "more" and status lines, and the cursor's line. */
	shown = SEARCH_LIVE_ROWS;
	if (rows < 4 + SEARCH_LIVE_ROWS)
		shown = rows > 5 ? (size_t)(rows - 4) : 1;
	if (shown > n)
		shown = n;
	search_erase(f, s);
	lines = 1;
	if (n > 0) {
		search_table(f, s, v, shown, cols);
		lines += 1 + (int)shown;
	}
	if (n > shown) {
		fprintf(f, "%*s... %zu more\n", search_digits(shown), "",
		    n - shown);
		lines++;
	}
	status = xasprintf("searching for '%s': %u hit%s, %zu file%s%s, "
			   "%.1f s",
	    s->term, s->hits, s->hits == 1 ? "" : "s", n, n == 1 ? "" : "s",
	    n < s->nrows ? " shown" : "",
	    (double)(search_now_ms() - s->start_ms) / 1000.0);
	for (size_t i = 0; i < s->nov; i++) {
		char *t;

		if (!(s->ov_done & (UINT32_C(1) << i)))
			continue;
		t = xasprintf("%s; %s done", status, s->ov[i]);
		free(status);
		status = t;
	}
	safe = search_safe(status);
	search_cut(safe, cols - 1);
	fprintf(f, "%s\n", safe);
	free(safe);
	free(status);
	fclose(f);
	fwrite(frame, 1, flen, stdout);
	fflush(stdout);
	free(frame);
	free(v);
	s->drawn = lines;
	s->dirty = 0;
	s->drawn_ms = search_now_ms();
}

/*
 * The summary line on stdout: "3 files from 4 sources in 3.0 s (gnutella:
 * 5 hits, kazaa: 2)", and each overlay's error on stderr.
 */
static void
search_summary(
    const struct search *s, struct search_row **v, size_t n, json_t *result)
{
	json_t *overlays = json_object_get(result, "overlays"), *o;
	json_t *labels = json_object(), *e;
	double secs = (double)json_integer_value(
			  json_object_get(result, "elapsed_ms")) /
	    1000.0;
	size_t i, j, nsrc;

	for (i = 0; i < n; i++)
		json_array_foreach(v[i]->sources, j, e)
		{
			const char *l = json_string_value(
			    json_object_get(e, "label"));

			if (l != NULL)
				json_object_set_new(labels, l, json_true());
		}
	nsrc = json_object_size(labels);
	json_decref(labels);
	if (n > 0) {
		printf("%zu file%s from %zu source%s in %.1f s", n,
		    n == 1 ? "" : "s", nsrc, nsrc == 1 ? "" : "s", secs);
	} else {
		char *term = search_safe(s->term);

		printf("no files for '%s' in %.1f s", term, secs);
		free(term);
	}
	printf(" (");
	json_array_foreach(overlays, i, o)
	{
		const char *name = json_string_value(
		    json_object_get(o, "name"));
		json_int_t hits = json_integer_value(
		    json_object_get(o, "hits"));

		printf("%s%s: ", i > 0 ? ", " : "", name ? name : "-");
		if (hits == 0 && json_is_string(json_object_get(o, "error")))
			printf("failed");
		else
			printf("%" JSON_INTEGER_FORMAT "%s", hits,
			    i == 0 ? (hits == 1 ? " hit" : " hits") : "");
	}
	printf(")");
	if (n < s->nrows)
		printf("; %zu more filtered out", s->nrows - n);
	printf("\n");
	fflush(stdout);
	json_array_foreach(overlays, i, o)
	{
		const char *name = json_string_value(
		    json_object_get(o, "name"));
		const char *err = json_string_value(
		    json_object_get(o, "error"));

		if (err != NULL)
			cli_err("%s: %s", name ? name : "-", err);
	}
}

/* The saved results: the rows of the final table, numbered as shown. */
static json_t *
search_list(const struct search *s, struct search_row **v, size_t n)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *ovs = json_array();

		for (size_t k = 0; k < s->nov; k++)
			if (v[i]->overlays & (UINT32_C(1) << k))
				json_array_append_new(
				    ovs, json_string(s->ov[k]));
		json_array_append_new(list,
		    json_pack("{s:I,s:s,s:s,s:o,s:O,s:o}", "n",
			(json_int_t)i + 1, "md5", v[i]->md5, "name", v[i]->name,
			"size",
			v[i]->size_known ? json_integer((json_int_t)v[i]->size)
					 : json_null(),
			"sources", v[i]->sources, "overlays", ovs));
	}
	return list;
}

/* The search ran: save the table and print it with its summary. */
static void
search_finish(struct search *s, const char *socket, int json, json_t *result)
{
	struct search_row **v;
	size_t n = search_view(s, &v);
	json_t *list = search_list(s, v, n);

	search_save(socket, s->term, list);
	json_decref(list);
	if (!json) {
		if (n > 0)
			search_table(stdout, s, v, n, 0);
		search_summary(s, v, n, result);
	}
	free(v);
}

/* Print a message as one JSON line. */
static void
search_print_json(json_t *o)
{
	char *t = json_dumps(o, JSON_COMPACT);

	printf("%s\n", t);
	fflush(stdout);
	free(t);
}

/*
 * On a terminal: wait until the node has sent something, redrawing the
 * live table meanwhile. Returns 0 when a message can be read, -1 when
 * deadline_ms (monotonic, 0 for none) passed first.
 */
static int
search_wait(struct client *cl, struct search *s, uint64_t deadline_ms)
{
	while (cl->len == 0) {
		struct pollfd pfd = {cl->fd, POLLIN, 0};
		uint64_t now = search_now_ms();
		int wait = s->dirty ? SEARCH_TICK_MS : SEARCH_CLOCK_MS, n;

		if (deadline_ms > 0 && now >= deadline_ms)
			return -1;
		if (deadline_ms > 0 && deadline_ms - now < (uint64_t)wait)
			wait = (int)(deadline_ms - now);
		n = poll(&pfd, 1, wait);
		if (n > 0 || (n < 0 && errno != EINTR))
			return 0; /* client_recv reads it, or the error */
		search_draw(s);
	}
	return 0;
}

/*
 * Read the node's messages for request id until the final one. Returns
 * the exit code; the results are saved when the search ran.
 */
static int
search_follow(
    struct client *cl, int id, struct search *s, int json, int timeout_ms)
{
	uint64_t deadline = timeout_ms >= 0
	    ? search_now_ms() + (uint64_t)timeout_ms
	    : 0;
	int rc = CLI_FAIL;
	json_t *o;

	s->start_ms = search_now_ms();
	for (;;) {
		int left = -1, done;
		const char *ev;
		json_t *hit;

		if (s->live && search_wait(cl, s, deadline) != 0) {
			search_erase(stdout, s);
			cli_err("no answer from the node at %s within %d s",
			    cl->path, timeout_ms / 1000);
			break;
		}
		if (deadline > 0) {
			uint64_t now = search_now_ms();

			left = now < deadline ? (int)(deadline - now) : 0;
		}
		if ((o = cmd_get_next(cl, id, 0, left)) == NULL)
			break;
		ev = json_string_value(json_object_get(o, "event"));
		hit = json_object_get(o, "hit");
		done = json_is_true(json_object_get(o, "done"));
		if (ev != NULL && strcmp(ev, "hit") == 0 &&
		    json_is_object(hit)) {
			json_t *size = json_object_get(hit, "size");
			const char *name = json_string_value(
			    json_object_get(hit, "name"));

			search_add(s, hit);
			if (json &&
			    search_pass(&s->filter, name ? name : "",
				json_is_integer(size) &&
				    json_integer_value(size) >= 0,
				(uint64_t)json_integer_value(size)))
				search_print_json(o);
		} else {
			const char *ov = json_string_value(
			    json_object_get(o, "overlay"));
			int bit;

			if (ev != NULL && strcmp(ev, "overlay_done") == 0 &&
			    ov != NULL && (bit = search_overlay(s, ov)) >= 0) {
				s->ov_done |= UINT32_C(1) << bit;
				s->dirty = 1;
			}
			if (json)
				search_print_json(o);
		}
		if (s->live && s->dirty &&
		    search_now_ms() - s->drawn_ms >= SEARCH_TICK_MS)
			search_draw(s);
		if (done) {
			if (s->live)
				search_erase(stdout, s);
			if (json_is_true(json_object_get(o, "ok"))) {
				search_finish(s, cl->path, json,
				    json_object_get(o, "result"));
				rc = CLI_OK;
			} else if (!json) {
				const char *err = json_string_value(
				    json_object_get(o, "error"));

				cli_err("%s", err ? err : "the search failed");
			}
		}
		json_decref(o);
		if (done)
			break;
	}
	fflush(stdout);
	return rc;
}

/*
 * A search, or with all set the listing of every file (`warren ls --all`:
 * the term "*", which each overlay answers with everything it can list;
 * chord walks the ring). self is the command for usage and help.
 */
static int
search_run(int argc, char **argv, const struct cli_cmd *self, int all)
{
	static const struct option opts[] = {
	    {"window", required_argument, NULL, 'w'},
	    {"ttl", required_argument, NULL, 't'},
	    {"overlay", required_argument, NULL, 'O'},
	    {"min-size", required_argument, NULL, 'm'},
	    {"max-size", required_argument, NULL, 'M'},
	    {"ext", required_argument, NULL, 'e'},
	    {"long", no_argument, NULL, 'l'},
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *socket = NULL, *overlay = NULL;
	struct search s;
	double window = 0;
	long ttl = 0;
	int c, json = 0, id, rc;
	struct client cl;
	json_t *req;
	char *end;

	memset(&s, 0, sizeof(s));
	s.filter.max_size = UINT64_MAX;
	s.filter.exts = xreallocarray(NULL, (size_t)argc, sizeof(char *));
	optind = 0;
	while ((c = getopt_long(argc, argv, "lS:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			errno = 0;
			window = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(window > 0 && window <= SEARCH_WINDOW_MAX)) {
				rc = cli_usage(self,
				    "--window '%s': expected seconds, more "
				    "than 0 and at most %.0f",
				    optarg, SEARCH_WINDOW_MAX);
				goto out;
			}
			break;
		case 't':
			errno = 0;
			ttl = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ttl < 1 || ttl > SEARCH_TTL_MAX) {
				rc = cli_usage(self,
				    "--ttl '%s': expected a number of hops "
				    "from 1 to %d",
				    optarg, SEARCH_TTL_MAX);
				goto out;
			}
			break;
		case 'O':
			overlay = optarg;
			if (overlay[0] == '\0') {
				rc = cli_usage(self,
				    "--overlay: expected an overlay name "
				    "(chord, gnutella, kazaa, napster)");
				goto out;
			}
			break;
		case 'm':
		case 'M':
			if (conf_bytes(optarg,
				c == 'm' ? &s.filter.min_size
					 : &s.filter.max_size) != 0) {
				rc = cli_usage(self,
				    "--%s '%s': expected a size in bytes, "
				    "with an optional K, M or G (1K = 1024)",
				    c == 'm' ? "min-size" : "max-size", optarg);
				goto out;
			}
			s.filter.by_size = 1;
			break;
		case 'e':
			if (optarg[0] == '.')
				optarg++;
			if (optarg[0] == '\0') {
				rc = cli_usage(self,
				    "--ext: expected an extension such as mp3 "
				    "or .mp3");
				goto out;
			}
			s.filter.exts[s.filter.nexts++] = optarg;
			break;
		case 'l':
			s.long_form = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'S':
			socket = optarg;
			break;
		case 'h':
			cli_help(stdout, self);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_usage(self, NULL);
			goto out;
		}
	}
	if (s.filter.min_size > s.filter.max_size) {
		rc = cli_usage(self,
		    "--min-size %llu is above --max-size %llu: no file would "
		    "pass",
		    (unsigned long long)s.filter.min_size,
		    (unsigned long long)s.filter.max_size);
		goto out;
	}
	if (all && optind < argc) {
		rc = cli_usage(self, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!all && optind == argc) {
		rc = cli_usage(self, "expected a search term");
		goto out;
	}
	if (!all && optind != argc - 1) {
		rc = cli_usage(self,
		    "expected one search term (quote a term with spaces: "
		    "\"%s %s\")",
		    argv[optind], argv[optind + 1]);
		goto out;
	}
	s.term = all ? "*" : argv[optind];
	s.by_md5 = json_object();
	s.live = !json && isatty(STDOUT_FILENO);
	rc = CLI_FAIL;
	if (client_open(&cl, client_socket_path(socket)) != 0)
		goto out;
	req = json_pack("{s:s,s:s}", "op", "search", "term", s.term);
	if (overlay != NULL)
		json_object_set_new(req, "overlay", json_string(overlay));
	if (window > 0)
		json_object_set_new(req, "window", json_real(window));
	if (ttl > 0)
		json_object_set_new(req, "ttl", json_integer(ttl));
	id = client_send(&cl, req);
	if (id >= 0)
		rc = search_follow(&cl, id, &s, json,
		    window > 0 ? (int)(window * 1000) + SEARCH_GRACE_MS : -1);
	client_close(&cl);
out:
	search_free(&s);
	free(s.filter.exts);
	return rc;
}

int
cmd_search(int argc, char **argv)
{
	return search_run(argc, argv, cli_find("search"), 0);
}

/* warren ls [--all]: the node's own files, or every file of its overlays. */
int
cmd_ls(int argc, char **argv)
{
	char **v = xreallocarray(NULL, (size_t)argc + 2, sizeof(char *));
	int all = 0, n = 0, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0)
			all = 1;
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			cli_help(stdout, cli_find("ls"));
			free(v);
			return CLI_OK;
		}
	}
	if (all) {
		for (int i = 0; i < argc; i++)
			if (strcmp(argv[i], "--all") != 0 &&
			    strcmp(argv[i], "-a") != 0)
				v[n++] = argv[i];
		v[n] = NULL;
		rc = search_run(n, v, cli_find("ls"), 1);
	} else {
		/* The node's own files: `warren share ls`. */
		v[n++] = (char *)"share";
		v[n++] = (char *)"ls";
		for (int i = 1; i < argc; i++)
			v[n++] = argv[i];
		v[n] = NULL;
		rc = cmd_share(n, v);
	}
	free(v);
	return rc;
}
