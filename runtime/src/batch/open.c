/* dusk_batch_open(): before dusk_init(), the output directory is checked (lock, another run's
 * files, free disk), the manifest started, and the outputs made (a new run) or reopened (a
 * resume), on rank 0; the other ranks open them in dusk_batch_run() (run.c). Whatever makes it
 * refuse is a REFUSED event and the record's reason. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "io.h"
#include "outdir.h"

#define DUSK_ENOENT_MARK 1 /* open_outputs: not a resume, the files are to be made */

/* The outputs of a new run need room on the disk: refused before anything is made. */
static int check_disk(dusk_batch *b)
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
    return dusk__batch_refuse(b, 0, DUSK_EIO,
                              "writing %lld %s of results needs %lld bytes (%s) of disk in %s, "
                              "only %lld bytes (%s) are free there",
                              (long long)b->nitems, b->nitems == 1 ? b->noun1 : b->noun2,
                              (long long)need, n, b->dir, (long long)avail, a);
}

uint64_t dusk__batch_item_check(void *ctx, int64_t id)
{
    const dusk_batch *b = ctx;
    return dusk_input_kept_hash(b->input, id);
}

int dusk__batch_manifest_sync(void *ctx)
{
    dusk_batch *b = ctx;
    return b->files && b->fmt->sync(b->files) != 0 ? -1 : 0;
}

/* An ERROR, or a refusal while dusk_batch_open() runs. */
#define SAY(b, refusing, usage, code, ...)                                                         \
    ((refusing) ? (void)dusk__batch_refuse(b, usage, code, __VA_ARGS__)                            \
                : dusk__batch_error(b, code, __VA_ARGS__))

/* The manifests that ranks K > 0 of an earlier run left in DIR/.rank-K/ (rank 0 merges them
 * at the end of a run, so they remain only after a job that was killed). merge != 0 (a
 * resume, or the end of a run): their items are added to b->manifest, which is then saved,
 * and only then are they removed. merge == 0 (a new run): they are removed, since the results
 * they list are about to go. 0, or after saying why -2 (one is not a manifest of this run) or
 * -1 (any other error). */
int dusk__batch_rank_manifests(dusk_batch *b, int merge, const char *state, int refusing)
{
    int ret = 0, merged = 0;
    /* the ranks' (.rank-K, K from 1), then the shares' (.share-K, K from 0: shares of a job
     * array that were not all merged, see share.c) */
    for (int part = 0; part < 2 && ret == 0; part++)
        for (int rank = 1 - part; rank < 1 << 24 && ret == 0; rank++) {
            char sub[4200], path[4300], why[512];
            snprintf(sub, sizeof sub, "%s/.%s-%d", b->dir, part ? "share" : "rank", rank);
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
                int err = dusk_manifest_open(sub, b->program, b->params ? b->params : "", b->nitems,
                                             1, NULL, NULL, &m, why, sizeof why);
                if (err != 0) {
                    ret = err == DUSK_EINVAL || err == DUSK_EFORMAT ? -2 : -1;
                    SAY(b, refusing, ret == -2, err, "%s %s: %s %d's %s", b->resume_flag, b->dir,
                        part ? "share" : "rank", rank, why);
                    break;
                }
                (void)dusk_manifest_merge(b->manifest, m);
                dusk_manifest_close(&m);
                merged = 1;
                continue;
            }
            if (!merge && unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR) {
                SAY(b, refusing, 0, DUSK_EIO, "cannot remove the earlier run's %s: %s", path,
                    strerror(errno));
                ret = -1;
            }
            if (!merge && part) {
                /* a share's lock and failures (share.c) go with its manifest */
                snprintf(path, sizeof path, "%s/failures.txt", sub);
                (void)unlink(path);
                snprintf(path, sizeof path, "%s/lock", sub);
                (void)unlink(path);
            }
            if (!merge) (void)rmdir(sub);
        }
    if (ret == 0 && !merge) dusk__batch_share_forget(b->dir);
    if (ret != 0 || !merge) return ret;
    if (merged && dusk_manifest_save(b->manifest, state) != 0) {
        SAY(b, refusing, 0, DUSK_EIO, "cannot write %s/manifest.txt: %s", b->dir, strerror(errno));
        return -1;
    }
    if (!merged) dusk__batch_share_forget(b->dir);
    return merged ? dusk__batch_rank_manifests(b, 0, state, refusing) : 0; /* the parts can go */
}

static void attrs_of(const dusk_batch *b, dusk__attr *attrs)
{
    for (int i = 0; i < b->nattrs; i++)
        attrs[i] = (dusk__attr){b->attr_names[i], b->attr_values[i]};
}

static int valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* The input the items are read from (dusk_batch_set_input), so that a resume never combines
 * the results of two inputs. Its size and modification time are recorded ("input_stat SIZE
 * MTIME_NS"), and the manifest's check sums a hash of each done item's matrix as it was read.
 * A resume that finds the same size and time trusts the file, as the params' fingerprint
 * does; one that finds either changed (an edit, or a copy that did not keep the time) reads
 * the done items' matrices again and refuses the run when their sum differs. A manifest
 * written before these lines existed has neither, and is trusted as it was. 0, or after a
 * refusal its code. */
static int check_input(dusk_batch *b, char *now, size_t nowlen, int before_merge)
{
    const char *path = dusk_input_path(b->input);
    const char *was = b->resume ? dusk_manifest_field(b->manifest, "input_stat") : NULL;
    if (before_merge) {
        /* the check, and the input's line as it was, kept in the saves of the merge */
        int64_t size, mtime;
        if (dusk_input_stat(b->input, &size, &mtime) != 0)
            return dusk__batch_refuse(b, 0, DUSK_EIO, "%s: %s", path, strerror(errno));
        snprintf(now, nowlen, "%lld %lld", (long long)size, (long long)mtime);
        int ret = dusk_manifest_set_field(b->manifest, "input_stat", was ? was : now);
        if (ret == 0) ret = dusk_manifest_set_check(b->manifest, dusk__batch_item_check, b);
        return ret == 0 ? 0 : dusk__batch_refuse(b, 0, ret, "out of memory");
    }
    if (was != NULL && strcmp(was, now) != 0) {
        int64_t done = dusk_manifest_done_count(b->manifest), n = dusk_input_n(b->input);
        const char *noun = done == 1 ? b->noun1 : b->noun2;
        char again[96] = "in a new directory";
        if (b->overwrite_flag[0] != '\0')
            snprintf(again, sizeof again, "with %s", b->overwrite_flag);
        uint64_t want, sum = 0;
        if (!dusk_manifest_check_value(b->manifest, &want))
            return dusk__batch_refuse(b, 1, DUSK_EINVAL,
                                      "the input changed since the run stopped: %s changed size "
                                      "or modification time, and the manifest in %s has no check "
                                      "of the %lld done %s to compare with; start again %s",
                                      path, b->dir, (long long)done, noun, again);
        int64_t bytes = dusk_mul_sat(done, dusk_mul_sat(dusk_mul_sat(n, n), 8));
        if (bytes > ((int64_t)1 << 30)) {
            char text[32];
            dusk_bytes_text(text, sizeof text, bytes);
            dusk__batch_warn(b,
                             "%s changed size or modification time since the run stopped: "
                             "reading the matrices of the %lld done %s (%s) again to check them",
                             path, (long long)done, noun, text);
        }
        double *buf = malloc((size_t)(n > 0 ? n * n : 1) * sizeof *buf);
        if (buf == NULL) return dusk__batch_refuse(b, 0, DUSK_ENOMEM, "out of memory");
        for (int64_t i = 0; i < b->nitems; i++) {
            if (!dusk_manifest_is_done(b->manifest, i)) continue;
            uint64_t h;
            int rc = dusk_input_hash_matrix(b->input, i, buf, &h);
            if (rc != 0) {
                free(buf);
                return dusk__batch_refuse(b, 0, rc,
                                          "%s: cannot read matrix %lld again to check that the "
                                          "input did not change since the run stopped: %s",
                                          path, (long long)i, dusk_strerror(rc));
            }
            sum += h;
        }
        free(buf);
        if (sum != want)
            return dusk__batch_refuse(b, 1, DUSK_EINVAL,
                                      "the input changed since the run stopped: %s does not hold "
                                      "the matrices the %lld done %s were computed from; put it "
                                      "back as it was, or start again %s",
                                      path, (long long)done, noun, again);
    }
    int ret = dusk_manifest_set_field(b->manifest, "input_stat", now);
    return ret == 0 ? 0 : dusk__batch_refuse(b, 0, ret, "out of memory");
}

/* What a stopped run in DIR has saved: DIR/manifest.txt's count, and those of the manifests
 * the ranks (.rank-K) and shares (.share-K) of a job left unmerged (a job killed outright, a
 * job array not all finished), which list other items than DIR/manifest.txt does: they
 * remain only until they are merged into it. */
static long long saved_in(const char *dir, const char *done)
{
    long long n = done ? strtoll(done, NULL, 10) : 0;
    for (int part = 0; part < 2; part++)
        for (int k = 1 - part, missing = 0; k < 1 << 24 && missing < 4096; k++) {
            char sub[4200], why[256];
            snprintf(sub, sizeof sub, "%s/.%s-%d", dir, part ? "share" : "rank", k);
            dusk_manifest *m = NULL;
            if (dusk_manifest_read(sub, &m, why, sizeof why) != 0) {
                missing = access(sub, F_OK) == 0 ? 0 : missing + 1;
                continue;
            }
            const char *d = dusk_manifest_field(m, "done");
            n += d ? strtoll(d, NULL, 10) : 0;
            missing = 0;
            dusk_manifest_close(&m);
        }
    return n;
}

/* A new run: DIR is refused when it holds files of another run (made by another program, or
 * results with no manifest), or, unless overwriting, a stopped run of this program. `was`
 * is DIR/manifest.txt as it is (NULL: none, or not a manifest). `names` gets the files this
 * run and the one before make (for dusk__outdir_remove). 0 or a refusal. */
static int check_new_dir(dusk_batch *b, const dusk_manifest *was, char (*names)[64],
                         const char **list, int *nnames)
{
    const char *dir = b->dir;
    const char *program = dusk_manifest_field(was, "program");
    int ours = program != NULL && strcmp(program, b->program) == 0;
    /* this run's files, and those of the run that wrote DIR before (other outputs) */
    dusk__output outs[2 * DUSK__MAX_OUTPUTS];
    int nouts = b->nouts, n = 0;
    memcpy(outs, b->outs, sizeof b->outs);
    char before[512];
    const char *field = ours ? dusk_manifest_field(was, "outputs") : NULL;
    snprintf(before, sizeof before, "%s", field ? field : "");
    for (char *save = NULL, *w = strtok_r(before, ",", &save); w && nouts < 2 * DUSK__MAX_OUTPUTS;
         w = strtok_r(NULL, ",", &save))
        if (valid_name(w, sizeof outs[0].name))
            snprintf(outs[nouts++].name, sizeof outs[0].name, "%s", w);
    /* in every format: a run in another format leaves its own */
    for (const char *const *f = (const char *const[]){"npy", "h5", NULL}; *f; f++) {
        const dusk__format *fmt = dusk__format_find(*f);
        if (fmt != NULL) n += fmt->files(outs, nouts, names + n, 4 * DUSK__MAX_OUTPUTS + 2 - n);
    }
    snprintf(names[n++], 64, "results.h5"); /* even without HDF5 here */
    snprintf(names[n++], 64, "failures.json");
    for (int i = 0; i < n; i++)
        list[i] = names[i];
    *nnames = n;
    char why[4600];
    if (dusk__outdir_check_foreign(dir, ours, b->out_flag, b->program, list, n, why, sizeof why))
        return dusk__batch_refuse(b, 1, DUSK_EEXIST, "%s", why);
    /* a stopped run's saved work would be lost (one that saved nothing has none) */
    const char *state = ours ? dusk_manifest_field(was, "state") : NULL;
    const char *done = ours ? dusk_manifest_field(was, "done") : NULL;
    char rank1[4200];
    snprintf(rank1, sizeof rank1, "%s/.rank-1", dir);
    if (!b->overwrite && state != NULL && strcmp(state, "finished") != 0 &&
        ((done != NULL && strcmp(done, "0") != 0) || access(rank1, F_OK) == 0 ||
         dusk__batch_share_count(dir) > 0)) {
        long long saved = saved_in(dir, done);
        if (b->overwrite_flag[0])
            return dusk__batch_refuse(b, 1, DUSK_EEXIST,
                                      "%s %s holds a stopped run (%lld %s saved): resume it with "
                                      "%s %s, or start again with %s",
                                      b->out_flag, dir, saved, b->noun2, b->resume_flag, dir,
                                      b->overwrite_flag);
        return dusk__batch_refuse(b, 1, DUSK_EEXIST,
                                  "%s %s holds a stopped run (%lld %s saved): resume it with %s "
                                  "%s, or remove the directory to start again",
                                  b->out_flag, dir, saved, b->noun2, b->resume_flag, dir);
    }
    return dusk__batch_rank_manifests(b, 0, "running", 1) != 0 ? DUSK_EIO : 0;
}

/* A new run (rank 0, once dusk_init() has run): the trace an earlier run left in DIR goes,
 * unless this run traces into DIR (its ranks' traces are open there already). Not in
 * dusk_batch_open(), which runs before dusk_init(): the trace directory is not known there,
 * and under several ranks another rank may have opened its DIR/rank-K/trace.json by then. */
void dusk__batch_drop_stale_trace(dusk_batch *b)
{
    const dusk_config *cfg = dusk_current_config();
    struct stat t, d;
    /* shares of a job array leave it: one of them may be tracing into DIR */
    if (b->resume || b->dir == NULL || dusk_rank() != 0 || cfg == NULL || b->share_n > 0) return;
    if (cfg->trace[0] != '\0' && stat(cfg->trace, &t) == 0 && stat(b->dir, &d) == 0 &&
        t.st_dev == d.st_dev && t.st_ino == d.st_ino)
        return;
    char why[4600];
    if (dusk__outdir_remove_trace(b->dir, why, sizeof why) != 0)
        dusk__batch_warn(b, "%s (it does not describe these results)", why);
}

/* Rank 0 (and the first share of a job array, share.c): the manifest first (a new one replaces an
 * old one, and the ranks' old ones go, before any file is made fresh, so that no manifest lists
 * items whose results are gone), then the output files: created under their temporary names, or
 * reopened in place by a resume. 0 to go on, or a refusal's code. */
int dusk__batch_make_dir(dusk_batch *b)
{
    const char *dir = b->dir;
    int ret;
    /* before anything is made: a refused run leaves no directory behind */
    if (!b->resume && b->nitems > 0 && (ret = check_disk(b)) != 0) return ret;
    if (b->resume) {
        struct stat st;
        if (stat(dir, &st) != 0)
            return dusk__batch_refuse(b, 1, DUSK_EIO, "%s %s: %s: there is no run to resume there",
                                      b->resume_flag, dir, strerror(errno));
    } else if (dusk__mkdir_p(dir, 0777) != 0) {
        return dusk__batch_refuse(b, 0, DUSK_EIO, "cannot create output directory %s: %s", dir,
                                  strerror(errno));
    }
    return 0;
}

static int open_outputs(dusk_batch *b)
{
    char why[4600];
    int ret;
    if ((ret = dusk__batch_make_dir(b)) != 0) return ret;
    if (dusk__outdir_lock(b->dir, &b->lock_fd, why, sizeof why) != 0)
        return dusk__batch_refuse(b, 0, DUSK_EIO, "%s", why);
    return dusk__batch_open_locked(b);
}

int dusk__batch_open_locked(dusk_batch *b)
{
    char why[4600];
    const char *dir = b->dir;
    int ret;
    char names[4 * DUSK__MAX_OUTPUTS + 4][64];
    const char *list[4 * DUSK__MAX_OUTPUTS + 4];
    int nnames = 0;
    if (!b->resume) {
        dusk_manifest *was = NULL;
        if (dusk_manifest_read(dir, &was, why, sizeof why) != 0) was = NULL;
        ret = check_new_dir(b, was, names, list, &nnames);
        dusk_manifest_close(&was);
        if (ret != 0) return ret;
    }
    ret = dusk_manifest_open(dir, b->program, b->params ? b->params : "", b->nitems, b->resume,
                             dusk__batch_manifest_sync, b, &b->manifest, why, sizeof why);
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
         (ret = dusk_manifest_set_field(b->manifest, "args", b->args ? b->args : "")) != 0))
        snprintf(why, sizeof why, "out of memory");
    if (ret == 0 && !b->resume && dusk_manifest_save(b->manifest, "running") != 0) {
        snprintf(why, sizeof why, "cannot write %s/manifest.txt: %s", dir, strerror(errno));
        ret = DUSK_EIO;
    }
    if (ret != 0) {
        dusk_manifest_close(&b->manifest);
        return dusk__batch_refuse(b, ret == DUSK_EINVAL || ret == DUSK_EFORMAT, ret, "%s %s: %s",
                                  b->resume ? b->resume_flag : b->out_flag, dir, why);
    }
    char stat_now[48];
    if (b->input != NULL && (ret = check_input(b, stat_now, sizeof stat_now, 1)) != 0) {
        dusk_manifest_close(&b->manifest);
        return ret;
    }
    int merged = b->resume ? dusk__batch_rank_manifests(b, 1, "interrupted", 1) : 0;
    if (merged != 0) {
        dusk_manifest_close(&b->manifest);
        return b->code;
    }
    if (b->input != NULL && (ret = check_input(b, stat_now, sizeof stat_now, 0)) != 0) {
        dusk_manifest_close(&b->manifest);
        return ret;
    }
    if (dusk_rank_count() > 1 && dusk__outdir_write_token(dir, &b->run_token, why, sizeof why)) {
        dusk_manifest_close(&b->manifest);
        return dusk__batch_refuse(b, 0, DUSK_EIO, "%s", why);
    }
    if (!b->resume && dusk__outdir_remove(dir, list, nnames, why, sizeof why) != 0) {
        dusk_manifest_close(&b->manifest);
        return dusk__batch_refuse(b, 0, DUSK_EIO, "%s", why);
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
        dusk_manifest_close(&b->manifest);
        /* a resume's output damaged since the stop (its size, its header): the user's to
         * settle (--overwrite), as a refused flag is */
        return dusk__batch_refuse(b, b->resume && ret == DUSK_EFORMAT, ret, "%s/%s", dir, why);
    }
    return 0;
}

int dusk_batch_open(dusk_batch *b)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    b->opened = 1;
    /* before the lock, the manifest and the outputs are opened: a closed stdout or stderr
     * would otherwise be one of them, and the messages written into it */
    int fds = dusk_std_fds_open(), err = errno;
    /* the reporter's turn: the resume command and the quit message, if it has them */
    dusk__batch_emit(b, &(dusk_batch_event){.kind = DUSK_BATCH_EVENT_OPEN});
    if (fds != 0)
        return b->open_code = dusk__batch_refuse(
                   b, 0, DUSK_EIO, "cannot open /dev/null for a closed standard descriptor: %s",
                   strerror(err));
    if (b->chunk_error[0] != '\0')
        return b->open_code = dusk__batch_refuse(b, 1, DUSK_EINVAL, "%s", b->chunk_error);
    /* caught from here on, so that a signal during start-up is a clean stop too (under
     * several ranks, every rank then stops at its first chunk and they agree at the end) */
    dusk__batch_signals_install(dusk__batch_stopping, b, !b->no_signals);
    dusk__batch_signals_set_quit(b->quit);
    if (b->dir == NULL) return 0;
    if (b->share_n > 0 && dusk_rank_count() > 1)
        return b->open_code = dusk__batch_refuse(b, 1, DUSK_EINVAL,
                                                 "shares of a job array run without MPI, not "
                                                 "under %d ranks",
                                                 dusk_rank_count());
    if (b->share_n > 0) return b->open_code = dusk__batch_share_open(b); /* share.c */
    if (dusk_rank() != 0) return 0; /* the other ranks open the files once they are made */
    return b->open_code = open_outputs(b);
}
