/*
 * delivery.c - the outbound SMTP client.
 *
 * One job is one connection at a time: resolve the next hop, try each
 * address until one greets us, EHLO, STARTTLS as the host's security
 * demands (delivery_tls.c), AUTH to a smarthost, then every message of the
 * job in turn over that connection (RFC 5321 §4.1.4).  Replies are read whole (multi-line
 * included) and handled by the state that sent the command, so the order of
 * replies is the order of commands, with or without PIPELINING (RFC 2920).
 * A message is streamed from its queue file in chunks, dot-stuffed on the
 * way, as the socket drains: memory stays bounded whatever the size.
 *
 * Failures before the first MAIL move on to the next address; after it,
 * every recipient still pending is deferred with the reason.  Our own
 * reasons start with an enhanced status code (RFC 3463), remote ones are
 * the reply as received ("550 5.1.1 ..."), made printable.
 *
 * Not here: what to deliver when, retries, bounces (queue.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "auth.h"
#include "delivery.h"
#include "delivery_int.h"
#include "dns.h"
#include "log.h"
#include "spool.h"
#include "utf8.h"
#include "xtext.h"

#define REPLY_LINE_MAX	4096	/* RFC 5321 §4.5.3.1.5 says 512; be lenient */
#define REPLY_LINES_MAX	200
#define BODY_CHUNK	16384
#define BODY_LOW	(32 * 1024)	/* refill the output below this */
#define QUIT_TIMEOUT	10
#define CRED_MAX	256

/* For "lost connection with host[ip] while ..." */
static const char *const phase[] = {
	[ST_RESOLVE] = "resolving",		[ST_CONNECT] = "connecting",
	[ST_POLICY] = "looking up its MTA-STS policy",
	[ST_TLSA] = "looking up its TLSA records",
	[ST_BANNER] = "receiving the initial greeting",
	[ST_EHLO] = "sending EHLO",		[ST_HELO] = "sending HELO",
	[ST_STARTTLS] = "sending STARTTLS",
	[ST_TLS] = "performing the TLS handshake",
	[ST_AUTH] = "sending AUTH",		[ST_MAIL] = "sending MAIL FROM",
	[ST_RCPT] = "sending RCPT TO",		[ST_DATA] = "sending DATA",
	[ST_BODY] = "sending the message body",
	[ST_DOT_WAIT] = "sending the message body",
	[ST_DOT] = "sending end of data",	[ST_RSET] = "sending RSET",
	[ST_QUIT_WAIT] = "sending QUIT",
	[ST_QUIT] = "sending QUIT",		[ST_DONE] = "done",
};

struct event_base	*client_base;
struct delivery_conf	 client_conf;

static void	mail_start(struct client *);

/* Appends remote text made printable: it goes to logs and DSNs. */
static void
text_append(char *dst, size_t dstsize, const char *src, size_t len)
{
	size_t n = strlen(dst);

	for (; len > 0 && n + 1 < dstsize; src++, len--) {
		if (*src == '"' || *src == '\\')
			dst[n++] = '\'';
		else if (*src >= 0x20 && *src < 0x7f)
			dst[n++] = *src;
		else
			dst[n++] = '?';
	}
	dst[n] = '\0';
}

static const char *
relay_name(const struct delivery_job *job)
{
	return job->relay[0] != '\0' ? job->relay : "none";
}

static void
rcpt_set(const struct delivery_job *job, const struct delivery_msg *m,
    struct delivery_rcpt *r, enum delivery_result result, const char *why)
{
	static const char *const words[] = { "pending", "sent", "deferred",
	    "bounced" };

	r->result = result;
	r->reply[0] = '\0';
	text_append(r->reply, sizeof(r->reply), why, strlen(why));
	r->policy = job->policy;
	r->verified = job->tls_verified;
	log_info("queue=%s rcpt=%s relay=%s tls=%s verified=%s policy=%s "
	    "dkim=%s result=%s reply=%s", m->id, log_addr(r->addr),
	    log_str(relay_name(job)), log_str(job->tls),
	    job->tls_verified ? "yes" : "no", job->policy, log_str(m->dkim),
	    words[result], log_str(r->reply));
}

static enum delivery_result
result_of(int code)
{
	if (code / 100 == 2)
		return DELIVERY_OK;
	return code / 100 == 5 ? DELIVERY_PERMFAIL : DELIVERY_TEMPFAIL;
}

/* Gives every pending recipient of m the same result. */
static void
msg_set(const struct delivery_job *job, struct delivery_msg *m,
    enum delivery_result result, const char *why)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].result == DELIVERY_PENDING)
			rcpt_set(job, m, &m->rcpts[i], result, why);
}

static void
job_set(const struct delivery_job *job, enum delivery_result result,
    const char *why)
{
	size_t i;

	for (i = 0; i < job->nmsgs; i++)
		msg_set(job, job->msgs[i], result, why);
}

static size_t
next_pending(const struct delivery_msg *m, size_t i)
{
	while (i < m->nrcpts && m->rcpts[i].result != DELIVERY_PENDING)
		i++;
	return i;
}

static size_t
job_pending(const struct delivery_job *job)
{
	size_t i, j, n = 0;

	for (i = 0; i < job->nmsgs; i++)
		for (j = 0; j < job->msgs[i]->nrcpts; j++)
			n += job->msgs[i]->rcpts[j].result == DELIVERY_PENDING;
	return n;
}

static void
client_close(struct client *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);	/* the fd too, TLS or not */
		c->bev = NULL;
	}
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct delivery_job *job = c->job;

	job->client = NULL;
	delivery_tls_free(c);
	free(c);
	job->done(job, job->arg);
}

/* Every recipient has its result: the caller hears of it from the loop. */
static void
client_finish(struct client *c)
{
	client_close(c);
	c->state = ST_DONE;
	event_active(&c->done_ev, EV_TIMEOUT, 1);
}

/*
 * The session with this host is over.  Before the first MAIL another
 * address may do better (CONN_NEXT); after it, or when any address would
 * fail alike (CONN_STOP: credentials, policy), what is still pending waits
 * for the next attempt.
 */
void
delivery_conn_fail(struct client *c, int next_ok, const char *event,
    const char *fmt, ...)
{
	char why[sizeof(c->error)];
	va_list ap;
	int next;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->error[0] = '\0';
	text_append(c->error, sizeof(c->error), why, strlen(why));
	next = next_ok && !c->mail_sent && c->next < c->dns.nhosts;
	log_info("delivery=%s relay=%s event=%s error=%s action=%s", c->id,
	    log_str(relay_name(c->job)), event, log_str(c->error),
	    next ? "next-host" : "defer");
	client_close(c);
	if (next) {
		delivery_connect(c);
		return;
	}
	job_set(c->job, DELIVERY_TEMPFAIL, c->error);
	client_finish(c);
}

void
delivery_set_timeouts(struct client *c, int rd, int wr)
{
	struct timeval r = { rd, 0 }, w = { wr, 0 };

	bufferevent_set_timeouts(c->bev, rd > 0 ? &r : NULL, wr > 0 ? &w : NULL);
}

void
delivery_send_cmd(struct client *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;		/* cannot happen: addresses are bounded */
	if (log_debug_enabled())
		log_debug("delivery=%s relay=%s send=%s", c->id,
		    log_str(relay_name(c->job)), log_strn(line, n));
	evbuffer_add(out, line, n);
	evbuffer_add(out, "\r\n", 2);
	delivery_set_timeouts(c, client_conf.command_timeout, client_conf.command_timeout);
}

/* ---- Connecting ---- */

static void
peer_set(struct client *c, const struct dns_host *h)
{
	char ip[INET6_ADDRSTRLEN];

	if (getnameinfo((const struct sockaddr *)&h->addr, h->addrlen, ip,
	    sizeof(ip), NULL, 0, NI_NUMERICHOST) != 0)
		strcpy(ip, "unknown");
	snprintf(c->peer, sizeof(c->peer), "%.240s[%s]", h->name, ip);
	snprintf(c->job->relay, sizeof(c->job->relay), "%.280s:%d", c->peer,
	    c->job->route.port);
}

/*
 * The next address, once delivery_tls_host has said what TLS it needs
 * (which may take a TLSA look-up): opens the connection.
 */
void
delivery_connect_host(struct client *c)
{
	const struct dns_host *h = c->host;

	c->ext = 0;
	c->tls = 0;
	strcpy(c->job->tls, "none");
	c->job->tls_verified = 0;
	c->job->policy = c->policy;	/* for the log and submitctl show */
	c->state = ST_CONNECT;
	c->bev = bufferevent_socket_new(client_base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev != NULL) {
		bufferevent_setcb(c->bev, delivery_readcb, delivery_writecb,
		    delivery_eventcb, c);
		bufferevent_setwatermark(c->bev, EV_READ, 0, INPUT_MAX);
		delivery_set_timeouts(c, client_conf.connect_timeout,
		    client_conf.connect_timeout);
		if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&h->addr,
		    h->addrlen) == 0)
			return;	/* the outcome comes to delivery_eventcb */
	}
	snprintf(c->error, sizeof(c->error), "4.4.1 connect to %s: %s",
	    c->job->relay, strerror(errno));
	log_info("delivery=%s relay=%s event=connect-failed error=%s",
	    c->id, log_str(c->job->relay), log_str(c->error));
	client_close(c);
	delivery_connect(c);
}

/* Tries the next address there is, or defers what is pending. */
void
delivery_connect(struct client *c)
{
	if (c->next < c->dns.nhosts) {
		c->host = &c->dns.hosts[c->next++];
		peer_set(c, c->host);
		delivery_tls_host(c);	/* then delivery_connect_host */
		return;
	}
	if (c->error[0] == '\0')
		strcpy(c->error, "4.4.4 no address to deliver to");
	job_set(c->job, DELIVERY_TEMPFAIL, c->error);
	client_finish(c);
}

void
delivery_job_fail(struct client *c, enum delivery_result result,
    const char *why)
{
	snprintf(c->error, sizeof(c->error), "%s", why);
	log_info("delivery=%s host=%s event=policy-failed error=%s", c->id,
	    log_str(c->job->route.host), log_str(c->error));
	job_set(c->job, result, c->error);
	client_finish(c);
}

static void
dns_done(const struct dns_result *res, void *arg)
{
	struct client *c = arg;
	const struct delivery_route *rt = &c->job->route;
	enum delivery_result result = DELIVERY_TEMPFAIL;

	switch (res->status) {
	case DNS_OK:
		c->dns = *res;
		c->mx_secure = res->mx_secure;
		if (delivery_tls_filter(c) == 0)
			delivery_connect(c);
		return;
	case DNS_NULLMX:
		/* RFC 7505 §4.2; a smarthost with a null MX is a config error. */
		if (!rt->configured)
			result = DELIVERY_PERMFAIL;
		snprintf(c->error, sizeof(c->error), "%s domain does not accept mail "
		    "(null MX)", rt->configured ? "4.4.4" : "5.1.10");
		break;
	case DNS_NOTFOUND:
		/*
		 * A name from our configuration (smarthost, route): a typo
		 * there is the admin's to fix, mail must not bounce for it.
		 */
		if (!rt->configured) {
			result = DELIVERY_PERMFAIL;
			snprintf(c->error, sizeof(c->error),
			    "5.1.2 domain not found (%s)", res->error);
		} else
			snprintf(c->error, sizeof(c->error),
			    "4.4.4 next-hop host not found (%s)", res->error);
		break;
	case DNS_TEMPFAIL:
		snprintf(c->error, sizeof(c->error), "4.4.3 DNS lookup failed (%s)",
		    res->error);
		break;
	}
	log_info("delivery=%s host=%s event=dns-failed error=%s", c->id,
	    log_str(rt->host), log_str(c->error));
	job_set(c->job, result, c->error);
	client_finish(c);
}

/* ---- Replies ---- */

/* The keyword's parameters when line starts with it, else NULL. */
static const char *
keyword(const char *line, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(line, kw, n) != 0)
		return NULL;
	if (line[n] == '\0')
		return line + n;
	return line[n] == ' ' || line[n] == '=' ? line + n + 1 : NULL;
}

static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (;;) {
		list += strspn(list, " ");
		if (*list == '\0')
			return 0;
		if (strncasecmp(list, word, n) == 0 &&
		    (list[n] == ' ' || list[n] == '\0'))
			return 1;
		list += strcspn(list, " ");
	}
}

/* One line of a 250 reply to EHLO, after the greeting (RFC 5321 §4.1.1.1). */
static void
ehlo_line(struct client *c, const char *text)
{
	const char *p;

	if (keyword(text, "STARTTLS") != NULL)		/* RFC 3207 */
		c->ext |= EXT_STARTTLS;
	else if (keyword(text, "PIPELINING") != NULL)	/* RFC 2920 */
		c->ext |= EXT_PIPELINING;
	else if (keyword(text, "8BITMIME") != NULL)	/* RFC 6152 */
		c->ext |= EXT_8BITMIME;
	else if (keyword(text, "SIZE") != NULL)		/* RFC 1870 */
		c->ext |= EXT_SIZE;
	else if (keyword(text, "DSN") != NULL)		/* RFC 3461 */
		c->ext |= EXT_DSN;
	else if (keyword(text, "SMTPUTF8") != NULL)	/* RFC 6531 */
		c->ext |= EXT_SMTPUTF8;
	else if (keyword(text, "REQUIRETLS") != NULL)	/* RFC 8689 */
		c->ext |= EXT_REQUIRETLS;
	else if (keyword(text, "CHUNKING") != NULL)	/* RFC 3030 */
		c->ext |= EXT_CHUNKING;
	else if ((p = keyword(text, "AUTH")) != NULL) {	/* RFC 4954 */
		if (has_word(p, "PLAIN"))
			c->ext |= EXT_AUTH_PLAIN;
		if (has_word(p, "LOGIN"))
			c->ext |= EXT_AUTH_LOGIN;
	}
}

static int
reply_line_ok(const char *line, size_t len)
{
	if (len < 3 || len > REPLY_LINE_MAX || line[0] < '2' || line[0] > '5' ||
	    !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]))
		return 0;
	return len == 3 || line[3] == ' ' || line[3] == '-';
}

/*
 * Reads one whole reply into c->code and c->reply: 1 when there is one,
 * 0 when more input is needed, -1 when the server speaks no SMTP.
 * RFC 5321 §4.2.1: "NNN-" continues a reply, "NNN " ends it.
 */
static int
reply_read(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	const char *text;
	char *line;
	size_t len;
	int more;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		if (!reply_line_ok(line, len) || c->nlines >= REPLY_LINES_MAX ||
		    (c->nlines > 0 && atoi(line) != c->code)) {
			free(line);
			return -1;
		}
		more = len > 3 && line[3] == '-';
		text = len > 4 ? line + 4 : "";
		if (c->nlines++ == 0) {
			c->code = atoi(line);
			c->reply[0] = '\0';
			text_append(c->reply, sizeof(c->reply), line, 3);
		} else if (c->state == ST_EHLO && c->code == 250)
			ehlo_line(c, text);
		text_append(c->reply, sizeof(c->reply), " ", 1);
		text_append(c->reply, sizeof(c->reply), text, strlen(text));
		free(line);
		if (!more) {
			c->nlines = 0;
			return 1;
		}
	}
	return evbuffer_get_length(in) > REPLY_LINE_MAX ? -1 : 0;
}

/* ---- EHLO, STARTTLS, AUTH ---- */

void
delivery_send_ehlo(struct client *c)
{
	c->ext = 0;
	delivery_send_cmd(c, "EHLO %s", client_conf.hostname);
	c->state = ST_EHLO;
}

static void
on_banner(struct client *c)
{
	if (c->code / 100 != 2) {
		/* RFC 5321 §3.1: this host will not talk; another may. */
		delivery_conn_fail(c, CONN_NEXT, "rejected", "%s", c->reply);
		return;
	}
	delivery_send_ehlo(c);
}

/* Sends prefix and base64(data): never logged, and wiped from our stack. */
static int
send_secret(struct client *c, const char *prefix, const char *data,
    size_t len)
{
	char b64[(2 * CRED_MAX + 2) * 4 / 3 + 4];
	unsigned int n;
	int rc = -1;

	if (len <= 2 * CRED_MAX + 2 &&
	    auth_encode64(data, len, b64, sizeof(b64), &n) == 0) {
		evbuffer_add_printf(bufferevent_get_output(c->bev), "%s%.*s\r\n",
		    prefix, (int)n, b64);
		delivery_set_timeouts(c, client_conf.command_timeout,
		    client_conf.command_timeout);
		rc = 0;
	}
	explicit_bzero(b64, sizeof(b64));
	return rc;
}

/* RFC 4616: NUL authcid NUL passwd, as an initial response (RFC 4954 §4). */
static int
auth_plain(struct client *c, const char *user, const char *pass)
{
	char raw[2 * CRED_MAX + 2];
	size_t ulen = strlen(user), plen = strlen(pass);
	int rc;

	if (ulen > CRED_MAX || plen > CRED_MAX)
		return -1;
	raw[0] = '\0';
	memcpy(raw + 1, user, ulen);
	raw[1 + ulen] = '\0';
	memcpy(raw + 2 + ulen, pass, plen);
	rc = send_secret(c, "AUTH PLAIN ", raw, 2 + ulen + plen);
	explicit_bzero(raw, sizeof(raw));
	return rc;
}

void
delivery_after_tls(struct client *c)
{
	const struct delivery_route *rt = &c->job->route;
	int rc = 0;

	if (rt->username == NULL) {
		mail_start(c);
		return;
	}
	if (!c->tls || !c->job->tls_verified) {
		/* config.c demands tls = "verify" with credentials; still. */
		delivery_conn_fail(c, CONN_STOP, "auth-failed",
		    "4.7.0 refusing to send credentials to %s over a connection "
		    "that is not verified TLS", c->peer);
		return;
	}
	c->state = ST_AUTH;
	c->auth_step = 0;
	if (c->ext & EXT_AUTH_PLAIN) {
		rc = auth_plain(c, rt->username, rt->password != NULL ?
		    rt->password : "");
		c->auth_step = 2;	/* no 334 expected */
	} else if (c->ext & EXT_AUTH_LOGIN)
		delivery_send_cmd(c, "AUTH LOGIN");
	else {
		delivery_conn_fail(c, CONN_STOP, "auth-failed",
		    "4.7.0 %s offers no AUTH mechanism we support "
		    "(PLAIN, LOGIN)", c->peer);
		return;
	}
	if (rc == -1)
		delivery_conn_fail(c, CONN_STOP, "auth-failed",
		    "4.7.0 username or password too long");
}

static void
on_auth(struct client *c)
{
	const struct delivery_route *rt = &c->job->route;
	const char *s;

	if (c->code == 235) {
		log_info("delivery=%s relay=%s event=auth result=ok user=%s mech=%s",
		    c->id, log_str(c->job->relay), log_str(rt->username),
		    c->ext & EXT_AUTH_PLAIN ? "PLAIN" : "LOGIN");
		mail_start(c);
	} else if (c->code == 334 && c->auth_step < 2) {
		/* AUTH LOGIN prompts for the username, then the password. */
		s = c->auth_step++ == 0 ? rt->username :
		    rt->password != NULL ? rt->password : "";
		if (send_secret(c, "", s, strlen(s)) == -1)
			delivery_conn_fail(c, CONN_STOP, "auth-failed",
			    "4.7.0 username or password too long");
	} else {
		/* A wrong password is the admin's to fix: defer, never bounce. */
		delivery_conn_fail(c, CONN_STOP, "auth-failed",
		    "4.7.0 authentication to %s failed: %s", c->peer,
		    c->reply);
	}
}

static void
on_ehlo(struct client *c)
{
	if (c->code / 100 == 2) {
		delivery_tls_ehlo_done(c);
	} else if (c->code / 100 == 5) {
		/* RFC 5321 §3.2: an old server; no extensions then. */
		c->ext = 0;
		delivery_send_cmd(c, "HELO %s", client_conf.hostname);
		c->state = ST_HELO;
	} else
		delivery_conn_fail(c, CONN_NEXT, "rejected", "%s", c->reply);
}

static void
on_helo(struct client *c)
{
	if (c->code / 100 == 2)
		delivery_tls_ehlo_done(c);
	else
		delivery_conn_fail(c, CONN_NEXT, "rejected", "%s", c->reply);
}

/* ---- Mail transactions (RFC 5321 §3.3) ---- */

static struct delivery_msg *
msg_current(struct client *c)
{
	return c->job->msgs[c->mi];
}

static void
send_rcpt(struct client *c)
{
	struct delivery_msg *m = msg_current(c);
	struct delivery_rcpt *r = &m->rcpts[c->si];
	char notify[64] = "", orcpt[SMTP_ORCPT_MAX + 8] = "";

	/* RFC 3461 §5.2: passed on where DSN is offered, else ours to tell. */
	if ((c->ext & EXT_DSN) && r->notify != 0) {
		memcpy(notify, " NOTIFY=", 8);
		spool_notify_text(r->notify, notify + 8, sizeof(notify) - 8);
	}
	if ((c->ext & EXT_DSN) && r->orcpt != NULL) {
		memcpy(orcpt, " ORCPT=", 7);
		/* RFC 6533 §3: raw UTF-8 only to a hop that speaks SMTPUTF8. */
		if ((c->ext & EXT_SMTPUTF8) ||
		    utf8_is_ascii(r->orcpt, strlen(r->orcpt)))
			snprintf(orcpt + 7, sizeof(orcpt) - 7, "%s", r->orcpt);
		else if (xtext_utf8_addr(r->orcpt, orcpt + 7, SMTP_ORCPT_MAX + 1) ==
		    -1)
			orcpt[0] = '\0';	/* too long once escaped: left out */
	}
	r->relayed = !(c->ext & EXT_DSN);
	delivery_send_cmd(c, "RCPT TO:<%s>%s%s", r->addr, notify, orcpt);
	c->si = next_pending(m, c->si + 1);
	c->nsent++;
}

/*
 * What the message needs of this connection, or NULL: SMTPUTF8 where it
 * needs it (RFC 6531 §3.4), and for REQUIRETLS (RFC 8689 §4.2.1) TLS with a
 * verified certificate, a next hop found securely (a configured one, a
 * DNSSEC-validated MX, MTA-STS in force or DANE) and REQUIRETLS offered.
 */
static const char *
msg_refusal(const struct client *c, const struct delivery_msg *m)
{
	if ((m->ext & SPOOL_EXT_UTF8) && !(c->ext & EXT_SMTPUTF8))
		return "5.6.7 the next hop does not offer SMTPUTF8, which this "
		    "message needs (RFC 6531)";
	if (!(m->ext & SPOOL_EXT_REQUIRETLS))
		return NULL;
	if (!c->tls || !c->job->tls_verified)
		return "5.7.10 REQUIRETLS: the next hop has no TLS with a "
		    "verified certificate";
	if (!c->job->route.configured && !c->mx_secure &&
	    c->sts_mode != MTA_STS_ENFORCE && c->level != HOST_DANE)
		return "5.7.10 REQUIRETLS: the next hop was not found securely "
		    "(no DNSSEC, MTA-STS or DANE)";
	if (!(c->ext & EXT_REQUIRETLS))
		return "5.7.10 REQUIRETLS: the next hop does not offer REQUIRETLS";
	return NULL;
}

static void
quit(struct client *c)
{
	/*
	 * The connection stays open until the outcomes it brought are on disk:
	 * a next hop that still sees it open is the bound of what a crash may
	 * repeat.
	 */
	if (c->job->unrecorded > 0) {
		c->state = ST_QUIT_WAIT;
		delivery_set_timeouts(c, 0, client_conf.command_timeout);
		return;
	}
	delivery_send_cmd(c, "QUIT");
	delivery_set_timeouts(c, QUIT_TIMEOUT, QUIT_TIMEOUT);
	c->state = ST_QUIT;
}

/* Starts the transaction of the first message with work left, or QUITs. */
static void
mail_start(struct client *c)
{
	struct delivery_msg *m;
	char size[40] = "", dsn[SMTP_ENVID_MAX + 32] = "";
	const char *why;
	size_t i;

	for (;;) {
		while (c->mi < c->job->nmsgs &&
		    next_pending(msg_current(c), 0) == msg_current(c)->nrcpts)
			c->mi++;
		if (c->mi == c->job->nmsgs) {
			quit(c);
			return;
		}
		m = msg_current(c);
		if ((why = msg_refusal(c, m)) == NULL)
			break;
		msg_set(c->job, m, DELIVERY_PERMFAIL, why);
		c->mi++;
	}
	c->mail_sent = 1;
	c->mail_ok = 0;
	c->bdat = 0;
	c->nrcpt = c->nsent = c->nreplied = c->accepted = 0;
	for (i = next_pending(m, 0); i < m->nrcpts; i = next_pending(m, i + 1))
		c->nrcpt++;
	c->si = c->ri = next_pending(m, 0);
	if (c->ext & EXT_SIZE)		/* RFC 1870 §6 */
		snprintf(size, sizeof(size), " SIZE=%lld", (long long)m->body_size);
	if ((c->ext & EXT_DSN) && m->ret != SMTP_RET_NONE)
		snprintf(dsn, sizeof(dsn), " RET=%s", m->ret == SMTP_RET_FULL ?
		    "FULL" : "HDRS");
	if ((c->ext & EXT_DSN) && m->envid != NULL)
		snprintf(dsn + strlen(dsn), sizeof(dsn) - strlen(dsn), " ENVID=%s",
		    m->envid);
	delivery_send_cmd(c, "MAIL FROM:<%s>%s%s%s%s%s", m->from,
	    c->ext & EXT_8BITMIME ? " BODY=8BITMIME" : "", size, dsn,
	    (m->ext & SPOOL_EXT_SMTPUTF8) && (c->ext & EXT_SMTPUTF8) ?
	    " SMTPUTF8" : "", m->ext & SPOOL_EXT_REQUIRETLS ? " REQUIRETLS" : "");
	c->state = ST_MAIL;
	/* RFC 2920 §3.1: MAIL and RCPTs may go in one group. */
	if (c->ext & EXT_PIPELINING)
		while (c->nsent < c->nrcpt)
			send_rcpt(c);
}

/* Moves on to the next message, after RSET when a transaction is open. */
static void
mail_next(struct client *c, int rset)
{
	size_t i;

	c->mi++;
	for (i = c->mi; rset && i < c->job->nmsgs; i++)
		if (next_pending(c->job->msgs[i], 0) < c->job->msgs[i]->nrcpts) {
			delivery_send_cmd(c, "RSET");
			c->state = ST_RSET;
			return;
		}
	mail_start(c);
}

static void
on_mail(struct client *c)
{
	if (c->code / 100 == 2) {
		c->mail_ok = 1;
		if (!(c->ext & EXT_PIPELINING))
			send_rcpt(c);
		c->state = ST_RCPT;
		return;
	}
	msg_set(c->job, msg_current(c), result_of(c->code), c->reply);
	if (c->nsent > 0)
		c->state = ST_RCPT;	/* their replies still come */
	else
		mail_next(c, 0);
}

static void	body_begin(struct client *);

/*
 * RFC 3030: the message as one chunk of its exact size, without
 * dot-stuffing and without waiting for a 354.  The queue file's message
 * ends with CRLF (both readers see to it); should it not, CRLF is added
 * and counted.
 */
static void
bdat_start(struct client *c)
{
	struct delivery_msg *m = msg_current(c);
	char tail[2];

	c->bdat = 1;
	c->bdat_crlf = !(m->body_size >= 2 && pread(m->fd, tail, 2,
	    m->body_offset + m->body_size - 2) == 2 &&
	    memcmp(tail, "\r\n", 2) == 0);
	delivery_send_cmd(c, "BDAT %lld LAST", (long long)m->body_size +
	    (c->bdat_crlf ? 2 : 0));
	body_begin(c);
}

static void
on_rcpt(struct client *c)
{
	struct delivery_msg *m = msg_current(c);

	c->nreplied++;
	if (c->mail_ok) {
		/* Accepted ones stay pending until the final dot answers. */
		if (c->code / 100 == 2)
			c->accepted++;
		else
			rcpt_set(c->job, m, &m->rcpts[c->ri], result_of(c->code),
			    c->reply);
		c->ri = next_pending(m, c->ri + 1);
	}
	if (c->nreplied < c->nsent)
		return;
	if (c->mail_ok && c->nsent < c->nrcpt) {
		send_rcpt(c);
		return;
	}
	if (!c->mail_ok)
		mail_next(c, 0);
	else if (c->accepted == 0)
		mail_next(c, 1);
	else if (c->ext & EXT_CHUNKING)
		bdat_start(c);
	else {
		delivery_send_cmd(c, "DATA");
		c->state = ST_DATA;
	}
}

/* RFC 5321 §4.5.2: a line that starts with "." gets one more. */
static void
dot_stuff(struct client *c, const char *p, size_t n, struct evbuffer *out)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		if (c->bol && p[i] == '.') {
			evbuffer_add(out, p + start, i - start);
			evbuffer_add(out, ".", 1);
			start = i;
		}
		c->bol = p[i] == '\n';
	}
	evbuffer_add(out, p + start, n - start);
	if (n >= 2)
		memcpy(c->tail, p + n - 2, 2);
	else if (n == 1) {
		c->tail[0] = c->tail[1];
		c->tail[1] = p[0];
	}
}

/*
 * RFC 5321 §4.1.1.4: CRLF "." CRLF ends the data.  With BDAT the last
 * octet of the chunk (or the CRLF added) plays that part: it was held back.
 */
static void
send_dot(struct client *c)
{
	struct delivery_msg *m = msg_current(c);
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (c->bdat)
		evbuffer_add(out, c->bdat_crlf ? "\r\n" : &c->tail[1],
		    c->bdat_crlf ? 2 : 1);
	else {
		if (m->body_size > 0 && memcmp(c->tail, "\r\n", 2) != 0)
			evbuffer_add(out, "\r\n", 2);
		evbuffer_add(out, ".\r\n", 3);
	}
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	delivery_set_timeouts(c, client_conf.data_timeout, client_conf.command_timeout);
	c->state = ST_DOT;
}

void
delivery_recorded(struct delivery_job *job)
{
	struct client *c = job->client;

	if (job->unrecorded > 0)
		job->unrecorded--;
	if (c != NULL && job->unrecorded == 0 && c->state == ST_DOT_WAIT) {
		send_dot(c);
		/*
		 * A reply may already wait (a next hop that refused the BDAT
		 * chunk before its last octet): read it from the loop, not
		 * from here, where the queue walks its waiters.
		 */
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
	}
	else if (c != NULL && job->unrecorded == 0 && c->state == ST_QUIT_WAIT)
		quit(c);
}

/*
 * Fills the output up to BODY_HIGH from the queue file; the write callback
 * calls again below BODY_LOW.  Then the final dot, once the messages this
 * connection delivered before are known to be on disk as delivered: so a
 * crash repeats at most the one message in flight per connection.
 */
static void
body_pump(struct client *c)
{
	struct delivery_msg *m = msg_current(c);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char buf[BODY_CHUNK];
	ssize_t n;

	while (c->left > 0 && evbuffer_get_length(out) < BODY_HIGH) {
		n = pread(m->fd, buf, c->left < BODY_CHUNK ? (size_t)c->left :
		    BODY_CHUNK, c->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(c->error, sizeof(c->error), "4.3.0 cannot read "
			    "queue file %s: %s", m->id, n == 0 ?
			    "shorter than expected" : strerror(errno));
			msg_set(c->job, m, DELIVERY_TEMPFAIL, c->error);
			delivery_conn_fail(c, CONN_STOP, "local-error",
			    "4.3.0 delivery aborted after a local error");
			return;
		}
		if (c->bdat) {
			size_t keep = c->left == n && !c->bdat_crlf ? 1 : 0;

			evbuffer_add(out, buf, (size_t)n - keep);
			c->tail[1] = buf[n - 1];
		} else
			dot_stuff(c, buf, n, out);
		c->off += n;
		c->left -= n;
	}
	if (c->left > 0)
		return;
	if (c->job->unrecorded > 0) {
		c->state = ST_DOT_WAIT;
		delivery_set_timeouts(c, 0, client_conf.command_timeout);
		return;
	}
	send_dot(c);
}

static void
on_data(struct client *c)
{
	struct delivery_msg *m = msg_current(c);

	if (c->code != 354) {
		msg_set(c->job, m, c->code / 100 == 5 ? DELIVERY_PERMFAIL :
		    DELIVERY_TEMPFAIL, c->reply);
		mail_next(c, 1);
		return;
	}
	body_begin(c);
}

/* The message streams out of its queue file (body_pump). */
static void
body_begin(struct client *c)
{
	struct delivery_msg *m = msg_current(c);

	c->off = m->body_offset;
	c->left = m->body_size;
	c->bol = 1;
	memcpy(c->tail, "\r\n", 2);
	c->state = ST_BODY;
	/* Nothing to read while we send; a stalled write still times out. */
	delivery_set_timeouts(c, 0, client_conf.command_timeout);
	bufferevent_setwatermark(c->bev, EV_WRITE, BODY_LOW, 0);
	body_pump(c);
}

static void
on_dot(struct client *c)
{
	struct delivery_msg *m = msg_current(c);

	/* Accepted recipients are the ones still pending. */
	msg_set(c->job, m, result_of(c->code), c->reply);
	if (result_of(c->code) == DELIVERY_OK && c->job->msg_done != NULL) {
		/* The next hop has it: the queue writes that down now. */
		c->job->unrecorded++;
		c->job->msg_done(c->job, m, c->job->arg);
	}
	mail_next(c, 0);
}

static void
on_rset(struct client *c)
{
	if (c->code / 100 == 2)
		mail_start(c);
	else
		delivery_conn_fail(c, CONN_NEXT, "rejected",
		    "4.5.0 %s refused RSET: %s", c->peer, c->reply);
}

/* ---- Events ---- */

static void
dispatch(struct client *c)
{
	switch (c->state) {
	case ST_BANNER:		on_banner(c);	break;
	case ST_EHLO:		on_ehlo(c);	break;
	case ST_HELO:		on_helo(c);	break;
	case ST_STARTTLS:	delivery_tls_on_starttls(c); break;
	case ST_AUTH:		on_auth(c);	break;
	case ST_MAIL:		on_mail(c);	break;
	case ST_RCPT:		on_rcpt(c);	break;
	case ST_DATA:		on_data(c);	break;
	case ST_DOT:		on_dot(c);	break;
	case ST_RSET:		on_rset(c);	break;
	case ST_QUIT:		client_finish(c); break;
	default:		break;
	}
}

static int
awaits_reply(enum state s)
{
	return s != ST_RESOLVE && s != ST_CONNECT && s != ST_TLS &&
	    s != ST_BODY && s != ST_DOT_WAIT && s != ST_QUIT_WAIT && s != ST_DONE;
}

static void
client_process(struct client *c)
{
	int r;

	while (c->bev != NULL && awaits_reply(c->state)) {
		if ((r = reply_read(c)) == 0)
			return;
		if (r == -1) {
			delivery_conn_fail(c, CONN_NEXT, "protocol-error",
			    "4.5.0 protocol error with %s while %s: "
			    "malformed reply", c->peer, phase[c->state]);
			return;
		}
		log_debug("delivery=%s relay=%s reply=%s", c->id,
		    log_str(c->job->relay), log_str(c->reply));
		/* RFC 5321 §3.8: 421 ends the session whatever was asked. */
		if (c->code == 421 && c->state != ST_QUIT) {
			delivery_conn_fail(c, CONN_NEXT, "rejected", "%s", c->reply);
			return;
		}
		dispatch(c);
	}
}

void
delivery_readcb(struct bufferevent *bev, void *arg)
{
	client_process(arg);
}

void
delivery_writecb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->state != ST_BODY)
		return;
	body_pump(c);
	if (c->state == ST_DOT)
		client_process(c);	/* an early reply may wait */
}

void
delivery_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		if (c->state == ST_TLS) {
			delivery_tls_done(c);
			return;
		}
		log_debug("delivery=%s relay=%s event=connected", c->id,
		    log_str(c->job->relay));
		/* Commands are small and each waits for its reply: no Nagle. */
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if (delivery_tls_implicit(c))
			return;		/* RFC 8314: the greeting comes over TLS */
		c->state = ST_BANNER;
		delivery_set_timeouts(c, client_conf.command_timeout,
		    client_conf.command_timeout);
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (c->state == ST_CONNECT)
		delivery_conn_fail(c, CONN_NEXT, "connect-failed", "4.4.1 connect to %s: %s",
		    c->job->relay, what & BEV_EVENT_TIMEOUT ?
		    "Connection timed out" : strerror(err));
	else if (c->state == ST_TLS)
		delivery_tls_fail(c, what);
	else if (c->state == ST_QUIT)
		client_finish(c);
	else if (what & BEV_EVENT_TIMEOUT)
		delivery_conn_fail(c, CONN_NEXT, "timeout",
		    "4.4.2 conversation with %s timed out while %s", c->peer,
		    phase[c->state]);
	else
		delivery_conn_fail(c, CONN_NEXT, "lost-connection",
		    "4.4.2 lost connection with %s while %s", c->peer,
		    phase[c->state]);
}

void
delivery_init(struct event_base *base, const struct delivery_conf *conf)
{
	client_base = base;
	client_conf = *conf;
}

static void
nomem_cb(evutil_socket_t fd, short what, void *arg)
{
	struct delivery_job *job = arg;

	job->done(job, job->arg);
}

void
delivery_start(struct delivery_job *job)
{
	struct timeval now = { 0, 0 };
	struct client *c;

	job->relay[0] = '\0';
	strcpy(job->tls, "none");
	job->tls_verified = 0;
	job->tls_failed = 0;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		job_set(job, DELIVERY_TEMPFAIL, "4.3.0 out of memory");
		if (event_base_once(client_base, -1, EV_TIMEOUT, nomem_cb, job,
		    &now) == -1)
			log_errx("event=delivery error=\"job lost: out of memory\"");
		return;
	}
	c->job = job;
	job->client = c;
	job->unrecorded = 0;
	job->policy = c->policy = "none";
	snprintf(c->id, sizeof(c->id), "%08X", arc4random());
	event_assign(&c->done_ev, client_base, -1, 0, done_cb, c);
	c->state = ST_RESOLVE;
	log_debug("delivery=%s host=%s port=%d mx=%d tls=%d msgs=%zu", c->id,
	    log_str(job->route.host), job->route.port, job->route.mx,
	    job->route.tls, job->nmsgs);
	if (job_pending(job) == 0)
		client_finish(c);
	else
		delivery_tls_policy(c);	/* then delivery_resolve */
}

void
delivery_resolve(struct client *c)
{
	c->state = ST_RESOLVE;
	dns_resolve(c->job->route.host, c->job->route.mx, c->job->route.port,
	    dns_done, c);
}
