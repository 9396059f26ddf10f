/*
 * delivery_driver.c - runs one delivery job by hand, against real peers.
 *
 * Not a unit test: a tool to exercise delivery.c and dns.c before the queue
 * drives them.  It checks the callback contract (done exactly once, never
 * from inside delivery_start) and prints one line per recipient:
 *
 *	RCPT <addr> ok|tempfail|permfail <reply>
 *
 * followed by the relay and TLS the job reports.  Exit status is 0 when the
 * job finished, whatever the recipients' results; 2 on usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "delivery.h"
#include "dns.h"
#include "log.h"
#include "tls.h"

static int	in_start;
static int	done_calls;

static void
done(struct delivery_job *job, void *arg)
{
	struct event_base *base = arg;

	if (in_start)
		fprintf(stderr, "CONTRACT: done called from inside delivery_start\n");
	done_calls++;
	event_base_loopbreak(base);
}

static void
usage(void)
{
	fprintf(stderr, "usage: delivery_driver [-dm] [-s dns-servers] [-t none|may|"
	    "encrypt|verify]\n"
	    "\t[-u user -p password-file] [-n copies] [-o offset] [-H ehlo-name]\n"
	    "\t[-T timeout] host port message-file from rcpt ...\n");
	exit(2);
}

static enum tls_level
tls_level(const char *s)
{
	static const char *const names[] = { "none", "may", "encrypt", "verify" };
	size_t i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return (enum tls_level)i;
	usage();
	return TLS_LEVEL_NONE;
}

static char *
read_password(const char *path)
{
	static char buf[512];
	FILE *f;

	if ((f = fopen(path, "r")) == NULL || fgets(buf, sizeof(buf), f) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

int
main(int argc, char *argv[])
{
	static const char *const results[] = { "pending", "ok", "tempfail",
	    "permfail" };
	struct delivery_conf conf;
	struct delivery_job job;
	struct delivery_msg *msgs;
	struct event_base *base;
	const char *servers = NULL, *passfile = NULL;
	struct stat st;
	off_t offset = 0;
	int ch, debug = 0, copies = 1, timeout = 30, fd, i, j, nrcpts;

	memset(&job, 0, sizeof(job));
	memset(&conf, 0, sizeof(conf));
	conf.hostname = "driver.example.test";
	job.route.tls = TLS_LEVEL_MAY;
	while ((ch = getopt(argc, argv, "dH:mn:o:p:s:t:T:u:")) != -1) {
		switch (ch) {
		case 'd': debug = 1; break;
		case 'H': conf.hostname = optarg; break;
		case 'm': job.route.mx = 1; break;
		case 'n': copies = atoi(optarg); break;
		case 'o': offset = atoll(optarg); break;
		case 'p': passfile = optarg; break;
		case 's': servers = optarg; break;
		case 't': job.route.tls = tls_level(optarg); break;
		case 'T': timeout = atoi(optarg); break;
		case 'u': job.route.username = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 5 || copies < 1)
		usage();
	snprintf(job.route.host, sizeof(job.route.host), "%s", argv[0]);
	job.route.port = atoi(argv[1]);
	if (passfile != NULL)
		job.route.password = read_password(passfile);
	if ((fd = open(argv[2], O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		fprintf(stderr, "%s: %s\n", argv[2], strerror(errno));
		return 2;
	}

	log_init(1, debug);
	if ((base = event_base_new()) == NULL || dns_init(base, servers) == -1)
		return 1;
	conf.connect_timeout = conf.command_timeout = timeout;
	conf.data_timeout = timeout;
	if ((conf.ssl_ctx = tls_client_ctx_new()) == NULL)
		return 1;
	delivery_init(base, &conf);

	/* copies of the message, each with its own recipients */
	nrcpts = argc - 4;
	msgs = calloc(copies, sizeof(*msgs));
	job.msgs = calloc(copies, sizeof(*job.msgs));
	for (i = 0; i < copies; i++) {
		msgs[i].id = "DRIVER";
		msgs[i].from = argv[3];
		msgs[i].fd = fd;
		msgs[i].body_offset = offset;
		msgs[i].body_size = st.st_size - offset;
		msgs[i].rcpts = calloc(nrcpts, sizeof(*msgs[i].rcpts));
		msgs[i].nrcpts = nrcpts;
		for (j = 0; j < nrcpts; j++)
			msgs[i].rcpts[j].addr = argv[4 + j];
		job.msgs[i] = &msgs[i];
	}
	job.nmsgs = copies;
	job.done = done;
	job.arg = base;

	in_start = 1;
	delivery_start(&job);
	in_start = 0;
	event_base_dispatch(base);
	/* A second done would show up here. */
	for (i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (done_calls != 1)
		fprintf(stderr, "CONTRACT: done called %d times\n", done_calls);

	for (i = 0; i < copies; i++)
		for (j = 0; j < nrcpts; j++)
			printf("RCPT %s %s %s\n", msgs[i].rcpts[j].addr,
			    results[msgs[i].rcpts[j].result], msgs[i].rcpts[j].reply);
	printf("RELAY %s\nTLS %s verified=%d failed=%d\n", job.relay[0] ?
	    job.relay : "none", job.tls, job.tls_verified, job.tls_failed);

	for (i = 0; i < copies; i++)
		free(msgs[i].rcpts);
	free(msgs);
	free(job.msgs);
	close(fd);
	dns_shutdown();
	SSL_CTX_free(conf.ssl_ctx);
	event_base_free(base);
	return done_calls == 1 ? 0 : 1;
}
