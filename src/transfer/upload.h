/*
 * upload.h: the upload server, answering RETR (ARET), RETP (AREP) and HASH
 * (AHAS) for the files of the shared library (course.md §8, §9).
 *
 * Integrity: every part is read into memory, its SHA-1 is checked against
 * the library's part list, and only then are its bytes written to the
 * socket. A file that changes on disk during an upload therefore never goes
 * out as a mix of old and new bytes: the upload stops at the first part
 * that does not match (the peer sees an early close), and the library is
 * told to rehash the file.
 *
 * Limits: at most `slots` RETR/RETP are served at once; further ones wait
 * in a FIFO queue of at most `queue_max` requests for at most
 * `queue_timeout_ms`, and get the Busy sentence when the queue is full or
 * their wait is over. HASH is cheap and never waits. One token bucket
 * (ratelimit.h) paces the bytes of every upload together.
 */
#ifndef WARREN_TRANSFER_UPLOAD_H
#define WARREN_TRANSFER_UPLOAD_H

#include <stdint.h>

#include <uv.h>

#include "net/conn.h"
#include "wire/course.h"

struct library;
struct uploader;

/*
 * Test-only faults (issue: "a test-only fault switch"). Set from the
 * WARREN_TEST_FAULTS environment variable by the node, and honoured only
 * when every listening address of the node is a loopback address.
 */
struct upload_faults {
	int64_t corrupt_part; /* flip a byte of this part; -1 = off */
	int64_t close_after;  /* close after this many data bytes; -1 = off */
	int stall;            /* send the header, then nothing */
};

struct upload_opts {
	unsigned slots;            /* concurrent uploads; 0 = 16 */
	unsigned queue_max;        /* requests waiting for a slot; 0 = none */
	uint64_t queue_timeout_ms; /* longest wait for a slot; 0 = 20000 */
	uint64_t rate;    /* bytes per second, all uploads; 0 = no limit */
	unsigned chunk;   /* Lenchunk; 0 = 4096 */
	uint64_t idle_ms; /* transfer idle deadline; 0 = 30000 */
	struct upload_faults faults;
};

struct upload_stats {
	uint64_t started;      /* uploads begun (RETR + RETP) */
	uint64_t completed;    /* uploads whose last byte was written */
	uint64_t failed;       /* aborted: peer gone, I/O error, change */
	uint64_t active;       /* uploads holding a slot */
	uint64_t hash_served;  /* AHAS replies */
	uint64_t not_found;    /* unknown md5 or part */
	uint64_t busy;         /* refused: queue full, or waited too long */
	uint64_t queued;       /* requests waiting for a slot now */
	uint64_t queued_total; /* requests that had to wait */
	uint64_t changed;      /* stopped because the file changed on disk */
	uint64_t bytes;        /* file bytes written to sockets */
};

/* A new upload server on loop for lib (borrowed); free with upload_free(). */
struct uploader *upload_new(
    uv_loop_t *loop, struct library *lib, const struct upload_opts *opts);

/*
 * Serve a decoded RETR, RETP or HASH on c, at once or once a slot is free;
 * takes ownership of c.
 */
void
upload_handle(struct uploader *u, struct conn *c, const struct course_msg *m);

void upload_stats(const struct uploader *u, struct upload_stats *out);

/*
 * Close every upload and every queued request, then free u once their
 * thread-pool reads are done and its timers are closed. NULL-safe.
 */
void upload_free(struct uploader *u);

#endif
