"""The NERSC tutorial's step, with your own function run by dusk.map.

    python3 process_data.py [NTASKS] [N]              on a laptop (every core)
    srun -n 2 -c 1 --cpu-bind=cores python3 process_data.py   under Slurm (each rank its items)

Killed at any moment (Ctrl-C, scancel, SIGKILL, the walltime), the same command continues the
stopped run where it stopped: results/ holds only what is on disk, and nothing is computed twice.
"""
import sys

import numpy as np
import dusk

ntasks = int(sys.argv[1]) if len(sys.argv) > 1 else 128
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000


def process_data(i):
    rng = np.random.RandomState(i)  # a generator per task: np.random.seed(i) races in threads
    b = rng.rand(n, n)
    a = b.T @ b
    w, v = np.linalg.eigh(a)
    return w


r = dusk.map(process_data, ntasks, out="results", params={"n": n})
w = r.load(mmap_mode="r")
done = np.flatnonzero(np.isfinite(w).all(axis=1))
print(f"{len(done)} of {ntasks} task ids came back; largest eigenvalue of task 0: {w[0, -1]:.6g}")
print(f"failed: {r.failed}" if r.failed else "no task failed")
