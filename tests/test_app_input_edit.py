#!/usr/bin/python3
"""A resume never combines the results of two inputs: dusk-eigh --input big.npy stopped by
SIGINT with tasks left, then big.npy edited in place (two matrices, one done and one not, both
outside the blocks the input's fingerprint samples): --resume is refused with one line, exit
2. The same input with its content put back (its modification time changed), or a stopped run
whose input was only touched, resumes, and ends byte-identical to an uninterrupted run. Under
mpirun -np 2 (where mpirun and StarPU-MPI are there), stopped by SIGTERM on both ranks: the
ranks' checks add up (an edit of a matrix rank 1 did is refused; put back, the run resumes as
one process, byte-identical).
The run is sized from this machine (tests/runlib.py), at least 2000 matrices of 60 x 60; the
signal comes once its manifest shows it under way.
Usage: test_app_input_edit.py PATH/TO/dusk-eigh"""
import hashlib
import os
import shutil
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


def digest(path):
    """The file's SHA-256 (the results are large: compared by digest, and removed once
    checked)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_ids(out):
    fields = runlib.manifest_fields(os.path.join(out, "manifest.txt"))
    return runlib.manifest_ids(fields.get("ids", ""))


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


def edit_matrices(big, which, factor):
    m = np.load(big, mmap_mode="r+")
    m[which] *= factor  # still symmetric; 2 then 0.5 puts the bytes back exactly
    m.flush()
    del m


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
    def write_input(path, t):
        rng = np.random.default_rng(24)
        a = np.lib.format.open_memmap(path, mode="w+", dtype="<f8", shape=(t, N, N))
        for lo in range(0, t, 1000):
            x = rng.standard_normal((min(1000, t - lo), N, N))
            a[lo:lo + len(x)] = x + x.transpose(0, 2, 1)
        a.flush()
        del a

    # T: about 1.5 x SECONDS of work here, from the rate of a run of the same kind (read from a
    # file: faster than generating), grown until it computes for half a second
    big = os.path.join(tmp, "big.npy")
    t = runlib.scaled(1000)
    for k in range(6):
        write_input(big, t)
        sized = os.path.join(tmp, "sizing")
        secs, r = runlib.timed([exe, "--input", big, "--output", sized, "--vectors",
                                "--no-progress"])
        shutil.rmtree(sized, ignore_errors=True)
        if r.returncode != 0:
            runlib.fail_now(f"the sizing run exits {r.returncode}: {r.stderr.strip()[-300:]}")
        if secs >= 0.5:
            break
        t *= 2
    T = max(2000, min(40000, int(t / max(secs, 1e-3) * runlib.SECONDS * 1.5)))
    print(f"sized: {T} matrices ({t} computed in {secs:.2f} s here)", flush=True)
    write_input(big, T)
    size = os.path.getsize(big)
    header = size - T * N * N * 8
    print(f"big.npy: {T} x {N} x {N}, {size / 1e6:.1f} MB", flush=True)

    ref = os.path.join(tmp, "ref")
    r = subprocess.run([exe, "--input", big, "--output", ref] + OPTS, capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        runlib.fail_now(f"the uninterrupted run exits {r.returncode}: {r.stderr.strip()[-300:]}")
    reference = {name: digest(os.path.join(ref, name)) for name in FINAL}
    shutil.rmtree(ref)

    def same_as_reference(out, label):
        for name in FINAL:
            path = os.path.join(out, name)
            check(os.path.exists(path) and digest(path) == reference[name],
                  f"{label}: {name} is byte-identical to the uninterrupted run's")
        shutil.rmtree(out)

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
    edit_matrices(big, edit, 2.0)
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
    edit_matrices(big, edit, 0.5)
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

    # ---- two ranks: each rank's check, merged into rank 0's manifest
    # one CPU worker per rank: the two ranks compute at about the rate the run was sized at
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0",
               STARPU_SILENT="1", STARPU_NCPU="1")
    mpirun = ["mpirun", "--oversubscribe", "-x", "ASAN_OPTIONS", "-x", "UBSAN_OPTIONS",
              "-x", "STARPU_HOME", "-x", "STARPU_SILENT", "-x", "STARPU_NCPU"]
    if os.geteuid() == 0:
        mpirun.append("--allow-run-as-root")
    probe = None
    if shutil.which("mpirun"):
        probe = subprocess.run(mpirun + ["-np", "1", exe, "-n", "4", "--ntasks", "1", "-q",
                                         "--output", os.path.join(tmp, "probe")],
                               capture_output=True, text=True, timeout=300, env=env)
    if probe is None or "without MPI support" in probe.stderr:
        print("mpirun or StarPU-MPI missing: the two-rank case is skipped", flush=True)
    else:
        out = os.path.join(tmp, "ranks")
        p = subprocess.Popen(mpirun + ["-np", "2", exe, "--input", big, "--output", out] + OPTS,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        runlib.wait_under_way(p, out, "two ranks", ranks=2)
        ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
        for pid in [int(x) for x in ranks.stdout.split()]:
            os.kill(pid, signal.SIGTERM)
        p.communicate(timeout=300)
        done = manifest_ids(out)
        by_rank1 = [i for i in free if i in done and i % 2 == 1]  # cyclic: rank 1 has odd ids
        if not by_rank1 or len(done) == T:
            check(False, f"two ranks: stopped with rank 1's tasks done and some left "
                         f"({len(done)} of {T} done)")
        else:
            edit = [by_rank1[len(by_rank1) // 2]]
            edit_matrices(big, edit, 2.0)
            r = subprocess.run([exe, "--resume", out], capture_output=True, text=True,
                               timeout=600)
            check(r.returncode == 2 and "the input changed since the run stopped" in r.stderr,
                  f"two ranks, a matrix rank 1 did edited: --resume exits {r.returncode}, want "
                  f"2 ({r.stderr.strip()[-300:]!r})")
            edit_matrices(big, edit, 0.5)
            r = subprocess.run([exe, "--resume", out], capture_output=True, text=True,
                               timeout=600)
            check(r.returncode == 0, f"two ranks, put back: --resume as one process exits "
                                     f"{r.returncode}, want 0 ({r.stderr.strip()[-300:]!r})")
            same_as_reference(out, "two ranks, put back")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all passed")
