/*
 * A search fanned out over the node's overlays, hits streamed to one
 * client and remembered as sources for `get`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/xmalloc.h"
#include "known.h"
#include "node.h"
#include "search.h"
#include "transfer/download.h"
#include "warren/error.h"

struct search_leg {
	struct node_search *s;
	const struct node_overlay *ov;
	struct overlay_search *os; /* NULL once done or never started */
	unsigned hits;
	char error[256]; /* "" when fine */
};

struct node_search {
	struct node *n;
	node_search_cb cb;
	void *arg;
	char *term;
	uint64_t started_ms;
	struct search_leg legs[NODE_MAX_OVERLAYS];
	unsigned nlegs, running;
	unsigned hits;
	char (*md5s)[COURSE_MD5_LEN + 1]; /* distinct files seen */
	unsigned nmd5, md5cap;
};

static json_t *
search_source_json(const struct download_source *src)
{
	json_t *addrs = json_array();
	char a[ADDR_STRLEN];

	for (unsigned i = 0; i < src->naddrs; i++) {
		addr_format(
		    (const struct sockaddr *)&src->addrs[i], a, sizeof(a));
		json_array_append_new(addrs, json_string(a));
	}
	return json_pack("{s:s,s:o}", "label", src->label, "addrs", addrs);
}

static void
search_count_file(struct node_search *s, const char *md5)
{
	for (unsigned i = 0; i < s->nmd5; i++)
		if (strcmp(s->md5s[i], md5) == 0)
			return;
	if (s->nmd5 == s->md5cap) {
		s->md5cap = s->md5cap ? s->md5cap * 2 : 16;
		s->md5s = xreallocarray(s->md5s, s->md5cap, sizeof(*s->md5s));
	}
	memcpy(s->md5s[s->nmd5++], md5, COURSE_MD5_LEN + 1);
}

static void
search_hit(void *arg, const struct overlay_hit *h)
{
	struct search_leg *leg = arg;
	struct node_search *s = leg->s;
	uint64_t now = uv_now(s->n->loop);
	struct download_source src = h->src;
	struct download *d;
	json_t *hit;

	leg->hits++;
	s->hits++;
	search_count_file(s, h->md5);
	snprintf(src.via, sizeof(src.via), "%s", h->overlay);
	known_add(s->n->known, h->md5, h->name, h->name_len, &src, now);
	/* A holder of a file being downloaded joins that download. */
	if ((d = downloader_find_md5(s->n->dl, h->md5)) != NULL)
		download_add_source(d, &src);
	hit = json_pack("{s:s,s:s%,s:s,s:o,s:I}", "md5", h->md5, "name",
	    h->name, h->name_len, "overlay", h->overlay, "source",
	    search_source_json(&h->src), "t_ms",
	    (json_int_t)(now - s->started_ms));
	json_object_set_new(hit, "size",
	    h->size_known ? json_integer((json_int_t)h->size) : json_null());
	s->cb(s->arg, json_pack("{s:s,s:o}", "event", "hit", "hit", hit));
}

static json_t *
search_leg_json(const struct search_leg *leg)
{
	return json_pack("{s:s,s:i,s:o}", "name", leg->ov->ops->name, "hits",
	    (int)leg->hits, "error",
	    leg->error[0] ? json_string(leg->error) : json_null());
}

static void
search_free(struct node_search *s)
{
	free(s->md5s);
	free(s->term);
	free(s);
}

static void
search_finish(struct node_search *s)
{
	json_t *legs = json_array(), *res;

	for (unsigned i = 0; i < s->nlegs; i++)
		json_array_append_new(legs, search_leg_json(&s->legs[i]));
	res = json_pack("{s:s,s:i,s:i,s:I,s:o}", "term", s->term, "hits",
	    (int)s->hits, "files", (int)s->nmd5, "elapsed_ms",
	    (json_int_t)(uv_now(s->n->loop) - s->started_ms), "overlays", legs);
	s->cb(s->arg,
	    json_pack("{s:b,s:b,s:o}", "done", 1, "ok", 1, "result", res));
	search_free(s);
}

static void
search_done(void *arg, int err, const char *msg)
{
	struct search_leg *leg = arg;
	struct node_search *s = leg->s;
	json_t *ev;

	leg->os = NULL;
	if (err != 0)
		snprintf(leg->error, sizeof(leg->error), "%s",
		    msg ? msg : warren_strerror(err));
	ev = search_leg_json(leg);
	json_object_set_new(ev, "event", json_string("overlay_done"));
	json_object_set(ev, "overlay", json_object_get(ev, "name"));
	s->cb(s->arg, ev);
	if (--s->running == 0)
		search_finish(s);
}

struct node_search *
node_search_start(struct node *n, const struct node_search_opts *opts,
    node_search_cb cb, void *arg, char *err, size_t errlen)
{
	struct node_search *s;
	struct overlay_search_opts oo;

	if (n->nov == 0) {
		snprintf(err, errlen,
		    "this node has joined no overlay (start it with "
		    "--overlay NAME)");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->n = n;
	s->cb = cb;
	s->arg = arg;
	s->term = xstrdup(opts->term);
	s->started_ms = uv_now(n->loop);
	memset(&oo, 0, sizeof(oo));
	oo.term = opts->term;
	oo.ttl = opts->ttl;
	oo.window_ms = opts->window_ms;
	for (unsigned i = 0; i < n->nov; i++) {
		struct search_leg *leg = &s->legs[s->nlegs];

		if (opts->overlay != NULL &&
		    strcmp(opts->overlay, n->ov[i].ops->name) != 0)
			continue;
		leg->s = s;
		leg->ov = &n->ov[i];
		s->nlegs++;
		if (n->ov[i].ops->search(n->ov[i].o, &oo, search_hit,
			search_done, leg, &leg->os, leg->error,
			sizeof(leg->error)) == 0)
			s->running++;
		else
			leg->os = NULL;
	}
	if (s->nlegs == 0)
		snprintf(err, errlen,
		    "this node has not joined overlay '%s' (see 'warren "
		    "status')",
		    opts->overlay);
	else if (s->running == 0)
		snprintf(err, errlen, "%s", s->legs[0].error);
	if (s->running == 0) {
		search_free(s);
		return NULL;
	}
	return s;
}

void
node_search_cancel(struct node_search *s)
{
	for (unsigned i = 0; i < s->nlegs; i++)
		if (s->legs[i].os != NULL)
			s->legs[i].ov->ops->search_cancel(s->legs[i].os);
	search_free(s);
}
