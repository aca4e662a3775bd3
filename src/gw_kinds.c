/*
 * gw_kinds: kind and metric naming. The built-in table mirrors the Kind enum
 * of proto/gapwatch/v1/event.proto; a unit test checks the two agree.
 */
#include "gw_kinds.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    gw_kind_class_t cls;
} builtin[GW_KIND_BUILTIN_LAST + 1] = {
    [1] = {"DIAL", GW_CLASS_ACTIVITY},          [2] = {"EMAIL_SENT", GW_CLASS_ACTIVITY},
    [3] = {"SOCIAL_TOUCH", GW_CLASS_ACTIVITY},  [4] = {"MEETING_HELD", GW_CLASS_ACTIVITY},
    [5] = {"DEMO_GIVEN", GW_CLASS_ACTIVITY},    [6] = {"PROPOSAL_SENT", GW_CLASS_ACTIVITY},
    [7] = {"CONVERSATION", GW_CLASS_OUTPUT},    [8] = {"EMAIL_REPLY", GW_CLASS_OUTPUT},
    [9] = {"MEETING_BOOKED", GW_CLASS_OUTCOME}, [10] = {"OPPORTUNITY_QUALIFIED", GW_CLASS_OUTCOME},
    [11] = {"DEAL_WON", GW_CLASS_OUTCOME},      [12] = {"DEAL_LOST", GW_CLASS_OUTCOME},
};

/* Field names of the Redis totals hash that are not metrics of a kind. */
static const char *const reserved[] = {"events", "activities", "with_goal", "with_next_step",
                                       "wm",     "late",       "CUSTOM",    "KIND_UNSPECIFIED"};

const char *gw_kind_name(const gw_kinds_t *kinds, int k)
{
    if (k >= 1 && k <= GW_KIND_BUILTIN_LAST)
        return builtin[k].name;
    if (k >= GW_KIND_CUSTOM_BASE && k < GW_KIND_CUSTOM_BASE + kinds->ncustom)
        return kinds->custom[k - GW_KIND_CUSTOM_BASE].name;
    return NULL;
}

int gw_kind_custom(const gw_kinds_t *kinds, const char *name, size_t len)
{
    for (int i = 0; i < kinds->ncustom; i++) {
        const char *c = kinds->custom[i].name;
        if (strlen(c) == len && memcmp(c, name, len) == 0)
            return GW_KIND_CUSTOM_BASE + i;
    }
    return -1;
}

int gw_kind_parse(const gw_kinds_t *kinds, const char *name)
{
    for (int k = 1; k <= GW_KIND_BUILTIN_LAST; k++)
        if (strcmp(builtin[k].name, name) == 0)
            return k;
    return gw_kind_custom(kinds, name, strlen(name));
}

gw_kind_class_t gw_kind_class(const gw_kinds_t *kinds, int k)
{
    if (k >= 1 && k <= GW_KIND_BUILTIN_LAST)
        return builtin[k].cls;
    if (k >= GW_KIND_CUSTOM_BASE && k < GW_KIND_CUSTOM_BASE + kinds->ncustom)
        return kinds->custom[k - GW_KIND_CUSTOM_BASE].cls;
    return GW_CLASS_NONE;
}

const char *gw_kind_class_str(gw_kind_class_t cls)
{
    switch (cls) {
    case GW_CLASS_ACTIVITY:
        return "activity";
    case GW_CLASS_OUTPUT:
        return "output";
    case GW_CLASS_OUTCOME:
        return "outcome";
    case GW_CLASS_NONE:
        break;
    }
    return "none";
}

gw_kind_class_t gw_kind_class_parse(const char *name)
{
    for (gw_kind_class_t c = GW_CLASS_ACTIVITY; c <= GW_CLASS_OUTCOME; c++)
        if (strcmp(name, gw_kind_class_str(c)) == 0)
            return c;
    return GW_CLASS_NONE;
}

bool gw_kind_name_allowed(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > GW_KIND_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    for (int k = 1; k <= GW_KIND_BUILTIN_LAST; k++)
        if (strcmp(builtin[k].name, name) == 0)
            return false;
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(reserved[i], name) == 0)
            return false;
    return strncmp(name, "amount:", 7) != 0;
}

int gw_metric_name(const gw_kinds_t *kinds, int m, char *buf, size_t size)
{
    const char *fixed = NULL;
    switch (m) {
    case GW_METRIC_EVENTS:
        fixed = "events";
        break;
    case GW_METRIC_ACTIVITIES:
        fixed = "activities";
        break;
    case GW_METRIC_WITH_GOAL:
        fixed = "with_goal";
        break;
    case GW_METRIC_WITH_NEXT_STEP:
        fixed = "with_next_step";
        break;
    default:
        break;
    }
    int n;
    if (fixed) {
        n = snprintf(buf, size, "%s", fixed);
    } else if (m >= GW_METRIC_KIND_BASE && m < GW_METRIC_KIND_BASE + GW_KIND_MAX) {
        const char *k = gw_kind_name(kinds, m - GW_METRIC_KIND_BASE);
        if (!k)
            return -1;
        n = snprintf(buf, size, "%s", k);
    } else if (m >= GW_METRIC_KIND_BASE + GW_KIND_MAX && m < GW_METRIC_MAX) {
        static const char *const family[] = {"amount:", "goal:", "next_step:"};
        int f = (m - GW_METRIC_KIND_BASE) / GW_KIND_MAX - 1;
        const char *k = gw_kind_name(kinds, (m - GW_METRIC_KIND_BASE) % GW_KIND_MAX);
        if (!k)
            return -1;
        n = snprintf(buf, size, "%s%s", family[f], k);
    } else {
        return -1;
    }
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int gw_metric_parse(const gw_kinds_t *kinds, const char *name)
{
    if (!strcmp(name, "events"))
        return GW_METRIC_EVENTS;
    if (!strcmp(name, "activities"))
        return GW_METRIC_ACTIVITIES;
    if (!strcmp(name, "with_goal"))
        return GW_METRIC_WITH_GOAL;
    if (!strcmp(name, "with_next_step"))
        return GW_METRIC_WITH_NEXT_STEP;
    if (!strncmp(name, "amount:", 7)) {
        int k = gw_kind_parse(kinds, name + 7);
        return k < 0 ? -1 : gw_metric_amount(k);
    }
    if (!strncmp(name, "goal:", 5)) {
        int k = gw_kind_parse(kinds, name + 5);
        return k < 0 ? -1 : gw_metric_goal(k);
    }
    if (!strncmp(name, "next_step:", 10)) {
        int k = gw_kind_parse(kinds, name + 10);
        return k < 0 ? -1 : gw_metric_next_step(k);
    }
    int k = gw_kind_parse(kinds, name);
    return k < 0 ? -1 : gw_metric_count(k);
}

void gw_metrics_derive(const gw_kinds_t *kinds, int64_t *v)
{
    for (int k = 0; k < GW_KIND_MAX; k++) {
        int64_t n = v[gw_metric_count(k)];
        v[GW_METRIC_EVENTS] += n;
        if (gw_kind_class(kinds, k) != GW_CLASS_ACTIVITY)
            continue;
        v[GW_METRIC_ACTIVITIES] += n;
        v[GW_METRIC_WITH_GOAL] += v[gw_metric_goal(k)];
        v[GW_METRIC_WITH_NEXT_STEP] += v[gw_metric_next_step(k)];
    }
}
