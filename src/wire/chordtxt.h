/*
 * chordtxt.h: pure codec of the CRLF text protocol of the Chord ring and
 * its introducer (../shared/protocols/chord.md): request lines, status
 * lines and data lines (§1), and every field the introducer (§2) and the
 * node protocol (§3) carry: 160-bit identifiers and ring intervals, node
 * triples, records, keyed record lines, introducer rows, cursors,
 * addresses, ports, and the keywords of a filename or query.
 *
 * Bytes in, structs out, and back. No allocation, no I/O, libc only; SHA-1
 * is not here (keys and node ids are hashed by the caller, from the texts
 * this codec builds). Decoded strings are views (struct chord_str) into
 * the caller's input, valid as long as that input is.
 *
 * Return convention of every decoder that reads from a stream: bytes
 * consumed (> 0), 0 for "need more bytes", or a negative WARREN_E* code
 * (include/warren/error.h). Field parsers return 0 or a negative code.
 * Encoders and formatters return the number of bytes written (a NUL is
 * added where the comment says so, not counted) or a negative code;
 * WARREN_ESPACE when the output does not fit, and nothing usable is
 * written then.
 */
#ifndef WARREN_WIRE_CHORDTXT_H
#define WARREN_WIRE_CHORDTXT_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr_storage;

#define CHORD_LINE_MAX      512     /* request or data line, CRLF included */
#define CHORD_STATUS_MAX    256     /* status line, CRLF included */
#define CHORD_DATA_MAX      1048576 /* LEN a client accepts (§5) */
#define CHORD_ARGS_MAX      16      /* argument views kept per request */
#define CHORD_ID_BYTES      20      /* 160 bits */
#define CHORD_ID_LEN        40      /* hex digits */
#define CHORD_ID_BITS       160
#define CHORD_MD5_LEN       32
#define CHORD_NAME_MAX      100 /* filename of a record, bytes */
#define CHORD_CURSOR_MAX    200
#define CHORD_PEER_ID_MAX   64 /* introducer peer_id, bytes */
#define CHORD_SIZE_DIGITS   20
#define CHORD_IP_TEXT_MAX   46 /* longest IPv6 text + NUL */
#define CHORD_ID_TEXT_MAX   54 /* "[" IPv6 "]:" port + NUL */
#define CHORD_KEYWORDS_MAX  8  /* keywords kept per name or query */
#define CHORD_KEYWORD_MIN   2
#define CHORD_KEYWORD_MAX   64
#define CHORD_JOIN_ROWS     5 /* rows in an introducer JOIN answer */
#define CHORD_INTRO_PORT    7494
#define CHORD_NODE_PORT     7495 /* also the port of a 2-argument JOIN */
#define CHORD_NODE_LINE_MAX 105  /* id ip port: 40+1+45+1+5, + NUL */
/* Data line contents (without CRLF) are at most this long. */
#define CHORD_DATA_LINE_MAX (CHORD_LINE_MAX - 2)

/* A byte string that views someone else's memory; never NUL-terminated. */
struct chord_str {
	const char *ptr;
	size_t len;
};

/* Operations of §2 and §3. Ops are matched case-sensitively. */
enum chord_op {
	CHORD_OP_UNKNOWN = 0, /* any other first word */
	CHORD_OP_PING,
	CHORD_OP_FIND_SUCCESSOR,
	CHORD_OP_GET_PREDECESSOR,
	CHORD_OP_GET_SUCCESSORS,
	CHORD_OP_NOTIFY,
	CHORD_OP_PUT,
	CHORD_OP_GET,
	CHORD_OP_LIST,
	CHORD_OP_TRANSFER_KEYS,
	CHORD_OP_JOIN,   /* introducer */
	CHORD_OP_DELETE, /* introducer */
	CHORD_OP_COUNT
};

/* A 160-bit identifier, most significant byte first. */
struct chord_id {
	uint8_t b[CHORD_ID_BYTES];
};

/* An IPv4 or IPv6 address in binary form. */
struct chord_addr {
	int family;    /* AF_INET or AF_INET6; 0 when unset */
	uint8_t a[16]; /* network order; IPv4 in a[0..3] */
};

/* A ring member on the wire: <id> <ip> <port> (§3.2). */
struct chord_node {
	struct chord_id id;
	struct chord_addr addr;
	uint16_t port; /* ring port, 1..65535 */
};

/* A record: md5 size holder_ip holder_port filename (§3.2). */
struct chord_record {
	char md5[CHORD_MD5_LEN + 1]; /* lower-case hex, NUL */
	uint64_t size;               /* bytes, at most 20 digits */
	struct chord_addr holder;
	uint16_t port;         /* course transfer port of the holder */
	struct chord_str name; /* 1..100 bytes, trailing spaces stripped */
};

/* A keyed record line: <key> <ttl> <record> (§3.3, LIST/TRANSFER_KEYS). */
struct chord_keyed {
	struct chord_id key;
	uint32_t ttl; /* seconds until the record expires at the sender */
	struct chord_record rec;
};

/* An introducer row: <rowid>,<peer_id>,<ip>,<port> (§2.1). */
struct chord_row {
	uint64_t rowid;           /* 0..2^63-1 */
	struct chord_str peer_id; /* 1..64 printable bytes, no ',' or space */
	struct chord_addr addr;
	uint16_t port;
};

/* An introducer JOIN, checked (§2.1 step 1). */
struct chord_join {
	struct chord_str peer_id;
	struct chord_addr addr;
	uint16_t port; /* CHORD_NODE_PORT for the 2-argument form */
};

/* ------------------------------------------------------------ requests */

/* One request line, as parsed. Views point into the input. */
struct chord_request {
	enum chord_op op;      /* CHORD_OP_UNKNOWN for any other word */
	struct chord_str name; /* the op as sent */
	struct chord_str args[CHORD_ARGS_MAX]; /* the first arguments */
	unsigned nargs;        /* every argument, also beyond ARGS_MAX */
	struct chord_str line; /* the line without its end and the spaces
				   around it */
};

/* An op from its name (case-sensitive), CHORD_OP_UNKNOWN if none. */
enum chord_op chord_op_parse(const void *s, size_t len);

/* The name of an op as a NUL-terminated string ("?" if unknown). */
const char *chord_op_name(enum chord_op op);

/*
 * Is nargs a valid argument count for op (§3.3, §2.1)? PUT needs at least
 * 6 (key and a record whose filename may be several words), DELETE at
 * least 1 (extra ones are ignored), JOIN 2 or 3, LIST 0 or 1,
 * TRANSFER_KEYS 2 or 3. False for CHORD_OP_UNKNOWN.
 */
int chord_op_argc_ok(enum chord_op op, unsigned nargs);

/*
 * Parse one request line from buf (§1): OP and its arguments, split at
 * runs of spaces (leading and trailing spaces ignored), ended by CRLF or a
 * bare LF, at most CHORD_LINE_MAX bytes with its end. Returns the bytes of
 * the line (its end included); 0 for need more (no LF yet and fewer than
 * CHORD_LINE_MAX bytes); WARREN_ETOOLONG when no LF is in the first
 * CHORD_LINE_MAX bytes; WARREN_EEMPTY for a line of nothing but spaces;
 * WARREN_EFIELD for a control byte (NUL, a stray CR, TAB, DEL, ...) in
 * the line. A first word that is not a known op is no error: op is then
 * CHORD_OP_UNKNOWN (the server answers 400 or 404). Argument counts and
 * fields are the caller's to check (chord_op_argc_ok and the parsers).
 */
int chord_request_parse(const void *buf, size_t len, struct chord_request *out);

/*
 * The text from argument i to the end of the line, internal spaces kept
 * as sent (a record whose filename has spaces, §3.2); empty if there is no
 * argument i or i >= CHORD_ARGS_MAX.
 */
struct chord_str chord_request_tail(const struct chord_request *r, unsigned i);

/*
 * Write "OP arg1 arg2...\r\n" (single spaces, no trailing space). op must
 * be upper-case letters and '_'. Each argument must be non-empty, without
 * control bytes and without a leading or trailing space; inner spaces are
 * allowed so that the last argument can be a record. Returns the length
 * (at most CHORD_LINE_MAX, else WARREN_ETOOLONG), WARREN_EFIELD for a bad
 * op or argument, WARREN_EEMPTY for an empty one, or WARREN_ESPACE.
 */
int chord_request_encode(struct chord_str op, const struct chord_str *args,
    unsigned nargs, void *out, size_t cap);

/*
 * Check an introducer JOIN (§2.1 step 1): 3 arguments, or 2 (port
 * CHORD_NODE_PORT); peer_id, ip and port valid. 0, or WARREN_EKIND if r
 * is not a JOIN, WARREN_EPROTO for another argument count, WARREN_EFIELD
 * for a bad field. Views point into r's input.
 */
int chord_join_parse(const struct chord_request *r, struct chord_join *out);

/* ----------------------------------------------------------- responses */

/* A status line: CODE MSG... LEN (§1). Views point into the input. */
struct chord_status {
	unsigned code;           /* 3 digits, 100..599 */
	struct chord_str msg;    /* every word between code and LEN */
	struct chord_str cursor; /* "200 MORE <cursor> <len>"; else empty */
	size_t len;              /* LEN: bytes of data that follow */
};

/*
 * Parse a status line (at most CHORD_STATUS_MAX bytes with its CRLF or
 * LF; runs of spaces tolerated). Returns the bytes of the line, 0 for need
 * more, WARREN_ETOOLONG if no LF is in the first CHORD_STATUS_MAX bytes,
 * WARREN_EFIELD for a bad code, a missing MSG, a LEN that is not decimal,
 * a control byte, or a 200 MORE without exactly one valid cursor, and
 * WARREN_ELIMIT for a LEN over CHORD_DATA_MAX.
 */
int chord_status_parse(const void *buf, size_t len, struct chord_status *out);

/*
 * Parse one data line from buf when left bytes of data remain (LEN minus
 * the lines read so far): a line that ends in CRLF (or a bare LF), is at
 * most CHORD_LINE_MAX bytes with its end, and lies within the left bytes.
 * *line views its contents without the line end. Returns the bytes of the
 * line, 0 for need more, WARREN_EPROTO if left is 0 or the left bytes end
 * without a line end (LEN does not match the data), WARREN_ETOOLONG for a
 * line over CHORD_LINE_MAX, WARREN_EEMPTY for an empty line, WARREN_EFIELD
 * for a stray CR or another control byte.
 */
int chord_data_line(
    const void *buf, size_t len, size_t left, struct chord_str *line);

/*
 * A response read as it arrives: the status line, then its data lines.
 * Zero it with chord_reader_init().
 */
struct chord_reader {
	int state;                  /* private */
	struct chord_status status; /* after chord_reader_status() */
	size_t left;                /* data bytes not yet returned */
	unsigned lines;             /* data lines returned */
};

void chord_reader_init(struct chord_reader *r);

/*
 * Read the status line: like chord_status_parse(), and it also sets
 * r->status (whose views point into buf: copy the cursor before
 * consuming). WARREN_EPROTO if called twice.
 */
int chord_reader_status(struct chord_reader *r, const void *buf, size_t len,
    struct chord_status *out);

/*
 * Read the next data line: like chord_data_line() with r->left. Returns
 * bytes consumed, 0 for need more, or a negative code; WARREN_EPROTO once
 * every line has been read (chord_reader_done) or before the status.
 */
int chord_reader_line(struct chord_reader *r, const void *buf, size_t len,
    struct chord_str *line);

/* True once the status and all LEN bytes of data have been read. */
int chord_reader_done(const struct chord_reader *r);

/*
 * A whole response at once: the status and the data lines, when all are
 * in buf. Returns the bytes of the response, 0 for need more, or the
 * first error of the functions above. *data views the LEN bytes, to walk
 * with chord_lines_next().
 */
int chord_response_parse(const void *buf, size_t len,
    struct chord_status *status, struct chord_str *data);

/*
 * Next line of data already checked by chord_response_parse(): advances
 * *data. Returns 1 with *line set, 0 at the end.
 */
int chord_lines_next(struct chord_str *data, struct chord_str *line);

/*
 * Write a status line "CODE MSG LEN\r\n". msg is one or more words of
 * printable ASCII separated by single spaces. Returns its length,
 * WARREN_EFIELD for a code outside 100..599 or a bad msg, WARREN_ELIMIT
 * for len over CHORD_DATA_MAX, or WARREN_ESPACE.
 */
int chord_status_encode(
    unsigned code, struct chord_str msg, size_t len, void *out, size_t cap);

/*
 * A response being built in caller memory: data lines are appended after
 * room reserved for the status line, and chord_out_end() writes the status
 * line with the computed LEN and moves the data behind it.
 */
struct chord_out {
	char *buf;      /* caller's memory */
	size_t cap;     /* its size */
	size_t len;     /* data bytes written at buf + CHORD_STATUS_MAX */
	unsigned lines; /* data lines appended */
};

/* Begin a response in buf[0..cap). 0, or WARREN_ESPACE if cap cannot hold
 * even the status line. */
int chord_out_begin(struct chord_out *o, void *buf, size_t cap);

/*
 * Append one data line (s + CRLF), all or nothing. Returns the bytes
 * appended, WARREN_EEMPTY for an empty line, WARREN_EFIELD for a CR, LF
 * or other control byte in s, WARREN_ETOOLONG for a line over
 * CHORD_LINE_MAX with its CRLF, WARREN_ELIMIT when the data would pass
 * CHORD_DATA_MAX, or WARREN_ESPACE.
 */
int chord_out_line(struct chord_out *o, const void *s, size_t len);

/*
 * Write the status line (code, msg, LEN = the data appended) in front of
 * the data, so that the response starts at buf[0]. Returns the total
 * length or a chord_status_encode() error. chord_out_end_more() writes
 * "200 MORE <cursor> <len>" (WARREN_EFIELD for a bad cursor).
 */
int chord_out_end(struct chord_out *o, unsigned code, struct chord_str msg);
int chord_out_end_more(struct chord_out *o, struct chord_str cursor);

/* -------------------------------------------------------------- fields */

/* 40 hex digits of either case. 0 or WARREN_EFIELD. */
int chord_id_parse(const void *s, size_t len, struct chord_id *out);

/* True for exactly 40 lower-case hex digits: the peer_ids a warren node
 * uses from an introducer's answer (§2.1, mixed populations). */
int chord_id_is_canonical(const void *s, size_t len);

/* 40 lower-case hex digits and a NUL. */
void chord_id_format(const struct chord_id *id, char out[CHORD_ID_LEN + 1]);

/* <0, 0, >0 as a is below, equal to or above b (unsigned big-endian). */
int chord_id_cmp(const struct chord_id *a, const struct chord_id *b);

/* x ∈ (a, b) on the ring (§3.1); (a, a) is the whole ring except a. */
int chord_id_between(const struct chord_id *x, const struct chord_id *a,
    const struct chord_id *b);

/* x ∈ (a, b] on the ring (§3.1); (a, a] is the whole ring. */
int chord_id_between_incl(const struct chord_id *x, const struct chord_id *a,
    const struct chord_id *b);

/* out = n + 2^i mod 2^160, i < 160 (the start of finger i). out may be n. */
void
chord_id_add_pow2(const struct chord_id *n, unsigned i, struct chord_id *out);

/*
 * An address: IPv4 dotted decimal (1-3 digits per group, leading zeros
 * read as decimal) or IPv6 text (no brackets, no zone). The unspecified
 * and multicast addresses of either family (and their IPv4-mapped forms)
 * are WARREN_EFIELD: nobody can be reached there. 0 on success.
 */
int chord_ip_parse(const void *s, size_t len, struct chord_addr *out);

/*
 * Write an address as warren sends it: IPv4 without leading zeros, IPv6
 * in RFC 5952 form (lower case, the longest run of two or more zero
 * groups compressed, the first of equal runs; IPv4-mapped as
 * ::ffff:a.b.c.d). NUL-terminated; returns the length, WARREN_EFIELD for
 * another family, or WARREN_ESPACE (CHORD_IP_TEXT_MAX always suffices).
 */
int chord_ip_format(const struct chord_addr *a, char *out, size_t cap);

/* Same family and address. */
int chord_addr_equal(const struct chord_addr *a, const struct chord_addr *b);

/* Socket address of a and port, for connecting. 0 or WARREN_EFIELD (no
 * family or port 0). An IPv4-mapped IPv6 address stays AF_INET6. */
int chord_addr_sockaddr(
    const struct chord_addr *a, uint16_t port, struct sockaddr_storage *out);

/*
 * The text a node id is the SHA-1 of (§3.1): "ip:port" for IPv4,
 * "[ipv6]:port" for IPv6, addresses as chord_ip_format() writes them.
 * NUL-terminated; returns the length, WARREN_EFIELD (no family, port 0)
 * or WARREN_ESPACE (CHORD_ID_TEXT_MAX always suffices).
 */
int
chord_id_text(const struct chord_addr *a, uint16_t port, char *out, size_t cap);

/* Port: 1 to 5 decimal digits, 1..65535. 0 or WARREN_EFIELD. */
int chord_port_parse(const void *s, size_t len, uint16_t *out);

/* md5: 32 hex digits of either case, written lower-case with a NUL. */
int chord_md5_parse(const void *s, size_t len, char out[CHORD_MD5_LEN + 1]);

/* peer_id (§2.1): 1..64 printable ASCII bytes, no ',' or space. 0 or
 * WARREN_EFIELD. */
int chord_peer_id_check(const void *s, size_t len);

/* Cursor (§3.3): 1..200 printable ASCII bytes, no space. 0 or
 * WARREN_EFIELD. */
int chord_cursor_check(const void *s, size_t len);

/*
 * Filename of a record: 1..100 bytes, no control byte (C0 or DEL), no
 * leading or trailing space. 0, WARREN_EEMPTY, WARREN_ETOOLONG or
 * WARREN_EFIELD.
 */
int chord_name_check(const void *s, size_t len);

/*
 * Node triple "<id> <ip> <port>" (a data line, or the arguments of
 * NOTIFY); runs of spaces tolerated. 0 or WARREN_EFIELD.
 */
int chord_node_parse(const void *s, size_t len, struct chord_node *out);

/* Write "<id> <ip> <port>" with a NUL; returns its length, WARREN_EFIELD
 * (bad address or port 0) or WARREN_ESPACE (CHORD_NODE_LINE_MAX
 * suffices). */
int chord_node_format(const struct chord_node *n, char *out, size_t cap);

/*
 * Record "md5 size holder_ip holder_port filename" (§3.2): the filename is
 * the rest of the text after the port and the spaces that follow it, with
 * trailing spaces stripped. Returns 0 (out->name views s), WARREN_EFIELD
 * for a bad field, or the chord_name_check() codes for the filename.
 */
int chord_record_parse(const void *s, size_t len, struct chord_record *out);

/* Write a record (no line end) with a NUL. The filename is stripped of
 * leading and trailing spaces first, then checked. Returns the length or
 * a negative code. */
int chord_record_format(const struct chord_record *r, char *out, size_t cap);

/* Keyed record line "<key> <ttl> <record>" (ttl: decimal, 0..2^32-1).
 * Parse: 0 or a negative code; format: length (NUL added) or a negative
 * code. */
int chord_keyed_parse(const void *s, size_t len, struct chord_keyed *out);
int chord_keyed_format(const struct chord_keyed *k, char *out, size_t cap);

/* Introducer row "<rowid>,<peer_id>,<ip>,<port>", exactly so. Parse: 0 or
 * WARREN_EFIELD; format: length (NUL added) or a negative code. */
int chord_row_parse(const void *s, size_t len, struct chord_row *out);
int chord_row_format(const struct chord_row *r, char *out, size_t cap);

/* --------------------------------------------------------------- keywords */

/*
 * Keywords of a filename or query (§3.1): ASCII letters lower-cased; split
 * at every byte that is not an ASCII letter, an ASCII digit or a byte >=
 * 0x80; tokens shorter than 2 or longer than 64 bytes and repeats dropped;
 * the first 8 kept. Zero it with chord_keywords_init().
 */
struct chord_keywords {
	const uint8_t *p, *end;          /* input not yet split (borrowed) */
	unsigned n;                      /* keywords returned so far */
	uint8_t len[CHORD_KEYWORDS_MAX]; /* their lengths */
	char kw[CHORD_KEYWORDS_MAX][CHORD_KEYWORD_MAX]; /* and bytes */
};

void chord_keywords_init(struct chord_keywords *it, const void *s, size_t len);

/*
 * Write the next keyword into out (lower-cased, NUL-terminated; out holds
 * at least CHORD_KEYWORD_MAX + 1 bytes). Returns its length (2..64), or 0
 * when there is none left.
 */
int
chord_keywords_next(struct chord_keywords *it, char out[CHORD_KEYWORD_MAX + 1]);

#endif
