/*
 * ratelimit.h: a token bucket for global upload and download rates. Bytes
 * are accounted after they move (a transfer may overdraw by one buffer);
 * the caller then waits the returned delay before moving more, so the
 * average rate over any window of a few seconds stays at the limit.
 */
#ifndef WARREN_TRANSFER_RATELIMIT_H
#define WARREN_TRANSFER_RATELIMIT_H

#include <stdint.h>

struct ratelimit {
	uint64_t rate;    /* bytes per second; 0 = unlimited */
	double tokens;    /* may go negative (debt) */
	double burst;     /* most tokens kept while idle */
	uint64_t last_ms; /* time of the last refill */
	uint64_t total;   /* bytes accounted since init */
};

/* rate 0 means unlimited. burst is rate/4 bytes (250 ms worth). */
void ratelimit_init(struct ratelimit *r, uint64_t rate, uint64_t now_ms);

/* Change the rate, keeping the debt. */
void ratelimit_set(struct ratelimit *r, uint64_t rate);

/*
 * Account n bytes moved at now_ms. Returns the milliseconds to wait before
 * moving more (0: go on at once).
 */
uint64_t ratelimit_take(struct ratelimit *r, uint64_t now_ms, uint64_t n);

/* Milliseconds until the bucket is out of debt (0 if it is not in debt). */
uint64_t ratelimit_delay(struct ratelimit *r, uint64_t now_ms);

#endif
