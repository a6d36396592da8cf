/*
 * chord_lab.h: many chord nodes in one process, on one libuv loop, each on
 * its own loopback address, for experiments and benchmarks (`warren lab
 * chord`). The lab grows a ring, waits until it is consistent and the
 * fingers are right, measures lookups (correct successor, hops), the
 * message rate at rest with the default timers, then stops a share of the
 * nodes at once and measures lookups again, before and after the ring has
 * repaired itself. The nodes share no files: this is the ring alone.
 */
#ifndef WARREN_OVERLAY_CHORD_LAB_H
#define WARREN_OVERLAY_CHORD_LAB_H

#include <stdint.h>
#include <netinet/in.h>

struct chord_lab_opts {
	unsigned nodes;          /* ring size */
	struct sockaddr_in base; /* first node's address; then +1 each */
	uint16_t port;           /* ring port of every node */
	unsigned lookups;        /* lookups per measurement */
	unsigned kill_pct;       /* nodes stopped at once, percent */
	uint64_t stabilize_ms;   /* timers while the ring forms and repairs */
	uint64_t fix_fingers_ms;
	uint64_t check_predecessor_ms;
	uint64_t settle_ms; /* longest wait for consistency / fingers */
	uint64_t rest_ms;   /* message rate window, default timers */
	uint64_t seed;      /* node order, lookups, victims */
	int json;           /* results as one JSON object on stdout */
	int verbose;        /* the nodes' logs (info) on stderr */
};

void chord_lab_defaults(struct chord_lab_opts *o);

/* Run the experiment; prints the results. 0, or 1 after saying why. */
int chord_lab_run(const struct chord_lab_opts *o);

#endif
