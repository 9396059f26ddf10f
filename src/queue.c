/*
 * queue.c - the scheduler between the spool and the delivery client.
 *
 * Every queued message is held in memory (envelope and per-recipient state,
 * never the content).  A tick walks the messages that are due, groups their
 * pending recipients by next hop and starts one delivery job per next hop,
 * so that a backlog for one destination travels over one connection.  When
 * every job of an attempt has ended, the message is finished (bounce for
 * the failed recipients, then removed) or deferred with exponential
 * back-off; either way the state reaches the disk through a worker before
 * anything else relies on it.  A message the next hop has taken is written
 * down as delivered at once, while its connection carries on with the next
 * one (whose final dot waits for that write): a crash then repeats at most
 * the one message in flight per connection.
 *
 * Not here: how the files look (spool.c) and how SMTP is spoken (delivery.c).
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "abuse.h"
#include "config.h"
#include "dane.h"
#include "delivery.h"
#include "dkim.h"
#include "journal.h"
#include "dns.h"
#include "dsn.h"
#include "https.h"
#include "log.h"
#include "metrics.h"
#include "sts.h"
#include "tlsrpt.h"
#include "queue.h"
#include "server.h"
#include "spool.h"
#include "utf8.h"
#include "util/map.h"
#include "util/xalloc.h"
#include "worker.h"


enum rcpt_state {
	R_PENDING,
	R_DELIVERED,
	R_FAILED,
};

struct qrcpt {
	char			*addr;
	char			*orcpt;		/* ORCPT as given, or NULL */
	enum rcpt_state		 state;
	unsigned char		 notify;	/* SMTP_NOTIFY_*, 0: not given */
	unsigned char		 relayed;	/* delivered to a hop without DSN,
						   and NOTIFY asked for SUCCESS */
	char			 reply[256];
	const char		*policy;	/* of the last attempt, or NULL */
	int			 verified;
};

/* A delivery job waiting for a state write of a message to finish. */
struct qwait {
	struct qwait		*next;
	struct qjob		*job;
	uint64_t		 gen;		/* the write that must be done */
};

struct qmsg {
	TAILQ_ENTRY(qmsg)	 entry;		/* in msgs (or incoming) */
	TAILQ_ENTRY(qmsg)	 rentry;	/* in ready, when in_ready */
	int			 in_ready;
	ssize_t			 heap_idx;	/* in waiting, or -1 */
	char			 id[SPOOL_ID_LEN + 1];
	char			*from;
	char			*login;		/* who sent it; "-" for our own */
	char			*dkim;		/* selectors that signed it */
	char			*envid;		/* ENVID, xtext, or NULL */
	unsigned char		 ret;		/* enum smtp_ret */
	unsigned char		 ext;		/* SPOOL_EXT_* */
	time_t			 arrival;
	off_t			 body_offset;
	off_t			 body_size;
	struct qrcpt		*rcpts;
	size_t			 nrcpts;
	int			 attempts;
	time_t			 next;
	int			 held;
	int			 warned;	/* a delay warning went out */
	int			 active;	/* delivery jobs in flight */
	int			 removing;
	int			 writing;	/* a state write is in flight */
	int			 dirty;		/* ... and another is wanted */
	char			*state_buf;
	struct qwrite		*write;		/* in flight, or NULL */
	int			 job_is_remove;
	uint64_t		 gen;		/* state changes asked to be written */
	uint64_t		 gen_writing;	/* ... covered by the write running */
	uint64_t		 gen_written;	/* ... on disk */
	uint64_t		 state_hash;	/* of what is on disk; 0: unknown */
	uint64_t		 hash_writing;
	struct qwait		*waiters;
};

/* A state write or removal on its way (only then: a queue may be large). */
struct qwrite {
	struct journal_req	 r;
	struct qmsg		*qm;
};

struct dest {
	int			 active;
	time_t			 tls_broken_until;
};

/* One delivery job and what it carries. */
struct qjob {
	struct delivery_job	 dj;
	const struct config	*conf;		/* the route's strings live there */
	int			 fallback;	/* the route's tls_fallback */
	struct dest		*dest;
	char			*destkey;
	int			 ended;		/* done ran; freed when no write waits */
	int			 waits;		/* state writes it waits for */
	size_t			 n;
	struct qmsg		*qm[1];		/* really n; dj.msgs parallels it */
};

/* A DSN (bounce, delay warning, relayed notice) being written on a worker. */
struct bounce {
	struct worker_job	 job;
	struct spool_file	 f;
	struct qmsg		*orig;
	struct dsn_rcpt		*rcpts;		/* the recipients it reports */
	size_t			 nrcpts;
	int			 delayed;	/* a warning: the original stays */
	const char		*kind;		/* "bounce" or "dsn" for the log */
	int			 rc;
};

static struct server *srv;
static const struct config *conf;
static TAILQ_HEAD(, qmsg) msgs = TAILQ_HEAD_INITIALIZER(msgs);
static size_t nmsgs;
static struct map dests;
static int active_jobs;
static int stopping;		/* no new jobs: the daemon is stopping */
static int bounces;		/* bounces being written */
static struct event *tick_ev;
/*
 * What the tick looks at: ready holds messages due now, waiting is a
 * min-heap by next attempt.  Held, removed and in-flight messages are in
 * neither, so a tick costs what is due, not what is queued.
 */
static TAILQ_HEAD(, qmsg) ready = TAILQ_HEAD_INITIALIZER(ready);
static struct qmsg **waiting;
static size_t nwaiting, waiting_cap;
static TAILQ_HEAD(, qmsg) incoming = TAILQ_HEAD_INITIALIZER(incoming);
static pthread_mutex_t incoming_lock = PTHREAD_MUTEX_INITIALIZER;
static struct event *incoming_ev;

static void	schedule_soon(int seconds);
static void	msg_schedule(struct qmsg *);
static void	incoming_cb(evutil_socket_t, short, void *);
static void	state_write(struct qmsg *);
static void	state_write_start(struct qmsg *);
static int	msg_pending(const struct qmsg *);
static void	msg_remove(struct qmsg *);



static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : addr;
}

static struct qmsg *
msg_find(const char *id)
{
	struct qmsg *qm;

	TAILQ_FOREACH(qm, &msgs, entry)
		if (strcmp(qm->id, id) == 0 && !qm->removing)
			return qm;
	return NULL;
}

/* A message not yet in any list. */
static struct qmsg *
msg_make(const char *id, const char *login, const char *from,
    char *const *rcpts, size_t nrcpts, time_t arrival, off_t body_offset,
    off_t body_size, const char *dkim, const struct spool_ext *ext)
{
	struct qmsg *qm = xcalloc(1, sizeof(*qm));
	size_t i;

	snprintf(qm->id, sizeof(qm->id), "%s", id);
	qm->from = xstrdup(from);
	qm->login = xstrdup(login != NULL ? login : "-");
	qm->dkim = xstrdup(dkim != NULL ? dkim : "none");
	qm->arrival = arrival;
	qm->body_offset = body_offset;
	qm->body_size = body_size;
	qm->rcpts = xcalloc(nrcpts, sizeof(*qm->rcpts));
	qm->nrcpts = nrcpts;
	for (i = 0; i < nrcpts; i++)
		qm->rcpts[i].addr = xstrdup(rcpts[i]);
	if (ext != NULL) {
		qm->ext = (unsigned char)ext->flags;
		qm->ret = (unsigned char)ext->ret;
		qm->envid = ext->envid[0] != '\0' ? xstrdup(ext->envid) : NULL;
		for (i = 0; i < nrcpts; i++) {
			if (ext->notify != NULL)
				qm->rcpts[i].notify = ext->notify[i];
			if (ext->orcpt != NULL && ext->orcpt[i] != NULL)
				qm->rcpts[i].orcpt = xstrdup(ext->orcpt[i]);
		}
	}
	qm->next = time(NULL);
	qm->heap_idx = -1;
	return qm;
}

/* ---- the schedule ---- */

static void
heap_swap(size_t a, size_t b)
{
	struct qmsg *t = waiting[a];

	waiting[a] = waiting[b];
	waiting[b] = t;
	waiting[a]->heap_idx = a;
	waiting[b]->heap_idx = b;
}

static void
heap_up(size_t i)
{
	while (i > 0 && waiting[(i - 1) / 2]->next > waiting[i]->next) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	size_t c;

	for (; (c = 2 * i + 1) < nwaiting; i = c) {
		if (c + 1 < nwaiting && waiting[c + 1]->next < waiting[c]->next)
			c++;
		if (waiting[i]->next <= waiting[c]->next)
			break;
		heap_swap(i, c);
	}
}

static void
heap_remove(struct qmsg *qm)
{
	size_t i = qm->heap_idx;

	qm->heap_idx = -1;
	if (i != --nwaiting) {
		waiting[i] = waiting[nwaiting];
		waiting[i]->heap_idx = i;
		heap_down(i);
		heap_up(i);
	}
}

static void
msg_unschedule(struct qmsg *qm)
{
	if (qm->in_ready) {
		TAILQ_REMOVE(&ready, qm, rentry);
		qm->in_ready = 0;
	}
	if (qm->heap_idx != -1)
		heap_remove(qm);
}

/* Puts qm where its state says: ready, waiting, or (held, busy) nowhere. */
static void
msg_schedule(struct qmsg *qm)
{
	msg_unschedule(qm);
	if (qm->held || qm->removing || qm->active || abuse_suspended(qm->login))
		return;
	if (qm->next <= time(NULL)) {
		TAILQ_INSERT_TAIL(&ready, qm, rentry);
		qm->in_ready = 1;
		schedule_soon(0);
		return;
	}
	if (nwaiting == waiting_cap) {
		waiting_cap = waiting_cap ? waiting_cap * 2 : 64;
		if ((waiting = realloc(waiting, waiting_cap * sizeof(*waiting))) == NULL)
			abort();
	}
	waiting[nwaiting] = qm;
	qm->heap_idx = nwaiting++;
	heap_up(qm->heap_idx);
	schedule_soon(waiting[0]->next - time(NULL));
}

static void	waiters_wake(struct qmsg *, int all);

static void
msg_free(struct qmsg *qm)
{
	size_t i;

	waiters_wake(qm, 1);
	msg_unschedule(qm);
	TAILQ_REMOVE(&msgs, qm, entry);
	nmsgs--;
	free(qm->write);	/* at shutdown: finished, its done never ran */
	for (i = 0; i < qm->nrcpts; i++) {
		free(qm->rcpts[i].addr);
		free(qm->rcpts[i].orcpt);
	}
	free(qm->rcpts);
	free(qm->envid);
	free(qm->from);
	free(qm->login);
	free(qm->dkim);
	free(qm->state_buf);
	free(qm);
}

/* ---- state files ---- */

static char *
state_format(const struct qmsg *qm)
{
	static const char *const names[] = { "pending", "delivered", "failed",
	    "relayed" };
	struct evbuffer *b = evbuffer_new();
	size_t i, len;
	char *s;

	if (b == NULL)
		abort();
	evbuffer_add_printf(b, "SUBMITD-STATE 1\nattempts: %d\nnext: %lld\nheld: %d\n"
	    "warned: %d\n", qm->attempts, (long long)qm->next, qm->held,
	    qm->warned);
	for (i = 0; i < qm->nrcpts; i++)
		evbuffer_add_printf(b, "rcpt: %zu %s %s\n", i,
		    names[qm->rcpts[i].relayed ? 3 : qm->rcpts[i].state],
		    qm->rcpts[i].reply);
	len = evbuffer_get_length(b);
	s = xcalloc(1, len + 1);
	evbuffer_remove(b, s, len);
	evbuffer_free(b);
	return s;
}

static void
state_parse(struct qmsg *qm, char *buf)
{
	char *line, *save = NULL, st[16];
	size_t i;
	int n;

	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "attempts: %d", &qm->attempts) == 1 ||
		    sscanf(line, "held: %d", &qm->held) == 1 ||
		    sscanf(line, "warned: %d", &qm->warned) == 1)
			continue;
		if (strncmp(line, "next: ", 6) == 0) {
			qm->next = strtoll(line + 6, NULL, 10);
			continue;
		}
		if (sscanf(line, "rcpt: %zu %15s %n", &i, st, &n) == 2 &&
		    i < qm->nrcpts) {
			if (strcmp(st, "delivered") == 0)
				qm->rcpts[i].state = R_DELIVERED;
			else if (strcmp(st, "relayed") == 0) {
				qm->rcpts[i].state = R_DELIVERED;
				qm->rcpts[i].relayed = 1;
			}
			else if (strcmp(st, "failed") == 0)
				qm->rcpts[i].state = R_FAILED;
			snprintf(qm->rcpts[i].reply, sizeof(qm->rcpts[i].reply),
			    "%s", line + n);
		}
	}
}

static void	qjob_free(struct qjob *);

/*
 * Wakes the delivery jobs waiting for writes now on disk (all: the message
 * is going away).  A failed write wakes them too: the message may then be
 * sent again after a crash, but none is held up for it.
 */
static void
waiters_wake(struct qmsg *qm, int all)
{
	struct qwait **wp = &qm->waiters, *w;

	while ((w = *wp) != NULL) {
		if (!all && w->gen > qm->gen_written) {
			wp = &w->next;
			continue;
		}
		*wp = w->next;
		w->job->waits--;
		if (w->job->waits == 0 && !w->job->ended)
			journal_expect(1);	/* it may deliver more */
		if (!w->job->ended)
			delivery_recorded(&w->job->dj);
		else if (w->job->waits == 0)
			qjob_free(w->job);
		free(w);
	}
}

static void
disk_done(struct journal_req *r)
{
	struct qwrite *w = WORKER_OWNER(r, struct qwrite, r);
	struct qmsg *qm = w->qm;

	if (r->rc == -1)
		log_errx("queue=%s event=%s error=%s", qm->id, qm->job_is_remove ?
		    "remove" : "state-write", log_str(strerror(r->err)));
	qm->state_hash = r->rc == 0 ? qm->hash_writing : 0;
	free(w);	/* r too */
	qm->write = NULL;
	qm->writing = 0;
	free(qm->state_buf);
	qm->state_buf = NULL;
	if (qm->job_is_remove) {
		msg_free(qm);
		return;
	}
	qm->gen_written = qm->gen_writing;
	waiters_wake(qm, 0);
	if (qm->removing) {
		qm->removing = 0;	/* msg_remove sets it again */
		msg_remove(qm);
	} else if (qm->dirty) {
		qm->dirty = 0;
		state_write_start(qm);
	}
}

static struct journal_req *
qwrite_new(struct qmsg *qm)
{
	struct qwrite *w = xcalloc(1, sizeof(*w));

	w->qm = qm;
	qm->write = w;
	return &w->r;
}

/* FNV-1a, never 0 (0 is "unknown"): is a state the one on disk? */
static uint64_t
state_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h != 0 ? h : 1;
}

/* One disk job per message at a time, so writes land in order. */
static void
state_write(struct qmsg *qm)
{
	qm->gen++;
	if (qm->writing) {
		qm->dirty = 1;
		return;
	}
	state_write_start(qm);
}

/* The write of everything changed so far (gen) starts on a worker. */
static void
state_write_start(struct qmsg *qm)
{
	char *buf = state_format(qm);
	uint64_t hash = state_hash(buf);

	if (hash == qm->state_hash) {
		/*
		 * What is on disk says this already (the write before a
		 * removal, after the one when the next hop took it): it
		 * covers this change too.
		 */
		free(buf);
		qm->gen_written = qm->gen;
		waiters_wake(qm, 0);
		return;
	}
	qm->writing = 1;
	qm->gen_writing = qm->gen;
	qm->job_is_remove = 0;
	qm->state_buf = buf;
	qm->hash_writing = hash;
	if (spool_state_submit(qwrite_new(qm), qm->id, qm->state_buf,
	    strlen(qm->state_buf), msg_pending(qm) == 0, srv->journal,
	    disk_done) == -1)
		abort();	/* ids come from the spool: always valid */
}

static void
msg_remove(struct qmsg *qm)
{
	if (qm->removing)
		return;
	qm->removing = 1;
	msg_unschedule(qm);
	if (qm->writing)
		return;		/* disk_done removes it */
	qm->writing = 1;
	qm->job_is_remove = 1;
	if (spool_remove_submit(qwrite_new(qm), qm->id, srv->journal,
	    disk_done) == -1)
		abort();
}

/* ---- DSNs (dsn.c writes them) ---- */

/*
 * What a DSN about qm needs of next hops.  UTF-8 inside its parts (RFC
 * 6533's global types) travels as 8-bit body text; only a UTF-8 sender
 * address, its envelope recipient and To:, needs SMTPUTF8.  So the DSN
 * reaches an ASCII sender through a hop without SMTPUTF8 too.
 */
static unsigned
dsn_ext(const struct qmsg *qm)
{
	return (qm->ext & SPOOL_EXT_SMTPUTF8) |
	    (utf8_is_ascii(qm->from, strlen(qm->from)) ? 0 : SPOOL_EXT_UTF8);
}

static void
bounce_work(struct worker_job *job)
{
	struct bounce *b = WORKER_OWNER(job, struct bounce, job);
	const struct qmsg *qm = b->orig;
	struct spool_envelope env;
	struct spool_ext ext;
	struct dsn_orig o;
	char *rcpts[1];
	off_t base;

	memset(&env, 0, sizeof(env));
	memset(&ext, 0, sizeof(ext));
	rcpts[0] = qm->from;
	env.login = env.client = env.helo = env.tls = "-";
	env.from = "";		/* RFC 5321 §4.5.5: never a bounce for a bounce */
	env.rcpts = rcpts;
	env.nrcpts = 1;
	env.arrival = time(NULL);
	ext.flags = dsn_ext(qm);
	env.ext = &ext;
	memset(&o, 0, sizeof(o));
	o.id = qm->id;
	o.from = qm->from;
	o.arrival = qm->arrival;
	o.envid = qm->envid;
	o.full = qm->ret == SMTP_RET_FULL;
	/* RFC 8689 §4.4: what needed TLS is not quoted in clear. */
	o.redact = (qm->ext & SPOOL_EXT_REQUIRETLS) != 0;
	o.utf8 = (qm->ext & SPOOL_EXT_UTF8) != 0;
	o.body_size = qm->body_size;
	if ((o.fd = spool_open_message(qm->id, &base)) == -1) {
		b->rc = -1;
		return;
	}
	o.body_offset = base + qm->body_offset;
	if ((b->rc = spool_open(&b->f, &env)) == 0) {
		dsn_write(conf, &o, b->rcpts, b->nrcpts, &b->f);
		if ((b->rc = spool_commit(&b->f)) == -1)
			spool_abort(&b->f);
	}
	close(o.fd);
}

static void
bounce_done(struct worker_job *job)
{
	struct bounce *b = WORKER_OWNER(job, struct bounce, job);
	char *rcpts[1] = { b->orig->from };

	struct qmsg *qm = b->orig;

	bounces--;
	qm->active--;
	if (b->rc == -1) {
		/* The original stays: a bounce is tried again on its next run. */
		log_errx("queue=%s event=%s error=%s", qm->id,
		    b->delayed ? "delay-warning" : "bounce",
		    log_str(strerror(b->f.error ? b->f.error : errno)));
		if (!b->delayed) {
			qm->next = time(NULL) + conf->queue_retry_min;
			state_write(qm);
		}
		msg_schedule(qm);
	} else {
		struct spool_ext ext;

		memset(&ext, 0, sizeof(ext));
		ext.flags = dsn_ext(qm);
		log_info("queue=%s event=%s %s=%s to=%s", qm->id,
		    b->delayed ? "delay-warning" : b->kind,
		    b->delayed ? "dsn" : "bounce", b->f.id, log_addr(qm->from));
		queue_add(b->f.id, "-", "", rcpts, 1, time(NULL), b->f.body_offset,
		    b->f.size, "none", &ext);
		if (b->delayed) {
			qm->warned = 1;
			state_write(qm);
			msg_schedule(qm);
		} else {
			STAT_ADD(srv, bounced, 1);
			msg_remove(qm);
		}
	}
	free(b->rcpts);
	free(b);
}

/* ---- messages of our own (reports, notices) ---- */

struct inject {
	struct worker_job	 job;
	const struct config	*conf;
	struct spool_file	 f;
	char			 dkim[512];	/* selectors that signed it */
	char			*from;
	char			*rcpt;
	char			*data;
	size_t			 len;
	int			 rc;
};

static void
inject_work(struct worker_job *job)
{
	struct inject *in = WORKER_OWNER(job, struct inject, job);
	struct spool_envelope env;
	char *rcpts[1] = { in->rcpt }, *signed_;
	size_t len;

	memset(&env, 0, sizeof(env));
	env.login = env.client = env.helo = env.tls = "-";
	env.from = in->from;
	env.rcpts = rcpts;
	env.nrcpts = 1;
	env.arrival = time(NULL);
	if (dkim_sign_message(in->conf, in->data, in->len, env.arrival, &signed_,
	    &len, in->dkim, sizeof(in->dkim)) == 1) {
		free(in->data);
		in->data = signed_;
		in->len = len;
	} else
		snprintf(in->dkim, sizeof(in->dkim), "none");
	if ((in->rc = spool_open(&in->f, &env)) == -1)
		return;
	spool_write(&in->f, in->data, in->len);
	if ((in->rc = spool_commit(&in->f)) == -1)
		spool_abort(&in->f);
}

static void
inject_done(struct worker_job *job)
{
	struct inject *in = WORKER_OWNER(job, struct inject, job);
	char *rcpts[1] = { in->rcpt };

	bounces--;
	if (in->rc == -1)
		log_errx("event=inject to=%s error=%s", log_addr(in->rcpt),
		    log_str(strerror(in->f.error ? in->f.error : errno)));
	else {
		log_info("queue=%s event=inject from=%s to=%s size=%zu dkim=%s",
		    in->f.id, log_addr(in->from), log_addr(in->rcpt), in->len,
		    log_str(in->dkim));
		queue_add(in->f.id, "-", in->from, rcpts, 1, time(NULL),
		    in->f.body_offset, in->f.size, in->dkim, NULL);
	}
	config_unref(in->conf);
	free(in->from);
	free(in->rcpt);
	free(in->data);
	free(in);
}

void
queue_inject(const char *from, const char *rcpt, char *data, size_t len)
{
	struct inject *in = xcalloc(1, sizeof(*in));

	in->conf = config_ref(conf);
	in->from = xstrdup(from);
	in->rcpt = xstrdup(rcpt);
	in->data = data;
	in->len = len;
	in->job.work = inject_work;
	in->job.done = inject_done;
	bounces++;		/* a stop waits for it, as for a bounce */
	worker_submit(srv->io_pool, &in->job);
}

/* RFC 3461 §4.1: is a DSN of this kind wanted?  No NOTIFY: FAILURE,DELAY. */
static int
notify_wants(unsigned notify, unsigned kind)
{
	if (notify == 0)
		return kind != SMTP_NOTIFY_SUCCESS;
	return (notify & kind) != 0;
}

/*
 * Starts a DSN on a worker about the recipients of qm that want one: the
 * pending ones (delayed), or the failed and the relayed ones.  0 when no
 * recipient wants any.
 */
static int
dsn_start(struct qmsg *qm, int delayed)
{
	struct bounce *b;
	struct dsn_rcpt *v = xcalloc(qm->nrcpts, sizeof(*v));
	size_t i, n = 0, nfailed = 0;

	for (i = 0; i < qm->nrcpts; i++) {
		const struct qrcpt *r = &qm->rcpts[i];
		enum dsn_action action;

		if (delayed && r->state == R_PENDING &&
		    notify_wants(r->notify, SMTP_NOTIFY_DELAY))
			action = DSN_DELAYED;
		else if (!delayed && r->state == R_FAILED &&
		    notify_wants(r->notify, SMTP_NOTIFY_FAILURE))
			action = DSN_FAILED;
		else if (!delayed && r->state == R_DELIVERED && r->relayed)
			action = DSN_RELAYED;
		else
			continue;
		nfailed += action == DSN_FAILED;
		v[n].addr = r->addr;
		v[n].orcpt = r->orcpt;
		v[n].action = action;
		v[n++].reply = r->reply;
	}
	if (n == 0) {
		free(v);
		return 0;
	}
	b = xcalloc(1, sizeof(*b));
	b->orig = qm;
	b->rcpts = v;
	b->nrcpts = n;
	b->delayed = delayed;
	b->kind = nfailed > 0 ? "bounce" : "dsn";
	b->job.work = bounce_work;
	b->job.done = bounce_done;
	qm->active++;	/* not due while its DSN is written */
	bounces++;
	worker_submit(srv->io_pool, &b->job);
	return 1;
}

/* Every recipient has a final state: the DSN they want, then remove. */
static void
msg_finish(struct qmsg *qm)
{
	size_t i, nfailed = 0;

	for (i = 0; i < qm->nrcpts; i++)
		nfailed += qm->rcpts[i].state == R_FAILED;
	if (qm->from[0] == '\0') {
		if (nfailed > 0)
			log_info("queue=%s event=bounce result=dropped "
			    "reason=\"null sender\"", qm->id);
		msg_remove(qm);
		return;
	}
	if (dsn_start(qm, 0) == 0) {
		if (nfailed > 0)
			log_info("queue=%s event=bounce result=dropped "
			    "reason=\"NOTIFY=NEVER\"", qm->id);
		msg_remove(qm);
	}
}

/* ---- attempts ---- */

static int
msg_pending(const struct qmsg *qm)
{
	size_t i, n = 0;

	for (i = 0; i < qm->nrcpts; i++)
		n += qm->rcpts[i].state == R_PENDING;
	return n;
}

/* Every job of an attempt has ended. */
static void
attempt_done(struct qmsg *qm)
{
	time_t now = time(NULL);
	size_t i;
	long delay;

	if (msg_pending(qm) > 0 && now - qm->arrival >= conf->queue_lifetime) {
		for (i = 0; i < qm->nrcpts; i++) {
			struct qrcpt *r = &qm->rcpts[i];
			char last[sizeof(r->reply)];

			if (r->state != R_PENDING)
				continue;
			snprintf(last, sizeof(last), "%s", r->reply);
			/* The last error is cut to fit: the code matters most. */
			snprintf(r->reply, sizeof(r->reply), "4.4.7 message expired "
			    "after %d seconds in the queue; last error: %.160s",
			    conf->queue_lifetime, last[0] ? last : "none");
			r->state = R_FAILED;
			log_info("queue=%s rcpt=%s result=expired", qm->id,
			    log_addr(r->addr));
		}
	}
	if (msg_pending(qm) == 0) {
		/*
		 * On disk first: should a crash come before the removal, the
		 * delivered recipients are not sent the message again.
		 */
		state_write(qm);
		msg_finish(qm);
		return;
	}
	qm->attempts++;
	delay = conf->queue_retry_min;
	for (i = 1; i < (size_t)qm->attempts && delay < conf->queue_retry_max; i++)
		delay *= 2;
	if (delay > conf->queue_retry_max)
		delay = conf->queue_retry_max;
	qm->next = now + delay;
	STAT_ADD(srv, deferred, 1);
	log_info("queue=%s event=deferred attempts=%d pending=%d next=%ld",
	    qm->id, qm->attempts, msg_pending(qm), delay);
	state_write(qm);
	/* RFC 3464 "delayed": once, never for a bounce. */
	if (conf->queue_delay_warning > 0 && !qm->warned &&
	    qm->from[0] != '\0' && now - qm->arrival >= conf->queue_delay_warning)
		(void)dsn_start(qm, 1);
	msg_schedule(qm);
}

/*
 * Copies what one connection learnt of qm's recipients in dm into qm;
 * again is harmless (msg_done, then job_done).  Returns 1 when a
 * recipient reached a final state.
 */
static int
apply_results(struct qmsg *qm, const struct delivery_msg *dm)
{
	size_t k, idx;
	int changed = 0;

	for (k = 0; k < dm->nrcpts; k++) {
		const struct delivery_rcpt *dr = &dm->rcpts[k];
		struct qrcpt *r;

		/* dr->addr points at qm's own copy of the address. */
		for (idx = 0; idx < qm->nrcpts; idx++)
			if (qm->rcpts[idx].addr == dr->addr)
				break;
		if (idx == qm->nrcpts || dr->result == DELIVERY_PENDING)
			continue;
		r = &qm->rcpts[idx];
		if (r->state != R_PENDING)
			continue;	/* already taken from this job */
		snprintf(r->reply, sizeof(r->reply), "%s", dr->reply);
		if (dr->result != DELIVERY_TEMPFAIL)
			abuse_result(qm->login, atoi(dr->reply), dr->reply);
		r->policy = dr->policy;
		r->verified = dr->verified;
		if (dr->result == DELIVERY_OK) {
			r->state = R_DELIVERED;
			/* RFC 3461 §6.2.3.2: the "relayed" DSN is ours to send. */
			r->relayed = dr->relayed &&
			    (r->notify & SMTP_NOTIFY_SUCCESS) != 0;
			STAT_ADD(srv, delivered, 1);
			metrics_delivery_time((double)(time(NULL) - qm->arrival));
			changed = 1;
		} else if (dr->result == DELIVERY_PERMFAIL) {
			r->state = R_FAILED;
			changed = 1;
		}
	}
	return changed;
}

static void
qjob_free(struct qjob *j)
{
	free(j->dj.msgs);
	free(j->destkey);
	config_unref(j->conf);
	free(j);
}

/* The next hop took dm: on disk before the job's next final dot. */
static void
msg_done(struct delivery_job *dj, struct delivery_msg *dm, void *arg)
{
	struct qjob *j = arg;
	struct qwait *w;
	struct qmsg *qm = NULL;
	size_t i;

	for (i = 0; i < j->n; i++)
		if (dj->msgs[i] == dm)
			qm = j->qm[i];
	if (qm == NULL || !apply_results(qm, dm)) {
		delivery_recorded(dj);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->job = j;
	w->gen = qm->gen + 1;	/* the write state_write asks for now */
	w->next = qm->waiters;
	qm->waiters = w;
	if (j->waits++ == 0)
		journal_expect(-1);	/* nothing more from it until then */
	state_write(qm);
}

static void
job_done(struct delivery_job *dj, void *arg)
{
	struct qjob *j = arg;
	time_t now = time(NULL);
	size_t i;

	if (dj->tls_failed && j->fallback > 0) {
		/* relay.tls_fallback: only for a domain without a policy. */
		j->dest->tls_broken_until = now + j->fallback;
		log_info("relay=%s event=tls result=fail action=\"next attempts in "
		    "clear for %d seconds\"", log_str(dj->relay), j->fallback);
	}
	for (i = 0; i < j->n; i++) {
		struct qmsg *qm = j->qm[i];
		struct delivery_msg *dm = dj->msgs[i];
		int changed = apply_results(qm, dm);

		if (dm->fd != -1)
			close(dm->fd);
		free(dm->rcpts);
		free(dm);
		dj->msgs[i] = NULL;
		if (--qm->active == 0)
			attempt_done(qm);
		else if (changed)
			state_write(qm);	/* another job still runs: keep this */
	}
	j->dest->active--;
	active_jobs--;
	j->ended = 1;
	if (j->waits == 0)
		journal_expect(-1);
	if (j->waits == 0)
		qjob_free(j);
	schedule_soon(0);
}

/*
 * Messages travel together when their next hop and its TLS rules are the
 * same: "TLS-Required: No" (RFC 8689 §5) relaxes them for MX delivery.
 */
static void
dest_key(const struct route_conf *r, const struct qmsg *qm, const char *domain,
    char *key, size_t len)
{
	if (r->host != NULL)
		snprintf(key, len, "route:%s:%d:%d:%s", r->host, r->port, r->tls,
		    r->username ? r->username : "");
	else
		snprintf(key, len, "mx:%s:%d%s", domain, r->tls,
		    qm->ext & SPOOL_EXT_TLS_OPTIONAL ? ":tls-optional" : "");
}

static struct dest *
dest_get(const char *key)
{
	struct dest *d = map_get(&dests, key);

	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		if (map_put(&dests, key, d) == -1)
			abort();
	}
	return d;
}

static void
job_fill_route(struct qjob *j, const struct route_conf *r,
    const struct qmsg *qm, const char *domain, time_t now)
{
	struct delivery_route *dr = &j->dj.route;

	if (r->host != NULL) {
		snprintf(dr->host, sizeof(dr->host), "%s", r->host);
		dr->port = r->port;
		dr->mx = r->mx;
		dr->configured = 1;
	} else {
		snprintf(dr->host, sizeof(dr->host), "%s", domain);
		dr->port = 25;
		dr->mx = 1;
	}
	dr->tls = r->tls;
	/* The last handshake failed: delivery decides whether clear text may do. */
	dr->fallback = dr->tls == TLS_LEVEL_MAY && j->dest->tls_broken_until > now;
	dr->username = r->username;
	dr->password = r->password;
	dr->ca_store = r->ca_store;
	dr->implicit = r->implicit;
	dr->mta_sts = conf->relay.mta_sts;
	dr->dane = conf->relay.dane;
	dr->tls_rpt = conf->relay.tls_rpt;
	/*
	 * RFC 8689 §5: the sender asked that the receiver's TLS policies
	 * (MTA-STS, DANE) not stop this message.  The operator's own levels
	 * stay: relay.tls for MX hosts, and a configured next hop's, which
	 * may guard a password.
	 */
	if (r->host == NULL && (qm->ext & SPOOL_EXT_TLS_OPTIONAL)) {
		dr->tls_optional = 1;
		dr->mta_sts = POLICY_DISABLE;
		dr->dane = POLICY_DISABLE;
	}
}

/* Adds qm's pending recipients for one next hop to the job j. */
static int
job_add_msg(struct qjob *j, struct qmsg *qm, const char *key)
{
	struct delivery_msg *dm;
	size_t i;
	char k[600];
	off_t base;

	dm = xcalloc(1, sizeof(*dm));
	dm->id = qm->id;
	dm->from = qm->from;
	dm->dkim = qm->dkim;
	dm->body_size = qm->body_size;
	dm->ext = qm->ext;
	dm->ret = qm->ret;
	dm->envid = qm->envid;
	dm->rcpts = xcalloc(qm->nrcpts, sizeof(*dm->rcpts));
	for (i = 0; i < qm->nrcpts; i++) {
		const char *dom = rcpt_domain(qm->rcpts[i].addr);

		if (qm->rcpts[i].state != R_PENDING)
			continue;
		dest_key(config_route(conf, dom), qm, dom, k, sizeof(k));
		if (strcmp(k, key) == 0) {
			dm->rcpts[dm->nrcpts].notify = qm->rcpts[i].notify;
			dm->rcpts[dm->nrcpts].orcpt = qm->rcpts[i].orcpt;
			dm->rcpts[dm->nrcpts++].addr = qm->rcpts[i].addr;
		}
	}
	if ((dm->fd = spool_open_message(qm->id, &base)) == -1) {
		log_errx("queue=%s event=open error=%s", qm->id,
		    log_str(strerror(errno)));
		qm->next = time(NULL) + conf->queue_retry_min;
		free(dm->rcpts);
		free(dm);
		return -1;
	}
	dm->body_offset = base + qm->body_offset;
	j->dj.msgs[j->n] = dm;
	j->qm[j->n++] = qm;
	qm->active++;
	return 0;
}

static int
job_start(const char *key, void *value, void *arg)
{
	struct qjob *j = value;

	if (j->n == 0) {
		/* Every message's file failed to open: nothing to carry. */
		j->dest->active--;
		active_jobs--;
		qjob_free(j);
	} else {
		j->dj.nmsgs = j->n;
		journal_expect(1);	/* a connection's records are coming */
		delivery_start(&j->dj);
	}
	return 1;
}

/* Adds qm's pending recipients to the jobs being built, as limits allow. */
static void
tick_msg(struct qmsg *qm, struct map *building, time_t now)
{
	char key[600];
	size_t i;

	for (i = 0; i < qm->nrcpts; i++) {
		const char *dom = rcpt_domain(qm->rcpts[i].addr);
		const struct route_conf *r = config_route(conf, dom);
		struct qjob *j;
		struct dest *d;
		size_t k;

		if (qm->rcpts[i].state != R_PENDING)
			continue;
		dest_key(r, qm, dom, key, sizeof(key));
		if ((j = map_get(building, key)) != NULL) {
			for (k = 0; k < j->n; k++)
				if (j->qm[k] == qm)
					break;
			if (k < j->n)
				continue;	/* already carries qm */
			if (j->n < (size_t)conf->queue_messages_per_connection) {
				job_add_msg(j, qm, key);
				continue;
			}
			/* Full: send it on its way, then build another. */
			map_del(building, key);
			job_start(key, j, NULL);
		}
		d = dest_get(key);
		if (active_jobs >= conf->queue_max_connections ||
		    d->active >= conf->queue_max_per_destination)
			continue;	/* next tick */
		j = xcalloc(1, sizeof(*j) + conf->queue_messages_per_connection *
		    sizeof(struct qmsg *));
		j->dj.msgs = xcalloc(conf->queue_messages_per_connection,
		    sizeof(struct delivery_msg *));
		j->dest = d;
		j->destkey = xstrdup(key);
		j->conf = config_ref(conf);
		j->fallback = r->tls_fallback;
		job_fill_route(j, r, qm, dom, now);
		j->dj.done = job_done;
		j->dj.msg_done = msg_done;
		j->dj.arg = j;
		d->active++;
		active_jobs++;
		map_put(building, key, j);
		job_add_msg(j, qm, key);
	}
}

/*
 * The tick: start jobs for what is due, as the limits allow.  Messages to
 * one next hop that are due together share a job, and so a connection.
 */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	struct map building;
	struct qmsg *qm, *next;
	time_t now = time(NULL);

	if (stopping)
		return;
	while (nwaiting > 0 && waiting[0]->next <= now) {
		qm = waiting[0];
		heap_remove(qm);
		TAILQ_INSERT_TAIL(&ready, qm, rentry);
		qm->in_ready = 1;
	}
	map_init(&building);
	for (qm = TAILQ_FIRST(&ready); qm != NULL; qm = next) {
		next = TAILQ_NEXT(qm, rentry);
		if (msg_pending(qm) == 0) {
			msg_unschedule(qm);
			msg_finish(qm);		/* a crash came before its removal */
			continue;
		}
		tick_msg(qm, &building, now);
		/* Started: out of the schedule until its attempt ends. */
		if (qm->active || qm->next > now)
			msg_schedule(qm);
	}
	map_sweep(&building, job_start, NULL);
	map_clear(&building, NULL);
	if (nwaiting > 0)
		schedule_soon(waiting[0]->next - now);
}

static void
schedule_soon(int seconds)
{
	struct timeval tv = { seconds > 0 ? seconds : 0, 0 };
	struct timeval left;

	/* Keep an earlier wake-up if one is set. */
	if (event_pending(tick_ev, EV_TIMEOUT, &left)) {
		struct timeval now, when;

		evutil_gettimeofday(&now, NULL);
		evutil_timeradd(&now, &tv, &when);
		if (evutil_timercmp(&left, &when, <=))
			return;
	}
	evtimer_add(tick_ev, &tv);
}

/* ---- start-up and the outside ---- */

static void
load_one(const char *id, void *arg)
{
	struct spool_entry e;
	struct qmsg *qm;
	char *state;

	if (spool_read_envelope(id, &e) == -1) {
		log_errx("queue=%s event=load error=\"unreadable queue file\"", id);
		return;
	}
	qm = msg_make(id, e.login, e.from, e.rcpts, e.nrcpts, e.arrival,
	    e.body_offset, e.body_size, e.dkim, &e.ext);
	TAILQ_INSERT_TAIL(&msgs, qm, entry);
	nmsgs++;
	if ((state = spool_state_read(id)) != NULL) {
		state_parse(qm, state);
		free(state);
	}
	spool_entry_free(&e);
}

static int
msg_cmp(const void *a, const void *b)
{
	const struct qmsg *x = *(struct qmsg *const *)a;
	const struct qmsg *y = *(struct qmsg *const *)b;

	return strcmp(x->id, y->id);
}

/* Ids start with the arrival time: sorting restores arrival order. */
static void
sort_queue(void)
{
	struct qmsg **v, *qm;
	size_t i = 0;

	if (nmsgs < 2)
		return;
	v = xcalloc(nmsgs, sizeof(*v));
	TAILQ_FOREACH(qm, &msgs, entry)
		v[i++] = qm;
	qsort(v, nmsgs, sizeof(*v), msg_cmp);
	TAILQ_INIT(&msgs);
	for (i = 0; i < nmsgs; i++)
		TAILQ_INSERT_TAIL(&msgs, v[i], entry);
	free(v);
}

/* The delivery client's settings from the queue's configuration. */
static void
delivery_setup(void)
{
	struct delivery_conf dc;

	memset(&dc, 0, sizeof(dc));
	dc.hostname = conf->hostname;
	dc.connect_timeout = conf->queue_connect_timeout;
	dc.command_timeout = conf->queue_command_timeout;
	dc.data_timeout = conf->queue_data_timeout;
	dc.ssl_ctx = srv->client_ctx;
	delivery_init(srv->base, &dc);
}

int
queue_init(struct server *s)
{
	struct qmsg *qm;

	srv = s;
	conf = config_ref(s->conf);
	map_init(&dests);
	if (dns_init(s->base, conf->resolver) == -1 || https_init(s->base) == -1 ||
	    sts_init(s->base, conf->relay.ca_pem, conf->relay.ca_len) == -1 ||
	    tlsrpt_init(s->base, conf) == -1)
		return -1;
	delivery_setup();
	dane_probe();
	if ((tick_ev = evtimer_new(s->base, tick, NULL)) == NULL ||
	    (incoming_ev = event_new(s->base, -1, 0, incoming_cb, NULL)) == NULL)
		return -1;
	if (spool_scan(load_one, NULL) == -1) {
		log_errx("event=queue-load error=%s", log_str(strerror(errno)));
		return -1;
	}
	sort_queue();
	TAILQ_FOREACH(qm, &msgs, entry)
		msg_schedule(qm);
	log_info("event=queue-load messages=%zu", nmsgs);
	schedule_soon(0);
	return 0;
}

void
queue_reload(const struct config *c)
{
	const struct config *old = conf;

	/* Jobs under way keep the configuration they were built from. */
	conf = config_ref(c);
	config_unref(old);
	delivery_setup();
	sts_set_ca(conf->relay.ca_pem, conf->relay.ca_len);
	tlsrpt_reload(conf);
	schedule_soon(0);
}

int
queue_stop(void)
{
	stopping = 1;
	return active_jobs + bounces;
}

void
queue_shutdown(void)
{
	struct qmsg *qm;
	char *buf;

	/*
	 * The workers have finished, but a state change that waited behind an
	 * earlier write (a hold, say) was never started: write it now.
	 */
	TAILQ_FOREACH(qm, &msgs, entry)
		if (qm->dirty && !qm->removing) {
			buf = state_format(qm);
			if (spool_state_write(qm->id, buf, strlen(buf)) == -1)
				log_errx("queue=%s event=state-write error=%s",
				    qm->id, log_str(strerror(errno)));
			free(buf);
		}
	incoming_cb(-1, 0, NULL);	/* committed after the loop's last turn */
	while (!TAILQ_EMPTY(&msgs))
		msg_free(TAILQ_FIRST(&msgs));
	free(waiting);
	waiting = NULL;
	nwaiting = waiting_cap = 0;
	map_clear(&dests, free);
	if (incoming_ev != NULL)
		event_free(incoming_ev);
	incoming_ev = NULL;
	if (tick_ev != NULL)
		event_free(tick_ev);
	tick_ev = NULL;
	sts_shutdown();
	tlsrpt_shutdown();
	dns_shutdown();
	config_unref(conf);
	conf = NULL;
}

/*
 * Sessions on any loop hand their messages over here; loop 0 takes them in
 * (incoming_cb) and schedules them on its next turn, so messages committed
 * together share a job.
 */
void
queue_add(const char *id, const char *login, const char *from,
    char *const *rcpts, size_t nrcpts, time_t arrival, off_t body_offset,
    off_t body_size, const char *dkim, const struct spool_ext *ext)
{
	struct qmsg *qm = msg_make(id, login, from, rcpts, nrcpts, arrival,
	    body_offset, body_size, dkim, ext);

	pthread_mutex_lock(&incoming_lock);
	TAILQ_INSERT_TAIL(&incoming, qm, entry);
	pthread_mutex_unlock(&incoming_lock);
	event_active(incoming_ev, 0, 0);
}

static void
incoming_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmsg *qm;

	pthread_mutex_lock(&incoming_lock);
	while ((qm = TAILQ_FIRST(&incoming)) != NULL) {
		TAILQ_REMOVE(&incoming, qm, entry);
		TAILQ_INSERT_TAIL(&msgs, qm, entry);
		nmsgs++;
		msg_schedule(qm);
	}
	pthread_mutex_unlock(&incoming_lock);
}

size_t
queue_length(void)
{
	return nmsgs;
}

long
queue_oldest_age(void)
{
	const struct qmsg *qm;
	time_t now = time(NULL), oldest = now;

	TAILQ_FOREACH(qm, &msgs, entry)
		if (!qm->removing && qm->arrival < oldest)
			oldest = qm->arrival;
	return (long)(now - oldest);
}

int
queue_connections(void)
{
	return active_jobs;
}

static void
show_age(struct evbuffer *out, long secs)
{
	if (secs < 120)
		evbuffer_add_printf(out, "%lds", secs);
	else if (secs < 7200)
		evbuffer_add_printf(out, "%ldm", secs / 60);
	else
		evbuffer_add_printf(out, "%ldh", secs / 3600);
}

static void
show_msg(struct evbuffer *out, const struct qmsg *qm, int full)
{
	static const char *const names[] = { "pending", "delivered", "failed" };
	time_t now = time(NULL);
	size_t i;

	evbuffer_add_printf(out, "%s  age ", qm->id);
	show_age(out, now - qm->arrival);
	evbuffer_add_printf(out, "  size %lld  from <%s>  ", (long long)qm->body_size,
	    qm->from);
	if (qm->held)
		evbuffer_add_printf(out, "held\n");
	else if (abuse_suspended(qm->login))
		evbuffer_add_printf(out, "held (login suspended)\n");
	else if (qm->active)
		evbuffer_add_printf(out, "delivering\n");
	else if (qm->next <= now)
		evbuffer_add_printf(out, "next now\n");
	else {
		evbuffer_add_printf(out, "next in ");
		show_age(out, qm->next - now);
		evbuffer_add_printf(out, "\n");
	}
	for (i = 0; i < qm->nrcpts; i++) {
		if (!full && qm->rcpts[i].state != R_PENDING)
			continue;
		evbuffer_add_printf(out, "    <%s> %s%s%s\n", qm->rcpts[i].addr,
		    names[qm->rcpts[i].state], qm->rcpts[i].reply[0] ? ": " : "",
		    qm->rcpts[i].reply);
		if (full && qm->rcpts[i].policy != NULL)
			evbuffer_add_printf(out, "        policy %s  verified %s\n",
			    qm->rcpts[i].policy, qm->rcpts[i].verified ? "yes" : "no");
	}
	if (full)
		evbuffer_add_printf(out, "    attempts %d  arrival %lld\n",
		    qm->attempts, (long long)qm->arrival);
}

void
queue_list(struct evbuffer *out)
{
	struct qmsg *qm;

	evbuffer_add_printf(out, "ok\n");
	TAILQ_FOREACH(qm, &msgs, entry)
		if (!qm->removing)
			show_msg(out, qm, 0);
	evbuffer_add_printf(out, "%zu message%s\n", nmsgs, nmsgs == 1 ? "" : "s");
}

static struct qmsg *
lookup(const char *id, struct evbuffer *out)
{
	struct qmsg *qm = spool_id_valid(id) ? msg_find(id) : NULL;

	if (qm == NULL)
		evbuffer_add_printf(out, "error: no message %s in the queue\n", id);
	return qm;
}

int
queue_show(const char *id, struct evbuffer *out)
{
	struct qmsg *qm = lookup(id, out);

	if (qm == NULL)
		return -1;
	evbuffer_add_printf(out, "ok\n");
	show_msg(out, qm, 1);
	return 0;
}

int
queue_flush(const char *id, struct evbuffer *out)
{
	struct qmsg *qm;
	int n = 0;

	if (id != NULL && lookup(id, out) == NULL)
		return -1;
	TAILQ_FOREACH(qm, &msgs, entry)
		if ((id == NULL || strcmp(qm->id, id) == 0) && !qm->held &&
		    !qm->removing) {
			qm->next = 0;
			msg_schedule(qm);
			n++;
		}
	evbuffer_add_printf(out, "ok\n%d message%s scheduled now\n", n,
	    n == 1 ? "" : "s");
	schedule_soon(0);
	return 0;
}

int
queue_delete(const char *id, struct evbuffer *out)
{
	struct qmsg *qm = lookup(id, out);

	if (qm == NULL)
		return -1;
	if (qm->active) {
		evbuffer_add_printf(out, "error: %s is being delivered; try again "
		    "in a moment\n", id);
		return -1;
	}
	log_info("queue=%s event=delete by=submitctl", id);
	msg_remove(qm);
	evbuffer_add_printf(out, "ok\n%s deleted\n", id);
	return 0;
}

void
queue_hold_login(const char *login, int hold)
{
	struct qmsg *qm;
	size_t n = 0;

	TAILQ_FOREACH(qm, &msgs, entry)
		if (!qm->removing && strcasecmp(qm->login, login) == 0) {
			if (!hold)
				qm->next = 0;
			msg_schedule(qm);	/* abuse_suspended decides */
			n++;
		}
	log_info("event=abuse action=%s user=%s messages=%zu", hold ? "hold" :
	    "release", log_str(login), n);
	if (!hold)
		schedule_soon(0);
}

int
queue_hold(const char *id, int hold, struct evbuffer *out)
{
	struct qmsg *qm = lookup(id, out);

	if (qm == NULL)
		return -1;
	qm->held = hold;
	if (!hold)
		qm->next = 0;
	msg_schedule(qm);
	log_info("queue=%s event=%s by=submitctl", id, hold ? "hold" : "release");
	state_write(qm);
	evbuffer_add_printf(out, "ok\n%s %s\n", id, hold ? "held" : "released");
	if (!hold)
		schedule_soon(0);
	return 0;
}
