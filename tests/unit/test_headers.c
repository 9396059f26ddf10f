/*
 * test_headers.c - unit tests of the header section module (src/headers.c).
 *
 * Each input is copied into a heap buffer of exactly its length, without a
 * NUL, so that AddressSanitizer catches any read outside the range; the
 * rewrite output buffer is exactly as large as the contract promises.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"

/* A literal and its length, NULs included. */
#define S(x)	x, sizeof(x) - 1

#include "check.h"

static const char *const none[] = { NULL };
static const char *const received[] = { "Received" };
static const char *const usual[] = {
	"received", "X-Originating-IP", "X-Mailer", "User-Agent", "X-Spam-*",
};
static const char *const star[] = { "*", "" };
static const char *const sender[] = { "Sender" };

#define LIST(a)		(a), sizeof(a) / sizeof((a)[0])

static const char *const errname[] = {
	"ok", "syntax", "from-missing", "from-multiple", "from-syntax",
};

/* A heap buffer of exactly len bytes (one, if empty), filled with junk. */
static char *
alloc(size_t len)
{
	char *p;

	if ((p = malloc(len > 0 ? len : 1)) == NULL) {
		perror("malloc");
		exit(2);
	}
	memset(p, 0xa5, len > 0 ? len : 1);
	return p;
}

static char *
dup_range(const char *s, size_t len)
{
	return memcpy(alloc(len), s, len);
}

/* Rewrites in[0..len) and compares output and error; returns info. */
static struct hdr_info
rewrite(const char *desc, const char *in, size_t len,
    const char *const *strip, size_t nstrip, const char *want,
    enum hdr_error werr)
{
	struct hdr_info info;
	char *p = dup_range(in, len), *out = alloc(len);
	size_t n;

	n = hdr_rewrite(p, len, strip, nstrip, NULL, 0, out, &info);
	CHECK(n == strlen(want) && memcmp(out, want, n) == 0 &&
	    info.error == werr, "rewrite: %s (error %s, %zu bytes out)",
	    desc, errname[info.error], n);
	free(p);
	free(out);
	return info;
}

/*
 * Parses a From: body; want is the number of mailboxes, -1 for an error,
 * and the addresses follow.
 */
static void
from(const char *desc, const char *body, size_t len, size_t max, int want,
    ...)
{
	char out[HDR_FROM_MAX + 2][SMTP_ADDR_MAX + 1];
	char *p = dup_range(body, len);
	const char *a;
	va_list ap;
	int n, i, ok;

	n = hdr_parse_from(p, len, 0, out, max);
	ok = n == want;
	va_start(ap, want);
	for (i = 0; ok && i < n; i++)
		ok = (a = va_arg(ap, const char *)) != NULL &&
		    strcmp(out[i], a) == 0;
	va_end(ap);
	CHECK(ok, "from: %s (got %d%s%s)", desc, n, n > 0 ? ", " : "",
	    n > 0 ? out[0] : "");
	free(p);
}

static void
test_strip(void)
{
	const char plain[] = "From: a@example.test\r\nSubject: hi\r\n";

	rewrite("no strip list: output is input", S(plain), LIST(none),
	    plain, HDR_OK);
	rewrite("nstrip 0", S(plain), NULL, 0, plain, HDR_OK);
	rewrite("Received first, middle and last",
	    S("Received: from a\r\nFrom: a@example.test\r\n"
	    "Received: from b\r\nSubject: x\r\nReceived: from c\r\n"),
	    LIST(received), "From: a@example.test\r\nSubject: x\r\n", HDR_OK);
	rewrite("names any case, pattern any case",
	    S("RECEIVED: x\r\nreceived: y\r\nReCeIvEd: z\r\n"
	    "From: a@example.test\r\n"), LIST(usual),
	    "From: a@example.test\r\n", HDR_OK);
	rewrite("X-Spam-* prefix: X-Spammer and X-Spam are kept",
	    S("X-Spam-Status: yes\r\nx-spam-flag: YES\r\nX-Spammer: k\r\n"
	    "X-Spam: k\r\nX-Spam-: gone\r\nFrom: a@example.test\r\n"),
	    LIST(usual), "X-Spammer: k\r\nX-Spam: k\r\n"
	    "From: a@example.test\r\n", HDR_OK);
	rewrite("bare * and empty pattern match nothing", S(plain),
	    LIST(star), plain, HDR_OK);
	rewrite("several patterns",
	    S("X-Mailer: m\r\nUser-Agent: u\r\nX-Originating-IP: [192.0.2.1]"
	    "\r\nFrom: a@example.test\r\nX-Other: o\r\n"), LIST(usual),
	    "From: a@example.test\r\nX-Other: o\r\n", HDR_OK);
	rewrite("a folded field goes whole",
	    S("Received: from a\r\n\tby b\r\n  id c;\r\n Mon, 1 Jan 2024\r\n"
	    "Subject: hi\r\nFrom: a@example.test\r\n"), LIST(received),
	    "Subject: hi\r\nFrom: a@example.test\r\n", HDR_OK);
	rewrite("a folded field after a stripped one stays whole",
	    S("Received: a\r\n b\r\nSubject: x\r\n y\r\n\tz\r\n"
	    "Received: c\r\n d\r\nFrom: a@example.test\r\n"), LIST(received),
	    "Subject: x\r\n y\r\n\tz\r\nFrom: a@example.test\r\n", HDR_OK);
	rewrite("only stripped fields: nothing out",
	    S("Received: a\r\n b\r\nX-Mailer: m\r\n"), LIST(usual), "",
	    HDR_ERR_FROM_MISSING);
	rewrite("empty section", "", 0, LIST(usual), "",
	    HDR_ERR_FROM_MISSING);
	rewrite("a last line without CRLF is a line",
	    S("From: a@example.test\r\nReceived: x"), LIST(received),
	    "From: a@example.test\r\n", HDR_OK);
	rewrite("a field name is not a prefix of a stripped one",
	    S("Receive: x\r\nReceived-SPF: y\r\nFrom: a@example.test\r\n"),
	    LIST(received), "Receive: x\r\nReceived-SPF: y\r\n"
	    "From: a@example.test\r\n", HDR_OK);
}

static void
test_syntax(void)
{
	rewrite("continuation before the first field",
	    S(" folded\r\nFrom: a@example.test\r\n"), LIST(received),
	    " folded\r\nFrom: a@example.test\r\n", HDR_ERR_SYNTAX);
	rewrite("line without a colon",
	    S("From: a@example.test\r\nno colon here\r\n"), LIST(received),
	    "From: a@example.test\r\nno colon here\r\n", HDR_ERR_SYNTAX);
	rewrite("space before the colon: \"From :\" is no field",
	    S("From : a@example.test\r\n"), LIST(none),
	    "From : a@example.test\r\n", HDR_ERR_SYNTAX);
	rewrite("space in a name", S("Bad Name: x\r\nFrom: a@example.test\r\n"),
	    LIST(none), "Bad Name: x\r\nFrom: a@example.test\r\n",
	    HDR_ERR_SYNTAX);
	rewrite("empty name", S(": x\r\nFrom: a@example.test\r\n"),
	    LIST(none), ": x\r\nFrom: a@example.test\r\n", HDR_ERR_SYNTAX);
	rewrite("8-bit name", S("X-\xc3\xa9: x\r\nFrom: a@example.test\r\n"),
	    LIST(none), "X-\xc3\xa9: x\r\nFrom: a@example.test\r\n",
	    HDR_ERR_SYNTAX);
	rewrite("an empty line inside is refused",
	    S("From: a@example.test\r\n\r\nX: y\r\n"), LIST(none),
	    "From: a@example.test\r\n\r\nX: y\r\n", HDR_ERR_SYNTAX);
	rewrite("a syntax error comes before a From: problem",
	    S("junk\r\nSubject: x\r\n"), LIST(none), "junk\r\nSubject: x\r\n",
	    HDR_ERR_SYNTAX);
	rewrite("a continuation after a bad line stays with it",
	    S("Received: a\r\njunk\r\n more\r\nFrom: a@example.test\r\n"),
	    LIST(received), "junk\r\n more\r\nFrom: a@example.test\r\n",
	    HDR_ERR_SYNTAX);
}

static void
test_section_len(void)
{
	CHECK(hdr_section_len("", 0) == 0, "section: nothing yet");
	CHECK(hdr_section_len("\r", 1) == 0, "section: lone CR");
	CHECK(hdr_section_len(S("\r\n")) == 2, "section: empty section");
	CHECK(hdr_section_len(S("\r\nbody\r\n\r\n")) == 2,
	    "section: empty section, body follows");
	CHECK(hdr_section_len(S("A: b\r\n")) == 0, "section: no end yet");
	CHECK(hdr_section_len(S("A: b\r\n\r")) == 0,
	    "section: CRLF split across calls, first half");
	CHECK(hdr_section_len(S("A: b\r\n\r\n")) == 8, "section: one field");
	CHECK(hdr_section_len(S("A: b\r\n\r\nbody\r\n\r\nmore")) == 8,
	    "section: the first empty line ends it");
	CHECK(hdr_section_len(S("A: b\r\n c\r\n\r\n")) == 12,
	    "section: folded field");
	CHECK(hdr_section_len(S("A: b\n\nc\r\r\n")) == 0,
	    "section: bare LF is no line end");
}

static void
test_body(void)
{
	const char msg[] = "From: a@example.test\r\nReceived: x\r\n\r\n"
	    "Received: in the body\r\n";
	struct hdr_info info;
	char *p = dup_range(msg, sizeof(msg) - 1), *out;
	size_t sl, n;

	sl = hdr_section_len(p, sizeof(msg) - 1);
	CHECK(sl == 37, "body: section ends at the empty line");
	out = alloc(sl - 2);
	n = hdr_rewrite(p, sl - 2, LIST(received), NULL, 0, out, &info);
	CHECK(n == 22 && memcmp(out, "From: a@example.test\r\n", n) == 0 &&
	    memcmp(p + sl, "Received: in the body\r\n", 23) == 0,
	    "body: never passed in, never touched");
	free(p);
	free(out);
}

static void
test_info(void)
{
	struct hdr_info info;

	info = rewrite("no Message-ID, no Date", S("From: a@example.test\r\n"),
	    LIST(none), "From: a@example.test\r\n", HDR_OK);
	CHECK(!info.has_message_id && !info.has_date, "info: neither");
	info = rewrite("Message-ID and Date",
	    S("message-id: <1@example.test>\r\nDATE: Mon, 1 Jan 2024 "
	    "00:00:00 +0000\r\nFrom: a@example.test\r\n"), LIST(none),
	    "message-id: <1@example.test>\r\nDATE: Mon, 1 Jan 2024 "
	    "00:00:00 +0000\r\nFrom: a@example.test\r\n", HDR_OK);
	CHECK(info.has_message_id && info.has_date, "info: both, any case");
	{
		static const char *const dates[] = { "Date", "Message-*" };

		info = rewrite("stripped still counts",
		    S("Date: x\r\nMessage-Id: <y@z>\r\nFrom: a@example.test\r\n"),
		    LIST(dates), "From: a@example.test\r\n", HDR_OK);
		CHECK(info.has_message_id && info.has_date,
		    "info: stripped Message-ID and Date are noted");
	}
	info = rewrite("look-alikes", S("Message-IDs: x\r\nDates: y\r\n"
	    "X-Date: z\r\nFrom: a@example.test\r\n"), LIST(none),
	    "Message-IDs: x\r\nDates: y\r\nX-Date: z\r\nFrom: a@example.test\r\n",
	    HDR_OK);
	CHECK(!info.has_message_id && !info.has_date, "info: look-alikes");
	info = rewrite("From: with display name",
	    S("From: Alice <alice@Example.TEST>\r\n"), LIST(none),
	    "From: Alice <alice@Example.TEST>\r\n", HDR_OK);
	CHECK(info.nfrom == 1 && strcmp(info.from[0], "alice@example.test") == 0,
	    "info: From: address, domain lowercased");
	info = rewrite("folded From:",
	    S("from: Alice\r\n <alice@example.test>,\r\n\tbob@example.test\r\n"
	    "Subject: x\r\n"), LIST(none), "from: Alice\r\n"
	    " <alice@example.test>,\r\n\tbob@example.test\r\nSubject: x\r\n",
	    HDR_OK);
	CHECK(info.nfrom == 2 && strcmp(info.from[1], "bob@example.test") == 0,
	    "info: folded From: with two mailboxes");
	info = rewrite("two From: fields",
	    S("From: a@example.test\r\nFrom: b@example.test\r\n"), LIST(none),
	    "From: a@example.test\r\nFrom: b@example.test\r\n",
	    HDR_ERR_FROM_MULTIPLE);
	CHECK(info.nfrom == 0 && info.from[0][0] == '\0',
	    "info: no address when refused");
	rewrite("missing From:", S("Subject: x\r\n"), LIST(none),
	    "Subject: x\r\n", HDR_ERR_FROM_MISSING);
	rewrite("From: in a continuation is no field",
	    S("Subject: x\r\n From: a@example.test\r\n"), LIST(none),
	    "Subject: x\r\n From: a@example.test\r\n", HDR_ERR_FROM_MISSING);
	rewrite("unparsable From:", S("From: Alice\r\n"), LIST(none),
	    "From: Alice\r\n", HDR_ERR_FROM_SYNTAX);
	rewrite("empty group only", S("From: Undisclosed recipients:;\r\n"),
	    LIST(none), "From: Undisclosed recipients:;\r\n",
	    HDR_ERR_FROM_SYNTAX);
	rewrite("9 mailboxes", S("From: a@x.test, b@x.test, c@x.test, "
	    "d@x.test,\r\n e@x.test, f@x.test, g@x.test, h@x.test, i@x.test\r\n"),
	    LIST(none), "From: a@x.test, b@x.test, c@x.test, d@x.test,\r\n"
	    " e@x.test, f@x.test, g@x.test, h@x.test, i@x.test\r\n",
	    HDR_ERR_FROM_SYNTAX);
	info = rewrite("* strips nothing, From: is read",
	    S("From: a@example.test\r\n"), LIST(star), "From: a@example.test\r\n",
	    HDR_OK);
	CHECK(info.nfrom == 1, "info: From: read with a * list");
	{
		static const char *const froms[] = { "From" };

		info = rewrite("stripping From: still reads it",
		    S("From: a@example.test\r\n"), LIST(froms), "", HDR_OK);
		CHECK(info.nfrom == 1, "info: stripped From: read");
	}
}

static void
test_from(void)
{
	from("plain", S("a@example.test"), 8, 1, "a@example.test");
	from("leading space, trailing CRLF", S(" a@Example.Test\r\n"), 8, 1,
	    "a@example.test");
	from("display name", S("Alice Example <Alice@example.test>"), 8, 1,
	    "Alice@example.test");
	from("no display name", S("<a@example.test>"), 8, 1, "a@example.test");
	from("space inside brackets", S("A < a@example.test >"), 8, 1,
	    "a@example.test");
	from("quoted display name, comma, escaped quote",
	    S("\"Doe, John \\\"JD\\\"\" <jd@example.test>"), 8, 1,
	    "jd@example.test");
	from("quoted display name with @ and <>",
	    S("\"evil@example.test <x>\" <jd@example.test>"), 8, 1,
	    "jd@example.test");
	from("obs-phrase dots", S("John Q. Public <jqp@example.test>"), 8, 1,
	    "jqp@example.test");
	from("RFC 2047 encoded-word", S("=?UTF-8?Q?J=C3=B6rg?= "
	    "<j@example.test>"), 8, 1, "j@example.test");
	from("comments everywhere", S("(c1) Alice (c2 (nested \\) x)) "
	    "<alice@example.test> (c3)"), 8, 1, "alice@example.test");
	from("comment after addr-spec", S("a@example.test (Alice)"), 8, 1,
	    "a@example.test");
	from("bare quoted local part", S("\"john doe\"@example.test"), 8, 1,
	    "\"john doe\"@example.test");
	from("several mailboxes", S("a@x.test, B <b@x.test>,\"C, c\" <c@x.test>"),
	    8, 3, "a@x.test", "b@x.test", "c@x.test");
	from("group", S("Team: a@x.test, B <b@x.test>;"), 8, 2, "a@x.test",
	    "b@x.test");
	from("empty group and a mailbox", S("Team:;, c@x.test"), 8, 1,
	    "c@x.test");
	from("group, then mailbox", S("T: a@x.test; , c@x.test"), 8, 2,
	    "a@x.test", "c@x.test");
	from("folded", S("Alice\r\n <alice@example.test>,\r\n\tb@x.test"), 8, 2,
	    "alice@example.test", "b@x.test");
	from("folded in a quoted display name", S("\"Ali\r\n ce\" <a@x.test>"),
	    8, 1, "a@x.test");
	from("8 mailboxes", S("a@x.test,b@x.test,c@x.test,d@x.test,e@x.test,"
	    "f@x.test,g@x.test,h@x.test"), 8, 8, "a@x.test", "b@x.test",
	    "c@x.test", "d@x.test", "e@x.test", "f@x.test", "g@x.test",
	    "h@x.test");

	from("empty", "", 0, 8, -1);
	from("only space and comment", S("  (nobody)  "), 8, -1);
	from("empty group only", S("Undisclosed recipients:;"), 8, -1);
	from("9 mailboxes", S("a@x.test,b@x.test,c@x.test,d@x.test,e@x.test,"
	    "f@x.test,g@x.test,h@x.test,i@x.test"), 8, -1);
	from("max 0", S("a@x.test"), 0, -1);
	from("two over max 1", S("a@x.test, b@x.test"), 1, -1);
	from("no domain", S("alice"), 8, -1);
	from("display name without brackets", S("Alice alice@x.test"), 8, -1);
	from("unquoted @ in display name", S("a@x.test <b@x.test>"), 8, -1);
	from("unterminated bracket", S("<alice@x.test"), 8, -1);
	from("two angle addrs", S("A <a@x.test> <b@x.test>"), 8, -1);
	from("empty brackets", S("A <>"), 8, -1);
	from("trailing comma", S("a@x.test,"), 8, -1);
	from("empty list element", S("a@x.test,,b@x.test"), 8, -1);
	from("unterminated quote", S("\"Alice <a@x.test>"), 8, -1);
	from("unterminated comment", S("(Alice a@x.test"), 8, -1);
	from("unbalanced comment", S("a@x.test)"), 8, -1);
	from("backslash at the end", S("(x\\"), 8, -1);
	from("CRLF without WSP", S("a@x.test\r\nX: y"), 8, -1);
	from("CRLF without WSP after a comma", S("a@x.test,\r\nb@x.test"), 8,
	    -1);
	from("CRLF without WSP in a quoted string", S("\"A\r\nB\" <a@x.test>"),
	    8, -1);
	from("bare CR", S("A\r<a@x.test>"), 8, -1);
	from("bare LF", S("A\n <a@x.test>"), 8, -1);
	from("NUL", S("a@x.test\0"), 8, -1);
	from("NUL in display name", S("A\0B <a@x.test>"), 8, -1);
	from("route addr", S("<@relay.test:a@x.test>"), 8, -1);
	from("route addr, two hops", S("A <@r1.test,@r2.test:a@x.test>"), 8, -1);
	from("percent hack", S("a%y.test@x.test"), 8, -1);
	from("bang path", S("y!a@x.test"), 8, -1);
	from("domain literal", S("a@[192.0.2.1]"), 8, -1);
	from("IDN domain in UTF-8", S("a@b\xc3\xbc" "cher.test"), 8, -1);
	from("8-bit local part", S("j\xc3\xb6rg@x.test"), 8, -1);
	from("8-bit display name", S("J\xc3\xb6rg <j@x.test>"), 8, -1);
	from("spaces around @", S("a @ x.test"), 8, -1);
	from("nested group", S("A: B: a@x.test;;"), 8, -1);
	from("unterminated group", S("A: a@x.test"), 8, -1);
	from("quoted local part with backslash", S("\"a\\\"b\"@x.test"), 8, -1);
	from("folded quoted local part", S("\"a\r\n b\"@x.test"), 8, -1);
	from("local part too long", S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaa@x.test"), 8, -1);
}

/* Pseudo-random bytes, biased towards the ones the parsers look at. */
static void
test_garbage(void)
{
	static const char interesting[] = "\r\n \t:(),;<>@\"\\.aZ*\0\x80\xff";
	static const char *const froms[] = { "From", "X-*" };
	char out[HDR_FROM_MAX][SMTP_ADDR_MAX + 1];
	struct hdr_info info;
	unsigned long seed = 1;
	size_t len, i, n, round;
	char *in, *o;
	int bad = 0, c;

	for (round = 0; round < 20000; round++) {
		len = round % 97;
		in = alloc(len);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			c = (int)((seed >> 16) & 0xff);
			in[i] = c < 128 ? interesting[c % (sizeof(interesting) -
			    1)] : (char)c;
		}
		o = alloc(len);
		n = hdr_rewrite(in, len, LIST(froms), NULL, 0, o, &info);
		bad |= n > len || info.nfrom > HDR_FROM_MAX;
		(void)hdr_section_len(in, len);
		c = hdr_parse_from(in, len, 0, out, HDR_FROM_MAX);
		bad |= c == 0 || c > HDR_FROM_MAX;
		free(in);
		free(o);
	}
	CHECK(!bad, "garbage: 20000 random inputs, no crash, sane results");
	for (c = 0; c < 256; c++) {
		char b = (char)c;

		in = dup_range(&b, 1);
		n = hdr_rewrite(in, 1, LIST(froms), NULL, 0, in, &info);
		(void)hdr_parse_from(in, 1, 0, out, HDR_FROM_MAX);
		(void)hdr_section_len(in, 1);
		bad |= n > 1;
		free(in);
	}
	CHECK(!bad, "garbage: every single byte");
}

/* hdr_authserv_id: want NULL when the body has none. */
static void
authserv(const char *body, size_t len, int arc, const char *want)
{
	char out[64], *p = dup_range(body, len);
	int rc = hdr_authserv_id(p, len, arc, out, sizeof(out));

	if (want == NULL)
		CHECK(rc == -1, "authserv-id: none in \"%.*s\"", (int)len, body);
	else
		CHECK(rc == 0 && strcmp(out, want) == 0, "authserv-id: %s in "
		    "\"%.*s\" (got %s)", want, (int)len, body, rc == 0 ? out : "-");
	free(p);
}

static void
test_authres(void)
{
	const char *ours = "relay.example.test";
	struct hdr_info info;
	const char in[] =
	    "Authentication-Results: relay.example.test;\r\n"
	    "  dkim=pass\r\n"
	    "From: a@example.test\r\n"
	    "Authentication-Results: mx.other.example; spf=pass\r\n"
	    "ARC-Authentication-Results: i=1; RELAY.example.test; dmarc=pass\r\n"
	    "ARC-Authentication-Results: i=2; mx.other.example; none\r\n"
	    "Authentication-Results: ;;;\r\n"
	    "Subject: x\r\n";
	const char want[] =
	    "From: a@example.test\r\n"
	    "Authentication-Results: mx.other.example; spf=pass\r\n"
	    "ARC-Authentication-Results: i=2; mx.other.example; none\r\n"
	    "Subject: x\r\n";
	char *p = dup_range(in, sizeof(in) - 1), *out = alloc(sizeof(in) - 1);
	size_t n;

	authserv(S(" relay.example.test; dkim=pass"), 0, "relay.example.test");
	authserv(S(" relay.example.test 1; none"), 0, "relay.example.test");
	authserv(S(" (comment) relay.example.test"), 0, "relay.example.test");
	authserv(S("\r\n relay.example.test;"), 0, "relay.example.test");
	authserv(S(" \"quoted id\"; spf=pass"), 0, "quoted id");
	authserv(S(" i=1; mx.example.org; spf=pass"), 1, "mx.example.org");
	authserv(S(" i = 12 ; mx.example.org"), 1, "mx.example.org");
	authserv(S(" mx.example.org; spf=pass"), 1, NULL);
	authserv(S(" ;;;"), 0, NULL);
	authserv(S(""), 0, NULL);
	authserv(S(" a b"), 0, NULL);
	authserv(S(" \"open"), 0, NULL);
	authserv(S(" i=; x"), 1, NULL);
	n = hdr_rewrite(p, sizeof(in) - 1, NULL, 0, ours, 0, out, &info);
	CHECK(n == sizeof(want) - 1 && memcmp(out, want, n) == 0 &&
	    info.authres_removed == 3, "rewrite: fields claiming our authserv-id "
	    "and unreadable ones go, others stay (%zu removed)",
	    info.authres_removed);
	n = hdr_rewrite(p, sizeof(in) - 1, NULL, 0, NULL, 0, out, &info);
	CHECK(n == sizeof(in) - 1 && info.authres_removed == 0,
	    "rewrite: without an authserv-id nothing goes");
	free(p);
	free(out);
}

static void
test_ident(void)
{
	struct hdr_info info;

	info = rewrite("Sender, Resent-From (two) and Resent-Sender are read",
	    S("From: a@example.test\r\nSender: Boss <Boss@Example.TEST>\r\n"
	    "Resent-From: c@example.test,\r\n d@example.org\r\n"
	    "resent-sender: e@example.test\r\n"), LIST(none),
	    "From: a@example.test\r\nSender: Boss <Boss@Example.TEST>\r\n"
	    "Resent-From: c@example.test,\r\n d@example.org\r\n"
	    "resent-sender: e@example.test\r\n", HDR_OK);
	CHECK(info.nident == 4 && info.ident_error == NULL &&
	    strcmp(info.ident[0].field, "Sender") == 0 &&
	    strcmp(info.ident[0].addr, "Boss@example.test") == 0 &&
	    strcmp(info.ident[1].field, "Resent-From") == 0 &&
	    strcmp(info.ident[2].addr, "d@example.org") == 0 &&
	    strcmp(info.ident[3].field, "Resent-Sender") == 0,
	    "identity fields: %zu mailboxes", info.nident);
	info = rewrite("an unreadable Sender is reported",
	    S("From: a@example.test\r\nSender: no address here\r\n"),
	    LIST(none), "From: a@example.test\r\nSender: no address here\r\n",
	    HDR_OK);
	CHECK(info.ident_error != NULL &&
	    strcmp(info.ident_error, "Sender") == 0, "ident_error is Sender");
	info = rewrite("a stripped Sender claims nothing",
	    S("From: a@example.test\r\nSender: b@example.test\r\n"),
	    LIST(sender), "From: a@example.test\r\n", HDR_OK);
	CHECK(info.nident == 0, "a stripped Sender is not checked");
	info = rewrite("more mailboxes than HDR_IDENT_MAX",
	    S("From: a@example.test\r\nResent-From: a@x.test, b@x.test, "
	    "c@x.test, d@x.test, e@x.test, f@x.test, g@x.test, h@x.test, "
	    "i@x.test\r\n"), LIST(none),
	    "From: a@example.test\r\nResent-From: a@x.test, b@x.test, "
	    "c@x.test, d@x.test, e@x.test, f@x.test, g@x.test, h@x.test, "
	    "i@x.test\r\n", HDR_OK);
	CHECK(info.ident_error != NULL, "too many identity mailboxes is an error");
}

/* SMTPUTF8 (RFC 6532) and "TLS-Required: No" (RFC 8689 §5). */
static void
test_utf8(void)
{
	static const char in[] = "From: J\xc3\xb6rg M\xc3\xbcller "
	    "<j\xc3\xb6rg@b\xc3\xbc.test>\r\nSubject: \xc3\xa9t\xc3\xa9\r\n"
	    "TLS-Required:  no \r\n";
	char out[sizeof(in)], addrs[2][SMTP_ADDR_MAX + 1];
	struct hdr_info info;
	size_t n;

	n = hdr_rewrite(in, sizeof(in) - 1, NULL, 0, NULL, 1, out, &info);
	CHECK(n == sizeof(in) - 1 && info.error == HDR_OK && info.nfrom == 1 &&
	    strcmp(info.from[0], "j\xc3\xb6rg@b\xc3\xbc.test") == 0 &&
	    info.eight_bit && info.tls_required_no, "utf8: From: read, 8-bit "
	    "and TLS-Required seen");
	n = hdr_rewrite(in, sizeof(in) - 1, NULL, 0, NULL, 0, out, &info);
	CHECK(info.error == HDR_ERR_FROM_SYNTAX && info.eight_bit,
	    "utf8: without SMTPUTF8 a UTF-8 From: is not read");
	CHECK(hdr_parse_from("\"J\xc3\xb6rg\" <a@b.test>", 18, 1, addrs, 2) == 1,
	    "utf8: quoted display name");
	CHECK(hdr_parse_from("a\xc3@b.test", 9, 1, addrs, 2) == -1,
	    "utf8: ill-formed refused");
	n = hdr_rewrite(S("TLS-Required: Yes\r\nFrom: a@b.test\r\n"), NULL, 0,
	    NULL, 0, out, &info);
	CHECK(!info.tls_required_no && !info.eight_bit && info.nfrom == 1,
	    "TLS-Required: Yes is not No");
}

int
main(void)
{
	test_authres();
	test_ident();
	test_strip();
	test_syntax();
	test_section_len();
	test_body();
	test_info();
	test_from();
	test_garbage();
	test_utf8();
	printf("# %d tests, %d failed\n", tests, failures);
	return failures == 0 ? 0 : 1;
}
