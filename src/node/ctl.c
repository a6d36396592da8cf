/*
 * The control socket server: JSON lines in, JSON lines out. Requests are
 * dispatched by "op" to small handlers; downloads stream their events to
 * the client that started them (and to any client that asks to follow);
 * share.add copies or links a file into the shared folder on the thread
 * pool and answers once the library has hashed it.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/path.h"
#include "core/xmalloc.h"
#include "ctl.h"
#include "known.h"
#include "net/request.h"
#include "node.h"
#include "search.h"
#include "store/library.h"
#include "transfer/download.h"
#include "transfer/upload.h"
#include "warren/error.h"
#include "wire/course.h"
#include "wire/ctl.h"

#define CTL_MAX_CLIENTS 64
#define CTL_MAX_WATCH   64
#define CTL_MAX_SEARCH  8                 /* searches running per client */
#define CTL_WRITE_MAX   (8 * 1024 * 1024) /* unread output before we drop */
#define CTL_MAX_ADD     8                 /* share.add running per client */
#define CTL_ADD_WAIT_MS 60000 /* longest wait for the library's hash */
#define CTL_ADD_TRIES   1000  /* NAME, NAME (1) .. NAME (999) */
#define CTL_NAME_MAX    255   /* bytes in a file name (NAME_MAX) */

struct ctl_watch {
	uint64_t download_id;
	json_t *req_id; /* own reference */
};

struct ctl_search {
	struct ctl_client *cl;
	struct node_search *s;
	json_t *req_id; /* own reference */
};

/*
 * share.add, one state per file-system request in flight (each runs on the
 * thread pool), then a bounded wait for the library to list the file.
 */
enum ctl_add_state {
	CTL_ADD_REALPATH, /* resolving the source path */
	CTL_ADD_STAT,     /* is it a regular file, how big */
	CTL_ADD_ACCESS,   /* can the node read it */
	CTL_ADD_COPY,     /* copying it to a temporary (hidden .part) name */
	CTL_ADD_LINK,     /* hard-linking source or copy to candidate try */
	CTL_ADD_PROBE,    /* no hard links here: is candidate try free */
	CTL_ADD_RENAME,   /* no hard links here: renaming the copy into place */
	CTL_ADD_UNLINK,   /* removing the temporary name of a linked copy */
	CTL_ADD_WAIT,     /* waiting for the library to list dest */
	CTL_ADD_CLEANUP,  /* removing the temporary copy after a failure */
};

static const char *const ctl_add_state_names[] = {
    "realpath",
    "stat",
    "access",
    "copy",
    "link",
    "probe",
    "rename",
    "unlink",
    "wait",
    "cleanup",
};

/*
 * One share.add. It lives until its last file-system request is done, even
 * if its client goes away first (cl is then NULL and the file is still
 * added) or the node stops (then the temporary copy is removed and nothing
 * is added). Only a waiting add is ended by its client's close.
 */
struct ctl_add {
	struct node *n;        /* borrowed: outlives the loop's requests */
	struct ctl_client *cl; /* NULL once orphaned */
	json_t *req_id;        /* own reference */
	enum ctl_add_state state;
	int link;         /* mode "link": hard-link the source itself */
	int in_place;     /* the source is already in the shared folder */
	char *src;        /* absolute, then resolved; owned */
	char *name;       /* wanted name, or NULL for the source's; owned */
	char *tmp;        /* temporary copy in the shared folder, or NULL */
	int tmp_made;     /* tmp exists and is ours to remove */
	char *cand;       /* candidate being tried, owned, or NULL */
	char *dest;       /* final path in the shared folder, owned */
	unsigned try;     /* candidate number: 0 is NAME itself */
	unsigned seq;     /* temporary names tried */
	uint64_t size;    /* bytes, from stat */
	unsigned mode;    /* st_mode, from stat */
	uv_fs_t fs;       /* the request in flight */
	uv_timer_t timer; /* CTL_ADD_WAIT_MS, while waiting */
	int timer_open;   /* timer initialised: freed in its close callback */
};

struct ctl_client {
	uv_pipe_t pipe;
	struct ctl_server *s;
	char *rbuf; /* CTL_LINE_MAX bytes */
	size_t rlen;
	size_t wpending;
	struct ctl_watch watch[CTL_MAX_WATCH];
	unsigned nwatch;
	struct ctl_search *search[CTL_MAX_SEARCH];
	unsigned nsearch;
	struct ctl_add *add[CTL_MAX_ADD]; /* share.add not answered yet */
	unsigned nadd;
	int closing;
	struct ctl_client *next;
};

struct ctl_server {
	struct node *n;
	uv_pipe_t pipe;
	char *path;
	struct ctl_client *clients;
	unsigned nclients;
	int dead;
	int pipe_open;
};

struct ctl_write {
	uv_write_t req;
	struct ctl_client *cl;
	char *text;
	size_t len;
};

static void ctl_client_close(struct ctl_client *cl);

/* ---- output -------------------------------------------------------------- */

static void
ctl_write_done(uv_write_t *req, int status)
{
	struct ctl_write *w = req->data;

	w->cl->wpending -= w->len;
	free(w->text);
	free(w);
	(void)status;
}

/* Send obj as one line and drop the reference. */
static void
ctl_send(struct ctl_client *cl, json_t *obj)
{
	struct ctl_write *w;
	uv_buf_t b;
	char *text;
	size_t len;

	text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(obj);
	if (text == NULL || cl->closing) {
		free(text);
		return;
	}
	len = strlen(text);
	if (cl->wpending + len > CTL_WRITE_MAX) {
		/* A client that does not read loses its connection, not
		 * our memory. */
		free(text);
		ctl_client_close(cl);
		return;
	}
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	w = xcalloc(1, sizeof(*w));
	w->cl = cl;
	w->text = text;
	w->len = len;
	w->req.data = w;
	b = uv_buf_init(text, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1,
		ctl_write_done) != 0) {
		free(text);
		free(w);
		return;
	}
	cl->wpending += len;
}

static json_t *
ctl_reply(json_t *id)
{
	json_t *o = json_object();

	json_object_set(o, "id", id ? id : json_null());
	return o;
}

static void ctl_error(struct ctl_client *cl, json_t *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
ctl_error(struct ctl_client *cl, json_t *id, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *o = ctl_reply(id);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(o, "done", json_true());
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(o, "error", json_string(msg));
	ctl_send(cl, o);
}

static void
ctl_ok(struct ctl_client *cl, json_t *id, json_t *result)
{
	json_t *o = ctl_reply(id);

	json_object_set_new(o, "done", json_true());
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "result", result ? result : json_object());
	ctl_send(cl, o);
}

/* ---- ops ------------------------------------------------------------------ */

static json_t *
ctl_download_json(const struct download *d)
{
	struct download_info in;
	json_t *o, *srcs;

	download_info(d, &in);
	o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:b,s:I,s:I,s:f,s:i,s:i,s:i,"
		      "s:i}",
	    "id", (json_int_t)in.id, "md5", in.md5, "name", in.name, "path",
	    in.path, "state", download_state_name(in.state), "size",
	    (json_int_t)in.size, "size_known", in.size_known, "bytes",
	    (json_int_t)in.bytes, "fetched", (json_int_t)in.fetched, "rate",
	    in.rate, "parts", (int)in.nparts, "parts_done", (int)in.parts_done,
	    "sources", (int)in.nsources, "active_sources",
	    (int)in.active_sources);
	srcs = json_array();
	for (unsigned i = 0; i < in.nsources; i++) {
		struct download_source_info si;
		json_t *via = json_array();

		download_source_info(d, i, &si);
		for (const char *p = si.via; *p != '\0';) {
			size_t len = strcspn(p, ",");

			json_array_append_new(via, json_stringn(p, len));
			p += len + (p[len] == ',');
		}
		json_array_append_new(srcs,
		    json_pack(
			"{s:s,s:s,s:s,s:i,s:I,s:i,s:i,s:f,s:I,s:I,s:s,s:o}",
			"label", si.label, "state",
			download_source_state_name(si.state), "protocol",
			si.ext == 1       ? "retp"
			    : si.ext == 0 ? "retr"
					  : "unknown",
			"inflight", (int)si.inflight, "fetched",
			(json_int_t)si.fetched, "good_parts",
			(int)si.good_parts, "bad_parts", (int)si.bad_parts,
			"rate", si.rate, "rtt_ms", (json_int_t)si.rtt_ms,
			"retry_in_ms", (json_int_t)si.retry_in_ms, "error",
			si.error, "overlays", via));
	}
	json_object_set_new(o, "source_list", srcs);
	if (in.state == DOWNLOAD_WAITING) {
		json_object_set_new(
		    o, "retry_in_ms", json_integer((json_int_t)in.retry_in_ms));
		json_object_set_new(o, "waiting_for", json_string(in.message));
	}
	if (in.state == DOWNLOAD_FAILED || in.state == DOWNLOAD_CANCELED) {
		json_object_set_new(o, "error", json_string(in.message));
		json_object_set_new(
		    o, "error_code", json_string(warren_strerror(in.err)));
	}
	return o;
}

static void
ctl_status_download(void *arg, struct download *d)
{
	json_t *counts = arg;
	struct download_info in;
	const char *key;

	download_info(d, &in);
	key = download_state_name(in.state);
	json_object_set_new(counts, key,
	    json_integer(json_integer_value(json_object_get(counts, key)) + 1));
}

/* Every joined overlay's status (or peers) object. */
static json_t *
ctl_overlays_json(struct node *n, int peers)
{
	json_t *list = json_array();

	for (unsigned i = 0; i < n->nov; i++) {
		const struct overlay_ops *ops = n->ov[i].ops;

		json_array_append_new(list,
		    peers ? ops->peers(n->ov[i].o) : ops->status(n->ov[i].o));
	}
	return list;
}

static void
ctl_op_peers(struct ctl_client *cl, json_t *id)
{
	ctl_ok(cl, id,
	    json_pack("{s:o}", "overlays", ctl_overlays_json(cl->s->n, 1)));
}

static void
ctl_search_event(void *arg, json_t *ev)
{
	struct ctl_search *cs = arg;
	struct ctl_client *cl = cs->cl;
	int last = json_object_get(ev, "done") != NULL;

	json_object_set(ev, "id", cs->req_id);
	ctl_send(cl, ev);
	if (!last)
		return;
	for (unsigned i = 0; i < cl->nsearch; i++) {
		if (cl->search[i] == cs) {
			cl->search[i] = cl->search[--cl->nsearch];
			break;
		}
	}
	json_decref(cs->req_id);
	free(cs);
}

/* search {"term", "overlay"?, "window"? (s), "ttl"?} */
static void
ctl_op_search(struct ctl_client *cl, json_t *id, json_t *req)
{
	struct node_search_opts o;
	struct ctl_search *cs;
	json_t *w = json_object_get(req, "window");
	json_t *ttl = json_object_get(req, "ttl");
	char err[256];

	memset(&o, 0, sizeof(o));
	o.term = json_string_value(json_object_get(req, "term"));
	o.overlay = json_string_value(json_object_get(req, "overlay"));
	if (o.term == NULL) {
		ctl_error(cl, id, "search: missing \"term\"");
		return;
	}
	if (w != NULL) {
		if (!json_is_number(w) || json_number_value(w) <= 0 ||
		    json_number_value(w) > 600) {
			ctl_error(cl, id,
			    "search: \"window\" must be a number of seconds "
			    "above 0 and at most 600");
			return;
		}
		o.window_ms = (uint64_t)(json_number_value(w) * 1000.0 + 0.5);
	}
	if (ttl != NULL) {
		if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
		    json_integer_value(ttl) > 99) {
			ctl_error(cl, id, "search: \"ttl\" must be 1 to 99");
			return;
		}
		o.ttl = (unsigned)json_integer_value(ttl);
	}
	if (cl->nsearch == CTL_MAX_SEARCH) {
		ctl_error(cl, id,
		    "search: %d searches are already running on this "
		    "connection",
		    CTL_MAX_SEARCH);
		return;
	}
	cs = xcalloc(1, sizeof(*cs));
	cs->cl = cl;
	cs->req_id = json_incref(id ? id : json_null());
	cs->s = node_search_start(
	    cl->s->n, &o, ctl_search_event, cs, err, sizeof(err));
	if (cs->s == NULL) {
		json_decref(cs->req_id);
		free(cs);
		ctl_error(cl, id, "search: %s", err);
		return;
	}
	cl->search[cl->nsearch++] = cs;
}

static void
ctl_op_status(struct ctl_client *cl, json_t *id)
{
	struct node *n = cl->s->n;
	struct library_stats ls;
	struct upload_stats us;
	struct request_stats rs;
	json_t *r, *listen, *dls;
	char a[ADDR_STRLEN];

	library_stats(n->lib, &ls);
	upload_stats(n->up, &us);
	request_server_stats(n->rs, &rs);
	listen = json_array();
	for (unsigned i = 0; request_server_addr(n->rs, i) != NULL; i++) {
		addr_format(request_server_addr(n->rs, i), a, sizeof(a));
		json_array_append_new(listen, json_string(a));
	}
	dls = json_object();
	downloader_foreach(n->dl, ctl_status_download, dls);
	r = json_pack("{s:s,s:i,s:I,s:i,s:o,s:s,s:s,s:s}", "version",
	    WARREN_VERSION, "proto", CTL_PROTO, "uptime_ms",
	    (json_int_t)(uv_now(n->loop) - n->started_ms), "pid", (int)getpid(),
	    "listen", listen, "share_dir", library_dir(n->lib), "download_dir",
	    n->cfg->download_dir, "socket", n->cfg->socket_path);
	json_object_set_new(r, "library",
	    json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ready",
		library_ready(n->lib), "files", (json_int_t)ls.files, "bytes",
		(json_int_t)ls.bytes, "hashed_files",
		(json_int_t)ls.hashed_files, "hashed_bytes",
		(json_int_t)ls.hashed_bytes, "cached_files",
		(json_int_t)ls.cached_files, "pending", (json_int_t)ls.pending,
		"scans", (json_int_t)ls.scans, "name_too_long",
		(json_int_t)ls.name_too_long, "errors", (json_int_t)ls.errors));
	json_object_set_new(r, "uploads",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:I,s:i,s:I}",
		"active", (json_int_t)us.active, "started",
		(json_int_t)us.started, "completed", (json_int_t)us.completed,
		"failed", (json_int_t)us.failed, "hash_served",
		(json_int_t)us.hash_served, "not_found",
		(json_int_t)us.not_found, "busy", (json_int_t)us.busy,
		"changed", (json_int_t)us.changed, "bytes",
		(json_int_t)us.bytes, "slots", (int)n->cfg->upload_slots,
		"queued", (json_int_t)us.queued, "queue_max",
		(int)n->cfg->upload_queue, "queued_total",
		(json_int_t)us.queued_total));
	json_object_set_new(r, "requests",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "accepted",
		(json_int_t)rs.accepted, "handled", (json_int_t)rs.handled,
		"malformed", (json_int_t)rs.malformed, "unknown",
		(json_int_t)rs.unknown, "timeouts", (json_int_t)rs.timeouts,
		"truncated", (json_int_t)rs.truncated));
	json_object_set_new(r, "downloads", dls);
	json_object_set_new(r, "overlays", ctl_overlays_json(n, 0));
	if (n->faults_text[0] != '\0')
		json_object_set_new(
		    r, "test_faults", json_string(n->faults_text));
	ctl_ok(cl, id, r);
}

static void
ctl_share_file(void *arg, const struct library_file *f)
{
	json_t *files = arg;

	json_array_append_new(files,
	    json_pack("{s:s%,s:s,s:I,s:s,s:s,s:i,s:b}", "name", f->name,
		f->name_len, "path", f->path, "size", (json_int_t)f->size,
		"md5", f->md5, "sha1", f->sha1, "parts", (int)f->nparts,
		"name_too_long", f->name_too_long));
}

static void
ctl_op_share_ls(struct ctl_client *cl, json_t *id)
{
	struct node *n = cl->s->n;
	json_t *files = json_array();

	library_foreach(n->lib, ctl_share_file, files);
	ctl_ok(cl, id,
	    json_pack("{s:s,s:b,s:o}", "dir", library_dir(n->lib), "ready",
		library_ready(n->lib), "files", files));
}

/* ---- share.add ------------------------------------------------------------- */

static void ctl_add_run(struct ctl_add *a);
static void ctl_add_fail(struct ctl_add *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Temporary copies are named by this counter (process-wide, so two nodes
 * of one process sharing a folder do not collide; EEXIST moves on too). */
static unsigned ctl_add_seq;

static void
ctl_add_set_state(struct ctl_add *a, enum ctl_add_state st)
{
	if (a->state != st)
		log_debug("share add %s: %s -> %s", a->src,
		    ctl_add_state_names[a->state], ctl_add_state_names[st]);
	a->state = st;
}

static void
ctl_add_free(struct ctl_add *a)
{
	json_decref(a->req_id);
	free(a->src);
	free(a->name);
	free(a->tmp);
	free(a->cand);
	free(a->dest);
	free(a);
}

static void
ctl_add_timer_closed(uv_handle_t *h)
{
	ctl_add_free(h->data);
}

/* Forget a's client (no reply will be sent); a stays alive. */
static void
ctl_add_detach(struct ctl_add *a)
{
	struct ctl_client *cl = a->cl;

	if (cl == NULL)
		return;
	for (unsigned i = 0; i < cl->nadd; i++) {
		if (cl->add[i] == a) {
			cl->add[i] = cl->add[--cl->nadd];
			break;
		}
	}
	a->cl = NULL;
}

/* End a, which has no request in flight: free it, now or once its timer
 * has closed. */
static void
ctl_add_end(struct ctl_add *a)
{
	ctl_add_detach(a);
	if (a->timer_open)
		uv_close((uv_handle_t *)&a->timer, ctl_add_timer_closed);
	else
		ctl_add_free(a);
}

/* Answer with the listed file f, or without a hash (f NULL: the library
 * has not listed it in time), and end a. */
static void
ctl_add_reply(struct ctl_add *a, const struct library_file *f)
{
	struct ctl_client *cl = a->cl;
	json_t *r;

	/* Detached first: sending may close the client. */
	ctl_add_detach(a);
	if (cl != NULL) {
		r = json_pack("{s:s,s:s,s:I,s:s}", "path", a->dest, "name",
		    strrchr(a->dest, '/') + 1, "size",
		    (json_int_t)(f != NULL ? f->size : a->size), "mode",
		    a->in_place   ? "in_place"
			: a->link ? "link"
				  : "copy");
		json_object_set_new(
		    r, "md5", f != NULL ? json_string(f->md5) : json_null());
		json_object_set_new(
		    r, "sha1", f != NULL ? json_string(f->sha1) : json_null());
		if (f == NULL)
			json_object_set_new(r, "note",
			    json_string("the file is in the shared folder but "
					"not hashed yet (a big file, or one "
					"the node cannot read): see 'warren "
					"share ls'"));
		ctl_ok(cl, a->req_id, r);
	}
	ctl_add_end(a);
}

static void
ctl_add_fail(struct ctl_add *a, const char *fmt, ...)
{
	struct ctl_client *cl = a->cl;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_add_detach(a);
	if (cl != NULL)
		ctl_error(cl, a->req_id, "share.add: %s", msg);
	else
		log_info("share add %s: %s", a->src, msg);
	if (a->tmp_made) {
		/* The half-made copy goes; a is ended once it is gone. */
		ctl_add_set_state(a, CTL_ADD_CLEANUP);
		ctl_add_run(a);
		return;
	}
	ctl_add_end(a);
}

/* Go on with state st, unless the node is stopping: then undo. */
static void
ctl_add_next(struct ctl_add *a, enum ctl_add_state st)
{
	if (a->n->stopping) {
		ctl_add_fail(a, "the node is stopping");
		return;
	}
	ctl_add_set_state(a, st);
	ctl_add_run(a);
}

struct ctl_add_find {
	const char *path;
	const struct library_file *f;
};

static void
ctl_add_find_cb(void *arg, const struct library_file *f)
{
	struct ctl_add_find *q = arg;

	if (q->f == NULL && strcmp(f->path, q->path) == 0)
		q->f = f;
}

static void
ctl_add_timeout(uv_timer_t *t)
{
	struct ctl_add *a = t->data;

	log_warn("share add %s: not hashed after %d s; answering without "
		 "its MD5",
	    a->dest, CTL_ADD_WAIT_MS / 1000);
	ctl_add_reply(a, NULL);
}

/* The file is in place: have the library hash it (the overlays publish
 * what it lists) and answer once it is listed, or after CTL_ADD_WAIT_MS. */
static void
ctl_add_wait(struct ctl_add *a)
{
	struct node *n = a->n;
	struct ctl_add_find q = {a->dest, NULL};

	library_foreach(n->lib, ctl_add_find_cb, &q);
	if (q.f != NULL) {
		ctl_add_reply(a, q.f);
		return;
	}
	log_info("share add: %s %s %s", a->src,
	    a->in_place   ? "is already in place as"
		: a->link ? "linked to"
			  : "copied to",
	    a->dest);
	library_touch(n->lib, a->dest);
	if (a->cl == NULL) {
		ctl_add_end(a); /* nobody waits for the answer */
		return;
	}
	uv_timer_init(n->loop, &a->timer);
	a->timer.data = a;
	a->timer_open = 1;
	uv_timer_start(&a->timer, ctl_add_timeout, CTL_ADD_WAIT_MS, 0);
}

/* Library events: answer the adds waiting for that path. */
static void
ctl_library_event(
    void *arg, enum library_event ev, const struct library_file *f)
{
	struct node *n = arg;
	struct ctl_client *cl, *next;

	if (ev != LIBRARY_ADDED || n->ctl == NULL)
		return;
	for (cl = n->ctl->clients; cl != NULL; cl = next) {
		next = cl->next;
		for (unsigned i = 0; i < cl->nadd; i++) {
			struct ctl_add *a = cl->add[i];

			if (a->state != CTL_ADD_WAIT ||
			    strcmp(a->dest, f->path) != 0)
				continue;
			ctl_add_reply(a, f); /* removes it from cl->add */
			i = (unsigned)-1;    /* the list changed: again */
		}
	}
}

/* Why name cannot be the name of a shared file, or NULL if it can. */
static const char *
ctl_add_name_bad(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return "it is empty";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "'.' and '..' are not file names";
	if (strchr(name, '/') != NULL)
		return "it contains '/' (give a file name, not a path)";
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "it contains control characters";
	if (name[0] == '.')
		return "it starts with '.', and the library does not share "
		       "hidden files";
	if (len >= 5 && memcmp(name + len - 5, ".part", 5) == 0)
		return "it ends in '.part', and the library does not share "
		       "partial files";
	if (len > CTL_NAME_MAX)
		return "it is longer than 255 bytes";
	return NULL;
}

/*
 * Where the resolved source is: in the shared folder (1; *hidden set when
 * the library skips it: a hidden folder or name, or a .part file) or not
 * (0).
 */
static int
ctl_add_in_share(const char *dir, const char *path, int *hidden)
{
	size_t len = strlen(dir);
	const char *p;

	*hidden = 0;
	if (len > 0 && dir[len - 1] == '/')
		len--; /* the folder is "/" */
	if (strncmp(path, dir, len) != 0 || path[len] != '/')
		return 0;
	for (p = path + len + 1; *p != '\0';) {
		size_t n = strcspn(p, "/");

		if (p[0] == '.' ||
		    (p[n] == '\0' && n >= 5 &&
			memcmp(p + n - 5, ".part", 5) == 0))
			*hidden = 1;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

/* The source is a readable regular file: decide what to do with it. */
static void
ctl_add_place(struct ctl_add *a)
{
	const char *base = strrchr(a->src, '/') + 1;
	const char *why;
	int hidden;

	if (a->n->stopping) { /* the library may be gone */
		ctl_add_fail(a, "the node is stopping");
		return;
	}
	if (ctl_add_in_share(library_dir(a->n->lib), a->src, &hidden)) {
		if (hidden) {
			ctl_add_fail(a,
			    "%s is in the shared folder, but the library "
			    "skips it (hidden, or a .part file): rename it",
			    a->src);
			return;
		}
		if (a->name != NULL && strcmp(a->name, base) != 0) {
			ctl_add_fail(a,
			    "%s is already in the shared folder: it cannot be "
			    "shared under another name (rename it there)",
			    a->src);
			return;
		}
		a->in_place = 1;
		a->dest = xstrdup(a->src);
		ctl_add_next(a, CTL_ADD_WAIT);
		return;
	}
	if (a->name == NULL) {
		if ((why = ctl_add_name_bad(base)) != NULL) {
			ctl_add_fail(a,
			    "cannot share %s under its own name: %s (give "
			    "another name)",
			    a->src, why);
			return;
		}
		a->name = xstrdup(base);
	}
	ctl_add_next(a, a->link ? CTL_ADD_LINK : CTL_ADD_COPY);
}

/* Handle the result rc of the request of the current state. */
static void
ctl_add_done(struct ctl_add *a, int rc)
{
	switch (a->state) {
	case CTL_ADD_REALPATH:
		if (rc == UV_ENOENT || rc == UV_ENOTDIR)
			ctl_add_fail(a, "no such file: %s", a->src);
		else if (rc < 0)
			ctl_add_fail(a, "cannot resolve %s: %s", a->src,
			    uv_strerror(rc));
		else
			ctl_add_next(a, CTL_ADD_STAT);
		return;
	case CTL_ADD_STAT:
		if (rc < 0)
			ctl_add_fail(
			    a, "cannot stat %s: %s", a->src, uv_strerror(rc));
		else if (S_ISDIR(a->mode))
			ctl_add_fail(a,
			    "%s is a folder, not a file (share the files in "
			    "it one by one)",
			    a->src);
		else if (!S_ISREG(a->mode))
			ctl_add_fail(a, "%s is not a regular file", a->src);
		else
			ctl_add_next(a, CTL_ADD_ACCESS);
		return;
	case CTL_ADD_ACCESS:
		if (rc < 0)
			ctl_add_fail(
			    a, "cannot read %s: %s", a->src, uv_strerror(rc));
		else
			ctl_add_place(a);
		return;
	case CTL_ADD_COPY:
		if (rc == UV_EEXIST && ++a->seq < CTL_ADD_TRIES) {
			ctl_add_next(a, CTL_ADD_COPY); /* a stale name */
		} else if (rc < 0) {
			/* libuv removed what it had written. */
			ctl_add_fail(a,
			    "cannot copy %s into the shared folder: %s", a->src,
			    uv_strerror(rc));
		} else {
			a->tmp_made = 1;
			ctl_add_next(a, CTL_ADD_LINK);
		}
		return;
	case CTL_ADD_LINK:
		if (rc == 0) {
			a->dest = a->cand;
			a->cand = NULL;
			ctl_add_next(
			    a, a->link ? CTL_ADD_WAIT : CTL_ADD_UNLINK);
		} else if (rc == UV_EEXIST && ++a->try < CTL_ADD_TRIES) {
			ctl_add_next(a, CTL_ADD_LINK);
		} else if (rc == UV_EEXIST) {
			ctl_add_fail(a,
			    "%s and %u names like it (NAME (1), ...) already "
			    "exist in the shared folder",
			    a->name, CTL_ADD_TRIES - 1);
		} else if (a->link && rc == UV_EXDEV) {
			ctl_add_fail(a,
			    "cannot hard-link across filesystems: copy it "
			    "instead (without --link)");
		} else if (a->link && rc == UV_EPERM) {
			ctl_add_fail(a,
			    "cannot hard-link %s: operation not permitted (a "
			    "file system without hard links, or a file of "
			    "another user): copy it instead (without --link)",
			    a->src);
		} else if (!a->link &&
		    (rc == UV_EPERM || rc == UV_ENOTSUP || rc == UV_ENOSYS)) {
			/* No hard links in the shared folder: rename, after
			 * checking the name is free (not atomic, but the
			 * best such a file system offers). */
			ctl_add_next(a, CTL_ADD_PROBE);
		} else {
			ctl_add_fail(a, "cannot link %s to %s: %s",
			    a->link ? a->src : a->tmp, a->cand,
			    uv_strerror(rc));
		}
		return;
	case CTL_ADD_PROBE:
		if (rc == UV_ENOENT)
			ctl_add_next(a, CTL_ADD_RENAME);
		else if (rc == 0 && ++a->try < CTL_ADD_TRIES)
			ctl_add_next(a, CTL_ADD_PROBE);
		else if (rc == 0)
			ctl_add_fail(a,
			    "%s and %u names like it (NAME (1), ...) already "
			    "exist in the shared folder",
			    a->name, CTL_ADD_TRIES - 1);
		else
			ctl_add_fail(
			    a, "cannot check %s: %s", a->cand, uv_strerror(rc));
		return;
	case CTL_ADD_RENAME:
		if (rc < 0) {
			ctl_add_fail(a, "cannot rename %s to %s: %s", a->tmp,
			    a->cand, uv_strerror(rc));
			return;
		}
		a->tmp_made = 0;
		a->dest = a->cand;
		a->cand = NULL;
		ctl_add_next(a, CTL_ADD_WAIT);
		return;
	case CTL_ADD_UNLINK:
		if (rc < 0)
			log_warn("share add: cannot remove %s: %s", a->tmp,
			    uv_strerror(rc));
		a->tmp_made = 0;
		ctl_add_next(a, CTL_ADD_WAIT);
		return;
	case CTL_ADD_CLEANUP:
		if (rc < 0 && rc != UV_ENOENT)
			log_warn("share add: cannot remove %s: %s", a->tmp,
			    uv_strerror(rc));
		a->tmp_made = 0;
		ctl_add_end(a);
		return;
	case CTL_ADD_WAIT:
		break; /* no file-system request in this state */
	}
	assert(0);
}

static void
ctl_add_fs_done(uv_fs_t *req)
{
	struct ctl_add *a = req->data;
	int rc = (int)req->result;

	if (rc >= 0 && a->state == CTL_ADD_REALPATH) {
		free(a->src);
		a->src = xstrdup(req->ptr);
	} else if (rc >= 0 && a->state == CTL_ADD_STAT) {
		a->mode = (unsigned)req->statbuf.st_mode;
		a->size = req->statbuf.st_size;
	}
	uv_fs_req_cleanup(req);
	ctl_add_done(a, rc > 0 ? 0 : rc);
}

/* Start the request of the current state. */
static void
ctl_add_run(struct ctl_add *a)
{
	uv_loop_t *loop = a->n->loop;
	uv_fs_t *req = &a->fs;
	int rc = 0;

	req->data = a;
	switch (a->state) {
	case CTL_ADD_REALPATH:
		rc = uv_fs_realpath(loop, req, a->src, ctl_add_fs_done);
		break;
	case CTL_ADD_STAT:
		rc = uv_fs_stat(loop, req, a->src, ctl_add_fs_done);
		break;
	case CTL_ADD_ACCESS:
		rc = uv_fs_access(loop, req, a->src, R_OK, ctl_add_fs_done);
		break;
	case CTL_ADD_COPY:
		/* Hidden and .part: the library never lists it. */
		free(a->tmp);
		a->tmp = xasprintf("%s/.warren-add-%ld-%u.part",
		    library_dir(a->n->lib), (long)getpid(), ctl_add_seq++);
		rc = uv_fs_copyfile(loop, req, a->src, a->tmp,
		    UV_FS_COPYFILE_EXCL, ctl_add_fs_done);
		break;
	case CTL_ADD_LINK:
		free(a->cand);
		a->cand = path_candidate(
		    library_dir(a->n->lib), a->name, a->try, "");
		rc = uv_fs_link(loop, req, a->link ? a->src : a->tmp, a->cand,
		    ctl_add_fs_done);
		break;
	case CTL_ADD_PROBE:
		free(a->cand);
		a->cand = path_candidate(
		    library_dir(a->n->lib), a->name, a->try, "");
		rc = uv_fs_lstat(loop, req, a->cand, ctl_add_fs_done);
		break;
	case CTL_ADD_RENAME:
		rc = uv_fs_rename(loop, req, a->tmp, a->cand, ctl_add_fs_done);
		break;
	case CTL_ADD_UNLINK:
	case CTL_ADD_CLEANUP:
		rc = uv_fs_unlink(loop, req, a->tmp, ctl_add_fs_done);
		break;
	case CTL_ADD_WAIT:
		ctl_add_wait(a);
		return;
	}
	if (rc < 0) /* not queued: its callback will not run */
		ctl_add_done(a, rc);
}

/* share.add {"path": ABSOLUTE, "mode"?: "copy"|"link", "name"?} */
static void
ctl_op_share_add(struct ctl_client *cl, json_t *id, json_t *req)
{
	json_t *jpath = json_object_get(req, "path");
	json_t *jname = json_object_get(req, "name");
	json_t *jmode = json_object_get(req, "mode");
	const char *path = json_string_value(jpath);
	const char *name = NULL, *mode = "copy", *why;
	struct ctl_add *a;

	if (path == NULL || path[0] != '/' ||
	    strlen(path) != json_string_length(jpath)) {
		ctl_error(
		    cl, id, "share.add: \"path\" must be an absolute path");
		return;
	}
	if (jmode != NULL &&
	    ((mode = json_string_value(jmode)) == NULL ||
		(strcmp(mode, "copy") != 0 && strcmp(mode, "link") != 0))) {
		ctl_error(
		    cl, id, "share.add: \"mode\" must be \"copy\" or \"link\"");
		return;
	}
	if (jname != NULL && !json_is_null(jname)) {
		name = json_string_value(jname);
		if (name == NULL || strlen(name) != json_string_length(jname)) {
			ctl_error(
			    cl, id, "share.add: \"name\" must be a string");
			return;
		}
		if ((why = ctl_add_name_bad(name)) != NULL) {
			ctl_error(cl, id, "share.add: bad name: %s", why);
			return;
		}
	}
	if (cl->nadd == CTL_MAX_ADD) {
		ctl_error(cl, id,
		    "share.add: %d adds are already running on this "
		    "connection",
		    CTL_MAX_ADD);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->n = cl->s->n;
	a->cl = cl;
	a->req_id = json_incref(id ? id : json_null());
	a->link = strcmp(mode, "link") == 0;
	a->src = xstrdup(path);
	a->name = name != NULL ? xstrdup(name) : NULL;
	cl->add[cl->nadd++] = a;
	ctl_add_set_state(a, CTL_ADD_REALPATH);
	ctl_add_run(a);
}

static void
ctl_list_download(void *arg, struct download *d)
{
	json_array_append_new(arg, ctl_download_json(d));
}

static void
ctl_op_downloads(struct ctl_client *cl, json_t *id)
{
	json_t *list = json_array();

	downloader_foreach(cl->s->n->dl, ctl_list_download, list);
	ctl_ok(cl, id, json_pack("{s:o}", "downloads", list));
}

/* One source: {"label": "host:port", "addrs": ["1.2.3.4:5", ...]} or a
 * plain "ADDR:PORT" string. */
static int
ctl_parse_source(json_t *j, struct download_source *s, char *err, size_t errlen)
{
	json_t *addrs, *a;
	const char *label;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (json_is_string(j)) {
		label = json_string_value(j);
		if (addr_parse(label, 0, &s->addrs[0]) != 0)
			goto bad;
		s->naddrs = 1;
		snprintf(s->label, sizeof(s->label), "%s", label);
		return 0;
	}
	label = json_string_value(json_object_get(j, "label"));
	addrs = json_object_get(j, "addrs");
	if (label == NULL || !json_is_array(addrs) ||
	    json_array_size(addrs) == 0)
		goto bad;
	snprintf(s->label, sizeof(s->label), "%s", label);
	json_array_foreach(addrs, i, a)
	{
		if (s->naddrs == DIAL_MAX_ADDRS)
			break;
		if (!json_is_string(a) ||
		    addr_parse(json_string_value(a), 0, &s->addrs[s->naddrs]) !=
			0)
			goto bad;
		s->naddrs++;
	}
	return 0;
bad:
	snprintf(err, errlen,
	    "bad source: expected \"ADDR:PORT\" or {\"label\":..,"
	    "\"addrs\":[\"ADDR:PORT\",..]}");
	return -1;
}

static void
ctl_op_get(struct ctl_client *cl, json_t *id, json_t *req)
{
	struct node *n = cl->s->n;
	struct download_source src[DOWNLOAD_MAX_SOURCES];
	const char *md5 = json_string_value(json_object_get(req, "md5"));
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *dir = json_string_value(json_object_get(req, "dir"));
	json_t *from = json_object_get(req, "from"), *j;
	int background = json_is_true(json_object_get(req, "background"));
	struct download *d;
	unsigned nsrc = 0;
	char err[256];
	size_t i;
	int rc;

	if (md5 == NULL) {
		ctl_error(cl, id, "get: missing \"md5\"");
		return;
	}
	json_array_foreach(from, i, j)
	{
		if (nsrc == DOWNLOAD_MAX_SOURCES)
			break;
		if (ctl_parse_source(j, &src[nsrc], err, sizeof(err)) != 0) {
			ctl_error(cl, id, "get: %s", err);
			return;
		}
		nsrc++;
	}
	if (from != NULL && !json_is_array(from)) {
		ctl_error(cl, id, "get: \"from\" must be a list of sources");
		return;
	}
	/* Add what searches found. */
	if (nsrc < DOWNLOAD_MAX_SOURCES && strlen(md5) == COURSE_MD5_LEN) {
		char lower[COURSE_MD5_LEN + 1];
		const char *known_name;

		for (i = 0; i <= COURSE_MD5_LEN; i++)
			lower[i] = (char)tolower((unsigned char)md5[i]);
		nsrc += known_get(n->known, lower, src + nsrc,
		    DOWNLOAD_MAX_SOURCES - nsrc, &known_name, uv_now(n->loop));
		if (name == NULL)
			name = known_name;
	}
	if (nsrc == 0) {
		ctl_error(cl, id,
		    "get: no source known for %s (run 'warren search' "
		    "first, or give one with --from HOST:PORT)",
		    md5);
		return;
	}
	if (dir == NULL)
		dir = n->cfg->download_dir;
	rc = download_start(n->dl, md5, name, dir, src, nsrc, &d);
	if (rc == WARREN_EFIELD) {
		ctl_error(
		    cl, id, "get: '%s' is not an MD5 (32 hex digits)", md5);
		return;
	}
	if (rc != 0) {
		ctl_error(cl, id, "get: cannot download into %s: %s", dir,
		    rc == -ENOTDIR ? "not an existing absolute folder"
				   : warren_strerror(rc));
		return;
	}
	if (background) {
		ctl_ok(cl, id,
		    json_pack("{s:o}", "download", ctl_download_json(d)));
		return;
	}
	if (cl->nwatch < CTL_MAX_WATCH) {
		cl->watch[cl->nwatch].download_id = download_id(d);
		cl->watch[cl->nwatch].req_id = json_incref(id);
		cl->nwatch++;
	}
	{
		json_t *o = ctl_reply(id);

		json_object_set_new(o, "event", json_string("started"));
		json_object_set_new(o, "download", ctl_download_json(d));
		ctl_send(cl, o);
	}
}

/* pause / resume / cancel {"download": ID} */
static void
ctl_op_control(struct ctl_client *cl, json_t *id, json_t *req, const char *op)
{
	json_t *jid = json_object_get(req, "download");
	struct download *d;
	int rc;

	if (!json_is_integer(jid)) {
		ctl_error(
		    cl, id, "%s: missing \"download\" (a download id)", op);
		return;
	}
	d = download_find(cl->s->n->dl, (uint64_t)json_integer_value(jid));
	if (d == NULL) {
		ctl_error(cl, id,
		    "%s: no download %lld (see 'warren "
		    "downloads')",
		    op, (long long)json_integer_value(jid));
		return;
	}
	if (strcmp(op, "pause") == 0)
		rc = download_pause(d);
	else if (strcmp(op, "resume") == 0)
		rc = download_resume(d);
	else
		rc = download_cancel(d);
	if (rc != 0) {
		ctl_error(cl, id, "%s: download %lld is already finished", op,
		    (long long)json_integer_value(jid));
		return;
	}
	ctl_ok(cl, id, json_pack("{s:o}", "download", ctl_download_json(d)));
}

static void
ctl_op_stop(struct ctl_client *cl, json_t *id)
{
	ctl_ok(cl, id, NULL);
	node_stop(cl->s->n);
}

static void
ctl_dispatch(struct ctl_client *cl, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req, *id;
	const char *op;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL || !json_is_object(req)) {
		ctl_error(cl, NULL, "bad request: %s",
		    req ? "not a JSON object" : jerr.text);
		json_decref(req);
		return;
	}
	id = json_object_get(req, "id");
	op = json_string_value(json_object_get(req, "op"));
	if (op == NULL)
		ctl_error(cl, id, "bad request: missing \"op\"");
	else if (strcmp(op, "status") == 0)
		ctl_op_status(cl, id);
	else if (strcmp(op, "share.ls") == 0)
		ctl_op_share_ls(cl, id);
	else if (strcmp(op, "share.add") == 0)
		ctl_op_share_add(cl, id, req);
	else if (strcmp(op, "get") == 0)
		ctl_op_get(cl, id, req);
	else if (strcmp(op, "downloads") == 0)
		ctl_op_downloads(cl, id);
	else if (strcmp(op, "search") == 0)
		ctl_op_search(cl, id, req);
	else if (strcmp(op, "peers") == 0)
		ctl_op_peers(cl, id);
	else if (strcmp(op, "pause") == 0 || strcmp(op, "resume") == 0 ||
	    strcmp(op, "cancel") == 0)
		ctl_op_control(cl, id, req, op);
	else if (strcmp(op, "stop") == 0)
		ctl_op_stop(cl, id);
	else
		ctl_error(cl, id, "unknown op '%s'", op);
	json_decref(req);
}

void
ctl_download_event(
    struct ctl_server *s, struct download *d, enum download_event ev)
{
	uint64_t did = download_id(d);

	if (s == NULL)
		return;
	for (struct ctl_client *cl = s->clients; cl != NULL; cl = cl->next) {
		for (unsigned i = 0; i < cl->nwatch; i++) {
			struct ctl_watch *w = &cl->watch[i];
			json_t *o;

			if (w->download_id != did)
				continue;
			if (ev == DOWNLOAD_EV_DONE ||
			    ev == DOWNLOAD_EV_FAILED) {
				o = ctl_reply(w->req_id);
				json_object_set_new(o, "done", json_true());
				json_object_set_new(o, "ok",
				    json_boolean(ev == DOWNLOAD_EV_DONE));
				json_object_set_new(o, "result",
				    json_pack("{s:o}", "download",
					ctl_download_json(d)));
				if (ev == DOWNLOAD_EV_FAILED) {
					struct download_info in;

					download_info(d, &in);
					json_object_set_new(o, "error",
					    json_string(in.message));
				}
				ctl_send(cl, o);
				json_decref(w->req_id);
				*w = cl->watch[--cl->nwatch];
				i--;
				continue;
			}
			o = ctl_reply(w->req_id);
			json_object_set_new(o, "event",
			    json_string(ev == DOWNLOAD_EV_STARTED
				    ? "started"
				    : "progress"));
			json_object_set_new(
			    o, "download", ctl_download_json(d));
			ctl_send(cl, o);
		}
	}
}

/* ---- connections ------------------------------------------------------------ */

static void
ctl_client_freed(uv_handle_t *h)
{
	struct ctl_client *cl = h->data;
	struct ctl_server *s = cl->s;
	struct ctl_client **pp;

	for (pp = &s->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	s->nclients--;
	for (unsigned i = 0; i < cl->nwatch; i++)
		json_decref(cl->watch[i].req_id);
	free(cl->rbuf);
	free(cl);
	if (s->dead && s->clients == NULL && !s->pipe_open) {
		free(s->path);
		free(s);
	}
}

static void
ctl_client_close(struct ctl_client *cl)
{
	if (cl->closing)
		return;
	cl->closing = 1;
	/* Nobody will read the hits: stop the searches now. */
	while (cl->nsearch > 0) {
		struct ctl_search *cs = cl->search[--cl->nsearch];

		node_search_cancel(cs->s);
		json_decref(cs->req_id);
		free(cs);
	}
	/* Adds whose file is being copied or linked finish without a reply;
	 * those waiting for the library end now. */
	while (cl->nadd > 0) {
		struct ctl_add *a = cl->add[--cl->nadd];

		a->cl = NULL;
		if (a->state == CTL_ADD_WAIT)
			ctl_add_end(a);
	}
	uv_close((uv_handle_t *)&cl->pipe, ctl_client_freed);
}

static void
ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_client *cl = h->data;

	(void)suggested;
	buf->base = cl->rbuf + cl->rlen;
	buf->len = CTL_LINE_MAX - cl->rlen;
}

static void
ctl_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_client *cl = st->data;
	int n;

	(void)buf;
	if (nread < 0) {
		ctl_client_close(cl);
		return;
	}
	cl->rlen += (size_t)nread;
	while (!cl->closing &&
	    (n = ctl_line_next(cl->rbuf, cl->rlen, CTL_LINE_MAX)) != 0) {
		if (n < 0) {
			ctl_error(cl, NULL,
			    "bad request: line too long or "
			    "contains NUL");
			ctl_client_close(cl);
			return;
		}
		if (n > 1)
			ctl_dispatch(cl, cl->rbuf, (size_t)n - 1);
		memmove(cl->rbuf, cl->rbuf + n, cl->rlen - (size_t)n);
		cl->rlen -= (size_t)n;
	}
}

static void
ctl_accept(uv_stream_t *st, int status)
{
	struct ctl_server *s = st->data;
	struct ctl_client *cl;

	if (status != 0)
		return;
	cl = xcalloc(1, sizeof(*cl));
	cl->s = s;
	cl->rbuf = xmalloc(CTL_LINE_MAX);
	uv_pipe_init(st->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	cl->next = s->clients;
	s->clients = cl;
	s->nclients++;
	if (uv_accept(st, (uv_stream_t *)&cl->pipe) != 0 ||
	    s->nclients > CTL_MAX_CLIENTS) {
		ctl_client_close(cl);
		return;
	}
	ctl_send(cl,
	    json_pack("{s:s,s:i,s:s}", "event", "hello", "proto", CTL_PROTO,
		"version", WARREN_VERSION));
	uv_read_start((uv_stream_t *)&cl->pipe, ctl_alloc, ctl_read);
}

/* Is a live node answering on path? */
static int
ctl_socket_live(const char *path)
{
	struct sockaddr_un sun;
	int fd, live;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return live;
}

struct ctl_server *
ctl_server_new(struct node *n, const char *path)
{
	struct ctl_server *s;
	mode_t old;
	int err;

	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_error("control socket path too long: %s", path);
		return NULL;
	}
	if (access(path, F_OK) == 0) {
		if (ctl_socket_live(path)) {
			log_error("another node is already running on control "
				  "socket %s (stop it, or use --socket)",
			    path);
			return NULL;
		}
		unlink(path); /* stale, from a node that died */
	}
	s = xcalloc(1, sizeof(*s));
	s->n = n;
	s->path = xstrdup(path);
	uv_pipe_init(n->loop, &s->pipe, 0);
	s->pipe.data = s;
	s->pipe_open = 1;
	old = umask(0177); /* the socket is created 0600 */
	err = uv_pipe_bind(&s->pipe, path);
	umask(old);
	if (err == 0)
		err = uv_listen((uv_stream_t *)&s->pipe, 64, ctl_accept);
	if (err != 0) {
		log_error("cannot listen on control socket %s: %s", path,
		    uv_strerror(err));
		ctl_server_free(s);
		return NULL;
	}
	chmod(path, 0600);
	/* By node, not server: n outlives the library's last event. */
	library_subscribe(n->lib, ctl_library_event, n);
	return s;
}

static void
ctl_server_closed(uv_handle_t *h)
{
	struct ctl_server *s = h->data;

	s->pipe_open = 0;
	if (s->clients == NULL) {
		free(s->path);
		free(s);
	}
}

void
ctl_server_free(struct ctl_server *s)
{
	struct ctl_client *cl, *next;

	if (s == NULL)
		return;
	s->dead = 1;
	unlink(s->path);
	for (cl = s->clients; cl != NULL; cl = next) {
		next = cl->next;
		ctl_client_close(cl);
	}
	uv_close((uv_handle_t *)&s->pipe, ctl_server_closed);
}
