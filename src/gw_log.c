/*
 * gw_log: logfmt or JSON lines. A whole line is formatted into one buffer
 * and written with one write(2), so lines from several threads or processes
 * sharing a pipe never interleave mid-line.
 */
#include "gw_log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Set by the main thread (start-up, SIGHUP), read by every thread. */
static int log_threshold = GW_LOG_INFO;
static int log_format = GW_LOG_LOGFMT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"logfmt", "json"};

void gw_log_set_level(gw_log_level_t level)
{
    __atomic_store_n(&log_threshold, (int)level, __ATOMIC_RELAXED);
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

const char *gw_log_level_str(gw_log_level_t level)
{
    return level >= GW_LOG_DEBUG && level <= GW_LOG_ERROR ? level_names[level] : "?";
}

void gw_log_set_format(gw_log_format_t format)
{
    __atomic_store_n(&log_format, (int)format, __ATOMIC_RELAXED);
}

int gw_log_format_parse(const char *name, gw_log_format_t *out)
{
    for (int i = 0; i < 2; i++) {
        if (strcasecmp(name, format_names[i]) == 0) {
            *out = (gw_log_format_t)i;
            return 0;
        }
    }
    return -1;
}

const char *gw_log_format_str(gw_log_format_t format)
{
    return format == GW_LOG_JSON ? "json" : "logfmt";
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    size_t n;
    if (s[0] < 0x80)
        return 1;
    else if ((s[0] & 0xE0) == 0xC0 && s[0] >= 0xC2)
        n = 2;
    else if ((s[0] & 0xF0) == 0xE0)
        n = 3;
    else if ((s[0] & 0xF8) == 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 0;
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

typedef struct {
    char *buf;
    size_t len, size; /* size includes room for the NUL */
    bool full;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->full || o->len + n >= o->size) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* Appends `s` (n bytes) as the inside of a JSON string: quotes, backslashes
 * and control characters escaped, invalid UTF-8 replaced by U+FFFD.
 * `unquote` turns the logfmt escapes \" and \\ back into their character. */
static void put_json_string(out_t *o, const char *s, size_t n, bool unquote)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char ch = u[i];
        char esc[8];
        if (unquote && ch == '\\' && i + 1 < n && (u[i + 1] == '"' || u[i + 1] == '\\')) {
            put(o, u[i + 1] == '"' ? "\\\"" : "\\\\", 2);
            i += 2;
        } else if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            put(o, esc, 2);
            i++;
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            put(o, esc, 6);
            i++;
        } else {
            size_t k = utf8_len(u + i, n - i);
            if (k == 0) {
                put(o, "\\ufffd", 6);
                i++;
            } else {
                put(o, s + i, k);
                i += k;
            }
        }
    }
}

/* True if `rest` (what follows a quote) is the end or " key=...". */
static bool closes_value(const char *rest)
{
    if (*rest == '\0')
        return true;
    if (*rest != ' ')
        return false;
    const char *k = rest + 1;
    while ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
           *k == '_' || *k == '.' || *k == '-')
        k++;
    return k > rest + 1 && *k == '=';
}

size_t gw_log_pairs_to_json(const char *pairs, char *out, size_t size)
{
    out_t o = {out, 0, size, false};
    if (size)
        out[0] = '\0';
    const char *p = pairs;
    while (p && *p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *key = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        size_t klen = (size_t)(p - key);
        const char *val = "";
        size_t vlen = 0;
        bool quoted = false;
        if (*p == '=') {
            p++;
            if (*p == '"') {
                /* Callers quote free text verbatim, so a quote inside it
                 * is not escaped: the closing quote is the one that ends
                 * the line or is followed by the next " key=". */
                quoted = true;
                val = ++p;
                while (*p && !(*p == '"' && closes_value(p + 1))) {
                    if (*p == '\\' && p[1])
                        p++;
                    p++;
                }
                vlen = (size_t)(p - val);
                if (*p == '"')
                    p++;
            } else {
                val = p;
                while (*p && *p != ' ')
                    p++;
                vlen = (size_t)(p - val);
            }
        }
        size_t mark = o.len;
        put(&o, ",\"", 2);
        put_json_string(&o, key, klen, false);
        put(&o, "\":\"", 3);
        put_json_string(&o, val, vlen, quoted);
        put(&o, "\"", 1);
        if (o.full) {
            o.len = mark;
            if (size)
                out[mark] = '\0';
            break;
        }
    }
    return o.len;
}

void gw_log(gw_log_level_t level, const char *msg, const char *kv_fmt, ...)
{
    if ((int)level < __atomic_load_n(&log_threshold, __ATOMIC_RELAXED))
        return;
    char pairs[2048];
    pairs[0] = '\0';
    if (kv_fmt && *kv_fmt) {
        va_list ap;
        va_start(ap, kv_fmt);
        int m = vsnprintf(pairs, sizeof(pairs), kv_fmt, ap);
        va_end(ap);
        if (m < 0)
            pairs[0] = '\0';
    }
    char ts[80];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);

    char line[4096];
    size_t len;
    if (__atomic_load_n(&log_format, __ATOMIC_RELAXED) == GW_LOG_JSON) {
        out_t o = {line, 0, sizeof(line) - 2, false};
        put(&o, "{\"ts\":\"", 7);
        put(&o, ts, strlen(ts));
        put(&o, "\",\"level\":\"", 11);
        put(&o, level_names[level], strlen(level_names[level]));
        put(&o, "\",\"msg\":\"", 9);
        put_json_string(&o, msg, strlen(msg), false);
        put(&o, "\"", 1);
        if (!o.full)
            o.len += gw_log_pairs_to_json(pairs, line + o.len, o.size - o.len - 1);
        if (o.full) /* msg alone overflowed: keep a valid object */
            o.len = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\"", ts,
                                     level_names[level]);
        line[o.len++] = '}';
        len = o.len;
    } else {
        int n = snprintf(line, sizeof(line) - 1, "ts=%s level=%s msg=\"%s\"%s%s", ts,
                         level_names[level], msg, pairs[0] ? " " : "", pairs);
        if (n < 0)
            return;
        len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failed log write */
}
