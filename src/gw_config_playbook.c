/*
 * gw_config_playbook: the `playbooks:` and `evaluation:` sections.
 *
 * Two passes. The walk records what each playbook says as raw names with
 * their YAML nodes (kinds and windows may be declared further down the
 * file); cfg_resolve_playbooks() then turns names into kind numbers and
 * window indices, derives what depends on them, and reports every problem
 * at the line of the node that caused it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gw_config_internal.h"
#include "gw_stats.h"

#define RAW_TARGETS_MAX   GW_WINDOWS_MAX
#define RAW_TEAMS_MAX     256
#define RAW_OVERRIDES_MAX 1024

typedef struct {
    const char *window;
    double value;
    yaml_node_t *node;
} raw_target_t;

typedef struct {
    const char *name;
    yaml_node_t *node;
} raw_name_t;

typedef struct {
    const char *name;
    raw_name_t kinds[GW_STAGE_KINDS_MAX];
    int nkinds;
    yaml_node_t *node;
} raw_stage_t;

typedef struct {
    const char *tenant;
    const char *rep;
    raw_target_t targets[RAW_TARGETS_MAX];
    int ntargets;
    yaml_node_t *node;
} raw_override_t;

typedef struct {
    yaml_node_t *node;
    const char *path;
    gw_playbook_t *pb; /* numeric fields are walked straight into it */
    raw_name_t teams[RAW_TEAMS_MAX];
    int nteams;
    yaml_node_t *teams_node;
    raw_stage_t stages[GW_STAGES_MAX];
    int nstages;
    yaml_node_t *funnel_node;
    raw_name_t objective_kind;
    raw_name_t objective_amount_of;
    raw_target_t targets[RAW_TARGETS_MAX];
    int ntargets;
    yaml_node_t *objective_node;
    raw_override_t *overrides;
    int noverrides;
    raw_name_t evidence_window;
    raw_name_t partial_history;
    raw_name_t inspected[GW_KIND_MAX];
    int ninspected;
    yaml_node_t *inspected_node;
} raw_playbook_t;

typedef struct cfg_playbook_state_s {
    raw_playbook_t books[GW_PLAYBOOKS_MAX];
    int n;
} playbook_state_t;

/* ---- walk --------------------------------------------------------------- */

static raw_playbook_t *current(cfg_loader_t *L)
{
    playbook_state_t *st = L->playbook_state;
    return &st->books[st->n];
}

typedef struct {
    raw_name_t *out;
    int max, *n;
} name_list_t;

static void add_name(cfg_loader_t *L, yaml_node_t *item, const char *path, int index, void *base)
{
    (void)index;
    name_list_t *list = base;
    const char *s = cfg_scalar(L, item, path);
    if (!s)
        return;
    if (*list->n == list->max) {
        if (*list->n == index) /* once, at the first entry too many */
            cfg_error(L, item, path, "at most %d entries", list->max);
        return;
    }
    list->out[*list->n] = (raw_name_t){.name = s, .node = item};
    (*list->n)++;
}

static void load_name_list(cfg_loader_t *L, yaml_node_t *node, const char *path, raw_name_t *out,
                           int max, int *n)
{
    *n = 0;
    cfg_walk_list(L, node, path, "names", add_name, &(name_list_t){out, max, n});
}

static void load_teams(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    raw_playbook_t *rb = current(L);
    rb->teams_node = node;
    load_name_list(L, node, path, rb->teams, RAW_TEAMS_MAX, &rb->nteams);
}

static void load_stage_kinds(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    raw_stage_t *st = base;
    load_name_list(L, node, path, st->kinds, GW_STAGE_KINDS_MAX, &st->nkinds);
}

static void load_stage(cfg_loader_t *L, yaml_node_t *item, const char *path, int index, void *base)
{
    (void)base;
    raw_playbook_t *rb = current(L);
    if (index >= GW_STAGES_MAX) {
        cfg_error(L, item, path, "at most %d stages", GW_STAGES_MAX);
        return;
    }
    static const cfg_field_t fields[] = {
        {"name", CFG_STR, offsetof(raw_stage_t, name)},
        {"kinds", CFG_CUSTOM, 0, 0, 0, NULL, load_stage_kinds},
        {NULL},
    };
    raw_stage_t *st = &rb->stages[index];
    memset(st, 0, sizeof(*st));
    st->node = item;
    cfg_walk_mapping(L, item, path, fields, st);
    rb->nstages = index + 1;
}

static void load_funnel(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    raw_playbook_t *rb = current(L);
    rb->funnel_node = node;
    cfg_walk_sequence(L, node, path, load_stage, base);
}

/* A mapping of window name -> number. */
static void load_targets(cfg_loader_t *L, yaml_node_t *node, const char *path, raw_target_t *out,
                         int *n)
{
    *n = 0;
    if (!node || node->type != YAML_MAPPING_NODE) {
        cfg_error(L, node, path, "expected a mapping of window: objective, e.g. {7d: 12}");
        return;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&L->doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE)
            continue;
        char sub[256];
        snprintf(sub, sizeof(sub), "%s.%s", path, (const char *)k->data.scalar.value);
        double d;
        if (cfg_double(L, v, sub, 0, 1e15, &d) != 0)
            continue;
        if (*n == RAW_TARGETS_MAX) {
            cfg_error(L, k, sub, "at most %d windows", RAW_TARGETS_MAX);
            return;
        }
        out[*n].window = cfg_strdup(L, (const char *)k->data.scalar.value);
        out[*n].value = d;
        out[*n].node = k;
        (*n)++;
    }
}

/* A name resolved once the whole file is read; its node places the error. */
static void load_raw_name(cfg_loader_t *L, yaml_node_t *node, const char *path, raw_name_t *out)
{
    out->name = cfg_scalar(L, node, path);
    out->node = node;
}

static void load_per_window(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    raw_playbook_t *rb = current(L);
    load_targets(L, node, path, rb->targets, &rb->ntargets);
}

static void load_objective_kind(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    load_raw_name(L, node, path, &current(L)->objective_kind);
}

static void load_objective_amount(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    load_raw_name(L, node, path, &current(L)->objective_amount_of);
}

/* per_period: {week: 10, month: 40, quarter: 120} */
static void load_per_period(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    gw_playbook_t *pb = base;
    if (node->type != YAML_MAPPING_NODE) {
        cfg_error(L, node, path, "expected a mapping of period: objective, e.g. {month: 40}");
        return;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&L->doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE)
            continue;
        const char *name = (const char *)k->data.scalar.value;
        char sub[256];
        snprintf(sub, sizeof(sub), "%s.%s", path, name);
        int period = gw_period_parse(name);
        if (period < 0) {
            cfg_error(L, k, sub, "\"%s\" is not a calendar period (week, month, quarter)", name);
            continue;
        }
        double d;
        if (cfg_double(L, v, sub, 0, 1e15, &d) == 0)
            pb->period_target[period] = d;
    }
}

static void load_objective(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    static const cfg_field_t fields[] = {
        {"kind", CFG_CUSTOM, 0, 0, 0, NULL, load_objective_kind},
        {"amount_of", CFG_CUSTOM, 0, 0, 0, NULL, load_objective_amount},
        {"per_window", CFG_CUSTOM, 0, 0, 0, NULL, load_per_window},
        {"per_period", CFG_CUSTOM, 0, 0, 0, NULL, load_per_period},
        {NULL},
    };
    current(L)->objective_node = node;
    cfg_walk_mapping(L, node, path, fields, base);
}

static void load_override_targets(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    raw_override_t *o = base;
    load_targets(L, node, path, o->targets, &o->ntargets);
}

static void load_override(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                          void *base)
{
    (void)base;
    raw_playbook_t *rb = current(L);
    static const cfg_field_t fields[] = {
        {"tenant", CFG_STR, offsetof(raw_override_t, tenant)},
        {"rep", CFG_STR, offsetof(raw_override_t, rep)},
        {"per_window", CFG_CUSTOM, 0, 0, 0, NULL, load_override_targets},
        {NULL},
    };
    if (index >= RAW_OVERRIDES_MAX) {
        cfg_error(L, item, path, "at most %d overrides per playbook", RAW_OVERRIDES_MAX);
        return;
    }
    raw_override_t *o = &rb->overrides[index];
    memset(o, 0, sizeof(*o));
    o->node = item;
    cfg_walk_mapping(L, item, path, fields, o);
    rb->noverrides = index + 1;
}

static void load_overrides(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    raw_playbook_t *rb = current(L);
    if (node->type != YAML_SEQUENCE_NODE) {
        cfg_error(L, node, path, "expected a list of {rep, per_window}");
        return;
    }
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    rb->overrides = gw_arena_alloc(L->arena, (n ? n : 1) * sizeof(raw_override_t));
    cfg_walk_sequence(L, node, path, load_override, base);
}

static void add_ramp_week(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                          void *base)
{
    gw_playbook_t *pb = base;
    if (index >= GW_RAMP_WEEKS_MAX) {
        if (index == GW_RAMP_WEEKS_MAX) /* once, at the first week too many */
            cfg_error(L, item, path, "at most %d weeks of ramp", GW_RAMP_WEEKS_MAX);
        return;
    }
    double d;
    if (cfg_double(L, item, path, 0.0, 1.0, &d) == 0)
        pb->ramp[index] = d;
    pb->nramp = index + 1;
}

static void load_ramp(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    gw_playbook_t *pb = current(L)->pb;
    pb->nramp = 0;
    cfg_walk_list(L, node, path, "weekly factors, e.g. [0.25, 0.5, 0.75]", add_ramp_week, pb);
}

static void load_inspected(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    raw_playbook_t *rb = current(L);
    rb->inspected_node = node;
    load_name_list(L, node, path, rb->inspected, GW_KIND_MAX, &rb->ninspected);
}

static void load_evidence_window(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    load_raw_name(L, node, path, &current(L)->evidence_window);
}

static void load_partial_history(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    load_raw_name(L, node, path, &current(L)->partial_history);
}

static const cfg_field_t quality_fields[] = {
    {"inspected_kinds", CFG_CUSTOM, 0, 0, 0, NULL, load_inspected},
    {"min_activities", CFG_INT, offsetof(gw_playbook_t, quality_min_activities), 1, 1000000000},
    {"min_goal_share", CFG_DOUBLE, offsetof(gw_playbook_t, quality_min_goal_share), 0, 0, NULL,
     NULL, 0.0, 1.0},
    {"min_next_step_share", CFG_DOUBLE, offsetof(gw_playbook_t, quality_min_next_step_share), 0, 0,
     NULL, NULL, 0.0, 1.0},
    {NULL},
};

static const cfg_field_t playbook_fields[] = {
    {"name", CFG_STR, offsetof(gw_playbook_t, name)},
    {"teams", CFG_CUSTOM, 0, 0, 0, NULL, load_teams},
    {"funnel", CFG_CUSTOM, 0, 0, 0, NULL, load_funnel},
    {"objective", CFG_CUSTOM, 0, 0, 0, NULL, load_objective},
    {"overrides", CFG_CUSTOM, 0, 0, 0, NULL, load_overrides},
    {"ramp", CFG_CUSTOM, 0, 0, 0, NULL, load_ramp},
    {"confidence", CFG_DOUBLE, offsetof(gw_playbook_t, confidence), 0, 0, NULL, NULL, 0.5, 0.9999},
    {"tolerance", CFG_DOUBLE, offsetof(gw_playbook_t, tolerance), 0, 0, NULL, NULL, 0.0, 0.9},
    {"min_rep_trials", CFG_INT, offsetof(gw_playbook_t, min_rep_trials), 1, 1000000000},
    {"min_team_trials", CFG_INT, offsetof(gw_playbook_t, min_team_trials), 1, 1000000000},
    {"quality", CFG_SECTION, 0, 0, 0, quality_fields},
    {"pipeline_inflation", CFG_DOUBLE, offsetof(gw_playbook_t, pipeline_inflation), 0, 0, NULL,
     NULL, 0.0, 1000.0},
    {"gaming_factor", CFG_DOUBLE, offsetof(gw_playbook_t, gaming_factor), 0, 0, NULL, NULL, 0.0,
     1000.0},
    {"evidence_window", CFG_CUSTOM, 0, 0, 0, NULL, load_evidence_window},
    {"partial_history", CFG_CUSTOM, 0, 0, 0, NULL, load_partial_history},
    {"min_history", CFG_DOUBLE, offsetof(gw_playbook_t, min_history), 0, 0, NULL, NULL, 0.0, 1.0},
    {"pace_min_elapsed", CFG_DOUBLE, offsetof(gw_playbook_t, pace_min_elapsed), 0, 0, NULL, NULL,
     0.0, 0.95},
    {"volume_spread", CFG_DOUBLE, offsetof(gw_playbook_t, volume_spread), 0, 0, NULL, NULL, 0.0,
     2.0},
    {"rate_spread", CFG_DOUBLE, offsetof(gw_playbook_t, rate_spread), 0, 0, NULL, NULL, 0.0, 2.0},
    {NULL},
};

static void playbook_defaults(gw_playbook_t *pb)
{
    memset(pb, 0, sizeof(*pb));
    for (int w = 0; w < GW_WINDOWS_MAX; w++)
        pb->target[w] = NAN;
    for (int k = 0; k < GW_PERIOD_COUNT; k++)
        pb->period_target[k] = NAN;
    pb->pace_min_elapsed = 0.2;
    pb->confidence = 0.95;
    pb->tolerance = 0.1;
    pb->min_rep_trials = 20;
    pb->min_team_trials = 50;
    pb->quality_min_activities = 20;
    pb->quality_min_goal_share = 0.5;
    pb->quality_min_next_step_share = 0.3;
    pb->pipeline_inflation = 3.0;
    pb->gaming_factor = 3.0;
    pb->evidence_window = -1;
    pb->partial_history = GW_HISTORY_PRORATE;
    pb->min_history = 0.25;
    pb->volume_spread = 0.15;
    pb->rate_spread = 0.1;
}

static void load_playbook(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                          void *base)
{
    (void)base;
    playbook_state_t *st = L->playbook_state;
    if (index >= GW_PLAYBOOKS_MAX) {
        cfg_error(L, item, path, "at most %d playbooks", GW_PLAYBOOKS_MAX);
        return;
    }
    raw_playbook_t *rb = &st->books[st->n];
    memset(rb, 0, sizeof(*rb));
    rb->node = item;
    rb->path = cfg_strdup(L, path);
    rb->pb = &L->cfg->playbooks[st->n];
    playbook_defaults(rb->pb);
    cfg_walk_mapping(L, item, path, playbook_fields, rb->pb);
    st->n++;
}

void cfg_load_playbooks(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0)
        return;
    if (!L->playbook_state) {
        L->playbook_state = gw_arena_alloc(L->arena, sizeof(playbook_state_t));
        memset(L->playbook_state, 0, sizeof(playbook_state_t));
    }
    L->cfg->playbooks = gw_arena_alloc(L->arena, GW_PLAYBOOKS_MAX * sizeof(gw_playbook_t));
    cfg_walk_sequence(L, node, path, load_playbook, base);
}

/* ---- resolve -------------------------------------------------------------- */

static int resolve_kind(cfg_loader_t *L, const raw_name_t *n, const char *path)
{
    int k = gw_kind_parse(&L->cfg->kinds, n->name);
    if (k < 0)
        cfg_error(L, n->node, path,
                  "\"%s\" is not a kind (a built-in Kind, or a name declared in custom_kinds)",
                  n->name);
    return k;
}

static void resolve_targets(cfg_loader_t *L, const raw_target_t *t, int n, const char *path,
                            double *out)
{
    for (int i = 0; i < n; i++) {
        int w = gw_config_window_index(L->cfg, t[i].window);
        if (w < 0) {
            cfg_error(L, t[i].node, path, "window \"%s\" is not one of the configured windows",
                      t[i].window);
            continue;
        }
        out[w] = t[i].value;
    }
}

static void resolve_one(cfg_loader_t *L, raw_playbook_t *rb)
{
    gw_playbook_t *pb = rb->pb;
    char path[300];
    if (!pb->name) {
        cfg_error(L, rb->node, rb->path, "a playbook needs a name");
        return;
    }
    /* Teams. */
    snprintf(path, sizeof(path), "%s.teams", rb->path);
    if (rb->nteams == 0) {
        cfg_error(L, rb->teams_node ? rb->teams_node : rb->node, path,
                  "a playbook covers at least one team (or \"*\")");
    }
    pb->teams = gw_arena_alloc(L->arena, (size_t)(rb->nteams ? rb->nteams : 1) * sizeof(char *));
    pb->nteams = rb->nteams;
    for (int i = 0; i < rb->nteams; i++)
        pb->teams[i] = rb->teams[i].name;
    /* Funnel. */
    snprintf(path, sizeof(path), "%s.funnel", rb->path);
    if (rb->nstages < 2) {
        cfg_error(L, rb->funnel_node ? rb->funnel_node : rb->node, path,
                  "a funnel needs at least two stages");
    }
    pb->nstages = rb->nstages;
    for (int s = 0; s < rb->nstages; s++) {
        raw_stage_t *rs = &rb->stages[s];
        gw_stage_t *st = &pb->stages[s];
        char spath[320];
        snprintf(spath, sizeof(spath), "%s.funnel[%d]", rb->path, s);
        if (rs->nkinds == 0) {
            cfg_error(L, rs->node, spath, "a stage needs at least one kind");
            continue;
        }
        snprintf(st->name, sizeof(st->name), "%s", rs->name ? rs->name : "");
        if (!rs->name) /* default name: the first kind, lower case */
            for (size_t i = 0; i < sizeof(st->name) - 1 && rs->kinds[0].name[i]; i++)
                st->name[i] = (char)(rs->kinds[0].name[i] | 0x20);
        for (int k = 0; k < rs->nkinds; k++) {
            int kind = resolve_kind(L, &rs->kinds[k], spath);
            if (kind < 0)
                continue;
            int other = gw_playbook_stage_of(pb, kind);
            if (other >= 0 && other <= s)
                cfg_error(L, rs->kinds[k].node, spath, "kind %s is already in stage %d",
                          rs->kinds[k].name, other);
            st->kinds[st->nkinds++] = kind;
        }
        for (int o = 0; o < s; o++)
            if (!strcmp(pb->stages[o].name, st->name))
                cfg_error(L, rs->node, spath, "stage name \"%s\" is used twice", st->name);
    }
    /* Objective. */
    snprintf(path, sizeof(path), "%s.objective", rb->path);
    const raw_name_t *on = rb->objective_kind.name ? &rb->objective_kind : &rb->objective_amount_of;
    if (!rb->objective_node) {
        cfg_error(L, rb->node, path, "a playbook needs an objective");
    } else if (rb->objective_kind.name && rb->objective_amount_of.name) {
        cfg_error(L, rb->objective_amount_of.node, path, "give kind or amount_of, not both");
    } else if (!on->name) {
        cfg_error(L, rb->objective_node, path,
                  "the objective needs kind (a count) or amount_of (a sum of amounts)");
    } else {
        pb->objective_type = rb->objective_kind.name ? GW_OBJECTIVE_COUNT : GW_OBJECTIVE_AMOUNT;
        pb->objective_kind = resolve_kind(L, on, path);
        if (pb->objective_kind >= 0) {
            pb->objective_stage = gw_playbook_stage_of(pb, pb->objective_kind);
            if (pb->objective_stage < 0)
                cfg_error(L, on->node, path, "objective kind %s is not in the funnel", on->name);
        }
        if (rb->ntargets == 0)
            cfg_error(L, rb->objective_node, path,
                      "the objective needs per_window targets, e.g. per_window: {7d: 12}");
        resolve_targets(L, rb->targets, rb->ntargets, path, pb->target);
    }
    /* Overrides. */
    pb->overrides = gw_arena_alloc(L->arena, (size_t)(rb->noverrides ? rb->noverrides : 1) *
                                                 sizeof(gw_override_t));
    pb->noverrides = rb->noverrides;
    for (int i = 0; i < rb->noverrides; i++) {
        raw_override_t *ro = &rb->overrides[i];
        gw_override_t *o = &pb->overrides[i];
        snprintf(path, sizeof(path), "%s.overrides[%d]", rb->path, i);
        o->tenant = ro->tenant;
        o->rep = ro->rep;
        for (int w = 0; w < GW_WINDOWS_MAX; w++)
            o->target[w] = NAN;
        if (!ro->rep || ro->ntargets == 0)
            cfg_error(L, ro->node, path, "an override needs rep and per_window");
        resolve_targets(L, ro->targets, ro->ntargets, path, o->target);
    }
    /* Evidence window: named, or the longest configured. */
    snprintf(path, sizeof(path), "%s.evidence_window", rb->path);
    pb->evidence_window = -1;
    if (rb->evidence_window.name) {
        pb->evidence_window = gw_config_window_index(L->cfg, rb->evidence_window.name);
        if (pb->evidence_window < 0)
            cfg_error(L, rb->evidence_window.node, path,
                      "window \"%s\" is not one of the configured windows",
                      rb->evidence_window.name);
    }
    if (pb->evidence_window < 0)
        for (int w = 0; w < L->cfg->nwindows; w++)
            if (pb->evidence_window < 0 ||
                L->cfg->windows[w].length_ms > L->cfg->windows[pb->evidence_window].length_ms)
                pb->evidence_window = w;
    /* Partial history. */
    snprintf(path, sizeof(path), "%s.partial_history", rb->path);
    if (rb->partial_history.name) {
        if (!strcmp(rb->partial_history.name, "prorate"))
            pb->partial_history = GW_HISTORY_PRORATE;
        else if (!strcmp(rb->partial_history.name, "skip"))
            pb->partial_history = GW_HISTORY_SKIP;
        else
            cfg_error(L, rb->partial_history.node, path,
                      "\"%s\" is not a rule (prorate: judge against the objective prorated "
                      "to the covered share; skip: judge only windows history covers whole)",
                      rb->partial_history.name);
    }
    /* Inspected kinds: named, or the outputs and the meetings (where a
     * conversation happened, so a goal and a next step can be recorded). */
    snprintf(path, sizeof(path), "%s.quality.inspected_kinds", rb->path);
    memset(pb->inspected, 0, sizeof(pb->inspected));
    if (rb->inspected_node) {
        if (rb->ninspected == 0)
            cfg_error(L, rb->inspected_node, path, "name at least one kind");
        for (int i = 0; i < rb->ninspected; i++) {
            int k = resolve_kind(L, &rb->inspected[i], path);
            if (k >= 0)
                pb->inspected[k] = true;
        }
    } else {
        for (int k = 0; k < GW_KIND_MAX; k++)
            pb->inspected[k] = gw_kind_class(&L->cfg->kinds, k) == GW_CLASS_OUTPUT;
        pb->inspected[4] = pb->inspected[5] = true; /* MEETING_HELD, DEMO_GIVEN */
    }
    pb->z = gw_stats_z(pb->confidence);
}

void cfg_resolve_playbooks(cfg_loader_t *L)
{
    playbook_state_t *st = L->playbook_state;
    if (!st)
        return;
    L->cfg->nplaybooks = st->n;
    for (int i = 0; i < st->n; i++)
        resolve_one(L, &st->books[i]);
    /* Names unique; every team (and "*") in at most one playbook. */
    for (int i = 0; i < st->n; i++) {
        const raw_playbook_t *a = &st->books[i];
        for (int j = 0; j < i; j++) {
            const raw_playbook_t *b = &st->books[j];
            if (a->pb->name && b->pb->name && !strcmp(a->pb->name, b->pb->name))
                cfg_error(L, a->node, a->path, "playbook name \"%s\" is used twice", a->pb->name);
            for (int x = 0; x < a->nteams; x++)
                for (int y = 0; y < b->nteams; y++)
                    if (!strcmp(a->teams[x].name, b->teams[y].name))
                        cfg_error(L, a->teams[x].node, a->path,
                                  "team \"%s\" is already covered by playbook \"%s\"",
                                  a->teams[x].name, b->pb->name);
        }
        for (int x = 0; x < a->nteams; x++)
            for (int y = 0; y < x; y++)
                if (!strcmp(a->teams[x].name, a->teams[y].name))
                    cfg_error(L, a->teams[x].node, a->path, "team \"%s\" is listed twice",
                              a->teams[x].name);
    }
}
