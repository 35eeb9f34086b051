/* Events to the reporter, and the records (dusk_batch.h, "events" and "records"): the batch's
 * one way of saying anything. What used to be printed is an event carrying the same words
 * (`why`) and, for what a program returns, a record: the first error, the failed items, the
 * outcome and its exit status. */
#define _GNU_SOURCE /* open_memstream */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "io.h"

/* Under the reporter's lock. */
static void call(dusk_batch *b, dusk_batch_event *ev)
{
    ev->batch = b;
    if (b->report) b->report(b->report_user, ev);
}

void dusk__batch_emit(dusk_batch *b, dusk_batch_event *ev)
{
    pthread_mutex_lock(&b->rlock);
    call(b, ev);
    pthread_mutex_unlock(&b->rlock);
}

/* fmt's text, malloc'ed; NULL when out of memory. */
static char *vformat(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s != NULL) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* The event, and the first error's words kept for the record. */
static void say(dusk_batch *b, dusk_batch_event_kind kind, int code, int usage, const char *fmt,
                va_list ap)
{
    char *why = vformat(fmt, ap);
    dusk_batch_event ev = {
        .kind = kind, .why = why ? why : "out of memory", .code = code, .usage = usage};
    pthread_mutex_lock(&b->rlock);
    if (kind != DUSK_BATCH_EVENT_WARNING && b->why == NULL && why != NULL) {
        b->why = dusk__strdup(why);
        b->code = code;
    }
    call(b, &ev);
    pthread_mutex_unlock(&b->rlock);
    free(why);
}

void dusk__batch_error(dusk_batch *b, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(b, DUSK_BATCH_EVENT_ERROR, code, 0, fmt, ap);
    va_end(ap);
}

void dusk__batch_warn(dusk_batch *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(b, DUSK_BATCH_EVENT_WARNING, 0, 0, fmt, ap);
    va_end(ap);
}

int dusk__batch_refuse(dusk_batch *b, int usage, int code, const char *fmt, ...)
{
    b->outcome = DUSK_BATCH_REFUSED;
    b->usage = usage;
    b->status = usage ? DUSK_EXIT_USAGE : DUSK_EXIT_FAILURE;
    b->summary.items = b->nitems;
    va_list ap;
    va_start(ap, fmt);
    say(b, DUSK_BATCH_EVENT_REFUSED, code, usage, fmt, ap);
    va_end(ap);
    b->code = code; /* the refusal's, whatever came before */
    return code;
}

void dusk__batch_progress(dusk_batch *b, int final)
{
    if (b->report == NULL) return; /* set before dusk_batch_open(), never changed after */
    dusk_batch_event ev = {.kind = DUSK_BATCH_EVENT_PROGRESS,
                           .todo = b->todo,
                           .done = atomic_load(&b->saved),
                           .failed = atomic_load(&b->failed),
                           .seconds = dusk_now() - b->start,
                           .final = final};
    ev.job_done = ev.done;
    ev.job_failed = ev.failed;
    if (dusk_rank_count() > 1) { /* the whole job's: rank 0, when the others' are known */
        int known = dusk_rank() == 0 && atomic_load(&b->job_known);
        ev.job_done = known ? ev.done + atomic_load(&b->others_done) : -1;
        ev.job_failed = known ? ev.failed + atomic_load(&b->others_failed) : -1;
    }
    dusk__batch_emit(b, &ev);
}

void dusk__batch_stopping(void *batch, int sig)
{
    dusk_batch *b = batch;
    pthread_mutex_lock(&b->rlock);
    if (!b->stop_reported && sig != 0) {
        b->stop_reported = 1;
        call(b, &(dusk_batch_event){.kind = DUSK_BATCH_EVENT_STOPPING, .signal = sig});
    }
    pthread_mutex_unlock(&b->rlock);
}

/* ---- failed items ------------------------------------------------------------------------- */

/* Item failure records, by item and then by when they failed. */
typedef struct failed_item {
    dusk_item_failure f;
    int64_t order;
} failed_item;

static int by_item(const void *p, const void *q)
{
    const failed_item *x = p, *y = q;
    if (x->f.item != y->f.item) return (x->f.item > y->f.item) - (x->f.item < y->f.item);
    return (x->order > y->order) - (x->order < y->order);
}

/* One line: tabs and newlines as spaces. Malloc'ed. */
static char *one_line(const char *s)
{
    char *t = dusk__strdup(s ? s : "");
    for (char *c = t; c && *c; c++)
        if (*c == '\t' || *c == '\n') *c = ' ';
    return t;
}

static const char *subject_of(const dusk_batch *b, const char *step)
{
    for (int i = 0; i < b->nsubjects; i++)
        if (strcmp(b->subject_step[i], step) == 0) return b->subject[i];
    return NULL;
}

/* An item once (its first failure: later ones, of other steps, add nothing). */
void dusk__batch_collect_failures(dusk_batch *b, char **lines, size_t *len)
{
    *lines = NULL;
    *len = 0;
    int64_t n = b->g ? dusk_graph_item_failure_count(b->g) : 0;
    failed_item *all = calloc((size_t)n + 1, sizeof *all);
    FILE *f = all ? open_memstream(lines, len) : NULL;
    if (f == NULL) {
        free(all);
        *lines = NULL;
        dusk__batch_emit(b, &(dusk_batch_event){.kind = DUSK_BATCH_EVENT_FAILURES});
        return;
    }
    int64_t got = 0;
    for (int64_t i = 0; i < n; i++)
        if (dusk_graph_item_failure(b->g, i, &all[got].f) == 0) all[got].order = i, got++;
    qsort(all, (size_t)got, sizeof *all, by_item);
    b->failures = calloc((size_t)got + 1, sizeof *b->failures);
    int oom = b->failures == NULL;
    for (int64_t i = 0; i < got; i++) {
        const dusk_item_failure *it = &all[i].f;
        if (i > 0 && all[i - 1].f.item == it->item) continue;
        char *reason = one_line(it->reason);
        fprintf(f, "%lld\t%s\t%s\t%s\n", (long long)it->item, it->key, dusk_strerror(it->status),
                reason ? reason : "");
        if (!oom) {
            dusk_batch_failure *r = &b->failures[b->nfailures];
            *r = (dusk_batch_failure){.item = it->item,
                                      .code = it->status,
                                      .step = dusk__strdup(it->key),
                                      .reason = reason,
                                      .subject = subject_of(b, it->key)};
            reason = NULL;
            if (r->step == NULL || r->reason == NULL) {
                free((char *)r->step);
                free((char *)r->reason);
                oom = 1;
            } else {
                b->nfailures++;
            }
        }
        free(reason);
    }
    free(all);
    if (fclose(f) != 0 || oom) {
        free(*lines); /* failures.json would lack some: it is not written (an ERROR says so) */
        *lines = NULL;
        *len = 0;
    }
    dusk__batch_emit(b, &(dusk_batch_event){.kind = DUSK_BATCH_EVENT_FAILURES});
}

/* ---- the outcome -------------------------------------------------------------------------- */

void dusk__batch_finish(dusk_batch *b, int status, int code, int refused)
{
    b->status = status;
    b->code = code;
    if (refused) {
        b->outcome = DUSK_BATCH_REFUSED;
        b->usage = status == DUSK_EXIT_USAGE;
    } else if (status == DUSK_EXIT_OK || status == DUSK_EXIT_ITEMS_FAILED) {
        b->outcome = DUSK_BATCH_FINISHED;
    } else if (status > DUSK_EXIT_SIGNAL) {
        b->outcome = DUSK_BATCH_STOPPED;
        b->signal = status - DUSK_EXIT_SIGNAL;
    } else {
        b->outcome = DUSK_BATCH_FAILED;
    }
    b->summary.finished = b->outcome == DUSK_BATCH_FINISHED;
    dusk__batch_emit(b, &(dusk_batch_event){.kind = DUSK_BATCH_EVENT_END});
}

int dusk_batch_exit_status(const dusk_batch *b)
{
    return b ? b->status : DUSK_EXIT_FAILURE;
}

int dusk_batch_get_state(const dusk_batch *b, dusk_batch_state *out)
{
    if (out == NULL) return DUSK_EINVAL;
    memset(out, 0, sizeof *out);
    if (b == NULL) return DUSK_EINVAL;
    *out = (dusk_batch_state){
        .outcome = b->outcome,
        .exit_status = b->status,
        .code = b->code,
        .signal = b->signal,
        .usage = b->usage,
        .why = b->outcome == DUSK_BATCH_FAILED || b->outcome == DUSK_BATCH_REFUSED ? b->why : NULL,
        .ran = b->ran,
        .dir = b->dir,
        .saved = b->saved_count,
        .saved_current = b->saved_current,
        .resume = b->resume_cmd,
    };
    return 0;
}

int dusk_batch_get_summary(const dusk_batch *b, dusk_batch_summary *out)
{
    if (out == NULL) return DUSK_EINVAL;
    memset(out, 0, sizeof *out);
    if (b == NULL) return DUSK_EINVAL;
    *out = b->summary;
    return 0;
}

int64_t dusk_batch_failure_count(const dusk_batch *b)
{
    return b ? b->nfailures : 0;
}

int dusk_batch_get_failure(const dusk_batch *b, int64_t i, dusk_batch_failure *out)
{
    if (out == NULL) return DUSK_EINVAL;
    memset(out, 0, sizeof *out);
    if (b == NULL || i < 0 || i >= b->nfailures) return DUSK_EINVAL;
    *out = b->failures[i];
    return 0;
}
