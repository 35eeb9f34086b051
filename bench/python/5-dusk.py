#!/usr/bin/python3
"""Step 5: the same stack through dusk, changing one name: dusk.eigh(stack) instead of
numpy.linalg.eigh(stack). The parent builds the stack as in step 4; dusk reads it in place and
decomposes its matrices on every core at once (one BLAS thread per worker). dusk is found as
the package's tests find it: PYTHONPATH=BUILD/python (bench/python.sh sets it)."""
import common

if __name__ == "__main__":
    args = common.setup("dusk-python", blas_threads=None, workers=False)
    import dusk

    dusk.configure(blas_threads=1)
    dusk.info()  # StarPU's start-up is outside the batch time, as in the other steps
    clock = common.Clock()
    stack = common.make_stack(args.n, args.ntasks)
    clock.data_done()
    w, v = dusk.eigh(stack)
    args.workers = dusk.info()["workers"]
    common.finish(args, clock, common.stack_results(w))
