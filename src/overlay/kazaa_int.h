/*
 * kazaa_int.h: what the three files of the Kazaa overlay share.
 * kazaa.c holds the instance, the flood bookkeeping common to both roles
 * (Pktid caches, rate limit, one-shots, answer collections), the request
 * dispatch by role and the election; kazaa_super.c is the supernode role,
 * kazaa_peer.c the ordinary peer role.
 */
#ifndef WARREN_OVERLAY_KAZAA_INT_H
#define WARREN_OVERLAY_KAZAA_INT_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "flood.h"
#include "kazaa.h"
#include "overlay.h"
#include "peerset.h"

struct conn;
struct kz_super;
struct kz_peer;
struct kz_coll;

struct kz_counters {
	uint64_t supe_received, supe_handled, quer_received, quer_handled;
	uint64_t own_dropped, dup_dropped, rate_dropped;
	uint64_t forwarded, answers_sent, answers_dropped;
	uint64_t asup_received, aque_received, answers_unmatched;
	uint64_t logins, logouts, adff, deff, finds, children_dropped;
	uint64_t promotions, demotions, rejoins;
};

/* The Kazaa instance: this file family's struct overlay. */
struct overlay {
	struct overlay_env env;
	struct kazaa_config cfg;
	int auto_role;            /* role was "auto" */
	int promoted;             /* auto node that became supernode */
	struct kz_super *sn;      /* supernode role, or NULL */
	struct kz_peer *pr;       /* peer role, or NULL */
	struct flood_guard guard; /* rate, own and seen Pktids */
	struct oneshot *os;
	struct kz_coll *colls; /* pending answer collections */
	unsigned ncolls;
	uint64_t started_ms;
	struct kz_counters n;
};

/* ------------------------------------------------------------ kazaa.c */

/* A heap timer (closing frees it): data is cb's argument. */
uv_timer_t *kz_timer_new(uv_loop_t *loop, void *data);
void kz_timer_free(uv_timer_t *t);

/*
 * §3 steps 2-3 for a valid flood from address from: 1 if it is new (and
 * now in the duplicate cache), 0 if it must be dropped (counted).
 */
int kz_flood_accept(
    struct overlay *k, const struct course_msg *m, const struct sockaddr *from);

/* A fresh Pktid, recorded as this node's own. */
void kz_new_pktid(struct overlay *k, char pktid[COURSE_PKTID_LEN]);

/* One-shot a message (ANEA/AQUE/ASUP, ADFF...) to p; counted. */
void kz_oneshot(
    struct overlay *k, const struct course_peer *p, const struct course_msg *m);

/* Encode a flood originated here (SUPE or QUER) into buf: its length. */
int kz_encode_flood(struct overlay *k, enum course_kind kind,
    const char pktid[COURSE_PKTID_LEN], unsigned ttl, struct course_str term,
    char buf[COURSE_MSG_MAX]);

/*
 * A collection of answers (ASUP or AQUE) to a flood this node sends: a
 * fresh Pktid, on_answer for each answer of that kind with that Pktid
 * during window_ms, then on_end (the collection is freed after on_end
 * returns; kz_coll_end from inside is fine). NULL when max_searches
 * collections are pending.
 */
typedef void (*kz_answer_fn)(void *owner, const struct course_msg *m);
typedef void (*kz_end_fn)(void *owner);
struct kz_coll *kz_coll_new(struct overlay *k, enum course_kind answer,
    uint64_t window_ms, kz_answer_fn on_answer, kz_end_fn on_end, void *owner);
const char *kz_coll_pktid(const struct kz_coll *c);
/* Stop collecting now without calling on_end. */
void kz_coll_end(struct kz_coll *c);
/* kz_coll_end every collection of owner. */
void kz_coll_end_owner(struct overlay *k, void *owner);

/* Switch roles (election). */
void kz_promote(struct overlay *k, const char *why);
void kz_demote(struct overlay *k, const struct course_peer *to);

/* ------------------------------------------------------ kazaa_super.c */

struct kz_super *kz_super_new(struct overlay *k);
void kz_super_free(struct kz_super *sn);
void kz_super_on_request(
    struct kz_super *sn, struct conn *c, const struct course_msg *m);
void kz_super_publish(struct kz_super *sn, const struct library_file *f);
int kz_super_search(struct kz_super *sn, const struct overlay_search_opts *o,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen);
void kz_super_search_cancel(struct overlay_search *s);
json_t *kz_super_status(struct kz_super *sn);
json_t *kz_super_peers(struct kz_super *sn);

/* ------------------------------------------------------- kazaa_peer.c */

struct kz_peer *kz_peer_new(struct overlay *k);
/* Leave: LOGO if logged in (logo != 0), then free. */
void kz_peer_free(struct kz_peer *pr, int logo);
void kz_peer_on_request(
    struct kz_peer *pr, struct conn *c, const struct course_msg *m);
void kz_peer_publish(struct kz_peer *pr, const struct library_file *f, int add);
int kz_peer_search(struct kz_peer *pr, const struct overlay_search_opts *o,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen);
void kz_peer_search_cancel(struct overlay_search *s);
json_t *kz_peer_status(struct kz_peer *pr);
json_t *kz_peer_peers(struct kz_peer *pr);

/*
 * overlay_search handles of both roles start with this tag so the ops
 * table can route search_cancel.
 */
struct kz_search_tag {
	int is_super;
};

#endif
