/*
 * gnutella.h: configuration of the Gnutella overlay (course.md §3 and §6):
 * pure flooding between neighbours, NEAR/ANEA to discover neighbours,
 * QUER/AQUE to search, answers straight to the originator. The ops are
 * gnutella_ops in overlay.h.
 */
#ifndef WARREN_OVERLAY_GNUTELLA_H
#define WARREN_OVERLAY_GNUTELLA_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "flood.h"

#define GNUTELLA_MAX_CONFIGURED 64

struct gnutella_config {
	/* Neighbours the user named; never forgotten, only marked down. */
	struct sockaddr_storage neighbours[GNUTELLA_MAX_CONFIGURED];
	unsigned nneighbours;
	unsigned min_neighbours;   /* discover more below this (3) */
	unsigned max_neighbours;   /* learned from ANEA at most (8) */
	unsigned near_ttl;         /* originated NEAR (3) */
	unsigned quer_ttl;         /* originated QUER (5) */
	uint64_t near_window_ms;   /* ANEA collection (5 s) */
	uint64_t search_window_ms; /* AQUE collection (10 s) */
	uint64_t discovery_ms;     /* NEAR round period (60 s) */
	struct flood_config flood; /* the bounds every flooding overlay has */
};

void gnutella_config_defaults(struct gnutella_config *c);

/*
 * Set one key of the [gnutella] section ("neighbour", "min_neighbours",
 * ...; '-' and '_' both accepted). 0, 1 if key is not a Gnutella key, or
 * -1 with a message in err.
 */
int gnutella_config_set(struct gnutella_config *c, const char *key,
    const char *value, char *err, size_t errlen);

/* The keys with their argument and help, NULL-terminated (for --help). */
extern const struct config_key gnutella_config_keys[];

#endif
