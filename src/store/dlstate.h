/*
 * dlstate.h: downloads that survive a crash. One row per download (md5,
 * name, folder, .part path, adopted part layout and hashes, bitmap of
 * verified parts, bytes fetched over all runs) and its sources, in
 * node.db. It has its own SQLite connection so that recording a verified
 * part from a thread-pool job never waits on another module's transaction.
 */
#ifndef WARREN_STORE_DLSTATE_H
#define WARREN_STORE_DLSTATE_H

#include <stddef.h>
#include <stdint.h>

struct dlstate;

struct dlstate_source {
	const char *label;
	const char *addrs; /* "ADDR:PORT ADDR:PORT" */
};

/* A stored download; strings and blobs are valid during the callback. */
struct dlstate_row {
	int64_t id;
	const char *md5, *name, *dir;
	const char *part_path; /* NULL until created */
	const char *state;     /* "active" or "paused" */
	int64_t size;          /* -1 if unknown */
	uint32_t lenpart, nparts;
	const uint8_t *hashes; /* nparts × 20 bytes, or NULL */
	const uint8_t *done;   /* bitmap, (nparts + 7) / 8 bytes, or NULL */
	uint64_t fetched;
	const struct dlstate_source *sources;
	unsigned nsources;
};

/* Open its own connection to path (schema created). NULL on error. */
struct dlstate *dlstate_open(const char *path);
void dlstate_close(struct dlstate *st);

/* New download row; returns its id (> 0) or -1. */
int64_t dlstate_create(
    struct dlstate *st, const char *md5, const char *name, const char *dir);
int dlstate_set_part_path(struct dlstate *st, int64_t id, const char *path);
int dlstate_add_source(
    struct dlstate *st, int64_t id, const char *label, const char *addrs);
/* Adopted layout: size, part length, parts and their SHA-1s. */
int dlstate_set_layout(struct dlstate *st, int64_t id, uint64_t size,
    uint32_t lenpart, uint32_t nparts, const uint8_t *hashes);
/*
 * Record the verified-part bitmap and the bytes fetched so far. Safe to
 * call from a thread-pool job (the connection is serialized).
 */
int dlstate_progress(struct dlstate *st, int64_t id, const uint8_t *bitmap,
    size_t len, uint64_t fetched);
/* "active", "paused": kept for resume; "done", "failed", "canceled":
 * finished (the row is deleted). */
int dlstate_set_state(struct dlstate *st, int64_t id, const char *state);

/* Call fn for every stored active or paused download, oldest first. */
int dlstate_load(struct dlstate *st,
    void (*fn)(void *arg, const struct dlstate_row *row), void *arg);

#endif
