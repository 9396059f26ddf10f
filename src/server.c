/*
 * server.c - the shared configuration and server TLS context, and the
 * reload that replaces them (SIGHUP, submitctl reload).
 *
 * A reload reads and checks the whole file again, with every file it names
 * (certificate and key, password files, CA files, senders and login limits
 * files); only when all of it is good does it take the place of the old
 * one, module by module.  Sessions and deliveries under way keep the
 * configuration they started with (a reference each); new ones get the new
 * one.  What cannot change without a restart (sockets, the spool, the
 * user, the loops, the resolver) is named in the log and keeps its value.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "abuse.h"
#include "auth.h"
#include "config.h"
#include "log.h"
#include "oauth.h"
#include "policy.h"
#include "queue.h"
#include "server.h"
#include "tls.h"

const struct config *
server_conf(struct server *srv)
{
	const struct config *c;

	pthread_mutex_lock(&srv->lock);
	c = config_ref(srv->conf);
	pthread_mutex_unlock(&srv->lock);
	return c;
}

SSL *
server_ssl_new(struct server *srv)
{
	SSL *ssl;

	/* SSL_new takes its own reference of the context. */
	pthread_mutex_lock(&srv->lock);
	ssl = SSL_new(srv->ssl_ctx);
	pthread_mutex_unlock(&srv->lock);
	return ssl;
}

static int
str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* The keys a reload cannot apply: logged, and their old values stay. */
static void
restart_keys(const struct config *old, const struct config *c)
{
	size_t i;
	int listen = old->nlistens != c->nlistens;

	for (i = 0; !listen && i < c->nlistens; i++)
		listen = strcmp(old->listens[i].address, c->listens[i].address) != 0 ||
		    old->listens[i].port != c->listens[i].port ||
		    old->listens[i].tls != c->listens[i].tls;
#define RESTART(changed, key)						\
	if (changed)							\
		log_warnx("event=reload key=%s result=ignored reason=\"takes " \
		    "effect at the next restart\"", key)
	RESTART(listen, "listen");
	RESTART(strcmp(old->user, c->user) != 0, "user");
	RESTART(strcmp(old->spool_dir, c->spool_dir) != 0, "spool_dir");
	RESTART(strcmp(old->control_socket, c->control_socket) != 0,
	    "control_socket");
	RESTART(old->event_loops != c->event_loops, "event_loops");
	RESTART(str_differs(old->resolver, c->resolver), "resolver");
#undef RESTART
}

int
server_reload(struct server *srv, char *why, size_t whylen)
{
	const struct config *old = srv->conf;
	struct config *c;
	SSL_CTX *ctx, *old_ctx;

	log_info("event=reload config=%s", log_str(old->path));
	if ((c = config_load_logged(old->path)) == NULL) {
		snprintf(why, whylen, "%s has errors (see the log); the running "
		    "configuration stays", old->path);
		goto fail;
	}
	if (auth_check(c) == -1) {
		snprintf(why, whylen, "no configured AUTH mechanism is available");
		goto fail;
	}
	if ((ctx = tls_server_ctx_new(c)) == NULL) {
		snprintf(why, whylen, "the TLS certificate or key cannot be used");
		goto fail;
	}
	if (policy_reload(c) == -1) {
		SSL_CTX_free(ctx);
		snprintf(why, whylen, "the senders or login limits file has errors "
		    "(see the log)");
		goto fail;
	}
	restart_keys(old, c);
	queue_reload(c);
	abuse_reload(c);
	oauth_prefetch(c);
	pthread_mutex_lock(&srv->lock);
	srv->conf = c;
	old_ctx = srv->ssl_ctx;
	srv->ssl_ctx = ctx;
	pthread_mutex_unlock(&srv->lock);
	SSL_CTX_free(old_ctx);
	config_unref(old);
	log_info("event=reload result=ok certificate=%s", log_str(c->tls_certificate));
	return 0;
fail:
	config_unref(c);
	log_warnx("event=reload result=fail reason=%s", log_str(why));
	return -1;
}
