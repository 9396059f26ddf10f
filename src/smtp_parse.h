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
#define SMTP_ENVID_MAX	100	/* RFC 3461 §4.4, as sent (xtext) */
#define SMTP_ORCPT_MAX	500	/* RFC 3461 §4.2, as sent */
#define SMTP_BDAT_MAX	999999999999999LL	/* 15 digits: no overflow */

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
	SMTP_VERB_BDAT,		/* RFC 3030 */
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

enum smtp_ret {
	SMTP_RET_NONE = 0,	/* not given: the DSN returns the headers */
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

/* RFC 3461 §4.1 NOTIFY; 0 when not given (FAILURE,DELAY is then meant). */
#define SMTP_NOTIFY_NEVER	0x01
#define SMTP_NOTIFY_SUCCESS	0x02
#define SMTP_NOTIFY_FAILURE	0x04
#define SMTP_NOTIFY_DELAY	0x08

struct smtp_mail {
	char		 addr[SMTP_ADDR_MAX + 1];	/* "" for the null path <> */
	long long	 size;		/* SIZE= value, -1 when absent */
	enum smtp_body	 body;		/* BODY= value, 7BIT when absent */
	enum smtp_ret	 ret;		/* RET= (RFC 3461 §4.3) */
	char		 envid[SMTP_ENVID_MAX + 1];	/* ENVID=, still xtext; "" */
	int		 smtputf8;	/* SMTPUTF8 (RFC 6531 §3.4) */
	int		 requiretls;	/* REQUIRETLS (RFC 8689 §4.1) */
};

struct smtp_rcpt {
	char		 addr[SMTP_ADDR_MAX + 1];
	unsigned	 notify;	/* SMTP_NOTIFY_*, 0 when absent */
	char		 orcpt[SMTP_ORCPT_MAX + 1];	/* ORCPT= as sent; "" */
};

/*
 * Splits one command line (without its CRLF) into verb and argument.
 * Verbs are case-insensitive.  Lines with control characters (other than
 * TAB), DEL, or 8-bit bytes that are not well-formed UTF-8 are refused
 * (UTF-8 is for SMTPUTF8 addresses, which MAIL and RCPT check); an unknown
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
 * Parameters: SIZE=digits, BODY=7BIT|8BITMIME,
 * AUTH=xtext (accepted and ignored, RFC 4954 §5), RET=FULL|HDRS and
 * ENVID=xtext (RFC 3461 §4.3, §4.4; the xtext is decoded to check it),
 * SMTPUTF8 (RFC 6531 §3.4: then the address may hold UTF-8) and REQUIRETLS
 * (RFC 8689 §4.1; whether TLS is up is the session's check); unknown
 * parameters "555 5.5.4", repeated ones "501 5.5.4".  The address is
 * checked as smtp_parse_address does; the null path <> is returned as "".
 */
int	smtp_parse_mail(const char *arg, size_t len, struct smtp_mail *m,
	    const char **reply);

/*
 * RCPT argument: "TO:<path> [params]", UTF-8 in the address only with
 * utf8 (the transaction's MAIL had SMTPUTF8).  Parameters: NOTIFY=NEVER or
 * a list of SUCCESS, FAILURE, DELAY, and ORCPT=addr-type;xtext (RFC 3461
 * §4.1, §4.2; "utf-8" addr-type as in RFC 6533 §3 with utf8).
 * <postmaster> (any case, RFC 5321 §4.5.1) is returned as "postmaster"
 * without a domain; every other address needs one.
 */
int	smtp_parse_rcpt(const char *arg, size_t len, int utf8,
	    struct smtp_rcpt *r, const char **reply);

/*
 * A NOTIFY value (RFC 3461 §4.1): NEVER alone, or SUCCESS, FAILURE, DELAY
 * in any order, each once, any case; SMTP_NOTIFY_* bits into *notify.
 */
int	smtp_parse_notify(const char *v, size_t len, unsigned *notify);

/*
 * BDAT argument: "chunk-size [LAST]" (RFC 3030 §2), chunk-size 1 to 15
 * digits.
 */
int	smtp_parse_bdat(const char *arg, size_t len, long long *size,
	    int *last, const char **reply);

/*
 * A mailbox "local@domain" (without <>), written to out (size > SMTP_ADDR_MAX)
 * with the domain's ASCII letters lowercased and the local part as given.
 * Refuses: source routes, address literals, '%' or '!' in the local part,
 * quoted local parts holding '@', '%', '!', '\\' or control bytes, empty
 * labels, labels over 63 octets, lengths over the RFC 5321 limits (in
 * octets), and 8-bit bytes unless utf8 is set; then local part and domain
 * may hold UTF-8 (RFC 6531 §3.3: atext and sub-domain gain UTF8-non-ascii,
 * a domain label is then a U-label, checked only as well-formed UTF-8).
 */
int	smtp_parse_address(const char *s, size_t len, int utf8, char *out,
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
