/*
 * dkim_key.c - DKIM keys: loading and checking a private key, and the DNS
 * record of its public half (RFC 6376 §3.6.1, RFC 8463 §4).  Shared by the
 * daemon (config.c) and submitctl dkim-record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim.h"

static void
ssl_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();

	snprintf(err, errlen, "%s%s%s", what, e ? ": " : "",
	    e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
	    "unknown error" : "");
	ERR_clear_error();
}

void *
dkim_key_load(const char *pem, size_t len, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pkey = NULL;

	if (bio == NULL) {
		ssl_error(err, errlen, "out of memory");
		return NULL;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		ssl_error(err, errlen, "not a PEM private key");
		return NULL;
	}
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_ED25519:
		return pkey;
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pkey) >= 2048 &&
		    EVP_PKEY_get_bits(pkey) <= DKIM_RSA_BITS_MAX)
			return pkey;
		snprintf(err, errlen, "an RSA key of %d bits: DKIM keys need "
		    "2048 or more (RFC 8301), and %d at most",
		    EVP_PKEY_get_bits(pkey), DKIM_RSA_BITS_MAX);
		break;
	default:
		snprintf(err, errlen, "neither an Ed25519 nor an RSA key");
		break;
	}
	EVP_PKEY_free(pkey);
	return NULL;
}

void
dkim_key_free(void *pkey)
{
	EVP_PKEY_free(pkey);
}

static int
is_ed25519(const void *pkey)
{
	return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;
}

int
dkim_record(const void *key, char *out, size_t outsize)
{
	EVP_PKEY *pkey = (EVP_PKEY *)key;
	unsigned char raw[32], *der = NULL, *p;
	size_t rawlen = sizeof(raw);
	int n, len, rc = -1;
	char *b64;

	if (is_ed25519(pkey)) {
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1)
			return -1;
		p = raw;
		len = (int)rawlen;
	} else {
		if ((len = i2d_PUBKEY(pkey, &der)) <= 0)
			return -1;
		p = der;
	}
	if ((b64 = malloc(4 * ((size_t)len + 2) / 3 + 1)) != NULL) {
		EVP_EncodeBlock((unsigned char *)b64, p, len);
		n = snprintf(out, outsize, "v=DKIM1; k=%s; p=%s",
		    is_ed25519(pkey) ? "ed25519" : "rsa", b64);
		rc = n > 0 && (size_t)n < outsize ? 0 : -1;
		free(b64);
	}
	OPENSSL_free(der);
	return rc;
}

