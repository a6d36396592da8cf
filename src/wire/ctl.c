/*
 * Line framing for the JSON-lines control API.
 */
#include <string.h>

#include "ctl.h"
#include "warren/error.h"

int
ctl_line_next(const void *buf, size_t len, size_t max)
{
	const char *p = buf;
	size_t n = len < max ? len : max;
	const char *nl = memchr(p, '\n', n);

	if (nl == NULL)
		return len >= max ? WARREN_ELENGTH : 0;
	if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
		return WARREN_EFIELD;
	return (int)(nl - p + 1);
}
