/*
 * fuzz_spf.c - libFuzzer entry point for SPF's check_host() (src/spf.c).
 * The input, split at NUL bytes, is the TXT answer of every name (first
 * part), an address list (second) and an MX list (third).  Checks: the
 * evaluation ends (the look-up limit and the depth bound hold whatever
 * the records say) with a known result and a NUL-terminated why.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const char	*part[3];
	int		 calls;
};

static int
copy(const char *s, char *out, size_t size, size_t max)
{
	if (max == 0)
		return 0;
	snprintf(out, size, "%s", s);
	return s[0] != '\0';
}

static int
txt(void *arg, const char *name, char (*out)[SPF_TXT_LEN], size_t max)
{
	struct input *in = arg;

	if (++in->calls > 200)
		abort();	/* the limits did not hold */
	return copy(in->part[0], out[0], SPF_TXT_LEN, max);
}

static int
addrs(void *arg, const char *name, char (*out)[SPF_ADDR_LEN], size_t max)
{
	return copy(((struct input *)arg)->part[1], out[0], SPF_ADDR_LEN, max);
}

static int
mx(void *arg, const char *name, char (*out)[SPF_NAME_LEN], size_t max)
{
	return copy(((struct input *)arg)->part[2], out[0], SPF_NAME_LEN, max);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { { "", "", "" }, 0 };
	struct spf_dns dns = { txt, addrs, mx, &in };
	char *buf = malloc(size + 1), why[128];
	size_t i, n = 0;
	enum spf_result r;

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	in.part[n++] = buf;
	for (i = 0; i < size && n < 3; i++)
		if (buf[i] == '\0')
			in.part[n++] = buf + i + 1;
	r = spf_check(&dns, "192.0.2.1", "example.test", why, sizeof(why));
	if (r > SPF_PERMERROR || memchr(why, '\0', sizeof(why)) == NULL)
		abort();
	in.calls = 0;
	r = spf_check(&dns, "2001:db8::1", "example.test", why, sizeof(why));
	if (r > SPF_PERMERROR)
		abort();
	in.calls = 0;
	(void)spf_includes(&dns, "example.test", "x.test");
	free(buf);
	return 0;
}
