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

/* A numeric field of a configuration struct, for table-driven setters. */
enum conf_type {
	CONF_UINT,    /* unsigned, in [min, max] */
	CONF_SECONDS, /* uint64_t milliseconds, in [min, max] seconds */
	CONF_DOUBLE,  /* double, in [min, max] */
};

struct conf_field {
	const char *name;
	enum conf_type type;
	size_t off; /* offsetof the field */
	double min, max;
};

/*
 * Set the field named key (normalised: '_' not '-') of the struct at base
 * from value. fields ends with a NULL name. Returns 0, 1 if no field has
 * that name, or -1 with a message naming section, key and the range.
 */
int
conf_set_field(void *base, const struct conf_field *fields, const char *section,
    const char *key, const char *value, char *err, size_t errlen);

/* Copy key into out (cap bytes) with every '-' turned into '_'. */
void conf_key_norm(const char *key, char *out, size_t cap);

#endif
