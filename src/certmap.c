/*
 * certmap.c - client certificate to login (auth.client_map).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "certmap.h"

int
certmap_parse_line(const char *line, size_t len, struct certmap_entry *e,
    const char **why)
{
	const char *end = line + len, *sp, *p, *why2;
	size_t n = 0, llen;

	memset(e, 0, sizeof(*e));
	while (line < end && (*line == ' ' || *line == '\t'))
		line++;
	while (end > line && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (line == end || *line == '#')
		return 0;
	/* The login is the last word. */
	for (sp = end; sp > line && sp[-1] != ' ' && sp[-1] != '\t'; sp--)
		;
	if (sp == line) {
		*why = "expected \"FINGERPRINT LOGIN\" or \"CN=NAME LOGIN\"";
		return -1;
	}
	llen = (size_t)(end - sp);
	if (llen > SMTP_ADDR_MAX ||
	    smtp_parse_address(sp, llen, 0, e->login, &why2) == -1 ||
	    strchr(e->login, '@') == NULL) {
		*why = "the login is not an address";
		return -1;
	}
	for (end = sp; end > line && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	if (end - line > 3 && strncasecmp(line, "CN=", 3) == 0) {
		if ((size_t)(end - line - 3) > CERTMAP_CN_MAX) {
			*why = "the name is too long";
			return -1;
		}
		e->kind = CERTMAP_CN;
		memcpy(e->key, line + 3, (size_t)(end - line - 3));
		e->key[end - line - 3] = '\0';
		if (memchr(e->key, '\0', (size_t)(end - line - 3)) != NULL) {
			*why = "a NUL in the name";
			return -1;
		}
		return 1;
	}
	e->kind = CERTMAP_FP;
	for (p = line; p < end; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || n == CERTMAP_FP_HEX) {
			*why = "a fingerprint is 64 hexadecimal digits (SHA-256), "
			    "colons optional";
			return -1;
		}
		e->key[n++] = (char)tolower((unsigned char)*p);
	}
	if (n != CERTMAP_FP_HEX) {
		*why = "a fingerprint is 64 hexadecimal digits (SHA-256), "
		    "colons optional";
		return -1;
	}
	e->key[n] = '\0';
	return 1;
}

const char *
certmap_lookup(const struct certmap_entry *m, size_t n, const char *fp,
    const char *cn)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (m[i].kind == CERTMAP_FP && fp != NULL && strcmp(m[i].key, fp) == 0)
			return m[i].login;
	for (i = 0; i < n; i++)
		if (m[i].kind == CERTMAP_CN && cn != NULL && strcmp(m[i].key, cn) == 0)
			return m[i].login;
	return NULL;
}
