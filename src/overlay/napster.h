/*
 * napster.h: configuration of the napster overlay: a node that logs in to
 * a central directory (course.md §5: `warren directory` or an existing
 * one), publishes its files there, searches with FIND and reports
 * completed downloads with DREG. The ops are napster_ops in overlay.h.
 */
#ifndef WARREN_OVERLAY_NAPSTER_H
#define WARREN_OVERLAY_NAPSTER_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"

struct napster_config {
	struct sockaddr_storage directory; /* course directory protocol */
	int has_directory;
	unsigned dreg;         /* DREG after a verified download (1) */
	uint64_t timeout_ms;   /* reply deadline (10 s) */
	uint64_t find_ms;      /* FIND reply deadline (30 s) */
	uint64_t retry_max_ms; /* longest wait between login attempts (30 s) */
	uint64_t check_ms;     /* how often the session is checked (30 s) */
};

void napster_config_defaults(struct napster_config *c);
/* A key of [napster]: 0, 1 if not one, -1 with err. */
int napster_config_set(struct napster_config *c, const char *key,
    const char *value, char *err, size_t errlen);
extern const struct config_key napster_config_keys[];

#endif
