/* Chunk sizes (dusk_chunker.h): how many items a task computes. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "dusk_chunker.h"

struct dusk_chunker {
    int64_t k, max_k, largest;
    int workers, tail;
    double target; /* seconds a task should last, when automatic */
    pthread_mutex_t lock;
    int64_t items; /* measured so far */
    double seconds;
};

int dusk_chunker_new(int64_t k, int64_t max_k, int workers, dusk_chunker **out)
{
    if (out == NULL) return DUSK_EINVAL;
    *out = NULL;
    if (k < 0 || max_k < 0 || workers < 1) return DUSK_EINVAL;
    dusk_chunker *c = calloc(1, sizeof *c);
    if (c == NULL) return DUSK_ENOMEM;
    c->k = k;
    c->max_k = max_k ? max_k : INT64_MAX;
    c->workers = workers;
    c->target = DUSK_CHUNK_SECONDS;
    c->tail = DUSK_CHUNK_TAIL;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return 0;
}

int dusk_chunker_set_target(dusk_chunker *c, double seconds, int tail)
{
    if (c == NULL || !(seconds >= 0 && seconds <= 60) || tail < 0 || tail > 64) return DUSK_EINVAL;
    c->target = seconds > 0 ? seconds : DUSK_CHUNK_SECONDS;
    c->tail = tail > 0 ? tail : DUSK_CHUNK_TAIL;
    return 0;
}

int64_t dusk_chunker_next(dusk_chunker *c, int64_t remaining)
{
    if (remaining <= 0) return 0;
    int64_t k = c->k;
    if (k == 0) {
        pthread_mutex_lock(&c->lock);
        double per_item = c->items > 0 ? c->seconds / (double)c->items : 0;
        pthread_mutex_unlock(&c->lock);
        /* nothing measured yet: one item, which is right for items that take long */
        k = 1;
        if (per_item > 0) {
            double want = ceil(c->target / per_item);
            k = want > 1e9 ? 1000000000 : (int64_t)want;
        }
        /* What is left shared out, so that every worker has some at the end: at most a
         * tail-th (by default a sixteenth) of it per worker. A short batch is then one item per
         * task, which costs it
         * nothing (tens of microseconds) and keeps it the same from run to run. */
        int64_t share = remaining / (c->tail * (int64_t)c->workers);
        if (k > share) k = share;
    }
    if (k > c->max_k) k = c->max_k;
    if (k > remaining) k = remaining;
    if (k < 1) k = 1;
    if (k > c->largest) c->largest = k;
    return k;
}

void dusk_chunker_add(dusk_chunker *c, int64_t items, double seconds)
{
    if (c == NULL || items <= 0 || !(seconds >= 0)) return;
    pthread_mutex_lock(&c->lock);
    c->items += items;
    c->seconds += seconds;
    pthread_mutex_unlock(&c->lock);
}

int64_t dusk_chunker_largest(const dusk_chunker *c)
{
    return c ? c->largest : 0;
}

void dusk_chunker_free(dusk_chunker **c)
{
    if (c == NULL || *c == NULL) return;
    pthread_mutex_destroy(&(*c)->lock);
    free(*c);
    *c = NULL;
}
