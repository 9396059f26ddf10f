/*
 * spf.c - check_host() (RFC 7208 §4.6, §5, §6), without macros.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf.h"
#include "util/netaddr.h"

#define SPF_ANSWERS_MAX	16

struct spf_run {
	const struct spf_dns	*dns;
	const char		*ip;
	int			 lookups;
	char			*why;
	size_t			 whylen;
};

const char *
spf_result_name(enum spf_result r)
{
	static const char *const names[] = { "none", "neutral", "pass", "fail",
	    "softfail", "temperror", "permerror" };

	return names[r];
}

int
spf_record(char (*txt)[SPF_TXT_LEN], int n, const char **rec)
{
	int i, found = 0;

	*rec = NULL;
	for (i = 0; i < n; i++)
		if (strncasecmp(txt[i], "v=spf1", 6) == 0 &&
		    (txt[i][6] == '\0' || txt[i][6] == ' ')) {
			found++;
			*rec = txt[i];
		}
	return found > 1 ? -1 : found;
}

/* Is ip in addr/bits (bits < 0: the whole address)? */
static int
addr_match(const char *ip, const char *addr, int bits4, int bits6)
{
	struct netaddr_range r;
	char buf[SPF_ADDR_LEN + 16];
	int v6 = strchr(addr, ':') != NULL, bits = v6 ? bits6 : bits4;

	if (bits >= 0)
		snprintf(buf, sizeof(buf), "%.*s/%d", SPF_ADDR_LEN - 1, addr, bits);
	else
		snprintf(buf, sizeof(buf), "%.*s", SPF_ADDR_LEN - 1, addr);
	return netaddr_parse_range(buf, &r) == 0 && netaddr_in_range(ip, &r);
}

/*
 * "domain/24//64" into the domain (or cur when none is given) and the
 * prefix lengths (-1: whole address).  -1 on a malformed one.
 */
static int
domain_cidr(const char *spec, const char *cur, char *dom, int *b4, int *b6)
{
	const char *slash = strchr(spec, '/'), *p;
	size_t n = slash != NULL ? (size_t)(slash - spec) : strlen(spec);

	*b4 = *b6 = -1;
	if (n >= SPF_NAME_LEN)
		return -1;
	if (n == 0)
		snprintf(dom, SPF_NAME_LEN, "%s", cur);
	else {
		memcpy(dom, spec, n);
		dom[n] = '\0';
	}
	if (slash == NULL)
		return 0;
	p = slash + 1;
	if (*p != '/') {
		*b4 = (int)strtol(p, NULL, 10);
		if (*b4 < 0 || *b4 > 32 || *p < '0' || *p > '9')
			return -1;
		p = strchr(p, '/');
		if (p == NULL)
			return 0;
		p++;
	}
	if (*p != '/')
		return -1;
	*b6 = (int)strtol(p + 1, NULL, 10);
	return *b6 < 0 || *b6 > 128 || p[1] < '0' || p[1] > '9' ? -1 : 0;
}

static void __attribute__((format(printf, 2, 3)))
set_why(struct spf_run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, r->whylen, fmt, ap);
	va_end(ap);
}

static enum spf_result check(struct spf_run *, const char *domain, int depth);

/* 1 when one of name's addresses matches, 0 none, -1 a DNS failure. */
static int
match_addrs(struct spf_run *r, const char *name, int b4, int b6)
{
	char addrs[SPF_ANSWERS_MAX][SPF_ADDR_LEN];
	int n = r->dns->addrs(r->dns->arg, name, addrs, SPF_ANSWERS_MAX), i;

	for (i = 0; i < n; i++)
		if (addr_match(r->ip, addrs[i], b4, b6))
			return 1;
	return n < 0 ? -1 : 0;
}

/*
 * One mechanism (qualifier removed): 1 match, 0 no match, or an error
 * result as -SPF_TEMPERROR / -SPF_PERMERROR.
 */
static int
mechanism(struct spf_run *r, const char *term, const char *domain, int depth)
{
	char dom[SPF_NAME_LEN], mx[SPF_ANSWERS_MAX][SPF_NAME_LEN];
	int b4, b6, n, i, m;

	if (strcasecmp(term, "all") == 0)
		return 1;
	if (strncasecmp(term, "ip4:", 4) == 0 || strncasecmp(term, "ip6:", 4) == 0) {
		struct netaddr_range range;

		if (netaddr_parse_range(term + 4, &range) == -1)
			return -SPF_PERMERROR;
		return netaddr_in_range(r->ip, &range);
	}
	if (strncasecmp(term, "a", 1) == 0 && (term[1] == '\0' || term[1] == ':' ||
	    term[1] == '/')) {
		if (++r->lookups > SPF_LOOKUPS_MAX)
			return -SPF_PERMERROR;
		if (domain_cidr(term[1] == ':' ? term + 2 : term + 1, domain, dom,
		    &b4, &b6) == -1)
			return -SPF_PERMERROR;
		if (strchr(dom, '%') != NULL)
			return 0;
		m = match_addrs(r, dom, b4, b6);
		return m < 0 ? -SPF_TEMPERROR : m;
	}
	if (strncasecmp(term, "mx", 2) == 0 && (term[2] == '\0' ||
	    term[2] == ':' || term[2] == '/')) {
		if (++r->lookups > SPF_LOOKUPS_MAX)
			return -SPF_PERMERROR;
		if (domain_cidr(term[2] == ':' ? term + 3 : term + 2, domain, dom,
		    &b4, &b6) == -1)
			return -SPF_PERMERROR;
		if (strchr(dom, '%') != NULL)
			return 0;
		if ((n = r->dns->mx(r->dns->arg, dom, mx, SPF_ANSWERS_MAX)) < 0)
			return -SPF_TEMPERROR;
		for (i = 0; i < n && i < SPF_LOOKUPS_MAX; i++)
			if ((m = match_addrs(r, mx[i], b4, b6)) != 0)
				return m < 0 ? -SPF_TEMPERROR : 1;
		return 0;
	}
	if (strncasecmp(term, "include:", 8) == 0) {
		enum spf_result res;

		if (++r->lookups > SPF_LOOKUPS_MAX)
			return -SPF_PERMERROR;
		if (strchr(term + 8, '%') != NULL)
			return 0;
		switch ((res = check(r, term + 8, depth + 1))) {
		case SPF_PASS:
			return 1;
		case SPF_TEMPERROR:
			return -SPF_TEMPERROR;
		case SPF_NONE:
		case SPF_PERMERROR:
			return -SPF_PERMERROR;
		default:
			return 0;
		}
	}
	if (strncasecmp(term, "exists:", 7) == 0) {
		char addrs[1][SPF_ADDR_LEN];

		if (++r->lookups > SPF_LOOKUPS_MAX)
			return -SPF_PERMERROR;
		if (strchr(term + 7, '%') != NULL)
			return 0;
		n = r->dns->addrs(r->dns->arg, term + 7, addrs, 1);
		return n < 0 ? -SPF_TEMPERROR : n > 0;
	}
	if (strncasecmp(term, "ptr", 3) == 0 && (term[3] == '\0' || term[3] == ':')) {
		/* RFC 7208 §5.5: do not use; we never match it. */
		if (++r->lookups > SPF_LOOKUPS_MAX)
			return -SPF_PERMERROR;
		return 0;
	}
	return -SPF_PERMERROR;
}

/* The terms of one record, in order; the redirect modifier at the end. */
static enum spf_result
check(struct spf_run *r, const char *domain, int depth)
{
	char txt[8][SPF_TXT_LEN], term[SPF_TXT_LEN], redirect[SPF_NAME_LEN] = "";
	const char *rec, *p;
	int n, m;

	if (depth > SPF_LOOKUPS_MAX) {
		set_why(r, "includes nested too deep at %s", domain);
		return SPF_PERMERROR;
	}
	if ((n = r->dns->txt(r->dns->arg, domain, txt, 8)) < 0) {
		set_why(r, "the DNS failed for %s", domain);
		return SPF_TEMPERROR;
	}
	switch (spf_record(txt, n, &rec)) {
	case 0:
		set_why(r, "no SPF record at %s", domain);
		return SPF_NONE;
	case -1:
		set_why(r, "two SPF records at %s", domain);
		return SPF_PERMERROR;
	}
	for (p = rec + 6; *p != '\0';) {
		size_t len;
		char q = '+';
		const char *t;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0)
			break;
		memcpy(term, p, len);
		term[len] = '\0';
		p += len;
		t = term;
		if (strchr("+-~?", *t) != NULL)
			q = *t++;
		if (strncasecmp(t, "redirect=", 9) == 0) {
			snprintf(redirect, sizeof(redirect), "%s", t + 9);
			continue;
		}
		if (strchr(t, '=') != NULL && strcspn(t, "=") < strcspn(t, ":/"))
			continue;	/* exp= and unknown modifiers */
		r->why[0] = '\0';
		if ((m = mechanism(r, t, domain, depth)) < 0) {
			if (-m == SPF_PERMERROR && r->why[0] == '\0')
				set_why(r, "%s in %s: not understood or too many look-ups",
				    term, domain);
			return (enum spf_result)-m;
		}
		if (m == 1) {
			set_why(r, "%s in %s", term, domain);
			switch (q) {
			case '-':
				return SPF_FAIL;
			case '~':
				return SPF_SOFTFAIL;
			case '?':
				return SPF_NEUTRAL;
			default:
				return SPF_PASS;
			}
		}
	}
	if (redirect[0] != '\0') {
		enum spf_result res;

		if (++r->lookups > SPF_LOOKUPS_MAX) {
			set_why(r, "more than 10 look-ups at %s", domain);
			return SPF_PERMERROR;
		}
		res = check(r, redirect, depth + 1);
		return res == SPF_NONE ? SPF_PERMERROR : res;
	}
	set_why(r, "nothing in %s matched", domain);
	return SPF_NEUTRAL;
}

enum spf_result
spf_check(const struct spf_dns *dns, const char *ip, const char *domain,
    char *why, size_t whylen)
{
	char scratch[1];
	struct spf_run r = { dns, ip, 0, whylen > 0 ? why : scratch,
	    whylen > 0 ? whylen : sizeof(scratch) };

	r.why[0] = '\0';
	return check(&r, domain, 0);
}

/* The look-ups are counted as check_host() counts them: 10 in all. */
static int
includes(const struct spf_dns *dns, const char *domain, const char *target,
    int *lookups)
{
	char txt[8][SPF_TXT_LEN];
	const char *rec, *p;
	int n;

	if (++*lookups > SPF_LOOKUPS_MAX + 1 ||
	    (n = dns->txt(dns->arg, domain, txt, 8)) <= 0 ||
	    spf_record(txt, n, &rec) != 1)
		return 0;
	for (p = rec + 6; *p != '\0';) {
		char term[SPF_NAME_LEN + 16];
		const char *t;
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == 0)
			break;
		snprintf(term, sizeof(term), "%.*s", (int)len, p);
		p += len;
		t = term + (strchr("+-~?", term[0]) != NULL && term[0] != '\0');
		if (strncasecmp(t, "include:", 8) == 0)
			t += 8;
		else if (strncasecmp(t, "redirect=", 9) == 0)
			t += 9;
		else
			continue;
		if (strcasecmp(t, target) == 0 || includes(dns, t, target, lookups))
			return 1;
	}
	return 0;
}

int
spf_includes(const struct spf_dns *dns, const char *domain, const char *target)
{
	int lookups = 0;

	return includes(dns, domain, target, &lookups);
}
