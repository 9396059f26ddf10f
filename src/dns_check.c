/*
 * dns_check.c - the DNS a domain needs for its mail to be trusted: its
 * DKIM keys (RFC 6376 §3.6), DMARC (RFC 7489 §6.1) and SPF (RFC 7208).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "config.h"
#include "dkim.h"
#include "dkim_canon.h"
#include "dns_check.h"
#include "dns_sync.h"
#include "spf.h"
#include "worker.h"

#define ANSWERS_MAX	16
#define TXT_STRING_MAX	255

struct check {
	struct worker_job	 job;
	const struct config	*conf;
	char			 domain[256];
	struct dns_sync		*dns;
	struct evbuffer		*out;
	int			 problems;
	void			(*done)(const char *, int, void *);
	void			*arg;
	struct check		*next;
};

static struct worker_pool *check_pool;
static struct check *running;

/* ---- SPF's look-ups through our channel ---- */

static int
txt_fn(void *arg, const char *name, char (*out)[SPF_TXT_LEN], size_t max)
{
	return dns_sync_txt(arg, name, out, max);
}

static int
addrs_fn(void *arg, const char *name, char (*out)[SPF_ADDR_LEN], size_t max)
{
	return dns_sync_addrs(arg, name, out, max);
}

static int
mx_fn(void *arg, const char *name, char (*out)[SPF_NAME_LEN], size_t max)
{
	return dns_sync_mx(arg, name, out, max);
}

/* A record as a zone file takes it: strings of at most 255 octets. */
static void
add_txt(struct evbuffer *out, const char *name, const char *rec)
{
	size_t len = strlen(rec), i;

	evbuffer_add_printf(out, "%s TXT", name);
	for (i = 0; i < len; i += TXT_STRING_MAX)
		evbuffer_add_printf(out, " \"%.*s\"", (int)(len - i < TXT_STRING_MAX ?
		    len - i : TXT_STRING_MAX), rec + i);
}

/* Is d the key's domain or under it? */
static int
covers(const char *keydom, const char *d)
{
	size_t kl = strlen(keydom), dl = strlen(d);

	return strcasecmp(d, keydom) == 0 || (dl > kl && d[dl - kl - 1] == '.' &&
	    strcasecmp(d + dl - kl, keydom) == 0);
}

/* p= without the whitespace a record may fold it with. */
static void
squeeze(char *s)
{
	char *w = s;

	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			*w++ = *s;
	*w = '\0';
}

/* ---- DKIM: is each selector's published key ours? ---- */

static void
check_dkim(struct check *c)
{
	char txt[ANSWERS_MAX][SPF_TXT_LEN], name[600], ours[4096];
	char ourp[4096], theirp[SPF_TXT_LEN], k[32], ourk[32];
	size_t i;
	int n, j, keys = 0, found;

	for (i = 0; i < c->conf->ndkim; i++) {
		const struct dkim_key *key = &c->conf->dkim[i];

		if (!covers(key->domain, c->domain))
			continue;
		keys++;
		snprintf(name, sizeof(name), "%s._domainkey.%s", key->selector,
		    key->domain);
		if (dkim_record(key->pkey, ours, sizeof(ours)) == -1 ||
		    dkim_tag(ours, strlen(ours), "p", ourp, sizeof(ourp)) != 1 ||
		    dkim_tag(ours, strlen(ours), "k", ourk, sizeof(ourk)) != 1)
			continue;
		n = dns_sync_txt(c->dns, name, txt, ANSWERS_MAX);
		if (n < 0) {
			c->problems++;
			evbuffer_add_printf(c->out, "dkim %s WRONG the DNS did not "
			    "answer; try again\n", name);
			continue;
		}
		for (j = 0, found = 0; j < n && !found; j++) {
			size_t len = strlen(txt[j]);

			if (dkim_tag(txt[j], len, "p", theirp, sizeof(theirp)) != 1)
				continue;
			found = 1;
			squeeze(theirp);
			if (dkim_tag(txt[j], len, "k", k, sizeof(k)) != 1)
				snprintf(k, sizeof(k), "rsa");	/* the default */
			if (strcmp(theirp, ourp) == 0 && strcasecmp(k, ourk) == 0) {
				evbuffer_add_printf(c->out, "dkim %s OK\n", name);
				continue;
			}
			c->problems++;
			evbuffer_add_printf(c->out, "dkim %s WRONG %s: the published "
			    "key is not the one in %s; publish: ", name,
			    theirp[0] == '\0' ? "revoked (empty p=)" : "another key",
			    key->path);
			add_txt(c->out, name, ours);
			evbuffer_add(c->out, "\n", 1);
		}
		if (!found) {
			c->problems++;
			evbuffer_add_printf(c->out, "dkim %s MISSING publish: ", name);
			add_txt(c->out, name, ours);
			evbuffer_add(c->out, "\n", 1);
		}
	}
	if (keys == 0) {
		c->problems++;
		evbuffer_add_printf(c->out, "dkim %s MISSING no dkim section signs "
		    "mail from %s: add one (submitd.conf(5))\n", c->domain,
		    c->domain);
	}
}

/* ---- DMARC: the domain's policy, or its organisation's ---- */

static void
check_dmarc(struct check *c)
{
	char txt[ANSWERS_MAX][SPF_TXT_LEN], name[600], v[SPF_TXT_LEN];
	const char *d = c->domain, *rec = NULL;
	int n, j, count;

	for (;;) {
		snprintf(name, sizeof(name), "_dmarc.%s", d);
		n = dns_sync_txt(c->dns, name, txt, ANSWERS_MAX);
		if (n < 0) {
			c->problems++;
			evbuffer_add_printf(c->out, "dmarc %s WRONG the DNS did not "
			    "answer; try again\n", name);
			return;
		}
		for (j = 0, count = 0; j < n; j++)
			if (strncmp(txt[j], "v=DMARC1", 8) == 0 &&
			    (txt[j][8] == ';' || txt[j][8] == ' ' || txt[j][8] == '\0')) {
				rec = txt[j];
				count++;
			}
		if (count > 1) {
			c->problems++;
			evbuffer_add_printf(c->out, "dmarc %s WRONG %d records: "
			    "receivers ignore them all; keep one\n", name, count);
			return;
		}
		/* Not found: the organisational domain (two labels, roughly). */
		if (rec != NULL || strchr(d, '.') == NULL ||
		    strchr(strchr(d, '.') + 1, '.') == NULL)
			break;
		d = strchr(d, '.') + 1;
	}
	snprintf(name, sizeof(name), "_dmarc.%s", d);
	if (rec == NULL) {
		char suggest[600];

		c->problems++;
		snprintf(suggest, sizeof(suggest), "v=DMARC1; p=quarantine; "
		    "rua=mailto:postmaster@%s", c->domain);
		evbuffer_add_printf(c->out, "dmarc _dmarc.%s MISSING publish: ",
		    c->domain);
		snprintf(name, sizeof(name), "_dmarc.%s", c->domain);
		add_txt(c->out, name, suggest);
		evbuffer_add(c->out, "\n", 1);
		return;
	}
	if (dkim_tag(rec, strlen(rec), "p", v, sizeof(v)) != 1 ||
	    (strcmp(v, "none") != 0 && strcmp(v, "quarantine") != 0 &&
	    strcmp(v, "reject") != 0)) {
		c->problems++;
		evbuffer_add_printf(c->out, "dmarc %s WRONG no valid p= (none, "
		    "quarantine or reject): %s\n", name, rec);
		return;
	}
	evbuffer_add_printf(c->out, "dmarc %s OK p=%s", name, v);
	if (d != c->domain && dkim_tag(rec, strlen(rec), "sp", v, sizeof(v)) == 1)
		evbuffer_add_printf(c->out, " sp=%s", v);
	evbuffer_add_printf(c->out, " adkim=%s", dkim_tag(rec, strlen(rec),
	    "adkim", v, sizeof(v)) == 1 ? v : "r");
	evbuffer_add_printf(c->out, " aspf=%s", dkim_tag(rec, strlen(rec),
	    "aspf", v, sizeof(v)) == 1 ? v : "r");
	if (dkim_tag(rec, strlen(rec), "rua", v, sizeof(v)) == 1)
		evbuffer_add_printf(c->out, " rua=%s", v);
	if (d != c->domain)
		evbuffer_add_printf(c->out, " (from %s)", d);
	evbuffer_add(c->out, "\n", 1);
}

/* ---- SPF: are the addresses we send from authorised? ---- */

/* "mail.provider.example" -> "provider.example" (roughly: two labels). */
static const char *
registered_domain(const char *host)
{
	const char *last = strrchr(host, '.'), *p;

	if (last == NULL)
		return host;
	for (p = last - 1; p > host && *p != '.'; p--)
		;
	return p > host ? p + 1 : host;
}

static void
check_spf(struct check *c)
{
	struct spf_dns dns = { txt_fn, addrs_fn, mx_fn, c->dns };
	char addrs[ANSWERS_MAX][SPF_ADDR_LEN], why[600], mech[ANSWERS_MAX * 60];
	const char *host = c->conf->relay.host != NULL ? c->conf->relay.host :
	    c->conf->hostname, *target = NULL;
	unsigned char bin[16];
	enum spf_result res;
	size_t m = 0;
	int n, i, bad = 0, none = 0;

	if (inet_pton(AF_INET, host, bin) == 1 ||
	    inet_pton(AF_INET6, host, bin) == 1) {
		snprintf(addrs[0], sizeof(addrs[0]), "%s", host);
		n = 1;
	} else {
		if (c->conf->relay.host != NULL) {
			target = registered_domain(host);
			if (spf_includes(&dns, c->domain, target)) {
				evbuffer_add_printf(c->out, "spf %s OK includes %s "
				    "(the smarthost's)\n", c->domain, target);
				return;
			}
		}
		n = dns_sync_addrs(c->dns, host, addrs, ANSWERS_MAX);
	}
	if (n <= 0) {
		c->problems++;
		evbuffer_add_printf(c->out, "spf %s WRONG %s: cannot find the "
		    "addresses of %s, which mail leaves from\n", c->domain,
		    n < 0 ? "the DNS did not answer" : "no address", host);
		return;
	}
	mech[0] = '\0';
	for (i = 0; i < n; i++) {
		res = spf_check(&dns, addrs[i], c->domain, why, sizeof(why));
		m += snprintf(mech + m, sizeof(mech) - m, "%s%s:%s", i ? " " : "",
		    strchr(addrs[i], ':') ? "ip6" : "ip4", addrs[i]);
		if (m >= sizeof(mech))
			m = sizeof(mech) - 1;
		if (res == SPF_PASS) {
			evbuffer_add_printf(c->out, "spf %s OK %s pass (%s)\n",
			    c->domain, addrs[i], why);
			continue;
		}
		if (res == SPF_NONE) {
			none = 1;
			break;
		}
		bad = 1;
		c->problems++;
		evbuffer_add_printf(c->out, "spf %s WRONG %s: %s (%s); add %s%s to "
		    "the record\n", c->domain, addrs[i], spf_result_name(res), why,
		    target != NULL ? "include:" : strchr(addrs[i], ':') ? "ip6:" :
		    "ip4:", target != NULL ? target : addrs[i]);
	}
	if (none) {
		char rec[ANSWERS_MAX * 60 + 64];

		c->problems++;
		snprintf(rec, sizeof(rec), "v=spf1 %s%s -all", target != NULL ?
		    "include:" : "", target != NULL ? target : mech);
		evbuffer_add_printf(c->out, "spf %s MISSING publish: ", c->domain);
		add_txt(c->out, c->domain, rec);
		evbuffer_add(c->out, "\n", 1);
	}
	(void)bad;
}

/* ---- the job ---- */

static void
check_work(struct worker_job *job)
{
	struct check *c = WORKER_OWNER(job, struct check, job);
	char why[128];

	if ((c->dns = dns_sync_new(c->conf->resolver, DNS_CHECK_SECONDS, why,
	    sizeof(why))) == NULL) {
		c->problems++;
		evbuffer_add_printf(c->out, "dns %s WRONG %s\n", c->domain, why);
		return;
	}
	check_dkim(c);
	check_dmarc(c);
	check_spf(c);
	dns_sync_free(c->dns);
	c->dns = NULL;
}

static void
check_free(struct check *c)
{
	struct check **p;

	for (p = &running; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	evbuffer_free(c->out);
	config_unref(c->conf);
	free(c);
}

static void
check_done(struct worker_job *job)
{
	struct check *c = WORKER_OWNER(job, struct check, job);
	size_t len;
	char *text;

	evbuffer_add(c->out, "", 1);
	len = evbuffer_get_length(c->out);
	text = (char *)evbuffer_pullup(c->out, len);
	c->done(text, c->problems, c->arg);
	check_free(c);
}

int
dns_check_init(struct event_base *base)
{
	check_pool = worker_pool_new(base, 1);
	return check_pool != NULL ? 0 : -1;
}

void
dns_check_shutdown(void)
{
	worker_pool_free(check_pool);
	check_pool = NULL;
	while (running != NULL)
		check_free(running);
}

int
dns_check_start(const struct config *conf, const char *domain,
    void (*done)(const char *, int, void *), void *arg)
{
	struct check *c;

	if (check_pool == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	if ((c->out = evbuffer_new()) == NULL) {
		free(c);
		return -1;
	}
	snprintf(c->domain, sizeof(c->domain), "%s", domain);
	c->conf = config_ref(conf);
	c->done = done;
	c->arg = arg;
	c->job.work = check_work;
	c->job.done = check_done;
	c->next = running;
	running = c;
	worker_submit(check_pool, &c->job);
	return 0;
}
