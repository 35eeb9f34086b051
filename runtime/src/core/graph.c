/* Graphs: their lifetime (and the idle workers' pause between graphs), the progress bar,
 * holding, computing, waiting and cancelling. A graph's other parts are in window.c,
 * observers.c, data.c, reads.c, status.c and submit.c (graph_internal.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <time.h>

#include "graph_internal.h"

/* Graphs not yet freed, so that dusk_shutdown() can settle them (dusk__graphs_settle). */
static pthread_mutex_t graphs_lock = PTHREAD_MUTEX_INITIALIZER;
static dusk_graph *live_graphs;

/* Idle workers. StarPU's workers poll for tasks in a tight loop, so between graphs (a Python
 * session between two calls, a program doing its own work between batches) they would burn
 * every core they own and slow the caller's own work on them. They are paused
 * (starpu_pause) while no graph exists and resumed when the first one is made; under
 * graphs_lock, since StarPU's pause depth is a plain counter. */
static int workers_paused, workers_stopping;

static void workers_update(void) /* with graphs_lock held */
{
    int want = live_graphs == NULL && !workers_stopping;
    if (want && !workers_paused) {
        starpu_pause();
        dusk__extensions_wake(0);
    } else if (!want && workers_paused) {
        dusk__extensions_wake(1);
        starpu_resume();
    }
    workers_paused = want;
}

void dusk__workers_started(void)
{
    pthread_mutex_lock(&graphs_lock);
    workers_stopping = 0;
    workers_update();
    pthread_mutex_unlock(&graphs_lock);
}

void dusk__workers_stopping(void)
{
    pthread_mutex_lock(&graphs_lock);
    workers_stopping = 1;
    workers_update();
    pthread_mutex_unlock(&graphs_lock);
}

int64_t dusk_window_bytes(void)
{
    const dusk_config *cfg = dusk_current_config();
    if (!dusk__started || cfg == NULL) return 0;
    return (int64_t)(cfg->window_mb ? cfg->window_mb : 32 * dusk_worker_count()) << 20;
}

int dusk_graph_new(dusk_graph **out)
{
    if (out == NULL) return DUSK_EINVAL;
    *out = NULL;
    if (!dusk__started) return DUSK_ESTATE;
    dusk_graph *g = calloc(1, sizeof *g);
    if (g == NULL) return DUSK_ENOMEM;
    g->magic = GRAPH_MAGIC;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    const dusk_config *cfg = dusk_current_config();
    /* The window holds at most `window` tasks and reads, and at most `window_bytes` of data
     * as soon as `window_floor` of them (two per worker) are in flight: small tasks get a
     * deep pipeline (the submitting thread wakes rarely), large matrices stay few, and
     * every worker still has work however large they are. */
    int64_t workers = dusk_worker_count();
    g->window = cfg->window ? cfg->window : 64 * workers;
    g->window_bytes = dusk_window_bytes();
    g->window_floor = 2 * workers;
    pthread_mutex_lock(&graphs_lock);
    g->next_live = live_graphs;
    live_graphs = g;
    if (dusk__started) workers_update();
    pthread_mutex_unlock(&graphs_lock);
    *out = g;
    return 0;
}

int dusk_graph_set_local(dusk_graph *g)
{
    if (!dusk__graph_ok(g) || g->has_data) return DUSK_EINVAL;
    g->local = 1;
    return 0;
}

int dusk_graph_watch_cancel(dusk_graph *g, const volatile int *flag)
{
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    g->cancel_flag = flag;
    return 0;
}

int dusk_graph_progress(dusk_graph *g, int64_t total, const char *label)
{
    if (!dusk__graph_ok(g) || total < 0 || label == NULL) return DUSK_EINVAL;
    if (!dusk__started) return DUSK_ESTATE; /* no configuration to draw by */
    /* an observer of g's tasks like any other (it counts those that advance it), drawn by the
     * thread that waits on g; none when the configuration shows no bar */
    int shown = dusk__graph_bar_set(&g->bar, label, total, dusk_current_config()->progress);
    dusk__graph_observer_set(g, DUSK__OBSERVER_BAR, shown ? dusk__graph_bar_observe : NULL, g->bar,
                             0);
    return 0;
}

int dusk_graph_hold(dusk_graph *g)
{
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    g->held = 1;
    return 0;
}

static int wait_all(dusk_graph *g)
{
    pthread_mutex_lock(&g->lock);
    while (g->in_flight > 0) {
        dusk__wait_a_little(g);
        dusk__redraw(g, 0);
    }
    dusk__redraw(g, 1);
    int ret = g->failed ? DUSK_ETASK : g->cancelled ? DUSK_ECANCELED : 0;
    pthread_mutex_unlock(&g->lock);
    return ret;
}

int dusk_graph_compute(dusk_graph *g)
{
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    if (!dusk__started) return DUSK_ESTATE;
    g->held = 0;
    int lost_read = 0;
    for (int64_t i = 0; i < g->nops; i++) {
        op *o = &g->ops[i];
        if (o->kind == OP_TASK) {
            (void)dusk__submit_now(g, o->p); /* a refusal is recorded as the task's status */
        } else if (o->kind == OP_READ) {
            int ret = dusk__read_now(o->p);
            if (ret != 0) {
                dusk__read_failed(o->p, ret); /* its callback hears of it */
                lost_read = 1;
            }
        } else {
            dusk__release_now(o->p);
        }
    }
    free(g->ops);
    g->ops = NULL;
    g->nops = g->ops_cap = 0;
    int ret = wait_all(g);
    return ret == 0 && lost_read ? DUSK_ESTARPU : ret;
}

int dusk_graph_wait(dusk_graph *g)
{
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    /* a held graph has run nothing yet: waiting would return at once with reads never made */
    if (g->held && g->nops > 0) return DUSK_ESTATE;
    return wait_all(g);
}

void dusk_graph_cancel(dusk_graph *g)
{
    if (g != NULL) atomic_store(&g->cancel, 1);
}

/* Every graph not yet freed waits for its work in flight: dusk_shutdown() calls it before
 * StarPU stops. A held graph's recorded operations are run first (as dusk_graph_compute()
 * runs them: their reads' callbacks are called, nothing is left pending), so that
 * dusk_graph_free() after the shutdown frees only memory. */
void dusk__graphs_settle(void)
{
    pthread_mutex_lock(&graphs_lock);
    for (dusk_graph *g = live_graphs; g != NULL; g = g->next_live) {
        if (g->nops > 0 && dusk_graph_compute(g) != 0) g->held = 0; /* failures stay per task */
        (void)wait_all(g);
    }
    pthread_mutex_unlock(&graphs_lock);
}

void dusk_graph_free(dusk_graph **gp)
{
    if (gp == NULL || !dusk__graph_ok(*gp)) return;
    dusk_graph *g = *gp;
    /* Held and never computed: run it so that nothing leaks; failures stay per task. */
    if (g->nops > 0 && dusk__started && dusk_graph_compute(g) != 0) g->held = 0;
    pthread_mutex_lock(&g->lock);
    while (g->in_flight > 0)
        dusk__wait_a_little(g);
    pthread_mutex_unlock(&g->lock);
    pthread_mutex_lock(&graphs_lock);
    for (dusk_graph **p = &live_graphs; *p != NULL; p = &(*p)->next_live)
        if (*p == g) {
            *p = g->next_live;
            break;
        }
    if (dusk__started) workers_update();
    pthread_mutex_unlock(&graphs_lock);
    for (int64_t i = 0; i < g->nfailures; i++) {
        free(g->failures[i].key);
        free(g->failures[i].reason);
    }
    for (int64_t i = 0; i < g->nifailures; i++) {
        free(g->ifailures[i].key);
        free(g->ifailures[i].reason);
    }
    free(g->ifailures);
    free(g->failures);
    free(g->state);
    free(g->odd);
    free(g->trace_ids);
    free(g->live);
    free(g->ops);
    dusk__graph_bar_free(&g->bar);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    g->magic = 0;
    free(g);
    *gp = NULL;
}
