/* Observers: the task-event hook. Observers of every graph (dusk_observer_add; the tracer is
 * one) and of one graph (dusk_graph_observe, the progress bar), and the event of each step of
 * a task's life that they are given. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "graph_internal.h"

#define MAX_OBSERVERS 8
static struct {
    dusk_observer_fn fn;
    void *user;
} observers[MAX_OBSERVERS];
static atomic_int nobservers; /* slots in use, for a quick test */

int dusk__observing(const dusk_graph *g)
{
    if (atomic_load(&nobservers) > 0) return 1;
    for (int i = 0; g != NULL && i < DUSK__GRAPH_OBSERVERS; i++)
        if (g->own[i].fn != NULL) return 1;
    return 0;
}

/* Whether what observes g wants each task's dependencies (the bar does not). */
int dusk__observing_deps(const dusk_graph *g)
{
    if (atomic_load(&nobservers) > 0) return 1;
    for (int i = 0; i < DUSK__GRAPH_OBSERVERS; i++)
        if (g->own[i].fn != NULL && g->own[i].deps) return 1;
    return 0;
}

void dusk__observe(const dusk_task_event *ev)
{
    for (int i = 0; i < MAX_OBSERVERS; i++)
        if (observers[i].fn != NULL) observers[i].fn(observers[i].user, ev);
    const dusk_graph *g = ev->graph;
    for (int i = 0; i < DUSK__GRAPH_OBSERVERS; i++)
        if (g->own[i].fn != NULL) g->own[i].fn(g->own[i].user, ev);
}

void dusk__graph_observer_set(dusk_graph *g, int slot, dusk_observer_fn fn, void *user, int deps)
{
    g->own[slot] = (dusk__graph_observer){fn, user, deps};
}

int dusk_graph_observe(dusk_graph *g, dusk_observer_fn fn, void *user)
{
    if (!dusk__graph_ok(g) || g->submitted > 0) return DUSK_EINVAL;
    dusk__graph_observer_set(g, DUSK__OBSERVER_USER, fn, user, 1);
    return 0;
}

void dusk__observers_clear(void)
{
    memset(observers, 0, sizeof observers);
    atomic_store(&nobservers, 0);
}

int dusk_observer_add(dusk_observer_fn fn, void *user, int *handle)
{
    if (handle) *handle = -1;
    if (fn == NULL) return DUSK_EINVAL;
    for (int i = 0; i < MAX_OBSERVERS; i++)
        if (observers[i].fn == NULL) {
            observers[i].user = user;
            observers[i].fn = fn;
            atomic_fetch_add(&nobservers, 1);
            if (handle) *handle = i;
            return 0;
        }
    return DUSK_ENOMEM;
}

int dusk_observer_remove(int handle)
{
    if (handle < 0 || handle >= MAX_OBSERVERS || observers[handle].fn == NULL) return DUSK_EINVAL;
    observers[handle].fn = NULL;
    observers[handle].user = NULL;
    atomic_fetch_sub(&nobservers, 1);
    return 0;
}

void dusk__task_event(const dusk__task *t, dusk_event_kind kind, dusk_task_event *ev)
{
    const dusk_data *d0 = t->nargs ? t->data[0] : NULL;
    *ev = (dusk_task_event){
        .kind = kind,
        .graph = t->g,
        .id = t->id,
        .uid = t->trace_id,
        .key = dusk__task_key(t),
        .kernel = t->k->name,
        .flags = t->flags,
        .item_first = t->item_first,
        .item_count = t->item_count,
        .item_step = t->item_step,
        .items = t->nitems,
        .rows = d0 ? d0->dims[0] : 0,
        .cols = d0 ? d0->dims[1] : 0,
        .bytes = t->bytes,
        .ndeps = t->ndeps,
        .deps = t->deps,
        .worker = -1,
    };
    if (kind == DUSK_EVENT_SUBMIT) return;
    ev->worker = t->worker;
    ev->impl = t->worker >= 0 ? (t->impl ? t->impl : "CPU") : NULL;
    if (kind == DUSK_EVENT_START) return;
    int ran = t->worker >= 0 && t->start > 0 && t->end >= t->start;
    ev->start = ran ? t->start : 0;
    ev->end = ran ? t->end : 0;
    ev->status = t->status;
    ev->attempts = t->attempts;
    ev->reason = t->status ? t->reason : NULL;
    ev->items_failed = t->items_failed;
    ev->elsewhere = t->elsewhere;
}
