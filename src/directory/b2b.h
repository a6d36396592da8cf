/*
 * b2b.h: the beer2beer side of `warren directory` (beer2beer.md): listeners
 * on persistent connections, one response frame per request in order, the
 * registrations of store/accounts.h, password hashing on the libuv thread
 * pool (at most B2B_VERIFY_MAX at once), a sweeper for expired
 * registrations, and the limits of §7.
 */
#ifndef WARREN_DIRECTORY_B2B_H
#define WARREN_DIRECTORY_B2B_H

#include <uv.h>

#include "directory.h"
#include "store/accounts.h"

#define B2B_VERIFY_MAX 4 /* §7: password hashes computed at once */

struct b2b_server;

struct b2b_stats {
	uint64_t accepted; /* connections served */
	uint64_t refused;  /* over the connection caps: closed at once */
	uint64_t requests; /* frames answered */
	uint64_t closed;   /* frames that got a close (type, deadline) */
	uint64_t swept;    /* expired registrations deleted */
};

/*
 * Open the registrations in db_path (two handles: one for the loop's
 * queries, one for the thread pool's writes, durable) and start the
 * sweeper. Returns 0 and *out, or -1 after logging why (nothing to free).
 * cfg is borrowed and must outlive the server.
 */
int b2b_server_new(uv_loop_t *loop, const struct directory_config *cfg,
    const char *db_path, struct b2b_server **out);

/* Listen on one more address. 0 or a negative libuv error. */
int b2b_server_listen(struct b2b_server *s, const struct sockaddr *sa);

/* Bound address of the i-th listener, or NULL. */
const struct sockaddr *b2b_server_addr(const struct b2b_server *s, unsigned i);

/*
 * The handle the loop reads with (the course FIND's view of beer2beer
 * files): borrowed, valid until b2b_server_free().
 */
struct accounts *b2b_server_accounts(struct b2b_server *s);

/* Wall-clock now in ms, the time every registration is measured in. */
int64_t b2b_now_ms(void);

void b2b_server_stats(const struct b2b_server *s, struct b2b_stats *out);

/*
 * Stop listening, close every connection and the sweeper. Work already on
 * the thread pool finishes (its results are committed, not sent); the
 * loop runs until it has. Idempotent.
 */
void b2b_server_stop(struct b2b_server *s);

/* Free after b2b_server_stop() once the loop has run dry. NULL-safe. */
void b2b_server_free(struct b2b_server *s);

#endif
