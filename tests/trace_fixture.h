/* Hand-written trace.json files for the reader's tests, in the layout dusk's writer uses (see
 * runtime/src/trace/trace.c): so that the reader is tested on the format itself, whatever the
 * writer does. */
#ifndef DUSK_TRACE_FIXTURE_H
#define DUSK_TRACE_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* A growing text. */
typedef struct fx_text {
    char *p;
    size_t len, cap;
} fx_text;

static inline void fx_printf(fx_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    CHECK(n >= 0);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = 2 * (t->len + (size_t)n + 1);
        t->p = realloc(t->p, t->cap);
        CHECK(t->p != NULL);
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* The opening lines of rank `rank`'s trace with `nworkers` workers. */
static inline void fx_head(fx_text *t, int rank, int nworkers)
{
    fx_printf(t, "{\"traceEvents\":[\n");
    fx_printf(t,
              "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\","
              "\"args\":{\"name\":\"rank %d\"}},\n",
              rank, rank);
    for (int w = 0; w < nworkers; w++)
        fx_printf(t,
                  "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\","
                  "\"args\":{\"name\":\"CPU %d\"}},\n",
                  rank, w, w);
}

/* One task event: times in ms; `extra` is more args (may be ""), each followed by ','. */
static inline void fx_task(fx_text *t, int rank, int worker, long long id, const char *key,
                           const char *codelet, double start_ms, double dur_ms, int status,
                           const char *extra)
{
    fx_printf(t,
              "{\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"name\":\"%s\","
              "\"cat\":\"%s\",\"args\":{\"id\":%lld,\"codelet\":\"%s\",\"impl\":\"CPU\","
              "\"rows\":1,\"cols\":1,\"bytes\":8,\"status\":%d,\"attempts\":1,%s\"deps\":[]}},\n",
              rank, worker, start_ms * 1e3, dur_ms * 1e3, key, codelet, id, codelet, status, extra);
}

/* The closing lines: the run record (epoch in s, t1 in ms) and the end. */
static inline void fx_tail(fx_text *t, int rank, int nranks, double epoch, double t1_ms,
                           const char *params)
{
    fx_printf(t,
              "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"dusk_run\",\"args\":{\"rank\":%d,"
              "\"nranks\":%d,\"epoch\":%.6f,\"t1\":%.3f,\"version\":\"0.1.0\",\"params\":\"%s\"}}\n"
              "],\"displayTimeUnit\":\"ms\"}\n",
              rank, rank, nranks, epoch, t1_ms * 1e3, params);
}

/* Write len bytes of text to path. */
static inline void fx_save(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) TEST_FAIL_("cannot write %s", path);
    CHECK_EQ(fwrite(text, 1, len, f), len);
    CHECK_EQ(fclose(f), 0);
}

/* dusk_trace_summary() as a string (the caller frees it). */
static inline char *fx_summary(const dusk_trace_set *set)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CHECK(mem != NULL);
    CHECK_OK(dusk_trace_summary(set, mem));
    CHECK_EQ(fclose(mem), 0);
    return text;
}

/* The whole of a small file, NUL-terminated (the caller frees it). */
static inline char *fx_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) TEST_FAIL_("cannot read %s", path);
    fx_text t = {0};
    char buf[4096];
    size_t n;
    fx_printf(&t, "%s", "");
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fx_printf(&t, "%.*s", (int)n, buf);
    fclose(f);
    return t.p;
}

#endif
