/*
 * gw_metrics_server: libmicrohttpd on its own thread. Shares nothing with the
 * loop but the published buffer, the readiness and the publish time, all
 * under one mutex.
 *
 * Hardening (slow or many clients must not silence /healthz): one internal
 * thread polling with epoll (Debian 12's libmicrohttpd 0.9.75 has it on
 * Linux; poll() elsewhere), never select(), whose FD_SETSIZE caps
 * connections at ~1020 and refuses the rest; at most GW_HTTP_MAX_CONNECTIONS
 * connections, GW_HTTP_MAX_PER_IP from one address, and a connection idle
 * for GW_HTTP_TIMEOUT_S is closed. Every answer is a copy of a small buffer,
 * so one thread serves them all; a thread per connection would only add
 * stacks for slow clients to hold.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gw_metrics.h"
#include "gw_time.h"

#define STALL_MS 30000

/* Prometheus, a probe or two and an operator's curl need a handful; the
 * per-address limit keeps one client from taking all the others' room. */
#define GW_HTTP_MAX_CONNECTIONS 256
#define GW_HTTP_MAX_PER_IP      16
#define GW_HTTP_TIMEOUT_S       5
#define GW_HTTP_MEMORY_LIMIT    (32 * 1024) /* per connection: GET requests only */

struct gw_metrics_server_s {
    struct MHD_Daemon *mhd;
    pthread_mutex_t lock;
    char *text;
    size_t len;
    bool ready;
    char reason[256];
    int64_t published_mono;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
                             const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    gw_metrics_server_t *srv = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9);
    pthread_mutex_lock(&srv->lock);
    enum MHD_Result ret;
    if (!strcmp(url, "/metrics")) {
        if (srv->text)
            ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", srv->text, srv->len);
        else
            ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "starting\n", 9);
    } else if (!strcmp(url, "/healthz")) {
        bool alive = gw_mono_ms() - srv->published_mono < STALL_MS;
        ret = alive ? reply(c, MHD_HTTP_OK, "text/plain", "ok\n", 3)
                    : reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                            "the main loop has not run for 30 s\n", 35);
    } else if (!strcmp(url, "/readyz")) {
        char body[300];
        int n = snprintf(body, sizeof(body), "%s\n", srv->ready ? "ready" : srv->reason);
        ret = reply(c, srv->ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body,
                    (size_t)n);
    } else {
        ret = reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "see /metrics, /healthz, /readyz\n", 32);
    }
    pthread_mutex_unlock(&srv->lock);
    return ret;
}

gw_metrics_server_t *gw_metrics_server_start(const char *listen, char *errstr, size_t errstr_size)
{
    const char *colon = strrchr(listen, ':');
    if (!colon) {
        snprintf(errstr, errstr_size, "metrics.listen \"%s\" is not host:port", listen);
        return NULL;
    }
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (!strcmp(host, "") || !strcmp(host, "0.0.0.0") || !strcmp(host, "*"))
        addr.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (!strcmp(host, "localhost"))
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(errstr, errstr_size, "metrics.listen host \"%s\" is not an IPv4 address", host);
        return NULL;
    }
    gw_metrics_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&srv->lock, NULL);
    snprintf(srv->reason, sizeof(srv->reason), "starting");
    srv->published_mono = gw_mono_ms();
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)GW_HTTP_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)GW_HTTP_MAX_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)GW_HTTP_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GW_HTTP_MEMORY_LIMIT, MHD_OPTION_END);
    if (!srv->mhd) {
        snprintf(errstr, errstr_size, "cannot listen on %s for /metrics (address in use?)", listen);
        pthread_mutex_destroy(&srv->lock);
        free(srv);
        return NULL;
    }
    return srv;
}

void gw_metrics_server_publish(gw_metrics_server_t *srv, char *text, size_t len, bool ready,
                               const char *reason)
{
    pthread_mutex_lock(&srv->lock);
    if (text) {
        free(srv->text);
        srv->text = text;
        srv->len = len;
    }
    srv->ready = ready;
    snprintf(srv->reason, sizeof(srv->reason), "%s", reason ? reason : "ready");
    srv->published_mono = gw_mono_ms();
    pthread_mutex_unlock(&srv->lock);
}

void gw_metrics_server_stop(gw_metrics_server_t *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->mhd);
    pthread_mutex_destroy(&srv->lock);
    free(srv->text);
    free(srv);
}
