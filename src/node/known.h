/*
 * known.h: sources the node has learned from search hits, by MD5, so that
 * `warren get MD5` after `warren search` needs no --from. Bounded in files
 * and in sources per file; entries expire.
 */
#ifndef WARREN_NODE_KNOWN_H
#define WARREN_NODE_KNOWN_H

#include <stdint.h>

#include "transfer/download.h"

struct known;

/* At most max_files MD5s (the least recently updated goes first), each
 * with at most DOWNLOAD_MAX_SOURCES sources, kept ttl_ms after the last
 * hit. Caller frees. */
struct known *known_new(unsigned max_files, uint64_t ttl_ms);
void known_free(struct known *k);

/* Remember that s has md5 (lower-case hex) under name (may be NULL). */
void known_add(struct known *k, const char *md5, const char *name,
    size_t name_len, const struct download_source *s, uint64_t now_ms);

/*
 * Copy up to max known sources of md5 into out; *name (may be NULL) gets
 * the name of the last hit, borrowed until the next call. Returns how many.
 */
unsigned
known_get(struct known *k, const char *md5, struct download_source *out,
    unsigned max, const char **name, uint64_t now_ms);

#endif
