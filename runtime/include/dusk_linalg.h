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
 * Eigenvectors are the columns of the C-order matrix, as numpy.linalg.eigh returns them; A's
 * C-order lower triangle is read, as numpy.linalg.eigh does by default. An item fails with
 * DUSK_EDATA when its matrix holds a value that is not finite, DUSK_ENUMERIC when dsyevd does
 * not converge. value: dusk_eigh_args. */
typedef struct dusk_eigh_args {
    int vectors; /* nonzero: compute eigenvectors too */
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

#ifdef __cplusplus
}
#endif
#endif /* DUSK_LINALG_H */
