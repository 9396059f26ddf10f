/*
 * listener.c - listening sockets.
 *
 * Sockets are made by hand rather than by evconnlistener_new_bind so that
 * IPv6 listeners can be IPv6-only (an "0.0.0.0" and a "::" section then
 * coexist on one port) and so that errors name the address.  Each event
 * loop has its own socket per listen section, bound with SO_REUSEPORT: the
 * kernel spreads new connections over the loops, and no loop touches
 * another's listener.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "session.h"

struct listener {
	struct evconnlistener	*evl;
	struct loop		*loop;
	const struct listen_conf *conf;
	struct event		*resume;	/* after running out of descriptors */
};

static struct listener *listeners;
static size_t nlisteners;

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;

	session_start(l->loop, fd, sa, salen, l->conf);
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	if (l->evl != NULL)
		evconnlistener_enable(l->evl);
}

/*
 * EMFILE and friends: the pending connection stays in the backlog and the
 * socket stays readable, so retrying at once would spin; accept nothing on
 * this listener for a second (sessions end, descriptors come back).
 */
static void
accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	struct timeval second = { 1, 0 };
	int e = EVUTIL_SOCKET_ERROR();

	log_warnx("event=accept port=%d error=%s action=\"paused for a second\"",
	    l->conf->port, log_str(evutil_socket_error_to_string(e)));
	evconnlistener_disable(evl);
	if (l->resume == NULL)
		l->resume = evtimer_new(l->loop->base, resume_cb, l);
	if (l->resume == NULL || evtimer_add(l->resume, &second) == -1)
		evconnlistener_enable(evl);	/* better a spin than deaf */
}

static evutil_socket_t
bind_one(const struct listen_conf *lc, int reuseport)
{
	struct addrinfo hints, *res;
	char port[8];
	evutil_socket_t fd;
	int on = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", lc->port);
	if ((rc = getaddrinfo(lc->address, port, &hints, &res)) != 0) {
		log_errx("event=listen address=%s port=%d error=%s",
		    log_str(lc->address), lc->port, log_str(gai_strerror(rc)));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1)
		goto fail;
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 511) == -1)
		goto fail;
	freeaddrinfo(res);
	return fd;
fail:
	log_errx("event=listen address=%s port=%d error=%s",
	    log_str(lc->address), lc->port, log_str(strerror(errno)));
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

int
listener_open(struct server *srv)
{
	size_t i, n = srv->conf->nlistens;
	int k;

	listeners = calloc(n * srv->nloops, sizeof(*listeners));
	if (listeners == NULL)
		return -1;
	for (k = 0; k < srv->nloops; k++)
		for (i = 0; i < n; i++) {
			struct listener *l = &listeners[nlisteners];
			evutil_socket_t fd;

			fd = bind_one(&srv->conf->listens[i], srv->nloops > 1);
			if (fd == -1)
				return -1;
			l->loop = &srv->loops[k];
			l->conf = &srv->conf->listens[i];
			l->evl = evconnlistener_new(l->loop->base, accept_cb, l,
			    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
			if (l->evl == NULL) {
				close(fd);
				return -1;
			}
			evconnlistener_set_error_cb(l->evl, accept_error_cb);
			nlisteners++;
			if (k == 0)
				log_info("event=listen address=%s port=%d tls=%s loops=%d",
				    l->conf->address, l->conf->port,
				    l->conf->tls == LISTEN_IMPLICIT ? "implicit" :
				    "starttls", srv->nloops);
		}
	return 0;
}

/* Runs on loop's own thread: a listener is only ever touched by its loop. */
void
listener_close(struct loop *loop)
{
	size_t i;

	for (i = 0; i < nlisteners; i++)
		if (listeners[i].evl != NULL && listeners[i].loop == loop) {
			evconnlistener_free(listeners[i].evl);
			listeners[i].evl = NULL;
			if (listeners[i].resume != NULL)
				event_free(listeners[i].resume);
			listeners[i].resume = NULL;
		}
}

void
listener_free(void)
{
	free(listeners);
	listeners = NULL;
	nlisteners = 0;
}
