/*
 * sprobe.h: liveness of the sessions of an index (store/index.h). The
 * course protocols have no keep-alive, so a server that peers log in to
 * (a Kazaa supernode, the directory) checks the peers that have been
 * silent for silent_ms by connecting to their main port (they serve RETR
 * there) and closing at once. After max_fails failed probes in a row the
 * session is logged out: the peer and its files are gone, so a crashed
 * client does not stay listed.
 */
#ifndef WARREN_OVERLAY_SPROBE_H
#define WARREN_OVERLAY_SPROBE_H

#include <stdint.h>

#include <uv.h>

#include "net/dial.h"
#include "wire/course.h"

struct index;
struct sprobe;

/* A session was dropped (after index_logout): for logs and counters. */
typedef void (*sprobe_drop_cb)(
    void *arg, const struct course_peer *peer, int links);

/*
 * Probe every session of ix silent for silent_ms, checking every
 * silent_ms / 2. dial is copied (its bind addresses must outlive the
 * prober). Caller frees with sprobe_free().
 */
struct sprobe *
sprobe_new(uv_loop_t *loop, struct index *ix, const struct dial_opts *dial,
    uint64_t silent_ms, unsigned max_fails, sprobe_drop_cb cb, void *arg);

/* Stop: probes in flight are cancelled; no callback afterwards. */
void sprobe_free(struct sprobe *p);

#endif
