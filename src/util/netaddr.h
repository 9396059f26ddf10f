/*
 * netaddr.h - client addresses as policy keys, and address ranges (pure).
 *
 * Owns: the key under which a client address is counted (an IPv4 address,
 * or an IPv6 address's /64: one customer's network, which hands out more
 * addresses than any limit could count), and CIDR ranges for the
 * configuration.  Not: any policy.
 */
#ifndef SUBMITD_NETADDR_H
#define SUBMITD_NETADDR_H

#include <stddef.h>

#define NETADDR_KEY_MAX	64

struct netaddr_range {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* network order, host bits cleared */
	int		 bits;
};

/*
 * The policy key of a numeric address: "192.0.2.7", or "2001:db8:1:2::/64"
 * for any address of that /64; an IPv4-mapped IPv6 address counts as its
 * IPv4 address.  0, or -1 when addr is not a numeric address.
 */
int	netaddr_key(const char *addr, char *out, size_t outsize);

/* "192.0.2.0/24", "2001:db8::/32", or a single address.  0 or -1. */
int	netaddr_parse_range(const char *s, struct netaddr_range *r);

/* Is the numeric address addr inside r? (IPv4-mapped counts as IPv4.) */
int	netaddr_in_range(const char *addr, const struct netaddr_range *r);

#endif
