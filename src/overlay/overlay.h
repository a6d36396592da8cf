/*
 * overlay.h: the one interface between the node core and an overlay
 * (napster, gnutella, kazaa, chord). The node never knows which overlay it
 * talks to: it starts each joined overlay with an environment (loop,
 * library, the request server of its port, the address it advertises),
 * tells it about library changes, runs searches through it, and asks it
 * for status and peers as JSON for the control API.
 */
#ifndef WARREN_OVERLAY_OVERLAY_H
#define WARREN_OVERLAY_OVERLAY_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "transfer/download.h"
#include "wire/course.h"

struct library;
struct library_file;
struct request_server;
struct overlay;
struct overlay_search;

/* What the node lends every overlay. Everything is borrowed and outlives
 * the overlay. */
struct overlay_env {
	uv_loop_t *loop;
	struct library *lib;
	struct request_server *rs; /* the overlay's listening port(s) */
	struct course_peer self;   /* advertised IPP2P and main port */
	struct dial_opts dial;     /* connect deadline, source binding */
	const char *data_dir;      /* where an overlay may keep files */
};

/* One search hit: a file and one holder of it. Valid during the call. */
struct overlay_hit {
	const char *overlay;          /* "gnutella", ... */
	char md5[COURSE_MD5_LEN + 1]; /* lower-case hex */
	const char *name;             /* as the holder names it; not NUL- */
	size_t name_len;              /* terminated */
	uint64_t size;                /* when size_known */
	int size_known;
	struct download_source src; /* how to reach the holder */
};

struct overlay_search_opts {
	const char *term;   /* NUL-terminated, as the user typed it */
	unsigned ttl;       /* flooding overlays; 0 = the overlay's default */
	uint64_t window_ms; /* collection window; 0 = the overlay's default */
};

/* A hit arrived. Hits are already de-duplicated on (md5, holder). */
typedef void (*overlay_hit_cb)(void *arg, const struct overlay_hit *h);
/* The search is over: its window closed (err 0), or it failed (err < 0,
 * message for people in msg). No callback of this search runs after. */
typedef void (*overlay_done_cb)(void *arg, int err, const char *msg);

struct overlay_ops {
	const char *name;
	/*
	 * Start with env and the overlay's own configuration (its type is
	 * the overlay's). Returns 0 and *out, or -1 after logging why.
	 */
	int (*start)(const struct overlay_env *env, const void *conf,
	    struct overlay **out);
	/* Leave the overlay (LOGO, hand-over...) and free it. Searches still
	 * running are cancelled first by the node. */
	void (*stop)(struct overlay *o);
	/* The library listed / dropped a file (may be NULL: no index). */
	void (*publish)(struct overlay *o, const struct library_file *f);
	void (*unpublish)(struct overlay *o, const struct library_file *f);
	/* A download of md5 finished and its MD5 matched (may be NULL). */
	void (*downloaded)(struct overlay *o, const char *md5);
	/*
	 * Start a search. Returns 0 and *out (valid until done runs or
	 * search_cancel), or a negative WARREN_E* code (too many searches,
	 * term too long...) with msg filled; callbacks never run then, and
	 * never run from inside search().
	 */
	int (*search)(struct overlay *o, const struct overlay_search_opts *opts,
	    overlay_hit_cb hit, overlay_done_cb done, void *arg,
	    struct overlay_search **out, char *msg, size_t msglen);
	/* Stop a running search; no callback of it runs afterwards. */
	void (*search_cancel)(struct overlay_search *s);
	/* Health and counters for `status` (a new reference). */
	json_t *(*status)(struct overlay *o);
	/* Known peers and their state for `peers` (a new reference). */
	json_t *(*peers)(struct overlay *o);
};

extern const struct overlay_ops gnutella_ops;
extern const struct overlay_ops kazaa_ops;
extern const struct overlay_ops napster_ops;
extern const struct overlay_ops chord_ops;

#endif
