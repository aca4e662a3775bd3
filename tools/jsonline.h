/*
 * jsonline: one JSON line (fields named as in proto/gapwatch/v1/event.proto,
 * enums by name) to a packed gapwatch.v1.Event. Checks types, not the
 * daemon's rules.
 */
#ifndef GW_JSONLINE_H
#define GW_JSONLINE_H

#include <stddef.h>
#include <stdint.h>

/* Converts `len` bytes at `line` (borrowed, need not be NUL-terminated) into
 * a packed Event in `*out` (malloc'ed; the caller frees it) and its rep_id
 * into `key`. Returns 0, or -1 with a sentence naming the field in `err`
 * (nothing to free). */
int gw_jsonline_to_event(const char *line, size_t len, uint8_t **out, size_t *out_len, char *key,
                         size_t key_size, char *err, size_t errsize);

#endif
