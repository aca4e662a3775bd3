/*
 * gw_time: the two clocks. Wall clock for event-time comparisons with the
 * outside world (future timestamps, idle partitions), monotonic for
 * timeouts and intervals.
 *
 * Ownership: Nothing is allocated.
 * Errors: none: clock_gettime on these clocks does not fail; gw_sleep_ms may return early on a
 *   signal.
 * Threads: Any thread; no state.
 */
#ifndef GW_TIME_H
#define GW_TIME_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t gw_now_ms(void);

/* Milliseconds of CLOCK_MONOTONIC, for intervals only. */
int64_t gw_mono_ms(void);

/* Sleeps `ms` milliseconds (returns early on a signal). */
void gw_sleep_ms(int64_t ms);

#endif
