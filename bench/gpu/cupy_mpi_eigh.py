#!/usr/bin/env python3
"""The tutorial's CuPy + MPI step: the batch split over MPI ranks that share one GPU; rank 0
gathers the eigenvalues and, with --output FILE.npy, saves them (shape (T, n)), so that the
outputs of 1 and 2 ranks can be compared byte for byte. Needs mpi4py and CuPy.
Usage: mpirun -np R cupy_mpi_eigh.py N T [--output FILE.npy]"""
import argparse
import sys
import time

try:
    import cupy as cp
    import numpy as np
    from mpi4py import MPI
except ImportError as e:
    print(f"cupy_mpi_eigh: {e}", file=sys.stderr)
    sys.exit(77)

p = argparse.ArgumentParser()
p.add_argument("n", type=int)
p.add_argument("ntasks", type=int)
p.add_argument("--output")
args = p.parse_args()
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
mine = range(rank, args.ntasks, size)
comm.Barrier()
t0 = time.perf_counter()
w = {}
for i in mine:
    cp.random.seed(i)
    b = cp.random.rand(args.n, args.n)
    w[i] = cp.asnumpy(cp.linalg.eigvalsh(b.T @ b))
comm.Barrier()
s = time.perf_counter() - t0
parts = comm.gather(w, root=0)
if rank == 0:
    allw = {k: v for part in parts for k, v in part.items()}
    out = np.array([allw[i] for i in range(args.ntasks)])
    if args.output:
        np.save(args.output, out)
    print(f"cupy+mpi ranks={size} n={args.n} ntasks={args.ntasks} seconds={s:.3f} "
          f"it/s={args.ntasks / s:.2f}")
