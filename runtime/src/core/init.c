/* Start-up and shut-down: StarPU (with StarPU-MPI under a launcher, mpi.c), the trace, and
 * the registered extensions (their state is runtime.c's). The configuration's checks are in
 * config_env.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dusk_features.h"
#include "dusk_internal.h"
#include "dusk_trace.h"
#include "trace.h"

/* The directory StarPU 1.3 keeps its performance models and bus calibration in, by its own
 * rules (_starpu_set_perf_model_dirs in perfmodel.c, _starpu_get_home_path in utils.c):
 * STARPU_PERF_MODEL_DIR; else the one StarPU was configured with; else HOME/.starpu/sampling
 * where HOME is the first of XDG_CACHE_HOME, STARPU_HOME, HOME, TMPDIR, TEMP, TMP that is set,
 * or /tmp. *from names where it came from. */
static void starpu_model_dir(char *dir, size_t len, const char **from)
{
    const char *v = getenv("STARPU_PERF_MODEL_DIR");
    if (v != NULL) {
        snprintf(dir, len, "%s", v);
        *from = "STARPU_PERF_MODEL_DIR";
        return;
    }
#ifdef STARPU_PERF_MODEL_DIR
    snprintf(dir, len, "%s", STARPU_PERF_MODEL_DIR);
    *from = "StarPU's --with-perf-model-dir";
#else
    static const char *const homes[] = {"XDG_CACHE_HOME", "STARPU_HOME", "HOME",
                                        "TMPDIR",         "TEMP",        "TMP"};
    *from = "StarPU's default";
    v = "/tmp";
    for (size_t i = 0; i < sizeof homes / sizeof homes[0]; i++)
        if (getenv(homes[i]) != NULL) {
            v = getenv(homes[i]);
            *from = homes[i];
            break;
        }
    snprintf(dir, len, "%s/.starpu/sampling", v);
#endif
}

/* StarPU creates its performance-model directory at start-up and aborts the process (core
 * dump) when it cannot, or fails later when it cannot write there: check first, and say
 * which directory and what to set. Its paths live in 256-byte buffers: a longer one would be
 * cut silently, so it is refused too. */
static int check_starpu_dir(char *why, size_t whylen)
{
    char dir[PATH_MAX];
    const char *from;
    starpu_model_dir(dir, sizeof dir, &from);
    const char *fix = strcmp(from, "STARPU_PERF_MODEL_DIR") == 0
                          ? "set STARPU_PERF_MODEL_DIR to a writable directory, or unset it"
                      : strcmp(from, "XDG_CACHE_HOME") == 0
                          ? "set XDG_CACHE_HOME (which StarPU reads before STARPU_HOME) to a "
                            "writable directory"
                          : "set STARPU_HOME to a writable directory";
    /* room for "/codelets/45/" and a model's file name in StarPU's 256 bytes */
    if (strlen(dir) > 180) {
        dusk__set_why(why, whylen,
                      "StarPU's directory %.60s... (from %s) is longer than the 180 bytes "
                      "StarPU can use; %s",
                      dir, from, fix);
        return DUSK_EINVAL;
    }
    const char *what = "cannot create";
    int rc =
        dir[0] == '\0' ? (errno = ENOENT, -1) : dusk__mkdir_p(dir, 0700); /* as StarPU makes it */
    if (rc == 0 && access(dir, W_OK | X_OK) != 0) what = "cannot write to", rc = -1;
    if (rc != 0) {
        dusk__set_why(why, whylen, "StarPU %s its directory %s (from %s): %s; %s", what, dir, from,
                      strerror(errno), fix);
        return DUSK_EIO;
    }
    return 0;
}

/* No CPU worker asked for (ncpu 0) and no GPU to drive: StarPU would find no worker. Only then
 * is CUDA asked how many GPUs there are. */
static int check_workers(const dusk_config *cfg, char *why, size_t whylen)
{
    if (cfg->ncpu != 0 || dusk__cuda_workers_expected(cfg) > 0) return 0;
    dusk__set_why(why, whylen,
                  "StarPU found no worker to run tasks: 0 CPU workers asked for (--ncpu or "
                  "STARPU_NCPU), and %s",
                  !DUSK_HAVE_CUDA   ? "this dusk was built without CUDA"
                  : cfg->ncuda == 0 ? "no GPU worker (STARPU_NCUDA=0)"
                                    : "no GPU was found");
    return DUSK_ENODEV;
}

/* The trace directory, made now (as the trace would make it) and writable. */
static int check_trace_dir(const dusk_config *cfg, char *why, size_t whylen)
{
    if (cfg->trace[0] == '\0') return 0;
    if (dusk__mkdir_p(cfg->trace, 0777) != 0 || access(cfg->trace, W_OK | X_OK) != 0) {
        dusk__set_why(why, whylen, "cannot write the trace to %s: %s", cfg->trace, strerror(errno));
        return DUSK_EIO;
    }
    char twhy[1200];
    if (dusk__trace_dir_check(cfg->trace, twhy, sizeof twhy) != 0) { /* files not dusk's */
        dusk__set_why(why, whylen, "the trace: %s", twhy);
        return DUSK_EEXIST;
    }
    return 0;
}

int dusk_init_check(const dusk_config *cfg, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (cfg == NULL) {
        dusk__set_why(why, whylen, "no configuration (NULL)");
        return DUSK_EINVAL;
    }
    int rc = dusk__config_check(cfg, why, whylen);
    if (rc != 0) return rc;
    if (cfg->sched[0] != '\0' && dusk_sched_check(cfg->sched, why, whylen) != 0) return DUSK_EINVAL;
    if ((rc = dusk__fail_tasks_check(why, whylen)) != 0 ||
        (rc = check_starpu_dir(why, whylen)) != 0 || (rc = check_trace_dir(cfg, why, whylen)) != 0)
        return rc;
    return check_workers(cfg, why, whylen);
}

/* ---- start and stop ----------------------------------------------------------------------- */

int dusk_init(const dusk_config *cfg, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (dusk_std_fds_open() != 0) {
        dusk__set_why_errno(why, whylen, "cannot open /dev/null for a closed standard descriptor",
                            errno);
        return DUSK_EIO;
    }
    if (dusk__started) {
        dusk__set_why(why, whylen, "dusk is already started");
        return DUSK_ESTATE;
    }
    int rc = dusk_init_check(cfg, why, whylen);
    if (rc != 0) return rc;

    /* What StarPU reads from the environment alone, for its start only (see dusk.h). */
    if (cfg->verbose <= 0 && getenv("STARPU_SILENT") == NULL) /* StarPU talks a lot */
        dusk__env_scope("STARPU_SILENT", "1");
    /* StarPU prefers STARPU_SCHED to the field: the field, from the flag, wins here */
    if (cfg->sched[0] != '\0' && getenv("STARPU_SCHED") != NULL)
        dusk__env_scope("STARPU_SCHED", NULL);
#if DUSK_HAVE_FXT
    /* A StarPU with FxT writes its own trace too (prof_file_*), next to dusk's, for
     * starpu_fxt_tool (Paje/ViTE, StarPU's dag.dot): see docs/traces.md. */
    if (cfg->trace[0] != '\0' && getenv("STARPU_FXT_PREFIX") == NULL) {
        char prefix[sizeof cfg->trace + 1];
        snprintf(prefix, sizeof prefix, "%s/", cfg->trace);
        (void)mkdir(cfg->trace, 0777);
        dusk__env_scope("STARPU_FXT_PREFIX", prefix);
    }
#endif

    struct starpu_conf conf;
    starpu_conf_init(&conf);
    conf.precedence_over_environment_variables = 1;
    /* No SIGINT/SIGSEGV handler of StarPU's: the program's own (a batch's graceful stop)
     * stays in place, installed once before dusk_init(). */
    conf.catch_signals = 0;
    if (cfg->ncpu >= 0) conf.ncpus = cfg->ncpu;
    if (cfg->ncuda >= 0) conf.ncuda = cfg->ncuda;
    if (cfg->sched[0] != '\0') conf.sched_policy_name = cfg->sched;

#ifdef STARPU_MAXCPUS
    /* Debian's StarPU is built for at most 4 CPU workers: say so once, then ask for what it
     * can give rather than let StarPU refuse or warn on its own. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cfg->ncpu > STARPU_MAXCPUS || (cfg->ncpu < 0 && cores > STARPU_MAXCPUS)) {
        if (cfg->verbose >= 0)
            fprintf(stderr,
                    "dusk: warning: %ld %s but this StarPU runs at most %d CPU workers "
                    "(STARPU_MAXCPUS); a StarPU built with --enable-maxcpus lifts the limit\n",
                    cfg->ncpu > STARPU_MAXCPUS ? (long)cfg->ncpu : cores,
                    cfg->ncpu > STARPU_MAXCPUS ? "CPU workers asked for (--ncpu or STARPU_NCPU)"
                                               : "cores",
                    STARPU_MAXCPUS);
        conf.ncpus = STARPU_MAXCPUS;
    }
#endif

#ifndef STARPU_USE_CUDA
    /* StarPU ignores the request without a word: say it once, as for STARPU_MAXCPUS */
    if (cfg->ncuda > 0 && cfg->verbose >= 0)
        fprintf(stderr,
                "dusk: warning: %s=%d asks for GPU workers, but this StarPU has no CUDA: "
                "CPU workers only\n",
                getenv("STARPU_NCUDA") != NULL ? "STARPU_NCUDA" : "ncuda", cfg->ncuda);
#endif

    int ret = dusk__mpi_start(&conf, cfg, why, whylen);
    dusk__env_restore(); /* StarPU (and StarPU-MPI's thread) has read them */
    if (ret == -EPROTONOSUPPORT) return DUSK_ENODEV; /* several ranks, no StarPU-MPI: `why` says */
    if (ret == -EIO) return DUSK_ESTARPU;
    if (ret == -ENODEV) {
        if (cfg->ncpu >= 0)
            dusk__set_why(why, whylen,
                          "StarPU found no worker to run tasks: %d CPU workers asked for "
                          "(--ncpu or STARPU_NCPU)",
                          cfg->ncpu);
        else
            dusk__set_why(why, whylen, "StarPU found no worker to run tasks");
        return DUSK_ENODEV;
    }
    if (ret != 0) {
        dusk__set_why(why, whylen, "starpu_init failed: %s", strerror(-ret));
        return DUSK_ESTARPU;
    }
    dusk__runtime_start(cfg);
    dusk__fault_start(); /* DUSK_FAIL_TASKS, a test aid: nothing unless it is set */
    if (cfg->trace[0] != '\0') {
        char twhy[1200], dir[sizeof cfg->trace + 32];
        /* several ranks: each its own directory, merged by rank 0 at dusk_shutdown() into
         * the top one's trace.json and report.html (which must be dusk's too) */
        if (dusk_rank_count() > 1)
            snprintf(dir, sizeof dir, "%s/rank-%d", cfg->trace, dusk_rank());
        else
            snprintf(dir, sizeof dir, "%s", cfg->trace);
        if ((dusk_rank_count() > 1 &&
             (ret = dusk__trace_dir_check(cfg->trace, twhy, sizeof twhy)) != 0) ||
            (ret = dusk__trace_open(dir, dusk_rank(), dusk_rank_count(), dusk__runtime_trace(),
                                    twhy, sizeof twhy)) != 0) {
            if (ret == DUSK_EEXIST)
                dusk__set_why(why, whylen, "the trace: %s", twhy);
            else
                dusk__set_why(why, whylen, "cannot write the trace to %s: %s", dir, twhy);
            dusk_shutdown();
            return ret;
        }
    }
    if ((ret = dusk__extensions_start(why, whylen)) != 0) {
        dusk_shutdown(); /* stops the extensions that started */
        return ret;
    }
    dusk__workers_started();
    return 0;
}

/* Several ranks: once every rank has closed its trace, rank 0 merges DIR/rank-K/trace.json
 * into DIR/trace.json (one process per rank) and writes DIR/report.html for all ranks. */
static void merge_rank_traces(const dusk_config *cfg)
{
    int n = dusk_rank_count();
    if (dusk_barrier() != 0 || dusk_rank() != 0) return;
    char **paths = calloc((size_t)n, sizeof *paths);
    size_t len = strlen(cfg->trace) + 40;
    int ok = paths != NULL;
    for (int r = 0; ok && r < n; r++) {
        paths[r] = malloc(len);
        ok = paths[r] != NULL;
        if (ok) snprintf(paths[r], len, "%s/rank-%d/trace.json", cfg->trace, r);
    }
    dusk_trace_set *set = NULL;
    char why[256] = "out of memory", out[sizeof cfg->trace + 32];
    if (ok && dusk_trace_load((const char *const *)paths, n, &set, why, sizeof why) == 0) {
        snprintf(out, sizeof out, "%s/trace.json", cfg->trace);
        ok = dusk_trace_write_json(set, out) == 0;
        snprintf(out, sizeof out, "%s/report.html", cfg->trace);
        ok = ok && dusk_trace_write_report(set, out, dusk__runtime_run_info()) == 0;
        snprintf(why, sizeof why, "cannot write trace.json or report.html");
    } else {
        ok = 0;
    }
    if (!ok && cfg->verbose >= 0)
        fprintf(stderr, "dusk: warning: could not merge the ranks' traces in %s: %s\n", cfg->trace,
                why);
    else if (cfg->verbose >= 0)
        fprintf(stderr, "dusk: traces of %d ranks merged into %s (report.html, trace.json)\n", n,
                cfg->trace);
    dusk_trace_set_free(&set);
    for (int r = 0; paths != NULL && r < n; r++)
        free(paths[r]);
    free(paths);
}

void dusk_shutdown(void)
{
    if (!dusk__started) return;
    const dusk_config *cfg = dusk_current_config();
    dusk__trace **trace = dusk__runtime_trace();
    dusk__workers_stopping();
    starpu_task_wait_for_all();
    dusk__graphs_settle(); /* graphs not freed yet: their reads and releases too */
    if (*trace != NULL) {
        if (dusk__trace_close(trace, dusk__runtime_run_info()) != 0 && cfg->verbose >= 0)
            fprintf(stderr, "dusk: warning: could not finish the trace in %s\n", cfg->trace);
        else if (cfg->verbose >= 0 && dusk_rank_count() == 1)
            fprintf(stderr, "dusk: trace written to %s (report.html, trace.json, dag.dot)\n",
                    cfg->trace);
    }
    if (cfg->trace[0] != '\0' && dusk_rank_count() > 1) merge_rank_traces(cfg);
    dusk__runtime_run_info_clear();
    dusk__observers_clear();
    dusk__extensions_stop();
    dusk__mpi_stop();
    dusk__fault_stop();
    dusk__runtime_stop();
    dusk__extensions_fini();
    dusk__kernels_reap();
}
