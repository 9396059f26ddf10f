/*
 * fuzz_smtp_parse.c - libFuzzer entry point for the SMTP command parser.
 *
 * Feeds one input as a command line, then its argument to the parser the
 * verb calls for, and the whole input as an address.  The input is copied
 * to a heap buffer of exactly its size (replay.c reads into a larger static
 * one), so AddressSanitizer sees any read outside the range.  Besides the
 * sanitizers, it checks what the session relies on and abort()s otherwise:
 * every error has a reply "ddd d.d.d text" of the same class, every result
 * is a NUL-terminated string within its limit, every pointer stays inside
 * the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3463 §2: "class.subject.detail", the class matching the reply's. */
static void
check_reply(int rc, const char *reply)
{
	size_t i;

	if (rc == 0 && reply != NULL)
		abort();
	if (rc == 0)
		return;
	if (rc != -1 || reply == NULL)
		abort();
	if (!digit(reply[0]) || !digit(reply[1]) || !digit(reply[2]) ||
	    reply[3] != ' ' || (reply[0] != '4' && reply[0] != '5') ||
	    reply[4] != reply[0] || reply[5] != '.')
		abort();
	for (i = 6; digit(reply[i]); i++)
		;
	if (i == 6 || reply[i] != '.' || !digit(reply[i + 1]))
		abort();
	for (i++; digit(reply[i]); i++)
		;
	if (reply[i] != ' ' || reply[i + 1] == '\0' || strchr(reply, '\r') ||
	    strchr(reply, '\n') || strlen(reply) > 512)
		abort();
}

/*
 * An address buffer holds a string within SMTP_ADDR_MAX, "" on error;
 * ASCII without utf8, well-formed UTF-8 without controls with it.
 */
static void
check_addr(int rc, const char *addr, size_t addrsize, int utf8)
{
	if (memchr(addr, '\0', addrsize) == NULL || strlen(addr) > SMTP_ADDR_MAX)
		abort();
	if (rc == -1 && addr[0] != '\0')
		abort();
	if (!utf8_text_ok(addr, strlen(addr), utf8))
		abort();
}

/* A parameter value kept for the spool: a string, no CR, LF or controls. */
static void
check_value(const char *v, size_t size)
{
	if (memchr(v, '\0', size) == NULL || !utf8_text_ok(v, strlen(v), 1) ||
	    strchr(v, ' ') != NULL)
		abort();
}

static void
check_within(const char *p, size_t len, const char *buf, size_t size)
{
	if (p == NULL ? len != 0 : p < buf || len > size ||
	    p > buf + size - len)
		abort();
}

static void
fuzz_arg(const struct smtp_cmd *c, const char *buf, size_t size, int utf8)
{
	struct smtp_mail m;
	struct smtp_rcpt r;
	char mech[SMTP_MECH_MAX + 1];
	const char *reply, *ir;
	size_t irlen, i;
	long long chunk;
	int rc, last;

	switch (c->verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		rc = smtp_parse_helo(c->arg, c->arglen, &reply);
		check_reply(rc, reply);
		break;
	case SMTP_VERB_MAIL:
		memset(&m, 0xa5, sizeof(m));
		rc = smtp_parse_mail(c->arg, c->arglen, &m, &reply);
		check_reply(rc, reply);
		check_addr(rc, m.addr, sizeof(m.addr), rc == 0 && m.smtputf8);
		if (rc == 0 && (m.size < -1 || (m.body != SMTP_BODY_7BIT &&
		    m.body != SMTP_BODY_8BITMIME) ||
		    (m.addr[0] != '\0' && strchr(m.addr, '@') == NULL)))
			abort();
		if (rc == 0)
			check_value(m.envid, sizeof(m.envid));
		break;
	case SMTP_VERB_RCPT:
		memset(&r, 0xa5, sizeof(r));
		rc = smtp_parse_rcpt(c->arg, c->arglen, utf8, &r, &reply);
		check_reply(rc, reply);
		check_addr(rc, r.addr, sizeof(r.addr), utf8);
		if (rc == 0 && strchr(r.addr, '@') == NULL &&
		    strcmp(r.addr, "postmaster") != 0)
			abort();
		if (rc == 0 && ((r.notify & SMTP_NOTIFY_NEVER) && r.notify !=
		    SMTP_NOTIFY_NEVER))
			abort();
		if (rc == 0)
			check_value(r.orcpt, sizeof(r.orcpt));
		break;
	case SMTP_VERB_BDAT:
		rc = smtp_parse_bdat(c->arg, c->arglen, &chunk, &last, &reply);
		check_reply(rc, reply);
		if (rc == 0 && (chunk < 0 || chunk > SMTP_BDAT_MAX))
			abort();
		break;
	case SMTP_VERB_AUTH:
		memset(mech, 0xa5, sizeof(mech));
		rc = smtp_parse_auth(c->arg, c->arglen, mech, &ir, &irlen,
		    &reply);
		check_reply(rc, reply);
		if (memchr(mech, '\0', sizeof(mech)) == NULL)
			abort();
		if (rc == -1 && (mech[0] != '\0' || ir != NULL || irlen != 0))
			abort();
		if (rc == 0 && mech[0] == '\0')
			abort();
		for (i = 0; mech[i] != '\0'; i++)
			if (mech[i] >= 'a' && mech[i] <= 'z')
				abort();
		check_within(ir, irlen, buf, size);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_cmd c;
	char out[SMTP_ADDR_MAX + 1];
	const char *reply;
	char *buf;
	int rc, utf8;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(buf, data, size);

	rc = smtp_parse_command(buf, size, &c, &reply);
	check_reply(rc, reply);
	check_within(c.arg, c.arglen, buf, size);
	if (c.arglen > 0 && c.arg[c.arglen - 1] == ' ')
		abort();
	for (utf8 = 0; rc == 0 && utf8 <= 1; utf8++)
		fuzz_arg(&c, buf, size, utf8);

	for (utf8 = 0; utf8 <= 1; utf8++) {
		memset(out, 0xa5, sizeof(out));
		rc = smtp_parse_address(buf, size, utf8, out, &reply);
		check_reply(rc, reply);
		check_addr(rc, out, sizeof(out), utf8);
		/* Only the domain's case may change. */
		if (rc == 0 && (strlen(out) != size || strchr(out, '@') == NULL ||
		    strncmp(out, buf, (size_t)(strrchr(out, '@') - out)) != 0))
			abort();
	}

	free(buf);
	return 0;
}
