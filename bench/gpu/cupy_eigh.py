#!/usr/bin/env python3
"""The tutorial's GPU step: for i in range(T): seed, b = rand(n, n), a = bᵀb, eigh(a), with
CuPy on one GPU. Prints one line: `cupy n=N ntasks=T seconds=S it/s=R`.
--stack: the same T matrices made one by one, then one cupy.linalg.eigh on the (T, n, n)
stack; the time includes making them (`eigh_seconds=` says the call's share). Prints
`cupy-stack n=N ntasks=T seconds=S eigh_seconds=E it/s=R`.
Usage: cupy_eigh.py N T [--values-only] [--warmup K] [--stack]"""
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
p.add_argument("--stack", action="store_true")
args = p.parse_args()


def decompose(a):
    if args.values_only:
        return cp.linalg.eigvalsh(a)
    return cp.linalg.eigh(a)


def one(i):
    cp.random.seed(i)
    b = cp.random.rand(args.n, args.n)
    return decompose(b.T @ b)


def stack(count):
    a = cp.empty((count, args.n, args.n))
    for i in range(count):
        cp.random.seed(i)
        b = cp.random.rand(args.n, args.n)
        a[i] = b.T @ b
    return a


if args.stack:
    decompose(stack(min(2, args.ntasks)))  # the batched path's handles and kernels
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    a = stack(args.ntasks)
    cp.cuda.Device().synchronize()
    t1 = time.perf_counter()
    decompose(a)
    cp.cuda.Device().synchronize()
    t2 = time.perf_counter()
    s = t2 - t0
    print(f"cupy-stack n={args.n} ntasks={args.ntasks} seconds={s:.3f} "
          f"eigh_seconds={t2 - t1:.3f} it/s={args.ntasks / s:.2f}")
    sys.exit(0)

for i in range(args.warmup):  # cuSOLVER handles, kernels compiled, memory pool
    one(i)
cp.cuda.Device().synchronize()
t0 = time.perf_counter()
for i in range(args.ntasks):
    one(i)
cp.cuda.Device().synchronize()
s = time.perf_counter() - t0
print(f"cupy n={args.n} ntasks={args.ntasks} seconds={s:.3f} it/s={args.ntasks / s:.2f}")
