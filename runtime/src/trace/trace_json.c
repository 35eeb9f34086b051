/* The merged trace (dusk_trace_write_json): a set written back as one trace.json, one pid
 * per rank, times on the set's common timeline, in the layout the reader reads. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dusk_trace.h"
#include "io.h"
#include "trace_read.h"

/* One line out of b (then emptied): 0, DUSK_ENOMEM or DUSK_EIO (errno set). */
static int write_line(FILE *f, dusk__sb *b)
{
    int rc = b->oom ? DUSK_ENOMEM : fwrite(b->p, 1, b->len, f) == b->len ? 0 : DUSK_EIO;
    b->len = 0;
    if (b->cap) b->p[0] = '\0';
    return rc;
}

static void task_line(dusk__sb *b, const dusk_trace_task *t)
{
    dusk__sb_printf(b, "{\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"name\":",
                    t->rank, t->worker, t->start * 1e6, t->dur * 1e6);
    dusk__sb_json(b, t->key);
    dusk__sb_puts(b, ",\"cat\":");
    dusk__sb_json(b, t->codelet);
    dusk__sb_printf(b, ",\"args\":{\"id\":%lld,\"codelet\":", (long long)t->id);
    dusk__sb_json(b, t->codelet);
    dusk__sb_puts(b, ",\"impl\":");
    dusk__sb_json(b, t->impl);
    dusk__sb_printf(b,
                    ",\"rows\":%lld,\"cols\":%lld,\"bytes\":%lld,\"status\":%d,"
                    "\"attempts\":%d,",
                    (long long)t->rows, (long long)t->cols, (long long)t->bytes, t->status,
                    t->attempts);
    if (t->item_count)
        dusk__sb_printf(b,
                        "\"items\":{\"first\":%lld,\"count\":%lld,\"step\":%lld},"
                        "\"failed_items\":%lld,",
                        (long long)t->item_first, (long long)t->item_count, (long long)t->item_step,
                        (long long)t->items_failed);
    if (t->reason) {
        dusk__sb_puts(b, "\"reason\":");
        dusk__sb_json(b, t->reason);
        dusk__sb_puts(b, ",");
    }
    dusk__sb_puts(b, "\"deps\":[");
    for (int d = 0; d < t->ndeps; d++)
        dusk__sb_printf(b, d ? ",%lld" : "%lld", (long long)t->deps[d]);
    dusk__sb_puts(b, "]}},\n");
}

/* A rank's run record: times are now on the common timeline, so every rank's epoch is the
 * set's base. A rank whose own trace was cut short says so ("truncated":1). */
static void run_line(dusk__sb *b, const dusk_trace_set *set, const dusk__rank *k, int last)
{
    dusk__sb_printf(b,
                    "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"dusk_run\",\"args\":{"
                    "\"rank\":%d,\"nranks\":%d,\"epoch\":%.6f,\"t1\":%.3f,\"version\":\"%s\",",
                    k->rank, k->rank, k->nranks, set->base_epoch, (k->t1 + k->shift) * 1e6,
                    DUSK_VERSION_STRING);
    if (k->truncated) dusk__sb_puts(b, "\"truncated\":1,");
    if (k->program) {
        dusk__sb_puts(b, "\"program\":");
        dusk__sb_json(b, k->program);
        dusk__sb_puts(b, ",");
    }
    dusk__sb_puts(b, "\"params\":");
    dusk__sb_json(b, k->params);
    dusk__sb_puts(b, last ? "}}\n" : "}},\n");
}

int dusk_trace_write_json(const dusk_trace_set *set, const char *path)
{
    if (set == NULL || path == NULL) return DUSK_EINVAL;
    dusk__atomic at;
    FILE *f = dusk__atomic_open(&at, path);
    if (f == NULL) return DUSK_EIO;
    char buf[1024];
    dusk__sb b;
    dusk__sb_init(&b, buf, sizeof buf);
    int rc = fputs("{\"traceEvents\":[\n", f) < 0 ? DUSK_EIO : 0;
    for (int r = 0; rc == 0 && r < set->nranks; r++) {
        dusk__sb_printf(&b,
                        "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\","
                        "\"args\":{\"name\":\"rank %d\"}},\n",
                        set->ranks[r].rank, set->ranks[r].rank);
        rc = write_line(f, &b);
    }
    int unrun = 0;
    for (int w = 0; rc == 0 && w < set->nworkers; w++) {
        dusk__sb_printf(&b,
                        "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\","
                        "\"args\":{\"name\":",
                        set->workers[w].rank, set->workers[w].tid);
        dusk__sb_json(&b, set->workers[w].name);
        dusk__sb_puts(&b, "}},\n");
        rc = write_line(f, &b);
    }
    for (int64_t i = 0; rc == 0 && i < set->ntasks; i++) {
        unrun |= set->tasks[i].worker < 0;
        task_line(&b, &set->tasks[i]);
        rc = write_line(f, &b);
    }
    for (int r = 0; rc == 0 && unrun && r < set->nranks; r++) {
        dusk__sb_printf(&b,
                        "{\"ph\":\"M\",\"pid\":%d,\"tid\":-1,\"name\":\"thread_name\","
                        "\"args\":{\"name\":\"not run\"}},\n",
                        set->ranks[r].rank);
        rc = write_line(f, &b);
    }
    for (int r = 0; rc == 0 && r < set->nranks; r++) {
        run_line(&b, set, &set->ranks[r], r + 1 == set->nranks);
        rc = write_line(f, &b);
    }
    if (rc == 0 && fputs("],\"displayTimeUnit\":\"ms\"}\n", f) < 0) rc = DUSK_EIO;
    dusk__sb_free(&b);
    if (rc != 0) {
        dusk__atomic_abort(&at); /* keeps errno: the failure's, which callers print */
        return rc;
    }
    return dusk__atomic_commit(&at) == 0 ? 0 : DUSK_EIO;
}
