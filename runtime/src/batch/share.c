/* Shares of a job array (dusk_batch_set_share): N processes, started apart and never talking
 * to one another (no MPI), write one output directory in place, as N ranks would.
 *
 * The directory holds, beside the outputs and DIR/manifest.txt (the run's, as one process
 * writes it):
 *   .dusk.lock          held shared by every running share, so that no other run (which holds
 *                       it exclusively) writes there meanwhile, and no share joins one that does
 *   .dusk-shares.lock   held exclusively for the shares' short steps, one at a time: making
 *                       or joining the outputs, and the end
 *   .shares             "N": the outputs are made and shares of N write them
 *   .share-K/           share K's manifest (the items it wrote), failures.txt (its failed
 *                       items, as failures.json's writer takes them) and lock (held while share
 *                       K runs: the same share twice at once is refused)
 *
 * The first share to take the steps' lock finds no .shares: it makes the outputs (or, resuming
 * a run that one process stopped, reopens them) exactly as one process would, saves the run's
 * manifest and writes .shares. Every share then joins the outputs and computes its own items
 * that neither the run's manifest nor its own lists. At its end a share saves its manifest
 * ("finished" once its rows are on the disk) and, under the steps' lock, looks at every
 * share's: the one that sees them all finished is the last, and merges them into the run's
 * manifest, writes failures.json from every share's failures, and names the outputs, so that
 * the directory is byte for byte what one process would have left. A share killed and run
 * again goes on from its own manifest; a run that a share never finished is completed by one
 * process's --resume, which merges what the shares saved (open.c) and does the rest. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "io.h"
#include "outdir.h"

/* An flock() of `how` on path (made if missing): the descriptor, or -1 with errno set. A
 * blocking lock waits on through signals: a stop is seen at the first chunk. */
static int lock_file(const char *path, int how)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    int r;
    while ((r = flock(fd, how)) != 0 && errno == EINTR && !(how & LOCK_NB)) {
    }
    if (r != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int64_t dusk__batch_share_count(const char *dir)
{
    char path[4200];
    long long n = 0;
    snprintf(path, sizeof path, "%s/.shares", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    if (fscanf(f, "%lld", &n) != 1 || n < 0) n = 0;
    fclose(f);
    return n;
}

void dusk__batch_share_forget(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.shares", dir);
    if (unlink(path) == 0) (void)dusk__sync_dir(dir);
}

/* DIR/.shares, or `name` in a share's folder, written whole. 0 or -1 (errno). */
static int write_whole(const char *path, const char *text)
{
    dusk__atomic a;
    FILE *f = dusk__atomic_open(&a, path);
    if (f == NULL) return -1;
    fputs(text, f);
    return dusk__atomic_commit(&a);
}

static void share_dir(const dusk_batch *b, int64_t k, char *sub, size_t len)
{
    snprintf(sub, len, "%s/.share-%lld", b->dir, (long long)k);
}

/* Share K's own part: its folder and lock, the run's manifest (what was done before), its own
 * manifest (what it did before it was stopped), and the outputs, joined. 0 or a refusal. */
static int join(dusk_batch *b)
{
    char sub[4200], path[4300], why[4600];
    share_dir(b, b->share_k, sub, sizeof sub);
    snprintf(path, sizeof path, "%s/lock", sub);
    if (dusk__mkdir_p(sub, 0777) != 0)
        return dusk__batch_refuse(b, 0, DUSK_EIO, "cannot create %s: %s", sub, strerror(errno));
    if ((b->share_fd = lock_file(path, LOCK_EX | LOCK_NB)) < 0)
        return errno == EWOULDBLOCK
                   ? dusk__batch_refuse(b, 1, DUSK_EEXIST,
                                        "share %lld of %lld is already running into %s (it holds "
                                        "%s)",
                                        (long long)b->share_k, (long long)b->share_n, b->dir, path)
                   : dusk__batch_refuse(b, 0, DUSK_EIO, "cannot lock %s: %s", path,
                                        strerror(errno));
    const char *params = b->params ? b->params : "";
    int ret = dusk_manifest_open(b->dir, b->program, params, b->nitems, 1, NULL, NULL, &b->prior,
                                 why, sizeof why);
    if (ret == 0) {
        const char *was = dusk_manifest_field(b->prior, "format");
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
    snprintf(path, sizeof path, "%s/manifest.txt", sub);
    int again = access(path, F_OK) == 0;
    if (ret == 0)
        ret = dusk_manifest_open(sub, b->program, params, b->nitems, again,
                                 dusk__batch_manifest_sync, b, &b->manifest, why, sizeof why);
    if (ret == 0 && b->input != NULL)
        ret = dusk_manifest_set_check(b->manifest, dusk__batch_item_check, b);
    if (ret == 0 && dusk_manifest_save(b->manifest, "running") != 0) {
        snprintf(why, sizeof why, "cannot write %s: %s", path, strerror(errno));
        ret = DUSK_EIO;
    }
    if (ret == 0) {
        char one[4200];
        ret = b->fmt->join(b->dir, b->outs, b->nouts, b->nitems, &b->files, one, sizeof one);
        if (ret != 0) snprintf(why, sizeof why, "%s/%s", b->dir, one);
    }
    if (ret == 0) return 0;
    dusk_manifest_close(&b->prior);
    dusk_manifest_close(&b->manifest);
    return dusk__batch_refuse(b, ret == DUSK_EINVAL || ret == DUSK_EFORMAT, ret, "%s %s: %s",
                              b->resume ? b->resume_flag : b->out_flag, b->dir, why);
}

/* Under the steps' lock: the outputs made, by the first share, then joined. */
static int set_up(dusk_batch *b)
{
    char why[4600];
    dusk_manifest *was = NULL;
    if (dusk_manifest_read(b->dir, &was, why, sizeof why) != 0) was = NULL;
    const char *program = dusk_manifest_field(was, "program");
    const char *params = dusk_manifest_field(was, "params");
    const char *tasks = dusk_manifest_field(was, "tasks");
    char items[24];
    snprintf(items, sizeof items, "%lld", (long long)b->nitems);
    int ours = program && params && tasks && strcmp(program, b->program) == 0 &&
               strcmp(params, b->params ? b->params : "") == 0 && strcmp(tasks, items) == 0;
    dusk_manifest_close(&was);
    int64_t n = dusk__batch_share_count(b->dir);
    if (n > 0 && !ours)
        return dusk__batch_refuse(b, 1, DUSK_EEXIST,
                                  "%s %s is written by the shares of another run (its manifest "
                                  "is not this run's): choose another directory, or remove it",
                                  b->out_flag, b->dir);
    if (n > 0 && n != b->share_n)
        return dusk__batch_refuse(b, 1, DUSK_EINVAL,
                                  "%s %s is written by %lld shares of this run, not %lld: give "
                                  "every share the same count",
                                  b->out_flag, b->dir, (long long)n, (long long)b->share_n);
    if (n == 0) {
        /* the first share: the outputs and the run's manifest, as one process makes them (or
         * reopens them, resuming), saved with the input's line and check for the merge */
        int ret = dusk__batch_open_locked(b);
        if (ret != 0) return ret;
        char path[4200], count[32];
        snprintf(path, sizeof path, "%s/.shares", b->dir);
        snprintf(count, sizeof count, "%lld\n", (long long)b->share_n);
        int bad = dusk_manifest_save(b->manifest, "running") != 0 || write_whole(path, count) != 0;
        int err = errno;
        if (b->fmt->suspend(&b->files) != 0 && !bad) bad = 1, err = errno;
        dusk_manifest_close(&b->manifest);
        if (bad)
            return dusk__batch_refuse(b, 0, DUSK_EIO, "cannot write to %s: %s", b->dir,
                                      strerror(err));
    }
    return join(b);
}

int dusk__batch_share_open(dusk_batch *b)
{
    char path[4200];
    int ret = dusk__batch_make_dir(b);
    if (ret != 0) return ret;
    snprintf(path, sizeof path, "%s/.dusk.lock", b->dir);
    if ((b->lock_fd = lock_file(path, LOCK_SH | LOCK_NB)) < 0)
        return errno == EWOULDBLOCK
                   ? dusk__batch_refuse(b, 0, DUSK_EIO,
                                        "another run is writing to %s (it holds %s)", b->dir, path)
                   : dusk__batch_refuse(b, 0, DUSK_EIO, "cannot lock %s: %s", path,
                                        strerror(errno));
    snprintf(path, sizeof path, "%s/.dusk-shares.lock", b->dir);
    int steps = lock_file(path, LOCK_EX);
    if (steps < 0)
        return dusk__batch_refuse(b, 0, DUSK_EIO, "cannot lock %s: %s", path, strerror(errno));
    ret = set_up(b);
    close(steps);
    return ret;
}

/* Whether every share's manifest says finished (and .shares still says this run's count:
 * none merged them yet). */
static int all_finished(const dusk_batch *b)
{
    if (dusk__batch_share_count(b->dir) != b->share_n) return 0;
    for (int64_t k = 0; k < b->share_n; k++) {
        char sub[4200], why[512];
        share_dir(b, k, sub, sizeof sub);
        dusk_manifest *m = NULL;
        if (dusk_manifest_read(sub, &m, why, sizeof why) != 0) return 0;
        const char *state = dusk_manifest_field(m, "state");
        int done = state != NULL && strcmp(state, "finished") == 0;
        dusk_manifest_close(&m);
        if (!done) return 0;
    }
    return 1;
}

/* Every share's failures, one text. NULL when out of memory. */
static char *all_failures(const dusk_batch *b)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL) return NULL;
    for (int64_t k = 0; k < b->share_n; k++) {
        char path[4300];
        share_dir(b, k, path, sizeof path - 16);
        strcat(path, "/failures.txt");
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        char buf[8192];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, got, out);
        fclose(f);
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* The manifest's check where every item's hash is in a share's merged base. */
static uint64_t no_hash(void *ctx, int64_t id)
{
    (void)ctx, (void)id;
    return 0;
}

/* The last share: the shares' manifests merged into the run's, failures.json, the outputs
 * named. 0, or -1 after an ERROR. */
static int merge(dusk_batch *b)
{
    char why[4600];
    char *failures = all_failures(b);
    if (failures == NULL) {
        dusk__batch_error(b, DUSK_ENOMEM, "out of memory");
        return -1;
    }
    dusk_manifest *run = NULL;
    int ret = b->fmt->reopen(b->dir, b->outs, b->nouts, b->nitems, &b->files, why, sizeof why);
    if (ret == 0)
        ret = dusk_manifest_open(b->dir, b->program, b->params ? b->params : "", b->nitems, 1,
                                 dusk__batch_manifest_sync, b, &run, why, sizeof why);
    /* the fields as the run's manifest has them, in the order one process sets them */
    static const char *const keys[] = {"format", "outputs", "args", "input_stat"};
    for (size_t i = 0; ret == 0 && i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = dusk_manifest_field(run, keys[i]);
        if (v != NULL) ret = dusk_manifest_set_field(run, keys[i], v);
        if (ret != 0) snprintf(why, sizeof why, "out of memory");
    }
    if (ret == 0 && b->input != NULL) ret = dusk_manifest_set_check(run, no_hash, NULL);
    if (ret != 0) {
        free(failures);
        dusk_manifest_close(&run);
        if (b->files) (void)!b->fmt->suspend(&b->files);
        dusk__batch_error(b, ret, "%s: %s", b->dir, why);
        return -1;
    }
    dusk_manifest_close(&b->manifest); /* saved: it is merged from the disk */
    b->manifest = run;
    /* the manifests merged (saved as running), then the shares' parts and .shares removed */
    if (dusk__batch_rank_manifests(b, 1, "running", 0) != 0) {
        free(failures);
        (void)!b->fmt->suspend(&b->files);
        return -1;
    }
    if (dusk__outdir_write_failures(b->dir, b->program, b->nitems, failures) != 0) {
        dusk__batch_error(b, DUSK_EIO, "cannot write %s/failures.json: %s", b->dir,
                          strerror(errno));
        free(failures);
        (void)!b->fmt->suspend(&b->files);
        return -1;
    }
    free(failures);
    if (dusk_manifest_save(b->manifest, "finished") != 0 || b->fmt->commit(&b->files) != 0) {
        dusk__batch_error(b, DUSK_EIO, "cannot finish writing %s: %s", b->dir, strerror(errno));
        if (b->files) (void)!b->fmt->suspend(&b->files);
        return -1;
    }
    return 0;
}

int dusk__batch_share_end(dusk_batch *b, int submit_error)
{
    size_t len;
    char *lines;
    char sub[4200], path[4300];
    share_dir(b, b->share_k, sub, sizeof sub);
    dusk__batch_collect_failures(b, &lines, &len);
    int64_t causes = b->nfailures;
    int sig = dusk__batch_stop_signal(), stopped = sig != 0 || submit_error;
    int status = causes ? DUSK_EXIT_ITEMS_FAILED : DUSK_EXIT_OK;
    int io = atomic_load(&b->io_error);
    if (io) {
        dusk__batch_error(b, DUSK_EIO, "cannot write results to %s: %s", b->dir, strerror(io));
        stopped = 1;
    }
    snprintf(path, sizeof path, "%s/failures.txt", sub);
    if (lines == NULL ||
        (*lines ? write_whole(path, lines) : unlink(path) != 0 && errno != ENOENT)) {
        dusk__batch_error(b, DUSK_EIO, "cannot write %s: %s", path, strerror(errno));
        stopped = 1;
    }
    free(lines);
    /* the rows reach the disk (the save's sync), then the manifest says so */
    int saved_ok = dusk_manifest_save(b->manifest, stopped ? "interrupted" : "finished") == 0;
    if (!saved_ok) {
        dusk__batch_error(b, DUSK_EIO, "cannot write %s/manifest.txt: %s", sub, strerror(errno));
        stopped = 1;
    }
    if (b->files && (stopped ? b->fmt->suspend(&b->files) : b->fmt->commit(&b->files)) != 0 &&
        !stopped) {
        dusk__batch_error(b, DUSK_EIO, "cannot finish writing %s: %s", b->dir, strerror(errno));
        stopped = 1;
    }
    b->summary.failed = causes;
    if (!stopped) {
        /* the last share to finish merges; the others leave it to that one */
        snprintf(path, sizeof path, "%s/.dusk-shares.lock", b->dir);
        int steps = lock_file(path, LOCK_EX);
        if (steps < 0) {
            dusk__batch_error(b, DUSK_EIO, "cannot lock %s: %s", path, strerror(errno));
            stopped = 1;
        } else {
            if (all_finished(b) && merge(b) != 0) stopped = 1;
            close(steps);
        }
    }
    if (!stopped) return status;
    b->saved_count = dusk_manifest_saved_count(b->manifest);
    b->saved_current = saved_ok;
    return sig ? DUSK_EXIT_SIGNAL + sig : DUSK_EXIT_FAILURE;
}
