/* Batches (dusk_batch.h): items computed in chunks, rows written in place by a writer thread,
 * the manifest, resume, ranks and the exit status. Built on the public graph API and the I/O
 * layer (outputs, manifest, output directory). */
#define _GNU_SOURCE /* realpath */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "dusk_kernel.h"
#include "dusk_manifest.h"
#include "dusk_progress.h"
#include "io.h"
#include "outdir.h"
#include "outputs.h"

#define MAX_SUBJECTS 8
#define DUSK_ENOENT_MARK 1 /* open_outputs: not a resume, the files are to be made */

struct dusk_batch {
    char program[64];
    char prog[96]; /* messages: "program" or "program: rank K" */
    int64_t nitems;
    dusk__output outs[DUSK__MAX_OUTPUTS];
    int nouts;
    double *memory[DUSK__MAX_OUTPUTS];
    char *dir;
    char format[8];
    int format_given, resume, overwrite;
    char *params;
    char *attr_names[DUSK__MAX_ATTRS], *attr_values[DUSK__MAX_ATTRS];
    int nattrs;
    char *args; /* the command line as recorded in the manifest (percent-encoded words) */
    char *hint; /* the command that resumes, absolute paths */
    char *exe;  /* absolute path of the program */
    char out_flag[32], resume_flag[32], overwrite_flag[32];
    char *subject_step[MAX_SUBJECTS], *subject[MAX_SUBJECTS];
    int nsubjects;
    dusk_distribution dist;
    int64_t chunk_k, item_bytes;
    char chunk_error[160]; /* DUSK_CHUNK was malformed: said by dusk_batch_open() */
    char label[48], noun1[32], noun2[32];

    /* after dusk_batch_open() */
    int opened;
    int open_status; /* what dusk_batch_open() returned: dusk_batch_run() refuses to go on */
    const dusk__format *fmt;
    dusk__outset *files;
    dusk_manifest *manifest, *prior; /* this rank's; what was done before (ranks > 0) */
    int64_t run_token;

    /* while running */
    dusk_graph *g;
    dusk_chunker *chunker;
    atomic_int io_error;
    atomic_llong saved; /* items whose rows are written this run */
    dusk_progress *bar;
    int stored; /* some output is stored (a directory or the caller's memory) */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct job *qhead, **qtail;
    int qstop;
    pthread_t writer;
    int writer_on;
    dusk_batch_summary summary;
};

struct dusk_chunk {
    dusk_batch *b;
    int64_t first, step, count;
    atomic_int pending; /* outputs not yet written, + 1 while being submitted */
    unsigned char *bad; /* per item: not done (failed, or not written) */
    unsigned named;     /* outputs given with dusk_chunk_output() */
};

typedef struct job {
    struct job *next;
    dusk_chunk *c;
    int o;
    dusk_read *r;
} job;

static int valid_word(const char *s, const char *extra, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= max) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return 0;
    return 1;
}

int dusk_batch_new(const char *program, int64_t nitems, dusk_batch **out)
{
    if (out == NULL) return DUSK_EINVAL;
    *out = NULL;
    if (!valid_word(program, "-_.", 64) || nitems < 0 || nitems > ((int64_t)1 << 40))
        return DUSK_EINVAL;
    dusk_batch *b = calloc(1, sizeof *b);
    if (b == NULL) return DUSK_ENOMEM;
    snprintf(b->program, sizeof b->program, "%s", program);
    if (dusk_rank_count() > 1)
        snprintf(b->prog, sizeof b->prog, "%s: rank %d", program, dusk_rank());
    else
        snprintf(b->prog, sizeof b->prog, "%s", program);
    b->nitems = nitems;
    snprintf(b->format, sizeof b->format, "npy");
    snprintf(b->label, sizeof b->label, "items");
    snprintf(b->noun1, sizeof b->noun1, "item");
    snprintf(b->noun2, sizeof b->noun2, "items");
    snprintf(b->out_flag, sizeof b->out_flag, "--output");
    snprintf(b->resume_flag, sizeof b->resume_flag, "--resume");
    const char *env = getenv("DUSK_CHUNK");
    long long k;
    if (env != NULL && *env != '\0' && strcmp(env, "auto") != 0) {
        if (dusk__parse_int(env, 1, INT32_MAX, &k) == 0)
            b->chunk_k = k;
        else
            snprintf(b->chunk_error, sizeof b->chunk_error,
                     "DUSK_CHUNK='%.60s' is not auto or a whole number from 1 to %d", env,
                     INT32_MAX);
    }
    pthread_mutex_init(&b->qlock, NULL);
    pthread_cond_init(&b->qcond, NULL);
    b->qtail = &b->qhead;
    *out = b;
    return 0;
}

void dusk_batch_free(dusk_batch **pb)
{
    if (pb == NULL || *pb == NULL) return;
    dusk_batch *b = *pb;
    if (b->files) (void)!b->fmt->suspend(&b->files); /* kept as they are, for a resume */
    dusk_manifest_close(&b->manifest);
    dusk_manifest_close(&b->prior);
    dusk_chunker_free(&b->chunker);
    dusk_progress_free(&b->bar);
    if (b->opened) dusk__batch_signals_restore();
    for (int i = 0; i < b->nattrs; i++) {
        free(b->attr_names[i]);
        free(b->attr_values[i]);
    }
    for (int i = 0; i < b->nsubjects; i++) {
        free(b->subject_step[i]);
        free(b->subject[i]);
    }
    free(b->dir);
    free(b->params);
    free(b->args);
    free(b->hint);
    free(b->exe);
    pthread_cond_destroy(&b->qcond);
    pthread_mutex_destroy(&b->qlock);
    free(b);
    *pb = NULL;
}

/* ---- configuration ------------------------------------------------------------------------ */

int dusk_batch_add_output(dusk_batch *b, const char *name, int ndim, const int64_t *dims,
                          int *index)
{
    if (index) *index = -1;
    if (b == NULL || b->opened || !valid_word(name, "_", sizeof b->outs[0].name) || ndim < 0 ||
        ndim > 2 || (ndim > 0 && dims == NULL) || b->nouts == DUSK__MAX_OUTPUTS)
        return DUSK_EINVAL;
    dusk__output *o = &b->outs[b->nouts];
    int64_t row = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 1 || dims[d] > INT32_MAX || row > INT64_MAX / 8 / dims[d]) return DUSK_EINVAL;
        row *= dims[d];
        o->dims[d] = dims[d];
    }
    for (int i = 0; i < b->nouts; i++)
        if (strcmp(b->outs[i].name, name) == 0) return DUSK_EINVAL;
    snprintf(o->name, sizeof o->name, "%s", name);
    o->ndim = ndim;
    if (index) *index = b->nouts;
    b->nouts++;
    return 0;
}

static int set_dir(dusk_batch *b, const char *dir)
{
    if (dir == NULL || *dir == '\0' || strlen(dir) > 4000) return DUSK_EINVAL;
    char *d = dusk__strdup(dir);
    if (d == NULL) return DUSK_ENOMEM;
    free(b->dir);
    b->dir = d;
    return 0;
}

int dusk_batch_set_output(dusk_batch *b, const char *dir, const char *format)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    for (int i = 0; i < b->nouts; i++)
        if (b->memory[i]) return DUSK_EINVAL;
    if (format != NULL) {
        if (!dusk__format_known(format)) return DUSK_EINVAL;
        if (dusk__format_find(format) == NULL) return DUSK_ENODEV;
        snprintf(b->format, sizeof b->format, "%s", format);
        b->format_given = 1;
    }
    return set_dir(b, dir);
}

int dusk_batch_set_memory(dusk_batch *b, int index, double *values)
{
    if (b == NULL || b->opened || b->dir || index < 0 || index >= b->nouts || values == NULL)
        return DUSK_EINVAL;
    b->memory[index] = values;
    return 0;
}

int dusk_batch_resume(dusk_batch *b, const char *dir)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    int ret = set_dir(b, dir);
    if (ret == 0) b->resume = 1;
    return ret;
}

int dusk_batch_set_overwrite(dusk_batch *b, int overwrite)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    b->overwrite = overwrite != 0;
    return 0;
}

int dusk_batch_set_params(dusk_batch *b, const char *params)
{
    if (b == NULL || b->opened || params == NULL || strchr(params, '\n')) return DUSK_EINVAL;
    char *p = dusk__strdup(params);
    if (p == NULL) return DUSK_ENOMEM;
    free(b->params);
    b->params = p;
    return 0;
}

int dusk_batch_set_attr(dusk_batch *b, const char *name, const char *value)
{
    if (b == NULL || b->opened || !valid_word(name, "_", 64) || value == NULL ||
        strchr(value, '\n') || b->nattrs == DUSK__MAX_ATTRS - 2)
        return DUSK_EINVAL;
    char *n = dusk__strdup(name), *v = dusk__strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return DUSK_ENOMEM;
    }
    b->attr_names[b->nattrs] = n;
    b->attr_values[b->nattrs++] = v;
    return 0;
}

int dusk_batch_set_distribution(dusk_batch *b, dusk_distribution d)
{
    if (b == NULL || b->opened || (d != DUSK_CYCLIC && d != DUSK_BLOCK)) return DUSK_EINVAL;
    b->dist = d;
    return 0;
}

int dusk_batch_set_chunk(dusk_batch *b, int64_t k, int64_t item_bytes)
{
    if (b == NULL || b->opened || k < -1 || item_bytes < 0) return DUSK_EINVAL;
    if (k >= 0) {
        b->chunk_k = k;
        b->chunk_error[0] = '\0'; /* given: DUSK_CHUNK does not count */
    }
    b->item_bytes = item_bytes;
    return 0;
}

int dusk_batch_set_label(dusk_batch *b, const char *label)
{
    if (b == NULL || label == NULL || strlen(label) >= sizeof b->label) return DUSK_EINVAL;
    snprintf(b->label, sizeof b->label, "%s", label);
    return 0;
}

int dusk_batch_set_noun(dusk_batch *b, const char *singular, const char *plural)
{
    if (b == NULL || singular == NULL || plural == NULL || strlen(singular) >= sizeof b->noun1 ||
        strlen(plural) >= sizeof b->noun2)
        return DUSK_EINVAL;
    snprintf(b->noun1, sizeof b->noun1, "%s", singular);
    snprintf(b->noun2, sizeof b->noun2, "%s", plural);
    return 0;
}

int dusk_batch_set_subject(dusk_batch *b, const char *step, const char *subject)
{
    if (b == NULL || step == NULL || subject == NULL || b->nsubjects == MAX_SUBJECTS)
        return DUSK_EINVAL;
    char *s = dusk__strdup(step), *t = dusk__strdup(subject);
    if (s == NULL || t == NULL) {
        free(s);
        free(t);
        return DUSK_ENOMEM;
    }
    b->subject_step[b->nsubjects] = s;
    b->subject[b->nsubjects++] = t;
    return 0;
}

/* ---- the command line: recorded in the manifest, and the resume hint ---------------------- */

/* Whether argument a is `flag` or an abbreviation of it as getopt_long takes them ("--out"
 * for "--output"): 1 for "--flag=VALUE", 2 for "--flag" with VALUE to follow, else 0. */
static int names_flag(const char *a, const char *flag)
{
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0' || strncmp(flag, "--", 2) != 0) return 0;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len == 0 || len > strlen(flag + 2) || strncmp(a + 2, flag + 2, len) != 0) return 0;
    return eq ? 1 : 2;
}

static int in_list(const char *a, const char *const *flags, int *kind)
{
    for (int i = 0; flags && flags[i]; i++)
        if ((*kind = names_flag(a, flags[i])) != 0) return 1;
    *kind = 0;
    return 0;
}

/* A path as the hint must print it: absolute (from the current directory when it does not
 * exist yet). Malloc'ed. */
static char *absolute(const char *path)
{
    char buf[PATH_MAX];
    if (realpath(path, buf) != NULL) return dusk__strdup(buf);
    if (path[0] == '/') return dusk__strdup(path);
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) return dusk__strdup(path);
    size_t len = strlen(cwd) + strlen(path) + 2;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s/%s", cwd, path);
    return s;
}

/* One word for a POSIX shell, quoted when it needs to be. */
static void shell_word(dusk__sb *sb, const char *a)
{
    int plain = *a != '\0';
    for (const char *c = a; *c; c++)
        plain = plain && (strchr("-_./=:,+@%", *c) || (*c >= '0' && *c <= '9') ||
                          (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'));
    dusk__sb_puts(sb, " ");
    if (plain) {
        dusk__sb_puts(sb, a);
        return;
    }
    dusk__sb_puts(sb, "'");
    for (const char *c = a; *c; c++)
        dusk__sb_puts(sb, *c == '\'' ? "'\\''" : (char[2]){*c, 0});
    dusk__sb_puts(sb, "'");
}

/* A word for the manifest's args line: bytes outside a plain set as %XX. */
static void percent_word(dusk__sb *sb, const char *a)
{
    if (sb->len > 0) dusk__sb_puts(sb, " ");
    if (*a == '\0') dusk__sb_puts(sb, "%");
    for (const unsigned char *c = (const unsigned char *)a; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-_./=:,+@", *c))
            dusk__sb_put(sb, (const char *)c, 1);
        else
            dusk__sb_printf(sb, "%%%02X", *c);
    }
}

int dusk_batch_set_args(dusk_batch *b, int argc, char *const *argv, const char *const *dir_flags,
                        const char *const *drop_flags, const char *const *path_flags,
                        const char *resume_flag)
{
    if (b == NULL || b->opened || argc < 1 || argv == NULL || resume_flag == NULL ||
        strlen(resume_flag) >= sizeof b->resume_flag)
        return DUSK_EINVAL;
    if (resume_flag != b->resume_flag) /* dusk_batch_open() passes b's own: no overlap */
        snprintf(b->resume_flag, sizeof b->resume_flag, "%s", resume_flag);
    if (dir_flags && dir_flags[0] && strlen(dir_flags[0]) < sizeof b->out_flag)
        snprintf(b->out_flag, sizeof b->out_flag, "%s", dir_flags[0]);
    if (drop_flags && drop_flags[0] && strlen(drop_flags[0]) < sizeof b->overwrite_flag)
        snprintf(b->overwrite_flag, sizeof b->overwrite_flag, "%s", drop_flags[0]);
    char store[1024];
    dusk__sb words;
    dusk__sb_init(&words, store, sizeof store);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int kind;
        if (in_list(a, dir_flags, &kind)) {
            i += kind == 2; /* the directory is the next argument */
            continue;
        }
        if (in_list(a, drop_flags, &kind)) continue;
        if (in_list(a, path_flags, &kind)) {
            const char *value = kind == 1 ? strchr(a, '=') + 1 : i + 1 < argc ? argv[i + 1] : NULL;
            char *abs = value ? absolute(value) : NULL;
            if (kind == 1) {
                char flag[64];
                snprintf(flag, sizeof flag, "%.*s", (int)(strchr(a, '=') - a), a);
                percent_word(&words, flag);
            } else {
                percent_word(&words, a);
                i++;
            }
            if (abs) percent_word(&words, abs);
            free(abs);
            continue;
        }
        percent_word(&words, a);
    }
    free(b->args);
    b->args = words.oom ? NULL : dusk__strdup(words.p);
    dusk__sb_free(&words);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    free(b->exe);
    if (n > 0) {
        exe[n] = '\0';
        b->exe = dusk__strdup(exe);
    } else {
        b->exe = absolute(argv[0]);
    }
    return b->args && b->exe ? 0 : DUSK_ENOMEM;
}

/* The words of an args line (percent-encoded, separated by spaces) as a NULL-terminated
 * array in one block the caller frees. 0 or DUSK_ENOMEM. */
static int decode_words(const char *s, char ***argvp, int *argcp)
{
    size_t len = strlen(s);
    int words = 0;
    for (const char *c = s; *c; c++)
        words += *c != ' ' && (c == s || c[-1] == ' ');
    char **argv = malloc((size_t)(words + 1) * sizeof *argv + len + 1);
    if (argv == NULL) return DUSK_ENOMEM;
    char *out = (char *)(argv + words + 1);
    int argc = 0;
    for (const char *c = s; *c;) {
        if (*c == ' ') {
            c++;
            continue;
        }
        argv[argc++] = out;
        for (; *c && *c != ' '; c++) {
            unsigned v;
            if (*c == '%' && (c[1] == ' ' || c[1] == '\0')) continue; /* "%": an empty word */
            if (*c == '%' && sscanf(c + 1, "%2x", &v) == 1) {
                *out++ = (char)v;
                c += 2;
            } else {
                *out++ = *c;
            }
        }
        *out++ = '\0';
    }
    argv[argc] = NULL;
    *argvp = argv;
    *argcp = argc;
    return 0;
}

int dusk_batch_resume_args(const char *dir, char ***argvp, int *argcp, char *why, size_t whylen)
{
    if (argvp) *argvp = NULL;
    if (argcp) *argcp = 0;
    if (dir == NULL || argvp == NULL || argcp == NULL) return DUSK_EINVAL;
    char path[4200], line[16384];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int err = errno;
        dusk__set_why(why, whylen, "%s: %s: there is no run to resume there", dir, strerror(err));
        errno = err;
        return DUSK_EIO;
    }
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL)
        found = strncmp(line, "args ", 5) == 0 || strcmp(line, "args\n") == 0;
    fclose(f);
    if (!found) return 0; /* a manifest from before args were recorded: nothing */
    line[strcspn(line, "\n")] = '\0';
    return decode_words(line + (line[4] == ' ' ? 5 : 4), argvp, argcp);
}

/* The resume command, and its text for a second signal. */
static void make_hint(dusk_batch *b)
{
    char store[2048];
    dusk__sb sb;
    dusk__sb_init(&sb, store, sizeof store);
    char *dir = absolute(b->dir);
    shell_word(&sb, b->exe ? b->exe : b->program);
    char **argv = NULL;
    int argc = 0;
    /* the recorded words, decoded back, then the directory */
    if (b->args && decode_words(b->args, &argv, &argc) == 0) {
        for (int i = 0; i < argc; i++)
            shell_word(&sb, argv[i]);
        free(argv);
    }
    shell_word(&sb, b->resume_flag);
    shell_word(&sb, dir ? dir : b->dir);
    free(dir);
    free(b->hint);
    b->hint = sb.oom ? NULL : dusk__strdup(sb.p + 1); /* without the leading space */
    dusk__sb_free(&sb);
    char quit[8192];
    snprintf(quit, sizeof quit, "%s: quit at once; to resume%s: %s\n", b->prog,
             dusk_rank_count() > 1 ? " (under mpirun, with any number of ranks)" : "",
             b->hint ? b->hint : "");
    dusk__batch_signals_set_quit(quit);
}

/* ---- opening: before dusk_init() ------------------------------------------------------------ */

/* The outputs of a new run need room on the disk: refused before anything is made. */
static int check_disk(const dusk_batch *b)
{
    int64_t need = 0;
    for (int i = 0; i < b->nouts; i++) {
        int64_t one =
            dusk_mul_sat(b->nitems, dusk_mul_sat(dusk__output_row_values(&b->outs[i]), 8));
        need = one > INT64_MAX - need - 4096 ? INT64_MAX : need + one + 4096;
    }
    int64_t avail;
    if (dusk_disk_available(b->dir, &avail) != 0 || need <= avail) return 0;
    char n[32], a[32];
    dusk_bytes_text(n, sizeof n, need);
    dusk_bytes_text(a, sizeof a, avail);
    fprintf(stderr,
            "%s: writing %lld %s of results needs %lld bytes (%s) of disk in %s, only %lld bytes "
            "(%s) are free there\n",
            b->prog, (long long)b->nitems, b->nitems == 1 ? b->noun1 : b->noun2, (long long)need, n,
            b->dir, (long long)avail, a);
    return DUSK_EXIT_FAILURE;
}

static int manifest_sync(void *ctx)
{
    dusk_batch *b = ctx;
    return b->files && b->fmt->sync(b->files) != 0 ? -1 : 0;
}

/* The manifests that ranks K > 0 of an earlier run left in DIR/.rank-K/ (rank 0 merges them
 * at the end of a run, so they remain only after a job that was killed). merge != 0 (a
 * resume, or the end of a run): their items are added to b->manifest, which is then saved,
 * and only then are they removed. merge == 0 (a new run): they are removed, since the results
 * they list are about to go. 0, or after saying why -2 (one is not a manifest of this run) or
 * -1 (any other error). */
static int rank_manifests(dusk_batch *b, int merge, const char *state)
{
    int ret = 0, merged = 0;
    for (int rank = 1; rank < 1 << 24 && ret == 0; rank++) {
        char sub[4200], path[4300], why[512];
        snprintf(sub, sizeof sub, "%s/.rank-%d", b->dir, rank);
        snprintf(path, sizeof path, "%s/manifest.txt", sub);
        struct stat st;
        if (stat(sub, &st) != 0) {
            /* ranks are numbered from 1 up; the highest of any earlier job ends the list,
             * but a gap (a rank that never wrote) must not hide the ones after it */
            if (rank > 4096) break;
            continue;
        }
        if (merge && access(path, F_OK) == 0) {
            dusk_manifest *m = NULL;
            int err = dusk_manifest_open(sub, b->program, b->params ? b->params : "", b->nitems, 1,
                                         NULL, NULL, &m, why, sizeof why);
            if (err != 0) {
                fprintf(stderr, "%s: %s %s: rank %d's %s\n", b->prog, b->resume_flag, b->dir, rank,
                        why);
                ret = err == DUSK_EINVAL || err == DUSK_EFORMAT ? -2 : -1;
                break;
            }
            for (int64_t i = 0; i < b->nitems; i++)
                if (dusk_manifest_is_done(m, i)) dusk_manifest_mark_done(b->manifest, i);
            dusk_manifest_close(&m);
            merged = 1;
            continue;
        }
        if (!merge && unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
            fprintf(stderr, "%s: cannot remove the earlier run's %s: %s\n", b->prog, path,
                    strerror(errno));
            ret = -1;
        }
        if (!merge) (void)rmdir(sub);
    }
    if (ret != 0 || !merge) return ret;
    if (merged && dusk_manifest_save(b->manifest, state) != 0) {
        fprintf(stderr, "%s: cannot write %s/manifest.txt: %s\n", b->prog, b->dir, strerror(errno));
        return -1;
    }
    return merged ? rank_manifests(b, 0, state) : 0; /* saved: the parts can go */
}

static void attrs_of(const dusk_batch *b, dusk__attr *attrs)
{
    for (int i = 0; i < b->nattrs; i++)
        attrs[i] = (dusk__attr){b->attr_names[i], b->attr_values[i]};
}

/* Rank 0: the manifest first (a new one replaces an old one, and the ranks' old ones go,
 * before any file is made fresh, so that no manifest lists items whose results are gone), then
 * the output files: created under their temporary names, or reopened in place by a resume.
 * An exit status, or 0 to go on. */
static int open_outputs(dusk_batch *b)
{
    char why[512], state[32];
    const char *dir = b->dir;
    if (!b->resume && (b->nitems > 0 && check_disk(b) != 0)) return DUSK_EXIT_FAILURE;
    if (b->resume) {
        struct stat st;
        if (stat(dir, &st) != 0) {
            fprintf(stderr, "%s: %s %s: %s: there is no run to resume there\n", b->prog,
                    b->resume_flag, dir, strerror(errno));
            return DUSK_EXIT_USAGE;
        }
    } else if (dusk__mkdir_p(dir, 0777) != 0) {
        fprintf(stderr, "%s: cannot create output directory %s: %s\n", b->prog, dir,
                strerror(errno));
        return DUSK_EXIT_FAILURE;
    }
    if (dusk__outdir_lock(b->prog, dir) != 0) return DUSK_EXIT_FAILURE;
    char names[4 * DUSK__MAX_OUTPUTS + 4][64];
    const char *list[4 * DUSK__MAX_OUTPUTS + 4];
    int nnames = 0;
    if (!b->resume) {
        /* this run's files, and those of the run that wrote DIR before (other outputs) */
        dusk__output outs[2 * DUSK__MAX_OUTPUTS];
        int nouts = b->nouts;
        memcpy(outs, b->outs, sizeof b->outs);
        char was[512];
        if (dusk__outdir_run_field(dir, b->program, "outputs", was, sizeof was) == 0)
            for (char *save = NULL, *w = strtok_r(was, ",", &save);
                 w && nouts < 2 * DUSK__MAX_OUTPUTS; w = strtok_r(NULL, ",", &save))
                if (valid_word(w, "_", sizeof outs[0].name))
                    snprintf(outs[nouts++].name, sizeof outs[0].name, "%s", w);
        /* in every format: a run in another format leaves its own */
        for (const char *const *f = (const char *const[]){"npy", "h5", NULL}; *f; f++) {
            const dusk__format *fmt = dusk__format_find(*f);
            if (fmt != NULL)
                nnames += fmt->files(outs, nouts, names + nnames,
                                     (int)(sizeof names / sizeof names[0]) - 2 - nnames);
        }
        snprintf(names[nnames++], 64, "results.h5"); /* even without HDF5 here */
        snprintf(names[nnames++], 64, "failures.json");
        for (int i = 0; i < nnames; i++)
            list[i] = names[i];
        if (dusk__outdir_check_foreign(b->prog, dir, b->program, list, nnames) != 0)
            return DUSK_EXIT_USAGE;
        /* a stopped run's saved work would be lost (one that saved nothing has none) */
        char done[32] = "0", rank1[4200];
        snprintf(rank1, sizeof rank1, "%s/.rank-1", dir);
        if (!b->overwrite &&
            dusk__outdir_run_field(dir, b->program, "state", state, sizeof state) == 0 &&
            strcmp(state, "finished") != 0 &&
            ((dusk__outdir_run_field(dir, b->program, "done", done, sizeof done) == 0 &&
              strcmp(done, "0") != 0) ||
             access(rank1, F_OK) == 0)) {
            if (b->overwrite_flag[0])
                fprintf(stderr,
                        "%s: %s %s holds a stopped run (%s %s saved): resume it with %s %s, "
                        "or start again with %s\n",
                        b->prog, b->out_flag, dir, done, b->noun2, b->resume_flag, dir,
                        b->overwrite_flag);
            else
                fprintf(stderr,
                        "%s: %s %s holds a stopped run (%s %s saved): resume it with %s %s, "
                        "or remove the directory to start again\n",
                        b->prog, b->out_flag, dir, done, b->noun2, b->resume_flag, dir);
            return DUSK_EXIT_USAGE;
        }
        if (rank_manifests(b, 0, "running") != 0) return DUSK_EXIT_FAILURE;
    }
    int ret = dusk_manifest_open(dir, b->program, b->params ? b->params : "", b->nitems, b->resume,
                                 manifest_sync, b, &b->manifest, why, sizeof why);
    if (ret == 0 && b->resume) {
        /* the format the run was made in; a resume that asks for another is refused */
        const char *was = dusk_manifest_field(b->manifest, "format");
        if (was == NULL) was = "npy";
        if (b->format_given && strcmp(was, b->format) != 0) {
            snprintf(why, sizeof why, "the run wrote its results as %s, not %s", was, b->format);
            ret = DUSK_EINVAL;
        } else {
            snprintf(b->format, sizeof b->format, "%s", was);
        }
    }
    if (ret == 0 && (b->fmt = dusk__format_find(b->format)) == NULL) {
        snprintf(why, sizeof why, "this dusk was built without support for %s files", b->format);
        ret = DUSK_ENODEV;
    }
    char outputs[DUSK__MAX_OUTPUTS * 49] = "";
    for (int i = 0; i < b->nouts; i++)
        snprintf(outputs + strlen(outputs), sizeof outputs - strlen(outputs), "%s%s", i ? "," : "",
                 b->outs[i].name);
    if (ret == 0 &&
        ((ret = dusk_manifest_set_field(b->manifest, "format", b->format)) != 0 ||
         (b->nouts > 0 && (ret = dusk_manifest_set_field(b->manifest, "outputs", outputs)) != 0) ||
         (b->args && (ret = dusk_manifest_set_field(b->manifest, "args", b->args)) != 0)))
        snprintf(why, sizeof why, "out of memory");
    if (ret == 0 && !b->resume && dusk_manifest_save(b->manifest, "running") != 0) {
        snprintf(why, sizeof why, "cannot write %s/manifest.txt: %s", dir, strerror(errno));
        ret = DUSK_EIO;
    }
    if (ret != 0) {
        fprintf(stderr, "%s: %s %s: %s\n", b->prog, b->resume ? b->resume_flag : b->out_flag, dir,
                why);
        dusk_manifest_close(&b->manifest);
        return ret == DUSK_EINVAL || ret == DUSK_EFORMAT ? DUSK_EXIT_USAGE : DUSK_EXIT_FAILURE;
    }
    int merged = b->resume ? rank_manifests(b, 1, "interrupted") : 0;
    if (merged != 0) {
        dusk_manifest_close(&b->manifest);
        return merged == -2 ? DUSK_EXIT_USAGE : DUSK_EXIT_FAILURE;
    }
    if ((dusk_rank_count() > 1 && dusk__outdir_write_token(b->prog, dir, &b->run_token) != 0) ||
        (!b->resume && dusk__outdir_remove(b->prog, dir, list, nnames) != 0)) {
        dusk_manifest_close(&b->manifest);
        return DUSK_EXIT_FAILURE;
    }
    /* the program and dusk's version first, then the program's own */
    dusk__attr attrs[DUSK__MAX_ATTRS] = {{"program", b->program}, {"version", DUSK_VERSION_STRING}};
    attrs_of(b, attrs + 2);
    ret = b->resume ? b->fmt->reopen(dir, b->outs, b->nouts, b->nitems, &b->files, why, sizeof why)
                    : DUSK_ENOENT_MARK;
    /* a new run; or a run killed between its first manifest and its files, which saved
     * nothing: its files are made now */
    if (ret == DUSK_ENOENT_MARK ||
        (ret == DUSK_EIO && errno == ENOENT && dusk_manifest_done_count(b->manifest) == 0))
        ret = b->fmt->create(dir, b->outs, b->nouts, b->nitems, attrs, b->nattrs + 2, &b->files,
                             why, sizeof why);
    if (ret != 0) {
        fprintf(stderr, "%s: %s/%s\n", b->prog, dir, why);
        dusk_manifest_close(&b->manifest);
        return DUSK_EXIT_FAILURE;
    }
    return 0;
}

int dusk_batch_open(dusk_batch *b)
{
    if (b == NULL || b->opened) return DUSK_EXIT_FAILURE;
    b->opened = 1;
    if (b->chunk_error[0] != '\0') {
        fprintf(stderr, "%s: %s\n", b->prog, b->chunk_error);
        return b->open_status = DUSK_EXIT_USAGE;
    }
    /* caught from here on, so that a signal during start-up is a clean stop too (under
     * several ranks, every rank then stops at its first chunk and they agree at the end) */
    dusk__batch_signals_install(b->program, dusk_rank() != 0);
    if (b->dir == NULL) return 0;
    if (b->exe == NULL) {
        char *argv[] = {b->program, NULL};
        b->opened = 0;
        (void)!dusk_batch_set_args(b, 1, argv, NULL, NULL, NULL, b->resume_flag);
        b->opened = 1;
    }
    make_hint(b);
    if (dusk_rank() != 0) return 0; /* the other ranks open the files once they are made */
    return b->open_status = open_outputs(b);
}

/* ---- the writer thread: rows into the files, off StarPU's workers --------------------------- */

static int64_t item_id(const dusk_chunk *c, int64_t k)
{
    return c->first + k * c->step;
}

/* Everything written for the chunk: its items done, those that are. */
static void chunk_release(dusk_chunk *c)
{
    if (atomic_fetch_sub(&c->pending, 1) != 1) return;
    dusk_batch *b = c->b;
    int64_t good = 0;
    for (int64_t k = 0; k < c->count; k++) {
        if (c->bad[k]) continue;
        if (b->manifest) dusk_manifest_mark_done(b->manifest, item_id(c, k));
        good++;
    }
    if (b->stored) atomic_fetch_add(&b->saved, good); /* else counted as tasks finish */
    free(c->bad);
    free(c);
}

/* Items k0 .. k1-1 of the chunk are consecutive in the output: one write, of their values or
 * NaN. */
static void write_run(dusk_batch *b, dusk_chunk *c, int o, int64_t k0, int64_t k1,
                      const double *values)
{
    int64_t row = dusk__output_row_values(&b->outs[o]);
    const double *src = values ? values + k0 * row : NULL;
    if (b->memory[o] != NULL) {
        for (int64_t k = k0; k < k1; k++) {
            double *dst = b->memory[o] + item_id(c, k) * row;
            if (src)
                memcpy(dst, src + (k - k0) * row, (size_t)row * sizeof *dst);
            else
                for (int64_t j = 0; j < row; j++)
                    dst[j] = NAN;
        }
        return;
    }
    if (b->files == NULL) return;
    int ret = 0;
    if (c->step == 1)
        ret = b->fmt->write(b->files, o, item_id(c, k0), k1 - k0, src);
    else
        for (int64_t k = k0; k < k1 && ret == 0; k++)
            ret = b->fmt->write(b->files, o, item_id(c, k), 1, src ? src + (k - k0) * row : NULL);
    if (ret != 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&b->io_error, &expected, errno ? errno : EIO);
        for (int64_t k = k0; k < k1; k++)
            c->bad[k] = 1;
        dusk_graph_cancel(b->g); /* a disk that is full stays full: stop, resumable */
    }
}

static void write_job(dusk_batch *b, job *j)
{
    dusk_chunk *c = j->c;
    int status = dusk_read_status(j->r);
    int64_t count, dims[2];
    const double *values = dusk_read_values(j->r, &count, dims);
    if (status == DUSK_ECANCELED) {
        /* a cancelled task is simply not done: its rows stay as they are */
        for (int64_t k = 0; k < c->count; k++)
            c->bad[k] = 1;
    } else {
        /* runs of items alike (computed, or failed: NaN) in one write each */
        for (int64_t k0 = 0; k0 < c->count;) {
            int failed = dusk_read_item_status(j->r, k0) != 0;
            int64_t k1 = k0 + 1;
            while (k1 < c->count && (dusk_read_item_status(j->r, k1) != 0) == failed)
                k1++;
            write_run(b, c, j->o, k0, k1, failed ? NULL : values);
            if (failed)
                for (int64_t k = k0; k < k1; k++)
                    c->bad[k] = 1;
            k0 = k1;
        }
    }
    dusk_read_done(&j->r);
    chunk_release(c);
    free(j);
    if (b->bar) dusk_progress_draw(b->bar, atomic_load(&b->saved), 0);
}

static void *writer_main(void *arg)
{
    dusk_batch *b = arg;
    pthread_mutex_lock(&b->qlock);
    for (;;) {
        while (b->qhead == NULL && !b->qstop)
            pthread_cond_wait(&b->qcond, &b->qlock);
        job *j = b->qhead;
        if (j == NULL) break; /* stopping, and nothing left */
        b->qhead = j->next;
        if (b->qhead == NULL) b->qtail = &b->qhead;
        pthread_mutex_unlock(&b->qlock);
        write_job(b, j);
        pthread_mutex_lock(&b->qlock);
    }
    pthread_mutex_unlock(&b->qlock);
    return NULL;
}

/* On a StarPU thread: hand the held rows to the writer. */
static void on_rows(void *user, dusk_read *r)
{
    job *j = user;
    dusk_batch *b = j->c->b;
    j->r = r;
    pthread_mutex_lock(&b->qlock);
    *b->qtail = j;
    b->qtail = &j->next;
    pthread_cond_signal(&b->qcond);
    pthread_mutex_unlock(&b->qlock);
}

/* ---- chunks --------------------------------------------------------------------------------- */

int64_t dusk_chunk_count(const dusk_chunk *c)
{
    return c ? c->count : 0;
}

int64_t dusk_chunk_item(const dusk_chunk *c, int64_t k)
{
    return c && k >= 0 && k < c->count ? item_id(c, k) : -1;
}

int64_t dusk_chunk_step(const dusk_chunk *c)
{
    return c ? c->step : 0;
}

void dusk_chunk_task_opts(const dusk_chunk *c, dusk_task_opts *opts)
{
    if (c == NULL || opts == NULL) return;
    opts->item_first = c->first;
    opts->item_count = c->count;
    opts->item_step = c->step;
}

int dusk_chunk_output(dusk_chunk *c, int index, dusk_data *d)
{
    if (c == NULL || d == NULL || index < 0 || index >= c->b->nouts || (c->named >> index) & 1)
        return DUSK_EINVAL;
    dusk_batch *b = c->b;
    int64_t dims[2];
    const dusk__output *o = &b->outs[index];
    if (dusk_data_count(d) != c->count || dusk_data_dims(d, dims) != 0 ||
        dims[0] * dims[1] != dusk__output_row_values(o) ||
        (o->ndim == 2 && (dims[0] != o->dims[0] || dims[1] != o->dims[1]))) {
        /* a mistake of the program's: say which, once */
        fprintf(stderr,
                "%s: output %s: the data given holds %lld items of %lld x %lld, where %lld rows "
                "of %lld values each were declared\n",
                b->prog, o->name, (long long)dusk_data_count(d), (long long)dims[0],
                (long long)dims[1], (long long)c->count, (long long)dusk__output_row_values(o));
        return DUSK_EINVAL;
    }
    c->named |= 1u << index;
    if (b->files == NULL && b->memory[index] == NULL) return 0; /* nowhere to keep it */
    job *j = calloc(1, sizeof *j);
    if (j == NULL) return DUSK_ENOMEM;
    j->c = c;
    j->o = index;
    atomic_fetch_add(&c->pending, 1);
    int ret = dusk_data_read_hold(d, on_rows, j);
    if (ret != 0) {
        free(j);
        for (int64_t k = 0; k < c->count; k++)
            c->bad[k] = 1;
        atomic_fetch_sub(&c->pending, 1);
    }
    return ret;
}

/* ---- observing the graph: chunk sizes, and progress without outputs ----------------------- */

static void observe(void *user, const dusk_task_event *ev)
{
    dusk_batch *b = user;
    if (ev->kind != DUSK_EVENT_FINISH) return;
    if (ev->worker >= 0 && ev->end > ev->start && ev->status == 0)
        dusk_chunker_add(b->chunker, ev->items, ev->end - ev->start);
    if (!b->stored && (ev->flags & DUSK_TASK_COUNTS) && ev->status != DUSK_ECANCELED) {
        int64_t done = ev->items - ev->items_failed;
        if (ev->status == 0 && done > 0) atomic_fetch_add(&b->saved, done);
    }
}

/* ---- running -------------------------------------------------------------------------------- */

/* This rank's items: first, step and how many. */
static void own_items(const dusk_batch *b, int64_t *first, int64_t *step, int64_t *count)
{
    int64_t r = dusk_rank_count(), me = dusk_rank(), t = b->nitems;
    if (r == 1) {
        *first = 0, *step = 1, *count = t;
    } else if (b->dist == DUSK_BLOCK) {
        int64_t lo = (int64_t)(((__int128)me * t + r - 1) / r);
        int64_t hi = (int64_t)(((__int128)(me + 1) * t + r - 1) / r);
        *first = lo, *step = 1, *count = hi > lo ? hi - lo : 0;
    } else {
        *first = me, *step = r, *count = t > me ? (t - me + r - 1) / r : 0;
    }
}

/* Ranks K > 0: DIR/.rank-K/manifest.txt, for the items this rank makes, and (resuming) the
 * manifest rank 0 merged, for the items done before. 0, or -1 after saying why. */
static int open_rank_manifest(dusk_batch *b)
{
    char sub[4200], why[4400];
    snprintf(sub, sizeof sub, "%s/.rank-%d", b->dir, dusk_rank());
    int ret = dusk__mkdir_p(sub, 0777) == 0 ? 0 : DUSK_EIO;
    if (ret != 0) snprintf(why, sizeof why, "cannot create %s: %s", sub, strerror(errno));
    if (ret == 0 && b->resume)
        ret = dusk_manifest_open(b->dir, b->program, b->params ? b->params : "", b->nitems, 1, NULL,
                                 NULL, &b->prior, why, sizeof why);
    if (ret == 0)
        ret = dusk_manifest_open(sub, b->program, b->params ? b->params : "", b->nitems, 0,
                                 manifest_sync, b, &b->manifest, why, sizeof why);
    if (ret == 0) {
        const char *was = b->prior ? dusk_manifest_field(b->prior, "format") : NULL;
        if (was != NULL) snprintf(b->format, sizeof b->format, "%s", was);
        if ((b->fmt = dusk__format_find(b->format)) == NULL) {
            snprintf(why, sizeof why, "this dusk was built without support for %s files",
                     b->format);
            ret = DUSK_ENODEV;
        }
    }
    if (ret == 0) return 0;
    fprintf(stderr, "%s: %s\n", b->prog, why);
    dusk_manifest_close(&b->prior);
    dusk_manifest_close(&b->manifest);
    return -1;
}

/* Rank 0 made the output files before dusk_init(); the other ranks open them to write the
 * rows of their own items, and their manifests. Every rank calls it. 0 when every rank can go
 * on, else an exit status (the rank that failed has said why). */
static int join_outputs(dusk_batch *b)
{
    int64_t failed = 0, any, token;
    char why[512];
    /* rank 0 has made the files, and DIR/.dusk-run holding this run's token: a rank that
     * finds another token (an earlier run's file, on a directory that is not the one rank 0
     * sees) would write its results where no one reads them */
    if (dusk_ranks_max(dusk_rank() == 0 ? b->run_token : 0, &token) != 0) return DUSK_EXIT_FAILURE;
    if (dusk_rank() != 0) {
        int64_t mine;
        if (dusk__outdir_read_token(b->dir, &mine) != 0 || mine != token) {
            fprintf(stderr,
                    "%s: %s is not the directory rank 0 writes to (%s): give every rank the "
                    "same shared directory\n",
                    b->prog, b->dir, mine < 0 ? strerror(errno) : "another run's token");
            failed = 1;
        }
        if (!failed && open_rank_manifest(b) != 0) failed = 1;
        if (!failed &&
            b->fmt->join(b->dir, b->outs, b->nouts, b->nitems, &b->files, why, sizeof why) != 0) {
            fprintf(stderr, "%s: %s/%s\n", b->prog, b->dir, why);
            failed = 1;
        }
    }
    if (dusk_ranks_max(failed, &any) != 0) dusk_abort(DUSK_EXIT_FAILURE);
    return any ? DUSK_EXIT_FAILURE : 0;
}

/* Item failure records, by item and then by when they failed. */
typedef struct failed_item {
    dusk_item_failure f;
    int64_t order;
} failed_item;

static int by_item(const void *p, const void *q)
{
    const failed_item *x = p, *y = q;
    if (x->f.item != y->f.item) return (x->f.item > y->f.item) - (x->f.item < y->f.item);
    return (x->order > y->order) - (x->order < y->order);
}

/* This rank's item failures, one line each: "item<TAB>step<TAB>error<TAB>reason\n", by item,
 * an item once (its first failure: later ones, of other steps, add nothing). A malloc'ed
 * string (NULL when out of memory), *count lines. */
static char *failure_lines(const dusk_batch *b, size_t *len, int64_t *count)
{
    char *buf = NULL;
    *count = 0;
    int64_t n = dusk_graph_item_failure_count(b->g);
    failed_item *all = calloc((size_t)n + 1, sizeof *all);
    FILE *f = all ? open_memstream(&buf, len) : NULL;
    if (f == NULL) {
        free(all);
        return NULL;
    }
    int64_t got = 0;
    for (int64_t i = 0; i < n; i++)
        if (dusk_graph_item_failure(b->g, i, &all[got].f) == 0) all[got].order = i, got++;
    qsort(all, (size_t)got, sizeof *all, by_item);
    for (int64_t i = 0; i < got; i++) {
        const dusk_item_failure *it = &all[i].f;
        if (i > 0 && all[i - 1].f.item == it->item) continue;
        fprintf(f, "%lld\t%s\t%s\t", (long long)it->item, it->key, dusk_strerror(it->status));
        for (const char *c = it->reason; *c; c++)
            fputc(*c == '\t' || *c == '\n' ? ' ' : *c, f);
        fputc('\n', f);
        ++*count;
    }
    free(all);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The failures that are causes, the first 10 of them. */
static void print_failures(const dusk_batch *b, const char *lines)
{
    int64_t printed = 0;
    for (const char *line = lines; line && *line && printed < 1000000;) {
        const char *end = strchr(line, '\n');
        if (end == NULL) break;
        long long item;
        char step[64] = "", error[64] = "";
        int used = 0;
        if (sscanf(line, "%lld\t%63[^\t]\t%63[^\t]\t%n", &item, step, error, &used) >= 3) {
            const char *reason = line + used;
            int rlen = (int)(end - reason);
            if (printed < 10) {
                const char *subject = NULL;
                for (int i = 0; i < b->nsubjects; i++)
                    if (strcmp(b->subject_step[i], step) == 0) subject = b->subject[i];
                if (subject)
                    fprintf(stderr, "%s: %s: %.*s\n", b->prog, subject, rlen, reason);
                else
                    fprintf(stderr, "%s: %s %s-%lld failed: %.*s\n", b->prog, b->noun1, step, item,
                            rlen, reason);
            }
            printed++;
        }
        line = end + 1;
    }
    if (printed > 10)
        fprintf(stderr, "%s: ... and %lld more failed %s\n", b->prog, (long long)(printed - 10),
                b->noun2);
}

static void print_summary(const dusk_batch *b, int64_t ran, int64_t already, int64_t causes,
                          double elapsed)
{
    if (dusk_rank() != 0) return;
    if (b->nitems == 0) {
        printf("Processed 0 %s: the batch is empty\n", b->noun2);
        return;
    }
    if (ran == 0) {
        printf("Nothing to do: all %lld %s were done before\n", (long long)b->nitems, b->noun2);
        return;
    }
    printf("Processed %lld %s in %.3f s (%.2f it/s)", (long long)ran,
           ran == 1 ? b->noun1 : b->noun2, elapsed, elapsed > 0 ? (double)ran / elapsed : 0.0);
    if (dusk_rank_count() > 1) printf(" on %d ranks", dusk_rank_count());
    if (already) printf(", %lld more done before", (long long)already);
    if (causes) {
        printf("; %lld FAILED", (long long)causes);
        if (b->dir) printf(" (see %s/failures.json)", b->dir);
    }
    printf("\n");
}

/* A run that stopped early: what the manifest on disk holds, and how to go on. */
static void print_stopped(const dusk_batch *b, int saved_ok)
{
    if (dusk_rank() != 0) return;
    if (b->dir == NULL) {
        fprintf(stderr, "%s: stopped before the end; nothing was saved (no %s)\n", b->prog,
                b->out_flag);
        return;
    }
    int64_t on_disk = dusk_manifest_saved_count(b->manifest);
    fprintf(stderr, "%s: stopped: %lld of %lld %s done and saved in %s%s\n", b->prog,
            (long long)on_disk, (long long)b->nitems, b->noun2, b->dir,
            saved_ok ? ""
                     : " (the manifest could not be brought up to date: what it lists is "
                       "what is saved)");
    fprintf(stderr, "%s: to resume%s: %s\n", b->prog,
            dusk_rank_count() > 1 ? " (under mpirun, with any number of ranks)" : "",
            b->hint ? b->hint : "");
}

/* The end of the output files: the manifest is saved with `state` (after the files are
 * synced: see manifest_sync), then, complete, the files get their names. A rename that fails
 * keeps PATH.partial: a resume finds the manifest's items in it and names it. 0, or -1 with
 * errno set; *saved_ok says whether the manifest was written. */
static int finish_outputs(dusk_batch *b, int complete, const char *state, int *saved_ok)
{
    int ret = 0;
    *saved_ok = 1;
    if (b->manifest && dusk_manifest_save(b->manifest, state) != 0) {
        ret = -1;
        *saved_ok = 0;
    }
    int err = errno;
    if (b->files && complete && ret == 0) {
        if (b->fmt->commit(&b->files) != 0) ret = -1, err = errno;
    } else if (b->files && b->fmt->suspend(&b->files) != 0 && ret == 0) {
        ret = -1, err = errno;
    }
    errno = err;
    return ret;
}

/* One process: finished, with or without failed items, the files get their names, failed
 * rows are NaN and failures.json lists them (exit 3); stopped early (a signal, an error),
 * the files stay PATH.partial and the manifest says what is in them. Returns the status. */
static int end_of_run(dusk_batch *b, int64_t already, int submit_error)
{
    size_t len;
    int64_t causes;
    char *lines = failure_lines(b, &len, &causes);
    int sig = dusk__batch_stop_signal(), stopped = sig != 0 || submit_error;
    int status = causes ? DUSK_EXIT_ITEMS_FAILED : DUSK_EXIT_OK;
    if (causes) print_failures(b, lines);
    int io = atomic_load(&b->io_error);
    if (io) {
        fprintf(stderr, "%s: cannot write results to %s: %s\n", b->prog, b->dir, strerror(io));
        stopped = 1;
    }
    if (b->dir &&
        (lines == NULL || dusk__outdir_write_failures(b->dir, b->program, b->nitems, lines) != 0)) {
        fprintf(stderr, "%s: cannot write %s/failures.json: %s\n", b->prog, b->dir,
                strerror(errno));
        stopped = 1;
    }
    free(lines);
    int saved_ok = 1;
    if (b->dir &&
        finish_outputs(b, !stopped, stopped ? "interrupted" : "finished", &saved_ok) != 0) {
        fprintf(stderr, "%s: cannot finish writing %s: %s\n", b->prog, b->dir, strerror(errno));
        stopped = 1;
    }
    b->summary.failed = causes;
    if (!stopped) {
        print_summary(b, b->summary.done + causes, already, causes, b->summary.seconds);
        return status;
    }
    print_stopped(b, saved_ok);
    return sig ? DUSK_EXIT_SIGNAL + sig : DUSK_EXIT_FAILURE;
}

/* Several ranks: each rank wrote the rows of its own items and saved its manifest as it went;
 * rank 0 gathers the failures (failures.json) and merges the manifests. A signal (mpirun
 * passes Ctrl-C on to every rank) or an error on any rank stops the job with the files kept
 * for a resume, as with one process. Returns the job's status, the same on every rank. */
static int end_of_ranks(dusk_batch *b, int64_t already, int submit_error)
{
    int64_t causes, sig, stopped, bad, total_causes = 0, done_all;
    size_t len, all_len;
    char *lines = failure_lines(b, &len, &causes), *all = NULL;
    if (causes) print_failures(b, lines);
    int io = atomic_load(&b->io_error);
    if (io) fprintf(stderr, "%s: cannot write results to %s: %s\n", b->prog, b->dir, strerror(io));
    if (dusk_ranks_max(io || submit_error || lines == NULL, &stopped) != 0 ||
        dusk_ranks_max(dusk__batch_stop_signal(), &sig) != 0 ||
        dusk_ranks_gather(lines ? lines : "", lines ? len : 0, &all, &all_len) != 0)
        dusk_abort(DUSK_EXIT_FAILURE);
    free(lines);
    stopped = stopped || sig;
    /* what each rank made is in its manifest before rank 0 merges them */
    bad = dusk_rank() != 0 && b->manifest &&
          dusk_manifest_save(b->manifest, stopped ? "interrupted" : "finished") != 0;
    if (bad)
        fprintf(stderr, "%s: cannot save what this rank did in %s: %s\n", b->prog, b->dir,
                strerror(errno));
    if (dusk_rank() == 0) {
        for (const char *c = all; c && *c; c++)
            total_causes += *c == '\n';
        if (b->dir && dusk__outdir_write_failures(b->dir, b->program, b->nitems, all) != 0) {
            fprintf(stderr, "%s: cannot write %s/failures.json: %s\n", b->prog, b->dir,
                    strerror(errno));
            bad = 1;
        }
    }
    free(all);
    if (dusk_ranks_max(bad, &bad) != 0) dusk_abort(DUSK_EXIT_FAILURE);
    stopped = stopped || bad;
    int saved_ok = 1;
    if (dusk_rank() == 0 && b->manifest) {
        if (rank_manifests(b, 1, stopped ? "interrupted" : "running") != 0) stopped = 1;
        if (stopped && dusk_manifest_save(b->manifest, "interrupted") != 0) saved_ok = 0;
    }
    if (dusk_ranks_max(stopped, &stopped) != 0) dusk_abort(DUSK_EXIT_FAILURE);
    /* finished: the other ranks flush their files, then rank 0 names them, only if every
     * rank could */
    int64_t flushed = 0, any = 0;
    if (!stopped && dusk_rank() != 0 && b->files && b->fmt->commit(&b->files) != 0) {
        fprintf(stderr, "%s: cannot finish writing %s: %s\n", b->prog, b->dir, strerror(errno));
        flushed = 1;
    }
    if (!stopped && dusk_ranks_max(flushed, &any) != 0) dusk_abort(DUSK_EXIT_FAILURE);
    if (!stopped && !any && dusk_rank() == 0 && b->dir &&
        finish_outputs(b, 1, "finished", &saved_ok) != 0) {
        fprintf(stderr, "%s: cannot finish writing %s: %s\n", b->prog, b->dir, strerror(errno));
        flushed = 1;
    }
    if (b->files) (void)!b->fmt->suspend(&b->files);
    stopped = stopped || any || flushed;
    if (dusk_ranks_max(stopped, &stopped) != 0) dusk_abort(DUSK_EXIT_FAILURE);
    /* the whole job's count, on rank 0: the sum of every rank's (what was done before is
     * rank 0's own: the other ranks read the same manifest) */
    if (dusk_ranks_sum(b->summary.done, &done_all) != 0) dusk_abort(DUSK_EXIT_FAILURE);
    int status = DUSK_EXIT_OK;
    if (dusk_rank() == 0) {
        b->summary.done = done_all;
        b->summary.failed = total_causes;
    }
    if (dusk_rank() == 0 && !stopped) {
        print_summary(b, done_all + total_causes, already, total_causes, b->summary.seconds);
        if (total_causes) status = DUSK_EXIT_ITEMS_FAILED;
    } else if (dusk_rank() == 0) {
        status = sig ? DUSK_EXIT_SIGNAL + (int)sig : DUSK_EXIT_FAILURE;
        print_stopped(b, saved_ok);
    }
    fflush(stdout);
    int64_t agreed;
    if (dusk_ranks_max(status, &agreed) != 0) dusk_abort(DUSK_EXIT_FAILURE);
    return (int)agreed;
}

int dusk_batch_run(dusk_batch *b, dusk_batch_submit_fn submit, void *user)
{
    if (b == NULL || submit == NULL || !b->opened) return DUSK_EXIT_FAILURE;
    if (b->open_status != 0) { /* refused by dusk_batch_open(), which said why */
        if (dusk_rank_count() > 1) dusk_abort(b->open_status); /* the others would wait */
        return b->open_status;
    }
    const dusk_config *cfg = dusk_current_config();
    if (cfg == NULL) {
        fprintf(stderr, "%s: dusk_batch_run needs dusk_init() first\n", b->prog);
        return DUSK_EXIT_FAILURE;
    }
    int nranks = dusk_rank_count(), ret;
    b->stored = b->dir != NULL;
    for (int i = 0; i < b->nouts; i++)
        b->stored |= b->memory[i] != NULL;
    if (nranks > 1 && b->dir && (ret = join_outputs(b)) != 0) {
        int saved_ok;
        (void)!finish_outputs(b, 0, "interrupted", &saved_ok);
        return ret;
    }
    /* what was done before: rank 0 has it in its manifest, the other ranks read it */
    const dusk_manifest *before = b->prior ? b->prior : dusk_rank() == 0 ? b->manifest : NULL;
    int64_t already = dusk_manifest_done_count(before);
    if (b->resume && dusk_rank() == 0 && cfg->verbose >= 0) {
        printf("%s: resuming %s: %lld of %lld %s already done\n", b->program, b->dir,
               (long long)already, (long long)b->nitems, b->noun2);
        fflush(stdout);
    }
    int64_t first, step, count, todo = 0;
    own_items(b, &first, &step, &count);
    for (int64_t k = 0; k < count; k++)
        todo += !dusk_manifest_is_done(before, first + k * step);
    if ((ret = dusk_graph_new(&b->g)) != 0 || (nranks > 1 && (ret = dusk_graph_set_local(b->g))) ||
        (ret = dusk_graph_observe(b->g, observe, b)) != 0) {
        fprintf(stderr, "%s: cannot make the graph: %s\n", b->prog, dusk_strerror(ret));
        if (nranks > 1) dusk_abort(DUSK_EXIT_FAILURE);
        return DUSK_EXIT_FAILURE;
    }
    /* Items per task: within the window's memory, two tasks per worker in flight. */
    int workers = dusk_worker_count() > 0 ? dusk_worker_count() : 1;
    int64_t max_k = b->item_bytes > 0 ? dusk_window_bytes() / (2 * workers) / b->item_bytes : 0;
    if (b->item_bytes > 0 && max_k < 1) max_k = 1;
    if (dusk_chunker_new(b->chunk_k, max_k, workers, &b->chunker) != 0) {
        fprintf(stderr, "%s: out of memory\n", b->prog);
        if (nranks > 1) dusk_abort(DUSK_EXIT_FAILURE);
        return DUSK_EXIT_FAILURE;
    }
    /* one bar: rank 0's share of the batch, a fair sample of the whole */
    if (dusk_rank() == 0) {
        char label[64];
        snprintf(label, sizeof label, "%s%s", b->label, nranks > 1 ? ", rank 0" : "");
        (void)!dusk_progress_new(label, todo, cfg->progress, &b->bar);
    }
    if (b->manifest && dusk_manifest_autosave(b->manifest, 1.0) != 0)
        fprintf(stderr, "%s: warning: the manifest is saved only at the end\n", b->prog);
    if (b->stored && pthread_create(&b->writer, NULL, writer_main, b) == 0) b->writer_on = 1;
    if (b->stored && !b->writer_on) {
        fprintf(stderr, "%s: cannot start the writer thread\n", b->prog);
        if (nranks > 1) dusk_abort(DUSK_EXIT_FAILURE);
        return DUSK_EXIT_FAILURE;
    }
    dusk__batch_signals_ensure();
    dusk__batch_signals_graph(b->g);

    if (nranks > 1 && dusk_barrier() != 0) dusk_abort(DUSK_EXIT_FAILURE); /* time from here */
    double start = dusk_now();
    int submit_error = 0;
    int64_t left = todo;
    for (int64_t k = 0; k < count && !submit_error && !dusk__batch_stop_signal();) {
        if (dusk_manifest_is_done(before, first + k * step)) {
            k++;
            continue;
        }
        /* a run of items not done, as long as the chunk size says */
        int64_t want = dusk_chunker_next(b->chunker, left), n = 0;
        while (n < want && k + n < count && !dusk_manifest_is_done(before, first + (k + n) * step))
            n++;
        dusk_chunk *c = calloc(1, sizeof *c);
        if (c != NULL && (c->bad = calloc((size_t)n, 1)) == NULL) {
            free(c);
            c = NULL;
        }
        if (c == NULL) {
            fprintf(stderr, "%s: out of memory\n", b->prog);
            if (nranks > 1) dusk_abort(DUSK_EXIT_FAILURE);
            submit_error = 1;
            break;
        }
        c->b = b;
        c->first = first + k * step;
        c->step = step;
        c->count = n;
        atomic_init(&c->pending, 1);
        ret = submit(user, b->g, c);
        if (ret == 0 && b->stored && c->named != (1u << b->nouts) - 1) {
            fprintf(stderr, "%s: the submit function named %d of %d outputs\n", b->prog,
                    __builtin_popcount(c->named), b->nouts);
            ret = DUSK_EINVAL;
        }
        if (ret != 0)
            for (int64_t j = 0; j < n; j++)
                c->bad[j] = 1;
        chunk_release(c); /* the submission's hold */
        if (ret != 0 && ret != DUSK_ECANCELED) {
            fprintf(stderr, "%s: cannot submit %s %lld: %s\n", b->prog, b->noun1,
                    (long long)(first + k * step), dusk_strerror(ret));
            /* the other ranks would wait for this one forever at the end */
            if (nranks > 1) dusk_abort(DUSK_EXIT_FAILURE);
            submit_error = 1;
            dusk_graph_cancel(b->g);
        }
        k += n;
        left -= n;
    }
    (void)!dusk_graph_wait(b->g);
    if (b->writer_on) { /* the held reads are done once the graph is: the queue is empty */
        pthread_mutex_lock(&b->qlock);
        b->qstop = 1;
        pthread_cond_signal(&b->qcond);
        pthread_mutex_unlock(&b->qlock);
        pthread_join(b->writer, NULL);
        b->writer_on = 0;
    }
    b->summary.seconds = dusk_now() - start;
    dusk__batch_signals_graph(NULL);
    (void)!dusk_manifest_autosave(b->manifest, 0); /* the last save is below */
    if (b->bar) dusk_progress_draw(b->bar, atomic_load(&b->saved), 1);
    b->summary.items = b->nitems;
    b->summary.done = atomic_load(&b->saved);
    b->summary.done_before = already;
    b->summary.largest_chunk = dusk_chunker_largest(b->chunker);
    int status =
        nranks > 1 ? end_of_ranks(b, already, submit_error) : end_of_run(b, already, submit_error);
    b->summary.finished = status == DUSK_EXIT_OK || status == DUSK_EXIT_ITEMS_FAILED;
    if (cfg->verbose > 0 && dusk_rank() == 0)
        fprintf(stderr,
                "%s: largest chunk %lld %s in one StarPU task%s, peak %lld tasks in flight\n",
                b->prog, (long long)b->summary.largest_chunk, b->noun2,
                b->chunk_k ? "" : " (chosen automatically)",
                (long long)dusk_graph_peak_in_flight(b->g));
    dusk_graph_free(&b->g);
    return status;
}

int dusk_batch_get_summary(const dusk_batch *b, dusk_batch_summary *out)
{
    if (out == NULL) return DUSK_EINVAL;
    memset(out, 0, sizeof *out);
    if (b == NULL) return DUSK_EINVAL;
    *out = b->summary;
    return 0;
}
