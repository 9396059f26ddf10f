/*
 * sts.h - MTA-STS policy discovery (RFC 8461 §3, §5): the _mta-sts TXT
 * record, the policy fetched over HTTPS, and the cache that keeps a
 * domain protected after its record disappears, until max_age.
 *
 * Owns: the cache (memory, and spool/sts/ so that it survives restarts),
 * fetches (one at a time per domain; deliveries that want the same policy
 * wait for it).  Needs: dns.c for the TXT record and the policy host's
 * addresses, https.c for the fetch, mta_sts.c to read both.  Runs on loop
 * 0 (the queue's) only.
 */
#ifndef SUBMITD_STS_H
#define SUBMITD_STS_H

#include <stddef.h>
#include <time.h>

#include "mta_sts.h"

struct event_base;

enum sts_status {
	STS_NONE,		/* no policy: deliver as the route says */
	STS_POLICY,		/* a policy in mode testing or enforce */
	STS_FAILED,		/* a record, but no policy could be had */
};

struct sts_result {
	enum sts_status		 status;
	struct mta_sts_policy	 policy;	/* STS_POLICY */
	char			 id[MTA_STS_ID_MAX + 1];
	const char		*text;		/* the policy as fetched (TLS-RPT) */
	size_t			 textlen;
	int			 cached;	/* taken from the cache */
	char			 error[256];	/* STS_FAILED: why */
};

/*
 * ca_pem (may be NULL: the system's CAs) verifies the policy servers.
 * Loads spool/sts/.  Start-up, after spool_init.
 */
int	sts_init(struct event_base *, const char *ca_pem, size_t ca_len);
/* A reloaded relay.ca_file. */
void	sts_set_ca(const char *ca_pem, size_t ca_len);
void	sts_shutdown(void);

/*
 * The policy for domain (lowercase).  cb runs later on the loop, never
 * from inside this call; the result is valid during cb only.
 */
void	sts_lookup(const char *domain,
	    void (*cb)(const struct sts_result *, void *), void *arg);

#endif
