/*
 * control.h - the control socket submitctl(8) talks to.
 *
 * Protocol: the client sends one command line; the daemon answers with text
 * lines and closes.  The first line is "ok" or "error: REASON".
 * Owns: the socket (mode 0660) and the commands' dispatch.  Not: queue
 * manipulation itself (that belongs to the queue module, later).
 */
#ifndef SUBMITD_CONTROL_H
#define SUBMITD_CONTROL_H

#include <sys/types.h>

struct server;

/* Creates the socket (as root, before dropping privileges). */
int	control_open(struct server *, uid_t uid, gid_t gid);
void	control_close(void);

#endif
