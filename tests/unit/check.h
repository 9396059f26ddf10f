/*
 * check.h - the unit tests' one assertion: prints a TAP line per check
 * ("ok N - what" or "not ok N - what") and counts failures for main().
 */
#ifndef SUBMITD_CHECK_H
#define SUBMITD_CHECK_H

#include <stdio.h>

static int tests, failures;

#define CHECK(cond, ...) do {						\
	tests++;							\
	if (!(cond)) {							\
		failures++;						\
		printf("not ok %d - ", tests);				\
	} else								\
		printf("ok %d - ", tests);				\
	printf(__VA_ARGS__);						\
	printf("\n");							\
} while (0)

#endif
