#!/usr/bin/python3
"""A resume never combines the results of two inputs: dusk-eigh --input big.npy stopped by
SIGINT with tasks left, then big.npy edited in place (two matrices, one done and one not, both
outside the blocks the input's fingerprint samples): --resume is refused with one line, exit
2. The same input with its content put back (its modification time changed), or a stopped run
whose input was only touched, resumes, and ends byte-identical to an uninterrupted run.
The run is sized from this machine (tests/runlib.py), at least 2000 matrices of 60 x 60; the
signal comes once its manifest shows it under way.
Usage: test_app_input_edit.py PATH/TO/dusk-eigh"""
import os
import signal
import subprocess
import sys
import tempfile
import time

import runlib

try:
    import numpy as np
except ImportError:
    runlib.missing("numpy", "python3-numpy")

exe = sys.argv[1]
failures = []
N = 60
FINAL = ("eigenvalues.npy", "eigenvectors.npy")
OPTS = ["--vectors", "-q", "--no-progress"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def manifest_ids(out):
    fields = dict(line.rstrip("\n").partition(" ")[::2]
                  for line in open(os.path.join(out, "manifest.txt")))
    ids = set()
    for part in filter(None, fields.get("ids", "").split(",")):
        a, _, b = part.partition("-")
        ids.update(range(int(a), int(b or a) + 1))
    return ids


def stopped_run(big, out, what):
    """A run of big into OUT, stopped by SIGINT once under way: the done set it saved."""
    p = subprocess.Popen([exe, "--input", big, "--output", out] + OPTS, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    runlib.wait_under_way(p, out, what)
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=240)
    if p.returncode != 128 + signal.SIGINT:
        runlib.fail_now(f"{what}: the stopped run exits {p.returncode}, not 130 "
                        f"(finished before the signal?): {stderr.strip()[-300:]}")
    return manifest_ids(out)


def unsampled(size, header, t):
    """The matrices whose bytes lie outside every block dusk_input_fingerprint samples (the
    first, the last and 62 evenly spaced 4 KiB blocks)."""
    blocks = (size + 4095) // 4096
    sampled = set(range(blocks)) if blocks <= 64 else {k * (blocks - 1) // 63 for k in range(64)}
    row = N * N * 8
    return [i for i in range(t)
            if not any(b in sampled for b in range((header + i * row) // 4096,
                                                     (header + (i + 1) * row - 1) // 4096 + 1))]


with tempfile.TemporaryDirectory() as tmp:
    # T: about SECONDS of work here (sized on generated matrices of the same order)
    T = runlib.size_tasks(lambda t: [exe, "-n", str(N), "--ntasks", str(t)] + OPTS, 500, 2000,
                          40000)
    big = os.path.join(tmp, "big.npy")
    rng = np.random.default_rng(24)
    a = np.lib.format.open_memmap(big, mode="w+", dtype="<f8", shape=(T, N, N))
    for lo in range(0, T, 1000):
        x = rng.standard_normal((min(1000, T - lo), N, N))
        a[lo:lo + len(x)] = x + x.transpose(0, 2, 1)
    a.flush()
    del a
    size = os.path.getsize(big)
    header = size - T * N * N * 8
    print(f"big.npy: {T} x {N} x {N}, {size / 1e6:.1f} MB", flush=True)

    ref = os.path.join(tmp, "ref")
    r = subprocess.run([exe, "--input", big, "--output", ref] + OPTS, capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        runlib.fail_now(f"the uninterrupted run exits {r.returncode}: {r.stderr.strip()[-300:]}")
    reference = {name: read(os.path.join(ref, name)) for name in FINAL}

    def same_as_reference(out, label):
        for name in FINAL:
            path = os.path.join(out, name)
            check(os.path.exists(path) and read(path) == reference[name],
                  f"{label}: {name} is byte-identical to the uninterrupted run's")

    # ---- edited in place between the stop and the resume: refused
    out = os.path.join(tmp, "edited")
    done = stopped_run(big, out, "edit")
    free = unsampled(size, header, T)
    was_done = [i for i in free if i in done]
    not_done = [i for i in free if i not in done]
    if not was_done or not not_done:
        runlib.fail_now(f"no matrix to edit outside the sampled blocks ({len(done)} of {T} done)")
    edit = [was_done[len(was_done) // 2], not_done[len(not_done) // 2]]
    st = os.stat(big)
    m = np.load(big, mmap_mode="r+")
    m[edit] *= 2.0  # still symmetric; exactly undone by halving
    m.flush()
    del m
    check(os.path.getsize(big) == st.st_size, "the edit keeps the file's size")
    r = subprocess.run([exe, "--resume", out], capture_output=True, text=True, timeout=600)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 2,
          f"edited input (matrices {edit}): --resume exits {r.returncode}, want 2 (refused)")
    check(len(lines) == 1 and "the input changed since the run stopped" in r.stderr,
          f"edited input: one line saying the input changed ({r.stderr.strip()!r})")
    check(not any(os.path.exists(os.path.join(out, name)) for name in FINAL),
          "edited input: no result under its final name")

    # ---- the content put back (the modification time is new): the same run resumes
    m = np.load(big, mmap_mode="r+")
    m[edit] *= 0.5
    m.flush()
    del m
    r = subprocess.run([exe, "--resume", out], capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, f"input put back: --resume exits {r.returncode}, want 0 "
                             f"({r.stderr.strip()[-300:]!r})")
    same_as_reference(out, "input put back")

    # ---- only touched: resumes, byte-identical
    out = os.path.join(tmp, "touched")
    stopped_run(big, out, "touch")
    later = time.time_ns() + 2_000_000_000
    os.utime(big, ns=(later, later))
    r = subprocess.run([exe, "--resume", out], capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, f"touched input: --resume exits {r.returncode}, want 0 "
                             f"({r.stderr.strip()[-300:]!r})")
    same_as_reference(out, "touched input")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all passed")
