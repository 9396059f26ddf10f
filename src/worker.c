/*
 * worker.c - thread pool whose results come back to the event loop.
 *
 * Finished jobs go on a list guarded by a mutex; one event, activated from
 * the worker thread (libevent is thread-aware after evthread_use_pthreads),
 * drains it on the loop.  Several jobs finishing together cost one wake-up.
 */
#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "worker.h"

struct worker_pool {
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct worker_job	*todo, **todo_tail;
	struct worker_job	*finished, **finished_tail;
	struct event		*ev_done;
	pthread_t		*threads;
	int			 nthreads;
	int			 stopping;
};

static void *
worker_main(void *arg)
{
	struct worker_pool *p = arg;
	struct worker_job *job;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->todo == NULL && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->todo == NULL) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		job = p->todo;
		p->todo = job->next;
		if (p->todo == NULL)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->lock);

		job->work(job);

		pthread_mutex_lock(&p->lock);
		job->next = NULL;
		*p->finished_tail = job;
		p->finished_tail = &job->next;
		pthread_mutex_unlock(&p->lock);
		event_active(p->ev_done, EV_READ, 0);
	}
}

static void
worker_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker_pool *p = arg;
	struct worker_job *job, *next;

	pthread_mutex_lock(&p->lock);
	job = p->finished;
	p->finished = NULL;
	p->finished_tail = &p->finished;
	pthread_mutex_unlock(&p->lock);
	for (; job != NULL; job = next) {
		next = job->next;
		job->done(job);
	}
}

struct worker_pool *
worker_pool_new(struct event_base *base, int nthreads)
{
	struct worker_pool *p = calloc(1, sizeof(*p));
	int i;

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->todo_tail = &p->todo;
	p->finished_tail = &p->finished;
	p->ev_done = event_new(base, -1, 0, worker_done_cb, p);
	p->threads = calloc(nthreads, sizeof(pthread_t));
	if (p->ev_done == NULL || p->threads == NULL)
		abort();
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			abort();
	p->nthreads = nthreads;
	return p;
}

void
worker_submit(struct worker_pool *p, struct worker_job *job)
{
	pthread_mutex_lock(&p->lock);
	job->next = NULL;
	*p->todo_tail = job;
	p->todo_tail = &job->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void
worker_pool_free(struct worker_pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	event_free(p->ev_done);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p);
}
