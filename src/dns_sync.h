/*
 * dns_sync.h - blocking DNS look-ups with a channel of their own, for
 * start-up (is the resolver validating?) and worker threads (submitctl
 * dns-check); the event loop uses dns.h.  Also the answer handling both
 * share.
 *
 * Every look-up of one channel shares its deadline: past it, each answers
 * "temporary failure" at once, so a dead resolver costs seconds, not
 * minutes.
 */
#ifndef SUBMITD_DNS_SYNC_H
#define SUBMITD_DNS_SYNC_H

#include <stddef.h>

#include <ares.h>

#include "dns.h"
#include "spf.h"

struct dns_sync;

/* servers: NULL for resolv.conf, or a c-ares CSV list.  NULL on failure. */
struct dns_sync	*dns_sync_new(const char *servers, int seconds, char *why,
		    size_t whylen);
void		 dns_sync_free(struct dns_sync *);
/*
 * The answers to name's TXT (strings of a record joined), A and AAAA
 * (numeric), MX (host names, by preference) records: the number written,
 * 0 when there are none (NXDOMAIN, no data), -1 when the DNS failed.
 */
int	dns_sync_txt(struct dns_sync *, const char *name,
	    char (*out)[SPF_TXT_LEN], size_t max);
int	dns_sync_addrs(struct dns_sync *, const char *name,
	    char (*out)[SPF_ADDR_LEN], size_t max);
int	dns_sync_mx(struct dns_sync *, const char *name,
	    char (*out)[SPF_NAME_LEN], size_t max);

/*
 * Blocking (start-up, submitd -n): asks servers (NULL: resolv.conf) for
 * the root's SOA with the AD bit: 1 when the answer is validated, 0 when
 * not, -1 when there was no answer; why says so.
 */
int	dns_probe_dnssec(const char *servers, char *why, size_t whylen);

/*
 * The status ares_query would give a raw answer, and its AD bit:
 * ARES_ENOTFOUND for NXDOMAIN, ARES_ENODATA for no answer records.
 */
int	dns_answer_status(int status, const unsigned char *abuf, int alen,
	    int *ad);
/* TXT answers with the strings of each record joined; returns the count. */
size_t	dns_txt_join(const struct ares_txt_ext *, char (*out)[DNS_TXT_LEN],
	    size_t *lens, size_t max, int *cut);

#endif
