/*
 * test_journal.c - the spool journal's records (journal_rec.c) and their
 * checksum (util/crc32c.c): a segment reads back record by record, and
 * whatever a crash can leave at its end (a short header, a short payload,
 * a payload that changed, garbage) ends it there.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "journal_rec.h"
#include "util/crc32c.h"

#define ID1	"0000019C3A2F1E07A1B2"
#define ID2	"0000019C3A2F1E07A1B3"

struct seen {
	int		 n;
	int		 types[8];
	char		 ids[8][JOURNAL_ID_LEN + 1];
	size_t		 lens[8];
	int		 stop_after;	/* fn returns -1 at this record, or 0 */
};

static int
collect(const struct journal_rec *r, void *arg)
{
	struct seen *s = arg;

	if (s->stop_after && s->n + 1 == s->stop_after)
		return -1;
	if (s->n < 8) {
		s->types[s->n] = r->type;
		memcpy(s->ids[s->n], r->id, sizeof(s->ids[0]));
		s->lens[s->n] = r->len;
	}
	s->n++;
	return 0;
}

/* Appends a record to buf at *len. */
static void
put(unsigned char *buf, size_t *len, int type, const char *id,
    const char *payload)
{
	size_t n = payload != NULL ? strlen(payload) : 0;

	if (journal_hdr_encode(buf + *len, type, id, n,
	    crc32c(0, payload != NULL ? payload : "", n)) != 0)
		abort();
	memcpy(buf + *len + JOURNAL_HDR_LEN, payload != NULL ? payload : "", n);
	*len += JOURNAL_HDR_LEN + n;
}

static void
test_crc(void)
{
	unsigned char zeros[32] = { 0 }, ones[32];
	const char *s = "123456789";

	memset(ones, 0xff, sizeof(ones));
	/* RFC 3720 B.4 check value and its iSCSI test patterns. */
	CHECK(crc32c(0, s, 9) == 0xe3069283, "CRC-32C of 123456789");
	CHECK(crc32c(0, zeros, 32) == 0x8a9136aa, "CRC-32C of 32 zeros");
	CHECK(crc32c(0, ones, 32) == 0x62a8ab43, "CRC-32C of 32 0xff");
	CHECK(crc32c(crc32c(0, s, 4), s + 4, 5) == 0xe3069283,
	    "CRC-32C continues across calls");
	CHECK(crc32c(0, "", 0) == 0, "CRC-32C of nothing");
}

static void
test_encode(void)
{
	unsigned char h[JOURNAL_HDR_LEN];
	struct journal_rec r;

	CHECK(journal_hdr_encode(h, 'M', ID1, 12345, 0xdeadbeef) == 0,
	    "a message header encodes");
	CHECK(memcmp(h, "SJR1M\0\0\0", 8) == 0, "magic and type");
	CHECK(journal_hdr_decode(h, &r) == 0 && r.type == 'M' &&
	    r.len == 12345 && r.crc == 0xdeadbeef && strcmp(r.id, ID1) == 0,
	    "and decodes as written");
	CHECK(journal_hdr_encode(h, 'X', ID1, 0, 0) == -1, "unknown type refused");
	CHECK(journal_hdr_encode(h, 'M', "0000019c3a2f1e07a1b2", 0, 0) == -1,
	    "lower-case id refused (not a spool id)");
	CHECK(journal_hdr_encode(h, 'M', "../../etc/passwd", 0, 0) == -1,
	    "a path as id refused");
	CHECK(journal_hdr_encode(h, 'R', ID1, 1, 0) == -1,
	    "a removal carries no payload");
	journal_hdr_encode(h, 'S', ID1, 7, 1);
	h[25] = '/';
	CHECK(journal_hdr_decode(h, &r) == -1, "a changed id fails the header CRC");
	journal_hdr_encode(h, 'S', ID1, 7, 1);
	h[8] ^= 1;
	CHECK(journal_hdr_decode(h, &r) == -1, "a changed length fails it too");
	journal_hdr_encode(h, 'S', ID1, 7, 1);
	h[45] = 1;
	CHECK(journal_hdr_decode(h, &r) == -1, "padding must be zero");
}

static void
test_scan(void)
{
	unsigned char buf[4096];
	struct seen s;
	size_t len = 0, end, whole;

	put(buf, &len, 'M', ID1, "id: " ID1 "\n\nSubject: x\r\n\r\nbody\r\n");
	put(buf, &len, 'S', ID1, "attempts: 1\n");
	put(buf, &len, 'M', ID2, "");
	put(buf, &len, 'R', ID1, NULL);
	whole = len;

	memset(&s, 0, sizeof(s));
	end = journal_scan(buf, len, collect, &s);
	CHECK(end == len && s.n == 4, "four records read back whole (%zu/%zu)",
	    end, len);
	CHECK(s.types[0] == 'M' && s.types[1] == 'S' && s.types[2] == 'M' &&
	    s.types[3] == 'R', "in order");
	CHECK(strcmp(s.ids[2], ID2) == 0 && s.lens[2] == 0 && s.lens[1] == 12,
	    "ids and lengths");

	/* A crash in the middle of the last record: it is not there. */
	memset(&s, 0, sizeof(s));
	end = journal_scan(buf, whole - 1, collect, &s);
	CHECK(s.n == 3 && end == whole - JOURNAL_HDR_LEN, "short header ends it");
	memset(&s, 0, sizeof(s));
	end = journal_scan(buf, whole - JOURNAL_HDR_LEN - 3, collect, &s);
	CHECK(s.n == 2, "short payload ends it (%d)", s.n);

	/* A payload that did not reach the disk (zeros) fails its CRC. */
	memset(&s, 0, sizeof(s));
	memset(buf + JOURNAL_HDR_LEN + 4, 0, 8);
	end = journal_scan(buf, whole, collect, &s);
	CHECK(s.n == 0 && end == 0, "a changed payload ends the segment there");

	/* Garbage after the records. */
	len = 0;
	put(buf, &len, 'S', ID2, "held: 1\n");
	memset(buf + len, 'x', 100);
	memset(&s, 0, sizeof(s));
	end = journal_scan(buf, len + 100, collect, &s);
	CHECK(s.n == 1 && end == len, "garbage after the last record ignored");

	/* A length past the end of the segment. */
	len = 0;
	journal_hdr_encode(buf, 'M', ID1, (uint64_t)1 << 62, 0);
	memset(&s, 0, sizeof(s));
	CHECK(journal_scan(buf, JOURNAL_HDR_LEN, collect, &s) == 0 && s.n == 0,
	    "a length beyond the segment ends it");
	journal_hdr_encode(buf, 'M', ID1, UINT64_MAX, 0);
	CHECK(journal_scan(buf, JOURNAL_HDR_LEN, collect, &s) == 0,
	    "and so does UINT64_MAX (no overflow)");

	/* The callback stops the scan before the record it refused. */
	len = 0;
	put(buf, &len, 'S', ID1, "a\n");
	whole = len;
	put(buf, &len, 'S', ID2, "b\n");
	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	CHECK(journal_scan(buf, len, collect, &s) == whole && s.n == 1,
	    "a refusing callback ends the scan before its record");
	CHECK(journal_scan(buf, 0, collect, &s) == 0, "an empty segment");
}

int
main(void)
{
	test_crc();
	test_encode();
	test_scan();
	printf("1..%d\n", tests);
	return failures != 0;
}
