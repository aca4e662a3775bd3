/*
 * gw_coalesce: an open-addressing hash table of entities over an array that
 * only grows, and per entity a small open-addressing table of its cells
 * (keyed by window, bucket and metric) in a region of one shared cell pool.
 * An event's cells are then a few adjacent slots of its entity's region
 * (one or two cache misses per entity) rather than a table slot and a cell
 * each, anywhere in megabytes. A region that fills up moves to one twice
 * its size; freed regions are reused by size. Per-entity singly linked
 * lists of cells (through the pool) and parts make iteration cheap without
 * sorting. Strings (tenant, ids) are copied into a batch arena.
 *
 * gw_coalesce_add() only finds the event's two entities and appends the
 * event to a log; fold() (gw_coalesce_seal(), or the first reader) orders
 * the log by rep and adds each rep's events at once, and each rep's sum to
 * its team: see fold() for why.
 *
 * Invariants: entity table slots hold index + 1 (0 = empty) and a hash tag
 * (see entity_slot), and the table is at most half full; a region is at
 * most 7/8 full and its empty slots have window -1, so probing always
 * terminates.
 */
#include "gw_coalesce.h"

#include <stdlib.h>
#include <string.h>

#include "gw_arena.h"

/* Regions hold 2^k slots, REGION_FIRST_BITS <= k < REGION_CLASSES: the
 * first, 8 slots (192 bytes), holds an event's cells in two windows. A
 * region grows (doubles, REGION_GROWTH_BITS) when it would be more than
 * 7/8 full: probing a few slots of one or two cache lines costs little, and
 * the regions an entity leaves behind (reused only by entities growing to
 * their size, so mostly idle until the batch ends) total its last one. With
 * 3/4 and quadrupling instead, the replay's peak RSS was 98-100 MB, not 82,
 * for 10-15% less coalescing CPU. */
#define REGION_CLASSES     31
#define REGION_FIRST_BITS  3
#define REGION_GROWTH_BITS 1

/* A slot of the table of teams' parts: (delta, partition) -> part, with the
 * key in the slot so that a probe reads nothing else (delta -1: empty). */
typedef struct {
    int32_t delta;
    int32_t partition;
    int32_t part;
} part_slot_t;

/* The bucket of the times in [from, to) (empty when from > to), and for
 * an event's bucket the hash of its cells' period (cell_hash): events of
 * a batch fall in few buckets, and computing one is a 64-bit division. */
typedef struct {
    int64_t from, to;
    int64_t bucket;
    uint64_t period_hash;
} bucket_memo_t;

/* An entity table slot: the delta's index and hash tag (entity_slot());
 * 0: empty. 8 bytes, so that the table of a batch of 10,000 reps stays in
 * the core's cache while the events stream by. */
typedef struct {
    uint64_t key;
} entity_slot_t;

/* fold()'s table of one rep's cells while it adds the rep's events: a
 * small open-addressing table, at most a quarter full, that stays in the
 * core's first-level cache, its slots of older reps told apart by a
 * generation instead of cleared; `used` lists the slots taken, in the
 * order taken. The rep's region then takes them at once, sized to fit,
 * and its team too. A region at most 7/8 full is probed far more per
 * cell than this, grows (moving its cells) and is cleared line by line. */
#define SCRATCH_BITS 8
#define SCRATCH_MAX  (1 << (SCRATCH_BITS - 2))

typedef struct {
    int16_t window;
    int16_t metric;
    uint32_t gen;
    int64_t bucket;
    int64_t value;
    uint64_t hash;
} scratch_slot_t;

typedef struct {
    scratch_slot_t slot[1 << SCRATCH_BITS];
    uint16_t used[SCRATCH_MAX];
    int nused;
    uint32_t gen;
} scratch_t;

/* An event of the batch as gw_coalesce_add() logs it, for fold() to add
 * to its rep and its team: what its cells, times and parts are made of,
 * with its lateness per window (bit w) already counted. */
typedef struct {
    uint32_t rep, team; /* delta indices */
    int64_t t;          /* occurred_at_ms */
    int64_t amount;     /* amount_minor */
    int64_t stream_ms;
    int64_t offset;
    int32_t partition;
    int16_t kind;
    uint8_t flags; /* PENDING_GOAL, PENDING_NEXT_STEP */
    uint8_t late;
} pending_t;

#define PENDING_GOAL      1
#define PENDING_NEXT_STEP 2

struct gw_coalesce_s {
    const gw_window_t *windows;
    int nwindows;
    uint64_t coarse_ms; /* the windows' longest bucket (cell_hash) */
    const gw_kinds_t *kinds;
    gw_arena_t *strings;

    gw_delta_t *deltas;
    size_t ndeltas, cap_deltas;
    bucket_memo_t memo_event[GW_WINDOWS_MAX]; /* per window: an event's bucket */
    bucket_memo_t memo_start[GW_WINDOWS_MAX]; /* ... and its stream time's, minus grace */
    entity_slot_t *etab;                      /* entity table */
    size_t etab_cap;

    gw_delta_cell_t *cells; /* the pool of regions */
    size_t ncells, cap_cells;
    int32_t freed[REGION_CLASSES]; /* first free region of 2^k slots, -1 if none */
    int first_bits[2];             /* per entity kind: see learn_first_bits() */

    gw_delta_part_t *parts;
    size_t nparts, cap_parts;
    part_slot_t *ptab; /* a team's part of a partition: see find_part() */
    size_t ptab_cap, ptab_used;

    uint64_t events;
    uint64_t late[GW_WINDOWS_MAX];
    int last_rep, last_team;

    pending_t *log; /* the events added but not yet folded: see fold() */
    size_t nlog, cap_log;
    uint32_t *order; /* fold(): the log's events by rep */
    uint32_t *ends;  /* fold(): per delta, one past its last in `order` */
    size_t cap_ends;
    scratch_t scratch; /* fold(): a rep's cells while its events are added */

    gw_avail_record_t *records; /* availability records, few per batch */
    size_t nrecords, cap_records;

    const gw_calendar_t *cals; /* periods: the teams' calendars */
    int ncals;
    unsigned periods;
    gw_calendar_t utc;
    gw_period_cell_t *pcells;
    size_t npcells, cap_pcells;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* hash_bytes(): a hash of `n` bytes, eight at a time (a byte at a time,
 * FNV cost a serial multiply per byte: IDs are 10-40 bytes), the last
 * word zero-padded, then the length. Not finalised: see entity_key(). */
static inline uint64_t hash_word(uint64_t h, uint64_t w)
{
    h = (h ^ (w * 0x87c37b91114253d5ull)) * 0x4cf5ad432745937full;
    return h ^ (h >> 29);
}

#define HASH_SEED 0x9e3779b97f4a7c15ull

static inline uint64_t hash_tail(uint64_t h, const char *p, size_t n)
{
    uint64_t w = 0;
    for (size_t j = 0; j < n; j++)
        w |= (uint64_t)(unsigned char)p[j] << (8 * j);
    return n ? hash_word(h, w) : h;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = HASH_SEED;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = hash_word(h, w);
    }
    return hash_tail(h, p + i, n - i) ^ ((uint64_t)n * 0xc2b2ae3d27d4eb4full);
}

/* hash_bytes() of the NUL-terminated string in `s`, an array of `cap`
 * bytes, and its length in *len: the string is read in whole words of the
 * array, the first NUL found in a word (no strlen first). */
static inline uint64_t hash_id(const char *s, size_t cap, size_t *len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t h = HASH_SEED;
    size_t i = 0;
    for (; i + 8 <= cap; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        /* the lowest byte flagged is the first NUL (flags above it may be
         * wrong, and are not used) */
        uint64_t zero = (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
        if (zero) {
            unsigned k = (unsigned)__builtin_ctzll(zero) >> 3;
            if (k)
                h = hash_word(h, w & ((1ull << (8 * k)) - 1));
            *len = i + k;
            return h ^ ((uint64_t)(i + k) * 0xc2b2ae3d27d4eb4full);
        }
        h = hash_word(h, w);
    }
    size_t n = i + strlen(s + i);
    *len = n;
    return hash_tail(h, s + i, n - i) ^ ((uint64_t)n * 0xc2b2ae3d27d4eb4full);
#else
    (void)cap;
    *len = strlen(s);
    return hash_bytes(s, *len);
#endif
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

/* As grow(), for the deltas: 64-byte aligned, so that each line of a delta
 * (see gw_delta_t) is one cache line. */
static int grow_deltas(gw_coalesce_t *c, size_t need)
{
    if (need <= c->cap_deltas)
        return 0;
    size_t ncap = c->cap_deltas ? c->cap_deltas * 2 : 256;
    while (ncap < need)
        ncap *= 2;
    gw_delta_t *n = aligned_alloc(_Alignof(gw_delta_t), ncap * sizeof(gw_delta_t));
    if (!n)
        return -1;
    if (c->ndeltas)
        memcpy(n, c->deltas, c->ndeltas * sizeof(gw_delta_t));
    free(c->deltas);
    c->deltas = n;
    c->cap_deltas = ncap;
    return 0;
}

static void forget_regions(gw_coalesce_t *c)
{
    c->ncells = 0;
    for (int k = 0; k < REGION_CLASSES; k++)
        c->freed[k] = -1;
}

gw_coalesce_t *gw_coalesce_new(const gw_window_t *windows, int nwindows, const gw_kinds_t *kinds)
{
    gw_coalesce_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->windows = windows;
    c->nwindows = nwindows;
    c->coarse_ms = 1;
    for (int w = 0; w < nwindows; w++)
        if ((uint64_t)windows[w].bucket_ms > c->coarse_ms)
            c->coarse_ms = (uint64_t)windows[w].bucket_ms;
    c->kinds = kinds;
    for (int w = 0; w < GW_WINDOWS_MAX; w++)
        c->memo_event[w] = c->memo_start[w] = (bucket_memo_t){1, 0, 0, 0};
    c->first_bits[0] = c->first_bits[1] = REGION_FIRST_BITS;
    c->strings = gw_arena_new(65536);
    c->etab_cap = 1024;
    c->etab = calloc(c->etab_cap, sizeof(entity_slot_t));
    forget_regions(c);
    if (!c->strings || !c->etab) {
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
    free(c->parts);
    free(c->ptab);
    free(c->records);
    free(c->pcells);
    free(c->log);
    free(c->order);
    free(c->ends);
    free(c);
}

/* Empties the entity table of `*cap` slots that held `used` entries. A
 * table 16 times too big for the batch it served is given back for one 4
 * times it (at least `floor` slots): after a backlog's big batches, the
 * small ones of a live stream would otherwise probe megabytes (a cache miss
 * per event) and clear them every batch. Keeps the old table if calloc
 * fails. */
static void clear_table(entity_slot_t **tab, size_t *cap, size_t used, size_t floor)
{
    if (*cap > floor && used * 16 < *cap) {
        size_t ncap = floor;
        while (ncap < used * 4)
            ncap *= 2;
        entity_slot_t *t = calloc(ncap, sizeof(entity_slot_t));
        if (t) {
            free(*tab);
            *tab = t;
            *cap = ncap;
            return;
        }
    }
    if (used)
        memset(*tab, 0, *cap * sizeof(entity_slot_t));
}

int gw_coalesce_add_record(gw_coalesce_t *c, const gw_event_t *ev, int32_t partition)
{
    if (c->nrecords == c->cap_records) {
        size_t ncap = c->cap_records ? c->cap_records * 2 : 16;
        gw_avail_record_t *n = realloc(c->records, ncap * sizeof(*n));
        if (!n)
            return -1;
        c->records = n;
        c->cap_records = ncap;
    }
    gw_avail_record_t *r = &c->records[c->nrecords++];
    r->avail = ev->avail;
    r->partition = partition;
    r->at_ms = ev->occurred_at_ms;
    r->end_ms = ev->ends_at_ms;
    memcpy(r->tenant, ev->tenant, sizeof(r->tenant));
    memcpy(r->rep, ev->rep, sizeof(r->rep));
    memcpy(r->team, ev->team, sizeof(r->team));
    memcpy(r->record_id, ev->record_id, sizeof(r->record_id));
    return 0;
}

size_t gw_coalesce_records(const gw_coalesce_t *c, const gw_avail_record_t **out)
{
    *out = c->records;
    return c->nrecords;
}

void gw_coalesce_set_periods(gw_coalesce_t *c, const gw_calendar_t *cals, int ncals,
                             unsigned periods)
{
    c->cals = cals;
    c->ncals = ncals;
    c->periods = periods;
    gw_calendar_init_utc(&c->utc);
}

static const gw_coalesce_t *sealed(const gw_coalesce_t *c);

const gw_period_cell_t *gw_coalesce_period_cell(const gw_coalesce_t *c, int32_t index)
{
    return &sealed(c)->pcells[index];
}

/* Adds `value` of `metric` to the rep's cell of period (kind, first). */
static int add_period_cell(gw_coalesce_t *c, gw_delta_t *d, int kind, int64_t first, int metric,
                           int64_t value)
{
    for (int32_t i = d->pcells; i >= 0; i = c->pcells[i].next) {
        gw_period_cell_t *p = &c->pcells[i];
        if (p->kind == kind && p->metric == metric && p->first_day == first) {
            p->value += value;
            return 0;
        }
    }
    if (c->npcells == c->cap_pcells) {
        size_t ncap = c->cap_pcells ? c->cap_pcells * 2 : 1024;
        gw_period_cell_t *n = realloc(c->pcells, ncap * sizeof(*n));
        if (!n)
            return -1;
        c->pcells = n;
        c->cap_pcells = ncap;
    }
    c->pcells[c->npcells] =
        (gw_period_cell_t){d->pcells, (int16_t)kind, (int16_t)metric, first, value};
    d->pcells = (int32_t)c->npcells++;
    return 0;
}

/* A rep's event at `t` of `kind` (with `amount`) in its calendar periods:
 * the count of its kind, and its amount when it has one; `team` is its
 * team's id. The local day is cached per rep (a batch holds few days of
 * one rep). */
static int add_periods(gw_coalesce_t *c, gw_delta_t *d, const char *team, int64_t t, int kind,
                       int64_t amount)
{
    if (!d->cal) {
        const gw_calendar_t *cal = gw_calendar_for_team(c->cals, c->ncals, d->tenant, team);
        d->cal = cal ? cal : &c->utc;
        d->day_from = d->day_to = 0;
    }
    if (t < d->day_from || t >= d->day_to) {
        d->day = gw_calendar_day(d->cal, t);
        d->day_from = gw_calendar_day_start(d->cal, d->day);
        d->day_to = gw_calendar_day_start(d->cal, d->day + 1);
    }
    for (int k = 0; k < GW_PERIOD_COUNT; k++) {
        if (!(c->periods & (1u << k)))
            continue;
        int64_t next, first = gw_calendar_period_first(d->cal, (gw_period_kind_t)k, d->day, &next);
        if (add_period_cell(c, d, k, first, gw_metric_count(kind), 1) != 0 ||
            (amount > 0 && add_period_cell(c, d, k, first, gw_metric_amount(kind), amount) != 0))
            return -1;
    }
    return 0;
}

/* Empties the parts table, giving back one 16 times too big for the batch
 * it served (as clear_table does). */
static void clear_parts_table(gw_coalesce_t *c)
{
    bool dirty = c->ptab_used > 0;
    if (c->ptab_cap > 256 && c->ptab_used * 16 < c->ptab_cap) {
        size_t ncap = 256;
        while (ncap < c->ptab_used * 4)
            ncap *= 2;
        part_slot_t *t = malloc(ncap * sizeof(*t));
        if (t) {
            free(c->ptab);
            c->ptab = t;
            c->ptab_cap = ncap;
            dirty = true;
        }
    }
    if (dirty)
        for (size_t i = 0; i < c->ptab_cap; i++)
            c->ptab[i].delta = -1;
    c->ptab_used = 0;
}

/* Sizes the first region of each kind of entity for the next batch: the
 * median region of the batch's entities of that kind. A batch's entities
 * mostly hold as many cells as the last one's did (a replay: reps with
 * 20-40 cells, teams with more; a live stream: a few), and an entity
 * that would have grown to the median leaves the smaller regions behind
 * unused: starting there spares clearing and moving them (and their
 * memory), and one that stays smaller costs at most what the median's
 * growth would have left behind. */
static void learn_first_bits(gw_coalesce_t *c)
{
    size_t count[2][REGION_CLASSES] = {{0}}, total[2] = {0};
    for (size_t i = 0; i < c->ndeltas; i++) {
        int kind = c->deltas[i].kind != GW_ENTITY_REP;
        count[kind][c->deltas[i].region_bits]++;
        total[kind]++;
    }
    for (int kind = 0; kind < 2; kind++) {
        if (!total[kind])
            continue;
        size_t seen = 0;
        int k = 0;
        while ((seen += count[kind][k]) * 2 < total[kind])
            k++;
        c->first_bits[kind] = k < REGION_FIRST_BITS ? REGION_FIRST_BITS : k;
    }
}

void gw_coalesce_reset(gw_coalesce_t *c)
{
    learn_first_bits(c);
    c->nrecords = 0;
    c->npcells = 0;
    gw_arena_reset(c->strings);
    /* Clearing costs O(table), and the table follows the batches' size, so
     * this is proportional to the work the batch itself did. */
    clear_table(&c->etab, &c->etab_cap, c->ndeltas, 1024);
    /* The pool needs no clearing (a region is cleared when handed out); one
     * 16 times bigger than the batch used is given back down to 4 times. */
    if (c->cap_cells > 4096 && c->ncells * 16 < c->cap_cells) {
        size_t ncap = 4096;
        while (ncap < c->ncells * 4)
            ncap *= 2;
        gw_delta_cell_t *n = realloc(c->cells, ncap * sizeof(*n));
        if (n) {
            c->cells = n;
            c->cap_cells = ncap;
        }
    }
    forget_regions(c);
    clear_parts_table(c);
    c->ndeltas = c->nparts = 0;
    c->nlog = 0;
    c->events = 0;
    memset(c->late, 0, sizeof(c->late));
}

/* An entity as looked up: its kind, tenant and id with their lengths, and
 * its hash. */
typedef struct {
    gw_entity_kind_t kind;
    const char *tenant, *id;
    size_t tlen, ilen;
    uint64_t hash;
} ekey_t;

/* `thash` and `ihash` are hash_bytes() of the tenant and the id (an
 * event's rep and team share the tenant's). */
static ekey_t entity_key(gw_entity_kind_t kind, const char *tenant, size_t tlen, uint64_t thash,
                         const char *id, size_t ilen, uint64_t ihash)
{
    uint64_t h =
        mix64(thash * 0xff51afd7ed558ccdull + ihash + (uint64_t)kind * 0x9e3779b97f4a7c15ull);
    return (ekey_t){kind, tenant, id, tlen, ilen, h};
}

static ekey_t entity_key_of(gw_entity_kind_t kind, const char *tenant, const char *id)
{
    size_t tlen = strlen(tenant), ilen = strlen(id);
    return entity_key(kind, tenant, tlen, hash_bytes(tenant, tlen), id, ilen, hash_bytes(id, ilen));
}

static bool is_entity(const gw_delta_t *d, const ekey_t *k)
{
    if (d->kind != k->kind)
        return false;
    size_t n = k->tlen + 1 + k->ilen;
    if (n <= GW_DELTA_KEY_MAX)
        return d->klen == n && !memcmp(d->key, k->tenant, k->tlen + 1) &&
               !memcmp(d->key + k->tlen + 1, k->id, k->ilen);
    return d->klen == 0 && !strcmp(d->id, k->id) && !strcmp(d->tenant, k->tenant);
}

/* An entity table slot: the delta's index + 1 (0: empty) in the low half,
 * the high half of the entity's hash in the high half, so that probing
 * passes other entities without reading their deltas and strings (two
 * cache misses each). */
static uint64_t entity_slot(uint64_t hash, size_t index)
{
    return (hash & 0xffffffff00000000ull) | ((uint64_t)index + 1);
}

static bool slot_may_be(uint64_t slot, uint64_t hash)
{
    return (slot >> 32) == (hash >> 32);
}

static size_t slot_index(uint64_t slot)
{
    return (size_t)(uint32_t)slot - 1;
}

static int rehash_entities(gw_coalesce_t *c)
{
    size_t ncap = c->etab_cap * 2;
    entity_slot_t *t = calloc(ncap, sizeof(entity_slot_t));
    if (!t)
        return -1;
    for (size_t i = 0; i < c->ndeltas; i++) {
        gw_delta_t *d = &c->deltas[i];
        uint64_t hash = entity_key_of(d->kind, d->tenant, d->id).hash;
        size_t s = hash & (ncap - 1);
        while (t[s].key)
            s = (s + 1) & (ncap - 1);
        t[s] = (entity_slot_t){entity_slot(hash, i)};
    }
    free(c->etab);
    c->etab = t;
    c->etab_cap = ncap;
    return 0;
}

static int find_entity(gw_coalesce_t *c, const ekey_t *k)
{
    if ((c->ndeltas + 1) * 2 > c->etab_cap && rehash_entities(c) != 0)
        return -1;
    size_t mask = c->etab_cap - 1;
    size_t s = k->hash & mask;
    for (uint64_t slot; (slot = c->etab[s].key) != 0; s = (s + 1) & mask)
        if (slot_may_be(slot, k->hash) && is_entity(&c->deltas[slot_index(slot)], k))
            return (int)slot_index(slot);
    if (grow_deltas(c, c->ndeltas + 1) != 0)
        return -1;
    gw_delta_t *d = &c->deltas[c->ndeltas];
    memset(d, 0, sizeof(*d));
    d->kind = k->kind;
    d->tenant = gw_arena_strndup(c->strings, k->tenant, k->tlen);
    d->id = gw_arena_strndup(c->strings, k->id, k->ilen);
    if (!d->tenant || !d->id)
        return -1;
    size_t n = k->tlen + 1 + k->ilen;
    if (n <= GW_DELTA_KEY_MAX) {
        memcpy(d->key, k->tenant, k->tlen + 1);
        memcpy(d->key + k->tlen + 1, k->id, k->ilen);
        d->klen = (uint8_t)n;
    }
    d->first_event_ms = INT64_MAX;
    d->last_event_ms = INT64_MIN;
    d->wm_ms = INT64_MIN;
    for (int w = 0; w < GW_WINDOWS_MAX; w++)
        d->cells[w] = -1;
    d->parts = -1;
    d->team_delta = -1;
    d->pcells = -1;
    d->cal = NULL;
    c->etab[s] = (entity_slot_t){entity_slot(k->hash, c->ndeltas)};
    return (int)c->ndeltas++;
}

/* The slot hash of a cell within its entity's region. An event's cells
 * (its kind's count, amount, goal or next step, in each window) are laid
 * side by side, so that they share one or two cache lines of the region
 * instead of a line each: the hash is that of the period of the coarsest
 * window's bucket holding the cell's bucket (the same for every window
 * when the buckets nest, as 6 hours in a day) and of the kind, plus an
 * offset by the metric's type and the window. Only a hash: buckets that
 * do not nest spread more, and nothing else changes. */
static uint64_t period_hash(const gw_coalesce_t *c, int window, int64_t bucket)
{
    /* wraps for absurd times: a hash, as long as it is a function of
     * (window, bucket) */
    uint64_t start = (uint64_t)bucket * (uint64_t)c->windows[window].bucket_ms;
    return mix64((start / c->coarse_ms) * 0x9e3779b97f4a7c15ull);
}

static uint64_t cell_hash_in(const gw_coalesce_t *c, uint64_t period, int window, int metric)
{
    uint64_t kind = (uint64_t)metric, type = 0;
    if (metric >= GW_METRIC_KIND_BASE) {
        kind = (uint64_t)(metric - GW_METRIC_KIND_BASE) % GW_KIND_MAX;
        type = (uint64_t)(metric - GW_METRIC_KIND_BASE) / GW_KIND_MAX;
        type = type > 1 ? type - 1 : type; /* amount and goal share: kinds have one or the other */
    }
    /* kind * odd: the kinds of one period in distinct slots */
    return (period ^ (kind * 0xd6e8feb86659fd93ull)) + type * (uint64_t)c->nwindows +
           (uint64_t)window;
}

static uint64_t cell_hash(const gw_coalesce_t *c, int window, int64_t bucket, int metric)
{
    return cell_hash_in(c, period_hash(c, window, bucket), window, metric);
}

/* One cell an event adds to, with its hash (see event_cells). */
typedef struct {
    int16_t window;
    int16_t metric;
    int64_t bucket;
    int64_t value;
    uint64_t hash;
} cell_add_t;

/* A cleared region of 2^k slots: a freed one of that size, else new slots
 * at the end of the pool. -1 on OOM. */
static int32_t take_region(gw_coalesce_t *c, int k)
{
    size_t size = (size_t)1 << k;
    int32_t r = c->freed[k];
    if (r >= 0) {
        c->freed[k] = c->cells[r].next;
    } else {
        if (c->ncells + size > INT32_MAX ||
            grow((void **)&c->cells, &c->cap_cells, sizeof(gw_delta_cell_t), c->ncells + size) != 0)
            return -1;
        r = (int32_t)c->ncells;
        c->ncells += size;
    }
    for (size_t i = 0; i < size; i++)
        c->cells[(size_t)r + i].window = -1;
    return r;
}

/* Writes `cell` into slot `s` of `d`'s region (an empty one) and links it
 * into the delta's list of its window. */
static void put_cell(gw_coalesce_t *c, gw_delta_t *d, size_t s, const gw_delta_cell_t *cell)
{
    gw_delta_cell_t *slot = &c->cells[(size_t)d->region + s];
    *slot = *cell;
    slot->next = d->cells[cell->window];
    d->cells[cell->window] = d->region + (int32_t)s;
}

/* Puts `cell` into the empty slot its hash finds in `d`'s region. */
static void place(gw_coalesce_t *c, gw_delta_t *d, const gw_delta_cell_t *cell, uint64_t hash)
{
    size_t mask = ((size_t)1 << d->region_bits) - 1;
    size_t s = hash & mask;
    const gw_delta_cell_t *r = &c->cells[d->region];
    while (r[s].window >= 0)
        s = (s + 1) & mask;
    put_cell(c, d, s, cell);
}

/* Gives delta `d` a region 2^REGION_GROWTH_BITS times as big (its first:
 * see learn_first_bits()), moves its cells there and frees the old one. */
static int grow_region(gw_coalesce_t *c, gw_delta_t *d)
{
    int old_bits = d->region_bits;
    int bits = old_bits ? old_bits + REGION_GROWTH_BITS : c->first_bits[d->kind != GW_ENTITY_REP];
    while ((uint64_t)d->ncells * 8 > ((uint64_t)7 << bits)) /* packed cells: all fit */
        bits++;
    if (bits >= REGION_CLASSES)
        return -1;
    int32_t nr = take_region(c, bits);
    if (nr < 0)
        return -1;
    int32_t old = d->region;
    d->region = nr;
    d->region_bits = (int16_t)bits;
    int32_t heads[GW_WINDOWS_MAX];
    memcpy(heads, d->cells, sizeof(heads));
    for (int w = 0; w < GW_WINDOWS_MAX; w++)
        d->cells[w] = -1;
    if (!old_bits && d->ncells) { /* packed (scratch_flush()): moved from its lists */
        for (int w = 0; w < GW_WINDOWS_MAX; w++)
            for (int32_t i = heads[w]; i >= 0; i = c->cells[i].next) {
                const gw_delta_cell_t *cell = &c->cells[i];
                place(c, d, cell,
                      cell_hash_in(c, period_hash(c, w, cell->bucket), w, cell->metric));
            }
    }
    if (old_bits) {
        size_t size = (size_t)1 << old_bits;
        for (size_t i = 0; i < size; i++) {
            const gw_delta_cell_t *cell = &c->cells[(size_t)old + i];
            if (cell->window >= 0)
                place(c, d, cell, cell_hash(c, cell->window, cell->bucket, cell->metric));
        }
        c->cells[old].next = c->freed[old_bits];
        c->freed[old_bits] = old;
    }
    return 0;
}

/* Adds an event's cells `adds` to delta `d`, whose region first grows
 * until they fit in 7/8 of it even if all are new. */
static int add_cells(gw_coalesce_t *c, gw_delta_t *d, const cell_add_t *adds, int n)
{
    while (d->region_bits == 0 ||
           (uint64_t)(d->ncells + (uint32_t)n) * 8 > ((uint64_t)7 << d->region_bits))
        if (grow_region(c, d) != 0)
            return -1;
    size_t mask = ((size_t)1 << d->region_bits) - 1;
    int32_t region = d->region;
    gw_delta_cell_t *r = &c->cells[region];
    uint32_t added = 0;
    for (int k = 0; k < n; k++) {
        const cell_add_t *a = &adds[k];
        for (size_t s = a->hash & mask;; s = (s + 1) & mask) {
            gw_delta_cell_t *cell = &r[s];
            if (cell->window < 0) {
                *cell = (gw_delta_cell_t){d->cells[a->window], a->window, a->metric, a->bucket,
                                          a->value};
                d->cells[a->window] = region + (int32_t)s;
                added++;
                break;
            }
            if (cell->bucket == a->bucket && cell->metric == a->metric &&
                cell->window == a->window) {
                cell->value += a->value;
                break;
            }
        }
    }
    d->ncells += added;
    return 0;
}

static void widen_part(gw_delta_part_t *p, int64_t offset)
{
    if (offset < p->min_offset)
        p->min_offset = offset;
    if (offset > p->max_offset)
        p->max_offset = offset;
}

static size_t part_slot_hash(int entity, int32_t partition)
{
    return (size_t)mix64(((uint64_t)(uint32_t)entity << 32) | (uint32_t)partition);
}

/* The parts table's slot of (entity, partition): the one holding it, or
 * the empty one where it goes. */
static part_slot_t *part_slot(const gw_coalesce_t *c, int entity, int32_t partition)
{
    size_t mask = c->ptab_cap - 1;
    size_t s = part_slot_hash(entity, partition) & mask;
    while (c->ptab[s].delta >= 0 &&
           (c->ptab[s].delta != entity || c->ptab[s].partition != partition))
        s = (s + 1) & mask;
    return &c->ptab[s];
}

/* Makes room for one more entry in the parts table (at most half full). */
static int reserve_part_slot(gw_coalesce_t *c)
{
    if ((c->ptab_used + 1) * 2 <= c->ptab_cap)
        return 0;
    size_t ocap = c->ptab_cap, ncap = ocap ? ocap * 2 : 256;
    part_slot_t *old = c->ptab, *t = malloc(ncap * sizeof(*t));
    if (!t)
        return -1;
    for (size_t i = 0; i < ncap; i++)
        t[i].delta = -1;
    c->ptab = t;
    c->ptab_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].delta >= 0)
            *part_slot(c, old[i].delta, old[i].partition) = old[i];
    free(old);
    return 0;
}

/* Widens the offset range of `partition` in entity `entity`'s parts, or
 * adds one. Its head part is checked first: a rep's events come from one
 * partition (its key's), and a poll returns runs of one partition's
 * messages. A rep's part found further moves to the front, so that its head
 * is the partition of its latest event (the roster's); a team's (whose
 * list holds every partition its reps write to, in no order that matters)
 * is found through the parts table instead of a walk. */
static int add_part(gw_coalesce_t *c, int entity, int32_t partition, int64_t offset)
{
    gw_delta_t *d = &c->deltas[entity];
    if (d->parts >= 0 && c->parts[d->parts].partition == partition) {
        widen_part(&c->parts[d->parts], offset);
        return 0;
    }
    part_slot_t *slot = NULL;
    if (d->kind == GW_ENTITY_REP) {
        for (int32_t i = d->parts, prev = -1; i >= 0; prev = i, i = c->parts[i].next) {
            gw_delta_part_t *p = &c->parts[i];
            if (p->partition == partition) {
                widen_part(p, offset);
                if (prev >= 0) {
                    c->parts[prev].next = p->next;
                    p->next = d->parts;
                    d->parts = i;
                }
                return 0;
            }
        }
    } else {
        if (reserve_part_slot(c) != 0)
            return -1;
        slot = part_slot(c, entity, partition);
        if (slot->delta >= 0) {
            widen_part(&c->parts[slot->part], offset);
            return 0;
        }
    }
    if (c->nparts >= INT32_MAX ||
        grow((void **)&c->parts, &c->cap_parts, sizeof(gw_delta_part_t), c->nparts + 1) != 0)
        return -1;
    gw_delta_part_t *p = &c->parts[c->nparts];
    p->partition = partition;
    p->min_offset = p->max_offset = offset;
    p->next = d->parts;
    d->parts = (int32_t)c->nparts++;
    if (slot) {
        *slot = (part_slot_t){entity, partition, d->parts};
        c->ptab_used++;
    }
    return 0;
}

/* Sets `m` to the bucket of time `x` in buckets of `bucket_ms`. */
static void memo_set(bucket_memo_t *m, int64_t x, int64_t bucket_ms)
{
    m->bucket = gw_floor_div(x, bucket_ms);
    if (__builtin_mul_overflow(m->bucket, bucket_ms, &m->from) ||
        __builtin_add_overflow(m->from, bucket_ms, &m->to))
        m->from = 1, m->to = 0;
}

/* An event at `t` when its partition's stream time is `stream_ms`: the
 * bucket of `t` in window w in memo_event[w] (with its period_hash), and
 * whether it is too late for w in bit w of the result (as
 * gw_window_is_late(), with the buckets memoised). */
static unsigned event_buckets(gw_coalesce_t *c, int64_t t, int64_t stream_ms)
{
    unsigned late = 0;
    for (int w = 0; w < c->nwindows; w++) {
        const gw_window_t *win = &c->windows[w];
        bucket_memo_t *me = &c->memo_event[w], *ms = &c->memo_start[w];
        if (t < me->from || t >= me->to) {
            memo_set(me, t, win->bucket_ms);
            me->period_hash = period_hash(c, w, me->bucket);
        }
        int64_t wm = stream_ms - win->grace_ms;
        if (wm < ms->from || wm >= ms->to)
            memo_set(ms, wm, win->bucket_ms);
        if (me->bucket < ms->bucket - win->nbuckets + 1)
            late |= 1u << w;
    }
    return late;
}

/* The cells logged event `p` adds to (the same for its rep and its team),
 * with their hashes, and in *late its lateness bits (event_buckets()). */
static int event_cells(gw_coalesce_t *c, const pending_t *p, cell_add_t *adds, unsigned *late)
{
    int n = 0;
    *late = event_buckets(c, p->t, p->stream_ms);
    /* events and activities are sums of the kinds' counts: readers derive
     * them, so they cost no writes here; a zero adds nothing. */
    int metrics[4], nm = 0;
    int64_t values[4];
    metrics[nm] = gw_metric_count(p->kind);
    values[nm++] = 1;
    if (p->amount > 0) {
        metrics[nm] = gw_metric_amount(p->kind);
        values[nm++] = p->amount;
    }
    if (p->flags & PENDING_GOAL) {
        metrics[nm] = gw_metric_goal(p->kind);
        values[nm++] = 1;
    }
    if (p->flags & PENDING_NEXT_STEP) {
        metrics[nm] = gw_metric_next_step(p->kind);
        values[nm++] = 1;
    }
    for (int w = 0; w < c->nwindows; w++) {
        if (*late & (1u << w))
            continue;
        const bucket_memo_t *me = &c->memo_event[w];
        for (int k = 0; k < nm; k++) {
            cell_add_t *a = &adds[n++];
            a->window = (int16_t)w;
            a->metric = (int16_t)metrics[k];
            a->bucket = me->bucket;
            a->value = values[k];
            a->hash = cell_hash_in(c, me->period_hash, w, metrics[k]);
        }
    }
    return n;
}

/* Adds logged event `p` whose cells are `adds` to entity `e`: parts,
 * times, late counts, cells (unless `adds` is NULL) and periods; `team` is
 * the id of its team. */
static int add_to_entity(gw_coalesce_t *c, int e, const pending_t *p, const cell_add_t *adds, int n,
                         unsigned late, const char *team)
{
    if (add_part(c, e, p->partition, p->offset) != 0)
        return -1;
    gw_delta_t *d = &c->deltas[e];
    d->nevents++;
    if (p->t < d->first_event_ms)
        d->first_event_ms = p->t;
    if (p->t > d->last_event_ms)
        d->last_event_ms = p->t;
    if (p->stream_ms > d->wm_ms)
        d->wm_ms = p->stream_ms;
    for (int w = 0; w < c->nwindows; w++)
        if (late & (1u << w))
            d->late[w]++;
    if (adds && add_cells(c, d, adds, n) != 0)
        return -1;
    if (c->periods && d->kind == GW_ENTITY_REP)
        return add_periods(c, d, team, p->t, p->kind, p->amount);
    return 0;
}

/* `ev` at (`partition`, `offset`), stream time `stream_ms`, as logged. */
static pending_t pending_of(const gw_event_t *ev, int32_t partition, int64_t offset,
                            int64_t stream_ms)
{
    return (pending_t){.t = ev->occurred_at_ms,
                       .amount = ev->amount_minor,
                       .stream_ms = stream_ms,
                       .offset = offset,
                       .partition = partition,
                       .kind = (int16_t)ev->kind,
                       .flags = (uint8_t)((ev->has_goal ? PENDING_GOAL : 0) |
                                          (ev->has_next_step ? PENDING_NEXT_STEP : 0))};
}

/* Sets rep `d`'s team to that of its latest event, delta `team`. */
static void set_team(gw_coalesce_t *c, gw_delta_t *d, int team)
{
    if (d->team_delta != team) {
        d->team = c->deltas[team].id;
        d->team_delta = team;
    }
}

/* How far ahead fold() fetches the logged events it is about to add. */
#define FOLD_AHEAD 16

/* Empties the scratch table. */
static void scratch_clear(scratch_t *sc)
{
    sc->nused = 0;
    if (++sc->gen == 0) {
        for (int i = 0; i < (1 << SCRATCH_BITS); i++)
            sc->slot[i].gen = 0;
        sc->gen = 1;
    }
}

/* Adds cells `adds` to the scratch table; false (none added) when they
 * might not fit. */
static bool scratch_add(scratch_t *sc, const cell_add_t *adds, int n)
{
    if (sc->nused + n > SCRATCH_MAX)
        return false;
    const size_t mask = (1u << SCRATCH_BITS) - 1;
    for (int k = 0; k < n; k++) {
        const cell_add_t *a = &adds[k];
        for (size_t s = a->hash & mask;; s = (s + 1) & mask) {
            scratch_slot_t *x = &sc->slot[s];
            if (x->gen != sc->gen) {
                *x = (scratch_slot_t){a->window, a->metric, sc->gen, a->bucket, a->value, a->hash};
                sc->used[sc->nused++] = (uint16_t)s;
                break;
            }
            if (x->bucket == a->bucket && x->metric == a->metric && x->window == a->window) {
                x->value += a->value;
                break;
            }
        }
    }
    return true;
}

/* Adds the scratch table's cells to delta `e` (a region sized for them
 * all when it has none yet), in chunks; or with `pack`, to a delta with
 * no cells yet, as a packed run at the pool's end, without a region: its
 * lists only (the next cell added gives it a region, see grow_region()). */
static int scratch_flush(gw_coalesce_t *c, const scratch_t *sc, int e, bool pack)
{
    gw_delta_t *d = &c->deltas[e];
    if (pack && d->region_bits == 0 && d->ncells == 0) {
        size_t n = (size_t)sc->nused;
        if (c->ncells + n > INT32_MAX ||
            grow((void **)&c->cells, &c->cap_cells, sizeof(gw_delta_cell_t), c->ncells + n) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            const scratch_slot_t *x = &sc->slot[sc->used[i]];
            int32_t at = (int32_t)(c->ncells + i);
            c->cells[at] =
                (gw_delta_cell_t){d->cells[x->window], x->window, x->metric, x->bucket, x->value};
            d->cells[x->window] = at;
        }
        c->ncells += n;
        d->ncells = (uint32_t)n;
        return 0;
    }
    if (d->region_bits == 0 && sc->nused > 0) {
        int bits = c->first_bits[d->kind != GW_ENTITY_REP];
        while ((uint64_t)sc->nused * 8 > ((uint64_t)7 << bits))
            bits++;
        int32_t r = take_region(c, bits);
        if (r < 0)
            return -1;
        d = &c->deltas[e];
        d->region = r;
        d->region_bits = (int16_t)bits;
    }
    cell_add_t adds[32];
    int n = 0;
    for (int i = 0; i < sc->nused; i++) {
        const scratch_slot_t *x = &sc->slot[sc->used[i]];
        adds[n++] = (cell_add_t){x->window, x->metric, x->bucket, x->value, x->hash};
        if (n == 32 || i + 1 == sc->nused) {
            if (add_cells(c, &c->deltas[e], adds, n) != 0)
                return -1;
            n = 0;
        }
    }
    return 0;
}

/* Adds to team `t` what fold() just added to rep `r` (all of the rep's
 * delta: its events of this batch were all logged, and all name `t`):
 * times, counts, parts and cells (those of `sc` when not NULL: the rep's,
 * with their hashes). */
static int merge_into_team(gw_coalesce_t *c, int r, int t, const scratch_t *sc)
{
    const gw_delta_t *dr = &c->deltas[r];
    gw_delta_t *dt = &c->deltas[t];
    dt->nevents += dr->nevents;
    if (dr->first_event_ms < dt->first_event_ms)
        dt->first_event_ms = dr->first_event_ms;
    if (dr->last_event_ms > dt->last_event_ms)
        dt->last_event_ms = dr->last_event_ms;
    if (dr->wm_ms > dt->wm_ms)
        dt->wm_ms = dr->wm_ms;
    for (int w = 0; w < c->nwindows; w++)
        if (dr->late[w]) /* mostly none: the team's line stays unread */
            dt->late[w] += dr->late[w];
    for (int32_t i = dr->parts; i >= 0; i = c->parts[i].next) {
        int32_t partition = c->parts[i].partition;
        int64_t lo = c->parts[i].min_offset, hi = c->parts[i].max_offset;
        if (add_part(c, t, partition, lo) != 0 || add_part(c, t, partition, hi) != 0)
            return -1;
    }
    if (sc)
        return scratch_flush(c, sc, t, false);
    cell_add_t adds[32];
    int n = 0;
    for (int w = 0; w < c->nwindows; w++) {
        int64_t bucket = 0;
        uint64_t period = 0;
        bool known = false;
        for (int32_t i = dr->cells[w]; i >= 0; i = c->cells[i].next) {
            const gw_delta_cell_t *cell = &c->cells[i];
            if (!known || cell->bucket != bucket) {
                bucket = cell->bucket;
                period = period_hash(c, w, bucket);
                known = true;
            }
            adds[n++] = (cell_add_t){(int16_t)w, cell->metric, cell->bucket, cell->value,
                                     cell_hash_in(c, period, w, cell->metric)};
            if (n == (int)(sizeof(adds) / sizeof(adds[0]))) {
                if (add_cells(c, &c->deltas[t], adds, n) != 0)
                    return -1;
                n = 0;
            }
        }
    }
    return n ? add_cells(c, &c->deltas[t], adds, n) : 0;
}

/* Starts fetching the lines of delta `team` that adding a rep to it
 * reads: fold() asks for the next rep's team's while adding the current
 * rep. */
static void prefetch_team(const gw_coalesce_t *c, uint32_t team)
{
    const char *t = (const char *)&c->deltas[team];
    __builtin_prefetch(t + 64, 1);
    __builtin_prefetch(t + 128, 1);
}

/*
 * Adds the logged events to their entities. Each event adds to its rep a
 * few cells of the rep's region, times and a part, and the same to its
 * team: done as it is read, that is a cache miss or more per entity (a rep
 * comes back 10,000 events later in a replay, its lines long evicted).
 * Here the log is first ordered by rep (a counting sort: the deltas'
 * indices are dense), then each rep takes all its events at once, its
 * delta and region in cache after the first, the deltas (and the regions
 * they take, from the pool's end) in order, and the events fetched ahead.
 * A team's delta is the sum of its reps': a rep new to the batch whose
 * events all name one team adds its delta to the team's once (its few
 * distinct cells, not each event's), else its events are added to their
 * teams one by one. The order of a rep's events is the log's, so that its
 * latest names its team.
 */
static int fold(gw_coalesce_t *c)
{
    size_t n = c->nlog, nd = c->ndeltas;
    if (!n)
        return 0;
    if (nd + 1 > c->cap_ends) {
        uint32_t *e = realloc(c->ends, (nd + 1) * 2 * sizeof(uint32_t));
        if (!e)
            return -1;
        c->ends = e;
        c->cap_ends = (nd + 1) * 2;
    }
    const pending_t *log = c->log;
    uint32_t *ends = c->ends, *order = c->order;
    memset(ends, 0, (nd + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        ends[log[i].rep + 1]++;
    for (size_t d = 1; d <= nd; d++)
        ends[d] += ends[d - 1];
    /* ends[d] is now where delta d's events start; it ends where d+1's
     * start once they are placed */
    for (size_t i = 0; i < n; i++)
        order[ends[log[i].rep]++] = (uint32_t)i;
    size_t j = 0;
    cell_add_t adds[GW_WINDOWS_MAX * 4];
    unsigned late;
    for (size_t e = 0; e < nd; e++) {
        size_t start = j, end = ends[e];
        if (j == end)
            continue;
        gw_delta_t *d = &c->deltas[e];
        bool fresh = d->nevents == 0, one_team = true;
        uint32_t team = log[order[j]].team;
        if (end < n)
            prefetch_team(c, log[order[end]].team);
        /* a rep new to the batch gathers its cells in the scratch table
         * (unless they overflow it) */
        scratch_t *sc = fresh ? &c->scratch : NULL;
        if (sc)
            scratch_clear(sc);
        for (; j < end; j++) {
            if (j + FOLD_AHEAD < n) {
                /* both ends: a 48-byte event may span two lines */
                const char *ahead = (const char *)&log[order[j + FOLD_AHEAD]];
                __builtin_prefetch(ahead);
                __builtin_prefetch(ahead + sizeof(pending_t) - 1);
            }
            const pending_t *p = &log[order[j]];
            int na = event_cells(c, p, adds, &late);
            set_team(c, &c->deltas[e], (int)p->team);
            one_team &= p->team == team;
            if (sc && !scratch_add(sc, adds, na)) {
                if (scratch_flush(c, sc, (int)e, false) != 0)
                    return -1;
                sc = NULL;
            }
            if (add_to_entity(c, (int)e, p, sc ? NULL : adds, na, late, c->deltas[e].team) != 0)
                return -1;
        }
        if (sc && scratch_flush(c, sc, (int)e, true) != 0)
            return -1;
        if (fresh && one_team) {
            if (merge_into_team(c, (int)e, (int)team, sc) != 0)
                return -1;
            continue;
        }
        for (size_t k = start; k < end; k++) {
            const pending_t *p = &log[order[k]];
            int na = event_cells(c, p, adds, &late);
            if (add_to_entity(c, (int)p->team, p, adds, na, late, NULL) != 0)
                return -1;
        }
    }
    c->nlog = 0;
    return 0;
}

/* The delta of the event's rep or team (`k`), found or created. A rep
 * remembers the team of its latest event (by the id of `ev`'s team: see
 * set_team() for a logged event's). */
static int locate(gw_coalesce_t *c, const gw_event_t *ev, const ekey_t *k)
{
    int e = find_entity(c, k);
    if (e < 0 || k->kind != GW_ENTITY_REP)
        return e;
    gw_delta_t *d = &c->deltas[e];
    if (!d->team || strcmp(d->team, ev->team) != 0) {
        d->team = gw_arena_strndup(c->strings, ev->team, strlen(ev->team));
        if (!d->team)
            return -1;
        d->team_delta = -1;
    }
    return e;
}

int gw_coalesce_seal(gw_coalesce_t *c)
{
    return fold(c);
}

/* What reads a batch (its deltas' cells, parts and times) seals it first:
 * logically const. A caller that must survive OOM seals it itself (the
 * pipeline does); otherwise running out of memory here aborts. */
static const gw_coalesce_t *sealed(const gw_coalesce_t *c)
{
    if (c->nlog && fold((gw_coalesce_t *)c) != 0)
        abort(); /* the batch cannot be read whole: see gw_coalesce_seal() */
    return c;
}

int gw_coalesce_add_one(gw_coalesce_t *c, const gw_event_t *ev, gw_entity_kind_t kind,
                        int32_t partition, int64_t offset, int64_t stream_ms)
{
    if (fold(c) != 0)
        return -1;
    ekey_t k = entity_key_of(kind, ev->tenant, kind == GW_ENTITY_REP ? ev->rep : ev->team);
    int e = locate(c, ev, &k);
    if (e < 0)
        return -1;
    pending_t p = pending_of(ev, partition, offset, stream_ms);
    cell_add_t adds[GW_WINDOWS_MAX * 4];
    unsigned late;
    int n = event_cells(c, &p, adds, &late);
    return add_to_entity(c, e, &p, adds, n, late, ev->team);
}

/* Starts fetching the delta line that finding an entity of `hash`
 * compares (a cache miss, overlapped with the other entity's). */
static void prefetch_entity(const gw_coalesce_t *c, uint64_t hash)
{
    const entity_slot_t *slot = &c->etab[hash & (c->etab_cap - 1)];
    if (slot->key && slot_may_be(slot->key, hash))
        __builtin_prefetch(&c->deltas[slot_index(slot->key)]);
}

/* Makes room in the log for one more event (and in fold()'s order). */
static int reserve_log(gw_coalesce_t *c)
{
    if (c->nlog < c->cap_log)
        return 0;
    if (c->nlog >= INT32_MAX / 2)
        return -1;
    size_t ncap = c->cap_log ? c->cap_log * 2 : 4096;
    pending_t *l = realloc(c->log, ncap * sizeof(*l));
    if (!l)
        return -1;
    c->log = l;
    uint32_t *o = realloc(c->order, ncap * sizeof(*o));
    if (!o)
        return -1;
    c->order = o;
    c->cap_log = ncap;
    return 0;
}

int gw_coalesce_add(gw_coalesce_t *c, const gw_event_t *ev, int32_t partition, int64_t offset,
                    int64_t stream_ms)
{
    if (reserve_log(c) != 0)
        return -1;
    size_t tlen, rlen, mlen;
    uint64_t thash = hash_id(ev->tenant, sizeof(ev->tenant), &tlen);
    uint64_t rhash = hash_id(ev->rep, sizeof(ev->rep), &rlen);
    uint64_t mhash = hash_id(ev->team, sizeof(ev->team), &mlen);
    ekey_t rk = entity_key(GW_ENTITY_REP, ev->tenant, tlen, thash, ev->rep, rlen, rhash),
           tk = entity_key(GW_ENTITY_TEAM, ev->tenant, tlen, thash, ev->team, mlen, mhash);
    __builtin_prefetch(&c->etab[rk.hash & (c->etab_cap - 1)]);
    __builtin_prefetch(&c->etab[tk.hash & (c->etab_cap - 1)]);
    unsigned late = event_buckets(c, ev->occurred_at_ms, stream_ms);
    prefetch_entity(c, rk.hash);
    prefetch_entity(c, tk.hash);
    int team = find_entity(c, &tk);
    int rep = team < 0 ? -1 : find_entity(c, &rk);
    if (rep < 0)
        return -1;
    pending_t *p = &c->log[c->nlog++];
    *p = pending_of(ev, partition, offset, stream_ms);
    p->rep = (uint32_t)rep;
    p->team = (uint32_t)team;
    p->late = (uint8_t)late;
    c->last_rep = rep;
    c->last_team = team;
    c->events++;
    for (int w = 0; w < c->nwindows; w++)
        c->late[w] += (late >> w) & 1;
    return 0;
}

int gw_coalesce_find(const gw_coalesce_t *c, gw_entity_kind_t kind, const char *tenant,
                     const char *id)
{
    size_t mask = c->etab_cap - 1;
    ekey_t k = entity_key_of(kind, tenant, id);
    for (size_t s = k.hash & mask; c->etab[s].key; s = (s + 1) & mask)
        if (slot_may_be(c->etab[s].key, k.hash) &&
            is_entity(&c->deltas[slot_index(c->etab[s].key)], &k))
            return (int)slot_index(c->etab[s].key);
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
    return &sealed(c)->deltas[i];
}

const gw_delta_cell_t *gw_coalesce_cell(const gw_coalesce_t *c, int32_t index)
{
    return &sealed(c)->cells[index];
}

const gw_delta_part_t *gw_coalesce_part(const gw_coalesce_t *c, int32_t index)
{
    return &sealed(c)->parts[index];
}

uint64_t gw_coalesce_events(const gw_coalesce_t *c)
{
    return c->events;
}

uint64_t gw_coalesce_late(const gw_coalesce_t *c, int window)
{
    return c->late[window];
}

/* ---- iterators (built on the accessors above) ---------------------------- */

gw_coalesce_iter_t gw_coalesce_deltas(const gw_coalesce_t *c, size_t from)
{
    return (gw_coalesce_iter_t){.c = c, .next = from, .end = gw_coalesce_count(c), .item = -1};
}

void gw_coalesce_iter_limit(gw_coalesce_iter_t *it, size_t n)
{
    if (it->next + n < it->end)
        it->end = it->next + n;
}

const gw_delta_t *gw_coalesce_next(gw_coalesce_iter_t *it, size_t *index)
{
    if (it->next >= it->end)
        return NULL;
    if (index)
        *index = it->next;
    return gw_coalesce_delta(it->c, it->next++);
}

gw_coalesce_iter_t gw_coalesce_cells(const gw_coalesce_t *c, const gw_delta_t *d, int window)
{
    return (gw_coalesce_iter_t){.c = c, .item = d->cells[window]};
}

const gw_delta_cell_t *gw_coalesce_next_cell(gw_coalesce_iter_t *it)
{
    if (it->item < 0)
        return NULL;
    const gw_delta_cell_t *cell = gw_coalesce_cell(it->c, it->item);
    it->item = cell->next;
    return cell;
}

gw_coalesce_iter_t gw_coalesce_parts(const gw_coalesce_t *c, const gw_delta_t *d)
{
    return (gw_coalesce_iter_t){.c = c, .item = d->parts};
}

const gw_delta_part_t *gw_coalesce_next_part(gw_coalesce_iter_t *it)
{
    if (it->item < 0)
        return NULL;
    const gw_delta_part_t *part = gw_coalesce_part(it->c, it->item);
    it->item = part->next;
    return part;
}

gw_coalesce_iter_t gw_coalesce_period_cells(const gw_coalesce_t *c, const gw_delta_t *d)
{
    return (gw_coalesce_iter_t){.c = c, .item = d->pcells};
}

const gw_period_cell_t *gw_coalesce_next_period_cell(gw_coalesce_iter_t *it)
{
    if (it->item < 0)
        return NULL;
    const gw_period_cell_t *cell = gw_coalesce_period_cell(it->c, it->item);
    it->item = cell->next;
    return cell;
}
