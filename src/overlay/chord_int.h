/*
 * chord_int.h: the chord overlay's state, shared by its files and by
 * nothing else: chord.c (configuration, ring state, maintenance timers,
 * joining and leaving, status), chord_serve.c (the ring port: every op of
 * chord.md §3.3), chord_lookup.c (requests to other nodes or to itself,
 * failure marks, iterative lookups) and chord_index.c (publishing,
 * keyword search and the ring walk).
 */
#ifndef WARREN_OVERLAY_CHORD_INT_H
#define WARREN_OVERLAY_CHORD_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "chord.h"
#include "core/addr.h"
#include "chord_rpc.h"
#include "chord_store.h"
#include "overlay.h"
#include "wire/chordtxt.h"

#define CHORD_FINGERS      CHORD_ID_BITS
#define CHORD_NEXT_MAX     8     /* candidates in a 302 (§3.3) */
#define CHORD_HOPS_MAX     32    /* a lookup fails after (§3.3) */
#define CHORD_REQUESTS_MAX 64    /* requests of one lookup (§3.3) */
#define CHORD_GET_MAX      1000  /* records in a GET answer (§5) */
#define CHORD_PAGE_MAX     500   /* lines of a LIST page (§5) */
#define CHORD_MARKS        64    /* nodes remembered as failed */
#define CHORD_MARK_MS      30000 /* longest failure mark */
#define CHORD_LISTENERS    CHORD_MAX_LISTEN
#define CHORD_PUB_INFLIGHT 8                     /* publication jobs at once */
#define CHORD_ENTRIES_MAX  (CHORD_JOIN_ROWS + 1) /* bootstrap + rows */
/* Stabilize rounds after joining before the first republish (chord.c). */
#define CHORD_SETTLE_ROUNDS 6
#define CHORD_STAB_STEPS    8 /* closer successors followed per round */

struct chord_call;
struct chord_lookup;
struct chord_sconn;
struct chord_pub;
struct listener;

/* Where the node is in joining (chord.md §3.5). */
enum chord_join_state {
	CHORD_JOIN_IDLE,       /* not joining */
	CHORD_JOIN_INTRODUCER, /* JOIN sent to the introducer */
	CHORD_JOIN_LOOKUP,     /* looking up its own id through an entry */
	CHORD_JOIN_PRED,       /* GET_PREDECESSOR at the successor found */
	CHORD_JOIN_TRANSFER,   /* TRANSFER_KEYS pages from the successor */
	CHORD_JOIN_SUCCESSORS, /* GET_SUCCESSORS at the successor */
};

/* The overlay's life. */
enum chord_state {
	CHORD_STARTING, /* first join attempt running */
	CHORD_RUNNING,  /* in a ring (maybe a ring of one); timers on */
	CHORD_STOPPED,
};

/* A node found failed: skipped as a candidate until until_ms. */
struct chord_mark {
	struct chord_addr addr;
	uint16_t port;
	uint64_t until_ms; /* 0: slot free */
};

struct chord_counters {
	uint64_t lookups, lookups_ok, lookups_failed;
	uint64_t hops;                           /* over successful lookups */
	uint64_t hop_hist[CHORD_HOPS_MAX + 1];   /* successful lookups */
	uint64_t requests_sent, requests_failed; /* to other nodes */
	uint64_t timeouts;                       /* of those, deadline */
	uint64_t served[CHORD_OP_COUNT];         /* requests answered by op */
	uint64_t bad_requests;                   /* answered 400 or 422 */
	uint64_t transfers_handed;               /* RETR/RETP/HASH passed on */
	uint64_t store_full;                     /* PUTs refused */
	uint64_t puts_sent, puts_failed;         /* publication */
	uint64_t published_keys;                 /* key jobs completed */
	uint64_t republish_rounds;               /* rounds started */
	uint64_t searches, walks;
	uint64_t stabilize_rounds, successor_changes, predecessor_changes;
	uint64_t joins, join_failures, transferred, purged;
};

struct overlay {
	struct overlay_env env;
	struct chord_config cfg;
	enum chord_state state;
	struct chord_node self;       /* id and advertised ring address */
	char self_label[ADDR_STRLEN]; /* "ip:port" */
	struct chord_addr holder;     /* address published in records */
	uint16_t holder_port;         /* main port: where files are */
	char holder_ip[CHORD_IP_TEXT_MAX];

	/* Ring state (§3.2). succ never holds self: none = alone. */
	struct chord_node succ[CHORD_SUCC_MAX];
	unsigned nsucc;
	struct chord_node pred;
	int has_pred;
	struct chord_node finger[CHORD_FINGERS];
	uint8_t has_finger[CHORD_FINGERS];
	unsigned next_finger; /* fix_fingers round robin */
	struct chord_mark marks[CHORD_MARKS];

	struct chord_store *store;

	/* Ring port. */
	struct listener *listeners[CHORD_LISTENERS];
	unsigned nlisteners;
	struct chord_sconn *sconns; /* inbound connections */

	/* Requests in flight (remote or local), and local answers due. */
	struct chord_call *calls;
	struct chord_call *local_head, *local_tail; /* answers due */
	uv_timer_t *t_local;                        /* delivers them */

	/* Maintenance (§3.4), each a heap timer freed on close. */
	uv_timer_t *t_stabilize, *t_fix, *t_checkpred, *t_republish;
	uv_timer_t *t_purge, *t_intro, *t_lone;
	int stab_busy;       /* a stabilize round runs */
	unsigned stab_tries; /* successors tried in this round */
	unsigned stab_steps; /* closer successors adopted in this round */
	struct chord_call *stab_call;
	struct chord_lookup *fix_lookup;
	struct chord_call *checkpred_call;
	struct chord_rpc *intro_rpc; /* periodic JOIN refresh */

	/* Joining (§3.5). */
	enum chord_join_state join;
	struct chord_rpc *join_rpc; /* JOIN at the introducer */
	struct chord_lookup *join_lookup;
	struct chord_call *join_call;
	struct chord_node entries[CHORD_ENTRIES_MAX];
	uint8_t entry_id_known[CHORD_ENTRIES_MAX];
	unsigned nentries, next_entry;
	int entry_plus_one;          /* looking up id + 1 (stale self) */
	struct chord_node join_succ; /* successor found */
	struct chord_id transfer_lo;
	char transfer_cursor[CHORD_CURSOR_MAX + 1];
	unsigned transfer_pages;
	char error[160]; /* last join problem for status, or "" */

	/* Publishing and searching (chord_index.c). */
	struct chord_pub *pub;
	struct overlay_search *searches;

	uint64_t rng; /* xorshift state: timer jitter */
	uint64_t started_ms;
	struct chord_counters n;
};

/* ------------------------------------------------------------ chord.c */

/* The successor: succ[0], or self when alone. */
const struct chord_node *chord_successor(const struct overlay *o);
int chord_alone(const struct overlay *o);
/* Same address and port (a node's identity on the network). */
int chord_node_same(const struct chord_node *a, const struct chord_node *b);
int chord_is_self(const struct overlay *o, const struct chord_node *n);
/* "<id> <ip> <port>" (no line end) into out (CHORD_NODE_LINE_MAX). */
void chord_node_line(const struct chord_node *n, char *out, size_t cap);
/* "ip:port" for people. */
void chord_node_label(const struct chord_node *n, char *out, size_t cap);
int
chord_node_sockaddr(const struct chord_node *n, struct sockaddr_storage *out);
/* out = SHA-1 of s[0..len). */
void chord_sha1(const void *s, size_t len, struct chord_id *out);

/* A node failed a request: remember it, drop it from the successor list
 * and the fingers. */
void chord_mark_failed(struct overlay *o, const struct chord_node *n);
/* A node answered: forget a failure mark. */
void chord_mark_alive(struct overlay *o, const struct chord_node *n);
int chord_is_failed(const struct overlay *o, const struct chord_node *n);

/* Re-arm stabilize, fix_fingers and check_predecessor with the intervals
 * now in o->cfg (the lab changes them). */
void chord_timers_restart(struct overlay *o);

/* NOTIFY from n (§3.3). */
void chord_notified(struct overlay *o, const struct chord_node *n);

/* ------------------------------------------------------ chord_serve.c */

/* Listen on the configured ring port(s). 0, or -1 after logging. */
int chord_serve_start(struct overlay *o);
/* Stop listening and close the inbound connections. */
void chord_serve_stop(struct overlay *o);
/*
 * Answer one request: the whole response in a new buffer (the caller
 * frees it), its length in *len. local: asked by this node itself (not
 * counted as served).
 */
char *chord_serve_answer(
    struct overlay *o, const struct chord_request *r, int local, size_t *len);
/* The bound port of the first listener (0 before start). */
uint16_t chord_serve_port(const struct overlay *o);

/* ----------------------------------------------------- chord_lookup.c */

/*
 * A request's outcome: err 0 with the response (views valid during the
 * call), or a negative code (the node was marked failed). Never called
 * from inside chord_call_start(), never after chord_call_cancel().
 */
typedef void (*chord_call_cb)(
    void *arg, int err, const struct chord_status *st, struct chord_str data);

/*
 * Send the request line (without its end) to node `to`; a request to this
 * node itself is answered locally, from the loop. Returns a handle valid
 * until cb has run (cb may be NULL: fire and forget).
 */
struct chord_call *chord_call_start(struct overlay *o,
    const struct chord_node *to, const char *line, chord_call_cb cb, void *arg);
void chord_call_cancel(struct chord_call *c);
/* Cancel every request (the overlay stops). */
void chord_calls_stop(struct overlay *o);

/*
 * A lookup of successor(id) ended: err 0 with the successor, the node
 * that answered 200 and the hops (302 answers followed); else a negative
 * code. Never called from inside chord_lookup_start().
 */
typedef void (*chord_lookup_cb)(void *arg, int err,
    const struct chord_node *succ, const struct chord_node *replier,
    unsigned hops);

/*
 * Start an iterative lookup of id (§3.3) at start, or at this node when
 * start is NULL. start_id_known: start->id is meaningful (a bootstrap
 * address's is not). Returns a handle valid until cb has run.
 */
struct chord_lookup *chord_lookup_start(struct overlay *o,
    const struct chord_id *id, const struct chord_node *start,
    int start_id_known, chord_lookup_cb cb, void *arg);
void chord_lookup_cancel(struct chord_lookup *l);

/* Why a lookup failed, for people. */
const char *chord_lookup_strerror(int err);

/* Parse the first data line as a node triple. 0 or a negative code. */
int chord_data_node(struct chord_str data, struct chord_node *out);

/* ------------------------------------------------------ chord_index.c */

void chord_index_init(struct overlay *o);
/* Stop publishing and end the searches. */
void chord_index_stop(struct overlay *o);

/* chord_leave.c: hand the records of (p, n] to the successors; takes
 * o->store (NULL after) when there is anything to hand over. */
void chord_leave_start(struct overlay *o);
/* The node can reach the ring now: run the publication queue, and
 * publish every shared file when all is set. */
void chord_index_ready(struct overlay *o, int all);
/* A republish round: every shared file, spread over spread_ms. */
void chord_index_republish(struct overlay *o, uint64_t spread_ms);
void chord_index_publish(struct overlay *o, const struct library_file *f);
void chord_index_unpublish(struct overlay *o, const struct library_file *f);
int
chord_index_search(struct overlay *o, const struct overlay_search_opts *opts,
    overlay_hit_cb hit, overlay_done_cb done, void *arg,
    struct overlay_search **out, char *msg, size_t msglen);
void chord_index_search_cancel(struct overlay_search *s);
/* Publication counters for status. */
json_t *chord_index_json(struct overlay *o);

#endif
