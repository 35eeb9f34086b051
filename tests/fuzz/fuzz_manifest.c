/* libFuzzer target for the manifest reader (runtime/src/io/manifest.c), the one parser of
 * manifest.txt, which --resume, --continue and a look at an output directory run on whatever
 * file is there.
 *
 * The input is the file's bytes, whatever the format's version: it is written as
 * manifest.txt in a directory of this process's own, and read the two ways the library
 * reads it, through the public calls only:
 *   - dusk_manifest_read (a look): a refusal is a documented code with one line in `why`
 *     and *out NULL; an accepted file answers its fields and its state word;
 *   - dusk_manifest_open with resume, as the run that the file names (its program, params
 *     and tasks lines, when it has them and they are usable): a refusal as above; a resume
 *     that is accepted has a done set within its tasks, counted right, and saving it and
 *     resuming again gives the same done set.
 * Any failed check aborts, which libFuzzer reports as a crash with the input saved.
 *
 * Built two ways (tests/CMakeLists.txt): with clang's -fsanitize=fuzzer (DUSK_FUZZ=ON), and
 * with replay_main.c as test_manifest_fuzz_corpus, which runs it over the corpus in every
 * build.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk.h"
#include "dusk_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(expr)                                                                           \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "fuzz_manifest: check failed: %s (line %d)\n", #expr, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Resumes of more tasks than this are not tried: the bitmap and the checks cost time per task,
 * and the parser does not look at the count beyond comparing it. */
#define MAX_TASKS (1 << 16)

static char dir[256], path[300];

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

/* A directory of this process's own (made once, removed at exit), in memory where there is
 * /dev/shm: the manifest is written there for every input, and synced by each save. */
static void make_dir(void)
{
    if (dir[0] != '\0') return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/dusk-fuzz-manifest-XXXXXX", base);
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    atexit(remove_dir);
}

static void check_why(const char *why, size_t len, int rc)
{
    FUZZ_CHECK(memchr(why, '\0', len) != NULL);
    FUZZ_CHECK(strchr(why, '\n') == NULL);
    if (rc != 0) FUZZ_CHECK(why[0] != '\0');
}

static char *copy(const char *s)
{
    char *c = s ? strdup(s) : NULL;
    FUZZ_CHECK(s == NULL || c != NULL);
    return c;
}

/* The done set of m, as a bitmap of ntasks bits (malloc'd). */
static unsigned char *done_set(const dusk_manifest *m, int64_t ntasks)
{
    unsigned char *bits = calloc((size_t)ntasks / 8 + 1, 1);
    FUZZ_CHECK(bits != NULL);
    int64_t count = 0;
    for (int64_t i = 0; i < ntasks; i++)
        if (dusk_manifest_is_done(m, i)) bits[i >> 3] |= (unsigned char)(1u << (i & 7)), count++;
    FUZZ_CHECK(count == dusk_manifest_done_count(m));
    FUZZ_CHECK(!dusk_manifest_is_done(m, -1) && !dusk_manifest_is_done(m, ntasks));
    return bits;
}

/* Resume as the run the file names. */
static void resume(const char *program, const char *params, int64_t ntasks)
{
    dusk_manifest *m = (dusk_manifest *)&m;
    char why[512];
    memset(why, 'x', sizeof why);
    int rc = dusk_manifest_open(dir, program, params, ntasks, 1, NULL, NULL, &m, why, sizeof why);
    check_why(why, sizeof why, rc);
    if (rc != 0) {
        FUZZ_CHECK(rc == DUSK_EFORMAT || rc == DUSK_EINVAL || rc == DUSK_ENOMEM);
        FUZZ_CHECK(m == NULL);
        return;
    }
    FUZZ_CHECK(m != NULL);
    FUZZ_CHECK(strlen(dusk_manifest_prior_state(m)) < 32);
    unsigned char *before = done_set(m, ntasks);
    FUZZ_CHECK(dusk_manifest_saved_count(m) == dusk_manifest_done_count(m));
    int64_t count = dusk_manifest_done_count(m);
    /* what it saves, it reads back */
    FUZZ_CHECK(dusk_manifest_save(m, "fuzzed") == 0);
    dusk_manifest_close(&m);
    FUZZ_CHECK(m == NULL);
    rc = dusk_manifest_open(dir, program, params, ntasks, 1, NULL, NULL, &m, why, sizeof why);
    if (rc != 0) fprintf(stderr, "fuzz_manifest: its own manifest: %s\n", why);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(strcmp(dusk_manifest_prior_state(m), "fuzzed") == 0);
    FUZZ_CHECK(dusk_manifest_done_count(m) == count);
    unsigned char *after = done_set(m, ntasks);
    FUZZ_CHECK(memcmp(before, after, (size_t)ntasks / 8 + 1) == 0);
    free(before);
    free(after);
    dusk_manifest_close(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    make_dir();
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);

    dusk_manifest *m = (dusk_manifest *)&m; /* not NULL: the reader must set it */
    char why[512];
    memset(why, 'x', sizeof why);
    int rc = dusk_manifest_read(dir, &m, why, sizeof why);
    check_why(why, sizeof why, rc);
    if (rc != 0) {
        /* the codes dusk_manifest.h names for a file that is there (EINVAL: a format it
         * refuses, such as a newer version) */
        FUZZ_CHECK(rc == DUSK_EFORMAT || rc == DUSK_ENOMEM || rc == DUSK_EINVAL);
        FUZZ_CHECK(m == NULL);
        return 0;
    }
    FUZZ_CHECK(m != NULL);
    FUZZ_CHECK(strlen(dusk_manifest_prior_state(m)) < 32);
    FUZZ_CHECK(dusk_manifest_done_count(m) == 0 && !dusk_manifest_is_done(m, 0));
    FUZZ_CHECK(dusk_manifest_save(m, "finished") != 0); /* a look does not write */
    static const char *const keys[] = {"program", "params", "tasks",   "state", "done",
                                       "ids",     "check",  "version", "end",   "format"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = dusk_manifest_field(m, keys[i]);
        if (v != NULL) FUZZ_CHECK(strchr(v, '\n') == NULL && strlen(v) < size + 1);
    }
    char *program = copy(dusk_manifest_field(m, "program"));
    char *params = copy(dusk_manifest_field(m, "params"));
    const char *tasks = dusk_manifest_field(m, "tasks");
    char *end = NULL;
    errno = 0;
    long long ntasks = tasks ? strtoll(tasks, &end, 10) : -1;
    int usable = tasks && end != tasks && *end == '\0' && errno == 0 && ntasks >= 0 &&
                 ntasks <= MAX_TASKS && program && params && *program && !strchr(program, ' ');
    dusk_manifest_close(&m);
    FUZZ_CHECK(m == NULL);
    if (usable) resume(program, params, ntasks);
    free(program);
    free(params);
    return 0;
}
