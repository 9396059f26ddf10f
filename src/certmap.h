/*
 * certmap.h - auth.client_map: which login a client certificate is (pure).
 *
 *	# SHA256-FINGERPRINT LOGIN, or CN=NAME LOGIN
 *	9F:86:D0:81:88:4C:7D:65:...:0A:08  backup@example.test
 *	CN=build server 3                  ci@example.test
 *
 * A fingerprint is 64 hexadecimal digits, colons optional, any case; a
 * name runs from "CN=" to the last space.  Fingerprints are tried first.
 */
#ifndef SUBMITD_CERTMAP_H
#define SUBMITD_CERTMAP_H

#include <stddef.h>

#include "smtp_parse.h"

#define CERTMAP_FP_HEX	64
#define CERTMAP_CN_MAX	256

enum certmap_kind {
	CERTMAP_FP,
	CERTMAP_CN,
};

struct certmap_entry {
	enum certmap_kind	 kind;
	char			 key[CERTMAP_CN_MAX + 1];	/* lowercase hex, or the CN */
	char			 login[SMTP_ADDR_MAX + 1];
};

/*
 * One line of the file: 1 with *e filled, 0 for a blank line or a
 * comment, -1 with a reason in *why.
 */
int	certmap_parse_line(const char *line, size_t len, struct certmap_entry *e,
	    const char **why);
/* The login of a certificate (fp: 64 lowercase hex digits), or NULL. */
const char *certmap_lookup(const struct certmap_entry *, size_t n,
	    const char *fp, const char *cn);

#endif
