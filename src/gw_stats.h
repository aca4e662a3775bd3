/*
 * gw_stats: the statistics of the diagnosis. Pure functions.
 *
 * A stage's conversion is a binomial proportion; the rep's uncertainty is
 * the Wilson score interval (good at small n and at rates near 0 or 1,
 * where the normal approximation lies). "Significantly below the team"
 * means the upper end of the rep's two-sided interval at the configured
 * confidence is below the team's rate (less the tolerance): 1 of 4 is never
 * evidence, 8 of 400 against a team at 10% is.
 */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stdint.h>

/* Inverse of the standard normal CDF, for 0 < p < 1 (Acklam's rational
 * approximation, relative error below 1.2e-9). */
double gw_stats_normal_quantile(double p);

/* z of a two-sided interval at `confidence` (0.95 -> 1.959964). */
double gw_stats_z(double confidence);

/* Wilson score interval of `successes` out of `trials` at `z`. With no
 * trials the interval is [0, 1]. Successes above trials are capped. */
void gw_stats_wilson(int64_t successes, int64_t trials, double z, double *lo, double *hi);

#endif
