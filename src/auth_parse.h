/*
 * auth_parse.h - pure parsing of SASL client messages (no I/O, fuzzed).
 *
 * Owns: finding the login a client names in the first message of an
 * exchange (RFC 4616 PLAIN, LOGIN, RFC 5802 SCRAM, RFC 2195 CRAM-MD5,
 * RFC 7628 OAUTHBEARER, XOAUTH2), so
 * that the lock-out can count an attempt against the login before SASL
 * checks its password; and reading the SCRAM messages well enough to answer
 * a login that does not exist exactly as one that does (auth.c).  Not:
 * checking any password.  Inputs are byte ranges that may hold any byte.
 */
#ifndef SUBMITD_AUTH_PARSE_H
#define SUBMITD_AUTH_PARSE_H

#include <stddef.h>

/*
 * The login named by the first client message of mech's exchange, cut at a
 * NUL (SASL treats it as a C string) and lowercased, into out.  Returns 0,
 * or -1 when the message names none or it does not fit in outsize - 1.
 */
int	auth_parse_login(const char *mech, const char *data, size_t len,
	    char *out, size_t outsize);

/*
 * A SCRAM client-first-message (RFC 5802 §7): gs2 header without channel
 * binding ("n," or "y,", an optional "a=" authzid), "n=" saslname (=2C and
 * =3D decoded) and "r=" nonce.  Fills user (NUL-terminated, outsize) and
 * points *nonce at the client nonce in data.  0, or -1 when malformed.
 */
int	auth_parse_scram_first(const char *data, size_t len, char *user,
	    size_t usersize, const char **nonce, size_t *noncelen);

/*
 * A SCRAM client-final-message: "c=" then "r=" equal to nonce[0..noncelen),
 * then, after any extensions, "p=" proof.  0 when well formed, else -1.
 */
int	auth_parse_scram_final(const char *data, size_t len, const char *nonce,
	    size_t noncelen);

/*
 * OAUTHBEARER's client message (RFC 7628 §3.1): gs2 header ("n," or "y,",
 * an optional "a=" authzid, saslname-decoded into authzid, "" when none),
 * ^A, key=value pairs each ended by ^A, a final ^A; *tok points at the
 * token of "auth=Bearer TOKEN".  0, or -1 when malformed.
 */
int	auth_parse_oauthbearer(const char *data, size_t len, char *authzid,
	    size_t azsize, const char **tok, size_t *toklen);
/* XOAUTH2's: "user=" USER ^A "auth=Bearer " TOKEN ^A ^A. */
int	auth_parse_xoauth2(const char *data, size_t len, char *user,
	    size_t usersize, const char **tok, size_t *toklen);

#endif
