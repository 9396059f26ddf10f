/*
 * headers.c - header section rewriting for submission (RFC 5322 §2.2, §3.4,
 * §3.6; RFC 6409 §8).
 *
 * Responsible for the header section the DATA reader hands over: where it
 * ends, dropping the fields the configuration names, and reading the From:
 * field so that policy can check it.  Not responsible for the body, for
 * deciding what to strip, or for judging the addresses.  Every function reads
 * only the byte range it is given, which may hold any byte, and allocates
 * nothing.
 *
 * The From: parser is narrower than RFC 5322 on purpose: no obsolete syntax
 * (routes, CFWS inside an addr-spec, empty list elements), no domain
 * literals, no 8-bit bytes.  What it cannot read with confidence it refuses,
 * and policy then refuses the message: a From: that we read one way and a
 * mail reader another is how sender checks get bypassed.
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "headers.h"
#include "utf8.h"

/* A position in a From: field body. */
struct cur {
	const char	*s;
	size_t		 len;
	size_t		 i;
	int		 utf8;		/* RFC 6532 §3.2: UTF8-non-ascii allowed */
};

/* ASCII only: <ctype.h> depends on the locale and wants unsigned char. */
static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* s[0..len) starts with p[0..plen), ignoring ASCII case. */
static int
iprefix(const char *s, size_t len, const char *p, size_t plen)
{
	size_t i;

	if (len < plen)
		return 0;
	for (i = 0; i < plen; i++)
		if (lower(s[i]) != lower(p[i]))
			return 0;
	return 1;
}

static int
ieq(const char *s, size_t len, const char *word)
{
	size_t wlen = strlen(word);

	return len == wlen && iprefix(s, len, word, wlen);
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5234 appendix B.1 VCHAR: no controls, no space, no 8-bit bytes. */
static int
is_vchar(char c)
{
	return c >= '!' && c <= '~';
}

/* RFC 5322 §3.2.3 atext. */
static int
is_atext(char c)
{
	return is_vchar(c) && strchr("()<>[]:;@\\,.\"", c) == NULL;
}

/* VCHAR, and with SMTPUTF8 an octet of UTF8-non-ascii (RFC 6532 §3.2). */
static int
cur_vchar(const struct cur *c, char ch)
{
	return is_vchar(ch) || (c->utf8 && (unsigned char)ch >= 0x80);
}

static int
cur_atext(const struct cur *c, char ch)
{
	return is_atext(ch) || (c->utf8 && (unsigned char)ch >= 0x80);
}

size_t
hdr_section_len(const char *buf, size_t len)
{
	size_t i;

	/* RFC 5322 §2.1: the header section may be empty. */
	if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
		return 2;
	for (i = 0; i + 4 <= len; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}

int
hdr_name_matches(const char *name, size_t namelen,
    const char *const *patterns, size_t npatterns)
{
	const char *p;
	size_t i, plen;

	for (i = 0; i < npatterns; i++) {
		if ((p = patterns[i]) == NULL)
			continue;
		plen = strlen(p);
		if (plen > 0 && p[plen - 1] == '*') {
			/* A bare "*" would strip every field, From: too. */
			if (plen > 1 && iprefix(name, namelen, p, plen - 1))
				return 1;
		} else if (ieq(name, namelen, p))
			return 1;
	}
	return 0;
}

/*
 * The line at in[pos..len): sets *end where its text ends and returns where
 * the next line starts.  RFC 5322 §2.2: lines end with CRLF; a last line
 * without one is still a line.
 */
static size_t
line_next(const char *in, size_t len, size_t pos, size_t *end)
{
	size_t i;

	for (i = pos; i + 1 < len; i++) {
		if (in[i] == '\r' && in[i + 1] == '\n') {
			*end = i;
			return i + 2;
		}
	}
	*end = len;
	return len;
}

/*
 * RFC 5322 §3.6.8: field-name = 1*ftext, ftext = %d33-57 / %d59-126, and
 * the colon right after it.  The length of the name, or 0 when the line
 * is no field.  "From :" (obs-optional, §4.5.8) is refused: it is exactly
 * what one reader takes for From: and another does not.
 */
static size_t
field_name(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] != ':'; i++)
		if (!is_vchar(s[i]))
			return 0;
	return i < len ? i : 0;
}

/* info->error is the first problem found. */
static void
set_error(struct hdr_info *info, enum hdr_error e)
{
	if (info->error == HDR_OK)
		info->error = e;
}

/*
 * RFC 5322 §3.6: one From: field holding at least one mailbox.  Policy
 * sees no address of a section that has any problem.
 */
static void
from_check(struct hdr_info *info, const char *body, size_t len,
    size_t nfields)
{
	int n = -1;

	if (nfields == 0)
		set_error(info, HDR_ERR_FROM_MISSING);
	else if (nfields > 1)
		set_error(info, HDR_ERR_FROM_MULTIPLE);
	else if ((n = hdr_parse_from(body, len, info->utf8, info->from,
	    HDR_FROM_MAX)) == -1)
		set_error(info, HDR_ERR_FROM_SYNTAX);
	if (info->error == HDR_OK)
		info->nfrom = (size_t)n;
	else
		memset(info->from, 0, sizeof(info->from));
}

/* Fields besides From: that name the sender (RFC 5322 §3.6.2, §3.6.6). */
static const char *const ident_fields[] = {
	"Sender", "Resent-From", "Resent-Sender",
};

/* Their mailboxes go to info->ident; one we cannot read is reported. */
static void
ident_add(struct hdr_info *info, const char *field, const char *body,
    size_t len)
{
	char addrs[HDR_IDENT_MAX][SMTP_ADDR_MAX + 1];
	size_t room = HDR_IDENT_MAX - info->nident, i;
	int n;

	if (info->ident_error != NULL)
		return;
	if (room == 0 ||
	    (n = hdr_parse_from(body, len, info->utf8, addrs, room)) == -1) {
		info->ident_error = field;
		return;
	}
	for (i = 0; i < (size_t)n; i++) {
		info->ident[info->nident].field = field;
		memcpy(info->ident[info->nident].addr, addrs[i],
		    sizeof(addrs[i]));
		info->nident++;
	}
}

/* Is this Authentication-Results field one only we may write? */
static int
authres_ours(const char *name, size_t nlen, const char *body, size_t len,
    const char *authserv_id)
{
	char id[256];
	int arc;

	if (authserv_id == NULL)
		return 0;
	if (ieq(name, nlen, "Authentication-Results"))
		arc = 0;
	else if (ieq(name, nlen, "ARC-Authentication-Results"))
		arc = 1;
	else
		return 0;
	/* A field no one can read claims nothing we want to pass on either. */
	if (hdr_authserv_id(body, len, arc, id, sizeof(id)) == -1)
		return 1;
	return ieq(id, strlen(id), authserv_id);
}

/* The field being copied: where its name and body are in in and out. */
struct field {
	size_t		 name, nlen;	/* in */
	size_t		 body, end;	/* in: after the colon, to its last text */
	size_t		 out;		/* where it starts in out */
	int		 open;
};

/* RFC 8689 §5: "TLS-Required:" [FWS] "No" CRLF, "No" in any case. */
static int
tls_required_no(const char *body, size_t len)
{
	size_t i = 0;

	while (len > 0 && (is_wsp(body[len - 1]) || body[len - 1] == '\r' ||
	    body[len - 1] == '\n'))
		len--;
	while (i < len && (is_wsp(body[i]) || body[i] == '\r' ||
	    body[i] == '\n'))
		i++;
	return ieq(body + i, len - i, "No");
}

/* The field is complete: note what it says, and drop it when it must go. */
static void
field_end(struct field *f, const char *in, size_t *o, const char *const *strip,
    size_t nstrip, const char *authserv_id, struct hdr_info *info,
    size_t *nfrom, size_t *fbody, size_t *fend)
{
	const char *name = in + f->name;
	size_t i;

	if (!f->open)
		return;
	f->open = 0;
	if (ieq(name, f->nlen, "From") && (*nfrom)++ == 0) {
		*fbody = f->body;
		*fend = f->end;
	}
	if (ieq(name, f->nlen, "Message-ID"))
		info->has_message_id = 1;
	if (ieq(name, f->nlen, "Date"))
		info->has_date = 1;
	if (ieq(name, f->nlen, "TLS-Required"))
		info->tls_required_no = tls_required_no(in + f->body,
		    f->end - f->body);
	if (hdr_name_matches(name, f->nlen, strip, nstrip)) {
		*o = f->out;	/* what never leaves claims nothing */
		return;
	}
	for (i = 0; i < sizeof(ident_fields) / sizeof(ident_fields[0]); i++)
		if (ieq(name, f->nlen, ident_fields[i]))
			ident_add(info, ident_fields[i], in + f->body,
			    f->end - f->body);
	if (authres_ours(name, f->nlen, in + f->body, f->end - f->body,
	    authserv_id)) {
		*o = f->out;
		info->authres_removed++;
	}
}

size_t
hdr_rewrite(const char *in, size_t inlen, const char *const *strip,
    size_t nstrip, const char *authserv_id, int utf8, char *out,
    struct hdr_info *info)
{
	size_t pos, next, end, nlen, o = 0, nfrom = 0, fbody = 0, fend = 0;
	struct field f;

	memset(info, 0, sizeof(*info));
	info->utf8 = utf8;
	info->eight_bit = !utf8_is_ascii(in, inlen);
	memset(&f, 0, sizeof(f));
	for (pos = 0; pos < inlen; pos = next) {
		next = line_next(in, inlen, pos, &end);
		if (is_wsp(in[pos])) {
			/* RFC 5322 §2.2.3: folded, part of the field above. */
			if (pos == 0)
				set_error(info, HDR_ERR_SYNTAX);
			if (f.open)
				f.end = end;
		} else {
			field_end(&f, in, &o, strip, nstrip, authserv_id, info,
			    &nfrom, &fbody, &fend);
			if ((nlen = field_name(in + pos, end - pos)) == 0)
				set_error(info, HDR_ERR_SYNTAX);
			else {
				f.open = 1;
				f.name = pos;
				f.nlen = nlen;
				f.body = pos + nlen + 1;
				f.end = end;
				f.out = o;
			}
		}
		memmove(out + o, in + pos, next - pos);	/* out may be in */
		o += next - pos;
	}
	field_end(&f, in, &o, strip, nstrip, authserv_id, info, &nfrom, &fbody,
	    &fend);
	from_check(info, in + fbody, fend - fbody, nfrom);
	return o;
}

/*
 * RFC 5322 §3.2.2 FWS: a space or tab, or CRLF followed by one (or ending
 * the body, for callers that pass the field's last CRLF along).
 */
static int
fws(struct cur *c)
{
	size_t left = c->len - c->i;

	if (left > 0 && is_wsp(c->s[c->i]))
		c->i++;
	else if (left >= 2 && c->s[c->i] == '\r' && c->s[c->i + 1] == '\n' &&
	    (left == 2 || is_wsp(c->s[c->i + 2])))
		c->i += 2;
	else
		return 0;
	return 1;
}

/*
 * RFC 5322 §3.2.2 comment or §3.2.4 quoted-string, at its '(' or '"': FWS,
 * quoted-pairs (§3.2.1) and VCHARs up to the matching end.  Comments nest;
 * a depth counter, not recursion, so that no input can exhaust the stack.
 */
static int
enclosed(struct cur *c)
{
	char open = c->s[c->i], close = open == '(' ? ')' : '"', ch;
	size_t depth = 0;

	for (;;) {
		if (fws(c))
			continue;
		if (c->i == c->len)
			return -1;
		ch = c->s[c->i++];
		if (ch == open && (open == '(' || depth == 0))
			depth++;
		else if (ch == close && --depth == 0)
			return 0;
		else if (ch == '\\') {
			if (c->i == c->len || (!cur_vchar(c, c->s[c->i]) &&
			    !is_wsp(c->s[c->i])))
				return -1;
			c->i++;
		} else if (!cur_vchar(c, ch))
			return -1;
	}
}

/* RFC 5322 §3.2.2 CFWS, possibly empty. */
static int
cfws(struct cur *c)
{
	while (c->i < c->len) {
		if (c->s[c->i] == '(') {
			if (enclosed(c) == -1)
				return -1;
		} else if (!fws(c))
			break;
	}
	return 0;
}

/* memchr(), not strchr(), which would find the NUL that ends the set. */
static int
word_start(const struct cur *c)
{
	return c->i < c->len && (cur_atext(c, c->s[c->i]) ||
	    memchr(".@\"", c->s[c->i], 3) != NULL);
}

/*
 * The words before a '<', a ':' or the end of a mailbox: a display name
 * (RFC 5322 §3.2.5 phrase, with obs-phrase's dots: "John Q. Public"; RFC
 * 2047 encoded-words are atoms here) or an addr-spec, which is one word
 * without spaces.  [*start, *end) is the last word; *at says whether any
 * word holds an '@' outside quotes.
 */
static int
phrase(struct cur *c, size_t *nwords, int *at, size_t *start, size_t *end)
{
	*nwords = 0;
	*at = 0;
	for (;;) {
		if (cfws(c) == -1)
			return -1;
		if (!word_start(c))
			return 0;
		*start = c->i;
		while (word_start(c)) {
			if (c->s[c->i] == '"') {
				if (enclosed(c) == -1)
					return -1;
			} else
				*at |= c->s[c->i++] == '@';
		}
		*end = c->i;
		(*nwords)++;
	}
}

/*
 * RFC 5322 §3.4 mailbox = name-addr / addr-spec, added to out[*n].  The
 * addr-spec is checked as an SMTP path is, so that policy compares like
 * with like.
 */
static int
mailbox(struct cur *c, char out[][SMTP_ADDR_MAX + 1], size_t max, size_t *n)
{
	const char *reply;
	size_t nwords, start = 0, end = 0;
	int at;

	if (*n == max || phrase(c, &nwords, &at, &start, &end) == -1)
		return -1;
	if (c->i < c->len && c->s[c->i] == '<') {
		/* An unquoted '@' is in no display name: "a@b <c@d>". */
		if (at)
			return -1;
		c->i++;
		/* RFC 5322 §4.4 obs-route "<@a,@b:u@d>" fails here too. */
		if (phrase(c, &nwords, &at, &start, &end) == -1 ||
		    nwords != 1 || c->i == c->len || c->s[c->i] != '>')
			return -1;
		c->i++;
	} else if (nwords != 1)
		return -1;
	if (smtp_parse_address(c->s + start, end - start, c->utf8, out[*n],
	    &reply) == -1)
		return -1;
	(*n)++;
	return 0;
}

/*
 * RFC 5322 §3.4 address = mailbox / group, group = display-name ":"
 * [group-list] ";".  A group contributes its members; an empty one, as in
 * "Undisclosed recipients:;", nothing.  Groups do not nest.
 */
static int
address(struct cur *c, char out[][SMTP_ADDR_MAX + 1], size_t max, size_t *n)
{
	size_t save = c->i, nwords, start, end;
	int at;
	char ch;

	if (phrase(c, &nwords, &at, &start, &end) == -1)
		return -1;
	if (nwords == 0 || at || c->i == c->len || c->s[c->i] != ':') {
		c->i = save;
		return mailbox(c, out, max, n);
	}
	c->i++;
	if (cfws(c) == -1)
		return -1;
	if (c->i < c->len && c->s[c->i] == ';') {
		c->i++;
		return 0;
	}
	for (;;) {
		if (mailbox(c, out, max, n) == -1 || cfws(c) == -1 ||
		    c->i == c->len)
			return -1;
		ch = c->s[c->i++];
		if (ch == ';')
			return 0;
		if (ch != ',')
			return -1;
	}
}

/* RFC 5322 §3.6.2: from = "From:" mailbox-list, or address-list (§3.4). */
int
hdr_parse_from(const char *body, size_t len, int utf8,
    char out[][SMTP_ADDR_MAX + 1], size_t max)
{
	struct cur c = { body, len, 0, utf8 };
	size_t n = 0;

	if (utf8 && !utf8_valid(body, len))
		return -1;

	for (;;) {
		if (address(&c, out, max, &n) == -1 || cfws(&c) == -1)
			return -1;
		if (c.i == c.len)
			break;
		if (c.s[c.i++] != ',')
			return -1;
	}
	return n > 0 && n <= INT_MAX ? (int)n : -1;
}

/* RFC 2045 §5.1 token: no controls, spaces, 8-bit bytes or tspecials. */
static int
is_token(char c)
{
	return is_vchar(c) && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/*
 * RFC 8601 §2.2: authres-payload = [CFWS] authserv-id [CFWS authres-version]
 * ...; authserv-id = value (RFC 2045: token / quoted-string).  RFC 8617
 * §4.1.1 puts "i=" 1*DIGIT ";" in front for ARC.
 */
int
hdr_authserv_id(const char *body, size_t len, int arc, char *out,
    size_t outsize)
{
	struct cur c = { body, len, 0, 0 };
	size_t start, n = 0;

	if (outsize == 0 || cfws(&c) == -1)
		return -1;
	if (arc) {
		/* RFC 8617 §4.2.1: "i" [FWS] "=" [FWS] 1*2DIGIT */
		if (c.i == c.len || lower(c.s[c.i]) != 'i')
			return -1;
		c.i++;
		if (cfws(&c) == -1 || c.i == c.len || c.s[c.i++] != '=' ||
		    cfws(&c) == -1)
			return -1;
		for (start = c.i; c.i < c.len && c.s[c.i] >= '0' && c.s[c.i] <= '9';)
			c.i++;
		if (c.i == start || cfws(&c) == -1 || c.i == c.len ||
		    c.s[c.i++] != ';' || cfws(&c) == -1)
			return -1;
	}
	if (c.i < c.len && c.s[c.i] == '"') {
		/* A quoted-string: its text, quoted-pairs undone. */
		for (c.i++; c.i < c.len && c.s[c.i] != '"'; c.i++) {
			if (c.s[c.i] == '\\' && ++c.i == c.len)
				return -1;
			if (!is_vchar(c.s[c.i]) && !is_wsp(c.s[c.i]))
				return -1;
			if (n + 1 >= outsize)
				return -1;
			out[n++] = c.s[c.i];
		}
		if (c.i == c.len)
			return -1;
		c.i++;
	} else {
		for (; c.i < c.len && is_token(c.s[c.i]); c.i++) {
			if (n + 1 >= outsize)
				return -1;
			out[n++] = c.s[c.i];
		}
	}
	out[n] = '\0';
	if (n == 0)
		return -1;
	/* What follows is a version, ";" or the end: nothing else. */
	if (cfws(&c) == -1)
		return -1;
	return c.i == c.len || c.s[c.i] == ';' ||
	    (c.s[c.i] >= '0' && c.s[c.i] <= '9') ? 0 : -1;
}
