/*
 * journal_rec.h - the spool journal's records, encoded and read back.
 * Pure (no I/O): journal.c writes and replays them; unit tests and
 * tests/fuzz/fuzz_journal drive the reader with any bytes.
 *
 * A record is a 48-octet header and len octets of payload:
 *
 *	 0  "SJR1"
 *	 4  type: 'M' message (the whole queue file), 'S' delivery state
 *	    (the whole state file), 'R' removal (no payload); then 3 zeros
 *	 8  len, 64 bits little-endian
 *	16  CRC-32C of the payload, 32 bits little-endian
 *	20  the queue id, 20 upper-case hexadecimal digits
 *	40  CRC-32C of octets 0-39, 32 bits little-endian
 *	44  4 zeros
 *
 * A segment is records back to back.  The first record that does not read
 * back whole (short, bad checksum) ends it: what follows was never
 * acknowledged, since a batch is reported only after its fdatasync and the
 * next batch is written only after that.
 */
#ifndef SUBMITD_JOURNAL_REC_H
#define SUBMITD_JOURNAL_REC_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_HDR_LEN		48
#define JOURNAL_ID_LEN		20
#define JOURNAL_MESSAGE		'M'
#define JOURNAL_STATE		'S'
#define JOURNAL_REMOVE		'R'

struct journal_rec {
	int			 type;
	char			 id[JOURNAL_ID_LEN + 1];
	uint64_t		 len;
	uint32_t		 crc;		/* of the payload */
	const unsigned char	*payload;	/* journal_scan: inside its buffer */
};

/* Fills out[JOURNAL_HDR_LEN]; 0, or -1 for a bad type or id. */
int	journal_hdr_encode(unsigned char *out, int type, const char *id,
	    uint64_t len, uint32_t crc);
/* Reads a header (magic, type, zeros, id, header checksum); 0 or -1. */
int	journal_hdr_decode(const unsigned char *in, struct journal_rec *);
/*
 * Calls fn for each whole record of buf in order (payload checked against
 * its checksum) until fn returns -1 or a record does not read back.
 * Returns the length of the part read whole: len when the segment ended
 * cleanly.
 */
size_t	journal_scan(const unsigned char *buf, size_t len,
	    int (*fn)(const struct journal_rec *, void *), void *arg);

#endif
