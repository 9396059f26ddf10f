/*
 * test_jwt.c - unit tests of JWT and JWKS parsing (src/jwt.c): base64url,
 * the header rules (alg among ours, never "none", no "crit"), the claims,
 * and which keys of a set are kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jwt.h"

static void
b64url(const char *in, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t len = strlen(in), i, n = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 |
		    (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];

		out[n++] = a[v >> 18];
		out[n++] = a[(v >> 12) & 63];
		out[n++] = a[(v >> 6) & 63];
		out[n++] = a[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned char)in[i] << 16;

		out[n++] = a[v >> 18];
		out[n++] = a[(v >> 12) & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;

		out[n++] = a[v >> 18];
		out[n++] = a[(v >> 12) & 63];
		out[n++] = a[(v >> 6) & 63];
	}
	out[n] = '\0';
}

/* header.claims.signature from JSON texts. */
static const char *
token(const char *hdr, const char *claims, const char *sig)
{
	static char tok[4096];
	char a[1024], b[2048], c[512];

	b64url(hdr, a);
	b64url(claims, b);
	b64url(sig, c);
	snprintf(tok, sizeof(tok), "%s.%s.%s", a, b, c);
	return tok;
}

static void
parse(const char *what, const char *tok, int want, const char *why_part)
{
	struct jwt *j = malloc(sizeof(*j));
	const char *why = "";
	int rc = jwt_parse(tok, strlen(tok), "email", j, &why);

	CHECK(rc == want && (want == 0 || strstr(why, why_part) != NULL),
	    "%s: %d (%s)", what, rc, rc ? why : "ok");
	free(j);
}

#define CLAIMS "{\"iss\":\"https://idp\",\"aud\":[\"smtp\",\"x\"]," \
	"\"email\":\"a@example.test\",\"exp\":2000000000}"

int
main(void)
{
	unsigned char out[64];
	struct jwk *keys = calloc(JWK_MAX, sizeof(*keys));
	struct jwt *j = calloc(1, sizeof(*j));
	const char *why = "", *tok;
	char n256[200], big[400];
	int n;

	CHECK(jwt_b64url_decode("aGk", 3, out, sizeof(out)) == 2 &&
	    memcmp(out, "hi", 2) == 0, "base64url without padding");
	CHECK(jwt_b64url_decode("aGk=", 4, out, sizeof(out)) == -1, "no padding");
	CHECK(jwt_b64url_decode("a+8", 3, out, sizeof(out)) == -1, "no '+'");
	CHECK(jwt_b64url_decode("aGl", 3, out, sizeof(out)) == -1,
	    "non-zero padding bits");
	CHECK(jwt_b64url_decode("a", 1, out, sizeof(out)) == -1, "one char");
	CHECK(jwt_b64url_decode("aGk", 3, out, 1) == -1, "no room");

	tok = token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", CLAIMS, "sig");
	CHECK(jwt_parse(tok, strlen(tok), "email", j, &why) == 0 &&
	    strcmp(j->alg, "RS256") == 0 && strcmp(j->kid, "k1") == 0 &&
	    strcmp(j->iss, "https://idp") == 0 && j->naud == 2 &&
	    strcmp(j->login, "a@example.test") == 0 && j->exp == 2000000000 &&
	    j->siglen == 3 && j->input_len == (size_t)(strrchr(tok, '.') - tok),
	    "a good token");
	CHECK(jwt_check_claims(j, "https://idp", "smtp", 1999999000, 60, &why) == 0,
	    "claims hold");
	CHECK(jwt_check_claims(j, "https://idp", "smtp", 2000000060, 60, &why) == -1 &&
	    strstr(why, "expired"), "expired past the skew");
	CHECK(jwt_check_claims(j, "https://idp", "smtp", 2000000059, 60, &why) == 0,
	    "within the skew");
	CHECK(jwt_check_claims(j, "https://other", "smtp", 0, 60, &why) == -1,
	    "another issuer");
	CHECK(jwt_check_claims(j, "https://idp", "imap", 0, 60, &why) == -1,
	    "another audience");

	parse("alg none", token("{\"alg\":\"none\"}", CLAIMS, "x"), -1, "alg");
	parse("alg HS256", token("{\"alg\":\"HS256\"}", CLAIMS, "x"), -1, "alg");
	parse("no alg", token("{\"kid\":\"k\"}", CLAIMS, "x"), -1, "alg");
	parse("crit", token("{\"alg\":\"ES256\",\"crit\":[\"b64\"]}", CLAIMS, "x"),
	    -1, "unsupported");
	parse("no signature", "eyJhbGciOiJSUzI1NiJ9.e30.", -1, "signature");
	parse("four parts", "a.b.c.d", -1, "not a signed JWT");
	parse("two parts", "a.b", -1, "not a signed JWT");
	parse("header not an object", token("[1]", CLAIMS, "x"), -1, "JSON");
	parse("duplicate keys", token("{\"alg\":\"RS256\",\"alg\":\"none\"}", CLAIMS,
	    "x"), -1, "JSON");
	parse("no exp", token("{\"alg\":\"RS256\"}", "{\"iss\":\"i\",\"email\":\"a@b\"}",
	    "x"), -1, "exp");
	parse("exp a string", token("{\"alg\":\"RS256\"}", "{\"iss\":\"i\","
	    "\"email\":\"a@b\",\"exp\":\"soon\"}", "x"), -1, "exp");
	parse("no login claim", token("{\"alg\":\"RS256\"}", "{\"iss\":\"i\","
	    "\"exp\":1}", "x"), -1, "login");
	parse("login claim not a string", token("{\"alg\":\"EdDSA\"}", "{\"iss\":\"i\","
	    "\"exp\":1,\"email\":7}", "x"), -1, "login");
	parse("aud of numbers", token("{\"alg\":\"RS256\"}", "{\"iss\":\"i\","
	    "\"exp\":1,\"email\":\"a@b\",\"aud\":[1]}", "x"), -1, "aud");
	parse("NUL in the login", token("{\"alg\":\"RS256\"}", "{\"iss\":\"i\","
	    "\"exp\":1,\"email\":\"a\\u0000@b\"}", "x"), -1, "JSON");

	/* Key sets. */
	memset(big, 'A', 342);		/* 2048 bits: 256 octets, 342 characters */
	big[342] = '\0';
	memset(n256, 'A', 170);		/* 1024 bits */
	n256[170] = '\0';
	{
		static char set[8192];

		snprintf(set, sizeof(set), "{\"keys\":["
		    "{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"%s\",\"e\":\"AQAB\"},"
		    "{\"kty\":\"RSA\",\"kid\":\"short\",\"n\":\"%s\",\"e\":\"AQAB\"},"
		    "{\"kty\":\"RSA\",\"kid\":\"enc\",\"use\":\"enc\",\"n\":\"%s\","
		    "\"e\":\"AQAB\"},"
		    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e\",\"x\":"
		    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"y\":"
		    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
		    "{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p384\"},"
		    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"d\",\"x\":"
		    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
		    "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},"
		    "{\"kty\":\"RSA\",\"kid\":\"wrongalg\",\"alg\":\"PS256\",\"n\":\"%s\","
		    "\"e\":\"AQAB\"}]}", big, n256, big, big);
		n = jwks_parse(set, strlen(set), keys, JWK_MAX, &why);
		CHECK(n == 3 && keys[0].kind == JWK_RSA && keys[0].nlen == 256 &&
		    strcmp(keys[0].kid, "r") == 0 && keys[1].kind == JWK_EC_P256 &&
		    keys[2].kind == JWK_ED25519, "the set's usable keys (%d)", n);
	}
	CHECK(jwks_parse("{\"keys\":[{\"kty\":\"oct\"}]}", 24, keys, JWK_MAX, &why)
	    == -1, "no usable key");
	CHECK(jwks_parse("[]", 2, keys, JWK_MAX, &why) == -1, "not a set");
	CHECK(jwks_parse("{", 1, keys, JWK_MAX, &why) == -1, "not JSON");
	CHECK(jwt_alg_fits("RS256", JWK_RSA) && !jwt_alg_fits("RS256", JWK_EC_P256) &&
	    jwt_alg_fits("EdDSA", JWK_ED25519) && !jwt_alg_fits("HS256", JWK_RSA),
	    "alg goes with the key's kind");
	free(keys);
	free(j);
	printf("1..%d\n", tests);
	return failures != 0;
}
