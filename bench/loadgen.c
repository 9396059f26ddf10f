/*
 * loadgen - SMTP submission load generator for the submitd benchmark.
 *
 * Opens C concurrent client sessions against a submission server and runs
 * N sessions in all, each: connect, EHLO, STARTTLS, EHLO, AUTH PLAIN, M
 * messages of S bytes (MAIL, RCPT, DATA; MAIL+RCPT+DATA sent as one group
 * when the server offers PIPELINING, RFC 2920), QUIT.  It reports sessions/s,
 * messages/s, the p50/p99 latency of the final dot -> 250 step and of whole
 * sessions, and the errors (with the first error's text); it exits non-zero
 * on any error.
 *
 * Idle mode (--idle T) instead opens C authenticated TLS sessions (at most
 * --ramp of them setting up at once), holds them for T seconds (sending NOOP
 * every --noop seconds, or nothing), and half-way through times a fresh full
 * session (the "probe", which must take less than a second) to show whether
 * the server stays responsive while they are held.
 *
 * It is a benchmark client, not a conformance checker: any reply other than
 * the one expected counts as an error and ends that session.  Certificates
 * are not verified (the benchmark uses a self-signed one), but every session
 * does a full TLS handshake: no session resumption, as with most clients.
 *
 * The last line of output is machine-readable ("RESULT key=value ...") for
 * bench/compare.sh.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define MAX_LINE	4096	/* longest reply line we accept */
#define PROBE_LIMIT_MS	1000.0	/* a probe session slower than this is an error */

/* ------------------------------------------------------------ options */

struct options {
	const char *host;
	const char *port;
	int concurrency;		/* -c: sessions open at once */
	long sessions;			/* -n: sessions in all (load mode) */
	int messages;			/* -m: messages per session */
	size_t size;			/* -s: bytes per message */
	const char *user;
	const char *password;
	const char *from;
	const char *rcpt;
	const char *ehlo;
	int threads;			/* -j: event loops (load mode) */
	double idle;			/* --idle: hold time in seconds; 0 = load mode */
	int ramp;			/* --ramp: sessions setting up at once (idle) */
	double noop;			/* --noop: NOOP interval while idle; 0 = never */
	double timeout;			/* --timeout: per reply */
	double max_time;		/* --max-time: whole run */
	int no_pipelining;		/* --no-pipelining */
	int trace;			/* -v: time each step of the first session */
	int nagle;			/* --nagle: leave Nagle's algorithm on */
};

static struct options opt = {
	.host = "127.0.0.1", .port = "587", .concurrency = 20, .sessions = 100,
	.messages = 1, .size = 4096, .user = NULL, .password = NULL,
	.from = NULL, .rcpt = "bob@example.org", .ehlo = "loadgen.example.test",
	.threads = 1, .idle = 0, .ramp = 64, .noop = 0, .timeout = 30,
	.max_time = 600, .no_pipelining = 0, .trace = 0, .nagle = 0,
};

/* ------------------------------------------------------- shared state */

/* Read-only after start-up, shared by every event loop. */
static struct sockaddr_storage server_addr;
static socklen_t server_addrlen;
static SSL_CTX *ssl_ctx;
static char *message_text;		/* the S bytes of every message, CRLF lines */
static size_t message_len;
static char *ehlo_line;			/* "EHLO <name>\r\n" */
static char *auth_line;			/* "AUTH PLAIN <base64>\r\n" */
static char *envelope_mail, *envelope_rcpt;	/* "MAIL FROM:<..>\r\n", "RCPT TO:<..>\r\n" */

/* Written by any loop. */
static atomic_long sessions_started;	/* load mode: sessions handed out so far */
static atomic_long error_count;
static pthread_mutex_t first_error_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[512];
static char tls_description[128];	/* protocol and cipher of the first session */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct timeval timeval_of(double seconds)
{
	struct timeval tv;

	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	return tv;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		exit(2);
	}
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* ------------------------------------------------------------- samples */

/* Latencies in milliseconds; each event loop keeps its own, merged at the end. */
struct samples {
	double *v;
	size_t n, cap;
};

static void samples_add(struct samples *s, double value)
{
	if (s->n == s->cap) {
		double *v;

		s->cap = s->cap ? s->cap * 2 : 1024;
		v = realloc(s->v, s->cap * sizeof(*v));
		if (v == NULL) {
			fprintf(stderr, "loadgen: out of memory\n");
			exit(2);
		}
		s->v = v;
	}
	s->v[s->n++] = value;
}

static void samples_merge(struct samples *into, const struct samples *from)
{
	for (size_t i = 0; i < from->n; i++)
		samples_add(into, from->v[i]);
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples; 0 when there are none. */
static double samples_percentile(const struct samples *s, double p)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	rank = (size_t)ceil(p / 100.0 * (double)s->n);
	if (rank < 1)
		rank = 1;
	return s->v[rank - 1];
}

/* --------------------------------------------------------------- loops */

/* One event loop (a thread in load mode) and the sessions it runs. */
struct loop {
	struct event_base *base;
	pthread_t thread;
	int slots;			/* load mode: concurrent sessions of this loop */
	int active;			/* sessions open now */
	long sessions_ok;
	long messages_ok;
	struct samples dot_ms;		/* final dot -> 250 */
	struct samples session_ms;	/* connect -> 221 */
	struct event *deadline;
};

enum state {
	S_CONNECT, S_BANNER, S_EHLO, S_STARTTLS, S_HANDSHAKE, S_EHLO_TLS, S_AUTH,
	S_MAIL, S_RCPT, S_DATA, S_DOT, S_IDLE, S_NOOP, S_QUIT,
};

static const char *const state_names[] = {
	"connect", "banner", "EHLO", "STARTTLS", "TLS handshake", "EHLO after TLS",
	"AUTH", "MAIL", "RCPT", "DATA", "final dot", "idle", "NOOP", "QUIT",
};

enum kind { K_LOAD, K_IDLE, K_PROBE };

struct session {
	struct loop *loop;
	enum kind kind;
	long id;
	evutil_socket_t fd;
	struct bufferevent *bev;	/* plain until STARTTLS, then TLS (owns fd) */
	int tls;
	enum state state;
	int offers_starttls, offers_pipelining;
	int messages_done;
	int quit_after_noop;		/* idle mode: the hold ended during a NOOP */
	double t_start, t_dot;
	double elapsed_ms;		/* set when the session ends well */
	struct event *noop_timer;	/* idle mode with --noop */
};

/* Hooks for idle mode: told when a session reaches S_IDLE or ends. */
static void idle_established(struct session *s);
static void idle_session_ended(struct session *s, int ok);

static int session_start(struct loop *loop, enum kind kind, long id);
static void loop_fill(struct loop *loop);

static void record_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record_error(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&error_count, 1) != 0)
		return;
	pthread_mutex_lock(&first_error_lock);
	va_start(ap, fmt);
	vsnprintf(first_error, sizeof(first_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&first_error_lock);
}

static const char *session_kind(const struct session *s)
{
	return s->kind == K_PROBE ? "probe" : s->kind == K_IDLE ? "idle" : "load";
}

static void session_free(struct session *s)
{
	if (s->noop_timer != NULL)
		event_free(s->noop_timer);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	if (!s->tls && s->fd >= 0)
		evutil_closesocket(s->fd);	/* the plain bufferevent does not own it */
	free(s);
}

/* An open session is over: account for it, then free it. */
static void session_end(struct session *s, int ok)
{
	struct loop *loop = s->loop;

	loop->active--;
	if (ok)
		s->elapsed_ms = now_ms() - s->t_start;
	if (s->kind == K_LOAD) {
		if (ok) {
			loop->sessions_ok++;
			samples_add(&loop->session_ms, s->elapsed_ms);
		}
		session_free(s);
		loop_fill(loop);
	} else {
		idle_session_ended(s, ok);
		session_free(s);
	}
}

static void session_fail(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void session_fail(struct session *s, const char *fmt, ...)
{
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	record_error("%s session %ld, %s: %s", session_kind(s), s->id,
	    state_names[s->state], why);
	session_end(s, 0);
}

/* -v: the first session (and the probe) show each step, timed from connect. */
static int session_traced(const struct session *s)
{
	return opt.trace && (s->id == 0 || s->kind == K_PROBE) && s->state < S_IDLE;
}

static void session_trace(const struct session *s, const char *dir, const char *text,
    size_t len)
{
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	fprintf(stderr, "%9.3f ms  %s session %ld %s %.*s\n", now_ms() - s->t_start,
	    session_kind(s), s->id, dir, (int)(len > 120 ? 120 : len), text);
}

static void session_send(struct session *s, const char *text)
{
	if (session_traced(s))
		session_trace(s, "<-", text, strlen(text));
	bufferevent_write(s->bev, text, strlen(text));
}

static void session_set_timeout(struct session *s, int on)
{
	struct timeval tv = timeval_of(opt.timeout);

	if (on)
		bufferevent_set_timeouts(s->bev, &tv, &tv);
	else
		bufferevent_set_timeouts(s->bev, NULL, NULL);
}

/* Sends the next message's envelope, or QUIT when all are sent. */
static void session_next_message(struct session *s)
{
	if (s->kind == K_IDLE && s->state == S_AUTH) {
		s->state = S_IDLE;
		session_set_timeout(s, 0);	/* held open: only EOF or errors end it */
		idle_established(s);
		return;
	}
	if (s->messages_done == (s->kind == K_PROBE ? 1 : opt.messages)) {
		s->state = S_QUIT;
		session_send(s, "QUIT\r\n");
		return;
	}
	s->state = S_MAIL;
	session_send(s, envelope_mail);
	if (s->offers_pipelining && !opt.no_pipelining) {
		/* RFC 2920: DATA may end a group; its 354 comes after the others. */
		session_send(s, envelope_rcpt);
		session_send(s, "DATA\r\n");
	}
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_read_cb(struct bufferevent *bev, void *arg);

/* RFC 3207: after "220" to STARTTLS the client starts the handshake at once. */
static int session_start_tls(struct session *s)
{
	struct evbuffer *pending = bufferevent_get_input(s->bev);
	SSL *ssl;

	if (evbuffer_get_length(pending) != 0) {
		session_fail(s, "server sent data after its reply to STARTTLS");
		return -1;
	}
	bufferevent_free(s->bev);	/* created without BEV_OPT_CLOSE_ON_FREE */
	s->bev = NULL;
	ssl = SSL_new(ssl_ctx);
	if (ssl == NULL) {
		session_fail(s, "SSL_new failed");
		return -1;
	}
	s->tls = 1;	/* from here the TLS bufferevent owns (and closes) fd */
	s->bev = bufferevent_openssl_socket_new(s->loop->base, s->fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(s->fd);
		s->fd = -1;
		session_fail(s, "cannot create TLS bufferevent");
		return -1;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_setcb(s->bev, session_read_cb, NULL, session_event_cb, s);
	session_set_timeout(s, 1);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->state = S_HANDSHAKE;
	return 0;
}

static void note_tls(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

	pthread_mutex_lock(&first_error_lock);
	if (tls_description[0] == '\0' && ssl != NULL)
		snprintf(tls_description, sizeof(tls_description), "%s %s",
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	pthread_mutex_unlock(&first_error_lock);
}

/*
 * One complete reply (its last line in text) for the current state.
 * Returns 0 to go on reading, 1 when the session has switched to TLS (the
 * old buffer is gone), -1 when the session has ended (and s is gone).
 */
static int session_reply(struct session *s, int code, const char *text)
{
	static const int expected[] = {
		[S_BANNER] = 220, [S_EHLO] = 250, [S_STARTTLS] = 220,
		[S_EHLO_TLS] = 250, [S_AUTH] = 235, [S_MAIL] = 250, [S_RCPT] = 250,
		[S_DATA] = 354, [S_DOT] = 250, [S_NOOP] = 250, [S_QUIT] = 221,
	};
	double t;

	if (s->state == S_CONNECT || s->state == S_HANDSHAKE || s->state == S_IDLE) {
		session_fail(s, "unexpected reply: %s", text);
		return -1;
	}
	if (code != expected[s->state]) {
		session_fail(s, "expected %d, got: %s", expected[s->state], text);
		return -1;
	}
	switch (s->state) {
	case S_BANNER:
		s->state = S_EHLO;
		session_send(s, ehlo_line);
		break;
	case S_EHLO:
		if (!s->offers_starttls) {
			session_fail(s, "server does not offer STARTTLS");
			return -1;
		}
		s->state = S_STARTTLS;
		session_send(s, "STARTTLS\r\n");
		break;
	case S_STARTTLS:
		return session_start_tls(s) == 0 ? 1 : -1;	/* stop reading the old buffer */
	case S_EHLO_TLS:
		s->state = S_AUTH;
		session_send(s, auth_line);
		break;
	case S_AUTH:
		session_next_message(s);
		break;
	case S_MAIL:
		s->state = S_RCPT;
		if (!s->offers_pipelining || opt.no_pipelining)
			session_send(s, envelope_rcpt);
		break;
	case S_RCPT:
		s->state = S_DATA;
		if (!s->offers_pipelining || opt.no_pipelining)
			session_send(s, "DATA\r\n");
		break;
	case S_DATA:
		s->state = S_DOT;
		if (session_traced(s))
			session_trace(s, "<-", "(message) .", 11);
		bufferevent_write(s->bev, message_text, message_len);
		bufferevent_write(s->bev, ".\r\n", 3);
		s->t_dot = now_ms();
		break;
	case S_DOT:
		t = now_ms();
		if (s->kind == K_LOAD) {
			samples_add(&s->loop->dot_ms, t - s->t_dot);
			s->loop->messages_ok++;
		}
		s->messages_done++;
		session_next_message(s);
		break;
	case S_NOOP:
		if (s->quit_after_noop) {
			s->state = S_QUIT;
			session_send(s, "QUIT\r\n");
		} else {
			s->state = S_IDLE;
			session_set_timeout(s, 0);
		}
		break;
	case S_QUIT:
		session_end(s, 1);
		return -1;
	default:
		break;
	}
	return 0;
}

/* Notes what EHLO offers (RFC 5321 §4.1.1.1: one keyword per line). */
static void session_ehlo_line(struct session *s, const char *keyword)
{
	if (strncasecmp(keyword, "STARTTLS", 8) == 0 && (keyword[8] == '\0' || keyword[8] == ' '))
		s->offers_starttls = 1;
	else if (strncasecmp(keyword, "PIPELINING", 10) == 0 &&
	    (keyword[10] == '\0' || keyword[10] == ' '))
		s->offers_pipelining = 1;
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		int code, final, r = 0;

		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (len > 3 && line[3] != ' ' && line[3] != '-')) {
			session_fail(s, "malformed reply line: %.100s", line);
			free(line);
			return;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		final = len == 3 || line[3] == ' ';
		if (session_traced(s))
			session_trace(s, "->", line, len);
		if ((s->state == S_EHLO || s->state == S_EHLO_TLS) && len > 4)
			session_ehlo_line(s, line + 4);
		if (final)
			r = session_reply(s, code, line);
		free(line);
		if (r != 0)
			return;		/* ended, or switched to TLS */
	}
	if (evbuffer_get_length(in) > MAX_LINE)
		session_fail(s, "reply line longer than %d bytes", MAX_LINE);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	unsigned long ssl_err;
	char buf[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == S_CONNECT) {
			if (session_traced(s))
				session_trace(s, "--", "connected", 9);
			s->state = S_BANNER;
		} else if (s->state == S_HANDSHAKE) {
			if (session_traced(s))
				session_trace(s, "--", "TLS handshake done", 18);
			note_tls(s);
			s->state = S_EHLO_TLS;
			s->offers_pipelining = 0;	/* RFC 3207 §4.2: forget the first EHLO */
			session_send(s, ehlo_line);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		session_fail(s, "timed out after %.0f s", opt.timeout);
	} else if (what & BEV_EVENT_EOF) {
		session_fail(s, "connection closed by the server");
	} else if (s->tls && (ssl_err = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(ssl_err, buf, sizeof(buf));
		session_fail(s, "TLS: %s", buf);
	} else {
		int err = EVUTIL_SOCKET_ERROR();
		session_fail(s, "%s", err ? evutil_socket_error_to_string(err) : "connection error");
	}
}

static void session_noop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;

	if (s->state != S_IDLE)
		return;
	s->state = S_NOOP;
	session_set_timeout(s, 1);
	session_send(s, "NOOP\r\n");
}

/*
 * Opens a session (its connect completes in the loop).  Returns -1, with the
 * error recorded and nothing left open, when it fails at once.
 */
static int session_start(struct loop *loop, enum kind kind, long id)
{
	struct session *s = xmalloc(sizeof(*s));
	const char *why;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->kind = kind;
	s->id = id;
	s->state = S_CONNECT;
	s->t_start = now_ms();

	s->fd = socket(server_addr.ss_family, SOCK_STREAM, 0);
	if (s->fd < 0) {
		why = strerror(errno);
		goto fail;
	}
	evutil_make_socket_nonblocking(s->fd);
	evutil_make_socket_closeonexec(s->fd);
	if (!opt.nagle) {
		/*
		 * Each step is one small write followed by a wait for the reply;
		 * with Nagle on, a write that follows another one still unacked
		 * (EHLO right after the TLS Finished) waits for the server's
		 * delayed ACK, up to 40 ms, unless the server sends something
		 * first.  --nagle measures that case.
		 */
		int one = 1;

		setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	s->bev = bufferevent_socket_new(loop->base, s->fd, 0);
	if (s->bev == NULL) {
		why = "cannot create bufferevent";
		goto fail;
	}
	bufferevent_setcb(s->bev, session_read_cb, NULL, session_event_cb, s);
	session_set_timeout(s, 1);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (kind == K_IDLE && opt.noop > 0) {
		struct timeval tv = timeval_of(opt.noop);

		s->noop_timer = event_new(loop->base, -1, EV_PERSIST, session_noop_cb, s);
		event_add(s->noop_timer, &tv);
	}
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&server_addr,
	    (int)server_addrlen) != 0) {
		why = evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
		goto fail;
	}
	loop->active++;
	return 0;

fail:
	record_error("%s session %ld, connect: %s", session_kind(s), id, why);
	session_free(s);
	return -1;
}

/* ----------------------------------------------------------- load mode */

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *loop = arg;

	(void)fd;
	(void)what;

	record_error("run not finished after --max-time %.0f s (%d sessions open)",
	    opt.max_time, loop->active);
	event_base_loopbreak(loop->base);
}

static void loop_init(struct loop *loop)
{
	struct timeval tv = timeval_of(opt.max_time);

	memset(loop, 0, sizeof(*loop));
	loop->base = event_base_new();
	if (loop->base == NULL) {
		fprintf(stderr, "loadgen: cannot create an event base\n");
		exit(2);
	}
	loop->deadline = event_new(loop->base, -1, 0, deadline_cb, loop);
	event_add(loop->deadline, &tv);
}

/* Load mode: starts sessions until the loop's slots are full or none are left. */
static void loop_fill(struct loop *loop)
{
	while (loop->active < loop->slots) {
		long id = atomic_fetch_add(&sessions_started, 1);

		if (id >= opt.sessions)
			break;
		session_start(loop, K_LOAD, id);	/* a failure is counted; go on */
	}
	if (loop->active == 0)
		event_base_loopexit(loop->base, NULL);
}

static void loop_free(struct loop *loop)
{
	event_free(loop->deadline);
	event_base_free(loop->base);
	free(loop->dot_ms.v);
	free(loop->session_ms.v);
}

static void *loop_run(void *arg)
{
	struct loop *loop = arg;

	loop_fill(loop);
	event_base_dispatch(loop->base);
	return NULL;
}

static void print_latency(const char *what, struct samples *s)
{
	qsort(s->v, s->n, sizeof(*s->v), compare_double);
	printf("%-22s p50 %8.2f ms   p99 %8.2f ms   max %8.2f ms   (%zu samples)\n",
	    what, samples_percentile(s, 50), samples_percentile(s, 99),
	    s->n ? s->v[s->n - 1] : 0.0, s->n);
}

static int run_load(void)
{
	struct loop *loops = xmalloc(sizeof(*loops) * (size_t)opt.threads);
	struct samples dot = { 0 }, sess = { 0 };
	long sessions_ok = 0, messages_ok = 0, errors;
	double t0, elapsed;

	for (int i = 0; i < opt.threads; i++) {
		loop_init(&loops[i]);
		loops[i].slots = opt.concurrency / opt.threads +
		    (i < opt.concurrency % opt.threads);
	}
	t0 = now_ms();
	for (int i = 0; i < opt.threads; i++)
		if (pthread_create(&loops[i].thread, NULL, loop_run, &loops[i]) != 0) {
			fprintf(stderr, "loadgen: cannot start a thread\n");
			exit(2);
		}
	for (int i = 0; i < opt.threads; i++)
		pthread_join(loops[i].thread, NULL);
	elapsed = (now_ms() - t0) / 1e3;

	for (int i = 0; i < opt.threads; i++) {
		sessions_ok += loops[i].sessions_ok;
		messages_ok += loops[i].messages_ok;
		samples_merge(&dot, &loops[i].dot_ms);
		samples_merge(&sess, &loops[i].session_ms);
	}
	errors = atomic_load(&error_count);

	printf("target                 %s port %s, %d concurrent, %d loop%s\n",
	    opt.host, opt.port, opt.concurrency, opt.threads, opt.threads == 1 ? "" : "s");
	printf("load                   %ld sessions x %d messages of %zu bytes%s\n",
	    opt.sessions, opt.messages, opt.size, opt.no_pipelining ? " (no pipelining)" : "");
	printf("tls                    %s\n", tls_description[0] ? tls_description : "-");
	printf("elapsed                %.3f s\n", elapsed);
	printf("sessions               %ld ok, %.1f/s\n", sessions_ok, sessions_ok / elapsed);
	printf("messages               %ld ok, %.1f/s\n", messages_ok, messages_ok / elapsed);
	print_latency("final dot -> 250", &dot);
	print_latency("whole session", &sess);
	printf("errors                 %ld%s%s\n", errors, errors ? "; first: " : "",
	    errors ? first_error : "");
	printf("RESULT mode=load sessions=%ld messages=%ld errors=%ld elapsed=%.3f "
	    "sessions_per_s=%.1f messages_per_s=%.1f dot_p50_ms=%.2f dot_p99_ms=%.2f "
	    "session_p50_ms=%.2f session_p99_ms=%.2f\n",
	    sessions_ok, messages_ok, errors, elapsed, sessions_ok / elapsed,
	    messages_ok / elapsed, samples_percentile(&dot, 50), samples_percentile(&dot, 99),
	    samples_percentile(&sess, 50), samples_percentile(&sess, 99));

	/* Sessions cut short by --max-time are left to the exit. */
	for (int i = 0; i < opt.threads; i++)
		loop_free(&loops[i]);
	free(loops);
	free(dot.v);
	free(sess.v);
	return errors == 0 && sessions_ok == opt.sessions ? 0 : 1;
}

/* ----------------------------------------------------------- idle mode */

/*
 * One loop: ramp up to C established sessions, announce it (stdout, for the
 * comparison script's memory reading), hold them, probe half-way, QUIT all.
 */
static struct {
	struct loop loop;
	struct session **held;		/* established sessions, NULL once ended */
	int held_n;
	int launched, established, failed, ended_while_held;
	int holding, closing;
	double t0, t_up;
	double probe_ms;		/* < 0: not run or failed */
	struct event *probe_timer, *end_timer;
} idle;

static void idle_hold(void);

static void idle_launch_more(void)
{
	while (!idle.holding && idle.launched < opt.concurrency &&
	    idle.launched - idle.established - idle.failed < opt.ramp)
		if (session_start(&idle.loop, K_IDLE, idle.launched++) != 0)
			idle.failed++;
	if (!idle.holding && idle.established + idle.failed == opt.concurrency)
		idle_hold();
}

static void idle_maybe_finish(void)
{
	if (idle.closing && idle.loop.active == 0)
		event_base_loopexit(idle.loop.base, NULL);
}

static void idle_hold(void)
{
	struct timeval probe_at = timeval_of(opt.idle / 2), end_at = timeval_of(opt.idle);

	idle.holding = 1;
	idle.t_up = now_ms();
	printf("ESTABLISHED %d of %d sessions in %.1f s; holding them for %.0f s\n",
	    idle.established, opt.concurrency, (idle.t_up - idle.t0) / 1e3, opt.idle);
	fflush(stdout);
	event_add(idle.probe_timer, &probe_at);
	event_add(idle.end_timer, &end_at);
}

static void idle_established(struct session *s)
{
	idle.held[idle.held_n] = s;
	s->id = idle.held_n++;		/* from now on: index in idle.held */
	idle.established++;
	idle_launch_more();
}

static void idle_session_ended(struct session *s, int ok)
{
	if (s->kind == K_PROBE) {
		idle.probe_ms = ok ? s->elapsed_ms : -1;
		if (ok && idle.probe_ms >= PROBE_LIMIT_MS)
			record_error("probe session took %.0f ms (limit %.0f ms)",
			    idle.probe_ms, PROBE_LIMIT_MS);
		idle_maybe_finish();
		return;
	}
	if (s->state < S_IDLE) {
		/* failed while setting up (the error is already recorded) */
		idle.failed++;
		idle_launch_more();
	} else {
		idle.held[s->id] = NULL;
		if (!idle.closing)
			idle.ended_while_held++;
	}
	idle_maybe_finish();
}

static void idle_probe_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	session_start(&idle.loop, K_PROBE, 0);	/* a failure leaves probe_ms < 0 */
}

static void idle_end_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	idle.closing = 1;
	for (int i = 0; i < idle.held_n; i++) {
		struct session *s = idle.held[i];

		if (s == NULL)
			continue;
		if (s->state == S_NOOP) {
			s->quit_after_noop = 1;
			continue;
		}
		s->state = S_QUIT;
		session_set_timeout(s, 1);
		session_send(s, "QUIT\r\n");
	}
	idle_maybe_finish();
}

static int run_idle(void)
{
	long errors;
	int ok;

	loop_init(&idle.loop);
	idle.held = xmalloc(sizeof(*idle.held) * (size_t)opt.concurrency);
	idle.probe_ms = -1;
	idle.probe_timer = event_new(idle.loop.base, -1, 0, idle_probe_cb, NULL);
	idle.end_timer = event_new(idle.loop.base, -1, 0, idle_end_cb, NULL);
	idle.t0 = now_ms();
	idle_launch_more();
	event_base_dispatch(idle.loop.base);
	errors = atomic_load(&error_count);

	if (!idle.holding)
		printf("ESTABLISHED %d of %d sessions (run cut short)\n",
		    idle.established, opt.concurrency);
	printf("target                 %s port %s\n", opt.host, opt.port);
	printf("idle sessions          %d of %d established in %.1f s, held %.0f s, "
	    "%d lost while held\n", idle.established, opt.concurrency,
	    ((idle.holding ? idle.t_up : now_ms()) - idle.t0) / 1e3, opt.idle,
	    idle.ended_while_held);
	printf("tls                    %s\n", tls_description[0] ? tls_description : "-");
	if (idle.probe_ms >= 0)
		printf("probe session          %.1f ms (connect .. QUIT, 1 message, while held)\n",
		    idle.probe_ms);
	else
		printf("probe session          failed or not run\n");
	printf("errors                 %ld%s%s\n", errors, errors ? "; first: " : "",
	    errors ? first_error : "");
	printf("RESULT mode=idle target=%d established=%d lost=%d errors=%ld probe_ms=%.1f "
	    "setup_s=%.2f\n", opt.concurrency, idle.established, idle.ended_while_held,
	    errors, idle.probe_ms,
	    ((idle.holding ? idle.t_up : now_ms()) - idle.t0) / 1e3);
	ok = errors == 0 && idle.established == opt.concurrency && idle.probe_ms >= 0;

	event_free(idle.probe_timer);
	event_free(idle.end_timer);
	loop_free(&idle.loop);
	free(idle.held);
	return ok ? 0 : 1;
}

/* ------------------------------------------------------------ start-up */

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: loadgen [options] -u USER -w PASSWORD\n"
	    "  -h HOST          server address (default 127.0.0.1)\n"
	    "  -p PORT          server port (default 587)\n"
	    "  -c C             concurrent sessions (default 20)\n"
	    "  -n N             sessions in all (default 100)\n"
	    "  -m M             messages per session (default 1)\n"
	    "  -s S             message size in bytes (default 4096)\n"
	    "  -u USER          SASL login (AUTH PLAIN)\n"
	    "  -w PASSWORD      its password\n"
	    "  -f FROM          envelope sender (default: the login)\n"
	    "  -t RCPT          recipient (default bob@example.org)\n"
	    "  -j THREADS       event loops, each with its own thread (default 1)\n"
	    "  -v               show the timed steps of the first session (stderr)\n"
	    "  --ehlo NAME      EHLO argument (default loadgen.example.test)\n"
	    "  --no-pipelining  one command at a time even if PIPELINING is offered\n"
	    "  --nagle          leave Nagle's algorithm on (default: TCP_NODELAY)\n"
	    "  --idle T         idle mode: hold C authenticated TLS sessions for T s\n"
	    "  --ramp K         idle mode: sessions setting up at once (default 64)\n"
	    "  --noop SECONDS   idle mode: send NOOP this often (default: never)\n"
	    "  --timeout SEC    per-reply timeout (default 30)\n"
	    "  --max-time SEC   stop the whole run after this long (default 600)\n");
}

static long parse_number(const char *arg, const char *name, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == arg || v < min || v > max) {
		fprintf(stderr, "loadgen: %s must be a number from %ld to %ld\n", name, min, max);
		exit(2);
	}
	return v;
}

static double parse_seconds(const char *arg, const char *name)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end != '\0' || end == arg || !(v >= 0) || v > 86400) {
		fprintf(stderr, "loadgen: %s must be a number of seconds\n", name);
		exit(2);
	}
	return v;
}

static void parse_options(int argc, char **argv)
{
	enum { O_IDLE = 256, O_RAMP, O_NOOP, O_TIMEOUT, O_MAXTIME, O_EHLO, O_NOPIPE, O_NAGLE,
	    O_HELP };
	static const struct option longopts[] = {
		{ "idle", required_argument, NULL, O_IDLE },
		{ "ramp", required_argument, NULL, O_RAMP },
		{ "noop", required_argument, NULL, O_NOOP },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "max-time", required_argument, NULL, O_MAXTIME },
		{ "ehlo", required_argument, NULL, O_EHLO },
		{ "no-pipelining", no_argument, NULL, O_NOPIPE },
		{ "nagle", no_argument, NULL, O_NAGLE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c, max_time_set = 0;

	while ((c = getopt_long(argc, argv, "h:p:c:n:m:s:u:w:f:t:j:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': opt.host = optarg; break;
		case 'p': opt.port = optarg; break;
		case 'c': opt.concurrency = (int)parse_number(optarg, "-c", 1, 1000000); break;
		case 'n': opt.sessions = parse_number(optarg, "-n", 1, LONG_MAX / 2); break;
		case 'm': opt.messages = (int)parse_number(optarg, "-m", 0, 1000000); break;
		case 's': opt.size = (size_t)parse_number(optarg, "-s", 1, 1L << 30); break;
		case 'u': opt.user = optarg; break;
		case 'w': opt.password = optarg; break;
		case 'f': opt.from = optarg; break;
		case 't': opt.rcpt = optarg; break;
		case 'j': opt.threads = (int)parse_number(optarg, "-j", 1, 64); break;
		case 'v': opt.trace = 1; break;
		case O_IDLE: opt.idle = parse_seconds(optarg, "--idle"); break;
		case O_RAMP: opt.ramp = (int)parse_number(optarg, "--ramp", 1, 1000000); break;
		case O_NOOP: opt.noop = parse_seconds(optarg, "--noop"); break;
		case O_TIMEOUT: opt.timeout = parse_seconds(optarg, "--timeout"); break;
		case O_MAXTIME:
			opt.max_time = parse_seconds(optarg, "--max-time");
			max_time_set = 1;
			break;
		case O_EHLO: opt.ehlo = optarg; break;
		case O_NOPIPE: opt.no_pipelining = 1; break;
		case O_NAGLE: opt.nagle = 1; break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || opt.user == NULL || opt.password == NULL) {
		usage(stderr);
		exit(2);
	}
	if (opt.from == NULL)
		opt.from = opt.user;
	if (opt.timeout <= 0)
		opt.timeout = 30;
	if (opt.idle > 0 && !max_time_set)
		opt.max_time = opt.idle + 600;
	if (opt.threads > opt.concurrency)
		opt.threads = opt.concurrency;
}

static void resolve_server(void)
{
	struct addrinfo hints, *res;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(opt.host, opt.port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "loadgen: %s port %s: %s\n", opt.host, opt.port, gai_strerror(rc));
		exit(2);
	}
	memcpy(&server_addr, res->ai_addr, res->ai_addrlen);
	server_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

static void setup_tls(void)
{
	ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ssl_ctx == NULL) {
		fprintf(stderr, "loadgen: SSL_CTX_new failed\n");
		exit(2);
	}
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);	/* self-signed bench cert */
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_RELEASE_BUFFERS);	/* idle sessions stay small */
}

/*
 * The message: a few headers, then body lines of up to 76 letters, cut so
 * that the whole, CRLFs included, is exactly opt.size bytes (or just the
 * headers and one short line, when opt.size is smaller than that).
 */
static void build_message(void)
{
	char *header = xasprintf("From: <%s>\r\nTo: <%s>\r\nSubject: loadgen test message\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
	    opt.from, opt.rcpt);
	size_t hlen = strlen(header), pos, total;

	total = opt.size > hlen + 3 ? opt.size : hlen + 3;
	message_text = xmalloc(total);
	memcpy(message_text, header, hlen);
	free(header);
	for (pos = hlen; pos < total; ) {
		size_t left = total - pos;		/* always >= 3 here */
		size_t letters = left - 2 < 76 ? left - 2 : 76;
		size_t rest = left - 2 - letters;

		if (rest > 0 && rest < 3)
			letters -= 3 - rest;		/* leave room for a whole last line */
		for (size_t i = 0; i < letters; i++)
			message_text[pos++] = (char)('a' + i % 26);
		message_text[pos++] = '\r';
		message_text[pos++] = '\n';
	}
	message_len = total;
}

static void build_commands(void)
{
	size_t ulen = strlen(opt.user), plen = strlen(opt.password);
	size_t rawlen = 2 + ulen + plen;
	unsigned char *raw = xmalloc(rawlen);
	char *b64 = xmalloc(4 * ((rawlen + 2) / 3) + 1);

	/* RFC 4616: [authzid] NUL authcid NUL passwd */
	raw[0] = '\0';
	memcpy(raw + 1, opt.user, ulen);
	raw[1 + ulen] = '\0';
	memcpy(raw + 2 + ulen, opt.password, plen);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)rawlen);
	ehlo_line = xasprintf("EHLO %s\r\n", opt.ehlo);
	auth_line = xasprintf("AUTH PLAIN %s\r\n", b64);
	envelope_mail = xasprintf("MAIL FROM:<%s>\r\n", opt.from);
	envelope_rcpt = xasprintf("RCPT TO:<%s>\r\n", opt.rcpt);
	free(raw);
	free(b64);
}

int main(int argc, char **argv)
{
	int rc;

	parse_options(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	resolve_server();
	setup_tls();
	build_message();
	build_commands();
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = opt.idle > 0 ? run_idle() : run_load();

	SSL_CTX_free(ssl_ctx);
	free(message_text);
	free(ehlo_line);
	free(auth_line);
	free(envelope_mail);
	free(envelope_rcpt);
	return rc;
}
