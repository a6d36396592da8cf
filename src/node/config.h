/*
 * config.h: a node's configuration. Every key can come from the INI file
 * ([node] section) or from a command-line flag of the same name with '-'
 * for '_' (upload_slots = 4  <=>  --upload-slots 4); flags win. Paths
 * default to the XDG base directories.
 */
#ifndef WARREN_NODE_CONFIG_H
#define WARREN_NODE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "core/log.h"
#include "overlay/chord.h"
#include "overlay/gnutella.h"
#include "overlay/kazaa.h"
#include "overlay/napster.h"
#include "overlay/kazaa.h"
#include "overlay/napster.h"

#define CONFIG_MAX_LISTEN 8

struct node_config {
	char *share_dir;    /* shared folder */
	char *download_dir; /* where downloads land; default share_dir */
	char *data_dir;     /* node.db lives here */
	char *socket_path;  /* control socket */
	struct sockaddr_storage listen[CONFIG_MAX_LISTEN];
	unsigned nlisten;
	int listen_from_flags; /* flags replace the file's listen list */
	unsigned upload_slots;
	unsigned upload_queue;            /* requests waiting; 0 = none */
	uint64_t upload_queue_timeout_ms; /* longest wait in the queue */
	uint64_t upload_rate;             /* bytes per second; 0 = unlimited */
	unsigned chunk_size;              /* Lenchunk of our ARET/AREP */
	unsigned max_conns;               /* per listener */
	uint64_t rescan_ms;
	uint64_t request_timeout_ms; /* accept -> full request */
	uint64_t idle_timeout_ms;    /* transfers */
	uint64_t connect_timeout_ms;
	unsigned hash_jobs;
	uint64_t download_rate;    /* bytes per second; 0 = unlimited */
	unsigned parts_per_source; /* RETP in flight per source */
	unsigned parts_in_flight;  /* RETP in flight per download */
	uint64_t retry_min_ms;     /* first backoff after a failure */
	uint64_t retry_max_ms;     /* longest backoff */
	enum log_level log_level;
	/* Advertised addresses (course IPP2P) when listening on a wildcard. */
	struct sockaddr_storage advertise4, advertise6;
	int has_advertise4, has_advertise6;
	unsigned overlays;               /* 1 << CONFIG_OV_* */
	struct gnutella_config gnutella; /* [gnutella] */
	struct kazaa_config kazaa;       /* [kazaa] */
	struct napster_config napster;   /* [napster] */
	struct chord_config chord;       /* [chord]: has its own listen */
	/* An overlay's own port(s) ([gnutella] listen = ...); none: the
	 * main port, which only one overlay may use. */
	struct {
		struct sockaddr_storage addrs[CONFIG_MAX_LISTEN];
		unsigned n;
	} ovlisten[4];
};

/* Overlays a node can join (bit numbers of overlays, ovlisten index). */
#define CONFIG_OV_GNUTELLA 0
#define CONFIG_OV_KAZAA    1
#define CONFIG_OV_NAPSTER  2
#define CONFIG_OV_CHORD    3
#define CONFIG_OV_COUNT    4
extern const char *const config_ov_names[CONFIG_OV_COUNT];

/* A section of the configuration: [node] keys are plain flags, the keys of
 * another section are flags prefixed with its name (--gnutella-quer-ttl). */
struct config_section {
	const char *name;
	/* Its key lists: its own, then shared ones; NULL-terminated. */
	const struct config_key *lists[4];
};
extern const struct config_section config_sections[];

/* Fill defaults (XDG paths, port 3000 on "::"). */
void config_defaults(struct node_config *cfg);

/*
 * Set key to value. key is a [node] key, or SECTION_KEY for another
 * section ("gnutella_quer_ttl"); "neighbour" is short for
 * "gnutella_neighbour". Returns 0, or -1 with a message in err naming the
 * key and what is expected.
 */
int config_set(struct node_config *cfg, const char *key, const char *value,
    char *err, size_t errlen);

/* Read an INI file ([node] section). 0, or -1 with err set. */
int config_load(
    struct node_config *cfg, const char *path, char *err, size_t errlen);

/* Make paths absolute and default download_dir; 0 or -1 with err. */
int config_finish(struct node_config *cfg, char *err, size_t errlen);

void config_release(struct node_config *cfg);

/* Default control socket path (for the CLI too); caller frees. */
char *config_default_socket(void);

/* The keys, for --help and the README: name, what, default. */
extern const struct config_key config_keys[];

#endif
