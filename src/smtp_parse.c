/*
 * smtp_parse.c - pure parsing of SMTP command lines (RFC 5321 §4.1, RFC 4954
 * §4).
 *
 * Responsible for the syntax of one command line: the verb, its argument, the
 * paths of MAIL and RCPT with their parameters, and AUTH's arguments.  Not
 * responsible for session state, policy, I/O or memory: every function reads
 * only the byte range it is given and writes only the caller's buffers.
 *
 * Stricter than the RFC 5321 grammar where a form is only useful for routing
 * tricks or is read differently by other software: source routes, address
 * literals, '%' and '!' in addresses, quoted local parts holding '@' or
 * backslashes, and an all-numeric top-level domain (an IPv4 address without
 * brackets).  A submission server talks to mail clients, which need none of
 * them.
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "smtp_parse.h"
#include "utf8.h"
#include "xtext.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define LABEL_MAX	63	/* RFC 1035 §2.3.4 */
#define HEX		"0123456789ABCDEF"	/* RFC 3461 §4 hexchar */

enum { ARG_NONE, ARG_MAY, ARG_NEED };

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
	int		 arg;
	const char	*usage;		/* the reply when arg is wrong */
} verbs[] = {
	{ "EHLO", SMTP_VERB_EHLO, ARG_NEED,
	    "501 5.5.4 Syntax: EHLO hostname" },
	{ "HELO", SMTP_VERB_HELO, ARG_NEED,
	    "501 5.5.4 Syntax: HELO hostname" },
	{ "STARTTLS", SMTP_VERB_STARTTLS, ARG_NONE,
	    "501 5.5.4 Syntax: STARTTLS" },
	{ "AUTH", SMTP_VERB_AUTH, ARG_NEED,
	    "501 5.5.2 Syntax: AUTH mechanism [initial-response]" },
	{ "MAIL", SMTP_VERB_MAIL, ARG_NEED,
	    "501 5.5.4 Syntax: MAIL FROM:<address>" },
	{ "RCPT", SMTP_VERB_RCPT, ARG_NEED,
	    "501 5.5.4 Syntax: RCPT TO:<address>" },
	{ "DATA", SMTP_VERB_DATA, ARG_NONE, "501 5.5.4 Syntax: DATA" },
	{ "RSET", SMTP_VERB_RSET, ARG_NONE, "501 5.5.4 Syntax: RSET" },
	{ "NOOP", SMTP_VERB_NOOP, ARG_MAY, NULL },
	{ "QUIT", SMTP_VERB_QUIT, ARG_NONE, "501 5.5.4 Syntax: QUIT" },
	{ "VRFY", SMTP_VERB_VRFY, ARG_NEED,
	    "501 5.5.4 Syntax: VRFY address" },
	{ "EXPN", SMTP_VERB_EXPN, ARG_NEED,
	    "501 5.5.4 Syntax: EXPN mailing-list" },
	{ "HELP", SMTP_VERB_HELP, ARG_MAY, NULL },
	{ "BDAT", SMTP_VERB_BDAT, ARG_NEED,
	    "501 5.5.4 Syntax: BDAT chunk-size [LAST]" },
};

/* ASCII only: <ctype.h> depends on the locale and wants unsigned char. */
static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* strchr() would find the NUL that ends set. */
static int
in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* s[0..len) equals word, ignoring ASCII case. */
static int
ieq(const char *s, size_t len, const char *word)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (word[i] == '\0' || lower(s[i]) != lower(word[i]))
			return 0;
	return word[len] == '\0';
}

/* An octet of a UTF-8 character beyond ASCII (checked as a whole before). */
static int
is_8bit(char c)
{
	return (unsigned char)c >= 0x80;
}

/*
 * RFC 5322 §3.2.3 atext, without '%' and '!' (refused before this); RFC
 * 6531 §3.3 adds UTF8-non-ascii.
 */
static int
is_atext(char c, int utf8)
{
	return is_alnum(c) || in_set(c, "#$&'*+-/=?^_`{|}~") ||
	    (utf8 && is_8bit(c));
}

/* RFC 5321 §4.1.2 Dot-string = Atom *("." Atom) */
static int
dot_string_ok(const char *s, size_t len, int utf8)
{
	size_t i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.' ? s[i - 1] == '.' : !is_atext(s[i], utf8))
			return 0;
	}
	return 1;
}

/*
 * RFC 5321 §4.1.2 Domain = sub-domain *("." sub-domain), sub-domain =
 * Let-dig [Ldh-str], or a U-label with utf8 (RFC 6531 §3.3).  A single
 * label is allowed: policy decides about it.
 */
static int
domain_ok(const char *s, size_t len, int utf8)
{
	size_t i, start = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-' &&
			    !(utf8 && is_8bit(s[i])))
				return 0;
			continue;
		}
		if (i == start || i - start > LABEL_MAX ||
		    s[start] == '-' || s[i - 1] == '-')
			return 0;
		start = i + 1;
	}
	return 1;
}

/*
 * RFC 3696 §2: no top-level domain is all-numeric.  "u@127.0.0.1" would be
 * an address literal to any resolver that tries inet_aton() first.
 */
static int
domain_numeric(const char *s, size_t len)
{
	size_t i = len;

	while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
		i--;
	return i == 0 || s[i - 1] == '.';
}

/*
 * The local part at the start of s, quoted or not; returns its length or 0.
 * RFC 5321 §4.1.2 allows quoted-pairs and '@' inside quotes; we refuse
 * both, since other software splits such addresses differently.
 */
static size_t
local_part(const char *s, size_t len, int utf8)
{
	size_t i;

	if (s[0] != '"') {
		for (i = 0; i < len && s[i] != '@'; i++)
			;
		return dot_string_ok(s, i, utf8) ? i : 0;
	}
	for (i = 1; i < len && s[i] != '"'; i++)
		if (((s[i] < ' ' || s[i] > '~') && !(utf8 && is_8bit(s[i]))) ||
		    s[i] == '\\' || s[i] == '@')
			return 0;
	/* Unterminated or empty: "" would be a local part of nothing. */
	if (i == len || i == 1)
		return 0;
	return i + 1;
}

/*
 * Mailbox = Local-part "@" Domain (RFC 5321 §4.1.2), copied to out with the
 * domain lowercased; bad is the reply for plain syntax errors.
 */
static int
address_parse(const char *s, size_t len, int utf8, char *out, const char *bad,
    const char **reply)
{
	const char *dom;
	size_t llen, dlen, i;

	out[0] = '\0';
	*reply = bad;
	if (len == 0)
		return -1;
	if (!utf8_is_ascii(s, len)) {
		/* RFC 6531 §3.5: UTF-8 only once the client said SMTPUTF8. */
		if (!utf8) {
			*reply = "553 5.6.7 Non-ASCII address without SMTPUTF8";
			return -1;
		}
		if (!utf8_text_ok(s, len, 1))
			return -1;
	}
	/* RFC 5321 §3.6.1, appendix C: no source routes, "@a,@b:u@d". */
	if (s[0] == '@' && memchr(s, ':', len) != NULL) {
		*reply = "553 5.1.3 Source routes are not accepted";
		return -1;
	}
	/* RFC 5321 §4.5.3.1.3: a path, with its <>, is 256 octets at most. */
	if (len > SMTP_ADDR_MAX) {
		*reply = "501 5.5.4 Address too long";
		return -1;
	}
	/* RFC 1123 §5.2.16: '%' and '!' in a local part are routes too. */
	if (memchr(s, '%', len) != NULL || memchr(s, '!', len) != NULL) {
		*reply = "553 5.1.3 '%' and '!' are not accepted in addresses";
		return -1;
	}
	if ((llen = local_part(s, len, utf8)) == 0 || llen >= len ||
	    s[llen] != '@')
		return -1;
	if (llen > SMTP_LOCAL_MAX) {
		*reply = "501 5.5.4 Local part too long"; /* §4.5.3.1.1 */
		return -1;
	}
	dom = s + llen + 1;
	dlen = len - llen - 1;
	if ((dlen > 0 && dom[0] == '[') ||
	    (domain_ok(dom, dlen, 0) && domain_numeric(dom, dlen))) {
		*reply = "553 5.1.3 Address literals are not accepted";
		return -1;
	}
	if (!domain_ok(dom, dlen, utf8))
		return -1;
	memcpy(out, s, llen + 1);
	for (i = 0; i < dlen; i++)
		out[llen + 1 + i] = lower(dom[i]);
	out[len] = '\0';
	*reply = NULL;
	return 0;
}

/*
 * "FROM:<path>" or "TO:<path>": the path's contents and the offset after it.
 * Spaces after the colon are not in RFC 5321 §4.1.1.2, but clients send
 * them.  The first '>' ends the path: a '>' in a quoted local part is refused.
 */
static int
path_split(const char *arg, size_t len, const char *key, const char **in,
    size_t *inlen, size_t *end)
{
	const char *gt;
	size_t i, klen = strlen(key);

	if (len < klen || !ieq(arg, klen, key))
		return -1;
	for (i = klen; i < len && arg[i] == ' '; i++)
		;
	if (i == len || arg[i] != '<' ||
	    (gt = memchr(arg + i, '>', len - i)) == NULL)
		return -1;
	*in = arg + i + 1;
	*inlen = (size_t)(gt - *in);
	*end = (size_t)(gt - arg) + 1;
	/* RFC 5321 §4.1.2: parameters follow after a space. */
	return *end < len && arg[*end] != ' ' ? -1 : 0;
}

/* RFC 1870 §3: size-value ::= 1*20DIGIT, which may overflow a long long. */
static int
size_parse(const char *s, size_t len, long long *size)
{
	long long v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    v > (LLONG_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*size = v;
	return 0;
}

/* RFC 3461 §4: xtext; "<>" (RFC 4954 §5) is xtext too. */
static int
xtext_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '+') {
			if (len - i < 3 || !in_set(s[i + 1], HEX) ||
			    !in_set(s[i + 2], HEX))
				return 0;
			i += 2;
		} else if (s[i] < '!' || s[i] > '~' || s[i] == '=')
			return 0;
	}
	return 1;
}

/* A parameter's keyword and value: keyword["=" value] (RFC 5321 §4.1.2). */
struct param {
	const char	*key;
	size_t		 klen;
	const char	*val;
	size_t		 vlen;
	int		 has_val;
};

static void
param_split(const char *p, size_t len, struct param *pa)
{
	const char *eq = memchr(p, '=', len);

	pa->key = p;
	pa->klen = eq != NULL ? (size_t)(eq - p) : len;
	pa->has_val = eq != NULL;
	pa->val = eq != NULL ? eq + 1 : p + len;
	pa->vlen = len - (size_t)(pa->val - p);
}

/* Marks bit seen; a second time is "501 5.5.4". */
static int
param_once(unsigned *seen, unsigned bit, const char **reply)
{
	if (*seen & bit) {
		*reply = "501 5.5.4 Duplicate parameter";
		return -1;
	}
	*seen |= bit;
	return 0;
}

/* ENVID's xtext, which must decode to printable text (it goes into DSNs). */
static int
envid_ok(const char *v, size_t len, int utf8)
{
	char dec[SMTP_ENVID_MAX + 1];

	return len <= SMTP_ENVID_MAX && xtext_decode(v, len, dec, sizeof(dec),
	    utf8) > 0;
}

/* One esmtp-param of MAIL. */
static int
mail_param(const char *p, size_t len, struct smtp_mail *m, unsigned *seen,
    const char **reply)
{
	struct param pa;

	param_split(p, len, &pa);
	if (ieq(pa.key, pa.klen, "SIZE")) {
		if (param_once(seen, 0x01, reply) == -1)
			return -1;
		if (size_parse(pa.val, pa.vlen, &m->size) == -1) {
			*reply = "501 5.5.4 Bad SIZE parameter";
			return -1;
		}
	} else if (ieq(pa.key, pa.klen, "BODY")) {
		if (param_once(seen, 0x02, reply) == -1)
			return -1;
		/* RFC 6152 §2; BINARYMIME (RFC 3030 §3) is not offered. */
		if (ieq(pa.val, pa.vlen, "8BITMIME"))
			m->body = SMTP_BODY_8BITMIME;
		else if (!ieq(pa.val, pa.vlen, "7BIT")) {
			*reply = "501 5.5.4 BODY must be 7BIT or 8BITMIME";
			return -1;
		}
	} else if (ieq(pa.key, pa.klen, "AUTH")) {
		if (param_once(seen, 0x04, reply) == -1)
			return -1;
		/* RFC 4954 §5: accepted and ignored; the session knows the user. */
		if (!xtext_ok(pa.val, pa.vlen)) {
			*reply = "501 5.5.4 Bad AUTH parameter";
			return -1;
		}
	} else if (ieq(pa.key, pa.klen, "RET")) {
		if (param_once(seen, 0x08, reply) == -1)
			return -1;
		if (ieq(pa.val, pa.vlen, "FULL"))
			m->ret = SMTP_RET_FULL;
		else if (ieq(pa.val, pa.vlen, "HDRS"))
			m->ret = SMTP_RET_HDRS;
		else {
			*reply = "501 5.5.4 RET must be FULL or HDRS";
			return -1;
		}
	} else if (ieq(pa.key, pa.klen, "ENVID")) {
		if (param_once(seen, 0x10, reply) == -1)
			return -1;
		/* SMTPUTF8 may come after ENVID: UTF-8 is checked for later. */
		if (!envid_ok(pa.val, pa.vlen, 1)) {
			*reply = "501 5.5.4 Bad ENVID parameter";
			return -1;
		}
		memcpy(m->envid, pa.val, pa.vlen);
		m->envid[pa.vlen] = '\0';
	} else if (ieq(pa.key, pa.klen, "SMTPUTF8") ||
	    ieq(pa.key, pa.klen, "REQUIRETLS")) {
		int utf = pa.klen == 8;

		if (param_once(seen, utf ? 0x20 : 0x40, reply) == -1)
			return -1;
		if (pa.has_val) {
			*reply = utf ? "501 5.5.4 SMTPUTF8 takes no value" :
			    "501 5.5.4 REQUIRETLS takes no value";
			return -1;
		}
		if (utf)
			m->smtputf8 = 1;
		else
			m->requiretls = 1;
	} else {
		*reply = "555 5.5.4 Unsupported parameter";
		return -1;
	}
	return 0;
}

int
smtp_parse_notify(const char *v, size_t len, unsigned *notify)
{
	size_t i, n;
	unsigned bit;

	*notify = 0;
	if (ieq(v, len, "NEVER")) {
		*notify = SMTP_NOTIFY_NEVER;
		return 0;
	}
	for (i = 0; i <= len; i = n + 1) {
		for (n = i; n < len && v[n] != ','; n++)
			;
		if (ieq(v + i, n - i, "SUCCESS"))
			bit = SMTP_NOTIFY_SUCCESS;
		else if (ieq(v + i, n - i, "FAILURE"))
			bit = SMTP_NOTIFY_FAILURE;
		else if (ieq(v + i, n - i, "DELAY"))
			bit = SMTP_NOTIFY_DELAY;
		else
			return -1;
		if (*notify & bit)
			return -1;
		*notify |= bit;
	}
	return 0;
}

/*
 * RFC 6533 §3 utf-8-addr-xtext and -unitext: QCHAR (printable ASCII but
 * "+", "=", "\"), UTF8-non-ascii (unitext) and "\x{HEX}" of a Unicode
 * code point of 1 to 6 hex digits.
 */
static int
utf8_addr_ok(const char *s, size_t len)
{
	size_t i, h;
	unsigned long cp;

	if (len == 0 || !utf8_text_ok(s, len, 1))
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '+' || s[i] == '=' || s[i] == ' ')
			return 0;
		if (s[i] != '\\')
			continue;
		if (len - i < 5 || s[i + 1] != 'x' || s[i + 2] != '{')
			return 0;
		cp = 0;
		for (h = i + 3; h < len && h < i + 9 && in_set(s[h], HEX); h++)
			cp = cp << 4 | (unsigned long)(s[h] <= '9' ? s[h] - '0' :
			    s[h] - 'A' + 10);
		if (h == i + 3 || h == len || s[h] != '}' || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp < 0x20)
			return 0;
		i = h;
	}
	return 1;
}

/*
 * RFC 3461 §4.2 ORCPT=addr-type;xtext, addr-type an atom.  The xtext must
 * decode to printable text; the "utf-8" type (RFC 6533 §3) may hold UTF-8
 * with utf8.
 */
static int
orcpt_ok(const char *v, size_t len, int utf8)
{
	const char *semi = memchr(v, ';', len);
	char dec[SMTP_ORCPT_MAX + 1];
	size_t tlen, i;

	if (semi == NULL || len > SMTP_ORCPT_MAX || semi == v)
		return 0;
	tlen = (size_t)(semi - v);
	for (i = 0; i < tlen; i++)
		if (!is_atext(v[i], 0))
			return 0;
	if (ieq(v, tlen, "utf-8"))
		return utf8 && utf8_addr_ok(semi + 1, len - tlen - 1);
	return xtext_decode(semi + 1, len - tlen - 1, dec, sizeof(dec), 0) > 0;
}

/* One esmtp-param of RCPT. */
static int
rcpt_param(const char *p, size_t len, int utf8, struct smtp_rcpt *r,
    unsigned *seen, const char **reply)
{
	struct param pa;

	param_split(p, len, &pa);
	if (ieq(pa.key, pa.klen, "NOTIFY")) {
		if (param_once(seen, 0x01, reply) == -1)
			return -1;
		if (smtp_parse_notify(pa.val, pa.vlen, &r->notify) == -1) {
			*reply = "501 5.5.4 NOTIFY must be NEVER or a list of "
			    "SUCCESS, FAILURE, DELAY";
			return -1;
		}
	} else if (ieq(pa.key, pa.klen, "ORCPT")) {
		if (param_once(seen, 0x02, reply) == -1)
			return -1;
		if (!orcpt_ok(pa.val, pa.vlen, utf8)) {
			*reply = "501 5.5.4 Bad ORCPT parameter";
			return -1;
		}
		memcpy(r->orcpt, pa.val, pa.vlen);
		r->orcpt[pa.vlen] = '\0';
	} else {
		*reply = "555 5.5.4 Unsupported parameter";
		return -1;
	}
	return 0;
}

/* What the session sees after an error: nothing half-parsed. */
static void
mail_reset(struct smtp_mail *m)
{
	memset(m, 0, sizeof(*m));
	m->size = -1;
	m->body = SMTP_BODY_7BIT;
}

static void
rcpt_reset(struct smtp_rcpt *r)
{
	memset(r, 0, sizeof(*r));
}

int
smtp_parse_command(const char *line, size_t len, struct smtp_cmd *cmd,
    const char **reply)
{
	size_t i, vlen, v;

	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->arg = NULL;
	cmd->arglen = 0;
	*reply = NULL;
	/*
	 * NUL and other controls are refused before anyone can read them
	 * differently; 8-bit bytes only as well-formed UTF-8 (RFC 6531 §3.3),
	 * which only MAIL and RCPT with SMTPUTF8 then accept.
	 */
	for (i = 0; i < len; i++) {
		if ((line[i] >= 0 && line[i] < ' ' && line[i] != '\t') ||
		    line[i] == 0x7f) {
			*reply = "500 5.5.2 Syntax error: invalid character in command";
			return -1;
		}
	}
	if (!utf8_valid(line, len)) {
		*reply = "500 5.5.2 Syntax error: invalid character in command";
		return -1;
	}
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	for (i = vlen; i < len && line[i] == ' '; i++)
		;
	while (len > i && line[len - 1] == ' ')
		len--;
	if (len > i) {
		cmd->arg = line + i;
		cmd->arglen = len - i;
	}
	for (v = 0; v < nitems(verbs); v++)
		if (ieq(line, vlen, verbs[v].name))
			break;
	if (v == nitems(verbs))
		return 0;	/* the session answers "500 5.5.2" */
	cmd->verb = verbs[v].verb;
	if ((verbs[v].arg == ARG_NONE && cmd->arglen > 0) ||
	    (verbs[v].arg == ARG_NEED && cmd->arglen == 0)) {
		*reply = verbs[v].usage;
		return -1;
	}
	return 0;
}

int
smtp_parse_helo(const char *arg, size_t len, const char **reply)
{
	size_t i;

	*reply = "501 5.5.4 EHLO/HELO needs a domain or address literal";
	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return -1;
	if (arg[0] != '[') {
		if (!domain_ok(arg, len, 0))
			return -1;
	} else {
		/* RFC 5321 §4.1.3: dcontent is %d33-90 / %d94-126. */
		if (len < 3 || arg[len - 1] != ']')
			return -1;
		for (i = 1; i < len - 1; i++)
			if (arg[i] < '!' || arg[i] > '~' ||
			    in_set(arg[i], "[\\]"))
				return -1;
	}
	*reply = NULL;
	return 0;
}

/* The statement that follows runs for each parameter arg[i..n). */
#define EACH_PARAM(arg, i, len, n)					\
	for (; (i) < (len); (i) = (n) + 1)				\
		if (((n) = param_end(arg, i, len)) > (i))

static size_t
param_end(const char *arg, size_t i, size_t len)
{
	while (i < len && arg[i] != ' ')
		i++;
	return i;
}

int
smtp_parse_mail(const char *arg, size_t len, struct smtp_mail *m,
    const char **reply)
{
	const char *in;
	size_t i, n, inlen, start;
	unsigned seen = 0;
	char dec[SMTP_ENVID_MAX + 1];

	mail_reset(m);
	*reply = "501 5.5.4 Syntax: MAIL FROM:<address>";
	if (path_split(arg, len, "FROM:", &in, &inlen, &start) == -1)
		return -1;
	/* The parameters first: SMTPUTF8 says how to read the address. */
	i = start;
	EACH_PARAM(arg, i, len, n)
		if (mail_param(arg + i, n - i, m, &seen, reply) == -1) {
			mail_reset(m);
			return -1;
		}
	if (m->envid[0] != '\0' && xtext_decode(m->envid, strlen(m->envid),
	    dec, sizeof(dec), m->smtputf8) <= 0) {
		mail_reset(m);
		*reply = "501 5.5.4 Bad ENVID parameter";
		return -1;
	}
	/* The null reverse-path <> (RFC 5321 §4.5.5) stays "". */
	if (inlen > 0 && address_parse(in, inlen, m->smtputf8, m->addr,
	    "501 5.1.7 Bad sender address syntax", reply) == -1) {
		mail_reset(m);
		return -1;
	}
	*reply = NULL;
	return 0;
}

int
smtp_parse_rcpt(const char *arg, size_t len, int utf8, struct smtp_rcpt *r,
    const char **reply)
{
	const char *in;
	size_t i, n, inlen;
	unsigned seen = 0;

	rcpt_reset(r);
	*reply = "501 5.5.4 Syntax: RCPT TO:<address>";
	if (path_split(arg, len, "TO:", &in, &inlen, &i) == -1)
		return -1;
	/* RFC 5321 §4.5.1: <postmaster> needs no domain. */
	if (ieq(in, inlen, "postmaster"))
		memcpy(r->addr, "postmaster", sizeof("postmaster"));
	else if (address_parse(in, inlen, utf8, r->addr,
	    "501 5.1.3 Bad recipient address syntax", reply) == -1)
		return -1;
	EACH_PARAM(arg, i, len, n)
		if (rcpt_param(arg + i, n - i, utf8, r, &seen, reply) == -1) {
			rcpt_reset(r);
			return -1;
		}
	*reply = NULL;
	return 0;
}

int
smtp_parse_bdat(const char *arg, size_t len, long long *size, int *last,
    const char **reply)
{
	size_t n = param_end(arg, 0, len), i;

	*size = 0;
	*last = 0;
	*reply = "501 5.5.4 Syntax: BDAT chunk-size [LAST]";
	if (n == 0 || n > 15)
		return -1;
	for (i = 0; i < n; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return -1;
		*size = *size * 10 + (arg[i] - '0');
	}
	for (i = n; i < len && arg[i] == ' '; i++)
		;
	if (i < len) {
		if (!ieq(arg + i, len - i, "LAST")) {
			*size = 0;
			return -1;
		}
		*last = 1;
	}
	*reply = NULL;
	return 0;
}

int
smtp_parse_address(const char *s, size_t len, int utf8, char *out,
    const char **reply)
{
	return address_parse(s, len, utf8, out, "501 5.1.3 Bad address syntax",
	    reply);
}

int
smtp_parse_auth(const char *arg, size_t len, char *mech, const char **ir,
    size_t *irlen, const char **reply)
{
	size_t i, n;

	mech[0] = '\0';
	*ir = NULL;
	*irlen = 0;
	*reply = "501 5.5.2 Syntax: AUTH mechanism [initial-response]";
	/* RFC 4422 §3.1: sasl-mech = 1*20mech-char */
	for (n = 0; n < len && arg[n] != ' '; n++)
		if (!is_alnum(arg[n]) && arg[n] != '-' && arg[n] != '_')
			return -1;
	if (n == 0 || n > SMTP_MECH_MAX)
		return -1;
	/* RFC 4954 §4: one space, then base64 or "=" for an empty response. */
	if (n < len) {
		if (n + 1 == len)
			return -1;
		for (i = n + 1; i < len; i++)
			if (!is_alnum(arg[i]) && !in_set(arg[i], "+/="))
				return -1;
		*ir = arg + n + 1;
		*irlen = len - n - 1;
		if (*irlen == 1 && **ir == '=')
			*irlen = 0;
	}
	for (i = 0; i < n; i++)
		mech[i] = arg[i] >= 'a' && arg[i] <= 'z' ?
		    (char)(arg[i] - 'a' + 'A') : arg[i];
	mech[n] = '\0';
	*reply = NULL;
	return 0;
}
