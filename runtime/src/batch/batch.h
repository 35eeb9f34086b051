/* What the batch layer's files share (runtime/src/batch/). Private. */
#ifndef DUSK_BATCH_INTERNAL_H
#define DUSK_BATCH_INTERNAL_H

#include "dusk.h"
#include "dusk_batch.h"

/* signals.c: SIGINT and SIGTERM (see there). */
void dusk__batch_signals_install(const char *prog, int quiet);
void dusk__batch_signals_ensure(void);
/* The text printed when a second signal quits at once (the resume command). */
void dusk__batch_signals_set_quit(const char *text);
/* The graph the first signal cancels (NULL: none; waits until no handler holds the last). */
void dusk__batch_signals_graph(dusk_graph *g);
/* The handlers that were there before, back (the batch is over), and no signal seen. */
void dusk__batch_signals_restore(void);
/* The first signal that came, or 0. */
int dusk__batch_stop_signal(void);

#endif
