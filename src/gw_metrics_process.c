/*
 * gw_metrics_process: the process_* metrics every Prometheus client library
 * exports, read from /proc (Linux): CPU time, resident and virtual memory,
 * open and maximum file descriptors, start time.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gw_metrics.h"

/* Boot time (Unix seconds) from /proc/stat's btime, or -1. */
static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char line[256];
    long long btime = -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "btime ", 6)) {
            btime = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return btime;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

int gw_process_stats_read(gw_process_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: fields
     * are counted after its last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2; /* field 3, the state */
    unsigned long long utime = 0, stime = 0, starttime = 0, vsize = 0;
    long long rss = 0;
    /* fields 3..24: state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime cutime cstime priority nice threads
     * itrealvalue starttime vsize rss */
    if (sscanf(p,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &utime, &stime, &starttime, &vsize, &rss) != 5)
        return -1;
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    long long btime = boot_time();
    if (ticks <= 0 || page <= 0 || btime < 0)
        return -1;
    out->cpu_seconds = (double)(utime + stime) / (double)ticks;
    out->virtual_bytes = (double)vsize;
    out->resident_bytes = (double)rss * (double)page;
    out->start_time_s = (double)btime + (double)starttime / (double)ticks;
    out->open_fds = open_fds();
    struct rlimit rl;
    out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (double)rl.rlim_cur
                       : -1;
    out->known = true;
    return 0;
}
