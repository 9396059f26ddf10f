/*
 * spf.h - SPF's check_host() (RFC 7208 §4), for submitctl dns-check: does a
 * domain's SPF record authorise the addresses submitd sends from?
 *
 * Pure: the DNS is behind callbacks (the daemon's are blocking c-ares
 * look-ups on a worker, dns_check.c; the tests' are tables).  Covers the
 * mechanisms real records use (all, ip4, ip6, a, mx, include, exists
 * without macros) and the redirect modifier, with the limit of 10 DNS
 * mechanisms; a domain-spec with macros never matches (noted in why).
 */
#ifndef SUBMITD_SPF_H
#define SUBMITD_SPF_H

#include <stddef.h>

#define SPF_TXT_LEN	1024	/* a TXT record, its strings joined */
#define SPF_NAME_LEN	256
#define SPF_ADDR_LEN	46	/* INET6_ADDRSTRLEN */
#define SPF_LOOKUPS_MAX	10	/* RFC 7208 §4.6.4 */

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/*
 * Each returns the number of answers written (at most max), 0 when the
 * name has none (NXDOMAIN or no data), -1 when the DNS failed for now.
 */
struct spf_dns {
	int	(*txt)(void *arg, const char *name, char (*out)[SPF_TXT_LEN],
		    size_t max);
	int	(*addrs)(void *arg, const char *name, char (*out)[SPF_ADDR_LEN],
		    size_t max);	/* A and AAAA, numeric */
	int	(*mx)(void *arg, const char *name, char (*out)[SPF_NAME_LEN],
		    size_t max);
	void	*arg;
};

/*
 * The result for a message from numeric address ip with a sender in
 * domain; why says which term decided ("ip4:192.0.2.0/24 in example.test",
 * "-all in example.test", "no SPF record") or what was wrong.
 */
enum spf_result	 spf_check(const struct spf_dns *, const char *ip,
		    const char *domain, char *why, size_t whylen);
/* Does domain's record include (or redirect to) target, at any depth? */
int		 spf_includes(const struct spf_dns *, const char *domain,
		    const char *target);
const char	*spf_result_name(enum spf_result);
/* The v=spf1 record among a name's TXT records: 1 found, 0 none, -1 two. */
int		 spf_record(char (*txt)[SPF_TXT_LEN], int n, const char **rec);

#endif
