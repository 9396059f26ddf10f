/*
 * policy.c - relay rules and abuse limits.
 *
 * Sender binding: a login owns its own address and whatever the senders
 * file grants it ("LOGIN ADDRESS|@DOMAIN ..."), and only ever addresses in
 * the local domains, so a stolen password cannot send as someone else nor as
 * a foreign domain.  Recipients are free for authenticated logins (that is
 * what a submission server is for) except internal_only ones.
 *
 * Rates are counted in sliding windows of 60 slots; memory per client
 * address or login is a few hundred bytes, and idle entries are swept.
 * Client addresses are counted by policy key (util/netaddr.h: an IPv6
 * address by its /64).
 *
 * The AUTH lock-out counts attempts, not answers: an attempt holds a place
 * from its start, and attempts in flight count against the limits as
 * failures do, so N parallel sessions cannot check more than the limit's
 * worth of guesses before the ban.  Failures are counted per client address
 * (limits.auth_failures: ban) and per login, whatever the address
 * (limits.auth_login_failures: a temporary lock of that login, and a
 * tarpit that grows with the login's failures before that).
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "utf8.h"
#include "smtp_parse.h"
#include "util/map.h"
#include "util/netaddr.h"

#define WIN_SLOTS	60
#define TARPIT_MAX	10	/* seconds */

struct window {
	uint32_t	 slot[WIN_SLOTS];
	int64_t		 last;		/* index of the newest slot */
	int		 width;		/* seconds per slot */
	int		 nslots;	/* width * nslots covers the window */
};

struct grant {
	struct grant	*next;
	char		 addr[SMTP_ADDR_MAX + 1];	/* "a@b" or "@b" */
};

/* What the senders and login limits files say of a login. */
#define SCOPE_NETS_MAX	16

struct login_rules {
	struct grant	*grants;
	int		 messages_per_hour;
	int		 recipients_per_hour;
	struct netaddr_range nets[SCOPE_NETS_MAX];	/* networks=: AUTH only from */
	size_t		 nnets;
	char		 nets_text[256];
	time_t		 expires;	/* expires=: AUTH refused from then; 0 never */
	char		 expires_text[16];
};

/* What a login has sent: kept across reloads. */
struct login_counters {
	struct window	 messages;
	struct window	 recipients;
};

struct client_state {
	int		 sessions;
	struct window	 connects;
	struct window	 auth_failures;
	int		 auth_inflight;
	time_t		 banned_until;
};

/* A login's AUTH failures from any address. */
struct login_auth {
	struct window	 failures;
	int		 inflight;
	time_t		 locked_until;
};

#define LOGINS_MAX	200000	/* logins tracked at once; beyond, per address only */

/*
 * Sessions on every event loop consult these tables; one lock around each
 * public call keeps them whole.  Nothing under the lock blocks.
 */
static pthread_mutex_t policy_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct config *conf;
static int reloading;		/* problems go to the log, not stderr */
static struct map rules;
static struct map counters;
static struct map clients;
static struct map logins;	/* struct login_auth */
static long long sessions_total;
static time_t last_sweep, last_login_sweep;
static uint64_t bans_total, locks_total;

/* At most WIN_SLOTS slots of whole seconds, covering at least seconds. */
static void
window_init(struct window *w, int seconds)
{
	memset(w, 0, sizeof(*w));
	if (seconds < 1)
		seconds = 1;
	w->width = (seconds + WIN_SLOTS - 1) / WIN_SLOTS;
	w->nslots = (seconds + w->width - 1) / w->width;
}

/* Clears the slots that have slid out of the window since last use. */
static void
window_advance(struct window *w, time_t now)
{
	int64_t idx = now / w->width, i;

	if (idx - w->last >= w->nslots)
		memset(w->slot, 0, sizeof(w->slot));
	else
		for (i = w->last + 1; i <= idx; i++)
			w->slot[i % w->nslots] = 0;
	if (idx > w->last)
		w->last = idx;
}

static void
window_add(struct window *w, time_t now, uint32_t n)
{
	window_advance(w, now);
	w->slot[w->last % w->nslots] += n;
}

static uint32_t
window_sum(struct window *w, time_t now)
{
	uint32_t sum = 0;
	int i;

	window_advance(w, now);
	for (i = 0; i < w->nslots; i++)
		sum += w->slot[i];
	return sum;
}

static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

static struct login_rules *
rules_get(const struct config *c, struct map *m, const char *login)
{
	struct login_rules *l = map_get(m, login);

	if (l != NULL)
		return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		abort();
	l->messages_per_hour = c->messages_per_hour;
	l->recipients_per_hour = c->recipients_per_hour;
	if (map_put(m, login, l) == -1)
		abort();
	return l;
}

static struct login_counters *
counters_get(const char *login)
{
	struct login_counters *l = map_get(&counters, login);

	if (l != NULL)
		return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	window_init(&l->messages, 3600);
	window_init(&l->recipients, 3600);
	if (map_put(&counters, login, l) == -1) {
		free(l);
		return NULL;
	}
	return l;
}

/* The login's hourly limits: its own line in login_limits_file, or the defaults. */
static void
login_limits(const char *login, int *messages, int *recipients)
{
	struct login_rules *l = map_get(&rules, login);

	*messages = l ? l->messages_per_hour : conf->messages_per_hour;
	*recipients = l ? l->recipients_per_hour : conf->recipients_per_hour;
}

static void
rules_free(void *p)
{
	struct login_rules *l = p;
	struct grant *g;

	while ((g = l->grants) != NULL) {
		l->grants = g->next;
		free(g);
	}
	free(l);
}

/* A problem in a senders or login limits file. */
static void LOG_PRINTF(1, 2)
file_error(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (reloading)
		log_warnx("event=reload error=%s", log_str(buf));
	else
		fprintf(stderr, "%s\n", buf);
}

/* Splits a line into at most max words in place; returns the count. */
static int
split_words(char *line, char **words, int max)
{
	int n = 0;
	char *p, *save = NULL;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	for (p = strtok_r(line, " \t\r\n", &save); p != NULL && n < max;
	    p = strtok_r(NULL, " \t\r\n", &save))
		words[n++] = p;
	return p == NULL ? n : -1;
}

/*
 * A login or granted address: local part and domain, domain local in c;
 * lowercased whole, as sessions hold logins (session_auth.c), so that no
 * spelling of a login escapes its rules.
 */
static int	parse_local_address_as_is(const struct config *, const char *,
		    char *, int);

static int
parse_local_address(const struct config *c, const char *word, char *out,
    int allow_domain)
{
	int rc = parse_local_address_as_is(c, word, out, allow_domain);
	char *p;

	for (p = out; rc == 0 && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return rc;
}

static int
parse_local_address_as_is(const struct config *c, const char *word, char *out,
    int allow_domain)
{
	const char *why;

	if (allow_domain && word[0] == '@') {
		char tmp[SMTP_ADDR_MAX + 1];

		/* "@dom" is checked as "x@dom", then kept as "@dom". */
		if (snprintf(tmp, sizeof(tmp), "x%s", word) >= (int)sizeof(tmp) ||
		    smtp_parse_address(tmp, strlen(tmp), 1, out, &why) == -1)
			return -1;
		memmove(out, out + 1, strlen(out));
	} else if (smtp_parse_address(word, strlen(word), 1, out, &why) == -1 ||
	    utf8_addr_nfc(out, out, SMTP_ADDR_MAX + 1) == -1)
		return -1;
	return config_is_local_domain(c, domain_of(out)) ? 0 : -1;
}

/*
 * Reads a rules file a line at a time: comments and blank lines skipped,
 * the rest split into words for fn, which says -1 for a bad line.  Every
 * bad line is reported; any makes the whole file fail.
 */
static int
load_file(const struct config *c, struct map *into, const char *path,
    int maxwords, int (*fn)(const struct config *, struct map *, char **, int,
    const char *, int))
{
	char line[4096], *w[64];
	int lineno = 0, n, bad = 0;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		file_error("%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((n = split_words(line, w, maxwords)) == 0)
			continue;
		if (n == -1)
			file_error("%s:%d: more than %d words", path, lineno,
			    maxwords);
		if (n == -1 || fn(c, into, w, n, path, lineno) == -1)
			bad = 1;
	}
	fclose(f);
	return bad ? -1 : 0;
}

/* senders: "LOGIN ADDRESS|@DOMAIN ..." */
static int
senders_line(const struct config *c, struct map *into, char **w, int n,
    const char *path, int lineno)
{
	char login[SMTP_ADDR_MAX + 1];
	struct login_rules *l;
	int i, bad = 0;

	if (n < 2 || parse_local_address(c, w[0], login, 0) == -1) {
		file_error("%s:%d: expected \"LOGIN ADDRESS|@DOMAIN ...\" "
		    "with a login in a local domain", path, lineno);
		return -1;
	}
	l = rules_get(c, into, login);
	for (i = 1; i < n; i++) {
		struct grant *g = calloc(1, sizeof(*g));

		if (g == NULL)
			abort();
		if (parse_local_address(c, w[i], g->addr, 1) == -1) {
			file_error("%s:%d: %s: not an address or @domain "
			    "in local_domains", path, lineno, w[i]);
			free(g);
			bad = 1;
			continue;
		}
		g->next = l->grants;
		l->grants = g;
	}
	return bad ? -1 : 0;
}

/* A decimal count from 0 to INT32_MAX. */
static int
parse_count(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0 || v > INT32_MAX)
		return -1;
	*out = v;
	return 0;
}

/* "networks=CIDR,CIDR...": 0, or -1 when one is not a range. */
static int
parse_networks(struct login_rules *l, const char *list)
{
	char buf[256], *p, *save = NULL;

	if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf))
		return -1;
	snprintf(l->nets_text, sizeof(l->nets_text), "%s", list);
	l->nnets = 0;
	for (p = strtok_r(buf, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save)) {
		if (l->nnets == SCOPE_NETS_MAX ||
		    netaddr_parse_range(p, &l->nets[l->nnets]) == -1)
			return -1;
		l->nnets++;
	}
	return l->nnets > 0 ? 0 : -1;
}

/* "expires=YYYY-MM-DD": the login works through that day (UTC). */
static int
parse_expires(struct login_rules *l, const char *date)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	if (strlen(date) != 10 || (end = strptime(date, "%Y-%m-%d", &tm)) == NULL ||
	    *end != '\0')
		return -1;
	snprintf(l->expires_text, sizeof(l->expires_text), "%s", date);
	l->expires = timegm(&tm) + 86400;
	return l->expires > 86400 ? 0 : -1;
}

/*
 * login limits: "LOGIN MESSAGES_PER_HOUR RECIPIENTS_PER_HOUR
 * [networks=CIDR,...] [expires=YYYY-MM-DD]"
 */
static int
limits_line(const struct config *c, struct map *into, char **w, int n,
    const char *path, int lineno)
{
	char login[SMTP_ADDR_MAX + 1];
	struct login_rules *l;
	int m, r, i;

	if (n < 3 || parse_count(w[1], &m) == -1 ||
	    parse_count(w[2], &r) == -1 ||
	    parse_local_address(c, w[0], login, 0) == -1) {
		file_error("%s:%d: expected \"LOGIN MESSAGES_PER_HOUR "
		    "RECIPIENTS_PER_HOUR [networks=CIDR,...] [expires=YYYY-MM-DD]\"",
		    path, lineno);
		return -1;
	}
	l = rules_get(c, into, login);
	l->messages_per_hour = m;
	l->recipients_per_hour = r;
	for (i = 3; i < n; i++) {
		if (strncmp(w[i], "networks=", 9) == 0) {
			if (parse_networks(l, w[i] + 9) == -1) {
				file_error("%s:%d: %s: not a list of addresses or "
				    "CIDR ranges (at most %d)", path, lineno, w[i],
				    SCOPE_NETS_MAX);
				return -1;
			}
		} else if (strncmp(w[i], "expires=", 8) == 0) {
			if (parse_expires(l, w[i] + 8) == -1) {
				file_error("%s:%d: %s: not a date YYYY-MM-DD", path,
				    lineno, w[i]);
				return -1;
			}
		} else {
			file_error("%s:%d: %s: unknown field (networks= or "
			    "expires=)", path, lineno, w[i]);
			return -1;
		}
	}
	return 0;
}

static int
load_rules(const struct config *c, struct map *into)
{
	map_init(into);
	if ((c->senders_file != NULL &&
	    load_file(c, into, c->senders_file, 64, senders_line) == -1) ||
	    (c->login_limits_file != NULL &&
	    load_file(c, into, c->login_limits_file, 5, limits_line) == -1)) {
		map_clear(into, rules_free);
		return -1;
	}
	return 0;
}

int
policy_check(const struct config *c)
{
	struct map m;

	if (load_rules(c, &m) == -1)
		return -1;
	map_clear(&m, rules_free);
	return 0;
}

int
policy_init(const struct config *c)
{
	map_init(&counters);
	map_init(&clients);
	map_init(&logins);
	if (load_rules(c, &rules) == -1)
		return -1;
	conf = config_ref(c);
	return 0;
}

int
policy_reload(const struct config *c)
{
	const struct config *old;
	struct map fresh;
	int rc;

	/* Read without the lock (file I/O); only the swap takes it. */
	reloading = 1;
	rc = load_rules(c, &fresh);
	reloading = 0;
	if (rc == -1)
		return -1;
	pthread_mutex_lock(&policy_lock);
	map_clear(&rules, rules_free);
	rules = fresh;
	old = conf;
	conf = config_ref(c);
	pthread_mutex_unlock(&policy_lock);
	config_unref(old);
	log_info("event=reload module=policy logins=%zu", fresh.count);
	return 0;
}

void
policy_free(void)
{
	map_clear(&rules, rules_free);
	map_clear(&counters, free);
	map_clear(&clients, free);
	map_clear(&logins, free);
	config_unref(conf);
	conf = NULL;
}

/* ---- client addresses ---- */

static int
client_idle(const char *key, void *value, void *arg)
{
	struct client_state *c = value;
	time_t now = *(time_t *)arg;

	if (c->sessions > 0 || c->banned_until > now || c->auth_inflight > 0 ||
	    window_sum(&c->connects, now) > 0 ||
	    window_sum(&c->auth_failures, now) > 0)
		return 0;
	free(c);
	return 1;
}

static struct client_state *
client_get(const char *client, time_t now)
{
	struct client_state *c;

	if (now - last_sweep >= 60) {
		map_sweep(&clients, client_idle, &now);
		last_sweep = now;
	}
	if ((c = map_get(&clients, client)) != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	window_init(&c->connects, 60);
	window_init(&c->auth_failures, conf->auth_failure_window);
	if (map_put(&clients, client, c) == -1) {
		free(c);
		return NULL;
	}
	return c;
}

static const char *
locked_connect(const char *client, char *reply)
{
	time_t now = time(NULL);
	struct client_state *c = client_get(client, now);

	sessions_total++;
	if (c == NULL)
		return "421 4.3.2 Insufficient system resources; try again later";
	c->sessions++;
	window_add(&c->connects, now, 1);
	if (c->banned_until > now) {
		snprintf(reply, POLICY_REPLY_MAX, "421 4.7.0 %s Too many failed "
		    "authentications from your address; try again later",
		    conf->hostname);
		return reply;
	}
	if (sessions_total > conf->connections) {
		snprintf(reply, POLICY_REPLY_MAX, "421 4.3.2 %s Too many "
		    "connections; try again later", conf->hostname);
		return reply;
	}
	if (c->sessions > conf->connections_per_ip) {
		snprintf(reply, POLICY_REPLY_MAX, "421 4.7.0 %s Too many "
		    "connections from your address; try again later",
		    conf->hostname);
		return reply;
	}
	if (conf->connection_rate > 0 &&
	    window_sum(&c->connects, now) > (uint32_t)conf->connection_rate) {
		snprintf(reply, POLICY_REPLY_MAX, "421 4.7.0 %s Too many new "
		    "connections from your address; try again later",
		    conf->hostname);
		return reply;
	}
	return NULL;
}

static void
locked_disconnect(const char *client)
{
	struct client_state *c = map_get(&clients, client);

	sessions_total--;
	if (c != NULL && c->sessions > 0)
		c->sessions--;
}

/* ---- the AUTH lock-out ---- */

static int
login_idle(const char *key, void *value, void *arg)
{
	struct login_auth *l = value;
	time_t now = *(time_t *)arg;

	if (l->inflight > 0 || l->locked_until > now ||
	    window_sum(&l->failures, now) > 0)
		return 0;
	free(l);
	return 1;
}

/* NULL when out of memory or past LOGINS_MAX: then per address only. */
static struct login_auth *
login_get(const char *login, time_t now)
{
	struct login_auth *l;

	if (now - last_login_sweep >= 60) {
		map_sweep(&logins, login_idle, &now);
		last_login_sweep = now;
	}
	if ((l = map_get(&logins, login)) != NULL)
		return l;
	if (logins.count >= LOGINS_MAX || (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	window_init(&l->failures, conf->auth_failure_window);
	if (map_put(&logins, login, l) == -1) {
		free(l);
		return NULL;
	}
	return l;
}

/* With a ban time of 0 nothing is ever locked, so nothing need wait. */
static int
budget_full(struct window *w, int inflight, int limit, int lock, time_t now)
{
	return lock > 0 && window_sum(w, now) + inflight >= (uint32_t)limit;
}

static enum policy_auth
locked_auth_begin(const char *client)
{
	time_t now = time(NULL);
	struct client_state *c = client_get(client, now);

	if (c == NULL)
		return POLICY_AUTH_WAIT;
	if (c->banned_until > now)
		return POLICY_AUTH_BANNED;
	if (budget_full(&c->auth_failures, c->auth_inflight, conf->auth_failures,
	    conf->auth_ban, now))
		return POLICY_AUTH_WAIT;
	c->auth_inflight++;
	return POLICY_AUTH_GO;
}

static enum policy_auth
locked_auth_login(const char *login)
{
	time_t now = time(NULL);
	struct login_auth *l = login_get(login, now);

	if (l == NULL)
		return POLICY_AUTH_GO;	/* logged; the address still counts */
	if (l->locked_until > now)
		return POLICY_AUTH_LOCKED;
	if (budget_full(&l->failures, l->inflight, conf->auth_login_failures,
	    conf->auth_login_lock, now))
		return POLICY_AUTH_WAIT;
	l->inflight++;
	return POLICY_AUTH_GO;
}

static int
locked_auth_end(const char *client, const char *login,
    enum policy_auth_result result, int nth, int *banned)
{
	time_t now = time(NULL);
	struct client_state *c = map_get(&clients, client);
	struct login_auth *l = login != NULL ? map_get(&logins, login) : NULL;
	uint32_t lfail = 0;
	int delay;

	*banned = 0;
	if (c != NULL && c->auth_inflight > 0)
		c->auth_inflight--;
	if (l != NULL && l->inflight > 0)
		l->inflight--;
	if (result == POLICY_AUTH_OK || result == POLICY_AUTH_ABANDONED)
		return 0;
	if (c != NULL) {
		window_add(&c->auth_failures, now, 1);
		if (window_sum(&c->auth_failures, now) >=
		    (uint32_t)conf->auth_failures && conf->auth_ban > 0 &&
		    c->banned_until <= now) {
			c->banned_until = now + conf->auth_ban;
			*banned = 1;
			bans_total++;
			log_info("client=%s event=ban reason=auth-failures failures=%u "
			    "seconds=%d", log_str(client),
			    window_sum(&c->auth_failures, now), conf->auth_ban);
		}
	}
	if (l != NULL && result == POLICY_AUTH_FAILED) {
		window_add(&l->failures, now, 1);
		lfail = window_sum(&l->failures, now);
		if (lfail >= (uint32_t)conf->auth_login_failures &&
		    conf->auth_login_lock > 0 && l->locked_until <= now) {
			l->locked_until = now + conf->auth_login_lock;
			locks_total++;
			log_info("user=%s event=login-lock reason=auth-failures "
			    "failures=%u seconds=%d last_client=%s", log_str(login),
			    lfail, conf->auth_login_lock, log_str(client));
		}
	}
	/*
	 * The first failure may be a typo; each further one costs a second
	 * more, in this session or against this login from anywhere.
	 */
	delay = nth - 1;
	if (lfail > 0 && (int)lfail - 1 > delay)
		delay = (int)lfail - 1;
	return delay > TARPIT_MAX ? TARPIT_MAX : delay;
}

static int
count_banned(const char *key, void *value, void *arg)
{
	struct client_state *c = value;
	size_t *n = arg;

	*n += c->banned_until > time(NULL);
	return 0;
}

static int
count_locked(const char *key, void *value, void *arg)
{
	struct login_auth *l = value;
	size_t *n = arg;

	*n += l->locked_until > time(NULL);
	return 0;
}

static void
locked_stats(struct policy_stats *st)
{
	memset(st, 0, sizeof(*st));
	map_sweep(&clients, count_banned, &st->banned_addresses);
	map_sweep(&logins, count_locked, &st->locked_logins);
	st->bans = bans_total;
	st->login_locks = locks_total;
}

/* ---- logins ---- */

static int
locked_owns(const char *login, const char *addr)
{
	struct login_rules *l;
	struct grant *g;
	const char *dom = domain_of(addr);
	char norm[SMTP_ADDR_MAX + 1];

	if (!config_is_local_domain(conf, dom))
		return 0;
	/* RFC 6531: "é" written composed or not is one address (utf8.h). */
	if (utf8_addr_nfc(addr, norm, sizeof(norm)) == -1)
		return 0;
	addr = norm;
	/* Local parts compare without case: nobody runs Alice and alice apart. */
	if (strcasecmp(login, addr) == 0)
		return 1;
	if ((l = map_get(&rules, login)) == NULL)
		return 0;
	for (g = l->grants; g != NULL; g = g->next) {
		if (g->addr[0] == '@' ? strcasecmp(g->addr + 1, dom) == 0 :
		    strcasecmp(g->addr, addr) == 0)
			return 1;
	}
	return 0;
}

static const char *
locked_check_sender(const char *login, const char *addr, char *reply)
{
	struct login_counters *l;
	int messages, recipients;

	if (addr[0] == '\0') {
		/* RFC 6409 §4.1 leaves it to policy; bounces are ours to send. */
		return "553 5.7.1 Sender address rejected: the null sender is "
		    "not accepted for submission";
	}
	if (!locked_owns(login, addr)) {
		snprintf(reply, POLICY_REPLY_MAX, "553 5.7.1 Sender address "
		    "rejected: not owned by %s", login);
		return reply;
	}
	login_limits(login, &messages, &recipients);
	l = counters_get(login);
	if (l != NULL && messages > 0 &&
	    window_sum(&l->messages, time(NULL)) >= (uint32_t)messages) {
		snprintf(reply, POLICY_REPLY_MAX, "450 4.7.1 Rate limit exceeded: "
		    "%s may send %d messages per hour; try again later", login,
		    messages);
		return reply;
	}
	return NULL;
}

static int
internal_only(const char *login)
{
	size_t i;

	for (i = 0; i < conf->ninternal_only; i++)
		if (strcasecmp(conf->internal_only[i], login) == 0)
			return 1;
	return 0;
}

static const char *
locked_check_rcpt(const char *login, const char *addr, size_t nrcpts,
    char *reply)
{
	struct login_counters *l;
	int messages, recipients;

	if (internal_only(login) && !config_is_local_domain(conf, domain_of(addr))) {
		snprintf(reply, POLICY_REPLY_MAX, "550 5.7.1 Recipient address "
		    "rejected: %s may send to local domains only", login);
		return reply;
	}
	login_limits(login, &messages, &recipients);
	l = counters_get(login);
	if (l != NULL && recipients > 0 &&
	    window_sum(&l->recipients, time(NULL)) + nrcpts >= (uint32_t)recipients) {
		snprintf(reply, POLICY_REPLY_MAX, "450 4.7.1 Rate limit exceeded: "
		    "%s may send to %d recipients per hour; try again later", login,
		    recipients);
		return reply;
	}
	return NULL;
}

/*
 * Checked and counted in one step at the end of DATA: parallel sessions of
 * one login all passed MAIL and RCPT against the same counts, and only this
 * step, on the one loop thread, sees them one at a time.
 */
static const char *
locked_take_message(const char *login, size_t nrcpts, char *reply)
{
	struct login_counters *l = counters_get(login);
	time_t now = time(NULL);
	int messages, recipients;

	if (l == NULL)
		return "451 4.3.0 Insufficient system resources";
	login_limits(login, &messages, &recipients);
	if (messages > 0 && window_sum(&l->messages, now) >= (uint32_t)messages) {
		snprintf(reply, POLICY_REPLY_MAX, "450 4.7.1 Rate limit exceeded: "
		    "%s may send %d messages per hour; try again later", login,
		    messages);
		return reply;
	}
	if (recipients > 0 &&
	    window_sum(&l->recipients, now) + nrcpts > (uint32_t)recipients) {
		snprintf(reply, POLICY_REPLY_MAX, "450 4.7.1 Rate limit exceeded: "
		    "%s may send to %d recipients per hour; try again later", login,
		    recipients);
		return reply;
	}
	window_add(&l->messages, now, 1);
	window_add(&l->recipients, now, nrcpts);
	return NULL;
}

/* ---- the public calls: each takes the lock around its locked_ twin ---- */

#define LOCKED(type, call) do {				\
	type r_;					\
							\
	pthread_mutex_lock(&policy_lock);		\
	r_ = (call);					\
	pthread_mutex_unlock(&policy_lock);		\
	return r_;					\
} while (0)

const char *
policy_connect(const char *client, char *reply)
{
	LOCKED(const char *, locked_connect(client, reply));
}

void
policy_disconnect(const char *client)
{
	pthread_mutex_lock(&policy_lock);
	locked_disconnect(client);
	pthread_mutex_unlock(&policy_lock);
}

enum policy_auth
policy_auth_begin(const char *client)
{
	LOCKED(enum policy_auth, locked_auth_begin(client));
}

enum policy_auth
policy_auth_login(const char *login)
{
	LOCKED(enum policy_auth, locked_auth_login(login));
}

int
policy_auth_end(const char *client, const char *login,
    enum policy_auth_result result, int nth, int *banned)
{
	LOCKED(int, locked_auth_end(client, login, result, nth, banned));
}

void
policy_stats(struct policy_stats *st)
{
	pthread_mutex_lock(&policy_lock);
	locked_stats(st);
	pthread_mutex_unlock(&policy_lock);
}

const char *
policy_check_scope(const char *login, const char *client, char *why,
    size_t whylen)
{
	const struct login_rules *l;
	const char *r = NULL;
	size_t i;

	pthread_mutex_lock(&policy_lock);
	if ((l = map_get(&rules, login)) != NULL) {
		if (l->expires != 0 && time(NULL) >= l->expires) {
			snprintf(why, whylen, "login expired on %s", l->expires_text);
			r = why;
		} else if (l->nnets > 0) {
			for (i = 0; i < l->nnets; i++)
				if (netaddr_in_range(client, &l->nets[i]))
					break;
			if (i == l->nnets) {
				snprintf(why, whylen, "client outside the login's "
				    "networks=%s", l->nets_text);
				r = why;
			}
		}
	}
	pthread_mutex_unlock(&policy_lock);
	return r;
}

int
policy_owns(const char *login, const char *addr)
{
	LOCKED(int, locked_owns(login, addr));
}

const char *
policy_check_sender(const char *login, const char *addr, char *reply)
{
	LOCKED(const char *, locked_check_sender(login, addr, reply));
}

const char *
policy_check_rcpt(const char *login, const char *addr, size_t nrcpts,
    char *reply)
{
	LOCKED(const char *, locked_check_rcpt(login, addr, nrcpts, reply));
}

const char *
policy_take_message(const char *login, size_t nrcpts, char *reply)
{
	LOCKED(const char *, locked_take_message(login, nrcpts, reply));
}
