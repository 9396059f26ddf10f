/*
 * delivery_int.h - what the two parts of the outbound SMTP client share.
 *
 *   delivery.c      a job: next hop look-up, connecting, the SMTP dialogue,
 *                   AUTH, the mail transactions, streaming the body
 *   delivery_tls.c  transport security: which MX hosts MTA-STS allows, what
 *                   DANE and the route demand of each host, STARTTLS or
 *                   implicit TLS, checking the certificate, TLS-RPT counts
 *
 * Private to those two files; loop 0 only.
 */
#ifndef SUBMITD_DELIVERY_INT_H
#define SUBMITD_DELIVERY_INT_H

#include <sys/types.h>

#include <event2/bufferevent.h>
#include <event2/event_struct.h>

#include "dane.h"
#include "delivery.h"
#include "dns.h"
#include "mta_sts.h"

#define INPUT_MAX	(64 * 1024)
#define BODY_HIGH	(128 * 1024)	/* output kept filled up to this */

enum state {
	ST_RESOLVE, ST_POLICY,	/* MTA-STS, then the next hop's addresses */
	ST_TLSA,	/* the TLSA records of the host about to be tried */
	ST_CONNECT, ST_BANNER, ST_EHLO, ST_HELO, ST_STARTTLS,
	ST_TLS,		/* handshake running */
	ST_AUTH, ST_MAIL, ST_RCPT, ST_DATA,
	ST_BODY,	/* message streaming out */
	ST_DOT_WAIT,	/* all but the final dot sent: an earlier message's
			   outcome is still being written to disk */
	ST_DOT,		/* waiting for the reply to the final dot */
	ST_RSET,
	ST_QUIT_WAIT,	/* done, but the last outcome is still being written */
	ST_QUIT, ST_DONE,
};

#define EXT_STARTTLS	0x01
#define EXT_PIPELINING	0x02
#define EXT_8BITMIME	0x04
#define EXT_SIZE	0x08
#define EXT_AUTH_PLAIN	0x10
#define EXT_AUTH_LOGIN	0x20
#define EXT_DSN		0x40
#define EXT_SMTPUTF8	0x80
#define EXT_REQUIRETLS	0x100
#define EXT_CHUNKING	0x200

/* What the TLS of the connection being made must be. */
enum host_level {
	HOST_NONE,		/* clear text */
	HOST_MAY,		/* STARTTLS when offered, unchecked */
	HOST_ENCRYPT,		/* TLS required, unchecked */
	HOST_VERIFY,		/* TLS required, PKIX chain and name */
	HOST_DANE,		/* TLS required, a TLSA record must match */
};

struct client {
	struct delivery_job	*job;
	char			 id[9];
	enum state		 state;
	struct bufferevent	*bev;
	struct dns_result	 dns;
	size_t			 next;		/* the address to try next */
	const struct dns_host	*host;		/* the one we talk to */
	char			 peer[300];	/* "name[ip]" */
	char			 ip[64];
	char			 error[512];	/* why the last one failed */

	/* Transport security (delivery_tls.c) */
	int			 sts_mode;	/* enum mta_sts_mode in force */
	struct mta_sts_policy	 sts;
	char			 sts_id[MTA_STS_ID_MAX + 1];
	char			*sts_lines;	/* the policy's lines, for TLS-RPT */
	int			 mx_secure;	/* the MX answer was validated */
	enum host_level		 level;		/* for the host being tried */
	const char		*policy;	/* "dane", "mta-sts", "none" ... */
	char			 tlsa_host[256];	/* TLSA known for this name */
	struct dane_tlsa	*tlsa;
	int			 fallback;	/* clear text after a failed TLS */

	int			 ext;		/* EHLO keywords */
	int			 tls;
	int			 mail_sent;	/* no other address after this */
	int			 auth_step;

	int			 code;		/* the reply being read */
	int			 nlines;
	char			 reply[512];

	size_t			 mi;		/* the current message */
	size_t			 nrcpt;		/* its pending recipients */
	size_t			 si, ri;	/* next RCPT to send, to answer */
	size_t			 nsent, nreplied, accepted;
	int			 mail_ok;
	off_t			 off, left;	/* body still to send */
	int			 bol;
	int			 bdat;		/* BDAT LAST carries this message */
	int			 bdat_crlf;	/* ... and CRLF is added at its end */
	char			 tail[2];	/* last two body bytes */

	struct event		 done_ev;
};

extern struct event_base	*client_base;
extern struct delivery_conf	 client_conf;

/*
 * conn_fail's next_ok: before the first MAIL another address may do better
 * (CONN_NEXT); CONN_STOP when any would fail alike.
 */
#define CONN_NEXT	1
#define CONN_STOP	0

/* delivery.c */
void	delivery_conn_fail(struct client *, int next_ok, const char *event,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	delivery_set_timeouts(struct client *, int rd, int wr);
void	delivery_send_cmd(struct client *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	delivery_send_ehlo(struct client *);
/* TLS is settled for this connection: AUTH, then the transactions. */
void	delivery_after_tls(struct client *);
/* Looks up the next hop's addresses (after the MTA-STS policy). */
void	delivery_resolve(struct client *);
/* Tries the next address there is (its security first), or defers. */
void	delivery_connect(struct client *);
/* Connects to c->host, whose security is now known. */
void	delivery_connect_host(struct client *);
void	delivery_job_fail(struct client *, enum delivery_result, const char *);
void	delivery_readcb(struct bufferevent *, void *);
void	delivery_writecb(struct bufferevent *, void *);
void	delivery_eventcb(struct bufferevent *, short, void *);

/* delivery_tls.c */
/* The MTA-STS policy first, when the route looks up MX hosts. */
void	delivery_tls_policy(struct client *);
/* The MX hosts the policy allows, when the addresses are in. */
int	delivery_tls_filter(struct client *);
/* What the next host demands (may look up TLSA first), then connect. */
void	delivery_tls_host(struct client *);
/* Connected: implicit TLS starts now (1), or SMTP in clear (0). */
int	delivery_tls_implicit(struct client *);
/* After EHLO: STARTTLS, or on without it, as the host's level says. */
void	delivery_tls_ehlo_done(struct client *);
void	delivery_tls_on_starttls(struct client *);
void	delivery_tls_done(struct client *);
void	delivery_tls_fail(struct client *, short what);
void	delivery_tls_free(struct client *);

#endif
