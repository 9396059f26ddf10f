/*
 * log.c - logging to syslog or stderr, and the escaping of the values that
 * clients and peers choose.  Lines are written whole with one write so that
 * lines from worker threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_stderr = 1;
static int log_debug_on;

void
log_init(int to_stderr, int debug)
{
	log_stderr = to_stderr;
	log_debug_on = debug;
	if (!to_stderr)
		openlog("submitd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

static void
log_vwrite(int pri, const char *fmt, va_list ap)
{
	char line[2048];
	int n = 0;

	if (!log_stderr) {
		vsyslog(pri, fmt, ap);
		return;
	}
	{
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - n, ".%03ldZ submitd: ",
		    ts.tv_nsec / 1000000);
	}
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

#define LOG_FN(name, pri, gate)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
							\
	if (!(gate))					\
		return;					\
	va_start(ap, fmt);				\
	log_vwrite(pri, fmt, ap);			\
	va_end(ap);					\
}

LOG_FN(log_info, LOG_INFO, 1)
LOG_FN(log_warnx, LOG_WARNING, 1)
LOG_FN(log_errx, LOG_ERR, 1)
LOG_FN(log_debug, LOG_DEBUG, log_debug_on)

int
log_debug_enabled(void)
{
	return log_debug_on;
}

/* Printable ASCII that cannot end or split a key=value pair. */
static int
bare_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

size_t
log_escape(char *out, size_t outsize, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n = 0, take = len > LOG_VALUE_MAX ? LOG_VALUE_MAX : len;
	int quote = take == 0 || take < len;

	/* Worst case: two quotes, four octets per byte, "...", NUL. */
	if (outsize < 4 * LOG_VALUE_MAX + 6) {
		if (outsize > 0)
			out[0] = '\0';
		return 0;
	}
	for (i = 0; i < take && !quote; i++)
		quote = !bare_ok((unsigned char)s[i]);
	if (quote)
		out[n++] = '"';
	for (i = 0; i < take; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = c;
		} else if (c >= 0x20 && c < 0x7f)
			out[n++] = c;
		else {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	if (take < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	if (quote)
		out[n++] = '"';
	out[n] = '\0';
	return n;
}

/* Per thread: a log call may hold up to LOG_RING values at once. */
static _Thread_local char ring[LOG_RING][4 * LOG_VALUE_MAX + 8];
static _Thread_local unsigned ring_next;

static char *
ring_slot(void)
{
	return ring[ring_next++ % LOG_RING];
}

const char *
log_strn(const char *s, size_t len)
{
	char *out = ring_slot();

	log_escape(out, sizeof(ring[0]), s, len);
	return out;
}

const char *
log_str(const char *s)
{
	return s == NULL ? "-" : log_strn(s, strlen(s));
}

const char *
log_addr(const char *addr)
{
	char buf[LOG_VALUE_MAX + 3];

	if (addr == NULL)
		return "-";
	snprintf(buf, sizeof(buf), "<%s>", addr);
	if (strlen(addr) + 2 >= sizeof(buf))
		return log_strn(addr, strlen(addr));	/* truncated anyway */
	return log_str(buf);
}
