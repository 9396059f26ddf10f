/*
 * dane.h - DANE for SMTP (RFC 7672, RFC 7671): which MX hosts DANE protects
 * and how OpenSSL checks their certificates.
 *
 * Owns: the TLSA look-up of a host and what its answer means; handing the
 * usable records to OpenSSL's SSL_dane_* API, which does the matching;
 * whether the configured resolver validates at all.  Not: connecting or
 * the SMTP dialogue (delivery.c).  Loop 0 only.
 */
#ifndef SUBMITD_DANE_H
#define SUBMITD_DANE_H

#include <openssl/ssl.h>

#include "dns.h"

enum dane_state {
	DANE_NONE,		/* no DANE for this host: other rules apply */
	DANE_ON,		/* usable TLSA records: TLS, certificate must match */
	DANE_UNUSABLE,		/* TLSA records, none usable: TLS, unauthenticated */
	DANE_FAIL,		/* the TLSA look-up failed: do not use this host */
};

struct dane_tlsa {
	enum dane_state		 state;
	size_t			 n;
	struct dns_tlsa		 records[DNS_TLSA_MAX];	/* usable ones */
	char			 error[160];
};

/*
 * What dns_probe_dnssec found at start-up: 1 when the resolver validates.
 * Without it, DANE is off (optional) or the start fails (require).
 */
void	dane_set_resolver_validates(int);
int	dane_resolver_validates(void);
/* On the loop (after dns_init): checks the resolver, warns if it does not. */
void	dane_probe(void);

/*
 * Looks up the TLSA records of host for port (_PORT._tcp.HOST) and sorts
 * the answer: cb runs on the loop, never from inside this call.
 */
void	dane_lookup(const char *host, int port,
	    void (*cb)(const struct dane_tlsa *, void *), void *arg);

/* Once on the client context: OpenSSL's DANE tables (SSL_CTX_dane_enable). */
int	dane_ctx_init(SSL_CTX *);
/*
 * Makes ssl check the peer against t's records, for the TLSA base domain
 * host (also the SNI and, for DANE-TA, the name to match).  0 or -1.
 */
int	dane_ssl_setup(SSL *, const char *host, const struct dane_tlsa *t);
/* After the handshake: did a TLSA record match?  Fills a description. */
int	dane_verified(SSL *, char *desc, size_t desclen);

#endif
