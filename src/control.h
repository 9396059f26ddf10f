/*
 * control.h - the control socket submitctl(8) talks to.
 *
 * Protocol: the client sends one command line; the daemon answers with text
 * lines and closes.  The first line is "ok" or "error: REASON".
 * Owns: the socket (mode 0660) and the commands' dispatch.  Not: what the
 * commands do (queue, policy, the reload in server.c).
 */
#ifndef SUBMITD_CONTROL_H
#define SUBMITD_CONTROL_H

#include <sys/types.h>

struct server;

/* Creates the socket as the daemon's user (after dropping privileges). */
int	control_open(struct server *);
void	control_close(void);

#endif
