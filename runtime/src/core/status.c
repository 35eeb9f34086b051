/* Task status: each task's status and attempts in 2 bits (and a table of the odd ones), the
 * table of unfinished tasks, the failures recorded with their reasons, a task's end
 * (dusk__task_done), and what the caller reads of them. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* Lock held: the slot of task id in `odd`, or the empty slot where it would go. */
static odd *odd_slot(const dusk_graph *g, int64_t id)
{
    uint64_t mask = (uint64_t)g->odd_cap - 1, h = (uint64_t)id * 0x9e3779b97f4a7c15u;
    for (uint64_t i = h & mask;; i = (i + 1) & mask)
        if (g->odd[i].id == id || g->odd[i].id == -1) return &g->odd[i];
}

/* Lock held: grow the odd table to hold `want` entries at most half full. */
static int odd_reserve(dusk_graph *g, int64_t want)
{
    if (2 * want <= g->odd_cap) return 0;
    int64_t cap = g->odd_cap ? 2 * g->odd_cap : 64;
    while (2 * want > cap)
        cap *= 2;
    odd *old = g->odd, *t = malloc((size_t)cap * sizeof *t);
    if (t == NULL) return DUSK_ENOMEM;
    for (int64_t i = 0; i < cap; i++)
        t[i].id = -1;
    int64_t old_cap = g->odd_cap;
    g->odd = t;
    g->odd_cap = cap;
    for (int64_t i = 0; i < old_cap; i++)
        if (old[i].id != -1) *odd_slot(g, old[i].id) = old[i];
    free(old);
    return 0;
}

/* Lock held: record an odd task. Room was reserved at submission (see dusk_task_submit), so
 * a task that finishes can always record its status. */
static int odd_put(dusk_graph *g, int64_t id, int status, int attempts)
{
    if (odd_reserve(g, g->odd_count + 1) != 0) return DUSK_ENOMEM;
    odd *o = odd_slot(g, id);
    if (o->id == -1) g->odd_count++;
    *o = (odd){id, (int8_t)status, (uint8_t)(attempts > 255 ? 255 : attempts)};
    return 0;
}

/* Lock held: make the tables cover task id (pending), and leave room in `odd` for every
 * unfinished task to finish oddly. */
int dusk__grow_tables(dusk_graph *g, int64_t id)
{
    if (id >= g->state_cap) {
        int64_t cap = g->state_cap ? 2 * g->state_cap : 4096;
        while (cap <= id)
            cap *= 2;
        uint8_t *s = realloc(g->state, (size_t)cap / 4);
        if (s == NULL) return DUSK_ENOMEM;
        memset(s + g->state_cap / 4, 0, (size_t)(cap - g->state_cap) / 4);
        g->state = s;
        if (dusk__observing_deps(g) || g->trace_ids != NULL) {
            int64_t *ids = realloc(g->trace_ids, (size_t)cap * sizeof *ids);
            if (ids == NULL) return DUSK_ENOMEM;
            g->trace_ids = ids;
        }
        g->state_cap = cap;
    }
    return odd_reserve(g, g->odd_count + g->live_count + 1);
}

/* Lock held: record task id's status (1 pending, 0 done, DUSK_TASK_ELSEWHERE, or a DUSK_E*
 * code) and attempts. The tables cover it (dusk__grow_tables). */
int dusk__set_status(dusk_graph *g, int64_t id, int status, int attempts)
{
    int st = status == 1                     ? ST_PENDING
             : status == DUSK_TASK_ELSEWHERE ? ST_ELSEWHERE
             : status == 0 && attempts == 1  ? ST_DONE
                                             : ST_ODD;
    if (st == ST_ODD && odd_put(g, id, status, attempts) != 0) return DUSK_ENOMEM;
    int shift = (int)(id % 4) * 2;
    g->state[id / 4] = (uint8_t)((g->state[id / 4] & ~(3u << shift)) | ((unsigned)st << shift));
    return 0;
}

/* Lock held: task id's status and attempts, as dusk__set_status() recorded them. */
static void get_status(const dusk_graph *g, int64_t id, int *status, int *attempts)
{
    int st = (g->state[id / 4] >> (id % 4) * 2) & 3;
    static const int plain[3][2] = {{0, 1}, {1, 0}, {DUSK_TASK_ELSEWHERE, 0}};
    if (st != ST_ODD) {
        *status = plain[st][0];
        *attempts = plain[st][1];
        return;
    }
    const odd *o = odd_slot(g, id);
    *status = o->status;
    *attempts = o->attempts;
}

/* Lock held: the table of unfinished tasks (chained hash on the id). */
int dusk__live_add(dusk_graph *g, dusk__task *t)
{
    if (g->live_count >= g->live_cap) {
        int64_t cap = g->live_cap ? 2 * g->live_cap : 64;
        dusk__task **live = calloc((size_t)cap, sizeof *live);
        if (live == NULL) return DUSK_ENOMEM;
        for (int64_t b = 0; b < g->live_cap; b++)
            for (dusk__task *x = g->live[b], *next; x != NULL; x = next) {
                next = x->next_live;
                x->next_live = live[x->id & (cap - 1)];
                live[x->id & (cap - 1)] = x;
            }
        free(g->live);
        g->live = live;
        g->live_cap = cap;
    }
    dusk__task **head = &g->live[t->id & (g->live_cap - 1)];
    t->next_live = *head;
    *head = t;
    g->live_count++;
    return 0;
}

dusk__task *dusk__live_find(const dusk_graph *g, int64_t id)
{
    if (g->live_cap == 0) return NULL;
    for (dusk__task *x = g->live[id & (g->live_cap - 1)]; x != NULL; x = x->next_live)
        if (x->id == id) return x;
    return NULL;
}

static void live_remove(dusk_graph *g, dusk__task *t)
{
    if (g->live_cap == 0) return;
    for (dusk__task **p = &g->live[t->id & (g->live_cap - 1)]; *p != NULL; p = &(*p)->next_live)
        if (*p == t) {
            *p = t->next_live;
            g->live_count--;
            return;
        }
}

/* Lock held. The key and reason move from the task to the graph. */
static void record_failure(dusk_graph *g, dusk__task *t)
{
    if (g->nfailures >= g->failures_cap) {
        int64_t cap = g->failures_cap ? 2 * g->failures_cap : 16;
        failure *f = realloc(g->failures, (size_t)cap * sizeof *f);
        if (f == NULL) return; /* counted, but without its details */
        g->failures = f;
        g->failures_cap = cap;
    }
    failure *f = &g->failures[g->nfailures++];
    f->id = t->id;
    f->key = dusk__strdup(dusk__task_key(t));
    f->reason = dusk__strdup(t->reason ? t->reason : dusk_strerror(t->status));
}

/* Lock held: one item failure of task t. */
static void record_item(dusk_graph *g, const dusk__task *t, int64_t k, int status,
                        const char *reason)
{
    if (g->nifailures >= g->ifailures_cap) {
        int64_t cap = g->ifailures_cap ? 2 * g->ifailures_cap : 16;
        item_failure *f = realloc(g->ifailures, (size_t)cap * sizeof *f);
        if (f == NULL) return;
        g->ifailures = f;
        g->ifailures_cap = cap;
    }
    item_failure *f = &g->ifailures[g->nifailures++];
    f->item = dusk__task_item(t, k);
    f->task = t->id;
    f->status = status;
    f->key = dusk__strdup(dusk__task_key(t));
    f->reason = dusk__strdup(reason ? reason : dusk_strerror(status));
}

/* Lock held: the items task t failed. Tasks over named items or stacks record theirs: a
 * task that failed as a whole (its kernel, or before it ran) fails every item it had; one
 * whose items failed (every one, or some) records those that failed, with their reasons.
 * Items skipped because an item they depend on failed (DUSK_EDEP), and cancellations, are
 * not failures. */
static void record_items(dusk_graph *g, dusk__task *t)
{
    if (t->item_count == 0 && t->nitems <= 1) return;
    if (t->status != 0 && !t->from_items) {
        if (t->status == DUSK_EDEP || t->status == DUSK_ECANCELED) return;
        for (int64_t k = 0; k < t->nitems; k++)
            record_item(g, t, k, t->status, t->reason);
        return;
    }
    for (int64_t i = 0; i < t->nifails; i++)
        record_item(g, t, t->ifails[i].k, t->ifails[i].status, t->ifails[i].reason);
}

void dusk__task_free(dusk__task *t)
{
    for (int i = 0; i < t->nargs; i++)
        dusk__data_unref(t->data[i]);
    for (int64_t i = 0; i < t->nifails; i++)
        free(t->ifails[i].reason);
    free(t->ifails);
    if (t->item_state != &t->item_one) free(t->item_state);
    free(t->deps);
    free(t->key);
    free(t->reason);
    free(t);
}

void dusk__task_done(void *arg)
{
    dusk__task *t = arg;
    dusk_graph *g = t->g;
    if (t->on_done && !t->elsewhere) t->on_done(t->user, t->id, t->status);
    pthread_mutex_lock(&g->lock);
    live_remove(g, t);
    (void)dusk__set_status(g, t->id, t->elsewhere ? DUSK_TASK_ELSEWHERE : t->status, t->attempts);
    g->finished++;
    if (t->status == DUSK_ECANCELED) {
        g->cancelled++;
    } else if (t->status != 0) {
        record_failure(g, t);
        g->failed++;
    }
    if (!t->elsewhere) record_items(g, t);
    int handed = t->handed;
    pthread_mutex_unlock(&g->lock);
    /* after its status is recorded; a cancelled task never ran, and one that another rank runs
     * is observed there */
    if (dusk__observing(g) && !t->elsewhere) {
        dusk_task_event ev;
        dusk__task_event(t, DUSK_EVENT_FINISH, &ev);
        dusk__observe(&ev);
    }
    int64_t bytes = t->bytes;
    dusk__task_free(t);
    /* last: once the window counts it out, dusk_graph_wait() may return and free the graph */
    if (handed) {
        pthread_mutex_lock(&g->lock);
        dusk__leave_window(g, bytes);
        pthread_mutex_unlock(&g->lock);
    }
}

int64_t dusk_graph_cancelled(const dusk_graph *g)
{
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int64_t n = g->cancelled;
    pthread_mutex_unlock(&mg->lock);
    return n;
}

void dusk_graph_counts(const dusk_graph *g, int64_t *submitted, int64_t *finished, int64_t *failed)
{
    if (submitted) *submitted = 0;
    if (finished) *finished = 0;
    if (failed) *failed = 0;
    if (!dusk__graph_ok(g)) return;
    dusk_graph *mg = (dusk_graph *)g; /* the lock is not part of the value */
    pthread_mutex_lock(&mg->lock);
    if (submitted) *submitted = g->submitted;
    if (finished) *finished = g->finished;
    if (failed) *failed = g->failed;
    pthread_mutex_unlock(&mg->lock);
}

int dusk_task_status(const dusk_graph *g, int64_t id)
{
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int s = DUSK_EINVAL, a;
    if (id >= 0 && id < g->submitted && id < g->state_cap) get_status(g, id, &s, &a);
    pthread_mutex_unlock(&mg->lock);
    return s;
}

int dusk_graph_failure(const dusk_graph *g, int64_t i, int64_t *id, const char **key,
                       const char **reason)
{
    if (id) *id = -1;
    if (key) *key = NULL;
    if (reason) *reason = NULL;
    if (!dusk__graph_ok(g) || id == NULL || key == NULL || reason == NULL) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    int ret = 0;
    pthread_mutex_lock(&mg->lock);
    if (i < 0 || i >= g->nfailures) {
        ret = DUSK_EINVAL;
    } else {
        *id = g->failures[i].id;
        *key = g->failures[i].key;
        *reason = g->failures[i].reason;
    }
    pthread_mutex_unlock(&mg->lock);
    return ret;
}

int64_t dusk_graph_item_failure_count(const dusk_graph *g)
{
    if (!dusk__graph_ok(g)) return 0;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int64_t n = g->nifailures;
    pthread_mutex_unlock(&mg->lock);
    return n;
}

int dusk_graph_item_failure(const dusk_graph *g, int64_t i, dusk_item_failure *out)
{
    if (out == NULL) return DUSK_EINVAL;
    memset(out, 0, sizeof *out);
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    int ret = 0;
    pthread_mutex_lock(&mg->lock);
    if (i < 0 || i >= g->nifailures) {
        ret = DUSK_EINVAL;
    } else {
        const item_failure *f = &g->ifailures[i];
        *out = (dusk_item_failure){f->item, f->task, f->status, f->key ? f->key : "",
                                   f->reason ? f->reason : ""};
    }
    pthread_mutex_unlock(&mg->lock);
    return ret;
}

int dusk_task_attempts(const dusk_graph *g, int64_t id)
{
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int s, a = 0;
    if (id >= 0 && id < g->submitted && id < g->state_cap) get_status(g, id, &s, &a);
    pthread_mutex_unlock(&mg->lock);
    return a;
}

int64_t dusk_graph_peak_in_flight(const dusk_graph *g)
{
    if (!dusk__graph_ok(g)) return DUSK_EINVAL;
    dusk_graph *mg = (dusk_graph *)g;
    pthread_mutex_lock(&mg->lock);
    int64_t n = g->peak_in_flight;
    pthread_mutex_unlock(&mg->lock);
    return n;
}
