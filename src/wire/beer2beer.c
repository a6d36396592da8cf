/*
 * beer2beer.c: the codec of the beer2beer central-index protocol
 * (beer2beer.md). Pure functions over byte buffers: decoders never read
 * past the length they are given and return views into it; encoders
 * validate every field the way the decoders do, so whatever warren sends,
 * warren accepts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/beer2beer.h"
#include "wire/text.h"

#define REQ_FIRST B2B_REGISTER
#define REQ_LAST  B2B_REGISTER_APPEND

static const char *const request_names[] = {
    [B2B_REGISTER] = "REGISTER",
    [B2B_LOGIN] = "LOGIN",
    [B2B_KEEP_ALIVE] = "KEEP_ALIVE",
    [B2B_LOGOUT] = "LOGOUT",
    [B2B_SHOW_PEERS] = "SHOW_PEERS",
    [B2B_BROWSE_PEER] = "BROWSE_PEER",
    [B2B_SEARCH_FILE] = "SEARCH_FILE",
    [B2B_DOWNLOAD_FILE] = "DOWNLOAD_FILE",
    [B2B_REGISTER_UPDATE] = "REGISTER_UPDATE",
    [B2B_REGISTER_APPEND] = "REGISTER_APPEND",
};

static const char *const reason_texts[B2B_R_COUNT] = {
    [B2B_R_NONE] = "?",
    [B2B_R_MALFORMED] = "malformed request",
    [B2B_R_BAD_ENCODING] = "bad encoding",
    [B2B_R_BAD_FILE_LINE] = "bad file line",
    [B2B_R_USER_TAKEN] = "user name taken",
    [B2B_R_TOO_MANY_FILES] = "too many files",
    [B2B_R_SERVER_FULL] = "server full",
    [B2B_R_BAD_CREDENTIALS] = "bad user or password",
    [B2B_R_UNKNOWN_ID] = "unknown id",
    [B2B_R_NOT_LOGGED_IN] = "not logged in",
    [B2B_R_BAD_FILTER] = "bad filter",
    [B2B_R_UNKNOWN_PEER] = "unknown peer",
    [B2B_R_EMPTY_QUERY] = "empty query",
    [B2B_R_TOO_MANY_WORDS] = "too many words",
    [B2B_R_BAD_SHA1] = "bad sha1",
};

static const char *const filter_names[] = {
    [B2B_ALL] = "all",
    [B2B_ONLINE] = "online",
    [B2B_OFFLINE] = "offline",
};

/* Lines per record of the record responses (SEARCH_FILE: the new layout). */
#define PEER_LINES    5
#define ENTRY_LINES   3
#define HIT_LINES     7
#define HIT_OLD_LINES 6
#define DL_LINES      8
#define RECORD_MAX    8

static const char hex_lower[] = "0123456789abcdef";

/* ---------------------------------------------------------- helpers */

static int
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(const char *s, size_t len, size_t want)
{
	size_t i;

	if (len != want)
		return 0;
	for (i = 0; i < len; i++)
		if (wire_hex_value((uint8_t)s[i]) < 0)
			return 0;
	return 1;
}

/* Copy want hex digits lower-cased, NUL-terminated; the caller checked. */
static void
hex_copy(const char *s, size_t want, char *out)
{
	size_t i;

	for (i = 0; i < want; i++)
		out[i] = hex_lower[wire_hex_value((uint8_t)s[i])];
	out[want] = '\0';
}

static int
str_is(struct b2b_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* Decimal digits of v into out; returns their count (1..20). */
static size_t
fmt_u64(uint64_t v, char out[20])
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* One or more decimal digits, leading zeros allowed, value <= max. */
static int
parse_dec(const void *s, size_t len, uint64_t max, uint64_t *out)
{
	const uint8_t *p = s;
	uint64_t v = 0, d;
	size_t i;

	if (len == 0)
		return WARREN_EFIELD;
	for (i = 0; i < len; i++) {
		if (!is_digit(p[i]))
			return WARREN_EFIELD;
		d = (uint64_t)(p[i] - '0');
		if (v > (max - d) / 10)
			return WARREN_EFIELD;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/*
 * Decode one UTF-8 sequence at p (len > 0 bytes available). Returns its
 * length (1..4) with *cp set, or 0 if it is not strict UTF-8.
 */
static size_t
utf8_next(const uint8_t *p, size_t len, uint32_t *cp)
{
	uint32_t c = p[0];
	size_t n, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c < 0xc2)
		return 0; /* continuation byte, or overlong 2-byte form */
	if (c < 0xe0) {
		n = 2;
		c &= 0x1f;
	} else if (c < 0xf0) {
		n = 3;
		c &= 0x0f;
	} else if (c < 0xf5) {
		n = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	*cp = c;
	return n;
}

/* C0, DEL and C1 control characters. */
static int
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* What Python's str.split() splits on, controls aside (§3: existing
 * servers split on whitespace). */
static int
is_space(uint32_t cp)
{
	return cp == 0x20 || cp == 0xa0 || cp == 0x1680 ||
	    (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* 1..max bytes of UTF-8 without control characters (nor whitespace when
 * no_space). */
static int
text_check(const void *s, size_t len, size_t max, int no_space)
{
	const uint8_t *p = s;
	uint32_t cp;
	size_t i, n;

	if (len == 0)
		return WARREN_EEMPTY;
	if (len > max)
		return WARREN_ETOOLONG;
	for (i = 0; i < len; i += n) {
		n = utf8_next(p + i, len - i, &cp);
		if (n == 0 || is_control(cp) || (no_space && is_space(cp)))
			return WARREN_EFIELD;
	}
	return 0;
}

static int
is_wordsep(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * §4.7: the words line of SEARCH_FILE. Counts the words (stops at one
 * past the limit) and sets *why to the KO reason on failure.
 */
static int
query_check(struct b2b_str q, unsigned *nwords, enum b2b_reason *why)
{
	struct b2b_str rest = q, w;
	unsigned n = 0;
	size_t i;

	*why = B2B_R_MALFORMED;
	for (i = 0; i < q.len; i++) {
		uint8_t c = (uint8_t)q.ptr[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return WARREN_EFIELD;
	}
	while (n <= B2B_WORDS_MAX && b2b_word_next(&rest, &w)) {
		if (w.len > B2B_WORD_MAX)
			return WARREN_ETOOLONG;
		n++;
	}
	if (n == 0) {
		*why = B2B_R_EMPTY_QUERY;
		return WARREN_EEMPTY;
	}
	if (n > B2B_WORDS_MAX) {
		*why = B2B_R_TOO_MANY_WORDS;
		return WARREN_ELIMIT;
	}
	*nwords = n;
	*why = B2B_R_NONE;
	return 0;
}

/* ------------------------------------------------------------- codes */

int
b2b_is_request(uint16_t type)
{
	return type >= REQ_FIRST && type <= REQ_LAST;
}

uint16_t
b2b_ok_type(uint16_t req)
{
	if (!b2b_is_request(req))
		return 0;
	return req == B2B_LOGOUT ? 100 + B2B_KEEP_ALIVE : (uint16_t)(100 + req);
}

uint16_t
b2b_ko_type(uint16_t req)
{
	if (!b2b_is_request(req))
		return 0;
	return req == B2B_LOGOUT ? 200 + B2B_KEEP_ALIVE : (uint16_t)(200 + req);
}

const char *
b2b_request_name(uint16_t req)
{
	return b2b_is_request(req) ? request_names[req] : "?";
}

const char *
b2b_reason_text(enum b2b_reason reason)
{
	if ((int)reason <= B2B_R_NONE || reason >= B2B_R_COUNT)
		return "?";
	return reason_texts[reason];
}

/* ------------------------------------------------------------ frames */

int
b2b_frame_decode(
    const void *buf, size_t len, uint16_t *type, uint16_t *payload_len)
{
	const uint8_t *b = buf;

	if (len < B2B_HEAD_LEN)
		return 0;
	*payload_len = (uint16_t)(b[0] | b[1] << 8);
	*type = (uint16_t)(b[2] | b[3] << 8);
	return B2B_HEAD_LEN;
}

int
b2b_frame_next(
    const void *buf, size_t len, uint16_t *type, struct b2b_str *payload)
{
	uint16_t t, n;

	if (b2b_frame_decode(buf, len, &t, &n) == 0 || len - B2B_HEAD_LEN < n)
		return 0;
	*type = t;
	payload->ptr = (const char *)buf + B2B_HEAD_LEN;
	payload->len = n;
	return B2B_HEAD_LEN + n;
}

int
b2b_frame_encode_head(
    uint16_t type, size_t payload_len, uint8_t out[B2B_HEAD_LEN])
{
	if (payload_len > B2B_PAYLOAD_MAX)
		return WARREN_ELENGTH;
	out[0] = (uint8_t)(payload_len & 0xff);
	out[1] = (uint8_t)(payload_len >> 8);
	out[2] = (uint8_t)(type & 0xff);
	out[3] = (uint8_t)(type >> 8);
	return B2B_HEAD_LEN;
}

/* ------------------------------------------------------------- lines */

int
b2b_lines_init(struct b2b_lines *it, const void *payload, size_t len)
{
	memset(it, 0, sizeof(*it));
	if (len > B2B_PAYLOAD_MAX)
		return WARREN_ELENGTH;
	it->p = payload;
	it->end = len > 0 ? it->p + len : it->p;
	it->max_len = B2B_PAYLOAD_MAX;
	it->max_lines = B2B_PAYLOAD_MAX + 1;
	return 0;
}

int
b2b_lines_next(struct b2b_lines *it, struct b2b_str *line)
{
	size_t avail, scan, n, used;
	const char *lf;

	if (it->p == NULL || it->p >= it->end)
		return 0;
	if (it->n >= it->max_lines)
		return WARREN_ELIMIT;
	avail = (size_t)(it->end - it->p);
	/* The line, a CR and the LF: nothing further needs looking at. */
	scan = avail;
	if (it->max_len < avail && avail - it->max_len > 2)
		scan = it->max_len + 2;
	lf = memchr(it->p, '\n', scan);
	if (lf == NULL) {
		if (scan < avail)
			return WARREN_ETOOLONG;
		n = used = avail; /* unterminated last line */
	} else {
		n = (size_t)(lf - it->p);
		used = n + 1;
	}
	if (n > 0 && it->p[n - 1] == '\r')
		n--;
	if (n > it->max_len)
		return WARREN_ETOOLONG;
	line->ptr = it->p;
	line->len = n;
	it->p += used;
	it->n++;
	return (int)used;
}

int
b2b_lines_done(const struct b2b_lines *it)
{
	return it->p == NULL || it->p >= it->end;
}

/* ------------------------------------------------------- field checks */

int
b2b_utf8_check(const void *s, size_t len)
{
	const uint8_t *p = s;
	uint32_t cp;
	size_t i, n;

	for (i = 0; i < len; i += n) {
		if (p[i] < 0x80) {
			n = 1;
			continue;
		}
		n = utf8_next(p + i, len - i, &cp);
		if (n == 0)
			return WARREN_EFIELD;
	}
	return 0;
}

int
b2b_user_check(const void *s, size_t len)
{
	return text_check(s, len, B2B_USER_MAX, 1);
}

int
b2b_pwd_check(const void *s, size_t len)
{
	return text_check(s, len, B2B_PWD_MAX, 1);
}

int
b2b_filename_check(const void *s, size_t len)
{
	const char *p = s;
	int rc;

	rc = text_check(s, len, B2B_FILENAME_MAX, 0);
	if (rc < 0)
		return rc;
	/* A bare name, not a path. */
	if (memchr(p, '/', len) != NULL || (len == 1 && p[0] == '.') ||
	    (len == 2 && p[0] == '.' && p[1] == '.'))
		return WARREN_EFIELD;
	return 0;
}

int
b2b_id_parse(const void *s, size_t len, uint32_t *out)
{
	const uint8_t *p = s;
	uint64_t v;

	if (len == 0 || len > 10 || p[0] == '0' ||
	    parse_dec(s, len, B2B_ID_MAX, &v) < 0)
		return WARREN_EFIELD;
	*out = (uint32_t)v;
	return 0;
}

int
b2b_port_parse(const void *s, size_t len, uint16_t *out)
{
	uint64_t v;

	if (parse_dec(s, len, 65535, &v) < 0 || v == 0)
		return WARREN_EFIELD;
	*out = (uint16_t)v;
	return 0;
}

int
b2b_size_parse(const void *s, size_t len, uint64_t *out)
{
	return parse_dec(s, len, B2B_SIZE_MAX, out);
}

int
b2b_offset_parse(const void *s, size_t len, uint32_t *out)
{
	uint64_t v;

	if (parse_dec(s, len, UINT32_MAX, &v) < 0)
		return WARREN_EFIELD;
	*out = (uint32_t)v;
	return 0;
}

int
b2b_sha1_parse(const void *s, size_t len, char out[B2B_SHA1_LEN + 1])
{
	if (!is_hex(s, len, B2B_SHA1_LEN))
		return WARREN_EFIELD;
	hex_copy(s, B2B_SHA1_LEN, out);
	return 0;
}

int
b2b_md5_parse(const void *s, size_t len, char out[B2B_MD5_LEN + 1])
{
	if (!is_hex(s, len, B2B_MD5_LEN))
		return WARREN_EFIELD;
	hex_copy(s, B2B_MD5_LEN, out);
	return 0;
}

int
b2b_ip_parse(const void *s, size_t len, struct b2b_addr *out)
{
	struct b2b_addr a;

	memset(&a, 0, sizeof(a));
	if (wire_ip_parse(s, len, B2B_IP_TEXT_MAX - 1, &a.family, a.a) != 0)
		return WARREN_EFIELD;
	*out = a;
	return 0;
}

int
b2b_ip_format(const struct b2b_addr *addr, char *out, size_t cap)
{
	char text[B2B_IP_TEXT_MAX];
	size_t n;

	if ((addr->family != AF_INET && addr->family != AF_INET6) ||
	    inet_ntop(addr->family, addr->a, text, sizeof(text)) == NULL)
		return WARREN_EFIELD;
	n = strlen(text);
	if (n >= cap)
		return WARREN_ESPACE;
	memcpy(out, text, n + 1);
	return (int)n;
}

int
b2b_word_next(struct b2b_str *rest, struct b2b_str *word)
{
	size_t i = 0, start;

	if (rest->len == 0)
		return 0;
	while (i < rest->len && is_wordsep(rest->ptr[i]))
		i++;
	if (i == rest->len) {
		rest->ptr += i;
		rest->len = 0;
		return 0;
	}
	start = i;
	while (i < rest->len && !is_wordsep(rest->ptr[i]))
		i++;
	word->ptr = rest->ptr + start;
	word->len = i - start;
	rest->ptr += i;
	rest->len -= i;
	return 1;
}

/* ------------------------------------------------------- file lists */

/* Position of the last '|' in s[0..len), or len if there is none. */
static size_t
last_bar(const char *s, size_t len)
{
	size_t i = len;

	while (i-- > 0)
		if (s[i] == '|')
			return i;
	return len;
}

int
b2b_file_parse(const void *line, size_t len, struct b2b_file *out)
{
	const char *s = line;
	size_t b1, b2, b3, name_end, size_at, size_len;
	struct b2b_file f;

	memset(&f, 0, sizeof(f));
	b1 = last_bar(s, len);
	if (b1 == len)
		return WARREN_EFIELD;
	b2 = last_bar(s, b1);
	if (b2 == b1) {
		/* Exactly one '|': an md5 annotation, sha1|md5. */
		if (b2b_sha1_parse(s, b1, f.sha1) < 0 ||
		    b2b_md5_parse(s + b1 + 1, len - b1 - 1, f.md5) < 0)
			return WARREN_EFIELD;
		f.kind = B2B_ANNOT;
		*out = f;
		return 0;
	}
	if (is_hex(s + b1 + 1, len - b1 - 1, B2B_MD5_LEN) &&
	    is_hex(s + b2 + 1, b1 - b2 - 1, B2B_SHA1_LEN)) {
		/* filename|size|sha1|md5 */
		b3 = last_bar(s, b2);
		if (b3 == b2)
			return WARREN_EFIELD;
		hex_copy(s + b2 + 1, B2B_SHA1_LEN, f.sha1);
		hex_copy(s + b1 + 1, B2B_MD5_LEN, f.md5);
		f.kind = B2B_FILE4;
		name_end = b3;
		size_at = b3 + 1;
		size_len = b2 - b3 - 1;
	} else {
		/* filename|size|sha1 */
		if (b2b_sha1_parse(s + b1 + 1, len - b1 - 1, f.sha1) < 0)
			return WARREN_EFIELD;
		f.kind = B2B_FILE3;
		name_end = b2;
		size_at = b2 + 1;
		size_len = b1 - b2 - 1;
	}
	if (b2b_size_parse(s + size_at, size_len, &f.size) < 0 ||
	    b2b_filename_check(s, name_end) < 0)
		return WARREN_EFIELD;
	f.name.ptr = s;
	f.name.len = name_end;
	*out = f;
	return 0;
}

int
b2b_file_next(struct b2b_lines *it, struct b2b_file *out)
{
	struct b2b_str l;
	unsigned at = it->n + 1;
	int rc;

	memset(out, 0, sizeof(*out));
	out->line = at;
	rc = b2b_lines_next(it, &l);
	if (rc <= 0)
		return rc;
	if (b2b_file_parse(l.ptr, l.len, out) < 0) {
		/* Do not advance past the bad line: report it again. */
		it->p = l.ptr;
		it->n--;
		memset(out, 0, sizeof(*out));
		out->line = at;
		return WARREN_EFIELD;
	}
	out->line = at;
	return rc;
}

/* -------------------------------------------------------- requests */

/* The next line of a request; WARREN_EPROTO if it is missing. */
static int
need_line(struct b2b_lines *it, struct b2b_str *l)
{
	int rc = b2b_lines_next(it, l);

	if (rc == 0)
		return WARREN_EPROTO;
	return rc < 0 ? rc : 0;
}

/* The next line if there is one: 1, 0 if none, or an error. */
static int
opt_line(struct b2b_lines *it, struct b2b_str *l)
{
	int rc = b2b_lines_next(it, l);

	return rc > 0 ? 1 : rc;
}

static int
parse_creds(struct b2b_lines *it, struct b2b_request *r)
{
	int rc;

	if ((rc = need_line(it, &r->user)) < 0 ||
	    (rc = need_line(it, &r->pwd)) < 0)
		return rc;
	if (b2b_user_check(r->user.ptr, r->user.len) < 0 ||
	    b2b_pwd_check(r->pwd.ptr, r->pwd.len) < 0)
		return WARREN_EFIELD;
	return 0;
}

static int
parse_id_line(struct b2b_lines *it, uint32_t *id)
{
	struct b2b_str l;
	int rc;

	if ((rc = need_line(it, &l)) < 0)
		return rc;
	return b2b_id_parse(l.ptr, l.len, id);
}

/* An optional offset line (§4.5 paging). */
static int
parse_offset(struct b2b_lines *it, uint32_t *offset)
{
	struct b2b_str l;
	int rc;

	if ((rc = opt_line(it, &l)) <= 0)
		return rc;
	return b2b_offset_parse(l.ptr, l.len, offset);
}

/* Nothing may follow the last line of a request. */
static int
parse_end(struct b2b_lines *it)
{
	return b2b_lines_done(it) ? 0 : WARREN_EPROTO;
}

/* Validate a whole file list, leaving it for b2b_file_next(). */
static int
parse_files(struct b2b_lines *it, struct b2b_request *r)
{
	struct b2b_lines scan = *it;
	struct b2b_file f;
	int rc;

	r->files = *it;
	while ((rc = b2b_file_next(&scan, &f)) > 0) {
		if (f.kind == B2B_ANNOT)
			r->nannots++;
		else
			r->nfiles++;
	}
	if (rc == WARREN_EFIELD) {
		r->reason = B2B_R_BAD_FILE_LINE;
		r->bad_line = f.line;
	}
	return rc;
}

static int
parse_login(struct b2b_lines *it, struct b2b_request *r)
{
	struct b2b_str l;
	int rc;

	if ((rc = parse_creds(it, r)) < 0 ||
	    (rc = parse_id_line(it, &r->id)) < 0)
		return rc;
	if ((rc = opt_line(it, &l)) <= 0)
		return rc;
	if (b2b_ip_parse(l.ptr, l.len, &r->addr) < 0)
		return WARREN_EFIELD;
	if ((rc = opt_line(it, &l)) <= 0)
		return rc;
	if (b2b_port_parse(l.ptr, l.len, &r->port) < 0)
		return WARREN_EFIELD;
	return parse_end(it);
}

static int
parse_logout(struct b2b_lines *it, struct b2b_request *r)
{
	struct b2b_str l;
	int rc;

	if ((rc = parse_creds(it, r)) < 0)
		return rc;
	if ((rc = opt_line(it, &l)) <= 0)
		return rc;
	if (b2b_id_parse(l.ptr, l.len, &r->id) < 0)
		return WARREN_EFIELD;
	return parse_end(it);
}

static int
parse_show_peers(struct b2b_lines *it, struct b2b_request *r)
{
	struct b2b_str l;
	int rc;

	/* An empty payload, or an empty first line, means all. */
	if ((rc = opt_line(it, &l)) <= 0)
		return rc;
	if (l.len == 0 || str_is(l, "all"))
		r->filter = B2B_ALL;
	else if (str_is(l, "online"))
		r->filter = B2B_ONLINE;
	else if (str_is(l, "offline"))
		r->filter = B2B_OFFLINE;
	else {
		r->reason = B2B_R_BAD_FILTER;
		return WARREN_EFIELD;
	}
	if ((rc = parse_offset(it, &r->offset)) < 0)
		return rc;
	return parse_end(it);
}

static int
parse_search(struct b2b_lines *it, struct b2b_request *r)
{
	enum b2b_reason why;
	int rc;

	/* A missing line is an empty query. */
	if ((rc = opt_line(it, &r->query)) < 0)
		return rc;
	if ((rc = query_check(r->query, &r->nwords, &why)) < 0) {
		r->reason = why;
		return rc;
	}
	return parse_end(it);
}

static int
parse_download(struct b2b_lines *it, struct b2b_request *r)
{
	struct b2b_str l;
	int rc;

	if ((rc = opt_line(it, &l)) < 0)
		return rc;
	if (rc == 0 || b2b_sha1_parse(l.ptr, l.len, r->sha1) < 0) {
		r->reason = B2B_R_BAD_SHA1;
		return WARREN_EFIELD;
	}
	return parse_end(it);
}

int
b2b_request_parse(
    uint16_t type, const void *payload, size_t len, struct b2b_request *out)
{
	struct b2b_lines it;
	int rc;

	memset(out, 0, sizeof(*out));
	out->type = type;
	if (!b2b_is_request(type))
		return WARREN_EKIND;
	out->reason = B2B_R_MALFORMED;
	if (b2b_lines_init(&it, payload, len) < 0)
		return WARREN_ELENGTH;
	if (b2b_utf8_check(payload, len) < 0) {
		out->reason = B2B_R_BAD_ENCODING;
		return WARREN_EFIELD;
	}
	switch ((enum b2b_type)type) {
	case B2B_REGISTER:
		if ((rc = parse_creds(&it, out)) >= 0)
			rc = parse_files(&it, out);
		break;
	case B2B_REGISTER_UPDATE:
	case B2B_REGISTER_APPEND:
		if ((rc = parse_creds(&it, out)) >= 0 &&
		    (rc = parse_id_line(&it, &out->id)) >= 0)
			rc = parse_files(&it, out);
		break;
	case B2B_LOGIN:
		rc = parse_login(&it, out);
		break;
	case B2B_KEEP_ALIVE:
		if ((rc = parse_id_line(&it, &out->id)) >= 0)
			rc = parse_end(&it);
		break;
	case B2B_LOGOUT:
		rc = parse_logout(&it, out);
		break;
	case B2B_SHOW_PEERS:
		rc = parse_show_peers(&it, out);
		break;
	case B2B_BROWSE_PEER:
		if ((rc = parse_id_line(&it, &out->id)) >= 0 &&
		    (rc = parse_offset(&it, &out->offset)) >= 0)
			rc = parse_end(&it);
		break;
	case B2B_SEARCH_FILE:
		rc = parse_search(&it, out);
		break;
	case B2B_DOWNLOAD_FILE:
		rc = parse_download(&it, out);
		break;
	default:
		rc = WARREN_EKIND; /* unreachable: b2b_is_request() */
		break;
	}
	if (rc < 0)
		return rc;
	out->reason = B2B_R_NONE;
	return 0;
}

/* ------------------------------------------------------ frame output */

static int
out_begin(struct b2b_out *o, uint16_t type, uint16_t req, void *buf, size_t cap)
{
	memset(o, 0, sizeof(*o));
	if (cap > B2B_FRAME_MAX)
		cap = B2B_FRAME_MAX;
	if (cap < B2B_HEAD_LEN)
		return WARREN_ESPACE;
	o->buf = buf;
	o->cap = cap;
	o->type = type;
	o->req = req;
	o->len = (size_t)b2b_frame_encode_head(type, 0, o->buf);
	return 0;
}

/* Append raw bytes; the callers restore o->len on failure. */
static int
out_put(struct b2b_out *o, const void *s, size_t n)
{
	if (o->buf == NULL || n > o->cap - o->len)
		return WARREN_ESPACE;
	if (n > 0)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
	return 0;
}

static int
out_str(struct b2b_out *o, const char *s)
{
	return out_put(o, s, strlen(s));
}

static int
out_lf(struct b2b_out *o)
{
	return out_put(o, "\n", 1);
}

/* s + LF; s was validated by the caller. */
static int
out_view_line(struct b2b_out *o, const void *s, size_t n)
{
	int rc;

	if ((rc = out_put(o, s, n)) < 0)
		return rc;
	return out_lf(o);
}

static int
out_dec(struct b2b_out *o, uint64_t v)
{
	char d[20];

	return out_put(o, d, fmt_u64(v, d));
}

static int
out_dec_line(struct b2b_out *o, uint64_t v)
{
	int rc;

	if ((rc = out_dec(o, v)) < 0)
		return rc;
	return out_lf(o);
}

/* An address, or nothing for family 0 when optional. */
static int
out_addr(struct b2b_out *o, const struct b2b_addr *a)
{
	char text[B2B_IP_TEXT_MAX];
	int n;

	if (wire_ip_unusable(a->family, a->a))
		return WARREN_EFIELD;
	n = b2b_ip_format(a, text, sizeof(text));
	if (n < 0)
		return n;
	return out_put(o, text, (size_t)n);
}

/* Lower-case hex of a 40- or 32-digit hash given in either case. */
static int
out_hex(struct b2b_out *o, const char *h, size_t want)
{
	char tmp[B2B_SHA1_LEN + 1];

	if (h == NULL || strnlen(h, want + 1) != want || !is_hex(h, want, want))
		return WARREN_EFIELD;
	hex_copy(h, want, tmp);
	return out_put(o, tmp, want);
}

/* The response name: "<REQUEST>_OK" or "<REQUEST>_KO". */
static int
out_name(struct b2b_out *o, int ok)
{
	int rc;

	if ((rc = out_str(o, b2b_request_name(o->req))) < 0)
		return rc;
	return out_str(o, ok ? "_OK" : "_KO");
}

/* Finish an all-or-nothing append: bytes appended, or undo and fail. */
static int
out_commit(struct b2b_out *o, size_t start, int rc)
{
	if (rc < 0) {
		o->len = start;
		return rc;
	}
	return (int)(o->len - start);
}

int
b2b_out_line(struct b2b_out *o, const void *s, size_t len)
{
	size_t start = o->len;

	if (len > 0 &&
	    (memchr(s, '\n', len) != NULL || memchr(s, '\r', len) != NULL))
		return WARREN_EFIELD;
	return out_commit(o, start, out_view_line(o, s, len));
}

int
b2b_out_end(struct b2b_out *o)
{
	if (o->buf == NULL || o->len < B2B_HEAD_LEN)
		return WARREN_ESPACE;
	(void)b2b_frame_encode_head(o->type, o->len - B2B_HEAD_LEN, o->buf);
	return (int)o->len;
}

/* ------------------------------------------------- request encoders */

static int
put_creds(struct b2b_out *o, const struct b2b_request *r)
{
	int rc;

	if ((rc = b2b_user_check(r->user.ptr, r->user.len)) < 0 ||
	    (rc = b2b_pwd_check(r->pwd.ptr, r->pwd.len)) < 0)
		return rc;
	if ((rc = out_view_line(o, r->user.ptr, r->user.len)) < 0)
		return rc;
	return out_view_line(o, r->pwd.ptr, r->pwd.len);
}

static int
put_id(struct b2b_out *o, uint32_t id)
{
	if (id == 0 || id > B2B_ID_MAX)
		return WARREN_EFIELD;
	return out_dec_line(o, id);
}

static int
put_offset(struct b2b_out *o, uint32_t offset)
{
	return offset > 0 ? out_dec_line(o, offset) : 0;
}

static int
put_request(struct b2b_out *o, const struct b2b_request *r)
{
	enum b2b_reason why;
	unsigned nwords;
	int rc;

	switch ((enum b2b_type)r->type) {
	case B2B_REGISTER:
		return put_creds(o, r);
	case B2B_REGISTER_UPDATE:
	case B2B_REGISTER_APPEND:
		if ((rc = put_creds(o, r)) < 0)
			return rc;
		return put_id(o, r->id);
	case B2B_LOGIN:
		if ((rc = put_creds(o, r)) < 0 || (rc = put_id(o, r->id)) < 0)
			return rc;
		if (r->addr.family == 0)
			return r->port == 0 ? 0 : WARREN_EFIELD;
		if ((rc = out_addr(o, &r->addr)) < 0 || (rc = out_lf(o)) < 0)
			return rc;
		return r->port == 0 ? 0 : out_dec_line(o, r->port);
	case B2B_KEEP_ALIVE:
		return put_id(o, r->id);
	case B2B_LOGOUT:
		if ((rc = put_creds(o, r)) < 0)
			return rc;
		return r->id == 0 ? 0 : put_id(o, r->id);
	case B2B_SHOW_PEERS:
		if ((unsigned)r->filter > B2B_OFFLINE)
			return WARREN_EFIELD;
		if ((rc = out_str(o, filter_names[r->filter])) < 0 ||
		    (rc = out_lf(o)) < 0)
			return rc;
		return put_offset(o, r->offset);
	case B2B_BROWSE_PEER:
		if ((rc = put_id(o, r->id)) < 0)
			return rc;
		return put_offset(o, r->offset);
	case B2B_SEARCH_FILE:
		if (r->query.len > 0 &&
		    (b2b_utf8_check(r->query.ptr, r->query.len) < 0 ||
			memchr(r->query.ptr, '\n', r->query.len) != NULL ||
			memchr(r->query.ptr, '\r', r->query.len) != NULL))
			return WARREN_EFIELD;
		if ((rc = query_check(r->query, &nwords, &why)) < 0)
			return rc;
		return out_view_line(o, r->query.ptr, r->query.len);
	case B2B_DOWNLOAD_FILE:
		if ((rc = out_hex(o, r->sha1, B2B_SHA1_LEN)) < 0)
			return rc;
		return out_lf(o);
	}
	return WARREN_EKIND;
}

int
b2b_request_begin(
    struct b2b_out *o, const struct b2b_request *req, void *buf, size_t cap)
{
	int rc;

	memset(o, 0, sizeof(*o));
	if (!b2b_is_request(req->type))
		return WARREN_EKIND;
	if ((rc = out_begin(o, req->type, req->type, buf, cap)) < 0)
		return rc;
	if ((rc = put_request(o, req)) < 0) {
		o->len = 0;
		return rc;
	}
	return 0;
}

int
b2b_request_encode(const struct b2b_request *req, void *buf, size_t cap)
{
	struct b2b_out o;
	int rc;

	if ((rc = b2b_request_begin(&o, req, buf, cap)) < 0)
		return rc;
	return b2b_out_end(&o);
}

static int
is_file_list(uint16_t type)
{
	return type == B2B_REGISTER || type == B2B_REGISTER_UPDATE ||
	    type == B2B_REGISTER_APPEND;
}

static int
put_file(struct b2b_out *o, struct b2b_str name, uint64_t size,
    const char *sha1, const char *md5)
{
	int rc;

	if ((rc = b2b_filename_check(name.ptr, name.len)) < 0)
		return rc;
	if (size > B2B_SIZE_MAX)
		return WARREN_EFIELD;
	if ((rc = out_put(o, name.ptr, name.len)) < 0 ||
	    (rc = out_put(o, "|", 1)) < 0 || (rc = out_dec(o, size)) < 0 ||
	    (rc = out_put(o, "|", 1)) < 0 ||
	    (rc = out_hex(o, sha1, B2B_SHA1_LEN)) < 0 || (rc = out_lf(o)) < 0)
		return rc;
	if (md5 == NULL)
		return 0;
	/* The md5 annotation travels in the same frame (§4.11). */
	if ((rc = out_hex(o, sha1, B2B_SHA1_LEN)) < 0 ||
	    (rc = out_put(o, "|", 1)) < 0 ||
	    (rc = out_hex(o, md5, B2B_MD5_LEN)) < 0)
		return rc;
	return out_lf(o);
}

int
b2b_out_file(struct b2b_out *o, struct b2b_str name, uint64_t size,
    const char *sha1, const char *md5)
{
	size_t start = o->len;

	if (o->type != o->req || !is_file_list(o->type))
		return WARREN_EKIND;
	return out_commit(o, start, put_file(o, name, size, sha1, md5));
}

/* ------------------------------------------------ response encoders */

int
b2b_encode_ok(uint16_t req, void *buf, size_t cap)
{
	struct b2b_out o;
	int rc;

	if (req != B2B_LOGIN && req != B2B_KEEP_ALIVE && req != B2B_LOGOUT)
		return WARREN_EKIND;
	if ((rc = out_begin(&o, b2b_ok_type(req), req, buf, cap)) < 0 ||
	    (rc = out_name(&o, 1)) < 0)
		return rc;
	return b2b_out_end(&o);
}

int
b2b_encode_ok_id(uint16_t req, uint32_t id, void *buf, size_t cap)
{
	struct b2b_out o;
	int rc;

	if (!is_file_list(req))
		return WARREN_EKIND;
	if (id == 0 || id > B2B_ID_MAX)
		return WARREN_EFIELD;
	if ((rc = out_begin(&o, b2b_ok_type(req), req, buf, cap)) < 0 ||
	    (rc = out_name(&o, 1)) < 0 || (rc = out_lf(&o)) < 0 ||
	    (rc = out_dec(&o, id)) < 0)
		return rc;
	return b2b_out_end(&o);
}

int
b2b_encode_ko(
    uint16_t req, enum b2b_reason reason, unsigned line, void *buf, size_t cap)
{
	struct b2b_out o;
	int rc;

	if (!b2b_is_request(req))
		return WARREN_EKIND;
	if ((int)reason <= B2B_R_NONE || reason >= B2B_R_COUNT)
		return WARREN_EFIELD;
	if ((rc = out_begin(&o, b2b_ko_type(req), req, buf, cap)) < 0 ||
	    (rc = out_name(&o, 0)) < 0 || (rc = out_lf(&o)) < 0 ||
	    (rc = out_str(&o, reason_texts[reason])) < 0)
		return rc;
	if (reason == B2B_R_BAD_FILE_LINE &&
	    ((rc = out_put(&o, " ", 1)) < 0 || (rc = out_dec(&o, line)) < 0))
		return rc;
	return b2b_out_end(&o);
}

static int
is_record_response(uint16_t req)
{
	return req == B2B_SHOW_PEERS || req == B2B_BROWSE_PEER ||
	    req == B2B_SEARCH_FILE || req == B2B_DOWNLOAD_FILE;
}

int
b2b_response_begin(struct b2b_out *o, uint16_t req, void *buf, size_t cap)
{
	int rc;

	memset(o, 0, sizeof(*o));
	if (!is_record_response(req))
		return WARREN_EKIND;
	if ((rc = out_begin(o, b2b_ok_type(req), req, buf, cap)) < 0 ||
	    (rc = out_name(o, 1)) < 0 || (rc = out_lf(o)) < 0) {
		o->len = 0;
		return rc;
	}
	return 0;
}

/* The frame is the OK of req. */
static int
out_is_ok_of(const struct b2b_out *o, uint16_t req)
{
	return o->req == req && o->type == b2b_ok_type(req);
}

static int
put_peer(struct b2b_out *o, const struct b2b_peer *p)
{
	int rc;

	if (p->user_id == 0 || p->user_id > B2B_ID_MAX ||
	    b2b_user_check(p->user.ptr, p->user.len) < 0)
		return WARREN_EFIELD;
	if ((rc = out_dec_line(o, p->user_id)) < 0 ||
	    (rc = out_view_line(o, p->user.ptr, p->user.len)) < 0 ||
	    (rc = out_str(o, p->online ? "online\n" : "offline\n")) < 0)
		return rc;
	if (p->addr.family != 0 && (rc = out_addr(o, &p->addr)) < 0)
		return rc;
	if ((rc = out_lf(o)) < 0)
		return rc;
	if (p->port != 0 && (rc = out_dec(o, p->port)) < 0)
		return rc;
	return out_lf(o);
}

int
b2b_out_peer(struct b2b_out *o, const struct b2b_peer *p)
{
	size_t start = o->len;

	if (!out_is_ok_of(o, B2B_SHOW_PEERS))
		return WARREN_EKIND;
	return out_commit(o, start, put_peer(o, p));
}

static int
put_entry(struct b2b_out *o, const struct b2b_file *f)
{
	int rc;

	if (b2b_filename_check(f->name.ptr, f->name.len) < 0 ||
	    f->size > B2B_SIZE_MAX)
		return WARREN_EFIELD;
	if ((rc = out_view_line(o, f->name.ptr, f->name.len)) < 0 ||
	    (rc = out_dec_line(o, f->size)) < 0 ||
	    (rc = out_hex(o, f->sha1, B2B_SHA1_LEN)) < 0)
		return rc;
	return out_lf(o);
}

int
b2b_out_entry(struct b2b_out *o, const struct b2b_file *f)
{
	size_t start = o->len;

	if (!out_is_ok_of(o, B2B_BROWSE_PEER))
		return WARREN_EKIND;
	return out_commit(o, start, put_entry(o, f));
}

static int
put_hit(struct b2b_out *o, const struct b2b_hit *h)
{
	int rc;

	if (b2b_filename_check(h->name.ptr, h->name.len) < 0 ||
	    h->size > B2B_SIZE_MAX ||
	    b2b_user_check(h->user.ptr, h->user.len) < 0 || h->user_id == 0 ||
	    h->user_id > B2B_ID_MAX || h->port == 0)
		return WARREN_EFIELD;
	if ((rc = out_view_line(o, h->name.ptr, h->name.len)) < 0 ||
	    (rc = out_dec_line(o, h->size)) < 0 ||
	    (rc = out_hex(o, h->sha1, B2B_SHA1_LEN)) < 0 ||
	    (rc = out_lf(o)) < 0 ||
	    (rc = out_view_line(o, h->user.ptr, h->user.len)) < 0 ||
	    (rc = out_dec_line(o, h->user_id)) < 0 ||
	    (rc = out_addr(o, &h->addr)) < 0 || (rc = out_lf(o)) < 0 ||
	    (rc = out_dec_line(o, h->port)) < 0)
		return rc;
	if (o->req != B2B_DOWNLOAD_FILE)
		return 0;
	/* §4.8: the md5 this holder registered, or an empty line. */
	if (h->md5[0] != '\0' && (rc = out_hex(o, h->md5, B2B_MD5_LEN)) < 0)
		return rc;
	return out_lf(o);
}

int
b2b_out_hit(struct b2b_out *o, const struct b2b_hit *h)
{
	size_t start = o->len;

	if (!out_is_ok_of(o, B2B_SEARCH_FILE) &&
	    !out_is_ok_of(o, B2B_DOWNLOAD_FILE))
		return WARREN_EKIND;
	return out_commit(o, start, put_hit(o, h));
}

/* ------------------------------------------------- client: responses */

/*
 * Does the rest of a SEARCH_FILE_OK read as records of per lines? Checks
 * the fields every server fills (size, sha1, user_id), not the address,
 * which existing servers may send as "None" (§4.7).
 */
static int
layout_fits(struct b2b_lines it, unsigned per)
{
	struct b2b_str l;
	unsigned i = 0;
	uint64_t size;
	uint32_t id;
	char sha1[B2B_SHA1_LEN + 1];
	int rc;

	while ((rc = b2b_lines_next(&it, &l)) > 0) {
		switch (i++ % per) {
		case 1:
			if (b2b_size_parse(l.ptr, l.len, &size) < 0)
				return 0;
			break;
		case 2:
			if (b2b_sha1_parse(l.ptr, l.len, sha1) < 0)
				return 0;
			break;
		case 4:
			if (b2b_id_parse(l.ptr, l.len, &id) < 0)
				return 0;
			break;
		default:
			break;
		}
	}
	return rc == 0 && i % per == 0;
}

int
b2b_response_parse(uint16_t req, uint16_t type, const void *payload, size_t len,
    struct b2b_response *out)
{
	struct b2b_lines it;
	struct b2b_str l;
	int rc;

	memset(out, 0, sizeof(*out));
	out->req = req;
	out->type = type;
	out->default_port = B2B_PEER_PORT_DEFAULT;
	if (!b2b_is_request(req))
		return WARREN_EKIND;
	if (type == b2b_ok_type(req))
		out->ok = 1;
	else if (type != b2b_ko_type(req))
		return WARREN_EPROTO;
	if (b2b_lines_init(&it, payload, len) < 0)
		return WARREN_ELENGTH;
	if ((rc = b2b_lines_next(&it, &out->name)) < 0)
		return rc;
	if (!out->ok) {
		if ((rc = b2b_lines_next(&it, &out->reason)) < 0)
			return rc;
		return 0;
	}
	switch ((enum b2b_type)req) {
	case B2B_REGISTER:
	case B2B_REGISTER_UPDATE:
	case B2B_REGISTER_APPEND:
		if (b2b_lines_next(&it, &l) <= 0 ||
		    b2b_id_parse(l.ptr, l.len, &out->id) < 0)
			return WARREN_EFIELD;
		break;
	case B2B_SHOW_PEERS:
		out->layout = PEER_LINES;
		break;
	case B2B_BROWSE_PEER:
		out->layout = ENTRY_LINES;
		break;
	case B2B_SEARCH_FILE:
		out->layout = HIT_LINES;
		if (!layout_fits(it, HIT_LINES) &&
		    layout_fits(it, HIT_OLD_LINES))
			out->layout = HIT_OLD_LINES;
		break;
	case B2B_DOWNLOAD_FILE:
		out->layout = DL_LINES;
		break;
	case B2B_LOGIN:
	case B2B_KEEP_ALIVE:
	case B2B_LOGOUT:
		break;
	}
	out->rest = it;
	return 0;
}

/*
 * Read the next whole record of r->layout lines into l[]. Returns bytes
 * consumed, or 0 at the end (an incomplete last record is dropped).
 */
static int
next_record(struct b2b_response *r, struct b2b_str l[RECORD_MAX])
{
	const char *start = r->rest.p;
	unsigned i;
	int rc;

	if (b2b_lines_done(&r->rest))
		return 0;
	for (i = 0; i < r->layout; i++) {
		rc = b2b_lines_next(&r->rest, &l[i]);
		if (rc <= 0) {
			r->dropped++;
			r->rest.p = r->rest.end;
			return 0;
		}
	}
	return (int)(r->rest.p - start);
}

int
b2b_response_next_peer(struct b2b_response *r, struct b2b_peer *out)
{
	struct b2b_str l[RECORD_MAX];
	struct b2b_peer p;
	int rc;

	if (!r->ok || r->req != B2B_SHOW_PEERS || r->layout != PEER_LINES)
		return WARREN_EKIND;
	while ((rc = next_record(r, l)) > 0) {
		memset(&p, 0, sizeof(p));
		p.user = l[1];
		p.online = str_is(l[2], "online");
		if (b2b_id_parse(l[0].ptr, l[0].len, &p.user_id) < 0 ||
		    b2b_user_check(l[1].ptr, l[1].len) < 0 ||
		    (!p.online && !str_is(l[2], "offline")) ||
		    (l[3].len > 0 &&
			b2b_ip_parse(l[3].ptr, l[3].len, &p.addr) < 0) ||
		    (l[4].len > 0 &&
			b2b_port_parse(l[4].ptr, l[4].len, &p.port) < 0)) {
			r->dropped++;
			continue;
		}
		*out = p;
		return rc;
	}
	return 0;
}

int
b2b_response_next_entry(struct b2b_response *r, struct b2b_file *out)
{
	struct b2b_str l[RECORD_MAX];
	struct b2b_file f;
	unsigned line;
	int rc;

	if (!r->ok || r->req != B2B_BROWSE_PEER || r->layout != ENTRY_LINES)
		return WARREN_EKIND;
	for (;;) {
		line = r->rest.n + 1;
		if ((rc = next_record(r, l)) <= 0)
			return rc;
		memset(&f, 0, sizeof(f));
		f.kind = B2B_FILE3;
		f.name = l[0];
		f.line = line;
		if (b2b_filename_check(l[0].ptr, l[0].len) < 0 ||
		    b2b_size_parse(l[1].ptr, l[1].len, &f.size) < 0 ||
		    b2b_sha1_parse(l[2].ptr, l[2].len, f.sha1) < 0) {
			r->dropped++;
			continue;
		}
		*out = f;
		return rc;
	}
}

int
b2b_response_next_hit(struct b2b_response *r, struct b2b_hit *out)
{
	struct b2b_str l[RECORD_MAX];
	struct b2b_hit h;
	int rc;

	if (!r->ok ||
	    !((r->req == B2B_SEARCH_FILE &&
		  (r->layout == HIT_LINES || r->layout == HIT_OLD_LINES)) ||
		(r->req == B2B_DOWNLOAD_FILE && r->layout == DL_LINES)))
		return WARREN_EKIND;
	while ((rc = next_record(r, l)) > 0) {
		memset(&h, 0, sizeof(h));
		h.name = l[0];
		h.user = l[3];
		h.port = r->default_port;
		if (b2b_filename_check(l[0].ptr, l[0].len) < 0 ||
		    b2b_size_parse(l[1].ptr, l[1].len, &h.size) < 0 ||
		    b2b_sha1_parse(l[2].ptr, l[2].len, h.sha1) < 0 ||
		    b2b_user_check(l[3].ptr, l[3].len) < 0 ||
		    b2b_id_parse(l[4].ptr, l[4].len, &h.user_id) < 0 ||
		    b2b_ip_parse(l[5].ptr, l[5].len, &h.addr) < 0 ||
		    (r->layout != HIT_OLD_LINES &&
			b2b_port_parse(l[6].ptr, l[6].len, &h.port) < 0) ||
		    (r->layout == DL_LINES && l[7].len > 0 &&
			b2b_md5_parse(l[7].ptr, l[7].len, h.md5) < 0) ||
		    h.port == 0) {
			r->dropped++;
			continue;
		}
		*out = h;
		return rc;
	}
	return 0;
}
