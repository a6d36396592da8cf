/*
 * The Kazaa overlay (course.md §3 and §7): the instance, what both roles
 * share, request dispatch by role, and the election of an "auto" node.
 *
 * Election (docs/design.md): an auto node starts as a peer. It promotes
 * itself to supernode when it has been up for promote_after and its last
 * join round found no supernode, or every supernode it found refused it
 * (full). A promoted node that still has no child and learns, through its
 * SUPE rounds, of a supernode with a lower address (IPv4, IPv6, port
 * compared as bytes) steps down and joins it, so nodes that promoted at the same
 * moment converge on one.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "kazaa_int.h"
#include "net/conn.h"
#include "net/request.h"
#include "warren/error.h"

const struct config_key kazaa_config_keys[] = {
    {"role", "ROLE", "peer, supernode or auto (default peer)"},
    {"known", "HOST:PORT",
	"a node to send SUPE to when joining (repeatable; also "
	"--supernode)"},
    {"friend", "HOST:PORT", "a supernode that is a friend (repeatable)"},
    {"max_friends", "N", "friends learned from ASUP (default 8)"},
    {"max_children", "N", "peers logged in to this supernode (default 100)"},
    {"files_per_child", "N", "files one peer may publish (default 100000)"},
    {"supe_ttl", "N", "TTL of the SUPEs this node sends (default 4)"},
    {"quer_ttl", "N", "TTL of the QUERs sent for a FIND (default 5)"},
    {"supe_window", "SECONDS", "ASUP collection window (default 5)"},
    {"find_window", "SECONDS",
	"supernode: QUER answers collected for a FIND, under 25 (default 3)"},
    {"find_timeout", "SECONDS", "peer: FIND reply deadline (default 30)"},
    {"check_interval", "SECONDS",
	"peer: how often the supernode is checked (default 5)"},
    {"probe_interval", "SECONDS",
	"supernode: silence before a child is probed (default 60)"},
    {"probe_fails", "N", "failed probes that drop a child (default 3)"},
    {"friends_interval", "SECONDS",
	"supernode: SUPE round to find friends (default 60)"},
    {"promote_after", "SECONDS",
	"auto: uptime before promotion to supernode (default 600)"},
    {NULL, NULL, NULL},
};

void
kazaa_config_defaults(struct kazaa_config *c)
{
	memset(c, 0, sizeof(*c));
	c->role = KAZAA_ROLE_PEER;
	c->max_friends = 8;
	c->max_children = 100;
	c->files_per_child = 100000;
	c->supe_ttl = 4;
	c->quer_ttl = 5;
	c->supe_window_ms = 5000;
	c->find_window_ms = 3000;
	c->find_timeout_ms = 30000;
	c->check_ms = 5000;
	c->probe_ms = 60000;
	c->probe_fails = 3;
	c->friends_ms = 60000;
	c->promote_after_ms = 600000;
	flood_config_defaults(&c->flood);
}

/* clang-format off */
#define KZ_F(name, type, min, max) \
	{#name, type, offsetof(struct kazaa_config, name), min, max}
#define KZ_S(key, name, min, max) \
	{key, CONF_SECONDS, offsetof(struct kazaa_config, name), min, max}
/* clang-format on */

static const struct conf_field kz_fields[] = {
    KZ_F(max_friends, CONF_UINT, 0, 64),
    KZ_F(max_children, CONF_UINT, 1, 1000000),
    KZ_F(files_per_child, CONF_UINT, 1, 10000000),
    KZ_F(supe_ttl, CONF_UINT, 1, 99),
    KZ_F(quer_ttl, CONF_UINT, 1, 99),
    KZ_F(probe_fails, CONF_UINT, 1, 100),
    KZ_S("supe_window", supe_window_ms, 0.001, 600),
    /* Existing peers give up on FIND after 25 s (course.md §7.2). */
    KZ_S("find_window", find_window_ms, 0.001, 24.999),
    KZ_S("find_timeout", find_timeout_ms, 0.001, 600),
    KZ_S("check_interval", check_ms, 0.001, 86400),
    KZ_S("probe_interval", probe_ms, 0.001, 86400),
    KZ_S("friends_interval", friends_ms, 0.001, 86400),
    KZ_S("promote_after", promote_after_ms, 0.001, 86400 * 365),
    {NULL, CONF_UINT, 0, 0, 0},
};

static int
kz_config_addr(struct sockaddr_storage *list, unsigned *n, const char *what,
    const char *value, char *err, size_t errlen)
{
	if (*n == KAZAA_MAX_CONFIGURED) {
		snprintf(err, errlen, "kazaa %s: at most %d", what,
		    KAZAA_MAX_CONFIGURED);
		return -1;
	}
	if (addr_parse(value, 3000, &list[*n]) != 0 ||
	    addr_port((struct sockaddr *)&list[*n]) == 0) {
		snprintf(err, errlen,
		    "kazaa %s: '%s' is not ADDR:PORT (e.g. 127.0.0.3:3000 "
		    "or [::1]:3000)",
		    what, value);
		return -1;
	}
	(*n)++;
	return 0;
}

int
kazaa_config_set(struct kazaa_config *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	char k[64];
	int rc;

	conf_key_norm(key, k, sizeof(k));
	if (strcmp(k, "role") == 0) {
		if (strcmp(value, "peer") == 0)
			c->role = KAZAA_ROLE_PEER;
		else if (strcmp(value, "supernode") == 0)
			c->role = KAZAA_ROLE_SUPERNODE;
		else if (strcmp(value, "auto") == 0)
			c->role = KAZAA_ROLE_AUTO;
		else {
			snprintf(err, errlen,
			    "kazaa role: '%s' is not peer, supernode or auto",
			    value);
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "known") == 0 || strcmp(k, "supernode") == 0)
		return kz_config_addr(
		    c->known, &c->nknown, "known", value, err, errlen);
	if (strcmp(k, "friend") == 0)
		return kz_config_addr(
		    c->friends, &c->nfriends, "friend", value, err, errlen);
	rc = conf_set_field(c, kz_fields, "kazaa", k, value, err, errlen);
	if (rc == 1)
		rc = flood_config_set(
		    &c->flood, "kazaa", k, value, err, errlen);
	return rc;
}

/* -------------------------------------------------------------- timers */

static void
kz_timer_closed(uv_handle_t *h)
{
	free(h);
}

uv_timer_t *
kz_timer_new(uv_loop_t *loop, void *data)
{
	uv_timer_t *t = xcalloc(1, sizeof(*t));

	uv_timer_init(loop, t);
	t->data = data;
	return t;
}

void
kz_timer_free(uv_timer_t *t)
{
	if (t == NULL)
		return;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, kz_timer_closed);
}

/* -------------------------------------------------------------- floods */

int
kz_flood_accept(
    struct overlay *k, const struct course_msg *m, const struct sockaddr *from)
{
	int supe = m->kind == COURSE_SUPE;

	if (supe)
		k->n.supe_received++;
	else
		k->n.quer_received++;
	switch (
	    flood_guard_check(&k->guard, m->pktid, from, uv_now(k->env.loop))) {
	case FLOOD_NEW:
		break;
	case FLOOD_RATE:
		k->n.rate_dropped++;
		return 0;
	case FLOOD_OWN:
		k->n.own_dropped++;
		return 0;
	case FLOOD_DUP:
		k->n.dup_dropped++;
		return 0;
	}
	if (supe)
		k->n.supe_handled++;
	else
		k->n.quer_handled++;
	return 1;
}

void
kz_new_pktid(struct overlay *k, char pktid[COURSE_PKTID_LEN])
{
	flood_guard_pktid(&k->guard, pktid, uv_now(k->env.loop));
}

static void
kz_oneshot_done(void *arg, uint64_t tag, int status)
{
	(void)arg;
	(void)tag;
	(void)status; /* answers and ADFF/DEFF are not retried */
}

void
kz_oneshot(
    struct overlay *k, const struct course_peer *p, const struct course_msg *m)
{
	char buf[COURSE_MSG_MAX];
	int len = course_encode(m, buf, sizeof(buf));

	if (len <= 0 ||
	    oneshot_send(k->os, p, buf, (size_t)len, kz_oneshot_done, k, 0) !=
		0) {
		k->n.answers_dropped++;
		return;
	}
	k->n.answers_sent++;
}

int
kz_encode_flood(struct overlay *k, enum course_kind kind,
    const char pktid[COURSE_PKTID_LEN], unsigned ttl, struct course_str term,
    char buf[COURSE_MSG_MAX])
{
	return flood_encode(kind, pktid, &k->env.self, ttl, term, buf);
}

/* --------------------------------------------------------- collections */

struct kz_coll {
	struct overlay *k;
	char pktid[COURSE_PKTID_LEN];
	enum course_kind answer;
	kz_answer_fn on_answer;
	kz_end_fn on_end;
	void *owner;
	uv_timer_t *timer;
	struct kz_coll *next;
};

static void
kz_coll_unlink(struct kz_coll *c)
{
	struct kz_coll **pp;

	for (pp = &c->k->colls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			c->k->ncolls--;
			return;
		}
	}
}

void
kz_coll_end(struct kz_coll *c)
{
	kz_coll_unlink(c);
	kz_timer_free(c->timer);
	free(c);
}

void
kz_coll_end_owner(struct overlay *k, void *owner)
{
	struct kz_coll *c = k->colls, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->owner == owner)
			kz_coll_end(c);
	}
}

static void
kz_coll_timeout(uv_timer_t *t)
{
	struct kz_coll *c = t->data;
	kz_end_fn on_end = c->on_end;
	void *owner = c->owner;

	kz_coll_end(c);
	if (on_end != NULL)
		on_end(owner);
}

struct kz_coll *
kz_coll_new(struct overlay *k, enum course_kind answer, uint64_t window_ms,
    kz_answer_fn on_answer, kz_end_fn on_end, void *owner)
{
	struct kz_coll *c;

	if (k->ncolls >= k->cfg.flood.max_searches)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->k = k;
	c->answer = answer;
	c->on_answer = on_answer;
	c->on_end = on_end;
	c->owner = owner;
	kz_new_pktid(k, c->pktid);
	c->timer = kz_timer_new(k->env.loop, c);
	uv_timer_start(c->timer, kz_coll_timeout, window_ms, 0);
	c->next = k->colls;
	k->colls = c;
	k->ncolls++;
	return c;
}

const char *
kz_coll_pktid(const struct kz_coll *c)
{
	return c->pktid;
}

/* ASUP and AQUE: answers to this node's floods, whatever its role. */
static void
kz_on_answer(struct overlay *k, struct conn *c, const struct course_msg *m)
{
	struct kz_coll *coll;

	if (m->kind == COURSE_ASUP)
		k->n.asup_received++;
	else
		k->n.aque_received++;
	for (coll = k->colls; coll != NULL; coll = coll->next)
		if (coll->answer == m->kind &&
		    memcmp(coll->pktid, m->pktid, COURSE_PKTID_LEN) == 0)
			break;
	if (coll == NULL)
		k->n.answers_unmatched++;
	else
		coll->on_answer(coll->owner, m);
	conn_close(c, 0);
}

/* ------------------------------------------------------------ dispatch */

static void
kz_on_request(void *arg, struct conn *c, const struct course_msg *m)
{
	struct overlay *k = arg;

	if (m->kind == COURSE_ASUP || m->kind == COURSE_AQUE)
		kz_on_answer(k, c, m);
	else if (k->sn != NULL)
		kz_super_on_request(k->sn, c, m);
	else if (k->pr != NULL)
		kz_peer_on_request(k->pr, c, m);
	else
		conn_close(c, 0);
}

static const enum course_kind kz_kinds[] = {
    COURSE_SUPE,
    COURSE_ASUP,
    COURSE_LOGI,
    COURSE_ADFF,
    COURSE_DEFF,
    COURSE_LOGO,
    COURSE_QUER,
    COURSE_AQUE,
    COURSE_FIND,
};

/* ------------------------------------------------------------ election */

void
kz_promote(struct overlay *k, const char *why)
{
	if (k->sn != NULL)
		return;
	log_info("kazaa: promoting this node to supernode (%s)", why);
	k->n.promotions++;
	if (k->pr != NULL) {
		kz_peer_free(k->pr, 1);
		k->pr = NULL;
	}
	k->promoted = 1;
	k->sn = kz_super_new(k);
}

void
kz_demote(struct overlay *k, const struct course_peer *to)
{
	char label[ADDR_STRLEN];

	if (k->sn == NULL || !k->auto_role)
		return;
	peer_label(to, label, sizeof(label));
	log_info("kazaa: supernode %s was elected before this one: joining "
		 "it as a peer",
	    label);
	k->n.demotions++;
	kz_super_free(k->sn);
	k->sn = NULL;
	k->promoted = 0;
	k->pr = kz_peer_new(k);
}

/* ----------------------------------------------------------------- ops */

static int
kz_start(const struct overlay_env *env, const void *conf, struct overlay **out)
{
	const struct kazaa_config *cfg = conf;
	struct overlay *k = xcalloc(1, sizeof(*k));

	k->env = *env;
	k->cfg = *cfg;
	k->started_ms = uv_now(env->loop);
	k->auto_role = cfg->role == KAZAA_ROLE_AUTO;
	flood_guard_init(&k->guard, &cfg->flood);
	k->os = oneshot_new(env->loop, &env->dial, cfg->flood.max_oneshots,
	    cfg->flood.oneshot_queue);
	for (size_t i = 0; i < sizeof(kz_kinds) / sizeof(kz_kinds[0]); i++)
		request_server_on(env->rs, kz_kinds[i], kz_on_request, k);
	if (cfg->role == KAZAA_ROLE_SUPERNODE)
		k->sn = kz_super_new(k);
	else
		k->pr = kz_peer_new(k);
	if (k->sn == NULL && k->pr == NULL) {
		log_error("kazaa: cannot start");
		return -1;
	}
	*out = k;
	return 0;
}

static void
kz_stop(struct overlay *k)
{
	for (size_t i = 0; i < sizeof(kz_kinds) / sizeof(kz_kinds[0]); i++)
		request_server_on(k->env.rs, kz_kinds[i], NULL, NULL);
	if (k->sn != NULL)
		kz_super_free(k->sn);
	if (k->pr != NULL)
		kz_peer_free(k->pr, 1);
	while (k->colls != NULL)
		kz_coll_end(k->colls);
	oneshot_free(k->os);
	flood_guard_release(&k->guard);
	free(k);
}

static void
kz_publish(struct overlay *k, const struct library_file *f)
{
	if (k->sn != NULL)
		kz_super_publish(k->sn, f);
	else if (k->pr != NULL)
		kz_peer_publish(k->pr, f, 1);
}

static void
kz_unpublish(struct overlay *k, const struct library_file *f)
{
	if (k->pr != NULL)
		kz_peer_publish(k->pr, f, 0);
}

static int
kz_search(struct overlay *k, const struct overlay_search_opts *o,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen)
{
	if (strlen(o->term) > COURSE_TERM_LEN) {
		snprintf(msg, msglen,
		    "search term is %zu bytes: the Kazaa FIND carries at "
		    "most %d",
		    strlen(o->term), COURSE_TERM_LEN);
		return WARREN_ETOOLONG;
	}
	if (k->sn != NULL)
		return kz_super_search(
		    k->sn, o, hit, done, arg, out, msg, msglen);
	return kz_peer_search(k->pr, o, hit, done, arg, out, msg, msglen);
}

static void
kz_search_cancel(struct overlay_search *s)
{
	if (((struct kz_search_tag *)(void *)s)->is_super)
		kz_super_search_cancel(s);
	else
		kz_peer_search_cancel(s);
}

static json_t *
kz_status(struct overlay *k)
{
	struct oneshot_stats os;
	char self[COURSE_IPP2P_LEN];
	json_t *r, *c;

	oneshot_stats(k->os, &os);
	course_ipp2p_format(&k->env.self, self);
	c = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		      "s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "supe_received", (json_int_t)k->n.supe_received, "supe_handled",
	    (json_int_t)k->n.supe_handled, "quer_received",
	    (json_int_t)k->n.quer_received, "quer_handled",
	    (json_int_t)k->n.quer_handled, "own_dropped",
	    (json_int_t)k->n.own_dropped, "dup_dropped",
	    (json_int_t)k->n.dup_dropped, "rate_dropped",
	    (json_int_t)k->n.rate_dropped, "forwarded",
	    (json_int_t)k->n.forwarded, "answers_sent",
	    (json_int_t)k->n.answers_sent, "answers_dropped",
	    (json_int_t)k->n.answers_dropped, "asup_received",
	    (json_int_t)k->n.asup_received, "aque_received",
	    (json_int_t)k->n.aque_received, "answers_unmatched",
	    (json_int_t)k->n.answers_unmatched, "logins",
	    (json_int_t)k->n.logins, "logouts", (json_int_t)k->n.logouts,
	    "adff", (json_int_t)k->n.adff, "deff", (json_int_t)k->n.deff,
	    "finds", (json_int_t)k->n.finds, "children_dropped",
	    (json_int_t)k->n.children_dropped, "promotions",
	    (json_int_t)k->n.promotions, "demotions",
	    (json_int_t)k->n.demotions, "rejoins", (json_int_t)k->n.rejoins);
	json_object_set_new(
	    c, "oneshot_sent", json_integer((json_int_t)os.sent));
	json_object_set_new(
	    c, "oneshot_failed", json_integer((json_int_t)os.failed));
	json_object_set_new(
	    c, "oneshot_dropped", json_integer((json_int_t)os.dropped));
	r = k->sn != NULL ? kz_super_status(k->sn) : kz_peer_status(k->pr);
	json_object_set_new(r, "name", json_string("kazaa"));
	json_object_set_new(r, "ipp2p", json_stringn(self, sizeof(self)));
	json_object_set_new(r, "port", json_integer(k->env.self.port));
	json_object_set_new(r, "auto", json_boolean(k->auto_role));
	json_object_set_new(r, "uptime_ms",
	    json_integer((json_int_t)(uv_now(k->env.loop) - k->started_ms)));
	json_object_set_new(r, "counters", c);
	return r;
}

static json_t *
kz_peers(struct overlay *k)
{
	json_t *list = k->sn != NULL ? kz_super_peers(k->sn)
				     : kz_peer_peers(k->pr);

	return json_pack("{s:s,s:o}", "name", "kazaa", "peers", list);
}

const struct overlay_ops kazaa_ops = {
    .name = "kazaa",
    .start = kz_start,
    .stop = kz_stop,
    .publish = kz_publish,
    .unpublish = kz_unpublish,
    .search = kz_search,
    .search_cancel = kz_search_cancel,
    .status = kz_status,
    .peers = kz_peers,
};
