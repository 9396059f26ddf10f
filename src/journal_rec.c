/*
 * journal_rec.c - journal records (format in journal_rec.h).  Pure.
 */
#include <string.h>

#include "journal_rec.h"
#include "util/crc32c.h"

static const unsigned char magic[4] = { 'S', 'J', 'R', '1' };

static void
put32(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static int
id_ok(const char *id, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
			return 0;
	return 1;
}

static int
type_ok(int type)
{
	return type == JOURNAL_MESSAGE || type == JOURNAL_STATE ||
	    type == JOURNAL_REMOVE;
}

int
journal_hdr_encode(unsigned char *out, int type, const char *id, uint64_t len,
    uint32_t crc)
{
	int i;

	if (!type_ok(type) || strlen(id) != JOURNAL_ID_LEN ||
	    !id_ok(id, JOURNAL_ID_LEN) || (type == JOURNAL_REMOVE && len != 0))
		return -1;
	memset(out, 0, JOURNAL_HDR_LEN);
	memcpy(out, magic, 4);
	out[4] = type;
	for (i = 0; i < 8; i++)
		out[8 + i] = len >> (8 * i);
	put32(out + 16, crc);
	memcpy(out + 20, id, JOURNAL_ID_LEN);
	put32(out + 40, crc32c(0, out, 40));
	return 0;
}

int
journal_hdr_decode(const unsigned char *in, struct journal_rec *r)
{
	int i;

	if (memcmp(in, magic, 4) != 0 || !type_ok(in[4]) || in[5] != 0 ||
	    in[6] != 0 || in[7] != 0 || get32(in + 44) != 0 ||
	    get32(in + 40) != crc32c(0, in, 40) ||
	    !id_ok((const char *)in + 20, JOURNAL_ID_LEN))
		return -1;
	r->type = in[4];
	r->len = 0;
	for (i = 0; i < 8; i++)
		r->len |= (uint64_t)in[8 + i] << (8 * i);
	if (r->type == JOURNAL_REMOVE && r->len != 0)
		return -1;
	r->crc = get32(in + 16);
	memcpy(r->id, in + 20, JOURNAL_ID_LEN);
	r->id[JOURNAL_ID_LEN] = '\0';
	r->payload = NULL;
	return 0;
}

size_t
journal_scan(const unsigned char *buf, size_t len,
    int (*fn)(const struct journal_rec *, void *), void *arg)
{
	struct journal_rec r;
	size_t off = 0;

	while (len - off >= JOURNAL_HDR_LEN) {
		if (journal_hdr_decode(buf + off, &r) == -1 ||
		    r.len > len - off - JOURNAL_HDR_LEN)
			break;
		r.payload = buf + off + JOURNAL_HDR_LEN;
		if (crc32c(0, r.payload, r.len) != r.crc)
			break;
		if (fn(&r, arg) == -1)
			break;
		off += JOURNAL_HDR_LEN + r.len;
	}
	return off;
}
