/*
 * map.c - chained hash table with a seeded FNV-1a hash; it doubles when
 * the load passes 1 and never shrinks.
 */
#include <stdlib.h>
#include <string.h>

#include "util/map.h"

struct map_entry {
	struct map_entry	*next;
	void			*value;
	char			 key[];
};

static uint64_t
map_hash(const struct map *m, const char *key)
{
	uint64_t h = 14695981039346656037ULL ^ m->seed;

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

void
map_init(struct map *m)
{
	memset(m, 0, sizeof(*m));
	m->seed = ((uint64_t)arc4random() << 32) | arc4random();
}

static struct map_entry **
map_slot(const struct map *m, const char *key)
{
	struct map_entry **e;

	if (m->nbuckets == 0)
		return NULL;
	e = &m->buckets[map_hash(m, key) & (m->nbuckets - 1)];
	for (; *e != NULL; e = &(*e)->next)
		if (strcmp((*e)->key, key) == 0)
			break;
	return e;
}

void *
map_get(const struct map *m, const char *key)
{
	struct map_entry **e = map_slot(m, key);

	return e != NULL && *e != NULL ? (*e)->value : NULL;
}

static int
map_grow(struct map *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 64, i;
	struct map_entry **b = calloc(n, sizeof(*b)), *e, *next;

	if (b == NULL)
		return -1;
	for (i = 0; i < m->nbuckets; i++)
		for (e = m->buckets[i]; e != NULL; e = next) {
			size_t j = map_hash(m, e->key) & (n - 1);

			next = e->next;
			e->next = b[j];
			b[j] = e;
		}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
	return 0;
}

int
map_put(struct map *m, const char *key, void *value)
{
	struct map_entry **slot, *e;
	size_t len = strlen(key);

	if (m->count >= m->nbuckets && map_grow(m) == -1)
		return -1;
	slot = map_slot(m, key);
	if (*slot != NULL) {
		(*slot)->value = value;
		return 0;
	}
	if ((e = malloc(sizeof(*e) + len + 1)) == NULL)
		return -1;
	memcpy(e->key, key, len + 1);
	e->value = value;
	e->next = NULL;
	*slot = e;
	m->count++;
	return 0;
}

void *
map_del(struct map *m, const char *key)
{
	struct map_entry **slot = map_slot(m, key), *e;
	void *value;

	if (slot == NULL || *slot == NULL)
		return NULL;
	e = *slot;
	*slot = e->next;
	value = e->value;
	free(e);
	m->count--;
	return value;
}

void
map_sweep(struct map *m, int (*fn)(const char *, void *, void *), void *arg)
{
	struct map_entry **p, *e;
	size_t i;

	for (i = 0; i < m->nbuckets; i++)
		for (p = &m->buckets[i]; (e = *p) != NULL;) {
			if (fn(e->key, e->value, arg)) {
				*p = e->next;
				free(e);
				m->count--;
			} else
				p = &e->next;
		}
}

void
map_clear(struct map *m, void (*free_value)(void *))
{
	struct map_entry *e, *next;
	size_t i;

	for (i = 0; i < m->nbuckets; i++)
		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (free_value != NULL)
				free_value(e->value);
			free(e);
		}
	free(m->buckets);
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}
