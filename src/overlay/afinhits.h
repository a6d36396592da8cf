/*
 * afinhits.h: an AFIN (course.md §5.2) read by its counts and turned into
 * search hits, for the clients that send FIND: a Kazaa peer and the
 * napster overlay. Copies with a bad address are dropped one by one
 * (§12 item 11), this node's own copies and repeated (md5, holder) pairs
 * are skipped.
 */
#ifndef WARREN_OVERLAY_AFINHITS_H
#define WARREN_OVERLAY_AFINHITS_H

#include "overlay.h"
#include "peerset.h"

struct afinhits {
	struct course_afin afin;
	const char *overlay;            /* hit.overlay */
	const struct course_peer *self; /* skipped; borrowed */
	overlay_hit_cb hit;
	void *arg;
	char md5[COURSE_MD5_LEN + 1]; /* entry being read */
	char name[COURSE_NAME_LEN];
	size_t name_len;
	struct hitset seen;
};

void afinhits_init(struct afinhits *a, const char *overlay,
    const struct course_peer *self, unsigned max_hits, overlay_hit_cb hit,
    void *arg);
void afinhits_release(struct afinhits *a);

/*
 * Feed the reply bytes buf[0..len): an rr_read_cb body. Returns the bytes
 * consumed, sets *done once the whole AFIN is read, or returns a negative
 * WARREN_E code (the hits already given stand; close, §11).
 */
int
afinhits_feed(struct afinhits *a, const uint8_t *buf, size_t len, int *done);

#endif
