/*
 * smtp_parse.h - pure parsing of SMTP command lines (RFC 5321 §4.1, RFC 4954 §4).
 *
 * Owns: recognising the verb, splitting its argument, parsing reverse-/forward-
 * paths and their ESMTP parameters, and the AUTH command's arguments.
 * Not: state, policy (who may send what), I/O or allocation.  Every function
 * works on a caller-supplied byte range that need not be NUL-terminated, may
 * contain any byte, and never reads outside it.  On error a function returns
 * -1 and points *reply at a complete SMTP reply line (code, enhanced status
 * code, text; no CRLF) that the session sends as is; on success *reply is
 * NULL.
 */
#ifndef SUBMITD_SMTP_PARSE_H
#define SUBMITD_SMTP_PARSE_H

#include <stddef.h>

#define SMTP_LOCAL_MAX	64	/* RFC 5321 §4.5.3.1.1 */
#define SMTP_DOMAIN_MAX	255	/* RFC 5321 §4.5.3.1.2 */
#define SMTP_PATH_MAX	256	/* RFC 5321 §4.5.3.1.3, including the <> */
#define SMTP_ADDR_MAX	(SMTP_PATH_MAX - 2)
#define SMTP_MECH_MAX	20	/* RFC 4422 §3.1 */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_EHLO,
	SMTP_VERB_HELO,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_BDAT,		/* recognised only to refuse it: CHUNKING is not offered */
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*arg;		/* points into the line; after the verb and spaces;
					   NULL when no argument */
	size_t		 arglen;	/* trailing spaces removed; 0 when no argument */
};

enum smtp_body {
	SMTP_BODY_7BIT = 0,
	SMTP_BODY_8BITMIME,
};

struct smtp_mail {
	char		 addr[SMTP_ADDR_MAX + 1];	/* "" for the null path <> */
	long long	 size;		/* SIZE= value, -1 when absent */
	enum smtp_body	 body;		/* BODY= value, 7BIT when absent */
};

struct smtp_rcpt {
	char		 addr[SMTP_ADDR_MAX + 1];
};

/*
 * Splits one command line (without its CRLF) into verb and argument.
 * Verbs are case-insensitive.  Lines with control characters (other than
 * TAB), DEL or 8-bit bytes are refused (no SMTPUTF8 is offered); an unknown
 * verb gives SMTP_VERB_UNKNOWN and returns 0 (the session answers
 * "500 5.5.2").  Checks the argument's presence for verbs that need or
 * forbid one ("501 5.5.4 ...").
 */
int	smtp_parse_command(const char *line, size_t len, struct smtp_cmd *cmd,
	    const char **reply);

/*
 * EHLO/HELO argument: a domain or an address literal, no spaces.
 */
int	smtp_parse_helo(const char *arg, size_t len, const char **reply);

/*
 * MAIL argument: "FROM:<path> [params]".  Tolerates spaces after the colon.
 * Parameters: SIZE=digits, BODY=7BIT|8BITMIME, AUTH=xtext (accepted and
 * ignored, RFC 4954 §5); unknown parameters "555 5.5.4", repeated ones
 * "501 5.5.4".  The address is checked as smtp_parse_address does; the null
 * path <> is returned as "".
 */
int	smtp_parse_mail(const char *arg, size_t len, struct smtp_mail *m,
	    const char **reply);

/*
 * RCPT argument: "TO:<path>".  No parameters are supported ("555 5.5.4").
 * <postmaster> (any case, RFC 5321 §4.5.1) is returned as "postmaster"
 * without a domain; every other address needs one.
 */
int	smtp_parse_rcpt(const char *arg, size_t len, struct smtp_rcpt *r,
	    const char **reply);

/*
 * A mailbox "local@domain" (without <>), written to out (size > SMTP_ADDR_MAX)
 * with the domain lowercased and the local part as given.  Refuses: source
 * routes, address literals, '%' or '!' in the local part, quoted local parts
 * holding '@', '%', '!', '\\' or control bytes, empty labels, labels over 63
 * octets, lengths over the RFC 5321 limits.
 */
int	smtp_parse_address(const char *s, size_t len, char *out,
	    const char **reply);

/*
 * AUTH argument: "MECH [initial-response]".  The mechanism is 1..20 of
 * [A-Z0-9-_] (uppercased into mech, size > SMTP_MECH_MAX).  *ir and *irlen
 * point at the initial response, still base64, or are NULL and 0 when there
 * is none.  "=" means an empty response (RFC 4954 §4): *ir is then non-NULL
 * and *irlen 0, as sasl_server_start() wants it.
 */
int	smtp_parse_auth(const char *arg, size_t len, char *mech,
	    const char **ir, size_t *irlen, const char **reply);

#endif
