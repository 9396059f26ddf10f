/*
 * dkim_canon.h - the pure half of DKIM (RFC 6376): "relaxed"
 * canonicalisation of the body (streamed) and of header fields, the
 * choice of fields a signature covers, and the tag lists of DKIM-Signature
 * fields and of key records (for submitctl dns-check).
 *
 * Owns: turning bytes into the exact octets a signer or verifier hashes.
 * Not: hashing, keys or signatures (dkim.c), or where the message lives.
 * No I/O, no allocation except where a function says it returns a string
 * to free; every function takes byte ranges that may hold anything.
 */
#ifndef SUBMITD_DKIM_CANON_H
#define SUBMITD_DKIM_CANON_H

#include <stddef.h>

#define DKIM_CANON_BUF	4096	/* octets gathered before the sink sees them */

/*
 * Relaxed body canonicalisation (RFC 6376 §3.4.4), any split of the input:
 * whitespace at the ends of lines goes, runs of it inside a line become one
 * SP, empty lines at the end go, and a body that is not empty ends with
 * CRLF.  The canonical octets go to sink in chunks.
 */
struct dkim_body_canon {
	void	(*sink)(void *arg, const char *buf, size_t len);
	void	*arg;
	/* private */
	size_t	 crlfs;		/* line ends not yet written (maybe trailing) */
	int	 wsp;		/* whitespace seen since the last other octet */
	int	 cr;		/* a CR waiting for its LF */
	int	 any;		/* something other than line ends was written */
	size_t	 len;
	char	 buf[DKIM_CANON_BUF];
};

void	dkim_body_canon_init(struct dkim_body_canon *,
	    void (*sink)(void *, const char *, size_t), void *arg);
void	dkim_body_canon_update(struct dkim_body_canon *, const char *, size_t);
void	dkim_body_canon_final(struct dkim_body_canon *);

/*
 * One header field (its name, colon, value and continuation lines, with or
 * without the final CRLF) in relaxed form (RFC 6376 §3.4.2) into out (room
 * for len + 3 octets): the name lowercased, no whitespace around the colon,
 * the value unfolded with runs of whitespace as one SP and none at its
 * ends, then CRLF unless crlf is 0.  Returns the length written.
 */
size_t	dkim_canon_header(const char *field, size_t len, int crlf, char *out);

/*
 * The length of the header field at hdr[0..len): through its last line
 * (the lines after the first that start with WSP continue it).
 */
size_t	dkim_field_len(const char *hdr, size_t len);

#define DKIM_SIGN_FIELDS_MAX	64	/* instances of signed fields used */

/*
 * The fields of the header section hdr[0..len) (CRLF-terminated fields,
 * no empty line) that a signature covers: for each name of names, every
 * instance, from the last up (RFC 6376 §5.4.2), and the name once more,
 * so that an instance added later breaks the signature ("over-signing").
 * At most DKIM_SIGN_FIELDS_MAX instances in all: past it the last ones of
 * a name are signed and that name is not over-signed.
 * Writes the h= value ("from:from:to:...") into h (room for hsize), and
 * the relaxed forms of the chosen fields, each with CRLF, to *canon (a
 * string to free, *canonlen octets).  0, or -1 when h is too small or
 * memory runs out.
 */
int	dkim_select_fields(const char *hdr, size_t len,
	    const char *const *names, size_t nnames, char *h, size_t hsize,
	    char **canon, size_t *canonlen);

/*
 * A tag=value list (RFC 6376 §3.2): the value of tag (whitespace around it
 * removed; folding whitespace inside kept) into out.  1 found, 0 absent,
 * -1 the list is malformed or the value does not fit.
 */
int	dkim_tag(const char *list, size_t len, const char *tag, char *out,
	    size_t outsize);

#define DKIM_TOP_READ	16384	/* octets at the top that hold ours */

/*
 * The "d=DOMAIN s=SELECTOR" of the DKIM-Signature fields at the very top of
 * msg[0..len) (where submitd writes its own), as "sel1@dom1,sel2@dom2" in
 * out; 0 when there are none.
 */
int	dkim_top_signers(const char *msg, size_t len, char *out, size_t outsize);

#endif
