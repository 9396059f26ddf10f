/*
 * test_xtext.c - unit tests of xtext (RFC 3461 §4) and the UTF-8 checks and
 * address normal form (RFC 3629, RFC 6531).
 */
#include <string.h>

#include "check.h"
#include "utf8.h"
#include "xtext.h"

static void
decode(const char *in, int utf8, const char *want)
{
	char out[32];
	int n = xtext_decode(in, strlen(in), out, sizeof(out), utf8);

	CHECK(want == NULL ? n == -1 && out[0] == '\0' :
	    n == (int)strlen(want) && strcmp(out, want) == 0,
	    "xtext \"%s\" -> %s", in, want != NULL ? want : "refused");
}

static void
test_xtext(void)
{
	char small[4];

	decode("abc", 0, "abc");
	decode("a+2Bb+3Dc", 0, "a+b=c");
	decode("+41", 0, "A");			/* escaped more than needed */
	decode("a+20b", 0, "a b");
	decode("", 0, NULL);
	decode("a+2", 0, NULL);
	decode("a+", 0, NULL);
	decode("a+2b", 0, NULL);		/* lower-case hex */
	decode("a+GG", 0, NULL);
	decode("a=b", 0, NULL);
	decode("a b", 0, NULL);
	decode("a+0Db", 0, NULL);		/* CR */
	decode("a+0A", 0, NULL);		/* LF */
	decode("a+00", 0, NULL);		/* NUL */
	decode("a+7F", 0, NULL);		/* DEL */
	decode("+C3+A9", 0, NULL);		/* UTF-8 without SMTPUTF8 */
	decode("+C3+A9", 1, "\xc3\xa9");
	decode("+C3", 1, NULL);			/* cut short */
	decode("+C2+85", 1, NULL);		/* C1 control */
	decode("a\xc3\xa9", 1, NULL);		/* 8-bit is never xtext */
	CHECK(xtext_decode("abcd", 4, small, sizeof(small), 0) == -1,
	    "xtext too long for the buffer");
	CHECK(xtext_decode("abc", 3, small, sizeof(small), 0) == 3,
	    "xtext that just fits");
}

static void
test_utf8(void)
{
	CHECK(utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10),
	    "UTF-8 of 1 to 4 octets");
	CHECK(!utf8_valid("\xc0\x80", 2), "overlong NUL");
	CHECK(!utf8_valid("\xe0\x80\xaf", 3), "overlong 3 octets");
	CHECK(!utf8_valid("\xf0\x80\x80\xaf", 4), "overlong 4 octets");
	CHECK(!utf8_valid("\xed\xa0\x80", 3), "surrogate");
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
	CHECK(!utf8_valid("\xf5\x80\x80\x80", 4), "F5");
	CHECK(!utf8_valid("\x80", 1), "lone tail");
	CHECK(!utf8_valid("\xc3", 1), "cut short");
	CHECK(!utf8_valid("\xe2\x82", 2), "cut short in 3");
	CHECK(utf8_text_ok("a b", 3, 0) && !utf8_text_ok("a\tb", 3, 1) &&
	    !utf8_text_ok("\xc3\xa9", 2, 0) && utf8_text_ok("\xc3\xa9", 2, 1) &&
	    !utf8_text_ok("\xc2\x85", 2, 1) && utf8_text_ok("\xc2\xa0", 2, 1),
	    "text: controls, C1 and UTF-8 only when allowed");
	CHECK(utf8_is_ascii("abc", 3) && !utf8_is_ascii("a\xc3\xa9", 3),
	    "ascii");
}

static void
test_nfc(void)
{
	char out[64];

	/* "é" decomposed (e + U+0301) becomes the one code point U+00E9 */
	CHECK(utf8_addr_nfc("jose\xcc\x81@b.test", out, sizeof(out)) == 0 &&
	    strcmp(out, "jos\xc3\xa9@b.test") == 0, "NFC of the local part");
	CHECK(utf8_addr_nfc("jos\xc3\xa9@b.test", out, sizeof(out)) == 0 &&
	    strcmp(out, "jos\xc3\xa9@b.test") == 0, "NFC already");
	/* the domain is left as given */
	CHECK(utf8_addr_nfc("a@e\xcc\x81.test", out, sizeof(out)) == 0 &&
	    strcmp(out, "a@e\xcc\x81.test") == 0, "domain as given");
	CHECK(utf8_addr_nfc("Alice@b.test", out, sizeof(out)) == 0 &&
	    strcmp(out, "Alice@b.test") == 0, "ASCII unchanged");
	CHECK(utf8_addr_nfc("a\xc3@b.test", out, sizeof(out)) == -1,
	    "ill-formed refused");
	CHECK(utf8_addr_nfc("Alice@b.test", out, 5) == -1, "too long");
	strcpy(out, "jose\xcc\x81@b.test");
	CHECK(utf8_addr_nfc(out, out, sizeof(out)) == 0 &&
	    strcmp(out, "jos\xc3\xa9@b.test") == 0, "in place");
}

static void
test_utf8_addr(void)
{
	char out[64];

	CHECK(xtext_utf8_addr("j\xc3\xb6rg@b.test", out, sizeof(out)) > 0 &&
	    strcmp(out, "j\\x{F6}rg@b.test") == 0, "utf-8 addr: 2 octets");
	CHECK(xtext_utf8_addr("\xe7\x94\xa8\xf0\x9f\x98\x80", out,
	    sizeof(out)) > 0 && strcmp(out, "\\x{7528}\\x{1F600}") == 0,
	    "utf-8 addr: 3 and 4 octets");
	CHECK(xtext_utf8_addr("abc", out, sizeof(out)) == 3 &&
	    strcmp(out, "abc") == 0, "utf-8 addr: ASCII unchanged");
	CHECK(xtext_utf8_addr("\xc3\xb6", out, 6) == -1, "utf-8 addr: too long");
	CHECK(xtext_utf8_addr("\xc3", out, sizeof(out)) == -1,
	    "utf-8 addr: ill-formed");
}

int
main(void)
{
	test_xtext();
	test_utf8();
	test_nfc();
	test_utf8_addr();
	printf("1..%d\n", tests);
	return failures != 0;
}
