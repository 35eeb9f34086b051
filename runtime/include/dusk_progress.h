/* dusk_progress: the tqdm-style progress bar of dusk's graphs, for loops that run without a
 * graph (the tutorial's serial loop and timing programs).
 *
 *   eigh  45%|█████████▍           | 58/128 [00:10<00:12, 5.60 it/s]
 *
 * A bar is drawn on stderr, at most every 0.1 s, and only when asked for: mode
 * DUSK_PROGRESS_ON always, DUSK_PROGRESS_AUTO when stderr is a terminal, DUSK_PROGRESS_OFF
 * never. dusk_init() is not needed. A bar is not thread-safe: draw it from one thread at a
 * time (under a lock or an OpenMP critical section when several threads advance it).
 */
#ifndef DUSK_PROGRESS_H
#define DUSK_PROGRESS_H

#include "dusk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dusk_progress dusk_progress; /* opaque */

/* A bar labelled `label` (copied) for `total` units. *out is NULL when no bar is to be drawn
 * (mode OFF, or AUTO without a terminal); the other calls accept that NULL and do nothing.
 * Returns 0, DUSK_EINVAL (bad mode or total < 0) or DUSK_ENOMEM. The caller owns *out. */
DUSK_NODISCARD int dusk_progress_new(const char *label, int64_t total, int mode,
                                     dusk_progress **out);

/* Show `done` units of the total; with `final` nonzero the line is drawn whatever the time
 * since the last one and ended with a newline. */
void dusk_progress_draw(dusk_progress *p, int64_t done, int final);

/* Free the bar (without drawing it again); sets *p to NULL. */
void dusk_progress_free(dusk_progress **p);

/* A duration of `seconds` as the bar writes it: "MM:SS", "H:MM:SS" from an hour, "?" when
 * negative, not a number or 100 hours or more. Writes at most len bytes, ended with '\0'. */
void dusk_progress_clock_text(char *buf, size_t len, double seconds);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_PROGRESS_H */
