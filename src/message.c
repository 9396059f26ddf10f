/*
 * message.c - the DATA reader: dot-unstuffing and the checks that stop SMTP
 * smuggling.
 *
 * Responsible for finding the one end of the data, CRLF "." CRLF (RFC 5321
 * §4.1.1.4), removing the transparency dot (RFC 5321 §4.5.2) and refusing
 * bytes that another MTA might read differently: bare CR and bare LF (RFC
 * 5321 §2.3.8), NUL, and lines over 998 octets (RFC 5322 §2.1.1, RFC 5321
 * §4.5.3.1.6).
 * Not responsible for I/O, for holding the message or for headers.
 *
 * Only CR LF ends a line.  A bare CR or bare LF is an error and an ordinary
 * byte of the current line, never a line end, so "\n.\n", "\r.\r" and their
 * mixtures cannot end the data here while ending it at the next hop.  The
 * end found is always the first CRLF.CRLF of the stream (counting the DATA
 * command's CRLF), whatever errors came before it and however the stream
 * was split into chunks: all state lives in struct msg_reader.
 *
 * Each input byte yields at most one output byte (two for a bare LF when
 * normalize_lf is set).  A CR is written when it
 * is read: if no LF follows, the message is refused anyway.  The CR after a
 * line's first dot is never written: it is either the terminator's or bare.
 */
#include "message.h"

enum {
	ST_BOL = 0,	/* at the start of a line */
	ST_DOT,		/* a line's first byte was ".", dropped */
	ST_DOT_CR,	/* the line so far is ".", CR: the end, if LF follows */
	ST_TEXT,	/* inside a line */
	ST_CR,		/* inside a line after CR: a line end, if LF follows */
};

static void
msg_fail(struct msg_reader *r, enum msg_error e)
{
	/* The first error is the one the client is told about. */
	if (r->error == MSG_OK)
		r->error = e;
}

/*
 * Counts one message octet and writes it unless the message is already
 * refused.
 */
static void
msg_put(struct msg_reader *r, char c, char *out, size_t *outlen)
{
	r->size++;
	if (r->max_size != 0 && r->size > r->max_size)
		msg_fail(r, MSG_ERR_TOO_BIG);	/* size as in RFC 1870 §5 */
	if (r->error == MSG_OK)
		out[(*outlen)++] = c;
}

/* One byte inside a line (it is not the line's first dot). */
static void
msg_text(struct msg_reader *r, char c, char *out, size_t *outlen)
{
	if (c == '\r') {
		msg_put(r, c, out, outlen);
		r->state = ST_CR;
		return;
	}
	r->state = ST_TEXT;
	if (c == '\n' && r->normalize_lf) {
		/* A soft line end: the length restarts, ST_BOL does not. */
		msg_put(r, '\r', out, outlen);
		msg_put(r, '\n', out, outlen);
		r->line_len = 0;
		return;
	}
	if (c == '\n')
		msg_fail(r, MSG_ERR_BARE_LF);
	else if (c == '\0')
		msg_fail(r, MSG_ERR_NUL);
	else if (++r->line_len > MSG_LINE_MAX)
		msg_fail(r, MSG_ERR_LINE_TOO_LONG);
	/* A refused byte still counts towards the size, for the log. */
	msg_put(r, c, out, outlen);
}

void
msg_reader_init(struct msg_reader *r, size_t max_size)
{
	r->state = ST_BOL;	/* the DATA command's CRLF ended a line */
	r->line_len = 0;
	r->size = 0;
	r->max_size = max_size;
	r->error = MSG_OK;
	r->done = 0;
	r->normalize_lf = 0;
	r->bdat = 0;
}

size_t
msg_reader_end(struct msg_reader *r, char *out)
{
	size_t n = 0;

	r->done = 1;
	if (r->state == ST_CR)
		msg_fail(r, MSG_ERR_BARE_CR);
	else if (r->state == ST_TEXT && r->line_len > 0) {
		msg_put(r, '\r', out, &n);
		msg_put(r, '\n', out, &n);
	}
	return n;
}

size_t
msg_reader_feed(struct msg_reader *r, const char *in, size_t inlen,
    char *out, size_t *outlen)
{
	size_t i;
	char c;

	*outlen = 0;
	for (i = 0; i < inlen && !r->done; i++) {
		c = in[i];
		switch (r->state) {
		case ST_BOL:
			if (c == '.' && !r->bdat)
				r->state = ST_DOT;	/* RFC 5321 §4.5.2 */
			else
				msg_text(r, c, out, outlen);
			break;
		case ST_DOT:
			if (c == '\r')
				r->state = ST_DOT_CR;
			else
				msg_text(r, c, out, outlen);
			break;
		case ST_DOT_CR:
			if (c == '\n') {
				r->done = 1;	/* RFC 5321 §4.1.1.4 */
				break;
			}
			/* ".\r" then not LF: the CR is bare, not an end. */
			msg_fail(r, MSG_ERR_BARE_CR);
			msg_text(r, c, out, outlen);
			break;
		case ST_TEXT:
			msg_text(r, c, out, outlen);
			break;
		case ST_CR:
			if (c == '\n') {
				msg_put(r, c, out, outlen);
				r->line_len = 0;
				r->state = ST_BOL;
				break;
			}
			msg_fail(r, MSG_ERR_BARE_CR);
			msg_text(r, c, out, outlen);
			break;
		}
	}
	return i;
}

const char *
msg_error_reply(enum msg_error e)
{
	switch (e) {
	case MSG_OK:
		return "250 2.0.0 Ok";
	case MSG_ERR_BARE_LF:
		return "550 5.6.0 Message refused: bare LF (line feed without "
		    "carriage return) in data";
	case MSG_ERR_BARE_CR:
		return "550 5.6.0 Message refused: bare CR in data";
	case MSG_ERR_NUL:
		return "550 5.6.0 Message refused: NUL byte in data";
	case MSG_ERR_LINE_TOO_LONG:
		return "550 5.6.0 Message refused: line longer than 998 octets";
	case MSG_ERR_TOO_BIG:
		return "552 5.3.4 Message size exceeds fixed maximum message "
		    "size";
	}
	/* Not reached while every enum value has a case above. */
	return "451 4.3.0 Message refused: internal error";
}
