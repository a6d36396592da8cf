/*
 * The Kazaa supernode role (course.md §7.2): logs peers in, indexes their
 * files in SQLite (store/index.h), answers QUER from friends with one AQUE
 * per (file, owner), answers FIND from its peers with an AFIN that merges
 * its index, its own files and the AQUEs its friends send during the
 * search window, and keeps friends (configured, or learned from the ASUPs
 * that answer its SUPE rounds). Children that fall silent are probed on
 * their main port and dropped, with their files, after probe_fails
 * failures. Every FIND has its own Pktid and collection, so concurrent
 * FINDs never mix.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "kazaa_int.h"
#include "net/conn.h"
#include "sprobe.h"
#include "store/index.h"
#include "store/library.h"
#include "warren/error.h"

#define KZS_MAX_ENTRIES 999 /* md5s in one AFIN (§2.5) */
#define KZS_MAX_COPIES  999 /* copies of one md5 */

/* One md5 of a FIND's merged answer. */
struct kzs_entry {
	char md5[COURSE_MD5_LEN + 1];
	char name[COURSE_NAME_LEN];
	size_t name_len;
	int local; /* name from this supernode's index or files */
	struct course_peer *copies;
	unsigned ncopies, cap;
};

/* A FIND from a child (c != NULL) or a search of this node's user. */
struct overlay_search {
	struct kz_search_tag tag; /* first: is_super = 1 */
	struct kz_super *sn;
	struct kz_coll *coll;
	struct conn *c;
	overlay_hit_cb hit;
	overlay_done_cb done;
	void *arg;
	struct hitset copies; /* (md5, owner) seen */
	struct kzs_entry *e;
	unsigned ne, cap;
	struct overlay_search *next;
};

struct kz_super {
	struct overlay *k;
	struct index *ix;
	struct peerset friends;
	uv_timer_t *friends_timer; /* SUPE rounds */
	struct sprobe *probe;      /* children liveness */
	struct overlay_search *finds;
};

/* ------------------------------------------------------------ friends */

static void
kzs_friend_result(void *arg, uint64_t tag, int status)
{
	struct kz_super *sn = arg;

	peerset_result(&sn->friends, tag, status);
}

static void
kzs_friend_send(void *arg, struct peerset_entry *e, const void *msg, size_t len)
{
	struct kz_super *sn = arg;

	sn->k->n.forwarded++;
	if (oneshot_send(sn->k->os, &e->peer, msg, len, kzs_friend_result, sn,
		e->id) != 0)
		sn->k->n.answers_dropped++;
}

/* Send one of our own floods to every friend that is not down (to all of
 * them if none is up). */
static void
kzs_to_friends(struct kz_super *sn, const char *buf, size_t len)
{
	unsigned alive = peerset_alive(&sn->friends);

	for (unsigned i = 0; i < sn->friends.n; i++) {
		struct peerset_entry *e = &sn->friends.v[i];

		if (alive > 0 && e->state == PEERSET_DOWN)
			continue;
		if (oneshot_send(sn->k->os, &e->peer, buf, len,
			kzs_friend_result, sn, e->id) != 0)
			sn->k->n.answers_dropped++;
	}
}

/* An ASUP answering our SUPE round: a supernode, so a friend. */
static void
kzs_on_asup(void *owner, const struct course_msg *m)
{
	struct kz_super *sn = owner;
	struct overlay *k = sn->k;
	struct index_stats st;

	if (peer_same(&m->peer, &k->env.self))
		return;
	index_stats(sn->ix, &st);
	/* Election tie-break: a childless promoted node steps down for a
	 * supernode with a lower address. */
	if (k->promoted && st.sessions == 0 &&
	    (memcmp(&m->peer, &k->env.self, sizeof(m->peer)) < 0)) {
		struct course_peer to = m->peer;

		kz_demote(k, &to); /* frees sn */
		return;
	}
	if (peerset_find(&sn->friends, &m->peer) == NULL &&
	    peerset_learned(&sn->friends) < k->cfg.max_friends)
		peerset_add(&sn->friends, &m->peer, 0, &k->env.self);
}

/* A SUPE round through the known nodes and friends, to find friends. */
static void
kzs_friends_round(uv_timer_t *t)
{
	struct kz_super *sn = t->data;
	struct overlay *k = sn->k;
	struct kz_coll *coll;
	struct course_str none = {NULL, 0};
	char buf[COURSE_MSG_MAX];
	int len;

	if (k->cfg.nknown == 0 && sn->friends.n == 0)
		return;
	coll = kz_coll_new(
	    k, COURSE_ASUP, k->cfg.supe_window_ms, kzs_on_asup, NULL, sn);
	if (coll == NULL)
		return;
	len = kz_encode_flood(
	    k, COURSE_SUPE, kz_coll_pktid(coll), k->cfg.supe_ttl, none, buf);
	if (len <= 0)
		return;
	for (unsigned i = 0; i < k->cfg.nknown; i++) {
		struct course_peer p;

		if (peer_from_sockaddr(
			(const struct sockaddr *)&k->cfg.known[i], &p) != 0 ||
		    peer_same(&p, &k->env.self) ||
		    peerset_find(&sn->friends, &p) != NULL)
			continue;
		if (oneshot_send(k->os, &p, buf, (size_t)len, NULL, NULL, 0) !=
		    0)
			k->n.answers_dropped++;
	}
	kzs_to_friends(sn, buf, (size_t)len);
}

/* ------------------------------------------------------------ results */

static struct kzs_entry *
kzs_entry(struct overlay_search *f, const char *md5)
{
	for (unsigned i = 0; i < f->ne; i++)
		if (strcmp(f->e[i].md5, md5) == 0)
			return &f->e[i];
	return NULL;
}

/*
 * One (file, owner) for a FIND or search. Copies are de-duplicated on
 * (md5, owner); a FIND's entries are merged by md5, the local name
 * winning over names from AQUEs (§7.2 step 5).
 */
static void
kzs_add(struct overlay_search *f, const char *md5, const char *name,
    size_t name_len, int local, const struct course_peer *owner)
{
	struct kzs_entry *e;

	if (name_len == 0 || name_len > COURSE_NAME_LEN ||
	    !hitset_add(&f->copies, md5, owner))
		return;
	if (f->c == NULL) {
		struct overlay_hit h;

		memset(&h, 0, sizeof(h));
		h.overlay = "kazaa";
		memcpy(h.md5, md5, sizeof(h.md5));
		h.name = name;
		h.name_len = name_len;
		peer_source(owner, &h.src);
		if (h.src.naddrs > 0)
			f->hit(f->arg, &h);
		return;
	}
	e = kzs_entry(f, md5);
	if (e == NULL) {
		if (f->ne == KZS_MAX_ENTRIES)
			return;
		if (f->ne == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 16;
			f->e = xreallocarray(f->e, f->cap, sizeof(*f->e));
		}
		e = &f->e[f->ne++];
		memset(e, 0, sizeof(*e));
		memcpy(e->md5, md5, sizeof(e->md5));
		memcpy(e->name, name, name_len);
		e->name_len = name_len;
		e->local = local;
	} else if (local && !e->local) {
		memcpy(e->name, name, name_len);
		e->name_len = name_len;
		e->local = 1;
	}
	if (e->ncopies == KZS_MAX_COPIES)
		return;
	if (e->ncopies == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 4;
		e->copies = xreallocarray(
		    e->copies, e->cap, sizeof(*e->copies));
	}
	e->copies[e->ncopies++] = *owner;
}

static void
kzs_add_indexed(void *arg, const char *md5, const char *name, size_t name_len,
    const struct course_peer *owner)
{
	kzs_add(arg, md5, name, name_len, 1, owner);
}

struct kzs_own {
	struct overlay_search *f;
	struct course_str term;
};

static void
kzs_add_own(void *arg, const struct library_file *lf)
{
	struct kzs_own *o = arg;

	if (lf->name_too_long ||
	    !course_term_match(o->term, lf->name, lf->name_len))
		return;
	kzs_add(
	    o->f, lf->md5, lf->name, lf->name_len, 1, &o->f->sn->k->env.self);
}

static void
kzs_on_aque(void *owner, const struct course_msg *m)
{
	kzs_add(owner, m->md5, m->name.ptr, m->name.len, 0, &m->peer);
}

static int
kzs_entry_cmp(const void *a, const void *b)
{
	const struct kzs_entry *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;

	for (size_t i = 0; i < n; i++) {
		int cx = x->name[i], cy = y->name[i];

		if (cx >= 'A' && cx <= 'Z')
			cx += 'a' - 'A';
		if (cy >= 'A' && cy <= 'Z')
			cy += 'a' - 'A';
		if (cx != cy)
			return (unsigned char)cx - (unsigned char)cy;
	}
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return strcmp(x->md5, y->md5);
}

/* The AFIN of a FIND (§5.2, sorted by name then md5), in one write. */
static void
kzs_write_afin(struct overlay_search *f)
{
	size_t len = COURSE_AFIN_HEAD_LEN, off = 0;
	uint8_t *buf;
	int n;

	if (f->ne > 1)
		qsort(f->e, f->ne, sizeof(*f->e), kzs_entry_cmp);
	for (unsigned i = 0; i < f->ne; i++)
		len += COURSE_AFIN_ENTRY_LEN +
		    (size_t)f->e[i].ncopies * COURSE_AFIN_COPY_LEN;
	buf = xmalloc(len);
	n = course_encode_afin_head(f->ne, buf, len);
	off += n > 0 ? (size_t)n : 0;
	for (unsigned i = 0; i < f->ne; i++) {
		struct kzs_entry *e = &f->e[i];
		struct course_str name = {e->name, e->name_len};

		n = course_encode_afin_entry(
		    e->md5, name, e->ncopies, buf + off, len - off);
		off += n > 0 ? (size_t)n : 0;
		for (unsigned j = 0; j < e->ncopies; j++) {
			n = course_encode_afin_copy(
			    &e->copies[j], buf + off, len - off);
			off += n > 0 ? (size_t)n : 0;
		}
	}
	conn_write_close(f->c, buf, off);
	free(buf);
}

static void
kzs_find_free(struct overlay_search *f)
{
	struct overlay_search **pp;

	for (pp = &f->sn->finds; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	if (f->coll != NULL)
		kz_coll_end(f->coll);
	for (unsigned i = 0; i < f->ne; i++)
		free(f->e[i].copies);
	free(f->e);
	hitset_release(&f->copies);
	free(f);
}

/* The window closed. */
static void
kzs_find_end(void *owner)
{
	struct overlay_search *f = owner;
	overlay_done_cb done = f->done;
	void *arg = f->arg;

	f->coll = NULL; /* freed by its caller */
	if (f->c != NULL) {
		f->c->on_close = NULL;
		kzs_write_afin(f);
		kzs_find_free(f);
		return;
	}
	kzs_find_free(f);
	done(arg, 0, NULL);
}

/* The child went away before its AFIN. */
static void
kzs_find_conn_closed(struct conn *c, int err)
{
	struct overlay_search *f = c->owner;

	(void)err;
	f->c = NULL;
	f->done = NULL;
	kzs_find_free(f);
}

static void
kzs_find_read(struct conn *c)
{
	conn_consume(c, c->rlen); /* nothing more is expected */
}

/*
 * Start a FIND (c != NULL) or a user search: flood QUER to every friend
 * with a fresh Pktid, match the index and our own files now, collect the
 * friends' AQUEs for the window. NULL when too many are pending.
 */
static struct overlay_search *
kzs_find_start(struct kz_super *sn, struct course_str term, uint64_t window_ms,
    struct conn *c)
{
	struct overlay *k = sn->k;
	struct overlay_search *f = xcalloc(1, sizeof(*f));
	char buf[COURSE_MSG_MAX];
	int len;

	f->tag.is_super = 1;
	f->sn = sn;
	f->c = c;
	hitset_init(&f->copies, k->cfg.flood.max_hits);
	f->coll = kz_coll_new(
	    k, COURSE_AQUE, window_ms, kzs_on_aque, kzs_find_end, f);
	if (f->coll == NULL) {
		hitset_release(&f->copies);
		free(f);
		return NULL;
	}
	f->next = sn->finds;
	sn->finds = f;
	k->n.finds++;
	len = kz_encode_flood(
	    k, COURSE_QUER, kz_coll_pktid(f->coll), k->cfg.quer_ttl, term, buf);
	if (len > 0)
		kzs_to_friends(sn, buf, (size_t)len);
	return f;
}

/* Matches of our index and files, added once the caller has set hit. */
static void
kzs_find_local(struct overlay_search *f, struct course_str term)
{
	struct kzs_own own = {f, term};

	index_find(f->sn->ix, term, KZS_MAX_ENTRIES, KZS_MAX_COPIES,
	    kzs_add_indexed, f);
	library_foreach(f->sn->k->env.lib, kzs_add_own, &own);
}

/* ----------------------------------------------------------- requests */

static void
kzs_say(struct conn *c, const char *sentence)
{
	conn_write_close(c, sentence, strlen(sentence));
}

static void
kzs_on_logi(struct kz_super *sn, struct conn *c, const struct course_msg *m)
{
	static const char refused[] = "ALGI0000000000000000";
	char reply[COURSE_KIND_LEN + COURSE_SESSION_LEN];
	int created;

	if (index_login(sn->ix, &m->peer, uv_now(sn->k->env.loop),
		reply + COURSE_KIND_LEN, &created) != 0) {
		conn_write_close(c, refused, sizeof(refused) - 1);
		return;
	}
	memcpy(reply, "ALGI", COURSE_KIND_LEN);
	if (created) {
		char label[ADDR_STRLEN];

		peer_label(&m->peer, label, sizeof(label));
		log_info("kazaa: %s logged in", label);
		sn->k->n.logins++;
	}
	conn_write_close(c, reply, sizeof(reply));
}

static void
kzs_on_logo(struct kz_super *sn, struct conn *c, const struct course_msg *m)
{
	struct course_msg r;
	char buf[COURSE_MSG_MAX];
	int n = index_logout(sn->ix, m->session), len;

	if (n < 0) {
		kzs_say(c, COURSE_SAY_UNAUTHORIZED);
		return;
	}
	sn->k->n.logouts++;
	memset(&r, 0, sizeof(r));
	r.kind = COURSE_ALGO;
	r.count = n > 999 ? 999 : (unsigned long)n;
	len = course_encode(&r, buf, sizeof(buf));
	conn_write_close(c, buf, (size_t)len);
}

static void
kzs_on_find(struct kz_super *sn, struct conn *c, const struct course_msg *m)
{
	struct overlay_search *f;
	struct course_peer who;

	if (index_session(sn->ix, m->session, &who) != 0) {
		kzs_say(c, COURSE_SAY_UNAUTHORIZED);
		return;
	}
	index_touch(sn->ix, m->session, uv_now(sn->k->env.loop));
	f = kzs_find_start(sn, m->term, sn->k->cfg.find_window_ms, c);
	if (f == NULL) {
		kzs_say(c, COURSE_SAY_BUSY);
		return;
	}
	kzs_find_local(f, m->term);
	/* Hold the connection for the window; a reset cancels the FIND. A
	 * client that only shut down its side (EOF, c->eof) waits for AFIN. */
	c->on_read = kzs_find_read;
	c->on_close = kzs_find_conn_closed;
	c->owner = f;
	conn_resume(c);
}

/* QUER from a friend: answer with every (file, owner), forward. */
struct kzs_answer {
	struct kz_super *sn;
	const struct course_msg *q;
	unsigned sent;
};

static void
kzs_answer_one(struct kzs_answer *a, const char *md5, const char *name,
    size_t name_len, const struct course_peer *owner)
{
	struct course_msg r;

	if (a->sent >= a->sn->k->cfg.flood.max_answers)
		return;
	memset(&r, 0, sizeof(r));
	r.kind = COURSE_AQUE;
	memcpy(r.pktid, a->q->pktid, COURSE_PKTID_LEN);
	r.peer = *owner;
	memcpy(r.md5, md5, sizeof(r.md5));
	r.name.ptr = name;
	r.name.len = name_len;
	a->sent++;
	kz_oneshot(a->sn->k, &a->q->peer, &r);
}

static void
kzs_answer_indexed(void *arg, const char *md5, const char *name,
    size_t name_len, const struct course_peer *owner)
{
	kzs_answer_one(arg, md5, name, name_len, owner);
}

static void
kzs_answer_own(void *arg, const struct library_file *lf)
{
	struct kzs_answer *a = arg;

	if (lf->name_too_long ||
	    !course_term_match(a->q->term, lf->name, lf->name_len))
		return;
	kzs_answer_one(a, lf->md5, lf->name, lf->name_len, &a->sn->k->env.self);
}

static void
kzs_on_flood(struct kz_super *sn, struct conn *c, const struct course_msg *m)
{
	struct overlay *k = sn->k;
	struct sockaddr_storage from = c->peer;
	uint8_t raw[COURSE_MSG_MAX];
	size_t len = course_kind_len(m->kind);
	struct course_msg q = *m;

	memcpy(raw, c->rbuf, len);
	if (m->term.len > 0)
		q.term.ptr = (const char *)raw +
		    (m->term.ptr - (const char *)c->rbuf);
	conn_close(c, 0);
	if (!kz_flood_accept(k, &q, (struct sockaddr *)&from))
		return;
	if (q.kind == COURSE_SUPE) {
		struct course_msg a;

		memset(&a, 0, sizeof(a));
		a.kind = COURSE_ASUP;
		memcpy(a.pktid, q.pktid, COURSE_PKTID_LEN);
		a.peer = k->env.self;
		kz_oneshot(k, &q.peer, &a);
	} else {
		struct kzs_answer an = {sn, &q, 0};

		index_find(sn->ix, q.term, k->cfg.flood.max_answers,
		    KZS_MAX_COPIES, kzs_answer_indexed, &an);
		library_foreach(k->env.lib, kzs_answer_own, &an);
	}
	/* Never to children: only friends get floods. */
	peerset_flood(&sn->friends, raw, len, q.ttl,
	    k->cfg.flood.max_forward_ttl, &q.peer, (struct sockaddr *)&from,
	    kzs_friend_send, sn);
}

void
kz_super_on_request(
    struct kz_super *sn, struct conn *c, const struct course_msg *m)
{
	uint64_t now = uv_now(sn->k->env.loop);
	int rc;

	switch (m->kind) {
	case COURSE_SUPE:
	case COURSE_QUER:
		kzs_on_flood(sn, c, m);
		return;
	case COURSE_LOGI:
		kzs_on_logi(sn, c, m);
		return;
	case COURSE_ADFF:
		rc = index_add(
		    sn->ix, m->session, m->md5, m->name.ptr, m->name.len);
		if (rc > 0) {
			sn->k->n.adff++;
			index_touch(sn->ix, m->session, now);
		}
		conn_close(c, 0);
		return;
	case COURSE_DEFF:
		rc = index_del(sn->ix, m->session, m->md5);
		if (rc >= 0) {
			sn->k->n.deff++;
			index_touch(sn->ix, m->session, now);
		}
		conn_close(c, 0);
		return;
	case COURSE_LOGO:
		kzs_on_logo(sn, c, m);
		return;
	case COURSE_FIND:
		kzs_on_find(sn, c, m);
		return;
	default:
		conn_close(c, 0);
		return;
	}
}

/* ------------------------------------------------------ child probes */

static void
kzs_child_dropped(void *arg, const struct course_peer *peer, int links)
{
	struct kz_super *sn = arg;
	char label[ADDR_STRLEN];

	peer_label(peer, label, sizeof(label));
	log_info("kazaa: child %s does not answer: dropped with its %d "
		 "file%s",
	    label, links, links == 1 ? "" : "s");
	sn->k->n.children_dropped++;
}

/* ----------------------------------------------------------- lifecycle */

struct kz_super *
kz_super_new(struct overlay *k)
{
	struct kz_super *sn = xcalloc(1, sizeof(*sn));
	struct index_limits lim = {k->cfg.max_children, k->cfg.files_per_child};
	char *path = xasprintf("%s/kazaa-supernode.db", k->env.data_dir);

	sn->k = k;
	if (index_open(path, 1, &lim, &sn->ix) != 0) {
		log_error("kazaa: cannot open the supernode index %s", path);
		free(path);
		free(sn);
		return NULL;
	}
	free(path);
	peerset_init(&sn->friends, k->env.loop, "kazaa: friend",
	    k->cfg.flood.fail_limit);
	for (unsigned i = 0; i < k->cfg.nfriends; i++) {
		struct course_peer p;

		if (peer_from_sockaddr(
			(const struct sockaddr *)&k->cfg.friends[i], &p) == 0)
			peerset_add(&sn->friends, &p, 1, &k->env.self);
	}
	sn->friends_timer = kz_timer_new(k->env.loop, sn);
	uv_timer_start(
	    sn->friends_timer, kzs_friends_round, 0, k->cfg.friends_ms);
	sn->probe = sprobe_new(k->env.loop, sn->ix, &k->env.dial,
	    k->cfg.probe_ms, k->cfg.probe_fails, kzs_child_dropped, sn);
	log_info("kazaa: supernode with %u friend%s", sn->friends.n,
	    sn->friends.n == 1 ? "" : "s");
	return sn;
}

void
kz_super_free(struct kz_super *sn)
{
	if (sn == NULL)
		return;
	while (sn->finds != NULL) {
		struct overlay_search *f = sn->finds;

		if (f->c != NULL) {
			f->c->on_close = NULL;
			conn_close(f->c, 0);
		}
		kzs_find_free(f);
	}
	sprobe_free(sn->probe);
	kz_coll_end_owner(sn->k, sn);
	kz_timer_free(sn->friends_timer);
	peerset_release(&sn->friends);
	index_close(sn->ix);
	free(sn);
}

void
kz_super_publish(struct kz_super *sn, const struct library_file *f)
{
	/* Our own files are matched from the library at query time. */
	(void)sn;
	(void)f;
}

int
kz_super_search(struct kz_super *sn, const struct overlay_search_opts *o,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen)
{
	struct course_str term = {o->term, strlen(o->term)};
	struct overlay_search *f = kzs_find_start(sn, term,
	    o->window_ms ? o->window_ms : sn->k->cfg.find_window_ms, NULL);

	if (f == NULL) {
		snprintf(msg, msglen, "too many searches running; try again");
		return WARREN_ELIMIT;
	}
	f->hit = hit;
	f->done = done;
	f->arg = arg;
	kzs_find_local(f, term);
	*out = f;
	return 0;
}

void
kz_super_search_cancel(struct overlay_search *s)
{
	kzs_find_free(s);
}

json_t *
kz_super_status(struct kz_super *sn)
{
	struct index_stats st;

	index_stats(sn->ix, &st);
	return json_pack("{s:s,s:o,s:i,s:{s:I,s:I,s:I},s:i}", "role",
	    "supernode", "friends", peerset_counts_json(&sn->friends),
	    "max_friends", (int)sn->k->cfg.max_friends, "index", "children",
	    (json_int_t)st.sessions, "files", (json_int_t)st.files, "links",
	    (json_int_t)st.links, "max_children", (int)sn->k->cfg.max_children);
}

static void
kzs_peer_child(void *arg, const char id[COURSE_SESSION_LEN],
    const struct course_peer *p, uint64_t last_ms)
{
	json_t *list = arg;
	char label[ADDR_STRLEN];

	(void)id;
	(void)last_ms;
	peer_label(p, label, sizeof(label));
	json_array_append_new(list,
	    json_pack("{s:s,s:s,s:s}", "label", label, "state", "up", "origin",
		"child"));
}

json_t *
kz_super_peers(struct kz_super *sn)
{
	json_t *list = peerset_json(&sn->friends);
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	    json_object_set_new(e, "role", json_string("friend"));
	index_foreach_session(sn->ix, kzs_peer_child, list);
	return list;
}
