/*
 * gw_arena: chunk list bump allocator. Invariant: `head` is the chunk being
 * filled; `first` is never freed before gw_arena_free().
 */
#include "gw_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk_s {
    struct chunk_s *next;
    size_t size;
    size_t used;
    max_align_t data[];
} chunk_t;

struct gw_arena_s {
    chunk_t *first;
    chunk_t *head;
    size_t chunk_size;
    ProtobufCAllocator pb;
};

static chunk_t *chunk_new(size_t size)
{
    chunk_t *c = malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

static void *pb_alloc(void *data, size_t size)
{
    return gw_arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

gw_arena_t *gw_arena_new(size_t chunk_size)
{
    gw_arena_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->chunk_size = chunk_size < 256 ? 256 : chunk_size;
    a->first = a->head = chunk_new(a->chunk_size);
    if (!a->first) {
        free(a);
        return NULL;
    }
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
    return a;
}

void gw_arena_free(gw_arena_t *a)
{
    if (!a)
        return;
    chunk_t *c = a->first;
    while (c) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *gw_arena_alloc(gw_arena_t *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    chunk_t *c = a->head;
    if (c->size - c->used < size) {
        /* Reuse a chunk kept from before a reset if it is big enough,
         * otherwise append a new one. */
        chunk_t *n = c->next;
        if (!n || n->size < size) {
            size_t want = size > a->chunk_size ? size : a->chunk_size;
            chunk_t *fresh = chunk_new(want);
            if (!fresh)
                return NULL;
            fresh->next = n;
            c->next = fresh;
            n = fresh;
        }
        n->used = 0;
        a->head = c = n;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

char *gw_arena_strndup(gw_arena_t *a, const char *s, size_t len)
{
    char *p = gw_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void gw_arena_reset(gw_arena_t *a)
{
    /* Keep one extra chunk beyond the first so a workload that spills just
     * over the first chunk does not malloc/free every time. */
    chunk_t *keep = a->first->next;
    chunk_t *c = keep ? keep->next : NULL;
    while (c) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    if (keep) {
        keep->next = NULL;
        if (keep->size > 4 * a->chunk_size) {
            free(keep);
            a->first->next = NULL;
        }
    }
    a->first->used = 0;
    a->head = a->first;
}

ProtobufCAllocator *gw_arena_protobuf(gw_arena_t *a)
{
    return &a->pb;
}
