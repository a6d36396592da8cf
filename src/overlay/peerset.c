/*
 * Addresses, peer lists and answer sets shared by the flooding overlays.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "peerset.h"
#include "warren/error.h"

/* ------------------------------------------------------------- peer_* */

unsigned
peer_keys(const struct course_peer *p, uint8_t keys[2][16])
{
	struct sockaddr_storage ss;
	unsigned n = 0;
	int fam[2] = {AF_INET, AF_INET6};

	for (int i = 0; i < 2; i++) {
		if (course_peer_sockaddr(p, fam[i], &ss) != 0)
			continue;
		peer_sa_key((struct sockaddr *)&ss, keys[n]);
		if (n == 1 && memcmp(keys[0], keys[1], 16) == 0)
			continue;
		n++;
	}
	return n;
}

void
peer_sa_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(
		    &key[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

int
peer_has(const struct course_peer *p, const uint8_t key[16])
{
	uint8_t keys[2][16];
	unsigned n = peer_keys(p, keys);

	for (unsigned i = 0; i < n; i++)
		if (memcmp(keys[i], key, 16) == 0)
			return 1;
	return 0;
}

int
peer_same(const struct course_peer *a, const struct course_peer *b)
{
	uint8_t keys[2][16];
	unsigned n;

	if (a->port != b->port)
		return 0;
	n = peer_keys(a, keys);
	for (unsigned i = 0; i < n; i++)
		if (peer_has(b, keys[i]))
			return 1;
	return 0;
}

void
peer_label(const struct course_peer *p, char *out, size_t cap)
{
	struct sockaddr_storage ss;

	if (course_peer_sockaddr(p, AF_INET, &ss) != 0 &&
	    course_peer_sockaddr(p, AF_INET6, &ss) != 0) {
		snprintf(out, cap, "?:%u", p->port);
		return;
	}
	addr_format((struct sockaddr *)&ss, out, cap);
}

void
peer_source(const struct course_peer *p, struct download_source *s)
{
	struct sockaddr_storage ss;
	int fam[2] = {AF_INET, AF_INET6};

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 2; i++) {
		if (course_peer_sockaddr(p, fam[i], &ss) != 0)
			continue;
		if (s->naddrs == 1 &&
		    addr_equal((struct sockaddr *)&s->addrs[0],
			(struct sockaddr *)&ss))
			continue;
		s->addrs[s->naddrs++] = ss;
	}
	peer_label(p, s->label, sizeof(s->label));
}

int
peer_from_sockaddr(const struct sockaddr *sa, struct course_peer *out)
{
	if (sa->sa_family == AF_INET)
		return course_peer_from_sockaddr(sa, NULL, addr_port(sa), out);
	return course_peer_from_sockaddr(NULL, sa, addr_port(sa), out);
}

/* ------------------------------------------------------------ peerset */

static const char *
peerset_state_name(enum peerset_state s)
{
	switch (s) {
	case PEERSET_UNKNOWN:
		return "unknown";
	case PEERSET_UP:
		return "up";
	case PEERSET_DOWN:
		return "down";
	}
	return "?";
}

void
peerset_init(
    struct peerset *ps, uv_loop_t *loop, const char *what, unsigned fail_limit)
{
	memset(ps, 0, sizeof(*ps));
	ps->loop = loop;
	ps->what = what;
	ps->fail_limit = fail_limit ? fail_limit : 1;
}

void
peerset_release(struct peerset *ps)
{
	free(ps->v);
	memset(ps, 0, sizeof(*ps));
}

struct peerset_entry *
peerset_find(struct peerset *ps, const struct course_peer *p)
{
	for (unsigned i = 0; i < ps->n; i++)
		if (peer_same(&ps->v[i].peer, p))
			return &ps->v[i];
	return NULL;
}

struct peerset_entry *
peerset_by_id(struct peerset *ps, uint64_t id)
{
	for (unsigned i = 0; i < ps->n; i++)
		if (ps->v[i].id == id)
			return &ps->v[i];
	return NULL;
}

struct peerset_entry *
peerset_add(struct peerset *ps, const struct course_peer *p, int configured,
    const struct course_peer *self)
{
	struct peerset_entry *e;

	if ((self != NULL && peer_same(p, self)) || peerset_find(ps, p) != NULL)
		return NULL;
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 16;
		ps->v = xreallocarray(ps->v, ps->cap, sizeof(*ps->v));
	}
	e = &ps->v[ps->n++];
	memset(e, 0, sizeof(*e));
	e->id = ++ps->next_id;
	e->peer = *p;
	e->configured = configured;
	e->state = PEERSET_UNKNOWN;
	e->added_ms = uv_now(ps->loop);
	peer_label(p, e->label, sizeof(e->label));
	if (!configured) {
		ps->learned++;
		log_info("%s %s learned", ps->what, e->label);
	}
	return e;
}

unsigned
peerset_alive(const struct peerset *ps)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ps->n; i++)
		if (ps->v[i].state != PEERSET_DOWN)
			n++;
	return n;
}

unsigned
peerset_learned(const struct peerset *ps)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ps->n; i++)
		if (!ps->v[i].configured)
			n++;
	return n;
}

int
peerset_result(struct peerset *ps, uint64_t id, int status)
{
	struct peerset_entry *e = peerset_by_id(ps, id);

	if (e == NULL)
		return 0; /* removed meanwhile */
	if (status == 0) {
		if (e->state != PEERSET_UP && e->fails > 0)
			log_info("%s %s is back", ps->what, e->label);
		e->state = PEERSET_UP;
		e->fails = 0;
		e->sent++;
		e->last_ok_ms = uv_now(ps->loop);
		return 0;
	}
	e->failed++;
	if (++e->fails < ps->fail_limit || e->state == PEERSET_DOWN)
		return 0;
	if (e->configured) {
		log_warn("%s %s is down (%s)", ps->what, e->label,
		    status < 0 && status > -4096 ? uv_strerror(status)
						 : warren_strerror(status));
		e->state = PEERSET_DOWN;
	} else {
		log_info("%s %s dropped after %u failures", ps->what, e->label,
		    e->fails);
		ps->lost++;
		*e = ps->v[--ps->n];
	}
	return 1;
}

struct peerset_entry *
peerset_deliverer(struct peerset *ps, const struct sockaddr *from)
{
	struct peerset_entry *found = NULL;
	uint8_t key[16];
	unsigned same = 0;

	peer_sa_key(from, key);
	for (unsigned i = 0; i < ps->n; i++) {
		if (peer_has(&ps->v[i].peer, key)) {
			found = &ps->v[i];
			same++;
		}
	}
	if (same != 1)
		return NULL;
	if (found->state == PEERSET_DOWN) {
		log_info("%s %s is sending again", ps->what, found->label);
		found->state = PEERSET_UNKNOWN;
		found->fails = 0;
	}
	return found;
}

unsigned
peerset_flood(struct peerset *ps, const uint8_t *raw, size_t len, unsigned ttl,
    unsigned max_ttl, const struct course_peer *origin,
    const struct sockaddr *from, peerset_send_fn send, void *arg)
{
	struct peerset_entry *deliverer = peerset_deliverer(ps, from);
	uint8_t buf[COURSE_MSG_MAX];
	uint64_t ids[64];
	unsigned n = 0, copies = 0;

	if (ttl <= 1 || len > sizeof(buf) || len < 82)
		return 0;
	ttl--;
	if (ttl > max_ttl)
		ttl = max_ttl;
	memcpy(buf, raw, len);
	buf[80] = (uint8_t)('0' + ttl / 10);
	buf[81] = (uint8_t)('0' + ttl % 10);
	/* By id: send() may add or remove entries. */
	for (unsigned i = 0; i < ps->n && n < 64; i++) {
		struct peerset_entry *e = &ps->v[i];

		if (e == deliverer || e->state == PEERSET_DOWN ||
		    peer_same(&e->peer, origin))
			continue;
		ids[n++] = e->id;
	}
	for (unsigned i = 0; i < n; i++) {
		struct peerset_entry *e = peerset_by_id(ps, ids[i]);

		if (e == NULL)
			continue;
		send(arg, e, buf, len);
		copies++;
	}
	return copies;
}

json_t *
peerset_counts_json(const struct peerset *ps)
{
	int n[3] = {0, 0, 0};

	for (unsigned i = 0; i < ps->n; i++)
		n[ps->v[i].state]++;
	return json_pack("{s:i,s:i,s:i,s:i}", "up", n[PEERSET_UP], "unknown",
	    n[PEERSET_UNKNOWN], "down", n[PEERSET_DOWN], "learned",
	    (int)peerset_learned(ps));
}

json_t *
peerset_json(const struct peerset *ps)
{
	json_t *list = json_array();
	uint64_t now = uv_now(ps->loop);

	for (unsigned i = 0; i < ps->n; i++) {
		const struct peerset_entry *e = &ps->v[i];
		char ipp2p[COURSE_IPP2P_LEN];
		json_t *o;

		course_ipp2p_format(&e->peer, ipp2p);
		o = json_pack("{s:s,s:s%,s:i,s:s,s:s,s:i,s:I,s:I,s:I}", "label",
		    e->label, "ipp2p", ipp2p, (size_t)COURSE_IPP2P_LEN, "port",
		    (int)e->peer.port, "state", peerset_state_name(e->state),
		    "origin", e->configured ? "configured" : "learned", "fails",
		    (int)e->fails, "sent", (json_int_t)e->sent, "failed",
		    (json_int_t)e->failed, "age_ms",
		    (json_int_t)(now - e->added_ms));
		json_object_set_new(o, "last_ok_ms",
		    e->last_ok_ms
			? json_integer((json_int_t)(now - e->last_ok_ms))
			: json_null());
		json_array_append_new(list, o);
	}
	return list;
}

/* ------------------------------------------------------------- hitset */

void
hitset_init(struct hitset *hs, unsigned max)
{
	memset(hs, 0, sizeof(*hs));
	hs->max = max;
	if (uv_random(NULL, NULL, &hs->seed, sizeof(hs->seed), 0, NULL) != 0)
		hs->seed = uv_hrtime();
	hs->seed |= 1;
}

void
hitset_release(struct hitset *hs)
{
	free(hs->v);
	memset(hs, 0, sizeof(*hs));
}

static uint64_t
hitset_mix(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void
hitset_put(uint64_t *v, unsigned cap, uint64_t h)
{
	unsigned i;

	for (i = (unsigned)h & (cap - 1); v[i] != 0; i = (i + 1) & (cap - 1))
		;
	v[i] = h;
}

int
hitset_add(struct hitset *hs, const char *md5, const struct course_peer *p)
{
	uint8_t keys[2][16];
	unsigned n = peer_keys(p, keys), mask, i;
	uint64_t h = hs->seed;

	/* The holder's identity: its first usable address and its port. */
	h = hitset_mix(h, md5, COURSE_MD5_LEN);
	if (n > 0)
		h = hitset_mix(h, keys[0], 16);
	h = hitset_mix(h, &p->port, sizeof(p->port));
	if (h == 0)
		h = 1;
	if (hs->n >= hs->max)
		return 0;
	if ((hs->n + 1) * 2 > hs->cap) {
		uint64_t *old = hs->v;
		unsigned oldcap = hs->cap;

		hs->cap = oldcap ? oldcap * 2 : 64;
		hs->v = xcalloc(hs->cap, sizeof(*hs->v));
		for (unsigned j = 0; j < oldcap; j++)
			if (old[j] != 0)
				hitset_put(hs->v, hs->cap, old[j]);
		free(old);
	}
	mask = hs->cap - 1;
	for (i = (unsigned)h & mask; hs->v[i] != 0; i = (i + 1) & mask)
		if (hs->v[i] == h)
			return 0;
	hs->v[i] = h;
	hs->n++;
	return 1;
}
