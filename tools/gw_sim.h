/*
 * gw_sim: a synthetic SDR sales org for demos and tests. Pure: events are
 * handed to a callback in event-time order; no I/O.
 *
 * Each team has its own baseline (connect and booking rates); each rep
 * follows an archetype with day-to-day noise on volume. Conversions are
 * drawn by error diffusion (the exact rate over a window, jittered per day),
 * so a planted archetype shows the same diagnosis on every seed; volumes
 * vary with the seed.
 *
 * The funnel (GW_SIM_CONFIG_YAML): reach [DIAL, EMAIL_SENT] -> connect
 * [CONVERSATION, EMAIL_REPLY] -> book [MEETING_BOOKED]; objective 9
 * meetings per 7 days (36 per 30 days); new reps ramp at 25/50/75%.
 */
#ifndef GW_SIM_H
#define GW_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "gw_keys.h"

typedef enum {
    GW_ARCH_HEALTHY = 0,
    GW_ARCH_LEAN,         /* half the activity, converts well: meets the objective */
    GW_ARCH_LOW_ACTIVITY, /* converts like the team, does too little */
    GW_ARCH_WEAK_STAGE,   /* enough activity, books few of its conversations */
    GW_ARCH_HIGH_VOLUME,  /* very high activity, conversations collapse */
    GW_ARCH_SILENT,       /* worked, then stopped logging 10 days ago */
    GW_ARCH_RAMPING,      /* joined 6 days ago */
    GW_ARCH_TIME_OFF,     /* healthy, on a week of time off (a TIME_OFF record) at the end */
    GW_ARCH_COUNT
} gw_archetype_t;

/* "healthy", "lean_on_target", "low_activity", "weak_at_booking",
 * "high_volume_poor_conversion", "silent", "new_rep_ramping", "on_time_off". */
const char *gw_archetype_str(gw_archetype_t a);

typedef struct {
    const char *tenant; /* default "acme" */
    int teams;          /* >= 1 */
    int reps_per_team;  /* >= 1; with plant, the first GW_ARCH_COUNT - 1 are planted */
    int days;           /* simulated days, >= 14 */
    uint32_t seed;
    int64_t end_ms; /* event time of the end of the last day */
    bool plant;     /* one rep of each archetype per team; the rest healthy */
} gw_sim_config_t;

typedef struct {
    char event_id[48];
    char tenant[GW_ID_MAX + 1];
    char rep[GW_ID_MAX + 1];
    char team[GW_ID_MAX + 1];
    int64_t occurred_at_ms;
    int kind;           /* proto Kind value */
    int channel;        /* proto Channel value */
    bool goal;          /* a goal was recorded */
    bool next_step;     /* a next step was recorded */
    int64_t ends_at_ms; /* a TIME_OFF record's end, else 0 */
} gw_sim_event_t;

/* What the simulation planted, and what gapwatch should diagnose in the 7d
 * window (the ground truth). */
typedef struct {
    char tenant[GW_ID_MAX + 1];
    char rep[GW_ID_MAX + 1];
    char team[GW_ID_MAX + 1];
    gw_archetype_t archetype;
    const char *expected_diagnosis; /* gw_diag_str() value */
    const char *expected_weakest;   /* stage name, or "" */
    const char *expected_signal;    /* a signal that must be present, or "" */
} gw_sim_rep_t;

typedef void (*gw_sim_emit_fn)(void *ctx, const gw_sim_event_t *ev);

/* Number of reps the configuration simulates (teams * reps_per_team). */
int gw_sim_rep_count(const gw_sim_config_t *cfg);

/*
 * Runs the simulation: fills `reps` (gw_sim_rep_count entries) with the
 * ground truth and calls `emit` for every event in event-time order.
 * Returns the number of events, or -1 on a bad configuration or OOM.
 */
long gw_sim_run(const gw_sim_config_t *cfg, gw_sim_rep_t *reps, gw_sim_emit_fn emit, void *ctx);

/* The gapwatchd config (windows and the SDR playbook, covering every team)
 * the simulation is diagnosed with. Top-level YAML keys. */
extern const char GW_SIM_CONFIG_YAML[];

/* The demo's: the same with a monthly objective of 36 meetings (calendar
 * periods and pace, docs/calendars.md). */
extern const char GW_SIM_DEMO_CONFIG_YAML[];

/* Writes the ground truth of `reps` to `path`, one JSON object per rep
 * (tenant, rep, team, archetype, window, diagnosis, weakest_stage, signal):
 * what gapwatch sim --truth writes and gapwatch scoreboard reads. Returns 0,
 * or -1 with errno set. */
int gw_sim_write_truth(const char *path, const gw_sim_rep_t *reps, int n);

#endif
