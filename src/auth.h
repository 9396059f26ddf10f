/*
 * auth.h - Cyrus SASL server glue (RFC 4954 over RFC 4422).
 *
 * Owns: SASL's global set-up (service "smtp", sasldb or saslauthd, the
 * mechanism list) and one SASL connection per session.  Not: the SMTP
 * dialogue, base64 framing or deciding what a login may do.  auth_step may
 * block (saslauthd, password hashing): callers run it on a worker thread,
 * never two steps of one connection at once.
 */
#ifndef SUBMITD_AUTH_H
#define SUBMITD_AUTH_H

struct config;
struct auth_conn;

enum auth_result {
	AUTH_OK,		/* 235 */
	AUTH_CONTINUE,		/* 334 with a challenge */
	AUTH_BADAUTH,		/* 535 5.7.8 */
	AUTH_BADPROT,		/* 501: malformed client response */
	AUTH_NOMECH,		/* 504: mechanism not available */
	AUTH_TEMPFAIL,		/* 454: backend unavailable */
};

/*
 * Once, after the privileges are dropped.  secret keys the salts that SCRAM
 * shows for logins that do not exist.
 */
int		 auth_init(const struct config *, const unsigned char *secret,
		    size_t secretlen);
/* A new configuration's mechanisms: warns of those SASL cannot do; -1 if none. */
int		 auth_check(const struct config *);
/*
 * conf's mechanisms that can be done, space-separated, for EHLO's AUTH
 * line: SASL's, and ours (EXTERNAL only when external: the client showed a
 * verified certificate).
 */
const char	*auth_mechanisms(const struct config *, int external, char *buf,
		    size_t size);
int		 auth_mechanism_ok(const struct config *, const char *mech);

/* conf must outlive the connection: its options are read during steps. */
struct auth_conn *auth_conn_new(const char *local, const char *remote,
		    unsigned int tls_bits, const struct config *conf);
void		 auth_conn_free(struct auth_conn *);
/*
 * EXTERNAL: the login the client's certificate maps to (NULL: none, and
 * why, kept by reference, says so for the log).
 */
void		 auth_conn_set_external(struct auth_conn *, const char *login,
		    const char *why);

/*
 * One exchange: starts mech when mech is not NULL, else continues it.
 * in and inlen are the decoded client response (NULL when there is no initial response).
 * On AUTH_CONTINUE *out and *outlen hold the challenge, owned by the connection
 * until the next call.  *why gets a reason for the log (never a secret).
 */
enum auth_result auth_step(struct auth_conn *, const char *mech,
		    const char *in, unsigned int inlen,
		    const char **out, unsigned int *outlen, const char **why);
/* The authenticated login (user@domain) after AUTH_OK. */
const char	*auth_username(struct auth_conn *);

/* base64 (RFC 4648) helpers; return -1 on malformed input or no room. */
int		 auth_decode64(const char *in, unsigned int inlen, char *out,
		    unsigned int outmax, unsigned int *outlen);
int		 auth_encode64(const char *in, unsigned int inlen, char *out,
		    unsigned int outmax, unsigned int *outlen);

#endif
