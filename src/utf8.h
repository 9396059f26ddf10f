/*
 * utf8.h - UTF-8 checks and the normal form of addresses (RFC 3629, RFC
 * 6531, RFC 6532).
 *
 * Owns: deciding whether bytes are well-formed UTF-8 (no overlong forms,
 * no surrogates, nothing above U+10FFFF), whether text is free of controls,
 * and the form in which two addresses are compared.  Not: where UTF-8 is
 * allowed, which is the SMTP parser's and the session's business.  Pure:
 * reads only the range given, writes only the caller's buffer.
 */
#ifndef SUBMITD_UTF8_H
#define SUBMITD_UTF8_H

#include <stddef.h>

/* Every octet is below 0x80. */
int	utf8_is_ascii(const char *s, size_t len);

/*
 * The length of the UTF-8 character at s[0..len) (len > 0), with its code
 * point in *cp, or 0 when it is not well-formed.
 */
size_t	utf8_decode(const char *s, size_t len, unsigned long *cp);

/* s[0..len) is well-formed UTF-8 (RFC 3629 §4); NUL is not refused here. */
int	utf8_valid(const char *s, size_t len);

/*
 * Text for a header field or a log: printable ASCII (0x20..0x7e) only, or,
 * with utf8 set, also non-ASCII characters of well-formed UTF-8 other than
 * the C1 controls U+0080..U+009F.
 */
int	utf8_text_ok(const char *s, size_t len, int utf8);

/*
 * The form in which submitd compares an address ("local@domain", as the
 * SMTP parser returns it): the local part in Unicode NFC (RFC 6531 §3.3
 * leaves its comparison to the owner of the domain; NFC makes "é" typed
 * two ways one address), the domain as given (already lowercased in its
 * ASCII letters; a U-label is not turned into its A-label).  ASCII
 * addresses are copied unchanged.  -1 when addr is not well-formed UTF-8
 * or the result does not fit in size octets.
 */
int	utf8_addr_nfc(const char *addr, char *out, size_t size);

#endif
