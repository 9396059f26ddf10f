/*
 * tls.h - OpenSSL contexts.
 *
 * Owns: the server context (certificate, key, protocol floor, ciphers,
 * options), the client context and trust stores for delivery, and checks
 * of certificate and key material.  Not: sockets; the session
 * wraps its connection with bufferevent_openssl.
 */
#ifndef SUBMITD_TLS_H
#define SUBMITD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct config;

#define TLS_PEM_BAD_CERT	(-1)	/* the certificate (chain) is at fault */
#define TLS_PEM_BAD_KEY		(-2)	/* the key, or it does not match */

/* 0 when both PEM buffers load and the key matches the certificate. */
int	 tls_check_pem(const char *cert, size_t certlen, const char *key,
	    size_t keylen, char *err, size_t errlen);
/* From the certificate and key the configuration read into memory. */
SSL_CTX	*tls_server_ctx_new(const struct config *);
/*
 * The client's certificate (auth.client_ca): its SHA-256 fingerprint in
 * lowercase hex and its CN ("" when it has none).  1 when it verified
 * against the client CAs, 0 when not, -1 when the client sent none.
 */
int	 tls_peer_cert(SSL *, char *fp, size_t fplen, char *cn, size_t cnlen);
/* Trust anchors (an X509_STORE) from PEM in memory: a route's ca_file. */
void	*tls_store_new(const char *pem, size_t len, char *err, size_t errlen);
void	 tls_store_free(void *);
/*
 * Client context for delivery: TLS 1.2 floor, the system's CA store (or
 * $SSL_CERT_FILE).  Peer verification is set per connection, as the route's
 * TLS level demands.
 */
SSL_CTX	*tls_client_ctx_new(void);

#endif
