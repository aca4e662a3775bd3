/*
 * gw_config: the daemon's one YAML configuration file, validated as a whole.
 *
 * gw_config_load_*() parse, check every key against the schema (unknown keys
 * are errors), expand ${VAR} from the environment in scalar values, read the
 * Redis password from an environment variable or a file, and check the
 * librdkafka properties against librdkafka itself. Every error is reported
 * as "<file>:<line>: <key path>: <what is wrong>", one per line, all of them
 * (not just the first).
 *
 * The returned gw_config_t is immutable after loading, except for the
 * reloadable parts gw_config_reload() replaces on the main thread (SIGHUP),
 * and owns all its strings; free it with gw_config_free(). See docs/configuration.md
 * for every key and its default.
 *
 * Ownership: gw_config_defaults and gw_config_load_* allocate the gw_config_t and every string in
 *   it; the caller frees it with gw_config_free. Modules borrow `const gw_config_t *` (and the
 *   playbooks, calendars and kinds inside it) for as long as the daemon runs; pointers into the
 *   reloadable parts are replaced by gw_config_reload, so take them again after a reload.
 * Errors: Loaders return -1 with every error, one per line, in `errstr`; gw_config_defaults returns
 *   NULL on OOM; gw_config_reload returns -1 with the refused keys in `errstr`, and gw_config_diff
 *   -1 when a key is refused.
 * Threads: loading, gw_config_diff and gw_config_key_reloadable may run on any thread (no
 *   file-scope mutable state; ${VAR} expansion reads the environment with getenv). gw_config_reload
 *   runs on the main thread only, because the modules read the config without locks.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_alerts.h"
#include "gw_calendar.h"
#include "gw_kinds.h"
#include "gw_log.h"
#include "gw_playbook.h"
#include "gw_window.h"

#define GW_CALENDARS_MAX 16

typedef enum {
    GW_DATA_LOSS_HALT = 0, /* stop applying, fail readiness (default) */
    GW_DATA_LOSS_REBUILD,  /* rewind to the earliest retained offsets and recount */
} gw_data_loss_policy_t;

typedef struct {
    const char *name;
    const char *value;
    int line; /* line in the file, 0 for defaults */
} gw_config_prop_t;

/* A host:port of redis.cluster_nodes. */
typedef struct {
    const char *host;
    int port;
} gw_config_addr_t;

typedef struct gw_config_s {
    const char *source; /* file name, or "<defaults>" */
    gw_log_level_t log_level;
    gw_log_format_t log_format; /* log.format: logfmt or json */

    struct {
        const char *bootstrap_servers;
        const char *group_id;
        const char *topic_events;
        const char *topic_dead_letter;
        const char *topic_alerts;
        gw_config_prop_t *properties; /* passed to librdkafka verbatim, both clients */
        size_t nproperties;
        gw_config_prop_t *consumer_properties; /* only the consumer's */
        size_t nconsumer_properties;
        gw_config_prop_t *producer_properties; /* only the producer's */
        size_t nproducer_properties;
    } kafka;

    struct {
        int batch_max_messages;    /* most messages per batch */
        int batch_max_entities;    /* most distinct reps and teams per batch (memory) */
        int64_t batch_max_wait_ms; /* longest wait to fill a batch */
        int64_t commit_interval_ms;
        int64_t idle_after_ms; /* caught-up partition counts as idle after */
    } consumer;

    struct {
        const char *host;
        int port;
        const char *unix_socket; /* overrides host/port when set */
        int db;
        const char *user;     /* ACL user, NULL for the default user */
        const char *password; /* from password_env / password_file; never logged */
        int64_t connect_timeout_ms;
        int64_t command_timeout_ms;
        /* TLS (needs hiredis >= 1.0 with hiredis_ssl: GW_HAVE_REDIS_TLS). */
        struct {
            bool enabled;
            const char *ca;          /* CA bundle (PEM); NULL: the system's */
            const char *cert;        /* client certificate (PEM), with `key` */
            const char *key;         /* client private key (PEM) */
            const char *server_name; /* SNI; NULL: `host` */
            bool verify;             /* verify the server's certificate (default) */
        } tls;
        /* What to do when Redis lost gapwatch's data (docs/redis.md "Data loss
         * policy"): stop applying, or rewind to the earliest retained
         * offsets and count again. */
        gw_data_loss_policy_t on_data_loss;
        /* Redis Cluster (docs/redis.md "Redis Cluster"): host:port is the
         * first seed, cluster_nodes more; the slot map is read from any. */
        bool cluster;
        gw_config_addr_t *cluster_nodes;
        size_t ncluster_nodes;
        bool cluster_wait_replicas; /* WAIT 1 after each batch's counts (default) */
    } redis;

    const char *key_prefix;
    int64_t key_ttl_ms; /* idle entity keys expire after this (wall clock) */

    gw_window_t windows[GW_WINDOWS_MAX];
    int nwindows;

    gw_kinds_t kinds; /* built-ins plus custom_kinds */

    struct {
        int64_t max_future_ms; /* events further ahead of the clock are rejected */
    } validation;

    struct {
        const char *listen;            /* host:port of /metrics, "" to disable */
        int64_t group_lag_interval_ms; /* group lag of every partition read this often; 0: off */
    } metrics;

    gw_calendar_t *calendars; /* see gw_calendar.h; none: UTC, every day works */
    int ncalendars;

    gw_playbook_t *playbooks; /* see gw_playbook.h */
    int nplaybooks;
    unsigned periods; /* bit per gw_period_kind_t a playbook sets an objective for */

    struct {
        int64_t fire_after_ms;        /* a condition must hold this long to fire */
        int64_t resolve_after_ms;     /* ... and be clear this long to resolve */
        int64_t repeat_interval_ms;   /* FIRING repeated after this while it holds; 0: never */
        unsigned kinds;               /* bit per gw_alert_kind_t that is published */
        unsigned windows;             /* bit per window that alerts; all by default */
        int stream_max_length;        /* of the per-tenant Redis stream */
        const char *alertmanager_url; /* "" disables; e.g. http://127.0.0.1:9093 */
        int64_t alertmanager_timeout_ms;
        /* Alertmanager behind authentication or TLS (NULL when not set):
         * basic auth (username and a password from an env var or a file)
         * or a bearer token (env var or file); a CA for the server, a
         * client certificate and key, and whether to verify the server. */
        struct {
            const char *username;
            const char *password;
            const char *bearer_token;
            const char *tls_ca, *tls_cert, *tls_key;
            bool tls_verify;
        } am_auth;
        /* generatorURL template: {tenant} {team} {rep} {window} {kind}
         * {playbook} are replaced; "" omits generatorURL. */
        const char *generator_url;
        /* runbook_url annotation: this base + "#" + the kind's name. */
        const char *runbook_url;
        /* `severity` label per gw_alert_kind_t (never NULL once loaded). */
        const char *severity[GW_ALERT_KINDS];
    } alerting;

    struct {
        int64_t sweep_interval_ms; /* every known rep is evaluated this often */
        int64_t min_interval_ms;   /* a rep touched by batches at most this often */
        int max_lag;               /* evaluate only when every partition is this close */
    } evaluation;

    const char *text;             /* the YAML as loaded; NULL for the defaults */
    struct gw_config_s *reloaded; /* the last reload's storage (see gw_config_reload) */
    void *internal;               /* owned storage */
} gw_config_t;

/* The embedded defaults (docs/configuration.md lists them). Never fails except on OOM
 * (returns NULL). */
gw_config_t *gw_config_defaults(void);

/*
 * Loads and validates the file at `path`. On success returns 0 and sets *out
 * (free with gw_config_free). On failure returns -1 and writes every error,
 * one per line, into `errstr` (truncated to `errstr_size`).
 */
int gw_config_load_file(const char *path, gw_config_t **out, char *errstr, size_t errstr_size);

/* gw_config_load_file_flags: check redis.password_env / password_file
 * without reading them (the variable or the file need not exist; the
 * config's redis.password stays NULL). For linting without secrets. */
#define GW_CONFIG_NO_SECRETS 0x1u

/* As gw_config_load_file, with GW_CONFIG_* `flags`. */
int gw_config_load_file_flags(const char *path, unsigned flags, gw_config_t **out, char *errstr,
                              size_t errstr_size);

/* As gw_config_load_file, for YAML text in memory; `name` is used in errors. */
int gw_config_load_string(const char *yaml, const char *name, gw_config_t **out, char *errstr,
                          size_t errstr_size);

/* Frees the config and every string in it. Accepts NULL. */
void gw_config_free(gw_config_t *cfg);

/*
 * SIGHUP's reload (gw_config_reload.c). `next` is a config just loaded and
 * validated from the same file. When every difference between the two files
 * is reloadable (gw_config_key_reloadable), moves the reloadable parts
 * (log level and format, playbooks, alerting, evaluation) into `cur`, takes
 * `next` over (freed with `cur`; do not free it), lists the changed keys in
 * `changed` ("" when nothing changed) and returns 0. Otherwise returns -1,
 * `cur` untouched and `next` still the caller's, with every key that needs
 * a restart, its line and how it changed in `errstr`. Main thread only:
 * the modules read `cur` without locks.
 */
int gw_config_reload(gw_config_t *cur, gw_config_t *next, char *changed, size_t changed_size,
                     char *errstr, size_t errstr_size);

/* True if the key at dotted `path` ("playbooks[0].name") may change on a
 * reload. */
bool gw_config_key_reloadable(const char *path);

/*
 * Compares two YAML texts leaf by leaf: reloadable keys that differ go to
 * `changed` (comma-separated), the others to `refused` ("path (line N,
 * changed)", comma-separated). Returns 0 when nothing is refused, else -1.
 * Pure; for tests and gw_config_reload.
 */
int gw_config_diff(const char *old_text, const char *new_text, char *changed, size_t changed_size,
                   char *refused, size_t refused_size);

/* Index of the window called `name`, or -1. */
int gw_config_window_index(const gw_config_t *cfg, const char *name);

#endif
