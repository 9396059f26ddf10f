/*
 * test_smtp_parse.c - unit tests of the SMTP command-line parser.
 *
 * Each input is copied into a buffer of exactly its length, without a NUL,
 * so that AddressSanitizer catches any read outside the range.  Replies are
 * compared in full: they are what clients see and what operators grep for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

/* A literal and its length, NULs included. */
#define S(x)	x, sizeof(x) - 1

#define BAD_CHAR	"500 5.5.2 Syntax error: invalid character in command"
#define BAD_HELO	"501 5.5.4 EHLO/HELO needs a domain or address literal"
#define BAD_SENDER	"501 5.1.7 Bad sender address syntax"
#define BAD_RCPT	"501 5.1.3 Bad recipient address syntax"
#define BAD_ADDR	"501 5.1.3 Bad address syntax"
#define SOURCE_ROUTE	"553 5.1.3 Source routes are not accepted"
#define LITERAL		"553 5.1.3 Address literals are not accepted"
#define PERCENT		"553 5.1.3 '%' and '!' are not accepted in addresses"
#define TOO_LONG	"501 5.5.4 Address too long"
#define LOCAL_LONG	"501 5.5.4 Local part too long"
#define MAIL_SYNTAX	"501 5.5.4 Syntax: MAIL FROM:<address>"
#define RCPT_SYNTAX	"501 5.5.4 Syntax: RCPT TO:<address>"
#define AUTH_SYNTAX	"501 5.5.2 Syntax: AUTH mechanism [initial-response]"
#define UNSUPPORTED	"555 5.5.4 Unsupported parameter"
#define DUPLICATE	"501 5.5.4 Duplicate parameter"
#define BAD_SIZE	"501 5.5.4 Bad SIZE parameter"
#define BAD_BODY	"501 5.5.4 BODY must be 7BIT or 8BITMIME"
#define BAD_AUTHP	"501 5.5.4 Bad AUTH parameter"
#define NO_UTF8		"553 5.6.7 Non-ASCII address without SMTPUTF8"
#define BAD_NOTIFY	"501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, " \
			"FAILURE, DELAY"
#define BAD_ORCPT	"501 5.5.4 Bad ORCPT parameter"
#define BAD_ENVID	"501 5.5.4 Bad ENVID parameter"

/* What reply holds before a call: a success must set it to NULL. */
#define UNSET		"unset"

static int ntest, nfail;

static void
check(int ok, const char *what, const char *in, size_t len, const char *got)
{
	size_t i;

	ntest++;
	if (!ok)
		nfail++;
	printf("%s %d - %s \"", ok ? "ok" : "not ok", ntest, what);
	for (i = 0; i < len && i < 80; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < ' ' || c > '~' || c == '"' || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf("%s\"", len > 80 ? "..." : "");
	if (!ok)
		printf(" # got: %s", got != NULL ? got : "(null)");
	putchar('\n');
}

/* The input in a heap buffer of exactly len bytes (one, if empty). */
static char *
dup_range(const char *s, size_t len)
{
	char *p;

	if ((p = malloc(len > 0 ? len : 1)) == NULL) {
		perror("malloc");
		exit(2);
	}
	memcpy(p, s, len);
	return p;
}

static int
reply_is(const char *reply, const char *want)
{
	return reply != NULL && strcmp(reply, want) == 0;
}

/* want NULL: success with verb and argument warg; else the reply. */
static void
cmd(const char *s, size_t len, const char *want, enum smtp_verb verb,
    const char *warg)
{
	struct smtp_cmd c;
	const char *reply = UNSET;
	char *p = dup_range(s, len);
	int rc, ok;

	rc = smtp_parse_command(p, len, &c, &reply);
	if (want != NULL)
		ok = rc == -1 && reply_is(reply, want);
	else if (warg == NULL)
		ok = rc == 0 && reply == NULL && c.verb == verb &&
		    c.arg == NULL && c.arglen == 0;
	else
		ok = rc == 0 && reply == NULL && c.verb == verb &&
		    c.arglen == strlen(warg) &&
		    c.arg >= p && c.arg + c.arglen <= p + len &&
		    memcmp(c.arg, warg, c.arglen) == 0;
	check(ok, "command", s, len, rc == 0 ? "success" : reply);
	free(p);
}

static void
helo(const char *s, size_t len, const char *want)
{
	const char *reply = UNSET;
	char *p = dup_range(s, len);
	int rc;

	rc = smtp_parse_helo(p, len, &reply);
	check(want == NULL ? rc == 0 && reply == NULL :
	    rc == -1 && reply_is(reply, want),
	    "helo", s, len, rc == 0 ? "success" : reply);
	free(p);
}

static void
mail(const char *s, size_t len, const char *want, const char *waddr,
    long long wsize, enum smtp_body wbody)
{
	struct smtp_mail m;
	const char *reply = UNSET;
	char *p = dup_range(s, len);
	int rc, ok;

	rc = smtp_parse_mail(p, len, &m, &reply);
	if (want != NULL)
		ok = rc == -1 && reply_is(reply, want) && m.addr[0] == '\0';
	else
		ok = rc == 0 && reply == NULL && strcmp(m.addr, waddr) == 0 &&
		    m.size == wsize && m.body == wbody;
	check(ok, "mail", s, len, rc == 0 ? m.addr : reply);
	free(p);
}

static void
rcpt(const char *s, size_t len, const char *want, const char *waddr)
{
	struct smtp_rcpt r;
	const char *reply = UNSET;
	char *p = dup_range(s, len);
	int rc, ok;

	rc = smtp_parse_rcpt(p, len, 0, &r, &reply);
	if (want != NULL)
		ok = rc == -1 && reply_is(reply, want) && r.addr[0] == '\0';
	else
		ok = rc == 0 && reply == NULL && strcmp(r.addr, waddr) == 0;
	check(ok, "rcpt", s, len, rc == 0 ? r.addr : reply);
	free(p);
}

static void
addr(const char *s, size_t len, const char *want, const char *waddr)
{
	char out[SMTP_ADDR_MAX + 1];
	const char *reply = UNSET;
	char *p = dup_range(s, len);
	int rc, ok;

	rc = smtp_parse_address(p, len, 0, out, &reply);
	if (want != NULL)
		ok = rc == -1 && reply_is(reply, want) && out[0] == '\0';
	else
		ok = rc == 0 && reply == NULL && strcmp(out, waddr) == 0;
	check(ok, "address", s, len, rc == 0 ? out : reply);
	free(p);
}

/* wir NULL: no initial response; "" an empty one ("="). */
static void
auth(const char *s, size_t len, const char *want, const char *wmech,
    const char *wir)
{
	char mech[SMTP_MECH_MAX + 1];
	const char *reply = UNSET, *ir;
	size_t irlen;
	char *p = dup_range(s, len);
	int rc, ok;

	rc = smtp_parse_auth(p, len, mech, &ir, &irlen, &reply);
	if (want != NULL)
		ok = rc == -1 && reply_is(reply, want) && mech[0] == '\0' &&
		    ir == NULL && irlen == 0;
	else if (wir == NULL)
		ok = rc == 0 && reply == NULL && strcmp(mech, wmech) == 0 &&
		    ir == NULL && irlen == 0;
	else
		ok = rc == 0 && reply == NULL && strcmp(mech, wmech) == 0 &&
		    ir != NULL && ir >= p && ir + irlen <= p + len &&
		    irlen == strlen(wir) && memcmp(ir, wir, irlen) == 0;
	check(ok, "auth", s, len, rc == 0 ? mech : reply);
	free(p);
}

/* A string of n copies of c followed by tail, in a static buffer. */
static const char *
rep(char c, size_t n, const char *tail)
{
	static char buf[4][1024];
	static int k;
	char *b = buf[k++ % 4];

	memset(b, c, n);
	snprintf(b + n, sizeof(buf[0]) - n, "%s", tail);
	return b;
}

static void
test_command(void)
{
	enum smtp_verb v;

	cmd(S("EHLO client.example.test"), NULL, SMTP_VERB_EHLO,
	    "client.example.test");
	cmd(S("ehlo client"), NULL, SMTP_VERB_EHLO, "client");
	cmd(S("HeLo client"), NULL, SMTP_VERB_HELO, "client");
	cmd(S("EHLO"), "501 5.5.4 Syntax: EHLO hostname", 0, NULL);
	cmd(S("EHLO   "), "501 5.5.4 Syntax: EHLO hostname", 0, NULL);
	cmd(S("HELO"), "501 5.5.4 Syntax: HELO hostname", 0, NULL);
	cmd(S("EHLO    a.test   "), NULL, SMTP_VERB_EHLO, "a.test");
	cmd(S("STARTTLS"), NULL, SMTP_VERB_STARTTLS, NULL);
	cmd(S("starttls  "), NULL, SMTP_VERB_STARTTLS, NULL);
	cmd(S("STARTTLS now"), "501 5.5.4 Syntax: STARTTLS", 0, NULL);
	cmd(S("AUTH PLAIN dGVzdA=="), NULL, SMTP_VERB_AUTH, "PLAIN dGVzdA==");
	cmd(S("AUTH"), AUTH_SYNTAX, 0, NULL);
	cmd(S("MAIL FROM:<a@b.test> SIZE=10"), NULL, SMTP_VERB_MAIL,
	    "FROM:<a@b.test> SIZE=10");
	cmd(S("mail from:<>"), NULL, SMTP_VERB_MAIL, "from:<>");
	cmd(S("MAIL"), MAIL_SYNTAX, 0, NULL);
	cmd(S("RCPT TO:<a@b.test>"), NULL, SMTP_VERB_RCPT, "TO:<a@b.test>");
	cmd(S("RCPT "), RCPT_SYNTAX, 0, NULL);
	cmd(S("DATA"), NULL, SMTP_VERB_DATA, NULL);
	cmd(S("DATA x"), "501 5.5.4 Syntax: DATA", 0, NULL);
	cmd(S("RSET"), NULL, SMTP_VERB_RSET, NULL);
	cmd(S("rset please"), "501 5.5.4 Syntax: RSET", 0, NULL);
	cmd(S("NOOP"), NULL, SMTP_VERB_NOOP, NULL);
	cmd(S("NOOP anything at all"), NULL, SMTP_VERB_NOOP, "anything at all");
	cmd(S("QUIT"), NULL, SMTP_VERB_QUIT, NULL);
	cmd(S("QUIT now"), "501 5.5.4 Syntax: QUIT", 0, NULL);
	cmd(S("VRFY postmaster"), NULL, SMTP_VERB_VRFY, "postmaster");
	cmd(S("VRFY"), "501 5.5.4 Syntax: VRFY address", 0, NULL);
	cmd(S("EXPN staff"), NULL, SMTP_VERB_EXPN, "staff");
	cmd(S("EXPN"), "501 5.5.4 Syntax: EXPN mailing-list", 0, NULL);
	cmd(S("HELP"), NULL, SMTP_VERB_HELP, NULL);
	cmd(S("HELP MAIL"), NULL, SMTP_VERB_HELP, "MAIL");
	cmd(S("BDAT 100 LAST"), NULL, SMTP_VERB_BDAT, "100 LAST");
	cmd(S("BDAT"), "501 5.5.4 Syntax: BDAT chunk-size [LAST]", 0, NULL);
	cmd(S("bdat 12 LAST"), NULL, SMTP_VERB_BDAT, "12 LAST");

	/* Unknown verbs are the session's to answer. */
	cmd(S(""), NULL, SMTP_VERB_UNKNOWN, NULL);
	cmd(S("FOO"), NULL, SMTP_VERB_UNKNOWN, NULL);
	cmd(S("FOO bar"), NULL, SMTP_VERB_UNKNOWN, "bar");
	cmd(S(" MAIL FROM:<a@b>"), NULL, SMTP_VERB_UNKNOWN, "MAIL FROM:<a@b>");
	cmd(S("MAILFROM:<a@b>"), NULL, SMTP_VERB_UNKNOWN, NULL);
	cmd(S("MAIL\tFROM:<a@b>"), NULL, SMTP_VERB_UNKNOWN, NULL);
	cmd(S("DAT"), NULL, SMTP_VERB_UNKNOWN, NULL);
	cmd(S("DATAX"), NULL, SMTP_VERB_UNKNOWN, NULL);
	cmd(S("STARTTLSX"), NULL, SMTP_VERB_UNKNOWN, NULL);

	/* Bytes that no command may hold; TAB is allowed. */
	cmd(S("NOOP a\tb"), NULL, SMTP_VERB_NOOP, "a\tb");
	cmd(S("DATA\0"), BAD_CHAR, 0, NULL);
	cmd(S("MAIL FROM:<a\0b@c>"), BAD_CHAR, 0, NULL);
	cmd(S("\0"), BAD_CHAR, 0, NULL);
	cmd(S("RCPT TO:<a@b>\r"), BAD_CHAR, 0, NULL);
	cmd(S("RCPT TO:<a@b>\n"), BAD_CHAR, 0, NULL);
	cmd(S("QUIT\x1b"), BAD_CHAR, 0, NULL);
	cmd(S("NOOP \x7f"), BAD_CHAR, 0, NULL);
	/* UTF-8 reaches MAIL and RCPT, which decide (SMTPUTF8) */
	cmd(S("MAIL FROM:<j\xc3\xb6rg@b.test>"), NULL, SMTP_VERB_MAIL,
	    "FROM:<j\xc3\xb6rg@b.test>");
	cmd(S("MAIL FROM:<j\xc3@b.test>"), BAD_CHAR, 0, NULL);	/* cut short */
	cmd(S("MAIL FROM:<\xc0\xaf@b.test>"), BAD_CHAR, 0, NULL);	/* overlong */
	cmd(S("MAIL FROM:<\xed\xa0\x80@b.test>"), BAD_CHAR, 0, NULL); /* surrogate */
	cmd(S("MAIL FROM:<\xf4\x90\x80\x80@b.test>"), BAD_CHAR, 0, NULL);
	cmd(S("\xff\xfe"), BAD_CHAR, 0, NULL);
	cmd(S("HELO \x80"), BAD_CHAR, 0, NULL);

	/* A verb of every kind, in a NUL-free buffer of exactly its length. */
	for (v = SMTP_VERB_EHLO; v <= SMTP_VERB_BDAT; v++) {
		static const char *names[] = { "", "EHLO", "HELO", "STARTTLS",
		    "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT",
		    "VRFY", "EXPN", "HELP", "BDAT" };
		const char *n = names[v];
		int needs = v == SMTP_VERB_EHLO || v == SMTP_VERB_HELO ||
		    v == SMTP_VERB_AUTH || v == SMTP_VERB_MAIL ||
		    v == SMTP_VERB_RCPT || v == SMTP_VERB_VRFY ||
		    v == SMTP_VERB_EXPN || v == SMTP_VERB_BDAT;
		struct smtp_cmd c;
		const char *reply = UNSET;
		char *p = dup_range(n, strlen(n));
		int rc = smtp_parse_command(p, strlen(n), &c, &reply);

		check(needs ? rc == -1 && c.verb == v && reply != NULL :
		    rc == 0 && c.verb == v && reply == NULL, "bare verb", n,
		    strlen(n), reply);
		free(p);
	}
}

static void
test_helo(void)
{
	char buf[512];

	helo(S("client.example.test"), NULL);
	helo(S("localhost"), NULL);
	helo(S("Mixed-Case.Example"), NULL);
	helo(S("[192.0.2.1]"), NULL);
	helo(S("[IPv6:2001:db8::1]"), NULL);
	helo(S(""), BAD_HELO);
	helo(S("a b"), BAD_HELO);
	helo(S("a\tb"), BAD_HELO);
	helo(S("-a.test"), BAD_HELO);
	helo(S("a-.test"), BAD_HELO);
	helo(S("a..test"), BAD_HELO);
	helo(S(".a.test"), BAD_HELO);
	helo(S("a.test."), BAD_HELO);
	helo(S("my_pc"), BAD_HELO);
	helo(S("a\0b"), BAD_HELO);
	helo(S("caf\xc3\xa9.test"), BAD_HELO);
	helo(S("[]"), BAD_HELO);
	helo(S("["), BAD_HELO);
	helo(S("[192.0.2.1"), BAD_HELO);
	helo(S("192.0.2.1]"), BAD_HELO);
	helo(S("[192.0.2.1 ]"), BAD_HELO);
	helo(S("[a[b]"), BAD_HELO);
	helo(S("[a\\b]"), BAD_HELO);
	helo(S("[a\x7f]"), BAD_HELO);
	helo(rep('a', 63, ".test"), strlen(rep('a', 63, ".test")), NULL);
	helo(rep('a', 64, ".test"), strlen(rep('a', 64, ".test")), BAD_HELO);
	helo(rep('a', 255, ""), 255, BAD_HELO);		/* label over 63 */
	/* 255 octets in labels of 63 is fine, 256 is not. */
	snprintf(buf, sizeof(buf), "%s.%s.%s.%s", rep('a', 63, ""),
	    rep('b', 63, ""), rep('c', 63, ""), rep('d', 63, ""));
	helo(buf, strlen(buf), NULL);
	snprintf(buf, sizeof(buf), "%s.%s.%s.%s.e", rep('a', 63, ""),
	    rep('b', 63, ""), rep('c', 63, ""), rep('d', 63, ""));
	helo(buf, strlen(buf), BAD_HELO);
}

static void
test_address(void)
{
	char buf[512];

	addr(S("user@example.test"), NULL, "user@example.test");
	addr(S("User.Name@EXAMPLE.Test"), NULL, "User.Name@example.test");
	addr(S("a+tag@b.test"), NULL, "a+tag@b.test");
	addr(S("#$&'*+-/=?^_`{|}~@b.test"), NULL, "#$&'*+-/=?^_`{|}~@b.test");
	addr(S("u@localhost"), NULL, "u@localhost");
	addr(S("u@xn--bcher-kva.test"), NULL, "u@xn--bcher-kva.test");
	addr(S("u@123.test"), NULL, "u@123.test");
	addr(S("\"john doe\"@b.test"), NULL, "\"john doe\"@b.test");
	addr(S("\"J.Q.\"@B.TEST"), NULL, "\"J.Q.\"@b.test");
	addr(S(""), BAD_ADDR, NULL);
	addr(S("user"), BAD_ADDR, NULL);
	addr(S("user@"), BAD_ADDR, NULL);
	addr(S("@b.test"), BAD_ADDR, NULL);
	addr(S("a@@b.test"), BAD_ADDR, NULL);
	addr(S("a@b@c.test"), BAD_ADDR, NULL);
	addr(S(".a@b.test"), BAD_ADDR, NULL);
	addr(S("a.@b.test"), BAD_ADDR, NULL);
	addr(S("a..b@b.test"), BAD_ADDR, NULL);
	addr(S("a b@b.test"), BAD_ADDR, NULL);
	addr(S("a@b .test"), BAD_ADDR, NULL);
	addr(S("a(c)@b.test"), BAD_ADDR, NULL);
	addr(S("a,b@b.test"), BAD_ADDR, NULL);
	addr(S("a<b@b.test"), BAD_ADDR, NULL);
	addr(S("a@b_c.test"), BAD_ADDR, NULL);
	addr(S("a@-b.test"), BAD_ADDR, NULL);
	addr(S("a@b-.test"), BAD_ADDR, NULL);
	addr(S("a@b..test"), BAD_ADDR, NULL);
	addr(S("a@.b.test"), BAD_ADDR, NULL);
	addr(S("a@b.test."), BAD_ADDR, NULL);

	/* Bytes outside ASCII or printable. */
	addr(S("a\0@b.test"), BAD_ADDR, NULL);
	addr(S("a@b.test\0"), BAD_ADDR, NULL);
	addr(S("a@b\0.test"), BAD_ADDR, NULL);
	addr(S("j\xc3\xb6rg@b.test"), NO_UTF8, NULL);
	addr(S("a@b\xff.test"), NO_UTF8, NULL);
	addr(S("a\r\n@b.test"), BAD_ADDR, NULL);
	addr(S("a\t@b.test"), BAD_ADDR, NULL);

	/* Routing tricks. */
	addr(S("@a,@b:u@d.test"), SOURCE_ROUTE, NULL);
	addr(S("@a:u@d.test"), SOURCE_ROUTE, NULL);
	addr(S("u@[192.0.2.1]"), LITERAL, NULL);
	addr(S("u@[IPv6:::1]"), LITERAL, NULL);
	addr(S("u@["), LITERAL, NULL);
	addr(S("u@127.0.0.1"), LITERAL, NULL);
	addr(S("u@2130706433"), LITERAL, NULL);
	addr(S("u%d.test@b.test"), PERCENT, NULL);
	addr(S("d.test!u@b.test"), PERCENT, NULL);
	addr(S("u@b.test%c"), PERCENT, NULL);

	/* Quoted local parts. */
	addr(S("\"a@b\"@example.test"), BAD_ADDR, NULL);
	addr(S("\"a%b\"@example.test"), PERCENT, NULL);
	addr(S("\"a!b\"@example.test"), PERCENT, NULL);
	addr(S("\"a\\\"b\"@example.test"), BAD_ADDR, NULL);
	addr(S("\"a\\\\\"@example.test"), BAD_ADDR, NULL);
	addr(S("\"a\0b\"@example.test"), BAD_ADDR, NULL);
	addr(S("\"a\rb\"@example.test"), BAD_ADDR, NULL);
	addr(S("\"a\x7f\"@example.test"), BAD_ADDR, NULL);
	addr(S("\"a\xc3\xa9\"@example.test"), NO_UTF8, NULL);
	addr(S("\"\"@example.test"), BAD_ADDR, NULL);
	addr(S("\"abc@example.test"), BAD_ADDR, NULL);
	addr(S("\"a\"b@example.test"), BAD_ADDR, NULL);
	addr(S("a\"b\"@example.test"), BAD_ADDR, NULL);
	addr(S("\"a\".\"b\"@example.test"), BAD_ADDR, NULL);
	addr(S("\""), BAD_ADDR, NULL);

	/* RFC 5321 §4.5.3.1: 64 for the local part, 254 for the address. */
	addr(rep('l', 64, "@b.test"), 71, NULL, rep('l', 64, "@b.test"));
	addr(rep('l', 65, "@b.test"), 72, LOCAL_LONG, NULL);
	snprintf(buf, sizeof(buf), "\"%s\"@b.test", rep('l', 62, ""));
	addr(buf, strlen(buf), NULL, buf);
	snprintf(buf, sizeof(buf), "\"%s\"@b.test", rep('l', 63, ""));
	addr(buf, strlen(buf), LOCAL_LONG, NULL);
	addr(rep('d', 63, ".test"), 68, BAD_ADDR, NULL);
	snprintf(buf, sizeof(buf), "u@%s", rep('d', 63, ".test"));
	addr(buf, strlen(buf), NULL, buf);
	snprintf(buf, sizeof(buf), "u@%s", rep('d', 64, ".test"));
	addr(buf, strlen(buf), BAD_ADDR, NULL);
	/* 254 octets: "u@" and labels of 63, 63, 63 and 60. */
	snprintf(buf, sizeof(buf), "u@%s.%s.%s.%s", rep('a', 63, ""),
	    rep('b', 63, ""), rep('c', 63, ""), rep('d', 60, ""));
	addr(buf, strlen(buf), NULL, buf);
	snprintf(buf, sizeof(buf), "u@%s.%s.%s.%s", rep('a', 63, ""),
	    rep('b', 63, ""), rep('c', 63, ""), rep('d', 61, ""));
	addr(buf, strlen(buf), TOO_LONG, NULL);
	addr(rep('x', 500, "@b.test"), 507, TOO_LONG, NULL);
}

static void
test_mail(void)
{
	mail(S("FROM:<user@example.test>"), NULL, "user@example.test", -1,
	    SMTP_BODY_7BIT);
	mail(S("from:<User@Example.TEST>"), NULL, "User@example.test", -1,
	    SMTP_BODY_7BIT);
	mail(S("FROM:<>"), NULL, "", -1, SMTP_BODY_7BIT);
	mail(S("FROM: <a@b.test>"), NULL, "a@b.test", -1, SMTP_BODY_7BIT);
	mail(S("FROM:   <>"), NULL, "", -1, SMTP_BODY_7BIT);
	mail(S("FROM:<a@b.test>   "), NULL, "a@b.test", -1, SMTP_BODY_7BIT);
	mail(S("FROM:<\"a b\"@b.test>"), NULL, "\"a b\"@b.test", -1,
	    SMTP_BODY_7BIT);

	/* Brackets. */
	mail(S("FROM:a@b.test"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:<a@b.test"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:a@b.test>"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:<<a@b.test>>"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:<<a@b.test>"), BAD_SENDER, NULL, 0, 0);
	mail(S("FROM:<a@b.test>>"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:<a@b.test><c@d.test>"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:<"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S(""), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM :<a@b.test>"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:\t<a@b.test>"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("TO:<a@b.test>"), MAIL_SYNTAX, NULL, 0, 0);
	mail(S("FROM:<a@b.test>SIZE=1"), MAIL_SYNTAX, NULL, 0, 0);
	/* The first '>' ends the path, even inside quotes. */
	mail(S("FROM:<\"a>b\"@b.test>"), MAIL_SYNTAX, NULL, 0, 0);

	/* The address, as smtp_parse_address checks it. */
	mail(S("FROM:<a>"), BAD_SENDER, NULL, 0, 0);
	mail(S("FROM:<postmaster>"), BAD_SENDER, NULL, 0, 0);
	mail(S("FROM:< a@b.test>"), BAD_SENDER, NULL, 0, 0);
	mail(S("FROM:<a@b.test >"), BAD_SENDER, NULL, 0, 0);
	mail(S("FROM:<@a,@b:u@d.test>"), SOURCE_ROUTE, NULL, 0, 0);
	mail(S("FROM:<u@[192.0.2.1]>"), LITERAL, NULL, 0, 0);
	mail(S("FROM:<u%d@b.test>"), PERCENT, NULL, 0, 0);
	mail(S("FROM:<\"a@b\"@example.test>"), BAD_SENDER, NULL, 0, 0);
	mail(S("FROM:<a\0@b.test>"), BAD_SENDER, NULL, 0, 0);

	/* Parameters (RFC 1870, RFC 6152, RFC 4954 §5). */
	mail(S("FROM:<a@b.test> SIZE=12345"), NULL, "a@b.test", 12345,
	    SMTP_BODY_7BIT);
	mail(S("FROM:<a@b.test> size=0"), NULL, "a@b.test", 0, SMTP_BODY_7BIT);
	mail(S("FROM:<a@b.test> SIZE=9223372036854775807"), NULL, "a@b.test",
	    9223372036854775807LL, SMTP_BODY_7BIT);
	mail(S("FROM:<a@b.test> SIZE=00000000000000000001"), NULL, "a@b.test",
	    1, SMTP_BODY_7BIT);
	mail(S("FROM:<a@b.test> SIZE=9223372036854775808"), BAD_SIZE, NULL,
	    0, 0);
	mail(S("FROM:<a@b.test> SIZE=99999999999999999999"), BAD_SIZE, NULL,
	    0, 0);
	mail(S("FROM:<a@b.test> SIZE=000000000000000000001"), BAD_SIZE, NULL,
	    0, 0);
	mail(S("FROM:<a@b.test> SIZE="), BAD_SIZE, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE"), BAD_SIZE, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE=-1"), BAD_SIZE, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE=+1"), BAD_SIZE, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE=1k"), BAD_SIZE, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE=1 SIZE=2"), DUPLICATE, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE=1 size=1"), DUPLICATE, NULL, 0, 0);
	mail(S("FROM:<a@b.test> BODY=8BITMIME"), NULL, "a@b.test", -1,
	    SMTP_BODY_8BITMIME);
	mail(S("FROM:<a@b.test> body=8bitmime"), NULL, "a@b.test", -1,
	    SMTP_BODY_8BITMIME);
	mail(S("FROM:<a@b.test> BODY=7bit"), NULL, "a@b.test", -1,
	    SMTP_BODY_7BIT);
	mail(S("FROM:<a@b.test> BODY=BINARYMIME"), BAD_BODY, NULL, 0, 0);
	mail(S("FROM:<a@b.test> BODY=8BIT"), BAD_BODY, NULL, 0, 0);
	mail(S("FROM:<a@b.test> BODY="), BAD_BODY, NULL, 0, 0);
	mail(S("FROM:<a@b.test> BODY"), BAD_BODY, NULL, 0, 0);
	mail(S("FROM:<a@b.test> BODY=7BIT BODY=8BITMIME"), DUPLICATE, NULL,
	    0, 0);
	mail(S("FROM:<a@b.test> AUTH=<>"), NULL, "a@b.test", -1,
	    SMTP_BODY_7BIT);
	mail(S("FROM:<a@b.test> AUTH=a+2Bb@c.test"), NULL, "a@b.test", -1,
	    SMTP_BODY_7BIT);
	mail(S("FROM:<a@b.test> AUTH=a+2bb"), BAD_AUTHP, NULL, 0, 0);
	mail(S("FROM:<a@b.test> AUTH=a+2"), BAD_AUTHP, NULL, 0, 0);
	mail(S("FROM:<a@b.test> AUTH=a=b"), BAD_AUTHP, NULL, 0, 0);
	mail(S("FROM:<a@b.test> AUTH=+ZZ"), BAD_AUTHP, NULL, 0, 0);
	mail(S("FROM:<a@b.test> AUTH=a\x01"), BAD_AUTHP, NULL, 0, 0);
	mail(S("FROM:<a@b.test> AUTH=a\x7f"), BAD_AUTHP, NULL, 0, 0);
	mail(S("FROM:<a@b.test> AUTH="), BAD_AUTHP, NULL, 0, 0);
	mail(S("FROM:<a@b.test> AUTH"), BAD_AUTHP, NULL, 0, 0);
	mail(S("FROM:<a@b.test> AUTH=<> AUTH=<>"), DUPLICATE, NULL, 0, 0);
	mail(S("FROM:<a@b.test>  SIZE=10   BODY=8BITMIME  AUTH=<>  "), NULL,
	    "a@b.test", 10, SMTP_BODY_8BITMIME);
	mail(S("FROM:<> BODY=8BITMIME SIZE=10"), NULL, "", 10,
	    SMTP_BODY_8BITMIME);
	mail(S("FROM:<a@b.test> SMTPUTF8=yes"), "501 5.5.4 SMTPUTF8 takes no value",
	    NULL, 0, 0);
	mail(S("FROM:<a@b.test> RET=ALL"), "501 5.5.4 RET must be FULL or HDRS",
	    NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZEX=1"), UNSUPPORTED, NULL, 0, 0);
	mail(S("FROM:<a@b.test> =1"), UNSUPPORTED, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE=1 FOO"), UNSUPPORTED, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE=1\tBODY=7BIT"), BAD_SIZE, NULL, 0, 0);
	mail(S("FROM:<a@b.test> SIZE=1\0"), BAD_SIZE, NULL, 0, 0);
}

static void
test_rcpt(void)
{
	char buf[512];

	rcpt(S("TO:<user@example.test>"), NULL, "user@example.test");
	rcpt(S("to:<User@EXAMPLE.test>"), NULL, "User@example.test");
	rcpt(S("TO: <a@b.test>  "), NULL, "a@b.test");
	rcpt(S("TO:<postmaster>"), NULL, "postmaster");
	rcpt(S("TO:<PostMaster>"), NULL, "postmaster");
	rcpt(S("TO:<Postmaster@Example.TEST>"), NULL,
	    "Postmaster@example.test");
	rcpt(S("TO:<postmaste>"), BAD_RCPT, NULL);
	rcpt(S("TO:<postmasterx>"), BAD_RCPT, NULL);
	rcpt(S("TO:<>"), BAD_RCPT, NULL);
	rcpt(S("TO:a@b.test"), RCPT_SYNTAX, NULL);
	rcpt(S("TO:<a@b.test"), RCPT_SYNTAX, NULL);
	rcpt(S("TO:a@b.test>"), RCPT_SYNTAX, NULL);
	rcpt(S("TO:<<a@b.test>>"), RCPT_SYNTAX, NULL);
	rcpt(S("TO:<<a@b.test>"), BAD_RCPT, NULL);
	rcpt(S("TO:<a@b.test>x"), RCPT_SYNTAX, NULL);
	rcpt(S("FROM:<a@b.test>"), RCPT_SYNTAX, NULL);
	rcpt(S("TO"), RCPT_SYNTAX, NULL);
	rcpt(S(""), RCPT_SYNTAX, NULL);
	rcpt(S("TO:<a@b.test> X-FOO=1"), UNSUPPORTED, NULL);
	rcpt(S("TO:<@a,@b:u@d.test>"), SOURCE_ROUTE, NULL);
	rcpt(S("TO:<u@[192.0.2.1]>"), LITERAL, NULL);
	rcpt(S("TO:<u@10.0.0.1>"), LITERAL, NULL);
	rcpt(S("TO:<u%d.test@b.test>"), PERCENT, NULL);
	rcpt(S("TO:<d.test!u@b.test>"), PERCENT, NULL);
	rcpt(S("TO:<\"a@b\"@example.test>"), BAD_RCPT, NULL);
	rcpt(S("TO:<\"a\\b\"@example.test>"), BAD_RCPT, NULL);
	rcpt(S("TO:<a@b\xc3\xa9.test>"), NO_UTF8, NULL);
	snprintf(buf, sizeof(buf), "TO:<%s>", rep('l', 65, "@b.test"));
	rcpt(buf, strlen(buf), LOCAL_LONG, NULL);
	snprintf(buf, sizeof(buf), "TO:<u@%s>", rep('d', 64, ".test"));
	rcpt(buf, strlen(buf), BAD_RCPT, NULL);
	snprintf(buf, sizeof(buf), "TO:<%s>", rep('x', 300, "@b.test"));
	rcpt(buf, strlen(buf), TOO_LONG, NULL);
}

static void
test_auth(void)
{
	auth(S("PLAIN"), NULL, "PLAIN", NULL);
	auth(S("plain"), NULL, "PLAIN", NULL);
	auth(S("Login"), NULL, "LOGIN", NULL);
	auth(S("SCRAM-SHA-256"), NULL, "SCRAM-SHA-256", NULL);
	auth(S("X_MECH-1"), NULL, "X_MECH-1", NULL);
	auth(S("PLAIN ="), NULL, "PLAIN", "");
	auth(S("PLAIN dGVzdA=="), NULL, "PLAIN", "dGVzdA==");
	auth(S("PLAIN AGFsaWNlAHNlY3JldA=="), NULL, "PLAIN",
	    "AGFsaWNlAHNlY3JldA==");
	auth(S("PLAIN a+/b"), NULL, "PLAIN", "a+/b");
	auth(S("PLAIN A"), NULL, "PLAIN", "A");
	auth(S("plain =="), NULL, "PLAIN", "==");
	auth(S("ABCDEFGHIJKLMNOPQRST"), NULL, "ABCDEFGHIJKLMNOPQRST", NULL);
	auth(S("ABCDEFGHIJKLMNOPQRSTU"), AUTH_SYNTAX, NULL, NULL);
	auth(S("ABCDEFGHIJKLMNOPQRSTU dGVzdA=="), AUTH_SYNTAX, NULL, NULL);
	auth(S(""), AUTH_SYNTAX, NULL, NULL);
	auth(S(" PLAIN"), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLAIN "), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLAIN  dGVzdA=="), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLAIN dGVzdA== x"), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLAIN dGV*dA=="), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLAIN dGVz\0A=="), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLAIN dGVz\xc3\xa9"), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLAIN\tdGVzdA=="), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLA.IN"), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLA\0N"), AUTH_SYNTAX, NULL, NULL);
	auth(S("PL\xc3\x84IN"), AUTH_SYNTAX, NULL, NULL);
	auth(S("PLAIN=dGVzdA=="), AUTH_SYNTAX, NULL, NULL);
}

/* RFC 3461 §4: RET, ENVID on MAIL, NOTIFY, ORCPT on RCPT. */
static void
mail_dsn(const char *s, size_t len, const char *want, enum smtp_ret wret,
    const char *wenvid)
{
	struct smtp_mail m;
	const char *reply = UNSET;
	char *p = dup_range(s, len);
	int rc, ok;

	rc = smtp_parse_mail(p, len, &m, &reply);
	if (want != NULL)
		ok = rc == -1 && reply_is(reply, want) && m.envid[0] == '\0' &&
		    m.ret == SMTP_RET_NONE;
	else
		ok = rc == 0 && reply == NULL && m.ret == wret &&
		    strcmp(m.envid, wenvid) == 0;
	check(ok, "mail dsn", s, len, rc == 0 ? m.envid : reply);
	free(p);
}

static void
rcpt_dsn(const char *s, size_t len, int utf8, const char *want,
    unsigned wnotify, const char *worcpt)
{
	struct smtp_rcpt r;
	const char *reply = UNSET;
	char *p = dup_range(s, len);
	int rc, ok;

	rc = smtp_parse_rcpt(p, len, utf8, &r, &reply);
	if (want != NULL)
		ok = rc == -1 && reply_is(reply, want) && r.addr[0] == '\0' &&
		    r.notify == 0 && r.orcpt[0] == '\0';
	else
		ok = rc == 0 && reply == NULL && r.notify == wnotify &&
		    strcmp(r.orcpt, worcpt) == 0;
	check(ok, "rcpt dsn", s, len, rc == 0 ? r.orcpt : reply);
	free(p);
}

static void
test_dsn(void)
{
	mail_dsn(S("FROM:<a@b.test> RET=FULL"), NULL, SMTP_RET_FULL, "");
	mail_dsn(S("FROM:<a@b.test> ret=hdrs ENVID=QQ+2B7"), NULL,
	    SMTP_RET_HDRS, "QQ+2B7");
	mail_dsn(S("FROM:<a@b.test> RET=FULL RET=HDRS"), DUPLICATE, 0, NULL);
	mail_dsn(S("FROM:<a@b.test> ENVID="), BAD_ENVID, 0, NULL);
	mail_dsn(S("FROM:<a@b.test> ENVID=a+2"), BAD_ENVID, 0, NULL);
	mail_dsn(S("FROM:<a@b.test> ENVID=a+2b"), BAD_ENVID, 0, NULL);	/* hex case */
	mail_dsn(S("FROM:<a@b.test> ENVID=a+0D+0Ab"), BAD_ENVID, 0, NULL);
	mail_dsn(S("FROM:<a@b.test> ENVID=a+00"), BAD_ENVID, 0, NULL);
	/* UTF-8 in the decoded ENVID needs SMTPUTF8, which may come after. */
	mail_dsn(S("FROM:<a@b.test> ENVID=+C3+A9"), BAD_ENVID, 0, NULL);
	mail_dsn(S("FROM:<a@b.test> ENVID=+C3+A9 SMTPUTF8"), NULL, SMTP_RET_NONE,
	    "+C3+A9");
	mail_dsn(S("FROM:<a@b.test> ENVID="
	    "12345678901234567890123456789012345678901234567890"
	    "12345678901234567890123456789012345678901234567890"), NULL,
	    SMTP_RET_NONE, "12345678901234567890123456789012345678901234567890"
	    "12345678901234567890123456789012345678901234567890");
	mail_dsn(S("FROM:<a@b.test> ENVID="
	    "12345678901234567890123456789012345678901234567890"
	    "123456789012345678901234567890123456789012345678901"), BAD_ENVID,
	    0, NULL);

	rcpt_dsn(S("TO:<a@b.test> NOTIFY=NEVER"), 0, NULL, SMTP_NOTIFY_NEVER, "");
	rcpt_dsn(S("TO:<a@b.test> NOTIFY=success,DELAY"), 0, NULL,
	    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY, "");
	rcpt_dsn(S("TO:<a@b.test> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;a@b.test"),
	    0, NULL, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY,
	    "rfc822;a@b.test");
	rcpt_dsn(S("TO:<a@b.test> NOTIFY=NEVER,SUCCESS"), 0, BAD_NOTIFY, 0, NULL);
	rcpt_dsn(S("TO:<a@b.test> NOTIFY=SUCCESS,SUCCESS"), 0, BAD_NOTIFY, 0, NULL);
	rcpt_dsn(S("TO:<a@b.test> NOTIFY=SUCCESS,"), 0, BAD_NOTIFY, 0, NULL);
	rcpt_dsn(S("TO:<a@b.test> NOTIFY="), 0, BAD_NOTIFY, 0, NULL);
	rcpt_dsn(S("TO:<a@b.test> NOTIFY=NEVER NOTIFY=NEVER"), 0, DUPLICATE, 0,
	    NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=rfc822;a+2Bb@c.test"), 0, NULL, 0,
	    "rfc822;a+2Bb@c.test");
	rcpt_dsn(S("TO:<a@b.test> ORCPT=a@b.test"), 0, BAD_ORCPT, 0, NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=;a@b.test"), 0, BAD_ORCPT, 0, NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=rfc822;"), 0, BAD_ORCPT, 0, NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=rfc822;a+0D+0AX:y"), 0, BAD_ORCPT, 0,
	    NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=rf(c;a@b"), 0, BAD_ORCPT, 0, NULL);
	/* RFC 6533 §3: the utf-8 type, raw or \x{..}, with SMTPUTF8 only */
	rcpt_dsn(S("TO:<a@b.test> ORCPT=utf-8;j\xc3\xb6rg@b.test"), 1, NULL, 0,
	    "utf-8;j\xc3\xb6rg@b.test");
	rcpt_dsn(S("TO:<a@b.test> ORCPT=utf-8;j\\x{F6}rg@b.test"), 1, NULL, 0,
	    "utf-8;j\\x{F6}rg@b.test");
	rcpt_dsn(S("TO:<a@b.test> ORCPT=utf-8;j\xc3\xb6rg@b.test"), 0, BAD_ORCPT,
	    0, NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=utf-8;j\\x{D800}@b.test"), 1, BAD_ORCPT,
	    0, NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=utf-8;j\\x{0A}@b.test"), 1, BAD_ORCPT,
	    0, NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=utf-8;j\\x{}@b.test"), 1, BAD_ORCPT, 0,
	    NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=utf-8;j\\x{F6@b.test"), 1, BAD_ORCPT, 0,
	    NULL);
	rcpt_dsn(S("TO:<a@b.test> ORCPT=utf-8;j\xc2\x85@b.test"), 1, BAD_ORCPT,
	    0, NULL);	/* C1 control NEL */
}

/* RFC 6531: SMTPUTF8 lets MAIL and RCPT carry UTF-8 addresses. */
static void
test_utf8(void)
{
	struct smtp_mail m;
	const char *reply;
	char *p;

	p = dup_range(S("FROM:<j\xc3\xb6rg@B\xc3\xbc.test> SMTPUTF8 REQUIRETLS"));
	check(smtp_parse_mail(p, strlen("FROM:<j\xc3\xb6rg@B\xc3\xbc.test> "
	    "SMTPUTF8 REQUIRETLS"), &m, &reply) == 0 && m.smtputf8 &&
	    m.requiretls && strcmp(m.addr, "j\xc3\xb6rg@b\xc3\xbc.test") == 0,
	    "mail utf8", p, 10, reply);
	free(p);
	mail(S("FROM:<j\xc3\xb6rg@b.test>"), NO_UTF8, NULL, 0, 0);
	mail(S("FROM:<j\xc3\xb6rg@b.test> SMTPUTF8 SMTPUTF8"), DUPLICATE, NULL,
	    0, 0);
	mail(S("FROM:<a@b.test> REQUIRETLS=1"),
	    "501 5.5.4 REQUIRETLS takes no value", NULL, 0, 0);
	rcpt_dsn(S("TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test>"),
	    1, NULL, 0, "");
	rcpt_dsn(S("TO:<\"a \xc3\xa9\"@b.test>"), 1, NULL, 0, "");
	rcpt_dsn(S("TO:<a\xc2\x9f@b.test>"), 1, BAD_RCPT, 0, NULL);	/* C1 */
	rcpt_dsn(S("TO:<a@\xc3\xa9\xc3.test>"), 1, BAD_RCPT, 0, NULL);
	/* 64 octets of local part: UTF-8 counts in octets */
	rcpt_dsn(S("TO:<\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9@b.test>"),
	    1, LOCAL_LONG, 0, NULL);
}

static void
bdat(const char *s, size_t len, const char *want, long long wsize, int wlast)
{
	const char *reply = UNSET;
	char *p = dup_range(s, len);
	long long size;
	int last, rc;

	rc = smtp_parse_bdat(p, len, &size, &last, &reply);
	check(want != NULL ? rc == -1 && reply_is(reply, want) :
	    rc == 0 && reply == NULL && size == wsize && last == wlast,
	    "bdat", s, len, reply);
	free(p);
}

static void
test_bdat(void)
{
	const char *bad = "501 5.5.4 Syntax: BDAT chunk-size [LAST]";

	bdat(S("0"), NULL, 0, 0);
	bdat(S("0 LAST"), NULL, 0, 1);
	bdat(S("1048576 last"), NULL, 1048576, 1);
	bdat(S("999999999999999"), NULL, 999999999999999LL, 0);
	bdat(S("1000000000000000"), bad, 0, 0);	/* 16 digits */
	bdat(S("-1"), bad, 0, 0);
	bdat(S("12 LAST LAST"), bad, 0, 0);
	bdat(S("12 FIRST"), bad, 0, 0);
	bdat(S("12x"), bad, 0, 0);
	bdat(S("LAST"), bad, 0, 0);
	bdat(S("+5"), bad, 0, 0);
}

int
main(void)
{
	test_command();
	test_helo();
	test_address();
	test_mail();
	test_rcpt();
	test_auth();
	test_dsn();
	test_utf8();
	test_bdat();
	printf("# %d tests, %d failed\n", ntest, nfail);
	return nfail == 0 ? 0 : 1;
}
