/*
 * The gapwatch CLI's subcommands and the little they share. Each command is
 * a function taking argc/argv after the subcommand name and returning the
 * process exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef GW_CLI_H
#define GW_CLI_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_config.h"
#include "gw_decode.h"
#include "gw_store.h"
#include <stdio.h>

int cmd_produce(int argc, char **argv);
int cmd_kafka_mock(int argc, char **argv);
int cmd_rep(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_scoreboard(int argc, char **argv);
int cmd_dlq(int argc, char **argv);

/* Reads a bootstrap address from -F FILE (first line), as written by
 * `gapwatch kafka-mock -o FILE`. Returns 0 or -1 (message printed). */
int cli_read_bootstrap_file(const char *path, char *buf, size_t size);

/* Applies a "-X name=value" argument to `conf`. Returns 0 or -1 (printed). */
int cli_conf_set_kv(rd_kafka_conf_t *conf, const char *kv);

/* How a Redis-reading command finds and authenticates to Redis: the
 * daemon's config (-c; its redis.user, password_env or password_file are
 * used as the daemon uses them), overridden by -r HOST:PORT, --user,
 * --password-env VAR, --password-file FILE. All borrowed from argv. */
typedef struct {
    const char *config_path;
    const char *redis_addr;
    const char *user;
    const char *password_env;
    const char *password_file;
} cli_redis_opts_t;

/* getopt_long values of the Redis options (beside 'c' and 'r'). */
enum { CLI_OPT_USER = 1000, CLI_OPT_PASSWORD_ENV, CLI_OPT_PASSWORD_FILE };

#define CLI_REDIS_LONG_OPTIONS                                                                     \
    {"user", required_argument, NULL, CLI_OPT_USER},                                               \
        {"password-env", required_argument, NULL, CLI_OPT_PASSWORD_ENV},                           \
    {                                                                                              \
        "password-file", required_argument, NULL, CLI_OPT_PASSWORD_FILE                            \
    }

#define CLI_REDIS_USAGE                                                                            \
    "  -c CONFIG            gapwatchd's YAML config (Redis address, credentials, key prefix)\n"    \
    "  -r HOST:PORT         Redis address (overrides the config)\n"                                \
    "      --user USER      Redis ACL user (overrides redis.user)\n"                               \
    "      --password-env VAR   the password is in environment variable VAR\n"                     \
    "      --password-file FILE the password is the first line of FILE\n"

/* The Kafka options of the Kafka commands: -b BROKERS, -F FILE (read the
 * bootstrap servers from it), -t TOPIC, -X name=value (into `conf`). Set
 * `topic` to the command's default and `conf` to rd_kafka_conf_new()
 * before parsing. */
typedef struct {
    char bootstrap[1024];
    const char *topic;
    rd_kafka_conf_t *conf;
} cli_kafka_opts_t;

/* The daemon's validator as a command uses it: the config at `config_path`
 * (NULL: the defaults; its custom kinds and limits) and a decoder for it.
 * 0, or -1 with the error said on stderr (nothing to free then). */
int cli_validator_open(const char *cmd, const char *config_path, gw_config_t **cfg,
                       gw_decoder_t **dec);

/* Takes getopt option `c` with `arg` into `o` when it is a Kafka option:
 * 1 if taken, 0 if not, -1 for a bad value (said on stderr). */
int cli_kafka_option(cli_kafka_opts_t *o, int c, const char *arg);

/* Takes getopt option `c` with `arg` into `o` when it is a Redis option.
 * Returns 1 if taken, 0 if not. */
int cli_redis_option(cli_redis_opts_t *o, int c, const char *arg);

/* The configuration a Redis-reading command works with: gapwatchd's config
 * file when `o->config_path` is set, else the defaults, with the overrides
 * of `o` applied (the host of -r kept in `host`, which must outlive the
 * config). `cmd` names the command in messages. Returns the config (free
 * with gw_config_free), or NULL with the error printed (*usage set for a bad
 * argument). */
gw_config_t *cli_load_config(const char *cmd, const cli_redis_opts_t *o, char *host,
                             size_t hostsize, int *usage);

/* A read-only store for `cfg` (borrowed), connected: one clear line on
 * stderr and NULL when Redis cannot be reached or refuses the login. Free
 * with gw_store_free. */
gw_store_t *cli_store_open(const char *cmd, const gw_config_t *cfg);

/* Kafka the CLI way: librdkafka's own log lines (%3|...) are kept back
 * unless -X debug=... is set, and errors are remembered for one clear
 * line. Set up with cli_kafka_quiet() on the conf before rd_kafka_new(). */
typedef struct {
    char last_error[512];
    int fatal;
    bool verbose; /* -X debug=... was given: librdkafka's lines are shown */
} cli_kafka_state_t;

/* Installs the log and error callbacks on `conf`; `st` (borrowed) must
 * outlive the client and is its opaque unless the caller sets another
 * (then call cli_kafka_error_cb/log from its own). */
void cli_kafka_quiet(rd_kafka_conf_t *conf, cli_kafka_state_t *st);

/* Asks the cluster for `topic`'s metadata within `timeout_ms`. Returns its
 * partition count, or -1 with one line printed: "gapwatch CMD: cannot reach
 * Kafka at BOOTSTRAP within N ms: ..." or "topic T does not exist". */
int cli_kafka_probe(const char *cmd, rd_kafka_t *rk, const char *bootstrap, const char *topic,
                    int timeout_ms, const cli_kafka_state_t *st);

/* A gw_store_field_fn for the typed reads (gw_store_read_state,
 * gw_diag_store_read_diagnosis, ...): sets field -> value in the jansson
 * object `ctx`, as an integer or real when the value is numeric, else a
 * string. */
int cli_collect_json(void *ctx, const char *field, const char *value);

/* 0 when `id` is a valid ID (gw_keys_id_valid: what gapwatchd accepts as a
 * tenant, rep or team); else prints "gapwatch CMD: WHAT ... is not a valid
 * ID" with the first bad byte and returns -1. */
int cli_check_id(const char *cmd, const char *what, const char *id);

/* One JSON line (proto3 JSON, see jsonline.h) to a packed Event in `*out`
 * (malloc'ed; caller frees) keyed by its rep_id in `key`; with `dec` set,
 * checked with gapwatchd's own rules (gw_decode: what it would dead-letter).
 * Returns 0, or -1 with "REASON: detail" (the dead-letter reason and
 * sentence) or the JSON error in `err`, nothing to free. */
int cli_event_from_json(gw_decoder_t *dec, const char *line, size_t len, uint8_t **out,
                        size_t *out_len, char *key, size_t key_size, char *err, size_t errsize);

/* Adds "-H name=value" to `*hdrs` (created on first use). 0 or -1 (printed). */
int cli_header_add(rd_kafka_headers_t **hdrs, const char *cmd, const char *kv);

#endif
