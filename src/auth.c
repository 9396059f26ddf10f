/*
 * auth.c - Cyrus SASL server glue.
 *
 * SASL's own options come from our configuration through SASL_CB_GETOPT,
 * so that /etc/sasl2 cannot silently change which passwords are accepted.
 * No SASL security layer is ever negotiated (max_ssf 0): TLS protects the
 * session, and its strength is handed to SASL as the external SSF.
 * Proxy authorisation is left to SASL's default policy, which allows an
 * authorisation identity only when it equals the authentication identity.
 *
 * Each connection reads its options from the configuration its session
 * started with, so a reload changes the sasldb, pwcheck and mechanisms of
 * new sessions only.  SASL loads every mechanism we know of once; which of
 * them a session offers is the configuration's business.
 *
 * SCRAM (RFC 5802 §9) would tell which logins exist: Cyrus answers an
 * unknown one with an error where a known one gets a salt.  For a login
 * SASL does not know, the exchange is ours: a salt derived from a secret
 * kept in the spool (so repeated probes, across restarts too, see the same
 * salt), SASL's iteration count, a fresh nonce, and failure only at the
 * proof.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "auth.h"
#include "oauth.h"
#include "sasldb.h"
#include "auth_parse.h"
#include "config.h"
#include "log.h"
#include "smtp_parse.h"

#define SCRAM_ITERATIONS	4096	/* Cyrus's scram_iteration_counter default */
#define SCRAM_NONCE_BYTES	24	/* as Cyrus: 32 base64 characters */
#define SCRAM_OUT_MAX		512

struct auth_conn {
	sasl_conn_t		*conn;
	sasl_callback_t		 callbacks[2];
	int			 fake;		/* SCRAM for an unknown login */
	char			 nonce[SCRAM_OUT_MAX];	/* client + server nonce */
	size_t			 noncelen;
	char			 out[SCRAM_OUT_MAX];
	/* Mechanisms of our own, beside SASL's */
	int			 local;		/* LOCAL_EXTERNAL, ... or 0 */
	int			 local_step;
	char			 ext_login[SMTP_ADDR_MAX + 1];	/* the certificate's */
	const char		*ext_why;	/* why there is none */
	const struct config	*conf;
	const char		*fail_why;	/* OAuth: refused, after the 334 */
	char			 err_json[160];
	char			 user[SMTP_ADDR_MAX + 1];	/* authenticated */
};

enum { LOCAL_NONE, LOCAL_EXTERNAL, LOCAL_OAUTHBEARER, LOCAL_XOAUTH2 };
static const char local_mechs[] = "EXTERNAL OAUTHBEARER XOAUTH2";

/* Every mechanism config.c accepts: SASL loads these, sessions pick. */
static const char all_mechs[] = "PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5";
static const struct config *auth_conf;	/* the start-up one, for SASL's globals */
static char auth_avail[256];		/* what SASL can really do */
static unsigned char auth_secret[32];	/* keys the unknown logins' salts */

static int
auth_getopt(void *context, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	const struct config *c = context != NULL ? context : auth_conf;

	*result = NULL;
	if (strcmp(option, "pwcheck_method") == 0)
		*result = c->auth_pwcheck;
	else if (strcmp(option, "auxprop_plugin") == 0)
		*result = SASLDB_PLUGIN;	/* sasldb.c: one open per worker */
	else if (strcmp(option, "sasldb_path") == 0)
		*result = c->auth_sasldb;
	else if (strcmp(option, "mech_list") == 0)
		*result = all_mechs;
	else if (strcmp(option, "saslauthd_path") == 0)
		*result = c->auth_saslauthd_path;
	else if (strcmp(option, "log_level") == 0)
		*result = "2";	/* SASL_LOG_ERR: failures, never exchanges */
	if (*result == NULL)
		return SASL_FAIL;
	if (len != NULL)
		*len = strlen(*result);
	return SASL_OK;
}

static int
auth_log(void *context, int level, const char *message)
{
	if (level <= SASL_LOG_WARN)
		log_warnx("event=sasl message=%s", log_str(message));
	return SASL_OK;
}

static void *
mutex_alloc(void)
{
	pthread_mutex_t *m = malloc(sizeof(*m));

	if (m != NULL)
		pthread_mutex_init(m, NULL);
	return m;
}

static int
mutex_lock(void *m)
{
	return pthread_mutex_lock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static int
mutex_unlock(void *m)
{
	return pthread_mutex_unlock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static void
mutex_free(void *m)
{
	pthread_mutex_destroy(m);
	free(m);
}

static sasl_callback_t auth_callbacks[] = {
	{ SASL_CB_GETOPT, (int (*)(void))(void (*)(void))auth_getopt, NULL },
	{ SASL_CB_LOG, (int (*)(void))(void (*)(void))auth_log, NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/* Is word in the space-separated list? */
static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while ((p = strcasestr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

/* The mechanisms SASL can really offer once TLS is up. */
static int
auth_list_mechs(void)
{
	struct auth_conn *a;
	const char *list;
	unsigned len;
	int n;

	if ((a = auth_conn_new("127.0.0.1;0", "127.0.0.1;0", 256, auth_conf)) == NULL)
		return -1;
	if (sasl_listmech(a->conn, NULL, "", " ", "", &list, &len, &n) != SASL_OK ||
	    n == 0 || len >= sizeof(auth_avail)) {
		auth_conn_free(a);
		return -1;
	}
	memcpy(auth_avail, list, len);
	auth_avail[len] = '\0';
	auth_conn_free(a);
	/* Ours are always there (they are offered when configured). */
	if (len + sizeof(local_mechs) + 1 < sizeof(auth_avail))
		snprintf(auth_avail + len, sizeof(auth_avail) - len, " %s",
		    local_mechs);
	return 0;
}

int
auth_init(const struct config *conf, const unsigned char *secret,
    size_t secretlen)
{
	char offer[256];
	int rc;

	auth_conf = conf;
	memcpy(auth_secret, secret, secretlen < sizeof(auth_secret) ?
	    secretlen : sizeof(auth_secret));
	sasl_set_mutex(mutex_alloc, mutex_lock, mutex_unlock, mutex_free);
	if (sasldb_register() == -1) {
		log_errx("event=sasl-init error=\"cannot add the sasldb plug-in\"");
		return -1;
	}
	if ((rc = sasl_server_init(auth_callbacks, "smtp")) != SASL_OK) {
		log_errx("event=sasl-init error=%s",
		    log_str(sasl_errstring(rc, NULL, NULL)));
		return -1;
	}
	if (auth_list_mechs() == -1 ||
	    auth_mechanisms(conf, 1, offer, sizeof(offer))[0] == '\0') {
		log_errx("event=sasl-init mechanisms=%s error=\"none of them is "
		    "available (is libsasl2-modules installed?)\"",
		    log_str(conf->auth_mechanisms));
		return -1;
	}
	log_info("event=sasl-init mechanisms=%s pwcheck=%s", log_str(offer),
	    conf->auth_pwcheck);
	return 0;
}

int
auth_check(const struct config *conf)
{
	char offer[256];
	const char *p;
	char word[SMTP_MECH_MAX + 1];
	size_t n;

	auth_mechanisms(conf, 1, offer, sizeof(offer));
	if (offer[0] == '\0') {
		log_warnx("event=reload mechanisms=%s error=\"none of them is "
		    "available\"", log_str(conf->auth_mechanisms));
		return -1;
	}
	for (p = conf->auth_mechanisms; *p != '\0'; p += n) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n == 0 || n > SMTP_MECH_MAX)
			continue;
		memcpy(word, p, n);
		word[n] = '\0';
		if (!has_word(auth_avail, word))
			log_warnx("event=sasl mechanism=%s error=\"not available; "
			    "is its libsasl2-modules package installed?\"", word);
	}
	return 0;
}

/* Is mech configured for conf beyond SASL's say (EXTERNAL needs its CA)? */
static int
configured(const struct config *conf, const char *mech)
{
	if (strcasecmp(mech, "EXTERNAL") == 0)
		return conf->auth_client_ca_pem != NULL;
	if (strcasecmp(mech, "OAUTHBEARER") == 0 || strcasecmp(mech, "XOAUTH2") == 0)
		return conf->oauth_issuer != NULL;
	return 1;
}

const char *
auth_mechanisms(const struct config *conf, int external, char *buf,
    size_t size)
{
	const char *p = conf->auth_mechanisms;
	char word[SMTP_MECH_MAX + 1];
	size_t n, len = 0;

	buf[0] = '\0';
	for (; *p != '\0'; p += n) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n == 0 || n > SMTP_MECH_MAX)
			continue;
		memcpy(word, p, n);
		word[n] = '\0';
		if (strcasecmp(word, "EXTERNAL") == 0 && !external)
			continue;
		if (has_word(auth_avail, word) && configured(conf, word) &&
		    len + n + 2 < size)
			len += snprintf(buf + len, size - len, "%s%s",
			    len > 0 ? " " : "", word);
	}
	return buf;
}

int
auth_mechanism_ok(const struct config *conf, const char *mech)
{
	return has_word(conf->auth_mechanisms, mech) && has_word(auth_avail, mech) &&
	    configured(conf, mech);
}

struct auth_conn *
auth_conn_new(const char *local, const char *remote, unsigned int tls_bits,
    const struct config *conf)
{
	struct auth_conn *a = calloc(1, sizeof(*a));
	sasl_security_properties_t sp;
	sasl_ssf_t ssf = tls_bits;

	if (a == NULL)
		return NULL;
	a->conf = conf;
	/* This connection's options come from its session's configuration. */
	a->callbacks[0].id = SASL_CB_GETOPT;
	a->callbacks[0].proc = (int (*)(void))(void (*)(void))auth_getopt;
	a->callbacks[0].context = (void *)conf;
	a->callbacks[1].id = SASL_CB_LIST_END;
	if (sasl_server_new("smtp", conf->hostname, NULL, local, remote,
	    a->callbacks, 0, &a->conn) != SASL_OK) {
		free(a);
		return NULL;
	}
	memset(&sp, 0, sizeof(sp));
	sp.max_ssf = 0;		/* no SASL security layer */
	sp.maxbufsize = 0;
	sp.security_flags = SASL_SEC_NOANONYMOUS;
	sasl_setprop(a->conn, SASL_SEC_PROPS, &sp);
	sasl_setprop(a->conn, SASL_SSF_EXTERNAL, &ssf);
	return a;
}

void
auth_conn_free(struct auth_conn *a)
{
	if (a == NULL)
		return;
	sasl_dispose(&a->conn);
	explicit_bzero(a, sizeof(*a));
	free(a);
}

/*
 * The salt SCRAM would show for an unknown login: keyed by our secret, so
 * the same for every probe, and as long as Cyrus's (the digest's size).
 */
static size_t
fake_salt(const char *mech, const char *user, unsigned char *salt)
{
	const EVP_MD *md = strcasecmp(mech, "SCRAM-SHA-1") == 0 ? EVP_sha1() :
	    EVP_sha256();
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char msg[SMTP_ADDR_MAX + 32];
	int n;

	n = snprintf(msg, sizeof(msg), "%s\n%s", mech, user);
	HMAC(EVP_sha256(), auth_secret, sizeof(auth_secret),
	    (const unsigned char *)msg, n, mac, &maclen);
	memcpy(salt, mac, EVP_MD_get_size(md));
	return EVP_MD_get_size(md);
}

/*
 * The first SCRAM message: when it names a login SASL does not have, the
 * exchange goes on without SASL.  Returns 1 with the server-first-message
 * in *out, or 0 to let SASL answer.
 */
static int
scram_fake_start(struct auth_conn *a, const char *mech, const char *in,
    unsigned int inlen, const char **out, unsigned int *outlen)
{
	char user[SMTP_ADDR_MAX + 1], salt64[128], snonce64[64];
	unsigned char salt[EVP_MAX_MD_SIZE], snonce[SCRAM_NONCE_BYTES];
	const char *cnonce;
	size_t cnoncelen, saltlen;
	unsigned int n;
	int rc;

	if (auth_parse_scram_first(in, inlen, user, sizeof(user), &cnonce,
	    &cnoncelen) == -1 || cnoncelen > 128)
		return 0;
	rc = sasl_user_exists(a->conn, "smtp", NULL, user);
	if (rc != SASL_NOUSER)
		return 0;
	saltlen = fake_salt(mech, user, salt);
	if (RAND_bytes(snonce, sizeof(snonce)) != 1 ||
	    sasl_encode64((const char *)salt, saltlen, salt64, sizeof(salt64),
	    &n) != SASL_OK ||
	    sasl_encode64((const char *)snonce, sizeof(snonce), snonce64,
	    sizeof(snonce64), &n) != SASL_OK)
		return 0;
	a->noncelen = snprintf(a->nonce, sizeof(a->nonce), "%.*s%s",
	    (int)cnoncelen, cnonce, snonce64);
	*outlen = snprintf(a->out, sizeof(a->out), "r=%s,s=%s,i=%d", a->nonce,
	    salt64, SCRAM_ITERATIONS);
	*out = a->out;
	a->fake = 1;
	return 1;
}

void
auth_conn_set_external(struct auth_conn *a, const char *login, const char *why)
{
	snprintf(a->ext_login, sizeof(a->ext_login), "%s", login ? login : "");
	a->ext_why = why;
}

/*
 * SASL EXTERNAL (RFC 4422 appendix A) over the TLS client certificate: the
 * client's message is an authorization identity, empty or the login the
 * certificate maps to.
 */
static enum auth_result
external_step(struct auth_conn *a, const char *in, unsigned int inlen,
    const char **out, unsigned int *outlen, const char **why)
{
	if (in == NULL && a->local_step++ == 0) {
		*out = "";
		*outlen = 0;
		*why = "";
		return AUTH_CONTINUE;		/* an empty challenge */
	}
	if (a->ext_login[0] == '\0') {
		*why = a->ext_why != NULL ? a->ext_why : "no client certificate";
		return AUTH_BADAUTH;
	}
	if (in != NULL && inlen > 0 && (inlen != strlen(a->ext_login) ||
	    strncasecmp(in, a->ext_login, inlen) != 0)) {
		*why = "the authorization identity is not the certificate's login";
		return AUTH_BADAUTH;
	}
	snprintf(a->user, sizeof(a->user), "%s", a->ext_login);
	*why = "";
	return AUTH_OK;
}

/*
 * OAUTHBEARER (RFC 7628) and XOAUTH2: the client's message carries a JWT
 * (oauth.c checks it).  A refused token gets the JSON error in a 334
 * (§3.2.2); the client's next message, whatever it is, ends the exchange
 * with the failure.
 */
static enum auth_result
oauth_step(struct auth_conn *a, const char *in, unsigned int inlen,
    const char **out, unsigned int *outlen, const char **why)
{
	char named[SMTP_ADDR_MAX + 1], login[SMTP_ADDR_MAX + 1];
	const char *tok, *verdict = NULL;
	size_t toklen;
	int rc;

	if (a->fail_why != NULL) {
		*why = a->fail_why;
		return AUTH_BADAUTH;
	}
	if (in == NULL && a->local_step++ == 0) {
		*out = "";
		*outlen = 0;
		*why = "";
		return AUTH_CONTINUE;
	}
	if (in == NULL)
		in = "";
	rc = a->local == LOCAL_XOAUTH2 ?
	    auth_parse_xoauth2(in, inlen, named, sizeof(named), &tok, &toklen) :
	    auth_parse_oauthbearer(in, inlen, named, sizeof(named), &tok, &toklen);
	if (rc == -1) {
		*why = "malformed client message";
		return AUTH_BADPROT;
	}
	if (oauth_validate(a->conf, tok, toklen, login, sizeof(login),
	    &verdict) == -1)
		a->fail_why = verdict;
	else if (named[0] != '\0' && strcasecmp(named, login) != 0)
		a->fail_why = "the token is for another login";
	if (a->fail_why == NULL) {
		snprintf(a->user, sizeof(a->user), "%s", login);
		*why = "";
		return AUTH_OK;
	}
	snprintf(a->err_json, sizeof(a->err_json), "{\"status\":\"%s\","
	    "\"schemes\":\"bearer\",\"scope\":\"%s\"}",
	    a->local == LOCAL_XOAUTH2 ? "401" : "invalid_token", "email");
	*out = a->err_json;
	*outlen = (unsigned int)strlen(a->err_json);
	*why = "";
	return AUTH_CONTINUE;
}

enum auth_result
auth_step(struct auth_conn *a, const char *mech, const char *in,
    unsigned int inlen, const char **out, unsigned int *outlen,
    const char **why)
{
	int rc;

	*out = NULL;
	*outlen = 0;
	if (mech != NULL && strcasecmp(mech, "EXTERNAL") == 0)
		a->local = LOCAL_EXTERNAL;
	else if (mech != NULL && strcasecmp(mech, "OAUTHBEARER") == 0)
		a->local = LOCAL_OAUTHBEARER;
	else if (mech != NULL && strcasecmp(mech, "XOAUTH2") == 0)
		a->local = LOCAL_XOAUTH2;
	if (a->local == LOCAL_EXTERNAL)
		return external_step(a, in, inlen, out, outlen, why);
	if (a->local != LOCAL_NONE)
		return oauth_step(a, in, inlen, out, outlen, why);
	if (a->fake) {
		/* The proof of a login that does not exist: never right. */
		a->fake = 0;
		if (in == NULL || auth_parse_scram_final(in, inlen, a->nonce,
		    a->noncelen) == -1) {
			*why = sasl_errstring(SASL_BADPROT, NULL, NULL);
			return AUTH_BADPROT;
		}
		*why = sasl_errstring(SASL_NOUSER, NULL, NULL);
		return AUTH_BADAUTH;
	}
	if (mech != NULL && strncasecmp(mech, "SCRAM-", 6) == 0 && in != NULL &&
	    scram_fake_start(a, mech, in, inlen, out, outlen)) {
		*why = "";
		return AUTH_CONTINUE;
	}
	if (mech != NULL)
		rc = sasl_server_start(a->conn, mech, in, inlen, out, outlen);
	else
		rc = sasl_server_step(a->conn, in != NULL ? in : "", inlen, out,
		    outlen);
	*why = sasl_errstring(rc, NULL, NULL);
	switch (rc) {
	case SASL_OK:
		return AUTH_OK;
	case SASL_CONTINUE:
		return AUTH_CONTINUE;
	case SASL_BADPROT:
	case SASL_BADPARAM:
		return AUTH_BADPROT;
	case SASL_NOMECH:
	case SASL_TOOWEAK:
	case SASL_ENCRYPT:
		return AUTH_NOMECH;
	case SASL_TRYAGAIN:
	case SASL_UNAVAIL:
	case SASL_NOMEM:
		return AUTH_TEMPFAIL;
	default:
		return AUTH_BADAUTH;
	}
}

const char *
auth_username(struct auth_conn *a)
{
	const void *user = NULL;

	if (a->local != LOCAL_NONE)
		return a->user[0] != '\0' ? a->user : NULL;
	if (sasl_getprop(a->conn, SASL_USERNAME, &user) != SASL_OK)
		return NULL;
	return user;
}

int
auth_decode64(const char *in, unsigned int inlen, char *out,
    unsigned int outmax, unsigned int *outlen)
{
	return sasl_decode64(in, inlen, out, outmax, outlen) == SASL_OK ? 0 : -1;
}

int
auth_encode64(const char *in, unsigned int inlen, char *out,
    unsigned int outmax, unsigned int *outlen)
{
	return sasl_encode64(in, inlen, out, outmax, outlen) == SASL_OK ? 0 : -1;
}
