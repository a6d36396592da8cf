/*
 * The Gnutella overlay (course.md §3 and §6): every node is equal and
 * keeps a list of neighbours. NEAR discovers neighbours (each node reached
 * answers ANEA to the originator), QUER searches (each node reached answers
 * one AQUE per matching file), both flooded with a TTL and de-duplicated by
 * Pktid. Answers go straight to the originator's IPP2P:PP2P on a new
 * connection; files then move with RETR/RETP through the transfer engine.
 *
 * Neighbours: the configured ones are kept for ever (marked down after
 * fail_limit consecutive failures, probed again each discovery round);
 * learned ones come from ANEA while fewer than min_neighbours are alive
 * (at most max_neighbours) and are forgotten when they fail. The periodic
 * NEAR round is also the liveness check: a neighbour that cannot be
 * reached counts a failure.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "flood.h"
#include "gnutella.h"
#include "net/request.h"
#include "overlay.h"
#include "peerset.h"
#include "store/library.h"
#include "warren/error.h"

#define GNUT_CANDIDATES 32   /* ANEA answerers kept for replacements */
#define GNUT_RETRY_MS   5000 /* NEAR rounds while degraded */

const struct config_key gnutella_config_keys[] = {
    {"neighbour", "HOST:PORT",
	"a Gnutella neighbour (repeatable; also --neighbour)"},
    {"min_neighbours", "N",
	"discover neighbours with NEAR while fewer are alive (default 3)"},
    {"max_neighbours", "N", "neighbours learned from ANEA (default 8)"},
    {"near_ttl", "N", "TTL of the NEARs this node sends (default 3)"},
    {"quer_ttl", "N", "TTL of the QUERs this node sends (default 5)"},
    {"near_window", "SECONDS", "ANEA collection window (default 5)"},
    {"search_window", "SECONDS", "AQUE collection window (default 10)"},
    {"discovery_interval", "SECONDS",
	"NEAR round to check and find neighbours (default 60)"},
    {NULL, NULL, NULL},
};

void
gnutella_config_defaults(struct gnutella_config *c)
{
	memset(c, 0, sizeof(*c));
	c->min_neighbours = 3;
	c->max_neighbours = 8;
	c->near_ttl = 3;
	c->quer_ttl = 5;
	c->near_window_ms = 5000;
	c->search_window_ms = 10000;
	c->discovery_ms = 60000;
	flood_config_defaults(&c->flood);
}

/* clang-format off */
#define GNUT_F(name, type, min, max) \
	{#name, type, offsetof(struct gnutella_config, name), min, max}
/* clang-format on */

static const struct conf_field gnut_fields[] = {
    GNUT_F(min_neighbours, CONF_UINT, 0, 64),
    GNUT_F(max_neighbours, CONF_UINT, 0, 64),
    GNUT_F(near_ttl, CONF_UINT, 1, 99),
    GNUT_F(quer_ttl, CONF_UINT, 1, 99),
    {"near_window", CONF_SECONDS,
	offsetof(struct gnutella_config, near_window_ms), 0.001, 600},
    {"search_window", CONF_SECONDS,
	offsetof(struct gnutella_config, search_window_ms), 0.001, 600},
    {"discovery_interval", CONF_SECONDS,
	offsetof(struct gnutella_config, discovery_ms), 0.001, 86400},
    {NULL, CONF_UINT, 0, 0, 0},
};

int
gnutella_config_set(struct gnutella_config *c, const char *key,
    const char *value, char *err, size_t errlen)
{
	char k[64];
	int rc;

	conf_key_norm(key, k, sizeof(k));
	if (strcmp(k, "neighbour") == 0 || strcmp(k, "neighbor") == 0) {
		if (c->nneighbours == GNUTELLA_MAX_CONFIGURED) {
			snprintf(err, errlen, "neighbour: at most %d",
			    GNUTELLA_MAX_CONFIGURED);
			return -1;
		}
		if (addr_parse(value, 3000, &c->neighbours[c->nneighbours]) !=
			0 ||
		    addr_port(
			(struct sockaddr *)&c->neighbours[c->nneighbours]) ==
			0) {
			snprintf(err, errlen,
			    "neighbour: '%s' is not ADDR:PORT (e.g. "
			    "127.0.0.3:3000 or [::1]:3000)",
			    value);
			return -1;
		}
		c->nneighbours++;
		return 0;
	}
	rc = conf_set_field(c, gnut_fields, "gnutella", k, value, err, errlen);
	if (rc == 1)
		rc = flood_config_set(
		    &c->flood, "gnutella", k, value, err, errlen);
	return rc;
}

/* ------------------------------------------------------------ state */

enum gnut_coll_kind {
	GNUT_COLL_NEAR, /* a discovery round: ANEAs */
	GNUT_COLL_QUER, /* a user search: AQUEs */
};

struct overlay_search {
	struct overlay *g;
	enum gnut_coll_kind kind;
	char pktid[COURSE_PKTID_LEN];
	uv_timer_t timer;
	struct hitset seen; /* (md5, holder) answered */
	overlay_hit_cb hit;
	overlay_done_cb done;
	void *arg;
	int finished; /* off the list; timer closing */
	struct overlay_search *next;
};

struct gnut_counters {
	uint64_t near_received, quer_received; /* valid, before checks */
	uint64_t near_handled, quer_handled;   /* new Pktids */
	uint64_t own_dropped, dup_dropped, rate_dropped;
	uint64_t forwarded, forward_dropped;
	uint64_t anea_sent, aque_sent, answers_dropped;
	uint64_t anea_received, aque_received, answers_unmatched;
	uint64_t searches, near_rounds;
	/* The same per kind (0 NEAR, 1 QUER), for exact accounting. */
	uint64_t kind_own[2], kind_dup[2], kind_rate[2], kind_forwarded[2];
};

/* The Gnutella instance: this file's struct overlay. */
struct overlay {
	struct overlay_env env;
	struct gnutella_config cfg;
	struct peerset nb; /* neighbours */
	struct course_peer cand[GNUT_CANDIDATES];
	unsigned ncand;
	struct flood_guard guard; /* rate, own and seen Pktids */
	struct oneshot *os;
	struct overlay_search *searches;
	unsigned nsearches;
	uv_timer_t discovery;
	uint64_t last_round_ms; /* last NEAR round */
	struct gnut_counters n;
	int warned_lonely;
};

static void gnut_discover(struct overlay *g);

/* Fill up from the ANEA answerers kept aside, newest first. */
static void
gnut_fill_from_candidates(struct overlay *g)
{
	while (g->ncand > 0 && peerset_alive(&g->nb) < g->cfg.min_neighbours &&
	    peerset_learned(&g->nb) < g->cfg.max_neighbours)
		peerset_add(&g->nb, &g->cand[--g->ncand], 0, &g->env.self);
}

static void
gnut_neigh_result(void *arg, uint64_t tag, int status)
{
	struct overlay *g = arg;

	if (!peerset_result(&g->nb, tag, status))
		return;
	if (peerset_alive(&g->nb) < g->cfg.min_neighbours) {
		gnut_fill_from_candidates(g);
		if (peerset_alive(&g->nb) < g->cfg.min_neighbours)
			gnut_discover(g);
	}
}

/* Send a flood message to neighbour nb; outcome updates its state. */
static void
gnut_neigh_send(
    struct overlay *g, struct peerset_entry *nb, const void *msg, size_t len)
{
	int rc = oneshot_send(
	    g->os, &nb->peer, msg, len, gnut_neigh_result, g, nb->id);

	if (rc == WARREN_ELIMIT)
		g->n.forward_dropped++;
	else if (rc != 0)
		nb->failed++;
}

/* ----------------------------------------------------------- searches */

static struct overlay_search *
gnut_search_find(struct overlay *g, const char pktid[COURSE_PKTID_LEN])
{
	for (struct overlay_search *s = g->searches; s != NULL; s = s->next)
		if (memcmp(s->pktid, pktid, COURSE_PKTID_LEN) == 0)
			return s;
	return NULL;
}

static void
gnut_search_closed(uv_handle_t *h)
{
	struct overlay_search *s = h->data;

	hitset_release(&s->seen);
	free(s);
}

/* Take s off the list and free it (after its timer closes). */
static void
gnut_search_end(struct overlay_search *s)
{
	struct overlay *g = s->g;
	struct overlay_search **pp;

	if (s->finished)
		return;
	s->finished = 1;
	for (pp = &g->searches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	g->nsearches--;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, gnut_search_closed);
}

static void
gnut_search_timeout(uv_timer_t *t)
{
	struct overlay_search *s = t->data;
	overlay_done_cb done = s->done;
	void *arg = s->arg;

	gnut_search_end(s);
	if (done != NULL)
		done(arg, 0, NULL);
}

static struct overlay_search *
gnut_search_new(struct overlay *g, enum gnut_coll_kind kind, uint64_t window_ms)
{
	struct overlay_search *s = xcalloc(1, sizeof(*s));

	s->g = g;
	s->kind = kind;
	hitset_init(&s->seen, g->cfg.flood.max_hits);
	flood_guard_pktid(&g->guard, s->pktid, uv_now(g->env.loop));
	uv_timer_init(g->env.loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, gnut_search_timeout, window_ms, 0);
	s->next = g->searches;
	g->searches = s;
	g->nsearches++;
	return s;
}

/* A NEAR round: liveness check of every neighbour, and discovery. */
static void
gnut_discover(struct overlay *g)
{
	struct overlay_search *s;
	char buf[COURSE_MSG_MAX];
	int len;

	if (g->nb.n == 0) {
		if (!g->warned_lonely)
			log_warn("gnutella: no neighbour to ask (give one "
				 "with --neighbour HOST:PORT)");
		g->warned_lonely = 1;
		return;
	}
	if (g->nsearches >= g->cfg.flood.max_searches)
		return;
	g->n.near_rounds++;
	g->last_round_ms = uv_now(g->env.loop);
	s = gnut_search_new(g, GNUT_COLL_NEAR, g->cfg.near_window_ms);
	len = flood_encode(COURSE_NEAR, s->pktid, &g->env.self, g->cfg.near_ttl,
	    (struct course_str){NULL, 0}, buf);
	if (len <= 0)
		return;
	/* Down neighbours too: this is how they come back. */
	for (unsigned i = 0; i < g->nb.n; i++)
		gnut_neigh_send(g, &g->nb.v[i], buf, (size_t)len);
}

/*
 * A round every discovery interval; sooner (every GNUT_RETRY_MS) while a
 * neighbour is down or fewer than min_neighbours are alive, so that a
 * neighbour that was only restarting comes back quickly.
 */
static void
gnut_discovery_timer(uv_timer_t *t)
{
	struct overlay *g = t->data;
	uint64_t since = uv_now(g->env.loop) - g->last_round_ms;
	int degraded = peerset_alive(&g->nb) < g->cfg.min_neighbours ||
	    peerset_alive(&g->nb) < g->nb.n;

	if (g->n.near_rounds == 0 || since >= g->cfg.discovery_ms ||
	    (degraded && since >= GNUT_RETRY_MS))
		gnut_discover(g);
}

/* ------------------------------------------------- received messages */

static void
gnut_answer_result(void *arg, uint64_t tag, int status)
{
	(void)arg;
	(void)tag;
	(void)status; /* a refused answer is dropped without retry (§12.16) */
}

/* One-shot an answer (ANEA or AQUE) to the originator. */
static void
gnut_answer(
    struct overlay *g, const struct course_peer *to, const struct course_msg *m)
{
	char buf[COURSE_MSG_MAX];
	int len = course_encode(m, buf, sizeof(buf));

	if (len <= 0 ||
	    oneshot_send(
		g->os, to, buf, (size_t)len, gnut_answer_result, g, 0) != 0) {
		g->n.answers_dropped++;
		return;
	}
	if (m->kind == COURSE_ANEA)
		g->n.anea_sent++;
	else
		g->n.aque_sent++;
}

struct gnut_match {
	struct overlay *g;
	const struct course_msg *q;
	unsigned sent;
};

static void
gnut_match_file(void *arg, const struct library_file *f)
{
	struct gnut_match *mt = arg;
	struct course_msg a;

	if (mt->sent >= mt->g->cfg.flood.max_answers || f->name_too_long ||
	    !course_term_match(mt->q->term, f->name, f->name_len))
		return;
	memset(&a, 0, sizeof(a));
	a.kind = COURSE_AQUE;
	memcpy(a.pktid, mt->q->pktid, COURSE_PKTID_LEN);
	a.peer = mt->g->env.self;
	memcpy(a.md5, f->md5, sizeof(a.md5));
	a.name.ptr = f->name;
	a.name.len = f->name_len;
	mt->sent++;
	gnut_answer(mt->g, &mt->q->peer, &a);
}

static void
gnut_forward_one(
    void *arg, struct peerset_entry *e, const void *msg, size_t len)
{
	struct overlay *g = arg;
	const uint8_t *m = msg;

	g->n.forwarded++;
	g->n.kind_forwarded[m[0] == 'Q']++;
	gnut_neigh_send(g, e, msg, len);
}

/* NEAR and QUER: §3 steps 1-5. */
static void
gnut_on_flood(void *arg, struct conn *c, const struct course_msg *m)
{
	struct overlay *g = arg;
	uint64_t now = uv_now(g->env.loop);
	uint8_t raw[COURSE_MSG_MAX];
	struct sockaddr_storage from = c->peer;
	size_t len = course_kind_len(m->kind);
	struct course_msg q = *m;
	int k = m->kind == COURSE_QUER;

	/* One-shot: nothing comes back on this connection. */
	memcpy(raw, c->rbuf, len);
	if (m->term.len > 0)
		q.term.ptr = (const char *)raw +
		    (m->term.ptr - (const char *)c->rbuf);
	conn_close(c, 0);

	if (m->kind == COURSE_NEAR)
		g->n.near_received++;
	else
		g->n.quer_received++;
	switch (flood_guard_check(
	    &g->guard, m->pktid, (struct sockaddr *)&from, now)) {
	case FLOOD_NEW:
		break;
	case FLOOD_RATE:
		g->n.rate_dropped++;
		g->n.kind_rate[k]++;
		return;
	case FLOOD_OWN:
		g->n.own_dropped++;
		g->n.kind_own[k]++;
		return;
	case FLOOD_DUP:
		g->n.dup_dropped++;
		g->n.kind_dup[k]++;
		return;
	}
	if (m->kind == COURSE_NEAR) {
		struct course_msg a;

		g->n.near_handled++;
		memset(&a, 0, sizeof(a));
		a.kind = COURSE_ANEA;
		memcpy(a.pktid, m->pktid, COURSE_PKTID_LEN);
		a.peer = g->env.self;
		gnut_answer(g, &m->peer, &a);
	} else {
		struct gnut_match mt = {g, &q, 0};

		g->n.quer_handled++;
		library_foreach(g->env.lib, gnut_match_file, &mt);
	}
	peerset_flood(&g->nb, raw, len, m->ttl, g->cfg.flood.max_forward_ttl,
	    &m->peer, (struct sockaddr *)&from, gnut_forward_one, g);
}

/* ANEA: a node reached by one of our NEAR rounds. */
static void
gnut_on_anea(
    struct overlay *g, struct overlay_search *s, const struct course_msg *m)
{
	struct peerset_entry *nb;

	(void)s;
	if (peer_same(&m->peer, &g->env.self) ||
	    peerset_find(&g->nb, &m->peer) != NULL)
		return;
	if (peerset_alive(&g->nb) < g->cfg.min_neighbours &&
	    peerset_learned(&g->nb) < g->cfg.max_neighbours) {
		nb = peerset_add(&g->nb, &m->peer, 0, &g->env.self);
		if (nb != NULL)
			nb->state = PEERSET_UP; /* it just answered */
		return;
	}
	/* Keep it aside for when a neighbour fails. */
	for (unsigned i = 0; i < g->ncand; i++)
		if (peer_same(&g->cand[i], &m->peer))
			return;
	if (g->ncand == GNUT_CANDIDATES)
		memmove(
		    &g->cand[0], &g->cand[1], sizeof(g->cand[0]) * --g->ncand);
	g->cand[g->ncand++] = m->peer;
}

static void
gnut_on_aque(struct overlay_search *s, const struct course_msg *m)
{
	struct overlay_hit h;

	if (!hitset_add(&s->seen, m->md5, &m->peer))
		return;
	memset(&h, 0, sizeof(h));
	h.overlay = "gnutella";
	memcpy(h.md5, m->md5, sizeof(h.md5));
	h.name = m->name.ptr;
	h.name_len = m->name.len;
	peer_source(&m->peer, &h.src);
	if (h.src.naddrs == 0)
		return; /* no address we may connect to */
	s->hit(s->arg, &h);
}

/* ANEA and AQUE: answers to our own floods, on our main port. */
static void
gnut_on_answer(void *arg, struct conn *c, const struct course_msg *m)
{
	struct overlay *g = arg;
	struct overlay_search *s = gnut_search_find(g, m->pktid);

	if (m->kind == COURSE_ANEA)
		g->n.anea_received++;
	else
		g->n.aque_received++;
	if (s == NULL ||
	    (m->kind == COURSE_ANEA) != (s->kind == GNUT_COLL_NEAR)) {
		g->n.answers_unmatched++;
	} else if (m->kind == COURSE_ANEA) {
		gnut_on_anea(g, s, m);
	} else {
		gnut_on_aque(s, m);
	}
	conn_close(c, 0);
}

/* ---------------------------------------------------------------- ops */

static int
gnut_start(
    const struct overlay_env *env, const void *conf, struct overlay **out)
{
	const struct gnutella_config *cfg = conf;
	struct overlay *g = xcalloc(1, sizeof(*g));
	char self[ADDR_STRLEN];

	g->env = *env;
	g->cfg = *cfg;
	flood_guard_init(&g->guard, &cfg->flood);
	g->os = oneshot_new(env->loop, &env->dial, cfg->flood.max_oneshots,
	    cfg->flood.oneshot_queue);
	peerset_init(
	    &g->nb, env->loop, "gnutella: neighbour", cfg->flood.fail_limit);

	for (unsigned i = 0; i < cfg->nneighbours; i++) {
		struct course_peer p;
		const struct sockaddr *sa =
		    (const struct sockaddr *)&cfg->neighbours[i];

		if (peer_from_sockaddr(sa, &p) != 0 ||
		    peerset_add(&g->nb, &p, 1, &g->env.self) == NULL) {
			char a[ADDR_STRLEN];

			addr_format(sa, a, sizeof(a));
			log_warn("gnutella: neighbour %s ignored (this node "
				 "itself, a duplicate or not usable)",
			    a);
		}
	}

	request_server_on(env->rs, COURSE_NEAR, gnut_on_flood, g);
	request_server_on(env->rs, COURSE_QUER, gnut_on_flood, g);
	request_server_on(env->rs, COURSE_ANEA, gnut_on_answer, g);
	request_server_on(env->rs, COURSE_AQUE, gnut_on_answer, g);

	uv_timer_init(env->loop, &g->discovery);
	g->discovery.data = g;
	/* First round at once, then periodically. */
	uv_timer_start(&g->discovery, gnut_discovery_timer, 0,
	    cfg->discovery_ms < GNUT_RETRY_MS ? cfg->discovery_ms
					      : GNUT_RETRY_MS);

	peer_label(&env->self, self, sizeof(self));
	log_info("gnutella: joined as %s with %u neighbour%s", self, g->nb.n,
	    g->nb.n == 1 ? "" : "s");
	*out = g;
	return 0;
}

static void
gnut_closed(uv_handle_t *h)
{
	struct overlay *g = h->data;

	peerset_release(&g->nb);
	free(g);
}

static void
gnut_stop(struct overlay *g)
{
	while (g->searches != NULL)
		gnut_search_end(g->searches);
	oneshot_free(g->os);
	flood_guard_release(&g->guard);
	request_server_on(g->env.rs, COURSE_NEAR, NULL, NULL);
	request_server_on(g->env.rs, COURSE_QUER, NULL, NULL);
	request_server_on(g->env.rs, COURSE_ANEA, NULL, NULL);
	request_server_on(g->env.rs, COURSE_AQUE, NULL, NULL);
	uv_timer_stop(&g->discovery);
	uv_close((uv_handle_t *)&g->discovery, gnut_closed);
}

static int
gnut_search(struct overlay *g, const struct overlay_search_opts *opts,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen)
{
	struct overlay_search *s;
	char buf[COURSE_MSG_MAX];
	unsigned ttl = opts->ttl ? opts->ttl : g->cfg.quer_ttl;
	unsigned alive = peerset_alive(&g->nb), sent = 0;
	int len;

	if (strlen(opts->term) > COURSE_TERM_LEN) {
		snprintf(msg, msglen,
		    "search term is %zu bytes: the Gnutella QUER carries at "
		    "most %d",
		    strlen(opts->term), COURSE_TERM_LEN);
		return WARREN_ETOOLONG;
	}
	if (g->nb.n == 0) {
		snprintf(msg, msglen,
		    "no Gnutella neighbour (start the node with --neighbour "
		    "HOST:PORT)");
		return WARREN_ENOTFOUND;
	}
	if (g->nsearches >= g->cfg.flood.max_searches) {
		snprintf(msg, msglen,
		    "too many searches running (%u); try again in a few "
		    "seconds",
		    g->nsearches);
		return WARREN_ELIMIT;
	}
	if (ttl > 99)
		ttl = 99;
	s = gnut_search_new(g, GNUT_COLL_QUER,
	    opts->window_ms ? opts->window_ms : g->cfg.search_window_ms);
	len = flood_encode(COURSE_QUER, s->pktid, &g->env.self, ttl,
	    (struct course_str){opts->term, strlen(opts->term)}, buf);
	if (len <= 0) {
		gnut_search_end(s);
		snprintf(msg, msglen, "cannot encode the search term");
		return WARREN_EFIELD;
	}
	s->hit = hit;
	s->done = done;
	s->arg = arg;
	g->n.searches++;
	/* Alive neighbours; if none is alive, try them all anyway. */
	for (unsigned i = 0; i < g->nb.n; i++) {
		if (alive > 0 && g->nb.v[i].state == PEERSET_DOWN)
			continue;
		gnut_neigh_send(g, &g->nb.v[i], buf, (size_t)len);
		sent++;
	}
	log_debug("gnutella: QUER '%s' ttl %u to %u neighbours", opts->term,
	    ttl, sent);
	*out = s;
	return 0;
}

static void
gnut_search_cancel(struct overlay_search *s)
{
	gnut_search_end(s);
}

/* Searches of this node's user pending (not the NEAR rounds). */
static unsigned
gnut_user_searches(const struct overlay *g)
{
	unsigned n = 0;

	for (const struct overlay_search *s = g->searches; s != NULL;
	     s = s->next)
		if (s->kind == GNUT_COLL_QUER)
			n++;
	return n;
}

static json_t *
gnut_status(struct overlay *g)
{
	struct oneshot_stats os;
	char self[COURSE_IPP2P_LEN + 1];
	uint64_t now = uv_now(g->env.loop);
	json_t *c, *nb;

	oneshot_stats(g->os, &os);
	course_ipp2p_format(&g->env.self, self);
	self[COURSE_IPP2P_LEN] = '\0';
	c = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		      "s:I,s:I,s:I,s:I,s:I,s:I}",
	    "near_received", (json_int_t)g->n.near_received, "quer_received",
	    (json_int_t)g->n.quer_received, "near_handled",
	    (json_int_t)g->n.near_handled, "quer_handled",
	    (json_int_t)g->n.quer_handled, "own_dropped",
	    (json_int_t)g->n.own_dropped, "dup_dropped",
	    (json_int_t)g->n.dup_dropped, "rate_dropped",
	    (json_int_t)g->n.rate_dropped, "forwarded",
	    (json_int_t)g->n.forwarded, "forward_dropped",
	    (json_int_t)g->n.forward_dropped, "anea_sent",
	    (json_int_t)g->n.anea_sent, "aque_sent", (json_int_t)g->n.aque_sent,
	    "answers_dropped", (json_int_t)g->n.answers_dropped,
	    "anea_received", (json_int_t)g->n.anea_received, "aque_received",
	    (json_int_t)g->n.aque_received, "answers_unmatched",
	    (json_int_t)g->n.answers_unmatched, "searches",
	    (json_int_t)g->n.searches, "near_rounds",
	    (json_int_t)g->n.near_rounds, "learned", (json_int_t)g->nb.learned,
	    "lost", (json_int_t)g->nb.lost);
	for (int k = 0; k < 2; k++) {
		const char *kind = k ? "quer" : "near";
		char key[32];

		snprintf(key, sizeof(key), "%s_own_dropped", kind);
		json_object_set_new(
		    c, key, json_integer((json_int_t)g->n.kind_own[k]));
		snprintf(key, sizeof(key), "%s_dup_dropped", kind);
		json_object_set_new(
		    c, key, json_integer((json_int_t)g->n.kind_dup[k]));
		snprintf(key, sizeof(key), "%s_rate_dropped", kind);
		json_object_set_new(
		    c, key, json_integer((json_int_t)g->n.kind_rate[k]));
		snprintf(key, sizeof(key), "%s_forwarded", kind);
		json_object_set_new(
		    c, key, json_integer((json_int_t)g->n.kind_forwarded[k]));
	}
	json_object_set_new(
	    c, "oneshot_sent", json_integer((json_int_t)os.sent));
	json_object_set_new(
	    c, "oneshot_failed", json_integer((json_int_t)os.failed));
	json_object_set_new(
	    c, "oneshot_dropped", json_integer((json_int_t)os.dropped));
	nb = peerset_counts_json(&g->nb);
	json_object_set_new(nb, "min", json_integer(g->cfg.min_neighbours));
	json_object_set_new(nb, "max", json_integer(g->cfg.max_neighbours));
	json_object_set_new(c, "near_rounds_pending",
	    json_integer((json_int_t)(g->nsearches - gnut_user_searches(g))));
	return json_pack("{s:s,s:s,s:s%,s:i,s:o,s:i,s:i,s:i,s:i,s:o}", "name",
	    "gnutella", "role", "node", "ipp2p", self, (size_t)COURSE_IPP2P_LEN,
	    "port", (int)g->env.self.port, "neighbours", nb, "searches",
	    (int)gnut_user_searches(g), "pktid_cache",
	    (int)pktid_cache_count(g->guard.seen, now), "oneshot_active",
	    (int)os.active, "oneshot_queued", (int)os.queued, "counters", c);
}

static json_t *
gnut_peers(struct overlay *g)
{
	return json_pack(
	    "{s:s,s:o}", "name", "gnutella", "peers", peerset_json(&g->nb));
}

const struct overlay_ops gnutella_ops = {
    .name = "gnutella",
    .start = gnut_start,
    .stop = gnut_stop,
    .publish = NULL,
    .unpublish = NULL,
    .search = gnut_search,
    .search_cancel = gnut_search_cancel,
    .status = gnut_status,
    .peers = gnut_peers,
};
