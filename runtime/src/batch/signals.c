/* Ctrl-C and kill for batches: the first SIGINT or SIGTERM stops gracefully (nothing more is
 * submitted, running tasks finish, what is done is saved); a second one quits at once. Two
 * signals within SIGNAL_DEBOUNCE of each other count as one: `timeout -s INT` delivers its
 * signal to the process and to its group, and both arrive together. Installed once, before
 * dusk_init() (which asks StarPU for no handler of its own).
 *
 * The handler says nothing itself: it wakes a watcher thread (sem_post is async-signal-safe),
 * which tells the batch (its STOPPING event, to the reporter) outside of the handler. The one
 * exception is the second signal: the process must end now, so the handler writes the
 * reporter's quit text (handed over ahead of time, so that the handler only calls write())
 * and calls _exit; the manifest on disk stays true. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <semaphore.h>
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
static char quit_msg[8192];   /* the reporter's text, written as it is */
static atomic_size_t quit_len;
static sem_t wake;           /* posted by the handler, and to end the watcher */
static atomic_int wake_made; /* sem_init done: the handler may post */

/* The watcher: on_stop(ctx, signal) once the first signal came. */
static pthread_t watcher;
static int watching;
static atomic_int watcher_stop;
static void (*_Atomic on_stop)(void *ctx, int sig);
static _Atomic(void *) on_stop_ctx; /* the batch opened last */

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
        size_t len = atomic_load(&quit_len);
        if (len > 0) say(quit_msg, len);
        _exit(128 + expected);
    }
    atomic_store(&first_ns, now_ns());
    if (atomic_load(&wake_made)) sem_post(&wake);
    atomic_fetch_add(&in_handler, 1);
    dusk_graph *g = atomic_load(&running);
    if (g != NULL) dusk_graph_cancel(g);
    atomic_fetch_sub(&in_handler, 1);
}

static struct sigaction old_int, old_term; /* what was there before, for restore */
static int installed;
static atomic_int catching = 1; /* 0: the caller owns the signals (dusk_batch_set_signals) */

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

static void *watch(void *arg)
{
    (void)arg;
    int told = 0;
    while (!atomic_load(&watcher_stop)) {
        if (sem_wait(&wake) != 0) continue; /* EINTR */
        int sig = atomic_load(&stop_signal);
        if (sig != 0 && !told && !atomic_load(&watcher_stop)) {
            atomic_load (&on_stop)(atomic_load(&on_stop_ctx), sig);
            told = 1;
        }
    }
    return NULL;
}

/* The watcher runs with SIGINT and SIGTERM blocked: the handler runs on the other threads.
 * Without it (no thread could be made) the batch still says STOPPING, once its run ends. */
static void start_watcher(void)
{
    if (!atomic_load(&wake_made) && sem_init(&wake, 0, 0) != 0) return;
    atomic_store(&wake_made, 1);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    atomic_store(&watcher_stop, 0);
    watching = pthread_create(&watcher, NULL, watch, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void dusk__batch_signals_restore(void)
{
    if (watching) {
        atomic_store(&watcher_stop, 1);
        sem_post(&wake);
        pthread_join(watcher, NULL);
        watching = 0;
        while (sem_trywait(&wake) == 0) /* what the handler posted, for the next batch */
            ;
    }
    atomic_store(&quit_len, 0);
    if (!installed) {
        atomic_store(&stop_signal, 0); /* a stop asked for (dusk_batch_stop) ends with its batch */
        atomic_store(&first_ns, 0);
        return;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    installed = 0;
    atomic_store(&stop_signal, 0); /* a next batch of the process starts afresh */
    atomic_store(&first_ns, 0);
}

void dusk__batch_signals_install(void (*fn)(void *ctx, int sig), void *ctx, int catch)
{
    atomic_store(&on_stop, fn);
    atomic_store(&on_stop_ctx, ctx);
    if (!watching) start_watcher();
    atomic_store(&catching, catch);
    if (catch) install();
}

/* The first signal's stop, asked for by the caller (dusk_batch_stop): no second-signal exit. */
void dusk__batch_signals_raise(int sig)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&stop_signal, &expected, sig)) return;
    atomic_store(&first_ns, now_ns());
    if (atomic_load(&wake_made)) sem_post(&wake);
    atomic_fetch_add(&in_handler, 1);
    dusk_graph *g = atomic_load(&running);
    if (g != NULL) dusk_graph_cancel(g);
    atomic_fetch_sub(&in_handler, 1);
}

/* A StarPU that catches signals itself (catch_signals) may have put its handler in place of
 * ours: ours again. */
void dusk__batch_signals_ensure(void)
{
    struct sigaction old;
    if (!atomic_load(&catching)) return;
    if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler != on_signal) install();
}

void dusk__batch_signals_set_quit(const char *text)
{
    size_t len = text ? strlen(text) : 0;
    if (len >= sizeof quit_msg) len = sizeof quit_msg - 1;
    /* the handler reads it only after the first signal, and only quit_len bytes: none while
     * it is being replaced */
    atomic_store(&quit_len, 0);
    if (len > 0) memcpy(quit_msg, text, len);
    atomic_store(&quit_len, len);
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
