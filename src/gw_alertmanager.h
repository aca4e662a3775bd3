/*
 * gw_alertmanager: posts alert batches to Prometheus Alertmanager's v2 API
 * (POST <url>/api/v2/alerts) from a thread of its own, so a slow or
 * unreachable Alertmanager never blocks the consume loop.
 *
 * The loop hands over JSON bodies (gw_alertmanager_post); the thread posts
 * them in order with libcurl, each within the configured timeout. The queue
 * holds at most GW_ALERTMANAGER_QUEUE bodies: when Alertmanager falls that
 * far behind, the oldest is dropped, which loses nothing, since firing alerts
 * are re-posted at every evaluation (Alertmanager's own contract) and a
 * dropped RESOLVED is caught by the firing alert's endsAt.
 *
 * Ownership: gw_alertmanager_new copies every string of `opts`; `posts` and `failures` are borrowed
 *   for the object's life. gw_alertmanager_post takes over `body` (malloc'ed); the posting thread
 *   frees it after the POST, or when it is dropped from a full queue or left at
 *   gw_alertmanager_free.
 * Errors: gw_alertmanager_new returns NULL with a sentence in `errstr` (out of memory, or the
 *   thread could not start). A failed POST, or a body dropped from a full queue, is logged (the
 *   drop only counted) and counted in `failures`; nothing is reported to the caller.
 *   gw_alertmanager_drain returns the number of bodies not yet posted.
 * Threads: gw_alertmanager_new, _post, _drain and _free are called from one thread (the loop); the
 *   posting thread touches only the queue (under the object's mutex) and the two counters
 *   (atomically). libcurl must be initialised by the program before the first gw_alertmanager_new
 *   (curl_global_init), as libcurl requires of programs, not libraries. No state outside the
 *   object.
 */
#ifndef GW_ALERTMANAGER_H
#define GW_ALERTMANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_ALERTMANAGER_QUEUE 16

typedef struct gw_alertmanager_s gw_alertmanager_t;

/* Where and how to post (strings are copied; NULL: not set). */
typedef struct {
    const char *url; /* base URL, "http://host:9093" or "https://..." */
    int64_t timeout_ms;
    const char *username, *password; /* basic auth */
    const char *bearer_token;        /* Authorization: Bearer */
    const char *tls_ca;              /* CA bundle for the server's certificate */
    const char *tls_cert, *tls_key;  /* client certificate */
    bool tls_verify;                 /* verify the server's certificate and host name */
} gw_alertmanager_opts_t;

/* Starts the posting thread. `posts` and `failures` (borrowed; may be NULL)
 * are incremented atomically per POST and per failed POST. NULL with
 * `errstr` on failure. */
gw_alertmanager_t *gw_alertmanager_new(const gw_alertmanager_opts_t *opts, uint64_t *posts,
                                       uint64_t *failures, char *errstr, size_t errstr_size);

/* Queues a JSON array of alerts; takes ownership of `body` (malloc'ed). */
void gw_alertmanager_post(gw_alertmanager_t *am, char *body);

/* Waits until the queue is empty or `timeout_ms` passed; returns the
 * number of bodies still queued or in flight. For shutdown and tests. */
size_t gw_alertmanager_drain(gw_alertmanager_t *am, int64_t timeout_ms);

/* Stops the thread (an in-flight POST ends within the timeout) and frees
 * what is still queued. Accepts NULL. */
void gw_alertmanager_free(gw_alertmanager_t *am);

#endif
