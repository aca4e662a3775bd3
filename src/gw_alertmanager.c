/* gw_alertmanager: Alertmanager posts on a thread of their own. */
#include "gw_alertmanager.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_log.h"
#include "gw_time.h"

struct gw_alertmanager_s {
    char url[512];
    int64_t timeout_ms;
    char *username, *password, *auth_header, *tls_ca, *tls_cert, *tls_key;
    bool tls_verify;
    uint64_t *posts, *failures;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* work queued, or stop */
    pthread_cond_t idle; /* the queue emptied */
    char *queue[GW_ALERTMANAGER_QUEUE];
    size_t head, n;
    bool busy; /* a POST in flight */
    bool stop;
    int64_t last_fail_log_ms;
};

static void count(uint64_t *c)
{
    if (c)
        __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* One POST; logs a failure at most every 10 s. */
static void post(gw_alertmanager_t *am, CURL *curl, const char *body)
{
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (am->auth_header)
        hdr = curl_slist_append(hdr, am->auth_header);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, am->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
    if (am->username) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, am->username);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, am->password ? am->password : "");
    }
    if (am->tls_ca)
        curl_easy_setopt(curl, CURLOPT_CAINFO, am->tls_ca);
    if (am->tls_cert) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, am->tls_cert);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, am->tls_key);
    }
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, am->tls_verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, am->tls_verify ? 2L : 0L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)am->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdr);
    count(am->posts);
    if (cc == CURLE_OK && code == 200)
        return;
    const char *hint = code == 401 || code == 403 ? " (check alerting.alertmanager's username, "
                                                    "password or bearer token)"
                       : cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE
                           ? " (check alerting.alertmanager.tls_ca)"
                       : cc == CURLE_SSL_CERTPROBLEM ? " (check alerting.alertmanager.tls_cert and "
                                                       "tls_key)"
                                                     : "";
    count(am->failures);
    int64_t t = gw_mono_ms();
    if (t - am->last_fail_log_ms > 10000) {
        am->last_fail_log_ms = t;
        gw_log_warn("alertmanager post failed; firing alerts are posted again at the next "
                    "evaluation",
                    "url=%s http_status=%ld err=\"%s%s\"", am->url, code,
                    cc == CURLE_OK ? "unexpected status" : curl_easy_strerror(cc), hint);
    }
}

static void *run(void *arg)
{
    gw_alertmanager_t *am = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&am->mu);
    for (;;) {
        while (am->n == 0 && !am->stop)
            pthread_cond_wait(&am->cv, &am->mu);
        if (am->stop)
            break;
        char *body = am->queue[am->head];
        am->head = (am->head + 1) % GW_ALERTMANAGER_QUEUE;
        am->n--;
        am->busy = true;
        pthread_mutex_unlock(&am->mu);
        if (curl)
            post(am, curl, body);
        else
            count(am->failures);
        free(body);
        pthread_mutex_lock(&am->mu);
        am->busy = false;
        if (am->n == 0)
            pthread_cond_broadcast(&am->idle);
    }
    pthread_mutex_unlock(&am->mu);
    if (curl)
        curl_easy_cleanup(curl);
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_strings(gw_alertmanager_t *am)
{
    free(am->username);
    free(am->password);
    free(am->auth_header);
    free(am->tls_ca);
    free(am->tls_cert);
    free(am->tls_key);
}

gw_alertmanager_t *gw_alertmanager_new(const gw_alertmanager_opts_t *o, uint64_t *posts,
                                       uint64_t *failures, char *errstr, size_t errstr_size)
{
    gw_alertmanager_t *am = calloc(1, sizeof(*am));
    if (!am) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    size_t len = strlen(o->url);
    snprintf(am->url, sizeof(am->url), "%.*s/api/v2/alerts",
             (int)(len && o->url[len - 1] == '/' ? len - 1 : len), o->url);
    am->timeout_ms = o->timeout_ms;
    am->username = dup_or_null(o->username);
    am->password = dup_or_null(o->password);
    am->tls_ca = dup_or_null(o->tls_ca);
    am->tls_cert = dup_or_null(o->tls_cert);
    am->tls_key = dup_or_null(o->tls_key);
    am->tls_verify = o->tls_verify;
    if (o->bearer_token) {
        size_t n = strlen(o->bearer_token) + 32;
        am->auth_header = malloc(n);
        if (am->auth_header)
            snprintf(am->auth_header, n, "Authorization: Bearer %s", o->bearer_token);
    }
    am->posts = posts;
    am->failures = failures;
    pthread_mutex_init(&am->mu, NULL);
    pthread_cond_init(&am->cv, NULL);
    pthread_cond_init(&am->idle, NULL);
    int rc = pthread_create(&am->thread, NULL, run, am);
    if (rc != 0) {
        snprintf(errstr, errstr_size, "cannot start the Alertmanager thread: %s", strerror(rc));
        pthread_cond_destroy(&am->idle);
        pthread_cond_destroy(&am->cv);
        pthread_mutex_destroy(&am->mu);
        free_strings(am);
        free(am);
        return NULL;
    }
    return am;
}

void gw_alertmanager_post(gw_alertmanager_t *am, char *body)
{
    pthread_mutex_lock(&am->mu);
    if (am->n == GW_ALERTMANAGER_QUEUE) { /* far behind: the oldest goes */
        free(am->queue[am->head]);
        am->head = (am->head + 1) % GW_ALERTMANAGER_QUEUE;
        am->n--;
        count(am->failures);
    }
    am->queue[(am->head + am->n) % GW_ALERTMANAGER_QUEUE] = body;
    am->n++;
    pthread_cond_signal(&am->cv);
    pthread_mutex_unlock(&am->mu);
}

size_t gw_alertmanager_drain(gw_alertmanager_t *am, int64_t timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&am->mu);
    while ((am->n > 0 || am->busy) && pthread_cond_timedwait(&am->idle, &am->mu, &until) == 0)
        ;
    size_t left = am->n + am->busy;
    pthread_mutex_unlock(&am->mu);
    return left;
}

void gw_alertmanager_free(gw_alertmanager_t *am)
{
    if (!am)
        return;
    pthread_mutex_lock(&am->mu);
    am->stop = true;
    pthread_cond_signal(&am->cv);
    pthread_mutex_unlock(&am->mu);
    pthread_join(am->thread, NULL);
    while (am->n > 0) {
        free(am->queue[am->head]);
        am->head = (am->head + 1) % GW_ALERTMANAGER_QUEUE;
        am->n--;
    }
    pthread_cond_destroy(&am->idle);
    pthread_cond_destroy(&am->cv);
    pthread_mutex_destroy(&am->mu);
    free_strings(am);
    free(am);
}
