/*
 * Liveness probes of an index's sessions: connect to the peer's main port
 * and close.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "peerset.h"
#include "sprobe.h"
#include "store/index.h"
#include "warren/error.h"

/* A probe in flight. */
struct sprobe_one {
	struct sprobe *p; /* NULL once the prober is gone */
	char id[COURSE_SESSION_LEN];
	struct dial *d;
	struct sprobe_one *next;
};

/* Failed probes so far, per session. */
struct sprobe_fail {
	char id[COURSE_SESSION_LEN];
	unsigned fails;
};

struct sprobe {
	uv_loop_t *loop;
	struct index *ix;
	struct dial_opts dial;
	uint64_t silent_ms;
	unsigned max_fails;
	sprobe_drop_cb cb;
	void *arg;
	uv_timer_t *timer;
	struct sprobe_one *inflight;
	struct sprobe_fail *fails;
	unsigned nfails, failcap;
};

static struct sprobe_fail *
sprobe_fail_get(struct sprobe *p, const char id[COURSE_SESSION_LEN])
{
	for (unsigned i = 0; i < p->nfails; i++)
		if (memcmp(p->fails[i].id, id, COURSE_SESSION_LEN) == 0)
			return &p->fails[i];
	if (p->nfails == p->failcap) {
		p->failcap = p->failcap ? p->failcap * 2 : 16;
		p->fails = xreallocarray(
		    p->fails, p->failcap, sizeof(*p->fails));
	}
	memset(&p->fails[p->nfails], 0, sizeof(p->fails[0]));
	memcpy(p->fails[p->nfails].id, id, COURSE_SESSION_LEN);
	return &p->fails[p->nfails++];
}

static void
sprobe_fail_clear(struct sprobe *p, const char id[COURSE_SESSION_LEN])
{
	for (unsigned i = 0; i < p->nfails; i++) {
		if (memcmp(p->fails[i].id, id, COURSE_SESSION_LEN) == 0) {
			p->fails[i] = p->fails[--p->nfails];
			return;
		}
	}
}

static void
sprobe_done(void *arg, struct conn *c, int status)
{
	struct sprobe_one *one = arg, **pp;
	struct sprobe *p = one->p;
	struct course_peer peer;
	int links;

	if (c != NULL)
		conn_close(c, 0);
	if (p == NULL) {
		free(one);
		return;
	}
	for (pp = &p->inflight; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == one) {
			*pp = one->next;
			break;
		}
	}
	if (status == 0) {
		index_touch(p->ix, one->id, uv_now(p->loop));
		sprobe_fail_clear(p, one->id);
	} else if (++sprobe_fail_get(p, one->id)->fails >= p->max_fails) {
		memset(&peer, 0, sizeof(peer));
		index_session(p->ix, one->id, &peer);
		links = index_logout(p->ix, one->id);
		sprobe_fail_clear(p, one->id);
		if (links >= 0 && p->cb != NULL)
			p->cb(p->arg, &peer, links);
	}
	free(one);
}

struct sprobe_walk {
	struct sprobe *p;
	uint64_t now;
};

static void
sprobe_session(void *arg, const char id[COURSE_SESSION_LEN],
    const struct course_peer *peer, uint64_t last_ms)
{
	struct sprobe_walk *w = arg;
	struct sprobe *p = w->p;
	struct download_source src;
	struct sprobe_one *one;

	if (w->now - last_ms < p->silent_ms)
		return;
	for (one = p->inflight; one != NULL; one = one->next)
		if (memcmp(one->id, id, COURSE_SESSION_LEN) == 0)
			return; /* one at a time */
	peer_source(peer, &src);
	one = xcalloc(1, sizeof(*one));
	one->p = p;
	memcpy(one->id, id, COURSE_SESSION_LEN);
	if (src.naddrs == 0) {
		sprobe_done(one, NULL, WARREN_EFIELD);
		return;
	}
	one->next = p->inflight;
	p->inflight = one;
	one->d = dial_start(
	    p->loop, src.addrs, src.naddrs, &p->dial, sprobe_done, one);
}

static void
sprobe_timer(uv_timer_t *t)
{
	struct sprobe *p = t->data;
	struct sprobe_walk w = {p, uv_now(p->loop)};

	index_foreach_session(p->ix, sprobe_session, &w);
}

static void
sprobe_timer_closed(uv_handle_t *h)
{
	free(h);
}

struct sprobe *
sprobe_new(uv_loop_t *loop, struct index *ix, const struct dial_opts *dial,
    uint64_t silent_ms, unsigned max_fails, sprobe_drop_cb cb, void *arg)
{
	struct sprobe *p = xcalloc(1, sizeof(*p));
	uint64_t every = silent_ms / 2 ? silent_ms / 2 : 1;

	p->loop = loop;
	p->ix = ix;
	p->dial = *dial;
	p->silent_ms = silent_ms;
	p->max_fails = max_fails ? max_fails : 1;
	p->cb = cb;
	p->arg = arg;
	p->timer = xcalloc(1, sizeof(*p->timer));
	uv_timer_init(loop, p->timer);
	p->timer->data = p;
	uv_timer_start(p->timer, sprobe_timer, every, every);
	return p;
}

void
sprobe_free(struct sprobe *p)
{
	if (p == NULL)
		return;
	for (struct sprobe_one *one = p->inflight; one != NULL;
	     one = one->next) {
		one->p = NULL;
		dial_cancel(one->d);
	}
	uv_timer_stop(p->timer);
	uv_close((uv_handle_t *)p->timer, sprobe_timer_closed);
	free(p->fails);
	free(p);
}
