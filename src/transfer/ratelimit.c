/*
 * Token bucket with debt: simple, fair enough across transfers that all
 * check it, and exact on average.
 */
#include "ratelimit.h"

static void
ratelimit_refill(struct ratelimit *r, uint64_t now_ms)
{
	if (now_ms > r->last_ms) {
		r->tokens += (double)r->rate * (double)(now_ms - r->last_ms) /
		    1000.0;
		if (r->tokens > r->burst)
			r->tokens = r->burst;
		r->last_ms = now_ms;
	}
}

void
ratelimit_init(struct ratelimit *r, uint64_t rate, uint64_t now_ms)
{
	r->rate = rate;
	r->burst = (double)rate / 4.0;
	r->tokens = r->burst;
	r->last_ms = now_ms;
	r->total = 0;
}

void
ratelimit_set(struct ratelimit *r, uint64_t rate)
{
	r->rate = rate;
	r->burst = (double)rate / 4.0;
	if (r->tokens > r->burst)
		r->tokens = r->burst;
}

uint64_t
ratelimit_delay(struct ratelimit *r, uint64_t now_ms)
{
	if (r->rate == 0)
		return 0;
	ratelimit_refill(r, now_ms);
	if (r->tokens >= 0)
		return 0;
	return (uint64_t)(-r->tokens * 1000.0 / (double)r->rate) + 1;
}

uint64_t
ratelimit_take(struct ratelimit *r, uint64_t now_ms, uint64_t n)
{
	r->total += n;
	if (r->rate == 0)
		return 0;
	ratelimit_refill(r, now_ms);
	r->tokens -= (double)n;
	return ratelimit_delay(r, now_ms);
}
