/*
 * `gapwatch produce`'s JSON-line conversion (tools/jsonline.c): protobuf's
 * canonical JSON mapping in, a packed gapwatch.v1.Event out, errors naming
 * the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/event.pb-c.h"
#include "jsonline.h"

static char err[512];

/* Converts `line`, failing the test on an error; caller frees. */
static Gapwatch__V1__Event *convert(const char *line)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char key[128];
    if (gw_jsonline_to_event(line, strlen(line), &buf, &len, key, sizeof(key), err, sizeof(err)) !=
        0)
        fail_msg("expected %s to convert, got: %s", line, err);
    Gapwatch__V1__Event *ev = gapwatch__v1__event__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(ev);
    return ev;
}

static void expect_error(const char *line, const char *needle)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char key[128];
    assert_int_equal(
        gw_jsonline_to_event(line, strlen(line), &buf, &len, key, sizeof(key), err, sizeof(err)),
        -1);
    if (!strstr(err, needle))
        fail_msg("expected an error with \"%s\", got: %s", needle, err);
}

static void test_jsonline_takes_both_field_name_forms(void **state)
{
    (void)state;
    Gapwatch__V1__Event *a = convert("{\"eventId\":\"e1\",\"repId\":\"r1\",\"teamId\":\"t1\","
                                     "\"occurredAtMs\":1767225600000,\"kind\":\"DIAL\"}");
    Gapwatch__V1__Event *b = convert("{\"event_id\":\"e1\",\"rep_id\":\"r1\",\"team_id\":\"t1\","
                                     "\"occurred_at_ms\":1767225600000,\"kind\":\"DIAL\"}");
    assert_string_equal(a->rep_id, "r1");
    assert_string_equal(b->rep_id, "r1");
    assert_int_equal(a->occurred_at_ms, 1767225600000LL);
    assert_int_equal(b->occurred_at_ms, 1767225600000LL);
    gapwatch__v1__event__free_unpacked(a, NULL);
    gapwatch__v1__event__free_unpacked(b, NULL);
}

static void test_jsonline_takes_int64_as_string_and_enums_by_number(void **state)
{
    (void)state;
    Gapwatch__V1__Event *e =
        convert("{\"eventId\":\"e1\",\"occurredAtMs\":\"1767225600000\",\"kind\":11,"
                "\"amountMinor\":\"-5\",\"durationS\":\"30\",\"channel\":1,\"goal\":null}");
    assert_int_equal(e->occurred_at_ms, 1767225600000LL);
    assert_int_equal(e->kind, GAPWATCH__V1__KIND__DEAL_WON);
    assert_int_equal(e->amount_minor, -5); /* the daemon's rule, not the converter's */
    assert_int_equal(e->duration_s, 30);
    assert_int_equal(e->channel, GAPWATCH__V1__CHANNEL__PHONE);
    gapwatch__v1__event__free_unpacked(e, NULL);
    /* an open enum: an unknown number passes, gw_decode judges it */
    e = convert("{\"kind\":99}");
    assert_int_equal((int)e->kind, 99);
    gapwatch__v1__event__free_unpacked(e, NULL);
}

static void test_jsonline_errors_name_the_field(void **state)
{
    (void)state;
    expect_error("{\"occurredAtMs\":\"soon\"}", "field \"occurred_at_ms\": \"soon\" is not an");
    expect_error("{\"kind\":\"DAIL\"}", "field \"kind\": \"DAIL\" is not a gapwatch.v1.Kind");
    expect_error("{\"repid\":\"r1\"}", "field \"repid\": not a field of gapwatch.v1.Event");
    expect_error("{\"rep_id\":\"r1\",\"repId\":\"r2\"}", "field \"rep_id\": given twice");
    expect_error("{\"durationS\":-1}", "field \"duration_s\": -1 is out of range");
    expect_error("{\"rep_id\":7}", "field \"rep_id\": expected a string");
    expect_error("[1]", "expected a JSON object");
    /* found by fuzz_jsonline: a real far out of range must not be cast */
    expect_error("{\"occurred_at_ms\":34.7e72}",
                 "field \"occurred_at_ms\": 3.47e+73 is not a 64-bit integer");
    expect_error("{\"occurred_at_ms\":1.5}", "is not a 64-bit integer");
    expect_error("{\"rep_id\":", "not JSON");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonline_takes_both_field_name_forms),
        cmocka_unit_test(test_jsonline_takes_int64_as_string_and_enums_by_number),
        cmocka_unit_test(test_jsonline_errors_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
