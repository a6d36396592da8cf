/*
 * test_chordtxt.c: unit tests of the Chord/introducer text codec
 * (src/wire/chordtxt.c) against chord.md: every worked example of §4 byte
 * for byte in both directions, every proper prefix ("need more"), one byte
 * at a time through the streaming reader, the bad inputs of §5, ring
 * intervals at their edges, finger starts, keywords, and address texts.
 * Inputs are copied into heap blocks of exactly their length, and
 * encoders write into blocks of exactly their capacity, so that
 * AddressSanitizer catches any access past either end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "warren/error.h"
#include "wire/chordtxt.h"

/* ------------------------------------------------------------ fixtures */

#define N1_ID  "c18d70378a501332d44491b30c826156b30fcc90"
#define N2_ID  "53f5ff6630002b87390834acfa0e33e0676a8622"
#define N3_ID  "4f3ad5732ccf9068fcfff6ed0276b0672b7eec00"
#define N4_ID  "f0a576a168acfd15f3cd1e4308e90b73a9f1ca8e"
#define N5_ID  "21f1e6a9ee7ccede4cb270bbe1d579158191390c"
#define REPORT "a27297bde9732f2e73fbc06db2611764e3ad9855"
#define MD5_A  "0f53217fc7c8e7f89e8a8558e64a7083"
#define MD5_Q  "2f05ced2f204c9f916bfc714e630b7cf"
#define CURSOR REPORT "," MD5_Q ",192.168.1.11,3000"

/* §4: requests, exactly as sent. */
static const char join_req[] = "JOIN " N3_ID " 192.168.1.12 7495\r\n";
static const char delete_req[] = "DELETE " N3_ID "\r\n";
static const char foo_req[] = "FOO a b c\r\n";
static const char find_req[] = "FIND_SUCCESSOR " REPORT "\r\n";
static const char getpred_req[] = "GET_PREDECESSOR\r\n";
static const char getsucc_req[] = "GET_SUCCESSORS\r\n";
static const char notify_req[] = "NOTIFY " N3_ID " 192.168.1.12 7495\r\n";
static const char ping_req[] = "PING\r\n";
static const char put_req[] = "PUT " REPORT " " MD5_Q
			      " 600320 192.168.1.11 3000 Q3 report.pdf\r\n";
static const char get_req[] = "GET " REPORT "\r\n";
static const char get0_req[] =
    "GET 0000000000000000000000000000000000000000\r\n";
static const char list_req[] = "LIST\r\n";
static const char list2_req[] = "LIST " CURSOR "\r\n";

/* §4: responses, exactly as sent. */
static const char join_resp[] = "200 OK 124\r\n"
				"1," N1_ID ",192.168.1.10,7495\r\n"
				"2," N2_ID ",192.168.1.11,7495\r\n";
static const char ok0_resp[] = "200 OK 0\r\n";
static const char unknown_resp[] = "404 OPERATION UNKNOWN 0\r\n";
static const char next_resp[] = "302 NEXT 60\r\n" N2_ID
				" 192.168.1.11 7495\r\n";
static const char found_resp[] = "200 OK 60\r\n" N1_ID " 192.168.1.10 7495\r\n";
static const char pred_resp[] = "200 OK 60\r\n" N3_ID " 192.168.1.12 7495\r\n";
static const char succ_resp[] = "200 OK 236\r\n" N5_ID
				" fd00::20 7495\r\n" N3_ID
				" 192.168.1.12 7495\r\n" N2_ID
				" 192.168.1.11 7495\r\n" N1_ID
				" 192.168.1.10 7495\r\n";
static const char get_resp[] =
    "200 OK 149\r\n" MD5_A
    " 10000 192.168.1.10 3000 Annual_Report.pdf\r\n" MD5_Q
    " 600320 192.168.1.11 3000 Q3 report.pdf\r\n";
static const char notfound_resp[] = "404 NOT FOUND 0\r\n";
static const char list_resp[] =
    "200 MORE " CURSOR " 241\r\n" REPORT " 1740 " MD5_A
    " 10000 192.168.1.10 3000 Annual_Report.pdf\r\n" REPORT " 1795 " MD5_Q
    " 600320 192.168.1.11 3000 Q3 report.pdf\r\n";

static const char *const all_requests[] = {join_req, delete_req, foo_req,
    find_req, getpred_req, getsucc_req, notify_req, ping_req, put_req, get_req,
    get0_req, list_req, list2_req};
static const char *const all_responses[] = {join_resp, ok0_resp, unknown_resp,
    next_resp, found_resp, pred_resp, succ_resp, get_resp, notfound_resp,
    list_resp};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Blocks handed out by guard(), freed after each test. */
static void *blocks[512];
static size_t nblocks;

/* A copy of p[0:n) in a heap block of exactly n bytes (ASan guard). */
static char *
guard(const void *p, size_t n)
{
	char *b = malloc(n > 0 ? n : 1);

	assert_non_null(b);
	if (n > 0 && p != NULL)
		memcpy(b, p, n);
	if (nblocks == NELEM(blocks)) {
		free(blocks[0]);
		memmove(blocks, blocks + 1, sizeof(blocks) - sizeof(blocks[0]));
		nblocks--;
	}
	blocks[nblocks++] = b;
	return b;
}

static int
teardown_blocks(void **state)
{
	(void)state;
	while (nblocks > 0)
		free(blocks[--nblocks]);
	return 0;
}

static struct chord_str
str(const char *s)
{
	return (struct chord_str){s, strlen(s)};
}

static void
assert_view(struct chord_str v, const char *expect)
{
	if (v.len != strlen(expect) ||
	    (v.len > 0 && memcmp(v.ptr, expect, v.len) != 0))
		fail_msg("view \"%.*s\" is not \"%s\"", (int)v.len,
		    v.ptr ? v.ptr : "", expect);
}

static struct chord_id
id(const char *hex)
{
	struct chord_id i;

	assert_int_equal(chord_id_parse(hex, strlen(hex), &i), 0);
	return i;
}

static struct chord_addr
addr(const char *text)
{
	struct chord_addr a;

	assert_int_equal(chord_ip_parse(text, strlen(text), &a), 0);
	return a;
}

/* chord_request_parse() on a guarded copy of s. */
static int
req_parse(const char *s, struct chord_request *r)
{
	size_t n = strlen(s);

	return chord_request_parse(guard(s, n), n, r);
}

static int
status_parse(const char *s, struct chord_status *st)
{
	size_t n = strlen(s);

	return chord_status_parse(guard(s, n), n, st);
}

/* -------------------------------------------------------- §4 requests */

static void
test_requests_of_section4(void **state)
{
	struct chord_request r;
	struct chord_node node;
	struct chord_record rec;
	struct chord_join j;
	char ip[CHORD_IP_TEXT_MAX];

	(void)state;
	assert_int_equal(req_parse(join_req, &r), strlen(join_req));
	assert_int_equal(r.op, CHORD_OP_JOIN);
	assert_int_equal(r.nargs, 3);
	assert_view(r.name, "JOIN");
	assert_view(r.args[0], N3_ID);
	assert_view(r.args[1], "192.168.1.12");
	assert_view(r.args[2], "7495");
	assert_int_equal(chord_join_parse(&r, &j), 0);
	assert_view(j.peer_id, N3_ID);
	assert_int_equal(j.port, 7495);
	assert_int_equal(chord_ip_format(&j.addr, ip, sizeof(ip)), 12);
	assert_string_equal(ip, "192.168.1.12");

	assert_int_equal(req_parse(delete_req, &r), strlen(delete_req));
	assert_int_equal(r.op, CHORD_OP_DELETE);
	assert_int_equal(r.nargs, 1);
	assert_view(r.args[0], N3_ID);

	assert_int_equal(req_parse(foo_req, &r), strlen(foo_req));
	assert_int_equal(r.op, CHORD_OP_UNKNOWN);
	assert_view(r.name, "FOO");
	assert_int_equal(r.nargs, 3);
	assert_view(r.args[2], "c");

	assert_int_equal(req_parse(find_req, &r), strlen(find_req));
	assert_int_equal(r.op, CHORD_OP_FIND_SUCCESSOR);
	assert_int_equal(r.nargs, 1);
	assert_view(r.args[0], REPORT);

	assert_int_equal(req_parse(getpred_req, &r), strlen(getpred_req));
	assert_int_equal(r.op, CHORD_OP_GET_PREDECESSOR);
	assert_int_equal(r.nargs, 0);
	assert_int_equal(req_parse(getsucc_req, &r), strlen(getsucc_req));
	assert_int_equal(r.op, CHORD_OP_GET_SUCCESSORS);
	assert_int_equal(req_parse(ping_req, &r), strlen(ping_req));
	assert_int_equal(r.op, CHORD_OP_PING);
	assert_int_equal(r.nargs, 0);

	assert_int_equal(req_parse(notify_req, &r), strlen(notify_req));
	assert_int_equal(r.op, CHORD_OP_NOTIFY);
	assert_int_equal(r.nargs, 3);
	{
		struct chord_str t = chord_request_tail(&r, 0);

		struct chord_id n3 = id(N3_ID);

		assert_int_equal(chord_node_parse(t.ptr, t.len, &node), 0);
		assert_int_equal(chord_id_cmp(&node.id, &n3), 0);
		assert_int_equal(
		    chord_ip_format(&node.addr, ip, sizeof(ip)), 12);
		assert_string_equal(ip, "192.168.1.12");
		assert_int_equal(node.port, 7495);
	}

	/* The PUT line is 118 bytes; its filename has a space. */
	assert_int_equal(strlen(put_req), 118);
	assert_int_equal(req_parse(put_req, &r), 118);
	assert_int_equal(r.op, CHORD_OP_PUT);
	assert_int_equal(r.nargs, 7);
	assert_true(chord_op_argc_ok(CHORD_OP_PUT, r.nargs));
	assert_view(r.args[0], REPORT);
	{
		struct chord_str t = chord_request_tail(&r, 1);

		assert_view(t, MD5_Q " 600320 192.168.1.11 3000 Q3 report.pdf");
		assert_int_equal(chord_record_parse(t.ptr, t.len, &rec), 0);
	}
	assert_string_equal(rec.md5, MD5_Q);
	assert_int_equal(rec.size, 600320);
	assert_int_equal(rec.port, 3000);
	assert_view(rec.name, "Q3 report.pdf");
	assert_int_equal(chord_ip_format(&rec.holder, ip, sizeof(ip)), 12);
	assert_string_equal(ip, "192.168.1.11");

	assert_int_equal(req_parse(get_req, &r), strlen(get_req));
	assert_int_equal(r.op, CHORD_OP_GET);
	assert_int_equal(req_parse(get0_req, &r), strlen(get0_req));
	assert_int_equal(r.op, CHORD_OP_GET);
	assert_view(r.args[0], "0000000000000000000000000000000000000000");

	assert_int_equal(req_parse(list_req, &r), strlen(list_req));
	assert_int_equal(r.op, CHORD_OP_LIST);
	assert_int_equal(r.nargs, 0);
	assert_int_equal(req_parse(list2_req, &r), strlen(list2_req));
	assert_int_equal(r.op, CHORD_OP_LIST);
	assert_int_equal(r.nargs, 1);
	assert_view(r.args[0], CURSOR);
	assert_int_equal(chord_cursor_check(r.args[0].ptr, r.args[0].len), 0);
}

/* Every §4 request re-encodes to its own bytes, in an exact-size block. */
static void
test_request_encode_section4(void **state)
{
	struct chord_request r;
	struct chord_str args[CHORD_ARGS_MAX];
	size_t i, n;
	unsigned k;
	char *out;

	(void)state;
	for (i = 0; i < NELEM(all_requests); i++) {
		n = strlen(all_requests[i]);
		assert_int_equal(req_parse(all_requests[i], &r), n);
		for (k = 0; k < r.nargs; k++)
			args[k] = r.args[k];
		if (r.op == CHORD_OP_PUT) {
			/* key + the record as one argument */
			args[1] = chord_request_tail(&r, 1);
			r.nargs = 2;
		}
		out = guard(NULL, n);
		assert_int_equal(
		    chord_request_encode(r.name, args, r.nargs, out, n), n);
		assert_memory_equal(out, all_requests[i], n);
		/* One byte less does not fit. */
		assert_int_equal(
		    chord_request_encode(r.name, args, r.nargs, out, n - 1),
		    WARREN_ESPACE);
	}
}

/* Every proper prefix of a request needs more; so does one byte at a
 * time until the LF. */
static void
test_request_prefixes(void **state)
{
	struct chord_request r;
	size_t i, k, n;

	(void)state;
	for (i = 0; i < NELEM(all_requests); i++) {
		n = strlen(all_requests[i]);
		for (k = 0; k < n; k++)
			assert_int_equal(chord_request_parse(
					     guard(all_requests[i], k), k, &r),
			    0);
		/* Extra bytes after the line are not consumed. */
		{
			char *two = guard(NULL, 2 * n);

			memcpy(two, all_requests[i], n);
			memcpy(two + n, all_requests[i], n);
			assert_int_equal(
			    chord_request_parse(two, 2 * n, &r), (int)n);
		}
	}
}

static void
test_request_tolerance(void **state)
{
	struct chord_request r;
	struct chord_record rec;
	struct chord_str t;

	(void)state;
	/* Trailing space, bare LF, runs of spaces, leading spaces. */
	assert_int_equal(req_parse("PING \r\n", &r), 7);
	assert_int_equal(r.op, CHORD_OP_PING);
	assert_int_equal(r.nargs, 0);
	assert_view(r.line, "PING");
	assert_int_equal(req_parse("PING\n", &r), 5);
	assert_int_equal(r.op, CHORD_OP_PING);
	assert_int_equal(req_parse("PING   \n", &r), 8);
	assert_int_equal(r.nargs, 0);
	assert_int_equal(req_parse("JOIN  a   1.2.3.4    9 \r\n", &r), 25);
	assert_int_equal(r.nargs, 3);
	assert_view(r.args[0], "a");
	assert_view(r.args[1], "1.2.3.4");
	assert_view(r.args[2], "9");
	assert_int_equal(req_parse("  GET x\r\n", &r), 9);
	assert_int_equal(r.op, CHORD_OP_GET);
	assert_view(r.args[0], "x");
	/* Ops are case-sensitive: anything else is unknown, not an error. */
	assert_int_equal(req_parse("ping\r\n", &r), 6);
	assert_int_equal(r.op, CHORD_OP_UNKNOWN);
	assert_view(r.name, "ping");
	assert_int_equal(req_parse("PINGX\r\n", &r), 7);
	assert_int_equal(r.op, CHORD_OP_UNKNOWN);

	/* The filename keeps its inner spaces; trailing ones go, and so do
	 * the spaces between the port and the name. */
	assert_int_equal(req_parse("PUT " REPORT " " MD5_Q
				   " 1 10.0.0.1  3000   my  file .txt  \r\n",
			     &r),
	    strlen("PUT " REPORT " " MD5_Q
		   " 1 10.0.0.1  3000   my  file .txt  \r\n"));
	t = chord_request_tail(&r, 1);
	assert_int_equal(chord_record_parse(t.ptr, t.len, &rec), 0);
	assert_view(rec.name, "my  file .txt");
	assert_int_equal(rec.port, 3000);
	assert_int_equal(rec.size, 1);

	/* Many arguments: counted beyond the views kept. */
	{
		char line[CHORD_LINE_MAX];
		size_t n = 0;
		int i;

		n += (size_t)snprintf(line, sizeof(line), "DELETE");
		for (i = 0; i < 100; i++)
			n += (size_t)snprintf(
			    line + n, sizeof(line) - n, " a%d", i);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\r\n");
		assert_int_equal(
		    chord_request_parse(guard(line, n), n, &r), (int)n);
		assert_int_equal(r.nargs, 100);
		assert_view(r.args[CHORD_ARGS_MAX - 1], "a15");
		assert_int_equal(chord_request_tail(&r, CHORD_ARGS_MAX).len, 0);
		assert_true(chord_op_argc_ok(CHORD_OP_DELETE, 100));
	}
}

static void
test_request_limits(void **state)
{
	char line[CHORD_LINE_MAX + 8];
	struct chord_request r;

	(void)state;
	/* 510 bytes + CRLF = 512: fits. 511 + LF = 512: fits. */
	memset(line, 'A', sizeof(line));
	memcpy(line, "GET ", 4);
	memcpy(line + 510, "\r\n", 2);
	assert_int_equal(chord_request_parse(guard(line, 512), 512, &r), 512);
	assert_int_equal(r.nargs, 1);
	assert_int_equal(r.args[0].len, 506);
	memset(line, 'A', sizeof(line));
	memcpy(line, "GET ", 4);
	line[511] = '\n';
	assert_int_equal(chord_request_parse(guard(line, 512), 512, &r), 512);
	/* 511 + CRLF = 513: too long, known at 512 bytes. */
	memset(line, 'A', sizeof(line));
	memcpy(line, "GET ", 4);
	memcpy(line + 511, "\r\n", 2);
	assert_int_equal(
	    chord_request_parse(guard(line, 513), 513, &r), WARREN_ETOOLONG);
	assert_int_equal(
	    chord_request_parse(guard(line, 512), 512, &r), WARREN_ETOOLONG);
	assert_int_equal(chord_request_parse(guard(line, 511), 511, &r), 0);
	/* 600 bytes without a line end (§5). */
	{
		char big[600];

		memset(big, 'x', sizeof(big));
		assert_int_equal(chord_request_parse(guard(big, 600), 600, &r),
		    WARREN_ETOOLONG);
	}
	/* Empty and blank lines; control bytes. */
	assert_int_equal(req_parse("\r\n", &r), WARREN_EEMPTY);
	assert_int_equal(req_parse("\n", &r), WARREN_EEMPTY);
	assert_int_equal(req_parse("    \r\n", &r), WARREN_EEMPTY);
	assert_int_equal(req_parse("PING\r\r\n", &r), WARREN_EFIELD);
	assert_int_equal(req_parse("PI\rNG\r\n", &r), WARREN_EFIELD);
	assert_int_equal(req_parse("GET\ta\r\n", &r), WARREN_EFIELD);
	assert_int_equal(req_parse("GET a\x7f\r\n", &r), WARREN_EFIELD);
	assert_int_equal(
	    chord_request_parse(guard("GET \0a\r\n", 8), 8, &r), WARREN_EFIELD);
	/* Bytes >= 0x80 are fine (UTF-8 filenames). */
	assert_int_equal(req_parse("GET caf\xc3\xa9\r\n", &r), 11);
}

static void
test_request_encode_refusals(void **state)
{
	char out[CHORD_LINE_MAX + 16];
	struct chord_str a[2];
	char big[CHORD_LINE_MAX];

	(void)state;
	assert_int_equal(
	    chord_request_encode(str("PING"), NULL, 0, out, sizeof(out)), 6);
	assert_memory_equal(out, "PING\r\n", 6);
	assert_int_equal(
	    chord_request_encode(str("ping"), NULL, 0, out, sizeof(out)),
	    WARREN_EFIELD);
	assert_int_equal(
	    chord_request_encode(str(""), NULL, 0, out, sizeof(out)),
	    WARREN_EFIELD);
	a[0] = str("");
	assert_int_equal(
	    chord_request_encode(str("GET"), a, 1, out, sizeof(out)),
	    WARREN_EEMPTY);
	a[0] = str(" x");
	assert_int_equal(
	    chord_request_encode(str("GET"), a, 1, out, sizeof(out)),
	    WARREN_EFIELD);
	a[0] = str("x ");
	assert_int_equal(
	    chord_request_encode(str("GET"), a, 1, out, sizeof(out)),
	    WARREN_EFIELD);
	a[0] = str("x\r\ny");
	assert_int_equal(
	    chord_request_encode(str("GET"), a, 1, out, sizeof(out)),
	    WARREN_EFIELD);
	/* 512 bytes with CRLF fit; 513 do not, whatever the buffer. */
	memset(big, 'k', sizeof(big));
	a[0] = (struct chord_str){big, 506};
	assert_int_equal(
	    chord_request_encode(str("GET"), a, 1, out, sizeof(out)), 512);
	a[0] = (struct chord_str){big, 507};
	assert_int_equal(
	    chord_request_encode(str("GET"), a, 1, out, sizeof(out)),
	    WARREN_ETOOLONG);
	assert_int_equal(
	    chord_request_encode(str("GET"), a, 1, out, 10), WARREN_ETOOLONG);
	a[0] = (struct chord_str){big, 10};
	assert_int_equal(
	    chord_request_encode(str("GET"), a, 1, out, 10), WARREN_ESPACE);
}

static void
test_join_parse(void **state)
{
	struct chord_request r;
	struct chord_join j;
	char ip[CHORD_IP_TEXT_MAX];

	(void)state;
	/* The older 2-argument form: port 7495. */
	assert_true(req_parse("JOIN 7 10.0.0.7\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), 0);
	assert_view(j.peer_id, "7");
	assert_int_equal(j.port, CHORD_NODE_PORT);
	assert_true(req_parse("JOIN x fd00::0020 9000\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), 0);
	assert_int_equal(j.port, 9000);
	assert_int_equal(chord_ip_format(&j.addr, ip, sizeof(ip)), 8);
	assert_string_equal(ip, "fd00::20");
	/* Argument counts. */
	assert_true(req_parse("JOIN\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EPROTO);
	assert_true(req_parse("JOIN a\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EPROTO);
	assert_true(req_parse("JOIN a 1.2.3.4 5 6\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EPROTO);
	/* Fields. */
	assert_true(req_parse("JOIN a,b 1.2.3.4 5\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EFIELD);
	assert_true(req_parse("JOIN a 1.2.3 5\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EFIELD);
	assert_true(req_parse("JOIN a 1.2.3.4 0\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EFIELD);
	assert_true(req_parse("JOIN a 1.2.3.4 65536\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EFIELD);
	assert_true(req_parse("JOIN a localhost 5\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EFIELD);
	assert_true(req_parse("JOIN "
			      "12345678901234567890123456789012345678901234567"
			      "89012345678901234 1.2.3.4 5\r\n",
			&r) > 0);
	assert_int_equal(r.args[0].len, 64);
	assert_int_equal(chord_join_parse(&r, &j), 0);
	assert_true(req_parse("JOIN "
			      "12345678901234567890123456789012345678901234567"
			      "890123456789012345 1.2.3.4 5\r\n",
			&r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EFIELD);
	assert_true(req_parse("join a 1.2.3.4 5\r\n", &r) > 0);
	assert_int_equal(chord_join_parse(&r, &j), WARREN_EKIND);
}

static void
test_op_table(void **state)
{
	static const struct {
		enum chord_op op;
		const char *name;
		unsigned ok_min, ok_max; /* valid counts (ok_max 99: any) */
	} t[] = {
	    {CHORD_OP_PING, "PING", 0, 0},
	    {CHORD_OP_FIND_SUCCESSOR, "FIND_SUCCESSOR", 1, 1},
	    {CHORD_OP_GET_PREDECESSOR, "GET_PREDECESSOR", 0, 0},
	    {CHORD_OP_GET_SUCCESSORS, "GET_SUCCESSORS", 0, 0},
	    {CHORD_OP_NOTIFY, "NOTIFY", 3, 3},
	    {CHORD_OP_PUT, "PUT", 6, 99},
	    {CHORD_OP_GET, "GET", 1, 1},
	    {CHORD_OP_LIST, "LIST", 0, 1},
	    {CHORD_OP_TRANSFER_KEYS, "TRANSFER_KEYS", 2, 3},
	    {CHORD_OP_JOIN, "JOIN", 2, 3},
	    {CHORD_OP_DELETE, "DELETE", 1, 99},
	};
	unsigned n;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		assert_string_equal(chord_op_name(t[i].op), t[i].name);
		assert_int_equal(
		    chord_op_parse(t[i].name, strlen(t[i].name)), t[i].op);
		for (n = 0; n < 20; n++)
			assert_int_equal(chord_op_argc_ok(t[i].op, n),
			    n >= t[i].ok_min && n <= t[i].ok_max);
	}
	assert_string_equal(chord_op_name(CHORD_OP_UNKNOWN), "?");
	assert_string_equal(chord_op_name(CHORD_OP_COUNT), "?");
	assert_int_equal(chord_op_parse("PUTS", 4), CHORD_OP_UNKNOWN);
	assert_int_equal(chord_op_parse("PU", 2), CHORD_OP_UNKNOWN);
	assert_int_equal(chord_op_parse("", 0), CHORD_OP_UNKNOWN);
	assert_false(chord_op_argc_ok(CHORD_OP_UNKNOWN, 0));
}

/* ------------------------------------------------------- §4 responses */

/* Check a whole response: status fields and the number of lines. */
static void
check_whole(const char *resp, unsigned code, const char *msg, size_t len,
    unsigned nlines)
{
	struct chord_status st;
	struct chord_str data, line;
	size_t n = strlen(resp);
	unsigned k = 0;

	assert_int_equal(
	    chord_response_parse(guard(resp, n), n, &st, &data), n);
	assert_int_equal(st.code, code);
	assert_view(st.msg, msg);
	assert_int_equal(st.len, len);
	assert_int_equal(data.len, len);
	while (chord_lines_next(&data, &line))
		k++;
	assert_int_equal(k, nlines);
}

static void
test_responses_of_section4(void **state)
{
	struct chord_status st;
	struct chord_str data, line;
	struct chord_row row;
	struct chord_node node;
	struct chord_record rec;
	struct chord_keyed kr;
	char ip[CHORD_IP_TEXT_MAX];
	size_t n;

	(void)state;
	check_whole(join_resp, 200, "OK", 124, 2);
	check_whole(ok0_resp, 200, "OK", 0, 0);
	check_whole(unknown_resp, 404, "OPERATION UNKNOWN", 0, 0);
	check_whole(next_resp, 302, "NEXT", 60, 1);
	check_whole(found_resp, 200, "OK", 60, 1);
	check_whole(pred_resp, 200, "OK", 60, 1);
	check_whole(succ_resp, 200, "OK", 236, 4);
	check_whole(get_resp, 200, "OK", 149, 2);
	check_whole(notfound_resp, 404, "NOT FOUND", 0, 0);
	check_whole(list_resp, 200, "MORE " CURSOR, 241, 2);

	/* Introducer rows. */
	n = strlen(join_resp);
	assert_int_equal(
	    chord_response_parse(guard(join_resp, n), n, &st, &data), n);
	assert_int_equal(st.cursor.len, 0);
	assert_int_equal(chord_lines_next(&data, &line), 1);
	assert_int_equal(line.len, 60);
	assert_int_equal(chord_row_parse(line.ptr, line.len, &row), 0);
	assert_int_equal(row.rowid, 1);
	assert_view(row.peer_id, N1_ID);
	assert_true(chord_id_is_canonical(row.peer_id.ptr, row.peer_id.len));
	assert_int_equal(row.port, 7495);
	assert_int_equal(chord_ip_format(&row.addr, ip, sizeof(ip)), 12);
	assert_string_equal(ip, "192.168.1.10");
	assert_int_equal(chord_lines_next(&data, &line), 1);
	assert_int_equal(chord_row_parse(line.ptr, line.len, &row), 0);
	assert_int_equal(row.rowid, 2);
	assert_view(row.peer_id, N2_ID);
	assert_int_equal(chord_lines_next(&data, &line), 0);

	/* GET_SUCCESSORS: an IPv6 entry first. */
	n = strlen(succ_resp);
	assert_int_equal(
	    chord_response_parse(guard(succ_resp, n), n, &st, &data), n);
	assert_int_equal(chord_lines_next(&data, &line), 1);
	assert_int_equal(chord_node_parse(line.ptr, line.len, &node), 0);
	assert_int_equal(
	    chord_id_cmp(&node.id, &(struct chord_id){{0}}) > 0, 1);
	assert_int_equal(node.addr.family, AF_INET6);
	assert_int_equal(chord_ip_format(&node.addr, ip, sizeof(ip)), 8);
	assert_string_equal(ip, "fd00::20");

	/* GET: two records. */
	n = strlen(get_resp);
	assert_int_equal(
	    chord_response_parse(guard(get_resp, n), n, &st, &data), n);
	assert_int_equal(chord_lines_next(&data, &line), 1);
	assert_int_equal(chord_record_parse(line.ptr, line.len, &rec), 0);
	assert_string_equal(rec.md5, MD5_A);
	assert_int_equal(rec.size, 10000);
	assert_view(rec.name, "Annual_Report.pdf");
	assert_int_equal(chord_lines_next(&data, &line), 1);
	assert_int_equal(chord_record_parse(line.ptr, line.len, &rec), 0);
	assert_view(rec.name, "Q3 report.pdf");

	/* LIST: the cursor and two keyed lines. */
	n = strlen(list_resp);
	assert_int_equal(
	    chord_response_parse(guard(list_resp, n), n, &st, &data), n);
	assert_view(st.cursor, CURSOR);
	assert_int_equal(st.len, 241);
	assert_int_equal(chord_lines_next(&data, &line), 1);
	assert_int_equal(chord_keyed_parse(line.ptr, line.len, &kr), 0);
	assert_int_equal(kr.ttl, 1740);
	assert_string_equal(kr.rec.md5, MD5_A);
	assert_view(kr.rec.name, "Annual_Report.pdf");
	assert_int_equal(chord_lines_next(&data, &line), 1);
	assert_int_equal(chord_keyed_parse(line.ptr, line.len, &kr), 0);
	assert_int_equal(kr.ttl, 1795);
	assert_view(kr.rec.name, "Q3 report.pdf");
	assert_int_equal(chord_lines_next(&data, &line), 0);
}

/* Build a response with chord_out in an exact-size block. */
static int
build(char *buf, size_t cap, unsigned code, const char *msg, const char *cursor,
    const char *const *lines, size_t nlines)
{
	struct chord_out o;
	size_t i;
	int rc;

	assert_int_equal(chord_out_begin(&o, buf, cap), 0);
	for (i = 0; i < nlines; i++) {
		rc = chord_out_line(&o, lines[i], strlen(lines[i]));
		assert_int_equal(rc, strlen(lines[i]) + 2);
	}
	assert_int_equal(o.lines, nlines);
	if (cursor != NULL)
		return chord_out_end_more(&o, str(cursor));
	return chord_out_end(&o, code, str(msg));
}

static void
test_response_encode_section4(void **state)
{
	char line[3][CHORD_LINE_MAX];
	const char *lines[4];
	struct chord_row row;
	struct chord_node node;
	struct chord_record rec;
	struct chord_keyed kr;
	size_t cap = CHORD_STATUS_MAX + 300;
	char *buf;

	(void)state;
	/* Introducer JOIN answer from rows. */
	memset(&row, 0, sizeof(row));
	row.rowid = 1;
	row.peer_id = str(N1_ID);
	row.addr = addr("192.168.1.10");
	row.port = 7495;
	assert_int_equal(chord_row_format(&row, line[0], 61), 60);
	row.rowid = 2;
	row.peer_id = str(N2_ID);
	row.addr = addr("192.168.1.11");
	assert_int_equal(chord_row_format(&row, line[1], 61), 60);
	assert_int_equal(chord_row_format(&row, line[1], 60), WARREN_ESPACE);
	lines[0] = line[0];
	lines[1] = line[1];
	buf = guard(NULL, cap);
	assert_int_equal(
	    build(buf, cap, 200, "OK", NULL, lines, 2), strlen(join_resp));
	assert_memory_equal(buf, join_resp, strlen(join_resp));

	/* Status-only answers. */
	assert_int_equal(build(buf, cap, 200, "OK", NULL, NULL, 0), 10);
	assert_memory_equal(buf, ok0_resp, 10);
	assert_int_equal(
	    build(buf, cap, 404, "OPERATION UNKNOWN", NULL, NULL, 0),
	    strlen(unknown_resp));
	assert_memory_equal(buf, unknown_resp, strlen(unknown_resp));
	assert_int_equal(build(buf, cap, 404, "NOT FOUND", NULL, NULL, 0), 17);
	assert_memory_equal(buf, notfound_resp, 17);
	{
		char *s = guard(NULL, 10);

		assert_int_equal(
		    chord_status_encode(200, str("OK"), 0, s, 10), 10);
		assert_memory_equal(s, ok0_resp, 10);
		assert_int_equal(chord_status_encode(200, str("OK"), 0, s, 9),
		    WARREN_ESPACE);
	}

	/* 302 NEXT with one node. */
	node.id = id(N2_ID);
	node.addr = addr("192.168.1.11");
	node.port = 7495;
	assert_int_equal(
	    chord_node_format(&node, line[0], CHORD_NODE_LINE_MAX), 58);
	lines[0] = line[0];
	assert_int_equal(
	    build(buf, cap, 302, "NEXT", NULL, lines, 1), strlen(next_resp));
	assert_memory_equal(buf, next_resp, strlen(next_resp));

	/* GET_SUCCESSORS: 236. */
	{
		static const char *const ids[] = {N5_ID, N3_ID, N2_ID, N1_ID};
		static const char *const ips[] = {
		    "fd00::20", "192.168.1.12", "192.168.1.11", "192.168.1.10"};
		char nl[4][CHORD_NODE_LINE_MAX];
		size_t i;

		for (i = 0; i < 4; i++) {
			node.id = id(ids[i]);
			node.addr = addr(ips[i]);
			node.port = 7495;
			assert_true(
			    chord_node_format(&node, nl[i], sizeof(nl[i])) > 0);
			lines[i] = nl[i];
		}
		assert_int_equal(build(buf, cap, 200, "OK", NULL, lines, 4),
		    strlen(succ_resp));
		assert_memory_equal(buf, succ_resp, strlen(succ_resp));
	}

	/* GET: 149, records formatted from fields. */
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.md5, MD5_A, sizeof(rec.md5));
	rec.size = 10000;
	rec.holder = addr("192.168.1.10");
	rec.port = 3000;
	rec.name = str("Annual_Report.pdf");
	assert_int_equal(
	    chord_record_format(&rec, line[0], CHORD_LINE_MAX), 74);
	memcpy(rec.md5, "2F05CED2F204C9F916BFC714E630B7CF", sizeof(rec.md5));
	rec.size = 600320;
	rec.holder = addr("192.168.1.11");
	rec.name = str("  Q3 report.pdf "); /* stripped on the way */
	assert_int_equal(
	    chord_record_format(&rec, line[1], CHORD_LINE_MAX), 71);
	lines[0] = line[0];
	lines[1] = line[1];
	assert_int_equal(
	    build(buf, cap, 200, "OK", NULL, lines, 2), strlen(get_resp));
	assert_memory_equal(buf, get_resp, strlen(get_resp));

	/* LIST: 200 MORE <cursor> 241. */
	memset(&kr, 0, sizeof(kr));
	kr.key = id(REPORT);
	kr.ttl = 1740;
	memcpy(kr.rec.md5, MD5_A, sizeof(kr.rec.md5));
	kr.rec.size = 10000;
	kr.rec.holder = addr("192.168.1.10");
	kr.rec.port = 3000;
	kr.rec.name = str("Annual_Report.pdf");
	assert_int_equal(chord_keyed_format(&kr, line[0], CHORD_LINE_MAX), 120);
	kr.ttl = 1795;
	memcpy(kr.rec.md5, MD5_Q, sizeof(kr.rec.md5));
	kr.rec.size = 600320;
	kr.rec.holder = addr("192.168.1.11");
	kr.rec.name = str("Q3 report.pdf");
	assert_int_equal(chord_keyed_format(&kr, line[1], CHORD_LINE_MAX), 117);
	lines[0] = line[0];
	lines[1] = line[1];
	assert_int_equal(
	    build(buf, cap, 0, NULL, CURSOR, lines, 2), strlen(list_resp));
	assert_memory_equal(buf, list_resp, strlen(list_resp));
}

/* Every proper prefix of every response needs more, whole or streamed. */
static void
test_response_prefixes(void **state)
{
	struct chord_status st;
	struct chord_str data;
	size_t i, k, n;

	(void)state;
	for (i = 0; i < NELEM(all_responses); i++) {
		n = strlen(all_responses[i]);
		for (k = 0; k < n; k++)
			assert_int_equal(
			    chord_response_parse(
				guard(all_responses[i], k), k, &st, &data),
			    0);
		/* Bytes after the response are not part of it. */
		{
			char *more = guard(NULL, n + 5);

			memcpy(more, all_responses[i], n);
			memcpy(more + n, "junk\n", 5);
			assert_int_equal(
			    chord_response_parse(more, n + 5, &st, &data), n);
		}
	}
}

/*
 * Stream a response one byte at a time through chord_reader, as a client
 * reads it from a socket, and count its data lines.
 */
static void
stream_one_byte(const char *resp, unsigned want_lines)
{
	struct chord_reader rd;
	struct chord_status st;
	struct chord_str line;
	size_t n = strlen(resp), have = 0, start = 0, got = 0;
	char *buf = guard(NULL, n);
	int rc, in_data = 0;

	chord_reader_init(&rd);
	assert_false(chord_reader_done(&rd));
	assert_int_equal(chord_reader_line(&rd, resp, n, &line), WARREN_EPROTO);
	while (have < n) {
		buf[have] = resp[have];
		have++;
		for (;;) {
			/* Offer the unread bytes in a block of their size. */
			char *view = guard(buf + start, have - start);

			if (!in_data)
				rc = chord_reader_status(
				    &rd, view, have - start, &st);
			else
				rc = chord_reader_line(
				    &rd, view, have - start, &line);
			assert_true(rc >= 0);
			if (rc == 0)
				break;
			if (in_data) {
				assert_true(line.len > 0 &&
				    line.len <= CHORD_DATA_LINE_MAX);
				assert_true(line.ptr == view);
				got++;
			}
			in_data = 1;
			start += (size_t)rc;
			if (chord_reader_done(&rd))
				break;
		}
	}
	assert_true(chord_reader_done(&rd));
	assert_int_equal(start, n);
	assert_int_equal(got, want_lines);
	assert_int_equal(rd.lines, want_lines);
	assert_int_equal(rd.left, 0);
	assert_int_equal(
	    chord_reader_line(&rd, "x\r\n", 3, &line), WARREN_EPROTO);
	assert_int_equal(
	    chord_reader_status(&rd, ok0_resp, 10, &st), WARREN_EPROTO);
}

static void
test_response_one_byte_at_a_time(void **state)
{
	(void)state;
	stream_one_byte(join_resp, 2);
	stream_one_byte(ok0_resp, 0);
	stream_one_byte(unknown_resp, 0);
	stream_one_byte(next_resp, 1);
	stream_one_byte(found_resp, 1);
	stream_one_byte(pred_resp, 1);
	stream_one_byte(succ_resp, 4);
	stream_one_byte(get_resp, 2);
	stream_one_byte(notfound_resp, 0);
	stream_one_byte(list_resp, 2);
}

/* Bad responses of §5 (client side). */
static void
test_response_limits(void **state)
{
	struct chord_status st;
	struct chord_str data, line;
	char big[CHORD_LINE_MAX + 16];
	size_t n;

	(void)state;
	/* Tolerance: bare LF, runs of spaces. */
	assert_int_equal(status_parse("200 OK 0\n", &st), 9);
	assert_int_equal(status_parse("200  NOT   FOUND  0 \r\n", &st), 22);
	assert_int_equal(st.code, 200);
	assert_view(st.msg, "NOT   FOUND");
	assert_int_equal(status_parse("500 INTERNAL ERROR 0\r\n", &st), 22);
	assert_int_equal(st.code, 500);
	/* Bad codes, missing MSG, bad LEN. */
	assert_int_equal(status_parse("20 OK 0\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("2000 OK 0\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("600 OK 0\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("099 OK 0\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("2x0 OK 0\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("200 0\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("200\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("200 OK\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("200 OK -1\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("200 OK 1x\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("200 OK\t0\r\n", &st), WARREN_EFIELD);
	assert_int_equal(
	    status_parse("200 OK 99999999999999999999999\r\n", &st),
	    WARREN_EFIELD);
	/* LEN over 1 MiB. */
	assert_int_equal(status_parse("200 OK 1048576\r\n", &st), 16);
	assert_int_equal(
	    status_parse("200 OK 1048577\r\n", &st), WARREN_ELIMIT);
	/* MORE needs exactly one valid cursor (only for 200). */
	assert_int_equal(status_parse("200 MORE 5\r\n", &st), WARREN_EFIELD);
	assert_int_equal(
	    status_parse("200 MORE a b 5\r\n", &st), WARREN_EFIELD);
	assert_int_equal(status_parse("200 MORE c 5\r\n", &st), 14);
	assert_view(st.cursor, "c");
	assert_int_equal(status_parse("404 MORE 0\r\n", &st), 12);
	assert_int_equal(st.cursor.len, 0);
	/* Status line over 256 bytes. */
	memset(big, 'M', sizeof(big));
	memcpy(big, "200 ", 4);
	assert_int_equal(chord_status_parse(guard(big, 255), 255, &st), 0);
	assert_int_equal(
	    chord_status_parse(guard(big, 256), 256, &st), WARREN_ETOOLONG);
	memcpy(big + 250, " 0\r\n", 4);
	assert_int_equal(chord_status_parse(guard(big, 254), 254, &st), 254);
	memcpy(big + 250, "M 0\r\n", 5);
	assert_int_equal(chord_status_parse(guard(big, 255), 255, &st), 255);
	memcpy(big + 250, "MM 0\r\n", 6);
	assert_int_equal(chord_status_parse(guard(big, 256), 256, &st), 256);
	memcpy(big + 250, "MMM 0\r\n", 7);
	assert_int_equal(
	    chord_status_parse(guard(big, 257), 257, &st), WARREN_ETOOLONG);

	/* LEN that does not match the data. */
	n = strlen("200 OK 59\r\n" N1_ID " 192.168.1.10 7495\r\n");
	assert_int_equal(
	    chord_response_parse(
		guard("200 OK 59\r\n" N1_ID " 192.168.1.10 7495\r\n", n), n,
		&st, &data),
	    WARREN_EPROTO);
	n = strlen("200 OK 61\r\n" N1_ID " 192.168.1.10 7495\r\n");
	assert_int_equal(
	    chord_response_parse(
		guard("200 OK 61\r\n" N1_ID " 192.168.1.10 7495\r\n", n), n,
		&st, &data),
	    0); /* waits for the 61st byte */
	n = strlen("200 OK 61\r\n" N1_ID " 192.168.1.10 7495\r\nx");
	assert_int_equal(
	    chord_response_parse(
		guard("200 OK 61\r\n" N1_ID " 192.168.1.10 7495\r\nx", n), n,
		&st, &data),
	    WARREN_EPROTO);
	/* Empty data line, control byte, stray CR. */
	assert_int_equal(
	    chord_data_line(guard("\r\n", 2), 2, 10, &line), WARREN_EEMPTY);
	assert_int_equal(
	    chord_data_line(guard("\n", 1), 1, 10, &line), WARREN_EEMPTY);
	assert_int_equal(
	    chord_data_line(guard("a\tb\r\n", 5), 5, 10, &line), WARREN_EFIELD);
	assert_int_equal(
	    chord_data_line(guard("a\rb\r\n", 5), 5, 10, &line), WARREN_EFIELD);
	assert_int_equal(
	    chord_data_line(guard("ab\n", 3), 3, 10, &line), 3); /* bare LF */
	assert_view(line, "ab");
	assert_int_equal(
	    chord_data_line(guard("ab\r\n", 4), 4, 0, &line), WARREN_EPROTO);
	/* Data line over 512 bytes. */
	memset(big, 'd', sizeof(big));
	memcpy(big + 510, "\r\n", 2);
	assert_int_equal(
	    chord_data_line(guard(big, 512), 512, 100000, &line), 512);
	memset(big, 'd', sizeof(big));
	memcpy(big + 511, "\r\n", 2);
	assert_int_equal(chord_data_line(guard(big, 513), 513, 100000, &line),
	    WARREN_ETOOLONG);
	assert_int_equal(
	    chord_data_line(guard(big, 511), 511, 100000, &line), 0);
}

static void
test_out_refusals(void **state)
{
	char buf[CHORD_STATUS_MAX + 600];
	char line[CHORD_LINE_MAX];
	struct chord_out o;
	struct chord_str m;

	(void)state;
	assert_int_equal(
	    chord_out_begin(&o, buf, CHORD_STATUS_MAX - 1), WARREN_ESPACE);
	assert_int_equal(chord_out_line(&o, "x", 1), WARREN_ESPACE);
	assert_int_equal(chord_out_end(&o, 200, str("OK")), WARREN_ESPACE);
	assert_int_equal(chord_out_begin(&o, buf, sizeof(buf)), 0);
	assert_int_equal(chord_out_line(&o, "", 0), WARREN_EEMPTY);
	assert_int_equal(chord_out_line(&o, "a\r\nb", 4), WARREN_EFIELD);
	assert_int_equal(chord_out_line(&o, "a\nb", 3), WARREN_EFIELD);
	memset(line, 'l', sizeof(line));
	assert_int_equal(chord_out_line(&o, line, 511), WARREN_ETOOLONG);
	assert_int_equal(chord_out_line(&o, line, 510), 512);
	/* All or nothing: the next 512 do not fit in 600. */
	assert_int_equal(chord_out_line(&o, line, 510), WARREN_ESPACE);
	assert_int_equal(o.len, 512);
	assert_int_equal(o.lines, 1);
	assert_int_equal(chord_out_end(&o, 99, str("OK")), WARREN_EFIELD);
	assert_int_equal(chord_out_end(&o, 600, str("OK")), WARREN_EFIELD);
	assert_int_equal(chord_out_end(&o, 200, str("")), WARREN_EFIELD);
	assert_int_equal(chord_out_end(&o, 200, str(" OK")), WARREN_EFIELD);
	assert_int_equal(chord_out_end(&o, 200, str("OK ")), WARREN_EFIELD);
	assert_int_equal(chord_out_end(&o, 200, str("A  B")), WARREN_EFIELD);
	assert_int_equal(chord_out_end(&o, 200, str("A\tB")), WARREN_EFIELD);
	assert_int_equal(chord_out_end_more(&o, str("a b")), WARREN_EFIELD);
	memset(line, 'c', sizeof(line));
	assert_int_equal(chord_out_end_more(&o, (struct chord_str){line, 201}),
	    WARREN_EFIELD);
	m = (struct chord_str){line, 250};
	assert_int_equal(chord_out_end(&o, 200, m), WARREN_EFIELD);
	assert_int_equal(chord_out_end_more(&o, (struct chord_str){line, 200}),
	    9 + 200 + 6 + 512);
	assert_memory_equal(buf, "200 MORE ccc", 12);
	assert_memory_equal(buf + 209, " 512\r\nllll", 10);
	assert_int_equal(
	    chord_status_encode(200, str("OK"), 1048577, buf, sizeof(buf)),
	    WARREN_ELIMIT);
}

/* ----------------------------------------------------------- fields */

static void
test_ids(void **state)
{
	struct chord_id a, b;
	char out[CHORD_ID_LEN + 1];

	(void)state;
	assert_int_equal(chord_id_parse(N1_ID, 40, &a), 0);
	chord_id_format(&a, out);
	assert_string_equal(out, N1_ID);
	/* Upper case accepted, normalised. */
	assert_int_equal(
	    chord_id_parse("C18D70378A501332D44491B30C826156B30FCC90", 40, &b),
	    0);
	assert_int_equal(chord_id_cmp(&a, &b), 0);
	chord_id_format(&b, out);
	assert_string_equal(out, N1_ID);
	assert_false(chord_id_is_canonical(
	    "C18D70378A501332D44491B30C826156B30FCC90", 40));
	assert_true(chord_id_is_canonical(N1_ID, 40));
	assert_false(chord_id_is_canonical("7", 1));
	/* Bad ids (§5): length, non-hex. */
	assert_int_equal(chord_id_parse(N1_ID, 39, &a), WARREN_EFIELD);
	assert_int_equal(chord_id_parse(N1_ID "0", 41, &a), WARREN_EFIELD);
	assert_int_equal(
	    chord_id_parse("g18d70378a501332d44491b30c826156b30fcc90", 40, &a),
	    WARREN_EFIELD);
	assert_int_equal(
	    chord_id_parse(" 18d70378a501332d44491b30c826156b30fcc90", 40, &a),
	    WARREN_EFIELD);
	assert_int_equal(chord_id_parse("", 0, &a), WARREN_EFIELD);
	/* Ring order of §4. */
	assert_true(chord_id_cmp(&(struct chord_id){{0}}, &a) < 0);
	a = id(N5_ID);
	b = id(N3_ID);
	assert_true(chord_id_cmp(&a, &b) < 0);
	a = id(N2_ID);
	assert_true(chord_id_cmp(&b, &a) < 0);
	b = id(N1_ID);
	assert_true(chord_id_cmp(&a, &b) < 0);
	a = id(N4_ID);
	assert_true(chord_id_cmp(&b, &a) < 0);
	/* report ∈ (N2, N1]: N1 is responsible. */
	{
		struct chord_id k = id(REPORT), n2 = id(N2_ID), n1 = id(N1_ID);

		assert_true(chord_id_between_incl(&k, &n2, &n1));
		assert_true(chord_id_between(&k, &n2, &n1));
		a = id(N3_ID);
		assert_false(chord_id_between_incl(&k, &a, &n2));
	}
}

static struct chord_id
small(uint8_t v)
{
	struct chord_id i;

	memset(&i, 0, sizeof(i));
	i.b[CHORD_ID_BYTES - 1] = v;
	return i;
}

static void
test_intervals(void **state)
{
	struct chord_id a = small(10), b = small(20), x, max;
	unsigned v;

	(void)state;
	memset(&max, 0xff, sizeof(max));
	/* a < b: a < x < b; (a, b] adds b. */
	for (v = 0; v < 40; v++) {
		x = small((uint8_t)v);
		assert_int_equal(
		    chord_id_between(&x, &a, &b), v > 10 && v < 20);
		assert_int_equal(
		    chord_id_between_incl(&x, &a, &b), v > 10 && v <= 20);
		/* a > b: wraps around zero. */
		assert_int_equal(
		    chord_id_between(&x, &b, &a), v > 20 || v < 10);
		assert_int_equal(
		    chord_id_between_incl(&x, &b, &a), v > 20 || v <= 10);
		/* a == b: (a, a) is all but a; (a, a] is everything. */
		assert_int_equal(chord_id_between(&x, &a, &a), v != 10);
		assert_true(chord_id_between_incl(&x, &a, &a));
	}
	/* The ends of the space. */
	x = small(0);
	assert_true(chord_id_between(&x, &max, &a));
	assert_false(chord_id_between(&max, &max, &a));
	assert_true(chord_id_between(&max, &b, &x));
	assert_false(chord_id_between(&x, &b, &x));
	assert_true(chord_id_between_incl(&x, &b, &x));
	assert_false(chord_id_between(&x, &x, &max));
	assert_true(chord_id_between_incl(&max, &x, &max));
	/* Adjacent ends: (a, a+1) is empty, (a, a+1] is a+1 alone. */
	x = small(11);
	assert_false(chord_id_between(&a, &a, &x));
	assert_false(chord_id_between(&x, &a, &x));
	assert_true(chord_id_between_incl(&x, &a, &x));
	assert_false(chord_id_between_incl(&b, &a, &x));
	/* A byte other than the last decides. */
	x = a;
	x.b[0] = 1;
	assert_false(chord_id_between(&x, &a, &b));
	assert_true(chord_id_between(&x, &b, &a));
}

static void
test_finger_starts(void **state)
{
	struct chord_id n, out, max;
	char hex[CHORD_ID_LEN + 1];

	(void)state;
	n = small(0);
	chord_id_add_pow2(&n, 0, &out);
	assert_int_equal(chord_id_cmp(&out, &(struct chord_id){{0}}) > 0, 1);
	assert_int_equal(out.b[19], 1);
	chord_id_add_pow2(&n, 7, &out);
	assert_int_equal(out.b[19], 0x80);
	chord_id_add_pow2(&n, 8, &out);
	assert_int_equal(out.b[19], 0);
	assert_int_equal(out.b[18], 1);
	chord_id_add_pow2(&n, 159, &out);
	chord_id_format(&out, hex);
	assert_string_equal(hex, "8000000000000000000000000000000000000000");
	/* Carries run through every byte and off the top (mod 2^160). */
	memset(&max, 0xff, sizeof(max));
	chord_id_add_pow2(&max, 0, &out);
	chord_id_format(&out, hex);
	assert_string_equal(hex, "0000000000000000000000000000000000000000");
	chord_id_add_pow2(&max, 159, &out);
	chord_id_format(&out, hex);
	assert_string_equal(hex, "7fffffffffffffffffffffffffffffffffffffff");
	n = id(N4_ID);
	chord_id_add_pow2(&n, 159, &out);
	chord_id_format(&out, hex);
	assert_string_equal(hex, "70a576a168acfd15f3cd1e4308e90b73a9f1ca8e");
	n = id("00000000000000000000000000000000000000ff");
	chord_id_add_pow2(&n, 0, &n); /* in place */
	chord_id_format(&n, hex);
	assert_string_equal(hex, "0000000000000000000000000000000000000100");
	/* i >= 160 leaves n as it is. */
	chord_id_add_pow2(&n, 160, &out);
	assert_int_equal(chord_id_cmp(&n, &out), 0);
}

/* Parse text, format it, compare with want (NULL: must fail). */
static void
check_ip(const char *text, const char *want)
{
	struct chord_addr a;
	char out[CHORD_IP_TEXT_MAX];
	int rc = chord_ip_parse(guard(text, strlen(text)), strlen(text), &a);

	if (want == NULL) {
		if (rc != WARREN_EFIELD)
			fail_msg("\"%s\" parsed (%d)", text, rc);
		return;
	}
	if (rc != 0)
		fail_msg("\"%s\" did not parse (%d)", text, rc);
	rc = chord_ip_format(&a, out, sizeof(out));
	assert_int_equal(rc, strlen(want));
	assert_string_equal(out, want);
	/* Exact-size output: len + 1 fits, len does not. */
	assert_int_equal(
	    chord_ip_format(&a, guard(NULL, (size_t)rc + 1), (size_t)rc + 1),
	    rc);
	assert_int_equal(
	    chord_ip_format(&a, guard(NULL, (size_t)rc), (size_t)rc),
	    WARREN_ESPACE);
}

static void
test_ip_texts(void **state)
{
	(void)state;
	check_ip("192.168.1.10", "192.168.1.10");
	check_ip("192.168.001.010", "192.168.1.10");
	check_ip("10.0.0.1", "10.0.0.1");
	check_ip("255.255.255.255", "255.255.255.255");
	check_ip("fd00::20", "fd00::20");
	check_ip("FD00:0:0:0:0:0:0:20", "fd00::20");
	check_ip("::1", "::1");
	check_ip("1::", "1::");
	check_ip("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");
	check_ip("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
	check_ip("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1");
	check_ip("2001:db8::0:1", "2001:db8::1");
	check_ip("2001:0:0:1:0:0:0:1", "2001:0:0:1::1");
	check_ip("1:0:0:2:0:0:3:4", "1::2:0:0:3:4");
	check_ip("fe80::1:2:3:4", "fe80::1:2:3:4");
	check_ip("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8");
	check_ip("0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7");
	check_ip("::ffff:192.0.2.1", "::ffff:192.0.2.1");
	check_ip("::FFFF:c000:0201", "::ffff:192.0.2.1");
	check_ip("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789",
	    "abcd:ef01:2345:6789:abcd:ef01:2345:6789");
	/* Bad addresses (§5). */
	check_ip("", NULL);
	check_ip("1.2.3", NULL);
	check_ip("1.2.3.4.5", NULL);
	check_ip("256.1.1.1", NULL);
	check_ip("1.2.3.4 ", NULL);
	check_ip("1.2.3.0004", NULL);
	check_ip("a.b.c.d", NULL);
	check_ip("localhost", NULL);
	check_ip("0.0.0.0", NULL);
	check_ip("224.0.0.1", NULL);
	check_ip("239.255.255.250", NULL);
	check_ip("::", NULL);
	check_ip("ff02::1", NULL);
	check_ip("::ffff:0.0.0.0", NULL);
	check_ip("::ffff:224.1.1.1", NULL);
	check_ip("fe80::1%eth0", NULL);
	check_ip("[fd00::20]", NULL);
	check_ip("1:2:3:4:5:6:7:8:9", NULL);
	check_ip("1:::2", NULL);
	check_ip("12345::1", NULL);
	check_ip("1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:0:1:2:3:4:5:6:7", NULL);
}

static void
test_id_texts(void **state)
{
	struct chord_addr a = addr("192.168.1.10");
	struct sockaddr_storage ss;
	char out[CHORD_ID_TEXT_MAX];

	(void)state;
	assert_int_equal(chord_id_text(&a, 7495, out, sizeof(out)), 17);
	assert_string_equal(out, "192.168.1.10:7495");
	a = addr("FD00:0::20");
	assert_int_equal(chord_id_text(&a, 7495, out, sizeof(out)), 15);
	assert_string_equal(out, "[fd00::20]:7495");
	assert_int_equal(chord_id_text(&a, 7495, guard(NULL, 16), 16), 15);
	assert_int_equal(
	    chord_id_text(&a, 7495, guard(NULL, 15), 15), WARREN_ESPACE);
	assert_int_equal(chord_id_text(&a, 0, out, sizeof(out)), WARREN_EFIELD);
	a = addr("efff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_int_equal(chord_id_text(&a, 65535, out, sizeof(out)), 47);
	assert_string_equal(
	    out, "[efff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	memset(&a, 0, sizeof(a));
	assert_int_equal(chord_id_text(&a, 1, out, sizeof(out)), WARREN_EFIELD);
	assert_int_equal(chord_ip_format(&a, out, sizeof(out)), WARREN_EFIELD);
	assert_int_equal(chord_addr_sockaddr(&a, 1, &ss), WARREN_EFIELD);
	/* Socket addresses for dialling. */
	a = addr("192.168.1.10");
	assert_int_equal(chord_addr_sockaddr(&a, 7495, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7495);
	assert_memory_equal(
	    &((struct sockaddr_in *)&ss)->sin_addr, "\xc0\xa8\x01\x0a", 4);
	assert_int_equal(chord_addr_sockaddr(&a, 0, &ss), WARREN_EFIELD);
	a = addr("fd00::20");
	assert_int_equal(chord_addr_sockaddr(&a, 7495, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_true(chord_addr_equal(&a,
	    &(struct chord_addr){AF_INET6,
		{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20}}));
	assert_false(chord_addr_equal(&a, &(struct chord_addr){AF_INET, {0}}));
}

static void
test_small_fields(void **state)
{
	char md5[CHORD_MD5_LEN + 1], big[300];
	uint16_t port;

	(void)state;
	/* Ports. */
	assert_int_equal(chord_port_parse("7495", 4, &port), 0);
	assert_int_equal(port, 7495);
	assert_int_equal(chord_port_parse("1", 1, &port), 0);
	assert_int_equal(chord_port_parse("65535", 5, &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(chord_port_parse("07495", 5, &port), 0);
	assert_int_equal(chord_port_parse("0", 1, &port), WARREN_EFIELD);
	assert_int_equal(chord_port_parse("00000", 5, &port), WARREN_EFIELD);
	assert_int_equal(chord_port_parse("65536", 5, &port), WARREN_EFIELD);
	assert_int_equal(chord_port_parse("007495", 6, &port), WARREN_EFIELD);
	assert_int_equal(chord_port_parse("", 0, &port), WARREN_EFIELD);
	assert_int_equal(chord_port_parse("+80", 3, &port), WARREN_EFIELD);
	assert_int_equal(chord_port_parse("8 0", 3, &port), WARREN_EFIELD);
	/* md5. */
	assert_int_equal(
	    chord_md5_parse("2F05CED2F204C9F916BFC714E630B7CF", 32, md5), 0);
	assert_string_equal(md5, MD5_Q);
	assert_int_equal(chord_md5_parse(MD5_Q, 31, md5), WARREN_EFIELD);
	assert_int_equal(
	    chord_md5_parse("2f05ced2f204c9f916bfc714e630b7cz", 32, md5),
	    WARREN_EFIELD);
	/* peer_id: 1..64 printable, no ',' or space. */
	assert_int_equal(chord_peer_id_check("7", 1), 0);
	assert_int_equal(chord_peer_id_check(N1_ID, 40), 0);
	assert_int_equal(chord_peer_id_check("a-b_c.d!~", 9), 0);
	assert_int_equal(chord_peer_id_check("", 0), WARREN_EFIELD);
	assert_int_equal(chord_peer_id_check("a,b", 3), WARREN_EFIELD);
	assert_int_equal(chord_peer_id_check("a b", 3), WARREN_EFIELD);
	assert_int_equal(chord_peer_id_check("a\x01", 2), WARREN_EFIELD);
	assert_int_equal(chord_peer_id_check("caf\xc3\xa9", 5), WARREN_EFIELD);
	memset(big, 'p', sizeof(big));
	assert_int_equal(chord_peer_id_check(big, 64), 0);
	assert_int_equal(chord_peer_id_check(big, 65), WARREN_EFIELD);
	/* Cursors: 1..200 printable, no space. */
	assert_int_equal(chord_cursor_check(CURSOR, strlen(CURSOR)), 0);
	assert_int_equal(chord_cursor_check(big, 200), 0);
	assert_int_equal(chord_cursor_check(big, 201), WARREN_EFIELD);
	assert_int_equal(chord_cursor_check("", 0), WARREN_EFIELD);
	assert_int_equal(chord_cursor_check("a b", 3), WARREN_EFIELD);
	assert_int_equal(chord_cursor_check("a\x7f", 2), WARREN_EFIELD);
	/* Filenames. */
	assert_int_equal(chord_name_check("Q3 report.pdf", 13), 0);
	assert_int_equal(chord_name_check(big, 100), 0);
	assert_int_equal(chord_name_check(big, 101), WARREN_ETOOLONG);
	assert_int_equal(chord_name_check("", 0), WARREN_EEMPTY);
	assert_int_equal(chord_name_check("a\x1f", 2), WARREN_EFIELD);
	assert_int_equal(chord_name_check(" a", 2), WARREN_EFIELD);
	assert_int_equal(chord_name_check("a ", 2), WARREN_EFIELD);
}

static int
rec_parse(const char *s, struct chord_record *r)
{
	return chord_record_parse(guard(s, strlen(s)), strlen(s), r);
}

static void
test_records(void **state)
{
	struct chord_record r;
	struct chord_keyed k;
	struct chord_node n;
	char out[CHORD_LINE_MAX], name[120];

	(void)state;
	assert_int_equal(
	    rec_parse(MD5_A " 0 ::1 1 x", &r), 0); /* smallest fields */
	assert_int_equal(r.size, 0);
	assert_view(r.name, "x");
	assert_int_equal(
	    rec_parse(MD5_A " 18446744073709551615 1.2.3.4 1 x", &r), 0);
	assert_int_equal(r.size, UINT64_MAX);
	/* Bad records (§5): md5, size, address, port, filename. */
	assert_int_equal(rec_parse(MD5_A, &r), WARREN_EFIELD);
	assert_int_equal(rec_parse(MD5_A " 1 1.2.3.4 5", &r), WARREN_EEMPTY);
	assert_int_equal(rec_parse(MD5_A " 1 1.2.3.4 5   ", &r), WARREN_EEMPTY);
	assert_int_equal(rec_parse("0f53 1 1.2.3.4 5 x", &r), WARREN_EFIELD);
	assert_int_equal(rec_parse(MD5_A " -1 1.2.3.4 5 x", &r), WARREN_EFIELD);
	assert_int_equal(
	    rec_parse(MD5_A " 1e3 1.2.3.4 5 x", &r), WARREN_EFIELD);
	assert_int_equal(
	    rec_parse(MD5_A " 18446744073709551616 1.2.3.4 5 x", &r),
	    WARREN_EFIELD);
	assert_int_equal(
	    rec_parse(MD5_A " 000000000000000000001 1.2.3.4 5 x", &r),
	    WARREN_EFIELD); /* 21 digits */
	assert_int_equal(rec_parse(MD5_A " 1 [::1] 5 x", &r), WARREN_EFIELD);
	assert_int_equal(rec_parse(MD5_A " 1 1.2.3.4 0 x", &r), WARREN_EFIELD);
	assert_int_equal(
	    rec_parse(MD5_A " 1 1.2.3.4 5 a\x01", &r), WARREN_EFIELD);
	memset(name, 'n', sizeof(name));
	snprintf(out, sizeof(out), MD5_A " 1 1.2.3.4 5 %.100s", name);
	assert_int_equal(rec_parse(out, &r), 0);
	assert_int_equal(r.name.len, 100);
	snprintf(out, sizeof(out), MD5_A " 1 1.2.3.4 5 %.101s", name);
	assert_int_equal(rec_parse(out, &r), WARREN_ETOOLONG);
	/* Round trip; the formatter refuses what the parser would. */
	assert_int_equal(
	    rec_parse(MD5_Q " 600320 fd00::20 3000 Q3 report.pdf", &r), 0);
	assert_int_equal(chord_record_format(&r, out, sizeof(out)),
	    strlen(MD5_Q " 600320 fd00::20 3000 Q3 report.pdf"));
	assert_string_equal(out, MD5_Q " 600320 fd00::20 3000 Q3 report.pdf");
	r.name = str("   ");
	assert_int_equal(
	    chord_record_format(&r, out, sizeof(out)), WARREN_EEMPTY);
	r.name = str("a\nb");
	assert_int_equal(
	    chord_record_format(&r, out, sizeof(out)), WARREN_EFIELD);
	r.name = str("ok");
	r.port = 0;
	assert_int_equal(
	    chord_record_format(&r, out, sizeof(out)), WARREN_EFIELD);
	r.port = 1;
	r.md5[5] = 'x';
	assert_int_equal(
	    chord_record_format(&r, out, sizeof(out)), WARREN_EFIELD);
	memcpy(r.md5, MD5_Q, sizeof(r.md5));
	assert_int_equal(chord_record_format(&r, out, 10), WARREN_ESPACE);

	/* Keyed lines: key, ttl. */
	assert_int_equal(chord_keyed_parse(REPORT " 0 " MD5_A " 1 1.2.3.4 5 x",
			     strlen(REPORT " 0 " MD5_A " 1 1.2.3.4 5 x"), &k),
	    0);
	assert_int_equal(k.ttl, 0);
	assert_int_equal(
	    chord_keyed_parse(REPORT " 4294967296 " MD5_A " 1 1.2.3.4 5 x",
		strlen(REPORT " 4294967296 " MD5_A " 1 1.2.3.4 5 x"), &k),
	    WARREN_EFIELD);
	assert_int_equal(chord_keyed_parse("abc 1 " MD5_A " 1 1.2.3.4 5 x",
			     strlen("abc 1 " MD5_A " 1 1.2.3.4 5 x"), &k),
	    WARREN_EFIELD);
	assert_int_equal(
	    chord_keyed_parse(REPORT " 1", strlen(REPORT " 1"), &k),
	    WARREN_EFIELD);

	/* Node triples. */
	assert_int_equal(chord_node_parse(N1_ID " 1.2.3.4 5",
			     strlen(N1_ID " 1.2.3.4 5"), &n),
	    0);
	assert_int_equal(chord_node_parse(N1_ID "  1.2.3.4  5 ",
			     strlen(N1_ID "  1.2.3.4  5 "), &n),
	    0);
	assert_int_equal(chord_node_parse(N1_ID " 1.2.3.4 5 6",
			     strlen(N1_ID " 1.2.3.4 5 6"), &n),
	    WARREN_EFIELD);
	assert_int_equal(
	    chord_node_parse(N1_ID " 1.2.3.4", strlen(N1_ID " 1.2.3.4"), &n),
	    WARREN_EFIELD);
	assert_int_equal(
	    chord_node_parse("7 1.2.3.4 5", 11, &n), WARREN_EFIELD);
	assert_int_equal(chord_node_parse(N1_ID " 1.2.3.4 99999",
			     strlen(N1_ID " 1.2.3.4 99999"), &n),
	    WARREN_EFIELD);
	n.port = 0;
	assert_int_equal(
	    chord_node_format(&n, out, sizeof(out)), WARREN_EFIELD);
}

static void
test_rows(void **state)
{
	struct chord_row r;
	char out[200];

	(void)state;
	assert_int_equal(chord_row_parse("3,7,10.0.0.7,7495", 17, &r), 0);
	assert_int_equal(r.rowid, 3);
	assert_view(r.peer_id, "7");
	assert_false(chord_id_is_canonical(r.peer_id.ptr, r.peer_id.len));
	assert_int_equal(chord_row_parse("9223372036854775807,a,::1,1",
			     strlen("9223372036854775807,a,::1,1"), &r),
	    0);
	assert_int_equal(chord_row_format(&r, out, sizeof(out)),
	    strlen("9223372036854775807,a,::1,1"));
	assert_string_equal(out, "9223372036854775807,a,::1,1");
	/* Exactly four fields, no spaces. */
	assert_int_equal(chord_row_parse("9223372036854775808,a,::1,1",
			     strlen("9223372036854775808,a,::1,1"), &r),
	    WARREN_EFIELD);
	assert_int_equal(chord_row_parse("1,a,1.2.3.4", 11, &r), WARREN_EFIELD);
	assert_int_equal(
	    chord_row_parse("1,a,1.2.3.4,5,6", 15, &r), WARREN_EFIELD);
	assert_int_equal(
	    chord_row_parse("1, a,1.2.3.4,5", 14, &r), WARREN_EFIELD);
	assert_int_equal(
	    chord_row_parse("1,a,1.2.3.4,5 ", 14, &r), WARREN_EFIELD);
	assert_int_equal(
	    chord_row_parse(",a,1.2.3.4,5", 12, &r), WARREN_EFIELD);
	assert_int_equal(
	    chord_row_parse("1,,1.2.3.4,5", 12, &r), WARREN_EFIELD);
	assert_int_equal(chord_row_parse("1,a,,5", 6, &r), WARREN_EFIELD);
	assert_int_equal(chord_row_parse("", 0, &r), WARREN_EFIELD);
	r.peer_id = str("a,b");
	assert_int_equal(chord_row_format(&r, out, sizeof(out)), WARREN_EFIELD);
}

/* ---------------------------------------------------------- keywords */

/* The keywords of s, joined by '|'. */
static const char *
keywords(const char *s, char *out, size_t cap)
{
	struct chord_keywords it;
	char kw[CHORD_KEYWORD_MAX + 1];
	size_t n = 0;
	int len;

	chord_keywords_init(&it, guard(s, strlen(s)), strlen(s));
	out[0] = '\0';
	while ((len = chord_keywords_next(&it, kw)) > 0) {
		assert_int_equal(strlen(kw), len);
		n += (size_t)snprintf(
		    out + n, cap - n, "%s%s", n > 0 ? "|" : "", kw);
	}
	assert_int_equal(chord_keywords_next(&it, kw), 0); /* stays over */
	return out;
}

static void
test_keywords(void **state)
{
	char out[1024], in[300];

	(void)state;
	assert_string_equal(keywords("Annual_Report.pdf", out, sizeof(out)),
	    "annual|report|pdf");
	assert_string_equal(
	    keywords("Q3 report.pdf", out, sizeof(out)), "q3|report|pdf");
	assert_string_equal(
	    keywords("annual report", out, sizeof(out)), "annual|report");
	/* Repeats (also in other case) and short tokens dropped. */
	assert_string_equal(
	    keywords("a report-REPORT.Report x y zz", out, sizeof(out)),
	    "report|zz");
	/* Queries without keywords: the ring walk. */
	assert_string_equal(keywords("", out, sizeof(out)), "");
	assert_string_equal(keywords("*", out, sizeof(out)), "");
	assert_string_equal(keywords("a b c -- . 1", out, sizeof(out)), "");
	/* Bytes >= 0x80 belong to tokens, unchanged. */
	assert_string_equal(
	    keywords("Caf\xc3\xa9-Cr\xc3\xa8me.MP3", out, sizeof(out)),
	    "caf\xc3\xa9|cr\xc3\xa8me|mp3");
	assert_string_equal(keywords("\xc3\xa9", out, sizeof(out)), "\xc3\xa9");
	/* Every separator splits. */
	assert_string_equal(keywords("ab\tcd\x01"
				     "ef@gh[ij`kl{mn~op\x7fqr",
				out, sizeof(out)),
	    "ab|cd|ef|gh|ij|kl|mn|op");
	/* First 8 kept. */
	assert_string_equal(
	    keywords("k1 k2 k3 k4 k5 k6 k7 k8 k9 k10", out, sizeof(out)),
	    "k1|k2|k3|k4|k5|k6|k7|k8");
	assert_string_equal(
	    keywords("k1 k1 k2 k3 k4 k5 k6 k7 k8 k9", out, sizeof(out)),
	    "k1|k2|k3|k4|k5|k6|k7|k8");
	/* 64 bytes kept, 65 dropped. */
	memset(in, 'x', sizeof(in));
	memcpy(in + 64, " yy ", 4);
	memset(in + 68, 'z', 65);
	in[133] = '\0';
	keywords(in, out, sizeof(out));
	assert_int_equal(strlen(out), 64 + 3);
	assert_memory_equal(out + 64, "|yy", 3);
}

int
main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown_blocks)
	const struct CMUnitTest tests[] = {
	    T(test_requests_of_section4),
	    T(test_request_encode_section4),
	    T(test_request_prefixes),
	    T(test_request_tolerance),
	    T(test_request_limits),
	    T(test_request_encode_refusals),
	    T(test_join_parse),
	    T(test_op_table),
	    T(test_responses_of_section4),
	    T(test_response_encode_section4),
	    T(test_response_prefixes),
	    T(test_response_one_byte_at_a_time),
	    T(test_response_limits),
	    T(test_out_refusals),
	    T(test_ids),
	    T(test_intervals),
	    T(test_finger_starts),
	    T(test_ip_texts),
	    T(test_id_texts),
	    T(test_small_fields),
	    T(test_records),
	    T(test_rows),
	    T(test_keywords),
	};

#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
