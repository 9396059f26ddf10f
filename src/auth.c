/*
 * auth.c - Cyrus SASL server glue.
 *
 * SASL's own options come from our configuration through SASL_CB_GETOPT,
 * so that /etc/sasl2 cannot silently change which passwords are accepted.
 * No SASL security layer is ever negotiated (max_ssf 0): TLS protects the
 * session, and its strength is handed to SASL as the external SSF.
 * Proxy authorisation is left to SASL's default policy, which allows an
 * authorisation identity only when it equals the authentication identity.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "auth.h"
#include "config.h"
#include "log.h"

struct auth_conn {
	sasl_conn_t	*conn;
};

static const struct config *auth_conf;
static char auth_mechs[256];

static int
auth_getopt(void *context, const char *plugin, const char *option,
    const char **result, unsigned *len)
{
	const struct config *c = auth_conf;

	*result = NULL;
	if (strcmp(option, "pwcheck_method") == 0)
		*result = c->auth_pwcheck;
	else if (strcmp(option, "auxprop_plugin") == 0)
		*result = "sasldb";
	else if (strcmp(option, "sasldb_path") == 0)
		*result = c->auth_sasldb;
	else if (strcmp(option, "mech_list") == 0)
		*result = c->auth_mechanisms;
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
		log_warnx("event=sasl message=\"%s\"", message);
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

/* The mechanisms SASL can really offer once TLS is up, in config order. */
static int
auth_list_mechs(void)
{
	struct auth_conn *a;
	const char *list;
	unsigned len;
	int n;

	if ((a = auth_conn_new("127.0.0.1;0", "127.0.0.1;0", 256)) == NULL)
		return -1;
	if (sasl_listmech(a->conn, NULL, "", " ", "", &list, &len, &n) != SASL_OK ||
	    n == 0 || len >= sizeof(auth_mechs)) {
		auth_conn_free(a);
		return -1;
	}
	memcpy(auth_mechs, list, len);
	auth_mechs[len] = '\0';
	auth_conn_free(a);
	return 0;
}

int
auth_init(const struct config *conf)
{
	int rc;

	auth_conf = conf;
	sasl_set_mutex(mutex_alloc, mutex_lock, mutex_unlock, mutex_free);
	if ((rc = sasl_server_init(auth_callbacks, "smtp")) != SASL_OK) {
		log_errx("event=sasl-init error=\"%s\"", sasl_errstring(rc, NULL, NULL));
		return -1;
	}
	if (auth_list_mechs() == -1) {
		log_errx("event=sasl-init error=\"none of the mechanisms %s is available "
		    "(is libsasl2-modules installed?)\"", conf->auth_mechanisms);
		return -1;
	}
	log_info("event=sasl-init mechanisms=\"%s\" pwcheck=%s", auth_mechs,
	    conf->auth_pwcheck);
	return 0;
}

const char *
auth_mechanisms(void)
{
	return auth_mechs;
}

int
auth_mechanism_ok(const char *mech)
{
	size_t n = strlen(mech);
	const char *p = auth_mechs;

	while ((p = strstr(p, mech)) != NULL) {
		if ((p == auth_mechs || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

struct auth_conn *
auth_conn_new(const char *local, const char *remote, unsigned int tls_bits)
{
	struct auth_conn *a = calloc(1, sizeof(*a));
	sasl_security_properties_t sp;
	sasl_ssf_t ssf = tls_bits;

	if (a == NULL)
		return NULL;
	if (sasl_server_new("smtp", auth_conf->hostname, NULL, local, remote,
	    NULL, 0, &a->conn) != SASL_OK) {
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
	free(a);
}

enum auth_result
auth_step(struct auth_conn *a, const char *mech, const char *in,
    unsigned int inlen, const char **out, unsigned int *outlen,
    const char **why)
{
	int rc;

	*out = NULL;
	*outlen = 0;
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
