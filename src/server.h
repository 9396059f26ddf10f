/*
 * server.h - what the daemon's modules share: the configuration, the event
 * base, TLS contexts, worker pools and counters.  Made once in main.c and
 * handed down; nothing here is owned by the modules that read it.  A
 * reload (server.c) swaps the configuration and the server TLS context:
 * other threads take them through server_conf() and server_ssl_new().
 */
#ifndef SUBMITD_SERVER_H
#define SUBMITD_SERVER_H

#include <sys/queue.h>
#include <pthread.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct config;
struct event;
struct event_base;
struct session;
struct worker_pool;

/* Counters are bumped from every loop thread: relaxed atomics suffice. */
#define STAT_ADD(srv, field, n) \
	__atomic_fetch_add(&(srv)->stats.field, (n), __ATOMIC_RELAXED)
#define STAT_GET(srv, field) \
	__atomic_load_n(&(srv)->stats.field, __ATOMIC_RELAXED)

struct server_stats {
	uint64_t	 connections;
	uint64_t	 sessions_now;
	uint64_t	 tls_handshakes;
	uint64_t	 tls_failures;
	uint64_t	 auth_ok;
	uint64_t	 auth_failed;
	uint64_t	 messages;
	uint64_t	 bytes;
	uint64_t	 rejects;
	uint64_t	 delivered;
	uint64_t	 deferred;
	uint64_t	 bounced;
};

/*
 * One event loop and its thread.  Sessions live on the loop that accepted
 * them, with that loop's worker pools; loop 0 is the main thread's and also
 * runs the queue, delivery, DNS, the control socket and signals.
 */
struct loop {
	struct server		*srv;
	int			 index;
	struct event_base	*base;
	struct worker_pool	*io_pool;	/* DKIM signing, bounces */
	struct journal_port	*journal;	/* spool commits come back here */
	struct worker_pool	*auth_pool;	/* SASL steps, one at a time */
	int			 commits;	/* messages being fsynced now */
	struct event		*ev_stop;
	struct event		*ev_stop_check;
	int			 stop_ticks;	/* of 100 ms since the stop */
	int			 told;		/* sessions were told 421 */
	int			 told_tick;
	pthread_t		 thread;
	TAILQ_HEAD(, session)	 sessions;	/* owned by session.c */
};

struct server {
	pthread_mutex_t		 lock;		/* conf and ssl_ctx */
	const struct config	*conf;		/* current; loop 0 may read it as is */
	const struct config	*start_conf;	/* listeners', kept to the end */
	SSL_CTX			*ssl_ctx;	/* server side */
	SSL_CTX			*client_ctx;	/* delivery */
	struct loop		*loops;
	int			 nloops;
	/* Loop 0's, for the modules that run there alone: */
	struct event_base	*base;
	struct worker_pool	*io_pool;
	struct journal_port	*journal;
	struct server_stats	 stats;
};

/* A reference to the current configuration (config_unref it).  Any thread. */
const struct config *server_conf(struct server *);
/* A new SSL for an accepted connection from the current context.  Any thread. */
SSL	*server_ssl_new(struct server *);
/*
 * Reads the configuration file again and applies it (loop 0): new sessions
 * get it, open ones keep theirs.  -1 with why when the old one stays.
 */
int	 server_reload(struct server *, char *why, size_t whylen);

#endif
