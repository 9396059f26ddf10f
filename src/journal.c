/*
 * journal.c - group commit for the spool (see journal.h).
 *
 * Everything below the "committer" line runs on the committer thread
 * alone, or in journal_open/journal_close before and after it: the
 * segment's offset and numbers need no lock.  The lock guards the list of
 * submitted requests and the finished flags of waiting ones; held_lock
 * guards what journal_locate reads from other threads (the held messages
 * and the segment's read-only descriptor), changed by the committer only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "journal.h"
#include "log.h"
#include "util/crc32c.h"
#include "util/map.h"
#include "util/xalloc.h"

#define SEG_NAME_LEN	16	/* lower-case hex: sorts as it numbers */

struct journal_port {
	pthread_mutex_t		 lock;
	struct journal_req	*done, **done_tail;
	struct event		*ev;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t todo_cond;	/* CLOCK_MONOTONIC, journal_open */
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static struct journal_req *todo, **todo_tail = &todo;
static int running, stopping, busy;
static pthread_t thread;

static struct journal_hooks hooks;
static int jdirfd = -1;
static int segfd = -1;
static int segrd = -1;		/* the same, read-only: for journal_locate */
static uint64_t segno;		/* the segment written now */
static uint64_t oldest;		/* the oldest not yet deleted */
static uint64_t segoff;		/* its length */
static time_t seg_first;	/* when its first record came (monotonic) */
static int checkpoint_secs;
static time_t retry_at;		/* a checkpoint failed: not before then */
static uint64_t syncs, records, batches;
static int expected;		/* journal_expect */
static int64_t first_ns;	/* when the oldest request in todo came */
static int64_t busy_until_ns;	/* clients commit side by side until then */
static const void *last_req;	/* the last committed (compared only) */
static int64_t last_ns;
static unsigned char copybuf[65536];
static struct map finals;	/* id -> struct final, waiting for a removal */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct map held;		/* id -> struct held: only in the segment */

struct final {
	size_t			 len;
	char			 buf[];
};

/* A message that has no file: its payload in the current segment. */
struct held {
	uint64_t		 off;
	uint64_t		 len;
	int			 written;	/* to queue/ by this checkpoint */
};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static time_t
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int
counted(int (*fn)(int), int fd)
{
	__atomic_fetch_add(&syncs, 1, __ATOMIC_RELAXED);
	return fn(fd);
}

uint64_t
journal_sync_count(void)
{
	return __atomic_load_n(&syncs, __ATOMIC_RELAXED);
}

void
journal_counts(uint64_t *r, uint64_t *b)
{
	*r = __atomic_load_n(&records, __ATOMIC_RELAXED);
	*b = __atomic_load_n(&batches, __ATOMIC_RELAXED);
}

static void
seg_name(uint64_t n, char *buf)
{
	snprintf(buf, SEG_NAME_LEN + 1, "%016llx", (unsigned long long)n);
}

static int
seg_name_parse(const char *s, uint64_t *n)
{
	size_t i;

	*n = 0;
	for (i = 0; i < SEG_NAME_LEN; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			*n = *n << 4 | (uint64_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			*n = *n << 4 | (uint64_t)(s[i] - 'a' + 10);
		else
			return -1;
	}
	return s[i] == '\0' ? 0 : -1;
}

/* A new, empty segment whose name is on disk before anything is in it. */
static int
seg_create(uint64_t n)
{
	char name[SEG_NAME_LEN + 1];
	int fd, e;

	seg_name(n, name);
	fd = openat(jdirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (counted(fsync, jdirfd) == -1) {
		e = errno;
		close(fd);
		unlinkat(jdirfd, name, 0);
		errno = e;
		return -1;
	}
	return fd;
}

/* Segment n becomes the one written (and read by journal_locate). */
static int
seg_switch(uint64_t n)
{
	char name[SEG_NAME_LEN + 1];
	int fd, rd, oldfd, oldrd, e;

	if ((fd = seg_create(n)) == -1)
		return -1;
	seg_name(n, name);
	if ((rd = openat(jdirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1) {
		e = errno;
		close(fd);
		unlinkat(jdirfd, name, 0);	/* empty: harmless if it stays */
		errno = e;
		return -1;
	}
	pthread_mutex_lock(&held_lock);
	oldfd = segfd;
	oldrd = segrd;
	segfd = fd;
	segrd = rd;
	pthread_mutex_unlock(&held_lock);
	if (oldfd != -1)
		close(oldfd);
	if (oldrd != -1)
		close(oldrd);
	segno = n;
	segoff = 0;
	return 0;
}

/*
 * Deletes segments from..to-1, oldest first, and makes that durable; stops
 * at one it cannot delete (a newer one must never outlive an older one,
 * whose records would then replay alone).  Returns the first left.
 */
static uint64_t
seg_delete(uint64_t from, uint64_t to)
{
	char name[SEG_NAME_LEN + 1];
	uint64_t n;

	for (n = from; n < to; n++) {
		seg_name(n, name);
		if (unlinkat(jdirfd, name, 0) == -1 && errno != ENOENT) {
			log_errx("event=journal-delete segment=%s error=%s", name,
			    log_str(strerror(errno)));
			break;
		}
	}
	if (n > from && counted(fsync, jdirfd) == -1)
		log_errx("event=journal-delete error=%s", log_str(strerror(errno)));
	return n;
}

/* ---- start-up: replay what a crash left ---- */

struct replay {
	const char	*name;
	uint64_t	 count;
	int		 failed;
};

static int
replay_one(const struct journal_rec *r, void *arg)
{
	struct replay *rp = arg;

	if (hooks.replay(r) == -1) {
		log_errx("event=journal-replay segment=%s queue=%s type=%c "
		    "error=%s", rp->name, r->id, r->type,
		    log_str(strerror(errno)));
		rp->failed = 1;
		return -1;
	}
	rp->count++;
	return 0;
}

static int
replay_segment(uint64_t n, int last)
{
	char name[SEG_NAME_LEN + 1];
	struct replay rp = { name, 0, 0 };
	struct stat st;
	void *map;
	size_t end;
	int fd;

	seg_name(n, name);
	if ((fd = openat(jdirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		log_errx("event=journal-replay segment=%s error=%s", name,
		    log_str(strerror(errno)));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		log_errx("event=journal-replay segment=%s error=%s", name,
		    log_str(strerror(errno)));
		return -1;
	}
	end = journal_scan(map, st.st_size, replay_one, &rp);
	munmap(map, st.st_size);
	if (rp.failed)
		return -1;
	if (end < (size_t)st.st_size && last)
		log_info("event=journal-replay segment=%s records=%llu "
		    "torn_at=%zu reason=\"never acknowledged\"", name,
		    (unsigned long long)rp.count, end);
	else if (end < (size_t)st.st_size)
		log_errx("event=journal-replay segment=%s records=%llu "
		    "torn_at=%zu error=\"damaged before its end\"", name,
		    (unsigned long long)rp.count, end);
	else
		log_info("event=journal-replay segment=%s records=%llu", name,
		    (unsigned long long)rp.count);
	return 0;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The segments in journal/, in order (to free); -1 on a read error. */
static int
seg_list(uint64_t **list, size_t *count)
{
	struct dirent *de;
	size_t cap = 0;
	uint64_t n;
	DIR *d;
	int fd;

	*list = NULL;
	*count = 0;
	if ((fd = dup(jdirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (seg_name_parse(de->d_name, &n) == -1)
			continue;
		if (*count == cap) {
			cap = cap ? cap * 2 : 8;
			*list = xreallocarray(*list, cap, sizeof(**list));
		}
		(*list)[(*count)++] = n;
	}
	closedir(d);
	if (*count > 1)
		qsort(*list, *count, sizeof(**list), u64_cmp);
	return 0;
}

static void	*committer(void *);

int
journal_open(int fd, const struct journal_hooks *h, int checkpoint)
{
	pthread_condattr_t ca;
	uint64_t *list, n;
	size_t i, count;

	jdirfd = fd;
	hooks = *h;
	checkpoint_secs = checkpoint > 0 ? checkpoint : 30;
	if (seg_list(&list, &count) == -1) {
		log_errx("event=journal-open error=%s", log_str(strerror(errno)));
		return -1;
	}
	for (i = 0; i < count; i++)
		if (replay_segment(list[i], i + 1 == count) == -1) {
			free(list);
			return -1;
		}
	n = count > 0 ? list[count - 1] + 1 : 1;
	if (count > 0) {
		/* What was replayed is on disk before its records go. */
		if (hooks.sync() == -1) {
			log_errx("event=journal-open step=sync error=%s",
			    log_str(strerror(errno)));
			free(list);
			return -1;
		}
		for (i = 0; i < count; i++)
			if (seg_delete(list[i], list[i] + 1) == list[i]) {
				free(list);
				return -1;	/* it would replay again, later */
			}
	}
	free(list);
	map_init(&finals);
	map_init(&held);
	if (seg_switch(n) == -1) {
		log_errx("event=journal-open error=%s", log_str(strerror(errno)));
		return -1;
	}
	oldest = segno;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&todo_cond, &ca);
	pthread_condattr_destroy(&ca);
	stopping = 0;
	running = 1;
	if (pthread_create(&thread, NULL, committer, NULL) != 0) {
		running = 0;
		log_errx("event=journal-open error=\"cannot start its thread\"");
		return -1;
	}
	return 0;
}

/* ---- submitting and waiting ---- */

static void
port_cb(evutil_socket_t fd, short what, void *arg)
{
	struct journal_port *p = arg;
	struct journal_req *r, *next;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&p->lock);
	r = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	pthread_mutex_unlock(&p->lock);
	for (; r != NULL; r = next) {
		next = r->next;
		r->done(r);
	}
}

struct journal_port *
journal_port_new(struct event_base *base)
{
	struct journal_port *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	p->done_tail = &p->done;
	if ((p->ev = event_new(base, -1, 0, port_cb, p)) == NULL)
		abort();
	return p;
}

void
journal_port_free(struct journal_port *p)
{
	if (p == NULL)
		return;
	event_free(p->ev);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Hands a finished request back; r is not touched afterwards. */
static void
finish(struct journal_req *r)
{
	struct journal_port *p = r->port;
	int wake;

	if (p == NULL) {
		pthread_mutex_lock(&lock);
		r->finished = 1;
		pthread_cond_broadcast(&done_cond);
		pthread_mutex_unlock(&lock);
		return;
	}
	pthread_mutex_lock(&p->lock);
	wake = p->done == NULL;
	r->next = NULL;
	*p->done_tail = r;
	p->done_tail = &r->next;
	pthread_mutex_unlock(&p->lock);
	if (wake)
		event_active(p->ev, EV_READ, 0);	/* thread-safe */
}

/* Queues r for the committer; 0, or -1 when the journal is not running. */
static int
enqueue(struct journal_req *r)
{
	r->finished = 0;
	r->rc = 0;
	r->err = 0;
	r->next = NULL;
	if (!running || stopping) {
		r->rc = -1;
		r->err = ESHUTDOWN;
		return -1;
	}
	if (todo == NULL)
		first_ns = now_ns();
	*todo_tail = r;
	todo_tail = &r->next;
	pthread_cond_signal(&todo_cond);
	return 0;
}

void
journal_submit(struct journal_req *r, struct journal_port *p)
{
	int rc;

	r->port = p;
	pthread_mutex_lock(&lock);
	rc = enqueue(r);
	pthread_mutex_unlock(&lock);
	if (rc == -1)
		finish(r);
}

int
journal_run(struct journal_req *r)
{
	r->port = NULL;
	pthread_mutex_lock(&lock);
	if (enqueue(r) == 0)
		while (!r->finished)
			pthread_cond_wait(&done_cond, &lock);
	pthread_mutex_unlock(&lock);
	if (r->rc == -1)
		errno = r->err;
	return r->rc;
}

void
journal_expect(int delta)
{
	__atomic_fetch_add(&expected, delta, __ATOMIC_RELAXED);
}

/* ---- the committer ---- */

static int
pwrite_all(const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = pwrite(segfd, p, len, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Writes r at the end of the segment; the offset moves only when whole. */
static int
append(struct journal_req *r)
{
	unsigned char hdr[JOURNAL_HDR_LEN];
	uint64_t body = segoff + JOURNAL_HDR_LEN, done = 0;
	uint32_t crc = 0;
	size_t want;
	ssize_t n;

	if (r->type == JOURNAL_MESSAGE && r->fd != -1) {
		while (done < r->len) {
			want = r->len - done < sizeof(copybuf) ?
			    (size_t)(r->len - done) : sizeof(copybuf);
			if ((n = pread(r->fd, copybuf, want, (off_t)done)) == -1 &&
			    errno == EINTR)
				continue;
			if (n <= 0) {
				if (n == 0)
					errno = EIO;	/* shorter than said */
				return -1;
			}
			crc = crc32c(crc, copybuf, n);
			if (pwrite_all(copybuf, n, body + done) == -1)
				return -1;
			done += n;
		}
	} else if (r->type != JOURNAL_REMOVE) {	/* from memory */
		crc = crc32c(0, r->buf, r->len);
		if (pwrite_all(r->buf, r->len, body) == -1)
			return -1;
	}
	if (journal_hdr_encode(hdr, r->type, r->id, r->len, crc) == -1) {
		errno = EINVAL;
		return -1;
	}
	if (pwrite_all(hdr, sizeof(hdr), segoff) == -1)
		return -1;
	segoff = body + r->len;
	return 0;
}

static void	checkpoint(void);

/* A final state waits in memory; its file may never be needed. */
static void
final_keep(const struct journal_req *r)
{
	struct final *f = xcalloc(1, sizeof(*f) + r->len);

	f->len = r->len;
	memcpy(f->buf, r->buf, r->len);
	free(map_get(&finals, r->id));
	if (map_put(&finals, r->id, f) == -1)
		abort();
}

static int
final_write(const char *id, void *value, void *arg)
{
	struct final *f = value;
	struct journal_req r;

	(void)arg;
	memset(&r, 0, sizeof(r));
	r.type = JOURNAL_STATE;
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.buf = f->buf;
	r.len = f->len;
	if (hooks.apply(&r) == -1)
		log_errx("event=journal-checkpoint queue=%s step=state error=%s",
		    id, log_str(strerror(errno)));
	free(f);
	return 1;
}

/* A message from memory stays in the segment: no file unless it must. */
static void
held_keep(const struct journal_req *r)
{
	struct held *h = xcalloc(1, sizeof(*h)), *old;

	h->off = r->at + JOURNAL_HDR_LEN;
	h->len = r->len;
	pthread_mutex_lock(&held_lock);
	old = map_get(&held, r->id);
	if (map_put(&held, r->id, h) == -1)
		abort();
	pthread_mutex_unlock(&held_lock);
	free(old);
}

static void
held_drop(const char *id)
{
	struct held *h;

	pthread_mutex_lock(&held_lock);
	h = map_del(&held, id);
	pthread_mutex_unlock(&held_lock);
	free(h);
}

int
journal_locate(const char *id, off_t *base)
{
	struct held *h;
	int fd = -1;

	pthread_mutex_lock(&held_lock);
	if ((h = map_get(&held, id)) == NULL)
		errno = ENOENT;
	else if ((fd = fcntl(segrd, F_DUPFD_CLOEXEC, 0)) != -1)
		*base = (off_t)h->off;
	pthread_mutex_unlock(&held_lock);
	return fd;
}

static int
pread_all(int fd, unsigned char *buf, size_t len, uint64_t off)
{
	ssize_t n;

	while (len > 0) {
		if ((n = pread(fd, buf, len, (off_t)off)) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= n;
		off += n;
	}
	return 0;
}

struct held_pass {
	unsigned	 written;
	int		 failed;
};

/* A held message to queue/ID, the way a replay writes it. */
static int
held_write_one(const char *id, void *value, void *arg)
{
	struct held *h = value;
	struct held_pass *p = arg;
	struct journal_rec rec;
	unsigned char *buf;

	if (h->written)
		return 0;
	buf = xcalloc(1, h->len > 0 ? h->len : 1);
	memset(&rec, 0, sizeof(rec));
	rec.type = JOURNAL_MESSAGE;
	snprintf(rec.id, sizeof(rec.id), "%s", id);
	rec.len = h->len;
	rec.payload = buf;
	if (pread_all(segfd, buf, h->len, h->off) == -1 ||
	    hooks.replay(&rec) == -1) {
		log_errx("event=journal-checkpoint queue=%s step=message error=%s",
		    id, log_str(strerror(errno)));
		p->failed = 1;
	} else {
		h->written = 1;
		p->written++;
	}
	free(buf);
	return 0;
}

static int
held_written(const char *id, void *value, void *arg)
{
	struct held *h = value;

	(void)id;
	(void)arg;
	if (!h->written)
		return 0;
	free(h);
	return 1;
}

/*
 * Before the segment may go: each message still held gets its file.  The
 * map is changed by this thread only, so it is walked without the lock;
 * readers let go of an entry only once its file is there.  -1 when one
 * could not be written (it stays held, the segment with it).
 */
static int
held_write(void)
{
	struct held_pass p = { 0, 0 };

	map_sweep(&held, held_write_one, &p);
	if (p.written > 0) {
		pthread_mutex_lock(&held_lock);
		map_sweep(&held, held_written, NULL);
		pthread_mutex_unlock(&held_lock);
	}
	return p.failed ? -1 : 0;
}

/* Before a checkpoint's sync: the final states still waiting, to files. */
static void
finals_write(void)
{
	map_sweep(&finals, final_write, NULL);
}

/*
 * Messages the apply hook could not take (the client hears an error):
 * their records must not replay.  -1 when a removal could not be made
 * durable: the segment must then go at a checkpoint instead.
 */
static int
undo(struct journal_req *batch)
{
	struct journal_req *r, rm;
	int n = 0, rc = 0;

	for (r = batch; r != NULL; r = r->next) {
		if (r->type != JOURNAL_MESSAGE || r->rc == 0)
			continue;
		memset(&rm, 0, sizeof(rm));
		rm.type = JOURNAL_REMOVE;
		memcpy(rm.id, r->id, sizeof(rm.id));
		if (append(&rm) == 0)
			n++;
		else
			rc = -1;
	}
	if (n > 0 && counted(fdatasync, segfd) == -1) {
		log_errx("event=journal-sync error=%s", log_str(strerror(errno)));
		rc = -1;
	}
	return rc;
}

static void
commit(struct journal_req *batch)
{
	struct journal_req *r, *next;
	uint64_t start, at;
	int n = 0, undone = 0, full = 0, e;

	if (segfd == -1 && seg_switch(segno) == -1) {
		e = errno;
		for (r = batch; r != NULL; r = r->next) {
			r->rc = -1;
			r->err = e;
		}
		goto out;
	}
	if (segoff == 0)
		seg_first = now();
	start = segoff;
	for (r = batch; r != NULL; r = r->next) {
		at = r->at = segoff;
		if (append(r) == -1) {
			r->rc = -1;
			r->err = errno;
			full |= r->err == ENOSPC || r->err == EDQUOT;
			if (ftruncate(segfd, (off_t)at) == -1)
				log_errx("event=journal-truncate error=%s",
				    log_str(strerror(errno)));
		} else
			n++;
	}
	if (n > 0 && counted(fdatasync, segfd) == -1) {
		e = errno;
		log_errx("event=journal-sync error=%s", log_str(strerror(e)));
		if (ftruncate(segfd, (off_t)start) == -1)
			log_errx("event=journal-truncate error=%s",
			    log_str(strerror(errno)));
		segoff = start;
		for (r = batch; r != NULL; r = r->next)
			if (r->rc == 0) {
				r->rc = -1;
				r->err = e;
			}
		n = 0;
	}
	if (n > 0) {
		__atomic_fetch_add(&records, n, __ATOMIC_RELAXED);
		__atomic_fetch_add(&batches, 1, __ATOMIC_RELAXED);
	}
	for (r = batch; r != NULL; r = r->next) {
		/*
		 * A removal is made even when its record could not be
		 * written (a full disk, most likely): it frees space, and a
		 * crash before the next checkpoint only sends it once more.
		 */
		if (r->rc == -1 && r->type == JOURNAL_REMOVE) {
			log_warnx("event=journal-write queue=%s type=R error=%s "
			    "reason=\"removed without its record\"", r->id,
			    log_str(strerror(r->err)));
			r->rc = 0;
		}
		if (r->rc == 0 && r->type == JOURNAL_STATE && r->final) {
			final_keep(r);
			continue;
		}
		if (r->rc == 0 && r->type != JOURNAL_MESSAGE)
			free(map_del(&finals, r->id));	/* superseded */
		if (r->rc == 0 && r->type == JOURNAL_REMOVE)
			held_drop(r->id);
		if (r->rc == 0 && r->type == JOURNAL_MESSAGE && r->fd == -1)
			held_keep(r);
		if (r->rc == 0 && hooks.apply(r) == -1) {
			r->rc = -1;
			r->err = errno;
			undone += r->type == JOURNAL_MESSAGE;
			full |= r->err == ENOSPC || r->err == EDQUOT;
		}
	}
	if (undone && undo(batch) == -1)
		full = 1;
	/* Full: older segments hold copies of what is gone; free them. */
	if (full && (segoff > 0 || oldest < segno))
		checkpoint();
out:
	for (r = batch; r != NULL; r = next) {
		next = r->next;
		finish(r);
	}
}

static int
checkpoint_due(void)
{
	if (now() < retry_at)
		return 0;
	return segoff >= JOURNAL_SEGMENT_MAX ||
	    (segoff > 0 && now() - seg_first >= checkpoint_secs);
}

/*
 * Everything in the segments before the new one has been applied: once
 * the files are synced, those records are needed no more.
 */
static void
checkpoint(void)
{
	if (held_write() == -1) {
		log_errx("event=journal-checkpoint step=message reason=\"again "
		    "in a second\"");
		retry_at = now() + 1;
		return;
	}
	if (seg_switch(segno + 1) == -1) {
		log_errx("event=journal-checkpoint error=%s reason=\"again in "
		    "a second\"", log_str(strerror(errno)));
		retry_at = now() + 1;
		return;
	}
	finals_write();
	if (hooks.sync() == -1) {
		log_errx("event=journal-checkpoint step=sync error=%s "
		    "reason=\"segments kept for the next one\"",
		    log_str(strerror(errno)));
		return;
	}
	oldest = seg_delete(oldest, segno);
}

/*
 * Under the lock, with a request waiting: while clients commit side by
 * side, the batch is taken JOURNAL_WINDOW_MS after its first request, or
 * once nothing more is expected (each submission signals todo_cond).
 */
static void
window(void)
{
	struct timespec end;
	int64_t t = first_ns + JOURNAL_WINDOW_MS * 1000000LL;

	if (now_ns() >= busy_until_ns)
		return;
	end.tv_sec = t / 1000000000;
	end.tv_nsec = t % 1000000000;
	while (!stopping && __atomic_load_n(&expected, __ATOMIC_RELAXED) > 0 &&
	    pthread_cond_timedwait(&todo_cond, &lock, &end) != ETIMEDOUT)
		;
}

/*
 * Requests from two submitters in a row, close together: a busy spell.
 * A request is its submitter's own (a session's, a queued message's), so
 * its address tells them apart.
 */
static void
note_submitters(const struct journal_req *batch)
{
	const struct journal_req *r;
	int64_t t = now_ns();

	for (r = batch; r != NULL; r = r->next) {
		if (last_req != NULL && r != last_req &&
		    t - last_ns < JOURNAL_BUSY_MS * 1000000LL)
			busy_until_ns = t + JOURNAL_BUSY_MS * 1000000LL;
		last_req = r;
		last_ns = t;
	}
}

static void *
committer(void *arg)
{
	struct journal_req *batch;
	struct timespec ts;
	int stop;

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (todo == NULL && !stopping && !checkpoint_due()) {
			if (segoff == 0) {
				pthread_cond_wait(&todo_cond, &lock);
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec = seg_first + checkpoint_secs;
			ts.tv_nsec = 0;
			pthread_cond_timedwait(&todo_cond, &lock, &ts);
		}
		if (todo != NULL && !stopping)
			window();
		batch = todo;
		todo = NULL;
		todo_tail = &todo;
		stop = stopping;
		busy = 1;
		pthread_mutex_unlock(&lock);
		if (batch != NULL) {
			note_submitters(batch);
			commit(batch);
		}
		if (checkpoint_due())
			checkpoint();
		pthread_mutex_lock(&lock);
		busy = 0;
		pthread_cond_broadcast(&done_cond);	/* journal_drain */
		if (stop && todo == NULL)
			break;
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

void
journal_drain(void)
{
	pthread_mutex_lock(&lock);
	while (running && (todo != NULL || busy))
		pthread_cond_wait(&done_cond, &lock);
	pthread_mutex_unlock(&lock);
}

void
journal_close(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_signal(&todo_cond);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = 0;
	finals_write();
	/* A clean stop leaves no journal: the next start replays nothing. */
	if (held_write() == -1)
		log_errx("event=journal-close step=message reason=\"segments "
		    "kept, replayed at start\"");
	else if (hooks.sync() == -1) {
		log_errx("event=journal-close step=sync error=%s "
		    "reason=\"segments kept, replayed at start\"",
		    log_str(strerror(errno)));
	} else
		(void)seg_delete(oldest, segno + 1);
	if (segfd != -1)
		close(segfd);
	if (segrd != -1)
		close(segrd);
	segfd = segrd = -1;
}
