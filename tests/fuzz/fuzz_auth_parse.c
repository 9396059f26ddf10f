/*
 * fuzz_auth_parse.c - libFuzzer entry point for the SASL message parser.
 *
 * The first byte picks a mechanism, the rest is the client's message,
 * copied to a heap buffer of exactly its size.  Besides the sanitizers it
 * checks what the lock-out relies on, and abort()s otherwise: a login found
 * is NUL-terminated, non-empty and lowercase within its buffer; a SCRAM
 * nonce lies inside the message; a final message built from a parsed
 * first one with a proof parses.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const mechs[] = {
	"PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "OTHER",
};

static void
check_login(const char *out, size_t outsize)
{
	const char *nul = memchr(out, '\0', outsize);
	const char *p;

	if (nul == NULL || nul == out)
		abort();
	for (p = out; p < nul; p++)
		if (isupper((unsigned char)*p))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[256], user[256], final[1024];
	const char *mech, *nonce;
	size_t noncelen;
	char *buf;

	if (size == 0)
		return 0;
	mech = mechs[data[0] % (sizeof(mechs) / sizeof(mechs[0]))];
	size--;
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data + 1, size);
	memset(out, 0xa5, sizeof(out));
	if (auth_parse_login(mech, buf, size, out, sizeof(out)) == 0)
		check_login(out, sizeof(out));
	memset(user, 0xa5, sizeof(user));
	if (auth_parse_scram_first(buf, size, user, sizeof(user), &nonce,
	    &noncelen) == 0) {
		int n;

		if (memchr(user, '\0', sizeof(user)) == NULL || noncelen == 0 ||
		    nonce < buf || nonce + noncelen > buf + size)
			abort();
		n = snprintf(final, sizeof(final), "c=biws,r=%.*s,p=cHJvb2Y=",
		    (int)noncelen, nonce);
		if (n > 0 && (size_t)n < sizeof(final) &&
		    auth_parse_scram_final(final, n, nonce, noncelen) != 0)
			abort();
		if (auth_parse_scram_final(buf, size, nonce, noncelen) == 0 &&
		    size >= 2 && memcmp(buf, "c=", 2) != 0)
			abort();
	}
	/* As a final message against a nonce taken from itself. */
	if (size > 4)
		(void)auth_parse_scram_final(buf, size, buf + 2, size / 4);
	free(buf);
	return 0;
}
