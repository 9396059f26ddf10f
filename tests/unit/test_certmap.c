/*
 * test_certmap.c - unit tests of the client_map line parser and lookup
 * (src/certmap.c).
 */
#include <stdio.h>
#include <string.h>

#include "certmap.h"
#include "check.h"

#define FP "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define FP_COLONS "9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:" \
	"2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"

static void
line(const char *in, int want, int kind, const char *key, const char *login)
{
	struct certmap_entry e;
	const char *why = NULL;
	int rc = certmap_parse_line(in, strlen(in), &e, &why);

	if (want == 1)
		CHECK(rc == 1 && (int)e.kind == kind && strcmp(e.key, key) == 0 &&
		    strcmp(e.login, login) == 0, "line %zu octets -> %s %s",
		    strlen(in), key, login);
	else
		CHECK(rc == want && (want == 0 || why != NULL),
		    "line %zu octets -> %d (%s)", strlen(in), rc, why ? why : "");
}

int
main(void)
{
	struct certmap_entry m[3];
	const char *why;

	line(FP " backup@example.test", 1, CERTMAP_FP, FP, "backup@example.test");
	line(FP_COLONS "\tbackup@example.test\r\n", 1, CERTMAP_FP, FP,
	    "backup@example.test");
	line("CN=build server 3   ci@example.test", 1, CERTMAP_CN,
	    "build server 3", "ci@example.test");
	line("cn=x y@example.test", 1, CERTMAP_CN, "x", "y@example.test");
	line("", 0, 0, NULL, NULL);
	line("   # comment", 0, 0, NULL, NULL);
	line(FP, -1, 0, NULL, NULL);
	line("ABCD x@example.test", -1, 0, NULL, NULL);
	line(FP "00 x@example.test", -1, 0, NULL, NULL);
	line(FP " not-an-address", -1, 0, NULL, NULL);
	line("CN= x@example.test", -1, 0, NULL, NULL);
	line("CN=a b", -1, 0, NULL, NULL);
	line("zz" FP " x@example.test", -1, 0, NULL, NULL);

#define L(x)	x, strlen(x)
	certmap_parse_line(L("CN=box a@example.test"), &m[0], &why);
	certmap_parse_line(L(FP " b@example.test"), &m[1], &why);
	certmap_parse_line(L("CN=other c@example.test"), &m[2], &why);
	CHECK(strcmp(certmap_lookup(m, 3, FP, "box"), "b@example.test") == 0,
	    "fingerprint first");
	CHECK(strcmp(certmap_lookup(m, 3, "00", "box"), "a@example.test") == 0,
	    "then CN");
	CHECK(certmap_lookup(m, 3, "00", NULL) == NULL, "no CN, no match");
	CHECK(certmap_lookup(m, 3, NULL, "nobody") == NULL, "unmapped");
	printf("1..%d\n", tests);
	return failures != 0;
}
