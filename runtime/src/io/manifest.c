/* The manifest of done tasks (dusk_manifest.h): a bitmap in memory, a text file on disk. */
#define _POSIX_C_SOURCE 200809L
#include "dusk_manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

#define MANIFEST_NAME "manifest.txt"
#define MANIFEST_MAGIC "dusk-manifest 1"
/* The second line of a manifest that ends with the line END_LINE: one cut short (copied in
 * part, or damaged) is then told from a whole one. Manifests without it (written before it
 * was) are read as they always were. */
#define MANIFEST_SEALED "version 2"
#define END_LINE "end"

struct dusk_manifest {
    char *dir, *path;
    char *program, *params;
    char prior_state[32];
    int64_t ntasks;
    char *keys[16], *values[16]; /* extra fields set for the next save */
    int nfields;
    atomic_llong saved; /* tasks the manifest on disk lists */
    /* the manifest read from disk (a resume, dusk_manifest_read): its text, cut into lines
     * "key value" (keys and values point into it) */
    char *text;
    char **read_keys, **read_values;
    int nread;
    atomic_uchar *bits; /* one bit per task */
    atomic_llong ndone;
    dusk_manifest_sync_fn sync;
    void *ctx;
    /* the check of the done set (dusk_manifest_set_check): base, the sum over the tasks done
     * before this run (read, and merged), known when it is (0: a manifest without one) */
    dusk_manifest_check_fn check;
    void *check_ctx;
    uint64_t check_base;
    int check_known;
    pthread_mutex_t save_lock; /* one save at a time */
    /* autosave thread */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t saver;
    int saving, stop;
    double interval;
};

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s != NULL) snprintf(s, la + lb + 2, "%s/%s", a, b);
    return s;
}

int dusk_manifest_is_done(const dusk_manifest *m, int64_t id)
{
    if (m == NULL || id < 0 || id >= m->ntasks) return 0;
    return (atomic_load(&m->bits[id >> 3]) >> (id & 7)) & 1;
}

int64_t dusk_manifest_done_count(const dusk_manifest *m)
{
    return m ? atomic_load(&m->ndone) : 0;
}

void dusk_manifest_mark_done(dusk_manifest *m, int64_t id)
{
    if (m == NULL || id < 0 || id >= m->ntasks) return;
    unsigned char bit = (unsigned char)(1u << (id & 7));
    if (!(atomic_fetch_or(&m->bits[id >> 3], bit) & bit)) atomic_fetch_add(&m->ndone, 1);
}

const char *dusk_manifest_prior_state(const dusk_manifest *m)
{
    return m ? m->prior_state : "";
}

int64_t dusk_manifest_saved_count(const dusk_manifest *m)
{
    return m ? atomic_load(&((dusk_manifest *)m)->saved) : 0;
}

static const char *const own_keys[] = {"program", "params", "tasks", "state",
                                       "done",    "ids",    "check"};

int dusk_manifest_set_field(dusk_manifest *m, const char *key, const char *value)
{
    if (m == NULL || key == NULL || value == NULL || *key == '\0' || strchr(value, '\n'))
        return DUSK_EINVAL;
    for (const char *c = key; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_')) return DUSK_EINVAL;
    for (size_t i = 0; i < sizeof own_keys / sizeof own_keys[0]; i++)
        if (strcmp(key, own_keys[i]) == 0) return DUSK_EINVAL;
    char *v = dusk__strdup(value);
    if (v == NULL) return DUSK_ENOMEM;
    pthread_mutex_lock(&m->save_lock);
    int i = 0;
    while (i < m->nfields && strcmp(m->keys[i], key) != 0)
        i++;
    int ret = 0;
    if (i == m->nfields) {
        if (i == 16 || (m->keys[i] = dusk__strdup(key)) == NULL) {
            ret = i == 16 ? DUSK_EINVAL : DUSK_ENOMEM;
            free(v);
        } else {
            m->values[i] = v;
            m->nfields++;
        }
    } else {
        free(m->values[i]);
        m->values[i] = v;
    }
    pthread_mutex_unlock(&m->save_lock);
    return ret;
}

/* ---- reading: the one parser of manifest.txt ------------------------------------------- */

/* The value of line "key value" that was read (the first such line), or NULL. */
static const char *read_field(const dusk_manifest *m, const char *key)
{
    for (int i = 0; i < m->nread; i++)
        if (strcmp(m->read_keys[i], key) == 0) return m->read_values[i];
    return NULL;
}

/* The ids line into the bitmap: comma-separated "A", "A-B" and "A-B:S" (A, A+S, ... B, with
 * B - A a multiple of S), in any order (write_ids writes runs by their first item, which
 * interleave). A manifest written before strides were lists "A" and "A-B" alone, and reads
 * the same. Returns 0, or -1 when malformed or out of range. */
static int parse_ids(dusk_manifest *m, const char *s)
{
    if (*s == '\0') return 0;
    for (;;) {
        char *end;
        errno = 0;
        long long a = strtoll(s, &end, 10), b = a, d = 1;
        if (end == s || errno || *s == '-' || *s == '+' || *s == ' ') return -1;
        s = end;
        if (*s == '-') {
            b = strtoll(++s, &end, 10);
            if (end == s || errno) return -1;
            s = end;
            if (*s == ':') {
                d = strtoll(++s, &end, 10);
                if (end == s || errno || d < 1) return -1;
                s = end;
            }
        }
        if (a < 0 || b < a || b >= m->ntasks || (b - a) % d != 0) return -1;
        for (long long i = a; i <= b; i += d)
            dusk_manifest_mark_done(m, i);
        if (*s == '\0') return 0;
        if (*s++ != ',') return -1;
    }
}

/* m->path into m->text, cut into its lines: "key value" (a line without a space is a key
 * with an empty value). 0, or DUSK_EIO (errno kept), DUSK_ENOMEM, DUSK_EFORMAT (its first
 * line is not the manifest's), each with `why`. */
static int read_text(dusk_manifest *m, char *why, size_t whylen)
{
    FILE *f = fopen(m->path, "r");
    if (f == NULL) {
        int err = errno;
        if (err == ENOENT)
            dusk__set_why(why, whylen, "%s does not exist: there is no run to resume there",
                          m->path);
        else
            dusk__set_why(why, whylen, "cannot read %s: %s", m->path, strerror(err));
        errno = err;
        return DUSK_EIO;
    }
    size_t cap = 4096, len = 0, got;
    char *text = malloc(cap);
    int nomem = text == NULL;
    while (!nomem && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 < cap) continue;
        char *more = cap < ((size_t)1 << 34) ? realloc(text, cap * 2) : NULL;
        if (more == NULL) {
            nomem = 1;
        } else {
            text = more;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (nomem || err) {
        free(text);
        dusk__set_why(why, whylen, "cannot read %s", m->path);
        return nomem ? DUSK_ENOMEM : DUSK_EIO;
    }
    text[len] = '\0';
    m->text = text;
    if (strncmp(text, MANIFEST_MAGIC "\n", sizeof MANIFEST_MAGIC) != 0) {
        dusk__set_why(why, whylen, "%s is not a dusk manifest, or is damaged", m->path);
        return DUSK_EFORMAT;
    }
    /* the second line: "version N", or, in a manifest written before it was, "program ..." */
    const char *second = text + sizeof MANIFEST_MAGIC;
    size_t vlen = strcspn(second, "\n");
    if (*second == '\0' || (*second == 'v' && second[vlen] == '\0')) {
        dusk__set_why(why, whylen, "%s is damaged: it is cut short (in its first lines)", m->path);
        return DUSK_EFORMAT;
    }
    if (*second == 'v') {
        if (strncmp(second, MANIFEST_SEALED "\n", sizeof MANIFEST_SEALED) != 0) {
            dusk__set_why(why, whylen, "%s was written by a newer dusk (%.*s)", m->path, (int)vlen,
                          second);
            return DUSK_EFORMAT;
        }
        size_t tail = sizeof END_LINE + 1; /* "\nend\n" */
        if (len < tail || strcmp(text + len - tail, "\n" END_LINE "\n") != 0) {
            dusk__set_why(why, whylen,
                          "%s is damaged: it is cut short (its last line, \"" END_LINE
                          "\", is missing)",
                          m->path);
            return DUSK_EFORMAT;
        }
    }
    size_t lines = 0;
    for (const char *c = text; *c; c++)
        lines += *c == '\n';
    m->read_keys = calloc(lines + 1, sizeof *m->read_keys);
    m->read_values = calloc(lines + 1, sizeof *m->read_values);
    if (m->read_keys == NULL || m->read_values == NULL) {
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    char *save = NULL;
    strtok_r(text, "\n", &save); /* the magic line */
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strcmp(line, MANIFEST_SEALED) == 0 || strcmp(line, END_LINE) == 0) continue;
        char *space = strchr(line, ' ');
        m->read_keys[m->nread] = line;
        m->read_values[m->nread++] = space ? space + 1 : line + strlen(line);
        if (space) *space = '\0';
    }
    return 0;
}

/* A resume: the manifest on disk must be this run's (program, params, tasks), and its done
 * set whole. */
static int load(dusk_manifest *m, char *why, size_t whylen)
{
    int ret = read_text(m, why, whylen);
    if (ret != 0) return ret;
    const char *program = read_field(m, "program"), *params = read_field(m, "params");
    const char *tasks = read_field(m, "tasks"), *state = read_field(m, "state");
    const char *ids = read_field(m, "ids"), *done = read_field(m, "done");
    long long ntasks = tasks ? strtoll(tasks, NULL, 10) : -1;
    if (!program || !params || !tasks || !state || !ids || !done) {
        dusk__set_why(why, whylen, "%s is not a dusk manifest, or is damaged", m->path);
        ret = DUSK_EFORMAT;
    } else if (strcmp(program, m->program) != 0) {
        dusk__set_why(why, whylen, "%s is the manifest of a %s run, not of %s", m->path, program,
                      m->program);
        ret = DUSK_EINVAL;
    } else if (strcmp(params, m->params) != 0 || ntasks != m->ntasks) {
        dusk__set_why(why, whylen, "%s was made by a run with other parameters (%s; now: %s)",
                      m->path, params, m->params);
        ret = DUSK_EINVAL;
    } else if (parse_ids(m, ids) != 0 || dusk_manifest_done_count(m) != strtoll(done, NULL, 10)) {
        dusk__set_why(why, whylen, "%s is damaged: its list of done tasks does not add up",
                      m->path);
        ret = DUSK_EFORMAT;
    } else {
        snprintf(m->prior_state, sizeof m->prior_state, "%s", state);
        atomic_store(&m->saved, dusk_manifest_done_count(m));
        const char *check = read_field(m, "check");
        char *end = NULL;
        if (check != NULL) {
            errno = 0;
            m->check_base = strtoull(check, &end, 16);
            m->check_known = end == check + 16 && *end == '\0' && errno == 0;
        }
    }
    return ret;
}

const char *dusk_manifest_field(const dusk_manifest *m, const char *key)
{
    if (m == NULL || key == NULL) return NULL;
    for (int i = 0; i < m->nfields; i++)
        if (strcmp(m->keys[i], key) == 0) return m->values[i];
    return read_field(m, key);
}

/* ---- writing ----------------------------------------------------------------------------- */

static int bit_at(const unsigned char *b, int64_t i)
{
    return (b[i >> 3] >> (i & 7)) & 1;
}

/* The first set bit at or after i, or n. Skips empty bytes whole: the set of a rank under a
 * cyclic distribution, or one mostly not done, is sparse. */
static int64_t next_set(const unsigned char *b, int64_t i, int64_t n)
{
    while (i < n) {
        if ((i & 7) == 0 && b[i >> 3] == 0) {
            i += 8;
            continue;
        }
        if (bit_at(b, i)) return i;
        i++;
    }
    return n;
}

/* How many of a, a+d, a+2d, ... (below n) are set, in a row. With d > 1 the run stops at a
 * point whose next d - 1 tasks are all set: a stride is how a sparse set (a rank's, or the
 * ranks' merged above where they all got to) repeats, not a way to step over a gap in a dense
 * one, which would leave the tasks stepped over in pieces for the runs after it. */
static int64_t run_length(const unsigned char *b, int64_t a, int64_t d, int64_t n)
{
    int64_t len = 0;
    for (int64_t i = a; i < n && bit_at(b, i); i += d) {
        len++;
        if (d > 1 && i + d < n) {
            int64_t j = i + 1;
            while (j < i + d && bit_at(b, j))
                j++;
            if (j == i + d) break;
        }
    }
    return len;
}

/* The strides tried at each task: to the next few tasks of the set, the smallest first (a
 * task's own rank's stride under a cyclic distribution over R ranks is R; the merged set of a
 * stopped job mixes R residues; 16 covers that to 16 ranks, with some done out of order). The
 * first that makes a run this long is taken (walking every candidate's run would cost a few
 * times the set's size), else the longest. */
#define STRIDE_TRIES 16
#define RUN_LONG 16

/* The done set from a snapshot of the bitmap, as comma-separated items "A", "A-B" (A to B)
 * and "A-B:S" (A, A+S, ... B): each time a run from the least task not yet written, of
 * stride 1 or a stride to one of the next tasks (RUN_LONG). So the line grows with the set's gaps,
 * not its size: a rank's items under a cyclic distribution (1,3,5,...) are one item, and a
 * stopped job's merged set a few. Runs are written in the order of their first item, and
 * consumed (cleared in `left`, scratch of the snapshot's size) as they are. */
static void write_ids(FILE *f, const unsigned char *snap, unsigned char *left, int64_t ntasks)
{
    memcpy(left, snap, (size_t)((ntasks + 7) / 8));
    const char *sep = "";
    for (int64_t x = next_set(left, 0, ntasks); x < ntasks; x = next_set(left, x + 1, ntasks)) {
        int64_t best_d = 1, best_len = run_length(left, x, 1, ntasks);
        int64_t y = x;
        for (int k = 0; k < STRIDE_TRIES && best_len < RUN_LONG; k++) {
            y = next_set(left, y + 1, ntasks);
            if (y >= ntasks) break;
            int64_t len = run_length(left, x, y - x, ntasks);
            if (len > best_len) {
                best_len = len;
                best_d = y - x;
            }
        }
        /* two items with a stride are shorter written one by one */
        if (best_d > 1 && best_len < 3) best_len = 1;
        int64_t last = x + (best_len - 1) * best_d;
        if (best_len == 1)
            fprintf(f, "%s%" PRId64, sep, x);
        else if (best_d == 1)
            fprintf(f, "%s%" PRId64 "-%" PRId64, sep, x, last);
        else
            fprintf(f, "%s%" PRId64 "-%" PRId64 ":%" PRId64, sep, x, last, best_d);
        sep = ",";
        for (int64_t i = x; i <= last; i += best_d)
            left[i >> 3] &= (unsigned char)~(1u << (i & 7));
    }
}

static int save_locked(dusk_manifest *m, const char *state)
{
    size_t nbytes = (size_t)((m->ntasks + 7) / 8);
    unsigned char *snap = malloc(nbytes ? 2 * nbytes : 1); /* and write_ids' scratch copy */
    if (snap == NULL) return DUSK_ENOMEM;
    int64_t count = 0;
    for (size_t b = 0; b < nbytes; b++) {
        snap[b] = atomic_load(&m->bits[b]);
        count += __builtin_popcount(snap[b]);
    }
    /* The tasks in the snapshot have their results written; make them durable before the
     * manifest says so. */
    if (m->sync != NULL && m->sync(m->ctx) != 0) {
        free(snap);
        return DUSK_EIO;
    }
    dusk__atomic a;
    FILE *f = dusk__atomic_open(&a, m->path);
    if (f == NULL) {
        free(snap);
        return DUSK_EIO;
    }
    fprintf(f, MANIFEST_MAGIC "\n" MANIFEST_SEALED "\nprogram %s\nparams %s\n", m->program,
            m->params);
    for (int i = 0; i < m->nfields; i++)
        fprintf(f, "%s %s\n", m->keys[i], m->values[i]);
    if (m->check != NULL && m->check_known) {
        /* the tasks done before this run are in the base; this run's hash as they were read */
        uint64_t sum = m->check_base;
        for (int64_t i = 0; i < m->ntasks; i++)
            if ((snap[i >> 3] >> (i & 7)) & 1) sum += m->check(m->check_ctx, i);
        fprintf(f, "check %016" PRIx64 "\n", sum);
    }
    fprintf(f, "tasks %" PRId64 "\nstate %s\ndone %" PRId64 "\nids ", m->ntasks, state, count);
    write_ids(f, snap, snap + nbytes, m->ntasks);
    fputs("\n" END_LINE "\n", f);
    free(snap);
    if (dusk__atomic_commit(&a) != 0) return DUSK_EIO;
    atomic_store(&m->saved, count);
    return 0;
}

int dusk_manifest_set_check(dusk_manifest *m, dusk_manifest_check_fn fn, void *ctx)
{
    if (m == NULL || m->program == NULL) return DUSK_EINVAL;
    pthread_mutex_lock(&m->save_lock);
    m->check = fn;
    m->check_ctx = ctx;
    pthread_mutex_unlock(&m->save_lock);
    return 0;
}

int dusk_manifest_check_value(const dusk_manifest *m, uint64_t *value)
{
    if (m == NULL || value == NULL || !m->check_known) return 0;
    *value = m->check_base;
    return 1;
}

int64_t dusk_manifest_merge(dusk_manifest *m, const dusk_manifest *from)
{
    if (m == NULL || from == NULL || from->bits == NULL) return 0;
    int64_t overlap = 0, count = 0;
    for (int64_t i = 0; i < m->ntasks && i < from->ntasks; i++) {
        if (!dusk_manifest_is_done(from, i)) continue;
        count++;
        overlap += dusk_manifest_is_done(m, i);
        dusk_manifest_mark_done(m, i);
    }
    pthread_mutex_lock(&m->save_lock);
    /* Each task's hash once: `from` already merged (rank 0 saved, then died before removing
     * it) adds nothing; a part of it merged cannot be told apart, and leaves the sum unknown. */
    if (overlap < count) {
        if (overlap == 0 && from->check_known)
            m->check_base += from->check_base;
        else
            m->check_known = 0;
    }
    pthread_mutex_unlock(&m->save_lock);
    return count;
}

int dusk_manifest_save(dusk_manifest *m, const char *state)
{
    if (m == NULL || state == NULL || state[0] == '\0' || strpbrk(state, " \n") != NULL)
        return DUSK_EINVAL;
    if (m->program == NULL) return DUSK_ESTATE; /* read, not open */
    pthread_mutex_lock(&m->save_lock);
    int ret = save_locked(m, state);
    pthread_mutex_unlock(&m->save_lock);
    return ret;
}

static void *autosave_main(void *arg)
{
    dusk_manifest *m = arg;
    int64_t saved = -1;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + m->interval;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
        if (m->stop) break;
        int64_t now = dusk_manifest_done_count(m);
        if (now == saved) continue;
        pthread_mutex_unlock(&m->lock);
        if (dusk_manifest_save(m, "running") == 0) saved = now;
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

static void stop_autosave(dusk_manifest *m)
{
    if (!m->saving) return;
    pthread_mutex_lock(&m->lock);
    m->stop = 1;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->saver, NULL);
    m->saving = 0;
}

int dusk_manifest_autosave(dusk_manifest *m, double seconds)
{
    if (m == NULL || !(seconds >= 0)) return DUSK_EINVAL;
    if (m->program == NULL) return DUSK_ESTATE;
    stop_autosave(m);
    if (seconds == 0) return 0;
    m->interval = seconds;
    m->stop = 0;
    if (pthread_create(&m->saver, NULL, autosave_main, m) != 0) return DUSK_ENOMEM;
    m->saving = 1;
    return 0;
}

void dusk_manifest_close(dusk_manifest **pm)
{
    if (pm == NULL || *pm == NULL) return;
    dusk_manifest *m = *pm;
    stop_autosave(m);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->save_lock);
    for (int i = 0; i < m->nfields; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->text);
    free(m->read_keys);
    free(m->read_values);
    free(m->bits);
    free(m->dir);
    free(m->path);
    free(m->program);
    free(m->params);
    free(m);
    *pm = NULL;
}

/* A manifest handle for DIR, with nothing read or set yet. NULL when out of memory. */
static dusk_manifest *handle_new(const char *dir)
{
    dusk_manifest *m = calloc(1, sizeof *m);
    if (m == NULL) return NULL;
    pthread_mutex_init(&m->save_lock, NULL);
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&m->ndone, 0);
    m->dir = dusk__strdup(dir);
    m->path = join(dir, MANIFEST_NAME);
    if (m->dir == NULL || m->path == NULL) dusk_manifest_close(&m);
    return m;
}

int dusk_manifest_read(const char *dir, dusk_manifest **out, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (out != NULL) *out = NULL;
    if (dir == NULL || out == NULL) {
        dusk__set_why(why, whylen, "invalid manifest arguments");
        return DUSK_EINVAL;
    }
    dusk_manifest *m = handle_new(dir);
    if (m == NULL) {
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    int ret = read_text(m, why, whylen);
    if (ret != 0) {
        int err = errno;
        dusk_manifest_close(&m);
        errno = err;
        return ret;
    }
    const char *state = read_field(m, "state");
    snprintf(m->prior_state, sizeof m->prior_state, "%s", state ? state : "");
    *out = m;
    return 0;
}

int dusk_manifest_open(const char *dir, const char *program, const char *params, int64_t ntasks,
                       int resume, dusk_manifest_sync_fn sync, void *ctx, dusk_manifest **out,
                       char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (out != NULL) *out = NULL;
    if (dir == NULL || program == NULL || params == NULL || out == NULL || ntasks < 0 ||
        strchr(program, '\n') || strchr(params, '\n') || strchr(program, ' ')) {
        dusk__set_why(why, whylen, "invalid manifest arguments");
        return DUSK_EINVAL;
    }
    dusk_manifest *m = handle_new(dir);
    if (m == NULL) {
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    m->ntasks = ntasks;
    m->sync = sync;
    m->ctx = ctx;
    m->program = dusk__strdup(program);
    m->params = dusk__strdup(params);
    m->check_known = !resume; /* a new run's sum starts at 0 */
    m->bits = calloc((size_t)(ntasks + 7) / 8 + 1, sizeof *m->bits);
    if (!m->program || !m->params || !m->bits) {
        dusk_manifest_close(&m);
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    if (resume) {
        int ret = load(m, why, whylen);
        if (ret != 0) {
            int err = errno;
            dusk_manifest_close(&m);
            errno = err;
            return ret;
        }
    }
    *out = m;
    return 0;
}
