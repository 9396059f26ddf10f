/*
 * submitctl.c - command-line client of the control socket (submitctl(8)).
 *
 * Sends one command line, prints the answer.  The answer's first line is
 * "ok" (not printed) or "error: ..." (printed to stderr, exit 1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dkim.h"

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#define DEFAULT_SOCKET	RUNSTATEDIR "/submitd/control.sock"

static void
usage(void)
{
	fprintf(stderr, "usage: submitctl [-s socket] command [argument]\n"
	    "commands: queue | show ID | flush [ID] | delete ID | hold ID |\n"
	    "          release ID | stats | reload | tls-report | suspended |\n"
	    "          suspend LOGIN | resume LOGIN |\n"
	    "          dns-check DOMAIN | dkim-record KEYFILE (no daemon)\n");
	exit(2);
}

#define KEY_MAX		65536
#define TXT_STRING_MAX	255	/* octets in one character-string (RFC 1035) */

/*
 * dkim-record KEYFILE: the TXT record of a private key's public half, in
 * strings of at most 255 octets as a zone file (or a DNS provider's form)
 * takes them.
 */
static int
dkim_record_cmd(const char *path)
{
	char pem[KEY_MAX + 1], rec[4096], err[256];
	size_t len, i;
	void *pkey;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "submitctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	len = fread(pem, 1, KEY_MAX, f);
	fclose(f);
	pem[len] = '\0';
	pkey = dkim_key_load(pem, len, err, sizeof(err));
	explicit_bzero(pem, sizeof(pem));
	if (pkey == NULL) {
		fprintf(stderr, "submitctl: %s: %s\n", path, err);
		return 1;
	}
	if (dkim_record(pkey, rec, sizeof(rec)) == -1) {
		fprintf(stderr, "submitctl: %s: cannot make the record\n", path);
		dkim_key_free(pkey);
		return 1;
	}
	dkim_key_free(pkey);
	len = strlen(rec);
	for (i = 0; i < len; i += TXT_STRING_MAX)
		printf("%s\"%.*s\"", i > 0 ? " " : "", (int)(len - i <
		    TXT_STRING_MAX ? len - i : TXT_STRING_MAX), rec + i);
	printf("\n");
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *path = DEFAULT_SOCKET;
	struct sockaddr_un sun;
	char buf[8192], cmd[512];
	int ch, fd, first = 1, rc = 0, i;
	size_t len = 0;
	ssize_t n;
	FILE *in;

	while ((ch = getopt(argc, argv, "s:")) != -1) {
		if (ch != 's')
			usage();
		path = optarg;
	}
	if (optind >= argc)
		usage();
	if (strcmp(argv[optind], "dkim-record") == 0) {
		if (argc - optind != 2)
			usage();
		return dkim_record_cmd(argv[optind + 1]);
	}
	cmd[0] = '\0';
	for (i = optind; i < argc; i++) {
		if (strpbrk(argv[i], "\r\n") != NULL ||
		    len + strlen(argv[i]) + 2 > sizeof(cmd))
			usage();
		len += snprintf(cmd + len, sizeof(cmd) - len, "%s%s",
		    i > optind ? " " : "", argv[i]);
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "submitctl: %s: path too long\n", path);
		return 2;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "submitctl: cannot connect to %s: %s\n", path,
		    strerror(errno));
		return 2;
	}
	strcat(cmd, "\n");
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
		fprintf(stderr, "submitctl: %s: %s\n", path, strerror(errno));
		return 2;
	}
	if ((in = fdopen(fd, "r")) == NULL)
		return 2;
	while (fgets(buf, sizeof(buf), in) != NULL) {
		if (first) {
			first = 0;
			if (strcmp(buf, "ok\n") == 0)
				continue;
			fprintf(stderr, "submitctl: %s", buf);
			rc = 1;
			continue;
		}
		fputs(buf, stdout);
	}
	if (first) {
		fprintf(stderr, "submitctl: no answer from %s\n", path);
		rc = 2;
	}
	fclose(in);
	(void)n;
	return rc;
}
