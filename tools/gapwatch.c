/*
 * gapwatch: the command-line companion of gapwatchd.
 *
 *   gapwatch produce      JSON lines -> protobuf events on Kafka
 *   gapwatch kafka-mock   an embedded Kafka (librdkafka's mock cluster)
 *   gapwatch rep          a rep's windows and diagnosis from Redis
 *   gapwatch sim          a simulated sales org, to Kafka or JSON lines
 *   gapwatch alerts       tail the alerts
 *   gapwatch scoreboard   a simulation's ground truth beside the diagnoses
 *   gapwatch dlq          list and replay dead-lettered records
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gw_version.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"produce", cmd_produce, "produce events from JSON lines to Kafka"},
    {"kafka-mock", cmd_kafka_mock, "run an embedded Kafka cluster (librdkafka mock)"},
    {"rep", cmd_rep, "show a rep's windows and diagnosis from Redis"},
    {"sim", cmd_sim, "simulate a sales org and produce its events"},
    {"alerts", cmd_alerts, "tail the alerts (Kafka topic or Redis stream)"},
    {"scoreboard", cmd_scoreboard, "compare a simulation's ground truth with the diagnoses"},
    {"dlq", cmd_dlq, "list dead-lettered records, replay them as they are or fixed"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: gapwatch COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n'gapwatch COMMAND --help' shows a command's options; 'gapwatch --version' the\n"
                 "versions of gapwatch and its libraries.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        gw_version_print(stdout, "gapwatch");
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "gapwatch: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
