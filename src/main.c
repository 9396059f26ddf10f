/*
 * main.c - start-up and shutdown.
 *
 * Order matters.  As root: read the configuration (with the key and the
 * other files it names, util/files.c's way), bind the ports, and make sure
 * the spool and control socket directories exist and are the daemon
 * user's.  Then drop to that user for good.  Only then: anything inside
 * those directories (spool subdirectories, cleaning, the control socket),
 * SASL, the queue, and accepting connections.
 *
 * Stopping (SIGTERM): stop accepting, let sessions finish for
 * timeouts.drain seconds, then tell every session still open "421 4.3.2"
 * (after the answer to a message being committed), and wait a little more
 * for commits and deliveries under way.
 */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <pthread.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "abuse.h"
#include "auth.h"
#include "config.h"
#include "control.h"
#include "dane.h"
#include "delivery.h"
#include "dns.h"
#include "dns_sync.h"
#include "https.h"
#include "journal.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "policy.h"
#include "queue.h"
#include "session.h"
#include "spool.h"
#include "tls.h"
#include "worker.h"
#include "util/files.h"

#define DEFAULT_CONFIG	SYSCONFDIR "/submitd/submitd.conf"
#define IO_WORKERS	4	/* DKIM signing and bounces, per loop */
#define AUTH_WORKERS	2	/* SASL threads per loop: one slow check blocks no one */
#define LOOPS_MAX	16

static void
usage(void)
{
	fprintf(stderr, "usage: submitd [-dnv] [-f config]\n");
	exit(1);
}

/* systemd Type=notify without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void
notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)!sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sun, len);
	close(fd);
}

/*
 * The control socket's directory, as root for another user: made for that
 * user when missing, taken over when it is root's and empty (a fresh
 * RuntimeDirectory), else it must be the user's already.  The socket itself
 * is made after the drop.
 */
static int
control_dir(const struct config *conf)
{
	char dir[1024], why[600], *slash;
	int fd;

	if (geteuid() != 0 || conf->uid == 0)
		return 0;
	snprintf(dir, sizeof(dir), "%s", conf->control_socket);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;	/* the working directory: the admin's choice */
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = files_own_dir(dir, conf->uid, conf->gid, 0750, why,
	    sizeof(why))) == -1) {
		log_errx("event=start key=control_socket error=%s", log_str(why));
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * DANE trusts the AD bit of the resolver's answers: does it validate?
 * When DANE is required ("require", or a route with tls = "dane"), the
 * answer decides whether we start (and what -n says), so it is asked for
 * here, blocking for a moment.  For "optional" it is asked on the loop
 * (dane.c): until then each answer's own AD bit decides, and a resolver
 * found not to validate turns DANE off with one warning.
 */
static int
check_dnssec(const struct config *conf)
{
	char why[256];
	size_t i;
	int required = conf->relay.dane == POLICY_REQUIRE, rc;

	for (i = 0; i < conf->nroutes; i++)
		required |= conf->routes[i].tls == TLS_LEVEL_DANE;
	dane_set_resolver_validates(conf->relay.dane != POLICY_DISABLE || required);
	if (!required)
		return 0;
	rc = dns_probe_dnssec(conf->resolver, why, sizeof(why));
	if (rc == 1)
		return 0;
	fprintf(stderr, "%s: relay.dane: DANE is required (relay.dane = "
	    "\"require\" or a route with tls = \"dane\") but %s; run a local "
	    "validating resolver (unbound) and point resolver at it\n",
	    conf->path, why);
	return -1;
}

static int
become_user(const struct config *conf)
{
	uid_t uid = conf->uid;
	gid_t gid = conf->gid;

	if (geteuid() != 0 || uid == 0)
		return 0;
	if (setgroups(0, NULL) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		log_errx("event=start user=%s error=%s", log_str(conf->user),
		    log_str(strerror(errno)));
		return -1;
	}
	/* For good: regaining root must fail. */
	if (setuid(0) != -1) {
		log_errx("event=start error=\"privileges could be regained\"");
		return -1;
	}
	return 0;
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	char why[512];

	log_info("event=reload signal=HUP");
	notify_systemd("RELOADING=1");
	server_reload(arg, why, sizeof(why));
	notify_systemd("READY=1");
}

#define STOP_GRACE	10	/* seconds for commits and deliveries under way */
#define STOP_LINGER	3	/* seconds for the 421s to leave */
#define STOP_TICK_MS	100

/*
 * Stopping, on each loop's own thread, every STOP_TICK_MS: done when no
 * session, commit or delivery is left.  After the drain time every session
 * still open is told 421; after that, messages being committed still get
 * their "250" and deliveries under way their answer (a next hop that has a
 * message is not sent it again after the restart), within STOP_GRACE.
 */
static void
loop_stop_check(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	int deliveries = l->index == 0 ? queue_stop() : 0;
	int sessions = session_count(l);
	int tick = l->stop_ticks++;
	const int per_s = 1000 / STOP_TICK_MS;
	int drain = l->srv->conf->timeout_drain;

	if (sessions == 0 && l->commits == 0 && deliveries == 0) {
		event_base_loopexit(l->base, NULL);
		return;
	}
	if (!l->told && (tick >= drain * per_s || sessions == 0)) {
		l->told = 1;
		l->told_tick = tick;
		if (sessions > 0)
			log_info("event=stop loop=%d sessions_told=%d reply=\"421 4.3.2\"",
			    l->index, session_stop_all(l));
	}
	if (l->told && l->commits == 0 && deliveries == 0 &&
	    tick - l->told_tick >= STOP_LINGER * per_s) {
		log_info("event=stop loop=%d sessions_dropped=%d", l->index,
		    sessions);
		event_base_loopexit(l->base, NULL);
		return;
	}
	if (tick >= (drain + STOP_GRACE) * per_s) {
		log_warnx("event=stop loop=%d commits=%d deliveries=%d reason=\"grace "
		    "period over; unfinished deliveries will be retried\"", l->index,
		    l->commits, deliveries);
		event_base_loopexit(l->base, NULL);
	}
}

static void
loop_stop(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	struct timeval tv = { 0, STOP_TICK_MS * 1000 };

	listener_close(l);
	l->ev_stop_check = event_new(l->base, -1, EV_PERSIST, loop_stop_check, l);
	if (l->ev_stop_check == NULL) {
		event_base_loopexit(l->base, NULL);
		return;
	}
	event_add(l->ev_stop_check, &tv);
	loop_stop_check(-1, 0, l);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	static int stopping;
	int k;

	log_info("event=stop signal=%d drain=%d", (int)sig,
	    srv->conf->timeout_drain);
	if (stopping++)
		return;
	notify_systemd("STOPPING=1");
	for (k = 0; k < srv->nloops; k++)
		event_active(srv->loops[k].ev_stop, 0, 0);	/* thread-safe */
}

static void *
loop_thread(void *arg)
{
	struct loop *l = arg;

	event_base_dispatch(l->base);
	return NULL;
}

/* epoll with a change list: enabling and disabling in one turn costs nothing. */
static struct event_base *
base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static int
loops_new(struct server *srv)
{
	int k, n = srv->conf->event_loops;

	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus < 1 ? 1 : cpus > LOOPS_MAX ? LOOPS_MAX : cpus;
	}
	if ((srv->loops = calloc(n, sizeof(*srv->loops))) == NULL)
		return -1;
	srv->nloops = n;
	for (k = 0; k < n; k++) {
		struct loop *l = &srv->loops[k];

		l->srv = srv;
		l->index = k;
		TAILQ_INIT(&l->sessions);
		if ((l->base = base_new()) == NULL ||
		    (l->ev_stop = event_new(l->base, -1, 0, loop_stop, l)) == NULL)
			return -1;
	}
	srv->base = srv->loops[0].base;
	return 0;
}

/* After the privileges are dropped, so that no thread ever ran as root. */
static void
loops_pools(struct server *srv)
{
	int k;

	for (k = 0; k < srv->nloops; k++) {
		struct loop *l = &srv->loops[k];

		l->io_pool = worker_pool_new(l->base, IO_WORKERS);
		l->auth_pool = worker_pool_new(l->base, AUTH_WORKERS);
		l->journal = journal_port_new(l->base);
	}
	srv->io_pool = srv->loops[0].io_pool;
	srv->journal = srv->loops[0].journal;
}

static void
loops_free(struct server *srv)
{
	int k;

	for (k = 0; k < srv->nloops; k++) {
		struct loop *l = &srv->loops[k];

		worker_pool_free(l->io_pool);
		worker_pool_free(l->auth_pool);
		journal_port_free(l->journal);
		if (l->ev_stop != NULL)
			event_free(l->ev_stop);
		if (l->ev_stop_check != NULL)
			event_free(l->ev_stop_check);
		if (l->base != NULL)
			event_base_free(l->base);
	}
	free(srv->loops);
}

int
main(int argc, char *argv[])
{
	const char *path = DEFAULT_CONFIG;
	int debug = 0, check = 0, ch, rc = 1;
	struct config *conf;
	struct server srv;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	unsigned char secret[32];
	int k;

	while ((ch = getopt(argc, argv, "df:nv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			printf("submitd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if ((conf = config_load(path)) == NULL)
		return 1;
	if (check) {
		rc = policy_check(conf);
		if (rc == 0)
			rc = check_dnssec(conf);
		if (rc == 0)
			printf("%s: configuration OK\n", path);
		config_free(conf);
		return rc == 0 ? 0 : 1;
	}
	log_init(debug, 0);
	/* libcurl's global set-up wants to run before any thread. */
	if (https_global_init() == -1) {
		log_errx("event=start error=\"cannot initialise libcurl\"");
		config_free(conf);
		return 1;
	}
	if (check_dnssec(conf) == -1) {
		config_free(conf);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	umask(027);

	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	srv.conf = conf;
	srv.start_conf = config_ref(conf);
	evthread_use_pthreads();
	if (loops_new(&srv) == -1)
		goto out;
	/*
	 * Signals are ours before the first port is bound: whoever sees the
	 * port open may stop us, and must get an orderly stop.
	 */
	ev_term = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	ev_int = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	ev_hup = evsignal_new(srv.base, SIGHUP, on_hup, &srv);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);
	if ((srv.ssl_ctx = tls_server_ctx_new(conf)) == NULL ||
	    (srv.client_ctx = tls_client_ctx_new()) == NULL ||
	    dane_ctx_init(srv.client_ctx) == -1 ||
	    listener_open(&srv) == -1 ||
	    spool_prepare(conf->spool_dir, conf->uid, conf->gid) == -1 ||
	    control_dir(conf) == -1 ||
	    become_user(conf) == -1)
		goto out;
	/* From here on as the daemon's user. */
	if (spool_init(conf->spool_checkpoint) == -1 || policy_init(conf) == -1 ||
	    control_open(&srv) == -1 ||
	    spool_secret("auth-secret", secret, sizeof(secret)) == -1 ||
	    auth_init(conf, secret, sizeof(secret)) == -1)
		goto out;
	explicit_bzero(secret, sizeof(secret));
	oauth_prefetch(conf);
	loops_pools(&srv);
	/* Suspensions first: the queue loads messages that they hold. */
	if (abuse_init(&srv) == -1 || queue_init(&srv) == -1 ||
	    metrics_init(&srv) == -1)
		goto out;


	log_info("event=start version=%s hostname=%s config=%s", PACKAGE_VERSION,
	    conf->hostname, conf->path);
	for (k = 1; k < srv.nloops; k++)
		if (pthread_create(&srv.loops[k].thread, NULL, loop_thread,
		    &srv.loops[k]) != 0) {
			log_errx("event=start error=\"cannot start loop thread\"");
			abort();
		}
	notify_systemd("READY=1");
	event_base_dispatch(srv.base);
	for (k = 1; k < srv.nloops; k++)
		pthread_join(srv.loops[k].thread, NULL);

	listener_free();
	control_close();
	metrics_shutdown();
	https_shutdown();	/* requests under way finish first */
	for (k = 0; k < srv.nloops; k++) {
		worker_pool_free(srv.loops[k].io_pool);
		worker_pool_free(srv.loops[k].auth_pool);
		srv.loops[k].io_pool = srv.loops[k].auth_pool = NULL;
	}
	journal_drain();	/* what the loops left under way finishes */
	for (k = 0; k < srv.nloops; k++)
		session_shutdown(&srv.loops[k]);
	queue_shutdown();
	abuse_shutdown();
	oauth_shutdown();
	rc = 0;
out:
	if (ev_term != NULL) {
		event_free(ev_term);
		event_free(ev_int);
		event_free(ev_hup);
	}
	if (rc != 0)
		log_errx("event=start result=fail");
	spool_close();
	SSL_CTX_free(srv.ssl_ctx);
	SSL_CTX_free(srv.client_ctx);
	loops_free(&srv);
	policy_free();
	config_unref(srv.conf);
	config_unref(srv.start_conf);
	pthread_mutex_destroy(&srv.lock);
	return rc;
}
