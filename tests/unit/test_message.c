/*
 * test_message.c - unit tests of the DATA reader (src/message.c).
 *
 * Every case is run with the whole input in one call and then again split
 * every way we can afford: at each position, at each pair of positions for
 * short inputs, byte by byte and in pseudo-random chunks.  The reader keeps
 * all its state in struct msg_reader, so every split must give the same
 * output, error and consumed count; a CR at the end of a chunk is the case
 * that matters most.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

#define OUT_MAX	4096

#include "check.h"

struct result {
	char		 out[OUT_MAX];
	size_t		 outlen;
	size_t		 consumed;
	size_t		 size;
	enum msg_error	 error;
	int		 done;
	int		 broken;	/* the reader broke its contract */
};

/* How run() cuts the input; next_chunk() says how long the next piece is. */
struct chunker {
	enum { CUT_WHOLE, CUT_AT, CUT_AT2, CUT_BYTES, CUT_RANDOM } how;
	size_t		 a, b;		/* cut positions for CUT_AT, CUT_AT2 */
	unsigned long	 seed;		/* for CUT_RANDOM */
};

static size_t
next_chunk(struct chunker *k, size_t pos, size_t left)
{
	size_t n = left;

	switch (k->how) {
	case CUT_WHOLE:
		break;
	case CUT_AT:
	case CUT_AT2:
		if (pos < k->a)
			n = k->a - pos;
		else if (k->how == CUT_AT2 && pos < k->b)
			n = k->b - pos;
		break;
	case CUT_BYTES:
		n = 1;
		break;
	case CUT_RANDOM:
		/* A fixed LCG, so that a failure can be reproduced. */
		k->seed = k->seed * 6364136223846793005UL + 1442695040888963407UL;
		n = 1 + (k->seed >> 33) % 8;
		break;
	}
	return n < left ? n : left;
}

static void
run(const char *in, size_t len, size_t max_size, struct chunker *k,
    struct result *res)
{
	struct msg_reader r;
	char buf[OUT_MAX];
	size_t pos = 0, n, used, outlen;
	enum msg_error before;

	memset(res, 0, sizeof(*res));
	msg_reader_init(&r, max_size);
	while (pos < len && !r.done) {
		n = next_chunk(k, pos, len - pos);
		before = r.error;
		used = msg_reader_feed(&r, in + pos, n, buf, &outlen);
		if (used > n || outlen > used || (used < n && !r.done) ||
		    (before != MSG_OK && outlen != 0) ||
		    res->outlen + outlen > sizeof(res->out))
			res->broken = 1;
		else {
			memcpy(res->out + res->outlen, buf, outlen);
			res->outlen += outlen;
		}
		pos += used;
	}
	/* Once done, the reader takes nothing more. */
	if (r.done && msg_reader_feed(&r, "x", 1, buf, &outlen) != 0)
		res->broken = 1;
	res->consumed = pos;
	res->size = r.size;
	res->error = r.error;
	res->done = r.done;
}

static int
same(const struct result *a, const struct result *b)
{
	return !a->broken && !b->broken && a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0 &&
	    a->consumed == b->consumed && a->size == b->size &&
	    a->error == b->error && a->done == b->done;
}

/* Feeds in[] cut every way and compares each run with the whole run. */
static void
check_splits(const char *name, const char *in, size_t len, size_t max_size)
{
	struct chunker k, whole = { .how = CUT_WHOLE };
	struct result *ref, *res;
	size_t i, j;
	int ok;

	ref = malloc(sizeof(*ref));
	res = malloc(sizeof(*res));
	if (ref == NULL || res == NULL)
		abort();
	run(in, len, max_size, &whole, ref);

	ok = 1;
	for (i = 0; i <= len; i++) {
		k = (struct chunker){ .how = CUT_AT, .a = i };
		run(in, len, max_size, &k, res);
		ok &= same(ref, res);
	}
	CHECK(ok, "%s: every 2-piece split", name);

	if (len <= 64) {
		ok = 1;
		for (i = 0; i <= len; i++)
			for (j = i; j <= len; j++) {
				k = (struct chunker){ .how = CUT_AT2, .a = i,
				    .b = j };
				run(in, len, max_size, &k, res);
				ok &= same(ref, res);
			}
		CHECK(ok, "%s: every 3-piece split", name);
	}

	k = (struct chunker){ .how = CUT_BYTES };
	run(in, len, max_size, &k, res);
	CHECK(same(ref, res), "%s: byte by byte", name);

	ok = 1;
	for (i = 1; i <= 50; i++) {
		k = (struct chunker){ .how = CUT_RANDOM, .seed = i };
		run(in, len, max_size, &k, res);
		ok &= same(ref, res);
	}
	CHECK(ok, "%s: random chunks", name);
	free(ref);
	free(res);
}

struct msgcase {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	size_t		 max_size;
	const char	*out;		/* expected output */
	size_t		 outlen;
	enum msg_error	 error;
	int		 done;
	size_t		 consumed;
};

/* Literals may hold NUL, so their lengths come from sizeof. */
#define S(s)	s, sizeof(s) - 1
#define ALL	((size_t)-1)	/* consumed: the whole input */

static const struct msgcase cases[] = {
	{ "empty message", S(".\r\n"), 0, S(""), MSG_OK, 1, ALL },
	{ "simple message", S("Subject: hi\r\n\r\nbody\r\n.\r\n"), 0,
	    S("Subject: hi\r\n\r\nbody\r\n"), MSG_OK, 1, ALL },
	{ "one empty line", S("\r\n.\r\n"), 0, S("\r\n"), MSG_OK, 1, ALL },
	{ "dot-unstuffing", S("..x\r\n. y\r\na.b\r\n.\r\n"), 0,
	    S(".x\r\n y\r\na.b\r\n"), MSG_OK, 1, ALL },
	{ "line that is only ..", S("a\r\n..\r\nb\r\n.\r\n"), 0,
	    S("a\r\n.\r\nb\r\n"), MSG_OK, 1, ALL },
	{ "first line ..", S("..\r\n.\r\n"), 0, S(".\r\n"), MSG_OK, 1, ALL },
	{ "line ...", S("...\r\n.\r\n"), 0, S("..\r\n"), MSG_OK, 1, ALL },
	{ "dot not at line start", S("a.\r\n.\r\n"), 0, S("a.\r\n"),
	    MSG_OK, 1, ALL },
	{ "terminator mid-buffer", S("a\r\n.\r\nQUIT\r\n"), 0, S("a\r\n"),
	    MSG_OK, 1, 6 },
	{ "pipelined commands after empty message", S(".\r\nRSET\r\n"), 0,
	    S(""), MSG_OK, 1, 3 },
	{ "no terminator yet", S("a\r\n."), 0, S("a\r\n"), MSG_OK, 0, ALL },
	{ "no terminator yet, .CR", S("a\r\n.\r"), 0, S("a\r\n"), MSG_OK,
	    0, ALL },
	{ "nothing after CR yet", S("a\r"), 0, S("a\r"), MSG_OK, 0, ALL },

	/* Smuggling: none of these ends the data; the real end does. */
	{ "LF.LF", S("a\n.\nb\r\n.\r\n"), 0, S("a"), MSG_ERR_BARE_LF, 1,
	    ALL },
	{ "LF.LF alone", S("a\n.\n"), 0, S("a"), MSG_ERR_BARE_LF, 0, ALL },
	{ "LF.CRLF", S("a\n.\r\nb\r\n.\r\n"), 0, S("a"), MSG_ERR_BARE_LF,
	    1, ALL },
	{ "CRLF.LF", S("a\r\n.\nb\r\n.\r\n"), 0, S("a\r\n"),
	    MSG_ERR_BARE_LF, 1, ALL },
	{ "CR.CR", S("a\r.\rb\r\n.\r\n"), 0, S("a\r"), MSG_ERR_BARE_CR, 1,
	    ALL },
	{ "CR.CRLF", S("a\r.\r\nb\r\n.\r\n"), 0, S("a\r"), MSG_ERR_BARE_CR,
	    1, ALL },
	{ "CRLF.CR then text", S("a\r\n.\rb\r\n.\r\n"), 0, S("a\r\n"),
	    MSG_ERR_BARE_CR, 1, ALL },
	{ "CRLF.CR CRLF", S("a\r\n.\r\r\nb\r\n.\r\n"), 0, S("a\r\n"),
	    MSG_ERR_BARE_CR, 1, ALL },
	{ "CRLF.CR.CRLF", S("a\r\n.\r.\r\nb\r\n.\r\n"), 0, S("a\r\n"),
	    MSG_ERR_BARE_CR, 1, ALL },
	{ "LF.CR", S("a\n.\rb\r\n.\r\n"), 0, S("a"), MSG_ERR_BARE_LF, 1,
	    ALL },
	{ "CR.LF", S("a\r.\nb\r\n.\r\n"), 0, S("a\r"), MSG_ERR_BARE_CR, 1,
	    ALL },
	{ "CR CR LF.CRLF", S("a\r\r\n.\r\n"), 0, S("a\r"), MSG_ERR_BARE_CR,
	    1, ALL },
	{ ".LF at start", S(".\nb\r\n.\r\n"), 0, S(""), MSG_ERR_BARE_LF, 1,
	    ALL },
	{ ".CR at start", S(".\rb\r\n.\r\n"), 0, S(""), MSG_ERR_BARE_CR, 1,
	    ALL },
	{ "LF.LF at start", S("\n.\nb\r\n.\r\n"), 0, S(""),
	    MSG_ERR_BARE_LF, 1, ALL },
	{ "LF then the real end", S("a\n\r\n.\r\nMAIL\r\n"), 0, S("a"),
	    MSG_ERR_BARE_LF, 1, 7 },
	{ "LF LF", S("a\n\nb\r\n.\r\n"), 0, S("a"), MSG_ERR_BARE_LF, 1,
	    ALL },
	{ "first error wins", S("a\rb\nc\0d\r\n.\r\n"), 0, S("a\r"),
	    MSG_ERR_BARE_CR, 1, ALL },

	{ "NUL", S("a\0b\r\n.\r\n"), 0, S("a"), MSG_ERR_NUL, 1, ALL },
	{ "NUL after dot", S(".\0\r\n.\r\n"), 0, S(""), MSG_ERR_NUL, 1,
	    ALL },

	/* RFC 1870 §5: CRLFs count, the stuffing dots and ".CRLF" do not. */
	{ "size at limit", S("abc\r\n.\r\n"), 5, S("abc\r\n"), MSG_OK, 1,
	    ALL },
	{ "size one over", S("abc\r\n.\r\n"), 4, S("abc\r"),
	    MSG_ERR_TOO_BIG, 1, ALL },
	{ "size no limit", S("abc\r\n.\r\n"), 0, S("abc\r\n"), MSG_OK, 1,
	    ALL },
	{ "size, stuffing dot free", S("..\r\n.\r\n"), 3, S(".\r\n"),
	    MSG_OK, 1, ALL },
	{ "size, empty message, limit 1", S(".\r\n"), 1, S(""), MSG_OK, 1,
	    ALL },
	{ "size over, still finds the end", S("abcdef\r\n.\r\nQUIT\r\n"), 2,
	    S("ab"), MSG_ERR_TOO_BIG, 1, 11 },
};

static void
check_case(const struct msgcase *c)
{
	struct chunker whole = { .how = CUT_WHOLE };
	struct result *res;
	size_t consumed = c->consumed == ALL ? c->inlen : c->consumed;

	if ((res = malloc(sizeof(*res))) == NULL)
		abort();
	run(c->in, c->inlen, c->max_size, &whole, res);
	CHECK(!res->broken && res->outlen == c->outlen &&
	    memcmp(res->out, c->out, c->outlen) == 0 &&
	    res->error == c->error && res->done == c->done &&
	    res->consumed == consumed &&
	    (res->error != MSG_OK || res->size == res->outlen),
	    "%s: out %zu/%zu error %d/%d done %d/%d consumed %zu/%zu",
	    c->name, res->outlen, c->outlen, res->error, c->error,
	    res->done, c->done, res->consumed, consumed);
	free(res);
	check_splits(c->name, c->in, c->inlen, c->max_size);
}

/* A line of n octets of 'x' after prefix, then CRLF.CRLF; into buf. */
static size_t
make_line(char *buf, const char *prefix, size_t n)
{
	size_t len = strlen(prefix);

	memcpy(buf, prefix, len);
	memset(buf + len, 'x', n);
	memcpy(buf + len + n, "\r\n.\r\n", 5);
	return len + n + 5;
}

static void
check_line(const char *name, const char *prefix, size_t n,
    size_t want_outlen, enum msg_error want)
{
	struct chunker whole = { .how = CUT_WHOLE };
	struct result *res;
	char in[1100];
	size_t len = make_line(in, prefix, n);

	if ((res = malloc(sizeof(*res))) == NULL)
		abort();
	run(in, len, 0, &whole, res);
	CHECK(!res->broken && res->done && res->consumed == len &&
	    res->error == want && res->outlen == want_outlen,
	    "%s: error %d/%d out %zu/%zu", name, res->error, want,
	    res->outlen, want_outlen);
	free(res);
	check_splits(name, in, len, 0);
}

static void
check_lines(void)
{
	check_line("998-octet line", "", 998, 1000, MSG_OK);
	check_line("999-octet line", "", 999, 998, MSG_ERR_LINE_TOO_LONG);
	check_line("999 raw octets, 998 unstuffed", "..", 997, 1000, MSG_OK);
	check_line("dot then 998", ".", 998, 1000, MSG_OK);
	check_line("dot then 999", ".", 999, 998, MSG_ERR_LINE_TOO_LONG);
	check_line("998-octet second line", "a\r\n", 998, 1003, MSG_OK);
	check_line("999-octet second line", "a\r\n", 999, 1001,
	    MSG_ERR_LINE_TOO_LONG);
}

/* The chunk ends at a CR and the next begins with LF, by hand. */
static void
check_cr_at_chunk_end(void)
{
	struct msg_reader r;
	char out[16];
	size_t outlen, used;
	int ok = 1;

	msg_reader_init(&r, 0);
	used = msg_reader_feed(&r, "a\r", 2, out, &outlen);
	ok &= used == 2 && outlen == 2 && memcmp(out, "a\r", 2) == 0;
	used = msg_reader_feed(&r, "", 0, out, &outlen);
	ok &= used == 0 && outlen == 0;
	used = msg_reader_feed(&r, "\n.\r", 3, out, &outlen);
	ok &= used == 3 && outlen == 1 && out[0] == '\n' && !r.done;
	used = msg_reader_feed(&r, "\nNOOP\r\n", 7, out, &outlen);
	ok &= used == 1 && outlen == 0 && r.done && r.error == MSG_OK &&
	    r.size == 3;
	CHECK(ok, "CR at the end of a chunk, empty chunk, LF.CR, LF");

	msg_reader_init(&r, 0);
	used = msg_reader_feed(&r, "a\r\n.\r", 5, out, &outlen);
	ok = used == 5 && !r.done && r.error == MSG_OK;
	used = msg_reader_feed(&r, "x\r\n.\r\n", 6, out, &outlen);
	CHECK(ok && used == 6 && r.done && r.error == MSG_ERR_BARE_CR &&
	    outlen == 0, "CRLF.CR, then a chunk without LF: bare CR");
}

static void
check_replies(void)
{
	static const struct {
		enum msg_error	 e;
		const char	*reply;
	} replies[] = {
		{ MSG_OK, "250 2.0.0 Ok" },
		{ MSG_ERR_BARE_LF, "550 5.6.0 Message refused: bare LF "
		    "(line feed without carriage return) in data" },
		{ MSG_ERR_BARE_CR, "550 5.6.0 Message refused: bare CR in "
		    "data" },
		{ MSG_ERR_NUL, "550 5.6.0 Message refused: NUL byte in data" },
		{ MSG_ERR_LINE_TOO_LONG, "550 5.6.0 Message refused: line "
		    "longer than 998 octets" },
		{ MSG_ERR_TOO_BIG, "552 5.3.4 Message size exceeds fixed "
		    "maximum message size" },
	};
	size_t i;

	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		CHECK(strcmp(msg_error_reply(replies[i].e),
		    replies[i].reply) == 0, "reply for error %d: %s",
		    replies[i].e, msg_error_reply(replies[i].e));
}

/* bare_lf = "normalize": LF becomes CRLF, and never starts a line. */
static void
check_normalize_lf(void)
{
	static const struct {
		const char	*in;
		const char	*out;
		int		 done;
		const char	*desc;
	} lf_cases[] = {
		{ "a\nb\r\n.\r\n", "a\r\nb\r\n", 1, "bare LF written as CRLF" },
		{ "a\n.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", 1,
		    "<LF>.<CR><LF> does not end the data, keeps its dot" },
		{ "a\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", 1,
		    "<LF>.<LF> does not end the data" },
		{ "a\r\n.\n", "a\r\n\r\n", 0,
		    "<CR><LF>.<LF> does not end the data" },
	};
	char out[64];
	size_t i, outlen, used;

	for (i = 0; i < sizeof(lf_cases) / sizeof(lf_cases[0]); i++) {
		struct msg_reader r;

		msg_reader_init(&r, 0);
		r.normalize_lf = 1;
		used = msg_reader_feed(&r, lf_cases[i].in, strlen(lf_cases[i].in), out,
		    &outlen);
		CHECK(r.error == MSG_OK && r.done == lf_cases[i].done &&
		    used == strlen(lf_cases[i].in) && outlen == strlen(lf_cases[i].out) &&
		    memcmp(out, lf_cases[i].out, outlen) == 0, "normalize: %s",
		    lf_cases[i].desc);
	}
}

/* BDAT (RFC 3030): no dots, no terminator; the same line rules. */
static void
check_bdat(void)
{
	static const struct {
		const char	*in;
		const char	*out;	/* with what msg_reader_end adds */
		int		 normalize;
		enum msg_error	 error;
		const char	*desc;
	} bdat_cases[] = {
		{ "a\r\n.\r\nb\r\n", "a\r\n.\r\nb\r\n", 0, MSG_OK,
		    "CRLF.CRLF is text, not an end" },
		{ "..a\r\n", "..a\r\n", 0, MSG_OK, "a leading dot is kept" },
		{ "a\r\nb", "a\r\nb\r\n", 0, MSG_OK,
		    "a last line without CRLF gets one" },
		{ "a\r\n", "a\r\n", 0, MSG_OK, "nothing added after CRLF" },
		{ "", "", 0, MSG_OK, "an empty message" },
		{ "a\r", "a\r", 0, MSG_ERR_BARE_CR, "a CR at the very end is bare" },
		{ "a\nb\r\n", "", 0, MSG_ERR_BARE_LF, "bare LF refused" },
		{ "a\nb", "a\r\nb\r\n", 1, MSG_OK, "bare LF normalized" },
		{ "a\r\n\0\r\n", "", 0, MSG_ERR_NUL, "NUL refused" },
	};
	char out[64];
	size_t i, outlen, used;

	for (i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]); i++) {
		struct msg_reader r;
		size_t len = strlen(bdat_cases[i].in);

		if (bdat_cases[i].error == MSG_ERR_NUL)
			len = 6;
		msg_reader_init(&r, 0);
		r.bdat = 1;
		r.normalize_lf = bdat_cases[i].normalize;
		used = msg_reader_feed(&r, bdat_cases[i].in, len, out, &outlen);
		outlen += msg_reader_end(&r, out + outlen);
		CHECK(r.done && used == len && r.error == bdat_cases[i].error &&
		    (r.error != MSG_OK || (outlen == strlen(bdat_cases[i].out) &&
		    memcmp(out, bdat_cases[i].out, outlen) == 0)), "bdat: %s",
		    bdat_cases[i].desc);
	}
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
	check_lines();
	check_cr_at_chunk_end();
	check_replies();
	check_normalize_lf();
	check_bdat();
	printf("1..%d\n", tests);
	if (failures != 0) {
		printf("# %d of %d failed\n", failures, tests);
		return 1;
	}
	return 0;
}
