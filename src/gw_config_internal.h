/*
 * gw_config_internal: the YAML walker (gw_config_walk.c) shared by the
 * parts of the config loader (gw_config.c for the daemon's sections,
 * gw_config_playbook.c, gw_config_calendar.c), and the section loaders
 * gw_config.c calls. Not a public contract: only config sources include it.
 *
 * Every helper reports errors through cfg_error(), which records
 * "<file>:<line>: <path>: <message>" and lets the walk continue, so one run
 * of --check-config lists every problem.
 *
 * Ownership: A cfg_loader_t belongs to one load; strings recorded with cfg_scalar and cfg_strdup
 *   are copied into the config's storage and freed with the config (gw_config_free); yaml_node_t
 *   pointers are borrowed from the document being walked, valid during the load only.
 * Errors: cfg_error records an error and the walk goes on; cfg_int, cfg_duration and cfg_double
 *   return -1 after recording one; cfg_scalar returns NULL after recording one.
 * Threads: One thread per loader; no shared state.
 */
#ifndef GW_CONFIG_INTERNAL_H
#define GW_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "gw_arena.h"
#include "gw_config.h"

typedef struct cfg_loader_s cfg_loader_t;

typedef enum {
    CFG_STR,      /* const char *, any non-empty string */
    CFG_STR_OPT,  /* const char *, may be empty */
    CFG_INT,      /* int within [min, max] */
    CFG_DURATION, /* int64_t milliseconds within [min, max] */
    CFG_BOOL,     /* bool */
    CFG_DOUBLE,   /* double within [min, max] (as read, no scaling) */
    CFG_SECTION,  /* nested mapping described by `section` */
    CFG_CUSTOM,   /* handled by `fn` */
} cfg_type_t;

typedef struct cfg_field_s cfg_field_t;

/* Custom handler: `node` is the value under the key, `path` its dotted path,
 * `base` the struct the enclosing mapping fills. */
typedef void (*cfg_custom_fn)(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base);

struct cfg_field_s {
    const char *key;
    cfg_type_t type;
    size_t offset; /* into `base` of the enclosing mapping */
    int64_t min, max;
    const cfg_field_t *section; /* CFG_SECTION: fields, NULL-key terminated */
    cfg_custom_fn fn;           /* CFG_CUSTOM */
    double dmin, dmax;          /* CFG_DOUBLE bounds */
};

struct cfg_loader_s {
    yaml_document_t doc;
    const char *file;
    gw_config_t *cfg;
    gw_arena_t *arena;
    char *err;
    size_t err_size;
    size_t err_len;
    int nerr;
    unsigned flags;                              /* GW_CONFIG_* of gw_config_load_file_flags */
    struct cfg_main_extra_s *extra;              /* gw_config.c's: lines for its checks */
    struct cfg_playbook_state_s *playbook_state; /* gw_config_playbook.c's, resolved after */
};

/* Records one error at `node`'s line (line 0 when node is NULL). */
void cfg_error(cfg_loader_t *L, const yaml_node_t *node, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1-based line of a node. */
int cfg_line(const yaml_node_t *node);

/* Scalar text of `node` with ${VAR} expanded, copied into the config's
 * storage; NULL (and an error) if it is not a scalar or a variable is unset. */
const char *cfg_scalar(cfg_loader_t *L, yaml_node_t *node, const char *path);

/* Fills `base` from mapping `node` according to `fields`; unknown and
 * repeated keys are errors naming the allowed keys. */
void cfg_walk_mapping(cfg_loader_t *L, yaml_node_t *node, const char *path,
                      const cfg_field_t *fields, void *base);

/* "<path>.<key>", or "<key>" at the top level. */
void cfg_join_path(char *buf, size_t size, const char *path, const char *key);

/* Sets one field of `base` from `value` by its type (as a mapping walk
 * does for each key). */
void cfg_set_field(cfg_loader_t *L, const cfg_field_t *f, yaml_node_t *value, const char *path,
                   void *base);

/* Calls `fn` for each item of sequence `node` with path "<path>[i]". */
void cfg_walk_sequence(cfg_loader_t *L, yaml_node_t *node, const char *path,
                       void (*fn)(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                                  void *base),
                       void *base);

/* The same, and a node that is not a list is "expected a list of <what>". */
void cfg_walk_list(cfg_loader_t *L, yaml_node_t *node, const char *path, const char *what,
                   void (*fn)(cfg_loader_t *L, yaml_node_t *item, const char *path, int index,
                              void *base),
                   void *base);

/* Copies a string into the config's storage. */
const char *cfg_strdup(cfg_loader_t *L, const char *s);

/* Parses scalar `node` as an integer / duration / double within [min, max];
 * returns 0, or -1 after recording an error. */
int cfg_int(cfg_loader_t *L, yaml_node_t *node, const char *path, int64_t min, int64_t max,
            int64_t *out);
int cfg_duration(cfg_loader_t *L, yaml_node_t *node, const char *path, int64_t min, int64_t max,
                 int64_t *out);
int cfg_double(cfg_loader_t *L, yaml_node_t *node, const char *path, double min, double max,
               double *out);

/* The `playbooks:` section (gw_config_playbook.c). The
 * loader walks them like any key; cfg_resolve_playbooks() runs after the
 * whole document is walked, when windows and custom kinds are known, and
 * reports unknown kinds, windows and overlapping teams at their lines. */
void cfg_load_playbooks(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base);
void cfg_resolve_playbooks(cfg_loader_t *L);

/* The `calendars:` section (gw_config_calendar.c). */
void cfg_load_calendars(cfg_loader_t *L, yaml_node_t *node, const char *path, void *base);

#endif
