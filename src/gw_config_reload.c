/*
 * gw_config_reload: what SIGHUP may change in a running daemon.
 *
 * The two files are compared as YAML, leaf by leaf (scalars by their dotted
 * path, "playbooks[0].objective.target.7d"), not as loaded structs: a
 * difference then names the key and its line, and whatever a future key
 * is, it is refused until someone declares it reloadable here. Reloadable:
 * log_level, log.*, playbooks, alerting (but alerting.alertmanager: its
 * HTTP client is set up at start) and evaluation. Everything else (Kafka,
 * Redis, windows, kinds, key prefix, metrics listener) is what the
 * modules' state was built from, so it needs a restart.
 *
 * Values are compared as written (before ${VAR} expansion): the daemon's
 * environment cannot change, and a password file is read only at start.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "gw_config.h"

typedef struct {
    char *path;
    char *value; /* scalar text; "{}" or "[]" for an empty mapping or sequence */
    int line;
} leaf_t;

typedef struct {
    leaf_t *v;
    size_t n, cap;
    bool failed;
} leaves_t;

static void leaf_add(leaves_t *l, const char *path, const char *value, size_t vlen, int line)
{
    if (l->failed)
        return;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        leaf_t *nv = realloc(l->v, ncap * sizeof(*nv));
        if (!nv) {
            l->failed = true;
            return;
        }
        l->v = nv;
        l->cap = ncap;
    }
    leaf_t *f = &l->v[l->n];
    f->path = strdup(path);
    f->value = strndup(value, vlen);
    f->line = line;
    if (!f->path || !f->value) {
        free(f->path);
        free(f->value);
        l->failed = true;
        return;
    }
    l->n++;
}

static void leaves_free(leaves_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].value);
    }
    free(l->v);
}

static void flatten(yaml_document_t *doc, yaml_node_t *node, const char *path, int depth,
                    leaves_t *out)
{
    if (!node || depth > 32)
        return;
    int line = (int)node->start_mark.line + 1;
    char sub[512];
    switch (node->type) {
    case YAML_SCALAR_NODE:
        leaf_add(out, path, (const char *)node->data.scalar.value, node->data.scalar.length, line);
        break;
    case YAML_MAPPING_NODE:
        if (node->data.mapping.pairs.start == node->data.mapping.pairs.top)
            leaf_add(out, path, "{}", 2, line);
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            const char *key =
                k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
            flatten(doc, yaml_document_get_node(doc, p->value), sub, depth + 1, out);
        }
        break;
    case YAML_SEQUENCE_NODE:
        if (node->data.sequence.items.start == node->data.sequence.items.top)
            leaf_add(out, path, "[]", 2, line);
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            snprintf(sub, sizeof(sub), "%s[%d]", path, (int)(it - node->data.sequence.items.start));
            flatten(doc, yaml_document_get_node(doc, *it), sub, depth + 1, out);
        }
        break;
    default:
        break;
    }
}

static int leaf_cmp(const void *a, const void *b)
{
    return strcmp(((const leaf_t *)a)->path, ((const leaf_t *)b)->path);
}

static int parse_leaves(const char *text, leaves_t *out)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    int ok = yaml_parser_load(&parser, &doc);
    yaml_parser_delete(&parser);
    if (!ok)
        return -1;
    flatten(&doc, yaml_document_get_root_node(&doc), "", 0, out);
    yaml_document_delete(&doc);
    if (out->failed)
        return -1;
    qsort(out->v, out->n, sizeof(*out->v), leaf_cmp);
    return 0;
}

static bool has_prefix(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '.' || path[n] == '[');
}

bool gw_config_key_reloadable(const char *path)
{
    if (has_prefix(path, "alerting.alertmanager"))
        return false;
    static const char *const reloadable[] = {"log_level", "log", "playbooks", "alerting",
                                             "evaluation"};
    for (size_t i = 0; i < sizeof(reloadable) / sizeof(reloadable[0]); i++)
        if (has_prefix(path, reloadable[i]))
            return true;
    return false;
}

/* Appends `path` to the comma-separated `list` unless already there (one
 * entry per changed key, even when several leaves under it differ). */
static void list_add(char *list, size_t size, const char *path)
{
    size_t len = strlen(list), plen = strlen(path);
    for (const char *p = list; (p = strstr(p, path)) != NULL; p += plen)
        if ((p == list || p[-1] == ',') && (p[plen] == ',' || p[plen] == '\0'))
            return;
    if (len + plen + 2 > size)
        return;
    snprintf(list + len, size - len, "%s%s", len ? "," : "", path);
}

int gw_config_diff(const char *old_text, const char *new_text, char *changed, size_t changed_size,
                   char *refused, size_t refused_size)
{
    changed[0] = '\0';
    refused[0] = '\0';
    leaves_t a = {0}, b = {0};
    if (parse_leaves(old_text, &a) != 0 || parse_leaves(new_text, &b) != 0) {
        leaves_free(&a);
        leaves_free(&b);
        snprintf(refused, refused_size, "cannot compare the files (YAML or memory)");
        return -1;
    }
    int nrefused = 0;
    size_t i = 0, j = 0;
    while (i < a.n || j < b.n) {
        int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.v[i].path, b.v[j].path);
        const leaf_t *diff = NULL;
        const char *what = NULL;
        if (c < 0) {
            diff = &a.v[i++];
            what = "removed";
        } else if (c > 0) {
            diff = &b.v[j++];
            what = "added";
        } else {
            if (strcmp(a.v[i].value, b.v[j].value))
                diff = &b.v[j], what = "changed";
            i++;
            j++;
        }
        if (!diff)
            continue;
        if (gw_config_key_reloadable(diff->path)) {
            list_add(changed, changed_size, diff->path);
        } else {
            size_t len = strlen(refused);
            if (len + 2 < refused_size)
                snprintf(refused + len, refused_size - len, "%s%s (line %d, %s)", len ? ", " : "",
                         diff->path, diff->line, what);
            nrefused++;
        }
    }
    leaves_free(&a);
    leaves_free(&b);
    return nrefused ? -1 : 0;
}

int gw_config_reload(gw_config_t *cur, gw_config_t *next, char *changed, size_t changed_size,
                     char *errstr, size_t errstr_size)
{
    if (!cur->text || !next->text) {
        snprintf(errstr, errstr_size, "the daemon runs on the embedded defaults (no -c FILE)");
        return -1;
    }
    if (gw_config_diff(cur->text, next->text, changed, changed_size, errstr, errstr_size) != 0)
        return -1;
    if (next->periods != cur->periods) {
        /* the pipeline counts the periods it was started with */
        snprintf(errstr, errstr_size,
                 "playbooks[].objective.per_period: the calendar periods counted (week, month, "
                 "quarter) would change; that needs a restart");
        return -1;
    }
    /* The reloadable parts move over; `cur` stays the struct every module
     * points at. Their storage lives in `next`, which `cur` now owns; the
     * previous reload's storage is no longer referenced (the modules look
     * playbooks up at each evaluation, never keep them across loop turns). */
    cur->log_level = next->log_level;
    cur->log_format = next->log_format;
    cur->playbooks = next->playbooks;
    cur->nplaybooks = next->nplaybooks;
    cur->alerting = next->alerting;
    cur->evaluation = next->evaluation;
    cur->text = next->text;
    gw_config_t *old = cur->reloaded;
    next->reloaded = NULL;
    cur->reloaded = next;
    gw_config_free(old);
    return 0;
}
