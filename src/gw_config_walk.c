/*
 * gw_config_walk: the YAML walker every config source uses (gw_config.c for
 * the daemon's sections, gw_config_playbook.c, gw_config_calendar.c): the
 * table-driven mapping and sequence walks, scalars with ${VAR} expansion,
 * typed values within bounds, errors with file, line and key path, and
 * the lookups sections share (gw_config_window_index).
 * Section files depend on it, never on each other or on gw_config.c's
 * sections.
 */
#include "gw_config_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cfg_line(const yaml_node_t *node)
{
    return node ? (int)node->start_mark.line + 1 : 0;
}

void cfg_error(cfg_loader_t *L, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
    L->nerr++;
    if (L->err_len + 1 >= L->err_size)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int n;
    if (node)
        n = snprintf(L->err + L->err_len, L->err_size - L->err_len, "%s:%d: %s: %s\n", L->file,
                     cfg_line(node), path, msg);
    else
        n = snprintf(L->err + L->err_len, L->err_size - L->err_len, "%s: %s: %s\n", L->file, path,
                     msg);
    if (n > 0)
        L->err_len +=
            (size_t)n < L->err_size - L->err_len ? (size_t)n : L->err_size - L->err_len - 1;
}

const char *cfg_strdup(cfg_loader_t *L, const char *s)
{
    return gw_arena_strndup(L->arena, s, strlen(s));
}

const char *cfg_scalar(cfg_loader_t *L, yaml_node_t *node, const char *path)
{
    if (!node || node->type != YAML_SCALAR_NODE) {
        cfg_error(L, node, path, "expected a single value, found a %s",
                  node && node->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    const char *in = (const char *)node->data.scalar.value;
    /* Expand ${VAR}; "$${" is a literal "${". */
    char out[4096];
    size_t o = 0;
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            if (o + 2 >= sizeof(out))
                goto too_long;
            out[o++] = '$';
            out[o++] = '{';
            p += 3;
            continue;
        }
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                cfg_error(L, node, path, "unterminated ${ in \"%s\"", in);
                return NULL;
            }
            char var[256];
            size_t vlen = (size_t)(end - (p + 2));
            if (vlen == 0 || vlen >= sizeof(var)) {
                cfg_error(L, node, path, "bad variable name in \"%s\"", in);
                return NULL;
            }
            memcpy(var, p + 2, vlen);
            var[vlen] = '\0';
            const char *val = getenv(var);
            if (!val) {
                cfg_error(L, node, path, "environment variable %s is not set", var);
                return NULL;
            }
            size_t l = strlen(val);
            if (o + l >= sizeof(out))
                goto too_long;
            memcpy(out + o, val, l);
            o += l;
            p = end + 1;
            continue;
        }
        if (o + 1 >= sizeof(out))
            goto too_long;
        out[o++] = *p++;
    }
    out[o] = '\0';
    return gw_arena_strndup(L->arena, out, o);
too_long:
    cfg_error(L, node, path, "value longer than %zu bytes", sizeof(out) - 1);
    return NULL;
}

int cfg_int(cfg_loader_t *L, yaml_node_t *node, const char *path, int64_t min, int64_t max,
            int64_t *out)
{
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) {
        cfg_error(L, node, path, "\"%s\" is not an integer", s);
        return -1;
    }
    if (v < min || v > max) {
        cfg_error(L, node, path, "%lld is out of range [%lld, %lld]", v, (long long)min,
                  (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int cfg_duration(cfg_loader_t *L, yaml_node_t *node, const char *path, int64_t min, int64_t max,
                 int64_t *out)
{
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return -1;
    char err[200];
    int64_t v;
    if (gw_duration_parse(s, &v, err, sizeof(err)) != 0) {
        cfg_error(L, node, path, "%s", err);
        return -1;
    }
    if (v < min || v > max) {
        char a[32], b[32];
        gw_duration_format(min, a, sizeof(a));
        gw_duration_format(max, b, sizeof(b));
        cfg_error(L, node, path, "%s is out of range [%s, %s]", s, min ? a : "0", b);
        return -1;
    }
    *out = v;
    return 0;
}

int cfg_double(cfg_loader_t *L, yaml_node_t *node, const char *path, double min, double max,
               double *out)
{
    const char *s = cfg_scalar(L, node, path);
    if (!s)
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        cfg_error(L, node, path, "\"%s\" is not a number", s);
        return -1;
    }
    if (!(v >= min && v <= max)) {
        cfg_error(L, node, path, "%g is out of range [%g, %g]", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

void cfg_join_path(char *buf, size_t size, const char *path, const char *key)
{
    if (path && *path)
        snprintf(buf, size, "%s.%s", path, key);
    else
        snprintf(buf, size, "%s", key);
}

void cfg_set_field(cfg_loader_t *L, const cfg_field_t *f, yaml_node_t *value, const char *path,
                   void *base)
{
    char *dst = (char *)base + f->offset;
    int64_t v;
    switch (f->type) {
    case CFG_STR:
    case CFG_STR_OPT: {
        const char *s = cfg_scalar(L, value, path);
        if (!s)
            return;
        if (f->type == CFG_STR && !*s) {
            cfg_error(L, value, path, "must not be empty");
            return;
        }
        *(const char **)dst = s;
        break;
    }
    case CFG_INT:
        if (cfg_int(L, value, path, f->min, f->max, &v) == 0)
            *(int *)dst = (int)v;
        break;
    case CFG_DURATION:
        if (cfg_duration(L, value, path, f->min, f->max, &v) == 0)
            *(int64_t *)dst = v;
        break;
    case CFG_DOUBLE: {
        double d;
        if (cfg_double(L, value, path, f->dmin, f->dmax, &d) == 0)
            *(double *)dst = d;
        break;
    }
    case CFG_BOOL: {
        const char *s = cfg_scalar(L, value, path);
        if (!s)
            return;
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
            *(bool *)dst = true;
        else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
            *(bool *)dst = false;
        else
            cfg_error(L, value, path, "\"%s\" is not true or false", s);
        break;
    }
    case CFG_SECTION:
        cfg_walk_mapping(L, value, path, f->section, dst);
        break;
    case CFG_CUSTOM:
        f->fn(L, value, path, base);
        break;
    }
}

void cfg_walk_mapping(cfg_loader_t *L, yaml_node_t *node, const char *path,
                      const cfg_field_t *fields, void *base)
{
    if (!node || node->type != YAML_MAPPING_NODE) {
        /* An empty value ("kafka:" with nothing under it) means defaults. */
        if (node && node->type == YAML_SCALAR_NODE && node->data.scalar.length == 0)
            return;
        cfg_error(L, node, path && *path ? path : "(top level)", "expected a mapping of keys");
        return;
    }
    uint64_t seen = 0;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(&L->doc, pair->value);
        if (!k || k->type != YAML_SCALAR_NODE) {
            cfg_error(L, k, path, "keys must be plain names");
            continue;
        }
        const char *key = (const char *)k->data.scalar.value;
        char sub[256];
        cfg_join_path(sub, sizeof(sub), path, key);
        int i = 0;
        while (fields[i].key && strcmp(fields[i].key, key) != 0)
            i++;
        if (!fields[i].key) {
            char allowed[512];
            size_t n = 0;
            allowed[0] = '\0';
            for (int j = 0; fields[j].key && n < sizeof(allowed); j++)
                n += (size_t)snprintf(allowed + n, sizeof(allowed) - n, "%s%s", j ? ", " : "",
                                      fields[j].key);
            cfg_error(L, k, sub, "unknown key (allowed here: %s)", allowed);
            continue;
        }
        if (seen & (1ull << i)) {
            cfg_error(L, k, sub, "key given twice");
            continue;
        }
        seen |= 1ull << i;
        cfg_set_field(L, &fields[i], v, sub, base);
    }
}

void cfg_walk_sequence(cfg_loader_t *L, yaml_node_t *node, const char *path,
                       void (*fn)(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                                  void *base),
                       void *base)
{
    cfg_walk_list(L, node, path, NULL, fn, base);
}

void cfg_walk_list(cfg_loader_t *L, yaml_node_t *node, const char *path, const char *what,
                   void (*fn)(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                              void *base),
                   void *base)
{
    if (!node || node->type != YAML_SEQUENCE_NODE) {
        cfg_error(L, node, path, what ? "expected a list of %s" : "expected a list", what);
        return;
    }
    int i = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top;
         it++, i++) {
        char sub[256];
        snprintf(sub, sizeof(sub), "%s[%d]", path, i);
        fn(L, yaml_document_get_node(&L->doc, *it), sub, i, base);
    }
}

int gw_config_window_index(const gw_config_t *cfg, const char *name)
{
    for (int i = 0; i < cfg->nwindows; i++)
        if (!strcmp(cfg->windows[i].name, name))
            return i;
    return -1;
}
