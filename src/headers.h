/*
 * headers.h - header section rewriting for submission (pure, no I/O).
 *
 * Owns: finding the end of the header section, removing the header fields
 * the configuration names (internal Received lines, client IPs, mailer and
 * scanner headers: RFC 6409 §8 lets an MSA fix up what it relays), noting
 * whether Message-ID and Date are present, and extracting the From: addresses
 * so that policy can check them.  Not: deciding what to strip or whether a
 * From: address is allowed, and not the body, which is never touched.
 */
#ifndef SUBMITD_HEADERS_H
#define SUBMITD_HEADERS_H

#include <stddef.h>

#include "smtp_parse.h"

#define HDR_FROM_MAX	8	/* mailboxes kept from From: */
#define HDR_IDENT_MAX	8	/* mailboxes kept from Sender: and Resent-* */

enum hdr_error {
	HDR_OK = 0,
	HDR_ERR_SYNTAX,		/* a line that is neither a field nor a continuation */
	HDR_ERR_FROM_MISSING,	/* no From: field (RFC 5322 §3.6 requires one) */
	HDR_ERR_FROM_MULTIPLE,	/* more than one From: field */
	HDR_ERR_FROM_SYNTAX,	/* From: holds no parsable mailbox, or too many */
};

/* A mailbox of a field that names who sent the message, besides From:. */
struct hdr_ident {
	const char	*field;		/* "Sender", "Resent-From", "Resent-Sender" */
	char		 addr[SMTP_ADDR_MAX + 1];	/* domain lowercased */
};

struct hdr_info {
	int		 has_message_id;
	int		 has_date;
	size_t		 nfrom;
	char		 from[HDR_FROM_MAX][SMTP_ADDR_MAX + 1];	/* domain lowercased */
	enum hdr_error	 error;		/* the first problem found, HDR_OK if none */
	size_t		 nident;	/* Sender:, Resent-From:, Resent-Sender: */
	struct hdr_ident ident[HDR_IDENT_MAX];
	const char	*ident_error;	/* such a field we cannot read, or NULL */
	size_t		 authres_removed;	/* fields claiming our authserv-id */
	int		 utf8;		/* read as RFC 6532 says (the utf8 argument) */
	int		 eight_bit;	/* the section holds 8-bit octets */
	int		 tls_required_no;	/* "TLS-Required: No" (RFC 8689 §5) */
};

/*
 * Length of the header section at the start of buf, including the empty
 * line that ends it (so 2 when the message starts with CRLF), or 0 when
 * buf[0..len) does not yet hold the whole section.  Lines end with CRLF.
 */
size_t	hdr_section_len(const char *buf, size_t len);

/*
 * Does name match one of the patterns?  A pattern is a field name (any
 * case) or a prefix followed by "*" ("X-Spam-*").
 */
int	hdr_name_matches(const char *name, size_t namelen,
	    const char *const *patterns, size_t npatterns);

/*
 * Copies the header section in[0..inlen) (the fields, without the empty
 * line that ends the section) to out (room for inlen bytes), leaving out
 * every field whose name matches strip (with all its continuation lines)
 * and, when authserv_id is not NULL, every Authentication-Results and
 * ARC-Authentication-Results field that claims it or cannot be read (RFC
 * 8601 §5: only we may speak for ourselves), and fills info.  With utf8 (the
 * client gave SMTPUTF8) the addresses and display names may hold UTF-8
 * (RFC 6532 §3.2).  Returns the number of bytes written.  Never fails: a problem is reported in info and
 * the caller decides.
 */
size_t	hdr_rewrite(const char *in, size_t inlen, const char *const *strip,
	    size_t nstrip, const char *authserv_id, int utf8, char *out,
	    struct hdr_info *info);

/*
 * The authserv-id of an Authentication-Results field body (RFC 8601 §2.2),
 * or of an ARC-Authentication-Results one after its "i=N;" (RFC 8617
 * §4.1.1) when arc is set, into out.  0, or -1 when the body has none.
 */
int	hdr_authserv_id(const char *body, size_t len, int arc, char *out,
	    size_t outsize);

/*
 * The mailbox addresses of a From: field body (after the colon, may be
 * folded): "a@b", "Name <a@b>", "\"Quoted, Name\" <a@b>", comments,
 * groups, several mailboxes separated by commas.  Each address is checked
 * like an SMTP path (smtp_parse_address).  Returns the number found (at
 * most max), or -1 when the field has none, or a malformed one, or more
 * than max.  With utf8, UTF-8 is allowed as hdr_rewrite says.
 */
int	hdr_parse_from(const char *body, size_t len, int utf8,
	    char out[][SMTP_ADDR_MAX + 1], size_t max);

#endif
