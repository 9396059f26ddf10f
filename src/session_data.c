/*
 * session_data.c - the DATA command (RFC 5321 §4.1.1.4) of the SMTP server.
 *
 * The dot-stuffed stream goes through the pure reader (message.c), which
 * refuses the smuggling tricks; the header section is held (up to
 * limits.header_size) until it is complete, checked (From:, Sender: and
 * Resent-* must name addresses the login owns) and rewritten (headers.c,
 * then our own Received, Message-ID and Date); everything after streams to
 * the spool file, so memory stays fixed whatever the size.  At the final
 * dot the file is committed on a worker (write, fsync, rename, directory
 * fsync) and only then does the client hear "250 queued".  A full disk is
 * "452 4.3.1", never a lost message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "abuse.h"
#include "config.h"
#include "metrics.h"
#include "dkim.h"
#include "headers.h"
#include "queue.h"
#include "session_int.h"

#define DATA_CHUNK	16384

static void	headers_end(struct session *, size_t, int);

/* The reply for a spool failure with errno e. */
static const char *
spool_error_reply(int e)
{
	return SPOOL_ERRNO_FULL(e) ? "452 4.3.1 Insufficient system storage" :
	    "451 4.3.0 Queue file write error";
}

/*
 * The spool file and the reader for a message that begins now; a reply to
 * refuse it with, or NULL.
 */
static const char *
message_open(struct session *s)
{
	struct spool_envelope env;

	if (!s->have_from)
		return "503 5.5.1 Need MAIL command first";
	if (s->nrcpts == 0)
		return "554 5.5.1 No valid recipients";
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
	env.ext = &s->ext;
	if (spool_open(&s->spool, &env) == -1) {
		log_errx("session=%s event=spool-open error=%s", s->id,
		    log_str(strerror(errno)));
		return spool_error_reply(errno);
	}
	s->spool_open = 1;
	msg_reader_init(&s->reader, s->conf->message_size);
	s->reader.normalize_lf = s->conf->bare_lf_normalize;
	if ((s->hdr = malloc(s->conf->header_size)) == NULL) {
		session_txn_reset(s);
		return "452 4.3.0 Insufficient system resources";
	}
	s->hdrlen = 0;
	s->in_headers = 1;
	s->refusal = NULL;
	return NULL;
}

void
session_cmd_data(struct session *s, const struct smtp_cmd *c)
{
	const char *why;

	if (s->bdat) {	/* RFC 3030 §2: no DATA inside a BDAT transaction */
		session_reply(s, "503 5.5.1 BDAT in progress; send BDAT or RSET");
		return;
	}
	if ((why = message_open(s)) != NULL) {
		session_reply(s, "%s", why);
		return;
	}
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->state = S_DATA;
	session_set_timeout(s, s->conf->timeout_data);
}

/*
 * The message goes to the journal's committer from here, and comes back
 * when its batch is on disk: no thread switch of its own.  A message to
 * sign takes a worker first (RSA is too slow for the loop).
 */
static void	commit_start(struct session *);
static void	commit_finish(struct session *);

static void
sign_work(struct worker_job *job)
{
	struct session *s = SESSION_OF_JOB(job);
	const char *fields;
	size_t len;

	s->dkim_failed = dkim_finish(s->dkim) == -1;
	if (!s->dkim_failed) {
		fields = dkim_fields(s->dkim, &len);
		spool_patch(&s->spool, s->dkim_offset, fields, len);
	}
}

static void
sign_done(struct worker_job *job)
{
	struct session *s = SESSION_OF_JOB(job);

	if (s->dkim_failed) {
		s->commit_rc = -1;
		s->commit_errno = EIO;
		commit_finish(s);
	} else
		commit_start(s);
}

static void
journal_done(struct journal_req *r)
{
	struct session *s = SESSION_OF_JREQ(r);

	s->commit_rc = r->rc;
	s->commit_errno = r->err;
	commit_finish(s);
}

static void
commit_start(struct session *s)
{
	session_expect(s, 0);	/* before: the committer counts it here */
	if (spool_commit_submit(&s->spool, &s->jreq, s->loop->journal,
	    journal_done) == -1) {
		s->commit_rc = -1;
		s->commit_errno = errno;
		commit_finish(s);
	}
}

static void
commit_finish(struct session *s)
{
	const char *signers = s->dkim != NULL ? dkim_signers(s->dkim) : "none";

	s->job_pending = 0;
	s->loop->commits--;
	if (s->commit_rc == -1 && s->dkim_failed) {
		log_errx("session=%s queue=%s event=dkim error=\"signing failed\"",
		    s->id, s->spool.id);
		if (!s->dead)
			session_reply(s, "451 4.3.0 Cannot sign the message now; "
			    "try again later");
	} else if (s->commit_rc == -1) {
		log_errx("session=%s queue=%s event=spool-commit error=%s",
		    s->id, s->spool.id, log_str(strerror(s->commit_errno)));
		if (!s->dead)
			session_reply(s, "%s", spool_error_reply(s->commit_errno));
	} else {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		metrics_commit_latency((double)(now.tv_sec - s->dot_time.tv_sec) +
		    (now.tv_nsec - s->dot_time.tv_nsec) / 1e9);
		s->spool_open = 0;	/* it is the queue's now */
		s->messages++;
		STAT_ADD(s->srv, messages, 1);
		STAT_ADD(s->srv, bytes, s->spool.size);
		log_info("session=%s queue=%s action=accept user=%s client=%s "
		    "from=%s rcpts=%zu size=%zu tls=%s cipher=%s dkim=%s", s->id,
		    s->spool.id, log_str(s->login), s->client, log_addr(s->from),
		    s->nrcpts, s->spool.size, s->tls_version, s->tls_cipher,
		    log_str(signers));
		queue_add(s->spool.id, s->login, s->from, s->rcpts, s->nrcpts,
		    s->arrival, s->spool.body_offset, s->spool.size, signers,
		    &s->ext);
		abuse_message(s->login, s->client, s->rcpts, s->nrcpts);
		if (!s->dead)
			session_reply(s, "250 2.0.0 Ok: queued as %s", s->spool.id);
	}
	session_txn_reset(s);
	if (s->dead) {
		session_free(s);
		return;
	}
	session_expect(s, 1);	/* another message may follow */
	session_resume(s);
}

static void
data_end(struct session *s)
{
	s->verb = s->bdat ? "BDAT" : "DATA";
	if (s->reader.error == MSG_OK && s->in_headers && s->refusal == NULL)
		headers_end(s, s->hdrlen, 0);	/* a message with no body */
	if (s->reader.error == MSG_OK && s->refusal == NULL && s->spool.error)
		s->refusal = spool_error_reply(s->spool.error);
	if (s->reader.error == MSG_OK && s->refusal == NULL)
		s->refusal = abuse_check(s->login, s->refusal_buf);
	if (s->reader.error == MSG_OK && s->refusal == NULL)
		s->refusal = policy_take_message(s->login, s->nrcpts,
		    s->refusal_buf);
	if (s->reader.error != MSG_OK || s->refusal != NULL) {
		session_reply(s, "%s", s->reader.error != MSG_OK ?
		    msg_error_reply(s->reader.error) : s->refusal);
		session_txn_reset(s);
		s->state = S_CMD;
		session_set_timeout(s, s->conf->timeout_command);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->dot_time);
	s->job_pending = 1;
	s->loop->commits++;
	s->state = S_BUSY;	/* input waits in the buffer meanwhile */
	s->dkim_failed = 0;
	if (s->dkim == NULL) {
		commit_start(s);
		return;
	}
	s->job.work = sign_work;
	s->job.done = sign_done;
	worker_submit(s->loop->io_pool, &s->job);
}

/* Our trace field (RFC 5321 §4.4): no client address unless configured. */
static size_t
format_received(struct session *s, char *buf, size_t size)
{
	char date[64];
	struct tm tm;
	int n = 0;

	gmtime_r(&s->arrival, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (s->conf->received_client_ip)
		n = snprintf(buf, size, "Received: from %s ([%s])\r\n\t",
		    s->helo, s->client);
	else
		n = snprintf(buf, size, "Received: ");
	n += snprintf(buf + n, size - n, "by %s with ESMTPSA (%s:%s:%u)\r\n"
	    "\tid %s; %s\r\n", s->conf->hostname, s->tls_version, s->tls_cipher,
	    s->tls_bits, s->spool.id, date);
	return (size_t)n < size ? (size_t)n : size - 1;
}

/*
 * The identity fields: From: (when enforce_header_from), and Sender: and
 * Resent-From:/Resent-Sender:, which mail readers show just as readily,
 * must name addresses the login owns.  Sets s->refusal otherwise.
 */
static void
check_identity(struct session *s, const struct hdr_info *info)
{
	size_t i;

	if (info->error == HDR_ERR_SYNTAX)
		s->refusal = "550 5.6.0 Message refused: malformed header section";
	else if (info->error == HDR_ERR_FROM_MULTIPLE)
		s->refusal = "550 5.6.0 Message refused: more than one From: header "
		    "field";
	if (s->refusal != NULL || !s->conf->enforce_header_from)
		return;
	if (info->error == HDR_ERR_FROM_SYNTAX) {
		s->refusal = "550 5.7.1 Message refused: cannot read the address in "
		    "the From: header field";
		return;
	}
	if (info->error == HDR_OK)
		for (i = 0; i < info->nfrom; i++)
			if (!policy_owns(s->login, info->from[i])) {
				snprintf(s->refusal_buf, sizeof(s->refusal_buf),
				    "550 5.7.1 Message refused: From: address <%s> "
				    "not owned by %s", info->from[i], s->login);
				s->refusal = s->refusal_buf;
				return;
			}
	if (info->ident_error != NULL) {
		snprintf(s->refusal_buf, sizeof(s->refusal_buf), "553 5.7.1 Message "
		    "refused: cannot read the address in the %s: header field",
		    info->ident_error);
		s->refusal = s->refusal_buf;
		return;
	}
	for (i = 0; i < info->nident; i++)
		if (!policy_owns(s->login, info->ident[i].addr)) {
			snprintf(s->refusal_buf, sizeof(s->refusal_buf), "553 5.7.1 "
			    "Message refused: %s: address <%s> not owned by %s",
			    info->ident[i].field, info->ident[i].addr, s->login);
			s->refusal = s->refusal_buf;
			return;
		}
}

#define RECEIVED_MAX	1024
#define ADDED_MAX	(3 * (SMTP_ADDR_MAX + 64))	/* Message-ID, Date, From */

/*
 * DKIM (dkim.c): the fields as they will leave are signed, so the
 * signatures go above them; they are written now as placeholders of their
 * final length, at an offset remembered for commit_work to fill in.
 */
static void
dkim_start(struct session *s, const struct hdr_info *info, const char *hdr,
    size_t len)
{
	char from[HDR_FROM_MAX][SMTP_ADDR_MAX + 1];
	size_t nfrom = 0, i, flen;
	const char *fields;

	if (s->conf->ndkim == 0)
		return;
	/*
	 * Only addresses the login owns are vouched for, even when
	 * enforce_header_from lets others through unsigned.
	 */
	if (info->error == HDR_ERR_FROM_MISSING)
		snprintf(from[nfrom++], sizeof(from[0]), "%s", s->from);
	else if (info->error == HDR_OK)
		for (i = 0; i < info->nfrom; i++)
			if (policy_owns(s->login, info->from[i]))
				snprintf(from[nfrom++], sizeof(from[0]), "%s",
				    info->from[i]);
	if (nfrom == 0)
		return;
	switch (dkim_begin(s->conf, (const char (*)[SMTP_ADDR_MAX + 1])from,
	    nfrom, hdr, len, s->arrival, &s->dkim)) {
	case 1:
		s->dkim_offset = s->spool.body_offset + (off_t)s->spool.size;
		fields = dkim_fields(s->dkim, &flen);
		spool_write(&s->spool, fields, flen);
		break;
	case -1:
		s->refusal = "451 4.3.0 Insufficient system resources";
		break;
	}
}

/*
 * What the header section says about delivery: UTF-8 in it needs SMTPUTF8
 * of the next hop (RFC 6532 §3.7), "TLS-Required: No" relaxes the TLS
 * policies (RFC 8689 §5) unless REQUIRETLS asks for the opposite.
 */
static void
ext_from_headers(struct session *s, const struct hdr_info *info)
{
	unsigned flags = s->ext.flags;

	if ((flags & SPOOL_EXT_SMTPUTF8) && info->eight_bit)
		flags |= SPOOL_EXT_UTF8;
	if (info->tls_required_no && !(flags & SPOOL_EXT_REQUIRETLS))
		flags |= SPOOL_EXT_TLS_OPTIONAL;
	if (flags != s->ext.flags) {
		s->ext.flags = flags;
		spool_set_ext(&s->spool, flags);
	}
}

/*
 * The header section is complete (its fields are hdr[0..fieldslen), followed
 * by the empty line when has_body): check, strip, add our fields, sign,
 * write.
 */
static void
headers_end(struct session *s, size_t fieldslen, int has_body)
{
	struct hdr_info info;
	char *out, date[64];
	struct tm tm;
	size_t n, room = RECEIVED_MAX + fieldslen + ADDED_MAX + 1;

	s->in_headers = 0;
	if ((out = malloc(room)) == NULL) {
		s->refusal = "452 4.3.0 Insufficient system resources";
		return;
	}
	n = format_received(s, out, RECEIVED_MAX);
	n += hdr_rewrite(s->hdr, fieldslen,
	    (const char *const *)s->conf->strip_headers, s->conf->nstrip_headers,
	    s->conf->authserv_id, (s->ext.flags & SPOOL_EXT_SMTPUTF8) != 0,
	    out + n, &info);
	check_identity(s, &info);
	ext_from_headers(s, &info);
	if (s->refusal != NULL) {
		free(out);
		return;
	}
	if (info.authres_removed > 0)
		log_info("session=%s event=header action=remove "
		    "field=Authentication-Results count=%zu reason=\"claims our "
		    "authserv-id\"", s->id, info.authres_removed);
	/* RFC 6409 §8.2, §8.3: an MSA adds what the client left out. */
	if (!info.has_message_id)
		n += snprintf(out + n, room - n, "Message-ID: <%s@%s>\r\n",
		    s->spool.id, s->conf->hostname);
	if (!info.has_date) {
		gmtime_r(&s->arrival, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		n += snprintf(out + n, room - n, "Date: %s\r\n", date);
	}
	if (info.error == HDR_ERR_FROM_MISSING)
		n += snprintf(out + n, room - n, "From: <%s>\r\n", s->from);
	dkim_start(s, &info, out, n);
	if (s->refusal == NULL) {
		spool_write(&s->spool, out, n);
		if (has_body)
			spool_write(&s->spool, "\r\n", 2);
	}
	free(out);
}

/* Body octets: to the spool, and through the DKIM body hash. */
static void
body_write(struct session *s, const char *buf, size_t len)
{
	spool_write(&s->spool, buf, len);
	if (s->dkim != NULL)
		dkim_body(s->dkim, buf, len);
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
		body_write(s, buf, len);
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
		body_write(s, s->hdr + start + 2, s->hdrlen - start - 2);
		body_write(s, buf + take, len - take);
	}
	free(s->hdr);
	s->hdr = NULL;
}

/* Streams DATA to the spool file: memory stays fixed whatever the size. */
void
session_data_input(struct session *s)
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

/* ---- BDAT (RFC 3030) ---- */

/*
 * "BDAT size [LAST]": the chunk's octets follow at once, so once the client
 * is logged in even a refused chunk is read (and dropped) before the reply:
 * nothing in it is ever taken for a command.
 */
void
session_cmd_bdat(struct session *s, const struct smtp_cmd *c)
{
	long long size;
	int last;
	const char *why = NULL;

	if (smtp_parse_bdat(c->arg, c->arglen, &size, &last, &why) == -1) {
		/* The size is unknown: what follows cannot be skipped. */
		session_reply(s, "%s", why);
		session_finish(s);
		return;
	}
	/*
	 * Before TLS and AUTH the chunk is not read either: a stranger does
	 * not get to stream up to 10^15 octets into a connection.  Closing
	 * is the only way not to take them for commands.
	 */
	if (!s->tls || !s->authed) {
		session_reply(s, "%s", !s->tls ?
		    "530 5.7.0 Must issue a STARTTLS command first" :
		    "530 5.7.0 Authentication required");
		session_finish(s);
		return;
	}
	if (!s->bdat && s->have_from && (why = message_open(s)) == NULL)
		s->bdat = 1;
	else if (!s->bdat && why == NULL)
		why = "503 5.5.1 Need MAIL command first";
	if (why == NULL && s->reader.size + (unsigned long long)size >
	    (unsigned long long)s->conf->message_size)
		why = msg_error_reply(MSG_ERR_TOO_BIG);	/* RFC 3030 §2 */
	s->reader.bdat = 1;
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_refusal = why;
	s->state = S_BDAT;
	session_set_timeout(s, s->conf->timeout_data);
	session_bdat_input(s);
}

/* The chunk is in: say so, or end the message. */
static void
bdat_chunk_end(struct session *s)
{
	char out[2];
	size_t n;

	s->state = S_CMD;
	session_set_timeout(s, s->conf->timeout_command);
	if (s->bdat_refusal != NULL || s->reader.error != MSG_OK) {
		session_reply(s, "%s", s->bdat_refusal != NULL ? s->bdat_refusal :
		    msg_error_reply(s->reader.error));
		/* RFC 3030 §2: the transaction is over; BDAT gets 503 now. */
		if (s->bdat)
			session_txn_reset(s);
		return;
	}
	if (!s->bdat_last) {
		session_reply(s, "250 2.0.0 %zu octets received", s->reader.size);
		return;
	}
	if ((n = msg_reader_end(&s->reader, out)) > 0 &&
	    s->reader.error == MSG_OK)
		message_write(s, out, n);
	data_end(s);
}

/* Reads the chunk: to the spool through the reader, or dropped. */
void
session_bdat_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec v;
	char out[DATA_CHUNK];
	size_t n, outlen;

	while (s->state == S_BDAT && s->bdat_left > 0 &&
	    evbuffer_get_length(in) > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		/* Room for a bare LF turned into CRLF: see msg_reader_feed. */
		n = v.iov_len < sizeof(out) / 2 ? v.iov_len : sizeof(out) / 2;
		if ((long long)n > s->bdat_left)
			n = (size_t)s->bdat_left;
		if (s->bdat_refusal == NULL) {
			msg_reader_feed(&s->reader, v.iov_base, n, out, &outlen);
			if (outlen > 0 && s->reader.error == MSG_OK)
				message_write(s, out, outlen);
		}
		evbuffer_drain(in, n);
		s->bdat_left -= (long long)n;
	}
	if (s->state == S_BDAT && s->bdat_left == 0)
		bdat_chunk_end(s);
}
