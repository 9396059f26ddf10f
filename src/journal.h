/*
 * journal.h - the spool's write-ahead log: one fdatasync for many writes.
 *
 * Messages, delivery state and removals are appended as records
 * (journal_rec.h) to a segment file in journal/.  One committer thread
 * takes everything submitted since its last turn, from every event loop,
 * appends it, calls fdatasync(2) once, and only then applies each record
 * to the files the rest of the daemon reads (the spool's apply hook:
 * tmp/ID renamed to queue/ID, state/ID written, both unlinked) and reports
 * back: one wake-up per loop per batch.  Those files are written without
 * fsync; the journal is what a crash is recovered from.
 *
 * A message submitted from memory (fd -1) gets no file at all while it
 * is young: journal_locate finds it in the segment, and only a checkpoint
 * that finds it still queued writes queue/ID (through the replay hook)
 * before the segment goes.  Most messages are delivered long before.
 *
 * A final state (every recipient done: the message's removal follows once
 * its delivery job ends) is applied only if the removal has not come by
 * the next checkpoint, so that a message delivered at once never gets a
 * state file (inodes made and freed by the thousand are costly on ext4).
 *
 * A checkpoint (segment past JOURNAL_SEGMENT_MAX, checkpoint seconds after
 * its first record, or journal_close) starts a new segment, applies the
 * final states still waiting, makes the applied files durable with the
 * sync hook (syncfs(2)) and only then deletes the older segments.  journal_open replays the segments left by
 * a crash, in order, through the replay hook, syncs, deletes them, and
 * starts the thread.
 */
#ifndef SUBMITD_JOURNAL_H
#define SUBMITD_JOURNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "journal_rec.h"

#define JOURNAL_SEGMENT_MAX	(64 * 1024 * 1024)

struct event_base;
struct journal_port;

struct journal_req {
	int			 type;		/* JOURNAL_* */
	char			 id[JOURNAL_ID_LEN + 1];
	int			 fd;		/* MESSAGE: copied from offset 0, */
	uint64_t		 len;		/* or -1: from buf; octets */
	const char		*buf;		/* STATE, MESSAGE without fd */
	int			 final;		/* STATE: a removal follows soon */
	void			*owner;		/* the caller's, for the hooks */
	void			(*done)(struct journal_req *);
	int			 rc;		/* when done: 0, or -1 with err */
	int			 err;
	/* private */
	struct journal_port	*port;
	uint64_t		 at;		/* its offset in the segment */
	int			 finished;
	struct journal_req	*next;
};

struct journal_hooks {
	/* Committer thread, once the record is durable: -1 with errno. */
	int	(*apply)(struct journal_req *);
	/* journal_open: puts a record's files back as they were. */
	int	(*replay)(const struct journal_rec *);
	/* Makes every applied change durable (a checkpoint): -1 with errno. */
	int	(*sync)(void);
};

/*
 * dirfd is journal/ (ours, opened by the spool).  Replays, then starts the
 * committer.  -1 when the journal cannot be replayed and made durable.
 */
int	journal_open(int dirfd, const struct journal_hooks *, int checkpoint);
/* Where the done callbacks of one event loop's requests run. */
struct journal_port *journal_port_new(struct event_base *);
void	journal_port_free(struct journal_port *);
/* done runs on port's loop once the record is durable and applied (or not). */
void	journal_submit(struct journal_req *, struct journal_port *);
/* The same, waiting (worker threads, shutdown): rc, errno set on -1. */
int	journal_run(struct journal_req *);
/*
 * Group commit window: while requests come from more than one submitter
 * (two in a row from different sessions or queued messages, within
 * JOURNAL_BUSY_MS), a batch is taken JOURNAL_WINDOW_MS after its first
 * request, so that the commits on their way share its fdatasync, or as
 * soon as none is on its way: journal_expect counts +1 for a session that
 * may send a message (from its start, and from each 250, until it
 * submits one or goes) and for a delivery connection that may report an outcome (-1
 * while it waits for one to be written, and at its end).  A client sending alone to an
 * idle queue is never kept waiting.  Any thread.
 */
#define JOURNAL_WINDOW_MS	6
#define JOURNAL_BUSY_MS		100
void	journal_expect(int delta);
/*
 * A message held in the journal (submitted from memory, not yet written to
 * a file by a checkpoint): a read-only descriptor of its segment, with
 * *base where the message starts; -1 (ENOENT when it is not held).  Any
 * thread; the descriptor stays good after the segment is deleted.
 */
int	journal_locate(const char *id, off_t *base);
/* Waits until everything submitted so far is finished (at shutdown). */
void	journal_drain(void);
/* Last checkpoint: the files are synced and the segments deleted. */
void	journal_close(void);
/* fdatasync, fsync and syncfs calls made by the journal. */
uint64_t journal_sync_count(void);
/* Records and batches committed (stats). */
void	journal_counts(uint64_t *records, uint64_t *batches);

#endif
