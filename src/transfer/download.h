/*
 * download.h: the download manager of a node. A download is an MD5, a
 * name, a folder and a set of sources. Bytes go to "NAME.part" inside the
 * folder (created exclusively, never following a link), the MD5 is computed
 * as they are written, and the file is renamed to its final name (never
 * over an existing file) only when the whole-file MD5 matches. A mismatch
 * keeps the data aside as "NAME.bad.part"; any other failure deletes it.
 *
 * This version fetches the whole file with RETR from the first source that
 * answers (course.md §8).
 */
#ifndef WARREN_TRANSFER_DOWNLOAD_H
#define WARREN_TRANSFER_DOWNLOAD_H

#include <stdint.h>

#include <uv.h>

#include "core/addr.h"
#include "net/dial.h"

struct downloader;
struct download;

enum download_state {
	DOWNLOAD_CREATING,   /* creating the .part file */
	DOWNLOAD_CONNECTING, /* dialing a source */
	DOWNLOAD_RECEIVING,  /* reading ARET */
	DOWNLOAD_VERIFYING,  /* last writes, MD5 check, rename */
	DOWNLOAD_DONE,       /* verified and renamed */
	DOWNLOAD_FAILED,     /* see err and message */
};

enum download_event {
	DOWNLOAD_EV_STARTED,
	DOWNLOAD_EV_PROGRESS,
	DOWNLOAD_EV_DONE,
	DOWNLOAD_EV_FAILED,
};

#define DOWNLOAD_MAX_SOURCES 16

struct download_source {
	struct sockaddr_storage addrs[DIAL_MAX_ADDRS]; /* tried in order */
	unsigned naddrs;
	char label[ADDR_STRLEN]; /* how the user named it */
	int err;                 /* last failure with this source, or 0 */
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
	uint64_t bytes; /* verified-or-written bytes so far */
	double rate;    /* bytes per second, smoothed */
	unsigned nsources;
	const char *source;  /* source in use, or "" */
	int err;             /* when FAILED */
	const char *message; /* human explanation when FAILED */
};

typedef void (*download_cb)(
    void *arg, struct download *d, enum download_event ev);

struct download_opts {
	struct dial_opts dial; /* connect deadline, source binding */
	uint64_t idle_ms;      /* transfer idle deadline; 0 = 30000 */
	uint64_t progress_ms;  /* progress event period; 0 = 250 */
};

struct downloader *
downloader_new(uv_loop_t *loop, const struct download_opts *opts);

/* Every download's events go to cb (one subscriber: the node). */
void downloader_set_cb(struct downloader *dl, download_cb cb, void *arg);

/*
 * Start downloading md5 (32 hex digits, either case) into dir (absolute,
 * must exist) under name (from the network or the user: sanitised here;
 * NULL or empty means the md5). Returns 0 and sets *out, or a negative
 * WARREN_E code or -errno for invalid arguments.
 */
int download_start(struct downloader *dl, const char *md5, const char *name,
    const char *dir, const struct download_source *sources, unsigned nsources,
    struct download **out);

void download_info(const struct download *d, struct download_info *out);
uint64_t download_id(const struct download *d);
struct download *download_find(struct downloader *dl, uint64_t id);
void downloader_foreach(struct downloader *dl,
    void (*fn)(void *arg, struct download *d), void *arg);

/* Cancel every download in flight, then free dl once jobs are done. */
void downloader_free(struct downloader *dl);

const char *download_state_name(enum download_state s);

#endif
