/*
 * gw_map: a string-keyed hash map of pointers (open addressing, linear
 * probing, grows at half full). Keys are copied; values are the caller's.
 * Used for the sets the daemon keeps per known rep or team (a few per rep,
 * never per event).
 *
 * Ownership: The map owns copies of its keys; values are the caller's (gw_map_free calls
 *   `free_value` on each, when given). Keys returned by gw_map_next are borrowed until the map
 *   changes.
 * Errors: gw_map_new returns NULL and gw_map_put -1 on OOM; lookups of absent keys return NULL.
 * Threads: One thread per map; no shared state.
 */
#ifndef GW_MAP_H
#define GW_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct gw_map_s gw_map_t;

/* NULL on OOM. */
gw_map_t *gw_map_new(void);

/* Frees the map and its keys; calls `free_value` (may be NULL) on each
 * value. Accepts NULL. */
void gw_map_free(gw_map_t *m, void (*free_value)(void *));

/* The value of `key`, or NULL. */
void *gw_map_get(const gw_map_t *m, const char *key);

/* Sets `key` to `value` (replacing). Returns 0, or -1 on OOM. */
int gw_map_put(gw_map_t *m, const char *key, void *value);

/* Removes `key`; returns its value (NULL if absent). The key copy is freed. */
void *gw_map_remove(gw_map_t *m, const char *key);

size_t gw_map_count(const gw_map_t *m);

/* Iterates: start with *iter = 0; returns false at the end. The map must
 * not change during an iteration. */
bool gw_map_next(const gw_map_t *m, size_t *iter, const char **key, void **value);

#endif
