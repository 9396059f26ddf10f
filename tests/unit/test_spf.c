/*
 * test_spf.c - unit tests of SPF's check_host() (src/spf.c) over a DNS
 * table: mechanisms, qualifiers, include and redirect, the look-up limit,
 * loops, DNS failures, and what why says.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "spf.h"

struct rr {
	const char	*name;
	char		 type;		/* 't' TXT, 'a' address, 'm' MX */
	const char	*value;		/* "FAIL": a DNS failure */
};

static const struct rr table[] = {
	{ "ex.test", 't', "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx "
	    "include:inc.test -all" },
	{ "ex.test", 't', "google-site-verification=x" },
	{ "ex.test", 'a', "198.51.100.1" },
	{ "ex.test", 'm', "mx.ex.test" },
	{ "mx.ex.test", 'a', "198.51.100.25" },
	{ "mx.ex.test", 'a', "2001:db9::25" },
	{ "inc.test", 't', "v=spf1 a:out.inc.test/28 ~all" },
	{ "out.inc.test", 'a', "203.0.113.1" },
	{ "redir.test", 't', "v=spf1 ?ip4:10.0.0.1 redirect=ex.test" },
	{ "soft.test", 't', "v=spf1 ~all" },
	{ "neutral.test", 't', "v=spf1 ip4:10.0.0.0/8" },
	{ "two.test", 't', "v=spf1 -all" },
	{ "two.test", 't', "v=spf1 +all" },
	{ "loop.test", 't', "v=spf1 include:loop.test -all" },
	{ "many.test", 't', "v=spf1 a:1.test a:2.test a:3.test a:4.test "
	    "a:5.test a:6.test a:7.test a:8.test a:9.test a:10.test a:11.test "
	    "-all" },
	{ "fail.test", 't', "FAIL" },
	{ "incfail.test", 't', "v=spf1 include:fail.test -all" },
	{ "incnone.test", 't', "v=spf1 include:nothing.test -all" },
	{ "bad.test", 't', "v=spf1 ip4:300.1.1.1 -all" },
	{ "junk.test", 't', "v=spf1 frobnicate -all" },
	{ "mods.test", 't', "v=spf1 exp=explain.test foo=bar ip4:10.1.1.1 -all" },
	{ "macro.test", 't', "v=spf1 a:%{i}.x.test exists:%{l}.y.test -all" },
	{ "exists.test", 't', "v=spf1 exists:here.test -all" },
	{ "here.test", 'a', "127.0.0.2" },
	{ "dual.test", 't', "v=spf1 a:dualhost.test/24//64 -all" },
	{ "dualhost.test", 'a', "192.0.2.200" },
	{ "dualhost.test", 'a', "2001:db8:1:2::1" },
	{ "spf1x.test", 't', "v=spf10 +all" },
};

static int
lookup(char type, const char *name, char *out, size_t size, size_t max)
{
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].type == type && strcasecmp(table[i].name, name) == 0) {
			if (strcmp(table[i].value, "FAIL") == 0)
				return -1;
			if ((size_t)n < max)
				snprintf(out + n++ * size, size, "%s", table[i].value);
		}
	return n;
}

static int
txt(void *arg, const char *name, char (*out)[SPF_TXT_LEN], size_t max)
{
	(*(int *)arg)++;
	return lookup('t', name, out[0], SPF_TXT_LEN, max);
}

static int
addrs(void *arg, const char *name, char (*out)[SPF_ADDR_LEN], size_t max)
{
	return lookup('a', name, out[0], SPF_ADDR_LEN, max);
}

static int
mx(void *arg, const char *name, char (*out)[SPF_NAME_LEN], size_t max)
{
	return lookup('m', name, out[0], SPF_NAME_LEN, max);
}

static int queries;
static const struct spf_dns dns = { txt, addrs, mx, &queries };

static void
check(const char *ip, const char *domain, enum spf_result want,
    const char *why_part)
{
	char why[256];
	enum spf_result r = spf_check(&dns, ip, domain, why, sizeof(why));

	CHECK(r == want && strstr(why, why_part) != NULL,
	    "%s from %s: %s (%s), want %s (%s)", domain, ip, spf_result_name(r),
	    why, spf_result_name(want), why_part);
}

int
main(void)
{
	check("192.0.2.7", "ex.test", SPF_PASS, "ip4:192.0.2.0/24 in ex.test");
	check("2001:db8::7", "ex.test", SPF_PASS, "ip6:2001:db8::/32");
	check("198.51.100.1", "ex.test", SPF_PASS, "a in ex.test");
	check("198.51.100.25", "ex.test", SPF_PASS, "mx in ex.test");
	check("2001:db9::25", "ex.test", SPF_PASS, "mx in ex.test");
	check("203.0.113.9", "ex.test", SPF_PASS, "include:inc.test in ex.test");
	check("203.0.113.99", "ex.test", SPF_FAIL, "-all in ex.test");
	check("203.0.113.99", "inc.test", SPF_SOFTFAIL, "~all in inc.test");
	check("10.0.0.1", "redir.test", SPF_NEUTRAL, "?ip4:10.0.0.1");
	check("192.0.2.1", "redir.test", SPF_PASS, "ip4:192.0.2.0/24 in ex.test");
	check("192.0.2.1", "soft.test", SPF_SOFTFAIL, "~all");
	check("192.0.2.1", "neutral.test", SPF_NEUTRAL, "nothing in neutral.test");
	check("192.0.2.1", "nothing.test", SPF_NONE, "no SPF record");
	check("192.0.2.1", "spf1x.test", SPF_NONE, "no SPF record");
	check("192.0.2.1", "two.test", SPF_PERMERROR, "two SPF records");
	check("192.0.2.1", "loop.test", SPF_PERMERROR, "");
	check("192.0.2.1", "many.test", SPF_PERMERROR, "too many look-ups");
	check("192.0.2.1", "fail.test", SPF_TEMPERROR, "the DNS failed");
	check("192.0.2.1", "incfail.test", SPF_TEMPERROR, "");
	check("192.0.2.1", "incnone.test", SPF_PERMERROR, "");
	check("192.0.2.1", "bad.test", SPF_PERMERROR, "ip4:300.1.1.1");
	check("192.0.2.1", "junk.test", SPF_PERMERROR, "frobnicate");
	check("10.1.1.1", "mods.test", SPF_PASS, "ip4:10.1.1.1");
	check("10.1.1.1", "macro.test", SPF_FAIL, "-all");
	check("10.1.1.1", "exists.test", SPF_PASS, "exists:here.test");
	check("192.0.2.9", "dual.test", SPF_PASS, "a:dualhost.test/24//64");
	check("2001:db8:1:2::99", "dual.test", SPF_PASS, "a:dualhost.test");
	check("2001:db8:1:3::1", "dual.test", SPF_FAIL, "-all");
	CHECK(spf_includes(&dns, "ex.test", "inc.test") == 1, "ex.test includes inc.test");
	CHECK(spf_includes(&dns, "redir.test", "inc.test") == 1,
	    "redirect, then include");
	CHECK(spf_includes(&dns, "inc.test", "ex.test") == 0, "not the other way");
	CHECK(spf_includes(&dns, "loop.test", "x.test") == 0, "a loop ends");
	printf("1..%d\n", tests);
	return failures != 0;
}
