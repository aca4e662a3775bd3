/*
 * gw_bench_apply: what one event costs Redis in the apply script, without
 * Kafka or gapwatchd: batches of synthetic events go through the coalescer
 * and gw_store_apply() into a real redis-server, and INFO commandstats says
 * where Redis spent its time. Prints microseconds of Redis per event and
 * per entity for a range of coalescing (events per rep per batch). Not part
 * of the test suite's pass/fail.
 *
 *   usage: gw_bench_apply [--reps N] [--batches N]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_coalesce.h"
#include "gw_config.h"
#include "gw_harness.h"
#include "gw_store.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    return gwh_rand(&rng);
}

typedef struct {
    double evalsha_us, hincrby_us, calls, cpu_us;
} stats_t;

static stats_t redis_stats(gwh_t *h)
{
    redisContext *c = gwh_redis(h);
    redisReply *r = redisCommand(c, "INFO commandstats");
    stats_t st = {0, 0, 0, 0};
    for (const char *p = r->str; (p = strstr(p, "cmdstat_")); p++) {
        const char *calls = strstr(p, "calls="), *usec = strstr(p, "usec=");
        if (!calls || !usec)
            break;
        st.calls += atof(calls + 6);
        if (!strncmp(p, "cmdstat_evalsha:", 16))
            st.evalsha_us = atof(usec + 5);
        if (!strncmp(p, "cmdstat_hincrby:", 16))
            st.hincrby_us = atof(usec + 5);
    }
    freeReplyObject(r);
    /* the server's CPU (user + system), networking and parsing included */
    r = redisCommand(c, "INFO cpu");
    const char *u = strstr(r->str, "used_cpu_user:"), *sy = strstr(r->str, "used_cpu_sys:");
    if (u && sy)
        st.cpu_us = (atof(u + 14) + atof(sy + 13)) * 1e6;
    freeReplyObject(r);
    redisFree(c);
    return st;
}

int main(int argc, char **argv)
{
    int reps = 2000, batches = 20;
    static const struct option opts[] = {
        {"reps", required_argument, NULL, 'r'},
        {"batches", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'r')
            reps = atoi(optarg);
        else if (c == 'b')
            batches = atoi(optarg);
        else {
            fprintf(stderr, "usage: gw_bench_apply [--reps N] [--batches N]\n");
            return 2;
        }
    }
    gwh_t h;
    gwh_init(&h, "bench-apply");
    gwh_redis_start(&h, NULL);
    snprintf(h.bootstrap, sizeof(h.bootstrap), "127.0.0.1:9"); /* no Kafka is used */
    gwh_write_config(&h, NULL);
    gw_config_t *cfg = NULL;
    char err[4096];
    if (gw_config_load_file(h.config_path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    gw_store_t *store = gw_store_new(cfg);
    gw_coalesce_t *batch = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    static const int kinds[] = {1, 1, 1, 1, 2, 2, 2, 7, 7, 8, 9, 3, 4, 5, 6, 10, 11};
    const int nkinds = (int)(sizeof(kinds) / sizeof(kinds[0]));
    printf("%-22s %12s %12s %12s %12s %12s %12s\n", "events per rep/batch", "Redis us/ev",
           "us/entity", "calls/ev", "HINCRBY us", "other us/ev", "CPU us/ev");
    /* row 0 creates every key (their first TTLs) and is not printed */
    static const int per_rep[] = {1, 1, 2, 5, 20};
    int64_t offset = 0, t0 = gwh_now_ms() - 3600000;
    for (size_t k = 0; k < sizeof(per_rep) / sizeof(per_rep[0]); k++) {
        stats_t before = redis_stats(&h);
        long events = 0, entities = 0;
        for (int b = 0; b < batches; b++) {
            gw_coalesce_reset(batch);
            for (int r = 0; r < reps; r++) {
                for (int e = 0; e < per_rep[k]; e++) {
                    gw_event_t ev;
                    memset(&ev, 0, sizeof(ev));
                    snprintf(ev.tenant, sizeof(ev.tenant), "bench");
                    snprintf(ev.rep, sizeof(ev.rep), "rep-%d", r);
                    snprintf(ev.team, sizeof(ev.team), "team-%d", r / 10);
                    ev.kind = kinds[next_rand() % (uint64_t)nkinds];
                    ev.occurred_at_ms = t0 + offset;
                    ev.has_goal = next_rand() % 2;
                    if (ev.kind == 10 || ev.kind == 11)
                        ev.amount_minor = (int64_t)(next_rand() % 1000000);
                    if (gw_coalesce_add(batch, &ev, r % 12, offset, t0 + offset) != 0)
                        return 1;
                    offset++;
                    events++;
                }
            }
            entities += (long)gw_coalesce_count(batch);
            gw_apply_result_t res;
            if (gw_store_apply(store, batch, "sales.events", &res, err, sizeof(err)) != 0) {
                fprintf(stderr, "apply: %s\n", err);
                return 1;
            }
        }
        stats_t after = redis_stats(&h);
        double us = after.evalsha_us - before.evalsha_us;
        double hincr = after.hincrby_us - before.hincrby_us;
        if (k == 0)
            continue;
        char label[32];
        snprintf(label, sizeof(label), "%d", per_rep[k]);
        printf("%-22s %12.2f %12.2f %12.2f %12.2f %12.2f %12.2f\n", label, us / (double)events,
               us / (double)entities, (after.calls - before.calls) / (double)events,
               hincr / (double)events, (us - hincr) / (double)events,
               (after.cpu_us - before.cpu_us) / (double)events);
    }
    printf("(%d reps in %d teams, %d batches per row, windows of the default config)\n", reps,
           reps / 10, batches);
    gw_store_free(store);
    gw_coalesce_free(batch);
    gw_config_free(cfg);
    gwh_cleanup(&h);
    return 0;
}
