/*
 * server.h - what the daemon's modules share: the configuration, the event
 * base, TLS contexts, worker pools and counters.  Made once in main.c and
 * handed down; nothing here is owned by the modules that read it.
 */
#ifndef SUBMITD_SERVER_H
#define SUBMITD_SERVER_H

#include <stdint.h>

#include <openssl/ssl.h>

struct config;
struct event_base;
struct worker_pool;

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

struct server {
	const struct config	*conf;
	struct event_base	*base;
	SSL_CTX			*ssl_ctx;	/* server side */
	SSL_CTX			*client_ctx;	/* delivery */
	struct worker_pool	*io_pool;	/* fsync and rename */
	struct worker_pool	*auth_pool;	/* SASL steps, one at a time */
	struct server_stats	 stats;
	int			 commits;	/* messages being fsynced now */
};

#endif
