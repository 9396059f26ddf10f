/*
 * test_journal_held.c - the journal's messages without files (journal.c):
 * a message committed from memory is found in its segment by
 * journal_locate, a removal lets go of it, a checkpoint writes a file only
 * for one still held (and keeps it held, with its segment, while that
 * write fails), and journal_close leaves no segment and no message behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "journal.h"
#include "log.h"

#define ID1	"0000019C3A2F1E07A1B1"
#define ID2	"0000019C3A2F1E07A1B2"
#define ID3	"0000019C3A2F1E07A1B3"

static const char msg1[] = "SUBMITD-QUEUE 1\nid: " ID1 "\n\nbody one\r\n";
static const char msg2[] = "SUBMITD-QUEUE 1\nid: " ID2 "\n\nbody two\r\n";
static const char msg3[] = "SUBMITD-QUEUE 1\nid: " ID3 "\n\nbody three\r\n";

/* What the hooks saw (the committer thread writes, the test polls). */
static int replay_fail;			/* errno for the replay hook, or 0 */
static int replay_calls, replay_ok, syncs;
static char replayed[4][JOURNAL_ID_LEN + 1];
static char replayed_body[4][64];

static int
apply(struct journal_req *r)
{
	(void)r;
	return 0;
}

static int
replay(const struct journal_rec *r)
{
	int n, e = __atomic_load_n(&replay_fail, __ATOMIC_SEQ_CST);

	__atomic_fetch_add(&replay_calls, 1, __ATOMIC_SEQ_CST);
	if (e != 0) {
		errno = e;
		return -1;
	}
	n = __atomic_load_n(&replay_ok, __ATOMIC_SEQ_CST);
	if (n < 4 && r->type == JOURNAL_MESSAGE &&
	    r->len < sizeof(replayed_body[0])) {
		memcpy(replayed[n], r->id, sizeof(replayed[n]));
		memcpy(replayed_body[n], r->payload, r->len);
		replayed_body[n][r->len] = '\0';
	}
	__atomic_fetch_add(&replay_ok, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int
sync_all(void)
{
	__atomic_fetch_add(&syncs, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int
run(int type, const char *id, const char *buf)
{
	struct journal_req r;

	memset(&r, 0, sizeof(r));
	r.type = type;
	r.fd = -1;
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.buf = buf;
	r.len = buf != NULL ? strlen(buf) : 0;
	return journal_run(&r);
}

/* The message at fd+base reads back as want. */
static int
reads_back(int fd, off_t base, const char *want)
{
	char got[64];
	size_t len = strlen(want);

	return pread(fd, got, len, base) == (ssize_t)len &&
	    memcmp(got, want, len) == 0;
}

static int
segments(int dirfd)
{
	struct dirent *de;
	DIR *d;
	int n = 0, fd = dup(dirfd);

	if (fd == -1 || (d = fdopendir(fd)) == NULL)
		return -1;
	rewinddir(d);		/* the offset is shared with dirfd */
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Polls cond for up to 5 seconds (a checkpoint comes once a second). */
#define WAIT_FOR(cond) do {						\
	int i_;								\
	for (i_ = 0; i_ < 500 && !(cond); i_++)				\
		usleep(10000);						\
} while (0)

int
main(void)
{
	static const struct journal_hooks hooks = { apply, replay, sync_all };
	char dir[] = "/tmp/test_journal_held.XXXXXX";
	off_t base = -1, base2;
	int dirfd, fd, fd2 = -1;

	log_init(1, 0);
	if (mkdtemp(dir) == NULL || (dirfd = open(dir, O_RDONLY |
	    O_DIRECTORY)) == -1) {
		perror("mkdtemp");
		return 1;
	}
	CHECK(journal_open(dirfd, &hooks, 1) == 0, "the journal opens");

	CHECK(run(JOURNAL_MESSAGE, ID1, msg1) == 0, "a message from memory "
	    "commits");
	fd = journal_locate(ID1, &base);
	CHECK(fd != -1 && base >= JOURNAL_HDR_LEN, "it is held in the segment "
	    "(base %lld)", (long long)base);
	CHECK(fd != -1 && reads_back(fd, base, msg1), "and reads back there");
	CHECK(fd != -1 && write(fd, "x", 1) == -1 && errno == EBADF,
	    "through a read-only descriptor");
	CHECK(journal_locate(ID2, &base2) == -1 && errno == ENOENT,
	    "an unknown id is not held (ENOENT)");

	CHECK(run(JOURNAL_MESSAGE, ID2, msg2) == 0 &&
	    (fd2 = journal_locate(ID2, &base2)) != -1 && base2 > base &&
	    reads_back(fd2, base2, msg2), "a second message follows the first");
	if (fd2 != -1)
		close(fd2);
	CHECK(run(JOURNAL_REMOVE, ID2, NULL) == 0 &&
	    journal_locate(ID2, &base2) == -1 && errno == ENOENT,
	    "its removal lets go of it");

	/* A checkpoint whose file cannot be written keeps the message held. */
	__atomic_store_n(&replay_fail, ENOSPC, __ATOMIC_SEQ_CST);
	WAIT_FOR(__atomic_load_n(&replay_calls, __ATOMIC_SEQ_CST) > 0);
	CHECK(__atomic_load_n(&replay_calls, __ATOMIC_SEQ_CST) > 0,
	    "a checkpoint came and tried to write the held message");
	CHECK((fd2 = journal_locate(ID1, &base2)) != -1 && base2 == base,
	    "after a failed write the message is still held");
	if (fd2 != -1)
		close(fd2);
	CHECK(segments(dirfd) == 1 && syncs == 0,
	    "and its segment stays, unsynced, undeleted (%d, %d syncs)",
	    segments(dirfd), syncs);

	__atomic_store_n(&replay_fail, 0, __ATOMIC_SEQ_CST);
	WAIT_FOR(__atomic_load_n(&syncs, __ATOMIC_SEQ_CST) > 0);
	CHECK(replay_ok == 1 && strcmp(replayed[0], ID1) == 0 &&
	    strcmp(replayed_body[0], msg1) == 0, "the next checkpoint writes "
	    "the held message (and not the removed one)");
	CHECK(journal_locate(ID1, &base2) == -1 && errno == ENOENT,
	    "which is held no more: readers open its file");
	WAIT_FOR(segments(dirfd) == 1);
	CHECK(segments(dirfd) == 1, "the old segment is deleted once synced "
	    "(%d)", segments(dirfd));
	CHECK(fd != -1 && reads_back(fd, base, msg1), "a descriptor taken "
	    "before still reads the message");
	if (fd != -1)
		close(fd);

	CHECK(run(JOURNAL_MESSAGE, ID3, msg3) == 0 &&
	    (fd = journal_locate(ID3, &base)) != -1, "a third message is held");
	if (fd != -1)
		close(fd);
	journal_close();
	CHECK(replay_ok == 2 && strcmp(replayed[1], ID3) == 0 &&
	    strcmp(replayed_body[1], msg3) == 0, "journal_close writes it out");
	CHECK(segments(dirfd) == 0, "and leaves no segment");

	close(dirfd);
	rmdir(dir);
	printf("1..%d\n", tests);
	return failures != 0;
}
