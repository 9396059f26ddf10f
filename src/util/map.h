/*
 * map.h - a string-keyed hash table.
 *
 * Keys are copied; values belong to the caller.  The hash is seeded at
 * random per table, since keys (client addresses, logins) come from the
 * network and a fixed hash would let a client pick colliding keys.
 */
#ifndef SUBMITD_MAP_H
#define SUBMITD_MAP_H

#include <stddef.h>
#include <stdint.h>

struct map_entry;

struct map {
	struct map_entry	**buckets;
	size_t			 nbuckets;	/* a power of two */
	size_t			 count;
	uint64_t		 seed;
};

void	 map_init(struct map *);
void	*map_get(const struct map *, const char *key);
/* Adds or replaces; returns -1 only when out of memory. */
int	 map_put(struct map *, const char *key, void *value);
/* Removes key; returns its value, or NULL. */
void	*map_del(struct map *, const char *key);
/*
 * Calls fn for every entry; entries for which fn returns 1 are removed
 * (fn frees the value then).
 */
void	 map_sweep(struct map *, int (*fn)(const char *key, void *value,
	    void *arg), void *arg);
/* Removes everything, calling free_value (may be NULL) on each value. */
void	 map_clear(struct map *, void (*free_value)(void *));

#endif
