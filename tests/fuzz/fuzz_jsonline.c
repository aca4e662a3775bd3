/*
 * libFuzzer target: `gapwatch produce`'s JSON-line to Event conversion
 * (jansson, then protobuf-c's descriptor walk and pack). A packed event that
 * comes out must unpack again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gapwatch/v1/event.pb-c.h"
#include "jsonline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    char key[128], err[512];
    if (gw_jsonline_to_event((const char *)data, size, &out, &out_len, key, sizeof(key), err,
                             sizeof(err)) != 0)
        return 0;
    Gapwatch__V1__Event *ev = gapwatch__v1__event__unpack(NULL, out_len, out);
    if (!ev)
        abort();
    gapwatch__v1__event__free_unpacked(ev, NULL);
    free(out);
    return 0;
}
