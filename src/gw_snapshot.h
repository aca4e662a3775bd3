/*
 * gw_snapshot: the public hashes the evaluator writes, serialised. Pure: no
 * I/O, no clock (times are arguments).
 *
 *   - the diagnosis snapshot of a rep in a window ("<prefix>:{tag}:diag:W",
 *     fields in README "Redis layout");
 *   - the pace snapshot of a rep in a calendar period ("<prefix>:{tag}:pace:K",
 *     docs/calendars.md);
 *   - the export fields of one rep for Prometheus ("<team>|<rep>|<window>|
 *     <metric>" in the tenant's export hash, README "Per-rep series").
 *
 * Each fills caller-owned storage; the evaluator queues the writes. Field
 * names and number formats are a public contract: test_snapshot pins them.
 *
 * Ownership: The caller owns gw_snapshot_t and gw_export_t; values point into their own buffers,
 *   field names into static tables or their own buffers; nothing is allocated.
 * Errors: No return codes: NaN values are left out, and text too long for a buffer is truncated.
 * Threads: Any thread, pure.
 */
#ifndef GW_SNAPSHOT_H
#define GW_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "gw_detector.h"
#include "gw_keys.h"
#include "gw_kinds.h"
#include "gw_pace.h"
#include "gw_playbook.h"

#define GW_SNAPSHOT_MAX   160
#define GW_SNAPSHOT_VALUE 96

/* A hash's fields and values (values point into `buf`). */
typedef struct {
    const char *fields[GW_SNAPSHOT_MAX];
    const char *values[GW_SNAPSHOT_MAX];
    char buf[GW_SNAPSHOT_MAX][GW_SNAPSHOT_VALUE];
    size_t n;
} gw_snapshot_t;

/* What a diagnosis snapshot says besides the diagnosis itself. */
typedef struct {
    const char *team;
    const char *evidence_window; /* its name */
    int64_t watermark_ms;        /* the evaluation's event time */
    int64_t evaluated_at_ms;     /* wall clock */
    int64_t lost_offsets;        /* offsets lost to retention in the window (0: complete) */
} gw_snapshot_meta_t;

/* Fills `s` with the snapshot of diagnosis `d` (NaN values are left out). */
void gw_snapshot_diagnosis(gw_snapshot_t *s, const gw_playbook_t *pb, const gw_kinds_t *kinds,
                           const gw_snapshot_meta_t *meta, const gw_diagnosis_t *d);

/* Fills `s` with the pace snapshot of period `id` ([start, end) UTC ms). */
void gw_snapshot_pace(gw_snapshot_t *s, const gw_playbook_t *pb, const gw_pace_t *p, const char *id,
                      int64_t start_ms, int64_t end_ms, double result, int64_t watermark_ms,
                      int64_t evaluated_at_ms);

#define GW_EXPORT_MAX (16 + 3 * GW_STAGES_MAX)

/* Export fields to set, and those to delete (their value is unknown now). */
typedef struct {
    const char *fields[GW_EXPORT_MAX];
    const char *values[GW_EXPORT_MAX];
    char fbuf[GW_EXPORT_MAX][2 * GW_ID_MAX + GW_WINDOW_NAME_MAX + GW_STAGE_NAME_MAX + 24];
    char vbuf[GW_EXPORT_MAX][32];
    size_t n;
    const char *dels[GW_EXPORT_MAX];
    size_t ndel;
} gw_export_t;

/* The export fields of one diagnosis; with `d` NULL only the names (as
 * deletions), to forget a rep. */
void gw_export_diagnosis(gw_export_t *x, const gw_playbook_t *pb, const char *team, const char *rep,
                         const char *window, const gw_diagnosis_t *d);

/* The export fields of a period's pace (window label: the period kind);
 * with `p` NULL only the names (as deletions). */
void gw_export_pace(gw_export_t *x, const char *team, const char *rep, const char *period,
                    const gw_pace_t *p, double result);

#endif
