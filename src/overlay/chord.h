/*
 * chord.h: configuration of the chord overlay (chord.md §3): a node of a
 * Chord ring with 160-bit SHA-1 ids, finger table, successor list and
 * iterative lookups, that stores a keyword -> file index replicated on r
 * successors. Its ring protocol runs on its own port (default 7495);
 * files are served on the node's main port. The ops are chord_ops in
 * overlay.h.
 */
#ifndef WARREN_OVERLAY_CHORD_H
#define WARREN_OVERLAY_CHORD_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "wire/chordtxt.h"

#define CHORD_MAX_LISTEN 8
#define CHORD_SUCC_MAX   32 /* longest successor list (r) */

struct chord_config {
	struct sockaddr_storage listen[CHORD_MAX_LISTEN]; /* ring port(s) */
	unsigned nlisten;
	int listen_set; /* the first listen replaces the default */
	struct sockaddr_storage introducer; /* chord.md §2, or none */
	int has_introducer;
	struct sockaddr_storage bootstrap; /* a known ring node, or none */
	int has_bootstrap;
	struct chord_id id; /* configured node id */
	int has_id;
	unsigned successors;            /* r (8) */
	uint64_t stabilize_ms;          /* 5 s */
	uint64_t fix_fingers_ms;        /* 1 s */
	uint64_t check_predecessor_ms;  /* 10 s */
	uint64_t republish_ms;          /* 10 min */
	uint64_t purge_ms;              /* 60 s */
	uint64_t introducer_refresh_ms; /* 10 min */
	uint64_t lone_retry_ms;         /* alone: ask the introducer (60 s) */
	uint64_t record_ttl_ms;         /* expiry of a stored record (30 min) */
	unsigned max_records;           /* store cap (1000000) */
	uint64_t timeout_ms;            /* one request, connect + reply (3 s) */
	uint64_t lookup_timeout_ms;     /* one whole lookup (30 s) */
	uint64_t request_timeout_ms;    /* server: accept to line (10 s) */
	unsigned max_conns;             /* inbound connections (128) */
	unsigned walk_max_nodes;        /* ring walk (4096) */
	uint64_t walk_timeout_ms;       /* ring walk (5 min) */
	uint64_t leave_timeout_ms;      /* hand-over when stopping (5 s) */
};

void chord_config_defaults(struct chord_config *c);

/*
 * Set one key of the [chord] section ("introducer", "stabilize_interval",
 * ...; '-' and '_' both accepted). 0, 1 if key is not a chord key, or -1
 * with a message in err.
 */
int chord_config_set(struct chord_config *c, const char *key, const char *value,
    char *err, size_t errlen);

/* The keys with their argument and help, NULL-terminated (for --help). */
extern const struct config_key chord_config_keys[];

struct overlay;

/* Free a chord overlay without leaving: no DELETE, no hand-over, as if the
 * process had crashed (warren lab chord --kill). */
void chord_crash(struct overlay *o);

#endif
