/* A progress bar on stderr, after tqdm's:
 *   eigh  45%|█████████▍           | 58/128 [00:10<00:12, 5.60 it/s]
 * Drawn only by the thread that waits on the graph, at most every 0.1 s. A graph's bar
 * (dusk_graph_progress) is an observer of its tasks, as the tracer is of every graph's. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dusk_internal.h"
#include "dusk_progress.h"

struct dusk__progress {
    char label[32];
    int64_t total;
    double start, last;
    int utf8, width;
};

dusk__progress *dusk__progress_new(const char *label, int64_t total, int mode)
{
    int tty = isatty(STDERR_FILENO);
    if (mode == DUSK_PROGRESS_OFF || (mode == DUSK_PROGRESS_AUTO && !tty)) return NULL;
    dusk__progress *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->start = dusk_now();
    p->last = -1;
    p->width = 80;
    struct winsize ws;
    if (tty && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        p->width = ws.ws_col > 200 ? 200 : ws.ws_col;
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && *v != '\0') {
            p->utf8 = strstr(v, "UTF-8") != NULL || strstr(v, "utf8") != NULL;
            break;
        }
    }
    return p;
}

void dusk_progress_clock_text(char *buf, size_t len, double s)
{
    if (!(s >= 0) || s > 359999)
        snprintf(buf, len, "?");
    else if (s >= 3600)
        snprintf(buf, len, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(buf, len, "%02d:%02d", (int)s / 60, (int)s % 60);
}

void dusk__progress_draw(dusk__progress *p, int64_t done, int64_t total, int final)
{
    if (p == NULL) return;
    p->total = total;
    double now = dusk_now();
    if (!final && p->last >= 0 && now - p->last < 0.1) return;
    p->last = now;
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    double frac = p->total > 0 ? (double)done / (double)p->total : 1;
    if (frac > 1) frac = 1;
    char el[16], eta[16], tail[96];
    dusk_progress_clock_text(el, sizeof el, elapsed);
    dusk_progress_clock_text(eta, sizeof eta, rate > 0 ? (double)(p->total - done) / rate : -1);
    snprintf(tail, sizeof tail, "| %lld/%lld [%s<%s, %.2f it/s]", (long long)done,
             (long long)p->total, el, eta, rate);

    char head[48];
    snprintf(head, sizeof head, "%s %3d%%|", p->label, (int)(frac * 100));
    int barw = p->width - 1 - (int)strlen(head) - (int)strlen(tail);
    if (barw < 10) barw = 10;

    /* Eighths of a cell, as tqdm draws them, when the terminal speaks UTF-8. */
    static const char *eighths[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
    char bar[200 * 3 + 8];
    size_t used = 0;
    int cells8 = (int)(frac * barw * 8);
    for (int i = 0; i < barw; i++) {
        const char *c;
        if (cells8 >= 8 * (i + 1))
            c = p->utf8 ? "█" : "#";
        else if (cells8 > 8 * i && p->utf8)
            c = eighths[cells8 - 8 * i];
        else
            c = " ";
        size_t n = strlen(c);
        if (used + n >= sizeof bar) break;
        memcpy(bar + used, c, n);
        used += n;
    }
    bar[used] = '\0';
    fprintf(stderr, "\r%s%s%s%s", head, bar, tail, final ? "\n" : "");
    fflush(stderr);
}

void dusk__progress_free(dusk__progress **p)
{
    if (p == NULL || *p == NULL) return;
    free(*p);
    *p = NULL;
}

/* ---- a graph's bar (dusk_graph_progress): an observer of its tasks ---------------------- */

struct dusk__graph_bar {
    dusk__progress *bar;  /* NULL: not shown */
    int64_t total;        /* 0: every task counts */
    atomic_llong counted; /* tasks with DUSK_TASK_COUNTS done */
};

int dusk__graph_bar_set(dusk__graph_bar **b, const char *label, int64_t total, int mode)
{
    if (*b == NULL && (*b = calloc(1, sizeof **b)) == NULL) return 0;
    dusk__progress_free(&(*b)->bar);
    (*b)->bar = dusk__progress_new(label, total, mode);
    (*b)->total = total;
    return (*b)->bar != NULL;
}

void dusk__graph_bar_observe(void *user, const dusk_task_event *ev)
{
    dusk__graph_bar *b = user;
    if (ev->kind == DUSK_EVENT_FINISH && (ev->flags & DUSK_TASK_COUNTS))
        atomic_fetch_add(&b->counted, 1);
}

void dusk__graph_bar_draw(dusk__graph_bar *b, int64_t finished, int64_t submitted, int final)
{
    if (b != NULL && b->bar != NULL)
        dusk__progress_draw(b->bar, b->total ? atomic_load(&b->counted) : finished,
                            b->total ? b->total : submitted, final);
}

void dusk__graph_bar_free(dusk__graph_bar **b)
{
    if (*b == NULL) return;
    dusk__progress_free(&(*b)->bar);
    free(*b);
    *b = NULL;
}

/* ---- the public face of the same bar (dusk_progress.h) --------------------------------- */

struct dusk_progress {
    dusk__progress *bar;
    int64_t total;
};

int dusk_progress_new(const char *label, int64_t total, int mode, dusk_progress **out)
{
    if (out == NULL) return DUSK_EINVAL;
    *out = NULL;
    if (label == NULL || total < 0 ||
        (mode != DUSK_PROGRESS_AUTO && mode != DUSK_PROGRESS_OFF && mode != DUSK_PROGRESS_ON))
        return DUSK_EINVAL;
    if (mode == DUSK_PROGRESS_OFF || (mode == DUSK_PROGRESS_AUTO && !isatty(STDERR_FILENO)))
        return 0;
    dusk_progress *p = calloc(1, sizeof *p);
    if (p == NULL) return DUSK_ENOMEM;
    p->bar = dusk__progress_new(label, total, mode);
    if (p->bar == NULL) {
        free(p);
        return DUSK_ENOMEM;
    }
    p->total = total;
    *out = p;
    return 0;
}

void dusk_progress_draw(dusk_progress *p, int64_t done, int final)
{
    if (p != NULL) dusk__progress_draw(p->bar, done, p->total, final);
}

void dusk_progress_free(dusk_progress **p)
{
    if (p == NULL || *p == NULL) return;
    dusk__progress_free(&(*p)->bar);
    free(*p);
    *p = NULL;
}
