/*
 * log.h - one line per event, key=value, to syslog (mail facility) or, with
 * -d, to stderr.  Callers never pass passwords, SASL exchanges or message
 * content: nothing here could tell them apart.
 *
 * Every value that a client or a peer chose (addresses, EHLO names, logins,
 * replies, error texts) goes through log_str() or log_addr(), so that a
 * line always parses as key=value pairs: a value is printed bare when it
 * holds only printable ASCII other than space, '"', '\\' and '=', and in
 * double quotes otherwise, with '"' and '\\' escaped by a backslash and any
 * other byte outside printable ASCII as \xNN.  tests/lint-logs.sh fails
 * the build when a format string quotes a %s itself.
 */
#ifndef SUBMITD_LOG_H
#define SUBMITD_LOG_H

#include <stddef.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void	log_init(int to_stderr, int debug);
void	log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_errx(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
int	log_debug_enabled(void);

#define LOG_VALUE_MAX	320	/* octets of a value kept, then "..." */

/*
 * A value made safe for a log line (see above); NULL prints as "-".  The
 * result lives in a small per-thread ring: use it in the log call at hand
 * (up to LOG_RING values per call), never keep it.
 */
#define LOG_RING	8
const char	*log_str(const char *s);
const char	*log_strn(const char *s, size_t len);
/* An address as "<addr>", escaped like log_str ("<>" for the null sender). */
const char	*log_addr(const char *addr);

/* Pure: escapes s[0..len) into out (room for outsize, NUL included). */
size_t		 log_escape(char *out, size_t outsize, const char *s, size_t len);

#endif
