/*
 * gw_kinds: the event kinds (built-in and declared in the config) and the
 * metrics counted for them in every window. Pure: no I/O.
 *
 * Kind numbers: the built-in kinds use their proto enum values (1..12);
 * custom kinds declared in the config get GW_KIND_CUSTOM_BASE + i. The
 * numbers are internal; Redis and the alert stream use the names.
 *
 * Metric numbers (what a window counts per entity):
 *   GW_METRIC_EVENTS          "events"          events counted
 *   GW_METRIC_ACTIVITIES      "activities"      events of an activity kind
 *   GW_METRIC_WITH_GOAL       "with_goal"       activities that recorded a goal
 *   GW_METRIC_WITH_NEXT_STEP  "with_next_step"  activities that recorded a next step
 *   gw_metric_count(k)        "<KIND>"          events of kind k
 *   gw_metric_amount(k)       "amount:<KIND>"   sum of amount_minor of kind k
 *   gw_metric_goal(k)         "goal:<KIND>"     events of kind k that recorded a goal
 *   gw_metric_next_step(k)    "next_step:<KIND>" ... that recorded a next step
 * Events, activities, with_goal and with_next_step are not stored: readers
 * derive them from the kinds' counts (with_goal and with_next_step were
 * stored before 0.2 and are still added when found).
 *
 * Ownership: gw_kinds_t is a plain value (fixed-size arrays), part of gw_config_t; returned names
 *   point into it or into static tables, valid as long as the gw_kinds_t.
 * Errors: Unknown names and numbers give -1, NULL or GW_CLASS_NONE; gw_metric_name returns -1 when
 *   the buffer is too small.
 * Threads: Any thread, pure.
 */
#ifndef GW_KINDS_H
#define GW_KINDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_KIND_BUILTIN_LAST     12 /* DEAL_LOST */
#define GW_KIND_PROTO_CUSTOM     13 /* Kind.CUSTOM on the wire */
#define GW_KIND_CUSTOM_BASE      16
#define GW_CUSTOM_KINDS_MAX      32
#define GW_KIND_MAX              (GW_KIND_CUSTOM_BASE + GW_CUSTOM_KINDS_MAX)
#define GW_KIND_NAME_MAX         48

#define GW_METRIC_EVENTS         0
#define GW_METRIC_ACTIVITIES     1
#define GW_METRIC_WITH_GOAL      2
#define GW_METRIC_WITH_NEXT_STEP 3
#define GW_METRIC_KIND_BASE      4
#define GW_METRIC_MAX            (GW_METRIC_KIND_BASE + 4 * GW_KIND_MAX)
#define GW_METRIC_NAME_MAX       (GW_KIND_NAME_MAX + 11)

typedef enum {
    GW_CLASS_NONE = 0, /* not a kind */
    GW_CLASS_ACTIVITY,
    GW_CLASS_OUTPUT,
    GW_CLASS_OUTCOME,
} gw_kind_class_t;

typedef struct {
    char name[GW_KIND_NAME_MAX + 1];
    gw_kind_class_t cls;
} gw_custom_kind_t;

/* The set of kinds one deployment knows: built-ins plus the config's. */
typedef struct {
    gw_custom_kind_t custom[GW_CUSTOM_KINDS_MAX];
    int ncustom;
} gw_kinds_t;

/* Name of kind `k` ("DIAL", or a custom kind's declared name); NULL if `k` is
 * not a kind of `kinds`. */
const char *gw_kind_name(const gw_kinds_t *kinds, int k);

/* Kind number for a built-in or custom name; -1 if unknown. "CUSTOM" and
 * "KIND_UNSPECIFIED" are not countable kinds and return -1. */
int gw_kind_parse(const gw_kinds_t *kinds, const char *name);

/* Kind number of the custom kind called `name`; -1 if not declared. */
int gw_kind_custom(const gw_kinds_t *kinds, const char *name, size_t len);

gw_kind_class_t gw_kind_class(const gw_kinds_t *kinds, int k);

/* "activity", "output", "outcome"; parse returns GW_CLASS_NONE if unknown. */
const char *gw_kind_class_str(gw_kind_class_t cls);
gw_kind_class_t gw_kind_class_parse(const char *name);

/* True if `name` may name a custom kind: [A-Za-z0-9_.-]{1,48}, not a
 * built-in kind and not a reserved field name of the Redis layout. */
bool gw_kind_name_allowed(const char *name);

static inline int gw_metric_count(int kind)
{
    return GW_METRIC_KIND_BASE + kind;
}

static inline int gw_metric_amount(int kind)
{
    return GW_METRIC_KIND_BASE + GW_KIND_MAX + kind;
}

static inline int gw_metric_goal(int kind)
{
    return GW_METRIC_KIND_BASE + 2 * GW_KIND_MAX + kind;
}

static inline int gw_metric_next_step(int kind)
{
    return GW_METRIC_KIND_BASE + 3 * GW_KIND_MAX + kind;
}

/* Adds the derived metrics (events, activities, with_goal, with_next_step)
 * of `v` (GW_METRIC_MAX values) from its per-kind metrics. */
void gw_metrics_derive(const gw_kinds_t *kinds, int64_t *v);

/* Metric number of a Redis field name ("events", "DIAL", "amount:DEAL_WON",
 * a custom kind's name); -1 if it names no metric (e.g. "wm"). */
int gw_metric_parse(const gw_kinds_t *kinds, const char *name);

/* Writes metric `m`'s Redis field name into `buf`. Returns its length, or -1
 * if `m` names no kind of `kinds` or `buf` is too small. */
int gw_metric_name(const gw_kinds_t *kinds, int m, char *buf, size_t size);

#endif
