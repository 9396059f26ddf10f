/*
 * xalloc.h - allocation for bookkeeping that cannot sensibly fail.
 *
 * Used for configuration and for the queue's small per-message records:
 * when even those cannot be had, the process aborts, systemd restarts it,
 * and the spool (fsynced before every "250") loses nothing.  Memory that
 * a client makes us spend (sessions, headers) never comes from here: those
 * paths check and refuse with a 4xx instead.
 */
#ifndef SUBMITD_XALLOC_H
#define SUBMITD_XALLOC_H

#include <stddef.h>

void	*xcalloc(size_t n, size_t size);
/* p grown to n elements of size (n * size checked). */
void	*xreallocarray(void *p, size_t n, size_t size);
char	*xstrdup(const char *s);

#endif
