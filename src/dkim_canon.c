/*
 * dkim_canon.c - relaxed canonicalisation and tag lists (RFC 6376 §3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_canon.h"

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- the body ---- */

void
dkim_body_canon_init(struct dkim_body_canon *b,
    void (*sink)(void *, const char *, size_t), void *arg)
{
	memset(b, 0, sizeof(*b));
	b->sink = sink;
	b->arg = arg;
}

static void
put(struct dkim_body_canon *b, const char *s, size_t n)
{
	if (b->len + n > sizeof(b->buf)) {
		b->sink(b->arg, b->buf, b->len);
		b->len = 0;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}

/* An octet that is neither whitespace nor part of a line end. */
static void
put_text(struct dkim_body_canon *b, char c)
{
	for (; b->crlfs > 0; b->crlfs--)
		put(b, "\r\n", 2);
	if (b->wsp)
		put(b, " ", 1);
	b->wsp = 0;
	b->any = 1;
	put(b, &c, 1);
}

void
dkim_body_canon_update(struct dkim_body_canon *b, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				/* A line ends: its trailing whitespace goes. */
				b->wsp = 0;
				b->crlfs++;
				continue;
			}
			put_text(b, '\r');	/* a bare CR is text */
		}
		if (c == '\r')
			b->cr = 1;
		else if (is_wsp(c))
			b->wsp = 1;
		else
			put_text(b, c);
	}
}

void
dkim_body_canon_final(struct dkim_body_canon *b)
{
	if (b->cr)
		put_text(b, '\r');
	b->cr = 0;
	/* Empty lines at the end go; a body with text ends with one CRLF. */
	if (b->any)
		put(b, "\r\n", 2);
	b->crlfs = 0;
	b->wsp = 0;
	if (b->len > 0)
		b->sink(b->arg, b->buf, b->len);
	b->len = 0;
}

/* ---- header fields ---- */

size_t
dkim_canon_header(const char *f, size_t len, int crlf, char *out)
{
	size_t i = 0, n = 0;
	int space = 0, value = 0;

	/* The name, lowercased, without whitespace before the colon. */
	for (; i < len && f[i] != ':'; i++)
		if (!is_wsp(f[i]) && f[i] != '\r' && f[i] != '\n') {
			char c = f[i];

			out[n++] = c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
		}
	if (i < len) {
		out[n++] = ':';
		i++;
	}
	/* The value: unfolded, runs of whitespace as one SP, none at the ends. */
	for (; i < len; i++) {
		char c = f[i];

		if (is_wsp(c) || c == '\r' || c == '\n') {
			space = 1;
			continue;
		}
		if (space && value)
			out[n++] = ' ';
		space = 0;
		value = 1;
		out[n++] = c;
	}
	if (crlf) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	return n;
}

size_t
dkim_field_len(const char *hdr, size_t len)
{
	const char *p = hdr, *end = hdr + len, *nl;

	while ((nl = memchr(p, '\n', end - p)) != NULL) {
		p = nl + 1;
		if (p >= end || !is_wsp(*p))
			return p - hdr;
	}
	return len;
}

/* Does the field at f[0..len) have this name (any case)? */
static int
field_is(const char *f, size_t len, const char *name)
{
	size_t n = strlen(name), i;

	if (len <= n || strncasecmp(f, name, n) != 0)
		return 0;
	for (i = n; i < len && is_wsp(f[i]); i++)
		;
	return i < len && f[i] == ':';
}

/* Appends name, lowercased, to the h= list; -1 when it does not fit. */
static int
h_add(char *h, size_t hsize, size_t *hn, const char *name)
{
	size_t nl = strlen(name), c;

	if (*hn + nl + 2 > hsize)
		return -1;
	if (*hn > 0)
		h[(*hn)++] = ':';
	for (c = 0; c < nl; c++) {
		char ch = name[c];

		h[(*hn)++] = ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
	}
	h[*hn] = '\0';
	return 0;
}

int
dkim_select_fields(const char *hdr, size_t len, const char *const *names,
    size_t nnames, char *h, size_t hsize, char **canon, size_t *canonlen)
{
	const char *start[DKIM_SIGN_FIELDS_MAX];
	size_t flen[DKIM_SIGN_FIELDS_MAX], k, j, off, hn = 0, cn = 0, used = 0;
	char *out;

	*canon = NULL;
	*canonlen = 0;
	if (hsize == 0)
		return -1;
	h[0] = '\0';
	/* Room for all chosen fields: at most the section, plus CRLFs. */
	if ((out = malloc(len + 2 * DKIM_SIGN_FIELDS_MAX + 1)) == NULL)
		return -1;
	for (k = 0; k < nnames; k++) {
		size_t total = 0, take, skip, seen = 0, m = 0;

		for (off = 0; off < len; off += j) {
			j = dkim_field_len(hdr + off, len - off);
			total += field_is(hdr + off, j, names[k]);
		}
		/*
		 * A verifier takes instances from the last up, one per name
		 * in h=: when not all fit, the last ones are signed and the
		 * name is not listed once more (that would name a real one).
		 */
		take = total < DKIM_SIGN_FIELDS_MAX - used ? total :
		    DKIM_SIGN_FIELDS_MAX - used;
		skip = total - take;
		for (off = 0; off < len && m < take; off += j) {
			j = dkim_field_len(hdr + off, len - off);
			if (field_is(hdr + off, j, names[k]) && seen++ >= skip) {
				start[used + m] = hdr + off;
				flen[used + m] = j;
				m++;
			}
		}
		/* The last instance first, then up; then the name once more. */
		for (j = 0; j < take + (skip == 0); j++) {
			if (h_add(h, hsize, &hn, names[k]) == -1) {
				free(out);
				return -1;
			}
			if (j < take) {
				size_t at = used + take - 1 - j;

				cn += dkim_canon_header(start[at], flen[at], 1, out + cn);
			}
		}
		used += take;
	}
	out[cn] = '\0';
	*canon = out;
	*canonlen = cn;
	return 0;
}

/* ---- tag lists ---- */

int
dkim_tag(const char *list, size_t len, const char *tag, char *out,
    size_t outsize)
{
	size_t i = 0, tlen = strlen(tag);

	while (i < len) {
		size_t ns, ne, vs, ve, end;

		while (i < len && (is_wsp(list[i]) || list[i] == '\r' ||
		    list[i] == '\n'))
			i++;
		if (i >= len)
			break;
		ns = i;
		while (i < len && list[i] != '=' && list[i] != ';')
			i++;
		if (i >= len || list[i] != '=')
			return -1;	/* a tag without "=" */
		ne = i;
		while (ne > ns && (is_wsp(list[ne - 1]) || list[ne - 1] == '\r' ||
		    list[ne - 1] == '\n'))
			ne--;
		i++;
		end = i;
		while (end < len && list[end] != ';')
			end++;
		vs = i;
		ve = end;
		while (vs < ve && (is_wsp(list[vs]) || list[vs] == '\r' ||
		    list[vs] == '\n'))
			vs++;
		while (ve > vs && (is_wsp(list[ve - 1]) || list[ve - 1] == '\r' ||
		    list[ve - 1] == '\n'))
			ve--;
		if (ne - ns == tlen && memcmp(list + ns, tag, tlen) == 0) {
			if (ve - vs >= outsize)
				return -1;
			memcpy(out, list + vs, ve - vs);
			out[ve - vs] = '\0';
			return 1;
		}
		i = end + 1;
	}
	return 0;
}

int
dkim_top_signers(const char *msg, size_t len, char *out, size_t outsize)
{
	size_t off = 0, j, n = 0;
	char d[256], s[128];

	if (outsize == 0)
		return 0;
	out[0] = '\0';
	for (; off < len; off += j) {
		const char *colon;

		j = dkim_field_len(msg + off, len - off);
		if (!field_is(msg + off, j, "DKIM-Signature"))
			break;
		colon = memchr(msg + off, ':', j);
		if (dkim_tag(colon + 1, j - (colon + 1 - (msg + off)), "d", d,
		    sizeof(d)) != 1 ||
		    dkim_tag(colon + 1, j - (colon + 1 - (msg + off)), "s", s,
		    sizeof(s)) != 1)
			continue;
		if (n + strlen(s) + strlen(d) + 3 > outsize)
			break;
		n += (size_t)snprintf(out + n, outsize - n, n ? ",%s@%s" : "%s@%s",
		    s, d);
	}
	return n > 0;
}
