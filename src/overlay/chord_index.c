/*
 * chord_index.c: the file index kept in the ring (chord.md §3.6-§3.7).
 * Publishing PUTs one record per shared file under the key of its md5
 * and under the key of each keyword of its name, at successor(key) and
 * the first r-1 nodes of that node's successor list: at once for a file
 * just shared, and again every republish interval, spread evenly over it.
 * A search does a GET per keyword (falling back on the successors of the
 * node responsible when it has nothing or does not answer), intersects
 * the results by md5 and streams the holders as hits; a query without
 * keywords walks the ring with LIST instead.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chord_int.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/library.h"
#include "warren/error.h"

#define PUB_ATTEMPTS   3       /* tries of one key job */
#define SEARCH_MAX     64      /* searches at once */
#define LEG_RELOOKUPS  2       /* lookups again when the nodes found fail */
#define WALK_PAGES_MAX 100000  /* LIST pages of one walk */
#define WALK_SEEN_MAX  1000000 /* distinct (md5, holder) of one walk */

/* ----------------------------------------------------------- publishing */

/*
 * A shared file to publish under some of its keys (one job per file, so a
 * republish round of a large library costs a few hundred bytes per file).
 * While queued it is owned by its queue; the runs started from it hold
 * references, and it is freed when it has left the queue and no run holds
 * it.
 */
struct pub_job {
	char md5[CHORD_MD5_LEN + 1];
	uint64_t size;
	char name[CHORD_NAME_MAX + 1];
	size_t name_len;
	uint16_t mask;     /* keys not yet started: bit i = key i */
	uint64_t due_ms;   /* paced jobs: not before */
	unsigned attempts; /* earlier tries of these keys */
	unsigned refs;     /* runs using it */
	int queued;        /* in a queue */
	struct pub_job *next;
};

/* One key of a job being carried out. */
struct pub_run {
	struct chord_pub *p;
	struct pub_job *job; /* a reference */
	unsigned key_index;
	struct chord_id key;
	struct chord_lookup *lk;
	struct chord_call *call; /* GET_SUCCESSORS */
	unsigned pending, ok;    /* PUTs in flight (cancelled with the
				    overlay's calls), and answered 200 */
	struct chord_node s;
	struct pub_run *prev, *next;
};

struct pub_queue {
	struct pub_job *head, *tail;
	unsigned n;
};

struct chord_pub {
	struct overlay *o;
	struct pub_queue urgent; /* files just shared, and retries */
	struct pub_queue paced;  /* the republish round, by due time */
	struct pub_run *runs;
	unsigned nruns;
	uv_timer_t *timer; /* the next paced job */
	int ready;         /* the node is in a ring */
};

static void pub_pump(struct chord_pub *p);

static void
pub_job_release(struct pub_job *j)
{
	if (j->refs == 0 && !j->queued)
		free(j);
}

static void
pubq_push(struct pub_queue *q, struct pub_job *j)
{
	j->next = NULL;
	j->queued = 1;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static void
pubq_pop(struct pub_queue *q)
{
	struct pub_job *j = q->head;

	q->head = j->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->n--;
	j->queued = 0;
	j->next = NULL;
	pub_job_release(j);
}

static void
pubq_clear(struct pub_queue *q)
{
	while (q->head != NULL)
		pubq_pop(q);
}

/* Drop the jobs of md5 (unpublished). */
static void
pubq_drop(struct pub_queue *q, const char *md5)
{
	struct pub_job **pp = &q->head, *j;

	q->tail = NULL;
	while ((j = *pp) != NULL) {
		if (strcmp(j->md5, md5) == 0) {
			*pp = j->next;
			q->n--;
			j->queued = 0;
			pub_job_release(j);
			continue;
		}
		q->tail = j;
		pp = &j->next;
	}
}

/* The keys of a job's file: its md5 key, then its keywords' keys. */
static unsigned
pub_keys(const struct pub_job *j, struct chord_id keys[1 + CHORD_KEYWORDS_MAX])
{
	struct chord_keywords it;
	char kw[CHORD_KEYWORD_MAX + 1];
	unsigned nkeys = 0;
	int n;

	chord_sha1(j->md5, CHORD_MD5_LEN, &keys[nkeys++]);
	chord_keywords_init(&it, j->name, j->name_len);
	while ((n = chord_keywords_next(&it, kw)) > 0)
		chord_sha1(kw, (size_t)n, &keys[nkeys++]);
	return nkeys;
}

/* Queue a file under all its keys. 0, or -1 for a name no record can
 * carry. */
static int
pub_file(struct pub_queue *q, const char *md5, uint64_t size, const char *name,
    size_t name_len)
{
	struct chord_id keys[1 + CHORD_KEYWORDS_MAX];
	struct pub_job *j;

	/* Senders strip the name's outer spaces (§3.2). */
	while (name_len > 0 && name[0] == ' ') {
		name++;
		name_len--;
	}
	while (name_len > 0 && name[name_len - 1] == ' ')
		name_len--;
	if (chord_name_check(name, name_len) != 0 ||
	    strlen(md5) != CHORD_MD5_LEN)
		return -1;
	j = xcalloc(1, sizeof(*j));
	memcpy(j->md5, md5, CHORD_MD5_LEN + 1);
	j->size = size;
	memcpy(j->name, name, name_len);
	j->name_len = name_len;
	j->mask = (uint16_t)((1u << pub_keys(j, keys)) - 1);
	pubq_push(q, j);
	return 0;
}

static void
pub_run_free(struct pub_run *r)
{
	struct chord_pub *p = r->p;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		p->runs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	p->nruns--;
	r->job->refs--;
	pub_job_release(r->job);
	free(r);
}

/* The key is done, or queued again (alone) for another attempt. */
static void
pub_run_end(struct pub_run *r, int ok)
{
	struct chord_pub *p = r->p;
	struct overlay *o = p->o;
	struct pub_job *again;

	if (ok) {
		o->n.published_keys++;
	} else if (r->job->attempts + 1 < PUB_ATTEMPTS) {
		again = xmalloc(sizeof(*again));
		*again = *r->job;
		again->mask = (uint16_t)(1u << r->key_index);
		again->attempts++;
		again->refs = 0;
		again->due_ms = 0;
		pubq_push(&p->urgent, again);
	}
	pub_run_free(r);
	pub_pump(p);
}

static void
pub_put_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct pub_run *r = arg;
	struct overlay *o = r->p->o;

	(void)data;
	if (err == 0 && st->code == 200)
		r->ok++;
	else
		o->n.puts_failed++;
	if (--r->pending == 0)
		pub_run_end(r, r->ok > 0);
}

/* PUT the record to every target at once. */
static void
pub_put_all(struct pub_run *r, const struct chord_node *t, unsigned nt)
{
	struct overlay *o = r->p->o;
	struct chord_record rec;
	char line[2 * CHORD_LINE_MAX], key[CHORD_ID_LEN + 1];
	char text[CHORD_LINE_MAX];

	memset(&rec, 0, sizeof(rec));
	memcpy(rec.md5, r->job->md5, sizeof(rec.md5));
	rec.size = r->job->size;
	rec.holder = o->holder;
	rec.port = o->holder_port;
	rec.name.ptr = r->job->name;
	rec.name.len = r->job->name_len;
	if (chord_record_format(&rec, text, sizeof(text)) < 0) {
		struct chord_pub *p = r->p;

		pub_run_free(r); /* cannot ever work */
		pub_pump(p);
		return;
	}
	chord_id_format(&r->key, key);
	snprintf(line, sizeof(line), "PUT %s %s", key, text);
	r->pending = nt;
	for (unsigned i = 0; i < nt; i++) {
		o->n.puts_sent++;
		chord_call_start(o, &t[i], line, pub_put_done, r);
	}
}

static void
pub_succs_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct pub_run *r = arg;
	struct overlay *o = r->p->o;
	struct chord_node t[CHORD_SUCC_MAX], n;
	struct chord_str line;
	unsigned nt = 1;

	r->call = NULL;
	if (err != 0) {
		pub_run_end(r, 0);
		return;
	}
	/* s and the first r-1 of its successors (fewer in a small ring). */
	t[0] = r->s;
	while (st->code == 200 && nt < o->cfg.successors &&
	    chord_lines_next(&data, &line)) {
		unsigned i;

		if (chord_node_parse(line.ptr, line.len, &n) != 0)
			break;
		for (i = 0; i < nt; i++)
			if (chord_node_same(&t[i], &n))
				break;
		if (i < nt)
			break; /* wrapped around a small ring */
		t[nt++] = n;
	}
	pub_put_all(r, t, nt);
}

static void
pub_lookup_done(void *arg, int err, const struct chord_node *succ,
    const struct chord_node *replier, unsigned hops)
{
	struct pub_run *r = arg;

	(void)replier;
	(void)hops;
	r->lk = NULL;
	if (err != 0) {
		pub_run_end(r, 0);
		return;
	}
	r->s = *succ;
	r->call = chord_call_start(
	    r->p->o, succ, "GET_SUCCESSORS", pub_succs_done, r);
}

/* Start key index i of job j. */
static void
pub_run_start(struct chord_pub *p, struct pub_job *j, unsigned i,
    const struct chord_id *key)
{
	struct pub_run *r = xcalloc(1, sizeof(*r));

	r->p = p;
	r->job = j;
	j->refs++;
	r->key_index = i;
	r->key = *key;
	r->next = p->runs;
	if (p->runs != NULL)
		p->runs->prev = r;
	p->runs = r;
	p->nruns++;
	r->lk = chord_lookup_start(p->o, key, NULL, 1, pub_lookup_done, r);
}

static void
pub_timer_closed(uv_handle_t *h)
{
	free(h);
}

static void
pub_timer_cb(uv_timer_t *t)
{
	pub_pump(t->data);
}

/* Start what may start: urgent jobs first, then paced ones when due;
 * a job leaves its queue once every key of it has started. */
static void
pub_pump(struct chord_pub *p)
{
	uint64_t now = uv_now(p->o->env.loop);
	struct chord_id keys[1 + CHORD_KEYWORDS_MAX];
	struct pub_queue *q;
	struct pub_job *j;
	unsigned i, nkeys;

	if (!p->ready || p->o->state == CHORD_STOPPED)
		return;
	while (p->nruns < CHORD_PUB_INFLIGHT) {
		q = &p->urgent;
		if (q->head == NULL) {
			q = &p->paced;
			if (q->head == NULL || q->head->due_ms > now)
				break;
		}
		j = q->head;
		nkeys = pub_keys(j, keys);
		for (i = 0; i < nkeys && !(j->mask & (1u << i)); i++)
			;
		if (i < nkeys) {
			j->mask &= (uint16_t) ~(1u << i);
			pub_run_start(p, j, i, &keys[i]);
		}
		if (i >= nkeys || (j->mask & ((1u << nkeys) - 1)) == 0)
			pubq_pop(q);
	}
	if (p->paced.head != NULL && p->nruns < CHORD_PUB_INFLIGHT)
		uv_timer_start(p->timer, pub_timer_cb,
		    p->paced.head->due_ms > now ? p->paced.head->due_ms - now
						: 1,
		    0);
}

void
chord_index_init(struct overlay *o)
{
	struct chord_pub *p = xcalloc(1, sizeof(*p));

	p->o = o;
	p->timer = xcalloc(1, sizeof(*p->timer));
	uv_timer_init(o->env.loop, p->timer);
	p->timer->data = p;
	o->pub = p;
}

static void
pub_urgent_one(void *arg, const struct library_file *f)
{
	struct chord_pub *p = arg;

	if (!f->name_too_long)
		pub_file(&p->urgent, f->md5, f->size, f->name, f->name_len);
}

void
chord_index_ready(struct overlay *o, int all)
{
	struct chord_pub *p = o->pub;

	p->ready = 1;
	if (all && o->env.lib != NULL) {
		/* Every shared file, once: what was queued is among them. */
		pubq_clear(&p->urgent);
		library_foreach(o->env.lib, pub_urgent_one, p);
	}
	pub_pump(p);
}

static void
pub_paced_one(void *arg, const struct library_file *f)
{
	struct chord_pub *p = arg;

	if (!f->name_too_long)
		pub_file(&p->paced, f->md5, f->size, f->name, f->name_len);
}

void
chord_index_republish(struct overlay *o, uint64_t spread_ms)
{
	struct chord_pub *p = o->pub;
	uint64_t now = uv_now(o->env.loop), step;
	struct pub_job *j;
	unsigned i = 0;

	/* A new round replaces what is left of the last one. */
	o->n.republish_rounds++;
	pubq_clear(&p->paced);
	if (o->env.lib == NULL)
		return;
	library_foreach(o->env.lib, pub_paced_one, p);
	if (p->paced.n == 0)
		return;
	/* Spread evenly over the interval (§3.6). */
	step = spread_ms / p->paced.n;
	for (j = p->paced.head; j != NULL; j = j->next, i++)
		j->due_ms = now + step * i;
	pub_pump(p);
}

void
chord_index_publish(struct overlay *o, const struct library_file *f)
{
	struct chord_pub *p = o->pub;

	if (f->name_too_long)
		return;
	pub_file(&p->urgent, f->md5, f->size, f->name, f->name_len);
	pub_pump(p);
}

void
chord_index_unpublish(struct overlay *o, const struct library_file *f)
{
	struct chord_pub *p = o->pub;

	/* Nothing is removed from the ring: the records expire. */
	pubq_drop(&p->urgent, f->md5);
	pubq_drop(&p->paced, f->md5);
}

json_t *
chord_index_json(struct overlay *o)
{
	struct chord_pub *p = o->pub;

	return json_pack("{s:i,s:i,s:i,s:I,s:I,s:I,s:I}", "publish_queued",
	    (int)p->urgent.n, "republish_queued", (int)p->paced.n,
	    "publish_running", (int)p->nruns, "puts_sent",
	    (json_int_t)o->n.puts_sent, "puts_failed",
	    (json_int_t)o->n.puts_failed, "published_keys",
	    (json_int_t)o->n.published_keys, "republish_rounds",
	    (json_int_t)o->n.republish_rounds);
}

/* ------------------------------------------------------------ searching */

/* A record as a search keeps it. */
struct srec {
	char md5[CHORD_MD5_LEN + 1];
	uint64_t size;
	char ip[CHORD_IP_TEXT_MAX];
	uint16_t port;
	char name[CHORD_NAME_MAX + 1];
	size_t name_len;
};

/* The GET of one keyword (§3.6 step 2). */
struct kw_leg {
	struct overlay_search *s;
	struct chord_id key;
	char kw[CHORD_KEYWORD_MAX + 1];
	struct chord_lookup *lk;
	struct chord_call *call;
	struct chord_node node;                 /* successor(key) */
	struct chord_node replier;              /* who said so */
	struct chord_node cand[CHORD_SUCC_MAX]; /* fallbacks */
	unsigned ncand, next;
	int got_list; /* fallbacks fetched */
	int answered; /* a node answered 200 or 404 */
	unsigned relookups;
	struct srec *recs; /* the first 200's records, owned */
	unsigned nrecs;
	int done;
};

/* The ring walk (§3.7). */
struct walk {
	struct chord_node start;
	struct chord_node at;     /* the last node listed */
	struct chord_node trying; /* being asked */
	struct chord_node *visited;
	unsigned nvisited, cap;
	char cursor[CHORD_CURSOR_MAX + 1];
	struct chord_node next[CHORD_SUCC_MAX]; /* at's successors */
	unsigned nnext, inext;
	unsigned pages;
	uint64_t started_ms;
	struct chord_call *call;
};

/* Hits already sent: (md5, holder) of the walk, open addressing. */
struct seen {
	struct seen_entry {
		uint64_t h; /* 0: free */
		char md5[CHORD_MD5_LEN + 1];
		char ip[CHORD_IP_TEXT_MAX];
		uint16_t port;
	} * v;
	size_t cap, n;
};

struct overlay_search {
	struct overlay *o;
	char *term;
	int walk;   /* no keyword: the ring walk */
	int by_md5; /* the term is an md5: one GET of its key */
	char md5[CHORD_MD5_LEN + 1];
	struct kw_leg legs[CHORD_KEYWORDS_MAX];
	unsigned nlegs, pending;
	struct walk w;
	struct seen seen;
	unsigned hits;
	overlay_hit_cb hit;
	overlay_done_cb done;
	void *arg;
	struct overlay_search *prev, *next; /* o->searches */
};

static void
search_unlink(struct overlay_search *s)
{
	struct overlay *o = s->o;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		o->searches = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void
search_free(struct overlay_search *s)
{
	for (unsigned i = 0; i < s->nlegs; i++) {
		chord_lookup_cancel(s->legs[i].lk);
		chord_call_cancel(s->legs[i].call);
		free(s->legs[i].recs);
	}
	chord_call_cancel(s->w.call);
	free(s->w.visited);
	free(s->seen.v);
	free(s->term);
	free(s);
}

/* The search is over: the user hears it last. */
static void
search_end(struct overlay_search *s, int err, const char *msg)
{
	overlay_done_cb done = s->done;
	void *arg = s->arg;

	search_unlink(s);
	search_free(s);
	done(arg, err, msg);
}

static uint64_t
seen_hash(const char *md5, const char *ip, uint16_t port)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = md5; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	for (const char *p = ip; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	h = (h ^ port) * 1099511628211ULL;
	return h ? h : 1;
}

/* Add (md5, ip, port): 1 if new, 0 if seen, -1 when the set is full. */
static int
seen_add(struct seen *t, const char *md5, const char *ip, uint16_t port)
{
	uint64_t h = seen_hash(md5, ip, port);
	size_t i;

	if (t->n + 1 > t->cap / 2) {
		struct seen old = *t;

		if (t->n >= WALK_SEEN_MAX)
			return -1;
		t->cap = t->cap ? t->cap * 2 : 256;
		t->v = xcalloc(t->cap, sizeof(*t->v));
		t->n = 0;
		for (i = 0; i < old.cap; i++) {
			struct seen_entry *e = &old.v[i];
			size_t k;

			if (e->h == 0)
				continue;
			for (k = e->h & (t->cap - 1); t->v[k].h != 0;
			     k = (k + 1) & (t->cap - 1))
				;
			t->v[k] = *e;
			t->n++;
		}
		free(old.v);
	}
	for (i = h & (t->cap - 1); t->v[i].h != 0; i = (i + 1) & (t->cap - 1))
		if (t->v[i].h == h && t->v[i].port == port &&
		    strcmp(t->v[i].md5, md5) == 0 &&
		    strcmp(t->v[i].ip, ip) == 0)
			return 0;
	t->v[i].h = h;
	snprintf(t->v[i].md5, sizeof(t->v[i].md5), "%s", md5);
	snprintf(t->v[i].ip, sizeof(t->v[i].ip), "%s", ip);
	t->v[i].port = port;
	t->n++;
	return 1;
}

/* Send one hit: md5 held by ip:port. */
static void
search_hit(struct overlay_search *s, const char *md5, uint64_t size,
    const char *ip, uint16_t port, const char *name, size_t name_len)
{
	struct overlay_hit h;
	struct chord_addr a;

	memset(&h, 0, sizeof(h));
	if (chord_ip_parse(ip, strlen(ip), &a) != 0 ||
	    chord_addr_sockaddr(&a, port, &h.src.addrs[0]) != 0 ||
	    chord_id_text(&a, port, h.src.label, sizeof(h.src.label)) < 0)
		return;
	h.src.naddrs = 1;
	h.overlay = "chord";
	memcpy(h.md5, md5, sizeof(h.md5));
	h.name = name;
	h.name_len = name_len;
	h.size = size;
	h.size_known = 1;
	s->hits++;
	s->hit(s->arg, &h);
}

static int
srec_from(const struct chord_record *r, struct srec *out)
{
	if (chord_ip_format(&r->holder, out->ip, sizeof(out->ip)) < 0 ||
	    r->name.len > CHORD_NAME_MAX)
		return -1;
	memcpy(out->md5, r->md5, sizeof(out->md5));
	out->size = r->size;
	out->port = r->port;
	memcpy(out->name, r->name.ptr, r->name.len);
	out->name[r->name.len] = '\0';
	out->name_len = r->name.len;
	return 0;
}

static int
srec_parse(struct chord_str line, struct srec *out)
{
	struct chord_record r;

	if (chord_record_parse(line.ptr, line.len, &r) != 0)
		return -1;
	return srec_from(&r, out);
}

/* Every leg is done: intersect by md5 (§3.6 step 3) and send the hits. */
static void
search_finish(struct overlay_search *s)
{
	struct kw_leg *first = &s->legs[0];
	struct seen sent;
	char msg[160];
	int err = 0;

	memset(&sent, 0, sizeof(sent));
	for (unsigned i = 0; i < s->nlegs; i++) {
		if (!s->legs[i].answered && err == 0) {
			err = WARREN_ENOTFOUND;
			snprintf(msg, sizeof(msg),
			    "chord: no node answered for '%s' (the ring may "
			    "be repairing: try again)",
			    s->by_md5 ? s->md5 : s->legs[i].kw);
		}
	}
	for (unsigned a = 0; a < first->nrecs; a++) {
		const struct srec *r = &first->recs[a];
		int all = 1;

		if (s->by_md5 && strcmp(r->md5, s->md5) != 0)
			continue;
		for (unsigned i = 1; i < s->nlegs && all; i++) {
			unsigned b;

			for (b = 0; b < s->legs[i].nrecs; b++)
				if (strcmp(s->legs[i].recs[b].md5, r->md5) == 0)
					break;
			all = b < s->legs[i].nrecs;
		}
		if (!all)
			continue;
		/* Holders: the union over the keywords; name and size of
		 * the first record. */
		for (unsigned i = 0; i < s->nlegs; i++) {
			for (unsigned b = 0; b < s->legs[i].nrecs; b++) {
				const struct srec *h = &s->legs[i].recs[b];

				if (strcmp(h->md5, r->md5) != 0 ||
				    seen_add(&sent, h->md5, h->ip, h->port) !=
					1)
					continue;
				search_hit(s, r->md5, r->size, h->ip, h->port,
				    r->name, r->name_len);
			}
		}
	}
	free(sent.v);
	if (s->hits > 0)
		err = 0; /* found something: a partial answer is enough */
	search_end(s, err, err != 0 ? msg : NULL);
}

static void
leg_done(struct kw_leg *l)
{
	struct overlay_search *s = l->s;

	l->done = 1;
	if (--s->pending == 0)
		search_finish(s);
}

static void leg_try(struct kw_leg *l, const struct chord_node *n);
static void leg_lookup(struct kw_leg *l);

/* The node tried had nothing or failed: the next fallback. */
static void
leg_next(struct kw_leg *l, int failed)
{
	struct overlay *o = l->s->o;

	while (l->next < l->ncand) {
		const struct chord_node *n = &l->cand[l->next++];

		if (!chord_is_failed(o, n)) {
			leg_try(l, n);
			return;
		}
	}
	if (failed && !l->answered && l->relookups < LEG_RELOOKUPS) {
		/* The nodes found are gone: route around them. */
		l->relookups++;
		l->got_list = 0;
		leg_lookup(l);
		return;
	}
	leg_done(l);
}

static void
leg_list_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct kw_leg *l = arg;
	struct overlay *o = l->s->o;
	struct chord_node list[CHORD_SUCC_MAX];
	struct chord_str line;
	unsigned n = 0, first = 0;

	l->call = NULL;
	l->ncand = l->next = 0;
	while (err == 0 && st->code == 200 && n < CHORD_SUCC_MAX &&
	    chord_lines_next(&data, &line))
		if (chord_node_parse(line.ptr, line.len, &list[n]) == 0)
			n++;
	/* From the node that named s: the entries after s. */
	for (unsigned i = 0; l->got_list == 2 && i < n; i++)
		if (chord_node_same(&list[i], &l->node))
			first = i + 1;
	for (unsigned i = first; i < n && l->ncand < o->cfg.successors; i++)
		if (!chord_node_same(&list[i], &l->node))
			l->cand[l->ncand++] = list[i];
	leg_next(l, 1);
}

/* Fetch the fallbacks: s's successor list, or, when s is dead, the list
 * of the node that named it. */
static void
leg_fetch_list(struct kw_leg *l, int s_failed)
{
	const struct chord_node *from = &l->node;

	l->got_list = 1;
	if (s_failed) {
		if (chord_node_same(&l->replier, &l->node) ||
		    chord_is_failed(l->s->o, &l->replier)) {
			leg_next(l, 1);
			return;
		}
		from = &l->replier;
		l->got_list = 2;
	}
	l->call = chord_call_start(
	    l->s->o, from, "GET_SUCCESSORS", leg_list_done, l);
}

static void
leg_get_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct kw_leg *l = arg;
	struct chord_str line;

	l->call = NULL;
	if (err == 0 && st->code == 200) {
		l->answered = 1;
		l->recs = xcalloc(CHORD_GET_MAX, sizeof(*l->recs));
		while (
		    l->nrecs < CHORD_GET_MAX && chord_lines_next(&data, &line))
			if (srec_parse(line, &l->recs[l->nrecs]) == 0)
				l->nrecs++;
		leg_done(l);
		return;
	}
	if (err == 0 && st->code == 404)
		l->answered = 1;
	if (!l->got_list) {
		leg_fetch_list(l, err != 0);
		return;
	}
	leg_next(l, err != 0);
}

static void
leg_try(struct kw_leg *l, const struct chord_node *n)
{
	char line[CHORD_LINE_MAX], key[CHORD_ID_LEN + 1];

	chord_id_format(&l->key, key);
	snprintf(line, sizeof(line), "GET %s", key);
	l->call = chord_call_start(l->s->o, n, line, leg_get_done, l);
}

static void
leg_lookup_done(void *arg, int err, const struct chord_node *succ,
    const struct chord_node *replier, unsigned hops)
{
	struct kw_leg *l = arg;

	(void)hops;
	l->lk = NULL;
	if (err != 0) {
		leg_done(l);
		return;
	}
	l->node = *succ;
	l->replier = *replier;
	leg_try(l, succ);
}

static void
leg_lookup(struct kw_leg *l)
{
	l->lk = chord_lookup_start(
	    l->s->o, &l->key, NULL, 1, leg_lookup_done, l);
}

/* ---------------------------------------------------------- ring walk */

static void walk_list(struct overlay_search *s);

static int
walk_visited(const struct walk *w, const struct chord_node *n)
{
	for (unsigned i = 0; i < w->nvisited; i++)
		if (chord_node_same(&w->visited[i], n))
			return 1;
	return 0;
}

/* Move on to the next live successor of the last node listed (§3.7). */
static void
walk_advance(struct overlay_search *s)
{
	struct overlay *o = s->o;
	struct walk *w = &s->w;

	while (w->inext < w->nnext) {
		const struct chord_node *n = &w->next[w->inext++];

		if (chord_is_failed(o, n))
			continue;
		if (chord_node_same(n, &w->start) || walk_visited(w, n) ||
		    chord_id_between_incl(&w->start.id, &w->at.id, &n->id) ||
		    w->nvisited >= o->cfg.walk_max_nodes ||
		    uv_now(o->env.loop) - w->started_ms >=
			o->cfg.walk_timeout_ms)
			break; /* around the ring, or out of budget */
		w->trying = *n;
		if (w->nvisited == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 64;
			w->visited = xreallocarray(
			    w->visited, w->cap, sizeof(*w->visited));
		}
		w->visited[w->nvisited++] = *n;
		w->cursor[0] = '\0';
		walk_list(s);
		return;
	}
	search_end(s, 0, NULL);
}

static void
walk_succs_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay_search *s = arg;
	struct walk *w = &s->w;
	struct chord_str line;
	struct chord_node n;

	w->call = NULL;
	if (err != 0 || st->code != 200) {
		walk_advance(s); /* the previous node's next entries */
		return;
	}
	w->at = w->trying;
	w->nnext = w->inext = 0;
	while (w->nnext < CHORD_SUCC_MAX && chord_lines_next(&data, &line))
		if (chord_node_parse(line.ptr, line.len, &n) == 0)
			w->next[w->nnext++] = n;
	walk_advance(s);
}

static void
walk_list_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct overlay_search *s = arg;
	struct walk *w = &s->w;
	struct course_str term = {s->term, strlen(s->term)};
	struct chord_keyed k;
	struct chord_str line;
	struct srec r;

	w->call = NULL;
	if (err != 0 || st->code != 200) {
		walk_advance(s);
		return;
	}
	while (chord_lines_next(&data, &line)) {
		int added;

		if (chord_keyed_parse(line.ptr, line.len, &k) != 0 ||
		    srec_from(&k.rec, &r) != 0 ||
		    !course_term_match(term, r.name, r.name_len))
			continue;
		added = seen_add(&s->seen, r.md5, r.ip, r.port);
		if (added < 0) {
			search_end(s, 0, NULL);
			return;
		}
		if (added == 1)
			search_hit(
			    s, r.md5, r.size, r.ip, r.port, r.name, r.name_len);
	}
	if (st->cursor.len > 0 && st->cursor.len <= CHORD_CURSOR_MAX &&
	    ++w->pages < WALK_PAGES_MAX &&
	    uv_now(s->o->env.loop) - w->started_ms <
		s->o->cfg.walk_timeout_ms) {
		memcpy(w->cursor, st->cursor.ptr, st->cursor.len);
		w->cursor[st->cursor.len] = '\0';
		walk_list(s);
		return;
	}
	w->call = chord_call_start(
	    s->o, &w->trying, "GET_SUCCESSORS", walk_succs_done, s);
}

static void
walk_list(struct overlay_search *s)
{
	char line[CHORD_LINE_MAX];

	if (s->w.cursor[0] != '\0')
		snprintf(line, sizeof(line), "LIST %s", s->w.cursor);
	else
		snprintf(line, sizeof(line), "LIST");
	s->w.call = chord_call_start(
	    s->o, &s->w.trying, line, walk_list_done, s);
}

/* ------------------------------------------------------------- search */

static int
is_md5(const char *t)
{
	size_t n = strlen(t);

	if (n != CHORD_MD5_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= '0' && t[i] <= '9') ||
			(t[i] >= 'a' && t[i] <= 'f') ||
			(t[i] >= 'A' && t[i] <= 'F')))
			return 0;
	return 1;
}

int
chord_index_search(struct overlay *o, const struct overlay_search_opts *opts,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen)
{
	struct overlay_search *s;
	struct chord_keywords it;
	unsigned nsearches = 0;
	const char *term = opts->term != NULL ? opts->term : "";
	int n;

	for (s = o->searches; s != NULL; s = s->next)
		nsearches++;
	if (nsearches >= SEARCH_MAX) {
		snprintf(msg, msglen, "chord: %d searches are running already",
		    SEARCH_MAX);
		return WARREN_ELIMIT;
	}
	if (strlen(term) > 1024) {
		snprintf(msg, msglen, "chord: the search term is too long");
		return WARREN_ETOOLONG;
	}
	s = xcalloc(1, sizeof(*s));
	s->o = o;
	s->term = xstrdup(term);
	s->hit = hit;
	s->done = done;
	s->arg = arg;
	if (is_md5(term)) {
		struct kw_leg *l = &s->legs[s->nlegs++];

		s->by_md5 = 1;
		for (int i = 0; i < CHORD_MD5_LEN; i++)
			s->md5[i] = (char)(term[i] >= 'A' && term[i] <= 'F'
				? term[i] - 'A' + 'a'
				: term[i]);
		chord_sha1(s->md5, CHORD_MD5_LEN, &l->key);
		snprintf(l->kw, sizeof(l->kw), "%s", s->md5);
	} else {
		chord_keywords_init(&it, term, strlen(term));
		while (s->nlegs < CHORD_KEYWORDS_MAX &&
		    (n = chord_keywords_next(&it, s->legs[s->nlegs].kw)) > 0) {
			chord_sha1(s->legs[s->nlegs].kw, (size_t)n,
			    &s->legs[s->nlegs].key);
			s->nlegs++;
		}
	}
	s->next = o->searches;
	if (o->searches != NULL)
		o->searches->prev = s;
	o->searches = s;
	if (s->nlegs == 0) {
		/* No keyword (empty, '*', short words): walk the ring. */
		o->n.walks++;
		s->walk = 1;
		s->w.start = o->self;
		s->w.at = o->self;
		s->w.trying = o->self;
		s->w.started_ms = uv_now(o->env.loop);
		s->w.cap = 64;
		s->w.visited = xcalloc(s->w.cap, sizeof(*s->w.visited));
		s->w.visited[s->w.nvisited++] = o->self;
		walk_list(s); /* answered from the loop: no callback now */
	} else {
		o->n.searches++;
		s->pending = s->nlegs;
		for (unsigned i = 0; i < s->nlegs; i++) {
			s->legs[i].s = s;
			leg_lookup(&s->legs[i]);
		}
	}
	*out = s;
	return 0;
}

void
chord_index_search_cancel(struct overlay_search *s)
{
	search_unlink(s);
	search_free(s);
}

void
chord_index_stop(struct overlay *o)
{
	struct chord_pub *p = o->pub;

	while (o->searches != NULL)
		search_end(
		    o->searches, WARREN_ECANCELED, "the node is stopping");
	if (p == NULL)
		return;
	/* The PUTs in flight are cancelled with the overlay's calls. */
	while (p->runs != NULL) {
		struct pub_run *r = p->runs;

		chord_lookup_cancel(r->lk);
		chord_call_cancel(r->call);
		pub_run_free(r);
	}
	pubq_clear(&p->urgent);
	pubq_clear(&p->paced);
	uv_timer_stop(p->timer);
	uv_close((uv_handle_t *)p->timer, pub_timer_closed);
	free(p);
	o->pub = NULL;
}
