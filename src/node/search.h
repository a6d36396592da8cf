/*
 * search.h: one search across every overlay the node has joined (or one
 * of them). Hits stream out as they arrive and are remembered as download
 * sources (known.h); the search ends when every overlay's window closed.
 */
#ifndef WARREN_NODE_SEARCH_H
#define WARREN_NODE_SEARCH_H

#include <stdint.h>

#include <jansson.h>

struct node;
struct node_search;

/*
 * An event for the client, as a JSON object (a new reference the callee
 * takes): {"event":"hit","hit":{..}}, {"event":"overlay_done",..}, and
 * last {"done":true,"ok":true,"result":{..}}. After the last one s is
 * gone. Never called from inside node_search_start().
 */
typedef void (*node_search_cb)(void *arg, json_t *event);

struct node_search_opts {
	const char *term;
	const char *overlay; /* only this one, or NULL for all */
	unsigned ttl;        /* 0 = each overlay's default */
	uint64_t window_ms;  /* 0 = each overlay's default */
};

/*
 * Start. Returns the search, or NULL with a sentence for people in err
 * (no overlay joined, unknown overlay, every overlay refused).
 */
struct node_search *
node_search_start(struct node *n, const struct node_search_opts *opts,
    node_search_cb cb, void *arg, char *err, size_t errlen);

/* Stop without a final event. */
void node_search_cancel(struct node_search *s);

#endif
