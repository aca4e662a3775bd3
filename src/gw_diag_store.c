/*
 * gw_diag_store: snapshots and export hashes (see gw_diag_store.h) on the
 * gw_redis transport of a gw_store. A snapshot is replaced in one
 * MULTI/EXEC (DEL, HSET, PEXPIRE), so a reader never sees half of one,
 * and read back whole with one HGETALL (gw_store_hgetall).
 */
#include "gw_diag_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_keys.h"
#include "gw_map.h"
#include "gw_redis.h"
#include "gw_resp.h"
#include "gw_store_internal.h"

struct gw_diag_store_s {
    const gw_config_t *cfg;
    gw_store_t *store;        /* borrowed: its connection */
    gw_map_t *export_tenants; /* tenants already added to the export set */
    gw_resp_t resp;
};

gw_diag_store_t *gw_diag_store_new(const gw_config_t *cfg, gw_store_t *store)
{
    gw_diag_store_t *ds = calloc(1, sizeof(*ds));
    if (!ds)
        return NULL;
    ds->cfg = cfg;
    ds->store = store;
    ds->export_tenants = gw_map_new();
    if (!ds->export_tenants) {
        free(ds);
        return NULL;
    }
    return ds;
}

void gw_diag_store_free(gw_diag_store_t *ds)
{
    if (!ds)
        return;
    gw_map_free(ds->export_tenants, NULL);
    gw_resp_free(&ds->resp);
    free(ds);
}

/* Queues the `n` commands built in ds->resp. */
static int queue(gw_diag_store_t *ds, size_t n, char *errstr, size_t errstr_size)
{
    if (gw_redis_queue(gw_store_redis(ds->store), &ds->resp, n) != GW_REDIS_OK) {
        snprintf(errstr, errstr_size, "redis: cannot build a write (out of memory)");
        gw_store_disconnect(ds->store);
        return GW_STORE_ERROR;
    }
    return GW_STORE_OK;
}

/* Queues the atomic replacement of hash `key` by `snap`. */
static int queue_replace(gw_diag_store_t *ds, const char *key, const gw_snapshot_t *snap,
                         char *errstr, size_t errstr_size)
{
    int rc = gw_store_connect(ds->store, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gw_resp_t *b = &ds->resp;
    size_t n = 3;
    gw_resp_begin(b);
    gw_resp_arg(b, "MULTI", 5);
    gw_resp_end(b);
    gw_resp_begin(b);
    gw_resp_arg(b, "DEL", 3);
    gw_resp_arg_str(b, key);
    gw_resp_end(b);
    if (snap->n) {
        gw_resp_begin(b);
        gw_resp_arg(b, "HSET", 4);
        gw_resp_arg_str(b, key);
        for (size_t f = 0; f < snap->n; f++) {
            gw_resp_arg_str(b, snap->fields[f]);
            gw_resp_arg_str(b, snap->values[f]);
        }
        gw_resp_end(b);
        n++;
        if (ds->cfg->key_ttl_ms > 0) {
            gw_resp_begin(b);
            gw_resp_arg(b, "PEXPIRE", 7);
            gw_resp_arg_str(b, key);
            gw_resp_arg_i64(b, ds->cfg->key_ttl_ms);
            gw_resp_end(b);
            n++;
        }
    }
    gw_resp_begin(b);
    gw_resp_arg(b, "EXEC", 4);
    gw_resp_end(b);
    return queue(ds, n, errstr, errstr_size);
}

int gw_diag_store_queue_diagnosis(gw_diag_store_t *ds, const char *tenant, const char *rep,
                                  const char *window, const gw_snapshot_t *snap, char *errstr,
                                  size_t errstr_size)
{
    char key[GW_KEY_MAX];
    gw_entity_t e = {GW_ENTITY_REP, tenant, rep};
    if (gw_keys_diagnosis(key, sizeof(key), ds->cfg->key_prefix, &e, window) < 0) {
        snprintf(errstr, errstr_size, "diagnosis key of %s:%s is too long", tenant, rep);
        return GW_STORE_ERROR;
    }
    return queue_replace(ds, key, snap, errstr, errstr_size);
}

int gw_diag_store_queue_pace(gw_diag_store_t *ds, const char *tenant, const char *rep,
                             const char *kind, const gw_snapshot_t *snap, char *errstr,
                             size_t errstr_size)
{
    char key[GW_KEY_MAX];
    gw_entity_t e = {GW_ENTITY_REP, tenant, rep};
    if (gw_keys_pace(key, sizeof(key), ds->cfg->key_prefix, &e, kind) < 0) {
        snprintf(errstr, errstr_size, "pace key of %s:%s is too long", tenant, rep);
        return GW_STORE_ERROR;
    }
    return queue_replace(ds, key, snap, errstr, errstr_size);
}

int gw_diag_store_queue_export(gw_diag_store_t *ds, const char *tenant, const gw_export_t *x,
                               char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    if (gw_keys_export(key, sizeof(key), ds->cfg->key_prefix, tenant) < 0) {
        snprintf(errstr, errstr_size, "export key of tenant %s is too long", tenant);
        return GW_STORE_ERROR;
    }
    int rc = gw_store_connect(ds->store, errstr, errstr_size);
    if (rc != GW_STORE_OK)
        return rc;
    gw_resp_t *b = &ds->resp;
    if (!gw_map_get(ds->export_tenants, tenant)) {
        /* The exporter script finds the tenants through this set. */
        char set[GW_KEY_MAX];
        gw_keys_export_tenants(set, sizeof(set), ds->cfg->key_prefix);
        gw_resp_begin(b);
        gw_resp_arg(b, "SADD", 4);
        gw_resp_arg_str(b, set);
        gw_resp_arg_str(b, tenant);
        gw_resp_end(b);
        rc = queue(ds, 1, errstr, errstr_size);
        if (rc != GW_STORE_OK)
            return rc;
        if (gw_map_put(ds->export_tenants, tenant, (void *)1) != 0) {
            snprintf(errstr, errstr_size, "out of memory");
            return GW_STORE_ERROR;
        }
    }
    if (x->n) {
        gw_resp_begin(b);
        gw_resp_arg(b, "HSET", 4);
        gw_resp_arg_str(b, key);
        for (size_t i = 0; i < x->n; i++) {
            gw_resp_arg_str(b, x->fields[i]);
            gw_resp_arg_str(b, x->values[i]);
        }
        gw_resp_end(b);
        rc = queue(ds, 1, errstr, errstr_size);
        if (rc != GW_STORE_OK)
            return rc;
    }
    if (x->ndel) {
        gw_resp_begin(b);
        gw_resp_arg(b, "HDEL", 4);
        gw_resp_arg_str(b, key);
        for (size_t i = 0; i < x->ndel; i++)
            gw_resp_arg_str(b, x->dels[i]);
        gw_resp_end(b);
        rc = queue(ds, 1, errstr, errstr_size);
    }
    return rc;
}

/* HGETALL of a rep's snapshot hash named by `key_of` (gw_keys_diagnosis or
 * gw_keys_pace) for `name`; `what` names it in errors. */
static int read_rep_hash(gw_diag_store_t *ds,
                         int (*key_of)(char *, size_t, const char *, const gw_entity_t *,
                                       const char *),
                         const char *what, const char *tenant, const char *rep, const char *name,
                         gw_store_field_fn fn, void *ctx, char *errstr, size_t errstr_size)
{
    char key[GW_KEY_MAX];
    gw_entity_t e = {GW_ENTITY_REP, tenant, rep};
    if (key_of(key, sizeof(key), ds->cfg->key_prefix, &e, name) < 0) {
        snprintf(errstr, errstr_size, "%s key of %s:%s is too long", what, tenant, rep);
        return GW_STORE_ERROR;
    }
    return gw_store_hgetall(ds->store, key, fn, ctx, errstr, errstr_size);
}

int gw_diag_store_read_diagnosis(gw_diag_store_t *ds, const char *tenant, const char *rep,
                                 const char *window, gw_store_field_fn fn, void *ctx, char *errstr,
                                 size_t errstr_size)
{
    return read_rep_hash(ds, gw_keys_diagnosis, "diagnosis", tenant, rep, window, fn, ctx, errstr,
                         errstr_size);
}

int gw_diag_store_read_pace(gw_diag_store_t *ds, const char *tenant, const char *rep,
                            const char *kind, gw_store_field_fn fn, void *ctx, char *errstr,
                            size_t errstr_size)
{
    return read_rep_hash(ds, gw_keys_pace, "pace", tenant, rep, kind, fn, ctx, errstr, errstr_size);
}

int gw_diag_store_flush(gw_diag_store_t *ds, char *errstr, size_t errstr_size)
{
    return gw_store_flush(ds->store, errstr, errstr_size);
}
