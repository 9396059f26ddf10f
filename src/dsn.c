/*
 * dsn.c - composing delivery status notifications (RFC 3464 §2, RFC 3461
 * §6, RFC 6533 §6).
 *
 * Everything written comes from our own queue: addresses and ORCPT values
 * were checked by the SMTP parser (no CR, LF or controls), ENVID is decoded
 * from xtext only after the same check, and remote replies were made
 * printable by the delivery client.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dsn.h"
#include "utf8.h"
#include "xtext.h"

/*
 * The enhanced status code of a remote reply ("550 5.1.1 ...") or of one of
 * our own reasons ("4.4.7 message expired ..."), or a default.
 */
static void
status_of(const char *reply, char *out, size_t len, const char *dflt)
{
	int a, b, c;

	if ((sscanf(reply, "%*3d %d.%d.%d", &a, &b, &c) == 3 ||
	    sscanf(reply, "%d.%d.%d", &a, &b, &c) == 3) && (a == 4 || a == 5))
		snprintf(out, len, "%d.%d.%d", a, b, c);
	else
		snprintf(out, len, "%s", dflt);
}

/* "550 5.1.1 ..." came from a server; "5.1.10 ..." is our own reason. */
static int
remote_reply(const char *r)
{
	return isdigit((unsigned char)r[0]) && isdigit((unsigned char)r[1]) &&
	    isdigit((unsigned char)r[2]) && (r[3] == ' ' || r[3] == '-');
}

static void
date_of(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* Copies the original's header section, at most 64 KiB of it. */
static void
copy_headers(const struct dsn_orig *o, struct spool_file *f)
{
	char buf[65536];
	ssize_t n;
	char *end;

	n = pread(o->fd, buf, sizeof(buf) - 1, o->body_offset);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if ((end = strstr(buf, "\r\n\r\n")) != NULL)
		n = end - buf + 2;
	spool_write(f, buf, (size_t)n);
}

/* Copies the whole original (RET=FULL). */
static void
copy_message(const struct dsn_orig *o, struct spool_file *f)
{
	char buf[65536];
	off_t off = o->body_offset, end = o->body_offset + o->body_size;
	ssize_t n;

	while (off < end && (n = pread(o->fd, buf, end - off < (off_t)sizeof(buf) ?
	    (size_t)(end - off) : sizeof(buf), off)) > 0) {
		spool_write(f, buf, (size_t)n);
		off += n;
	}
}

/* RFC 3464 §2.3.1 Original-Recipient: the rfc822 type's xtext decoded. */
static void
original_recipient(const char *orcpt, int utf8, struct spool_file *f)
{
	const char *semi = strchr(orcpt, ';');
	char dec[SMTP_ORCPT_MAX + 1];

	if (semi == NULL)
		return;
	if ((size_t)(semi - orcpt) == 6 && strncasecmp(orcpt, "rfc822", 6) == 0 &&
	    xtext_decode(semi + 1, strlen(semi + 1), dec, sizeof(dec), 0) > 0)
		spool_printf(f, "Original-Recipient: rfc822;%s\r\n", dec);
	else if (utf8 || utf8_is_ascii(orcpt, strlen(orcpt)))
		spool_printf(f, "Original-Recipient: %s\r\n", orcpt);
	else if (xtext_utf8_addr(orcpt, dec, sizeof(dec)) != -1)
		/* RFC 6533 §3: utf-8-addr-xtext outside the global types */
		spool_printf(f, "Original-Recipient: %s\r\n", dec);
}

static const char *const actions[] = { "failed", "delayed", "relayed" };

void
dsn_write(const struct config *conf, const struct dsn_orig *o,
    const struct dsn_rcpt *r, size_t n, struct spool_file *f)
{
	const char *host = conf->hostname, *id = f->id, *subject, *intro;
	char date[64], status[16], envid[SMTP_ENVID_MAX + 1];
	size_t i, nfailed = 0, ndelayed = 0;

	for (i = 0; i < n; i++) {
		nfailed += r[i].action == DSN_FAILED;
		ndelayed += r[i].action == DSN_DELAYED;
	}
	if (nfailed > 0) {
		subject = "Undelivered Mail Returned to Sender";
		intro = "Your message could not be delivered to one or more "
		    "recipients.";
	} else if (ndelayed > 0) {
		subject = "Delayed Mail (still being retried)";
		intro = "Your message has not been delivered to one or more "
		    "recipients yet;\r\nit stays in the queue and will be tried "
		    "again.  Nothing needs to be done.";
	} else {
		subject = "Relayed Mail (no further notice will follow)";
		intro = "Your message was passed on to a server that does not "
		    "send delivery\r\nnotifications: you will hear nothing more "
		    "about these recipients.";
	}
	date_of(time(NULL), date, sizeof(date));
	spool_printf(f, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: %s\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=%s;\r\n"
	    "\tboundary=\"%s/%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n"
	    "--%s/%s\r\n"
	    "Content-Type: text/plain; charset=%s\r\n\r\n"
	    "This is the mail system at %s.\r\n\r\n"
	    "%s\r\n%s"
	    "The last replies follow.\r\n\r\n",
	    host, o->from, subject, date, id, host,
	    o->utf8 ? "global-delivery-status" : "delivery-status", id, host,
	    id, host, o->utf8 ? "utf-8" : "us-ascii", host, intro, o->redact ?
	    "Your message asked for REQUIRETLS: none of it is quoted here.\r\n" :
	    "");
	for (i = 0; i < n; i++)
		spool_printf(f, "<%s>: %s\r\n", r[i].addr, r[i].reply);
	date_of(o->arrival, date, sizeof(date));
	spool_printf(f, "\r\n--%s/%s\r\n"
	    "Content-Type: message/%s\r\n\r\n"
	    "Reporting-MTA: dns; %s\r\n"
	    "X-Submitd-Queue-ID: %s\r\n",
	    id, host, o->utf8 ? "global-delivery-status" : "delivery-status",
	    host, o->id);
	/* RFC 3464 §2.2.1: the ENVID as the client meant it, xtext decoded. */
	if (o->envid != NULL && xtext_decode(o->envid, strlen(o->envid), envid,
	    sizeof(envid), o->utf8) > 0)
		spool_printf(f, "Original-Envelope-Id: %s\r\n", envid);
	spool_printf(f, "Arrival-Date: %s\r\n", date);
	for (i = 0; i < n; i++) {
		status_of(r[i].reply, status, sizeof(status),
		    r[i].action == DSN_FAILED ? "5.0.0" :
		    r[i].action == DSN_DELAYED ? "4.0.0" : "2.0.0");
		spool_printf(f, "\r\n");
		if (r[i].orcpt != NULL)
			original_recipient(r[i].orcpt, o->utf8, f);
		/* RFC 6533 §3: the "utf-8" type for an address that needs it. */
		spool_printf(f, "Final-Recipient: %s; %s\r\n"
		    "Action: %s\r\nStatus: %s\r\n", o->utf8 ? "utf-8" : "rfc822",
		    r[i].addr, actions[r[i].action], status);
		/* RFC 3464 §2.3.6: "smtp" only for what a remote server said. */
		spool_printf(f, "Diagnostic-Code: %s; %s\r\n",
		    remote_reply(r[i].reply) ? "smtp" : "X-Submitd", r[i].reply);
	}
	if (o->redact) {
		/* RFC 8689 §4.4: redacted, so it may travel without REQUIRETLS. */
	} else if (o->full && nfailed > 0) {
		spool_printf(f, "\r\n--%s/%s\r\nContent-Type: message/%s\r\n\r\n",
		    id, host, o->utf8 ? "global" : "rfc822");
		copy_message(o, f);
	} else {
		spool_printf(f, "\r\n--%s/%s\r\nContent-Type: %s\r\n\r\n", id, host,
		    o->utf8 ? "message/global-headers" : "text/rfc822-headers");
		copy_headers(o, f);
	}
	spool_printf(f, "\r\n--%s/%s--\r\n", id, host);
}
