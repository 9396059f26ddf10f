/*
 * fuzz_dkim.c - libFuzzer entry point for DKIM canonicalisation and tag
 * lists (src/dkim_canon.c).  Checks: the body's canonical form does not
 * depend on where the input is split, never ends in more than one CRLF,
 * and has no whitespace before a CRLF; a header's relaxed form fits the
 * room promised; the field selection's output fits its input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

static void
sink(void *arg, const char *buf, size_t len)
{
	struct out *o = arg;

	if (o->len + len > o->cap)
		abort();
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
}

static void
body(const char *in, size_t size, size_t cut, struct out *o)
{
	static struct dkim_body_canon b;

	o->len = 0;
	dkim_body_canon_init(&b, sink, o);
	dkim_body_canon_update(&b, in, cut);
	dkim_body_canon_update(&b, in + cut, size - cut);
	dkim_body_canon_final(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "from", "to", "subject" };
	const char *in = (const char *)data;
	struct out a, b;
	char *buf, h[256], tagv[64], *canon;
	size_t i, canonlen;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	/* The canonical body is at most 2 octets longer than the input. */
	a.cap = b.cap = size + 3;
	a.buf = malloc(a.cap);
	b.buf = malloc(b.cap);
	if (a.buf == NULL || b.buf == NULL)
		abort();
	body(buf, size, size, &a);
	body(buf, size, size / 3, &b);
	if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
		abort();
	if (a.len >= 4 && memcmp(a.buf + a.len - 4, "\r\n\r\n", 4) == 0)
		abort();
	for (i = 0; i + 2 < a.len; i++)
		if ((a.buf[i] == ' ' || a.buf[i] == '\t') && a.buf[i + 1] == '\r' &&
		    a.buf[i + 2] == '\n')
			abort();
	free(a.buf);
	/* A header field: its relaxed form fits in len + 3. */
	b.buf = realloc(b.buf, size + 3);
	if (b.buf == NULL || dkim_canon_header(buf, size, 1, b.buf) > size + 2)
		abort();
	free(b.buf);
	if (dkim_select_fields(buf, size, names, 3, h, sizeof(h), &canon,
	    &canonlen) == 0) {
		if (canonlen > size + 2 * DKIM_SIGN_FIELDS_MAX)
			abort();
		free(canon);
	}
	(void)dkim_tag(buf, size, "d", tagv, sizeof(tagv));
	(void)dkim_top_signers(buf, size, h, sizeof(h));
	(void)in;
	free(buf);
	return 0;
}
