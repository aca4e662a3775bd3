/* gw_map: open addressing over (key, value) slots; a NULL key is empty. */
#include "gw_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key;
    void *value;
    uint64_t hash;
} slot_t;

struct gw_map_s {
    slot_t *slots;
    size_t cap;
    size_t count;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

gw_map_t *gw_map_new(void)
{
    gw_map_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->cap = 64;
    m->slots = calloc(m->cap, sizeof(slot_t));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void gw_map_free(gw_map_t *m, void (*free_value)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        free(m->slots[i].key);
        if (free_value)
            free_value(m->slots[i].value);
    }
    free(m->slots);
    free(m);
}

static size_t find(const gw_map_t *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & mask;
    return i;
}

void *gw_map_get(const gw_map_t *m, const char *key)
{
    size_t i = find(m, key, hash_str(key));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int grow(gw_map_t *m)
{
    size_t ncap = m->cap * 2;
    slot_t *ns = calloc(ncap, sizeof(slot_t));
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = m->slots[i].hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int gw_map_put(gw_map_t *m, const char *key, void *value)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    uint64_t h = hash_str(key);
    size_t i = find(m, key, h);
    if (m->slots[i].key) {
        m->slots[i].value = value;
        return 0;
    }
    m->slots[i].key = strdup(key);
    if (!m->slots[i].key)
        return -1;
    m->slots[i].value = value;
    m->slots[i].hash = h;
    m->count++;
    return 0;
}

void *gw_map_remove(gw_map_t *m, const char *key)
{
    size_t mask = m->cap - 1, i = find(m, key, hash_str(key));
    if (!m->slots[i].key)
        return NULL;
    void *value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->count--;
    /* Backward-shift deletion keeps every probe chain unbroken: move later
     * entries of the cluster into the hole when their home allows it. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = m->slots[j];
            m->slots[j].key = NULL;
            hole = j;
        }
    }
    return value;
}

size_t gw_map_count(const gw_map_t *m)
{
    return m->count;
}

bool gw_map_next(const gw_map_t *m, size_t *iter, const char **key, void **value)
{
    while (*iter < m->cap) {
        slot_t *s = &m->slots[(*iter)++];
        if (s->key) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            return true;
        }
    }
    return false;
}
