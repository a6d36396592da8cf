/*
 * fuzz_course_msg.c: libFuzzer target for the fixed-length decoders of the
 * course codec (course_decode, course_decode_algi, course_decode_reply)
 * and its field helpers. Whatever decodes must re-encode to a canonical
 * frame that decodes to the same fields; every prefix of a decoded frame
 * must be "need more". Any violated invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/course.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static int
has_nul(struct course_str s)
{
	return s.len > 0 && memchr(s.ptr, '\0', s.len) != NULL;
}

static int
str_eq(struct course_str a, struct course_str b)
{
	return a.len == b.len &&
	    (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int
msg_eq(const struct course_msg *a, const struct course_msg *b)
{
	return a->kind == b->kind &&
	    memcmp(a->pktid, b->pktid, COURSE_PKTID_LEN) == 0 &&
	    memcmp(a->session, b->session, COURSE_SESSION_LEN) == 0 &&
	    course_peer_equal(&a->peer, &b->peer) && a->ttl == b->ttl &&
	    strcmp(a->md5, b->md5) == 0 && str_eq(a->name, b->name) &&
	    str_eq(a->term, b->term) && a->count == b->count &&
	    a->partnum == b->partnum;
}

/* Padding never survives decoding: both ends are real bytes. */
static void
check_stripped(struct course_str s)
{
	if (s.len == 0)
		return;
	check(s.ptr[0] != ' ' && s.ptr[0] != '\0');
	check(s.ptr[s.len - 1] != ' ' && s.ptr[s.len - 1] != '\0');
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
	uint8_t out[COURSE_MSG_MAX], again[COURSE_MSG_MAX];
	struct course_msg m, d;
	size_t cut;
	int rc, n;

	rc = course_decode(data, size, &m);
	if (size >= COURSE_KIND_LEN &&
	    course_kind_len(course_kind_parse(data)) == 0)
		check(rc == WARREN_EKIND);
	if (rc == 0) {
		check(size < COURSE_KIND_LEN ||
		    size < course_kind_len(course_kind_parse(data)));
		return;
	}
	if (rc < 0) {
		check(rc == WARREN_EKIND || rc == WARREN_EFIELD);
		return;
	}
	check((size_t)rc == course_kind_len(m.kind) && (size_t)rc <= size);
	check(memcmp(data, course_kind_name(m.kind), COURSE_KIND_LEN) == 0);
	check_stripped(m.name);
	check_stripped(m.term);
	check(m.ttl <= 99 && m.count <= 99999 && m.partnum <= 99999999);
	if (m.md5[0] != '\0')
		check(strspn(m.md5, "0123456789abcdef") == COURSE_MD5_LEN);

	/* A prefix, cut at a point taken from the data, needs more. */
	cut = (size_t)data[rc - 1] * 7 % (size_t)rc;
	check(course_decode(data, cut, &d) == 0);
	check(course_decode_reply(m.kind, data, cut, &d) == 0);

	/* The same frame as an expected reply. */
	check(course_decode_reply(m.kind, data, size, &d) == rc);
	check(msg_eq(&m, &d));

	/* Re-encode: canonical, and decodes to the same fields. */
	n = course_encode(&m, out, sizeof(out));
	if (n < 0) {
		check(
		    n == WARREN_EFIELD && (has_nul(m.name) || has_nul(m.term)));
		return;
	}
	check(n == rc);
	check(course_decode(out, (size_t)n, &d) == n);
	check(msg_eq(&m, &d));
	check(course_encode(&d, again, sizeof(again)) == n);
	check(memcmp(out, again, (size_t)n) == 0);
	check(course_encode(&m, again, (size_t)n - 1) == WARREN_ESPACE);
}

static void
fuzz_algi(const uint8_t *data, size_t size)
{
	struct course_msg m, d;
	int rc;

	rc = course_decode_algi(data, size, &m);
	if (rc == 16) {
		check(memcmp(data, "0000000000000000", 16) == 0);
		check(course_session_is_null(m.session));
	} else if (rc > 0) {
		check(rc == 20 && memcmp(data, "ALGI", 4) == 0);
		check(course_decode(data, size, &d) == 20 && msg_eq(&m, &d));
	} else if (rc == WARREN_EREFUSED) {
		/* Known from the first byte, or from the first non-'0' of
		 * "0000". */
		check(size >= 1 && (data[0] != '0' || size >= 2));
	} else {
		check(rc == 0 || rc == WARREN_EFIELD);
	}
	if (rc > 0)
		check(course_decode_reply(COURSE_ALGI, data, size, &d) == rc);
}

static void
fuzz_fields(const uint8_t *data, size_t size)
{
	struct course_peer p, q;
	struct sockaddr_storage ss;
	char text[COURSE_IPP2P_LEN], md5[COURSE_MD5_LEN + 1], name[256];
	uint16_t port;
	size_t i, n;
	int rc;

	if (size >= COURSE_IPP2P_LEN && course_ipp2p_parse(data, &p) == 0) {
		course_ipp2p_format(&p, text);
		check(text[15] == '|');
		memset(&q, 0, sizeof(q));
		check(course_ipp2p_parse(text, &q) == 0);
		check(
		    memcmp(p.v4, q.v4, 4) == 0 && memcmp(p.v6, q.v6, 16) == 0);
		p.port = 1;
		rc = course_peer_sockaddr(&p, AF_INET, &ss);
		check(rc == WARREN_EFIELD ||
		    (rc == 0 && ss.ss_family == AF_INET));
		rc = course_peer_sockaddr(&p, AF_INET6, &ss);
		check(rc == WARREN_EFIELD ||
		    (rc == 0 &&
			(ss.ss_family == AF_INET || ss.ss_family == AF_INET6)));
	}
	if (size >= COURSE_PP2P_LEN && course_port_parse(data, &port) == 0)
		check(port >= 1);
	if (size >= COURSE_MD5_LEN && course_md5_parse(data, md5) == 0)
		check(strspn(md5, "0123456789abcdef") == COURSE_MD5_LEN &&
		    md5[COURSE_MD5_LEN] == '\0');

	/* Sanitised names are safe file names. */
	n = size < 200 ? size : 200;
	rc = course_name_sanitize((const char *)data, n,
	    "0F53217FC7C8E7F89E8A8558E64A7083", name, sizeof(name));
	check(rc > 0 && (size_t)rc == strlen(name));
	check(strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
	for (i = 0; i < (size_t)rc; i++)
		check(name[i] != '/' && name[i] != '\\' &&
		    (uint8_t)name[i] >= 0x20 && name[i] != 0x7f);

	/* Search: a term always matches a name that is the term itself,
	 * once it has no padding or '%' at its ends. */
	n = size < COURSE_TERM_LEN ? size : COURSE_TERM_LEN;
	{
		struct course_str t = {(const char *)data, n};

		(void)course_term_match(t, (const char *)data + n, size - n);
		if (n > 0 && data[0] != ' ' && data[0] != '\0' &&
		    data[0] != '%' && data[n - 1] != ' ' &&
		    data[n - 1] != '\0' && data[n - 1] != '%')
			check(course_term_match(t, (const char *)data, n));
	}
	rc = course_sentence_classify(data, size);
	check(rc == WARREN_EBUSY || rc == WARREN_ENOTFOUND ||
	    rc == WARREN_EREFUSED);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode(data, size);
	fuzz_algi(data, size);
	fuzz_fields(data, size);
	return 0;
}
