/*
 * gw_alerter: observations of one evaluator chunk are buffered; the flush
 * does three pipelined round trips (read states, compare-and-set, then
 * publish), and gw_alerter_poll() turns delivery reports into "delivered"
 * marks and stream entries.
 *
 * Alert state hash fields are listed in src/lua/alerts.lua.
 */
#include "gw_alerter.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_alertmanager.h"
#include "gw_alert_store.h"
#include "gw_alerts.h"
#include "gw_keys.h"
#include "gw_log.h"
#include "gw_map.h"
#include "gw_time.h"

typedef struct {
    char tenant[GW_ID_MAX + 1];
    char rep[GW_ID_MAX + 1];
    char team[GW_ID_MAX + 1];
    const gw_playbook_t *pb;
    char wname[GW_WINDOW_NAME_MAX + 1]; /* the window's, or the period kind's */
    bool is_pace;                       /* a period's pace (BEHIND_PACE only) */
    gw_pace_t pace;
    char period[GW_CAL_PERIOD_ID_MAX];
    int64_t wm;
    gw_diagnosis_t diag;
    gw_alert_record_t rec; /* the state as read (payloads: for re-sends) */
    gw_alert_send_t send[GW_ALERT_KINDS];
    uint8_t *fresh[GW_ALERT_KINDS]; /* newly decided message (malloc'ed) */
    size_t fresh_len[GW_ALERT_KINDS];
    char *fresh_json[GW_ALERT_KINDS];
    bool sender_gone[GW_ALERT_KINDS];
    bool changed;
    bool written; /* the compare-and-set won */
} obs_t;

/* One message in flight, handed to librdkafka as msg_opaque. */
typedef struct ack_s {
    struct ack_s *next;
    char tenant[GW_ID_MAX + 1];
    char rep[GW_ID_MAX + 1];
    char window[GW_WINDOW_NAME_MAX + 1];
    char inflight[48];
    int kind;
    uint64_t msgno;
    char *json; /* for the stream */
    rd_kafka_resp_err_t err;
} ack_t;

struct gw_alerter_s {
    const gw_config_t *cfg;
    gw_alert_store_t *states; /* alert states, stream, alive keys */
    gw_producer_t *producer;
    gw_metrics_t *m;
    gw_alert_policy_t policy;
    obs_t *obs;
    size_t nobs, capobs;
    gw_map_t *inflight;    /* "<alert_id>:<msgno>" -> ack_t */
    ack_t *done;           /* delivery reports not yet recorded */
    gw_alertmanager_t *am; /* NULL without alerting.alertmanager.url */
    char id[24];           /* this instance's alerter, for "<prefix>:alerter:<id>" */
    int64_t alive_refreshed_ms;
    int64_t last_failure_ms; /* a delivery of ours failed (mono ms) */
};

/*
 * Who re-sends an unconfirmed message. Each instance's alerter has a random
 * id and keeps "<prefix>:alerter:<id>" alive in Redis (SET PX, refreshed
 * every ALIVE_REFRESH_MS). A decided message is stored with its sender's
 * id. A message not yet confirmed is re-sent by its sender (after a failed
 * delivery) or, by any instance, once its sender's key expired (the sender
 * died, or restarted under a new id) — never while the sender lives: its
 * producer retries without end, and a second copy from another instance
 * while the first is in flight was a duplicate (seen with three instances
 * sweeping the same reps, and while a broker of three was down).
 */
#define ALIVE_TTL_MS     10000
#define ALIVE_REFRESH_MS 1000

static void delivered(void *ctx, void *opaque, rd_kafka_resp_err_t err)
{
    gw_alerter_t *al = ctx;
    ack_t *a = opaque;
    a->err = err;
    a->next = al->done;
    al->done = a;
}

gw_alerter_t *gw_alerter_new(const gw_config_t *cfg, gw_store_t *store, gw_producer_t *producer,
                             gw_metrics_t *metrics, char *errstr, size_t errstr_size)
{
    gw_alerter_t *al = calloc(1, sizeof(*al));
    if (!al) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    al->cfg = cfg;
    al->states = gw_alert_store_new(cfg, store);
    if (!al->states) {
        snprintf(errstr, errstr_size, "out of memory");
        free(al);
        return NULL;
    }
    al->producer = producer;
    al->m = metrics;
    al->policy = (gw_alert_policy_t){cfg->alerting.fire_after_ms, cfg->alerting.resolve_after_ms,
                                     cfg->alerting.repeat_interval_ms};
    FILE *rnd = fopen("/dev/urandom", "rb");
    uint64_t bits = (uint64_t)gw_now_ms() ^ ((uint64_t)getpid() << 32);
    if (rnd) {
        if (fread(&bits, sizeof(bits), 1, rnd) != 1)
            bits ^= (uint64_t)gw_mono_ms();
        fclose(rnd);
    }
    snprintf(al->id, sizeof(al->id), "%016" PRIx64, bits);
    char alive_key[GW_KEY_MAX];
    if (gw_keys_alerter_alive(alive_key, sizeof(alive_key), cfg->key_prefix, al->id) < 0) {
        snprintf(errstr, errstr_size, "key prefix too long for the alerter's key");
        gw_alert_store_free(al->states);
        free(al);
        return NULL;
    }
    al->inflight = gw_map_new();
    if (!al->inflight) {
        gw_alert_store_free(al->states);
        free(al);
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (cfg->alerting.alertmanager_url && *cfg->alerting.alertmanager_url) {
        gw_alertmanager_opts_t o = {
            .url = cfg->alerting.alertmanager_url,
            .timeout_ms = cfg->alerting.alertmanager_timeout_ms,
            .username = cfg->alerting.am_auth.username,
            .password = cfg->alerting.am_auth.password,
            .bearer_token = cfg->alerting.am_auth.bearer_token,
            .tls_ca = cfg->alerting.am_auth.tls_ca,
            .tls_cert = cfg->alerting.am_auth.tls_cert,
            .tls_key = cfg->alerting.am_auth.tls_key,
            .tls_verify = cfg->alerting.am_auth.tls_verify,
        };
        al->am = gw_alertmanager_new(&o, &metrics->alertmanager_posts,
                                     &metrics->alertmanager_failures, errstr, errstr_size);
        if (!al->am) {
            gw_map_free(al->inflight, NULL);
            gw_alert_store_free(al->states);
            free(al);
            return NULL;
        }
    }
    gw_producer_set_listener(producer, delivered, al);
    return al;
}

static void free_obs_buffers(obs_t *o)
{
    for (int k = 0; k < GW_ALERT_KINDS; k++) {
        free(o->fresh[k]);
        free(o->fresh_json[k]);
        o->fresh[k] = NULL;
        o->fresh_json[k] = NULL;
    }
    gw_alert_record_clear(&o->rec);
}

static void free_ack(void *p)
{
    ack_t *a = p;
    if (a) {
        free(a->json);
        free(a);
    }
}

void gw_alerter_free(gw_alerter_t *al)
{
    if (!al)
        return;
    for (size_t i = 0; i < al->nobs; i++)
        free_obs_buffers(&al->obs[i]);
    free(al->obs);
    /* Reports not recorded: their messages are re-sent at the next start. */
    while (al->done) {
        ack_t *a = al->done;
        al->done = a->next;
        gw_map_remove(al->inflight, a->inflight);
        free_ack(a);
    }
    gw_map_free(al->inflight, free_ack);
    if (al->am) {
        /* the last RESOLVEDs decided before shutdown still go out */
        gw_alertmanager_drain(al->am, al->cfg->alerting.alertmanager_timeout_ms);
        gw_alertmanager_free(al->am);
    }
    gw_producer_set_listener(al->producer, NULL, NULL);
    gw_alert_store_free(al->states);
    free(al);
}

void gw_alerter_reconfigure(gw_alerter_t *al)
{
    const gw_config_t *cfg = al->cfg;
    al->policy = (gw_alert_policy_t){cfg->alerting.fire_after_ms, cfg->alerting.resolve_after_ms,
                                     cfg->alerting.repeat_interval_ms};
}

size_t gw_alerter_in_flight(const gw_alerter_t *al)
{
    return gw_map_count(al->inflight);
}

/* ---- observe ------------------------------------------------------------- */

void gw_alerter_observe(gw_alerter_t *al, const gw_evaluation_t *e)
{
    const gw_config_t *cfg = al->cfg;
    if (e->pace
            ? !(cfg->alerting.kinds & (1u << GW_ALERT_BEHIND_PACE))
            : !(cfg->alerting.windows & (1u << e->window)) || e->diag->kind == GW_DIAG_NO_OBJECTIVE)
        return;
    if (al->nobs == al->capobs) {
        size_t ncap = al->capobs ? al->capobs * 2 : 64;
        obs_t *n = realloc(al->obs, ncap * sizeof(*n));
        if (!n)
            return; /* evaluated again at the next sweep */
        al->obs = n;
        al->capobs = ncap;
    }
    obs_t *o = &al->obs[al->nobs++];
    memset(o, 0, sizeof(*o));
    snprintf(o->tenant, sizeof(o->tenant), "%s", e->tenant);
    snprintf(o->rep, sizeof(o->rep), "%s", e->rep);
    snprintf(o->team, sizeof(o->team), "%s", e->team);
    snprintf(o->wname, sizeof(o->wname), "%s",
             e->pace ? gw_period_str((gw_period_kind_t)e->period) : cfg->windows[e->window].name);
    o->is_pace = e->pace != NULL;
    if (e->pace) {
        o->pace = *e->pace;
        snprintf(o->period, sizeof(o->period), "%s", e->period_id ? e->period_id : "");
    }
    o->pb = e->playbook;
    o->wm = e->watermark_ms;
    o->diag = *e->diag;
}

/* ---- flush: read, step, compare-and-set, publish --------------------------- */

/* The message of kind `k` of `o` as decided now. */
static gw_alert_t alert_of(const gw_alerter_t *al, const obs_t *o, int k, gw_alert_send_t state,
                           int64_t now)
{
    return (gw_alert_t){
        .tenant = o->tenant,
        .rep = o->rep,
        .team = o->team,
        .window = o->wname,
        .playbook = o->pb,
        .kinds = &al->cfg->kinds,
        .kind = (gw_alert_kind_t)k,
        .state = state,
        .diag = &o->diag,
        .watermark_ms = o->wm,
        .evaluated_at_ms = now,
        .starts_at_ms = o->rec.st[k].starts_at_ms,
        .ends_at_ms = state == GW_SEND_RESOLVED ? now : 0,
        .sequence = o->rec.st[k].seq,
        .pace = o->is_pace ? &o->pace : NULL,
        .period = o->is_pace ? o->period : NULL,
    };
}

/* Steps every enabled kind of `o`; builds the messages to send. */
static void step(gw_alerter_t *al, obs_t *o, int64_t now)
{
    const gw_config_t *cfg = al->cfg;
    for (int k = 0; k < GW_ALERT_KINDS; k++) {
        if (!(cfg->alerting.kinds & (1u << k)) || o->is_pace != (k == GW_ALERT_BEHIND_PACE))
            continue;
        gw_alert_state_t before = o->rec.st[k];
        bool cond = o->is_pace ? o->pace.behind : gw_alert_condition((gw_alert_kind_t)k, &o->diag);
        bool cleared =
            o->is_pace ? o->pace.cleared : gw_alert_cleared(o->pb, (gw_alert_kind_t)k, &o->diag);
        o->send[k] = gw_alert_step(&al->policy, &o->rec.st[k], cond, cleared, o->wm, now);
        if (memcmp(&before, &o->rec.st[k], sizeof(before)) != 0)
            o->changed = true;

        if (o->send[k] == GW_SEND_NONE)
            continue;
        gw_alert_t a = alert_of(al, o, k, o->send[k], now);
        if (gw_alert_pack(&a, &o->fresh[k], &o->fresh_len[k]) != 0) {
            o->send[k] = GW_SEND_NONE;
            continue;
        }
        o->fresh_json[k] = gw_alert_json(&a);
    }
}

/* The reference of the alert state of `o`. */
static gw_alert_ref_t ref_of(const obs_t *o)
{
    return (gw_alert_ref_t){o->tenant, o->rep, o->wname};
}

/* Produces one message (fresh or a re-send of an unconfirmed one). */
static void publish(gw_alerter_t *al, const obs_t *o, int k, const uint8_t *payload, size_t len,
                    const char *json, uint64_t msgno)
{
    char alert_id[17];
    gw_alert_id(alert_id, o->tenant, o->rep, (gw_alert_kind_t)k, o->wname);
    char inflight[48];
    snprintf(inflight, sizeof(inflight), "%s:%" PRIu64, alert_id, msgno);
    if (gw_map_get(al->inflight, inflight))
        return; /* already on its way */
    ack_t *a = calloc(1, sizeof(*a));
    if (!a)
        return;
    snprintf(a->tenant, sizeof(a->tenant), "%s", o->tenant);
    snprintf(a->rep, sizeof(a->rep), "%s", o->rep);
    snprintf(a->window, sizeof(a->window), "%s", o->wname);
    snprintf(a->inflight, sizeof(a->inflight), "%s", inflight);
    a->kind = k;
    a->msgno = msgno;
    a->json = json ? strdup(json) : NULL;
    char err[512];
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "gw.alert_id", -1, alert_id, -1);
    rd_kafka_header_add(h, "gw.alert_kind", -1, gw_alert_kind_str((gw_alert_kind_t)k), -1);
    gw_log_debug("alert published", "rep=%s kind=%s msgno=%" PRIu64 " resend=%d", o->rep,
                 gw_alert_kind_str((gw_alert_kind_t)k), msgno, json == NULL);
    if (gw_map_put(al->inflight, inflight, a) != 0 ||
        gw_producer_send(al->producer, al->cfg->kafka.topic_alerts, o->rep, strlen(o->rep), payload,
                         len, h, 0, a, err, sizeof(err)) != 0) {
        gw_log_error("cannot produce an alert; it is sent again at the next evaluation",
                     "rep=%s kind=%s err=\"%s\"", o->rep, gw_alert_kind_str((gw_alert_kind_t)k),
                     err);
        gw_map_remove(al->inflight, inflight);
        free_ack(a);
    }
}

static void rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

/* Expands the generatorURL template of the config for one alert. IDs are
 * [A-Za-z0-9._@-] (gw_keys), so they go into a URL as they are. */
static void generator_url(const gw_config_t *cfg, const obs_t *o, gw_alert_kind_t k, char *out,
                          size_t size)
{
    const char *names[] = {"{tenant}", "{team}", "{rep}", "{window}", "{kind}", "{playbook}"};
    const char *values[] = {o->tenant,  o->team, o->rep, o->wname, gw_alert_kind_str(k),
                            o->pb->name};
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = cfg->alerting.generator_url; *p && n + 1 < size;) {
        bool done = false;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !done; i++) {
            size_t len = strlen(names[i]);
            if (!strncmp(p, names[i], len)) {
                n += (size_t)snprintf(out + n, size - n, "%s", values[i]);
                p += len;
                done = true;
            }
        }
        if (!done)
            out[n++] = *p++;
        if (n >= size)
            n = size - 1;
        out[n] = '\0';
    }
}

/* Alertmanager: firing alerts are (re-)posted with an end in the future,
 * resolved ones with their end now. */
static void post_alertmanager(gw_alerter_t *al, int64_t now)
{
    json_t *arr = json_array();
    const gw_config_t *cfg = al->cfg;
    /* Firing alerts are re-posted at every evaluation; the end lies far
     * enough ahead that a pause in evaluation (a backlog being read, a
     * rebalance) does not let Alertmanager resolve them on its own. */
    int64_t validity = 3 * cfg->evaluation.sweep_interval_ms;
    if (validity < 600000)
        validity = 600000;
    for (size_t i = 0; i < al->nobs; i++) {
        const obs_t *o = &al->obs[i];
        if (!o->written && o->changed)
            continue; /* another instance decided this rep */
        for (int k = 0; k < GW_ALERT_KINDS; k++) {
            bool firing =
                o->rec.st[k].phase == GW_PHASE_FIRING || o->rec.st[k].phase == GW_PHASE_RESOLVING;
            bool resolved = o->send[k] == GW_SEND_RESOLVED;
            if (!(cfg->alerting.kinds & (1u << k)) || (!firing && !resolved))
                continue;
            json_t *labels = json_object(), *ann = json_object(), *a = json_object();
            json_object_set_new(labels, "alertname",
                                json_string(gw_alert_kind_alertname((gw_alert_kind_t)k)));
            json_object_set_new(labels, "tenant", json_string(o->tenant));
            json_object_set_new(labels, "team", json_string(o->team));
            json_object_set_new(labels, "rep", json_string(o->rep));
            json_object_set_new(labels, "window", json_string(o->wname));
            json_object_set_new(labels, "playbook", json_string(o->pb->name));
            json_object_set_new(labels, "severity", json_string(cfg->alerting.severity[k]));
            /* Labels are the alert's identity; what changes during its life
             * (the weakest stage, the diagnosis) is an annotation, or
             * Alertmanager would see a new alert and keep the old one. */
            json_object_set_new(
                ann, "stage",
                json_string(o->diag.weakest >= 0 ? o->pb->stages[o->diag.weakest + 1].name : ""));
            char id[17], summary[512];
            gw_alert_id(id, o->tenant, o->rep, (gw_alert_kind_t)k, o->wname);
            gw_alert_t al_msg =
                alert_of(al, o, k, resolved ? GW_SEND_RESOLVED : GW_SEND_FIRING, now);
            gw_alert_summary(&al_msg, summary, sizeof(summary));
            json_object_set_new(ann, "summary", json_string(summary));
            json_object_set_new(
                ann, "diagnosis",
                json_string(o->is_pace ? "behind_pace" : gw_diag_str(o->diag.kind)));
            json_object_set_new(ann, "alert_id", json_string(id));
            char url[1024];
            if (cfg->alerting.runbook_url[0]) {
                snprintf(url, sizeof(url), "%s#%s", cfg->alerting.runbook_url,
                         gw_alert_kind_str((gw_alert_kind_t)k));
                json_object_set_new(ann, "runbook_url", json_string(url));
            }
            if (cfg->alerting.generator_url[0]) {
                generator_url(cfg, o, (gw_alert_kind_t)k, url, sizeof(url));
                json_object_set_new(a, "generatorURL", json_string(url));
            }
            char starts[40], ends[40];
            rfc3339(o->rec.st[k].starts_at_ms ? o->rec.st[k].starts_at_ms : now, starts,
                    sizeof(starts));
            rfc3339(resolved ? now : now + validity, ends, sizeof(ends));
            json_object_set_new(a, "labels", labels);
            json_object_set_new(a, "annotations", ann);
            json_object_set_new(a, "startsAt", json_string(starts));
            json_object_set_new(a, "endsAt", json_string(ends));
            json_array_append_new(arr, a);
        }
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return;
    }
    char *body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (body)
        gw_alertmanager_post(al->am, body); /* its thread posts it */
}

/* An unconfirmed message (msgno > delivered) may be re-sent by this
 * instance when it decided it, or the state names no sender (written
 * before senders were recorded), or the sender's key expired: one EXISTS
 * per other sender, in one round trip. */
static int check_senders(gw_alerter_t *al, char *err, size_t errsize)
{
    size_t nq = 0;
    for (size_t i = 0; i < al->nobs; i++) {
        obs_t *o = &al->obs[i];
        for (int k = 0; k < GW_ALERT_KINDS; k++) {
            bool pending = o->rec.st[k].msgno > o->rec.st[k].delivered && o->rec.payload[k];
            o->sender_gone[k] =
                pending && (!o->rec.sender[k][0] || !strcmp(o->rec.sender[k], al->id));
            if (pending && !o->sender_gone[k])
                nq++;
        }
    }
    if (nq == 0)
        return GW_STORE_OK;
    const char **ids = calloc(nq, sizeof(*ids));
    bool *alive = calloc(nq, sizeof(*alive));
    if (!ids || !alive) {
        free(ids);
        free(alive);
        snprintf(err, errsize, "out of memory");
        return GW_STORE_DOWN;
    }
    size_t q = 0;
    for (size_t i = 0; i < al->nobs; i++) {
        obs_t *o = &al->obs[i];
        for (int k = 0; k < GW_ALERT_KINDS; k++)
            if (o->rec.st[k].msgno > o->rec.st[k].delivered && o->rec.payload[k] &&
                !o->sender_gone[k])
                ids[q++] = o->rec.sender[k];
    }
    int rc = gw_alert_store_senders_alive(al->states, ids, nq, alive, err, errsize);
    q = 0;
    for (size_t i = 0; rc == GW_STORE_OK && i < al->nobs; i++) {
        obs_t *o = &al->obs[i];
        for (int k = 0; k < GW_ALERT_KINDS; k++) {
            bool pending = o->rec.st[k].msgno > o->rec.st[k].delivered && o->rec.payload[k];
            if (!pending || o->sender_gone[k])
                continue;
            o->sender_gone[k] = !alive[q++];
        }
    }
    free(ids);
    free(alive);
    return rc;
}

/* Keeps this instance's sender key alive (see ALIVE_TTL_MS) while it
 * evaluates (`deciding`), has messages of its own on their way, or failed
 * ones it sends again: an instance that evaluates nothing writes nothing. */
static void refresh_alive(gw_alerter_t *al, bool deciding)
{
    int64_t now = gw_mono_ms();
    bool failed_recently = al->last_failure_ms && now - al->last_failure_ms < ALIVE_TTL_MS;
    if (!deciding && gw_map_count(al->inflight) == 0 && !failed_recently)
        return;
    if (al->alive_refreshed_ms && now - al->alive_refreshed_ms < ALIVE_REFRESH_MS)
        return;
    al->alive_refreshed_ms = now; /* also when Redis is down: retried in a second */
    char err[512];
    if (gw_alert_store_keep_alive(al->states, al->id, ALIVE_TTL_MS, err, sizeof(err)) !=
        GW_STORE_OK)
        gw_log_debug("cannot refresh the alerter's key; retried in a second", "err=\"%s\"", err);
}

void gw_alerter_flush(gw_alerter_t *al)
{
    if (al->nobs == 0)
        return;
    /* Alive before any compare-and-set can name this instance. */
    refresh_alive(al, true);
    char err[512];
    int64_t now = gw_now_ms();
    /* 1. Read every observed rep's state for its window. */
    gw_alert_ref_t *refs = calloc(al->nobs, sizeof(*refs));
    gw_alert_record_t **recs = calloc(al->nobs, sizeof(*recs));
    gw_alert_save_t *saves = calloc(al->nobs, sizeof(*saves));
    size_t *cas_of = calloc(al->nobs, sizeof(*cas_of));
    bool *won = calloc(al->nobs, sizeof(*won));
    if (!refs || !recs || !saves || !cas_of || !won) {
        snprintf(err, sizeof(err), "out of memory");
        goto failed_buffers;
    }
    for (size_t i = 0; i < al->nobs; i++) {
        refs[i] = ref_of(&al->obs[i]);
        recs[i] = &al->obs[i].rec;
    }
    if (gw_alert_store_load(al->states, refs, recs, al->nobs, err, sizeof(err)) != GW_STORE_OK)
        goto failed_buffers;
    /* 2. Step; 3. compare-and-set what changed. */
    size_t ncas = 0;
    for (size_t i = 0; i < al->nobs; i++) {
        obs_t *o = &al->obs[i];
        step(al, o, now);
        if (!o->changed)
            continue;
        gw_alert_save_t *w = &saves[ncas];
        *w = (gw_alert_save_t){.ref = refs[i],
                               .version = o->rec.version,
                               .st = o->rec.st,
                               .kinds = al->cfg->alerting.kinds,
                               .sender = al->id,
                               .ttl_ms = al->cfg->key_ttl_ms};
        for (int k = 0; k < GW_ALERT_KINDS; k++) {
            w->fresh[k] = o->send[k] != GW_SEND_NONE ? o->fresh[k] : NULL;
            w->fresh_len[k] = o->send[k] != GW_SEND_NONE ? o->fresh_len[k] : 0;
        }
        cas_of[ncas++] = i;
    }
    if (gw_alert_store_save(al->states, saves, ncas, won, err, sizeof(err)) == GW_STORE_DOWN)
        goto failed_buffers;
    for (size_t c = 0; c < ncas; c++) {
        obs_t *o = &al->obs[cas_of[c]];
        o->written = won[c];
        if (!won[c])
            al->m->alert_cas_lost++;
    }
    free(refs);
    free(recs);
    free(saves);
    free(cas_of);
    free(won);
    /* 4. Publish what this instance decided, and re-send what an earlier
     * run decided but never saw confirmed, once its sender is gone (see
     * ALIVE_TTL_MS). */
    if (check_senders(al, err, sizeof(err)) != GW_STORE_OK)
        goto failed;
    for (size_t i = 0; i < al->nobs; i++) {
        obs_t *o = &al->obs[i];
        if (o->changed && !o->written)
            continue;
        for (int k = 0; k < GW_ALERT_KINDS; k++) {
            if (o->send[k] != GW_SEND_NONE) {
                publish(al, o, k, o->fresh[k], o->fresh_len[k], o->fresh_json[k],
                        o->rec.st[k].msgno);
                al->m->alerts_decided[k][o->send[k] == GW_SEND_RESOLVED]++;
                if (o->send[k] == GW_SEND_FIRING && o->rec.st[k].flapped)
                    al->m->alert_flaps++;
            } else if (o->rec.st[k].msgno > o->rec.st[k].delivered && o->rec.payload[k] &&
                       o->sender_gone[k]) {
                publish(al, o, k, o->rec.payload[k], o->rec.payload_len[k], NULL,
                        o->rec.st[k].msgno);
            }
        }
    }
    if (al->am)
        post_alertmanager(al, now);
    goto out;
failed_buffers:
    free(refs);
    free(recs);
    free(saves);
    free(cas_of);
    free(won);
failed:
    al->m->alert_failures++;
    gw_log_warn("alert evaluation not recorded; it is repeated at the next evaluation",
                "err=\"%s\"", err);
out:
    for (size_t i = 0; i < al->nobs; i++)
        free_obs_buffers(&al->obs[i]);
    al->nobs = 0;
}

/* ---- delivery reports ------------------------------------------------------- */

void gw_alerter_poll(gw_alerter_t *al)
{
    refresh_alive(al, false);
    if (!al->done)
        return;
    char err[512];
    ack_t *list = al->done;
    al->done = NULL;
    int queued = 0;
    for (ack_t *a = list; a; a = a->next) {
        if (a->err) {
            al->last_failure_ms = gw_mono_ms();
            al->m->alert_delivery_failures++;
            gw_log_error("alert not delivered; it is sent again at the next evaluation",
                         "kind=%s err=\"%s\"", gw_alert_kind_str((gw_alert_kind_t)a->kind),
                         rd_kafka_err2str(a->err));
            continue;
        }
        al->m->alerts_delivered++;
        gw_log_debug("alert delivered", "tenant=%s rep=%s window=%s kind=%d msgno=%" PRIu64,
                     a->tenant, a->rep, a->window, a->kind, a->msgno);
        gw_alert_ref_t ref = {a->tenant, a->rep, a->window};
        if (gw_alert_store_queue_delivered(al->states, &ref, (gw_alert_kind_t)a->kind, a->msgno,
                                           a->json, err, sizeof(err)) != GW_STORE_OK)
            break;
        queued++;
    }
    if (queued && gw_alert_store_flush(al->states, err, sizeof(err)) != GW_STORE_OK)
        gw_log_warn("cannot record alert deliveries; they may be sent again after a restart",
                    "err=\"%s\"", err);
    while (list) {
        ack_t *a = list;
        list = a->next;
        gw_map_remove(al->inflight, a->inflight);
        free_ack(a);
    }
}
