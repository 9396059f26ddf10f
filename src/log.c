/*
 * log.c - logging to syslog or stderr.  Lines are written whole with one
 * write so that lines from worker threads never interleave.
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
