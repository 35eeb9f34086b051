#!/usr/bin/python3
"""Step 4: numpy.linalg.eigh on the whole stack (T, n, n) at once, NumPy's own way of doing a
batch: one call, the matrices decomposed one after another, each with NumPy's default BLAS
threads (one per core) or, with --blas-threads 1, with one."""
import common

if __name__ == "__main__":
    args = common.setup("numpy-stack", blas_threads="option", workers=False)
    import numpy as np

    clock = common.Clock()
    stack = common.make_stack(args.n, args.ntasks)
    clock.data_done()
    w, v = np.linalg.eigh(stack)
    common.finish(args, clock, common.stack_results(w))
