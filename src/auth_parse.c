/*
 * auth_parse.c - the login a SASL client names, and SCRAM's message shapes.
 *
 * Pure: no I/O, no allocation, every read inside the caller's range.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "auth_parse.h"

/* Copies s[0..len) cut at a NUL, lowercased; -1 when empty or too long. */
static int
copy_login(const char *s, size_t len, char *out, size_t outsize)
{
	const char *nul = memchr(s, '\0', len);
	size_t i;

	if (nul != NULL)
		len = nul - s;
	if (len == 0 || len >= outsize)
		return -1;
	for (i = 0; i < len; i++)
		out[i] = tolower((unsigned char)s[i]);
	out[len] = '\0';
	return 0;
}

/* Decodes a saslname (RFC 5802 §5.1: "=2C" is ',', "=3D" is '='). */
static int
saslname(const char *s, size_t len, char *out, size_t outsize)
{
	size_t i, n = 0;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			if (len - i < 3)
				return -1;
			if (strncmp(s + i, "=2C", 3) == 0)
				c = ',';
			else if (strncmp(s + i, "=3D", 3) == 0)
				c = '=';
			else
				return -1;
			i += 2;
		} else if (c == ',' || c == '\0')
			return -1;
		if (n + 1 >= outsize)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/* The next ","-terminated field of data from *pos: its start and length. */
static int
field(const char *data, size_t len, size_t *pos, const char **start,
    size_t *flen)
{
	const char *comma;

	if (*pos > len)
		return -1;
	*start = data + *pos;
	comma = memchr(*start, ',', len - *pos);
	*flen = comma != NULL ? (size_t)(comma - *start) : len - *pos;
	*pos += *flen + 1;	/* past the comma (or past the end) */
	return 0;
}

int
auth_parse_scram_first(const char *data, size_t len, char *user,
    size_t usersize, const char **nonce, size_t *noncelen)
{
	const char *f;
	size_t pos = 0, flen, i;
	char authzid[512];

	/* gs2-cbind-flag: "n" or "y"; "p=" (channel binding) is not offered. */
	if (field(data, len, &pos, &f, &flen) == -1 || flen != 1 ||
	    (f[0] != 'n' && f[0] != 'y') || pos > len)
		return -1;
	/* [ "a=" saslname ] */
	if (field(data, len, &pos, &f, &flen) == -1 || pos > len ||
	    (flen > 0 && (flen < 3 || strncmp(f, "a=", 2) != 0 ||
	    saslname(f + 2, flen - 2, authzid, sizeof(authzid)) == -1)))
		return -1;
	/* "n=" saslname; a reserved "m=" extension makes the message invalid. */
	if (field(data, len, &pos, &f, &flen) == -1 || pos > len || flen < 3 ||
	    strncmp(f, "n=", 2) != 0 ||
	    saslname(f + 2, flen - 2, user, usersize) == -1)
		return -1;
	/* "r=" c-nonce: printable, no ',' */
	if (field(data, len, &pos, &f, &flen) == -1 || flen < 3 ||
	    strncmp(f, "r=", 2) != 0)
		return -1;
	for (i = 2; i < flen; i++)
		if (f[i] < 0x21 || f[i] > 0x7e)
			return -1;
	*nonce = f + 2;
	*noncelen = flen - 2;
	/* Extensions may follow; each "x=..." with a letter key. */
	while (pos <= len) {
		if (field(data, len, &pos, &f, &flen) == -1 || flen < 2 ||
		    !isalpha((unsigned char)f[0]) || f[1] != '=' ||
		    memchr(f, '\0', flen) != NULL)
			return -1;
	}
	return 0;
}

int
auth_parse_scram_final(const char *data, size_t len, const char *nonce,
    size_t noncelen)
{
	const char *f;
	size_t pos = 0, flen;
	int proof = 0;

	if (field(data, len, &pos, &f, &flen) == -1 || flen < 2 ||
	    strncmp(f, "c=", 2) != 0 || pos > len)
		return -1;
	if (field(data, len, &pos, &f, &flen) == -1 || flen != noncelen + 2 ||
	    strncmp(f, "r=", 2) != 0 || memcmp(f + 2, nonce, noncelen) != 0)
		return -1;
	while (pos <= len) {
		if (field(data, len, &pos, &f, &flen) == -1 || flen < 2 ||
		    f[1] != '=' || proof)
			return -1;	/* the proof comes last */
		if (f[0] == 'p')
			proof = flen > 2;
	}
	return proof ? 0 : -1;
}

int
auth_parse_login(const char *mech, const char *data, size_t len, char *out,
    size_t outsize)
{
	const char *nul, *sp, *nonce;
	size_t noncelen, i;

	if (data == NULL)
		return -1;
	if (strcasecmp(mech, "PLAIN") == 0) {
		/* RFC 4616: [authzid] NUL authcid NUL passwd */
		const char *authcid;

		if ((nul = memchr(data, '\0', len)) == NULL)
			return -1;
		authcid = nul + 1;
		len -= authcid - data;
		if ((nul = memchr(authcid, '\0', len)) == NULL)
			return -1;
		return copy_login(authcid, nul - authcid, out, outsize);
	}
	if (strcasecmp(mech, "LOGIN") == 0)
		return copy_login(data, len, out, outsize);
	if (strncasecmp(mech, "SCRAM-", 6) == 0) {
		if (auth_parse_scram_first(data, len, out, outsize, &nonce,
		    &noncelen) == -1)
			return -1;
		return copy_login(out, strlen(out), out, outsize);
	}
	if (strcasecmp(mech, "OAUTHBEARER") == 0 ||
	    strcasecmp(mech, "XOAUTH2") == 0) {
		const char *tok;
		size_t toklen;

		if ((strcasecmp(mech, "XOAUTH2") == 0 ?
		    auth_parse_xoauth2(data, len, out, outsize, &tok, &toklen) :
		    auth_parse_oauthbearer(data, len, out, outsize, &tok,
		    &toklen)) == -1 || out[0] == '\0')
			return -1;
		return copy_login(out, strlen(out), out, outsize);
	}
	if (strcasecmp(mech, "CRAM-MD5") == 0) {
		/* RFC 2195: user SP digest; the user may hold spaces. */
		for (sp = NULL, i = 0; i < len; i++)
			if (data[i] == ' ')
				sp = data + i;
		if (sp == NULL)
			return -1;
		return copy_login(data, sp - data, out, outsize);
	}
	return -1;
}

/*
 * "key=value" pairs, each ended by ^A, then a last ^A (RFC 7628 §3.1):
 * the Bearer token of the "auth" pair.  0, or -1 when malformed.
 */
static int
bearer(const char *p, size_t len, const char **tok, size_t *toklen)
{
	const char *end = p + len, *a;
	int found = 0;

	if (len < 2 || end[-1] != '\001' || end[-2] != '\001')
		return -1;
	end--;				/* the last ^A ends the list */
	while (p < end) {
		const char *eol = memchr(p, '\001', (size_t)(end - p));
		size_t n;

		if (eol == NULL)
			return -1;
		n = (size_t)(eol - p);
		if (n >= 5 && strncmp(p, "auth=", 5) == 0) {
			if (found || n < 12 || strncasecmp(p + 5, "Bearer ", 7) != 0)
				return -1;
			for (a = p + 12; a < eol && *a == ' '; a++)
				;
			if (a == eol || memchr(a, ' ', (size_t)(eol - a)) != NULL ||
			    memchr(a, '\0', (size_t)(eol - a)) != NULL)
				return -1;
			*tok = a;
			*toklen = (size_t)(eol - a);
			found = 1;
		} else if (n == 0 || memchr(p, '=', n) == NULL)
			return -1;
		p = eol + 1;
	}
	return found ? 0 : -1;
}

int
auth_parse_oauthbearer(const char *data, size_t len, char *authzid,
    size_t azsize, const char **tok, size_t *toklen)
{
	const char *p = data, *end = data + len, *comma;

	if (azsize == 0)
		return -1;
	authzid[0] = '\0';
	/* gs2-header: "n," or "y," (no channel binding), [a=saslname] "," */
	if (len < 3 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',')
		return -1;
	p += 2;
	if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
		return -1;
	if (comma > p) {
		if (comma - p < 3 || strncmp(p, "a=", 2) != 0 ||
		    saslname(p + 2, (size_t)(comma - p - 2), authzid, azsize) == -1)
			return -1;
	}
	p = comma + 1;
	if (p >= end || *p != '\001')
		return -1;
	return bearer(p + 1, (size_t)(end - p - 1), tok, toklen);
}

int
auth_parse_xoauth2(const char *data, size_t len, char *user, size_t usersize,
    const char **tok, size_t *toklen)
{
	const char *eol;
	size_t n;

	if (usersize == 0 || len < 5 || strncmp(data, "user=", 5) != 0 ||
	    (eol = memchr(data, '\001', len)) == NULL)
		return -1;
	n = (size_t)(eol - data - 5);
	if (n == 0 || n >= usersize || memchr(data + 5, '\0', n) != NULL)
		return -1;
	memcpy(user, data + 5, n);
	user[n] = '\0';
	return bearer(eol + 1, len - (size_t)(eol + 1 - data), tok, toklen);
}
