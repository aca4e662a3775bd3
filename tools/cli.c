/* Helpers shared by the CLI's subcommands. */
#include "cli.h"

#include <errno.h>
#include <string.h>

int cli_read_bootstrap_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gapwatch: cannot read bootstrap file %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!fgets(buf, (int)size, f)) {
        fclose(f);
        fprintf(stderr, "gapwatch: bootstrap file %s is empty\n", path);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

int cli_conf_set_kv(rd_kafka_conf_t *conf, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "gapwatch: -X expects name=value, got \"%s\"\n", kv);
        return -1;
    }
    char name[256];
    size_t n = (size_t)(eq - kv);
    if (n >= sizeof(name)) {
        fprintf(stderr, "gapwatch: -X property name too long\n");
        return -1;
    }
    memcpy(name, kv, n);
    name[n] = '\0';
    char err[256];
    if (rd_kafka_conf_set(conf, name, eq + 1, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "gapwatch: -X %s: %s\n", name, err);
        return -1;
    }
    return 0;
}
