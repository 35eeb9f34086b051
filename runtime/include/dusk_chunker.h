/* dusk_chunker: chunk sizes, for programs that cut a batch of items into chunks of their own
 * (the batch layer, dusk_batch.h, and the stack calls of dusk_linalg.h use it too). It needs
 * nothing but the C library: no graph, no StarPU. */
#ifndef DUSK_CHUNKER_H
#define DUSK_CHUNKER_H

#include "dusk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How many items each task should compute: a fixed k, or, automatically, enough that a task
 * lasts about DUSK_CHUNK_SECONDS (so that the runtime's cost per task, a few microseconds,
 * vanishes) from the time items have taken so far; one item per task until something is
 * known, so that large items (n = 1000) stay one per task; at most max_k (memory); and no
 * more than a sixteenth per worker of what is left, so that no worker starves at the end (and
 * a short batch is one item per task). dusk_chunker_add() may be called from any thread (an
 * observer). */
#define DUSK_CHUNK_SECONDS 0.002

typedef struct dusk_chunker dusk_chunker;

/* k > 0: always k; 0: automatic. max_k >= 1 bounds it (0: no bound). workers: how many run
 * the tasks (dusk_worker_count()). 0, DUSK_EINVAL, DUSK_ENOMEM. */
DUSK_NODISCARD int dusk_chunker_new(int64_t k, int64_t max_k, int workers, dusk_chunker **out);
/* Automatic chunks, for tasks that cost more than a few microseconds around their items (one
 * that hands its items to another process, dusk.map(processes=True), pays a round trip and
 * wake-ups in both): a task should last `seconds` (0: DUSK_CHUNK_SECONDS; at most 60), and
 * take at most 1/(tail x workers) of what is left (0: 16; 1 to 64), fewer, larger tasks near
 * the end. 0 or DUSK_EINVAL. */
#define DUSK_CHUNK_TAIL 16
DUSK_NODISCARD int dusk_chunker_set_target(dusk_chunker *c, double seconds, int tail);
/* The size of the next chunk when `remaining` items are left (>= 1 when remaining >= 1). */
int64_t dusk_chunker_next(dusk_chunker *c, int64_t remaining);
/* `items` items were computed in `seconds` of task time. Thread-safe. */
void dusk_chunker_add(dusk_chunker *c, int64_t items, double seconds);
/* The largest chunk given so far. */
int64_t dusk_chunker_largest(const dusk_chunker *c);
void dusk_chunker_free(dusk_chunker **c);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_CHUNKER_H */
