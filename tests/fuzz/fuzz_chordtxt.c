/*
 * fuzz_chordtxt.c: libFuzzer target for the Chord/introducer text codec.
 * The input is read as a request line, as a whole response, as a
 * response streamed in chunks (sizes from the first byte), and its tail
 * as every field; three identifiers from its first 60 bytes exercise the
 * ring arithmetic. Whatever decodes must re-encode to something that
 * decodes to the same values; views stay inside the input; every proper
 * prefix of a frame needs more. Any violated invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/chordtxt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Room for re-encoded frames. */
static char out[CHORD_STATUS_MAX + CHORD_DATA_MAX];
static char out2[CHORD_LINE_MAX * 2];

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_inside(struct chord_str v, const uint8_t *base, size_t n)
{
	if (v.len == 0)
		return;
	check((const uint8_t *)v.ptr >= base &&
	    (const uint8_t *)v.ptr + v.len <= base + n);
}

static int
str_eq(struct chord_str a, struct chord_str b)
{
	return a.len == b.len &&
	    (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int
no_control(struct chord_str s)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if ((uint8_t)s.ptr[i] < 0x20 || s.ptr[i] == 0x7f)
			return 0;
	return 1;
}

/* ---------------------------------------------------------- requests */

static void
fuzz_request(const uint8_t *p, size_t n)
{
	struct chord_request r, again;
	struct chord_str args[CHORD_ARGS_MAX];
	struct chord_join j;
	unsigned i;
	int rc, len;

	rc = chord_request_parse(p, n, &r);
	if (rc <= 0) {
		check(rc == 0 || rc == WARREN_ETOOLONG || rc == WARREN_EEMPTY ||
		    rc == WARREN_EFIELD);
		if (rc == 0)
			check(n < CHORD_LINE_MAX && memchr(p, '\n', n) == NULL);
		return;
	}
	check((size_t)rc <= n && (size_t)rc <= CHORD_LINE_MAX);
	check(p[rc - 1] == '\n' && memchr(p, '\n', (size_t)rc - 1) == NULL);
	check(r.name.len > 0);
	check_inside(r.name, p, (size_t)rc);
	check_inside(r.line, p, (size_t)rc);
	check(r.line.ptr == r.name.ptr && no_control(r.line));
	check(r.op == chord_op_parse(r.name.ptr, r.name.len));
	for (i = 0; i < r.nargs && i < CHORD_ARGS_MAX; i++) {
		struct chord_str t = chord_request_tail(&r, i);

		check(r.args[i].len > 0);
		check(memchr(r.args[i].ptr, ' ', r.args[i].len) == NULL);
		check_inside(r.args[i], p, (size_t)rc);
		check(t.ptr == r.args[i].ptr && t.len >= r.args[i].len);
		check(t.ptr + t.len == r.line.ptr + r.line.len);
	}
	/* Every proper prefix needs more. */
	check(chord_request_parse(p, (size_t)rc - 1, &again) == 0);
	check(chord_request_parse(p, (size_t)rc / 2, &again) == 0);
	/* JOIN: its fields are what the parsers say. */
	if (chord_join_parse(&r, &j) == 0) {
		check(r.op == CHORD_OP_JOIN && (r.nargs == 2 || r.nargs == 3));
		check(chord_peer_id_check(j.peer_id.ptr, j.peer_id.len) == 0);
		check(j.port >= 1);
	}
	/* Re-encode in canonical form when the op is well formed. */
	if (r.nargs > CHORD_ARGS_MAX)
		return;
	for (i = 0; i < r.nargs; i++)
		args[i] = r.args[i];
	len = chord_request_encode(r.name, args, r.nargs, out2, sizeof(out2));
	if (len == WARREN_EFIELD) {
		/* Only an op that is not upper case and '_'. */
		check(r.op == CHORD_OP_UNKNOWN);
		return;
	}
	if (len == WARREN_ETOOLONG) {
		/* 512 bytes ended by a bare LF: CRLF makes 513. */
		check(rc == CHORD_LINE_MAX && p[rc - 2] != '\r');
		return;
	}
	check(len > 0 && len <= rc + 1);
	check(chord_request_parse(out2, (size_t)len, &again) == len);
	check(again.op == r.op && again.nargs == r.nargs &&
	    str_eq(again.name, r.name));
	for (i = 0; i < r.nargs; i++)
		check(str_eq(again.args[i], r.args[i]));
}

/* --------------------------------------------------------- responses */

static void
fuzz_response(const uint8_t *p, size_t n)
{
	struct chord_status st, st2;
	struct chord_str data, line, d2;
	struct chord_out o;
	unsigned lines = 0;
	int rc, len;

	rc = chord_response_parse(p, n, &st, &data);
	if (rc <= 0) {
		check(rc == 0 || rc == WARREN_ETOOLONG || rc == WARREN_EFIELD ||
		    rc == WARREN_ELIMIT || rc == WARREN_EPROTO ||
		    rc == WARREN_EEMPTY);
		return;
	}
	check((size_t)rc <= n);
	check(st.code >= 100 && st.code <= 599 && st.msg.len > 0);
	check(st.len <= CHORD_DATA_MAX && data.len == st.len);
	check((const uint8_t *)data.ptr + data.len == p + rc);
	check_inside(st.msg, p, (size_t)rc);
	check_inside(st.cursor, p, (size_t)rc);
	if (st.cursor.len > 0)
		check(st.code == 200 &&
		    chord_cursor_check(st.cursor.ptr, st.cursor.len) == 0);
	check(chord_response_parse(p, (size_t)rc - 1, &st2, &d2) == 0);

	/* Rebuild: the same lines under the same status. */
	check(chord_out_begin(&o, out, sizeof(out)) == 0);
	while (chord_lines_next(&data, &line)) {
		check(line.len > 0 && line.len <= CHORD_DATA_LINE_MAX);
		check(no_control(line));
		check_inside(line, p, (size_t)rc);
		check(chord_out_line(&o, line.ptr, line.len) > 0);
		lines++;
	}
	check(data.len == 0 && o.lines == lines);
	if (st.cursor.len > 0)
		len = chord_out_end_more(&o, st.cursor);
	else
		len = chord_out_end(&o, st.code, st.msg);
	if (len == WARREN_EFIELD)
		return; /* a MSG with runs of spaces is not re-sent */
	check(len > 0);
	check(chord_response_parse(out, (size_t)len, &st2, &d2) == len);
	check(st2.code == st.code && str_eq(st2.cursor, st.cursor));
	if (st.cursor.len == 0)
		check(str_eq(st2.msg, st.msg));
	/* Bare LF line ends come back as CRLF: LEN can only grow. */
	check(st2.len == o.len && st2.len >= st.len);
}

/* The same response fed in chunks of `step` bytes to chord_reader. */
static void
fuzz_stream(const uint8_t *p, size_t n, size_t step)
{
	struct chord_reader rd;
	struct chord_status st, whole;
	struct chord_str line, data;
	size_t have = 0, start = 0, lines = 0;
	int rc = 0, in_data = 0, want;

	want = chord_response_parse(p, n, &whole, &data);
	chord_reader_init(&rd);
	while (have < n && rc >= 0 && !chord_reader_done(&rd)) {
		have = have + step < n ? have + step : n;
		for (;;) {
			if (!in_data)
				rc = chord_reader_status(
				    &rd, p + start, have - start, &st);
			else
				rc = chord_reader_line(
				    &rd, p + start, have - start, &line);
			if (rc <= 0)
				break;
			if (in_data) {
				check(line.ptr == (const char *)p + start);
				lines++;
			}
			in_data = 1;
			start += (size_t)rc;
			if (chord_reader_done(&rd))
				break;
		}
	}
	if (chord_reader_done(&rd)) {
		check(want > 0 && (size_t)want == start);
		check(rd.lines == lines && rd.left == 0);
		check(
		    rd.status.code == whole.code && rd.status.len == whole.len);
	} else if (rc < 0) {
		check(want == rc);
	} else {
		check(want == 0);
	}
}

/* ------------------------------------------------------------ fields */

static void
fuzz_fields(const uint8_t *p, size_t n)
{
	struct chord_addr a, b;
	struct chord_node nd, nd2;
	struct chord_record r, r2;
	struct chord_keyed k, k2;
	struct chord_row row, row2;
	struct chord_id id, id2;
	struct chord_keywords it;
	struct sockaddr_storage ss;
	char text[CHORD_LINE_MAX], hex[CHORD_ID_LEN + 1],
	    kw[CHORD_KEYWORD_MAX + 1];
	char md5[CHORD_MD5_LEN + 1];
	uint16_t port;
	int len, kl;

	if (chord_id_parse(p, n, &id) == 0) {
		chord_id_format(&id, hex);
		check(chord_id_is_canonical(hex, CHORD_ID_LEN));
		check(chord_id_parse(hex, CHORD_ID_LEN, &id2) == 0 &&
		    chord_id_cmp(&id, &id2) == 0);
	}
	if (chord_id_is_canonical(p, n))
		check(chord_id_parse(p, n, &id) == 0);
	if (chord_ip_parse(p, n, &a) == 0) {
		check(a.family == AF_INET || a.family == AF_INET6);
		len = chord_ip_format(&a, text, CHORD_IP_TEXT_MAX);
		check(len > 0 && (size_t)len == strlen(text));
		check(chord_ip_parse(text, (size_t)len, &b) == 0 &&
		    chord_addr_equal(&a, &b));
		check(chord_addr_sockaddr(&a, 1, &ss) == 0 &&
		    ss.ss_family == a.family);
		len = chord_id_text(&a, 65535, text, CHORD_ID_TEXT_MAX);
		check(len > 0 && (size_t)len < CHORD_ID_TEXT_MAX);
	}
	if (chord_port_parse(p, n, &port) == 0)
		check(port >= 1 && n <= 5);
	if (chord_md5_parse(p, n, md5) == 0)
		check(strspn(md5, "0123456789abcdef") == CHORD_MD5_LEN);
	if (chord_peer_id_check(p, n) == 0)
		check(n >= 1 && n <= 64 && memchr(p, ',', n) == NULL &&
		    memchr(p, ' ', n) == NULL);
	if (chord_cursor_check(p, n) == 0)
		check(n >= 1 && n <= 200 && memchr(p, ' ', n) == NULL);
	if (chord_name_check(p, n) == 0)
		check(n >= 1 && n <= 100 && memchr(p, '\n', n) == NULL);

	if (chord_node_parse(p, n, &nd) == 0) {
		len = chord_node_format(&nd, text, CHORD_NODE_LINE_MAX);
		check(len > 0);
		check(chord_node_parse(text, (size_t)len, &nd2) == 0);
		check(chord_id_cmp(&nd.id, &nd2.id) == 0 &&
		    chord_addr_equal(&nd.addr, &nd2.addr) &&
		    nd.port == nd2.port);
	}
	if (chord_record_parse(p, n, &r) == 0) {
		check_inside(r.name, p, n);
		check(chord_name_check(r.name.ptr, r.name.len) == 0);
		len = chord_record_format(&r, text, sizeof(text));
		check(len > 0);
		check(chord_record_parse(text, (size_t)len, &r2) == 0);
		check(strcmp(r.md5, r2.md5) == 0 && r.size == r2.size &&
		    chord_addr_equal(&r.holder, &r2.holder) &&
		    r.port == r2.port && str_eq(r.name, r2.name));
	}
	if (chord_keyed_parse(p, n, &k) == 0) {
		check_inside(k.rec.name, p, n);
		len = chord_keyed_format(&k, text, sizeof(text));
		check(len > 0);
		check(chord_keyed_parse(text, (size_t)len, &k2) == 0);
		check(chord_id_cmp(&k.key, &k2.key) == 0 && k.ttl == k2.ttl &&
		    strcmp(k.rec.md5, k2.rec.md5) == 0 &&
		    str_eq(k.rec.name, k2.rec.name));
	}
	if (chord_row_parse(p, n, &row) == 0) {
		check_inside(row.peer_id, p, n);
		len = chord_row_format(&row, text, sizeof(text));
		check(len > 0);
		check(chord_row_parse(text, (size_t)len, &row2) == 0);
		check(row.rowid == row2.rowid &&
		    str_eq(row.peer_id, row2.peer_id) &&
		    chord_addr_equal(&row.addr, &row2.addr) &&
		    row.port == row2.port);
	}

	chord_keywords_init(&it, p, n);
	{
		unsigned count = 0;

		while ((kl = chord_keywords_next(&it, kw)) > 0) {
			size_t i;

			check(kl >= CHORD_KEYWORD_MIN &&
			    kl <= CHORD_KEYWORD_MAX &&
			    (size_t)kl == strlen(kw));
			for (i = 0; i < (size_t)kl; i++)
				check(!((uint8_t)kw[i] >= 'A' &&
					  (uint8_t)kw[i] <= 'Z') &&
				    ((uint8_t)kw[i] >= 0x80 ||
					((uint8_t)kw[i] >= 'a' &&
					    (uint8_t)kw[i] <= 'z') ||
					((uint8_t)kw[i] >= '0' &&
					    (uint8_t)kw[i] <= '9')));
			count++;
		}
		check(count <= CHORD_KEYWORDS_MAX);
		check(chord_keywords_next(&it, kw) == 0);
	}
}

/* ------------------------------------------------------------ ring */

static void
fuzz_ring(const uint8_t *p)
{
	struct chord_id x, a, b, s1, s2, s3;
	unsigned i;

	memcpy(x.b, p, CHORD_ID_BYTES);
	memcpy(a.b, p + 20, CHORD_ID_BYTES);
	memcpy(b.b, p + 40, CHORD_ID_BYTES);
	check(chord_id_between_incl(&x, &a, &b) ==
	    (chord_id_between(&x, &a, &b) || chord_id_cmp(&x, &b) == 0));
	check(!chord_id_between(&a, &a, &b) && !chord_id_between(&b, &a, &b));
	if (chord_id_cmp(&a, &b) == 0) {
		check(chord_id_between(&x, &a, &a) ==
		    (chord_id_cmp(&x, &a) != 0));
		check(chord_id_between_incl(&x, &a, &a));
	} else if (chord_id_cmp(&x, &a) != 0 && chord_id_cmp(&x, &b) != 0) {
		/* Two distinct ends split the rest of the ring in two. */
		check(chord_id_between(&x, &a, &b) !=
		    chord_id_between(&x, &b, &a));
	}
	i = p[0] % (CHORD_ID_BITS - 1);
	chord_id_add_pow2(&x, i, &s1);
	chord_id_add_pow2(&s1, i, &s2);
	chord_id_add_pow2(&x, i + 1, &s3);
	check(chord_id_cmp(&s2, &s3) == 0);
	check(chord_id_cmp(&s1, &x) != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request(data, size);
	fuzz_response(data, size);
	if (size == 0)
		return 0;
	fuzz_stream(data + 1, size - 1, (size_t)(data[0] % 17) + 1);
	fuzz_fields(data + 1, size - 1);
	if (size >= 60)
		fuzz_ring(data);
	return 0;
}
