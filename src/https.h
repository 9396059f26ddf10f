/*
 * https.h - HTTPS requests for MTA-STS policies (RFC 8461 §3.3) and TLS-RPT
 * reports (RFC 8460 §5.1), with libcurl on a worker thread of their own.
 *
 * Owns: one request at a time per worker: only https, the certificate
 * verified (against the given CA PEM, else the system's), no redirect, the
 * host's addresses given by the caller (looked up with our own resolver),
 * a cap on time and on the size of the answer.  Not: what the answer
 * means.  Requests are made on the loop and answered there.
 */
#ifndef SUBMITD_HTTPS_H
#define SUBMITD_HTTPS_H

#include <stddef.h>

struct event_base;

struct https_request {
	/* In: */
	char		 url[600];		/* https://host/path */
	char		 host[256];		/* for the addresses below */
	char		 addrs[512];		/* "a,b" numeric, from our resolver */
	int		 port;			/* 443 */
	const char	*ca_pem;		/* NULL: the system's CAs */
	size_t		 ca_len;
	const char	*post;			/* NULL: GET */
	size_t		 postlen;
	const char	*content_type;		/* of post */
	size_t		 max;			/* octets of answer kept */
	int		 timeout;		/* seconds, all in all */
	/* Out: */
	int		 ok;			/* 2xx and whole */
	long		 status;		/* HTTP status, 0 when none */
	char		 media_type[128];	/* of the answer, lowercased */
	char		*body;			/* to free; NUL-terminated */
	size_t		 bodylen;
	char		 error[256];		/* why not ok */
	/* Called on the loop; the request is the caller's again. */
	void		(*done)(struct https_request *, void *arg);
	void		*arg;
};

/* Once at start-up (curl_global_init), before any thread. */
int	https_global_init(void);
/* Its own worker threads on base (loop 0). */
int	https_init(struct event_base *);
void	https_shutdown(void);
/* Starts r; done is called later, never from inside this call. */
void	https_start(struct https_request *r);
/*
 * The same, blocking, on the caller's thread (a worker's: OAuth key sets);
 * addrs "" lets the system resolve host.
 */
void	https_fetch(struct https_request *r);

#endif
