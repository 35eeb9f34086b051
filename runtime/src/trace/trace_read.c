/* Reading trace.json files back (dusk_trace.h): loading, figures, the critical path, the
 * text summary and the merged trace. The HTML report is in trace_report.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk_trace.h"
#include "trace_read.h"
#include "trace_util.h"

/* ---- strings and colours ---------------------------------------------------------------- */

const char *dusk__codelet_color(const char *codelet)
{
    static const struct {
        const char *name, *color;
    } known[] = {{"dusk_gen", "#9ecae1"},
                 {"dusk_gram", "#fdae6b"},
                 {"dusk_eigh", "#a1d99b"},
                 {"dusk_verify", "#bcbddc"},
                 {"dusk_load", "#fdd0a2"}};
    static const char *palette[] = {"#8dd3c7", "#ffffb3", "#bebada", "#fb8072",
                                    "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
                                    "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f"};
    if (codelet == NULL) return palette[8];
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(codelet, known[i].name) == 0) return known[i].color;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *c = codelet; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    return palette[h % (sizeof palette / sizeof palette[0])];
}

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

void dusk_trace_set_free(dusk_trace_set **sp)
{
    if (sp == NULL || *sp == NULL) return;
    dusk_trace_set *s = *sp;
    while (s->arena) {
        struct dusk__arena *a = s->arena;
        s->arena = a->next;
        free(a);
    }
    free(s->tasks);
    free(s->ranks);
    free(s->workers);
    free(s->names);
    free(s->byid);
    free(s);
    *sp = NULL;
}

/* ---- parsing one line ---------------------------------------------------------------------- */

/* The fields of one event line that dusk writes; strings point into the line, decoded in
 * place. */
typedef struct ev {
    const char *ph, *name, *cat;
    double pid, tid, ts, dur;
    int has_pid, has_tid, has_ts, has_dur;
    struct {
        const char *codelet, *impl, *name, *params, *version, *reason;
        double id, rows, cols, bytes, status, attempts, rank, nranks, epoch, t1;
        int has_id, has_rank, has_epoch, has_t1;
        int ndeps;
        int64_t *deps;
    } a;
} ev;

typedef struct parser {
    char *p;
    const char *err;
    int64_t *deps; /* growable, reused from line to line */
    int deps_cap;
} parser;

static void ws(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t')
        ps->p++;
}

static int fail(parser *ps, const char *err)
{
    if (ps->err == NULL) ps->err = err;
    return -1;
}

static int hex4(const char *h, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = h[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A JSON string, decoded in place (the result is never longer than its encoding). */
static int str(parser *ps, const char **out)
{
    ws(ps);
    if (*ps->p != '"') return fail(ps, "expected a string");
    char *r = ++ps->p, *w = r;
    *out = w;
    for (;;) {
        unsigned char c = (unsigned char)*r;
        if (c == '\0' || c == '\n') return fail(ps, "unterminated string");
        if (c < 0x20) return fail(ps, "control character in a string");
        if (c == '"') break;
        if (c != '\\') {
            *w++ = *r++;
            continue;
        }
        r++;
        switch (*r) {
        case '"':
        case '\\':
        case '/':
            *w++ = *r++;
            break;
        case 'b':
            *w++ = '\b';
            r++;
            break;
        case 'f':
            *w++ = '\f';
            r++;
            break;
        case 'n':
            *w++ = '\n';
            r++;
            break;
        case 'r':
            *w++ = '\r';
            r++;
            break;
        case 't':
            *w++ = '\t';
            r++;
            break;
        case 'u': {
            unsigned u, lo;
            if (hex4(r + 1, &u) != 0) return fail(ps, "bad \\u escape");
            r += 5;
            if (u >= 0xd800 && u < 0xdc00 && r[0] == '\\' && r[1] == 'u' && hex4(r + 2, &lo) == 0 &&
                lo >= 0xdc00 && lo < 0xe000) {
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                r += 6;
            }
            if (u == 0) return fail(ps, "NUL in a string");
            if (u < 0x80) {
                *w++ = (char)u;
            } else if (u < 0x800) {
                *w++ = (char)(0xc0 | (u >> 6));
                *w++ = (char)(0x80 | (u & 0x3f));
            } else if (u < 0x10000) {
                *w++ = (char)(0xe0 | (u >> 12));
                *w++ = (char)(0x80 | ((u >> 6) & 0x3f));
                *w++ = (char)(0x80 | (u & 0x3f));
            } else {
                *w++ = (char)(0xf0 | (u >> 18));
                *w++ = (char)(0x80 | ((u >> 12) & 0x3f));
                *w++ = (char)(0x80 | ((u >> 6) & 0x3f));
                *w++ = (char)(0x80 | (u & 0x3f));
            }
            break;
        }
        default:
            return fail(ps, "bad escape in a string");
        }
    }
    ps->p = r + 1;
    *w = '\0'; /* w <= r: the closing quote or before it */
    return 0;
}

static int num(parser *ps, double *out)
{
    ws(ps);
    char *s = ps->p;
    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) return fail(ps, "expected a number");
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(*out)) return fail(ps, "bad number");
    ps->p = end;
    return 0;
}

static int lit(parser *ps, char c)
{
    ws(ps);
    if (*ps->p != c)
        return fail(ps, c == ':' ? "expected ':'" : c == '}' ? "expected '}'" : "bad syntax");
    ps->p++;
    return 0;
}

static int skip_value(parser *ps, int depth);

static int skip_container(parser *ps, char close, int depth)
{
    ps->p++;
    ws(ps);
    if (*ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            const char *k;
            if (str(ps, &k) || lit(ps, ':')) return -1;
        }
        if (skip_value(ps, depth + 1)) return -1;
        ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        return lit(ps, close);
    }
}

static int skip_value(parser *ps, int depth)
{
    ws(ps);
    if (depth > 16) return fail(ps, "nested too deeply");
    if (*ps->p == '"') {
        const char *s;
        return str(ps, &s);
    }
    if (*ps->p == '{') return skip_container(ps, '}', depth);
    if (*ps->p == '[') return skip_container(ps, ']', depth);
    for (const char *w = "true\0false\0null\0"; *w; w += strlen(w) + 1)
        if (strncmp(ps->p, w, strlen(w)) == 0) {
            ps->p += strlen(w);
            return 0;
        }
    double d;
    return num(ps, &d);
}

static int deps_array(parser *ps, ev *e)
{
    if (lit(ps, '[')) return -1;
    e->a.ndeps = 0;
    ws(ps);
    if (*ps->p == ']') {
        ps->p++;
        return 0;
    }
    for (;;) {
        double d;
        if (num(ps, &d)) return -1;
        if (d != floor(d) || fabs(d) > 9e15) return fail(ps, "a dep is not a task id");
        if (e->a.ndeps == ps->deps_cap) {
            int cap = ps->deps_cap ? 2 * ps->deps_cap : 16;
            int64_t *n = realloc(ps->deps, (size_t)cap * sizeof *n);
            if (n == NULL) return fail(ps, "out of memory");
            ps->deps = n;
            ps->deps_cap = cap;
        }
        ps->deps[e->a.ndeps++] = (int64_t)d;
        ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        e->a.deps = ps->deps;
        return lit(ps, ']');
    }
}

/* Parse `{"key":value,...}` calling field() for each key. */
static int object(parser *ps, ev *e, int (*field)(parser *, ev *, const char *))
{
    if (lit(ps, '{')) return -1;
    ws(ps);
    if (*ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        const char *k;
        if (str(ps, &k) || lit(ps, ':') || field(ps, e, k)) return -1;
        ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        return lit(ps, '}');
    }
}

#define NUMF(key, dst)                                                                             \
    if (strcmp(k, key) == 0) return num(ps, &(dst));
#define NUMF_HAS(key, dst, has)                                                                    \
    if (strcmp(k, key) == 0) return (has) = 1, num(ps, &(dst));
#define STRF(key, dst)                                                                             \
    if (strcmp(k, key) == 0) return str(ps, &(dst));

static int args_field(parser *ps, ev *e, const char *k)
{
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
    NUMF("nranks", e->a.nranks)
    NUMF_HAS("epoch", e->a.epoch, e->a.has_epoch)
    NUMF_HAS("t1", e->a.t1, e->a.has_t1)
    STRF("params", e->a.params)
    STRF("version", e->a.version)
    STRF("reason", e->a.reason)
    if (strcmp(k, "deps") == 0) return deps_array(ps, e);
    return skip_value(ps, 1);
}

static int event_field(parser *ps, ev *e, const char *k)
{
    STRF("ph", e->ph)
    STRF("name", e->name)
    STRF("cat", e->cat)
    NUMF_HAS("pid", e->pid, e->has_pid)
    NUMF_HAS("tid", e->tid, e->has_tid)
    NUMF_HAS("ts", e->ts, e->has_ts)
    NUMF_HAS("dur", e->dur, e->has_dur)
    if (strcmp(k, "args") == 0) return object(ps, e, args_field);
    return skip_value(ps, 1);
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

/* One event line of file `fi`; returns 0 or a DUSK_E* code with `err` set. */
static int load_event(dusk_trace_set *s, parser *ps, int fi, const char **err)
{
    ev e;
    memset(&e, 0, sizeof e);
    if (object(ps, &e, event_field)) {
        *err = ps->err;
        return ps->err && strcmp(ps->err, "out of memory") == 0 ? DUSK_ENOMEM : DUSK_EFORMAT;
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
        } else if (strcmp(e.name, "dusk_run") == 0) {
            if (!e.a.has_epoch || !e.a.has_t1 || e.a.t1 < 0)
                return *err = "dusk_run without epoch or t1", DUSK_EFORMAT;
            r->has_run = 1;
            r->nranks = is_int(e.a.nranks, 1, 1 << 24) ? (int)e.a.nranks : 1;
            r->epoch = e.a.epoch;
            r->t1 = e.a.t1 * 1e-6;
            if ((r->params = arena_strdup(s, e.a.params ? e.a.params : "")) == NULL)
                return DUSK_ENOMEM;
        }
        return 0; /* process_name and others: nothing to keep */
    }
    if (strcmp(e.ph, "X") != 0)
        return *err = "an event of a kind dusk does not write", DUSK_EFORMAT;
    if (!e.has_tid || !e.has_ts || !e.has_dur || !e.a.has_id || e.a.codelet == NULL)
        return *err = "task event without tid, ts, dur, id or codelet", DUSK_EFORMAT;
    if (!is_int(e.tid, -1, 1 << 24) || e.dur < 0 || !is_int(e.a.id, 0, 9e15) ||
        !is_int(e.a.status, -1000, 0) || !is_int(e.a.attempts, 0, 1 << 30) ||
        !is_int(e.a.rows, 0, 9e15) || !is_int(e.a.cols, 0, 9e15) || !is_int(e.a.bytes, 0, 9e15))
        return *err = "task event with a field out of range", DUSK_EFORMAT;
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
    if (t->worker >= 0) return worker_add(s, pid, t->worker, NULL);
    return 0;
}

static const char HEAD[] = "{\"traceEvents\":[";
static const char TAIL[] = "],\"displayTimeUnit\":\"ms\"}";

static int load_file(dusk_trace_set *s, const char *path, int fi, parser *ps, char *why,
                     size_t whylen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return DUSK_EIO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0, state = 0; /* 0: before HEAD, 1: events, 2: after an event without ',', 3: done */
    const char *err = NULL;
    while (rc == 0 && (n = getline(&line, &cap, f)) != -1) {
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
        } else if (line[0] == ']') {
            if (strcmp(line, TAIL) != 0)
                rc = DUSK_EFORMAT, err = "bad closing line";
            else if (state != 2)
                rc = DUSK_EFORMAT, err = "the last event ends with ','";
            state = 3;
        } else if (state == 2) {
            rc = DUSK_EFORMAT, err = "missing ',' at the end of the previous line";
        } else {
            ps->p = line;
            ps->err = NULL;
            rc = load_event(s, ps, fi, &err);
            if (rc == 0) {
                ws(ps);
                if (*ps->p == ',')
                    ps->p++;
                else
                    state = 2;
                ws(ps);
                if (*ps->p != '\0') rc = DUSK_EFORMAT, err = "one event per line expected";
            }
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        rc = DUSK_EIO;
    } else if (rc == 0 && state != 3) {
        snprintf(why, whylen, "%s: %s", path,
                 lineno == 0 ? "empty file, not a dusk trace"
                             : "truncated: no closing line (was the run interrupted?)");
        rc = DUSK_EFORMAT;
    } else if (rc != 0) {
        snprintf(why, whylen, "%s:%ld: %s", path, lineno, err ? err : dusk_strerror(rc));
    }
    free(line);
    fclose(f);
    if (rc == 0) {
        for (int i = 0; i < s->nranks; i++)
            if (s->ranks[i].file == fi && !s->ranks[i].has_run) {
                snprintf(why, whylen, "%s: rank %d has no dusk_run record", path, s->ranks[i].rank);
                return DUSK_EFORMAT;
            }
    }
    return rc;
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

/* Index of task (rank, id), or -1. */
int64_t dusk__trace_find(const dusk_trace_set *s, int rank, int64_t id)
{
    int64_t lo = 0, hi = s->ntasks - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const dusk__key *k = &s->byid[mid];
        if (k->rank == rank && k->id == id) return k->index;
        if (k->rank < rank || (k->rank == rank && k->id < id))
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int dusk__trace_worker_index(const dusk_trace_set *s, int rank, int tid)
{
    int lo = 0, hi = s->nworkers - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const dusk__worker *w = &s->workers[mid];
        if (w->rank == rank && w->tid == tid) return mid;
        if (w->rank < rank || (w->rank == rank && w->tid < tid))
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static int finish_load(dusk_trace_set *s, const char *const *paths, char *why, size_t whylen)
{
    /* line the ranks up on the earliest one's wall clock */
    s->base_epoch = INFINITY;
    for (int i = 0; i < s->nranks; i++)
        if (s->ranks[i].epoch < s->base_epoch) s->base_epoch = s->ranks[i].epoch;
    for (int i = 0; i < s->nranks; i++)
        s->ranks[i].shift = s->ranks[i].epoch - s->base_epoch;
    for (int64_t i = 0; i < s->ntasks; i++) {
        dusk_trace_task *t = &s->tasks[i];
        for (int r = 0; r < s->nranks; r++)
            if (s->ranks[r].rank == t->rank) {
                t->start += s->ranks[r].shift;
                break;
            }
    }
    qsort(s->ranks, (size_t)s->nranks, sizeof *s->ranks, cmp_rank);
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
            snprintf(why, whylen, "%s: task id %lld of rank %d appears twice", paths[fi],
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
        snprintf(why, whylen, "no trace file given");
        return DUSK_EINVAL;
    }
    dusk_trace_set *s = calloc(1, sizeof *s);
    if (s == NULL) return DUSK_ENOMEM;
    parser ps = {0};
    int rc = 0;
    for (int i = 0; rc == 0 && i < npaths; i++)
        rc = load_file(s, paths[i], i, &ps, why, whylen);
    free(ps.deps);
    if (rc == 0) rc = finish_load(s, paths, why, whylen);
    if (rc != 0) {
        if (rc == DUSK_ENOMEM) snprintf(why, whylen, "out of memory loading traces");
        dusk_trace_set_free(&s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- figures ------------------------------------------------------------------------------- */

int64_t dusk_trace_task_count(const dusk_trace_set *set)
{
    return set ? set->ntasks : 0;
}

int dusk_trace_task_at(const dusk_trace_set *set, int64_t i, dusk_trace_task *out)
{
    if (set == NULL || out == NULL || i < 0 || i >= set->ntasks) {
        if (out) memset(out, 0, sizeof *out);
        return DUSK_EINVAL;
    }
    *out = set->tasks[i];
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_cstats(const void *a, const void *b)
{
    const dusk__cstats *x = a, *y = b;
    if (x->total != y->total) return x->total > y->total ? -1 : 1;
    return strcmp(x->codelet, y->codelet);
}

/* nearest-rank percentile of sorted v[0..n) */
static double percentile(const double *v, int64_t n, double p)
{
    if (n == 0) return 0;
    int64_t k = (int64_t)ceil(p / 100.0 * (double)n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* Critical path: tasks in (rank, id) order, which is submission order, so a task's deps come
 * before it; a dep that does not (or is missing) is ignored. Tasks that never ran are not on
 * it. */
static int critical_path(const dusk_trace_set *s, dusk__analysis *a)
{
    int64_t n = s->ntasks;
    double *best = malloc((size_t)(n ? n : 1) * sizeof *best);
    int64_t *pred = malloc((size_t)(n ? n : 1) * sizeof *pred);
    if (!best || !pred) {
        free(best);
        free(pred);
        return DUSK_ENOMEM;
    }
    int64_t end = -1;
    for (int64_t k = 0; k < n; k++) {
        int64_t i = s->byid[k].index;
        const dusk_trace_task *t = &s->tasks[i];
        best[i] = -1;
        pred[i] = -1;
        if (t->worker < 0) continue;
        double b = 0;
        for (int d = 0; d < t->ndeps; d++) {
            if (t->deps[d] >= t->id) continue;
            int64_t j = dusk__trace_find(s, t->rank, t->deps[d]);
            if (j >= 0 && best[j] >= 0 && (pred[i] < 0 || best[j] > b)) b = best[j], pred[i] = j;
        }
        best[i] = b + t->dur;
        if (end < 0 || best[i] > best[end]) end = i;
    }
    a->npath = 0;
    for (int64_t i = end; i >= 0; i = pred[i])
        a->npath++;
    a->path = malloc((size_t)(a->npath ? a->npath : 1) * sizeof *a->path);
    if (a->path == NULL) {
        free(best);
        free(pred);
        return DUSK_ENOMEM;
    }
    int64_t k = a->npath;
    for (int64_t i = end; i >= 0; i = pred[i])
        a->path[--k] = i;
    a->st.critical_path = end >= 0 ? best[end] : 0;
    a->st.critical_path_tasks = a->npath;
    free(best);
    free(pred);
    return 0;
}

void dusk__trace_analysis_free(dusk__analysis *a)
{
    free(a->workers);
    free(a->codelets);
    free(a->path);
    memset(a, 0, sizeof *a);
}

int dusk__trace_analyse(const dusk_trace_set *s, dusk__analysis *a)
{
    memset(a, 0, sizeof *a);
    a->st.nranks = s->nranks;
    a->st.nworkers = s->nworkers;
    a->st.ntasks = s->ntasks;
    double t0 = INFINITY, t1 = -INFINITY;
    for (int64_t i = 0; i < s->ntasks; i++) {
        const dusk_trace_task *t = &s->tasks[i];
        if (t->status == DUSK_EDEP)
            a->st.nskipped++;
        else if (t->status != 0)
            a->st.nfailed++;
        if (t->worker < 0) continue;
        a->st.task_time += t->dur;
        if (t->start < t0) t0 = t->start;
        if (t->start + t->dur > t1) t1 = t->start + t->dur;
    }
    a->t0 = isfinite(t0) ? t0 : 0;
    a->st.makespan = isfinite(t0) ? t1 - t0 : 0;
    if (a->st.makespan > 0) {
        a->st.throughput = (double)s->ntasks / a->st.makespan;
        if (s->nworkers) a->st.efficiency = a->st.task_time / (s->nworkers * a->st.makespan);
    }

    /* per worker: sort the ran tasks by (worker, start) to find the gaps */
    int64_t nran = 0;
    for (int64_t i = 0; i < s->ntasks; i++)
        nran += s->tasks[i].worker >= 0;
    a->workers = calloc((size_t)(s->nworkers ? s->nworkers : 1), sizeof *a->workers);
    double *times = malloc((size_t)(2 * nran + 1) * sizeof *times);
    int *wi = malloc((size_t)(nran + 1) * sizeof *wi);
    int64_t *count = calloc((size_t)(s->nworkers + 1), sizeof *count);
    int rc = DUSK_ENOMEM;
    if (!a->workers || !times || !wi || !count) goto out;
    for (int64_t i = 0, k = 0; i < s->ntasks; i++)
        if (s->tasks[i].worker >= 0)
            wi[k++] = dusk__trace_worker_index(s, s->tasks[i].rank, s->tasks[i].worker);
    for (int64_t k = 0; k < nran; k++)
        count[wi[k] + 1]++;
    for (int w = 0; w < s->nworkers; w++)
        count[w + 1] += count[w];
    for (int64_t i = 0, k = 0; i < s->ntasks; i++) {
        const dusk_trace_task *t = &s->tasks[i];
        if (t->worker < 0) continue;
        int64_t at = count[wi[k++]]++;
        times[2 * at] = t->start;
        times[2 * at + 1] = t->dur;
    }
    /* count[w] is now the end of worker w's block */
    for (int w = 0; w < s->nworkers; w++) {
        int64_t from = w ? count[w - 1] : 0, to = count[w];
        dusk__wstats *ws_ = &a->workers[w];
        qsort(times + 2 * from, (size_t)(to - from), 2 * sizeof *times, cmp_double);
        double end = -INFINITY;
        for (int64_t k = from; k < to; k++) {
            double st = times[2 * k], du = times[2 * k + 1];
            ws_->tasks++;
            ws_->busy += du;
            /* times are written to the nanosecond: shorter "gaps" are rounding */
            if (k > from && st > end + 1e-8) {
                ws_->gaps++;
                ws_->gaps_total += st - end;
                if (st - end > ws_->gaps_longest) ws_->gaps_longest = st - end;
            }
            if (st + du > end) end = st + du;
        }
    }

    /* per codelet: names are interned, so pointers compare */
    a->codelets = calloc((size_t)(s->nnames ? s->nnames : 1), sizeof *a->codelets);
    if (a->codelets == NULL) goto out;
    for (int64_t i = 0; i < s->ntasks; i++) {
        const dusk_trace_task *t = &s->tasks[i];
        int c = 0;
        while (c < a->ncodelets && a->codelets[c].codelet != t->codelet)
            c++;
        if (c == a->ncodelets) a->codelets[a->ncodelets++].codelet = t->codelet;
        a->codelets[c].count++;
        a->codelets[c].failed += t->status != 0 && t->status != DUSK_EDEP;
    }
    for (int c = 0; c < a->ncodelets; c++) {
        dusk__cstats *cs = &a->codelets[c];
        int64_t k = 0;
        for (int64_t i = 0; i < s->ntasks; i++)
            if (s->tasks[i].codelet == cs->codelet && s->tasks[i].worker >= 0)
                times[k++] = s->tasks[i].dur;
        qsort(times, (size_t)k, sizeof *times, cmp_double);
        for (int64_t j = 0; j < k; j++)
            cs->total += times[j];
        cs->mean = k ? cs->total / (double)k : 0;
        cs->p50 = percentile(times, k, 50);
        cs->p95 = percentile(times, k, 95);
    }
    qsort(a->codelets, (size_t)a->ncodelets, sizeof *a->codelets, cmp_cstats);
    rc = critical_path(s, a);
out:
    free(times);
    free(wi);
    free(count);
    if (rc != 0) dusk__trace_analysis_free(a);
    return rc;
}

int dusk_trace_stats_get(const dusk_trace_set *set, dusk_trace_stats *out)
{
    memset(out, 0, sizeof *out);
    dusk__analysis a;
    int rc = dusk__trace_analyse(set, &a);
    if (rc == 0) {
        *out = a.st;
        dusk__trace_analysis_free(&a);
    }
    return rc;
}

int dusk_trace_critical_path(const dusk_trace_set *set, int64_t **idx, int64_t *n)
{
    *idx = NULL;
    *n = 0;
    dusk__analysis a;
    int rc = dusk__trace_analyse(set, &a);
    if (rc != 0) return rc;
    if (a.npath) {
        *idx = a.path;
        *n = a.npath;
        a.path = NULL;
    }
    dusk__trace_analysis_free(&a);
    return 0;
}

/* ---- the text summary --------------------------------------------------------------------- */

#define MS(x) ((x)*1e3)

int dusk_trace_summary(const dusk_trace_set *set, FILE *out)
{
    dusk__analysis a;
    int rc = dusk__trace_analyse(set, &a);
    if (rc != 0) return rc;
    const dusk_trace_stats *st = &a.st;
    /* as dusk-eigh counts them: the tasks that failed, then those skipped because of them */
    fprintf(out, "trace: %d rank%s, %d worker%s, %lld tasks (%lld failed", st->nranks,
            st->nranks == 1 ? "" : "s", st->nworkers, st->nworkers == 1 ? "" : "s",
            (long long)st->ntasks, (long long)st->nfailed);
    if (st->nskipped) fprintf(out, ", %lld not run because of them", (long long)st->nskipped);
    fputs(")\n", out);
    for (int r = 0; r < set->nranks; r++)
        if (set->ranks[r].params && *set->ranks[r].params)
            fprintf(out, "params (rank %d): %s\n", set->ranks[r].rank, set->ranks[r].params);
    fprintf(out, "makespan: %.3f ms, throughput: %.1f tasks/s\n", MS(st->makespan), st->throughput);
    fprintf(out, "parallel efficiency: %.1f%% (task time %.3f ms / (%d workers x %.3f ms))\n",
            100 * st->efficiency, MS(st->task_time), st->nworkers, MS(st->makespan));

    fprintf(out, "\nworkers:\n  %-4s %-24s %8s %12s %7s %6s %12s %12s\n", "rank", "worker", "tasks",
            "busy ms", "busy%", "gaps", "idle ms", "longest ms");
    for (int w = 0; w < set->nworkers; w++) {
        const dusk__wstats *x = &a.workers[w];
        fprintf(out, "  %-4d %-24.24s %8lld %12.3f %6.1f%% %6lld %12.3f %12.3f\n",
                set->workers[w].rank, set->workers[w].name, (long long)x->tasks, MS(x->busy),
                st->makespan > 0 ? 100 * x->busy / st->makespan : 0.0, (long long)x->gaps,
                MS(x->gaps_total), MS(x->gaps_longest));
    }

    fprintf(out, "\ncodelets:\n  %-20s %8s %7s %12s %12s %12s %12s\n", "codelet", "count", "failed",
            "mean ms", "p50 ms", "p95 ms", "total ms");
    for (int c = 0; c < a.ncodelets; c++) {
        const dusk__cstats *x = &a.codelets[c];
        fprintf(out, "  %-20.20s %8lld %7lld %12.3f %12.3f %12.3f %12.3f\n", x->codelet,
                (long long)x->count, (long long)x->failed, MS(x->mean), MS(x->p50), MS(x->p95),
                MS(x->total));
    }

    fprintf(out, "\ncritical path: %lld tasks, %.3f ms:", (long long)a.npath,
            MS(st->critical_path));
    for (int64_t k = 0; k < a.npath; k++) {
        if (a.npath > 40 && k == 20) {
            fprintf(out, " -> ... (%lld more) ...", (long long)(a.npath - 40));
            k = a.npath - 20;
        }
        fprintf(out, "%s%s", k ? " -> " : " ", set->tasks[a.path[k]].key);
    }
    fputc('\n', out);

    if (st->nfailed + st->nskipped) {
        fprintf(out, st->nskipped ? "\nfailed tasks, and tasks not run because of them:\n"
                                  : "\nfailed tasks:\n");
        int64_t shown = 0;
        for (int64_t i = 0; i < set->ntasks && shown < 50; i++) {
            const dusk_trace_task *t = &set->tasks[i];
            if (t->status == 0) continue;
            fprintf(out, "  rank %d id %lld %s (%s): %s%s\n", t->rank, (long long)t->id, t->key,
                    t->codelet, dusk_strerror(t->status), t->worker < 0 ? ", never ran" : "");
            shown++;
        }
        if (st->nfailed + st->nskipped > shown)
            fprintf(out, "  ... and %lld more\n", (long long)(st->nfailed + st->nskipped - shown));
    }
    dusk__trace_analysis_free(&a);
    return ferror(out) ? DUSK_EIO : 0;
}

/* ---- the merged trace ------------------------------------------------------------------------ */

static int write_line(FILE *f, dusk__sb *b)
{
    int rc = b->oom ? DUSK_ENOMEM : fwrite(b->p, 1, b->len, f) == b->len ? 0 : DUSK_EIO;
    b->len = 0;
    if (b->cap) b->p[0] = '\0';
    return rc;
}

int dusk_trace_write_json(const dusk_trace_set *set, const char *path)
{
    char tmp[4096];
    if (set == NULL || path == NULL ||
        (size_t)snprintf(tmp, sizeof tmp, "%s.partial", path) >= sizeof tmp)
        return DUSK_EINVAL;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return DUSK_EIO;
    char buf[1024];
    dusk__sb b;
    dusk__sb_init(&b, buf, sizeof buf);
    int rc = fputs("{\"traceEvents\":[\n", f) < 0 ? DUSK_EIO : 0;
    for (int r = 0; rc == 0 && r < set->nranks; r++) {
        dusk__sb_printf(&b,
                        "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\","
                        "\"args\":{\"name\":\"rank %d\"}},\n",
                        set->ranks[r].rank, set->ranks[r].rank);
        rc = write_line(f, &b);
    }
    int unrun = 0;
    for (int w = 0; rc == 0 && w < set->nworkers; w++) {
        dusk__sb_printf(&b,
                        "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\","
                        "\"args\":{\"name\":",
                        set->workers[w].rank, set->workers[w].tid);
        dusk__sb_json(&b, set->workers[w].name);
        dusk__sb_puts(&b, "}},\n");
        rc = write_line(f, &b);
    }
    for (int64_t i = 0; rc == 0 && i < set->ntasks; i++) {
        const dusk_trace_task *t = &set->tasks[i];
        unrun |= t->worker < 0;
        dusk__sb_printf(
            &b, "{\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"name\":", t->rank,
            t->worker, t->start * 1e6, t->dur * 1e6);
        dusk__sb_json(&b, t->key);
        dusk__sb_puts(&b, ",\"cat\":");
        dusk__sb_json(&b, t->codelet);
        dusk__sb_printf(&b, ",\"args\":{\"id\":%lld,\"codelet\":", (long long)t->id);
        dusk__sb_json(&b, t->codelet);
        dusk__sb_puts(&b, ",\"impl\":");
        dusk__sb_json(&b, t->impl);
        dusk__sb_printf(&b,
                        ",\"rows\":%lld,\"cols\":%lld,\"bytes\":%lld,\"status\":%d,"
                        "\"attempts\":%d,",
                        (long long)t->rows, (long long)t->cols, (long long)t->bytes, t->status,
                        t->attempts);
        if (t->reason) {
            dusk__sb_puts(&b, "\"reason\":");
            dusk__sb_json(&b, t->reason);
            dusk__sb_puts(&b, ",");
        }
        dusk__sb_puts(&b, "\"deps\":[");
        for (int d = 0; d < t->ndeps; d++)
            dusk__sb_printf(&b, d ? ",%lld" : "%lld", (long long)t->deps[d]);
        dusk__sb_puts(&b, "]}},\n");
        rc = write_line(f, &b);
    }
    for (int r = 0; rc == 0 && unrun && r < set->nranks; r++) {
        dusk__sb_printf(&b,
                        "{\"ph\":\"M\",\"pid\":%d,\"tid\":-1,\"name\":\"thread_name\","
                        "\"args\":{\"name\":\"not run\"}},\n",
                        set->ranks[r].rank);
        rc = write_line(f, &b);
    }
    /* times are now on the common timeline: every rank's epoch is the base */
    for (int r = 0; rc == 0 && r < set->nranks; r++) {
        const dusk__rank *k = &set->ranks[r];
        dusk__sb_printf(&b,
                        "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"dusk_run\",\"args\":{"
                        "\"rank\":%d,\"nranks\":%d,\"epoch\":%.6f,\"t1\":%.3f,\"version\":\"%s\","
                        "\"params\":",
                        k->rank, k->rank, k->nranks, set->base_epoch, (k->t1 + k->shift) * 1e6,
                        DUSK_VERSION_STRING);
        dusk__sb_json(&b, k->params);
        dusk__sb_puts(&b, r + 1 < set->nranks ? "}},\n" : "}}\n");
        rc = write_line(f, &b);
    }
    if (rc == 0 && fputs("],\"displayTimeUnit\":\"ms\"}\n", f) < 0) rc = DUSK_EIO;
    dusk__sb_free(&b);
    if (fclose(f) != 0 && rc == 0) rc = DUSK_EIO;
    if (rc == 0 && rename(tmp, path) != 0) rc = DUSK_EIO;
    if (rc != 0) {
        int err = errno; /* the failure's, which callers print: not remove()'s */
        remove(tmp);
        errno = err;
    }
    return rc;
}
