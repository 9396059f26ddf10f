/*
 * sasldb.h - the sasldb (Cyrus's Berkeley DB of logins) read through a
 * handle kept open per auth worker, as a SASL auxprop plug-in.
 *
 * Cyrus's own sasldb plug-in opens the file for every property it looks
 * up: four opens for one AUTH PLAIN.  This one opens it once per thread,
 * and again only when the file changes (a stat per look-up: saslpasswd2
 * writes the file in place), so a check costs one look-up.  Read-only:
 * saslpasswd2 and sasldblistusers2 keep managing the file.
 */
#ifndef SUBMITD_SASLDB_H
#define SUBMITD_SASLDB_H

#define SASLDB_PLUGIN	"submitd-sasldb"

/* Registers the plug-in with SASL (before sasl_server_init).  0 or -1. */
int	sasldb_register(void);
/* Opens of the file so far (for tests and the curious). */
unsigned long sasldb_opens(void);

#endif
