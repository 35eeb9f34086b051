/* The whole job's counts, for rank 0's progress lines and live report under several ranks
 * (mpi.c): the other ranks send their items done and failed, a 16-byte message each time,
 * never waiting (a send still in flight skips the next); rank 0 keeps the latest of each.
 * On a communicator of its own, so that nothing mixes with StarPU-MPI's messages. Private;
 * declared apart from dusk_internal.h so that the batch layer can call it. */
#ifndef DUSK_JOB_COUNTS_H
#define DUSK_JOB_COUNTS_H

#include <stdint.h>

typedef struct dusk__job_counts dusk__job_counts;

/* A collective (every rank, the program's thread). *out NULL under one rank, or when it
 * cannot be made (no whole-job counts then: rank 0 shows its own). 0 or DUSK_E*. */
int dusk__job_counts_open(dusk__job_counts **out);
/* Ranks > 0: this rank's counts so far, sent unless the last send is still in flight; `last`:
 * this rank's final counts, sent once the last send is taken (rank 0 must be polling). */
void dusk__job_counts_post(dusk__job_counts *c, int64_t done, int64_t failed, int last);
/* Rank 0: the other ranks' latest counts, summed (what came since the last call read). */
void dusk__job_counts_poll(dusk__job_counts *c, int64_t *done, int64_t *failed);
/* A collective: every message sent is received, then the exact sums over every rank of
 * `done` and `failed` (rank 0 gets them; the others get their own); c NULL is fine (one rank:
 * the sums are this rank's). Rank 0 may go on polling meanwhile, from another thread, while
 * it waits for the other ranks to end (polls after it get the last counts heard); ranks > 0
 * must have stopped posting. */
int dusk__job_counts_close(dusk__job_counts *c, int64_t done, int64_t failed, int64_t *jdone,
                           int64_t *jfailed);
/* After the close, once nothing polls any more. *c NULL is fine. */
void dusk__job_counts_free(dusk__job_counts **c);

#endif
