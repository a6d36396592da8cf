/*
 * Graceful leave: the records this node is responsible for (key in
 * (p, n], or everything it stores when p is unknown) are PUT to its
 * successor before it goes. chord.md §3.5 step 6 needs no ring message,
 * since the replicas on the r successors keep the records; the hand-over
 * makes sure of it when the replicas are fewer than the spec assumes (a
 * ring run with r = 1, replicas lost to a crash since the last
 * republish).
 *
 * The hand-over outlives the overlay: it takes the record store and a
 * copy of the successor list, keeps at most LEAVE_INFLIGHT PUTs in
 * flight, moves on to the next successor when one fails, and gives up at
 * a deadline, so a node that stops never waits on a dead ring for long.
 * The receiver sets a fresh expiry (PUT, §3.3): a record handed over may
 * outlive its holder by one record_ttl, as a replica does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chord_int.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define LEAVE_INFLIGHT 8

struct leave;

struct leave_put {
	struct leave *lv;
	struct chord_rpc *rpc; /* NULL: slot free */
	unsigned target;       /* index into lv->to */
	size_t len;
	char line[2 * CHORD_LINE_MAX];
};

struct leave {
	uv_loop_t *loop;
	struct dial_opts dial;
	uint64_t timeout_ms; /* one PUT */
	struct chord_store *store;
	struct chord_id lo, hi;
	struct chord_store_pos after;
	int has_after, paged_out, ending;
	struct sockaddr_storage to[CHORD_SUCC_MAX];
	char label[ADDR_STRLEN];
	unsigned nto, cur; /* successors; the one PUTs go to */
	struct leave_put slot[LEAVE_INFLIGHT];
	unsigned inflight;
	unsigned sent, failed;
	uv_timer_t deadline;
};

static void leave_pump(struct leave *lv);

static void
leave_closed(uv_handle_t *h)
{
	struct leave *lv = h->data;

	chord_store_free(lv->store);
	free(lv);
}

/* Done (all sent, no successor left, or deadline): free everything. */
static void
leave_end(struct leave *lv, const char *why)
{
	size_t left;

	if (lv->ending)
		return;
	lv->ending = 1;
	for (unsigned i = 0; i < LEAVE_INFLIGHT; i++)
		if (lv->slot[i].rpc != NULL) {
			chord_rpc_cancel(lv->slot[i].rpc);
			lv->slot[i].rpc = NULL;
			lv->failed++;
		}
	left = lv->paged_out ? 0 : 1;
	if (why == NULL)
		log_info("chord: left the ring; %u record%s handed to %s",
		    lv->sent, lv->sent == 1 ? "" : "s", lv->label);
	else
		log_warn("chord: leaving: %s; %u record%s handed over, %u "
			 "failed%s",
		    why, lv->sent, lv->sent == 1 ? "" : "s", lv->failed,
		    left ? ", more not tried (replicas keep them)" : "");
	uv_timer_stop(&lv->deadline);
	uv_close((uv_handle_t *)&lv->deadline, leave_closed);
}

static void
leave_deadline(uv_timer_t *t)
{
	leave_end(t->data, "deadline passed");
}

static void leave_send(struct leave_put *p);

static void
leave_put_done(
    void *arg, int err, const struct chord_status *st, struct chord_str data)
{
	struct leave_put *p = arg;
	struct leave *lv = p->lv;

	(void)data;
	p->rpc = NULL;
	lv->inflight--;
	if (err == 0 && st->code == 200) {
		lv->sent++;
		leave_pump(lv);
		return;
	}
	/* This successor failed or is full: the next one takes the rest. */
	if (p->target == lv->cur) {
		char a[ADDR_STRLEN];

		addr_format((struct sockaddr *)&lv->to[lv->cur], a, sizeof(a));
		log_info("chord: leaving: %s %s", a,
		    err != 0 ? uv_strerror(err) : "refused a record");
		lv->cur++;
	}
	if (lv->cur >= lv->nto) {
		lv->failed++;
		leave_end(lv, "no successor took the records");
		return;
	}
	leave_send(p);
}

static void
leave_send(struct leave_put *p)
{
	struct leave *lv = p->lv;

	p->target = lv->cur;
	addr_format(
	    (struct sockaddr *)&lv->to[lv->cur], lv->label, sizeof(lv->label));
	p->rpc = chord_rpc_start(lv->loop, &lv->dial,
	    (struct sockaddr *)&lv->to[p->target], p->line, p->len,
	    lv->timeout_ms, leave_put_done, p);
	lv->inflight++;
}

/* Fill the free slots with the next records of (lo, hi]. */
static void
leave_pump(struct leave *lv)
{
	uint64_t now = uv_now(lv->loop);

	for (unsigned i = 0; i < LEAVE_INFLIGHT && !lv->paged_out; i++) {
		struct leave_put *p = &lv->slot[i];
		const struct chord_srec *r;
		char key[CHORD_ID_LEN + 1];
		int more, n;

		if (p->rpc != NULL)
			continue;
		if (chord_store_range(lv->store, &lv->lo, &lv->hi,
			lv->has_after ? &lv->after : NULL, now, &r, 1,
			&more) == 0) {
			lv->paged_out = 1;
			break;
		}
		lv->after.key = r->key;
		memcpy(lv->after.md5, r->md5, sizeof(lv->after.md5));
		memcpy(lv->after.ip, r->ip, sizeof(lv->after.ip));
		lv->after.port = r->port;
		lv->has_after = 1;
		chord_id_format(&r->key, key);
		n = snprintf(p->line, sizeof(p->line),
		    "PUT %s %s %llu %s %u %s\r\n", key, r->md5,
		    (unsigned long long)r->size, r->ip, (unsigned)r->port,
		    r->name);
		if (n < 0 || (size_t)n >= sizeof(p->line))
			continue; /* cannot happen: fields are bounded */
		p->len = (size_t)n;
		leave_send(p);
		if (!more)
			lv->paged_out = 1;
	}
	if (lv->paged_out && lv->inflight == 0)
		leave_end(lv, NULL);
}

void
chord_leave_start(struct overlay *o)
{
	struct leave *lv;
	int more;
	const struct chord_srec *r;
	struct chord_id lo = o->has_pred ? o->pred.id : o->self.id;

	if (o->cfg.leave_timeout_ms == 0 || o->nsucc == 0 ||
	    chord_store_range(o->store, &lo, &o->self.id, NULL,
		uv_now(o->env.loop), &r, 1, &more) == 0)
		return;
	lv = xcalloc(1, sizeof(*lv));
	lv->loop = o->env.loop;
	lv->dial = o->env.dial;
	lv->timeout_ms = o->cfg.timeout_ms;
	lv->lo = lo;
	lv->hi = o->self.id;
	for (unsigned i = 0; i < o->nsucc; i++)
		if (chord_node_sockaddr(&o->succ[i], &lv->to[lv->nto]) == 0)
			lv->nto++;
	if (lv->nto == 0) {
		free(lv);
		return;
	}
	for (unsigned i = 0; i < LEAVE_INFLIGHT; i++)
		lv->slot[i].lv = lv;
	/* The store is the hand-over's now. */
	lv->store = o->store;
	o->store = NULL;
	uv_timer_init(lv->loop, &lv->deadline);
	lv->deadline.data = lv;
	uv_timer_start(
	    &lv->deadline, leave_deadline, o->cfg.leave_timeout_ms, 0);
	leave_pump(lv);
}
