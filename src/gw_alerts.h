/*
 * gw_alerts: what an alert is and how it lives. Pure: no I/O.
 *
 * Each (tenant, rep, window, alert kind) has a lifecycle state. At every
 * evaluation the detector's diagnosis says whether the kind's condition
 * holds (the gap is significant) and whether it has cleared (the evidence
 * says it is gone: the objective met, or the volume or conversion back at
 * the team's). Between the two the state stays as it is: that band is the
 * hysteresis that keeps a rep near a threshold from flapping.
 *
 *   inactive --holds--> pending
 *   pending  --cleared--> inactive (nothing was sent)
 *   pending  --pending fire_after and holds now--> FIRING (send)
 *   firing   --holds, repeat_interval since last--> FIRING again (send)
 *   firing   --cleared--> resolving --cleared resolve_after--> RESOLVED (send)
 *   resolving --not cleared--> firing (nothing sent)
 *
 * A FIRING that opens an episode within GW_ALERT_FLAP_SPAN of event time
 * after the previous RESOLVED is a flap: counted, so operators see whether
 * the defaults hold. Durations are measured on the event-time evaluation
 * watermark, so a replayed stream behaves as it did live. Wall-clock times
 * are only reported (starts_at, ends_at).
 *
 * Ownership: the caller owns every state and alert; strings returned by the
 * *_str functions are static; the formatters write into the caller's
 * buffer.
 * Errors: parse functions return -1 for an unknown name; the formatters
 * return the length snprintf would have written (truncated to `size`).
 * Threads: pure; any thread. No file-scope mutable state.
 */
#ifndef GW_ALERTS_H
#define GW_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_detector.h"
#include "gw_kinds.h"
#include "gw_pace.h"
#include "gw_playbook.h"

typedef enum {
    GW_ALERT_EFFICIENCY = 0,
    GW_ALERT_EFFECTIVENESS,
    GW_ALERT_LOW_QUALITY,
    GW_ALERT_PIPELINE_INFLATION,
    GW_ALERT_GAMING,
    GW_ALERT_BEHIND_PACE, /* a calendar period's pace (gw_pace), not a window's diagnosis */
    GW_ALERT_KINDS
} gw_alert_kind_t;

/* "efficiency_gap", "effectiveness_gap", "low_activity_quality",
 * "pipeline_inflation", "suspected_gaming", "behind_pace". */
const char *gw_alert_kind_str(gw_alert_kind_t kind);

/* Alertmanager's alertname: "GapwatchEfficiencyGap", ... */
const char *gw_alert_kind_alertname(gw_alert_kind_t kind);

/* The default `severity` label of the kind in Alertmanager: "warning" for
 * the gaps and suspected gaming, "info" for low activity quality and
 * pipeline inflation (alerting.alertmanager.severity overrides). */
const char *gw_alert_kind_default_severity(gw_alert_kind_t kind);

/* The proto AlertKind value (1-5). */
int gw_alert_kind_proto(gw_alert_kind_t kind);

/* Kind by name (gw_alert_kind_str); -1 if unknown. */
int gw_alert_kind_parse(const char *name);

/* True if the diagnosis shows the kind's condition. */
bool gw_alert_condition(gw_alert_kind_t kind, const gw_diagnosis_t *d);

/* True if the diagnosis shows the kind's condition is gone (stronger than
 * "does not hold": see above). */
bool gw_alert_cleared(const gw_playbook_t *pb, gw_alert_kind_t kind, const gw_diagnosis_t *d);

/* Event time after a RESOLVED within which a new FIRING counts as a flap. */
#define GW_ALERT_FLAP_SPAN_MS (24LL * 3600 * 1000)

typedef enum {
    GW_PHASE_INACTIVE = 0,
    GW_PHASE_PENDING,
    GW_PHASE_FIRING,
    GW_PHASE_RESOLVING,
} gw_alert_phase_t;

typedef struct {
    gw_alert_phase_t phase;
    int64_t since_wm;       /* pending/firing: event time the condition started */
    int64_t clear_since_wm; /* resolving: event time it cleared */
    int64_t last_sent_wm;   /* event time of the last FIRING sent */
    int64_t starts_at_ms;   /* wall clock of the episode's first FIRING */
    uint32_t seq;           /* messages of the current episode */
    uint64_t msgno;         /* messages ever decided for this alert */
    uint64_t delivered;     /* highest msgno the broker acknowledged */
    int64_t resolved_wm;    /* event time of the last RESOLVED, 0: never */
    bool flapped;           /* out: the last step opened an episode that is a flap */
} gw_alert_state_t;

typedef struct {
    int64_t fire_after_ms;      /* the condition must hold this long first */
    int64_t resolve_after_ms;   /* ... and be clear this long to resolve */
    int64_t repeat_interval_ms; /* a FIRING is repeated after this while it holds */
} gw_alert_policy_t;

typedef enum {
    GW_SEND_NONE = 0,
    GW_SEND_FIRING,
    GW_SEND_RESOLVED,
} gw_alert_send_t;

/* Moves `st` for one evaluation at event time `wm_ms` (wall clock `now_ms`)
 * and returns what to send. `condition` and `cleared` are never both true
 * (cleared wins). On a send, st->seq and st->msgno are advanced. */
gw_alert_send_t gw_alert_step(const gw_alert_policy_t *policy, gw_alert_state_t *st, bool condition,
                              bool cleared, int64_t wm_ms, int64_t now_ms);

/* "inactive", "pending", "firing", "resolving"; parse returns -1 if unknown. */
const char *gw_alert_phase_str(gw_alert_phase_t phase);
int gw_alert_phase_parse(const char *name);

/* Writes the stable alert id: 16 hex digits of a 64-bit FNV-1a over
 * tenant, rep, kind and window. `out` holds 17 bytes. */
void gw_alert_id(char *out, const char *tenant, const char *rep, gw_alert_kind_t kind,
                 const char *window);

/* What an alert message says: everything to build the GapAlert. */
typedef struct {
    const char *tenant, *rep, *team, *window;
    const gw_playbook_t *playbook;
    const gw_kinds_t *kinds;
    gw_alert_kind_t kind;
    gw_alert_send_t state; /* FIRING or RESOLVED */
    const gw_diagnosis_t *diag;
    int64_t watermark_ms, evaluated_at_ms, starts_at_ms, ends_at_ms;
    uint32_t sequence;
    const gw_pace_t *pace; /* GW_ALERT_BEHIND_PACE: the pace and its period id */
    const char *period;
} gw_alert_t;

/* Writes the one-sentence summary a sales manager reads, e.g. "north-r02
 * booked 5 of 9 meetings in 7d; reach 140 vs 417 needed at the team's
 * conversion - efficiency gap". Returns its length. */
int gw_alert_summary(const gw_alert_t *a, char *buf, size_t size);

/* Packs the GapAlert protobuf into a malloc'ed buffer (*out, caller frees).
 * Returns 0, or -1 on OOM. */
int gw_alert_pack(const gw_alert_t *a, uint8_t **out, size_t *len);

/* The alert as a JSON object text (malloc'ed, caller frees): the Redis
 * stream's copy and `gapwatch alerts --json`. NULL on OOM. */
char *gw_alert_json(const gw_alert_t *a);

#endif
