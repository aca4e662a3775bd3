/*
 * gw_metrics: counters and histogram helpers. The HTTP exposition is added
 * alongside (gw_metrics_server) when the daemon serves /metrics.
 */
#include "gw_metrics.h"

const double gw_metrics_batch_bounds[GW_BATCH_BUCKETS] = {1,    10,    100,   1000,
                                                          5000, 10000, 50000, 1e300};
const double gw_metrics_latency_bounds[GW_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1e300};

void gw_metrics_observe(uint64_t *le, const double *bounds, int n, double value)
{
    for (int i = 0; i < n; i++)
        if (value <= bounds[i])
            le[i]++;
}
