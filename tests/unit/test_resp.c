/*
 * gw_resp: the commands it writes are byte for byte what hiredis formats
 * for the same arguments, for every argument form and command size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "gw_resp.h"

/* Asserts that `r` holds exactly hiredis' formatting of argv. */
static void assert_same_as_hiredis(const gw_resp_t *r, int argc, const char **argv,
                                   const size_t *lens)
{
    char *want = NULL;
    long long n = redisFormatCommandArgv(&want, argc, argv, lens);
    assert_true(n > 0);
    if ((size_t)n != r->len || memcmp(want, r->buf, r->len) != 0)
        fail_msg("expected %lld bytes \"%.*s\", got %zu bytes \"%.*s\"", n, (int)n, want, r->len,
                 (int)r->len, r->buf);
    redisFreeCommand(want);
}

static void test_resp_writes_what_hiredis_formats(void **state)
{
    (void)state;
    gw_resp_t r = GW_RESP_INIT;
    gw_resp_begin(&r);
    gw_resp_arg(&r, "HINCRBY", 7);
    gw_resp_arg_str(&r, "gw:{acme:r17}:w:7d:b");
    gw_resp_arg_i64(&r, 1764633600000LL);
    gw_resp_arg_i64(&r, -42);
    gw_resp_arg(&r, "a\0b\r\n", 5); /* binary-safe */
    gw_resp_arg(&r, "", 0);
    assert_int_equal(gw_resp_end(&r), 0);
    const char *argv[] = {"HINCRBY", "gw:{acme:r17}:w:7d:b", "1764633600000", "-42", "a\0b\r\n",
                          ""};
    const size_t lens[] = {7, 20, 13, 3, 5, 0};
    assert_same_as_hiredis(&r, 6, argv, lens);
    gw_resp_free(&r);
}

static void test_resp_counts_arguments_past_one_digit_and_chains_commands(void **state)
{
    (void)state;
    gw_resp_t r = GW_RESP_INIT;
    enum { N = 1500 };
    static char text[N][24];
    static const char *argv[N];
    static size_t lens[N];
    gw_resp_begin(&r);
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof(text[i]), "%d", i * 7919);
        argv[i] = text[i];
        lens[i] = strlen(text[i]);
        gw_resp_arg_i64(&r, (int64_t)i * 7919);
    }
    assert_int_equal(gw_resp_end(&r), 0);
    assert_same_as_hiredis(&r, N, argv, lens);

    /* a second command follows the first in the same buffer */
    size_t first = r.len;
    gw_resp_begin(&r);
    gw_resp_arg_str(&r, "PING");
    assert_int_equal(gw_resp_end(&r), 0);
    assert_int_equal(r.len - first, 14);
    assert_memory_equal(r.buf + first, "*1\r\n$4\r\nPING\r\n", 14);

    gw_resp_reset(&r);
    assert_int_equal(r.len, 0);
    assert_true(gw_resp_ok(&r));
    gw_resp_free(&r);
}

static void test_resp_integer_text_covers_the_int64_range(void **state)
{
    (void)state;
    const int64_t v[] = {0,    9,         10,        -1,           -9,
                         -10,  99,        100,       101,          -99,
                         -100, INT64_MAX, INT64_MIN, 1000000007LL, 1764633600000LL};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char got[24], want[32];
        size_t n = gw_resp_i64_text(v[i], got);
        snprintf(want, sizeof(want), "%lld", (long long)v[i]);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(got, want, n);
    }
    /* every length of digits, both signs: against printf */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t val = (int64_t)(x >> (x % 64));
        if (i % 2)
            val = -val;
        char got[24], want[32];
        size_t n = gw_resp_i64_text(val, got);
        snprintf(want, sizeof(want), "%lld", (long long)val);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(got, want, n);
    }
}

static void test_resp_end_without_begin_is_an_error(void **state)
{
    (void)state;
    gw_resp_t r = GW_RESP_INIT;
    assert_int_equal(gw_resp_end(&r), -1);
    gw_resp_free(&r);
}

/* What the strict parser accepts is exactly what gw_resp_i64_text writes. */
static void test_resp_parse_i64_accepts_canonical_integers(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want;
    } ok[] = {
        {"0", 0},
        {"7", 7},
        {"-42", -42},
        {"1764633600000", 1764633600000LL},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t got = 12345;
        if (!gw_resp_parse_i64(ok[i].text, strlen(ok[i].text), &got))
            fail_msg("expected \"%s\" to parse, it was refused", ok[i].text);
        if (got != ok[i].want)
            fail_msg("\"%s\": expected %lld, got %lld", ok[i].text, (long long)ok[i].want,
                     (long long)got);
        char text[24];
        size_t n = gw_resp_i64_text(got, text);
        assert_true(gw_resp_parse_i64(text, n, &got));
        assert_true(got == ok[i].want);
    }
    /* the length bounds the text: no NUL needed */
    int64_t got = 0;
    assert_true(gw_resp_parse_i64("123456", 3, &got));
    assert_true(got == 123);
}

static void test_resp_parse_i64_refuses_corrupt_text_and_overflow(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "-",
        "+1",
        " 1",
        "1 ",
        "1x",
        "x1",
        "01",
        "-0",
        "-01",
        "00",
        "1.5",
        "1e3",
        "0x10",
        "--1",
        "\t7",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t got = 777;
        if (gw_resp_parse_i64(bad[i], strlen(bad[i]), &got))
            fail_msg("expected \"%s\" to be refused, it parsed as %lld", bad[i], (long long)got);
        if (got != 777)
            fail_msg("\"%s\": refused but *out changed to %lld", bad[i], (long long)got);
    }
    int64_t got = 0;
    assert_false(gw_resp_parse_i64("12\0003", 4, &got)); /* an embedded NUL */
    assert_false(gw_resp_parse_i64(NULL, 0, &got));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resp_writes_what_hiredis_formats),
        cmocka_unit_test(test_resp_counts_arguments_past_one_digit_and_chains_commands),
        cmocka_unit_test(test_resp_integer_text_covers_the_int64_range),
        cmocka_unit_test(test_resp_end_without_begin_is_an_error),
        cmocka_unit_test(test_resp_parse_i64_accepts_canonical_integers),
        cmocka_unit_test(test_resp_parse_i64_refuses_corrupt_text_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
