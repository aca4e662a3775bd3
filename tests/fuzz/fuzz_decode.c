/*
 * libFuzzer target: gw_decoder_decode (protobuf-c unpack and every rule of
 * the wire contract) on arbitrary bytes, as a Kafka message's payload.
 * Whatever the input: no crash, no leak, a reason and a NUL-terminated
 * detail.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gw_config_t *cfg;
    static gw_decoder_t *dec;
    if (!cfg) {
        cfg = gw_config_defaults();
        if (!cfg)
            abort();
        dec = gw_decoder_new(cfg);
        if (!dec)
            abort();
    }
    gw_event_t ev;
    char detail[512];
    memset(detail, 'x', sizeof(detail));
    gw_reason_t r =
        gw_decoder_decode(dec, data, size, 1800000000000LL, &ev, detail, sizeof(detail));
    if ((int)r < 0 || r >= GW_REASON_COUNT || !memchr(detail, '\0', sizeof(detail)))
        abort();
    return 0;
}
