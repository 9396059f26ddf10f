/*
 * session.c - the SMTP server session: the connection and its commands.
 *
 * Input is handled one complete line at a time, in order, so PIPELINING
 * (RFC 2920) needs nothing special: replies are appended to the output
 * buffer and leave in one write when the input runs dry.  Work that may
 * block (SASL steps, the fsync behind "250 queued") goes to a worker pool;
 * while it runs the session reads nothing, so replies stay in order.
 *
 * Which commands may come before TLS, and which need a login, is data in
 * the command table; each command's function checks the rest and acts.
 *
 * Not here: AUTH (session_auth.c), DATA (session_data.c), parsing
 * (smtp_parse.c), what a login may do (policy.c), queue files (spool.c).
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

#include "abuse.h"
#include "certmap.h"
#include "config.h"
#include "metrics.h"
#include "proxy.h"
#include "session.h"
#include "session_int.h"
#include "tls.h"
#include "util/netaddr.h"
#include "utf8.h"

#define INPUT_MAX	(64 * 1024)	/* read no further while this much waits */
#define OUTPUT_MAX	(64 * 1024)	/* stop reading while replies pile up */

static void	session_readcb(struct bufferevent *, void *);
static void	session_writecb(struct bufferevent *, void *);
static void	session_eventcb(struct bufferevent *, short, void *);

/* Appends one reply line; counts and logs refusals. */
void
session_reply(struct session *s, const char *fmt, ...)
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
		metrics_refusal(line);
		if (line[0] == '5')
			s->errors++;
		log_info("session=%s client=%s user=%s cmd=%s action=reject reply=%s",
		    s->id, s->client, log_str(s->authed ? s->login : NULL),
		    s->verb ? s->verb : "-", log_str(line));
	}
}

void
session_set_timeout(struct session *s, int seconds)
{
	struct timeval tv = { seconds, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

void
session_txn_reset(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i]);
		free(s->ext.orcpt[i]);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->have_from = 0;
	s->from[0] = '\0';
	free(s->ext.orcpt);
	free(s->ext.notify);
	memset(&s->ext, 0, sizeof(s->ext));
	s->bdat = 0;
	free(s->hdr);
	s->hdr = NULL;
	s->hdrlen = 0;
	s->in_headers = 0;
	s->refusal = NULL;
	dkim_free(s->dkim);
	s->dkim = NULL;
	if (s->spool_open) {
		spool_abort(&s->spool);
		s->spool_open = 0;
	}
}

/*
 * Counted by journal_expect while a message may come from it: from its
 * start (and from each 250) until it submits one, or goes.
 */
void
session_expect(struct session *s, int on)
{
	if (s->expected == on)
		return;
	s->expected = on;
	journal_expect(on ? 1 : -1);
}

void
session_free(struct session *s)
{
	session_expect(s, 0);
	session_txn_reset(s);
	if (s->tls && s->bev != NULL && s->state == S_CLOSING)
		SSL_shutdown(bufferevent_openssl_get_ssl(s->bev));	/* close_notify */
	session_auth_free(s);
	if (s->counted)
		policy_disconnect(s->client_key);
	if (s->proxy_ev != NULL)
		event_free(s->proxy_ev);
	free(s->proxy_buf);
	TAILQ_REMOVE(&s->loop->sessions, s, entry);
	if (s->bev != NULL)
		bufferevent_free(s->bev);	/* closes fd once TLS owns it */
	if (s->fd != -1)
		evutil_closesocket(s->fd);
	STAT_ADD(s->srv, sessions_now, -1);
	config_unref(s->conf);
	free(s);
}

void
session_close(struct session *s, const char *reason)
{
	if (s->dead)
		return;
	log_info("session=%s client=%s user=%s event=disconnect reason=%s messages=%d",
	    s->id, s->client, log_str(s->authed ? s->login : NULL), reason,
	    s->messages);
	metrics_session_end(reason);
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
void
session_finish(struct session *s)
{
	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_enable(s->bev, EV_WRITE);
}

/* The daemon is stopping and this session's time is up. */
static void
tell_shutdown(struct session *s)
{
	s->verb = "-";
	session_reply(s, "421 4.3.2 %s Service shutting down; try again later",
	    s->conf->hostname);
	if (s->state == S_DATA || s->state == S_BDAT)
		session_txn_reset(s);	/* never acknowledged: it goes */
	session_finish(s);
}

void
session_resume(struct session *s)
{
	if (s->stopping) {
		tell_shutdown(s);
		return;
	}
	if (s->state == S_BUSY)
		s->state = S_CMD;
	session_set_timeout(s, s->conf->timeout_command);
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}

static void
banner(struct session *s)
{
	s->state = S_CMD;
	session_set_timeout(s, s->conf->timeout_command);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (s->connect_refusal != NULL) {
		s->verb = "CONNECT";
		session_reply(s, "%s", s->connect_refusal);
		session_finish(s);
		return;
	}
	/* RFC 5321 §4.2: no software name or version is disclosed. */
	session_reply(s, "220 %s ESMTP", s->conf->hostname);
}

/* EXTERNAL (auth.client_ca): what the client's certificate says. */
static void
client_cert(struct session *s, SSL *ssl)
{
	char cn[CERTMAP_CN_MAX + 1];
	const char *login;
	int v = tls_peer_cert(ssl, s->cert_fp, sizeof(s->cert_fp), cn, sizeof(cn));

	if (v == -1)
		return;
	s->cert_verified = v;
	login = v ? certmap_lookup(s->conf->certmap, s->conf->ncertmap,
	    s->cert_fp, cn[0] != '\0' ? cn : NULL) : NULL;
	if (login != NULL)
		snprintf(s->cert_login, sizeof(s->cert_login), "%s", login);
	log_info("session=%s client=%s event=client-cert fingerprint=%s cn=%s "
	    "verified=%s login=%s", s->id, s->client, s->cert_fp,
	    log_str(cn[0] ? cn : NULL), v ? "yes" : "no",
	    log_str(login));
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
	metrics_tls(s->tls_version);
	log_info("session=%s client=%s event=tls version=%s cipher=%s bits=%u",
	    s->id, s->client, s->tls_version, s->tls_cipher, s->tls_bits);
	if (s->conf->auth_client_ca_pem != NULL)
		client_cert(s, ssl);
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
	if ((ssl = server_ssl_new(s->srv)) == NULL)
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
	session_set_timeout(s, s->conf->timeout_handshake);
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
	session_txn_reset(s);
	if (tls_wrap(s) == -1) {
		log_warnx("session=%s client=%s event=tls error=\"cannot start TLS\"",
		    s->id, s->client);
		session_close(s, "tls-error");
	}
}

/* ---- Commands ---- */

static void
cmd_ehlo(struct session *s, const struct smtp_cmd *c, int esmtp)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char mechs[256];
	const char *why;

	if (smtp_parse_helo(c->arg, c->arglen, &why) == -1) {
		session_reply(s, "%s", why);
		return;
	}
	session_txn_reset(s);	/* RFC 5321 §4.1.4 */
	snprintf(s->helo, sizeof(s->helo), "%.*s", (int)c->arglen, c->arg);
	s->helo_seen = 1;
	s->esmtp = esmtp;
	if (!esmtp) {
		session_reply(s, "250 %s", s->conf->hostname);
		return;
	}
	evbuffer_add_printf(out, "250-%s\r\n250-PIPELINING\r\n250-SIZE %lld\r\n"
	    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n", s->conf->hostname,
	    s->conf->message_size);
	/* RFC 4954 §4 and DESIGN §5: AUTH is never offered in the clear. */
	/*
	 * The extensions that carry mail only once TLS is up: REQUIRETLS is
	 * never offered in the clear (RFC 8689 §4), the rest need AUTH first.
	 */
	if (!s->tls)
		evbuffer_add_printf(out, "250 STARTTLS\r\n");
	else
		evbuffer_add_printf(out, "250-DSN\r\n250-SMTPUTF8\r\n"
		    "250-CHUNKING\r\n250-REQUIRETLS\r\n250 AUTH %s\r\n",
		    auth_mechanisms(s->conf, s->cert_verified, mechs,
		    sizeof(mechs)));
}

static void
cmd_ehlo_esmtp(struct session *s, const struct smtp_cmd *c)
{
	cmd_ehlo(s, c, 1);
}

static void
cmd_helo(struct session *s, const struct smtp_cmd *c)
{
	cmd_ehlo(s, c, 0);
}

static void
cmd_starttls(struct session *s, const struct smtp_cmd *c)
{
	if (s->tls) {
		session_reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (!s->esmtp) {
		session_reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 §4.2, CVE-2011-0411: nothing sent before TLS is obeyed after. */
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	s->state = S_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
}

static void
cmd_mail(struct session *s, const struct smtp_cmd *c)
{
	struct smtp_mail m;
	const char *why;
	long long avail;

	if (!s->helo_seen) {
		session_reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (s->have_from) {
		session_reply(s, "503 5.5.1 Sender already specified");
		return;
	}
	if (smtp_parse_mail(c->arg, c->arglen, &m, &why) == -1) {
		session_reply(s, "%s", why);
		return;
	}
	if (m.size > s->conf->message_size) {
		session_reply(s, "552 5.3.4 Message size exceeds fixed maximum "
		    "message size");
		return;
	}
	/* RFC 1870 §6.1: say so now, not after the client sent it all. */
	if (spool_free_space(&avail) == 0 &&
	    avail < s->conf->queue_min_free + (m.size > 0 ? m.size : 0)) {
		session_reply(s, "452 4.3.1 Insufficient system storage");
		return;
	}
	/* RFC 8689 §4.1: only over TLS (a listener without TLS has none). */
	if (m.requiretls && !s->tls) {
		session_reply(s, "530 5.7.10 REQUIRETLS needs TLS");
		return;
	}
	if ((why = abuse_check(s->login, s->policy_buf)) != NULL ||
	    (why = policy_check_sender(s->login, m.addr, s->policy_buf)) != NULL) {
		session_reply(s, "%s", why);
		return;
	}
	strcpy(s->from, m.addr);
	s->have_from = 1;
	s->ext.ret = m.ret;
	memcpy(s->ext.envid, m.envid, sizeof(s->ext.envid));
	s->ext.flags = (m.smtputf8 ? SPOOL_EXT_SMTPUTF8 : 0) |
	    (m.requiretls ? SPOOL_EXT_REQUIRETLS : 0);
	if (m.smtputf8 && !utf8_is_ascii(m.addr, strlen(m.addr)))
		s->ext.flags |= SPOOL_EXT_UTF8;
	session_reply(s, "250 2.1.0 Sender ok");
}

/* The recipient and its DSN parameters join the transaction. */
static int
rcpt_add(struct session *s, const struct smtp_rcpt *r)
{
	size_t n = s->nrcpts;
	char **v, **o, *addr, *orcpt = NULL;
	unsigned char *notify;

	if ((v = realloc(s->rcpts, (n + 1) * sizeof(*v))) != NULL)
		s->rcpts = v;
	if ((o = realloc(s->ext.orcpt, (n + 1) * sizeof(*o))) != NULL)
		s->ext.orcpt = o;
	if ((notify = realloc(s->ext.notify, n + 1)) != NULL)
		s->ext.notify = notify;
	if (v == NULL || o == NULL || notify == NULL ||
	    (addr = strdup(r->addr)) == NULL)
		return -1;
	if (r->orcpt[0] != '\0' && (orcpt = strdup(r->orcpt)) == NULL) {
		free(addr);
		return -1;
	}
	s->rcpts[n] = addr;
	s->ext.orcpt[n] = orcpt;
	s->ext.notify[n] = (unsigned char)r->notify;
	s->nrcpts++;
	return 0;
}

static void
cmd_rcpt(struct session *s, const struct smtp_cmd *c)
{
	struct smtp_rcpt r;
	const char *why;

	if (!s->have_from) {
		session_reply(s, "503 5.5.1 Need MAIL command first");
		return;
	}
	/* RFC 3030 §2: the envelope is on disk once the first chunk came. */
	if (s->bdat) {
		session_reply(s, "503 5.5.1 BDAT in progress; send BDAT or RSET");
		return;
	}
	if (smtp_parse_rcpt(c->arg, c->arglen,
	    (s->ext.flags & SPOOL_EXT_SMTPUTF8) != 0, &r, &why) == -1) {
		session_reply(s, "%s", why);
		return;
	}
	if (s->nrcpts >= (size_t)s->conf->recipients) {
		session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (strchr(r.addr, '@') == NULL) {
		/* RFC 5321 §4.5.1: <postmaster> means ours. */
		snprintf(r.addr, sizeof(r.addr), "postmaster@%s",
		    s->conf->local_domains[0]);
	}
	if ((why = policy_check_rcpt(s->login, r.addr, s->nrcpts,
	    s->policy_buf)) != NULL) {
		session_reply(s, "%s", why);
		return;
	}
	if (rcpt_add(s, &r) == -1) {
		session_reply(s, "452 4.3.0 Insufficient system resources");
		return;
	}
	if (!utf8_is_ascii(r.addr, strlen(r.addr)))
		s->ext.flags |= SPOOL_EXT_UTF8;
	session_reply(s, "250 2.1.5 Recipient ok");
}

static void
cmd_rset(struct session *s, const struct smtp_cmd *c)
{
	session_txn_reset(s);
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_noop(struct session *s, const struct smtp_cmd *c)
{
	session_reply(s, "250 2.0.0 Ok");
}

static void
cmd_quit(struct session *s, const struct smtp_cmd *c)
{
	session_reply(s, "221 2.0.0 Bye");
	session_finish(s);
}

static void
cmd_vrfy(struct session *s, const struct smtp_cmd *c)
{
	/* RFC 5321 §3.5.3: 252 discloses nothing. */
	session_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
cmd_expn(struct session *s, const struct smtp_cmd *c)
{
	session_reply(s, "502 5.5.1 EXPN not supported");
}

static void
cmd_help(struct session *s, const struct smtp_cmd *c)
{
	session_reply(s, "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT "
	    "DATA BDAT RSET NOOP QUIT");
}

static void
cmd_unknown(struct session *s, const struct smtp_cmd *c)
{
	session_reply(s, "500 5.5.2 Error: command not recognized");
}

#define CMD_BEFORE_TLS	0x01	/* DESIGN §5: the only ones before STARTTLS */
#define CMD_NEEDS_AUTH	0x02	/* after TLS, and only once logged in */

static const struct command {
	enum smtp_verb	 verb;
	const char	*name;
	int		 flags;
	void		(*fn)(struct session *, const struct smtp_cmd *);
} commands[] = {
	{ SMTP_VERB_UNKNOWN,	"-",		CMD_BEFORE_TLS,	cmd_unknown },
	{ SMTP_VERB_EHLO,	"EHLO",		CMD_BEFORE_TLS,	cmd_ehlo_esmtp },
	{ SMTP_VERB_HELO,	"HELO",		CMD_BEFORE_TLS,	cmd_helo },
	{ SMTP_VERB_STARTTLS,	"STARTTLS",	CMD_BEFORE_TLS,	cmd_starttls },
	{ SMTP_VERB_AUTH,	"AUTH",		0,		session_cmd_auth },
	{ SMTP_VERB_MAIL,	"MAIL",		CMD_NEEDS_AUTH,	cmd_mail },
	{ SMTP_VERB_RCPT,	"RCPT",		CMD_NEEDS_AUTH,	cmd_rcpt },
	{ SMTP_VERB_DATA,	"DATA",		CMD_NEEDS_AUTH,	session_cmd_data },
	{ SMTP_VERB_RSET,	"RSET",		CMD_BEFORE_TLS,	cmd_rset },
	{ SMTP_VERB_NOOP,	"NOOP",		CMD_BEFORE_TLS,	cmd_noop },
	{ SMTP_VERB_QUIT,	"QUIT",		CMD_BEFORE_TLS,	cmd_quit },
	{ SMTP_VERB_VRFY,	"VRFY",		0,		cmd_vrfy },
	{ SMTP_VERB_EXPN,	"EXPN",		0,		cmd_expn },
	{ SMTP_VERB_HELP,	"HELP",		0,		cmd_help },
	{ SMTP_VERB_BDAT,	"BDAT",		CMD_BEFORE_TLS,	session_cmd_bdat },	/* checks itself */
};

static void
command(struct session *s, const char *line, size_t len)
{
	const struct command *cmd;
	struct smtp_cmd c;
	const char *why;
	size_t i;

	s->verb = "-";
	if (smtp_parse_command(line, len, &c, &why) == -1) {
		session_reply(s, "%s", why);
		return;
	}
	for (i = 0, cmd = &commands[0]; i < sizeof(commands) / sizeof(commands[0]);
	    i++)
		if (commands[i].verb == c.verb) {
			cmd = &commands[i];
			break;
		}
	s->verb = cmd->name;
	/* RFC 3461 §4: ENVID and ORCPT lengthen MAIL and RCPT by 100 and 500. */
	if (c.verb != SMTP_VERB_AUTH && len + 2 > (c.verb == SMTP_VERB_MAIL ||
	    c.verb == SMTP_VERB_RCPT ? CMD_LINE_MAX_DSN : CMD_LINE_MAX)) {
		session_reply(s, "500 5.5.2 Line too long");
		return;
	}
	if (!s->tls && !(cmd->flags & CMD_BEFORE_TLS)) {
		session_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if ((cmd->flags & CMD_NEEDS_AUTH) && !s->authed) {
		session_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	cmd->fn(s, &c);
}

/* Handles every complete line that waits, until a state change stops us. */
void
session_process(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer *out = bufferevent_get_output(s->bev);
	size_t len;
	char *line;

	while (!s->dead) {
		if (s->state == S_DATA) {
			session_data_input(s);
			if (s->state == S_DATA)
				return;
			continue;
		}
		if (s->state == S_BDAT) {
			session_bdat_input(s);
			if (s->state == S_BDAT)
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
					session_reply(s, "500 5.5.2 Line too long");
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
		if (len > AUTH_LINE_MAX)
			session_reply(s, "500 5.5.2 Line too long");
		else if (s->state == S_AUTH)
			session_auth_line(s, line, len);
		else
			command(s, line, len);
		explicit_bzero(line, len);
		free(line);
		if (s->errors >= s->conf->errors && s->state != S_CLOSING) {
			session_reply(s, "421 4.7.0 %s Error: too many errors",
			    s->conf->hostname);
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
		session_close(s, s->stopping ? "shutdown" : "closed");
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
	log_info("session=%s client=%s event=tls result=fail error=%s", s->id,
	    s->client, log_str(buf));
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
			session_set_timeout(s, s->conf->timeout_command);
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
			log_info("session=%s client=%s event=tls result=fail "
			    "error=timeout", s->id, s->client);
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
		session_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->conf->hostname);
		if (s->state == S_DATA || s->state == S_BDAT)
			session_txn_reset(s);
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
	if (netaddr_key(s->client, s->client_key, sizeof(s->client_key)) == -1)
		snprintf(s->client_key, sizeof(s->client_key), "%s", s->client);
	if (getsockname(s->fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sslen, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(s->sasl_local, sizeof(s->sasl_local), "%s;%s", host, port);
	else
		strcpy(s->sasl_local, "0.0.0.0;0");
}

/* The client is known (from the socket, or its PROXY header): go on. */
static void
session_begin(struct session *s)
{
	s->connect_refusal = policy_connect(s->client_key, s->policy_buf);
	s->counted = 1;
	if (s->connect_refusal != NULL)
		log_info("session=%s client=%s event=refuse reply=%s", s->id,
		    s->client, log_str(s->connect_refusal));
	if (s->connect_refusal != NULL && s->listen->tls == LISTEN_IMPLICIT) {
		/*
		 * Its 421 could only follow a TLS handshake, which would hold
		 * the slot the limit refused it: close at once.
		 */
		session_close(s, "refused");
		return;
	}
	if (s->listen->tls == LISTEN_IMPLICIT) {
		if (tls_wrap(s) == -1)
			session_close(s, "tls-error");
		return;
	}
	s->bev = bufferevent_socket_new(s->loop->base, s->fd, 0);
	if (s->bev == NULL) {
		session_close(s, "error");
		return;
	}
	bufferevent_setcb(s->bev, session_readcb, session_writecb,
	    session_eventcb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, INPUT_MAX);
	banner(s);
}

/*
 * proxy_protocol: the header is peeked at and then taken exactly, so the
 * client's own bytes behind it (a TLS ClientHello) stay in the socket for
 * whoever reads next.  No reply ever: the peer is the load balancer.
 */
static void
proxy_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct proxy_info pi;
	ssize_t n;
	long hl;
	char was[64];

	if ((what & EV_TIMEOUT) || time(NULL) >= s->proxy_deadline) {
		log_info("session=%s client=%s event=proxy result=fail "
		    "error=\"no header within the handshake timeout\"", s->id,
		    s->client);
		session_close(s, "timeout");
		return;
	}
	n = recv(fd, s->proxy_buf + s->proxy_len, PROXY_MAX - s->proxy_len,
	    MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		session_close(s, n == 0 ? "eof" : "error");
		return;
	}
	hl = proxy_parse(s->proxy_buf, s->proxy_len + (size_t)n, &pi);
	if (hl == 0 && s->proxy_len + (size_t)n == PROXY_MAX)
		hl = -1;
	if (hl == -1) {
		log_info("session=%s client=%s event=proxy result=fail "
		    "error=\"not a PROXY header\"", s->id, s->client);
		session_close(s, "proxy-error");
		return;
	}
	/*
	 * Incomplete: every octet peeked is the header's, take them all.
	 * Complete: take exactly the rest of it.
	 */
	n = hl == 0 ? n : hl - (long)s->proxy_len;
	if (recv(fd, s->proxy_buf + s->proxy_len, (size_t)n, 0) != n) {
		session_close(s, "error");
		return;
	}
	s->proxy_len += (size_t)n;
	if (hl == 0)
		return;
	event_free(s->proxy_ev);
	s->proxy_ev = NULL;
	free(s->proxy_buf);
	s->proxy_buf = NULL;
	snprintf(was, sizeof(was), "%s", s->client);
	if (!pi.local) {
		/* An IPv4 client of a v6 balancer: logged as IPv4, as it is. */
		if (strncasecmp(pi.src, "::ffff:", 7) == 0 &&
		    strchr(pi.src + 7, ':') == NULL && strchr(pi.src + 7, '.') != NULL)
			memmove(pi.src, pi.src + 7, strlen(pi.src + 7) + 1);
		snprintf(s->client, sizeof(s->client), "%s", pi.src);
		snprintf(s->sasl_remote, sizeof(s->sasl_remote), "%s;%u", pi.src,
		    pi.src_port);
		if (netaddr_key(s->client, s->client_key, sizeof(s->client_key)) == -1)
			snprintf(s->client_key, sizeof(s->client_key), "%s", s->client);
	}
	log_info("session=%s client=%s event=proxy result=ok via=%s%s", s->id,
	    s->client, was, pi.local ? " local=yes" : "");
	session_begin(s);
}

static void
proxy_wait(struct session *s)
{
	struct timeval tv = { s->conf->timeout_handshake, 0 };

	s->state = S_PROXY;
	s->proxy_deadline = time(NULL) + s->conf->timeout_handshake;
	s->proxy_buf = malloc(PROXY_MAX);
	s->proxy_ev = event_new(s->loop->base, s->fd, EV_READ | EV_PERSIST,
	    proxy_readcb, s);
	if (s->proxy_buf == NULL || s->proxy_ev == NULL ||
	    event_add(s->proxy_ev, &tv) == -1) {
		session_close(s, "error");
		return;
	}
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
	s->conf = server_conf(srv);
	TAILQ_INSERT_TAIL(&loop->sessions, s, entry);
	session_expect(s, 1);
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
	log_info("session=%s client=%s event=connect port=%d tls=%s%s", s->id,
	    s->client, l->port, l->tls == LISTEN_IMPLICIT ? "implicit" : "starttls",
	    l->proxy ? " proxy=required" : "");
	/*
	 * The cap on all connections holds before anything is read: a PROXY
	 * header or a TLS handshake must not keep a slot the cap refuses (a
	 * STARTTLS listener's refusal is its 421 banner, below).  Per-address
	 * limits need the client's address: after the header.
	 */
	if ((l->proxy || l->tls == LISTEN_IMPLICIT) &&
	    STAT_GET(srv, sessions_now) > (uint64_t)s->conf->connections) {
		log_info("session=%s client=%s event=refuse reason=\"limits."
		    "connections reached\"", s->id, s->client);
		session_close(s, "refused");
		return;
	}
	if (l->proxy) {
		proxy_wait(s);
		return;
	}
	session_begin(s);
}

int
session_count(struct loop *loop)
{
	struct session *s;
	int n = 0;

	TAILQ_FOREACH(s, &loop->sessions, entry)
		n++;
	return n;
}

int
session_stop_all(struct loop *loop)
{
	struct session *s, *next;
	int told = 0;

	for (s = TAILQ_FIRST(&loop->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->dead || s->stopping || s->state == S_CLOSING)
			continue;
		s->stopping = 1;
		told++;
		switch (s->state) {
		case S_BUSY:
			/* A commit or SASL step runs: its answer first, then 421. */
			break;
		case S_PROXY:
		case S_HANDSHAKE:
		case S_STARTTLS:
			/* No SMTP can be spoken on this connection right now. */
			session_close(s, "shutdown");
			break;
		default:
			tell_shutdown(s);
			break;
		}
	}
	return told;
}

void
session_shutdown(struct loop *loop)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&loop->sessions)) != NULL) {
		s->job_pending = 0;	/* its worker is gone; done never runs */
		if (s->spool_open && s->spool.committed)
			s->spool_open = 0;	/* committed: the queue's now */
		session_free(s);
	}
}
