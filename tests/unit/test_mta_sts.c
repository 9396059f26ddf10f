/*
 * test_mta_sts.c - unit tests of MTA-STS and TLS-RPT parsing (src/mta_sts.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mta_sts.h"

#define S(x)	x, sizeof(x) - 1

static char *
dup_range(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		exit(2);
	memcpy(p, s, len);
	return p;
}

static struct mta_sts_policy pol;

static int
policy(const char *desc, const char *in, size_t len, int want)
{
	const char *why;
	char *p = dup_range(in, len);
	int rc = mta_sts_parse_policy(p, len, &pol, &why);

	CHECK(rc == want, "policy %s: %s (%s)", want == 0 ? "ok" : "refused", desc,
	    why ? why : "-");
	free(p);
	return rc;
}

static int
txt(const char *a, const char *b, char *id)
{
	const char *v[2] = { a, b };
	size_t l[2] = { a ? strlen(a) : 0, b ? strlen(b) : 0 };

	return mta_sts_parse_txt(v, l, b ? 2 : 1, id);
}

int
main(void)
{
	char id[MTA_STS_ID_MAX + 1], big[70000];
	struct tlsrpt_record r;
	const char *rec[1];
	size_t len[1];

	policy("RFC 8461 example, CRLF", S("version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\n"
	    "max_age: 604800\r\n"), 0);
	CHECK(pol.mode == MTA_STS_ENFORCE && pol.nmx == 3 && pol.max_age == 604800 &&
	    strcmp(pol.mx[1], "*.example.net") == 0, "fields read");
	policy("LF, no final newline, case of mx", S("version: STSv1\nmode: testing\n"
	    "mx: MX.Example.Com\nmax_age: 86400"), 0);
	CHECK(pol.mode == MTA_STS_TESTING && strcmp(pol.mx[0], "mx.example.com") == 0,
	    "testing, mx lowercased");
	policy("mode none needs no mx", S("version: STSv1\nmode: none\nmax_age: 1\n"), 0);
	policy("spaces after the colon and at the end", S("version:   STSv1  \n"
	    "mode:\tenforce\nmx: a.example\nmax_age: 5 \n"), 0);
	policy("unknown keys are ignored", S("version: STSv1\nmode: enforce\n"
	    "mx: a.example\nmax_age: 5\nfuture_key: anything at all\n"), 0);
	policy("a repeated field: the first counts", S("version: STSv1\n"
	    "mode: testing\nmode: enforce\nmx: a.example\nmax_age: 5\n"), 0);
	CHECK(pol.mode == MTA_STS_TESTING, "first mode kept");
	policy("max_age capped at a year", S("version: STSv1\nmode: enforce\n"
	    "mx: a.example\nmax_age: 9999999999\n"), 0);
	CHECK(pol.max_age == MTA_STS_MAX_AGE_MAX, "max_age capped");
	policy("version STSv2", S("version: STSv2\nmode: enforce\nmx: a.example\n"
	    "max_age: 5\n"), -1);
	policy("keys are case-sensitive", S("Version: STSv1\nmode: enforce\n"
	    "mx: a.example\nmax_age: 5\n"), -1);
	policy("no version", S("mode: enforce\nmx: a.example\nmax_age: 5\n"), -1);
	policy("no max_age", S("version: STSv1\nmode: enforce\nmx: a.example\n"), -1);
	policy("enforce without mx", S("version: STSv1\nmode: enforce\nmax_age: 5\n"), -1);
	policy("bad mode", S("version: STSv1\nmode: Enforce\nmx: a\nmax_age: 5\n"), -1);
	policy("max_age not a number", S("version: STSv1\nmode: enforce\n"
	    "mx: a.example\nmax_age: 5d\n"), -1);
	policy("max_age of 11 digits", S("version: STSv1\nmode: enforce\n"
	    "mx: a.example\nmax_age: 12345678901\n"), -1);
	policy("mx with a double wildcard", S("version: STSv1\nmode: enforce\n"
	    "mx: *.*.example\nmax_age: 5\n"), -1);
	policy("mx with a wildcard inside", S("version: STSv1\nmode: enforce\n"
	    "mx: mx.*.example\nmax_age: 5\n"), -1);
	policy("mx with a space", S("version: STSv1\nmode: enforce\n"
	    "mx: mx example\nmax_age: 5\n"), -1);
	policy("a line without a colon", S("version: STSv1\nmode: enforce\n"
	    "mx: a.example\nmax_age: 5\ngarbage\n"), -1);
	policy("a NUL", S("version: STSv1\nmode: enforce\nmx: a.ex\0ample\n"
	    "max_age: 5\n"), -1);
	policy("empty", S(""), -1);
	memset(big, 'x', sizeof(big));
	policy("over 64 KiB", big, sizeof(big), -1);

	CHECK(mta_sts_mx_match(&pol, "anything") == 0 || 1, "(policy reset)");
	policy("for matching", S("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	    "mx: *.example.net\nmax_age: 5\n"), 0);
	CHECK(mta_sts_mx_match(&pol, "mail.example.com"), "exact name matches");
	CHECK(mta_sts_mx_match(&pol, "MAIL.EXAMPLE.COM."), "any case, final dot");
	CHECK(mta_sts_mx_match(&pol, "mx1.example.net"), "wildcard: one label");
	CHECK(!mta_sts_mx_match(&pol, "a.b.example.net"), "wildcard: not two labels");
	CHECK(!mta_sts_mx_match(&pol, "example.net"), "wildcard: not zero labels");
	CHECK(!mta_sts_mx_match(&pol, "xexample.net"), "wildcard: label boundary");
	CHECK(!mta_sts_mx_match(&pol, "evil.mail.example.com"), "no suffix match");
	CHECK(!mta_sts_mx_match(&pol, "mail.example.com.evil"), "no prefix match");

	CHECK(txt("v=STSv1; id=20160831085700Z;", NULL, id) == 1 &&
	    strcmp(id, "20160831085700Z") == 0, "TXT: RFC example");
	CHECK(txt("v=STSv1;id=abc", NULL, id) == 1 && strcmp(id, "abc") == 0,
	    "TXT: no spaces, no final ;");
	CHECK(txt("v=STSv1; id=abc; ext=1", NULL, id) == 1, "TXT: extension");
	CHECK(txt("v=spf1 -all", "v=STSv1; id=x1", id) == 1 &&
	    strcmp(id, "x1") == 0, "TXT: other records discarded");
	CHECK(txt("v=STSv1; id=a", "v=STSv1; id=b", id) == 0, "TXT: two is none");
	CHECK(txt("v=spf1 -all", NULL, id) == 0, "TXT: none");
	CHECK(txt("v=STSv1;", NULL, id) == -1, "TXT: no id");
	CHECK(txt("v=STSv1; id=has-dash", NULL, id) == -1, "TXT: id alnum only");
	CHECK(txt("v=STSv1; id=123456789012345678901234567890123", NULL, id) == -1,
	    "TXT: id of 33");
	CHECK(txt("v=STSv10; id=a", NULL, id) == 0, "TXT: v=STSv10 is not ours");
	CHECK(txt("v=STSv1; id", NULL, id) == -1, "TXT: field without =");

	rec[0] = "v=TLSRPTv1; rua=mailto:reports@example.com,https://r.example.com/v1";
	len[0] = strlen(rec[0]);
	CHECK(tlsrpt_parse_txt(rec, len, 1, &r) == 1 && r.nrua == 2 &&
	    strcmp(r.rua[0], "mailto:reports@example.com") == 0 &&
	    strcmp(r.rua[1], "https://r.example.com/v1") == 0, "TLS-RPT: two URIs");
	rec[0] = "v=TLSRPTv1;rua=mailto:a@example.com , ftp://x, https://b.example";
	len[0] = strlen(rec[0]);
	CHECK(tlsrpt_parse_txt(rec, len, 1, &r) == 1 && r.nrua == 2,
	    "TLS-RPT: spaces, a scheme we skip");
	rec[0] = "v=TLSRPTv1; ruf=mailto:a@example.com";
	len[0] = strlen(rec[0]);
	CHECK(tlsrpt_parse_txt(rec, len, 1, &r) == -1, "TLS-RPT: no rua");
	rec[0] = "v=TLSRPTv1; rua=mailto:a b@example.com";
	len[0] = strlen(rec[0]);
	CHECK(tlsrpt_parse_txt(rec, len, 1, &r) == -1, "TLS-RPT: space in a URI");
	rec[0] = "v=STSv1; id=1";
	len[0] = strlen(rec[0]);
	CHECK(tlsrpt_parse_txt(rec, len, 1, &r) == 0, "TLS-RPT: none");

	printf("1..%d\n", tests);
	return failures ? 1 : 0;
}
