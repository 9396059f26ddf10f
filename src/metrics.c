/*
 * metrics.c - the /metrics page and the figures only it keeps.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "abuse.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "queue.h"
#include "server.h"
#include "spool.h"

#define ADD(p, n)	__atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define GET(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define NCODES		32

static const char *const mechs[] = { "PLAIN", "LOGIN", "SCRAM-SHA-256",
    "SCRAM-SHA-1", "CRAM-MD5", "EXTERNAL", "OAUTHBEARER", "XOAUTH2", "other" };
#define NMECHS	(sizeof(mechs) / sizeof(mechs[0]))
static uint64_t auth_count[NMECHS][2];		/* [mech][ok] */

static const char *const versions[] = { "TLSv1.2", "TLSv1.3", "other" };
#define NVERSIONS	(sizeof(versions) / sizeof(versions[0]))
static uint64_t tls_count[NVERSIONS];

static const char *const reasons[] = { "closed", "eof", "timeout", "error",
    "tls-error", "shutdown", "proxy-error", "other" };
#define NREASONS	(sizeof(reasons) / sizeof(reasons[0]))
static uint64_t end_count[NREASONS];

/* Enhanced codes seen in refusals: a small table, filled once each. */
static char codes[NCODES][8];
static uint64_t code_count[NCODES];

struct histogram {
	const char	*name;
	const char	*help;
	const double	*le;
	size_t		 n;
	uint64_t	 bucket[16];
	uint64_t	 count;
	uint64_t	 sum_us;
};
static const double commit_le[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5 };
static const double delivery_le[] = { 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900,
    3600, 14400 };
static struct histogram commit_h = { "submitd_commit_seconds",
    "From the final dot to the 250 (write, fsync, rename, directory fsync).",
    commit_le, sizeof(commit_le) / sizeof(commit_le[0]), {0}, 0, 0 };
static struct histogram delivery_h = { "submitd_delivery_seconds",
    "From arrival to delivery, per recipient delivered.",
    delivery_le, sizeof(delivery_le) / sizeof(delivery_le[0]), {0}, 0, 0 };

static struct evhttp *http;
static struct server *srv;

static size_t
index_of(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i + 1 < n; i++)
		if (strcasecmp(names[i], s) == 0)
			return i;
	return n - 1;		/* "other" */
}

void
metrics_auth(const char *mech, int ok)
{
	ADD(&auth_count[index_of(mechs, NMECHS, mech)][ok != 0], 1);
}

void
metrics_tls(const char *version)
{
	ADD(&tls_count[index_of(versions, NVERSIONS, version)], 1);
}

void
metrics_session_end(const char *reason)
{
	ADD(&end_count[index_of(reasons, NREASONS, reason)], 1);
}

void
metrics_refusal(const char *reply)
{
	char code[8];
	size_t i, n;

	/* "550 5.7.1 ..." -> "5.7.1"; replies without one count as "none". */
	if (strlen(reply) > 4 && (reply[4] == '4' || reply[4] == '5') &&
	    reply[5] == '.' && (n = strspn(reply + 4, "0123456789.")) >= 5 &&
	    n < sizeof(code)) {
		memcpy(code, reply + 4, n);
		code[n] = '\0';
	} else
		snprintf(code, sizeof(code), "none");
	for (i = 0; i < NCODES; i++) {
		if (__atomic_load_n(&codes[i][0], __ATOMIC_ACQUIRE) == '\0') {
			char expected = '\0';

			/* Claim the slot; another thread may take it first. */
			if (!__atomic_compare_exchange_n(&codes[i][0], &expected,
			    'x', 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				i--;
				continue;
			}
			memcpy(codes[i] + 1, code + 1, sizeof(codes[i]) - 1);
			__atomic_store_n(&codes[i][0], code[0], __ATOMIC_RELEASE);
		}
		while (__atomic_load_n(&codes[i][0], __ATOMIC_ACQUIRE) == 'x')
			;	/* being written: a few instructions */
		if (strcmp(codes[i], code) == 0) {
			ADD(&code_count[i], 1);
			return;
		}
	}
}

static void
observe(struct histogram *h, double s)
{
	size_t i;

	for (i = 0; i < h->n && s > h->le[i]; i++)
		;
	ADD(&h->bucket[i], 1);
	ADD(&h->count, 1);
	ADD(&h->sum_us, (uint64_t)(s > 0 ? s * 1e6 : 0));
}

void
metrics_commit_latency(double seconds)
{
	observe(&commit_h, seconds);
}

void
metrics_delivery_time(double seconds)
{
	observe(&delivery_h, seconds);
}

/* ---- the page ---- */

static void
counter(struct evbuffer *b, const char *name, const char *help, uint64_t v)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
	    name, help, name, name, (unsigned long long)v);
}

static void
gauge(struct evbuffer *b, const char *name, const char *help, double v)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n",
	    name, help, name, name, v);
}

static void
histogram(struct evbuffer *b, const struct histogram *h)
{
	uint64_t cum = 0;
	size_t i;

	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", h->name,
	    h->help, h->name);
	for (i = 0; i <= h->n; i++) {
		cum += GET(&h->bucket[i]);
		if (i < h->n)
			evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h->name,
			    h->le[i], (unsigned long long)cum);
		else
			evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n",
			    h->name, (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_sum %.6f\n%s_count %llu\n", h->name,
	    GET(&h->sum_us) / 1e6, h->name, (unsigned long long)cum);
}

static void
page(struct evbuffer *b)
{
	struct policy_stats ps;
	struct abuse_stats as;
	size_t i;

	counter(b, "submitd_connections_total", "Connections accepted.",
	    STAT_GET(srv, connections));
	gauge(b, "submitd_sessions", "Sessions open now.",
	    (double)STAT_GET(srv, sessions_now));
	evbuffer_add_printf(b, "# HELP submitd_sessions_ended_total Sessions "
	    "ended, by how.\n# TYPE submitd_sessions_ended_total counter\n");
	for (i = 0; i < NREASONS; i++)
		evbuffer_add_printf(b, "submitd_sessions_ended_total{reason=\"%s\"} "
		    "%llu\n", reasons[i], (unsigned long long)GET(&end_count[i]));
	evbuffer_add_printf(b, "# HELP submitd_tls_handshakes_total TLS handshakes "
	    "completed, by version.\n# TYPE submitd_tls_handshakes_total counter\n");
	for (i = 0; i < NVERSIONS; i++)
		evbuffer_add_printf(b, "submitd_tls_handshakes_total{version=\"%s\"} "
		    "%llu\n", versions[i], (unsigned long long)GET(&tls_count[i]));
	counter(b, "submitd_tls_failures_total", "TLS handshakes that failed.",
	    STAT_GET(srv, tls_failures));
	evbuffer_add_printf(b, "# HELP submitd_auth_total AUTH exchanges, by "
	    "mechanism and result.\n# TYPE submitd_auth_total counter\n");
	for (i = 0; i < NMECHS; i++)
		evbuffer_add_printf(b, "submitd_auth_total{mechanism=\"%s\","
		    "result=\"ok\"} %llu\nsubmitd_auth_total{mechanism=\"%s\","
		    "result=\"fail\"} %llu\n", mechs[i],
		    (unsigned long long)GET(&auth_count[i][1]), mechs[i],
		    (unsigned long long)GET(&auth_count[i][0]));
	counter(b, "submitd_messages_accepted_total", "Messages queued (250).",
	    STAT_GET(srv, messages));
	counter(b, "submitd_spool_fsyncs_total", "fsync calls of the spool "
	    "(queue files, directories, state and small files).",
	    spool_fsync_count());
	counter(b, "submitd_message_bytes_total", "Octets of messages queued.",
	    STAT_GET(srv, bytes));
	evbuffer_add_printf(b, "# HELP submitd_refusals_total 4xx and 5xx "
	    "replies to clients, by enhanced status code.\n"
	    "# TYPE submitd_refusals_total counter\n");
	for (i = 0; i < NCODES &&
	    __atomic_load_n(&codes[i][0], __ATOMIC_ACQUIRE) != '\0'; i++)
		if (__atomic_load_n(&codes[i][0], __ATOMIC_ACQUIRE) != 'x')
			evbuffer_add_printf(b, "submitd_refusals_total{code=\"%s\"} "
			    "%llu\n", codes[i], (unsigned long long)GET(&code_count[i]));
	evbuffer_add_printf(b, "# HELP submitd_recipients_total Recipients by "
	    "outcome of a delivery attempt.\n"
	    "# TYPE submitd_recipients_total counter\n"
	    "submitd_recipients_total{result=\"delivered\"} %llu\n"
	    "submitd_recipients_total{result=\"deferred\"} %llu\n"
	    "submitd_recipients_total{result=\"bounced\"} %llu\n",
	    (unsigned long long)STAT_GET(srv, delivered),
	    (unsigned long long)STAT_GET(srv, deferred),
	    (unsigned long long)STAT_GET(srv, bounced));
	policy_stats(&ps);
	gauge(b, "submitd_auth_banned_addresses", "Client addresses (IPv6: /64) "
	    "locked out now.", (double)ps.banned_addresses);
	gauge(b, "submitd_auth_locked_logins", "Logins locked now.",
	    (double)ps.locked_logins);
	counter(b, "submitd_auth_bans_total", "Lock-outs of client addresses.",
	    ps.bans);
	counter(b, "submitd_auth_login_locks_total", "Locks of logins.",
	    ps.login_locks);
	abuse_stats(&as);
	gauge(b, "submitd_suspended_logins", "Logins suspended now.",
	    (double)as.suspended);
	counter(b, "submitd_suspensions_total", "Automatic suspensions.",
	    as.suspensions);
	gauge(b, "submitd_queue_messages", "Messages in the queue.",
	    (double)queue_length());
	gauge(b, "submitd_queue_oldest_seconds", "Age of the oldest message in "
	    "the queue (0 when empty).", (double)queue_oldest_age());
	gauge(b, "submitd_outbound_connections", "Delivery connections open.",
	    (double)queue_connections());
	histogram(b, &commit_h);
	histogram(b, &delivery_h);
}

static void
metrics_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b;

	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Only GET");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, "Out of memory");
		return;
	}
	page(b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	/* One request a connection: pipelined ones cannot pile up unread. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
	    "close");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

int
metrics_init(struct server *s)
{
	const struct config *c = s->conf;

	srv = s;
	if (c->metrics_port == 0)
		return 0;
	if ((http = evhttp_new(s->base)) == NULL)
		return -1;
	/* Scrapers send a line and a few headers: nothing more is read. */
	evhttp_set_max_headers_size(http, 8192);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_timeout(http, 10);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_cb(http, "/metrics", metrics_cb, NULL);
	if (evhttp_bind_socket(http, c->metrics_address,
	    (uint16_t)c->metrics_port) == -1) {
		log_errx("event=metrics address=%s port=%d error=\"cannot listen\"",
		    log_str(c->metrics_address), c->metrics_port);
		evhttp_free(http);
		http = NULL;
		return -1;
	}
	log_info("event=metrics address=%s port=%d path=/metrics",
	    log_str(c->metrics_address), c->metrics_port);
	return 0;
}

void
metrics_shutdown(void)
{
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
}
