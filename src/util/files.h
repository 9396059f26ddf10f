/*
 * files.h - the file operations root does for the daemon before it drops
 * its privileges, done so that the daemon's user cannot turn them against
 * root (by a symbolic link, a FIFO, or a directory it may write to).
 *
 * Owns: reading a secret or certificate file, checking that no directory on
 * the way to a path can be rewritten by the daemon's user, and making the
 * daemon's own directories (spool, control socket).  Not: deciding which
 * files those are (config.c, main.c).
 */
#ifndef SUBMITD_FILES_H
#define SUBMITD_FILES_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads a whole regular file of at most max octets into a NUL-terminated
 * buffer to free (explicit_bzero it when it held a secret).  A FIFO, device
 * or directory is refused without blocking.  NULL with a reason in why.
 */
char	*files_read(const char *path, size_t max, size_t *len, char *why,
	    size_t whylen);
/* The same; when private is set, a file others may read is refused. */
char	*files_read_private(const char *path, size_t max, size_t *len,
	    int private, char *why, size_t whylen);

/*
 * When root reads path on behalf of uid:gid: -1 with a reason when a
 * directory on its way (as written, and after resolving links) could be
 * changed by that user, so that it could swap the file for a link to
 * another.  The file itself may belong to the user.
 */
int	 files_trusted(const char *path, uid_t uid, gid_t gid, char *why,
	    size_t whylen);

/*
 * The daemon's own directory dir, owned by uid:gid (mode mode when made):
 * created when missing, taken over when it is root's and empty (as systemd
 * makes a RuntimeDirectory), refused when it is a link, not a directory,
 * someone else's, writable by others, or in a directory the user could
 * change.  Returns a descriptor of it (O_DIRECTORY), or -1 with why.
 */
int	 files_own_dir(const char *dir, uid_t uid, gid_t gid, mode_t mode,
	    char *why, size_t whylen);

#endif
