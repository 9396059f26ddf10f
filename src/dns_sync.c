/*
 * dns_sync.c - blocking look-ups on a c-ares channel of their own.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include <ares.h>

#include "dns_msg.h"
#include "dns_sync.h"

struct dns_sync {
	ares_channel	 ch;
	time_t		 deadline;
};

struct answer {
	int		 done;
	int		 status;
	int		 ad;
	unsigned char	*buf;
	int		 len;
};

int
dns_answer_status(int status, const unsigned char *abuf, int alen, int *ad)
{
	struct dns_msg_info info;

	*ad = 0;
	if (status != ARES_SUCCESS)
		return status;
	if (abuf == NULL || dns_msg_header(abuf, alen, &info) == -1)
		return ARES_EBADRESP;
	*ad = info.ad;
	switch (info.rcode) {
	case 0:
		return info.ancount == 0 ? ARES_ENODATA : ARES_SUCCESS;
	case 3:
		return ARES_ENOTFOUND;
	case 2:
		return ARES_ESERVFAIL;
	case 5:
		return ARES_EREFUSED;
	default:
		return ARES_EBADRESP;
	}
}

size_t
dns_txt_join(const struct ares_txt_ext *t, char (*out)[DNS_TXT_LEN],
    size_t *lens, size_t max, int *cut)
{
	size_t n = 0;

	for (; t != NULL; t = t->next) {
		size_t take = t->length;

		if (t->record_start) {
			if (n == max)
				break;
			lens[n] = 0;
			out[n][0] = '\0';
			n++;
		} else if (n == 0)
			continue;
		if (lens[n - 1] + take >= DNS_TXT_LEN) {
			take = DNS_TXT_LEN - 1 - lens[n - 1];
			*cut = 1;
		}
		memcpy(out[n - 1] + lens[n - 1], t->txt, take);
		lens[n - 1] += take;
		out[n - 1][lens[n - 1]] = '\0';
	}
	return n;
}

struct dns_sync *
dns_sync_new(const char *servers, int seconds, char *why, size_t whylen)
{
	struct ares_options opts;
	struct dns_sync *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	memset(&opts, 0, sizeof(opts));
	opts.timeout = 2000;
	opts.tries = 2;
	if (ares_init_options(&d->ch, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) !=
	    ARES_SUCCESS) {
		snprintf(why, whylen, "cannot start a resolver");
		free(d);
		return NULL;
	}
	if (servers != NULL &&
	    ares_set_servers_ports_csv(d->ch, servers) != ARES_SUCCESS) {
		snprintf(why, whylen, "bad resolver list");
		ares_destroy(d->ch);
		free(d);
		return NULL;
	}
	d->deadline = time(NULL) + seconds;
	return d;
}

void
dns_sync_free(struct dns_sync *d)
{
	if (d == NULL)
		return;
	ares_destroy(d->ch);
	free(d);
}

static void
answer_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct answer *a = arg;

	a->status = dns_answer_status(status, abuf, alen, &a->ad);
	if (a->status == ARES_SUCCESS && (a->buf = malloc(alen)) != NULL) {
		memcpy(a->buf, abuf, alen);
		a->len = alen;
	} else if (a->status == ARES_SUCCESS)
		a->status = ARES_ENOMEM;
	a->done = 1;
	(void)timeouts;
}

/*
 * Waits for the channel's sockets (poll: a descriptor may be above
 * FD_SETSIZE in a daemon with thousands of connections) and lets c-ares
 * read or write them; at most a second at a time.
 */
static void
wait_once(struct dns_sync *d)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	struct timeval tv, max = { 1, 0 }, *tvp;
	unsigned bits;
	int i, n = 0, ms;

	/* Bit i: readable; bit i + 16: writable (ares.h's macros shift an int
	 * into its sign bit). */
	bits = (unsigned)ares_getsock(d->ch, socks, ARES_GETSOCK_MAXNUM);
	for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
		int r = (bits >> i) & 1, w = (bits >> (i + ARES_GETSOCK_MAXNUM)) & 1;

		if (!r && !w)
			continue;
		pfd[n].fd = socks[i];
		pfd[n].events = (r ? POLLIN : 0) | (w ? POLLOUT : 0);
		pfd[n].revents = 0;
		n++;
	}
	tvp = ares_timeout(d->ch, &max, &tv);
	ms = (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000);
	if (poll(pfd, n, ms) <= 0) {
		ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		return;
	}
	for (i = 0; i < n; i++)
		ares_process_fd(d->ch,
		    pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd :
		    ARES_SOCKET_BAD,
		    pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
}

/* One query, waited for until it answers or the deadline passes. */
static int
query(struct dns_sync *d, const char *name, int type, int ad, struct answer *a)
{
	unsigned char *q;
	int qlen;

	memset(a, 0, sizeof(*a));
	if (time(NULL) >= d->deadline)
		return a->status = ARES_ETIMEOUT;
	if ((a->status = ares_create_query(name, ns_c_in, type, 0, 1, &q, &qlen,
	    0)) != ARES_SUCCESS)
		return a->status;
	if (ad)
		q[3] |= 0x20;
	ares_send(d->ch, q, qlen, answer_cb, a);
	ares_free_string(q);
	while (!a->done) {
		if (time(NULL) >= d->deadline) {
			ares_cancel(d->ch);	/* answer_cb runs: done */
			break;
		}
		wait_once(d);
	}
	if (!a->done)
		a->status = ARES_ETIMEOUT;
	return a->status;
}

/* 0 for "no such records", -1 for a failure, 1 for an answer in a. */
static int
outcome(int status)
{
	if (status == ARES_SUCCESS)
		return 1;
	return status == ARES_ENOTFOUND || status == ARES_ENODATA ? 0 : -1;
}

int
dns_sync_txt(struct dns_sync *d, const char *name, char (*out)[SPF_TXT_LEN],
    size_t max)
{
	struct ares_txt_ext *txt = NULL;
	struct answer a;
	size_t lens[DNS_TXT_MAX], n, i;
	char (*recs)[DNS_TXT_LEN];
	int rc, cut = 0;

	if ((rc = outcome(query(d, name, ns_t_txt, 0, &a))) != 1)
		return rc;
	rc = ares_parse_txt_reply_ext(a.buf, a.len, &txt);
	free(a.buf);
	if (rc != ARES_SUCCESS)
		return outcome(rc);
	if ((recs = malloc(sizeof(*recs) * DNS_TXT_MAX)) == NULL) {
		ares_free_data(txt);
		return -1;
	}
	n = dns_txt_join(txt, recs, lens, max < DNS_TXT_MAX ? max : DNS_TXT_MAX,
	    &cut);
	ares_free_data(txt);
	for (i = 0; i < n; i++)
		snprintf(out[i], SPF_TXT_LEN, "%s", recs[i]);
	free(recs);
	return (int)n;
}

int
dns_sync_addrs(struct dns_sync *d, const char *name, char (*out)[SPF_ADDR_LEN],
    size_t max)
{
	struct answer a;
	size_t n = 0;
	int k, rc, failed = 0;

	for (k = 0; k < 2; k++) {
		struct ares_addrttl v4[16];
		struct ares_addr6ttl v6[16];
		int i, nv = 16;

		if ((rc = outcome(query(d, name, k == 0 ? ns_t_a : ns_t_aaaa, 0,
		    &a))) != 1) {
			failed |= rc == -1;
			continue;
		}
		if (k == 0)
			rc = ares_parse_a_reply(a.buf, a.len, NULL, v4, &nv);
		else
			rc = ares_parse_aaaa_reply(a.buf, a.len, NULL, v6, &nv);
		free(a.buf);
		if (rc != ARES_SUCCESS) {
			failed |= outcome(rc) == -1;
			continue;
		}
		for (i = 0; i < nv && n < max; i++, n++)
			if (k == 0)
				inet_ntop(AF_INET, &v4[i].ipaddr, out[n], SPF_ADDR_LEN);
			else
				inet_ntop(AF_INET6, &v6[i].ip6addr, out[n], SPF_ADDR_LEN);
	}
	return n == 0 && failed ? -1 : (int)n;
}

int
dns_sync_mx(struct dns_sync *d, const char *name, char (*out)[SPF_NAME_LEN],
    size_t max)
{
	struct ares_mx_reply *mx = NULL, *m;
	struct answer a;
	size_t n = 0;
	int rc;

	if ((rc = outcome(query(d, name, ns_t_mx, 0, &a))) != 1)
		return rc;
	rc = ares_parse_mx_reply(a.buf, a.len, &mx);
	free(a.buf);
	if (rc != ARES_SUCCESS)
		return outcome(rc);
	/* Preference order does not matter to SPF; the first max do. */
	for (m = mx; m != NULL && n < max; m = m->next)
		snprintf(out[n++], SPF_NAME_LEN, "%s", m->host);
	ares_free_data(mx);
	return (int)n;
}

int
dns_probe_dnssec(const char *servers, char *why, size_t whylen)
{
	struct dns_sync *d;
	struct answer a;
	int status;

	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		snprintf(why, whylen, "cannot start a resolver");
		return -1;
	}
	if ((d = dns_sync_new(servers, 10, why, whylen)) == NULL) {
		ares_library_cleanup();
		return -1;
	}
	/* The root is signed; a validating resolver says so of its SOA. */
	status = query(d, ".", ns_t_soa, 1, &a);
	free(a.buf);
	dns_sync_free(d);
	ares_library_cleanup();
	if (status != ARES_SUCCESS) {
		snprintf(why, whylen, "the resolver did not answer for the root "
		    "(%s)", ares_strerror(status));
		return -1;
	}
	if (!a.ad) {
		snprintf(why, whylen, "the resolver does not set the AD bit: it "
		    "does not validate DNSSEC");
		return 0;
	}
	return 1;
}
