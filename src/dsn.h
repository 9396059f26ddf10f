/*
 * dsn.h - delivery status notifications (RFC 3464, RFC 3461, RFC 6533).
 *
 * Owns: composing one DSN about a queued message: the human-readable part,
 * the message/delivery-status part with a group of fields per recipient
 * (Action failed, delayed or relayed; Original-Recipient when the client
 * gave ORCPT), Original-Envelope-Id, and the original's header section or,
 * with RET=FULL for a failure, the whole message.  A message that needed
 * SMTPUTF8 gets the RFC 6533 types (message/global-delivery-status,
 * message/global-headers, message/global).  A DSN about a REQUIRETLS
 * message quotes nothing of it (RFC 8689 §4.4: redacted, it needs no
 * REQUIRETLS itself).  Not: which recipients deserve
 * a DSN (NOTIFY is the queue's decision) or sending it.
 */
#ifndef SUBMITD_DSN_H
#define SUBMITD_DSN_H

#include <sys/types.h>
#include <time.h>

#include "spool.h"

struct config;

enum dsn_action {
	DSN_FAILED,
	DSN_DELAYED,
	DSN_RELAYED,	/* to a next hop that does not speak DSN (RFC 3461 §6.2.3.2) */
};

struct dsn_rcpt {
	const char		*addr;
	const char		*orcpt;		/* ORCPT as the client gave it, or NULL */
	enum dsn_action		 action;
	const char		*reply;		/* the last reply, or our reason */
};

struct dsn_orig {
	const char		*id;		/* queue id of the original */
	const char		*from;		/* its sender: the DSN's recipient */
	time_t			 arrival;
	const char		*envid;		/* ENVID, still xtext, or NULL */
	int			 full;		/* return the whole message */
	int			 redact;	/* return nothing of it (REQUIRETLS) */
	int			 utf8;		/* it needed SMTPUTF8 */
	int			 fd;		/* its queue file, read with pread */
	off_t			 body_offset;
	off_t			 body_size;
};

/*
 * Writes the DSN into f (opened by the caller); blocking (worker thread).
 * Failures are in f->error, as for every spool write.
 */
void	dsn_write(const struct config *, const struct dsn_orig *,
	    const struct dsn_rcpt *, size_t nrcpts, struct spool_file *f);

#endif
