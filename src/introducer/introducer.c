/*
 * warren introducer: the bootstrap server of the Chord ring (chord.md §2)
 * over the peers table of store/introdb.h. One request line per
 * connection, one answer, then the server closes. Every request is one
 * transaction, so whatever was answered survives a kill -9 (WAL). A
 * background round checks the rows that have gone silent by connecting
 * to them, and removes the ones that stop accepting connections.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <uv.h>

#include "core/addr.h"
#include "core/path.h"
#include "core/xmalloc.h"
#include "introducer.h"
#include "net/conn.h"
#include "net/dial.h"
#include "net/listener.h"
#include "store/introdb.h"
#include "warren/error.h"
#include "wire/chordtxt.h"

/* ------------------------------------------------------------- config */

const struct config_key introducer_config_keys[] = {
    {"listen", "ADDR:PORT",
	"introducer port (repeatable; default [::]:7494, dual-stack)"},
    {"data_dir", "DIR",
	"where introducer.db lives (default "
	"$XDG_DATA_HOME/warren/introducer)"},
    {"max_connections", "N",
	"simultaneous connections; more are accepted and closed at once "
	"(default 128)"},
    {"request_timeout", "SECONDS",
	"accept to a complete request line, else close (default 10)"},
    {"check_interval", "SECONDS", "between liveness rounds (default 60)"},
    {"check_after", "SECONDS",
	"rows not seen (JOIN) for this long are checked (default 600)"},
    {"checks_per_round", "N",
	"rows checked per round, oldest first (default 20)"},
    {"check_timeout", "SECONDS", "connect deadline of a check (default 3)"},
    {"max_failures", "N",
	"failed checks in a row that delete a row (default 3)"},
    {"expire_after", "SECONDS",
	"rows not seen for this long are deleted (default 86400)"},
    {"log_level", "LEVEL", "error, warn, info or debug (default info)"},
    {NULL, NULL, NULL},
};

/* clang-format off */
#define INTRO_F(name, type, min, max) \
	{#name, type, offsetof(struct introducer_config, name), min, max}
#define INTRO_S(key, name, min, max) \
	{key, CONF_SECONDS, offsetof(struct introducer_config, name), min, max}
/* clang-format on */

static const struct conf_field intro_fields[] = {
    {"max_connections", CONF_UINT,
	offsetof(struct introducer_config, max_conns), 1, 16384},
    INTRO_F(checks_per_round, CONF_UINT, 1, 10000),
    INTRO_F(max_failures, CONF_UINT, 1, 100),
    INTRO_S("request_timeout", request_timeout_ms, 0.001, 600),
    INTRO_S("check_interval", check_interval_ms, 0.001, 86400),
    INTRO_S("check_after", check_after_ms, 0.001, 31536000),
    INTRO_S("check_timeout", check_timeout_ms, 0.001, 600),
    INTRO_S("expire_after", expire_after_ms, 0.001, 315360000),
    {NULL, CONF_UINT, 0, 0, 0},
};

void
introducer_config_defaults(struct introducer_config *c)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

	memset(c, 0, sizeof(*c));
	c->data_dir = xdg && xdg[0] == '/'
	    ? xasprintf("%s/warren/introducer", xdg)
	    : xasprintf(
		  "%s/.local/share/warren/introducer", home ? home : "/tmp");
	addr_parse("[::]:7494", 0, &c->listen[0]);
	c->nlisten = 1;
	c->max_conns = 128;
	c->request_timeout_ms = 10000;
	c->check_interval_ms = 60000;
	c->check_after_ms = 600000;
	c->checks_per_round = 20;
	c->check_timeout_ms = 3000;
	c->max_failures = 3;
	c->expire_after_ms = 86400000;
	c->log_level = LOG_LEVEL_INFO;
}

int
introducer_config_set(struct introducer_config *c, const char *key,
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
		if (c->nlisten == INTRODUCER_MAX_LISTEN ||
		    addr_parse(value, 0, &c->listen[c->nlisten]) != 0) {
			snprintf(err, errlen,
			    "listen: '%s' is not ADDR:PORT (at most %d)", value,
			    INTRODUCER_MAX_LISTEN);
			return -1;
		}
		c->nlisten++;
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
	rc = conf_set_field(
	    c, intro_fields, "introducer", k, value, err, errlen);
	if (rc == 1)
		snprintf(err, errlen, "unknown setting '%s'", key);
	return rc == 0 ? 0 : -1;
}

int
introducer_config_finish(struct introducer_config *c, char *err, size_t errlen)
{
	if (path_absolute(&c->data_dir) != 0) {
		snprintf(
		    err, errlen, "data_dir: cannot resolve %s", c->data_dir);
		return -1;
	}
	return 0;
}

void
introducer_config_release(struct introducer_config *c)
{
	free(c->data_dir);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------- state */

/* A request connection. */
enum iconn_state {
	ICONN_READING,  /* waiting for the request line */
	ICONN_ANSWERED, /* answer written; the conn closes after it */
};

struct iconn {
	struct introducer *in;
	struct conn *c;       /* freed by conn.c; we learn in ic_closed */
	uint64_t accepted_ms; /* uv_now() at accept: the line deadline */
	enum iconn_state state;
	struct iconn *prev, *next; /* in->conns */
};

/* A liveness check of one row. */
enum icheck_state {
	ICHECK_DIALING, /* connecting, within check_timeout */
	ICHECK_PINGING, /* connected (alive): writing PING, then closing */
};

struct icheck {
	struct introducer *in;
	struct introdb_row row;  /* as selected: rowid, last_seen */
	char label[ADDR_STRLEN]; /* ip:port for logs */
	enum icheck_state state;
	struct dial *d;             /* while DIALING */
	struct conn *c;             /* while PINGING */
	struct icheck *prev, *next; /* in->checks */
};

/* A row found alive recently: not checked again for check_after. */
struct ialive {
	int64_t rowid;
	uint64_t when_ms; /* uv_now() */
};

struct introducer_stats {
	uint64_t joins, deletes, unknown, malformed, timeouts;
	uint64_t checks_ok, checks_failed, removed, expired;
};

struct introducer {
	uv_loop_t *loop;
	struct introducer_config *cfg;
	struct introdb *db;
	struct listener *listeners[INTRODUCER_MAX_LISTEN];
	unsigned nlisteners;
	struct iconn *conns;   /* open request connections */
	struct icheck *checks; /* checks in flight */
	unsigned nchecks;
	struct ialive *alive; /* nalive entries, alivecap allocated */
	unsigned nalive, alivecap;
	uv_timer_t round; /* liveness rounds, every check_interval */
	uv_signal_t sigint, sigterm;
	int stopping;
	struct introducer_stats stats;
};

/* Wall-clock milliseconds: last_seen outlives the process. */
static int64_t
intro_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The last_seen (whole seconds, truncated) at or below which a row was
 * surely last seen more than after_ms ago.
 */
static int64_t
intro_seen_before(uint64_t after_ms)
{
	return (intro_wall_ms() - (int64_t)after_ms) / 1000 - 1;
}

/* ------------------------------------------------------------- answers */

static const char *
iconn_state_name(enum iconn_state s)
{
	switch (s) {
	case ICONN_READING:
		return "reading";
	case ICONN_ANSWERED:
		return "answered";
	}
	return "?";
}

static void
iconn_set_state(struct iconn *ic, enum iconn_state s)
{
	char peer[ADDR_STRLEN];

	addr_format((struct sockaddr *)&ic->c->peer, peer, sizeof(peer));
	log_debug("introducer: %s: %s -> %s", peer, iconn_state_name(ic->state),
	    iconn_state_name(s));
	ic->state = s;
}

/* Write the answer and close once it is out; nothing more is read. */
static void
ic_answer(struct iconn *ic, const char *buf, size_t len)
{
	iconn_set_state(ic, ICONN_ANSWERED);
	conn_pause(ic->c);
	conn_write_close(ic->c, buf, len);
}

/* A status line without data: "CODE MSG 0". */
static void
ic_status(struct iconn *ic, unsigned code, const char *msg)
{
	struct chord_str m = {msg, strlen(msg)};
	char buf[CHORD_STATUS_MAX];
	int n = chord_status_encode(code, m, 0, buf, sizeof(buf));

	if (n <= 0) {
		conn_close(ic->c, n);
		return;
	}
	ic_answer(ic, buf, (size_t)n);
}

static const char *
join_result_name(enum introdb_join_result r)
{
	switch (r) {
	case INTRODB_JOIN_NEW:
		return "new";
	case INTRODB_JOIN_REFRESH:
		return "refreshed";
	case INTRODB_JOIN_REPLACED:
		return "new id";
	}
	return "?";
}

/* Append a stored row as "<rowid>,<peer_id>,<ip>,<port>"; rows that do
 * not make a valid line (written by someone else) are left out. */
static void
intro_out_row(struct chord_out *o, const struct introdb_row *r)
{
	struct chord_row row;
	char line[CHORD_LINE_MAX];
	int n;

	memset(&row, 0, sizeof(row));
	row.rowid = r->rowid >= 0 ? (uint64_t)r->rowid : 0;
	row.peer_id.ptr = r->peer_id;
	row.peer_id.len = strlen(r->peer_id);
	if (r->port == 0 || r->port > 65535 ||
	    chord_ip_parse(r->ip, strlen(r->ip), &row.addr) != 0) {
		log_debug("introducer: row %lld has a bad address: skipped",
		    (long long)r->rowid);
		return;
	}
	row.port = (uint16_t)r->port;
	n = chord_row_format(&row, line, sizeof(line));
	if (n <= 0 || chord_out_line(o, line, (size_t)n) <= 0)
		log_debug("introducer: row %lld is not a valid line: skipped",
		    (long long)r->rowid);
}

static void
intro_join(
    struct introducer *in, struct iconn *ic, const struct chord_request *r)
{
	struct introdb_row rows[CHORD_JOIN_ROWS];
	char peer_id[CHORD_PEER_ID_MAX + 1], ip[CHORD_IP_TEXT_MAX];
	char buf[CHORD_STATUS_MAX + CHORD_JOIN_ROWS * CHORD_LINE_MAX];
	enum introdb_join_result res;
	struct chord_join j;
	struct chord_out o;
	int64_t rowid;
	int n, i, len;

	if (chord_join_parse(r, &j) != 0) {
		in->stats.malformed++;
		ic_status(ic, 422, "MALFORMED");
		return;
	}
	/* Stored in canonical form, so that one node is one (ip, port). */
	chord_ip_format(&j.addr, ip, sizeof(ip));
	memcpy(peer_id, j.peer_id.ptr, j.peer_id.len);
	peer_id[j.peer_id.len] = '\0';
	n = introdb_join(in->db, peer_id, ip, j.port, intro_wall_ms() / 1000,
	    &rowid, &res, rows, CHORD_JOIN_ROWS);
	if (n < 0) {
		ic_status(ic, 500, "INTERNAL ERROR");
		return;
	}
	in->stats.joins++;
	if (res == INTRODB_JOIN_REFRESH)
		log_debug("introducer: JOIN %s %s %u (row %lld, refreshed)",
		    peer_id, ip, j.port, (long long)rowid);
	else
		log_info("introducer: JOIN %s %s %u (row %lld, %s)", peer_id,
		    ip, j.port, (long long)rowid, join_result_name(res));
	chord_out_begin(&o, buf, sizeof(buf));
	for (i = 0; i < n; i++)
		intro_out_row(&o, &rows[i]);
	len = chord_out_end(&o, 200, (struct chord_str){"OK", 2});
	if (len <= 0) {
		ic_status(ic, 500, "INTERNAL ERROR");
		return;
	}
	ic_answer(ic, buf, (size_t)len);
}

static void
intro_delete(
    struct introducer *in, struct iconn *ic, const struct chord_request *r)
{
	int n;

	if (r->nargs == 0) {
		in->stats.malformed++;
		ic_status(ic, 422, "MALFORMED");
		return;
	}
	/* Extra arguments are ignored (§2.1). */
	n = introdb_delete(in->db, r->args[0].ptr, r->args[0].len);
	if (n < 0) {
		ic_status(ic, 500, "INTERNAL ERROR");
		return;
	}
	in->stats.deletes++;
	if (n > 0)
		log_info("introducer: DELETE %.*s (%d row%s)",
		    (int)r->args[0].len, r->args[0].ptr, n, n == 1 ? "" : "s");
	ic_status(ic, 200, "OK");
}

/* The connection has bytes: answer once a whole line is there. */
static void
ic_request(struct iconn *ic)
{
	struct introducer *in = ic->in;
	struct conn *c = ic->c;
	struct chord_request r;
	uint64_t elapsed;
	int n;

	n = chord_request_parse(c->rbuf, c->rlen, &r);
	if (n == 0) {
		/* The deadline runs from accept, not from the last byte. */
		elapsed = uv_now(in->loop) - ic->accepted_ms;
		if (elapsed >= in->cfg->request_timeout_ms)
			conn_close(c, UV_ETIMEDOUT);
		else
			conn_set_timeout(
			    c, in->cfg->request_timeout_ms - elapsed);
		return;
	}
	if (n < 0) {
		in->stats.malformed++;
		log_debug(
		    "introducer: bad request line: %s", warren_strerror(n));
		ic_status(ic, 422, "MALFORMED");
		return;
	}
	switch (r.op) {
	case CHORD_OP_JOIN:
		intro_join(in, ic, &r);
		return;
	case CHORD_OP_DELETE:
		intro_delete(in, ic, &r);
		return;
	default:
		in->stats.unknown++;
		log_debug(
		    "introducer: unknown op %.*s", (int)r.name.len, r.name.ptr);
		ic_status(ic, 404, "OPERATION UNKNOWN");
		return;
	}
}

static void
ic_read(struct conn *c)
{
	struct iconn *ic = c->owner;

	switch (ic->state) {
	case ICONN_READING:
		ic_request(ic);
		return;
	case ICONN_ANSWERED:
		conn_consume(c, c->rlen); /* one request per connection */
		return;
	}
}

static void
ic_closed(struct conn *c, int err)
{
	struct iconn *ic = c->owner;
	struct introducer *in = ic->in;

	if (ic->state == ICONN_READING && err == UV_ETIMEDOUT) {
		in->stats.timeouts++;
		log_debug("introducer: no request line within %llu ms: closed",
		    (unsigned long long)in->cfg->request_timeout_ms);
	}
	if (ic->prev != NULL)
		ic->prev->next = ic->next;
	else
		in->conns = ic->next;
	if (ic->next != NULL)
		ic->next->prev = ic->prev;
	free(ic);
}

static void
intro_accept(void *arg, struct conn *c)
{
	struct introducer *in = arg;
	struct iconn *ic;

	if (in->stopping) {
		conn_close(c, 0);
		return;
	}
	ic = xcalloc(1, sizeof(*ic));
	ic->in = in;
	ic->c = c;
	ic->accepted_ms = uv_now(in->loop);
	ic->state = ICONN_READING;
	ic->next = in->conns;
	if (in->conns != NULL)
		in->conns->prev = ic;
	in->conns = ic;
	if (conn_start(
		c, ic_read, ic_closed, ic, in->cfg->request_timeout_ms) != 0)
		conn_close(c, 0); /* ic_closed frees ic */
}

/* ------------------------------------------------------------ liveness */

static const char *
icheck_state_name(enum icheck_state s)
{
	switch (s) {
	case ICHECK_DIALING:
		return "dialing";
	case ICHECK_PINGING:
		return "pinging";
	}
	return "?";
}

static void
icheck_set_state(struct icheck *ck, enum icheck_state s)
{
	log_debug("introducer: check of %s: %s -> %s", ck->label,
	    icheck_state_name(ck->state), icheck_state_name(s));
	ck->state = s;
}

static void
icheck_free(struct icheck *ck)
{
	struct introducer *in = ck->in;

	if (ck->prev != NULL)
		ck->prev->next = ck->next;
	else
		in->checks = ck->next;
	if (ck->next != NULL)
		ck->next->prev = ck->prev;
	in->nchecks--;
	free(ck);
}

/* Remember that rowid answered, so that it waits check_after. */
static void
intro_alive_add(struct introducer *in, int64_t rowid)
{
	if (in->nalive == in->alivecap) {
		in->alivecap = in->alivecap ? in->alivecap * 2 : 32;
		in->alive = xreallocarray(
		    in->alive, in->alivecap, sizeof(*in->alive));
	}
	in->alive[in->nalive].rowid = rowid;
	in->alive[in->nalive].when_ms = uv_now(in->loop);
	in->nalive++;
}

/* Forget the answers older than check_after. */
static void
intro_alive_prune(struct introducer *in)
{
	uint64_t now = uv_now(in->loop);
	unsigned i = 0;

	while (i < in->nalive) {
		if (now - in->alive[i].when_ms >= in->cfg->check_after_ms)
			in->alive[i] = in->alive[--in->nalive];
		else
			i++;
	}
}

/* introdb_skip_cb: rows being checked, or found alive recently. */
static int
intro_skip(void *arg, int64_t rowid)
{
	struct introducer *in = arg;
	unsigned i;

	for (struct icheck *ck = in->checks; ck != NULL; ck = ck->next)
		if (ck->row.rowid == rowid)
			return 1;
	for (i = 0; i < in->nalive; i++)
		if (in->alive[i].rowid == rowid)
			return 1;
	return 0;
}

static void
check_failed(struct introducer *in, struct icheck *ck, int status)
{
	int rc;

	in->stats.checks_failed++;
	rc = introdb_failed(
	    in->db, ck->row.rowid, ck->row.last_seen, in->cfg->max_failures);
	if (rc == 1) {
		in->stats.removed++;
		log_info("introducer: %s %s does not answer (%s): removed "
			 "after %u failed checks",
		    ck->row.peer_id, ck->label, uv_strerror(status),
		    in->cfg->max_failures);
	} else if (rc == 0) {
		log_debug("introducer: %s %s does not answer: %s",
		    ck->row.peer_id, ck->label, uv_strerror(status));
	}
}

static void
check_conn_closed(struct conn *c, int err)
{
	struct icheck *ck = c->owner;

	(void)err;
	icheck_free(ck);
}

static void
check_dialed(void *arg, struct conn *c, int status)
{
	struct icheck *ck = arg;
	struct introducer *in = ck->in;

	ck->d = NULL;
	if (in->stopping) {
		if (c != NULL)
			conn_close(c, 0);
		icheck_free(ck);
		return;
	}
	if (c == NULL) {
		check_failed(in, ck, status);
		icheck_free(ck);
		return;
	}
	/* Accepted: alive, whatever it answers to PING (§2.1). */
	in->stats.checks_ok++;
	(void)introdb_alive(in->db, ck->row.rowid);
	intro_alive_add(in, ck->row.rowid);
	icheck_set_state(ck, ICHECK_PINGING);
	ck->c = c;
	if (conn_start(c, NULL, check_conn_closed, ck,
		in->cfg->check_timeout_ms) != 0) {
		conn_close(c, 0); /* check_conn_closed frees ck */
		return;
	}
	conn_write_close(c, "PING\r\n", 6);
}

/* Start a check of one row; a row without a usable address fails. */
static void
intro_check(struct introducer *in, const struct introdb_row *row)
{
	struct icheck *ck = xcalloc(1, sizeof(*ck));
	struct sockaddr_storage ss;
	struct chord_addr a;
	struct dial_opts opts;

	ck->in = in;
	ck->row = *row;
	ck->state = ICHECK_DIALING;
	ck->next = in->checks;
	if (in->checks != NULL)
		in->checks->prev = ck;
	in->checks = ck;
	in->nchecks++;
	if (chord_ip_parse(row->ip, strlen(row->ip), &a) != 0 ||
	    row->port == 0 || row->port > 65535 ||
	    chord_addr_sockaddr(&a, (uint16_t)row->port, &ss) != 0) {
		snprintf(
		    ck->label, sizeof(ck->label), "%s:%u", row->ip, row->port);
		check_failed(in, ck, UV_EINVAL);
		icheck_free(ck);
		return;
	}
	addr_format((struct sockaddr *)&ss, ck->label, sizeof(ck->label));
	log_debug("introducer: checking %s %s (row %lld, %u failures)",
	    row->peer_id, ck->label, (long long)row->rowid, row->failures);
	memset(&opts, 0, sizeof(opts));
	opts.timeout_ms = in->cfg->check_timeout_ms;
	opts.rcap = 512;
	ck->d = dial_start(in->loop, &ss, 1, &opts, check_dialed, ck);
}

/* Every check_interval: expire old rows, then check the silent ones. */
static void
intro_round(uv_timer_t *t)
{
	struct introducer *in = t->data;
	struct introdb_row *rows;
	unsigned want;
	int n, i;

	n = introdb_expire(in->db, intro_seen_before(in->cfg->expire_after_ms));
	if (n > 0) {
		in->stats.expired += (uint64_t)n;
		log_info("introducer: %d row%s not seen for %llu s: removed", n,
		    n == 1 ? "" : "s",
		    (unsigned long long)in->cfg->expire_after_ms / 1000);
	}
	intro_alive_prune(in);
	/* At most checks_per_round in flight, whatever the interval. */
	if (in->nchecks >= in->cfg->checks_per_round)
		return;
	want = in->cfg->checks_per_round - in->nchecks;
	rows = xcalloc(want, sizeof(*rows));
	n = introdb_stale(in->db, intro_seen_before(in->cfg->check_after_ms),
	    rows, want, intro_skip, in);
	for (i = 0; i < n; i++)
		intro_check(in, &rows[i]);
	free(rows);
}

/* ------------------------------------------------------------- run */

static void
intro_stop(struct introducer *in)
{
	struct iconn *ic, *icn;
	struct icheck *ck, *ckn;
	unsigned i;

	if (in->stopping)
		return;
	in->stopping = 1;
	uv_close((uv_handle_t *)&in->sigint, NULL);
	uv_close((uv_handle_t *)&in->sigterm, NULL);
	uv_close((uv_handle_t *)&in->round, NULL);
	for (i = 0; i < in->nlisteners; i++)
		listener_close(in->listeners[i]);
	in->nlisteners = 0;
	/* Idle clients do not hold the exit for their deadline. */
	for (ic = in->conns; ic != NULL; ic = icn) {
		icn = ic->next;
		conn_close(ic->c, 0);
	}
	for (ck = in->checks; ck != NULL; ck = ckn) {
		ckn = ck->next;
		switch (ck->state) {
		case ICHECK_DIALING:
			dial_cancel(ck->d);
			break;
		case ICHECK_PINGING:
			conn_close(ck->c, 0);
			break;
		}
	}
}

static void
intro_signal(uv_signal_t *s, int signum)
{
	struct introducer *in = s->data;

	log_info("signal %d: stopping", signum);
	intro_stop(in);
}

static int
intro_start(struct introducer *in)
{
	struct introducer_config *cfg = in->cfg;
	char *path, a[ADDR_STRLEN];
	int64_t rows;
	int err;

	/* First: a Ctrl-C or SIGTERM during start-up stops cleanly. */
	uv_signal_start(&in->sigint, intro_signal, SIGINT);
	uv_signal_start(&in->sigterm, intro_signal, SIGTERM);
	if ((err = path_mkdirs(cfg->data_dir, 0755, 0700)) != 0) {
		log_error("cannot create %s: %s (pick another with --data-dir)",
		    cfg->data_dir, strerror(-err));
		return -1;
	}
	path = xasprintf("%s/introducer.db", cfg->data_dir);
	if (introdb_open(path, &in->db) != 0) {
		free(path);
		return -1;
	}
	rows = introdb_count(in->db);
	log_info("introducer database %s (%lld row%s)", path, (long long)rows,
	    rows == 1 ? "" : "s");
	free(path);
	for (unsigned i = 0; i < cfg->nlisten; i++) {
		const struct sockaddr *sa =
		    (const struct sockaddr *)&cfg->listen[i];
		struct listener *l;

		addr_format(sa, a, sizeof(a));
		err = listener_start(in->loop, sa, (int)cfg->max_conns,
		    CHORD_LINE_MAX, intro_accept, in, &l);
		if (err != 0) {
			log_error("cannot listen on %s: %s%s", a,
			    uv_strerror(err),
			    err == UV_EADDRINUSE ? " (pick another port "
						   "with --listen)"
						 : "");
			return -1;
		}
		in->listeners[in->nlisteners++] = l;
		addr_format(listener_addr(l), a, sizeof(a));
		log_info("introducer on %s", a);
	}
	uv_timer_start(&in->round, intro_round, cfg->check_interval_ms,
	    cfg->check_interval_ms);
	return 0;
}

static void
intro_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int
introducer_run(struct introducer_config *cfg)
{
	struct introducer in;
	uv_loop_t loop;
	int rc = 0;

	memset(&in, 0, sizeof(in));
	log_set_level(cfg->log_level);
	uv_loop_init(&loop);
	in.loop = &loop;
	in.cfg = cfg;
	uv_signal_init(&loop, &in.sigint);
	uv_signal_init(&loop, &in.sigterm);
	uv_timer_init(&loop, &in.round);
	in.sigint.data = in.sigterm.data = in.round.data = &in;
	if (intro_start(&in) != 0) {
		rc = 1;
		intro_stop(&in);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_walk(&loop, intro_walk_close, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(in.alive);
	introdb_close(in.db);
	if (rc == 0)
		log_info("stopped: %llu JOIN, %llu DELETE, %llu unknown, %llu "
			 "malformed, %llu timed out; checks %llu ok, %llu "
			 "failed; %llu removed, %llu expired",
		    (unsigned long long)in.stats.joins,
		    (unsigned long long)in.stats.deletes,
		    (unsigned long long)in.stats.unknown,
		    (unsigned long long)in.stats.malformed,
		    (unsigned long long)in.stats.timeouts,
		    (unsigned long long)in.stats.checks_ok,
		    (unsigned long long)in.stats.checks_failed,
		    (unsigned long long)in.stats.removed,
		    (unsigned long long)in.stats.expired);
	return rc;
}
