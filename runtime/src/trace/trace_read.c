/* Loading trace.json files into a dusk_trace_set (dusk_trace.h): the set's storage, the
 * fields of one event line (read with the JSON reader of jsonl.h), and the files loaded,
 * whole or truncated, checked to be of one run and lined up on one timeline. What a set holds
 * is read back in trace_set.c; what is worked out from it is in trace_analysis.c, the merged
 * trace in trace_json.c, the HTML report in trace_report.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dusk_trace.h"
#include "io.h"
#include "jsonl.h"
#include "trace_read.h"

/* ---- the set's storage --------------------------------------------------------------------- */

/* Strings and dep lists live in blocks that never move, so tasks can point into them. */
static void *arena_alloc(dusk_trace_set *s, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (s->arena == NULL || s->arena->used + n > s->arena->cap) {
        size_t cap = n > (1 << 20) ? n : (1 << 20);
        struct dusk__arena *a = malloc(sizeof *a + cap);
        if (a == NULL) return NULL;
        a->next = s->arena;
        a->used = 0;
        a->cap = cap;
        s->arena = a;
    }
    void *p = s->arena->mem + s->arena->used;
    s->arena->used += n;
    return p;
}

static char *arena_strdup(dusk_trace_set *s, const char *str)
{
    size_t n = strlen(str) + 1;
    char *p = arena_alloc(s, n);
    if (p) memcpy(p, str, n);
    return p;
}

/* Codelet and implementation names repeat: keep one copy of each. */
static const char *intern(dusk_trace_set *s, const char *str)
{
    for (int i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i], str) == 0) return s->names[i];
    if (s->nnames == s->names_cap) {
        int cap = s->names_cap ? 2 * s->names_cap : 16;
        const char **n = realloc(s->names, (size_t)cap * sizeof *n);
        if (n == NULL) return NULL;
        s->names = n;
        s->names_cap = cap;
    }
    const char *p = arena_strdup(s, str);
    if (p) s->names[s->nnames++] = p;
    return p;
}

/* ---- one event line ------------------------------------------------------------------------ */

/* The fields of one event line that dusk writes; strings point into the line, decoded in
 * place. */
typedef struct ev {
    const char *ph, *name, *cat;
    double pid, tid, ts, dur;
    int has_pid, has_tid, has_ts, has_dur;
    struct {
        const char *codelet, *impl, *name, *params, *version, *reason, *program, *run;
        double id, rows, cols, bytes, status, attempts, rank, nranks, epoch, t1;
        int has_id, has_rank, has_nranks, has_epoch, has_t1;
        int ndeps;
        int64_t *deps;
        /* "items":{"first":F,"count":C,"step":S} and "failed_items":N */
        double first, count, step, failed_items, truncated;
        int has_items, has_first, has_count, has_step, has_failed_items, has_truncated;
    } a;
} ev;
typedef struct parser {
    dusk__json j;  /* the line */
    ev *e;         /* the event it holds */
    int64_t *deps; /* growable, reused from line to line */
    int deps_cap;
} parser;

static int dep(dusk__json *j, void *user)
{
    parser *ps = user;
    ev *e = ps->e;
    double d;
    if (dusk__json_number(j, &d)) return -1;
    if (d != floor(d) || fabs(d) > 9e15) return dusk__json_fail(j, "a dep is not a task id");
    if (e->a.ndeps == ps->deps_cap) {
        int cap = ps->deps_cap ? 2 * ps->deps_cap : 16;
        int64_t *n = realloc(ps->deps, (size_t)cap * sizeof *n);
        if (n == NULL) return dusk__json_fail(j, "out of memory");
        ps->deps = n;
        ps->deps_cap = cap;
    }
    ps->deps[e->a.ndeps++] = (int64_t)d;
    return 0;
}

static int deps_array(dusk__json *j, parser *ps)
{
    ps->e->a.ndeps = 0;
    if (dusk__json_array(j, dep, ps)) return -1;
    ps->e->a.deps = ps->deps;
    return 0;
}

#define NUMF(key, dst)                                                                             \
    if (strcmp(k, key) == 0) return dusk__json_number(j, &(dst));
#define NUMF_HAS(key, dst, has)                                                                    \
    if (strcmp(k, key) == 0) return (has) = 1, dusk__json_number(j, &(dst));
#define STRF(key, dst)                                                                             \
    if (strcmp(k, key) == 0) return dusk__json_string(j, &(dst));

static int items_field(dusk__json *j, const char *k, void *user)
{
    parser *ps = user;
    ev *e = ps->e;
    NUMF_HAS("first", e->a.first, e->a.has_first)
    NUMF_HAS("count", e->a.count, e->a.has_count)
    NUMF_HAS("step", e->a.step, e->a.has_step)
    return dusk__json_skip(j, 2);
}

static int args_field(dusk__json *j, const char *k, void *user)
{
    parser *ps = user;
    ev *e = ps->e;
    NUMF_HAS("id", e->a.id, e->a.has_id)
    STRF("codelet", e->a.codelet)
    STRF("impl", e->a.impl)
    NUMF("rows", e->a.rows)
    NUMF("cols", e->a.cols)
    NUMF("bytes", e->a.bytes)
    NUMF("status", e->a.status)
    NUMF("attempts", e->a.attempts)
    STRF("name", e->a.name)
    NUMF_HAS("rank", e->a.rank, e->a.has_rank)
    NUMF_HAS("nranks", e->a.nranks, e->a.has_nranks)
    NUMF_HAS("epoch", e->a.epoch, e->a.has_epoch)
    NUMF_HAS("t1", e->a.t1, e->a.has_t1)
    STRF("params", e->a.params)
    STRF("program", e->a.program)
    STRF("run", e->a.run)
    STRF("version", e->a.version)
    STRF("reason", e->a.reason)
    if (strcmp(k, "deps") == 0) return deps_array(j, ps);
    if (strcmp(k, "items") == 0) return e->a.has_items = 1, dusk__json_object(j, items_field, ps);
    NUMF_HAS("failed_items", e->a.failed_items, e->a.has_failed_items)
    NUMF_HAS("truncated", e->a.truncated, e->a.has_truncated)
    return dusk__json_skip(j, 1);
}

static int event_field(dusk__json *j, const char *k, void *user)
{
    parser *ps = user;
    ev *e = ps->e;
    STRF("ph", e->ph)
    STRF("name", e->name)
    STRF("cat", e->cat)
    NUMF_HAS("pid", e->pid, e->has_pid)
    NUMF_HAS("tid", e->tid, e->has_tid)
    NUMF_HAS("ts", e->ts, e->has_ts)
    NUMF_HAS("dur", e->dur, e->has_dur)
    if (strcmp(k, "args") == 0) return dusk__json_object(j, args_field, ps);
    return dusk__json_skip(j, 1);
}

/* ---- loading ------------------------------------------------------------------------------- */

static int is_int(double d, double lo, double hi)
{
    return d == floor(d) && d >= lo && d <= hi;
}

static dusk__rank *rank_get(dusk_trace_set *s, int rank)
{
    for (int i = 0; i < s->nranks; i++)
        if (s->ranks[i].rank == rank) return &s->ranks[i];
    dusk__rank *r = realloc(s->ranks, (size_t)(s->nranks + 1) * sizeof *r);
    if (r == NULL) return NULL;
    s->ranks = r;
    r = &s->ranks[s->nranks++];
    memset(r, 0, sizeof *r);
    r->rank = rank;
    r->file = -1;
    r->params = "";
    return r;
}

static int worker_add(dusk_trace_set *s, int rank, int tid, const char *name)
{
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].rank == rank && s->workers[i].tid == tid) {
            if (name && (s->workers[i].name = arena_strdup(s, name)) == NULL) return DUSK_ENOMEM;
            return 0;
        }
    if (s->nworkers == s->workers_cap) {
        int cap = s->workers_cap ? 2 * s->workers_cap : 16;
        dusk__worker *w = realloc(s->workers, (size_t)cap * sizeof *w);
        if (w == NULL) return DUSK_ENOMEM;
        s->workers = w;
        s->workers_cap = cap;
    }
    char buf[64];
    if (name == NULL) snprintf(buf, sizeof buf, "worker %d", tid);
    dusk__worker *w = &s->workers[s->nworkers];
    if ((w->name = arena_strdup(s, name ? name : buf)) == NULL) return DUSK_ENOMEM;
    w->rank = rank;
    w->tid = tid;
    s->nworkers++;
    return 0;
}

/* The run-level fields that a rank's metadata records carry: the dusk_run record at the end
 * always, and the process_name record at the start may too (so that a trace cut before its
 * end still says when it started, and what ran). */
static int rank_meta(dusk_trace_set *s, dusk__rank *r, const ev *e)
{
    if (e->a.has_epoch) {
        r->epoch = e->a.epoch;
        r->has_epoch = 1;
    }
    if (e->a.has_nranks && is_int(e->a.nranks, 1, 1 << 24)) r->nranks = (int)e->a.nranks;
    if (e->a.program && (r->program = arena_strdup(s, e->a.program)) == NULL) return DUSK_ENOMEM;
    if (e->a.run && (r->run = arena_strdup(s, e->a.run)) == NULL) return DUSK_ENOMEM;
    return 0;
}

/* One event line of file `fi`; returns 0 or a DUSK_E* code with `err` set. */
static int load_event(dusk_trace_set *s, parser *ps, int fi, const char **err)
{
    ev e;
    memset(&e, 0, sizeof e);
    ps->e = &e;
    if (dusk__json_object(&ps->j, event_field, ps)) {
        *err = ps->j.err;
        return ps->j.err && strcmp(ps->j.err, "out of memory") == 0 ? DUSK_ENOMEM : DUSK_EFORMAT;
    }
    *err = NULL;
    if (e.ph == NULL || e.name == NULL || !e.has_pid || !is_int(e.pid, 0, 1 << 24))
        return *err = "not a dusk event (no ph, name or pid)", DUSK_EFORMAT;
    int pid = (int)e.pid;
    dusk__rank *r = rank_get(s, pid);
    if (r == NULL) return DUSK_ENOMEM;
    if (r->file >= 0 && r->file != fi)
        return *err = "this rank is also in an earlier file", DUSK_EINVAL;
    r->file = fi;

    if (strcmp(e.ph, "M") == 0) {
        if (strcmp(e.name, "thread_name") == 0) {
            if (!e.has_tid || !is_int(e.tid, -1, 1 << 24) || e.a.name == NULL)
                return *err = "thread_name without tid or name", DUSK_EFORMAT;
            if (e.tid >= 0) return worker_add(s, pid, (int)e.tid, e.a.name);
        } else if (strcmp(e.name, "process_name") == 0) {
            return rank_meta(s, r, &e);
        } else if (strcmp(e.name, "dusk_run") == 0) {
            if (!e.a.has_epoch || !e.a.has_t1 || e.a.t1 < 0)
                return *err = "dusk_run without epoch or t1", DUSK_EFORMAT;
            r->has_run = 1;
            r->nranks = 1;
            r->t1 = e.a.t1 * 1e-6;
            if ((r->params = arena_strdup(s, e.a.params ? e.a.params : "")) == NULL)
                return DUSK_ENOMEM;
            /* a merged trace says which of its ranks were cut short */
            if (e.a.has_truncated && e.a.truncated != 0) r->truncated = 1;
            return rank_meta(s, r, &e);
        }
        return 0; /* others: nothing to keep */
    }
    if (strcmp(e.ph, "X") != 0)
        return *err = "an event of a kind dusk does not write", DUSK_EFORMAT;
    if (!e.has_tid || !e.has_ts || !e.has_dur || !e.a.has_id || e.a.codelet == NULL)
        return *err = "task event without tid, ts, dur, id or codelet", DUSK_EFORMAT;
    /* any int status: a kernel may return 1, and a newer dusk may have more codes */
    if (!is_int(e.tid, -1, 1 << 24) || e.dur < 0 || !is_int(e.a.id, 0, 9e15) ||
        !is_int(e.a.status, INT_MIN, INT_MAX) || !is_int(e.a.attempts, 0, 1 << 30) ||
        !is_int(e.a.rows, 0, 9e15) || !is_int(e.a.cols, 0, 9e15) || !is_int(e.a.bytes, 0, 9e15))
        return *err = "task event with a field out of range", DUSK_EFORMAT;
    if (e.a.has_items) {
        if (!e.a.has_first || !e.a.has_count)
            return *err = "items without first or count", DUSK_EFORMAT;
        if (!e.a.has_step) e.a.step = 1;
        if (!is_int(e.a.first, 0, 9e15) || !is_int(e.a.count, 0, 9e15) ||
            !is_int(e.a.step, 1, 9e15) ||
            (e.a.count > 0 && e.a.first + (e.a.count - 1) * e.a.step > 9e15))
            return *err = "items with a field out of range", DUSK_EFORMAT;
    }
    if (e.a.has_failed_items && (!e.a.has_items || !is_int(e.a.failed_items, 0, e.a.count)))
        return *err = "failed_items without items, or more than their count", DUSK_EFORMAT;
    if (s->ntasks == s->tasks_cap) {
        int64_t cap = s->tasks_cap ? 2 * s->tasks_cap : 1024;
        dusk_trace_task *t = realloc(s->tasks, (size_t)cap * sizeof *t);
        if (t == NULL) return DUSK_ENOMEM;
        s->tasks = t;
        s->tasks_cap = cap;
    }
    dusk_trace_task *t = &s->tasks[s->ntasks];
    memset(t, 0, sizeof *t);
    t->rank = pid;
    t->worker = (int)e.tid;
    t->id = (int64_t)e.a.id;
    t->key = arena_strdup(s, e.name);
    t->codelet = intern(s, e.a.codelet);
    t->impl = intern(s, e.a.impl ? e.a.impl : "CPU");
    t->start = e.ts * 1e-6;
    t->dur = e.dur * 1e-6;
    t->rows = (int64_t)e.a.rows;
    t->cols = (int64_t)e.a.cols;
    t->bytes = (int64_t)e.a.bytes;
    t->status = (int)e.a.status;
    t->attempts = (int)e.a.attempts;
    if (e.a.has_items && e.a.count > 0) {
        t->item_first = (int64_t)e.a.first;
        t->item_count = (int64_t)e.a.count;
        t->item_step = (int64_t)e.a.step;
        /* without a count of its own, a failed task's items all failed */
        t->items_failed = e.a.has_failed_items ? (int64_t)e.a.failed_items
                          : t->status != 0     ? t->item_count
                                               : 0;
    }
    if (e.a.reason && (t->reason = arena_strdup(s, e.a.reason)) == NULL) return DUSK_ENOMEM;
    t->ndeps = e.a.ndeps;
    if (e.a.ndeps) {
        int64_t *d = arena_alloc(s, (size_t)e.a.ndeps * sizeof *d);
        if (d == NULL) return DUSK_ENOMEM;
        memcpy(d, e.a.deps, (size_t)e.a.ndeps * sizeof *d);
        t->deps = d;
    }
    if (!t->key || !t->codelet || !t->impl) return DUSK_ENOMEM;
    s->ntasks++;
    s->files[fi].ntasks++;
    if (t->worker >= 0) return worker_add(s, pid, t->worker, NULL);
    return 0;
}

static const char HEAD[] = "{\"traceEvents\":[";
static const char TAIL[] = "],\"displayTimeUnit\":\"ms\"}";

/* The last line of a file, without its newline: is it cut short (the writer stopped in the
 * middle of it) rather than whole? A line is whole when it parses as a JSON value; the
 * closing line is cut when it is a proper prefix of TAIL. */
static int cut_short(const char *line)
{
    size_t n = strlen(line);
    if (line[0] == ']') return n < sizeof TAIL - 1 && strncmp(line, TAIL, n) == 0;
    char *copy = dusk__strdup(line); /* the reader decodes strings in place */
    if (copy == NULL) return 0;
    dusk__json j;
    dusk__json_init(&j, copy);
    int cut = dusk__json_skip(&j, 0) != 0;
    free(copy);
    return cut;
}

static int load_file(dusk_trace_set *s, const char *path, int fi, parser *ps, char *why,
                     size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int err = errno;
        char text[128];
        dusk__errno_text(err, text, sizeof text);
        dusk__set_why(why, whylen, "%s: %s", path, text);
        return DUSK_EIO;
    }
    dusk__file *file = &s->files[fi];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long lineno = 0;
    /* state 0: before HEAD, 1: events, 2: after an event without ',' (the last), 3: done */
    int rc = 0, state = 0;
    const char *err = NULL;
    while (rc == 0 && (n = getline(&line, &cap, f)) != -1) {
        int whole = n > 0 && line[n - 1] == '\n'; /* only the file's last line may lack it */
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if ((size_t)n != strlen(line)) {
            rc = DUSK_EFORMAT, err = "NUL byte";
        } else if (state == 0) {
            if (strcmp(line, HEAD) != 0)
                rc = DUSK_EFORMAT, err = "not a dusk trace (it does not start with "
                                         "{\"traceEvents\":[ on a line of its own)";
            state = 1;
        } else if (state == 3) {
            if (n != 0) rc = DUSK_EFORMAT, err = "text after the end of the trace";
        } else if (!whole && n > 0 && cut_short(line)) {
            lineno--; /* not read: the trace is truncated after the line before */
            break;
        } else if (line[0] == ']') {
            if (strcmp(line, TAIL) != 0)
                rc = DUSK_EFORMAT, err = "bad closing line";
            else if (state != 2)
                rc = DUSK_EFORMAT, err = "the last event ends with ','";
            state = 3;
        } else if (state == 2) {
            rc = DUSK_EFORMAT, err = "missing ',' at the end of the previous line";
        } else {
            dusk__json_init(&ps->j, line);
            rc = load_event(s, ps, fi, &err);
            if (rc == 0) {
                dusk__json_ws(&ps->j);
                if (*ps->j.p == ',')
                    ps->j.p++;
                else
                    state = 2;
                dusk__json_ws(&ps->j);
                if (*ps->j.p != '\0') rc = DUSK_EFORMAT, err = "one event per line expected";
            }
        }
    }
    int read_err = ferror(f) ? errno : 0;
    free(line);
    fclose(f);
    file->lines = lineno;
    if (rc == 0 && read_err) {
        char text[128];
        dusk__errno_text(read_err, text, sizeof text);
        dusk__set_why(why, whylen, "%s: %s", path, text);
        return DUSK_EIO;
    }
    if (rc != 0) {
        dusk__set_why(why, whylen, "%s:%lld: %s", path, lineno, err ? err : dusk_strerror(rc));
        return rc;
    }
    if (state == 0) {
        dusk__set_why(why, whylen, "%s: empty file, not a dusk trace", path);
        return DUSK_EFORMAT;
    }
    file->truncated = state != 3;
    for (int i = 0; i < s->nranks; i++) {
        dusk__rank *r = &s->ranks[i];
        if (r->file != fi) continue;
        if (!r->has_run && file->truncated) {
            r->truncated = 1;
        } else if (!r->has_run) {
            dusk__set_why(why, whylen, "%s: rank %d has no dusk_run record", path, r->rank);
            return DUSK_EFORMAT;
        }
    }
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    const dusk__key *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_rank(const void *a, const void *b)
{
    const dusk__rank *x = a, *y = b;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static int cmp_worker(const void *a, const void *b)
{
    const dusk__worker *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->tid < y->tid ? -1 : x->tid > y->tid;
}

#define RUN_SLACK 10.0 /* s */

static void clock_text(char *buf, size_t len, double epoch)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "%.0f s after 1970", epoch);
}

/* Files of two runs do not go together: the ranks of one run all run at the same time, and
 * agree on how many they are. Ranks read from one file (a merged trace) are not compared. */
static int check_one_run(const dusk_trace_set *s, const char *const *paths, char *why,
                         size_t whylen)
{
    for (int i = 0; i < s->nranks; i++)
        for (int j = i + 1; j < s->nranks; j++) {
            const dusk__rank *a = &s->ranks[i], *b = &s->ranks[j];
            if (a->file == b->file) continue;
            if (a->file > b->file) {
                const dusk__rank *c = a;
                a = b, b = c;
            }
            if (a->nranks && b->nranks && a->nranks != b->nranks) {
                dusk__set_why(why, whylen,
                              "%s and %s are traces of different runs: rank %d of %s is one of "
                              "%d ranks, rank %d of %s one of %d",
                              paths[a->file], paths[b->file], a->rank, paths[a->file], a->nranks,
                              b->rank, paths[b->file], b->nranks);
                return DUSK_EINVAL;
            }
            if (a->run && b->run) { /* the writer names the run: that settles it */
                if (strcmp(a->run, b->run) == 0) continue;
                dusk__set_why(why, whylen,
                              "%s and %s are traces of different runs: rank %d is of run '%s', "
                              "rank %d of run '%s'",
                              paths[a->file], paths[b->file], a->rank, a->run, b->rank, b->run);
                return DUSK_EINVAL;
            }
            /* Otherwise by time, with some slack: a rank may open its trace after another
             * has closed its own when the program makes no collective call in between (the
             * ranks' start-up differs by up to a second or so, their clocks by much less). */
            if (a->has_epoch && b->has_epoch &&
                (a->epoch + a->t1 + RUN_SLACK < b->epoch ||
                 b->epoch + b->t1 + RUN_SLACK < a->epoch)) {
                char a0[64], b0[64];
                clock_text(a0, sizeof a0, a->epoch);
                clock_text(b0, sizeof b0, b->epoch);
                dusk__set_why(why, whylen,
                              "%s and %s are traces of different runs: rank %d ran from %s for "
                              "%.3f s, rank %d from %s for %.3f s: not at the same time",
                              paths[a->file], paths[b->file], a->rank, a0, a->t1, b->rank, b0,
                              b->t1);
                return DUSK_EINVAL;
            }
        }
    return 0;
}

static int finish_load(dusk_trace_set *s, const char *const *paths, char *why, size_t whylen)
{
    /* a rank cut short did not record when it ended: its last task's end stands in */
    for (int i = 0; i < s->nranks; i++)
        if (!s->ranks[i].has_run) s->ranks[i].t1 = 0;
    for (int64_t i = 0; i < s->ntasks; i++) {
        const dusk_trace_task *t = &s->tasks[i];
        for (int r = 0; r < s->nranks; r++)
            if (s->ranks[r].rank == t->rank && !s->ranks[r].has_run &&
                t->start + t->dur > s->ranks[r].t1)
                s->ranks[r].t1 = t->start + t->dur;
    }
    int rc = check_one_run(s, paths, why, whylen);
    if (rc != 0) return rc;
    /* and its rank count is the others' */
    int nranks = 0;
    for (int i = 0; i < s->nranks; i++)
        if (s->ranks[i].nranks > nranks) nranks = s->ranks[i].nranks;
    for (int i = 0; i < s->nranks; i++)
        if (s->ranks[i].nranks == 0) s->ranks[i].nranks = nranks ? nranks : s->nranks;

    /* line the ranks up on the earliest one's wall clock; a rank whose start is not known
     * is taken to have started with it */
    s->base_epoch = INFINITY;
    for (int i = 0; i < s->nranks; i++)
        if (s->ranks[i].has_epoch && s->ranks[i].epoch < s->base_epoch)
            s->base_epoch = s->ranks[i].epoch;
    s->has_epoch = isfinite(s->base_epoch);
    if (!s->has_epoch) s->base_epoch = 0;
    for (int i = 0; i < s->nranks; i++)
        s->ranks[i].shift = s->ranks[i].has_epoch ? s->ranks[i].epoch - s->base_epoch : 0;
    for (int64_t i = 0; i < s->ntasks; i++) {
        dusk_trace_task *t = &s->tasks[i];
        for (int r = 0; r < s->nranks; r++)
            if (s->ranks[r].rank == t->rank) {
                t->start += s->ranks[r].shift;
                break;
            }
    }
    qsort(s->ranks, (size_t)s->nranks, sizeof *s->ranks, cmp_rank);
    if (s->nworkers) /* none in a trace cut before its first worker: s->workers is NULL */
        qsort(s->workers, (size_t)s->nworkers, sizeof *s->workers, cmp_worker);

    s->byid = malloc((size_t)(s->ntasks ? s->ntasks : 1) * sizeof *s->byid);
    if (s->byid == NULL) return DUSK_ENOMEM;
    for (int64_t i = 0; i < s->ntasks; i++)
        s->byid[i] = (dusk__key){s->tasks[i].rank, s->tasks[i].id, i};
    qsort(s->byid, (size_t)s->ntasks, sizeof *s->byid, cmp_key);
    for (int64_t i = 1; i < s->ntasks; i++)
        if (s->byid[i].rank == s->byid[i - 1].rank && s->byid[i].id == s->byid[i - 1].id) {
            int r = s->byid[i].rank, fi = 0;
            for (int k = 0; k < s->nranks; k++)
                if (s->ranks[k].rank == r) fi = s->ranks[k].file;
            dusk__set_why(why, whylen, "%s: task id %lld of rank %d appears twice", paths[fi],
                          (long long)s->byid[i].id, r);
            return DUSK_EFORMAT;
        }
    return 0;
}

int dusk_trace_load(const char *const *paths, int npaths, dusk_trace_set **out, char *why,
                    size_t whylen)
{
    char whybuf[512];
    if (why == NULL || whylen == 0) why = whybuf, whylen = sizeof whybuf;
    why[0] = '\0';
    if (out) *out = NULL;
    if (out == NULL || paths == NULL || npaths < 1) {
        dusk__set_why(why, whylen, "no trace file given");
        return DUSK_EINVAL;
    }
    dusk_trace_set *s = calloc(1, sizeof *s);
    if (s == NULL || (s->files = calloc((size_t)npaths, sizeof *s->files)) == NULL) {
        free(s);
        dusk__set_why(why, whylen, "out of memory loading traces");
        return DUSK_ENOMEM;
    }
    s->nfiles = npaths;
    parser ps = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < npaths; i++) {
        if (paths[i] == NULL) {
            dusk__set_why(why, whylen, "trace file %d of %d is NULL", i + 1, npaths);
            rc = DUSK_EINVAL;
        } else {
            rc = load_file(s, paths[i], i, &ps, why, whylen);
        }
    }
    free(ps.deps);
    if (rc == 0 && s->nranks == 0) {
        /* every file was cut before its first event: nothing to show */
        dusk__set_why(why, whylen, "%s: truncated after line %lld: no event to read", paths[0],
                      (long long)s->files[0].lines);
        rc = DUSK_EFORMAT;
    }
    if (rc == 0) rc = finish_load(s, paths, why, whylen);
    if (rc != 0) {
        if (rc == DUSK_ENOMEM) dusk__set_why(why, whylen, "out of memory loading traces");
        dusk_trace_set_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}
