/*
 * ctl.h: framing of the control API, JSON lines over a Unix socket
 * (DESIGN.md "Control API"). This codec only finds lines; the JSON inside a
 * line is parsed by the node and the CLI with jansson.
 *
 * Protocol version: the node greets every client with
 * {"event":"hello","proto":CTL_PROTO,...}; a client that speaks another
 * version disconnects with a clear message.
 */
#ifndef WARREN_WIRE_CTL_H
#define WARREN_WIRE_CTL_H

#include <stddef.h>

#define CTL_PROTO    1
#define CTL_LINE_MAX 65536 /* longest accepted line, newline included */

/*
 * Find one line in buf. Returns the number of bytes up to and including the
 * '\n' (the line is buf[0 .. n-2], without the newline; a '\r' before it is
 * the caller's to ignore), 0 if no newline is there yet and len < max, or
 * WARREN_ELENGTH if no newline is within the first max bytes. A NUL byte
 * inside the line is WARREN_EFIELD: JSON text never contains one.
 */
int ctl_line_next(const void *buf, size_t len, size_t max);

#endif
