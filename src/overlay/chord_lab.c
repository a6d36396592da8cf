/*
 * chord_lab.c: `warren lab chord`: a ring of chord nodes in one process
 * (chord_lab.h). The lab knows every node, so it checks the ring against
 * the truth (the sorted ids of the live nodes) instead of asking it: a
 * lookup is a success only when it names the true successor.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jansson.h>

#include "chord_int.h"
#include "chord_lab.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define LAB_TICK_MS     100
#define LAB_CHECK_TICKS 5  /* ring checks every half second */
#define LAB_INFLIGHT    64 /* lookups at once */
#define LAB_MEASURES    3  /* before the kill, right after, repaired */

enum lab_phase {
	LAB_GROW,      /* starting nodes, a growing share per tick */
	LAB_SETTLE,    /* waiting for consistency and right fingers */
	LAB_MEASURE,   /* lookups of m[cur] running */
	LAB_REST_WARM, /* default timers taking over */
	LAB_REST,      /* counting messages */
	LAB_REPAIR,    /* after the kill: waiting for consistency */
	LAB_DONE,
};

struct lab_node {
	struct overlay *o;       /* NULL: not started, or stopped */
	struct sockaddr_in bind; /* its address, port 0: source of dials */
	struct chord_node n;     /* id and ring address */
};

struct lab_measure {
	unsigned want, started, done, ok;
	unsigned *hops; /* of the successful ones, ok entries */
	uint64_t started_ms, ended_ms;
};

struct lab {
	uv_loop_t loop;
	const struct chord_lab_opts *opt;
	struct lab_node *nodes;
	unsigned n, started;
	struct chord_node *live; /* live nodes sorted by id */
	unsigned nlive;
	unsigned *live_idx; /* their indices in nodes[] */
	uv_timer_t tick;
	unsigned ticks;
	enum lab_phase phase;
	uint64_t t0, phase_ms; /* lab start, phase start (uv_now) */
	uint64_t rng;
	struct lab_measure m[LAB_MEASURES];
	unsigned cur, inflight;
	enum lab_phase after_measure; /* where a measurement leads */
	/* results */
	uint64_t grow_ms, consistent_ms, fingers_ms, repair_ms;
	double finger_ok;
	int consistent, repaired;
	uint64_t rest_sent0, rest_sent, rest_served0, rest_served;
	uint64_t rest_window_ms;
	int rest_timers; /* the default timers are set */
	uint64_t settle_failed, settle_timeouts; /* requests, at the end */
	uint64_t rest_op0[CHORD_OP_COUNT]; /* served by op at rest start */
	json_t *rest_ops; /* served by op per node per second at rest */
	unsigned killed;
	int failed;
};

/* One lookup of the lab. */
struct lab_lookup {
	struct lab *lab;
	struct lab_measure *m;
	struct chord_id id;
};

static uint64_t
lab_random(struct lab *l)
{
	uint64_t x = l->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	l->rng = x;
	return x;
}

static int
lab_node_cmp(const void *a, const void *b)
{
	return chord_id_cmp(&((const struct chord_node *)a)->id,
	    &((const struct chord_node *)b)->id);
}

/* The live set, sorted by id: the truth lookups are checked against. */
static void
lab_live(struct lab *l)
{
	l->nlive = 0;
	for (unsigned i = 0; i < l->n; i++)
		if (l->nodes[i].o != NULL)
			l->live[l->nlive++] = l->nodes[i].n;
	qsort(l->live, l->nlive, sizeof(*l->live), lab_node_cmp);
	for (unsigned k = 0; k < l->nlive; k++)
		for (unsigned i = 0; i < l->n; i++)
			if (l->nodes[i].o != NULL &&
			    chord_node_same(&l->nodes[i].n, &l->live[k])) {
				l->live_idx[k] = i;
				break;
			}
}

/* Index in live[] of successor(id). */
static unsigned
lab_truth(const struct lab *l, const struct chord_id *id)
{
	unsigned lo = 0, hi = l->nlive;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (chord_id_cmp(&l->live[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == l->nlive ? 0 : lo;
}

static int
lab_consistent(const struct lab *l)
{
	for (unsigned k = 0; k < l->nlive; k++) {
		const struct overlay *o = l->nodes[l->live_idx[k]].o;
		const struct chord_node *next = &l->live[(k + 1) % l->nlive];
		const struct chord_node *prev =
		    &l->live[(k + l->nlive - 1) % l->nlive];

		if (l->nlive == 1) {
			if (o->nsucc != 0)
				return 0;
			continue;
		}
		if (o->nsucc == 0 || !chord_node_same(&o->succ[0], next) ||
		    !o->has_pred || !chord_node_same(&o->pred, prev))
			return 0;
	}
	return 1;
}

/* Live nodes whose successor or predecessor is not the true one. */
static unsigned
lab_wrong(const struct lab *l)
{
	unsigned wrong = 0;

	for (unsigned k = 0; k < l->nlive && l->nlive > 1; k++) {
		const struct overlay *o = l->nodes[l->live_idx[k]].o;

		wrong += o->nsucc == 0 ||
		    !chord_node_same(
			&o->succ[0], &l->live[(k + 1) % l->nlive]) ||
		    !o->has_pred ||
		    !chord_node_same(
			&o->pred, &l->live[(k + l->nlive - 1) % l->nlive]);
	}
	return wrong;
}

/* The share of finger entries that name the true successor. */
static double
lab_fingers(const struct lab *l)
{
	uint64_t ok = 0, total = 0;
	struct chord_id start;

	for (unsigned k = 0; k < l->nlive; k++) {
		const struct overlay *o = l->nodes[l->live_idx[k]].o;

		for (unsigned i = 0; i < CHORD_FINGERS; i++) {
			chord_id_add_pow2(&o->self.id, i, &start);
			total++;
			ok += o->has_finger[i] &&
			    chord_node_same(
				&o->finger[i], &l->live[lab_truth(l, &start)]);
		}
	}
	return total ? (double)ok / (double)total : 1.0;
}

static void
lab_timers(struct lab *l, uint64_t stab, uint64_t fix, uint64_t pred)
{
	for (unsigned i = 0; i < l->n; i++) {
		struct overlay *o = l->nodes[i].o;

		if (o == NULL)
			continue;
		o->cfg.stabilize_ms = stab;
		o->cfg.fix_fingers_ms = fix;
		o->cfg.check_predecessor_ms = pred;
		chord_timers_restart(o);
	}
}

/* Requests that failed, and of those timed out, over every node. */
static void
lab_failures(const struct lab *l, uint64_t *failed, uint64_t *timeouts)
{
	*failed = *timeouts = 0;
	for (unsigned i = 0; i < l->n; i++) {
		const struct overlay *o = l->nodes[i].o;

		if (o == NULL)
			continue;
		*failed += o->n.requests_failed;
		*timeouts += o->n.timeouts;
	}
}

/* Requests served, by op, over every node. */
static void
lab_ops(const struct lab *l, uint64_t ops[CHORD_OP_COUNT])
{
	memset(ops, 0, CHORD_OP_COUNT * sizeof(*ops));
	for (unsigned i = 0; i < l->n; i++)
		for (int op = 0; op < CHORD_OP_COUNT && l->nodes[i].o; op++)
			ops[op] += l->nodes[i].o->n.served[op];
}

static void
lab_counts(const struct lab *l, uint64_t *sent, uint64_t *served)
{
	*sent = *served = 0;
	for (unsigned i = 0; i < l->n; i++) {
		const struct overlay *o = l->nodes[i].o;

		if (o == NULL)
			continue;
		*sent += o->n.requests_sent;
		for (int op = 0; op < CHORD_OP_COUNT; op++)
			*served += o->n.served[op];
	}
}

static void
lab_set_phase(struct lab *l, enum lab_phase p)
{
	l->phase = p;
	l->phase_ms = uv_now(&l->loop);
}

/* ----------------------------------------------------------- starting */

static int
lab_start_node(struct lab *l, unsigned i)
{
	struct lab_node *ln = &l->nodes[i];
	struct overlay_env env;
	struct chord_config cfg;
	struct sockaddr_in ring = ln->bind;

	memset(&env, 0, sizeof(env));
	env.loop = &l->loop;
	ring.sin_port = htons(l->opt->port);
	if (course_peer_from_sockaddr((struct sockaddr *)&ln->bind, NULL,
		(uint16_t)(l->opt->port + 1), &env.self) != 0)
		return -1;
	env.dial.timeout_ms = 3000;
	env.dial.bind4 = (struct sockaddr *)&ln->bind;
	chord_config_defaults(&cfg);
	memcpy(&cfg.listen[0], &ring, sizeof(ring));
	cfg.nlisten = 1;
	cfg.listen_set = 1;
	cfg.stabilize_ms = l->opt->stabilize_ms;
	cfg.fix_fingers_ms = l->opt->fix_fingers_ms;
	cfg.check_predecessor_ms = l->opt->check_predecessor_ms;
	cfg.lone_retry_ms = 1000;
	if (l->started > 0) {
		/* Join through a random node that is in the ring. */
		for (unsigned tries = 0; tries < 16; tries++) {
			unsigned j = (unsigned)(lab_random(l) % l->started);

			if (l->nodes[j].o != NULL &&
			    (l->nodes[j].o->state == CHORD_RUNNING ||
				tries == 15)) {
				memcpy(&cfg.bootstrap, &l->nodes[j].bind,
				    sizeof(l->nodes[j].bind));
				((struct sockaddr_in *)&cfg.bootstrap)
				    ->sin_port = htons(l->opt->port);
				cfg.has_bootstrap = 1;
				break;
			}
		}
	}
	if (chord_ops.start(&env, &cfg, &ln->o) != 0)
		return -1;
	ln->n = ln->o->self;
	return 0;
}

/* ------------------------------------------------------------ lookups */

static void lab_measure_pump(struct lab *l);

static void
lab_lookup_done(void *arg, int err, const struct chord_node *succ,
    const struct chord_node *replier, unsigned hops)
{
	struct lab_lookup *lk = arg;
	struct lab *l = lk->lab;
	struct lab_measure *m = lk->m;

	(void)replier;
	l->inflight--;
	m->done++;
	if (err == 0 &&
	    chord_node_same(succ, &l->live[lab_truth(l, &lk->id)])) {
		m->hops[m->ok++] = hops;
	}
	free(lk);
	lab_measure_pump(l);
}

static void
lab_measure_pump(struct lab *l)
{
	struct lab_measure *m = &l->m[l->cur];

	while (m->started < m->want && l->inflight < LAB_INFLIGHT) {
		struct lab_lookup *lk = xcalloc(1, sizeof(*lk));
		struct overlay *o =
		    l->nodes[l->live_idx[lab_random(l) % l->nlive]].o;

		lk->lab = l;
		lk->m = m;
		for (unsigned i = 0; i < CHORD_ID_BYTES; i += 8) {
			uint64_t r = lab_random(l);

			memcpy(&lk->id.b[i], &r,
			    CHORD_ID_BYTES - i < 8 ? CHORD_ID_BYTES - i : 8);
		}
		m->started++;
		l->inflight++;
		chord_lookup_start(o, &lk->id, NULL, 1, lab_lookup_done, lk);
	}
	if (m->done == m->want && m->ended_ms == 0) {
		m->ended_ms = uv_now(&l->loop);
		lab_set_phase(l, l->after_measure);
	}
}

static void
lab_measure_start(struct lab *l, unsigned which, enum lab_phase next)
{
	struct lab_measure *m = &l->m[which];

	l->cur = which;
	m->want = l->opt->lookups;
	m->hops = xcalloc(m->want ? m->want : 1, sizeof(*m->hops));
	m->started_ms = uv_now(&l->loop);
	l->after_measure = next;
	lab_set_phase(l, LAB_MEASURE);
	lab_measure_pump(l);
}

/* -------------------------------------------------------------- phases */

static void
lab_kill(struct lab *l)
{
	unsigned want = l->n * l->opt->kill_pct / 100;

	if (want >= l->nlive)
		want = l->nlive - 1;
	while (l->killed < want) {
		unsigned i = (unsigned)(lab_random(l) % l->n);

		if (l->nodes[i].o == NULL)
			continue;
		chord_crash(l->nodes[i].o);
		l->nodes[i].o = NULL;
		l->killed++;
	}
	lab_live(l);
}

static void
lab_stop_all(struct lab *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (l->nodes[i].o != NULL)
			chord_crash(l->nodes[i].o); /* the run is over */
		l->nodes[i].o = NULL;
	}
	uv_timer_stop(&l->tick);
	uv_close((uv_handle_t *)&l->tick, NULL);
	lab_set_phase(l, LAB_DONE);
}

static void
lab_tick(uv_timer_t *t)
{
	struct lab *l = t->data;
	uint64_t now = uv_now(&l->loop), in_phase = now - l->phase_ms;
	unsigned batch;
	int check = ++l->ticks % LAB_CHECK_TICKS == 0;

	switch (l->phase) {
	case LAB_GROW:
		/* A share of the ring joins per tick, so the fingers keep up. */
		batch = l->started / 8 > 0 ? l->started / 8 : 1;
		while (batch-- > 0 && l->started < l->n) {
			if (lab_start_node(l, l->started) != 0) {
				log_error(
				    "lab: cannot start node %u", l->started);
				l->failed = 1;
				lab_stop_all(l);
				return;
			}
			l->started++;
		}
		if (l->started == l->n) {
			l->grow_ms = now - l->t0;
			lab_live(l);
			lab_set_phase(l, LAB_SETTLE);
		}
		return;
	case LAB_SETTLE:
		if (!check)
			return;
		if (!l->consistent && lab_consistent(l)) {
			l->consistent = 1;
			l->consistent_ms = now - l->t0;
		}
		l->finger_ok = lab_fingers(l);
		if (l->opt->verbose)
			fprintf(stderr,
			    "lab: %.1f s: %u of %u nodes with a wrong "
			    "successor or predecessor, fingers %.1f %% right\n",
			    (double)(now - l->t0) / 1000.0, lab_wrong(l),
			    l->nlive, 100.0 * l->finger_ok);
		if ((l->consistent && l->finger_ok >= 0.99) ||
		    in_phase >= l->opt->settle_ms) {
			l->fingers_ms = now - l->t0;
			lab_failures(l, &l->settle_failed, &l->settle_timeouts);
			lab_measure_start(l, 0, LAB_REST_WARM);
		}
		return;
	case LAB_MEASURE:
		return;
	case LAB_REST_WARM:
		if (!l->rest_timers) {
			struct chord_config d;

			chord_config_defaults(&d);
			lab_timers(l, d.stabilize_ms, d.fix_fingers_ms,
			    d.check_predecessor_ms);
			l->rest_timers = 1;
		}
		/* Every timer has fired once with its old interval. */
		if (in_phase < 2 * l->opt->check_predecessor_ms + 1000)
			return;
		lab_counts(l, &l->rest_sent0, &l->rest_served0);
		lab_ops(l, l->rest_op0);
		lab_set_phase(l, LAB_REST);
		return;
	case LAB_REST:
		if (in_phase < l->opt->rest_ms)
			return;
		lab_counts(l, &l->rest_sent, &l->rest_served);
		l->rest_window_ms = in_phase;
		{
			uint64_t ops[CHORD_OP_COUNT];

			lab_ops(l, ops);
			l->rest_ops = json_object();
			for (int op = 1; op < CHORD_OP_COUNT; op++)
				if (ops[op] > l->rest_op0[op])
					json_object_set_new(l->rest_ops,
					    chord_op_name(op),
					    json_real((double)(ops[op] -
							  l->rest_op0[op]) /
						((double)in_phase / 1000.0) /
						l->n));
		}
		lab_timers(l, l->opt->stabilize_ms, l->opt->fix_fingers_ms,
		    l->opt->check_predecessor_ms);
		lab_kill(l);
		lab_measure_start(l, 1, LAB_REPAIR);
		return;
	case LAB_REPAIR:
		if (!check)
			return;
		if (l->opt->verbose)
			fprintf(stderr,
			    "lab: %.1f s after the kill: %u of %u nodes with a "
			    "wrong successor or predecessor\n",
			    (double)(now - l->m[1].started_ms) / 1000.0,
			    lab_wrong(l), l->nlive);
		if (lab_consistent(l)) {
			l->repaired = 1;
			l->repair_ms = now - l->m[1].started_ms;
		} else if (in_phase < l->opt->settle_ms) {
			return;
		}
		lab_measure_start(l, 2, LAB_DONE);
		return;
	case LAB_DONE:
		lab_stop_all(l);
		return;
	}
}

/* ------------------------------------------------------------- results */

static int
lab_uint_cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

static json_t *
lab_measure_json(struct lab_measure *m)
{
	double sum = 0;
	unsigned p99 = 0, max = 0;

	qsort(m->hops, m->ok, sizeof(*m->hops), lab_uint_cmp);
	for (unsigned i = 0; i < m->ok; i++)
		sum += m->hops[i];
	if (m->ok > 0) {
		p99 = m->hops[(unsigned)ceil(0.99 * m->ok) - 1];
		max = m->hops[m->ok - 1];
	}
	return json_pack("{s:i,s:i,s:f,s:f,s:i,s:i,s:I}", "lookups",
	    (int)m->want, "ok", (int)m->ok, "success",
	    m->want ? (double)m->ok / m->want : 0.0, "hops_mean",
	    m->ok ? sum / m->ok : 0.0, "hops_p99", (int)p99, "hops_max",
	    (int)max, "ms", (json_int_t)(m->ended_ms - m->started_ms));
}

static void
lab_report(struct lab *l)
{
	double secs = (double)l->rest_window_ms / 1000.0;
	json_t *r, *ms[LAB_MEASURES];
	char *text;

	for (int i = 0; i < LAB_MEASURES; i++)
		ms[i] = lab_measure_json(&l->m[i]);
	r = json_pack("{s:i,s:f,s:I,s:b,s:I,s:f,s:I,s:o,s:{s:f,s:f,s:f},"
		      "s:i,s:o,s:b,s:I,s:o}",
	    "nodes", (int)l->n, "half_log2_n", 0.5 * log2((double)l->n),
	    "grow_ms", (json_int_t)l->grow_ms, "consistent", l->consistent,
	    "consistent_ms", (json_int_t)l->consistent_ms, "fingers_right",
	    l->finger_ok, "settled_ms", (json_int_t)l->fingers_ms, "lookups",
	    ms[0], "rest", "seconds", secs, "sent_per_node_per_s",
	    secs > 0 ? (double)(l->rest_sent - l->rest_sent0) / secs / l->n
		     : 0.0,
	    "served_per_node_per_s",
	    secs > 0 ? (double)(l->rest_served - l->rest_served0) / secs / l->n
		     : 0.0,
	    "killed", (int)l->killed, "after_kill", ms[1], "repaired",
	    l->repaired, "repair_ms", (json_int_t)l->repair_ms,
	    "repaired_lookups", ms[2]);
	json_object_set_new(r, "rest_served_by_op", l->rest_ops);
	l->rest_ops = NULL;
	json_object_set_new(r, "settle_requests_failed",
	    json_integer((json_int_t)l->settle_failed));
	json_object_set_new(
	    r, "settle_timeouts", json_integer((json_int_t)l->settle_timeouts));
	if (l->opt->json) {
		text = json_dumps(r, JSON_COMPACT);
		printf("%s\n", text);
		free(text);
	} else {
		json_t *a = json_object_get(r, "lookups");
		json_t *b = json_object_get(r, "after_kill");
		json_t *c = json_object_get(r, "repaired_lookups");

		if (l->consistent)
			printf("ring of %u nodes: grown in %.1f s, consistent "
			       "at %.1f s, ",
			    l->n, l->grow_ms / 1000.0,
			    l->consistent_ms / 1000.0);
		else
			printf("ring of %u nodes: grown in %.1f s, NOT "
			       "consistent, ",
			    l->n, l->grow_ms / 1000.0);
		printf("fingers %.1f %% right at %.1f s (requests failed "
		       "%llu, timed out %llu)\n",
		    100.0 * l->finger_ok, l->fingers_ms / 1000.0,
		    (unsigned long long)l->settle_failed,
		    (unsigned long long)l->settle_timeouts);
		printf("lookups: %d/%d right, hops mean %.2f (1/2 log2 N = "
		       "%.2f), p99 %d\n",
		    (int)json_integer_value(json_object_get(a, "ok")),
		    (int)json_integer_value(json_object_get(a, "lookups")),
		    json_real_value(json_object_get(a, "hops_mean")),
		    0.5 * log2((double)l->n),
		    (int)json_integer_value(json_object_get(a, "hops_p99")));
		printf("at rest (default timers): %.2f requests sent per node "
		       "per second\n",
		    json_real_value(json_object_get(
			json_object_get(r, "rest"), "sent_per_node_per_s")));
		printf("%u of %u stopped at once: %d/%d right at once "
		       "(mean %.2f hops); ring %s in %.1f s; then %d/%d right "
		       "(mean %.2f hops, p99 %d)\n",
		    l->killed, l->n,
		    (int)json_integer_value(json_object_get(b, "ok")),
		    (int)json_integer_value(json_object_get(b, "lookups")),
		    json_real_value(json_object_get(b, "hops_mean")),
		    l->repaired ? "repaired" : "NOT repaired",
		    l->repair_ms / 1000.0,
		    (int)json_integer_value(json_object_get(c, "ok")),
		    (int)json_integer_value(json_object_get(c, "lookups")),
		    json_real_value(json_object_get(c, "hops_mean")),
		    (int)json_integer_value(json_object_get(c, "hops_p99")));
	}
	json_decref(r);
}

/* -------------------------------------------------------------- run */

void
chord_lab_defaults(struct chord_lab_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->nodes = 64;
	o->base.sin_family = AF_INET;
	o->base.sin_addr.s_addr = htonl(0x7f003201); /* 127.0.50.1 */
	o->port = CHORD_NODE_PORT;
	o->lookups = 1000;
	o->kill_pct = 25;
	o->stabilize_ms = 1000;
	o->fix_fingers_ms = 500;
	o->check_predecessor_ms = 2000;
	o->settle_ms = 300000;
	o->rest_ms = 10000;
	o->seed = 1;
}

static void
lab_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int
chord_lab_run(const struct chord_lab_opts *opt)
{
	struct lab l;
	struct rlimit rl;
	uint32_t base = ntohl(opt->base.sin_addr.s_addr);

	if (opt->nodes == 0 || opt->nodes > 65536 ||
	    (base & 0xff000000u) != 0x7f000000u ||
	    ((base + opt->nodes - 1) & 0xff000000u) != 0x7f000000u) {
		log_error("lab: the nodes must fit in 127.0.0.0/8 (1 to 65536 "
			  "of them from --base)");
		return 1;
	}
	/* A listener per node and two descriptors per request in flight. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)opt->nodes * 4 + 256)
		log_warn("lab: only %llu file descriptors for %u nodes "
			 "(raise ulimit -n)",
		    (unsigned long long)rl.rlim_cur, opt->nodes);
	log_set_level(opt->verbose ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR);
	memset(&l, 0, sizeof(l));
	l.opt = opt;
	l.n = opt->nodes;
	l.rng = opt->seed * 0x9e3779b97f4a7c15ULL + 1;
	l.nodes = xcalloc(l.n, sizeof(*l.nodes));
	l.live = xcalloc(l.n, sizeof(*l.live));
	l.live_idx = xcalloc(l.n, sizeof(*l.live_idx));
	for (unsigned i = 0; i < l.n; i++) {
		l.nodes[i].bind.sin_family = AF_INET;
		l.nodes[i].bind.sin_addr.s_addr = htonl(base + i);
	}
	uv_loop_init(&l.loop);
	uv_timer_init(&l.loop, &l.tick);
	l.tick.data = &l;
	l.t0 = uv_now(&l.loop);
	lab_set_phase(&l, LAB_GROW);
	uv_timer_start(&l.tick, lab_tick, 1, LAB_TICK_MS);
	uv_run(&l.loop, UV_RUN_DEFAULT);
	uv_walk(&l.loop, lab_walk_close, NULL);
	uv_run(&l.loop, UV_RUN_DEFAULT);
	uv_loop_close(&l.loop);
	if (!l.failed)
		lab_report(&l);
	for (int i = 0; i < LAB_MEASURES; i++)
		free(l.m[i].hops);
	json_decref(l.rest_ops);
	free(l.nodes);
	free(l.live);
	free(l.live_idx);
	return l.failed;
}
