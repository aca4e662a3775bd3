/*
 * The gapwatch CLI's subcommands and the little they share. Each command is
 * a function taking argc/argv after the subcommand name and returning the
 * process exit code: 0 success, 1 failure, 2 usage error.
 */
#ifndef GW_CLI_H
#define GW_CLI_H

#include <librdkafka/rdkafka.h>
#include <stdio.h>

int cmd_produce(int argc, char **argv);
int cmd_kafka_mock(int argc, char **argv);
int cmd_rep(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_alerts(int argc, char **argv);

/* Reads a bootstrap address from -F FILE (first line), as written by
 * `gapwatch kafka-mock -o FILE`. Returns 0 or -1 (message printed). */
int cli_read_bootstrap_file(const char *path, char *buf, size_t size);

/* Applies a "-X name=value" argument to `conf`. Returns 0 or -1 (printed). */
int cli_conf_set_kv(rd_kafka_conf_t *conf, const char *kv);

#endif
