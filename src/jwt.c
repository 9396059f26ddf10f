/*
 * jwt.c - compact JWS and JWK Sets (RFC 7515, 7517, 7519), parsed with
 * jansson; no signatures here (oauth.c).
 */
#include <string.h>

#include <jansson.h>

#include "jwt.h"

long
jwt_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outsize)
{
	unsigned long acc = 0;
	size_t i, n = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)in[i], v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return -1;	/* no padding, no standard alphabet */
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == outsize)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1UL << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;	/* non-zero padding bits: not canonical */
	return (long)n;
}

/* A string member of at most size - 1 octets, no NUL: 1, 0 absent, -1. */
static int
get_str(json_t *obj, const char *key, char *out, size_t size)
{
	json_t *v = json_object_get(obj, key);
	size_t len;

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || (len = json_string_length(v)) >= size ||
	    memchr(json_string_value(v), '\0', len) != NULL)
		return -1;
	memcpy(out, json_string_value(v), len);
	out[len] = '\0';
	return 1;
}

/* A base64url member decoded: its length, or -1 (absent, bad, too long). */
static long
get_b64(json_t *obj, const char *key, unsigned char *out, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return -1;
	return jwt_b64url_decode(json_string_value(v), json_string_length(v), out,
	    size);
}

static json_t *
decode_json(const char *b64, size_t len)
{
	unsigned char buf[JWT_MAX];
	long n = jwt_b64url_decode(b64, len, buf, sizeof(buf));
	json_t *j;

	if (n <= 0)
		return NULL;
	j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int
jwks_parse(const char *json, size_t len, struct jwk *keys, size_t max,
    const char **why)
{
	json_t *root, *arr, *k;
	size_t i, n = 0;

	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL)) == NULL) {
		*why = "not JSON";
		return -1;
	}
	if (!json_is_array(arr = json_object_get(root, "keys"))) {
		json_decref(root);
		*why = "no \"keys\" array";
		return -1;
	}
	json_array_foreach(arr, i, k) {
		struct jwk *key = &keys[n];
		char kty[16], crv[16], use[16], alg[16];
		long a, b;

		if (n == max || !json_is_object(k))
			break;
		memset(key, 0, sizeof(*key));
		if (get_str(k, "kty", kty, sizeof(kty)) != 1 ||
		    get_str(k, "kid", key->kid, sizeof(key->kid)) == -1 ||
		    get_str(k, "use", use, sizeof(use)) == -1 ||
		    (get_str(k, "use", use, sizeof(use)) == 1 &&
		    strcmp(use, "sig") != 0))
			continue;
		if (get_str(k, "alg", alg, sizeof(alg)) != 1)
			alg[0] = '\0';
		if (strcmp(kty, "RSA") == 0) {
			a = get_b64(k, "n", key->n, sizeof(key->n));
			b = get_b64(k, "e", key->e, sizeof(key->e));
			if (a < 256 || b < 1 || (alg[0] && strcmp(alg, "RS256")))
				continue;	/* under 2048 bits: not ours */
			key->kind = JWK_RSA;
			key->nlen = (size_t)a;
			key->elen = (size_t)b;
		} else if (strcmp(kty, "EC") == 0) {
			if (get_str(k, "crv", crv, sizeof(crv)) != 1 ||
			    strcmp(crv, "P-256") != 0 ||
			    get_b64(k, "x", key->x, sizeof(key->x)) != 32 ||
			    get_b64(k, "y", key->y, sizeof(key->y)) != 32 ||
			    (alg[0] && strcmp(alg, "ES256")))
				continue;
			key->kind = JWK_EC_P256;
		} else if (strcmp(kty, "OKP") == 0) {
			if (get_str(k, "crv", crv, sizeof(crv)) != 1 ||
			    strcmp(crv, "Ed25519") != 0 ||
			    get_b64(k, "x", key->x, sizeof(key->x)) != 32 ||
			    (alg[0] && strcmp(alg, "EdDSA")))
				continue;
			key->kind = JWK_ED25519;
		} else
			continue;
		n++;
	}
	json_decref(root);
	if (n == 0) {
		*why = "no RSA (2048 bits or more), P-256 or Ed25519 signing key";
		return -1;
	}
	return (int)n;
}

int
jwt_alg_fits(const char *alg, enum jwk_kind kind)
{
	switch (kind) {
	case JWK_RSA:
		return strcmp(alg, "RS256") == 0;
	case JWK_EC_P256:
		return strcmp(alg, "ES256") == 0;
	case JWK_ED25519:
		return strcmp(alg, "EdDSA") == 0;
	}
	return 0;
}

int
jwt_parse(const char *tok, size_t len, const char *login_claim,
    struct jwt *j, const char **why)
{
	const char *d1, *d2;
	json_t *hdr = NULL, *claims = NULL, *v;
	long n;
	int rc = -1;

	memset(j, 0, sizeof(*j));
	*why = "not a signed JWT";
	if (len == 0 || len > JWT_MAX || memchr(tok, '\0', len) != NULL ||
	    (d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
		return -1;
	if ((hdr = decode_json(tok, (size_t)(d1 - tok))) == NULL ||
	    (claims = decode_json(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL) {
		*why = "header or claims are not JSON objects";
		goto done;
	}
	if (get_str(hdr, "alg", j->alg, sizeof(j->alg)) != 1 ||
	    (strcmp(j->alg, "RS256") && strcmp(j->alg, "ES256") &&
	    strcmp(j->alg, "EdDSA"))) {
		*why = "alg is not RS256, ES256 or EdDSA";
		goto done;
	}
	if (json_object_get(hdr, "crit") != NULL ||
	    get_str(hdr, "kid", j->kid, sizeof(j->kid)) == -1) {
		*why = "unsupported header";
		goto done;
	}
	n = jwt_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), j->sig,
	    sizeof(j->sig));
	if (n <= 0) {
		*why = "bad signature encoding";
		goto done;
	}
	j->siglen = (size_t)n;
	j->input_len = (size_t)(d2 - tok);
	if (!json_is_integer(v = json_object_get(claims, "exp"))) {
		*why = "no exp claim";
		goto done;
	}
	j->exp = json_integer_value(v);
	if ((v = json_object_get(claims, "nbf")) != NULL) {
		if (!json_is_integer(v)) {
			*why = "nbf is not a number";
			goto done;
		}
		j->nbf = json_integer_value(v);
		j->has_nbf = 1;
	}
	if (get_str(claims, "iss", j->iss, sizeof(j->iss)) != 1) {
		*why = "no iss claim";
		goto done;
	}
	v = json_object_get(claims, "aud");
	if (json_is_string(v)) {
		if (get_str(claims, "aud", j->aud[0], sizeof(j->aud[0])) != 1) {
			*why = "bad aud claim";
			goto done;
		}
		j->naud = 1;
	} else if (json_is_array(v)) {
		size_t i;
		json_t *a;

		json_array_foreach(v, i, a) {
			size_t l;

			if (!json_is_string(a) || j->naud == JWT_AUD_MAX ||
			    (l = json_string_length(a)) >= JWT_STR_MAX ||
			    memchr(json_string_value(a), '\0', l) != NULL) {
				*why = "bad aud claim";
				goto done;
			}
			memcpy(j->aud[j->naud], json_string_value(a), l);
			j->aud[j->naud++][l] = '\0';
		}
	}
	if (get_str(claims, login_claim, j->login, sizeof(j->login)) != 1 ||
	    j->login[0] == '\0') {
		*why = "no login claim";
		goto done;
	}
	rc = 0;
done:
	json_decref(hdr);
	json_decref(claims);
	return rc;
}

int
jwt_check_claims(const struct jwt *j, const char *issuer, const char *audience,
    time_t now, int skew, const char **why)
{
	size_t i;

	if (strcmp(j->iss, issuer) != 0) {
		*why = "iss is not the configured issuer";
		return -1;
	}
	for (i = 0; i < j->naud; i++)
		if (strcmp(j->aud[i], audience) == 0)
			break;
	if (i == j->naud) {
		*why = "aud does not name us";
		return -1;
	}
	if ((long long)now - skew >= j->exp) {
		*why = "token expired";
		return -1;
	}
	if (j->has_nbf && (long long)now + skew < j->nbf) {	/* now is small */
		*why = "token not valid yet";
		return -1;
	}
	return 0;
}
