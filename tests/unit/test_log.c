/*
 * test_log.c - unit tests of the escaping of logged values (src/log.c):
 * what a client chooses can never end a key=value pair or start another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "log.h"

#define S(x)	x, sizeof(x) - 1

static void
esc(const char *in, size_t len, const char *want)
{
	char out[4 * LOG_VALUE_MAX + 8];

	log_escape(out, sizeof(out), in, len);
	CHECK(strcmp(out, want) == 0, "escape -> %s (got %s)", want, out);
}

int
main(void)
{
	char big[LOG_VALUE_MAX + 10], want[LOG_VALUE_MAX + 10];
	const char *v[LOG_RING];
	char small[16];
	int i, distinct = 1;

	esc(S("alice@example.test"), "alice@example.test");
	esc(S("<bob@example.org>"), "<bob@example.org>");
	esc(S(""), "\"\"");
	esc(S("a b"), "\"a b\"");
	esc(S("x result=bounced"), "\"x result=bounced\"");
	esc(S("a=b"), "\"a=b\"");
	esc(S("a\"b"), "\"a\\\"b\"");
	esc(S("a\\b"), "\"a\\\\b\"");
	esc(S("tab\there"), "\"tab\\x09here\"");
	esc(S("nl\r\nnext=1"), "\"nl\\x0d\\x0anext=1\"");
	esc(S("nul\0x"), "\"nul\\x00x\"");
	esc(S("\xc3\xa9t\xc3\xa9"), "\"\\xc3\\xa9t\\xc3\\xa9\"");
	esc(S("\x7f"), "\"\\x7f\"");
	memset(big, 'a', sizeof(big));
	memset(want, 'a', sizeof(want));
	want[0] = '"';
	memcpy(want + 1 + LOG_VALUE_MAX, "...\"", 5);
	esc(big, sizeof(big), want);
	CHECK(log_escape(small, sizeof(small), "abc", 3) == 0 && small[0] == '\0',
	    "an output buffer too small for the worst case gets nothing");

	CHECK(strcmp(log_str(NULL), "-") == 0, "NULL is -");
	CHECK(strcmp(log_addr(""), "<>") == 0, "the null sender is <>");
	CHECK(strcmp(log_addr("\"a b\"@x"), "\"<\\\"a b\\\"@x>\"") == 0,
	    "an address with a quoted local part is quoted whole");
	for (i = 0; i < LOG_RING; i++) {
		char s[8];

		snprintf(s, sizeof(s), "v%d", i);
		v[i] = log_str(s);
	}
	for (i = 0; i < LOG_RING; i++) {
		char s[8];

		snprintf(s, sizeof(s), "v%d", i);
		distinct &= strcmp(v[i], s) == 0;
	}
	CHECK(distinct, "%d values of one call stay valid together", LOG_RING);

	printf("1..%d\n", tests);
	return failures ? 1 : 0;
}
