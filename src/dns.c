/*
 * dns.c - MX and address look-ups with c-ares, driven by libevent.
 *
 * c-ares tells us through its socket-state callback which sockets to watch;
 * each gets a libevent event, and one timer follows ares_timeout() so that
 * retransmissions and time-outs happen without polling.  A look-up is the MX
 * query followed by address queries for every exchange, all in flight at
 * once; when the last one answers, the addresses are laid out in the order
 * RFC 5321 §5.1 wants them tried.  Callers always hear back from the loop,
 * through an event made active when the answer is complete, because c-ares
 * itself may answer from inside a call.
 *
 * Every query carries the AD bit (RFC 6840 §5.7), and every answer's AD bit
 * is kept: a validating resolver sets it only on data it has verified with
 * DNSSEC, which is what DANE needs (RFC 7672 §2.1).  The resolver must be a
 * local one that validates (unbound, say): an AD bit from across a network
 * proves nothing.
 *
 * Not here: connecting, or deciding what a failure means for the mail.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "dns.h"
#include "dns_sync.h"
#include "dns_msg.h"
#include "log.h"

struct dns_sock {
	ares_socket_t		 fd;
	struct event		*ev;
	struct dns_sock		*next;
};

struct dns_lookup;

#define DNS_ADDRS_MAX	8	/* addresses kept per name and family */

/* One exchange (or the name itself) and what its address queries gave. */
struct dns_mx {
	struct dns_lookup	*lk;
	char			 name[256];
	int			 preference;
	uint32_t		 shuffle;	/* orders equal preferences */
	int			 status;	/* the worse of the two queries */
	int			 secure;	/* both answers validated */
	int			 answered;
	struct in_addr		 a[DNS_ADDRS_MAX];
	int			 na;
	struct in6_addr		 aaaa[DNS_ADDRS_MAX];
	int			 naaaa;
};

/*
 * Every look-up in progress is on one list, so that at shutdown, when
 * c-ares has answered them all with ARES_EDESTRUCTION and their results
 * will never be delivered, what they hold can be freed.
 */
struct dns_track {
	struct dns_track	*prev, *next;
	struct event		*ev;		/* the "done" event */
	void			(*free_fn)(struct dns_track *);
};

static struct dns_track *tracked;

static void
track(struct dns_track *t, struct event *ev, void (*free_fn)(struct dns_track *))
{
	t->ev = ev;
	t->free_fn = free_fn;
	t->prev = NULL;
	t->next = tracked;
	if (tracked != NULL)
		tracked->prev = t;
	tracked = t;
}

static void
untrack(struct dns_track *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		tracked = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
}

struct dns_lookup {
	struct dns_track	 track;		/* first */
	char			 name[256];
	int			 want_mx;
	int			 implicit;	/* no MX: the name is its own MX */
	int			 port;
	void			(*cb)(const struct dns_result *, void *);
	void			*arg;
	struct dns_mx		*mxs;
	size_t			 nmx;
	size_t			 pending;	/* address queries in flight */
	struct dns_result	 res;
	struct event		 done_ev;
};

static struct event_base	*dns_base;
static ares_channel		 dns_channel;
static struct event		*dns_timer;
static struct dns_sock		*dns_socks;

static void
dns_timer_update(void)
{
	struct timeval tv, *tvp;

	if ((tvp = ares_timeout(dns_channel, NULL, &tv)) == NULL)
		evtimer_del(dns_timer);
	else
		evtimer_add(dns_timer, tvp);
}

static void
dns_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	/* The dns_sock may be freed in here: only the fd is passed in. */
	ares_process_fd(dns_channel,
	    what & EV_READ ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    what & EV_WRITE ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	dns_timer_update();
}

static void
dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	ares_process_fd(dns_channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update();
}

/* c-ares opens, closes and changes interest in its sockets through here. */
static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_sock *s, **sp;
	short what = EV_PERSIST;

	for (sp = &dns_socks; (s = *sp) != NULL; sp = &s->next)
		if (s->fd == fd)
			break;
	if (s != NULL && s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable) {
		if (s != NULL) {
			*sp = s->next;
			free(s);
		}
		return;
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			goto fail;
		s->fd = fd;
		s->next = dns_socks;
		dns_socks = s;
	}
	what |= readable ? EV_READ : 0;
	what |= writable ? EV_WRITE : 0;
	if ((s->ev = event_new(dns_base, fd, what, dns_sock_cb, NULL)) != NULL &&
	    event_add(s->ev, NULL) == 0)
		return;
fail:
	/* The query times out through the timer and is reported as tempfail. */
	log_errx("event=dns error=\"cannot watch a resolver socket\"");
}

int
dns_init(struct event_base *base, const char *servers)
{
	struct ares_options opts;
	int rc;

	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_errx("event=dns-init error=%s", log_str(ares_strerror(rc)));
		return -1;
	}
	dns_base = base;
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = dns_sock_state;
	/*
	 * c-ares doubles the time-out on every try: its defaults (5 s, 4 tries)
	 * hold a delivery 75 s on a dead server; these give up after 14 s.
	 */
	opts.timeout = 2000;
	opts.tries = 3;
	rc = ares_init_options(&dns_channel, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		log_errx("event=dns-init error=%s", log_str(ares_strerror(rc)));
		ares_library_cleanup();
		return -1;
	}
	if (servers != NULL &&
	    (rc = ares_set_servers_ports_csv(dns_channel, servers)) != ARES_SUCCESS) {
		log_errx("event=dns-init servers=%s error=%s", log_str(servers),
		    log_str(ares_strerror(rc)));
		dns_shutdown();
		return -1;
	}
	if ((dns_timer = evtimer_new(base, dns_timer_cb, NULL)) == NULL) {
		log_errx("event=dns-init error=\"cannot create the resolver timer\"");
		dns_shutdown();
		return -1;
	}
	return 0;
}

/* Look-ups still running are answered DNS_TEMPFAIL on the next loop turn. */
void
dns_shutdown(void)
{
	struct dns_sock *s;

	struct dns_track *t;

	if (dns_channel != NULL) {
		ares_destroy(dns_channel);	/* answers all with EDESTRUCTION */
		dns_channel = NULL;
		ares_library_cleanup();
	}
	while ((t = tracked) != NULL) {
		untrack(t);
		event_del(t->ev);
		t->free_fn(t);
	}
	while ((s = dns_socks) != NULL) {
		dns_socks = s->next;
		if (s->ev != NULL)
			event_free(s->ev);
		free(s);
	}
	if (dns_timer != NULL) {
		event_free(dns_timer);
		dns_timer = NULL;
	}
}

static void
lookup_free(struct dns_lookup *lk)
{
	free(lk->mxs);
	free(lk);
}

/*
 * Sends a query for name with the AD bit set; cb gets the raw answer, with
 * ARES_SUCCESS whatever its RCODE (see answer_status).
 */
static void
query_ad(const char *name, int type, ares_callback cb, void *arg)
{
	unsigned char *q;
	int qlen, rc;

	rc = ares_create_query(name, ns_c_in, type, 0, 1, &q, &qlen, 0);
	if (rc != ARES_SUCCESS) {
		cb(arg, rc, 0, NULL, 0);
		return;
	}
	q[3] |= 0x20;		/* AD: tell us whether you validated it */
	ares_send(dns_channel, q, qlen, cb, arg);
	ares_free_string(q);
}

static void
lookup_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_lookup *lk = arg;

	log_debug("event=dns name=%s mx=%d status=%d hosts=%zu error=%s",
	    log_str(lk->name), lk->want_mx, lk->res.status, lk->res.nhosts,
	    log_str(lk->res.error));
	untrack(&lk->track);
	lk->cb(&lk->res, lk->arg);
	lookup_free(lk);
}

static void
lookup_track_free(struct dns_track *t)
{
	lookup_free((struct dns_lookup *)t);
}

/* The answer is complete; the caller hears of it from the loop. */
static void
lookup_finish(struct dns_lookup *lk, enum dns_status status, const char *error)
{
	lk->res.status = status;
	snprintf(lk->res.error, sizeof(lk->res.error), "%s", error);
	event_active(&lk->done_ev, EV_TIMEOUT, 1);
}

static int
status_is_temporary(int status)
{
	return status != ARES_ENOTFOUND && status != ARES_ENODATA &&
	    status != ARES_ENONAME;
}

static void
add_host(struct dns_lookup *lk, const struct dns_mx *mx,
    const struct sockaddr *sa, socklen_t salen)
{
	struct dns_result *res = &lk->res;
	struct dns_host *h;
	size_t i;

	if (res->nhosts >= DNS_HOSTS_MAX || salen > sizeof(h->addr) ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return;
	for (i = 0; i < res->nhosts; i++)
		if (res->hosts[i].addrlen == salen &&
		    memcmp(&res->hosts[i].addr, sa, salen) == 0)
			return;
	h = &res->hosts[res->nhosts++];
	snprintf(h->name, sizeof(h->name), "%s", mx->name);
	h->preference = mx->preference;
	h->secure = mx->secure;
	memcpy(&h->addr, sa, salen);
	h->addrlen = salen;
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)&h->addr)->sin_port = htons(lk->port);
	else
		((struct sockaddr_in6 *)&h->addr)->sin6_port = htons(lk->port);
}

/* Every address query has answered: lay out the hosts in MX order. */
static void
lookup_collect(struct dns_lookup *lk)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	char error[128];
	size_t i;
	int temporary = 0, k;
	int last = ARES_SUCCESS;

	for (i = 0; i < lk->nmx; i++) {
		struct dns_mx *mx = &lk->mxs[i];

		if (mx->na == 0 && mx->naaaa == 0) {
			temporary |= status_is_temporary(mx->status);
			last = mx->status != ARES_SUCCESS ? mx->status : ARES_ENODATA;
			continue;
		}
		/* IPv6 first, as getaddrinfo orders them here too. */
		for (k = 0; k < mx->naaaa; k++) {
			memset(&sin6, 0, sizeof(sin6));
			sin6.sin6_family = AF_INET6;
			sin6.sin6_addr = mx->aaaa[k];
			add_host(lk, mx, (struct sockaddr *)&sin6, sizeof(sin6));
		}
		for (k = 0; k < mx->na; k++) {
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_addr = mx->a[k];
			add_host(lk, mx, (struct sockaddr *)&sin, sizeof(sin));
		}
	}
	if (lk->res.nhosts > 0) {
		lookup_finish(lk, DNS_OK, "");
		return;
	}
	if (lk->want_mx && !lk->implicit) {
		/* The domain wants mail; its hosts may come back. */
		snprintf(error, sizeof(error), "no MX host for %.60s has an address%s%s",
		    lk->name, last != ARES_SUCCESS ? ": " : "",
		    last != ARES_SUCCESS ? ares_strerror(last) : "");
		lookup_finish(lk, DNS_TEMPFAIL, error);
	} else if (temporary) {
		snprintf(error, sizeof(error), "address lookup for %.60s failed: %s",
		    lk->name, ares_strerror(last));
		lookup_finish(lk, DNS_TEMPFAIL, error);
	} else {
		snprintf(error, sizeof(error), "%.100s has no address", lk->name);
		lookup_finish(lk, DNS_NOTFOUND, error);
	}
}

/* One address query of an exchange has answered. */
static void
addr_answer(struct dns_mx *mx, int status, int ad)
{
	/* An exchange is secure only when every answer about it was. */
	mx->secure = mx->answered++ == 0 ? ad : mx->secure && ad;
	if (status != ARES_SUCCESS && (mx->status == ARES_SUCCESS ||
	    status_is_temporary(status)))
		mx->status = status;
	if (--mx->lk->pending == 0)
		lookup_collect(mx->lk);
}

static void
a_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_mx *mx = arg;
	struct ares_addrttl ttls[DNS_ADDRS_MAX];
	int n = DNS_ADDRS_MAX, ad, k;

	status = dns_answer_status(status, abuf, alen, &ad);
	if (status == ARES_SUCCESS &&
	    (status = ares_parse_a_reply(abuf, alen, NULL, ttls, &n)) == ARES_SUCCESS)
		for (k = 0; k < n && mx->na < DNS_ADDRS_MAX; k++)
			mx->a[mx->na++] = ttls[k].ipaddr;
	addr_answer(mx, status, ad);
}

static void
aaaa_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_mx *mx = arg;
	struct ares_addr6ttl ttls[DNS_ADDRS_MAX];
	int n = DNS_ADDRS_MAX, ad, k;

	status = dns_answer_status(status, abuf, alen, &ad);
	if (status == ARES_SUCCESS && (status = ares_parse_aaaa_reply(abuf, alen,
	    NULL, ttls, &n)) == ARES_SUCCESS)
		for (k = 0; k < n && mx->naaaa < DNS_ADDRS_MAX; k++)
			memcpy(&mx->aaaa[mx->naaaa++], &ttls[k].ip6addr,
			    sizeof(struct in6_addr));
	addr_answer(mx, status, ad);
}

/*
 * Starts every address query (A and AAAA per exchange) at once.  c-ares
 * may answer some from inside ares_send, so one extra count keeps the
 * look-up open until all have been started.
 */
static void
lookup_addresses(struct dns_lookup *lk)
{
	size_t i;

	lk->pending = 2 * lk->nmx + 1;
	for (i = 0; i < lk->nmx; i++) {
		lk->mxs[i].status = ARES_SUCCESS;
		query_ad(lk->mxs[i].name, ns_t_a, a_cb, &lk->mxs[i]);
		query_ad(lk->mxs[i].name, ns_t_aaaa, aaaa_cb, &lk->mxs[i]);
	}
	dns_timer_update();
	if (--lk->pending == 0)
		lookup_collect(lk);
}

static int
mx_compare(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	if (x->preference != y->preference)
		return x->preference < y->preference ? -1 : 1;
	return x->shuffle < y->shuffle ? -1 : x->shuffle > y->shuffle;
}

/* The name stands for itself: no MX (RFC 5321 §5.1), or mx not wanted. */
static int
lookup_self(struct dns_lookup *lk)
{
	if ((lk->mxs = calloc(1, sizeof(*lk->mxs))) == NULL)
		return -1;
	lk->nmx = 1;
	lk->mxs[0].lk = lk;
	snprintf(lk->mxs[0].name, sizeof(lk->mxs[0].name), "%s", lk->name);
	return 0;
}

/* Fills lk->mxs from the answer; 0, or -1 on no memory. */
static int
mx_list(struct dns_lookup *lk, const struct ares_mx_reply *mx)
{
	const struct ares_mx_reply *m;
	size_t n = 0;

	for (m = mx; m != NULL; m = m->next)
		n++;
	if ((lk->mxs = calloc(n, sizeof(*lk->mxs))) == NULL)
		return -1;
	for (m = mx; m != NULL; m = m->next) {
		/* RFC 7505 §3: "." is a null MX, not a host. */
		if (m->host[0] == '\0' || strcmp(m->host, ".") == 0 ||
		    strlen(m->host) >= sizeof(lk->mxs[0].name))
			continue;
		lk->mxs[lk->nmx].lk = lk;
		strcpy(lk->mxs[lk->nmx].name, m->host);
		lk->mxs[lk->nmx].preference = m->priority;
		lk->mxs[lk->nmx].shuffle = arc4random();
		lk->nmx++;
	}
	/* RFC 5321 §5.1: lowest preference first, equal ones in random order. */
	qsort(lk->mxs, lk->nmx, sizeof(*lk->mxs), mx_compare);
	if (lk->nmx > DNS_HOSTS_MAX)
		lk->nmx = DNS_HOSTS_MAX;	/* each gives one address or more */
	return 0;
}

static void
mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_lookup *lk = arg;
	struct ares_mx_reply *mx = NULL;
	char error[128];
	int ad;

	status = dns_answer_status(status, abuf, alen, &ad);
	/* The domain's answer, records or their absence, was validated. */
	lk->res.mx_secure = ad;
	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &mx);
	switch (status) {
	case ARES_SUCCESS:
		break;
	case ARES_ENODATA:
		lk->implicit = 1;
		if (lookup_self(lk) == -1)
			lookup_finish(lk, DNS_TEMPFAIL, "out of memory");
		else
			lookup_addresses(lk);
		return;
	case ARES_ENOTFOUND:
		snprintf(error, sizeof(error), "NXDOMAIN for %.100s", lk->name);
		lookup_finish(lk, DNS_NOTFOUND, error);
		return;
	default:
		snprintf(error, sizeof(error), "MX lookup for %.60s failed: %s",
		    lk->name, ares_strerror(status));
		lookup_finish(lk, DNS_TEMPFAIL, error);
		return;
	}
	if (mx_list(lk, mx) == -1)
		lookup_finish(lk, DNS_TEMPFAIL, "out of memory");
	else if (lk->nmx == 0) {
		snprintf(error, sizeof(error), "%.90s does not accept mail (null MX)",
		    lk->name);
		lookup_finish(lk, DNS_NULLMX, error);
	} else
		lookup_addresses(lk);
	ares_free_data(mx);
}

/* An IP literal is its own next hop; 1 when name was one. */
static int
lookup_literal(struct dns_lookup *lk)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct dns_mx self;

	memset(&self, 0, sizeof(self));
	snprintf(self.name, sizeof(self.name), "%s", lk->name);
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, lk->name, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		add_host(lk, &self, (struct sockaddr *)&sin, sizeof(sin));
	} else if (inet_pton(AF_INET6, lk->name, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		add_host(lk, &self, (struct sockaddr *)&sin6, sizeof(sin6));
	} else
		return 0;
	lookup_finish(lk, DNS_OK, "");
	return 1;
}

struct dns_nomem {
	void			(*cb)(const struct dns_result *, void *);
	void			*arg;
};

static void
dns_nomem_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_nomem *n = arg;
	struct dns_result res;

	memset(&res, 0, sizeof(res));
	res.status = DNS_TEMPFAIL;
	strcpy(res.error, "out of memory");
	n->cb(&res, n->arg);
	free(n);
}

/* A look-up is a few KB; a failure report is much smaller. */
static void
dns_nomem(const char *name, void (*cb)(const struct dns_result *, void *),
    void *arg)
{
	struct timeval now = { 0, 0 };
	struct dns_nomem *n;

	log_errx("event=dns name=%s error=\"out of memory\"", name);
	if ((n = malloc(sizeof(*n))) != NULL) {
		n->cb = cb;
		n->arg = arg;
		if (event_base_once(dns_base, -1, EV_TIMEOUT, dns_nomem_cb, n,
		    &now) == 0)
			return;
		free(n);
	}
	log_errx("event=dns name=%s error=\"lookup lost: out of memory\"", name);
}

void
dns_resolve(const char *name, int mx, int port,
    void (*cb)(const struct dns_result *, void *), void *arg)
{
	struct dns_lookup *lk;

	if ((lk = calloc(1, sizeof(*lk))) == NULL) {
		dns_nomem(name, cb, arg);
		return;
	}
	event_assign(&lk->done_ev, dns_base, -1, 0, lookup_done_cb, lk);
	track(&lk->track, &lk->done_ev, lookup_track_free);
	lk->want_mx = mx;
	lk->port = port;
	lk->cb = cb;
	lk->arg = arg;
	if (strlen(name) >= sizeof(lk->name) || name[0] == '\0') {
		lookup_finish(lk, DNS_NOTFOUND, "invalid domain name");
		return;
	}
	strcpy(lk->name, name);
	if (lookup_literal(lk))
		return;
	if (dns_channel == NULL) {
		lookup_finish(lk, DNS_TEMPFAIL, "resolver not running");
		return;
	}
	if (mx)
		query_ad(name, ns_t_mx, mx_cb, lk);
	else if (lookup_self(lk) == -1)
		lookup_finish(lk, DNS_TEMPFAIL, "out of memory");
	else
		lookup_addresses(lk);
	dns_timer_update();
}

/* ---- TXT and TLSA records ---- */

struct dns_rr_query {
	struct dns_track	 track;		/* first */
	int			 type;
	void			(*txt_cb)(const struct dns_txt_result *, void *);
	void			(*tlsa_cb)(const struct dns_tlsa_result *, void *);
	void			*arg;
	struct dns_txt_result	 txt;
	struct dns_tlsa_result	 tlsa;
	struct event		 done_ev;
};

static void
rr_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_rr_query *q = arg;

	untrack(&q->track);
	if (q->type == ns_t_txt)
		q->txt_cb(&q->txt, q->arg);
	else
		q->tlsa_cb(&q->tlsa, q->arg);
	free(q);
}

static enum dns_status
status_of(int status, char *error, size_t len)
{
	if (status == ARES_SUCCESS)
		return DNS_OK;
	snprintf(error, len, "%s", ares_strerror(status));
	return status == ARES_ENOTFOUND || status == ARES_ENODATA ?
	    DNS_NOTFOUND : DNS_TEMPFAIL;
}

static void
txt_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_rr_query *q = arg;
	struct dns_txt_result *r = &q->txt;
	struct ares_txt_ext *txt = NULL;
	int ad;

	status = dns_answer_status(status, abuf, alen, &ad);
	r->secure = ad;
	if (status == ARES_SUCCESS)
		status = ares_parse_txt_reply_ext(abuf, alen, &txt);
	r->status = status_of(status, r->error, sizeof(r->error));
	if (r->status == DNS_OK)
		r->n = dns_txt_join(txt, r->records, r->lens, DNS_TXT_MAX, &r->cut);
	ares_free_data(txt);
	event_active(&q->done_ev, EV_TIMEOUT, 1);
}

static void
tlsa_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_rr_query *q = arg;
	struct dns_tlsa_result *r = &q->tlsa;
	int ad, n;

	status = dns_answer_status(status, abuf, alen, &ad);
	r->secure = ad;
	r->status = status_of(status, r->error, sizeof(r->error));
	if (r->status == DNS_OK) {
		if ((n = dns_msg_tlsa(abuf, alen, r->records, DNS_TLSA_MAX)) < 0) {
			r->status = DNS_TEMPFAIL;
			snprintf(r->error, sizeof(r->error), "malformed TLSA answer");
		} else
			r->n = n;
	}
	event_active(&q->done_ev, EV_TIMEOUT, 1);
}

static void
track_free(struct dns_track *t)
{
	free(t);	/* the track is the object's first member */
}

static struct dns_rr_query *
rr_query_new(int type, void *arg)
{
	struct dns_rr_query *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->type = type;
	q->arg = arg;
	event_assign(&q->done_ev, dns_base, -1, 0, rr_done_cb, q);
	track(&q->track, &q->done_ev, track_free);
	return q;
}

static void
rr_start(struct dns_rr_query *q, const char *name,
    void (*cb)(void *, int, int, unsigned char *, int))
{
	if (dns_channel == NULL || strlen(name) >= 256) {
		cb(q, ARES_ECONNREFUSED, 0, NULL, 0);
		return;
	}
	query_ad(name, q->type, cb, q);
	dns_timer_update();
}

void
dns_txt(const char *name, void (*cb)(const struct dns_txt_result *, void *),
    void *arg)
{
	struct dns_rr_query *q = rr_query_new(ns_t_txt, arg);

	if (q == NULL) {
		log_errx("event=dns name=%s error=\"lookup lost: out of memory\"",
		    log_str(name));
		return;
	}
	q->txt_cb = cb;
	rr_start(q, name, txt_cb);
}

void
dns_tlsa(const char *name, void (*cb)(const struct dns_tlsa_result *, void *),
    void *arg)
{
	struct dns_rr_query *q = rr_query_new(52, arg);	/* TLSA, RFC 6698 */

	if (q == NULL) {
		log_errx("event=dns name=%s error=\"lookup lost: out of memory\"",
		    log_str(name));
		return;
	}
	q->tlsa_cb = cb;
	rr_start(q, name, tlsa_cb);
}

/* ---- does the resolver validate? (blocking: dns_sync.c) ---- */

/* ---- the same, on the loop ---- */

struct probe_async {
	struct dns_track track;		/* first */
	void	(*cb)(int, const char *, void *);
	void	*arg;
	struct event done_ev;
	int	 result;
	char	 why[160];
};

static void
probe_async_done(evutil_socket_t fd, short what, void *arg)
{
	struct probe_async *p = arg;

	untrack(&p->track);
	p->cb(p->result, p->why, p->arg);
	free(p);
}

static void
probe_async_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct probe_async *p = arg;
	int ad;

	status = dns_answer_status(status, abuf, alen, &ad);
	if (status != ARES_SUCCESS) {
		p->result = -1;
		snprintf(p->why, sizeof(p->why), "the resolver did not answer for "
		    "the root (%s)", ares_strerror(status));
	} else if (!ad) {
		p->result = 0;
		snprintf(p->why, sizeof(p->why), "the resolver does not set the AD "
		    "bit: it does not validate DNSSEC");
	} else
		p->result = 1;
	event_active(&p->done_ev, EV_TIMEOUT, 1);
}

void
dns_probe_dnssec_async(void (*cb)(int, const char *, void *), void *arg)
{
	struct probe_async *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return;
	p->cb = cb;
	p->arg = arg;
	event_assign(&p->done_ev, dns_base, -1, 0, probe_async_done, p);
	track(&p->track, &p->done_ev, track_free);
	if (dns_channel == NULL) {
		probe_async_cb(p, ARES_ECONNREFUSED, 0, NULL, 0);
		return;
	}
	query_ad(".", ns_t_soa, probe_async_cb, p);
	dns_timer_update();
}
