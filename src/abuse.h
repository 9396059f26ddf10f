/*
 * abuse.h - automatic suspension of a login that behaves like a stolen one.
 *
 * Each login has a small profile: its recipients per minute over the last
 * 10 minutes and per day over two weeks, the distinct recipient domains of the
 * last 10 minutes, the client networks it used (IPv4 /24, IPv6 /64) with
 * when, and whether next hops refused its last 100 recipients for policy
 * (5.7.x).  Four signals come from it:
 *
 *	burst    recipients in 10 minutes above burst_floor and burst_factor
 *	         times the login's own usual 10 minutes;
 *	fanout   more than fanout_domains recipient domains in 10 minutes;
 *	refused  refusal_share percent of the last 100 recipients refused
 *	         with 5.7.x, and at least refusal_min of them;
 *	network  a client network first seen today while the login had
 *	         another, or networks_at_once networks in 10 minutes.
 *
 * Burst and fanout both measure volume: together they count as one.
 *
 * Any one has an innocent explanation (a newsletter, a new laptop); when
 * "signals" of them (2) hold at once the login is suspended: its MAIL and
 * its next final dots get 550 5.7.1, its queued mail is held, the log says
 * why with the figures, and abuse.notify gets a notice.  A human resumes it
 * (submitctl resume).  Profiles and suspensions live in spool/abuse/ and
 * survive restarts.
 *
 * Owns: the profiles and the decision.  Not: holding mail (queue.c asks
 * abuse_suspended) or the refusal replies of sessions (policy of MAIL).
 * Sessions on every loop thread call in: one lock.
 */
#ifndef SUBMITD_ABUSE_H
#define SUBMITD_ABUSE_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct evbuffer;
struct server;

#define ABUSE_REPLY_MAX	512

/* Loop 0, before the queue loads: reads spool/abuse/, starts the timer. */
int	abuse_init(struct server *);
void	abuse_reload(const struct config *);
/* After the loops stopped: writes the profiles (blocking). */
void	abuse_shutdown(void);

/* MAIL and the final dot: a reply when login is suspended, else NULL. */
const char *abuse_check(const char *login, char *reply);
/* A message accepted for login from client (numeric address). */
void	abuse_message(const char *login, const char *client,
	    char *const *rcpts, size_t nrcpts);
/* Loop 0: is login's mail held?  (NULL and "-" never are.) */
int	abuse_suspended(const char *login);
/* Loop 0: a next hop's answer for one recipient of login's. */
void	abuse_result(const char *login, int code, const char *reply);

/* submitctl suspended | suspend LOGIN | resume LOGIN (loop 0). */
void	abuse_list(struct evbuffer *out);
int	abuse_suspend(const char *login, struct evbuffer *out);
int	abuse_resume(const char *login, struct evbuffer *out);

struct abuse_stats {
	size_t		 suspended;		/* now */
	uint64_t	 suspensions;		/* since start, automatic */
	uint64_t	 would_suspend;		/* dry_run */
};
void	abuse_stats(struct abuse_stats *);

#endif
