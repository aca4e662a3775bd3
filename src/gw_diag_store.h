/*
 * gw_diag_store: the evaluation's output layout in Redis, typed. Per rep
 * and window the diagnosis snapshot "<prefix>:{T:R}:diag:<W>", per rep and
 * period kind the pace snapshot "<prefix>:{T:R}:pace:<K>" (each replaced
 * whole, atomically, expiring key_ttl after the write), and per tenant the
 * export hash for Prometheus "<prefix>:export:{T}" with the set of tenants
 * that have one. Fields in docs/redis.md. Every key comes from gw_keys; the
 * commands go through the gw_redis transport of a gw_store, whose
 * connection it shares.
 *
 * Writes are queued (arguments copied) and their replies read by
 * gw_diag_store_flush(): one round trip for a chunk of reps. Reads (the
 * CLI's: gapwatch rep, gapwatch scoreboard) are typed too, by rep and
 * window or period kind, and wait for their reply; they work on a reader
 * store (gw_store_set_read_only). Call them with nothing queued.
 *
 * Ownership: gw_diag_store_new() borrows the config and the store (both
 * must outlive it); free it with gw_diag_store_free(). Strings passed in
 * are borrowed for the call; those a read hands its callback, for that
 * call.
 *
 * Errors: GW_STORE_OK, GW_STORE_DOWN (no connection; dropped) or
 * GW_STORE_ERROR (a key too long, or Redis refused a command), with a
 * sentence in the caller's `errstr`. After a failure nothing queued is
 * known to have happened: the evaluation is repeated. A snapshot Redis
 * does not hold (never written, or expired) reads as GW_STORE_OK with no
 * fields.
 *
 * Threads: the thread that owns the gw_store (the evaluator's, on the
 * loop; the CLI's main thread).
 */
#ifndef GW_DIAG_STORE_H
#define GW_DIAG_STORE_H

#include <stddef.h>

#include "gw_config.h"
#include "gw_snapshot.h"
#include "gw_store.h"

typedef struct gw_diag_store_s gw_diag_store_t;

/* NULL on OOM. Both arguments borrowed. */
gw_diag_store_t *gw_diag_store_new(const gw_config_t *cfg, gw_store_t *store);

/* Accepts NULL. */
void gw_diag_store_free(gw_diag_store_t *ds);

/* Queues the replacement of the diagnosis snapshot of rep `tenant`:`rep` in
 * window `window` by `snap` (borrowed until the call returns). */
int gw_diag_store_queue_diagnosis(gw_diag_store_t *ds, const char *tenant, const char *rep,
                                  const char *window, const gw_snapshot_t *snap, char *errstr,
                                  size_t errstr_size);

/* Queues the replacement of the pace snapshot of rep `tenant`:`rep` in the
 * period kind `kind` ("week", "month", "quarter") by `snap`. */
int gw_diag_store_queue_pace(gw_diag_store_t *ds, const char *tenant, const char *rep,
                             const char *kind, const gw_snapshot_t *snap, char *errstr,
                             size_t errstr_size);

/* Queues the export fields of `x` (set, then deleted) in the tenant's
 * export hash, adding the tenant to the set of exported tenants the first
 * time this store sees it. */
int gw_diag_store_queue_export(gw_diag_store_t *ds, const char *tenant, const gw_export_t *x,
                               char *errstr, size_t errstr_size);

/* Reads the diagnosis snapshot of rep `tenant`:`rep` in window `window`
 * (gw_keys_diagnosis; fields in docs/redis.md), calling `fn` per field
 * until it returns non-zero. */
int gw_diag_store_read_diagnosis(gw_diag_store_t *ds, const char *tenant, const char *rep,
                                 const char *window, gw_store_field_fn fn, void *ctx, char *errstr,
                                 size_t errstr_size);

/* Reads the pace snapshot of rep `tenant`:`rep` in the period kind `kind`
 * ("week", "month", "quarter"; gw_keys_pace), calling `fn` per field until
 * it returns non-zero. */
int gw_diag_store_read_pace(gw_diag_store_t *ds, const char *tenant, const char *rep,
                            const char *kind, gw_store_field_fn fn, void *ctx, char *errstr,
                            size_t errstr_size);

/* Waits for the replies of everything queued on the connection. */
int gw_diag_store_flush(gw_diag_store_t *ds, char *errstr, size_t errstr_size);

#endif
