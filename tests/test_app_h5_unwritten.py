#!/usr/bin/python3
"""HDF5 data never written is not decomposed as if it were real. A chunked dataset (one matrix
per chunk) with a fill value, of which a producer killed part-way wrote only some matrices:
dusk-eigh fails the matrices whose chunks were never allocated, naming each (exit 3, as for
failed items; failures.json has them), and computes the others right. A chunked dataset of
which nothing was written, and a contiguous one never written (its storage not allocated), are
refused as a whole (exit 1, one line). A matrix split over several chunks, one of them never
written, fails too.
Usage: test_app_h5_unwritten.py PATH/TO/dusk-eigh   (exit 77 without h5py or HDF5 in dusk,
failed then under CI)"""
import json
import os
import subprocess
import sys
import tempfile

import runlib

try:
    import h5py
    import numpy as np
except ImportError as e:
    runlib.missing(e.name, {"numpy": "python3-numpy"}.get(e.name, "python3-h5py"))

exe = sys.argv[1]
fails = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        fails.append(what)


def run(args):
    return subprocess.run([exe] + args, capture_output=True, text=True, timeout=300)


probe = run(["-n", "4", "--ntasks", "1", "--format", "h5", "--output", "/nonexistent/x"])
if "built without HDF5" in probe.stderr:
    if runlib.under_ci():
        runlib.fail_now("dusk-eigh was built without HDF5 (Debian: libhdf5-dev), and CI is set")
    print("dusk-eigh was built without HDF5: skipped")
    sys.exit(77)

T, N = 24, 12
rng = np.random.default_rng(4)
x = rng.standard_normal((T, N, N))
mats = x + x.transpose(0, 2, 1)
want = np.linalg.eigvalsh(mats)

with tempfile.TemporaryDirectory() as tmp:
    def partial(name, missing, chunks, fill=0.0):
        """A dataset of T matrices, chunked, of which those in `missing` were never written."""
        path = os.path.join(tmp, name)
        with h5py.File(path, "w") as f:
            d = f.create_dataset("mats", shape=(T, N, N), dtype="<f8", chunks=chunks,
                                 fillvalue=fill)
            for i in range(T):
                if i not in missing:
                    d[i] = mats[i]
        return path

    def failed_run(src, missing, label):
        out = os.path.join(tmp, label)
        r = run(["--input", src, "--output", out, "-q", "--no-progress"])
        check(r.returncode == 3, f"{label}: exit {r.returncode}, want 3 (failed items) "
                                 f"({r.stderr.strip()[-400:]!r})")
        for i in missing:
            check(f"matrix {i}: never written in the HDF5 dataset (chunk not allocated)"
                  in r.stderr, f"{label}: matrix {i} named as never written")
        path = os.path.join(out, "failures.json")
        if not os.path.exists(path):
            check(False, f"{label}: failures.json written")
            return
        with open(path) as f:
            doc = json.load(f)
        text = json.dumps(doc)
        check(all(f"matrix {i}: never written" in text for i in missing),
              f"{label}: failures.json names the matrices never written")
        w = np.load(os.path.join(out, "eigenvalues.npy"))
        good = [i for i in range(T) if i not in missing]
        check(np.allclose(w[good], want[good], rtol=1e-10, atol=1e-10),
              f"{label}: the matrices written give their eigenvalues")
        check(np.isnan(w[sorted(missing)]).all(), f"{label}: the rows never written are NaN")

    # one matrix per chunk, fill value 0 (a zero matrix decomposes without complaint)
    missing = {3, 7, 8, 23}
    failed_run(partial("one.h5", missing, (1, N, N)), missing, "one matrix per chunk")
    # a fill value that is not 0, and each matrix split over two chunks, one never written
    src = os.path.join(tmp, "split.h5")
    with h5py.File(src, "w") as f:
        d = f.create_dataset("mats", shape=(T, N, N), dtype="<f8", chunks=(1, N // 2, N),
                             fillvalue=1.0)
        for i in range(T):
            d[i, : N // 2] = mats[i, : N // 2]
            if i != 5:
                d[i, N // 2:] = mats[i, N // 2:]
    failed_run(src, {5}, "half a matrix never written")

    # nothing written: the file is refused, chunked or contiguous
    for label, chunks in (("chunked", (1, N, N)), ("contiguous", None)):
        src = os.path.join(tmp, f"empty-{label}.h5")
        with h5py.File(src, "w") as f:
            f.create_dataset("mats", shape=(T, N, N), dtype="<f8", chunks=chunks)
        r = run(["--input", src, "--output", os.path.join(tmp, f"out-{label}"), "-q"])
        check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and
              "never written" in r.stderr,
              f"{label} dataset never written: refused, exit {r.returncode} "
              f"({r.stderr.strip()!r})")

    # all written, chunked: no failure
    src = partial("whole.h5", set(), (1, N, N))
    out = os.path.join(tmp, "whole")
    r = run(["--input", src, "--output", out, "-q", "--no-progress"])
    check(r.returncode == 0 and np.allclose(np.load(os.path.join(out, "eigenvalues.npy")), want,
                                            rtol=1e-10, atol=1e-10),
          f"a chunked dataset written whole: exit {r.returncode} ({r.stderr.strip()!r})")

if fails:
    print(f"{len(fails)} check(s) failed")
    sys.exit(1)
print("all passed")
