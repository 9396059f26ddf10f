/*
 * proxy.h - the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2) a load balancer sends before the client's first byte:
 * who the client really is.  Pure: bytes in, a verdict out.
 */
#ifndef SUBMITD_PROXY_H
#define SUBMITD_PROXY_H

#include <stddef.h>

#define PROXY_V1_MAX	107	/* "PROXY TCP6 ..." with its CRLF */
#define PROXY_MAX	4096	/* a v2 header with TLVs, at most */

struct proxy_info {
	int		 local;		/* LOCAL / UNKNOWN: the balancer itself
					   (a health check): keep the socket's */
	char		 src[46];	/* the client's numeric address */
	unsigned	 src_port;
	char		 dst[46];
	unsigned	 dst_port;
};

/*
 * The header at buf[0..len): its length when whole (the caller takes
 * exactly that many octets), 0 when more octets are needed, -1 when it is
 * not a valid header (or is longer than PROXY_MAX).
 */
long	proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *);

#endif
