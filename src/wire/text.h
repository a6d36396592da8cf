/*
 * text.h: small text helpers shared by the wire codecs (course.c,
 * beer2beer.c, chordtxt.c) and by nothing outside src/wire: hex digits,
 * dotted-quad IPv4, IPv6 text, and the one rule the text protocols share
 * for a usable peer address. libc only.
 */
#ifndef WARREN_WIRE_TEXT_H
#define WARREN_WIRE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit of either case, or -1. */
int wire_hex_value(uint8_t c);

/* Exactly four groups of 1-3 decimal digits, each <= 255, no more bytes.
 * 0 or WARREN_EFIELD. */
int wire_ipv4_parse(const char *s, size_t len, uint8_t out[4]);

/* IPv6 text as inet_pton reads it, at most max bytes (and no NUL). 0 or
 * WARREN_EFIELD. */
int wire_ipv6_parse(const char *s, size_t len, size_t max, uint8_t out[16]);

/* 1 when nobody can connect to the address: not AF_INET or AF_INET6,
 * unspecified, multicast, or IPv4-mapped unspecified or multicast. */
int wire_ip_unusable(int family, const uint8_t a[16]);

/*
 * A peer address as the text protocols write it: IPv4 dotted quad when
 * there is no ':', else IPv6 text (at most max bytes); unusable
 * addresses (above) are refused. *family is AF_INET (address in
 * out[0..3]) or AF_INET6. 0 or WARREN_EFIELD; out untouched on error.
 */
int wire_ip_parse(
    const char *s, size_t len, size_t max, int *family, uint8_t out[16]);

#endif
