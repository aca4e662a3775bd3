/* The statistics of the diagnosis, against values computed independently
 * (mpmath, 30 digits, by summing the probability mass functions). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gw_stats.h"

static void near(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fabs(want)) {
        print_error("expected %.12g, got %.12g\n", want, got);
        fail();
    }
}

static void test_poisson_lower_tail_matches_the_sum_of_its_terms(void **state)
{
    (void)state;
    /* 5 meetings or fewer when 9 are expected happens 11.6% of the time:
     * chance, not evidence. */
    near(gw_stats_poisson_cdf(5, 9), 0.115690520841057743, 1e-9);
    near(gw_stats_poisson_cdf(2, 8), 0.013753967744002985, 1e-9);
    /* Silence when 3 events are expected: 5%. */
    near(gw_stats_poisson_cdf(0, 3), 0.049787068367863943, 1e-9);
    near(gw_stats_poisson_cdf(300, 450), 3.28862355463617915e-14, 1e-6);
    assert_true(gw_stats_poisson_cdf(-1, 3) == 0);
    assert_true(gw_stats_poisson_cdf(0, 0) == 1);
}

static void test_negative_binomial_widens_the_poisson(void **state)
{
    (void)state;
    /* mean 4, phi 0.5 (r = 2, p = 1/3): P(0) = (1/3)^2 */
    near(gw_stats_negbin_cdf(0, 4, 0.5), 1.0 / 9, 1e-9);
    /* 300 dials against 450 expected: impossible for a Poisson, 3.9% when
     * reps' volumes spread with phi 0.04 (sd 20% of the mean) */
    near(gw_stats_negbin_cdf(300, 450, 0.04), 0.038768240243551357, 1e-7);
    near(gw_stats_negbin_cdf(5, 9, 0), gw_stats_poisson_cdf(5, 9), 1e-12);
}

static void test_binomial_lower_tail_matches_the_sum_of_its_terms(void **state)
{
    (void)state;
    near(gw_stats_binom_cdf(2, 10, 0.5), 0.0546875, 1e-10);
    /* 2 of 4 against 45%: nothing */
    near(gw_stats_binom_cdf(2, 4, 0.45), 0.75851875, 1e-9);
    /* 3 of 24 proposals won against 45% */
    near(gw_stats_binom_cdf(3, 24, 0.45), 0.000771411759988323578, 1e-8);
    /* 8 of 400 dials against 9% */
    near(gw_stats_binom_cdf(8, 400, 0.09), 7.16462109342557882e-9, 1e-6);
    near(gw_stats_binom_cdf(40, 340, 0.18), 0.00111056089824350929, 1e-8);
    assert_true(gw_stats_binom_cdf(10, 10, 0.3) == 1);
}

static void test_beta_binomial_widens_the_binomial(void **state)
{
    (void)state;
    /* 65 connects of 938 dials against 8.55%: a binomial says p = 0.04; if
     * reps' own rates spread (rho 0.002, a standard deviation of 15% of
     * the rate) it is p = 0.155, chance. */
    assert_true(gw_stats_binom_cdf(65, 938, 0.0855) < 0.05);
    near(gw_stats_betabinom_cdf(65, 938, 0.0855, 0.002), 0.15479531438880970026, 1e-7);
    near(gw_stats_betabinom_cdf(3, 24, 0.45, 0.05), 0.0150666278468431776616, 1e-7);
    near(gw_stats_betabinom_cdf(25, 400, 0.09, 0.001), 0.0534067515611560645, 1e-7);
    near(gw_stats_betabinom_cdf(25, 400, 0.09, 0), gw_stats_binom_cdf(25, 400, 0.09), 1e-12);
}

static void test_benjamini_hochberg_keeps_the_step_up_discoveries(void **state)
{
    (void)state;
    /* The textbook example: q = 0.05, m = 8; k/m*q = 0.00625, 0.0125,
     * 0.01875, ...; the largest k with p(k) <= k/m*q is 2. */
    double p[] = {0.042, 0.001, 0.205, 0.039, 0.008, 0.06, 0.074, 0.041};
    double scratch[8];
    assert_true(gw_stats_bh_threshold(p, 8, 0.05, scratch) == 0.008);
    /* Six looks at 0.03 among six at chance: none survives (0.03 > 6 / 12 *
     * 0.05); twelve small ones all do. */
    double q[12];
    for (int i = 0; i < 12; i++)
        q[i] = i < 6 ? 0.03 : 0.9;
    double s2[12];
    assert_true(gw_stats_bh_threshold(q, 12, 0.05, s2) < 0);
    for (int i = 0; i < 12; i++)
        q[i] = 0.03 + i * 0.001;
    assert_true(fabs(gw_stats_bh_threshold(q, 12, 0.05, s2) - 0.041) < 1e-12);
    /* NaN is no test. */
    double r[3] = {NAN, 0.01, NAN};
    assert_true(gw_stats_bh_threshold(r, 3, 0.05, scratch) == 0.01);
}

static void test_median_and_robust_spread_ignore_the_outliers(void **state)
{
    (void)state;
    double a[] = {3, 1, 2};
    assert_true(gw_stats_median(a, 3) == 2);
    double b[] = {4, 1, NAN, 3, 2};
    assert_true(gw_stats_median(b, 5) == 2.5);
    /* Eight reps around 500 and four weak ones: the median stays with the
     * eight. Their spread is the tighter half's: sorted 90 100 110 120 480
     * 490 495 500 500 505 510 520, quartiles (type 7) 117.5 and 501.25;
     * (501.25 - 492.5) / 0.6745 = 12.97; the lower half, widened by the
     * weak, would give (492.5 - 117.5) / 0.6745 = 556. */
    double v[] = {490, 500, 510, 520, 480, 500, 505, 495, 100, 120, 90, 110};
    double med = gw_stats_median(v, 12);
    assert_true(med == 492.5);
    double w[] = {490, 500, 510, 520, 480, 500, 505, 495, 100, 120, 90, 110};
    assert_true(fabs(gw_stats_inner_sd(w, 12, med) - 8.75 / 0.6745) < 1e-9);
    /* The same with four far better reps above: the lower half's. Sorted
     * 480 490 495 500 500 505 510 520 900 950 1000 1100, quartiles 498.75
     * and 912.5, median 507.5: (507.5 - 498.75) / 0.6745. */
    double x[] = {490, 500, 510, 520, 480, 500, 505, 495, 900, 950, 1000, 1100};
    double xm = gw_stats_median(x, 12);
    assert_true(xm == 507.5);
    double y[] = {490, 500, 510, 520, 480, 500, 505, 495, 900, 950, 1000, 1100};
    assert_true(fabs(gw_stats_inner_sd(y, 12, xm) - 8.75 / 0.6745) < 1e-9);
    double few[] = {1, 2, 3};
    assert_true(isnan(gw_stats_inner_sd(few, 3, 2)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_poisson_lower_tail_matches_the_sum_of_its_terms),
        cmocka_unit_test(test_negative_binomial_widens_the_poisson),
        cmocka_unit_test(test_binomial_lower_tail_matches_the_sum_of_its_terms),
        cmocka_unit_test(test_beta_binomial_widens_the_binomial),
        cmocka_unit_test(test_benjamini_hochberg_keeps_the_step_up_discoveries),
        cmocka_unit_test(test_median_and_robust_spread_ignore_the_outliers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
