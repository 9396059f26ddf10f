/*
 * worker.h - a small pool of threads for work that may block (fsync,
 * rename, SASL password checks), so that the event loop never does.
 *
 * A job's work function runs on a pool thread; its done function then runs
 * on the event loop's thread.  The job's memory belongs to the caller, who
 * must keep it alive until done runs.
 */
#ifndef SUBMITD_WORKER_H
#define SUBMITD_WORKER_H

#include <stddef.h>

struct event_base;
struct worker_pool;

struct worker_job {
	void			(*work)(struct worker_job *);
	void			(*done)(struct worker_job *);
	struct worker_job	*next;		/* private */
};

/* The structure of type that holds job j as its member m. */
#define WORKER_OWNER(j, type, m) \
	((type *)(void *)((char *)(j) - offsetof(type, m)))

/* evthread_use_pthreads() must have been called before base was made. */
struct worker_pool	*worker_pool_new(struct event_base *base, int nthreads);
void			 worker_submit(struct worker_pool *, struct worker_job *);
/* Waits for queued jobs to finish (their done callbacks do not run). */
void			 worker_pool_free(struct worker_pool *);

#endif
