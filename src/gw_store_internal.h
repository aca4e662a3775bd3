/*
 * gw_store_internal: the one generic hash read of gw_store.c, shared with
 * the typed stores built on its connection (gw_diag_store). Not a public
 * contract: only the store modules include it. Their public reads are
 * typed and build each key with gw_keys; this is what they call once they
 * have the key, so that no public header offers a read of any key.
 *
 * Ownership: `key` is borrowed for the call; the field and value handed
 * to `fn` are borrowed for that call only.
 * Errors: GW_STORE_OK (also for a key Redis does not hold: no calls),
 *   GW_STORE_DOWN (the connection could not be made or broke; dropped) or
 *   GW_STORE_ERROR (Redis answered something else than a hash, e.g.
 *   WRONGTYPE or NOPERM), with a sentence naming the key in `errstr`.
 * Threads: the thread that owns the gw_store.
 */
#ifndef GW_STORE_INTERNAL_H
#define GW_STORE_INTERNAL_H

#include <stddef.h>

#include "gw_store.h"

/* Connects if needed, then HGETALL `key`, calling `fn` per field until it
 * returns non-zero. `key` must come from gw_keys. */
int gw_store_hgetall(gw_store_t *store, const char *key, gw_store_field_fn fn, void *ctx,
                     char *errstr, size_t errstr_size);

#endif
