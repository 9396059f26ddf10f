/*
 * test_auth_parse.c - unit tests of the SASL message parser (src/auth_parse.c).
 *
 * Inputs are copied to heap buffers of exactly their length (no NUL), so
 * AddressSanitizer sees any read outside them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_parse.h"
#include "check.h"

#define S(x)	x, sizeof(x) - 1

static char *
dup_range(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		exit(2);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}

static void
login(const char *mech, const char *in, size_t len, const char *want)
{
	char out[64], *p = dup_range(in, len);
	int rc = auth_parse_login(mech, p, len, out, sizeof(out));

	if (want == NULL)
		CHECK(rc == -1, "%s: no login in %zu octets", mech, len);
	else
		CHECK(rc == 0 && strcmp(out, want) == 0, "%s: login %s (got %s)",
		    mech, want, rc == 0 ? out : "none");
	free(p);
}

static void
first(const char *in, size_t len, const char *user, const char *nonce)
{
	char out[64], *p = dup_range(in, len);
	const char *n = NULL;
	size_t nlen = 0;
	int rc = auth_parse_scram_first(p, len, out, sizeof(out), &n, &nlen);

	if (user == NULL)
		CHECK(rc == -1, "scram first refused: %.*s", (int)len, in);
	else
		CHECK(rc == 0 && strcmp(out, user) == 0 && nlen == strlen(nonce) &&
		    memcmp(n, nonce, nlen) == 0, "scram first %.*s -> %s %s",
		    (int)len, in, user, nonce);
	free(p);
}

static void
final(const char *in, size_t len, const char *nonce, int ok)
{
	char *p = dup_range(in, len);
	int rc = auth_parse_scram_final(p, len, nonce, strlen(nonce));

	CHECK(rc == (ok ? 0 : -1), "scram final %s: %.*s", ok ? "ok" : "refused",
	    (int)len, in);
	free(p);
}

int
main(void)
{
	char longname[80];

	/* RFC 4616 PLAIN: [authzid] NUL authcid NUL passwd */
	login("PLAIN", S("\0alice@example.test\0pw"), "alice@example.test");
	login("plain", S("authz\0Alice@EXAMPLE.test\0pw"), "alice@example.test");
	login("PLAIN", S("\0alice@example.test"), NULL);
	login("PLAIN", S(""), NULL);
	login("PLAIN", S("\0\0pw"), NULL);
	login("PLAIN", S("no nul at all"), NULL);
	/* LOGIN: the whole first message, cut at a NUL as SASL would */
	login("LOGIN", S("Bob@Example.Test"), "bob@example.test");
	login("LOGIN", S("alice@example.test\0ignored"), "alice@example.test");
	login("LOGIN", S(""), NULL);
	login("LOGIN", S("\0alice"), NULL);
	memset(longname, 'a', sizeof(longname));
	login("LOGIN", longname, sizeof(longname), NULL);
	/* SCRAM */
	login("SCRAM-SHA-256", S("n,,n=Alice@example.test,r=abc"),
	    "alice@example.test");
	login("SCRAM-SHA-1", S("y,,n=bob,r=x"), "bob");
	login("SCRAM-SHA-256", S("p=tls-unique,,n=bob,r=x"), NULL);
	/* CRAM-MD5: user SP digest, the user may hold spaces */
	login("CRAM-MD5", S("alice@example.test 0123456789abcdef"),
	    "alice@example.test");
	login("CRAM-MD5", S("a b c"), "a b");
	login("CRAM-MD5", S("nospace"), NULL);
	login("GSSAPI", S("whatever"), NULL);
	login("PLAIN", NULL, 0, NULL);

	first(S("n,,n=alice,r=abc"), "alice", "abc");
	first(S("n,a=admin,n=bob,r=xyz"), "bob", "xyz");
	first(S("n,,n=a=2Cb=3Dc,r=n0nce"), "a,b=c", "n0nce");
	first(S("n,,n=a,r=x,e=1,f=2"), "a", "x");
	first(S("n,,n=bad=41,r=x"), NULL, NULL);
	first(S("n,,n=trail=2,r=x"), NULL, NULL);
	first(S("n,,n=trail=,r=x"), NULL, NULL);
	first(S("n,,m=ext,n=a,r=x"), NULL, NULL);
	first(S("n,,n=a,r="), NULL, NULL);
	first(S("n,,n=a,r=x,"), NULL, NULL);
	first(S("n,,n=,r=x"), NULL, NULL);
	first(S("n,,r=x,n=a"), NULL, NULL);
	first(S("x,,n=a,r=x"), NULL, NULL);
	first(S("n,"), NULL, NULL);
	first(S("n"), NULL, NULL);
	first(S(""), NULL, NULL);
	first(S("n,,n=a,r=x y"), NULL, NULL);
	first(S("n,,n=a\0b,r=x"), NULL, NULL);

	final(S("c=biws,r=NONCE,p=abc"), "NONCE", 1);
	final(S("c=biws,r=NONCE,x=1,p=abc"), "NONCE", 1);
	final(S("c=biws,r=OTHER,p=abc"), "NONCE", 0);
	final(S("c=biws,r=NONCE"), "NONCE", 0);
	final(S("c=biws,r=NONCE,p="), "NONCE", 0);
	final(S("c=biws,r=NONCE,p=abc,x=1"), "NONCE", 0);
	final(S("r=NONCE,c=biws,p=abc"), "NONCE", 0);
	final(S("c=biws,r=NONCEX,p=abc"), "NONCE", 0);
	final(S(""), "NONCE", 0);

	printf("1..%d\n", tests);
	return failures ? 1 : 0;
}
