/*
 * test_netaddr.c - unit tests of client address keys and ranges
 * (src/util/netaddr.c).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "util/netaddr.h"

static void
key(const char *addr, const char *want)
{
	char out[NETADDR_KEY_MAX];
	int rc = netaddr_key(addr, out, sizeof(out));

	if (want == NULL)
		CHECK(rc == -1, "no key for %s", addr);
	else
		CHECK(rc == 0 && strcmp(out, want) == 0, "key of %s is %s (got %s)",
		    addr, want, rc == 0 ? out : "none");
}

static void
in(const char *range, const char *addr, int want)
{
	struct netaddr_range r;

	CHECK(netaddr_parse_range(range, &r) == 0 &&
	    netaddr_in_range(addr, &r) == want, "%s %s %s", addr,
	    want ? "in" : "not in", range);
}

static void
bad(const char *range)
{
	struct netaddr_range r;

	CHECK(netaddr_parse_range(range, &r) == -1, "range %s refused", range);
}

int
main(void)
{
	char small[8];

	key("192.0.2.7", "192.0.2.7");
	key("::1", "::/64");
	key("2001:db8:1:2::10", "2001:db8:1:2::/64");
	key("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64");
	key("2001:db8:1:3::10", "2001:db8:1:3::/64");
	key("::ffff:192.0.2.7", "192.0.2.7");
	key("junk", NULL);
	key("", NULL);
	key("192.0.2.256", NULL);
	CHECK(netaddr_key("2001:db8:1:2::10", small, sizeof(small)) == -1,
	    "a key that does not fit is refused");

	in("192.0.2.0/24", "192.0.2.99", 1);
	in("192.0.2.0/24", "192.0.3.1", 0);
	in("192.0.2.77/24", "192.0.2.1", 1);	/* host bits ignored */
	in("10.0.0.1", "10.0.0.1", 1);
	in("10.0.0.1", "10.0.0.2", 0);
	in("0.0.0.0/0", "203.0.113.5", 1);
	in("2001:db8::/32", "2001:db8:ffff::1", 1);
	in("2001:db8::/32", "2001:db9::1", 0);
	in("2001:db8::/33", "2001:db8:8000::1", 0);
	in("192.0.2.0/24", "::ffff:192.0.2.9", 1);
	in("192.0.2.0/24", "2001:db8::1", 0);
	in("::/0", "192.0.2.1", 0);
	bad("/24");
	bad("10.0.0.0/33");
	bad("2001:db8::/129");
	bad("10.0.0.0/");
	bad("10.0.0.0/x");
	bad("10.0.0.0/-1");
	bad("10.0.0.0/24x");
	bad("example.test/24");
	bad("");

	printf("1..%d\n", tests);
	return failures ? 1 : 0;
}
