/* A loaded dusk_trace_set (dusk_trace.h, trace_read.h): what it holds, found and read back,
 * and its freeing. Loading is trace_read.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk_trace.h"
#include "trace_read.h"

void dusk_trace_set_free(dusk_trace_set **sp)
{
    if (sp == NULL || *sp == NULL) return;
    dusk_trace_set *s = *sp;
    while (s->arena) {
        struct dusk__arena *a = s->arena;
        s->arena = a->next;
        free(a);
    }
    free(s->tasks);
    free(s->ranks);
    free(s->workers);
    free(s->names);
    free(s->byid);
    free(s->files);
    free(s);
    *sp = NULL;
}

int64_t dusk__trace_find(const dusk_trace_set *s, int rank, int64_t id)
{
    int64_t lo = 0, hi = s->ntasks - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const dusk__key *k = &s->byid[mid];
        if (k->rank == rank && k->id == id) return k->index;
        if (k->rank < rank || (k->rank == rank && k->id < id))
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int dusk__trace_worker_index(const dusk_trace_set *s, int rank, int tid)
{
    int lo = 0, hi = s->nworkers - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const dusk__worker *w = &s->workers[mid];
        if (w->rank == rank && w->tid == tid) return mid;
        if (w->rank < rank || (w->rank == rank && w->tid < tid))
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* ---- what a set holds ------------------------------------------------------------------------ */

int64_t dusk_trace_task_count(const dusk_trace_set *set)
{
    return set ? set->ntasks : 0;
}

int dusk_trace_task_at(const dusk_trace_set *set, int64_t i, dusk_trace_task *out)
{
    if (set == NULL || out == NULL || i < 0 || i >= set->ntasks) {
        if (out) memset(out, 0, sizeof *out);
        return DUSK_EINVAL;
    }
    *out = set->tasks[i];
    return 0;
}

int dusk_trace_truncated(const dusk_trace_set *set, int file_index, int64_t *line, int64_t *ntasks)
{
    if (line) *line = 0;
    if (ntasks) *ntasks = 0;
    if (set == NULL || file_index < 0 || file_index >= set->nfiles) return DUSK_EINVAL;
    const dusk__file *f = &set->files[file_index];
    if (line) *line = f->lines;
    if (ntasks) *ntasks = f->ntasks;
    if (!f->truncated) return 0;
    /* 2: it was cut after its dusk_run record, in the closing line */
    for (int i = 0; i < set->nranks; i++)
        if (set->ranks[i].file == file_index && !set->ranks[i].has_run) return 1;
    return 2;
}

const char *dusk__trace_program(const dusk_trace_set *s, char *buf, size_t len)
{
    for (int i = 0; i < s->nranks; i++)
        if (s->ranks[i].program && *s->ranks[i].program) {
            snprintf(buf, len, "%s", s->ranks[i].program);
            return buf;
        }
    /* apps put their name first in their run description; "n=300 ..." names none */
    for (int i = 0; i < s->nranks; i++) {
        const char *p = s->ranks[i].params;
        size_t n = strcspn(p, " ");
        if (n == 0 || n >= len || p[0] == '-' || memchr(p, '=', n) || memchr(p, '(', n)) continue;
        const char *base = p;
        for (const char *c = p; c < p + n; c++)
            if (*c == '/') base = c + 1;
        if (base == p + n) continue;
        snprintf(buf, len, "%.*s", (int)(p + n - base), base);
        return buf;
    }
    return NULL;
}
