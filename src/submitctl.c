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

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#define DEFAULT_SOCKET	RUNSTATEDIR "/submitd/control.sock"

static void
usage(void)
{
	fprintf(stderr, "usage: submitctl [-s socket] command [argument]\n"
	    "commands: queue | show ID | flush [ID] | delete ID | hold ID |\n"
	    "          release ID | stats | reload | tls-report\n");
	exit(2);
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
