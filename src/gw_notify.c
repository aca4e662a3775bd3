/*
 * gw_notify: sd_notify(3) calls for Type=notify (see gw_notify.h).
 */
#include "gw_notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "gw_log.h"

void gw_notify_init(gw_notify_t *n)
{
    *n = (gw_notify_t){0};
    uint64_t usec = 0;
    /* > 0 only when WATCHDOG_USEC is set for this pid (WATCHDOG_PID) */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        n->watchdog_interval_ms = (int64_t)(usec / 2000);
        if (n->watchdog_interval_ms < 1)
            n->watchdog_interval_ms = 1;
        gw_log_info("systemd watchdog enabled", "timeout_ms=%llu ping_every_ms=%lld",
                    (unsigned long long)(usec / 1000), (long long)n->watchdog_interval_ms);
    }
}

void gw_notify_ready(gw_notify_t *n, const char *status)
{
    if (n->ready)
        return;
    n->ready = true;
    int rc = sd_notifyf(0, "READY=1\nSTATUS=%s", status);
    if (rc > 0)
        gw_log_info("told systemd the daemon is ready", "status=\"%s\"", status);
    else if (rc < 0)
        gw_log_warn("cannot notify systemd", "what=READY err=%d", rc);
}

void gw_notify_watchdog(gw_notify_t *n, int64_t now_mono_ms)
{
    if (n->watchdog_interval_ms <= 0 || now_mono_ms - n->last_watchdog_ms < n->watchdog_interval_ms)
        return;
    n->last_watchdog_ms = now_mono_ms;
    sd_notify(0, "WATCHDOG=1");
}

void gw_notify_reloading(gw_notify_t *n)
{
    (void)n;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void gw_notify_reloaded(gw_notify_t *n, const char *status)
{
    (void)n;
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void gw_notify_stopping(gw_notify_t *n)
{
    (void)n;
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
