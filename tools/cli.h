/*
 * The gapwatch CLI's subcommands and the little they share. Each command is
 * a function taking argc/argv after the subcommand name and returning the
 * process exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef GW_CLI_H
#define GW_CLI_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "gw_config.h"
#include <stdio.h>

int cmd_produce(int argc, char **argv);
int cmd_kafka_mock(int argc, char **argv);
int cmd_rep(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_scoreboard(int argc, char **argv);

/* Reads a bootstrap address from -F FILE (first line), as written by
 * `gapwatch kafka-mock -o FILE`. Returns 0 or -1 (message printed). */
int cli_read_bootstrap_file(const char *path, char *buf, size_t size);

/* Applies a "-X name=value" argument to `conf`. Returns 0 or -1 (printed). */
int cli_conf_set_kv(rd_kafka_conf_t *conf, const char *kv);

/* The configuration a Redis-reading command works with: gapwatchd's config
 * file when `path` is set, else the defaults; `redis_addr` (HOST:PORT, may
 * be NULL) overrides the Redis address, its host kept in `host`, which must
 * outlive the config. `cmd` names the command in messages. Returns the
 * config, or NULL with the error printed (*usage set for a bad argument). */
gw_config_t *cli_load_config(const char *cmd, const char *path, const char *redis_addr, char *host,
                             size_t hostsize, int *usage);

/* gw_store_read_hash callback: sets field -> value in the jansson object
 * `ctx`, as an integer or real when the value is numeric, else a string. */
int cli_collect_json(void *ctx, const char *field, const char *value);

#endif
