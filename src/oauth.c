/*
 * oauth.c - JWT signatures with OpenSSL, key sets from a file or a URL.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "config.h"
#include "https.h"
#include "jwt.h"
#include "log.h"
#include "oauth.h"

#define JWKS_MAX	(256 * 1024)
#define REFETCH_EVERY	10	/* seconds between fetches of jwks_url */

struct oauth_keys {
	size_t		 n;
	struct {
		enum jwk_kind	 kind;
		char		 kid[JWT_STR_MAX];
		EVP_PKEY	*pkey;
	} k[JWK_MAX];
};

/* jwks_url's keys, shared by the auth workers. */
static pthread_mutex_t url_lock = PTHREAD_MUTEX_INITIALIZER;
static struct oauth_keys *url_keys;
static char url_of_keys[600];
static time_t url_fetched;

static EVP_PKEY *
from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *
jwk_pkey(const struct jwk *k)
{
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char pub[65];

	if (k->kind == JWK_ED25519)
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->x, 32);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		return NULL;
	if (k->kind == JWK_RSA) {
		n = BN_bin2bn(k->n, (int)k->nlen, NULL);
		e = BN_bin2bn(k->e, (int)k->elen, NULL);
		if (n != NULL && e != NULL &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
			pkey = from_params("RSA", bld);
	} else {
		pub[0] = 0x04;		/* uncompressed point */
		memcpy(pub + 1, k->x, 32);
		memcpy(pub + 33, k->y, 32);
		if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
		    "prime256v1", 0) == 1 &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
		    pub, sizeof(pub)) == 1)
			pkey = from_params("EC", bld);
	}
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

struct oauth_keys *
oauth_keys_load(const char *json, size_t len, char *err, size_t errlen)
{
	struct jwk *jwks = calloc(JWK_MAX, sizeof(*jwks));
	struct oauth_keys *keys = calloc(1, sizeof(*keys));
	const char *why;
	int n, i;

	if (jwks == NULL || keys == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((n = jwks_parse(json, len, jwks, JWK_MAX, &why)) == -1) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		EVP_PKEY *p = jwk_pkey(&jwks[i]);

		if (p == NULL)
			continue;	/* not a point on the curve, ... */
		keys->k[keys->n].kind = jwks[i].kind;
		memcpy(keys->k[keys->n].kid, jwks[i].kid, sizeof(jwks[i].kid));
		keys->k[keys->n++].pkey = p;
	}
	ERR_clear_error();
	free(jwks);
	if (keys->n == 0) {
		snprintf(err, errlen, "no usable key");
		oauth_keys_free(keys);
		return NULL;
	}
	return keys;
fail:
	free(jwks);
	free(keys);
	return NULL;
}

void
oauth_keys_free(struct oauth_keys *keys)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; i < keys->n; i++)
		EVP_PKEY_free(keys->k[i].pkey);
	free(keys);
}

/* JWS's ES256 signature is r || s; OpenSSL wants DER. */
static int
es256_der(const unsigned char *sig, size_t len, unsigned char **der)
{
	ECDSA_SIG *s;
	BIGNUM *r, *ss;
	int n;

	if (len != 64 || (s = ECDSA_SIG_new()) == NULL)
		return -1;
	r = BN_bin2bn(sig, 32, NULL);
	ss = BN_bin2bn(sig + 32, 32, NULL);
	if (r == NULL || ss == NULL || ECDSA_SIG_set0(s, r, ss) != 1) {
		BN_free(r);
		BN_free(ss);
		ECDSA_SIG_free(s);
		return -1;
	}
	*der = NULL;
	n = i2d_ECDSA_SIG(s, der);
	ECDSA_SIG_free(s);
	return n;
}

static int
verify(EVP_PKEY *pkey, enum jwk_kind kind, const char *input, size_t len,
    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int ok = 0, n;

	if (ctx == NULL)
		return 0;
	if (kind == JWK_EC_P256) {
		if ((n = es256_der(sig, siglen, &der)) <= 0)
			goto done;
		sig = der;
		siglen = (size_t)n;
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, kind == JWK_ED25519 ? NULL :
	    EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)input,
	    len) == 1;
done:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* 1 when a key of keys (kid "" matches any) verifies the token. */
static int
try_keys(const struct oauth_keys *keys, const struct jwt *j, const char *tok,
    int *kid_known)
{
	size_t i;

	for (i = 0; keys != NULL && i < keys->n; i++) {
		if (j->kid[0] != '\0' && strcmp(keys->k[i].kid, j->kid) != 0)
			continue;
		if (!jwt_alg_fits(j->alg, keys->k[i].kind))
			continue;	/* alg is the key's, never the token's say */
		*kid_known = 1;
		if (verify(keys->k[i].pkey, keys->k[i].kind, tok, j->input_len,
		    j->sig, j->siglen))
			return 1;
	}
	return 0;
}

/*
 * jwks_url is fetched on a thread of its own: an auth worker never waits
 * for the provider (a slow one must not stall PLAIN logins), and at most
 * one fetch runs, at most every REFETCH_EVERY seconds.
 */
struct fetch {
	const struct config	*conf;		/* a reference, for the URL and CAs */
};

static pthread_t fetcher;
static int fetching, fetcher_started;

static void *
fetch_main(void *arg)
{
	struct fetch *f = arg;
	const struct config *conf = f->conf;
	struct https_request r;
	struct oauth_keys *keys = NULL;
	char err[256];

	memset(&r, 0, sizeof(r));
	snprintf(r.url, sizeof(r.url), "%s", conf->oauth_jwks_url);
	r.port = 443;
	r.ca_pem = conf->relay.ca_pem;
	r.ca_len = conf->relay.ca_len;
	r.max = JWKS_MAX;
	r.timeout = 5;
	https_fetch(&r);
	if (!r.ok)
		log_warnx("event=oauth url=%s error=%s", log_str(r.url),
		    log_str(r.error));
	else if ((keys = oauth_keys_load(r.body, r.bodylen, err,
	    sizeof(err))) == NULL)
		log_warnx("event=oauth url=%s error=%s", log_str(r.url), log_str(err));
	else
		log_info("event=oauth url=%s keys=%zu", log_str(r.url), keys->n);
	free(r.body);
	pthread_mutex_lock(&url_lock);
	if (keys != NULL) {
		oauth_keys_free(url_keys);
		url_keys = keys;
		snprintf(url_of_keys, sizeof(url_of_keys), "%s", conf->oauth_jwks_url);
	}
	fetching = 0;
	pthread_mutex_unlock(&url_lock);
	config_unref(conf);
	free(f);
	return NULL;
}

/* Locked: starts a fetch unless one runs or the last is too recent. */
static void
fetch_soon(const struct config *conf)
{
	struct fetch *f;

	if (fetching || url_fetched + REFETCH_EVERY > time(NULL))
		return;
	if (fetcher_started) {
		pthread_join(fetcher, NULL);	/* ended: fetching is 0 */
		fetcher_started = 0;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return;
	f->conf = config_ref(conf);
	url_fetched = time(NULL);
	fetching = 1;
	if (pthread_create(&fetcher, NULL, fetch_main, f) != 0) {
		fetching = 0;
		config_unref(conf);
		free(f);
		return;
	}
	fetcher_started = 1;
}

void
oauth_prefetch(const struct config *conf)
{
	if (conf->oauth_jwks_url == NULL)
		return;
	pthread_mutex_lock(&url_lock);
	url_fetched = 0;
	fetch_soon(conf);
	pthread_mutex_unlock(&url_lock);
}

int
oauth_validate(const struct config *conf, const char *tok, size_t len,
    char *login, size_t loginsize, const char **why)
{
	struct jwt *j = calloc(1, sizeof(*j));
	int ok = 0, known = 0;

	if (j == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (jwt_parse(tok, len, conf->oauth_login_claim, j, why) == -1 ||
	    jwt_check_claims(j, conf->oauth_issuer, conf->oauth_audience,
	    time(NULL), OAUTH_SKEW, why) == -1) {
		free(j);
		return -1;
	}
	if (conf->oauth_keys != NULL)
		ok = try_keys(conf->oauth_keys, j, tok, &known);
	else if (conf->oauth_jwks_url != NULL) {
		pthread_mutex_lock(&url_lock);
		/* The keys of this URL only: a reload may have changed it. */
		if (url_keys != NULL &&
		    strcmp(url_of_keys, conf->oauth_jwks_url) == 0)
			ok = try_keys(url_keys, j, tok, &known);
		if (!ok && !known)
			fetch_soon(conf);	/* none yet, or the provider rolled */
		pthread_mutex_unlock(&url_lock);
	}
	if (!ok) {
		*why = known ? "bad signature" : "no key for the token's kid and alg "
		    "(yet)";
		free(j);
		return -1;
	}
	if (strlen(j->login) >= loginsize) {
		*why = "login claim too long";
		free(j);
		return -1;
	}
	snprintf(login, loginsize, "%s", j->login);
	free(j);
	return 0;
}

void
oauth_shutdown(void)
{
	if (fetcher_started)
		pthread_join(fetcher, NULL);	/* at most r.timeout seconds */
	fetcher_started = 0;
	pthread_mutex_lock(&url_lock);
	oauth_keys_free(url_keys);
	url_keys = NULL;
	pthread_mutex_unlock(&url_lock);
}
