/*
 * spool.h - queue files on disk.
 *
 * A message arrives in tmp/ID; once complete it is fsynced, renamed to
 * queue/ID and the directory fsynced (Postfix's rule: nothing is visible to
 * the scheduler, or acknowledged, before it is whole and on disk).  A queue
 * file is the envelope as text lines "key: value", an empty line, then the
 * message exactly as received after dot-unstuffing:
 *
 *	SUBMITD-QUEUE 1
 *	id: 0000019C3A2F1E07A1B2
 *	arrival: 1764360000
 *	login: alice@example.test
 *	client: 192.0.2.7
 *	helo: laptop.example.test
 *	tls: TLSv1.3 TLS_AES_256_GCM_SHA384
 *	from: alice@example.test
 *	rcpt: bob@example.org
 *
 *	<message>
 *
 * Envelope values come from parsed SMTP commands, which cannot hold CR or
 * LF; spool_open refuses any that do.
 */
#ifndef SUBMITD_SPOOL_H
#define SUBMITD_SPOOL_H

#include <limits.h>
#include <stddef.h>
#include <time.h>
#include <sys/types.h>

#define SPOOL_ID_LEN	20

struct spool_envelope {
	const char		*login;
	const char		*client;
	const char		*helo;
	const char		*tls;
	const char		*from;
	char			**rcpts;
	size_t			 nrcpts;
	time_t			 arrival;
};

struct spool_file {
	int			 fd;
	char			 id[SPOOL_ID_LEN + 1];
	size_t			 size;		/* message octets written */
	int			 error;		/* errno of the first failure */
};

/*
 * Creates dir, tmp/ and queue/ (owned by uid:gid when run as root) and
 * removes what a crash left in tmp/.
 */
int	spool_init(const char *dir, uid_t uid, gid_t gid);
/* Opens tmp/ID and writes the envelope.  -1 with errno set. */
int	spool_open(struct spool_file *, const struct spool_envelope *);
/* Appends message bytes; a failure is remembered in f->error. */
void	spool_write(struct spool_file *, const char *buf, size_t len);
/* Blocking (worker thread): fsync, rename into queue/, fsync queue/. */
int	spool_commit(struct spool_file *);
/* Closes and removes an unfinished file. */
void	spool_abort(struct spool_file *);

#endif
