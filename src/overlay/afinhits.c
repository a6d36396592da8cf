/*
 * An AFIN turned into search hits.
 */
#include <string.h>

#include "afinhits.h"

void
afinhits_init(struct afinhits *a, const char *overlay,
    const struct course_peer *self, unsigned max_hits, overlay_hit_cb hit,
    void *arg)
{
	memset(a, 0, sizeof(*a));
	course_afin_init(&a->afin);
	a->overlay = overlay;
	a->self = self;
	a->hit = hit;
	a->arg = arg;
	hitset_init(&a->seen, max_hits);
}

void
afinhits_release(struct afinhits *a)
{
	hitset_release(&a->seen);
}

int
afinhits_feed(struct afinhits *a, const uint8_t *buf, size_t len, int *done)
{
	size_t used = 0;

	while (used < len && !course_afin_done(&a->afin)) {
		struct course_afin_item it;
		struct overlay_hit h;
		int n = course_afin_next(&a->afin, buf + used, len - used, &it);

		if (n == 0)
			break;
		if (n < 0)
			return n;
		used += (size_t)n;
		if (it.type == COURSE_AFIN_ENTRY) {
			memcpy(a->md5, it.md5, sizeof(a->md5));
			a->name_len = it.name.len < sizeof(a->name)
			    ? it.name.len
			    : sizeof(a->name);
			memcpy(a->name, it.name.ptr, a->name_len);
		}
		if (it.type != COURSE_AFIN_COPY || !it.valid ||
		    peer_same(&it.peer, a->self) ||
		    !hitset_add(&a->seen, a->md5, &it.peer))
			continue;
		memset(&h, 0, sizeof(h));
		h.overlay = a->overlay;
		memcpy(h.md5, a->md5, sizeof(h.md5));
		h.name = a->name;
		h.name_len = a->name_len;
		peer_source(&it.peer, &h.src);
		if (h.src.naddrs > 0)
			a->hit(a->arg, &h);
	}
	if (course_afin_done(&a->afin))
		*done = 1;
	return (int)used;
}
