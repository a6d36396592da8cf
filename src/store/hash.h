/*
 * hash.h: MD5 and SHA-1 through libcrypto's EVP interface, and the one-pass
 * hashing of a shared file (whole-file MD5, whole-file SHA-1 and the list of
 * per-part SHA-1s of course.md §9) that the library runs on the thread pool.
 */
#ifndef WARREN_STORE_HASH_H
#define WARREN_STORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_MD5_LEN  16
#define HASH_SHA1_LEN 20
#define HASH_PART_LEN 262144 /* course.md §9.1 LenPart, warren default */

enum hash_algo { HASH_MD5, HASH_SHA1 };

/* An incremental digest. Embed it; init, update, then final (which frees
 * its libcrypto state). hash_release() frees it without a result. */
struct hash {
	void *ctx; /* EVP_MD_CTX *, owned */
};

void hash_init(struct hash *h, enum hash_algo algo);
void hash_update(struct hash *h, const void *buf, size_t len);
/* Writes 16 (MD5) or 20 (SHA-1) bytes to out and releases h. */
void hash_final(struct hash *h, uint8_t *out);
void hash_release(struct hash *h);

/* One-shot SHA-1 and MD5 of a buffer. */
void hash_sha1(const void *buf, size_t len, uint8_t out[HASH_SHA1_LEN]);
void hash_md5(const void *buf, size_t len, uint8_t out[HASH_MD5_LEN]);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void hash_hex(const uint8_t *in, size_t n, char *out);

/* Parse 2n hex digits (either case) into n bytes: 0 or -1. */
int hash_unhex(const char *in, size_t n, uint8_t *out);

/* Result of hashing one file. */
struct hash_file_result {
	uint64_t size;                    /* bytes actually read */
	char md5[2 * HASH_MD5_LEN + 1];   /* lower-case hex */
	char sha1[2 * HASH_SHA1_LEN + 1]; /* lower-case hex */
	uint32_t nparts;                  /* ⌈size / HASH_PART_LEN⌉ */
	uint8_t *parts; /* nparts × 20 bytes, xmalloc'd; caller frees */
};

/*
 * Hash the file at path in one sequential read. Blocking: call it from the
 * thread pool. If *cancel becomes non-zero the read stops and -ECANCELED is
 * returned. Returns 0 or a negative errno; on error nothing is allocated.
 */
int hash_file(
    const char *path, const volatile int *cancel, struct hash_file_result *out);

#endif
