/*
 * server.h - what the daemon's modules share: the configuration, the event
 * base, TLS contexts, worker pools and counters.  Made once in main.c and
 * handed down; nothing here is owned by the modules that read it.
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
	struct worker_pool	*io_pool;	/* fsync and rename */
	struct worker_pool	*auth_pool;	/* SASL steps, one at a time */
	int			 commits;	/* messages being fsynced now */
	struct event		*ev_stop;
	struct event		*ev_stop_check;
	int			 stop_ticks;
	pthread_t		 thread;
	TAILQ_HEAD(, session)	 sessions;	/* owned by session.c */
};

struct server {
	const struct config	*conf;
	SSL_CTX			*ssl_ctx;	/* server side */
	SSL_CTX			*client_ctx;	/* delivery */
	struct loop		*loops;
	int			 nloops;
	/* Loop 0's, for the modules that run there alone: */
	struct event_base	*base;
	struct worker_pool	*io_pool;
	struct server_stats	 stats;
};

#endif
