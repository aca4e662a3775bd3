/*
 * gw_window: event-time window arithmetic. Pure: no I/O, no clock.
 *
 * A window of length L is cut into N = L / B buckets of size B; bucket i
 * holds events with i*B <= occurred_at_ms < (i+1)*B (floor division).
 *
 * Watermarks. A partition's stream time is the newest occurred_at_ms of the
 * valid events read from it so far (Kafka Streams' "stream time"). An
 * entity's watermark `wm` is the newest stream time among the events applied
 * to it (or the evaluation watermark a sweep moved it to). With lateness
 * grace G, a window at watermark wm covers every bucket from
 *
 *     start(wm) = floor((wm - G) / B) - N + 1
 *
 * upwards: the N buckets ending at wm - G, plus the newer buckets an event up
 * to G out of order can still land in. A bucket below start(wm) has left the
 * window and is subtracted from the totals. An event whose bucket is below
 * start(stream time of its partition) when it is read is dropped as late for
 * that window and counted in the window's `late` field.
 *
 * Ownership: gw_window_t and the partition times are the caller's values; nothing is allocated.
 * Errors: gw_window_init and gw_duration_parse return -1 with a sentence in `errstr`; the
 *   arithmetic does not fail.
 * Threads: Any thread, pure.
 */
#ifndef GW_WINDOW_H
#define GW_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_WINDOWS_MAX        8
#define GW_WINDOW_NAME_MAX    16
#define GW_WINDOW_BUCKETS_MAX 1024

typedef struct {
    char name[GW_WINDOW_NAME_MAX + 1];
    int64_t length_ms;
    int64_t bucket_ms;
    int64_t grace_ms;
    int64_t nbuckets; /* length_ms / bucket_ms */
} gw_window_t;

/* floor(a / b) for b > 0, correct for negative a. */
static inline int64_t gw_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Bucket number of an event time. */
static inline int64_t gw_window_bucket(const gw_window_t *w, int64_t t_ms)
{
    return gw_floor_div(t_ms, w->bucket_ms);
}

/* First bucket inside the window at watermark `wm_ms`. */
static inline int64_t gw_window_start(const gw_window_t *w, int64_t wm_ms)
{
    return gw_floor_div(wm_ms - w->grace_ms, w->bucket_ms) - w->nbuckets + 1;
}

/* True if an event at `t_ms` read when its partition's stream time is
 * `stream_ms` is too late for window `w`. */
static inline bool gw_window_is_late(const gw_window_t *w, int64_t t_ms, int64_t stream_ms)
{
    return gw_window_bucket(w, t_ms) < gw_window_start(w, stream_ms);
}

/* One partition as the evaluation watermark sees it. */
typedef struct {
    bool assigned;              /* owned by this instance */
    int64_t caught_up_since_ms; /* wall clock it was read to its end; 0: messages left */
    int64_t stream_ms;          /* its stream time; -1 unknown */
} gw_partition_time_t;

/*
 * The evaluation watermark over `n` partitions (README "Evaluation: when,
 * and as of which event time"), never below `prev`:
 *   - a partition with messages left holds it back: the lowest stream time
 *     of those (and an unknown stream time there keeps `prev`);
 *   - all read to their end: the newest stream time, advancing with the
 *     clock once the last of them has been caught up for `idle_after_ms`
 *     (a quiet stream still moves its windows);
 *   - no partition assigned: `prev`.
 */
int64_t gw_watermark(const gw_partition_time_t *p, int n, int64_t prev, int64_t now_ms,
                     int64_t idle_after_ms);

/*
 * Fills `w` after checking the combination: name [A-Za-z0-9_]{1,16}; length
 * and bucket > 0; length a multiple of bucket; at most GW_WINDOW_BUCKETS_MAX
 * buckets; grace >= 0 and no longer than the window. Returns 0, or -1 with a
 * sentence in `errstr`.
 */
int gw_window_init(gw_window_t *w, const char *name, int64_t length_ms, int64_t bucket_ms,
                   int64_t grace_ms, char *errstr, size_t errstr_size);

/*
 * Parses a duration: one or more <integer><unit> with unit ms, s, m, h, d or w
 * ("90s", "1h30m", "7d"). Returns 0, or -1 with a sentence in `errstr`.
 */
int gw_duration_parse(const char *s, int64_t *out_ms, char *errstr, size_t errstr_size);

/* Formats `ms` as the shortest exact duration string ("7d", "90m"). */
void gw_duration_format(int64_t ms, char *buf, size_t size);

#endif
