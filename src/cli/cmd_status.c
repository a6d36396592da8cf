/*
 * warren status: the node on one screen, 80 columns wide: the node, its
 * library, its transfers, then the role and health of each overlay it has
 * joined. Each section is a label and a list of items that wraps under
 * the label's column.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ST_WIDTH  80 /* columns of the screen */
#define ST_INDENT 14 /* column where the items start */

/* A section being printed: where the cursor is on the current line. */
struct st_line {
	int col;   /* columns used on the current line */
	int items; /* items on the current line */
};

static json_int_t
num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "-";
}

/* Start a section: its label, padded to the items' column. */
static void
st_begin(struct st_line *l, const char *label)
{
	l->col = printf("  %-*s ", ST_INDENT - 3, label);
	l->items = 0;
}

/*
 * Add an item to the section, after sep (", " or "; ") unless it is the
 * first of its line; an item that would pass the last column goes on a
 * new line under the first item, the separator's mark ending the line
 * before. Control characters (from a peer or directory) print as '?'.
 */
static void __attribute__((format(printf, 3, 4)))
st_item(struct st_line *l, const char *sep, const char *fmt, ...)
{
	char buf[512], *text = buf;
	va_list ap;
	int len;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (unsigned char *p = (unsigned char *)buf; *p; p++) {
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			p[0] = p[1] = '?';
		else if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	len = (int)strlen(buf);
	if (l->items > 0 && l->col + (int)strlen(sep) + len + 1 >= ST_WIDTH) {
		if (sep[0] != ' ')
			putchar(sep[0]);
		printf("\n%*s", ST_INDENT, "");
		l->col = ST_INDENT;
		l->items = 0;
	}
	if (l->items > 0)
		l->col += printf("%s", sep);
	/* An item longer than the line breaks at its last space that fits. */
	while (l->col + len + 1 >= ST_WIDTH) {
		int fit = ST_WIDTH - 2 - l->col;

		while (fit > 0 && text[fit] != ' ')
			fit--;
		if (fit <= 0)
			break; /* one word: let it run over */
		printf("%.*s\n%*s", fit, text, ST_INDENT, "");
		text += fit + 1;
		len -= fit + 1;
		l->col = ST_INDENT;
	}
	l->col += printf("%s", text);
	l->items++;
}

/* Go on under the first item, on a line of its own. */
static void
st_break(struct st_line *l)
{
	if (l->items == 0)
		return;
	printf("\n%*s", ST_INDENT, "");
	l->col = ST_INDENT;
	l->items = 0;
}

static void
st_end(struct st_line *l)
{
	(void)l;
	putchar('\n');
}

static const char *
plural(json_int_t n)
{
	return n == 1 ? "" : "s";
}

/* "3 up, 1 unknown, 0 down" from a peer set's counts. */
static void
st_counts(struct st_line *l, const char *sep, json_t *c, const char *what)
{
	st_item(l, sep,
	    "%s %" JSON_INTEGER_FORMAT " up, %" JSON_INTEGER_FORMAT
	    " unknown, %" JSON_INTEGER_FORMAT " down",
	    what, num(c, "up"), num(c, "unknown"), num(c, "down"));
}

static void
st_node(json_t *r)
{
	struct st_line l;
	char up_for[32];
	json_t *v;
	size_t i;

	fmt_duration(
	    (double)num(r, "uptime_ms") / 1000.0, up_for, sizeof(up_for));
	printf("warren node %s (pid %d), up %s\n", str(r, "version"),
	    (int)num(r, "pid"), up_for);
	st_begin(&l, "listening");
	json_array_foreach(json_object_get(r, "listen"), i, v)
	    st_item(&l, ", ", "%s", json_string_value(v));
	if (json_array_size(json_object_get(r, "listen")) == 0)
		st_item(&l, ", ", "nothing");
	st_end(&l);
	st_begin(&l, "control");
	st_item(&l, ", ", "%s", str(r, "socket"));
	st_end(&l);
	if (json_object_get(r, "test_faults") != NULL) {
		st_begin(&l, "TEST FAULTS");
		st_item(&l, ", ", "%s", str(r, "test_faults"));
		st_end(&l);
	}
}

static void
st_library(json_t *r)
{
	json_t *lib = json_object_get(r, "library");
	json_int_t files = num(lib, "files"), pending = num(lib, "pending");
	struct st_line l;
	char b1[32], b2[32], phase[48];

	st_begin(&l, "shared");
	st_item(&l, ", ", "%s", str(r, "share_dir"));
	st_end(&l);
	fmt_bytes((uint64_t)num(lib, "bytes"), b1, sizeof(b1));
	fmt_bytes((uint64_t)num(lib, "hashed_bytes"), b2, sizeof(b2));
	st_begin(&l, "library");
	st_item(&l, ", ", "%" JSON_INTEGER_FORMAT " file%s, %s", files,
	    plural(files), b1);
	snprintf(phase, sizeof(phase), "hashing %" JSON_INTEGER_FORMAT " more",
	    pending);
	if (pending == 0)
		snprintf(phase, sizeof(phase), "%s",
		    json_is_true(json_object_get(lib, "ready")) ? "all hashed"
								: "scanning");
	st_item(&l, "; ",
	    "%s: %" JSON_INTEGER_FORMAT " this run (%s), %" JSON_INTEGER_FORMAT
	    " cached",
	    phase, num(lib, "hashed_files"), b2, num(lib, "cached_files"));
	if (num(lib, "errors") > 0)
		st_item(&l, "; ", "%" JSON_INTEGER_FORMAT " unreadable",
		    num(lib, "errors"));
	if (num(lib, "name_too_long") > 0)
		st_item(&l, "; ",
		    "%" JSON_INTEGER_FORMAT " name%s over 100 bytes (not "
		    "announced)",
		    num(lib, "name_too_long"),
		    plural(num(lib, "name_too_long")));
	st_end(&l);
}

/*
 * Uploads and downloads. dls is the reply to "downloads" (NULL if it
 * failed): the rates come from it, the status has only the counts.
 */
static void
st_transfers(json_t *r, json_t *dls)
{
	static const char *const states[] = {"creating", "checking",
	    "receiving", "verifying", "waiting", "paused", "done", "failed",
	    "canceled", NULL};
	json_t *up = json_object_get(r, "uploads");
	json_t *counts = json_object_get(r, "downloads"), *v, *d;
	struct st_line l;
	const char *key;
	double rate = 0;
	char b[32];
	size_t i;

	fmt_bytes((uint64_t)num(up, "bytes"), b, sizeof(b));
	st_begin(&l, "uploads");
	st_item(&l, ", ",
	    "%" JSON_INTEGER_FORMAT " active of %" JSON_INTEGER_FORMAT " slots",
	    num(up, "active"), num(up, "slots"));
	st_item(&l, ", ",
	    "%" JSON_INTEGER_FORMAT " queued (max %" JSON_INTEGER_FORMAT ")",
	    num(up, "queued"), num(up, "queue_max"));
	st_item(
	    &l, "; ", "%" JSON_INTEGER_FORMAT " done", num(up, "completed"));
	st_item(&l, ", ", "%" JSON_INTEGER_FORMAT " failed", num(up, "failed"));
	st_item(
	    &l, ", ", "%" JSON_INTEGER_FORMAT " refused busy", num(up, "busy"));
	st_item(&l, ", ", "%" JSON_INTEGER_FORMAT " not found",
	    num(up, "not_found"));
	st_item(&l, "; ", "%s sent", b);
	st_end(&l);

	json_array_foreach(json_object_get(dls, "downloads"), i, d)
	{
		if (strcmp(str(d, "state"), "receiving") == 0)
			rate += json_number_value(json_object_get(d, "rate"));
	}
	fmt_bytes((uint64_t)rate, b, sizeof(b));
	st_begin(&l, "downloads");
	if (json_object_size(counts) == 0)
		st_item(&l, ", ", "none");
	for (const char *const *s = states; *s != NULL; s++) {
		if ((v = json_object_get(counts, *s)) == NULL)
			continue;
		if (strcmp(*s, "receiving") == 0 && dls != NULL)
			st_item(&l, ", ", "%" JSON_INTEGER_FORMAT " %s at %s/s",
			    json_integer_value(v), *s, b);
		else
			st_item(&l, ", ", "%" JSON_INTEGER_FORMAT " %s",
			    json_integer_value(v), *s);
	}
	json_object_foreach(counts, key, v)
	{
		const char *const *s;

		for (s = states; *s != NULL && strcmp(*s, key) != 0; s++)
			;
		if (*s == NULL)
			st_item(&l, ", ", "%" JSON_INTEGER_FORMAT " %s",
			    json_integer_value(v), key);
	}
	st_item(&l, "; ", "into %s", str(r, "download_dir"));
	st_end(&l);
}

/*
 * Gnutella: health from the neighbours up against min_neighbours, then
 * the neighbours, searches and flood counters.
 */
static void
st_gnutella(struct st_line *l, const char *head, json_t *o)
{
	json_t *nb = json_object_get(o, "neighbours");
	json_t *c = json_object_get(o, "counters");
	json_int_t up = num(nb, "up"), min = num(nb, "min");

	if (up == 0)
		st_item(l, "", "%s: NO NEIGHBOUR UP", head);
	else if (up < min)
		st_item(l, "",
		    "%s: degraded, %" JSON_INTEGER_FORMAT
		    " neighbour%s up (min %" JSON_INTEGER_FORMAT ")",
		    head, up, plural(up), min);
	else
		st_item(l, "",
		    "%s: ok, %" JSON_INTEGER_FORMAT " neighbour%s up", head, up,
		    plural(up));
	st_break(l);
	st_counts(l, "", nb, "neighbours");
	st_item(l, ", ",
	    "max %" JSON_INTEGER_FORMAT "; %" JSON_INTEGER_FORMAT
	    " learned, %" JSON_INTEGER_FORMAT " lost",
	    num(nb, "max"), num(c, "learned"), num(c, "lost"));
	st_break(l);
	st_item(l, "",
	    "%" JSON_INTEGER_FORMAT " search%s, %" JSON_INTEGER_FORMAT
	    " collecting",
	    num(c, "searches"), num(c, "searches") == 1 ? "" : "es",
	    num(o, "searches"));
	st_item(l, "; ",
	    "in %" JSON_INTEGER_FORMAT " QUER, %" JSON_INTEGER_FORMAT " NEAR",
	    num(c, "quer_received"), num(c, "near_received"));
	st_item(
	    l, "; ", "forwarded %" JSON_INTEGER_FORMAT, num(c, "forwarded"));
	st_item(l, ", ",
	    "dropped %" JSON_INTEGER_FORMAT " dup, %" JSON_INTEGER_FORMAT
	    " rate, %" JSON_INTEGER_FORMAT " own, %" JSON_INTEGER_FORMAT
	    " unsent",
	    num(c, "dup_dropped"), num(c, "rate_dropped"),
	    num(c, "own_dropped"), num(c, "forward_dropped"));
	st_item(l, "; ",
	    "answers %" JSON_INTEGER_FORMAT " sent, %" JSON_INTEGER_FORMAT
	    " received",
	    num(c, "anea_sent") + num(c, "aque_sent"),
	    num(c, "anea_received") + num(c, "aque_received"));
}

/*
 * Kazaa: a peer is healthy when joined to a supernode (its session shown);
 * a supernode shows its children, index and friends. Then the counters.
 */
static void
st_kazaa(struct st_line *l, const char *head, json_t *o)
{
	json_t *c = json_object_get(o, "counters");
	json_t *ix = json_object_get(o, "index");
	char t[32];

	if (strcmp(str(o, "role"), "supernode") == 0) {
		st_item(l, "",
		    "%s: ok, %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT
		    " children, %" JSON_INTEGER_FORMAT " files indexed",
		    head, num(ix, "children"), num(o, "max_children"),
		    num(ix, "files"));
		st_break(l);
		st_counts(l, "", json_object_get(o, "friends"), "friends");
		st_item(l, ", ", "max %" JSON_INTEGER_FORMAT,
		    num(o, "max_friends"));
		st_break(l);
		st_item(l, "",
		    "logins %" JSON_INTEGER_FORMAT
		    ", logouts %" JSON_INTEGER_FORMAT
		    ", dropped %" JSON_INTEGER_FORMAT,
		    num(c, "logins"), num(c, "logouts"),
		    num(c, "children_dropped"));
		st_item(l, "; ",
		    "files +%" JSON_INTEGER_FORMAT " -%" JSON_INTEGER_FORMAT,
		    num(c, "adff"), num(c, "deff"));
		st_item(
		    l, "; ", "finds %" JSON_INTEGER_FORMAT, num(c, "finds"));
	} else if (json_is_string(json_object_get(o, "supernode"))) {
		fmt_duration(
		    (double)num(o, "joined_ms") / 1000.0, t, sizeof(t));
		st_item(l, "", "%s: ok, joined %s for %s", head,
		    str(o, "supernode"), t);
		st_break(l);
		st_item(l, "", "session %s", str(o, "session"));
		st_item(l, "; ", "rejoins %" JSON_INTEGER_FORMAT,
		    num(c, "rejoins"));
	} else {
		st_item(l, "", "%s: %s, no supernode", head, str(o, "state"));
		st_break(l);
		st_item(
		    l, "", "rejoins %" JSON_INTEGER_FORMAT, num(c, "rejoins"));
	}
	if (json_is_true(json_object_get(o, "auto")))
		st_item(l, "; ",
		    "auto role: promotions %" JSON_INTEGER_FORMAT
		    ", demotions %" JSON_INTEGER_FORMAT,
		    num(c, "promotions"), num(c, "demotions"));
	st_break(l);
	st_item(l, "",
	    "in %" JSON_INTEGER_FORMAT " QUER, %" JSON_INTEGER_FORMAT " SUPE",
	    num(c, "quer_received"), num(c, "supe_received"));
	st_item(
	    l, "; ", "forwarded %" JSON_INTEGER_FORMAT, num(c, "forwarded"));
	st_item(l, ", ", "dropped %" JSON_INTEGER_FORMAT,
	    num(c, "dup_dropped") + num(c, "rate_dropped") +
		num(c, "own_dropped"));
	st_item(l, "; ",
	    "answers %" JSON_INTEGER_FORMAT " sent, %" JSON_INTEGER_FORMAT
	    " received",
	    num(c, "answers_sent"),
	    num(c, "asup_received") + num(c, "aque_received"));
}

/*
 * The scalar fields of o as key=value items, but name, role and port
 * (already in the section's head).
 */
static void
st_scalars(struct st_line *l, json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "name") == 0 || strcmp(key, "role") == 0 ||
		    strcmp(key, "port") == 0)
			continue;
		if (json_is_string(v))
			st_item(l, " ", "%s=%s", key, json_string_value(v));
		else if (json_is_integer(v))
			st_item(l, " ", "%s=%" JSON_INTEGER_FORMAT, key,
			    json_integer_value(v));
		else if (json_is_real(v))
			st_item(l, " ", "%s=%g", key, json_real_value(v));
		else if (json_is_boolean(v))
			st_item(l, " ", "%s=%s", key,
			    json_is_true(v) ? "true" : "false");
		else if (json_is_null(v))
			st_item(l, " ", "%s=-", key);
	}
}

/*
 * Napster: healthy when "ready"; the session, what is published and
 * queued, the counters and the directory's last error. A directory
 * protocol other than the course's ("protocol") may keep other fields:
 * those shown are the ones present, and unknown counters as key=value.
 */
static void
st_napster(struct st_line *l, const char *head, json_t *o)
{
	json_t *c = json_object_get(o, "counters");
	json_t *queued = json_object_get(o, "queued");
	const char *err = json_string_value(json_object_get(o, "error"));
	const char *state = str(o, "state");

	if (json_is_string(json_object_get(o, "protocol")))
		st_item(l, "", "%s (%s) of directory %s: %s", head,
		    str(o, "protocol"), str(o, "directory"),
		    strcmp(state, "ready") == 0 ? "ok" : state);
	else
		st_item(l, "", "%s of directory %s: %s", head,
		    str(o, "directory"),
		    strcmp(state, "ready") == 0 ? "ok" : state);
	st_break(l);
	if (json_is_string(json_object_get(o, "session")))
		st_item(l, "", "session %s", str(o, "session"));
	else if (json_is_integer(json_object_get(o, "id")))
		st_item(l, "", "id %" JSON_INTEGER_FORMAT, num(o, "id"));
	else
		st_item(l, "", "no session");
	if (json_is_string(json_object_get(o, "user")))
		st_item(l, ", ", "user %s", str(o, "user"));
	st_item(l, "; ", "%" JSON_INTEGER_FORMAT " file%s published",
	    num(o, "files"), plural(num(o, "files")));
	if (queued == NULL)
		queued = json_object_get(o, "pending");
	if (json_is_integer(queued))
		st_item(l, ", ", "%" JSON_INTEGER_FORMAT " request%s queued",
		    json_integer_value(queued),
		    plural(json_integer_value(queued)));
	st_break(l);
	if (json_object_get(c, "addf") != NULL) {
		st_item(l, "",
		    "logins %" JSON_INTEGER_FORMAT
		    ", relogins %" JSON_INTEGER_FORMAT,
		    num(c, "logins"), num(c, "relogins"));
		st_item(l, "; ",
		    "files +%" JSON_INTEGER_FORMAT " -%" JSON_INTEGER_FORMAT,
		    num(c, "addf"), num(c, "delf"));
		st_item(l, "; ",
		    "finds %" JSON_INTEGER_FORMAT
		    ", dreg %" JSON_INTEGER_FORMAT,
		    num(c, "finds"), num(c, "dreg"));
		st_item(l, "; ", "failures %" JSON_INTEGER_FORMAT,
		    num(c, "failures"));
	} else {
		st_scalars(l, c);
	}
	if (err != NULL && err[0] != '\0') {
		st_break(l);
		st_item(l, "", "last error: %s", err);
	}
}

/* A chord ring node: id, neighbours, fingers, records, lookups. */
static void
st_chord(struct st_line *l, const char *head, json_t *o)
{
	json_t *c = json_object_get(o, "counters");
	json_t *succ = json_object_get(o, "successors"), *s;
	json_t *pred = json_object_get(o, "predecessor");
	const char *err = json_string_value(json_object_get(o, "error"));
	size_t i;

	st_item(l, "", "%s: %s", head, str(o, "state"));
	st_break(l);
	st_item(l, "", "id %s", str(o, "id"));
	st_item(l, " ", "at %s", str(o, "addr"));
	st_break(l);
	st_item(l, "", "predecessor %s",
	    json_is_object(pred) ? str(pred, "addr") : "none");
	st_item(l, "; ", "successors");
	json_array_foreach(succ, i, s)
	{
		if (i == 3) {
			st_item(l, " ", "(+%zu)", json_array_size(succ) - 3);
			break;
		}
		st_item(l, i ? ", " : " ", "%s", str(s, "addr"));
	}
	if (json_array_size(succ) == 0)
		st_item(l, " ", "none");
	st_break(l);
	st_item(l, "", "fingers %" JSON_INTEGER_FORMAT " distinct",
	    num(o, "finger_fill"));
	st_item(l, "; ", "%" JSON_INTEGER_FORMAT " record%s stored",
	    num(o, "records"), plural(num(o, "records")));
	st_item(l, "; ", "%" JSON_INTEGER_FORMAT " key%s published",
	    num(c, "published_keys"), plural(num(c, "published_keys")));
	st_break(l);
	st_item(l, "", "lookups %" JSON_INTEGER_FORMAT, num(c, "lookups"));
	st_item(l, " ", "(%" JSON_INTEGER_FORMAT " failed)",
	    num(c, "lookups_failed"));
	st_item(l, ", ", "mean %.2f hops",
	    json_number_value(json_object_get(c, "hops_mean")));
	st_item(l, "; ", "requests %" JSON_INTEGER_FORMAT " sent",
	    num(c, "requests_sent"));
	st_item(l, ", ", "%" JSON_INTEGER_FORMAT " failed",
	    num(c, "requests_failed"));
	st_item(
	    l, ", ", "%" JSON_INTEGER_FORMAT " timed out", num(c, "timeouts"));
	if (err != NULL && err[0] != '\0') {
		st_break(l);
		st_item(l, "", "last error: %s", err);
	}
}

/* An overlay this CLI does not know: its scalar fields as key=value. */
static void
st_other(struct st_line *l, const char *head, json_t *o)
{
	st_item(l, "", "%s", head);
	st_break(l);
	st_scalars(l, o);
}

/* One section per joined overlay: "ROLE on port N: HEALTH", details. */
static void
st_overlays(json_t *r)
{
	json_t *overlays = json_object_get(r, "overlays"), *o;
	size_t i;

	if (json_array_size(overlays) == 0) {
		printf("  %-*s none joined\n", ST_INDENT - 3, "overlays");
		return;
	}
	json_array_foreach(overlays, i, o)
	{
		const char *name = str(o, "name");
		struct st_line l;
		char head[64];

		if (json_is_integer(json_object_get(o, "port")))
			snprintf(head, sizeof(head),
			    "%s on port %" JSON_INTEGER_FORMAT, str(o, "role"),
			    num(o, "port"));
		else
			snprintf(head, sizeof(head), "%s", str(o, "role"));
		st_begin(&l, name);
		if (strcmp(name, "gnutella") == 0)
			st_gnutella(&l, head, o);
		else if (strcmp(name, "kazaa") == 0)
			st_kazaa(&l, head, o);
		else if (strcmp(name, "napster") == 0)
			st_napster(&l, head, o);
		else if (strcmp(name, "chord") == 0)
			st_chord(&l, head, o);
		else
			st_other(&l, head, o);
		st_end(&l);
	}
}

/* Print the reply's result as the raw JSON object, as --json wants. */
static void
st_print_json(json_t *result)
{
	char *t = json_dumps(result, JSON_INDENT(2) | JSON_SORT_KEYS);

	printf("%s\n", t);
	free(t);
}

int
cmd_status(int argc, char **argv)
{
	const struct cli_cmd *self = cli_find("status");
	const char *socket;
	int json, first, rc;
	struct client cl;
	json_t *reply, *dls = NULL, *r;

	if ((rc = cli_common_opts(argc, argv, self, &json, &socket, &first)) >=
	    0)
		return rc;
	if (first != argc)
		return cli_usage(self, "unexpected argument '%s'", argv[first]);
	if (client_open(&cl, client_socket_path(socket)) != 0)
		return CLI_FAIL;
	reply = client_call(&cl, json_pack("{s:s}", "op", "status"), 30000);
	if (reply != NULL && !json &&
	    json_is_true(json_object_get(reply, "ok")))
		dls = client_call(
		    &cl, json_pack("{s:s}", "op", "downloads"), 30000);
	client_close(&cl);
	if (reply == NULL) {
		json_decref(dls);
		return CLI_FAIL;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		cli_err("%s", str(reply, "error"));
		json_decref(reply);
		return CLI_FAIL;
	}
	r = json_object_get(reply, "result");
	if (json) {
		st_print_json(r);
	} else {
		st_node(r);
		st_library(r);
		st_transfers(r,
		    json_is_true(json_object_get(dls, "ok"))
			? json_object_get(dls, "result")
			: NULL);
		st_overlays(r);
	}
	json_decref(dls);
	json_decref(reply);
	return CLI_OK;
}
