/*
 * listener.h - listening sockets and accept.
 *
 * Owns: binding the "listen" sections (before privileges are dropped) and
 * handing each accepted connection to a new session.  Not: anything a
 * session does.
 */
#ifndef SUBMITD_LISTENER_H
#define SUBMITD_LISTENER_H

struct server;

struct loop;

/* Binds every listen section once per loop; -1 (logged) if any fails. */
int	listener_open(struct server *);
/* Stops accepting on loop (call on its thread). */
void	listener_close(struct loop *);
/* After every loop has stopped. */
void	listener_free(void);

#endif
