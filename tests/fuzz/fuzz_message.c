/*
 * fuzz_message.c - libFuzzer entry point for the DATA reader.
 *
 * The first byte picks a size limit (low 3 bits) and how the rest is cut
 * into chunks (high 5 bits); the rest is the DATA stream.  The input is fed
 * once whole and once chunked, and every invariant the session relies on is
 * checked with abort(): the end is exactly the first CRLF.CRLF (counting the
 * DATA command's CRLF), chunking changes nothing, nothing is written after
 * an error, and an accepted message is well formed and correctly unstuffed.
 * The same input then goes through BDAT mode (RFC 3030): all of it is
 * consumed, chunking changes nothing, and an accepted message is the input
 * itself, plus CRLF when its last line had none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct feed {
	char		*out;
	size_t		 outlen;
	size_t		 consumed;
	size_t		 size;
	enum msg_error	 error;
	int		 done;
};

static const size_t max_sizes[8] = { 0, 1, 2, 3, 5, 10, 100, 1000 };

/* Length of the next chunk at pos for the pattern chosen by sel. */
static size_t
chunk_len(uint8_t sel, const char *in, size_t pos, size_t left,
    uint32_t *seed)
{
	unsigned int param = sel >> 5;
	size_t n;

	switch ((sel >> 3) & 3) {
	case 0:
		n = 1;
		break;
	case 1:
		n = param + 2;
		break;
	case 2:
		*seed = *seed * 1103515245u + 12345u;
		n = (*seed >> 16) % (4u << param);	/* empty chunks too */
		break;
	default:
		/* Cut right after each CR and each dot: the hard places. */
		for (n = 0; n < left; n++)
			if (in[pos + n] == '\r' || in[pos + n] == '.') {
				n++;
				break;
			}
		break;
	}
	return n < left ? n : left;
}

static void
feed(const char *in, size_t len, size_t max_size, int chunked, uint8_t sel,
    struct feed *f, int bdat)
{
	struct msg_reader r;
	enum msg_error before;
	size_t pos = 0, n, used, outlen;
	uint32_t seed = sel;
	int empty = 0;

	msg_reader_init(&r, max_size);
	r.bdat = bdat;
	f->outlen = 0;
	while (pos < len && !r.done) {
		n = chunked ? chunk_len(sel, in, pos, len - pos, &seed) :
		    len - pos;
		if (n == 0 && ++empty > 4)
			n = 1;		/* the pattern must make progress */
		before = r.error;
		used = msg_reader_feed(&r, in + pos, n, f->out + f->outlen,
		    &outlen);
		if (used > n || outlen > used)
			abort();
		if (used < n && !r.done)
			abort();
		if (before != MSG_OK && (outlen != 0 || r.error != before))
			abort();
		f->outlen += outlen;
		pos += used;
	}
	if (bdat) {
		if (r.done || pos != len)
			abort();
		before = r.error;
		outlen = msg_reader_end(&r, f->out + f->outlen);
		if (outlen > 2 || (before != MSG_OK && outlen != 0) || !r.done)
			abort();
		f->outlen += outlen;
	}
	f->consumed = pos;
	f->size = r.size;
	f->error = r.error;
	f->done = r.done;
	if (r.done && msg_reader_feed(&r, in, len, f->out, &outlen) != 0)
		abort();
}

/* BDAT: the chunk's octets are the message, line rules and all. */
static void
fuzz_bdat(const char *in, size_t len, size_t max_size, uint8_t sel)
{
	struct feed whole, chunked;
	size_t i, line = 0, want;

	if ((whole.out = malloc(len + 3)) == NULL ||
	    (chunked.out = malloc(len + 3)) == NULL)
		abort();
	feed(in, len, max_size, 0, sel, &whole, 1);
	feed(in, len, max_size, 1, sel, &chunked, 1);
	if (chunked.outlen != whole.outlen || chunked.error != whole.error ||
	    chunked.size != whole.size ||
	    memcmp(chunked.out, whole.out, whole.outlen) != 0)
		abort();
	if (whole.error == MSG_OK) {
		want = len + (len > 0 && in[len - 1] != '\n' ? 2 : 0);
		if (whole.outlen != want || memcmp(whole.out, in, len) != 0 ||
		    (max_size != 0 && whole.outlen > max_size))
			abort();
		for (i = 0; i < whole.outlen; i++) {
			if (whole.out[i] == '\0' || (whole.out[i] == '\n' &&
			    (i == 0 || whole.out[i - 1] != '\r')) ||
			    (whole.out[i] == '\r' && (i + 1 == whole.outlen ||
			    whole.out[i + 1] != '\n')))
				abort();
			line = whole.out[i] == '\r' || whole.out[i] == '\n' ? 0 :
			    line + 1;
			if (line > MSG_LINE_MAX)
				abort();
		}
	}
	free(whole.out);
	free(chunked.out);
}

/* Where the reference says the data ends (after the LF), or 0: none. */
static size_t
find_end(const char *in, size_t len)
{
	size_t i;

	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	for (i = 0; i + 5 <= len; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* An accepted message: only CRLF line ends, no NUL, short lines. */
static void
check_accepted(const char *in, const struct feed *f, size_t max_size)
{
	size_t i, j, line = 0;
	int bol = 1;

	if (f->size != f->outlen)
		abort();
	if (max_size != 0 && f->outlen > max_size)
		abort();
	for (i = 0; i < f->outlen; i++) {
		if (f->out[i] == '\0')
			abort();
		/* Only a reader still waiting for more may end in CR. */
		if (f->out[i] == '\r' && (i + 1 < f->outlen ?
		    f->out[i + 1] != '\n' : f->done))
			abort();
		if (f->out[i] == '\n' && (i == 0 || f->out[i - 1] != '\r'))
			abort();
		if (f->out[i] == '\r' || f->out[i] == '\n')
			line = 0;
		else if (++line > MSG_LINE_MAX)
			abort();
	}
	if (!f->done)
		return;
	if (f->outlen != 0 && (f->outlen < 2 ||
	    memcmp(f->out + f->outlen - 2, "\r\n", 2) != 0))
		abort();
	/* RFC 5321 §4.5.2: the output is the input without line-start dots. */
	for (i = 0, j = 0; i + 3 < f->consumed; i++) {	/* not ".CRLF" */
		if (bol && in[i] == '.') {
			bol = 0;
			continue;
		}
		if (j >= f->outlen || f->out[j++] != in[i])
			abort();
		bol = in[i] == '\n';
	}
	if (j != f->outlen)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed whole, chunked;
	const char *in;
	size_t len, max_size, end;
	uint8_t sel;

	if (size == 0)
		return 0;
	sel = data[0];
	in = (const char *)data + 1;
	len = size - 1;
	max_size = max_sizes[sel & 7];
	if ((whole.out = malloc(len + 1)) == NULL ||
	    (chunked.out = malloc(len + 1)) == NULL)
		abort();

	feed(in, len, max_size, 0, sel, &whole, 0);
	feed(in, len, max_size, 1, sel, &chunked, 0);

	if (whole.consumed > len || whole.outlen > whole.consumed)
		abort();
	if (whole.size < whole.outlen)
		abort();
	end = find_end(in, len);
	if (whole.done != (end != 0) ||
	    whole.consumed != (end != 0 ? end : len))
		abort();
	if (whole.error == MSG_OK)
		check_accepted(in, &whole, max_size);

	if (chunked.outlen != whole.outlen ||
	    memcmp(chunked.out, whole.out, whole.outlen) != 0 ||
	    chunked.consumed != whole.consumed ||
	    chunked.size != whole.size || chunked.error != whole.error ||
	    chunked.done != whole.done)
		abort();

	free(whole.out);
	free(chunked.out);
	fuzz_bdat(in, len, max_size, sel);
	return 0;
}
