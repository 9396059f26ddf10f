/*
 * utf8.c - UTF-8 checks (RFC 3629 §4) and NFC for addresses (libunistring).
 *
 *	UTF8-2 = %xC2-DF UTF8-tail
 *	UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *	         %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *	UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *	         %xF4 %x80-8F 2( UTF8-tail )
 */
#include <stdlib.h>
#include <string.h>

#include <uninorm.h>

#include "utf8.h"

int
utf8_is_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/*
 * The length of the character at s[0..len), or 0 when it is not
 * well-formed; *cp is its code point.
 */
static size_t
utf8_char(const unsigned char *s, size_t len, unsigned long *cp)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;	/* a tail byte, C0/C1 (overlong), F5..FF */
	if (len < n)
		return 0;
	/* The second byte's range shuts out overlongs and surrogates. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	*cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	return n;
}

size_t
utf8_decode(const char *s, size_t len, unsigned long *cp)
{
	return utf8_char((const unsigned char *)s, len, cp);
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned long cp;
	size_t i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_char(u + i, len - i, &cp)) == 0)
			return 0;
	return 1;
}

int
utf8_text_ok(const char *s, size_t len, int utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned long cp;
	size_t i, n;

	for (i = 0; i < len; i += n) {
		if (u[i] < 0x80) {
			if (u[i] < 0x20 || u[i] == 0x7f)
				return 0;
			n = 1;
			continue;
		}
		if (!utf8 || (n = utf8_char(u + i, len - i, &cp)) == 0 ||
		    cp < 0xa0)
			return 0;
	}
	return 1;
}

int
utf8_addr_nfc(const char *addr, char *out, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t len = strlen(addr), llen = at != NULL ? (size_t)(at - addr) : len;
	size_t nlen;
	uint8_t *nfc;
	char *buf;

	if (!utf8_valid(addr, len))
		return -1;
	if (utf8_is_ascii(addr, llen)) {
		if (len >= size)
			return -1;
		memmove(out, addr, len + 1);	/* out may be addr */
		return 0;
	}
	nfc = u8_normalize(UNINORM_NFC, (const uint8_t *)addr, llen, NULL, &nlen);
	if (nfc == NULL)
		return -1;
	if (nlen + (len - llen) >= size || (buf = malloc(nlen + len - llen +
	    1)) == NULL) {
		free(nfc);
		return -1;
	}
	memcpy(buf, nfc, nlen);
	memcpy(buf + nlen, addr + llen, len - llen + 1);
	memcpy(out, buf, nlen + len - llen + 1);
	free(buf);
	free(nfc);
	return 0;
}
