/*
 * chordtxt.c: the codec of the Chord ring and introducer text protocol
 * (chord.md). Pure functions over byte buffers: decoders never read past
 * the length they are given and return views into it; encoders validate
 * every field the way the decoders do, so whatever warren sends, warren
 * accepts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/chordtxt.h"
#include "wire/text.h"

static const char *const op_names[CHORD_OP_COUNT] = {
    [CHORD_OP_UNKNOWN] = "?",
    [CHORD_OP_PING] = "PING",
    [CHORD_OP_FIND_SUCCESSOR] = "FIND_SUCCESSOR",
    [CHORD_OP_GET_PREDECESSOR] = "GET_PREDECESSOR",
    [CHORD_OP_GET_SUCCESSORS] = "GET_SUCCESSORS",
    [CHORD_OP_NOTIFY] = "NOTIFY",
    [CHORD_OP_PUT] = "PUT",
    [CHORD_OP_GET] = "GET",
    [CHORD_OP_LIST] = "LIST",
    [CHORD_OP_TRANSFER_KEYS] = "TRANSFER_KEYS",
    [CHORD_OP_JOIN] = "JOIN",
    [CHORD_OP_DELETE] = "DELETE",
};

static const char hex_lower[] = "0123456789abcdef";

/* Reader states. */
enum {
	READER_STATUS,
	READER_DATA,
	READER_DONE,
};

/* ---------------------------------------------------------- helpers */

static int
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* C0 controls and DEL: never inside a line. */
static int
is_control(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* Printable ASCII other than space. */
static int
is_graph(uint8_t c)
{
	return c > 0x20 && c < 0x7f;
}

static int
has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (is_control((uint8_t)s[i]))
			return 1;
	return 0;
}

/*
 * Next word of [*p, end): skips spaces, then takes the bytes up to the
 * next space. Returns 1 with *tok set, 0 when only spaces are left.
 */
static int
next_word(const char **p, const char *end, struct chord_str *tok)
{
	const char *s = *p;

	while (s < end && *s == ' ')
		s++;
	if (s == end) {
		*p = s;
		return 0;
	}
	tok->ptr = s;
	while (s < end && *s != ' ')
		s++;
	tok->len = (size_t)(s - tok->ptr);
	*p = s;
	return 1;
}

/* [*p, end) holds nothing but spaces. */
static int
only_spaces(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	return p == end;
}

/* One or more decimal digits (at most maxdig), value <= max. */
static int
parse_dec(const void *s, size_t len, size_t maxdig, uint64_t max, uint64_t *out)
{
	const uint8_t *p = s;
	uint64_t v = 0, d;
	size_t i;

	if (len == 0 || len > maxdig)
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

/* A bounded writer: every put is checked, and the first overflow sticks. */
struct wbuf {
	char *p;
	size_t cap, len;
	int full;
};

static void
w_put(struct wbuf *w, const void *s, size_t n)
{
	if (n == 0)
		return;
	if (w->full || w->cap - w->len < n) {
		w->full = 1;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void
w_str(struct wbuf *w, struct chord_str s)
{
	w_put(w, s.ptr, s.len);
}

static void
w_char(struct wbuf *w, char c)
{
	w_put(w, &c, 1);
}

static void
w_dec(struct wbuf *w, uint64_t v)
{
	char d[20];

	w_put(w, d, fmt_u64(v, d));
}

/* NUL-terminate: the length, or WARREN_ESPACE. */
static int
w_end(struct wbuf *w)
{
	if (w->full || w->len >= w->cap)
		return WARREN_ESPACE;
	w->p[w->len] = '\0';
	return (int)w->len;
}

/*
 * Find the end of a line within the first max bytes of buf[0..len).
 * Returns the index of the LF, -1 for need more, -2 if max bytes hold
 * none.
 */
static long
find_lf(const void *buf, size_t len, size_t max)
{
	size_t scan = len < max ? len : max;
	const char *lf = scan > 0 ? memchr(buf, '\n', scan) : NULL;

	if (lf != NULL)
		return lf - (const char *)buf;
	return len >= max ? -2 : -1;
}

/* ------------------------------------------------------------ requests */

enum chord_op
chord_op_parse(const void *s, size_t len)
{
	int op;

	for (op = CHORD_OP_UNKNOWN + 1; op < CHORD_OP_COUNT; op++)
		if (strlen(op_names[op]) == len &&
		    memcmp(op_names[op], s, len) == 0)
			return (enum chord_op)op;
	return CHORD_OP_UNKNOWN;
}

const char *
chord_op_name(enum chord_op op)
{
	if ((int)op <= CHORD_OP_UNKNOWN || op >= CHORD_OP_COUNT)
		return "?";
	return op_names[op];
}

int
chord_op_argc_ok(enum chord_op op, unsigned nargs)
{
	switch (op) {
	case CHORD_OP_PING:
	case CHORD_OP_GET_PREDECESSOR:
	case CHORD_OP_GET_SUCCESSORS:
		return nargs == 0;
	case CHORD_OP_FIND_SUCCESSOR:
	case CHORD_OP_GET:
		return nargs == 1;
	case CHORD_OP_NOTIFY:
		return nargs == 3;
	case CHORD_OP_PUT:
		return nargs >= 6;
	case CHORD_OP_LIST:
		return nargs <= 1;
	case CHORD_OP_TRANSFER_KEYS:
		return nargs == 2 || nargs == 3;
	case CHORD_OP_JOIN:
		return nargs == 2 || nargs == 3;
	case CHORD_OP_DELETE:
		return nargs >= 1;
	case CHORD_OP_UNKNOWN:
	case CHORD_OP_COUNT:
		break;
	}
	return 0;
}

int
chord_request_parse(const void *buf, size_t len, struct chord_request *out)
{
	const char *s = buf, *p, *end;
	struct chord_str tok;
	long lf;
	size_t n;

	memset(out, 0, sizeof(*out));
	lf = find_lf(buf, len, CHORD_LINE_MAX);
	if (lf == -1)
		return 0;
	if (lf == -2)
		return WARREN_ETOOLONG;
	n = (size_t)lf;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (has_control(s, n))
		return WARREN_EFIELD;
	p = s;
	end = s + n;
	if (!next_word(&p, end, &out->name))
		return WARREN_EEMPTY;
	out->op = chord_op_parse(out->name.ptr, out->name.len);
	out->line.ptr = out->name.ptr;
	while (next_word(&p, end, &tok)) {
		if (out->nargs < CHORD_ARGS_MAX)
			out->args[out->nargs] = tok;
		out->nargs++;
	}
	/* p stopped after the last word: trailing spaces are not in line. */
	while (p > out->line.ptr && p[-1] == ' ')
		p--;
	out->line.len = (size_t)(p - out->line.ptr);
	return (int)lf + 1;
}

struct chord_str
chord_request_tail(const struct chord_request *r, unsigned i)
{
	struct chord_str t = {NULL, 0};

	if (i >= r->nargs || i >= CHORD_ARGS_MAX)
		return t;
	t.ptr = r->args[i].ptr;
	t.len = (size_t)(r->line.ptr + r->line.len - t.ptr);
	return t;
}

static int
op_syntax_ok(struct chord_str op)
{
	size_t i;

	if (op.len == 0)
		return 0;
	for (i = 0; i < op.len; i++)
		if (!((op.ptr[i] >= 'A' && op.ptr[i] <= 'Z') ||
			op.ptr[i] == '_'))
			return 0;
	return 1;
}

int
chord_request_encode(struct chord_str op, const struct chord_str *args,
    unsigned nargs, void *out, size_t cap)
{
	struct wbuf w = {out, cap, 0, 0};
	unsigned i;

	if (!op_syntax_ok(op))
		return WARREN_EFIELD;
	w_str(&w, op);
	for (i = 0; i < nargs; i++) {
		struct chord_str a = args[i];

		if (a.len == 0)
			return WARREN_EEMPTY;
		if (has_control(a.ptr, a.len) || a.ptr[0] == ' ' ||
		    a.ptr[a.len - 1] == ' ')
			return WARREN_EFIELD;
		w_char(&w, ' ');
		w_str(&w, a);
	}
	w_put(&w, "\r\n", 2);
	if (!w.full && w.len > CHORD_LINE_MAX)
		return WARREN_ETOOLONG;
	if (w.full) {
		/* Too long for the protocol, or only for this buffer? */
		size_t need = op.len + 2;

		for (i = 0; i < nargs; i++)
			need += 1 + args[i].len;
		return need > CHORD_LINE_MAX ? WARREN_ETOOLONG : WARREN_ESPACE;
	}
	return (int)w.len;
}

int
chord_join_parse(const struct chord_request *r, struct chord_join *out)
{
	struct chord_join j;

	memset(&j, 0, sizeof(j));
	if (r->op != CHORD_OP_JOIN)
		return WARREN_EKIND;
	if (r->nargs != 2 && r->nargs != 3)
		return WARREN_EPROTO;
	j.peer_id = r->args[0];
	if (chord_peer_id_check(j.peer_id.ptr, j.peer_id.len) < 0 ||
	    chord_ip_parse(r->args[1].ptr, r->args[1].len, &j.addr) < 0)
		return WARREN_EFIELD;
	j.port = CHORD_NODE_PORT;
	if (r->nargs == 3 &&
	    chord_port_parse(r->args[2].ptr, r->args[2].len, &j.port) < 0)
		return WARREN_EFIELD;
	*out = j;
	return 0;
}

/* ----------------------------------------------------------- responses */

/* MSG of a status line: words of printable ASCII, single spaces. */
static int
msg_ok(struct chord_str m)
{
	size_t i;

	if (m.len == 0 || m.ptr[0] == ' ' || m.ptr[m.len - 1] == ' ')
		return 0;
	for (i = 0; i < m.len; i++) {
		uint8_t c = (uint8_t)m.ptr[i];

		if (c == ' ' ? m.ptr[i - 1] == ' ' : !is_graph(c))
			return 0;
	}
	return 1;
}

int
chord_status_parse(const void *buf, size_t len, struct chord_status *out)
{
	const char *s = buf, *p, *end, *last_end;
	struct chord_str code, tok, last = {NULL, 0}, first = {NULL, 0};
	unsigned nmsg = 0;
	uint64_t v;
	long lf;
	size_t n;

	memset(out, 0, sizeof(*out));
	lf = find_lf(buf, len, CHORD_STATUS_MAX);
	if (lf == -1)
		return 0;
	if (lf == -2)
		return WARREN_ETOOLONG;
	n = (size_t)lf;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (has_control(s, n))
		return WARREN_EFIELD;
	p = s;
	end = s + n;
	if (!next_word(&p, end, &code) || code.len != 3 ||
	    !is_digit((uint8_t)code.ptr[0]) ||
	    !is_digit((uint8_t)code.ptr[1]) ||
	    !is_digit((uint8_t)code.ptr[2]) || code.ptr[0] < '1' ||
	    code.ptr[0] > '5')
		return WARREN_EFIELD;
	out->code = (unsigned)((code.ptr[0] - '0') * 100 +
	    (code.ptr[1] - '0') * 10 + (code.ptr[2] - '0'));
	/* The last word is LEN; the words between make MSG. */
	last_end = NULL;
	while (next_word(&p, end, &tok)) {
		if (last.ptr != NULL) {
			if (nmsg++ == 0)
				first = last;
			last_end = last.ptr + last.len;
		}
		last = tok;
	}
	if (nmsg == 0)
		return WARREN_EFIELD;
	out->msg.ptr = first.ptr;
	out->msg.len = (size_t)(last_end - first.ptr);
	if (parse_dec(last.ptr, last.len, 20, UINT64_MAX, &v) < 0)
		return WARREN_EFIELD;
	if (v > CHORD_DATA_MAX)
		return WARREN_ELIMIT;
	out->len = (size_t)v;
	if (out->code == 200 && first.len == 4 &&
	    memcmp(first.ptr, "MORE", 4) == 0) {
		const char *q = first.ptr + 4;

		if (nmsg != 2 || !next_word(&q, last_end, &out->cursor) ||
		    chord_cursor_check(out->cursor.ptr, out->cursor.len) < 0)
			return WARREN_EFIELD;
	}
	return (int)lf + 1;
}

int
chord_data_line(
    const void *buf, size_t len, size_t left, struct chord_str *line)
{
	const char *s = buf;
	size_t max, n;
	long lf;

	if (left == 0)
		return WARREN_EPROTO;
	max = left < CHORD_LINE_MAX ? left : CHORD_LINE_MAX;
	lf = find_lf(buf, len, max);
	if (lf == -1)
		return 0;
	if (lf == -2)
		return left <= CHORD_LINE_MAX ? WARREN_EPROTO : WARREN_ETOOLONG;
	n = (size_t)lf;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n == 0)
		return WARREN_EEMPTY;
	if (has_control(s, n))
		return WARREN_EFIELD;
	line->ptr = s;
	line->len = n;
	return (int)lf + 1;
}

void
chord_reader_init(struct chord_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->state = READER_STATUS;
}

int
chord_reader_status(struct chord_reader *r, const void *buf, size_t len,
    struct chord_status *out)
{
	int n;

	if (r->state != READER_STATUS)
		return WARREN_EPROTO;
	n = chord_status_parse(buf, len, out);
	if (n <= 0)
		return n;
	r->status = *out;
	r->left = out->len;
	r->state = r->left > 0 ? READER_DATA : READER_DONE;
	return n;
}

int
chord_reader_line(
    struct chord_reader *r, const void *buf, size_t len, struct chord_str *line)
{
	int n;

	if (r->state != READER_DATA)
		return WARREN_EPROTO;
	n = chord_data_line(buf, len, r->left, line);
	if (n <= 0)
		return n;
	r->left -= (size_t)n;
	r->lines++;
	if (r->left == 0)
		r->state = READER_DONE;
	return n;
}

int
chord_reader_done(const struct chord_reader *r)
{
	return r->state == READER_DONE;
}

int
chord_response_parse(const void *buf, size_t len, struct chord_status *status,
    struct chord_str *data)
{
	const char *s = buf;
	struct chord_str line;
	size_t off, left;
	int n;

	n = chord_status_parse(buf, len, status);
	if (n <= 0)
		return n;
	off = (size_t)n;
	left = status->len;
	while (left > 0) {
		n = chord_data_line(s + off, len - off, left, &line);
		if (n <= 0)
			return n;
		off += (size_t)n;
		left -= (size_t)n;
	}
	data->ptr = s + off - status->len;
	data->len = status->len;
	return (int)off;
}

int
chord_lines_next(struct chord_str *data, struct chord_str *line)
{
	const char *lf;
	size_t n;

	if (data->len == 0)
		return 0;
	lf = memchr(data->ptr, '\n', data->len);
	n = lf != NULL ? (size_t)(lf - data->ptr) : data->len;
	line->ptr = data->ptr;
	line->len = n > 0 && data->ptr[n - 1] == '\r' ? n - 1 : n;
	if (lf != NULL)
		n++;
	data->ptr += n;
	data->len -= n;
	return 1;
}

int
chord_status_encode(
    unsigned code, struct chord_str msg, size_t len, void *out, size_t cap)
{
	struct wbuf w = {out, cap, 0, 0};
	char digits[20];

	if (code < 100 || code > 599 || !msg_ok(msg))
		return WARREN_EFIELD;
	if (len > CHORD_DATA_MAX)
		return WARREN_ELIMIT;
	if (3 + 1 + msg.len + 1 + fmt_u64(len, digits) + 2 > CHORD_STATUS_MAX)
		return WARREN_EFIELD;
	w_dec(&w, code);
	w_char(&w, ' ');
	w_str(&w, msg);
	w_char(&w, ' ');
	w_dec(&w, len);
	w_put(&w, "\r\n", 2);
	return w.full ? WARREN_ESPACE : (int)w.len;
}

int
chord_out_begin(struct chord_out *o, void *buf, size_t cap)
{
	memset(o, 0, sizeof(*o));
	if (cap < CHORD_STATUS_MAX)
		return WARREN_ESPACE;
	o->buf = buf;
	o->cap = cap;
	return 0;
}

int
chord_out_line(struct chord_out *o, const void *s, size_t len)
{
	size_t room;

	if (o->buf == NULL)
		return WARREN_ESPACE;
	if (len == 0)
		return WARREN_EEMPTY;
	if (has_control(s, len))
		return WARREN_EFIELD;
	if (len > CHORD_DATA_LINE_MAX)
		return WARREN_ETOOLONG;
	if (o->len + len + 2 > CHORD_DATA_MAX)
		return WARREN_ELIMIT;
	room = o->cap - CHORD_STATUS_MAX - o->len;
	if (len + 2 > room)
		return WARREN_ESPACE;
	memcpy(o->buf + CHORD_STATUS_MAX + o->len, s, len);
	memcpy(o->buf + CHORD_STATUS_MAX + o->len + len, "\r\n", 2);
	o->len += len + 2;
	o->lines++;
	return (int)(len + 2);
}

/* Put the status line head[0..n) in front of the data. */
static int
out_finish(struct chord_out *o, const char *head, int n)
{
	if (n < 0)
		return n;
	memmove(o->buf + n, o->buf + CHORD_STATUS_MAX, o->len);
	memcpy(o->buf, head, (size_t)n);
	return n + (int)o->len;
}

int
chord_out_end(struct chord_out *o, unsigned code, struct chord_str msg)
{
	char head[CHORD_STATUS_MAX];

	if (o->buf == NULL)
		return WARREN_ESPACE;
	return out_finish(o, head,
	    chord_status_encode(code, msg, o->len, head, sizeof(head)));
}

int
chord_out_end_more(struct chord_out *o, struct chord_str cursor)
{
	char msg[5 + CHORD_CURSOR_MAX], head[CHORD_STATUS_MAX];
	struct chord_str m;

	if (o->buf == NULL)
		return WARREN_ESPACE;
	if (chord_cursor_check(cursor.ptr, cursor.len) < 0)
		return WARREN_EFIELD;
	memcpy(msg, "MORE ", 5);
	memcpy(msg + 5, cursor.ptr, cursor.len);
	m.ptr = msg;
	m.len = 5 + cursor.len;
	return out_finish(
	    o, head, chord_status_encode(200, m, o->len, head, sizeof(head)));
}

/* -------------------------------------------------------------- ids */

int
chord_id_parse(const void *s, size_t len, struct chord_id *out)
{
	const uint8_t *p = s;
	struct chord_id id;
	size_t i;
	int hi, lo;

	if (len != CHORD_ID_LEN)
		return WARREN_EFIELD;
	for (i = 0; i < CHORD_ID_BYTES; i++) {
		hi = wire_hex_value(p[2 * i]);
		lo = wire_hex_value(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return WARREN_EFIELD;
		id.b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = id;
	return 0;
}

int
chord_id_is_canonical(const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i;

	if (len != CHORD_ID_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!is_digit(p[i]) && !(p[i] >= 'a' && p[i] <= 'f'))
			return 0;
	return 1;
}

void
chord_id_format(const struct chord_id *id, char out[CHORD_ID_LEN + 1])
{
	size_t i;

	for (i = 0; i < CHORD_ID_BYTES; i++) {
		out[2 * i] = hex_lower[id->b[i] >> 4];
		out[2 * i + 1] = hex_lower[id->b[i] & 0xf];
	}
	out[CHORD_ID_LEN] = '\0';
}

int
chord_id_cmp(const struct chord_id *a, const struct chord_id *b)
{
	return memcmp(a->b, b->b, CHORD_ID_BYTES);
}

int
chord_id_between(const struct chord_id *x, const struct chord_id *a,
    const struct chord_id *b)
{
	if (chord_id_cmp(a, b) < 0)
		return chord_id_cmp(a, x) < 0 && chord_id_cmp(x, b) < 0;
	return chord_id_cmp(x, a) > 0 || chord_id_cmp(x, b) < 0;
}

int
chord_id_between_incl(const struct chord_id *x, const struct chord_id *a,
    const struct chord_id *b)
{
	return chord_id_between(x, a, b) || chord_id_cmp(x, b) == 0;
}

void
chord_id_add_pow2(const struct chord_id *n, unsigned i, struct chord_id *out)
{
	unsigned carry, sum;
	int k;

	*out = *n;
	if (i >= CHORD_ID_BITS)
		return;
	k = CHORD_ID_BYTES - 1 - (int)(i / 8);
	carry = 1u << (i % 8);
	for (; k >= 0 && carry != 0; k--) {
		sum = out->b[k] + carry;
		out->b[k] = (uint8_t)sum;
		carry = sum >> 8;
	}
}

/* ---------------------------------------------------------- addresses */

static int
v6_is_mapped(const uint8_t a[16])
{
	static const uint8_t mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, mapped, 12) == 0;
}

int
chord_ip_parse(const void *s, size_t len, struct chord_addr *out)
{
	struct chord_addr a;

	memset(&a, 0, sizeof(a));
	if (wire_ip_parse(s, len, CHORD_IP_TEXT_MAX - 1, &a.family, a.a) != 0)
		return WARREN_EFIELD;
	*out = a;
	return 0;
}

static void
w_v4(struct wbuf *w, const uint8_t a[4])
{
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0)
			w_char(w, '.');
		w_dec(w, a[i]);
	}
}

static void
w_hex16(struct wbuf *w, unsigned v)
{
	char d[4];
	int n = 0, shift;

	for (shift = 12; shift >= 0; shift -= 4)
		if ((v >> shift) != 0 || shift == 0)
			d[n++] = hex_lower[(v >> shift) & 0xf];
	w_put(w, d, (size_t)n);
}

/* RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero
 * groups compressed, the first of equal runs. */
static void
w_v6(struct wbuf *w, const uint8_t a[16])
{
	unsigned g[8];
	int i, best = -1, bestlen = 0, run;

	if (v6_is_mapped(a)) {
		w_put(w, "::ffff:", 7);
		w_v4(w, a + 12);
		return;
	}
	for (i = 0; i < 8; i++)
		g[i] = (unsigned)(a[2 * i] << 8 | a[2 * i + 1]);
	for (i = 0; i<8; i += run> 0 ? run : 1) {
		for (run = 0; i + run < 8 && g[i + run] == 0; run++)
			;
		if (run > bestlen) {
			best = i;
			bestlen = run;
		}
	}
	if (bestlen < 2)
		best = -1;
	for (i = 0; i < 8; i++) {
		if (i == best) {
			w_put(w, "::", 2);
			i += bestlen - 1;
			continue;
		}
		if (i > 0 && i != best + bestlen)
			w_char(w, ':');
		w_hex16(w, g[i]);
	}
}

static int
w_addr(struct wbuf *w, const struct chord_addr *a)
{
	if (a->family == AF_INET)
		w_v4(w, a->a);
	else if (a->family == AF_INET6)
		w_v6(w, a->a);
	else
		return WARREN_EFIELD;
	return 0;
}

int
chord_ip_format(const struct chord_addr *a, char *out, size_t cap)
{
	struct wbuf w = {out, cap, 0, 0};

	if (w_addr(&w, a) < 0)
		return WARREN_EFIELD;
	return w_end(&w);
}

int
chord_addr_equal(const struct chord_addr *a, const struct chord_addr *b)
{
	if (a->family != b->family)
		return 0;
	return memcmp(a->a, b->a, a->family == AF_INET ? 4 : 16) == 0;
}

int
chord_addr_sockaddr(
    const struct chord_addr *a, uint16_t port, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (port == 0)
		return WARREN_EFIELD;
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->a, 4);
		return 0;
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a->a, 16);
		return 0;
	}
	return WARREN_EFIELD;
}

int
chord_id_text(const struct chord_addr *a, uint16_t port, char *out, size_t cap)
{
	struct wbuf w = {out, cap, 0, 0};

	if (port == 0 || (a->family != AF_INET && a->family != AF_INET6))
		return WARREN_EFIELD;
	if (a->family == AF_INET6)
		w_char(&w, '[');
	(void)w_addr(&w, a);
	if (a->family == AF_INET6)
		w_char(&w, ']');
	w_char(&w, ':');
	w_dec(&w, port);
	return w_end(&w);
}

/* -------------------------------------------------------------- fields */

int
chord_port_parse(const void *s, size_t len, uint16_t *out)
{
	uint64_t v;

	if (parse_dec(s, len, 5, 65535, &v) < 0 || v == 0)
		return WARREN_EFIELD;
	*out = (uint16_t)v;
	return 0;
}

int
chord_md5_parse(const void *s, size_t len, char out[CHORD_MD5_LEN + 1])
{
	const uint8_t *p = s;
	size_t i;

	if (len != CHORD_MD5_LEN)
		return WARREN_EFIELD;
	for (i = 0; i < len; i++)
		if (wire_hex_value(p[i]) < 0)
			return WARREN_EFIELD;
	for (i = 0; i < len; i++)
		out[i] = hex_lower[wire_hex_value(p[i])];
	out[len] = '\0';
	return 0;
}

/* 1..max bytes of printable ASCII without space (and without ','). */
static int
token_check(const void *s, size_t len, size_t max, int no_comma)
{
	const uint8_t *p = s;
	size_t i;

	if (len == 0 || len > max)
		return WARREN_EFIELD;
	for (i = 0; i < len; i++)
		if (!is_graph(p[i]) || (no_comma && p[i] == ','))
			return WARREN_EFIELD;
	return 0;
}

int
chord_peer_id_check(const void *s, size_t len)
{
	return token_check(s, len, CHORD_PEER_ID_MAX, 1);
}

int
chord_cursor_check(const void *s, size_t len)
{
	return token_check(s, len, CHORD_CURSOR_MAX, 0);
}

int
chord_name_check(const void *s, size_t len)
{
	const char *p = s;

	if (len == 0)
		return WARREN_EEMPTY;
	if (len > CHORD_NAME_MAX)
		return WARREN_ETOOLONG;
	if (has_control(p, len) || p[0] == ' ' || p[len - 1] == ' ')
		return WARREN_EFIELD;
	return 0;
}

int
chord_node_parse(const void *s, size_t len, struct chord_node *out)
{
	const char *p = s, *end = p + len;
	struct chord_str id, ip, port;
	struct chord_node n;

	memset(&n, 0, sizeof(n));
	if (!next_word(&p, end, &id) || !next_word(&p, end, &ip) ||
	    !next_word(&p, end, &port) || !only_spaces(p, end))
		return WARREN_EFIELD;
	if (chord_id_parse(id.ptr, id.len, &n.id) < 0 ||
	    chord_ip_parse(ip.ptr, ip.len, &n.addr) < 0 ||
	    chord_port_parse(port.ptr, port.len, &n.port) < 0)
		return WARREN_EFIELD;
	*out = n;
	return 0;
}

int
chord_node_format(const struct chord_node *n, char *out, size_t cap)
{
	struct wbuf w = {out, cap, 0, 0};
	char id[CHORD_ID_LEN + 1];

	if (n->port == 0)
		return WARREN_EFIELD;
	chord_id_format(&n->id, id);
	w_put(&w, id, CHORD_ID_LEN);
	w_char(&w, ' ');
	if (w_addr(&w, &n->addr) < 0)
		return WARREN_EFIELD;
	w_char(&w, ' ');
	w_dec(&w, n->port);
	return w_end(&w);
}

int
chord_record_parse(const void *s, size_t len, struct chord_record *out)
{
	const char *p = s, *end = p + len;
	struct chord_str md5, size, ip, port;
	struct chord_record r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (!next_word(&p, end, &md5) || !next_word(&p, end, &size) ||
	    !next_word(&p, end, &ip) || !next_word(&p, end, &port))
		return WARREN_EFIELD;
	if (chord_md5_parse(md5.ptr, md5.len, r.md5) < 0 ||
	    parse_dec(size.ptr, size.len, CHORD_SIZE_DIGITS, UINT64_MAX,
		&r.size) < 0 ||
	    chord_ip_parse(ip.ptr, ip.len, &r.holder) < 0 ||
	    chord_port_parse(port.ptr, port.len, &r.port) < 0)
		return WARREN_EFIELD;
	/* The rest of the text is the filename (§3.2). */
	while (p < end && *p == ' ')
		p++;
	while (end > p && end[-1] == ' ')
		end--;
	r.name.ptr = p;
	r.name.len = (size_t)(end - p);
	if ((rc = chord_name_check(r.name.ptr, r.name.len)) < 0)
		return rc;
	*out = r;
	return 0;
}

/* Write a record's fields; the name is stripped, then checked. */
static int
w_record(struct wbuf *w, const struct chord_record *r)
{
	struct chord_str name = r->name;
	char md5[CHORD_MD5_LEN + 1];
	int rc;

	while (name.len > 0 && name.ptr[0] == ' ') {
		name.ptr++;
		name.len--;
	}
	while (name.len > 0 && name.ptr[name.len - 1] == ' ')
		name.len--;
	if ((rc = chord_name_check(name.ptr, name.len)) < 0)
		return rc;
	if (strnlen(r->md5, CHORD_MD5_LEN + 1) != CHORD_MD5_LEN ||
	    chord_md5_parse(r->md5, CHORD_MD5_LEN, md5) < 0 || r->port == 0)
		return WARREN_EFIELD;
	w_put(w, md5, CHORD_MD5_LEN);
	w_char(w, ' ');
	w_dec(w, r->size);
	w_char(w, ' ');
	if (w_addr(w, &r->holder) < 0)
		return WARREN_EFIELD;
	w_char(w, ' ');
	w_dec(w, r->port);
	w_char(w, ' ');
	w_str(w, name);
	return 0;
}

int
chord_record_format(const struct chord_record *r, char *out, size_t cap)
{
	struct wbuf w = {out, cap, 0, 0};
	int rc;

	if ((rc = w_record(&w, r)) < 0)
		return rc;
	return w_end(&w);
}

int
chord_keyed_parse(const void *s, size_t len, struct chord_keyed *out)
{
	const char *p = s, *end = p + len;
	struct chord_str key, ttl;
	struct chord_keyed k;
	uint64_t v;
	int rc;

	memset(&k, 0, sizeof(k));
	if (!next_word(&p, end, &key) || !next_word(&p, end, &ttl))
		return WARREN_EFIELD;
	if (chord_id_parse(key.ptr, key.len, &k.key) < 0 ||
	    parse_dec(ttl.ptr, ttl.len, 10, UINT32_MAX, &v) < 0)
		return WARREN_EFIELD;
	k.ttl = (uint32_t)v;
	if ((rc = chord_record_parse(p, (size_t)(end - p), &k.rec)) < 0)
		return rc;
	*out = k;
	return 0;
}

int
chord_keyed_format(const struct chord_keyed *k, char *out, size_t cap)
{
	struct wbuf w = {out, cap, 0, 0};
	char key[CHORD_ID_LEN + 1];
	int rc;

	chord_id_format(&k->key, key);
	w_put(&w, key, CHORD_ID_LEN);
	w_char(&w, ' ');
	w_dec(&w, k->ttl);
	w_char(&w, ' ');
	if ((rc = w_record(&w, &k->rec)) < 0)
		return rc;
	return w_end(&w);
}

#define ROWID_MAX 9223372036854775807ULL

int
chord_row_parse(const void *s, size_t len, struct chord_row *out)
{
	const char *p = s, *end = p + len, *f[4];
	size_t flen[4];
	struct chord_row r;
	unsigned i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < 4; i++) {
		const char *c = end;

		if (i < 3)
			c = p < end ? memchr(p, ',', (size_t)(end - p)) : NULL;

		if (c == NULL)
			return WARREN_EFIELD;
		f[i] = p;
		flen[i] = (size_t)(c - p);
		p = c < end ? c + 1 : end;
	}
	if (parse_dec(f[0], flen[0], 19, ROWID_MAX, &r.rowid) < 0 ||
	    chord_peer_id_check(f[1], flen[1]) < 0 ||
	    chord_ip_parse(f[2], flen[2], &r.addr) < 0 ||
	    chord_port_parse(f[3], flen[3], &r.port) < 0)
		return WARREN_EFIELD;
	r.peer_id.ptr = f[1];
	r.peer_id.len = flen[1];
	*out = r;
	return 0;
}

int
chord_row_format(const struct chord_row *r, char *out, size_t cap)
{
	struct wbuf w = {out, cap, 0, 0};

	if (r->rowid > ROWID_MAX || r->port == 0 ||
	    chord_peer_id_check(r->peer_id.ptr, r->peer_id.len) < 0)
		return WARREN_EFIELD;
	w_dec(&w, r->rowid);
	w_char(&w, ',');
	w_str(&w, r->peer_id);
	w_char(&w, ',');
	if (w_addr(&w, &r->addr) < 0)
		return WARREN_EFIELD;
	w_char(&w, ',');
	w_dec(&w, r->port);
	return w_end(&w);
}

/* ------------------------------------------------------------ keywords */

/* Bytes that belong to a keyword: ASCII letters and digits, and >= 0x80. */
static int
is_kw_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    is_digit(c) || c >= 0x80;
}

void
chord_keywords_init(struct chord_keywords *it, const void *s, size_t len)
{
	memset(it, 0, sizeof(*it));
	it->p = s;
	it->end = len > 0 ? it->p + len : it->p;
}

int
chord_keywords_next(struct chord_keywords *it, char out[CHORD_KEYWORD_MAX + 1])
{
	const uint8_t *start;
	size_t n, i;
	unsigned k;

	while (it->n < CHORD_KEYWORDS_MAX && it->p < it->end) {
		while (it->p < it->end && !is_kw_byte(*it->p))
			it->p++;
		start = it->p;
		while (it->p < it->end && is_kw_byte(*it->p))
			it->p++;
		n = (size_t)(it->p - start);
		if (n < CHORD_KEYWORD_MIN || n > CHORD_KEYWORD_MAX)
			continue;
		for (i = 0; i < n; i++) {
			uint8_t c = start[i];

			out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		out[n] = '\0';
		for (k = 0; k < it->n; k++)
			if (it->len[k] == n && memcmp(it->kw[k], out, n) == 0)
				break;
		if (k < it->n)
			continue; /* a repeat */
		memcpy(it->kw[it->n], out, n);
		it->len[it->n++] = (uint8_t)n;
		return (int)n;
	}
	return 0;
}
