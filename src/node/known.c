/*
 * Sources learned from search hits, by MD5.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "known.h"
#include "wire/course.h"

struct known_file {
	char md5[COURSE_MD5_LEN + 1]; /* "" when the slot is free */
	char name[256];
	uint64_t updated_ms;
	struct download_source *src; /* grown as needed, owned */
	unsigned nsrc, cap;
	unsigned next; /* slot replaced when src is full: round robin */
};

struct known {
	struct known_file *files;
	unsigned max;
	uint64_t ttl_ms;
};

struct known *
known_new(unsigned max_files, uint64_t ttl_ms)
{
	struct known *k = xcalloc(1, sizeof(*k));

	k->files = xcalloc(max_files, sizeof(*k->files));
	k->max = max_files;
	k->ttl_ms = ttl_ms;
	return k;
}

void
known_free(struct known *k)
{
	if (k == NULL)
		return;
	for (unsigned i = 0; i < k->max; i++)
		free(k->files[i].src);
	free(k->files);
	free(k);
}

static struct known_file *
known_find(struct known *k, const char *md5, uint64_t now_ms)
{
	for (unsigned i = 0; i < k->max; i++) {
		struct known_file *f = &k->files[i];

		if (f->md5[0] == '\0')
			continue;
		if (now_ms - f->updated_ms > k->ttl_ms) {
			free(f->src); /* expired */
			memset(f, 0, sizeof(*f));
			continue;
		}
		if (strcmp(f->md5, md5) == 0)
			return f;
	}
	return NULL;
}

/* Two sources are the same if they share their first address. */
static int
known_same(const struct download_source *a, const struct download_source *b)
{
	for (unsigned i = 0; i < a->naddrs; i++)
		for (unsigned j = 0; j < b->naddrs; j++)
			if (addr_equal((const struct sockaddr *)&a->addrs[i],
				(const struct sockaddr *)&b->addrs[j]))
				return 1;
	return 0;
}

void
known_add(struct known *k, const char *md5, const char *name, size_t name_len,
    const struct download_source *s, uint64_t now_ms)
{
	struct known_file *f = known_find(k, md5, now_ms);

	if (f == NULL) {
		/* A free slot, or the least recently updated one. */
		f = &k->files[0];
		for (unsigned i = 0; i < k->max; i++) {
			if (k->files[i].md5[0] == '\0') {
				f = &k->files[i];
				break;
			}
			if (k->files[i].updated_ms < f->updated_ms)
				f = &k->files[i];
		}
		free(f->src);
		memset(f, 0, sizeof(*f));
		snprintf(f->md5, sizeof(f->md5), "%s", md5);
	}
	f->updated_ms = now_ms;
	if (name != NULL && name_len > 0) {
		if (name_len >= sizeof(f->name))
			name_len = sizeof(f->name) - 1;
		memcpy(f->name, name, name_len);
		f->name[name_len] = '\0';
	}
	for (unsigned i = 0; i < f->nsrc; i++)
		if (known_same(&f->src[i], s)) {
			download_source_via_merge(&f->src[i], s->via);
			return;
		}
	if (f->nsrc < DOWNLOAD_MAX_SOURCES) {
		if (f->nsrc == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 4;
			f->src = xreallocarray(f->src, f->cap, sizeof(*f->src));
		}
		f->src[f->nsrc++] = *s;
	} else {
		f->src[f->next] = *s;
		f->next = (f->next + 1) % DOWNLOAD_MAX_SOURCES;
	}
}

unsigned
known_get(struct known *k, const char *md5, struct download_source *out,
    unsigned max, const char **name, uint64_t now_ms)
{
	struct known_file *f = known_find(k, md5, now_ms);
	unsigned n;

	if (name != NULL)
		*name = NULL;
	if (f == NULL)
		return 0;
	n = f->nsrc < max ? f->nsrc : max;
	memcpy(out, f->src, n * sizeof(*out));
	if (name != NULL && f->name[0] != '\0')
		*name = f->name;
	return n;
}
