/*
 * delivery_tls.c - transport security of the outbound SMTP client.
 *
 * For a delivery to a domain's MX hosts (relay without smarthost):
 *
 *  1. MTA-STS (RFC 8461, sts.c): with a policy in mode enforce, only the
 *     MX hosts its mx patterns name are used, each only over TLS with a
 *     certificate valid for that name (PKIX, relay.ca_file or the
 *     system's CAs); otherwise the mail waits.  Mode testing delivers as
 *     before and reports what would have failed.
 *  2. DANE (RFC 7672, dane.c), when the resolver validates and the MX
 *     records and the host's addresses were validated: usable TLSA
 *     records make TLS mandatory and the certificate must match one;
 *     DANE takes precedence over MTA-STS for that host (RFC 8461 §2).
 *  3. Otherwise the route's own level (none, may, encrypt, verify).
 *
 * A failed handshake at "may" sends the next attempts of that next hop to
 * clear text for relay.tls_fallback seconds, unless the domain has a
 * policy (MTA-STS or DANE): such a domain is never sent in clear because
 * TLS failed.  Configured next hops keep their route's level ("dane" makes
 * a route need its host's TLSA records); "smtps://" ones start TLS at once.
 *
 * Each session's outcome is counted for TLS-RPT (tlsrpt.c) when enabled.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "dane.h"
#include "delivery_int.h"
#include "log.h"
#include "sts.h"
#include "tlsrpt.h"
#include "util/xalloc.h"

static int
mx_delivery(const struct delivery_route *rt)
{
	return rt->mx && !rt->configured;
}

static int
is_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1;
}

void
delivery_tls_free(struct client *c)
{
	free(c->sts_lines);
	c->sts_lines = NULL;
	free(c->tlsa);
	c->tlsa = NULL;
}

/* ---- TLS-RPT ---- */

/* TLSA records as RFC 8460 §4.4 shows them: "3 1 1 <hex>". */
static char *
tlsa_lines(const struct dane_tlsa *t)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, k, cap = 1, n = 0;
	char *s;

	for (i = 0; i < t->n; i++)
		cap += 16 + 2 * t->records[i].len;
	s = xcalloc(1, cap);
	for (i = 0; i < t->n; i++) {
		n += snprintf(s + n, cap - n, "%s%u %u %u ", i ? "\n" : "",
		    t->records[i].usage, t->records[i].selector, t->records[i].mtype);
		for (k = 0; k < t->records[i].len; k++) {
			s[n++] = hex[t->records[i].data[k] >> 4];
			s[n++] = hex[t->records[i].data[k] & 15];
		}
		s[n] = '\0';
	}
	return s;
}

/* One session's outcome for the domain's report (NULL: it worked). */
static void
rpt(struct client *c, const char *result_type)
{
	const struct delivery_route *rt = &c->job->route;
	const char *mx = c->host != NULL ? c->host->name : "";
	struct tlsrpt_policy p;
	char *lines = NULL;
	size_t i;

	if (!rt->tls_rpt || !mx_delivery(rt))
		return;
	memset(&p, 0, sizeof(p));
	if (c->level == HOST_DANE || (c->tlsa != NULL && c->tlsa->state ==
	    DANE_ON && strcmp(c->tlsa_host, mx) == 0)) {
		p.type = "tlsa";
		p.mx_host = mx;
		p.strings = lines = tlsa_lines(c->tlsa);
	} else if (c->sts_mode != MTA_STS_NONE) {
		p.type = "sts";
		/* RFC 8460 §4.4: the pattern this host matched. */
		p.mx_host = c->sts.nmx > 0 ? c->sts.mx[0] : "";
		for (i = 0; i < c->sts.nmx; i++)
			if (mta_sts_pattern_match(c->sts.mx[i], mx)) {
				p.mx_host = c->sts.mx[i];
				break;
			}
		p.strings = c->sts_lines;
	} else {
		p.type = "no-policy-found";
		p.mx_host = mx;
	}
	tlsrpt_count(rt->host, &p, mx, c->ip, result_type);
	free(lines);
}

/* RFC 8460 §4.3.2.3: what a certificate check's failure is called. */
static const char *
verify_type(long v)
{
	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate-expired";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_CERT_UNTRUSTED:
		return "certificate-not-trusted";
	default:
		return "validation-failure";
	}
}

/* ---- MTA-STS, before the MX look-up ---- */

/* The policy's lines as RFC 8460 §4.4 wants them in a report. */
static char *
sts_lines(const struct mta_sts_policy *p)
{
	size_t i, cap = 128 + p->nmx * 264, n;
	char *s = xcalloc(1, cap);

	n = snprintf(s, cap, "version: STSv1\nmode: %s\n",
	    p->mode == MTA_STS_ENFORCE ? "enforce" : p->mode == MTA_STS_TESTING ?
	    "testing" : "none");
	for (i = 0; i < p->nmx; i++)
		n += snprintf(s + n, cap - n, "mx: %s\n", p->mx[i]);
	snprintf(s + n, cap - n, "max_age: %ld", p->max_age);
	return s;
}

static void
sts_done(const struct sts_result *r, void *arg)
{
	struct client *c = arg;
	const struct delivery_route *rt = &c->job->route;
	char why[640];

	c->sts_mode = MTA_STS_NONE;
	if (r->status == STS_POLICY) {
		c->sts_mode = r->policy.mode;
		c->sts = r->policy;
		snprintf(c->sts_id, sizeof(c->sts_id), "%s", r->id);
		c->sts_lines = sts_lines(&r->policy);
	} else if (r->status == STS_FAILED && rt->tls_rpt) {
		struct tlsrpt_policy p = { "sts", "", NULL };

		tlsrpt_count(rt->host, &p, "", "", strstr(r->error, "invalid") ?
		    "sts-policy-invalid" : strstr(r->error, "certificate") ?
		    "sts-webpki-invalid" : "sts-policy-fetch-error");
	}
	if (rt->mta_sts == POLICY_REQUIRE && c->sts_mode == MTA_STS_NONE) {
		snprintf(why, sizeof(why), "4.7.5 no MTA-STS policy for %s, and "
		    "relay.mta_sts = require%s%s", rt->host, r->error[0] ? ": " : "",
		    r->error);
		delivery_job_fail(c, DELIVERY_TEMPFAIL, why);
		return;
	}
	delivery_resolve(c);
}

void
delivery_tls_policy(struct client *c)
{
	const struct delivery_route *rt = &c->job->route;

	if (mx_delivery(rt) && rt->mta_sts != POLICY_DISABLE) {
		c->state = ST_POLICY;
		sts_lookup(rt->host, sts_done, c);
		return;
	}
	delivery_resolve(c);
}

int
delivery_tls_filter(struct client *c)
{
	const struct delivery_route *rt = &c->job->route;
	struct dns_result *res = &c->dns;
	size_t i, n = 0;
	char why[600];

	if (mx_delivery(rt) && rt->dane == POLICY_REQUIRE &&
	    !(dane_resolver_validates() && c->mx_secure)) {
		snprintf(why, sizeof(why), "4.7.5 the MX records of %s are not "
		    "DNSSEC-validated, and relay.dane = require", rt->host);
		if (rt->tls_rpt) {
			struct tlsrpt_policy p = { "no-policy-found", "", NULL };

			tlsrpt_count(rt->host, &p, "", "", "dane-required");
		}
		delivery_job_fail(c, DELIVERY_TEMPFAIL, why);
		return -1;
	}
	if (c->sts_mode == MTA_STS_NONE)
		return 0;
	/* RFC 8461 §4.1: only the MX hosts the policy names. */
	for (i = 0; i < res->nhosts; i++) {
		if (mta_sts_mx_match(&c->sts, res->hosts[i].name))
			res->hosts[n++] = res->hosts[i];
		else if (c->sts_mode == MTA_STS_ENFORCE || n == 0)
			log_info("delivery=%s domain=%s mx=%s policy=mta-sts-%s id=%s "
			    "result=%s reason=\"not in the policy's mx patterns\"",
			    c->id, log_str(rt->host), log_str(res->hosts[i].name),
			    c->sts_mode == MTA_STS_ENFORCE ? "enforce" : "testing",
			    c->sts_id, c->sts_mode == MTA_STS_ENFORCE ? "skipped" :
			    "used-anyway");
	}
	if (c->sts_mode == MTA_STS_TESTING) {
		if (n < res->nhosts && rt->tls_rpt) {
			struct tlsrpt_policy p = { "sts", c->sts.mx[0], c->sts_lines };

			tlsrpt_count(rt->host, &p, res->hosts[n].name, "",
			    "validation-failure");
		}
		return 0;	/* testing: every MX host as before */
	}
	res->nhosts = n;
	if (n > 0)
		return 0;
	c->job->policy = "mta-sts-enforce";
	snprintf(why, sizeof(why), "4.7.5 MTA-STS policy of %s (id %s, mode "
	    "enforce): no MX host matches its mx patterns", rt->host, c->sts_id);
	if (rt->tls_rpt) {
		struct tlsrpt_policy p = { "sts", c->sts.mx[0], c->sts_lines };

		tlsrpt_count(rt->host, &p, "", "", "validation-failure");
	}
	delivery_job_fail(c, DELIVERY_TEMPFAIL, why);
	return -1;
}

/* ---- what the next host demands ---- */

/* This host cannot be used now; the next may. */
static void
host_skip(struct client *c, const char *result_type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
host_skip(struct client *c, const char *result_type, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->job->policy = "dane";	/* every skip is DANE's */
	log_info("delivery=%s relay=%s event=tls-policy error=%s action=%s",
	    c->id, log_str(c->job->relay), log_str(c->error),
	    c->next < c->dns.nhosts ? "next-host" : "defer");
	if (result_type != NULL)
		rpt(c, result_type);
	delivery_connect(c);
}

/* Without DANE for this host: MTA-STS, else the route's level. */
static void
host_level(struct client *c)
{
	const struct delivery_route *rt = &c->job->route;

	c->fallback = 0;
	if (c->sts_mode == MTA_STS_ENFORCE) {
		c->level = HOST_VERIFY;
		c->policy = "mta-sts-enforce";
	} else {
		switch (rt->tls) {
		case TLS_LEVEL_NONE:
			c->level = HOST_NONE;
			break;
		case TLS_LEVEL_ENCRYPT:
			c->level = HOST_ENCRYPT;
			break;
		case TLS_LEVEL_VERIFY:
			c->level = HOST_VERIFY;
			break;
		default:
			c->level = HOST_MAY;
			break;
		}
		c->policy = rt->tls_optional ? "tls-required-no" :
		    c->sts_mode == MTA_STS_TESTING ? "mta-sts-testing" : "none";
		/*
		 * The clear-text window after a failed handshake, for a
		 * domain without a policy only.
		 */
		if (c->level == HOST_MAY && rt->fallback &&
		    c->sts_mode == MTA_STS_NONE) {
			c->level = HOST_NONE;
			c->fallback = 1;
			c->policy = "clear-text-fallback";
		}
	}
	delivery_connect_host(c);
}

static void
tlsa_apply(struct client *c, int required)
{
	const struct dane_tlsa *t = c->tlsa;

	switch (t->state) {
	case DANE_ON:
		c->level = HOST_DANE;
		c->policy = "dane";
		c->fallback = 0;
		delivery_connect_host(c);
		return;
	case DANE_UNUSABLE:
		/* RFC 7672 §2.2: TLS still, though it cannot be checked. */
		c->level = HOST_ENCRYPT;
		c->policy = "dane-unusable";
		c->fallback = 0;
		delivery_connect_host(c);
		return;
	case DANE_FAIL:
		host_skip(c, "dnssec-invalid", "4.7.5 %s: %s", c->host->name,
		    t->error);
		return;
	case DANE_NONE:
		if (required) {
			host_skip(c, "dane-required", "4.7.5 DANE required but %s "
			    "has no TLSA records validated by DNSSEC", c->host->name);
			return;
		}
		host_level(c);
		return;
	}
}

struct tlsa_wait {
	struct client	*c;
	int		 required;
};

static void
tlsa_done(const struct dane_tlsa *t, void *arg)
{
	struct tlsa_wait *w = arg;
	struct client *c = w->c;
	int required = w->required;

	free(w);
	if (c->tlsa == NULL)
		c->tlsa = xcalloc(1, sizeof(*c->tlsa));
	*c->tlsa = *t;
	snprintf(c->tlsa_host, sizeof(c->tlsa_host), "%s", c->host->name);
	tlsa_apply(c, required);
}

void
delivery_tls_host(struct client *c)
{
	const struct delivery_route *rt = &c->job->route;
	const struct dns_host *h = c->host;
	struct tlsa_wait *w;
	int want = 0, required = 0;
	char ip[INET6_ADDRSTRLEN];

	if (getnameinfo((const struct sockaddr *)&h->addr, h->addrlen, ip,
	    sizeof(ip), NULL, 0, NI_NUMERICHOST) == 0)
		snprintf(c->ip, sizeof(c->ip), "%s", ip);
	else
		c->ip[0] = '\0';
	if (rt->tls == TLS_LEVEL_DANE) {
		want = required = 1;	/* a route that demands DANE */
	} else if (mx_delivery(rt) && rt->dane != POLICY_DISABLE &&
	    dane_resolver_validates() && c->mx_secure) {
		want = 1;
		required = rt->dane == POLICY_REQUIRE;
	}
	if (!want || is_literal(h->name)) {
		if (required) {
			host_skip(c, "dane-required", "4.7.5 DANE required but %s "
			    "is an address", h->name);
			return;
		}
		host_level(c);
		return;
	}
	/*
	 * RFC 7672 §2.2.2: TLSA records are looked up only for a host whose
	 * addresses were validated too.
	 */
	if (!h->secure || !dane_resolver_validates()) {
		if (required) {
			host_skip(c, "dane-required", "4.7.5 DANE required but the "
			    "addresses of %s are not DNSSEC-validated", h->name);
			return;
		}
		host_level(c);
		return;
	}
	if (c->tlsa != NULL && strcmp(c->tlsa_host, h->name) == 0) {
		tlsa_apply(c, required);	/* another address of the same host */
		return;
	}
	c->state = ST_TLSA;
	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->required = required;
	dane_lookup(h->name, rt->port, tlsa_done, w);
}

/* ---- the handshake ---- */

/* Puts TLS on the connection (after a 220 to STARTTLS, or at once). */
static void
tls_start(struct client *c)
{
	const struct delivery_route *rt = &c->job->route;
	const char *name = c->host->name;
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(client_conf.ssl_ctx)) == NULL) {
		delivery_conn_fail(c, CONN_STOP, "tls-failed",
		    "4.7.5 cannot create a TLS connection");
		return;
	}
	if (c->level == HOST_DANE) {
		if (dane_ssl_setup(ssl, name, c->tlsa) == -1) {
			SSL_free(ssl);
			delivery_conn_fail(c, CONN_NEXT, "tls-failed",
			    "4.7.5 cannot use the TLSA records of %s", name);
			return;
		}
		if (!is_literal(name))
			SSL_set_tlsext_host_name(ssl, name);	/* RFC 7672 §8.1 */
	} else {
		if (is_literal(name))
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
		else {
			SSL_set_tlsext_host_name(ssl, name);	/* RFC 6066 §3 */
			SSL_set1_host(ssl, name);
		}
		/*
		 * The name and chain are checked always (and reported, for
		 * MTA-STS testing), enforced only at level verify.
		 */
		SSL_set_verify(ssl, c->level == HOST_VERIFY ? SSL_VERIFY_PEER :
		    SSL_VERIFY_NONE, NULL);
		if (rt->ca_store != NULL)
			SSL_set1_verify_cert_store(ssl, (X509_STORE *)rt->ca_store);
	}
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	/* Else the filter moves all we write into the socket's buffer at once. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, BODY_HIGH);
	bev = bufferevent_openssl_filter_new(client_base, c->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		/* libevent may have freed both: rather leak than free twice. */
		c->bev = NULL;
		delivery_conn_fail(c, CONN_STOP, "tls-failed",
		    "4.7.5 cannot create a TLS connection");
		return;
	}
	c->bev = bev;
	c->state = ST_TLS;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, delivery_readcb, delivery_writecb,
	    delivery_eventcb, c);
	bufferevent_setwatermark(bev, EV_READ, 0, INPUT_MAX);
	delivery_set_timeouts(c, client_conf.command_timeout,
	    client_conf.command_timeout);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int
delivery_tls_implicit(struct client *c)
{
	if (!c->job->route.implicit)
		return 0;
	if (c->level == HOST_NONE || c->level == HOST_MAY)
		c->level = HOST_ENCRYPT;	/* TLS it is, from the first byte */
	tls_start(c);
	return 1;
}

void
delivery_tls_done(struct client *c)
{
	struct delivery_job *job = c->job;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	long v = SSL_get_verify_result(ssl);
	char dane_desc[96] = "";

	c->tls = 1;
	if (c->level == HOST_DANE)
		job->tls_verified = dane_verified(ssl, dane_desc, sizeof(dane_desc));
	else
		job->tls_verified = SSL_get0_peer_certificate(ssl) != NULL &&
		    v == X509_V_OK;
	job->policy = c->policy;
	snprintf(job->tls, sizeof(job->tls), "%s %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	log_info("delivery=%s relay=%s event=tls tls=%s verified=%s policy=%s%s%s",
	    c->id, log_str(job->relay), log_str(job->tls),
	    job->tls_verified ? "yes" : "no", c->policy,
	    dane_desc[0] ? " dane=" : "", dane_desc[0] ? log_str(dane_desc) : "");
	if ((c->level == HOST_VERIFY || c->level == HOST_DANE) &&
	    !job->tls_verified) {
		rpt(c, c->level == HOST_DANE ? "validation-failure" : verify_type(v));
		delivery_conn_fail(c, CONN_NEXT, "tls-failed",
		    "4.7.5 TLS certificate of %s not verified (%s%s%s)", c->peer,
		    c->policy, dane_desc[0] ? ": " : "", dane_desc);
		return;
	}
	/* MTA-STS testing: what enforce would have refused is reported. */
	rpt(c, c->sts_mode == MTA_STS_TESTING && !job->tls_verified ?
	    verify_type(v) : NULL);
	if (c->job->route.implicit && c->ext == 0 && c->state == ST_TLS) {
		c->state = ST_BANNER;	/* RFC 8314 §3: the greeting, over TLS */
		delivery_set_timeouts(c, client_conf.command_timeout,
		    client_conf.command_timeout);
		return;
	}
	delivery_send_ehlo(c);	/* RFC 3207 §4.2: forget all we learnt before TLS */
}

void
delivery_tls_fail(struct client *c, short what)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e, first = 0;
	char err[160];

	if ((c->level == HOST_VERIFY || c->level == HOST_DANE) && v != X509_V_OK) {
		rpt(c, c->level == HOST_DANE ? "validation-failure" : verify_type(v));
		delivery_conn_fail(c, CONN_NEXT, "tls-failed",
		    "4.7.5 TLS certificate verification failed for %s (%s): %s",
		    c->peer, c->policy, X509_verify_cert_error_string(v));
		return;
	}
	/*
	 * libevent keeps SSL_get_error()'s code first, then the error queue;
	 * it pops them last first.  The earliest queued error says most.
	 */
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		if (ERR_GET_LIB(e) != 0)
			first = e;
	if (first != 0)
		ERR_error_string_n(first, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", what & BEV_EVENT_TIMEOUT ?
		    "timed out" : "connection closed");
	rpt(c, "validation-failure");
	if (c->level != HOST_MAY || c->sts_mode != MTA_STS_NONE) {
		/* Required TLS, or a domain with a policy: never clear text. */
		delivery_conn_fail(c, CONN_NEXT, "tls-failed",
		    "4.7.5 TLS handshake with %s failed (%s): %s", c->peer,
		    c->policy, err);
		return;
	}
	/* The queue retries in clear (relay.tls_fallback); every try here fails alike. */
	c->job->tls_failed = 1;
	delivery_conn_fail(c, CONN_STOP, "tls-failed",
	    "4.7.5 TLS handshake with %s failed: %s (will retry without TLS)",
	    c->peer, err);
}

/* ---- STARTTLS ---- */

/* The host offers no TLS (or refused it): on in clear only at "may". */
static void
no_tls(struct client *c, const char *how, const char *reply)
{
	int own = strcmp(c->policy, "none") != 0;

	rpt(c, "starttls-not-supported");
	if (c->level != HOST_MAY) {
		delivery_conn_fail(c, CONN_NEXT, "tls-required",
		    "4.7.5 TLS required%s%s%s but %s by %s%s%s", own ? " (" : "",
		    own ? c->policy : "", own ? ")" : "", how, c->peer,
		    reply ? ": " : "", reply ? reply : "");
		return;
	}
	c->job->policy = c->policy;
	log_info("delivery=%s relay=%s tls=none reason=%s policy=%s%s%s", c->id,
	    log_str(c->job->relay), reply ? "starttls-refused" : "not-offered",
	    c->policy, reply ? " reply=" : "", reply ? log_str(reply) : "");
	delivery_after_tls(c);
}

void
delivery_tls_ehlo_done(struct client *c)
{
	if (c->tls || c->level == HOST_NONE) {
		if (!c->tls) {
			c->job->policy = c->policy;
			if (c->fallback)
				log_info("delivery=%s relay=%s tls=none "
				    "reason=clear-text-fallback", c->id,
				    log_str(c->job->relay));
		}
		delivery_after_tls(c);
		return;
	}
	if (c->ext & EXT_STARTTLS) {
		delivery_send_cmd(c, "STARTTLS");
		c->state = ST_STARTTLS;
		return;
	}
	no_tls(c, "not offered", NULL);
}

void
delivery_tls_on_starttls(struct client *c)
{
	/* RFC 3207 §6 (and CVE-2011-0411): nothing may be read past the 220. */
	if (c->code == 220) {
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
			delivery_conn_fail(c, CONN_NEXT, "tls-failed",
			    "4.7.5 %s sent data after its STARTTLS reply", c->peer);
			return;
		}
		tls_start(c);
		return;
	}
	no_tls(c, "STARTTLS refused", c->reply);
}
