/*
 * jsonline: the JSON-line to gapwatch.v1.Event conversion of `gapwatch
 * produce`, apart from the command so the fuzz target can reach it. Walks
 * protobuf-c's descriptor of Event: every field of the proto is accepted
 * under either of its two JSON names, and nothing else is.
 */
#include "jsonline.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gapwatch/v1/event.pb-c.h"

/* True when `name` is the lowerCamelCase JSON name of proto field `proto`
 * ("occurredAtMs" for "occurred_at_ms"), the name protoc gives json_name. */
static bool is_json_name(const char *proto, const char *name)
{
    bool upper = false;
    for (; *proto; proto++) {
        if (*proto == '_') {
            upper = true;
            continue;
        }
        char want = upper ? (char)toupper((unsigned char)*proto) : *proto;
        upper = false;
        if (*name++ != want)
            return false;
    }
    return *name == '\0';
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *md,
                                                  const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(md, name);
    for (unsigned i = 0; !f && i < md->n_fields; i++)
        if (is_json_name(md->fields[i].name, name))
            f = &md->fields[i];
    return f;
}

/* An integer from a JSON number or a decimal string (proto3 JSON writes
 * 64-bit integers as strings, since JavaScript cannot hold them). */
static int json_int(json_t *value, const char *field, long long *v, char *err, size_t errsize)
{
    if (json_is_integer(value)) {
        *v = json_integer_value(value);
        return 0;
    }
    if (json_is_real(value)) {
        /* 1e3 is an integer; 34.7e72 is out of range (casting it would be
         * undefined), 1.5 is not one */
        double d = json_real_value(value);
        if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(long long)d) {
            *v = (long long)d;
            return 0;
        }
        snprintf(err, errsize, "field \"%s\": %g is not a 64-bit integer", field, d);
        return -1;
    } else if (json_is_string(value)) {
        const char *s = json_string_value(value);
        char *end;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (*s && !isspace((unsigned char)*s) && !*end && errno == 0) {
            *v = n;
            return 0;
        }
        snprintf(err, errsize, "field \"%s\": \"%.40s\" is not an integer", field, s);
        return -1;
    }
    snprintf(err, errsize, "field \"%s\": expected an integer (a number or a decimal string)",
             field);
    return -1;
}

/* Sets one field of `msg` from `value`. Returns 0, or -1 with `err`. String
 * values point into the JSON document, which outlives the packing. */
static int set_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *value,
                     char *err, size_t errsize)
{
    void *dst = (char *)msg + f->offset;
    long long v;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(value)) {
            snprintf(err, errsize, "field \"%s\": expected a string", f->name);
            return -1;
        }
        *(const char **)dst = json_string_value(value);
        return 0;
    case PROTOBUF_C_TYPE_INT64:
        if (json_int(value, f->name, &v, err, errsize))
            return -1;
        *(int64_t *)dst = v;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
        if (json_int(value, f->name, &v, err, errsize))
            return -1;
        if (v < 0 || v > UINT32_MAX) {
            snprintf(err, errsize, "field \"%s\": %lld is out of range (0 to %" PRIu32 ")", f->name,
                     v, UINT32_MAX);
            return -1;
        }
        *(uint32_t *)dst = (uint32_t)v;
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (json_is_string(value)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(value));
            if (ev) {
                *(int *)dst = ev->value;
                return 0;
            }
        } else if (json_is_integer(value)) {
            /* proto3 JSON takes any number of an open enum; whether it is
             * one gapwatch knows is the daemon's rule (gw_decode). */
            json_int_t n = json_integer_value(value);
            if (n >= INT32_MIN && n <= INT32_MAX) {
                *(int *)dst = (int)n;
                return 0;
            }
        }
        char names[320];
        size_t n = 0;
        for (unsigned i = 0; i < ed->n_values && n < sizeof(names); i++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
                                  ed->values[i].name);
        snprintf(err, errsize, "field \"%s\": %s%.64s%s is not a %s (%s, or its number)", f->name,
                 json_is_string(value) ? "\"" : "",
                 json_is_string(value) ? json_string_value(value) : "value",
                 json_is_string(value) ? "\"" : "", ed->name, names);
        return -1;
    }
    default:
        snprintf(err, errsize, "field \"%s\": type not supported by this tool", f->name);
        return -1;
    }
}

int gw_jsonline_to_event(const char *line, size_t len, uint8_t **out, size_t *out_len, char *key,
                         size_t key_size, char *err, size_t errsize)
{
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errsize, "not JSON: %s (column %d)", jerr.text, jerr.column);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errsize, "expected a JSON object");
        json_decref(root);
        return -1;
    }
    Gapwatch__V1__Event ev = GAPWATCH__V1__EVENT__INIT;
    const ProtobufCMessageDescriptor *md = &gapwatch__v1__event__descriptor;
    const char *seen[32] = {0}; /* JSON name used per field, by field index */
    const char *name;
    json_t *value;
    int rc = 0;
    json_object_foreach(root, name, value)
    {
        const ProtobufCFieldDescriptor *f = find_field(md, name);
        if (!f) {
            snprintf(err, errsize, "field \"%s\": not a field of gapwatch.v1.Event", name);
            rc = -1;
            break;
        }
        size_t idx = (size_t)(f - md->fields);
        if (idx < sizeof(seen) / sizeof(seen[0])) {
            if (seen[idx]) {
                snprintf(err, errsize, "field \"%s\": given twice (as \"%s\" and \"%s\")", f->name,
                         seen[idx], name);
                rc = -1;
                break;
            }
            seen[idx] = name;
        }
        if (json_is_null(value))
            continue;
        if (set_field(&ev.base, f, value, err, errsize) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0) {
        snprintf(key, key_size, "%s", ev.rep_id ? ev.rep_id : "");
        *out_len = gapwatch__v1__event__get_packed_size(&ev);
        *out = malloc(*out_len ? *out_len : 1);
        if (!*out) {
            snprintf(err, errsize, "out of memory");
            rc = -1;
        } else {
            gapwatch__v1__event__pack(&ev, *out);
        }
    }
    json_decref(root);
    return rc;
}
