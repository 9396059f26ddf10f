/*
 * dns_check.h - submitctl dns-check DOMAIN: what the DNS must say for mail
 * from DOMAIN to be trusted, checked with the configured resolver.
 *
 *	dkim ed2026._domainkey.example.test OK
 *	dkim rsa2026._domainkey.example.test MISSING publish: ... TXT "v=DKIM1; ..."
 *	dmarc _dmarc.example.test OK p=reject adkim=r aspf=r rua=mailto:...
 *	spf example.test WRONG 192.0.2.1: fail (-all in example.test); ...
 *
 * Each line is OK, MISSING or WRONG, with the record to publish when it is
 * not OK.  The look-ups block, so they run on a thread of their own; the
 * answer comes back on the loop.  At most DNS_CHECK_SECONDS in all.
 */
#ifndef SUBMITD_DNS_CHECK_H
#define SUBMITD_DNS_CHECK_H

#include <stddef.h>

struct config;
struct event_base;

#define DNS_CHECK_SECONDS	8

int	dns_check_init(struct event_base *);
/* Waits for a check under way; its done callback does not run. */
void	dns_check_shutdown(void);
/*
 * Checks domain with conf's keys, next hop and resolver; done(report,
 * problems, arg) runs on the loop later (report: the lines, NUL-terminated).
 * -1 when it cannot start (out of memory, shutting down).
 */
int	dns_check_start(const struct config *conf, const char *domain,
	    void (*done)(const char *report, int problems, void *arg), void *arg);

#endif
