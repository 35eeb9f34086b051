/* The tracer: DIR/trace.json (Chrome trace events, one per line), DIR/dag.dot and, at close,
 * DIR/report.html. Everything is streamed: memory does not grow with the number of tasks.
 *
 * trace.json is laid out so that it is valid JSON at close and easy to read line by line:
 *
 *   {"traceEvents":[
 *   {...metadata or task event...},          <- every event line ends with ","
 *   {"ph":"M",...,"name":"dusk_run",...}     <- the last event, written at close, has none
 *   ],"displayTimeUnit":"ms"}
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dusk_internal.h"
#include "dusk_trace.h"
#include "trace.h"
#include "trace_util.h"

/* dag.dot shows this many tasks one by one, then summarises the rest by codelet. */
#define DOT_DETAILED 2000
#define DOT_MAX_CODELETS 64    /* codelets counted separately in the summary; then "other" */
#define DOT_ID_CACHE (1 << 16) /* recent task id -> codelet, for the summary's edges */

struct dusk__trace {
    char *dir;
    int rank, nranks;
    double t0;    /* dusk_now() at open: the trace's time 0 */
    double epoch; /* wall-clock seconds at open, to line ranks up when merging */

    pthread_mutex_t json_lock;
    FILE *json;
    int json_err;
    atomic_int unrun; /* some task never ran: name tid -1 at close */

    pthread_mutex_t dot_lock;
    FILE *dot;
    int64_t dot_nodes;
    int ncodelets;
    char *codelets[DOT_MAX_CODELETS + 2]; /* + "other" + "earlier tasks" */
    int64_t rest[DOT_MAX_CODELETS + 2];   /* summarised tasks per codelet */
    int64_t (*rest_edges)[DOT_MAX_CODELETS + 2];
    int64_t *cache_id;
    unsigned char *cache_cl;
    int observer; /* dusk_observer_add's handle, or -1 */
};

/* What dusk writes in a trace directory, and how each file begins (report.html: its title),
 * so that a file of the same name that dusk did not write is never replaced. */
static const struct {
    const char *name, *mark;
    size_t within; /* the mark begins the file (0), or lies in its first `within` bytes */
} ours[] = {
    {"trace.json", "{\"traceEvents\":[", 0},
    {"dag.dot", "digraph dusk {", 0},
    {"report.html", "dusk trace report</title>", 8192},
};

/* 1 when dir/name is missing, empty (a run killed as it began) or dusk's own, else 0 */
static int is_ours(const char *dir, int k)
{
    char path[4200], head[8193];
    snprintf(path, sizeof path, "%s/%s", dir, ours[k].name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT;
    size_t want = ours[k].within ? ours[k].within : strlen(ours[k].mark), got = 0;
    ssize_t n;
    while (got < want && (n = read(fd, head + got, want - got)) > 0)
        got += (size_t)n;
    close(fd);
    head[got] = '\0';
    if (got == 0) return 1;
    if (ours[k].within == 0) return got == want && memcmp(head, ours[k].mark, want) == 0;
    return strstr(head, ours[k].mark) != NULL;
}

int dusk__trace_dir_check(const char *dir, char *why, size_t whylen)
{
    for (size_t k = 0; k < sizeof ours / sizeof ours[0]; k++)
        if (!is_ours(dir, (int)k)) {
            dusk__set_why(why, whylen,
                          "%s/%s is not a file dusk wrote, and a trace there would replace it: "
                          "trace into another directory, or move the file",
                          dir, ours[k].name);
            return DUSK_EEXIST;
        }
    return 0;
}

static FILE *open_in(const char *dir, const char *name, char *why, size_t whylen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        dusk__set_why(why, whylen, "%s: %s", path, strerror(errno));
    else
        setvbuf(f, NULL, _IOFBF, 1 << 16);
    return f;
}

/* The JSON line is formatted by the caller, outside the lock; only the write is locked. */
static void json_write(dusk__trace *t, const dusk__sb *b)
{
    pthread_mutex_lock(&t->json_lock);
    if (b->oom || fwrite(b->p, 1, b->len, t->json) != b->len) t->json_err = 1;
    pthread_mutex_unlock(&t->json_lock);
}

static void thread_name(dusk__trace *t, int tid, const char *name)
{
    char buf[512];
    dusk__sb b;
    dusk__sb_init(&b, buf, sizeof buf);
    dusk__sb_printf(
        &b,
        "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\",\"args\":{\"name\":", t->rank,
        tid);
    dusk__sb_json(&b, name);
    dusk__sb_puts(&b, "}},\n");
    json_write(t, &b);
    dusk__sb_free(&b);
}

static void trace_free(dusk__trace *t)
{
    if (t->json) fclose(t->json);
    if (t->dot) fclose(t->dot);
    for (int i = 0; i < DOT_MAX_CODELETS + 2; i++)
        free(t->codelets[i]);
    free(t->rest_edges);
    free(t->cache_id);
    free(t->cache_cl);
    free(t->dir);
    if (t->observer >= 0) (void)dusk_observer_remove(t->observer);
    pthread_mutex_destroy(&t->json_lock);
    pthread_mutex_destroy(&t->dot_lock);
    free(t);
}

/* A task's name in the trace: its key, and the items it computed ("eigh-17" for one,
 * "eigh-0..6" for a run of them, "eigh-1..13/2" for every second one). */
static void display_key(const dusk_task_event *ev, char *buf, size_t len)
{
    if (ev->item_count <= 0)
        snprintf(buf, len, "%s", ev->key);
    else if (ev->item_count == 1)
        snprintf(buf, len, "%s-%lld", ev->key, (long long)ev->item_first);
    else if (ev->item_step == 1)
        snprintf(buf, len, "%s-%lld..%lld", ev->key, (long long)ev->item_first,
                 (long long)(ev->item_first + ev->item_count - 1));
    else
        snprintf(buf, len, "%s-%lld..%lld/%lld", ev->key, (long long)ev->item_first,
                 (long long)(ev->item_first + (ev->item_count - 1) * ev->item_step),
                 (long long)ev->item_step);
}

static void observe(void *user, const dusk_task_event *ev)
{
    dusk__trace *t = user;
    char key[256];
    if (ev->elsewhere) return; /* traced on the rank that ran it */
    display_key(ev, key, sizeof key);
    if (ev->kind == DUSK_EVENT_SUBMIT) {
        dusk__trace_submitted(t, ev->uid, key, ev->kernel, ev->ndeps, ev->deps);
    } else if (ev->kind == DUSK_EVENT_FINISH && ev->status != DUSK_ECANCELED) {
        /* a cancelled task never ran */
        dusk__trace_task task = {
            .id = ev->uid,
            .key = key,
            .codelet = ev->kernel,
            .impl = ev->impl ? ev->impl : "CPU",
            .worker = ev->worker,
            .start = ev->start,
            .end = ev->end,
            .rows = ev->rows,
            .cols = ev->cols,
            .bytes = ev->bytes,
            .status = ev->status,
            .attempts = ev->attempts,
            .reason = ev->reason,
            .ndeps = ev->ndeps,
            .deps = ev->deps,
            .item_first = ev->item_first,
            .item_count = ev->item_count,
            .item_step = ev->item_step,
            .items_failed = ev->items_failed,
        };
        dusk__trace_finished(t, &task);
    }
}

int dusk__trace_open(const char *dir, int rank, int nranks, dusk__trace **out, char *why,
                     size_t whylen)
{
    *out = NULL;
    if (dir == NULL || *dir == '\0' || rank < 0 || nranks < 1 || rank >= nranks) {
        dusk__set_why(why, whylen, "trace: bad directory or rank");
        return DUSK_EINVAL;
    }
    if (dusk__mkdir_p(dir, 0777) != 0) {
        dusk__set_why(why, whylen, "trace: cannot create %s: %s", dir, strerror(errno));
        return DUSK_EIO;
    }
    dusk__trace *t = calloc(1, sizeof *t);
    if (t == NULL) return DUSK_ENOMEM;
    pthread_mutex_init(&t->json_lock, NULL);
    pthread_mutex_init(&t->dot_lock, NULL);
    t->observer = -1;
    t->rank = rank;
    t->nranks = nranks;
    t->dir = dusk__strdup(dir);
    t->rest_edges = calloc(DOT_MAX_CODELETS + 2, sizeof *t->rest_edges);
    t->cache_id = malloc(DOT_ID_CACHE * sizeof *t->cache_id);
    t->cache_cl = calloc(DOT_ID_CACHE, 1);
    if (!t->dir || !t->rest_edges || !t->cache_id || !t->cache_cl) {
        trace_free(t);
        return DUSK_ENOMEM;
    }
    for (int i = 0; i < DOT_ID_CACHE; i++)
        t->cache_id[i] = -1;
    /* dag.dot is written as dag.dot.partial and renamed at close: a run killed meanwhile
     * leaves no cut dag.dot that Graphviz would reject (nor an earlier run's beside it);
     * trace.json is written in place, since dusk-trace reads a cut one */
    char old_dot[4200];
    snprintf(old_dot, sizeof old_dot, "%s/dag.dot", dir);
    int rc = dusk__trace_dir_check(dir, why, whylen);
    if (rc != 0) {
        trace_free(t);
        return rc;
    }
    if (unlink(old_dot) != 0 && errno != ENOENT) {
        dusk__set_why(why, whylen, "%s: %s", old_dot, strerror(errno));
        trace_free(t);
        return DUSK_EIO;
    }
    if ((t->json = open_in(dir, "trace.json", why, whylen)) == NULL ||
        (t->dot = open_in(dir, "dag.dot.partial", why, whylen)) == NULL) {
        trace_free(t);
        return DUSK_EIO;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    t->epoch = (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
    t->t0 = dusk_now();

    fprintf(t->json,
            "{\"traceEvents\":[\n"
            "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\","
            "\"args\":{\"name\":\"rank %d\"}},\n",
            rank, rank);
    unsigned nworkers = starpu_worker_get_count();
    for (unsigned w = 0; w < nworkers; w++) {
        char name[256];
        starpu_worker_get_name((int)w, name, sizeof name);
        thread_name(t, (int)w, name);
    }

    fprintf(t->dot,
            "digraph dusk {\n"
            "  graph [fontname=\"Helvetica\", label=\"dusk task graph, rank %d\", "
            "labelloc=t];\n"
            "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", "
            "fontsize=10];\n"
            "  edge [color=\"#555555\"];\n",
            rank);
    if (ferror(t->json) || ferror(t->dot)) {
        dusk__set_why(why, whylen, "trace: cannot write in %s: %s", dir, strerror(errno));
        trace_free(t);
        return DUSK_EIO;
    }
    if (dusk_observer_add(observe, t, &t->observer) != 0) {
        dusk__set_why(why, whylen, "trace: no room for one more observer");
        trace_free(t);
        return DUSK_ENOMEM;
    }
    *out = t;
    return 0;
}

/* s as a DOT string, quotes included */
static void dot_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

/* The summary's index of a codelet name: its own up to DOT_MAX_CODELETS, then "other". */
static int codelet_index(dusk__trace *t, const char *codelet)
{
    if (codelet == NULL) codelet = "?";
    for (int i = 0; i < t->ncodelets; i++)
        if (strcmp(t->codelets[i], codelet) == 0) return i;
    if (t->ncodelets < DOT_MAX_CODELETS) {
        char *c = dusk__strdup(codelet);
        if (c) {
            t->codelets[t->ncodelets] = c;
            return t->ncodelets++;
        }
    }
    return DOT_MAX_CODELETS; /* other */
}

void dusk__trace_submitted(dusk__trace *t, int64_t id, const char *key, const char *codelet,
                           int ndeps, const int64_t *deps)
{
    if (t == NULL) return;
    pthread_mutex_lock(&t->dot_lock);
    int cl = codelet_index(t, codelet);
    size_t slot = (size_t)((uint64_t)id % DOT_ID_CACHE);
    t->cache_id[slot] = id;
    t->cache_cl[slot] = (unsigned char)cl;
    if (t->dot_nodes < DOT_DETAILED) {
        fprintf(t->dot, "  t%lld [label=", (long long)id);
        dot_str(t->dot, key ? key : codelet);
        fprintf(t->dot, ", fillcolor=\"%s\"];\n", dusk__codelet_color(codelet));
        for (int i = 0; i < ndeps; i++)
            fprintf(t->dot, "  t%lld -> t%lld;\n", (long long)deps[i], (long long)id);
    } else {
        t->rest[cl]++;
        for (int i = 0; i < ndeps; i++) {
            size_t s = (size_t)((uint64_t)deps[i] % DOT_ID_CACHE);
            int from = t->cache_id[s] == deps[i] ? t->cache_cl[s] : DOT_MAX_CODELETS + 1;
            t->rest_edges[from][cl]++;
        }
    }
    t->dot_nodes++;
    pthread_mutex_unlock(&t->dot_lock);
}

void dusk__trace_finished(dusk__trace *t, const dusk__trace_task *task)
{
    if (t == NULL || task == NULL) return;
    char buf[1024];
    dusk__sb b;
    dusk__sb_init(&b, buf, sizeof buf);
    double start = task->start, end = task->end;
    if (task->worker < 0 || start <= 0 || end < start) {
        /* never ran: a zero-length event when it was settled */
        start = end = dusk_now();
        atomic_store(&t->unrun, 1);
    }
    dusk__sb_printf(
        &b, "{\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"name\":", t->rank,
        task->worker < 0 ? -1 : task->worker, (start - t->t0) * 1e6, (end - start) * 1e6);
    dusk__sb_json(&b, task->key ? task->key : task->codelet);
    dusk__sb_puts(&b, ",\"cat\":");
    dusk__sb_json(&b, task->codelet);
    dusk__sb_printf(&b, ",\"args\":{\"id\":%lld,\"codelet\":", (long long)task->id);
    dusk__sb_json(&b, task->codelet);
    dusk__sb_puts(&b, ",\"impl\":");
    dusk__sb_json(&b, task->impl ? task->impl : "CPU");
    dusk__sb_printf(&b,
                    ",\"rows\":%lld,\"cols\":%lld,\"bytes\":%lld,\"status\":%d,"
                    "\"attempts\":%d,",
                    (long long)task->rows, (long long)task->cols, (long long)task->bytes,
                    task->status, task->attempts);
    if (task->reason) {
        dusk__sb_puts(&b, "\"reason\":");
        dusk__sb_json(&b, task->reason);
        dusk__sb_puts(&b, ",");
    }
    if (task->item_count > 0)
        dusk__sb_printf(&b,
                        "\"items\":{\"first\":%lld,\"count\":%lld,\"step\":%lld},"
                        "\"failed_items\":%lld,",
                        (long long)task->item_first, (long long)task->item_count,
                        (long long)(task->item_step ? task->item_step : 1),
                        (long long)task->items_failed);
    dusk__sb_puts(&b, "\"deps\":[");
    for (int i = 0; i < task->ndeps; i++)
        dusk__sb_printf(&b, i ? ",%lld" : "%lld", (long long)task->deps[i]);
    dusk__sb_puts(&b, "]}},\n");
    json_write(t, &b);
    dusk__sb_free(&b);
}

static void dot_close(dusk__trace *t)
{
    FILE *f = t->dot;
    if (t->dot_nodes > DOT_DETAILED) {
        t->codelets[DOT_MAX_CODELETS] = dusk__strdup("other");
        t->codelets[DOT_MAX_CODELETS + 1] = dusk__strdup("earlier tasks");
        int shown[DOT_MAX_CODELETS + 2] = {0};
        for (int i = 0; i < DOT_MAX_CODELETS + 2; i++)
            for (int j = 0; j < DOT_MAX_CODELETS + 2; j++)
                if (t->rest_edges[i][j]) shown[i] = shown[j] = 1;
        fprintf(f,
                "  subgraph cluster_rest {\n"
                "    label=\"%lld more tasks, summarised by codelet\";\n"
                "    style=dashed; color=\"#888888\"; fontname=\"Helvetica\";\n",
                (long long)(t->dot_nodes - DOT_DETAILED));
        for (int i = 0; i < DOT_MAX_CODELETS + 2; i++) {
            if (!(t->rest[i] || shown[i])) continue;
            char label[256];
            snprintf(label, sizeof label, "%s\n%lld tasks", t->codelets[i] ? t->codelets[i] : "?",
                     (long long)t->rest[i]);
            fprintf(f, "    c%d [shape=box3d, style=filled, label=", i);
            dot_str(f, label);
            fprintf(f, ", fillcolor=\"%s\"];\n",
                    dusk__codelet_color(t->codelets[i] ? t->codelets[i] : "?"));
        }
        fputs("  }\n", f);
        for (int i = 0; i < DOT_MAX_CODELETS + 2; i++)
            for (int j = 0; j < DOT_MAX_CODELETS + 2; j++)
                if (t->rest_edges[i][j])
                    fprintf(f, "  c%d -> c%d [label=\"%lld\"];\n", i, j,
                            (long long)t->rest_edges[i][j]);
    }
    fputs("}\n", f);
}

int dusk__trace_close(dusk__trace **tp, const char *params)
{
    dusk__trace *t = tp ? *tp : NULL;
    if (t == NULL) return 0;
    *tp = NULL;
    int rc = 0;
    if (t->observer >= 0) (void)dusk_observer_remove(t->observer);
    t->observer = -1;
    if (atomic_load(&t->unrun)) thread_name(t, -1, "not run");
    char buf[1024];
    dusk__sb b;
    dusk__sb_init(&b, buf, sizeof buf);
    dusk__sb_printf(&b,
                    "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"dusk_run\",\"args\":{"
                    "\"rank\":%d,\"nranks\":%d,\"epoch\":%.6f,\"t1\":%.3f,\"version\":\"%s\","
                    "\"params\":",
                    t->rank, t->rank, t->nranks, t->epoch, (dusk_now() - t->t0) * 1e6,
                    DUSK_VERSION_STRING);
    dusk__sb_json(&b, params ? params : "");
    dusk__sb_puts(&b, "}}\n],\"displayTimeUnit\":\"ms\"}\n");
    json_write(t, &b);
    dusk__sb_free(&b);
    if (t->json_err || ferror(t->json)) rc = DUSK_EIO;
    if (fclose(t->json) != 0) rc = DUSK_EIO;
    t->json = NULL;

    dot_close(t);
    if (ferror(t->dot)) rc = DUSK_EIO;
    if (fclose(t->dot) != 0) rc = DUSK_EIO;
    t->dot = NULL;
    if (rc == 0) {
        char part[4200], dot[4200];
        snprintf(part, sizeof part, "%s/dag.dot.partial", t->dir);
        snprintf(dot, sizeof dot, "%s/dag.dot", t->dir);
        if (rename(part, dot) != 0) rc = DUSK_EIO;
    }

    if (rc == 0) {
        char json_path[4096], html_path[4096];
        snprintf(json_path, sizeof json_path, "%s/trace.json", t->dir);
        snprintf(html_path, sizeof html_path, "%s/report.html", t->dir);
        const char *paths[] = {json_path};
        dusk_trace_set *set;
        rc = dusk_trace_load(paths, 1, &set, NULL, 0);
        if (rc == 0) {
            rc = dusk_trace_write_report(set, html_path, params);
            dusk_trace_set_free(&set);
        }
    }
    trace_free(t);
    return rc;
}
