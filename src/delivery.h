/*
 * delivery.h - the outbound SMTP client (RFC 5321, 3207, 4954).
 *
 * Owns: one delivery job: resolve the next hop, connect (trying each
 * address in turn), EHLO, STARTTLS as the route's TLS level demands, AUTH
 * to a smarthost, then for each message MAIL, RCPT, DATA over the same
 * connection, and the per-recipient outcome.  What a message came with
 * travels on: DSN parameters to a next hop that offers DSN (RFC 3461 §5.2),
 * SMTPUTF8 (a message that needs it goes nowhere else: 5.6.7, RFC 6531
 * §3.4) and REQUIRETLS (only over verified TLS to a next hop that offers
 * it, else 5.7.10, RFC 8689 §4.2).  Not: what to deliver when,
 * retries or bounces (queue.c), nor reading the spool's envelope.
 */
#ifndef SUBMITD_DELIVERY_H
#define SUBMITD_DELIVERY_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct client;
struct event_base;

enum tls_level {
	TLS_LEVEL_NONE,		/* never STARTTLS */
	TLS_LEVEL_MAY,		/* STARTTLS when offered; clear otherwise */
	TLS_LEVEL_ENCRYPT,	/* TLS required, certificate not checked */
	TLS_LEVEL_VERIFY,	/* TLS required, chain and name verified */
	TLS_LEVEL_DANE,		/* a route: TLS required, the host's TLSA match */
};

struct delivery_route {
	char			 host[256];	/* name or IP literal, without [] */
	int			 port;
	int			 mx;		/* look up MX records for host */
	int			 configured;	/* host named by the configuration:
						   DNS failures defer, never bounce */
	enum tls_level		 tls;
	const char		*username;	/* AUTH to a smarthost, or NULL */
	const char		*password;
	const void		*ca_store;	/* X509_STORE for verify, or NULL */
	int			 implicit;	/* TLS from the first byte (465) */
	/* MX delivery (relay without smarthost) only: */
	int			 mta_sts;	/* enum policy_level (config.h) */
	int			 dane;		/* enum policy_level */
	int			 fallback;	/* in the clear-text window after a
						   failed handshake (level may) */
	int			 tls_rpt;	/* count sessions for TLS-RPT */
	int			 tls_optional;	/* "TLS-Required: No": MTA-STS and
						   DANE ignored (RFC 8689 §5) */
};

enum delivery_result {
	DELIVERY_PENDING = 0,
	DELIVERY_OK,		/* 2xx to the final dot */
	DELIVERY_TEMPFAIL,	/* try again later */
	DELIVERY_PERMFAIL,	/* bounce */
};

struct delivery_rcpt {
	const char		*addr;
	unsigned		 notify;	/* SMTP_NOTIFY_*, 0 when not given */
	const char		*orcpt;		/* ORCPT as given, or NULL */
	int			 relayed;	/* sent to a hop without DSN */
	enum delivery_result	 result;
	char			 reply[256];	/* the remote reply, or our reason */
	const char		*policy;	/* what secured it (static string) */
	int			 verified;	/* the peer's certificate */
};

struct delivery_msg {
	const char		*id;
	const char		*from;		/* "" for the null sender */
	const char		*dkim;		/* selectors that signed it, or "none" */
	int			 fd;		/* the queue file; the client reads it */
	off_t			 body_offset;	/* where the message starts */
	off_t			 body_size;
	unsigned		 ext;		/* SPOOL_EXT_* */
	int			 ret;		/* enum smtp_ret */
	const char		*envid;		/* ENVID as given, or NULL */
	struct delivery_rcpt	*rcpts;
	size_t			 nrcpts;
};

struct delivery_job {
	struct delivery_route	 route;
	struct delivery_msg	**msgs;
	size_t			 nmsgs;
	/* Filled in by the client: */
	char			 relay[300];	/* "name[ip]:port" of the last hop tried */
	char			 tls[96];	/* "TLSv1.3 TLS_AES_..." or "none" */
	int			 tls_verified;
	int			 tls_failed;	/* a STARTTLS handshake failed (level may) */
	const char		*policy;	/* "none", "mta-sts enforce", "dane" ... */
	/* Called once, on the loop, when every message has a result per rcpt. */
	void			(*done)(struct delivery_job *, void *arg);
	/*
	 * Called on the loop as soon as the next hop has accepted msg (its
	 * recipients have their results).  The client sends the final dot of
	 * any later message only after delivery_recorded() has been called
	 * once for each such call: the queue says the outcome is on disk.
	 */
	void			(*msg_done)(struct delivery_job *,
				    struct delivery_msg *, void *arg);
	void			*arg;
	int			 unrecorded;	/* private */
	struct client		*client;	/* private */
};

struct delivery_conf {
	const char		*hostname;	/* our EHLO name */
	int			 connect_timeout;
	int			 command_timeout;
	int			 data_timeout;	/* the reply to the final dot */
	SSL_CTX			*ssl_ctx;	/* client context from tls.c */
};

void	delivery_init(struct event_base *, const struct delivery_conf *);
/* Starts the job; done runs later, never from inside this call. */
void	delivery_start(struct delivery_job *);
/* An outcome msg_done reported is on disk (the queue, once per msg_done). */
void	delivery_recorded(struct delivery_job *);

#endif
