/*
 * download.h: the download manager of a node. A download is an MD5, a
 * name, a folder and a growing set of sources.
 *
 * Sources that answer HASH give the part list (course.md §9); the first
 * valid AHAS is adopted, and parts are then fetched with RETP from every
 * source whose AHAS agrees, several at once, each part checked against its
 * SHA-1 before it is written with pwrite into "NAME.part". Sources without
 * the extensions serve the whole file with RETR (checked part by part when
 * the part list is known). A part that fails for any reason goes back to
 * the queue; a source that sends a bad part is banned for that file; a
 * source that cannot be reached is retried with exponential backoff, and a
 * download with no working source waits.
 *
 * Verified parts are recorded in SQLite (dlstate.h) as they complete, so
 * after a crash the node resumes every unfinished download without fetching
 * verified parts again. The file is renamed to its final name (never over
 * an existing file) only when the whole-file MD5 matches; a mismatch keeps
 * the data aside as "NAME.bad.part".
 */
#ifndef WARREN_TRANSFER_DOWNLOAD_H
#define WARREN_TRANSFER_DOWNLOAD_H

#include <stdint.h>

#include <uv.h>

#include "core/addr.h"
#include "net/dial.h"

struct downloader;
struct download;
struct dlstate;

enum download_state {
	DOWNLOAD_CREATING,  /* creating the .part file */
	DOWNLOAD_CHECKING,  /* resuming: re-verifying parts already on disk */
	DOWNLOAD_RECEIVING, /* fetching from sources */
	DOWNLOAD_WAITING,   /* no working source now: retrying with backoff */
	DOWNLOAD_PAUSED,    /* by the user */
	DOWNLOAD_VERIFYING, /* whole-file MD5, rename */
	DOWNLOAD_DONE,      /* verified and renamed */
	DOWNLOAD_FAILED,    /* see message */
	DOWNLOAD_CANCELED,  /* by the user; .part deleted */
};

enum download_event {
	DOWNLOAD_EV_STARTED,
	DOWNLOAD_EV_PROGRESS, /* periodic, and on every state change */
	DOWNLOAD_EV_DONE,
	DOWNLOAD_EV_FAILED, /* also for CANCELED */
};

#define DOWNLOAD_MAX_SOURCES 64

#define DOWNLOAD_VIA_MAX 64

/* How a source is given: how to reach it, and how to name it to people. */
struct download_source {
	struct sockaddr_storage addrs[DIAL_MAX_ADDRS]; /* tried in order */
	unsigned naddrs;
	char label[ADDR_STRLEN];
	/* How the node learned of it, for people: the overlays whose
	 * searches found it, comma-separated ("" when given by hand). */
	char via[DOWNLOAD_VIA_MAX];
};

/* Add the names of via (comma-separated) that dst->via lacks, as room
 * allows. */
void download_source_via_merge(struct download_source *dst, const char *via);

enum download_source_state {
	DSRC_IDLE,    /* usable, nothing in flight */
	DSRC_ACTIVE,  /* requests in flight */
	DSRC_BACKOFF, /* failed; retried at retry_at */
	DSRC_GONE,    /* does not have the file */
	DSRC_BANNED,  /* sent bad data for this file */
};

/* A snapshot of one source, for status. Strings borrowed. */
struct download_source_info {
	const char *label;
	enum download_source_state state;
	int ext;           /* -1 unknown, 0 RETR only, 1 HASH/RETP */
	unsigned inflight; /* requests in flight */
	uint64_t fetched;  /* bytes received from it (this run) */
	uint32_t good_parts, bad_parts;
	double rate;          /* bytes/s while sending, smoothed; 0 unknown */
	uint64_t rtt_ms;      /* request to first byte, last measured */
	uint64_t retry_in_ms; /* BACKOFF: time until the next try */
	const char *error;    /* last failure, or "" */
	const char *via;      /* overlays that found it, or "" */
};

/* A snapshot for status and events; strings are borrowed from d. */
struct download_info {
	uint64_t id;
	const char *md5;
	const char *name; /* sanitised local name */
	const char *path; /* final path once DONE, else the .part */
	enum download_state state;
	uint64_t size; /* exact once known (0 for unknown) */
	int size_known;
	uint64_t bytes;   /* verified (or, with RETR alone, written) */
	uint64_t fetched; /* received from the network, all runs */
	double rate;      /* bytes per second, smoothed */
	uint32_t nparts, parts_done;
	unsigned nsources, active_sources;
	uint64_t retry_in_ms; /* WAITING: time to the next attempt */
	int err;              /* when FAILED */
	const char *message;  /* human explanation when FAILED or WAITING */
};

typedef void (*download_cb)(
    void *arg, struct download *d, enum download_event ev);

struct download_opts {
	struct dial_opts dial; /* connect deadline, source binding */
	uint64_t idle_ms;      /* transfer idle deadline; 0 = 30000 */
	uint64_t progress_ms;  /* progress event period; 0 = 250 */
	unsigned per_source;   /* parts in flight per source; 0 = 2 */
	unsigned max_parts;    /* parts in flight per download; 0 = 8 */
	uint64_t retry_min_ms; /* first backoff; 0 = 1000 */
	uint64_t retry_max_ms; /* longest backoff; 0 = 60000 */
	uint64_t rate;         /* global download rate, bytes/s; 0 = off */
	struct dlstate *state; /* persistence (borrowed), or NULL */
};

struct downloader *
downloader_new(uv_loop_t *loop, const struct download_opts *opts);

/* Every download's events go to cb (one subscriber: the node). */
void downloader_set_cb(struct downloader *dl, download_cb cb, void *arg);

/*
 * Resume the downloads stored in opts->state (after a restart or crash).
 * Returns how many were resumed.
 */
unsigned downloader_restore(struct downloader *dl);

/*
 * Start downloading md5 (32 hex digits, either case) into dir (absolute,
 * must exist) under name (sanitised here; NULL or empty means the md5).
 * If a download of md5 is already running, its sources are extended
 * instead and *out points to it. Returns 0, or a negative WARREN_E code or
 * -errno for invalid arguments.
 */
int download_start(struct downloader *dl, const char *md5, const char *name,
    const char *dir, const struct download_source *sources, unsigned nsources,
    struct download **out);

/* Add a source (from the user or an overlay). 0, or WARREN_ELIMIT. */
int download_add_source(struct download *d, const struct download_source *s);

int download_pause(struct download *d);
int download_resume(struct download *d);
int download_cancel(struct download *d);

void download_info(const struct download *d, struct download_info *out);
/* Source i (0 <= i < info.nsources). */
void download_source_info(
    const struct download *d, unsigned i, struct download_source_info *out);
uint64_t download_id(const struct download *d);
struct download *download_find(struct downloader *dl, uint64_t id);
/* The running (not finished) download of md5 (lower-case hex), or NULL. */
struct download *downloader_find_md5(struct downloader *dl, const char *md5);
void downloader_foreach(struct downloader *dl,
    void (*fn)(void *arg, struct download *d), void *arg);

/* Stop every download (kept in the state store for the next start), then
 * free dl once thread-pool jobs are done. */
void downloader_free(struct downloader *dl);

const char *download_state_name(enum download_state s);
const char *download_source_state_name(enum download_source_state s);

#endif
