/*
 * xtext.c - RFC 3461 §4 xtext (pure).
 *
 *	xtext = *( xchar / hexchar )
 *	xchar = any ASCII CHAR between "!" (33) and "~" (126) inclusive,
 *	        except for "+" and "="
 *	hexchar = "+" 2(%x30-39 / %x41-46)	; upper-case hex only
 */
#include <stddef.h>

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
