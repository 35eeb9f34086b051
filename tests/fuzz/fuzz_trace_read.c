/* libFuzzer target for the trace reader (dusk_trace_load: trace_read.c over the JSON-lines
 * reader jsonl.c), which dusk-trace runs on any file it is given.
 *
 * The input is one to four trace files, split at NUL bytes (a NUL inside a trace is refused
 * anyway, so nothing is lost): each is written to a memory file and the set is loaded. Then,
 * besides crashes and sanitizer reports, it checks what dusk_trace.h promises:
 *   - a refusal is one of the documented codes, with one line in `why`, and *out NULL;
 *   - a loaded set answers every query: each task (its strings set, its deps as many as it
 *     says), each file's truncation, the figures, the critical path (indices in range), the
 *     summary, and the HTML report;
 *   - the merged trace it writes (dusk_trace_write_json) loads again, with as many tasks.
 * Any failed check aborts, which libFuzzer reports as a crash with the input saved.
 *
 * Built two ways (tests/CMakeLists.txt): with clang's -fsanitize=fuzzer (DUSK_FUZZ=ON), and
 * with replay_main.c as test_trace_fuzz_corpus, which runs it over the corpus in every build.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dusk.h"
#include "dusk_trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(expr)                                                                           \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "fuzz_trace_read: check failed: %s (line %d)\n", #expr, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_FILES 4

static char dir[256], json[320], html[320];

static void remove_dir(void)
{
    unlink(json);
    unlink(html);
    rmdir(dir);
}

/* A directory of this process's own for the files the set writes (made once, removed at
 * exit), in memory where there is /dev/shm: they are written and synced for every input. */
static void make_dir(void)
{
    if (dir[0] != '\0') return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/dusk-fuzz-trace-XXXXXX", base);
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    snprintf(json, sizeof json, "%s/trace.json", dir);
    snprintf(html, sizeof html, "%s/report.html", dir);
    atexit(remove_dir);
}

/* `why` after a call: one line, NUL-terminated; non-empty when it failed. */
static void check_why(const char *why, size_t len, int rc)
{
    FUZZ_CHECK(memchr(why, '\0', len) != NULL);
    FUZZ_CHECK(strchr(why, '\n') == NULL);
    if (rc != 0) FUZZ_CHECK(why[0] != '\0');
}

static void check_set(const dusk_trace_set *s, int nfiles)
{
    int64_t n = dusk_trace_task_count(s);
    FUZZ_CHECK(n >= 0); /* a set of metadata events alone, cut short, has none */
    for (int64_t i = 0; i < n; i++) {
        dusk_trace_task t;
        FUZZ_CHECK(dusk_trace_task_at(s, i, &t) == 0);
        FUZZ_CHECK(t.key != NULL && t.codelet != NULL && t.impl != NULL);
        FUZZ_CHECK(strlen(t.key) + strlen(t.codelet) + strlen(t.impl) < ((size_t)1 << 30));
        FUZZ_CHECK(t.ndeps >= 0 && (t.ndeps == 0 || t.deps != NULL));
        int64_t sum = 0;
        for (int d = 0; d < t.ndeps; d++)
            sum += t.deps[d] & 1; /* read every dep: ASan sees one past the array */
        (void)sum;
        FUZZ_CHECK(t.item_count >= 0 && t.items_failed >= 0 && t.items_failed <= t.item_count);
        if (t.reason != NULL) FUZZ_CHECK(strlen(t.reason) < ((size_t)1 << 30));
    }
    dusk_trace_task t;
    FUZZ_CHECK(dusk_trace_task_at(s, n, &t) == DUSK_EINVAL);
    FUZZ_CHECK(dusk_trace_task_at(s, -1, &t) == DUSK_EINVAL);
    for (int f = 0; f < nfiles; f++) {
        int64_t line = -1, ntasks = -1;
        int tr = dusk_trace_truncated(s, f, &line, &ntasks);
        FUZZ_CHECK(tr == 0 || tr == 1 || tr == 2);
        FUZZ_CHECK(line >= 0 && ntasks >= 0 && ntasks <= n);
    }
    FUZZ_CHECK(dusk_trace_truncated(s, nfiles, NULL, NULL) == DUSK_EINVAL);
    dusk_trace_stats st;
    FUZZ_CHECK(dusk_trace_stats_get(s, &st) == 0);
    FUZZ_CHECK(st.ntasks == n && st.nranks >= 1 && st.nworkers >= 0);
    FUZZ_CHECK(st.nfailed >= 0 && st.nfailed <= n && st.nskipped >= 0 && st.nskipped <= n);
    FUZZ_CHECK(st.critical_path_tasks >= 0 && st.critical_path_tasks <= n);
    int64_t *path = NULL, npath = -1;
    FUZZ_CHECK(dusk_trace_critical_path(s, &path, &npath) == 0);
    FUZZ_CHECK(npath == st.critical_path_tasks);
    for (int64_t i = 0; i < npath; i++)
        FUZZ_CHECK(path[i] >= 0 && path[i] < n);
    free(path);
    FILE *null = fopen("/dev/null", "w");
    FUZZ_CHECK(null != NULL);
    FUZZ_CHECK(dusk_trace_summary(s, null) == 0);
    fclose(null);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds[MAX_FILES], nfiles = 0;
    char names[MAX_FILES][64];
    const char *paths[MAX_FILES];
    size_t at = 0;
    while (nfiles < MAX_FILES) {
        const uint8_t *nul = nfiles < MAX_FILES - 1 ? memchr(data + at, 0, size - at) : NULL;
        size_t len = nul ? (size_t)(nul - (data + at)) : size - at;
        int fd = memfd_create("fuzz-trace.json", MFD_CLOEXEC);
        if (fd < 0) return 0; /* no memfd here */
        FUZZ_CHECK(write(fd, data + at, len) == (ssize_t)len);
        snprintf(names[nfiles], sizeof names[nfiles], "/proc/self/fd/%d", fd);
        paths[nfiles] = names[nfiles];
        fds[nfiles++] = fd;
        if (nul == NULL) break;
        at += len + 1;
    }

    dusk_trace_set *s = (dusk_trace_set *)&s; /* not NULL: the reader must set it */
    char why[512];
    memset(why, 'x', sizeof why);
    int rc = dusk_trace_load(paths, nfiles, &s, why, sizeof why);
    check_why(why, sizeof why, rc);
    if (rc != 0) {
        FUZZ_CHECK(rc == DUSK_EINVAL || rc == DUSK_EFORMAT || rc == DUSK_ENOMEM);
        FUZZ_CHECK(s == NULL);
    } else {
        FUZZ_CHECK(s != NULL);
        check_set(s, nfiles);
        /* the merged trace loads again, with the same tasks */
        make_dir();
        FUZZ_CHECK(dusk_trace_write_json(s, json) == 0);
        FUZZ_CHECK(dusk_trace_write_report(s, html, NULL) == 0);
        dusk_trace_set *again = NULL;
        const char *one[1] = {json};
        rc = dusk_trace_load(one, 1, &again, why, sizeof why);
        if (rc != 0) fprintf(stderr, "fuzz_trace_read: the merged trace: %s\n", why);
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(dusk_trace_task_count(again) == dusk_trace_task_count(s));
        dusk_trace_set_free(&again);
        dusk_trace_set_free(&s);
        FUZZ_CHECK(s == NULL);
    }
    for (int i = 0; i < nfiles; i++)
        close(fds[i]);
    return 0;
}
