/*
 * gw_cluster: the Redis Cluster arithmetic a transport needs, without the
 * transport. Pure: no I/O, no hiredis; it takes values the caller already
 * parsed from replies (CLUSTER SLOTS, error strings).
 *
 *   - gw_cluster_slot: a key's hash slot, CRC16 (XMODEM) of the key, or of
 *     its hash tag, mod 16384, as the Redis Cluster specification defines
 *     it (and as CLUSTER KEYSLOT answers);
 *   - a slot map: slot -> node, built from the ranges of CLUSTER SLOTS and
 *     updated one slot at a time by MOVED redirections;
 *   - the cluster's error replies (MOVED, ASK, TRYAGAIN, CLUSTERDOWN,
 *     CROSSSLOT) parsed into a typed value, strictly;
 *   - grouping: N commands' slots -> one batch of command indices per node,
 *     so a pipeline sends each node its own commands.
 *
 * Nodes are named by their endpoint (host and port), which is what MOVED,
 * ASK and CLUSTER SLOTS give. A node keeps its index for the map's life:
 * a rebuild (gw_cluster_map_build) or a MOVED to a known endpoint reuses
 * it, a new endpoint gets the next index, and a node that lost every slot
 * (a killed master, a drained one) stays listed with nslots 0. A transport
 * can therefore index its connections by node index.
 *
 * Ownership: gw_cluster_map_new returns a map the caller frees with
 * gw_cluster_map_free; every other function only borrows its arguments
 * (strings are copied into the map). Pointers returned by
 * gw_cluster_map_node_at stay valid until the next call that changes the
 * map (build, moved: the node array may grow).
 * Errors: functions that can fail return -1 and, where they take `why`,
 * write a one-line reason into it (always NUL-terminated; may be NULL with
 * size 0); a failed build or moved leaves the map as it was.
 * Threads: pure; any thread. A map is not locked: one writer, or readers
 * only.
 */
#ifndef GW_CLUSTER_H
#define GW_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_CLUSTER_SLOTS 16384
/* an endpoint: an IPv4/IPv6 address or a hostname */
#define GW_CLUSTER_HOST_MAX  256
#define GW_CLUSTER_NODES_MAX 1024 /* Redis' own advice: at most ~1000 nodes */

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, bits not
 * reflected, no final XOR. gw_cluster_crc16("123456789", 9) == 0x31C3. */
uint16_t gw_cluster_crc16(const void *data, size_t len);

/* The hash slot of a key: if the key holds a '{' and, after that first '{',
 * a '}' with at least one byte between them, only those bytes are hashed
 * (the hash tag); otherwise the whole key is. Only the first '{' counts:
 * "a{}{b}" hashes whole ("{}" is empty), "a{{b}}" hashes "{b". */
unsigned gw_cluster_slot(const char *key, size_t len);

/* A node's endpoint. An empty host is never stored: CLUSTER SLOTS answers
 * NULL or "" and MOVED an empty host when the node does not know its own
 * endpoint, meaning "the host you asked"; the transport substitutes it
 * before calling in here. */
typedef struct {
    char host[GW_CLUSTER_HOST_MAX];
    int port; /* 1..65535 */
} gw_cluster_addr_t;

/* One element of CLUSTER SLOTS: slots [first, last] served by `master`,
 * replicated to `replicas` (borrowed). */
typedef struct {
    int first, last;
    gw_cluster_addr_t master;
    const gw_cluster_addr_t *replicas;
    size_t nreplicas;
} gw_cluster_range_t;

#define GW_CLUSTER_REPLICAS_MAX 8

typedef struct {
    gw_cluster_addr_t addr;
    int nslots; /* slots this node serves in the map (0: none, e.g. a dead master) */
    int nreplicas;
    gw_cluster_addr_t replicas[GW_CLUSTER_REPLICAS_MAX]; /* as of the last build */
} gw_cluster_node_t;

typedef struct gw_cluster_map gw_cluster_map_t;

/* An empty map (every slot unserved); NULL when out of memory. */
gw_cluster_map_t *gw_cluster_map_new(void);
void gw_cluster_map_free(gw_cluster_map_t *m);

/*
 * Replaces the slot assignment with the ranges of one CLUSTER SLOTS reply.
 * Checked: 0 <= first <= last < 16384, ranges do not overlap, every
 * endpoint has a host and a port in 1..65535. Slots no range names are
 * unserved afterwards (a cluster not fully covered). More than
 * GW_CLUSTER_REPLICAS_MAX replicas are cut to the first ones. Returns the
 * number of slots served, or -1 (map unchanged).
 */
int gw_cluster_map_build(gw_cluster_map_t *m, const gw_cluster_range_t *ranges, size_t n, char *why,
                         size_t why_size);

/* The node index serving `slot`, or -1 (unserved, or slot out of range). */
int gw_cluster_map_lookup(const gw_cluster_map_t *m, unsigned slot);

/* "MOVED <slot> <host>:<port>": the slot now belongs to that node (added
 * when new). Returns its index, or -1 (bad slot or endpoint, too many
 * nodes; map unchanged). */
int gw_cluster_map_moved(gw_cluster_map_t *m, unsigned slot, const char *host, int port, char *why,
                         size_t why_size);

/* The index of the node at host:port, or -1. */
int gw_cluster_map_find(const gw_cluster_map_t *m, const char *host, int port);

/* Number of nodes ever seen (indices 0..n-1) and one of them. */
size_t gw_cluster_map_nodes(const gw_cluster_map_t *m);
const gw_cluster_node_t *gw_cluster_map_node_at(const gw_cluster_map_t *m, size_t i);

/* Slots no node serves (0 when the cluster is fully covered). */
int gw_cluster_map_unserved(const gw_cluster_map_t *m);

/* ---- error replies ------------------------------------------------------ */

typedef enum {
    GW_CLUSTER_ERR_OTHER = 0,   /* not a cluster error (ERR, NOSCRIPT, OOM, ...) */
    GW_CLUSTER_ERR_MOVED,       /* slot moved for good: update the map, resend there */
    GW_CLUSTER_ERR_ASK,         /* slot migrating: ASKING + the command there, once */
    GW_CLUSTER_ERR_TRYAGAIN,    /* multi-key command during a migration: wait, resend */
    GW_CLUSTER_ERR_CLUSTERDOWN, /* cluster (or the slot) not served: wait, refresh */
    GW_CLUSTER_ERR_CROSSSLOT,   /* keys of one command in several slots: a caller bug */
} gw_cluster_err_kind_t;

typedef struct {
    gw_cluster_err_kind_t kind;
    int slot;                       /* MOVED, ASK; else -1 */
    char host[GW_CLUSTER_HOST_MAX]; /* MOVED, ASK; "" = the host that answered */
    int port;                       /* MOVED, ASK; else 0 */
} gw_cluster_err_t;

/*
 * Parses an error reply's text (hiredis' reply->str, without "-" and CRLF).
 * "MOVED <slot> <host>:<port>" and "ASK ..." must be exactly that: a slot
 * 0..16383 in decimal, one space each, an endpoint whose port (after the
 * last ':', so an IPv6 host works) is 1..65535; the host may be empty.
 * TRYAGAIN, CLUSTERDOWN and CROSSSLOT are recognised by their first word
 * (what follows is Redis' prose). Returns 0 with out->kind set (OTHER for
 * any other error), or -1 with `why` for a MOVED or ASK that is malformed.
 */
int gw_cluster_parse_error(const char *s, size_t len, gw_cluster_err_t *out, char *why,
                           size_t why_size);

/* ---- grouping per node -------------------------------------------------- */

/* Batch k of a grouping: order[first .. first + count) are the indices of
 * the commands for node `node`. */
typedef struct {
    int node;
    size_t first, count;
} gw_cluster_batch_t;

/*
 * Groups n commands by the node serving slots[i]: fills order[0..n) with
 * the command indices, grouped by node (nodes in index order, commands in
 * their original order within a node), and batches[] with one entry per
 * node that got commands. batches needs room for gw_cluster_map_nodes(m)
 * entries. Returns the number of batches, or -1 when a slot is unserved
 * (or out of range): `why` names the first such command; refresh the map.
 */
int gw_cluster_group(const gw_cluster_map_t *m, const uint16_t *slots, size_t n, size_t *order,
                     gw_cluster_batch_t *batches, char *why, size_t why_size);

/* The same for keys (lens[i] bytes of keys[i]); slots[0..n) receives each
 * key's slot. */
int gw_cluster_group_keys(const gw_cluster_map_t *m, const char *const *keys, const size_t *lens,
                          size_t n, uint16_t *slots, size_t *order, gw_cluster_batch_t *batches,
                          char *why, size_t why_size);

#endif
