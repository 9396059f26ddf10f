/*
 * oauth.h - OAuth 2.0 bearer tokens for AUTH OAUTHBEARER (RFC 7628) and
 * XOAUTH2: JWT access tokens from the organisation's identity provider,
 * checked here, offline, against its key set.
 *
 * Owns: the keys (auth.oauth.jwks_file, read with the configuration, or
 * auth.oauth.jwks_url, fetched over verified HTTPS, cached, fetched again
 * when a token names an unknown kid, at most every 10 seconds) and the
 * verdict on a token: signature (RS256, ES256, EdDSA; the algorithm must
 * be the key's, never "none"), iss, aud, exp and nbf with 60 seconds of
 * skew, and the login claim.  Not: the SASL framing (auth.c).
 * oauth_validate never waits for the provider: a key set is fetched on a
 * thread of its own, and a token the keys at hand cannot check is refused
 * meanwhile (the client tries again).
 */
#ifndef SUBMITD_OAUTH_H
#define SUBMITD_OAUTH_H

#include <stddef.h>

struct config;
struct oauth_keys;

#define OAUTH_SKEW	60	/* seconds of clock difference allowed */

/* A JWK Set's signing keys as OpenSSL keys; NULL with err. */
struct oauth_keys *oauth_keys_load(const char *json, size_t len, char *err,
		    size_t errlen);
void		 oauth_keys_free(struct oauth_keys *);

/*
 * The login a token vouches for, into login: 0, or -1 with *why (never
 * the token).
 */
int		 oauth_validate(const struct config *, const char *token,
		    size_t len, char *login, size_t loginsize, const char **why);
/* jwks_url: fetch the key set now (start-up, reload), in the background. */
void		 oauth_prefetch(const struct config *);
void		 oauth_shutdown(void);

#endif
