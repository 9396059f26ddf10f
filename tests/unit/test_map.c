/*
 * test_map.c - unit tests of the string-keyed hash table (src/util/map.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/map.h"

#include "check.h"

static int
drop_odd(const char *key, void *value, void *arg)
{
	int *v = value;

	(*(int *)arg)++;
	if (*v % 2 == 0)
		return 0;
	free(v);
	return 1;
}

int
main(void)
{
	struct map m;
	char key[32];
	int i, ok, seen = 0;

	map_init(&m);
	CHECK(map_get(&m, "absent") == NULL, "empty map finds nothing");
	CHECK(map_del(&m, "absent") == NULL, "empty map deletes nothing");
	for (i = 0; i < 10000; i++) {
		int *v = malloc(sizeof(*v));

		*v = i;
		snprintf(key, sizeof(key), "key%d", i);
		if (map_put(&m, key, v) == -1)
			abort();
	}
	CHECK(m.count == 10000, "10000 entries after growing");
	for (ok = 1, i = 0; i < 10000; i++) {
		int *v;

		snprintf(key, sizeof(key), "key%d", i);
		v = map_get(&m, key);
		ok &= v != NULL && *v == i;
	}
	CHECK(ok, "every entry found with its value");
	{
		int *v = map_get(&m, "key7"), *w = malloc(sizeof(*w));

		*w = 77;
		map_put(&m, "key7", w);
		CHECK(map_get(&m, "key7") == w && m.count == 10000,
		    "put on an existing key replaces its value");
		free(v);
		*w = 7;
	}
	map_sweep(&m, drop_odd, &seen);
	CHECK(seen == 10000 && m.count == 5000, "sweep visits all, drops odd ones");
	CHECK(map_get(&m, "key3") == NULL && map_get(&m, "key4") != NULL,
	    "swept entries are gone, others stay");
	free(map_del(&m, "key4"));
	CHECK(map_get(&m, "key4") == NULL && m.count == 4999, "delete removes");
	map_clear(&m, free);
	CHECK(m.count == 0 && map_get(&m, "key6") == NULL, "clear empties");
	printf("1..%d\n", tests);
	return failures != 0;
}
