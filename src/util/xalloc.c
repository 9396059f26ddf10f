/*
 * xalloc.c - see xalloc.h for when aborting is the right answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s != NULL ? s : "");

	if (p == NULL)
		abort();
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		abort();
	if ((p = realloc(p, n * size)) == NULL && n * size != 0)
		abort();
	return p;
}
