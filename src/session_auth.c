/*
 * session_auth.c - the AUTH command (RFC 4954) of the SMTP server.
 *
 * Every exchange holds an attempt of the client's address (IPv6 by /64)
 * from its start, and an attempt of the login as soon as the client has
 * named it (before the message that carries the password or proof reaches
 * SASL).  Attempts in flight count against the lock-out limits as failures
 * do (policy.c), so parallel sessions cannot check more guesses than the
 * limit; a session whose attempt does not fit waits for one to end.  An
 * exchange that ends without success in any way, cancelled or cut off,
 * counts as a failure.  Each failure waits out a tarpit before its 535.
 *
 * SASL steps may block (saslauthd, hashing) and run on the loop's auth
 * pool; while one runs the session reads nothing, so replies keep order.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "auth.h"
#include "auth_parse.h"
#include "config.h"
#include "metrics.h"
#include "session_int.h"

#define AUTH_WAIT_POLL_MS	50	/* re-check a full attempt budget */
#define AUTH_WAIT_MAX		10	/* seconds, then 454 */

static void	auth_feed(struct session *);
static void	auth_refuse(struct session *, enum policy_auth_result);

/* Frees the SASL state of the exchange (not the attempts it holds). */
static void
exchange_free(struct session *s)
{
	auth_conn_free(s->auth);
	s->auth = NULL;
	if (s->auth_in != NULL)
		explicit_bzero(s->auth_in, s->auth_inlen);
	free(s->auth_in);
	s->auth_in = NULL;
	s->auth_inlen = 0;
	if (s->auth_ir != NULL)
		explicit_bzero(s->auth_ir, s->auth_irlen);
	free(s->auth_ir);
	s->auth_ir = NULL;
	s->auth_irlen = 0;
	s->auth_has_ir = 0;
	s->auth_msgs = 0;
	s->auth_user[0] = '\0';
}

/* Gives back the attempts held; returns the tarpit delay of a failure. */
static int
attempt_end(struct session *s, enum policy_auth_result result, int *banned)
{
	int delay = 0;

	*banned = 0;
	if (s->auth_slot) {
		if (result != POLICY_AUTH_ABANDONED && result != POLICY_AUTH_OK)
			s->auth_failures++;
		delay = policy_auth_end(s->client_key, s->auth_user_slot ?
		    s->auth_user : NULL, result, s->auth_failures, banned);
	}
	s->auth_slot = 0;
	s->auth_user_slot = 0;
	return delay;
}

/*
 * An exchange that fails at once (cancelled, undecodable): counted like a
 * wrong password, answered with reply, and the address's lock-out ends the
 * session.
 */
static void
auth_fail_now(struct session *s, const char *why, const char *reply)
{
	int banned;

	attempt_end(s, POLICY_AUTH_FAILED, &banned);
	STAT_ADD(s->srv, auth_failed, 1);
	metrics_auth(s->mech, 0);
	log_info("session=%s client=%s event=auth result=fail mech=%s user=%s "
	    "reason=%s", s->id, s->client, s->mech,
	    log_str(s->auth_user[0] ? s->auth_user : NULL), log_str(why));
	exchange_free(s);
	s->state = S_CMD;
	s->verb = "AUTH";
	session_reply(s, "%s", reply);
	if (banned) {
		session_reply(s, "421 4.7.0 %s Too many failed authentications "
		    "from your address; try again later", s->conf->hostname);
		session_finish(s);
	}
}

void
session_auth_free(struct session *s)
{
	int banned;

	/* A client that goes away mid-exchange has had its guess. */
	attempt_end(s, POLICY_AUTH_FAILED, &banned);
	exchange_free(s);
	if (s->auth_wait != NULL)
		event_free(s->auth_wait);
	s->auth_wait = NULL;
	if (s->tarpit != NULL)
		event_free(s->tarpit);
	s->tarpit = NULL;
}

static void
auth_work(struct worker_job *job)
{
	struct session *s = SESSION_OF_JOB(job);

	s->auth_result = auth_step(s->auth, s->auth_start ? s->mech : NULL,
	    s->auth_in, s->auth_inlen, &s->auth_out, &s->auth_outlen,
	    &s->auth_why);
}

static void
auth_done(struct worker_job *job)
{
	struct session *s = SESSION_OF_JOB(job);
	char b64[AUTH_LINE_MAX], lower[SMTP_ADDR_MAX + 1];
	unsigned int n;
	const char *user;
	size_t i;
	int banned;

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
			attempt_end(s, POLICY_AUTH_ABANDONED, &banned);
			session_reply(s, "454 4.7.0 Temporary authentication failure");
			break;
		}
		session_reply(s, "334 %.*s", (int)n, b64);
		s->state = S_AUTH;
		break;
	case AUTH_OK:
		user = auth_username(s->auth);
		if (user == NULL || strlen(user) >= sizeof(s->login)) {
			attempt_end(s, POLICY_AUTH_ABANDONED, &banned);
			session_reply(s, "454 4.7.0 Temporary authentication failure");
			break;
		}
		/*
		 * Logins are held lowercased: a directory or a token that takes
		 * "Carol@Example.test" for carol@example.test must not make
		 * another login of it for the rules, limits and logs.
		 */
		for (i = 0; user[i] != '\0'; i++)
			lower[i] = (char)tolower((unsigned char)user[i]);
		lower[i] = '\0';
		user = lower;
		if (policy_check_scope(user, s->client, s->scope_why,
		    sizeof(s->scope_why)) != NULL) {
			/* Refused like a wrong password: no oracle. */
			snprintf(s->auth_user, sizeof(s->auth_user), "%s", user);
			s->auth_fail_why = s->scope_why;
			auth_refuse(s, POLICY_AUTH_FAILED);
			return;
		}
		strcpy(s->login, user);
		s->authed = 1;
		attempt_end(s, POLICY_AUTH_OK, &banned);
		STAT_ADD(s->srv, auth_ok, 1);
		metrics_auth(s->mech, 1);
		log_info("session=%s client=%s event=auth result=ok user=%s mech=%s",
		    s->id, s->client, log_str(s->login), s->mech);
		session_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_BADAUTH:
	case AUTH_BADPROT:
		/* A malformed proof is a guess that failed, too. */
		s->auth_fail_why = s->auth_why;
		auth_refuse(s, POLICY_AUTH_FAILED);
		return;
	case AUTH_NOMECH:
		attempt_end(s, POLICY_AUTH_ABANDONED, &banned);
		session_reply(s, "504 5.5.4 Authentication mechanism not available");
		break;
	case AUTH_TEMPFAIL:
		attempt_end(s, POLICY_AUTH_ABANDONED, &banned);
		log_warnx("session=%s client=%s event=auth result=tempfail mech=%s "
		    "reason=%s", s->id, s->client, s->mech, log_str(s->auth_why));
		session_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	}
	if (s->state != S_AUTH)
		exchange_free(s);
	session_resume(s);
}

static void
tarpit_done(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	s->verb = "AUTH";
	session_reply(s, "535 5.7.8 Authentication credentials invalid");
	if (s->tarpit_banned) {
		session_reply(s, "421 4.7.0 %s Too many failed authentications "
		    "from your address; try again later", s->conf->hostname);
		session_finish(s);
		return;
	}
	session_resume(s);
}

/*
 * A failed exchange: counted, logged, and its 535 waits out the tarpit
 * (without blocking the loop); a failure that locks the address out ends
 * the session after the 535.
 */
static void
auth_refuse(struct session *s, enum policy_auth_result result)
{
	struct timeval tv = { 0, 0 };
	int banned;

	tv.tv_sec = attempt_end(s, result, &banned);
	STAT_ADD(s->srv, auth_failed, 1);
	metrics_auth(s->mech, 0);
	log_info("session=%s client=%s event=auth result=fail mech=%s user=%s "
	    "reason=%s tarpit=%ld", s->id, s->client, s->mech,
	    log_str(s->auth_user[0] ? s->auth_user : NULL),
	    log_str(s->auth_fail_why), (long)tv.tv_sec);
	exchange_free(s);
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

/* Hands the step in s->auth_in to the auth pool. */
static void
auth_submit(struct session *s)
{
	s->auth_start = s->auth_msgs == 0 || (s->auth_msgs == 1 && s->auth_has_ir);
	s->job.work = auth_work;
	s->job.done = auth_done;
	s->job_pending = 1;
	s->state = S_BUSY;	/* input waits in the buffer meanwhile */
	worker_submit(s->loop->auth_pool, &s->job);
}

static void auth_wait_cb(evutil_socket_t, short, void *);

/*
 * Every attempt the limits allow is in flight: look again shortly, and
 * give up with 454 after AUTH_WAIT_MAX seconds.  Returns -1 after giving up.
 */
static int
auth_wait(struct session *s)
{
	struct timeval tv = { 0, AUTH_WAIT_POLL_MS * 1000 };
	int banned;

	if (s->auth_wait_until == 0)
		s->auth_wait_until = time(NULL) + AUTH_WAIT_MAX;
	if (time(NULL) >= s->auth_wait_until ||
	    (s->auth_wait == NULL && (s->auth_wait = evtimer_new(s->loop->base,
	    auth_wait_cb, s)) == NULL)) {
		attempt_end(s, POLICY_AUTH_ABANDONED, &banned);
		exchange_free(s);
		s->auth_wait_until = 0;
		s->verb = "AUTH";
		session_reply(s, "454 4.7.0 Too many authentication attempts in "
		    "progress; try again later");
		session_resume(s);
		return -1;
	}
	s->state = S_BUSY;
	bufferevent_disable(s->bev, EV_READ);
	evtimer_add(s->auth_wait, &tv);
	return 0;
}

static void auth_begin(struct session *);

static void
auth_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (!s->auth_slot)
		auth_begin(s);
	else
		auth_feed(s);
}

/* Takes an attempt of the client's address, then starts the exchange. */
static void
auth_begin(struct session *s)
{
	switch (policy_auth_begin(s->client_key)) {
	case POLICY_AUTH_BANNED:
		/* A session opened before the lock-out gets no more guesses. */
		exchange_free(s);
		s->auth_wait_until = 0;
		session_reply(s, "421 4.7.0 %s Too many failed authentications from "
		    "your address; try again later", s->conf->hostname);
		session_finish(s);
		return;
	case POLICY_AUTH_WAIT:
		auth_wait(s);
		return;
	default:
		break;
	}
	s->auth_slot = 1;
	s->auth_wait_until = 0;
	s->auth = auth_conn_new(s->sasl_local, s->sasl_remote, s->tls_bits,
	    s->conf);
	if (s->auth != NULL)
		auth_conn_set_external(s->auth, s->cert_login[0] ? s->cert_login :
		    NULL, s->cert_fp[0] == '\0' ? "no client certificate" :
		    !s->cert_verified ? "client certificate not verified" :
		    "client certificate not in auth.client_map");
	if (s->auth == NULL) {
		int banned;

		attempt_end(s, POLICY_AUTH_ABANDONED, &banned);
		exchange_free(s);
		session_reply(s, "454 4.7.0 Temporary authentication failure");
		session_resume(s);
		return;
	}
	if (!s->auth_has_ir) {
		s->auth_in = NULL;
		s->auth_inlen = 0;
		auth_submit(s);		/* the mechanism speaks first */
		return;
	}
	s->auth_in = s->auth_ir;
	s->auth_inlen = s->auth_irlen;
	s->auth_ir = NULL;
	s->auth_irlen = 0;
	auth_feed(s);
}

/*
 * A client message (decoded, in s->auth_in) for SASL.  The first one names
 * the login for every mechanism we offer: the login's attempt is taken
 * before SASL sees the password or proof that follows or comes with it.
 */
static void
auth_feed(struct session *s)
{
	char user[SMTP_ADDR_MAX + 1];

	if (s->auth_user[0] == '\0' && s->auth_msgs == 0 &&
	    auth_parse_login(s->mech, s->auth_in, s->auth_inlen, user,
	    sizeof(user)) == 0) {
		switch (policy_auth_login(user)) {
		case POLICY_AUTH_WAIT:
			auth_wait(s);
			return;
		case POLICY_AUTH_LOCKED:
			/*
			 * Its password is not checked, and the 535 looks like
			 * any other; the address pays for the attempt.
			 */
			s->auth_wait_until = 0;
			snprintf(s->auth_user, sizeof(s->auth_user), "%s", user);
			s->auth_fail_why = "login locked after repeated failures";
			auth_refuse(s, POLICY_AUTH_REFUSED);
			return;
		default:
			snprintf(s->auth_user, sizeof(s->auth_user), "%s", user);
			s->auth_user_slot = 1;
			break;
		}
	}
	s->auth_wait_until = 0;
	s->auth_msgs++;
	auth_submit(s);
}

void
session_cmd_auth(struct session *s, const struct smtp_cmd *c)
{
	const char *ir, *why;
	size_t irlen;
	unsigned int n = 0;

	if (!s->esmtp) {
		session_reply(s, "503 5.5.1 Send EHLO first");
		return;
	}
	if (s->authed) {
		session_reply(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (s->have_from) {
		session_reply(s, "503 5.5.1 AUTH not permitted during a mail "
		    "transaction");
		return;
	}
	if (smtp_parse_auth(c->arg, c->arglen, s->mech, &ir, &irlen, &why) == -1) {
		session_reply(s, "%s", why);
		return;
	}
	if (!auth_mechanism_ok(s->conf, s->mech)) {
		session_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	exchange_free(s);
	if (ir != NULL) {
		/* RFC 4954 §4: "=" is an empty initial response. */
		if (irlen == 1 && ir[0] == '=')
			irlen = 0;
		if ((s->auth_ir = malloc(irlen + 1)) == NULL ||
		    (irlen > 0 && auth_decode64(ir, irlen, s->auth_ir, irlen + 1,
		    &n) == -1)) {
			free(s->auth_ir);
			s->auth_ir = NULL;
			session_reply(s, "501 5.5.2 Cannot decode base64 response");
			return;
		}
		s->auth_irlen = n;
		s->auth_has_ir = 1;
	}
	s->auth_fail_why = NULL;
	auth_begin(s);
}

void
session_auth_line(struct session *s, const char *line, size_t len)
{
	unsigned int n = 0;

	if (len == 1 && line[0] == '*') {
		/* RFC 4954 §4; a SCRAM prober learns a salt, then cancels. */
		auth_fail_now(s, "cancelled by the client",
		    "501 5.7.0 Authentication cancelled");
		return;
	}
	if ((s->auth_in = malloc(len + 1)) == NULL ||
	    (len > 0 && auth_decode64(line, len, s->auth_in, len + 1, &n) == -1)) {
		free(s->auth_in);
		s->auth_in = NULL;
		auth_fail_now(s, "undecodable response",
		    "501 5.5.2 Cannot decode base64 response");
		return;
	}
	s->auth_inlen = n;
	auth_feed(s);
}
