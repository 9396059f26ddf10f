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

/* Binds every listen section; -1 (logged) if any fails. */
int	listener_open(struct server *);
/* Stops accepting (shutdown). */
void	listener_close(void);

#endif
