/*
 * course.h: pure codec for the fixed-width ASCII course protocol family
 * (../shared/protocols/course.md): the directory, Gnutella and Kazaa
 * variants, RETR/ARET, and warren's HASH/AHAS and RETP/AREP extensions.
 *
 * Bytes in, structs out, and back. No allocation, no I/O, libc only.
 * Encoders write the canonical form of §2.5; decoders accept the tolerant
 * form of §2.5 and §12.
 *
 * Return convention of every decoder: bytes consumed (> 0), 0 for "need
 * more bytes", or a negative WARREN_E* code (include/warren/error.h).
 * Encoders return the number of bytes written or a negative WARREN_E* code.
 */
#ifndef WARREN_WIRE_COURSE_H
#define WARREN_WIRE_COURSE_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct sockaddr_storage;

#define COURSE_KIND_LEN    4
#define COURSE_PKTID_LEN   16
#define COURSE_SESSION_LEN 16
#define COURSE_IPP2P_LEN   55
#define COURSE_PP2P_LEN    5
#define COURSE_TTL_LEN     2
#define COURSE_MD5_LEN     32
#define COURSE_NAME_LEN    100
#define COURSE_TERM_LEN    20
#define COURSE_SHA1_LEN    40

#define COURSE_AFIN_HEAD_LEN   7   /* "AFIN" #idmd5[3] */
#define COURSE_AFIN_ENTRY_LEN  135 /* md5[32] name[100] #copy[3] */
#define COURSE_AFIN_COPY_LEN   60  /* IPP2P[55] PP2P[5] */
#define COURSE_CHUNKS_HEAD_LEN 10  /* "ARET"/"AREP" #chunk[6] */
#define COURSE_CHUNK_LEN_LEN   5   /* Lenchunk[5] */
#define COURSE_AHAS_HEAD_LEN   28  /* "AHAS" LenFile[10] LenPart[6] #part[8] */
#define COURSE_MSG_MAX         212 /* longest fixed-length message (AQUE) */

#define COURSE_CHUNK_DEFAULT 4096
#define COURSE_CHUNK_MAX     99999
#define COURSE_NCHUNK_MAX    999999
#define COURSE_PART_DEFAULT  262144
#define COURSE_PART_MAX      999999
#define COURSE_NPART_MAX     262144 /* part hashes accepted in AHAS (§11) */
#define COURSE_LENFILE_MAX   9999999999ULL /* 10 digits */

/* Error sentences of §2.7; written on the connection of an R request. */
#define COURSE_SAY_INVALID      "Invalid request: wrong length or malformed field."
#define COURSE_SAY_UNAUTHORIZED "Unauthorized: unknown SessionID."
#define COURSE_SAY_NOTFOUND                                                    \
	"Sorry, the requested file is not available from this peer."
#define COURSE_SAY_FAILED "Sorry, this peer could not serve the request."
#define COURSE_SAY_BUSY   "Busy: too many transfers, try again later."

enum course_kind {
	COURSE_NONE = 0,
	/* directory variant (also LOGI/ALGI/LOGO/ALGO/FIND/AFIN in Kazaa) */
	COURSE_LOGI,
	COURSE_ALGI,
	COURSE_ADDF,
	COURSE_AADD,
	COURSE_DELF,
	COURSE_ADEL,
	COURSE_FIND,
	COURSE_AFIN, /* variable length: course_afin_*() */
	COURSE_DREG,
	COURSE_ADRE,
	COURSE_LOGO,
	COURSE_ALGO,
	/* flooding (Gnutella and Kazaa) */
	COURSE_SUPE,
	COURSE_ASUP,
	COURSE_NEAR,
	COURSE_ANEA,
	COURSE_QUER,
	COURSE_AQUE,
	/* Kazaa one-shots */
	COURSE_ADFF,
	COURSE_DEFF,
	/* transfer and extensions */
	COURSE_RETR,
	COURSE_ARET, /* variable length: course_chunks_*() */
	COURSE_HASH,
	COURSE_AHAS, /* variable length: course_ahas_*() */
	COURSE_RETP,
	COURSE_AREP, /* variable length: course_chunks_*() */
	COURSE_KIND_COUNT
};

/* A byte string that views someone else's memory; never NUL-terminated. */
struct course_str {
	const char *ptr;
	size_t len;
};

/*
 * A parsed IPP2P plus PP2P. Both halves are always present after parsing;
 * whether a half may be connected to is course_peer_sockaddr()'s business
 * (unspecified, multicast and broadcast halves count as absent, §2.4).
 */
struct course_peer {
	uint8_t v4[4];  /* network order */
	uint8_t v6[16]; /* network order */
	uint16_t port;  /* host order, 1..65535 */
};

/*
 * One fixed-length message. Which fields mean something depends on kind
 * (see the course.md tables); the others are left zero by the decoder and
 * ignored by the encoder. Views point into the decoder's input and are
 * valid only as long as that input is.
 */
struct course_msg {
	enum course_kind kind;
	char pktid[COURSE_PKTID_LEN];     /* opaque bytes: flooded kinds */
	char session[COURSE_SESSION_LEN]; /* opaque bytes: ALGI ADDF DELF FIND
					     DREG LOGO ADFF DEFF */
	struct course_peer peer;      /* LOGI SUPE ASUP NEAR ANEA QUER AQUE */
	unsigned ttl;                 /* SUPE NEAR QUER: 0..99 */
	char md5[COURSE_MD5_LEN + 1]; /* ADDF DELF DREG ADFF DEFF AQUE RETR
					 HASH RETP: lower-case hex, NUL */
	struct course_str name;       /* ADDF ADFF AQUE: padding stripped */
	struct course_str term;       /* FIND QUER: padding stripped */
	unsigned long count;          /* AADD ADEL: #copy; ADRE: #download;
				ALGO: #delete */
	unsigned long partnum;        /* RETP: 0..99999999 */
};

/* Kind from its 4-byte tag, COURSE_NONE if unknown (case-sensitive). */
enum course_kind course_kind_parse(const void *buf);

/* The 4-byte tag of a kind as a NUL-terminated string ("?" if none). */
const char *course_kind_name(enum course_kind kind);

/*
 * Total length of a fixed-length kind, or 0 for the variable-length kinds
 * (AFIN, ARET, AREP, AHAS) and COURSE_NONE.
 */
size_t course_kind_len(enum course_kind kind);

/*
 * Decode one fixed-length message from buf. Returns the kind's length when
 * buf holds at least that many bytes (extra bytes are not looked at: the
 * caller decides whether they make the request malformed, §2.3), 0 when
 * more bytes are needed, WARREN_EKIND for an unknown or variable-length
 * kind (known as soon as 4 bytes are there), WARREN_EFIELD for an invalid
 * field. Views in *out point into buf.
 */
int course_decode(const void *buf, size_t len, struct course_msg *out);

/*
 * Decode the reply to LOGI: "ALGI" SessionID (20 bytes), or the bare
 * sixteen '0' of §2.7 item 4 (16 bytes; out->session is then all '0').
 * Returns 20 or 16, 0 for need more, WARREN_EREFUSED if the reply is
 * neither (an error sentence), WARREN_EFIELD for "0000" followed by
 * anything but twelve '0'.
 */
int course_decode_algi(const void *buf, size_t len, struct course_msg *out);

/*
 * Decode the fixed-length reply to an R request (expect: ALGI, AADD, ADEL,
 * ADRE or ALGO; any other fixed-length kind works the same way). Like
 * course_decode(), except that WARREN_EREFUSED is returned as soon as one
 * available leading byte differs from expect's tag (an error sentence,
 * §2.7), and ALGI goes through course_decode_algi(). WARREN_EKIND if
 * expect is not a fixed-length kind.
 */
int course_decode_reply(enum course_kind expect, const void *buf, size_t len,
    struct course_msg *out);

/*
 * Encode a fixed-length message in canonical form. Names are stripped of
 * leading and trailing spaces first; an empty name is WARREN_EEMPTY, a name
 * over 100 bytes or a term over 20 bytes is WARREN_ETOOLONG, a NUL in a
 * name or term, a bad md5, a port of 0 or a count that does not fit its
 * field is WARREN_EFIELD. Returns the length written, or WARREN_ESPACE if
 * cap is too small (nothing useful is written then).
 */
int course_encode(const struct course_msg *m, void *out, size_t cap);

/* True if a SessionID is the failure value: sixteen '0' characters. */
int course_session_is_null(const char session[COURSE_SESSION_LEN]);

/* Write v as 16 upper-case hex digits (Pktid, SessionID). */
void course_hex16(uint64_t v, char out[COURSE_PKTID_LEN]);

/*
 * Parse 32 hex digits of either case into lower-case NUL-terminated form.
 * Returns 0 or WARREN_EFIELD.
 */
int course_md5_parse(const void *p32, char out[COURSE_MD5_LEN + 1]);

/* Parse / format the 55-byte IPP2P field (§2.5). Parse: 0 or WARREN_EFIELD. */
int course_ipp2p_parse(const void *p55, struct course_peer *out);
void
course_ipp2p_format(const struct course_peer *p, char out[COURSE_IPP2P_LEN]);

/* Parse the 5-byte PP2P field: 0 or WARREN_EFIELD (1..65535 only). */
int course_port_parse(const void *p5, uint16_t *out);

/* Same node: equal addresses (binary) and equal port. */
int course_peer_equal(const struct course_peer *a, const struct course_peer *b);

/*
 * Socket address of one half of a peer, for connecting. family is AF_INET
 * (the IPv4 half) or AF_INET6 (the IPv6 half; an IPv4-mapped IPv6 half is
 * returned as an AF_INET address). Returns 0, or WARREN_EFIELD if that half
 * is absent: unspecified, multicast or broadcast (§2.4 item 4); also for
 * port 0 or another family.
 */
int course_peer_sockaddr(
    const struct course_peer *p, int family, struct sockaddr_storage *out);

/*
 * Build the address a node advertises from its IPv4 and IPv6 addresses
 * (either may be NULL) and main port: a missing IPv6 becomes the
 * IPv4-mapped form of the IPv4 (§2.4 item 2), a missing IPv4 becomes
 * 0.0.0.0 (§2.4 item 3), unless v6 is itself IPv4-mapped: its IPv4 is
 * then used. A sockaddr of the wrong family or port 0 is WARREN_EFIELD;
 * both NULL is WARREN_EEMPTY. An AF_INET6 given as v4 that is IPv4-mapped
 * is accepted as its IPv4. The ports inside the sockaddrs are ignored.
 */
int course_peer_from_sockaddr(const struct sockaddr *v4,
    const struct sockaddr *v6, uint16_t port, struct course_peer *out);

/*
 * §4 search semantics: does term (padding already stripped, as decoded)
 * match name? Strips one leading and one trailing '%', then spaces again;
 * empty or "*" matches everything; otherwise an ASCII-case-insensitive
 * literal substring test.
 */
int
course_term_match(struct course_str term, const char *name, size_t name_len);

/*
 * The part of a FIND term a trigram index may be asked for: the term as
 * course_term_match() reads it (spaces and NULs stripped, one leading and
 * one trailing '%' removed, spaces stripped again), then its longest run
 * of ASCII bytes (1..127). Only such a run is safe to hand to a
 * tokenizer: it reads ASCII bytes of a name as the same characters
 * wherever they stand, whereas non-ASCII bytes of the term may be decoded
 * differently inside a name (a cut or invalid UTF-8 sequence) and so miss
 * a §4 match. A view into term; may be empty.
 */
struct course_str course_term_index_run(struct course_str term);

/*
 * §2.6 item 4: turn a name from the network into a safe file name. Every
 * '/', '\\', NUL and control byte (0x01-0x1f, 0x7f) becomes '_'; an empty
 * result, "." or ".." becomes md5. Writes a NUL-terminated string of at most
 * cap - 1 bytes; returns its length or WARREN_ESPACE (cap < 33 or too
 * small for the name), or WARREN_EFIELD if md5 is needed and is not 32 hex
 * digits (it is lower-cased on the way).
 */
int course_name_sanitize(
    const char *name, size_t len, const char *md5, char *out, size_t cap);

/* Classify an error sentence: WARREN_EBUSY (starts with "Busy"),
 * WARREN_ENOTFOUND (contains "not available" or "not found", any case:
 * warren's sentence and existing peers' "File not found."), or
 * WARREN_EREFUSED for any other text. */
int course_sentence_classify(const void *buf, size_t len);

/* ---------------------------------------------------------------- AFIN */

enum course_afin_type {
	COURSE_AFIN_COUNT, /* header: count = #idmd5 */
	COURSE_AFIN_ENTRY, /* md5, name, count = #copy */
	COURSE_AFIN_COPY,  /* peer; valid = 0 if its address or port is bad */
};

struct course_afin_item {
	enum course_afin_type type;
	unsigned count;
	char md5[COURSE_MD5_LEN + 1];
	struct course_str name; /* view into the input, stripped */
	struct course_peer peer;
	int valid;
};

/* Streaming AFIN parser: zero it with course_afin_init(). */
struct course_afin {
	int state;             /* private */
	unsigned entries_left; /* md5 entries not yet returned */
	unsigned copies_left;  /* copies of the current entry */
};

void course_afin_init(struct course_afin *p);

/*
 * Return the next item (header, entry or copy) of an AFIN. Each item is
 * decoded only when all its bytes are in buf. Returns bytes consumed, 0 for
 * need more, WARREN_EREFUSED if the reply does not start with "AFIN" (an
 * error sentence: known as soon as the first differing byte is there),
 * WARREN_EFIELD for a bad count or md5 (the rest of the reply is then
 * misaligned: keep what came before and close, §11), or WARREN_EPROTO if
 * called after the end.
 */
int course_afin_next(struct course_afin *p, const void *buf, size_t len,
    struct course_afin_item *out);

/* True once the header and every entry and copy have been returned. */
int course_afin_done(const struct course_afin *p);

/* AFIN pieces, written in order by a server: head, then per md5 an entry
 * followed by its copies. Return 7, 135, 60 or a negative WARREN_E*. */
int course_encode_afin_head(unsigned nmd5, void *out, size_t cap);
int course_encode_afin_entry(const char *md5, struct course_str name,
    unsigned ncopies, void *out, size_t cap);
int course_encode_afin_copy(const struct course_peer *p, void *out, size_t cap);

/* ------------------------------------------------------- ARET and AREP */

/* Streaming parser of a chunked reply (ARET or AREP). */
struct course_chunks {
	enum course_kind kind; /* expected: COURSE_ARET or COURSE_AREP */
	int state;             /* private */
	unsigned long nchunk;  /* #chunk, once the header is in */
	unsigned long chunks_left;
	unsigned long data_left; /* bytes left in the current chunk */
	uint64_t total;          /* data bytes returned so far */
};

void course_chunks_init(struct course_chunks *p, enum course_kind kind);

/*
 * Consume the next piece of buf, never past the end of the reply. Data
 * bytes are not copied: *data and *data_len give the run of file data
 * found (a view into buf, possibly empty); the caller calls again with the
 * rest. Returns bytes consumed (> 0), 0 for need more (nothing consumed),
 * WARREN_EREFUSED if the reply does not start with the expected kind,
 * WARREN_EFIELD for a bad #chunk or a Lenchunk of 0 or non-digits, or
 * WARREN_EPROTO if called after the end. Never consumes bytes past the end
 * of the reply. One call returns at most one run of data (it stops at the
 * end of a chunk); a bad Lenchunk met after some progress in the same call
 * is returned by the next call, whose buf then starts at it.
 */
int course_chunks_feed(struct course_chunks *p, const void *buf, size_t len,
    const uint8_t **data, size_t *data_len);

/* True once every chunk's data has been returned. */
int course_chunks_done(const struct course_chunks *p);

/*
 * Chunk size to use for a file of size bytes with configured chunk size
 * chunk (1..99999): chunk itself, or ⌈size / 999999⌉ when chunk would need
 * more than 999999 chunks (§8 item 4). Sets *nchunk. Returns 0, or
 * WARREN_ETOOLONG when even 99999-byte chunks do not fit, or
 * WARREN_ECONFIG for a chunk outside 1..99999.
 */
int course_chunk_plan(
    uint64_t size, unsigned chunk, unsigned *chunk_out, unsigned long *nchunk);

/* "ARET"/"AREP" #chunk: 10 bytes. Lenchunk: 5 bytes. */
int course_encode_chunks_head(
    enum course_kind kind, unsigned long nchunk, void *out, size_t cap);
int course_encode_chunk_len(unsigned len, void *out, size_t cap);

/* ---------------------------------------------------------------- AHAS */

/* Streaming AHAS parser. */
struct course_ahas {
	int state;          /* private */
	uint32_t max_parts; /* refuse more part hashes than this */
	uint64_t lenfile;   /* valid after the header */
	uint32_t lenpart;
	uint32_t nparts;
	uint32_t next; /* index of the next part hash */
};

void course_ahas_init(struct course_ahas *p, uint32_t max_parts);

/*
 * First call: consumes the 28-byte header and checks it (§9.3 step 2:
 * LenPart >= 1, #part = ⌈LenFile / LenPart⌉, #part <= max_parts), *index
 * is set to UINT32_MAX. Later calls: consume one 40-byte hash, writing its
 * binary form to sha1 and its part number to *index. Returns bytes
 * consumed, 0 for need more, WARREN_EREFUSED if the reply is not "AHAS",
 * WARREN_EFIELD for a bad field, WARREN_ELIMIT for too many parts,
 * WARREN_EPROTO after the end.
 */
int course_ahas_next(struct course_ahas *p, const void *buf, size_t len,
    uint8_t sha1[20], uint32_t *index);

int course_ahas_done(const struct course_ahas *p);

/* "AHAS" header (28 bytes) and one part hash from binary (40 bytes). */
int course_encode_ahas_head(
    uint64_t lenfile, uint32_t lenpart, uint32_t nparts, void *out, size_t cap);
int course_encode_ahas_part(const uint8_t sha1[20], void *out, size_t cap);

#endif
