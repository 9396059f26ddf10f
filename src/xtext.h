/*
 * xtext.h - RFC 3461 §4 xtext, the encoding of ENVID and ORCPT (pure).
 *
 * Owns: decoding an xtext value ("+XX" escapes, two upper-case hex digits)
 * into its octets; values travel on to next hops as they came.  Not: what the value means.
 * Both read only the byte range given and write only the caller's buffer.
 */
#ifndef SUBMITD_XTEXT_H
#define SUBMITD_XTEXT_H

#include <stddef.h>

/*
 * Decodes in[0..len) into out (size octets, NUL-terminated).  Refuses (-1)
 * an empty value, a character outside "!".."~" or "=", a "+" not followed
 * by two of 0-9A-F, and a result that does not fit.  Clients escape more
 * than they must ("+41" for "A"), which is accepted.  The decoded octets
 * must be printable ASCII (0x20..0x7e) or, with utf8 set, also well-formed
 * UTF-8 without controls: the value goes into a DSN header field and must
 * not carry CR, LF or NUL.  Returns the decoded length.
 */
int	xtext_decode(const char *in, size_t len, char *out, size_t size,
	    int utf8);

/*
 * RFC 6533 §3: a "utf-8" address as the client may give it (raw UTF-8,
 * utf-8-addr-unitext) in the form a next hop or DSN without SMTPUTF8
 * takes (utf-8-addr-xtext): each non-ASCII character becomes "\x{HEX}".
 * in is checked already (smtp_parse_rcpt).  -1 when it does not fit.
 */
int	xtext_utf8_addr(const char *in, char *out, size_t size);

#endif
