/* Files of two runs do not go together: dusk_trace_load refuses (DUSK_EINVAL, both files
 * named) ranks that disagree on the number of ranks, that ran more than 10 s apart, or whose
 * records name different runs; it reads ranks of one run, whose start-up may differ by a few
 * seconds, and a merged file beside a rank of the same run.
 * Usage: test_trace_runs */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk.h"
#include "dusk_trace.h"
#include "test.h"
#include "trace_fixture.h"

static char dir[] = "/tmp/dusk-test-runs-XXXXXX";
static char p0[256], p1[256], pm[256];

/* rank `rank` of `nranks`, opened at `epoch` for `t1` s; `run` NULL or the run's name */
static void rank_file(const char *path, int rank, int nranks, double epoch, double t1,
                      const char *run)
{
    fx_text t = {0};
    fx_printf(&t, "{\"traceEvents\":[\n");
    fx_printf(&t,
              "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"thread_name\",\"args\":{\"name\":"
              "\"CPU 0\"}},\n",
              rank);
    fx_task(&t, rank, 0, 0, "a", "k", 0, 1, 0, "");
    fx_printf(&t,
              "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"dusk_run\",\"args\":{\"rank\":%d,"
              "\"nranks\":%d,\"epoch\":%.6f,\"t1\":%.3f%s%s%s,\"params\":\"\"}}\n"
              "],\"displayTimeUnit\":\"ms\"}\n",
              rank, rank, nranks, epoch, t1 * 1e6, run ? ",\"run\":\"" : "", run ? run : "",
              run ? "\"" : "");
    fx_save(path, t.p, t.len);
    free(t.p);
}

/* Load p0 and p1: 0, or DUSK_EINVAL with both named and `words` in the reason. */
static void load(int want, const char *words)
{
    const char *paths[] = {p0, p1};
    dusk_trace_set *set = (dusk_trace_set *)1;
    char why[512] = "";
    int rc = dusk_trace_load(paths, 2, &set, why, sizeof why);
    if (rc != want) TEST_FAIL_("want %d, got %d: %s", want, rc, why);
    if (want == 0) {
        CHECK_EQ(dusk_trace_task_count(set), 2);
        dusk_trace_set_free(&set);
        return;
    }
    CHECK(set == NULL);
    char both[600];
    snprintf(both, sizeof both, "%s and %s are traces of different runs: ", p0, p1);
    CHECK_STR_CONTAINS(why, both);
    CHECK_STR_CONTAINS(why, words);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p0, sizeof p0, "%s/r0.json", dir);
    snprintf(p1, sizeof p1, "%s/r1.json", dir);
    snprintf(pm, sizeof pm, "%s/merged.json", dir);

    /* one run: at the same time, or one rank up a few seconds after the other closed */
    rank_file(p0, 0, 2, 1000, 5, NULL);
    rank_file(p1, 1, 2, 1001, 5, NULL);
    load(0, "");
    rank_file(p1, 1, 2, 1009, 1, NULL);
    load(0, "");
    /* two runs: apart in time, or of different sizes */
    rank_file(p1, 1, 2, 1016, 1, NULL);
    load(DUSK_EINVAL, "rank 0 ran from ");
    rank_file(p1, 1, 3, 1001, 5, NULL);
    load(DUSK_EINVAL, "rank 0 of ");
    /* a run's name settles it either way */
    rank_file(p0, 0, 2, 1000, 5, "job-17");
    rank_file(p1, 1, 2, 5000, 5, "job-17");
    load(0, "");
    rank_file(p1, 1, 2, 1001, 5, "job-18");
    load(DUSK_EINVAL, "rank 0 is of run 'job-17', rank 1 of run 'job-18'");

    /* a merged file of ranks 0 and 1 beside rank 2 of the same run */
    rank_file(p0, 0, 3, 1000, 5, NULL);
    rank_file(p1, 1, 3, 1000.5, 5, NULL);
    const char *two[] = {p0, p1};
    dusk_trace_set *set;
    char why[512];
    CHECK_OK(dusk_trace_load(two, 2, &set, why, sizeof why));
    CHECK_OK(dusk_trace_write_json(set, pm));
    dusk_trace_set_free(&set);
    rank_file(p1, 2, 3, 1001, 5, NULL);
    const char *with[] = {pm, p1};
    CHECK_OK(dusk_trace_load(with, 2, &set, why, sizeof why));
    dusk_trace_stats st;
    CHECK_OK(dusk_trace_stats_get(set, &st));
    CHECK_EQ(st.nranks, 3);
    dusk_trace_set_free(&set);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    printf("ok\n");
    return 0;
}
