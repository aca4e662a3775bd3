/* gw_version: gapwatch's version and its libraries'. */
#include "gw_version.h"

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <protobuf-c/protobuf-c.h>
#include <yaml.h>

const char *gw_version(void)
{
    return GW_VERSION;
}

void gw_version_print(FILE *out, const char *program)
{
    fprintf(out, "%s %s\n", program, GW_VERSION);
    fprintf(out, "  librdkafka  %s\n", rd_kafka_version_str());
    /* hiredis 0.14 has no run-time version call: the headers built with. */
    fprintf(out, "  hiredis     %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    fprintf(out, "  protobuf-c  %s\n", protobuf_c_version());
    fprintf(out, "  libyaml     %s\n", yaml_get_version_string());
    fprintf(out, "  jansson     %s\n", jansson_version_str());
    fprintf(out, "  libcurl     %s\n", curl_version_info(CURLVERSION_NOW)->version);
    fprintf(out, "  microhttpd  %s\n", MHD_get_version());
    fprintf(out, "  OpenSSL     %s\n", OpenSSL_version(OPENSSL_VERSION));
}
