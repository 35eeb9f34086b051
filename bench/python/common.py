"""Shared by the bench/python/ steps: options, BLAS threads, the tutorial's data and task, the report.

Each step is NERSC's "Intro to Parallel Python" example written as the tutorial writes it:
the parent builds the data (for task i: np.random.seed(i); b = np.random.rand(n, n);
a = b.T @ b), then the step's parallel machinery runs process_data(i, a) (eigh) on every
matrix and the ids that come back are checked. This module must not import numpy at the top:
setup() sets the BLAS thread count in the environment first, which OpenBLAS reads only when
it is loaded (and which the worker processes inherit).
"""

import argparse
import os
import sys
import time


def cores():
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0))


def setup(step, blas_threads=1, workers=True, argv=None):
    """Parse -n, --ntasks (and --workers), set OpenBLAS/OpenMP threads (None: leave NumPy's
    default; "option": a --blas-threads flag says, NumPy's default without it), return the
    options."""
    parser = argparse.ArgumentParser(prog=step, description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="matrix size (default 1000)")
    parser.add_argument("--ntasks", type=int, default=128, help="number of tasks (default 128)")
    if workers:
        parser.add_argument("--workers", type=int, default=cores(),
                            help="worker processes (default: one per core, %(default)s)")
    parser.add_argument("--eig-out", metavar="FILE",
                        help="write 'id largest-eigenvalue' lines to FILE (for cross-checks)")
    if blas_threads == "option":
        parser.add_argument("--blas-threads", type=int, default=None, metavar="K",
                            help="OpenBLAS threads (default: NumPy's, one per core)")
    args = parser.parse_args(argv)
    if blas_threads == "option":
        blas_threads = args.blas_threads
        if blas_threads is not None and blas_threads < 1:
            parser.error("--blas-threads must be positive")
        if blas_threads is not None:
            step = f"{step}-{blas_threads}"
    if args.n < 1 or args.ntasks < 1 or (workers and args.workers < 1):
        parser.error("-n, --ntasks and --workers must be positive")
    if not workers:
        args.workers = 1
    if blas_threads is None:  # NumPy's default: OpenBLAS's own choice, one thread per core
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.pop(var, None)
        blas = "default"
    else:
        blas = cores() if blas_threads == "cores" else blas_threads
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(blas)
    if "numpy" in sys.modules:
        sys.exit(f"{step}: numpy was imported before the BLAS threads were set")
    args.step = step
    args.blas_threads = blas
    return args


def make_data(n, ntasks):
    """The tutorial's input: task i's matrix a = bᵀb with b = rand(n, n) after seed(i)."""
    import numpy as np

    data = list()
    for i in range(ntasks):
        np.random.seed(i)
        b = np.random.rand(n, n)
        a = b.T @ b
        data.append(a)
    return data


def make_stack(n, ntasks):
    """The same matrices as make_data, as one array (ntasks, n, n): what numpy.linalg.eigh and
    dusk.eigh take whole. Filled in place, so no second copy is made."""
    import numpy as np

    stack = np.empty((ntasks, n, n))
    for i in range(ntasks):
        np.random.seed(i)
        b = np.random.rand(n, n)
        np.matmul(b.T, b, out=stack[i])
    return stack


def stack_results(w):
    """(id, largest eigenvalue) of each task, from the eigenvalues of a whole stack (T, n)."""
    return [(i, float(w[i, -1])) for i in range(w.shape[0])]


def process_data(id, a):
    """The tutorial's task, which also hands back the largest eigenvalue for the cross-check."""
    import numpy as np

    w, v = np.linalg.eigh(a)
    return id, w[-1]


def process_data_unpack(args):
    """process_data(*args), for Pool.imap (the tutorial's helper)."""
    return process_data(*args)


class Clock:
    """Wall time of the batch (data creation included) and of the data creation alone."""

    def __init__(self):
        # NumPy's import (about 0.1 s: OpenBLAS's start-up) before the clock starts, in every
        # step: steps that import it only in make_data() would count it in their batch, the
        # others (NumPy's stack, dusk) not. Safe here: setup() has set the BLAS threads.
        import numpy  # noqa: F401

        self.start = time.perf_counter()
        self.gen = None

    def data_done(self):
        self.gen = time.perf_counter() - self.start


def finish(args, clock, results):
    """Check that every task id came back once, print the RESULT line, exit 1 if not."""
    seconds = time.perf_counter() - clock.start
    ids = sorted(r[0] for r in results)
    back = len(set(ids) & set(range(args.ntasks)))
    ok = ids == list(range(args.ntasks))
    if args.eig_out:
        with open(args.eig_out, "w") as f:
            for i, wmax in sorted(results):
                f.write(f"{i} {wmax!r}\n")
    print(f"RESULT step={args.step} n={args.n} ntasks={args.ntasks} workers={args.workers} "
          f"blas_threads={args.blas_threads} seconds={seconds:.3f} gen_seconds={clock.gen:.3f} "
          f"tasks_back={back}", flush=True)
    if not ok:
        missing = sorted(set(range(args.ntasks)) - set(ids))
        print(f"{args.step}: {args.ntasks - back} task id(s) missing or repeated "
              f"(missing: {missing[:10]}{'...' if len(missing) > 10 else ''})", file=sys.stderr)
        sys.exit(1)
