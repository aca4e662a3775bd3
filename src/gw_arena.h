/*
 * gw_arena: a bump allocator reset in one call, for memory whose lifetime is
 * one message or one batch (decoded protobuf, Redis command arguments).
 *
 * Allocation never fails silently: when the current chunk is full a new one
 * is malloc'ed (at least the requested size); gw_arena_reset() keeps the
 * first chunk and frees the others, so a steady workload stops allocating
 * after warm-up.
 *
 * Ownership: The arena owns every chunk and every allocation from it: pointers it returns (and
 *   memory protobuf-c unpacks through gw_arena_protobuf) are valid until the next gw_arena_reset or
 *   gw_arena_free; the caller frees nothing else.
 * Errors: gw_arena_new, gw_arena_alloc and gw_arena_strndup return NULL when malloc fails; nothing
 *   else fails.
 * Threads: One thread per arena; no shared state.
 */
#ifndef GW_ARENA_H
#define GW_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct gw_arena_s gw_arena_t;

/* Creates an arena whose first chunk holds `chunk_size` bytes. NULL on OOM.
 * Free with gw_arena_free(). */
gw_arena_t *gw_arena_new(size_t chunk_size);

/* Frees the arena and every allocation from it. Accepts NULL. */
void gw_arena_free(gw_arena_t *arena);

/* Returns `size` bytes aligned for any type, valid until the next reset;
 * NULL only when malloc fails. */
void *gw_arena_alloc(gw_arena_t *arena, size_t size);

/* Copies `len` bytes of `s` and a terminating NUL into the arena. */
char *gw_arena_strndup(gw_arena_t *arena, const char *s, size_t len);

/* Forgets every allocation; keeps the first chunk for reuse. */
void gw_arena_reset(gw_arena_t *arena);

/* A protobuf-c allocator drawing from `arena` (its free is a no-op). The
 * returned object lives inside the arena struct: valid until gw_arena_free. */
ProtobufCAllocator *gw_arena_protobuf(gw_arena_t *arena);

#endif
