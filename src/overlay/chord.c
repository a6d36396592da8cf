/*
 * The chord overlay (chord.md §3): this node is a member of a Chord ring
 * with a 160-bit id, a successor list, a predecessor and 160 fingers, kept
 * right by stabilize / fix_fingers / check_predecessor on jittered timers.
 * It joins through the introducer (or a known ring node) with a lookup of
 * its own id, takes over its keys with TRANSFER_KEYS, starts a ring of its
 * own when nobody answers (and keeps asking the introducer while alone),
 * and says DELETE to the introducer when it leaves. This file holds the
 * configuration, the ring state, the timers, joining and status; the ring
 * port is chord_serve.c, lookups chord_lookup.c, the index chord_index.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chord_int.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/hash.h"
#include "warren/error.h"

/* ------------------------------------------------------------- config */

const struct config_key chord_config_keys[] = {
    {"listen", "ADDR:PORT",
	"the ring port, chord.md protocol (repeatable; default [::]:7495, "
	"dual-stack); files are served on the main port"},
    {"introducer", "HOST:PORT",
	"the introducer to join through (default port 7494)"},
    {"bootstrap", "HOST:PORT",
	"a known ring node to join through (default port 7495)"},
    {"id", "HEX",
	"this node's id, 40 hex digits (default: SHA-1 of its ring "
	"address 'ip:port')"},
    {"successors", "N", "successor list length r, 1-32 (default 8)"},
    {"stabilize_interval", "SECONDS", "stabilize period (default 5)"},
    {"fix_fingers_interval", "SECONDS",
	"one finger refreshed per period (default 1)"},
    {"check_predecessor_interval", "SECONDS",
	"predecessor PING period (default 10)"},
    {"republish_interval", "SECONDS",
	"own files published again, spread over the period (default 600)"},
    {"purge_interval", "SECONDS", "expired records removed (default 60)"},
    {"introducer_refresh_interval", "SECONDS",
	"JOIN again at the introducer (default 600)"},
    {"lone_retry_interval", "SECONDS",
	"alone in its ring: ask the introducer again (default 60)"},
    {"record_ttl", "SECONDS",
	"a stored record expires unless PUT again (default 1800)"},
    {"max_records", "N", "records stored at most (default 1000000)"},
    {"timeout", "SECONDS",
	"one request to a node, connect plus reply (default 3)"},
    {"lookup_timeout", "SECONDS", "one whole lookup (default 30)"},
    {"request_timeout", "SECONDS",
	"ring port: accept to a complete request line (default 10)"},
    {"max_connections", "N",
	"ring port: simultaneous connections (default 128)"},
    {"walk_max_nodes", "N",
	"ring walk (empty search): nodes visited at most (default 4096)"},
    {"walk_timeout", "SECONDS", "ring walk: longest run (default 300)"},
    {"leave_timeout", "SECONDS",
	"stopping: hand the records this node is responsible for to its "
	"successor for at most this long (default 5; 0: no hand-over)"},
    {NULL, NULL, NULL},
};

/* clang-format off */
#define CH_U(key, name, min, max) \
	{key, CONF_UINT, offsetof(struct chord_config, name), min, max}
#define CH_S(key, name, min, max) \
	{key, CONF_SECONDS, offsetof(struct chord_config, name), min, max}
/* clang-format on */

static const struct conf_field chord_fields[] = {
    CH_U("successors", successors, 1, CHORD_SUCC_MAX),
    CH_U("max_records", max_records, 1, 100000000),
    CH_U("max_connections", max_conns, 1, 16384),
    CH_U("walk_max_nodes", walk_max_nodes, 1, 1000000),
    CH_S("stabilize_interval", stabilize_ms, 0.01, 86400),
    CH_S("fix_fingers_interval", fix_fingers_ms, 0.01, 86400),
    CH_S("check_predecessor_interval", check_predecessor_ms, 0.01, 86400),
    CH_S("republish_interval", republish_ms, 0.1, 86400),
    CH_S("purge_interval", purge_ms, 0.1, 86400),
    CH_S("introducer_refresh_interval", introducer_refresh_ms, 0.1, 86400),
    CH_S("lone_retry_interval", lone_retry_ms, 0.1, 86400),
    CH_S("record_ttl", record_ttl_ms, 1, 4294967),
    CH_S("timeout", timeout_ms, 0.01, 600),
    CH_S("lookup_timeout", lookup_timeout_ms, 0.01, 3600),
    CH_S("request_timeout", request_timeout_ms, 0.01, 600),
    CH_S("walk_timeout", walk_timeout_ms, 0.01, 86400),
    CH_S("leave_timeout", leave_timeout_ms, 0, 600),
    {NULL, CONF_UINT, 0, 0, 0},
};

void
chord_config_defaults(struct chord_config *c)
{
	memset(c, 0, sizeof(*c));
	addr_parse("[::]:7495", 0, &c->listen[0]);
	c->nlisten = 1;
	c->successors = 8;
	c->stabilize_ms = 5000;
	c->fix_fingers_ms = 1000;
	c->check_predecessor_ms = 10000;
	c->republish_ms = 600000;
	c->purge_ms = 60000;
	c->introducer_refresh_ms = 600000;
	c->lone_retry_ms = 60000;
	c->record_ttl_ms = 1800000;
	c->max_records = 1000000;
	c->timeout_ms = 3000;
	c->lookup_timeout_ms = 30000;
	c->request_timeout_ms = 10000;
	c->max_conns = 128;
	c->walk_max_nodes = 4096;
	c->walk_timeout_ms = 300000;
	c->leave_timeout_ms = 5000;
}

static int
chord_config_addr(struct sockaddr_storage *ss, int *has, const char *what,
    const char *value, uint16_t port, char *err, size_t errlen)
{
	if (addr_parse(value, port, ss) != 0 ||
	    addr_port((struct sockaddr *)ss) == 0 ||
	    addr_is_any((struct sockaddr *)ss)) {
		snprintf(err, errlen,
		    "%s: '%s' is not ADDR[:PORT] (e.g. 127.0.0.1:%u or "
		    "[::1]:%u)",
		    what, value, port, port);
		return -1;
	}
	*has = 1;
	return 0;
}

int
chord_config_set(struct chord_config *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	char k[64];

	conf_key_norm(key, k, sizeof(k));
	if (strcmp(k, "listen") == 0) {
		if (!c->listen_set) {
			c->nlisten = 0;
			c->listen_set = 1;
		}
		if (c->nlisten == CHORD_MAX_LISTEN ||
		    addr_parse(
			value, CHORD_NODE_PORT, &c->listen[c->nlisten]) != 0) {
			snprintf(err, errlen,
			    "chord_listen: '%s' is not ADDR[:PORT] (at most "
			    "%d)",
			    value, CHORD_MAX_LISTEN);
			return -1;
		}
		c->nlisten++;
		return 0;
	}
	if (strcmp(k, "introducer") == 0)
		return chord_config_addr(&c->introducer, &c->has_introducer,
		    "chord_introducer", value, CHORD_INTRO_PORT, err, errlen);
	if (strcmp(k, "bootstrap") == 0)
		return chord_config_addr(&c->bootstrap, &c->has_bootstrap,
		    "chord_bootstrap", value, CHORD_NODE_PORT, err, errlen);
	if (strcmp(k, "id") == 0) {
		if (chord_id_parse(value, strlen(value), &c->id) != 0) {
			snprintf(err, errlen,
			    "chord_id: '%s' is not 40 hex digits", value);
			return -1;
		}
		c->has_id = 1;
		return 0;
	}
	return conf_set_field(c, chord_fields, "chord", k, value, err, errlen);
}

/* ------------------------------------------------------------ helpers */

static const char *
chord_strerror(int err)
{
	return err < 0 && err > -4096 ? uv_strerror(err) : warren_strerror(err);
}

void
chord_sha1(const void *s, size_t len, struct chord_id *out)
{
	hash_sha1(s, len, out->b);
}

const struct chord_node *
chord_successor(const struct overlay *o)
{
	return o->nsucc > 0 ? &o->succ[0] : &o->self;
}

int
chord_alone(const struct overlay *o)
{
	return o->nsucc == 0;
}

int
chord_node_same(const struct chord_node *a, const struct chord_node *b)
{
	return a->port == b->port && chord_addr_equal(&a->addr, &b->addr);
}

int
chord_is_self(const struct overlay *o, const struct chord_node *n)
{
	return chord_node_same(&o->self, n);
}

void
chord_node_line(const struct chord_node *n, char *out, size_t cap)
{
	if (chord_node_format(n, out, cap) < 0 && cap > 0)
		out[0] = '\0';
}

void
chord_node_label(const struct chord_node *n, char *out, size_t cap)
{
	if (chord_id_text(&n->addr, n->port, out, cap) < 0)
		snprintf(out, cap, "?");
}

int
chord_node_sockaddr(const struct chord_node *n, struct sockaddr_storage *out)
{
	return chord_addr_sockaddr(&n->addr, n->port, out);
}

static void
chord_addr_from_sockaddr(const struct sockaddr *sa, struct chord_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		out->family = AF_INET6;
		memcpy(
		    out->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* Random in [0, 1). */
static double
chord_random(struct overlay *o)
{
	uint64_t x = o->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	o->rng = x;
	return (double)(x >> 11) / 9007199254740992.0;
}

static void
chord_timer_closed(uv_handle_t *h)
{
	free(h);
}

static uv_timer_t *
chord_timer_new(struct overlay *o)
{
	uv_timer_t *t = xcalloc(1, sizeof(*t));

	uv_timer_init(o->env.loop, t);
	t->data = o;
	return t;
}

static void
chord_timer_free(uv_timer_t *t)
{
	if (t == NULL)
		return;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, chord_timer_closed);
}

/* Run cb once after base_ms ± 20 % (§3.4). */
static void
chord_timer_arm(
    struct overlay *o, uv_timer_t *t, uv_timer_cb cb, uint64_t base_ms)
{
	double f = 0.8 + 0.4 * chord_random(o);
	uint64_t ms = (uint64_t)((double)base_ms * f);

	uv_timer_start(t, cb, ms > 0 ? ms : 1, 0);
}

/* ---------------------------------------------------------- ring state */

static void
succ_log(struct overlay *o, const char *why)
{
	char label[ADDR_STRLEN];

	o->n.successor_changes++;
	chord_node_label(chord_successor(o), label, sizeof(label));
	log_info("chord: successor %s (%s)",
	    chord_alone(o) ? "none: alone" : label, why);
}

/* Put n first in the successor list (it is closer than succ[0]). */
static void
succ_insert_front(struct overlay *o, const struct chord_node *n)
{
	unsigned i, j = 1;
	struct chord_node keep[CHORD_SUCC_MAX];

	for (i = 0; i < o->nsucc && j < o->cfg.successors; i++)
		if (!chord_node_same(&o->succ[i], n))
			keep[j++] = o->succ[i];
	keep[0] = *n;
	memcpy(o->succ, keep, j * sizeof(keep[0]));
	o->nsucc = j;
}

static void lone_tick(uv_timer_t *t);

/* Alone with a way back in: ask the introducer (or the bootstrap node)
 * again every lone_retry_interval until a ring takes this node. */
static void
lone_arm(struct overlay *o)
{
	if ((o->cfg.has_introducer || o->cfg.has_bootstrap) &&
	    !uv_is_active((uv_handle_t *)o->t_lone))
		chord_timer_arm(o, o->t_lone, lone_tick, o->cfg.lone_retry_ms);
}

/* The list is empty: take the closest live node this node knows. */
static void
succ_fallback(struct overlay *o)
{
	for (unsigned i = 0; i < CHORD_FINGERS; i++) {
		if (o->has_finger[i] && !chord_is_self(o, &o->finger[i]) &&
		    !chord_is_failed(o, &o->finger[i])) {
			o->succ[0] = o->finger[i];
			o->nsucc = 1;
			return;
		}
	}
	if (o->has_pred && !chord_is_self(o, &o->pred) &&
	    !chord_is_failed(o, &o->pred)) {
		o->succ[0] = o->pred;
		o->nsucc = 1;
	}
}

/* How long a failure mark lasts: two stabilize rounds, 1 to 30 s. */
static uint64_t
chord_mark_ms(const struct overlay *o)
{
	uint64_t ms = 2 * o->cfg.stabilize_ms;

	return ms < 1000 ? 1000 : ms > CHORD_MARK_MS ? CHORD_MARK_MS : ms;
}

static struct chord_mark *
mark_find(const struct overlay *o, const struct chord_node *n)
{
	for (unsigned i = 0; i < CHORD_MARKS; i++) {
		const struct chord_mark *m = &o->marks[i];

		if (m->until_ms != 0 && m->port == n->port &&
		    chord_addr_equal(&m->addr, &n->addr))
			return (struct chord_mark *)m;
	}
	return NULL;
}

int
chord_is_failed(const struct overlay *o, const struct chord_node *n)
{
	const struct chord_mark *m = mark_find(o, n);

	return m != NULL && m->until_ms > uv_now(o->env.loop);
}

void
chord_mark_alive(struct overlay *o, const struct chord_node *n)
{
	struct chord_mark *m = mark_find(o, n);

	if (m != NULL)
		m->until_ms = 0;
}

void
chord_mark_failed(struct overlay *o, const struct chord_node *n)
{
	struct chord_mark *m = mark_find(o, n), *oldest = &o->marks[0];
	unsigned i, j;
	int was_succ;

	if (chord_is_self(o, n))
		return;
	if (m == NULL) {
		for (i = 0; i < CHORD_MARKS; i++)
			if (o->marks[i].until_ms < oldest->until_ms)
				oldest = &o->marks[i];
		m = oldest;
		m->addr = n->addr;
		m->port = n->port;
	}
	m->until_ms = uv_now(o->env.loop) + chord_mark_ms(o);
	for (i = 0; i < CHORD_FINGERS; i++)
		if (o->has_finger[i] && chord_node_same(&o->finger[i], n))
			o->has_finger[i] = 0;
	was_succ = o->nsucc > 0 && chord_node_same(&o->succ[0], n);
	for (i = j = 0; i < o->nsucc; i++)
		if (!chord_node_same(&o->succ[i], n))
			o->succ[j++] = o->succ[i];
	o->nsucc = j;
	if (o->nsucc == 0)
		succ_fallback(o);
	if (was_succ)
		succ_log(o, "the successor failed");
	/* Its successors, fingers and predecessor all gone at once (r = 1
	 * and two neighbours lost): a ring of one that the rest of the ring
	 * no longer points to. Nothing would bring it back but a new join. */
	if (chord_alone(o) && o->state == CHORD_RUNNING)
		lone_arm(o);
}

void
chord_notified(struct overlay *o, const struct chord_node *n)
{
	char label[ADDR_STRLEN];

	if (chord_is_self(o, n))
		return;
	chord_mark_alive(o, n);
	if (o->has_pred && chord_node_same(&o->pred, n))
		return;
	if (!o->has_pred || chord_is_failed(o, &o->pred) ||
	    chord_id_between(&n->id, &o->pred.id, &o->self.id)) {
		o->pred = *n;
		o->has_pred = 1;
		o->n.predecessor_changes++;
		chord_node_label(n, label, sizeof(label));
		log_debug("chord: predecessor %s", label);
	}
}

/* -------------------------------------------------------- maintenance */

static void stab_start(struct overlay *o);

static void
stab_end(struct overlay *o)
{
	o->stab_busy = 0;
	o->stab_call = NULL;
}

/* The successor asked failed (and was dropped): try the next one. */
static void
stab_retry(struct overlay *o)
{
	o->stab_call = NULL;
	if (++o->stab_tries < o->cfg.successors && !chord_alone(o))
		stab_start(o);
	else
		stab_end(o);
}

static void
stab_succs_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;
	struct chord_node list[CHORD_SUCC_MAX], n;
	struct chord_str line;
	unsigned k = 1;
	int changed;

	o->stab_call = NULL;
	if (err != 0) {
		stab_retry(o);
		return;
	}
	if (st->code != 200 || chord_alone(o)) {
		stab_end(o);
		return;
	}
	/* [s] + the first r-1 of s's list, up to this node (§3.4). */
	list[0] = o->succ[0];
	while (k < o->cfg.successors && chord_lines_next(&data, &line)) {
		unsigned i;

		if (chord_node_parse(line.ptr, line.len, &n) != 0)
			break;
		if (chord_is_self(o, &n))
			break;
		for (i = 0; i < k; i++)
			if (chord_node_same(&list[i], &n))
				break;
		if (i < k || chord_is_failed(o, &n))
			continue;
		list[k++] = n;
	}
	changed = !chord_node_same(&list[0], &o->succ[0]);
	memcpy(o->succ, list, k * sizeof(list[0]));
	o->nsucc = k;
	if (changed)
		succ_log(o, "stabilize");
	stab_end(o);
}

static void
stab_notify_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;

	(void)st;
	(void)data;
	o->stab_call = NULL;
	if (err != 0) {
		stab_retry(o);
		return;
	}
	if (chord_alone(o)) {
		stab_end(o);
		return;
	}
	o->stab_call = chord_call_start(
	    o, &o->succ[0], "GET_SUCCESSORS", stab_succs_done, o);
}

static void
stab_notify(struct overlay *o)
{
	char line[CHORD_LINE_MAX], self[CHORD_NODE_LINE_MAX];

	if (chord_alone(o)) {
		stab_end(o);
		return;
	}
	chord_node_line(&o->self, self, sizeof(self));
	snprintf(line, sizeof(line), "NOTIFY %s", self);
	o->stab_call = chord_call_start(
	    o, &o->succ[0], line, stab_notify_done, o);
}

static void
stab_pred_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;
	struct chord_node x;

	o->stab_call = NULL;
	if (err != 0) {
		stab_retry(o);
		return;
	}
	if (st->code == 200 && !chord_alone(o) &&
	    chord_data_node(data, &x) == 0 && !chord_is_self(o, &x) &&
	    chord_id_between(&x.id, &o->self.id, &o->succ[0].id)) {
		/* Even if marked failed: the NOTIFY that follows tests it,
		 * and a node that came up after a failed attempt (a stale
		 * introducer entry) must not wait for its mark to pass. */
		chord_mark_alive(o, &x);
		succ_insert_front(o, &x);
		succ_log(o, "its predecessor is closer");
		/* Ask the new successor too: after concurrent joins a node
		 * may be several nodes short of its real successor, and one
		 * step per round would take as many rounds. */
		if (++o->stab_steps < CHORD_STAB_STEPS) {
			o->n.stabilize_rounds++;
			o->stab_call = chord_call_start(o, &o->succ[0],
			    "GET_PREDECESSOR", stab_pred_done, o);
			return;
		}
	}
	stab_notify(o);
}

static void
stab_start(struct overlay *o)
{
	o->stab_busy = 1;
	if (chord_alone(o)) {
		/* A ring of one whose predecessor appeared: that node is
		 * the successor too. */
		if (o->has_pred && !chord_is_self(o, &o->pred) &&
		    !chord_is_failed(o, &o->pred)) {
			succ_insert_front(o, &o->pred);
			succ_log(o, "a node joined this ring");
			stab_notify(o);
		} else {
			stab_end(o);
		}
		return;
	}
	o->n.stabilize_rounds++;
	o->stab_call = chord_call_start(
	    o, &o->succ[0], "GET_PREDECESSOR", stab_pred_done, o);
}

static void
stab_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	chord_timer_arm(o, t, stab_tick, o->cfg.stabilize_ms);
	if (o->stab_busy)
		return;
	o->stab_tries = 0;
	o->stab_steps = 0;
	stab_start(o);
}

/* finger[i] = f, and the following fingers whose start is in (n, f] are
 * the same node (§3.4); the round robin goes on after them. */
static void
fix_apply(struct overlay *o, unsigned i, const struct chord_node *f)
{
	struct chord_id start;
	unsigned j;

	o->finger[i] = *f;
	o->has_finger[i] = 1;
	for (j = i + 1; j < CHORD_FINGERS && !chord_is_self(o, f); j++) {
		chord_id_add_pow2(&o->self.id, j, &start);
		if (!chord_id_between_incl(&start, &o->self.id, &f->id))
			break;
		o->finger[j] = *f;
		o->has_finger[j] = 1;
	}
	o->next_finger = j % CHORD_FINGERS;
}

static void
fix_done(void *arg, int err, const struct chord_node *succ,
    const struct chord_node *replier, unsigned hops)
{
	struct overlay *o = arg;

	(void)replier;
	(void)hops;
	o->fix_lookup = NULL;
	if (err != 0)
		o->next_finger = (o->next_finger + 1) % CHORD_FINGERS;
	else
		fix_apply(o, o->next_finger, succ);
}

/*
 * finger[0] is the successor. The lookup of this node's own id, started
 * at a far finger, names this node when the ring agrees with its
 * successor pointer; it names another node when the ring skips this one:
 * concurrent joins can leave a node and its successor pointing at each
 * other past a stretch of nodes, which stabilize never shows them (the
 * successor's predecessor is this node). That node, closer than the
 * successor, is adopted; its NOTIFY then links this node in.
 */
static void
fix0_done(void *arg, int err, const struct chord_node *succ,
    const struct chord_node *replier, unsigned hops)
{
	struct overlay *o = arg;

	(void)replier;
	(void)hops;
	o->fix_lookup = NULL;
	if (err == 0 && !chord_alone(o) && !chord_is_self(o, succ) &&
	    chord_id_between(&succ->id, &o->self.id, &o->succ[0].id)) {
		succ_insert_front(o, succ);
		succ_log(o, "the ring skipped this node");
	}
	if (chord_alone(o))
		o->next_finger = 0;
	else
		fix_apply(o, 0, &o->succ[0]);
}

static void
fix_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;
	struct chord_id start;

	chord_timer_arm(o, t, fix_tick, o->cfg.fix_fingers_ms);
	if (o->fix_lookup != NULL)
		return;
	if (chord_alone(o)) {
		memset(o->has_finger, 0, sizeof(o->has_finger));
		o->next_finger = 0;
		return;
	}
	if (o->next_finger == 0) {
		for (int i = CHORD_FINGERS - 1; i > 0; i--) {
			if (o->has_finger[i] &&
			    !chord_is_self(o, &o->finger[i]) &&
			    !chord_is_failed(o, &o->finger[i])) {
				o->fix_lookup = chord_lookup_start(o,
				    &o->self.id, &o->finger[i], 1, fix0_done,
				    o);
				return;
			}
		}
		fix_apply(o, 0, &o->succ[0]);
		return;
	}
	chord_id_add_pow2(&o->self.id, o->next_finger, &start);
	o->fix_lookup = chord_lookup_start(o, &start, NULL, 1, fix_done, o);
}

static void
checkpred_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;

	(void)st;
	(void)data;
	o->checkpred_call = NULL;
	if (err != 0 && o->has_pred && chord_is_failed(o, &o->pred)) {
		o->has_pred = 0;
		o->n.predecessor_changes++;
		log_info("chord: the predecessor does not answer: none");
	}
}

static void
checkpred_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	chord_timer_arm(o, t, checkpred_tick, o->cfg.check_predecessor_ms);
	if (o->checkpred_call != NULL || !o->has_pred)
		return;
	o->checkpred_call = chord_call_start(
	    o, &o->pred, "PING", checkpred_done, o);
}

static void
purge_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	chord_timer_arm(o, t, purge_tick, o->cfg.purge_ms);
	o->n.purged += chord_store_purge(o->store, uv_now(o->env.loop));
}

static void
republish_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	chord_timer_arm(o, t, republish_tick, o->cfg.republish_ms);
	chord_index_republish(o, o->cfg.republish_ms);
}

/*
 * A first republish round soon after joining: the publication at join
 * time used successor lists that were still settling (a node that joined
 * a moment earlier is not in them yet), so some records went to the
 * wrong nodes. Spread over one stabilize interval.
 */
static void
republish_early(uv_timer_t *t)
{
	struct overlay *o = t->data;

	chord_timer_arm(o, t, republish_tick, o->cfg.republish_ms);
	chord_index_republish(o, o->cfg.stabilize_ms);
}

static void
chord_timers_start(struct overlay *o)
{
	/* The first stabilize soon: a joiner needs its predecessor. */
	chord_timer_arm(o, o->t_stabilize, stab_tick, o->cfg.stabilize_ms / 5);
	chord_timer_arm(o, o->t_fix, fix_tick, o->cfg.fix_fingers_ms);
	chord_timer_arm(
	    o, o->t_checkpred, checkpred_tick, o->cfg.check_predecessor_ms);
	chord_timer_arm(o, o->t_republish, republish_early,
	    o->cfg.republish_ms < CHORD_SETTLE_ROUNDS * o->cfg.stabilize_ms
		? o->cfg.republish_ms
		: CHORD_SETTLE_ROUNDS * o->cfg.stabilize_ms);
	chord_timer_arm(o, o->t_purge, purge_tick, o->cfg.purge_ms);
}

void
chord_timers_restart(struct overlay *o)
{
	if (o->state != CHORD_RUNNING)
		return;
	chord_timer_arm(o, o->t_stabilize, stab_tick, o->cfg.stabilize_ms);
	chord_timer_arm(o, o->t_fix, fix_tick, o->cfg.fix_fingers_ms);
	chord_timer_arm(
	    o, o->t_checkpred, checkpred_tick, o->cfg.check_predecessor_ms);
}

/* ------------------------------------------------------------- joining */

static void join_begin(struct overlay *o);
static void join_next_entry(struct overlay *o);

static const char *
join_state_name(enum chord_join_state s)
{
	switch (s) {
	case CHORD_JOIN_IDLE:
		return "idle";
	case CHORD_JOIN_INTRODUCER:
		return "introducer";
	case CHORD_JOIN_LOOKUP:
		return "lookup";
	case CHORD_JOIN_PRED:
		return "predecessor";
	case CHORD_JOIN_TRANSFER:
		return "transfer";
	case CHORD_JOIN_SUCCESSORS:
		return "successors";
	}
	return "?";
}

static void
join_set_state(struct overlay *o, enum chord_join_state s)
{
	log_debug("chord: join %s -> %s", join_state_name(o->join),
	    join_state_name(s));
	o->join = s;
}

static void
intro_sockaddr(const struct overlay *o, char *label, size_t cap)
{
	addr_format((const struct sockaddr *)&o->cfg.introducer, label, cap);
}

/* The node is in a ring (maybe alone): timers on, files published (all
 * of them again when it has just joined another ring). */
static void
join_running(struct overlay *o, int joined)
{
	if (o->state == CHORD_STARTING) {
		o->state = CHORD_RUNNING;
		chord_timers_start(o);
		chord_index_ready(o, 1);
	} else if (joined) {
		chord_index_ready(o, 1);
		chord_timer_arm(o, o->t_republish, republish_early,
		    CHORD_SETTLE_ROUNDS * o->cfg.stabilize_ms);
	}
}

static void
lone_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	if (chord_alone(o) && o->join == CHORD_JOIN_IDLE)
		join_begin(o);
	else if (!chord_alone(o))
		return; /* a node joined this ring: no more retries */
	chord_timer_arm(o, t, lone_tick, o->cfg.lone_retry_ms);
}

/* Nobody led to a ring: this node is a ring of its own (§3.5 step 3). */
static void
join_alone(struct overlay *o)
{
	join_set_state(o, CHORD_JOIN_IDLE);
	if (chord_alone(o))
		log_info("chord: no ring node answered: starting a ring of "
			 "one%s",
		    o->cfg.has_introducer || o->cfg.has_bootstrap
			? " (asking again while alone)"
			: "");
	join_running(o, 0);
	lone_arm(o);
}

static void
join_done(struct overlay *o)
{
	char label[ADDR_STRLEN];

	join_set_state(o, CHORD_JOIN_IDLE);
	o->n.joins++;
	o->error[0] = '\0';
	chord_node_label(&o->join_succ, label, sizeof(label));
	log_info("chord: joined the ring: successor %s, %u record%s taken "
		 "over",
	    label, (unsigned)o->n.transferred,
	    o->n.transferred == 1 ? "" : "s");
	uv_timer_stop(o->t_lone);
	join_running(o, 1);
}

static void
join_succs_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;
	struct chord_str line;
	struct chord_node n;

	o->join_call = NULL;
	if (err != 0) {
		join_next_entry(o);
		return;
	}
	/*
	 * If nodes joined this lone node meanwhile, they form a ring of their
	 * own: taking the successor found in the other ring anyway brings
	 * them along (their stabilize follows this node's successor).
	 */
	o->succ[0] = o->join_succ;
	o->nsucc = 1;
	while (st->code == 200 && o->nsucc < o->cfg.successors &&
	    chord_lines_next(&data, &line)) {
		unsigned i;

		if (chord_node_parse(line.ptr, line.len, &n) != 0 ||
		    chord_is_self(o, &n))
			break;
		for (i = 0; i < o->nsucc; i++)
			if (chord_node_same(&o->succ[i], &n))
				break;
		if (i == o->nsucc)
			o->succ[o->nsucc++] = n;
	}
	o->n.successor_changes++;
	join_done(o);
}

static void
join_successors(struct overlay *o)
{
	join_set_state(o, CHORD_JOIN_SUCCESSORS);
	o->join_call = chord_call_start(
	    o, &o->join_succ, "GET_SUCCESSORS", join_succs_done, o);
}

static void join_transfer_page(struct overlay *o);

static void
join_transfer_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;
	uint64_t now = uv_now(o->env.loop);
	struct chord_keyed k;
	struct chord_str line;

	o->join_call = NULL;
	if (err != 0 || st->code != 200) {
		/* The records come back with the next republish. */
		join_successors(o);
		return;
	}
	while (chord_lines_next(&data, &line)) {
		uint64_t ttl_ms;

		if (chord_keyed_parse(line.ptr, line.len, &k) != 0)
			continue;
		ttl_ms = (uint64_t)k.ttl * 1000;
		if (ttl_ms > o->cfg.record_ttl_ms)
			ttl_ms = o->cfg.record_ttl_ms;
		if (ttl_ms > 0 &&
		    chord_store_put(o->store, &k.key, &k.rec, now + ttl_ms) >=
			0)
			o->n.transferred++;
	}
	/* Follow the cursor, within what the store can hold. */
	if (st->cursor.len > 0 && st->cursor.len <= CHORD_CURSOR_MAX &&
	    ++o->transfer_pages <= o->cfg.max_records / CHORD_PAGE_MAX + 1) {
		memcpy(o->transfer_cursor, st->cursor.ptr, st->cursor.len);
		o->transfer_cursor[st->cursor.len] = '\0';
		join_transfer_page(o);
		return;
	}
	join_successors(o);
}

static void
join_transfer_page(struct overlay *o)
{
	char line[CHORD_LINE_MAX], lo[CHORD_ID_LEN + 1], hi[CHORD_ID_LEN + 1];

	chord_id_format(&o->transfer_lo, lo);
	chord_id_format(&o->self.id, hi);
	if (o->transfer_cursor[0] != '\0')
		snprintf(line, sizeof(line), "TRANSFER_KEYS %s %s %s", lo, hi,
		    o->transfer_cursor);
	else
		snprintf(line, sizeof(line), "TRANSFER_KEYS %s %s", lo, hi);
	o->join_call = chord_call_start(
	    o, &o->join_succ, line, join_transfer_done, o);
}

static void
join_pred_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;
	struct chord_node p;

	o->join_call = NULL;
	if (err != 0) {
		join_next_entry(o);
		return;
	}
	/* lo = s's predecessor, or s itself if it has none (§3.5 step 4). */
	if (st->code == 200 && chord_data_node(data, &p) == 0)
		o->transfer_lo = p.id;
	else
		o->transfer_lo = o->join_succ.id;
	/* A predecessor between this node and s, or this node's own stale
	 * entry: (lo, n] is not this node's range; skip the transfer. */
	if (chord_id_between(&o->transfer_lo, &o->self.id, &o->join_succ.id) ||
	    chord_id_cmp(&o->transfer_lo, &o->self.id) == 0) {
		join_successors(o);
		return;
	}
	join_set_state(o, CHORD_JOIN_TRANSFER);
	o->transfer_cursor[0] = '\0';
	o->transfer_pages = 0;
	join_transfer_page(o);
}

static void
join_lookup_done(void *arg, int err, const struct chord_node *succ,
    const struct chord_node *replier, unsigned hops)
{
	struct overlay *o = arg;
	char label[ADDR_STRLEN], id[CHORD_ID_LEN + 1];
	const struct chord_node *e = &o->entries[o->next_entry - 1];
	struct chord_id plus;

	(void)replier;
	(void)hops;
	o->join_lookup = NULL;
	if (err != 0) {
		chord_node_label(e, label, sizeof(label));
		log_info("chord: lookup through %s failed: %s", label,
		    chord_lookup_strerror(err));
		join_next_entry(o);
		return;
	}
	if (chord_is_self(o, succ)) {
		/* This node's own stale entry in the ring (a restart):
		 * the node after it is the successor (§3.5 step 2). */
		if (!o->entry_plus_one) {
			o->entry_plus_one = 1;
			chord_id_add_pow2(&o->self.id, 0, &plus);
			o->join_lookup = chord_lookup_start(o, &plus, e,
			    o->entry_id_known[o->next_entry - 1],
			    join_lookup_done, o);
			return;
		}
		join_next_entry(o);
		return;
	}
	if (chord_id_cmp(&succ->id, &o->self.id) == 0) {
		chord_node_label(succ, label, sizeof(label));
		chord_id_format(&o->self.id, id);
		snprintf(o->error, sizeof(o->error),
		    "id collision: %s also has id %s", label, id);
		log_error("chord: refusing to join: %s (set another "
			  "--chord-id or ring address)",
		    o->error);
		o->n.join_failures++;
		join_alone(o);
		return;
	}
	o->join_succ = *succ;
	join_set_state(o, CHORD_JOIN_PRED);
	o->join_call = chord_call_start(
	    o, &o->join_succ, "GET_PREDECESSOR", join_pred_done, o);
}

/* Try the next entry, or start alone when none is left. */
static void
join_next_entry(struct overlay *o)
{
	const struct chord_node *e;

	if (o->next_entry >= o->nentries) {
		if (o->nentries > 0)
			o->n.join_failures++;
		join_alone(o);
		return;
	}
	e = &o->entries[o->next_entry++];
	o->entry_plus_one = 0;
	join_set_state(o, CHORD_JOIN_LOOKUP);
	o->join_lookup = chord_lookup_start(o, &o->self.id, e,
	    o->entry_id_known[o->next_entry - 1], join_lookup_done, o);
}

/* An answer to JOIN: the rows with a warren id other than this node's. */
static void
join_intro_done(
    void *arg, int status, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;
	char label[ADDR_STRLEN];
	struct chord_str line;
	struct chord_row row;

	o->join_rpc = NULL;
	if (status != 0 || st->code != 200) {
		intro_sockaddr(o, label, sizeof(label));
		snprintf(o->error, sizeof(o->error),
		    "cannot reach the introducer %s: %s", label,
		    status != 0 ? chord_strerror(status) : "refused");
		log_warn(
		    "chord: %s (is 'warren introducer' running?)", o->error);
		join_next_entry(o);
		return;
	}
	while (
	    chord_lines_next(&data, &line) && o->nentries < CHORD_ENTRIES_MAX) {
		struct chord_node *e = &o->entries[o->nentries];

		if (chord_row_parse(line.ptr, line.len, &row) != 0 ||
		    !chord_id_is_canonical(row.peer_id.ptr, row.peer_id.len) ||
		    chord_id_parse(row.peer_id.ptr, row.peer_id.len, &e->id) !=
			0 ||
		    chord_id_cmp(&e->id, &o->self.id) == 0)
			continue;
		e->addr = row.addr;
		e->port = row.port;
		if (chord_is_self(o, e))
			continue;
		o->entry_id_known[o->nentries++] = 1;
	}
	if (o->error[0] != '\0' && strncmp(o->error, "cannot reach", 12) == 0)
		o->error[0] = '\0';
	join_next_entry(o);
}

static void
intro_send(struct overlay *o, chord_rpc_cb cb, struct chord_rpc **slot)
{
	char line[CHORD_LINE_MAX], id[CHORD_ID_LEN + 1];
	char ip[CHORD_IP_TEXT_MAX];
	int n;

	chord_id_format(&o->self.id, id);
	chord_ip_format(&o->self.addr, ip, sizeof(ip));
	n = snprintf(
	    line, sizeof(line), "JOIN %s %s %u\r\n", id, ip, o->self.port);
	*slot = chord_rpc_start(o->env.loop, &o->env.dial,
	    (struct sockaddr *)&o->cfg.introducer, line, (size_t)n,
	    o->cfg.timeout_ms, cb, o);
}

static void
intro_refresh_done(
    void *arg, int status, const struct chord_status *st, struct chord_str data)
{
	struct overlay *o = arg;
	char label[ADDR_STRLEN];

	(void)st;
	(void)data;
	o->intro_rpc = NULL;
	if (status != 0) {
		intro_sockaddr(o, label, sizeof(label));
		log_warn(
		    "chord: introducer %s: %s", label, chord_strerror(status));
	}
}

static void
intro_tick(uv_timer_t *t)
{
	struct overlay *o = t->data;

	chord_timer_arm(o, t, intro_tick, o->cfg.introducer_refresh_ms);
	if (o->intro_rpc == NULL)
		intro_send(o, intro_refresh_done, &o->intro_rpc);
}

/* §3.5 steps 1-2: JOIN at the introducer, then the entries in turn. */
static void
join_begin(struct overlay *o)
{
	o->nentries = 0;
	o->next_entry = 0;
	if (o->cfg.has_bootstrap) {
		struct chord_node *e = &o->entries[o->nentries];

		memset(e, 0, sizeof(*e));
		chord_addr_from_sockaddr(
		    (struct sockaddr *)&o->cfg.bootstrap, &e->addr);
		e->port = addr_port((struct sockaddr *)&o->cfg.bootstrap);
		if (!chord_is_self(o, e))
			o->entry_id_known[o->nentries++] = 0;
	}
	if (o->cfg.has_introducer) {
		join_set_state(o, CHORD_JOIN_INTRODUCER);
		intro_send(o, join_intro_done, &o->join_rpc);
		if (!uv_is_active((uv_handle_t *)o->t_intro))
			chord_timer_arm(o, o->t_intro, intro_tick,
			    o->cfg.introducer_refresh_ms);
		return;
	}
	join_next_entry(o);
}

/* ------------------------------------------------------------ start */

/* The address of course_peer p the node publishes: IPv4 first. */
static int
chord_peer_addr(const struct course_peer *p, struct chord_addr *out)
{
	static const uint8_t zero[16];

	memset(out, 0, sizeof(*out));
	if (memcmp(p->v4, zero, 4) != 0 &&
	    !(p->v4[0] == 255 && p->v4[1] == 255 && p->v4[2] == 255 &&
		p->v4[3] == 255)) {
		out->family = AF_INET;
		memcpy(out->a, p->v4, 4);
		return 0;
	}
	if (memcmp(p->v6, zero, 16) != 0 && p->v6[0] != 0xff) {
		out->family = AF_INET6;
		memcpy(out->a, p->v6, 16);
		return 0;
	}
	return -1;
}

/* The ring address: the listen address, or for a wildcard the node's
 * advertised address; then the id (§3.1). */
static int
chord_self_init(struct overlay *o)
{
	const struct sockaddr *sa = (const struct sockaddr *)&o->cfg.listen[0];
	char text[CHORD_ID_TEXT_MAX], id[CHORD_ID_LEN + 1];
	int n;

	if (addr_is_any(sa)) {
		if (chord_peer_addr(&o->env.self, &o->self.addr) != 0) {
			log_error("chord: no address to advertise on the ring "
				  "(set --chord-listen ADDR:PORT or "
				  "--advertise ADDR)");
			return -1;
		}
	} else {
		chord_addr_from_sockaddr(sa, &o->self.addr);
	}
	o->self.port = chord_serve_port(o);
	n = chord_id_text(&o->self.addr, o->self.port, text, sizeof(text));
	if (n < 0) {
		log_error("chord: cannot use the ring address");
		return -1;
	}
	snprintf(o->self_label, sizeof(o->self_label), "%s", text);
	if (o->cfg.has_id)
		o->self.id = o->cfg.id;
	else
		chord_sha1(text, (size_t)n, &o->self.id);
	if (chord_peer_addr(&o->env.self, &o->holder) != 0 ||
	    chord_ip_format(&o->holder, o->holder_ip, sizeof(o->holder_ip)) <
		0) {
		log_error("chord: no address to publish files under (set "
			  "--advertise ADDR)");
		return -1;
	}
	o->holder_port = o->env.self.port;
	chord_id_format(&o->self.id, id);
	log_info("chord: node %s at %s%s; files at %s port %u", id, text,
	    o->cfg.has_id ? " (configured id)" : "", o->holder_ip,
	    o->holder_port);
	return 0;
}

static void chord_stop(struct overlay *o);

static int
chord_start(
    const struct overlay_env *env, const void *conf, struct overlay **out)
{
	struct overlay *o = xcalloc(1, sizeof(*o));

	o->env = *env;
	o->cfg = *(const struct chord_config *)conf;
	o->state = CHORD_STARTING;
	o->started_ms = uv_now(env->loop);
	o->store = chord_store_new(o->cfg.max_records);
	o->t_local = chord_timer_new(o);
	o->t_stabilize = chord_timer_new(o);
	o->t_fix = chord_timer_new(o);
	o->t_checkpred = chord_timer_new(o);
	o->t_republish = chord_timer_new(o);
	o->t_purge = chord_timer_new(o);
	o->t_intro = chord_timer_new(o);
	o->t_lone = chord_timer_new(o);
	chord_index_init(o);
	if (chord_serve_start(o) != 0 || chord_self_init(o) != 0) {
		o->cfg.has_introducer = 0; /* nothing to DELETE */
		chord_stop(o);
		return -1;
	}
	o->rng = 0x2545f4914f6cdd1dULL;
	for (int i = 0; i < 8; i++)
		o->rng = (o->rng << 8 | o->rng >> 56) ^ o->self.id.b[i];
	if (o->rng == 0)
		o->rng = 1;
	join_begin(o);
	*out = o;
	return 0;
}

/*
 * Leave the ring. Graceful: DELETE at the introducer (§3.5 step 6) and the
 * records this node is responsible for handed to its successor
 * (chord_leave.c); both finish after the overlay is freed. Else the node
 * just goes, as a crashed one would (the lab's kill).
 */
static void
chord_free(struct overlay *o, int graceful)
{
	char line[CHORD_LINE_MAX], id[CHORD_ID_LEN + 1];
	int n;

	if (graceful && o->cfg.has_introducer) {
		/* Fire and forget. */
		chord_id_format(&o->self.id, id);
		n = snprintf(line, sizeof(line), "DELETE %s\r\n", id);
		chord_rpc_start(o->env.loop, &o->env.dial,
		    (struct sockaddr *)&o->cfg.introducer, line, (size_t)n,
		    o->cfg.timeout_ms, NULL, NULL);
	}
	if (graceful && o->state == CHORD_RUNNING)
		chord_leave_start(o);
	o->state = CHORD_STOPPED;
	chord_index_stop(o);
	chord_lookup_cancel(o->join_lookup);
	chord_lookup_cancel(o->fix_lookup);
	chord_rpc_cancel(o->join_rpc);
	chord_rpc_cancel(o->intro_rpc);
	chord_calls_stop(o);
	chord_serve_stop(o);
	chord_timer_free(o->t_local);
	chord_timer_free(o->t_stabilize);
	chord_timer_free(o->t_fix);
	chord_timer_free(o->t_checkpred);
	chord_timer_free(o->t_republish);
	chord_timer_free(o->t_purge);
	chord_timer_free(o->t_intro);
	chord_timer_free(o->t_lone);
	chord_store_free(o->store);
	free(o);
}

static void
chord_stop(struct overlay *o)
{
	chord_free(o, 1);
}

void
chord_crash(struct overlay *o)
{
	chord_free(o, 0);
}

/* ------------------------------------------------------------- status */

static json_t *
node_json(const struct overlay *o, const struct chord_node *n)
{
	char id[CHORD_ID_LEN + 1], label[ADDR_STRLEN];

	chord_id_format(&n->id, id);
	chord_node_label(n, label, sizeof(label));
	return json_pack("{s:s,s:s,s:b}", "id", id, "addr", label, "failed",
	    chord_is_failed(o, n));
}

static unsigned
finger_fill(const struct overlay *o)
{
	unsigned distinct = 0;

	for (unsigned i = 0; i < CHORD_FINGERS; i++) {
		unsigned j;

		if (!o->has_finger[i] || chord_is_self(o, &o->finger[i]))
			continue;
		for (j = 0; j < i; j++)
			if (o->has_finger[j] &&
			    chord_node_same(&o->finger[j], &o->finger[i]))
				break;
		if (j == i)
			distinct++;
	}
	return distinct;
}

static const char *
chord_state_label(const struct overlay *o)
{
	switch (o->state) {
	case CHORD_STARTING:
		return "joining";
	case CHORD_RUNNING:
		return chord_alone(o) ? "alone" : "joined";
	case CHORD_STOPPED:
		return "stopped";
	}
	return "?";
}

static json_t *
chord_status(struct overlay *o)
{
	char id[CHORD_ID_LEN + 1];
	json_t *succ = json_array(), *c, *served = json_object(), *hist, *ix;
	unsigned used = 0;

	for (unsigned i = 0; i < o->nsucc; i++)
		json_array_append_new(succ, node_json(o, &o->succ[i]));
	for (int op = 0; op < CHORD_OP_COUNT; op++)
		if (o->n.served[op] > 0)
			json_object_set_new(served,
			    op == 0 ? "unknown" : chord_op_name(op),
			    json_integer((json_int_t)o->n.served[op]));
	for (unsigned h = 0; h <= CHORD_HOPS_MAX; h++)
		if (o->n.hop_hist[h] > 0)
			used = h + 1;
	hist = json_array();
	for (unsigned h = 0; h < used; h++)
		json_array_append_new(
		    hist, json_integer((json_int_t)o->n.hop_hist[h]));
	c = json_pack("{s:I,s:I,s:I,s:I,s:f,s:o,s:I,s:I,s:I,s:o,s:I,s:I,s:I,"
		      "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "lookups", (json_int_t)o->n.lookups, "lookups_ok",
	    (json_int_t)o->n.lookups_ok, "lookups_failed",
	    (json_int_t)o->n.lookups_failed, "hops_total",
	    (json_int_t)o->n.hops, "hops_mean",
	    o->n.lookups_ok ? (double)o->n.hops / (double)o->n.lookups_ok : 0.0,
	    "hops_histogram", hist, "requests_sent",
	    (json_int_t)o->n.requests_sent, "requests_failed",
	    (json_int_t)o->n.requests_failed, "timeouts",
	    (json_int_t)o->n.timeouts, "served", served, "bad_requests",
	    (json_int_t)o->n.bad_requests, "transfers",
	    (json_int_t)o->n.transfers_handed, "store_full",
	    (json_int_t)o->n.store_full, "stabilize_rounds",
	    (json_int_t)o->n.stabilize_rounds, "successor_changes",
	    (json_int_t)o->n.successor_changes, "predecessor_changes",
	    (json_int_t)o->n.predecessor_changes, "joins",
	    (json_int_t)o->n.joins, "join_failures",
	    (json_int_t)o->n.join_failures, "transferred",
	    (json_int_t)o->n.transferred, "purged", (json_int_t)o->n.purged,
	    "searches", (json_int_t)o->n.searches, "walks",
	    (json_int_t)o->n.walks);
	ix = chord_index_json(o);
	json_object_update_missing(c, ix);
	json_decref(ix);
	chord_id_format(&o->self.id, id);
	return json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:o,s:o,s:i,s:i,s:I,s:I,"
			 "s:o,s:o}",
	    "name", "chord", "role", "ring node", "port", (int)o->self.port,
	    "id", id, "addr", o->self_label, "state", chord_state_label(o),
	    "predecessor", o->has_pred ? node_json(o, &o->pred) : json_null(),
	    "successors", succ, "finger_fill", (int)finger_fill(o),
	    "successor_list_max", (int)o->cfg.successors, "records",
	    (json_int_t)chord_store_count(o->store), "uptime_ms",
	    (json_int_t)(uv_now(o->env.loop) - o->started_ms), "error",
	    o->error[0] ? json_string(o->error) : json_null(), "counters", c);
}

/* One row per node: its first role (successor, successor list,
 * predecessor, finger) as origin, every role in roles. */
static void
peers_add(const struct overlay *o, json_t *peers, const struct chord_node *n,
    const char *role)
{
	json_t *p = NULL;
	size_t i;

	for (i = 0; i < json_array_size(peers); i++) {
		json_t *q = json_array_get(peers, i);
		char label[ADDR_STRLEN];

		chord_node_label(n, label, sizeof(label));
		if (strcmp(json_string_value(json_object_get(q, "label")),
			label) == 0) {
			p = q;
			break;
		}
	}
	if (p == NULL) {
		p = node_json(o, n);
		json_object_set(p, "label", json_object_get(p, "addr"));
		json_object_set_new(p, "origin", json_string(role));
		json_object_set_new(p, "state",
		    json_string(chord_is_failed(o, n) ? "failed" : "up"));
		json_object_set_new(p, "roles", json_array());
		json_array_append_new(peers, p);
	}
	json_array_append_new(json_object_get(p, "roles"), json_string(role));
}

static json_t *
chord_peers(struct overlay *o)
{
	json_t *peers = json_array();

	for (unsigned i = 0; i < o->nsucc; i++)
		peers_add(o, peers, &o->succ[i], "successor");
	if (o->has_pred)
		peers_add(o, peers, &o->pred, "predecessor");
	for (unsigned i = 0; i < CHORD_FINGERS; i++)
		if (o->has_finger[i] && !chord_is_self(o, &o->finger[i]) &&
		    (i == 0 || !o->has_finger[i - 1] ||
			!chord_node_same(&o->finger[i - 1], &o->finger[i])))
			peers_add(o, peers, &o->finger[i], "finger");
	return json_pack("{s:s,s:o}", "name", "chord", "peers", peers);
}

static void
chord_downloaded(struct overlay *o, const char *md5)
{
	/* A downloaded file in the shared folder comes back through the
	 * library as a publish. */
	(void)o;
	(void)md5;
}

const struct overlay_ops chord_ops = {
    .name = "chord",
    .start = chord_start,
    .stop = chord_stop,
    .publish = chord_index_publish,
    .unpublish = chord_index_unpublish,
    .downloaded = chord_downloaded,
    .search = chord_index_search,
    .search_cancel = chord_index_search_cancel,
    .status = chord_status,
    .peers = chord_peers,
};
