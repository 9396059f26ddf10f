/*
 * queue.h - the outbound queue scheduler.
 *
 * Owns: the in-memory view of every queued message and its recipients'
 * state, when each is attempted (retries with exponential back-off, expiry),
 * grouping messages by next hop so one connection carries several, the
 * concurrency limits, bounces (RFC 3464) and the durable state files.
 * Needs: spool.c for files, delivery.c for the SMTP client, a worker pool
 * for everything that touches the disk.
 */
#ifndef SUBMITD_QUEUE_H
#define SUBMITD_QUEUE_H

#include "spool.h"

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct evbuffer;
struct server;

struct config;

/* Loads what the spool holds (start-up, before the loop runs). */
int	queue_init(struct server *);
/* A reloaded configuration (loop 0): routes, retries, limits from now on. */
void	queue_reload(const struct config *);
/* Starts no more deliveries; returns how many are still running. */
int	queue_stop(void);
/* After the loop and the workers have stopped: writes what is pending. */
void	queue_shutdown(void);

/*
 * A message the session has just committed; everything is copied.  dkim:
 * the selectors that signed it ("sel@domain,..."), or "none"; ext: what
 * came with it (DSN parameters, SMTPUTF8, REQUIRETLS), or NULL.
 */
void	queue_add(const char *id, const char *login, const char *from,
	    char *const *rcpts, size_t nrcpts, time_t arrival, off_t body_offset,
	    off_t body_size, const char *dkim, const struct spool_ext *ext);
/*
 * A login's mail is held (its login was suspended: abuse.c) or goes again
 * (resumed); messages in delivery finish their attempt.
 */
void	queue_hold_login(const char *login, int hold);

/*
 * Queues a message of our own (a TLS-RPT report, a notice): data, the
 * whole message with CRLF line ends, is taken; it is spooled (fsynced) on
 * a worker and then delivered like any other.  from "" is the null sender.
 */
void	queue_inject(const char *from, const char *rcpt, char *data, size_t len);

/* submitctl(8); each returns -1 with a reason in out when id is unknown. */
void	queue_list(struct evbuffer *out);
int	queue_show(const char *id, struct evbuffer *out);
int	queue_flush(const char *id, struct evbuffer *out);	/* id NULL: all */
int	queue_delete(const char *id, struct evbuffer *out);
int	queue_hold(const char *id, int hold, struct evbuffer *out);
size_t	queue_length(void);
/* Seconds since the oldest queued message arrived (0: none); loop 0. */
long	queue_oldest_age(void);
/* Delivery connections open now; loop 0. */
int	queue_connections(void);

#endif
