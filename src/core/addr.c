/*
 * Numeric socket address parsing and formatting for flags, config files,
 * logs and the control API.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static int
addr_parse_port(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int
addr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *end;
	uint16_t p = default_port;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL)
			return -EINVAL;
		len = (size_t)(end - s - 1);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -EINVAL;
		s++;
	} else {
		end = strrchr(s, ':');
		if (end != NULL && strchr(s, ':') == end) {
			len = (size_t)(end - s);
			port = end + 1;
		} else {
			len = strlen(s); /* bare IPv4, or bare IPv6 */
		}
	}
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	if (port != NULL && addr_parse_port(port, &p) != 0)
		return -EINVAL;
	if (port == NULL && p == 0)
		return -EINVAL; /* "ADDR:0" is allowed: listen on any port */

	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(p);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p);
		return 0;
	}
	return -EINVAL;
}

void
addr_format_ip(const struct sockaddr *sa, char *out, size_t cap)
{
	const void *a = sa->sa_family == AF_INET
	    ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
	    : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;

	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    inet_ntop(sa->sa_family, a, out, (socklen_t)cap) == NULL)
		snprintf(out, cap, "?");
}

void
addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	addr_format_ip(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET6)
		snprintf(out, cap, "[%s]:%u", ip, addr_port(sa));
	else
		snprintf(out, cap, "%s:%u", ip, addr_port(sa));
}

socklen_t
addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

uint16_t
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return 0;
}

void
addr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
	else if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
}

/* The IPv4 address of sa, or of an IPv4-mapped IPv6 sa; -1 if neither. */
static int
addr_v4(const struct sockaddr *sa, uint32_t *out)
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, &a->s6_addr[12], 4);
			return 0;
		}
	}
	return -1;
}

int
addr_is_loopback(const struct sockaddr *sa)
{
	uint32_t v4;

	if (addr_v4(sa, &v4) == 0)
		return (ntohl(v4) >> 24) == 127;
	return sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

int
addr_is_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		    INADDR_ANY;
	return sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(
		&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

int
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	uint32_t va, vb;

	if (addr_port(a) != addr_port(b))
		return 0;
	if (addr_v4(a, &va) == 0 && addr_v4(b, &vb) == 0)
		return va == vb;
	if (a->sa_family != AF_INET6 || b->sa_family != AF_INET6)
		return 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		   &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}
