/*
 * xtext.c - RFC 3461 §4 xtext (pure).
 *
 *	xtext = *( xchar / hexchar )
 *	xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
 *	        except for "+" and "="
 *	hexchar = "+" 2(%x30-39 / %x41-46)	; upper-case hex only
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"
#include "xtext.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
xtext_decode(const char *in, size_t len, char *out, size_t size, int utf8)
{
	size_t i, n = 0;
	int hi, lo;

	if (size == 0)
		return -1;
	out[0] = '\0';
	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		char c = in[i];

		if (c == '+') {
			if (len - i < 3 || (hi = hexval(in[i + 1])) == -1 ||
			    (lo = hexval(in[i + 2])) == -1)
				goto fail;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c < '!' || c > '~' || c == '=')
			goto fail;
		if (n + 1 >= size)
			goto fail;
		out[n++] = c;
	}
	out[n] = '\0';
	if (utf8_text_ok(out, n, utf8))
		return (int)n;
fail:
	out[0] = '\0';
	return -1;
}

int
xtext_utf8_addr(const char *in, char *out, size_t size)
{
	size_t len = strlen(in), i, n, o = 0;
	unsigned long cp;
	int w;

	for (i = 0; i < len; i += n) {
		if ((unsigned char)in[i] < 0x80) {
			n = 1;
			if (o + 2 > size)
				return -1;
			out[o++] = in[i];
			continue;
		}
		if ((n = utf8_decode(in + i, len - i, &cp)) == 0)
			return -1;
		w = snprintf(out + o, size - o, "\\x{%lX}", cp);
		if (w < 0 || (size_t)w >= size - o)
			return -1;
		o += (size_t)w;
	}
	if (o >= size)
		return -1;
	out[o] = '\0';
	return (int)o;
}
