/* dusk_linalg: the built-in kernels of the eigh batch, and the generator behind them.
 *
 * Each kernel is a StarPU codelet (codelets/) with a history-based performance model. The
 * CPU implementations call OpenBLAS and LAPACKE with the number of BLAS threads per worker
 * set by dusk_config::blas_threads (1 by default, so workers do not oversubscribe cores).
 * In a build with CUDA (dusk_have_cuda()), gen_philox, gram and eigh also run on GPUs
 * (cuBLAS dsyrk, cuSOLVER syevd), with the same layouts and results within rounding.
 * All matrices are float64 in C order, as NumPy keeps them.
 */
#ifndef DUSK_LINALG_H
#define DUSK_LINALG_H

#include "dusk.h"
#include "dusk_input.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill out[0..count) with doubles in [0, 1) exactly as NumPy's legacy generator does after
 * np.random.seed(seed); np.random.rand(count): MT19937 seeded with init_genrand(seed), each
 * double made from two 32-bit outputs. Thread-safe, no allocation. */
void dusk_mt19937_fill(uint32_t seed, double *out, int64_t count);

/* Fill out[0..count) with doubles in [0, 1) from the counter-based Philox4x32-10 generator
 * under `seed`: element 2j and 2j + 1 come from block j (counter {j, 0, 0} as 32-bit words,
 * key {seed mod 2^32, seed / 2^32}), 53 bits each as NumPy makes a double. Any element can
 * be computed on its own, so the CUDA implementation of gen_philox gives the same matrix bit
 * for bit. Thread-safe, no allocation. */
void dusk_philox_fill(uint64_t seed, double *out, int64_t count);

/* One Philox4x32-10 block: out = philox(ctr, key), as Random123's philox4x32_R(10, ...). */
void dusk_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* In place on an n x n matrix: transpose it; or copy its column-major lower triangle (the
 * C-order upper one) onto the other, making it symmetric. Blocked for the cache; the kernels
 * use them, and so can other code that must do the same work (bench/ref_loop.c). */
void dusk_square_transpose(double *a, int64_t n);
void dusk_square_mirror_lower(double *a, int64_t n);

/* How many BLAS threads a thread gets when it asks OpenBLAS for `want`: OpenBLAS caps the
 * count at what it was built for (or the cores it found), so this can be fewer. The calling
 * thread's own count is left as it was. */
int dusk_blas_threads_effective(int want);

/* The kernels. They are created by dusk_init() and live until dusk_shutdown(); each returns
 * NULL before dusk_init(). In the argument lists, "value" is the by-value argument.
 *
 * Every one of them takes stacks (dusk_stack_new) as well as plain matrices and vectors: a
 * stack of K items is K of the same computation, item k of each argument with item k of the
 * others, exactly as K tasks of one item each would compute them (the same calls, in the same
 * order, so the results are the same bit for bit whatever K). An item that fails (a
 * non-finite value, a solver that does not converge) fails alone: the others are computed,
 * and the tasks after it skip that item. Plain matrices and vectors are stacks of one. */

/* gen: B (W, K x n x n): item k = np.random.rand(n, n) after np.random.seed(seeds[k]).
 *      value: K uint32_t seeds. */
const dusk_kernel *dusk_kernel_gen(void);

/* gen_philox: B (W, K x n x n), item k filled by dusk_philox_fill(seeds[k], ...), on a CPU or
 *      a GPU (the same values on either). value: K uint64_t seeds. */
const dusk_kernel *dusk_kernel_gen_philox(void);

/* gram: A (W, K x n x n) = Bᵀ B for B (R, K x m x n), both triangles filled (one dsyrk per
 *      item). */
const dusk_kernel *dusk_kernel_gram(void);

/* The largest n whose eigenvectors dsyevd can compute: its workspace of 2n² + 6n + 1 values is
 * counted in a 32-bit int (Debian's OpenBLAS and LAPACKE are LP64). eigh refuses larger n with
 * vectors (DUSK_EINVAL); eigenvalues alone have no such limit. */
#define DUSK_EIGH_MAX_N 32766

/* eigh: eigenvalues w (ascending) and, when asked, eigenvectors of a symmetric A (dsyevd).
 *   2 args: A (RW, K x n x n), w (W, K x n): A is overwritten by the eigenvectors (or
 *           destroyed).
 *   3 args: A (R), X (W or SCRATCH, K x n x n), w (W, K x n): A is kept; X receives the
 *           eigenvectors (or serves as workspace).
 * Eigenvectors are the columns of the C-order matrix, as numpy.linalg.eigh returns them. One
 * triangle of A is read, the other ignored: the C-order lower one by default, as
 * numpy.linalg.eigh does (UPLO='L'), the upper one with `upper` (UPLO='U'). An item fails with
 * DUSK_EDATA when its matrix holds a value that is not finite (in either triangle),
 * DUSK_ENUMERIC when dsyevd does not converge. value: dusk_eigh_args. The CUDA implementation
 * reads the lower triangle only: it refuses `upper` (DUSK_EINVAL; with retries the CPU
 * implementation then runs the task), so run such tasks with DUSK_WHERE_CPU. */
typedef struct dusk_eigh_args {
    int vectors; /* nonzero: compute eigenvectors too */
    int upper;   /* nonzero: read the C-order upper triangle (UPLO='U'); 0: the lower one */
} dusk_eigh_args;
const dusk_kernel *dusk_kernel_eigh(void);

/* verify: checks of an eigendecomposition, into r (W, K x 2).
 *   3 args A (R), w (R), r: r = { |sum(w) - trace(A)| / (n ||A||_F),
 *                                 |sum(w^2) - ||A||_F^2| / ||A||_F^2 }
 *   4 args A (R), w (R), V (R), r: r = { ||A V - V diag(w)||_F / (n ||A||_F),
 *                                        ||Vᵀ V - I||_F } */
const dusk_kernel *dusk_kernel_verify(void);

/* load: A (W, K x n x n): item k = matrix index + k * step of an open input (dusk_input.h: a
 * .npy file or an HDF5 dataset, read as float64; step 0 counts as 1); an item fails with
 * DUSK_EDATA when its matrix is not symmetric within `symtol` * max|A| or holds a value that
 * is not finite, with DUSK_EIO when it cannot be read. The input's n must be A's.
 * value: dusk_load_args (the input must stay open until the graph is waited for). */
typedef struct dusk_load_args {
    const dusk_input *input;
    int64_t index;
    double symtol;
    int64_t step;
} dusk_load_args;
const dusk_kernel *dusk_kernel_load(void);

/* ---- The eigh pipeline, one chunk at a time ----------------------------------------------
 *
 * The tutorial's computation as tasks over one chunk of K items: its matrices A made by gen
 * then gram from K seeds, or read by load from an input, or given; then eigh. dusk-eigh
 * submits its chunks with it, and so do dusk_eigh_stack() and dusk_eigh_generated() below.
 * Zero the fields not used (a designated initializer does). */
typedef struct dusk_eigh_chunk {
    /* A: K x n x n (dusk_stack_new, or dusk_stack_wrap over the caller's matrices). */
    dusk_data *a;
    /* What fills A first, at most one of: `seeds`, K seeds for gen then gram (uint32_t for
     * dusk_kernel_gen(), NumPy's generator; uint64_t for dusk_kernel_gen_philox() when
     * `philox` is set; copied); `load`, load from an input (copied). Neither: A holds the
     * matrices already. */
    const void *seeds;
    int philox;
    const dusk_load_args *load;
    /* The eigenvalues: K x n. */
    dusk_data *w;
    /* x.data NULL: eigh overwrites A (with the eigenvectors when args.vectors). Otherwise A
     * is kept, and x.data (K x n x n) receives the eigenvectors (x.mode DUSK_W) or serves as
     * eigh's workspace (DUSK_SCRATCH). */
    dusk_arg x;
    /* eigh's by-value argument. */
    dusk_eigh_args args;
} dusk_eigh_chunk;

/* Submit the tasks of chunk c to g: gen (key "gen", priority 0) and gram ("gram", 1), or load
 * ("load", 1), then eigh ("eigh", 2): later steps first among ready tasks, so that chunks
 * finish, and free their matrices, before new ones start. Every task gets `opts` (NULL: the
 * defaults; the item range, retries, where...) but for its key, its priority and its flags:
 * opts->flags go to eigh alone, whose end is its items' end. gen's matrices B are made here
 * and freed once gram is done; the caller keeps its references to a, w and x.data. Returns 0,
 * DUSK_EINVAL (NULL g, c, a or w; both seeds and load; x.mode neither DUSK_W nor
 * DUSK_SCRATCH), or the first error of a data maker or a submission (dusk_task_submit()),
 * after which the tasks already submitted stay in the graph. Thread-safe as
 * dusk_task_submit() is. */
DUSK_NODISCARD int dusk_eigh_chunk_submit(dusk_graph *g, const dusk_eigh_chunk *c,
                                          const dusk_task_opts *opts);

/* ---- Whole stacks in one call: numpy.linalg.eigh over caller memory ------------------------
 *
 * dusk_eigh_stack() is numpy.linalg.eigh for a stack of matrices held by the caller, computed
 * by every worker at once; dusk_eigh_generated() is the tutorial's batch with its matrices
 * made inside dusk. Both are what the Python package (python/dusk) calls, and are as usable
 * from C. The matrices are split into chunks of several items (one task each: gen, gram and
 * eigh over stacks, see above), so the results are the same bit for bit whatever the chunk
 * size, the number of workers or the scheduler.
 *
 * Each call builds and runs a graph of its own (of this rank alone: dusk_graph_set_local), so
 * calls from several threads at once are independent and may overlap; each must come after
 * dusk_init() has returned and end before dusk_shutdown(). The calling thread submits and
 * waits; it may be interrupted only through opts->cancel. */

/* How a stack call runs. Fill it with dusk_eigh_opts_init(), then change fields. */
typedef struct dusk_eigh_opts {
    /* The triangle read: 'L' (the default, as numpy.linalg.eigh) or 'U'. */
    char uplo;
    /* With v NULL: non-zero computes the eigenvectors all the same, into workspace, and drops
     * them (the tutorial's work, w, v = eigh(a), for like-for-like timings); 0 (the default)
     * computes eigenvalues only, which is faster. Without effect when v is given. */
    int vectors;
    /* Matrices per task: k > 0 exactly (the last chunks may be smaller), or 0 (the default):
     * automatic, from the time the first tasks take, bounded by the window's memory (see
     * dusk_chunker.h). */
    int64_t chunk;
    /* When not NULL: the call stops as soon as *cancel becomes non-zero (checked every 0.1 s
     * at most, see dusk_graph_watch_cancel): nothing more starts, running tasks finish, and it
     * returns DUSK_ECANCELED. For callers that cannot call into dusk from where they learn of
     * the interrupt (a signal handler, another language's). */
    const volatile int *cancel;
    /* When not NULL: the label of a progress bar of the matrices done, on stderr, drawn per
     * the configuration's `progress` (AUTO: when stderr is a terminal). NULL (the default): no
     * bar. */
    const char *progress;
} dusk_eigh_opts;

/* Defaults: uplo 'L', vectors 0, chunk 0, no cancel flag, no bar. 0, or DUSK_EINVAL for a NULL
 * opts. */
int dusk_eigh_opts_init(dusk_eigh_opts *opts);

/* Eigenvalues (ascending) and, when v is not NULL, eigenvectors (in columns, as
 * numpy.linalg.eigh returns them) of `count` symmetric n x n float64 matrices.
 *
 *   a       count x n x n values, C order, contiguous: matrix k at a + k n n, as NumPy lays out
 *           an array of shape (count, n, n). Only the triangle opts->uplo names is read; a is
 *           never written (CPU workers read it in place, with no copy).
 *   w       receives count x n eigenvalues (shape (count, n)).
 *   v       NULL (eigenvalues only, which is faster, unless opts->vectors), or receives
 *           count x n x n values.
 *   status  NULL, or receives count ints: 0 for each matrix computed, else why not: DUSK_EDATA
 *           (a value that is not finite), DUSK_ENUMERIC (LAPACK did not converge),
 *           DUSK_ECANCELED (not computed: cancelled), or the error that stopped the call.
 *   opts    NULL for the defaults.
 *   why     when not NULL, receives one line: after DUSK_ETASK the first failed matrix (the
 *           lowest index) and its reason, "matrix K: reason"; after another error what was
 *           refused; "" after 0.
 *
 * A matrix that fails costs only itself: the others are computed. Every matrix whose status is
 * not 0 has its eigenvalues (and eigenvectors) filled with NaN. The memory must stay valid and
 * untouched until the call returns, which it does only once every task is done (even when it
 * fails or is cancelled). count or n 0: nothing to do (0).
 *
 * Returns 0 (every matrix computed), DUSK_ETASK (some matrices failed: status says which),
 * DUSK_ECANCELED (*opts->cancel became non-zero: the matrices computed before are valid, the
 * others have status DUSK_ECANCELED), DUSK_EINVAL (a NULL pointer with count > 0, count or n
 * negative, uplo neither 'L' nor 'U', chunk negative, n * n over 2^31 values, or n over
 * DUSK_EIGH_MAX_N with vectors (v or opts->vectors): then nothing is written), DUSK_ESTATE (before
 * dusk_init()), DUSK_ENOMEM, or a submission's error (DUSK_ENODEV, DUSK_ESTARPU: the matrices not
 * submitted have that status). Thread-safe (see above). */
DUSK_NODISCARD int dusk_eigh_stack(const double *a, int64_t count, int64_t n, double *w, double *v,
                                   int *status, const dusk_eigh_opts *opts, char *why,
                                   size_t whylen);

/* The tutorial's batch, made inside dusk: for matrix i (0 <= i < count),
 * np.random.seed(seed + i); b = np.random.rand(n, n); a = b.T @ b, then its eigenvalues into
 * w (count x n) and, when v is not NULL, its eigenvectors into v (count x n x n), with the
 * built-in gen, gram and eigh kernels: NumPy's matrices bit for bit (MT19937, as
 * dusk_mt19937_fill), and the same eigenvalues as numpy.linalg.eigh to rounding. No stack of
 * every matrix is ever held: only the chunks in flight, which the window bounds (see
 * dusk_config::window_mb). status, opts (a is symmetric to the last bit, so uplo changes only
 * rounding), why and the returns are as for dusk_eigh_stack(); seed + count - 1 must stay
 * below 2^32, as np.random.seed requires (DUSK_EINVAL). Thread-safe. */
DUSK_NODISCARD int dusk_eigh_generated(int64_t n, int64_t count, uint32_t seed, double *w,
                                       double *v, int *status, const dusk_eigh_opts *opts,
                                       char *why, size_t whylen);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_LINALG_H */
