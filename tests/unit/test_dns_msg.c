/*
 * test_dns_msg.c - unit tests of DNS response reading (src/dns_msg.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dns_msg.h"

static struct dns_tlsa out[DNS_TLSA_MAX];

static int
tlsa(const unsigned char *m, size_t len)
{
	unsigned char *p = malloc(len > 0 ? len : 1);
	int n;

	memcpy(p, m, len);
	n = dns_msg_tlsa(p, len, out, DNS_TLSA_MAX);
	free(p);
	return n;
}

int
main(void)
{
	/* _25._tcp.mx.test TLSA 3 1 1 <4 octets>, answer by a pointer. */
	static const unsigned char msg[] = {
		0x12, 0x34, 0x81, 0xa0, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 0,
		3, '_', '2', '5', 4, '_', 't', 'c', 'p', 2, 'm', 'x', 4, 't', 'e',
		's', 't', 0, 0x00, 0x34, 0x00, 0x01,
		0xc0, 0x0c, 0x00, 0x34, 0x00, 0x01, 0, 0, 0x0e, 0x10, 0x00, 0x07,
		3, 1, 1, 0xde, 0xad, 0xbe, 0xef,
	};
	unsigned char bad[sizeof(msg)];
	struct dns_msg_info info;
	size_t i;

	CHECK(dns_msg_header(msg, sizeof(msg), &info) == 0 && info.ad &&
	    info.rcode == 0 && info.ancount == 1 && !info.tc, "header: AD, NOERROR");
	CHECK(tlsa(msg, sizeof(msg)) == 1 && out[0].usage == 3 &&
	    out[0].selector == 1 && out[0].mtype == 1 && out[0].len == 4 &&
	    memcmp(out[0].data, "\xde\xad\xbe\xef", 4) == 0, "one TLSA record");
	memcpy(bad, msg, sizeof(msg));
	bad[3] &= ~0x20;
	CHECK(dns_msg_header(bad, sizeof(bad), &info) == 0 && !info.ad,
	    "header: no AD");
	bad[2] &= ~0x80;
	CHECK(dns_msg_header(bad, sizeof(bad), &info) == -1, "a query is no answer");
	CHECK(dns_msg_header(msg, 11, &info) == -1, "short header");
	for (i = 12; i < sizeof(msg); i++)
		CHECK(tlsa(msg, i) == -1, "cut at %zu: malformed", i);
	memcpy(bad, msg, sizeof(msg));
	bad[sizeof(msg) - 8] = 0x08;	/* rdlength past the end */
	CHECK(tlsa(bad, sizeof(bad)) == -1, "rdlength past the end");
	memcpy(bad, msg, sizeof(msg));
	bad[12] = 0x40;			/* a reserved label type */
	CHECK(tlsa(bad, sizeof(bad)) == -1, "reserved label type");
	memcpy(bad, msg, sizeof(msg));
	bad[38] = 0x00;
	bad[39] = 0x10;			/* a TXT record, not TLSA */
	CHECK(tlsa(bad, sizeof(bad)) == 0, "other types are skipped");

	printf("1..%d\n", tests);
	return failures ? 1 : 0;
}
