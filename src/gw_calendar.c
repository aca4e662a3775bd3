/* gw_calendar: local days, working days, availability and periods. */
#include "gw_calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#define ZONE_FROM_MS 0LL             /* 1970-01-01 */
#define ZONE_TO_MS   7258118400000LL /* 2200-01-01 */

static const char *const period_names[GW_PERIOD_COUNT] = {"week", "month", "quarter"};

const char *gw_period_str(gw_period_kind_t k)
{
    return k >= 0 && k < GW_PERIOD_COUNT ? period_names[k] : "?";
}

int gw_period_parse(const char *s)
{
    for (int k = 0; k < GW_PERIOD_COUNT; k++)
        if (!strcmp(s, period_names[k]))
            return k;
    return -1;
}

void gw_calendar_init_utc(gw_calendar_t *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "default");
    snprintf(c->zone, sizeof(c->zone), "UTC");
    c->workdays = GW_CAL_EVERY_DAY;
    c->fiscal_start_month = 1;
    c->at[0] = INT64_MIN;
    c->offset_ms[0] = 0;
    c->ntransitions = 1;
}

int gw_calendar_set_zone(gw_calendar_t *c, const char *zone, char *err, size_t errsize)
{
    UChar uz[GW_CAL_TZ_MAX + 1], canon[GW_CAL_TZ_MAX + 1];
    if (strlen(zone) > GW_CAL_TZ_MAX) {
        snprintf(err, errsize, "time zone \"%.32s...\" is longer than %d bytes", zone,
                 GW_CAL_TZ_MAX);
        return -1;
    }
    u_uastrcpy(uz, zone);
    UErrorCode st = U_ZERO_ERROR;
    UBool system = 0;
    ucal_getCanonicalTimeZoneID(uz, -1, canon, GW_CAL_TZ_MAX, &system, &st);
    if (U_FAILURE(st) || !system) {
        snprintf(err, errsize,
                 "unknown time zone \"%s\" (an IANA name such as Europe/Berlin or "
                 "America/New_York)",
                 zone);
        return -1;
    }
    UCalendar *cal = ucal_open(uz, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st)) {
        snprintf(err, errsize, "ICU cannot open time zone \"%s\": %s", zone, u_errorName(st));
        return -1;
    }
    int n = 0;
    UDate t = (UDate)ZONE_FROM_MS;
    c->at[n] = INT64_MIN;
    for (;;) {
        ucal_setMillis(cal, t, &st);
        int32_t off = ucal_get(cal, UCAL_ZONE_OFFSET, &st) + ucal_get(cal, UCAL_DST_OFFSET, &st);
        if (U_FAILURE(st))
            break;
        if (n == 0 || off != c->offset_ms[n - 1]) {
            if (n > 0)
                c->at[n] = (int64_t)t;
            c->offset_ms[n++] = off;
        }
        UDate next = 0;
        if (n >= GW_CAL_TRANSITIONS ||
            !ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &next, &st) ||
            U_FAILURE(st) || next >= (UDate)ZONE_TO_MS || next <= t)
            break;
        t = next;
    }
    ucal_close(cal);
    if (U_FAILURE(st) || n == 0) {
        snprintf(err, errsize, "ICU cannot read the offsets of time zone \"%s\": %s", zone,
                 u_errorName(st));
        return -1;
    }
    c->ntransitions = n;
    snprintf(c->zone, sizeof(c->zone), "%s", zone);
    return 0;
}

int64_t gw_calendar_offset(const gw_calendar_t *c, int64_t utc_ms)
{
    int lo = 0, hi = c->ntransitions - 1; /* last i with at[i] <= utc_ms */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (c->at[mid] <= utc_ms)
            lo = mid;
        else
            hi = mid - 1;
    }
    return c->offset_ms[lo];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t gw_calendar_day(const gw_calendar_t *c, int64_t utc_ms)
{
    return floor_div(utc_ms + gw_calendar_offset(c, utc_ms), GW_DAY_MS);
}

int64_t gw_calendar_day_start(const gw_calendar_t *c, int64_t day)
{
    int64_t local = day * GW_DAY_MS;
    /* The offsets a day before and after: the local midnight maps back
     * through one of them, the earliest when both do (a repeated hour);
     * through neither when a change skips midnight: then the day starts at
     * the change. */
    int64_t o1 = gw_calendar_offset(c, local - GW_DAY_MS - 14 * 3600000LL);
    int64_t o2 = gw_calendar_offset(c, local + GW_DAY_MS + 14 * 3600000LL);
    int64_t best = INT64_MAX;
    if (gw_calendar_offset(c, local - o1) == o1)
        best = local - o1;
    if (gw_calendar_offset(c, local - o2) == o2 && local - o2 < best)
        best = local - o2;
    if (best != INT64_MAX)
        return best;
    for (int i = 1; i < c->ntransitions; i++)
        if (c->at[i] >= local - o1)
            return c->at[i];
    return local - o2;
}

int gw_weekday(int64_t day)
{
    return (int)((day % 7 + 7 + 3) % 7); /* 1970-01-01 was a Thursday */
}

/* Howard Hinnant's civil calendar algorithms (public domain arithmetic). */
int64_t gw_days_from_civil(int y, int m, int d)
{
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void gw_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int gw_date_parse(const char *s, int64_t *day)
{
    int y, m, d, n = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
        s[4] != '-' || s[7] != '-' || y < 1970 || y > 2199 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    int64_t z = gw_days_from_civil(y, m, d);
    int yy, mm, dd;
    gw_civil_from_days(z, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d) /* 2026-02-30 */
        return -1;
    *day = z;
    return 0;
}

void gw_date_format(int64_t day, char *buf, size_t size)
{
    int y, m, d;
    gw_civil_from_days(day, &y, &m, &d);
    snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
}

bool gw_calendar_is_holiday(const gw_calendar_t *c, int64_t day)
{
    int lo = 0, hi = c->nholidays; /* first range with first > day */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c->holidays[mid].first <= day)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo - 1; i >= 0; i--) /* ranges may overlap: look back */
        if (c->holidays[i].last >= day)
            return true;
    return false;
}

bool gw_calendar_is_working(const gw_calendar_t *c, int64_t day)
{
    return (c->workdays & (1u << gw_weekday(day))) && !gw_calendar_is_holiday(c, day);
}

static int cmp_interval(const void *a, const void *b)
{
    const gw_interval_t *x = a, *y = b;
    return x->from_ms < y->from_ms ? -1 : x->from_ms > y->from_ms;
}

void gw_availability_normalize(gw_availability_t *a)
{
    int n = 0;
    for (int i = 0; i < a->noff; i++)
        if (a->off[i].to_ms > a->off[i].from_ms)
            a->off[n++] = a->off[i];
    qsort(a->off, (size_t)n, sizeof(a->off[0]), cmp_interval);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && a->off[i].from_ms <= a->off[m - 1].to_ms) {
            if (a->off[i].to_ms > a->off[m - 1].to_ms)
                a->off[m - 1].to_ms = a->off[i].to_ms;
        } else {
            a->off[m++] = a->off[i];
        }
    }
    a->noff = m;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Time of [from, to) the rep was available: inside [joined, left), outside
 * the (normalized) time off. */
static int64_t available_ms(const gw_availability_t *a, int64_t from, int64_t to)
{
    if (!a)
        return to > from ? to - from : 0;
    if (a->joined_ms >= 0)
        from = max64(from, a->joined_ms);
    if (a->left_ms >= 0)
        to = min64(to, a->left_ms);
    if (to <= from)
        return 0;
    int64_t t = to - from;
    for (int i = 0; i < a->noff; i++) {
        int64_t lo = max64(from, a->off[i].from_ms), hi = min64(to, a->off[i].to_ms);
        if (hi > lo)
            t -= hi - lo;
    }
    return t;
}

bool gw_availability_away(const gw_availability_t *a, int64_t t_ms)
{
    return a && available_ms(a, t_ms, t_ms + 1) == 0;
}

void gw_calendar_share(const gw_calendar_t *c, int64_t from_ms, int64_t to_ms,
                       const gw_availability_t *a, double *nominal, double *available)
{
    *nominal = *available = 0;
    if (to_ms <= from_ms)
        return;
    int64_t last = gw_calendar_day(c, to_ms - 1);
    int64_t ds = gw_calendar_day_start(c, gw_calendar_day(c, from_ms));
    for (int64_t day = gw_calendar_day(c, from_ms); day <= last; day++) {
        int64_t de = gw_calendar_day_start(c, day + 1);
        int64_t lo = max64(ds, from_ms), hi = min64(de, to_ms);
        double len = (double)(de - ds);
        if (hi > lo && (c->workdays & (1u << gw_weekday(day)))) {
            *nominal += (double)(hi - lo) / len;
            if (!gw_calendar_is_holiday(c, day))
                *available += (double)available_ms(a, lo, hi) / len;
        }
        ds = de;
    }
}

void gw_calendar_prorate(const gw_calendar_t *c, int64_t from_ms, int64_t to_ms,
                         int64_t history_from_ms, const gw_availability_t *a, double *coverage,
                         double *away)
{
    double nominal, unused, covered, available;
    gw_calendar_share(c, from_ms, to_ms, NULL, &nominal, &unused);
    gw_calendar_share(c, max64(from_ms, history_from_ms), to_ms, a, &covered, &available);
    *coverage = nominal > 0 ? available / nominal : 0;
    /* no covered working time: history's fault when the window had some */
    *away = covered > 0                                ? 1 - available / covered
            : history_from_ms > from_ms && nominal > 0 ? 0
                                                       : 1;
    if (*coverage > 1)
        *coverage = 1;
    if (*away < 0)
        *away = 0;
}

/* First month and year of the fiscal quarter holding (y, m), and the
 * calendar year its fiscal year ends in, and the quarter (0..3). */
static void fiscal_quarter(const gw_calendar_t *c, int y, int m, int *qy, int *qm, int *fy, int *q)
{
    int f = c->fiscal_start_month >= 1 && c->fiscal_start_month <= 12 ? c->fiscal_start_month : 1;
    int since = (m - f + 12) % 12; /* months since the fiscal year started */
    int start_year = m >= f ? y : y - 1;
    *q = since / 3;
    *qm = f + 3 * *q;
    *qy = start_year;
    if (*qm > 12) {
        *qm -= 12;
        (*qy)++;
    }
    *fy = f == 1 ? start_year : start_year + 1;
}

int64_t gw_calendar_period_first(const gw_calendar_t *c, gw_period_kind_t k, int64_t day,
                                 int64_t *next_first)
{
    int y, m, d;
    if (k == GW_PERIOD_WEEK) {
        int64_t first = day - (gw_weekday(day) - c->week_start + 7) % 7;
        *next_first = first + 7;
        return first;
    }
    gw_civil_from_days(day, &y, &m, &d);
    int months = 1;
    if (k == GW_PERIOD_QUARTER) {
        int fy, q;
        fiscal_quarter(c, y, m, &y, &m, &fy, &q);
        months = 3;
    }
    int nm = m + months, ny = y;
    if (nm > 12) {
        nm -= 12;
        ny++;
    }
    *next_first = gw_days_from_civil(ny, nm, 1);
    return gw_days_from_civil(y, m, 1);
}

void gw_calendar_period(const gw_calendar_t *c, gw_period_kind_t k, int64_t utc_ms,
                        int64_t *start_ms, int64_t *end_ms, char *id, size_t idsize)
{
    int64_t next, first = gw_calendar_period_first(c, k, gw_calendar_day(c, utc_ms), &next);
    int y, m, d;
    gw_civil_from_days(first, &y, &m, &d);
    if (k == GW_PERIOD_WEEK) {
        char date[16];
        gw_date_format(first, date, sizeof(date));
        snprintf(id, idsize, "week:%s", date);
    } else if (k == GW_PERIOD_MONTH) {
        snprintf(id, idsize, "month:%04d-%02d", y, m);
    } else {
        int qy, qm, fy, q;
        fiscal_quarter(c, y, m, &qy, &qm, &fy, &q);
        snprintf(id, idsize, "quarter:FY%04d-Q%d", fy, q + 1);
    }
    *start_ms = gw_calendar_day_start(c, first);
    *end_ms = gw_calendar_day_start(c, next);
}

int gw_team_match(const char *entry, const char *tenant, const char *team)
{
    const char *slash = strchr(entry, '/');
    if (slash) {
        size_t tlen = strlen(tenant);
        if ((size_t)(slash - entry) != tlen || strncmp(entry, tenant, tlen) != 0)
            return 0;
        return !strcmp(slash + 1, team) ? 4 : !strcmp(slash + 1, "*") ? 2 : 0;
    }
    if (!strcmp(entry, "*"))
        return 1;
    return !strcmp(entry, team) ? 3 : 0;
}

const gw_calendar_t *gw_calendar_for_team(const gw_calendar_t *cals, int n, const char *tenant,
                                          const char *team)
{
    const gw_calendar_t *best = NULL;
    int best_rank = 0;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < cals[i].nteams; t++) {
            int r = gw_team_match(cals[i].teams[t], tenant, team);
            if (r > best_rank) {
                best_rank = r;
                best = &cals[i];
            }
        }
    return best;
}
