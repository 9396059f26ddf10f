/*
 * tlsrpt.c - SMTP TLS reporting (RFC 8460).
 *
 * Counts live per recipient domain, per policy (type, mx host, policy
 * lines), as totals of sessions that worked and failed and up to
 * RPT_FAILS_MAX kinds of failure each.  They are written to
 * spool/tlsrpt/DOMAIN (by a worker, within a minute of a change, and at
 * a stop) and read back at start-up:
 *
 *	SUBMITD-TLSRPT 1
 *	start: 1764720000
 *	policy: sts	*.example.org	41	2	dmVyc2lvbjogU1RTdjEK...
 *	fail: 0	certificate-expired	mx1.example.org	192.0.2.25	2
 *
 * (tabs between fields; the policy lines in base64).  A domain's counts
 * cover one UTC day: once the day is over, the report goes to every
 * mailto: and https: URI of the domain's _smtp._tls TXT record (RFC 8460
 * §3): JSON (§4), gzip-compressed, as an application/tlsrpt+gzip part of
 * a multipart/report message through our own queue (§5.3), or POSTed
 * (§5.1).  A domain without such a record gets nothing, and its counts
 * are dropped.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "config.h"
#include "dns.h"
#include "https.h"
#include "log.h"
#include "mta_sts.h"
#include "queue.h"
#include "spool.h"
#include "tlsrpt.h"
#include "util/map.h"
#include "util/xalloc.h"
#include "worker.h"

#define RPT_POLICIES_MAX	8	/* policies kept per domain and day */
#define RPT_FAILS_MAX		16	/* kinds of failure kept per policy */
#define RPT_DOMAINS_MAX		10000	/* domains counted at once */
#define RPT_FILE_MAX		(256 * 1024)
#define RPT_FLUSH_SECONDS	60
#define RPT_REPORT_MAX		(4 * 1024 * 1024)	/* compressed report */
#define DAY			86400

struct rpt_fail {
	char		 type[40];
	char		 mx[256];
	char		 ip[64];
	uint64_t	 count;
};

struct rpt_pol {
	char		 type[20];
	char		 mx_host[256];
	char		*strings;		/* NULL or '\n'-separated lines */
	uint64_t	 ok, fail;
	size_t		 nfail;
	struct rpt_fail	 fails[RPT_FAILS_MAX];
};

struct rpt_dom {
	char		 domain[256];
	time_t		 start;			/* the UTC day counted */
	size_t		 npol;
	struct rpt_pol	 pol[RPT_POLICIES_MAX];
	int		 dirty;
	int		 writing;
	int		 sending;
	struct worker_job job;
	char		*file;
	size_t		 filelen;
	int		 remove;		/* the job removes the file */
	int		 remove_after;		/* ... once the write under way ends */
};

/* A report on its way to one https: URI. */
struct rpt_post {
	struct https_request	 req;
	char			*body;
	char			 domain[256];
	struct rpt_post		*prev, *next;	/* under way */
};

static struct rpt_post *posts;

static void
post_unlink(struct rpt_post *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		posts = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
}

static struct event_base *rpt_base;
static struct worker_pool *rpt_pool;
static const struct config *conf;
static struct map doms;			/* domain -> struct rpt_dom */
static struct event *rpt_timer;

static time_t
day_of(time_t t)
{
	return t - t % DAY;
}

/* ---- the counts file ---- */

static char *
b64(const char *s, size_t len)
{
	char *out = xcalloc(1, 4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, len);
	return out;
}

static char *
unb64(const char *s)
{
	size_t len = strlen(s);
	char *out = xcalloc(1, 3 * (len / 4) + 1);
	int n;

	if (len == 0)
		return NULL;
	n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)s, len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding's zero octets too. */
	while (n > 0 && len > 0 && s[--len] == '=')
		n--;
	out[n] = '\0';
	return out;
}

static void
file_work(struct worker_job *job)
{
	struct rpt_dom *d = WORKER_OWNER(job, struct rpt_dom, job);

	if (d->remove)
		spool_aux_remove(SPOOL_AUX_TLSRPT, d->domain);
	else if (spool_aux_write(SPOOL_AUX_TLSRPT, d->domain, d->file,
	    d->filelen) == -1)
		log_warnx("event=tls-rpt domain=%s error=%s", log_str(d->domain),
		    log_str(strerror(errno)));
}

static void	dom_free(struct rpt_dom *);
static void	dom_remove(struct rpt_dom *);

static void
file_done(struct worker_job *job)
{
	struct rpt_dom *d = WORKER_OWNER(job, struct rpt_dom, job);

	free(d->file);
	d->file = NULL;
	d->writing = 0;
	if (d->remove)
		dom_free(d);
	else if (d->remove_after)
		dom_remove(d);
}

/* The counts are done with (sent, dropped, or empty): file and all go. */
static void
dom_remove(struct rpt_dom *d)
{
	size_t i;

	for (i = 0; i < d->npol; i++)
		free(d->pol[i].strings);
	d->npol = 0;
	if (d->writing) {
		d->remove_after = 1;
		return;
	}
	d->remove = 1;
	d->writing = 1;
	d->job.work = file_work;
	d->job.done = file_done;
	worker_submit(rpt_pool, &d->job);
}

static char *
dom_format(const struct rpt_dom *d, size_t *len)
{
	struct evbuffer *b = evbuffer_new();
	size_t i, k;
	char *s;

	if (b == NULL)
		abort();
	evbuffer_add_printf(b, "SUBMITD-TLSRPT 1\nstart: %lld\n",
	    (long long)d->start);
	for (i = 0; i < d->npol; i++) {
		const struct rpt_pol *p = &d->pol[i];
		char *enc = p->strings ? b64(p->strings, strlen(p->strings)) : NULL;

		evbuffer_add_printf(b, "policy: %s\t%s\t%llu\t%llu\t%s\n", p->type,
		    p->mx_host, (unsigned long long)p->ok,
		    (unsigned long long)p->fail, enc ? enc : "");
		free(enc);
		for (k = 0; k < p->nfail; k++)
			evbuffer_add_printf(b, "fail: %zu\t%s\t%s\t%s\t%llu\n", i,
			    p->fails[k].type, p->fails[k].mx, p->fails[k].ip,
			    (unsigned long long)p->fails[k].count);
	}
	*len = evbuffer_get_length(b);
	s = xcalloc(1, *len + 1);
	evbuffer_remove(b, s, *len);
	evbuffer_free(b);
	return s;
}

static void
dom_write(struct rpt_dom *d)
{
	if (d->writing)
		return;		/* the next flush takes it */
	d->dirty = 0;
	d->remove = 0;
	d->file = dom_format(d, &d->filelen);
	d->writing = 1;
	d->job.work = file_work;
	d->job.done = file_done;
	worker_submit(rpt_pool, &d->job);
}

static struct rpt_dom *
dom_get(const char *domain, time_t now)
{
	struct rpt_dom *d = map_get(&doms, domain);

	if (d != NULL || doms.count >= RPT_DOMAINS_MAX)
		return d;
	d = xcalloc(1, sizeof(*d));
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	d->start = day_of(now);
	if (map_put(&doms, domain, d) == -1)
		abort();
	return d;
}

static void
dom_free(struct rpt_dom *d)
{
	size_t i;

	if (map_get(&doms, d->domain) == d)
		map_del(&doms, d->domain);
	for (i = 0; i < d->npol; i++)
		free(d->pol[i].strings);
	free(d->file);
	free(d);
}

/* Splits a line at tabs into at most max fields; returns how many. */
static int
fields(char *line, char **f, int max)
{
	int n = 0;

	f[n++] = line;
	while (n < max && (line = strchr(line, '\t')) != NULL) {
		*line++ = '\0';
		f[n++] = line;
	}
	return n;
}

static void
load_one(const char *name, void *arg)
{
	char *buf, *line, *save = NULL, *f[5];
	struct rpt_dom *d;
	size_t len, i;

	if ((buf = spool_aux_read(SPOOL_AUX_TLSRPT, name, RPT_FILE_MAX,
	    &len)) == NULL)
		return;
	if (strncmp(buf, "SUBMITD-TLSRPT 1\n", 17) != 0 ||
	    (d = dom_get(name, time(NULL))) == NULL) {
		free(buf);
		return;
	}
	for (line = strtok_r(buf + 17, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "start: ", 7) == 0)
			d->start = strtoll(line + 7, NULL, 10);
		else if (strncmp(line, "policy: ", 8) == 0 &&
		    d->npol < RPT_POLICIES_MAX && fields(line + 8, f, 5) == 5) {
			struct rpt_pol *p = &d->pol[d->npol++];

			snprintf(p->type, sizeof(p->type), "%s", f[0]);
			snprintf(p->mx_host, sizeof(p->mx_host), "%s", f[1]);
			p->ok = strtoull(f[2], NULL, 10);
			p->fail = strtoull(f[3], NULL, 10);
			p->strings = unb64(f[4]);
		} else if (strncmp(line, "fail: ", 6) == 0 &&
		    fields(line + 6, f, 5) == 5 &&
		    (i = strtoul(f[0], NULL, 10)) < d->npol &&
		    d->pol[i].nfail < RPT_FAILS_MAX) {
			struct rpt_fail *x = &d->pol[i].fails[d->pol[i].nfail++];

			snprintf(x->type, sizeof(x->type), "%s", f[1]);
			snprintf(x->mx, sizeof(x->mx), "%s", f[2]);
			snprintf(x->ip, sizeof(x->ip), "%s", f[3]);
			x->count = strtoull(f[4], NULL, 10);
		}
	}
	free(buf);
}

/* ---- counting ---- */

void
tlsrpt_count(const char *domain, const struct tlsrpt_policy *pol,
    const char *mx, const char *ip, const char *result_type)
{
	struct rpt_dom *d;
	struct rpt_pol *p = NULL;
	size_t i;

	if (conf == NULL || !conf->relay.tls_rpt ||
	    (d = dom_get(domain, time(NULL))) == NULL || d->sending ||
	    d->remove || d->remove_after)
		return;
	for (i = 0; i < d->npol; i++)
		if (strcmp(d->pol[i].type, pol->type) == 0 &&
		    strcmp(d->pol[i].mx_host, pol->mx_host) == 0 &&
		    (d->pol[i].strings == NULL) == (pol->strings == NULL) &&
		    (pol->strings == NULL ||
		    strcmp(d->pol[i].strings, pol->strings) == 0)) {
			p = &d->pol[i];
			break;
		}
	if (p == NULL) {
		if (d->npol == RPT_POLICIES_MAX)
			return;
		p = &d->pol[d->npol++];
		snprintf(p->type, sizeof(p->type), "%s", pol->type);
		snprintf(p->mx_host, sizeof(p->mx_host), "%s", pol->mx_host);
		p->strings = pol->strings ? xstrdup(pol->strings) : NULL;
	}
	d->dirty = 1;
	if (result_type == NULL) {
		p->ok++;
		return;
	}
	p->fail++;
	for (i = 0; i < p->nfail; i++)
		if (strcmp(p->fails[i].type, result_type) == 0 &&
		    strcmp(p->fails[i].mx, mx) == 0 && strcmp(p->fails[i].ip, ip) == 0) {
			p->fails[i].count++;
			return;
		}
	if (p->nfail < RPT_FAILS_MAX) {
		struct rpt_fail *x = &p->fails[p->nfail++];

		snprintf(x->type, sizeof(x->type), "%s", result_type);
		snprintf(x->mx, sizeof(x->mx), "%s", mx);
		snprintf(x->ip, sizeof(x->ip), "%s", ip);
		x->count = 1;
	}
}

/* ---- the report (RFC 8460 §4) ---- */

/* A JSON string: quotes, backslashes and every non-printable escaped. */
static void
json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
iso_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *
report_json(const struct rpt_dom *d, time_t end, const char *report_id,
    size_t *len)
{
	struct evbuffer *b = evbuffer_new();
	char start[32], stop[32], *s;
	size_t i, k;

	if (b == NULL)
		abort();
	iso_time(start, sizeof(start), d->start);
	iso_time(stop, sizeof(stop), end - 1);
	evbuffer_add_printf(b, "{\"organization-name\":");
	json_str(b, conf->hostname);
	evbuffer_add_printf(b, ",\"date-range\":{\"start-datetime\":\"%s\","
	    "\"end-datetime\":\"%s\"},\"contact-info\":", start, stop);
	json_str(b, conf->relay.tls_rpt_from);
	evbuffer_add_printf(b, ",\"report-id\":");
	json_str(b, report_id);
	evbuffer_add_printf(b, ",\"policies\":[");
	for (i = 0; i < d->npol; i++) {
		const struct rpt_pol *p = &d->pol[i];

		evbuffer_add_printf(b, "%s{\"policy\":{\"policy-type\":", i ? "," : "");
		json_str(b, p->type);
		if (p->strings != NULL) {
			const char *line = p->strings, *nl;
			int first = 1;

			evbuffer_add_printf(b, ",\"policy-string\":[");
			while (*line != '\0') {
				char one[512];
				size_t n;

				nl = strchr(line, '\n');
				n = nl ? (size_t)(nl - line) : strlen(line);
				snprintf(one, sizeof(one), "%.*s", (int)n, line);
				if (n > 0) {
					evbuffer_add_printf(b, "%s", first ? "" : ",");
					json_str(b, one);
					first = 0;
				}
				line += n + (nl != NULL);
			}
			evbuffer_add_printf(b, "]");
		}
		evbuffer_add_printf(b, ",\"policy-domain\":");
		json_str(b, d->domain);
		if (p->mx_host[0] != '\0') {
			evbuffer_add_printf(b, ",\"mx-host\":");
			json_str(b, p->mx_host);
		}
		evbuffer_add_printf(b, "},\"summary\":{\"total-successful-session-"
		    "count\":%llu,\"total-failure-session-count\":%llu}",
		    (unsigned long long)p->ok, (unsigned long long)p->fail);
		if (p->nfail > 0) {
			evbuffer_add_printf(b, ",\"failure-details\":[");
			for (k = 0; k < p->nfail; k++) {
				evbuffer_add_printf(b, "%s{\"result-type\":", k ? "," : "");
				json_str(b, p->fails[k].type);
				if (p->fails[k].ip[0] != '\0') {
					evbuffer_add_printf(b, ",\"receiving-ip\":");
					json_str(b, p->fails[k].ip);
				}
				if (p->fails[k].mx[0] != '\0') {
					evbuffer_add_printf(b, ",\"receiving-mx-hostname\":");
					json_str(b, p->fails[k].mx);
				}
				evbuffer_add_printf(b, ",\"failed-session-count\":%llu}",
				    (unsigned long long)p->fails[k].count);
			}
			evbuffer_add_printf(b, "]");
		}
		evbuffer_add_printf(b, "}");
	}
	evbuffer_add_printf(b, "]}\n");
	*len = evbuffer_get_length(b);
	s = xcalloc(1, *len + 1);
	evbuffer_remove(b, s, *len);
	evbuffer_free(b);
	return s;
}

/* RFC 8460 §5.1: the report gzip-compressed (RFC 1952). */
static char *
gzip(const char *in, size_t len, size_t *outlen)
{
	z_stream z;
	char *out;
	size_t cap = deflateBound(NULL, len) + 64;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	out = xcalloc(1, cap);
	z.next_in = (unsigned char *)in;
	z.avail_in = len;
	z.next_out = (unsigned char *)out;
	z.avail_out = cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(out);
		return NULL;
	}
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

/* The report as a message (RFC 8460 §5.3), its gzip attached in base64. */
static char *
report_mail(const struct rpt_dom *d, time_t end, const char *report_id,
    const char *rcpt, const char *gz, size_t gzlen, size_t *len)
{
	struct evbuffer *b = evbuffer_new();
	char date[64], boundary[64], *enc, *s;
	time_t now = time(NULL);
	struct tm tm;
	size_t i, n;

	if (b == NULL)
		abort();
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(boundary, sizeof(boundary), "tlsrpt-%08x%08x", arc4random(),
	    arc4random());
	evbuffer_add_printf(b, "From: <%s>\r\nTo: <%s>\r\n"
	    "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\r\n"
	    "Date: %s\r\nMessage-ID: <%s>\r\n"
	    "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\n"
	    "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	    "\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n--%s\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "This is an aggregate TLS report from %s for %s.\r\n\r\n--%s\r\n"
	    "Content-Type: application/tlsrpt+gzip\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment;\r\n"
	    "\tfilename=\"%s!%s!%lld!%lld!%08x.json.gz\"\r\n\r\n",
	    conf->relay.tls_rpt_from, rcpt, d->domain, conf->hostname, report_id,
	    date, report_id, d->domain, conf->hostname, boundary, boundary,
	    conf->hostname, d->domain, boundary, conf->hostname, d->domain,
	    (long long)d->start, (long long)end, arc4random());
	enc = b64(gz, gzlen);
	/* RFC 2045 §6.8: lines of at most 76 characters. */
	for (i = 0, n = strlen(enc); i < n; i += 76) {
		evbuffer_add(b, enc + i, n - i < 76 ? n - i : 76);
		evbuffer_add(b, "\r\n", 2);
	}
	free(enc);
	evbuffer_add_printf(b, "\r\n--%s--\r\n", boundary);
	*len = evbuffer_get_length(b);
	s = xcalloc(1, *len + 1);
	evbuffer_remove(b, s, *len);
	evbuffer_free(b);
	return s;
}

static void
post_done(struct https_request *r, void *arg)
{
	struct rpt_post *p = arg;

	if (r->ok)
		log_info("event=tls-rpt domain=%s to=%s result=sent",
		    log_str(p->domain), log_str(r->url));
	else
		log_warnx("event=tls-rpt domain=%s to=%s result=fail error=%s",
		    log_str(p->domain), log_str(r->url), log_str(r->error));
	free(r->body);
	free(p->body);
	post_unlink(p);
	free(p);
}

static void
post_resolved(const struct dns_result *res, void *arg)
{
	struct rpt_post *p = arg;
	struct https_request *r = &p->req;
	char ip[INET6_ADDRSTRLEN];
	size_t i, len = 0;

	for (i = 0; res->status == DNS_OK && i < res->nhosts && i < 4; i++)
		if (getnameinfo((const struct sockaddr *)&res->hosts[i].addr,
		    res->hosts[i].addrlen, ip, sizeof(ip), NULL, 0,
		    NI_NUMERICHOST) == 0)
			len += snprintf(r->addrs + len, sizeof(r->addrs) - len,
			    "%s%s%s%s", len ? "," : "", strchr(ip, ':') ? "[" : "",
			    ip, strchr(ip, ':') ? "]" : "");
	if (len == 0) {
		log_warnx("event=tls-rpt domain=%s to=%s result=fail error=%s",
		    log_str(p->domain), log_str(r->url), log_str(res->error));
		free(p->body);
		post_unlink(p);
		free(p);
		return;
	}
	https_start(r);
}

/* https://host[:port]/path: the report POSTed there (RFC 8460 §5.1). */
static void
send_https(const struct rpt_dom *d, const char *uri, const char *gz,
    size_t gzlen)
{
	struct rpt_post *p = xcalloc(1, sizeof(*p));
	struct https_request *r = &p->req;
	const char *host = uri + 8, *end = host + strcspn(host, "/:?#");
	long port = 443;

	if (end == host || end - host >= (long)sizeof(r->host)) {
		free(p);
		return;
	}
	if (*end == ':')
		port = strtol(end + 1, NULL, 10);
	snprintf(r->host, sizeof(r->host), "%.*s", (int)(end - host), host);
	snprintf(r->url, sizeof(r->url), "%s", uri);
	snprintf(p->domain, sizeof(p->domain), "%s", d->domain);
	r->port = port > 0 && port < 65536 ? (int)port : 443;
	p->body = xcalloc(1, gzlen);
	memcpy(p->body, gz, gzlen);
	r->post = p->body;
	r->postlen = gzlen;
	r->content_type = "application/tlsrpt+gzip";
	r->ca_pem = conf->relay.ca_pem;
	r->ca_len = conf->relay.ca_len;
	r->max = 65536;
	r->timeout = 60;
	r->done = post_done;
	r->arg = p;
	p->next = posts;
	if (posts != NULL)
		posts->prev = p;
	posts = p;
	dns_resolve(r->host, 0, r->port, post_resolved, p);
}

/* The domain's rua URIs are known: build, compress and send its report. */
static void
rua_done(const struct dns_txt_result *res, void *arg)
{
	struct rpt_dom *d = arg;
	struct tlsrpt_record rec;
	const char *recs[DNS_TXT_MAX];
	char report_id[400], *json, *gz, *msg;
	size_t i, len, gzlen, msglen;
	time_t end = d->start + DAY;
	int rc = 0;

	for (i = 0; i < res->n; i++)
		recs[i] = res->records[i];
	if (res->status == DNS_OK)
		rc = tlsrpt_parse_txt(recs, res->lens, res->n, &rec);
	if (rc != 1) {
		log_info("event=tls-rpt domain=%s result=dropped reason=%s",
		    log_str(d->domain), res->status == DNS_TEMPFAIL ?
		    "no-answer-for-_smtp._tls" : "no-rua");
		goto done;
	}
	if (end > time(NULL))
		end = time(NULL);	/* submitctl tls-report: up to now */
	snprintf(report_id, sizeof(report_id), "%lld.%s.%08x@%s",
	    (long long)d->start, d->domain, arc4random(), conf->hostname);
	json = report_json(d, end, report_id, &len);
	gz = gzip(json, len, &gzlen);
	free(json);
	if (gz == NULL || gzlen > RPT_REPORT_MAX) {
		log_warnx("event=tls-rpt domain=%s error=\"cannot compress\"",
		    log_str(d->domain));
		free(gz);
		goto done;
	}
	for (i = 0; i < rec.nrua; i++) {
		if (strncasecmp(rec.rua[i], "mailto:", 7) == 0) {
			/* The address up to any "?" of the URI (RFC 6068). */
			char to[300];

			snprintf(to, sizeof(to), "%.*s",
			    (int)strcspn(rec.rua[i] + 7, "?"), rec.rua[i] + 7);
			msg = report_mail(d, end, report_id, to, gz, gzlen, &msglen);
			queue_inject(conf->relay.tls_rpt_from, to, msg, msglen);
			log_info("event=tls-rpt domain=%s to=%s result=queued "
			    "report_id=%s", log_str(d->domain), log_addr(to),
			    log_str(report_id));
		} else
			send_https(d, rec.rua[i], gz, gzlen);
	}
	free(gz);
done:
	/* Sent or not, these counts are done with: the file goes too. */
	d->sending = 0;
	dom_remove(d);
}

static void
dom_send(struct rpt_dom *d)
{
	char name[300];

	if (d->sending)
		return;
	d->sending = 1;
	snprintf(name, sizeof(name), "_smtp._tls.%s", d->domain);
	dns_txt(name, rua_done, d);
}

static int
tick_one(const char *key, void *value, void *arg)
{
	struct rpt_dom *d = value;
	time_t now = *(time_t *)arg;

	if (d->sending || d->writing || d->remove || d->remove_after)
		return 0;
	if (day_of(now) > d->start) {
		if (d->npol == 0)
			dom_remove(d);
		else
			dom_send(d);
	} else if (d->dirty)
		dom_write(d);
	return 0;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { RPT_FLUSH_SECONDS, 0 };
	time_t now = time(NULL);

	map_sweep(&doms, tick_one, &now);
	evtimer_add(rpt_timer, &tv);
}

static int
send_one(const char *key, void *value, void *arg)
{
	struct rpt_dom *d = value;
	struct evbuffer *out = arg;

	if (d->npol > 0 && !d->sending && !d->remove && !d->remove_after) {
		evbuffer_add_printf(out, "%s\n", d->domain);
		dom_send(d);
	}
	return 0;
}

void
tlsrpt_send_now(struct evbuffer *out)
{
	evbuffer_add_printf(out, "ok\n");
	if (!conf->relay.tls_rpt) {
		evbuffer_add_printf(out, "TLS reporting is off (relay.tls_rpt)\n");
		return;
	}
	map_sweep(&doms, send_one, out);
}

int
tlsrpt_init(struct event_base *base, const struct config *c)
{
	struct timeval tv = { 1, 0 };	/* days that ended while we were down */

	rpt_base = base;
	conf = config_ref(c);
	map_init(&doms);
	if ((rpt_pool = worker_pool_new(base, 1)) == NULL ||
	    (rpt_timer = evtimer_new(base, timer_cb, NULL)) == NULL)
		return -1;
	spool_aux_each(SPOOL_AUX_TLSRPT, load_one, NULL);
	evtimer_add(rpt_timer, &tv);
	return 0;
}

void
tlsrpt_reload(const struct config *c)
{
	const struct config *old = conf;

	conf = config_ref(c);
	config_unref(old);
}

static int
final_write(const char *key, void *value, void *arg)
{
	struct rpt_dom *d = value;
	char *buf;
	size_t len;

	if (d->dirty && d->npol > 0 && !d->remove && !d->remove_after) {
		buf = dom_format(d, &len);
		if (spool_aux_write(SPOOL_AUX_TLSRPT, d->domain, buf, len) == -1)
			log_warnx("event=tls-rpt domain=%s error=%s",
			    log_str(d->domain), log_str(strerror(errno)));
		free(buf);
	}
	return 0;
}

static void
free_value(void *p)
{
	struct rpt_dom *d = p;
	size_t i;

	for (i = 0; i < d->npol; i++)
		free(d->pol[i].strings);
	free(d->file);
	free(d);
}

void
tlsrpt_shutdown(void)
{
	struct rpt_post *p;

	worker_pool_free(rpt_pool);	/* writes under way finish */
	rpt_pool = NULL;
	while ((p = posts) != NULL) {
		post_unlink(p);
		free(p->body);
		free(p);
	}
	map_sweep(&doms, final_write, NULL);
	map_clear(&doms, free_value);
	if (rpt_timer != NULL)
		event_free(rpt_timer);
	rpt_timer = NULL;
	config_unref(conf);
	conf = NULL;
}
