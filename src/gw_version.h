/*
 * gw_version: what `gapwatch --version` and `gapwatchd --version` print:
 * gapwatch's version and the version of every library it runs with (the
 * run-time one where the library reports it, else the one built against),
 * so a bug report says which librdkafka or hiredis was in play.
 *
 * Ownership: gw_version returns a static string; `out` is borrowed.
 * Errors: none: write errors on `out` are the caller's to check.
 * Threads: Any thread; no state.
 */
#ifndef GW_VERSION_H
#define GW_VERSION_H

#include <stdio.h>

/* gapwatch's version, e.g. "0.1.0". Static storage. */
const char *gw_version(void);

/* Prints "<program> <version>" and one "  <library> <version>" line per
 * library to `out` (borrowed). Any thread. */
void gw_version_print(FILE *out, const char *program);

#endif
