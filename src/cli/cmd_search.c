/*
 * warren search TERM: run a search through the node, print the hits as they
 * arrive, and save the results so that 'warren get N' can fetch result N.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/xmalloc.h"

#define SEARCH_WINDOW_MAX 86400.0 /* seconds; keeps timeouts in an int */
#define SEARCH_TTL_MAX    99      /* the course protocols' two digits */
#define SEARCH_GRACE_MS   30000   /* node's answer after the window */

/* The hits so far, grouped by file. */
struct search_results {
	json_t *list;   /* [{"n","md5","name","size","sources"}], by n */
	json_t *by_md5; /* md5 -> the same objects as in list */
};

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

/* mkdir -p with mode 0700 for every folder it creates. 0 or -errno. */
static int
search_mkdirs(char *path)
{
	for (char *p = path + 1;; p++) {
		char c = *p;
		int err = 0;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			err = -errno;
		*p = c;
		if (err != 0 || c == '\0')
			return err;
	}
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
	if ((err = search_mkdirs(dir)) == 0 && (fd = mkstemp(tmp)) < 0)
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

/*
 * Add a hit to its file (a new file gets the next number) and return the
 * file's number, or 0 when the hit has no md5. A holder already listed for
 * the file is not added again.
 */
static long long
search_add(struct search_results *sr, json_t *hit)
{
	const char *md5 = json_string_value(json_object_get(hit, "md5"));
	json_t *src = json_object_get(hit, "source"), *size, *r, *srcs, *s;
	size_t i;

	if (md5 == NULL)
		return 0;
	size = json_object_get(hit, "size");
	r = json_object_get(sr->by_md5, md5);
	if (r == NULL) {
		r = json_pack("{s:I,s:s,s:O?,s:O?,s:[]}", "n",
		    (json_int_t)json_array_size(sr->list) + 1, "md5", md5,
		    "name", json_object_get(hit, "name"), "size", size,
		    "sources");
		json_array_append_new(sr->list, r);
		json_object_set(sr->by_md5, md5, r);
	} else if (json_is_integer(size) &&
	    !json_is_integer(json_object_get(r, "size"))) {
		json_object_set(r, "size", size);
	}
	srcs = json_object_get(r, "sources");
	json_array_foreach(srcs, i, s)
	{
		if (json_equal(s, src))
			break;
	}
	if (i == json_array_size(srcs) && json_is_object(src))
		json_array_append(srcs, src);
	return json_integer_value(json_object_get(r, "n"));
}

/*
 * Print a string from the network without its control characters (C0,
 * DEL and the two-byte UTF-8 C1 ones), so a file name cannot drive the
 * terminal.
 */
static void
search_put_safe(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			putchar('?');
			p++;
		} else {
			putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
		}
	}
}

static const char *
search_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

/* One row per hit, the header before the first one. */
static void
search_print_hit(json_t *hit, long long n, int first)
{
	json_t *size = json_object_get(hit, "size");
	char sz[32] = "?";

	if (first)
		printf("%4s  %-32s %10s  %-21s %-9s %s\n", "#", "MD5", "SIZE",
		    "SOURCE", "OVERLAY", "NAME");
	if (json_is_integer(size))
		fmt_bytes((uint64_t)json_integer_value(size), sz, sizeof(sz));
	printf("%4lld  %-32s %10s  %-21s %-9s ", n, search_str(hit, "md5"), sz,
	    search_str(json_object_get(hit, "source"), "label"),
	    search_str(hit, "overlay"));
	search_put_safe(search_str(hit, "name"));
	putchar('\n');
	fflush(stdout);
}

/* The closing summary on stdout, the overlays' errors on stderr. */
static void
search_print_summary(const char *term, json_t *result)
{
	json_t *overlays = json_object_get(result, "overlays"), *o;
	long long hits = json_integer_value(json_object_get(result, "hits"));
	long long files = json_integer_value(json_object_get(result, "files"));
	double secs = (double)json_integer_value(
			  json_object_get(result, "elapsed_ms")) /
	    1000.0;
	size_t i;

	if (hits > 0) {
		printf("%lld hit%s, %lld file%s in %.1f s\n", hits,
		    hits == 1 ? "" : "s", files, files == 1 ? "" : "s", secs);
	} else {
		printf("no hits for '%s' (searched ", term);
		json_array_foreach(overlays, i, o)
		    printf("%s%s", i > 0 ? ", " : "", search_str(o, "name"));
		printf(" for %.1f s)\n", secs);
	}
	fflush(stdout);
	json_array_foreach(overlays, i, o)
	{
		if (json_is_string(json_object_get(o, "error")))
			cli_err("%s: %s", search_str(o, "name"),
			    search_str(o, "error"));
	}
}

/*
 * Read the node's messages for request id until the final one. Returns
 * the exit code; the results are saved when the search ran.
 */
static int
search_follow(
    struct client *cl, int id, const char *term, int json, int timeout_ms)
{
	struct search_results sr = {json_array(), json_object()};
	int rc = CLI_FAIL, rows = 0;
	json_t *o;

	while ((o = cmd_get_next(cl, id, json, timeout_ms)) != NULL) {
		json_t *hit = json_object_get(o, "hit");
		int done = json_is_true(json_object_get(o, "done"));
		long long n;

		if (hit != NULL && (n = search_add(&sr, hit)) > 0 && !json)
			search_print_hit(hit, n, rows++ == 0);
		if (done && json_is_true(json_object_get(o, "ok"))) {
			search_save(cl->path, term, sr.list);
			if (!json)
				search_print_summary(
				    term, json_object_get(o, "result"));
			rc = CLI_OK;
		} else if (done && !json) {
			cli_err("%s", search_str(o, "error"));
		}
		json_decref(o);
		if (done)
			break;
	}
	json_decref(sr.by_md5);
	json_decref(sr.list);
	return rc;
}

int
cmd_search(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"window", required_argument, NULL, 'w'},
	    {"ttl", required_argument, NULL, 't'},
	    {"overlay", required_argument, NULL, 'O'},
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const struct cli_cmd *self = cli_find("search");
	const char *socket = NULL, *overlay = NULL;
	double window = 0;
	long ttl = 0;
	int c, json = 0, id, rc;
	struct client cl;
	json_t *req;
	char *end;

	optind = 0;
	while ((c = getopt_long(argc, argv, "S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			errno = 0;
			window = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(window > 0 && window <= SEARCH_WINDOW_MAX))
				return cli_usage(self,
				    "--window '%s': expected seconds, more "
				    "than 0 and at most %.0f",
				    optarg, SEARCH_WINDOW_MAX);
			break;
		case 't':
			errno = 0;
			ttl = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    ttl < 1 || ttl > SEARCH_TTL_MAX)
				return cli_usage(self,
				    "--ttl '%s': expected a number of hops "
				    "from 1 to %d",
				    optarg, SEARCH_TTL_MAX);
			break;
		case 'O':
			overlay = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'S':
			socket = optarg;
			break;
		case 'h':
			cli_help(stdout, self);
			return CLI_OK;
		default:
			return cli_usage(self, NULL);
		}
	}
	if (optind == argc)
		return cli_usage(self, "expected a search term");
	if (optind != argc - 1)
		return cli_usage(self,
		    "expected one search term (quote a term with spaces: "
		    "\"%s %s\")",
		    argv[optind], argv[optind + 1]);
	if (client_open(&cl, client_socket_path(socket)) != 0)
		return CLI_FAIL;
	req = json_pack("{s:s,s:s}", "op", "search", "term", argv[optind]);
	if (overlay != NULL)
		json_object_set_new(req, "overlay", json_string(overlay));
	if (window > 0)
		json_object_set_new(req, "window", json_real(window));
	if (ttl > 0)
		json_object_set_new(req, "ttl", json_integer(ttl));
	id = client_send(&cl, req);
	rc = id < 0
	    ? CLI_FAIL
	    : search_follow(&cl, id, argv[optind], json,
		  window > 0 ? (int)(window * 1000) + SEARCH_GRACE_MS : -1);
	client_close(&cl);
	return rc;
}
