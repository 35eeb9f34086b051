/* A run's output directory (outdir.h). Part of the silent library: what goes wrong is said
 * in `why`, never printed. */
#define _POSIX_C_SOURCE 200809L
#include "outdir.h"

#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Two runs would write the same files, and the one that finished first would name the other's
 * incomplete file as complete. */
int dusk__outdir_lock(const char *dir, int *held, char *why, size_t whylen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.dusk.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        dusk__set_why(why, whylen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            dusk__set_why(why, whylen, "another run is writing to %s (it holds %s)", dir, path);
        else
            dusk__set_why(why, whylen, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    *held = fd; /* the lock lasts while fd is open: the batch's life (dusk_batch_free) */
    return 0;
}

int dusk__outdir_check_foreign(const char *dir, int ours, const char *flag, const char *program,
                               const char *const *names, int count, char *why, size_t whylen)
{
    char path[4300];
    if (ours) return 0;
    for (int i = -1; i < 2 * count; i++) {
        if (i < 0)
            snprintf(path, sizeof path, "%s/manifest.txt", dir);
        else
            snprintf(path, sizeof path, "%s/%s%s", dir, names[i / 2], i % 2 ? ".partial" : "");
        if (access(path, F_OK) == 0) {
            dusk__set_why(why, whylen,
                          "%s %s: %s is not from a %s run (no manifest of one there): choose "
                          "another directory, or remove it",
                          flag, dir, path, program);
            return -1;
        }
    }
    return 0;
}

int dusk__outdir_remove(const char *dir, const char *const *names, int count, char *why,
                        size_t whylen)
{
    char path[4300];
    for (int i = 0; i < 2 * count; i++) {
        snprintf(path, sizeof path, "%s/%s%s", dir, names[i / 2], i % 2 ? ".partial" : "");
        if (unlink(path) != 0 && errno != ENOENT) {
            dusk__set_why(why, whylen, "cannot remove the earlier run's %s: %s", path,
                          strerror(errno));
            return -1;
        }
    }
    (void)dusk__sync_dir(dir);
    return 0;
}

/* The files a trace directory holds and how dusk begins each (as runtime/src/trace/trace.c
 * writes and checks them; dag.dot.partial: a run killed before its trace closed). */
static const struct {
    const char *name, *mark;
    size_t within; /* the mark begins the file (0), or lies in its first `within` bytes */
} trace_files[] = {
    {"trace.json", "{\"traceEvents\":[", 0},
    {"dag.dot", "digraph dusk {", 0},
    {"dag.dot.partial", "digraph dusk {", 0},
    {"report.html", "dusk trace report</title>", 8192},
};

/* 1 when path is a regular file dusk wrote as trace file k, or empty; 0 otherwise */
static int trace_file_ours(const char *path, int k)
{
    char head[8193];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    const char *mark = trace_files[k].mark;
    size_t within = trace_files[k].within;
    size_t want = within ? within : strlen(mark), got = 0;
    ssize_t n;
    while (got < want && (n = read(fd, head + got, want - got)) > 0)
        got += (size_t)n;
    close(fd);
    head[got] = '\0';
    if (got == 0) return 1;
    if (within == 0) return got == want && memcmp(head, mark, want) == 0;
    return strstr(head, mark) != NULL;
}

/* dir's trace files that dusk wrote; *found is set when any was there. 0 or -1. */
static int remove_trace_in(const char *dir, int *found, char *why, size_t whylen)
{
    char path[4300];
    for (size_t k = 0; k < sizeof trace_files / sizeof trace_files[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, trace_files[k].name);
        if (!trace_file_ours(path, (int)k)) continue;
        *found = 1;
        if (unlink(path) != 0 && errno != ENOENT) {
            dusk__set_why(why, whylen, "cannot remove the earlier run's %s: %s", path,
                          strerror(errno));
            return -1;
        }
    }
    return 0;
}

int dusk__outdir_remove_trace(const char *dir, char *why, size_t whylen)
{
    int found = 0;
    if (remove_trace_in(dir, &found, why, whylen) != 0) return -1;
    /* ranks are numbered from 0 up; a gap (a rank that wrote nothing) must not hide the
     * ones after it, so the search goes on well past the last one found */
    for (int rank = 0, last = -1; rank < 1 << 24 && rank <= last + 4096; rank++) {
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/rank-%d", dir, rank);
        struct stat st;
        if (lstat(sub, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        last = rank;
        int here = 0;
        if (remove_trace_in(sub, &here, why, whylen) != 0) return -1;
        if (here) (void)rmdir(sub); /* stays when it holds anything else */
        found |= here;
    }
    if (found) (void)dusk__sync_dir(dir);
    return 0;
}

int dusk__outdir_write_token(const char *dir, int64_t *token, char *why, size_t whylen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.dusk-run", dir);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *token = (((int64_t)ts.tv_sec * 1000003 + ts.tv_nsec) ^ ((int64_t)getpid() << 20)) & INT64_MAX;
    if (*token == 0) *token = 1;
    FILE *f = fopen(path, "w");
    int ok = f != NULL && fprintf(f, "%lld\n", (long long)*token) > 0 && fflush(f) == 0 &&
             fsync(fileno(f)) == 0;
    if (f != NULL && fclose(f) != 0) ok = 0;
    if (!ok) dusk__set_why(why, whylen, "cannot write %s: %s", path, strerror(errno));
    return ok ? 0 : -1;
}

int dusk__outdir_read_token(const char *dir, int64_t *token)
{
    char path[4200];
    long long t = -1;
    snprintf(path, sizeof path, "%s/.dusk-run", dir);
    *token = -1;
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%lld", &t) == 1) *token = t;
    fclose(f);
    return 0;
}

static void json_string(FILE *f, const char *s)
{
    char buf[512];
    dusk__sb b;
    dusk__sb_init(&b, buf, sizeof buf);
    dusk__sb_json(&b, s);
    fputs(b.oom ? "\"\"" : b.p, f);
    dusk__sb_free(&b);
}

static int by_task_id(const void *a, const void *b)
{
    long long x = strtoll(*(char *const *)a, NULL, 10), y = strtoll(*(char *const *)b, NULL, 10);
    return (x > y) - (x < y);
}

int dusk__outdir_write_failures(const char *dir, const char *program, int64_t ntasks,
                                const char *lines)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/failures.json", dir);
    if (lines == NULL || *lines == '\0') return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    /* by task id, however the failures came (in time, or rank by rank) */
    size_t count = 0;
    for (const char *c = lines; *c; c++)
        count += *c == '\n';
    char *text = strdup(lines), **sorted = calloc(count + 1, sizeof *sorted), *save = NULL;
    dusk__atomic a;
    FILE *f = text && sorted ? dusk__atomic_open(&a, path) : NULL;
    if (f == NULL) {
        if (!text || !sorted) errno = ENOMEM;
        free(text);
        free(sorted);
        return -1;
    }
    fprintf(f, "{\"program\": ");
    json_string(f, program);
    fprintf(f, ", \"tasks\": %lld, \"failures\": [", (long long)ntasks);
    size_t k = 0;
    for (char *line = strtok_r(text, "\n", &save); line && k < count;
         line = strtok_r(NULL, "\n", &save))
        sorted[k++] = line;
    qsort(sorted, k, sizeof *sorted, by_task_id);
    int first = 1;
    for (size_t i = 0; i < k; i++) {
        const char *id = strtok_r(sorted[i], "\t", &save), *step = strtok_r(NULL, "\t", &save);
        const char *error = strtok_r(NULL, "\t", &save), *reason = strtok_r(NULL, "", &save);
        if (id && step && error) {
            fprintf(f, "%s\n  {\"task\": %s, \"step\": ", first ? "" : ",", id);
            json_string(f, step);
            fprintf(f, ", \"error\": ");
            json_string(f, error);
            fprintf(f, ", \"reason\": ");
            json_string(f, reason ? reason : "");
            fprintf(f, "}");
            first = 0;
        }
    }
    free(sorted);
    free(text);
    fprintf(f, "\n]}\n");
    return dusk__atomic_commit(&a);
}
