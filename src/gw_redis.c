/*
 * gw_redis: the transport (see gw_redis.h) on hiredis, synchronous and
 * pipelined. Two hiredis releases are supported: 0.14 (Debian 12, no TLS)
 * and 1.x (Debian 13, hiredis_ssl when GW_HAVE_REDIS_TLS).
 *
 * Every connection is made by redis_dial(), and every byte goes through
 * hiredis' own I/O (redisBufferWrite/redisBufferRead, plain or TLS): the
 * engine switches the connection to non-blocking mode while it pumps and
 * back before a blocking command, never reads or writes the socket itself.
 *
 * hiredis' replies are copied into gw_redis_reply_t (one allocation each)
 * as they are taken, so no hiredis type leaves this file. The copy costs
 * far less than the parse that made the reply.
 */
#include "gw_redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/time.h>

#ifdef GW_HAVE_REDIS_TLS
#include <hiredis/hiredis_ssl.h>
#endif

#include "gw_log.h"
#include "gw_redis_cluster.h"

#define SCRIPTS_MAX 8

struct gw_redis_s {
    const gw_config_t *cfg;
    redisContext *ctx;
    struct redisSSLContext *tls; /* made at the first TLS connection (hiredis_ssl) */
    const char *const *scripts;
    size_t nscripts;
    char sha[SCRIPTS_MAX][41];
    bool read_only;   /* readers: no SCRIPT LOAD on connect */
    bool nonblocking; /* the socket is O_NONBLOCK (the engine is pumping) */
    bool unsent;      /* hiredis' output buffer holds bytes not yet written */
    size_t pending;   /* replies owed to gw_redis_flush() */
    gw_rcl_t *cl;     /* redis.cluster: the router, which owns the nodes' connections */
};

/* ---- replies ----------------------------------------------------------- */

void gw_redis_reply_free(gw_redis_reply_t *r)
{
    free(r);
}

static gw_redis_reply_type_t reply_type(const redisReply *h)
{
    switch (h->type) {
    case REDIS_REPLY_STRING:
        return GW_REDIS_REPLY_STRING;
    case REDIS_REPLY_ARRAY:
        return GW_REDIS_REPLY_ARRAY;
    case REDIS_REPLY_INTEGER:
        return GW_REDIS_REPLY_INTEGER;
    case REDIS_REPLY_STATUS:
        return GW_REDIS_REPLY_STATUS;
    case REDIS_REPLY_ERROR:
        return GW_REDIS_REPLY_ERROR;
    case REDIS_REPLY_NIL:
        return GW_REDIS_REPLY_NIL;
    default:
        /* RESP3 kinds (hiredis 1.x), never asked for: read as RESP2 would */
        return h->str       ? GW_REDIS_REPLY_STRING
               : h->element ? GW_REDIS_REPLY_ARRAY
                            : GW_REDIS_REPLY_NIL;
    }
}

/* Bytes a copy of `h` takes: the node, its element pointers, its text. */
static size_t reply_size(const redisReply *h)
{
    size_t n = sizeof(gw_redis_reply_t);
    gw_redis_reply_type_t t = reply_type(h);
    if (t == GW_REDIS_REPLY_ARRAY) {
        n += h->elements * sizeof(gw_redis_reply_t *);
        for (size_t i = 0; i < h->elements; i++)
            n += reply_size(h->element[i]);
    } else if (h->str) {
        n += h->len + 1;
    }
    /* keep every node aligned */
    return (n + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
}

/* Copies `h` into the memory at *at, moving *at past what it used. */
static gw_redis_reply_t *reply_copy(const redisReply *h, char **at)
{
    gw_redis_reply_t *r = (gw_redis_reply_t *)(void *)*at;
    size_t used = sizeof(*r);
    memset(r, 0, sizeof(*r));
    r->type = reply_type(h);
    if (r->type == GW_REDIS_REPLY_INTEGER)
        r->integer = h->integer;
    if (r->type == GW_REDIS_REPLY_ARRAY) {
        r->elements = h->elements;
        r->element = (gw_redis_reply_t **)(void *)(*at + used);
        used += h->elements * sizeof(gw_redis_reply_t *);
    } else if (h->str) {
        r->str = *at + used;
        r->len = h->len;
        memcpy(r->str, h->str, h->len);
        r->str[h->len] = '\0';
        used += h->len + 1;
    }
    *at += (used + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
    for (size_t i = 0; i < r->elements; i++)
        r->element[i] = reply_copy(h->element[i], at);
    return r;
}

/* Converts and frees a hiredis reply; NULL on OOM. */
static gw_redis_reply_t *reply_take(redisReply *h)
{
    char *mem = malloc(reply_size(h));
    gw_redis_reply_t *r = NULL;
    if (mem) {
        char *at = mem;
        r = reply_copy(h, &at);
    }
    freeReplyObject(h);
    return r;
}

bool gw_redis_reply_i64(const gw_redis_reply_t *r, int64_t *out)
{
    if (r->type == GW_REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return true;
    }
    return r->type == GW_REDIS_REPLY_STRING && gw_resp_parse_i64(r->str, r->len, out);
}

bool gw_redis_reply_is_noscript(const gw_redis_reply_t *r)
{
    return r->type == GW_REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8);
}

const char *gw_redis_reply_why(const gw_redis_reply_t *r)
{
    return r->type == GW_REDIS_REPLY_ERROR ? r->str : "unexpected reply";
}

/* ---- the connection ---------------------------------------------------- */

gw_redis_t *gw_redis_new(const gw_config_t *cfg, const char *const *scripts, size_t nscripts)
{
    if (nscripts > SCRIPTS_MAX)
        return NULL;
    gw_redis_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->cfg = cfg;
    r->scripts = scripts;
    r->nscripts = nscripts;
    if (cfg->redis.cluster && !(r->cl = gw_rcl_new(cfg, scripts, nscripts))) {
        free(r);
        return NULL;
    }
    return r;
}

void gw_redis_free(gw_redis_t *r)
{
    if (!r)
        return;
    gw_redis_disconnect(r);
    gw_rcl_free(r->cl);
#ifdef GW_HAVE_REDIS_TLS
    if (r->tls)
        redisFreeSSLContext(r->tls);
#endif
    free(r);
}

void gw_redis_set_read_only(gw_redis_t *r)
{
    r->read_only = true;
    if (r->cl)
        gw_rcl_set_read_only(r->cl);
}

bool gw_redis_connected(const gw_redis_t *r)
{
    return r->cl ? gw_rcl_connected(r->cl) : r->ctx != NULL;
}

void gw_redis_disconnect(gw_redis_t *r)
{
    if (r->cl)
        gw_rcl_disconnect(r->cl);
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    r->pending = 0; /* their commands are lost with the connection */
    r->nonblocking = false;
    r->unsent = false;
}

const char *gw_redis_script_sha(const gw_redis_t *r, size_t i)
{
    return r->cl ? gw_rcl_script_sha(r->cl, i) : r->sha[i];
}

static struct timeval ms_to_tv(int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* Non-blocking mode for the engine: the socket O_NONBLOCK and hiredis'
 * REDIS_BLOCK flag off, so that redisBufferWrite/Read (plain or TLS) take
 * what the socket offers and return; blocking again for the synchronous
 * commands (redisGetReply loops only in blocking mode). */
static int set_nonblocking(gw_redis_t *r, bool on)
{
    if (r->nonblocking == on)
        return 0;
    redisContext *c = r->ctx;
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
        return -1;
    if (on)
        c->flags &= ~REDIS_BLOCK;
    else
        c->flags |= REDIS_BLOCK;
    r->nonblocking = on;
    return 0;
}

/* Makes the connection blocking for a synchronous command; false after
 * dropping it, `errstr` saying why. */
static bool blocking(gw_redis_t *r, char *errstr, size_t errstr_size)
{
    if (!r->ctx) {
        snprintf(errstr, errstr_size, "redis: not connected");
        return false;
    }
    if (set_nonblocking(r, false) != 0) {
        snprintf(errstr, errstr_size, "redis: cannot make the connection blocking again");
        gw_redis_disconnect(r);
        return false;
    }
    return true;
}

gw_redis_reply_t *gw_redis_command_argv(gw_redis_t *r, int argc, const char *const *argv,
                                        const size_t *lens, char *errstr, size_t errstr_size)
{
    if (r->cl) {
        gw_resp_t b = {0};
        gw_resp_begin(&b);
        for (int i = 0; i < argc; i++)
            gw_resp_arg(&b, argv[i], lens[i]);
        gw_redis_reply_t *out = NULL;
        if (gw_resp_end(&b) != 0 || gw_redis_append(r, &b) != GW_REDIS_OK)
            snprintf(errstr, errstr_size, "redis: cannot build a command (out of memory)");
        else
            out = gw_rcl_get_reply(r->cl, "", errstr, errstr_size);
        gw_resp_free(&b);
        return out;
    }
    if (!blocking(r, errstr, errstr_size))
        return NULL;
    redisReply *h = redisCommandArgv(r->ctx, argc, (const char **)argv, lens);
    r->unsent = false;
    if (!h) {
        snprintf(errstr, errstr_size, "redis: %s", r->ctx->errstr[0] ? r->ctx->errstr : "no reply");
        gw_redis_disconnect(r);
        return NULL;
    }
    gw_redis_reply_t *out = reply_take(h);
    if (!out) {
        snprintf(errstr, errstr_size, "redis: out of memory reading a reply");
        gw_redis_disconnect(r);
    }
    return out;
}

int gw_redis_append(gw_redis_t *r, gw_resp_t *resp)
{
    if (r->cl) {
        int ok = gw_rcl_connected(r->cl) && gw_resp_ok(resp) &&
                 gw_rcl_append(r->cl, resp->buf, resp->len) == 0;
        gw_resp_reset(resp);
        if (!ok) {
            gw_redis_disconnect(r);
            return GW_REDIS_ERROR;
        }
        return GW_REDIS_OK;
    }
    int ok = r->ctx && gw_resp_ok(resp) &&
             redisAppendFormattedCommand(r->ctx, resp->buf, resp->len) == REDIS_OK;
    gw_resp_reset(resp);
    if (!ok) {
        gw_redis_disconnect(r);
        return GW_REDIS_ERROR;
    }
    r->unsent = true;
    return GW_REDIS_OK;
}

/* The next reply, blocking; `fmt` formats the failure with hiredis'
 * reason. */
static gw_redis_reply_t *get_reply(gw_redis_t *r, const char *lost, char *errstr,
                                   size_t errstr_size)
{
    redisReply *h = NULL;
    if (r->cl) {
        gw_redis_reply_t *out = gw_rcl_get_reply(r->cl, lost, errstr, errstr_size);
        if (!out)
            r->pending = 0;
        return out;
    }
    if (!blocking(r, errstr, errstr_size))
        return NULL;
    if (redisGetReply(r->ctx, (void **)&h) != REDIS_OK || !h) {
        snprintf(errstr, errstr_size, "redis: %s%s", lost,
                 r->ctx->errstr[0] ? r->ctx->errstr : "no reply");
        gw_redis_disconnect(r);
        return NULL;
    }
    r->unsent = false;
    gw_redis_reply_t *out = reply_take(h);
    if (!out) {
        snprintf(errstr, errstr_size, "redis: out of memory reading a reply");
        gw_redis_disconnect(r);
    }
    return out;
}

gw_redis_reply_t *gw_redis_get_reply(gw_redis_t *r, const char *doing, char *errstr,
                                     size_t errstr_size)
{
    char lost[128];
    snprintf(lost, sizeof(lost), "connection lost %s: ", doing);
    if (!gw_redis_connected(r)) {
        snprintf(errstr, errstr_size, "redis: %sno reply", lost);
        return NULL;
    }
    return get_reply(r, lost, errstr, errstr_size);
}

gw_redis_reply_t *gw_redis_command_resp(gw_redis_t *r, gw_resp_t *resp, char *errstr,
                                        size_t errstr_size)
{
    if (gw_redis_append(r, resp) != GW_REDIS_OK) {
        snprintf(errstr, errstr_size, "redis: cannot build a command (out of memory)");
        return NULL;
    }
    return get_reply(r, "", errstr, errstr_size);
}

int gw_redis_queue(gw_redis_t *r, gw_resp_t *resp, size_t nreplies)
{
    int rc = gw_redis_append(r, resp);
    if (rc == GW_REDIS_OK)
        r->pending += nreplies;
    return rc;
}

size_t gw_redis_pending(const gw_redis_t *r)
{
    return r->pending;
}

int gw_redis_flush(gw_redis_t *r, gw_redis_reply_fn fn, void *ctx, char *errstr, size_t errstr_size)
{
    char first_error[256] = "";
    bool noscript = false;
    for (size_t i = 0; r->pending > 0; i++) {
        gw_redis_reply_t *rep = gw_redis_get_reply(r, "while writing", errstr, errstr_size);
        if (!rep)
            return GW_REDIS_DOWN;
        r->pending--;
        if (rep->type == GW_REDIS_REPLY_ERROR) {
            noscript |= gw_redis_reply_is_noscript(rep);
            if (!first_error[0])
                snprintf(first_error, sizeof(first_error), "%s", rep->str);
        }
        if (fn)
            fn(ctx, i, rep);
        gw_redis_reply_free(rep);
    }
    if (noscript) {
        char err[256];
        gw_redis_reload_scripts(r, err, sizeof(err));
    }
    if (first_error[0]) {
        snprintf(errstr, errstr_size, "redis: %s", first_error);
        return GW_REDIS_ERROR;
    }
    return GW_REDIS_OK;
}

/* ---- scripts ----------------------------------------------------------- */

static int load_scripts(gw_redis_t *r, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < r->nscripts; i++) {
        const char *src = r->scripts[i];
        const char *argv[3] = {"SCRIPT", "LOAD", src};
        size_t lens[3] = {6, 4, strlen(src)};
        gw_redis_reply_t *rep = gw_redis_command_argv(r, 3, argv, lens, errstr, errstr_size);
        if (!rep)
            return GW_REDIS_DOWN;
        if (rep->type != GW_REDIS_REPLY_STRING || rep->len != 40) {
            snprintf(errstr, errstr_size, "redis: SCRIPT LOAD failed: %s", gw_redis_reply_why(rep));
            gw_redis_reply_free(rep);
            return GW_REDIS_ERROR;
        }
        memcpy(r->sha[i], rep->str, 40);
        r->sha[i][40] = '\0';
        gw_redis_reply_free(rep);
    }
    return GW_REDIS_OK;
}

int gw_redis_reload_scripts(gw_redis_t *r, char *errstr, size_t errstr_size)
{
    if (r->cl) {
        int rc = gw_rcl_reload_scripts(r->cl, errstr, errstr_size);
        if (rc != GW_REDIS_OK)
            gw_redis_disconnect(r);
        return rc;
    }
    gw_log_warn("redis lost the scripts; loading them again", NULL);
    int rc = load_scripts(r, errstr, errstr_size);
    if (rc != GW_REDIS_OK)
        gw_redis_disconnect(r);
    return rc;
}

int gw_redis_with_scripts(gw_redis_t *r, gw_redis_attempt_fn attempt, void *ctx, char *errstr,
                          size_t errstr_size)
{
    bool noscript = false;
    int rc = attempt(ctx, &noscript, errstr, errstr_size);
    if (rc != GW_REDIS_OK || !noscript)
        return rc;
    rc = gw_redis_reload_scripts(r, errstr, errstr_size);
    if (rc != GW_REDIS_OK)
        return rc;
    noscript = false;
    rc = attempt(ctx, &noscript, errstr, errstr_size);
    if (rc == GW_REDIS_OK && noscript) {
        snprintf(errstr, errstr_size, GW_REDIS_SCRIPTS_VANISHED);
        rc = GW_REDIS_ERROR;
    }
    return rc;
}

/* ---- dialing ---------------------------------------------------------- */

#ifdef GW_HAVE_REDIS_TLS
/* The TLS handshake on a connected context, with the TLS context of `r`
 * (made on first use from redis.tls_*). */
static int tls_start(gw_redis_t *r, redisContext *c, const char *where, char *errstr,
                     size_t errstr_size)
{
    const gw_config_t *cfg = r->cfg;
    if (!r->tls) {
        /* SNI: the configured name, else the host unless it is an address
         * (RFC 6066 allows only names). */
        const char *sni = cfg->redis.tls.server_name;
        unsigned char addr[sizeof(struct in6_addr)];
        if (!sni && inet_pton(AF_INET, cfg->redis.host, addr) != 1 &&
            inet_pton(AF_INET6, cfg->redis.host, addr) != 1)
            sni = cfg->redis.host;
        redisInitOpenSSL();
        redisSSLContextError err = REDIS_SSL_CTX_NONE;
#if HIREDIS_MAJOR > 1 || (HIREDIS_MAJOR == 1 && HIREDIS_MINOR >= 2)
        redisSSLOptions opt = {
            .cacert_filename = cfg->redis.tls.ca,
            .cert_filename = cfg->redis.tls.cert,
            .private_key_filename = cfg->redis.tls.key,
            .server_name = sni,
            .verify_mode = cfg->redis.tls.verify ? REDIS_SSL_VERIFY_PEER : REDIS_SSL_VERIFY_NONE,
        };
        r->tls = redisCreateSSLContextWithOptions(&opt, &err);
#else
        /* hiredis 1.0 and 1.1 always verify (the config refuses tls_verify: false). */
        r->tls = redisCreateSSLContext(cfg->redis.tls.ca, NULL, cfg->redis.tls.cert,
                                       cfg->redis.tls.key, sni, &err);
#endif
        if (!r->tls) {
            snprintf(errstr, errstr_size,
                     "redis %s: cannot set up TLS from redis.tls_ca, tls_cert, tls_key: %s", where,
                     redisSSLContextGetError(err));
            return -1;
        }
    }
    if (redisInitiateSSLWithContext(c, r->tls) != REDIS_OK) {
        snprintf(errstr, errstr_size, "redis %s: TLS handshake failed: %s%s", where, c->errstr,
                 cfg->redis.tls.verify && strstr(c->errstr, "verify")
                     ? " (is redis.tls_ca the CA that signed the server's certificate?)"
                     : "");
        return -1;
    }
    /* With TLS 1.3 the server judges the client's certificate after the
     * handshake: a refusal shows at the first reply, so ask for one here
     * where the error can say what it means (NOAUTH is a reply too). */
    redisReply *pong = redisCommand(c, "PING");
    if (!pong) {
        snprintf(errstr, errstr_size,
                 "redis %s: the server closed the TLS connection after the handshake (%s): a "
                 "server that verifies clients (tls-auth-clients) needs redis.tls_cert and "
                 "redis.tls_key signed by a CA it trusts",
                 where, c->errstr);
        return -1;
    }
    freeReplyObject(pong);
    return 0;
}
#endif

/* Opens a connection as the config says: TCP or unix socket, command
 * timeout, keepalive, and TLS when redis.tls is on. The only place that
 * dials Redis (the daemon's connections and the CLI's all connect through
 * gw_redis_connect). Returns the context (caller frees) or NULL with a
 * sentence in `errstr`; `where` receives "host:port" or "unix:path". */
static redisContext *redis_dial(gw_redis_t *r, char *where, size_t where_size, char *errstr,
                                size_t errstr_size)
{
    const gw_config_t *cfg = r->cfg;
    struct timeval ctv = ms_to_tv(cfg->redis.connect_timeout_ms);
    redisContext *c;
    if (cfg->redis.unix_socket && *cfg->redis.unix_socket) {
        c = redisConnectUnixWithTimeout(cfg->redis.unix_socket, ctv);
        snprintf(where, where_size, "unix:%s", cfg->redis.unix_socket);
    } else {
        c = redisConnectWithTimeout(cfg->redis.host, cfg->redis.port, ctv);
        snprintf(where, where_size, "%s:%d", cfg->redis.host, cfg->redis.port);
    }
    if (!c || c->err) {
        snprintf(errstr, errstr_size, "redis %s: cannot connect: %s", where,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    /* The timeout first: it bounds the TLS handshake too. */
    if (redisSetTimeout(c, ms_to_tv(cfg->redis.command_timeout_ms)) != REDIS_OK ||
        redisEnableKeepAlive(c) != REDIS_OK) {
        snprintf(errstr, errstr_size, "redis %s: cannot set socket options: %s", where, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (cfg->redis.tls.enabled) {
#ifdef GW_HAVE_REDIS_TLS
        if (tls_start(r, c, where, errstr, errstr_size) != 0) {
            redisFree(c);
            return NULL;
        }
#else
        /* gw_config refuses redis.tls without hiredis_ssl; never plain text. */
        snprintf(errstr, errstr_size, "redis %s: redis.tls needs hiredis >= 1.0 with TLS", where);
        redisFree(c);
        return NULL;
#endif
    }
    return c;
}

/* Runs a setup command (AUTH, SELECT) and returns GW_REDIS_OK, or a failure
 * with `errstr` from `what` and the server's answer (never an argument:
 * AUTH's would be the password). */
static int setup_command(gw_redis_t *r, int argc, const char *const *argv, const size_t *lens,
                         const char *where, const char *what, char *errstr, size_t errstr_size)
{
    gw_redis_reply_t *rep = gw_redis_command_argv(r, argc, argv, lens, errstr, errstr_size);
    if (!rep)
        return GW_REDIS_DOWN;
    int rc = GW_REDIS_OK;
    if (rep->type == GW_REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "redis %s: %s failed: %s", where, what, rep->str);
        rc = GW_REDIS_ERROR;
    }
    gw_redis_reply_free(rep);
    if (rc != GW_REDIS_OK)
        gw_redis_disconnect(r);
    return rc;
}

int gw_redis_connect(gw_redis_t *r, char *errstr, size_t errstr_size)
{
    if (r->cl) {
        r->pending = 0;
        return gw_rcl_connect(r->cl, errstr, errstr_size);
    }
    if (r->ctx)
        return GW_REDIS_OK;
    const gw_config_t *cfg = r->cfg;
    char where[300];
    redisContext *c = redis_dial(r, where, sizeof(where), errstr, errstr_size);
    if (!c)
        return GW_REDIS_DOWN;
    r->ctx = c;
    r->nonblocking = false;
    r->unsent = false;
    int rc = GW_REDIS_OK;
    if (cfg->redis.password) {
        const char *argv[3] = {"AUTH", NULL, NULL};
        size_t lens[3] = {4, 0, 0};
        int argc = 2;
        char what[320] = "AUTH";
        if (cfg->redis.user && *cfg->redis.user) {
            argv[1] = cfg->redis.user;
            lens[1] = strlen(cfg->redis.user);
            argv[2] = cfg->redis.password;
            lens[2] = strlen(cfg->redis.password);
            argc = 3;
            snprintf(what, sizeof(what), "AUTH as %s", cfg->redis.user);
        } else {
            argv[1] = cfg->redis.password;
            lens[1] = strlen(cfg->redis.password);
        }
        rc = setup_command(r, argc, argv, lens, where, what, errstr, errstr_size);
        if (rc != GW_REDIS_OK)
            return rc;
    }
    if (cfg->redis.db) {
        char db[16], what[32];
        snprintf(db, sizeof(db), "%d", cfg->redis.db);
        snprintf(what, sizeof(what), "SELECT %d", cfg->redis.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        rc = setup_command(r, 2, argv, lens, where, what, errstr, errstr_size);
        if (rc != GW_REDIS_OK)
            return rc;
    }
    rc = r->read_only ? GW_REDIS_OK : load_scripts(r, errstr, errstr_size);
    if (rc != GW_REDIS_OK)
        gw_redis_disconnect(r);
    return rc;
}

/* ---- the pipelined non-blocking engine --------------------------------- */

int gw_redis_pump(gw_redis_t *r, bool *progress, char *errstr, size_t errstr_size)
{
    if (r->cl)
        return gw_rcl_pump(r->cl, progress, errstr, errstr_size);
    *progress = false;
    if (!r->ctx) {
        snprintf(errstr, errstr_size, "not connected");
        return GW_REDIS_DOWN;
    }
    if (set_nonblocking(r, true) != 0) {
        snprintf(errstr, errstr_size, "cannot make the connection non-blocking");
        return GW_REDIS_DOWN;
    }
    if (r->unsent) {
        int done = 0;
        if (redisBufferWrite(r->ctx, &done) != REDIS_OK)
            goto io_fail;
        if (done) {
            r->unsent = false;
            *progress = true;
        }
    }
    size_t had = r->ctx->reader->len;
    if (redisBufferRead(r->ctx) != REDIS_OK)
        goto io_fail;
    if (r->ctx->reader->len != had)
        *progress = true;
    return GW_REDIS_OK;
io_fail:
    snprintf(errstr, errstr_size, "%s", r->ctx->errstr[0] ? r->ctx->errstr : "I/O error");
    return GW_REDIS_DOWN;
}

bool gw_redis_unsent(const gw_redis_t *r)
{
    if (r->cl)
        return gw_rcl_unsent(r->cl);
    return r->unsent;
}

int gw_redis_take_reply(gw_redis_t *r, gw_redis_reply_t **out)
{
    if (r->cl)
        return gw_rcl_take_reply(r->cl, out);
    *out = NULL;
    void *h = NULL;
    if (!r->ctx || redisReaderGetReply(r->ctx->reader, &h) != REDIS_OK)
        return GW_REDIS_ERROR;
    if (h && !(*out = reply_take(h)))
        return GW_REDIS_ERROR;
    return GW_REDIS_OK;
}

int gw_redis_wait(gw_redis_t *r, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (r->cl)
        return gw_rcl_wait(r->cl, timeout_ms, errstr, errstr_size);
    if (!r->ctx) {
        snprintf(errstr, errstr_size, "not connected");
        return GW_REDIS_DOWN;
    }
    struct pollfd pfd = {.fd = r->ctx->fd, .events = POLLIN};
    if (r->unsent)
        pfd.events |= POLLOUT;
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
        snprintf(errstr, errstr_size, "poll: %s", strerror(errno));
        return GW_REDIS_DOWN;
    }
    return GW_REDIS_OK;
}

int gw_redis_wait_replicas(gw_redis_t *r, int timeout_ms, char *errstr, size_t errstr_size)
{
    return r->cl ? gw_rcl_wait_replicas(r->cl, timeout_ms, errstr, errstr_size) : GW_REDIS_OK;
}

size_t gw_redis_nodes(const gw_redis_t *r)
{
    return r->cl ? gw_rcl_nodes(r->cl) : 1;
}

gw_redis_reply_t *gw_redis_node_command_argv(gw_redis_t *r, size_t node, int argc,
                                             const char *const *argv, const size_t *lens,
                                             char *errstr, size_t errstr_size)
{
    if (r->cl)
        return gw_rcl_node_command(r->cl, node, argc, argv, lens, errstr, errstr_size);
    return gw_redis_command_argv(r, argc, argv, lens, errstr, errstr_size);
}

/* ---- for the cluster router (gw_redis_cluster.h) ------------------------ */

int gw_redis_append_raw(gw_redis_t *r, const char *buf, size_t len)
{
    if (!r->ctx || redisAppendFormattedCommand(r->ctx, buf, len) != REDIS_OK)
        return GW_REDIS_ERROR;
    r->unsent = true;
    return GW_REDIS_OK;
}

bool gw_redis_pollfd(const gw_redis_t *r, struct pollfd *pfd)
{
    if (!r->ctx)
        return false;
    pfd->fd = r->ctx->fd;
    pfd->events = POLLIN | (r->unsent ? POLLOUT : 0);
    pfd->revents = 0;
    return true;
}
