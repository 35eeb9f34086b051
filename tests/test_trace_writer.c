/* The tracer and the trace reader: synthetic tasks (a chain and a diamond with deps, on two
 * workers, one failed, one that never ran) are traced, read back field by field, and
 * summarised; the critical path and the parallel efficiency are checked against the values
 * worked out by hand below; two ranks are merged into one file and read back.
 * Usage: test_trace_writer [DIR]  (with DIR, the traces are kept there for the script tests:
 * DIR/small, DIR/big (30,000 tasks), DIR/r0, DIR/r1 and DIR/merged.json) */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dusk.h"
#include "dusk_trace.h"
#include "test.h"
#include "trace.h" /* runtime/src: the tracer's internal interface */

#define MS 1e-3

/* The synthetic run, times in ms from `base`:
 *   worker 0: chain-0 [0,10] -> chain-1 [10,20] -> chain-2 [20,30]
 *   worker 1: a [0,4] -> b [4,12], c [12,18] (both after a) -> d [18,40] (after b and c)
 *             -> fail [41,43] (fails), -> skipped (after fail: never runs)
 * makespan 43 ms; task time 30 + 4 + 8 + 6 + 22 + 2 = 72 ms;
 * critical path a -> b -> d -> fail = 4 + 8 + 22 + 2 = 36 ms; efficiency 72 / (2 x 43). */
typedef struct spec {
    const char *key, *codelet;
    int worker;
    double start, end;
    int status;
    int ndeps;
    int64_t deps[2];
} spec;

static const spec SPECS[] = {
    {"chain-0", "chain_op", 0, 0, 10, 0, 0, {0}},
    {"chain-1", "chain_op", 0, 10, 20, 0, 1, {0}},
    {"chain-2", "chain_op", 0, 20, 30, 0, 1, {1}},
    {"a", "diamond_op", 1, 0, 4, 0, 0, {0}},
    {"b", "diamond_op", 1, 4, 12, 0, 1, {3}},
    {"c", "diamond_op", 1, 12, 18, 0, 1, {3}},
    {"d", "diamond_op", 1, 18, 40, 0, 2, {4, 5}},
    {"fail", "fail_op", 1, 41, 43, DUSK_EDATA, 1, {6}},
    {"skipped", "fail_op", -1, 0, 0, DUSK_EDEP, 1, {7}},
};
#define NSPECS ((int)(sizeof SPECS / sizeof SPECS[0]))

static void sleep_until(double when)
{
    double left;
    while ((left = when - dusk_now()) > 0) {
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9) + 1000};
        nanosleep(&ts, NULL);
    }
}

/* The synthetic run on ranks 0..nranks-1 of one run, each traced to its own dirs[r]: the
 * ranks' traces are open at the same time, as a run's are (the reader refuses ranks that
 * never ran at the same time as traces of different runs). */
static void trace_small_ranks(const char *const *dirs, int nranks)
{
    dusk__trace *t[2];
    CHECK(nranks >= 1 && nranks <= 2);
    for (int r = 0; r < nranks; r++) {
        char why[256] = "";
        int rc = dusk__trace_open(dirs[r], r, nranks, &t[r], why, sizeof why);
        if (rc != 0) TEST_FAIL_("dusk__trace_open(%s): %s", dirs[r], why);
        for (int i = 0; i < NSPECS; i++)
            dusk__trace_submitted(t[r], i, SPECS[i].key, SPECS[i].codelet, SPECS[i].ndeps,
                                  SPECS[i].deps);
    }
    double base = dusk_now();
    /* finish in an order other than submission's, as workers would */
    for (int k = 0; k < NSPECS; k++) {
        int i = (k * 4) % NSPECS; /* 4 and 9 coprime: a permutation */
        const spec *s = &SPECS[i];
        dusk__trace_task task = {
            .id = i,
            .key = s->key,
            .codelet = s->codelet,
            .impl = "CPU",
            .worker = s->worker,
            .start = s->worker >= 0 ? base + s->start * MS : 0,
            .end = s->worker >= 0 ? base + s->end * MS : 0,
            .rows = 10 + i,
            .cols = 20 + i,
            .bytes = 8 * (10 + i) * (20 + i),
            .status = s->status,
            .attempts = 1,
            .reason = s->status ? "bad \"input\" at [1, 2]\tnext" : NULL,
            .ndeps = s->ndeps,
            .deps = s->deps,
        };
        for (int r = 0; r < nranks; r++)
            dusk__trace_finished(t[r], &task);
    }
    sleep_until(base + 45 * MS); /* the run ends after its tasks */
    for (int r = 0; r < nranks; r++) {
        CHECK_OK(dusk__trace_close(&t[r], "test_trace_writer --synthetic \"quoted\" <html>"));
        CHECK(t[r] == NULL);
    }
}

static void trace_small(const char *dir)
{
    trace_small_ranks(&dir, 1);
}

/* gen-i -> gram-i -> eigh-i for n triplets, on 2 workers, 9 us each, 1 us apart */
static void trace_big(const char *dir, int n)
{
    char why[256] = "";
    dusk__trace *t;
    if (dusk__trace_open(dir, 0, 1, &t, why, sizeof why) != 0)
        TEST_FAIL_("dusk__trace_open(%s): %s", dir, why);
    static const char *cl[] = {"dusk_gen", "dusk_gram", "dusk_eigh"};
    double base = dusk_now(), last = base;
    for (int64_t i = 0; i < 3 * (int64_t)n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s-%lld", cl[i % 3] + 5, (long long)(i / 3));
        int64_t dep = i - 1;
        int nd = i % 3 ? 1 : 0;
        dusk__trace_submitted(t, i, key, cl[i % 3], nd, &dep);
        int w = (int)((i / 3) % 2);
        double s = base + (double)((i / 6) * 3 + i % 3) * 10e-6;
        last = s + 9e-6;
        dusk__trace_task task = {.id = i,
                                 .key = key,
                                 .codelet = cl[i % 3],
                                 .impl = "CPU",
                                 .worker = w,
                                 .start = s,
                                 .end = s + 9e-6,
                                 .rows = 100,
                                 .cols = 100,
                                 .bytes = 80000,
                                 .attempts = 1,
                                 .ndeps = nd,
                                 .deps = &dep};
        dusk__trace_finished(t, &task);
    }
    sleep_until(last);
    CHECK_OK(dusk__trace_close(&t, "test_trace_writer --big"));
}

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
    CHECK_LT(snprintf(out, len, "%s/%s", dir, name), (int64_t)len);
}

static dusk_trace_set *load1(const char *path)
{
    char why[512] = "";
    dusk_trace_set *set;
    int rc = dusk_trace_load(&path, 1, &set, why, sizeof why);
    if (rc != 0) TEST_FAIL_("dusk_trace_load(%s): %s (%s)", path, why, dusk_strerror(rc));
    return set;
}

static void check_small(const char *dir, int nworkers)
{
    char json[4096];
    path_in(json, sizeof json, dir, "trace.json");
    dusk_trace_set *set = load1(json);
    CHECK_EQ(dusk_trace_task_count(set), NSPECS);
    int seen[NSPECS] = {0};
    for (int64_t i = 0; i < NSPECS; i++) {
        dusk_trace_task t;
        CHECK_OK(dusk_trace_task_at(set, i, &t));
        CHECK(t.id >= 0 && t.id < NSPECS);
        const spec *s = &SPECS[t.id];
        seen[t.id]++;
        CHECK_EQ(t.rank, 0);
        CHECK_EQ(t.worker, s->worker);
        CHECK(strcmp(t.key, s->key) == 0);
        CHECK(strcmp(t.codelet, s->codelet) == 0);
        CHECK(strcmp(t.impl, "CPU") == 0);
        CHECK_EQ(t.rows, 10 + t.id);
        CHECK_EQ(t.cols, 20 + t.id);
        CHECK_EQ(t.bytes, 8 * (10 + t.id) * (20 + t.id));
        CHECK_EQ(t.status, s->status);
        CHECK_EQ(t.attempts, 1);
        if (s->status)
            CHECK(t.reason != NULL && strcmp(t.reason, "bad \"input\" at [1, 2]\tnext") == 0);
        else
            CHECK(t.reason == NULL);
        CHECK_EQ(t.ndeps, s->ndeps);
        for (int d = 0; d < t.ndeps; d++)
            CHECK_EQ(t.deps[d], s->deps[d]);
        if (s->worker >= 0)
            CHECK_NEAR(t.dur, (s->end - s->start) * MS, 2e-9);
        else
            CHECK_NEAR(t.dur, 0, 0);
    }
    for (int i = 0; i < NSPECS; i++)
        CHECK_EQ(seen[i], 1);
    dusk_trace_task t0, tb;
    CHECK_OK(dusk_trace_task_at(set, 0, &t0)); /* id 0: chain-0, at base */
    for (int64_t i = 0; i < NSPECS; i++) {
        CHECK_OK(dusk_trace_task_at(set, i, &tb));
        if (tb.worker >= 0)
            CHECK_NEAR(tb.start - t0.start, SPECS[tb.id].start * MS - SPECS[0].start * MS, 2e-9);
    }
    CHECK_EQ(dusk_trace_task_at(set, NSPECS, &tb), DUSK_EINVAL);

    dusk_trace_stats st;
    CHECK_OK(dusk_trace_stats_get(set, &st));
    CHECK_EQ(st.nranks, 1);
    CHECK_EQ(st.nworkers, nworkers);
    CHECK_EQ(st.ntasks, NSPECS);
    CHECK_EQ(st.nfailed, 1);  /* "fail" */
    CHECK_EQ(st.nskipped, 1); /* "skipped", which depends on it */
    CHECK_NEAR(st.makespan, 43 * MS, 5e-9);
    CHECK_NEAR(st.task_time, 72 * MS, 1e-8);
    CHECK_NEAR(st.critical_path, 36 * MS, 5e-9);
    CHECK_EQ(st.critical_path_tasks, 4);
    CHECK_NEAR(st.efficiency, 72.0 / (nworkers * 43.0), 1e-6);
    CHECK_NEAR(st.throughput, NSPECS / (43 * MS), 1e-3);

    int64_t *path, n;
    CHECK_OK(dusk_trace_critical_path(set, &path, &n));
    CHECK_EQ(n, 4);
    const char *want[] = {"a", "b", "d", "fail"};
    for (int k = 0; k < 4; k++) {
        CHECK_OK(dusk_trace_task_at(set, path[k], &tb));
        CHECK(strcmp(tb.key, want[k]) == 0);
    }
    free(path);

    /* the summary prints the same */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CHECK(mem != NULL);
    CHECK_OK(dusk_trace_summary(set, mem));
    fclose(mem);
    CHECK_STR_CONTAINS(text, "critical path: 4 tasks, 36.000 ms: a -> b -> d -> fail\n");
    char eff[128];
    snprintf(eff, sizeof eff,
             "parallel efficiency: %.1f%% (task time 72.000 ms / (%d workers x 43.000 ms))",
             100 * 72.0 / (nworkers * 43.0), nworkers);
    CHECK_STR_CONTAINS(text, eff);
    CHECK_STR_CONTAINS(text, "makespan: 43.000 ms");
    CHECK_STR_CONTAINS(text, "9 tasks (1 failed, 1 not run because of them)");
    CHECK_STR_CONTAINS(text, "params (rank 0): test_trace_writer --synthetic \"quoted\" <html>");
    CHECK_STR_CONTAINS(text, "id 7 fail (fail_op): ");
    CHECK_STR_CONTAINS(text, ", never ran");
    /* worker 1: one idle gap of 1 ms (d ends at 40, fail starts at 41) */
    CHECK_STR_CONTAINS(text, "      1        1.000        1.000\n");
    free(text);
    dusk_trace_set_free(&set);
    CHECK(set == NULL);

    /* report.html was written at close */
    char html[4096];
    path_in(html, sizeof html, dir, "report.html");
    struct stat sb;
    CHECK(stat(html, &sb) == 0 && sb.st_size > 1000);
}

static void check_merge(const char *dir)
{
    char r0[4096], r1[4096], merged[4096];
    path_in(r0, sizeof r0, dir, "r0/trace.json");
    path_in(r1, sizeof r1, dir, "r1/trace.json");
    path_in(merged, sizeof merged, dir, "merged.json");
    const char *both[] = {r0, r1};
    char why[512] = "";
    dusk_trace_set *set;
    CHECK_OK(dusk_trace_load(both, 2, &set, why, sizeof why));
    dusk_trace_stats st;
    CHECK_OK(dusk_trace_stats_get(set, &st));
    CHECK_EQ(st.nranks, 2);
    CHECK_EQ(st.ntasks, 2 * NSPECS);
    CHECK_OK(dusk_trace_write_json(set, merged));
    dusk_trace_set_free(&set);

    set = load1(merged);
    CHECK_OK(dusk_trace_stats_get(set, &st));
    CHECK_EQ(st.nranks, 2);
    CHECK_EQ(st.ntasks, 2 * NSPECS);
    int pids[2] = {0, 0};
    for (int64_t i = 0; i < dusk_trace_task_count(set); i++) {
        dusk_trace_task t;
        CHECK_OK(dusk_trace_task_at(set, i, &t));
        CHECK(t.rank == 0 || t.rank == 1);
        pids[t.rank]++;
    }
    CHECK_EQ(pids[0], NSPECS);
    CHECK_EQ(pids[1], NSPECS);
    dusk_trace_set_free(&set);

    /* the same rank twice is refused, naming the file */
    const char *twice[] = {r0, r0};
    set = (dusk_trace_set *)1;
    CHECK_EQ(dusk_trace_load(twice, 2, &set, why, sizeof why), DUSK_EINVAL);
    CHECK(set == NULL);
    CHECK_STR_CONTAINS(why, r0);
    CHECK_STR_CONTAINS(why, "also in an earlier file");
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/dusk-trace-test-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : mkdtemp(tmpl);
    CHECK(dir != NULL);
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    cfg.ncpu = 2;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    int nworkers = dusk_worker_count();
    CHECK_GE(nworkers, 2);

    char sub[2048];
    path_in(sub, sizeof sub, dir, "small");
    trace_small(sub);
    check_small(sub, nworkers);
    char sub1[2048];
    path_in(sub, sizeof sub, dir, "r0");
    path_in(sub1, sizeof sub1, dir, "r1");
    const char *ranks[] = {sub, sub1};
    trace_small_ranks(ranks, 2);
    check_merge(dir);
    path_in(sub, sizeof sub, dir, "big");
    trace_big(sub, 10000);
    char big[4096];
    path_in(big, sizeof big, sub, "trace.json");
    dusk_trace_set *set = load1(big);
    CHECK_EQ(dusk_trace_task_count(set), 30000);
    dusk_trace_stats st;
    CHECK_OK(dusk_trace_stats_get(set, &st));
    CHECK_EQ(st.critical_path_tasks, 3);
    dusk_trace_set_free(&set);

    dusk_shutdown();
    if (argc <= 1) CHECK_EQ(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    printf("ok\n");
    return 0;
}
