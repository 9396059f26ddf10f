/*
 * tlsrpt.h - SMTP TLS reporting (RFC 8460): counting, per recipient
 * domain and policy, the TLS sessions that worked and those that failed
 * (with the failure's type), and once a day sending each domain the
 * report its _smtp._tls TXT record asks for (JSON, gzip; by mail through
 * our own queue, or by HTTPS POST).
 *
 * Owns: the counts (memory, and spool/tlsrpt/ so that they survive
 * restarts), building and sending reports.  Needs: dns.c, https.c, the
 * queue (queue_inject).  Loop 0 only.
 */
#ifndef SUBMITD_TLSRPT_H
#define SUBMITD_TLSRPT_H

struct config;
struct evbuffer;
struct event_base;
struct worker_pool;

/* The policy a session was under (RFC 8460 §4.3 "policy"). */
struct tlsrpt_policy {
	const char	*type;		/* "sts", "tlsa" or "no-policy-found" */
	const char	*mx_host;	/* the mx pattern or host it was for */
	const char	*strings;	/* its lines, '\n'-separated, or NULL */
};

int	tlsrpt_init(struct event_base *, const struct config *);
void	tlsrpt_reload(const struct config *);
/* Writes what is counted; then stops. */
void	tlsrpt_shutdown(void);

/*
 * One session (or attempt) with mx (ip) for domain: result_type NULL when
 * TLS worked as the policy wants, else RFC 8460 §4.3's failure type
 * ("starttls-not-supported", "certificate-host-mismatch", ...).
 */
void	tlsrpt_count(const char *domain, const struct tlsrpt_policy *,
	    const char *mx, const char *ip, const char *result_type);

/* submitctl tls-report: sends what is counted now, says what it did. */
void	tlsrpt_send_now(struct evbuffer *out);

#endif
