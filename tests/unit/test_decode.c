/* Validation: every rule of the wire table, and the corrupt fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapwatch/v1/event.pb-c.h"
#include "gw_decode.h"

#define NOW 1767225600000LL /* 2026-01-01T00:00:00Z, the fixtures' time */

typedef struct {
    gw_config_t *cfg;
    gw_decoder_t *dec;
} ctx_t;

static int setup(void **state)
{
    static ctx_t ctx;
    char err[1024];
    int rc = gw_config_load_string("custom_kinds:\n  - {name: linkedin_inmail, class: activity}\n",
                                   "test.yaml", &ctx.cfg, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    ctx.dec = gw_decoder_new(ctx.cfg);
    *state = &ctx;
    return ctx.dec ? 0 : -1;
}

static int teardown(void **state)
{
    ctx_t *ctx = *state;
    gw_decoder_free(ctx->dec);
    gw_config_free(ctx->cfg);
    return 0;
}

static gw_reason_t decode_msg(ctx_t *ctx, const Gapwatch__V1__Event *m, gw_event_t *ev,
                              char *detail, size_t dsize)
{
    uint8_t buf[4096];
    size_t len = gapwatch__v1__event__pack(m, buf);
    return gw_decoder_decode(ctx->dec, buf, len, NOW, ev, detail, dsize);
}

static Gapwatch__V1__Event base_event(void)
{
    Gapwatch__V1__Event m = GAPWATCH__V1__EVENT__INIT;
    m.event_id = "e-1";
    m.tenant_id = "acme";
    m.rep_id = "r17";
    m.team_id = "east";
    m.occurred_at_ms = NOW - 1000;
    m.kind = GAPWATCH__V1__KIND__DIAL;
    return m;
}

static void test_decode_accepts_a_valid_event_and_copies_it(void **state)
{
    ctx_t *ctx = *state;
    Gapwatch__V1__Event m = base_event();
    m.amount_minor = 125000;
    m.currency = "EUR";
    m.goal = "qualify";
    m.channel = GAPWATCH__V1__CHANNEL__PHONE;
    gw_event_t ev;
    char detail[256];
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_OK);
    assert_string_equal(ev.tenant, "acme");
    assert_string_equal(ev.rep, "r17");
    assert_string_equal(ev.team, "east");
    assert_int_equal(ev.occurred_at_ms, NOW - 1000);
    assert_int_equal(ev.kind, 1);
    assert_int_equal(ev.amount_minor, 125000);
    assert_string_equal(ev.currency, "EUR");
    assert_true(ev.has_goal);
    assert_false(ev.has_next_step);
}

static void test_decode_defaults_tenant(void **state)
{
    ctx_t *ctx = *state;
    Gapwatch__V1__Event m = base_event();
    m.tenant_id = "";
    gw_event_t ev;
    char detail[256];
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_OK);
    assert_string_equal(ev.tenant, "default");
}

typedef struct {
    const char *what;
    void (*mutate)(Gapwatch__V1__Event *m);
    gw_reason_t reason;
    const char *detail_has;
} rule_case_t;

static char long_text[700];

static void m_no_event_id(Gapwatch__V1__Event *m)
{
    m->event_id = "";
}
static void m_long_event_id(Gapwatch__V1__Event *m)
{
    long_text[65] = 0;
    m->event_id = long_text;
}
static void m_bad_tenant(Gapwatch__V1__Event *m)
{
    m->tenant_id = "ac me";
}
static void m_no_rep(Gapwatch__V1__Event *m)
{
    m->rep_id = "";
}
static void m_rep_colon(Gapwatch__V1__Event *m)
{
    m->rep_id = "r:17";
}
static void m_rep_brace(Gapwatch__V1__Event *m)
{
    m->rep_id = "r}";
}
static void m_no_team(Gapwatch__V1__Event *m)
{
    m->team_id = "";
}
static void m_team_space(Gapwatch__V1__Event *m)
{
    m->team_id = "east coast";
}
static void m_no_time(Gapwatch__V1__Event *m)
{
    m->occurred_at_ms = 0;
}
static void m_neg_time(Gapwatch__V1__Event *m)
{
    m->occurred_at_ms = -1;
}
static void m_future(Gapwatch__V1__Event *m)
{
    m->occurred_at_ms = NOW + 2 * 3600000LL;
}
static void m_no_kind(Gapwatch__V1__Event *m)
{
    m->kind = 0;
}
static void m_unknown_kind(Gapwatch__V1__Event *m)
{
    m->kind = (Gapwatch__V1__Kind)77;
}
static void m_custom_undeclared(Gapwatch__V1__Event *m)
{
    m->kind = 13;
    m->custom_kind = "fax";
}
static void m_custom_missing(Gapwatch__V1__Event *m)
{
    m->kind = 13;
}
static void m_custom_on_dial(Gapwatch__V1__Event *m)
{
    m->custom_kind = "linkedin_inmail";
}
static void m_neg_amount(Gapwatch__V1__Event *m)
{
    m->amount_minor = -1;
}
static void m_bad_currency(Gapwatch__V1__Event *m)
{
    m->currency = "eur";
}
static void m_bad_channel(Gapwatch__V1__Event *m)
{
    m->channel = (Gapwatch__V1__Channel)9;
}
static void m_long_goal(Gapwatch__V1__Event *m)
{
    long_text[513] = 0;
    m->goal = long_text;
}
static void m_bad_utf8(Gapwatch__V1__Event *m)
{
    m->next_step = "caf\xc3";
}

static void test_decode_rejects_each_rule_with_reason_and_field(void **state)
{
    ctx_t *ctx = *state;
    const rule_case_t cases[] = {
        {"missing event_id", m_no_event_id, GW_REASON_EVENT_ID, "event_id is missing"},
        {"65-byte event_id", m_long_event_id, GW_REASON_EVENT_ID, "65 bytes"},
        {"tenant with space", m_bad_tenant, GW_REASON_TENANT_ID, "tenant_id"},
        {"missing rep", m_no_rep, GW_REASON_REP_ID, "rep_id is missing"},
        {"rep with colon", m_rep_colon, GW_REASON_REP_ID, "offset 1"},
        {"rep with brace", m_rep_brace, GW_REASON_REP_ID, "0x7d"},
        {"missing team", m_no_team, GW_REASON_TEAM_ID, "team_id is missing"},
        {"team with space", m_team_space, GW_REASON_TEAM_ID, "team_id"},
        {"missing time", m_no_time, GW_REASON_OCCURRED_AT, "missing"},
        {"negative time", m_neg_time, GW_REASON_OCCURRED_AT, "negative"},
        {"future time", m_future, GW_REASON_FUTURE, "ahead of the clock"},
        {"no kind", m_no_kind, GW_REASON_KIND, "KIND_UNSPECIFIED"},
        {"unknown kind", m_unknown_kind, GW_REASON_KIND, "77"},
        {"undeclared custom", m_custom_undeclared, GW_REASON_CUSTOM_KIND, "\"fax\""},
        {"custom without name", m_custom_missing, GW_REASON_CUSTOM_KIND, "missing"},
        {"custom name on DIAL", m_custom_on_dial, GW_REASON_CUSTOM_KIND, "DIAL"},
        {"negative amount", m_neg_amount, GW_REASON_AMOUNT, "negative"},
        {"lower-case currency", m_bad_currency, GW_REASON_CURRENCY, "\"eur\""},
        {"unknown channel", m_bad_channel, GW_REASON_CHANNEL, "9"},
        {"goal too long", m_long_goal, GW_REASON_TEXT, "goal is 513 bytes"},
        {"next_step not utf-8", m_bad_utf8, GW_REASON_TEXT, "UTF-8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(long_text, 'x', sizeof(long_text) - 1);
        long_text[sizeof(long_text) - 1] = 0;
        Gapwatch__V1__Event m = base_event();
        cases[i].mutate(&m);
        gw_event_t ev;
        char detail[256];
        gw_reason_t r = decode_msg(ctx, &m, &ev, detail, sizeof(detail));
        if (r != cases[i].reason || !strstr(detail, cases[i].detail_has))
            fail_msg("%s: expected %s with \"%s\", got %s: %s", cases[i].what,
                     gw_reason_str(cases[i].reason), cases[i].detail_has, gw_reason_str(r), detail);
    }
}

static size_t read_fixture(const char *name, uint8_t *buf, size_t size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", GW_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    size_t n = fread(buf, 1, size, f);
    fclose(f);
    return n;
}

static void test_decode_fixtures_give_their_documented_reason(void **state)
{
    ctx_t *ctx = *state;
    const struct {
        const char *file;
        gw_reason_t reason;
    } cases[] = {
        {"event_valid.bin", GW_REASON_OK},
        {"event_truncated.bin", GW_REASON_DECODE},
        {"garbage.bin", GW_REASON_DECODE},
        {"empty.bin", GW_REASON_EVENT_ID},
        {"event_rep_with_colon.bin", GW_REASON_REP_ID},
        {"event_rep_with_brace.bin", GW_REASON_REP_ID},
        {"event_rep_oversized.bin", GW_REASON_REP_ID},
        {"event_unknown_kind.bin", GW_REASON_KIND},
        {"event_negative_time.bin", GW_REASON_OCCURRED_AT},
        {"event_custom_kind.bin", GW_REASON_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[1024];
        size_t n = read_fixture(cases[i].file, buf, sizeof(buf));
        gw_event_t ev;
        char detail[256];
        gw_reason_t r = gw_decoder_decode(ctx->dec, buf, n, NOW, &ev, detail, sizeof(detail));
        if (r != cases[i].reason)
            fail_msg("%s: expected %s, got %s (%s)", cases[i].file, gw_reason_str(cases[i].reason),
                     gw_reason_str(r), detail);
    }
    /* The valid fixture decodes to what its README says. */
    uint8_t buf[1024];
    size_t n = read_fixture("event_valid.bin", buf, sizeof(buf));
    gw_event_t ev;
    char detail[256];
    assert_int_equal(gw_decoder_decode(ctx->dec, buf, n, NOW, &ev, detail, sizeof(detail)), 0);
    assert_string_equal(ev.rep, "r17");
    assert_int_equal(ev.kind, 9);
    assert_true(ev.has_goal && ev.has_next_step);
    /* The custom kind maps to the config's kind number. */
    n = read_fixture("event_custom_kind.bin", buf, sizeof(buf));
    assert_int_equal(gw_decoder_decode(ctx->dec, buf, n, NOW, &ev, detail, sizeof(detail)), 0);
    assert_int_equal(ev.kind, GW_KIND_CUSTOM_BASE);
}

/* Availability records: never counted, may lie ahead (planned time off),
 * and their own rules give invalid_availability naming the field. */
static void test_decode_availability_records(void **state)
{
    ctx_t *ctx = *state;
    gw_event_t ev;
    char detail[256];
    Gapwatch__V1__Event m = base_event();
    m.kind = GAPWATCH__V1__KIND__TIME_OFF;
    m.occurred_at_ms = NOW + 30LL * 86400000; /* a vacation next month */
    m.ends_at_ms = m.occurred_at_ms + 5LL * 86400000;
    m.record_id = "hr-4411";
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_OK);
    assert_int_equal(ev.avail, GW_AVAIL_TIME_OFF);
    assert_int_equal(ev.kind, 0);
    assert_int_equal(ev.ends_at_ms, m.ends_at_ms);
    assert_string_equal(ev.record_id, "hr-4411");
    m.record_id = "";
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_OK);
    assert_string_equal(ev.record_id, "e-1"); /* named by its event_id */

    m.ends_at_ms = m.occurred_at_ms;
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_AVAILABILITY);
    assert_non_null(strstr(detail, "TIME_OFF ends_at_ms"));
    m.ends_at_ms = m.occurred_at_ms + 400LL * 86400000;
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_AVAILABILITY);
    assert_non_null(strstr(detail, "at most 366"));
    m.occurred_at_ms = NOW + 400LL * 86400000;
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_FUTURE);

    m = base_event();
    m.kind = GAPWATCH__V1__KIND__REP_LEFT;
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_OK);
    assert_int_equal(ev.avail, GW_AVAIL_LEFT);
    m.ends_at_ms = NOW;
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_AVAILABILITY);
    assert_non_null(strstr(detail, "ends_at_ms is set but the record is not a TIME_OFF"));
    m = base_event(); /* a DIAL */
    m.ends_at_ms = NOW;
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_AVAILABILITY);
    assert_non_null(strstr(detail, "not an availability record"));
    m = base_event();
    m.kind = GAPWATCH__V1__KIND__TIME_OFF_CANCELLED;
    m.record_id = "bad id";
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_AVAILABILITY);
    assert_non_null(strstr(detail, "record_id"));
    m.record_id = "hr-4411";
    assert_int_equal(decode_msg(ctx, &m, &ev, detail, sizeof(detail)), GW_REASON_OK);
    assert_int_equal(ev.avail, GW_AVAIL_CANCELLED);
    assert_int_equal(gw_reason_str(GW_REASON_AVAILABILITY)[0], 'i');
}

static void test_reason_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(gw_reason_str(GW_REASON_DECODE), "decode_error");
    assert_string_equal(gw_reason_str(GW_REASON_REP_ID), "invalid_rep_id");
    assert_string_equal(gw_reason_str(GW_REASON_FUTURE), "occurred_at_in_future");
    for (int r = 0; r < GW_REASON_COUNT; r++)
        assert_non_null(gw_reason_str((gw_reason_t)r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_accepts_a_valid_event_and_copies_it),
        cmocka_unit_test(test_decode_defaults_tenant),
        cmocka_unit_test(test_decode_rejects_each_rule_with_reason_and_field),
        cmocka_unit_test(test_decode_fixtures_give_their_documented_reason),
        cmocka_unit_test(test_reason_names_are_stable),
        cmocka_unit_test(test_decode_availability_records),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
