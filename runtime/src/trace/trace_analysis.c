/* What is worked out from a set of traces (dusk_trace.h): the figures, per worker and per
 * codelet, the critical path, and the text summary. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk_trace.h"
#include "trace_read.h"

const char *dusk__trace_status_text(int status, char *buf, size_t len)
{
    const char *text = dusk_strerror(status);
    if (status != 0 && strcmp(text, dusk_strerror(INT_MIN)) == 0)
        snprintf(buf, len, "error %d", status); /* not a code this dusk knows */
    else
        snprintf(buf, len, "%s", text);
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_cstats(const void *a, const void *b)
{
    const dusk__cstats *x = a, *y = b;
    if (x->total != y->total) return x->total > y->total ? -1 : 1;
    return strcmp(x->codelet, y->codelet);
}

/* nearest-rank percentile of sorted v[0..n) */
static double percentile(const double *v, int64_t n, double p)
{
    if (n == 0) return 0;
    int64_t k = (int64_t)ceil(p / 100.0 * (double)n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* Critical path: tasks in (rank, id) order, which is submission order, so a task's deps come
 * before it; a dep that does not (or is missing) is ignored. Tasks that never ran are not on
 * it. */
static int critical_path(const dusk_trace_set *s, dusk__analysis *a)
{
    int64_t n = s->ntasks;
    double *best = malloc((size_t)(n ? n : 1) * sizeof *best);
    int64_t *pred = malloc((size_t)(n ? n : 1) * sizeof *pred);
    if (!best || !pred) {
        free(best);
        free(pred);
        return DUSK_ENOMEM;
    }
    int64_t end = -1;
    for (int64_t k = 0; k < n; k++) {
        int64_t i = s->byid[k].index;
        const dusk_trace_task *t = &s->tasks[i];
        best[i] = -1;
        pred[i] = -1;
        if (t->worker < 0) continue;
        double b = 0;
        for (int d = 0; d < t->ndeps; d++) {
            if (t->deps[d] >= t->id) continue;
            int64_t j = dusk__trace_find(s, t->rank, t->deps[d]);
            if (j >= 0 && best[j] >= 0 && (pred[i] < 0 || best[j] > b)) b = best[j], pred[i] = j;
        }
        best[i] = b + t->dur;
        if (end < 0 || best[i] > best[end]) end = i;
    }
    a->npath = 0;
    for (int64_t i = end; i >= 0; i = pred[i])
        a->npath++;
    a->path = malloc((size_t)(a->npath ? a->npath : 1) * sizeof *a->path);
    if (a->path == NULL) {
        free(best);
        free(pred);
        return DUSK_ENOMEM;
    }
    int64_t k = a->npath;
    for (int64_t i = end; i >= 0; i = pred[i])
        a->path[--k] = i;
    a->st.critical_path = end >= 0 ? best[end] : 0;
    a->st.critical_path_tasks = a->npath;
    free(best);
    free(pred);
    return 0;
}

void dusk__trace_analysis_free(dusk__analysis *a)
{
    free(a->workers);
    free(a->codelets);
    free(a->path);
    memset(a, 0, sizeof *a);
}

int dusk__trace_analyse(const dusk_trace_set *s, dusk__analysis *a)
{
    memset(a, 0, sizeof *a);
    a->st.nranks = s->nranks;
    a->st.nworkers = s->nworkers;
    a->st.ntasks = s->ntasks;
    double t0 = INFINITY, t1 = -INFINITY;
    for (int64_t i = 0; i < s->ntasks; i++) {
        const dusk_trace_task *t = &s->tasks[i];
        if (t->status == DUSK_EDEP)
            a->st.nskipped++;
        else if (t->status != 0)
            a->st.nfailed++;
        a->st.nitems += t->item_count;
        a->st.nitems_failed += t->items_failed;
        if (t->worker < 0) continue;
        a->st.task_time += t->dur;
        if (t->start < t0) t0 = t->start;
        if (t->start + t->dur > t1) t1 = t->start + t->dur;
    }
    a->t0 = isfinite(t0) ? t0 : 0;
    a->st.makespan = isfinite(t0) ? t1 - t0 : 0;
    if (a->st.makespan > 0) {
        a->st.throughput = (double)s->ntasks / a->st.makespan;
        if (s->nworkers) a->st.efficiency = a->st.task_time / (s->nworkers * a->st.makespan);
    }

    /* per worker: sort the ran tasks by (worker, start) to find the gaps */
    int64_t nran = 0;
    for (int64_t i = 0; i < s->ntasks; i++)
        nran += s->tasks[i].worker >= 0;
    a->workers = calloc((size_t)(s->nworkers ? s->nworkers : 1), sizeof *a->workers);
    double *times = malloc((size_t)(2 * nran + 1) * sizeof *times);
    int *wi = malloc((size_t)(nran + 1) * sizeof *wi);
    int64_t *count = calloc((size_t)(s->nworkers + 1), sizeof *count);
    int rc = DUSK_ENOMEM;
    if (!a->workers || !times || !wi || !count) goto out;
    for (int64_t i = 0, k = 0; i < s->ntasks; i++)
        if (s->tasks[i].worker >= 0)
            wi[k++] = dusk__trace_worker_index(s, s->tasks[i].rank, s->tasks[i].worker);
    for (int64_t k = 0; k < nran; k++)
        count[wi[k] + 1]++;
    for (int w = 0; w < s->nworkers; w++)
        count[w + 1] += count[w];
    for (int64_t i = 0, k = 0; i < s->ntasks; i++) {
        const dusk_trace_task *t = &s->tasks[i];
        if (t->worker < 0) continue;
        int64_t at = count[wi[k++]]++;
        times[2 * at] = t->start;
        times[2 * at + 1] = t->dur;
    }
    /* count[w] is now the end of worker w's block */
    for (int w = 0; w < s->nworkers; w++) {
        int64_t from = w ? count[w - 1] : 0, to = count[w];
        dusk__wstats *ws_ = &a->workers[w];
        qsort(times + 2 * from, (size_t)(to - from), 2 * sizeof *times, cmp_double);
        double end = -INFINITY;
        for (int64_t k = from; k < to; k++) {
            double st = times[2 * k], du = times[2 * k + 1];
            ws_->tasks++;
            ws_->busy += du;
            /* times are written to the nanosecond: shorter "gaps" are rounding */
            if (k > from && st > end + 1e-8) {
                ws_->gaps++;
                ws_->gaps_total += st - end;
                if (st - end > ws_->gaps_longest) ws_->gaps_longest = st - end;
            }
            if (st + du > end) end = st + du;
        }
    }

    /* per codelet: names are interned, so pointers compare */
    a->codelets = calloc((size_t)(s->nnames ? s->nnames : 1), sizeof *a->codelets);
    if (a->codelets == NULL) goto out;
    for (int64_t i = 0; i < s->ntasks; i++) {
        const dusk_trace_task *t = &s->tasks[i];
        int c = 0;
        while (c < a->ncodelets && a->codelets[c].codelet != t->codelet)
            c++;
        if (c == a->ncodelets) a->codelets[a->ncodelets++].codelet = t->codelet;
        a->codelets[c].count++;
        a->codelets[c].failed += t->status != 0 && t->status != DUSK_EDEP;
        a->codelets[c].items += t->item_count;
    }
    for (int c = 0; c < a->ncodelets; c++) {
        dusk__cstats *cs = &a->codelets[c];
        int64_t k = 0;
        for (int64_t i = 0; i < s->ntasks; i++)
            if (s->tasks[i].codelet == cs->codelet && s->tasks[i].worker >= 0)
                times[k++] = s->tasks[i].dur;
        qsort(times, (size_t)k, sizeof *times, cmp_double);
        for (int64_t j = 0; j < k; j++)
            cs->total += times[j];
        cs->mean = k ? cs->total / (double)k : 0;
        cs->p50 = percentile(times, k, 50);
        cs->p95 = percentile(times, k, 95);
    }
    qsort(a->codelets, (size_t)a->ncodelets, sizeof *a->codelets, cmp_cstats);
    rc = critical_path(s, a);
out:
    free(times);
    free(wi);
    free(count);
    if (rc != 0) dusk__trace_analysis_free(a);
    return rc;
}

int dusk_trace_stats_get(const dusk_trace_set *set, dusk_trace_stats *out)
{
    if (out == NULL) return DUSK_EINVAL;
    memset(out, 0, sizeof *out);
    if (set == NULL) return DUSK_EINVAL;
    dusk__analysis a;
    int rc = dusk__trace_analyse(set, &a);
    if (rc == 0) {
        *out = a.st;
        dusk__trace_analysis_free(&a);
    }
    return rc;
}

int dusk_trace_critical_path(const dusk_trace_set *set, int64_t **idx, int64_t *n)
{
    if (idx) *idx = NULL;
    if (n) *n = 0;
    if (set == NULL || idx == NULL || n == NULL) return DUSK_EINVAL;
    dusk__analysis a;
    int rc = dusk__trace_analyse(set, &a);
    if (rc != 0) return rc;
    if (a.npath) {
        *idx = a.path;
        *n = a.npath;
        a.path = NULL;
    }
    dusk__trace_analysis_free(&a);
    return 0;
}

/* ---- the text summary --------------------------------------------------------------------- */

#define MS(x) ((x)*1e3)

int dusk_trace_summary(const dusk_trace_set *set, FILE *out)
{
    if (set == NULL || out == NULL) return DUSK_EINVAL;
    dusk__analysis a;
    int rc = dusk__trace_analyse(set, &a);
    if (rc != 0) return rc;
    const dusk_trace_stats *st = &a.st;
    /* as dusk-eigh counts them: the tasks that failed, then those skipped because of them */
    fprintf(out, "trace: %d rank%s, %d worker%s, %lld tasks", st->nranks,
            st->nranks == 1 ? "" : "s", st->nworkers, st->nworkers == 1 ? "" : "s",
            (long long)st->ntasks);
    fprintf(out, " (%lld failed", (long long)st->nfailed);
    if (st->nskipped) fprintf(out, ", %lld not run because of them", (long long)st->nskipped);
    fputs(")", out);
    if (st->nitems)
        fprintf(out, ", %lld items (%lld without a result)", (long long)st->nitems,
                (long long)st->nitems_failed);
    fputs("\n", out);
    for (int r = 0; r < set->nranks; r++)
        if (set->ranks[r].params && *set->ranks[r].params)
            fprintf(out, "params (rank %d): %s\n", set->ranks[r].rank, set->ranks[r].params);
    for (int r = 0; r < set->nranks; r++)
        if (set->ranks[r].truncated)
            fprintf(out,
                    "rank %d: trace truncated (the run did not finish); what it ran after the "
                    "cut is missing\n",
                    set->ranks[r].rank);
    fprintf(out, "makespan: %.3f ms, throughput: %.1f tasks/s\n", MS(st->makespan), st->throughput);
    fprintf(out, "parallel efficiency: %.1f%% (task time %.3f ms / (%d workers x %.3f ms))\n",
            100 * st->efficiency, MS(st->task_time), st->nworkers, MS(st->makespan));

    fprintf(out, "\nworkers:\n  %-4s %-24s %8s %12s %7s %6s %12s %12s\n", "rank", "worker", "tasks",
            "busy ms", "busy%", "gaps", "idle ms", "longest ms");
    for (int w = 0; w < set->nworkers; w++) {
        const dusk__wstats *x = &a.workers[w];
        fprintf(out, "  %-4d %-24.24s %8lld %12.3f %6.1f%% %6lld %12.3f %12.3f\n",
                set->workers[w].rank, set->workers[w].name, (long long)x->tasks, MS(x->busy),
                st->makespan > 0 ? 100 * x->busy / st->makespan : 0.0, (long long)x->gaps,
                MS(x->gaps_total), MS(x->gaps_longest));
    }

    /* an items column only for traces whose tasks carry items */
    fprintf(out, "\ncodelets:\n  %-20s %8s", "codelet", "count");
    if (st->nitems) fprintf(out, " %10s", "items");
    fprintf(out, " %7s %12s %12s %12s %12s\n", "failed", "mean ms", "p50 ms", "p95 ms", "total ms");
    for (int c = 0; c < a.ncodelets; c++) {
        const dusk__cstats *x = &a.codelets[c];
        fprintf(out, "  %-20.20s %8lld", x->codelet, (long long)x->count);
        if (st->nitems) fprintf(out, " %10lld", (long long)x->items);
        fprintf(out, " %7lld %12.3f %12.3f %12.3f %12.3f\n", (long long)x->failed, MS(x->mean),
                MS(x->p50), MS(x->p95), MS(x->total));
    }

    fprintf(out, "\ncritical path: %lld tasks, %.3f ms:", (long long)a.npath,
            MS(st->critical_path));
    for (int64_t k = 0; k < a.npath; k++) {
        if (a.npath > 40 && k == 20) {
            fprintf(out, " -> ... (%lld more) ...", (long long)(a.npath - 40));
            k = a.npath - 20;
        }
        fprintf(out, "%s%s", k ? " -> " : " ", set->tasks[a.path[k]].key);
    }
    fputc('\n', out);

    if (st->nfailed + st->nskipped) {
        fprintf(out, st->nskipped ? "\nfailed tasks, and tasks not run because of them:\n"
                                  : "\nfailed tasks:\n");
        int64_t shown = 0;
        for (int64_t i = 0; i < set->ntasks && shown < 50; i++) {
            const dusk_trace_task *t = &set->tasks[i];
            if (t->status == 0) continue;
            char text[64], items[96] = "";
            if (t->item_count)
                snprintf(items, sizeof items, ", %lld of its %lld items without a result",
                         (long long)t->items_failed, (long long)t->item_count);
            fprintf(out, "  rank %d id %lld %s (%s): %s%s%s\n", t->rank, (long long)t->id, t->key,
                    t->codelet, dusk__trace_status_text(t->status, text, sizeof text),
                    t->worker < 0 ? ", never ran" : "", items);
            shown++;
        }
        if (st->nfailed + st->nskipped > shown)
            fprintf(out, "  ... and %lld more\n", (long long)(st->nfailed + st->nskipped - shown));
    }
    dusk__trace_analysis_free(&a);
    return ferror(out) ? DUSK_EIO : 0;
}
