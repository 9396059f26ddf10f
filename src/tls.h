/*
 * tls.h - OpenSSL contexts.
 *
 * Owns: the server context (certificate, key, protocol floor, ciphers,
 * options) and checks of the certificate files.  Not: sockets; the session
 * wraps its connection with bufferevent_openssl.
 */
#ifndef SUBMITD_TLS_H
#define SUBMITD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct config;

/* 0 when both files load and the key matches the certificate. */
int	 tls_check_files(const char *cert, const char *key, char *err,
	    size_t errlen);
SSL_CTX	*tls_server_ctx_new(const struct config *);
/*
 * Client context for delivery: TLS 1.2 floor, the system's CA store (or
 * $SSL_CERT_FILE).  Peer verification is set per connection, as the route's
 * TLS level demands.
 */
SSL_CTX	*tls_client_ctx_new(void);

#endif
