/*
 * gw_resp: RESP command writer. A command's argument count is only known
 * at its end, so gw_resp_begin() reserves room for the longest header
 * ("*<20 digits>\r\n") and gw_resp_end() writes the real one and moves the
 * arguments down to meet it (Redis rejects padded counts).
 */
#include "gw_resp.h"

#include <stdlib.h>
#include <string.h>

#define HEADER_MAX 24

void gw_resp_free(gw_resp_t *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

void gw_resp_reset(gw_resp_t *r)
{
    r->len = 0;
    r->argc = 0;
    r->open = false;
    r->oom = false;
}

bool gw_resp_ok(const gw_resp_t *r)
{
    return !r->oom;
}

/* Makes room for `n` more bytes; false (and sticky oom) when it cannot. */
static bool reserve(gw_resp_t *r, size_t n)
{
    if (r->oom)
        return false;
    if (r->len + n <= r->cap)
        return true;
    size_t ncap = r->cap ? r->cap : 4096;
    while (ncap < r->len + n)
        ncap *= 2;
    char *nb = realloc(r->buf, ncap);
    if (!nb) {
        r->oom = true;
        return false;
    }
    r->buf = nb;
    r->cap = ncap;
    return true;
}

/* Two digits at a time: every argument's length and most of its values
 * go through here. */
static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324"
                                  "25262728293031323334353637383940414243444546474849"
                                  "50515253545556575859606162636465666768697071727374"
                                  "75767778798081828384858687888990919293949596979899";

size_t gw_resp_i64_text(int64_t v, char *out)
{
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    /* negate through unsigned: INT64_MIN has no positive counterpart */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    if (u < 10) {
        out[len] = (char)('0' + u);
        return len + 1;
    }
    char tmp[24];
    size_t n = sizeof(tmp);
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        tmp[--n] = digit_pairs[d + 1];
        tmp[--n] = digit_pairs[d];
    }
    if (u >= 10) {
        tmp[--n] = digit_pairs[u * 2 + 1];
        tmp[--n] = digit_pairs[u * 2];
    } else {
        tmp[--n] = (char)('0' + u);
    }
    memcpy(out + len, tmp + n, sizeof(tmp) - n);
    return len + sizeof(tmp) - n;
}

void gw_resp_begin(gw_resp_t *r)
{
    if (!reserve(r, HEADER_MAX))
        return;
    r->cmd_start = r->len;
    r->len += HEADER_MAX;
    r->argc = 0;
    r->open = true;
}

/* Writes "$<len>\r\n" and reserves the argument and its "\r\n". Returns
 * where the argument's bytes go, or NULL. */
static char *arg_open(gw_resp_t *r, size_t len)
{
    if (!reserve(r, len + 24))
        return NULL;
    char *p = r->buf + r->len;
    *p++ = '$';
    p += gw_resp_i64_text((int64_t)len, p);
    *p++ = '\r';
    *p++ = '\n';
    p[len] = '\r';
    p[len + 1] = '\n';
    r->len = (size_t)(p - r->buf) + len + 2;
    r->argc++;
    return p;
}

void gw_resp_arg(gw_resp_t *r, const void *p, size_t len)
{
    char *dst = arg_open(r, len);
    if (dst && len)
        memcpy(dst, p, len);
}

void gw_resp_arg_str(gw_resp_t *r, const char *s)
{
    gw_resp_arg(r, s, strlen(s));
}

void gw_resp_arg_i64(gw_resp_t *r, int64_t v)
{
    char txt[24];
    gw_resp_arg(r, txt, gw_resp_i64_text(v, txt));
}

int gw_resp_end(gw_resp_t *r)
{
    if (r->oom || !r->open)
        return -1;
    char head[HEADER_MAX];
    size_t h = 0;
    head[h++] = '*';
    h += gw_resp_i64_text((int64_t)r->argc, head + h);
    head[h++] = '\r';
    head[h++] = '\n';
    char *start = r->buf + r->cmd_start;
    size_t body = r->len - r->cmd_start - HEADER_MAX;
    memcpy(start, head, h);
    memmove(start + h, start + HEADER_MAX, body);
    r->len = r->cmd_start + h + body;
    r->open = false;
    return 0;
}

bool gw_resp_parse_i64(const char *s, size_t len, int64_t *out)
{
    if (!s || len == 0)
        return false;
    size_t i = 0;
    bool negative = s[0] == '-';
    if (negative && ++i == len)
        return false;
    if (s[i] == '0') {
        if (negative || len != 1)
            return false;
        *out = 0;
        return true;
    }
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (negative) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}
