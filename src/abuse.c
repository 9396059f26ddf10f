/*
 * abuse.c - login profiles, the four signals, suspension (abuse.h).
 *
 * The state file spool/abuse/profiles is text, one line per fact, logins
 * %-escaped (they come from SASL):
 *
 *	SUBMITD-ABUSE 1
 *	p LOGIN FIRST_SEEN DAY d0,d1,...,d13     messages per day, DAY = today
 *	n LOGIN NETWORK FIRST LAST ADDRESS       client networks
 *	s LOGIN SINCE WHY...                     a suspension
 *
 * It is written whole (spool_aux_write: temporary file, fsync, rename)
 * every minute when something changed, at once on a suspension or resume,
 * and at a stop.  The 10-minute windows are not kept: a restart forgets a
 * burst in progress, never a suspension.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "abuse.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "server.h"
#include "smtp_parse.h"
#include "spool.h"
#include "util/map.h"
#include "util/netaddr.h"
#include "util/xalloc.h"
#include "worker.h"

#define WINDOW_MIN	10		/* minutes of the short window */
#define DAYS		14
#define NETS_MAX	8
#define DOMS_MAX	64		/* distinct domains counted per window */
#define RESULTS		100		/* recipients whose outcome is kept */
#define PROFILES_MAX	20000
#define STATE_NAME	"profiles"
#define STATE_MAX	(64 * 1024 * 1024)	/* 20000 logins: about 30 MB */
#define NEW_NETWORK	86400	/* a network is new for a day */
#define IDLE_DAYS	30	/* a profile unused this long may go */
#define NOTE_EVERY	600		/* one log line per signal per window */

struct net {
	char		 key[NETADDR_KEY_MAX];	/* "192.0.2.0/24", "2001:db8::/64" */
	char		 addr[NETADDR_KEY_MAX];	/* the last address from it */
	time_t		 first, last;
};

struct profile {
	char		 login[SMTP_ADDR_MAX + 1];
	time_t		 first_seen;
	time_t		 last_seen;
	long		 minute[WINDOW_MIN];	/* which minute each slot counts */
	unsigned	 msgs[WINDOW_MIN];	/* recipients, not messages: a
					   message to 100 is 100 */
	uint32_t	 dom_hash[DOMS_MAX];
	long		 dom_minute[DOMS_MAX];
	long		 day[DAYS];		/* which day each slot counts */
	unsigned	 days[DAYS];
	struct net	 nets[NETS_MAX];
	size_t		 nnets;
	unsigned char	 results[RESULTS];	/* 1 refused for policy, 0 not */
	size_t		 nresults, rpos;
	time_t		 suspended;		/* 0: not */
	char		 why[300];
	time_t		 noted[4], would;
};

enum { SIG_BURST, SIG_FANOUT, SIG_REFUSED, SIG_NETWORK };
static const char *const sig_names[] = { "burst", "fanout", "refused",
    "network" };

struct action {
	char		 login[SMTP_ADDR_MAX + 1];
	int		 suspend;	/* else: the figures of a resume */
	char		 notice[2048];
	struct action	*next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct map profiles;
static const struct config *conf;
static struct event *apply_ev, *timer_ev;
static struct action *actions;
static struct worker_pool *pool;
static int dirty, writing, full_logged, keep_file;
static uint64_t suspensions, would_suspend;

/* ---- the profile ---- */

static long
minute_of(time_t t)
{
	return (long)(t / 60);
}

static long
day_of(time_t t)
{
	return (long)(t / 86400);
}

static uint32_t
hash_domain(const char *d)
{
	uint32_t h = 2166136261u;

	for (; *d; d++) {
		h ^= (unsigned char)tolower((unsigned char)*d);
		h *= 16777619u;
	}
	return h;
}

/* The network of a numeric address: IPv4 /24, IPv6 /64 (netaddr_key). */
static void
network_of(const char *addr, char *out, size_t size)
{
	char *dot;

	if (netaddr_key(addr, out, size) == -1) {
		snprintf(out, size, "%s", addr);
		return;
	}
	if (strchr(out, ':') == NULL && (dot = strrchr(out, '.')) != NULL)
		snprintf(dot, size - (dot - out), ".0/24");
}

static int
idle(const char *key, void *value, void *arg)
{
	struct profile *p = value;

	if (p->suspended || p->last_seen > *(time_t *)arg)
		return 0;
	free(p);
	(void)key;
	return 1;
}

/*
 * The profile of login (any case: logins are compared lowercased); make:
 * a new one when there is none, dropping those idle for IDLE_DAYS when
 * the table is full; force: even when it stays full (a human asked).
 */
static struct profile *
profile_get(const char *login, int make)
{
	char key[SMTP_ADDR_MAX + 1];
	struct profile *p;
	size_t i;

	for (i = 0; login[i] != '\0' && i + 1 < sizeof(key); i++)
		key[i] = (char)tolower((unsigned char)login[i]);
	key[i] = '\0';
	if ((p = map_get(&profiles, key)) != NULL || !make)
		return p;
	if (profiles.count >= PROFILES_MAX) {
		time_t before = time(NULL) - IDLE_DAYS * 86400;

		map_sweep(&profiles, idle, &before);
	}
	if (profiles.count >= PROFILES_MAX && make != 2) {
		if (!full_logged)
			log_errx("event=abuse error=\"%d logins profiled, none idle "
			    "for %d days: new ones are not\"", PROFILES_MAX,
			    IDLE_DAYS);
		full_logged = 1;
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	snprintf(p->login, sizeof(p->login), "%s", key);
	p->first_seen = p->last_seen = time(NULL);
	if (map_put(&profiles, key, p) == -1) {
		free(p);
		return NULL;
	}
	return p;
}

static unsigned
window_msgs(const struct profile *p, time_t now)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < WINDOW_MIN; i++)
		if (p->minute[i] > minute_of(now) - WINDOW_MIN)
			n += p->msgs[i];
	return n;
}

static unsigned
window_domains(const struct profile *p, time_t now)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < DOMS_MAX; i++)
		if (p->dom_minute[i] > minute_of(now) - WINDOW_MIN)
			n++;
	return n;
}

/* The login's usual 10 minutes: its busiest recent day, spread evenly. */
static unsigned
baseline(const struct profile *p, time_t now)
{
	unsigned most = 0;
	int i;

	for (i = 0; i < DAYS; i++)
		if (p->day[i] > day_of(now) - DAYS && p->day[i] != day_of(now) &&
		    p->days[i] > most)
			most = p->days[i];
	return most / 144;
}

static void
count_message(struct profile *p, time_t now, char *const *rcpts, size_t n)
{
	long m = minute_of(now), d = day_of(now);
	int slot = (int)(m % WINDOW_MIN), ds = (int)(d % DAYS), i;
	size_t k;

	p->last_seen = now;
	if (p->minute[slot] != m) {
		p->minute[slot] = m;
		p->msgs[slot] = 0;
	}
	p->msgs[slot] += (unsigned)n;
	if (p->day[ds] != d) {
		p->day[ds] = d;
		p->days[ds] = 0;
	}
	p->days[ds] += (unsigned)n;
	for (k = 0; k < n; k++) {
		const char *at = strrchr(rcpts[k], '@');
		uint32_t h = hash_domain(at != NULL ? at + 1 : rcpts[k]);
		int free_slot = -1, oldest = 0;

		for (i = 0; i < DOMS_MAX; i++) {
			if (p->dom_minute[i] > m - WINDOW_MIN && p->dom_hash[i] == h)
				break;
			if (p->dom_minute[i] <= m - WINDOW_MIN && free_slot == -1)
				free_slot = i;
			if (p->dom_minute[i] < p->dom_minute[oldest])
				oldest = i;
		}
		if (i < DOMS_MAX) {
			p->dom_minute[i] = m;
			continue;
		}
		i = free_slot != -1 ? free_slot : oldest;
		p->dom_hash[i] = h;
		p->dom_minute[i] = m;
	}
}

static void
count_network(struct profile *p, const char *client, time_t now)
{
	char key[NETADDR_KEY_MAX];
	size_t i, oldest = 0;

	network_of(client, key, sizeof(key));
	for (i = 0; i < p->nnets; i++)
		if (strcmp(p->nets[i].key, key) == 0) {
			p->nets[i].last = now;
			snprintf(p->nets[i].addr, sizeof(p->nets[i].addr), "%s", client);
			return;
		}
	if (p->nnets == NETS_MAX) {
		for (i = 1; i < p->nnets; i++)
			if (p->nets[i].last < p->nets[oldest].last)
				oldest = i;
		i = oldest;
	} else
		i = p->nnets++;
	snprintf(p->nets[i].key, sizeof(p->nets[i].key), "%s", key);
	snprintf(p->nets[i].addr, sizeof(p->nets[i].addr), "%s", client);
	p->nets[i].first = p->nets[i].last = now;
}

struct figures {
	unsigned	 msgs, domains, base, nets, refused, results;
	const char	*new_net;
	int		 sig[4];
	int		 nsig;
};

static void
evaluate(const struct profile *p, time_t now, struct figures *f)
{
	time_t since = now - WINDOW_MIN * 60;
	size_t i, j;

	memset(f, 0, sizeof(*f));
	f->msgs = window_msgs(p, now);
	f->domains = window_domains(p, now);
	f->base = baseline(p, now);
	for (i = 0; i < p->nresults; i++)
		f->refused += p->results[i];
	f->results = (unsigned)p->nresults;
	for (i = 0; i < p->nnets; i++)
		if (p->nets[i].last > since)
			f->nets++;
	/* A network first seen today, when the login had an older one. */
	for (i = 0; i < p->nnets && f->new_net == NULL; i++)
		for (j = 0; j < p->nnets; j++)
			if (p->nets[i].first > now - NEW_NETWORK && j != i &&
			    (p->nets[j].first < p->nets[i].first ||
			    (p->nets[j].first == p->nets[i].first && j < i))) {
				f->new_net = p->nets[i].key;
				break;
			}
	f->sig[SIG_BURST] = f->msgs > (unsigned)conf->abuse_burst_floor &&
	    f->msgs > (unsigned)conf->abuse_burst_factor * f->base;
	f->sig[SIG_FANOUT] = f->domains > (unsigned)conf->abuse_fanout_domains;
	f->sig[SIG_REFUSED] = f->refused >= (unsigned)conf->abuse_refusal_min &&
	    f->refused * 100 >= (unsigned)conf->abuse_refusal_share * f->results;
	f->sig[SIG_NETWORK] = f->new_net != NULL ||
	    f->nets >= (unsigned)conf->abuse_networks_at_once;
	/* Burst and fanout both measure volume: together they count once. */
	f->nsig = (f->sig[SIG_BURST] || f->sig[SIG_FANOUT]) + f->sig[SIG_REFUSED] +
	    f->sig[SIG_NETWORK];
}

static void
describe(const struct figures *f, char *out, size_t size)
{
	size_t n = 0, i;

	for (i = 0; i < 4; i++)
		if (f->sig[i])
			n += snprintf(out + n, size - n, "%s%s", n ? "," : "",
			    sig_names[i]);
	if (n == 0)
		n = snprintf(out, size, "none");
	snprintf(out + n, size - n, " recipients_10m=%u baseline_10m=%u "
	    "domains_10m=%u networks_10m=%u new_network=%s refused=%u/%u",
	    f->msgs, f->base, f->domains, f->nets, f->new_net ? f->new_net : "none",
	    f->refused, f->results);
}

/* Only safe characters of a login go into the notice's header fields. */
static void
safe_copy(char *out, size_t size, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	out[i] = '\0';
}

static void
make_notice(const struct profile *p, const char *why, char *out, size_t size)
{
	char login[SMTP_ADDR_MAX + 1], date[64];
	struct tm tm;
	size_t n, i;

	safe_copy(login, sizeof(login), p->login);
	gmtime_r(&p->suspended, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	n = snprintf(out, size, "The login %s was suspended at %s because it "
	    "sent like a stolen\r\naccount: %s.\r\n\r\nClient addresses it used "
	    "lately:\r\n", login, date, why);
	for (i = 0; i < p->nnets && n < size; i++)
		n += snprintf(out + n, size - n, "  %s (network %s, first seen "
		    "%lld)\r\n", p->nets[i].addr, p->nets[i].key,
		    (long long)p->nets[i].first);
	if (n < size)
		snprintf(out + n, size - n, "\r\nIts messages that were still queued "
		    "are held: nothing more leaves\r\nin its name.  If the password "
		    "was stolen, change it first; then\r\n\r\n  submitctl resume %s"
		    "      (the held messages go)\r\n\r\nor delete what it queued "
		    "(submitctl queue, submitctl delete ID).\r\n", login);
}

/* Locked: suspend p now (why: the signals and figures). */
static void
suspend_locked(struct profile *p, const char *why, time_t now)
{
	struct action *a = xcalloc(1, sizeof(*a));

	p->suspended = now;
	snprintf(p->why, sizeof(p->why), "%s", why);
	snprintf(a->login, sizeof(a->login), "%s", p->login);
	a->suspend = 1;
	make_notice(p, why, a->notice, sizeof(a->notice));
	a->next = actions;
	actions = a;
	dirty = 1;
	event_active(apply_ev, 0, 0);
}

/* Locked: the signals now; act or note. */
static void
decide(struct profile *p, const char *client, time_t now)
{
	struct figures f;
	char why[300];
	int i;

	if (p->suspended || !conf->abuse_enabled)
		return;
	evaluate(p, now, &f);
	describe(&f, why, sizeof(why));
	if (f.nsig >= conf->abuse_signals) {
		if (conf->abuse_dry_run) {
			if (p->would + NOTE_EVERY <= now) {
				p->would = now;
				would_suspend++;
				log_info("event=abuse action=would-suspend user=%s "
				    "client=%s signals=%s", log_str(p->login), client,
				    log_str(why));
			}
			return;
		}
		suspensions++;
		log_info("event=abuse action=suspend user=%s client=%s signals=%s",
		    log_str(p->login), client, log_str(why));
		suspend_locked(p, why, now);
		return;
	}
	for (i = 0; i < 4; i++)
		if (f.sig[i] && p->noted[i] + NOTE_EVERY <= now) {
			p->noted[i] = now;
			log_info("event=abuse action=signal user=%s client=%s "
			    "signal=%s figures=%s", log_str(p->login), client,
			    sig_names[i], log_str(why));
		}
}

/* ---- what sessions and the queue tell us ---- */

static const char *
suspended_reply(const char *login, char *reply)
{
	snprintf(reply, ABUSE_REPLY_MAX, "550 5.7.1 The account %s is suspended "
	    "for sending like a stolen one; contact %s", login, conf->abuse_notify);
	return reply;
}

const char *
abuse_check(const char *login, char *reply)
{
	const struct profile *p;
	const char *r = NULL;

	pthread_mutex_lock(&lock);
	if (conf != NULL && (p = profile_get(login, 0)) != NULL && p->suspended)
		r = suspended_reply(login, reply);
	pthread_mutex_unlock(&lock);
	return r;
}

void
abuse_message(const char *login, const char *client, char *const *rcpts,
    size_t nrcpts)
{
	struct profile *p;
	time_t now = time(NULL);

	pthread_mutex_lock(&lock);
	if (conf != NULL && conf->abuse_enabled &&
	    (p = profile_get(login, 1)) != NULL) {
		count_message(p, now, rcpts, nrcpts);
		count_network(p, client, now);
		dirty = 1;
		decide(p, client, now);
	}
	pthread_mutex_unlock(&lock);
}

int
abuse_suspended(const char *login)
{
	const struct profile *p;
	int r = 0;

	if (login == NULL || strcmp(login, "-") == 0)
		return 0;
	pthread_mutex_lock(&lock);
	r = (p = profile_get(login, 0)) != NULL && p->suspended != 0;
	pthread_mutex_unlock(&lock);
	return r;
}

void
abuse_result(const char *login, int code, const char *reply)
{
	struct profile *p;
	int policy;

	if (login == NULL || strcmp(login, "-") == 0 || conf == NULL ||
	    !conf->abuse_enabled)
		return;
	/* "550 5.7.1 ...": refused for policy, spam or reputation. */
	if (reply != NULL) {
		reply += strspn(reply, "0123456789");
		reply += strspn(reply, " -");
	}
	policy = code / 100 == 5 && reply != NULL && strncmp(reply, "5.7.", 4) == 0;
	pthread_mutex_lock(&lock);
	if ((p = profile_get(login, 0)) != NULL) {
		p->results[p->rpos] = (unsigned char)policy;
		p->rpos = (p->rpos + 1) % RESULTS;
		if (p->nresults < RESULTS)
			p->nresults++;
		decide(p, "-", time(NULL));
	}
	pthread_mutex_unlock(&lock);
}

/* ---- persistence ---- */

static void
put_login(struct evbuffer *b, const char *s)
{
	for (; *s; s++)
		if (isalnum((unsigned char)*s) || strchr("@._+-", *s) != NULL)
			evbuffer_add(b, s, 1);
		else
			evbuffer_add_printf(b, "%%%02X", (unsigned char)*s);
}

static int
get_login(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s && n + 1 < size; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2])) {
			char hex[3] = { s[1], s[2], '\0' };

			out[n++] = (char)strtol(hex, NULL, 16);
			s += 2;
		} else
			out[n++] = *s;
	}
	out[n] = '\0';
	return *s == '\0' && n > 0 && strlen(out) == n ? 0 : -1;
}

struct dump {
	struct evbuffer	*b;
	time_t		 now;
};

static int
dump_one(const char *key, void *value, void *arg)
{
	const struct profile *p = value;
	struct dump *d = arg;
	long today = day_of(d->now);
	size_t i;
	int k;

	evbuffer_add_printf(d->b, "p ");
	put_login(d->b, p->login);
	evbuffer_add_printf(d->b, " %lld %ld ", (long long)p->first_seen, today);
	for (k = 0; k < DAYS; k++) {
		long day = today - k;
		int slot = (int)(day % DAYS);

		evbuffer_add_printf(d->b, "%s%u", k ? "," : "",
		    p->day[slot] == day ? p->days[slot] : 0);
	}
	evbuffer_add(d->b, "\n", 1);
	for (i = 0; i < p->nnets; i++) {
		evbuffer_add_printf(d->b, "n ");
		put_login(d->b, p->login);
		evbuffer_add_printf(d->b, " %s %lld %lld %s\n", p->nets[i].key,
		    (long long)p->nets[i].first, (long long)p->nets[i].last,
		    p->nets[i].addr);
	}
	if (p->suspended) {
		evbuffer_add_printf(d->b, "s ");
		put_login(d->b, p->login);
		evbuffer_add_printf(d->b, " %lld %s\n", (long long)p->suspended,
		    p->why);
	}
	(void)key;
	return 0;
}

/* Locked: the state file's text. */
static struct evbuffer *
dump(void)
{
	struct dump d = { evbuffer_new(), time(NULL) };

	if (d.b == NULL)
		return NULL;
	evbuffer_add_printf(d.b, "SUBMITD-ABUSE 1\n");
	map_sweep(&profiles, dump_one, &d);
	return d.b;
}

static void
load_line(char *line, time_t now)
{
	char kind, login[SMTP_ADDR_MAX + 1], *f[6], *save = NULL;
	struct profile *p;
	int n = 0;

	kind = line[0];
	if ((kind != 'p' && kind != 'n' && kind != 's') || line[1] != ' ')
		return;
	/* Fields split at spaces; a suspension's WHY is the rest of the line. */
	f[0] = strtok_r(line + 2, " ", &save);
	while (f[n] != NULL && n < 5) {
		const char *delim = kind == 's' && n == 1 ? "" : " ";

		n++;
		f[n] = strtok_r(NULL, delim, &save);
	}
	if (n < 2 || get_login(f[0], login, sizeof(login)) == -1 ||
	    (p = profile_get(login, 1)) == NULL)
		return;
	if (kind == 'p' && n >= 4) {
		long today = strtol(f[2], NULL, 10), day = day_of(now);
		char *c = f[3], *end;
		int k;

		if (today < day - 3650 || today > day + 1)
			return;		/* not a day of ours */
		p->first_seen = strtoll(f[1], NULL, 10);
		for (k = 0; k < DAYS && c != NULL && *c != '\0'; k++) {
			long d = today - k;
			unsigned v = (unsigned)strtoul(c, &end, 10);

			if (d > day - DAYS && d <= day) {
				p->day[d % DAYS] = d;
				p->days[d % DAYS] = v;
			}
			c = *end == ',' ? end + 1 : NULL;
		}
	} else if (kind == 'n' && n >= 5 && p->nnets < NETS_MAX) {
		struct net *net = &p->nets[p->nnets++];

		snprintf(net->key, sizeof(net->key), "%s", f[1]);
		net->first = strtoll(f[2], NULL, 10);
		net->last = strtoll(f[3], NULL, 10);
		snprintf(net->addr, sizeof(net->addr), "%s", f[4]);
	} else if (kind == 's' && n >= 2) {
		p->suspended = strtoll(f[1], NULL, 10);
		snprintf(p->why, sizeof(p->why), "%s", f[2] != NULL ? f[2] : "");
		if (p->suspended <= 0)
			p->suspended = now;
	}
}

static void
load(void)
{
	size_t len;
	char *text = spool_aux_read(SPOOL_AUX_ABUSE, STATE_NAME, STATE_MAX, &len);
	char *line, *save = NULL;
	time_t now = time(NULL);
	int first = 1;

	if (text == NULL) {
		if (errno != ENOENT) {
			/* Never replace what could not be read: a human looks. */
			keep_file = 1;
			log_errx("event=abuse file=spool/abuse/%s error=%s action=\"its "
			    "suspensions are not applied, and it is not rewritten\"",
			    STATE_NAME, log_str(strerror(errno)));
		}
		return;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (first && strcmp(line, "SUBMITD-ABUSE 1") != 0) {
			log_errx("event=abuse error=\"unknown state file format\"");
			break;
		}
		if (!first)
			load_line(line, now);
		first = 0;
	}
	free(text);
}

struct write_job {
	struct worker_job	 job;
	struct evbuffer		*b;
	int			 rc;
};

static void
write_work(struct worker_job *job)
{
	struct write_job *w = WORKER_OWNER(job, struct write_job, job);
	size_t len = evbuffer_get_length(w->b);

	w->rc = spool_aux_write(SPOOL_AUX_ABUSE, STATE_NAME,
	    (const char *)evbuffer_pullup(w->b, len), len);
}

static void	write_state(void);

static int
is_dirty(void)
{
	int d;

	pthread_mutex_lock(&lock);
	d = dirty;
	pthread_mutex_unlock(&lock);
	return d;
}

static void
write_done(struct worker_job *job)
{
	struct write_job *w = WORKER_OWNER(job, struct write_job, job);

	if (w->rc == -1)
		log_errx("event=abuse error=\"cannot write the state file\"");
	evbuffer_free(w->b);
	free(w);
	writing = 0;
	if (is_dirty())
		write_state();
}

/* Loop 0: one write at a time; a change meanwhile writes again after. */
static void
write_state(void)
{
	struct write_job *w;

	if (writing || pool == NULL || keep_file)
		return;
	pthread_mutex_lock(&lock);
	w = xcalloc(1, sizeof(*w));
	w->b = dump();
	dirty = 0;
	pthread_mutex_unlock(&lock);
	if (w->b == NULL) {
		free(w);
		return;
	}
	writing = 1;
	w->job.work = write_work;
	w->job.done = write_done;
	worker_submit(pool, &w->job);
}

/* ---- loop 0: suspensions take effect ---- */

static void
apply_cb(evutil_socket_t fd, short what, void *arg)
{
	struct action *a, *next;
	char login[SMTP_ADDR_MAX + 1], date[64], *msg;
	struct tm tm;
	time_t now = time(NULL);
	int n;

	pthread_mutex_lock(&lock);
	a = actions;
	actions = NULL;
	pthread_mutex_unlock(&lock);
	for (; a != NULL; a = next) {
		next = a->next;
		if (a->suspend) {
			queue_hold_login(a->login, 1);
			safe_copy(login, sizeof(login), a->login);
			gmtime_r(&now, &tm);
			strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
			msg = xcalloc(1, sizeof(a->notice) + 1024);
			n = snprintf(msg, sizeof(a->notice) + 1024,
			    "From: submitd <postmaster@%s>\r\nTo: <%s>\r\n"
			    "Subject: login %s suspended\r\nDate: %s\r\n"
			    "Message-ID: <abuse.%lld.%s>\r\n"
			    "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
			    "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s",
			    conf->local_domains[0], conf->abuse_notify, login, date,
			    (long long)now, conf->hostname, a->notice);
			if (n < 0)
				n = 0;
			if ((size_t)n >= sizeof(a->notice) + 1024)
				n = (int)(sizeof(a->notice) + 1024 - 1);
			queue_inject("", conf->abuse_notify, msg, (size_t)n);
		}
		free(a);
	}
	write_state();
	(void)fd;
	(void)what;
	(void)arg;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	if (is_dirty())
		write_state();
	(void)fd;
	(void)what;
	(void)arg;
}

int
abuse_init(struct server *s)
{
	struct timeval minute = { 60, 0 };

	map_init(&profiles);
	abuse_reload(s->conf);
	load();
	if ((pool = worker_pool_new(s->base, 1)) == NULL ||
	    (apply_ev = event_new(s->base, -1, 0, apply_cb, NULL)) == NULL ||
	    (timer_ev = event_new(s->base, -1, EV_PERSIST, timer_cb, NULL)) == NULL)
		return -1;
	event_add(timer_ev, &minute);
	return 0;
}

void
abuse_reload(const struct config *c)
{
	const struct config *old;

	pthread_mutex_lock(&lock);
	old = conf;
	conf = config_ref(c);
	pthread_mutex_unlock(&lock);
	config_unref(old);
}

static void
profile_free(void *p)
{
	free(p);
}

void
abuse_shutdown(void)
{
	struct evbuffer *b;
	struct action *a;

	worker_pool_free(pool);		/* a write under way ends first */
	pool = NULL;
	pthread_mutex_lock(&lock);
	if (!keep_file && (b = dump()) != NULL) {
		size_t len = evbuffer_get_length(b);

		if (spool_aux_write(SPOOL_AUX_ABUSE, STATE_NAME,
		    (const char *)evbuffer_pullup(b, len), len) == -1)
			log_errx("event=abuse error=\"cannot write the state file\"");
		evbuffer_free(b);
	}
	while ((a = actions) != NULL) {
		actions = a->next;
		free(a);
	}
	map_clear(&profiles, profile_free);
	pthread_mutex_unlock(&lock);
	if (apply_ev != NULL)
		event_free(apply_ev);
	if (timer_ev != NULL)
		event_free(timer_ev);
	apply_ev = timer_ev = NULL;
	config_unref(conf);
	conf = NULL;
}

/* ---- submitctl ---- */

struct list_arg {
	struct evbuffer	*out;
	size_t		 n;
};

static int
list_one(const char *key, void *value, void *arg)
{
	const struct profile *p = value;
	struct list_arg *l = arg;
	char date[64];
	struct tm tm;

	if (!p->suspended)
		return 0;
	gmtime_r(&p->suspended, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	evbuffer_add_printf(l->out, "%s  since %s  %s\n", p->login, date, p->why);
	l->n++;
	(void)key;
	return 0;
}

void
abuse_list(struct evbuffer *out)
{
	struct list_arg l = { out, 0 };

	evbuffer_add_printf(out, "ok\n");
	pthread_mutex_lock(&lock);
	map_sweep(&profiles, list_one, &l);
	pthread_mutex_unlock(&lock);
	evbuffer_add_printf(out, "%zu suspended\n", l.n);
}

int
abuse_suspend(const char *login, struct evbuffer *out)
{
	struct profile *p;
	int rc = -1;

	pthread_mutex_lock(&lock);
	if ((p = profile_get(login, 2)) == NULL)
		evbuffer_add_printf(out, "error: out of memory\n");
	else if (p->suspended)
		evbuffer_add_printf(out, "error: %s is already suspended\n", login);
	else {
		log_info("event=abuse action=suspend user=%s by=submitctl",
		    log_str(login));
		suspend_locked(p, "by submitctl", time(NULL));
		evbuffer_add_printf(out, "ok\n%s suspended\n", login);
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int
abuse_resume(const char *login, struct evbuffer *out)
{
	struct profile *p;
	time_t now = time(NULL);
	size_t i;
	int k;

	pthread_mutex_lock(&lock);
	if ((p = profile_get(login, 0)) == NULL || !p->suspended) {
		pthread_mutex_unlock(&lock);
		evbuffer_add_printf(out, "error: %s is not suspended\n", login);
		return -1;
	}
	/* A fresh start: what led here no longer counts against it. */
	p->suspended = 0;
	p->why[0] = '\0';
	memset(p->msgs, 0, sizeof(p->msgs));
	memset(p->dom_minute, 0, sizeof(p->dom_minute));
	memset(p->results, 0, sizeof(p->results));
	p->nresults = p->rpos = 0;
	for (i = 0; i < p->nnets; i++)
		p->nets[i].first = p->nets[i].last = now - NEW_NETWORK - 1;
	for (k = 0; k < 4; k++)
		p->noted[k] = 0;
	dirty = 1;
	pthread_mutex_unlock(&lock);
	log_info("event=abuse action=resume user=%s by=submitctl", log_str(login));
	queue_hold_login(login, 0);
	write_state();
	evbuffer_add_printf(out, "ok\n%s resumed\n", login);
	return 0;
}

static int
list_count(const char *key, void *value, void *arg)
{
	const struct profile *p = value;

	((struct list_arg *)arg)->n += p->suspended != 0;
	(void)key;
	return 0;
}

void
abuse_stats(struct abuse_stats *st)
{
	struct list_arg l = { NULL, 0 };

	pthread_mutex_lock(&lock);
	map_sweep(&profiles, list_count, &l);
	st->suspended = l.n;
	st->suspensions = suspensions;
	st->would_suspend = would_suspend;
	pthread_mutex_unlock(&lock);
}
