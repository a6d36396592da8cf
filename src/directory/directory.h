/*
 * directory.h: `warren directory`, the Napster-style central directory.
 * One process, one SQLite database (WAL) holding the sessions, files and
 * owners of peers that speak the course directory protocol (course.md §5).
 * Logged-in peers that stop answering on their main port are dropped with
 * their files (sprobe.h), so a crashed client does not stay listed. The
 * same process serves the beer2beer index protocol (b2b.h) over the
 * registrations of store/accounts.h, in the same database file.
 */
#ifndef WARREN_DIRECTORY_DIRECTORY_H
#define WARREN_DIRECTORY_DIRECTORY_H

#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "core/log.h"

#define DIRECTORY_MAX_LISTEN 8

struct directory_config {
	char *data_dir; /* directory.db lives here */
	struct sockaddr_storage listen[DIRECTORY_MAX_LISTEN]; /* course */
	unsigned nlisten;
	int listen_set;             /* listen given: replaces the default */
	unsigned max_sessions;      /* live sessions (10000) */
	unsigned files_per_session; /* ADDF per session (100000) */
	unsigned max_results;       /* md5 entries per FIND (100) */
	unsigned max_conns;         /* simultaneous connections (1024) */
	uint64_t probe_ms;          /* silence before a peer is probed (60 s) */
	unsigned probe_fails;       /* failed probes that drop it (3) */
	double search_rate;         /* FINDs per second per address (10) */
	double search_burst;        /* (20) */
	uint64_t request_timeout_ms; /* accept to full request (10 s) */
	uint64_t connect_timeout_ms; /* probes (5 s) */
	enum log_level log_level;

	/* beer2beer (beer2beer.md) */
	struct sockaddr_storage b2b_listen[DIRECTORY_MAX_LISTEN];
	unsigned nb2b_listen;
	int b2b_listen_set;              /* given: replaces [::]:8888 */
	uint64_t registration_ttl_ms;    /* from REGISTER/LOGIN (30 days) */
	uint64_t keepalive_ms;           /* peers' keep-alive period (300 s) */
	uint64_t keepalive_grace_ms;     /* silence beyond it (60 s) */
	uint64_t sweep_interval_ms;      /* expired ones deleted (3600 s) */
	unsigned max_registrations;      /* live registrations (100000) */
	unsigned files_per_registration; /* (100000) */
	unsigned search_results;         /* SEARCH_FILE records (200) */
	unsigned default_peer_port;      /* LOGIN without port (3000) */
	unsigned pbkdf2_iterations;      /* per password (200000) */
	unsigned max_b2b_connections;    /* all addresses (256); 1/8 each */
	uint64_t b2b_frame_timeout_ms;   /* first byte to whole frame (30 s) */
	uint64_t b2b_idle_timeout_ms;    /* no frame: close (600 s) */
};

void directory_config_defaults(struct directory_config *c);
/* A key of [directory] or its flag: 0, or -1 with err. */
int directory_config_set(struct directory_config *c, const char *key,
    const char *value, char *err, size_t errlen);
/* Absolute paths, defaults; 0 or -1 with err. */
int
directory_config_finish(struct directory_config *c, char *err, size_t errlen);
void directory_config_release(struct directory_config *c);
extern const struct config_key directory_config_keys[];

/* Run until SIGINT/SIGTERM; the process exit code. */
int directory_run(struct directory_config *c);

#endif
