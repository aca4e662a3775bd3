/* Helpers shared by the CLI's subcommands. */
#include "cli.h"

#include "gw_keys.h"
#include "gw_time.h"
#include "jsonline.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int cli_read_bootstrap_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gapwatch: cannot read bootstrap file %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!fgets(buf, (int)size, f)) {
        fclose(f);
        fprintf(stderr, "gapwatch: bootstrap file %s is empty\n", path);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

int cli_conf_set_kv(rd_kafka_conf_t *conf, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "gapwatch: -X expects name=value, got \"%s\"\n", kv);
        return -1;
    }
    char name[256];
    size_t n = (size_t)(eq - kv);
    if (n >= sizeof(name)) {
        fprintf(stderr, "gapwatch: -X property name too long\n");
        return -1;
    }
    memcpy(name, kv, n);
    name[n] = '\0';
    char err[256];
    if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "gapwatch: -X %s: %s\n", name, err);
        return -1;
    }
    return 0;
}

int cli_validator_open(const char *cmd, const char *config_path, gw_config_t **cfg,
                       gw_decoder_t **dec)
{
    static char err[8192];
    *cfg = NULL;
    *dec = NULL;
    if (config_path && gw_config_load_file(config_path, cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (!config_path)
        *cfg = gw_config_defaults();
    if (!*cfg || !(*dec = gw_decoder_new(*cfg))) {
        fprintf(stderr, "gapwatch %s: out of memory\n", cmd);
        gw_config_free(*cfg);
        *cfg = NULL;
        return -1;
    }
    return 0;
}

int cli_kafka_option(cli_kafka_opts_t *o, int c, const char *arg)
{
    switch (c) {
    case 'b':
        snprintf(o->bootstrap, sizeof(o->bootstrap), "%s", arg);
        return 1;
    case 'F':
        return cli_read_bootstrap_file(arg, o->bootstrap, sizeof(o->bootstrap)) == 0 ? 1 : -1;
    case 't':
        o->topic = arg;
        return 1;
    case 'X':
        return cli_conf_set_kv(o->conf, arg) == 0 ? 1 : -1;
    default:
        return 0;
    }
}

int cli_redis_option(cli_redis_opts_t *o, int c, const char *arg)
{
    switch (c) {
    case 'c':
        o->config_path = arg;
        return 1;
    case 'r':
        o->redis_addr = arg;
        return 1;
    case CLI_OPT_USER:
        o->user = arg;
        return 1;
    case CLI_OPT_PASSWORD_ENV:
        o->password_env = arg;
        return 1;
    case CLI_OPT_PASSWORD_FILE:
        o->password_file = arg;
        return 1;
    default:
        return 0;
    }
}

/* The first line of `path` (as the daemon reads redis.password_file). */
static int read_password_file(const char *cmd, const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gapwatch %s: --password-file: cannot read %s: %s\n", cmd, path,
                strerror(errno));
        return -1;
    }
    if (!fgets(buf, (int)size, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) {
        fprintf(stderr, "gapwatch %s: --password-file: %s is empty\n", cmd, path);
        return -1;
    }
    return 0;
}

gw_config_t *cli_load_config(const char *cmd, const cli_redis_opts_t *o, char *host,
                             size_t hostsize, int *usage)
{
    static char err[8192];
    static char password[1024];
    gw_config_t *cfg = NULL;
    *usage = 0;
    const char *redis_addr = o->redis_addr;
    if (redis_addr && !strrchr(redis_addr, ':')) {
        fprintf(stderr, "gapwatch %s: -r expects HOST:PORT, got \"%s\"\n", cmd, redis_addr);
        *usage = 1;
        return NULL;
    }
    if (o->password_env && o->password_file) {
        fprintf(stderr, "gapwatch %s: give --password-env or --password-file, not both\n", cmd);
        *usage = 1;
        return NULL;
    }
    if (o->config_path) {
        if (gw_config_load_file(o->config_path, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return NULL;
        }
    } else if (!(cfg = gw_config_defaults())) {
        fprintf(stderr, "gapwatch %s: out of memory\n", cmd);
        return NULL;
    }
    if (redis_addr) {
        const char *colon = strrchr(redis_addr, ':');
        snprintf(host, hostsize, "%.*s", (int)(colon - redis_addr), redis_addr);
        cfg->redis.host = host;
        cfg->redis.port = atoi(colon + 1);
        cfg->redis.unix_socket = NULL;
    }
    if (o->user)
        cfg->redis.user = o->user;
    if (o->password_env) {
        const char *v = getenv(o->password_env);
        if (!v || !*v) {
            fprintf(stderr, "gapwatch %s: --password-env: environment variable %s is not set\n",
                    cmd, o->password_env);
            gw_config_free(cfg);
            return NULL;
        }
        cfg->redis.password = v;
    }
    if (o->password_file) {
        if (read_password_file(cmd, o->password_file, password, sizeof(password)) != 0) {
            gw_config_free(cfg);
            return NULL;
        }
        cfg->redis.password = password;
    }
    if (cfg->redis.user && *cfg->redis.user && !cfg->redis.password) {
        fprintf(stderr,
                "gapwatch %s: Redis user %s needs a password (--password-env or "
                "--password-file, or redis.password_env/password_file in the config)\n",
                cmd, cfg->redis.user);
        gw_config_free(cfg);
        *usage = 1;
        return NULL;
    }
    return cfg;
}

gw_store_t *cli_store_open(const char *cmd, const gw_config_t *cfg)
{
    gw_store_t *store = gw_store_new(cfg);
    if (!store) {
        fprintf(stderr, "gapwatch %s: out of memory\n", cmd);
        return NULL;
    }
    gw_store_set_read_only(store);
    char err[512];
    /* Connect (AUTH, SELECT) rather than PING: PING is @connection, which a
     * +@read user may lack. */
    if (gw_store_connect(store, err, sizeof(err)) != GW_STORE_OK) {
        fprintf(stderr, "gapwatch %s: %s\n", cmd, err);
        gw_store_free(store);
        return NULL;
    }
    return store;
}

static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* Only with -X debug=...: the user asked for librdkafka's own lines. */
    const cli_kafka_state_t *st = rd_kafka_opaque(rk);
    if (st && st->verbose)
        fprintf(stderr, "%%%d|%s|%s\n", level, fac, buf);
}

static void quiet_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    cli_kafka_state_t *st = opaque;
    (void)rk;
    if (!st)
        return;
    snprintf(st->last_error, sizeof(st->last_error), "%s", reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        st->fatal = 1;
}

void cli_kafka_quiet(rd_kafka_conf_t *conf, cli_kafka_state_t *st)
{
    char dbg[256];
    size_t n = sizeof(dbg);
    st->verbose =
        rd_kafka_conf_get(conf, "debug", dbg, &n) == RD_KAFKA_CONF_OK && n > 1 && dbg[0] != '\0';
    rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
    rd_kafka_conf_set_error_cb(conf, quiet_error_cb);
    rd_kafka_conf_set_opaque(conf, st);
}

int cli_kafka_probe(const char *cmd, rd_kafka_t *rk, const char *bootstrap, const char *topic,
                    int timeout_ms, const cli_kafka_state_t *st)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        fprintf(stderr, "gapwatch %s: topic %s: %s\n", cmd, topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (err) {
        bool why = st && st->last_error[0];
        fprintf(stderr, "gapwatch %s: cannot reach Kafka at %s within %d ms: %s%s%s%s\n", cmd,
                bootstrap, timeout_ms, rd_kafka_err2str(err), why ? " (" : "",
                why ? st->last_error : "", why ? ")" : "");
        return -1;
    }
    int n = -1;
    if (md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    else
        fprintf(stderr, "gapwatch %s: topic %s at %s: %s\n", cmd, topic, bootstrap,
                rd_kafka_err2str(md->topic_cnt == 1 ? md->topics[0].err
                                                    : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
    rd_kafka_metadata_destroy(md);
    return n;
}

int cli_check_id(const char *cmd, const char *what, const char *id)
{
    size_t bad = 0, len = strlen(id);
    if (gw_keys_id_valid(id, len, &bad))
        return 0;
    if (len == 0 || len > 64)
        fprintf(stderr,
                "gapwatch %s: %s \"%s\" is not a valid ID (1-64 bytes of [A-Za-z0-9._@-])\n", cmd,
                what, id);
    else
        fprintf(stderr,
                "gapwatch %s: %s \"%s\" is not a valid ID: byte %zu is not one of "
                "[A-Za-z0-9._@-]\n",
                cmd, what, id, bad + 1);
    return -1;
}

int cli_collect_json(void *ctx, const char *field, const char *value)
{
    json_t *obj = ctx;
    char *end;
    double d = strtod(value, &end);
    if (*value && !*end)
        json_object_set_new(obj, field,
                            d == floor(d) && fabs(d) < 9e15 ? json_integer((json_int_t)d)
                                                            : json_real(d));
    else
        json_object_set_new(obj, field, json_string(value));
    return 0;
}

int cli_event_from_json(gw_decoder_t *dec, const char *line, size_t len, uint8_t **out,
                        size_t *out_len, char *key, size_t key_size, char *err, size_t errsize)
{
    if (gw_jsonline_to_event(line, len, out, out_len, key, key_size, err, errsize) != 0)
        return -1;
    if (!dec)
        return 0;
    gw_event_t ev;
    char detail[512];
    gw_reason_t r =
        gw_decoder_decode(dec, *out, *out_len, gw_now_ms(), &ev, detail, sizeof(detail));
    if (r == GW_REASON_OK)
        return 0;
    snprintf(err, errsize, "%s: %s", gw_reason_str(r), detail);
    free(*out);
    *out = NULL;
    return -1;
}

int cli_header_add(rd_kafka_headers_t **hdrs, const char *cmd, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "gapwatch %s: -H expects name=value, got \"%s\"\n", cmd, kv);
        return -1;
    }
    if (!*hdrs)
        *hdrs = rd_kafka_headers_new(4);
    rd_kafka_header_add(*hdrs, kv, eq - kv, eq + 1, -1);
    return 0;
}
