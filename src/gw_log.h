/*
 * gw_log: one line per event worth an operator's attention, on stderr, in
 * logfmt (the default) or JSON (one object per line, `log.format: json`):
 *
 *   ts=2026-11-22T10:00:00.123Z level=warn msg="redis unavailable" err="..."
 *   {"ts":"2026-11-22T10:00:00.123Z","level":"warn","msg":"redis unavailable","err":"..."}
 *
 * Callers always write logfmt pairs; the JSON writer turns each pair into a
 * string member (values stay strings, so a field's type never changes from
 * line to line). The level and format are read and set atomically: the
 * main loop changes them on SIGHUP while librdkafka's threads may log
 * (gw_kafka's log callback). Never log a secret, never a line per message.
 *
 * Ownership: Nothing is allocated: each line is formatted on the stack and truncated at 4 KiB; the
 *   *_str functions return static strings.
 * Errors: A failed write to stderr is ignored (there is nowhere else to say it); the parse
 *   functions return -1 for an unknown name.
 * Threads: Any thread. The level and the format are the only shared state, read and set atomically;
 *   each line goes out in one write(2), so lines of several threads never interleave.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

typedef enum {
    GW_LOG_DEBUG = 0,
    GW_LOG_INFO = 1,
    GW_LOG_WARN = 2,
    GW_LOG_ERROR = 3,
} gw_log_level_t;

typedef enum {
    GW_LOG_LOGFMT = 0,
    GW_LOG_JSON = 1,
} gw_log_format_t;

/* Sets the threshold; lines below it are not written. Default: info. Any
 * thread. */
void gw_log_set_level(gw_log_level_t level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int gw_log_level_parse(const char *name, gw_log_level_t *out);

/* The name of a level ("info"). */
const char *gw_log_level_str(gw_log_level_t level);

/* Sets the line format. Default: logfmt. Any thread. */
void gw_log_set_format(gw_log_format_t format);

/* Parses "logfmt" or "json". Returns 0, or -1 if unknown. */
int gw_log_format_parse(const char *name, gw_log_format_t *out);

/* The name of a format ("json"). */
const char *gw_log_format_str(gw_log_format_t format);

/*
 * Writes one line: ts, level, msg, then the caller's key=value pairs
 * formatted with printf-style `kv_fmt` (may be NULL). Values that may hold
 * spaces must be quoted by the caller, e.g. "err=\"%s\"".
 */
void gw_log(gw_log_level_t level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Renders logfmt pairs ("a=1 b=\"x y\"") as JSON members (",\"a\":\"1\",
 * \"b\":\"x y\"") into `out` (NUL-terminated, truncated at a member
 * boundary). Pure; exposed for tests. Returns the length written.
 */
size_t gw_log_pairs_to_json(const char *pairs, char *out, size_t size);

#define gw_log_debug(msg, ...) gw_log(GW_LOG_DEBUG, msg, __VA_ARGS__)
#define gw_log_info(msg, ...)  gw_log(GW_LOG_INFO, msg, __VA_ARGS__)
#define gw_log_warn(msg, ...)  gw_log(GW_LOG_WARN, msg, __VA_ARGS__)
#define gw_log_error(msg, ...) gw_log(GW_LOG_ERROR, msg, __VA_ARGS__)

#endif
