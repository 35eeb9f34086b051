/* The live report and the whole job's counts. With a trace (dusk_config's trace directory),
 * rank 0 rewrites TRACE/report.html every DUSK__LIVE_SECONDS while the batch runs, from a
 * thread of its own that reads the batch's counters (two atomic loads) and sleeps in between:
 * nothing is added on StarPU's workers or on the writer's path. Under several ranks, the same
 * thread runs on every rank and, every DUSK__JOB_SECONDS, sends the rank's counts to rank 0
 * (a 16-byte message that nobody waits for), or on rank 0 takes those that came
 * (job_counts.h): rank 0's progress lines and page count the whole job. The rate chart keeps at
 * most DUSK__LIVE_SAMPLES samples: when full, every second one goes, and samples are taken half as
 * often, so that a run of days costs as little per page as a run of minutes. The full report
 * replaces the page when the trace closes (dusk_shutdown). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "job_counts.h"
#include "trace_live.h"

#define DUSK__LIVE_SECONDS 3
#define DUSK__JOB_SECONDS 1
#define DUSK__LIVE_SAMPLES 512

struct dusk__batch_live {
    dusk_batch *b;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int stop;
    int page;         /* the page is written (rank 0, traced) */
    double next_page; /* mono() when it is due */
    char path[1100];
    double epoch, every; /* seconds between two samples: DUSK__LIVE_SECONDS, then doubled */
    int n;
    double t[DUSK__LIVE_SAMPLES + 1]; /* + now's, drawn but not kept */
    int64_t count[DUSK__LIVE_SAMPLES + 1];
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A sample of now, then the page. */
static void live_write(struct dusk__batch_live *l)
{
    dusk_batch *b = l->b;
    double now = dusk_now() - b->start;
    int64_t done = atomic_load(&b->saved), failed = atomic_load(&b->failed);
    int whole = dusk_rank_count() == 1 || atomic_load(&b->job_known);
    if (dusk_rank_count() > 1 && whole) {
        done += atomic_load(&b->others_done);
        failed += atomic_load(&b->others_failed);
    }
    if (l->n > 0 && now - l->t[l->n - 1] < l->every * 0.999) {
        /* not a sample yet: drawn as the last point, then dropped */
    } else if (l->n == DUSK__LIVE_SAMPLES) { /* keep the first, then every second one */
        int k = 1;
        for (int i = 2; i < l->n; i += 2, k++) {
            l->t[k] = l->t[i];
            l->count[k] = l->count[i];
        }
        l->n = k;
        l->every *= 2;
    }
    int kept = l->n > 0 && now - l->t[l->n - 1] < l->every * 0.999 ? 0 : 1;
    l->t[l->n] = now;
    l->count[l->n] = done + failed;
    dusk__live_view v = {
        .program = b->program,
        .params = b->params,
        .plural = b->noun2,
        .nranks = dusk_rank_count(),
        .whole = whole,
        .refresh = DUSK__LIVE_SECONDS,
        .epoch = l->epoch,
        .seconds = now,
        .total = whole ? b->nitems : b->todo,
        .before = whole ? b->summary.done_before : 0,
        .done = done,
        .failed = failed,
        .nsamples = l->n + 1,
        .t = l->t,
        .n = l->count,
    };
    (void)!dusk__trace_write_live(l->path, &v); /* a page that cannot be written is skipped */
    l->n += kept;
}

static void *live_main(void *arg)
{
    struct dusk__batch_live *l = arg;
    pthread_mutex_lock(&l->lock);
    double next = mono();
    l->next_page = next;
    while (!l->stop) {
        double wait = next - mono();
        if (wait <= 0) {
            dusk_batch *b = l->b;
            if (b->jc != NULL && dusk_rank() != 0) {
                dusk__job_counts_post(b->jc, atomic_load(&b->saved), atomic_load(&b->failed), 0);
            } else if (b->jc != NULL) {
                int64_t d, f;
                dusk__job_counts_poll(b->jc, &d, &f);
                int moved =
                    d != atomic_load(&b->others_done) || f != atomic_load(&b->others_failed);
                atomic_store(&b->others_done, d);
                atomic_store(&b->others_failed, f);
                /* the others' progress is news, rank 0's own events or not (it may be done) */
                if (moved) {
                    pthread_mutex_unlock(&l->lock);
                    dusk__batch_progress(b, 0);
                    pthread_mutex_lock(&l->lock);
                }
            }
            if (l->page && mono() >= l->next_page - 1e-3) {
                live_write(l);
                l->next_page += DUSK__LIVE_SECONDS;
                if (l->next_page < mono()) l->next_page = mono() + DUSK__LIVE_SECONDS;
            }
            next += b->jc != NULL ? DUSK__JOB_SECONDS : DUSK__LIVE_SECONDS;
            if (next < mono()) next = mono() + DUSK__JOB_SECONDS;
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)wait;
        until.tv_nsec += (long)((wait - floor(wait)) * 1e9);
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        (void)pthread_cond_timedwait(&l->wake, &l->lock, &until);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

void dusk__batch_live_start(dusk_batch *b)
{
    const dusk_config *cfg = dusk_current_config();
    int page = cfg != NULL && cfg->trace[0] != '\0' && dusk_rank() == 0;
    if (b->live != NULL || (!page && b->jc == NULL)) return;
    struct dusk__batch_live *l = calloc(1, sizeof *l);
    if (l == NULL) return; /* no live page: the report comes at the end, as ever */
    l->b = b;
    l->page = page;
    l->every = DUSK__LIVE_SECONDS;
    if (page) snprintf(l->path, sizeof l->path, "%s/report.html", cfg->trace);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    l->epoch = (double)now.tv_sec + 1e-9 * (double)now.tv_nsec - (dusk_now() - b->start);
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    /* the program's signals are for its other threads (the batch's stop) */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int ok = pthread_create(&l->thread, NULL, live_main, l) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) {
        pthread_cond_destroy(&l->wake);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return;
    }
    b->live = l;
}

void dusk__batch_live_stop(dusk_batch *b)
{
    struct dusk__batch_live *l = b->live;
    if (l == NULL) return;
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    free(l);
    b->live = NULL;
}

void dusk__batch_job_open(dusk_batch *b)
{
    if (dusk__job_counts_open(&b->jc) == 0 && b->jc != NULL && dusk_rank() == 0)
        atomic_store(&b->job_known, 1);
}

void dusk__batch_job_close(dusk_batch *b)
{
    /* rank 0's thread goes on polling, and its lines and page go on counting, while the
     * other ranks finish; theirs stop sending first */
    int64_t saved = atomic_load(&b->saved), failed = atomic_load(&b->failed), d, f;
    if (dusk_rank() != 0) {
        dusk__batch_live_stop(b);
        dusk__job_counts_post(b->jc, saved, failed, 1); /* rank 0 counts us done at once */
    }
    if (b->jc != NULL && dusk__job_counts_close(b->jc, saved, failed, &d, &f) == 0 &&
        dusk_rank() == 0) {
        atomic_store(&b->others_done, d - saved);
        atomic_store(&b->others_failed, f - failed);
    }
    dusk__batch_live_stop(b);
    dusk__job_counts_free(&b->jc);
}
