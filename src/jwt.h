/*
 * jwt.h - JSON Web Tokens (RFC 7519) and key sets (RFC 7517) for OAuth
 * logins (RFC 7628): the pure half, parsing with jansson.
 *
 * Owns: splitting a compact JWS (RFC 7515 §7.1), decoding its header and
 * claims, the claim checks (iss, aud, exp, nbf), and reading a JWKS into
 * raw key parameters.  Not: signatures (oauth.c, OpenSSL) or where keys
 * come from.  Every input may be hostile: sizes are bounded, and a token
 * whose header or claims are not what a signed access token holds is
 * refused before any key is looked at.
 */
#ifndef SUBMITD_JWT_H
#define SUBMITD_JWT_H

#include <stddef.h>
#include <time.h>

#include "smtp_parse.h"

#define JWT_MAX		8192	/* octets of a token */
#define JWT_AUD_MAX	8
#define JWT_STR_MAX	256
#define JWK_MAX		16	/* keys kept from a set */
#define JWK_PARAM_MAX	1024	/* octets of n (RSA 8192) */

enum jwk_kind {
	JWK_RSA,		/* RS256 */
	JWK_EC_P256,		/* ES256 */
	JWK_ED25519,		/* EdDSA */
};

struct jwk {
	enum jwk_kind	 kind;
	char		 kid[JWT_STR_MAX];
	unsigned char	 n[JWK_PARAM_MAX], e[16];	/* RSA */
	size_t		 nlen, elen;
	unsigned char	 x[32], y[32];			/* EC (x, y), OKP (x) */
};

struct jwt {
	char		 alg[16];		/* "RS256", "ES256", "EdDSA" */
	char		 kid[JWT_STR_MAX];	/* "" when none */
	char		 iss[JWT_STR_MAX];
	char		 aud[JWT_AUD_MAX][JWT_STR_MAX];
	size_t		 naud;
	long long	 exp, nbf;
	int		 has_nbf;
	char		 login[SMTP_ADDR_MAX + 1];	/* the login claim */
	size_t		 input_len;	/* the signed part: token[0..input_len) */
	unsigned char	 sig[JWK_PARAM_MAX];
	size_t		 siglen;
};

/*
 * The keys of a JWK Set: RSA, EC P-256 and OKP Ed25519 keys for signing
 * ("use" absent or "sig"), others skipped.  The count, or -1 with *why.
 */
int	jwks_parse(const char *json, size_t len, struct jwk *keys, size_t max,
	    const char **why);
/*
 * A token: its header (alg one of ours, never "none"; no "crit"), claims
 * (exp required; iss, aud and login_claim strings), signature decoded.
 * 0, or -1 with *why.
 */
int	jwt_parse(const char *tok, size_t len, const char *login_claim,
	    struct jwt *j, const char **why);
/* iss, aud, exp and nbf against now with skew seconds.  0, or -1 with *why. */
int	jwt_check_claims(const struct jwt *, const char *issuer,
	    const char *audience, time_t now, int skew, const char **why);
/* Does alg go with the key's kind? */
int	jwt_alg_fits(const char *alg, enum jwk_kind kind);
/* base64url without padding (RFC 7515 §2): the length, or -1. */
long	jwt_b64url_decode(const char *in, size_t len, unsigned char *out,
	    size_t outsize);

#endif
