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
#include <sys/types.h>

enum listen_tls {
	LISTEN_STARTTLS = 0,
	LISTEN_IMPLICIT,
};

struct certmap_entry;
struct oauth_keys;
struct dkim_key;

struct listen_conf {
	char		*address;
	int		 port;
	enum listen_tls	 tls;
	int		 proxy;		/* proxy_protocol: a PROXY header first */
};

/* relay.dane and relay.mta_sts */
enum policy_level {
	POLICY_DISABLE,
	POLICY_OPTIONAL,
	POLICY_REQUIRE,
};

/* A next hop: relay (the default route) or a per-domain route. */
struct route_conf {
	char		*domain;	/* NULL for relay */
	char		*host;		/* NULL: MX of the recipient's domain */
	int		 port;
	int		 mx;		/* host was not in []: look up its MX */
	int		 implicit;	/* "smtps://": TLS from the first byte */
	int		 tls;		/* enum tls_level (delivery.h) */
	int		 tls_fallback;	/* seconds in clear after a failed
					   handshake at "may"; 0: never */
	char		*ca_file;	/* trust anchors for verify, or NULL: system */
	void		*ca_store;	/* ... read at load (an X509_STORE) */
	char		*ca_pem;	/* ... and as read, for HTTPS */
	size_t		 ca_len;
	/* relay only: MX delivery's transport security (DESIGN §6) */
	int		 dane;		/* enum policy_level */
	int		 mta_sts;	/* enum policy_level */
	int		 tls_rpt;	/* send RFC 8460 reports */
	char		*tls_rpt_from;
	char		*username;
	char		*password;	/* read from password_file at start */
};

/*
 * Read-only once made; shared by reference: each session, delivery job and
 * module that keeps one holds a reference (config_ref), and the last
 * config_unref frees it, so a reload never pulls one from under its user.
 */
struct config {
	int		 refs;
	char		*path;
	char		*hostname;
	char		*authserv_id;		/* ours in Authentication-Results */
	char		*user;
	uid_t		 uid;			/* user's, resolved at load */
	gid_t		 gid;
	char		*spool_dir;
	int		 spool_checkpoint;	/* seconds (journal.h) */
	char		*control_socket;
	int		 event_loops;		/* 0: one per CPU */
	char	       **local_domains;		/* lowercased */
	size_t		 nlocal_domains;

	struct listen_conf *listens;
	size_t		 nlistens;

	char		*tls_certificate;
	char		*tls_key;
	char		*tls_cert_pem;		/* the files' contents, read at load */
	size_t		 tls_cert_len;
	char		*tls_key_pem;		/* secret: wiped when freed */
	size_t		 tls_key_len;
	int		 tls_min_version;	/* TLS1_2_VERSION or TLS1_3_VERSION */

	char		*auth_mechanisms;	/* space-separated, for SASL's mech_list */
	char		*auth_sasldb;
	char		*auth_pwcheck;		/* "auxprop" or "saslauthd" */
	char		*auth_saslauthd_path;	/* NULL: SASL's default */
	char		*auth_client_ca;	/* EXTERNAL: CAs of client certificates */
	char		*auth_client_ca_pem;	/* ... as read at load */
	size_t		 auth_client_ca_len;
	char		*auth_client_map;	/* ... and which login each is */
	struct certmap_entry *certmap;		/* ... parsed (certmap.h) */
	size_t		 ncertmap;
	char		*oauth_issuer;		/* auth.oauth: NULL when none */
	char		*oauth_audience;
	char		*oauth_jwks_file;
	char		*oauth_jwks_url;
	char		*oauth_login_claim;
	struct oauth_keys *oauth_keys;		/* jwks_file's, read at load */

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
	int		 auth_login_failures;	/* per login, before a lock */
	int		 auth_login_lock;	/* seconds */

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
	struct dkim_key	*dkim;			/* dkim sections (dkim.h) */
	size_t		 ndkim;
	char		*metrics_address;	/* section metrics (metrics.h) */
	int		 metrics_port;		/* 0: no metrics */
	int		 abuse_enabled;		/* section abuse (abuse.h) */
	int		 abuse_dry_run;
	char		*abuse_notify;
	int		 abuse_signals;
	int		 abuse_burst_floor;
	int		 abuse_burst_factor;
	int		 abuse_fanout_domains;
	int		 abuse_refusal_share;
	int		 abuse_refusal_min;
	int		 abuse_networks_at_once;
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
	long long	 queue_min_free;	/* octets the spool keeps free */

	int		 timeout_command;
	int		 timeout_data;
	int		 timeout_handshake;
	int		 timeout_drain;		/* at a stop, before the 421 */
};

/*
 * Parses and validates path.  Returns NULL after printing one line per
 * problem to stderr ("FILE:LINE: key: reason").
 */
struct config	*config_load(const char *path);
/* The same, for a reload: the problems go to the log. */
struct config	*config_load_logged(const char *path);
/* Another reference to c (c may be NULL); returns c. */
const struct config *config_ref(const struct config *);
/* Drops a reference; the last one frees. */
void		 config_unref(const struct config *);
void		 config_free(struct config *);
int		 config_is_local_domain(const struct config *, const char *domain);
/* The route for a recipient domain: a route section, else relay. */
const struct route_conf *config_route(const struct config *, const char *domain);

#endif
