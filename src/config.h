/*
 * config.h - the typed configuration every other module reads.
 *
 * Owns: the libconfuse schema, defaults, and validation of what can be
 * checked before start-up (types, ranges, readable files, a key matching its
 * certificate).  Errors name the file, the line and the key.  Not: acting
 * on the values.
 */
#ifndef SUBMITD_CONFIG_H
#define SUBMITD_CONFIG_H

#include <stddef.h>

enum listen_tls {
	LISTEN_STARTTLS = 0,
	LISTEN_IMPLICIT,
};

struct listen_conf {
	char		*address;
	int		 port;
	enum listen_tls	 tls;
};

/* A next hop: relay (the default route) or a per-domain route. */
struct route_conf {
	char		*domain;	/* NULL for relay */
	char		*host;		/* NULL: MX of the recipient's domain */
	int		 port;
	int		 mx;		/* host was not in []: look up its MX */
	int		 tls;		/* enum tls_level (delivery.h) */
	char		*username;
	char		*password;	/* read from password_file at start */
};

struct config {
	char		*path;
	char		*hostname;
	char		*user;
	char		*spool_dir;
	char		*control_socket;
	int		 event_loops;		/* 0: one per CPU */
	char	       **local_domains;		/* lowercased */
	size_t		 nlocal_domains;

	struct listen_conf *listens;
	size_t		 nlistens;

	char		*tls_certificate;
	char		*tls_key;
	int		 tls_min_version;	/* TLS1_2_VERSION or TLS1_3_VERSION */

	char		*auth_mechanisms;	/* space-separated, for SASL's mech_list */
	char		*auth_sasldb;
	char		*auth_pwcheck;		/* "auxprop" or "saslauthd" */
	char		*auth_saslauthd_path;	/* NULL: SASL's default */

	long long	 message_size;
	int		 recipients;
	int		 errors;
	int		 header_size;
	int		 connections;		/* at once, in all */
	int		 connections_per_ip;	/* at once, per client address */
	int		 connection_rate;	/* new connections per minute per address */
	int		 messages_per_hour;	/* per login; 0: no limit */
	int		 recipients_per_hour;	/* per login; 0: no limit */
	char		*login_limits_file;	/* per-login overrides, or NULL */
	int		 auth_failures;		/* before a ban */
	int		 auth_failure_window;	/* seconds */
	int		 auth_ban;		/* seconds */

	char		*senders_file;		/* NULL: a login sends as itself */
	char	       **internal_only;		/* logins limited to local domains */
	size_t		 ninternal_only;
	char	       **strip_headers;
	size_t		 nstrip_headers;
	int		 received_client_ip;
	int		 enforce_header_from;
	int		 bare_lf_normalize;	/* bare_lf = "normalize" */

	struct route_conf relay;
	struct route_conf *routes;
	size_t		 nroutes;
	char		*resolver;		/* c-ares server list, or NULL */
	int		 queue_retry_min;
	int		 queue_retry_max;
	int		 queue_lifetime;
	int		 queue_delay_warning;	/* seconds; 0: none */
	int		 queue_max_connections;
	int		 queue_max_per_destination;
	int		 queue_messages_per_connection;
	int		 queue_connect_timeout;
	int		 queue_command_timeout;
	int		 queue_data_timeout;

	int		 timeout_command;
	int		 timeout_data;
	int		 timeout_handshake;
};

/*
 * Parses and validates path.  Returns NULL after printing one line per
 * problem to stderr ("FILE:LINE: key: reason").
 */
struct config	*config_load(const char *path);
void		 config_free(struct config *);
int		 config_is_local_domain(const struct config *, const char *domain);
/* The route for a recipient domain: a route section, else relay. */
const struct route_conf *config_route(const struct config *, const char *domain);

#endif
