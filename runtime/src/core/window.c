/* A graph's window: the tasks and reads in flight, bounded in count and bytes; the submitting
 * thread's waits for room (which poll for a cancel and redraw the progress bar); and the
 * operations a held graph records until dusk_graph_compute(). */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "graph_internal.h"

static const double redraw_seconds = 0.1;

/* Whether dusk_graph_watch_cancel()'s flag is set. Another thread writes it while this one
 * reads (a waiting language's main thread, dusk_eigh_stack's callers): read as an atomic
 * (relaxed: it orders nothing else), so that a writer storing atomically is race-free (and
 * ThreadSanitizer agrees). */
static int cancel_flagged(const dusk_graph *g)
{
    return g->cancel_flag != NULL && __atomic_load_n(g->cancel_flag, __ATOMIC_RELAXED) != 0;
}

/* Lock held: a cancel asked for through dusk_graph_watch_cancel()'s flag. */
void dusk__poll_cancel(dusk_graph *g)
{
    if (cancel_flagged(g)) atomic_store(&g->cancel, 1);
}

/* Wait on the graph's condition for at most redraw_seconds; lock held. */
void dusk__wait_a_little(dusk_graph *g)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(redraw_seconds * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    dusk__poll_cancel(g);
}

/* Lock held: redraw the bar (it rate-limits itself; none: nothing). */
void dusk__redraw(dusk_graph *g, int final)
{
    dusk__graph_bar_draw(g->bar, g->finished, g->submitted, final);
}

static int window_full(const dusk_graph *g, int64_t count, int64_t bytes)
{
    return g->in_flight >= count ||
           (g->in_flight >= g->window_floor && g->bytes_in_flight + bytes > 0 &&
            g->bytes_in_flight + bytes > g->window_bytes);
}

/* Lock held: make room for one more thing in flight, of `bytes`, and count it. A full
 * window is left to drain to half before submitting again, so the submitting thread wakes
 * once per batch of completions rather than once per task (on a small machine it shares
 * the cores with the workers, and each wake-up pushes a worker off its core). */
void dusk__enter_window(dusk_graph *g, int64_t bytes)
{
    if (window_full(g, g->window, bytes)) {
        while (g->in_flight > g->window / 2 || (g->in_flight >= g->window_floor &&
                                                g->bytes_in_flight + bytes > g->window_bytes / 2)) {
            g->draining = 1;
            dusk__wait_a_little(g);
            dusk__redraw(g, 0);
        }
        g->draining = 0;
    }
    g->in_flight++;
    g->bytes_in_flight += bytes;
    if (g->in_flight > g->peak_in_flight) g->peak_in_flight = g->in_flight;
}

/* Lock held: one thing in flight, of `bytes`, finished. */
void dusk__leave_window(dusk_graph *g, int64_t bytes)
{
    g->in_flight--;
    g->bytes_in_flight -= bytes;
    if ((g->draining && g->in_flight <= g->window / 2) || g->in_flight == 0 || g->waiting_for_task)
        pthread_cond_signal(&g->cond);
}

int dusk__hold_op(dusk_graph *g, int kind, void *p)
{
    if (g->nops == g->ops_cap) {
        int64_t cap = g->ops_cap ? 2 * g->ops_cap : 256;
        op *o = realloc(g->ops, (size_t)cap * sizeof *o);
        if (o == NULL) return DUSK_ENOMEM;
        g->ops = o;
        g->ops_cap = cap;
    }
    g->ops[g->nops++] = (op){kind, p};
    return 0;
}

int dusk__graph_cancelling(const dusk_graph *g)
{
    return atomic_load(&((dusk_graph *)g)->cancel);
}
