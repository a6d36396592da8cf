/*
 * conf.h: parsers for configuration values shared by the node and the
 * overlays (numbers, seconds, byte sizes), and the description of one
 * configuration key for --help and the README.
 */
#ifndef WARREN_CORE_CONF_H
#define WARREN_CORE_CONF_H

#include <stddef.h>
#include <stdint.h>

/* One configuration key: name, argument, what it does and its default. */
struct config_key {
	const char *name;
	const char *arg;
	const char *help;
};

/* Decimal integer in [min, max]. 0 or -1. */
int conf_uint(const char *value, unsigned long min, unsigned long max,
    unsigned long *out);

/* Positive number of seconds, fractions allowed ("0.5"), into ms. 0 or -1. */
int conf_seconds(const char *value, uint64_t *out_ms);

/* Non-negative decimal number, fractions allowed, at most max. 0 or -1. */
int conf_double(const char *value, double max, double *out);

/*
 * A size in bytes with an optional binary suffix: "65536", "500K", "2M",
 * "1G" (either case). 0, or -1 if it is not such a number or does not fit
 * in 64 bits; the caller checks the range.
 */
int conf_bytes(const char *value, uint64_t *out);

/* Copy key into out (cap bytes) with every '-' turned into '_'. */
void conf_key_norm(const char *key, char *out, size_t cap);

#endif
