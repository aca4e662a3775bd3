/*
 * jsonline: one JSON line in protobuf's canonical JSON mapping (proto3 JSON)
 * to a packed gapwatch.v1.Event: field names as in the .proto
 * (`occurred_at_ms`) or lowerCamelCase (`occurredAtMs`), 64-bit integers as
 * JSON numbers or decimal strings, enums by name or number, null as the
 * default. Checks the JSON against the message's types; the daemon's rules
 * are gw_decode's (run them on the packed bytes).
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
