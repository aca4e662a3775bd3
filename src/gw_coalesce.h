/*
 * gw_coalesce: the batch coalescer. Folds the valid events of one batch into
 * one delta per entity (each rep and each team): per window and bucket the
 * increments of every metric, the events too late for each window, the
 * offset range read from each partition, the newest stream time and the
 * earliest event time. The store turns each delta into one Lua script call.
 *
 * All memory is owned by the coalescer and reused across batches: after
 * warm-up, adding an event allocates nothing. Deltas, cells and parts are
 * valid until the next gw_coalesce_reset() or gw_coalesce_free().
 *
 * Ownership: gw_coalesce_new() borrows the windows and kinds (they must
 * outlive it); events are copied, never kept.
 * Errors: gw_coalesce_new() returns NULL on OOM; the add functions return
 * -1 on OOM (the batch is then incomplete: apply none of it) and leave the
 * coalescer usable after a reset.
 * Threads: not thread-safe: one coalescer per pipeline thread (a reader
 * of a batch not yet sealed changes it: see gw_coalesce_seal()); no
 * file-scope mutable state.
 */
#ifndef GW_COALESCE_H
#define GW_COALESCE_H

#include <stddef.h>
#include <stdint.h>

#include "gw_calendar.h"
#include "gw_decode.h"
#include "gw_keys.h"
#include "gw_kinds.h"
#include "gw_window.h"

/* One metric increment in one bucket of one window. */
typedef struct {
    int32_t next; /* index of the next cell of the same entity and window, -1 at the end */
    int16_t window;
    int16_t metric;
    int64_t bucket;
    int64_t value;
} gw_delta_cell_t;

/* One metric increment of a rep in one calendar period (docs/calendars.md):
 * the period's kind and first local day in the team's calendar. */
typedef struct {
    int32_t next; /* next period cell of the same rep, -1 at the end */
    int16_t kind; /* gw_period_kind_t */
    int16_t metric;
    int64_t first_day;
    int64_t value;
} gw_period_cell_t;

/* The offsets of one partition covered by one entity's delta. */
typedef struct {
    int32_t next; /* next part of the same entity, -1 at the end */
    int32_t partition;
    int64_t min_offset;
    int64_t max_offset;
} gw_delta_part_t;

/* An entity's delta, in 64-byte lines (the coalescer allocates them
 * aligned): the first holds what finding it reads (the kind and the inline
 * key), the second what adding an event to it reads and writes (times,
 * counts, list heads, the cell table), the rest is read by the store or
 * only now and then. */
#define GW_DELTA_KEY_MAX 58

typedef struct {
    _Alignas(64) gw_entity_kind_t kind;
    /* the coalescer's own: "<tenant>\0<id>" when it fits in key (klen
     * bytes), so that a lookup compares without reading the strings; klen
     * 0 when it does not */
    uint8_t klen;
    char key[GW_DELTA_KEY_MAX + 1];
    int64_t first_event_ms; /* earliest occurred_at_ms in the batch */
    int64_t last_event_ms;  /* newest occurred_at_ms in the batch */
    int64_t wm_ms;          /* newest stream time among its events */
    uint32_t nevents;
    uint32_t ncells;    /* cells, all windows */
    int32_t parts;      /* head part */
    int32_t team_delta; /* for a rep: the delta of `team` if it is in this batch, else -1 */
    /* the coalescer's own: the delta's cell table, 2^region_bits slots of
     * the cell pool from index `region` (region_bits 0: none yet) */
    int32_t region;
    int16_t region_bits;
    int32_t pcells; /* head period cell (a rep, with periods on), -1 */
    /* the coalescer's own: the rep's calendar and the local day last seen */
    const gw_calendar_t *cal;
    int32_t cells[GW_WINDOWS_MAX]; /* head cell per window, -1 if none */
    const char *tenant;
    const char *id;
    const char *team; /* for a rep: the team of its last event; NULL for a team */
    int64_t day;
    int64_t late[GW_WINDOWS_MAX]; /* events too late for each window */
    int64_t day_from, day_to;
} gw_delta_t;

typedef struct gw_coalesce_s gw_coalesce_t;

/* `windows` and `kinds` are borrowed and must outlive the coalescer. NULL on
 * OOM. Free with gw_coalesce_free(). */
gw_coalesce_t *gw_coalesce_new(const gw_window_t *windows, int nwindows, const gw_kinds_t *kinds);

/* Accepts NULL. */
void gw_coalesce_free(gw_coalesce_t *c);

/* Counts each rep's events per calendar period too, for the kinds in
 * `periods` (bit per gw_period_kind_t), in the calendar of its team
 * (`cals`, borrowed; UTC with every day working when none matches). */
void gw_coalesce_set_periods(gw_coalesce_t *c, const gw_calendar_t *cals, int ncals,
                             unsigned periods);

/* Period cell `index` of a delta's list. */
const gw_period_cell_t *gw_coalesce_period_cell(const gw_coalesce_t *c, int32_t index);

/* Forgets the batch; keeps the memory. */
void gw_coalesce_reset(gw_coalesce_t *c);

/*
 * Adds one valid event read at (`partition`, `offset`) when the partition's
 * stream time (including this event) is `stream_ms`, to its rep and its team.
 * Returns 0, or -1 on OOM (the batch is then incomplete: reset and retry).
 */
int gw_coalesce_add(gw_coalesce_t *c, const gw_event_t *ev, int32_t partition, int64_t offset,
                    int64_t stream_ms);

/* The delta indices of the rep and the team the last gw_coalesce_add()
 * added to. */
void gw_coalesce_last(const gw_coalesce_t *c, int *rep, int *team);

/* As gw_coalesce_add, but only to the event's rep (GW_ENTITY_REP) or only
 * to its team (GW_ENTITY_TEAM): used to re-send one entity's newer events. */
int gw_coalesce_add_one(gw_coalesce_t *c, const gw_event_t *ev, gw_entity_kind_t kind,
                        int32_t partition, int64_t offset, int64_t stream_ms);

/*
 * Finishes the batch's deltas: gw_coalesce_add() finds (or creates) the
 * event's rep and team at once, so that gw_coalesce_last(),
 * gw_coalesce_count() and gw_coalesce_find() answer for every event
 * added, but logs the rest (cells, times, parts) and adds it to the deltas
 * here, entity by entity. Returns 0, or -1 on OOM (the batch is then
 * incomplete: reset and retry). The readers of deltas, cells and parts
 * (gw_coalesce_delta(), the iterators...) seal the batch themselves, and
 * abort on OOM in doing so: a caller that must survive OOM seals first.
 * Idempotent; adding more events after it is allowed (seal again).
 */
int gw_coalesce_seal(gw_coalesce_t *c);

/* Index of the delta of an entity, or -1 if the batch has none. */
int gw_coalesce_find(const gw_coalesce_t *c, gw_entity_kind_t kind, const char *tenant,
                     const char *id);

/* Number of entity deltas, and delta `i` (0 <= i < count). */
size_t gw_coalesce_count(const gw_coalesce_t *c);
const gw_delta_t *gw_coalesce_delta(const gw_coalesce_t *c, size_t i);

/* Resolve cell and part indices of a delta. */
const gw_delta_cell_t *gw_coalesce_cell(const gw_coalesce_t *c, int32_t index);
const gw_delta_part_t *gw_coalesce_part(const gw_coalesce_t *c, int32_t index);

/* An availability record of the batch (docs/calendars.md): written to the
 * rep's state with the batch, before its positions; never counted. */
typedef struct {
    gw_avail_kind_t avail;
    int32_t partition;
    int64_t at_ms;  /* occurred_at_ms */
    int64_t end_ms; /* TIME_OFF */
    char tenant[GW_ID_MAX + 1];
    char rep[GW_ID_MAX + 1];
    char team[GW_ID_MAX + 1];
    char record_id[GW_ID_MAX + 1];
} gw_avail_record_t;

/* Adds an availability record (ev->avail != GW_AVAIL_NONE). 0, or -1 on
 * OOM. */
int gw_coalesce_add_record(gw_coalesce_t *c, const gw_event_t *ev, int32_t partition);

/* The batch's availability records, in the order read. */
size_t gw_coalesce_records(const gw_coalesce_t *c, const gw_avail_record_t **out);

/* Events added and late drops per window since the last reset. */
uint64_t gw_coalesce_events(const gw_coalesce_t *c);
uint64_t gw_coalesce_late(const gw_coalesce_t *c, int window);

/*
 * Reading a batch without its pools' indices: an iterator over the deltas
 * (in the order they were created), over one delta's cells of a window,
 * over its parts, or over its period cells. The iterator is a value on the
 * caller's stack; it borrows the coalescer, and is valid until the batch
 * is changed or reset. Same thread as the coalescer.
 *
 *   gw_coalesce_iter_t it = gw_coalesce_deltas(batch, 0);
 *   size_t i;
 *   for (const gw_delta_t *d; (d = gw_coalesce_next(&it, &i));) ...
 */
typedef struct {
    const gw_coalesce_t *c;
    size_t next;  /* deltas: the next index */
    size_t end;   /* deltas: one past the last */
    int32_t item; /* lists: the next element, -1 at the end */
} gw_coalesce_iter_t;

/* The deltas of indices [from, gw_coalesce_count()). */
gw_coalesce_iter_t gw_coalesce_deltas(const gw_coalesce_t *c, size_t from);

/* At most the first `n` deltas of `it`. */
void gw_coalesce_iter_limit(gw_coalesce_iter_t *it, size_t n);

/* The next delta (its index in *index unless NULL), or NULL at the end. */
const gw_delta_t *gw_coalesce_next(gw_coalesce_iter_t *it, size_t *index);

/* The cells of delta `d` in window `window`. */
gw_coalesce_iter_t gw_coalesce_cells(const gw_coalesce_t *c, const gw_delta_t *d, int window);
const gw_delta_cell_t *gw_coalesce_next_cell(gw_coalesce_iter_t *it);

/* The parts (partitions and offsets) of delta `d`. */
gw_coalesce_iter_t gw_coalesce_parts(const gw_coalesce_t *c, const gw_delta_t *d);
const gw_delta_part_t *gw_coalesce_next_part(gw_coalesce_iter_t *it);

/* The calendar period cells of delta `d` (a rep's). */
gw_coalesce_iter_t gw_coalesce_period_cells(const gw_coalesce_t *c, const gw_delta_t *d);
const gw_period_cell_t *gw_coalesce_next_period_cell(gw_coalesce_iter_t *it);

#endif
