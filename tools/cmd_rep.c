/*
 * gapwatch rep TENANT REP: a rep's windows as Redis holds them (one HGETALL
 * per window: the totals are kept current by gapwatchd, never summed here).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gw_config.h"
#include "gw_keys.h"
#include "gw_store.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: gapwatch rep [-c CONFIG] [-r HOST:PORT] [--json] TENANT REP\n"
                 "\n"
                 "  -c CONFIG      gapwatchd's YAML config (Redis address, key prefix, windows)\n"
                 "  -r HOST:PORT   Redis address (overrides the config)\n"
                 "      --json     print JSON instead of a table\n");
}

typedef struct {
    json_t *obj;
} collect_t;

static int collect(void *ctx, const char *field, const char *value)
{
    collect_t *c = ctx;
    char *end;
    long long v = strtoll(value, &end, 10);
    json_object_set_new(c->obj, field, *end ? json_string(value) : json_integer(v));
    return 0;
}

static void format_ms(long long ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cmd_rep(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *redis_addr = NULL;
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'r':
            redis_addr = optarg;
            break;
        case 'j':
            as_json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *tenant = argv[optind], *rep = argv[optind + 1];
    static char err[8192];
    gw_config_t *cfg = NULL;
    if (config_path) {
        if (gw_config_load_file(config_path, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    } else if (!(cfg = gw_config_defaults())) {
        return 1;
    }
    char host[256];
    if (redis_addr) {
        const char *colon = strrchr(redis_addr, ':');
        if (!colon) {
            fprintf(stderr, "gapwatch rep: -r expects HOST:PORT\n");
            gw_config_free(cfg);
            return 2;
        }
        snprintf(host, sizeof(host), "%.*s", (int)(colon - redis_addr), redis_addr);
        cfg->redis.host = host;
        cfg->redis.port = atoi(colon + 1);
        cfg->redis.unix_socket = NULL;
    }
    gw_store_t *store = gw_store_new(cfg);
    int rc = 0;
    json_t *out = json_object();
    json_object_set_new(out, "tenant", json_string(tenant));
    json_object_set_new(out, "rep", json_string(rep));
    gw_entity_t e = {GW_ENTITY_REP, tenant, rep};
    char key[GW_KEY_MAX];
    collect_t meta = {json_object()};
    gw_keys_meta(key, sizeof(key), cfg->key_prefix, &e);
    if (gw_store_read_hash(store, key, collect, &meta, err, sizeof(err)) != GW_STORE_OK) {
        fprintf(stderr, "gapwatch rep: %s\n", err);
        json_decref(meta.obj);
        rc = 1;
        goto out;
    }
    json_object_set_new(out, "meta", meta.obj);
    json_t *windows = json_object();
    json_object_set_new(out, "windows", windows);
    for (int w = 0; w < cfg->nwindows; w++) {
        collect_t tot = {json_object()};
        gw_keys_totals(key, sizeof(key), cfg->key_prefix, &e, cfg->windows[w].name);
        if (gw_store_read_hash(store, key, collect, &tot, err, sizeof(err)) != GW_STORE_OK) {
            fprintf(stderr, "gapwatch rep: %s\n", err);
            json_decref(tot.obj);
            rc = 1;
            goto out;
        }
        json_object_set_new(windows, cfg->windows[w].name, tot.obj);
    }
    if (as_json) {
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", s);
        free(s);
        goto out;
    }
    json_t *team = json_object_get(meta.obj, "team");
    if (!team && json_object_size(meta.obj) == 0) {
        printf("rep %s/%s: no data in Redis (prefix %s)\n", tenant, rep, cfg->key_prefix);
        goto out;
    }
    printf("rep %s/%s  team %s\n", tenant, rep, team ? json_string_value(team) : "?");
    for (int w = 0; w < cfg->nwindows; w++) {
        json_t *tot = json_object_get(windows, cfg->windows[w].name);
        json_t *wm = json_object_get(tot, "wm");
        char when[32] = "-";
        if (json_is_integer(wm))
            format_ms((long long)json_integer_value(wm), when, sizeof(when));
        printf("\n  window %s (watermark %s)\n", cfg->windows[w].name, when);
        const char *field;
        json_t *v;
        json_object_foreach(tot, field, v)
        {
            if (!strcmp(field, "wm"))
                continue;
            printf("    %-24s %lld\n", field, (long long)json_integer_value(v));
        }
    }
out:
    json_decref(out);
    gw_store_free(store);
    gw_config_free(cfg);
    return rc;
}
