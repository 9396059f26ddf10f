/*
 * message.h - the DATA reader and header rewriting (pure, no I/O).
 *
 * Owns: turning the dot-stuffed DATA stream into message bytes, finding the
 * one true end (CRLF.CRLF, RFC 5321 §4.1.1.4), and refusing what smuggling
 * attacks need: bare CR, bare LF, NUL, overlong lines (RFC 5322 §2.1.1).
 * Not: reading sockets or writing files; the session feeds it bytes as they
 * come and writes what it returns.  Memory is fixed: the reader keeps a few
 * counters, never the message.
 */
#ifndef SUBMITD_MESSAGE_H
#define SUBMITD_MESSAGE_H

#include <stddef.h>

#define MSG_LINE_MAX	998	/* octets per line without CRLF, RFC 5322 §2.1.1 */

enum msg_error {
	MSG_OK = 0,
	MSG_ERR_BARE_LF,
	MSG_ERR_BARE_CR,
	MSG_ERR_NUL,
	MSG_ERR_LINE_TOO_LONG,
	MSG_ERR_TOO_BIG,
};

struct msg_reader {
	int		 state;		/* private: where we are relative to a line start */
	size_t		 line_len;	/* octets of the current line so far */
	size_t		 size;		/* message octets so far (unstuffed, with CRLFs) */
	size_t		 max_size;	/* 0: no limit */
	enum msg_error	 error;		/* the first error seen */
	int		 done;		/* the terminating CRLF.CRLF has been consumed */
	int		 normalize_lf;	/* set after init: bare LF becomes CRLF */
	int		 bdat;		/* set after init: BDAT chunks (RFC 3030),
					   no dot-stuffing, the end is counted */
};

/*
 * Starts a message; the DATA command's own CRLF counts as the first line end.
 * With normalize_lf set, a bare LF is written as CRLF instead of refusing
 * the message, but it still never starts a line that could end the data
 * or lose a transparency dot: "<LF>.<CR><LF>" stays message text.
 */
void	msg_reader_init(struct msg_reader *r, size_t max_size);

/*
 * Consumes DATA bytes from in[0..inlen) and writes message bytes to out
 * (which has room for inlen bytes, 2 * inlen with normalize_lf), setting
 * *outlen.  Returns the number of
 * input bytes consumed: all of them, or fewer when the end of data was
 * reached (r->done is then set and the bytes after the terminator belong to
 * the next command).  After an error the reader keeps scanning for the end
 * but writes nothing more; the final "CRLF" before ".CRLF" belongs to the
 * message, the ".CRLF" does not.
 */
size_t	msg_reader_feed(struct msg_reader *r, const char *in, size_t inlen,
	    char *out, size_t *outlen);

/*
 * BDAT LAST: the message ends here (r->done is set).  A last line without
 * its CRLF gets one, written to out (room for 2 octets; returns how many);
 * a CR without its LF is a bare CR.
 */
size_t	msg_reader_end(struct msg_reader *r, char *out);

/* The complete SMTP reply (no CRLF) for an error, e.g. "552 5.3.4 ...". */
const char *msg_error_reply(enum msg_error e);

#endif
