/* dusk: a dataflow task-graph runtime on StarPU.
 *
 * This header, with dusk_kernel.h (kernels), dusk_linalg.h (the built-in kernels and whole
 * stacks in one call), dusk_batch.h (robust batches of items) and dusk_cli.h (a batch
 * program's command line and text reporter), dusk_input.h and dusk_npy.h
 * (matrices from .npy and HDF5 files), dusk_manifest.h, dusk_trace.h and dusk_progress.h, is
 * the whole public API.
 * Programs build a graph of tasks over data objects; dependencies follow from the data each
 * task reads and writes, as in Dask and StarPU. Tasks are handed to StarPU as they are added,
 * through a bounded submission window, so a graph run as it is submitted holds only the tasks
 * in flight, whatever its length (2 bits per finished task remain: its status; and an entry
 * per task that failed, was cancelled or was retried). A held
 * graph (dusk_graph_hold) records every operation until dusk_graph_compute(): about 0.8 KB
 * per task, plus about 0.1 KB per data object (bench/RESULTS.md, "Held graphs").
 *
 * Conventions:
 *   - Every call that can fail returns an int: 0 on success or a negative DUSK_E* code;
 *     dusk_strerror() gives its text. Results come back through out-parameters, which are
 *     reset (NULL or 0) on failure. There is no global "last error".
 *   - Matrices are stored as NumPy stores them by default: C order (row-major), float64.
 *   - Unless said otherwise, functions are called from one thread (the one that called
 *     dusk_init()); callbacks run on StarPU's threads.
 */
#ifndef DUSK_H
#define DUSK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DUSK_VERSION_MAJOR 0
#define DUSK_VERSION_MINOR 1
#define DUSK_VERSION_PATCH 0
#define DUSK_VERSION_STRING "0.1.0"

/* Attributes, where the compiler has them: DUSK_NODISCARD warns when a call's result (an
 * error code) is ignored, DUSK_PRINTF checks printf-style arguments, DUSK_NORETURN marks a
 * function that does not return. */
#if defined(__GNUC__)
#define DUSK_NODISCARD __attribute__((warn_unused_result))
#define DUSK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define DUSK_NORETURN __attribute__((noreturn))
#else
#define DUSK_NODISCARD
#define DUSK_PRINTF(f, a)
#define DUSK_NORETURN
#endif

/* ---- Errors ---------------------------------------------------------------------------- */

enum {
    DUSK_OK = 0,
    DUSK_EINVAL = -1,     /* an argument is invalid or out of range */
    DUSK_ENOMEM = -2,     /* out of memory */
    DUSK_EIO = -3,        /* a read or write failed (see errno where the call says so) */
    DUSK_EFORMAT = -4,    /* a file is malformed or of a kind dusk does not read */
    DUSK_EDATA = -5,      /* a task refused its input data (not symmetric, not finite, ...) */
    DUSK_ENUMERIC = -6,   /* a numerical library reported failure (LAPACK info != 0) */
    DUSK_EDEP = -7,       /* the task did not run: a task it depends on failed */
    DUSK_ESTARPU = -8,    /* StarPU refused a call */
    DUSK_ENODEV = -9,     /* no worker can run the task, or StarPU found no worker at all */
    DUSK_ESTATE = -10,    /* the call is not allowed now (dusk not initialised, ...) */
    DUSK_ETASK = -11,     /* the graph finished but some of its tasks failed */
    DUSK_ECANCELED = -12, /* the task did not run: its graph was cancelled */
    DUSK_EEXIST = -13,    /* the name is already taken (a kernel, an extension) */
    DUSK_EKERNEL = -14,   /* a kernel returned something that is not 0 or a DUSK_E* code (C's
                             `return 1`): the task failed, with the reason "kernel returned N"
                             unless the kernel gave one */
};

/* The text of an error code: a static string, never NULL. Thread-safe. */
const char *dusk_strerror(int err);

/* ---- Standard descriptors ---------------------------------------------------------------- */

/* Open /dev/null (read and write) onto each of descriptors 0, 1 and 2 that is closed, as a
 * program started with `>&-` or by a daemon that closed them has them: otherwise the next file
 * opened (an output, a lock, a manifest) would get that number, and whatever is printed to
 * stdout or stderr would be written into it. Descriptors already open are left as they are.
 * Programs call it first thing in main(); dusk_init() and dusk_batch_open() call it too, for
 * programs that do not. Returns 0, or DUSK_EIO when /dev/null cannot be opened (errno says
 * why). Safe to call more than once; call it before starting threads that open files (another
 * thread's open() could take a descriptor this fills). */
int dusk_std_fds_open(void);

/* ---- Configuration ---------------------------------------------------------------------- */

enum { DUSK_PROGRESS_AUTO = -1, DUSK_PROGRESS_OFF = 0, DUSK_PROGRESS_ON = 1 };

/* How dusk and StarPU start. Fill it with dusk_config_init(), change fields (the command
 * line usually does, see apps/cli.h), then pass it to dusk_init(). */
typedef struct dusk_config {
    int ncpu;         /* CPU workers; -1: StarPU's default. Env: STARPU_NCPU. */
    int ncuda;        /* CUDA workers; -1: StarPU's default. Env: STARPU_NCUDA. */
    char sched[32];   /* StarPU scheduling policy; "": StarPU's default. Env: STARPU_SCHED. */
    int blas_threads; /* BLAS threads per worker, default 1. Env: DUSK_BLAS_THREADS. */
    int window;       /* most tasks (and reads) in flight per graph; 0: 64 per worker.
                         Env: DUSK_WINDOW. */
    int window_mb;    /* most MiB of data the tasks in flight use, once two per worker are in
                         flight; 0: 32 per worker. Env: DUSK_WINDOW_MB. */
    int progress;     /* DUSK_PROGRESS_*: AUTO draws a bar when stderr is a terminal. */
    int verbose;      /* -1 quiet, 0 normal, 1 verbose (StarPU's own messages too). */
    char trace[1024]; /* "": no trace; else a directory that receives trace.json, dag.dot and
                         report.html at dusk_shutdown(). Under several ranks each rank writes
                         DIR/rank-K/, and rank 0 merges them into DIR. Env: DUSK_TRACE. */
    int mpi_core;     /* under several ranks: 1 gives StarPU-MPI's communication thread a core
                         of its own (one worker fewer), 0 runs a worker on every core and lets
                         the communication thread share them, -1 (default) decides: see
                         docs/mpi.md. Env: DUSK_MPI_CORE. */
} dusk_config;

/* Fill cfg with defaults, then with the environment variables named above.
 * Returns 0, or DUSK_EINVAL when one of them is malformed or out of range (or cfg is NULL);
 * then `why` (when not NULL) receives one line naming the variable and the problem. Besides
 * dusk's own variables it checks StarPU's numeric ones and CPU lists (STARPU_CALIBRATE,
 * STARPU_WORKERS_CPUID, ...), which StarPU 1.3 would answer with an abort or a crash. */
DUSK_NODISCARD int dusk_config_init(dusk_config *cfg, char *why, size_t whylen);

/* The numeric settings of dusk_config, one at a time with queryable bounds (as zstd's
 * parameters): what a command line, a configuration file or a binding handles alike. One
 * table holds them; dusk_config_init() reads the environment with it, apps/cli.c the flags,
 * and dusk_init() checks the struct against it. */
typedef enum dusk_setting {
    DUSK_SETTING_NCPU = 0,     /* ncpu: STARPU_NCPU, --ncpu; 0..4096, or -1 */
    DUSK_SETTING_NCUDA,        /* ncuda: STARPU_NCUDA; 0..64, or -1 */
    DUSK_SETTING_BLAS_THREADS, /* blas_threads: DUSK_BLAS_THREADS, --blas-threads; 1..4096 */
    DUSK_SETTING_WINDOW,       /* window: DUSK_WINDOW, --window; 1..2^20, or 0 */
    DUSK_SETTING_WINDOW_MB,    /* window_mb: DUSK_WINDOW_MB, --window-mb; 1..2^24, or 0 */
    DUSK_SETTING_MPI_CORE,     /* mpi_core: DUSK_MPI_CORE; -1..1 */
    DUSK_SETTING_PROGRESS,     /* progress: DUSK_PROGRESS_*, -1..1 (--progress, --no-progress) */
    DUSK_SETTING_VERBOSE,      /* verbose: -1..1 (-q, -v) */
    DUSK_SETTING_COUNT         /* not a setting: how many there are */
} dusk_setting;

/* Setting s: the values its environment variable and its flag take (*lo..*hi); the name of
 * its dusk_config field, its environment variable and its flag ("--ncpu"), as static strings,
 * NULL where it has none; and *unset, the value of the field that leaves the choice to dusk
 * or StarPU (-1 or 0, which the variable and the flag do not take; equal to *lo where the
 * range holds it, as for mpi_core), which dusk_init() accepts too. Every pointer may be NULL.
 * Returns 0, or DUSK_EINVAL for an s that is not a setting (then the numbers are 0 and the
 * names NULL). Thread-safe; needs no dusk_init(). */
DUSK_NODISCARD int dusk_config_bounds(dusk_setting s, long long *lo, long long *hi,
                                      long long *unset, const char **field, const char **env,
                                      const char **flag);

/* Set setting s of cfg to value: 0, or DUSK_EINVAL (cfg NULL, s not a setting, or value
 * outside *lo..*hi and not *unset; then cfg is unchanged and `why`, when not NULL, names the
 * field and its range). */
DUSK_NODISCARD int dusk_config_set(dusk_config *cfg, dusk_setting s, long long value, char *why,
                                   size_t whylen);

/* *value receives setting s of cfg: 0, or DUSK_EINVAL (then *value is 0). */
DUSK_NODISCARD int dusk_config_get(const dusk_config *cfg, dusk_setting s, long long *value);

/* Start StarPU and dusk with cfg (copied), then the registered extensions (below); first of
 * all, /dev/null onto a closed descriptor 0, 1 or 2 (dusk_std_fds_open()).
 * Returns 0, DUSK_ESTATE when already started,
 * DUSK_EINVAL for a NULL cfg or a bad field (`why` names it: a numeric field outside its
 * bounds, see dusk_config_bounds(), with its range; an unknown scheduler; ...),
 * DUSK_ENODEV when StarPU finds no worker, DUSK_EIO when StarPU's performance-model
 * directory (STARPU_PERF_MODEL_DIR, or STARPU_HOME/.starpu/sampling, or HOME/...) cannot be
 * created or written (`why` names it) or /dev/null cannot be opened, DUSK_ESTARPU for other
 * StarPU failures, or the code of an extension's start (`why` names the extension).
 * Warns once on stderr (unless quiet) when the machine has more cores, or the configuration
 * asks for more CPU workers, than the StarPU found can use; under several ranks, when the
 * ranks on a node start more workers than it has cores.
 *
 * StarPU is given its settings through struct starpu_conf; StarPU installs no signal handler
 * (catch_signals = 0: a program's own SIGINT handler stays in place). What StarPU reads only
 * from the environment is set for its start-up alone, then put back as it was (set to its
 * old value, or unset), so nothing persists in the environment across dusk_init() calls:
 *   - STARPU_SILENT=1, unless verbose > 0 or it is set already (StarPU's start-up messages);
 *   - STARPU_SCHED, unset while StarPU starts when cfg->sched names a policy (StarPU would
 *     otherwise prefer the variable to the field);
 *   - STARPU_MPI_NOBIND=1 under several ranks when StarPU-MPI's thread shares the workers'
 *     cores (mpi_core), unless set already;
 *   - STARPU_FXT_PREFIX=TRACE/ in a StarPU with FxT when a trace is asked for, unless set.
 * Under a launcher the workers are bound to the cores the rank was given through
 * starpu_conf's workers_bindid (unless STARPU_WORKERS_CPUID, STARPU_WORKERS_COREID or
 * STARPU_WORKERS_NOBIND say otherwise). The environment is process-global: call dusk_init()
 * while no other thread reads or changes it. */
DUSK_NODISCARD int dusk_init(const dusk_config *cfg, char *why, size_t whylen);

/* What dusk_init(cfg) refuses before it starts StarPU, checked without starting it: a NULL
 * cfg or a bad field, an unknown scheduler (DUSK_EINVAL); DUSK_FAIL_TASKS malformed; StarPU's
 * performance-model directory or cfg->trace that cannot be created or written (DUSK_EIO; both
 * are created, as dusk_init() would create them); no worker at all, cfg->ncpu 0 and no GPU
 * to drive (DUSK_ENODEV; only then is CUDA asked for its devices). Returns 0 or dusk_init()'s
 * code, with the same line in `why`. A program calls it before it touches anything an earlier
 * run left (dusk_batch_open() replaces a finished run's files), so that a run that cannot
 * start refuses with those files as they were; dusk_init() may still fail where StarPU
 * itself does (DUSK_ESTARPU, a worker StarPU cannot start). dusk_init() runs the same checks.
 * Needs no dusk_init(); the environment it reads is process-global, as for dusk_init(). */
DUSK_NODISCARD int dusk_init_check(const dusk_config *cfg, char *why, size_t whylen);

/* Stop the extensions (in reverse order), StarPU, and finish the trace when one was asked
 * for (report.html is written then). Work still in flight is finished first: every graph not
 * yet freed is waited for (its running tasks run to the end, its read callbacks are called,
 * and a held graph's recorded operations are run, as dusk_graph_compute() would), so that
 * afterwards its values and task statuses are final. Graphs and data made before stay valid
 * for the queries (dusk_task_status, dusk_graph_counts, dusk_graph_failure, ...),
 * dusk_graph_wait() (its result at once), dusk_data_release() and dusk_graph_free(), which
 * free them; calls that would need StarPU (dusk_graph_new, dusk_matrix_new and the other
 * data makers, dusk_task_submit, the reads, dusk_graph_compute, dusk_graph_progress) return
 * DUSK_ESTATE. Safe to call twice, and with no dusk_init(). */
void dusk_shutdown(void);

/* One line describing the run (program, sizes, flags), shown in the trace report. Copied.
 * Call it after dusk_init(); it does nothing when no trace is being written. */
void dusk_set_run_info(const char *line);

/* After dusk_init(): the number of workers, how many are CPU workers, and how many drive a
 * GPU (0 in a build without CUDA; StarPU runs STARPU_NWORKER_PER_CUDA of them per GPU). */
int dusk_worker_count(void);
int dusk_cpu_worker_count(void);
int dusk_cuda_worker_count(void);

/* After dusk_init(): the bytes of data a graph's window lets its tasks in flight use once two
 * per worker run (dusk_config.window_mb MiB, or 32 MiB per worker); 0 before. For sizing
 * chunks of work so that they fit it. */
int64_t dusk_window_bytes(void);

/* 1 when this build of dusk has CUDA implementations (the StarPU it was built with has CUDA;
 * see tools/build-starpu.sh), else 0. Whether a GPU is there is dusk_cuda_worker_count(). */
int dusk_have_cuda(void);

/* The i-th (from 0) scheduling policy of the StarPU found: its name and a one-line
 * description (static strings; either pointer may be NULL). Returns 0, or DUSK_EINVAL past
 * the last (then both are NULL). Needs no dusk_init(); thread-safe. */
DUSK_NODISCARD int dusk_sched_policy(int i, const char **name, const char **description);

/* 0 when `name` is a scheduling policy of the StarPU found; else DUSK_EINVAL, and `why` (when
 * not NULL) receives one line naming it and the usual policies, and how to list them all.
 * dusk_init() checks cfg->sched with it. Needs no dusk_init(); thread-safe. */
DUSK_NODISCARD int dusk_sched_check(const char *name, char *why, size_t whylen);

/* The name of the scheduling policy in use (static string), after dusk_init(). */
const char *dusk_sched_name(void);

/* The configuration dusk_init() was given (read-only), or NULL before it. */
const dusk_config *dusk_current_config(void);

/* ---- Extensions: what starts and stops with dusk ------------------------------------------
 *
 * An extension is a small table of hooks that dusk_init() and dusk_shutdown() call, as
 * SQLite's VFSes register with it: the core names none of them. dusk's built-in kernels
 * (dusk_linalg.h) are one, registered by codelets/ itself before main() runs, so that any
 * program that uses them has them with no call. Every hook may be NULL. */
typedef struct dusk_extension {
    const char *name; /* for messages: "linalg" */
    /* After StarPU has started (and the trace is open), in the order of registration: make
     * kernels, per-device state. 0, or a negative DUSK_E* code that fails dusk_init() (`why`
     * may say why: dusk_init() prefixes the name); a failed start cleans up after itself,
     * and its own stop and fini are not called. */
    int (*start)(const dusk_config *cfg, char *why, size_t whylen);
    /* Then once on every worker, on that worker's own thread (worker: its StarPU id from 0;
     * is_cuda: 1 for a worker that drives a GPU): per-thread settings such as the BLAS
     * thread count. Calls to it are never run two at once. */
    void (*worker_start)(int worker, int is_cuda, const dusk_config *cfg);
    /* At dusk_shutdown(), in the reverse order: stop before StarPU stops (what lives on the
     * workers), fini after it (free what the kernels used). */
    void (*stop)(void);
    void (*fini)(void);
    /* The workers sleep while no graph exists (StarPU's would otherwise poll, burning their
     * cores): wake is called when the first graph is made, before any of its tasks runs, and
     * sleep when the last one is freed, once none runs; sleep first at the end of dusk_init(),
     * wake last at the start of dusk_shutdown(). On the thread making or freeing the graph,
     * never two at once. For what the workers need and the rest of the process should not
     * keep while they sleep, such as a process-wide BLAS thread count. */
    void (*wake)(void);
    void (*sleep)(void);
} dusk_extension;

/* The most extensions that can be registered. */
#define DUSK_MAX_EXTENSIONS 16

/* Register ext (kept by pointer: it must stay valid, a static table usually) for every later
 * dusk_init(). Call it before dusk_init(), from one thread (or from a constructor function:
 * the built-in kernels do). Registering the same table again does nothing and returns 0.
 * Returns DUSK_EINVAL (NULL ext, NULL or empty name, or DUSK_MAX_EXTENSIONS already),
 * DUSK_EEXIST (another extension of the same name), DUSK_ESTATE (dusk is started). */
DUSK_NODISCARD int dusk_extension_register(const dusk_extension *ext);

/* ---- Ranks (StarPU-MPI) -------------------------------------------------------------------
 *
 * Started under an MPI launcher (mpirun, mpiexec, srun: found from OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK, PMI_SIZE, ...), dusk_init() starts StarPU-MPI and the process is one rank of a
 * job; otherwise it is the only rank. Every rank builds the same graph (the same data and
 * tasks, in the same order). Each data object has an owner rank (0 unless set); a task runs on
 * the owner of the first data it writes (owner-computes) and StarPU-MPI moves the data it reads
 * from their owners. A program unaware of ranks therefore runs every task on rank 0. A dusk
 * built against a StarPU without MPI runs one rank and dusk_init() refuses several
 * (DUSK_ENODEV, with a line saying so). Collectives (dusk_barrier, dusk_ranks_max) must be
 * called by every rank, in the same order, from the thread that called dusk_init(). */

/* This process's rank (0-based) and the number of ranks. Before dusk_init() they come from
 * the launcher's environment (so that early error messages can name the rank); 0 and 1
 * when not launched. Thread-safe. */
int dusk_rank(void);
int dusk_rank_count(void);

/* Wait until every rank has called it. 0, DUSK_ESTATE before dusk_init(), DUSK_EIO when MPI
 * fails. A no-op with one rank. */
DUSK_NODISCARD int dusk_barrier(void);

/* *out receives the largest `value` any rank gave (its own value with one rank); how the
 * ranks agree on a status. 0, DUSK_ESTATE or DUSK_EIO (then *out is the local value). */
DUSK_NODISCARD int dusk_ranks_max(int64_t value, int64_t *out);

/* The same with the sum of every rank's value. */
DUSK_NODISCARD int dusk_ranks_sum(int64_t value, int64_t *out);

/* Rank 0 receives in *out the texts of every rank (`len` bytes each, in rank order) joined
 * into one NUL-terminated buffer of *outlen bytes, which it frees with free(); the other
 * ranks get NULL and 0. A collective, like dusk_ranks_max. 0, DUSK_ESTATE, DUSK_EINVAL
 * (over 2 GiB) or DUSK_EIO. */
DUSK_NODISCARD int dusk_ranks_gather(const char *text, size_t len, char **out, size_t *outlen);

/* Every rank's parts of one buffer, on every rank: each rank holds `len` bytes at buf (the same
 * len on every rank), its own parts written and zero bytes elsewhere; afterwards every rank
 * holds every part (the bytes OR-ed over the ranks, so that parts written by one rank only come
 * back bit for bit). A no-op with one rank. A collective, like dusk_ranks_max. 0, DUSK_ESTATE,
 * DUSK_EINVAL (buf NULL with len > 0) or DUSK_EIO. */
DUSK_NODISCARD int dusk_ranks_merge(void *buf, size_t len);

/* End the whole job at once with exit status `code`: MPI_Abort under several ranks (the
 * launcher stops every rank), _exit otherwise. For a rank that cannot go on while the others
 * wait for it; print the reason first. Output files are left as they are (.partial). */
DUSK_NORETURN void dusk_abort(int code);

/* ---- Graphs, data and tasks -------------------------------------------------------------- */

typedef struct dusk_graph dusk_graph;   /* a graph of tasks being run; opaque */
typedef struct dusk_data dusk_data;     /* a matrix or vector the tasks share; opaque */
typedef struct dusk_kernel dusk_kernel; /* what a task runs (dusk_kernel.h); opaque */

/* A new empty graph, with the window from the configuration. Needs dusk_init().
 * The caller owns *out and frees it with dusk_graph_free(). 0, DUSK_EINVAL (NULL out),
 * DUSK_ESTATE (before dusk_init() or after dusk_shutdown()) or DUSK_ENOMEM.
 *
 * Every call below that takes a graph refuses a NULL one with DUSK_EINVAL, or the value its
 * declaration gives (0 for counts); so it does, where it is cheap, a pointer that holds no
 * live graph (a graph's first field is a magic number, cleared when it is freed: a stale
 * pointer to a freed graph is caught until its memory is reused, which is not to be relied
 * on, and AddressSanitizer reports it). */
DUSK_NODISCARD int dusk_graph_new(dusk_graph **out);

/* Free a graph after dusk_graph_wait(); sets *g to NULL. Waits for what is still running
 * (and runs a held graph's recorded operations first). Also after dusk_shutdown(). NULL, or
 * *g NULL: nothing. */
void dusk_graph_free(dusk_graph **g);

/* Show a progress bar on stderr for this graph (per the configuration's `progress`), the
 * equivalent of Dask's progress(): with total > 0, `total` units, each task submitted with
 * DUSK_TASK_COUNTS advancing it by one; with total == 0, every task counts and the total is
 * the number of tasks submitted so far. `label` (copied) is printed before the bar. Under
 * several ranks, a task with DUSK_TASK_COUNTS advances the bar of the rank that runs it. */
int dusk_graph_progress(dusk_graph *g, int64_t total, const char *label);
/* (Returns 0, DUSK_EINVAL for a NULL graph, total < 0 or a NULL label, or DUSK_ESTATE after
 * dusk_shutdown(). Not DUSK_NODISCARD: it cannot fail with valid arguments, and callers draw
 * no bar rather than stop.) */

/* Build first, run later (Dask's delayed + compute): after dusk_graph_hold(), tasks, reads
 * and releases are recorded instead of being handed to StarPU, until dusk_graph_compute()
 * hands them over in order through the window and waits, as dusk_graph_wait() does.
 * Without hold, tasks run as soon as they are submitted and compute is the same as wait.
 * Memory: every recorded task stays in memory until compute (about 0.8 KB each, its key and
 * by-value argument besides; data objects are registered with StarPU only when handed over),
 * so a held graph's size is bounded by memory, not by the window. */
/* dusk_graph_hold: 0, or DUSK_EINVAL for a NULL graph. dusk_graph_compute: as
 * dusk_graph_wait() (0, DUSK_ETASK, DUSK_ECANCELED), DUSK_EINVAL for a NULL graph,
 * DUSK_ESTATE after dusk_shutdown(), or DUSK_ESTARPU when StarPU refused to start a recorded
 * read and nothing else failed (that read's callback is called with DUSK_ESTARPU). A recorded
 * task StarPU refuses fails with its error (DUSK_ENODEV, DUSK_ESTARPU) as its status, and
 * what it writes is failed for what comes after it. */
DUSK_NODISCARD int dusk_graph_hold(dusk_graph *g);
DUSK_NODISCARD int dusk_graph_compute(dusk_graph *g);

/* A new matrix of rows x cols float64 values (C order) or vector of n values. Its memory is
 * allocated by StarPU where and when the first task that writes it runs, and freed after
 * dusk_data_release() once the tasks that use it are done. The caller owns one reference.
 * Limits: each dimension is 1 to 2^31 - 1 (StarPU's interfaces hold 32-bit sizes), and
 * rows x cols x 8 bytes fits in an int64_t; DUSK_EINVAL otherwise. */
DUSK_NODISCARD int dusk_matrix_new(dusk_graph *g, int64_t rows, int64_t cols, dusk_data **out);
DUSK_NODISCARD int dusk_vector_new(dusk_graph *g, int64_t n, dusk_data **out);

/* Stacks: `count` matrices of rows x cols (cols > 0), or `count` vectors of `rows` values
 * (cols == 0), in one data object, contiguous: item k starts at value k * rows * max(cols, 1),
 * each in C order, as NumPy lays out an array of shape (count, rows, cols). A stack is how a
 * task works on several items at once (dusk_kernel.h: dusk_call_stack), and its items
 * succeed or fail one by one: a kernel fails item k alone (dusk_call_fail_item), and tasks
 * that read the stack then skip item k (dusk_call_item_status) while computing the others.
 * A matrix or vector is a stack of one. Like dusk_matrix_new(), the memory is allocated by
 * StarPU where the first task that writes it runs. count * rows * cols must stay below 2^31
 * (StarPU's 32-bit sizes): DUSK_EINVAL otherwise. */
DUSK_NODISCARD int dusk_stack_new(dusk_graph *g, int64_t count, int64_t rows, int64_t cols,
                                  dusk_data **out);

/* A stack over memory the caller owns (count * rows * max(cols, 1) values at `values`, laid
 * out as for dusk_stack_new): tasks read it and write it in place, with no copy on CPU
 * workers. The caller must not touch the memory, nor free it, until dusk_data_release() and
 * then dusk_graph_wait(): on a GPU the results are copied back into it by then. */
DUSK_NODISCARD int dusk_stack_wrap(dusk_graph *g, double *values, int64_t count, int64_t rows,
                                   int64_t cols, dusk_data **out);

/* The number of items of d (1 for a matrix or vector), and the status of item k: 0, or the
 * error of the task that failed it (DUSK_EDEP when it was skipped because an input item had
 * failed). For a stack of one, the status of the data as a whole. Valid inside a read callback
 * of d, and after dusk_graph_wait() while the caller holds its reference; on the rank that
 * wrote it. DUSK_EINVAL for a NULL d or k out of range. */
int64_t dusk_data_count(const dusk_data *d);
int dusk_data_item_status(const dusk_data *d, int64_t k);

/* The dims of one item of d (rows, cols; cols is 1 for a vector). 0, or DUSK_EINVAL (then
 * both are 0). */
int dusk_data_dims(const dusk_data *d, int64_t dims[2]);

/* Make g a graph of this rank alone, before any data is made for it: its data live on this
 * rank, its tasks run here, and the other ranks neither build it nor know of it (each may
 * build its own). This is how a batch gives each rank its own items with no data moving and
 * no step in common. 0, or DUSK_EINVAL (NULL, or g already has data). Changes nothing with one
 * rank. */
DUSK_NODISCARD int dusk_graph_set_local(dusk_graph *g);

/* The graph cancels itself (dusk_graph_cancel) as soon as *flag becomes non-zero, checked
 * while it waits or submits (every 0.1 s at most): for a caller that cannot call
 * dusk_graph_cancel() itself, such as another language's interrupt handler that can only set
 * a variable. The flag is read as a relaxed atomic (__atomic_load_n): a writer on another
 * thread that stores it atomically does so without a data race. NULL stops watching. 0, or
 * DUSK_EINVAL for a NULL graph. */
DUSK_NODISCARD int dusk_graph_watch_cancel(dusk_graph *g, const volatile int *flag);

/* Make `rank` the owner of d: tasks that write d run there, and d's values live there
 * (see Ranks). Call it on every rank, before any task uses d. DUSK_EINVAL when rank is
 * outside 0..dusk_rank_count()-1 or a task already uses d. Ignored with one rank. */
DUSK_NODISCARD int dusk_data_set_owner(dusk_data *d, int rank);

/* The owner rank of d (0 unless set). */
int dusk_data_owner(const dusk_data *d);

/* Drop the caller's reference: no task may be added on *d after this. Sets *d to NULL. */
void dusk_data_release(dusk_data **d);

/* Called with a read-only view of the data once every task submitted before
 * dusk_data_read() that writes it has finished. `status` is 0, or the error of the task that
 * failed to produce the data (then `values` must not be read). Runs on a StarPU thread;
 * it must not block on the graph. `dims` holds rows and cols (cols is 1 for a vector). */
typedef void (*dusk_read_fn)(void *user, int status, const double *values, const int64_t dims[2]);

/* Fetch the data to host memory and hand it to fn (the equivalent of a future's result()).
 * Counts as work in flight for the window and for dusk_graph_wait(). Under several ranks
 * it is called on the data's owner only: the same as dusk_data_read_at(d, DUSK_OWNER, ...).
 * Returns 0 (fn will be called exactly once), or: DUSK_EINVAL for a NULL d or fn, or for data
 * that no task was submitted to write (there is nothing to read; a wrap counts as written);
 * DUSK_ESTATE after dusk_shutdown(); DUSK_ENOMEM; DUSK_ESTARPU when StarPU refuses the read.
 * On an error fn is never called. When every task that was to write d was refused before it
 * ran (its data too large to allocate, StarPU refusing it), fn is called with that error and
 * no values, possibly before this returns (with one rank, or in a local graph: under
 * several ranks such data must not be read). */
DUSK_NODISCARD int dusk_data_read(dusk_data *d, dusk_read_fn fn, void *user);

#define DUSK_OWNER (-1)

/* Under several ranks, every rank calls it: d is sent from its owner to `rank` (DUSK_OWNER:
 * stays there), where fn is called as dusk_data_read() would; on other ranks nothing is
 * called (the owner only sends). How rank 0 gathers results. `status` is the failure of the
 * task that wrote d only when that task ran on this rank: failures on other ranks are known
 * there (agree with dusk_ranks_max). DUSK_EINVAL for a bad rank. */
DUSK_NODISCARD int dusk_data_read_at(dusk_data *d, int rank, dusk_read_fn fn, void *user);

/* A read that keeps the data until the caller is done with it, for a callback that hands the
 * values to another thread (a writer) instead of using them at once: fn(user, r) runs as
 * dusk_data_read()'s callback does, and the values stay valid, and the read counts in the
 * window, until dusk_read_done(&r), which any thread may call (exactly once per read). On the
 * data's owner only (under several ranks, other ranks call it too and nothing happens there).
 * Returns as dusk_data_read(). */
typedef struct dusk_read dusk_read; /* a read in progress; opaque */
typedef void (*dusk_read_hold_fn)(void *user, dusk_read *r);
DUSK_NODISCARD int dusk_data_read_hold(dusk_data *d, dusk_read_hold_fn fn, void *user);

/* What a held read gives: the status of the task that produced the data (0, or its error:
 * then the values must not be read), the values (NULL on failure) with the number of items
 * and one item's dims (rows, cols; cols is 1 for vectors), and each item's status (see
 * dusk_data_item_status). */
int dusk_read_status(const dusk_read *r);
const double *dusk_read_values(const dusk_read *r, int64_t *count, int64_t dims[2]);
int dusk_read_item_status(const dusk_read *r, int64_t k);

/* Release the data of a held read; sets *r to NULL. Thread-safe. */
void dusk_read_done(dusk_read **r);

/* How a task uses one of its data arguments. */
typedef enum dusk_access {
    DUSK_R = 1,      /* reads it */
    DUSK_W = 2,      /* overwrites it entirely */
    DUSK_RW = 3,     /* reads and updates it */
    DUSK_SCRATCH = 4 /* uses it as workspace, contents undefined before and after */
} dusk_access;

/* One data argument of a task: the data (the caller keeps its reference; the task takes
 * its own until it is done) and how the task uses it. */
typedef struct dusk_arg {
    dusk_data *data;
    dusk_access mode;
} dusk_arg;

/* The most data arguments a task may have (dusk_task_submit() refuses more: DUSK_EINVAL). */
#define DUSK_MAX_ARGS 8

/* The largest by-value argument a task may have, in bytes (1 MiB; more: DUSK_EINVAL). */
#define DUSK_MAX_VALUE_SIZE (1u << 20)

/* Task options. Start from dusk_task_opts_init(), which zeroes them. */
enum {
    DUSK_TASK_COUNTS = 1 /* its completion advances the graph's progress bar */
};
typedef enum dusk_where {
    DUSK_WHERE_ANY = 0, /* any worker with an implementation of the kernel */
    DUSK_WHERE_CPU = 1, /* CPU workers only */
    DUSK_WHERE_GPU = 2  /* GPU workers only (DUSK_ENODEV at submission when there is none) */
} dusk_where;

/* Called on a StarPU thread when a task has finished, with its final status (0 or a
 * negative code). It must not block on the graph. */
typedef void (*dusk_done_fn)(void *user, int64_t id, int status);

typedef struct dusk_task_opts {
    const char *key;      /* name shown in reports, e.g. "eigh-17" (copied); NULL: the kernel's */
    int priority;         /* higher runs first among ready tasks (with schedulers that use
                             priorities: prio, dmdas, ...); 0 by default */
    unsigned flags;       /* DUSK_TASK_* */
    dusk_where where;     /* where it may run */
    int retries;          /* run again up to this many times when the kernel fails (0..100) */
    const int64_t *after; /* ids of earlier tasks of the graph to wait for, besides the data */
    int nafter;
    dusk_done_fn on_done; /* may be NULL */
    void *user;
    /* The items the task computes, named for failures and traces: item_count items
     * item_first, item_first + item_step, ... (item_step 0 counts as 1). 0 (the default):
     * the task names none. Otherwise item_count must be the task's number of items (the
     * count of its stacks, see dusk_stack_new): DUSK_EINVAL. */
    int64_t item_first, item_count, item_step;
} dusk_task_opts;

/* Zero *opts (every option at its default). 0, or DUSK_EINVAL for a NULL opts. */
int dusk_task_opts_init(dusk_task_opts *opts);

/* Add a task running kernel k on args (at most DUSK_MAX_ARGS), with `value` (value_size
 * bytes, at most DUSK_MAX_VALUE_SIZE, copied; may be NULL) passed by value to the kernel. It is
 * handed to StarPU at once, after waiting for room in the graph's window. *id (may be NULL)
 * receives its index in the graph, counted from 0. Returns 0, or:
 *   - refused before it is counted (*id is -1, no task): DUSK_EINVAL for bad arguments (a NULL
 *     graph or kernel, an argument reading (DUSK_R, DUSK_RW) data that no task was submitted
 *     to write, ...), DUSK_ESTATE after dusk_shutdown(), DUSK_ECANCELED when the graph was
 *     cancelled, DUSK_ENOMEM when the graph's status tables cannot grow;
 *   - counted, but failed without running (*id is its id, dusk_task_status() gives the error,
 *     dusk_graph_failure() the reason, and what it writes is failed: tasks reading it after
 *     get DUSK_EDEP, reads its error): DUSK_ENOMEM when the data it would allocate is more
 *     than this process can still allocate (dusk_memory_query; the reason names the size in
 *     GB), or when a held graph cannot record it; DUSK_ENODEV when no worker can run k;
 *     DUSK_ESTARPU when StarPU refuses it. */
DUSK_NODISCARD int dusk_task_submit(dusk_graph *g, const dusk_kernel *k, const dusk_arg *args,
                                    int nargs, const void *value, size_t value_size,
                                    const dusk_task_opts *opts, int64_t *id);

/* Wait until every task and read of the graph has finished, drawing progress meanwhile.
 * Returns 0 when every task succeeded, DUSK_ETASK when some failed, else DUSK_ECANCELED when
 * the graph was cancelled before all its tasks ran; DUSK_EINVAL for a NULL graph, and
 * DUSK_ESTATE for a held graph with operations recorded (nothing has run: call
 * dusk_graph_compute(), which waits too). */
DUSK_NODISCARD int dusk_graph_wait(dusk_graph *g);

/* Stop the graph early (Ctrl-C): tasks that have not started yet finish at once without
 * running, with status DUSK_ECANCELED (reads of their data get it too); running tasks run to
 * the end; later dusk_task_submit() calls return DUSK_ECANCELED. Cancelled tasks are not
 * failures: dusk_graph_counts() does not count them as failed, dusk_graph_cancelled() does.
 * Only sets a flag, so it is async-signal-safe and may be called from a signal handler or
 * any thread. dusk_graph_wait() still has to be called. */
void dusk_graph_cancel(dusk_graph *g);

/* The number of tasks that finished with DUSK_ECANCELED so far; DUSK_EINVAL for a NULL graph.
 * dusk_graph_cancel(NULL) does nothing. */
int64_t dusk_graph_cancelled(const dusk_graph *g);

/* Counts so far: tasks submitted, finished (successfully, failed or cancelled), and failed.
 * Each pointer may be NULL; all are 0 for a NULL graph. */
void dusk_graph_counts(const dusk_graph *g, int64_t *submitted, int64_t *finished, int64_t *failed);

/* The status of task `id`: 1 while pending, 0 when it succeeded, or its negative error;
 * DUSK_TASK_ELSEWHERE when another rank runs it (its status is known there); DUSK_EINVAL for
 * a NULL graph or an id that names no task of it. */
#define DUSK_TASK_ELSEWHERE 2
int dusk_task_status(const dusk_graph *g, int64_t id);

/* How many times task `id` ran (1 unless retried; 0 if it never ran, or for an id that names
 * no task), after it finished; DUSK_EINVAL for a NULL graph. */
int dusk_task_attempts(const dusk_graph *g, int64_t id);

/* The i-th failed task (0 <= i < failed count, in order of failure), after
 * dusk_graph_wait(): its id, key and reason (owned by the graph, valid until it is freed).
 * 0, or DUSK_EINVAL (a NULL graph or pointer, i out of range; then *id is -1, the strings
 * NULL). A failure whose details could not be recorded (out of memory) is counted only. */
DUSK_NODISCARD int dusk_graph_failure(const dusk_graph *g, int64_t i, int64_t *id, const char **key,
                                      const char **reason);

/* Items that failed (not those skipped because an item they depend on failed), one record
 * each, in the order they failed: a kernel failed them (dusk_call_fail_item), or their task
 * failed as a whole. `item` is the item's name from the task's options (item_first + k *
 * item_step), or its index k in the task when the task names no items. Strings are owned by
 * the graph, valid until it is freed. */
typedef struct dusk_item_failure {
    int64_t item;
    int64_t task;       /* the task's id in the graph */
    int status;         /* its error, a DUSK_E* code */
    const char *key;    /* the task's key (its options' key, or the kernel's name) */
    const char *reason; /* one line */
} dusk_item_failure;

/* The number of item failures recorded so far, and the i-th of them (0 <= i < that number):
 * 0, or DUSK_EINVAL (then *out is zeroed). Thread-safe. */
int64_t dusk_graph_item_failure_count(const dusk_graph *g);
DUSK_NODISCARD int dusk_graph_item_failure(const dusk_graph *g, int64_t i, dusk_item_failure *out);

/* The largest number of tasks and reads that were in flight at once; DUSK_EINVAL for a NULL
 * graph. */
int64_t dusk_graph_peak_in_flight(const dusk_graph *g);

/* ---- Observers: one hook on every task's life ---------------------------------------------
 *
 * In the spirit of Taskflow's observers: a function called at each step of every task's life.
 * dusk's own tracer (DUSK_TRACE) and progress bar are observers like any other. */

typedef enum dusk_event_kind {
    DUSK_EVENT_SUBMIT = 1, /* added to its graph (on the submitting thread, in order) */
    DUSK_EVENT_START = 2,  /* about to run its kernel (on the worker's thread) */
    DUSK_EVENT_FINISH = 3  /* done, failed, cancelled, or settled without running; called after
                              its status is recorded (dusk_task_status gives it) */
} dusk_event_kind;

typedef struct dusk_task_event {
    dusk_event_kind kind;
    const dusk_graph *graph;
    int64_t id;                                /* in its graph, from 0 */
    int64_t uid;                               /* unique in the process (the id traces use) */
    const char *key;                           /* its options' key, or the kernel's name */
    const char *kernel;                        /* the kernel's name */
    unsigned flags;                            /* DUSK_TASK_* */
    int64_t item_first, item_count, item_step; /* as in its options */
    int64_t items;       /* its number of items (the count of its stacks, 1 for plain data) */
    int64_t rows, cols;  /* one item of its first data argument (0 when it has none) */
    int64_t bytes;       /* of all its data arguments */
    int ndeps;           /* SUBMIT, FINISH: uids of the tasks it waits for (its data's last */
    const int64_t *deps; /* writers and its explicit dependencies) */
    /* START and FINISH: */
    int worker;       /* StarPU worker id; -1 when it never ran */
    const char *impl; /* what ran it: "CPU", "CUDA", "CUDA>CPU" (a GPU failure run again on a
                         CPU worker), "CUDA>host" (run again on the host from the GPU
                         worker, when no CPU worker could take it); NULL when it never ran */
    /* FINISH: */
    double start, end;    /* dusk_now() times of the run (both 0 when it never ran) */
    int status;           /* 0 or its error (DUSK_ECANCELED: it never ran) */
    int attempts;         /* 1 unless retried; 0 when it never ran */
    const char *reason;   /* why it failed (one line), NULL when it did not */
    int64_t items_failed; /* items that failed or were skipped */
    int elsewhere;        /* another rank ran it (its other fields are not known here) */
} dusk_task_event;

/* Called with each event; `ev` and what it points to are valid during the call only. Runs on
 * StarPU's threads and the submitting thread, concurrently: it must be thread-safe and quick,
 * and must not call into the graph except the read-only queries. */
typedef void (*dusk_observer_fn)(void *user, const dusk_task_event *ev);

/* Observe every task of every graph from now on, until dusk_observer_remove() or
 * dusk_shutdown(). At most 8 at once. *handle (may be NULL) names it for removal.
 * 0, DUSK_EINVAL (NULL fn), DUSK_ENOMEM (8 already). Call from the thread that called
 * dusk_init(), with no graph running. */
DUSK_NODISCARD int dusk_observer_add(dusk_observer_fn fn, void *user, int *handle);
/* 0, or DUSK_EINVAL for a handle that names no observer. The same threading rules. */
int dusk_observer_remove(int handle);

/* Observe the tasks of g alone (one observer per graph; NULL fn: none), besides those of every
 * graph. Before g's first task. Unlike dusk_observer_add(), safe while other graphs run on
 * other threads. 0, or DUSK_EINVAL (NULL g, or g has tasks already). */
DUSK_NODISCARD int dusk_graph_observe(dusk_graph *g, dusk_observer_fn fn, void *user);

/* ---- Small utilities the apps share ------------------------------------------------------ */

/* Seconds on a monotonic clock. */
double dusk_now(void);

/* Peak resident memory of this process so far, in bytes. */
int64_t dusk_peak_rss(void);

/* ---- Resources: refuse a run that cannot fit before it allocates ---------------------------- */

/* Memory this process can still allocate, in bytes; -1 where unknown. */
typedef struct dusk_memory {
    int64_t available; /* the lowest of the three below that is known */
    int64_t meminfo;   /* MemAvailable in /proc/meminfo */
    int64_t cgroup;    /* room left under the memory limits of this process's cgroup and its
                          ancestors (v2 memory.max, or v1 memory.limit_in_bytes, minus the
                          usage that is not reclaimable page cache); -1 when none is set */
    int64_t rlimit;    /* room left under this process's own limits (ulimit -v, -d): RLIMIT_AS
                          minus VmSize and RLIMIT_DATA minus VmData (/proc/self/status), the
                          lower; -1 when neither is set */
} dusk_memory;

/* Fill *out from /proc, /sys/fs/cgroup and getrlimit(). Returns 0, DUSK_EINVAL when out is
 * NULL, or DUSK_EIO when none of the three could be read (then every field is -1). Reads
 * small files only; thread-safe; needs no dusk_init(). */
DUSK_NODISCARD int dusk_memory_query(dusk_memory *out);

/* Bytes an unprivileged writer can still put on the file system holding `path` (statvfs's
 * f_bavail * f_frsize), or, when path does not exist yet, the nearest directory above it
 * that does. *bytes is -1 on failure. Returns 0, DUSK_EINVAL (NULL or empty path, NULL
 * bytes, path too long), DUSK_EIO (statvfs failed: see errno), or DUSK_ENODEV when that file
 * system reports no size at all (such as /proc: nothing can be said). Thread-safe. */
DUSK_NODISCARD int dusk_disk_available(const char *path, int64_t *bytes);

/* A byte count as people read it, for messages about the two above: "512 bytes", "43.4 MB"
 * (powers of 1000, kB to EB, one decimal), into buf of len bytes (32 is enough). */
void dusk_bytes_text(char *buf, size_t len, int64_t bytes);

/* a * b for sizes, INT64_MAX when it does not fit (a size that cannot be had, refused as too
 * large rather than wrapped round); 0 when either is 0 or negative. */
static inline int64_t dusk_mul_sat(int64_t a, int64_t b)
{
    if (a <= 0 || b <= 0) return 0;
    return a > INT64_MAX / b ? INT64_MAX : a * b;
}

/* The number of CPU workers dusk_init(cfg) will start: cfg->ncpu, or one per online core,
 * at most what the StarPU found can run. For sizing a run before starting it. */
int dusk_config_cpu_workers(const dusk_config *cfg);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_H */
