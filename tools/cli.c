/* Helpers shared by the CLI's subcommands. */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
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

gw_config_t *cli_load_config(const char *cmd, const char *path, const char *redis_addr, char *host,
                             size_t hostsize, int *usage)
{
    static char err[8192];
    gw_config_t *cfg = NULL;
    *usage = 0;
    if (redis_addr && !strrchr(redis_addr, ':')) {
        fprintf(stderr, "gapwatch %s: -r expects HOST:PORT, got \"%s\"\n", cmd, redis_addr);
        *usage = 1;
        return NULL;
    }
    if (path) {
        if (gw_config_load_file(path, &cfg, err, sizeof(err)) != 0) {
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
    return cfg;
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
