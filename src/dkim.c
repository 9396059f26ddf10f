/*
 * dkim.c - keys and signatures (RFC 6376 §3.5, §5; RFC 8463).
 *
 * A signature field is laid out at dkim_begin with every value of its final
 * length (t= is fixed then, bh= is 44 characters, b= is the base64 of
 * EVP_PKEY_get_size octets, folded at 72), so the octets written early can
 * be overwritten in place:
 *
 *	DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;
 *		d=example.test; s=ed2026; t=1764360000;
 *		h=from:from:to:to:...;
 *		bh=<44>;
 *		b=<folded>
 *
 * The signed data is the relaxed form of the fields named in h=, then this
 * field's relaxed form with b= empty and no CRLF (§3.7).  RSA signs it with
 * SHA-256 (PKCS#1 v1.5); Ed25519 signs its SHA-256 digest (RFC 8463 §3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "config.h"
#include "dkim.h"
#include "dkim_canon.h"
#include "headers.h"

#define DKIM_MAX_SIGS	8		/* signatures on one message */
#define BH_LEN		44		/* base64 of a SHA-256 digest */
#define B_FOLD		72		/* b= characters per line */
#define H_FOLD		72		/* h= line length before a fold */
#define H_MAX		2048

/* The fields h= covers (the list), each over-signed. */
static const char *const signed_fields[] = {
	"from", "to", "cc", "subject", "date", "message-id", "mime-version",
	"content-type", "content-transfer-encoding", "reply-to", "in-reply-to",
	"references",
};

static int
is_ed25519(const void *pkey)
{
	return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519;
}

/* ---- the signer ---- */

struct dkim_sig {
	const struct dkim_key	*key;
	size_t			 start;		/* the field in text */
	size_t			 bpos;		/* its b= value */
	size_t			 bhpos;		/* its bh= value */
	size_t			 blen;		/* base64 characters of b= */
};

struct dkim_signer {
	const struct config	*conf;
	EVP_MD_CTX		*body;		/* SHA-256 of the canonical body */
	struct dkim_body_canon	 canon;
	char			*hcanon;	/* the signed fields, relaxed */
	size_t			 hcanonlen;
	char			*text;		/* the DKIM-Signature fields */
	size_t			 textlen;
	struct dkim_sig		 sigs[DKIM_MAX_SIGS];
	size_t			 nsigs;
	char			 signers[512];
};

static void
body_sink(void *arg, const char *buf, size_t len)
{
	struct dkim_signer *s = arg;

	EVP_DigestUpdate(s->body, buf, len);
}

/* Is domain d (lowercased) the key's domain or under it? */
static int
domain_covers(const char *keydom, const char *d)
{
	size_t kl = strlen(keydom), dl = strlen(d);

	if (dl == kl)
		return strcasecmp(d, keydom) == 0;
	return dl > kl && d[dl - kl - 1] == '.' &&
	    strcasecmp(d + dl - kl, keydom) == 0;
}

/* Appends fmt to a growing string (room made by the caller's estimate). */
static void
text_add(char *text, size_t *len, const char *s, size_t n)
{
	memcpy(text + *len, s, n);
	*len += n;
}

/* Writes value with "\r\n\t" before any piece that would pass width. */
static void
text_fold_b(char *text, size_t *len, const char *b, size_t blen)
{
	size_t i;

	for (i = 0; i < blen; i += B_FOLD) {
		if (i > 0)
			text_add(text, len, "\r\n\t", 3);
		text_add(text, len, b + i, blen - i < B_FOLD ? blen - i : B_FOLD);
	}
}

/* h= folded between names, column counted from col. */
static void
text_fold_h(char *text, size_t *len, const char *h, size_t col)
{
	const char *p = h, *colon;

	while (*p != '\0') {
		size_t n;

		colon = strchr(p, ':');
		n = colon != NULL ? (size_t)(colon - p) + 1 : strlen(p);
		if (col + n > H_FOLD && p != h) {
			text_add(text, len, "\r\n\t", 3);
			col = 8;
		}
		text_add(text, len, p, n);
		col += n;
		p += n;
	}
}

/* Lays out one signature field for key at the end of s->text. */
static void
layout(struct dkim_signer *s, const struct dkim_key *k, const char *h,
    time_t now)
{
	struct dkim_sig *g = &s->sigs[s->nsigs++];
	char buf[600], fill[2048];	/* 253 + 63 + text; b= of 8192 bits */
	size_t siglen = (size_t)EVP_PKEY_get_size(k->pkey);
	int n;

	g->key = k;
	g->start = s->textlen;
	g->blen = 4 * ((siglen + 2) / 3);
	/* domain <= 253 and selector <= 63 (config.c): it fits. */
	n = snprintf(buf, sizeof(buf), "DKIM-Signature: v=1; a=%s; "
	    "c=relaxed/relaxed;\r\n\td=%s; s=%s; t=%lld;\r\n\th=",
	    is_ed25519(k->pkey) ? "ed25519-sha256" : "rsa-sha256", k->domain,
	    k->selector, (long long)now);
	if (n < 0 || (size_t)n >= sizeof(buf) || g->blen > sizeof(fill))
		abort();
	text_add(s->text, &s->textlen, buf, n);
	text_fold_h(s->text, &s->textlen, h, 10);
	text_add(s->text, &s->textlen, ";\r\n\tbh=", 7);
	g->bhpos = s->textlen;
	memset(fill, 'A', sizeof(fill));
	text_add(s->text, &s->textlen, fill, BH_LEN);
	text_add(s->text, &s->textlen, ";\r\n\tb=", 6);
	g->bpos = s->textlen;
	text_fold_b(s->text, &s->textlen, fill, g->blen);
	text_add(s->text, &s->textlen, "\r\n", 2);
}

int
dkim_begin(const struct config *conf, const char (*from)[SMTP_ADDR_MAX + 1],
    size_t nfrom, const char *hdr, size_t len, time_t now,
    struct dkim_signer **out)
{
	const struct dkim_key *use[DKIM_MAX_SIGS];
	struct dkim_signer *s;
	size_t i, j, nuse = 0, room, n = 0;
	char h[H_MAX];

	*out = NULL;
	for (i = 0; i < conf->ndkim && nuse < DKIM_MAX_SIGS; i++)
		for (j = 0; j < nfrom; j++) {
			const char *at = strrchr(from[j], '@');

			if (at != NULL &&
			    domain_covers(conf->dkim[i].domain, at + 1)) {
				use[nuse++] = &conf->dkim[i];
				break;
			}
		}
	if (nuse == 0)
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	if (dkim_select_fields(hdr, len, signed_fields,
	    sizeof(signed_fields) / sizeof(signed_fields[0]), h, sizeof(h),
	    &s->hcanon, &s->hcanonlen) == -1 ||
	    (s->body = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(s->body, EVP_sha256(), NULL) != 1) {
		dkim_free(s);
		return -1;
	}
	/* Each field: fixed text, h= with folds, bh=, b= with folds. */
	room = 0;
	for (i = 0; i < nuse; i++)
		room += 300 + strlen(use[i]->domain) + strlen(use[i]->selector) +
		    2 * strlen(h) + BH_LEN +
		    2 * (size_t)EVP_PKEY_get_size(use[i]->pkey) + 64;
	if ((s->text = malloc(room)) == NULL) {
		dkim_free(s);
		return -1;
	}
	for (i = 0; i < nuse; i++) {
		layout(s, use[i], h, now);
		n += snprintf(s->signers + n, sizeof(s->signers) - n, "%s%s@%s",
		    i > 0 ? "," : "", use[i]->selector, use[i]->domain);
		if (n >= sizeof(s->signers))
			n = sizeof(s->signers) - 1;
	}
	dkim_body_canon_init(&s->canon, body_sink, s);
	s->conf = config_ref(conf);
	*out = s;
	return 1;
}

const char *
dkim_fields(const struct dkim_signer *s, size_t *len)
{
	*len = s->textlen;
	return s->text;
}

const char *
dkim_signers(const struct dkim_signer *s)
{
	return s->signers;
}

void
dkim_body(struct dkim_signer *s, const char *buf, size_t len)
{
	dkim_body_canon_update(&s->canon, buf, len);
}

/* Signs data[0..len) with key into sig (room for EVP_PKEY_get_size). */
static int
sign(EVP_PKEY *pkey, const unsigned char *data, size_t len,
    unsigned char *sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char digest[32];
	unsigned int dlen;
	int ok = 0;

	if (ctx == NULL)
		return -1;
	if (is_ed25519(pkey)) {
		/* RFC 8463 §3: Ed25519 over the SHA-256 digest of the data. */
		ok = EVP_Digest(data, len, digest, &dlen, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, siglen, digest, dlen) == 1;
	} else
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : -1;
}

int
dkim_finish(struct dkim_signer *s)
{
	unsigned char digest[32], sig[1024];
	char bh[BH_LEN + 1], b64[1400], *data;
	unsigned int dlen;
	size_t i;

	dkim_body_canon_final(&s->canon);
	if (EVP_DigestFinal_ex(s->body, digest, &dlen) != 1 || dlen != 32)
		return -1;
	EVP_EncodeBlock((unsigned char *)bh, digest, 32);
	if ((data = malloc(s->hcanonlen + s->textlen + 1)) == NULL)
		return -1;
	memcpy(data, s->hcanon, s->hcanonlen);
	for (i = 0; i < s->nsigs; i++) {
		struct dkim_sig *g = &s->sigs[i];
		size_t n, siglen = sizeof(sig), len = 0;

		memcpy(s->text + g->bhpos, bh, BH_LEN);
		n = dkim_canon_header(s->text + g->start, g->bpos - g->start, 0,
		    data + s->hcanonlen);
		if ((size_t)EVP_PKEY_get_size(g->key->pkey) > sizeof(sig) ||
		    sign(g->key->pkey, (unsigned char *)data, s->hcanonlen + n,
		    sig, &siglen) == -1 || 4 * ((siglen + 2) / 3) != g->blen) {
			free(data);
			return -1;
		}
		EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
		len = g->bpos;
		text_fold_b(s->text, &len, b64, g->blen);
	}
	explicit_bzero(sig, sizeof(sig));
	free(data);
	return 0;
}

void
dkim_free(struct dkim_signer *s)
{
	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->body);
	free(s->hcanon);
	free(s->text);
	config_unref(s->conf);
	free(s);
}

/* ---- whole messages of our own ---- */

int
dkim_sign_message(const struct config *conf, const char *msg, size_t len,
    time_t now, char **out, size_t *outlen, char *desc, size_t desclen)
{
	char from[HDR_FROM_MAX][SMTP_ADDR_MAX + 1];
	struct dkim_signer *s;
	size_t hlen = hdr_section_len(msg, len), fields, off, flen, tlen;
	int nfrom = 0, rc;
	const char *text;

	*out = NULL;
	*outlen = 0;
	if (desclen > 0)
		desc[0] = '\0';
	if (hlen == 0 || conf->ndkim == 0)
		return 0;
	fields = hlen >= 2 ? hlen - 2 : 0;	/* without the empty line */
	for (off = 0; off < fields; off += flen) {
		flen = dkim_field_len(msg + off, fields - off);
		if (flen > 5 && strncasecmp(msg + off, "From:", 5) == 0) {
			nfrom = hdr_parse_from(msg + off + 5, flen - 5, 1, from,
			    HDR_FROM_MAX);
			break;
		}
	}
	if (nfrom <= 0)
		return 0;
	if ((rc = dkim_begin(conf, (const char (*)[SMTP_ADDR_MAX + 1])from,
	    (size_t)nfrom, msg, fields, now, &s)) != 1)
		return rc;
	dkim_body(s, msg + hlen, len - hlen);
	if (dkim_finish(s) == -1) {
		dkim_free(s);
		return -1;
	}
	text = dkim_fields(s, &tlen);
	if ((*out = malloc(tlen + len + 1)) == NULL) {
		dkim_free(s);
		return -1;
	}
	memcpy(*out, text, tlen);
	memcpy(*out + tlen, msg, len);
	(*out)[tlen + len] = '\0';
	*outlen = tlen + len;
	snprintf(desc, desclen, "%s", dkim_signers(s));
	dkim_free(s);
	return 1;
}
