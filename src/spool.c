/*
 * spool.c - queue files: create, write, commit, abort.
 *
 * All paths are relative to directory descriptors opened once at start-up,
 * so the daemon never builds a path from network input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

static int tmp_dirfd = -1;
static int queue_dirfd = -1;

static int
open_subdir(int parent, const char *name, uid_t uid, gid_t gid)
{
	int fd;

	if (mkdirat(parent, name, 0700) == -1 && errno != EEXIST)
		return -1;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1 && geteuid() == 0 && fchown(fd, uid, gid) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Anything in tmp/ was never acknowledged: the client will send it again. */
static void
clean_tmp(void)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(tmp_dirfd);

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(tmp_dirfd, de->d_name, 0) == 0)
			log_info("event=spool-clean file=tmp/%s reason=unfinished",
			    de->d_name);
	}
	closedir(d);
}

int
spool_init(const char *dir, uid_t uid, gid_t gid)
{
	int fd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		goto fail;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	if (geteuid() == 0 && fchown(fd, uid, gid) == -1) {
		close(fd);
		goto fail;
	}
	tmp_dirfd = open_subdir(fd, "tmp", uid, gid);
	queue_dirfd = open_subdir(fd, "queue", uid, gid);
	close(fd);
	if (tmp_dirfd == -1 || queue_dirfd == -1)
		goto fail;
	clean_tmp();
	return 0;
fail:
	log_errx("event=spool-init dir=%s error=\"%s\"", dir, strerror(errno));
	return -1;
}

static void
spool_new_id(char *id)
{
	struct timespec ts;
	uint32_t r = arc4random();

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Time first, so ids sort by arrival; random tail, so they never collide. */
	snprintf(id, SPOOL_ID_LEN + 1, "%011llX%01X%08X",
	    (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
	    (unsigned)(ts.tv_nsec / 100000) % 10, r);
}

static int
safe_value(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") == NULL;
}

int
spool_open(struct spool_file *f, const struct spool_envelope *env)
{
	char head[512];
	size_t i;
	int n;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (!safe_value(env->login) || !safe_value(env->client) ||
	    !safe_value(env->helo) || !safe_value(env->tls) ||
	    !safe_value(env->from)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < env->nrcpts; i++)
		if (!safe_value(env->rcpts[i])) {
			errno = EINVAL;
			return -1;
		}
	spool_new_id(f->id);
	f->fd = openat(tmp_dirfd, f->id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (f->fd == -1)
		return -1;
	n = snprintf(head, sizeof(head), "SUBMITD-QUEUE 1\nid: %s\narrival: %lld\n",
	    f->id, (long long)env->arrival);
	spool_write(f, head, n);
	/* Values may be long (paths up to 254 octets): write them one by one. */
#define FIELD(k, v) do {					\
		spool_write(f, k ": ", strlen(k) + 2);		\
		spool_write(f, (v), strlen(v));			\
		spool_write(f, "\n", 1);			\
	} while (0)
	FIELD("login", env->login);
	FIELD("client", env->client);
	FIELD("helo", env->helo);
	FIELD("tls", env->tls);
	FIELD("from", env->from);
	for (i = 0; i < env->nrcpts; i++)
		FIELD("rcpt", env->rcpts[i]);
#undef FIELD
	spool_write(f, "\n", 1);
	f->size = 0;
	if (f->error) {
		errno = f->error;
		spool_abort(f);
		return -1;
	}
	return 0;
}

void
spool_write(struct spool_file *f, const char *buf, size_t len)
{
	ssize_t n;

	f->size += len;
	while (len > 0 && f->error == 0) {
		n = write(f->fd, buf, len);
		if (n == -1) {
			if (errno != EINTR)
				f->error = errno;
			continue;
		}
		buf += n;
		len -= n;
	}
}

int
spool_commit(struct spool_file *f)
{
	if (f->error != 0) {
		errno = f->error;
		return -1;
	}
	if (fsync(f->fd) == -1 || close(f->fd) == -1) {
		f->error = errno;
		f->fd = -1;
		return -1;
	}
	f->fd = -1;
	if (renameat(tmp_dirfd, f->id, queue_dirfd, f->id) == -1 ||
	    fsync(queue_dirfd) == -1) {
		f->error = errno;
		return -1;
	}
	return 0;
}

void
spool_abort(struct spool_file *f)
{
	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;
	unlinkat(tmp_dirfd, f->id, 0);
}
