/*
 * course.c: the codec of the fixed-width ASCII course protocol family
 * (course.md). Pure functions over byte buffers: encoders write the
 * canonical form of §2.5, decoders accept the tolerant form of §2.5 and §12
 * and never read a byte past the length they are given.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/course.h"
#include "wire/text.h"

/* The fields a fixed-length message is made of, in wire order. */
enum field {
	F_END = 0,
	F_PKTID,   /* 16 opaque bytes */
	F_SESSION, /* 16 opaque bytes */
	F_IPP2P,   /* 55 bytes, §2.5 "Parsing IPP2P" */
	F_PP2P,    /* 5 bytes, 1..65535 */
	F_TTL,     /* 2 digits */
	F_MD5,     /* 32 hex digits */
	F_NAME,    /* 100 bytes, space padded, never empty */
	F_TERM,    /* 20 bytes, space padded, may be empty */
	F_COUNT3,  /* #copy, #delete */
	F_COUNT5,  /* #download */
	F_PARTNUM, /* 8 digits */
};

static const size_t field_width[] = {
    [F_END] = 0,
    [F_PKTID] = COURSE_PKTID_LEN,
    [F_SESSION] = COURSE_SESSION_LEN,
    [F_IPP2P] = COURSE_IPP2P_LEN,
    [F_PP2P] = COURSE_PP2P_LEN,
    [F_TTL] = COURSE_TTL_LEN,
    [F_MD5] = COURSE_MD5_LEN,
    [F_NAME] = COURSE_NAME_LEN,
    [F_TERM] = COURSE_TERM_LEN,
    [F_COUNT3] = 3,
    [F_COUNT5] = 5,
    [F_PARTNUM] = 8,
};

/* One kind: its tag, its total length (0: variable) and its fields. */
struct kind_desc {
	char tag[COURSE_KIND_LEN + 1];
	size_t len;
	uint8_t fields[6]; /* enum field, F_END-terminated */
};

static const struct kind_desc kind_descs[COURSE_KIND_COUNT] = {
    [COURSE_NONE] = {"?", 0, {F_END}},
    [COURSE_LOGI] = {"LOGI", 64, {F_IPP2P, F_PP2P}},
    [COURSE_ALGI] = {"ALGI", 20, {F_SESSION}},
    [COURSE_ADDF] = {"ADDF", 152, {F_SESSION, F_MD5, F_NAME}},
    [COURSE_AADD] = {"AADD", 7, {F_COUNT3}},
    [COURSE_DELF] = {"DELF", 52, {F_SESSION, F_MD5}},
    [COURSE_ADEL] = {"ADEL", 7, {F_COUNT3}},
    [COURSE_FIND] = {"FIND", 40, {F_SESSION, F_TERM}},
    [COURSE_AFIN] = {"AFIN", 0, {F_END}},
    [COURSE_DREG] = {"DREG", 52, {F_SESSION, F_MD5}},
    [COURSE_ADRE] = {"ADRE", 9, {F_COUNT5}},
    [COURSE_LOGO] = {"LOGO", 20, {F_SESSION}},
    [COURSE_ALGO] = {"ALGO", 7, {F_COUNT3}},
    [COURSE_SUPE] = {"SUPE", 82, {F_PKTID, F_IPP2P, F_PP2P, F_TTL}},
    [COURSE_ASUP] = {"ASUP", 80, {F_PKTID, F_IPP2P, F_PP2P}},
    [COURSE_NEAR] = {"NEAR", 82, {F_PKTID, F_IPP2P, F_PP2P, F_TTL}},
    [COURSE_ANEA] = {"ANEA", 80, {F_PKTID, F_IPP2P, F_PP2P}},
    [COURSE_QUER] = {"QUER", 102, {F_PKTID, F_IPP2P, F_PP2P, F_TTL, F_TERM}},
    [COURSE_AQUE] = {"AQUE", 212, {F_PKTID, F_IPP2P, F_PP2P, F_MD5, F_NAME}},
    [COURSE_ADFF] = {"ADFF", 152, {F_SESSION, F_MD5, F_NAME}},
    [COURSE_DEFF] = {"DEFF", 52, {F_SESSION, F_MD5}},
    [COURSE_RETR] = {"RETR", 36, {F_MD5}},
    [COURSE_ARET] = {"ARET", 0, {F_END}},
    [COURSE_HASH] = {"HASH", 36, {F_MD5}},
    [COURSE_AHAS] = {"AHAS", 0, {F_END}},
    [COURSE_RETP] = {"RETP", 44, {F_MD5, F_PARTNUM}},
    [COURSE_AREP] = {"AREP", 0, {F_END}},
};

/* Private states of the streaming parsers; 0 is the initial state. */
enum afin_state { AFIN_HEAD = 0, AFIN_ENTRY, AFIN_COPY, AFIN_DONE };
enum chunks_state { CHUNKS_HEAD = 0, CHUNKS_LEN, CHUNKS_DATA, CHUNKS_DONE };
enum ahas_state { AHAS_HEAD = 0, AHAS_PARTS, AHAS_DONE };

/* Largest value of a decimal field of each width (index: width). */
static const uint64_t dec_max[] = {0, 9ULL, 99ULL, 999ULL, 9999ULL, 99999ULL,
    999999ULL, 9999999ULL, 99999999ULL, 999999999ULL, 9999999999ULL};

static const char hex_lower[] = "0123456789abcdef";

static int
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static uint8_t
ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Padding of §2.5: spaces always, NUL bytes where the field allows them. */
static int
is_pad(uint8_t c, int nul_too)
{
	return c == ' ' || (nul_too && c == '\0');
}

/* View of buf[0:len) without the padding at both ends. */
static struct course_str
strip(const void *buf, size_t len, int nul_too)
{
	const char *p = buf;

	while (len > 0 && is_pad((uint8_t)p[0], nul_too)) {
		p++;
		len--;
	}
	while (len > 0 && is_pad((uint8_t)p[len - 1], nul_too))
		len--;
	return (struct course_str){p, len};
}

/*
 * A reply that does not start with tag is an error sentence (§2.7). Known
 * as soon as one of the available leading bytes differs.
 */
static int
tag_differs(const uint8_t *buf, size_t len, const char *tag)
{
	size_t i;

	for (i = 0; i < len && i < COURSE_KIND_LEN; i++)
		if (buf[i] != (uint8_t)tag[i])
			return 1;
	return 0;
}

/*
 * A decimal count of §2.5: strip spaces on both sides, then 1 to width
 * decimal digits, nothing else. width <= 10, so the value fits.
 */
static int
parse_count(const uint8_t *p, size_t width, uint64_t *out)
{
	struct course_str s = strip(p, width, 0);
	uint64_t v = 0;
	size_t i;

	if (s.len == 0)
		return WARREN_EFIELD;
	for (i = 0; i < s.len; i++) {
		if (!is_digit((uint8_t)s.ptr[i]))
			return WARREN_EFIELD;
		v = v * 10 + (uint64_t)(s.ptr[i] - '0');
	}
	*out = v;
	return 0;
}

/* Write v as width decimal digits, left-padded with '0'. v must fit. */
static void
put_dec(uint8_t *p, size_t width, uint64_t v)
{
	while (width-- > 0) {
		p[width] = (uint8_t)('0' + v % 10);
		v /= 10;
	}
}

/* Canonical text field: the bytes, right-padded with spaces to width. */
static void
put_padded(uint8_t *p, size_t width, struct course_str s)
{
	if (s.len > 0)
		memcpy(p, s.ptr, s.len);
	memset(p + s.len, ' ', width - s.len);
}

/*
 * Check a name or term the way an encoder must (§2.6 items 2 and 3): strip
 * the spaces that could not travel, refuse what cannot be sent.
 */
static int
check_text(struct course_str in, size_t width, int need, struct course_str *out)
{
	*out = strip(in.ptr, in.len, 0);
	if (need && out->len == 0)
		return WARREN_EEMPTY;
	if (out->len > width)
		return WARREN_ETOOLONG;
	if (out->len > 0 && memchr(out->ptr, '\0', out->len) != NULL)
		return WARREN_EFIELD;
	return 0;
}

/* Write 32 hex digits of either case as lower case; WARREN_EFIELD if bad. */
static int
put_md5(uint8_t *p, const char *md5)
{
	size_t i;

	for (i = 0; i < COURSE_MD5_LEN; i++) {
		if (wire_hex_value((uint8_t)md5[i]) < 0)
			return WARREN_EFIELD;
		p[i] = ascii_lower((uint8_t)md5[i]);
	}
	return 0;
}

static int
is_v4mapped(const uint8_t v6[16])
{
	static const uint8_t prefix[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(v6, prefix, sizeof(prefix)) == 0;
}

/* §2.4 item 4: unspecified, multicast or broadcast IPv4 counts as absent. */
static int
v4_is_absent(const uint8_t v4[4])
{
	static const uint8_t zero[4], bcast[4] = {255, 255, 255, 255};

	return memcmp(v4, zero, 4) == 0 || memcmp(v4, bcast, 4) == 0 ||
	    (v4[0] & 0xf0) == 0xe0;
}

/* IPv4 part of IPP2P: four groups of 1-3 digits, parsed as decimal. */
static int
parse_v4(struct course_str s, uint8_t out[4])
{
	return wire_ipv4_parse(s.ptr, s.len, out);
}

/* IPv6 part of IPP2P: any text inet_pton accepts, at most 39 bytes. */
static int
parse_v6(struct course_str s, uint8_t out[16])
{
	return wire_ipv6_parse(s.ptr, s.len, 39, out);
}

enum course_kind
course_kind_parse(const void *buf)
{
	int k;

	for (k = COURSE_NONE + 1; k < COURSE_KIND_COUNT; k++)
		if (memcmp(buf, kind_descs[k].tag, COURSE_KIND_LEN) == 0)
			return (enum course_kind)k;
	return COURSE_NONE;
}

const char *
course_kind_name(enum course_kind kind)
{
	if ((int)kind <= COURSE_NONE || kind >= COURSE_KIND_COUNT)
		return "?";
	return kind_descs[kind].tag;
}

size_t
course_kind_len(enum course_kind kind)
{
	if ((int)kind <= COURSE_NONE || kind >= COURSE_KIND_COUNT)
		return 0;
	return kind_descs[kind].len;
}

int
course_decode(const void *buf, size_t len, struct course_msg *out)
{
	const uint8_t *b = buf;
	const struct kind_desc *d;
	const uint8_t *f;
	enum course_kind kind;
	struct course_str s;
	uint64_t v;
	size_t off;
	uint16_t port;

	if (len < COURSE_KIND_LEN)
		return 0;
	kind = course_kind_parse(b);
	d = &kind_descs[kind];
	if (d->len == 0)
		return WARREN_EKIND;
	if (len < d->len)
		return 0;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	off = COURSE_KIND_LEN;
	for (f = d->fields; *f != F_END; off += field_width[*f], f++) {
		switch ((enum field) * f) {
		case F_END:
			break;
		case F_PKTID:
			memcpy(out->pktid, b + off, COURSE_PKTID_LEN);
			break;
		case F_SESSION:
			memcpy(out->session, b + off, COURSE_SESSION_LEN);
			break;
		case F_IPP2P:
			if (course_ipp2p_parse(b + off, &out->peer) < 0)
				return WARREN_EFIELD;
			break;
		case F_PP2P:
			if (course_port_parse(b + off, &port) < 0)
				return WARREN_EFIELD;
			out->peer.port = port;
			break;
		case F_TTL:
			if (parse_count(b + off, COURSE_TTL_LEN, &v) < 0)
				return WARREN_EFIELD;
			out->ttl = (unsigned)v;
			break;
		case F_MD5:
			if (course_md5_parse(b + off, out->md5) < 0)
				return WARREN_EFIELD;
			break;
		case F_NAME:
			/* §11: an empty name where one is needed is invalid. */
			s = strip(b + off, COURSE_NAME_LEN, 1);
			if (s.len == 0)
				return WARREN_EFIELD;
			out->name = s;
			break;
		case F_TERM:
			out->term = strip(b + off, COURSE_TERM_LEN, 1);
			break;
		case F_COUNT3:
		case F_COUNT5:
			if (parse_count(b + off, field_width[*f], &v) < 0)
				return WARREN_EFIELD;
			out->count = (unsigned long)v;
			break;
		case F_PARTNUM:
			if (parse_count(b + off, 8, &v) < 0)
				return WARREN_EFIELD;
			out->partnum = (unsigned long)v;
			break;
		}
	}
	return (int)d->len;
}

int
course_decode_algi(const void *buf, size_t len, struct course_msg *out)
{
	const uint8_t *b = buf;
	size_t i;

	if (len == 0)
		return 0;
	if (b[0] == '0') {
		/* §2.7 item 4: the bare sixteen '0' of some directories. */
		for (i = 0; i < len && i < COURSE_SESSION_LEN; i++)
			if (b[i] != '0')
				return i < COURSE_KIND_LEN ? WARREN_EREFUSED
							   : WARREN_EFIELD;
		if (len < COURSE_SESSION_LEN)
			return 0;
		memset(out, 0, sizeof(*out));
		out->kind = COURSE_ALGI;
		memset(out->session, '0', COURSE_SESSION_LEN);
		return COURSE_SESSION_LEN;
	}
	if (tag_differs(b, len, kind_descs[COURSE_ALGI].tag))
		return WARREN_EREFUSED;
	return course_decode(buf, len, out);
}

int
course_decode_reply(enum course_kind expect, const void *buf, size_t len,
    struct course_msg *out)
{
	if (course_kind_len(expect) == 0)
		return WARREN_EKIND;
	if (expect == COURSE_ALGI)
		return course_decode_algi(buf, len, out);
	if (tag_differs(buf, len, kind_descs[expect].tag))
		return WARREN_EREFUSED;
	return course_decode(buf, len, out);
}

int
course_encode(const struct course_msg *m, void *out, size_t cap)
{
	uint8_t *b = out;
	const struct kind_desc *d;
	const uint8_t *f;
	struct course_str s;
	size_t off;
	int rc;

	if (course_kind_len(m->kind) == 0)
		return WARREN_EKIND;
	d = &kind_descs[m->kind];
	if (cap < d->len)
		return WARREN_ESPACE;

	memcpy(b, d->tag, COURSE_KIND_LEN);
	off = COURSE_KIND_LEN;
	for (f = d->fields; *f != F_END; off += field_width[*f], f++) {
		switch ((enum field) * f) {
		case F_END:
			break;
		case F_PKTID:
			memcpy(b + off, m->pktid, COURSE_PKTID_LEN);
			break;
		case F_SESSION:
			memcpy(b + off, m->session, COURSE_SESSION_LEN);
			break;
		case F_IPP2P:
			course_ipp2p_format(&m->peer, (char *)(b + off));
			break;
		case F_PP2P:
			if (m->peer.port == 0)
				return WARREN_EFIELD;
			put_dec(b + off, COURSE_PP2P_LEN, m->peer.port);
			break;
		case F_TTL:
			if (m->ttl > dec_max[COURSE_TTL_LEN])
				return WARREN_EFIELD;
			put_dec(b + off, COURSE_TTL_LEN, m->ttl);
			break;
		case F_MD5:
			if (put_md5(b + off, m->md5) < 0)
				return WARREN_EFIELD;
			break;
		case F_NAME:
			rc = check_text(m->name, COURSE_NAME_LEN, 1, &s);
			if (rc < 0)
				return rc;
			put_padded(b + off, COURSE_NAME_LEN, s);
			break;
		case F_TERM:
			rc = check_text(m->term, COURSE_TERM_LEN, 0, &s);
			if (rc < 0)
				return rc;
			put_padded(b + off, COURSE_TERM_LEN, s);
			break;
		case F_COUNT3:
		case F_COUNT5:
			if (m->count > dec_max[field_width[*f]])
				return WARREN_EFIELD;
			put_dec(b + off, field_width[*f], m->count);
			break;
		case F_PARTNUM:
			if (m->partnum > dec_max[8])
				return WARREN_EFIELD;
			put_dec(b + off, 8, m->partnum);
			break;
		}
	}
	return (int)d->len;
}

int
course_session_is_null(const char session[COURSE_SESSION_LEN])
{
	size_t i;

	for (i = 0; i < COURSE_SESSION_LEN; i++)
		if (session[i] != '0')
			return 0;
	return 1;
}

void
course_hex16(uint64_t v, char out[COURSE_PKTID_LEN])
{
	static const char hex_upper[] = "0123456789ABCDEF";
	size_t i;

	for (i = COURSE_PKTID_LEN; i-- > 0; v >>= 4)
		out[i] = hex_upper[v & 0xf];
}

int
course_md5_parse(const void *p32, char out[COURSE_MD5_LEN + 1])
{
	const uint8_t *p = p32;
	char tmp[COURSE_MD5_LEN];
	size_t i;

	for (i = 0; i < COURSE_MD5_LEN; i++) {
		if (wire_hex_value(p[i]) < 0)
			return WARREN_EFIELD;
		tmp[i] = (char)ascii_lower(p[i]);
	}
	memcpy(out, tmp, COURSE_MD5_LEN);
	out[COURSE_MD5_LEN] = '\0';
	return 0;
}

int
course_ipp2p_parse(const void *p55, struct course_peer *out)
{
	const char *p = p55, *bar;
	uint8_t v4[4], v6[16];

	/* Exactly one '|', anywhere in the 55 bytes. */
	bar = memchr(p, '|', COURSE_IPP2P_LEN);
	if (bar == NULL ||
	    memchr(bar + 1, '|', (size_t)(p + COURSE_IPP2P_LEN - bar - 1)) !=
		NULL)
		return WARREN_EFIELD;
	if (parse_v4(strip(p, (size_t)(bar - p), 1), v4) < 0 ||
	    parse_v6(
		strip(bar + 1, (size_t)(p + COURSE_IPP2P_LEN - bar - 1), 1),
		v6) < 0)
		return WARREN_EFIELD;
	memcpy(out->v4, v4, sizeof(v4));
	memcpy(out->v6, v6, sizeof(v6));
	return 0;
}

void
course_ipp2p_format(const struct course_peer *p, char out[COURSE_IPP2P_LEN])
{
	uint8_t *b = (uint8_t *)out;
	size_t i;

	for (i = 0; i < 4; i++) {
		put_dec(b + 4 * i, 3, p->v4[i]);
		b[4 * i + 3] = i < 3 ? '.' : '|';
	}
	b += 16;
	for (i = 0; i < 8; i++) {
		b[5 * i] = (uint8_t)hex_lower[p->v6[2 * i] >> 4];
		b[5 * i + 1] = (uint8_t)hex_lower[p->v6[2 * i] & 0xf];
		b[5 * i + 2] = (uint8_t)hex_lower[p->v6[2 * i + 1] >> 4];
		b[5 * i + 3] = (uint8_t)hex_lower[p->v6[2 * i + 1] & 0xf];
		if (i < 7)
			b[5 * i + 4] = ':';
	}
}

int
course_port_parse(const void *p5, uint16_t *out)
{
	uint64_t v;

	if (parse_count(p5, COURSE_PP2P_LEN, &v) < 0 || v == 0 || v > 65535)
		return WARREN_EFIELD;
	*out = (uint16_t)v;
	return 0;
}

int
course_peer_equal(const struct course_peer *a, const struct course_peer *b)
{
	return memcmp(a->v4, b->v4, sizeof(a->v4)) == 0 &&
	    memcmp(a->v6, b->v6, sizeof(a->v6)) == 0 && a->port == b->port;
}

int
course_peer_sockaddr(
    const struct course_peer *p, int family, struct sockaddr_storage *out)
{
	static const uint8_t zero6[16];
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	uint8_t v4[4];

	memset(out, 0, sizeof(*out));
	if (p->port == 0)
		return WARREN_EFIELD;
	if (family == AF_INET) {
		memcpy(v4, p->v4, sizeof(v4));
	} else if (family == AF_INET6 && is_v4mapped(p->v6)) {
		memcpy(v4, p->v6 + 12, sizeof(v4));
	} else if (family == AF_INET6) {
		/* Unspecified (::) and multicast (ff00::/8) are absent. */
		if (memcmp(p->v6, zero6, sizeof(zero6)) == 0 ||
		    p->v6[0] == 0xff)
			return WARREN_EFIELD;
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(p->port);
		memcpy(&sin6.sin6_addr, p->v6, sizeof(p->v6));
		memcpy(out, &sin6, sizeof(sin6));
		return 0;
	} else {
		return WARREN_EFIELD;
	}
	if (v4_is_absent(v4))
		return WARREN_EFIELD;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(p->port);
	memcpy(&sin.sin_addr, v4, sizeof(v4));
	memcpy(out, &sin, sizeof(sin));
	return 0;
}

int
course_peer_from_sockaddr(const struct sockaddr *v4, const struct sockaddr *v6,
    uint16_t port, struct course_peer *out)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct course_peer p;
	int have_v4 = 0;

	memset(&p, 0, sizeof(p));
	if (port == 0)
		return WARREN_EFIELD;
	if (v4 == NULL && v6 == NULL)
		return WARREN_EEMPTY;
	if (v4 != NULL && v4->sa_family == AF_INET) {
		memcpy(&sin, v4, sizeof(sin));
		memcpy(p.v4, &sin.sin_addr, sizeof(p.v4));
		have_v4 = 1;
	} else if (v4 != NULL && v4->sa_family == AF_INET6) {
		memcpy(&sin6, v4, sizeof(sin6));
		if (!is_v4mapped(sin6.sin6_addr.s6_addr))
			return WARREN_EFIELD;
		memcpy(p.v4, sin6.sin6_addr.s6_addr + 12, sizeof(p.v4));
		have_v4 = 1;
	} else if (v4 != NULL) {
		return WARREN_EFIELD;
	}
	if (v6 != NULL) {
		if (v6->sa_family != AF_INET6)
			return WARREN_EFIELD;
		memcpy(&sin6, v6, sizeof(sin6));
		memcpy(p.v6, sin6.sin6_addr.s6_addr, sizeof(p.v6));
		/* An IPv4-mapped "IPv6" is the node's IPv4 (§2.4 item 4). */
		if (!have_v4 && is_v4mapped(p.v6))
			memcpy(p.v4, p.v6 + 12, sizeof(p.v4));
	} else {
		/* §2.4 item 2: advertise the IPv4-mapped form. */
		p.v6[10] = 0xff;
		p.v6[11] = 0xff;
		memcpy(p.v6 + 12, p.v4, sizeof(p.v4));
	}
	p.port = port;
	*out = p;
	return 0;
}

/* Does needle occur in hay, ignoring ASCII case? needle is not empty. */
static int
ci_contains(
    const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
	size_t i, j;

	for (i = 0; needle_len <= hay_len && i <= hay_len - needle_len; i++) {
		for (j = 0; j < needle_len; j++)
			if (ascii_lower((uint8_t)hay[i + j]) !=
			    ascii_lower((uint8_t)needle[j]))
				break;
		if (j == needle_len)
			return 1;
	}
	return 0;
}

/*
 * The term as course_term_match() sees it: spaces and NULs stripped, one
 * leading and one trailing '%' removed, spaces stripped again.
 */
static struct course_str
term_trim(struct course_str t)
{
	t = strip(t.ptr, t.len, 1);
	if (t.len > 0 && t.ptr[0] == '%') {
		t.ptr++;
		t.len--;
	}
	if (t.len > 0 && t.ptr[t.len - 1] == '%')
		t.len--;
	return strip(t.ptr, t.len, 0);
}

/*
 * The longest run of ASCII bytes (1..127) in t. Only such a run is safe to
 * hand to the tokenizer: it reads ASCII bytes of a name as the same
 * characters wherever they stand, whereas a non-ASCII byte sequence of the
 * term may be decoded differently inside a name (a cut or invalid UTF-8
 * sequence) and so miss a §4 match.
 */
static struct course_str
ascii_run(struct course_str t)
{
	struct course_str best = {t.ptr, 0};
	size_t i, start = 0;

	for (i = 0; i <= t.len; i++) {
		unsigned char c = i < t.len ? (unsigned char)t.ptr[i] : 0;

		if (c >= 1 && c <= 127)
			continue;
		if (i - start > best.len) {
			best.ptr = t.ptr + start;
			best.len = i - start;
		}
		start = i + 1;
	}
	return best;
}

struct course_str
course_term_index_run(struct course_str term)
{
	return ascii_run(term_trim(term));
}

int
course_term_match(struct course_str term, const char *name, size_t name_len)
{
	struct course_str t = term_trim(term);

	if (t.len == 0 || (t.len == 1 && t.ptr[0] == '*'))
		return 1;
	return ci_contains(name, name_len, t.ptr, t.len);
}

int
course_name_sanitize(
    const char *name, size_t len, const char *md5, char *out, size_t cap)
{
	size_t i;
	uint8_t c;

	if (cap < COURSE_MD5_LEN + 1)
		return WARREN_ESPACE;
	/* Replacing bytes never makes or unmakes "", "." or "..". */
	if (len == 0 || (len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.')) {
		if (course_md5_parse(md5, out) < 0)
			return WARREN_EFIELD;
		return COURSE_MD5_LEN;
	}
	if (len >= cap || len > INT_MAX)
		return WARREN_ESPACE;
	for (i = 0; i < len; i++) {
		c = (uint8_t)name[i];
		if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
			c = '_';
		out[i] = (char)c;
	}
	out[len] = '\0';
	return (int)len;
}

int
course_sentence_classify(const void *buf, size_t len)
{
	static const char busy[] = "Busy";
	const char *p = buf;

	if (len >= sizeof(busy) - 1 && memcmp(p, busy, sizeof(busy) - 1) == 0)
		return WARREN_EBUSY;
	/* warren's sentence, and the "File not found." of existing peers. */
	if (ci_contains(p, len, "not available", 13) ||
	    ci_contains(p, len, "not found", 9))
		return WARREN_ENOTFOUND;
	return WARREN_EREFUSED;
}

/* ---------------------------------------------------------------- AFIN */

void
course_afin_init(struct course_afin *p)
{
	memset(p, 0, sizeof(*p));
	p->state = AFIN_HEAD;
}

int
course_afin_next(struct course_afin *p, const void *buf, size_t len,
    struct course_afin_item *out)
{
	const uint8_t *b = buf;
	uint64_t v;
	uint16_t port;

	switch ((enum afin_state)p->state) {
	case AFIN_HEAD:
		if (tag_differs(b, len, kind_descs[COURSE_AFIN].tag))
			return WARREN_EREFUSED;
		if (len < COURSE_AFIN_HEAD_LEN)
			return 0;
		if (parse_count(b + COURSE_KIND_LEN, 3, &v) < 0)
			return WARREN_EFIELD;
		memset(out, 0, sizeof(*out));
		out->type = COURSE_AFIN_COUNT;
		out->count = (unsigned)v;
		out->valid = 1;
		p->entries_left = (unsigned)v;
		p->state = v > 0 ? AFIN_ENTRY : AFIN_DONE;
		return COURSE_AFIN_HEAD_LEN;
	case AFIN_ENTRY:
		if (len < COURSE_AFIN_ENTRY_LEN)
			return 0;
		memset(out, 0, sizeof(*out));
		if (course_md5_parse(b, out->md5) < 0 ||
		    parse_count(b + COURSE_MD5_LEN + COURSE_NAME_LEN, 3, &v) <
			0)
			return WARREN_EFIELD;
		out->type = COURSE_AFIN_ENTRY;
		out->name = strip(b + COURSE_MD5_LEN, COURSE_NAME_LEN, 1);
		out->count = (unsigned)v;
		out->valid = 1;
		p->entries_left--;
		p->copies_left = (unsigned)v;
		if (v > 0)
			p->state = AFIN_COPY;
		else if (p->entries_left == 0)
			p->state = AFIN_DONE;
		return COURSE_AFIN_ENTRY_LEN;
	case AFIN_COPY:
		if (len < COURSE_AFIN_COPY_LEN)
			return 0;
		memset(out, 0, sizeof(*out));
		out->type = COURSE_AFIN_COPY;
		/* §12 item 11: a bad copy is dropped, not the whole reply. */
		out->valid = course_ipp2p_parse(b, &out->peer) == 0 &&
		    course_port_parse(b + COURSE_IPP2P_LEN, &port) == 0;
		if (out->valid)
			out->peer.port = port;
		else
			memset(&out->peer, 0, sizeof(out->peer));
		p->copies_left--;
		if (p->copies_left == 0)
			p->state = p->entries_left > 0 ? AFIN_ENTRY : AFIN_DONE;
		return COURSE_AFIN_COPY_LEN;
	case AFIN_DONE:
		return WARREN_EPROTO;
	}
	return WARREN_EPROTO;
}

int
course_afin_done(const struct course_afin *p)
{
	return p->state == AFIN_DONE;
}

int
course_encode_afin_head(unsigned nmd5, void *out, size_t cap)
{
	uint8_t *b = out;

	if (nmd5 > dec_max[3])
		return WARREN_EFIELD;
	if (cap < COURSE_AFIN_HEAD_LEN)
		return WARREN_ESPACE;
	memcpy(b, kind_descs[COURSE_AFIN].tag, COURSE_KIND_LEN);
	put_dec(b + COURSE_KIND_LEN, 3, nmd5);
	return COURSE_AFIN_HEAD_LEN;
}

int
course_encode_afin_entry(const char *md5, struct course_str name,
    unsigned ncopies, void *out, size_t cap)
{
	uint8_t *b = out;
	struct course_str s;
	int rc;

	if (ncopies > dec_max[3])
		return WARREN_EFIELD;
	rc = check_text(name, COURSE_NAME_LEN, 1, &s);
	if (rc < 0)
		return rc;
	if (cap < COURSE_AFIN_ENTRY_LEN)
		return WARREN_ESPACE;
	if (put_md5(b, md5) < 0)
		return WARREN_EFIELD;
	put_padded(b + COURSE_MD5_LEN, COURSE_NAME_LEN, s);
	put_dec(b + COURSE_MD5_LEN + COURSE_NAME_LEN, 3, ncopies);
	return COURSE_AFIN_ENTRY_LEN;
}

int
course_encode_afin_copy(const struct course_peer *p, void *out, size_t cap)
{
	uint8_t *b = out;

	if (p->port == 0)
		return WARREN_EFIELD;
	if (cap < COURSE_AFIN_COPY_LEN)
		return WARREN_ESPACE;
	course_ipp2p_format(p, (char *)b);
	put_dec(b + COURSE_IPP2P_LEN, COURSE_PP2P_LEN, p->port);
	return COURSE_AFIN_COPY_LEN;
}

/* ------------------------------------------------------- ARET and AREP */

void
course_chunks_init(struct course_chunks *p, enum course_kind kind)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->state = CHUNKS_HEAD;
}

int
course_chunks_feed(struct course_chunks *p, const void *buf, size_t len,
    const uint8_t **data, size_t *data_len)
{
	const uint8_t *b = buf;
	size_t pos = 0, n;
	uint64_t v;

	*data = b;
	*data_len = 0;
	if (p->kind != COURSE_ARET && p->kind != COURSE_AREP)
		return WARREN_EKIND;
	/*
	 * Header and length fields are consumed up to the first data byte,
	 * then one run of data up to the end of its chunk. A bad field met
	 * after some progress is reported by the next call, which then
	 * starts at that field.
	 */
	for (;;) {
		switch ((enum chunks_state)p->state) {
		case CHUNKS_HEAD:
			if (tag_differs(b, len, kind_descs[p->kind].tag))
				return WARREN_EREFUSED;
			if (len < COURSE_CHUNKS_HEAD_LEN)
				return 0;
			if (parse_count(b + COURSE_KIND_LEN, 6, &v) < 0)
				return WARREN_EFIELD;
			p->nchunk = (unsigned long)v;
			p->chunks_left = (unsigned long)v;
			pos = COURSE_CHUNKS_HEAD_LEN;
			p->state = v > 0 ? CHUNKS_LEN : CHUNKS_DONE;
			continue;
		case CHUNKS_LEN:
			if (len - pos < COURSE_CHUNK_LEN_LEN)
				return (int)pos;
			if (parse_count(b + pos, COURSE_CHUNK_LEN_LEN, &v) <
				0 ||
			    v == 0)
				return pos > 0 ? (int)pos : WARREN_EFIELD;
			p->data_left = (unsigned long)v;
			pos += COURSE_CHUNK_LEN_LEN;
			p->state = CHUNKS_DATA;
			continue;
		case CHUNKS_DATA:
			n = len - pos;
			if (n == 0)
				return (int)pos;
			if (n > p->data_left)
				n = p->data_left;
			*data = b + pos;
			*data_len = n;
			pos += n;
			p->data_left -= n;
			p->total += n;
			if (p->data_left == 0) {
				p->chunks_left--;
				p->state = p->chunks_left > 0 ? CHUNKS_LEN
							      : CHUNKS_DONE;
			}
			return (int)pos;
		case CHUNKS_DONE:
			return pos > 0 ? (int)pos : WARREN_EPROTO;
		}
		return WARREN_EPROTO;
	}
}

int
course_chunks_done(const struct course_chunks *p)
{
	return p->state == CHUNKS_DONE;
}

int
course_chunk_plan(
    uint64_t size, unsigned chunk, unsigned *chunk_out, unsigned long *nchunk)
{
	uint64_t c = chunk, n;

	if (chunk == 0 || chunk > COURSE_CHUNK_MAX)
		return WARREN_ECONFIG;
	n = size / c + (size % c != 0);
	if (n > COURSE_NCHUNK_MAX) {
		/* §8 item 4: ⌈size / 999999⌉, and then n <= 999999. */
		c = size / COURSE_NCHUNK_MAX + (size % COURSE_NCHUNK_MAX != 0);
		if (c > COURSE_CHUNK_MAX)
			return WARREN_ETOOLONG;
		n = size / c + (size % c != 0);
	}
	*chunk_out = (unsigned)c;
	*nchunk = (unsigned long)n;
	return 0;
}

int
course_encode_chunks_head(
    enum course_kind kind, unsigned long nchunk, void *out, size_t cap)
{
	uint8_t *b = out;

	if (kind != COURSE_ARET && kind != COURSE_AREP)
		return WARREN_EKIND;
	if (nchunk > COURSE_NCHUNK_MAX)
		return WARREN_EFIELD;
	if (cap < COURSE_CHUNKS_HEAD_LEN)
		return WARREN_ESPACE;
	memcpy(b, kind_descs[kind].tag, COURSE_KIND_LEN);
	put_dec(b + COURSE_KIND_LEN, 6, nchunk);
	return COURSE_CHUNKS_HEAD_LEN;
}

int
course_encode_chunk_len(unsigned len, void *out, size_t cap)
{
	if (len == 0 || len > COURSE_CHUNK_MAX)
		return WARREN_EFIELD;
	if (cap < COURSE_CHUNK_LEN_LEN)
		return WARREN_ESPACE;
	put_dec(out, COURSE_CHUNK_LEN_LEN, len);
	return COURSE_CHUNK_LEN_LEN;
}

/* ---------------------------------------------------------------- AHAS */

void
course_ahas_init(struct course_ahas *p, uint32_t max_parts)
{
	memset(p, 0, sizeof(*p));
	p->state = AHAS_HEAD;
	p->max_parts = max_parts;
}

int
course_ahas_next(struct course_ahas *p, const void *buf, size_t len,
    uint8_t sha1[20], uint32_t *index)
{
	const uint8_t *b = buf;
	uint64_t lenfile, lenpart, nparts;
	uint8_t tmp[20];
	int hi, lo;
	size_t i;

	switch ((enum ahas_state)p->state) {
	case AHAS_HEAD:
		if (tag_differs(b, len, kind_descs[COURSE_AHAS].tag))
			return WARREN_EREFUSED;
		if (len < COURSE_AHAS_HEAD_LEN)
			return 0;
		if (parse_count(b + 4, 10, &lenfile) < 0 ||
		    parse_count(b + 14, 6, &lenpart) < 0 ||
		    parse_count(b + 20, 8, &nparts) < 0)
			return WARREN_EFIELD;
		/* §9.3 step 2. */
		if (lenpart == 0 ||
		    nparts != lenfile / lenpart + (lenfile % lenpart != 0))
			return WARREN_EFIELD;
		if (nparts > p->max_parts)
			return WARREN_ELIMIT;
		p->lenfile = lenfile;
		p->lenpart = (uint32_t)lenpart;
		p->nparts = (uint32_t)nparts;
		p->next = 0;
		p->state = nparts > 0 ? AHAS_PARTS : AHAS_DONE;
		*index = UINT32_MAX;
		return COURSE_AHAS_HEAD_LEN;
	case AHAS_PARTS:
		if (len < COURSE_SHA1_LEN)
			return 0;
		for (i = 0; i < 20; i++) {
			hi = wire_hex_value(b[2 * i]);
			lo = wire_hex_value(b[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return WARREN_EFIELD;
			tmp[i] = (uint8_t)(hi << 4 | lo);
		}
		memcpy(sha1, tmp, sizeof(tmp));
		*index = p->next++;
		if (p->next == p->nparts)
			p->state = AHAS_DONE;
		return COURSE_SHA1_LEN;
	case AHAS_DONE:
		return WARREN_EPROTO;
	}
	return WARREN_EPROTO;
}

int
course_ahas_done(const struct course_ahas *p)
{
	return p->state == AHAS_DONE;
}

int
course_encode_ahas_head(
    uint64_t lenfile, uint32_t lenpart, uint32_t nparts, void *out, size_t cap)
{
	uint8_t *b = out;

	if (lenfile > COURSE_LENFILE_MAX || lenpart == 0 ||
	    lenpart > COURSE_PART_MAX ||
	    nparts != lenfile / lenpart + (lenfile % lenpart != 0))
		return WARREN_EFIELD;
	if (cap < COURSE_AHAS_HEAD_LEN)
		return WARREN_ESPACE;
	memcpy(b, kind_descs[COURSE_AHAS].tag, COURSE_KIND_LEN);
	put_dec(b + 4, 10, lenfile);
	put_dec(b + 14, 6, lenpart);
	put_dec(b + 20, 8, nparts);
	return COURSE_AHAS_HEAD_LEN;
}

int
course_encode_ahas_part(const uint8_t sha1[20], void *out, size_t cap)
{
	uint8_t *b = out;
	size_t i;

	if (cap < COURSE_SHA1_LEN)
		return WARREN_ESPACE;
	for (i = 0; i < 20; i++) {
		b[2 * i] = (uint8_t)hex_lower[sha1[i] >> 4];
		b[2 * i + 1] = (uint8_t)hex_lower[sha1[i] & 0xf];
	}
	return COURSE_SHA1_LEN;
}
