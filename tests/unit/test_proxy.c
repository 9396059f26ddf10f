/*
 * test_proxy.c - unit tests of the PROXY protocol parser (src/proxy.c):
 * v1 and v2, LOCAL and UNKNOWN, every prefix of a good header (more is
 * needed, never an error), and what is refused.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "proxy.h"

static void
v1(const char *in, long want, const char *src, unsigned port, int local)
{
	struct proxy_info p;
	long rc = proxy_parse((const unsigned char *)in, strlen(in), &p);

	if (want > 0)
		CHECK(rc == want && p.local == local && (local ||
		    (strcmp(p.src, src) == 0 && p.src_port == port)),
		    "v1 %.*s -> %ld %s %u", (int)strcspn(in, "\r\n"), in, rc, p.src,
		    p.src_port);
	else
		CHECK(rc == want, "v1 %.*s -> %ld (want %ld)", (int)strcspn(in, "\r\n"),
		    in, rc, want);
}

static void
prefixes(const unsigned char *h, size_t len, const char *what)
{
	struct proxy_info p;
	size_t i, bad = 0;

	for (i = 0; i < len; i++)
		if (proxy_parse(h, i, &p) != 0)
			bad++;
	CHECK(bad == 0 && proxy_parse(h, len, &p) == (long)len,
	    "%s: every prefix needs more, the whole is %zu", what, len);
}

int
main(void)
{
	static const unsigned char v2_4[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x11, 0x00, 0x0f,
		192, 0, 2, 7, 10, 0, 0, 1, 0xd4, 0x31, 0x02, 0x4b,
		0x01, 0x00, 0x00,	/* a TLV (ALPN, empty): ignored */
	};
	unsigned char v2_6[16 + 36], v2_local[16], buf[64];
	const char *good = "PROXY TCP4 192.0.2.7 10.0.0.1 54321 587\r\n";
	struct proxy_info p;

	v1(good, (long)strlen(good), "192.0.2.7", 54321, 0);
	v1("PROXY TCP6 2001:db8::7 2001:db8::1 1 587\r\n", 42, "2001:db8::7", 1, 0);
	v1("PROXY TCP6 2001:DB8:0::7 ::1 1 587\r\n", 36, "2001:db8::7", 1, 0);
	v1("PROXY UNKNOWN\r\n", 15, NULL, 0, 1);
	v1("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35, NULL, 0, 1);
	v1("PROXY TCP4 192.0.2.7 10.0.0.1 54321 587\n", -1, NULL, 0, 0);
	v1("PROXY TCP4 192.0.2.7 10.0.0.1 54321\r\n", -1, NULL, 0, 0);
	v1("PROXY TCP4 192.0.2.7 10.0.0.1 65536 587\r\n", -1, NULL, 0, 0);
	v1("PROXY TCP4 192.0.2.7 10.0.0.1 0587 587\r\n", -1, NULL, 0, 0);
	v1("PROXY TCP4 192.0.2.7 10.0.0.1 -1 587\r\n", -1, NULL, 0, 0);
	v1("PROXY TCP4 2001:db8::1 10.0.0.1 1 587\r\n", -1, NULL, 0, 0);
	v1("PROXY TCP4 192.0.2.7 10.0.0.1 1 587 x\r\n", -1, NULL, 0, 0);
	v1("PROXY UDP4 192.0.2.7 10.0.0.1 1 587\r\n", -1, NULL, 0, 0);
	v1("proxy TCP4 192.0.2.7 10.0.0.1 1 587\r\n", -1, NULL, 0, 0);
	v1("EHLO x\r\n", -1, NULL, 0, 0);
	v1("\x16\x03\x01", -1, NULL, 0, 0);
	v1("PROXY TCP4 192.0.2.7", 0, NULL, 0, 0);
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "PROXY ", 6);
	{
		unsigned char longer[200];

		memset(longer, '1', sizeof(longer));
		memcpy(longer, "PROXY ", 6);
		CHECK(proxy_parse(longer, sizeof(longer), &p) == -1,
		    "v1 without CRLF within 107 octets");
	}
	prefixes((const unsigned char *)good, strlen(good), "v1");

	CHECK(proxy_parse(v2_4, sizeof(v2_4), &p) == (long)sizeof(v2_4) &&
	    strcmp(p.src, "192.0.2.7") == 0 && p.src_port == 54321 &&
	    p.dst_port == 587 && !p.local, "v2 TCP4 with a TLV: %s %u", p.src,
	    p.src_port);
	prefixes(v2_4, sizeof(v2_4), "v2");
	memcpy(v2_6, v2_4, 12);
	v2_6[12] = 0x21;
	v2_6[13] = 0x21;
	v2_6[14] = 0;
	v2_6[15] = 36;
	memset(v2_6 + 16, 0, 36);
	v2_6[16] = 0x20;
	v2_6[17] = 0x01;
	v2_6[18] = 0x0d;
	v2_6[19] = 0xb8;
	v2_6[31] = 7;
	v2_6[48] = 0x01;
	v2_6[49] = 0x02;
	CHECK(proxy_parse(v2_6, sizeof(v2_6), &p) == (long)sizeof(v2_6) &&
	    strcmp(p.src, "2001:db8::7") == 0 && p.src_port == 258,
	    "v2 TCP6: %s %u", p.src, p.src_port);
	memcpy(v2_local, v2_4, 12);
	v2_local[12] = 0x20;	/* LOCAL */
	v2_local[13] = 0;
	v2_local[14] = 0;
	v2_local[15] = 0;
	CHECK(proxy_parse(v2_local, 16, &p) == 16 && p.local, "v2 LOCAL");
	memcpy(buf, v2_4, sizeof(v2_4));
	buf[12] = 0x11;		/* version 1 in a v2 header */
	CHECK(proxy_parse(buf, sizeof(v2_4), &p) == -1, "v2 with version 1");
	memcpy(buf, v2_4, sizeof(v2_4));
	buf[12] = 0x22;		/* command 2 */
	CHECK(proxy_parse(buf, sizeof(v2_4), &p) == -1, "v2 unknown command");
	memcpy(buf, v2_4, sizeof(v2_4));
	buf[13] = 0x12;		/* UDP */
	CHECK(proxy_parse(buf, sizeof(v2_4), &p) == -1, "v2 UDP");
	memcpy(buf, v2_4, sizeof(v2_4));
	buf[15] = 4;		/* too short for the addresses */
	CHECK(proxy_parse(buf, 20, &p) == -1, "v2 short address block");
	memcpy(buf, v2_4, 16);
	buf[14] = 0xff;		/* 65k of TLVs */
	CHECK(proxy_parse(buf, 16, &p) == -1, "v2 longer than PROXY_MAX");
	CHECK(proxy_parse(v2_4, 0, &p) == 0, "nothing yet");
	printf("1..%d\n", tests);
	return failures != 0;
}
