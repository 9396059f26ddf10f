/*
 * fuzz_jwt.c - libFuzzer entry point for JWT and JWKS parsing (src/jwt.c).
 * The input is tried as a compact token and as a key set.  Checks: a token
 * that parses has one of our algorithms, a login, and a signed part inside
 * the input; every key kept has the sizes its kind needs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jwk keys[JWK_MAX];
	static struct jwt j;
	const char *why;
	char *buf = malloc(size > 0 ? size : 1);
	int n, i;

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	if (jwt_parse(buf, size, "email", &j, &why) == 0) {
		if (!jwt_alg_fits(j.alg, JWK_RSA) && !jwt_alg_fits(j.alg, JWK_EC_P256) &&
		    !jwt_alg_fits(j.alg, JWK_ED25519))
			abort();
		if (j.login[0] == '\0' || j.input_len >= size || j.siglen == 0)
			abort();
		(void)jwt_check_claims(&j, "i", "a", 0, 60, &why);
	}
	n = jwks_parse(buf, size, keys, JWK_MAX, &why);
	for (i = 0; i < n; i++)
		if ((keys[i].kind == JWK_RSA && (keys[i].nlen < 256 ||
		    keys[i].nlen > JWK_PARAM_MAX || keys[i].elen == 0)))
			abort();
	free(buf);
	return 0;
}
