#!/usr/bin/env python3
"""The tutorial's GPU step: for i in range(T): seed, b = rand(n, n), a = bᵀb, eigh(a), with
CuPy on one GPU. Prints one line: `cupy n=N ntasks=T seconds=S it/s=R`.
Usage: cupy_eigh.py N T [--values-only] [--warmup K]"""
import argparse
import sys
import time

try:
    import cupy as cp
except ImportError:
    print("cupy_eigh: CuPy is not installed", file=sys.stderr)
    sys.exit(1)

p = argparse.ArgumentParser()
p.add_argument("n", type=int)
p.add_argument("ntasks", type=int)
p.add_argument("--values-only", action="store_true")
p.add_argument("--warmup", type=int, default=2)
args = p.parse_args()


def one(i):
    cp.random.seed(i)
    b = cp.random.rand(args.n, args.n)
    a = b.T @ b
    if args.values_only:
        return cp.linalg.eigvalsh(a)
    return cp.linalg.eigh(a)


for i in range(args.warmup):  # cuSOLVER handles, kernels compiled, memory pool
    one(i)
cp.cuda.Device().synchronize()
t0 = time.perf_counter()
for i in range(args.ntasks):
    one(i)
cp.cuda.Device().synchronize()
s = time.perf_counter() - t0
print(f"cupy n={args.n} ntasks={args.ntasks} seconds={s:.3f} it/s={args.ntasks / s:.2f}")
