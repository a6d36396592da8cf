/*
 * Text helpers shared by the wire codecs (see text.h).
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "wire/text.h"
#include "warren/error.h"

#define WIRE_IPV6_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

int
wire_hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
wire_ipv4_parse(const char *s, size_t len, uint8_t out[4])
{
	uint8_t a[4];
	size_t i = 0, nd;
	unsigned g, v;

	for (g = 0; g < 4; g++) {
		if (g > 0) {
			if (i >= len || s[i] != '.')
				return WARREN_EFIELD;
			i++;
		}
		v = 0;
		for (nd = 0; nd < 3 && i < len && s[i] >= '0' && s[i] <= '9';
		     nd++, i++)
			v = v * 10 + (unsigned)(s[i] - '0');
		if (nd == 0 || v > 255)
			return WARREN_EFIELD;
		a[g] = (uint8_t)v;
	}
	if (i != len)
		return WARREN_EFIELD;
	memcpy(out, a, 4);
	return 0;
}

int
wire_ipv6_parse(const char *s, size_t len, size_t max, uint8_t out[16])
{
	char text[WIRE_IPV6_TEXT_MAX];

	if (len == 0 || len > max || len >= sizeof(text) ||
	    memchr(s, '\0', len) != NULL)
		return WARREN_EFIELD;
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(AF_INET6, text, out) == 1 ? 0 : WARREN_EFIELD;
}

/* 0.0.0.0 and 224.0.0.0/4. */
static int
v4_unusable(const uint8_t a[4])
{
	return (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0) ||
	    (a[0] & 0xf0) == 0xe0;
}

int
wire_ip_unusable(int family, const uint8_t a[16])
{
	static const uint8_t zero[16];
	static const uint8_t mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (family == AF_INET)
		return v4_unusable(a);
	if (family != AF_INET6)
		return 1;
	return memcmp(a, zero, 16) == 0 || a[0] == 0xff ||
	    (memcmp(a, mapped, 12) == 0 && v4_unusable(a + 12));
}

int
wire_ip_parse(const char *s, size_t len, size_t max, int *fam, uint8_t out[16])
{
	uint8_t a[16] = {0};
	int family = memchr(s, ':', len) == NULL ? AF_INET : AF_INET6;

	if (len == 0 || len > max)
		return WARREN_EFIELD;
	if (family == AF_INET ? wire_ipv4_parse(s, len, a) != 0
			      : wire_ipv6_parse(s, len, max, a) != 0)
		return WARREN_EFIELD;
	if (wire_ip_unusable(family, a))
		return WARREN_EFIELD;
	*fam = family;
	memcpy(out, a, 16);
	return 0;
}
