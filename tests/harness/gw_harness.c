/*
 * gw_harness: process management for integration tests. Children get
 * PR_SET_PDEATHSIG so a crashed test never leaves servers behind.
 */
#include "gw_harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static gwh_t *registered;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "harness: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (registered)
        gwh_cleanup(registered);
    exit(1);
}

int64_t gwh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gwh_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void at_exit_cleanup(void)
{
    if (registered)
        gwh_cleanup(registered);
}

void gwh_init(gwh_t *h, const char *name)
{
    memset(h, 0, sizeof(*h));
    h->kafka_ctl = -1;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(h->dir, sizeof(h->dir), "%s/gw-%s-XXXXXX", base, name);
    if (!mkdtemp(h->dir))
        die("mkdtemp %s: %s", h->dir, strerror(errno));
    registered = h;
    static bool once;
    if (!once) {
        atexit(at_exit_cleanup);
        once = true;
    }
    signal(SIGPIPE, SIG_IGN);
}

static void kill_wait(pid_t *pid, int sig)
{
    if (*pid <= 0)
        return;
    kill(*pid, sig);
    int status;
    for (int i = 0; i < 100; i++) {
        if (waitpid(*pid, &status, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        gwh_sleep_ms(50);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, &status, 0);
    *pid = 0;
}

void gwh_cleanup(gwh_t *h)
{
    kill_wait(&h->daemon_pid, SIGKILL);
    for (int i = 0; i < h->ninst; i++)
        kill_wait(&h->inst_pid[i], SIGKILL);
    h->ninst = 0;
    for (int i = 0; i < h->brokers; i++)
        kill_wait(&h->broker_pid[i], SIGKILL);
    h->brokers = 0;
    kill_wait(&h->am_pid, SIGTERM);
    for (int i = 0; i < h->nextra; i++)
        kill_wait(&h->extra[i], SIGTERM);
    h->nextra = 0;
    kill_wait(&h->kafka_pid, SIGTERM);
    kill_wait(&h->redis_pid, SIGKILL);
    for (int i = 0; i < h->ncluster; i++)
        kill_wait(&h->cluster[i].pid, SIGKILL);
    h->ncluster = 0;
    if (h->kafka_ctl >= 0) {
        close(h->kafka_ctl);
        h->kafka_ctl = -1;
    }
    if (h->kafka_out) {
        fclose(h->kafka_out);
        h->kafka_out = NULL;
    }
    if (h->dir[0] && !getenv("GW_KEEP_TMP")) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: could not remove %s\n", h->dir);
        h->dir[0] = '\0';
    }
    if (registered == h)
        registered = NULL;
}

int gwh_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        die("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* A free loopback port below the kernel's ephemeral range, for a server
 * that is killed and started again on the same port: in the ephemeral
 * range an outgoing connection (another node's, the harness') may take
 * the port while the server is down. Falls back to gwh_free_port(). */
static int gwh_free_fixed_port(void)
{
    int lo = 32768;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &lo) != 1)
            lo = 32768;
        fclose(f);
    }
    static uint64_t seed;
    if (!seed)
        seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)gwh_now_ms();
    for (int tries = 0; lo > 12000 && tries < 200; tries++) {
        int port = 10000 + (int)(gwh_rand(&seed) % (uint64_t)(lo - 10000));
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return port;
    }
    return gwh_free_port();
}

/* fork+exec with stdin/stdout/stderr redirected; argv NULL-terminated. */
static pid_t spawn(char *const argv[], int in_fd, int out_fd, int err_fd)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (in_fd >= 0)
            dup2(in_fd, 0);
        if (out_fd >= 0)
            dup2(out_fd, 1);
        if (err_fd >= 0)
            dup2(err_fd, 2);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

/* A connection to the redis-server on `port` (caller frees); NULL when it
 * does not answer. */
static redisContext *redis_connect(int port, int timeout_s)
{
    struct timeval tv = {timeout_s, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

redisContext *gwh_redis(gwh_t *h)
{
    redisContext *c = redis_connect(h->redis_port, 5);
    if (!c)
        die("connect to test redis on %d failed", h->redis_port);
    return c;
}

/* Starts redis-server on `port` with its files in `dir` and its log in
 * `logf`, then `args` (space-separated), and waits until it answers PING. */
static pid_t redis_server(const char *dir, int port, const char *logf, const char *args)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    char *argv[48] = {"redis-server", "--port",    portstr,      "--bind", "127.0.0.1",
                      "--dir",        (char *)dir, "--save",     "",       "--appendonly",
                      "no",           "--logfile", (char *)logf, NULL};
    int argc = 13;
    char extra[1024];
    snprintf(extra, sizeof(extra), "%s", args);
    for (char *tok = strtok(extra, " "); tok && argc < 46; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    pid_t pid = spawn(argv, -1, -1, -1);
    for (int i = 0; i < 100; i++) {
        redisContext *c = redis_connect(port, 1);
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return pid;
        }
        gwh_sleep_ms(50);
    }
    die("redis-server did not answer on port %d (see %s)", port, logf);
}

static void redis_spawn(gwh_t *h)
{
    char logf[300];
    snprintf(logf, sizeof(logf), "%s/redis.log", h->dir);
    h->redis_pid = redis_server(h->dir, h->redis_port, logf, h->redis_args);
}

void gwh_redis_start(gwh_t *h, const char *extra)
{
    h->redis_port = gwh_free_port();
    /* GW_REDIS_ARGS: more redis-server options (benchmarks of its settings) */
    const char *more = getenv("GW_REDIS_ARGS");
    snprintf(h->redis_args, sizeof(h->redis_args), "%s %s", extra ? extra : "", more ? more : "");
    redis_spawn(h);
}

void gwh_redis_stop(gwh_t *h)
{
    kill_wait(&h->redis_pid, SIGTERM);
}

void gwh_redis_kill(gwh_t *h)
{
    kill_wait(&h->redis_pid, SIGKILL);
}

void gwh_redis_restart(gwh_t *h)
{
    redis_spawn(h);
}

/* The bootstrap of an external real broker named by the environment, or
 * NULL. */
static const char *external_brokers(char *buf, size_t size)
{
    const char *v = getenv("GW_TEST_BROKERS");
    if (v && *v) {
        snprintf(buf, size, "%s", v);
        return buf;
    }
    const char *file = getenv("GW_TEST_BROKERS_FILE");
    if (!file || !*file)
        return NULL;
    FILE *f = fopen(file, "r");
    if (!f)
        die("GW_TEST_BROKERS_FILE %s: %s (is the kafka fixture running?)", file, strerror(errno));
    if (!fgets(buf, (int)size, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0])
        die("GW_TEST_BROKERS_FILE %s is empty", file);
    return buf;
}

static void name_group(gwh_t *h)
{
    const char *base = strrchr(h->dir, '/');
    snprintf(h->group_id, sizeof(h->group_id), "gapwatch-%.40s", base ? base + 1 : h->dir);
}

void gwh_kafka_start(gwh_t *h, int brokers, const char *const *topics)
{
    char ext[256];
    if (external_brokers(ext, sizeof(ext))) {
        snprintf(h->bootstrap, sizeof(h->bootstrap), "%s", ext);
        h->real_kafka = true;
        name_group(h);
        gwh_topics_create(h, topics, 1);
        return;
    }
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        die("pipe: %s", strerror(errno));
    char nb[8];
    snprintf(nb, sizeof(nb), "%d", brokers);
    char *argv[64] = {GW_GAPWATCH, "kafka-mock", "-n", nb, "--control"};
    int argc = 5;
    for (int i = 0; topics[i] && argc < 60; i++) {
        argv[argc++] = "-t";
        argv[argc++] = (char *)topics[i];
    }
    argv[argc] = NULL;
    char logf[300];
    snprintf(logf, sizeof(logf), "%s/kafka-mock.log", h->dir);
    int err = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
    h->kafka_pid = spawn(argv, in[0], out[1], err);
    close(in[0]);
    close(out[1]);
    close(err);
    h->kafka_ctl = in[1];
    h->kafka_out = fdopen(out[0], "r");
    if (!fgets(h->bootstrap, sizeof(h->bootstrap), h->kafka_out))
        die("kafka-mock printed no bootstrap address (see %s)", logf);
    h->bootstrap[strcspn(h->bootstrap, "\r\n")] = '\0';
}

void gwh_kafka_ctl(gwh_t *h, const char *cmd)
{
    if (h->real_kafka)
        die("kafka control \"%s\" needs the mock cluster, not a real broker", cmd);
    char line[256];
    int n = snprintf(line, sizeof(line), "%s\n", cmd);
    if (write(h->kafka_ctl, line, (size_t)n) != n)
        die("kafka-mock control write: %s", strerror(errno));
    if (!fgets(line, sizeof(line), h->kafka_out))
        die("kafka-mock control: no answer to \"%s\"", cmd);
    if (strncmp(line, "ok", 2) != 0)
        die("kafka-mock control \"%s\": %s", cmd, line);
}

void gwh_write_config(gwh_t *h, const char *extra_yaml)
{
    snprintf(h->config_path, sizeof(h->config_path), "%s/gapwatchd.yaml", h->dir);
    const char *kdebug = getenv("GW_KAFKA_DEBUG");
    FILE *f = fopen(h->config_path, "w");
    if (!f)
        die("write %s: %s", h->config_path, strerror(errno));
    fprintf(f,
            "log_level: %s\n"
            "kafka:\n"
            "  bootstrap_servers: \"%s\"\n"
            "%s%s%s"
            "  properties:\n"
            "    topic.metadata.refresh.interval.ms: \"2000\"\n"
            "%s%s%s"
            "  consumer_properties:\n"
            "    session.timeout.ms: \"6000\"\n"
            "    heartbeat.interval.ms: \"500\"\n"
            "redis:\n"
            "  host: 127.0.0.1\n"
            "  port: %d\n"
            "  command_timeout: 5s\n"
            "metrics:\n"
            "  listen: \"\"\n"
            "%s",
            /* GW_LOG_LEVEL: debug, to see each batch */
            getenv("GW_LOG_LEVEL") ? getenv("GW_LOG_LEVEL") : "info", h->bootstrap,
            h->group_id[0] ? "  group_id: \"" : "", h->group_id, h->group_id[0] ? "\"\n" : "",
            /* GW_KAFKA_DEBUG: librdkafka's debug contexts, e.g. cgrp */
            kdebug ? "    debug: \"" : "", kdebug ? kdebug : "", kdebug ? "\"\n" : "",
            h->redis_port, extra_yaml ? extra_yaml : "");
    fclose(f);
}

static void add_property(gwh_t *h, const char *section, const char *line)
{
    FILE *f = fopen(h->config_path, "r");
    if (!f)
        die("read %s: %s", h->config_path, strerror(errno));
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    const char *at = strstr(buf, section);
    if (!at)
        die("%s has no \"%s\"", h->config_path, section);
    size_t head = (size_t)(at - buf) + strlen(section);
    f = fopen(h->config_path, "w");
    if (!f)
        die("write %s: %s", h->config_path, strerror(errno));
    fprintf(f, "%.*s    %s\n%s", (int)head, buf, line, buf + head);
    fclose(f);
}

void gwh_set_redis_config(gwh_t *h, const char *lines)
{
    FILE *f = fopen(h->config_path, "r");
    if (!f)
        die("read %s: %s", h->config_path, strerror(errno));
    char buf[16384], port[64];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    snprintf(port, sizeof(port), "redis:\n  host: 127.0.0.1\n  port: %d\n", h->redis_port);
    const char *at = strstr(buf, port);
    if (!at)
        die("%s has no redis port line", h->config_path);
    size_t head = (size_t)(at - buf) + strlen("redis:\n  host: 127.0.0.1\n");
    f = fopen(h->config_path, "w");
    if (!f)
        die("write %s: %s", h->config_path, strerror(errno));
    fprintf(f, "%.*s%s%s", (int)head, buf, lines, at + strlen(port));
    fclose(f);
}

void gwh_tls_certs(gwh_t *h)
{
    char cmd[4096];
    /* P-256 keys: quick to make; 2 days: the test's lifetime */
    snprintf(
        cmd, sizeof(cmd),
        "{ set -e; mkdir -p '%s/tls'; cd '%s/tls'; "
        "key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; "
        "openssl req -x509 $key -days 2 -subj /CN=gapwatch-test-ca -keyout ca.key -out ca.crt; "
        "openssl req -x509 $key -days 2 -subj /CN=gapwatch-other-ca -keyout other-ca.key "
        "-out other-ca.crt; "
        "openssl req $key -subj /CN=localhost -keyout server.key -out server.csr; "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext; "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile server.ext -out server.crt; "
        "openssl req $key -subj /CN=gapwatchd -keyout client.key -out client.csr; "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
        "-out client.crt; "
        "chmod 600 *.key; } 2>&1",
        h->dir, h->dir);
    char out[8192];
    if (gwh_run_capture(cmd, out, sizeof(out)) != 0)
        die("openssl could not make the test certificates (Debian package openssl):\n%s", out);
}

void gwh_add_consumer_property(gwh_t *h, const char *line)
{
    add_property(h, "  consumer_properties:\n", line);
}

void gwh_add_kafka_property(gwh_t *h, const char *line)
{
    add_property(h, "  properties:\n", line);
}

void gwh_daemon_start(gwh_t *h)
{
    char logf[300];
    snprintf(logf, sizeof(logf), "%s/gapwatchd.log", h->dir);
    int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        die("open %s: %s", logf, strerror(errno));
    /* GW_DAEMON_WRAPPER: a command line run in front of gapwatchd, split
     * at spaces (a profiler: "valgrind --tool=massif", "perf record -g") */
    char *argv[24];
    int argc = 0;
    char wrapper[256];
    snprintf(wrapper, sizeof(wrapper), "%s",
             getenv("GW_DAEMON_WRAPPER") ? getenv("GW_DAEMON_WRAPPER") : "");
    for (char *tok = strtok(wrapper, " "); tok && argc < 20; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc++] = GW_GAPWATCHD;
    argv[argc++] = "-c";
    argv[argc++] = h->config_path;
    argv[argc] = NULL;
    h->daemon_pid = spawn(argv, -1, fd, fd);
    close(fd);
    h->daemon_starts++;
}

int gwh_daemon_stop(gwh_t *h, int sig)
{
    if (h->daemon_pid <= 0)
        return -1;
    kill(h->daemon_pid, sig);
    int status = 0;
    for (int i = 0; i < 600; i++) {
        pid_t r = waitpid(h->daemon_pid, &status, WNOHANG);
        if (r == h->daemon_pid) {
            h->daemon_pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        gwh_sleep_ms(50);
    }
    kill(h->daemon_pid, SIGKILL);
    waitpid(h->daemon_pid, &status, 0);
    h->daemon_pid = 0;
    return 255; /* did not stop within 30 s */
}

bool gwh_daemon_alive(gwh_t *h)
{
    if (h->daemon_pid <= 0)
        return false;
    int status;
    if (waitpid(h->daemon_pid, &status, WNOHANG) == h->daemon_pid) {
        h->daemon_pid = 0;
        return false;
    }
    return true;
}

rd_kafka_t *gwh_producer(gwh_t *h, void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                         void *opaque)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", h->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set(conf, "linger.ms", "10", NULL, 0);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", NULL, 0);
    /* Tests take brokers down on purpose: only critical logs. */
    rd_kafka_conf_set(conf, "log_level", "2", NULL, 0);
    if (dr)
        rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        die("test producer: %s", err);
    return rk;
}

int64_t gwh_topic_end(gwh_t *h, rd_kafka_t *rk, const char *topic, int partitions)
{
    (void)h;
    int64_t sum = 0;
    for (int p = 0; p < partitions; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (err)
            die("watermarks of %s/%d: %s", topic, p, rd_kafka_err2str(err));
        sum += hi;
    }
    return sum;
}

int64_t gwh_positions_sum_on(redisContext *c, const char *topic)
{
    redisReply *r = redisCommand(c, "HGETALL gw:positions:%s", topic);
    int64_t sum = -1;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        sum = 0;
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            /* "<partition>" fields only: not wm:, epoch, lost: */
            if (r->element[i]->str[0] >= '0' && r->element[i]->str[0] <= '9')
                sum += strtoll(r->element[i + 1]->str, NULL, 10);
    }
    if (r)
        freeReplyObject(r);
    return sum;
}

int64_t gwh_positions_sum(gwh_t *h, const char *topic)
{
    redisContext *c = gwh_redis(h);
    int64_t sum = gwh_positions_sum_on(c, topic);
    redisFree(c);
    return sum < 0 ? 0 : sum;
}

redisReply *gwh_command(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r)
        die("redis: no reply to %s: %s", fmt, c->errstr);
    return r;
}

bool gwh_wait_consumed(gwh_t *h, rd_kafka_t *rk, const char *topic, int partitions,
                       int64_t timeout_ms)
{
    int64_t end = gwh_topic_end(h, rk, topic, partitions);
    int64_t deadline = gwh_now_ms() + timeout_ms;
    while (gwh_now_ms() < deadline) {
        if (gwh_positions_sum(h, topic) >= end)
            return true;
        gwh_sleep_ms(100);
    }
    fprintf(stderr, "harness: positions %lld of %lld after %lld ms\n",
            (long long)gwh_positions_sum(h, topic), (long long)end, (long long)timeout_ms);
    return false;
}

void gwh_dump_daemon_log(gwh_t *h, int lines)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "tail -n %d '%s/gapwatchd.log' >&2", lines, h->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "harness: no daemon log\n");
}

int gwh_daemon_log_count(gwh_t *h, const char *needle)
{
    return gwh_log_count(h, "gapwatchd", needle);
}

uint64_t gwh_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

long long gwh_daemon_log_field(gwh_t *h, const char *needle, const char *key)
{
    char path[300], want[64];
    snprintf(path, sizeof(path), "%s/gapwatchd.log", h->dir);
    snprintf(want, sizeof(want), " %s=", key);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[4096];
    long long v = -1;
    while (fgets(line, sizeof(line), f)) {
        const char *k = strstr(line, needle) ? strstr(line, want) : NULL;
        if (k)
            v = strtoll(k + strlen(want), NULL, 10);
    }
    fclose(f);
    return v;
}

typedef struct {
    char *buf;
    size_t len;
} body_t;

static size_t body_write(char *data, size_t size, size_t n, void *ctx)
{
    body_t *b = ctx;
    char *nb = realloc(b->buf, b->len + size * n + 1);
    if (!nb)
        return 0;
    b->buf = nb;
    memcpy(b->buf + b->len, data, size * n);
    b->len += size * n;
    b->buf[b->len] = '\0';
    return size * n;
}

char *gwh_http_get(int port, const char *path)
{
    char url[16384];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    body_t b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || code != 200) {
        free(b.buf);
        return NULL;
    }
    if (!b.buf)
        b.buf = calloc(1, 1);
    return b.buf;
}

void gwh_alertmanager_start(gwh_t *h)
{
    char cfg[300], storage[300], listen[64], cfgarg[320], storarg[320];
    snprintf(cfg, sizeof(cfg), "%s/alertmanager.yml", h->dir);
    snprintf(storage, sizeof(storage), "%s/alertmanager", h->dir);
    FILE *f = fopen(cfg, "w");
    if (!f)
        die("write %s: %s", cfg, strerror(errno));
    fprintf(f,
            "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n");
    fclose(f);
    mkdir(storage, 0755);
    h->am_port = gwh_free_port();
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", h->am_port);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
    snprintf(storarg, sizeof(storarg), "--storage.path=%s", storage);
    char logf[300];
    snprintf(logf, sizeof(logf), "%s/alertmanager.log", h->dir);
    int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
    char *argv[] = {"prometheus-alertmanager",   cfgarg, storarg, listen,
                    "--cluster.listen-address=", NULL};
    h->am_pid = spawn(argv, -1, fd, fd);
    close(fd);
    for (int i = 0; i < 100; i++) {
        char *body = gwh_http_get(h->am_port, "/api/v2/status");
        if (body) {
            free(body);
            return;
        }
        gwh_sleep_ms(100);
    }
    die("alertmanager did not answer on port %d (see %s)", h->am_port, logf);
}

pid_t gwh_spawn(gwh_t *h, const char *name, char *const argv[])
{
    if (h->nextra == (int)(sizeof(h->extra) / sizeof(h->extra[0])))
        die("too many helper processes");
    char logf[300];
    snprintf(logf, sizeof(logf), "%s/%s.log", h->dir, name);
    int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid = spawn(argv, -1, fd, fd);
    close(fd);
    h->extra[h->nextra++] = pid;
    return pid;
}

int gwh_run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

int gwh_run_capture(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        die("popen %s: %s", cmd, strerror(errno));
    size_t n = 0, got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        fwrite(chunk, 1, got, stderr);
        size_t take = got < size - 1 - n ? got : size - 1 - n;
        memcpy(out + n, chunk, take);
        n += take;
    }
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- several instances ------------------------------------------------- */

int gwh_instance_start(gwh_t *h)
{
    if (h->ninst == (int)(sizeof(h->inst_pid) / sizeof(h->inst_pid[0])))
        die("too many gapwatchd instances");
    char logf[300];
    snprintf(logf, sizeof(logf), "%s/gapwatchd-%d.log", h->dir, h->ninst + 1);
    int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        die("open %s: %s", logf, strerror(errno));
    char *argv[] = {GW_GAPWATCHD, "-c", h->config_path, NULL};
    h->inst_pid[h->ninst++] = spawn(argv, -1, fd, fd);
    close(fd);
    return h->ninst;
}

int gwh_instance_stop(gwh_t *h, int i, int sig)
{
    if (i < 1 || i > h->ninst || h->inst_pid[i - 1] <= 0)
        die("no running gapwatchd instance %d", i);
    pid_t pid = h->inst_pid[i - 1];
    kill(pid, sig);
    int status = 0;
    for (int k = 0; k < 600; k++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            h->inst_pid[i - 1] = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        gwh_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    h->inst_pid[i - 1] = 0;
    return 255;
}

bool gwh_instance_alive(gwh_t *h, int i)
{
    if (i < 1 || i > h->ninst || h->inst_pid[i - 1] <= 0)
        return false;
    int status;
    if (waitpid(h->inst_pid[i - 1], &status, WNOHANG) == h->inst_pid[i - 1]) {
        h->inst_pid[i - 1] = 0;
        return false;
    }
    return true;
}

int gwh_log_count(gwh_t *h, const char *log, const char *needle)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/%s.log", h->dir, log);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

/* ---- Apache Kafka ------------------------------------------------------ */

#define KAFKA_SH GW_SOURCE_DIR "/tools/kafka.sh"

static void read_line_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, (int)size, f))
        die("read %s: %s", path, f ? "empty" : strerror(errno));
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
}

static void broker_spawn(gwh_t *h, int node)
{
    char nodearg[8], logf[400];
    snprintf(nodearg, sizeof(nodearg), "%d", node);
    snprintf(logf, sizeof(logf), "%s/node-%d/stdout.log", h->kafka_dir, node);
    int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        die("open %s: %s", logf, strerror(errno));
    char *argv[] = {KAFKA_SH, "run", h->kafka_dir, nodearg, NULL};
    h->broker_pid[node - 1] = spawn(argv, -1, fd, fd);
    close(fd);
}

void gwh_broker_start(gwh_t *h, int nodes, bool sasl_ssl, const char *const *topics)
{
    if (nodes < 1 || nodes > 3)
        die("a cluster of 1 to 3 nodes, not %d", nodes);
    snprintf(h->kafka_dir, sizeof(h->kafka_dir), "%s/kafka", h->dir);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "'%s' config '%s' --nodes %d%s >&2", KAFKA_SH, h->kafka_dir, nodes,
             sasl_ssl ? " --sasl-ssl" : "");
    if (gwh_run(cmd) != 0)
        die("%s failed", cmd);
    char path[400];
    snprintf(path, sizeof(path), "%s/bootstrap", h->kafka_dir);
    read_line_file(path, h->bootstrap, sizeof(h->bootstrap));
    if (sasl_ssl) {
        snprintf(path, sizeof(path), "%s/bootstrap-sasl", h->kafka_dir);
        read_line_file(path, h->bootstrap_sasl, sizeof(h->bootstrap_sasl));
    }
    h->brokers = nodes;
    for (int i = 1; i <= nodes; i++)
        broker_spawn(h, i);
    h->real_kafka = true;
    name_group(h);
    gwh_topics_create(h, topics, nodes);
}

void gwh_real_kafka_start(gwh_t *h, const char *const *topics)
{
    char ext[256];
    if (external_brokers(ext, sizeof(ext)))
        gwh_kafka_start(h, 1, topics);
    else
        gwh_broker_start(h, 1, false, topics);
}

void gwh_broker_kill(gwh_t *h, int node)
{
    if (node < 1 || node > h->brokers)
        die("no broker node %d", node);
    kill_wait(&h->broker_pid[node - 1], SIGKILL);
}

void gwh_broker_restart(gwh_t *h, int node)
{
    if (node < 1 || node > h->brokers || h->broker_pid[node - 1] > 0)
        die("broker node %d is not down", node);
    broker_spawn(h, node);
}

/* Dies when a node of the own cluster exited (a port taken, a bad
 * config): its log says why. */
static void brokers_check(gwh_t *h)
{
    for (int i = 0; i < h->brokers; i++) {
        int status;
        if (h->broker_pid[i] > 0 &&
            waitpid(h->broker_pid[i], &status, WNOHANG) == h->broker_pid[i]) {
            h->broker_pid[i] = 0;
            char cmd[400];
            snprintf(cmd, sizeof(cmd), "tail -n 30 '%s/node-%d/broker.log' >&2", h->kafka_dir,
                     i + 1);
            if (system(cmd) != 0)
                fprintf(stderr, "harness: no broker log\n");
            die("kafka node %d exited during start-up (see %s/node-%d/)", i + 1, h->kafka_dir,
                i + 1);
        }
    }
}

/* Runs one admin request's result event off `q`; returns it (caller
 * destroys) or dies after `timeout_ms`. */
static rd_kafka_event_t *admin_wait(gwh_t *h, rd_kafka_queue_t *q, int timeout_ms, const char *what)
{
    int64_t deadline = gwh_now_ms() + timeout_ms;
    for (;;) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 500);
        if (ev)
            return ev;
        brokers_check(h);
        if (gwh_now_ms() > deadline)
            die("%s: no answer within %d ms", what, timeout_ms);
    }
}

/* Partitions of `topic` that have a leader, or -1 when it is unknown. */
static int topic_leaders(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    rd_kafka_topic_destroy(rkt);
    if (err)
        return -1;
    int n = -1;
    if (md->topic_cnt == 1 && !md->topics[0].err) {
        n = 0;
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            n += md->topics[0].partitions[p].leader >= 0 && !md->topics[0].partitions[p].err;
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

void gwh_topics_create(gwh_t *h, const char *const *topics, int replication)
{
    rd_kafka_t *rk = gwh_producer(h, NULL, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int ntopics = 0;
    while (topics[ntopics])
        ntopics++;
    char errstr[512];
    int64_t deadline = gwh_now_ms() + 90000;
    for (int t = 0; t < ntopics; t++) {
        char name[128];
        snprintf(name, sizeof(name), "%s", topics[t]);
        char *colon = strchr(name, ':');
        int parts = colon ? atoi(colon + 1) : 1;
        if (colon)
            *colon = '\0';
        /* Delete what an earlier test left (a shared broker). */
        rd_kafka_DeleteTopic_t *del = rd_kafka_DeleteTopic_new(name);
        rd_kafka_DeleteTopics(rk, &del, 1, NULL, q);
        rd_kafka_event_destroy(admin_wait(h, q, 90000, "delete topic"));
        rd_kafka_DeleteTopic_destroy(del);
        for (;;) {
            rd_kafka_NewTopic_t *nt =
                rd_kafka_NewTopic_new(name, parts, replication, errstr, sizeof(errstr));
            if (!nt)
                die("new topic %s: %s", name, errstr);
            rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
            rd_kafka_event_t *ev = admin_wait(h, q, 90000, "create topic");
            const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
            size_t cnt = 0;
            const rd_kafka_topic_result_t **tr =
                res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
            rd_kafka_resp_err_t err =
                rd_kafka_event_error(ev)
                    ? rd_kafka_event_error(ev)
                    : (cnt == 1 ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__FAIL);
            char why[512];
            snprintf(why, sizeof(why), "%s",
                     rd_kafka_event_error(ev) ? rd_kafka_event_error_string(ev)
                     : cnt == 1 && tr[0] && rd_kafka_topic_result_error_string(tr[0])
                         ? rd_kafka_topic_result_error_string(tr[0])
                         : rd_kafka_err2str(err));
            rd_kafka_event_destroy(ev);
            rd_kafka_NewTopic_destroy(nt);
            if (!err)
                break;
            /* The cluster is still starting (no controller, too few
             * brokers for the replication) or the deletion still runs. */
            brokers_check(h);
            if (gwh_now_ms() > deadline)
                die("create topic %s (%d partitions, replication %d) on %s: %s", name, parts,
                    replication, h->bootstrap, why);
            gwh_sleep_ms(500);
        }
        while (topic_leaders(rk, name) != parts) {
            if (gwh_now_ms() > deadline)
                die("topic %s: not every partition has a leader", name);
            gwh_sleep_ms(200);
        }
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

/* ---- Redis Cluster ------------------------------------------------------ */

static void cluster_node_spawn(gwh_t *h, int i)
{
    gwh_cluster_node_t *n = &h->cluster[i];
    char dir[300], logf[320], args[256];
    snprintf(dir, sizeof(dir), "%s/cluster-%d", h->dir, i);
    snprintf(logf, sizeof(logf), "%s/redis.log", dir);
    /* the bus port is named: port + 10000 may be taken, or past 65535 */
    snprintf(args, sizeof(args),
             "--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 "
             "--repl-ping-replica-period 1 --cluster-port %d",
             n->bus_port);
    n->pid = redis_server(dir, n->port, logf, args);
}

/* Runs `cmd` with its output appended to <dir>/cluster.log; on failure
 * shows the log's tail and fails the test. */
static void cluster_run(gwh_t *h, const char *cmd)
{
    char full[2048];
    snprintf(full, sizeof(full), "%s >>'%s/cluster.log' 2>&1", cmd, h->dir);
    if (gwh_run(full) != 0) {
        snprintf(full, sizeof(full), "tail -n 40 '%s/cluster.log' >&2", h->dir);
        gwh_run(full);
        die("failed: %s", cmd);
    }
}

redisContext *gwh_cluster_node(gwh_t *h, int i)
{
    if (i < 0 || i >= h->ncluster || !h->cluster[i].pid)
        die("cluster node %d is not running", i);
    redisContext *c = redis_connect(h->cluster[i].port, 5);
    if (!c)
        die("connect to cluster node %d on %d failed", i, h->cluster[i].port);
    return c;
}

int gwh_cluster_index(const gwh_t *h, int port)
{
    for (int i = 0; i < h->ncluster; i++)
        if (h->cluster[i].port == port)
            return i;
    return -1;
}

/* The reply of `cmd` from live node `i`, or NULL (down, error reply). */
static redisReply *cluster_ask(gwh_t *h, int i, const char *cmd)
{
    if (!h->cluster[i].pid)
        return NULL;
    redisContext *c = redis_connect(h->cluster[i].port, 2);
    if (!c)
        return NULL;
    redisReply *r = redisCommand(c, cmd);
    redisFree(c);
    if (r && r->type == REDIS_REPLY_ERROR) {
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

void gwh_cluster_roles(gwh_t *h)
{
    for (int i = 0; i < h->ncluster; i++) {
        redisReply *r = cluster_ask(h, i, "ROLE");
        if (!r)
            continue;
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
            h->cluster[i].master = !strcmp(r->element[0]->str, "master");
            h->cluster[i].master_of = -1;
            if (!h->cluster[i].master && r->elements >= 3)
                h->cluster[i].master_of = gwh_cluster_index(h, (int)r->element[2]->integer);
        }
        freeReplyObject(r);
    }
}

/* Fills owner[slot] with the port of the master node `i` says serves the
 * slot (0: none) and *listed with a bit per harness node CLUSTER SLOTS
 * names, master or replica; false when it does not answer. */
static bool cluster_owners(gwh_t *h, int i, int *owner, unsigned *listed)
{
    redisReply *r = cluster_ask(h, i, "CLUSTER SLOTS");
    if (!r)
        return false;
    memset(owner, 0, 16384 * sizeof(*owner));
    *listed = 0;
    for (size_t k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
        const redisReply *e = r->element[k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            continue;
        for (long long s = e->element[0]->integer; s <= e->element[1]->integer && s < 16384; s++)
            owner[s] = (int)e->element[2]->element[1]->integer;
        for (size_t n = 2; n < e->elements; n++) {
            const redisReply *ep = e->element[n];
            int at = ep->type == REDIS_REPLY_ARRAY && ep->elements >= 2
                         ? gwh_cluster_index(h, (int)ep->element[1]->integer)
                         : -1;
            if (at >= 0)
                *listed |= 1u << at;
        }
    }
    freeReplyObject(r);
    return true;
}

/* True when every live node says cluster_state:ok, they all agree on
 * which live master serves each of the 16384 slots, and CLUSTER SLOTS
 * lists every live node (Redis 7 leaves out a replica until it has
 * replicated something: redis-server runs with repl-ping-replica-period 1). */
static bool cluster_settled(gwh_t *h)
{
    static int first[16384], other[16384];
    int seen = 0;
    unsigned live = 0, listed = 0, listed_other;
    for (int i = 0; i < h->ncluster; i++) {
        if (!h->cluster[i].pid)
            continue;
        live |= 1u << i;
        redisReply *r = cluster_ask(h, i, "CLUSTER INFO");
        bool ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");
        if (r)
            freeReplyObject(r);
        if (!ok || !cluster_owners(h, i, seen ? other : first, seen ? &listed_other : &listed))
            return false;
        if (seen++ && (memcmp(first, other, sizeof(first)) != 0 || listed != listed_other))
            return false;
    }
    if (listed != live)
        return false;
    for (int s = 0; s < 16384; s++) {
        int n = gwh_cluster_index(h, first[s]);
        if (n < 0 || !h->cluster[n].pid)
            return false;
    }
    return seen > 0;
}

/* True when every replica's link to its master is up. */
static bool cluster_links_up(gwh_t *h)
{
    for (int i = 0; i < h->ncluster; i++) {
        redisReply *r = cluster_ask(h, i, "ROLE");
        bool ok = !h->cluster[i].pid ||
                  (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                   (!strcmp(r->element[0]->str, "master") ||
                    (r->elements >= 4 && !strcmp(r->element[3]->str, "connected"))));
        if (r)
            freeReplyObject(r);
        if (!ok)
            return false;
    }
    return true;
}

/* Waits up to two minutes (a restarted node's full sync on a busy CI
 * machine) for the cluster to settle; else prints what each node says and
 * dies. */
static void cluster_wait(gwh_t *h, const char *what)
{
    for (int64_t end = gwh_now_ms() + 120000; gwh_now_ms() < end; gwh_sleep_ms(100))
        if (cluster_settled(h) && cluster_links_up(h)) {
            gwh_cluster_roles(h);
            return;
        }
    for (int i = 0; i < h->ncluster; i++) {
        if (!h->cluster[i].pid)
            continue;
        static const char *const asks[] = {"CLUSTER INFO", "CLUSTER NODES", "INFO replication"};
        for (size_t a = 0; a < sizeof(asks) / sizeof(asks[0]); a++) {
            redisReply *r = cluster_ask(h, i, asks[a]);
            fprintf(stderr, "harness: node %d (port %d) %s:\n%s\n", i, h->cluster[i].port, asks[a],
                    r && r->str ? r->str : "(no answer)");
            if (r)
                freeReplyObject(r);
        }
    }
    die("the cluster did not settle after %s (logs in %s/cluster-*)", what, h->dir);
}

void gwh_cluster_start(gwh_t *h)
{
    if (h->ncluster)
        die("the cluster is already started");
    char cmd[1024];
    size_t len = (size_t)snprintf(cmd, sizeof(cmd), "redis-cli --cluster create");
    for (int i = 0; i < GWH_CLUSTER_NODES; i++) {
        gwh_cluster_node_t *n = &h->cluster[i];
        memset(n, 0, sizeof(*n));
        n->master_of = -1;
        /* twelve distinct ports, outside the ephemeral range (a node is
         * killed and restarted on its ports) */
        for (bool dup = true; dup;) {
            n->port = gwh_free_fixed_port();
            n->bus_port = gwh_free_fixed_port();
            dup = n->port == n->bus_port;
            for (int j = 0; j < i && !dup; j++)
                dup = h->cluster[j].port == n->port || h->cluster[j].bus_port == n->port ||
                      h->cluster[j].port == n->bus_port || h->cluster[j].bus_port == n->bus_port;
        }
        char dir[300];
        snprintf(dir, sizeof(dir), "%s/cluster-%d", h->dir, i);
        if (mkdir(dir, 0755) != 0)
            die("mkdir %s: %s", dir, strerror(errno));
        h->ncluster = i + 1; /* stopped at cleanup from now on */
        cluster_node_spawn(h, i);
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " 127.0.0.1:%d", n->port);
    }
    snprintf(cmd + len, sizeof(cmd) - len, " --cluster-replicas 1 --cluster-yes");
    cluster_run(h, cmd);
    cluster_wait(h, "create");
    for (int i = 0; i < h->ncluster; i++) {
        redisReply *r = cluster_ask(h, i, "CLUSTER MYID");
        if (!r || r->type != REDIS_REPLY_STRING || r->len != 40)
            die("CLUSTER MYID of node %d failed", i);
        memcpy(h->cluster[i].id, r->str, 41);
        freeReplyObject(r);
    }
    snprintf(cmd, sizeof(cmd), "redis-cli --cluster check 127.0.0.1:%d", h->cluster[0].port);
    cluster_run(h, cmd);
}

void gwh_cluster_reshard(gwh_t *h, int from, int to, int slots)
{
    if (from < 0 || from >= h->ncluster || to < 0 || to >= h->ncluster)
        die("reshard: no cluster node %d or %d", from, to);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s "
             "--cluster-slots %d --cluster-yes",
             h->cluster[from].port, h->cluster[from].id, h->cluster[to].id, slots);
    cluster_run(h, cmd);
    cluster_wait(h, "a reshard");
}

int gwh_cluster_kill_master(gwh_t *h, int i)
{
    gwh_cluster_roles(h);
    if (i < 0 || i >= h->ncluster || !h->cluster[i].pid || !h->cluster[i].master)
        die("cluster node %d is not a running master", i);
    bool replica[GWH_CLUSTER_NODES];
    for (int j = 0; j < h->ncluster; j++)
        replica[j] = h->cluster[j].master_of == i;
    kill_wait(&h->cluster[i].pid, SIGKILL);
    for (int64_t end = gwh_now_ms() + 60000; gwh_now_ms() < end; gwh_sleep_ms(100)) {
        /* settled: every slot served by a live master, the dead one's too */
        if (!cluster_settled(h))
            continue;
        gwh_cluster_roles(h);
        for (int j = 0; j < h->ncluster; j++)
            if (replica[j] && h->cluster[j].pid && h->cluster[j].master)
                return j;
    }
    die("no replica of cluster node %d was promoted (logs in %s/cluster-*)", i, h->dir);
}

void gwh_cluster_restart(gwh_t *h, int i)
{
    if (i < 0 || i >= h->ncluster || h->cluster[i].pid)
        die("cluster node %d is not a stopped node", i);
    cluster_node_spawn(h, i);
    cluster_wait(h, "a restart");
}
