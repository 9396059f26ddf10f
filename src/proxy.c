/*
 * proxy.c - PROXY protocol v1 (text) and v2 (binary) headers.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A port: 1 to 5 digits, no sign, no leading zero, at most 65535. */
static int
port_of(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 5)
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v > 65535)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static long
parse_v1(const unsigned char *buf, size_t len, struct proxy_info *p)
{
	char line[PROXY_V1_MAX + 1], *w[7], *save = NULL;
	const unsigned char *cr;
	unsigned char bin[16];
	size_t n;
	int k = 0, af;

	n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	if ((cr = memchr(buf, '\r', n)) == NULL) {
		if (memchr(buf, '\n', n) != NULL)
			return -1;	/* a bare LF */
		return len >= PROXY_V1_MAX ? -1 : 0;
	}
	if ((size_t)(cr - buf) + 1 >= len)
		return 0;		/* the LF is still to come */
	if (cr[1] != '\n')
		return -1;
	n = (size_t)(cr - buf);
	memcpy(line, buf, n);
	line[n] = '\0';
	if (memchr(line, '\0', n) != NULL || memchr(line, '\n', n) != NULL)
		return -1;
	/* Up to 7 words: the seventh, if any, makes it invalid. */
	for (w[k] = strtok_r(line, " ", &save); w[k] != NULL && k < 6;)
		w[++k] = strtok_r(NULL, " ", &save);
	if (k == 6 && w[6] != NULL)
		k = 7;
	if (k < 2 || strcmp(w[0], "PROXY") != 0)
		return -1;
	if (strcmp(w[1], "UNKNOWN") == 0) {
		p->local = 1;		/* whatever follows is ignored */
		return (long)n + 2;
	}
	if (k != 6)
		return -1;
	if (strcmp(w[1], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(w[1], "TCP6") == 0)
		af = AF_INET6;
	else
		return -1;
	if (inet_pton(af, w[2], bin) != 1 || inet_pton(af, w[3], bin) != 1 ||
	    port_of(w[4], &p->src_port) == -1 || port_of(w[5], &p->dst_port) == -1)
		return -1;
	/* Written back from the binary form: one spelling per address. */
	inet_pton(af, w[2], bin);
	inet_ntop(af, bin, p->src, sizeof(p->src));
	inet_pton(af, w[3], bin);
	inet_ntop(af, bin, p->dst, sizeof(p->dst));
	return (long)n + 2;
}

static long
parse_v2(const unsigned char *buf, size_t len, struct proxy_info *p)
{
	size_t body;
	int cmd, fam;

	if (len < 16)
		return 0;
	if ((buf[12] >> 4) != 2)
		return -1;		/* version 2 only */
	cmd = buf[12] & 0x0f;
	fam = buf[13];
	body = (size_t)buf[14] << 8 | buf[15];
	if (16 + body > PROXY_MAX || cmd > 1)
		return -1;
	if (len < 16 + body)
		return 0;
	if (cmd == 0 || fam == 0x00) {
		p->local = 1;		/* LOCAL, or UNSPEC: the balancer's own */
		return (long)(16 + body);
	}
	if (fam == 0x11) {		/* TCP over IPv4 */
		if (body < 12)
			return -1;
		inet_ntop(AF_INET, buf + 16, p->src, sizeof(p->src));
		inet_ntop(AF_INET, buf + 20, p->dst, sizeof(p->dst));
		p->src_port = (unsigned)buf[24] << 8 | buf[25];
		p->dst_port = (unsigned)buf[26] << 8 | buf[27];
	} else if (fam == 0x21) {	/* TCP over IPv6 */
		if (body < 36)
			return -1;
		inet_ntop(AF_INET6, buf + 16, p->src, sizeof(p->src));
		inet_ntop(AF_INET6, buf + 32, p->dst, sizeof(p->dst));
		p->src_port = (unsigned)buf[48] << 8 | buf[49];
		p->dst_port = (unsigned)buf[50] << 8 | buf[51];
	} else
		return -1;		/* UDP, unix sockets: not for SMTP */
	return (long)(16 + body);	/* TLVs after the addresses: ignored */
}

long
proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *p)
{
	size_t n = len < sizeof(v2sig) ? len : sizeof(v2sig);

	memset(p, 0, sizeof(*p));
	if (len == 0)
		return 0;
	if (memcmp(buf, v2sig, n) == 0)
		return n < sizeof(v2sig) ? 0 : parse_v2(buf, len, p);
	n = len < 6 ? len : 6;
	if (memcmp(buf, "PROXY ", n) != 0)
		return -1;
	return n < 6 ? 0 : parse_v1(buf, len, p);
}
