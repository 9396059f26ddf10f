/*
 * control.c - control socket server.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "server.h"

#define CONTROL_LINE_MAX	256

static struct evconnlistener *control_evl;
static char control_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static time_t started;

static void
control_done(struct bufferevent *bev, void *arg)
{
	bufferevent_free(bev);
}

static void
control_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void
cmd_stats(struct server *srv, struct evbuffer *out)
{
	static const struct {
		const char	*name;
		size_t		 offset;
	} fields[] = {
#define F(x)	{ #x, offsetof(struct server_stats, x) }
		F(connections), F(tls_handshakes), F(tls_failures), F(auth_ok),
		F(auth_failed), F(messages), F(bytes), F(rejects), F(delivered),
		F(deferred), F(bounced),
#undef F
	};
	size_t i;

	evbuffer_add_printf(out, "ok\nuptime %lld\nsessions %llu\nqueued %zu\n",
	    (long long)(time(NULL) - started),
	    (unsigned long long)STAT_GET(srv, sessions_now), queue_length());
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint64_t *p = (uint64_t *)((char *)&srv->stats + fields[i].offset);

		evbuffer_add_printf(out, "%s %llu\n", fields[i].name,
		    (unsigned long long)__atomic_load_n(p, __ATOMIC_RELAXED));
	}
}

/* "verb [id]": each verb takes the argument it documents, nothing else. */
static void
dispatch(struct server *srv, char *line, struct evbuffer *out)
{
	char *save = NULL, *verb = strtok_r(line, " ", &save);
	char *arg = strtok_r(NULL, " ", &save);

	if (verb == NULL || strtok_r(NULL, " ", &save) != NULL)
		evbuffer_add_printf(out, "error: usage: VERB [ID]\n");
	else if (strcmp(verb, "stats") == 0 && arg == NULL)
		cmd_stats(srv, out);
	else if (strcmp(verb, "reload") == 0 && arg == NULL) {
		if (policy_reload() == 0)
			evbuffer_add_printf(out, "ok\nreloaded\n");
		else
			evbuffer_add_printf(out, "error: the senders or login limits "
			    "file has errors; the old rules stay (see the log)\n");
	} else if (strcmp(verb, "queue") == 0 && arg == NULL)
		queue_list(out);
	else if (strcmp(verb, "flush") == 0)
		queue_flush(arg, out);
	else if (arg == NULL)
		evbuffer_add_printf(out, "error: unknown command or missing id\n");
	else if (strcmp(verb, "show") == 0)
		queue_show(arg, out);
	else if (strcmp(verb, "delete") == 0)
		queue_delete(arg, out);
	else if (strcmp(verb, "hold") == 0)
		queue_hold(arg, 1, out);
	else if (strcmp(verb, "release") == 0)
		queue_hold(arg, 0, out);
	else
		evbuffer_add_printf(out, "error: unknown command\n");
}

static void
control_read(struct bufferevent *bev, void *arg)
{
	struct server *srv = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	char *line;
	size_t len;

	line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
			bufferevent_free(bev);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	log_info("event=control command=\"%.60s\"", line);
	dispatch(srv, line, out);
	free(line);
	bufferevent_setcb(bev, NULL, control_done, control_event, srv);
}

static void
control_accept(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	struct bufferevent *bev;
	struct timeval tv = { 10, 0 };

	bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, control_read, NULL, control_event, srv);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int
control_open(struct server *srv, uid_t uid, gid_t gid)
{
	const char *path = srv->conf->control_socket;
	struct sockaddr_un sun;
	int fd;

	started = time(NULL);
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_errx("event=control path=%s error=\"path too long\"", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0660) == -1 || listen(fd, 16) == -1) {
		close(fd);
		goto fail;
	}
	/* Owner root, group of the daemon's user: submitctl runs as either. */
	if (getuid() == 0 && chown(path, 0, gid) == -1)
		log_warnx("event=control path=%s error=\"chown: %s\"", path,
		    strerror(errno));
	control_evl = evconnlistener_new(srv->base, control_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (control_evl == NULL) {
		close(fd);
		return -1;
	}
	strcpy(control_path, path);
	return 0;
fail:
	log_errx("event=control path=%s error=\"%s\"", path, strerror(errno));
	return -1;
}

void
control_close(void)
{
	if (control_evl != NULL) {
		evconnlistener_free(control_evl);
		unlink(control_path);
	}
	control_evl = NULL;
}
