/* dusk_batch_run(): this rank's items in chunks, submitted to a graph of its own, their rows
 * written as they finish (writer.c); then the end of the run, and under several ranks the
 * ranks' agreement on it.
 *
 * Under several ranks every rank holds the same collectives in the same order, whatever
 * happens to it: an error on one rank (a submission refused, no memory for a chunk) stops that
 * rank's own work, and the others learn of it at the end, where they agree that the job
 * stopped (resumable), rather than the job being ended at once. The process is ended here
 * (dusk_abort) in one case only: when a collective itself fails, since the ranks can then no
 * longer agree on anything and one of them would wait for the others forever. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "io.h"
#include "outdir.h"

/* A collective failed: the ranks cannot agree any more (see above). */
#define AGREE(call)                                                                                \
    do {                                                                                           \
        if ((call) != 0) dusk_abort(DUSK_EXIT_FAILURE);                                            \
    } while (0)

/* This rank's items: first, step and how many. */
static void own_items(const dusk_batch *b, int64_t *first, int64_t *step, int64_t *count)
{
    int64_t r = dusk_rank_count(), me = dusk_rank(), t = b->nitems;
    if (b->share_n > 0) r = b->share_n, me = b->share_k; /* a share, as a rank would be */
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

/* Whether item id was done before this run: in the run's manifest, or (a share run again) in
 * the share's own. */
static int done_before(const dusk_batch *b, int64_t id)
{
    if (b->share_n > 0)
        return dusk_manifest_is_done(b->prior, id) || dusk_manifest_is_done(b->manifest, id);
    return dusk_manifest_is_done(b->prior ? b->prior : dusk_rank() == 0 ? b->manifest : NULL, id);
}

/* Ranks K > 0: DIR/.rank-K/manifest.txt, for the items this rank makes, and (resuming) the
 * manifest rank 0 merged, for the items done before. 0, or -1 after an ERROR. */
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
                                 dusk__batch_manifest_sync, b, &b->manifest, why, sizeof why);
    if (ret == 0 && b->input != NULL)
        ret = dusk_manifest_set_check(b->manifest, dusk__batch_item_check, b);
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
    dusk__batch_error(b, ret, "%s", why);
    dusk_manifest_close(&b->prior);
    dusk_manifest_close(&b->manifest);
    return -1;
}

/* Rank 0 made the output files before dusk_init(); the other ranks open them to write the
 * rows of their own items, and their manifests. Every rank calls it. 0 when every rank can go
 * on, else DUSK_EXIT_FAILURE (the rank that failed has had an ERROR). */
static int join_outputs(dusk_batch *b)
{
    int64_t failed = 0, any, token;
    char why[512];
    /* rank 0 has made the files, and DIR/.dusk-run holding this run's token: a rank that
     * finds another token (an earlier run's file, on a directory that is not the one rank 0
     * sees) would write its results where no one reads them */
    AGREE(dusk_ranks_max(dusk_rank() == 0 ? b->run_token : 0, &token));
    if (dusk_rank() != 0) {
        int64_t mine;
        if (dusk__outdir_read_token(b->dir, &mine) != 0 || mine != token) {
            dusk__batch_error(b, DUSK_EIO,
                              "%s is not the directory rank 0 writes to (%s): give every rank "
                              "the same shared directory",
                              b->dir, mine < 0 ? strerror(errno) : "another run's token");
            failed = 1;
        }
        if (!failed && open_rank_manifest(b) != 0) failed = 1;
        if (!failed &&
            b->fmt->join(b->dir, b->outs, b->nouts, b->nitems, &b->files, why, sizeof why) != 0) {
            dusk__batch_error(b, DUSK_EIO, "%s/%s", b->dir, why);
            failed = 1;
        }
    }
    AGREE(dusk_ranks_max(failed, &any));
    return any ? DUSK_EXIT_FAILURE : 0;
}

/* The end of the output files: the manifest is saved with `state` (after the files are
 * synced: see dusk__batch_manifest_sync), then, complete, the files get their names. A rename
 * that fails keeps PATH.partial: a resume finds the manifest's items in it and names it. 0, or
 * -1 with errno set; *saved_ok says whether the manifest was written. */
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

/* The record of a stop: what the manifest on disk holds. */
static void note_stop(dusk_batch *b, int saved_ok)
{
    b->saved_count = b->manifest ? dusk_manifest_saved_count(b->manifest) : 0;
    b->saved_current = saved_ok;
}

/* One process: finished, with or without failed items, the files get their names, failed
 * rows are NaN and failures.json lists them (exit 3); stopped early (a signal, an error),
 * the files stay PATH.partial and the manifest says what is in them. Returns the status. */
static int end_of_run(dusk_batch *b, int submit_error)
{
    size_t len;
    char *lines;
    dusk__batch_collect_failures(b, &lines, &len);
    int64_t causes = b->nfailures;
    int sig = dusk__batch_stop_signal(), stopped = sig != 0 || submit_error;
    int status = causes ? DUSK_EXIT_ITEMS_FAILED : DUSK_EXIT_OK;
    int io = atomic_load(&b->io_error);
    if (io) {
        dusk__batch_error(b, DUSK_EIO, "cannot write results to %s: %s", b->dir, strerror(io));
        stopped = 1;
    }
    if (b->dir &&
        (lines == NULL || dusk__outdir_write_failures(b->dir, b->program, b->nitems, lines) != 0)) {
        dusk__batch_error(b, DUSK_EIO, "cannot write %s/failures.json: %s", b->dir,
                          strerror(errno));
        stopped = 1;
    }
    free(lines);
    int saved_ok = 1;
    if (b->dir &&
        finish_outputs(b, !stopped, stopped ? "interrupted" : "finished", &saved_ok) != 0) {
        dusk__batch_error(b, DUSK_EIO, "cannot finish writing %s: %s", b->dir, strerror(errno));
        stopped = 1;
    }
    b->summary.failed = causes;
    if (!stopped) return status;
    note_stop(b, saved_ok);
    return sig ? DUSK_EXIT_SIGNAL + sig : DUSK_EXIT_FAILURE;
}

/* Several ranks: each rank wrote the rows of its own items and saved its manifest as it went;
 * rank 0 gathers the failures (failures.json) and merges the manifests. A signal (mpirun
 * passes Ctrl-C on to every rank) or an error on any rank stops the job with the files kept
 * for a resume, as with one process. Returns this rank's view of the job's status. */
static int end_of_ranks(dusk_batch *b, int submit_error)
{
    int64_t sig, stopped, bad, total_causes = 0, done_all;
    size_t len, all_len;
    char *lines, *all = NULL;
    dusk__batch_collect_failures(b, &lines, &len);
    int io = atomic_load(&b->io_error);
    if (io) dusk__batch_error(b, DUSK_EIO, "cannot write results to %s: %s", b->dir, strerror(io));
    AGREE(dusk_ranks_max(io || submit_error || lines == NULL, &stopped));
    AGREE(dusk_ranks_max(dusk__batch_stop_signal(), &sig));
    AGREE(dusk_ranks_gather(lines ? lines : "", lines ? len : 0, &all, &all_len));
    free(lines);
    stopped = stopped || sig;
    /* what each rank made is in its manifest before rank 0 merges them */
    bad = dusk_rank() != 0 && b->manifest &&
          dusk_manifest_save(b->manifest, stopped ? "interrupted" : "finished") != 0;
    if (bad)
        dusk__batch_error(b, DUSK_EIO, "cannot save what this rank did in %s: %s", b->dir,
                          strerror(errno));
    if (dusk_rank() == 0) {
        for (const char *c = all; c && *c; c++)
            total_causes += *c == '\n';
        if (b->dir && dusk__outdir_write_failures(b->dir, b->program, b->nitems, all) != 0) {
            dusk__batch_error(b, DUSK_EIO, "cannot write %s/failures.json: %s", b->dir,
                              strerror(errno));
            bad = 1;
        }
    }
    free(all);
    AGREE(dusk_ranks_max(bad, &bad));
    stopped = stopped || bad;
    int saved_ok = 1;
    if (dusk_rank() == 0 && b->manifest) {
        if (dusk__batch_rank_manifests(b, 1, stopped ? "interrupted" : "running", 0) != 0)
            stopped = 1;
        if (stopped && dusk_manifest_save(b->manifest, "interrupted") != 0) saved_ok = 0;
    }
    AGREE(dusk_ranks_max(stopped, &stopped));
    /* finished: the other ranks flush their files, then rank 0 names them, only if every
     * rank could */
    int64_t flushed = 0, any = 0;
    if (!stopped && dusk_rank() != 0 && b->files && b->fmt->commit(&b->files) != 0) {
        dusk__batch_error(b, DUSK_EIO, "cannot finish writing %s: %s", b->dir, strerror(errno));
        flushed = 1;
    }
    if (!stopped) AGREE(dusk_ranks_max(flushed, &any));
    if (!stopped && !any && dusk_rank() == 0 && b->dir &&
        finish_outputs(b, 1, "finished", &saved_ok) != 0) {
        dusk__batch_error(b, DUSK_EIO, "cannot finish writing %s: %s", b->dir, strerror(errno));
        flushed = 1;
    }
    if (b->files) (void)!b->fmt->suspend(&b->files);
    stopped = stopped || any || flushed;
    AGREE(dusk_ranks_max(stopped, &stopped));
    /* the whole job's count, on rank 0: the sum of every rank's (what was done before is
     * rank 0's own: the other ranks read the same manifest) */
    AGREE(dusk_ranks_sum(b->summary.done, &done_all));
    int status = DUSK_EXIT_OK;
    b->summary.failed = b->nfailures;
    if (dusk_rank() == 0) {
        b->summary.done = done_all;
        b->summary.failed = total_causes;
    }
    if (!stopped) {
        if (total_causes) status = DUSK_EXIT_ITEMS_FAILED;
    } else {
        status = sig ? DUSK_EXIT_SIGNAL + (int)sig : DUSK_EXIT_FAILURE;
        note_stop(b, saved_ok);
    }
    return status; /* the same on every rank but rank 0's failed items: finish() agrees */
}

/* What dusk_batch_run() returns for a status: this rank's first error's code where it had one. */
static int code_of(const dusk_batch *b, int status)
{
    if (status == DUSK_EXIT_OK) return 0;
    if (status == DUSK_EXIT_ITEMS_FAILED) return DUSK_ETASK;
    if (status > DUSK_EXIT_SIGNAL) return DUSK_ECANCELED;
    return b->code != 0 ? b->code : DUSK_EIO;
}

/* Under several ranks, the code every rank returns: the one of the ranks' that is furthest
 * from 0 (codes are negative), so that it is the same everywhere. */
static int agreed_code(int code)
{
    int64_t worst;
    AGREE(dusk_ranks_max(-(int64_t)code, &worst));
    return -(int)worst;
}

/* The outcome and the END event, then, under several ranks (where collectives can be held),
 * a barrier: no rank returns before every rank's reporter has had its END. A rank that
 * returned would end its process, and mpirun ends the other ranks as soon as one exits with
 * a status that is not 0, before rank 0 has said how the job ended. Returns `code`. */
static int report_end(dusk_batch *b, int status, int code, int refused, int collective)
{
    dusk__batch_finish(b, status, code, refused);
    if (collective && dusk_rank_count() > 1) AGREE(dusk_barrier());
    return code;
}

/* The last words of a run that got as far as computing. Under several ranks, one collective
 * agrees on both the status (the highest) and the code (furthest from 0, among the ranks of
 * that status), so that rank 0 says the end as soon after the work as it did. */
static int finish(dusk_batch *b, int status)
{
    int code = code_of(b, status);
    if (dusk_rank_count() > 1) {
        int64_t packed;
        AGREE(dusk_ranks_max((int64_t)status << 16 | -code, &packed));
        status = (int)(packed >> 16);
        code = -(int)(packed & 0xffff);
    }
    return report_end(b, status, code, 0, 1);
}

/* Graph, chunker, writer: what running takes. 0, or 1 after an ERROR. */
static int set_up(dusk_batch *b, int nranks)
{
    int ret;
    if ((ret = dusk_graph_new(&b->g)) != 0 || (nranks > 1 && (ret = dusk_graph_set_local(b->g))) ||
        (ret = dusk_graph_observe(b->g, dusk__batch_observe, b)) != 0) {
        dusk__batch_error(b, ret, "cannot make the graph: %s", dusk_strerror(ret));
        return 1;
    }
    /* Items per task: within the window's memory, two tasks per worker in flight. */
    int workers = dusk_worker_count() > 0 ? dusk_worker_count() : 1;
    int64_t max_k = b->item_bytes > 0 ? dusk_window_bytes() / (2 * workers) / b->item_bytes : 0;
    if (b->item_bytes > 0 && max_k < 1) max_k = 1;
    if (dusk_chunker_new(b->chunk_k, max_k, workers, &b->chunker) != 0) {
        dusk__batch_error(b, DUSK_ENOMEM, "out of memory");
        return 1;
    }
    (void)!dusk_chunker_set_target(b->chunker, b->task_seconds, b->task_tail); /* checked */
    return 0;
}

int dusk_batch_run(dusk_batch *b, dusk_batch_submit_fn submit, void *user)
{
    if (b == NULL || submit == NULL || !b->opened || b->ran_once) return DUSK_EINVAL;
    b->ran_once = 1;
    int nranks = dusk_rank_count();
    const dusk_config *cfg = dusk_current_config();
    if (cfg == NULL) { /* no collective can be held either */
        dusk__batch_error(b, DUSK_ESTATE, "dusk_batch_run needs dusk_init() first");
        return report_end(b, DUSK_EXIT_FAILURE, DUSK_ESTATE, 0, 0);
    }
    if (b->share_n > 0 && nranks > 1 && b->open_code == 0) /* the same on every rank */
        b->open_code = dusk__batch_refuse(b, 1, DUSK_EINVAL,
                                          "shares of a job array run without MPI, not under %d "
                                          "ranks",
                                          nranks);
    if (nranks > 1) {
        /* a refusal on one rank (rank 0 checks the directory) is every rank's */
        int64_t agreed;
        AGREE(dusk_ranks_max(b->open_code != 0 ? b->status : 0, &agreed));
        if (agreed != 0) return report_end(b, (int)agreed, agreed_code(b->open_code), 1, 1);
    } else if (b->open_code != 0) {
        return report_end(b, b->status, b->open_code, 1, 0); /* dusk_batch_open() refused */
    }
    dusk__batch_drop_stale_trace(b);
    int ret;
    b->stored = b->dir != NULL;
    for (int i = 0; i < b->nouts; i++)
        b->stored |= b->memory[i] != NULL;
    if (nranks > 1 && b->dir && (ret = join_outputs(b)) != 0) {
        int saved_ok;
        (void)!finish_outputs(b, 0, "interrupted", &saved_ok);
        return report_end(b, ret, agreed_code(code_of(b, ret)), 0, 1);
    }
    /* what was done before: rank 0 has it in its manifest, the other ranks read it (a share
     * has both) */
    const dusk_manifest *before = b->prior ? b->prior : dusk_rank() == 0 ? b->manifest : NULL;
    int64_t already = dusk_manifest_done_count(before);
    if (b->share_n > 0) already += dusk_manifest_done_count(b->manifest);
    int64_t first, step, count, todo = 0;
    own_items(b, &first, &step, &count);
    for (int64_t k = 0; k < count; k++)
        todo += !done_before(b, first + k * step);
    b->todo = todo;
    b->summary.items = b->nitems;
    b->summary.done_before = already;
    /* one process stops here at a set-up error, as it always did; several ranks go on to the
     * collectives below with nothing to submit */
    int submit_error = set_up(b, nranks);
    if (submit_error && nranks == 1) {
        dusk_graph_free(&b->g);
        return report_end(b, DUSK_EXIT_FAILURE, b->code, 0, 0);
    }
    dusk__batch_emit(b, &(dusk_batch_event){
                            .kind = DUSK_BATCH_EVENT_START, .todo = todo, .done_before = already});
    if (!submit_error && b->manifest && dusk_manifest_autosave(b->manifest, 1.0) != 0)
        dusk__batch_warn(b, "the manifest is saved only at the end");
    if (!submit_error && b->stored && dusk__batch_writer_start(b) != 0) {
        dusk__batch_error(b, DUSK_ENOMEM, "cannot start the writer thread");
        if (nranks == 1) {
            dusk_graph_free(&b->g);
            return report_end(b, DUSK_EXIT_FAILURE, b->code, 0, 0);
        }
        submit_error = 1;
    }
    dusk__batch_signals_ensure();
    dusk__batch_signals_graph(b->g);

    if (nranks > 1) dusk__batch_job_open(b);
    if (nranks > 1) AGREE(dusk_barrier()); /* time from here */
    b->start = dusk_now();
    b->ran = 1;
    dusk__batch_live_start(b);
    int64_t left = todo;
    for (int64_t k = 0; k < count && !submit_error && !dusk__batch_stop_signal();) {
        if (done_before(b, first + k * step)) {
            k++;
            continue;
        }
        /* a run of items not done, as long as the chunk size says */
        int64_t want = dusk_chunker_next(b->chunker, left), n = 0;
        while (n < want && k + n < count && !done_before(b, first + (k + n) * step))
            n++;
        dusk_chunk *c = calloc(1, sizeof *c);
        if (c != NULL && ((c->bad = calloc((size_t)n, 1)) == NULL ||
                          (c->failed = calloc((size_t)n, 1)) == NULL)) {
            free(c->bad);
            free(c);
            c = NULL;
        }
        if (c == NULL) {
            dusk__batch_error(b, DUSK_ENOMEM, "out of memory");
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
            dusk__batch_error(b, DUSK_EINVAL, "the submit function named %d of %d outputs",
                              __builtin_popcount(c->named), b->nouts);
            ret = DUSK_EINVAL;
        }
        if (ret != 0)
            for (int64_t j = 0; j < n; j++)
                c->bad[j] = 1;
        dusk__batch_chunk_release(c); /* the submission's hold */
        if (ret != 0 && ret != DUSK_ECANCELED) {
            /* under several ranks the others learn of it at the end (end_of_ranks) */
            dusk__batch_error(b, ret, "cannot submit %s %lld: %s", b->noun1,
                              (long long)(first + k * step), dusk_strerror(ret));
            submit_error = 1;
            dusk_graph_cancel(b->g);
        }
        k += n;
        left -= n;
    }
    if (b->g) (void)!dusk_graph_wait(b->g);
    dusk__batch_writer_stop(b);
    if (nranks > 1) dusk__batch_job_close(b); /* stops the live thread too */
    dusk__batch_live_stop(b);
    b->summary.seconds = dusk_now() - b->start;
    dusk__batch_signals_graph(NULL);
    (void)!dusk_manifest_autosave(b->manifest, 0); /* the last save is below */
    dusk__batch_progress(b, 1);
    b->summary.done = atomic_load(&b->saved);
    b->summary.largest_chunk = b->chunker ? dusk_chunker_largest(b->chunker) : 0;
    b->summary.peak_in_flight = b->g ? dusk_graph_peak_in_flight(b->g) : 0;
    /* a signal that came is said before the end is */
    dusk__batch_stopping(b, dusk__batch_stop_signal());
    int status = nranks > 1       ? end_of_ranks(b, submit_error)
                 : b->share_n > 0 ? dusk__batch_share_end(b, submit_error)
                                  : end_of_run(b, submit_error);
    ret = finish(b, status);
    dusk_graph_free(&b->g);
    return ret;
}
