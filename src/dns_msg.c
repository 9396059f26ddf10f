/*
 * dns_msg.c - DNS response headers and TLSA records.
 *
 * Pure: every read is checked against the message's length; compression
 * pointers are followed only to skip a name (we never need its text), so
 * no pointer loop can trap us.
 */
#include <string.h>

#include "dns_msg.h"

#define DNS_HEADER_LEN	12
#define DNS_TYPE_TLSA	52
#define DNS_CLASS_IN	1

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int
dns_msg_header(const unsigned char *msg, size_t len, struct dns_msg_info *info)
{
	memset(info, 0, sizeof(*info));
	if (len < DNS_HEADER_LEN || !(msg[2] & 0x80))	/* QR: a response */
		return -1;
	info->tc = (msg[2] & 0x02) != 0;
	info->ad = (msg[3] & 0x20) != 0;
	info->rcode = msg[3] & 0x0f;
	info->ancount = get16(msg + 6);
	return 0;
}

/* Skips the name at *pos (RFC 1035 §4.1.4); -1 when it runs off the end. */
static int
skip_name(const unsigned char *msg, size_t len, size_t *pos)
{
	size_t p = *pos, labels = 0;

	while (p < len) {
		unsigned c = msg[p];

		if (c == 0) {
			*pos = p + 1;
			return 0;
		}
		if ((c & 0xc0) == 0xc0) {
			if (p + 2 > len)
				return -1;
			*pos = p + 2;	/* a pointer ends the name */
			return 0;
		}
		if ((c & 0xc0) != 0 || ++labels > 127)
			return -1;	/* reserved label types */
		p += 1 + c;
	}
	return -1;
}

int
dns_msg_tlsa(const unsigned char *msg, size_t len, struct dns_tlsa *out,
    size_t max)
{
	struct dns_msg_info info;
	size_t pos = DNS_HEADER_LEN, rdlen;
	unsigned qd, an, i, type, class;
	int n = 0;

	if (dns_msg_header(msg, len, &info) == -1)
		return -1;
	qd = get16(msg + 4);
	an = info.ancount;
	for (i = 0; i < qd; i++) {
		if (skip_name(msg, len, &pos) == -1 || pos + 4 > len)
			return -1;
		pos += 4;
	}
	for (i = 0; i < an; i++) {
		if (skip_name(msg, len, &pos) == -1 || pos + 10 > len)
			return -1;
		type = get16(msg + pos);
		class = get16(msg + pos + 2);
		rdlen = get16(msg + pos + 8);
		pos += 10;
		if (pos + rdlen > len)
			return -1;
		if (type == DNS_TYPE_TLSA && class == DNS_CLASS_IN) {
			/* RFC 6698 §2.1: usage, selector, matching type, data */
			if (rdlen < 3)
				return -1;
			if (rdlen - 3 <= DNS_TLSA_DATA_MAX && (size_t)n < max) {
				out[n].usage = msg[pos];
				out[n].selector = msg[pos + 1];
				out[n].mtype = msg[pos + 2];
				out[n].len = rdlen - 3;
				memcpy(out[n].data, msg + pos + 3, rdlen - 3);
				n++;
			}
		}
		pos += rdlen;
	}
	return n;
}
