/*
 * tls.c - OpenSSL server context.
 *
 * TLS 1.2 is the floor (RFC 8996 retires 1.0 and 1.1); 1.2 offers only
 * ECDHE key exchange with AEAD ciphers, 1.3 has nothing else.  Compression
 * (CRIME) and renegotiation are off.  Buffers are released while a
 * connection is idle, which is most of an SMTP session's life.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "log.h"
#include "tls.h"

#define TLS12_CIPHERS	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
			"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

static void
tls_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else
		snprintf(err, errlen, "%s", what);
	ERR_clear_error();
}

/* A memory BIO over a PEM buffer (read-only, not copied). */
static BIO *
pem_bio(const char *pem, size_t len)
{
	return BIO_new_mem_buf(pem, len > INT_MAX ? -1 : (int)len);
}

/*
 * The leaf certificate, its chain and the key, from PEM in memory: read by
 * config.c (util/files.c's rules), never by OpenSSL from a path.
 */
static int
ctx_use_pem(SSL_CTX *ctx, const char *cert, size_t certlen, const char *key,
    size_t keylen, char *err, size_t errlen)
{
	BIO *b = NULL;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	int rc = TLS_PEM_BAD_CERT;

	if ((b = pem_bio(cert, certlen)) == NULL ||
	    (x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL)) == NULL) {
		tls_error(err, errlen, "cannot load the certificate chain");
		goto done;
	}
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		tls_error(err, errlen, "cannot use the certificate");
		goto done;
	}
	SSL_CTX_clear_chain_certs(ctx);
	for (;;) {
		X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);

		if (ca == NULL)
			break;
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
			X509_free(ca);
			tls_error(err, errlen, "cannot load the certificate chain");
			goto done;
		}
	}
	ERR_clear_error();	/* the end of the chain reads as an error */
	BIO_free(b);
	rc = TLS_PEM_BAD_KEY;
	if ((b = pem_bio(key, keylen)) == NULL ||
	    (pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		tls_error(err, errlen, "cannot load the private key");
		goto done;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, "the key does not match the certificate");
		goto done;
	}
	rc = 0;
done:
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

int
tls_check_pem(const char *cert, size_t certlen, const char *key,
    size_t keylen, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int rc;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errlen, "cannot create a TLS context");
		return TLS_PEM_BAD_CERT;
	}
	rc = ctx_use_pem(ctx, cert, certlen, key, keylen, err, errlen);
	SSL_CTX_free(ctx);
	return rc;
}

/* The handshake goes on whatever the certificate: EXTERNAL judges later. */
static int
accept_any(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

/*
 * auth.client_ca: ask (not require) a client certificate from those CAs,
 * named in the CertificateRequest; the result is read by tls_peer_cert.
 */
static int
ask_client_cert(SSL_CTX *ctx, const struct config *conf, char *err,
    size_t errlen)
{
	STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
	X509_STORE *st;
	BIO *b;
	X509 *x;

	if (names == NULL || (st = tls_store_new(conf->auth_client_ca_pem,
	    conf->auth_client_ca_len, err, errlen)) == NULL) {
		sk_X509_NAME_free(names);
		return -1;
	}
	SSL_CTX_set_cert_store(ctx, st);
	if ((b = pem_bio(conf->auth_client_ca_pem, conf->auth_client_ca_len)) != NULL) {
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
			X509_NAME *n = X509_NAME_dup(X509_get_subject_name(x));

			if (n != NULL && sk_X509_NAME_push(names, n) == 0)
				X509_NAME_free(n);
			X509_free(x);
		}
		BIO_free(b);
	}
	ERR_clear_error();
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
	    accept_any);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"submitd", 7);
	return 0;
}

int
tls_peer_cert(SSL *ssl, char *fp, size_t fplen, char *cn, size_t cnlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	X509 *x = SSL_get1_peer_certificate(ssl);
	int n, verified;

	fp[0] = cn[0] = '\0';
	if (x == NULL)
		return -1;
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1 && fplen > 2 * mdlen)
		for (i = 0; i < mdlen; i++)
			snprintf(fp + 2 * i, fplen - 2 * i, "%02x", md[i]);
	/* The CN as it is: one too long, or with a NUL in it, is no name. */
	if ((n = X509_NAME_get_index_by_NID(X509_get_subject_name(x),
	    NID_commonName, -1)) >= 0) {
		const ASN1_STRING *d = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(X509_get_subject_name(x), n));
		int dl = ASN1_STRING_length(d);

		if (dl > 0 && (size_t)dl < cnlen &&
		    memchr(ASN1_STRING_get0_data(d), '\0', (size_t)dl) == NULL) {
			memcpy(cn, ASN1_STRING_get0_data(d), (size_t)dl);
			cn[dl] = '\0';
		}
	}
	verified = SSL_get_verify_result(ssl) == X509_V_OK;
	X509_free(x);
	ERR_clear_error();
	return verified;
}

SSL_CTX *
tls_server_ctx_new(const struct config *conf)
{
	SSL_CTX *ctx;
	char err[256];

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, sizeof(err), "cannot create a TLS context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ctx, conf->tls_min_version);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		tls_error(err, sizeof(err), "cannot set the cipher list");
		goto fail;
	}
	if (ctx_use_pem(ctx, conf->tls_cert_pem, conf->tls_cert_len,
	    conf->tls_key_pem, conf->tls_key_len, err, sizeof(err)) != 0)
		goto fail;
	/*
	 * No session cache and no TLS 1.3 tickets: SMTP clients rarely resume,
	 * a cache costs memory, and tickets that can never be redeemed cost a
	 * signature-free but real write after every handshake.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (conf->auth_client_ca_pem != NULL &&
	    ask_client_cert(ctx, conf, err, sizeof(err)) == -1)
		goto fail;
	return ctx;
fail:
	log_errx("event=tls-init error=%s certificate=%s", log_str(err),
	    log_str(conf->tls_certificate));
	SSL_CTX_free(ctx);
	return NULL;
}

void *
tls_store_new(const char *pem, size_t len, char *err, size_t errlen)
{
	X509_STORE *st = X509_STORE_new();
	BIO *b = pem_bio(pem, len);
	X509 *x;
	int n = 0;

	if (st == NULL || b == NULL) {
		tls_error(err, errlen, "out of memory");
		X509_STORE_free(st);
		BIO_free(b);
		return NULL;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, x) == 1)
			n++;
		X509_free(x);
	}
	ERR_clear_error();
	BIO_free(b);
	if (n == 0) {
		snprintf(err, errlen, "no certificate in it");
		X509_STORE_free(st);
		return NULL;
	}
	return st;
}

void
tls_store_free(void *st)
{
	X509_STORE_free(st);
}

SSL_CTX *
tls_client_ctx_new(void)
{
	SSL_CTX *ctx;
	char err[256];

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_error(err, sizeof(err), "cannot create a TLS client context");
		log_errx("event=tls-init error=%s", log_str(err));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warnx("event=tls-init error=\"cannot load the system CA store\"");
	return ctx;
}
