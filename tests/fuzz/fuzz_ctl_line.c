/*
 * libFuzzer target for the control API line framing: whatever the input,
 * ctl_line_next() returns a length within the input that ends at a
 * newline, 0, or an error; and it never reads past len.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max = size > 0 ? (size_t)data[0] * 64 + 1 : CTL_LINE_MAX;
	size_t off = 0;

	while (off < size) {
		int n = ctl_line_next(data + off, size - off, max);

		if (n <= 0)
			break;
		if ((size_t)n > size - off || (size_t)n > max ||
		    data[off + (size_t)n - 1] != '\n' ||
		    memchr(data + off, '\0', (size_t)n) != NULL)
			abort();
		off += (size_t)n;
	}
	return 0;
}
