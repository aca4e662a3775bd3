/*
 * gw_resp: writes Redis commands in the wire protocol (RESP arrays of bulk
 * strings) straight into one growable buffer. Pure: no I/O. The store
 * builds every pipelined batch command with it, because formatting each
 * argument through printf and hiredis' argv formatter cost more CPU than
 * decoding the events.
 *
 * Usage: gw_resp_begin(), any number of gw_resp_arg*(), gw_resp_end(); many
 * commands may follow each other in one buffer. Memory errors are sticky:
 * after one, every call is a no-op and gw_resp_end() (and gw_resp_ok())
 * report it.
 *
 * Ownership: gw_resp_t is the caller's value; its buffer is malloc'ed and grown by the calls, kept
 *   by gw_resp_reset and freed by gw_resp_free. Arguments are copied.
 * Errors: Sticky out-of-memory (see above): gw_resp_end returns -1 and gw_resp_ok false;
 *   gw_resp_parse_i64 returns false on anything but a canonical integer.
 * Threads: One thread per buffer; gw_resp_i64_text and gw_resp_parse_i64 are pure. No shared state.
 */
#ifndef GW_RESP_H
#define GW_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *buf; /* the commands written so far: buf[0..len) */
    size_t len, cap;
    size_t cmd_start; /* where the open command's reserved header starts */
    size_t argc;      /* arguments of the open command */
    bool open;
    bool oom;
} gw_resp_t;

/* A zeroed gw_resp_t is valid and empty. */
#define GW_RESP_INIT                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

/* Frees the buffer; the struct is empty and reusable afterwards. */
void gw_resp_free(gw_resp_t *r);

/* Forgets the commands written; keeps the memory. Clears a memory error. */
void gw_resp_reset(gw_resp_t *r);

/* Opens a command. */
void gw_resp_begin(gw_resp_t *r);

/* Appends one argument: `len` bytes of `p` (binary-safe). */
void gw_resp_arg(gw_resp_t *r, const void *p, size_t len);

/* Appends a NUL-terminated string argument. */
void gw_resp_arg_str(gw_resp_t *r, const char *s);

/* Appends an integer as its decimal text. */
void gw_resp_arg_i64(gw_resp_t *r, int64_t v);

/* Closes the open command. Returns 0, or -1 after a memory error (the
 * buffer then holds no usable command). */
int gw_resp_end(gw_resp_t *r);

/* False after a memory error. */
bool gw_resp_ok(const gw_resp_t *r);

/* Writes the decimal text of `v` into `out` (at least 21 bytes) without a
 * NUL; returns its length. */
size_t gw_resp_i64_text(int64_t v, char *out);

/* Parses `len` bytes of `s` (no NUL needed) as a Redis reply's integer,
 * strictly (hiredis' string2ll): the whole text must be the canonical
 * decimal form gw_resp_i64_text() writes, an optional '-' then digits with
 * no leading zero ("0" itself excepted, "-0" refused), no sign '+', no
 * spaces, nothing after; a value outside int64_t is refused. Returns true
 * and sets *out, or false and leaves *out as it was. */
bool gw_resp_parse_i64(const char *s, size_t len, int64_t *out);

#endif
