/* The live report: with a trace (dusk_config's trace directory), rank 0 rewrites
 * TRACE/report.html every DUSK__LIVE_SECONDS while the batch runs, from a thread of its own
 * that reads the batch's counters (two atomic loads) and sleeps in between: nothing is added
 * on StarPU's workers or on the writer's path. The rate chart keeps at most DUSK__LIVE_SAMPLES
 * samples: when full, every second one goes, and samples are taken half as often, so that
 * a run of days costs as little per page as a run of minutes. The full report replaces the
 * page when the trace closes (dusk_shutdown). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "trace_live.h"

#define DUSK__LIVE_SECONDS 3
#define DUSK__LIVE_SAMPLES 512

struct dusk__batch_live {
    dusk_batch *b;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int stop;
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
    int whole = dusk_rank_count() == 1;
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
    while (!l->stop) {
        double wait = next - mono();
        if (wait <= 0) {
            live_write(l);
            next += DUSK__LIVE_SECONDS;
            if (next < mono()) next = mono() + DUSK__LIVE_SECONDS;
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
    if (b->live != NULL || cfg == NULL || cfg->trace[0] == '\0' || dusk_rank() != 0) return;
    struct dusk__batch_live *l = calloc(1, sizeof *l);
    if (l == NULL) return; /* no live page: the report comes at the end, as ever */
    l->b = b;
    l->every = DUSK__LIVE_SECONDS;
    snprintf(l->path, sizeof l->path, "%s/report.html", cfg->trace);
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
