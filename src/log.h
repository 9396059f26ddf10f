/*
 * log.h - one line per event, key=value, to syslog (mail facility) or, with
 * -d, to stderr.  Callers never pass passwords, SASL exchanges or message
 * content: nothing here could tell them apart.
 */
#ifndef SUBMITD_LOG_H
#define SUBMITD_LOG_H

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void	log_init(int to_stderr, int debug);
void	log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_errx(const char *fmt, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
