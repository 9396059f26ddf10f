/*
 * fuzz_headers.c - libFuzzer entry point for the header section module.
 *
 * The first byte picks a strip list, the rest is the header section.  The
 * input is copied to a heap buffer of exactly its size (replay.c reads into
 * a larger static one), so AddressSanitizer sees any read outside it.
 * Besides the sanitizers, it checks what message.c and policy rely on and
 * abort()s otherwise: the section length ends at the first empty line; the
 * rewritten section is what a naive rewrite gives (whole fields, folded
 * lines included, dropped when the list names them; the input itself when
 * nothing is to be stripped); rewriting it again changes nothing; the
 * error agrees with the lines; every address is a NUL-terminated
 * "local@domain" within SMTP_ADDR_MAX, domain lowercased.  Each input is
 * rewritten twice: without, and with an authserv-id whose
 * Authentication-Results fields must go.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headers.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const list0[] = { NULL };
static const char *const list1[] = { "Received" };
static const char *const list2[] = {
	"Received", "X-Originating-IP", "X-Mailer", "User-Agent", "X-Spam-*",
};
static const char *const list3[] = { "*", "x-*", "From", "" };
static const char *const list4[] = { "Date", "Message-ID", "Subject" };

static const struct {
	const char *const	*names;
	size_t			 n;
} lists[] = {
	{ list0, 0 },
	{ list1, nitems(list1) },
	{ list2, nitems(list2) },
	{ list3, nitems(list3) },
	{ list4, nitems(list4) },
};

/* Where the line at s[pos..len) ends, its CRLF included. */
static size_t
line_end(const char *s, size_t len, size_t pos)
{
	const char *p;

	for (; pos < len; pos = (size_t)(p - s) + 1) {
		if ((p = memchr(s + pos, '\r', len - pos)) == NULL)
			return len;
		if ((size_t)(p - s) + 1 < len && p[1] == '\n')
			return (size_t)(p - s) + 2;
	}
	return len;
}

/* RFC 5322 §2.1: the section ends with the first empty line. */
static void
check_section_len(const char *buf, size_t size)
{
	size_t want = 0, i;

	if (size >= 2 && memcmp(buf, "\r\n", 2) == 0)
		want = 2;
	for (i = 0; want == 0 && i + 4 <= size; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
			want = i + 4;
	if (hdr_section_len(buf, size) != want)
		abort();
}

/* RFC 5322 §3.6.8: the length of the field name heading a line, or 0. */
static size_t
name_len(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] > ' ' && s[i] <= '~' && s[i] != ':'; i++)
		;
	return i < len && s[i] == ':' ? i : 0;
}

/* Is the field at in[pos..end) (name of nlen, folded lines included) an
 * Authentication-Results field that claims authserv_id, or unreadable? */
static int
authres_drop(const char *in, size_t pos, size_t end, size_t nlen,
    const char *authserv_id)
{
	static const char ar[] = "authentication-results";
	static const char arc[] = "arc-authentication-results";
	char id[256];
	size_t i;
	int is_arc;

	if (authserv_id == NULL)
		return 0;
	if (nlen == sizeof(ar) - 1)
		is_arc = 0;
	else if (nlen == sizeof(arc) - 1)
		is_arc = 1;
	else
		return 0;
	for (i = 0; i < nlen; i++)
		if ((in[pos + i] | (in[pos + i] >= 'A' && in[pos + i] <= 'Z' ?
		    0x20 : 0)) != (is_arc ? arc : ar)[i])
			return 0;
	/* The body as hdr_rewrite sees it: after the colon, to the last text. */
	if (end >= 2 && in[end - 2] == '\r' && in[end - 1] == '\n')
		end -= 2;
	if (hdr_authserv_id(in + pos + nlen + 1, end - pos - nlen - 1, is_arc, id,
	    sizeof(id)) == -1)
		return 1;
	return strcasecmp(id, authserv_id) == 0;
}

/*
 * Rewrites in[0..len) the simple way into want and checks out against it:
 * a field is its first line and every line after it that starts with SP or
 * HTAB (RFC 5322 §2.2.3), and goes whole if its name is on the list (or it
 * is an Authentication-Results field claiming authserv_id).  Also the error
 * that the lines alone imply: any line that is neither a field nor a
 * continuation of one is HDR_ERR_SYNTAX, which comes first.
 */
static void
check_lines(const char *in, size_t len, const char *out, size_t olen,
    size_t list, const char *authserv_id, const struct hdr_info *info)
{
	char *want;
	size_t pos, next, wlen = 0, nlen, nfrom = 0, fstart = 0, fnlen = 0;
	size_t fout = 0;
	int syntax = 0, open = 0;

	if ((want = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	for (pos = 0; pos <= len; pos = next) {
		next = pos < len ? line_end(in, len, pos) : len + 1;
		if (pos < len && (in[pos] == ' ' || in[pos] == '\t')) {
			syntax |= pos == 0;
		} else {
			/* The field before ends here: keep it or drop it. */
			if (open && (hdr_name_matches(in + fstart, fnlen,
			    lists[list].names, lists[list].n) ||
			    authres_drop(in, fstart, pos, fnlen, authserv_id)))
				wlen = fout;
			open = 0;
			if (pos == len)
				break;
			if ((nlen = name_len(in + pos, next - pos)) == 0)
				syntax = 1;
			else {
				open = 1;
				fstart = pos;
				fnlen = nlen;
				fout = wlen;
				nfrom += nlen == 4 && (in[pos] | 0x20) == 'f' &&
				    (in[pos + 1] | 0x20) == 'r' &&
				    (in[pos + 2] | 0x20) == 'o' &&
				    (in[pos + 3] | 0x20) == 'm';
			}
		}
		memcpy(want + wlen, in + pos, next - pos);
		wlen += next - pos;
	}
	if (olen != wlen || memcmp(out, want, wlen) != 0)
		abort();
	if (syntax != (info->error == HDR_ERR_SYNTAX))
		abort();
	if (!syntax && ((nfrom == 0) != (info->error == HDR_ERR_FROM_MISSING) ||
	    (nfrom > 1) != (info->error == HDR_ERR_FROM_MULTIPLE)))
		abort();
	free(want);
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Does s[0..len) hold a, ignoring ASCII case? */
static int
holds(const char *s, size_t len, const char *a)
{
	size_t alen = strlen(a), i, j;

	for (i = 0; i + alen <= len; i++) {
		for (j = 0; j < alen && lower(s[i + j]) == lower(a[j]); j++)
			;
		if (j == alen)
			return 1;
	}
	return 0;
}

/*
 * n addresses, each "local@domain" with no uppercase in the domain, taken
 * from the input as they stand there (only the domain's case may change).
 */
static void
check_addrs(int n, char addrs[][SMTP_ADDR_MAX + 1], size_t max,
    const char *buf, size_t size)
{
	const char *at;
	int i;

	if (n == 0 || n < -1 || (n > 0 && (size_t)n > max))
		abort();
	for (i = 0; i < n; i++) {
		if (memchr(addrs[i], '\0', SMTP_ADDR_MAX + 1) == NULL ||
		    (at = strrchr(addrs[i], '@')) == NULL || at == addrs[i] ||
		    !holds(buf, size, addrs[i]))
			abort();
		for (at++; *at != '\0'; at++)
			if (*at >= 'A' && *at <= 'Z')
				abort();
	}
}

static void
fuzz_rewrite(const char *buf, size_t size, size_t list, const char *authserv,
    int utf8)
{
	struct hdr_info info, again;
	char *out, *out2;
	size_t n, n2, i;

	if ((out = malloc(size > 0 ? size : 1)) == NULL ||
	    (out2 = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memset(&info, 0xa5, sizeof(info));
	n = hdr_rewrite(buf, size, lists[list].names, lists[list].n, authserv,
	    utf8, out, &info);
	if (n > size || (lists[list].n == 0 && authserv == NULL &&
	    (n != size || memcmp(out, buf, size) != 0)))
		abort();
	check_lines(buf, size, out, n, list, authserv, &info);
	if (info.nident > HDR_IDENT_MAX)
		abort();
	for (i = 0; i < info.nident; i++)
		if (memchr(info.ident[i].addr, '\0', SMTP_ADDR_MAX + 1) == NULL ||
		    strchr(info.ident[i].addr, '@') == NULL ||
		    !holds(buf, size, info.ident[i].addr))
			abort();
	if (info.error > HDR_ERR_FROM_SYNTAX || info.nfrom > HDR_FROM_MAX ||
	    (info.error == HDR_OK) != (info.nfrom > 0))
		abort();
	check_addrs(info.nfrom > 0 ? (int)info.nfrom : -1, info.from,
	    HDR_FROM_MAX, buf, size);
	n2 = hdr_rewrite(out, n, lists[list].names, lists[list].n, authserv,
	    utf8, out2, &again);
	if (n2 != n || memcmp(out, out2, n) != 0)
		abort();
	free(out);
	free(out2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char addrs[HDR_FROM_MAX][SMTP_ADDR_MAX + 1];
	size_t list, max;
	char *buf;
	int n;

	if (size == 0)
		return 0;
	list = data[0] % nitems(lists);
	max = (size_t)data[0] / nitems(lists) % HDR_FROM_MAX + 1;
	size--;
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data + 1, size);

	check_section_len(buf, size);
	fuzz_rewrite(buf, size, list, NULL, 0);
	fuzz_rewrite(buf, size, list, "relay.example.test", 0);
	fuzz_rewrite(buf, size, list, NULL, 1);	/* SMTPUTF8 (RFC 6532) */
	memset(addrs, 0xa5, sizeof(addrs));
	n = hdr_parse_from(buf, size, 0, addrs, max);
	check_addrs(n, addrs, max, buf, size);
	memset(addrs, 0xa5, sizeof(addrs));
	n = hdr_parse_from(buf, size, 1, addrs, max);
	check_addrs(n, addrs, max, buf, size);

	free(buf);
	return 0;
}
