/*
 * gw_config_calendar: the `calendars:` section (docs/calendars.md). Each
 * calendar names its time zone, working days, holidays, the first day of
 * its weeks, the month its fiscal year starts and the teams it covers
 * ("team", "tenant/team", "tenant/" + "*" for a tenant's default, "*").
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gw_calendar.h"
#include "gw_config_internal.h"

static const char *const weekdays[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const months[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const month_names[12] = {"january",   "february", "march",    "april",
                                            "may",       "june",     "july",     "august",
                                            "september", "october",  "november", "december"};

/* Weekday from "mon".."sun" or "monday".."sunday" (any case); -1. */
static int weekday_parse(const char *s)
{
    static const char *const full[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                        "friday", "saturday", "sunday"};
    for (int i = 0; i < 7; i++)
        if (!strcasecmp(s, weekdays[i]) || !strcasecmp(s, full[i]))
            return i;
    return -1;
}

static void load_name(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    gw_calendar_t *c = base;
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return;
    size_t n = strlen(s);
    if (n == 0 || n > GW_CAL_NAME_MAX ||
        strspn(s, "abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n) {
        cfg_error(L, node, path, "\"%s\" is not a calendar name ([A-Za-z0-9_.-]{1,%d})", s,
                  GW_CAL_NAME_MAX);
        return;
    }
    snprintf(c->name, sizeof(c->name), "%s", s);
}

static void load_zone(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    gw_calendar_t *c = base;
    const char *s = cfg_scalar(L, node, path);
    char err[256];
    if (s && gw_calendar_set_zone(c, s, err, sizeof(err)) != 0)
        cfg_error(L, node, path, "%s", err);
}

static void add_workday(cfg_loader_t *L, yaml_node_t *item, const char *path, int index, void *base)
{
    (void)index;
    gw_calendar_t *c = base;
    const char *s = cfg_scalar(L, item, path);
    if (!s)
        return;
    int wd = weekday_parse(s);
    if (wd < 0)
        cfg_error(L, item, path, "\"%s\" is not a weekday (mon, tue, wed, thu, fri, sat, sun)", s);
    else if (c->workdays & (1u << wd))
        cfg_error(L, item, path, "\"%s\" is listed twice", s);
    else
        c->workdays |= 1u << wd;
}

static void load_workdays(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    gw_calendar_t *c = base;
    c->workdays = 0;
    cfg_walk_sequence(L, node, path, add_workday, c);
    if (c->workdays == 0 && node->type == YAML_SEQUENCE_NODE)
        cfg_error(L, node, path, "a calendar needs at least one working day");
}

static void add_holiday(cfg_loader_t *L, yaml_node_t *item, const char *path, int index, void *base)
{
    (void)index;
    gw_calendar_t *c = base;
    const char *s = cfg_scalar(L, item, path);
    if (!s)
        return;
    char a[16] = "", b[16] = "";
    const char *dots = strstr(s, "..");
    gw_day_range_t r;
    if (dots) {
        snprintf(a, sizeof(a), "%.*s", (int)(dots - s < 15 ? dots - s : 15), s);
        snprintf(b, sizeof(b), "%s", dots + 2);
    } else {
        snprintf(a, sizeof(a), "%s", s);
        snprintf(b, sizeof(b), "%s", s);
    }
    if (gw_date_parse(a, &r.first) != 0 || gw_date_parse(b, &r.last) != 0) {
        cfg_error(L, item, path,
                  "\"%s\" is not a date or a range of dates (YYYY-MM-DD or "
                  "YYYY-MM-DD..YYYY-MM-DD)",
                  s);
        return;
    }
    if (r.last < r.first) {
        cfg_error(L, item, path, "\"%s\": the range ends before it starts", s);
        return;
    }
    if (c->nholidays == GW_CAL_HOLIDAYS_MAX) {
        cfg_error(L, item, path, "at most %d holidays per calendar", GW_CAL_HOLIDAYS_MAX);
        return;
    }
    int i = c->nholidays++; /* kept sorted by first day */
    while (i > 0 && c->holidays[i - 1].first > r.first) {
        c->holidays[i] = c->holidays[i - 1];
        i--;
    }
    c->holidays[i] = r;
}

static void load_holidays(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    cfg_walk_sequence(L, node, path, add_holiday, base);
}

static void load_week_start(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    gw_calendar_t *c = base;
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return;
    int wd = weekday_parse(s);
    if (wd < 0)
        cfg_error(L, node, path, "\"%s\" is not a weekday (mon, tue, wed, thu, fri, sat, sun)", s);
    else
        c->week_start = wd;
}

static void load_fiscal(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    gw_calendar_t *c = base;
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return;
    for (int m = 0; m < 12; m++)
        if (!strcasecmp(s, months[m]) || !strcasecmp(s, month_names[m])) {
            c->fiscal_start_month = m + 1;
            return;
        }
    int64_t m;
    if (cfg_int(L, node, path, 1, 12, &m) == 0)
        c->fiscal_start_month = (int)m;
}

static void add_team(cfg_loader_t *L, yaml_node_t *item, const char *path, int index, void *base)
{
    (void)index;
    gw_calendar_t *c = base;
    const char *s = cfg_scalar(L, item, path);
    if (s)
        c->teams[c->nteams++] = cfg_strdup(L, s);
}

static void load_teams(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    gw_calendar_t *c = base;
    size_t n = node->type == YAML_SEQUENCE_NODE
                   ? (size_t)(node->data.sequence.items.top - node->data.sequence.items.start)
                   : 0;
    c->teams = gw_arena_alloc(L->arena, (n ? n : 1) * sizeof(char *));
    c->nteams = 0;
    cfg_walk_sequence(L, node, path, add_team, c);
}

static const cfg_field_t calendar_fields[] = {
    {"name", CFG_CUSTOM, 0, 0, 0, NULL, load_name},
    {"timezone", CFG_CUSTOM, 0, 0, 0, NULL, load_zone},
    {"working_days", CFG_CUSTOM, 0, 0, 0, NULL, load_workdays},
    {"holidays", CFG_CUSTOM, 0, 0, 0, NULL, load_holidays},
    {"week_starts_on", CFG_CUSTOM, 0, 0, 0, NULL, load_week_start},
    {"fiscal_year_starts", CFG_CUSTOM, 0, 0, 0, NULL, load_fiscal},
    {"teams", CFG_CUSTOM, 0, 0, 0, NULL, load_teams},
    {NULL},
};

static void load_calendar(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                          void *base)
{
    (void)base;
    gw_config_t *cfg = L->cfg;
    if (index >= GW_CALENDARS_MAX) {
        cfg_error(L, item, path, "at most %d calendars", GW_CALENDARS_MAX);
        return;
    }
    gw_calendar_t *c = &cfg->calendars[cfg->ncalendars];
    gw_calendar_init_utc(c);
    c->name[0] = '\0';
    c->zone[0] = '\0';
    c->workdays = GW_CAL_MON_FRI;
    cfg_walk_mapping(L, item, path, calendar_fields, c);
    if (!c->name[0])
        cfg_error(L, item, path, "a calendar needs a name");
    if (!c->zone[0])
        cfg_error(L, item, path, "calendar \"%s\" needs a timezone (an IANA name)", c->name);
    if (c->nteams == 0)
        cfg_error(L, item, path,
                  "calendar \"%s\" needs teams (\"team\", \"tenant/team\", \"tenant/*\" or "
                  "\"*\")",
                  c->name);
    for (int i = 0; i < cfg->ncalendars; i++) {
        const gw_calendar_t *o = &cfg->calendars[i];
        if (c->name[0] && !strcmp(o->name, c->name))
            cfg_error(L, item, path, "calendar \"%s\" is defined twice", c->name);
        for (int x = 0; x < c->nteams; x++)
            for (int y = 0; y < o->nteams; y++)
                if (!strcmp(c->teams[x], o->teams[y]))
                    cfg_error(L, item, path, "teams entry \"%s\" is in calendars \"%s\" and \"%s\"",
                              c->teams[x], o->name, c->name);
    }
    cfg->ncalendars++;
}

void cfg_load_calendars(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0)
        return;
    L->cfg->calendars = gw_arena_alloc(L->arena, GW_CALENDARS_MAX * sizeof(gw_calendar_t));
    L->cfg->ncalendars = 0;
    cfg_walk_sequence(L, node, path, load_calendar, base);
}
