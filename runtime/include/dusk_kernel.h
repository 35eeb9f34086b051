/* dusk kernels: what a task runs.
 *
 * A kernel is a named StarPU codelet with a history-based performance model, built from a
 * CPU function (and, in CUDA builds, a CUDA one). Each function gets a dusk_call that gives
 * its data arguments and by-value argument, and returns 0 or a negative DUSK_E* code; a
 * failure is recorded as the task's status, tasks that read what it writes are marked
 * DUSK_EDEP without running, and the rest of the graph goes on. Any other return value (C's
 * `return 1`, a negative number that is no DUSK_E* code) is a failure too, DUSK_EKERNEL, with
 * the reason "kernel returned N" unless the function gave one with dusk_call_fail().
 */
#ifndef DUSK_KERNEL_H
#define DUSK_KERNEL_H

#include "dusk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dusk_call dusk_call; /* one execution of a task; valid during the call only */

typedef int (*dusk_kernel_fn)(dusk_call *call);

/* The longest kernel name, in bytes. */
#define DUSK_KERNEL_NAME_MAX 47

/* Whether `name` can name a new kernel: 0; DUSK_EINVAL when it is NULL, empty, longer than
 * DUSK_KERNEL_NAME_MAX, holds a byte outside [A-Za-z0-9_.-], or starts with "dusk_"
 * (reserved for the built-in kernels); DUSK_EEXIST when a kernel of that name exists (made
 * by dusk_kernel_new() and not freed yet). Then `why` (when not NULL) receives one line
 * naming the name and the rule. Thread-safe; needs no dusk_init(). */
DUSK_NODISCARD int dusk_kernel_name_check(const char *name, char *why, size_t whylen);

/* A kernel named `name` (copied; also the name of its StarPU performance model, which is why
 * two live kernels cannot share a name) that runs `cpu` on CPU workers. The caller owns
 * *out; free it with dusk_kernel_free() after the graphs using it are freed, which frees the
 * name for another kernel. Returns 0, DUSK_EINVAL (NULL cpu or out, or a name
 * dusk_kernel_name_check() refuses), DUSK_EEXIST (the name is taken: dusk_kernel_name_check()
 * says so in words) or DUSK_ENOMEM; *out is NULL on failure. Thread-safe. */
DUSK_NODISCARD int dusk_kernel_new(const char *name, dusk_kernel_fn cpu, dusk_kernel **out);
void dusk_kernel_free(dusk_kernel **k);

/* Give k a CUDA implementation too (before the first task using k is submitted): `cuda`
 * runs on GPU workers, where dusk_call_data() gives device pointers and
 * dusk_call_cuda_stream() the worker's stream, on which it must queue its work; it must have
 * finished that work (synchronised the stream) when it returns. When it fails and the task
 * has retries left, the CPU implementation runs the task from its input as it was (a copy
 * of what it updates in place is kept on the GPU): on a CPU worker, or, when none can take
 * it, on host copies of its arguments from the GPU worker.
 * Returns DUSK_ENODEV when this build has no CUDA (dusk_have_cuda()), DUSK_EINVAL for
 * NULL arguments. */
DUSK_NODISCARD int dusk_kernel_set_cuda(dusk_kernel *k, dusk_kernel_fn cuda);

/* Give k's performance model a footprint that depends on the task's by-value argument too
 * (before the first task using k is submitted). StarPU's history-based models keep one
 * entry per footprint, by default a hash of the data sizes alone: a kernel whose cost
 * depends on its by-value argument (dusk_eigh with or without eigenvectors) would mix tasks
 * of different costs in one entry. fn(value, size) receives the argument given to
 * dusk_task_submit() (NULL and 0 when none) and returns a number that differs where the
 * cost differs; it is combined with StarPU's data footprint (starpu_task_data_footprint).
 * It is called on StarPU's threads, several at once: it must be a pure function of its
 * arguments. NULL: the data footprint alone again. 0, or DUSK_EINVAL for a NULL k. */
typedef uint32_t (*dusk_footprint_fn)(const void *value, size_t size);
DUSK_NODISCARD int dusk_kernel_set_footprint(dusk_kernel *k, dusk_footprint_fn fn);

/* The kernel's name, as given to dusk_kernel_new() (owned by k, valid until it is freed);
 * "" for a NULL k. */
const char *dusk_kernel_name(const dusk_kernel *k);

/* Inside a kernel function: */

/* (Each of these does nothing, or returns 0 or NULL, for a NULL call.) */

/* The number of data arguments of the task. */
int dusk_call_nargs(const dusk_call *call);

/* Data argument i: its values (C order) and dims (rows, cols; cols is 1 for a vector).
 * Returns NULL when i is out of range. */
double *dusk_call_data(const dusk_call *call, int i, int64_t dims[2]);

/* Data argument i as a stack (dusk_stack_new): its values, *count items of dims (rows, cols;
 * cols is 1 for vectors) each, item k at k * dims[0] * dims[1]. A matrix or vector is a stack
 * of one. NULL (count and dims 0) when i is out of range. (dusk_call_data gives the same
 * values seen as one matrix of count * rows rows.) */
double *dusk_call_stack(const dusk_call *call, int i, int64_t *count, int64_t dims[2]);

/* Items. A task computes as many items as its stacks have (every stack argument has that
 * count, or 1: a stack of one is shared by every item). A kernel over items loops over
 * them, skipping those whose status is not 0, and fails the ones it cannot compute: */

/* The task's number of items (1 when its data are plain matrices and vectors). */
int64_t dusk_call_items(const dusk_call *call);

/* 0 when item k is to be computed; else why not: DUSK_EDEP when an item it reads failed
 * earlier, or the error it was failed with (dusk_call_fail_item, or DUSK_FAIL_TASKS). What the
 * task writes for such an item is marked failed for the tasks after it. */
int dusk_call_item_status(const dusk_call *call, int64_t k);

/* The name of item k (the task options' item_first + k * item_step), or k when the task
 * names no items. */
int64_t dusk_call_item_id(const dusk_call *call, int64_t k);

/* Fail item k alone with `code` (a negative DUSK_E* code) and a reason (one line): the
 * kernel goes on with the others. When every item of a task fails, the task has failed (its
 * status is the first item's error); otherwise it has succeeded and the failures are per item
 * (dusk_graph_item_failure). Ignored for k out of range or code >= 0. */
void dusk_call_fail_item(dusk_call *call, int64_t k, int code, const char *fmt, ...)
    DUSK_PRINTF(4, 5);

/* The by-value argument given to dusk_task_submit() and its size (NULL when none). */
const void *dusk_call_value(const dusk_call *call, size_t *size);

/* The worker's CUDA stream (a cudaStream_t) inside a CUDA implementation; NULL on a CPU. */
void *dusk_call_cuda_stream(const dusk_call *call);

/* Give the reason for a failure the function is about to return (copied, one line). */
void dusk_call_fail(dusk_call *call, const char *fmt, ...) DUSK_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_KERNEL_H */
