/*
 * gw_pbjson: any protobuf-c message as a jansson object, field names as in
 * the .proto, enums by name, 64-bit integers as JSON integers, NaN and
 * infinities as null. Used for the alert stream's JSON copy and the CLI.
 *
 * Ownership: `msg` is borrowed for the call; the returned json_t is a new reference the caller
 *   releases with json_decref.
 * Errors: NULL on OOM (jansson's or malloc's).
 * Threads: Any thread, pure.
 */
#ifndef GW_PBJSON_H
#define GW_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new reference to an object holding every field of `msg` (borrowed), or
 * NULL on OOM. */
json_t *gw_pbjson_from_message(const ProtobufCMessage *msg);

#endif
