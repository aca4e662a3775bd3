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
 * The returned gw_config_t is immutable after loading and owns all its
 * strings; free it with gw_config_free(). See README.md ("Configuration")
 * for every key and its default.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gw_kinds.h"
#include "gw_log.h"
#include "gw_playbook.h"
#include "gw_window.h"

typedef enum {
    GW_DATA_LOSS_HALT = 0, /* stop applying, fail readiness (default) */
    GW_DATA_LOSS_REBUILD,  /* rewind to the earliest retained offsets and recount */
} gw_data_loss_policy_t;

typedef struct {
    const char *name;
    const char *value;
    int line; /* line in the file, 0 for defaults */
} gw_config_prop_t;

typedef struct gw_config_s {
    const char *source; /* file name, or "<defaults>" */
    gw_log_level_t log_level;

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
        bool cluster; /* Redis Cluster: one entity per script call */
        /* TLS (needs hiredis >= 1.0 with hiredis_ssl: GW_HAVE_REDIS_TLS). */
        struct {
            bool enabled;
            const char *ca;          /* CA bundle (PEM); NULL: the system's */
            const char *cert;        /* client certificate (PEM), with `key` */
            const char *key;         /* client private key (PEM) */
            const char *server_name; /* SNI; NULL: `host` */
            bool verify;             /* verify the server's certificate (default) */
        } tls;
        /* What to do when Redis lost gapwatch's data (README "Data loss
         * policy"): stop applying, or rewind to the earliest retained
         * offsets and count again. */
        gw_data_loss_policy_t on_data_loss;
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
        const char *listen; /* host:port of /metrics, "" to disable */
    } metrics;

    gw_playbook_t *playbooks; /* see gw_playbook.h */
    int nplaybooks;

    struct {
        int64_t fire_after_ms;        /* a condition must hold this long to fire */
        int64_t resolve_after_ms;     /* ... and be clear this long to resolve */
        int64_t repeat_interval_ms;   /* FIRING repeated after this while it holds; 0: never */
        unsigned kinds;               /* bit per gw_alert_kind_t that is published */
        unsigned windows;             /* bit per window that alerts; all by default */
        int stream_max_length;        /* of the per-tenant Redis stream */
        const char *alertmanager_url; /* "" disables; e.g. http://127.0.0.1:9093 */
        int64_t alertmanager_timeout_ms;
    } alerting;

    struct {
        int64_t sweep_interval_ms; /* every known rep is evaluated this often */
        int64_t min_interval_ms;   /* a rep touched by batches at most this often */
        int max_lag;               /* evaluate only when every partition is this close */
    } evaluation;

    void *internal; /* owned storage */
} gw_config_t;

/* The embedded defaults (README.md lists them). Never fails except on OOM
 * (returns NULL). */
gw_config_t *gw_config_defaults(void);

/*
 * Loads and validates the file at `path`. On success returns 0 and sets *out
 * (free with gw_config_free). On failure returns -1 and writes every error,
 * one per line, into `errstr` (truncated to `errstr_size`).
 */
int gw_config_load_file(const char *path, gw_config_t **out, char *errstr, size_t errstr_size);

/* As gw_config_load_file, for YAML text in memory; `name` is used in errors. */
int gw_config_load_string(const char *yaml, const char *name, gw_config_t **out, char *errstr,
                          size_t errstr_size);

/* Frees the config and every string in it. Accepts NULL. */
void gw_config_free(gw_config_t *cfg);

/* Index of the window called `name`, or -1. */
int gw_config_window_index(const gw_config_t *cfg, const char *name);

#endif
