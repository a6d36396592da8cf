/*
 * The napster overlay, course directory protocol (course.md §5.4): LOGI at
 * start, ADDF for every shared file, ADDF/DELF as the library changes,
 * FIND to search, DREG after each verified download, LOGO on a clean stop.
 *
 * Requests that change the directory go one at a time through a queue, in
 * order (an ADDF and the DELF of the same md5 never overtake each other).
 * The session is checked every check_interval by logging in again: LOGI
 * returns the same SessionID while the directory knows this node, and a
 * new one when it has forgotten it (restarted without its database, or
 * dropped this node after failed probes); the node then publishes every
 * file again. An "Unauthorized" answer does the same at once. When the
 * directory cannot be reached the node retries with backoff.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "napster.h"
#include "afinhits.h"
#include "overlay.h"
#include "peerset.h"
#include "rr.h"
#include "store/library.h"
#include "warren/error.h"

/* ------------------------------------------------------------- config */

const struct config_key napster_config_keys[] = {
    {"directory", "HOST:PORT",
	"the directory, course protocol (also --directory)"},
    {"directory_b2b", "HOST:PORT",
	"the directory, beer2beer protocol, default port 8888 (also "
	"--directory-b2b; not together with directory)"},
    {"user", "NAME", "beer2beer user name (also --user)"},
    {"password_file", "PATH",
	"file whose first line is the beer2beer password; must not be "
	"accessible to group or others (also --password-file)"},
    {"keepalive_interval", "SECONDS",
	"beer2beer KEEP_ALIVE period (default 240)"},
    {"dreg", "0|1", "report verified downloads with DREG (default 1)"},
    {"timeout", "SECONDS", "reply deadline (default 10)"},
    {"find_timeout", "SECONDS",
	"FIND / SEARCH_FILE reply deadline (default 30)"},
    {"retry_max", "SECONDS",
	"longest wait between attempts to reach the directory (default 30)"},
    {"check_interval", "SECONDS",
	"how often the session is checked with LOGI (default 30)"},
    {NULL, NULL, NULL},
};

/* clang-format off */
#define NP_S(key, name, min, max) \
	{key, CONF_SECONDS, offsetof(struct napster_config, name), min, max}
/* clang-format on */

static const struct conf_field np_fields[] = {
    {"dreg", CONF_UINT, offsetof(struct napster_config, dreg), 0, 1},
    NP_S("timeout", timeout_ms, 0.001, 600),
    NP_S("find_timeout", find_ms, 0.001, 600),
    NP_S("retry_max", retry_max_ms, 0.001, 3600),
    NP_S("check_interval", check_ms, 0.001, 86400),
    NP_S("keepalive_interval", keepalive_ms, 0.001, 86400),
    {NULL, CONF_UINT, 0, 0, 0},
};

void
napster_config_defaults(struct napster_config *c)
{
	memset(c, 0, sizeof(*c));
	c->dreg = 1;
	c->timeout_ms = 10000;
	c->find_ms = 30000;
	c->retry_max_ms = 30000;
	c->check_ms = 30000;
	c->keepalive_ms = 240000; /* well inside 5 min (beer2beer.md §4.3) */
}

/* password_file: made absolute against the working directory. */
static int
np_config_path(
    struct napster_config *c, const char *value, char *err, size_t errlen)
{
	char cwd[PATH_MAX];
	int n;

	if (value[0] == '\0') {
		snprintf(err, errlen, "password_file: empty path");
		return -1;
	}
	if (value[0] == '/')
		n = snprintf(
		    c->password_file, sizeof(c->password_file), "%s", value);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		n = snprintf(c->password_file, sizeof(c->password_file),
		    "%s/%s", cwd, value);
	else
		n = -1;
	if (n < 0 || (size_t)n >= sizeof(c->password_file)) {
		c->password_file[0] = '\0';
		snprintf(
		    err, errlen, "password_file: cannot use path '%s'", value);
		return -1;
	}
	return 0;
}

int
napster_config_set(struct napster_config *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	char k[64];

	conf_key_norm(key, k, sizeof(k));
	if (strcmp(k, "directory") == 0) {
		if (addr_parse(value, 3000, &c->directory) != 0 ||
		    addr_port((struct sockaddr *)&c->directory) == 0) {
			snprintf(err, errlen,
			    "directory: '%s' is not ADDR:PORT (e.g. "
			    "127.0.0.1:3000)",
			    value);
			return -1;
		}
		c->has_directory = 1;
		return 0;
	}
	if (strcmp(k, "directory_b2b") == 0) {
		if (addr_parse(value, B2B_PORT_DEFAULT, &c->directory_b2b) !=
			0 ||
		    addr_port((struct sockaddr *)&c->directory_b2b) == 0) {
			snprintf(err, errlen,
			    "directory_b2b: '%s' is not ADDR[:PORT] (e.g. "
			    "127.0.0.1:8888)",
			    value);
			return -1;
		}
		c->has_b2b = 1;
		return 0;
	}
	if (strcmp(k, "user") == 0) {
		if (b2b_user_check(value, strlen(value)) != 0) {
			snprintf(err, errlen,
			    "user: '%s' is not a beer2beer user name (1-%d "
			    "bytes of UTF-8, no spaces or control characters)",
			    value, B2B_USER_MAX);
			return -1;
		}
		snprintf(c->user, sizeof(c->user), "%s", value);
		return 0;
	}
	if (strcmp(k, "password_file") == 0)
		return np_config_path(c, value, err, errlen);
	return conf_set_field(c, np_fields, "napster", k, value, err, errlen);
}

/* Copies kept from one AFIN (course.md §11: answers kept per collection). */
#define NP_MAX_HITS 10000

/* -------------------------------------------------------------- state */

enum np_state {
	NP_LOGIN,   /* LOGI in flight */
	NP_READY,   /* logged in: the queue runs */
	NP_WAITING, /* directory unreachable: backoff */
	NP_STOPPED,
};

/* One request of the queue. */
struct np_op {
	enum course_kind kind; /* ADDF, DELF, DREG */
	char md5[COURSE_MD5_LEN + 1];
	char name[COURSE_NAME_LEN];
	size_t name_len;
	struct np_op *next;
};

struct np_counters {
	uint64_t logins, relogins, addf, delf, dreg, finds, failures;
};

struct overlay {
	struct overlay_env env;
	struct napster_config cfg;
	struct course_peer dir;
	char dir_label[ADDR_STRLEN];
	enum np_state state;
	char session[COURSE_SESSION_LEN];
	int has_session;
	char reply_session[COURSE_SESSION_LEN]; /* from the last ALGI */
	struct rr *rr;                          /* LOGI or the queue's head */
	struct np_op *head, *tail;
	unsigned nops;
	uv_timer_t *timer; /* backoff and session checks */
	uint64_t backoff_ms;
	uint64_t files; /* published */
	char last_error[128];
	struct overlay_search *searches;
	struct np_counters n;
};

/* A FIND. */
struct overlay_search {
	struct overlay *o;
	struct rr *rr;
	char term[COURSE_TERM_LEN + 1];
	struct afinhits reply; /* the AFIN, turned into hits */
	overlay_done_cb done;
	void *arg;
	uv_timer_t *start; /* deferred: never call back from search() */
	int after_login;   /* waits for the session (FIND carries it) */
	struct overlay_search *next;
};

static void np_login(struct overlay *o);
static void np_next(struct overlay *o);
static void np_tick(uv_timer_t *t);
static void np_find_start(uv_timer_t *t);
static void np_search_free(struct overlay_search *s);

/* Logged in: the searches that waited for it start. */
static void
np_searches_resume(struct overlay *o)
{
	for (struct overlay_search *s = o->searches; s != NULL; s = s->next)
		if (s->after_login) {
			s->after_login = 0;
			uv_timer_start(s->start, np_find_start, 0, 0);
		}
}

/* The login failed: so do the searches that waited for it. */
static void
np_searches_fail(struct overlay *o)
{
	struct overlay_search *s = o->searches, *next;
	char msg[300];

	snprintf(msg, sizeof(msg), "not logged in at the directory %s: %s",
	    o->dir_label, o->last_error);
	for (; s != NULL; s = next) {
		overlay_done_cb done = s->done;
		void *arg = s->arg;

		next = s->next;
		if (!s->after_login)
			continue;
		np_search_free(s);
		done(arg, WARREN_ENOTFOUND, msg);
	}
}

static struct rr_opts
np_rr_opts(struct overlay *o, uint64_t timeout_ms)
{
	struct rr_opts r;

	memset(&r, 0, sizeof(r));
	r.dial = o->env.dial;
	r.timeout_ms = timeout_ms;
	r.rcap = 8192;
	return r;
}

static const char *
np_strerror(int status)
{
	return status < 0 && status > -4096 ? uv_strerror(status)
					    : warren_strerror(status);
}

static void
np_timer_closed(uv_handle_t *h)
{
	free(h);
}

static uv_timer_t *
np_timer_new(struct overlay *o, void *data)
{
	uv_timer_t *t = xcalloc(1, sizeof(*t));

	uv_timer_init(o->env.loop, t);
	t->data = data;
	return t;
}

static void
np_timer_free(uv_timer_t *t)
{
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, np_timer_closed);
}

/* ------------------------------------------------------------- queue */

static void
np_push(struct overlay *o, enum course_kind kind, const char *md5,
    const char *name, size_t name_len)
{
	struct np_op *op = xcalloc(1, sizeof(*op));

	op->kind = kind;
	memcpy(op->md5, md5, COURSE_MD5_LEN);
	if (name != NULL) {
		memcpy(op->name, name, name_len);
		op->name_len = name_len;
	}
	if (o->tail != NULL)
		o->tail->next = op;
	else
		o->head = op;
	o->tail = op;
	o->nops++;
}

static void
np_pop(struct overlay *o)
{
	struct np_op *op = o->head;

	o->head = op->next;
	if (o->head == NULL)
		o->tail = NULL;
	o->nops--;
	free(op);
}

/* Forget queued ADDF/DELF (a fresh publication replaces them). */
static void
np_drop_publications(struct overlay *o)
{
	struct np_op **pp = &o->head, *op;

	o->tail = NULL;
	while ((op = *pp) != NULL) {
		if (op->kind != COURSE_DREG) {
			*pp = op->next;
			o->nops--;
			free(op);
			continue;
		}
		o->tail = op;
		pp = &op->next;
	}
}

static void
np_publish_one(void *arg, const struct library_file *f)
{
	struct overlay *o = arg;

	if (!f->name_too_long)
		np_push(o, COURSE_ADDF, f->md5, f->name, f->name_len);
}

/* Publish every shared file (after a login with a new session). */
static void
np_publish_all(struct overlay *o)
{
	np_drop_publications(o);
	o->files = 0;
	library_foreach(o->env.lib, np_publish_one, o);
}

/* The directory cannot be reached: try again later. */
static void
np_wait(struct overlay *o, const char *what, int status)
{
	snprintf(o->last_error, sizeof(o->last_error), "%s: %s", what,
	    np_strerror(status));
	if (o->state != NP_WAITING)
		log_warn("napster: directory %s: %s (retrying)", o->dir_label,
		    o->last_error);
	o->state = NP_WAITING;
	o->n.failures++;
	np_searches_fail(o);
	o->backoff_ms = o->backoff_ms ? o->backoff_ms * 2 : 1000;
	if (o->backoff_ms > o->cfg.retry_max_ms)
		o->backoff_ms = o->cfg.retry_max_ms;
	uv_timer_stop(o->timer);
	uv_timer_start(o->timer, np_tick, o->backoff_ms, 0);
}

static int
np_reply_read(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct overlay *o = arg;
	struct course_msg m;
	enum course_kind want = o->head->kind == COURSE_ADDF ? COURSE_AADD
	    : o->head->kind == COURSE_DELF                   ? COURSE_ADEL
							     : COURSE_ADRE;
	int n = course_decode_reply(want, buf, len, &m);

	if (n > 0)
		*done = 1;
	else if (n == WARREN_EREFUSED && len >= 4) {
		/* An error sentence: Unauthorized means we were forgotten. */
		if (len >= 12 && memcmp(buf, "Unauthorized", 12) == 0)
			return WARREN_EAUTH;
		/* A DREG of an unknown md5 at an existing directory: "File
		 * not found." is "not counted" (§12 item 18). */
		return WARREN_EREFUSED;
	}
	return n;
}

static void
np_reply_done(void *arg, int status)
{
	struct overlay *o = arg;
	struct np_op *op = o->head;

	o->rr = NULL;
	if (status == WARREN_EAUTH) {
		log_info("napster: the directory forgot this node's session: "
			 "logging in again");
		o->has_session = 0;
		o->n.relogins++;
		np_login(o);
		return;
	}
	if (status == UV_ECONNREFUSED || status == UV_ETIMEDOUT ||
	    status == UV_EHOSTUNREACH || status == UV_ENETUNREACH) {
		np_wait(o, course_kind_name(op->kind), status);
		return;
	}
	/* Done, or refused for good (bad name, not counted): next one. */
	if (status == 0 && op->kind == COURSE_ADDF) {
		o->n.addf++;
		o->files++;
	} else if (status == 0 && op->kind == COURSE_DELF) {
		o->n.delf++;
		if (o->files > 0)
			o->files--;
	} else if (op->kind == COURSE_DREG) {
		o->n.dreg++;
	}
	if (status != 0)
		log_debug("napster: %s %s: %s", course_kind_name(op->kind),
		    op->md5, np_strerror(status));
	np_pop(o);
	np_next(o);
}

/* Run the head of the queue if nothing is in flight. */
static void
np_next(struct overlay *o)
{
	struct rr_opts ro = np_rr_opts(o, o->cfg.timeout_ms);
	struct course_msg m;
	char buf[COURSE_MSG_MAX];
	int len;

	if (o->state != NP_READY || o->rr != NULL || o->head == NULL)
		return;
	memset(&m, 0, sizeof(m));
	m.kind = o->head->kind;
	memcpy(m.session, o->session, COURSE_SESSION_LEN);
	memcpy(m.md5, o->head->md5, sizeof(m.md5));
	m.name.ptr = o->head->name;
	m.name.len = o->head->name_len;
	len = course_encode(&m, buf, sizeof(buf));
	if (len <= 0) {
		np_pop(o);
		np_next(o);
		return;
	}
	o->rr = rr_start(o->env.loop, &ro, &o->dir, buf, (size_t)len,
	    np_reply_read, np_reply_done, o);
}

/* ------------------------------------------------------------- login */

static int
np_algi_read(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct overlay *o = arg;
	struct course_msg m;
	int n = course_decode_algi(buf, len, &m);

	if (n > 0) {
		memcpy(o->reply_session, m.session, COURSE_SESSION_LEN);
		*done = 1;
	}
	return n;
}

static void
np_login_done(void *arg, int status)
{
	struct overlay *o = arg;
	int same;

	o->rr = NULL;
	if (status != 0) {
		np_wait(o, "LOGI", status);
		return;
	}
	if (course_session_is_null(o->reply_session)) {
		np_wait(o, "LOGI", WARREN_EREFUSED);
		return;
	}
	same = o->has_session &&
	    memcmp(o->session, o->reply_session, COURSE_SESSION_LEN) == 0;
	memcpy(o->session, o->reply_session, COURSE_SESSION_LEN);
	o->has_session = 1;
	o->backoff_ms = 0;
	o->last_error[0] = '\0';
	if (o->state != NP_READY || !same)
		log_info("napster: logged in at directory %s (session "
			 "%.16s)",
		    o->dir_label, o->session);
	o->state = NP_READY;
	o->n.logins++;
	if (!same)
		np_publish_all(o);
	uv_timer_stop(o->timer);
	uv_timer_start(o->timer, np_tick, o->cfg.check_ms, o->cfg.check_ms);
	np_searches_resume(o);
	np_next(o);
}

static void
np_login(struct overlay *o)
{
	struct rr_opts ro = np_rr_opts(o, o->cfg.timeout_ms);
	struct course_msg m;
	char buf[COURSE_MSG_MAX];
	int len;

	memset(&m, 0, sizeof(m));
	m.kind = COURSE_LOGI;
	m.peer = o->env.self;
	len = course_encode(&m, buf, sizeof(buf));
	if (o->state != NP_READY)
		o->state = NP_LOGIN;
	o->rr = rr_start(o->env.loop, &ro, &o->dir, buf, (size_t)len,
	    np_algi_read, np_login_done, o);
	if (o->rr == NULL)
		np_wait(o, "LOGI", WARREN_EFIELD);
}

/* Backoff over, or time for a session check: LOGI (when idle). */
static void
np_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	if (o->rr == NULL && o->state != NP_STOPPED)
		np_login(o);
}

/* ---------------------------------------------------------------- FIND */

static int
np_afin_read(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct overlay_search *s = arg;

	return afinhits_feed(&s->reply, buf, len, done);
}

static void
np_search_free(struct overlay_search *s)
{
	struct overlay_search **pp;

	for (pp = &s->o->searches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	if (s->rr != NULL)
		rr_cancel(s->rr);
	np_timer_free(s->start);
	afinhits_release(&s->reply);
	free(s);
}

static void
np_find_done(void *arg, int status)
{
	struct overlay_search *s = arg;
	overlay_done_cb done = s->done;
	void *darg = s->arg;
	char msg[160];
	int failed = status != 0 && !course_afin_done(&s->reply.afin);

	s->rr = NULL;
	if (status == WARREN_EREFUSED)
		snprintf(msg, sizeof(msg),
		    "the directory refused the search (busy, or the session "
		    "is gone)");
	else
		snprintf(msg, sizeof(msg), "FIND at the directory failed: %s",
		    np_strerror(status));
	np_search_free(s);
	done(darg, failed ? WARREN_EREFUSED : 0, failed ? msg : NULL);
}

static void
np_find_start(uv_timer_t *t)
{
	struct overlay_search *s = t->data;
	struct overlay *o = s->o;
	struct rr_opts ro = np_rr_opts(o, o->cfg.find_ms);
	struct course_msg m;
	char buf[COURSE_MSG_MAX];
	int len;

	memset(&m, 0, sizeof(m));
	m.kind = COURSE_FIND;
	memcpy(m.session, o->session, COURSE_SESSION_LEN);
	m.term.ptr = s->term;
	m.term.len = strlen(s->term);
	len = course_encode(&m, buf, sizeof(buf));
	course_afin_init(&s->reply.afin);
	o->n.finds++;
	s->rr = rr_start(o->env.loop, &ro, &o->dir, buf, (size_t)len,
	    np_afin_read, np_find_done, s);
	if (s->rr == NULL)
		np_find_done(s, WARREN_EFIELD);
}

/* ----------------------------------------------------------------- ops */

static int
np_start(const struct overlay_env *env, const void *conf, struct overlay **out)
{
	const struct napster_config *cfg = conf;
	struct overlay *o;

	if (!cfg->has_directory) {
		log_error("napster: no directory (give one with --directory "
			  "HOST:PORT, or a beer2beer one with --directory-b2b "
			  "HOST:PORT)");
		return -1;
	}
	o = xcalloc(1, sizeof(*o));
	o->env = *env;
	o->cfg = *cfg;
	if (peer_from_sockaddr(
		(const struct sockaddr *)&cfg->directory, &o->dir) != 0) {
		free(o);
		return -1;
	}
	peer_label(&o->dir, o->dir_label, sizeof(o->dir_label));
	o->timer = np_timer_new(o, o);
	np_login(o);
	*out = o;
	return 0;
}

static void
np_logo_done(void *arg, int status)
{
	(void)arg;
	if (status != 0)
		log_debug("napster: LOGO: %s", np_strerror(status));
}

static int
np_algo_read(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct course_msg m;
	int n = course_decode_reply(COURSE_ALGO, buf, len, &m);

	(void)arg;
	if (n > 0)
		*done = 1;
	return n;
}

static void
np_stop(struct overlay *o)
{
	if (o->has_session && o->state == NP_READY) {
		/* Fire and forget: it owns nothing of ours. */
		struct rr_opts ro = np_rr_opts(o, 3000);
		struct course_msg m;
		char buf[COURSE_MSG_MAX];
		int len;

		memset(&m, 0, sizeof(m));
		m.kind = COURSE_LOGO;
		memcpy(m.session, o->session, COURSE_SESSION_LEN);
		len = course_encode(&m, buf, sizeof(buf));
		rr_start(o->env.loop, &ro, &o->dir, buf, (size_t)len,
		    np_algo_read, np_logo_done, NULL);
	}
	o->state = NP_STOPPED;
	while (o->searches != NULL) {
		struct overlay_search *s = o->searches;
		overlay_done_cb done = s->done;
		void *arg = s->arg;

		np_search_free(s);
		done(arg, WARREN_EREFUSED, "the node is stopping");
	}
	if (o->rr != NULL)
		rr_cancel(o->rr);
	while (o->head != NULL)
		np_pop(o);
	np_timer_free(o->timer);
	free(o);
}

static void
np_publish(struct overlay *o, const struct library_file *f)
{
	if (f->name_too_long || !o->has_session)
		return; /* published with everything after the login */
	np_push(o, COURSE_ADDF, f->md5, f->name, f->name_len);
	np_next(o);
}

static void
np_unpublish(struct overlay *o, const struct library_file *f)
{
	if (f->name_too_long || !o->has_session)
		return;
	np_push(o, COURSE_DELF, f->md5, NULL, 0);
	np_next(o);
}

static void
np_downloaded(struct overlay *o, const char *md5)
{
	if (!o->cfg.dreg)
		return;
	np_push(o, COURSE_DREG, md5, NULL, 0);
	np_next(o);
}

static int
np_search(struct overlay *o, const struct overlay_search_opts *opts,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen)
{
	struct overlay_search *s;
	size_t tlen = strlen(opts->term);

	if (tlen > COURSE_TERM_LEN) {
		snprintf(msg, msglen,
		    "search term is %zu bytes: FIND carries at most %d", tlen,
		    COURSE_TERM_LEN);
		return WARREN_ETOOLONG;
	}
	s = xcalloc(1, sizeof(*s));
	s->o = o;
	afinhits_init(
	    &s->reply, "napster", &o->env.self, NP_MAX_HITS, hit, arg);
	s->done = done;
	s->arg = arg;
	memcpy(s->term, opts->term, tlen);
	s->next = o->searches;
	o->searches = s;
	s->start = np_timer_new(o, s);
	if (o->state == NP_READY)
		uv_timer_start(s->start, np_find_start, 0, 0);
	else {
		/* Not logged in (the directory was down, or the first LOGI
		 * runs): the search waits for the session, and a node
		 * waiting out its backoff tries again now. */
		s->after_login = 1;
		if (o->state == NP_WAITING) {
			uv_timer_stop(o->timer);
			uv_timer_start(o->timer, np_tick, 0, 0);
		}
	}
	*out = s;
	return 0;
}

static void
np_search_cancel(struct overlay_search *s)
{
	np_search_free(s);
}

static json_t *
np_status(struct overlay *o)
{
	static const char *const names[] = {
	    "logging-in", "ready", "waiting", "stopped"};

	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:I,s:i,s:s,s:{s:I,s:I,s:I,"
			 "s:I,s:I,s:I,s:I}}",
	    "name", "napster", "role", "peer", "directory", o->dir_label,
	    "state", names[o->state], "session",
	    o->has_session ? json_stringn(o->session, COURSE_SESSION_LEN)
			   : json_null(),
	    "files", (json_int_t)o->files, "queued", (int)o->nops, "error",
	    o->last_error, "counters", "logins", (json_int_t)o->n.logins,
	    "relogins", (json_int_t)o->n.relogins, "addf",
	    (json_int_t)o->n.addf, "delf", (json_int_t)o->n.delf, "dreg",
	    (json_int_t)o->n.dreg, "finds", (json_int_t)o->n.finds, "failures",
	    (json_int_t)o->n.failures);
}

static json_t *
np_peers(struct overlay *o)
{
	return json_pack("{s:s,s:[{s:s,s:s,s:s,s:s}]}", "name", "napster",
	    "peers", "label", o->dir_label, "role", "directory", "state",
	    o->state == NP_READY ? "up" : "down", "origin", "configured");
}

const struct overlay_ops napster_ops = {
    .name = "napster",
    .start = np_start,
    .stop = np_stop,
    .publish = np_publish,
    .unpublish = np_unpublish,
    .downloaded = np_downloaded,
    .search = np_search,
    .search_cancel = np_search_cancel,
    .status = np_status,
    .peers = np_peers,
};
