/*
 * dns.h - asynchronous MX and address look-ups (c-ares on the event loop).
 *
 * Owns: the resolver channel, its sockets and timers on libevent, and
 * turning answers into a list of next-hop addresses in the order RFC 5321
 * §5.1 wants them tried.  Not: connecting or deciding what to do on failure.
 */
#ifndef SUBMITD_DNS_H
#define SUBMITD_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "dns_msg.h"

struct event_base;

#define DNS_HOSTS_MAX	16	/* next-hop addresses kept per look-up */

enum dns_status {
	DNS_OK,
	DNS_TEMPFAIL,		/* SERVFAIL, timeout: try again later */
	DNS_NOTFOUND,		/* NXDOMAIN or no usable address: permanent */
	DNS_NULLMX,		/* RFC 7505: the domain accepts no mail */
};

struct dns_host {
	char			 name[256];	/* the MX (or host) name */
	int			 preference;	/* MX preference, 0 for A/AAAA */
	int			 secure;	/* its addresses were validated */
	struct sockaddr_storage	 addr;		/* port already set */
	socklen_t		 addrlen;
};

struct dns_result {
	enum dns_status		 status;
	int			 mx_secure;	/* the MX answer was validated */
	char			 error[128];	/* for the log and the DSN */
	size_t			 nhosts;
	struct dns_host		 hosts[DNS_HOSTS_MAX];
};

/*
 * servers: NULL for /etc/resolv.conf, else a c-ares CSV list such as
 * "127.0.0.1:5353".  Returns -1 (logged) on failure.
 */
int	dns_init(struct event_base *, const char *servers);
void	dns_shutdown(void);

/*
 * Resolves the next hops for name: with mx set, its MX records in
 * preference order (equal preferences shuffled), each MX's IPv4 and IPv6
 * addresses, falling back to name's own A/AAAA when there is no MX
 * (RFC 5321 §5.1); a null MX gives DNS_NULLMX.  Without mx, name's own
 * addresses.  A name that is an IP literal resolves to itself.  Every
 * address gets port.  cb runs later on the loop, never from inside this call.
 */
void	dns_resolve(const char *name, int mx, int port,
	    void (*cb)(const struct dns_result *, void *), void *arg);

#define DNS_TXT_MAX	8
#define DNS_TXT_LEN	1024

struct dns_txt_result {
	enum dns_status		 status;
	int			 secure;
	size_t			 n;
	char			 records[DNS_TXT_MAX][DNS_TXT_LEN];	/* joined */
	size_t			 lens[DNS_TXT_MAX];
	int			 cut;		/* a record was longer: cut */
	char			 error[128];
};

struct dns_tlsa_result {
	enum dns_status		 status;	/* NOTFOUND: NXDOMAIN or no data */
	int			 secure;	/* the answer (or denial) validated */
	size_t			 n;
	struct dns_tlsa		 records[DNS_TLSA_MAX];
	char			 error[128];
};

/* TXT records of name; cb runs on the loop, never from inside. */
void	dns_txt(const char *name,
	    void (*cb)(const struct dns_txt_result *, void *), void *arg);
/* TLSA records of name ("_25._tcp.mx.example"), with the AD bit. */
void	dns_tlsa(const char *name,
	    void (*cb)(const struct dns_tlsa_result *, void *), void *arg);

/*
 * Does the resolver validate DNSSEC (the AD bit on the root's SOA)?  As
 * dns_probe_dnssec (dns_sync.h), on the loop: cb(result, why, arg) later,
 * never from inside.
 */
void	dns_probe_dnssec_async(void (*cb)(int, const char *, void *), void *arg);

#endif
