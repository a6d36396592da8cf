/*
 * introducer.h: `warren introducer`, the bootstrap server of the Chord
 * ring (chord.md §2). One process, one SQLite table of recently seen ring
 * members (store/introdb.h); JOIN registers a node and answers up to 5
 * others, DELETE removes one; rows that go silent are checked in the
 * background and removed when their node no longer accepts connections.
 */
#ifndef WARREN_INTRODUCER_INTRODUCER_H
#define WARREN_INTRODUCER_INTRODUCER_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "core/log.h"

#define INTRODUCER_MAX_LISTEN 8

struct introducer_config {
	char *data_dir; /* introducer.db lives here */
	struct sockaddr_storage listen[INTRODUCER_MAX_LISTEN];
	unsigned nlisten;
	int listen_set;              /* listen given: replaces the default */
	unsigned max_conns;          /* simultaneous connections (128) */
	uint64_t request_timeout_ms; /* accept to complete line (10 s) */
	uint64_t check_interval_ms;  /* between liveness rounds (60 s) */
	uint64_t check_after_ms;     /* rows not seen this long are checked
					(10 min) */
	unsigned checks_per_round;   /* (20) */
	uint64_t check_timeout_ms;   /* connect deadline of a check (3 s) */
	unsigned max_failures;       /* failed checks that delete (3) */
	uint64_t expire_after_ms;    /* rows not seen this long are deleted
					(24 h) */
	enum log_level log_level;
};

void introducer_config_defaults(struct introducer_config *c);
/* A key of [introducer] or its flag: 0, or -1 with err. */
int introducer_config_set(struct introducer_config *c, const char *key,
    const char *value, char *err, size_t errlen);
/* Read the [introducer] section of an INI file: 0, or -1 with err. */
/* Absolute paths; 0 or -1 with err. */
int
introducer_config_finish(struct introducer_config *c, char *err, size_t errlen);
void introducer_config_release(struct introducer_config *c);
extern const struct config_key introducer_config_keys[];

/* Run until SIGINT/SIGTERM; the process exit code. */
int introducer_run(struct introducer_config *c);

#endif
