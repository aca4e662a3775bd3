/* gw_stats: normal quantile and Wilson interval. */
#include "gw_stats.h"

#include <math.h>
#include <stdlib.h>

double gw_stats_normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double lo = 0.02425, hi = 1 - lo;
    if (p <= 0)
        return -INFINITY;
    if (p >= 1)
        return INFINITY;
    if (p < lo) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > hi) {
        double q = sqrt(-2 * log(1 - p));
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double gw_stats_z(double confidence)
{
    return gw_stats_normal_quantile(1 - (1 - confidence) / 2);
}

void gw_stats_wilson(int64_t successes, int64_t trials, double z, double *lo, double *hi)
{
    if (trials <= 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    if (successes > trials)
        successes = trials;
    if (successes < 0)
        successes = 0;
    double n = (double)trials;
    double p = (double)successes / n;
    double z2 = z * z;
    double denom = 1 + z2 / n;
    double center = (p + z2 / (2 * n)) / denom;
    double half = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom;
    *lo = center - half < 0 ? 0 : center - half;
    *hi = center + half > 1 ? 1 : center + half;
}

/* One step of the modified Lentz method: folds coefficient `aa` into the
 * running `c` and `d`, returns the factor the fraction is multiplied by. */
static double lentz_step(double aa, double *c, double *d)
{
    const double tiny = 1e-300;
    *d = 1 + aa * *d;
    if (fabs(*d) < tiny)
        *d = tiny;
    *c = 1 + aa / *c;
    if (fabs(*c) < tiny)
        *c = tiny;
    *d = 1 / *d;
    return *d * *c;
}

/* Continued fraction of the incomplete beta (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300, eps = 1e-14;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 500; m++) {
        int m2 = 2 * m;
        h *= lentz_step(m * (b - m) * x / ((qam + m2) * (a + m2)), &c, &d);
        double del = lentz_step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), &c, &d);
        h *= del;
        if (fabs(del - 1) < eps)
            break;
    }
    return h;
}

double gw_stats_beta_inc(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    /* The fraction converges fast for x < (a + 1) / (a + b + 2); use the
     * symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other side. */
    if (x < (a + 1) / (a + b + 2))
        return exp(lbt) * beta_cf(a, b, x) / a;
    return 1 - exp(lbt) * beta_cf(b, a, 1 - x) / b;
}

double gw_stats_gamma_q(double a, double x)
{
    if (x <= 0)
        return 1;
    double gln = lgamma(a);
    if (x < a + 1) {
        /* series of P(a, x) */
        double ap = a, sum = 1 / a, del = sum;
        for (int n = 0; n < 1000; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-15)
                break;
        }
        return 1 - sum * exp(-x + a * log(x) - gln);
    }
    /* continued fraction of Q(a, x) */
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i <= 1000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return exp(-x + a * log(x) - gln) * h;
}

double gw_stats_poisson_cdf(int64_t k, double mean)
{
    if (k < 0)
        return 0;
    if (mean <= 0)
        return 1;
    return gw_stats_gamma_q((double)k + 1, mean);
}

double gw_stats_negbin_cdf(int64_t k, double mean, double phi)
{
    if (phi <= 1e-12)
        return gw_stats_poisson_cdf(k, mean);
    if (k < 0)
        return 0;
    if (mean <= 0)
        return 1;
    double r = 1 / phi, p = r / (r + mean);
    return gw_stats_beta_inc(r, (double)k + 1, p);
}

/* The binomial family's CDF where it is certain: 0 or 1, else -1. */
static double binom_edge(int64_t k, int64_t n, double p)
{
    if (k < 0)
        return 0;
    if (k >= n || p <= 0)
        return 1;
    if (p >= 1)
        return 0;
    return -1;
}

double gw_stats_binom_cdf(int64_t k, int64_t n, double p)
{
    double edge = binom_edge(k, n, p);
    if (edge >= 0)
        return edge;
    return gw_stats_beta_inc((double)(n - k), (double)k + 1, 1 - p);
}

double gw_stats_betabinom_cdf(int64_t k, int64_t n, double p, double rho)
{
    if (rho <= 1e-12)
        return gw_stats_binom_cdf(k, n, p);
    double edge = binom_edge(k, n, p);
    if (edge >= 0)
        return edge;
    if (rho >= 1)
        rho = 0.999999;
    double a = p * (1 / rho - 1), b = (1 - p) * (1 / rho - 1);
    double lbeta_ab = lgamma(a) + lgamma(b) - lgamma(a + b);
    double lfact_n = lgamma((double)n + 1), sum = 0;
    for (int64_t i = 0; i <= k; i++) {
        double di = (double)i, dn = (double)n;
        double lc = lfact_n - lgamma(di + 1) - lgamma(dn - di + 1);
        double lb = lgamma(di + a) + lgamma(dn - di + b) - lgamma(dn + a + b);
        sum += exp(lc + lb - lbeta_ab);
    }
    return sum > 1 ? 1 : sum;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double gw_stats_bh_threshold(const double *p, int n, double q, double *scratch)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(p[i]))
            scratch[m++] = p[i];
    qsort(scratch, (size_t)m, sizeof(double), cmp_double);
    for (int k = m; k >= 1; k--)
        if (scratch[k - 1] <= q * k / m)
            return scratch[k - 1];
    return -1;
}

double gw_stats_median(double *v, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            v[m++] = v[i];
    if (m == 0)
        return NAN;
    qsort(v, (size_t)m, sizeof(double), cmp_double);
    return m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
}

/* Quantile `q` of the sorted `v` (m values) by linear interpolation (type 7). */
static double quantile_sorted(const double *v, int m, double q)
{
    double h = q * (m - 1);
    int lo = (int)h;
    return v[lo] + (h - lo) * (v[lo + 1 < m ? lo + 1 : lo] - v[lo]);
}

double gw_stats_inner_sd(double *v, int n, double median)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            v[m++] = v[i];
    if (m < 4)
        return NAN;
    qsort(v, (size_t)m, sizeof(double), cmp_double);
    double upper = quantile_sorted(v, m, 0.75) - median;
    double lower = median - quantile_sorted(v, m, 0.25);
    double sd = (upper < lower ? upper : lower) / 0.6745;
    return sd > 0 ? sd : 0;
}
