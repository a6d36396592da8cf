/*
 * napster.h: configuration of the napster overlay: a node that logs in to
 * a central directory, publishes its files there and searches it. Two
 * backends share the overlay's name and this configuration: the course
 * directory protocol (course.md §5: LOGI, ADDF, FIND, DREG; napster_ops in
 * overlay.h) and the beer2beer index protocol (beer2beer.md: REGISTER,
 * LOGIN, KEEP_ALIVE, SEARCH_FILE, DOWNLOAD_FILE; napster_b2b_ops below).
 * A node uses one of them: --directory or --directory-b2b.
 */
#ifndef WARREN_OVERLAY_NAPSTER_H
#define WARREN_OVERLAY_NAPSTER_H

#include <limits.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "wire/beer2beer.h"

struct overlay_ops;

struct napster_config {
	struct sockaddr_storage directory; /* course directory protocol */
	int has_directory;
	unsigned dreg;         /* DREG after a verified download (1) */
	uint64_t timeout_ms;   /* reply deadline (10 s) */
	uint64_t find_ms;      /* FIND reply deadline (30 s) */
	uint64_t retry_max_ms; /* longest wait between login attempts (30 s) */
	uint64_t check_ms;     /* how often the session is checked (30 s) */
	/* beer2beer backend */
	struct sockaddr_storage directory_b2b; /* beer2beer index server */
	int has_b2b;
	char user[B2B_USER_MAX + 1];  /* validated user name, or "" */
	char password_file[PATH_MAX]; /* absolute path, or "" */
	uint64_t keepalive_ms;        /* KEEP_ALIVE period (240 s) */
};

void napster_config_defaults(struct napster_config *c);
/* A key of [napster]: 0, 1 if not one, -1 with err. */
int napster_config_set(struct napster_config *c, const char *key,
    const char *value, char *err, size_t errlen);
extern const struct config_key napster_config_keys[];

/* The napster overlay over a beer2beer index server (napster_b2b.c): the
 * node runs it instead of napster_ops when directory_b2b is set. */
extern const struct overlay_ops napster_b2b_ops;

#endif
