/* Tasks that process several items (chunked batches): a task event's args may carry
 * "items":{"first":F,"count":C,"step":S} (items F, F+S, ..., S may be left out) and
 * "failed_items":N. The reader fills item_first/item_count/item_step/items_failed (0 when
 * absent; all of a failed task's items when it does not say), the stats count them, the
 * summary and the report say "T tasks (I items)", the report's tooltips have each task's
 * items, and the merged trace keeps them. Bad items are refused naming the line.
 * Hand-written traces: the writer emits this format later (issue 13).
 * Usage: test_trace_items */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk.h"
#include "dusk_trace.h"
#include "test.h"
#include "trace_fixture.h"

typedef struct spec {
    const char *extra; /* the task's items args */
    int status;
    int64_t first, count, step, failed;
} spec;

static const spec SPECS[] = {
    {"\"items\":{\"first\":0,\"count\":4,\"step\":1},", 0, 0, 4, 1, 0},
    {"\"items\":{\"count\":4,\"first\":4},", 0, 4, 4, 1, 0}, /* step left out, keys reordered */
    {"\"items\":{\"first\":1,\"count\":3,\"step\":2,\"note\":[1,{\"x\":2}]},\"failed_items\":1,", 0,
     1, 3, 2, 1}, /* unknown key skipped */
    {"\"items\":{\"first\":20,\"count\":5,\"step\":10},", DUSK_EDATA, 20, 5, 10,
     5}, /* all failed */
    {"\"failed_items\":0,\"items\":{\"first\":9,\"count\":1,\"step\":7},", DUSK_EDATA, 9, 1, 7, 0},
    {"", 0, 0, 0, 0, 0}, /* no items */
};
#define N ((int)(sizeof SPECS / sizeof SPECS[0]))

static char dir[] = "/tmp/dusk-test-items-XXXXXX";

static void write_trace(const char *path, const char *const *extra, int n)
{
    fx_text t = {0};
    fx_head(&t, 0, 2);
    for (int i = 0; i < n; i++) {
        char key[24];
        snprintf(key, sizeof key, "chunk-%d", i);
        fx_task(&t, 0, i % 2, i, key, i < 3 ? "sum" : "eig", i, 0.5, SPECS[i].status, extra[i]);
    }
    fx_tail(&t, 0, 1, 1700000000, 10, "items test");
    fx_save(path, t.p, t.len);
    free(t.p);
}

static void check_tasks(dusk_trace_set *set)
{
    CHECK_EQ(dusk_trace_task_count(set), N);
    for (int i = 0; i < N; i++) {
        dusk_trace_task t;
        CHECK_OK(dusk_trace_task_at(set, i, &t));
        CHECK_EQ(t.item_first, SPECS[i].first);
        CHECK_EQ(t.item_count, SPECS[i].count);
        CHECK_EQ(t.item_step, SPECS[i].step);
        CHECK_EQ(t.items_failed, SPECS[i].failed);
    }
    int64_t items = 0, failed = 0;
    for (int i = 0; i < N; i++)
        items += SPECS[i].count, failed += SPECS[i].failed;
    dusk_trace_stats st;
    CHECK_OK(dusk_trace_stats_get(set, &st));
    CHECK_EQ(st.nitems, items);
    CHECK_EQ(st.nitems_failed, failed);
    CHECK_EQ(st.nitems, 17);
    CHECK_EQ(st.nitems_failed, 6);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    char path[256], merged[256], report[256];
    snprintf(path, sizeof path, "%s/trace.json", dir);
    snprintf(merged, sizeof merged, "%s/merged.json", dir);
    snprintf(report, sizeof report, "%s/report.html", dir);
    const char *paths[] = {path}, *mpaths[] = {merged};
    const char *extra[N];
    for (int i = 0; i < N; i++)
        extra[i] = SPECS[i].extra;
    write_trace(path, extra, N);

    char why[512];
    dusk_trace_set *set;
    CHECK_OK(dusk_trace_load(paths, 1, &set, why, sizeof why));
    check_tasks(set);
    char *sum = fx_summary(set);
    CHECK_STR_CONTAINS(sum, "trace: 1 rank, 2 workers, 6 tasks (2 failed), 17 items (6 "
                            "without a result)\n");
    CHECK_STR_CONTAINS(sum, "  codelet                 count      items  failed");
    CHECK_STR_CONTAINS(sum, "  sum                         3         11       0");
    CHECK_STR_CONTAINS(sum, "id 3 chunk-3 (eig): input data refused, 5 of its 5 items without a "
                            "result\n");
    free(sum);
    CHECK_OK(dusk_trace_write_report(set, report, NULL));
    CHECK_OK(dusk_trace_write_json(set, merged));
    dusk_trace_set_free(&set);

    char *html = fx_slurp(report);
    CHECK_STR_CONTAINS(html, "6 tasks (17 items)");
    CHECK_STR_CONTAINS(html, "tasks (17 items)</div>");
    /* the failed tasks' table */
    CHECK_STR_CONTAINS(html,
                       "<td class=\"l w\">20, 30, … 60<small>5 without a result</small></td>");
    /* the boxes' items, in the chart's order (by worker, then start): 0, 2, 4 then 1, 3, 5 */
    CHECK_STR_CONTAINS(html, ",it:[0,4,1,1,3,2,9,1,7,4,4,1,20,5,10,0,0,0]");
    free(html);

    /* the merged trace keeps them */
    CHECK_OK(dusk_trace_load(mpaths, 1, &set, why, sizeof why));
    check_tasks(set);
    dusk_trace_set_free(&set);

    /* a trace without items: no item figures, the usual summary line */
    const char *none[N];
    for (int i = 0; i < N; i++)
        none[i] = "";
    write_trace(path, none, N);
    CHECK_OK(dusk_trace_load(paths, 1, &set, why, sizeof why));
    dusk_trace_stats st;
    CHECK_OK(dusk_trace_stats_get(set, &st));
    CHECK_EQ(st.nitems, 0);
    sum = fx_summary(set);
    CHECK_STR_CONTAINS(sum, "trace: 1 rank, 2 workers, 6 tasks (2 failed)\n");
    CHECK(strstr(sum, " items)") == NULL && strstr(sum, "items  failed") == NULL);
    free(sum);
    CHECK_OK(dusk_trace_write_report(set, report, NULL));
    html = fx_slurp(report);
    CHECK(strstr(html, "it:[") == NULL && strstr(html, "items)") == NULL);
    free(html);
    dusk_trace_set_free(&set);

    /* bad items: refused, naming the line (5: after the header and three metadata lines) */
    static const char *const bad[] = {
        "\"items\":{\"first\":0},",
        "\"items\":{\"count\":2},",
        "\"items\":{\"first\":0,\"count\":-1},",
        "\"items\":{\"first\":0,\"count\":2,\"step\":0},",
        "\"items\":{\"first\":-1,\"count\":2},",
        "\"items\":{\"first\":0.5,\"count\":2},",
        "\"items\":{\"first\":0,\"count\":\"2\"},",
        "\"items\":[0,2,1],",
        "\"items\":{\"first\":0,\"count\":2},\"failed_items\":3,",
        "\"failed_items\":1,",
        "\"items\":{\"first\":9000000000000000,\"count\":2,\"step\":9000000000000000},",
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        const char *one[N];
        for (int i = 0; i < N; i++)
            one[i] = i == 0 ? bad[b] : "";
        write_trace(path, one, N);
        set = (dusk_trace_set *)1;
        int rc = dusk_trace_load(paths, 1, &set, why, sizeof why);
        if (rc != DUSK_EFORMAT || set != NULL)
            TEST_FAIL_("%s: want DUSK_EFORMAT, got %d (%s)", bad[b], rc, why);
        CHECK_STR_CONTAINS(why, ":5: ");
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    printf("ok\n");
    return 0;
}
