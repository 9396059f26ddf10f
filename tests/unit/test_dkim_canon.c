/*
 * test_dkim_canon.c - unit tests of DKIM canonicalisation and tag lists
 * (src/dkim_canon.c), with the examples of RFC 6376 §3.4.5 and the cases
 * around them.  The body is fed whole and split at every octet: the
 * result must not depend on where the network cut it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dkim_canon.h"

#define S(x)	x, sizeof(x) - 1

struct out {
	char	buf[8192];
	size_t	len;
};

static void
sink(void *arg, const char *buf, size_t len)
{
	struct out *o = arg;

	if (o->len + len > sizeof(o->buf))
		abort();
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
}

static void
canon_body(const char *what, const char *in, size_t len, const char *want,
    size_t wantlen)
{
	struct dkim_body_canon *b = malloc(sizeof(*b));
	struct out o;
	size_t cut, bad = 0;

	/* Whole, then cut in two at every octet, then one octet at a time. */
	for (cut = 0; cut <= len + 1; cut++) {
		size_t i;

		o.len = 0;
		dkim_body_canon_init(b, sink, &o);
		if (cut <= len) {
			dkim_body_canon_update(b, in, cut);
			dkim_body_canon_update(b, in + cut, len - cut);
		} else
			for (i = 0; i < len; i++)
				dkim_body_canon_update(b, in + i, 1);
		dkim_body_canon_final(b);
		if (o.len != wantlen || memcmp(o.buf, want, wantlen) != 0)
			bad++;
	}
	CHECK(bad == 0, "body %s (%zu of %zu splits wrong)", what, bad, len + 2);
	free(b);
}

static void
canon_header(const char *in, size_t len, const char *want)
{
	char out[512];
	size_t n = dkim_canon_header(in, len, 1, out);

	CHECK(n == strlen(want) && memcmp(out, want, n) == 0,
	    "header -> %s", want);
}

static void
tag(const char *list, const char *name, int rc, const char *want)
{
	char out[64];
	int got = dkim_tag(list, strlen(list), name, out, sizeof(out));

	CHECK(got == rc && (rc != 1 || strcmp(out, want) == 0),
	    "tag %s: %d %s", name, got, rc == 1 ? want : "");
}

int
main(void)
{
	static const char *const names[] = { "from", "to", "subject", "cc" };
	char h[256], out[256], *canon;
	size_t canonlen;
	const char *hdr;

	/* RFC 6376 §3.4.5's example. */
	canon_body("RFC 6376 example", S(" C \r\nD \t E\r\n\r\n\r\n"),
	    S(" C\r\nD E\r\n"));
	canon_body("empty", S(""), S(""));
	canon_body("only blank lines", S("\r\n\r\n \r\n\t\r\n"), S(""));
	canon_body("no final CRLF", S("abc"), S("abc\r\n"));
	canon_body("trailing whitespace, no CRLF", S("abc \t "), S("abc\r\n"));
	canon_body("inner blank lines kept", S("a\r\n\r\n\r\nb\r\n\r\n"),
	    S("a\r\n\r\n\r\nb\r\n"));
	canon_body("whitespace-only inner line", S("a\r\n  \r\nb\r\n"),
	    S("a\r\n\r\nb\r\n"));
	canon_body("leading whitespace is one SP", S("\t\t x\r\n"), S(" x\r\n"));
	canon_body("bare CR is text", S("a\rb\r\n"), S("a\rb\r\n"));
	canon_body("CR before whitespace", S("a\r \r\n"), S("a\r\r\n"));
	canon_body("final bare CR", S("a\r"), S("a\r\r\n"));
	canon_body("8-bit", S("\xc3\xa9\xff \x80\r\n"), S("\xc3\xa9\xff \x80\r\n"));
	canon_body("NUL octets", S("a\0b \0\r\n"), S("a\0b \0\r\n"));

	/* Headers, RFC 6376 §3.4.5 and folding. */
	canon_header(S("A: X\r\n"), "a:X\r\n");
	canon_header(S("B : Y\t\r\n\tZ  \r\n"), "b:Y Z\r\n");
	canon_header(S("Subject:   a  b\r\n \r\n c "), "subject:a b c\r\n");
	canon_header(S("X: a: :b"), "x:a: :b\r\n");
	canon_header(S("X:"), "x:\r\n");
	canon_header(S("X:   \r\n\t"), "x:\r\n");
	canon_header(S("no colon"), "nocolon\r\n");

	/* Field selection: bottom-up instances, then the name once more. */
	hdr = "From: a@x\r\nSubject: one\r\nTo: b@y\r\nSubject:  two\r\n"
	    "X-Other: z\r\nTO: c@z\r\n";
	CHECK(dkim_select_fields(hdr, strlen(hdr), names, 4, h, sizeof(h),
	    &canon, &canonlen) == 0, "select fields");
	CHECK(strcmp(h, "from:from:to:to:to:subject:subject:subject:cc") == 0,
	    "h= %s", h);
	CHECK(canonlen == strlen("from:a@x\r\nto:c@z\r\nto:b@y\r\nsubject:two\r\n"
	    "subject:one\r\n") && memcmp(canon, "from:a@x\r\nto:c@z\r\nto:b@y\r\n"
	    "subject:two\r\nsubject:one\r\n", canonlen) == 0,
	    "signed fields in order, relaxed");
	free(canon);
	CHECK(dkim_select_fields(hdr, strlen(hdr), names, 4, h, 10, &canon,
	    &canonlen) == -1 && canon == NULL, "h= too long for its buffer");
	CHECK(dkim_select_fields("", 0, names, 4, h, sizeof(h), &canon,
	    &canonlen) == 0 && canonlen == 0 && strcmp(h, "from:to:subject:cc") == 0,
	    "no fields: every name once");
	free(canon);
	hdr = "Fromage: no\r\nFrom : yes\r\n";
	CHECK(dkim_select_fields(hdr, strlen(hdr), names, 1, h, sizeof(h),
	    &canon, &canonlen) == 0 && canonlen == 10 &&
	    memcmp(canon, "from:yes\r\n", 10) == 0 && strcmp(h, "from:from") == 0,
	    "a longer name is another field");
	free(canon);

	/* Past the cap: the last instances, and no over-signing of that name. */
	{
		char big[2048], want[64];
		size_t n = 0, i, count = 0;
		const char *p;

		for (i = 0; i < 70; i++)
			n += snprintf(big + n, sizeof(big) - n, "To: %zu\r\n", i);
		CHECK(dkim_select_fields(big, n, names, 2, out, sizeof(out), &canon,
		    &canonlen) == 0, "70 To: fields");
		for (p = out; (p = strstr(p, "to")) != NULL; p += 2)
			count++;
		snprintf(want, sizeof(want), "to:69\r\nto:68\r\n");
		CHECK(count == DKIM_SIGN_FIELDS_MAX && strncmp(out, "from:to:", 8) == 0 &&
		    canonlen > strlen(want) && memcmp(canon, want, strlen(want)) == 0 &&
		    strstr(canon, "to:5\r\n") == NULL && strstr(canon, "to:6\r\n") != NULL,
		    "the last 64 signed, none over-signed (%zu in h=)", count);
		free(canon);
	}

	/* Tag lists. */
	tag("v=1; a=rsa-sha256; d=example.net; s=brisbane", "d", 1,
	    "example.net");
	tag(" v = 1 ;\r\n\ts = sel ; ", "s", 1, "sel");
	tag("v=1; a=x", "s", 0, "");
	tag("v=1; junk; s=x", "s", -1, "");
	tag("p=", "p", 1, "");
	tag("dd=1; d=2", "d", 1, "2");

	/* Our own signatures at the top of a stored message. */
	hdr = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.test;\r\n"
	    "\ts=ed2026; b=abc\r\nDKIM-Signature: v=1; d=example.test; "
	    "s=rsa2026; b=x\r\nReceived: by x\r\nDKIM-Signature: d=late; s=no\r\n";
	CHECK(dkim_top_signers(hdr, strlen(hdr), out, sizeof(out)) == 1 &&
	    strcmp(out, "ed2026@example.test,rsa2026@example.test") == 0,
	    "top signers: %s", out);
	CHECK(dkim_top_signers(S("Received: x\r\n"), out, sizeof(out)) == 0 &&
	    out[0] == '\0', "no top signers");
	CHECK(dkim_top_signers(S("DKIM-Signature: v=1"), out, sizeof(out)) == 0,
	    "a signature without d= and s=");
	CHECK(dkim_field_len(S("A: b\r\n c\r\nD: e\r\n")) == 10,
	    "continued field length");

	printf("1..%d\n", tests);
	return failures != 0;
}
