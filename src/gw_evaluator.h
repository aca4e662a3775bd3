/*
 * gw_evaluator: the window/rep reader and the sweep timer of the
 * architecture. Decides when and whom to evaluate, reads the rep's and the
 * team's window totals as of the evaluation watermark, runs the detector,
 * writes the diagnosis snapshot to Redis and hands each diagnosis to a
 * listener (the alerts).
 *
 * When: after each batch for the reps it touched (each rep at most every
 * evaluation.min_interval), and every evaluation.sweep_interval for every
 * rep known on the partitions this instance owns (the roster), so a rep who
 * logs nothing is evaluated too. Only while the consumer is caught up
 * (every assigned partition at its end or within evaluation.max_lag
 * messages): a replayed backlog is never judged half-read.
 *
 * Evaluation watermark (docs/diagnosis.md, "Evaluation"): the minimum stream time
 * of the assigned partitions that still have messages to read; when all are
 * caught up, the newest stream time, which advances with the wall clock
 * once every partition has been idle for consumer.idle_after.
 *
 * Work is done in chunks (at most a few hundred reps per call) so the loop
 * keeps consuming during a sweep.
 *
 * Ownership: gw_evaluator_new() borrows the config, the store, the
 * consumer and the metrics (all must outlive it) and owns its roster, its
 * gw_diag_store and its scratch; an evaluation handed to the listener is
 * valid during the call only.
 * Errors: gw_evaluator_new() returns NULL on OOM; a Redis failure during a
 * tick is logged and counted, and the reps it concerned are evaluated again
 * at the next tick.
 * Threads: not thread-safe: the loop owns it, and the listener is called
 * on the loop.
 */
#ifndef GW_EVALUATOR_H
#define GW_EVALUATOR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw_coalesce.h"
#include "gw_config.h"
#include "gw_consumer.h"
#include "gw_detector.h"
#include "gw_metrics.h"
#include "gw_pace.h"
#include "gw_store.h"

/* One diagnosis, as handed to the listener. Pointers valid during the call. */
typedef struct {
    const char *tenant;
    const char *rep;
    const char *team;
    const gw_playbook_t *playbook;
    int window; /* index into cfg->windows; -1 for a period's pace */
    int64_t watermark_ms;
    const gw_diagnosis_t *diag; /* a pace's: result and objective of the period */
    int period;                 /* gw_period_kind_t of a pace, -1 for a window */
    const gw_pace_t *pace;      /* a period's pace, else NULL */
    const char *period_id;      /* e.g. "month:2026-12" */
} gw_evaluation_t;

typedef void (*gw_evaluation_fn)(void *ctx, const gw_evaluation_t *evaluation);

/* Called after each chunk of evaluations (the listener may batch its I/O). */
typedef void (*gw_evaluation_done_fn)(void *ctx);

typedef struct gw_evaluator_s gw_evaluator_t;

/* All arguments borrowed; NULL on OOM. */
gw_evaluator_t *gw_evaluator_new(const gw_config_t *cfg, gw_store_t *store, gw_consumer_t *consumer,
                                 gw_metrics_t *metrics);

/* Accepts NULL. */
void gw_evaluator_free(gw_evaluator_t *ev);

/* Sets the listener called for every diagnosis and after every chunk (NULL
 * to remove). */
void gw_evaluator_set_listener(gw_evaluator_t *ev, gw_evaluation_fn fn, gw_evaluation_done_fn done,
                               void *ctx);

/* Queues the reps of an applied batch for evaluation. */
void gw_evaluator_note_batch(gw_evaluator_t *ev, const gw_coalesce_t *batch);

/*
 * Does the evaluation work that is due, in chunks, until nothing is due or
 * `budget_ms` has passed. Returns the number of reps evaluated, or -1 when
 * Redis failed (the work stays queued).
 */
int gw_evaluator_tick(gw_evaluator_t *ev, int64_t budget_ms);

/* The current evaluation watermark (ms), or -1 when unknown. */
int64_t gw_evaluator_watermark(gw_evaluator_t *ev);

/* True when every assigned partition has been read to its end. */
bool gw_evaluator_at_end(const gw_evaluator_t *ev);

/* True when every assigned partition is caught up (see above). */
bool gw_evaluator_caught_up(const gw_evaluator_t *ev);

/* Reps known to this instance. */
size_t gw_evaluator_known_reps(const gw_evaluator_t *ev);

#endif
