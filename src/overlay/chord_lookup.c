/*
 * chord_lookup.c: how a chord node asks: one-shot requests to other nodes
 * (chord_rpc.c) or to itself (answered by chord_serve.c from the loop, so
 * that the caller's code is the same either way), failure marks for the
 * nodes that do not answer, and the iterative lookup of chord.md §3.3:
 * the caller follows 302 answers itself, counts hops, accepts only
 * candidates that make progress and were not visited, falls back on the
 * remaining candidates of earlier answers, and stops after 32 hops or 64
 * requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chord_int.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "warren/error.h"

/* ------------------------------------------------------------- calls */

struct chord_call {
	struct overlay *o;
	struct chord_node to;
	int local;                 /* answered by this node */
	int unusable;              /* no address to connect to: fails */
	char line[CHORD_LINE_MAX]; /* the request, with its CRLF */
	size_t len;
	struct chord_rpc *rpc; /* remote, until its callback */
	chord_call_cb cb;
	void *arg;
	struct chord_call *prev, *next; /* o->calls */
	struct chord_call *lnext;       /* o->local_head queue */
};

static void
call_unlink(struct chord_call *c)
{
	struct overlay *o = c->o;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		o->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void
call_rpc_done(
    void *arg, int status, const struct chord_status *st, struct chord_str data)
{
	struct chord_call *c = arg;
	struct overlay *o = c->o;
	char label[ADDR_STRLEN];

	c->rpc = NULL;
	call_unlink(c);
	if (status != 0) {
		o->n.requests_failed++;
		if (status == UV_ETIMEDOUT)
			o->n.timeouts++;
		chord_node_label(&c->to, label, sizeof(label));
		log_debug("chord: %s failed %.*s: %s", label,
		    (int)strcspn(c->line, " \r"), c->line,
		    status > -4096 ? uv_strerror(status)
				   : warren_strerror(status));
		chord_mark_failed(o, &c->to);
	} else {
		chord_mark_alive(o, &c->to);
	}
	if (c->cb != NULL)
		c->cb(c->arg, status, st, data);
	free(c);
}

/* Answer the local requests queued before this run, in order. */
static void
call_local_run(uv_timer_t *t)
{
	struct overlay *o = t->data;
	struct chord_call *c;
	unsigned due = 0;

	/* Only those queued now: answers may queue more requests. */
	for (c = o->local_head; c != NULL; c = c->lnext)
		due++;
	while (due-- > 0 && (c = o->local_head) != NULL) {
		struct chord_request req;
		struct chord_status st;
		struct chord_str data = {NULL, 0};
		char *resp = NULL;
		size_t len = 0;
		int n, err = WARREN_EPROTO;

		o->local_head = c->lnext;
		if (o->local_head == NULL)
			o->local_tail = NULL;
		call_unlink(c);
		if (!c->unusable &&
		    chord_request_parse(c->line, c->len, &req) > 0)
			resp = chord_serve_answer(o, &req, 1, &len);
		if (resp != NULL &&
		    (n = chord_response_parse(resp, len, &st, &data)) > 0 &&
		    (size_t)n == len)
			err = 0;
		if (c->cb != NULL)
			c->cb(c->arg, err, err == 0 ? &st : NULL, data);
		free(resp);
		free(c);
	}
	if (o->local_head != NULL)
		uv_timer_start(o->t_local, call_local_run, 0, 0);
}

struct chord_call *
chord_call_start(struct overlay *o, const struct chord_node *to,
    const char *line, chord_call_cb cb, void *arg)
{
	struct chord_call *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	int n;

	c->o = o;
	c->to = *to;
	c->cb = cb;
	c->arg = arg;
	n = snprintf(c->line, sizeof(c->line), "%s\r\n", line);
	c->len = n > 0 && (size_t)n < sizeof(c->line) ? (size_t)n : 0;
	c->next = o->calls;
	if (o->calls != NULL)
		o->calls->prev = c;
	o->calls = c;
	if (chord_is_self(o, to) || c->len == 0 ||
	    chord_node_sockaddr(to, &ss) != 0) {
		/* Asked of itself, or unusable: an error from the loop. */
		c->local = 1;
		c->unusable = !chord_is_self(o, to) || c->len == 0;
		if (o->local_tail != NULL)
			o->local_tail->lnext = c;
		else
			o->local_head = c;
		o->local_tail = c;
		uv_timer_start(o->t_local, call_local_run, 0, 0);
		return c;
	}
	o->n.requests_sent++;
	c->rpc = chord_rpc_start(o->env.loop, &o->env.dial,
	    (struct sockaddr *)&ss, c->line, c->len, o->cfg.timeout_ms,
	    call_rpc_done, c);
	return c;
}

void
chord_call_cancel(struct chord_call *c)
{
	struct overlay *o;
	struct chord_call **pp, *prev = NULL;

	if (c == NULL)
		return;
	o = c->o;
	call_unlink(c);
	if (c->local) {
		for (pp = &o->local_head; *pp != NULL; pp = &(*pp)->lnext) {
			if (*pp == c) {
				*pp = c->lnext;
				if (o->local_tail == c)
					o->local_tail = prev;
				break;
			}
			prev = *pp;
		}
	} else {
		chord_rpc_cancel(c->rpc);
	}
	free(c);
}

void
chord_calls_stop(struct overlay *o)
{
	while (o->calls != NULL)
		chord_call_cancel(o->calls);
}

const char *
chord_lookup_strerror(int err)
{
	switch (err) {
	case WARREN_ENOTFOUND:
		return "no candidate left (the nodes named failed or made no "
		       "progress)";
	case WARREN_ELIMIT:
		return "more than 32 hops or 64 requests";
	case UV_ETIMEDOUT:
		return "lookup timeout";
	default:
		return err > -4096 ? uv_strerror(err) : warren_strerror(err);
	}
}

int
chord_data_node(struct chord_str data, struct chord_node *out)
{
	struct chord_str line;

	if (!chord_lines_next(&data, &line))
		return WARREN_EEMPTY;
	return chord_node_parse(line.ptr, line.len, out);
}

/* ----------------------------------------------------------- lookups */

/* One 302 answer: who gave it and the candidates not yet tried. */
struct lk_frame {
	struct chord_node from;
	int from_known; /* from.id is meaningful */
	struct chord_node cand[CHORD_NEXT_MAX];
	unsigned n, next;
};

struct chord_lookup {
	struct overlay *o;
	struct chord_id id;
	struct lk_frame frames[CHORD_HOPS_MAX + 1];
	unsigned nframes;
	struct chord_node visited[CHORD_REQUESTS_MAX + 1];
	unsigned nvisited;
	struct chord_node cur; /* asked now */
	int cur_known;
	unsigned hops, requests;
	uint64_t started_ms;
	struct chord_call *call;
	chord_lookup_cb cb;
	void *arg;
};

static void lk_send(struct chord_lookup *l);

static int
lk_visited(const struct chord_lookup *l, const struct chord_node *n)
{
	for (unsigned i = 0; i < l->nvisited; i++)
		if (chord_node_same(&l->visited[i], n))
			return 1;
	return 0;
}

static void
lk_finish(struct chord_lookup *l, int err, const struct chord_node *succ)
{
	struct overlay *o = l->o;

	if (err == 0) {
		o->n.lookups_ok++;
		o->n.hops += l->hops;
		o->n.hop_hist[l->hops <= CHORD_HOPS_MAX ? l->hops
							: CHORD_HOPS_MAX]++;
	} else {
		o->n.lookups_failed++;
	}
	l->cb(l->arg, err, succ, err == 0 ? &l->cur : NULL, l->hops);
	free(l);
}

/* Ask the next acceptable candidate, newest answer first (§3.3 step 3). */
static void
lk_advance(struct chord_lookup *l)
{
	struct overlay *o = l->o;

	if (l->requests >= CHORD_REQUESTS_MAX) {
		lk_finish(l, WARREN_ELIMIT, NULL);
		return;
	}
	if (uv_now(o->env.loop) - l->started_ms >= o->cfg.lookup_timeout_ms) {
		lk_finish(l, UV_ETIMEDOUT, NULL);
		return;
	}
	while (l->nframes > 0) {
		struct lk_frame *f = &l->frames[l->nframes - 1];

		while (f->next < f->n) {
			const struct chord_node *c = &f->cand[f->next++];

			if (lk_visited(l, c) || chord_is_failed(o, c))
				continue;
			/* Progress: c in (from, id). */
			if (f->from_known &&
			    !chord_id_between(&c->id, &f->from.id, &l->id))
				continue;
			l->cur = *c;
			l->cur_known = 1;
			lk_send(l);
			return;
		}
		l->nframes--;
	}
	lk_finish(l, WARREN_ENOTFOUND, NULL);
}

static void
lk_reply(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct chord_lookup *l = arg;
	struct overlay *o = l->o;
	struct chord_node succ;
	struct chord_str line;
	struct lk_frame *f;

	l->call = NULL;
	if (err != 0) {
		lk_advance(l);
		return;
	}
	if (st->code == 200) {
		if (chord_data_node(data, &succ) == 0) {
			lk_finish(l, 0, &succ);
			return;
		}
		chord_mark_failed(o, &l->cur); /* a malformed reply */
		lk_advance(l);
		return;
	}
	if (st->code != 302) {
		lk_advance(l); /* alive but not answering this */
		return;
	}
	if (++l->hops > CHORD_HOPS_MAX) {
		lk_finish(l, WARREN_ELIMIT, NULL);
		return;
	}
	f = &l->frames[l->nframes];
	memset(f, 0, sizeof(*f));
	f->from = l->cur;
	f->from_known = l->cur_known;
	while (chord_lines_next(&data, &line)) {
		if (f->n == CHORD_NEXT_MAX ||
		    chord_node_parse(line.ptr, line.len, &f->cand[f->n]) != 0) {
			chord_mark_failed(o, &l->cur);
			lk_advance(l);
			return;
		}
		f->n++;
	}
	l->nframes++;
	lk_advance(l);
}

static void
lk_send(struct chord_lookup *l)
{
	char line[CHORD_LINE_MAX], id[CHORD_ID_LEN + 1];

	l->requests++;
	if (!lk_visited(l, &l->cur))
		l->visited[l->nvisited++] = l->cur;
	chord_id_format(&l->id, id);
	snprintf(line, sizeof(line), "FIND_SUCCESSOR %s", id);
	l->call = chord_call_start(l->o, &l->cur, line, lk_reply, l);
}

struct chord_lookup *
chord_lookup_start(struct overlay *o, const struct chord_id *id,
    const struct chord_node *start, int start_id_known, chord_lookup_cb cb,
    void *arg)
{
	struct chord_lookup *l = xcalloc(1, sizeof(*l));

	l->o = o;
	l->id = *id;
	l->cb = cb;
	l->arg = arg;
	l->started_ms = uv_now(o->env.loop);
	/* Never asked again by this lookup: this node answers from its own
	 * state, which a joining node must not use. */
	l->visited[l->nvisited++] = o->self;
	l->cur = start != NULL ? *start : o->self;
	l->cur_known = start != NULL ? start_id_known : 1;
	o->n.lookups++;
	lk_send(l);
	return l;
}

void
chord_lookup_cancel(struct chord_lookup *l)
{
	if (l == NULL)
		return;
	chord_call_cancel(l->call);
	free(l);
}
