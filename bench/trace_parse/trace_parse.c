/* How long parsing a dusk trace takes with the JSON-lines reader dusk-trace uses
 * (runtime/src/trace/jsonl.c) against two maintained JSON libraries of Debian (cJSON and
 * Jansson): each reads every event line of TRACE.json and takes the fields that
 * dusk_trace_load() takes from a task event (ph, name, pid, tid, ts, dur, and in args: id,
 * codelet, impl, rows, cols, bytes, status, attempts, deps, items, failed_items). Parsing only:
 * what the reader then builds (the set, its index) is the same whichever parser. Prints the
 * best of R runs and a checksum of what was read (the same for the three, or the comparison
 * is void). Times are CPU times (the process's), the best of R runs, file reading included.
 * bench/trace_parse/run.sh builds and runs it.
 *
 * Usage: trace_parse hand|cjson|jansson TRACE.json [R]
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonl.h"

typedef struct sums {
    long events;
    double total; /* of every number taken, and string lengths */
} sums;

/* ---- the hand-written reader, taking fields as trace_read.c does ---- */
typedef struct hctx {
    sums *s;
} hctx;

static int h_num(dusk__json *j, hctx *c)
{
    double d;
    if (dusk__json_number(j, &d)) return -1;
    c->s->total += d;
    return 0;
}
static int h_str(dusk__json *j, hctx *c)
{
    const char *v;
    if (dusk__json_string(j, &v)) return -1;
    c->s->total += (double)strlen(v);
    return 0;
}
static int h_dep(dusk__json *j, void *u)
{
    return h_num(j, u);
}
static int h_items(dusk__json *j, const char *k, void *u)
{
    if (!strcmp(k, "first") || !strcmp(k, "count") || !strcmp(k, "step")) return h_num(j, u);
    return dusk__json_skip(j, 2);
}
static int h_args(dusk__json *j, const char *k, void *u)
{
    static const char *const nums[] = {"id",     "rows",     "cols",        "bytes",
                                       "status", "attempts", "failed_items"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (!strcmp(k, nums[i])) return h_num(j, u);
    if (!strcmp(k, "codelet") || !strcmp(k, "impl")) return h_str(j, u);
    if (!strcmp(k, "deps")) return dusk__json_array(j, h_dep, u);
    if (!strcmp(k, "items")) return dusk__json_object(j, h_items, u);
    return dusk__json_skip(j, 1);
}
static int h_event(dusk__json *j, const char *k, void *u)
{
    if (!strcmp(k, "ph") || !strcmp(k, "name")) return h_str(j, u);
    if (!strcmp(k, "pid") || !strcmp(k, "tid") || !strcmp(k, "ts") || !strcmp(k, "dur"))
        return h_num(j, u);
    if (!strcmp(k, "args")) return dusk__json_object(j, h_args, u);
    return dusk__json_skip(j, 1);
}
static int parse_hand(char *line, sums *s)
{
    dusk__json j;
    hctx c = {s};
    dusk__json_init(&j, line);
    return dusk__json_object(&j, h_event, &c);
}

/* ---- cJSON ---- */
static void c_num(const cJSON *o, const char *k, sums *s)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v)) s->total += v->valuedouble;
}
static void c_str(const cJSON *o, const char *k, sums *s)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v)) s->total += (double)strlen(v->valuestring);
}
static int parse_cjson(char *line, sums *s)
{
    cJSON *e = cJSON_Parse(line);
    if (e == NULL) return -1;
    c_str(e, "ph", s), c_str(e, "name", s);
    c_num(e, "pid", s), c_num(e, "tid", s), c_num(e, "ts", s), c_num(e, "dur", s);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "args");
    if (cJSON_IsObject(a)) {
        c_num(a, "id", s), c_num(a, "rows", s), c_num(a, "cols", s), c_num(a, "bytes", s);
        c_num(a, "status", s), c_num(a, "attempts", s), c_num(a, "failed_items", s);
        c_str(a, "codelet", s), c_str(a, "impl", s);
        const cJSON *d, *deps = cJSON_GetObjectItemCaseSensitive(a, "deps");
        cJSON_ArrayForEach(d, deps) if (cJSON_IsNumber(d)) s->total += d->valuedouble;
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(a, "items");
        if (cJSON_IsObject(it)) c_num(it, "first", s), c_num(it, "count", s), c_num(it, "step", s);
    }
    cJSON_Delete(e);
    return 0;
}

/* ---- Jansson ---- */
static void j_num(const json_t *o, const char *k, sums *s)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_number(v)) s->total += json_number_value(v);
}
static void j_str(const json_t *o, const char *k, sums *s)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_string(v)) s->total += (double)json_string_length(v);
}
static int parse_jansson(char *line, sums *s)
{
    json_error_t err;
    json_t *e = json_loads(line, JSON_DECODE_ANY, &err);
    if (e == NULL) return -1;
    j_str(e, "ph", s), j_str(e, "name", s);
    j_num(e, "pid", s), j_num(e, "tid", s), j_num(e, "ts", s), j_num(e, "dur", s);
    const json_t *a = json_object_get(e, "args");
    if (json_is_object(a)) {
        j_num(a, "id", s), j_num(a, "rows", s), j_num(a, "cols", s), j_num(a, "bytes", s);
        j_num(a, "status", s), j_num(a, "attempts", s), j_num(a, "failed_items", s);
        j_str(a, "codelet", s), j_str(a, "impl", s);
        const json_t *deps = json_object_get(a, "deps");
        size_t i;
        json_t *d;
        json_array_foreach(deps, i, d) if (json_is_number(d)) s->total += json_number_value(d);
        const json_t *it = json_object_get(a, "items");
        if (json_is_object(it)) j_num(it, "first", s), j_num(it, "count", s), j_num(it, "step", s);
    }
    json_decref(e);
    return 0;
}

/* CPU time of this process: on a shared, loaded machine the wall time measures the others */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s hand|cjson|jansson TRACE.json [R]\n", argv[0]);
        return 2;
    }
    int (*parse)(char *, sums *) = !strcmp(argv[1], "hand")      ? parse_hand
                                   : !strcmp(argv[1], "cjson")   ? parse_cjson
                                   : !strcmp(argv[1], "jansson") ? parse_jansson
                                                                 : NULL;
    if (parse == NULL) return 2;
    int runs = argc > 3 ? atoi(argv[3]) : 3;
    double best = 1e30;
    sums s = {0};
    for (int r = 0; r < runs; r++) {
        FILE *f = fopen(argv[2], "r");
        if (f == NULL) return perror(argv[2]), 1;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        memset(&s, 0, sizeof s);
        double t0 = now();
        while ((n = getline(&line, &cap, f)) != -1) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ','))
                line[--n] = '\0';
            if (line[0] != '{' || line[1] != '"' || line[2] != 'p') continue; /* head, tail */
            if (parse(line, &s) != 0) return fprintf(stderr, "parse error\n"), 1;
            s.events++;
        }
        double t = now() - t0;
        free(line);
        fclose(f);
        if (t < best) best = t;
    }
    printf("%-8s %ld events  best of %d: %.3f s CPU  (%.0f ns/event)  checksum %.6e\n", argv[1],
           s.events, runs, best, 1e9 * best / (double)s.events, s.total);
    return 0;
}
