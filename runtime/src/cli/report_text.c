/* The standard text reporter (dusk_cli.h): a batch's events and records in dusk-eigh's words,
 * on stdout and stderr. This file prints; the batch layer below it (runtime/src/batch/) does
 * not, and everything said here comes from there as an event or a record. Public API only. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dusk_cli.h"
#include "dusk_progress.h"

/* Progress lines, for a stderr that is not a terminal (a job's output file): rank 0's, from
 * START to END; under several ranks they count the whole job (every rank's counts, which
 * rank 0 hears every second: dusk_batch_event's job_done), and a last line at the end says
 * the job's exact counts. Events come only as rows are saved; a thread of its own writes a line
 * when none came for `most` seconds (tasks that last minutes), from the last counts known. */
typedef struct lines {
    pthread_mutex_t lock; /* guards what follows, between the events and the thread */
    pthread_cond_t wake;
    pthread_t thread;
    int running, stop;
    char prog[160], plural[32];
    int ranks;                   /* > 1: several ranks */
    int whole;                   /* the counts are the whole job's (always under one rank) */
    int64_t job_before, items;   /* several ranks: the whole job's done before, and items */
    double least, most;          /* seconds between two lines: at least, at most */
    int64_t before, total, step; /* done before (one rank), out of, items per line (5%) */
    int64_t done, failed;        /* the last event's, of this run */
    double seconds, last;        /* the last event's time, and the last line's */
    int64_t last_count;          /* items processed at the last line */
} lines;

/* What the reporter keeps between events, one per batch. */
typedef struct text {
    dusk_progress *bar; /* rank 0, from START to END */
    lines *lines;       /* or these, rank 0, from START to END */
    FILE *out;          /* the resuming line and the summary: stdout, or stderr for a library's
                           caller, whose stdout is its own (dusk_cli_report_text_stderr) */
} text;

int dusk_cli_progress_interval(double *seconds, char *why, size_t whylen)
{
    const char *s = getenv("DUSK_PROGRESS_INTERVAL");
    if (seconds) *seconds = 10;
    if (seconds == NULL) return DUSK_EINVAL;
    if (s == NULL || *s == '\0') return 0;
    if (strcmp(s, "off") == 0) {
        *seconds = 0;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || end == s || errno == ERANGE || !isfinite(v) || v < 0 || v > 86400) {
        if (why && whylen)
            snprintf(why, whylen,
                     "DUSK_PROGRESS_INTERVAL='%.40s': expected seconds between progress lines "
                     "(0 to 86400), or off",
                     s);
        return DUSK_EINVAL;
    }
    *seconds = v;
    return 0;
}

/* "MM:SS", "H:MM:SS", or "?" */
/* One line, at time `now` (seconds since the run's start). Under l->lock. */
static void write_line(lines *l, double now)
{
    int64_t before = l->ranks > 1 && l->whole ? l->job_before : l->before;
    int64_t total = l->ranks > 1 && l->whole ? l->items : l->total;
    int64_t count = before + l->done + l->failed;
    double rate = now > 0 ? (double)(l->done + l->failed) / now : 0;
    char left[16];
    dusk_progress_clock_text(left, sizeof left, rate > 0 ? (double)(total - count) / rate : -1);
    fprintf(stderr, "%s: progress%s: %lld of %lld %s (%d%%), %lld failed, %.2f %s/s, %s left\n",
            l->prog, l->whole ? "" : " of rank 0's share", (long long)count, (long long)total,
            l->plural, total > 0 ? (int)((double)count * 100 / (double)total) : 100,
            (long long)l->failed, rate, l->plural, left);
    fflush(stderr);
    l->last = now;
    l->last_count = count;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A line when none came for l->most seconds. */
static void *lines_main(void *arg)
{
    lines *l = arg;
    double start = mono() - l->seconds;
    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        double due = start + l->last + l->most;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        double wait = due - mono();
        if (wait <= 0) {
            write_line(l, mono() - start);
            continue;
        }
        until.tv_sec += (time_t)wait;
        until.tv_nsec += (long)((wait - floor(wait)) * 1e9);
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        (void)pthread_cond_timedwait(&l->wake, &l->lock, &until);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

static void lines_free(lines **lp)
{
    lines *l = *lp;
    if (l == NULL) return;
    if (l->running) {
        pthread_mutex_lock(&l->lock);
        l->stop = 1;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
    }
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    free(l);
    *lp = NULL;
}

/* Progress lines from START on (rank 0, stderr not a terminal, the progress setting
 * automatic, DUSK_PROGRESS_INTERVAL not off). */
static void lines_start(text *t, const dusk_batch_event *ev, const dusk_batch_info *info)
{
    double least;
    if (dusk_cli_progress_interval(&least, NULL, 0) != 0 || least <= 0) return;
    lines *l = calloc(1, sizeof *l);
    if (l == NULL) return;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(l->prog, sizeof l->prog, "%s", info->program);
    snprintf(l->plural, sizeof l->plural, "%s", info->plural);
    l->ranks = dusk_rank_count();
    l->least = least;
    l->most = 12 * least;
    l->before = l->ranks > 1 ? 0 : ev->done_before;
    l->total = l->ranks > 1 ? ev->todo : info->items;
    l->whole = l->ranks == 1;
    l->job_before = ev->done_before;
    l->items = info->items;
    l->step = ev->todo / 20 > 1 ? ev->todo / 20 : 1;
    l->last_count = l->before;
    /* the program's signals are for its other threads (the batch's stop, Python's handler) */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    l->running = pthread_create(&l->thread, NULL, lines_main, l) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    t->lines = l;
}

static void lines_progress(lines *l, const dusk_batch_event *ev)
{
    pthread_mutex_lock(&l->lock);
    if (l->ranks > 1 && ev->job_done >= 0 && !l->whole) {
        l->whole = 1; /* every 5% of the job's items, from now on */
        l->before = l->job_before;
        l->last_count = l->job_before;
        l->step = l->items / 20 > 1 ? l->items / 20 : 1;
    }
    l->done = l->whole && l->ranks > 1 ? ev->job_done : ev->done;
    l->failed = l->whole && l->ranks > 1 ? ev->job_failed : ev->failed;
    l->seconds = ev->seconds;
    int64_t count = l->before + l->done + l->failed;
    /* every 5% of the items, but not within `least` seconds of the last line; the last
     * event's counts are the summary's */
    if (!ev->final && ev->seconds - l->last >= l->least && count - l->last_count >= l->step) {
        write_line(l, ev->seconds);
        pthread_cond_signal(&l->wake); /* the thread's next line is due later */
    } else if (ev->final && l->ranks > 1 && l->whole) {
        write_line(l, ev->seconds); /* the job's exact counts, which no rank's summary says */
    }
    pthread_mutex_unlock(&l->lock);
}

/* "program", or "program: rank K" under several ranks: each line on stderr names its rank. */
static void prog_of(const dusk_batch_info *info, char *buf, size_t len)
{
    if (dusk_rank_count() > 1)
        snprintf(buf, len, "%s: rank %d", info->program, dusk_rank());
    else
        snprintf(buf, len, "%s", info->program);
}

static const char *under_ranks(void)
{
    return dusk_rank_count() > 1 ? " (under mpirun or srun, with any number of ranks)" : "";
}

/* "to resume: CMD", or, for a program whose one flag names the directory and resumes too (a
 * --continue DIR run, as a job script would hold it), to run the same command again. */
static const char *resume_words(const dusk_batch_info *info)
{
    if (info->output_flag && info->resume_flag && *info->resume_flag &&
        strcmp(info->output_flag, info->resume_flag) == 0)
        return "to go on, run the same command again (a job script's line unchanged)";
    return "to resume";
}

/* The resume command in the record, and the line a second signal prints (rank 0). */
static void on_open(dusk_batch *b, const dusk_batch_info *info, const char *prog)
{
    char *hint = NULL;
    if (info->dir == NULL || dusk_cli_resume_command(b, &hint) != 0) return;
    (void)!dusk_batch_set_resume_command(b, hint);
    if (dusk_rank() == 0) {
        size_t len = strlen(prog) + strlen(hint) + 192;
        char *quit = malloc(len);
        if (quit) {
            snprintf(quit, len, "%s: quit at once; %s%s: %s\n", prog, resume_words(info),
                     under_ranks(), hint);
            (void)!dusk_batch_set_quit_message(b, quit);
        }
        free(quit);
    }
    free(hint);
}

static void on_start(text *t, const dusk_batch_event *ev, const dusk_batch_info *info)
{
    const dusk_config *cfg = dusk_current_config();
    if (dusk_rank() != 0 || cfg == NULL) return;
    if (info->resume && cfg->verbose >= 0) {
        fprintf(t->out, "%s: resuming %s: %lld of %lld %s already done\n", info->program, info->dir,
                (long long)ev->done_before, (long long)info->items, info->plural);
        fflush(t->out);
    }
    /* one bar: rank 0's share of the batch, a fair sample of the whole */
    char label[64];
    snprintf(label, sizeof label, "%s%s", info->label, dusk_rank_count() > 1 ? ", rank 0" : "");
    dusk_progress_free(&t->bar);
    lines_free(&t->lines);
    if (cfg->progress == DUSK_PROGRESS_AUTO && !isatty(STDERR_FILENO))
        lines_start(t, ev, info);
    else
        (void)!dusk_progress_new(label, ev->todo, cfg->progress, &t->bar);
}

static void on_stopping(const dusk_batch_info *info)
{
    if (dusk_rank() != 0) return; /* the other ranks stop without saying so */
    /* after a newline that ends the progress bar's line, on a terminal */
    fprintf(stderr,
            "%s%s: stopping: running tasks finish, then what is done is saved (signal again to "
            "quit at once)\n",
            isatty(STDERR_FILENO) ? "\n" : "", info->program);
    fflush(stderr);
}

/* The failures that are causes, the first 10 of them. */
static void on_failures(dusk_batch *b, const dusk_batch_info *info, const char *prog)
{
    int64_t count = dusk_batch_failure_count(b);
    if (count > 1000000) count = 1000000;
    for (int64_t i = 0; i < count && i < 10; i++) {
        dusk_batch_failure f;
        if (dusk_batch_get_failure(b, i, &f) != 0) continue;
        if (f.subject)
            fprintf(stderr, "%s: %s: %s\n", prog, f.subject, f.reason);
        else
            fprintf(stderr, "%s: %s %s-%lld failed: %s\n", prog, info->singular, f.step,
                    (long long)f.item, f.reason);
    }
    if (count > 10)
        fprintf(stderr, "%s: ... and %lld more failed %s\n", prog, (long long)(count - 10),
                info->plural);
}

static void print_summary(FILE *out, const dusk_batch_info *info, const dusk_batch_summary *s)
{
    int64_t ran = s->done + s->failed;
    if (info->items == 0) {
        fprintf(out, "Processed 0 %s: the batch is empty\n", info->plural);
        return;
    }
    if (ran == 0) {
        fprintf(out, "Nothing to do: all %lld %s were done before\n", (long long)info->items,
                info->plural);
        return;
    }
    fprintf(out, "Processed %lld %s in %.3f s (%.2f it/s)", (long long)ran,
            ran == 1 ? info->singular : info->plural, s->seconds,
            s->seconds > 0 ? (double)ran / s->seconds : 0.0);
    if (dusk_rank_count() > 1) fprintf(out, " on %d ranks", dusk_rank_count());
    if (s->done_before) fprintf(out, ", %lld more done before", (long long)s->done_before);
    if (s->failed) {
        fprintf(out, "; %lld FAILED", (long long)s->failed);
        if (info->dir) fprintf(out, " (see %s/failures.json)", info->dir);
    }
    fprintf(out, "\n");
}

/* A run that stopped early: what the manifest on disk holds, and how to go on. */
static void print_stopped(const dusk_batch_info *info, const dusk_batch_state *st, const char *prog)
{
    if (st->dir == NULL) {
        fprintf(stderr, "%s: stopped before the end; nothing was saved (no %s)\n", prog,
                info->output_flag);
        return;
    }
    fprintf(stderr, "%s: stopped: %lld of %lld %s done and saved in %s%s\n", prog,
            (long long)st->saved, (long long)info->items, info->plural, st->dir,
            st->saved_current ? ""
                              : " (the manifest could not be brought up to date: what it lists "
                                "is what is saved)");
    fprintf(stderr, "%s: %s%s: %s\n", prog, resume_words(info), under_ranks(),
            st->resume ? st->resume : "");
}

static void on_end(text *t, dusk_batch *b, const dusk_batch_info *info, const char *prog)
{
    dusk_progress_free(&t->bar);
    lines_free(&t->lines);
    dusk_batch_state st;
    dusk_batch_summary s;
    const dusk_config *cfg = dusk_current_config();
    if (dusk_batch_get_state(b, &st) != 0 || dusk_batch_get_summary(b, &s) != 0 || !st.ran ||
        dusk_rank() != 0)
        return;
    if (st.outcome == DUSK_BATCH_FINISHED)
        print_summary(t->out, info, &s);
    else
        print_stopped(info, &st, prog);
    fflush(t->out);
    if (cfg != NULL && cfg->verbose > 0)
        fprintf(stderr,
                "%s: largest chunk %lld %s in one StarPU task%s, peak %lld tasks in flight\n", prog,
                (long long)s.largest_chunk, info->plural,
                info->chunk ? "" : " (chosen automatically)", (long long)s.peak_in_flight);
}

static void text_event(void *user, const dusk_batch_event *ev)
{
    text *t = user;
    dusk_batch_info info;
    char prog[160];
    if (ev->kind == DUSK_BATCH_EVENT_DETACH) {
        dusk_progress_free(&t->bar);
        lines_free(&t->lines);
        free(t);
        return;
    }
    if (dusk_batch_get_info(ev->batch, &info) != 0) return;
    prog_of(&info, prog, sizeof prog);
    switch (ev->kind) {
    case DUSK_BATCH_EVENT_OPEN:
        on_open(ev->batch, &info, prog);
        break;
    case DUSK_BATCH_EVENT_REFUSED:
    case DUSK_BATCH_EVENT_ERROR:
        fprintf(stderr, "%s: %s\n", prog, ev->why);
        break;
    case DUSK_BATCH_EVENT_WARNING:
        fprintf(stderr, "%s: warning: %s\n", prog, ev->why);
        break;
    case DUSK_BATCH_EVENT_START:
        on_start(t, ev, &info);
        break;
    case DUSK_BATCH_EVENT_PROGRESS:
        if (t->bar) dusk_progress_draw(t->bar, ev->done, ev->final);
        if (t->lines) lines_progress(t->lines, ev);
        break;
    case DUSK_BATCH_EVENT_STOPPING:
        on_stopping(&info);
        break;
    case DUSK_BATCH_EVENT_FAILURES:
        on_failures(ev->batch, &info, prog);
        break;
    case DUSK_BATCH_EVENT_END:
        on_end(t, ev->batch, &info, prog);
        break;
    default: /* an event of a later dusk: nothing to say */
        break;
    }
}

static int report_text(dusk_batch *b, FILE *out)
{
    if (b == NULL) return DUSK_EINVAL;
    text *t = calloc(1, sizeof *t);
    if (t == NULL) return DUSK_ENOMEM;
    t->out = out;
    int ret = dusk_batch_set_reporter(b, text_event, t);
    if (ret != 0) free(t);
    return ret;
}

int dusk_cli_report_text(dusk_batch *b)
{
    return report_text(b, stdout);
}

int dusk_cli_report_text_stderr(dusk_batch *b)
{
    return report_text(b, stderr);
}
