/*
 * gw_redis: the Redis transport of gapwatch, and nothing else. One
 * connection (TCP or unix socket, timeouts, keepalive, AUTH, SELECT, TLS
 * when redis.tls is on), the Lua scripts loaded once per connection with one
 * answer to NOSCRIPT, blocking commands, and a pipelined non-blocking engine
 * (append, pump, take replies, wait). It knows no key and no layout: the
 * typed stores (gw_store, gw_alert_store, gw_diag_store) build on it.
 *
 * hiredis is an implementation detail: replies are gw_redis_reply_t, plain
 * values of this module, so a newer hiredis, another TLS library or a
 * cluster router can replace it here alone. This module owns the socket and
 * hiredis' reader; no caller touches either.
 *
 * With redis.cluster the same calls go through a router
 * (gw_redis_cluster.c): one connection per master, each command sent to
 * the node of its key's slot, MOVED/ASK/TRYAGAIN/CLUSTERDOWN answered
 * inside, and replies handed out in the order the commands were given, so
 * callers are the same for one node and for a cluster.
 *
 * Ownership: gw_redis_new() borrows the config and the script sources
 * (both must outlive the connection); free it with gw_redis_free(). Every
 * reply handed out is the caller's, freed with gw_redis_reply_free().
 *
 * Errors: functions return GW_REDIS_OK (0), GW_REDIS_DOWN (the server
 * cannot be reached or the connection broke; it is dropped and the next
 * gw_redis_connect() dials again) or GW_REDIS_ERROR (the server refused,
 * or a command could not be built), with a sentence in the caller's
 * `errstr` that names the server or the command. A Redis error reply is a
 * reply (type GW_REDIS_REPLY_ERROR), not a failure of the transport.
 *
 * Threads: not thread-safe. One thread owns a gw_redis_t and everything it
 * handed out; give each thread (the pipeline, the evaluator, the CLI) its
 * own connection.
 *
 * hiredis writes with write()/send() and OpenSSL without MSG_NOSIGNAL: a
 * process that must outlive a connection the server closed mid-write
 * ignores SIGPIPE (gapwatchd and the test harness do).
 */
#ifndef GW_REDIS_H
#define GW_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"
#include "gw_resp.h"

#define GW_REDIS_OK    0
#define GW_REDIS_DOWN  (-1)
#define GW_REDIS_ERROR (-2)

/* The kinds of reply (RESP2). */
typedef enum {
    GW_REDIS_REPLY_STRING = 1,
    GW_REDIS_REPLY_ARRAY,
    GW_REDIS_REPLY_INTEGER,
    GW_REDIS_REPLY_NIL,
    GW_REDIS_REPLY_STATUS,
    GW_REDIS_REPLY_ERROR,
} gw_redis_reply_type_t;

/* One reply, a plain value in one allocation (free the outermost with
 * gw_redis_reply_free(); elements are part of it). `str` is NUL-terminated
 * (also binary-safe with `len`) for strings, statuses and errors, NULL
 * otherwise. */
typedef struct gw_redis_reply_s {
    gw_redis_reply_type_t type;
    long long integer; /* GW_REDIS_REPLY_INTEGER */
    size_t len;
    char *str;
    size_t elements; /* GW_REDIS_REPLY_ARRAY */
    struct gw_redis_reply_s **element;
} gw_redis_reply_t;

/* Frees a reply handed out by this module. Accepts NULL. */
void gw_redis_reply_free(gw_redis_reply_t *r);

/* A reply's integer or string as an integer, strictly (gw_resp_parse_i64,
 * hiredis' string2ll): anything else is false and *out is unchanged. A
 * corrupt counter is an error, never a 0. */
bool gw_redis_reply_i64(const gw_redis_reply_t *r, int64_t *out);

/* Whether `r` is Redis' NOSCRIPT error (it restarted, or SCRIPT FLUSH ran). */
bool gw_redis_reply_is_noscript(const gw_redis_reply_t *r);

/* What to say of a reply that is not the one expected: the error's text,
 * else "unexpected reply". Borrowed from `r`. */
const char *gw_redis_reply_why(const gw_redis_reply_t *r);

typedef struct gw_redis_s gw_redis_t;

/* Creates a connection for `cfg`; `scripts` are `nscripts` Lua sources,
 * loaded (SCRIPT LOAD) at each connect and addressed by their index. All
 * three are borrowed and must outlive the connection. Does not connect.
 * NULL on OOM. Free with gw_redis_free(). */
gw_redis_t *gw_redis_new(const gw_config_t *cfg, const char *const *scripts, size_t nscripts);

/* Closes the connection and frees. Accepts NULL. */
void gw_redis_free(gw_redis_t *r);

/* A reader (the CLI's) loads no script at connect, so a Redis ACL user with
 * only +@read works. Call before the first connect. */
void gw_redis_set_read_only(gw_redis_t *r);

/* Dials if not connected: connect (TLS when redis.tls: the handshake and
 * the check that the server accepted the client's certificate), AUTH,
 * SELECT, load the scripts (not for a reader). GW_REDIS_OK, or a failure
 * with `errstr` naming the server (and, for TLS, the key to check). */
int gw_redis_connect(gw_redis_t *r, char *errstr, size_t errstr_size);

bool gw_redis_connected(const gw_redis_t *r);

/* Drops the connection and anything queued on it. */
void gw_redis_disconnect(gw_redis_t *r);

/* The SHA1 of script `i` (40 hex digits) as loaded by the last connect. */
const char *gw_redis_script_sha(const gw_redis_t *r, size_t i);

/* The one answer to NOSCRIPT: loads every script again (the caller then
 * resends; what did run is skipped by its offsets or is idempotent). Logs
 * a warning. Disconnects when that fails. */
int gw_redis_reload_scripts(gw_redis_t *r, char *errstr, size_t errstr_size);

/* One attempt of script calls: sets *noscript when Redis answered NOSCRIPT
 * (the rest of that attempt's replies are then not to be trusted). */
typedef int (*gw_redis_attempt_fn)(void *ctx, bool *noscript, char *errstr, size_t errstr_size);

/* Runs `attempt`, and once more after gw_redis_reload_scripts() if Redis
 * lost the scripts; a second NOSCRIPT is GW_REDIS_ERROR. Returns what the
 * attempt returned (its own codes pass through). */
int gw_redis_with_scripts(gw_redis_t *r, gw_redis_attempt_fn attempt, void *ctx, char *errstr,
                          size_t errstr_size);

/* The sentence of a second NOSCRIPT right after loading. */
#define GW_REDIS_SCRIPTS_VANISHED "redis: scripts vanished again right after loading"

/* ---- blocking commands ------------------------------------------------ */

/* Runs one command (binary-safe arguments) and waits for its reply, which
 * the caller frees. NULL after dropping the connection, `errstr` saying
 * why. Must be connected. */
gw_redis_reply_t *gw_redis_command_argv(gw_redis_t *r, int argc, const char *const *argv,
                                        const size_t *lens, char *errstr, size_t errstr_size);

/* Queues the commands written in `resp` (any number, whole) without
 * waiting, then resets `resp`. GW_REDIS_OK, or GW_REDIS_ERROR when `resp`
 * had a memory error or the queue cannot grow (the connection is then
 * dropped: what was queued before is lost). Must be connected. */
int gw_redis_append(gw_redis_t *r, gw_resp_t *resp);

/* Sends what is queued and waits for the next reply (caller frees). NULL
 * after dropping the connection, `errstr` saying what was lost while
 * `doing` ("while writing"). */
gw_redis_reply_t *gw_redis_get_reply(gw_redis_t *r, const char *doing, char *errstr,
                                     size_t errstr_size);

/* Queues the one command in `resp` and waits for its reply (caller frees);
 * NULL after dropping the connection. */
gw_redis_reply_t *gw_redis_command_resp(gw_redis_t *r, gw_resp_t *resp, char *errstr,
                                        size_t errstr_size);

/* ---- queued commands, replies read together ---------------------------- */

/* Queues the `nreplies` commands written in `resp` (whole), then resets
 * `resp`; their replies are owed to gw_redis_flush(). Must be connected.
 * GW_REDIS_OK, or GW_REDIS_ERROR when `resp`
 * had a memory error or the queue cannot grow (the connection is dropped). */
int gw_redis_queue(gw_redis_t *r, gw_resp_t *resp, size_t nreplies);

/* Replies owed by gw_redis_queue*() and not yet read. */
size_t gw_redis_pending(const gw_redis_t *r);

/* One reply of a flush: `index` counts from 0 for the first reply the
 * flush reads; `reply` is borrowed for the call. */
typedef void (*gw_redis_reply_fn)(void *ctx, size_t index, const gw_redis_reply_t *reply);

/* Reads every owed reply, handing each to `fn` (may be NULL), whoever
 * queued it (queue and flush in one owner's order). GW_REDIS_OK;
 * GW_REDIS_ERROR when a reply was an error (after all were read, `errstr`
 * naming the first; scripts lost by Redis are loaded again for the
 * caller's next attempt); GW_REDIS_DOWN when the connection broke (it is
 * dropped, and with it what was owed). */
int gw_redis_flush(gw_redis_t *r, gw_redis_reply_fn fn, void *ctx, char *errstr,
                   size_t errstr_size);

/* ---- the pipelined non-blocking engine ------------------------------- */

/* Writes what the socket takes of the queue and reads what has arrived,
 * without blocking (the connection stays non-blocking until the next
 * blocking command). Sets *progress when bytes moved. GW_REDIS_OK, or
 * GW_REDIS_DOWN with hiredis' reason in `errstr` (the caller drops the
 * connection). */
int gw_redis_pump(gw_redis_t *r, bool *progress, char *errstr, size_t errstr_size);

/* True while queued bytes have not been written to the socket. */
bool gw_redis_unsent(const gw_redis_t *r);

/* Takes the next reply already read, without I/O: GW_REDIS_OK with *out
 * the reply (caller frees) or NULL when none is complete yet;
 * GW_REDIS_ERROR on a protocol error. */
int gw_redis_take_reply(gw_redis_t *r, gw_redis_reply_t **out);

/* Waits up to `timeout_ms` for the socket to be readable (or writable while
 * bytes are unsent). GW_REDIS_OK (also on a timeout or a signal), or
 * GW_REDIS_DOWN with "poll: ..." in `errstr`. */
int gw_redis_wait(gw_redis_t *r, int timeout_ms, char *errstr, size_t errstr_size);

/* ---- Redis Cluster ------------------------------------------------------ */

/* With redis.cluster: WAIT 1 on every master written since its last wait
 * that has a replica (as of the slot map), so what the caller records next
 * (positions) never runs ahead of what a failover keeps. GW_REDIS_ERROR
 * when no replica acknowledged within `timeout_ms`; GW_REDIS_DOWN when a
 * connection broke. Without redis.cluster: GW_REDIS_OK, nothing sent. */
int gw_redis_wait_replicas(gw_redis_t *r, int timeout_ms, char *errstr, size_t errstr_size);

/* The masters of the slot map (1 without redis.cluster), for commands that
 * concern a node rather than a key (SCAN). Must be connected. */
size_t gw_redis_nodes(const gw_redis_t *r);

/* gw_redis_command_argv on master `node` (0 .. gw_redis_nodes() - 1);
 * without redis.cluster the one connection. NULL after dropping the
 * connections, `errstr` saying why. Not while replies are owed. */
gw_redis_reply_t *gw_redis_node_command_argv(gw_redis_t *r, size_t node, int argc,
                                             const char *const *argv, const size_t *lens,
                                             char *errstr, size_t errstr_size);

#endif
