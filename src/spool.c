/*
 * spool.c - queue files: create, write, commit, abort.
 *
 * All paths are relative to directory descriptors opened once at start-up,
 * so the daemon never builds a path from network input.  Root only ever
 * makes sure the spool directory itself exists and belongs to the daemon's
 * user (util/files.c); everything inside it is opened, made, cleaned and
 * removed as that user, without following links.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dkim_canon.h"
#include "journal.h"
#include "log.h"
#include "spool.h"
#include "util/files.h"
#include "util/xalloc.h"

/* Every fsync the spool makes, for "fsyncs per accepted message" (stats). */
static uint64_t fsyncs;

static int
spool_fsync(int fd)
{
	__atomic_fetch_add(&fsyncs, 1, __ATOMIC_RELAXED);
	return fsync(fd);
}

uint64_t
spool_fsync_count(void)
{
	return __atomic_load_n(&fsyncs, __ATOMIC_RELAXED) + journal_sync_count();
}

#define SPOOL_LINE_MAX	1024		/* longer than any envelope line */
#define SPOOL_STATE_MAX	(256 * 1024)	/* a state file: a line per recipient */

static int spool_dirfd = -1;
static int tmp_dirfd = -1;
static int queue_dirfd = -1;
static int state_dirfd = -1;
static int journal_dirfd = -1;
static int aux_dirfd[SPOOL_AUX_COUNT] = { -1, -1, -1 };
static const char *const aux_names[SPOOL_AUX_COUNT] = { "sts", "tlsrpt",
    "abuse" };
static char spool_path[1024];

/* A subdirectory of the spool, ours, never a link (as the daemon's user). */
static int
open_subdir(const char *name)
{
	struct stat st;
	int fd, e;

	if (mkdirat(spool_dirfd, name, 0700) == -1 && errno != EEXIST)
		goto fail;
	fd = openat(spool_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		goto fail;
	if (fstat(fd, &st) == -1 || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_errx("event=spool-init dir=%s/%s error=\"not owned by the "
		    "daemon's user, or writable by others\"", log_str(spool_path),
		    name);
		close(fd);
		return -1;
	}
	return fd;
fail:
	/* O_DIRECTORY|O_NOFOLLOW on a link fails ENOTDIR, not ELOOP. */
	e = errno;
	log_errx("event=spool-init dir=%s/%s error=%s", log_str(spool_path), name,
	    log_str((e == ELOOP || e == ENOTDIR) && fstatat(spool_dirfd, name, &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) ?
	    "a symbolic link; refusing to follow it" : strerror(e)));
	return -1;
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
			log_info("event=spool-clean file=%s reason=unfinished",
			    log_str(de->d_name));
	}
	closedir(d);
}

int
spool_prepare(const char *dir, uid_t uid, gid_t gid)
{
	char why[512];

	snprintf(spool_path, sizeof(spool_path), "%s", dir);
	if ((spool_dirfd = files_own_dir(dir, uid, gid, 0700, why,
	    sizeof(why))) == -1) {
		log_errx("event=spool-init dir=%s error=%s", log_str(dir),
		    log_str(why));
		return -1;
	}
	return 0;
}

static int	spool_apply(struct journal_req *);
static int	spool_replay(const struct journal_rec *);
static int	spool_sync(void);

/*
 * One file system for tmp/, queue/, state/ and journal/: a rename must not
 * cross one, and one syncfs(2) at a checkpoint must cover them all.
 */
static int
same_fs(void)
{
	const int fds[] = { tmp_dirfd, state_dirfd, journal_dirfd };
	struct stat q, st;
	size_t i;

	if (fstat(queue_dirfd, &q) == -1)
		return -1;
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fstat(fds[i], &st) == -1 || st.st_dev != q.st_dev) {
			log_errx("event=spool-init dir=%s error=\"tmp, queue, "
			    "state and journal must be on one file system\"",
			    log_str(spool_path));
			return -1;
		}
	return 0;
}

int
spool_init(int checkpoint)
{
	static const struct journal_hooks hooks = { spool_apply, spool_replay,
	    spool_sync };
	int i;

	if ((tmp_dirfd = open_subdir("tmp")) == -1 ||
	    (queue_dirfd = open_subdir("queue")) == -1 ||
	    (state_dirfd = open_subdir("state")) == -1 ||
	    (journal_dirfd = open_subdir("journal")) == -1)
		return -1;
	for (i = 0; i < SPOOL_AUX_COUNT; i++)
		if ((aux_dirfd[i] = open_subdir(aux_names[i])) == -1)
			return -1;
	if (same_fs() == -1)
		return -1;
	clean_tmp();
	return journal_open(journal_dirfd, &hooks, checkpoint);
}

void
spool_close(void)
{
	journal_close();
}

/*
 * An aux file name: a domain name as policy code builds it (letters,
 * digits, dots, hyphens), never "." or ".." and never a path.
 */
static int
aux_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-' ||
		    (name[i] == '.' && i > 0)))
			return 0;
	return i > 0 && i < 256;
}

static int
write_full(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * dirfd/name replaced whole by buf: written under name.new (fsynced when
 * sync, else the journal covers it), then renamed.  A crash leaves the old
 * file or the new one, or a ".new" that start-up removes.
 */
static int
replace_file(int dirfd, const char *name, const char *buf, size_t len,
    int sync)
{
	char tmp[300];
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.new", name) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_full(fd, buf, len) == -1 || (sync && spool_fsync(fd) == -1))
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) == -1)
		goto fail;
	return 0;
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	errno = e;
	return -1;
}

int
spool_aux_write(enum spool_aux dir, const char *name, const char *buf,
    size_t len)
{
	if (!aux_name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	return replace_file(aux_dirfd[dir], name, buf, len, 1);
}

char *
spool_aux_read(enum spool_aux dir, const char *name, size_t max, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	*len = 0;
	if (!aux_name_ok(name)) {
		errno = EINVAL;
		return NULL;
	}
	if ((fd = openat(aux_dirfd[dir], name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max || (buf = malloc(st.st_size + 1)) == NULL) {
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	n = read(fd, buf, st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

int
spool_aux_remove(enum spool_aux dir, const char *name)
{
	if (!aux_name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	return unlinkat(aux_dirfd[dir], name, 0);
}

int
spool_aux_each(enum spool_aux dir, void (*fn)(const char *name, void *arg),
    void *arg)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(aux_dirfd[dir]);
	size_t n;

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n > 4 && strcmp(de->d_name + n - 4, ".new") == 0)
			unlinkat(aux_dirfd[dir], de->d_name, 0);	/* a crash's */
		else if (aux_name_ok(de->d_name))
			fn(de->d_name, arg);
	}
	closedir(d);
	return 0;
}

int
spool_free_space(long long *bytes)
{
	struct statvfs sv;

	if (fstatvfs(spool_dirfd, &sv) == -1)
		return -1;
	*bytes = (long long)sv.f_bavail * (long long)sv.f_frsize;
	return 0;
}

int
spool_secret(const char *name, unsigned char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = openat(spool_dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1) {
		n = read(fd, buf, len);
		close(fd);
		if (n == (ssize_t)len)
			return 0;
		log_errx("event=spool-init file=%s error=\"shorter than %zu "
		    "octets\"", name, len);
		return -1;
	}
	if (errno != ENOENT)
		goto fail;
	/* Made once; written under a temporary name so a crash leaves none. */
	arc4random_buf(buf, len);
	unlinkat(spool_dirfd, "secret.new", 0);
	fd = openat(spool_dirfd, "secret.new", O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	if (write(fd, buf, len) != (ssize_t)len || spool_fsync(fd) == -1) {
		close(fd);
		goto fail;
	}
	close(fd);
	if (renameat(spool_dirfd, "secret.new", spool_dirfd, name) == -1 ||
	    spool_fsync(spool_dirfd) == -1)
		goto fail;
	return 0;
fail:
	log_errx("event=spool-init file=%s error=%s", name,
	    log_str(strerror(errno)));
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

void
spool_notify_text(unsigned notify, char *buf, size_t size)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ SMTP_NOTIFY_NEVER, "NEVER" }, { SMTP_NOTIFY_SUCCESS, "SUCCESS" },
		{ SMTP_NOTIFY_FAILURE, "FAILURE" }, { SMTP_NOTIFY_DELAY, "DELAY" },
	};
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (notify & names[i].bit)
			n += snprintf(buf + n, n < size ? size - n : 0, "%s%s",
			    n > 0 ? "," : "", names[i].name);
}

void
spool_set_ext(struct spool_file *f, unsigned flags)
{
	char v[4];
	size_t i;

	for (i = 0; i < sizeof(v); i++)
		v[i] = flags & (1u << i) ? SPOOL_EXT_FLAGS[i] : '-';
	spool_patch(f, f->ext_offset, v, sizeof(v));
}

int
spool_open(struct spool_file *f, const struct spool_envelope *env)
{
	const struct spool_ext *ext = env->ext;
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
		if (!safe_value(env->rcpts[i]) || (env->ext != NULL &&
		    env->ext->orcpt != NULL && env->ext->orcpt[i] != NULL &&
		    !safe_value(env->ext->orcpt[i]))) {
			errno = EINVAL;
			return -1;
		}
	if (env->ext != NULL && !safe_value(env->ext->envid)) {
		errno = EINVAL;
		return -1;
	}
	spool_new_id(f->id);
	if ((f->buf = malloc(SPOOL_BUF_SIZE)) == NULL)
		return -1;
	f->bufcap = SPOOL_BUF_SIZE;
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
	f->ext_offset = (off_t)f->size + 5;
	spool_write(f, "ext: ----\n", 10);
	if (ext != NULL && ext->ret != SMTP_RET_NONE)
		FIELD("ret", ext->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
	if (ext != NULL && ext->envid[0] != '\0')
		FIELD("envid", ext->envid);
	for (i = 0; i < env->nrcpts; i++) {
		FIELD("rcpt", env->rcpts[i]);
		if (ext != NULL && ext->notify != NULL && ext->notify[i] != 0) {
			spool_notify_text(ext->notify[i], head, sizeof(head));
			FIELD("notify", head);
		}
		if (ext != NULL && ext->orcpt != NULL && ext->orcpt[i] != NULL)
			FIELD("orcpt", ext->orcpt[i]);
	}
#undef FIELD
	spool_write(f, "\n", 1);
	f->body_offset = f->size;
	f->size = 0;
	if (ext != NULL)
		spool_set_ext(f, ext->flags);
	if (f->error) {
		errno = f->error;
		spool_abort(f);
		return -1;
	}
	return 0;
}

static void
write_all(struct spool_file *f, const char *buf, size_t len)
{
	ssize_t n;

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

/* Too long for memory: from here on the message is tmp/ID. */
static int
spill(struct spool_file *f)
{
	if (f->error != 0)
		return -1;
	f->fd = openat(tmp_dirfd, f->id, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (f->fd == -1) {
		f->error = errno;
		return -1;
	}
	return 0;
}

static void
spool_flush(struct spool_file *f)
{
	if (f->fd != -1 || spill(f) == 0)
		write_all(f, f->buf, f->buflen);
	f->buflen = 0;
}

/* The file offset of buf[0]: what comes before it is in tmp/ID. */
static off_t
buf_start(const struct spool_file *f)
{
	return f->body_offset + (off_t)f->size - (off_t)f->buflen;
}

void
spool_patch(struct spool_file *f, off_t off, const char *buf, size_t len)
{
	off_t start = buf_start(f);
	ssize_t n;

	if (off >= start && off + (off_t)len <= start + (off_t)f->buflen) {
		memcpy(f->buf + (off - start), buf, len);	/* no syscall */
		return;
	}
	spool_flush(f);
	while (len > 0 && f->error == 0) {
		n = pwrite(f->fd, buf, len, off);
		if (n == -1) {
			if (errno != EINTR)
				f->error = errno;
			continue;
		}
		buf += n;
		len -= n;
		off += n;
	}
}

/* While nothing is in tmp/ID, the buffer grows up to SPOOL_MEM_MAX. */
static void
grow(struct spool_file *f, size_t need)
{
	size_t cap = f->bufcap;
	char *p;

	while (cap < need)
		cap *= 2;
	if (cap > SPOOL_MEM_MAX)
		cap = SPOOL_MEM_MAX;
	if ((p = realloc(f->buf, cap)) == NULL)
		return;			/* it spills instead */
	f->buf = p;
	f->bufcap = cap;
}

void
spool_write(struct spool_file *f, const char *buf, size_t len)
{
	f->size += len;
	if (f->buflen + len > f->bufcap && f->fd == -1 &&
	    f->buflen + len <= SPOOL_MEM_MAX)
		grow(f, f->buflen + len);
	if (f->buflen + len > f->bufcap)
		spool_flush(f);
	if (len >= f->bufcap) {
		if (f->fd != -1)
			write_all(f, buf, len);
		return;
	}
	memcpy(f->buf + f->buflen, buf, len);
	f->buflen += len;
}

void
spool_printf(struct spool_file *f, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (f->error == 0)
			f->error = ENOMEM;
		return;
	}
	spool_write(f, s, n);
	free(s);
}

/*
 * The journal takes the message from memory, or copies tmp/ID once what
 * is buffered is written out.
 */
static int
commit_prepare(struct spool_file *f, struct journal_req *r)
{
	struct stat st;

	memset(r, 0, sizeof(*r));
	r->type = JOURNAL_MESSAGE;
	memcpy(r->id, f->id, sizeof(r->id));
	r->owner = f;
	r->fd = f->fd;
	if (f->fd == -1) {
		r->buf = f->buf;
		r->len = f->buflen;
	} else {
		spool_flush(f);
		free(f->buf);
		f->buf = NULL;
		if (f->error == 0 && fstat(f->fd, &st) == -1)
			f->error = errno;
		if (f->error == 0)
			r->len = st.st_size;
	}
	if (f->error != 0) {
		errno = f->error;
		return -1;
	}
	return 0;
}

int
spool_commit(struct spool_file *f)
{
	struct journal_req r;

	if (commit_prepare(f, &r) == -1)
		return -1;
	if (journal_run(&r) == -1) {
		f->error = errno;
		return -1;
	}
	return 0;
}

int
spool_commit_submit(struct spool_file *f, struct journal_req *r,
    struct journal_port *port, void (*done)(struct journal_req *))
{
	if (commit_prepare(f, r) == -1)
		return -1;
	r->done = done;
	journal_submit(r, port);
	return 0;
}

void
spool_abort(struct spool_file *f)
{
	free(f->buf);
	f->buf = NULL;
	f->buflen = 0;
	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;
	unlinkat(tmp_dirfd, f->id, 0);	/* it may have spilled, then failed */
}

int
spool_id_valid(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
			return 0;
	return i == SPOOL_ID_LEN;
}

/* Calls fn for every entry of dirfd that looks like a queue id. */
static int
dir_each(int dirfd, void (*fn)(const char *, void *), void *arg)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(dirfd);

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (spool_id_valid(de->d_name))
			fn(de->d_name, arg);
	closedir(d);
	return 0;
}

static void
orphan_state(const char *id, void *arg)
{
	if (faccessat(queue_dirfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT && unlinkat(state_dirfd, id, 0) == 0)
		log_info("event=spool-clean file=state/%s reason=orphan", id);
}

/* A state file whose replacement a crash interrupted. */
static void
clean_state_tmp(void)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(state_dirfd);
	size_t n;

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n > 4 && strcmp(de->d_name + n - 4, ".new") == 0)
			unlinkat(state_dirfd, de->d_name, 0);
	}
	closedir(d);
}

int
spool_scan(void (*cb)(const char *id, void *arg), void *arg)
{
	clean_state_tmp();
	dir_each(state_dirfd, orphan_state, NULL);
	return dir_each(queue_dirfd, cb, arg);
}

/* The journal first: a checkpoint writes queue/ID before it lets go. */
int
spool_open_message(const char *id, off_t *base)
{
	int fd;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = journal_locate(id, base)) != -1 || errno != ENOENT)
		return fd;
	*base = 0;
	return openat(queue_dirfd, id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}


/* Reads the envelope lines of queue/ID, up to the empty line. */
int
spool_read_envelope(const char *id, struct spool_entry *e)
{
	char line[SPOOL_LINE_MAX];
	struct stat st;
	FILE *f;
	int fd, ok = 0;
	char **v;
	unsigned char *nv;
	size_t i;

	memset(e, 0, sizeof(*e));
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	/* At start: the journal is replayed, every message has its file. */
	if ((fd = openat(queue_dirfd, id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || (f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, "SUBMITD-QUEUE 1\n") != 0)
		goto done;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *nl = strchr(line, '\n'), *val;

		if (nl == NULL)
			goto done;	/* longer than any line we write */
		*nl = '\0';
		if (line[0] == '\0') {
			ok = e->from != NULL && e->nrcpts > 0;
			break;
		}
		if ((val = strstr(line, ": ")) == NULL)
			goto done;
		*val = '\0';
		val += 2;
		if (strcmp(line, "arrival") == 0)
			e->arrival = strtoll(val, NULL, 10);
		else if (strcmp(line, "login") == 0 && e->login == NULL)
			e->login = xstrdup(val);
		else if (strcmp(line, "from") == 0 && e->from == NULL)
			e->from = xstrdup(val);
		else if (strcmp(line, "rcpt") == 0) {
			if ((v = realloc(e->rcpts, (e->nrcpts + 1) * sizeof(*v))) == NULL ||
			    (nv = realloc(e->ext.notify, e->nrcpts + 1)) == NULL)
				abort();
			e->rcpts = v;
			e->ext.notify = nv;
			if ((v = realloc(e->ext.orcpt, (e->nrcpts + 1) * sizeof(*v))) ==
			    NULL)
				abort();
			e->ext.orcpt = v;
			e->ext.notify[e->nrcpts] = 0;
			e->ext.orcpt[e->nrcpts] = NULL;
			e->rcpts[e->nrcpts++] = xstrdup(val);
		} else if (strcmp(line, "ext") == 0) {
			for (i = 0; i < 4 && val[i] != '\0'; i++)
				if (val[i] == SPOOL_EXT_FLAGS[i])
					e->ext.flags |= 1u << i;
		} else if (strcmp(line, "ret") == 0)
			e->ext.ret = strcmp(val, "FULL") == 0 ? SMTP_RET_FULL :
			    SMTP_RET_HDRS;
		else if (strcmp(line, "envid") == 0)
			snprintf(e->ext.envid, sizeof(e->ext.envid), "%s", val);
		else if (strcmp(line, "notify") == 0 && e->nrcpts > 0) {
			unsigned notify;

			if (smtp_parse_notify(val, strlen(val), &notify) == 0)
				e->ext.notify[e->nrcpts - 1] = (unsigned char)notify;
		}
		else if (strcmp(line, "orcpt") == 0 && e->nrcpts > 0 &&
		    e->ext.orcpt[e->nrcpts - 1] == NULL)
			e->ext.orcpt[e->nrcpts - 1] = xstrdup(val);
	}
	e->body_offset = ftello(f);
	e->body_size = st.st_size - e->body_offset;
	if (ok) {
		/* Our signatures are the message's first fields (dkim.c). */
		char top[DKIM_TOP_READ];
		size_t n = fread(top, 1, sizeof(top), f);

		if (dkim_top_signers(top, n, line, sizeof(line)))
			e->dkim = xstrdup(line);
	}
done:
	fclose(f);
	if (!ok) {
		spool_entry_free(e);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

void
spool_entry_free(struct spool_entry *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i]);
		if (e->ext.orcpt != NULL)
			free(e->ext.orcpt[i]);
	}
	free(e->rcpts);
	free(e->ext.orcpt);
	free(e->ext.notify);
	e->ext.orcpt = NULL;
	e->ext.notify = NULL;
	free(e->login);
	free(e->from);
	free(e->dkim);
	e->rcpts = NULL;
	e->login = e->from = e->dkim = NULL;
	e->nrcpts = 0;
}

/* state/ID replaced whole; no fsync: the journal has the state. */
static int
state_file_write(const char *id, const char *buf, size_t len)
{
	return replace_file(state_dirfd, id, buf, len, 0);
}

static void
state_req(struct journal_req *r, const char *id, const char *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->type = JOURNAL_STATE;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->buf = buf;
	r->len = len;
}

static void
remove_req(struct journal_req *r, const char *id)
{
	memset(r, 0, sizeof(*r));
	r->type = JOURNAL_REMOVE;
	snprintf(r->id, sizeof(r->id), "%s", id);
}

int
spool_state_write(const char *id, const char *buf, size_t len)
{
	struct journal_req r;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	state_req(&r, id, buf, len);
	return journal_run(&r);
}

int
spool_state_submit(struct journal_req *r, const char *id, const char *buf,
    size_t len, int final, struct journal_port *port,
    void (*done)(struct journal_req *))
{
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	state_req(r, id, buf, len);
	r->final = final;
	r->done = done;
	journal_submit(r, port);
	return 0;
}

char *
spool_state_read(const char *id)
{
	char *buf;
	ssize_t n;
	int fd;

	if ((fd = openat(state_dirfd, id, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	if ((buf = malloc(SPOOL_STATE_MAX + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, SPOOL_STATE_MAX);
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/*
 * queue/ID first: without it, state/ID is an orphan, not a message.  No
 * sync: should a crash undo the unlink, the removal is replayed from the
 * journal, or the message is delivered once more (the price Postfix pays).
 */
static int
remove_files(const char *id)
{
	if (unlinkat(queue_dirfd, id, 0) == -1 && errno != ENOENT)
		return -1;
	if (unlinkat(state_dirfd, id, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

int
spool_remove(const char *id)
{
	struct journal_req r;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	remove_req(&r, id);
	return journal_run(&r);
}

int
spool_remove_submit(struct journal_req *r, const char *id,
    struct journal_port *port, void (*done)(struct journal_req *))
{
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	remove_req(r, id);
	r->done = done;
	journal_submit(r, port);
	return 0;
}

/* ---- the journal's hooks (its committer thread, or start-up) ---- */

/* A record is durable: the files the queue reads follow it. */
static int
spool_apply(struct journal_req *r)
{
	struct spool_file *f = r->owner;

	switch (r->type) {
	case JOURNAL_MESSAGE:
		if (f->fd == -1) {	/* the journal holds it (journal_locate) */
			free(f->buf);
			f->buf = NULL;
			f->buflen = 0;
			f->committed = 1;
			return 0;
		}
		if (close(f->fd) == -1) {
			f->fd = -1;
			return -1;
		}
		f->fd = -1;
		if (renameat(tmp_dirfd, f->id, queue_dirfd, f->id) == -1)
			return -1;
		f->committed = 1;
		return 0;
	case JOURNAL_STATE:
		return state_file_write(r->id, r->buf, r->len);
	default:
		return remove_files(r->id);
	}
}

/*
 * After a crash, or for a message the journal held until a checkpoint: the
 * files as the record left them, whatever is there.  A message goes
 * through tmp/, so that a full disk never leaves half a queue file.
 */
static int
spool_replay(const struct journal_rec *r)
{
	int fd, e;

	switch (r->type) {
	case JOURNAL_STATE:
		return state_file_write(r->id, (const char *)r->payload, r->len);
	case JOURNAL_REMOVE:
		return remove_files(r->id);
	}
	fd = openat(tmp_dirfd, r->id, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_full(fd, (const char *)r->payload, r->len) == -1) {
		e = errno;
		close(fd);
		errno = e;
		goto fail;
	}
	if (close(fd) == -1 ||
	    renameat(tmp_dirfd, r->id, queue_dirfd, r->id) == -1)
		goto fail;
	return 0;
fail:
	e = errno;
	unlinkat(tmp_dirfd, r->id, 0);
	errno = e;
	return -1;
}

/* A checkpoint: everything applied so far reaches the disk (same_fs). */
static int
spool_sync(void)
{
	__atomic_fetch_add(&fsyncs, 1, __ATOMIC_RELAXED);
	return syncfs(queue_dirfd);
}
