/*
 * gw_redis_cluster: the Redis Cluster router behind gw_redis (internal to
 * the transport; nothing but gw_redis.c includes this header). With
 * redis.cluster on, a gw_redis_t hands every call to a router that reads
 * the slot map (CLUSTER SLOTS of a seed: redis.host:port, then
 * redis.cluster_nodes, then every node it knew), keeps one single-node
 * gw_redis_t per master (same AUTH and TLS; scripts loaded on each), and
 * routes each command to the node of its key's slot (gw_cluster): the key
 * is argument 1, the first declared key of EVAL/EVALSHA, the stream of
 * XREAD; a MULTI .. EXEC goes whole to the node of its first key; keyless
 * commands (INFO, CONFIG, SCAN, PING) go to one node.
 *
 * Replies are handed to the caller in the order the commands were given,
 * whatever node answered first, so the typed stores match replies to
 * requests by order as on one connection. MOVED updates the map and
 * resends to the new node; ASK sends ASKING and the command to the node
 * named, once (a transaction waits instead); TRYAGAIN and CLUSTERDOWN
 * (and a slot no node serves) resend after a short backoff, CLUSTERDOWN
 * with a map read again. None of these is a reply to the caller. A
 * connection that breaks is GW_REDIS_DOWN for the whole router, as on one
 * node: the caller drops it and retries (the apply script is idempotent
 * per entity and partition offset); the next connect reads the map again.
 *
 * Ownership: gw_rcl_new borrows the config and the scripts (they outlive
 * the router, as for gw_redis_new); gw_rcl_free frees the node
 * connections and every reply not yet handed out. Replies handed out are
 * the caller's (gw_redis_reply_free).
 * Errors: the codes and `errstr` sentences of gw_redis.h.
 * Threads: not thread-safe; one owner, as a gw_redis_t.
 */
#ifndef GW_REDIS_CLUSTER_H
#define GW_REDIS_CLUSTER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_redis.h"

typedef struct gw_rcl gw_rcl_t;

gw_rcl_t *gw_rcl_new(const gw_config_t *cfg, const char *const *scripts, size_t nscripts);
void gw_rcl_free(gw_rcl_t *c);
void gw_rcl_set_read_only(gw_rcl_t *c);
int gw_rcl_connect(gw_rcl_t *c, char *errstr, size_t errstr_size);
bool gw_rcl_connected(const gw_rcl_t *c);
void gw_rcl_disconnect(gw_rcl_t *c);
const char *gw_rcl_script_sha(const gw_rcl_t *c, size_t i);
int gw_rcl_reload_scripts(gw_rcl_t *c, char *errstr, size_t errstr_size);
/* Routes the commands of `buf` (whole RESP commands). -1: out of memory. */
int gw_rcl_append(gw_rcl_t *c, const char *buf, size_t len);
/* The next reply in order, blocking up to redis.command_timeout without
 * progress; NULL (after disconnecting) with `errstr`. */
gw_redis_reply_t *gw_rcl_get_reply(gw_rcl_t *c, const char *lost, char *errstr, size_t errstr_size);
int gw_rcl_pump(gw_rcl_t *c, bool *progress, char *errstr, size_t errstr_size);
bool gw_rcl_unsent(const gw_rcl_t *c);
int gw_rcl_take_reply(gw_rcl_t *c, gw_redis_reply_t **out);
int gw_rcl_wait(gw_rcl_t *c, int timeout_ms, char *errstr, size_t errstr_size);
size_t gw_rcl_nodes(const gw_rcl_t *c);
gw_redis_reply_t *gw_rcl_node_command(gw_rcl_t *c, size_t i, int argc, const char *const *argv,
                                      const size_t *lens, char *errstr, size_t errstr_size);
int gw_rcl_wait_replicas(gw_rcl_t *c, int timeout_ms, char *errstr, size_t errstr_size);

/* For the router, from gw_redis.c: the raw append of whole RESP commands
 * on one single-node connection, and its socket for poll(). */
int gw_redis_append_raw(gw_redis_t *r, const char *buf, size_t len);
bool gw_redis_pollfd(const gw_redis_t *r, struct pollfd *pfd);

#endif
