/*
 * policy.h - relay rules, sender binding, limits, rate limits, lockouts.
 *
 * Owns: who may send as which address (the login itself, plus what the
 * senders file grants), which logins may reach only local domains, the
 * per-login hourly limits, and the per-address connection limits and
 * authentication lockouts.  Every check returns NULL when allowed, else the
 * complete SMTP reply that refuses, written where the decision is made.
 * Not: parsing, I/O, or any state of a session.  Counters live in memory,
 * under one lock: every loop thread calls in.  Client addresses are passed
 * as policy keys (netaddr_key: IPv6 by /64).
 */
#ifndef SUBMITD_POLICY_H
#define SUBMITD_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct config;

#define POLICY_REPLY_MAX	512

/*
 * Loads the senders and login limits files of conf (a reference is kept);
 * -1 after "FILE:LINE: ..." on stderr.
 */
int		 policy_init(const struct config *);
/* Only checks those files (submitd -n). */
int		 policy_check(const struct config *);
/*
 * A reloaded configuration: its files are read (problems are logged) and,
 * when they are good, it replaces the old one; counters are kept.  -1
 * keeps the old one.
 */
int		 policy_reload(const struct config *);
void		 policy_free(void);

/* A new connection from client; on refusal the session sends reply and closes. */
const char	*policy_connect(const char *client, char *reply);
void		 policy_disconnect(const char *client);

/*
 * The AUTH lock-out.  An exchange takes an attempt of its client address
 * when it starts (policy_auth_begin) and one of the login as soon as the
 * client has named it (policy_auth_login), and gives both back when it
 * ends (policy_auth_end).  Attempts in flight count against the limits.
 */
enum policy_auth {
	POLICY_AUTH_GO,		/* taken: the attempt may run */
	POLICY_AUTH_WAIT,	/* every allowed attempt is in flight: ask again */
	POLICY_AUTH_BANNED,	/* the address is locked out (421, close) */
	POLICY_AUTH_LOCKED,	/* the login is locked (535, password unchecked) */
};

enum policy_auth_result {
	POLICY_AUTH_OK,		/* authenticated */
	POLICY_AUTH_FAILED,	/* a guess failed, or the exchange was broken off */
	POLICY_AUTH_REFUSED,	/* a locked login: counts for the address only */
	POLICY_AUTH_ABANDONED,	/* no password was checked (server trouble) */
};

enum policy_auth policy_auth_begin(const char *client);
enum policy_auth policy_auth_login(const char *login);
/*
 * Ends the attempt (login NULL when none was taken), the session's nth
 * failure.  Returns the tarpit in seconds before the 535; *banned is set
 * when this failure locks the address out.
 */
int		 policy_auth_end(const char *client, const char *login,
		    enum policy_auth_result, int nth, int *banned);

struct policy_stats {
	size_t		 banned_addresses;	/* locked out now */
	size_t		 locked_logins;		/* locked now */
	uint64_t	 bans;			/* since start */
	uint64_t	 login_locks;
};
void		 policy_stats(struct policy_stats *);

/* MAIL FROM: the login must own addr ("" is the null sender). */
const char	*policy_check_sender(const char *login, const char *addr,
		    char *reply);
/* RCPT TO: internal_only logins, the hourly recipient limit. */
const char	*policy_check_rcpt(const char *login, const char *addr,
		    size_t nrcpts, char *reply);
/*
 * After a successful AUTH: may login work from client (numeric address)
 * today?  NULL, or the rule that refuses it in why (for the log: the
 * client hears the 535 of a wrong password).
 */
const char	*policy_check_scope(const char *login, const char *client,
		    char *why, size_t whylen);
/* Does login own addr (also used for the From: header)? */
int		 policy_owns(const char *login, const char *addr);
/*
 * At the end of DATA: refuses when the message would pass the login's
 * hourly limits, else counts it.
 */
const char	*policy_take_message(const char *login, size_t nrcpts,
		    char *reply);

#endif
