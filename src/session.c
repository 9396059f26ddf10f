/*
 * session.c - the SMTP server state machine.
 *
 * Input is handled one complete line at a time, in order, so PIPELINING
 * (RFC 2920) needs nothing special: replies are appended to the output
 * buffer and leave in one write when the input runs dry.  Work that may
 * block (SASL steps, the fsync behind "250 queued") goes to a worker pool;
 * while it runs the session reads nothing, so replies stay in order.
 *
 * Not here: parsing (smtp_parse.c), the DATA byte rules (message.c), what a
 * login may do (policy), how queue files look (spool.c).
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "auth.h"
#include "config.h"
#include "headers.h"
#include "log.h"
#include "message.h"
#include "policy.h"
#include "queue.h"
#include "session.h"
#include "smtp_parse.h"
#include "spool.h"
#include "worker.h"

#define CMD_LINE_MAX	512	/* RFC 5321 §4.5.3.1.4, with CRLF */
#define AUTH_LINE_MAX	12288	/* RFC 4954 §4 */
#define INPUT_MAX	(64 * 1024)	/* read no further while this much waits */
#define OUTPUT_MAX	(64 * 1024)	/* stop reading while replies pile up */
#define DATA_CHUNK	16384

enum state {
	S_HANDSHAKE,	/* implicit TLS: before the banner */
	S_CMD,		/* waiting for a command line */
	S_AUTH,		/* waiting for a SASL response line */
	S_DATA,		/* inside DATA */
	S_BUSY,		/* a worker job runs; input waits */
	S_STARTTLS,	/* "220 Ready" is leaving; then the handshake */
	S_CLOSING,	/* last reply is leaving; then close */
};

struct session {
	TAILQ_ENTRY(session)	 entry;		/* in loop->sessions */
	struct server		*srv;
	struct loop		*loop;		/* the loop that accepted us */
	const struct config	*conf;
	evutil_socket_t		 fd;
	struct bufferevent	*bev;
	enum state		 state;
	char			 id[9];
	char			 client[64];	/* numeric address */
	char			 sasl_local[80];	/* "ip;port" for SASL */
	char			 sasl_remote[80];
	const struct listen_conf *listen;

	int			 tls;
	char			 tls_desc[96];	/* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
	unsigned int		 tls_bits;
	const char		*tls_version;	/* static strings from OpenSSL */
	const char		*tls_cipher;

	int			 helo_seen;
	int			 esmtp;
	char			 helo[SMTP_DOMAIN_MAX + 1];

	struct auth_conn	*auth;
	char			 login[SMTP_ADDR_MAX + 1];
	char			 mech[SMTP_MECH_MAX + 1];
	int			 authed;

	int			 have_from;
	char			 from[SMTP_ADDR_MAX + 1];
	char			**rcpts;
	size_t			 nrcpts;

	struct msg_reader	 reader;
	struct spool_file	 spool;
	int			 spool_open;
	time_t			 arrival;
	char			*hdr;		/* the header section while it arrives */
	size_t			 hdrlen;
	int			 in_headers;
	const char		*refusal;	/* decided during DATA, told at its end */
	char			 refusal_buf[POLICY_REPLY_MAX];
	char			 policy_buf[POLICY_REPLY_MAX];
	const char		*connect_refusal;
	int			 auth_failures;
	struct event		*tarpit;
	int			 tarpit_banned;

	struct worker_job	 job;
	int			 job_pending;
	int			 dead;		/* closed while a job ran: free in done */
	int			 skip_line;	/* discarding an overlong line */
	int			 errors;
	int			 messages;
	const char		*verb;		/* for refusal logs */

	/* The current job's inputs and outputs. */
	char			*auth_in;
	unsigned int		 auth_inlen;
	int			 auth_start;
	enum auth_result	 auth_result;
	const char		*auth_out;
	unsigned int		 auth_outlen;
	const char		*auth_why;
	int			 commit_rc;
	int			 commit_errno;
};

static void	session_process(struct session *);
static void	auth_refuse(struct session *);
static void	headers_end(struct session *, size_t, int);
static void	session_close(struct session *, const char *reason);
static void	session_readcb(struct bufferevent *, void *);
static void	session_writecb(struct bufferevent *, void *);
static void	session_eventcb(struct bufferevent *, short, void *);

/* Appends one reply line; counts and logs refusals. */
static void LOG_PRINTF(2, 3)
reply(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char line[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	evbuffer_add(out, line, n);
	evbuffer_add(out, "\r\n", 2);
	if (line[0] == '4' || line[0] == '5') {
		STAT_ADD(s->srv, rejects, 1);
		if (line[0] == '5')
			s->errors++;
		log_info("session=%s client=%s user=%s cmd=%s action=reject reply=\"%s\"",
		    s->id, s->client, s->authed ? s->login : "-",
		    s->verb ? s->verb : "-", line);
	}
}

static void
set_read_timeout(struct session *s, int seconds)
{
	struct timeval tv = { seconds, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
transaction_reset(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->have_from = 0;
	s->from[0] = '\0';
	free(s->hdr);
	s->hdr = NULL;
	s->hdrlen = 0;
	s->in_headers = 0;
	s->refusal = NULL;
	if (s->spool_open) {
		spool_abort(&s->spool);
		s->spool_open = 0;
	}
}

static void
session_free(struct session *s)
{
	transaction_reset(s);
	if (s->tls && s->bev != NULL && s->state == S_CLOSING)
		SSL_shutdown(bufferevent_openssl_get_ssl(s->bev));	/* close_notify */
	auth_conn_free(s->auth);
	free(s->auth_in);
	if (s->tarpit != NULL)
		event_free(s->tarpit);
	policy_disconnect(s->client);
	TAILQ_REMOVE(&s->loop->sessions, s, entry);
	if (s->bev != NULL)
		bufferevent_free(s->bev);	/* closes fd once TLS owns it */
	if (s->fd != -1)
		evutil_closesocket(s->fd);
	STAT_ADD(s->srv, sessions_now, -1);
	free(s);
}

static void
session_close(struct session *s, const char *reason)
{
	if (s->dead)
		return;
	log_info("session=%s client=%s user=%s event=disconnect reason=%s messages=%d",
	    s->id, s->client, s->authed ? s->login : "-", reason, s->messages);
	s->dead = 1;
	if (s->job_pending) {
		/* The job's done callback frees us; stop all I/O meanwhile. */
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	session_free(s);
}

/*
 * After the last reply (221, 421) has left, the write callback closes.  The
 * output is never empty here, so the session is not freed under our feet.
 */
static void
session_finish(struct session *s)
{
	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_enable(s->bev, EV_WRITE);
}

static void
banner(struct session *s)
{
	s->state = S_CMD;
	set_read_timeout(s, s->conf->timeout_command);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (s->connect_refusal != NULL) {
		s->verb = "CONNECT";
		reply(s, "%s", s->connect_refusal);
		session_finish(s);
		return;
	}
	/* RFC 5321 §4.2: no software name or version is disclosed. */
	reply(s, "220 %s ESMTP", s->conf->hostname);
}

static void
tls_record(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	int bits = SSL_get_cipher_bits(ssl, NULL);

	s->tls = 1;
	s->tls_bits = bits > 0 ? bits : 0;
	s->tls_version = SSL_get_version(ssl);
	s->tls_cipher = SSL_get_cipher_name(ssl);
	snprintf(s->tls_desc, sizeof(s->tls_desc), "%s %s", s->tls_version,
	    s->tls_cipher);
	STAT_ADD(s->srv, tls_handshakes, 1);
	log_info("session=%s client=%s event=tls version=%s cipher=%s bits=%u",
	    s->id, s->client, SSL_get_version(ssl), SSL_get_cipher_name(ssl),
	    s->tls_bits);
}

/* Replaces the plain bufferevent by a TLS one on the same socket. */
static int
tls_wrap(struct session *s)
{
	SSL *ssl;

	if (s->bev != NULL) {
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
		bufferevent_free(s->bev);	/* opened without CLOSE_ON_FREE */
		s->bev = NULL;
	}
	if ((ssl = SSL_new(s->srv->ssl_ctx)) == NULL)
		return -1;
	s->bev = bufferevent_openssl_socket_new(s->loop->base, s->fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		SSL_free(ssl);
		return -1;
	}
	s->fd = -1;	/* owned by the bufferevent now */
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_setcb(s->bev, session_readcb, session_writecb,
	    session_eventcb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, INPUT_MAX);
	set_read_timeout(s, s->conf->timeout_handshake);
	s->state = S_HANDSHAKE;
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return 0;
}

/*
 * RFC 3207 §4.2: after the handshake the client starts again with EHLO and
 * everything learnt before TLS is forgotten.
 */
static void
starttls_switch(struct session *s)
{
	evutil_socket_t fd = bufferevent_getfd(s->bev);

	s->fd = fd;
	s->helo_seen = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
	transaction_reset(s);
	if (tls_wrap(s) == -1) {
		log_warnx("session=%s client=%s event=tls error=\"cannot start TLS\"",
		    s->id, s->client);
		session_close(s, "tls-error");
	}
}

/* ---- AUTH (RFC 4954) ---- */

static void
auth_work(struct worker_job *job)
{
	struct session *s = (struct session *)((char *)job -
	    offsetof(struct session, job));

	s->auth_result = auth_step(s->auth, s->auth_start ? s->mech : NULL,
	    s->auth_in, s->auth_inlen, &s->auth_out, &s->auth_outlen,
	    &s->auth_why);
}

static void
auth_done(struct worker_job *job)
{
	struct session *s = (struct session *)((char *)job -
	    offsetof(struct session, job));
	char b64[AUTH_LINE_MAX];
	unsigned int n;
	const char *user;

	s->job_pending = 0;
	if (s->auth_in != NULL)
		explicit_bzero(s->auth_in, s->auth_inlen);
	free(s->auth_in);
	s->auth_in = NULL;
	if (s->dead) {
		session_free(s);
		return;
	}
	s->state = S_CMD;
	switch (s->auth_result) {
	case AUTH_CONTINUE:
		if (auth_encode64(s->auth_out, s->auth_outlen, b64, sizeof(b64),
		    &n) == -1) {
			reply(s, "454 4.7.0 Temporary authentication failure");
			break;
		}
		reply(s, "334 %.*s", (int)n, b64);
		s->state = S_AUTH;
		break;
	case AUTH_OK:
		user = auth_username(s->auth);
		if (user == NULL || strlen(user) >= sizeof(s->login)) {
			reply(s, "454 4.7.0 Temporary authentication failure");
			break;
		}
		strcpy(s->login, user);
		s->authed = 1;
		STAT_ADD(s->srv, auth_ok, 1);
		log_info("session=%s client=%s event=auth result=ok user=%s mech=%s",
		    s->id, s->client, s->login, s->mech);
		reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_BADAUTH:
		STAT_ADD(s->srv, auth_failed, 1);
		log_info("session=%s client=%s event=auth result=fail mech=%s reason=\"%s\"",
		    s->id, s->client, s->mech, s->auth_why);
		auth_conn_free(s->auth);
		s->auth = NULL;
		auth_refuse(s);
		return;
	case AUTH_BADPROT:
		reply(s, "501 5.5.2 Malformed authentication response");
		break;
	case AUTH_NOMECH:
		reply(s, "504 5.5.4 Authentication mechanism not available");
		break;
	case AUTH_TEMPFAIL:
		log_warnx("session=%s client=%s event=auth result=tempfail mech=%s reason=\"%s\"",
		    s->id, s->client, s->mech, s->auth_why);
		reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	}
	if (s->state != S_AUTH) {
		auth_conn_free(s->auth);
		s->auth = NULL;
	}
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}

static void
tarpit_done(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	s->verb = "AUTH";
	reply(s, "535 5.7.8 Authentication credentials invalid");
	if (s->tarpit_banned) {
		reply(s, "421 4.7.0 %s Too many failed authentications from your "
		    "address; try again later", s->conf->hostname);
		session_finish(s);
		return;
	}
	s->state = S_CMD;
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}

/*
 * A failed AUTH: the 535 waits out the tarpit (without blocking the loop),
 * and a failure that locks the address out ends the session.
 */
static void
auth_refuse(struct session *s)
{
	struct timeval tv = { 0, 0 };
	int banned;

	tv.tv_sec = policy_auth_failed(s->client, ++s->auth_failures, &banned);
	if (s->tarpit == NULL &&
	    (s->tarpit = evtimer_new(s->loop->base, tarpit_done, s)) == NULL) {
		session_close(s, "error");
		return;
	}
	/* S_BUSY even when banned: the 535 and 421 must still be sent. */
	s->tarpit_banned = banned;
	s->state = S_BUSY;
	bufferevent_disable(s->bev, EV_READ);
	evtimer_add(s->tarpit, &tv);
}

/* Decodes a base64 client response and hands the step to the auth pool. */
static void
auth_submit(struct session *s, const char *b64, size_t len, int start)
{
	unsigned int n = 0;

	free(s->auth_in);
	s->auth_in = NULL;
	s->auth_inlen = 0;
	if (b64 != NULL) {
		if ((s->auth_in = malloc(len + 1)) == NULL ||
		    (len > 0 && auth_decode64(b64, len, s->auth_in, len + 1, &n) == -1)) {
			free(s->auth_in);
			s->auth_in = NULL;
			reply(s, "501 5.5.2 Cannot decode base64 response");
			auth_conn_free(s->auth);
			s->auth = NULL;
			s->state = S_CMD;
			return;
		}
		s->auth_inlen = n;
	}
	s->auth_start = start;
	s->job.work = auth_work;
	s->job.done = auth_done;
	s->job_pending = 1;
	s->state = S_BUSY;	/* input waits in the buffer meanwhile */
	worker_submit(s->loop->auth_pool, &s->job);
}

static void
cmd_auth(struct session *s, const struct smtp_cmd *c)
{
	const char *ir, *why;
	size_t irlen;

	if (!s->tls) {
		reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (!s->esmtp) {
		reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (s->authed) {
		reply(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (policy_banned(s->client)) {
		/* A session opened before the lock-out gets no more guesses. */
		reply(s, "421 4.7.0 %s Too many failed authentications from your "
		    "address; try again later", s->conf->hostname);
		session_finish(s);
		return;
	}
	if (s->have_from) {
		reply(s, "503 5.5.1 AUTH not permitted during a mail transaction");
		return;
	}
	if (smtp_parse_auth(c->arg, c->arglen, s->mech, &ir, &irlen, &why) == -1) {
		reply(s, "%s", why);
		return;
	}
	if (!auth_mechanism_ok(s->mech)) {
		reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	s->auth = auth_conn_new(s->sasl_local, s->sasl_remote, s->tls_bits);
	if (s->auth == NULL) {
		reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	/* RFC 4954 §4: "=" is an empty initial response. */
	if (ir != NULL && irlen == 1 && ir[0] == '=')
		auth_submit(s, "", 0, 1);
	else
		auth_submit(s, ir, irlen, 1);
}

static void
auth_line(struct session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		auth_conn_free(s->auth);
		s->auth = NULL;
		s->state = S_CMD;
		reply(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	auth_submit(s, line, len, 0);
}

/* ---- Commands ---- */

static void
cmd_ehlo(struct session *s, const struct smtp_cmd *c, int esmtp)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	const char *why;

	if (smtp_parse_helo(c->arg, c->arglen, &why) == -1) {
		reply(s, "%s", why);
		return;
	}
	transaction_reset(s);	/* RFC 5321 §4.1.4 */
	snprintf(s->helo, sizeof(s->helo), "%.*s", (int)c->arglen, c->arg);
	s->helo_seen = 1;
	s->esmtp = esmtp;
	if (!esmtp) {
		reply(s, "250 %s", s->conf->hostname);
		return;
	}
	evbuffer_add_printf(out, "250-%s\r\n250-PIPELINING\r\n250-SIZE %lld\r\n"
	    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n", s->conf->hostname,
	    s->conf->message_size);
	/* RFC 4954 §4 and DESIGN §5: AUTH is never offered in the clear. */
	if (!s->tls)
		evbuffer_add_printf(out, "250 STARTTLS\r\n");
	else
		evbuffer_add_printf(out, "250 AUTH %s\r\n", auth_mechanisms());
}

static void
cmd_starttls(struct session *s)
{
	if (s->tls) {
		reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (!s->esmtp) {
		reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 §4.2, CVE-2011-0411: nothing sent before TLS is obeyed after. */
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	s->state = S_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
}

/* Refusals common to MAIL, RCPT and DATA, in the order a client meets them. */
static int
need_tls_auth(struct session *s)
{
	if (!s->tls) {
		reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return -1;
	}
	if (!s->authed) {
		reply(s, "530 5.7.0 Authentication required");
		return -1;
	}
	return 0;
}

static void
cmd_mail(struct session *s, const struct smtp_cmd *c)
{
	struct smtp_mail m;
	const char *why;

	if (need_tls_auth(s) == -1)
		return;
	if (!s->helo_seen) {
		reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (s->have_from) {
		reply(s, "503 5.5.1 Sender already specified");
		return;
	}
	if (smtp_parse_mail(c->arg, c->arglen, &m, &why) == -1) {
		reply(s, "%s", why);
		return;
	}
	if (m.size > s->conf->message_size) {
		reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	if ((why = policy_check_sender(s->login, m.addr, s->policy_buf)) != NULL) {
		reply(s, "%s", why);
		return;
	}
	strcpy(s->from, m.addr);
	s->have_from = 1;
	reply(s, "250 2.1.0 Sender ok");
}

static void
cmd_rcpt(struct session *s, const struct smtp_cmd *c)
{
	struct smtp_rcpt r;
	const char *why;
	char **v;

	if (need_tls_auth(s) == -1)
		return;
	if (!s->have_from) {
		reply(s, "503 5.5.1 Need MAIL command first");
		return;
	}
	if (smtp_parse_rcpt(c->arg, c->arglen, &r, &why) == -1) {
		reply(s, "%s", why);
		return;
	}
	if (s->nrcpts >= (size_t)s->conf->recipients) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (strchr(r.addr, '@') == NULL) {
		/* RFC 5321 §4.5.1: <postmaster> means ours. */
		snprintf(r.addr, sizeof(r.addr), "postmaster@%s",
		    s->conf->local_domains[0]);
	}
	if ((why = policy_check_rcpt(s->login, r.addr, s->nrcpts,
	    s->policy_buf)) != NULL) {
		reply(s, "%s", why);
		return;
	}
	if ((v = realloc(s->rcpts, (s->nrcpts + 1) * sizeof(*v))) == NULL ||
	    (v[s->nrcpts] = strdup(r.addr)) == NULL) {
		if (v != NULL)
			s->rcpts = v;
		reply(s, "452 4.3.0 Insufficient system resources");
		return;
	}
	s->rcpts = v;
	s->nrcpts++;
	reply(s, "250 2.1.5 Recipient ok");
}

static void
cmd_data(struct session *s)
{
	struct spool_envelope env;

	if (need_tls_auth(s) == -1)
		return;
	if (!s->have_from) {
		reply(s, "503 5.5.1 Need MAIL command first");
		return;
	}
	if (s->nrcpts == 0) {
		reply(s, "554 5.5.1 No valid recipients");
		return;
	}
	s->arrival = time(NULL);
	memset(&env, 0, sizeof(env));
	env.login = s->login;
	env.client = s->client;
	env.helo = s->helo;
	env.tls = s->tls_desc;
	env.from = s->from;
	env.rcpts = s->rcpts;
	env.nrcpts = s->nrcpts;
	env.arrival = s->arrival;
	if (spool_open(&s->spool, &env) == -1) {
		log_errx("session=%s event=spool-open error=\"%s\"", s->id,
		    strerror(errno));
		reply(s, "451 4.3.0 Queue file write error");
		return;
	}
	s->spool_open = 1;
	msg_reader_init(&s->reader, s->conf->message_size);
	s->reader.normalize_lf = s->conf->bare_lf_normalize;
	if ((s->hdr = malloc(s->conf->header_size)) == NULL) {
		transaction_reset(s);
		reply(s, "452 4.3.0 Insufficient system resources");
		return;
	}
	s->hdrlen = 0;
	s->in_headers = 1;
	s->refusal = NULL;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->state = S_DATA;
	set_read_timeout(s, s->conf->timeout_data);
}

static void
commit_work(struct worker_job *job)
{
	struct session *s = (struct session *)((char *)job -
	    offsetof(struct session, job));

	s->commit_rc = spool_commit(&s->spool);
	s->commit_errno = errno;
}

static void
commit_done(struct worker_job *job)
{
	struct session *s = (struct session *)((char *)job -
	    offsetof(struct session, job));

	s->job_pending = 0;
	s->loop->commits--;
	if (s->commit_rc == -1) {
		log_errx("session=%s queue=%s event=spool-commit error=\"%s\"",
		    s->id, s->spool.id, strerror(s->commit_errno));
		if (!s->dead)
			reply(s, "451 4.3.0 Queue file write error");
	} else {
		s->spool_open = 0;	/* it is the queue's now */
		s->messages++;
		STAT_ADD(s->srv, messages, 1);
		STAT_ADD(s->srv, bytes, s->spool.size);
		log_info("session=%s queue=%s action=accept user=%s client=%s from=<%s> "
		    "rcpts=%zu size=%zu tls=%s cipher=%s", s->id, s->spool.id,
		    s->login, s->client, s->from, s->nrcpts, s->spool.size,
		    s->tls_version, s->tls_cipher);
		queue_add(s->spool.id, s->from, s->rcpts, s->nrcpts, s->arrival,
		    s->spool.body_offset, s->spool.size);
		if (!s->dead)
			reply(s, "250 2.0.0 Ok: queued as %s", s->spool.id);
	}
	transaction_reset(s);
	if (s->dead) {
		session_free(s);
		return;
	}
	s->state = S_CMD;
	set_read_timeout(s, s->conf->timeout_command);
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}

static void
data_end(struct session *s)
{
	s->verb = "DATA";
	if (s->reader.error == MSG_OK && s->in_headers && s->refusal == NULL)
		headers_end(s, s->hdrlen, 0);	/* a message with no body */
	if (s->reader.error == MSG_OK && s->refusal == NULL && s->spool.error)
		s->refusal = "451 4.3.0 Queue file write error";
	if (s->reader.error == MSG_OK && s->refusal == NULL)
		s->refusal = policy_take_message(s->login, s->nrcpts,
		    s->refusal_buf);
	if (s->reader.error != MSG_OK || s->refusal != NULL) {
		reply(s, "%s", s->reader.error != MSG_OK ?
		    msg_error_reply(s->reader.error) : s->refusal);
		transaction_reset(s);
		s->state = S_CMD;
		set_read_timeout(s, s->conf->timeout_command);
		return;
	}
	s->job.work = commit_work;
	s->job.done = commit_done;
	s->job_pending = 1;
	s->loop->commits++;
	s->state = S_BUSY;	/* input waits in the buffer meanwhile */
	worker_submit(s->loop->io_pool, &s->job);
}

/* Our trace field (RFC 5321 §4.4): no client address unless configured. */
static void
write_received(struct session *s)
{
	char buf[1024], date[64];
	struct tm tm;
	int n = 0;

	gmtime_r(&s->arrival, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (s->conf->received_client_ip)
		n = snprintf(buf, sizeof(buf), "Received: from %s ([%s])\r\n\t",
		    s->helo, s->client);
	else
		n = snprintf(buf, sizeof(buf), "Received: ");
	n += snprintf(buf + n, sizeof(buf) - n, "by %s with ESMTPSA (%s:%s:%u)\r\n"
	    "\tid %s; %s\r\n", s->conf->hostname, s->tls_version, s->tls_cipher,
	    s->tls_bits, s->spool.id, date);
	spool_write(&s->spool, buf, n);
}

/*
 * The header section is complete (its fields are hdr[0..fieldslen), followed
 * by the empty line when has_body): check From:, strip, add our fields, write.
 */
static void
headers_end(struct session *s, size_t fieldslen, int has_body)
{
	struct hdr_info info;
	char *out, date[64], buf[SMTP_ADDR_MAX + 64];
	struct tm tm;
	size_t n, i;

	s->in_headers = 0;
	if ((out = malloc(fieldslen + 1)) == NULL) {
		s->refusal = "452 4.3.0 Insufficient system resources";
		return;
	}
	n = hdr_rewrite(s->hdr, fieldslen, (const char *const *)s->conf->strip_headers,
	    s->conf->nstrip_headers, out, &info);
	if (info.error == HDR_ERR_SYNTAX)
		s->refusal = "550 5.6.0 Message refused: malformed header section";
	else if (info.error == HDR_ERR_FROM_MULTIPLE)
		s->refusal = "550 5.6.0 Message refused: more than one From: header field";
	else if (info.error == HDR_ERR_FROM_SYNTAX && s->conf->enforce_header_from)
		s->refusal = "550 5.7.1 Message refused: cannot read the address in the From: header field";
	else if (info.error == HDR_OK && s->conf->enforce_header_from) {
		for (i = 0; i < info.nfrom; i++)
			if (!policy_owns(s->login, info.from[i])) {
				snprintf(s->refusal_buf, sizeof(s->refusal_buf),
				    "550 5.7.1 Message refused: From: address <%s> "
				    "not owned by %s", info.from[i], s->login);
				s->refusal = s->refusal_buf;
				break;
			}
	}
	if (s->refusal != NULL) {
		free(out);
		return;
	}
	write_received(s);
	spool_write(&s->spool, out, n);
	free(out);
	/* RFC 6409 §8.2, §8.3: an MSA adds what the client left out. */
	if (!info.has_message_id) {
		n = snprintf(buf, sizeof(buf), "Message-ID: <%s@%s>\r\n",
		    s->spool.id, s->conf->hostname);
		spool_write(&s->spool, buf, n);
	}
	if (!info.has_date) {
		gmtime_r(&s->arrival, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		n = snprintf(buf, sizeof(buf), "Date: %s\r\n", date);
		spool_write(&s->spool, buf, n);
	}
	if (info.error == HDR_ERR_FROM_MISSING) {
		n = snprintf(buf, sizeof(buf), "From: <%s>\r\n", s->from);
		spool_write(&s->spool, buf, n);
	}
	if (has_body)
		spool_write(&s->spool, "\r\n", 2);
}

/*
 * Message bytes go to the spool, except the header section, which is held
 * (up to limits.header_size) until it is complete and can be rewritten.
 */
static void
message_write(struct session *s, const char *buf, size_t len)
{
	size_t room, start, take;
	const char *end;

	if (s->refusal != NULL)
		return;
	if (!s->in_headers) {
		spool_write(&s->spool, buf, len);
		return;
	}
	room = s->conf->header_size - s->hdrlen;
	take = len < room ? len : room;
	start = s->hdrlen > 3 ? s->hdrlen - 3 : 0;
	memcpy(s->hdr + s->hdrlen, buf, take);
	s->hdrlen += take;
	if (s->hdrlen >= 2 && s->hdr[0] == '\r' && s->hdr[1] == '\n')
		end = s->hdr;		/* no header fields at all */
	else
		end = memmem(s->hdr + start, s->hdrlen - start, "\r\n\r\n", 4);
	if (end == NULL) {
		if (take < len || s->hdrlen == (size_t)s->conf->header_size) {
			snprintf(s->refusal_buf, sizeof(s->refusal_buf),
			    "552 5.3.4 Message header section exceeds %d octets",
			    s->conf->header_size);
			s->refusal = s->refusal_buf;
		}
		return;
	}
	/* fields, then the empty line, then body bytes that came along */
	start = end == s->hdr ? 0 : (size_t)(end - s->hdr) + 2;
	headers_end(s, start, 1);
	if (s->refusal == NULL) {
		spool_write(&s->spool, s->hdr + start + 2, s->hdrlen - start - 2);
		spool_write(&s->spool, buf + take, len - take);
	}
	free(s->hdr);
	s->hdr = NULL;
}

/* Streams DATA to the spool file: memory stays fixed whatever the size. */
static void
data_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec v;
	char out[DATA_CHUNK];
	size_t n, used, outlen;

	while (s->state == S_DATA && evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		/* Room for a bare LF turned into CRLF: see msg_reader_feed. */
		n = v.iov_len < sizeof(out) / 2 ? v.iov_len : sizeof(out) / 2;
		used = msg_reader_feed(&s->reader, v.iov_base, n, out, &outlen);
		if (outlen > 0 && s->reader.error == MSG_OK)
			message_write(s, out, outlen);
		evbuffer_drain(in, used);
		if (s->reader.done)
			data_end(s);
	}
}

static int
allowed_before_tls(enum smtp_verb v)
{
	return v == SMTP_VERB_EHLO || v == SMTP_VERB_HELO ||
	    v == SMTP_VERB_STARTTLS || v == SMTP_VERB_NOOP ||
	    v == SMTP_VERB_RSET || v == SMTP_VERB_QUIT;
}

static const char *
verb_name(enum smtp_verb v)
{
	static const char *const names[] = {
		"UNKNOWN", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT",
		"DATA", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "BDAT"
	};

	return (size_t)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

static void
command(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	const char *why;

	s->verb = "-";
	if (smtp_parse_command(line, len, &c, &why) == -1) {
		reply(s, "%s", why);
		return;
	}
	s->verb = verb_name(c.verb);
	if (c.verb != SMTP_VERB_AUTH && len + 2 > CMD_LINE_MAX) {
		reply(s, "500 5.5.2 Line too long");
		return;
	}
	if (!s->tls && !allowed_before_tls(c.verb) && c.verb != SMTP_VERB_UNKNOWN) {
		reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	switch (c.verb) {
	case SMTP_VERB_EHLO:
		cmd_ehlo(s, &c, 1);
		break;
	case SMTP_VERB_HELO:
		cmd_ehlo(s, &c, 0);
		break;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(s);
		break;
	case SMTP_VERB_AUTH:
		cmd_auth(s, &c);
		break;
	case SMTP_VERB_MAIL:
		cmd_mail(s, &c);
		break;
	case SMTP_VERB_RCPT:
		cmd_rcpt(s, &c);
		break;
	case SMTP_VERB_DATA:
		cmd_data(s);
		break;
	case SMTP_VERB_RSET:
		transaction_reset(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		reply(s, "221 2.0.0 Bye");
		session_finish(s);
		break;
	case SMTP_VERB_VRFY:
		/* RFC 5321 §3.5.3: 252 discloses nothing. */
		reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
		break;
	case SMTP_VERB_EXPN:
		reply(s, "502 5.5.1 EXPN not supported");
		break;
	case SMTP_VERB_HELP:
		reply(s, "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA RSET NOOP QUIT");
		break;
	case SMTP_VERB_BDAT:
		reply(s, "502 5.5.1 BDAT not supported");
		break;
	case SMTP_VERB_UNKNOWN:
		reply(s, "500 5.5.2 Error: command not recognized");
		break;
	}
}

/* Handles every complete line that waits, until a state change stops us. */
static void
session_process(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	size_t len;
	char *line;

	while (!s->dead) {
		if (s->state == S_DATA) {
			data_input(s);
			if (s->state == S_DATA)
				return;
			continue;
		}
		if (s->state != S_CMD && s->state != S_AUTH)
			return;
		if (evbuffer_get_length(out) > OUTPUT_MAX) {
			/* The client does not read its replies: wait for it. */
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		/* Commands are held to CMD_LINE_MAX once we know they are not AUTH. */
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > AUTH_LINE_MAX) {
				evbuffer_drain(in, evbuffer_get_length(in));
				if (!s->skip_line) {
					s->verb = "-";
					reply(s, "500 5.5.2 Line too long");
				}
				s->skip_line = 1;
			}
			break;
		}
		if (s->skip_line) {
			/* The tail of an overlong line. */
			s->skip_line = 0;
			free(line);
			continue;
		}
		if (len > AUTH_LINE_MAX) {
			reply(s, "500 5.5.2 Line too long");
		} else if (s->state == S_AUTH)
			auth_line(s, line, len);
		else
			command(s, line, len);
		explicit_bzero(line, len);
		free(line);
		if (s->errors >= s->conf->errors && s->state != S_CLOSING) {
			reply(s, "421 4.7.0 %s Error: too many errors", s->conf->hostname);
			session_finish(s);
		}
	}
}

static void
session_readcb(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void
session_writecb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	switch (s->state) {
	case S_STARTTLS:
		starttls_switch(s);
		break;
	case S_CLOSING:
		session_close(s, "closed");
		break;
	case S_CMD:
	case S_AUTH:
		/* Replies drained: read again if we had stopped for them. */
		bufferevent_enable(s->bev, EV_READ);
		session_process(s);
		break;
	default:
		break;
	}
}

static void
tls_failed(struct session *s)
{
	unsigned long e = bufferevent_get_openssl_error(s->bev);
	char buf[160] = "connection closed";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	STAT_ADD(s->srv, tls_failures, 1);
	log_info("session=%s client=%s event=tls result=fail error=\"%s\"", s->id,
	    s->client, buf);
	session_close(s, "tls-error");
}

static void
session_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		/*
		 * Without tickets nothing of ours follows the handshake until
		 * the EHLO reply; ACK the client's Finished at once, or a client
		 * with Nagle on holds its EHLO for our delayed ACK.
		 */
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_QUICKACK, &one,
		    sizeof(one));
		tls_record(s);
		if (s->listen->tls == LISTEN_IMPLICIT)
			banner(s);	/* RFC 8314 §3.3: the banner comes over TLS */
		else {
			s->state = S_CMD;
			set_read_timeout(s, s->conf->timeout_command);
			bufferevent_enable(s->bev, EV_READ);
		}
		return;
	}
	if (s->state == S_HANDSHAKE && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
		tls_failed(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == S_HANDSHAKE) {
			log_info("session=%s client=%s event=tls result=fail error=timeout",
			    s->id, s->client);
			session_close(s, "timeout");
			return;
		}
		if (s->state == S_CLOSING) {
			/* Our last reply cannot leave: the client stopped reading. */
			session_close(s, "timeout");
			return;
		}
		if (s->state == S_BUSY) {
			/* The wait is ours (fsync, SASL, tarpit), not the client's. */
			bufferevent_enable(s->bev, what & BEV_EVENT_READING ?
			    EV_READ : EV_WRITE);
			return;
		}
		s->verb = "-";
		reply(s, "421 4.4.2 %s Error: timeout exceeded", s->conf->hostname);
		if (s->state == S_DATA)
			transaction_reset(s);
		session_finish(s);
		return;
	}
	/* EOF or error: a transfer cut short leaves no queue file. */
	session_close(s, what & BEV_EVENT_EOF ? "eof" : "error");
}

static void
addr_strings(struct session *s, const struct sockaddr *peer, int peerlen)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);

	if (getnameinfo(peer, peerlen, host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		strcpy(host, "unknown"), strcpy(port, "0");
	snprintf(s->client, sizeof(s->client), "%s", host);
	snprintf(s->sasl_remote, sizeof(s->sasl_remote), "%s;%s", host, port);
	if (getsockname(s->fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(s->sasl_local, sizeof(s->sasl_local), "%s;%s", host, port);
	else
		strcpy(s->sasl_local, "0.0.0.0;0");
}

void
session_start(struct loop *loop, evutil_socket_t fd,
    const struct sockaddr *peer, int peerlen, const struct listen_conf *l)
{
	struct session *s = calloc(1, sizeof(*s));
	struct server *srv = loop->srv;
	int one = 1;

	if (s == NULL) {
		evutil_closesocket(fd);
		return;
	}
	s->srv = srv;
	s->loop = loop;
	s->conf = srv->conf;
	TAILQ_INSERT_TAIL(&loop->sessions, s, entry);
	s->fd = fd;
	s->listen = l;
	snprintf(s->id, sizeof(s->id), "%08X", arc4random());
	addr_strings(s, peer, peerlen);
	STAT_ADD(srv, connections, 1);
	STAT_ADD(srv, sessions_now, 1);
	evutil_make_socket_nonblocking(fd);
	/*
	 * Replies are small and each waits for the client's next command:
	 * with Nagle on, one waits for the client's delayed ACK (40 ms).
	 * Batching is ours to do (a pipelined group leaves in one write).
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	log_info("session=%s client=%s event=connect port=%d tls=%s", s->id,
	    s->client, l->port, l->tls == LISTEN_IMPLICIT ? "implicit" : "starttls");

	s->connect_refusal = policy_connect(s->client, s->policy_buf);
	if (s->connect_refusal != NULL)
		log_info("session=%s client=%s event=refuse reply=\"%s\"", s->id,
		    s->client, s->connect_refusal);
	if (l->tls == LISTEN_IMPLICIT) {
		if (tls_wrap(s) == -1)
			session_close(s, "tls-error");
		return;
	}
	s->bev = bufferevent_socket_new(loop->base, fd, 0);
	if (s->bev == NULL) {
		session_close(s, "error");
		return;
	}
	bufferevent_setcb(s->bev, session_readcb, session_writecb,
	    session_eventcb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, INPUT_MAX);
	banner(s);
}

void
session_shutdown(struct loop *loop)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&loop->sessions)) != NULL) {
		s->job_pending = 0;	/* its worker is gone; done never runs */
		if (s->spool_open && s->spool.fd == -1)
			s->spool_open = 0;	/* committed: the queue's now */
		session_free(s);
	}
}
