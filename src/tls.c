/*
 * tls.c - OpenSSL server context.
 *
 * TLS 1.2 is the floor (RFC 8996 retires 1.0 and 1.1); 1.2 offers only
 * ECDHE key exchange with AEAD ciphers, 1.3 has nothing else.  Compression
 * (CRIME) and renegotiation are off.  Buffers are released while a
 * connection is idle, which is most of an SMTP session's life.
 */
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

int
tls_check_files(const char *cert, const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int rc = -1;

	if (cert == NULL || key == NULL)
		return 0;	/* reported as missing elsewhere */
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errlen, "cannot create a TLS context");
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		tls_error(err, errlen, "cannot load the certificate chain");
	else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		tls_error(err, errlen, "cannot load the private key");
	else if (SSL_CTX_check_private_key(ctx) != 1)
		tls_error(err, errlen, "the key does not match the certificate");
	else
		rc = 0;
	SSL_CTX_free(ctx);
	return rc;
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
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_certificate) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, conf->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, sizeof(err), "cannot load the certificate and key");
		goto fail;
	}
	/*
	 * No session cache and no TLS 1.3 tickets: SMTP clients rarely resume,
	 * a cache costs memory, and tickets that can never be redeemed cost a
	 * signature-free but real write after every handshake.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
fail:
	log_errx("event=tls-init error=\"%s\" certificate=%s", err,
	    conf->tls_certificate);
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_client_ctx_new(void)
{
	SSL_CTX *ctx;
	char err[256];

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_error(err, sizeof(err), "cannot create a TLS client context");
		log_errx("event=tls-init error=\"%s\"", err);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warnx("event=tls-init error=\"cannot load the system CA store\"");
	return ctx;
}
