/*
 * fuzz_dns_msg.c - libFuzzer entry point for DNS response reading.
 *
 * Checks, besides the sanitizers: no more records than room for, each
 * record's data within DNS_TLSA_DATA_MAX, and a header that parses
 * whenever the records do.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_tlsa out[DNS_TLSA_MAX];
	struct dns_msg_info info;
	unsigned char *buf;
	int n, i;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	n = dns_msg_tlsa(buf, size, out, DNS_TLSA_MAX);
	if (n > DNS_TLSA_MAX || n < -1)
		abort();
	if (n >= 0 && dns_msg_header(buf, size, &info) != 0)
		abort();
	for (i = 0; i < n; i++)
		if (out[i].len > DNS_TLSA_DATA_MAX)
			abort();
	free(buf);
	return 0;
}
