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

#include "server.h"

struct listen_conf;
struct sockaddr;

/* Takes ownership of fd; the session lives on loop from now on. */
void	session_start(struct loop *, evutil_socket_t fd,
	    const struct sockaddr *peer, int peerlen,
	    const struct listen_conf *);

/* Sessions open on loop (its thread). */
int	session_count(struct loop *);
/*
 * The daemon stops: every session on loop is told "421 4.3.2" and closed,
 * as soon as it is not waiting for a commit or a SASL step.  Returns how
 * many were told.
 */
int	session_stop_all(struct loop *);

/*
 * Frees every session still open on loop: at exit, after the loop and the
 * worker threads have stopped, so that no job still holds one.
 */
void	session_shutdown(struct loop *);

#endif
