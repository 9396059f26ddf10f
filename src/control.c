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

#include "abuse.h"
#include "config.h"
#include "control.h"
#include "dns_check.h"
#include "journal.h"
#include "log.h"
#include "policy.h"
#include "queue.h"
#include "sasldb.h"
#include "server.h"
#include "spool.h"
#include "tlsrpt.h"

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
cmd_stats(struct server *srv, const char *arg, struct evbuffer *out)
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
	struct policy_stats ps;
	struct abuse_stats as;
	uint64_t fsyncs, accepted, records, batches;
	size_t i;

	evbuffer_add_printf(out, "ok\nuptime %lld\nsessions %llu\nqueued %zu\n",
	    (long long)(time(NULL) - started),
	    (unsigned long long)STAT_GET(srv, sessions_now), queue_length());
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint64_t *p = (uint64_t *)((char *)&srv->stats + fields[i].offset);

		evbuffer_add_printf(out, "%s %llu\n", fields[i].name,
		    (unsigned long long)__atomic_load_n(p, __ATOMIC_RELAXED));
	}
	policy_stats(&ps);
	evbuffer_add_printf(out, "auth_banned_addresses %zu\nauth_locked_logins %zu\n"
	    "auth_bans %llu\nauth_login_locks %llu\n", ps.banned_addresses,
	    ps.locked_logins, (unsigned long long)ps.bans,
	    (unsigned long long)ps.login_locks);
	evbuffer_add_printf(out, "sasldb_opens %lu\n", sasldb_opens());
	fsyncs = spool_fsync_count();
	accepted = STAT_GET(srv, messages);
	evbuffer_add_printf(out, "fsyncs %llu\nfsyncs_per_message %.3f\n",
	    (unsigned long long)fsyncs, accepted > 0 ? (double)fsyncs /
	    (double)accepted : 0.0);
	journal_counts(&records, &batches);
	evbuffer_add_printf(out, "journal_records %llu\njournal_batches %llu\n"
	    "journal_records_per_batch %.2f\n", (unsigned long long)records,
	    (unsigned long long)batches, batches > 0 ? (double)records /
	    (double)batches : 0.0);
	abuse_stats(&as);
	evbuffer_add_printf(out, "abuse_suspended_logins %zu\nabuse_suspensions %llu\n"
	    "abuse_would_suspend %llu\n", as.suspended,
	    (unsigned long long)as.suspensions,
	    (unsigned long long)as.would_suspend);
}

static void
cmd_reload(struct server *srv, const char *arg, struct evbuffer *out)
{
	char why[512];

	if (server_reload(srv, why, sizeof(why)) == 0)
		evbuffer_add_printf(out, "ok\nreloaded\n");
	else
		evbuffer_add_printf(out, "error: %s\n", why);
}

static void
cmd_queue(struct server *srv, const char *arg, struct evbuffer *out)
{
	queue_list(out);
}

static void
cmd_flush(struct server *srv, const char *arg, struct evbuffer *out)
{
	queue_flush(arg, out);
}

static void
cmd_show(struct server *srv, const char *arg, struct evbuffer *out)
{
	queue_show(arg, out);
}

static void
cmd_delete(struct server *srv, const char *arg, struct evbuffer *out)
{
	queue_delete(arg, out);
}

static void
cmd_hold(struct server *srv, const char *arg, struct evbuffer *out)
{
	queue_hold(arg, 1, out);
}

static void
cmd_release(struct server *srv, const char *arg, struct evbuffer *out)
{
	queue_hold(arg, 0, out);
}

static void
cmd_tls_report(struct server *srv, const char *arg, struct evbuffer *out)
{
	tlsrpt_send_now(out);
}

static void
cmd_suspended(struct server *srv, const char *arg, struct evbuffer *out)
{
	abuse_list(out);
}

static void
cmd_suspend(struct server *srv, const char *arg, struct evbuffer *out)
{
	abuse_suspend(arg, out);
}

static void
cmd_resume(struct server *srv, const char *arg, struct evbuffer *out)
{
	abuse_resume(arg, out);
}

/*
 * Commands that answer later (dns-check): the connection waits, reading
 * nothing, until the answer is written; one still waiting at a stop is
 * closed unanswered.
 */
struct pending {
	struct bufferevent	*bev;
	struct server		*srv;
	char			 domain[256];
	struct pending		*next;
};
static struct pending *pendings;

static void
pending_remove(struct pending *p)
{
	struct pending **pp;

	for (pp = &pendings; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p);
}

static void
dns_check_done(const char *report, int problems, void *arg)
{
	struct pending *p = arg;
	struct evbuffer *out = bufferevent_get_output(p->bev);

	if (problems > 0)
		evbuffer_add_printf(out, "error: %d problem%s in the DNS of %s\n",
		    problems, problems > 1 ? "s" : "", p->domain);
	else
		evbuffer_add_printf(out, "ok\n");
	evbuffer_add(out, report, strlen(report));
	log_info("event=dns-check domain=%s problems=%d", p->domain, problems);
	bufferevent_setcb(p->bev, NULL, control_done, control_event, p->srv);
	bufferevent_enable(p->bev, EV_WRITE);
	pending_remove(p);
}

/* A domain name as a command argument: labels of letters, digits, hyphens. */
static int
domain_arg(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    (s[i] == '.' && s[i + 1] != '.')))
			return 0;
	return 1;
}

/* 1 when the answer will come later (the connection is kept). */
static int
cmd_dns_check(struct server *srv, struct bufferevent *bev, const char *arg,
    struct evbuffer *out)
{
	struct pending *p;

	if (!domain_arg(arg)) {
		evbuffer_add_printf(out, "error: not a domain name\n");
		return 0;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		evbuffer_add_printf(out, "error: out of memory\n");
		return 0;
	}
	p->bev = bev;
	p->srv = srv;
	snprintf(p->domain, sizeof(p->domain), "%s", arg);
	if (dns_check_start(srv->conf, arg, dns_check_done, p) == -1) {
		free(p);
		evbuffer_add_printf(out, "error: cannot start the check\n");
		return 0;
	}
	p->next = pendings;
	pendings = p;
	return 1;
}

#define ARG_NONE	0
#define ARG_OPTIONAL	1
#define ARG_REQUIRED	2

/* submitctl(8)'s commands: each takes the argument it documents, no other. */
static const struct {
	const char	*verb;
	int		 arg;
	void		(*fn)(struct server *, const char *, struct evbuffer *);
} commands[] = {
	{ "stats",	ARG_NONE,	cmd_stats },
	{ "reload",	ARG_NONE,	cmd_reload },
	{ "queue",	ARG_NONE,	cmd_queue },
	{ "flush",	ARG_OPTIONAL,	cmd_flush },
	{ "show",	ARG_REQUIRED,	cmd_show },
	{ "delete",	ARG_REQUIRED,	cmd_delete },
	{ "hold",	ARG_REQUIRED,	cmd_hold },
	{ "release",	ARG_REQUIRED,	cmd_release },
	{ "tls-report",	ARG_NONE,	cmd_tls_report },
	{ "suspended",	ARG_NONE,	cmd_suspended },
	{ "suspend",	ARG_REQUIRED,	cmd_suspend },
	{ "resume",	ARG_REQUIRED,	cmd_resume },
};

/* ... and those that answer later. */
static const struct {
	const char	*verb;
	int		(*fn)(struct server *, struct bufferevent *, const char *,
			    struct evbuffer *);
} later[] = {
	{ "dns-check",	cmd_dns_check },
};

/* 1 when the answer comes later. */
static int
dispatch(struct server *srv, struct bufferevent *bev, char *line,
    struct evbuffer *out)
{
	char *save = NULL, *verb = strtok_r(line, " ", &save);
	char *arg = strtok_r(NULL, " ", &save);
	size_t i;

	if (verb == NULL || strtok_r(NULL, " ", &save) != NULL) {
		evbuffer_add_printf(out, "error: usage: VERB [ARGUMENT]\n");
		return 0;
	}
	for (i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		if (strcmp(later[i].verb, verb) == 0) {
			if (arg == NULL) {
				evbuffer_add_printf(out, "error: %s needs an "
				    "argument\n", verb);
				return 0;
			}
			return later[i].fn(srv, bev, arg, out);
		}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].verb, verb) != 0)
			continue;
		if ((arg == NULL && commands[i].arg == ARG_REQUIRED) ||
		    (arg != NULL && commands[i].arg == ARG_NONE)) {
			evbuffer_add_printf(out, "error: %s %s\n", verb, arg == NULL ?
			    "needs an argument" : "takes no argument");
			return 0;
		}
		commands[i].fn(srv, arg, out);
		return 0;
	}
	evbuffer_add_printf(out, "error: unknown command\n");
	return 0;
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
	log_info("event=control command=%s", log_strn(line, strnlen(line, 60)));
	if (dispatch(srv, bev, line, out)) {
		/* The answer comes later: no timeout, no callbacks till then. */
		free(line);
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
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

/*
 * Runs as the daemon's user (after the drop), in a directory it owns: root
 * never unlinks, binds, chmods or chowns a path the daemon user could have
 * replaced by a link.  The umask makes the socket 0660 from its creation,
 * so there is no moment when others could connect; root and members of
 * the daemon user's group may.
 */
int
control_open(struct server *srv)
{
	const char *path = srv->conf->control_socket;
	struct sockaddr_un sun;
	mode_t old;
	int fd, rc;

	started = time(NULL);
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_errx("event=control path=%s error=\"path too long\"",
		    log_str(path));
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	if (unlink(path) == -1 && errno != ENOENT) {
		close(fd);
		goto fail;
	}
	old = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1 || listen(fd, 16) == -1) {
		close(fd);
		goto fail;
	}
	control_evl = evconnlistener_new(srv->base, control_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (control_evl == NULL) {
		close(fd);
		return -1;
	}
	strcpy(control_path, path);
	return dns_check_init(srv->base);
fail:
	log_errx("event=control path=%s error=%s", log_str(path),
	    log_str(strerror(errno)));
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
	dns_check_shutdown();
	while (pendings != NULL) {
		bufferevent_free(pendings->bev);
		pending_remove(pendings);
	}
}
