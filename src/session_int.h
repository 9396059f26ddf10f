/*
 * session_int.h - what the three parts of the SMTP server share: the
 * session and its state, and the few calls that cross between them.
 *
 *   session.c       the connection: I/O, TLS, timeouts, the command table,
 *                   EHLO, STARTTLS, MAIL, RCPT, RSET, shutdown
 *   session_auth.c  AUTH: SASL steps on the auth pool, the lock-out budget,
 *                   the tarpit
 *   session_data.c  DATA: the byte reader, header rewriting, the spool file
 *                   and the commit behind "250 queued"
 *
 * Private to those three files.  A session lives on one loop thread; none
 * of these functions may be called from another.
 */
#ifndef SUBMITD_SESSION_INT_H
#define SUBMITD_SESSION_INT_H

#include <sys/queue.h>
#include <stddef.h>
#include <time.h>

#include <event2/bufferevent.h>

#include "auth.h"
#include "dkim.h"
#include "journal.h"
#include "log.h"
#include "message.h"
#include "policy.h"
#include "server.h"
#include "smtp_parse.h"
#include "spool.h"
#include "worker.h"

#define CMD_LINE_MAX	512	/* RFC 5321 §4.5.3.1.4, with CRLF */
#define CMD_LINE_MAX_DSN (CMD_LINE_MAX + 600)	/* MAIL, RCPT: RFC 3461 §4 */
#define AUTH_LINE_MAX	12288	/* RFC 4954 §4 */

enum session_state {
	S_PROXY,	/* proxy_protocol: waiting for the PROXY header */
	S_HANDSHAKE,	/* implicit TLS: before the banner */
	S_CMD,		/* waiting for a command line */
	S_AUTH,		/* waiting for a SASL response line */
	S_DATA,		/* inside DATA */
	S_BDAT,		/* inside a BDAT chunk (RFC 3030) */
	S_BUSY,		/* a worker job or a timer runs; input waits */
	S_STARTTLS,	/* "220 Ready" is leaving; then the handshake */
	S_CLOSING,	/* last reply is leaving; then close */
};

struct session {
	TAILQ_ENTRY(session)	 entry;		/* in loop->sessions */
	struct server		*srv;
	struct loop		*loop;		/* the loop that accepted us */
	const struct config	*conf;		/* a reference, dropped at free */
	evutil_socket_t		 fd;
	struct bufferevent	*bev;
	enum session_state	 state;
	char			 id[9];
	char			 client[64];	/* numeric address */
	char			 client_key[64];	/* policy's: IPv6 by /64 */
	char			 sasl_local[80];	/* "ip;port" for SASL */
	char			 sasl_remote[80];
	const struct listen_conf *listen;
	struct event		*proxy_ev;	/* reads the PROXY header */
	unsigned char		*proxy_buf;	/* ... what came of it so far */
	size_t			 proxy_len;
	time_t			 proxy_deadline;
	int			 counted;	/* policy_connect took this client */

	int			 tls;
	char			 tls_desc[96];	/* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	unsigned int		 tls_bits;
	const char		*tls_version;	/* static strings from OpenSSL */
	const char		*tls_cipher;

	char			 cert_fp[65];	/* a client certificate's SHA-256 */
	int			 cert_verified;	/* ... signed by auth.client_ca */
	char			 cert_login[SMTP_ADDR_MAX + 1];	/* ... client_map's */

	int			 helo_seen;
	int			 esmtp;
	char			 helo[SMTP_DOMAIN_MAX + 1];

	/* AUTH (session_auth.c) */
	struct auth_conn	*auth;
	char			 login[SMTP_ADDR_MAX + 1];
	char			 mech[SMTP_MECH_MAX + 1];
	int			 authed;
	int			 auth_slot;	/* holds an attempt of client_key */
	char			 auth_user[SMTP_ADDR_MAX + 1];	/* the login named */
	int			 auth_user_slot;	/* ... and holds one of it */
	int			 auth_msgs;	/* client messages of this exchange */
	char			*auth_ir;	/* initial response kept while we wait */
	size_t			 auth_irlen;
	int			 auth_has_ir;
	struct event		*auth_wait;	/* polls for a free attempt */
	time_t			 auth_wait_until;
	int			 auth_failures;
	struct event		*tarpit;
	int			 tarpit_banned;
	const char		*auth_fail_why;
	char			 scope_why[300];	/* a scope rule that refused */

	/* The transaction (session.c, session_data.c) */
	int			 have_from;
	char			 from[SMTP_ADDR_MAX + 1];
	char			**rcpts;
	size_t			 nrcpts;
	struct spool_ext	 ext;		/* DSN, SMTPUTF8, REQUIRETLS */
	int			 bdat;		/* BDAT began this message */
	long long		 bdat_left;	/* octets of the chunk still to come */
	int			 bdat_last;	/* ... and it is the LAST one */
	const char		*bdat_refusal;	/* the chunk is read, then refused */

	struct msg_reader	 reader;
	struct spool_file	 spool;
	int			 spool_open;
	time_t			 arrival;
	struct dkim_signer	*dkim;		/* signs this message, or NULL */
	off_t			 dkim_offset;	/* where its placeholders are */
	int			 dkim_failed;
	char			*hdr;		/* the header section while it arrives */
	size_t			 hdrlen;
	int			 in_headers;
	const char		*refusal;	/* decided during DATA, told at its end */
	char			 refusal_buf[POLICY_REPLY_MAX];
	char			 policy_buf[POLICY_REPLY_MAX];
	const char		*connect_refusal;

	struct worker_job	 job;
	struct journal_req	 jreq;		/* the message's commit */
	int			 expected;	/* session_expect */
	int			 job_pending;
	int			 dead;		/* closed while a job ran: free in done */
	int			 skip_line;	/* discarding an overlong line */
	int			 errors;
	int			 messages;
	int			 stopping;	/* told to stop: 421 when free to */
	const char		*verb;		/* for refusal logs */

	/* The current job's inputs and outputs. */
	char			*auth_in;
	unsigned int		 auth_inlen;
	int			 auth_start;
	enum auth_result	 auth_result;
	const char		*auth_out;
	unsigned int		 auth_outlen;
	const char		*auth_why;
	struct timespec		 dot_time;	/* the final dot: for the metrics */
	int			 commit_rc;
	int			 commit_errno;
};

#define SESSION_OF_JOB(j) \
	WORKER_OWNER(j, struct session, job)
#define SESSION_OF_JREQ(r) \
	WORKER_OWNER(r, struct session, jreq)

/* session.c */
void	session_reply(struct session *, const char *fmt, ...) LOG_PRINTF(2, 3);
void	session_process(struct session *);
void	session_close(struct session *, const char *reason);
void	session_finish(struct session *);
void	session_free(struct session *);
void	session_expect(struct session *, int on);
void	session_set_timeout(struct session *, int seconds);
void	session_txn_reset(struct session *);
/* Back to reading commands after a job or timer (state S_CMD). */
void	session_resume(struct session *);

/* session_auth.c */
void	session_cmd_auth(struct session *, const struct smtp_cmd *);
void	session_auth_line(struct session *, const char *line, size_t len);
/* Ends an unfinished exchange (counted as a failure) and frees its state. */
void	session_auth_free(struct session *);

/* session_data.c */
void	session_cmd_data(struct session *, const struct smtp_cmd *);
void	session_cmd_bdat(struct session *, const struct smtp_cmd *);
void	session_data_input(struct session *);
void	session_bdat_input(struct session *);

#endif
