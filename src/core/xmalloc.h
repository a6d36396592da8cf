/*
 * Allocation that never returns NULL: out of memory aborts with a message.
 * Every size that comes from the network is checked against a limit before
 * it reaches these functions.
 */
#ifndef WARREN_CORE_XMALLOC_H
#define WARREN_CORE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
