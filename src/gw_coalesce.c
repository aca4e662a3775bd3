/*
 * gw_coalesce: two open-addressing hash tables (entities; cells keyed by
 * entity, window, bucket and metric) over arrays that only grow. Per-entity
 * singly linked lists of cells and parts make iteration cheap without
 * sorting. Strings (tenant, ids) are copied into a batch arena.
 *
 * Invariant: table slots hold index + 1 (0 = empty); the tables are at most
 * half full, so probing always terminates.
 */
#include "gw_coalesce.h"

#include <stdlib.h>
#include <string.h>

#include "gw_arena.h"

struct gw_coalesce_s {
    const gw_window_t *windows;
    int nwindows;
    const gw_kinds_t *kinds;
    gw_arena_t *strings;

    gw_delta_t *deltas;
    size_t ndeltas, cap_deltas;
    uint32_t *etab; /* entity table */
    size_t etab_cap;

    gw_delta_cell_t *cells;
    size_t ncells, cap_cells;
    uint32_t *ctab; /* cell table */
    size_t ctab_cap;

    gw_delta_part_t *parts;
    size_t nparts, cap_parts;

    uint64_t events;
    uint64_t late[GW_WINDOWS_MAX];
    int last_rep, last_team;
    size_t found; /* delta of the last gw_coalesce_add_one */
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static int grow(void **arr, size_t *cap, size_t elem, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    void *n = realloc(*arr, ncap * elem);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

gw_coalesce_t *gw_coalesce_new(const gw_window_t *windows, int nwindows, const gw_kinds_t *kinds)
{
    gw_coalesce_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->windows = windows;
    c->nwindows = nwindows;
    c->kinds = kinds;
    c->strings = gw_arena_new(65536);
    c->etab_cap = 1024;
    c->etab = calloc(c->etab_cap, sizeof(uint32_t));
    c->ctab_cap = 4096;
    c->ctab = calloc(c->ctab_cap, sizeof(uint32_t));
    if (!c->strings || !c->etab || !c->ctab) {
        gw_coalesce_free(c);
        return NULL;
    }
    return c;
}

void gw_coalesce_free(gw_coalesce_t *c)
{
    if (!c)
        return;
    gw_arena_free(c->strings);
    free(c->deltas);
    free(c->etab);
    free(c->cells);
    free(c->ctab);
    free(c->parts);
    free(c);
}

/* Empties a probe table of `*cap` slots that held `used` entries. A table
 * 16 times too big for the batch it served is given back for one 4 times
 * it (at least `floor` slots): after a backlog's big batches, the small
 * ones of a live stream would otherwise probe megabytes (a cache miss per
 * event) and clear them every batch. Keeps the old table if calloc fails. */
static void clear_table(uint32_t **tab, size_t *cap, size_t used, size_t floor)
{
    if (*cap > floor && used * 16 < *cap) {
        size_t ncap = floor;
        while (ncap < used * 4)
            ncap *= 2;
        uint32_t *t = calloc(ncap, sizeof(uint32_t));
        if (t) {
            free(*tab);
            *tab = t;
            *cap = ncap;
            return;
        }
    }
    if (used)
        memset(*tab, 0, *cap * sizeof(uint32_t));
}

void gw_coalesce_reset(gw_coalesce_t *c)
{
    gw_arena_reset(c->strings);
    /* Clearing costs O(table), and tables follow the batches' size, so this
     * is proportional to the work the batch itself did. */
    clear_table(&c->etab, &c->etab_cap, c->ndeltas, 1024);
    clear_table(&c->ctab, &c->ctab_cap, c->ncells, 4096);
    c->ndeltas = c->ncells = c->nparts = 0;
    c->events = 0;
    memset(c->late, 0, sizeof(c->late));
}

static uint64_t entity_hash(gw_entity_kind_t kind, const char *tenant, const char *id)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t)kind;
    h = hash_bytes(h, tenant, strlen(tenant) + 1);
    return hash_bytes(h, id, strlen(id));
}

static int rehash_entities(gw_coalesce_t *c)
{
    size_t ncap = c->etab_cap * 2;
    uint32_t *t = calloc(ncap, sizeof(uint32_t));
    if (!t)
        return -1;
    for (size_t i = 0; i < c->ndeltas; i++) {
        gw_delta_t *d = &c->deltas[i];
        size_t s = entity_hash(d->kind, d->tenant, d->id) & (ncap - 1);
        while (t[s])
            s = (s + 1) & (ncap - 1);
        t[s] = (uint32_t)i + 1;
    }
    free(c->etab);
    c->etab = t;
    c->etab_cap = ncap;
    return 0;
}

/* `hash`: entity_hash(kind, tenant, id). */
static int find_entity(gw_coalesce_t *c, gw_entity_kind_t kind, const char *tenant, const char *id,
                       uint64_t hash)
{
    if ((c->ndeltas + 1) * 2 > c->etab_cap && rehash_entities(c) != 0)
        return -1;
    size_t mask = c->etab_cap - 1;
    size_t s = hash & mask;
    while (c->etab[s]) {
        gw_delta_t *d = &c->deltas[c->etab[s] - 1];
        if (d->kind == kind && !strcmp(d->id, id) && !strcmp(d->tenant, tenant))
            return (int)(c->etab[s] - 1);
        s = (s + 1) & mask;
    }
    if (grow((void **)&c->deltas, &c->cap_deltas, sizeof(gw_delta_t), c->ndeltas + 1) != 0)
        return -1;
    gw_delta_t *d = &c->deltas[c->ndeltas];
    memset(d, 0, sizeof(*d));
    d->kind = kind;
    d->tenant = gw_arena_strndup(c->strings, tenant, strlen(tenant));
    d->id = gw_arena_strndup(c->strings, id, strlen(id));
    if (!d->tenant || !d->id)
        return -1;
    d->first_event_ms = INT64_MAX;
    d->wm_ms = INT64_MIN;
    for (int w = 0; w < GW_WINDOWS_MAX; w++)
        d->cells[w] = -1;
    d->parts = -1;
    c->etab[s] = (uint32_t)c->ndeltas + 1;
    return (int)c->ndeltas++;
}

static uint64_t cell_hash(int entity, int window, int64_t bucket, int metric)
{
    return mix64(((uint64_t)(uint32_t)entity << 32) ^ ((uint64_t)window << 24) ^ (uint64_t)metric ^
                 mix64((uint64_t)bucket));
}

static int rehash_cells(gw_coalesce_t *c)
{
    size_t ncap = c->ctab_cap * 2;
    uint32_t *t = calloc(ncap, sizeof(uint32_t));
    if (!t)
        return -1;
    for (size_t i = 0; i < c->ncells; i++) {
        gw_delta_cell_t *cell = &c->cells[i];
        size_t s = cell_hash(cell->entity, cell->window, cell->bucket, cell->metric) & (ncap - 1);
        while (t[s])
            s = (s + 1) & (ncap - 1);
        t[s] = (uint32_t)i + 1;
    }
    free(c->ctab);
    c->ctab = t;
    c->ctab_cap = ncap;
    return 0;
}

/* One cell an event adds to, with its hash (see add_to_entity). */
typedef struct {
    int16_t window;
    int16_t metric;
    int64_t bucket;
    int64_t value;
    uint64_t hash;
} cell_add_t;

static int add_cell(gw_coalesce_t *c, int entity, const cell_add_t *a)
{
    int window = a->window, metric = a->metric;
    int64_t bucket = a->bucket, value = a->value;
    if ((c->ncells + 1) * 2 > c->ctab_cap && rehash_cells(c) != 0)
        return -1;
    size_t mask = c->ctab_cap - 1;
    size_t s = a->hash & mask;
    while (c->ctab[s]) {
        gw_delta_cell_t *cell = &c->cells[c->ctab[s] - 1];
        if (cell->entity == entity && cell->bucket == bucket && cell->metric == metric &&
            cell->window == window) {
            cell->value += value;
            return 0;
        }
        s = (s + 1) & mask;
    }
    if (grow((void **)&c->cells, &c->cap_cells, sizeof(gw_delta_cell_t), c->ncells + 1) != 0)
        return -1;
    gw_delta_t *d = &c->deltas[entity];
    gw_delta_cell_t *cell = &c->cells[c->ncells];
    cell->entity = entity;
    cell->window = (int16_t)window;
    cell->metric = (int16_t)metric;
    cell->bucket = bucket;
    cell->value = value;
    cell->next = d->cells[window];
    d->cells[window] = (int32_t)c->ncells;
    c->ctab[s] = (uint32_t)c->ncells + 1;
    c->ncells++;
    return 0;
}

static int add_part(gw_coalesce_t *c, int entity, int32_t partition, int64_t offset)
{
    gw_delta_t *d = &c->deltas[entity];
    for (int32_t i = d->parts; i >= 0; i = c->parts[i].next) {
        gw_delta_part_t *p = &c->parts[i];
        if (p->partition == partition) {
            if (offset < p->min_offset)
                p->min_offset = offset;
            if (offset > p->max_offset)
                p->max_offset = offset;
            return 0;
        }
    }
    if (grow((void **)&c->parts, &c->cap_parts, sizeof(gw_delta_part_t), c->nparts + 1) != 0)
        return -1;
    gw_delta_part_t *p = &c->parts[c->nparts];
    p->partition = partition;
    p->min_offset = p->max_offset = offset;
    p->next = d->parts;
    d->parts = (int32_t)c->nparts++;
    return 0;
}

/* Adds `ev` to entity `e` (already found): parts, times, and per window
 * either the late count or the metric cells. */
static int add_to_entity(gw_coalesce_t *c, int e, const gw_event_t *ev, int32_t partition,
                         int64_t offset, int64_t stream_ms, gw_kind_class_t cls)
{
    if (add_part(c, e, partition, offset) != 0)
        return -1;
    gw_delta_t *d = &c->deltas[e];
    d->nevents++;
    if (ev->occurred_at_ms < d->first_event_ms)
        d->first_event_ms = ev->occurred_at_ms;
    if (stream_ms > d->wm_ms)
        d->wm_ms = stream_ms;
    /* The event's cells, gathered first: each lookup misses the cache
     * twice (table slot, then cell), and fetching every slot, then every
     * cell, ahead of the updates lets those misses overlap. */
    cell_add_t adds[GW_WINDOWS_MAX * 4];
    int n = 0;
    for (int w = 0; w < c->nwindows; w++) {
        const gw_window_t *win = &c->windows[w];
        if (gw_window_is_late(win, ev->occurred_at_ms, stream_ms)) {
            d->late[w]++;
            continue;
        }
        /* events and activities are sums of the kinds' counts: readers
         * derive them, so they cost no writes here; a zero adds nothing. */
        int64_t b = gw_window_bucket(win, ev->occurred_at_ms);
        int metrics[4], nm = 0;
        int64_t values[4];
        metrics[nm] = gw_metric_count(ev->kind);
        values[nm++] = 1;
        if (ev->amount_minor > 0) {
            metrics[nm] = gw_metric_amount(ev->kind);
            values[nm++] = ev->amount_minor;
        }
        if (cls == GW_CLASS_ACTIVITY && ev->has_goal) {
            metrics[nm] = GW_METRIC_WITH_GOAL;
            values[nm++] = 1;
        }
        if (cls == GW_CLASS_ACTIVITY && ev->has_next_step) {
            metrics[nm] = GW_METRIC_WITH_NEXT_STEP;
            values[nm++] = 1;
        }
        for (int k = 0; k < nm; k++) {
            cell_add_t *a = &adds[n++];
            a->window = (int16_t)w;
            a->metric = (int16_t)metrics[k];
            a->bucket = b;
            a->value = values[k];
            a->hash = cell_hash(e, w, b, metrics[k]);
        }
    }
    size_t mask = c->ctab_cap - 1;
    for (int k = 0; k < n; k++)
        __builtin_prefetch(&c->ctab[adds[k].hash & mask]);
    for (int k = 0; k < n; k++) {
        uint32_t slot = c->ctab[adds[k].hash & mask];
        if (slot)
            __builtin_prefetch(&c->cells[slot - 1]);
    }
    for (int k = 0; k < n; k++)
        if (add_cell(c, e, &adds[k]) != 0)
            return -1;
    return 0;
}

static int add_one(gw_coalesce_t *c, const gw_event_t *ev, gw_entity_kind_t kind, uint64_t hash,
                   int32_t partition, int64_t offset, int64_t stream_ms)
{
    gw_kind_class_t cls = gw_kind_class(c->kinds, ev->kind);
    int e = find_entity(c, kind, ev->tenant, kind == GW_ENTITY_REP ? ev->rep : ev->team, hash);
    if (e < 0)
        return -1;
    c->found = (size_t)e;
    if (kind == GW_ENTITY_REP) {
        /* The rep remembers the team of its latest event. */
        gw_delta_t *d = &c->deltas[e];
        if (!d->team || strcmp(d->team, ev->team) != 0) {
            d->team = gw_arena_strndup(c->strings, ev->team, strlen(ev->team));
            if (!d->team)
                return -1;
        }
    }
    return add_to_entity(c, e, ev, partition, offset, stream_ms, cls);
}

int gw_coalesce_add_one(gw_coalesce_t *c, const gw_event_t *ev, gw_entity_kind_t kind,
                        int32_t partition, int64_t offset, int64_t stream_ms)
{
    uint64_t hash = entity_hash(kind, ev->tenant, kind == GW_ENTITY_REP ? ev->rep : ev->team);
    return add_one(c, ev, kind, hash, partition, offset, stream_ms);
}

/* Starts fetching what looking up an entity of `hash` reads: its table
 * slot, then the delta the slot names (a cache miss each, overlapped with
 * the other entity's). */
static void prefetch_entity(const gw_coalesce_t *c, uint64_t hash)
{
    uint32_t slot = c->etab[hash & (c->etab_cap - 1)];
    if (slot)
        __builtin_prefetch(&c->deltas[slot - 1]);
}

int gw_coalesce_add(gw_coalesce_t *c, const gw_event_t *ev, int32_t partition, int64_t offset,
                    int64_t stream_ms)
{
    uint64_t hrep = entity_hash(GW_ENTITY_REP, ev->tenant, ev->rep),
             hteam = entity_hash(GW_ENTITY_TEAM, ev->tenant, ev->team);
    __builtin_prefetch(&c->etab[hrep & (c->etab_cap - 1)]);
    __builtin_prefetch(&c->etab[hteam & (c->etab_cap - 1)]);
    prefetch_entity(c, hrep);
    prefetch_entity(c, hteam);
    if (add_one(c, ev, GW_ENTITY_REP, hrep, partition, offset, stream_ms) != 0)
        return -1;
    c->last_rep = (int)c->found;
    if (add_one(c, ev, GW_ENTITY_TEAM, hteam, partition, offset, stream_ms) != 0)
        return -1;
    c->last_team = (int)c->found;
    c->events++;
    for (int w = 0; w < c->nwindows; w++)
        if (gw_window_is_late(&c->windows[w], ev->occurred_at_ms, stream_ms))
            c->late[w]++;
    return 0;
}

int gw_coalesce_find(const gw_coalesce_t *c, gw_entity_kind_t kind, const char *tenant,
                     const char *id)
{
    size_t mask = c->etab_cap - 1;
    size_t s = entity_hash(kind, tenant, id) & mask;
    while (c->etab[s]) {
        const gw_delta_t *d = &c->deltas[c->etab[s] - 1];
        if (d->kind == kind && !strcmp(d->id, id) && !strcmp(d->tenant, tenant))
            return (int)(c->etab[s] - 1);
        s = (s + 1) & mask;
    }
    return -1;
}

void gw_coalesce_last(const gw_coalesce_t *c, int *rep, int *team)
{
    *rep = c->last_rep;
    *team = c->last_team;
}

size_t gw_coalesce_count(const gw_coalesce_t *c)
{
    return c->ndeltas;
}

const gw_delta_t *gw_coalesce_delta(const gw_coalesce_t *c, size_t i)
{
    return &c->deltas[i];
}

const gw_delta_cell_t *gw_coalesce_cell(const gw_coalesce_t *c, int32_t index)
{
    return &c->cells[index];
}

const gw_delta_part_t *gw_coalesce_part(const gw_coalesce_t *c, int32_t index)
{
    return &c->parts[index];
}

uint64_t gw_coalesce_events(const gw_coalesce_t *c)
{
    return c->events;
}

uint64_t gw_coalesce_late(const gw_coalesce_t *c, int window)
{
    return c->late[window];
}
