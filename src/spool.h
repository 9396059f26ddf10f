/*
 * spool.h - queue files on disk.
 *
 * A message is gathered in memory (a long one in tmp/ID); once complete it
 * is appended to the journal (journal.h), whose one fdatasync covers every
 * message, state change and removal submitted meanwhile.  Only then is it
 * visible to the scheduler, or acknowledged: read from its journal segment
 * while it is young, and from queue/ID once a checkpoint found it still
 * queued (a long one is renamed from tmp/ID at once).  The files under
 * queue/ and state/ are never fsynced one by one: a checkpoint syncs them
 * all with one syncfs(2), and a crash before it is undone by replaying
 * the journal at start.  A queue file is the envelope as text lines
 * "key: value", an empty line, then the
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
 *	ext: U8--
 *	ret: HDRS
 *	envid: QQ+2B7
 *	rcpt: bob@example.org
 *	notify: SUCCESS,FAILURE
 *	orcpt: rfc822;bob@example.org
 *
 *	<message>
 *
 * "ext" holds four flags, '-' when off (SPOOL_EXT_*: SMTPUTF8 given, UTF-8
 * needed, REQUIRETLS, "TLS-Required: No"); the last two are known only at
 * the end of the header section and are written into place then.  "ret"
 * and "envid" (RFC 3461, ENVID still xtext) come when the client gave them;
 * "notify" and "orcpt" belong to the rcpt line above them.  Files from
 * before these keys read as if none had been given.
 *
 * Envelope values come from parsed SMTP commands, which cannot hold CR or
 * LF; spool_open refuses any that do.
 *
 * Delivery state lives beside it in state/ID ("key: value" lines, written
 * by the queue), replaced atomically; a finished message loses queue/ID
 * first, so a crash leaves at worst a stale state file, removed at start.
 * Both go through the journal like the message.
 */
#ifndef SUBMITD_SPOOL_H
#define SUBMITD_SPOOL_H

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "smtp_parse.h"

struct journal_port;
struct journal_req;

#define SPOOL_ID_LEN	20

/* What a message came with besides its addresses (RFC 3461, 6531, 8689). */
#define SPOOL_EXT_SMTPUTF8	0x01	/* MAIL had SMTPUTF8 */
#define SPOOL_EXT_UTF8		0x02	/* ... and the message needs it */
#define SPOOL_EXT_REQUIRETLS	0x04	/* MAIL had REQUIRETLS */
#define SPOOL_EXT_TLS_OPTIONAL	0x08	/* "TLS-Required: No" (RFC 8689 §5) */
#define SPOOL_EXT_FLAGS		"U8RN"	/* how each bit is written */

struct spool_ext {
	unsigned		 flags;		/* SPOOL_EXT_* */
	enum smtp_ret		 ret;
	char			 envid[SMTP_ENVID_MAX + 1];	/* xtext; "" */
	unsigned char		*notify;	/* per rcpt (SMTP_NOTIFY_*), or NULL */
	char			**orcpt;	/* per rcpt, entries or all NULL */
};

struct spool_envelope {
	const char		*login;
	const char		*client;
	const char		*helo;
	const char		*tls;
	const char		*from;
	char			**rcpts;
	size_t			 nrcpts;
	time_t			 arrival;
	const struct spool_ext	*ext;		/* or NULL: none */
};

/*
 * A message is gathered in memory while it fits in SPOOL_MEM_MAX octets
 * (envelope included): then it goes to the journal from there and never
 * has a file of its own unless it is still queued at the next checkpoint
 * (journal.h).  A longer one spills into tmp/ID, written SPOOL_BUF_SIZE
 * octets at a time or more, and is renamed into queue/ once committed.
 */
#define SPOOL_BUF_SIZE	16384
#define SPOOL_MEM_MAX	(128 * 1024)

struct spool_file {
	int			 fd;		/* tmp/ID once spilled, else -1 */
	char			 id[SPOOL_ID_LEN + 1];
	size_t			 size;		/* message octets written */
	off_t			 body_offset;	/* where the message starts */
	int			 error;		/* errno of the first failure */
	char			*buf;		/* writes gather here: one syscall */
	size_t			 buflen;	/* octets in buf */
	size_t			 bufcap;	/* its size */
	off_t			 ext_offset;	/* the "ext" flags in the file */
	int			 committed;	/* durable: the queue's now */
};

/* An envelope read back from queue/ID. */
struct spool_entry {
	char			 id[SPOOL_ID_LEN + 1];
	time_t			 arrival;
	char			*login;
	char			*from;
	char			**rcpts;
	size_t			 nrcpts;
	off_t			 body_offset;
	off_t			 body_size;
	char			*dkim;		/* "sel@domain,..." that signed it */
	struct spool_ext	 ext;		/* notify and orcpt allocated */
};

/*
 * Before the privileges are dropped: makes sure dir exists and is the
 * daemon's (util/files.c's rules), and keeps a descriptor of it.
 */
int	spool_prepare(const char *dir, uid_t uid, gid_t gid);
/*
 * As the daemon's user: opens (makes) tmp/, queue/, state/ and journal/,
 * refusing links, removes what a crash left in tmp/, replays the journal
 * and starts its committer (checkpoint: seconds between checkpoints).
 */
int	spool_init(int checkpoint);
/* At the end: the last checkpoint (the journal is left empty). */
void	spool_close(void);
/*
 * len random octets kept in the spool as name (made on first use, 0600):
 * a secret that survives restarts.
 */
int	spool_secret(const char *name, unsigned char *buf, size_t len);
/*
 * fsync(2) calls the spool has made since start (queue files, directories,
 * state files, small files): with the accepted messages, what a message
 * costs in durable writes.
 */
uint64_t spool_fsync_count(void);
/* Octets free for the daemon in the spool's file system. */
int	spool_free_space(long long *bytes);
/* Is this errno a full disk or quota (the client hears 452 4.3.1)? */
#define SPOOL_ERRNO_FULL(e)	((e) == ENOSPC || (e) == EDQUOT)
/* Starts message ID with its envelope (in memory).  -1 with errno set. */
int	spool_open(struct spool_file *, const struct spool_envelope *);
/* Appends message bytes (buffered); a failure is remembered in f->error. */
void	spool_write(struct spool_file *, const char *buf, size_t len);
/*
 * Writes len octets at file offset off over what was written there before
 * (the DKIM placeholders); may block (worker thread), before spool_commit.
 */
void	spool_patch(struct spool_file *, off_t off, const char *buf, size_t len);
/* NOTIFY as the spool and next hops read it: "SUCCESS,FAILURE", "" for 0. */
void	spool_notify_text(unsigned notify, char *buf, size_t size);
/* Rewrites the "ext" flags written by spool_open (before spool_commit). */
void	spool_set_ext(struct spool_file *, unsigned flags);
/* Appends formatted text, whatever its length. */
void	spool_printf(struct spool_file *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * Blocking (worker thread): write out, journal (a spilled file is then
 * renamed into queue/).  -1 with errno; the file is then still the
 * caller's to spool_abort.
 */
int	spool_commit(struct spool_file *);
/*
 * The same without waiting (any loop): done runs on port's loop with
 * r->rc and r->err.  -1 with errno at once when the file already failed.
 */
int	spool_commit_submit(struct spool_file *, struct journal_req *,
	    struct journal_port *, void (*done)(struct journal_req *));
/* Closes and removes an unfinished file. */
void	spool_abort(struct spool_file *);

/*
 * Reading back and state; all of these may block (worker thread, or start-up
 * before the loop runs).
 */
/* Calls cb for each queued id; removes state files without a queue file. */
int	spool_scan(void (*cb)(const char *id, void *arg), void *arg);
int	spool_read_envelope(const char *id, struct spool_entry *);
void	spool_entry_free(struct spool_entry *);
/*
 * A read-only descriptor of message ID, or -1: queue/ID, or the journal
 * segment that holds it; *base is where the message starts in it (the
 * envelope's body_offset counts from there).
 */
int	spool_open_message(const char *id, off_t *base);
int	spool_state_write(const char *id, const char *buf, size_t len);
/*
 * The same without waiting; buf is kept until done runs on port's loop.
 * final: every recipient is done and the removal follows (journal.h).
 */
int	spool_state_submit(struct journal_req *, const char *id, const char *buf,
	    size_t len, int final, struct journal_port *,
	    void (*done)(struct journal_req *));
/* state/ID as a NUL-terminated string to free, or NULL when there is none. */
char   *spool_state_read(const char *id);
/* Removes queue/ID, then state/ID. */
int	spool_remove(const char *id);
int	spool_remove_submit(struct journal_req *, const char *id,
	    struct journal_port *, void (*done)(struct journal_req *));
/* A valid queue id (so that a control command cannot name another file). */
int	spool_id_valid(const char *id);

/*
 * Small files beside the queue, named by a domain (letters, digits, dots,
 * hyphens): sts/ caches MTA-STS policies, tlsrpt/ keeps TLS-RPT counts,
 * abuse/ the login profiles and suspensions (abuse.c).
 * Written whole under a temporary name, fsynced and renamed.  All may
 * block (worker thread, or start-up).
 */
enum spool_aux {
	SPOOL_AUX_STS,
	SPOOL_AUX_TLSRPT,
	SPOOL_AUX_ABUSE,
	SPOOL_AUX_COUNT,
};
int	spool_aux_write(enum spool_aux, const char *name, const char *buf,
	    size_t len);
/* The whole file (at most max octets, NUL-terminated) to free, or NULL. */
char   *spool_aux_read(enum spool_aux, const char *name, size_t max,
	    size_t *len);
int	spool_aux_remove(enum spool_aux, const char *name);
int	spool_aux_each(enum spool_aux, void (*fn)(const char *name, void *arg),
	    void *arg);

#endif
