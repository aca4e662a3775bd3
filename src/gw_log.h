/*
 * gw_log: logfmt lines on stderr, one per event worth an operator's attention.
 *
 *   ts=2026-11-22T10:00:00.123Z level=warn msg="redis unavailable" err="..."
 *
 * The level threshold is set once at start-up, before any other thread runs
 * (librdkafka's threads never log through here); it is configuration, not
 * state the loop mutates. Never log a secret, never a line per message.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

typedef enum {
    GW_LOG_DEBUG = 0,
    GW_LOG_INFO = 1,
    GW_LOG_WARN = 2,
    GW_LOG_ERROR = 3,
} gw_log_level_t;

/* Sets the threshold; lines below it are not written. Default: info. */
void gw_log_set_level(gw_log_level_t level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int gw_log_level_parse(const char *name, gw_log_level_t *out);

/*
 * Writes one line: ts, level, msg (quoted), then the caller's key=value pairs
 * formatted with printf-style `kv_fmt` (may be NULL). Values that may hold
 * spaces must be quoted by the caller, e.g. "err=\"%s\"".
 */
void gw_log(gw_log_level_t level, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define gw_log_debug(msg, ...) gw_log(GW_LOG_DEBUG, msg, __VA_ARGS__)
#define gw_log_info(msg, ...)  gw_log(GW_LOG_INFO, msg, __VA_ARGS__)
#define gw_log_warn(msg, ...)  gw_log(GW_LOG_WARN, msg, __VA_ARGS__)
#define gw_log_error(msg, ...) gw_log(GW_LOG_ERROR, msg, __VA_ARGS__)

#endif
