/*
 * The Kazaa ordinary peer role (course.md §7.3). Joining: SUPE to the
 * known nodes and to every supernode seen before, collect ASUPs for the
 * window, then LOGI at the candidates in order until one accepts, then
 * ADFF every shared file. Choice rule (docs/design.md): a known node that
 * answered first, otherwise the supernodes in the order their ASUPs came
 * (the fastest first); the round ends early as soon as a known node
 * answers. While logged in, the supernode's main port is checked every
 * check_interval; two failures in a row, or a failed FIND, and the peer
 * joins again (another supernode if its own is gone) and re-sends every
 * ADFF. Searches are FINDs, one at a time (existing supernodes mix
 * concurrent FINDs, §12 item 3). LOGO on a clean stop.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "afinhits.h"
#include "kazaa_int.h"
#include "net/conn.h"
#include "rr.h"
#include "store/library.h"
#include "warren/error.h"

#define KZP_CANDIDATES 16
#define KZP_SEEN       16
#define KZP_PENDING_MS 100 /* ADFF/DEFF pairs that cancel out (§12.19) */

enum kzp_state {
	KZP_SEARCHING, /* SUPE round: collecting ASUPs */
	KZP_LOGGING_IN,
	KZP_JOINED,
	KZP_WAITING, /* backoff before the next round */
};

/* A queued FIND. */
struct overlay_search {
	struct kz_search_tag tag; /* first: is_super = 0 */
	struct kz_peer *pr;
	char term[COURSE_TERM_LEN + 1];
	overlay_done_cb done;
	void *arg;
	struct rr *rr;
	struct afinhits reply; /* the AFIN, turned into hits */
	struct overlay_search *next;
};

/* An ADFF or DEFF waiting KZP_PENDING_MS. */
struct kzp_pending {
	char md5[COURSE_MD5_LEN + 1];
	char name[COURSE_NAME_LEN];
	size_t name_len;
	int add;
	uint64_t due_ms;
	struct kzp_pending *next;
};

struct kz_peer {
	struct overlay *k;
	enum kzp_state state;
	struct course_peer sn; /* JOINED, LOGGING_IN: the supernode */
	char session[COURSE_SESSION_LEN];
	struct course_peer cand[KZP_CANDIDATES]; /* this round's answers */
	int cand_known[KZP_CANDIDATES];
	unsigned ncand, icand;
	struct course_peer seen[KZP_SEEN]; /* supernodes met, newest last */
	unsigned nseen;
	unsigned refused; /* LOGI refused this round */
	struct kz_coll *coll;
	struct rr *rr; /* LOGI in flight */
	uv_timer_t *timer;
	uv_timer_t *pending_timer;
	struct dial *check; /* supernode check in flight */
	unsigned check_fails;
	uint64_t backoff_ms;
	uint64_t joined_ms;
	struct overlay_search *queue; /* FINDs, head in flight */
	struct kzp_pending *pending;
};

static const char *
kzp_state_name(enum kzp_state s)
{
	switch (s) {
	case KZP_SEARCHING:
		return "searching";
	case KZP_LOGGING_IN:
		return "logging-in";
	case KZP_JOINED:
		return "joined";
	case KZP_WAITING:
		return "waiting";
	}
	return "?";
}

static void kzp_round(struct kz_peer *pr);
static void kzp_find_next(struct kz_peer *pr);

static void
kzp_set_state(struct kz_peer *pr, enum kzp_state s)
{
	if (pr->state != s)
		log_debug("kazaa peer: %s -> %s", kzp_state_name(pr->state),
		    kzp_state_name(s));
	pr->state = s;
}

static struct rr_opts
kzp_rr_opts(struct kz_peer *pr, uint64_t timeout_ms)
{
	struct rr_opts o;

	memset(&o, 0, sizeof(o));
	o.dial = pr->k->env.dial;
	o.timeout_ms = timeout_ms;
	o.rcap = 8192;
	return o;
}

static void
kzp_remember(struct kz_peer *pr, const struct course_peer *p)
{
	for (unsigned i = 0; i < pr->nseen; i++)
		if (peer_same(&pr->seen[i], p))
			return;
	if (pr->nseen == KZP_SEEN)
		memmove(&pr->seen[0], &pr->seen[1],
		    sizeof(pr->seen[0]) * --pr->nseen);
	pr->seen[pr->nseen++] = *p;
}

/* ------------------------------------------------------- publishing */

static void
kzp_send_file(struct kz_peer *pr, const char *md5, const char *name,
    size_t name_len, int add)
{
	struct course_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = add ? COURSE_ADFF : COURSE_DEFF;
	memcpy(m.session, pr->session, COURSE_SESSION_LEN);
	memcpy(m.md5, md5, sizeof(m.md5));
	m.name.ptr = name;
	m.name.len = name_len;
	kz_oneshot(pr->k, &pr->sn, &m);
	if (add)
		pr->k->n.adff++;
	else
		pr->k->n.deff++;
}

static void
kzp_adff_all_one(void *arg, const struct library_file *f)
{
	struct kz_peer *pr = arg;

	if (!f->name_too_long)
		kzp_send_file(pr, f->md5, f->name, f->name_len, 1);
}

static void
kzp_pending_flush(uv_timer_t *t)
{
	struct kz_peer *pr = t->data;
	uint64_t now = uv_now(pr->k->env.loop);
	struct kzp_pending **pp = &pr->pending, *p;

	while ((p = *pp) != NULL) {
		if (p->due_ms > now) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (pr->state == KZP_JOINED)
			kzp_send_file(pr, p->md5, p->name, p->name_len, p->add);
		free(p);
	}
	if (pr->pending != NULL)
		uv_timer_start(
		    pr->pending_timer, kzp_pending_flush, KZP_PENDING_MS, 0);
	kzp_find_next(pr); /* a search queued from search() */
}

void
kz_peer_publish(struct kz_peer *pr, const struct library_file *f, int add)
{
	struct kzp_pending *p, **pp;

	if (f->name_too_long)
		return;
	/* The opposite one-shot for the same md5 still waiting: both go. */
	for (pp = &pr->pending; (p = *pp) != NULL; pp = &p->next) {
		if (strcmp(p->md5, f->md5) == 0 && p->add != add) {
			*pp = p->next;
			free(p);
			return;
		}
	}
	p = xcalloc(1, sizeof(*p));
	memcpy(p->md5, f->md5, sizeof(p->md5));
	memcpy(p->name, f->name, f->name_len);
	p->name_len = f->name_len;
	p->add = add;
	p->due_ms = uv_now(pr->k->env.loop) + KZP_PENDING_MS;
	p->next = pr->pending;
	pr->pending = p;
	if (!uv_is_active((uv_handle_t *)pr->pending_timer))
		uv_timer_start(
		    pr->pending_timer, kzp_pending_flush, KZP_PENDING_MS, 0);
}

/* ----------------------------------------------------------- joining */

static void kzp_check(uv_timer_t *t);

/* The supernode is gone (or refused us): join again. */
static void
kzp_lost(struct kz_peer *pr, const char *why)
{
	char label[ADDR_STRLEN];

	if (pr->state != KZP_JOINED)
		return;
	peer_label(&pr->sn, label, sizeof(label));
	log_warn("kazaa: supernode %s lost (%s): joining again", label, why);
	pr->k->n.rejoins++;
	if (pr->check != NULL) {
		dial_cancel(pr->check);
		pr->check = NULL;
	}
	pr->check_fails = 0;
	kzp_round(pr);
}

static void
kzp_check_done(void *arg, struct conn *c, int status)
{
	struct kz_peer *pr = arg;

	if (c != NULL)
		conn_close(c, 0);
	if (status == UV_ECANCELED)
		return;
	pr->check = NULL;
	if (status == 0) {
		pr->check_fails = 0;
		return;
	}
	if (++pr->check_fails >= 2)
		kzp_lost(pr, uv_strerror(status));
}

/* Is the supernode still there? Connect to its main port and close. */
static void
kzp_check(uv_timer_t *t)
{
	struct kz_peer *pr = t->data;
	struct download_source src;

	if (pr->state != KZP_JOINED || pr->check != NULL)
		return;
	peer_source(&pr->sn, &src);
	pr->check = dial_start(pr->k->env.loop, src.addrs, src.naddrs,
	    &pr->k->env.dial, kzp_check_done, pr);
}

static void kzp_login_next(struct kz_peer *pr);
static void kzp_round_timer(uv_timer_t *t);

static int
kzp_algi_read(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct kz_peer *pr = arg;
	struct course_msg m;
	int n = course_decode_algi(buf, len, &m);

	if (n <= 0)
		return n == 0 ? 0 : n;
	memcpy(pr->session, m.session, COURSE_SESSION_LEN);
	*done = 1;
	return n;
}

static void
kzp_login_done(void *arg, int status)
{
	struct kz_peer *pr = arg;
	char label[ADDR_STRLEN];

	pr->rr = NULL;
	peer_label(&pr->sn, label, sizeof(label));
	if (status != 0 || course_session_is_null(pr->session)) {
		if (status == 0) {
			pr->refused++;
			log_info(
			    "kazaa: supernode %s refused the login (full?)",
			    label);
		} else {
			log_info("kazaa: login at %s failed: %s", label,
			    status < 0 && status > -4096
				? uv_strerror(status)
				: warren_strerror(status));
		}
		pr->icand++;
		kzp_login_next(pr);
		return;
	}
	log_info("kazaa: logged in at supernode %s", label);
	kzp_set_state(pr, KZP_JOINED);
	pr->joined_ms = uv_now(pr->k->env.loop);
	pr->backoff_ms = 0;
	pr->check_fails = 0;
	library_foreach(pr->k->env.lib, kzp_adff_all_one, pr);
	uv_timer_start(
	    pr->timer, kzp_check, pr->k->cfg.check_ms, pr->k->cfg.check_ms);
	kzp_find_next(pr);
}

/* The next candidate, or give up this round. */
static void
kzp_login_next(struct kz_peer *pr)
{
	struct overlay *k = pr->k;
	struct rr_opts o = kzp_rr_opts(pr, 10000);
	struct course_msg m;
	char buf[COURSE_MSG_MAX];
	int len;

	while (pr->icand < pr->ncand) {
		pr->sn = pr->cand[pr->icand];
		memset(&m, 0, sizeof(m));
		m.kind = COURSE_LOGI;
		m.peer = k->env.self;
		len = course_encode(&m, buf, sizeof(buf));
		memset(pr->session, '0', sizeof(pr->session));
		kzp_set_state(pr, KZP_LOGGING_IN);
		pr->rr = rr_start(k->env.loop, &o, &pr->sn, buf, (size_t)len,
		    kzp_algi_read, kzp_login_done, pr);
		if (pr->rr != NULL)
			return;
		pr->icand++;
	}
	/* Nobody took us. */
	kzp_set_state(pr, KZP_WAITING);
	if (k->auto_role &&
	    uv_now(k->env.loop) - k->started_ms >= k->cfg.promote_after_ms &&
	    (pr->ncand == 0 || pr->refused == pr->ncand)) {
		kz_promote(k,
		    pr->ncand == 0 ? "no supernode found"
				   : "every supernode is full");
		return; /* pr is gone */
	}
	pr->backoff_ms = pr->backoff_ms ? pr->backoff_ms * 2 : 1000;
	if (pr->backoff_ms > 30000)
		pr->backoff_ms = 30000;
	if (k->auto_role && pr->backoff_ms > k->cfg.supe_window_ms)
		pr->backoff_ms = k->cfg.supe_window_ms;
	uv_timer_stop(pr->timer);
	uv_timer_start(pr->timer, kzp_round_timer, pr->backoff_ms, 0);
}

static void
kzp_round_timer(uv_timer_t *t)
{
	kzp_round(t->data);
}

static int
kzp_is_known(struct kz_peer *pr, const struct course_peer *p)
{
	for (unsigned i = 0; i < pr->k->cfg.nknown; i++) {
		struct course_peer kp;

		if (peer_from_sockaddr(
			(const struct sockaddr *)&pr->k->cfg.known[i], &kp) ==
			0 &&
		    peer_same(&kp, p))
			return 1;
	}
	return 0;
}

/* The ASUP window closed: log in at the candidates (unless a known node
 * answered earlier and the login is already under way). */
static void
kzp_round_end(void *owner)
{
	struct kz_peer *pr = owner;

	pr->coll = NULL;
	if (pr->state != KZP_SEARCHING)
		return;
	pr->icand = 0;
	pr->refused = 0;
	kzp_login_next(pr);
}

/*
 * An ASUP: a supernode. Every one is remembered (the way back in if ours
 * dies), even after the login started; during the round it is also a
 * candidate. A known node that answers is tried first, at once.
 */
static void
kzp_on_asup(void *owner, const struct course_msg *m)
{
	struct kz_peer *pr = owner;

	if (peer_same(&m->peer, &pr->k->env.self))
		return;
	kzp_remember(pr, &m->peer);
	if (pr->state != KZP_SEARCHING || pr->ncand == KZP_CANDIDATES)
		return;
	for (unsigned i = 0; i < pr->ncand; i++)
		if (peer_same(&pr->cand[i], &m->peer))
			return;
	if (kzp_is_known(pr, &m->peer)) {
		memmove(&pr->cand[1], &pr->cand[0],
		    sizeof(pr->cand[0]) * pr->ncand);
		pr->cand[0] = m->peer;
		pr->ncand++;
		pr->icand = 0;
		pr->refused = 0;
		kzp_login_next(pr);
		return;
	}
	pr->cand[pr->ncand++] = m->peer;
}

/* A join round: SUPE to the known nodes and every supernode seen. */
static void
kzp_round(struct kz_peer *pr)
{
	struct overlay *k = pr->k;
	struct course_str none = {NULL, 0};
	char buf[COURSE_MSG_MAX];
	int len;

	uv_timer_stop(pr->timer);
	if (pr->coll != NULL)
		kz_coll_end(pr->coll);
	pr->ncand = 0;
	kzp_set_state(pr, KZP_SEARCHING);
	pr->coll = kz_coll_new(k, COURSE_ASUP, k->cfg.supe_window_ms,
	    kzp_on_asup, kzp_round_end, pr);
	if (pr->coll == NULL) {
		kzp_login_next(pr); /* backoff */
		return;
	}
	len = kz_encode_flood(k, COURSE_SUPE, kz_coll_pktid(pr->coll),
	    k->cfg.supe_ttl, none, buf);
	for (unsigned i = 0; i < k->cfg.nknown; i++) {
		struct course_peer p;

		if (peer_from_sockaddr(
			(const struct sockaddr *)&k->cfg.known[i], &p) == 0 &&
		    !peer_same(&p, &k->env.self))
			oneshot_send(
			    k->os, &p, buf, (size_t)len, NULL, NULL, 0);
	}
	for (unsigned i = 0; i < pr->nseen; i++)
		if (!kzp_is_known(pr, &pr->seen[i]))
			oneshot_send(k->os, &pr->seen[i], buf, (size_t)len,
			    NULL, NULL, 0);
}

/* ------------------------------------------------------------ floods */

/* A SUPE reaching a peer goes to its supernode only; never answered. */
static void
kzp_on_supe(struct kz_peer *pr, struct conn *c, const struct course_msg *m)
{
	struct overlay *k = pr->k;
	struct sockaddr_storage from = c->peer;
	char buf[COURSE_MSG_MAX];
	size_t len = course_kind_len(m->kind);
	unsigned ttl = m->ttl;
	struct course_msg q = *m;

	memcpy(buf, c->rbuf, len);
	conn_close(c, 0);
	if (!kz_flood_accept(k, &q, (struct sockaddr *)&from) ||
	    pr->state != KZP_JOINED || ttl <= 1)
		return;
	ttl--;
	if (ttl > k->cfg.flood.max_forward_ttl)
		ttl = k->cfg.flood.max_forward_ttl;
	buf[80] = (char)('0' + ttl / 10);
	buf[81] = (char)('0' + ttl % 10);
	k->n.forwarded++;
	oneshot_send(k->os, &pr->sn, buf, len, NULL, NULL, 0);
}

void
kz_peer_on_request(
    struct kz_peer *pr, struct conn *c, const struct course_msg *m)
{
	if (m->kind == COURSE_SUPE)
		kzp_on_supe(pr, c, m);
	else
		conn_close(c, 0); /* LOGI, QUER, FIND...: not for a peer */
}

/* ------------------------------------------------------------- FINDs */

static int
kzp_afin_read(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct overlay_search *s = arg;

	return afinhits_feed(&s->reply, buf, len, done);
}

static void
kzp_search_free(struct overlay_search *s)
{
	struct overlay_search **pp;

	for (pp = &s->pr->queue; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	if (s->rr != NULL)
		rr_cancel(s->rr);
	afinhits_release(&s->reply);
	free(s);
}

static void
kzp_find_done(void *arg, int status)
{
	struct overlay_search *s = arg;
	struct kz_peer *pr = s->pr;
	overlay_done_cb done = s->done;
	void *darg = s->arg;
	char msg[160];

	s->rr = NULL;
	msg[0] = '\0';
	if (status != 0 && !course_afin_done(&s->reply.afin))
		snprintf(msg, sizeof(msg), "FIND at the supernode failed: %s",
		    status < 0 && status > -4096 ? uv_strerror(status)
						 : warren_strerror(status));
	kzp_search_free(s);
	done(darg, msg[0] ? WARREN_EREFUSED : 0, msg[0] ? msg : NULL);
	if (msg[0] != '\0' && status != WARREN_EREFUSED &&
	    status != WARREN_EFIELD)
		kzp_lost(pr, "FIND failed");
	else
		kzp_find_next(pr);
}

/* Start the FIND at the head of the queue if it is not running. */
static void
kzp_find_next(struct kz_peer *pr)
{
	struct overlay_search *s = pr->queue;
	struct rr_opts o;
	struct course_msg m;
	char buf[COURSE_MSG_MAX];
	int len;

	if (s == NULL || s->rr != NULL || pr->state != KZP_JOINED)
		return;
	o = kzp_rr_opts(pr, pr->k->cfg.find_timeout_ms);
	memset(&m, 0, sizeof(m));
	m.kind = COURSE_FIND;
	memcpy(m.session, pr->session, COURSE_SESSION_LEN);
	m.term.ptr = s->term;
	m.term.len = strlen(s->term);
	len = course_encode(&m, buf, sizeof(buf));
	course_afin_init(&s->reply.afin);
	pr->k->n.finds++;
	s->rr = rr_start(pr->k->env.loop, &o, &pr->sn, buf, (size_t)len,
	    kzp_afin_read, kzp_find_done, s);
}

int
kz_peer_search(struct kz_peer *pr, const struct overlay_search_opts *o,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen)
{
	struct overlay_search *s, **pp;
	unsigned n = 0;

	if (pr->state != KZP_JOINED) {
		snprintf(msg, msglen, "not logged in to a supernode yet (%s)",
		    kzp_state_name(pr->state));
		return WARREN_ENOTFOUND;
	}
	for (pp = &pr->queue; *pp != NULL; pp = &(*pp)->next)
		n++;
	if (n >= pr->k->cfg.flood.max_searches) {
		snprintf(msg, msglen, "too many searches queued");
		return WARREN_ELIMIT;
	}
	s = xcalloc(1, sizeof(*s));
	s->pr = pr;
	snprintf(s->term, sizeof(s->term), "%s", o->term);
	s->done = done;
	s->arg = arg;
	afinhits_init(&s->reply, "kazaa", &pr->k->env.self,
	    pr->k->cfg.flood.max_hits, hit, arg);
	*pp = s; /* at the tail */
	*out = s;
	/* Never from inside search(): start on the next loop turn. */
	uv_timer_start(pr->pending_timer, kzp_pending_flush, 0, 0);
	return 0;
}

void
kz_peer_search_cancel(struct overlay_search *s)
{
	struct kz_peer *pr = s->pr;
	int was_running = s->rr != NULL;

	kzp_search_free(s);
	if (was_running)
		kzp_find_next(pr);
}

/* ----------------------------------------------------------- lifecycle */

struct kz_peer *
kz_peer_new(struct overlay *k)
{
	struct kz_peer *pr = xcalloc(1, sizeof(*pr));

	pr->k = k;
	pr->timer = kz_timer_new(k->env.loop, pr);
	pr->pending_timer = kz_timer_new(k->env.loop, pr);
	if (k->cfg.nknown == 0)
		log_warn("kazaa: no known node to join through (give one "
			 "with --kazaa-known HOST:PORT)");
	kzp_round(pr);
	return pr;
}

static void
kzp_logo_done(void *arg, int status)
{
	(void)arg;
	if (status != 0)
		log_debug("kazaa: LOGO: %s",
		    status < 0 && status > -4096 ? uv_strerror(status)
						 : warren_strerror(status));
}

static int
kzp_algo_read(void *arg, const uint8_t *buf, size_t len, int *done)
{
	struct course_msg m;
	int n = course_decode_reply(COURSE_ALGO, buf, len, &m);

	(void)arg;
	if (n > 0)
		*done = 1;
	return n;
}

void
kz_peer_free(struct kz_peer *pr, int logo)
{
	struct overlay *k = pr->k;

	if (logo && pr->state == KZP_JOINED) {
		/* Fire and forget: the exchange owns nothing of ours. */
		struct rr_opts o = kzp_rr_opts(pr, 3000);
		struct course_msg m;
		char buf[COURSE_MSG_MAX];
		int len;

		memset(&m, 0, sizeof(m));
		m.kind = COURSE_LOGO;
		memcpy(m.session, pr->session, COURSE_SESSION_LEN);
		len = course_encode(&m, buf, sizeof(buf));
		rr_start(k->env.loop, &o, &pr->sn, buf, (size_t)len,
		    kzp_algo_read, kzp_logo_done, NULL);
	}
	while (pr->queue != NULL) {
		struct overlay_search *s = pr->queue;
		overlay_done_cb done = s->done;
		void *arg = s->arg;

		kzp_search_free(s);
		done(arg, WARREN_EREFUSED, "this node left the Kazaa overlay");
	}
	while (pr->pending != NULL) {
		struct kzp_pending *p = pr->pending;

		pr->pending = p->next;
		free(p);
	}
	if (pr->coll != NULL)
		kz_coll_end(pr->coll);
	if (pr->rr != NULL)
		rr_cancel(pr->rr);
	if (pr->check != NULL)
		dial_cancel(pr->check);
	kz_timer_free(pr->timer);
	kz_timer_free(pr->pending_timer);
	free(pr);
}

json_t *
kz_peer_status(struct kz_peer *pr)
{
	json_t *r = json_pack(
	    "{s:s,s:s}", "role", "peer", "state", kzp_state_name(pr->state));

	if (pr->state == KZP_JOINED) {
		char label[ADDR_STRLEN];

		peer_label(&pr->sn, label, sizeof(label));
		json_object_set_new(r, "supernode", json_string(label));
		json_object_set_new(r, "session",
		    json_stringn(pr->session, COURSE_SESSION_LEN));
		json_object_set_new(r, "joined_ms",
		    json_integer(
			(json_int_t)(uv_now(pr->k->env.loop) - pr->joined_ms)));
	} else {
		json_object_set_new(r, "supernode", json_null());
	}
	return r;
}

json_t *
kz_peer_peers(struct kz_peer *pr)
{
	json_t *list = json_array();

	for (unsigned i = 0; i < pr->nseen; i++) {
		char label[ADDR_STRLEN];
		int mine = pr->state == KZP_JOINED &&
		    peer_same(&pr->seen[i], &pr->sn);

		peer_label(&pr->seen[i], label, sizeof(label));
		json_array_append_new(list,
		    json_pack("{s:s,s:s,s:s,s:s}", "label", label, "role",
			"supernode", "state", mine ? "up" : "unknown", "origin",
			mine ? "mine" : "seen"));
	}
	return list;
}
