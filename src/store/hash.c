/*
 * MD5 and SHA-1 over libcrypto's EVP API (assembly-optimised, SHA-NI where
 * the CPU has it), and the one-pass file hasher of the shared library.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "hash.h"

#define HASH_READ_LEN (1024 * 1024) /* a multiple of HASH_PART_LEN */

void
hash_init(struct hash *h, enum hash_algo algo)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		abort();
	if (EVP_DigestInit_ex(
		ctx, algo == HASH_MD5 ? EVP_md5() : EVP_sha1(), NULL) != 1)
		abort();
	h->ctx = ctx;
}

void
hash_update(struct hash *h, const void *buf, size_t len)
{
	if (len > 0)
		EVP_DigestUpdate(h->ctx, buf, len);
}

void
hash_final(struct hash *h, uint8_t *out)
{
	unsigned int n;

	EVP_DigestFinal_ex(h->ctx, out, &n);
	hash_release(h);
}

void
hash_release(struct hash *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void
hash_sha1(const void *buf, size_t len, uint8_t out[HASH_SHA1_LEN])
{
	unsigned int n;

	EVP_Digest(buf, len, out, &n, EVP_sha1(), NULL);
}

void
hash_md5(const void *buf, size_t len, uint8_t out[HASH_MD5_LEN])
{
	unsigned int n;

	EVP_Digest(buf, len, out, &n, EVP_md5(), NULL);
}

void
hash_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hash_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hash_unhex(const char *in, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hash_nibble(in[2 * i]),
		    lo = hash_nibble(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
hash_file(
    const char *path, const volatile int *cancel, struct hash_file_result *out)
{
	struct hash md5, sha1;
	uint8_t digest[HASH_SHA1_LEN];
	uint8_t *buf = NULL, *parts = NULL;
	size_t parts_cap = 0;
	uint64_t total = 0;
	uint32_t nparts = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -errno;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	buf = xmalloc(HASH_READ_LEN);
	hash_init(&md5, HASH_MD5);
	hash_init(&sha1, HASH_SHA1);

	for (;;) {
		size_t have = 0;
		ssize_t n = 0;

		if (cancel != NULL && *cancel) {
			err = -ECANCELED;
			break;
		}
		/* Fill the buffer completely so parts never straddle reads. */
		while (have < HASH_READ_LEN) {
			n = read(fd, buf + have, HASH_READ_LEN - have);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		if (n == -1) {
			err = -errno;
			break;
		}
		hash_update(&md5, buf, have);
		hash_update(&sha1, buf, have);
		for (size_t off = 0; off < have; off += HASH_PART_LEN) {
			size_t len = have - off < HASH_PART_LEN ? have - off
								: HASH_PART_LEN;

			if (nparts == parts_cap) {
				parts_cap = parts_cap ? parts_cap * 2 : 16;
				parts = xreallocarray(
				    parts, parts_cap, HASH_SHA1_LEN);
			}
			hash_sha1(buf + off, len,
			    parts + (size_t)nparts * HASH_SHA1_LEN);
			nparts++;
		}
		total += have;
		if (have < HASH_READ_LEN)
			break; /* EOF */
	}
	close(fd);
	free(buf);
	if (err != 0) {
		hash_release(&md5);
		hash_release(&sha1);
		free(parts);
		return err;
	}
	hash_final(&md5, digest);
	hash_hex(digest, HASH_MD5_LEN, out->md5);
	hash_final(&sha1, digest);
	hash_hex(digest, HASH_SHA1_LEN, out->sha1);
	out->size = total;
	out->nparts = nparts;
	out->parts = parts;
	return 0;
}
