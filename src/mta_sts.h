/*
 * mta_sts.h - pure parsing for MTA-STS (RFC 8461) and TLS-RPT (RFC 8460):
 * the policy file, the _mta-sts and _smtp._tls TXT records, and matching
 * an MX host name against a policy's mx patterns.
 *
 * Owns: turning bytes fetched from the network into checked values.  Not:
 * fetching (https.c), caching or deciding what a delivery does
 * (delivery_tls.c).  Every function takes a byte range that may hold any
 * byte, never reads outside it, and allocates nothing.
 */
#ifndef SUBMITD_MTA_STS_H
#define SUBMITD_MTA_STS_H

#include <stddef.h>

#define MTA_STS_POLICY_MAX	65536	/* octets, RFC 8461 §3.3 */
#define MTA_STS_MX_MAX		16	/* mx patterns kept */
#define MTA_STS_ID_MAX		32	/* RFC 8461 §3.1: 1*32(ALPHA / DIGIT) */
#define MTA_STS_MAX_AGE_MAX	31557600	/* seconds, RFC 8461 §3.2 */
#define TLSRPT_RUA_MAX		4	/* rua URIs kept */

enum mta_sts_mode {
	MTA_STS_NONE = 0,	/* RFC 8461 §5: as if there were no policy */
	MTA_STS_TESTING,
	MTA_STS_ENFORCE,
};

struct mta_sts_policy {
	enum mta_sts_mode	 mode;
	long			 max_age;	/* seconds */
	size_t			 nmx;
	char			 mx[MTA_STS_MX_MAX][256];	/* lowercased */
};

/*
 * The policy file (RFC 8461 §3.2): "key: value" lines ending CRLF or LF;
 * version must be STSv1 and come first, mode and max_age are required,
 * mx is required unless mode is none; unknown keys are ignored.  0, or -1
 * with a reason in *why (a static string).
 */
int	mta_sts_parse_policy(const char *buf, size_t len,
	    struct mta_sts_policy *p, const char **why);

/*
 * The TXT records of _mta-sts.DOMAIN (RFC 8461 §3.1), each as given (the
 * strings of one record already concatenated): exactly one must start
 * with "v=STSv1"; its id goes to id (MTA_STS_ID_MAX + 1).  1 when found,
 * 0 when there is none (or several, which RFC 8461 treats as none), -1
 * when the one found is malformed.
 */
int	mta_sts_parse_txt(const char *const *txt, const size_t *lens, size_t n,
	    char *id);

/*
 * Does the MX host name match one of the policy's patterns?  A pattern is
 * a name, or "*." and a name standing for exactly one more label (RFC
 * 8461 §4.1).  Case-insensitive; a trailing dot on host is ignored.
 */
int	mta_sts_mx_match(const struct mta_sts_policy *p, const char *host);
/* The same for one pattern. */
int	mta_sts_pattern_match(const char *pattern, const char *host);

struct tlsrpt_record {
	size_t			 nrua;
	char			 rua[TLSRPT_RUA_MAX][512];	/* mailto: or https: */
};

/*
 * The TXT records of _smtp._tls.DOMAIN (RFC 8460 §3): exactly one starting
 * "v=TLSRPTv1"; its rua= list of mailto: and https: URIs (others are
 * ignored).  1 when found with at least one usable URI, 0 when none, -1
 * when malformed.
 */
int	tlsrpt_parse_txt(const char *const *txt, const size_t *lens, size_t n,
	    struct tlsrpt_record *r);

#endif
