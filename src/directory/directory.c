/*
 * warren directory: the course directory protocol (course.md §5) over the
 * SQLite index of store/index.h, and the beer2beer protocol (b2b.c) over
 * store/accounts.h in the same database. Every request is one transaction:
 * a rejected request changes nothing, and everything committed survives a
 * kill -9 (WAL). Sessions survive a restart too; peers that are gone are
 * found by the liveness probes and dropped with their files. A FIND also
 * finds the files of online beer2beer registrations that gave an md5.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "b2b.h"
#include "core/addr.h"
#include "core/path.h"
#include "core/xmalloc.h"
#include "directory.h"
#include "net/conn.h"
#include "net/request.h"
#include "overlay/flood.h"
#include "overlay/peerset.h"
#include "overlay/sprobe.h"
#include "store/index.h"
#include "warren/error.h"
#include "wire/course.h"

/* ------------------------------------------------------------- config */

const struct config_key directory_config_keys[] = {
    {"listen", "ADDR:PORT",
	"course directory protocol port (repeatable; default [::]:3000, "
	"dual-stack)"},
    {"data_dir", "DIR",
	"where directory.db lives (default $XDG_DATA_HOME/warren/directory)"},
    {"max_sessions", "N", "peers logged in at once (default 10000)"},
    {"files_per_session", "N", "files one peer may add (default 100000)"},
    {"max_results", "N", "md5 entries in one FIND answer (default 100)"},
    {"max_connections", "N", "simultaneous connections (default 1024)"},
    {"probe_interval", "SECONDS",
	"a logged-in peer silent this long is probed on its port "
	"(default 60)"},
    {"probe_fails", "N",
	"failed probes before a peer and its files are dropped "
	"(default 3)"},
    {"search_rate", "N", "FINDs per second from one address (default 10)"},
    {"search_burst", "N", "burst of the search rate (default 20)"},
    {"request_timeout", "SECONDS", "accept to full request (default 10)"},
    {"connect_timeout", "SECONDS", "per probe address (default 5)"},
    {"log_level", "LEVEL", "error, warn, info or debug (default info)"},
    {"b2b_listen", "ADDR:PORT",
	"beer2beer protocol port (repeatable; default [::]:8888, "
	"dual-stack)"},
    {"registration_ttl", "SECONDS",
	"a beer2beer registration lives this long after REGISTER or its "
	"last LOGIN (default 2592000: 30 days)"},
    {"keepalive", "SECONDS",
	"beer2beer keep-alive period of peers (default 300)"},
    {"keepalive_grace", "SECONDS",
	"silence beyond the keep-alive period before a peer is offline "
	"(default 60)"},
    {"sweep_interval", "SECONDS",
	"expired registrations are deleted this often (default 3600, at "
	"most 3600)"},
    {"max_registrations", "N", "live beer2beer registrations (default 100000)"},
    {"files_per_registration", "N",
	"files of one beer2beer registration (default 100000)"},
    {"search_results", "N", "records in one SEARCH_FILE answer (default 200)"},
    {"default_peer_port", "PORT",
	"transfer port of a beer2beer LOGIN without one (default 3000)"},
    {"pbkdf2_iterations", "N",
	"PBKDF2-HMAC-SHA256 iterations per password (default 200000; "
	"beer2beer.md requires at least 200000: lower only for tests, "
	"minimum 1000)"},
    {"max_b2b_connections", "N",
	"simultaneous beer2beer connections, an eighth of them from one "
	"address (default 256)"},
    {"b2b_frame_timeout", "SECONDS",
	"first byte of a beer2beer frame to all of it (default 30)"},
    {"b2b_idle_timeout", "SECONDS",
	"a beer2beer connection without a frame is closed (default 600)"},
    {NULL, NULL, NULL},
};

/* clang-format off */
#define DIR_F(name, type, min, max) \
	{#name, type, offsetof(struct directory_config, name), min, max}
#define DIR_S(key, name, min, max) \
	{key, CONF_SECONDS, offsetof(struct directory_config, name), min, max}
/* clang-format on */

static const struct conf_field dir_fields[] = {
    DIR_F(max_sessions, CONF_UINT, 1, 1000000),
    DIR_F(files_per_session, CONF_UINT, 1, 10000000),
    DIR_F(max_results, CONF_UINT, 1, 999),
    {"max_connections", CONF_UINT, offsetof(struct directory_config, max_conns),
	1, 16384},
    DIR_F(probe_fails, CONF_UINT, 1, 100),
    DIR_F(search_rate, CONF_DOUBLE, 0, 1e6),
    DIR_F(search_burst, CONF_DOUBLE, 1, 1e6),
    DIR_S("probe_interval", probe_ms, 0.001, 86400),
    DIR_S("request_timeout", request_timeout_ms, 0.001, 600),
    DIR_S("connect_timeout", connect_timeout_ms, 0.001, 600),
    DIR_S("registration_ttl", registration_ttl_ms, 0.001, 315360000),
    DIR_S("keepalive", keepalive_ms, 0.001, 86400),
    DIR_S("keepalive_grace", keepalive_grace_ms, 0.001, 86400),
    DIR_S("sweep_interval", sweep_interval_ms, 0.001, 3600),
    DIR_F(max_registrations, CONF_UINT, 1, 10000000),
    DIR_F(files_per_registration, CONF_UINT, 1, 10000000),
    DIR_F(search_results, CONF_UINT, 1, 100000),
    DIR_F(default_peer_port, CONF_UINT, 1, 65535),
    DIR_F(pbkdf2_iterations, CONF_UINT, ACCOUNTS_ITER_MIN, ACCOUNTS_ITER_MAX),
    DIR_F(max_b2b_connections, CONF_UINT, 1, 16384),
    DIR_S("b2b_frame_timeout", b2b_frame_timeout_ms, 0.001, 600),
    DIR_S("b2b_idle_timeout", b2b_idle_timeout_ms, 0.001, 86400),
    {NULL, CONF_UINT, 0, 0, 0},
};

void
directory_config_defaults(struct directory_config *c)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

	memset(c, 0, sizeof(*c));
	c->data_dir = xdg && xdg[0] == '/'
	    ? xasprintf("%s/warren/directory", xdg)
	    : xasprintf(
		  "%s/.local/share/warren/directory", home ? home : "/tmp");
	addr_parse("[::]:3000", 0, &c->listen[0]);
	c->nlisten = 1;
	c->max_sessions = 10000;
	c->files_per_session = 100000;
	c->max_results = 100;
	c->max_conns = 1024;
	c->probe_ms = 60000;
	c->probe_fails = 3;
	c->search_rate = 10;
	c->search_burst = 20;
	c->request_timeout_ms = 10000;
	c->connect_timeout_ms = 5000;
	c->log_level = LOG_LEVEL_INFO;
	addr_parse("[::]:8888", 0, &c->b2b_listen[0]);
	c->nb2b_listen = 1;
	c->registration_ttl_ms = 30ULL * 24 * 3600 * 1000;
	c->keepalive_ms = 300000;
	c->keepalive_grace_ms = 60000;
	c->sweep_interval_ms = 3600000;
	c->max_registrations = 100000;
	c->files_per_registration = 100000;
	c->search_results = 200;
	c->default_peer_port = B2B_PEER_PORT_DEFAULT;
	c->pbkdf2_iterations = ACCOUNTS_ITER_SPEC;
	c->max_b2b_connections = 256;
	c->b2b_frame_timeout_ms = 30000;
	c->b2b_idle_timeout_ms = 600000;
}

int
directory_config_set(struct directory_config *c, const char *key,
    const char *value, char *err, size_t errlen)
{
	char k[64];
	int rc;

	conf_key_norm(key, k, sizeof(k));
	if (strcmp(k, "listen") == 0) {
		if (!c->listen_set) {
			c->nlisten = 0;
			c->listen_set = 1;
		}
		if (c->nlisten == DIRECTORY_MAX_LISTEN ||
		    addr_parse(value, 0, &c->listen[c->nlisten]) != 0) {
			snprintf(err, errlen,
			    "listen: '%s' is not ADDR:PORT (at most %d)", value,
			    DIRECTORY_MAX_LISTEN);
			return -1;
		}
		c->nlisten++;
		return 0;
	}
	if (strcmp(k, "b2b_listen") == 0) {
		if (!c->b2b_listen_set) {
			c->nb2b_listen = 0;
			c->b2b_listen_set = 1;
		}
		if (c->nb2b_listen == DIRECTORY_MAX_LISTEN ||
		    addr_parse(value, 0, &c->b2b_listen[c->nb2b_listen]) != 0) {
			snprintf(err, errlen,
			    "b2b_listen: '%s' is not ADDR:PORT (at most %d)",
			    value, DIRECTORY_MAX_LISTEN);
			return -1;
		}
		c->nb2b_listen++;
		return 0;
	}
	if (strcmp(k, "data_dir") == 0) {
		free(c->data_dir);
		c->data_dir = xstrdup(value);
		return 0;
	}
	if (strcmp(k, "log_level") == 0) {
		if (log_parse_level(value, &c->log_level) != 0) {
			snprintf(err, errlen,
			    "log_level: '%s' is not error, warn, info or debug",
			    value);
			return -1;
		}
		return 0;
	}
	rc = conf_set_field(c, dir_fields, "directory", k, value, err, errlen);
	if (rc == 1)
		snprintf(err, errlen, "unknown setting '%s'", key);
	return rc == 0 ? 0 : -1;
}

int
directory_config_finish(struct directory_config *c, char *err, size_t errlen)
{
	if (path_absolute(&c->data_dir) != 0) {
		snprintf(
		    err, errlen, "data_dir: cannot resolve %s", c->data_dir);
		return -1;
	}
	return 0;
}

void
directory_config_release(struct directory_config *c)
{
	free(c->data_dir);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------- server */

/* Starts with "Busy" so that clients classify it as busy (§2.7). */
#define DIR_SAY_SEARCHES "Busy: too many searches, try again later."

/*
 * FIND runs on the thread pool, on read connections of its own (SQLite in
 * WAL mode: readers see the last commit and never wait for the writer),
 * so that a slow FIND (a broad term over a million names) delays neither
 * LOGI/ADDF/DELF on the loop nor the other FINDs. At most DIR_READERS run
 * at once, each on its own connection; the others wait in a FIFO.
 */
#define DIR_READERS 2

struct dir_find_job {
	uv_work_t work;
	struct directory *d;
	struct conn *c; /* handed over by the request server */
	unsigned reader;
	char term[COURSE_TERM_LEN];
	size_t term_len;
	uint8_t *buf; /* the AFIN */
	size_t len;
	struct dir_find_job *next;
};

struct directory {
	uv_loop_t *loop;
	struct directory_config *cfg;
	struct index *ix;
	struct index *readers[DIR_READERS];
	int reader_busy[DIR_READERS];
	struct dir_find_job *find_head, *find_tail; /* waiting for a reader */
	struct request_server *rs;
	struct sprobe *probe;
	struct flood_rate *searches; /* FINDs per source address */
	struct b2b_server *b2b;      /* the beer2beer side */
	uv_signal_t sigint, sigterm;
	uint64_t dropped; /* peers dropped by the probes */
};

static void
dir_reply(struct conn *c, enum course_kind kind, unsigned long count)
{
	struct course_msg r;
	char buf[COURSE_MSG_MAX];
	int len;

	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.count = count;
	len = course_encode(&r, buf, sizeof(buf));
	conn_write_close(c, buf, (size_t)len);
}

static void
dir_say(struct conn *c, const char *sentence)
{
	conn_write_close(c, sentence, strlen(sentence));
}

static unsigned long
dir_cap(long v, unsigned long max)
{
	return v < 0 ? 0 : (unsigned long)v > max ? max : (unsigned long)v;
}

/*
 * The files of one FIND from both protocols, merged by md5: the course
 * index reports (file, owner) rows, the beer2beer registrations (file,
 * holder) rows; an md5 known to both gets every copy once.
 */
struct dir_entry {
	char md5[COURSE_MD5_LEN + 1];
	char name[COURSE_NAME_LEN]; /* the first name reported */
	size_t name_len;
	struct course_peer *copies; /* ncopies, at most COURSE_COPIES_MAX */
	unsigned ncopies, cap;
};

#define COURSE_COPIES_MAX 999 /* #copy is 3 digits */

struct dir_found {
	struct dir_entry *v;
	size_t n, cap;
	unsigned max;  /* max_results */
	unsigned nb2b; /* entries the beer2beer rows created */
};

static struct dir_entry *
dir_found_get(struct dir_found *f, const char *md5)
{
	for (size_t i = 0; i < f->n; i++)
		if (memcmp(f->v[i].md5, md5, COURSE_MD5_LEN) == 0)
			return &f->v[i];
	return NULL;
}

static void
dir_found_copy(struct dir_entry *e, const struct course_peer *p)
{
	if (e->ncopies == COURSE_COPIES_MAX)
		return;
	for (unsigned i = 0; i < e->ncopies; i++)
		if (course_peer_equal(&e->copies[i], p))
			return;
	if (e->ncopies == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 4;
		e->copies = xreallocarray(e->copies, e->cap, sizeof(*p));
	}
	e->copies[e->ncopies++] = *p;
}

static struct dir_entry *
dir_found_new(
    struct dir_found *f, const char *md5, const char *name, size_t name_len)
{
	struct dir_entry *e;

	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
	}
	e = &f->v[f->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->md5, md5, COURSE_MD5_LEN);
	e->name_len = name_len < sizeof(e->name) ? name_len : sizeof(e->name);
	memcpy(e->name, name, e->name_len);
	return e;
}

static void
dir_found_course(void *arg, const char *md5, const char *name, size_t name_len,
    const struct course_peer *owner)
{
	struct dir_found *f = arg;
	struct dir_entry *e = dir_found_get(f, md5);

	if (e == NULL)
		e = dir_found_new(f, md5, name, name_len);
	dir_found_copy(e, owner);
}

/* Beer2beer rows come sorted as the AFIN is: once max new files are in,
 * the rest would be cut anyway. */
static int
dir_found_b2b(void *arg, const char *md5, const char *name, size_t name_len,
    const struct course_peer *holder)
{
	struct dir_found *f = arg;
	struct dir_entry *e = dir_found_get(f, md5);

	if (e == NULL) {
		if (f->nb2b == f->max)
			return 1;
		f->nb2b++;
		e = dir_found_new(f, md5, name, name_len);
	}
	dir_found_copy(e, holder);
	return 0;
}

/* index_find's order: name ignoring ASCII case (SQLite NOCASE), md5. */
static int
dir_entry_cmp(const void *x, const void *y)
{
	const struct dir_entry *a = x, *b = y;
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;

	for (size_t i = 0; i < n; i++) {
		int ca = (unsigned char)a->name[i],
		    cb = (unsigned char)b->name[i];

		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return ca - cb;
	}
	if (a->name_len != b->name_len)
		return a->name_len < b->name_len ? -1 : 1;
	return memcmp(a->md5, b->md5, COURSE_MD5_LEN);
}

/* The AFIN of a FIND, built on a pool thread with reader ix. */
static void
dir_find_answer(struct directory *d, struct index *ix, struct course_str term,
    uint8_t **out, size_t *outlen)
{
	struct dir_found f;
	uint8_t *buf;
	size_t len = 0, cap, i, n;

	memset(&f, 0, sizeof(f));
	f.max = d->cfg->max_results;
	index_find(ix, term, f.max, COURSE_COPIES_MAX, dir_found_course, &f);
	if (d->b2b != NULL)
		(void)accounts_find(b2b_server_accounts(d->b2b), term,
		    b2b_now_ms(), dir_found_b2b, &f);
	if (f.n > 0)
		qsort(f.v, f.n, sizeof(*f.v), dir_entry_cmp);
	/* Keep the first max entries the course can carry (a beer2beer name
	 * of spaces only cannot be sent), in order. */
	cap = COURSE_AFIN_HEAD_LEN;
	for (i = 0, n = 0; i < f.n && n < f.max; i++) {
		struct dir_entry *e = &f.v[i];
		struct course_str name = {e->name, e->name_len};
		uint8_t tmp[COURSE_AFIN_ENTRY_LEN];

		if (course_encode_afin_entry(
			e->md5, name, e->ncopies, tmp, sizeof(tmp)) <= 0) {
			free(e->copies);
			continue;
		}
		f.v[n++] = *e;
		cap += COURSE_AFIN_ENTRY_LEN +
		    (size_t)e->ncopies * COURSE_AFIN_COPY_LEN;
	}
	for (; i < f.n; i++)
		free(f.v[i].copies);
	f.n = n;
	buf = xmalloc(cap);
	len += (size_t)course_encode_afin_head((unsigned)n, buf, cap);
	for (i = 0; i < n; i++) {
		struct dir_entry *e = &f.v[i];
		struct course_str name = {e->name, e->name_len};

		len += (size_t)course_encode_afin_entry(
		    e->md5, name, e->ncopies, buf + len, cap - len);
		for (unsigned j = 0; j < e->ncopies; j++)
			len += (size_t)course_encode_afin_copy(
			    &e->copies[j], buf + len, cap - len);
	}
	for (i = 0; i < f.n; i++)
		free(f.v[i].copies);
	free(f.v);
	*out = buf;
	*outlen = len;
}

static void dir_find_next(struct directory *d);

static void
dir_find_work(uv_work_t *w)
{
	struct dir_find_job *j = w->data;
	struct course_str term = {j->term, j->term_len};

	dir_find_answer(j->d, j->d->readers[j->reader], term, &j->buf, &j->len);
}

static void
dir_find_done(uv_work_t *w, int status)
{
	struct dir_find_job *j = w->data;
	struct directory *d = j->d;

	(void)status; /* never cancelled */
	d->reader_busy[j->reader] = 0;
	conn_write_close(j->c, j->buf, j->len);
	free(j->buf);
	free(j);
	dir_find_next(d);
}

/* Start waiting FINDs on the free readers. */
static void
dir_find_next(struct directory *d)
{
	for (unsigned i = 0; i < DIR_READERS && d->find_head != NULL; i++) {
		struct dir_find_job *j = d->find_head;

		if (d->reader_busy[i])
			continue;
		if ((d->find_head = j->next) == NULL)
			d->find_tail = NULL;
		d->reader_busy[i] = 1;
		j->reader = i;
		j->work.data = j;
		uv_queue_work(d->loop, &j->work, dir_find_work, dir_find_done);
	}
}

static void
dir_find(struct directory *d, struct conn *c, const struct course_msg *m)
{
	struct dir_find_job *j;

	if (!flood_rate_allow(
		d->searches, (struct sockaddr *)&c->peer, uv_now(d->loop))) {
		dir_say(c, DIR_SAY_SEARCHES);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->d = d;
	j->c = c;
	j->term_len = m->term.len < sizeof(j->term) ? m->term.len
						    : sizeof(j->term);
	memcpy(j->term, m->term.ptr, j->term_len);
	if (d->find_tail != NULL)
		d->find_tail->next = j;
	else
		d->find_head = j;
	d->find_tail = j;
	dir_find_next(d);
}

static void
dir_on_request(void *arg, struct conn *c, const struct course_msg *m)
{
	static const char refused[] = "ALGI0000000000000000";
	struct directory *d = arg;
	struct course_peer who;
	char reply[COURSE_KIND_LEN + COURSE_SESSION_LEN];
	int created, rc;

	if (m->kind == COURSE_LOGI) {
		if (index_login(d->ix, &m->peer, uv_now(d->loop),
			reply + COURSE_KIND_LEN, &created) != 0) {
			conn_write_close(c, refused, sizeof(refused) - 1);
			return;
		}
		if (created) {
			char label[ADDR_STRLEN];

			peer_label(&m->peer, label, sizeof(label));
			log_info("directory: %s logged in", label);
		}
		memcpy(reply, "ALGI", COURSE_KIND_LEN);
		conn_write_close(c, reply, sizeof(reply));
		return;
	}
	if (index_session(d->ix, m->session, &who) != 0) {
		dir_say(c, COURSE_SAY_UNAUTHORIZED);
		return;
	}
	index_touch(d->ix, m->session, uv_now(d->loop));
	switch (m->kind) {
	case COURSE_ADDF:
		rc = index_add(
		    d->ix, m->session, m->md5, m->name.ptr, m->name.len);
		if (rc > 0)
			dir_reply(c, COURSE_AADD, dir_cap(rc, 999));
		else if (rc == WARREN_ELIMIT)
			dir_say(c, COURSE_SAY_FAILED);
		else
			dir_say(c, COURSE_SAY_INVALID);
		return;
	case COURSE_DELF:
		rc = index_del(d->ix, m->session, m->md5);
		if (rc == INDEX_NOT_OWNED)
			dir_reply(c, COURSE_ADEL, 999);
		else if (rc >= 0)
			dir_reply(c, COURSE_ADEL, dir_cap(rc, 998));
		else
			dir_say(c, COURSE_SAY_FAILED);
		return;
	case COURSE_FIND:
		dir_find(d, c, m);
		return;
	case COURSE_DREG:
		dir_reply(
		    c, COURSE_ADRE, dir_cap(index_dreg(d->ix, m->md5), 99999));
		return;
	case COURSE_LOGO:
		rc = index_logout(d->ix, m->session);
		if (rc < 0)
			dir_say(c, COURSE_SAY_UNAUTHORIZED);
		else
			dir_reply(c, COURSE_ALGO, dir_cap(rc, 999));
		return;
	default:
		conn_close(c, 0);
		return;
	}
}

static void
dir_dropped(void *arg, const struct course_peer *peer, int links)
{
	struct directory *d = arg;
	char label[ADDR_STRLEN];

	peer_label(peer, label, sizeof(label));
	log_info("directory: %s does not answer: dropped with its %d file%s",
	    label, links, links == 1 ? "" : "s");
	d->dropped++;
}

static void
dir_stop(struct directory *d)
{
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	sprobe_free(d->probe);
	d->probe = NULL;
	request_server_free(d->rs);
	d->rs = NULL;
	b2b_server_stop(d->b2b);
}

static void
dir_signal(uv_signal_t *s, int signum)
{
	struct directory *d = s->data;

	log_info("signal %d: stopping", signum);
	dir_stop(d);
}

/* The beer2beer side: its registrations in the same file, its ports. */
static int
dir_start_b2b(struct directory *d)
{
	const struct directory_config *cfg = d->cfg;
	char *path, a[ADDR_STRLEN];
	int err;

	if (cfg->pbkdf2_iterations < ACCOUNTS_ITER_SPEC)
		log_warn("pbkdf2_iterations %u is below the %u that "
			 "beer2beer.md requires: for tests only",
		    cfg->pbkdf2_iterations, ACCOUNTS_ITER_SPEC);
	if (cfg->b2b_idle_timeout_ms <= cfg->keepalive_ms)
		log_warn("b2b_idle_timeout should stay above keepalive, or "
			 "peers' keep-alive connections are closed idle");
	path = xasprintf("%s/directory.db", cfg->data_dir);
	err = b2b_server_new(d->loop, cfg, path, &d->b2b);
	free(path);
	if (err != 0)
		return -1;
	for (unsigned i = 0; i < cfg->nb2b_listen; i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&cfg->b2b_listen[i];

		addr_format(sa, a, sizeof(a));
		if ((err = b2b_server_listen(d->b2b, sa)) != 0) {
			log_error("cannot listen on %s: %s%s", a,
			    uv_strerror(err),
			    err == UV_EADDRINUSE ? " (pick another port "
						   "with --b2b-listen)"
						 : "");
			return -1;
		}
		addr_format(b2b_server_addr(d->b2b, i), a, sizeof(a));
		log_info("beer2beer protocol on %s", a);
	}
	return 0;
}

static int
dir_start(struct directory *d)
{
	const enum course_kind kinds[] = {COURSE_LOGI, COURSE_ADDF, COURSE_DELF,
	    COURSE_FIND, COURSE_DREG, COURSE_LOGO};
	struct index_limits lim = {
	    d->cfg->max_sessions, d->cfg->files_per_session};
	struct dial_opts dial;
	char *path, a[ADDR_STRLEN];
	int err;

	/* First: a Ctrl-C or SIGTERM during start-up stops cleanly. */
	uv_signal_start(&d->sigint, dir_signal, SIGINT);
	uv_signal_start(&d->sigterm, dir_signal, SIGTERM);
	if ((err = path_mkdirs(d->cfg->data_dir, 0755, 0700)) != 0) {
		log_error(
		    "cannot create %s: %s", d->cfg->data_dir, strerror(-err));
		return -1;
	}
	path = xasprintf("%s/directory.db", d->cfg->data_dir);
	err = index_open(path, 0, &lim, &d->ix);
	if (err != 0) {
		log_error("cannot open the directory database %s", path);
		free(path);
		return -1;
	}
	for (unsigned i = 0; i < DIR_READERS; i++) {
		if (index_open(path, 0, &lim, &d->readers[i]) != 0) {
			log_error("cannot open %s for reading", path);
			free(path);
			return -1;
		}
	}
	log_info("directory database %s", path);
	free(path);
	d->searches = flood_rate_new(
	    d->cfg->search_rate, d->cfg->search_burst, 4096);
	d->rs = request_server_new(
	    d->loop, d->cfg->request_timeout_ms, (int)d->cfg->max_conns);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		request_server_on(d->rs, kinds[i], dir_on_request, d);
	for (unsigned i = 0; i < d->cfg->nlisten; i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&d->cfg->listen[i];

		addr_format(sa, a, sizeof(a));
		if ((err = request_server_listen(d->rs, sa)) != 0) {
			log_error("cannot listen on %s: %s%s", a,
			    uv_strerror(err),
			    err == UV_EADDRINUSE ? " (pick another port "
						   "with --listen)"
						 : "");
			return -1;
		}
		addr_format(request_server_addr(d->rs, i), a, sizeof(a));
		log_info("course directory protocol on %s", a);
	}
	if (dir_start_b2b(d) != 0)
		return -1;
	memset(&dial, 0, sizeof(dial));
	dial.timeout_ms = d->cfg->connect_timeout_ms;
	d->probe = sprobe_new(d->loop, d->ix, &dial, d->cfg->probe_ms,
	    d->cfg->probe_fails, dir_dropped, d);
	return 0;
}

static void
dir_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int
directory_run(struct directory_config *cfg)
{
	struct directory d;
	uv_loop_t loop;
	int rc = 0;

	memset(&d, 0, sizeof(d));
	log_set_level(cfg->log_level);
	/* Password hashes take B2B_VERIFY_MAX pool threads at most, FINDs
	 * DIR_READERS; two more keep KEEP_ALIVEs and the sweeper from
	 * waiting behind them. */
	setenv("UV_THREADPOOL_SIZE", "8", 0);
	uv_loop_init(&loop);
	d.loop = &loop;
	d.cfg = cfg;
	uv_signal_init(&loop, &d.sigint);
	uv_signal_init(&loop, &d.sigterm);
	d.sigint.data = d.sigterm.data = &d;
	if (dir_start(&d) != 0) {
		rc = 1;
		dir_stop(&d);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_walk(&loop, dir_walk_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	flood_rate_free(d.searches);
	b2b_server_free(d.b2b);
	for (unsigned i = 0; i < DIR_READERS; i++)
		index_close(d.readers[i]);
	if (d.ix != NULL)
		index_close(d.ix);
	if (rc == 0)
		log_info("stopped");
	return rc;
}
