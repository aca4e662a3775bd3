/*
 * libFuzzer target: the config loader (libyaml, the schema walk, durations,
 * playbooks, librdkafka property probes) on an arbitrary YAML buffer. Either
 * a config or a NUL-terminated error text; never a crash or a leak.
 * ${VAR} expansion reads the environment, which the target leaves as is.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char err[16384];
    static int once;
    if (!once) {
        once = 1;
        gw_log_set_level(GW_LOG_ERROR); /* config warnings would flood the output */
    }
    if (size > 65536)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    gw_config_t *cfg = NULL;
    if (gw_config_load_string(text, "fuzz.yaml", &cfg, err, sizeof(err)) == 0)
        gw_config_free(cfg);
    else if (!memchr(err, '\0', sizeof(err)))
        abort();
    free(text);
    return 0;
}
