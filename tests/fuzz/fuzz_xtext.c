/*
 * fuzz_xtext.c - libFuzzer entry point for xtext (RFC 3461 §4) and the
 * UTF-8 checks.
 *
 * Checks what the spool and the DSN writer rely on: a decoded value is a
 * string of its returned length with no control octet (no CR, LF, NUL)
 * and, without utf8, ASCII only; what utf8_addr_nfc accepts and returns
 * is well-formed UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "xtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[128], addr[300];
	char *buf;
	int n, utf8;
	size_t i;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	for (utf8 = 0; utf8 <= 1; utf8++) {
		memset(out, 0xa5, sizeof(out));
		n = xtext_decode(buf, size, out, sizeof(out), utf8);
		if (n == -1 && out[0] != '\0')
			abort();
		if (n >= 0 && ((size_t)n >= sizeof(out) || strlen(out) != (size_t)n ||
		    n == 0 || (size_t)n > size || !utf8_text_ok(out, (size_t)n, utf8)))
			abort();
		for (i = 0; n > 0 && i < (size_t)n; i++)
			if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
				abort();
	}
	(void)utf8_text_ok(buf, size, 1);
	if (size < sizeof(addr) && memchr(buf, '\0', size) == NULL) {
		char norm[300];

		memcpy(addr, buf, size);
		addr[size] = '\0';
		n = utf8_addr_nfc(addr, norm, sizeof(norm));
		if (n == 0 && (!utf8_valid(norm, strlen(norm)) ||
		    !utf8_valid(addr, size)))
			abort();
	}
	free(buf);
	return 0;
}
