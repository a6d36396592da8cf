/*
 * addr.h: numeric socket addresses as users write them ("127.0.0.2:4000",
 * "[::1]:4000") and back. No DNS here: the loop never blocks on a resolver,
 * so names are resolved by the CLI or through uv_getaddrinfo.
 */
#ifndef WARREN_CORE_ADDR_H
#define WARREN_CORE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_STRLEN 64 /* "[ffff:...:ffff]:65535" fits */

/*
 * Parse "A.B.C.D:PORT", "[V6]:PORT", or (with default_port != 0) a bare
 * address. An explicit port 0 is accepted (a listener then picks a free
 * port). Returns 0 or -EINVAL.
 */
int
addr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *out);

/* Format as "A.B.C.D:PORT" or "[V6]:PORT" into out (ADDR_STRLEN). */
void addr_format(const struct sockaddr *sa, char *out, size_t cap);

/* Format the address only, without port or brackets. */
void addr_format_ip(const struct sockaddr *sa, char *out, size_t cap);

socklen_t addr_len(const struct sockaddr *sa);
uint16_t addr_port(const struct sockaddr *sa);
void addr_set_port(struct sockaddr *sa, uint16_t port);

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
int addr_is_loopback(const struct sockaddr *sa);
/* True for 0.0.0.0 and ::. */
int addr_is_any(const struct sockaddr *sa);
/* Same family, address and port (an IPv4-mapped IPv6 equals its IPv4). */
int addr_equal(const struct sockaddr *a, const struct sockaddr *b);

#endif
