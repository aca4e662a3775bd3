/*
 * gw_evaluator: known reps (a map filled from batches and from the Redis
 * rosters of the assigned partitions), a queue of reps touched by batches,
 * a sweep cursor, and the chunked evaluation itself.
 *
 * Invariant: a rep record is never freed before the evaluator (the queue
 * and the sweep hold pointers to records).
 */
#include "gw_evaluator.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "gw_diag_store.h"
#include "gw_keys.h"
#include "gw_log.h"
#include "gw_map.h"
#include "gw_snapshot.h"
#include "gw_time.h"

#define CHUNK_REPS 200
#define WEEK_MS    (7LL * 86400000)

typedef struct {
    char *tenant;
    char *rep;
    char *team;
    char *old_team; /* the team before a move: its export fields are deleted */
    int32_t partition;
    int64_t last_eval_mono; /* 0: never */
    bool queued;            /* in the touched queue */
    bool gone;              /* its keys expired: dropped from the roster */
    bool registered;        /* in its team's roster in Redis (gw_keys_team_reps) */
    bool pending_reg;       /* in the registration list */
    char *unregister_team;  /* a team whose roster still lists it */
} rep_rec_t;

/* A tenant's own time (gw_keys_tenant_clock). */
typedef struct {
    int64_t batch_newest, batch_earliest; /* of applied batches, not yet in Redis */
    int64_t clock;                        /* the newest event time Redis holds; -1 unknown */
    int64_t clock_changed_mono;           /* when this instance saw `clock` move */
    int64_t wm;                           /* the tenant's evaluation watermark, never back */
    bool pending;
} tenant_rec_t;

struct gw_evaluator_s {
    const gw_config_t *cfg;
    gw_store_t *store;
    gw_consumer_t *consumer;
    gw_metrics_t *m;
    gw_evaluation_fn listener;
    gw_evaluation_done_fn listener_done;
    void *listener_ctx;

    gw_calendar_t default_calendar; /* of teams no configured calendar covers */
    gw_map_t *reps;                 /* "tenant:rep" -> rep_rec_t */
    gw_map_t *tenants;              /* tenant -> tenant_rec_t */
    rep_rec_t **regs;               /* reps whose team roster entry is to be written */
    size_t nregs, capregs;
    rep_rec_t **queue; /* touched by batches */
    size_t nqueue, capqueue;
    rep_rec_t **sweep; /* the current sweep's reps */
    size_t nsweep, capsweep, sweep_pos;
    bool sweeping;
    int64_t next_sweep_mono;
    int64_t watermark; /* never moves back */

    gw_entity_read_t *reads; /* the chunk's teams' reps and the teams */
    size_t capreads;
    gw_export_t *export;         /* scratch of one rep's export fields */
    gw_partition_time_t *ptimes; /* the partitions' times, for gw_watermark() */
    int32_t cap_ptimes;
    gw_snapshot_t *snap;        /* scratch of one snapshot */
    gw_diag_store_t *diag;      /* snapshots and export hashes */
    int64_t group_checked_mono; /* last check of the other members' partitions */
    struct {
        int32_t partition;
        int64_t count;     /* offsets lost */
        int64_t stream_ms; /* the partition's stream time at the gap */
    } gaps[64];            /* retention gaps recorded with the positions */
    int ngaps;
    bool group_caught_up;
    int32_t topic_partitions; /* of the event topic; 0 unknown */
    int64_t topic_partitions_mono;
};

/* ---- export hashes for Prometheus ----------------------------------------- */

static int queue_export(gw_evaluator_t *ev, const char *tenant, const gw_export_t *x, char *err,
                        size_t errsize)
{
    return gw_diag_store_queue_export(ev->diag, tenant, x, err, errsize) == GW_STORE_OK ? 0 : -1;
}

/* Deletes every export field a rep can have in `team` (it left, or moved). */
static int export_forget(gw_evaluator_t *ev, const char *tenant, const char *team, const char *rep,
                         char *err, size_t errsize)
{
    const gw_playbook_t *pb =
        gw_playbook_for_team(ev->cfg->playbooks, ev->cfg->nplaybooks, tenant, team);
    if (!pb)
        return 0;
    gw_export_t *x = malloc(sizeof(*x));
    if (!x)
        return -1;
    int rc = 0;
    for (int w = 0; w < ev->cfg->nwindows && rc == 0; w++) {
        gw_export_diagnosis(x, pb, team, rep, ev->cfg->windows[w].name, NULL);
        rc = queue_export(ev, tenant, x, err, errsize);
    }
    for (int k = 0; k < GW_PERIOD_COUNT && rc == 0; k++) {
        if (isnan(pb->period_target[k]))
            continue;
        gw_export_pace(x, team, rep, gw_period_str((gw_period_kind_t)k), NULL, NAN);
        rc = queue_export(ev, tenant, x, err, errsize);
    }
    free(x);
    return rc;
}

static void free_rec(void *p)
{
    rep_rec_t *r = p;
    if (!r)
        return;
    free(r->tenant);
    free(r->rep);
    free(r->team);
    free(r->old_team);
    free(r->unregister_team);
    free(r);
}

gw_evaluator_t *gw_evaluator_new(const gw_config_t *cfg, gw_store_t *store, gw_consumer_t *consumer,
                                 gw_metrics_t *metrics)
{
    gw_evaluator_t *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->cfg = cfg;
    gw_calendar_init_utc(&ev->default_calendar);
    ev->store = store;
    ev->consumer = consumer;
    ev->m = metrics;
    ev->reps = gw_map_new();
    ev->tenants = gw_map_new();
    ev->capreads = 2 * CHUNK_REPS;
    ev->reads = calloc(ev->capreads, sizeof(*ev->reads));
    ev->export = malloc(sizeof(gw_export_t));
    ev->snap = malloc(sizeof(gw_snapshot_t));
    ev->diag = gw_diag_store_new(cfg, store);
    ev->watermark = -1;
    if (!ev->reps || !ev->tenants || !ev->reads || !ev->export || !ev->diag) {
        gw_evaluator_free(ev);
        return NULL;
    }
    return ev;
}

void gw_evaluator_free(gw_evaluator_t *ev)
{
    if (!ev)
        return;
    gw_map_free(ev->reps, free_rec);
    gw_map_free(ev->tenants, free);
    free(ev->regs);
    free(ev->queue);
    free(ev->sweep);
    free(ev->reads);
    free(ev->export);
    free(ev->snap);
    free(ev->ptimes);
    gw_diag_store_free(ev->diag);
    free(ev);
}

void gw_evaluator_set_listener(gw_evaluator_t *ev, gw_evaluation_fn fn, gw_evaluation_done_fn done,
                               void *ctx)
{
    ev->listener = fn;
    ev->listener_done = done;
    ev->listener_ctx = ctx;
}

size_t gw_evaluator_known_reps(const gw_evaluator_t *ev)
{
    return gw_map_count(ev->reps);
}

static int push(rep_rec_t ***arr, size_t *n, size_t *cap, rep_rec_t *r)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        rep_rec_t **na = realloc(*arr, ncap * sizeof(*na));
        if (!na)
            return -1;
        *arr = na;
        *cap = ncap;
    }
    (*arr)[(*n)++] = r;
    return 0;
}

/* Queues `r` for a write of its team roster entry (and the removal of the
 * old one after a move). */
static void need_registration(gw_evaluator_t *ev, rep_rec_t *r)
{
    if (!r->pending_reg && push(&ev->regs, &ev->nregs, &ev->capregs, r) == 0)
        r->pending_reg = true;
}

/* Finds or adds a rep; updates its team and partition. NULL on OOM. */
static rep_rec_t *known(gw_evaluator_t *ev, const char *tenant, const char *rep, const char *team,
                        int32_t partition)
{
    char key[2 * GW_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s:%s", tenant, rep);
    rep_rec_t *r = gw_map_get(ev->reps, key);
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return NULL;
        r->tenant = strdup(tenant);
        r->rep = strdup(rep);
        r->team = strdup(team);
        if (!r->tenant || !r->rep || !r->team || gw_map_put(ev->reps, key, r) != 0) {
            free_rec(r);
            return NULL;
        }
    } else if (strcmp(r->team, team) != 0) {
        char *t = strdup(team);
        if (t) {
            free(r->old_team);
            r->old_team = strdup(r->team);
            if (!r->unregister_team)
                r->unregister_team = r->team;
            else
                free(r->team);
            r->team = t;
            r->registered = false;
        }
    }
    r->partition = partition;
    r->gone = false;
    if (!r->registered)
        need_registration(ev, r);
    return r;
}

static tenant_rec_t *tenant_rec(gw_evaluator_t *ev, const char *tenant)
{
    tenant_rec_t *t = gw_map_get(ev->tenants, tenant);
    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->batch_newest = INT64_MIN;
    t->batch_earliest = INT64_MAX;
    t->clock = -1;
    t->wm = -1;
    if (gw_map_put(ev->tenants, tenant, t) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void gw_evaluator_note_batch(gw_evaluator_t *ev, const gw_coalesce_t *batch)
{
    if (!batch || ev->cfg->nplaybooks == 0)
        return;
    size_t n = gw_coalesce_count(batch);
    for (size_t i = 0; i < n; i++) {
        const gw_delta_t *d = gw_coalesce_delta(batch, i);
        if (d->kind != GW_ENTITY_REP || !d->team)
            continue;
        if (d->nevents > 0) {
            tenant_rec_t *t = tenant_rec(ev, d->tenant);
            if (t) {
                if (d->last_event_ms > t->batch_newest)
                    t->batch_newest = d->last_event_ms;
                if (d->first_event_ms < t->batch_earliest)
                    t->batch_earliest = d->first_event_ms;
                t->pending = true;
            }
        }
        int32_t partition = gw_coalesce_part(batch, d->parts)->partition;
        rep_rec_t *r = known(ev, d->tenant, d->id, d->team, partition);
        if (r && !r->queued && push(&ev->queue, &ev->nqueue, &ev->capqueue, r) == 0)
            r->queued = true;
    }
    /* Availability records re-judge the rep (a time off entered late
     * changes its windows); a team change moves it like an event would. */
    const gw_avail_record_t *recs;
    size_t nrec = gw_coalesce_records(batch, &recs);
    for (size_t i = 0; i < nrec; i++) {
        char key[2 * GW_ID_MAX + 2];
        snprintf(key, sizeof(key), "%s:%s", recs[i].tenant, recs[i].rep);
        rep_rec_t *r = gw_map_get(ev->reps, key);
        if (recs[i].avail == GW_AVAIL_TEAM)
            r = known(ev, recs[i].tenant, recs[i].rep, recs[i].team, recs[i].partition);
        if (r && !r->queued && push(&ev->queue, &ev->nqueue, &ev->capqueue, r) == 0)
            r->queued = true;
    }
}

typedef struct {
    const char *tenant;
    tenant_rec_t *t;
    int64_t clock, first;
} clock_read_t;

/* Writes what applied batches taught about the teams' rosters and the
 * tenants' times (both global: every instance writes the same facts). */
static int write_registrations(gw_evaluator_t *ev, char *err, size_t errsize)
{
    bool queued = false;
    for (size_t i = 0; i < ev->nregs; i++) {
        rep_rec_t *r = ev->regs[i];
        if (r->unregister_team &&
            gw_store_queue_team_forget(ev->store, r->tenant, r->unregister_team, r->rep, err,
                                       errsize) != GW_STORE_OK)
            return -1;
        if (r->gone)
            continue;
        if (gw_store_queue_team_member(ev->store, r->tenant, r->team, r->rep, r->partition, err,
                                       errsize) != GW_STORE_OK)
            return -1;
        queued = true;
    }
    size_t iter = 0;
    const char *tenant;
    void *value;
    while (gw_map_next(ev->tenants, &iter, &tenant, &value)) {
        tenant_rec_t *t = value;
        if (!t->pending)
            continue;
        if (gw_store_queue_tenant_times(ev->store, tenant, t->batch_newest, t->batch_earliest, err,
                                        errsize) != GW_STORE_OK)
            return -1;
        queued = true;
    }
    if (!queued && ev->nregs == 0)
        return 0;
    if (gw_store_flush(ev->store, err, errsize) != GW_STORE_OK)
        return -1;
    for (size_t i = 0; i < ev->nregs; i++) {
        rep_rec_t *r = ev->regs[i];
        r->pending_reg = false;
        r->registered = !r->gone;
        free(r->unregister_team);
        r->unregister_team = NULL;
    }
    ev->nregs = 0;
    iter = 0;
    while (gw_map_next(ev->tenants, &iter, &tenant, &value)) {
        tenant_rec_t *t = value;
        t->pending = false;
        t->batch_newest = INT64_MIN;
        t->batch_earliest = INT64_MAX;
    }
    return 0;
}

/* ---- watermark and readiness ------------------------------------------ */

/* True when this instance owns partitions and each is at its end or, with
 * max_lag >= 0, at most max_lag messages from it. */
static bool assigned_within(const gw_evaluator_t *ev, int64_t max_lag)
{
    int assigned = 0;
    for (int32_t p = 0; p < gw_consumer_partition_count(ev->consumer); p++) {
        const gw_partition_state_t *st = gw_consumer_partition(ev->consumer, p);
        if (!st->assigned)
            continue;
        assigned++;
        bool at_end = st->caught_up_since_ms > 0;
        bool close = max_lag >= 0 && st->lag >= 0 && st->lag <= max_lag;
        if (!at_end && !close)
            return false;
    }
    return assigned > 0;
}

bool gw_evaluator_caught_up(const gw_evaluator_t *ev)
{
    return assigned_within(ev, ev->cfg->evaluation.max_lag);
}

bool gw_evaluator_at_end(const gw_evaluator_t *ev)
{
    return assigned_within(ev, -1);
}

int64_t gw_evaluator_watermark(gw_evaluator_t *ev)
{
    int32_t n = gw_consumer_partition_count(ev->consumer);
    if (n > ev->cap_ptimes) {
        gw_partition_time_t *np = realloc(ev->ptimes, (size_t)n * sizeof(*np));
        if (!np)
            return ev->watermark;
        ev->ptimes = np;
        ev->cap_ptimes = n;
    }
    for (int32_t p = 0; p < n; p++) {
        const gw_partition_state_t *st = gw_consumer_partition(ev->consumer, p);
        ev->ptimes[p] = (gw_partition_time_t){st->assigned, st->caught_up_since_ms, st->stream_ms};
    }
    ev->watermark =
        gw_watermark(ev->ptimes, n, ev->watermark, gw_now_ms(), ev->cfg->consumer.idle_after_ms);
    return ev->watermark;
}

/* The event topic's partition count, from the cluster's metadata (asked
 * at most once a minute); 0 when unknown. */
static int32_t topic_partitions(gw_evaluator_t *ev)
{
    int64_t now = gw_mono_ms();
    if (ev->topic_partitions > 0 && now - ev->topic_partitions_mono < 60000)
        return ev->topic_partitions;
    rd_kafka_t *rk = gw_consumer_handle(ev->consumer);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, ev->cfg->kafka.topic_events, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && rd_kafka_metadata(rk, 0, rkt, &md, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR && md &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ev->topic_partitions = md->topics[0].partition_cnt;
        ev->topic_partitions_mono = now;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return ev->topic_partitions;
}

/* Every partition this instance does not own is applied (by whoever owns
 * it) to within evaluation.max_lag of its end, as the positions in Redis
 * say: a diagnosis reads the whole team, so no instance judges while
 * another is still replaying part of it. Checked at most once a second;
 * true at once when this instance owns every partition. */
static bool group_caught_up(gw_evaluator_t *ev)
{
    int64_t now = gw_mono_ms();
    if (now - ev->group_checked_mono < 1000)
        return ev->group_caught_up;
    ev->group_checked_mono = now;
    int32_t n = topic_partitions(ev);
    if (n <= 0)
        return ev->group_caught_up = false;
    bool others = false;
    for (int32_t p = 0; p < n; p++) {
        const gw_partition_state_t *st = gw_consumer_partition(ev->consumer, p);
        others |= !st || !st->assigned;
    }
    if (!others)
        return ev->group_caught_up = true;
    gw_position_t *pos = calloc((size_t)n, sizeof(*pos));
    char err[256];
    bool ok = pos != NULL;
    for (int32_t p = 0; ok && p < n; p++)
        pos[p].partition = p;
    if (ok && gw_store_positions_read(ev->store, ev->cfg->kafka.topic_events, pos, (size_t)n, err,
                                      sizeof(err)) != GW_STORE_OK)
        ok = false;
    rd_kafka_t *rk = gw_consumer_handle(ev->consumer);
    for (int32_t p = 0; ok && p < n; p++) {
        const gw_partition_state_t *st = gw_consumer_partition(ev->consumer, p);
        if (st && st->assigned)
            continue;
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, ev->cfg->kafka.topic_events, p, &lo, &hi, 500) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            ok = false;
            break;
        }
        int64_t next = pos[p].next_offset > lo ? pos[p].next_offset : lo;
        if (hi > lo && (pos[p].next_offset < 0 || hi - next > ev->cfg->evaluation.max_lag)) {
            gw_log_debug("waiting for another member's partition", "partition=%d behind=%lld", p,
                         (long long)(hi - next));
            ok = false;
        }
    }
    free(pos);
    return ev->group_caught_up = ok;
}

/* ---- the sweep ------------------------------------------------------------ */

typedef struct {
    gw_evaluator_t *ev;
    int32_t partition;
    int failed;
} roster_ctx_t;

static int roster_field(void *ctx, const char *field, const char *value)
{
    roster_ctx_t *rc = ctx;
    const char *colon = strchr(field, ':');
    if (!colon)
        return 0;
    char tenant[GW_ID_MAX + 1];
    snprintf(tenant, sizeof(tenant), "%.*s", (int)(colon - field), field);
    rep_rec_t *r = known(rc->ev, tenant, colon + 1, value, rc->partition);
    if (!r || push(&rc->ev->sweep, &rc->ev->nsweep, &rc->ev->capsweep, r) != 0)
        rc->failed = 1;
    return 0;
}

/* Loads the rosters of the assigned partitions into a new sweep list and
 * recounts the team sizes. */
static int start_sweep(gw_evaluator_t *ev, char *err, size_t errsize)
{
    ev->nsweep = 0;
    ev->sweep_pos = 0;
    for (int32_t p = 0; p < gw_consumer_partition_count(ev->consumer); p++) {
        const gw_partition_state_t *st = gw_consumer_partition(ev->consumer, p);
        if (!st->assigned)
            continue;
        roster_ctx_t rc = {ev, p, 0};
        int rrc = gw_store_read_roster(ev->store, ev->cfg->kafka.topic_events, p, roster_field, &rc,
                                       err, errsize);
        if (rrc != GW_STORE_OK)
            return rrc;
    }
    ev->sweeping = true;
    gw_log_debug("sweep started", "reps=%zu", ev->nsweep);
    return GW_STORE_OK;
}

/* ---- evaluating a chunk ------------------------------------------------- */

static int gap_found(void *ctx, const gw_gap_t *gap)
{
    gw_evaluator_t *ev = ctx;
    if (ev->ngaps == (int)(sizeof(ev->gaps) / sizeof(ev->gaps[0])))
        return 0;
    ev->gaps[ev->ngaps].partition = gap->partition;
    ev->gaps[ev->ngaps].count = gap->to - gap->from;
    ev->gaps[ev->ngaps].stream_ms = gap->stream_ms;
    ev->ngaps++;
    return 0;
}

/* Offsets lost to retention (README, "Retention gaps") on `partition`
 * inside the window that ends at `wm`: its totals miss them. */
static int64_t lost_in_window(const gw_evaluator_t *ev, int32_t partition, const gw_window_t *w,
                              int64_t wm)
{
    int64_t n = 0;
    for (int i = 0; i < ev->ngaps; i++)
        if (ev->gaps[i].partition == partition &&
            ev->gaps[i].stream_ms >= wm - w->length_ms - w->grace_ms)
            n += ev->gaps[i].count;
    return n;
}

/* Queues the snapshot of one rep's diagnosis in one window. */
static int queue_snapshot(gw_evaluator_t *ev, const rep_rec_t *r, const char *team,
                          const gw_playbook_t *pb, int w, int64_t wm, const gw_diagnosis_t *d,
                          char *err, size_t errsize)
{
    const gw_config_t *cfg = ev->cfg;
    gw_snapshot_meta_t meta = {
        .team = team,
        .evidence_window = cfg->windows[pb->evidence_window >= 0 ? pb->evidence_window : w].name,
        .watermark_ms = wm,
        .evaluated_at_ms = gw_now_ms(),
        .lost_offsets = lost_in_window(ev, r->partition, &cfg->windows[w], wm),
    };
    gw_snapshot_diagnosis(ev->snap, pb, &cfg->kinds, &meta, d);
    return gw_diag_store_queue_diagnosis(ev->diag, r->tenant, r->rep, cfg->windows[w].name,
                                         ev->snap, err, errsize);
}

/* ---- tenant time ----------------------------------------------------------- */

/* Reads the clocks of the `n` tenants and moves each tenant's watermark:
 * its newest event time in Redis (whatever instance applied it), advanced
 * with the wall clock once the tenant has been quiet for
 * consumer.idle_after; never because another tenant's events are newer.
 * Before any clock is written (a deployment upgraded from 0.1), the
 * instance's watermark `wm` stands in. */
static int read_tenant_times(gw_evaluator_t *ev, clock_read_t *c, size_t n, int64_t wm, char *err,
                             size_t errsize)
{
    gw_tenant_times_t times[CHUNK_REPS];
    if (n > CHUNK_REPS)
        n = CHUNK_REPS; /* cannot be: a chunk has at most CHUNK_REPS tenants */
    for (size_t i = 0; i < n; i++)
        times[i].tenant = c[i].tenant;
    if (gw_store_read_tenant_times(ev->store, times, n, err, errsize) != GW_STORE_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        c[i].clock = times[i].clock;
        c[i].first = times[i].first;
    }
    int64_t now = gw_mono_ms();
    for (size_t i = 0; i < n; i++) {
        tenant_rec_t *t = c[i].t;
        if (c[i].clock < 0) {
            if (wm > t->wm)
                t->wm = wm;
            continue;
        }
        if (c[i].clock != t->clock) {
            t->clock = c[i].clock;
            t->clock_changed_mono = now;
        }
        int64_t w = t->clock, quiet = now - t->clock_changed_mono;
        if (quiet >= ev->cfg->consumer.idle_after_ms)
            w += quiet;
        if (w > t->wm)
            t->wm = w;
    }
    return 0;
}

/* ---- one team ------------------------------------------------------------ */

/* A team of the chunk: its reps as Redis' team roster lists them. */
typedef struct {
    const char *tenant, *team;
    tenant_rec_t *t;
    char **members; /* rep ids (owned) */
    size_t nmembers, capmembers;
    size_t first; /* its reads: members, then the team entity */
} team_ctx_t;

static int add_member(team_ctx_t *tc, const char *rep)
{
    for (size_t i = 0; i < tc->nmembers; i++)
        if (!strcmp(tc->members[i], rep))
            return 0;
    if (tc->nmembers == tc->capmembers) {
        size_t ncap = tc->capmembers ? 2 * tc->capmembers : 16;
        char **nm = realloc(tc->members, ncap * sizeof(*nm));
        if (!nm)
            return -1;
        tc->members = nm;
        tc->capmembers = ncap;
    }
    if (!(tc->members[tc->nmembers] = strdup(rep)))
        return -1;
    tc->nmembers++;
    return 0;
}

static int member_field(void *ctx, const char *field, const char *value)
{
    (void)value;
    return add_member(ctx, field) == 0 ? 0 : 1;
}

static int ensure_reads(gw_evaluator_t *ev, size_t n)
{
    if (n <= ev->capreads)
        return 0;
    gw_entity_read_t *nr = realloc(ev->reads, n * sizeof(*nr));
    if (!nr)
        return -1;
    ev->reads = nr;
    ev->capreads = n;
    return 0;
}

/* A rep whose keys expired (key_ttl): out of the partition's roster, the
 * team's roster and the export. */
static int forget_rep(gw_evaluator_t *ev, rep_rec_t *r, char *err, size_t errsize)
{
    const gw_config_t *cfg = ev->cfg;
    if (gw_store_roster_forget(ev->store, cfg->kafka.topic_events, r->partition, r->tenant, r->rep,
                               err, errsize) != GW_STORE_OK)
        return -1;
    if (export_forget(ev, r->tenant, r->team, r->rep, err, errsize) != 0)
        return -1;
    r->gone = true;
    r->registered = false;
    if (!r->unregister_team)
        r->unregister_team = strdup(r->team);
    need_registration(ev, r);
    return 0;
}

typedef struct {
    bool *present; /* Redis holds the rep's counts */
    bool *gone;    /* left the company, or moved to another team (calendar records) */
    bool *moved;   /* moved to another team: evaluated there */
    gw_rep_counts_t *counts, *peers;
    gw_diagnosis_t *diags;
    gw_diagnosis_t **dptr;
    double *scratch;
} team_work_t;

static void team_work_free(team_work_t *tw)
{
    free(tw->present);
    free(tw->gone);
    free(tw->moved);
    free(tw->counts);
    free(tw->peers);
    free(tw->diags);
    free(tw->dptr);
    free(tw->scratch);
}

static int team_work_alloc(team_work_t *tw, size_t n)
{
    n++;
    tw->present = calloc(n, sizeof(bool));
    tw->gone = calloc(n, sizeof(bool));
    tw->moved = calloc(n, sizeof(bool));
    tw->counts = calloc(n, sizeof(*tw->counts));
    tw->peers = calloc(n, sizeof(*tw->peers));
    tw->diags = calloc(n, sizeof(*tw->diags));
    tw->dptr = calloc(n, sizeof(*tw->dptr));
    tw->scratch = calloc(n * (GW_STAGES_MAX + 1), sizeof(double));
    return tw->present && tw->gone && tw->moved && tw->counts && tw->peers && tw->diags &&
                   tw->dptr && tw->scratch
               ? 0
               : -1;
}

/* Diagnoses every rep of `tc` in window `w` into tw->diags (corrected
 * together); returns how many were diagnosed. */
/* The calendar of a team: the config's, else UTC with every day working
 * (a deployment without calendars prorates by time alone). */
static const gw_calendar_t *team_calendar(const gw_evaluator_t *ev, const team_ctx_t *tc)
{
    const gw_calendar_t *c =
        gw_calendar_for_team(ev->cfg->calendars, ev->cfg->ncalendars, tc->tenant, tc->team);
    return c ? c : &ev->default_calendar;
}

static size_t diagnose_team(const gw_evaluator_t *ev, const gw_playbook_t *pb, const team_ctx_t *tc,
                            const gw_entity_read_t *rd, int w, team_work_t *tw)
{
    const gw_config_t *cfg = ev->cfg;
    int64_t wm = tc->t->wm, length = cfg->windows[w].length_ms;
    int ew = pb->evidence_window >= 0 ? pb->evidence_window : w;
    size_t n = tc->nmembers, nd = 0;
    int64_t ev_length = cfg->windows[ew].length_ms;
    const gw_calendar_t *cal = team_calendar(ev, tc);
    size_t ndiag = 0;
    for (size_t i = 0; i < n; i++) {
        double cov, away, cov_ev, away_ev;
        gw_calendar_prorate(cal, wm - length, wm, rd[i].first_ms, &rd[i].avail, &cov, &away);
        gw_calendar_prorate(cal, wm - ev_length, wm, rd[i].first_ms, &rd[i].avail, &cov_ev,
                            &away_ev);
        if (tw->gone[i])
            cov = cov_ev = 0, away = 1;
        tw->counts[i] = (gw_rep_counts_t){.totals = rd[i].win[w].v,
                                          .evidence = rd[i].win[ew].v,
                                          .coverage = cov,
                                          .away = away,
                                          .evidence_coverage = cov_ev};
    }
    for (size_t i = 0; i < n; i++) {
        double target = gw_playbook_target(pb, tc->tenant, tc->members[i], w);
        /* the evidence window is diagnosed even without an objective: its
         * rates make the pace plan */
        if (!tw->present[i] || (isnan(target) && w != ew))
            continue;
        size_t np = 0;
        for (size_t j = 0; j < n; j++)
            if (j != i && tw->present[j] && !tw->gone[j])
                tw->peers[np++] = tw->counts[j];
        /* the ramp counts from the join date when there is one */
        int64_t since = rd[i].avail.joined_ms >= 0 ? rd[i].avail.joined_ms : rd[i].first_ms;
        int64_t weeks = since >= 0 ? (wm - since) / WEEK_MS : 0;
        gw_detector_input_t in = {
            .rep = tw->counts[i],
            .peers = tw->peers,
            .npeers = (int)np,
            .target = target,
            .ramp_factor = gw_playbook_ramp(pb, weeks),
            .evidence_scale = (double)ev_length / (double)length,
        };
        gw_detector_evaluate(pb, &in, &tw->diags[i]);
        ndiag++;
        if (!tw->gone[i] && !isnan(target))
            tw->dptr[nd++] = &tw->diags[i];
    }
    if (nd > 0)
        gw_detector_team(pb, tw->dptr, (int)nd, tw->scratch);
    return ndiag;
}

/* The pace of rep `i` of `tc` in the calendar period of kind `k` at the
 * tenant's watermark (gw_pace), with the conversion rates of its
 * evidence-window diagnosis `d`; `pd` gets the period's result and
 * objective for the alert's message. */
static void pace_of(const gw_evaluator_t *ev, const gw_playbook_t *pb, const team_ctx_t *tc,
                    const gw_entity_read_t *rd, size_t i, const gw_diagnosis_t *d, int k,
                    gw_pace_t *pace, gw_diagnosis_t *pd, char *id, size_t idsize, int64_t *start,
                    int64_t *end)
{
    const gw_calendar_t *cal = team_calendar(ev, tc);
    const gw_entity_read_t *r = &rd[i], *team = &rd[tc->nmembers];
    int64_t wm = tc->t->wm;
    gw_calendar_period(cal, (gw_period_kind_t)k, wm, start, end, id, idsize);
    double nominal, unused, covered, available, covered_now, gone;
    gw_calendar_share(cal, *start, *end, NULL, &nominal, &unused);
    int64_t from = r->first_ms > *start ? r->first_ms : *start; /* history */
    gw_calendar_share(cal, from, *end, &r->avail, &covered, &available);
    gw_calendar_share(cal, from, wm, &r->avail, &covered_now, &gone);
    bool amount = pb->objective_type == GW_OBJECTIVE_AMOUNT;
    int metric =
        amount ? gw_metric_amount(pb->objective_kind) : gw_metric_count(pb->objective_kind);
    /* the objective per top-of-funnel activity, at the typical rep's rates
     * and at the rep's own (shrunk); money per deal for amounts */
    double unit = 1, team_conv = 1, rep_conv = 1;
    if (amount) {
        int ew = pb->evidence_window >= 0 ? pb->evidence_window : ev->cfg->nwindows - 1;
        const int64_t *t = team->win[ew].v;
        int64_t n = t[gw_metric_count(pb->objective_kind)];
        unit = n > 0 ? (double)t[metric] / (double)n : NAN;
    }
    for (int s = 0; s < pb->objective_stage && s < d->ntransitions; s++) {
        team_conv *= d->tr[s].team_rate;
        rep_conv *= d->tr[s].rep_shrunk;
    }
    int64_t since = r->avail.joined_ms >= 0 ? r->avail.joined_ms : r->first_ms;
    gw_pace_input_t in = {
        .target = pb->period_target[k],
        .ramp_factor = gw_playbook_ramp(pb, since >= 0 ? (wm - since) / WEEK_MS : 0),
        .nominal_days = nominal,
        .available_days = available,
        .elapsed_days = gone,
        .result = (double)r->period[k].v[metric],
        .unit = unit,
        .team_conversion = team_conv * unit,
        .rep_conversion = rep_conv * unit,
    };
    gw_pace_evaluate(pb, &in, pace);
    memset(pd, 0, sizeof(*pd));
    pd->kind = GW_DIAG_HEALTHY;
    pd->weakest = -1;
    pd->result = in.result;
    pd->objective = pace->objective;
    pd->actual_volume = (double)r->period[k].v[gw_metric_count(pb->stages[0].kinds[0])];
    pd->required_volume = NAN;
}

/* Queues the pace snapshot of one rep in one period ("<prefix>:{tag}:pace:<kind>"). */
static int queue_pace(gw_evaluator_t *ev, const rep_rec_t *r, const gw_playbook_t *pb, int k,
                      int64_t wm, const gw_pace_t *p, const char *id, int64_t start, int64_t end,
                      double result, char *err, size_t errsize)
{
    gw_snapshot_pace(ev->snap, pb, p, id, start, end, result, wm, gw_now_ms());
    return gw_diag_store_queue_pace(ev->diag, r->tenant, r->rep, gw_period_str((gw_period_kind_t)k),
                                    ev->snap, err, errsize);
}

/* The chunk's reps' pace in every period the playbook sets an objective
 * for (after the evidence window's diagnosis, whose rates the plan uses). */
static int evaluate_pace(gw_evaluator_t *ev, const gw_playbook_t *pb, const team_ctx_t *tc,
                         const gw_entity_read_t *rd, rep_rec_t **mine, size_t nmine,
                         const team_work_t *tw, char *err, size_t errsize)
{
    for (int k = 0; k < GW_PERIOD_COUNT; k++) {
        if (isnan(pb->period_target[k]))
            continue;
        for (size_t m = 0; m < nmine; m++) {
            rep_rec_t *r = mine[m];
            for (size_t i = 0; i < tc->nmembers && !r->gone; i++) {
                if (strcmp(tc->members[i], r->rep) != 0 || !tw->present[i] || tw->gone[i])
                    continue;
                gw_pace_t pace;
                gw_diagnosis_t pd;
                char id[GW_CAL_PERIOD_ID_MAX];
                int64_t start, end;
                pace_of(ev, pb, tc, rd, i, &tw->diags[i], k, &pace, &pd, id, sizeof(id), &start,
                        &end);
                if (queue_pace(ev, r, pb, k, tc->t->wm, &pace, id, start, end, pd.result, err,
                               errsize) != GW_STORE_OK)
                    return -1;
                gw_export_pace(ev->export, tc->team, r->rep, gw_period_str((gw_period_kind_t)k),
                               &pace, pd.result);
                if (queue_export(ev, r->tenant, ev->export, err, errsize) != 0)
                    return -1;
                if (ev->listener) {
                    gw_evaluation_t e = {r->tenant, r->rep, tc->team, pb,    -1,
                                         tc->t->wm, &pd,    k,        &pace, id};
                    ev->listener(ev->listener_ctx, &e);
                }
            }
        }
    }
    return 0;
}

/* Diagnoses every rep of one team in every window and reports those of the
 * chunk (`mine`, `nmine`). Each rep's peers are the other reps of the team
 * that Redis holds, whatever instance owns them. */
static int evaluate_team(gw_evaluator_t *ev, const team_ctx_t *tc, rep_rec_t **mine, size_t nmine,
                         int *evaluated, char *err, size_t errsize)
{
    const gw_config_t *cfg = ev->cfg;
    const gw_playbook_t *pb =
        gw_playbook_for_team(cfg->playbooks, cfg->nplaybooks, tc->tenant, tc->team);
    const gw_entity_read_t *rd = &ev->reads[tc->first];
    size_t n = tc->nmembers;
    team_work_t tw = {0};
    int rc = -1;
    if (team_work_alloc(&tw, n) != 0) {
        snprintf(err, errsize, "out of memory evaluating team %s", tc->team);
        goto out;
    }
    int64_t wm = tc->t->wm;
    for (size_t i = 0; i < n; i++) {
        tw.present[i] = rd[i].exists || rd[i].first_ms >= 0;
        /* From the leaving date on, a leaver is out of the evaluation and
         * the team's baseline (README "Calendars"); so is a rep moved to
         * another team from the move on. */
        const gw_availability_t *a = &rd[i].avail;
        bool left = a->left_ms >= 0 && a->left_ms <= wm && a->left_ms > a->joined_ms;
        tw.moved[i] = rd[i].team_since_ms >= 0 && rd[i].team_since_ms <= wm && rd[i].team[0] &&
                      strcmp(rd[i].team, tc->team) != 0;
        tw.gone[i] = left || tw.moved[i];
    }
    /* The chunk's reps: expired ones leave the rosters; a move forgets the
     * old team's export fields. */
    for (size_t k = 0; k < nmine; k++) {
        rep_rec_t *r = mine[k];
        r->last_eval_mono = gw_mono_ms();
        for (size_t i = 0; i < n; i++)
            if (!strcmp(tc->members[i], r->rep) && !tw.present[i] &&
                forget_rep(ev, r, err, errsize) != 0)
                goto out;
        if (r->old_team && !r->gone) {
            if (export_forget(ev, r->tenant, r->old_team, r->rep, err, errsize) != 0)
                goto out;
            free(r->old_team);
            r->old_team = NULL;
        }
    }
    for (int w = 0; pb && w < cfg->nwindows; w++) {
        if (diagnose_team(ev, pb, tc, rd, w, &tw) == 0)
            continue;
        for (size_t k = 0; k < nmine; k++) {
            rep_rec_t *r = mine[k];
            for (size_t i = 0; i < n && !r->gone; i++) {
                if (strcmp(tc->members[i], r->rep) != 0 || !tw.present[i] || tw.moved[i] ||
                    isnan(gw_playbook_target(pb, tc->tenant, r->rep, w)))
                    continue;
                const gw_diagnosis_t *d = &tw.diags[i];
                if (queue_snapshot(ev, r, tc->team, pb, w, tc->t->wm, d, err, errsize) !=
                    GW_STORE_OK)
                    goto out;
                gw_export_diagnosis(ev->export, pb, tc->team, r->rep, cfg->windows[w].name, d);
                if (queue_export(ev, r->tenant, ev->export, err, errsize) != 0)
                    goto out;
                if (ev->listener) {
                    gw_evaluation_t e = {r->tenant, r->rep, tc->team, pb, w, tc->t->wm, d, -1};
                    ev->listener(ev->listener_ctx, &e);
                }
            }
        }
        int ew = pb->evidence_window >= 0 ? pb->evidence_window : cfg->nwindows - 1;
        if (w == ew && evaluate_pace(ev, pb, tc, rd, mine, nmine, &tw, err, errsize) != 0)
            goto out;
    }
    for (size_t k = 0; k < nmine; k++)
        *evaluated += !mine[k]->gone && pb;
    rc = 0;
out:
    team_work_free(&tw);
    return rc;
}

static void free_teams(team_ctx_t *teams, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t m = 0; m < teams[i].nmembers; m++)
            free(teams[i].members[m]);
        free(teams[i].members);
    }
}

/* Groups the chunk's reps by tenant and team. */
static int group_chunk(gw_evaluator_t *ev, rep_rec_t **reps, size_t n, clock_read_t *clocks,
                       size_t *ntenants, team_ctx_t *teams, size_t *nteams, int *team_of)
{
    *ntenants = *nteams = 0;
    for (size_t i = 0; i < n; i++) {
        rep_rec_t *r = reps[i];
        size_t t = 0;
        while (t < *ntenants && strcmp(clocks[t].tenant, r->tenant) != 0)
            t++;
        if (t == *ntenants) {
            tenant_rec_t *tr = tenant_rec(ev, r->tenant);
            if (!tr)
                return -1;
            clocks[(*ntenants)++] = (clock_read_t){r->tenant, tr, -1, -1};
        }
        size_t k = 0;
        while (k < *nteams &&
               (strcmp(teams[k].team, r->team) != 0 || strcmp(teams[k].tenant, r->tenant) != 0))
            k++;
        if (k == *nteams)
            teams[(*nteams)++] =
                (team_ctx_t){.tenant = r->tenant, .team = r->team, .t = clocks[t].t};
        team_of[i] = (int)k;
    }
    return 0;
}

/* Reads each team's reps from its roster in Redis (and the chunk's own,
 * whose entry may still be on its way) at the tenant's watermark. */
static int read_teams(gw_evaluator_t *ev, rep_rec_t **reps, size_t n, team_ctx_t *teams,
                      size_t nteams, const int *team_of, char *err, size_t errsize)
{
    size_t nreads = 0;
    for (size_t k = 0; k < nteams; k++) {
        team_ctx_t *tc = &teams[k];
        if (gw_store_read_team(ev->store, tc->tenant, tc->team, member_field, tc, err, errsize) !=
            GW_STORE_OK)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (team_of[i] == (int)k && add_member(tc, reps[i]->rep) != 0)
                goto oom;
        tc->first = nreads;
        if (ensure_reads(ev, nreads + tc->nmembers + 1) != 0)
            goto oom;
        /* a rep's calendar periods at the tenant's watermark (pace) */
        const gw_calendar_t *cal = team_calendar(ev, tc);
        int64_t firsts[GW_PERIOD_COUNT], next, today = gw_calendar_day(cal, tc->t->wm);
        for (int p = 0; p < GW_PERIOD_COUNT; p++)
            firsts[p] = ev->cfg->periods & (1u << p)
                            ? gw_calendar_period_first(cal, (gw_period_kind_t)p, today, &next)
                            : -1;
        for (size_t m = 0; m <= tc->nmembers; m++) {
            gw_entity_read_t *rd = &ev->reads[nreads++];
            rd->entity = m < tc->nmembers ? (gw_entity_t){GW_ENTITY_REP, tc->tenant, tc->members[m]}
                                          : (gw_entity_t){GW_ENTITY_TEAM, tc->tenant, tc->team};
            for (int p = 0; p < GW_PERIOD_COUNT; p++)
                rd->period_first[p] = m < tc->nmembers ? firsts[p] : -1;
        }
        if (gw_store_read_entities(ev->store, &ev->reads[tc->first], tc->nmembers + 1, tc->t->wm,
                                   err, errsize) != GW_STORE_OK)
            return -1;
    }
    return 0;
oom:
    snprintf(err, errsize, "out of memory reading the chunk's teams");
    return -1;
}

static int evaluate_chunk(gw_evaluator_t *ev, rep_rec_t **reps, size_t n, char *err, size_t errsize)
{
    int64_t wm = gw_evaluator_watermark(ev);
    if (wm < 0)
        return 0;
    if (write_registrations(ev, err, errsize) != 0)
        return -1;
    clock_read_t clocks[CHUNK_REPS];
    team_ctx_t teams[CHUNK_REPS];
    int team_of[CHUNK_REPS];
    size_t ntenants = 0, nteams = 0;
    int rc = -1, evaluated = 0;
    memset(teams, 0, sizeof(teams));
    if (group_chunk(ev, reps, n, clocks, &ntenants, teams, &nteams, team_of) != 0) {
        snprintf(err, errsize, "out of memory");
        goto out;
    }
    /* Retention gaps recorded with the positions mark windows incomplete. */
    ev->ngaps = 0;
    if (gw_store_read_gaps(ev->store, ev->cfg->kafka.topic_events, gap_found, ev, err, errsize) !=
        GW_STORE_OK)
        goto out;
    if (read_tenant_times(ev, clocks, ntenants, wm, err, errsize) != 0 ||
        read_teams(ev, reps, n, teams, nteams, team_of, err, errsize) != 0)
        goto out;
    for (size_t k = 0; k < nteams; k++) {
        rep_rec_t *mine[CHUNK_REPS];
        size_t nmine = 0;
        for (size_t i = 0; i < n; i++)
            if (team_of[i] == (int)k)
                mine[nmine++] = reps[i];
        if (evaluate_team(ev, &teams[k], mine, nmine, &evaluated, err, errsize) != 0)
            goto out;
    }
    if (gw_diag_store_flush(ev->diag, err, errsize) != GW_STORE_OK)
        goto out;
    if (ev->listener_done)
        ev->listener_done(ev->listener_ctx);
    ev->m->evaluations += (uint64_t)evaluated;
    rc = evaluated;
out:
    free_teams(teams, nteams);
    return rc;
}

int gw_evaluator_tick(gw_evaluator_t *ev, int64_t budget_ms)
{
    const gw_config_t *cfg = ev->cfg;
    if (cfg->nplaybooks == 0 || !gw_evaluator_caught_up(ev) || !group_caught_up(ev))
        return 0;
    int64_t start = gw_mono_ms();
    char err[512];
    int total = 0;
    if (!ev->sweeping && start >= ev->next_sweep_mono) {
        if (start_sweep(ev, err, sizeof(err)) != GW_STORE_OK) {
            gw_log_warn("cannot load the roster for a sweep; will retry", "err=\"%s\"", err);
            return -1;
        }
        ev->next_sweep_mono = start + cfg->evaluation.sweep_interval_ms;
    }
    while (gw_mono_ms() - start < budget_ms) {
        rep_rec_t *chunk[CHUNK_REPS];
        size_t n = 0;
        /* Touched reps first (rate-limited), then the sweep. */
        size_t kept = 0;
        int64_t now = gw_mono_ms();
        for (size_t i = 0; i < ev->nqueue; i++) {
            rep_rec_t *r = ev->queue[i];
            bool due = r->last_eval_mono == 0 ||
                       now - r->last_eval_mono >= cfg->evaluation.min_interval_ms;
            if (due && n < CHUNK_REPS) {
                chunk[n++] = r;
                r->queued = false;
            } else {
                ev->queue[kept++] = r;
            }
        }
        ev->nqueue = kept;
        while (ev->sweeping && n < CHUNK_REPS && ev->sweep_pos < ev->nsweep) {
            rep_rec_t *r = ev->sweep[ev->sweep_pos++];
            if (!r->gone)
                chunk[n++] = r;
        }
        if (ev->sweeping && ev->sweep_pos >= ev->nsweep)
            ev->sweeping = false;
        if (n == 0)
            break;
        int done = evaluate_chunk(ev, chunk, n, err, sizeof(err));
        if (done < 0) {
            ev->m->evaluation_failures++;
            gw_log_warn("evaluation failed; will retry", "err=\"%s\"", err);
            /* Put the chunk back at the front of the work. */
            for (size_t i = 0; i < n; i++) {
                chunk[i]->last_eval_mono = 0;
                if (!chunk[i]->queued &&
                    push(&ev->queue, &ev->nqueue, &ev->capqueue, chunk[i]) == 0)
                    chunk[i]->queued = true;
            }
            return -1;
        }
        total += done;
    }
    return total;
}
