/* A trace cut short, as a rank killed under mpirun leaves it (its writer stopped at a buffer
 * boundary: after any line, or in the middle of one): the reader takes every whole event
 * before the cut, says the file was truncated and after which line, and the summary, the
 * merged trace and the report are made from what was read. The file is cut at every byte of
 * a hand-written trace; the expected counts come from where each line of it ends.
 * What is not a dusk trace at all (empty, another JSON file, a damaged line before the last)
 * is still refused. Ranks of one run with a truncated one are read together; a truncated
 * rank's start is its process_name's epoch when the writer records one there.
 * Usage: test_trace_truncated */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk.h"
#include "dusk_trace.h"
#include "test.h"
#include "trace_fixture.h"

#define NTASKS 5
#define MAXLINES 32

static char dir[] = "/tmp/dusk-test-truncated-XXXXXX";

static void path_of(char *out, size_t len, const char *name)
{
    CHECK_LT(snprintf(out, len, "%s/%s", dir, name), (int64_t)len);
}

/* The trace, and for each line the offset at which its content is whole (a task event is
 * whole at its closing brace, with or without the ',' and newline after it). */
typedef struct layout {
    fx_text t;
    size_t whole[MAXLINES];
    int is_task[MAXLINES];
    int nlines;
    size_t run_end; /* the dusk_run record's closing brace, +1 */
} layout;

static void build(layout *l)
{
    memset(l, 0, sizeof *l);
    fx_head(&l->t, 0, 2);
    for (int i = 0; i < NTASKS; i++) {
        char key[16];
        snprintf(key, sizeof key, "t-%d", i);
        fx_task(&l->t, 0, i % 2, i, key, i < 3 ? "alpha" : "beta", 2.0 * i, 1.5, i == 3 ? -5 : 0,
                i == 4 ? "\"reason\":\"a \\\"quoted\\\" ,}] reason\"," : "");
    }
    fx_tail(&l->t, 0, 1, 1700000000.25, 20, "prog --flag");
    for (const char *line = l->t.p; *line;) {
        const char *nl = strchr(line, '\n');
        CHECK(nl != NULL && l->nlines < MAXLINES);
        size_t end = (size_t)(nl - l->t.p);
        if (nl > line && nl[-1] == ',') end--;
        l->whole[l->nlines] = end;
        l->is_task[l->nlines] = strncmp(line, "{\"ph\":\"X\"", 9) == 0;
        if (strstr(line, "\"dusk_run\"") != NULL && strstr(line, "\"dusk_run\"") < nl)
            l->run_end = end;
        l->nlines++;
        line = nl + 1;
    }
    CHECK_GT(l->run_end, 0);
}

/* What the reader should make of the first `cut` bytes. */
typedef struct expect {
    int refused;
    int kind; /* dusk_trace_truncated's answer */
    int64_t lines, tasks;
} expect;

static expect expected(const layout *l, size_t cut)
{
    expect e = {0};
    for (int k = 0; k < l->nlines; k++)
        if (cut >= l->whole[k]) {
            e.lines++;
            e.tasks += l->is_task[k];
        }
    e.refused = cut < l->whole[1]; /* not a single event */
    e.kind = cut >= l->t.len - 1 ? 0 : cut >= l->run_end ? 2 : 1;
    return e;
}

static void check_every_cut(void)
{
    layout l;
    build(&l);
    char path[512];
    path_of(path, sizeof path, "cut.json");
    const char *paths[] = {path};
    int64_t checked = 0;
    for (size_t cut = 0; cut <= l.t.len; cut++) {
        fx_save(path, l.t.p, cut);
        expect e = expected(&l, cut);
        dusk_trace_set *set = (dusk_trace_set *)1;
        char why[512] = "";
        int rc = dusk_trace_load(paths, 1, &set, why, sizeof why);
        if (e.refused) {
            if (rc != DUSK_EFORMAT || set != NULL)
                TEST_FAIL_("cut at %zu: want DUSK_EFORMAT, got %d (%s)", cut, rc, why);
            CHECK_STR_CONTAINS(why, path);
            if (cut == 0)
                CHECK_STR_CONTAINS(why, "empty file, not a dusk trace");
            else if (cut < l.whole[0])
                CHECK_STR_CONTAINS(why, "not a dusk trace");
            else
                CHECK_STR_CONTAINS(why, "no event to read");
            continue;
        }
        if (rc != 0) TEST_FAIL_("cut at %zu of %zu: %s", cut, l.t.len, why);
        int64_t line = -1, n = -1;
        int kind = dusk_trace_truncated(set, 0, &line, &n);
        if (kind != e.kind || line != e.lines || n != e.tasks)
            TEST_FAIL_("cut at %zu: truncated %d after line %lld with %lld tasks; want %d, %lld, "
                       "%lld",
                       cut, kind, (long long)line, (long long)n, e.kind, (long long)e.lines,
                       (long long)e.tasks);
        CHECK_EQ(dusk_trace_task_count(set), e.tasks);
        for (int64_t i = 0; i < e.tasks; i++) {
            dusk_trace_task t;
            CHECK_OK(dusk_trace_task_at(set, i, &t));
            CHECK_EQ(t.id, i); /* the events before the cut, in order, whole */
            CHECK_NEAR(t.dur, 1.5e-3, 1e-9);
            if (i == 4) CHECK(t.reason && strcmp(t.reason, "a \"quoted\" ,}] reason") == 0);
        }
        dusk_trace_stats st;
        CHECK_OK(dusk_trace_stats_get(set, &st));
        CHECK_EQ(st.ntasks, e.tasks);
        CHECK_EQ(st.nfailed, e.tasks > 3);
        char *text = fx_summary(set);
        int says = strstr(text, "rank 0: trace truncated (the run did not finish)") != NULL;
        if (says != (kind == 1))
            TEST_FAIL_("cut at %zu: summary says truncated %d:\n%s", cut, says, text);
        free(text);
        dusk_trace_set_free(&set);
        checked++;
    }
    CHECK_GT(checked, (int64_t)l.t.len / 2);
    free(l.t.p);
    printf("ok: %zu cuts of a %zu-byte trace, %lld of them read\n", l.t.len + 1, l.t.len,
           (long long)checked);
}

/* Cut in the middle of the fourth task: the merged trace and the report still say so. */
static void check_outputs(void)
{
    layout l;
    build(&l);
    char path[512], merged[512], report[512];
    path_of(path, sizeof path, "mid.json");
    path_of(merged, sizeof merged, "merged.json");
    path_of(report, sizeof report, "report.html");
    size_t cut = l.whole[4 + 3] - 20; /* lines: header, 3 metadata, tasks 0..4: in task 3 */
    fx_save(path, l.t.p, cut);
    const char *paths[] = {path}, *mpaths[] = {merged};
    dusk_trace_set *set;
    char why[512];
    CHECK_OK(dusk_trace_load(paths, 1, &set, why, sizeof why));
    CHECK_EQ(dusk_trace_task_count(set), 3);
    CHECK_OK(dusk_trace_write_json(set, merged));
    CHECK_OK(dusk_trace_write_report(set, report, NULL));
    dusk_trace_set_free(&set);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", merged);
    CHECK(access(tmp, F_OK) != 0); /* renamed into place */

    CHECK_OK(dusk_trace_load(mpaths, 1, &set, why, sizeof why));
    CHECK_EQ(dusk_trace_truncated(set, 0, NULL, NULL), 0); /* the merged file is whole ... */
    char *text = fx_summary(set);
    CHECK_STR_CONTAINS(text,
                       "rank 0: trace truncated (the run did not finish)"); /* ... its rank not */
    CHECK_STR_CONTAINS(text, "trace: 1 rank, 2 workers, 3 tasks (0 failed)");
    free(text);
    dusk_trace_set_free(&set);

    char *html = fx_slurp(report);
    CHECK_STR_CONTAINS(html, "The trace of rank 0 is truncated");
    /* the description is in the run record, at the end, which was cut */
    CHECK_STR_CONTAINS(html, "No description of the run: it is recorded when the run ends");
    free(html);
    free(l.t.p);
    printf("ok: merged trace and report of a truncated trace\n");
}

static void check_refusals(void)
{
    char path[512];
    path_of(path, sizeof path, "bad.json");
    const char *paths[] = {path};
    char why[512];
    dusk_trace_set *set;
    /* a damaged line that is not the last: the file is refused, with its line */
    layout l;
    build(&l);
    char *second = strchr(l.t.p, '\n') + 1;
    second[5] = '#';
    fx_save(path, l.t.p, l.t.len - 40);
    CHECK_EQ(dusk_trace_load(paths, 1, &set, why, sizeof why), DUSK_EFORMAT);
    CHECK(set == NULL);
    CHECK_STR_CONTAINS(why, ":2: ");
    free(l.t.p);
    /* other JSON */
    fx_save(path, "{\"a\": [1, 2]\n", 13);
    CHECK_EQ(dusk_trace_load(paths, 1, &set, why, sizeof why), DUSK_EFORMAT);
    CHECK_STR_CONTAINS(why, "not a dusk trace");
    /* a whole file without its run record is malformed, not truncated */
    fx_text t = {0};
    fx_head(&t, 0, 1);
    fx_task(&t, 0, 0, 0, "a", "alpha", 0, 1, 0, "");
    t.p[t.len - 2] = '\n';
    t.p[t.len - 1] = '\0';
    t.len--;
    fx_printf(&t, "],\"displayTimeUnit\":\"ms\"}\n");
    fx_save(path, t.p, t.len);
    CHECK_EQ(dusk_trace_load(paths, 1, &set, why, sizeof why), DUSK_EFORMAT);
    CHECK_STR_CONTAINS(why, "rank 0 has no dusk_run record");
    free(t.p);
    printf("ok: refusals\n");
}

/* Rank 0 whole, rank 1 cut before its run record: both read; rank 1's start is the epoch its
 * process_name records when there is one, else rank 0's. */
static void check_ranks(void)
{
    char p0[512], p1[512];
    path_of(p0, sizeof p0, "r0.json");
    path_of(p1, sizeof p1, "r1.json");
    const char *paths[] = {p0, p1};
    fx_text t0 = {0}, t1 = {0};
    fx_head(&t0, 0, 1);
    fx_task(&t0, 0, 0, 0, "a", "alpha", 1, 1, 0, "");
    fx_tail(&t0, 0, 2, 1000.0, 2000, "prog"); /* 2 s: while rank 1 ran */
    fx_save(p0, t0.p, t0.len);
    for (int with_epoch = 0; with_epoch < 2; with_epoch++) {
        t1.len = 0;
        fx_printf(&t1, "{\"traceEvents\":[\n");
        fx_printf(&t1,
                  "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{"
                  "\"name\":\"rank 1\"%s}},\n",
                  with_epoch ? ",\"epoch\":1000.5,\"nranks\":2,\"program\":\"prog\"" : "");
        fx_task(&t1, 1, 0, 0, "b", "beta", 2, 1, 0, "");
        fx_task(&t1, 1, 0, 1, "c", "beta", 4, 1, 0, "");
        fx_save(p1, t1.p, t1.len - 30);
        dusk_trace_set *set;
        char why[512];
        CHECK_OK(dusk_trace_load(paths, 2, &set, why, sizeof why));
        CHECK_EQ(dusk_trace_truncated(set, 0, NULL, NULL), 0);
        int64_t line, n;
        CHECK_EQ(dusk_trace_truncated(set, 1, &line, &n), 1);
        CHECK_EQ(line, 3);
        CHECK_EQ(n, 1);
        CHECK_EQ(dusk_trace_truncated(set, 2, &line, &n), DUSK_EINVAL);
        CHECK_EQ(line, 0);
        CHECK_EQ(dusk_trace_truncated(NULL, 0, NULL, NULL), DUSK_EINVAL);
        CHECK_EQ(dusk_trace_task_count(set), 2);
        dusk_trace_task t;
        CHECK_OK(dusk_trace_task_at(set, 1, &t));
        CHECK_EQ(t.rank, 1);
        CHECK_NEAR(t.start, 2e-3 + (with_epoch ? 0.5 : 0), 1e-9);
        dusk_trace_stats st;
        CHECK_OK(dusk_trace_stats_get(set, &st));
        CHECK_EQ(st.nranks, 2);
        dusk_trace_set_free(&set);
    }
    /* a cut rank that started long after rank 0 ended is of another run */
    t1.len = 0;
    fx_printf(&t1,
              "{\"traceEvents\":[\n{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\","
              "\"args\":{\"name\":\"rank 1\",\"epoch\":2000}},\n");
    fx_task(&t1, 1, 0, 0, "b", "beta", 2, 1, 0, "");
    fx_save(p1, t1.p, t1.len);
    dusk_trace_set *set = (dusk_trace_set *)1;
    char why[512];
    CHECK_EQ(dusk_trace_load(paths, 2, &set, why, sizeof why), DUSK_EINVAL);
    CHECK(set == NULL);
    CHECK_STR_CONTAINS(why, "are traces of different runs");
    free(t0.p);
    free(t1.p);
    printf("ok: a truncated rank beside a whole one\n");
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    check_every_cut();
    check_outputs();
    check_refusals();
    check_ranks();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
