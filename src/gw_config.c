/*
 * gw_config: YAML loading (libyaml's document API keeps every node's line),
 * the schema of the daemon's sections, and the checks that span keys.
 *
 * The walk is table driven: each mapping is a NULL-terminated cfg_field_t
 * array naming its keys, their types and where they land in gw_config_t.
 * Errors never stop the walk; they pile up in the caller's buffer.
 */
#include "gw_config.h"
#include "gw_config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_alerts.h"
#include "gw_keys.h"

/* ---- the daemon's sections --------------------------------------------- */

/* alerting.alertmanager's authentication and TLS keys (main_extra_t.am_*). */
enum {
    AM_USERNAME,
    AM_PASSWORD_ENV,
    AM_PASSWORD_FILE,
    AM_TOKEN_ENV,
    AM_TOKEN_FILE,
    AM_TLS_CA,
    AM_TLS_CERT,
    AM_TLS_KEY,
    AM_KEYS
};
static const char *const am_keys[AM_KEYS] = {
    "username",          "password_env", "password_file", "bearer_token_env",
    "bearer_token_file", "tls_ca",       "tls_cert",      "tls_key"};

/* Lines of keys that cross-field checks report against. */
typedef struct cfg_main_extra_s {
    yaml_node_t *windows;
    yaml_node_t *password_env;
    yaml_node_t *password_file;
    yaml_node_t *topics;
    yaml_node_t *prefix;
    const char *password_env_name;
    const char *password_file_path;
    bool windows_given;
    yaml_node_t *alert_windows; /* resolved after the walk */
    yaml_node_t *tls[6];        /* redis.tls and tls_*, in the order of tls_fields */
    yaml_node_t *tls_other;     /* the first redis.tls_* key given */
    yaml_node_t *cluster;       /* redis.cluster */
    yaml_node_t *cluster_nodes; /* redis.cluster_nodes */
    /* alerting.alertmanager's secrets and TLS files: key node and value */
    yaml_node_t *am_node[AM_KEYS];
    const char *am_value[AM_KEYS];
} main_extra_t;

/* Reads a mapping of librdkafka properties into *out / *nout. */
static void load_property_map(cfg_loader_t *L, yaml_node_t *node, const char *path,
                              gw_config_prop_t **out, size_t *nout)
{
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0)
        return;
    if (node->type != YAML_MAPPING_NODE) {
        cfg_error(L, node, path, "expected a mapping of librdkafka property: value");
        return;
    }
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    gw_config_prop_t *props = gw_arena_alloc(L->arena, (n + 1) * sizeof(*props));
    size_t np = 0;
    rd_kafka_conf_t *probe = rd_kafka_conf_new();
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(&L->doc, pair->value);
        if (!k || k->type != YAML_SCALAR_NODE)
            continue;
        char sub[256];
        cfg_join_path(sub, sizeof(sub), path, (const char *)k->data.scalar.value);
        const char *val = cfg_scalar(L, v, sub);
        if (!val)
            continue;
        const char *name = cfg_strdup(L, (const char *)k->data.scalar.value);
        /* Ask librdkafka whether it knows the property and accepts the value,
         * so a typo fails here and not at start-up. */
        char errstr[256];
        if (rd_kafka_conf_set(probe, name, val, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            cfg_error(L, k, sub, "librdkafka rejects it: %s", errstr);
            continue;
        }
        props[np].name = name;
        props[np].value = val;
        props[np].line = cfg_line(k);
        np++;
    }
    rd_kafka_conf_destroy(probe);
    *out = props;
    *nout = np;
}

static void load_properties(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    load_property_map(L, node, path, &L->cfg->kafka.properties, &L->cfg->kafka.nproperties);
}

static void load_consumer_properties(cfg_loader_t *L, yaml_node_t *node, const char *path,
                                     void *base)
{
    (void)base;
    load_property_map(L, node, path, &L->cfg->kafka.consumer_properties,
                      &L->cfg->kafka.nconsumer_properties);
}

static void load_producer_properties(cfg_loader_t *L, yaml_node_t *node, const char *path,
                                     void *base)
{
    (void)base;
    load_property_map(L, node, path, &L->cfg->kafka.producer_properties,
                      &L->cfg->kafka.nproducer_properties);
}

static void load_topics_marker(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base);

static const cfg_field_t topic_fields[] = {
    {"events", CFG_STR, offsetof(gw_config_t, kafka.topic_events)},
    {"dead_letter", CFG_STR, offsetof(gw_config_t, kafka.topic_dead_letter)},
    {"alerts", CFG_STR, offsetof(gw_config_t, kafka.topic_alerts)},
    {NULL},
};

static void load_topics_marker(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    ((main_extra_t *)L->extra)->topics = node;
    cfg_walk_mapping(L, node, path, topic_fields, base);
}

/* Offsets below are relative to gw_config_t: every section walks with
 * base = the config itself, which keeps the tables flat and greppable. */
static const cfg_field_t kafka_fields[] = {
    {"bootstrap_servers", CFG_STR, offsetof(gw_config_t, kafka.bootstrap_servers)},
    {"group_id", CFG_STR, offsetof(gw_config_t, kafka.group_id)},
    {"topics", CFG_CUSTOM, 0, 0, 0, NULL, load_topics_marker},
    {"properties", CFG_CUSTOM, 0, 0, 0, NULL, load_properties},
    {"consumer_properties", CFG_CUSTOM, 0, 0, 0, NULL, load_consumer_properties},
    {"producer_properties", CFG_CUSTOM, 0, 0, 0, NULL, load_producer_properties},
    {NULL},
};

static const cfg_field_t consumer_fields[] = {
    {"batch_max_messages", CFG_INT, offsetof(gw_config_t, consumer.batch_max_messages), 1, 1000000},
    {"batch_max_entities", CFG_INT, offsetof(gw_config_t, consumer.batch_max_entities), 2, 1000000},
    {"batch_max_wait", CFG_DURATION, offsetof(gw_config_t, consumer.batch_max_wait_ms), 0, 60000},
    {"commit_interval", CFG_DURATION, offsetof(gw_config_t, consumer.commit_interval_ms), 100,
     3600000},
    {"idle_after", CFG_DURATION, offsetof(gw_config_t, consumer.idle_after_ms), 1000, 86400000},
    {NULL},
};

static void load_password_env(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    main_extra_t *x = L->extra;
    x->password_env = node;
    x->password_env_name = cfg_scalar(L, node, path);
}

static void load_password_file(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    main_extra_t *x = L->extra;
    x->password_file = node;
    x->password_file_path = cfg_scalar(L, node, path);
}

static void load_on_data_loss(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return;
    if (!strcmp(s, "halt"))
        L->cfg->redis.on_data_loss = GW_DATA_LOSS_HALT;
    else if (!strcmp(s, "rebuild"))
        L->cfg->redis.on_data_loss = GW_DATA_LOSS_REBUILD;
    else
        cfg_error(L, node, path, "\"%s\" is not halt or rebuild", s);
}

/* redis.tls and redis.tls_*: one handler, so that their lines are kept for
 * the checks after the walk (check_redis_tls), e.g. a build without TLS
 * says so at the line of `tls`. The order is that of main_extra_t.tls. */
enum { TLS_ON, TLS_CA, TLS_CERT, TLS_KEY, TLS_SERVER_NAME, TLS_VERIFY };
static const cfg_field_t tls_fields[] = {
    {"tls", CFG_BOOL, offsetof(gw_config_t, redis.tls.enabled)},
    {"tls_ca", CFG_STR, offsetof(gw_config_t, redis.tls.ca)},
    {"tls_cert", CFG_STR, offsetof(gw_config_t, redis.tls.cert)},
    {"tls_key", CFG_STR, offsetof(gw_config_t, redis.tls.key)},
    {"tls_server_name", CFG_STR, offsetof(gw_config_t, redis.tls.server_name)},
    {"tls_verify", CFG_BOOL, offsetof(gw_config_t, redis.tls.verify)},
    {NULL},
};

static void load_tls_key(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    main_extra_t *x = L->extra;
    const char *key = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
    const cfg_field_t *f = tls_fields;
    while (f->key && strcmp(f->key, key) != 0)
        f++;
    if (!f->key)
        return; /* not reached: redis_fields lists only these */
    x->tls[f - tls_fields] = node;
    if (f != tls_fields && !x->tls_other)
        x->tls_other = node;
    cfg_set_field(L, f, node, path, base);
    /* Files are opened now, so a wrong path fails --check-config rather
     * than the first connection. */
    if (f - tls_fields == TLS_CA || f - tls_fields == TLS_CERT || f - tls_fields == TLS_KEY) {
        const char *file = *(const char **)((char *)base + f->offset);
        FILE *fp = file ? fopen(file, "r") : NULL;
        if (fp)
            fclose(fp);
        else if (file)
            cfg_error(L, node, path, "cannot read %s: %s", file, strerror(errno));
    }
}

/* One host:port of redis.cluster_nodes (the port after the last ':', so an
 * IPv6 address works). */
static void load_cluster_node(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                              void *base)
{
    (void)base;
    const char *v = cfg_scalar(L, item, path);
    if (!v)
        return;
    const char *colon = strrchr(v, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || colon == v || !colon[1] || *end || port < 1 || port > 65535) {
        cfg_error(L, item, path, "\"%s\" is not host:port (a port 1..65535)", v);
        return;
    }
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
    L->cfg->redis.cluster_nodes[index].host = cfg_strdup(L, host);
    L->cfg->redis.cluster_nodes[index].port = (int)port;
    L->cfg->redis.ncluster_nodes = (size_t)index + 1;
}

static void load_cluster_nodes(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    main_extra_t *x = L->extra;
    x->cluster_nodes = node;
    if (node->type == YAML_SEQUENCE_NODE) {
        size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
        L->cfg->redis.cluster_nodes = gw_arena_alloc(L->arena, (n + 1) * sizeof(gw_config_addr_t));
    }
    cfg_walk_list(L, node, path, "host:port", load_cluster_node, base);
}

static void load_cluster(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    main_extra_t *x = L->extra;
    x->cluster = node;
    static const cfg_field_t f = {"cluster", CFG_BOOL, offsetof(gw_config_t, redis.cluster)};
    cfg_set_field(L, &f, node, path, base);
}

static const cfg_field_t redis_fields[] = {
    {"host", CFG_STR, offsetof(gw_config_t, redis.host)},
    {"port", CFG_INT, offsetof(gw_config_t, redis.port), 1, 65535},
    {"unix_socket", CFG_STR_OPT, offsetof(gw_config_t, redis.unix_socket)},
    {"db", CFG_INT, offsetof(gw_config_t, redis.db), 0, 1023},
    {"user", CFG_STR_OPT, offsetof(gw_config_t, redis.user)},
    {"password_env", CFG_CUSTOM, 0, 0, 0, NULL, load_password_env},
    {"password_file", CFG_CUSTOM, 0, 0, 0, NULL, load_password_file},
    {"connect_timeout", CFG_DURATION, offsetof(gw_config_t, redis.connect_timeout_ms), 10, 600000},
    {"command_timeout", CFG_DURATION, offsetof(gw_config_t, redis.command_timeout_ms), 10, 600000},
    {"on_data_loss", CFG_CUSTOM, 0, 0, 0, NULL, load_on_data_loss},
    {"cluster", CFG_CUSTOM, 0, 0, 0, NULL, load_cluster},
    {"cluster_nodes", CFG_CUSTOM, 0, 0, 0, NULL, load_cluster_nodes},
    {"cluster_wait_replicas", CFG_BOOL, offsetof(gw_config_t, redis.cluster_wait_replicas)},
    {"tls", CFG_CUSTOM, 0, 0, 0, NULL, load_tls_key},
    {"tls_ca", CFG_CUSTOM, 0, 0, 0, NULL, load_tls_key},
    {"tls_cert", CFG_CUSTOM, 0, 0, 0, NULL, load_tls_key},
    {"tls_key", CFG_CUSTOM, 0, 0, 0, NULL, load_tls_key},
    {"tls_server_name", CFG_CUSTOM, 0, 0, 0, NULL, load_tls_key},
    {"tls_verify", CFG_CUSTOM, 0, 0, 0, NULL, load_tls_key},
    {NULL},
};

typedef struct {
    const char *name;
    int64_t length, bucket, grace;
} window_scratch_t;

static void load_window(cfg_loader_t *L, yaml_node_t *item, const char *path, int index, void *base)
{
    (void)base;
    gw_config_t *cfg = L->cfg;
    window_scratch_t w = {NULL, 0, 0, -1};
    static const cfg_field_t fields[] = {
        {"name", CFG_STR, offsetof(window_scratch_t, name)},
        {"length", CFG_DURATION, offsetof(window_scratch_t, length), 1, 366LL * 86400000},
        {"bucket", CFG_DURATION, offsetof(window_scratch_t, bucket), 1, 366LL * 86400000},
        {"grace", CFG_DURATION, offsetof(window_scratch_t, grace), 0, 366LL * 86400000},
        {NULL},
    };
    int before = L->nerr;
    cfg_walk_mapping(L, item, path, fields, &w);
    if (L->nerr != before)
        return;
    if (!w.name || !w.length || !w.bucket) {
        cfg_error(L, item, path, "a window needs name, length and bucket (grace is optional)");
        return;
    }
    if (index >= GW_WINDOWS_MAX) {
        cfg_error(L, item, path, "at most %d windows", GW_WINDOWS_MAX);
        return;
    }
    if (w.grace < 0)
        w.grace = 0;
    char err[256];
    if (gw_window_init(&cfg->windows[index], w.name, w.length, w.bucket, w.grace, err,
                       sizeof(err)) != 0) {
        cfg_error(L, item, path, "%s", err);
        return;
    }
    for (int i = 0; i < index; i++) {
        if (!strcmp(cfg->windows[i].name, w.name))
            cfg_error(L, item, path, "window name \"%s\" is used twice", w.name);
    }
    if (index + 1 > cfg->nwindows)
        cfg->nwindows = index + 1;
}

static void load_windows(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    main_extra_t *x = L->extra;
    x->windows = node;
    x->windows_given = true;
    L->cfg->nwindows = 0;
    cfg_walk_sequence(L, node, path, load_window, base);
    if (L->cfg->nwindows == 0 && node->type == YAML_SEQUENCE_NODE)
        cfg_error(L, node, path, "at least one window is needed");
}

typedef struct {
    const char *name;
    const char *cls;
} kind_scratch_t;

static void load_custom_kind(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                             void *base)
{
    (void)base;
    gw_kinds_t *kinds = &L->cfg->kinds;
    kind_scratch_t k = {NULL, NULL};
    static const cfg_field_t fields[] = {
        {"name", CFG_STR, offsetof(kind_scratch_t, name)},
        {"class", CFG_STR, offsetof(kind_scratch_t, cls)},
        {NULL},
    };
    int before = L->nerr;
    cfg_walk_mapping(L, item, path, fields, &k);
    if (L->nerr != before)
        return;
    if (!k.name || !k.cls) {
        cfg_error(L, item, path, "a custom kind needs name and class");
        return;
    }
    if (index >= GW_CUSTOM_KINDS_MAX) {
        cfg_error(L, item, path, "at most %d custom kinds", GW_CUSTOM_KINDS_MAX);
        return;
    }
    if (!gw_kind_name_allowed(k.name)) {
        cfg_error(L, item, path,
                  "\"%s\" cannot name a custom kind: use 1-%d of [A-Za-z0-9_.-], not a "
                  "built-in kind or a reserved field (events, activities, with_goal, "
                  "with_next_step, wm, late)",
                  k.name, GW_KIND_NAME_MAX);
        return;
    }
    gw_kind_class_t cls = gw_kind_class_parse(k.cls);
    if (cls == GW_CLASS_NONE) {
        cfg_error(L, item, path, "class \"%s\" is not activity, output or outcome", k.cls);
        return;
    }
    if (gw_kind_custom(kinds, k.name, strlen(k.name)) >= 0) {
        cfg_error(L, item, path, "custom kind \"%s\" is declared twice", k.name);
        return;
    }
    snprintf(kinds->custom[kinds->ncustom].name, sizeof(kinds->custom[0].name), "%s", k.name);
    kinds->custom[kinds->ncustom].cls = cls;
    kinds->ncustom++;
}

static void load_custom_kinds(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0)
        return;
    cfg_walk_sequence(L, node, path, load_custom_kind, base);
}

static void load_log_level(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    const char *s = cfg_scalar(L, node, path);
    if (s && gw_log_level_parse(s, &L->cfg->log_level) != 0)
        cfg_error(L, node, path, "\"%s\" is not debug, info, warn or error", s);
}

static void load_log_format(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    const char *s = cfg_scalar(L, node, path);
    if (s && gw_log_format_parse(s, &L->cfg->log_format) != 0)
        cfg_error(L, node, path, "\"%s\" is not logfmt or json", s);
}

static const cfg_field_t log_fields[] = {
    {"format", CFG_CUSTOM, 0, 0, 0, NULL, load_log_format},
    {NULL},
};

static void load_prefix(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    ((main_extra_t *)L->extra)->prefix = node;
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return;
    size_t len = strlen(s), bad;
    if (len > GW_PREFIX_MAX || !gw_keys_id_valid(s, len, &bad)) {
        cfg_error(L, node, path, "\"%s\" must be 1-%d of [A-Za-z0-9._@-]", s, GW_PREFIX_MAX);
        return;
    }
    L->cfg->key_prefix = s;
}

static void load_listen(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return;
    if (*s) {
        const char *colon = strrchr(s, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == s || !end || *end || port < 0 || port > 65535) {
            cfg_error(L, node, path, "\"%s\" is not host:port (e.g. 127.0.0.1:9464)", s);
            return;
        }
    }
    L->cfg->metrics.listen = s;
}

static void add_alert_kind(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                           void *base)
{
    (void)index;
    const char *name = cfg_scalar(L, item, path);
    if (!name)
        return;
    int k = gw_alert_kind_parse(name);
    if (k < 0)
        cfg_error(L, item, path,
                  "\"%s\" is not an alert kind (efficiency_gap, effectiveness_gap, "
                  "low_activity_quality, pipeline_inflation, suspected_gaming)",
                  name);
    else
        *(unsigned *)base |= 1u << k;
}

static void load_alert_kinds(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    unsigned mask = 0;
    cfg_walk_list(L, node, path, "alert kinds", add_alert_kind, &mask);
    L->cfg->alerting.kinds = mask;
}

static void load_alert_windows(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    (void)path;
    ((main_extra_t *)L->extra)->alert_windows = node;
}

static void add_alert_window(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                             void *base)
{
    (void)index;
    const char *name = cfg_scalar(L, item, path);
    if (!name)
        return;
    int w = gw_config_window_index(L->cfg, name);
    if (w < 0)
        cfg_error(L, item, path, "window \"%s\" is not one of the configured windows", name);
    else
        *(unsigned *)base |= 1u << w;
}

/* Window names may be declared after `alerting:`; resolved after the walk. */
static void resolve_alert_windows(cfg_loader_t *L, main_extra_t *x)
{
    if (!x->alert_windows)
        return;
    unsigned mask = 0;
    cfg_walk_list(L, x->alert_windows, "alerting.windows", "window names", add_alert_window, &mask);
    L->cfg->alerting.windows = mask;
}

/* alerting.alertmanager.generator_url: a URL template whose placeholders
 * must be known, so a typo is a config error rather than a broken link. */
static void load_generator_url(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    static const char *const known[] = {"tenant", "team", "rep", "window", "kind", "playbook"};
    const char *v = cfg_scalar(L, node, path);
    if (!v)
        return;
    for (const char *p = strchr(v, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        bool ok = false;
        for (size_t i = 0; end && i < sizeof(known) / sizeof(known[0]); i++)
            ok |= (size_t)(end - p - 1) == strlen(known[i]) &&
                  !strncmp(p + 1, known[i], (size_t)(end - p - 1));
        if (!ok) {
            cfg_error(L, node, path,
                      "unknown placeholder \"%.*s\" (known: {tenant} {team} {rep} {window} "
                      "{kind} {playbook})",
                      end ? (int)(end - p + 1) : (int)strlen(p), p);
            return;
        }
    }
    L->cfg->alerting.generator_url = v;
}

/* alerting.alertmanager.severity: alert kind -> critical | warning | info. */
static void load_severity(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    if (node->type != YAML_MAPPING_NODE) {
        cfg_error(L, node, path, "expected a mapping of alert kind to severity");
        return;
    }
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&L->doc, pr->value);
        char sub[256];
        const char *name = cfg_scalar(L, k, path);
        if (!name)
            continue;
        snprintf(sub, sizeof(sub), "%s.%s", path, name);
        int kind = gw_alert_kind_parse(name);
        if (kind < 0) {
            cfg_error(L, k, sub,
                      "\"%s\" is not an alert kind (efficiency_gap, effectiveness_gap, "
                      "low_activity_quality, pipeline_inflation, suspected_gaming)",
                      name);
            continue;
        }
        const char *sev = cfg_scalar(L, v, sub);
        if (!sev)
            continue;
        if (strcmp(sev, "critical") && strcmp(sev, "warning") && strcmp(sev, "info")) {
            cfg_error(L, v, sub, "\"%s\" is not a severity (critical, warning, info)", sev);
            continue;
        }
        L->cfg->alerting.severity[kind] = sev;
    }
}

/* One of am_keys: remembered with its line for the checks after the walk. */
static void load_am_key(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base)
{
    (void)base;
    main_extra_t *x = L->extra;
    const char *key = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
    for (int i = 0; i < AM_KEYS; i++)
        if (!strcmp(key, am_keys[i])) {
            x->am_node[i] = node;
            x->am_value[i] = cfg_scalar(L, node, path);
        }
}

static const cfg_field_t alertmanager_fields[] = {
    {"username", CFG_CUSTOM, 0, 0, 0, NULL, load_am_key},
    {"password_env", CFG_CUSTOM, 0, 0, 0, NULL, load_am_key},
    {"password_file", CFG_CUSTOM, 0, 0, 0, NULL, load_am_key},
    {"bearer_token_env", CFG_CUSTOM, 0, 0, 0, NULL, load_am_key},
    {"bearer_token_file", CFG_CUSTOM, 0, 0, 0, NULL, load_am_key},
    {"tls_ca", CFG_CUSTOM, 0, 0, 0, NULL, load_am_key},
    {"tls_cert", CFG_CUSTOM, 0, 0, 0, NULL, load_am_key},
    {"tls_key", CFG_CUSTOM, 0, 0, 0, NULL, load_am_key},
    {"tls_verify", CFG_BOOL, offsetof(gw_config_t, alerting.am_auth.tls_verify)},
    {"url", CFG_STR_OPT, offsetof(gw_config_t, alerting.alertmanager_url)},
    {"timeout", CFG_DURATION, offsetof(gw_config_t, alerting.alertmanager_timeout_ms), 100, 60000},
    {"generator_url", CFG_CUSTOM, 0, 0, 0, NULL, load_generator_url},
    {"runbook_url", CFG_STR_OPT, offsetof(gw_config_t, alerting.runbook_url)},
    {"severity", CFG_CUSTOM, 0, 0, 0, NULL, load_severity},
    {NULL},
};

static const cfg_field_t alerting_fields[] = {
    {"fire_after", CFG_DURATION, offsetof(gw_config_t, alerting.fire_after_ms), 0,
     366LL * 86400000},
    {"resolve_after", CFG_DURATION, offsetof(gw_config_t, alerting.resolve_after_ms), 0,
     366LL * 86400000},
    {"repeat_interval", CFG_DURATION, offsetof(gw_config_t, alerting.repeat_interval_ms), 0,
     366LL * 86400000},
    {"kinds", CFG_CUSTOM, 0, 0, 0, NULL, load_alert_kinds},
    {"windows", CFG_CUSTOM, 0, 0, 0, NULL, load_alert_windows},
    {"stream_max_length", CFG_INT, offsetof(gw_config_t, alerting.stream_max_length), 1, 100000000},
    {"alertmanager", CFG_SECTION, 0, 0, 0, alertmanager_fields},
    {NULL},
};

static const cfg_field_t validation_fields[] = {
    {"max_future", CFG_DURATION, offsetof(gw_config_t, validation.max_future_ms), 0,
     366LL * 86400000},
    {NULL},
};

static const cfg_field_t metrics_fields[] = {
    {"listen", CFG_CUSTOM, 0, 0, 0, NULL, load_listen},
    {"group_lag_interval", CFG_DURATION, offsetof(gw_config_t, metrics.group_lag_interval_ms), 0,
     3600000},
    {NULL},
};

static const cfg_field_t evaluation_fields[] = {
    {"sweep_interval", CFG_DURATION, offsetof(gw_config_t, evaluation.sweep_interval_ms), 1000,
     86400000},
    {"min_interval", CFG_DURATION, offsetof(gw_config_t, evaluation.min_interval_ms), 0, 86400000},
    {"max_lag", CFG_INT, offsetof(gw_config_t, evaluation.max_lag), 0, 1000000000},
    {NULL},
};

static const cfg_field_t top_fields[] = {
    {"log_level", CFG_CUSTOM, 0, 0, 0, NULL, load_log_level},
    {"log", CFG_SECTION, 0, 0, 0, log_fields},
    {"kafka", CFG_SECTION, 0, 0, 0, kafka_fields},
    {"consumer", CFG_SECTION, 0, 0, 0, consumer_fields},
    {"redis", CFG_SECTION, 0, 0, 0, redis_fields},
    {"key_prefix", CFG_CUSTOM, 0, 0, 0, NULL, load_prefix},
    {"key_ttl", CFG_DURATION, offsetof(gw_config_t, key_ttl_ms), 3600000, 3660LL * 86400000},
    {"windows", CFG_CUSTOM, 0, 0, 0, NULL, load_windows},
    {"custom_kinds", CFG_CUSTOM, 0, 0, 0, NULL, load_custom_kinds},
    {"validation", CFG_SECTION, 0, 0, 0, validation_fields},
    {"metrics", CFG_SECTION, 0, 0, 0, metrics_fields},
    {"calendars", CFG_CUSTOM, 0, 0, 0, NULL, cfg_load_calendars},
    {"playbooks", CFG_CUSTOM, 0, 0, 0, NULL, cfg_load_playbooks},
    {"evaluation", CFG_SECTION, 0, 0, 0, evaluation_fields},
    {"alerting", CFG_SECTION, 0, 0, 0, alerting_fields},
    {NULL},
};

/* ---- defaults, cross-field checks, entry points ------------------------- */

static gw_config_t *config_new(gw_arena_t **arena_out)
{
    gw_arena_t *arena = gw_arena_new(16384);
    if (!arena)
        return NULL;
    gw_config_t *cfg = gw_arena_alloc(arena, sizeof(*cfg));
    memset(cfg, 0, sizeof(*cfg));
    cfg->internal = arena;
    cfg->source = "<defaults>";
    cfg->log_level = GW_LOG_INFO;
    cfg->kafka.bootstrap_servers = "127.0.0.1:9092";
    cfg->kafka.group_id = "gapwatch";
    cfg->kafka.topic_events = "sales.events";
    cfg->kafka.topic_dead_letter = "sales.events.dlq";
    cfg->kafka.topic_alerts = "sales.alerts";
    cfg->consumer.batch_max_messages = 200000;
    cfg->consumer.batch_max_entities = 16384;
    cfg->consumer.batch_max_wait_ms = 5;
    cfg->consumer.commit_interval_ms = 1000;
    cfg->consumer.idle_after_ms = 30000;
    cfg->redis.host = "127.0.0.1";
    cfg->redis.port = 6379;
    cfg->redis.connect_timeout_ms = 2000;
    cfg->redis.command_timeout_ms = 10000;
    cfg->redis.tls.verify = true;
    cfg->redis.cluster_wait_replicas = true;
    cfg->key_prefix = "gw";
    cfg->key_ttl_ms = 62LL * 86400000;
    cfg->validation.max_future_ms = 3600000;
    cfg->metrics.listen = "127.0.0.1:9464";
    cfg->metrics.group_lag_interval_ms = 15000;
    cfg->alerting.fire_after_ms = 86400000; /* measured: tests/quality, docs/diagnosis.md */
    cfg->alerting.resolve_after_ms = 86400000;
    cfg->alerting.repeat_interval_ms = 24 * 3600000LL;
    cfg->alerting.kinds = (1u << GW_ALERT_KINDS) - 1;
    cfg->alerting.windows = ~0u;
    cfg->alerting.stream_max_length = 10000;
    cfg->alerting.alertmanager_url = "";
    cfg->alerting.alertmanager_timeout_ms = 2000;
    cfg->alerting.am_auth.tls_verify = true;
    cfg->alerting.generator_url = "";
    cfg->alerting.runbook_url = GW_DOCS_URL "/alerts.md";
    for (int k = 0; k < GW_ALERT_KINDS; k++)
        cfg->alerting.severity[k] = gw_alert_kind_default_severity((gw_alert_kind_t)k);
    cfg->evaluation.sweep_interval_ms = 60000;
    cfg->evaluation.min_interval_ms = 10000;
    cfg->evaluation.max_lag = 1000;
    char err[128];
    /* Sales objectives are weekly and monthly; a 1d window (noisy, and the
     * most bucket writes per event) is one line of config away. */
    int rc = gw_window_init(&cfg->windows[0], "7d", 7 * 86400000LL, 6 * 3600000LL, 3600000, err,
                            sizeof(err));
    rc |= gw_window_init(&cfg->windows[1], "30d", 30 * 86400000LL, 86400000, 3600000, err,
                         sizeof(err));
    if (rc != 0) {
        gw_arena_free(arena);
        return NULL;
    }
    cfg->nwindows = 2;
    *arena_out = arena;
    return cfg;
}

gw_config_t *gw_config_defaults(void)
{
    gw_arena_t *arena;
    return config_new(&arena);
}

/* A secret from an environment variable or a file (the first line), given
 * as the keys `env_key` (node env, its value env_name) and `file_key`:
 * NULL when neither is given or --no-secrets; errors name the key. */
static const char *read_secret(cfg_loader_t *L, yaml_node_t *env, const char *env_name,
                               const char *env_key, yaml_node_t *file, const char *file_path,
                               const char *file_key)
{
    if (env && file) {
        cfg_error(L, file, file_key, "give %s or %s, not both", strrchr(env_key, '.') + 1,
                  strrchr(file_key, '.') + 1);
        return NULL;
    }
    /* --no-secrets: the keys are checked, the secret is not read (a CI
     * lint has neither the variable nor the file). */
    if (L->flags & GW_CONFIG_NO_SECRETS)
        return NULL;
    if (env_name) {
        const char *v = getenv(env_name);
        if (!v)
            cfg_error(L, env, env_key, "environment variable %s is not set", env_name);
        return v ? cfg_strdup(L, v) : NULL;
    }
    if (!file_path)
        return NULL;
    FILE *f = fopen(file_path, "r");
    if (!f) {
        cfg_error(L, file, file_key, "cannot read %s: %s", file_path, strerror(errno));
        return NULL;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0) {
        cfg_error(L, file, file_key, "%s is empty", file_path);
        return NULL;
    }
    return cfg_strdup(L, buf);
}

static void read_password(cfg_loader_t *L, main_extra_t *x)
{
    const char *p = read_secret(L, x->password_env, x->password_env_name, "redis.password_env",
                                x->password_file, x->password_file_path, "redis.password_file");
    if (p)
        L->cfg->redis.password = p;
}

/* alerting.alertmanager's authentication and TLS: one way to authenticate,
 * readable files, TLS settings only with an https URL. */
static void check_alertmanager_auth(cfg_loader_t *L, main_extra_t *x)
{
    gw_config_t *cfg = L->cfg;
    const char *const *v = x->am_value;
    yaml_node_t *const *n = x->am_node;
    const char *url = cfg->alerting.alertmanager_url;
    bool basic = n[AM_USERNAME] || n[AM_PASSWORD_ENV] || n[AM_PASSWORD_FILE];
    bool bearer = n[AM_TOKEN_ENV] || n[AM_TOKEN_FILE];
    bool any = basic || bearer || n[AM_TLS_CA] || n[AM_TLS_CERT] || n[AM_TLS_KEY];
    if (!any)
        return;
    if (!url || !*url) {
        for (int i = 0; i < AM_KEYS; i++)
            if (n[i]) {
                cfg_error(L, n[i], "alerting.alertmanager", "%s is given but url is not",
                          am_keys[i]);
                return;
            }
    }
    if (basic && bearer)
        cfg_error(L, n[AM_TOKEN_ENV] ? n[AM_TOKEN_ENV] : n[AM_TOKEN_FILE], "alerting.alertmanager",
                  "give basic auth (username and password) or a bearer token, not both");
    if (basic && !n[AM_USERNAME])
        cfg_error(L, n[AM_PASSWORD_ENV] ? n[AM_PASSWORD_ENV] : n[AM_PASSWORD_FILE],
                  "alerting.alertmanager.username", "a password needs a username");
    if (n[AM_USERNAME] && !n[AM_PASSWORD_ENV] && !n[AM_PASSWORD_FILE])
        cfg_error(L, n[AM_USERNAME], "alerting.alertmanager.password_env",
                  "basic auth needs password_env or password_file");
    cfg->alerting.am_auth.username = v[AM_USERNAME];
    cfg->alerting.am_auth.password = read_secret(
        L, n[AM_PASSWORD_ENV], v[AM_PASSWORD_ENV], "alerting.alertmanager.password_env",
        n[AM_PASSWORD_FILE], v[AM_PASSWORD_FILE], "alerting.alertmanager.password_file");
    cfg->alerting.am_auth.bearer_token =
        read_secret(L, n[AM_TOKEN_ENV], v[AM_TOKEN_ENV], "alerting.alertmanager.bearer_token_env",
                    n[AM_TOKEN_FILE], v[AM_TOKEN_FILE], "alerting.alertmanager.bearer_token_file");
    bool tls = n[AM_TLS_CA] || n[AM_TLS_CERT] || n[AM_TLS_KEY] || !cfg->alerting.am_auth.tls_verify;
    if (tls && url && strncmp(url, "https://", 8) != 0)
        cfg_error(L,
                  n[AM_TLS_CA]     ? n[AM_TLS_CA]
                  : n[AM_TLS_CERT] ? n[AM_TLS_CERT]
                                   : n[AM_TLS_KEY],
                  "alerting.alertmanager.url",
                  "TLS settings are given but the url \"%s\" is not https://", url);
    if (!n[AM_TLS_CERT] != !n[AM_TLS_KEY])
        cfg_error(L, n[AM_TLS_CERT] ? n[AM_TLS_CERT] : n[AM_TLS_KEY],
                  n[AM_TLS_CERT] ? "alerting.alertmanager.tls_key"
                                 : "alerting.alertmanager.tls_cert",
                  "a client certificate needs both tls_cert and tls_key");
    for (int i = AM_TLS_CA; i <= AM_TLS_KEY; i++) {
        if (!v[i])
            continue;
        char key[64];
        snprintf(key, sizeof(key), "alerting.alertmanager.%s", am_keys[i]);
        if (!(L->flags & GW_CONFIG_NO_SECRETS) && access(v[i], R_OK) != 0)
            cfg_error(L, n[i], key, "cannot read %s: %s", v[i], strerror(errno));
    }
    cfg->alerting.am_auth.tls_ca = v[AM_TLS_CA];
    cfg->alerting.am_auth.tls_cert = v[AM_TLS_CERT];
    cfg->alerting.am_auth.tls_key = v[AM_TLS_KEY];
}

/* What redis.cluster excludes: a unix socket (a cluster's nodes are
 * host:port) and a database other than 0 (SELECT is refused). */
static void check_redis_cluster(cfg_loader_t *L, main_extra_t *x)
{
    const gw_config_t *cfg = L->cfg;
    if (!cfg->redis.cluster) {
        if (x->cluster_nodes && cfg->redis.ncluster_nodes > 0)
            cfg_error(L, x->cluster_nodes, "redis.cluster_nodes",
                      "cluster nodes are given but redis.cluster is not true");
        return;
    }
    if (cfg->redis.unix_socket && *cfg->redis.unix_socket)
        cfg_error(L, x->cluster, "redis.cluster",
                  "a cluster is reached by host and port; redis.unix_socket is given");
    if (cfg->redis.db != 0)
        cfg_error(L, x->cluster, "redis.cluster",
                  "a Redis Cluster has database 0 only; redis.db is %d", cfg->redis.db);
}

/* What a Redis TLS configuration needs beyond its keys' own checks. */
static void check_redis_tls(cfg_loader_t *L, main_extra_t *x)
{
    const gw_config_t *cfg = L->cfg;
    if (!cfg->redis.tls.enabled) {
        if (x->tls_other)
            cfg_error(L, x->tls_other, "redis.tls",
                      "redis.tls_* settings are given but redis.tls is not true: the connection "
                      "would not use TLS");
        return;
    }
#ifndef GW_HAVE_REDIS_TLS
    cfg_error(L, x->tls[TLS_ON], "redis.tls",
              "this gapwatchd is built without Redis TLS: hiredis %s has no TLS support "
              "(hiredis_ssl needs hiredis >= 1.0, e.g. Debian 13's libhiredis-dev)",
              GW_HIREDIS_VERSION);
#else
    if (cfg->redis.unix_socket && *cfg->redis.unix_socket)
        cfg_error(L, x->tls[TLS_ON], "redis.tls",
                  "TLS is for host and port; redis.unix_socket is given (a local socket needs no "
                  "TLS)");
    if (!cfg->redis.tls.cert != !cfg->redis.tls.key)
        cfg_error(L, x->tls[cfg->redis.tls.cert ? TLS_CERT : TLS_KEY],
                  cfg->redis.tls.cert ? "redis.tls_key" : "redis.tls_cert",
                  "a client certificate needs both redis.tls_cert and redis.tls_key");
#ifndef GW_REDIS_TLS_VERIFY_OPTION
    if (!cfg->redis.tls.verify)
        cfg_error(L, x->tls[TLS_VERIFY], "redis.tls_verify",
                  "false needs hiredis >= 1.2 (this gapwatchd is built with hiredis %s, which "
                  "always verifies)",
                  GW_HIREDIS_VERSION);
#endif
#endif
}

static void check_cross(cfg_loader_t *L, main_extra_t *x)
{
    check_redis_tls(L, x);
    check_redis_cluster(L, x);
    gw_config_t *cfg = L->cfg;
    const char *t[3] = {cfg->kafka.topic_events, cfg->kafka.topic_dead_letter,
                        cfg->kafka.topic_alerts};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (t[i] && t[j] && !strcmp(t[i], t[j]))
                cfg_error(L, x->topics, "kafka.topics",
                          "topic \"%s\" is used for two purposes; events, dead_letter and alerts "
                          "need distinct topics",
                          t[i]);
    bool declared = (L->flags & GW_CONFIG_NO_SECRETS) && (x->password_env || x->password_file);
    if (cfg->redis.user && *cfg->redis.user && !cfg->redis.password && !declared)
        cfg_error(L, NULL, "redis.user",
                  "an ACL user needs a password (redis.password_env or redis.password_file)");
    int64_t longest = 0;
    for (int i = 0; i < cfg->nwindows; i++) {
        int64_t span = cfg->windows[i].length_ms + cfg->windows[i].grace_ms;
        if (span > longest)
            longest = span;
    }
    if (cfg->key_ttl_ms < longest)
        cfg_error(L, NULL, "key_ttl", "must be at least the longest window plus its grace");
}

static int load(const char *text, size_t len, const char *name, unsigned flags, gw_config_t **out,
                char *errstr, size_t errstr_size)
{
    gw_arena_t *arena;
    gw_config_t *cfg = config_new(&arena);
    if (!cfg) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        return -1;
    }
    cfg->source = gw_arena_strndup(arena, name, strlen(name));
    cfg->text = gw_arena_strndup(arena, text, len);
    main_extra_t extra = {0};
    cfg_loader_t L = {.file = cfg->source,
                      .cfg = cfg,
                      .arena = arena,
                      .err = errstr,
                      .err_size = errstr_size,
                      .flags = flags,
                      .extra = &extra};
    if (errstr_size)
        errstr[0] = '\0';

    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &L.doc)) {
        snprintf(errstr, errstr_size, "%s:%zu: YAML syntax error: %s%s%s\n", name,
                 parser.problem_mark.line + 1, parser.problem ? parser.problem : "unknown",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        gw_config_free(cfg);
        return -1;
    }
    yaml_parser_delete(&parser);

    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (root)
        cfg_walk_mapping(&L, root, "", top_fields, cfg);
    read_password(&L, &extra);
    check_alertmanager_auth(&L, &extra);
    check_cross(&L, &extra);
    cfg_resolve_playbooks(&L);
    for (int i = 0; i < L.cfg->nplaybooks; i++)
        for (int k = 0; k < GW_PERIOD_COUNT; k++)
            if (!isnan(L.cfg->playbooks[i].period_target[k]))
                L.cfg->periods |= 1u << k;
    resolve_alert_windows(&L, &extra);
    yaml_document_delete(&L.doc);

    if (L.nerr) {
        if (L.err_len && errstr[L.err_len - 1] == '\n')
            errstr[L.err_len - 1] = '\0';
        gw_config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int gw_config_load_string(const char *yaml, const char *name, gw_config_t **out, char *errstr,
                          size_t errstr_size)
{
    return load(yaml, strlen(yaml), name, 0, out, errstr, errstr_size);
}

int gw_config_load_file(const char *path, gw_config_t **out, char *errstr, size_t errstr_size)
{
    return gw_config_load_file_flags(path, 0, out, errstr, errstr_size);
}

int gw_config_load_file_flags(const char *path, unsigned flags, gw_config_t **out, char *errstr,
                              size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf || rerr) {
        free(buf);
        snprintf(errstr, errstr_size, "%s: cannot read", path);
        return -1;
    }
    buf[len] = '\0';
    int rc = load(buf, len, path, flags, out, errstr, errstr_size);
    free(buf);
    return rc;
}

void gw_config_free(gw_config_t *cfg)
{
    if (!cfg)
        return;
    gw_config_free(cfg->reloaded);
    gw_arena_free(cfg->internal);
}
