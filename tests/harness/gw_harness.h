/*
 * gw_harness: starts the real parts for integration tests, each in a
 * private temp dir on free loopback ports, and stops them at exit:
 *
 *   - redis-server (Debian's), no persistence unless asked;
 *   - a Redis Cluster of six redis-servers (three masters, three replicas),
 *     created by `redis-cli --cluster create`: gwh_cluster_start;
 *   - `gapwatch kafka-mock` (librdkafka's mock cluster over TCP), with its
 *     stdin kept for control commands (down/up/rtt);
 *   - gapwatchd, as a child process that tests may SIGKILL and restart,
 *     or several instances of it in one consumer group;
 *   - Apache Kafka's own broker (tools/kafka.sh: 4.x from Maven Central,
 *     KRaft combined mode), one or three nodes, optionally with a SASL_SSL
 *     listener: gwh_broker_start. gwh_kafka_start also uses a real broker
 *     when GW_TEST_BROKERS (a bootstrap list) or GW_TEST_BROKERS_FILE (a
 *     file holding one, as the ctest fixture of label `kafka` writes) is
 *     set: the test's topics are then deleted and created afresh and its
 *     consumer group is named after its temp dir.
 *
 * Binary paths come from the build (GW_GAPWATCHD, GW_GAPWATCH). Every
 * function aborts the test with a message on failure: a harness that cannot
 * start a server is a failed test, not a skipped one.
 */
#ifndef GW_HARNESS_H
#define GW_HARNESS_H

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A node of the harness' Redis Cluster. */
typedef struct {
    int port, bus_port;
    pid_t pid;     /* 0 while down */
    char id[41];   /* CLUSTER MYID */
    bool master;   /* as of the last gwh_cluster_roles */
    int master_of; /* a replica's master (node index), else -1 */
} gwh_cluster_node_t;

#define GWH_CLUSTER_NODES 6

typedef struct {
    char dir[256];
    int redis_port;
    pid_t redis_pid;
    char redis_args[1024];
    pid_t kafka_pid;
    int kafka_ctl;   /* write end of kafka-mock's stdin */
    FILE *kafka_out; /* kafka-mock's stdout */
    char bootstrap[256];
    pid_t daemon_pid;
    int daemon_starts;
    pid_t am_pid;
    int am_port;
    pid_t extra[8]; /* gwh_spawn'ed helpers */
    int nextra;
    char config_path[300];
    bool real_kafka;          /* Apache Kafka, not the mock */
    char kafka_dir[300];      /* tools/kafka.sh config's folder (own cluster) */
    int brokers;              /* nodes of the own cluster */
    pid_t broker_pid[3];      /* 0 while a node is down */
    char bootstrap_sasl[256]; /* SASL_SSL listeners, with --sasl-ssl */
    char group_id[64];        /* the consumer group gwh_write_config names */
    pid_t inst_pid[16];       /* gwh_instance_start'ed gapwatchd, by index */
    int ninst;
    gwh_cluster_node_t cluster[GWH_CLUSTER_NODES]; /* gwh_cluster_start */
    int ncluster;
} gwh_t;

/* Creates the temp dir and registers cleanup. */
void gwh_init(gwh_t *h, const char *name);

/* Kills every child and removes the temp dir (also run at exit). */
void gwh_cleanup(gwh_t *h);

/* Starts redis-server on a free port; `extra` is appended to its command
 * line (e.g. "--appendonly yes --appendfsync always"), may be NULL. */
void gwh_redis_start(gwh_t *h, const char *extra);
void gwh_redis_stop(gwh_t *h);    /* SIGTERM and wait */
void gwh_redis_kill(gwh_t *h);    /* SIGKILL and wait: a crash */
void gwh_redis_restart(gwh_t *h); /* same port and dir */

/* A new connection to the test Redis (caller frees). */
redisContext *gwh_redis(gwh_t *h);

/* Starts a Redis Cluster: six redis-servers (`cluster-enabled yes`, each in
 * <dir>/cluster-<i>, free loopback ports for clients and the cluster bus,
 * `cluster-node-timeout` 1000 ms so a failover takes seconds), joined by
 * `redis-cli --cluster create --cluster-replicas 1`: three masters with
 * a replica each. Returns when every node says cluster_state:ok, every
 * replica's link to its master is up and `redis-cli --cluster check`
 * passes; h->cluster[] then holds ports, node ids and roles. */
void gwh_cluster_start(gwh_t *h);

/* A new connection to node `i` (0-based; caller frees). */
redisContext *gwh_cluster_node(gwh_t *h, int i);

/* The index of the node listening on `port`, or -1. */
int gwh_cluster_index(const gwh_t *h, int port);

/* Refreshes h->cluster[].master and .master_of from each live node's ROLE. */
void gwh_cluster_roles(gwh_t *h);

/* Moves `slots` hash slots from master `from` to master `to` (node indices)
 * with `redis-cli --cluster reshard ... --cluster-yes` (keys migrate too),
 * then waits until the cluster is consistent again. */
void gwh_cluster_reshard(gwh_t *h, int from, int to, int slots);

/* SIGKILLs master `i` and waits until one of its replicas was promoted and
 * the surviving nodes say cluster_state:ok; returns the promoted node. */
int gwh_cluster_kill_master(gwh_t *h, int i);

/* Starts node `i` again (same ports, dir and nodes.conf): it rejoins, as a
 * replica if it was failed over. Waits for cluster_state:ok everywhere. */
void gwh_cluster_restart(gwh_t *h, int i);

/* Starts the mock cluster with `brokers` brokers and the given topics
 * ("name:partitions", NULL-terminated). */
void gwh_kafka_start(gwh_t *h, int brokers, const char *const *topics);

/* Starts an Apache Kafka cluster of its own (1 or 3 nodes, replication
 * factor = nodes) in <dir>/kafka, its nodes children of the test, and
 * creates `topics` ("name:partitions", NULL-terminated) with replication
 * factor `nodes`. With `sasl_ssl`, h->bootstrap_sasl names a SASL_SSL
 * listener (SCRAM-SHA-512 user "gapwatch", password in
 * <dir>/kafka/scram-password, CA in <dir>/kafka/tls/ca.pem); h->bootstrap
 * stays the plaintext one the harness' own clients use. */
void gwh_broker_start(gwh_t *h, int nodes, bool sasl_ssl, const char *const *topics);

/* A real broker for the test: the external one the environment names (see
 * above), else a one-node cluster of its own (gwh_broker_start). */
void gwh_real_kafka_start(gwh_t *h, const char *const *topics);

/* SIGKILLs node `node` (1-based) of the own cluster and waits for it. */
void gwh_broker_kill(gwh_t *h, int node);

/* Starts node `node` again, same ports and data. */
void gwh_broker_restart(gwh_t *h, int node);

/* Creates `topics` on the real broker (deleting them first when they
 * exist), waiting until every partition has a leader. */
void gwh_topics_create(gwh_t *h, const char *const *topics, int replication);

/* Sends a control command ("down all", "up 1") and checks the "ok". */
void gwh_kafka_ctl(gwh_t *h, const char *cmd);

/* Writes the daemon's config: Kafka and Redis of the harness, test-speed
 * consumer group settings, then `extra_yaml` (top-level keys) verbatim. */
void gwh_write_config(gwh_t *h, const char *extra_yaml);

/* Starts Debian's prometheus-alertmanager on a free loopback port (no
 * clustering), waiting until its API answers. */
void gwh_alertmanager_start(gwh_t *h);

/* A free loopback TCP port. */
int gwh_free_port(void);

/* Starts `argv` with stdout/stderr to <dir>/<name>.log; killed at cleanup. */
pid_t gwh_spawn(gwh_t *h, const char *name, char *const argv[]);

/* Runs `cmd` through the shell; returns its exit status. */
int gwh_run(const char *cmd);

/* GET http://127.0.0.1:<port><path> into a malloc'ed NUL-terminated body
 * (caller frees); NULL on failure. */
char *gwh_http_get(int port, const char *path);

/* Replaces the `port:` line of the redis section gwh_write_config wrote
 * with `lines` (each "  key: value\n"), e.g. a TLS port and redis.tls*. */
void gwh_set_redis_config(gwh_t *h, const char *lines);

/* Makes test certificates with openssl under <dir>/tls: ca.crt (a CA),
 * server.crt/.key (CN localhost, IP 127.0.0.1, signed by it), client.crt/.key
 * (signed by it) and other-ca.crt (a CA that signed nothing here). */
void gwh_tls_certs(gwh_t *h);

/* Starts gapwatchd with the config; its log goes to <dir>/gapwatchd.log. */
/* Adds `line` ("name: value") to kafka.consumer_properties of the config
 * gwh_write_config wrote. */
void gwh_add_consumer_property(gwh_t *h, const char *line);

/* Adds `line` to kafka.properties (every client) of the config. */
void gwh_add_kafka_property(gwh_t *h, const char *line);

/* Starts one more gapwatchd with the config (same group), its log in
 * <dir>/gapwatchd-<i>.log; returns its index i (from 1). */
int gwh_instance_start(gwh_t *h);

/* Sends `sig` to instance `i` and waits (30 s, then SIGKILL); returns its
 * exit status or 128 + signal. */
int gwh_instance_stop(gwh_t *h, int i, int sig);

/* True while instance `i` runs. */
bool gwh_instance_alive(gwh_t *h, int i);

/* Counts lines containing `needle` in <dir>/<log>.log ("gapwatchd-2"). */
int gwh_log_count(gwh_t *h, const char *log, const char *needle);

void gwh_daemon_start(gwh_t *h);

/* Sends `sig` to the daemon and, unless SIGKILL... always waits for it.
 * Returns its exit status (or 128 + signal). */
int gwh_daemon_stop(gwh_t *h, int sig);

/* True while the daemon process is alive. */
bool gwh_daemon_alive(gwh_t *h);

/* A producer to the harness' Kafka; delivery reports call `dr` with the
 * message's opaque. */
rd_kafka_t *gwh_producer(gwh_t *h, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                         void *opaque);

/* Sum over partitions of the high watermark of `topic`. */
int64_t gwh_topic_end(gwh_t *h, rd_kafka_t *rk, const char *topic, int partitions);

/* Waits until the positions the daemon recorded in Redis for `topic` reach
 * the end of every partition, or `timeout_ms` passes. Returns true if
 * reached. */
bool gwh_wait_consumed(gwh_t *h, rd_kafka_t *rk, const char *topic, int partitions,
                       int64_t timeout_ms);

/* Sum of the positions recorded in Redis for `topic` (progress). */
int64_t gwh_positions_sum(gwh_t *h, const char *topic);
/* The same on one connection: -1 when it answers no hash (a cluster node
 * that does not serve the key's slot). */
int64_t gwh_positions_sum_on(redisContext *c, const char *topic);

/* redisCommand that fails the test when the connection gives no reply. */
redisReply *gwh_command(redisContext *c, const char *fmt, ...);

/* Milliseconds since the epoch, and a sleep. */
int64_t gwh_now_ms(void);

/* xorshift64: a fast, repeatable generator for test and benchmark data;
 * *state must start non-zero. */
uint64_t gwh_rand(uint64_t *state);
void gwh_sleep_ms(int ms);

/* Prints the tail of the daemon's log to stderr (for failure reports). */
void gwh_dump_daemon_log(gwh_t *h, int lines);

/* Runs `cmd` with the shell, its stdout into `out` (NUL-terminated,
 * truncated to size - 1; also echoed to stderr for the test log). Returns
 * its exit status, or -1 when it did not exit normally. */
int gwh_run_capture(const char *cmd, char *out, size_t size);

/* Counts lines of the daemon's log containing `needle`. */
int gwh_daemon_log_count(gwh_t *h, const char *needle);

/* The integer value of `key=` on the last daemon log line containing
 * `needle`, or -1. */
long long gwh_daemon_log_field(gwh_t *h, const char *needle, const char *key);

#endif
