/*
 * sts.c - MTA-STS policy discovery and cache (RFC 8461 §3.3, §5.1).
 *
 * For each delivery to MX hosts the domain's _mta-sts TXT record is asked
 * for.  A record whose id matches the cached policy (not past its max_age)
 * means the cache is right; a new id, or no cache, means a fetch of
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt (https.c: verified, no
 * redirects, 64 KiB, our resolver's addresses).  No record, or no answer,
 * leaves a cached policy in force until it expires: an attacker who
 * removes the record from the DNS answer does not remove the protection.
 * A fetch that fails keeps the cached policy too, and with none says so
 * (STS_FAILED, for the log and TLS-RPT).
 *
 * Cached policies live in spool/sts/DOMAIN, written by a worker:
 *
 *	SUBMITD-STS 1
 *	id: 20160831085700Z
 *	fetched: 1764360000
 *	expires: 1764964800
 *
 *	<the policy as fetched>
 *
 * Not here: what a delivery does with the policy (delivery.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include "dns.h"
#include "https.h"
#include "log.h"
#include "spool.h"
#include "sts.h"
#include "util/map.h"
#include "util/xalloc.h"
#include "worker.h"

#define STS_FILE_MAX	(MTA_STS_POLICY_MAX + 512)
#define STS_TIMEOUT	30		/* seconds for the whole fetch */
#define STS_ADDRS	4		/* policy host addresses given to curl */

struct sts_waiter {
	struct sts_waiter	*next;
	void			(*cb)(const struct sts_result *, void *);
	void			*arg;
};

struct sts_entry {
	char			 domain[256];
	/* The cached policy, when have_policy: */
	int			 have_policy;
	struct mta_sts_policy	 policy;
	char			 id[MTA_STS_ID_MAX + 1];
	time_t			 fetched, expires;
	char			*text;		/* as fetched, for the file */
	size_t			 textlen;
	/* A look-up in progress: */
	int			 busy;
	struct sts_waiter	*waiters;
	char			 new_id[MTA_STS_ID_MAX + 1];
	struct https_request	 req;
	/* The cache file being written: */
	struct worker_job	 job;
	char			*file;
	size_t			 filelen;
	int			 writing;
	int			 rewrite;
};

static struct event_base *sts_base;
static struct worker_pool *sts_pool;
static struct map cache;		/* domain -> struct sts_entry */
static char *sts_ca;
static size_t sts_calen;

static void	entry_finish(struct sts_entry *, enum sts_status, const char *);

/* ---- the cache file ---- */

static void
write_work(struct worker_job *job)
{
	struct sts_entry *e = WORKER_OWNER(job, struct sts_entry, job);

	if (spool_aux_write(SPOOL_AUX_STS, e->domain, e->file, e->filelen) == -1)
		log_warnx("event=mta-sts domain=%s error=%s", log_str(e->domain),
		    log_str(strerror(errno)));
}

static void	cache_write(struct sts_entry *);

static void
write_done(struct worker_job *job)
{
	struct sts_entry *e = WORKER_OWNER(job, struct sts_entry, job);

	free(e->file);
	e->file = NULL;
	e->writing = 0;
	if (e->rewrite) {
		e->rewrite = 0;
		cache_write(e);
	}
}

static void
cache_write(struct sts_entry *e)
{
	char head[256];
	int n;

	if (e->writing) {
		e->rewrite = 1;
		return;
	}
	n = snprintf(head, sizeof(head), "SUBMITD-STS 1\nid: %s\nfetched: %lld\n"
	    "expires: %lld\n\n", e->id, (long long)e->fetched,
	    (long long)e->expires);
	e->file = xcalloc(1, n + e->textlen + 1);
	memcpy(e->file, head, n);
	memcpy(e->file + n, e->text, e->textlen);
	e->filelen = n + e->textlen;
	e->writing = 1;
	e->job.work = write_work;
	e->job.done = write_done;
	worker_submit(sts_pool, &e->job);
}

static struct sts_entry *
entry_get(const char *domain)
{
	struct sts_entry *e = map_get(&cache, domain);

	if (e != NULL)
		return e;
	e = xcalloc(1, sizeof(*e));
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	if (map_put(&cache, domain, e) == -1)
		abort();
	return e;
}

/* Takes text (the policy as fetched) into e. */
static int
entry_set(struct sts_entry *e, const char *id, char *text, size_t len,
    time_t fetched, const char **why)
{
	struct mta_sts_policy p;

	if (mta_sts_parse_policy(text, len, &p, why) == -1)
		return -1;
	free(e->text);
	e->text = text;
	e->textlen = len;
	e->policy = p;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->fetched = fetched;
	e->expires = fetched + p.max_age;
	e->have_policy = 1;
	return 0;
}

/* A file of spool/sts/ at start-up; an expired or broken one goes. */
static void
load_one(const char *name, void *arg)
{
	char *buf, *body, *line, *save = NULL, id[MTA_STS_ID_MAX + 1] = "";
	long long fetched = 0;
	const char *why = "no header";
	struct sts_entry *e;
	size_t len;

	if ((buf = spool_aux_read(SPOOL_AUX_STS, name, STS_FILE_MAX, &len)) == NULL)
		return;
	if (strncmp(buf, "SUBMITD-STS 1\n", 14) != 0 ||
	    (body = strstr(buf, "\n\n")) == NULL)
		goto bad;
	*body = '\0';
	body += 2;
	for (line = strtok_r(buf + 14, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "id: ", 4) == 0)
			snprintf(id, sizeof(id), "%s", line + 4);
		else if (strncmp(line, "fetched: ", 9) == 0)
			fetched = strtoll(line + 9, NULL, 10);
	}
	e = entry_get(name);
	len -= body - buf;
	memmove(buf, body, len + 1);
	if (entry_set(e, id, buf, len, fetched, &why) == -1) {
		map_del(&cache, name);
		free(e);
		goto bad;
	}
	if (e->expires <= time(NULL)) {
		spool_aux_remove(SPOOL_AUX_STS, name);
		map_del(&cache, name);
		free(e->text);
		free(e);
	}
	return;
bad:
	log_warnx("event=mta-sts file=sts/%s error=%s action=removed",
	    log_str(name), log_str(why));
	spool_aux_remove(SPOOL_AUX_STS, name);
	free(buf);
}

int
sts_init(struct event_base *base, const char *ca_pem, size_t ca_len)
{
	sts_base = base;
	map_init(&cache);
	if ((sts_pool = worker_pool_new(base, 1)) == NULL)
		return -1;
	sts_set_ca(ca_pem, ca_len);
	spool_aux_each(SPOOL_AUX_STS, load_one, NULL);
	log_info("event=mta-sts cached=%zu", cache.count);
	return 0;
}

void
sts_set_ca(const char *ca_pem, size_t ca_len)
{
	free(sts_ca);
	sts_ca = NULL;
	sts_calen = 0;
	if (ca_pem != NULL) {
		sts_ca = xcalloc(1, ca_len + 1);
		memcpy(sts_ca, ca_pem, ca_len);
		sts_calen = ca_len;
	}
}

static void
entry_free(void *p)
{
	struct sts_entry *e = p;
	struct sts_waiter *w;

	while ((w = e->waiters) != NULL) {
		e->waiters = w->next;
		free(w);
	}
	free(e->text);
	free(e->file);
	free(e);
}

void
sts_shutdown(void)
{
	worker_pool_free(sts_pool);	/* writes under way finish */
	sts_pool = NULL;
	map_clear(&cache, entry_free);
	free(sts_ca);
	sts_ca = NULL;
}

/* ---- a look-up ---- */

static int
cache_usable(const struct sts_entry *e)
{
	return e->have_policy && e->expires > time(NULL);
}

/* Tells every waiting delivery; the entry stays as the cache, or goes. */
static void
entry_finish(struct sts_entry *e, enum sts_status status, const char *error)
{
	struct sts_waiter *w;
	struct sts_result r;

	memset(&r, 0, sizeof(r));
	r.status = status;
	if (status == STS_POLICY) {
		if (e->policy.mode == MTA_STS_NONE)
			r.status = STS_NONE;	/* §5: the domain turned it off */
		r.policy = e->policy;
		snprintf(r.id, sizeof(r.id), "%s", e->id);
		r.text = e->text;
		r.textlen = e->textlen;
	}
	if (error != NULL)
		snprintf(r.error, sizeof(r.error), "%s", error);
	e->busy = 0;
	while ((w = e->waiters) != NULL) {
		e->waiters = w->next;
		w->cb(&r, w->arg);
		free(w);
	}
	if (!e->have_policy && !e->busy && !e->writing) {
		map_del(&cache, e->domain);
		entry_free(e);
	}
}

/* No policy now: the cached one, while it lasts, else status. */
static void
fallback(struct sts_entry *e, enum sts_status status, const char *error)
{
	if (cache_usable(e)) {
		if (error != NULL)
			log_info("event=mta-sts domain=%s policy=cached id=%s "
			    "reason=%s", log_str(e->domain), e->id, log_str(error));
		entry_finish(e, STS_POLICY, NULL);
	} else
		entry_finish(e, status, error);
}

static void
fetch_done(struct https_request *r, void *arg)
{
	struct sts_entry *e = arg;
	const char *why = NULL;
	char error[300];

	if (!r->ok) {
		snprintf(error, sizeof(error), "policy fetch from %.160s failed: "
		    "%.100s", r->url, r->error);
		log_warnx("event=mta-sts domain=%s error=%s", log_str(e->domain),
		    log_str(error));
		fallback(e, STS_FAILED, error);
		return;
	}
	/* RFC 8461 §3.3: the policy is served as text/plain. */
	if (strcmp(r->media_type, "text/plain") != 0)
		why = "media type is not text/plain";
	else if (entry_set(e, e->new_id, r->body, r->bodylen, time(NULL),
	    &why) == 0) {
		r->body = NULL;		/* the entry's now */
		log_info("event=mta-sts domain=%s policy=fetched id=%s mode=%s "
		    "max_age=%ld mx=%zu", log_str(e->domain), e->id,
		    e->policy.mode == MTA_STS_ENFORCE ? "enforce" :
		    e->policy.mode == MTA_STS_TESTING ? "testing" : "none",
		    e->policy.max_age, e->policy.nmx);
		cache_write(e);
		entry_finish(e, STS_POLICY, NULL);
		return;
	}
	free(r->body);
	r->body = NULL;
	snprintf(error, sizeof(error), "policy from %.190s is invalid: %.80s",
	    r->url, why);
	log_warnx("event=mta-sts domain=%s error=%s", log_str(e->domain),
	    log_str(error));
	fallback(e, STS_FAILED, error);
}

/* The policy host's addresses from our resolver, then the fetch. */
static void
host_done(const struct dns_result *res, void *arg)
{
	struct sts_entry *e = arg;
	struct https_request *r = &e->req;
	char ip[INET6_ADDRSTRLEN], error[300];
	size_t i, n = 0, len = 0;

	if (res->status != DNS_OK) {
		snprintf(error, sizeof(error), "mta-sts.%.160s: %.120s", e->domain,
		    res->error);
		fallback(e, STS_FAILED, error);
		return;
	}
	memset(r, 0, sizeof(*r));
	for (i = 0; i < res->nhosts && n < STS_ADDRS; i++) {
		if (getnameinfo((const struct sockaddr *)&res->hosts[i].addr,
		    res->hosts[i].addrlen, ip, sizeof(ip), NULL, 0,
		    NI_NUMERICHOST) != 0)
			continue;
		/* curl wants IPv6 addresses of CURLOPT_RESOLVE in brackets. */
		len += snprintf(r->addrs + len, sizeof(r->addrs) - len, "%s%s%s%s",
		    n > 0 ? "," : "", strchr(ip, ':') ? "[" : "", ip,
		    strchr(ip, ':') ? "]" : "");
		n++;
	}
	snprintf(r->host, sizeof(r->host), "mta-sts.%.240s", e->domain);
	snprintf(r->url, sizeof(r->url), "https://mta-sts.%s/.well-known/"
	    "mta-sts.txt", e->domain);
	r->port = 443;
	r->ca_pem = sts_ca;
	r->ca_len = sts_calen;
	r->max = MTA_STS_POLICY_MAX;
	r->timeout = STS_TIMEOUT;
	r->done = fetch_done;
	r->arg = e;
	https_start(r);
}

static void
txt_done(const struct dns_txt_result *res, void *arg)
{
	struct sts_entry *e = arg;
	const char *recs[DNS_TXT_MAX];
	char id[MTA_STS_ID_MAX + 1], name[300], error[300];
	size_t i;
	int rc = 0;

	if (res->status == DNS_TEMPFAIL) {
		snprintf(error, sizeof(error), "_mta-sts.%.160s TXT lookup failed: "
		    "%.100s", e->domain, res->error);
		fallback(e, STS_FAILED, error);
		return;
	}
	for (i = 0; i < res->n; i++)
		recs[i] = res->records[i];
	if (res->status == DNS_OK)
		rc = mta_sts_parse_txt(recs, res->lens, res->n, id);
	if (rc != 1) {
		/* §5.1: no (valid) record; a cached policy still holds. */
		fallback(e, STS_NONE, NULL);
		return;
	}
	if (cache_usable(e) && strcmp(e->id, id) == 0) {
		entry_finish(e, STS_POLICY, NULL);
		return;
	}
	snprintf(e->new_id, sizeof(e->new_id), "%s", id);
	snprintf(name, sizeof(name), "mta-sts.%s", e->domain);
	dns_resolve(name, 0, 443, host_done, e);
}

void
sts_lookup(const char *domain, void (*cb)(const struct sts_result *, void *),
    void *arg)
{
	struct sts_entry *e = entry_get(domain);
	struct sts_waiter *w = xcalloc(1, sizeof(*w));
	char name[300];

	w->cb = cb;
	w->arg = arg;
	w->next = e->waiters;
	e->waiters = w;
	if (e->busy)
		return;		/* answered with the look-up under way */
	e->busy = 1;
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	dns_txt(name, txt_done, e);
}
