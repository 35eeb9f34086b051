/* Ctrl-C and kill for batches: the first SIGINT or SIGTERM stops gracefully (nothing more is
 * submitted, running tasks finish, what is done is saved); a second one quits at once, with
 * the resume command (written ahead of time, so that the handler only calls write()). Two
 * signals within SIGNAL_DEBOUNCE of each other count as one: `timeout -s INT` delivers its
 * signal to the process and to its group, and both arrive together. Installed once, before
 * dusk_init() (which asks StarPU for no handler of its own). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"

#define SIGNAL_DEBOUNCE 0.02 /* seconds */

/* Shared with the handler, which may run on any thread: lock-free atomics only. */
static _Atomic(dusk_graph *) running;
static atomic_int stop_signal;
static atomic_int in_handler; /* handlers between reading `running` and done with it */
static atomic_llong first_ns; /* when the first signal came, CLOCK_MONOTONIC */
static int quiet;             /* ranks other than 0 stop without saying so */
static int tty;
static char stopping_msg[256];
static char quit_msg[8192]; /* "PROG: quit at once; to resume: COMMAND\n" */
static size_t quit_len;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void say(const char *s, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, s, len);
        if (w <= 0) return;
        s += w;
        len -= (size_t)w;
    }
}

static void on_signal(int sig)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&stop_signal, &expected, sig)) {
        if (now_ns() - atomic_load(&first_ns) < (long long)(SIGNAL_DEBOUNCE * 1e9)) return;
        /* the second one: at once; the manifest on disk stays true */
        if (!quiet && quit_len > 0) say(quit_msg, quit_len);
        _exit(128 + expected);
    }
    atomic_store(&first_ns, now_ns());
    /* after a newline that ends the progress bar's line, on a terminal */
    if (!quiet) say(stopping_msg + !tty, strlen(stopping_msg + !tty));
    atomic_fetch_add(&in_handler, 1);
    dusk_graph *g = atomic_load(&running);
    if (g != NULL) dusk_graph_cancel(g);
    atomic_fetch_sub(&in_handler, 1);
}

static struct sigaction old_int, old_term; /* what was there before, for restore */
static int installed;

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, installed ? NULL : &old_int);
    sigaction(SIGTERM, &sa, installed ? NULL : &old_term);
    installed = 1;
}

void dusk__batch_signals_restore(void)
{
    if (!installed) return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    installed = 0;
    atomic_store(&stop_signal, 0); /* a next batch of the process starts afresh */
    atomic_store(&first_ns, 0);
    quit_len = 0;
}

void dusk__batch_signals_install(const char *prog, int is_quiet)
{
    quiet = is_quiet;
    tty = isatty(STDERR_FILENO);
    snprintf(stopping_msg, sizeof stopping_msg,
             "\n%s: stopping: running tasks finish, then what is done is saved (signal again "
             "to quit at once)\n",
             prog);
    install();
}

/* A StarPU that catches signals itself (catch_signals) may have put its handler in place of
 * ours: ours again. */
void dusk__batch_signals_ensure(void)
{
    struct sigaction old;
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != on_signal) install();
}

void dusk__batch_signals_set_quit(const char *text)
{
    size_t len = strlen(text);
    if (len >= sizeof quit_msg) len = sizeof quit_msg - 1;
    /* the handler reads it only after the first signal: written before the run starts */
    memcpy(quit_msg, text, len);
    quit_msg[len] = '\0';
    quit_len = len;
}

void dusk__batch_signals_graph(dusk_graph *g)
{
    atomic_store(&running, g);
    if (g == NULL)
        while (atomic_load(&in_handler) > 0) /* no handler may still hold it */
            ;
    else if (atomic_load(&stop_signal) != 0)
        dusk_graph_cancel(g); /* a signal came during start-up */
}

int dusk__batch_stop_signal(void)
{
    return atomic_load(&stop_signal);
}
