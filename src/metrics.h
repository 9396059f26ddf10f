/*
 * metrics.h - Prometheus metrics at http://metrics.address:port/metrics
 * (text exposition format 0.0.4), served by libevent's evhttp on loop 0.
 *
 * Owns: the counters and histograms nothing else keeps (AUTH by mechanism,
 * TLS versions, how sessions end, refusals by status code, the final dot
 * to 250 latency, delivery times) and the page, which also reads the
 * server's, policy's, abuse's and the queue's own figures.  The note_*
 * calls are lock-free (atomics) and may come from any thread.
 */
#ifndef SUBMITD_METRICS_H
#define SUBMITD_METRICS_H

struct server;

/* Loop 0: listens when metrics.port is set; -1 (logged) on failure. */
int	metrics_init(struct server *);
void	metrics_shutdown(void);

void	metrics_auth(const char *mech, int ok);
void	metrics_tls(const char *version);
void	metrics_session_end(const char *reason);
/* A 4xx/5xx reply to a client: counted by its enhanced code ("5.7.1"). */
void	metrics_refusal(const char *reply);
/* Seconds from the final dot to the 250, and from arrival to delivery. */
void	metrics_commit_latency(double seconds);
void	metrics_delivery_time(double seconds);

#endif
