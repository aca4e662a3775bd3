/*
 * gw_redis_cluster: the Redis Cluster router of gw_redis (see
 * gw_redis_cluster.h). Each node is a single-node gw_redis_t with a copy of
 * the config naming that node; the router keeps every command it was given
 * until its replies are handed out, so it can send it again elsewhere.
 */
#include "gw_redis_cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_cluster.h"
#include "gw_log.h"
#include "gw_time.h"

#define BACKOFF_MS      50  /* TRYAGAIN, ASK inside a transaction */
#define DOWN_BACKOFF_MS 200 /* CLUSTERDOWN, an unserved slot: read the map again first */

/* One command, or one MULTI .. EXEC, as the caller gave it. */
typedef struct {
    char *buf;
    size_t len;
    size_t nreplies; /* owed to the caller */
    gw_redis_reply_t **replies;
    size_t got;
    int slot;  /* -1: keyless */
    bool open; /* a MULTI without its EXEC yet */
    bool sent; /* on a node, replies owed */
    bool done; /* every reply in, none a redirection */
    bool asking;
    bool refresh;
    int ask_node;
    int64_t retry_at;          /* 0: send now */
    gw_cluster_err_t redirect; /* the first redirection of this attempt */
} ccmd_t;

/* One command sent on a node's connection. */
typedef struct {
    size_t cmd;
    size_t skip; /* replies to drop first (ASKING's +OK) */
    size_t left;
} sent_t;

typedef struct {
    gw_config_t cfg; /* the router's, naming this node, cluster off */
    char host[GW_CLUSTER_HOST_MAX];
    gw_redis_t *conn;
    bool dirty; /* sent commands since its last WAIT */
    sent_t *fifo;
    size_t head, n, cap;
} cnode_t;

struct gw_rcl {
    const gw_config_t *cfg;
    const char *const *scripts;
    size_t nscripts;
    bool read_only;
    bool connected;
    gw_cluster_map_t *map;
    cnode_t **nodes; /* by node index of the map */
    size_t nnodes;
    ccmd_t *cmds;
    size_t ncmds, capcmds, out_cmd, out_rep;
    char sha[8][41];
    char fail[256]; /* why the last pump failed */
    /* redirections answered, and slot maps read, over the router's life */
    unsigned long moved, ask, tryagain, down, maps;
    unsigned long completed; /* commands answered for good */
};

/* ---- nodes --------------------------------------------------------------- */

gw_rcl_t *gw_rcl_new(const gw_config_t *cfg, const char *const *scripts, size_t nscripts)
{
    gw_rcl_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cfg = cfg;
    c->scripts = scripts;
    c->nscripts = nscripts < 8 ? nscripts : 8;
    c->map = gw_cluster_map_new();
    if (!c->map) {
        free(c);
        return NULL;
    }
    return c;
}

static cnode_t *node_new(gw_rcl_t *c, const char *host, int port)
{
    cnode_t *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->cfg = *c->cfg;
    n->cfg.redis.cluster = false;
    n->cfg.redis.host = n->host;
    n->cfg.redis.port = port;
    n->cfg.redis.unix_socket = NULL;
    n->conn = gw_redis_new(&n->cfg, c->scripts, c->nscripts);
    if (!n->conn) {
        free(n);
        return NULL;
    }
    if (c->read_only)
        gw_redis_set_read_only(n->conn);
    return n;
}

static void node_free(cnode_t *n)
{
    if (!n)
        return;
    gw_redis_free(n->conn);
    free(n->fifo);
    free(n);
}

/* The node of map index i, made when first needed. */
static cnode_t *node_at(gw_rcl_t *c, size_t i)
{
    if (i >= c->nnodes) {
        cnode_t **nn = realloc(c->nodes, (i + 1) * sizeof(*nn));
        if (!nn)
            return NULL;
        for (size_t k = c->nnodes; k <= i; k++)
            nn[k] = NULL;
        c->nodes = nn;
        c->nnodes = i + 1;
    }
    if (!c->nodes[i]) {
        const gw_cluster_node_t *m = gw_cluster_map_node_at(c->map, i);
        if (!m)
            return NULL;
        c->nodes[i] = node_new(c, m->addr.host, m->addr.port);
    }
    return c->nodes[i];
}

/* Connects node i (AUTH, TLS, SCRIPT LOAD as gw_redis_connect does). */
static int node_connect(gw_rcl_t *c, size_t i, char *errstr, size_t errstr_size)
{
    cnode_t *n = node_at(c, i);
    if (!n) {
        snprintf(errstr, errstr_size, "redis cluster: out of memory");
        return GW_REDIS_ERROR;
    }
    if (gw_redis_connected(n->conn))
        return GW_REDIS_OK;
    n->head = n->n = 0;
    int rc = gw_redis_connect(n->conn, errstr, errstr_size);
    if (rc == GW_REDIS_OK && !c->read_only)
        for (size_t k = 0; k < c->nscripts; k++)
            snprintf(c->sha[k], sizeof(c->sha[k]), "%s", gw_redis_script_sha(n->conn, k));
    return rc;
}

/* ---- the slot map -------------------------------------------------------- */

/* An endpoint of CLUSTER SLOTS: [host, port, ...]; "" or NULL is `asked`. */
static bool parse_addr(const gw_redis_reply_t *e, const char *asked, gw_cluster_addr_t *out)
{
    if (e->type != GW_REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[1]->type != GW_REDIS_REPLY_INTEGER)
        return false;
    const gw_redis_reply_t *h = e->element[0];
    const char *host = h->type == GW_REDIS_REPLY_STRING && h->len > 0 ? h->str : asked;
    snprintf(out->host, sizeof(out->host), "%s", host);
    out->port = (int)e->element[1]->integer;
    return true;
}

/* Builds the map from one CLUSTER SLOTS reply of the node at `asked`. */
static int map_from_reply(gw_rcl_t *c, const gw_redis_reply_t *r, const char *asked, char *errstr,
                          size_t errstr_size)
{
    if (r->type != GW_REDIS_REPLY_ARRAY || r->elements == 0) {
        snprintf(errstr, errstr_size, "redis cluster %s: CLUSTER SLOTS: %s", asked,
                 r->type == GW_REDIS_REPLY_ERROR ? r->str : "no slots (is it a cluster?)");
        return GW_REDIS_ERROR;
    }
    gw_cluster_range_t *ranges = calloc(r->elements, sizeof(*ranges));
    gw_cluster_addr_t *reps = calloc(r->elements * GW_CLUSTER_REPLICAS_MAX, sizeof(*reps));
    int rc = GW_REDIS_OK;
    if (!ranges || !reps) {
        snprintf(errstr, errstr_size, "redis cluster: out of memory");
        rc = GW_REDIS_ERROR;
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const gw_redis_reply_t *e = r->element[i];
        if (e->type != GW_REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != GW_REDIS_REPLY_INTEGER ||
            e->element[1]->type != GW_REDIS_REPLY_INTEGER ||
            !parse_addr(e->element[2], asked, &ranges[i].master)) {
            snprintf(errstr, errstr_size, "redis cluster %s: CLUSTER SLOTS: malformed range %zu",
                     asked, i);
            rc = GW_REDIS_ERROR;
            goto out;
        }
        ranges[i].first = (int)e->element[0]->integer;
        ranges[i].last = (int)e->element[1]->integer;
        ranges[i].replicas = &reps[i * GW_CLUSTER_REPLICAS_MAX];
        for (size_t k = 3; k < e->elements && ranges[i].nreplicas < GW_CLUSTER_REPLICAS_MAX; k++)
            if (parse_addr(e->element[k], asked,
                           &reps[i * GW_CLUSTER_REPLICAS_MAX + ranges[i].nreplicas]))
                ranges[i].nreplicas++;
    }
    char why[256];
    if (gw_cluster_map_build(c->map, ranges, r->elements, why, sizeof(why)) < 0) {
        snprintf(errstr, errstr_size, "redis cluster %s: CLUSTER SLOTS: %s", asked, why);
        rc = GW_REDIS_ERROR;
    }
out:
    free(ranges);
    free(reps);
    return rc;
}

/* Reads the map from host:port on a connection of its own (the nodes'
 * connections may owe replies). */
static int map_read_from(gw_rcl_t *c, const char *host, int port, char *errstr, size_t errstr_size)
{
    cnode_t *n = node_new(c, host, port);
    if (!n) {
        snprintf(errstr, errstr_size, "redis cluster: out of memory");
        return GW_REDIS_ERROR;
    }
    gw_redis_set_read_only(n->conn); /* no SCRIPT LOAD for one question */
    int rc = gw_redis_connect(n->conn, errstr, errstr_size);
    if (rc == GW_REDIS_OK) {
        const char *argv[2] = {"CLUSTER", "SLOTS"};
        size_t lens[2] = {7, 5};
        gw_redis_reply_t *r = gw_redis_command_argv(n->conn, 2, argv, lens, errstr, errstr_size);
        if (!r) {
            rc = GW_REDIS_DOWN;
        } else {
            rc = map_from_reply(c, r, host, errstr, errstr_size);
            gw_redis_reply_free(r);
            c->maps += rc == GW_REDIS_OK;
        }
    }
    node_free(n);
    return rc;
}

/* Reads the map from the first seed that answers: redis.host:port,
 * redis.cluster_nodes, then every node known. */
static int map_read(gw_rcl_t *c, char *errstr, size_t errstr_size)
{
    const gw_config_t *cfg = c->cfg;
    int rc = map_read_from(c, cfg->redis.host, cfg->redis.port, errstr, errstr_size);
    for (size_t i = 0; rc != GW_REDIS_OK && i < cfg->redis.ncluster_nodes; i++)
        rc = map_read_from(c, cfg->redis.cluster_nodes[i].host, cfg->redis.cluster_nodes[i].port,
                           errstr, errstr_size);
    for (size_t i = 0; rc != GW_REDIS_OK && i < gw_cluster_map_nodes(c->map); i++) {
        const gw_cluster_node_t *m = gw_cluster_map_node_at(c->map, i);
        char host[GW_CLUSTER_HOST_MAX];
        snprintf(host, sizeof(host), "%s", m->addr.host);
        rc = map_read_from(c, host, m->addr.port, errstr, errstr_size);
    }
    return rc;
}

int gw_rcl_connect(gw_rcl_t *c, char *errstr, size_t errstr_size)
{
    if (c->connected)
        return GW_REDIS_OK;
    int rc = map_read(c, errstr, errstr_size);
    for (size_t i = 0; rc == GW_REDIS_OK && i < gw_cluster_map_nodes(c->map); i++)
        if (gw_cluster_map_node_at(c->map, i)->nslots > 0)
            rc = node_connect(c, i, errstr, errstr_size);
    if (rc != GW_REDIS_OK) {
        gw_rcl_disconnect(c);
        return rc;
    }
    c->connected = true;
    return GW_REDIS_OK;
}

bool gw_rcl_connected(const gw_rcl_t *c)
{
    return c->connected;
}

static void cmds_clear(gw_rcl_t *c)
{
    for (size_t i = 0; i < c->ncmds; i++) {
        for (size_t k = 0; k < c->cmds[i].got; k++)
            gw_redis_reply_free(c->cmds[i].replies[k]);
        free(c->cmds[i].replies);
        free(c->cmds[i].buf);
    }
    c->ncmds = c->out_cmd = c->out_rep = 0;
}

void gw_rcl_disconnect(gw_rcl_t *c)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i]) {
            gw_redis_disconnect(c->nodes[i]->conn);
            c->nodes[i]->head = c->nodes[i]->n = 0;
        }
    cmds_clear(c);
    c->connected = false;
}

void gw_rcl_free(gw_rcl_t *c)
{
    if (!c)
        return;
    if (c->maps > 0)
        gw_log_info("redis cluster connections closed",
                    "slot_maps_read=%lu moved=%lu ask=%lu tryagain=%lu clusterdown=%lu", c->maps,
                    c->moved, c->ask, c->tryagain, c->down);
    gw_rcl_disconnect(c);
    for (size_t i = 0; i < c->nnodes; i++)
        node_free(c->nodes[i]);
    free(c->nodes);
    free(c->cmds);
    gw_cluster_map_free(c->map);
    free(c);
}

void gw_rcl_set_read_only(gw_rcl_t *c)
{
    c->read_only = true;
}

const char *gw_rcl_script_sha(const gw_rcl_t *c, size_t i)
{
    return c->sha[i];
}

int gw_rcl_reload_scripts(gw_rcl_t *c, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < c->nnodes; i++) {
        if (!c->nodes[i] || !gw_redis_connected(c->nodes[i]->conn))
            continue;
        int rc = gw_redis_reload_scripts(c->nodes[i]->conn, errstr, errstr_size);
        if (rc != GW_REDIS_OK) {
            gw_rcl_disconnect(c);
            return rc;
        }
    }
    return GW_REDIS_OK;
}

/* ---- commands ------------------------------------------------------------ */

/* One bulk string of a RESP command at *p: its bytes and length. */
static bool bulk(const char **p, const char *end, const char **s, size_t *len)
{
    if (*p >= end || **p != '$')
        return false;
    char *e;
    unsigned long long n = strtoull(*p + 1, &e, 10);
    if (e + 2 > end || e[0] != '\r' || (size_t)(end - (e + 2)) < n + 2)
        return false;
    *s = e + 2;
    *len = (size_t)n;
    *p = e + 2 + n + 2;
    return true;
}

/* Parses one command at buf: its name, its key (NULL: keyless), its size. */
static bool parse_cmd(const char *buf, const char *end, char name[16], const char **key,
                      size_t *klen, size_t *size)
{
    if (buf >= end || *buf != '*')
        return false;
    char *e;
    unsigned long argc = strtoul(buf + 1, &e, 10);
    if (e + 2 > end || argc == 0)
        return false;
    const char *p = e + 2;
    const char *a[4] = {0};
    size_t l[4] = {0};
    *key = NULL;
    *klen = 0;
    bool streams = false;
    for (unsigned long i = 0; i < argc; i++) {
        const char *s;
        size_t n;
        if (!bulk(&p, end, &s, &n))
            return false;
        if (i < 4) {
            a[i] = s;
            l[i] = n;
        }
        if (i == 0)
            snprintf(name, 16, "%.*s", (int)(n < 15 ? n : 15), s);
        else if (streams && !*key) {
            *key = s;
            *klen = n;
        } else if (!strcasecmp(name, "XREAD") && n == 7 && !strncasecmp(s, "STREAMS", 7))
            streams = true;
    }
    if (!strcasecmp(name, "EVALSHA") || !strcasecmp(name, "EVAL")) {
        if (argc >= 4 && l[2] > 0 && !(l[2] == 1 && a[2][0] == '0')) {
            *key = a[3];
            *klen = l[3];
        }
    } else if (!strcasecmp(name, "XREAD")) {
        /* the stream after STREAMS, found above */
    } else if (argc >= 2 && strcasecmp(name, "SCRIPT") && strcasecmp(name, "INFO") &&
               strcasecmp(name, "CONFIG") && strcasecmp(name, "SCAN") &&
               strcasecmp(name, "CLUSTER") && strcasecmp(name, "PING") &&
               strcasecmp(name, "AUTH") && strcasecmp(name, "SELECT") && strcasecmp(name, "WAIT")) {
        *key = a[1];
        *klen = l[1];
    }
    *size = (size_t)(p - buf);
    return true;
}

static ccmd_t *cmd_add(gw_rcl_t *c)
{
    if (c->ncmds == c->capcmds) {
        size_t cap = c->capcmds ? 2 * c->capcmds : 64;
        ccmd_t *n = realloc(c->cmds, cap * sizeof(*n));
        if (!n)
            return NULL;
        c->cmds = n;
        c->capcmds = cap;
    }
    ccmd_t *m = &c->cmds[c->ncmds++];
    memset(m, 0, sizeof(*m));
    m->slot = -1;
    return m;
}

static int cmd_extend(ccmd_t *m, const char *p, size_t n)
{
    char *b = realloc(m->buf, m->len + n);
    if (!b)
        return -1;
    memcpy(b + m->len, p, n);
    m->buf = b;
    m->len += n;
    m->nreplies++;
    return 0;
}

int gw_rcl_append(gw_rcl_t *c, const char *buf, size_t len)
{
    if (c->out_cmd == c->ncmds)
        cmds_clear(c); /* every reply handed out: start again at 0 */
    const char *p = buf, *end = buf + len;
    while (p < end) {
        char name[16];
        const char *key;
        size_t klen, size;
        if (!parse_cmd(p, end, name, &key, &klen, &size))
            return -1;
        ccmd_t *m = c->ncmds > 0 && c->cmds[c->ncmds - 1].open ? &c->cmds[c->ncmds - 1] : NULL;
        if (!m && !(m = cmd_add(c)))
            return -1;
        if (cmd_extend(m, p, size) != 0)
            return -1;
        if (!strcasecmp(name, "MULTI"))
            m->open = true;
        else if (!strcasecmp(name, "EXEC") || !strcasecmp(name, "DISCARD"))
            m->open = false;
        if (key && m->slot < 0)
            m->slot = (int)gw_cluster_slot(key, klen);
        p += size;
    }
    return 0;
}

/* ---- sending and receiving ----------------------------------------------- */

/* The node a command goes to: its slot's, ASK's, or for a keyless one the
 * first node serving slots. -1: no node serves it (yet). */
static int cmd_node(const gw_rcl_t *c, const ccmd_t *m)
{
    if (m->asking)
        return m->ask_node;
    if (m->slot >= 0)
        return gw_cluster_map_lookup(c->map, (unsigned)m->slot);
    for (size_t i = 0; i < gw_cluster_map_nodes(c->map); i++)
        if (gw_cluster_map_node_at(c->map, i)->nslots > 0)
            return (int)i;
    return -1;
}

static int fifo_push(cnode_t *n, sent_t s)
{
    if (n->head > 0 && n->head == n->n)
        n->head = n->n = 0;
    if (n->n == n->cap) {
        size_t cap = n->cap ? 2 * n->cap : 64;
        sent_t *f = realloc(n->fifo, cap * sizeof(*f));
        if (!f)
            return -1;
        n->fifo = f;
        n->cap = cap;
    }
    n->fifo[n->n++] = s;
    return 0;
}

/* Sends command i to its node, or schedules it again when no node serves
 * its slot. */
static int cmd_send(gw_rcl_t *c, size_t i, char *errstr, size_t errstr_size)
{
    ccmd_t *m = &c->cmds[i];
    if (m->refresh) {
        m->refresh = false;
        int rc = map_read(c, errstr, errstr_size);
        if (rc != GW_REDIS_OK)
            return rc;
    }
    int k = cmd_node(c, m);
    if (k < 0) {
        m->refresh = true;
        m->retry_at = gw_mono_ms() + DOWN_BACKOFF_MS;
        return GW_REDIS_OK;
    }
    int rc = node_connect(c, (size_t)k, errstr, errstr_size);
    if (rc != GW_REDIS_OK)
        return rc;
    cnode_t *n = c->nodes[k];
    sent_t s = {.cmd = i, .skip = 0, .left = m->nreplies};
    if (m->asking) {
        static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
        if (gw_redis_append_raw(n->conn, asking, sizeof(asking) - 1) != GW_REDIS_OK)
            goto oom;
        s.skip = 1;
        m->asking = false;
    }
    if (gw_redis_append_raw(n->conn, m->buf, m->len) != GW_REDIS_OK || fifo_push(n, s) != 0)
        goto oom;
    m->sent = true;
    m->retry_at = 0;
    n->dirty = true;
    return GW_REDIS_OK;
oom:
    snprintf(errstr, errstr_size, "redis cluster: out of memory queueing a command");
    return GW_REDIS_ERROR;
}

/* Sends what is due: new commands, and redirected ones whose wait ended. */
static int send_due(gw_rcl_t *c, char *errstr, size_t errstr_size)
{
    int64_t now = 0;
    for (size_t i = c->out_cmd; i < c->ncmds; i++) {
        ccmd_t *m = &c->cmds[i];
        if (m->sent || m->done || m->open)
            continue;
        if (m->retry_at > 0) {
            if (!now)
                now = gw_mono_ms();
            if (now < m->retry_at)
                continue;
        }
        int rc = cmd_send(c, i, errstr, errstr_size);
        if (rc != GW_REDIS_OK)
            return rc;
    }
    return GW_REDIS_OK;
}

/* What to do once every reply of an attempt came and one was a
 * redirection. */
static int redirect(gw_rcl_t *c, ccmd_t *m, size_t node)
{
    gw_cluster_err_t *e = &m->redirect;
    for (size_t k = 0; k < m->got; k++)
        gw_redis_reply_free(m->replies[k]);
    m->got = 0;
    m->sent = false;
    const char *host = e->host[0] ? e->host : c->nodes[node]->host;
    char why[256];
    switch (e->kind) {
    case GW_CLUSTER_ERR_MOVED:
        c->moved++;
        if (gw_cluster_map_moved(c->map, (unsigned)e->slot, host, e->port, why, sizeof(why)) < 0)
            m->refresh = true;
        break;
    case GW_CLUSTER_ERR_ASK: {
        c->ask++;
        if (m->nreplies > 1) { /* a transaction: wait for the migration to end */
            m->retry_at = gw_mono_ms() + BACKOFF_MS;
            break;
        }
        int k = gw_cluster_map_find(c->map, host, e->port);
        if (k < 0) { /* a node not in the map: read it again, and retry */
            m->refresh = true;
            m->retry_at = gw_mono_ms() + BACKOFF_MS;
            break;
        }
        m->asking = true;
        m->ask_node = k;
        break;
    }
    case GW_CLUSTER_ERR_TRYAGAIN:
        c->tryagain++;
        m->retry_at = gw_mono_ms() + BACKOFF_MS;
        break;
    default: /* CLUSTERDOWN */
        c->down++;
        m->refresh = true;
        m->retry_at = gw_mono_ms() + DOWN_BACKOFF_MS;
        break;
    }
    memset(e, 0, sizeof(*e));
    return 0;
}

/* Files one reply read from node k. */
static int on_reply(gw_rcl_t *c, size_t k, gw_redis_reply_t *r)
{
    cnode_t *n = c->nodes[k];
    if (n->head == n->n) {
        gw_redis_reply_free(r);
        snprintf(c->fail, sizeof(c->fail), "redis cluster %.200s:%d: a reply nobody asked for",
                 n->host, n->cfg.redis.port);
        return GW_REDIS_ERROR;
    }
    sent_t *s = &n->fifo[n->head];
    if (s->skip > 0) { /* ASKING's +OK */
        s->skip--;
        gw_redis_reply_free(r);
        return GW_REDIS_OK;
    }
    ccmd_t *m = &c->cmds[s->cmd];
    if (r->type == GW_REDIS_REPLY_ERROR && m->redirect.kind == GW_CLUSTER_ERR_OTHER) {
        gw_cluster_err_t e;
        if (gw_cluster_parse_error(r->str, r->len, &e, NULL, 0) == 0 &&
            e.kind != GW_CLUSTER_ERR_CROSSSLOT)
            m->redirect = e;
    }
    if (!m->replies) {
        m->replies = calloc(m->nreplies, sizeof(*m->replies));
        if (!m->replies) {
            gw_redis_reply_free(r);
            snprintf(c->fail, sizeof(c->fail), "redis cluster: out of memory reading a reply");
            return GW_REDIS_ERROR;
        }
    }
    m->replies[m->got++] = r;
    if (--s->left > 0)
        return GW_REDIS_OK;
    n->head++;
    if (m->redirect.kind != GW_CLUSTER_ERR_OTHER)
        redirect(c, m, k);
    else {
        m->done = true;
        c->completed++;
    }
    return GW_REDIS_OK;
}

int gw_rcl_pump(gw_rcl_t *c, bool *progress, char *errstr, size_t errstr_size)
{
    *progress = false;
    if (!c->connected) {
        snprintf(errstr, errstr_size, "not connected");
        return GW_REDIS_DOWN;
    }
    unsigned long before = c->completed;
    int rc = send_due(c, errstr, errstr_size);
    if (rc != GW_REDIS_OK)
        return rc;
    for (size_t k = 0; k < c->nnodes; k++) {
        cnode_t *n = c->nodes[k];
        if (!n || !gw_redis_connected(n->conn))
            continue;
        bool io;
        char why[200];
        if (gw_redis_pump(n->conn, &io, why, sizeof(why)) != GW_REDIS_OK) {
            snprintf(errstr, errstr_size, "%s:%d: %s", n->host, n->cfg.redis.port, why);
            return GW_REDIS_DOWN;
        }
        for (;;) {
            gw_redis_reply_t *r;
            if (gw_redis_take_reply(n->conn, &r) != GW_REDIS_OK) {
                snprintf(errstr, errstr_size, "%s:%d: protocol error in a reply", n->host,
                         n->cfg.redis.port);
                return GW_REDIS_ERROR;
            }
            if (!r)
                break;
            if (on_reply(c, k, r) != GW_REDIS_OK) {
                snprintf(errstr, errstr_size, "%s", c->fail);
                return GW_REDIS_ERROR;
            }
        }
    }
    /* Progress is a command answered for good, not bytes: redirections
     * that go on (a migration stuck, a cluster down) end in the caller's
     * command_timeout, as a silent server does. */
    *progress = c->completed != before;
    /* redirections answered above go out now, not at the next pump */
    return send_due(c, errstr, errstr_size);
}

bool gw_rcl_unsent(const gw_rcl_t *c)
{
    for (size_t i = c->out_cmd; i < c->ncmds; i++)
        if (!c->cmds[i].sent && !c->cmds[i].done)
            return true;
    for (size_t k = 0; k < c->nnodes; k++)
        if (c->nodes[k] && gw_redis_connected(c->nodes[k]->conn) &&
            gw_redis_unsent(c->nodes[k]->conn))
            return true;
    return false;
}

int gw_rcl_take_reply(gw_rcl_t *c, gw_redis_reply_t **out)
{
    *out = NULL;
    if (c->out_cmd >= c->ncmds || !c->cmds[c->out_cmd].done)
        return GW_REDIS_OK;
    ccmd_t *m = &c->cmds[c->out_cmd];
    *out = m->replies[c->out_rep];
    m->replies[c->out_rep++] = NULL;
    if (c->out_rep == m->nreplies) {
        c->out_rep = 0;
        c->out_cmd++;
    }
    return GW_REDIS_OK;
}

int gw_rcl_wait(gw_rcl_t *c, int timeout_ms, char *errstr, size_t errstr_size)
{
    struct pollfd pfd[64];
    nfds_t n = 0;
    for (size_t k = 0; k < c->nnodes && n < 64; k++)
        if (c->nodes[k] && gw_redis_pollfd(c->nodes[k]->conn, &pfd[n]))
            n++;
    /* a command waiting for its backoff wakes the caller in time */
    int64_t now = gw_mono_ms();
    for (size_t i = c->out_cmd; i < c->ncmds; i++) {
        const ccmd_t *m = &c->cmds[i];
        if (!m->sent && !m->done && m->retry_at > 0 && m->retry_at - now < timeout_ms)
            timeout_ms = m->retry_at > now ? (int)(m->retry_at - now) : 0;
    }
    if (poll(pfd, n, timeout_ms) < 0 && errno != EINTR) {
        snprintf(errstr, errstr_size, "poll: %s", strerror(errno));
        return GW_REDIS_DOWN;
    }
    return GW_REDIS_OK;
}

gw_redis_reply_t *gw_rcl_get_reply(gw_rcl_t *c, const char *lost, char *errstr, size_t errstr_size)
{
    int64_t last = gw_mono_ms();
    for (;;) {
        gw_redis_reply_t *r = NULL;
        if (gw_rcl_take_reply(c, &r) == GW_REDIS_OK && r)
            return r;
        if (c->out_cmd >= c->ncmds) {
            snprintf(errstr, errstr_size, "redis: %sno command is waiting for a reply", lost);
            return NULL;
        }
        bool progress;
        char why[256];
        int rc = gw_rcl_pump(c, &progress, why, sizeof(why));
        if (rc == GW_REDIS_OK && gw_rcl_take_reply(c, &r) == GW_REDIS_OK && r)
            return r;
        int64_t now = gw_mono_ms();
        if (progress)
            last = now;
        if (rc == GW_REDIS_OK && now - last > c->cfg->redis.command_timeout_ms) {
            snprintf(why, sizeof(why), "no answer for %lld ms",
                     (long long)c->cfg->redis.command_timeout_ms);
            rc = GW_REDIS_DOWN;
        }
        if (rc == GW_REDIS_OK)
            rc = gw_rcl_wait(c, 100, why, sizeof(why));
        if (rc != GW_REDIS_OK) {
            snprintf(errstr, errstr_size, "redis cluster: %s%s", lost, why);
            gw_rcl_disconnect(c);
            return NULL;
        }
    }
}

int gw_rcl_wait_replicas(gw_rcl_t *c, int timeout_ms, char *errstr, size_t errstr_size)
{
    /* WAIT on every node first, then the replies: one round trip in all */
    char cmd[64];
    int len = snprintf(cmd, sizeof(cmd), "*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$%d\r\n%d\r\n",
                       snprintf(NULL, 0, "%d", timeout_ms), timeout_ms);
    bool asked[GW_CLUSTER_NODES_MAX] = {false};
    for (size_t k = 0; k < c->nnodes && k < GW_CLUSTER_NODES_MAX; k++) {
        cnode_t *n = c->nodes[k];
        const gw_cluster_node_t *m = gw_cluster_map_node_at(c->map, k);
        if (!n || !n->dirty || !m || m->nreplicas == 0 || !gw_redis_connected(n->conn))
            continue;
        if (gw_redis_append_raw(n->conn, cmd, (size_t)len) != GW_REDIS_OK) {
            snprintf(errstr, errstr_size, "redis cluster: out of memory queueing WAIT");
            gw_rcl_disconnect(c);
            return GW_REDIS_ERROR;
        }
        asked[k] = true;
    }
    int rc = GW_REDIS_OK;
    for (size_t k = 0; k < c->nnodes && k < GW_CLUSTER_NODES_MAX; k++) {
        if (!asked[k])
            continue;
        cnode_t *n = c->nodes[k];
        gw_redis_reply_t *r =
            gw_redis_get_reply(n->conn, "waiting for a replica", errstr, errstr_size);
        if (!r) {
            gw_rcl_disconnect(c);
            return GW_REDIS_DOWN;
        }
        bool ok = r->type == GW_REDIS_REPLY_INTEGER && r->integer >= 1;
        if (!ok && rc == GW_REDIS_OK) {
            snprintf(
                errstr, errstr_size,
                "redis cluster %.200s:%d: no replica acknowledged the batch within %d ms (WAIT "
                "1: %s)",
                n->host, n->cfg.redis.port, timeout_ms,
                r->type == GW_REDIS_REPLY_INTEGER ? "0" : gw_redis_reply_why(r));
            rc = GW_REDIS_ERROR;
        }
        gw_redis_reply_free(r);
        n->dirty = !ok;
    }
    return rc;
}

/* The node index of the i-th master serving slots, or -1. */
static int serving(const gw_rcl_t *c, size_t i)
{
    for (size_t k = 0; k < gw_cluster_map_nodes(c->map); k++)
        if (gw_cluster_map_node_at(c->map, k)->nslots > 0 && i-- == 0)
            return (int)k;
    return -1;
}

size_t gw_rcl_nodes(const gw_rcl_t *c)
{
    size_t n = 0;
    while (serving(c, n) >= 0)
        n++;
    return n;
}

gw_redis_reply_t *gw_rcl_node_command(gw_rcl_t *c, size_t i, int argc, const char *const *argv,
                                      const size_t *lens, char *errstr, size_t errstr_size)
{
    int k = serving(c, i);
    if (k < 0) {
        snprintf(errstr, errstr_size, "redis cluster: no master %zu", i);
        return NULL;
    }
    gw_redis_reply_t *r = NULL;
    if (node_connect(c, (size_t)k, errstr, errstr_size) == GW_REDIS_OK)
        r = gw_redis_command_argv(c->nodes[k]->conn, argc, argv, lens, errstr, errstr_size);
    if (!r)
        gw_rcl_disconnect(c);
    return r;
}
