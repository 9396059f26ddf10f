/*
 * dane.c - DANE TLSA for SMTP delivery (RFC 7672).
 *
 * A TLSA answer is believed only when the validating resolver vouched for
 * it (the AD bit, dns.c).  Of the records, SMTP uses DANE-TA(2) and
 * DANE-EE(3) with selector Cert(0) or SPKI(1) and matching type Full(0),
 * SHA2-256(1) or SHA2-512(2) (RFC 7672 §3.1); PKIX-TA(0) and PKIX-EE(1)
 * are unusable for SMTP.  Then (RFC 7672 §2.2):
 *
 *   secure, usable records     TLS is required, a record must match
 *   secure, none usable        TLS is required, not authenticated
 *   secure denial, insecure    no DANE for this host
 *   look-up failed (bogus...)  this host is not used: an attacker who can
 *                              break the answer must not strip TLS
 *
 * OpenSSL does the matching (SSL_dane_tlsa_add): DANE-EE without name
 * checks (RFC 7672 §3.1.1), DANE-TA with the TLSA base domain as the name
 * (§3.2.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "dane.h"
#include "log.h"
#include "util/xalloc.h"

static int resolver_validates;

struct dane_query {
	void	(*cb)(const struct dane_tlsa *, void *);
	void	*arg;
};

void
dane_set_resolver_validates(int yes)
{
	resolver_validates = yes;
}

int
dane_resolver_validates(void)
{
	return resolver_validates;
}

static void
probe_done(int result, const char *why, void *arg)
{
	if (result == 1) {
		log_info("event=dane resolver=validating");
		return;
	}
	resolver_validates = 0;
	log_warnx("event=start key=relay.dane error=%s action=\"DANE off until "
	    "a restart finds a validating resolver\"", log_str(why));
}

void
dane_probe(void)
{
	if (resolver_validates)
		dns_probe_dnssec_async(probe_done, NULL);
}

static int
usable(const struct dns_tlsa *r)
{
	size_t want;

	if (r->usage != 2 && r->usage != 3)
		return 0;		/* PKIX-TA/EE: not for SMTP */
	if (r->selector > 1)
		return 0;
	switch (r->mtype) {
	case 0:
		return r->len > 0;
	case 1:
		want = 32;
		break;
	case 2:
		want = 64;
		break;
	default:
		return 0;
	}
	return r->len == want;
}

static void
tlsa_done(const struct dns_tlsa_result *res, void *arg)
{
	struct dane_query *q = arg;
	struct dane_tlsa t;
	size_t i;

	memset(&t, 0, sizeof(t));
	switch (res->status) {
	case DNS_OK:
		if (!res->secure) {
			t.state = DANE_NONE;	/* unsigned: as if none */
			break;
		}
		for (i = 0; i < res->n; i++)
			if (usable(&res->records[i]))
				t.records[t.n++] = res->records[i];
		t.state = t.n > 0 ? DANE_ON : DANE_UNUSABLE;
		break;
	case DNS_NOTFOUND:
		/* Authenticated denial, or an insecure one: no DANE either way. */
		t.state = DANE_NONE;
		break;
	default:
		t.state = DANE_FAIL;
		snprintf(t.error, sizeof(t.error), "TLSA lookup failed: %s",
		    res->error);
		break;
	}
	q->cb(&t, q->arg);
	free(q);
}

void
dane_lookup(const char *host, int port,
    void (*cb)(const struct dane_tlsa *, void *), void *arg)
{
	struct dane_query *q = xcalloc(1, sizeof(*q));
	char name[300];

	q->cb = cb;
	q->arg = arg;
	snprintf(name, sizeof(name), "_%d._tcp.%s", port, host);
	dns_tlsa(name, tlsa_done, q);
}

int
dane_ctx_init(SSL_CTX *ctx)
{
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		log_errx("event=tls-init error=\"OpenSSL cannot do DANE\"");
		return -1;
	}
	return 0;
}

int
dane_ssl_setup(SSL *ssl, const char *host, const struct dane_tlsa *t)
{
	size_t i;
	int added = 0;

	if (SSL_dane_enable(ssl, host) <= 0)
		return -1;
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	for (i = 0; i < t->n; i++)
		if (SSL_dane_tlsa_add(ssl, t->records[i].usage,
		    t->records[i].selector, t->records[i].mtype,
		    t->records[i].data, t->records[i].len) > 0)
			added++;
	ERR_clear_error();
	if (added == 0)
		return -1;
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return 0;
}

int
dane_verified(SSL *ssl, char *desc, size_t desclen)
{
	uint8_t usage, selector, mtype;
	const unsigned char *data;
	size_t dlen;
	int depth;

	if (SSL_get_verify_result(ssl) != X509_V_OK ||
	    (depth = SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data,
	    &dlen)) < 0) {
		snprintf(desc, desclen, "no TLSA record matched");
		return 0;
	}
	snprintf(desc, desclen, "TLSA %u %u %u matched at depth %d", usage,
	    selector, mtype, depth);
	return 1;
}
