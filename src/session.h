/*
 * session.h - one SMTP server session (RFC 5321, 3207, 4954, 6409).
 *
 * Owns: the per-connection state machine, every reply, timeouts, TLS
 * upgrade and the hand-off of DATA to the spool.  Needs: a struct server
 * with the shared pieces (configuration, TLS context, worker pools).  All of
 * a session's memory hangs off struct session and is freed in one place.
 */
#ifndef SUBMITD_SESSION_H
#define SUBMITD_SESSION_H

#include <stdint.h>

#include <event2/util.h>
#include <openssl/ssl.h>

struct config;
struct event_base;
struct listen_conf;
struct sockaddr;
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
};

struct server {
	const struct config	*conf;
	struct event_base	*base;
	SSL_CTX			*ssl_ctx;
	struct worker_pool	*io_pool;	/* fsync and rename */
	struct worker_pool	*auth_pool;	/* SASL steps, one at a time */
	struct server_stats	 stats;
};

/* Takes ownership of fd. */
void	session_start(struct server *, evutil_socket_t fd,
	    const struct sockaddr *peer, int peerlen,
	    const struct listen_conf *);

#endif
