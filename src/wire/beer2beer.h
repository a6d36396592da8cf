/*
 * beer2beer.h: pure codec for the beer2beer central-index protocol
 * (../shared/protocols/beer2beer.md): the 4-byte frame header, the lines of
 * a payload, every request and response of §4 in both directions, and the
 * field validators of §3 that the server and the client share.
 *
 * Bytes in, structs out, and back. No allocation, no I/O, libc only.
 * Decoded strings are views (pointer + length) into the caller's payload,
 * valid as long as that payload is; nothing is NUL-terminated except the
 * fixed-size hash arrays. Encoders write into a caller buffer of a given
 * capacity and return WARREN_ESPACE, never overflowing, when it is too small.
 *
 * Return conventions: frame and line readers return bytes consumed (> 0),
 * 0 for "need more" (frame header) or "no more" (lines, records), or a
 * negative WARREN_E* code (include/warren/error.h). Validators and parsers
 * of one value return 0 or a negative WARREN_E* code. Encoders return the
 * number of bytes written or a negative WARREN_E* code.
 */
#ifndef WARREN_WIRE_BEER2BEER_H
#define WARREN_WIRE_BEER2BEER_H

#include <stddef.h>
#include <stdint.h>

#define B2B_HEAD_LEN          4     /* len (u16 LE) + type (u16 LE) */
#define B2B_PAYLOAD_MAX       65535 /* §1 */
#define B2B_FRAME_MAX         (B2B_HEAD_LEN + B2B_PAYLOAD_MAX)
#define B2B_PORT_DEFAULT      8888 /* index server, §1 */
#define B2B_PEER_PORT_DEFAULT 3000 /* course transfer, §4.2 */

#define B2B_USER_MAX     64  /* bytes, §3 */
#define B2B_PWD_MAX      128 /* bytes, §3 */
#define B2B_FILENAME_MAX 255 /* bytes, §3 */
#define B2B_ID_MAX       2147483647UL
#define B2B_SIZE_MAX     9223372036854775807ULL /* 2^63 - 1 */
#define B2B_SHA1_LEN     40
#define B2B_MD5_LEN      32
#define B2B_WORDS_MAX    32  /* SEARCH_FILE, §4.7 */
#define B2B_WORD_MAX     255 /* bytes per word */
#define B2B_IP_TEXT_MAX  46  /* b2b_ip_format() output, NUL included */
#define B2B_REASON_MAX   40  /* longest KO reason line b2b_encode_ko() writes */

/* Request codes (§2). OK = 100 + request, KO = 200 + request, except
 * LOGOUT, which answers with KEEP_ALIVE's 103 and 203. */
enum b2b_type {
	B2B_REGISTER = 1,
	B2B_LOGIN = 2,
	B2B_KEEP_ALIVE = 3,
	B2B_LOGOUT = 4,
	B2B_SHOW_PEERS = 5,
	B2B_BROWSE_PEER = 6,
	B2B_SEARCH_FILE = 7,
	B2B_DOWNLOAD_FILE = 8,
	B2B_REGISTER_UPDATE = 9,
	B2B_REGISTER_APPEND = 10, /* warren extension */
};

/* The KO reasons of §4 and §7; b2b_reason_text() gives their wire text. */
enum b2b_reason {
	B2B_R_NONE = 0,
	B2B_R_MALFORMED,       /* "malformed request" */
	B2B_R_BAD_ENCODING,    /* "bad encoding" (payload not UTF-8, §7) */
	B2B_R_BAD_FILE_LINE,   /* "bad file line <n>" */
	B2B_R_USER_TAKEN,      /* "user name taken" */
	B2B_R_TOO_MANY_FILES,  /* "too many files" */
	B2B_R_SERVER_FULL,     /* "server full" */
	B2B_R_BAD_CREDENTIALS, /* "bad user or password" */
	B2B_R_UNKNOWN_ID,      /* "unknown id" */
	B2B_R_NOT_LOGGED_IN,   /* "not logged in" */
	B2B_R_BAD_FILTER,      /* "bad filter" */
	B2B_R_UNKNOWN_PEER,    /* "unknown peer" */
	B2B_R_EMPTY_QUERY,     /* "empty query" */
	B2B_R_TOO_MANY_WORDS,  /* "too many words" */
	B2B_R_BAD_SHA1,        /* "bad sha1" */
	B2B_R_COUNT
};

/* SHOW_PEERS filter (§4.5). */
enum b2b_filter { B2B_ALL = 0, B2B_ONLINE, B2B_OFFLINE };

/* What b2b_file_next() found on a line of a file list (§3). */
enum b2b_file_kind {
	B2B_FILE3 = 1, /* filename|size|sha1 */
	B2B_FILE4,     /* filename|size|sha1|md5 (older warren peers) */
	B2B_ANNOT,     /* sha1|md5: md5 annotation of the file with that sha1 */
};

/* A byte string that views someone else's memory; never NUL-terminated. */
struct b2b_str {
	const char *ptr;
	size_t len;
};

/* An IP address of §3, binary. */
struct b2b_addr {
	int family;    /* AF_INET, AF_INET6, or 0 for "none" */
	uint8_t a[16]; /* network order; AF_INET uses a[0..3] */
};

/*
 * Lines of one payload (§1): LF-separated, an optional CR before each LF
 * (and at the very end) dropped, the final LF optional, so "a\nb" and
 * "a\nb\n" are both the two lines a and b. Set up with b2b_lines_init();
 * max_len and max_lines may then be lowered for a tighter bound. Copying
 * the struct copies the position: the copy iterates again from there.
 */
struct b2b_lines {
	const char *p;      /* next unread byte */
	const char *end;    /* one past the payload */
	unsigned n;         /* lines returned so far */
	size_t max_len;     /* longest line accepted, CR and LF excluded */
	unsigned max_lines; /* most lines accepted */
};

/* One line of a file list, or one BROWSE_PEER_OK record (kind FILE3). */
struct b2b_file {
	enum b2b_file_kind kind;
	struct b2b_str name;         /* FILE3 FILE4: 1..255 bytes, §3 */
	uint64_t size;               /* FILE3 FILE4: bytes, 0..2^63-1 */
	char sha1[B2B_SHA1_LEN + 1]; /* lower-case hex, NUL */
	char md5[B2B_MD5_LEN + 1];   /* FILE4 ANNOT: lower-case hex; else "" */
	unsigned line;               /* 1-based line number in the payload */
};

/* One SHOW_PEERS_OK record (§4.5). */
struct b2b_peer {
	uint32_t user_id;     /* 1..2^31-1 */
	struct b2b_str user;  /* username */
	int online;           /* status line: 1 online, 0 offline */
	struct b2b_addr addr; /* family 0: never logged in (empty ip line) */
	uint16_t port;        /* 0: never logged in (empty port line) */
};

/* One SEARCH_FILE_OK (7 lines) or DOWNLOAD_FILE_OK (8 lines) record. */
struct b2b_hit {
	struct b2b_str name;         /* filename */
	uint64_t size;               /* bytes */
	char sha1[B2B_SHA1_LEN + 1]; /* lower-case hex, NUL */
	struct b2b_str user;         /* username of the holder */
	uint32_t user_id;            /* 1..2^31-1 */
	struct b2b_addr addr;        /* peer_ip: always an address */
	uint16_t port;               /* peer_port: 1..65535 */
	char md5[B2B_MD5_LEN + 1];   /* DOWNLOAD_FILE only: lower-case hex, or
					"" when the holder registered none */
};

/*
 * One request. Which fields mean something depends on type; the others
 * are zero after b2b_request_parse() and ignored by the encoders.
 */
struct b2b_request {
	uint16_t type;        /* enum b2b_type */
	struct b2b_str user;  /* REGISTER LOGIN LOGOUT REGISTER_UPDATE/APPEND */
	struct b2b_str pwd;   /* the same kinds */
	uint32_t id;          /* LOGIN KEEP_ALIVE REGISTER_UPDATE/APPEND,
				   LOGOUT (0: the two-line form), BROWSE_PEER
				   (its user_id); 1..2^31-1 */
	struct b2b_addr addr; /* LOGIN: family 0 when the ip line is absent */
	uint16_t port;        /* LOGIN: 0 when the port line is absent */
	enum b2b_filter filter;      /* SHOW_PEERS */
	uint32_t offset;             /* SHOW_PEERS BROWSE_PEER: 0 when absent */
	struct b2b_str query;        /* SEARCH_FILE: the words line as sent */
	unsigned nwords;             /* SEARCH_FILE: 1..32 */
	char sha1[B2B_SHA1_LEN + 1]; /* DOWNLOAD_FILE: lower-case hex, NUL */
	struct b2b_lines files;      /* file-list kinds: positioned at the first
				   file line, for b2b_file_next() */
	unsigned nfiles;             /* file-list kinds: FILE3 + FILE4 lines */
	unsigned nannots;            /* file-list kinds: ANNOT lines */
	enum b2b_reason reason;      /* after a parse error: the KO reason */
	unsigned bad_line; /* after B2B_R_BAD_FILE_LINE: its line number */
};

/*
 * One response as a client reads it. Success is the type code (§2); the
 * texts are kept for people only.
 */
struct b2b_response {
	uint16_t req;          /* the request it answers */
	uint16_t type;         /* its code */
	int ok;                /* 1: the OK code, 0: the KO code */
	struct b2b_str name;   /* first line as sent */
	struct b2b_str reason; /* KO: second line as sent, possibly empty */
	uint32_t id;           /* OK of REGISTER, REGISTER_UPDATE/APPEND */
	unsigned layout;       /* record responses: lines per record (SEARCH:
				  7, or 6 from older servers, §4.7) */
	uint16_t default_port; /* SEARCH 6-line layout: peer_port to report;
				  B2B_PEER_PORT_DEFAULT, the caller may change */
	unsigned dropped;      /* records skipped because they failed
				  validation (§7), so far */
	struct b2b_lines rest; /* private: the records not yet returned */
};

/*
 * A frame being written into caller memory. The header is written by the
 * begin functions and its length patched by b2b_out_end(). Every append
 * is all or nothing: on WARREN_ESPACE (buffer or 65 535-byte payload
 * limit) the frame is as it was, so a server can stop at a record
 * boundary and a client can start the next REGISTER_APPEND frame.
 */
struct b2b_out {
	uint8_t *buf;  /* caller's memory; the header is buf[0..3] */
	size_t cap;    /* usable bytes: at most B2B_FRAME_MAX */
	size_t len;    /* bytes written, header included */
	uint16_t type; /* the frame's code */
	uint16_t req;  /* the request it is, or answers */
};

/* ------------------------------------------------------------- codes */

/* True if type is a request code (1..10). */
int b2b_is_request(uint16_t type);

/* OK and KO codes of a request (LOGOUT: 103 and 203), 0 if req is not a
 * request code. */
uint16_t b2b_ok_type(uint16_t req);
uint16_t b2b_ko_type(uint16_t req);

/* "REGISTER", "LOGIN", ... as a NUL-terminated string, "?" if unknown. */
const char *b2b_request_name(uint16_t req);

/* Wire text of a KO reason ("malformed request", ...); "bad file line"
 * for B2B_R_BAD_FILE_LINE, without its number; "?" if unknown. */
const char *b2b_reason_text(enum b2b_reason reason);

/* ------------------------------------------------------------ frames */

/*
 * Decode a frame header from buf. Returns B2B_HEAD_LEN and sets *type and
 * *payload_len when 4 bytes are there (the payload, payload_len bytes,
 * follows), or 0 for need more. Every header is well formed; whether type
 * is one the receiver accepts is its own decision (§7).
 */
int b2b_frame_decode(
    const void *buf, size_t len, uint16_t *type, uint16_t *payload_len);

/*
 * Find one whole frame at the start of buf: returns its length (4 +
 * payload length) with *type set and *payload viewing its payload, or 0
 * for need more (the header or part of the payload is missing).
 */
int b2b_frame_next(
    const void *buf, size_t len, uint16_t *type, struct b2b_str *payload);

/* Write a frame header to out[0..3]. Returns B2B_HEAD_LEN, or
 * WARREN_ELENGTH if payload_len is over 65 535. */
int b2b_frame_encode_head(
    uint16_t type, size_t payload_len, uint8_t out[B2B_HEAD_LEN]);

/* ------------------------------------------------------------- lines */

/*
 * Start iterating over the lines of payload[0..len). Limits start at what
 * one frame can hold. Returns 0, or WARREN_ELENGTH if len is over 65 535.
 */
int b2b_lines_init(struct b2b_lines *it, const void *payload, size_t len);

/*
 * Return the next line as a view into the payload, without its CR LF.
 * Returns bytes consumed (> 0), 0 when no line is left, WARREN_ETOOLONG
 * for a line longer than max_len, WARREN_ELIMIT for a line beyond
 * max_lines. An error does not advance: the next call returns it again.
 */
int b2b_lines_next(struct b2b_lines *it, struct b2b_str *line);

/* True when no line is left. */
int b2b_lines_done(const struct b2b_lines *it);

/* ------------------------------------------------------- field checks */

/* Strict UTF-8 (no overlong forms, surrogates or code points over
 * U+10FFFF): 0 or WARREN_EFIELD. */
int b2b_utf8_check(const void *s, size_t len);

/*
 * user (1..64 bytes) and pwd (1..128 bytes): UTF-8 without whitespace
 * (ASCII or Unicode, as existing servers split on it) or control
 * characters. 0, WARREN_EEMPTY, WARREN_ETOOLONG or WARREN_EFIELD.
 */
int b2b_user_check(const void *s, size_t len);
int b2b_pwd_check(const void *s, size_t len);

/*
 * filename: 1..255 bytes of UTF-8 without control characters (C0, DEL,
 * C1), a bare name: no '/', and not "." or "..". 0, WARREN_EEMPTY,
 * WARREN_ETOOLONG or WARREN_EFIELD.
 */
int b2b_filename_check(const void *s, size_t len);

/* id, user_id: 1..10 digits, no leading zero, 1..2^31-1. 0 or
 * WARREN_EFIELD; *out is set only on success. */
int b2b_id_parse(const void *s, size_t len, uint32_t *out);

/* port: decimal 1..65535 (leading zeros allowed). 0 or WARREN_EFIELD. */
int b2b_port_parse(const void *s, size_t len, uint16_t *out);

/* size: decimal 0..2^63-1 (leading zeros allowed). 0 or WARREN_EFIELD. */
int b2b_size_parse(const void *s, size_t len, uint64_t *out);

/* offset (paging, §4.5): decimal 0..2^32-1. 0 or WARREN_EFIELD. */
int b2b_offset_parse(const void *s, size_t len, uint32_t *out);

/* sha1 (exactly 40 hex digits) and md5 (exactly 32), either case, written
 * lower-case and NUL-terminated to out. 0 or WARREN_EFIELD. */
int b2b_sha1_parse(const void *s, size_t len, char out[B2B_SHA1_LEN + 1]);
int b2b_md5_parse(const void *s, size_t len, char out[B2B_MD5_LEN + 1]);

/*
 * ip: IPv4 dotted decimal (1-3 digits per group, leading zeros read as
 * decimal) or IPv6 text. The unspecified and multicast addresses of
 * either family, and their IPv4-mapped forms, are WARREN_EFIELD. 0 on
 * success.
 */
int b2b_ip_parse(const void *s, size_t len, struct b2b_addr *out);

/* Write an address as warren sends it: IPv4 without leading zeros, IPv6
 * compressed lower-case; NUL-terminated. Returns the length, WARREN_ESPACE
 * if cap is too small (B2B_IP_TEXT_MAX always suffices), WARREN_EFIELD if
 * family is not AF_INET or AF_INET6. */
int b2b_ip_format(const struct b2b_addr *addr, char *out, size_t cap);

/*
 * Next word of a SEARCH_FILE query (words are separated by spaces and
 * tabs, §4.7). *rest is the text not yet split and advances. Returns 1 with
 * *word set, or 0 when no word is left.
 */
int b2b_word_next(struct b2b_str *rest, struct b2b_str *word);

/* ------------------------------------------------------- file lists */

/*
 * Parse one line of a file list from the right (§3): an md5 annotation,
 * the 4-field or the 3-field form; the filename may contain '|'. Hashes
 * are lower-cased; out->line is left 0. Returns 0 or WARREN_EFIELD.
 */
int b2b_file_parse(const void *line, size_t len, struct b2b_file *out);

/*
 * Parse the next line of a file list (req->files, or a copy of it).
 * Returns bytes consumed (> 0) with *out filled, 0 when the list is over,
 * or a negative code: WARREN_EFIELD for a bad line, whose number is then
 * in out->line (the KO is "bad file line <n>"), or the b2b_lines_next()
 * errors. The semantic checks (an annotation's sha1 needs a file line in
 * the same request, the last md5 and the last line of a sha1 win) are the
 * server's.
 */
int b2b_file_next(struct b2b_lines *it, struct b2b_file *out);

/* -------------------------------------------------------- requests */

/*
 * Parse the payload of a request of the given type (§4). On success
 * returns 0 and fills *out; file lists are fully validated (nfiles and
 * nannots counted) and left in out->files for b2b_file_next(). On error
 * returns a negative WARREN_E* code and sets out->reason (and out->bad_line
 * for B2B_R_BAD_FILE_LINE) to the KO the server sends: WARREN_EKIND if type
 * is not a request code (no KO exists: close, §7; reason B2B_R_NONE),
 * WARREN_ELENGTH for a payload over 65 535 bytes, WARREN_EFIELD for a bad
 * field, file line or encoding, WARREN_EPROTO for missing or extra lines;
 * for SEARCH_FILE WARREN_EEMPTY (empty query), WARREN_ELIMIT (too many
 * words) or WARREN_ETOOLONG (a word over 255 bytes). On error only reason
 * and bad_line are meaningful. Views point into payload.
 */
int b2b_request_parse(
    uint16_t type, const void *payload, size_t len, struct b2b_request *out);

/*
 * Begin a request frame in buf[0..cap) and write every line of req except
 * its file list, validating each field as the parser would. For the
 * file-list kinds add files with b2b_out_file(); then b2b_out_end(). A
 * LOGIN port needs an ip; a LOGOUT with id 0 is the two-line form; an
 * offset of 0 is not sent. Returns 0, WARREN_EKIND, WARREN_ESPACE, or the
 * code of the failed check (WARREN_EFIELD, WARREN_EEMPTY, WARREN_ETOOLONG,
 * WARREN_ELIMIT for more than 32 words); nothing usable is written then.
 */
int b2b_request_begin(
    struct b2b_out *o, const struct b2b_request *req, void *buf, size_t cap);

/* b2b_request_begin() + b2b_out_end(): a whole request (an empty list for
 * the file-list kinds). Returns the frame length or a negative code. */
int b2b_request_encode(const struct b2b_request *req, void *buf, size_t cap);

/*
 * Append one shared file to a REGISTER, REGISTER_UPDATE or
 * REGISTER_APPEND frame, as warren clients send it (§3): the 3-field line
 * and, if md5 is not NULL, its md5 annotation on the next line, both or
 * neither. sha1 and md5 are NUL-terminated hex strings of either case,
 * sent lower-case. Returns bytes
 * appended, WARREN_EKIND for another frame type, WARREN_EFIELD (or the
 * b2b_filename_check() codes) for a bad field, WARREN_ESPACE.
 */
int b2b_out_file(struct b2b_out *o, struct b2b_str name, uint64_t size,
    const char *sha1, const char *md5);

/* ------------------------------------------------------- responses */

/* LOGIN_OK, KEEP_ALIVE_OK or LOGOUT_OK (one line, no LF). Frame length,
 * WARREN_EKIND for another request, or WARREN_ESPACE. */
int b2b_encode_ok(uint16_t req, void *buf, size_t cap);

/* "<NAME>_OK\n<id>" for REGISTER, REGISTER_UPDATE and REGISTER_APPEND (no
 * final LF). Frame length, WARREN_EKIND, WARREN_EFIELD (id out of range)
 * or WARREN_ESPACE. */
int b2b_encode_ok_id(uint16_t req, uint32_t id, void *buf, size_t cap);

/* "<NAME>_KO\n<reason>" (no final LF); line is used by
 * B2B_R_BAD_FILE_LINE only. Frame length, WARREN_EKIND, WARREN_EFIELD (no
 * such reason) or WARREN_ESPACE. */
int b2b_encode_ko(
    uint16_t req, enum b2b_reason reason, unsigned line, void *buf, size_t cap);

/*
 * Begin the OK frame of a record response (SHOW_PEERS, BROWSE_PEER,
 * SEARCH_FILE, DOWNLOAD_FILE): header and "<NAME>_OK\n". Append records
 * with the b2b_out_peer/_entry/_hit functions, then b2b_out_end(); with
 * no record the payload is "<NAME>_OK\n". Returns 0, WARREN_EKIND or
 * WARREN_ESPACE.
 */
int b2b_response_begin(struct b2b_out *o, uint16_t req, void *buf, size_t cap);

/* Append one record, all or nothing. Returns bytes appended, WARREN_EKIND
 * if the frame is not the OK of the matching request (peer: SHOW_PEERS,
 * entry: BROWSE_PEER, hit: SEARCH_FILE or DOWNLOAD_FILE, the latter with
 * its md5 line), WARREN_EFIELD for a field the client would reject, or
 * WARREN_ESPACE. */
int b2b_out_peer(struct b2b_out *o, const struct b2b_peer *p);
int b2b_out_entry(struct b2b_out *o, const struct b2b_file *f);
int b2b_out_hit(struct b2b_out *o, const struct b2b_hit *h);

/* Append one line (s + LF), all or nothing: for what no helper writes.
 * Returns bytes appended, WARREN_EFIELD if s holds a CR or LF, or
 * WARREN_ESPACE. */
int b2b_out_line(struct b2b_out *o, const void *s, size_t len);

/* Patch the payload length into the header. Returns the frame length. */
int b2b_out_end(struct b2b_out *o);

/* ------------------------------------------------- client: responses */

/*
 * Read a response to request req: type must be req's OK or KO code, else
 * WARREN_EPROTO (close and report a protocol error, §7); WARREN_EKIND if
 * req is not a request code. A KO gives its reason line; REGISTER,
 * REGISTER_UPDATE and REGISTER_APPEND OKs need their id on the second line
 * (WARREN_EFIELD otherwise); record responses are then read with the
 * b2b_response_next_* functions. The first line's text is never checked
 * (§2). A SEARCH_FILE_OK that is not made of 7-line records but is of
 * 6-line ones is read in that older layout (§4.7). Returns 0, or
 * WARREN_ELENGTH for a payload over 65 535 bytes. The reason line is not
 * validated: sanitise it before showing it.
 */
int b2b_response_parse(uint16_t req, uint16_t type, const void *payload,
    size_t len, struct b2b_response *out);

/*
 * Return the next valid record of a SHOW_PEERS_OK, BROWSE_PEER_OK or
 * SEARCH_FILE_OK / DOWNLOAD_FILE_OK. Records whose fields fail validation,
 * and an incomplete last record, are skipped and counted in r->dropped.
 * Returns bytes of the payload consumed (> 0), 0 at the end, or
 * WARREN_EKIND if r is not the OK of the matching request.
 */
int b2b_response_next_peer(struct b2b_response *r, struct b2b_peer *out);
int b2b_response_next_entry(struct b2b_response *r, struct b2b_file *out);
int b2b_response_next_hit(struct b2b_response *r, struct b2b_hit *out);

#endif
