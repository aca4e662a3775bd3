/* Kinds: the built-in table matches the proto; metric names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/event.pb-c.h"
#include "gw_kinds.h"

static void test_kinds_builtin_table_matches_proto_enum(void **state)
{
    (void)state;
    gw_kinds_t kinds = {.ncustom = 0};
    const ProtobufCEnumDescriptor *d = &gapwatch__v1__kind__descriptor;
    int checked = 0;
    for (unsigned i = 0; i < d->n_values; i++) {
        int v = d->values[i].value;
        if (v >= 1 && v <= GW_KIND_BUILTIN_LAST) {
            assert_string_equal(gw_kind_name(&kinds, v), d->values[i].name);
            assert_int_equal(gw_kind_parse(&kinds, d->values[i].name), v);
            checked++;
        }
    }
    assert_int_equal(checked, GW_KIND_BUILTIN_LAST);
    assert_int_equal(GW_KIND_PROTO_CUSTOM, GAPWATCH__V1__KIND__CUSTOM);
    assert_int_equal(gw_kind_parse(&kinds, "CUSTOM"), -1);
}

static void test_kinds_classes_follow_the_sales_model(void **state)
{
    (void)state;
    gw_kinds_t kinds = {.ncustom = 0};
    assert_int_equal(gw_kind_class(&kinds, gw_kind_parse(&kinds, "DIAL")), GW_CLASS_ACTIVITY);
    assert_int_equal(gw_kind_class(&kinds, gw_kind_parse(&kinds, "PROPOSAL_SENT")),
                     GW_CLASS_ACTIVITY);
    assert_int_equal(gw_kind_class(&kinds, gw_kind_parse(&kinds, "EMAIL_REPLY")), GW_CLASS_OUTPUT);
    assert_int_equal(gw_kind_class(&kinds, gw_kind_parse(&kinds, "DEAL_WON")), GW_CLASS_OUTCOME);
}

static void test_kinds_metric_names_are_the_redis_fields(void **state)
{
    (void)state;
    gw_kinds_t kinds = {.ncustom = 1};
    strcpy(kinds.custom[0].name, "linkedin_inmail");
    kinds.custom[0].cls = GW_CLASS_ACTIVITY;
    char buf[GW_METRIC_NAME_MAX];
    gw_metric_name(&kinds, GW_METRIC_EVENTS, buf, sizeof(buf));
    assert_string_equal(buf, "events");
    gw_metric_name(&kinds, gw_metric_count(1), buf, sizeof(buf));
    assert_string_equal(buf, "DIAL");
    gw_metric_name(&kinds, gw_metric_amount(11), buf, sizeof(buf));
    assert_string_equal(buf, "amount:DEAL_WON");
    gw_metric_name(&kinds, gw_metric_count(GW_KIND_CUSTOM_BASE), buf, sizeof(buf));
    assert_string_equal(buf, "linkedin_inmail");
    assert_int_equal(
        gw_metric_name(&kinds, gw_metric_count(GW_KIND_CUSTOM_BASE + 1), buf, sizeof(buf)), -1);
}

static void test_kinds_custom_names_cannot_shadow_fields(void **state)
{
    (void)state;
    assert_true(gw_kind_name_allowed("linkedin_inmail"));
    assert_false(gw_kind_name_allowed("DIAL"));
    assert_false(gw_kind_name_allowed("events"));
    assert_false(gw_kind_name_allowed("wm"));
    assert_false(gw_kind_name_allowed("amount:x"));
    assert_false(gw_kind_name_allowed("has space"));
    assert_false(gw_kind_name_allowed(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_builtin_table_matches_proto_enum),
        cmocka_unit_test(test_kinds_classes_follow_the_sales_model),
        cmocka_unit_test(test_kinds_metric_names_are_the_redis_fields),
        cmocka_unit_test(test_kinds_custom_names_cannot_shadow_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
