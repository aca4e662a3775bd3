/*
 * Static checks of the deployment artefacts: deploy/ (compose stack, Grafana,
 * Prometheus, Kubernetes, systemd) and the Dockerfile. Nothing here starts a
 * server or a container: the development machine has no Docker engine, so
 * the image and the compose stack are never built or run by the tests, and
 * these checks are what stands between a typo and a broken deployment.
 *
 * Each test collects every problem it finds and then fails once, listing
 * them all as "file:line: what is wrong" (the way --check-config reports).
 * Not checked here, because test_observability runs them for real: promtool
 * on prometheus.yml, the exporter script, and every dashboard query against
 * a real Prometheus.
 *
 * Files are found under GW_SOURCE_DIR; the built binaries are GW_GAPWATCHD
 * and GW_GAPWATCH (compile definitions of gw_harness).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include <cmocka.h>

/* Bookmarks, links and the compose home dashboard use this uid: changing it
 * breaks them, so it is pinned here. */
#define DASHBOARD_UID "gapwatch-overview"
/* Where the unit, the image and README install the daemon. */
#define INSTALLED_GAPWATCHD "/usr/local/bin/gapwatchd"
/* The image built from ../Dockerfile and deployed by compose and k8s. */
#define GAPWATCHD_IMAGE "gapwatch/gapwatchd"
/* The shipped configs read the Redis password from this variable;
 * --check-config only needs it to be set. */
#define PASSWORD_ENV "GAPWATCH_REDIS_PASSWORD"
/* gapwatchd's SIGTERM drain takes up to about this long (README). */
#define DRAIN_S 30

/* ---- problems: collected, then reported all at once ---------------------- */

typedef struct {
    char text[16384];
    size_t len;
    int count;
} problems_t;

static void problem(problems_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(problems_t *p, const char *fmt, ...)
{
    p->count++;
    size_t room = sizeof(p->text) - p->len;
    if (room < 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->text + p->len, room - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    p->len += (size_t)n < room - 1 ? (size_t)n : room - 2;
    p->text[p->len++] = '\n';
    p->text[p->len] = '\0';
}

/* Prints the list itself: cmocka cuts messages at 1 KiB. */
static void problems_assert_none(const problems_t *p, const char *what)
{
    if (!p->count)
        return;
    fprintf(stderr, "%s: %d problem%s:\n%s", what, p->count, p->count == 1 ? "" : "s", p->text);
    fail_msg("%s: %d problem%s, listed above", what, p->count, p->count == 1 ? "" : "s");
}

/* ---- files and commands ---------------------------------------------------- */

static void join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= size)
        fail_msg("path too long: %s/%s", a, b);
}

static void source_path(char *buf, size_t size, const char *rel)
{
    join(buf, size, GW_SOURCE_DIR, rel);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static bool starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* The whole file (malloc'ed, caller frees), or NULL if it cannot be read. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* A file of the source tree; fails the test if it is missing. */
static char *read_source(const char *rel)
{
    char path[1024];
    source_path(path, sizeof(path), rel);
    char *text = read_text(path);
    if (!text)
        fail_msg("%s: cannot read %s: %s", rel, path, strerror(errno));
    return text;
}

static bool source_exists(const char *rel, bool want_dir)
{
    char path[1024];
    source_path(path, sizeof(path), rel);
    struct stat st;
    return stat(path, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        fail_msg("cannot write %s: %s", path, strerror(errno));
}

/* Every occurrence of `from` in `s` replaced (malloc'ed, caller frees). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t n = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
        n++;
    char *out = malloc(strlen(s) + n * tl + 1);
    assert_non_null(out);
    char *o = out;
    for (const char *p = s;;) {
        const char *hit = strstr(p, from);
        if (!hit) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, to, tl);
        o += tl;
        p = hit + fl;
    }
    return out;
}

/* Runs `cmd` through the shell, stderr merged into stdout; returns the exit
 * status (127: not found, -1: could not run) with the output in `out`. */
static int run_capture(const char *cmd, char *out, size_t out_size)
{
    char full[4096];
    if (snprintf(full, sizeof(full), "%s 2>&1", cmd) >= (int)sizeof(full))
        fail_msg("command too long: %s", cmd);
    FILE *f = popen(full, "r");
    out[0] = '\0';
    if (!f)
        return -1;
    size_t n = 0, r;
    while (n + 1 < out_size && (r = fread(out + n, 1, out_size - 1 - n, f)) > 0)
        n += r;
    out[n] = '\0';
    char sink[512];
    while (fread(sink, 1, sizeof(sink), f) > 0)
        ;
    int status = pclose(f);
    if (status == -1)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static bool have_command(const char *name)
{
    char cmd[256], out[512];
    snprintf(cmd, sizeof(cmd), "command -v '%s'", name);
    return run_capture(cmd, out, sizeof(out)) == 0;
}

/* A private temp dir for files handed to tools; removed by temp_dir_remove. */
static void temp_dir_make(char *dir, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, size, "%s/gw-test-deploy-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        fail_msg("mkdtemp %s: %s", dir, strerror(errno));
}

static void temp_dir_remove(const char *dir, const char *const *names)
{
    char path[1024];
    for (int i = 0; names[i]; i++) {
        join(path, sizeof(path), dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* The YAML files under `rel_dir` (recursively), sorted. */
#define FILES_MAX 64

typedef struct {
    char rel[FILES_MAX][256];
    int n;
} file_list_t;

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void list_yaml(file_list_t *l, const char *rel_dir)
{
    char dir[1024];
    source_path(dir, sizeof(dir), rel_dir);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot list %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char rel[256];
        join(rel, sizeof(rel), rel_dir, e->d_name);
        if (source_exists(rel, true)) {
            list_yaml(l, rel);
        } else if (ends_with(rel, ".yaml") || ends_with(rel, ".yml")) {
            if (l->n == FILES_MAX)
                fail_msg("more than %d YAML files under deploy/", FILES_MAX);
            strcpy(l->rel[l->n++], rel);
        }
    }
    closedir(d);
    qsort(l->rel, (size_t)l->n, sizeof(l->rel[0]), compare_names);
}

/* ---- YAML: loaded as documents (a file may hold several) ----------------- */

#define YAML_DOCS_MAX 16

typedef struct {
    char rel[256];
    int ndocs;
    yaml_document_t docs[YAML_DOCS_MAX];
} yaml_file_t;

/* Loads every document of `rel`. A file that does not parse adds a problem
 * naming the line and returns false (the documents before it stay loaded).
 * Free with yaml_file_free either way. */
static bool yaml_file_load(yaml_file_t *y, const char *rel, problems_t *p)
{
    memset(y, 0, sizeof(*y));
    snprintf(y->rel, sizeof(y->rel), "%s", rel);
    char path[1024];
    source_path(path, sizeof(path), rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        problem(p, "%s: cannot open: %s", rel, strerror(errno));
        return false;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        fail_msg("libyaml: out of memory");
    yaml_parser_set_input_file(&parser, f);
    bool ok = true;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) { /* libyaml freed `doc` */
            problem(p, "%s:%zu:%zu: not valid YAML: %s%s%s (document %d)", rel,
                    parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                    parser.problem ? parser.problem : "parse error", parser.context ? ", " : "",
                    parser.context ? parser.context : "", y->ndocs + 1);
            ok = false;
            break;
        }
        if (!yaml_document_get_root_node(&doc)) { /* end of the stream */
            yaml_document_delete(&doc);
            break;
        }
        if (y->ndocs == YAML_DOCS_MAX) {
            yaml_document_delete(&doc);
            problem(p, "%s: more than %d documents", rel, YAML_DOCS_MAX);
            ok = false;
            break;
        }
        y->docs[y->ndocs++] = doc;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return ok;
}

static void yaml_file_free(yaml_file_t *y)
{
    for (int i = 0; i < y->ndocs; i++)
        yaml_document_delete(&y->docs[i]);
    y->ndocs = 0;
}

/* Loads a file the test cannot go on without. */
static void yaml_file_must_load(yaml_file_t *y, const char *rel)
{
    problems_t p = {.len = 0};
    if (!yaml_file_load(y, rel, &p)) {
        yaml_file_free(y);
        problems_assert_none(&p, rel);
    }
}

static yaml_node_t *yroot(yaml_file_t *y, int doc)
{
    return yaml_document_get_root_node(&y->docs[doc]);
}

static size_t yline(const yaml_node_t *n)
{
    return n ? n->start_mark.line + 1 : 0;
}

/* The scalar's text, or NULL if `n` is not a scalar. */
static const char *ystr(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool yis(const yaml_node_t *n, const char *value)
{
    const char *s = ystr(n);
    return s && !strcmp(s, value);
}

/* The value of `key` in mapping `map`, or NULL. */
static yaml_node_t *yget(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++)
        if (yis(yaml_document_get_node(d, pr->key), key))
            return yaml_document_get_node(d, pr->value);
    return NULL;
}

static int ylen(const yaml_node_t *seq)
{
    if (!seq || seq->type != YAML_SEQUENCE_NODE)
        return 0;
    return (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static yaml_node_t *yitem(yaml_document_t *d, yaml_node_t *seq, int i)
{
    if (i < 0 || i >= ylen(seq))
        return NULL;
    return yaml_document_get_node(d, seq->data.sequence.items.start[i]);
}

/* Follows a dotted path of mapping keys ("spec.template.spec"). */
static yaml_node_t *ypath(yaml_document_t *d, yaml_node_t *n, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && n; k = strtok_r(NULL, ".", &save))
        n = yget(d, n, k);
    return n;
}

/* The first document whose `kind` is `kind` (Kubernetes), or -1. */
static int yfind_kind(yaml_file_t *y, const char *kind)
{
    for (int i = 0; i < y->ndocs; i++)
        if (yis(yget(&y->docs[i], yroot(y, i), "kind"), kind))
            return i;
    return -1;
}

/* libyaml keeps duplicate keys and the later one silently wins in most
 * readers (compose and kubectl reject them): report each. */
static void yaml_check_duplicate_keys(yaml_file_t *y, yaml_document_t *d, yaml_node_t *n, int depth,
                                      problems_t *p)
{
    if (!n || depth > 64)
        return;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (int i = 0; i < ylen(n); i++)
            yaml_check_duplicate_keys(y, d, yitem(d, n, i), depth + 1, p);
    } else if (n->type == YAML_MAPPING_NODE) {
        yaml_node_pair_t *start = n->data.mapping.pairs.start;
        for (yaml_node_pair_t *a = start; a < n->data.mapping.pairs.top; a++) {
            yaml_node_t *ka = yaml_document_get_node(d, a->key);
            const char *name = ystr(ka);
            for (yaml_node_pair_t *b = start; name && strcmp(name, "<<") && b < a; b++)
                if (yis(yaml_document_get_node(d, b->key), name))
                    problem(p,
                            "%s:%zu: key \"%s\" appears twice in one mapping (first on line %zu)",
                            y->rel, yline(ka), name, yline(yaml_document_get_node(d, b->key)));
            yaml_check_duplicate_keys(y, d, yaml_document_get_node(d, a->value), depth + 1, p);
        }
    }
}

/* ---- image references ------------------------------------------------------ */

/* CMake's project version: the gapwatchd image must carry it. */
static void project_version(char *buf, size_t size)
{
    char *cmake = read_source("CMakeLists.txt");
    const char *v = strstr(cmake, "project(gapwatch VERSION ");
    if (!v)
        fail_msg("CMakeLists.txt: no \"project(gapwatch VERSION x.y.z\"");
    v += strlen("project(gapwatch VERSION ");
    size_t n = strspn(v, "0123456789.");
    if (n == 0 || n >= size)
        fail_msg("CMakeLists.txt: cannot read the project version");
    memcpy(buf, v, n);
    buf[n] = '\0';
    free(cmake);
}

/* NULL if `ref` is pinned to an explicit version, else why it is not. A
 * version is a tag with a dotted number (7.0.15, v1.45.0, 12.8-slim) or a
 * digest; "latest", no tag, and floating tags (7, bookworm) are not. */
static const char *image_unpinned_why(const char *ref)
{
    if (strchr(ref, '$'))
        return "comes from a variable, so the file does not fix its version";
    const char *at = strchr(ref, '@');
    if (at)
        return starts_with(at + 1, "sha256:") ? NULL : "has a malformed digest";
    const char *slash = strrchr(ref, '/');
    const char *colon = strrchr(slash ? slash : ref, ':');
    if (!colon)
        return "has no tag, which means latest";
    const char *tag = colon + 1;
    if (!*tag)
        return "has an empty tag";
    if (!strcmp(tag, "latest"))
        return "is tagged latest";
    for (const char *c = tag; *c; c++)
        if (isdigit((unsigned char)c[0]) && c[1] == '.' && isdigit((unsigned char)c[2]))
            return NULL;
    return "has a floating tag (no dotted version number, e.g. 7.0.15 or v1.45.0)";
}

static void check_image(const char *where, size_t line, const char *ref, const char *version,
                        problems_t *p)
{
    const char *why = image_unpinned_why(ref);
    if (why) {
        problem(p, "%s:%zu: image \"%s\" %s", where, line, ref, why);
        return;
    }
    if (starts_with(ref, GAPWATCHD_IMAGE ":") &&
        strcmp(ref + strlen(GAPWATCHD_IMAGE ":"), version) != 0)
        problem(p, "%s:%zu: image \"%s\" is not the version being built (%s, CMakeLists.txt)",
                where, line, ref, version);
}

/* Every scalar `image:` value anywhere in the document. */
static int check_yaml_images(yaml_file_t *y, yaml_document_t *d, yaml_node_t *n, int depth,
                             const char *version, problems_t *p)
{
    int found = 0;
    if (!n || depth > 64)
        return 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (int i = 0; i < ylen(n); i++)
            found += check_yaml_images(y, d, yitem(d, n, i), depth + 1, version, p);
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
             pr++) {
            yaml_node_t *v = yaml_document_get_node(d, pr->value);
            if (yis(yaml_document_get_node(d, pr->key), "image") && ystr(v)) {
                check_image(y->rel, yline(v), ystr(v), version, p);
                found++;
            } else {
                found += check_yaml_images(y, d, v, depth + 1, version, p);
            }
        }
    }
    return found;
}

/* ---- Dockerfile ------------------------------------------------------------ */

#define DOCKER_MAX 128

typedef struct {
    char instr[16]; /* upper case: FROM, RUN, ... */
    char *args;     /* continuation lines joined */
    int line;
    int stage; /* index of the FROM it belongs to */
} docker_instr_t;

typedef struct {
    docker_instr_t v[DOCKER_MAX];
    int n;
    int nstages;
} dockerfile_t;

static void dockerfile_parse(dockerfile_t *df, const char *text)
{
    memset(df, 0, sizeof(*df));
    df->nstages = 0;
    int lineno = 0;
    char *cur = NULL;
    size_t curlen = 0;
    int curline = 0;
    for (const char *s = text; *s;) {
        const char *eol = strchr(s, '\n');
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        lineno++;
        const char *t = s;
        while (t < s + len && isspace((unsigned char)*t))
            t++;
        bool skip = t == s + len || *t == '#';
        if (!skip) {
            size_t tl = (size_t)(s + len - t);
            while (tl && isspace((unsigned char)t[tl - 1]))
                tl--;
            bool more = tl && t[tl - 1] == '\\';
            if (more)
                tl--;
            if (!cur)
                curline = lineno;
            cur = realloc(cur, curlen + tl + 2);
            assert_non_null(cur);
            memcpy(cur + curlen, t, tl);
            curlen += tl;
            cur[curlen++] = ' ';
            cur[curlen] = '\0';
            if (!more) {
                if (df->n == DOCKER_MAX)
                    fail_msg("Dockerfile: more than %d instructions", DOCKER_MAX);
                docker_instr_t *in = &df->v[df->n++];
                size_t k = 0;
                char *a = cur;
                while (*a && !isspace((unsigned char)*a) && k + 1 < sizeof(in->instr))
                    in->instr[k++] = (char)toupper((unsigned char)*a++);
                in->instr[k] = '\0';
                while (isspace((unsigned char)*a))
                    a++;
                in->args = strdup(a);
                assert_non_null(in->args);
                in->line = curline;
                if (!strcmp(in->instr, "FROM"))
                    df->nstages++;
                in->stage = df->nstages - 1;
                free(cur);
                cur = NULL;
                curlen = 0;
            }
        }
        s = eol ? eol + 1 : s + len;
    }
    free(cur);
}

static void dockerfile_free(dockerfile_t *df)
{
    for (int i = 0; i < df->n; i++)
        free(df->v[i].args);
    df->n = 0;
}

/* True if `word` occurs in `text` delimited by blanks, quotes, ';', '&', '|' or ends. */
static bool has_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
        bool left = p == text || strchr(" \t\"';&|(", p[-1]);
        bool right = p[wl] == '\0' || strchr(" \t\"';&|)", p[wl]);
        if (left && right)
            return true;
    }
    return false;
}

/* The text of every RUN of the last (runtime) stage, concatenated. */
static char *dockerfile_runtime_runs(const dockerfile_t *df)
{
    size_t n = 1;
    for (int i = 0; i < df->n; i++)
        if (df->v[i].stage == df->nstages - 1 && !strcmp(df->v[i].instr, "RUN"))
            n += strlen(df->v[i].args) + 1;
    char *out = calloc(1, n);
    assert_non_null(out);
    for (int i = 0; i < df->n; i++)
        if (df->v[i].stage == df->nstages - 1 && !strcmp(df->v[i].instr, "RUN")) {
            strcat(out, df->v[i].args);
            strcat(out, " ");
        }
    return out;
}

/* The last two components of a path ("daemon/gapwatchd"). */
static const char *last_two(const char *path)
{
    const char *p = path + strlen(path);
    int slashes = 0;
    while (p > path && slashes < 2)
        if (*--p == '/')
            slashes++;
    return slashes == 2 ? p + 1 : path;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_deploy_every_yaml_file_parses_without_duplicate_keys(void **state)
{
    (void)state;
    file_list_t files = {.n = 0};
    list_yaml(&files, "deploy");
    /* The files the stack needs: a rename must not silently skip them. */
    static const char *const expected[] = {
        "deploy/compose.yaml",
        "deploy/gapwatchd.compose.yaml",
        "deploy/grafana/provisioning/dashboards/gapwatch.yaml",
        "deploy/grafana/provisioning/datasources/prometheus.yaml",
        "deploy/k8s/configmap.yaml",
        "deploy/k8s/deployment.yaml",
        "deploy/k8s/pdb.yaml",
        "deploy/k8s/prometheusrule.yaml",
        "deploy/k8s/service.yaml",
        "deploy/k8s/servicemonitor.yaml",
        "deploy/prometheus/prometheus.yml",
        NULL};
    problems_t p = {.len = 0};
    for (int e = 0; expected[e]; e++) {
        bool found = false;
        for (int i = 0; i < files.n; i++)
            found = found || !strcmp(files.rel[i], expected[e]);
        if (!found)
            problem(&p, "%s: missing", expected[e]);
    }
    int docs = 0;
    for (int i = 0; i < files.n; i++) {
        yaml_file_t y;
        if (yaml_file_load(&y, files.rel[i], &p) && y.ndocs == 0)
            problem(&p, "%s: no YAML document", files.rel[i]);
        for (int d = 0; d < y.ndocs; d++)
            yaml_check_duplicate_keys(&y, &y.docs[d], yroot(&y, d), 0, &p);
        docs += y.ndocs;
        yaml_file_free(&y);
    }
    problems_assert_none(&p, "YAML under deploy/");
    fprintf(stderr, "  %d YAML files, %d documents\n", files.n, docs);
}

static void test_deploy_gapwatchd_configs_pass_check_config(void **state)
{
    (void)state;
    setenv(PASSWORD_ENV, "not-a-secret", 1);
    problems_t p = {.len = 0};
    char path[1024], cmd[2048], out[8192];

    source_path(path, sizeof(path), "deploy/gapwatchd.compose.yaml");
    snprintf(cmd, sizeof(cmd), "'%s' --check-config '%s'", GW_GAPWATCHD, path);
    if (run_capture(cmd, out, sizeof(out)) != 0)
        problem(&p, "deploy/gapwatchd.compose.yaml: gapwatchd --check-config rejects it:\n%s", out);

    /* The ConfigMap embeds the config as data."gapwatchd.yaml". */
    yaml_file_t y;
    yaml_file_must_load(&y, "deploy/k8s/configmap.yaml");
    int doc = yfind_kind(&y, "ConfigMap");
    const char *embedded =
        doc < 0 ? NULL
                : ystr(yget(&y.docs[doc], ypath(&y.docs[doc], yroot(&y, doc), "data"),
                            "gapwatchd.yaml"));
    if (!embedded) {
        problem(&p, "deploy/k8s/configmap.yaml: no ConfigMap with data.\"gapwatchd.yaml\"");
    } else {
        char dir[512];
        temp_dir_make(dir, sizeof(dir));
        join(path, sizeof(path), dir, "gapwatchd.yaml");
        write_text(path, embedded);
        snprintf(cmd, sizeof(cmd), "'%s' --check-config '%s'", GW_GAPWATCHD, path);
        if (run_capture(cmd, out, sizeof(out)) != 0)
            problem(&p,
                    "deploy/k8s/configmap.yaml: data.\"gapwatchd.yaml\" fails gapwatchd "
                    "--check-config (lines count from the embedded text):\n%s",
                    out);
        static const char *const names[] = {"gapwatchd.yaml", NULL};
        temp_dir_remove(dir, names);
    }
    yaml_file_free(&y);
    problems_assert_none(&p, "gapwatchd configs under deploy/");
}

static void test_deploy_every_image_is_pinned_to_a_version(void **state)
{
    (void)state;
    char version[32];
    project_version(version, sizeof(version));
    problems_t p = {.len = 0};

    /* compose and k8s: every `image:` value */
    file_list_t files = {.n = 0};
    list_yaml(&files, "deploy");
    int images = 0;
    for (int i = 0; i < files.n; i++) {
        yaml_file_t y;
        yaml_file_load(&y, files.rel[i], &p);
        for (int d = 0; d < y.ndocs; d++)
            images += check_yaml_images(&y, &y.docs[d], yroot(&y, d), 0, version, &p);
        yaml_file_free(&y);
    }
    if (images == 0)
        problem(&p, "deploy/: no image: at all (expected compose.yaml and k8s/deployment.yaml)");

    /* Dockerfile: every FROM that is not an earlier stage's alias */
    char *text = read_source("Dockerfile");
    dockerfile_t df;
    dockerfile_parse(&df, text);
    char aliases[8][64];
    int naliases = 0;
    for (int i = 0; i < df.n; i++) {
        docker_instr_t *in = &df.v[i];
        if (!strcmp(in->instr, "LABEL") && strstr(in->args, "org.opencontainers.image.version=")) {
            const char *v = strstr(in->args, "org.opencontainers.image.version=") +
                            strlen("org.opencontainers.image.version=");
            char want[64];
            snprintf(want, sizeof(want), "\"%s\"", version);
            if (!starts_with(v, want))
                problem(&p, "Dockerfile:%d: label org.opencontainers.image.version is not %s",
                        in->line, want);
        }
        if (strcmp(in->instr, "FROM") != 0)
            continue;
        char image[256] = "", as[16] = "", alias[64] = "";
        const char *a = in->args;
        while (starts_with(a, "--")) { /* --platform=... */
            a += strcspn(a, " ");
            a += strspn(a, " ");
        }
        sscanf(a, "%255s %15s %63s", image, as, alias);
        bool is_stage = !strcmp(image, "scratch");
        for (int k = 0; k < naliases; k++)
            is_stage = is_stage || !strcasecmp(image, aliases[k]);
        if (!is_stage)
            check_image("Dockerfile", (size_t)in->line, image, version, &p);
        if (!strcasecmp(as, "AS") && alias[0] && naliases < 8)
            snprintf(aliases[naliases++], sizeof(aliases[0]), "%s", alias);
    }
    if (df.nstages == 0)
        problem(&p, "Dockerfile: no FROM");
    dockerfile_free(&df);
    free(text);
    problems_assert_none(&p, "image pins");
    fprintf(stderr, "  %d image: references in deploy/, %d FROM in Dockerfile\n", images,
            df.nstages);
}

static void test_deploy_dockerfile_builds_like_readme_and_runs_unprivileged(void **state)
{
    (void)state;
    char *text = read_source("Dockerfile");
    char *readme = read_source("README.md");
    dockerfile_t df;
    dockerfile_parse(&df, text);
    problems_t p = {.len = 0};
    int deps = 0, build = 0, ctest = 0, user = 0, health = 0;
    bool copies_daemon = false, copies_cli = false;
    char daemon_src[256], cli_src[256];
    /* tools/build.sh builds into build/ unless BUILD_DIR says otherwise. */
    snprintf(daemon_src, sizeof(daemon_src), "build/%s", last_two(GW_GAPWATCHD));
    snprintf(cli_src, sizeof(cli_src), "build/%s", last_two(GW_GAPWATCH));
    int runtime = df.nstages - 1;
    for (int i = 0; i < df.n; i++) {
        docker_instr_t *in = &df.v[i];
        if (!strcmp(in->instr, "RUN")) {
            if (has_word(in->args, "tools/deps.sh") && !deps)
                deps = in->line;
            if (has_word(in->args, "tools/build.sh") && !build)
                build = in->line;
            if (has_word(in->args, "ctest") && strstr(in->args, "-L unit") && !ctest)
                ctest = in->line;
        }
        if (in->stage != runtime)
            continue;
        if (!strcmp(in->instr, "USER")) {
            user = in->line;
            char who[64] = "";
            sscanf(in->args, "%63[^: \t]", who);
            if (!strcmp(who, "root") || !strcmp(who, "0"))
                problem(&p, "Dockerfile:%d: USER %s: the runtime stage must not run as root",
                        in->line, who);
        }
        if (!strcmp(in->instr, "HEALTHCHECK")) {
            health = in->line;
            if (!strstr(in->args, "/healthz"))
                problem(&p, "Dockerfile:%d: HEALTHCHECK does not ask gapwatchd's /healthz: %s",
                        in->line, in->args);
        }
        if (!strcmp(in->instr, "COPY") && strstr(in->args, "--from=")) {
            copies_daemon = copies_daemon || strstr(in->args, daemon_src);
            copies_cli = copies_cli || strstr(in->args, cli_src);
        }
    }
    if (!deps)
        problem(&p, "Dockerfile: no RUN tools/deps.sh (README installs the packages with it)");
    if (!build)
        problem(&p, "Dockerfile: no RUN tools/build.sh (README builds with it)");
    if (!ctest)
        problem(&p, "Dockerfile: no RUN of ctest -L unit (the unit tests before shipping)");
    if (deps && build && ctest && !(deps < build && build < ctest))
        problem(&p,
                "Dockerfile: expected deps.sh (line %d), then build.sh (line %d), then ctest "
                "(line %d)",
                deps, build, ctest);
    if (df.nstages < 2)
        problem(&p, "Dockerfile: one stage: the runtime image would carry the compilers");
    if (!user)
        problem(&p, "Dockerfile: the runtime stage has no USER: gapwatchd would run as root");
    if (!health)
        problem(&p, "Dockerfile: the runtime stage has no HEALTHCHECK on /healthz");
    if (!copies_daemon)
        problem(&p, "Dockerfile: the runtime stage does not COPY --from the build stage's %s",
                daemon_src);
    if (!copies_cli)
        problem(&p, "Dockerfile: the runtime stage does not COPY --from the build stage's %s",
                cli_src);
    static const char *const commands[] = {"tools/deps.sh", "tools/build.sh", "ctest", NULL};
    for (int i = 0; commands[i]; i++)
        if (!strstr(readme, commands[i]))
            problem(&p, "README.md: does not mention %s, which the Dockerfile runs", commands[i]);
    dockerfile_free(&df);
    free(text);
    free(readme);
    problems_assert_none(&p, "Dockerfile");
}

/* The Debian package that ships the `soname` that `ldd_out` (ldd's output
 * for the binary) resolved, or "" if none. The match is on the library's
 * directory too ("x86_64-linux-gnu/libm.so.6"): other architectures' copies
 * (libc6-i386) may be installed beside it. */
static void package_of(const char *ldd_out, const char *soname, char *pkg, size_t size)
{
    char needle[160], dir[128] = "", cmd[512], out[4096];
    pkg[0] = '\0';
    snprintf(needle, sizeof(needle), "%s => ", soname);
    const char *at = strstr(ldd_out, needle);
    if (!at)
        return;
    at += strlen(needle);
    size_t n = strcspn(at, " \n");
    const char *base = at + n;
    while (base > at && base[-1] != '/')
        base--;
    const char *parent = base > at ? base - 1 : at;
    while (parent > at && parent[-1] != '/')
        parent--;
    if (base - parent > 1 && (size_t)(base - parent) < sizeof(dir))
        snprintf(dir, sizeof(dir), "%.*s", (int)(base - parent), parent);
    snprintf(cmd, sizeof(cmd), "dpkg-query -S '*/%s%s'", dir, soname);
    if (run_capture(cmd, out, sizeof(out)) != 0)
        return;
    n = strcspn(out, ":, \n");
    if (n < size)
        snprintf(pkg, size, "%.*s", (int)n, out);
}

/* Shared libraries every Debian image has (the slim one included): the C
 * library and the compiler's runtime, dependencies of essential packages. */
static bool in_every_debian_image(const char *pkg)
{
    return !strcmp(pkg, "libc6") || !strcmp(pkg, "libgcc-s1");
}

/* The Debian major release of the runtime stage's image ("debian:13.8-slim":
 * 13), 0 if it is not a Debian image with a numbered tag. */
static int dockerfile_runtime_debian(const dockerfile_t *df)
{
    for (int i = df->n - 1; i >= 0; i--)
        if (!strcmp(df->v[i].instr, "FROM")) {
            int major = 0;
            return sscanf(df->v[i].args, "debian:%d.", &major) == 1 ? major : 0;
        }
    return 0;
}

/* The Debian major release of this machine (/etc/debian_version "12.8"),
 * 0 if unknown. */
static int host_debian(void)
{
    FILE *f = fopen("/etc/debian_version", "r");
    int major = 0;
    if (f) {
        if (fscanf(f, "%d.", &major) != 1)
            major = 0;
        fclose(f);
    }
    return major;
}

static void test_deploy_runtime_image_installs_every_library_the_binaries_need(void **state)
{
    (void)state;
    if (!have_command("readelf") || !have_command("ldd") || !have_command("dpkg-query")) {
        fprintf(stderr, "  note: readelf, ldd or dpkg-query not found; library check skipped\n");
        return;
    }
    char *text = read_source("Dockerfile");
    dockerfile_t df;
    dockerfile_parse(&df, text);
    /* Package names come from this machine's dpkg: they are the image's only
     * on the image's release (Debian 13 renamed libssl3 to libssl3t64, and
     * hiredis is another soname). The other release's suite checks it
     * (tools/trixie.sh runs this test in a Debian 13 root). */
    int image = dockerfile_runtime_debian(&df), here = host_debian();
    if (image == 0)
        fail_msg("Dockerfile: the runtime stage is not FROM debian:<release>.<point>");
    if (here != image) {
        fprintf(stderr,
                "  note: the runtime image is Debian %d, this machine Debian %d: its package "
                "names are checked by the Debian %d suite (tools/trixie.sh)\n",
                image, here, image);
        dockerfile_free(&df);
        free(text);
        return;
    }
    char *runs = dockerfile_runtime_runs(&df);
    problems_t p = {.len = 0};
    static const char *const binaries[] = {GW_GAPWATCHD, GW_GAPWATCH, NULL};
    int checked = 0;
    for (int b = 0; binaries[b]; b++) {
        char cmd[1024], needed[16384], resolved[16384];
        /* readelf: the direct dependencies (the rest come with their
         * packages); ldd: where each was found. */
        snprintf(cmd, sizeof(cmd), "readelf -d '%s'", binaries[b]);
        if (run_capture(cmd, needed, sizeof(needed)) != 0)
            fail_msg("readelf -d %s failed:\n%s", binaries[b], needed);
        snprintf(cmd, sizeof(cmd), "ldd '%s'", binaries[b]);
        if (run_capture(cmd, resolved, sizeof(resolved)) != 0)
            fail_msg("ldd %s failed:\n%s", binaries[b], resolved);
        for (const char *l = strstr(needed, "(NEEDED)"); l; l = strstr(l + 1, "(NEEDED)")) {
            char soname[128] = "";
            const char *open = strchr(l, '[');
            if (!open || sscanf(open + 1, "%127[^]]", soname) != 1)
                continue;
            /* ASan/UBSan builds link their runtimes; the image is not one. */
            if (starts_with(soname, "libasan") || starts_with(soname, "libubsan") ||
                starts_with(soname, "liblsan") || starts_with(soname, "libtsan"))
                continue;
            if (strspn(soname,
                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") !=
                strlen(soname))
                continue; /* not a name to pass to the shell */
            char pkg[128];
            package_of(resolved, soname, pkg, sizeof(pkg));
            if (!pkg[0]) {
                problem(&p, "%s needs %s, which no installed Debian package provides",
                        last_two(binaries[b]), soname);
                continue;
            }
            if (in_every_debian_image(pkg))
                continue;
            checked++;
            if (!has_word(runs, pkg))
                problem(&p,
                        "Dockerfile: the runtime stage does not install %s, which provides %s "
                        "needed by %s",
                        pkg, soname, last_two(binaries[b]));
        }
    }
    free(runs);
    dockerfile_free(&df);
    free(text);
    problems_assert_none(&p, "runtime libraries");
    fprintf(stderr, "  %d shared-library dependencies installed by the runtime stage\n", checked);
}

/* True if one line of `text` is exactly `line`. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, line, n) && (l[n] == '\n' || l[n] == '\0'))
            return true;
    return false;
}

/* ${VAR} references in a compose file without a default (${VAR:-x}) must be
 * set in .env.example; $$ is compose's escape for a literal $. */
static void check_compose_variables(const char *text, const char *env_example, problems_t *p)
{
    int line = 1;
    bool comment = false;
    bool line_start = true;
    for (const char *s = text; *s; s++) {
        if (*s == '\n') {
            line++;
            comment = false;
            line_start = true;
            continue;
        }
        if (line_start && !isspace((unsigned char)*s)) {
            comment = *s == '#';
            line_start = false;
        }
        if (comment || *s != '$')
            continue;
        if (s[1] == '$') {
            s++;
            continue;
        }
        const char *name = s[1] == '{' ? s + 2 : s + 1;
        size_t n = 0;
        while (isalnum((unsigned char)name[n]) || name[n] == '_')
            n++;
        if (n == 0)
            continue;
        const char *after = name + n;
        bool has_default = starts_with(after, ":-") || (s[1] == '{' && *after == '-');
        if (has_default)
            continue;
        char var[128];
        snprintf(var, sizeof(var), "%.*s=", (int)n, name);
        bool defined = starts_with(env_example, var);
        char nl_var[130];
        snprintf(nl_var, sizeof(nl_var), "\n%s", var);
        defined = defined || strstr(env_example, nl_var);
        if (!defined)
            problem(p,
                    "deploy/compose.yaml:%d: ${%.*s} has no default and is not in "
                    "deploy/.env.example",
                    line, (int)n, name);
    }
}

static void test_deploy_compose_mounts_builds_and_variables_resolve(void **state)
{
    (void)state;
    yaml_file_t y;
    yaml_file_must_load(&y, "deploy/compose.yaml");
    yaml_document_t *d = &y.docs[0];
    problems_t p = {.len = 0};
    yaml_node_t *services = yget(d, yroot(&y, 0), "services");
    if (!services || services->type != YAML_MAPPING_NODE)
        problem(&p, "deploy/compose.yaml: no services mapping");
    for (yaml_node_pair_t *pr = services ? services->data.mapping.pairs.start : NULL;
         pr && pr < services->data.mapping.pairs.top; pr++) {
        const char *name = ystr(yaml_document_get_node(d, pr->key));
        yaml_node_t *svc = yaml_document_get_node(d, pr->value);
        if (!yget(d, svc, "image"))
            problem(&p, "deploy/compose.yaml:%zu: service %s has no image:", yline(svc), name);
        /* Relative paths are relative to the compose file's directory. */
        yaml_node_t *vols = yget(d, svc, "volumes");
        for (int i = 0; i < ylen(vols); i++) {
            yaml_node_t *v = yitem(d, vols, i);
            char src[256] = "";
            if (ystr(v))
                sscanf(ystr(v), "%255[^:]", src);
            else if (yis(yget(d, v, "type"), "bind") && ystr(yget(d, v, "source")))
                snprintf(src, sizeof(src), "%s", ystr(yget(d, v, "source")));
            if (src[0] != '.')
                continue; /* a named volume */
            char rel[300];
            join(rel, sizeof(rel), "deploy", src);
            if (!source_exists(rel, false) && !source_exists(rel, true))
                problem(&p, "deploy/compose.yaml:%zu: service %s mounts %s, which does not exist",
                        yline(v), name, src);
        }
        yaml_node_t *build = yget(d, svc, "build");
        if (build) {
            const char *ctx = ystr(build) ? ystr(build) : ystr(yget(d, build, "context"));
            const char *file = ystr(yget(d, build, "dockerfile"));
            char rel[300], df[400];
            join(rel, sizeof(rel), "deploy", ctx ? ctx : ".");
            join(df, sizeof(df), rel, file ? file : "Dockerfile");
            if (!source_exists(df, false))
                problem(&p,
                        "deploy/compose.yaml:%zu: service %s builds from %s, which does not "
                        "exist",
                        yline(build), name, df);
        }
    }
    yaml_file_free(&y);

    char *text = read_source("deploy/compose.yaml");
    char *env = read_source("deploy/.env.example");
    check_compose_variables(text, env, &p);
    free(text);
    free(env);
    /* deploy/.env holds the secrets: never in git, never in the image. */
    char *gitignore = read_source("deploy/.gitignore");
    char *dockerignore = read_source(".dockerignore");
    if (!has_line(gitignore, ".env"))
        problem(&p, "deploy/.gitignore: does not ignore .env (the stack's secrets)");
    if (!strstr(dockerignore, "deploy/.env"))
        problem(&p, ".dockerignore: does not keep deploy/.env out of the build context");
    free(gitignore);
    free(dockerignore);
    problems_assert_none(&p, "deploy/compose.yaml");
}

/* Dashboard variables in an expression must be the five test_observability
 * substitutes. */
static void check_expr_variables(const char *expr, const char *where, problems_t *p)
{
    static const char *const allowed[] = {"tenant", "team", "rep", "window", "period", NULL};
    for (const char *s = strchr(expr, '$'); s; s = strchr(s + 1, '$')) {
        const char *name = s[1] == '{' ? s + 2 : s + 1;
        size_t n = 0;
        while (isalnum((unsigned char)name[n]) || name[n] == '_')
            n++;
        if (n == 0)
            continue;
        bool ok = false;
        for (int i = 0; allowed[i]; i++)
            ok = ok || (strlen(allowed[i]) == n && !strncmp(name, allowed[i], n));
        if (!ok)
            problem(p,
                    "deploy/grafana/dashboards/gapwatch.json: %s: uses $%.*s; only $tenant, "
                    "$team, $rep, $window, $period are defined (and tested)",
                    where, (int)n, name);
    }
}

typedef struct {
    const char *uid; /* of the provisioned data source */
    problems_t *p;
    int ids[256];
    int nids;
    int queries;
    int wrong_uids; /* references to another uid: reported once, at the end */
    char wrong_first[300];
    char wrong_uid[128];
} dashboard_check_t;

/* A datasource reference (variable, panel or query) must be {type, uid}
 * with the provisioned uid: a name or a ${DS_...} input breaks when the
 * file is provisioned rather than imported by hand. */
static void check_datasource(dashboard_check_t *w, json_t *ds, const char *where)
{
    const char *got = json_string_value(json_object_get(ds, "uid"));
    if (!json_is_object(ds)) {
        problem(w->p, "deploy/grafana/dashboards/gapwatch.json: %s: datasource is not {type, uid}",
                where);
    } else if (!got || strcmp(got, w->uid) != 0) {
        if (w->wrong_uids++ == 0) {
            snprintf(w->wrong_first, sizeof(w->wrong_first), "%s", where);
            snprintf(w->wrong_uid, sizeof(w->wrong_uid), "%s", got ? got : "(none)");
        }
    }
}

static void check_panels(dashboard_check_t *w, json_t *panels)
{
    size_t i;
    json_t *panel;
    json_array_foreach(panels, i, panel)
    {
        const char *title = json_string_value(json_object_get(panel, "title"));
        const char *type = json_string_value(json_object_get(panel, "type"));
        char where[256];
        snprintf(where, sizeof(where), "panel \"%s\"", title ? title : "(untitled)");
        json_t *id = json_object_get(panel, "id");
        if (!json_is_integer(id)) {
            problem(w->p, "deploy/grafana/dashboards/gapwatch.json: %s: no integer id", where);
        } else {
            for (int k = 0; k < w->nids; k++)
                if (w->ids[k] == (int)json_integer_value(id))
                    problem(w->p, "deploy/grafana/dashboards/gapwatch.json: %s: id %d used twice",
                            where, w->ids[k]);
            if (w->nids < 256)
                w->ids[w->nids++] = (int)json_integer_value(id);
        }
        check_panels(w, json_object_get(panel, "panels")); /* collapsed rows nest panels */
        if (type && (!strcmp(type, "row") || !strcmp(type, "text")))
            continue;
        if (!title || !*title)
            problem(w->p, "deploy/grafana/dashboards/gapwatch.json: panel id %d has no title",
                    (int)json_integer_value(id));
        json_t *panel_ds = json_object_get(panel, "datasource");
        if (panel_ds)
            check_datasource(w, panel_ds, where);
        json_t *targets = json_object_get(panel, "targets");
        if (json_array_size(targets) == 0)
            problem(w->p, "deploy/grafana/dashboards/gapwatch.json: %s: no query", where);
        size_t k;
        json_t *t;
        json_array_foreach(targets, k, t)
        {
            const char *ref = json_string_value(json_object_get(t, "refId"));
            const char *expr = json_string_value(json_object_get(t, "expr"));
            char twhere[300];
            snprintf(twhere, sizeof(twhere), "%s query %s", where, ref ? ref : "(no refId)");
            if (!ref || !*ref)
                problem(w->p, "deploy/grafana/dashboards/gapwatch.json: %s: no refId", twhere);
            for (size_t j = 0; ref && j < k; j++) {
                const char *other =
                    json_string_value(json_object_get(json_array_get(targets, j), "refId"));
                if (other && !strcmp(other, ref))
                    problem(w->p, "deploy/grafana/dashboards/gapwatch.json: %s: refId used twice",
                            twhere);
            }
            json_t *ds = json_object_get(t, "datasource");
            if (ds || !panel_ds)
                check_datasource(w, ds, twhere);
            if (!expr || !*expr)
                problem(w->p, "deploy/grafana/dashboards/gapwatch.json: %s: empty expr", twhere);
            else
                check_expr_variables(expr, twhere, w->p);
            w->queries++;
        }
    }
}

static void test_deploy_dashboard_is_provisioned_with_stable_uids(void **state)
{
    (void)state;
    problems_t p = {.len = 0};

    /* the data source the dashboard must refer to, by uid */
    yaml_file_t y;
    yaml_file_must_load(&y, "deploy/grafana/provisioning/datasources/prometheus.yaml");
    yaml_document_t *d = &y.docs[0];
    yaml_node_t *sources = yget(d, yroot(&y, 0), "datasources");
    char uid[128] = "";
    for (int i = 0; i < ylen(sources); i++)
        if (yis(yget(d, yitem(d, sources, i), "type"), "prometheus") &&
            ystr(yget(d, yitem(d, sources, i), "uid")))
            snprintf(uid, sizeof(uid), "%s", ystr(yget(d, yitem(d, sources, i), "uid")));
    yaml_file_free(&y);
    if (!uid[0])
        problem(&p, "deploy/grafana/provisioning/datasources/prometheus.yaml: no Prometheus "
                    "data source with a fixed uid");

    /* the provider's folder is where compose mounts the dashboards */
    yaml_file_must_load(&y, "deploy/grafana/provisioning/dashboards/gapwatch.yaml");
    d = &y.docs[0];
    const char *folder =
        ystr(ypath(d, yitem(d, yget(d, yroot(&y, 0), "providers"), 0), "options.path"));
    char provider_path[256] = "";
    if (folder)
        snprintf(provider_path, sizeof(provider_path), "%s", folder);
    else
        problem(&p, "deploy/grafana/provisioning/dashboards/gapwatch.yaml: no "
                    "providers[0].options.path");
    yaml_file_free(&y);
    yaml_file_must_load(&y, "deploy/compose.yaml");
    d = &y.docs[0];
    yaml_node_t *grafana = ypath(d, yroot(&y, 0), "services.grafana");
    bool mounted = false;
    yaml_node_t *vols = yget(d, grafana, "volumes");
    for (int i = 0; i < ylen(vols); i++) {
        char src[256] = "", dst[256] = "";
        if (ystr(yitem(d, vols, i)))
            sscanf(ystr(yitem(d, vols, i)), "%255[^:]:%255[^:]", src, dst);
        if (!strcmp(dst, provider_path) && !strcmp(src, "./grafana/dashboards"))
            mounted = true;
    }
    if (provider_path[0] && !mounted)
        problem(&p,
                "deploy/compose.yaml: grafana does not mount ./grafana/dashboards at %s, "
                "the provisioned dashboard folder",
                provider_path);
    const char *home =
        ystr(ypath(d, grafana, "environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"));
    char want_home[300];
    snprintf(want_home, sizeof(want_home), "%s/gapwatch.json", provider_path);
    if (home && strcmp(home, want_home) != 0)
        problem(&p, "deploy/compose.yaml: GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH is %s, not %s",
                home, want_home);
    yaml_file_free(&y);

    /* the dashboard */
    char path[1024];
    source_path(path, sizeof(path), "deploy/grafana/dashboards/gapwatch.json");
    json_error_t jerr;
    json_t *dash = json_load_file(path, 0, &jerr);
    if (!dash) {
        problem(&p, "deploy/grafana/dashboards/gapwatch.json:%d:%d: not valid JSON: %s", jerr.line,
                jerr.column, jerr.text);
        problems_assert_none(&p, "Grafana");
    }
    const char *duid = json_string_value(json_object_get(dash, "uid"));
    if (!duid || strcmp(duid, DASHBOARD_UID) != 0)
        problem(&p, "deploy/grafana/dashboards/gapwatch.json: uid is \"%s\", expected \"%s\"",
                duid ? duid : "(none)", DASHBOARD_UID);
    json_t *id = json_object_get(dash, "id");
    if (id && !json_is_null(id))
        problem(&p, "deploy/grafana/dashboards/gapwatch.json: id must be null in a provisioned "
                    "dashboard (Grafana assigns it)");
    const char *title = json_string_value(json_object_get(dash, "title"));
    if (!title || !*title)
        problem(&p, "deploy/grafana/dashboards/gapwatch.json: no title");

    dashboard_check_t w = {.uid = uid, .p = &p};
    static const char *const vars[] = {"tenant", "team", "rep", "window", NULL};
    json_t *list = json_object_get(json_object_get(dash, "templating"), "list");
    for (int v = 0; vars[v]; v++) {
        json_t *found = NULL, *var;
        size_t i;
        json_array_foreach(list, i, var)
        {
            const char *name = json_string_value(json_object_get(var, "name"));
            if (name && !strcmp(name, vars[v]))
                found = var;
        }
        char where[64];
        snprintf(where, sizeof(where), "variable %s", vars[v]);
        if (!found) {
            problem(&p, "deploy/grafana/dashboards/gapwatch.json: no template variable %s",
                    vars[v]);
            continue;
        }
        check_datasource(&w, json_object_get(found, "datasource"), where);
        json_t *q = json_object_get(found, "query");
        const char *qs = json_is_string(q) ? json_string_value(q)
                                           : json_string_value(json_object_get(q, "query"));
        if (!qs || !strstr(qs, "gapwatch_rep"))
            problem(&p,
                    "deploy/grafana/dashboards/gapwatch.json: %s: its query does not read "
                    "gapwatch_rep labels",
                    where);
    }

    check_panels(&w, json_object_get(dash, "panels"));
    if (w.wrong_uids)
        problem(&p,
                "deploy/grafana/dashboards/gapwatch.json: %d datasource references use uid "
                "\"%s\" (the first: %s), not the provisioned \"%s\"",
                w.wrong_uids, w.wrong_uid, w.wrong_first, uid);
    if (w.queries == 0)
        problem(&p, "deploy/grafana/dashboards/gapwatch.json: no panel has a query");
    json_decref(dash);
    problems_assert_none(&p, "Grafana");
    fprintf(stderr, "  dashboard %s: %d panels and rows, %d queries, datasource uid %s\n",
            DASHBOARD_UID, w.nids, w.queries, uid);
}

/* True if every matchLabels pair of `selector` is among `labels`. */
static bool selector_matches(yaml_document_t *sd, yaml_node_t *selector, yaml_document_t *ld,
                             yaml_node_t *labels)
{
    if (!selector || selector->type != YAML_MAPPING_NODE ||
        selector->data.mapping.pairs.top == selector->data.mapping.pairs.start)
        return false;
    for (yaml_node_pair_t *pr = selector->data.mapping.pairs.start;
         pr < selector->data.mapping.pairs.top; pr++) {
        const char *k = ystr(yaml_document_get_node(sd, pr->key));
        const char *v = ystr(yaml_document_get_node(sd, pr->value));
        if (!k || !v || !yis(yget(ld, labels, k), v))
            return false;
    }
    return true;
}

/* A probe's httpGet must ask `path` on a port the container declares. */
static void check_probe(yaml_document_t *d, yaml_node_t *c, const char *probe, const char *path,
                        problems_t *p)
{
    yaml_node_t *get = ypath(d, c, probe);
    get = yget(d, get, "httpGet");
    if (!get) {
        problem(p, "deploy/k8s/deployment.yaml:%zu: container has no %s.httpGet", yline(c), probe);
        return;
    }
    if (!yis(yget(d, get, "path"), path))
        problem(p, "deploy/k8s/deployment.yaml:%zu: %s asks %s, expected %s", yline(get), probe,
                ystr(yget(d, get, "path")) ? ystr(yget(d, get, "path")) : "(no path)", path);
    const char *port = ystr(yget(d, get, "port"));
    bool declared = false;
    yaml_node_t *ports = yget(d, c, "ports");
    for (int i = 0; port && i < ylen(ports); i++)
        declared = declared || yis(yget(d, yitem(d, ports, i), "name"), port) ||
                   yis(yget(d, yitem(d, ports, i), "containerPort"), port);
    if (!declared)
        problem(p, "deploy/k8s/deployment.yaml:%zu: %s port %s is not a port of the container",
                yline(get), probe, port ? port : "(none)");
}

static void test_deploy_k8s_deployment_has_probes_resources_grace_and_pdb(void **state)
{
    (void)state;
    problems_t p = {.len = 0};
    file_list_t files = {.n = 0};
    list_yaml(&files, "deploy/k8s");
    yaml_file_t *all = calloc((size_t)files.n + 1, sizeof(*all));
    assert_non_null(all);
    for (int i = 0; i < files.n; i++)
        yaml_file_load(&all[i], files.rel[i], &p);

    yaml_file_t *dep = NULL;
    int ddoc = -1;
    for (int i = 0; i < files.n && ddoc < 0; i++)
        if (!strcmp(files.rel[i], "deploy/k8s/deployment.yaml")) {
            dep = &all[i];
            ddoc = yfind_kind(dep, "Deployment");
        }
    if (ddoc < 0) {
        problem(&p, "deploy/k8s/deployment.yaml: no Deployment");
    } else {
        yaml_document_t *d = &dep->docs[ddoc];
        yaml_node_t *tmpl = ypath(d, yroot(dep, ddoc), "spec.template");
        yaml_node_t *pod = yget(d, tmpl, "spec");
        yaml_node_t *labels = ypath(d, tmpl, "metadata.labels");
        if (!selector_matches(d, ypath(d, yroot(dep, ddoc), "spec.selector.matchLabels"), d,
                              labels))
            problem(&p, "deploy/k8s/deployment.yaml: spec.selector does not match the pod labels");
        yaml_node_t *containers = yget(d, pod, "containers");
        yaml_node_t *c = NULL;
        for (int i = 0; i < ylen(containers); i++)
            if (ystr(yget(d, yitem(d, containers, i), "image")) &&
                starts_with(ystr(yget(d, yitem(d, containers, i), "image")), GAPWATCHD_IMAGE ":"))
                c = yitem(d, containers, i);
        if (!c) {
            problem(&p, "deploy/k8s/deployment.yaml: no container runs %s", GAPWATCHD_IMAGE);
        } else {
            check_probe(d, c, "livenessProbe", "/healthz", &p);
            check_probe(d, c, "readinessProbe", "/readyz", &p);
            static const char *const resources[] = {"resources.requests.cpu",
                                                    "resources.requests.memory",
                                                    "resources.limits.memory", NULL};
            for (int i = 0; resources[i]; i++)
                if (!ystr(ypath(d, c, resources[i])))
                    problem(&p, "deploy/k8s/deployment.yaml:%zu: container has no %s", yline(c),
                            resources[i]);
        }
        yaml_node_t *grace = yget(d, pod, "terminationGracePeriodSeconds");
        if (!ystr(grace))
            problem(&p, "deploy/k8s/deployment.yaml: no terminationGracePeriodSeconds (the "
                        "default 30 s is not longer than gapwatchd's drain)");
        else if (atoi(ystr(grace)) <= DRAIN_S)
            problem(&p,
                    "deploy/k8s/deployment.yaml:%zu: terminationGracePeriodSeconds %s is not "
                    "longer than gapwatchd's ~%d s drain",
                    yline(grace), ystr(grace), DRAIN_S);

        /* the PodDisruptionBudget, and the ConfigMap the pod mounts */
        bool pdb = false, configmap = false;
        yaml_node_t *volumes = yget(d, pod, "volumes");
        for (int f = 0; f < files.n; f++)
            for (int k = 0; k < all[f].ndocs; k++) {
                yaml_document_t *od = &all[f].docs[k];
                yaml_node_t *root = yroot(&all[f], k);
                if (yis(yget(od, root, "kind"), "PodDisruptionBudget")) {
                    if (!selector_matches(od, ypath(od, root, "spec.selector.matchLabels"), d,
                                          labels))
                        problem(&p,
                                "%s: the PodDisruptionBudget's selector does not match the "
                                "gapwatchd pods",
                                all[f].rel);
                    else if (!yget(od, yget(od, root, "spec"), "maxUnavailable") &&
                             !yget(od, yget(od, root, "spec"), "minAvailable"))
                        problem(&p,
                                "%s: the PodDisruptionBudget sets neither maxUnavailable nor "
                                "minAvailable",
                                all[f].rel);
                    else
                        pdb = true;
                }
                if (yis(yget(od, root, "kind"), "ConfigMap"))
                    for (int v = 0; v < ylen(volumes); v++)
                        if (yis(ypath(d, yitem(d, volumes, v), "configMap.name"),
                                ystr(ypath(od, root, "metadata.name"))))
                            configmap = true;
            }
        if (!pdb)
            problem(&p, "deploy/k8s: no PodDisruptionBudget for the gapwatchd pods");
        if (!configmap)
            problem(&p, "deploy/k8s/deployment.yaml: the pod mounts no ConfigMap defined in "
                        "deploy/k8s");
    }
    for (int i = 0; i < files.n; i++)
        yaml_file_free(&all[i]);
    free(all);
    problems_assert_none(&p, "deploy/k8s");
}

/* The Prometheus Operator's objects: the ServiceMonitor selects the
 * gapwatchd Service and scrapes a port the Service names; the
 * PrometheusRule's alerts are the rules file's (their PromQL is checked by
 * promtool in tests/deploy/check_rules.sh), and select the job the
 * ServiceMonitor produces (the Service's name). */
static void test_deploy_k8s_servicemonitor_scrapes_the_service_and_rules_match(void **state)
{
    (void)state;
    problems_t p = {.len = 0};
    yaml_file_t svc, sm, pr, rules;
    yaml_file_must_load(&svc, "deploy/k8s/service.yaml");
    yaml_file_must_load(&sm, "deploy/k8s/servicemonitor.yaml");
    yaml_file_must_load(&pr, "deploy/k8s/prometheusrule.yaml");
    yaml_file_must_load(&rules, "deploy/prometheus/rules/gapwatch.rules.yml");
    int sdoc = yfind_kind(&svc, "Service"), mdoc = yfind_kind(&sm, "ServiceMonitor"),
        rdoc = yfind_kind(&pr, "PrometheusRule");
    if (sdoc < 0 || mdoc < 0 || rdoc < 0) {
        problem(&p, "deploy/k8s: Service, ServiceMonitor or PrometheusRule missing (%d %d %d)",
                sdoc, mdoc, rdoc);
    } else {
        yaml_document_t *sd = &svc.docs[sdoc], *md = &sm.docs[mdoc], *rd = &pr.docs[rdoc];
        yaml_node_t *sroot = yroot(&svc, sdoc), *mroot = yroot(&sm, mdoc);
        if (!yis(yget(md, mroot, "apiVersion"), "monitoring.coreos.com/v1"))
            problem(&p,
                    "deploy/k8s/servicemonitor.yaml: apiVersion is not monitoring.coreos.com/v1");
        if (!selector_matches(md, ypath(md, mroot, "spec.selector.matchLabels"), sd,
                              ypath(sd, sroot, "metadata.labels")))
            problem(&p, "deploy/k8s/servicemonitor.yaml: spec.selector does not select the "
                        "gapwatchd Service's labels");
        yaml_node_t *eps = ypath(md, mroot, "spec.endpoints");
        if (ylen(eps) < 1)
            problem(&p, "deploy/k8s/servicemonitor.yaml: no endpoints");
        yaml_node_t *ports = ypath(sd, sroot, "spec.ports");
        for (int e = 0; e < ylen(eps); e++) {
            yaml_node_t *ep = yitem(md, eps, e);
            bool named = false;
            for (int i = 0; i < ylen(ports); i++)
                named =
                    named || yis(yget(sd, yitem(sd, ports, i), "name"), ystr(yget(md, ep, "port")));
            if (!named)
                problem(&p,
                        "deploy/k8s/servicemonitor.yaml:%zu: port %s is not a port name of "
                        "the Service",
                        yline(ep), ystr(yget(md, ep, "port")) ? ystr(yget(md, ep, "port")) : "-");
            if (!yis(yget(md, ep, "path"), "/metrics"))
                problem(&p, "deploy/k8s/servicemonitor.yaml:%zu: path is not /metrics", yline(ep));
        }
        /* same alert names, in the same order, as the rules file */
        yaml_document_t *fd = &rules.docs[0];
        yaml_node_t *kgroups = ypath(rd, yroot(&pr, rdoc), "spec.groups");
        yaml_node_t *fgroups = yget(fd, yroot(&rules, 0), "groups");
        int nk = 0, nf = 0;
        for (int g = 0; g < ylen(kgroups) && g < ylen(fgroups); g++) {
            yaml_node_t *kr = yget(rd, yitem(rd, kgroups, g), "rules");
            yaml_node_t *fr = yget(fd, yitem(fd, fgroups, g), "rules");
            for (int i = 0; i < ylen(kr) || i < ylen(fr); i++) {
                const char *a = i < ylen(kr) ? ystr(yget(rd, yitem(rd, kr, i), "alert")) : NULL;
                const char *b = i < ylen(fr) ? ystr(yget(fd, yitem(fd, fr, i), "alert")) : NULL;
                nk += a != NULL;
                nf += b != NULL;
                if (!a || !b || strcmp(a, b))
                    problem(&p,
                            "deploy/k8s/prometheusrule.yaml: rule %d of group %d is %s, the "
                            "rules file has %s (run tools/k8s-rules.sh)",
                            i, g, a ? a : "missing", b ? b : "missing");
            }
        }
        if (ylen(kgroups) != ylen(fgroups) || nk == 0)
            problem(&p,
                    "deploy/k8s/prometheusrule.yaml: %d groups and %d alerts, the rules file "
                    "%d and %d",
                    ylen(kgroups), nk, ylen(fgroups), nf);
        char job[128];
        snprintf(job, sizeof(job), "job=\"%s\"", ystr(ypath(sd, sroot, "metadata.name")));
        char *text = read_source("deploy/k8s/prometheusrule.yaml");
        if (!strstr(text, job))
            problem(&p,
                    "deploy/k8s/prometheusrule.yaml: no rule selects %s, the job the "
                    "ServiceMonitor produces",
                    job);
        free(text);
    }
    yaml_file_free(&svc);
    yaml_file_free(&sm);
    yaml_file_free(&pr);
    yaml_file_free(&rules);
    problems_assert_none(&p, "deploy/k8s monitoring");
}

/* The last value of `key` in the unit (systemd: the last assignment wins). */
static bool unit_value(const char *unit, const char *key, char *value, size_t size)
{
    bool found = false;
    size_t kl = strlen(key);
    for (const char *l = unit; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, key, kl) && l[kl] == '=') {
            size_t n = strcspn(l + kl + 1, "\n");
            snprintf(value, size, "%.*s", (int)n, l + kl + 1);
            found = true;
        }
    }
    return found;
}

static void test_deploy_systemd_unit_is_sandboxed_and_verifies(void **state)
{
    (void)state;
    char *unit = read_source("deploy/systemd/gapwatchd.service");
    problems_t p = {.len = 0};
    char v[256] = "";
    if (!unit_value(unit, "DynamicUser", v, sizeof(v)) || strcmp(v, "yes") != 0)
        problem(&p, "deploy/systemd/gapwatchd.service: DynamicUser=yes missing");
    if (!unit_value(unit, "ProtectSystem", v, sizeof(v)) || strcmp(v, "strict") != 0)
        problem(&p, "deploy/systemd/gapwatchd.service: ProtectSystem=strict missing");
    /* gapwatchd speaks sd_notify: READY=1, WATCHDOG=1, RELOADING=1 on SIGHUP */
    if (!unit_value(unit, "Type", v, sizeof(v)) || strcmp(v, "notify") != 0)
        problem(&p, "deploy/systemd/gapwatchd.service: Type=notify missing (got %s)", v);
    if (!unit_value(unit, "WatchdogSec", v, sizeof(v)) || atoi(v) <= 0)
        problem(&p, "deploy/systemd/gapwatchd.service: WatchdogSec missing");
    if (!unit_value(unit, "ExecReload", v, sizeof(v)) || !strstr(v, "-HUP $MAINPID"))
        problem(&p, "deploy/systemd/gapwatchd.service: ExecReload does not send SIGHUP");
    if (!unit_value(unit, "ExecStart", v, sizeof(v)) || !starts_with(v, INSTALLED_GAPWATCHD " "))
        problem(&p, "deploy/systemd/gapwatchd.service: ExecStart does not run %s",
                INSTALLED_GAPWATCHD);
    if (p.count)
        free(unit);
    problems_assert_none(&p, "deploy/systemd/gapwatchd.service");

    if (!have_command("systemd-analyze")) {
        fprintf(stderr, "  note: systemd-analyze not found; verify and security skipped\n");
        free(unit);
        return;
    }
    char dir[512], path[1024], cmd[2048], out[16384];
    temp_dir_make(dir, sizeof(dir));
    static const char *const names[] = {"gw-control.service", "gapwatchd.service", NULL};
    /* A trivial unit with the same dependencies first: if even that fails,
     * this environment cannot run systemd-analyze (no systemd unit files, a
     * sandbox), which is not the unit's fault. */
    join(path, sizeof(path), dir, "gw-control.service");
    write_text(path, "[Unit]\nDescription=control\nAfter=network-online.target\n"
                     "Wants=network-online.target\n[Service]\nExecStart=/bin/true\n"
                     "[Install]\nWantedBy=multi-user.target\n");
    snprintf(cmd, sizeof(cmd), "systemd-analyze verify --man=no '%s'", path);
    if (run_capture(cmd, out, sizeof(out)) != 0) {
        fprintf(stderr,
                "  note: systemd-analyze verify fails even on a trivial unit here; verify and "
                "security skipped:\n%s\n",
                out);
        temp_dir_remove(dir, names);
        free(unit);
        return;
    }
    /* The unit as installed, with the daemon at its build path (verify
     * checks that ExecStart's binary exists). */
    char *rewritten = replace_all(unit, INSTALLED_GAPWATCHD, GW_GAPWATCHD);
    join(path, sizeof(path), dir, "gapwatchd.service");
    write_text(path, rewritten);
    free(rewritten);
    snprintf(cmd, sizeof(cmd), "systemd-analyze verify --man=no '%s'", path);
    int rc = run_capture(cmd, out, sizeof(out));
    /* verify exits 0 on unknown keys and bad values: it only warns, naming
     * the file, so any line naming it is a problem too. */
    if (rc != 0 || strstr(out, "gapwatchd.service"))
        problem(&p, "deploy/systemd/gapwatchd.service: systemd-analyze verify (exit %d):\n%s", rc,
                out);
    /* Exposure 2.0 or less ("OK"); --offline needs systemd 250 or newer. */
    snprintf(cmd, sizeof(cmd), "systemd-analyze security --offline=yes --threshold=20 '%s'", path);
    rc = run_capture(cmd, out, sizeof(out));
    const char *level = strstr(out, "Overall exposure level");
    if (!level)
        fprintf(stderr, "  note: systemd-analyze security --offline not usable here; skipped\n");
    else if (rc != 0)
        problem(&p,
                "deploy/systemd/gapwatchd.service: systemd-analyze security rates it above "
                "2.0: %.*s",
                (int)strcspn(level, "\n"), level);
    else
        fprintf(stderr, "  systemd-analyze security: %.*s\n", (int)strcspn(level, "\n"), level);
    temp_dir_remove(dir, names);
    free(unit);
    problems_assert_none(&p, "deploy/systemd/gapwatchd.service");
}

int main(void)
{
    /* cmocka reports on stdout, the notes and problem lists go to stderr:
     * line buffering keeps them in order when both go to one pipe (ctest). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deploy_every_yaml_file_parses_without_duplicate_keys),
        cmocka_unit_test(test_deploy_gapwatchd_configs_pass_check_config),
        cmocka_unit_test(test_deploy_every_image_is_pinned_to_a_version),
        cmocka_unit_test(test_deploy_dockerfile_builds_like_readme_and_runs_unprivileged),
        cmocka_unit_test(test_deploy_runtime_image_installs_every_library_the_binaries_need),
        cmocka_unit_test(test_deploy_compose_mounts_builds_and_variables_resolve),
        cmocka_unit_test(test_deploy_dashboard_is_provisioned_with_stable_uids),
        cmocka_unit_test(test_deploy_k8s_deployment_has_probes_resources_grace_and_pdb),
        cmocka_unit_test(test_deploy_k8s_servicemonitor_scrapes_the_service_and_rules_match),
        cmocka_unit_test(test_deploy_systemd_unit_is_sandboxed_and_verifies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
