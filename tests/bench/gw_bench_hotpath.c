/*
 * gw_bench_hotpath: gapwatchd's own CPU per event on its hot path, without
 * Kafka or Redis: protobuf decoding and validation (gw_decoder_decode), then
 * the batch coalescer (gw_coalesce_add), over batches shaped like the
 * replay of gw_bench (10,000 reps in 1,000 teams, every kind, one hour of
 * event time, 100,000 events per batch). Process CPU time, not wall time,
 * and the best and the median of several repetitions: on a shared machine
 * end-to-end figures vary by ±30%, this by a few percent, so it can judge
 * a change to the hot path. Not part of the test suite's pass/fail.
 *
 *   usage: gw_bench_hotpath [--events N] [--reps N] [--batch N] [--rounds N]
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_coalesce.h"
#include "gw_config.h"
#include "gw_decode.h"
#include "gw_harness.h"
#include "tevents.h"

static uint64_t rng = 88172645463325252ull;

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    uint8_t *buf;
    size_t len;
    int partition;
} payload_t;

int main(int argc, char **argv)
{
    long events = 1000000, batch = 100000;
    int reps = 10000, rounds = 5;
    static const struct option opts[] = {
        {"events", required_argument, NULL, 'e'},
        {"reps", required_argument, NULL, 'r'},
        {"batch", required_argument, NULL, 'b'},
        {"rounds", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'e')
            events = atol(optarg);
        else if (c == 'r')
            reps = atoi(optarg);
        else if (c == 'b')
            batch = atol(optarg);
        else if (c == 'n')
            rounds = atoi(optarg);
        else {
            fprintf(stderr, "usage: gw_bench_hotpath [--events N] [--reps N] [--batch N] "
                            "[--rounds N]\n");
            return 2;
        }
    }
    if (events <= 0 || reps <= 0 || batch <= 0 || rounds <= 0 || rounds > 100) {
        fprintf(stderr, "gw_bench_hotpath: --events, --reps, --batch must be > 0, --rounds "
                        "1..100\n");
        return 2;
    }
    gw_config_t *cfg = gw_config_defaults();
    gw_decoder_t *dec = gw_decoder_new(cfg);
    gw_coalesce_t *co = gw_coalesce_new(cfg->windows, cfg->nwindows, &cfg->kinds);
    payload_t *msgs = calloc((size_t)events, sizeof(*msgs));
    if (!cfg || !dec || !co || !msgs) {
        fprintf(stderr, "gw_bench_hotpath: out of memory\n");
        return 1;
    }

    /* The events of gw_bench's preload, in the same order. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int64_t end = now_ms - 60000, span = 3600000;
    for (long i = 0; i < events; i++) {
        uint8_t buf[512];
        int r = (int)(gwh_rand(&rng) % (uint64_t)reps);
        int64_t t = end - span + (int64_t)((double)span * (double)i / (double)events) -
                    (int64_t)(gwh_rand(&rng) % 60000);
        msgs[i].len = tev_bench_event(buf, i, r, t, &rng);
        msgs[i].buf = malloc(msgs[i].len);
        if (!msgs[i].buf) {
            fprintf(stderr, "gw_bench_hotpath: out of memory\n");
            return 1;
        }
        memcpy(msgs[i].buf, buf, msgs[i].len);
        msgs[i].partition = r % 12;
    }

    double *dec_ns = calloc((size_t)rounds, sizeof(double));
    double *co_ns = calloc((size_t)rounds, sizeof(double));
    gw_event_t *evs = calloc((size_t)batch, sizeof(*evs));
    if (!dec_ns || !co_ns || !evs) {
        fprintf(stderr, "gw_bench_hotpath: out of memory\n");
        return 1;
    }
    size_t entities = 0, nbatches = 0;
    for (int round = 0; round < rounds; round++) {
        double t_dec = 0, t_co = 0;
        int64_t stream[12];
        for (int p = 0; p < 12; p++)
            stream[p] = INT64_MIN;
        for (long lo = 0; lo < events; lo += batch) {
            long hi = lo + batch < events ? lo + batch : events;
            char detail[256];
            double t0 = cpu_ns();
            for (long i = lo; i < hi; i++)
                if (gw_decoder_decode(dec, msgs[i].buf, msgs[i].len, now_ms, &evs[i - lo], detail,
                                      sizeof(detail)) != GW_REASON_OK) {
                    fprintf(stderr, "gw_bench_hotpath: event %ld: %s\n", i, detail);
                    return 1;
                }
            double t1 = cpu_ns();
            gw_coalesce_reset(co);
            for (long i = lo; i < hi; i++) {
                int p = msgs[i].partition;
                if (evs[i - lo].occurred_at_ms > stream[p])
                    stream[p] = evs[i - lo].occurred_at_ms;
                if (gw_coalesce_add(co, &evs[i - lo], p, i, stream[p]) != 0) {
                    fprintf(stderr, "gw_bench_hotpath: out of memory\n");
                    return 1;
                }
            }
            /* what the store reads first: the batch must be readable, and
             * a coalescer may finish its deltas only then (gw_coalesce_seal) */
            if (gw_coalesce_count(co) > 0 && gw_coalesce_delta(co, 0)->nevents == 0) {
                fprintf(stderr, "gw_bench_hotpath: an empty delta\n");
                return 1;
            }
            double t2 = cpu_ns();
            t_dec += t1 - t0;
            t_co += t2 - t1;
            if (round == 0) {
                entities += gw_coalesce_count(co);
                nbatches++;
            }
        }
        dec_ns[round] = t_dec / (double)events;
        co_ns[round] = t_co / (double)events;
    }
    qsort(dec_ns, (size_t)rounds, sizeof(double), cmp_double);
    qsort(co_ns, (size_t)rounds, sizeof(double), cmp_double);
    printf("%-40s %10s %10s\n", "CPU ns per event", "best", "median");
    printf("%-40s %10.1f %10.1f\n", "decode and validate (protobuf-c)", dec_ns[0],
           dec_ns[rounds / 2]);
    printf("%-40s %10.1f %10.1f\n", "coalesce (rep and team)", co_ns[0], co_ns[rounds / 2]);
    printf("(%ld events over %d reps, batches of %ld: %.0f entities each; %d rounds)\n", events,
           reps, batch, (double)entities / (double)nbatches, rounds);
    for (long i = 0; i < events; i++)
        free(msgs[i].buf);
    free(msgs);
    free(evs);
    free(dec_ns);
    free(co_ns);
    gw_coalesce_free(co);
    gw_decoder_free(dec);
    gw_config_free(cfg);
    return 0;
}
