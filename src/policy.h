/*
 * policy.h - relay rules, sender binding, limits, rate limits, lockouts.
 *
 * Owns: who may send as which address (the login itself, plus what the
 * senders file grants), which logins may reach only local domains, the
 * per-login hourly limits, and the per-address connection limits and
 * authentication lockouts.  Every check returns NULL when allowed, else the
 * complete SMTP reply that refuses, written where the decision is made.
 * Not: parsing, I/O, or any state of a session.  Counters live in memory
 * on the event loop's thread.
 */
#ifndef SUBMITD_POLICY_H
#define SUBMITD_POLICY_H

#include <stddef.h>

struct config;

#define POLICY_REPLY_MAX	512

/* Loads the senders and login limits files; -1 after "FILE:LINE: ..." on stderr. */
int		 policy_init(const struct config *);
/* Re-reads those files (SIGHUP, submitctl reload); counters are kept. */
int		 policy_reload(void);
void		 policy_free(void);

/* A new connection from client; on refusal the session sends reply and closes. */
const char	*policy_connect(const char *client, char *reply);
void		 policy_disconnect(const char *client);

/*
 * Records a failed AUTH from client, the session's nth.  Returns the delay
 * in seconds before the 535 (tarpit); *banned is set when this failure
 * locks the address out.
 */
int		 policy_auth_failed(const char *client, int nth, int *banned);

/* MAIL FROM: the login must own addr ("" is the null sender). */
const char	*policy_check_sender(const char *login, const char *addr,
		    char *reply);
/* RCPT TO: internal_only logins, the hourly recipient limit. */
const char	*policy_check_rcpt(const char *login, const char *addr,
		    size_t nrcpts, char *reply);
/* Does login own addr (also used for the From: header)? */
int		 policy_owns(const char *login, const char *addr);
/*
 * At the end of DATA: refuses when the message would pass the login's
 * hourly limits, else counts it.
 */
const char	*policy_take_message(const char *login, size_t nrcpts,
		    char *reply);
/* Is client locked out (failed AUTHs)? */
int		 policy_banned(const char *client);

#endif
