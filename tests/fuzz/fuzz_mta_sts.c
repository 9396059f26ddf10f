/*
 * fuzz_mta_sts.c - libFuzzer entry point for MTA-STS and TLS-RPT parsing.
 *
 * The input is a policy file; split at NUL bytes it is also up to four TXT
 * records.  Checks: a parsed policy's mode is known, max_age within its
 * cap, every mx pattern NUL-terminated, lowercase and matching itself; an
 * id found is 1..32 alphanumerics; rua URIs start with mailto: or https:.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mta_sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mta_sts_policy p;
	struct tlsrpt_record r;
	const char *why, *recs[4];
	char id[MTA_STS_ID_MAX + 1], *buf;
	size_t lens[4], n = 0, start = 0, i, j;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	if (mta_sts_parse_policy(buf, size, &p, &why) == 0) {
		if (p.mode > MTA_STS_ENFORCE || p.max_age < 0 ||
		    p.max_age > MTA_STS_MAX_AGE_MAX || p.nmx > MTA_STS_MX_MAX ||
		    (p.mode != MTA_STS_NONE && p.nmx == 0))
			abort();
		for (i = 0; i < p.nmx; i++) {
			if (memchr(p.mx[i], '\0', sizeof(p.mx[i])) == NULL)
				abort();
			for (j = 0; p.mx[i][j] != '\0'; j++)
				if (isupper((unsigned char)p.mx[i][j]))
					abort();
			if (p.mx[i][0] != '*' && !mta_sts_mx_match(&p, p.mx[i]))
				abort();
		}
	} else if (why == NULL)
		abort();
	for (i = 0; i <= size && n < 4; i++)
		if (i == size || buf[i] == '\0') {
			recs[n] = buf + start;
			lens[n++] = i - start;
			start = i + 1;
		}
	if (mta_sts_parse_txt(recs, lens, n, id) == 1) {
		size_t l = strlen(id);

		if (l == 0 || l > MTA_STS_ID_MAX)
			abort();
		for (j = 0; j < l; j++)
			if (!isalnum((unsigned char)id[j]))
				abort();
	}
	if (tlsrpt_parse_txt(recs, lens, n, &r) == 1) {
		if (r.nrua == 0 || r.nrua > TLSRPT_RUA_MAX)
			abort();
		for (j = 0; j < r.nrua; j++)
			if (strncasecmp(r.rua[j], "mailto:", 7) != 0 &&
			    strncasecmp(r.rua[j], "https://", 8) != 0)
				abort();
	}
	free(buf);
	return 0;
}
