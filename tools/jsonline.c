/*
 * jsonline: the JSON-line to gapwatch.v1.Event conversion of `gapwatch
 * produce`, apart from the command so the fuzz target can reach it. Walks
 * protobuf-c's descriptor of Event: every field of the proto is accepted and
 * nothing else is.
 */
#include "jsonline.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gapwatch/v1/event.pb-c.h"

/* Sets one field of `msg` from `value`. Returns 0, or -1 with `err`. String
 * values point into the JSON document, which outlives the packing. */
static int set_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, json_t *value,
                     char *err, size_t errsize)
{
    void *dst = (char *)msg + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(value)) {
            snprintf(err, errsize, "field \"%s\": expected a string", f->name);
            return -1;
        }
        *(const char **)dst = json_string_value(value);
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT32: {
        if (!json_is_integer(value)) {
            snprintf(err, errsize, "field \"%s\": expected an integer", f->name);
            return -1;
        }
        json_int_t v = json_integer_value(value);
        if (f->type == PROTOBUF_C_TYPE_INT64) {
            *(int64_t *)dst = v;
        } else {
            if (v < 0 || v > UINT32_MAX) {
                snprintf(err, errsize, "field \"%s\": %" JSON_INTEGER_FORMAT " is out of range",
                         f->name, v);
                return -1;
            }
            *(uint32_t *)dst = (uint32_t)v;
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(value))
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(value));
        else if (json_is_integer(value))
            ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_integer_value(value));
        if (!ev) {
            char names[320];
            size_t n = 0;
            for (unsigned i = 0; i < ed->n_values && n < sizeof(names); i++)
                n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", i ? ", " : "",
                                      ed->values[i].name);
            snprintf(err, errsize, "field \"%s\": %s%.64s%s is not a %s (%s)", f->name,
                     json_is_string(value) ? "\"" : "",
                     json_is_string(value) ? json_string_value(value) : "value",
                     json_is_string(value) ? "\"" : "", ed->name, names);
            return -1;
        }
        *(int *)dst = ev->value;
        return 0;
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
    json_t *root = json_loadb(line, len, 0, &jerr);
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
    const char *name;
    json_t *value;
    int rc = 0;
    json_object_foreach(root, name, value)
    {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(md, name);
        if (!f) {
            snprintf(err, errsize, "field \"%s\": not a field of gapwatch.v1.Event", name);
            rc = -1;
            break;
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
