/*
 * dkim.h - DKIM signatures of outgoing mail (RFC 6376; Ed25519 per RFC 8463).
 *
 * A message is signed in three steps so that no session holds it whole:
 * dkim_begin, when the final header section is known, chooses the keys
 * (every dkim section whose domain is, or is a parent of, a From: domain)
 * and returns the DKIM-Signature fields with placeholders of their final
 * length, which the session writes at the top of the spool file; the body
 * streams through dkim_body; dkim_finish (on a worker: it signs) fills the
 * placeholders in, and the session writes the same octets over them before
 * the commit.  relaxed/relaxed, SHA-256, t= set, no l=; h= over-signs the
 * fields of DKIM_FIELDS so that none can be added after signing.
 *
 * Owns: keys (load, check, DNS record) and signatures.  Not: where the
 * octets go (session_data.c, queue.c) or canonicalisation (dkim_canon.c).
 */
#ifndef SUBMITD_DKIM_H
#define SUBMITD_DKIM_H

#include <stddef.h>
#include <time.h>

#include "smtp_parse.h"

struct config;

/* A dkim section: one key, one signature. */
struct dkim_key {
	char		*domain;	/* lowercased */
	char		*selector;
	char		*path;
	void		*pkey;		/* EVP_PKEY, loaded with the configuration */
};

#define DKIM_RSA_BITS_MAX	8192	/* verifiers stop at 4096 or 8192 */

/*
 * The private key in pem[0..len): an Ed25519 key or an RSA key of 2048
 * to DKIM_RSA_BITS_MAX bits, as an EVP_PKEY to free with dkim_key_free; NULL with the
 * reason in err.
 */
void	*dkim_key_load(const char *pem, size_t len, char *err, size_t errlen);
void	 dkim_key_free(void *pkey);
/*
 * The TXT record that publishes pkey's public half: "v=DKIM1; k=ed25519;
 * p=..." or "v=DKIM1; k=rsa; p=..." into out.  0, or -1 when it does not fit.
 */
int	 dkim_record(const void *pkey, char *out, size_t outsize);

struct dkim_signer;

/*
 * The signer for a message whose header section (CRLF-terminated fields,
 * as they will leave) is hdr[0..len) and whose From: addresses are from[]:
 * 1 with *out set, 0 when no key is for those domains, -1 when memory runs
 * out.  The signer keeps a reference to conf.
 */
int	 dkim_begin(const struct config *conf, const char (*from)[SMTP_ADDR_MAX + 1],
	    size_t nfrom, const char *hdr, size_t len, time_t now,
	    struct dkim_signer **out);
/* The fields to write above hdr (placeholders until dkim_finish). */
const char *dkim_fields(const struct dkim_signer *, size_t *len);
/* "selector@domain,..." of the signatures, for the logs. */
const char *dkim_signers(const struct dkim_signer *);
/* Body octets as they follow the header section (after its empty line). */
void	 dkim_body(struct dkim_signer *, const char *buf, size_t len);
/* Signs (may take a millisecond for RSA: a worker's job).  0 or -1. */
int	 dkim_finish(struct dkim_signer *);
void	 dkim_free(struct dkim_signer *);

/*
 * A whole message of our own (reports, bounces) msg[0..len), CRLF line
 * ends: the signed message as a new string to free in *out, and the
 * signers in desc; 0 when no key applies (*out NULL), -1 on failure.
 */
int	 dkim_sign_message(const struct config *conf, const char *msg,
	    size_t len, time_t now, char **out, size_t *outlen, char *desc,
	    size_t desclen);

#endif
