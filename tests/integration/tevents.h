/*
 * tevents: a seeded stream of valid sales events for the integration tests,
 * produced through a real Kafka client, and the brute-force recount the
 * counters in Redis must equal.
 *
 * The recount is written from the rules in docs/counting.md ("Windows and
 * lateness"), deliberately without the daemon's code: per partition the
 * stream time is the running max of event times in offset order; an event
 * is late for a window if its bucket is below floor((stream - grace) /
 * bucket) - nbuckets + 1; an entity's totals hold its events whose bucket is
 * at or above the same start computed at the entity's watermark (the max
 * stream time over its events).
 */
#ifndef TEVENTS_H
#define TEVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "gw_decode.h"
#include "gw_harness.h"
#include "gw_sim.h"

typedef struct {
    char tenant[16];
    char rep[24];
    char team[24];
    char event_id[32];
    int64_t t;
    int kind;              /* proto Kind value; 13 = CUSTOM */
    const char *kind_name; /* field name in Redis (built-in or custom name) */
    bool activity;
    int64_t amount;
    bool goal, next_step;
    int32_t partition;
    int64_t offset;
    bool delivered;
} tev_t;

typedef struct {
    const char *name;
    int64_t length_ms, bucket_ms, grace_ms;
} twindow_t;

/* The windows and custom kinds the tests configure (YAML for the config). */
extern const twindow_t tev_windows[3];
extern const char *const tev_config_yaml;

typedef struct {
    tev_t *ev;
    size_t n;
} tev_stream_t;

/* Generates `n` events (seeded): `reps` reps over `teams` teams in two
 * tenants, 45 days of event time ending an hour ago, with jitter, late
 * events and every kind. */
void tev_generate(tev_stream_t *s, size_t n, int reps, int teams, uint32_t seed);

/* Produces every event to `topic` keyed by rep and waits for all delivery
 * reports (recording partition and offset). Fails the test on an error. */
void tev_produce(gwh_t *h, tev_stream_t *s, const char *topic);

typedef struct {
    size_t entities;          /* reps and teams in the stream */
    size_t windows_with_data; /* entity-windows with at least one counted event */
    size_t fields;            /* fields compared */
    int64_t late_rep_drops;   /* rep-window late drops expected */
} tev_stats_t;

/* Compares every rep's and team's totals in Redis with the recount. Prints
 * each mismatch (up to a limit) and a summary; returns the number of
 * mismatching fields and fills `stats`. `expect_wm` also checks each entity's
 * watermark (only exact when no sweep moved it). */
size_t tev_compare(gwh_t *h, const tev_stream_t *s, bool expect_wm, tev_stats_t *stats);

/* Compares every rep's calendar period totals in Redis
 * (gw:{tenant:rep}:p:<week|month|quarter>:<first day>, a UTC calendar with
 * weeks from Monday and the fiscal year from January) with a recount of the
 * stream: per period the count of each kind and the sum of its amounts, and
 * nothing else. Returns the mismatching fields; fills the number of rep
 * periods compared. */
size_t tev_compare_periods(gwh_t *h, const tev_stream_t *s, size_t *periods_compared);

/* The playbook tev's exactness tests add so that the periods are counted. */
extern const char *const tev_periods_yaml;

/* tev_compare for a run whose evaluation sweeps moved silent entities'
 * watermarks on (a rep who stopped logging): each window is recounted at
 * the watermark Redis holds when it is past the events' own. */
size_t tev_compare_swept(gwh_t *h, const tev_stream_t *s, tev_stats_t *stats);

void tev_free(tev_stream_t *s);

/* A decoded event of rep `rep`, team "east" of tenant "acme" (event id
 * "x") at `t` of proto Kind `kind`, for the store's tests. */
gw_event_t tev_event(const char *rep, int64_t t, int kind);

/* Runs the simulation `cfg` (gw_sim.h) into `s` (its events in event-time
 * order, for tev_produce and tev_compare) and fills `reps` with its ground
 * truth. Returns the number of events, or -1. */
long tev_from_sim(tev_stream_t *s, const gw_sim_config_t *cfg, gw_sim_rep_t *reps);

/* Plays the simulation `cfg` (gw_sim.h) into the event topic through `rk`
 * (keyed by rep), keeping only events at or after `from_ms`, fills `reps`
 * with its ground truth and waits until every event was delivered. Returns
 * the number of events produced. */
/* Produces one simulated event (asynchronously; flush the producer). */
void tev_produce_sim_event(rd_kafka_t *rk, const gw_sim_event_t *e);

/* Produces one event of tenant "acme" (event ids "tev-<n>") to
 * sales.events keyed by `rep`; `kind` a proto Kind value, `ends_at_ms` and
 * `record_id` (NULL: none) for availability records. Aborts on an error. */
void tev_send(rd_kafka_t *rk, const char *rep, const char *team, int64_t t, int kind,
              int64_t ends_at_ms, const char *record_id);

/* A working day of one rep: counts[0] dials, counts[1] conversations and
 * counts[2] meetings booked, spread over 09:00-17:00 UTC of the day that
 * starts at `day_start`, none at or after `end`. */
void tev_workday(rd_kafka_t *rk, const char *rep, const char *team, int64_t day_start,
                 const int *counts, int64_t end);

/* A consumer of the three partitions of "sales.alerts" from the beginning
 * (assigned, not subscribed), in consumer group `group`. */
rd_kafka_t *tev_alert_reader(gwh_t *h, const char *group);

long tev_produce_sim(rd_kafka_t *rk, const gw_sim_config_t *cfg, gw_sim_rep_t *reps,
                     int64_t from_ms);

/* The benchmarks' event number `i` of rep `rep` (team rep / 10, tenant
 * "bench") at event time `t`: a kind drawn from every kind (calls most),
 * half with a goal, amounts on deals. Packs it into `buf` (512 bytes) and
 * returns its length. */
size_t tev_bench_event(uint8_t *buf, long i, int rep, int64_t t, uint64_t *rng);

#endif
