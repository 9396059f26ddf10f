/*
 * fuzz_journal.c - libFuzzer entry point for the journal's segment reader
 * (journal_rec.c): whatever a crash or a damaged disk leaves in a segment.
 *
 * Checks what replay relies on: the records handed out lie inside the
 * segment, back to back from its start, carry a valid spool id, a known
 * type and a payload matching its CRC, and the part read whole ends where
 * the last of them does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "journal_rec.h"
#include "util/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct walk {
	const uint8_t	*start;
	size_t		 size;
	size_t		 next;		/* where the next record must begin */
};

static int
check(const struct journal_rec *r, void *arg)
{
	struct walk *w = arg;
	size_t i;

	if (r->payload != w->start + w->next + JOURNAL_HDR_LEN ||
	    r->len > w->size - w->next - JOURNAL_HDR_LEN ||
	    crc32c(0, r->payload, r->len) != r->crc ||
	    strlen(r->id) != JOURNAL_ID_LEN ||
	    (r->type != 'M' && r->type != 'S' && r->type != 'R') ||
	    (r->type == 'R' && r->len != 0))
		abort();
	for (i = 0; i < JOURNAL_ID_LEN; i++)
		if (!((r->id[i] >= '0' && r->id[i] <= '9') ||
		    (r->id[i] >= 'A' && r->id[i] <= 'F')))
			abort();
	w->next += JOURNAL_HDR_LEN + r->len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct walk w = { data, size, 0 };
	unsigned char hdr[JOURNAL_HDR_LEN];
	struct journal_rec r;
	size_t end;

	end = journal_scan(data, size, check, &w);
	if (end != w.next || end > size)
		abort();
	/* A header that decodes encodes back to the same octets. */
	if (size >= JOURNAL_HDR_LEN && journal_hdr_decode(data, &r) == 0 &&
	    (journal_hdr_encode(hdr, r.type, r.id, r.len, r.crc) != 0 ||
	    memcmp(hdr, data, JOURNAL_HDR_LEN) != 0))
		abort();
	return 0;
}
