/*
 * gw_notify: the systemd service protocol (sd_notify(3)) for Type=notify
 * units: READY=1 once the daemon is connected to Redis and subscribed,
 * WATCHDOG=1 at half of WATCHDOG_USEC from the main loop, RELOADING=1 /
 * READY=1 around a SIGHUP reload, STOPPING=1 at shutdown, and STATUS=.
 *
 * Without NOTIFY_SOCKET (not under systemd) every call does nothing.
 *
 * Ownership: gw_notify_t is the caller's (the watchdog's timing); nothing is allocated and the
 *   status strings are borrowed for the call.
 * Errors: Failures of sd_notify are ignored: a unit that cannot be told is no reason to stop the
 *   daemon.
 * Threads: The main thread only: the watchdog must prove the loop turns, not that some other thread
 *   is alive. The only state is in gw_notify_t.
 */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t watchdog_interval_ms; /* half of WATCHDOG_USEC; 0: no watchdog */
    int64_t last_watchdog_ms;     /* monotonic */
    bool ready;                   /* READY=1 was sent */
} gw_notify_t;

/* Reads WATCHDOG_USEC (for this process) into `n`. */
void gw_notify_init(gw_notify_t *n);

/* READY=1 with a STATUS= (once; later calls only update nothing). */
void gw_notify_ready(gw_notify_t *n, const char *status);

/* WATCHDOG=1 when half of the watchdog timeout passed since the last one;
 * call from every turn of the main loop with the monotonic clock. */
void gw_notify_watchdog(gw_notify_t *n, int64_t now_mono_ms);

/* RELOADING=1 (with MONOTONIC_USEC=, as systemd 253 expects) before a reload,
 * and READY=1 after it, whatever its outcome. */
void gw_notify_reloading(gw_notify_t *n);
void gw_notify_reloaded(gw_notify_t *n, const char *status);

/* STOPPING=1. */
void gw_notify_stopping(gw_notify_t *n);

#endif
