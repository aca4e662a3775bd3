/*
 * gapwatch sim: a synthetic sales org (src/gw_sim.c) produced to Kafka as
 * gapwatch.v1.Event protobufs keyed by rep, or written as JSON lines, with a
 * ground-truth file of the diagnosis each rep should get.
 *
 * Event time is compressed by default: the simulated days end now and
 * everything is produced at once. --speed X paces production: the
 * simulation runs X times faster than the wall clock and its last event
 * happens "now" when the run ends (--speed 1 is real time).
 */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gapwatch/v1/event.pb-c.h"
#include "gw_calendar.h"
#include "gw_sim.h"
#include "gw_time.h"

#define DAY_MS 86400000LL

static volatile sig_atomic_t sim_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    sim_stop = 1;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" (UTC), not after now. */
static int parse_end(const char *s, int64_t *out)
{
    char date[11];
    int hh = 0, mm = 0;
    size_t n = strlen(s);
    if (n != 10 && !(n == 16 && s[10] == 'T' && sscanf(s + 11, "%2d:%2d", &hh, &mm) == 2))
        return -1;
    snprintf(date, sizeof(date), "%.10s", s);
    int64_t day;
    if (gw_date_parse(date, &day) != 0 || hh > 23 || mm > 59 || hh < 0 || mm < 0)
        return -1;
    *out = day * DAY_MS + (int64_t)hh * 3600000 + (int64_t)mm * 60000;
    return *out <= gw_now_ms() ? 0 : -1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: gapwatch sim [-b BROKERS | -F FILE | --json FILE] [options]\n"
                 "\n"
                 "  -b BROKERS         produce to Kafka at BROKERS\n"
                 "  -F FILE            read the bootstrap servers from FILE\n"
                 "      --json FILE    write JSON lines (gapwatch produce's format) instead; - for "
                 "stdout\n"
                 "  -t TOPIC           topic (default sales.events)\n"
                 "  -X name=value      librdkafka property (repeatable)\n"
                 "      --tenant T     tenant id (default acme)\n"
                 "      --teams N      teams (default 3)\n"
                 "      --reps N       reps per team (default 10: 7 planted archetypes + healthy)\n"
                 "      --days N       simulated days (default 30, at least 14)\n"
                 "      --seed N       random seed (default 1)\n"
                 "      --no-plant     every rep healthy\n"
                 "      --speed X      pace production X times faster than real time (default: all "
                 "at once)\n"
                 "      --truth FILE   write the ground truth (one JSON object per rep)\n"
                 "      --end WHEN     the simulated days end at WHEN (UTC, YYYY-MM-DD or "
                 "YYYY-MM-DDTHH:MM, not\n"
                 "                     after now; default: now): e.g. mid-month, to see pace\n"
                 "      --print-config print the gapwatchd config (windows, playbook) for the "
                 "simulation\n");
}

typedef struct {
    rd_kafka_t *rk;
    const char *topic;
    FILE *json;
    double speed;
    int64_t start_wall, start_sim;
    long sent;
    int failed;
} sim_ctx_t;

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    return ev ? ev->name : "?";
}

static void emit(void *opaque, const gw_sim_event_t *e)
{
    sim_ctx_t *c = opaque;
    if (sim_stop || c->failed)
        return;
    if (c->speed > 0) {
        int64_t due =
            c->start_wall + (int64_t)((double)(e->occurred_at_ms - c->start_sim) / c->speed);
        int64_t now = gw_now_ms();
        while (due > now && !sim_stop) {
            if (c->rk)
                rd_kafka_poll(c->rk, (int)(due - now < 100 ? due - now : 100));
            else
                gw_sleep_ms(due - now < 100 ? due - now : 100);
            now = gw_now_ms();
        }
    }
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "event_id", json_string(e->event_id));
        json_object_set_new(o, "tenant_id", json_string(e->tenant));
        json_object_set_new(o, "rep_id", json_string(e->rep));
        json_object_set_new(o, "team_id", json_string(e->team));
        json_object_set_new(o, "occurred_at_ms", json_integer(e->occurred_at_ms));
        json_object_set_new(o, "kind",
                            json_string(enum_name(&gapwatch__v1__kind__descriptor, e->kind)));
        if (e->channel)
            json_object_set_new(
                o, "channel",
                json_string(enum_name(&gapwatch__v1__channel__descriptor, e->channel)));
        if (e->ends_at_ms)
            json_object_set_new(o, "ends_at_ms", json_integer(e->ends_at_ms));
        if (e->goal)
            json_object_set_new(o, "goal", json_string("qualify the account"));
        if (e->next_step)
            json_object_set_new(o, "next_step", json_string("send the deck"));
        json_object_set_new(o, "source", json_string("gapwatch-sim"));
        char *s = json_dumps(o, JSON_COMPACT);
        fprintf(c->json, "%s\n", s);
        free(s);
        json_decref(o);
        c->sent++;
        return;
    }
    Gapwatch__V1__Event m = GAPWATCH__V1__EVENT__INIT;
    m.event_id = (char *)e->event_id;
    m.tenant_id = (char *)e->tenant;
    m.rep_id = (char *)e->rep;
    m.team_id = (char *)e->team;
    m.occurred_at_ms = e->occurred_at_ms;
    m.kind = (Gapwatch__V1__Kind)e->kind;
    m.ends_at_ms = e->ends_at_ms;
    m.channel = (Gapwatch__V1__Channel)e->channel;
    m.goal = e->goal ? "qualify the account" : "";
    m.next_step = e->next_step ? "send the deck" : "";
    m.source = "gapwatch-sim";
    uint8_t buf[512];
    size_t len = gapwatch__v1__event__pack(&m, buf);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            c->rk, RD_KAFKA_V_TOPIC(c->topic), RD_KAFKA_V_KEY(e->rep, strlen(e->rep)),
            RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(c->rk, 50);
            continue;
        }
        if (err) {
            fprintf(stderr, "gapwatch sim: produce: %s\n", rd_kafka_err2str(err));
            c->failed = 1;
        } else {
            c->sent++;
        }
        break;
    }
    rd_kafka_poll(c->rk, 0);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    sim_ctx_t *c = opaque;
    if (m->err) {
        if (!c->failed)
            fprintf(stderr, "gapwatch sim: delivery failed: %s\n", rd_kafka_err2str(m->err));
        c->failed = 1;
    }
}

int cmd_sim(int argc, char **argv)
{
    enum {
        O_JSON = 256,
        O_TENANT,
        O_TEAMS,
        O_REPS,
        O_DAYS,
        O_SEED,
        O_NOPLANT,
        O_SPEED,
        O_TRUTH,
        O_PRINT,
        O_END
    };
    static const struct option opts[] = {
        {"json", required_argument, NULL, O_JSON},
        {"tenant", required_argument, NULL, O_TENANT},
        {"teams", required_argument, NULL, O_TEAMS},
        {"reps", required_argument, NULL, O_REPS},
        {"days", required_argument, NULL, O_DAYS},
        {"seed", required_argument, NULL, O_SEED},
        {"no-plant", no_argument, NULL, O_NOPLANT},
        {"speed", required_argument, NULL, O_SPEED},
        {"truth", required_argument, NULL, O_TRUTH},
        {"print-config", no_argument, NULL, O_PRINT},
        {"end", required_argument, NULL, O_END},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t end_ms = -1;
    gw_sim_config_t sim = {
        .tenant = "acme", .teams = 3, .reps_per_team = 10, .days = 30, .seed = 1, .plant = true};
    const char *json_path = NULL, *truth_path = NULL;
    sim_ctx_t ctx = {.topic = "sales.events"};
    cli_kafka_opts_t ko = {.topic = "sales.events", .conf = rd_kafka_conf_new()};
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:F:t:X:h", opts, NULL)) != -1) {
        int kc = cli_kafka_option(&ko, c, optarg);
        if (kc < 0)
            goto done;
        if (kc > 0)
            continue;
        switch (c) {
        case O_JSON:
            json_path = optarg;
            break;
        case O_TENANT:
            sim.tenant = optarg;
            break;
        case O_TEAMS:
            sim.teams = atoi(optarg);
            break;
        case O_REPS:
            sim.reps_per_team = atoi(optarg);
            break;
        case O_DAYS:
            sim.days = atoi(optarg);
            break;
        case O_SEED:
            sim.seed = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case O_NOPLANT:
            sim.plant = false;
            break;
        case O_SPEED:
            ctx.speed = atof(optarg);
            break;
        case O_TRUTH:
            truth_path = optarg;
            break;
        case O_END:
            if (parse_end(optarg, &end_ms) != 0) {
                fprintf(stderr,
                        "gapwatch sim: --end %s: expected YYYY-MM-DD or "
                        "YYYY-MM-DDTHH:MM (UTC), not after now\n",
                        optarg);
                goto done;
            }
            break;
        case O_PRINT:
            fputs(GW_SIM_DEMO_CONFIG_YAML, stdout);
            rc = 0;
            goto done;
        case 'h':
            usage(stdout);
            rc = 0;
            goto done;
        default:
            usage(stderr);
            goto done;
        }
    }
    ctx.topic = ko.topic;
    if (sim.teams < 1 || sim.teams > 1000 || sim.reps_per_team < 1 || sim.reps_per_team > 10000 ||
        sim.days < 14 || sim.days > 365 || ctx.speed < 0) {
        fprintf(stderr, "gapwatch sim: --teams 1-1000, --reps 1-10000, --days 14-365, --speed "
                        ">= 0\n");
        goto done;
    }
    if (!json_path && !ko.bootstrap[0]) {
        fprintf(stderr, "gapwatch sim: give -b BROKERS, -F FILE or --json FILE\n");
        goto done;
    }
    char err[512];
    if (json_path) {
        ctx.json = strcmp(json_path, "-") ? fopen(json_path, "w") : stdout;
        if (!ctx.json) {
            fprintf(stderr, "gapwatch sim: cannot write %s\n", json_path);
            goto done;
        }
    } else {
        rd_kafka_conf_set(ko.conf, "bootstrap.servers", ko.bootstrap, NULL, 0);
        rd_kafka_conf_set(ko.conf, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(ko.conf, "linger.ms", "20", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(ko.conf, dr_cb);
        rd_kafka_conf_set_opaque(ko.conf, &ctx);
        ctx.rk = rd_kafka_new(RD_KAFKA_PRODUCER, ko.conf, err, sizeof(err));
        if (!ctx.rk) {
            fprintf(stderr, "gapwatch sim: %s\n", err);
            goto done;
        }
        ko.conf = NULL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int64_t now = gw_now_ms();
    int64_t span = (int64_t)sim.days * DAY_MS;
    sim.end_ms = end_ms >= 0     ? end_ms
                 : ctx.speed > 0 ? now + (int64_t)((double)span / ctx.speed)
                                 : now;
    ctx.start_wall = now;
    ctx.start_sim = sim.end_ms - span;
    int nreps = gw_sim_rep_count(&sim);
    gw_sim_rep_t *reps = calloc((size_t)nreps, sizeof(*reps));
    long n = reps ? gw_sim_run(&sim, reps, emit, &ctx) : -1;
    rc = 1;
    if (n < 0) {
        fprintf(stderr, "gapwatch sim: simulation failed\n");
    } else if (truth_path && gw_sim_write_truth(truth_path, reps, nreps) != 0) {
        fprintf(stderr, "gapwatch sim: cannot write %s\n", truth_path);
    } else {
        rc = 0;
    }
    if (ctx.rk) {
        while (rd_kafka_outq_len(ctx.rk) > 0 && rd_kafka_flush(ctx.rk, 1000) && !sim_stop)
            ;
        if (rd_kafka_outq_len(ctx.rk) > 0) {
            fprintf(stderr, "gapwatch sim: %d events not delivered\n", rd_kafka_outq_len(ctx.rk));
            rc = 1;
        }
        rd_kafka_destroy(ctx.rk);
    }
    if (ctx.json && ctx.json != stdout)
        fclose(ctx.json);
    if (ctx.failed || sim_stop)
        rc = 1;
    fprintf(stderr, "gapwatch sim: %ld events, %d reps in %d teams over %d days%s\n", ctx.sent,
            nreps, sim.teams, sim.days, sim_stop ? " (interrupted)" : "");
    free(reps);
done:
    if (ko.conf)
        rd_kafka_conf_destroy(ko.conf);
    return rc;
}
