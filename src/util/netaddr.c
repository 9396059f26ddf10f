/*
 * netaddr.c - policy keys for client addresses, and CIDR ranges.
 *
 * Pure: inet_pton/inet_ntop only, no I/O, no allocation.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/netaddr.h"

static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* addr as 4 or 16 octets in out; returns AF_INET, AF_INET6 or -1. */
static int
parse(const char *addr, unsigned char *out)
{
	unsigned char a6[16];

	if (inet_pton(AF_INET, addr, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, addr, a6) != 1)
		return -1;
	if (memcmp(a6, v4mapped, sizeof(v4mapped)) == 0) {
		memcpy(out, a6 + 12, 4);
		return AF_INET;
	}
	memcpy(out, a6, 16);
	return AF_INET6;
}

int
netaddr_key(const char *addr, char *out, size_t outsize)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	int family = parse(addr, a);

	if (family == -1)
		return -1;
	if (family == AF_INET6)
		memset(a + 8, 0, 8);	/* the /64 */
	if (inet_ntop(family, a, text, sizeof(text)) == NULL)
		return -1;
	if ((size_t)snprintf(out, outsize, "%s%s", text,
	    family == AF_INET6 ? "/64" : "") >= outsize)
		return -1;
	return 0;
}

static void
clear_host_bits(unsigned char *a, int len, int bits)
{
	int i;

	for (i = 0; i < len; i++) {
		int keep = bits - i * 8;

		if (keep >= 8)
			continue;
		a[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
}

int
netaddr_parse_range(const char *s, struct netaddr_range *r)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	char *end;
	long bits;
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(r, 0, sizeof(*r));
	if (inet_pton(AF_INET, buf, r->addr) == 1)
		r->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, r->addr) == 1)
		r->family = AF_INET6;
	else
		return -1;
	r->bits = r->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits < 0 || bits > r->bits)
			return -1;
		r->bits = (int)bits;
	}
	clear_host_bits(r->addr, r->family == AF_INET ? 4 : 16, r->bits);
	return 0;
}

int
netaddr_in_range(const char *addr, const struct netaddr_range *r)
{
	unsigned char a[16];
	int family = parse(addr, a);

	if (family != r->family)
		return 0;
	clear_host_bits(a, family == AF_INET ? 4 : 16, r->bits);
	return memcmp(a, r->addr, family == AF_INET ? 4 : 16) == 0;
}
