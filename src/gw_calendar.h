/*
 * gw_calendar: the sales calendar. Local days in an IANA time zone, working
 * days of the week, holidays, a rep's availability (joining, leaving, time
 * off) and calendar periods (week, month, fiscal quarter). Pure after
 * gw_calendar_set_zone(): every function is a lookup in tables made at load
 * time, safe from any thread.
 *
 * Time zones. gw_calendar_set_zone() asks ICU (the well-kept library Debian
 * ships; libicu) for the zone's UTC offset transitions from 1970 to 2200 and
 * keeps them in a table, so the rest is a binary search: correct across DST
 * changes, with no process-wide TZ state (glibc's localtime depends on the
 * TZ variable, which one process cannot set per calendar).
 *
 * Local days are numbered like Unix days: day 0 is 1970-01-01 in the
 * calendar's zone. A local day starts at its local midnight (or, where a DST
 * change skips midnight, at the change) and is 23, 24 or 25 hours long.
 *
 * Working share. What the diagnosis prorates objectives by: over a span of
 * time [from, to), each local day the span overlaps contributes the share of
 * the day it overlaps; "nominal" sums it over the calendar's working
 * weekdays, "available" over the working weekdays that are not holidays,
 * counting only the rep's available time (after joining, before leaving,
 * outside time off). available / nominal is the share of the window's
 * objective the rep is expected to make (docs/calendars.md).
 *
 * Ownership: gw_calendar_t and gw_availability_t are plain values with fixed-size arrays, filled in
 *   the caller's storage; `teams` points into the gw_config_t that loaded the calendar. Nothing
 *   here allocates on the heap (ICU's calendar in gw_calendar_set_zone is opened and closed in the
 *   call).
 * Errors: gw_calendar_set_zone returns -1 with a sentence in `err` for a zone ICU does not know;
 *   gw_period_parse and gw_date_parse return -1 on bad input; gw_calendar_for_team returns NULL
 *   when no calendar covers the team. Lookups do not fail.
 * Threads: Any thread for lookups of a calendar nobody modifies; gw_calendar_init_utc,
 *   gw_calendar_set_zone and gw_availability_normalize write their argument and need exclusive
 *   access to it. No file-scope mutable state.
 */
#ifndef GW_CALENDAR_H
#define GW_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_DAY_MS            86400000LL
#define GW_CAL_TZ_MAX        64
#define GW_CAL_TRANSITIONS   1024
#define GW_CAL_HOLIDAYS_MAX  256
#define GW_TIME_OFF_MAX      32
#define GW_CAL_NAME_MAX      32
#define GW_CAL_PERIOD_ID_MAX 24

/* Working weekdays: bit (1 << wd), wd 0 = Monday .. 6 = Sunday. */
#define GW_CAL_MON_FRI   0x1f
#define GW_CAL_EVERY_DAY 0x7f

typedef struct {
    int64_t first, last; /* local days, inclusive */
} gw_day_range_t;

typedef struct {
    char name[GW_CAL_NAME_MAX + 1];
    char zone[GW_CAL_TZ_MAX + 1];                 /* IANA name, e.g. "Europe/Berlin" */
    unsigned workdays;                            /* GW_CAL_* bits */
    gw_day_range_t holidays[GW_CAL_HOLIDAYS_MAX]; /* sorted by first */
    int nholidays;
    int week_start;         /* weekday the calendar week starts on (0 = Monday) */
    int fiscal_start_month; /* 1..12: the month the fiscal year starts */
    const char **teams;     /* "team", "tenant/team", "*" (gw_team_match) */
    int nteams;
    /* UTC offsets: from at[i] (UTC ms) on, local = utc + offset_ms[i]. */
    int64_t at[GW_CAL_TRANSITIONS];
    int32_t offset_ms[GW_CAL_TRANSITIONS];
    int ntransitions;
} gw_calendar_t;

typedef struct {
    int64_t from_ms, to_ms; /* [from, to) */
} gw_interval_t;

/* When a rep could work: -1 for an unknown join or leave. Time off is
 * merged and sorted by gw_availability_normalize(). */
typedef struct {
    int64_t joined_ms;
    int64_t left_ms;
    gw_interval_t off[GW_TIME_OFF_MAX];
    int noff;
} gw_availability_t;

typedef enum {
    GW_PERIOD_WEEK = 0,
    GW_PERIOD_MONTH,
    GW_PERIOD_QUARTER,
    GW_PERIOD_COUNT
} gw_period_kind_t;

/* "week", "month", "quarter"; parse returns -1 when unknown. */
const char *gw_period_str(gw_period_kind_t k);
int gw_period_parse(const char *s);

/* Fills `c` with UTC and every day working (the calendar of a deployment
 * that configures none): `name` "default". */
void gw_calendar_init_utc(gw_calendar_t *c);

/* Loads the offsets of IANA zone `zone` into `c`. Returns 0, or -1 with a
 * sentence in `err` when ICU does not know the zone. */
int gw_calendar_set_zone(gw_calendar_t *c, const char *zone, char *err, size_t errsize);

/* Local offset (ms) at instant `utc_ms`. */
int64_t gw_calendar_offset(const gw_calendar_t *c, int64_t utc_ms);

/* The local day holding `utc_ms`. */
int64_t gw_calendar_day(const gw_calendar_t *c, int64_t utc_ms);

/* The first instant (UTC ms) of local day `day`. */
int64_t gw_calendar_day_start(const gw_calendar_t *c, int64_t day);

/* Weekday of a day number, 0 = Monday. */
int gw_weekday(int64_t day);

/* Civil date <-> day number (proleptic Gregorian). */
int64_t gw_days_from_civil(int y, int m, int d);
void gw_civil_from_days(int64_t day, int *y, int *m, int *d);

/* Parses "YYYY-MM-DD" (a valid date) into a day number; -1 on error. */
int gw_date_parse(const char *s, int64_t *day);

/* "YYYY-MM-DD" of `day` into buf (at least 11 bytes). */
void gw_date_format(int64_t day, char *buf, size_t size);

/* True if `day` is a working weekday and not a holiday. */
bool gw_calendar_is_working(const gw_calendar_t *c, int64_t day);
bool gw_calendar_is_holiday(const gw_calendar_t *c, int64_t day);

/* Sorts and merges the time off (overlaps, duplicates, empty intervals). */
void gw_availability_normalize(gw_availability_t *a);

/* Working days of [from, to): nominal (working weekdays) and available
 * (of those, not holidays, inside the rep's availability; `a` may be NULL:
 * always available). Fractions of days where the span cuts a day. */
void gw_calendar_share(const gw_calendar_t *c, int64_t from_ms, int64_t to_ms,
                       const gw_availability_t *a, double *nominal, double *available);

/* The diagnosis' proration of a window [from, to) for a rep whose history
 * starts at `history_from_ms` (-1: before the window): `coverage`, the
 * share of the window's working time the rep is expected to have worked
 * (history-covered, available, not a holiday), and `away`, the share of
 * the history-covered working time the rep was not available (holidays,
 * time off, before joining, after leaving). A window without a working
 * day: coverage 0, away 1. */
void gw_calendar_prorate(const gw_calendar_t *c, int64_t from_ms, int64_t to_ms,
                         int64_t history_from_ms, const gw_availability_t *a, double *coverage,
                         double *away);

/* True if the rep is on time off (or not yet joined, or gone) at `t_ms`. */
bool gw_availability_away(const gw_availability_t *a, int64_t t_ms);

/* The calendar period of kind `k` holding `utc_ms`: its bounds (UTC ms,
 * [start, end)) and id: "week:2026-11-30" (its first day), "month:2026-12",
 * "quarter:FY2027-Q2" (the fiscal year is named by the calendar year it ends
 * in). */
void gw_calendar_period(const gw_calendar_t *c, gw_period_kind_t k, int64_t utc_ms,
                        int64_t *start_ms, int64_t *end_ms, char *id, size_t idsize);

/* The first local day of the period of kind `k` holding local day `day`,
 * and the first day of the next one. */
int64_t gw_calendar_period_first(const gw_calendar_t *c, gw_period_kind_t k, int64_t day,
                                 int64_t *next_first);

/* How well a `teams:` entry of a calendar or a playbook matches `team` of
 * `tenant`: "tenant/team" 4, "team" 3, "tenant/(star)" 2, "(star)" 1, where
 * (star) is an asterisk; 0 when it does not. Pure. */
int gw_team_match(const char *entry, const char *tenant, const char *team);

/* The calendar of `tenant`/`team` among `n` (gw_team_match ranks), or NULL. */
const gw_calendar_t *gw_calendar_for_team(const gw_calendar_t *cals, int n, const char *tenant,
                                          const char *team);

#endif
