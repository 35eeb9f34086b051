/* Traces always stay readable: a task status that is not a DUSK_E* code this dusk knows (a
 * kernel that returned 1, C's usual failure; -13, a code added after this reader; the int
 * extremes) is read as a failure, counted as one, and shown as "error N" (or the code's text
 * once dusk_strerror() knows it) by the summary and the report, which is written; the merged
 * trace keeps the status. A status that is not an int is still refused.
 * Usage: test_trace_status */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk.h"
#include "dusk_trace.h"
#include "test.h"
#include "trace_fixture.h"

static const int STATUS[] = {0, 1, -13, INT_MAX, INT_MIN, DUSK_EDATA, DUSK_EDEP, 0};
#define N ((int)(sizeof STATUS / sizeof STATUS[0]))

/* What the summary and the report must say for status s. */
static void text_of(int s, char *buf, size_t len)
{
    if (strcmp(dusk_strerror(s), dusk_strerror(INT_MIN)) == 0)
        snprintf(buf, len, "error %d", s);
    else
        snprintf(buf, len, "%s", dusk_strerror(s));
}

int main(void)
{
    char dir[] = "/tmp/dusk-test-status-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], merged[256], report[256];
    snprintf(path, sizeof path, "%s/trace.json", dir);
    snprintf(merged, sizeof merged, "%s/merged.json", dir);
    snprintf(report, sizeof report, "%s/report.html", dir);

    fx_text t = {0};
    fx_head(&t, 0, 2);
    for (int i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "task-%d", i);
        /* the one not run (DUSK_EDEP) never ran: worker -1 */
        fx_task(&t, 0, STATUS[i] == DUSK_EDEP ? -1 : i % 2, i, key, "k", i, 0.5, STATUS[i], "");
    }
    fx_tail(&t, 0, 1, 1700000000, 10, "status test");
    fx_save(path, t.p, t.len);

    const char *paths[] = {path}, *mpaths[] = {merged};
    char why[512];
    dusk_trace_set *set;
    CHECK_OK(dusk_trace_load(paths, 1, &set, why, sizeof why));
    CHECK_EQ(dusk_trace_task_count(set), N);
    int nfailed = 0, nskipped = 0;
    for (int i = 0; i < N; i++) {
        dusk_trace_task task;
        CHECK_OK(dusk_trace_task_at(set, i, &task));
        CHECK_EQ(task.status, STATUS[i]);
        nfailed += STATUS[i] != 0 && STATUS[i] != DUSK_EDEP;
        nskipped += STATUS[i] == DUSK_EDEP;
    }
    dusk_trace_stats st;
    CHECK_OK(dusk_trace_stats_get(set, &st));
    CHECK_EQ(st.nfailed, nfailed);
    CHECK_EQ(st.nskipped, nskipped);

    char *sum = fx_summary(set);
    CHECK_OK(dusk_trace_write_report(set, report, NULL));
    CHECK_OK(dusk_trace_write_json(set, merged));
    dusk_trace_set_free(&set);
    char *html = fx_slurp(report);
    for (int i = 0; i < N; i++) {
        if (STATUS[i] == 0) continue;
        char want[128], line[256];
        text_of(STATUS[i], want, sizeof want);
        snprintf(line, sizeof line, "id %d task-%d (k): %s", i, i, want);
        CHECK_STR_CONTAINS(sum, line);
        snprintf(line, sizeof line, "<td class=\"l w fail\">%s</td>", want);
        CHECK_STR_CONTAINS(html, line);
    }
    CHECK(strstr(sum, "unknown error") == NULL);
    CHECK(strstr(html, "unknown error") == NULL);
    free(sum);
    free(html);

    CHECK_OK(dusk_trace_load(mpaths, 1, &set, why, sizeof why));
    for (int i = 0; i < N; i++) {
        dusk_trace_task task;
        CHECK_OK(dusk_trace_task_at(set, i, &task));
        CHECK_EQ(task.status, STATUS[i]);
    }
    dusk_trace_set_free(&set);

    /* not an int: refused, naming the line */
    const char *bad[] = {"1.5", "2147483648", "\"1\""};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        t.len = 0;
        fx_head(&t, 0, 1);
        fx_printf(&t,
                  "{\"ph\":\"X\",\"pid\":0,\"tid\":0,\"ts\":0,\"dur\":1,\"name\":\"a\",\"args\":{"
                  "\"id\":0,\"codelet\":\"k\",\"status\":%s,\"attempts\":1,\"deps\":[]}},\n",
                  bad[b]);
        fx_tail(&t, 0, 1, 1700000000, 10, "");
        fx_save(path, t.p, t.len);
        CHECK_EQ(dusk_trace_load(paths, 1, &set, why, sizeof why), DUSK_EFORMAT);
        CHECK_STR_CONTAINS(why, ":4: ");
    }
    free(t.p);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    printf("ok\n");
    return 0;
}
