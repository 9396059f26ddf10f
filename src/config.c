/*
 * config.c - libconfuse schema and validation.
 *
 * Every check that can fail on a value runs as a libconfuse validation
 * callback, so that cfg_error() reports the file and line being parsed;
 * messages then name the key.  Unknown keys are errors (libconfuse's
 * default).  The result is copied into a plain struct config so that the
 * rest of the daemon never touches libconfuse.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>
#include <openssl/ssl.h>

#include "certmap.h"
#include "config.h"
#include "dkim.h"
#include "delivery.h"
#include "log.h"
#include "oauth.h"
#include "smtp_parse.h"
#include "tls.h"
#include "util/files.h"
#include "util/xalloc.h"

#define DEFAULT_SPOOL_DIR	LOCALSTATEDIR "/spool/submitd"
#define DEFAULT_CONTROL_SOCKET	RUNSTATEDIR "/submitd/control.sock"
#define DEFAULT_SASLDB		SYSCONFDIR "/submitd/sasldb2"
#define PEM_MAX			(1024 * 1024)	/* a certificate chain or key */
#define SECRET_MAX		4096		/* a password file */

/* Mechanisms we allow: each sends or proves a password only inside TLS. */
static const char *const known_mechs[] = {
	"PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "EXTERNAL",
	"OAUTHBEARER", "XOAUTH2", NULL
};

/*
 * Problems go to stderr (submitd -n, start-up) or, during a reload, to the
 * log, one line each.
 */
static int errors_to_log;
static char err_line[1024];
static size_t err_len;

static void
err_vadd(const char *fmt, va_list ap)
{
	int n;

	if (err_len >= sizeof(err_line) - 1)
		return;
	n = vsnprintf(err_line + err_len, sizeof(err_line) - err_len, fmt, ap);
	if (n > 0)
		err_len += (size_t)n < sizeof(err_line) - err_len ? (size_t)n :
		    sizeof(err_line) - err_len - 1;
}

static void LOG_PRINTF(1, 2)
err_add(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vadd(fmt, ap);
	va_end(ap);
}

/* Ends the line being built and sends it where problems go. */
static void
err_end(void)
{
	if (err_len > 0 && err_line[err_len - 1] == '\n')
		err_line[--err_len] = '\0';
	if (errors_to_log)
		log_warnx("event=reload error=%s", log_str(err_line));
	else
		fprintf(stderr, "%s\n", err_line);
	err_len = 0;
	err_line[0] = '\0';
}

/* One whole line. */
static void LOG_PRINTF(1, 2)
cerr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vadd(fmt, ap);
	va_end(ap);
	err_end();
}

/*
 * Options inside sections are validated with the section's cfg_t, which
 * knows neither file nor line; errors go through the root so that every
 * message reads "FILE:LINE: key: reason".
 */
static cfg_t *root_cfg;

/*
 * Files are read after the whole file is parsed (the user they must be
 * safe from is known only then); the line of each key that names one is
 * kept for the messages.
 */
#define FILE_KEYS_MAX	64
static struct {
	char		 key[128];
	char		 path[512];
	int		 line;
} file_keys[FILE_KEYS_MAX];
static int nfile_keys;

static int
current_line(cfg_t *cfg)
{
	return cfg->line > root_cfg->line ? cfg->line : root_cfg->line;
}

/* Our validators' errors: the message names the key itself. */
static void LOG_PRINTF(2, 3)
conf_error(cfg_t *cfg, const char *fmt, ...)
{
	va_list ap;

	err_add("%s:%d: ", root_cfg->filename ? root_cfg->filename : "?",
	    current_line(cfg));
	va_start(ap, fmt);
	err_vadd(fmt, ap);
	va_end(ap);
	err_end();
}
#define cfg_error conf_error

/*
 * libconfuse reports its own errors (unknown keys, wrong types) against the
 * section being parsed, which has no file name; print them against the
 * root, whose line is the lexer's current one.
 */
static void
config_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	const char *sec = cfg != root_cfg && cfg->name != NULL ? cfg->name : NULL;

	err_add("%s:%d: ", root_cfg->filename ? root_cfg->filename : "?",
	    current_line(cfg));
	if (sec != NULL)
		err_add("%s: ", sec);
	err_vadd(fmt, ap);
	err_end();
}

/* "section.key" for options inside a section, as submitd.conf(5) names them. */
static const char *
key_name(cfg_t *cfg, cfg_opt_t *opt)
{
	static char buf[128];

	if (cfg == root_cfg || cfg->name == NULL)
		return opt->name;
	snprintf(buf, sizeof(buf), "%s.%s", cfg->name, opt->name);
	return buf;
}

static int
check_nonempty(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (s == NULL || *s == '\0') {
		cfg_error(cfg, "%s: must not be empty", key_name(cfg, opt));
		return -1;
	}
	return 0;
}

static int
check_hostname(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0), *p;

	if (check_nonempty(cfg, opt) == -1)
		return -1;
	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			break;
	if (*p != '\0' || strlen(s) > 255) {
		cfg_error(cfg, "%s: \"%s\" is not a host name", key_name(cfg, opt), s);
		return -1;
	}
	return 0;
}

static int
valid_domain(const char *s)
{
	const char *p;

	for (p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return 0;
	return *s != '\0' && strlen(s) <= 255;
}

/* A DKIM selector (RFC 6376 §3.1): labels of letters, digits, hyphens. */
static int
check_selector(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0), *p;

	if (check_nonempty(cfg, opt) == -1)
		return -1;
	if (strlen(v) > 63) {
		cfg_error(cfg, "%s: a selector of at most 63 characters",
		    key_name(cfg, opt));
		return -1;
	}
	for (p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && !(*p == '.' &&
		    p != v && p[1] != '\0' && p[1] != '.')) {
			cfg_error(cfg, "%s: \"%s\" is not a selector (letters, "
			    "digits, hyphens, dots between labels)",
			    key_name(cfg, opt), v);
			return -1;
		}
	return 0;
}

/* An integer within lo..hi. */
static int
check_range(cfg_t *cfg, cfg_opt_t *opt, long lo, long hi)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < lo || v > hi) {
		cfg_error(cfg, "%s: must be from %ld to %ld", key_name(cfg, opt),
		    lo, hi);
		return -1;
	}
	return 0;
}

static int
check_port_or_zero(cfg_t *cfg, cfg_opt_t *opt)
{
	return check_range(cfg, opt, 0, 65535);
}

static int
check_signals(cfg_t *cfg, cfg_opt_t *opt)
{
	return check_range(cfg, opt, 1, 4);
}

/* abuse.c counts at most 64 domains a window. */
static int
check_fanout(cfg_t *cfg, cfg_opt_t *opt)
{
	return check_range(cfg, opt, 1, 60);
}

/* Seconds between spool checkpoints (journal.h). */
static int
check_checkpoint(cfg_t *cfg, cfg_opt_t *opt)
{
	return check_range(cfg, opt, 1, 3600);
}

static int
check_percent(cfg_t *cfg, cfg_opt_t *opt)
{
	return check_range(cfg, opt, 1, 100);
}

/* abuse.c remembers 8 networks a login. */
static int
check_networks(cfg_t *cfg, cfg_opt_t *opt)
{
	return check_range(cfg, opt, 2, 8);
}

static int
check_https_url(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (strncmp(v, "https://", 8) != 0 || v[8] == '\0' || strlen(v) > 500 ||
	    strpbrk(v, " \t\r\n") != NULL) {
		cfg_error(cfg, "%s: \"%s\" is not an https:// URL",
		    key_name(cfg, opt), v);
		return -1;
	}
	return 0;
}

static int
check_domains(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned int i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);

		if (!valid_domain(s)) {
			cfg_error(cfg, "%s: \"%s\" is not a domain", key_name(cfg, opt), s);
			return -1;
		}
	}
	return 0;
}

static int
check_positive(cfg_t *cfg, cfg_opt_t *opt)
{
	if (cfg_opt_getnint(opt, 0) <= 0) {
		cfg_error(cfg, "%s: must be a positive number", key_name(cfg, opt));
		return -1;
	}
	return 0;
}

static int
check_port(cfg_t *cfg, cfg_opt_t *opt)
{
	long p = cfg_opt_getnint(opt, 0);

	if (p < 1 || p > 65535) {
		cfg_error(cfg, "%s: %ld is not a port number", key_name(cfg, opt), p);
		return -1;
	}
	return 0;
}

static int
check_one_of(cfg_t *cfg, cfg_opt_t *opt, const char *const *allowed)
{
	const char *s = cfg_opt_getnstr(opt, 0);
	char list[128] = "";
	int i;

	for (i = 0; allowed[i] != NULL; i++) {
		if (strcmp(s, allowed[i]) == 0)
			return 0;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
		    i > 0 ? ", " : "", allowed[i]);
	}
	cfg_error(cfg, "%s: \"%s\" is not one of %s", key_name(cfg, opt), s, list);
	return -1;
}



static int
check_nonnegative(cfg_t *cfg, cfg_opt_t *opt)
{
	if (cfg_opt_getnint(opt, 0) < 0) {
		cfg_error(cfg, "%s: must be 0 or more", key_name(cfg, opt));
		return -1;
	}
	return 0;
}

static int
check_event_loops(cfg_t *cfg, cfg_opt_t *opt)
{
	long n = cfg_opt_getnint(opt, 0);

	if (n < 0 || n > 16) {
		cfg_error(cfg, "%s: must be 0 (one per CPU) to 16", key_name(cfg, opt));
		return -1;
	}
	return 0;
}


/* Keys that take one of a few words, by section ("" for the top level). */
static const struct {
	const char	*section;
	const char	*key;
	const char	*values[6];
} enum_keys[] = {
	{ "listen", "tls", { "starttls", "implicit" } },
	{ "tls", "min_version", { "1.2", "1.3" } },
	{ "auth", "pwcheck", { "auxprop", "saslauthd" } },
	{ "relay", "tls", { "none", "may", "encrypt", "verify" } },
	{ "route", "tls", { "none", "may", "encrypt", "verify", "dane" } },
	{ "relay", "dane", { "disable", "optional", "require" } },
	{ "relay", "mta_sts", { "disable", "optional", "require" } },
	{ "", "bare_lf", { "reject", "normalize" } },
};

static int
check_enum(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *sec = cfg == root_cfg || cfg->name == NULL ? "" : cfg->name;
	size_t i;

	for (i = 0; i < sizeof(enum_keys) / sizeof(enum_keys[0]); i++)
		if (strcmp(enum_keys[i].section, sec) == 0 &&
		    strcmp(enum_keys[i].key, opt->name) == 0)
			return check_one_of(cfg, opt, enum_keys[i].values);
	return 0;
}

/* Names or "Prefix-*" patterns of header fields (RFC 5322 §3.6.8 ftext). */
static int
check_header_patterns(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned int i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i), *p;

		for (p = s; *p; p++)
			if (*p < 33 || *p > 126 || *p == ':' ||
			    (*p == '*' && p[1] != '\0'))
				break;
		if (*s == '\0' || *p != '\0' || strcmp(s, "*") == 0) {
			cfg_error(cfg, "%s: \"%s\" is not a header name or Prefix-* pattern",
			    key_name(cfg, opt), s);
			return -1;
		}
	}
	return 0;
}

static int	check_readable(cfg_t *, cfg_opt_t *);

/* A mailbox, as an SMTP path holds it ("local@domain"). */
static int
check_address(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0), *why;
	char out[SMTP_ADDR_MAX + 1];

	if (smtp_parse_address(s, strlen(s), 0, out, &why) == -1 ||
	    strchr(out, '@') == NULL) {
		cfg_error(cfg, "%s: \"%s\" is not an address", key_name(cfg, opt), s);
		return -1;
	}
	return 0;
}

/*
 * Next hops: "[address]:port" or "[name]" (no MX look-up, as in Postfix),
 * "name:port" or "name" (MX look-up of name).  Port 25 by default.
 */
static int
parse_host(const char *s, struct route_conf *r)
{
	const char *end, *colon;
	char *p;
	long port = 25;

	/* RFC 8314: "smtps://name:port", TLS from the first byte, no MX. */
	r->implicit = 0;
	if (strncmp(s, "smtps://", 8) == 0) {
		r->implicit = 1;
		port = 465;
		s += 8;
		colon = strrchr(s, ':');
		if (s[0] == '[') {
			if ((end = strchr(s, ']')) == NULL || end == s + 1 ||
			    (end[1] != '\0' && end[1] != ':'))
				return -1;
			r->host = strndup(s + 1, end - s - 1);
			colon = end[1] == ':' ? end + 1 : NULL;
		} else
			r->host = colon ? strndup(s, colon - s) : strdup(s);
		r->mx = 0;
		goto port;
	}

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end == s + 1)
			return -1;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
		r->mx = 0;
		r->host = strndup(s + 1, end - s - 1);
	} else {
		colon = strrchr(s, ':');
		r->mx = 1;
		r->host = colon ? strndup(s, colon - s) : strdup(s);
	}
port:
	if (r->host == NULL)
		abort();
	if (colon != NULL) {
		port = strtol(colon + 1, &p, 10);
		if (*p != '\0' || port < 1 || port > 65535 || colon[1] == '\0')
			goto bad;
	}
	/* An IPv6 address needs brackets: its colons are not a port. */
	for (p = r->host; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr(r->mx ? ".-" : ".-:", *p) == NULL)
			goto bad;
	if (r->host[0] == '\0')
		goto bad;
	r->port = port;
	return 0;
bad:
	free(r->host);
	r->host = NULL;
	return -1;
}

static int
check_host(cfg_t *cfg, cfg_opt_t *opt)
{
	struct route_conf r;

	memset(&r, 0, sizeof(r));
	if (parse_host(cfg_opt_getnstr(opt, 0), &r) == -1) {
		cfg_error(cfg, "%s: \"%s\" is not [address]:port, name:port, name "
		    "or smtps://name:port",
		    key_name(cfg, opt), cfg_opt_getnstr(opt, 0));
		return -1;
	}
	free(r.host);
	return 0;
}


/* A secret file must be readable by its owner alone. */
static int
check_secret_file(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);
	struct stat st;

	if (check_readable(cfg, opt) == -1)
		return -1;
	if (stat(s, &st) == -1 || (st.st_mode & 077) != 0) {
		cfg_error(cfg, "%s: %s must not be readable by group or others "
		    "(chmod 600)", key_name(cfg, opt), s);
		return -1;
	}
	return 0;
}


static int
check_mechanisms(cfg_t *cfg, cfg_opt_t *opt)
{
	unsigned int i;
	int j;

	if (cfg_opt_size(opt) == 0) {
		cfg_error(cfg, "%s: at least one mechanism is needed", key_name(cfg, opt));
		return -1;
	}
	for (i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);

		for (j = 0; known_mechs[j] != NULL; j++)
			if (strcasecmp(s, known_mechs[j]) == 0)
				break;
		if (known_mechs[j] == NULL) {
			cfg_error(cfg, "%s: unknown or refused mechanism \"%s\"",
			    key_name(cfg, opt), s);
			return -1;
		}
	}
	return 0;
}

static int
check_readable(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *s = cfg_opt_getnstr(opt, 0);

	if (check_nonempty(cfg, opt) == -1)
		return -1;
	if (nfile_keys < FILE_KEYS_MAX) {
		snprintf(file_keys[nfile_keys].key, sizeof(file_keys[0].key), "%s",
		    key_name(cfg, opt));
		snprintf(file_keys[nfile_keys].path, sizeof(file_keys[0].path),
		    "%s", s);
		file_keys[nfile_keys++].line = current_line(cfg);
	}
	if (access(s, R_OK) == -1) {
		cfg_error(cfg, "%s: cannot read %s: %s", key_name(cfg, opt), s,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * "FILE:LINE: key: " for a file key recorded while parsing; when a key is
 * repeated (dkim sections), file_hint names the file meant.
 */
static const char *file_hint;

static void LOG_PRINTF(3, 4)
file_error(const char *path, const char *key, const char *fmt, ...)
{
	va_list ap;
	int i, line = 0;

	for (i = 0; i < nfile_keys; i++)
		if (strcmp(file_keys[i].key, key) == 0 && (file_hint == NULL ||
		    strcmp(file_keys[i].path, file_hint) == 0))
			line = file_keys[i].line;
	if (line > 0)
		err_add("%s:%d: %s: ", path, line, key);
	else
		err_add("%s: %s: ", path, key);
	va_start(ap, fmt);
	err_vadd(fmt, ap);
	va_end(ap);
	err_end();
}

/*
 * Reads a file root reads for the daemon (certificate, key, password): as
 * root for another user, only through directories that user cannot change.
 */
static char *
read_file_as(struct config *c, const char *key, const char *file, size_t max,
    size_t *len, int private)
{
	char why[600];
	char *buf;

	if (geteuid() == 0 &&
	    files_trusted(file, c->uid, c->gid, why, sizeof(why)) == -1) {
		file_error(c->path, key, "%s: %s (root reads it for %s)", file, why,
		    c->user);
		return NULL;
	}
	if ((buf = files_read_private(file, max, len, private, why,
	    sizeof(why))) == NULL)
		file_error(c->path, key, "%s", why);
	return buf;
}

static char *
read_file(struct config *c, const char *key, const char *file, size_t max,
    size_t *len)
{
	return read_file_as(c, key, file, max, len, 0);
}

static cfg_opt_t listen_opts[] = {
	CFG_STR("address", "0.0.0.0", CFGF_NONE),
	CFG_INT("port", 587, CFGF_NONE),
	CFG_STR("tls", "starttls", CFGF_NONE),
	CFG_BOOL("proxy_protocol", cfg_false, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t tls_opts[] = {
	CFG_STR("certificate", NULL, CFGF_NODEFAULT),
	CFG_STR("key", NULL, CFGF_NODEFAULT),
	CFG_STR("min_version", "1.2", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t oauth_opts[] = {
	CFG_STR("issuer", NULL, CFGF_NODEFAULT),
	CFG_STR("audience", NULL, CFGF_NODEFAULT),
	CFG_STR("jwks_file", NULL, CFGF_NODEFAULT),
	CFG_STR("jwks_url", NULL, CFGF_NODEFAULT),
	CFG_STR("login_claim", "email", CFGF_NONE),
	CFG_END()
};

static cfg_opt_t auth_opts[] = {
	CFG_STR_LIST("mechanisms", "{PLAIN, LOGIN, SCRAM-SHA-256}", CFGF_NONE),
	CFG_STR("sasldb", DEFAULT_SASLDB, CFGF_NONE),
	CFG_STR("pwcheck", "auxprop", CFGF_NONE),
	CFG_STR("saslauthd_path", NULL, CFGF_NODEFAULT),
	CFG_STR("client_ca", NULL, CFGF_NODEFAULT),
	CFG_STR("client_map", NULL, CFGF_NODEFAULT),
	CFG_SEC("oauth", oauth_opts, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t limits_opts[] = {
	CFG_INT("message_size", 26214400, CFGF_NONE),
	CFG_INT("recipients", 100, CFGF_NONE),
	CFG_INT("errors", 10, CFGF_NONE),
	CFG_INT("header_size", 65536, CFGF_NONE),
	CFG_INT("connections", 10000, CFGF_NONE),
	CFG_INT("connections_per_ip", 50, CFGF_NONE),
	CFG_INT("connection_rate", 120, CFGF_NONE),
	CFG_INT("messages_per_hour", 1000, CFGF_NONE),
	CFG_INT("recipients_per_hour", 5000, CFGF_NONE),
	CFG_STR("login_limits_file", NULL, CFGF_NODEFAULT),
	CFG_INT("auth_failures", 5, CFGF_NONE),
	CFG_INT("auth_failure_window", 600, CFGF_NONE),
	CFG_INT("auth_ban", 600, CFGF_NONE),
	CFG_INT("auth_login_failures", 10, CFGF_NONE),
	CFG_INT("auth_login_lock", 900, CFGF_NONE),
	CFG_END()
};

/* relay and route differ only in what their next hop is called. */
#define NEXT_HOP_OPTS(hostkey)					\
	CFG_STR(hostkey, NULL, CFGF_NODEFAULT),			\
	CFG_STR("tls", "may", CFGF_NONE),			\
	CFG_INT("tls_fallback", 3600, CFGF_NONE),		\
	CFG_STR("username", NULL, CFGF_NODEFAULT),		\
	CFG_STR("password_file", NULL, CFGF_NODEFAULT),		\
	CFG_STR("ca_file", NULL, CFGF_NODEFAULT),		\
	CFG_END()

static cfg_opt_t relay_opts[] = {
	CFG_STR("dane", "optional", CFGF_NONE),
	CFG_STR("mta_sts", "optional", CFGF_NONE),
	CFG_BOOL("tls_rpt", cfg_false, CFGF_NONE),
	CFG_STR("tls_rpt_from", NULL, CFGF_NODEFAULT),
	NEXT_HOP_OPTS("smarthost")
};
static cfg_opt_t route_opts[] = { NEXT_HOP_OPTS("host") };

static cfg_opt_t dkim_opts[] = {
	CFG_STR("domain", NULL, CFGF_NODEFAULT),
	CFG_STR("selector", NULL, CFGF_NODEFAULT),
	CFG_STR("key", NULL, CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t metrics_opts[] = {
	CFG_STR("address", "127.0.0.1", CFGF_NONE),
	CFG_INT("port", 0, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t abuse_opts[] = {
	CFG_BOOL("enabled", cfg_true, CFGF_NONE),
	CFG_BOOL("dry_run", cfg_false, CFGF_NONE),
	CFG_STR("notify", NULL, CFGF_NODEFAULT),
	CFG_INT("signals", 2, CFGF_NONE),
	CFG_INT("burst_floor", 100, CFGF_NONE),
	CFG_INT("burst_factor", 10, CFGF_NONE),
	CFG_INT("fanout_domains", 50, CFGF_NONE),
	CFG_INT("refusal_share", 50, CFGF_NONE),
	CFG_INT("refusal_min", 10, CFGF_NONE),
	CFG_INT("networks_at_once", 4, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t queue_opts[] = {
	CFG_INT("retry_min", 60, CFGF_NONE),
	CFG_INT("retry_max", 3600, CFGF_NONE),
	CFG_INT("lifetime", 5 * 86400, CFGF_NONE),
	CFG_INT("delay_warning", 0, CFGF_NONE),
	CFG_INT("max_connections", 50, CFGF_NONE),
	CFG_INT("max_per_destination", 5, CFGF_NONE),
	CFG_INT("messages_per_connection", 100, CFGF_NONE),
	CFG_INT("connect_timeout", 30, CFGF_NONE),
	CFG_INT("command_timeout", 300, CFGF_NONE),
	CFG_INT("data_timeout", 600, CFGF_NONE),
	CFG_INT("min_free", 0, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t senders_opts[] = {
	CFG_STR("file", NULL, CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t timeouts_opts[] = {
	CFG_INT("command", 300, CFGF_NONE),
	CFG_INT("data", 180, CFGF_NONE),
	CFG_INT("handshake", 30, CFGF_NONE),
	CFG_INT("drain", 10, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t opts[] = {
	CFG_STR("hostname", NULL, CFGF_NODEFAULT),
	CFG_STR("authserv_id", NULL, CFGF_NODEFAULT),
	CFG_STR("user", "submitd", CFGF_NONE),
	CFG_STR("spool_dir", DEFAULT_SPOOL_DIR, CFGF_NONE),
	CFG_INT("spool_checkpoint", 30, CFGF_NONE),
	CFG_STR("control_socket", DEFAULT_CONTROL_SOCKET, CFGF_NONE),
	CFG_INT("event_loops", 0, CFGF_NONE),
	CFG_STR_LIST("local_domains", NULL, CFGF_NODEFAULT),
	CFG_SEC("listen", listen_opts, CFGF_MULTI),
	CFG_SEC("tls", tls_opts, CFGF_NONE),
	CFG_SEC("auth", auth_opts, CFGF_NONE),
	CFG_SEC("limits", limits_opts, CFGF_NONE),
	CFG_SEC("timeouts", timeouts_opts, CFGF_NONE),
	CFG_SEC("senders", senders_opts, CFGF_NONE),
	CFG_STR_LIST("internal_only", "{}", CFGF_NONE),
	CFG_STR_LIST("strip_headers", "{Received, X-Originating-IP, X-Mailer, "
	    "User-Agent, X-MimeOLE, \"X-Spam-*\", \"X-Virus-*\"}", CFGF_NONE),
	CFG_BOOL("received_client_ip", cfg_false, CFGF_NONE),
	CFG_BOOL("enforce_header_from", cfg_true, CFGF_NONE),
	CFG_STR("bare_lf", "reject", CFGF_NONE),
	CFG_SEC("relay", relay_opts, CFGF_NONE),
	CFG_SEC("route", route_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("queue", queue_opts, CFGF_NONE),
	CFG_SEC("dkim", dkim_opts, CFGF_MULTI),
	CFG_SEC("abuse", abuse_opts, CFGF_NONE),
	CFG_SEC("metrics", metrics_opts, CFGF_NONE),
	CFG_STR("resolver", NULL, CFGF_NODEFAULT),
	CFG_END()
};

static const struct {
	const char		*name;
	cfg_validate_callback_t	 fn;
} validators[] = {
	{ "hostname", check_hostname },
	{ "authserv_id", check_hostname },
	{ "user", check_nonempty },
	{ "spool_dir", check_nonempty },
	{ "spool_checkpoint", check_checkpoint },
	{ "control_socket", check_nonempty },
	{ "event_loops", check_event_loops },
	{ "local_domains", check_domains },
	{ "listen|address", check_nonempty },
	{ "listen|port", check_port },
	{ "listen|tls", check_enum },
	{ "tls|certificate", check_readable },
	{ "tls|key", check_readable },
	{ "tls|min_version", check_enum },
	{ "auth|mechanisms", check_mechanisms },
	{ "auth|sasldb", check_nonempty },
	{ "auth|pwcheck", check_enum },
	{ "auth|client_ca", check_readable },
	{ "auth|client_map", check_readable },
	{ "auth|oauth|issuer", check_nonempty },
	{ "auth|oauth|audience", check_nonempty },
	{ "auth|oauth|jwks_file", check_readable },
	{ "auth|oauth|jwks_url", check_https_url },
	{ "auth|oauth|login_claim", check_nonempty },
	{ "limits|message_size", check_positive },
	{ "limits|recipients", check_positive },
	{ "limits|errors", check_positive },
	{ "limits|header_size", check_positive },
	{ "limits|connections", check_positive },
	{ "limits|connections_per_ip", check_positive },
	{ "limits|connection_rate", check_nonnegative },
	{ "limits|messages_per_hour", check_nonnegative },
	{ "limits|recipients_per_hour", check_nonnegative },
	{ "limits|login_limits_file", check_readable },
	{ "limits|auth_failures", check_positive },
	{ "limits|auth_failure_window", check_positive },
	{ "limits|auth_ban", check_nonnegative },
	{ "limits|auth_login_failures", check_positive },
	{ "limits|auth_login_lock", check_nonnegative },
	{ "senders|file", check_readable },
	{ "relay|smarthost", check_host },
	{ "relay|tls", check_enum },
	{ "relay|password_file", check_secret_file },
	{ "relay|ca_file", check_readable },
	{ "relay|dane", check_enum },
	{ "relay|mta_sts", check_enum },
	{ "relay|tls_rpt_from", check_address },
	{ "relay|tls_fallback", check_nonnegative },
	{ "route|tls_fallback", check_nonnegative },
	{ "route|host", check_host },
	{ "route|tls", check_enum },
	{ "route|password_file", check_secret_file },
	{ "route|ca_file", check_readable },
	{ "queue|retry_min", check_positive },
	{ "queue|retry_max", check_positive },
	{ "queue|lifetime", check_positive },
	{ "queue|delay_warning", check_nonnegative },
	{ "queue|max_connections", check_positive },
	{ "queue|max_per_destination", check_positive },
	{ "queue|messages_per_connection", check_positive },
	{ "queue|connect_timeout", check_positive },
	{ "queue|command_timeout", check_positive },
	{ "queue|data_timeout", check_positive },
	{ "queue|min_free", check_nonnegative },
	{ "dkim|domain", check_hostname },
	{ "dkim|selector", check_selector },
	{ "dkim|key", check_readable },
	{ "metrics|address", check_nonempty },
	{ "metrics|port", check_port_or_zero },
	{ "abuse|notify", check_address },
	{ "abuse|signals", check_signals },
	{ "abuse|burst_floor", check_positive },
	{ "abuse|burst_factor", check_positive },
	{ "abuse|fanout_domains", check_fanout },
	{ "abuse|refusal_share", check_percent },
	{ "abuse|refusal_min", check_positive },
	{ "abuse|networks_at_once", check_networks },
	{ "resolver", check_nonempty },
	{ "strip_headers", check_header_patterns },
	{ "bare_lf", check_enum },
	{ "timeouts|command", check_positive },
	{ "timeouts|data", check_positive },
	{ "timeouts|handshake", check_positive },
	{ "timeouts|drain", check_nonnegative },
};



static void
lowercase(char *s)
{
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

/* Checks that need the whole file: required keys and sections. */
static int
check_required(cfg_t *cfg, const char *path)
{
	int bad = 0;

	if (cfg_size(cfg, "hostname") == 0) {
		cerr("%s: hostname: required key is missing\n", path);
		bad = 1;
	}
	if (cfg_size(cfg, "local_domains") == 0) {
		cerr("%s: local_domains: at least one domain is required\n",
		    path);
		bad = 1;
	}
	if (cfg_size(cfg_getsec(cfg, "auth"), "mechanisms") == 0) {
		cerr("%s: auth.mechanisms: at least one mechanism is needed\n",
		    path);
		bad = 1;
	}
	if (cfg_size(cfg, "tls") == 0 ||
	    cfg_size(cfg_getsec(cfg, "tls"), "certificate") == 0 ||
	    cfg_size(cfg_getsec(cfg, "tls"), "key") == 0) {
		cerr("%s: tls: certificate and key are required\n", path);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static int
policy_level(const char *s)
{
	if (strcmp(s, "disable") == 0)
		return POLICY_DISABLE;
	return strcmp(s, "require") == 0 ? POLICY_REQUIRE : POLICY_OPTIONAL;
}

static int
tls_level(const char *s)
{
	if (strcmp(s, "dane") == 0)
		return TLS_LEVEL_DANE;
	if (strcmp(s, "none") == 0)
		return TLS_LEVEL_NONE;
	if (strcmp(s, "encrypt") == 0)
		return TLS_LEVEL_ENCRYPT;
	if (strcmp(s, "verify") == 0)
		return TLS_LEVEL_VERIFY;
	return TLS_LEVEL_MAY;
}

/* The first line of a secret file, without its newline. */
static char *
read_secret(struct config *c, const char *key, const char *path)
{
	size_t len;
	char *buf = read_file(c, key, path, SECRET_MAX, &len), *s;

	if (buf == NULL)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	s = xstrdup(buf);
	explicit_bzero(buf, len);
	free(buf);
	return s;
}

static int
copy_route(struct config *c, struct route_conf *r, cfg_t *sec,
    const char *hostkey)
{
	const char *name = r->domain ? "route" : "relay";
	char key[64];

	if (cfg_size(sec, hostkey) > 0 &&
	    parse_host(cfg_getstr(sec, hostkey), r) == -1)
		return -1;
	r->tls = tls_level(cfg_getstr(sec, "tls"));
	r->tls_fallback = cfg_getint(sec, "tls_fallback");
	if (cfg_size(sec, "ca_file") > 0) {
		char err[256], *pem;
		size_t len;

		r->ca_file = xstrdup(cfg_getstr(sec, "ca_file"));
		snprintf(key, sizeof(key), "%s.ca_file", name);
		if ((pem = read_file(c, key, r->ca_file, PEM_MAX, &len)) == NULL)
			return -1;
		r->ca_store = tls_store_new(pem, len, err, sizeof(err));
		r->ca_pem = pem;	/* for HTTPS (MTA-STS, TLS-RPT) */
		r->ca_len = len;
		if (r->ca_store == NULL) {
			file_error(c->path, key, "%s: %s", r->ca_file, err);
			return -1;
		}
	}
	if (cfg_size(sec, "username") > 0)
		r->username = xstrdup(cfg_getstr(sec, "username"));
	if (cfg_size(sec, "password_file") > 0) {
		snprintf(key, sizeof(key), "%s.password_file", name);
		if ((r->password = read_secret(c, key,
		    cfg_getstr(sec, "password_file"))) == NULL)
			return -1;
	}
	if ((r->username == NULL) != (r->password == NULL)) {
		cerr("%s: %s%s%s: username and password_file go "
		    "together\n", c->path, name, r->domain ? " " : "",
		    r->domain ? r->domain : "");
		return -1;
	}
	if (r->username != NULL && r->host == NULL) {
		/* Never hand a smarthost password to whatever MX comes up. */
		cerr("%s: relay.username: credentials need a smarthost "
		    "(relay.smarthost); they are never sent to MX hosts\n",
		    c->path);
		return -1;
	}
	if (r->username != NULL && r->tls != TLS_LEVEL_VERIFY &&
	    r->tls != TLS_LEVEL_DANE) {
		/*
		 * With "may" or "encrypt" anyone on the path with a certificate
		 * of their own would be handed the password.
		 */
		cerr("%s: %s%s%s.tls: credentials (username, "
		    "password_file) are sent only over a verified TLS session: "
		    "set tls = \"verify\" (and ca_file = \"/path/ca.pem\" when "
		    "the next hop's certificate is from a private CA), or \"dane\" "
		    "for a route\n", c->path,
		    name, r->domain ? " " : "", r->domain ? r->domain : "");
		return -1;
	}
	return 0;
}

static void
free_route(struct route_conf *r)
{
	free(r->domain);
	free(r->host);
	free(r->ca_file);
	free(r->ca_pem);
	free(r->tls_rpt_from);
	tls_store_free(r->ca_store);
	free(r->username);
	if (r->password != NULL)
		explicit_bzero(r->password, strlen(r->password));
	free(r->password);
}

static int
copy_routes(struct config *c, cfg_t *cfg)
{
	size_t i, n = cfg_size(cfg, "route");

	cfg_t *relay = cfg_getsec(cfg, "relay");

	if (copy_route(c, &c->relay, relay, "smarthost") == -1)
		return -1;
	c->relay.dane = policy_level(cfg_getstr(relay, "dane"));
	c->relay.mta_sts = policy_level(cfg_getstr(relay, "mta_sts"));
	c->relay.tls_rpt = cfg_getbool(relay, "tls_rpt");
	if (cfg_size(relay, "tls_rpt_from") > 0)
		c->relay.tls_rpt_from = xstrdup(cfg_getstr(relay, "tls_rpt_from"));
	else {
		char buf[SMTP_ADDR_MAX + 1];

		snprintf(buf, sizeof(buf), "postmaster@%s", c->local_domains[0]);
		c->relay.tls_rpt_from = xstrdup(buf);
	}
	c->routes = xcalloc(n, sizeof(*c->routes));
	c->nroutes = n;
	for (i = 0; i < n; i++) {
		cfg_t *r = cfg_getnsec(cfg, "route", i);

		c->routes[i].domain = xstrdup(cfg_title(r));
		lowercase(c->routes[i].domain);
		if (!valid_domain(c->routes[i].domain)) {
			cerr("%s: route \"%s\": not a domain\n", c->path,
			    c->routes[i].domain);
			return -1;
		}
		if (cfg_size(r, "host") == 0) {
			cerr("%s: route \"%s\": host is required\n",
			    c->path, c->routes[i].domain);
			return -1;
		}
		if (copy_route(c, &c->routes[i], r, "host") == -1)
			return -1;
	}
	return 0;
}

/* auth.oauth: the identity provider whose JWTs log in (oauth.h). */
static int
load_oauth(struct config *c, cfg_t *auth)
{
	cfg_t *o = cfg_getsec(auth, "oauth");
	char err[256], *text;
	size_t len;

	if (o == NULL || (cfg_size(o, "issuer") == 0 &&
	    cfg_size(o, "audience") == 0 && cfg_size(o, "jwks_file") == 0 &&
	    cfg_size(o, "jwks_url") == 0))
		return 0;
	if (cfg_size(o, "issuer") == 0 || cfg_size(o, "audience") == 0 ||
	    (cfg_size(o, "jwks_file") > 0) == (cfg_size(o, "jwks_url") > 0)) {
		cerr("%s: auth.oauth: issuer, audience and one of jwks_file or "
		    "jwks_url are required\n", c->path);
		return -1;
	}
	c->oauth_issuer = xstrdup(cfg_getstr(o, "issuer"));
	c->oauth_audience = xstrdup(cfg_getstr(o, "audience"));
	c->oauth_login_claim = xstrdup(cfg_getstr(o, "login_claim"));
	if (cfg_size(o, "jwks_url") > 0) {
		c->oauth_jwks_url = xstrdup(cfg_getstr(o, "jwks_url"));
		return 0;
	}
	c->oauth_jwks_file = xstrdup(cfg_getstr(o, "jwks_file"));
	if ((text = read_file(c, "auth.oauth.jwks_file", c->oauth_jwks_file,
	    PEM_MAX, &len)) == NULL)
		return -1;
	c->oauth_keys = oauth_keys_load(text, len, err, sizeof(err));
	free(text);
	if (c->oauth_keys == NULL) {
		file_error(c->path, "auth.oauth.jwks_file", "%s: %s",
		    c->oauth_jwks_file, err);
		return -1;
	}
	return 0;
}

/*
 * EXTERNAL: the CAs whose client certificates are asked for, and the map
 * from certificate to login ("FILE:LINE: reason" for a bad line).
 */
static int
load_client_certs(struct config *c, cfg_t *auth)
{
	struct certmap_entry e;
	const char *why, *line, *nl;
	char *text;
	size_t len;
	int lineno = 0, bad = 0;

	if (cfg_size(auth, "client_ca") == 0 && cfg_size(auth, "client_map") == 0)
		return 0;
	if (cfg_size(auth, "client_ca") == 0 || cfg_size(auth, "client_map") == 0) {
		cerr("%s: auth: client_ca and client_map go together\n", c->path);
		return -1;
	}
	c->auth_client_ca = xstrdup(cfg_getstr(auth, "client_ca"));
	c->auth_client_map = xstrdup(cfg_getstr(auth, "client_map"));
	if ((c->auth_client_ca_pem = read_file(c, "auth.client_ca",
	    c->auth_client_ca, PEM_MAX, &c->auth_client_ca_len)) == NULL)
		return -1;
	if ((text = read_file(c, "auth.client_map", c->auth_client_map, PEM_MAX,
	    &len)) == NULL)
		return -1;
	for (line = text; line < text + len; line = nl + 1) {
		if ((nl = memchr(line, '\n', text + len - line)) == NULL)
			nl = text + len;
		lineno++;
		switch (certmap_parse_line(line, (size_t)(nl - line), &e, &why)) {
		case 1:
			c->certmap = xreallocarray(c->certmap, c->ncertmap + 1,
			    sizeof(*c->certmap));
			c->certmap[c->ncertmap++] = e;
			break;
		case -1:
			cerr("%s:%d: %s\n", c->auth_client_map, lineno, why);
			bad = 1;
			break;
		}
	}
	free(text);
	return bad ? -1 : 0;
}

/*
 * The dkim sections: each key read like tls.key, but refused when others
 * may read it, and checked (Ed25519, or RSA of 2048 bits or more).
 */
static int
copy_dkim(struct config *c, cfg_t *cfg)
{
	size_t i, n = cfg_size(cfg, "dkim"), len;
	char err[256], *pem;

	c->dkim = xcalloc(n, sizeof(*c->dkim));
	for (i = 0; i < n; i++) {
		cfg_t *d = cfg_getnsec(cfg, "dkim", i);
		struct dkim_key *k = &c->dkim[i];

		c->ndkim++;
		if (cfg_size(d, "domain") == 0 || cfg_size(d, "selector") == 0 ||
		    cfg_size(d, "key") == 0) {
			cerr("%s: dkim: domain, selector and key are required\n",
			    c->path);
			return -1;
		}
		k->domain = xstrdup(cfg_getstr(d, "domain"));
		lowercase(k->domain);
		k->selector = xstrdup(cfg_getstr(d, "selector"));
		k->path = xstrdup(cfg_getstr(d, "key"));
		file_hint = k->path;
		pem = read_file_as(c, "dkim.key", k->path, PEM_MAX, &len, 1);
		if (pem != NULL) {
			k->pkey = dkim_key_load(pem, len, err, sizeof(err));
			explicit_bzero(pem, len);
			free(pem);
			if (k->pkey == NULL)
				file_error(c->path, "dkim.key", "%s: %s", k->path, err);
		}
		file_hint = NULL;
		if (k->pkey == NULL)
			return -1;
	}
	return 0;
}

static void
copy_listens(struct config *c, cfg_t *cfg)
{
	size_t i, n = cfg_size(cfg, "listen");

	if (n == 0) {
		c->listens = xcalloc(1, sizeof(*c->listens));
		c->listens[0].address = xstrdup("0.0.0.0");
		c->listens[0].port = 587;
		c->nlistens = 1;
		return;
	}
	c->listens = xcalloc(n, sizeof(*c->listens));
	for (i = 0; i < n; i++) {
		cfg_t *l = cfg_getnsec(cfg, "listen", i);

		c->listens[i].address = xstrdup(cfg_getstr(l, "address"));
		c->listens[i].port = cfg_getint(l, "port");
		c->listens[i].tls = strcmp(cfg_getstr(l, "tls"), "implicit") == 0 ?
		    LISTEN_IMPLICIT : LISTEN_STARTTLS;
		c->listens[i].proxy = cfg_getbool(l, "proxy_protocol");
	}
	c->nlistens = n;
}

static char **
copy_list(cfg_t *cfg, const char *key, size_t *n, int lower)
{
	char **v;
	size_t i;

	*n = cfg_size(cfg, key);
	v = xcalloc(*n, sizeof(char *));
	for (i = 0; i < *n; i++) {
		v[i] = xstrdup(cfg_getnstr(cfg, key, i));
		if (lower)
			lowercase(v[i]);
	}
	return v;
}

static void
free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static char *
join_upper(cfg_t *sec, const char *key)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < cfg_size(sec, key); i++)
		len += strlen(cfg_getnstr(sec, key, i)) + 1;
	s = xcalloc(1, len);
	for (i = 0; i < cfg_size(sec, key); i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, cfg_getnstr(sec, key, i));
	}
	for (i = 0; s[i]; i++)
		s[i] = toupper((unsigned char)s[i]);
	return s;
}

/*
 * The user to drop to, resolved now: as root, the files we read for the
 * daemon must be safe from that user (read_file).
 */
static int
lookup_user(struct config *c)
{
	struct passwd *pw = getpwnam(c->user);

	if (pw == NULL) {
		c->uid = geteuid();
		c->gid = getegid();
		if (geteuid() != 0)
			return 0;	/* not dropping: the name is not used */
		cerr("%s: user: no such user \"%s\"\n", c->path, c->user);
		return -1;
	}
	c->uid = pw->pw_uid;
	c->gid = pw->pw_gid;
	return 0;
}

/* The certificate chain and key, read into memory and checked together. */
static int
load_tls(struct config *c)
{
	char err[256];

	if ((c->tls_cert_pem = read_file(c, "tls.certificate", c->tls_certificate,
	    PEM_MAX, &c->tls_cert_len)) == NULL ||
	    (c->tls_key_pem = read_file(c, "tls.key", c->tls_key, PEM_MAX,
	    &c->tls_key_len)) == NULL)
		return -1;
	switch (tls_check_pem(c->tls_cert_pem, c->tls_cert_len, c->tls_key_pem,
	    c->tls_key_len, err, sizeof(err))) {
	case 0:
		return 0;
	case TLS_PEM_BAD_CERT:
		file_error(c->path, "tls.certificate", "%s: %s", c->tls_certificate,
		    err);
		return -1;
	default:
		file_error(c->path, "tls.key", "%s: %s", c->tls_key, err);
		return -1;
	}
	return 0;
}

static struct config *
config_copy(cfg_t *cfg, const char *path)
{
	struct config *c = xcalloc(1, sizeof(*c));
	cfg_t *tls = cfg_getsec(cfg, "tls"), *auth = cfg_getsec(cfg, "auth");
	cfg_t *limits = cfg_getsec(cfg, "limits");
	cfg_t *timeouts = cfg_getsec(cfg, "timeouts");

	c->refs = 1;
	c->path = xstrdup(path);
	c->hostname = xstrdup(cfg_getstr(cfg, "hostname"));
	lowercase(c->hostname);
	c->authserv_id = xstrdup(cfg_size(cfg, "authserv_id") > 0 ?
	    cfg_getstr(cfg, "authserv_id") : c->hostname);
	lowercase(c->authserv_id);
	c->user = xstrdup(cfg_getstr(cfg, "user"));
	if (lookup_user(c) == -1) {
		config_free(c);
		return NULL;
	}
	c->spool_dir = xstrdup(cfg_getstr(cfg, "spool_dir"));
	c->control_socket = xstrdup(cfg_getstr(cfg, "control_socket"));
	c->event_loops = cfg_getint(cfg, "event_loops");
	c->spool_checkpoint = cfg_getint(cfg, "spool_checkpoint");
	c->local_domains = copy_list(cfg, "local_domains", &c->nlocal_domains, 1);
	c->internal_only = copy_list(cfg, "internal_only", &c->ninternal_only, 1);
	c->strip_headers = copy_list(cfg, "strip_headers", &c->nstrip_headers, 0);
	c->received_client_ip = cfg_getbool(cfg, "received_client_ip");
	c->enforce_header_from = cfg_getbool(cfg, "enforce_header_from");
	c->bare_lf_normalize = strcmp(cfg_getstr(cfg, "bare_lf"), "normalize") == 0;
	if (cfg_size(cfg_getsec(cfg, "senders"), "file") > 0)
		c->senders_file = xstrdup(cfg_getstr(cfg_getsec(cfg, "senders"), "file"));
	copy_listens(c, cfg);

	c->tls_certificate = xstrdup(cfg_getstr(tls, "certificate"));
	c->tls_key = xstrdup(cfg_getstr(tls, "key"));
	if (load_tls(c) == -1) {
		config_free(c);
		return NULL;
	}
	c->tls_min_version = strcmp(cfg_getstr(tls, "min_version"), "1.3") == 0 ?
	    TLS1_3_VERSION : TLS1_2_VERSION;

	c->auth_mechanisms = join_upper(auth, "mechanisms");
	c->auth_sasldb = xstrdup(cfg_getstr(auth, "sasldb"));
	c->auth_pwcheck = xstrdup(cfg_getstr(auth, "pwcheck"));
	if (cfg_size(auth, "saslauthd_path") > 0)
		c->auth_saslauthd_path = xstrdup(cfg_getstr(auth, "saslauthd_path"));
	if (load_client_certs(c, auth) == -1 || load_oauth(c, auth) == -1) {
		config_free(c);
		return NULL;
	}

	c->message_size = cfg_getint(limits, "message_size");
	c->recipients = cfg_getint(limits, "recipients");
	c->errors = cfg_getint(limits, "errors");
	c->header_size = cfg_getint(limits, "header_size");
	c->connections = cfg_getint(limits, "connections");
	c->connections_per_ip = cfg_getint(limits, "connections_per_ip");
	c->connection_rate = cfg_getint(limits, "connection_rate");
	c->messages_per_hour = cfg_getint(limits, "messages_per_hour");
	c->recipients_per_hour = cfg_getint(limits, "recipients_per_hour");
	if (cfg_size(limits, "login_limits_file") > 0)
		c->login_limits_file = xstrdup(cfg_getstr(limits, "login_limits_file"));
	c->auth_failures = cfg_getint(limits, "auth_failures");
	c->auth_failure_window = cfg_getint(limits, "auth_failure_window");
	c->auth_ban = cfg_getint(limits, "auth_ban");
	c->auth_login_failures = cfg_getint(limits, "auth_login_failures");
	c->auth_login_lock = cfg_getint(limits, "auth_login_lock");
	{
		cfg_t *q = cfg_getsec(cfg, "queue");

		c->queue_retry_min = cfg_getint(q, "retry_min");
		c->queue_retry_max = cfg_getint(q, "retry_max");
		c->queue_lifetime = cfg_getint(q, "lifetime");
		c->queue_delay_warning = cfg_getint(q, "delay_warning");
		c->queue_max_connections = cfg_getint(q, "max_connections");
		c->queue_max_per_destination = cfg_getint(q, "max_per_destination");
		c->queue_messages_per_connection = cfg_getint(q, "messages_per_connection");
		c->queue_connect_timeout = cfg_getint(q, "connect_timeout");
		c->queue_command_timeout = cfg_getint(q, "command_timeout");
		c->queue_data_timeout = cfg_getint(q, "data_timeout");
		c->queue_min_free = cfg_getint(q, "min_free");
	}
	if (cfg_size(cfg, "resolver") > 0)
		c->resolver = xstrdup(cfg_getstr(cfg, "resolver"));
	if (c->queue_retry_min > c->queue_retry_max) {
		cerr("%s: queue.retry_min: must not be more than "
		    "queue.retry_max\n", path);
		config_free(c);
		return NULL;
	}
	c->metrics_address = xstrdup(cfg_getstr(cfg_getsec(cfg, "metrics"),
	    "address"));
	c->metrics_port = cfg_getint(cfg_getsec(cfg, "metrics"), "port");
	{
		cfg_t *a = cfg_getsec(cfg, "abuse");
		char buf[SMTP_ADDR_MAX + 1];

		c->abuse_enabled = cfg_getbool(a, "enabled");
		c->abuse_dry_run = cfg_getbool(a, "dry_run");
		snprintf(buf, sizeof(buf), "postmaster@%s", c->local_domains[0]);
		c->abuse_notify = xstrdup(cfg_size(a, "notify") > 0 ?
		    cfg_getstr(a, "notify") : buf);
		c->abuse_signals = cfg_getint(a, "signals");
		c->abuse_burst_floor = cfg_getint(a, "burst_floor");
		c->abuse_burst_factor = cfg_getint(a, "burst_factor");
		c->abuse_fanout_domains = cfg_getint(a, "fanout_domains");
		c->abuse_refusal_share = cfg_getint(a, "refusal_share");
		c->abuse_refusal_min = cfg_getint(a, "refusal_min");
		c->abuse_networks_at_once = cfg_getint(a, "networks_at_once");
	}
	if (copy_routes(c, cfg) == -1 || copy_dkim(c, cfg) == -1) {
		config_free(c);
		return NULL;
	}
	c->timeout_command = cfg_getint(timeouts, "command");
	c->timeout_data = cfg_getint(timeouts, "data");
	c->timeout_handshake = cfg_getint(timeouts, "handshake");
	c->timeout_drain = cfg_getint(timeouts, "drain");
	return c;
}

struct config *
config_load_logged(const char *path)
{
	struct config *c;

	errors_to_log = 1;
	c = config_load(path);
	errors_to_log = 0;
	return c;
}

struct config *
config_load(const char *path)
{
	struct config *c = NULL;
	cfg_t *cfg;
	size_t i;
	int rc;

	nfile_keys = 0;
	cfg = root_cfg = cfg_init(opts, CFGF_NONE);
	cfg_set_error_function(cfg, config_errfunc);
	for (i = 0; i < sizeof(validators) / sizeof(validators[0]); i++)
		cfg_set_validate_func(cfg, validators[i].name, validators[i].fn);
	rc = cfg_parse(cfg, path);
	if (rc == CFG_FILE_ERROR)
		cerr("%s: cannot read configuration: %s\n", path,
		    strerror(errno));
	else if (rc == CFG_SUCCESS && check_required(cfg, path) == 0)
		c = config_copy(cfg, path);
	cfg_free(cfg);
	return c;
}

const struct config *
config_ref(const struct config *c)
{
	if (c != NULL)
		__atomic_add_fetch(&((struct config *)c)->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void
config_unref(const struct config *c)
{
	if (c != NULL &&
	    __atomic_sub_fetch(&((struct config *)c)->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_free((struct config *)c);
}

void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->tls_key_pem != NULL)
		explicit_bzero(c->tls_key_pem, c->tls_key_len);
	free(c->tls_key_pem);
	free(c->tls_cert_pem);
	for (i = 0; i < c->ndkim; i++) {
		free(c->dkim[i].domain);
		free(c->dkim[i].selector);
		free(c->dkim[i].path);
		dkim_key_free(c->dkim[i].pkey);
	}
	free(c->dkim);
	free(c->abuse_notify);
	free(c->metrics_address);
	free(c->authserv_id);
	free_list(c->local_domains, c->nlocal_domains);
	free_list(c->internal_only, c->ninternal_only);
	free_list(c->strip_headers, c->nstrip_headers);
	free(c->senders_file);
	free(c->login_limits_file);
	free(c->resolver);
	free_route(&c->relay);
	for (i = 0; i < c->nroutes; i++)
		free_route(&c->routes[i]);
	free(c->routes);
	for (i = 0; i < c->nlistens; i++)
		free(c->listens[i].address);
	free(c->listens);
	free(c->path);
	free(c->hostname);
	free(c->user);
	free(c->spool_dir);
	free(c->control_socket);
	free(c->tls_certificate);
	free(c->tls_key);
	free(c->auth_mechanisms);
	free(c->auth_sasldb);
	free(c->auth_pwcheck);
	free(c->auth_saslauthd_path);
	free(c->auth_client_ca);
	free(c->auth_client_ca_pem);
	free(c->auth_client_map);
	free(c->certmap);
	free(c->oauth_issuer);
	free(c->oauth_audience);
	free(c->oauth_jwks_file);
	free(c->oauth_jwks_url);
	free(c->oauth_login_claim);
	oauth_keys_free(c->oauth_keys);
	free(c);
}

int
config_is_local_domain(const struct config *c, const char *domain)
{
	size_t i;

	for (i = 0; i < c->nlocal_domains; i++)
		if (strcasecmp(c->local_domains[i], domain) == 0)
			return 1;
	return 0;
}

const struct route_conf *
config_route(const struct config *c, const char *domain)
{
	size_t i;

	for (i = 0; i < c->nroutes; i++)
		if (strcasecmp(c->routes[i].domain, domain) == 0)
			return &c->routes[i];
	return &c->relay;
}
