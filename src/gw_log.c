/*
 * gw_log: logfmt writer. A whole line is formatted into one buffer and written
 * with one write(2), so lines from several processes sharing a terminal or a
 * pipe never interleave mid-line.
 */
#include "gw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static gw_log_level_t log_threshold = GW_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void gw_log_set_level(gw_log_level_t level)
{
    log_threshold = level;
}

int gw_log_level_parse(const char *name, gw_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (gw_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void gw_log(gw_log_level_t level, const char *msg, const char *kv_fmt, ...)
{
    if (level < log_threshold)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"%s\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, level_names[level], msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (kv_fmt && *kv_fmt && len < sizeof(line) - 2) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, kv_fmt);
        int m = vsnprintf(line + len, sizeof(line) - len, kv_fmt, ap);
        va_end(ap);
        if (m > 0)
            len += (size_t)m < sizeof(line) - len ? (size_t)m : sizeof(line) - len - 1;
    }
    if (len >= sizeof(line) - 1)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failed log write */
}
