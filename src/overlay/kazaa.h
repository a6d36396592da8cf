/*
 * kazaa.h: configuration of the Kazaa overlay (course.md §3 and §7): two
 * tiers. Ordinary peers log in to one supernode and publish their files
 * there (LOGI, ADFF, DEFF, LOGO) and search with FIND; supernodes index
 * their children's files, flood QUER among themselves (friends) and
 * answer FIND with every copy. The ops are kazaa_ops in overlay.h.
 */
#ifndef WARREN_OVERLAY_KAZAA_H
#define WARREN_OVERLAY_KAZAA_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "flood.h"

#define KAZAA_MAX_CONFIGURED 64

enum kazaa_role {
	KAZAA_ROLE_PEER,
	KAZAA_ROLE_SUPERNODE,
	KAZAA_ROLE_AUTO, /* a peer that promotes itself (docs/design.md) */
};

struct kazaa_config {
	enum kazaa_role role;
	/* Nodes to send SUPE to when joining (peers), and to find friends
	 * through (supernodes). */
	struct sockaddr_storage known[KAZAA_MAX_CONFIGURED];
	unsigned nknown;
	/* Supernodes that are friends from the start (supernode role). */
	struct sockaddr_storage friends[KAZAA_MAX_CONFIGURED];
	unsigned nfriends;
	unsigned max_friends;     /* learned from ASUP (8) */
	unsigned max_children;    /* live sessions (100) */
	unsigned files_per_child; /* ADFF per session (100000) */
	unsigned supe_ttl;        /* originated SUPE (4) */
	unsigned quer_ttl;        /* QUER for a FIND (5) */
	uint64_t supe_window_ms;  /* ASUP collection (5 s) */
	uint64_t find_window_ms;  /* supernode FIND window (3 s, < 25 s) */
	uint64_t find_timeout_ms; /* peer: FIND read deadline (30 s) */
	uint64_t check_ms;        /* peer: supernode liveness probe (5 s) */
	uint64_t probe_ms;        /* supernode: probe silent children (60 s) */
	unsigned probe_fails;     /* failed probes that drop a child (3) */
	uint64_t friends_ms;      /* supernode: SUPE round for friends (60 s) */
	uint64_t promote_after_ms; /* auto: uptime before promotion (600 s) */
	struct flood_config flood; /* shared bounds */
};

void kazaa_config_defaults(struct kazaa_config *c);

/* Set one key of [kazaa]: 0, 1 if not a Kazaa key, -1 with err. */
int kazaa_config_set(struct kazaa_config *c, const char *key, const char *value,
    char *err, size_t errlen);

extern const struct config_key kazaa_config_keys[];

#endif
