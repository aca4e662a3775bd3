/*
 * gw_cluster: hash slots, the slot map, cluster error replies and grouping
 * per node (see gw_cluster.h). Pure.
 */
#include "gw_cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* crc16_table[b]: the CRC of the byte b followed by eight zero bits, i.e.
 * b << 8 shifted through the polynomial 0x1021 eight times (generated that
 * way; test_cluster checks every entry against the bitwise definition). */
static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108, 0x9129, 0xa14a, 0xb16b,
    0xc18c, 0xd1ad, 0xe1ce, 0xf1ef, 0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de, 0x2462, 0x3443, 0x0420, 0x1401,
    0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738,
    0xf7df, 0xe7fe, 0xd79d, 0xc7bc, 0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b, 0x5af5, 0x4ad4, 0x7ab7, 0x6a96,
    0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd,
    0xad2a, 0xbd0b, 0x8d68, 0x9d49, 0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78, 0x9188, 0x81a9, 0xb1ca, 0xa1eb,
    0xd10c, 0xc12d, 0xf14e, 0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1, 0x1290, 0x22f3, 0x32d2,
    0x4235, 0x5214, 0x6277, 0x7256, 0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405, 0xa7db, 0xb7fa, 0x8799, 0x97b8,
    0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827,
    0x18c0, 0x08e1, 0x3882, 0x28a3, 0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92, 0xfd2e, 0xed0f, 0xdd6c, 0xcd4d,
    0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74,
    0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

uint16_t gw_cluster_crc16(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ p[i]) & 0xff]);
    return crc;
}

unsigned gw_cluster_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close && close > key + from)
            return gw_cluster_crc16(key + from, (size_t)(close - key) - from) &
                   (GW_CLUSTER_SLOTS - 1);
    }
    return gw_cluster_crc16(key, len) & (GW_CLUSTER_SLOTS - 1);
}

/* ---- the slot map ----------------------------------------------------- */

struct gw_cluster_map {
    int16_t owner[GW_CLUSTER_SLOTS]; /* node index, -1 unserved */
    gw_cluster_node_t *nodes;
    size_t nnodes, cap;
};

static void say(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t size, const char *fmt, ...)
{
    if (!why || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
}

gw_cluster_map_t *gw_cluster_map_new(void)
{
    gw_cluster_map_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    for (int s = 0; s < GW_CLUSTER_SLOTS; s++)
        m->owner[s] = -1;
    return m;
}

void gw_cluster_map_free(gw_cluster_map_t *m)
{
    if (!m)
        return;
    free(m->nodes);
    free(m);
}

int gw_cluster_map_find(const gw_cluster_map_t *m, const char *host, int port)
{
    for (size_t i = 0; i < m->nnodes; i++)
        if (m->nodes[i].addr.port == port && !strcmp(m->nodes[i].addr.host, host))
            return (int)i;
    return -1;
}

static bool addr_valid(const gw_cluster_addr_t *a, const char *what, char *why, size_t size)
{
    size_t hl = strnlen(a->host, sizeof(a->host));
    if (hl == 0 || hl == sizeof(a->host)) {
        say(why, size, "%s has %s host", what, hl ? "an unterminated" : "no");
        return false;
    }
    if (a->port < 1 || a->port > 65535) {
        say(why, size, "%s %s has port %d, not 1-65535", what, a->host, a->port);
        return false;
    }
    return true;
}

/* The index of host:port, added when new (zeroed but for the address);
 * -1 when the map is full or out of memory. */
static int node_index(gw_cluster_map_t *m, const gw_cluster_addr_t *a)
{
    int i = gw_cluster_map_find(m, a->host, a->port);
    if (i >= 0)
        return i;
    if (m->nnodes == GW_CLUSTER_NODES_MAX)
        return -1;
    if (m->nnodes == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 8;
        gw_cluster_node_t *n = realloc(m->nodes, ncap * sizeof(*n));
        if (!n)
            return -1;
        m->nodes = n;
        m->cap = ncap;
    }
    gw_cluster_node_t *n = &m->nodes[m->nnodes];
    memset(n, 0, sizeof(*n));
    n->addr = *a;
    return (int)m->nnodes++;
}

int gw_cluster_map_build(gw_cluster_map_t *m, const gw_cluster_range_t *ranges, size_t n, char *why,
                         size_t why_size)
{
    /* validate everything before changing anything */
    for (size_t i = 0; i < n; i++) {
        const gw_cluster_range_t *r = &ranges[i];
        char what[96];
        if (r->first < 0 || r->last >= GW_CLUSTER_SLOTS || r->first > r->last) {
            say(why, why_size, "range %zu: slots %d-%d are not within 0-%d in order", i, r->first,
                r->last, GW_CLUSTER_SLOTS - 1);
            return -1;
        }
        snprintf(what, sizeof(what), "range %zu (slots %d-%d): master", i, r->first, r->last);
        if (!addr_valid(&r->master, what, why, why_size))
            return -1;
        for (size_t k = 0; k < r->nreplicas; k++) {
            snprintf(what, sizeof(what), "range %zu (slots %d-%d): replica %zu", i, r->first,
                     r->last, k);
            if (!addr_valid(&r->replicas[k], what, why, why_size))
                return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (ranges[j].first <= r->last && r->first <= ranges[j].last) {
                say(why, why_size, "range %zu (slots %d-%d) overlaps range %zu (slots %d-%d)", i,
                    r->first, r->last, j, ranges[j].first, ranges[j].last);
                return -1;
            }
    }
    /* new nodes first, so that running out of room changes nothing */
    size_t before = m->nnodes;
    int *idx = malloc((n ? n : 1) * sizeof(*idx));
    for (size_t i = 0; idx && i < n; i++) {
        idx[i] = node_index(m, &ranges[i].master);
        if (idx[i] < 0) {
            free(idx);
            idx = NULL;
        }
    }
    if (!idx) {
        m->nnodes = before;
        say(why, why_size, "more than %d nodes, or out of memory", GW_CLUSTER_NODES_MAX);
        return -1;
    }
    for (int s = 0; s < GW_CLUSTER_SLOTS; s++)
        m->owner[s] = -1;
    for (size_t i = 0; i < m->nnodes; i++) {
        m->nodes[i].nslots = 0;
        m->nodes[i].nreplicas = 0;
    }
    int served = 0;
    for (size_t i = 0; i < n; i++) {
        const gw_cluster_range_t *r = &ranges[i];
        gw_cluster_node_t *node = &m->nodes[idx[i]];
        for (int s = r->first; s <= r->last; s++)
            m->owner[s] = (int16_t)idx[i];
        node->nslots += r->last - r->first + 1;
        served += r->last - r->first + 1;
        /* a master of several ranges lists its replicas once */
        for (size_t k = 0; k < r->nreplicas && node->nreplicas < GW_CLUSTER_REPLICAS_MAX; k++) {
            bool known = false;
            for (int j = 0; j < node->nreplicas && !known; j++)
                known = node->replicas[j].port == r->replicas[k].port &&
                        !strcmp(node->replicas[j].host, r->replicas[k].host);
            if (!known)
                node->replicas[node->nreplicas++] = r->replicas[k];
        }
    }
    free(idx);
    return served;
}

int gw_cluster_map_lookup(const gw_cluster_map_t *m, unsigned slot)
{
    return slot < GW_CLUSTER_SLOTS ? m->owner[slot] : -1;
}

int gw_cluster_map_moved(gw_cluster_map_t *m, unsigned slot, const char *host, int port, char *why,
                         size_t why_size)
{
    if (slot >= GW_CLUSTER_SLOTS) {
        say(why, why_size, "slot %u is not within 0-%d", slot, GW_CLUSTER_SLOTS - 1);
        return -1;
    }
    gw_cluster_addr_t a;
    if (!host || strlen(host) >= sizeof(a.host)) {
        say(why, why_size, "MOVED %u names %s host", slot, host ? "a too long" : "no");
        return -1;
    }
    snprintf(a.host, sizeof(a.host), "%s", host);
    a.port = port;
    if (!addr_valid(&a, "MOVED target", why, why_size))
        return -1;
    int i = node_index(m, &a);
    if (i < 0) {
        say(why, why_size, "more than %d nodes, or out of memory", GW_CLUSTER_NODES_MAX);
        return -1;
    }
    int old = m->owner[slot];
    if (old != i) {
        if (old >= 0)
            m->nodes[old].nslots--;
        m->nodes[i].nslots++;
        m->owner[slot] = (int16_t)i;
    }
    return i;
}

size_t gw_cluster_map_nodes(const gw_cluster_map_t *m)
{
    return m->nnodes;
}

const gw_cluster_node_t *gw_cluster_map_node_at(const gw_cluster_map_t *m, size_t i)
{
    return i < m->nnodes ? &m->nodes[i] : NULL;
}

int gw_cluster_map_unserved(const gw_cluster_map_t *m)
{
    int n = 0;
    for (int s = 0; s < GW_CLUSTER_SLOTS; s++)
        n += m->owner[s] < 0;
    return n;
}

/* ---- error replies ------------------------------------------------------ */

/* True if s[0..len) starts with the word w followed by the end or a space. */
static bool first_word(const char *s, size_t len, const char *w)
{
    size_t wl = strlen(w);
    return len >= wl && !memcmp(s, w, wl) && (len == wl || s[wl] == ' ');
}

/* A decimal without sign or leading zeros (but "0"), at most `max`. */
static bool parse_uint(const char *s, size_t len, long max, long *out)
{
    if (len == 0 || len > 6 || (len > 1 && s[0] == '0'))
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* "<slot> <host>:<port>" after "MOVED " or "ASK ". */
static int parse_redirect(const char *s, size_t len, const char *word, gw_cluster_err_t *out,
                          char *why, size_t why_size)
{
    const char *sp = memchr(s, ' ', len);
    long slot, port;
    if (!sp || !parse_uint(s, (size_t)(sp - s), GW_CLUSTER_SLOTS - 1, &slot)) {
        say(why, why_size, "%s: \"%.*s\" is not a slot 0-%d followed by one space", word,
            (int)(sp ? sp - s : (len > 32 ? 32 : (int)len)), s, GW_CLUSTER_SLOTS - 1);
        return -1;
    }
    const char *ep = sp + 1;
    size_t elen = len - (size_t)(ep - s);
    const char *colon = NULL;
    for (size_t i = 0; i < elen; i++) {
        unsigned char c = (unsigned char)ep[i];
        if (c <= ' ' || c == 0x7f) {
            say(why, why_size, "%s %ld: the endpoint holds a space or control byte", word, slot);
            return -1;
        }
        if (c == ':')
            colon = ep + i;
    }
    if (!colon) {
        say(why, why_size, "%s %ld: endpoint \"%.*s\" has no \":<port>\"", word, slot,
            (int)(elen > 64 ? 64 : elen), ep);
        return -1;
    }
    size_t hl = (size_t)(colon - ep);
    if (!parse_uint(colon + 1, elen - hl - 1, 65535, &port) || port == 0) {
        say(why, why_size, "%s %ld: port \"%.*s\" is not 1-65535", word, slot,
            (int)((elen - hl - 1) > 16 ? 16 : (elen - hl - 1)), colon + 1);
        return -1;
    }
    if (hl >= sizeof(out->host)) {
        say(why, why_size, "%s %ld: host of %zu bytes is too long", word, slot, hl);
        return -1;
    }
    memcpy(out->host, ep, hl);
    out->host[hl] = '\0';
    out->slot = (int)slot;
    out->port = (int)port;
    return 0;
}

int gw_cluster_parse_error(const char *s, size_t len, gw_cluster_err_t *out, char *why,
                           size_t why_size)
{
    memset(out, 0, sizeof(*out));
    out->slot = -1;
    static const struct {
        const char *word;
        gw_cluster_err_kind_t kind;
    } words[] = {
        {"MOVED", GW_CLUSTER_ERR_MOVED},         {"ASK", GW_CLUSTER_ERR_ASK},
        {"TRYAGAIN", GW_CLUSTER_ERR_TRYAGAIN},   {"CLUSTERDOWN", GW_CLUSTER_ERR_CLUSTERDOWN},
        {"CROSSSLOT", GW_CLUSTER_ERR_CROSSSLOT},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (!first_word(s, len, words[i].word))
            continue;
        if (words[i].kind != GW_CLUSTER_ERR_MOVED && words[i].kind != GW_CLUSTER_ERR_ASK) {
            out->kind = words[i].kind;
            return 0;
        }
        size_t wl = strlen(words[i].word);
        if (len == wl) {
            say(why, why_size, "%s without a slot and an endpoint", words[i].word);
            return -1;
        }
        if (parse_redirect(s + wl + 1, len - wl - 1, words[i].word, out, why, why_size) != 0) {
            memset(out, 0, sizeof(*out));
            out->slot = -1;
            return -1;
        }
        out->kind = words[i].kind;
        return 0;
    }
    return 0;
}

/* ---- grouping per node -------------------------------------------------- */

int gw_cluster_group(const gw_cluster_map_t *m, const uint16_t *slots, size_t n, size_t *order,
                     gw_cluster_batch_t *batches, char *why, size_t why_size)
{
    size_t nn = m->nnodes;
    /* counting sort by node: batches[node] counts, then holds the start */
    for (size_t k = 0; k < nn; k++)
        batches[k] = (gw_cluster_batch_t){.node = (int)k, .first = 0, .count = 0};
    for (size_t i = 0; i < n; i++) {
        int node = gw_cluster_map_lookup(m, slots[i]);
        if (node < 0) {
            say(why, why_size, "command %zu: slot %u is served by no node", i, (unsigned)slots[i]);
            return -1;
        }
        batches[node].count++;
    }
    size_t at = 0;
    for (size_t k = 0; k < nn; k++) {
        batches[k].first = at;
        at += batches[k].count;
        batches[k].count = 0;
    }
    for (size_t i = 0; i < n; i++) {
        gw_cluster_batch_t *b = &batches[m->owner[slots[i]]];
        order[b->first + b->count++] = i;
    }
    int out = 0;
    for (size_t k = 0; k < nn; k++)
        if (batches[k].count)
            batches[out++] = batches[k];
    return out;
}

int gw_cluster_group_keys(const gw_cluster_map_t *m, const char *const *keys, const size_t *lens,
                          size_t n, uint16_t *slots, size_t *order, gw_cluster_batch_t *batches,
                          char *why, size_t why_size)
{
    for (size_t i = 0; i < n; i++)
        slots[i] = (uint16_t)gw_cluster_slot(keys[i], lens[i]);
    return gw_cluster_group(m, slots, n, order, batches, why, why_size);
}
