#!/usr/bin/python3
"""Step 5b: the tutorial's whole batch inside dusk from Python: dusk.batch_eigh(n, ntasks)
generates task i's matrix (np.random.seed(i); b = np.random.rand(n, n); a = b.T @ b, NumPy's
numbers bit for bit), multiplies and decomposes it in dusk's workers, and returns the
eigenvalues; no matrix passes through Python. As dusk-eigh, with eigenvectors computed."""
import common

if __name__ == "__main__":
    args = common.setup("dusk-python-batch", blas_threads=None, workers=False)
    import dusk

    dusk.configure(blas_threads=1)
    info = dusk.info()  # StarPU's start-up is outside the batch time
    clock = common.Clock()
    clock.data_done()  # nothing made here: the matrices are made inside dusk, within the batch
    w = dusk.batch_eigh(args.n, args.ntasks)
    args.workers = info["workers"]
    common.finish(args, clock, common.stack_results(w))
