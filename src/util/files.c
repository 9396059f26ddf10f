/*
 * files.c - root's file operations for the daemon, safe against its user.
 *
 * The daemon's user is the one a remote exploit would get.  Whatever root
 * does before the drop (and again at every restart, which that user can
 * force) must not follow a link that user planted: root reads files only
 * through paths no directory of which the user may write, opens them
 * without blocking, and makes or takes over a directory only through a
 * descriptor opened without following links.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/files.h"

#define LINK_HOPS_MAX	16

static void __attribute__((format(printf, 3, 4)))
set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* snprintf that fails instead of cutting a path short. */
static int __attribute__((format(printf, 3, 4)))
path_printf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

char *
files_read(const char *path, size_t max, size_t *len, char *why,
    size_t whylen)
{
	return files_read_private(path, max, len, 0, why, whylen);
}

char *
files_read_private(const char *path, size_t max, size_t *len, int private,
    char *why, size_t whylen)
{
	struct stat st;
	char *buf;
	size_t off = 0;
	ssize_t n;
	int fd;

	*len = 0;
	/* O_NONBLOCK: a FIFO planted at the path must not hang start-up. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd == -1) {
		set_why(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		set_why(why, whylen, "%s%s", path, ": not a regular file");
		close(fd);
		return NULL;
	}
	if (private && (st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		set_why(why, whylen, "%s%s", path, ": a private key that others "
		    "may read (chmod o-rw it, and make a new one: it may have "
		    "been read already)");
		close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		set_why(why, whylen, "%s%s", path, ": file too large");
		close(fd);
		return NULL;
	}
	if ((buf = malloc(st.st_size + 1)) == NULL) {
		set_why(why, whylen, "%s%s", path, ": out of memory");
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	if (off != (size_t)st.st_size) {
		set_why(why, whylen, "%s%s", path, ": short read");
		explicit_bzero(buf, st.st_size);
		free(buf);
		return NULL;
	}
	buf[off] = '\0';
	*len = off;
	return buf;
}

/* Could uid:gid change the entries of the directory st describes? */
static int
writable_by(const struct stat *st, uid_t uid, gid_t gid)
{
	if (st->st_uid == uid)
		return 1;	/* its owner may chmod it, whatever the mode */
	if ((st->st_mode & S_IWGRP) && st->st_gid == gid)
		return 1;
	/* A sticky world-writable directory (/tmp) keeps others' entries. */
	return (st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX);
}

static const char *
user_name(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	return pw != NULL ? pw->pw_name : "the daemon's user";
}

/* Every directory above abs (an absolute path) as written, "/" first. */
static int
ancestors_ok(const char *abs, uid_t uid, gid_t gid, char *why, size_t whylen)
{
	char dir[PATH_MAX];
	struct stat st;
	size_t i, n = strlen(abs);

	if (n >= sizeof(dir))
		return -1;
	for (i = 0; i < n; i++) {
		if (abs[i] != '/')
			continue;
		memcpy(dir, abs, i == 0 ? 1 : i);
		dir[i == 0 ? 1 : i] = '\0';
		if (stat(dir, &st) == -1)
			continue;	/* reported when the file is opened */
		if (writable_by(&st, uid, gid)) {
			set_why(why, whylen, "directory %s can be changed by %s", dir,
			    user_name(uid));
			return -1;
		}
	}
	return 0;
}

/* abs and its real path; then, when abs is a link, each hop of its chain. */
static int
path_ok(const char *abs, uid_t uid, gid_t gid, int hops, char *why,
    size_t whylen)
{
	char real[PATH_MAX], target[PATH_MAX], next[PATH_MAX];
	struct stat st;
	const char *slash;
	ssize_t n;

	if (ancestors_ok(abs, uid, gid, why, whylen) == -1)
		return -1;
	if (realpath(abs, real) != NULL &&
	    ancestors_ok(real, uid, gid, why, whylen) == -1)
		return -1;
	if (lstat(abs, &st) == -1 || !S_ISLNK(st.st_mode))
		return 0;
	if (hops >= LINK_HOPS_MAX) {
		set_why(why, whylen, "%s%s", abs, ": too many symbolic links");
		return -1;
	}
	if ((n = readlink(abs, target, sizeof(target) - 1)) <= 0)
		return 0;
	target[n] = '\0';
	slash = strrchr(abs, '/');
	if ((target[0] == '/' ? path_printf(next, sizeof(next), "%s", target) :
	    path_printf(next, sizeof(next), "%.*s/%s", (int)(slash - abs), abs,
	    target)) == -1) {
		set_why(why, whylen, "%s: path too long", abs);
		return -1;
	}
	return path_ok(next, uid, gid, hops + 1, why, whylen);
}

int
files_trusted(const char *path, uid_t uid, gid_t gid, char *why, size_t whylen)
{
	char abs[PATH_MAX], cwd[PATH_MAX];

	if (uid == 0)
		return 0;
	if (path[0] == '/' ? path_printf(abs, sizeof(abs), "%s", path) :
	    getcwd(cwd, sizeof(cwd)) == NULL ||
	    path_printf(abs, sizeof(abs), "%s/%s", cwd, path) == -1) {
		set_why(why, whylen, "%s: cannot make it absolute", path);
		return -1;
	}
	while (strlen(abs) > 1 && abs[strlen(abs) - 1] == '/')
		abs[strlen(abs) - 1] = '\0';
	return path_ok(abs, uid, gid, 0, why, whylen);
}

static int
dir_empty(int fd)
{
	struct dirent *de;
	DIR *d;
	int dupfd = dup(fd), empty = 1;

	if (dupfd == -1 || (d = fdopendir(dupfd)) == NULL) {
		if (dupfd != -1)
			close(dupfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

int
files_own_dir(const char *dir, uid_t uid, gid_t gid, mode_t mode, char *why,
    size_t whylen)
{
	struct stat st;
	int fd, created = 0;
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

	if (geteuid() == 0 && uid != 0 &&
	    files_trusted(dir, uid, gid, why, whylen) == -1)
		return -1;
	if ((fd = open(dir, flags)) == -1 && errno == ENOENT) {
		if (mkdir(dir, mode) == -1 && errno != EEXIST) {
			set_why(why, whylen, "cannot create %s: %s", dir,
			    strerror(errno));
			return -1;
		}
		created = 1;
		fd = open(dir, flags);
	}
	if (fd == -1) {
		int e = errno;

		/* O_DIRECTORY|O_NOFOLLOW on a link fails ENOTDIR, not ELOOP. */
		set_why(why, whylen, "%s: %s", dir, (e == ELOOP || e == ENOTDIR) &&
		    lstat(dir, &st) == 0 && S_ISLNK(st.st_mode) ?
		    "a symbolic link; refusing to follow it" : strerror(e));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISDIR(st.st_mode)) {
		set_why(why, whylen, "%s%s", dir, ": not a directory");
		close(fd);
		return -1;
	}
	if (st.st_uid != uid) {
		/*
		 * Root's own directory is taken over only when nothing is in
		 * it yet: a typo naming /var/spool must not hand that over.
		 */
		if (st.st_uid != 0 || geteuid() != 0 ||
		    !(created || dir_empty(fd))) {
			set_why(why, whylen, "%s: owned by someone else; it must "
			    "belong to %s", dir, user_name(uid));
			close(fd);
			return -1;
		}
		if (fchown(fd, uid, gid) == -1) {
			set_why(why, whylen, "cannot chown %s: %s", dir,
			    strerror(errno));
			close(fd);
			return -1;
		}
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    fchmod(fd, st.st_mode & 0755 & ~(S_IWGRP | S_IWOTH)) == -1) {
		set_why(why, whylen, "cannot chmod %s: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
