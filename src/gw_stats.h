/*
 * gw_stats: the statistics of the diagnosis. Pure functions.
 *
 * One-sided tail probabilities ("how likely is a count this low by chance"):
 * Poisson and negative binomial for volumes (the negative binomial when the
 * team's reps differ more than Poisson noise explains), binomial for a
 * stage's conversion; the Benjamini-Hochberg step-up over a team's tests;
 * medians and the median absolute deviation for robust team baselines.
 *
 * A stage's conversion is a binomial proportion; the rep's uncertainty is
 * the Wilson score interval (good at small n and at rates near 0 or 1,
 * where the normal approximation lies). "Significantly below the team"
 * means the upper end of the rep's two-sided interval at the configured
 * confidence is below the team's rate (less the tolerance): 1 of 4 is never
 * evidence, 8 of 400 against a team at 10% is.
 *
 * Ownership: The caller owns every array; some functions sort or overwrite theirs (as each says);
 *   nothing is allocated.
 * Errors: NaN where a figure cannot be computed (too few values, no test).
 * Threads: Any thread, pure.
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

/* Regularized incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1 (continued
 * fraction, relative error about 1e-12). */
double gw_stats_beta_inc(double a, double b, double x);

/* Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), a > 0, x >= 0. */
double gw_stats_gamma_q(double a, double x);

/* P(X <= k) for X ~ Poisson(mean). 1 when k >= 0 and mean <= 0; 0 for k < 0. */
double gw_stats_poisson_cdf(int64_t k, double mean);

/* P(X <= k) for a negative binomial with `mean` and dispersion `phi`
 * (variance mean + phi * mean^2); phi <= 0 is the Poisson. */
double gw_stats_negbin_cdf(int64_t k, double mean, double phi);

/* P(X <= k) for X ~ Binomial(n, p). */
double gw_stats_binom_cdf(int64_t k, int64_t n, double p);

/* P(X <= k) for a beta-binomial with `n` trials, mean rate `p` and
 * intra-class correlation `rho` (the reps' own rates spread around p with
 * variance rho * p * (1 - p)); rho <= 0 is the binomial. */
double gw_stats_betabinom_cdf(int64_t k, int64_t n, double p, double rho);

/* Benjamini-Hochberg at false-discovery rate `q` over `n` p-values: the
 * largest p-value that is a discovery, or -1 when none is (a test is
 * significant when its p <= the returned value). NaN p-values are not
 * tests. `scratch` holds n doubles. */
double gw_stats_bh_threshold(const double *p, int n, double q, double *scratch);

/* Median of `n` values (NaN skipped); NaN when none. Sorts `v` in place. */
double gw_stats_median(double *v, int n);

/* A robust standard deviation from the tighter half of the values:
 * min(third quartile - `median`, `median` - first quartile) / 0.6745
 * (quartiles by linear interpolation). How much typical reps differ: the
 * gaps a diagnosis looks for lie below the typical rep and widen the lower
 * half, reps who convert far better (lean ones) widen the upper half, and
 * neither is the spread among the others. NaN when fewer than 4 values.
 * `v` is sorted in place. */
double gw_stats_inner_sd(double *v, int n, double median);

#endif
