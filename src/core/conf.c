/*
 * Configuration value parsers shared by the node and the overlays.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int
conf_uint(
    const char *value, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (value[0] < '0' || value[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
conf_seconds(const char *value, uint64_t *out_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || v <= 0 ||
	    v > 86400.0 * 365)
		return -1;
	*out_ms = (uint64_t)(v * 1000.0 + 0.5);
	if (*out_ms == 0)
		*out_ms = 1;
	return 0;
}

int
conf_bytes(const char *value, uint64_t *out)
{
	unsigned shift = 0;
	char *end;
	unsigned long long v;

	if (value[0] < '0' || value[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10;
		end++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		end++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int
conf_double(const char *value, double max, double *out)
{
	char *end;
	double v;

	if ((value[0] < '0' || value[0] > '9') && value[0] != '.')
		return -1;
	errno = 0;
	v = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

void
conf_key_norm(const char *key, char *out, size_t cap)
{
	size_t i;

	for (i = 0; key[i] != '\0' && i + 1 < cap; i++)
		out[i] = key[i] == '-' ? '_' : key[i];
	out[i] = '\0';
}

int
conf_set_field(void *base, const struct conf_field *fields, const char *section,
    const char *key, const char *value, char *err, size_t errlen)
{
	for (const struct conf_field *f = fields; f->name != NULL; f++) {
		void *slot = (char *)base + f->off;
		unsigned long u;
		uint64_t ms;
		double d;

		if (strcmp(f->name, key) != 0)
			continue;
		switch (f->type) {
		case CONF_UINT:
			if (conf_uint(value, (unsigned long)f->min,
				(unsigned long)f->max, &u) != 0)
				goto bad;
			*(unsigned *)slot = (unsigned)u;
			return 0;
		case CONF_SECONDS:
			/* 0 is a value only where the field allows it (a
			 * feature turned off). */
			if (f->min == 0 && conf_double(value, 0, &d) == 0 &&
			    d == 0) {
				*(uint64_t *)slot = 0;
				return 0;
			}
			if (conf_seconds(value, &ms) != 0 ||
			    (double)ms < f->min * 1000.0 ||
			    (double)ms > f->max * 1000.0)
				goto bad;
			*(uint64_t *)slot = ms;
			return 0;
		case CONF_DOUBLE:
			if (conf_double(value, f->max, &d) != 0 || d < f->min)
				goto bad;
			*(double *)slot = d;
			return 0;
		}
	bad:
		snprintf(err, errlen, "%s %s: '%s' is not %s from %g to %g",
		    section, key, value,
		    f->type == CONF_SECONDS ? "a number of seconds"
					    : "a number",
		    f->min, f->max);
		return -1;
	}
	return 1;
}
