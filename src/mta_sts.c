/*
 * mta_sts.c - MTA-STS policies and TXT records, TLS-RPT TXT records.
 *
 * Pure: no I/O, no allocation; RFC 8461 §3.1-3.2 and §4.1, RFC 8460 §3.
 * Keys and values are case-sensitive where the RFCs say %s.  What cannot
 * be read with confidence is refused: a policy we read differently from
 * the domain's intent could send mail to a host the domain never named.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mta_sts.h"

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* A domain name of LDH labels, each 1..63, at most 253 in all. */
static int
valid_domain(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-')
			return 0;
		if (label == 0 && s[i] == '-')
			return 0;
		if (++label > 63)
			return 0;
	}
	return s[len - 1] != '-';
}

static int
key_is(const char *k, size_t klen, const char *word)
{
	return klen == strlen(word) && memcmp(k, word, klen) == 0;
}

int
mta_sts_parse_policy(const char *buf, size_t len, struct mta_sts_policy *p,
    const char **why)
{
	size_t pos = 0, end, next, klen, vstart, vlen;
	int have_version = 0, have_mode = 0, have_age = 0;

	memset(p, 0, sizeof(*p));
	*why = NULL;
	if (len > MTA_STS_POLICY_MAX) {
		*why = "policy larger than 64 KiB";
		return -1;
	}
	while (pos < len) {
		const char *line = buf + pos, *colon;

		/* RFC 8461 §3.2: sts-policy-term-delim = CRLF / LF */
		for (end = pos; end < len && buf[end] != '\n'; end++)
			;
		next = end < len ? end + 1 : end;
		if (end > pos && buf[end - 1] == '\r')
			end--;
		/* Trailing white space belongs to no value. */
		while (end > pos && is_wsp(buf[end - 1]))
			end--;
		pos = next;
		if (end == (size_t)(line - buf))
			continue;		/* an empty line */
		if ((colon = memchr(line, ':', end - (line - buf))) == NULL) {
			*why = "a line without \"key:\"";
			return -1;
		}
		klen = colon - line;
		vstart = colon + 1 - buf;
		while (vstart < end && is_wsp(buf[vstart]))
			vstart++;
		vlen = end - vstart;
		if (memchr(buf + vstart, '\0', vlen) != NULL ||
		    memchr(line, '\0', klen) != NULL) {
			*why = "a NUL byte";
			return -1;
		}
		if (key_is(line, klen, "version")) {
			if (have_version++)
				continue;	/* §3.2: the first one counts */
			if (vlen != 5 || memcmp(buf + vstart, "STSv1", 5) != 0) {
				*why = "version is not STSv1";
				return -1;
			}
		} else if (key_is(line, klen, "mode")) {
			if (have_mode++)
				continue;
			if (vlen == 7 && memcmp(buf + vstart, "enforce", 7) == 0)
				p->mode = MTA_STS_ENFORCE;
			else if (vlen == 7 && memcmp(buf + vstart, "testing", 7) == 0)
				p->mode = MTA_STS_TESTING;
			else if (vlen == 4 && memcmp(buf + vstart, "none", 4) == 0)
				p->mode = MTA_STS_NONE;
			else {
				*why = "mode is not enforce, testing or none";
				return -1;
			}
		} else if (key_is(line, klen, "max_age")) {
			size_t i;
			long v = 0;

			if (have_age++)
				continue;
			if (vlen == 0 || vlen > 10) {
				*why = "max_age is not 1 to 10 digits";
				return -1;
			}
			for (i = 0; i < vlen; i++) {
				if (!is_digit(buf[vstart + i])) {
					*why = "max_age is not a number";
					return -1;
				}
				if (v < 100000000000L)
					v = v * 10 + (buf[vstart + i] - '0');
			}
			p->max_age = v > MTA_STS_MAX_AGE_MAX ? MTA_STS_MAX_AGE_MAX : v;
		} else if (key_is(line, klen, "mx")) {
			const char *v = buf + vstart;
			size_t dlen = vlen, i;

			if (dlen >= 2 && v[0] == '*' && v[1] == '.') {
				if (!valid_domain(v + 2, dlen - 2)) {
					*why = "an mx pattern that is not a domain";
					return -1;
				}
			} else if (!valid_domain(v, dlen)) {
				*why = "an mx pattern that is not a domain";
				return -1;
			}
			if (p->nmx == MTA_STS_MX_MAX)
				continue;	/* more patterns than we keep */
			for (i = 0; i < dlen; i++)
				p->mx[p->nmx][i] = lower(v[i]);
			p->mx[p->nmx][dlen] = '\0';
			p->nmx++;
		} else {
			/* §3.2: extensions are 1..32 of alphanum, "_", "-", "." */
			size_t i;

			if (klen == 0 || klen > 32 || !(is_alpha(line[0]) ||
			    is_digit(line[0]))) {
				*why = "a malformed key";
				return -1;
			}
			for (i = 0; i < klen; i++)
				if (!is_alpha(line[i]) && !is_digit(line[i]) &&
				    line[i] != '_' && line[i] != '-' && line[i] != '.') {
					*why = "a malformed key";
					return -1;
				}
		}
	}
	if (!have_version)
		*why = "no version";
	else if (!have_mode)
		*why = "no mode";
	else if (!have_age)
		*why = "no max_age";
	else if (p->nmx == 0 && p->mode != MTA_STS_NONE)
		*why = "no mx";
	return *why == NULL ? 0 : -1;
}

/*
 * Splits "k=v; k=v;" (RFC 8461 §3.1, RFC 8460 §3: *WSP ";" *WSP between
 * fields, an optional ";" at the end) and calls fn for each field.
 * Returns -1 when a field is malformed or fn says so.
 */
static int
each_field(const char *s, size_t len,
    int (*fn)(const char *k, size_t klen, const char *v, size_t vlen, void *),
    void *arg)
{
	size_t pos = 0, end, eq;

	while (pos < len) {
		while (pos < len && is_wsp(s[pos]))
			pos++;
		if (pos == len)
			break;
		for (end = pos; end < len && s[end] != ';'; end++)
			;
		eq = pos;
		while (eq < end && s[eq] != '=')
			eq++;
		if (eq == end || eq == pos)
			return -1;
		{
			size_t vend = end;

			while (vend > eq + 1 && is_wsp(s[vend - 1]))
				vend--;
			if (fn(s + pos, eq - pos, s + eq + 1, vend - eq - 1, arg) == -1)
				return -1;
		}
		pos = end < len ? end + 1 : end;
	}
	return 0;
}

static int
starts_record(const char *s, size_t len, const char *version)
{
	size_t n = strlen(version);

	return len >= n && memcmp(s, version, n) == 0 &&
	    (len == n || s[n] == ';' || is_wsp(s[n]));
}

/* Exactly one of the records starts with version: its index, else -1. */
static int
the_record(const char *const *txt, const size_t *lens, size_t n,
    const char *version)
{
	size_t i;
	int found = -1;

	for (i = 0; i < n; i++)
		if (starts_record(txt[i], lens[i], version)) {
			if (found != -1)
				return -2;	/* several: as if none */
			found = (int)i;
		}
	return found;
}

struct sts_txt {
	char		*id;
	int		 first, have_id;
};

static int
sts_field(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct sts_txt *t = arg;
	size_t i;

	if (t->first) {
		t->first = 0;
		return klen == 1 && k[0] == 'v' && vlen == 5 &&
		    memcmp(v, "STSv1", 5) == 0 ? 0 : -1;
	}
	if (klen == 2 && memcmp(k, "id", 2) == 0) {
		if (t->have_id++)
			return 0;
		if (vlen == 0 || vlen > MTA_STS_ID_MAX)
			return -1;
		for (i = 0; i < vlen; i++)
			if (!is_alpha(v[i]) && !is_digit(v[i]))
				return -1;
		memcpy(t->id, v, vlen);
		t->id[vlen] = '\0';
	}
	return 0;
}

int
mta_sts_parse_txt(const char *const *txt, const size_t *lens, size_t n,
    char *id)
{
	struct sts_txt t = { id, 1, 0 };
	int i = the_record(txt, lens, n, "v=STSv1");

	id[0] = '\0';
	if (i < 0)
		return 0;
	if (memchr(txt[i], '\0', lens[i]) != NULL ||
	    each_field(txt[i], lens[i], sts_field, &t) == -1 || !t.have_id) {
		id[0] = '\0';
		return -1;
	}
	return 1;
}

int
mta_sts_pattern_match(const char *pat, const char *host)
{
	size_t hlen = strlen(host), plen = strlen(pat);
	const char *dot;

	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (plen >= 2 && pat[0] == '*' && pat[1] == '.') {
		/* "*.example.com": one label, then ".example.com". */
		if ((dot = memchr(host, '.', hlen)) == NULL || dot == host)
			return 0;
		return (size_t)(host + hlen - dot) == plen - 1 &&
		    strncasecmp(dot, pat + 1, plen - 1) == 0;
	}
	return hlen == plen && strncasecmp(host, pat, plen) == 0;
}

int
mta_sts_mx_match(const struct mta_sts_policy *p, const char *host)
{
	size_t i;

	for (i = 0; i < p->nmx; i++)
		if (mta_sts_pattern_match(p->mx[i], host))
			return 1;
	return 0;
}

struct rpt_txt {
	struct tlsrpt_record	*r;
	int			 first, have_rua;
};

static int
rpt_field(const char *k, size_t klen, const char *v, size_t vlen, void *arg)
{
	struct rpt_txt *t = arg;
	size_t pos = 0, end;

	if (t->first) {
		t->first = 0;
		return klen == 1 && k[0] == 'v' && vlen == 8 &&
		    memcmp(v, "TLSRPTv1", 8) == 0 ? 0 : -1;
	}
	if (!(klen == 3 && memcmp(k, "rua", 3) == 0) || t->have_rua++)
		return 0;
	/* RFC 8460 §3: URIs separated by *WSP "," *WSP */
	while (pos < vlen) {
		while (pos < vlen && is_wsp(v[pos]))
			pos++;
		for (end = pos; end < vlen && v[end] != ','; end++)
			;
		{
			size_t e = end;

			while (e > pos && is_wsp(v[e - 1]))
				e--;
			if (e == pos)
				return -1;
			if (((e - pos > 7 && strncasecmp(v + pos, "mailto:", 7) == 0) ||
			    (e - pos > 8 && strncasecmp(v + pos, "https://", 8) == 0)) &&
			    e - pos < sizeof(t->r->rua[0]) &&
			    t->r->nrua < TLSRPT_RUA_MAX) {
				size_t i;

				for (i = pos; i < e; i++)
					if ((unsigned char)v[i] <= 0x20 ||
					    (unsigned char)v[i] >= 0x7f)
						return -1;
				memcpy(t->r->rua[t->r->nrua], v + pos, e - pos);
				t->r->rua[t->r->nrua][e - pos] = '\0';
				t->r->nrua++;
			}
		}
		pos = end < vlen ? end + 1 : end;
	}
	return 0;
}

int
tlsrpt_parse_txt(const char *const *txt, const size_t *lens, size_t n,
    struct tlsrpt_record *r)
{
	struct rpt_txt t = { r, 1, 0 };
	int i = the_record(txt, lens, n, "v=TLSRPTv1");

	memset(r, 0, sizeof(*r));
	if (i < 0)
		return 0;
	if (memchr(txt[i], '\0', lens[i]) != NULL ||
	    each_field(txt[i], lens[i], rpt_field, &t) == -1 || !t.have_rua) {
		memset(r, 0, sizeof(*r));
		return -1;
	}
	return r->nrua > 0 ? 1 : 0;
}
