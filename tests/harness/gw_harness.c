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
    kill_wait(&h->am_pid, SIGTERM);
    for (int i = 0; i < h->nextra; i++)
        kill_wait(&h->extra[i], SIGTERM);
    h->nextra = 0;
    kill_wait(&h->kafka_pid, SIGTERM);
    kill_wait(&h->redis_pid, SIGKILL);
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

redisContext *gwh_redis(gwh_t *h)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", h->redis_port, tv);
    if (!c || c->err)
        die("connect to test redis on %d: %s", h->redis_port, c ? c->errstr : "oom");
    return c;
}

static void redis_spawn(gwh_t *h)
{
    char port[16], logf[300];
    snprintf(port, sizeof(port), "%d", h->redis_port);
    snprintf(logf, sizeof(logf), "%s/redis.log", h->dir);
    char *argv[48] = {"redis-server", "--port",    port,     "--bind", "127.0.0.1",
                      "--dir",        h->dir,      "--save", "",       "--appendonly",
                      "no",           "--logfile", logf,     NULL};
    int argc = 13;
    char extra[sizeof(h->redis_args)];
    snprintf(extra, sizeof(extra), "%s", h->redis_args);
    for (char *tok = strtok(extra, " "); tok && argc < 46; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    h->redis_pid = spawn(argv, -1, -1, -1);
    for (int i = 0; i < 100; i++) {
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", h->redis_port, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            bool ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return;
        } else if (c) {
            redisFree(c);
        }
        gwh_sleep_ms(50);
    }
    die("redis-server did not answer on port %d (see %s)", h->redis_port, logf);
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

void gwh_kafka_start(gwh_t *h, int brokers, const char *const *topics)
{
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
    FILE *f = fopen(h->config_path, "w");
    if (!f)
        die("write %s: %s", h->config_path, strerror(errno));
    fprintf(f,
            "log_level: %s\n"
            "kafka:\n"
            "  bootstrap_servers: \"%s\"\n"
            "  properties:\n"
            "    topic.metadata.refresh.interval.ms: \"2000\"\n"
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
            getenv("GW_LOG_LEVEL") ? getenv("GW_LOG_LEVEL") : "info", h->bootstrap, h->redis_port,
            extra_yaml ? extra_yaml : "");
    fclose(f);
}

void gwh_add_consumer_property(gwh_t *h, const char *line)
{
    FILE *f = fopen(h->config_path, "r");
    if (!f)
        die("read %s: %s", h->config_path, strerror(errno));
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    const char *at = strstr(buf, "  consumer_properties:\n");
    if (!at)
        die("%s has no consumer_properties", h->config_path);
    size_t head = (size_t)(at - buf) + strlen("  consumer_properties:\n");
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

int64_t gwh_positions_sum(gwh_t *h, const char *topic)
{
    redisContext *c = gwh_redis(h);
    redisReply *r = redisCommand(c, "HGETALL gw:positions:%s", topic);
    int64_t sum = 0;
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            /* "<partition>" fields only: not wm:, epoch, lost: */
            if (r->element[i]->str[0] >= '0' && r->element[i]->str[0] <= '9')
                sum += strtoll(r->element[i + 1]->str, NULL, 10);
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return sum;
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
    char path[300];
    snprintf(path, sizeof(path), "%s/gapwatchd.log", h->dir);
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
