/*
 * The napster overlay over a beer2beer index server (beer2beer.md), client
 * side: REGISTER (or REGISTER_UPDATE of the id kept in data_dir) with every
 * shared file and its md5 annotation, LOGIN with the advertised ip and
 * port, KEEP_ALIVE, library changes as REGISTER_APPEND or REGISTER_UPDATE,
 * SEARCH_FILE followed by DOWNLOAD_FILE to learn each holder's md5, and
 * LOGOUT on a clean stop. Files then travel with the course transfer.
 *
 * Every request goes on a connection of its own (§1 allows it, existing
 * clients do it), so a legacy server that never answers a request costs
 * one connection and one deadline, never a stuck session. The requests
 * that change the registration run one at a time on a "main line"; the
 * keep-alive and searches run beside it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "napster.h"
#include "net/dial.h"
#include "overlay.h"
#include "peerset.h"
#include "store/library.h"
#include "warren/error.h"
#include "wire/beer2beer.h"

#define NB_BATCH_MS        1000  /* library changes gathered per request */
#define NB_LIBRARY_WAIT_MS 10000 /* longest wait for the first scan */
#define NB_POLL_MS         200   /* library readiness poll */
#define NB_LOGOUT_MS       3000  /* LOGOUT deadline on stop */
#define NB_DL_PARALLEL     4     /* DOWNLOAD_FILE at once per search */
#define NB_SHA1_MAX        50    /* distinct sha1s a search follows */
#define NB_HITS_MAX        4096  /* (md5, holder) pairs per search */
#define NB_STATE_FILE      "napster-b2b.json"

/* ----------------------------------------------------------- exchange */

/*
 * One request/response exchange on a connection of its own: dial, write
 * the frame with one write, read exactly one response frame, close. The
 * result says whether the server was silent (connected, request sent, not
 * a byte back before the deadline): that is how a legacy server shows
 * itself (§1), and a connect timeout must not be mistaken for it.
 */
enum nbx_state {
	NBX_DIALING, /* dial in progress: x->dial */
	NBX_WAITING, /* connected, request written, waiting for the frame */
	NBX_CLOSING, /* we closed x->c; x->status is the outcome */
	NBX_DONE,    /* over: freed once dial and conn have let go */
};

struct nbx;

/*
 * The exchange is over. status 0: r is the parsed response (OK or KO; its
 * views are valid during the call only). Otherwise r is NULL and status a
 * libuv or WARREN_E code; silent is 1 when the server took the request
 * and said nothing before the deadline. Called once, never from inside
 * nbx_start(), and never after nbx_cancel().
 */
typedef void (*nbx_done_cb)(
    void *arg, int status, int silent, const struct b2b_response *r);

struct nbx {
	enum nbx_state state;
	uint16_t req;      /* the request's code */
	int canceled;      /* nbx_cancel(): nothing is delivered */
	int delivered;     /* done has run (or never will) */
	int connected;     /* the TCP connection was made */
	int write_pending; /* the write callback has not run yet */
	int status;        /* CLOSING: the outcome */
	struct dial *dial; /* DIALING, else NULL */
	struct conn *c;    /* until its close callback, else NULL */
	uv_loop_t *loop;
	uint64_t timeout_ms; /* response deadline, from the connect */
	uint64_t sent_ms;    /* uv_now() when connected */
	uint8_t *frame;      /* the request, owned until freed */
	size_t len;
	nbx_done_cb done;
	void *arg;
	char label[ADDR_STRLEN];
};

static const char *
nbx_state_name(enum nbx_state s)
{
	switch (s) {
	case NBX_DIALING:
		return "DIALING";
	case NBX_WAITING:
		return "WAITING";
	case NBX_CLOSING:
		return "CLOSING";
	case NBX_DONE:
		return "DONE";
	}
	return "?";
}

static void
nbx_set_state(struct nbx *x, enum nbx_state s)
{
	log_debug("b2b %s %s: %s -> %s", x->label, b2b_request_name(x->req),
	    nbx_state_name(x->state), nbx_state_name(s));
	x->state = s;
}

static void
nbx_maybe_free(struct nbx *x)
{
	if (!x->delivered || x->dial != NULL || x->c != NULL ||
	    x->write_pending)
		return;
	free(x->frame);
	free(x);
}

static void
nbx_deliver(struct nbx *x, int status, int silent, const struct b2b_response *r)
{
	if (x->delivered)
		return;
	x->delivered = 1;
	if (!x->canceled)
		x->done(x->arg, status, silent, r);
}

static void
nbx_close(struct nbx *x, int status)
{
	x->status = status;
	nbx_set_state(x, NBX_CLOSING);
	conn_close(x->c, status);
}

static void
nbx_closed(struct conn *c, int err)
{
	struct nbx *x = c->owner;
	int status = err != 0 ? err : UV_EOF;
	int silent;

	if (x->state == NBX_CLOSING)
		status = x->status;
	/* Silence, not a slow trickle: nothing at all came back. */
	silent = status == UV_ETIMEDOUT && x->connected && c->rx_bytes == 0;
	x->c = NULL;
	nbx_set_state(x, NBX_DONE);
	nbx_deliver(x, status, silent, NULL);
	nbx_maybe_free(x);
}

static void
nbx_read(struct conn *c)
{
	struct nbx *x = c->owner;
	struct b2b_response r;
	struct b2b_str payload;
	uint16_t type;
	int n, rc;

	if (x->state != NBX_WAITING)
		return;
	n = b2b_frame_next(c->rbuf, c->rlen, &type, &payload);
	if (n == 0) {
		/* The idle deadline restarts with every byte: bound the
		 * whole wait as well. */
		if (uv_now(x->loop) - x->sent_ms > x->timeout_ms)
			nbx_close(x, UV_ETIMEDOUT);
		return;
	}
	rc = b2b_response_parse(x->req, type, payload.ptr, payload.len, &r);
	/* Close first (the buffer stays until the close callback), then
	 * deliver: done may cancel or start exchanges. */
	nbx_close(x, rc);
	nbx_deliver(x, rc, 0, rc == 0 ? &r : NULL);
}

static void
nbx_written(struct conn *c, void *arg, int status)
{
	struct nbx *x = arg;

	x->write_pending = 0;
	if (status != 0 && x->state == NBX_WAITING && !c->closing)
		nbx_close(x, status);
	nbx_maybe_free(x);
}

static void
nbx_dialed(void *arg, struct conn *c, int status)
{
	struct nbx *x = arg;
	uv_buf_t buf;
	int err;

	x->dial = NULL;
	if (x->canceled || status != 0) {
		if (c != NULL)
			conn_close(c, UV_ECANCELED);
		nbx_set_state(x, NBX_DONE);
		nbx_deliver(x, status != 0 ? status : UV_ECANCELED, 0, NULL);
		nbx_maybe_free(x);
		return;
	}
	x->c = c;
	x->connected = 1;
	x->sent_ms = uv_now(x->loop);
	nbx_set_state(x, NBX_WAITING);
	err = conn_start(c, nbx_read, nbx_closed, x, x->timeout_ms);
	if (err == 0) {
		buf = uv_buf_init((char *)x->frame, (unsigned)x->len);
		x->write_pending = 1;
		err = conn_writev(c, &buf, 1, nbx_written, x);
		if (err != 0)
			x->write_pending = 0;
	}
	if (err != 0)
		nbx_close(x, err);
}

/*
 * Send frame[0..len) (a request of code req; ownership passes to the
 * exchange) to peer and read its response within timeout_ms. Returns the
 * exchange, valid until done runs or nbx_cancel(), or NULL when peer has
 * no usable address (the frame is freed, done never runs).
 */
static struct nbx *
nbx_start(uv_loop_t *loop, const struct dial_opts *dial,
    const struct course_peer *peer, uint16_t req, uint8_t *frame, size_t len,
    uint64_t timeout_ms, nbx_done_cb done, void *arg)
{
	struct download_source src;
	struct dial_opts dopts = *dial;
	struct nbx *x;

	peer_source(peer, &src);
	if (src.naddrs == 0) {
		free(frame);
		return NULL;
	}
	dopts.rcap = B2B_FRAME_MAX; /* any response frame fits whole */
	x = xcalloc(1, sizeof(*x));
	x->req = req;
	x->loop = loop;
	x->timeout_ms = timeout_ms;
	x->frame = frame;
	x->len = len;
	x->done = done;
	x->arg = arg;
	memcpy(x->label, src.label, sizeof(x->label));
	x->state = NBX_DIALING;
	x->dial = dial_start(
	    loop, src.addrs, src.naddrs, &dopts, nbx_dialed, x);
	return x;
}

/* Abort: done never runs. NULL-safe. */
static void
nbx_cancel(struct nbx *x)
{
	if (x == NULL || x->canceled)
		return;
	x->canceled = 1;
	switch (x->state) {
	case NBX_DIALING:
		dial_cancel(x->dial); /* nbx_dialed() frees x */
		break;
	case NBX_WAITING:
		nbx_close(x, UV_ECANCELED);
		break;
	case NBX_CLOSING:
	case NBX_DONE:
		break;
	}
}

/* ------------------------------------------------------------ overlay */

/* What the server is, as far as its answers tell (§1). */
enum nb_kind {
	NB_UNKNOWN, /* it has not yet had a request only warren answers */
	NB_WARREN,  /* it answered one: never legacy */
	NB_LEGACY,  /* it left one unanswered: send it none of them again */
};

enum nb_state {
	NB_STARTING, /* waiting for the library's first scan */
	NB_REGISTER, /* REGISTER (+ REGISTER_APPEND frames) in flight */
	NB_UPDATE,   /* REGISTER_UPDATE (+ REGISTER_APPEND) in flight */
	NB_APPEND,   /* REGISTER_APPEND of added files in flight */
	NB_LOGIN,    /* LOGIN in flight */
	NB_READY,    /* logged in, nothing in flight */
	NB_WAITING,  /* after a failure: backoff */
	NB_STOPPED,
};

/* A file list on its way to the server, one frame at a time. */
struct nb_list {
	uint16_t first;          /* REGISTER, REGISTER_UPDATE, _APPEND */
	struct library_file **v; /* references, owned */
	unsigned n, cap;
	unsigned pos;     /* v[0..pos) are in frames the server accepted */
	unsigned end;     /* the frame in flight carries v[pos..end) */
	unsigned inframe; /* files actually in that frame */
	unsigned sent;    /* files in accepted frames */
	unsigned skipped; /* names beer2beer cannot carry */
};

struct nb_counters {
	uint64_t registers, updates, appends, logins, keepalives, searches,
	    download_files, failures, timeouts;
};

struct overlay {
	struct overlay_env env;
	struct napster_config cfg;
	struct course_peer dir;
	char dir_label[ADDR_STRLEN];
	char pwd[B2B_PWD_MAX + 1]; /* from password_file; never logged */
	char *state_path;          /* data_dir/napster-b2b.json, owned */
	enum nb_state state;
	enum nb_kind kind;
	uint32_t id;      /* our registration, 0: none */
	int need_update;  /* the server's list must be replaced */
	int need_login;   /* LOGIN before the session is complete */
	int online;       /* LOGIN_OK, nothing since says we are forgotten */
	int batch_due;    /* the batch timer fired: send the changes */
	struct nbx *main; /* the main line's exchange, or NULL */
	struct nb_list list;
	struct library_file **adds; /* added since the last sync, refs */
	unsigned nadds, addcap;
	uint64_t files;      /* files the server holds for us */
	uint64_t started_ms; /* overlay start */
	uint64_t backoff_ms;
	uv_timer_t *timer;     /* library wait, backoff */
	uv_timer_t *batch;     /* NB_BATCH_MS after the first change */
	uv_timer_t *keepalive; /* every keepalive_ms once logged in */
	struct nbx *ka;        /* KEEP_ALIVE in flight */
	char last_error[192];
	struct overlay_search *searches;
	struct nb_counters n;
};

static void nb_next(struct overlay *o);
static void nb_list_send(struct overlay *o);
static void nb_tick(uv_timer_t *t);

static const char *
nb_state_name(enum nb_state s)
{
	switch (s) {
	case NB_STARTING:
		return "starting";
	case NB_REGISTER:
		return "registering";
	case NB_UPDATE:
		return "updating";
	case NB_APPEND:
		return "appending";
	case NB_LOGIN:
		return "logging-in";
	case NB_READY:
		return "ready";
	case NB_WAITING:
		return "waiting";
	case NB_STOPPED:
		return "stopped";
	}
	return "?";
}

static const char *
nb_kind_name(enum nb_kind k)
{
	switch (k) {
	case NB_UNKNOWN:
		return "unknown";
	case NB_WARREN:
		return "warren";
	case NB_LEGACY:
		return "legacy";
	}
	return "?";
}

static void
nb_set_state(struct overlay *o, enum nb_state s)
{
	if (o->state != s)
		log_debug("napster: b2b %s: %s -> %s", o->dir_label,
		    nb_state_name(o->state), nb_state_name(s));
	o->state = s;
}

static const char *
nb_strerror(int status)
{
	return status < 0 && status > -4096 ? uv_strerror(status)
					    : warren_strerror(status);
}

/* A KO reason or a name as sent, made printable for logs and status. */
static void
nb_printable(struct b2b_str s, char *out, size_t cap)
{
	size_t i, n = s.len < cap - 1 ? s.len : cap - 1;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s.ptr[i];

		out[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	out[n] = '\0';
}

/* Does this KO say "unknown id" (§4.2, §4.10)? The type code says KO;
 * only the reason tells an expired registration from bad credentials. */
static int
nb_ko_unknown_id(const struct b2b_response *r)
{
	return r->reason.len >= 10 &&
	    strncasecmp(r->reason.ptr, "unknown id", 10) == 0;
}

static void
nb_timer_closed(uv_handle_t *h)
{
	free(h);
}

static uv_timer_t *
nb_timer_new(struct overlay *o, void *data)
{
	uv_timer_t *t = xcalloc(1, sizeof(*t));

	uv_timer_init(o->env.loop, t);
	t->data = data;
	return t;
}

static void
nb_timer_free(uv_timer_t *t)
{
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, nb_timer_closed);
}

static void
nb_wipe(void *p, size_t len)
{
	volatile unsigned char *b = p;

	while (len-- > 0)
		*b++ = 0;
}

static struct nbx *
nb_send(struct overlay *o, uint16_t req, uint8_t *frame, int len,
    uint64_t timeout_ms, nbx_done_cb done, void *arg)
{
	return nbx_start(o->env.loop, &o->env.dial, &o->dir, req, frame,
	    (size_t)len, timeout_ms, done, arg);
}

/* A request without a file list as a new frame buffer; caller frees. */
static uint8_t *
nb_encode(const struct b2b_request *req, int *len)
{
	uint8_t *buf = xmalloc(B2B_FRAME_MAX);

	*len = b2b_request_encode(req, buf, B2B_FRAME_MAX);
	if (*len < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void
nb_creds(struct overlay *o, struct b2b_request *req, uint16_t type)
{
	memset(req, 0, sizeof(*req));
	req->type = type;
	req->user.ptr = o->cfg.user;
	req->user.len = strlen(o->cfg.user);
	req->pwd.ptr = o->pwd;
	req->pwd.len = strlen(o->pwd);
	req->id = o->id;
}

/* ------------------------------------------------------ startup files */

/*
 * Read the password: the first line of cfg.password_file, which must be a
 * regular file no one but its owner may access (mode & 077 == 0). 0, or
 * -1 after logging why (never the password itself).
 */
static int
nb_read_password(struct overlay *o)
{
	const char *path = o->cfg.password_file;
	char buf[B2B_PWD_MAX + 4];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("napster: cannot open password file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_error(
		    "napster: password file %s is not a regular file", path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		log_error("napster: password file %s can be accessed by group "
			  "or others (mode %04o): refusing to start (run "
			  "'chmod 600 %s')",
		    path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		log_error("napster: cannot read password file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\n");
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (b2b_pwd_check(buf, len) != 0) {
		log_error("napster: the first line of password file %s is not "
			  "a beer2beer password (1-%d bytes of UTF-8, no "
			  "spaces or control characters)",
		    path, B2B_PWD_MAX);
		nb_wipe(buf, sizeof(buf));
		return -1;
	}
	memcpy(o->pwd, buf, len);
	o->pwd[len] = '\0';
	nb_wipe(buf, sizeof(buf));
	return 0;
}

/* The id kept from an earlier run at this server for this user, or 0. */
static uint32_t
nb_state_load(struct overlay *o)
{
	json_error_t jerr;
	json_t *j = json_load_file(o->state_path, 0, &jerr);
	const char *server, *user;
	json_int_t id;
	uint32_t out = 0;

	if (j == NULL)
		return 0;
	if (json_unpack(j, "{s:s,s:s,s:I}", "server", &server, "user", &user,
		"id", &id) == 0 &&
	    strcmp(server, o->dir_label) == 0 &&
	    strcmp(user, o->cfg.user) == 0 && id > 0 &&
	    id <= (json_int_t)B2B_ID_MAX)
		out = (uint32_t)id;
	else
		log_info("napster: %s is for another server or user: "
			 "registering anew",
		    o->state_path);
	json_decref(j);
	return out;
}

/* A save of the id, done on the thread pool: it owns its copies, so it
 * outlives the overlay if the node stops meanwhile. */
struct nb_save {
	uv_work_t work;
	char *path, *tmp, *text;
	int err;
};

static void
nb_save_work(uv_work_t *w)
{
	struct nb_save *sv = w->data;
	size_t len = strlen(sv->text);
	int fd = open(sv->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = fd >= 0 && write(fd, sv->text, len) == (ssize_t)len &&
	    fsync(fd) == 0;

	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	if (ok && rename(sv->tmp, sv->path) != 0)
		ok = 0;
	sv->err = ok ? 0 : errno;
	if (!ok)
		unlink(sv->tmp);
}

static void
nb_save_done(uv_work_t *w, int status)
{
	struct nb_save *sv = w->data;

	if (status == 0 && sv->err != 0)
		log_warn("napster: cannot save the beer2beer id to %s: %s "
			 "(the next start registers anew)",
		    sv->path, strerror(sv->err));
	free(sv->path);
	free(sv->tmp);
	free(sv->text);
	free(sv);
}

/* Keep the id for the next run: written to a temporary file, synced and
 * renamed over the old one (off the loop), so a crash leaves the old or
 * the new. */
static void
nb_state_save(struct overlay *o)
{
	struct nb_save *sv = xcalloc(1, sizeof(*sv));
	json_t *j = json_pack("{s:s,s:s,s:I}", "server", o->dir_label, "user",
	    o->cfg.user, "id", (json_int_t)o->id);
	char *text = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	sv->path = xstrdup(o->state_path);
	sv->tmp = xasprintf("%s.tmp", o->state_path);
	sv->text = xasprintf("%s\n", text);
	free(text);
	sv->work.data = sv;
	if (uv_queue_work(o->env.loop, &sv->work, nb_save_work, nb_save_done) !=
	    0)
		nb_save_done(&sv->work, UV_ECANCELED);
}

/* ---------------------------------------------------------- main line */

static void nb_fail(struct overlay *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A request of the main line failed: record why and retry later. */
static void
nb_fail(struct overlay *o, const char *fmt, ...)
{
	char msg[sizeof(o->last_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o->state != NB_WAITING || strcmp(msg, o->last_error) != 0)
		log_warn(
		    "napster: directory %s: %s (retrying)", o->dir_label, msg);
	snprintf(o->last_error, sizeof(o->last_error), "%s", msg);
	o->n.failures++;
	o->backoff_ms = o->backoff_ms ? o->backoff_ms * 2 : 1000;
	if (o->backoff_ms > o->cfg.retry_max_ms)
		o->backoff_ms = o->cfg.retry_max_ms;
	nb_set_state(o, NB_WAITING);
	uv_timer_stop(o->timer);
	uv_timer_start(o->timer, nb_tick, o->backoff_ms, 0);
}

/* Mark the server legacy (§1) after a request it never answered. */
static void
nb_legacy(struct overlay *o, uint16_t req)
{
	if (o->kind == NB_LEGACY)
		return;
	o->kind = NB_LEGACY;
	o->n.timeouts++;
	log_warn("napster: directory %s did not answer %s: it is a legacy "
		 "beer2beer server; no KEEP_ALIVE, SHOW_PEERS, BROWSE_PEER, "
		 "DOWNLOAD_FILE or REGISTER_APPEND is sent to it again, and "
		 "files found there cannot be downloaded (no md5 is known)",
	    o->dir_label, b2b_request_name(req));
}

/* The server answered a request only warren servers answer. */
static void
nb_warren(struct overlay *o)
{
	if (o->kind == NB_UNKNOWN)
		log_info("napster: directory %s answers beer2beer extensions",
		    o->dir_label);
	if (o->kind != NB_LEGACY)
		o->kind = NB_WARREN;
}

static void
nb_list_clear(struct nb_list *l)
{
	for (unsigned i = 0; i < l->n; i++)
		library_file_unref(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void
nb_adds_clear(struct overlay *o)
{
	for (unsigned i = 0; i < o->nadds; i++)
		library_file_unref(o->adds[i]);
	o->nadds = 0;
}

static void
nb_list_add(void *arg, const struct library_file *f)
{
	struct nb_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = library_file_ref(f);
}

/*
 * Start sending a list: REGISTER or REGISTER_UPDATE of every shared file
 * (the pending additions are in it), or REGISTER_APPEND of the additions.
 */
static void
nb_list_start(struct overlay *o, uint16_t first)
{
	nb_list_clear(&o->list);
	o->list.first = first;
	if (first == B2B_REGISTER_APPEND) {
		o->list.v = o->adds;
		o->list.n = o->nadds;
		o->list.cap = o->addcap;
		o->adds = NULL;
		o->nadds = o->addcap = 0;
	} else {
		library_foreach(o->env.lib, nb_list_add, &o->list);
		nb_adds_clear(o);
		o->need_update = 0;
	}
	o->batch_due = 0;
	nb_set_state(o,
	    first == B2B_REGISTER              ? NB_REGISTER
		: first == B2B_REGISTER_UPDATE ? NB_UPDATE
					       : NB_APPEND);
	nb_list_send(o);
}

/* The list is sent (or what of it could be). */
static void
nb_list_done(struct overlay *o)
{
	struct nb_list *l = &o->list;

	if (l->first != B2B_REGISTER_APPEND)
		o->files = l->sent;
	else
		o->files += l->sent;
	if (l->skipped > 0)
		log_warn("napster: %u shared files have names beer2beer cannot "
			 "carry (control characters, over %d bytes): not "
			 "indexed",
		    l->skipped, B2B_FILENAME_MAX);
	/* A new registration needs a LOGIN; so does a REGISTER_UPDATE at a
	 * server that may be legacy: it re-creates the registration
	 * offline and without its ip (§4.10). */
	if (l->first == B2B_REGISTER ||
	    (l->first == B2B_REGISTER_UPDATE && o->kind != NB_WARREN)) {
		o->need_login = 1;
		o->online = 0;
	}
	nb_list_clear(l);
	o->backoff_ms = 0;
	nb_set_state(o, NB_READY); /* nb_next() decides what follows */
	nb_next(o);
}

static void
nb_list_reply(void *arg, int status, int silent, const struct b2b_response *r)
{
	struct overlay *o = arg;
	struct nb_list *l = &o->list;
	uint16_t req = r != NULL ? r->req
	    : l->pos == 0        ? l->first
				 : B2B_REGISTER_APPEND;
	char why[80];

	o->main = NULL;
	if (req == B2B_REGISTER_APPEND && r != NULL)
		nb_warren(o);
	if (silent && req == B2B_REGISTER_APPEND) {
		nb_legacy(o, req);
		unsigned left = l->n - l->pos;

		if (l->first == B2B_REGISTER_APPEND) {
			/* Changes a legacy server cannot take as an append:
			 * replace its list instead. */
			log_warn("napster: sending the whole list to %s "
				 "instead (REGISTER_UPDATE)",
			    o->dir_label);
			o->need_update = 1;
			nb_list_clear(l);
			nb_set_state(o, NB_READY);
			nb_next(o);
			return;
		}
		log_warn("napster: %u of %u shared files were not indexed at "
			 "%s: the list is longer than one beer2beer frame and "
			 "a legacy server takes no REGISTER_APPEND",
		    left, l->n, o->dir_label);
		nb_list_done(o);
		return;
	}
	if (silent && req == B2B_REGISTER_UPDATE) {
		/* §1: the server no longer knows the id. */
		log_info("napster: directory %s did not answer "
			 "REGISTER_UPDATE of id %u: registering anew",
		    o->dir_label, (unsigned)o->id);
		o->n.timeouts++;
		o->id = 0;
		o->online = 0;
		nb_list_clear(l);
		nb_set_state(o, NB_READY);
		nb_next(o);
		return;
	}
	if (r == NULL) {
		/* Unreachable, closed, protocol error: the whole list again
		 * later, REGISTER if we have no id, else REGISTER_UPDATE. */
		if (o->id != 0)
			o->need_update = 1;
		if (silent)
			o->n.timeouts++;
		nb_list_clear(l);
		nb_fail(o, "%s: %s", b2b_request_name(req),
		    status == WARREN_EPROTO ? "protocol error (unexpected "
					      "response type)"
					    : nb_strerror(status));
		return;
	}
	if (!r->ok) {
		nb_printable(r->reason, why, sizeof(why));
		if (req != B2B_REGISTER && nb_ko_unknown_id(r)) {
			log_info("napster: directory %s forgot id %u: "
				 "registering anew",
			    o->dir_label, (unsigned)o->id);
			o->id = 0;
			o->online = 0;
			nb_list_clear(l);
			nb_set_state(o, NB_READY);
			nb_next(o);
			return;
		}
		if (req == B2B_REGISTER_APPEND) {
			/* Too many files, a line it dislikes: sending the
			 * list again would be refused again. Keep what it
			 * took. */
			snprintf(o->last_error, sizeof(o->last_error),
			    "REGISTER_APPEND refused: %s (%u files not "
			    "indexed)",
			    why, l->n - l->pos);
			log_warn("napster: directory %s: %s", o->dir_label,
			    o->last_error);
			o->n.failures++;
			nb_list_done(o);
			return;
		}
		if (o->id != 0)
			o->need_update = 1;
		nb_list_clear(l);
		nb_fail(o, "%s refused: %s%s", b2b_request_name(req), why,
		    req == B2B_REGISTER && strstr(why, "taken") != NULL
			? " (wrong password for this user?)"
			: "");
		return;
	}
	if (req == B2B_REGISTER) {
		o->id = r->id;
		o->n.registers++;
		log_info("napster: registered at directory %s as '%s', id %u",
		    o->dir_label, o->cfg.user, (unsigned)o->id);
		nb_state_save(o);
	} else if (req == B2B_REGISTER_UPDATE) {
		o->n.updates++;
	} else {
		o->n.appends++;
	}
	l->sent += l->inframe;
	l->pos = l->end;
	if (l->pos < l->n)
		nb_list_send(o);
	else
		nb_list_done(o);
}

/* Send the next frame of the list: the first kind, then appends. */
static void
nb_list_send(struct overlay *o)
{
	struct nb_list *l = &o->list;
	uint16_t type = l->pos == 0 ? l->first : B2B_REGISTER_APPEND;
	struct b2b_request req;
	struct b2b_out out;
	uint8_t *buf;
	unsigned i;
	int rc;

	if (type == B2B_REGISTER_APPEND && l->first != B2B_REGISTER_APPEND &&
	    o->kind == NB_LEGACY) {
		log_warn("napster: %u of %u shared files were not indexed at "
			 "%s: the list is longer than one beer2beer frame and "
			 "a legacy server takes no REGISTER_APPEND",
		    l->n - l->pos, l->n, o->dir_label);
		nb_list_done(o);
		return;
	}
	nb_creds(o, &req, type);
	buf = xmalloc(B2B_FRAME_MAX);
	rc = b2b_request_begin(&out, &req, buf, B2B_FRAME_MAX);
	if (rc != 0) {
		free(buf);
		nb_list_clear(l);
		nb_fail(o, "%s: cannot encode: %s", b2b_request_name(type),
		    warren_strerror(rc));
		return;
	}
	l->inframe = 0;
	for (i = l->pos; i < l->n; i++) {
		const struct library_file *f = l->v[i];
		struct b2b_str name = {f->name, f->name_len};

		rc = b2b_out_file(&out, name, f->size, f->sha1, f->md5);
		if (rc == WARREN_ESPACE && l->inframe > 0)
			break;
		if (rc < 0) {
			l->skipped++;
			log_debug("napster: not indexed at %s: %s: %s",
			    o->dir_label, f->path, warren_strerror(rc));
			continue;
		}
		l->inframe++;
	}
	l->end = i;
	rc = b2b_out_end(&out);
	if (l->inframe == 0 && type == B2B_REGISTER_APPEND) {
		free(buf); /* nothing left that can be sent */
		nb_list_done(o);
		return;
	}
	o->main = nb_send(
	    o, type, buf, rc, o->cfg.timeout_ms, nb_list_reply, o);
	if (o->main == NULL)
		nb_fail(o, "%s: the directory address is unusable",
		    b2b_request_name(type));
}

static void nb_keepalive_tick(uv_timer_t *t);

static void
nb_login_reply(void *arg, int status, int silent, const struct b2b_response *r)
{
	struct overlay *o = arg;
	char why[80];

	o->main = NULL;
	if (r == NULL) {
		if (silent)
			o->n.timeouts++;
		nb_fail(o, "LOGIN: %s",
		    status == WARREN_EPROTO
			? "protocol error (unexpected response type)"
			: nb_strerror(status));
		return;
	}
	if (!r->ok) {
		nb_printable(r->reason, why, sizeof(why));
		o->online = 0;
		if (nb_ko_unknown_id(r)) {
			log_info("napster: directory %s does not know id %u "
				 "(expired?): registering anew",
			    o->dir_label, (unsigned)o->id);
			o->id = 0;
			nb_set_state(o, NB_READY);
			nb_next(o);
			return;
		}
		nb_fail(o, "LOGIN refused: %s", why);
		return;
	}
	if (!o->online)
		log_info("napster: logged in at directory %s as '%s' (id %u)",
		    o->dir_label, o->cfg.user, (unsigned)o->id);
	o->online = 1;
	o->need_login = 0;
	o->backoff_ms = 0;
	o->last_error[0] = '\0';
	o->n.logins++;
	if (!uv_is_active((uv_handle_t *)o->keepalive))
		uv_timer_start(o->keepalive, nb_keepalive_tick,
		    o->cfg.keepalive_ms, o->cfg.keepalive_ms);
	nb_set_state(o, NB_READY);
	nb_next(o);
}

/* The address the node serves files on as a beer2beer ip: the IPv4 half
 * of the advertised address first, else the IPv6 half (§4.2). */
static int
nb_self_addr(const struct course_peer *p, struct b2b_addr *a)
{
	struct sockaddr_storage ss;

	memset(a, 0, sizeof(*a));
	if (course_peer_sockaddr(p, AF_INET, &ss) != 0 &&
	    course_peer_sockaddr(p, AF_INET6, &ss) != 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		a->family = AF_INET;
		memcpy(a->a, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	} else {
		a->family = AF_INET6;
		memcpy(a->a, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	}
	return 0;
}

static void
nb_login(struct overlay *o)
{
	struct b2b_request req;
	uint8_t *buf;
	int len;

	nb_creds(o, &req, B2B_LOGIN);
	/* Both lines, always: existing servers never answer a LOGIN
	 * without the ip line (§1). */
	if (nb_self_addr(&o->env.self, &req.addr) != 0) {
		nb_fail(o,
		    "LOGIN: this node advertises no usable address "
		    "(set --advertise ADDR)");
		return;
	}
	req.port = o->env.self.port;
	buf = nb_encode(&req, &len);
	if (buf == NULL) {
		nb_fail(o, "LOGIN: cannot encode");
		return;
	}
	nb_set_state(o, NB_LOGIN);
	o->main = nb_send(
	    o, B2B_LOGIN, buf, len, o->cfg.timeout_ms, nb_login_reply, o);
	if (o->main == NULL)
		nb_fail(o, "LOGIN: the directory address is unusable");
}

/*
 * Run the next request of the main line, if nothing is in flight: a
 * registration first, then a replacement of the list, then the batched
 * additions, then a LOGIN. With nothing to do the session is ready.
 */
static void
nb_next(struct overlay *o)
{
	switch (o->state) {
	case NB_STARTING:
	case NB_WAITING:
	case NB_STOPPED:
		return;
	case NB_REGISTER:
	case NB_UPDATE:
	case NB_APPEND:
	case NB_LOGIN:
	case NB_READY:
		break;
	}
	if (o->main != NULL)
		return;
	if (o->id == 0)
		nb_list_start(o, B2B_REGISTER);
	else if (o->need_update ||
	    (o->batch_due && o->nadds > 0 && o->kind == NB_LEGACY))
		nb_list_start(o, B2B_REGISTER_UPDATE);
	else if (o->batch_due && o->nadds > 0)
		nb_list_start(o, B2B_REGISTER_APPEND);
	else if (o->need_login)
		nb_login(o);
	else
		nb_set_state(o, NB_READY);
}

/* The library wait, or a backoff, is over. */
static void
nb_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	switch (o->state) {
	case NB_STARTING:
		/* Register with the first scan's files, not an empty list
		 * followed by appends a legacy server cannot take. */
		if (!library_ready(o->env.lib) &&
		    uv_now(o->env.loop) - o->started_ms < NB_LIBRARY_WAIT_MS) {
			uv_timer_start(o->timer, nb_tick, NB_POLL_MS, 0);
			return;
		}
		break;
	case NB_WAITING:
		break;
	case NB_REGISTER:
	case NB_UPDATE:
	case NB_APPEND:
	case NB_LOGIN:
	case NB_READY:
	case NB_STOPPED:
		return;
	}
	nb_set_state(o, NB_READY);
	nb_next(o);
}

/* ------------------------------------------------------- keep-alive */

static void
nb_keepalive_reply(
    void *arg, int status, int silent, const struct b2b_response *r)
{
	struct overlay *o = arg;

	o->ka = NULL;
	if (silent) {
		nb_legacy(o, B2B_KEEP_ALIVE);
		return;
	}
	if (r == NULL) {
		/* Down or unreachable: LOGIN through the main line, which
		 * retries with backoff and shows why in status. */
		o->n.failures++;
		log_info("napster: directory %s: KEEP_ALIVE: %s: logging in "
			 "again",
		    o->dir_label, nb_strerror(status));
		o->online = 0;
		o->need_login = 1;
		if (o->state == NB_READY)
			nb_next(o);
		return;
	}
	nb_warren(o);
	if (r->ok) {
		o->n.keepalives++;
		return;
	}
	/* not logged in (§4.3): the server dropped us; LOGIN again. */
	log_info("napster: directory %s: KEEP_ALIVE refused: logging in again",
	    o->dir_label);
	o->online = 0;
	o->need_login = 1;
	if (o->state == NB_READY)
		nb_next(o);
}

static void
nb_keepalive_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;
	struct b2b_request req;
	uint8_t *buf;
	int len;

	if (o->ka != NULL || o->id == 0)
		return;
	if (o->kind == NB_LEGACY) {
		/* No KEEP_ALIVE to a legacy server, but a LOGIN it answers:
		 * a server that lost its state is noticed (KO unknown id). */
		o->need_login = 1;
		if (o->state == NB_READY)
			nb_next(o);
		return;
	}
	if (!o->online)
		return; /* the main line is logging in */
	memset(&req, 0, sizeof(req));
	req.type = B2B_KEEP_ALIVE;
	req.id = o->id;
	buf = nb_encode(&req, &len);
	if (buf != NULL)
		o->ka = nb_send(o, B2B_KEEP_ALIVE, buf, len, o->cfg.timeout_ms,
		    nb_keepalive_reply, o);
}

/* --------------------------------------------------- library changes */

static void
nb_batch_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	o->batch_due = 1;
	if (o->state == NB_READY)
		nb_next(o);
}

static void
nb_changed(struct overlay *o)
{
	if (!uv_is_active((uv_handle_t *)o->batch))
		uv_timer_start(o->batch, nb_batch_tick, NB_BATCH_MS, 0);
}

static void
nb_publish(struct overlay *o, const struct library_file *f)
{
	if (o->nadds == o->addcap) {
		o->addcap = o->addcap ? o->addcap * 2 : 16;
		o->adds = xreallocarray(o->adds, o->addcap, sizeof(*o->adds));
	}
	o->adds[o->nadds++] = library_file_ref(f);
	nb_changed(o);
}

static void
nb_unpublish(struct overlay *o, const struct library_file *f)
{
	for (unsigned i = 0; i < o->nadds; i++) {
		if (o->adds[i] == f) {
			/* Never sent: nothing to take back. */
			library_file_unref(o->adds[i]);
			o->adds[i] = o->adds[--o->nadds];
			return;
		}
	}
	/* beer2beer has no removal: replace the whole list. */
	o->need_update = 1;
	nb_changed(o);
}

/* ------------------------------------------------------------ search */

struct nb_sha1 {
	char sha1[B2B_SHA1_LEN + 1];
};

/* One DOWNLOAD_FILE of a search. */
struct nb_slot {
	struct overlay_search *s;
	struct nbx *x; /* in flight, or NULL */
};

struct overlay_search {
	struct overlay *o;
	overlay_hit_cb hit;
	overlay_done_cb done;
	void *arg;
	char *term; /* owned */
	uv_timer_t *start;
	struct nbx *find;    /* SEARCH_FILE in flight */
	struct nb_sha1 *sha; /* distinct sha1s to follow, owned */
	unsigned nsha, next;
	unsigned found;   /* distinct sha1s found (also beyond the cap) */
	unsigned holders; /* records from other peers */
	unsigned nomd5;   /* holders DOWNLOAD_FILE gave no md5 for */
	unsigned hits;
	unsigned dl_errors;
	int legacy; /* DOWNLOAD_FILE went unanswered: no md5 anywhere */
	char dl_error[96];
	struct nb_slot slots[NB_DL_PARALLEL];
	unsigned running;
	struct hitset seen;
	struct overlay_search *next_search;
};

static void
nb_search_free(struct overlay_search *s)
{
	struct overlay_search **pp;

	for (pp = &s->o->searches; *pp != NULL; pp = &(*pp)->next_search) {
		if (*pp == s) {
			*pp = s->next_search;
			break;
		}
	}
	nbx_cancel(s->find);
	for (unsigned i = 0; i < NB_DL_PARALLEL; i++)
		nbx_cancel(s->slots[i].x);
	nb_timer_free(s->start);
	hitset_release(&s->seen);
	free(s->sha);
	free(s->term);
	free(s);
}

static void
nb_search_end(struct overlay_search *s, int err, const char *msg)
{
	overlay_done_cb done = s->done;
	void *arg = s->arg;

	nb_search_free(s);
	done(arg, err, msg);
}

/* Everything followed: tell the user what could be fetched. */
static void
nb_search_finish(struct overlay_search *s)
{
	char msg[320];

	if (s->hits > 0 || s->found == 0) {
		nb_search_end(s, 0, NULL);
		return;
	}
	if (s->legacy)
		snprintf(msg, sizeof(msg),
		    "%u files found at %s, but it is a legacy beer2beer "
		    "server: "
		    "it does not answer DOWNLOAD_FILE, so no md5 is known and "
		    "nothing can be downloaded with the course transfer",
		    s->found, s->o->dir_label);
	else if (s->nomd5 > 0)
		snprintf(msg, sizeof(msg),
		    "%u holders of %u files found, none downloadable: they "
		    "registered no md5, which the course transfer needs",
		    s->nomd5, s->found);
	else if (s->dl_errors > 0)
		snprintf(msg, sizeof(msg),
		    "%u files found, but DOWNLOAD_FILE at %s failed: %s",
		    s->found, s->o->dir_label, s->dl_error);
	else {
		/* Only this node's own files matched, or holders went
		 * offline between the two requests. */
		nb_search_end(s, 0, NULL);
		return;
	}
	nb_search_end(s, WARREN_ENOTFOUND, msg);
}

/* A holder as a course_peer: beer2beer gives one address and a port. */
static int
nb_hit_peer(const struct b2b_hit *h, struct course_peer *p)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (h->addr.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, h->addr.a, 4);
		s4->sin_port = htons(h->port);
		return course_peer_from_sockaddr(
		    (struct sockaddr *)&ss, NULL, h->port, p);
	}
	if (h->addr.family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, h->addr.a, 16);
		s6->sin6_port = htons(h->port);
		return course_peer_from_sockaddr(
		    NULL, (struct sockaddr *)&ss, h->port, p);
	}
	return WARREN_EFIELD;
}

/* Is this record one of this node's own files? */
static int
nb_is_self(
    struct overlay *o, const struct b2b_hit *h, const struct course_peer *p)
{
	return (o->id != 0 && h->user_id == o->id) ||
	    peer_same(p, &o->env.self);
}

static void nb_search_pump(struct overlay_search *s);

static void
nb_dl_reply(void *arg, int status, int silent, const struct b2b_response *r)
{
	struct nb_slot *slot = arg;
	struct overlay_search *s = slot->s;
	struct overlay *o = s->o;
	struct b2b_response rr;
	struct b2b_hit h;

	slot->x = NULL;
	s->running--;
	if (silent) {
		nb_legacy(o, B2B_DOWNLOAD_FILE);
		s->legacy = 1;
	} else if (r == NULL || !r->ok) {
		char why[80] = "";

		if (r != NULL) {
			nb_warren(o);
			nb_printable(r->reason, why, sizeof(why));
		}
		s->dl_errors++;
		snprintf(s->dl_error, sizeof(s->dl_error), "%s",
		    r != NULL ? why : nb_strerror(status));
	} else {
		nb_warren(o);
		o->n.download_files++;
		rr = *r;
		while (b2b_response_next_hit(&rr, &h) > 0) {
			struct course_peer p;
			struct overlay_hit oh;

			if (nb_hit_peer(&h, &p) != 0 || nb_is_self(o, &h, &p))
				continue;
			if (h.md5[0] == '\0') {
				s->nomd5++;
				continue;
			}
			if (!hitset_add(&s->seen, h.md5, &p))
				continue;
			memset(&oh, 0, sizeof(oh));
			oh.overlay = "napster";
			memcpy(oh.md5, h.md5, sizeof(oh.md5));
			oh.name = h.name.ptr;
			oh.name_len = h.name.len;
			oh.size = h.size;
			oh.size_known = 1;
			peer_source(&p, &oh.src);
			if (oh.src.naddrs == 0)
				continue;
			s->hits++;
			s->hit(s->arg, &oh);
		}
	}
	nb_search_pump(s);
}

/* Keep NB_DL_PARALLEL DOWNLOAD_FILE requests going; finish at the end. */
static void
nb_search_pump(struct overlay_search *s)
{
	struct overlay *o = s->o;

	while (!s->legacy && o->kind != NB_LEGACY && s->next < s->nsha &&
	    s->running < NB_DL_PARALLEL) {
		struct nb_slot *slot = NULL;
		struct b2b_request req;
		uint8_t *buf;
		int len;

		for (unsigned i = 0; i < NB_DL_PARALLEL; i++)
			if (s->slots[i].x == NULL)
				slot = &s->slots[i];
		memset(&req, 0, sizeof(req));
		req.type = B2B_DOWNLOAD_FILE;
		memcpy(req.sha1, s->sha[s->next++].sha1, sizeof(req.sha1));
		buf = nb_encode(&req, &len);
		if (buf == NULL)
			continue;
		slot->s = s;
		slot->x = nb_send(o, B2B_DOWNLOAD_FILE, buf, len,
		    o->cfg.timeout_ms, nb_dl_reply, slot);
		if (slot->x != NULL)
			s->running++;
	}
	if (o->kind == NB_LEGACY)
		s->legacy = 1;
	if (s->running == 0)
		nb_search_finish(s);
}

static void
nb_find_reply(void *arg, int status, int silent, const struct b2b_response *r)
{
	struct overlay_search *s = arg;
	struct overlay *o = s->o;
	struct b2b_response rr;
	struct b2b_hit h;
	char msg[240], why[80];

	s->find = NULL;
	if (r == NULL) {
		snprintf(msg, sizeof(msg), "SEARCH_FILE at %s failed: %s",
		    o->dir_label,
		    silent ? "no answer"
			: status == WARREN_EPROTO
			? "protocol error (unexpected response type)"
			: nb_strerror(status));
		nb_search_end(s, WARREN_EREFUSED, msg);
		return;
	}
	if (!r->ok) {
		nb_printable(r->reason, why, sizeof(why));
		snprintf(msg, sizeof(msg),
		    "the directory %s refused the search: "
		    "%s",
		    o->dir_label, why);
		nb_search_end(s, WARREN_EREFUSED, msg);
		return;
	}
	rr = *r;
	while (b2b_response_next_hit(&rr, &h) > 0) {
		struct course_peer p;
		unsigned i;

		if (nb_hit_peer(&h, &p) != 0 || nb_is_self(o, &h, &p))
			continue;
		s->holders++;
		for (i = 0; i < s->nsha; i++)
			if (strcmp(s->sha[i].sha1, h.sha1) == 0)
				break;
		if (i < s->nsha)
			continue;
		s->found++;
		if (s->nsha == NB_SHA1_MAX)
			continue;
		memcpy(s->sha[s->nsha++].sha1, h.sha1, sizeof(h.sha1));
	}
	log_debug("napster: SEARCH_FILE at %s: %u records from other peers, "
		  "%u dropped (invalid or without an address)",
	    o->dir_label, s->holders, rr.dropped);
	if (s->found > s->nsha)
		log_debug("napster: SEARCH_FILE found %u files: following the "
			  "first %u",
		    s->found, s->nsha);
	nb_search_pump(s);
}

static void
nb_find_start(uv_timer_t *t)
{
	struct overlay_search *s = t->data;
	struct overlay *o = s->o;
	struct b2b_request req;
	uint8_t *buf;
	int len;

	memset(&req, 0, sizeof(req));
	req.type = B2B_SEARCH_FILE;
	req.query.ptr = s->term;
	req.query.len = strlen(s->term);
	buf = nb_encode(&req, &len);
	o->n.searches++;
	if (buf != NULL)
		s->find = nb_send(o, B2B_SEARCH_FILE, buf, len, o->cfg.find_ms,
		    nb_find_reply, s);
	if (s->find == NULL)
		nb_search_end(s, WARREN_EFIELD, "cannot send SEARCH_FILE");
}

static int
nb_search(struct overlay *o, const struct overlay_search_opts *opts,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen)
{
	struct overlay_search *s;
	struct b2b_request req;
	struct b2b_out chk;
	uint8_t *buf;
	int rc;

	/* Validate the words now, so the user hears at once. */
	memset(&req, 0, sizeof(req));
	req.type = B2B_SEARCH_FILE;
	req.query.ptr = opts->term;
	req.query.len = strlen(opts->term);
	buf = xmalloc(B2B_FRAME_MAX);
	rc = b2b_request_begin(&chk, &req, buf, B2B_FRAME_MAX);
	free(buf);
	if (rc != 0) {
		snprintf(msg, msglen,
		    "search term not valid for SEARCH_FILE: %s (1-%d words "
		    "of 1-%d bytes, separated by spaces)",
		    rc == WARREN_ELIMIT         ? "too many words"
			: rc == WARREN_EEMPTY   ? "no word"
			: rc == WARREN_ETOOLONG ? "a word is too long"
						: "bad characters",
		    B2B_WORDS_MAX, B2B_WORD_MAX);
		return rc;
	}
	s = xcalloc(1, sizeof(*s));
	s->o = o;
	s->hit = hit;
	s->done = done;
	s->arg = arg;
	s->term = xstrdup(opts->term);
	s->sha = xcalloc(NB_SHA1_MAX, sizeof(*s->sha));
	hitset_init(&s->seen, NB_HITS_MAX);
	s->next_search = o->searches;
	o->searches = s;
	s->start = nb_timer_new(o, s);
	uv_timer_start(s->start, nb_find_start, 0, 0);
	*out = s;
	return 0;
}

static void
nb_search_cancel(struct overlay_search *s)
{
	nb_search_free(s);
}

/* ----------------------------------------------------------- start/stop */

static int
nb_start(const struct overlay_env *env, const void *conf, struct overlay **out)
{
	const struct napster_config *cfg = conf;
	struct overlay *o;

	if (cfg->has_directory) {
		log_error("napster: both --directory (course protocol) and "
			  "--directory-b2b (beer2beer) are set: a node joins "
			  "napster through one directory; give only one");
		return -1;
	}
	if (cfg->user[0] == '\0' || cfg->password_file[0] == '\0') {
		log_error("napster: a beer2beer directory needs a user and a "
			  "password (--user NAME --password-file PATH)");
		return -1;
	}
	o = xcalloc(1, sizeof(*o));
	o->env = *env;
	o->cfg = *cfg;
	if (nb_read_password(o) != 0 ||
	    peer_from_sockaddr(
		(const struct sockaddr *)&cfg->directory_b2b, &o->dir) != 0) {
		nb_wipe(o->pwd, sizeof(o->pwd));
		free(o);
		return -1;
	}
	peer_label(&o->dir, o->dir_label, sizeof(o->dir_label));
	o->state_path = xasprintf("%s/%s", env->data_dir, NB_STATE_FILE);
	o->id = nb_state_load(o);
	/* With a kept id, replace the list (REGISTER_UPDATE) and log in;
	 * without one, REGISTER first. */
	o->need_update = o->id != 0;
	o->need_login = 1;
	o->started_ms = uv_now(env->loop);
	o->timer = nb_timer_new(o, o);
	o->batch = nb_timer_new(o, o);
	o->keepalive = nb_timer_new(o, o);
	o->state = NB_STARTING;
	log_info("napster: beer2beer directory %s, user '%s'%s", o->dir_label,
	    o->cfg.user, o->id ? " (registered before)" : "");
	uv_timer_start(o->timer, nb_tick, 0, 0);
	*out = o;
	return 0;
}

static void
nb_logout_reply(void *arg, int status, int silent, const struct b2b_response *r)
{
	(void)arg;
	(void)silent;
	if (r == NULL)
		log_debug("napster: LOGOUT: %s", nb_strerror(status));
}

static void
nb_stop(struct overlay *o)
{
	if (o->id != 0 && o->online) {
		/* Fire and forget: it owns nothing of ours. */
		struct b2b_request req;
		uint8_t *buf;
		int len;

		nb_creds(o, &req, B2B_LOGOUT);
		buf = nb_encode(&req, &len);
		if (buf != NULL)
			nb_send(o, B2B_LOGOUT, buf, len, NB_LOGOUT_MS,
			    nb_logout_reply, NULL);
	}
	nb_set_state(o, NB_STOPPED);
	while (o->searches != NULL)
		nb_search_end(
		    o->searches, WARREN_EREFUSED, "the node is stopping");
	nbx_cancel(o->main);
	nbx_cancel(o->ka);
	nb_list_clear(&o->list);
	nb_adds_clear(o);
	free(o->adds);
	nb_timer_free(o->timer);
	nb_timer_free(o->batch);
	nb_timer_free(o->keepalive);
	nb_wipe(o->pwd, sizeof(o->pwd));
	free(o->state_path);
	free(o);
}

/* ------------------------------------------------------ status, peers */

static json_t *
nb_status(struct overlay *o)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:s,s:b,s:s,s:I,"
			      "s:i,s:s}",
	    "name", "napster", "role", "peer", "protocol", "beer2beer",
	    "directory", o->dir_label, "state", nb_state_name(o->state),
	    "online", o->online, "id",
	    o->id ? json_integer((json_int_t)o->id) : json_null(), "user",
	    o->cfg.user, "legacy", o->kind == NB_LEGACY, "server",
	    nb_kind_name(o->kind), "files", (json_int_t)o->files, "pending",
	    (int)o->nadds, "error", o->last_error);

	json_object_set_new(j, "counters",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "registers",
		(json_int_t)o->n.registers, "updates", (json_int_t)o->n.updates,
		"appends", (json_int_t)o->n.appends, "logins",
		(json_int_t)o->n.logins, "keepalives",
		(json_int_t)o->n.keepalives, "searches",
		(json_int_t)o->n.searches, "download_files",
		(json_int_t)o->n.download_files, "failures",
		(json_int_t)o->n.failures, "timeouts",
		(json_int_t)o->n.timeouts));
	return j;
}

static json_t *
nb_peers(struct overlay *o)
{
	return json_pack("{s:s,s:[{s:s,s:s,s:s,s:s,s:s,s:b}]}", "name",
	    "napster", "peers", "label", o->dir_label, "role", "directory",
	    "protocol", "beer2beer", "state", o->online ? "up" : "down",
	    "origin", "configured", "legacy", o->kind == NB_LEGACY);
}

const struct overlay_ops napster_b2b_ops = {
    .name = "napster",
    .start = nb_start,
    .stop = nb_stop,
    .publish = nb_publish,
    .unpublish = nb_unpublish,
    .downloaded = NULL, /* beer2beer has no DREG: the library publishes */
    .search = nb_search,
    .search_cancel = nb_search_cancel,
    .status = nb_status,
    .peers = nb_peers,
};
