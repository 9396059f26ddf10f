/*
 * dns_msg.h - pure reading of DNS response messages (RFC 1035 §4.1) where
 * c-ares has no parser: the header's flags (the AD bit of a validating
 * resolver, RFC 4035 §3.2.3) and TLSA records (RFC 6698 §2.1).
 *
 * Owns: bounds-checked walking of one message.  Not: sending queries or
 * deciding what a validated answer means (dns.c, dane.c).
 */
#ifndef SUBMITD_DNS_MSG_H
#define SUBMITD_DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_TLSA_MAX		8	/* records kept per answer */
#define DNS_TLSA_DATA_MAX	2048	/* association data kept (a full
					   certificate may be larger: unusable) */

struct dns_msg_info {
	int		 ad;		/* authenticated data (validated) */
	int		 tc;		/* truncated */
	int		 rcode;
	unsigned	 ancount;
};

struct dns_tlsa {
	uint8_t		 usage;		/* RFC 7218: 2 DANE-TA, 3 DANE-EE */
	uint8_t		 selector;	/* 0 Cert, 1 SPKI */
	uint8_t		 mtype;		/* 0 Full, 1 SHA2-256, 2 SHA2-512 */
	size_t		 len;
	uint8_t		 data[DNS_TLSA_DATA_MAX];
};

/* The header of a response.  0, or -1 when it is no DNS response. */
int	dns_msg_header(const unsigned char *msg, size_t len,
	    struct dns_msg_info *info);

/*
 * The TLSA records of the answer section (any owner: CNAMEs are followed
 * by the resolver), at most max of them.  Records whose data does not fit
 * are skipped.  Returns how many, or -1 when the message is malformed.
 */
int	dns_msg_tlsa(const unsigned char *msg, size_t len, struct dns_tlsa *out,
	    size_t max);

#endif
