/*
 * https.c - HTTPS GET and POST with libcurl, on worker threads.
 *
 * libcurl because HTTP/1.1 and its TLS, redirects, chunked answers and
 * time limits are a solved problem there, and Debian keeps it patched; a
 * worker because curl_easy_perform blocks, and two threads of their own so
 * that a slow policy server never holds up an fsync.  curl never resolves
 * names itself: the caller gives it the addresses our resolver found
 * (CURLOPT_RESOLVE), so the policy host comes from the same DNS as the MX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "https.h"
#include "log.h"
#include "worker.h"

#define HTTPS_WORKERS		2
#define HTTPS_CONNECT_TIMEOUT	10	/* seconds */

struct https_job {
	struct worker_job	 job;
	struct https_request	*r;
	size_t			 got;
	int			 too_big;
	struct https_job	*prev, *next;	/* in flight (loop thread) */
};

static struct worker_pool *https_pool;
static struct https_job *in_flight;
static struct event_base *https_base;

int
https_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int
https_init(struct event_base *base)
{
	https_base = base;
	if ((https_pool = worker_pool_new(base, HTTPS_WORKERS)) == NULL)
		return -1;
	return 0;
}

static void
unlink_job(struct https_job *j)
{
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		in_flight = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
}

/*
 * The workers finish what they run; the answers are dropped (their
 * callers are stopping too), and what they hold is freed.
 */
void
https_shutdown(void)
{
	struct https_job *j;

	worker_pool_free(https_pool);
	https_pool = NULL;
	while ((j = in_flight) != NULL) {
		unlink_job(j);
		free(j->r->body);
		j->r->body = NULL;
		free(j);
	}
}

/* The answer, kept up to r->max octets; more fails the transfer. */
static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct https_job *j = arg;
	struct https_request *r = j->r;
	size_t len = size * n;
	char *p;

	if (j->got + len > r->max) {
		j->too_big = 1;
		return 0;
	}
	if ((p = realloc(r->body, j->got + len + 1)) == NULL)
		return 0;
	r->body = p;
	memcpy(r->body + j->got, data, len);
	j->got += len;
	r->body[j->got] = '\0';
	return len;
}

static void	fetch(struct https_job *);

static void
https_work(struct worker_job *job)
{
	struct https_job *j = WORKER_OWNER(job, struct https_job, job);

	fetch(j);
}

void
https_fetch(struct https_request *r)
{
	struct https_job j;

	memset(&j, 0, sizeof(j));
	j.r = r;
	fetch(&j);
}

static void
fetch(struct https_job *j)
{
	struct https_request *r = j->r;
	struct curl_slist *resolve = NULL, *headers = NULL;
	struct curl_blob ca;
	char entry[900], ctype[160];
	const char *mt = NULL;
	CURL *c;
	CURLcode rc;

	if ((c = curl_easy_init()) == NULL) {
		snprintf(r->error, sizeof(r->error), "cannot start an HTTPS client");
		return;
	}
	if (r->addrs[0] != '\0') {
		snprintf(entry, sizeof(entry), "%s:%d:%s", r->host, r->port, r->addrs);
		resolve = curl_slist_append(NULL, entry);
	}
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);	/* RFC 8461 §3.3 */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)HTTPS_CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)r->timeout);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "submitd");
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max);
	/* No cookies, no proxies from the environment. */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	if (r->ca_pem != NULL) {
		ca.data = (void *)r->ca_pem;
		ca.len = r->ca_len;
		ca.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
	}
	if (r->post != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", r->content_type);
		headers = curl_slist_append(NULL, ctype);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->postlen);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &mt);
	if (mt != NULL) {
		size_t i;

		/* The media type without its parameters, lowercased. */
		for (i = 0; mt[i] != '\0' && mt[i] != ';' && mt[i] != ' ' &&
		    i + 1 < sizeof(r->media_type); i++)
			r->media_type[i] = mt[i] >= 'A' && mt[i] <= 'Z' ?
			    mt[i] - 'A' + 'a' : mt[i];
		r->media_type[i] = '\0';
	}
	r->bodylen = j->got;
	if (rc != CURLE_OK)
		snprintf(r->error, sizeof(r->error), "%s", j->too_big ?
		    "answer too large" : curl_easy_strerror(rc));
	else if (r->status < 200 || r->status > 299)
		snprintf(r->error, sizeof(r->error), "HTTP status %ld%s", r->status,
		    r->status >= 300 && r->status < 400 ? " (redirects are not "
		    "followed)" : "");
	else
		r->ok = 1;
	curl_slist_free_all(resolve);
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
}

static void
https_done(struct worker_job *job)
{
	struct https_job *j = WORKER_OWNER(job, struct https_job, job);
	struct https_request *r = j->r;

	unlink_job(j);
	free(j);
	if (!r->ok) {
		free(r->body);
		r->body = NULL;
		r->bodylen = 0;
	}
	r->done(r, r->arg);
}

static void
failed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct https_request *r = arg;

	r->done(r, r->arg);
}

void
https_start(struct https_request *r)
{
	struct https_job *j = calloc(1, sizeof(*j));
	struct timeval now = { 0, 0 };

	r->ok = 0;
	r->status = 0;
	r->body = NULL;
	r->bodylen = 0;
	r->error[0] = r->media_type[0] = '\0';
	if (j == NULL || https_pool == NULL) {
		free(j);
		snprintf(r->error, sizeof(r->error), "%s", https_pool == NULL ?
		    "HTTPS client not running" : "out of memory");
		if (event_base_once(https_base, -1, EV_TIMEOUT, failed_cb, r,
		    &now) == -1)
			log_errx("event=https error=\"request lost\"");
		return;
	}
	j->r = r;
	j->next = in_flight;
	if (in_flight != NULL)
		in_flight->prev = j;
	in_flight = j;
	j->job.work = https_work;
	j->job.done = https_done;
	worker_submit(https_pool, &j->job);
}
