/*
 * fuzz_beer2beer.c: libFuzzer target for the beer2beer codec. The input is
 * read as a stream of frames, and its tail (after one selector byte) as
 * the payload of every request and every response kind, as a list of
 * lines, and as each field. Whatever decodes must re-encode to something
 * that decodes to the same values; views stay inside the input. Any
 * violated invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/beer2beer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for a re-encoded frame. */
static uint8_t out[B2B_FRAME_MAX];

static void
check(int ok)
{
	if (!ok)
		abort();
}

/* A view lies within [base, base + n). */
static void
check_inside(struct b2b_str v, const uint8_t *base, size_t n)
{
	if (v.len == 0)
		return;
	check((const uint8_t *)v.ptr >= base &&
	    (const uint8_t *)v.ptr + v.len <= base + n);
}

static int
str_eq(struct b2b_str a, struct b2b_str b)
{
	return a.len == b.len &&
	    (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int
addr_eq(const struct b2b_addr *a, const struct b2b_addr *b)
{
	return a->family == b->family &&
	    (a->family == 0 || memcmp(a->a, b->a, 16) == 0);
}

/* ------------------------------------------------------------- lines */

static void
fuzz_lines(const uint8_t *p, size_t n, uint8_t sel)
{
	struct b2b_lines it;
	struct b2b_str l;
	size_t total = 0;
	int rc;

	if (b2b_lines_init(&it, p, n) < 0) {
		check(n > B2B_PAYLOAD_MAX);
		return;
	}
	if (sel & 1)
		it.max_len = (size_t)sel * 3;
	if (sel & 2)
		it.max_lines = sel / 4u + 1;
	while ((rc = b2b_lines_next(&it, &l)) > 0) {
		check_inside(l, p, n);
		check((size_t)rc >= l.len && (size_t)rc <= l.len + 2);
		check((const uint8_t *)l.ptr == p + total);
		check(l.len <= it.max_len && it.n <= it.max_lines);
		check(l.len == 0 || memchr(l.ptr, '\n', l.len) == NULL);
		total += (size_t)rc;
	}
	if (rc == 0) {
		check(total == n && b2b_lines_done(&it));
	} else {
		check(rc == WARREN_ETOOLONG || rc == WARREN_ELIMIT);
		check(b2b_lines_next(&it, &l) == rc); /* sticky */
	}
}

/* ------------------------------------------------------------ fields */

static void
fuzz_fields(const uint8_t *p, size_t n)
{
	struct b2b_addr a, b;
	struct b2b_file f;
	struct b2b_str rest, w;
	char text[B2B_IP_TEXT_MAX], sha1[B2B_SHA1_LEN + 1];
	char md5[B2B_MD5_LEN + 1];
	uint64_t size;
	uint32_t id, off;
	uint16_t port;
	unsigned words = 0;
	int rc;

	if (b2b_ip_parse(p, n, &a) == 0) {
		check(a.family == AF_INET || a.family == AF_INET6);
		rc = b2b_ip_format(&a, text, sizeof(text));
		check(rc > 0 && (size_t)rc == strlen(text));
		check(
		    b2b_ip_parse(text, (size_t)rc, &b) == 0 && addr_eq(&a, &b));
	}
	if (b2b_id_parse(p, n, &id) == 0)
		check(id >= 1 && id <= B2B_ID_MAX && n <= 10 && p[0] != '0');
	if (b2b_port_parse(p, n, &port) == 0)
		check(port >= 1);
	if (b2b_size_parse(p, n, &size) == 0)
		check(size <= B2B_SIZE_MAX);
	(void)b2b_offset_parse(p, n, &off);
	if (b2b_sha1_parse(p, n, sha1) == 0)
		check(strspn(sha1, "0123456789abcdef") == B2B_SHA1_LEN);
	if (b2b_md5_parse(p, n, md5) == 0)
		check(strspn(md5, "0123456789abcdef") == B2B_MD5_LEN);
	if (b2b_user_check(p, n) == 0)
		check(n >= 1 && n <= B2B_USER_MAX &&
		    b2b_utf8_check(p, n) == 0 && memchr(p, ' ', n) == NULL &&
		    memchr(p, '\n', n) == NULL);
	if (b2b_pwd_check(p, n) == 0)
		check(n >= 1 && n <= B2B_PWD_MAX && b2b_utf8_check(p, n) == 0);
	if (b2b_filename_check(p, n) == 0)
		check(n >= 1 && n <= B2B_FILENAME_MAX &&
		    memchr(p, '/', n) == NULL && memchr(p, '\0', n) == NULL &&
		    memchr(p, '\n', n) == NULL && memchr(p, '\r', n) == NULL);
	if (b2b_file_parse(p, n, &f) == 0) {
		check(f.kind == B2B_FILE3 || f.kind == B2B_FILE4 ||
		    f.kind == B2B_ANNOT);
		check(strlen(f.sha1) == B2B_SHA1_LEN);
		check(strlen(f.md5) == (f.kind == B2B_FILE3 ? 0 : B2B_MD5_LEN));
		if (f.kind != B2B_ANNOT) {
			check_inside(f.name, p, n);
			check((const uint8_t *)f.name.ptr == p);
			check(b2b_filename_check(f.name.ptr, f.name.len) == 0);
		}
	}
	rest = (struct b2b_str){(const char *)p, n};
	while (b2b_word_next(&rest, &w)) {
		check_inside(w, p, n);
		check(w.len > 0 && memchr(w.ptr, ' ', w.len) == NULL &&
		    memchr(w.ptr, '\t', w.len) == NULL);
		words++;
	}
	check(rest.len == 0 && words <= n);
}

/* ---------------------------------------------------------- requests */

static int
files_eq(struct b2b_lines a, struct b2b_lines b)
{
	struct b2b_file fa, fb;
	int ra, rb;

	for (;;) {
		ra = b2b_file_next(&a, &fa);
		if (ra > 0 && fa.kind == B2B_FILE4) {
			/* Re-encoded as a 3-field line and its annotation. */
			rb = b2b_file_next(&b, &fb);
			if (rb <= 0 || fb.kind != B2B_FILE3 ||
			    !str_eq(fa.name, fb.name) || fa.size != fb.size ||
			    strcmp(fa.sha1, fb.sha1) != 0)
				return 0;
			rb = b2b_file_next(&b, &fb);
			if (rb <= 0 || fb.kind != B2B_ANNOT ||
			    strcmp(fa.sha1, fb.sha1) != 0 ||
			    strcmp(fa.md5, fb.md5) != 0)
				return 0;
			continue;
		}
		rb = b2b_file_next(&b, &fb);
		if (ra <= 0 || rb <= 0)
			return ra == 0 && rb == 0;
		if (fa.kind != fb.kind || !str_eq(fa.name, fb.name) ||
		    fa.size != fb.size || strcmp(fa.sha1, fb.sha1) != 0 ||
		    strcmp(fa.md5, fb.md5) != 0)
			return 0;
	}
}

static int
req_eq(const struct b2b_request *a, const struct b2b_request *b)
{
	return a->type == b->type && str_eq(a->user, b->user) &&
	    str_eq(a->pwd, b->pwd) && a->id == b->id &&
	    addr_eq(&a->addr, &b->addr) && a->port == b->port &&
	    a->filter == b->filter && a->offset == b->offset &&
	    str_eq(a->query, b->query) && a->nwords == b->nwords &&
	    strcmp(a->sha1, b->sha1) == 0;
}

/* Re-encode a parsed request, file list included; 0 or WARREN_ESPACE. */
static int
reencode(const struct b2b_request *r)
{
	struct b2b_lines files = r->files;
	struct b2b_out o;
	struct b2b_file f;
	char annot[B2B_SHA1_LEN + 1 + B2B_MD5_LEN];
	int rc;

	rc = b2b_request_begin(&o, r, out, sizeof(out));
	if (rc < 0)
		return rc;
	if (r->type == B2B_REGISTER || r->type == B2B_REGISTER_UPDATE ||
	    r->type == B2B_REGISTER_APPEND) {
		while ((rc = b2b_file_next(&files, &f)) > 0) {
			if (f.kind == B2B_ANNOT) {
				memcpy(annot, f.sha1, B2B_SHA1_LEN);
				annot[B2B_SHA1_LEN] = '|';
				memcpy(annot + B2B_SHA1_LEN + 1, f.md5,
				    B2B_MD5_LEN);
				rc = b2b_out_line(&o, annot, sizeof(annot));
			} else {
				rc = b2b_out_file(&o, f.name, f.size, f.sha1,
				    f.kind == B2B_FILE4 ? f.md5 : NULL);
			}
			if (rc < 0)
				return rc;
		}
		check(rc == 0);
	}
	return b2b_out_end(&o);
}

static void
fuzz_request(uint16_t type, const uint8_t *p, size_t n)
{
	struct b2b_request r, again;
	struct b2b_str payload;
	uint16_t t;
	int rc, len;

	rc = b2b_request_parse(type, p, n, &r);
	if (rc < 0) {
		check(rc == WARREN_EFIELD || rc == WARREN_EPROTO ||
		    rc == WARREN_EEMPTY || rc == WARREN_ELIMIT ||
		    rc == WARREN_ETOOLONG || rc == WARREN_ELENGTH);
		check(r.reason > B2B_R_NONE && r.reason < B2B_R_COUNT);
		check((r.reason == B2B_R_BAD_FILE_LINE) == (r.bad_line > 0));
		check(b2b_encode_ko(
			  type, r.reason, r.bad_line, out, sizeof(out)) > 0);
		return;
	}
	check(rc == 0 && r.reason == B2B_R_NONE);
	check(b2b_utf8_check(p, n) == 0);
	check_inside(r.user, p, n);
	check_inside(r.pwd, p, n);
	check_inside(r.query, p, n);

	len = reencode(&r);
	if (len == WARREN_ESPACE)
		return; /* canonical form grew (4-field lines split) */
	check(len >= B2B_HEAD_LEN);
	check(b2b_frame_next(out, (size_t)len, &t, &payload) == len);
	check(t == type);
	check(b2b_request_parse(type, payload.ptr, payload.len, &again) == 0);
	check(req_eq(&r, &again));
	check(files_eq(r.files, again.files));
}

/* --------------------------------------------------------- responses */

static void
fuzz_response(uint16_t req, uint16_t type, const uint8_t *p, size_t n)
{
	struct b2b_response r, back;
	struct b2b_peer peer, peer2;
	struct b2b_file f, f2;
	struct b2b_hit h, h2;
	struct b2b_out o;
	struct b2b_str payload;
	uint16_t t;
	unsigned got = 0;
	int rc, len;

	rc = b2b_response_parse(req, type, p, n, &r);
	if (rc < 0) {
		check(rc == WARREN_EFIELD || rc == WARREN_ELENGTH);
		return;
	}
	check_inside(r.name, p, n);
	check_inside(r.reason, p, n);
	if (!r.ok) {
		check(b2b_response_next_hit(&r, &h) == WARREN_EKIND);
		check(b2b_response_next_peer(&r, &peer) == WARREN_EKIND);
		check(b2b_response_next_entry(&r, &f) == WARREN_EKIND);
		return;
	}
	if (req == B2B_REGISTER || req == B2B_REGISTER_UPDATE ||
	    req == B2B_REGISTER_APPEND) {
		check(r.id >= 1 && r.id <= B2B_ID_MAX);
		len = b2b_encode_ok_id(req, r.id, out, sizeof(out));
		check(len > 0);
		check(b2b_frame_next(out, (size_t)len, &t, &payload) == len);
		check(b2b_response_parse(
			  req, t, payload.ptr, payload.len, &back) == 0 &&
		    back.id == r.id);
		return;
	}
	switch (req) {
	case B2B_SHOW_PEERS:
		check(b2b_response_next_hit(&r, &h) == WARREN_EKIND);
		while ((rc = b2b_response_next_peer(&r, &peer)) > 0) {
			check_inside(peer.user, p, n);
			check(
			    b2b_response_begin(&o, req, out, sizeof(out)) == 0);
			check(b2b_out_peer(&o, &peer) > 0);
			len = b2b_out_end(&o);
			check(b2b_frame_next(out, (size_t)len, &t, &payload) ==
			    len);
			check(b2b_response_parse(req, t, payload.ptr,
				  payload.len, &back) == 0);
			check(b2b_response_next_peer(&back, &peer2) > 0);
			check(peer.user_id == peer2.user_id &&
			    str_eq(peer.user, peer2.user) &&
			    peer.online == peer2.online &&
			    addr_eq(&peer.addr, &peer2.addr) &&
			    peer.port == peer2.port);
			got++;
		}
		break;
	case B2B_BROWSE_PEER:
		check(b2b_response_next_peer(&r, &peer) == WARREN_EKIND);
		while ((rc = b2b_response_next_entry(&r, &f)) > 0) {
			check_inside(f.name, p, n);
			check(
			    b2b_response_begin(&o, req, out, sizeof(out)) == 0);
			check(b2b_out_entry(&o, &f) > 0);
			len = b2b_out_end(&o);
			check(b2b_frame_next(out, (size_t)len, &t, &payload) ==
			    len);
			check(b2b_response_parse(req, t, payload.ptr,
				  payload.len, &back) == 0);
			check(b2b_response_next_entry(&back, &f2) > 0);
			check(str_eq(f.name, f2.name) && f.size == f2.size &&
			    strcmp(f.sha1, f2.sha1) == 0);
			got++;
		}
		break;
	case B2B_SEARCH_FILE:
	case B2B_DOWNLOAD_FILE:
		check(b2b_response_next_entry(&r, &f) == WARREN_EKIND);
		check(r.layout == (req == B2B_SEARCH_FILE ? 7u : 8u) ||
		    (req == B2B_SEARCH_FILE && r.layout == 6));
		while ((rc = b2b_response_next_hit(&r, &h)) > 0) {
			check_inside(h.name, p, n);
			check_inside(h.user, p, n);
			check(h.port >= 1);
			check(
			    b2b_response_begin(&o, req, out, sizeof(out)) == 0);
			check(b2b_out_hit(&o, &h) > 0);
			len = b2b_out_end(&o);
			check(b2b_frame_next(out, (size_t)len, &t, &payload) ==
			    len);
			check(b2b_response_parse(req, t, payload.ptr,
				  payload.len, &back) == 0);
			check(b2b_response_next_hit(&back, &h2) > 0);
			check(str_eq(h.name, h2.name) && h.size == h2.size &&
			    strcmp(h.sha1, h2.sha1) == 0 &&
			    str_eq(h.user, h2.user) &&
			    h.user_id == h2.user_id &&
			    addr_eq(&h.addr, &h2.addr) && h.port == h2.port &&
			    (req == B2B_SEARCH_FILE ||
				strcmp(h.md5, h2.md5) == 0));
			got++;
		}
		break;
	default:
		check(b2b_response_next_hit(&r, &h) == WARREN_EKIND);
		return;
	}
	check(rc == 0);
	check(r.layout > 0 && (got + r.dropped) * r.layout <= n + r.layout);
}

/* ------------------------------------------------------------ frames */

static void
fuzz_frames(const uint8_t *data, size_t size)
{
	uint8_t head[B2B_HEAD_LEN];
	struct b2b_str p;
	uint16_t type, len, req;
	size_t off = 0;
	int n;

	while ((n = b2b_frame_next(data + off, size - off, &type, &p)) > 0) {
		check((size_t)n <= size - off && (size_t)n >= B2B_HEAD_LEN);
		check(b2b_frame_decode(data + off, size - off, &type, &len) ==
		    B2B_HEAD_LEN);
		check((size_t)n == B2B_HEAD_LEN + len && p.len == len);
		check((const uint8_t *)p.ptr == data + off + B2B_HEAD_LEN);
		check(b2b_frame_encode_head(type, len, head) == B2B_HEAD_LEN);
		check(memcmp(head, data + off, B2B_HEAD_LEN) == 0);
		/* Every proper prefix needs more. */
		check(
		    b2b_frame_next(data + off, (size_t)n - 1, &type, &p) == 0);
		check(
		    b2b_frame_next(data + off, (size_t)n / 2, &type, &p) == 0);
		/* The payload as what its type says it is. */
		if (b2b_is_request(type))
			fuzz_request(type, (const uint8_t *)p.ptr, p.len);
		for (req = B2B_REGISTER; req <= B2B_REGISTER_APPEND; req++)
			if (type == b2b_ok_type(req) ||
			    type == b2b_ko_type(req))
				fuzz_response(
				    req, type, (const uint8_t *)p.ptr, p.len);
		off += (size_t)n;
	}
	check(n == 0);
	check(size - off < B2B_HEAD_LEN ||
	    b2b_frame_decode(data + off, size - off, &type, &len) == 4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	size_t n;
	uint16_t req;

	fuzz_frames(data, size);
	if (size == 0)
		return 0;
	p = data + 1;
	n = size - 1;
	fuzz_lines(p, n, data[0]);
	fuzz_fields(p, n);
	for (req = B2B_REGISTER; req <= B2B_REGISTER_APPEND; req++) {
		fuzz_request(req, p, n);
		fuzz_response(req, b2b_ok_type(req), p, n);
		fuzz_response(req, b2b_ko_type(req), p, n);
	}
	/* Not a request: no KO, and no response either. */
	{
		struct b2b_request r;
		struct b2b_response resp;

		check(b2b_request_parse(0, p, n, &r) == WARREN_EKIND &&
		    r.reason == B2B_R_NONE);
		check(
		    b2b_request_parse(data[0] + 11u, p, n, &r) == WARREN_EKIND);
		check(b2b_response_parse(1, 102, p, n, &resp) == WARREN_EPROTO);
	}
	return 0;
}
