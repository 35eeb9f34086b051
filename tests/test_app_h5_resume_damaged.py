#!/usr/bin/python3
"""A resume checks the HDF5 results file it goes on writing (--format h5), as it checks .npy
.partial files by their size: a results.h5 whose dataset has another shape or type, or that
was cut short, is refused (exit 2, one line naming the file and what is wrong) and left as it
is; the undamaged file resumes, and its eigenvalues are NumPy's.
Usage: test_app_h5_resume_damaged.py PATH/TO/dusk-eigh   (exit 77 without h5py or HDF5 in
dusk, failed then under CI)"""
import os
import shutil
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
N, T = 8, 6


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        fails.append(what)


def run(args, env=None):
    return subprocess.run([exe] + args, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **(env or {})))


probe = run(["-n", "4", "--ntasks", "1", "--format", "h5", "--output", "/nonexistent/x"])
if "built without HDF5" in probe.stderr:
    if runlib.under_ci():
        runlib.fail_now("dusk-eigh was built without HDF5 (Debian: libhdf5-dev), and CI is set")
    print("dusk-eigh was built without HDF5: skipped")
    sys.exit(77)

want = []
for i in range(T):
    np.random.seed(i)
    b = np.random.rand(N, N)
    want.append(np.linalg.eigvalsh(b.T @ b))
want = np.array(want)


def reshape(f):
    a = f["eigenvalues"][: T - 1]
    del f["eigenvalues"]
    f["eigenvalues"] = a


def retype(f):
    a = f["eigenvalues"][:].astype("<f4")
    del f["eigenvalues"]
    f["eigenvalues"] = a


with tempfile.TemporaryDirectory() as tmp:
    good = os.path.join(tmp, "good")
    r = run(["-n", str(N), "--ntasks", str(T), "--format", "h5", "--output", good],
            env={"DUSK_FAIL_TASKS": "eigh-2"})
    h5 = os.path.join(good, "results.h5")
    check(r.returncode == 3 and os.path.exists(h5), f"a run with a failed task ({r.returncode})")
    cases = [("another shape", reshape, "has shape (5, 8), not (6, 8)"),
             ("float32", retype, "not float64"),
             ("cut short", None, "truncated")]
    for label, damage, words in cases:
        d = os.path.join(tmp, label.replace(" ", "_"))
        shutil.copytree(good, d)
        path = os.path.join(d, "results.h5")
        if damage is None:
            os.truncate(path, os.path.getsize(path) // 2)
        else:
            with h5py.File(path, "a") as f:
                damage(f)
        before = open(path, "rb").read()
        r = run(["--resume", d])
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 2 and len(lines) == 1 and path in lines[0] and words in lines[0]
              and open(path, "rb").read() == before,
              f"a results.h5 {label}: refused, one line with '{words}', left as it was "
              f"({r.returncode}: {r.stderr.strip()})")
    r = run(["--resume", good])
    ok = r.returncode == 0
    if ok:
        with h5py.File(h5, "r") as f:
            got = f["eigenvalues"][:]
        ok = got.shape == want.shape and np.allclose(got, want, rtol=1e-10, atol=1e-10)
    check(ok, f"the undamaged file resumes to NumPy's eigenvalues ({r.returncode}: "
          f"{r.stderr.strip()})")

if fails:
    print(f"{len(fails)} check(s) failed")
    sys.exit(1)
print("all checks passed")
