#!/usr/bin/env python3
"""Compare two eigenvalue files (.npy, shape (T, n)) row by row: each row's largest difference
relative to its largest value must be <= --rtol. Prints one line: "within RTOL (max diff D
relative)", or says what differs and exits 1 (shapes, a non-finite row, a row past RTOL).
Usage: compare.py A.npy B.npy --rtol 1e-10"""
import argparse
import sys

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("a")
p.add_argument("b")
p.add_argument("--rtol", type=float, required=True)
args = p.parse_args()
a, b = np.load(args.a), np.load(args.b)
if a.shape != b.shape:
    print(f"shapes differ: {a.shape} and {b.shape}")
    sys.exit(1)
a = a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(1, -1)
b = b.reshape(a.shape)
bad = ~(np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1))
if bad.any():
    print(f"{int(bad.sum())} rows have non-finite values (first: row {int(np.argmax(bad))})")
    sys.exit(1)
scale = np.maximum(np.abs(b).max(axis=1), np.finfo(float).tiny)
rel = np.abs(a - b).max(axis=1) / scale
worst = int(np.argmax(rel))
if rel[worst] > args.rtol:
    print(f"row {worst} differs by {rel[worst]:.1e} relative (> {args.rtol:g}); "
          f"{int((rel > args.rtol).sum())} of {len(rel)} rows past it")
    sys.exit(1)
print(f"within {args.rtol:g} (max diff {rel[worst]:.1e} relative)")
