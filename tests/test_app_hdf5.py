#!/usr/bin/python3
"""dusk-eigh --format h5: DIR/results.h5 holds /eigenvalues and /eigenvectors with the same
bits as the .npy outputs of the same run, and the run's parameters as attributes; h5py and
h5dump read it. A run killed with SIGKILL at random moments leaves a results.h5.partial that
h5py opens (rows not done are NaN, the rows the manifest lists are right) and resumes to
datasets identical to an uninterrupted run; a resume takes the format from the manifest and
refuses another; under mpirun -np 1, 2 and 3 the datasets are those of one process; a bad
matrix read from an HDF5 input fails alone. The killed runs are sized from this machine
(tests/runlib.py): about 5 s of work.
Usage: test_app_hdf5.py PATH/TO/dusk-eigh   (exit 77 when dusk was built without HDF5, failed
then under CI, where tools/quickstart.sh test installed libhdf5-dev)"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

import h5py
import numpy as np

import runlib

exe = sys.argv[1]
fails = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)


def run(args, launcher=(), env=None):
    return subprocess.run(list(launcher) + [exe] + args, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, **(env or {})))


def datasets(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in f.keys()}, dict(f.attrs)


def manifest(out):
    return runlib.manifest_fields(os.path.join(out, "manifest.txt"))


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


probe = run(["-n", "4", "--ntasks", "1", "--format", "h5", "--output", "/nonexistent/x"])
if "built without HDF5" in probe.stderr:
    if runlib.under_ci():
        runlib.fail_now("dusk-eigh was built without HDF5 (Debian: libhdf5-dev), and CI is set")
    print("dusk-eigh was built without HDF5: skipped")
    sys.exit(77)

ARGS = ["-n", "40", "--ntasks", "300", "--seed", "7", "--vectors", "-q", "--no-progress"]
with tempfile.TemporaryDirectory() as tmp:
    npy, h5 = os.path.join(tmp, "npy"), os.path.join(tmp, "h5")
    r1, r2 = run(ARGS + ["--output", npy]), run(ARGS + ["--output", h5, "--format", "h5"])
    check(r1.returncode == 0 and r2.returncode == 0, f"both runs exit 0 ({r2.stderr.strip()})")
    sets, attrs = datasets(os.path.join(h5, "results.h5"))
    check(sorted(os.listdir(h5)) == [".dusk.lock", "manifest.txt", "results.h5"],
          f"only results.h5 beside the manifest: {os.listdir(h5)}")
    check(np.array_equal(sets["eigenvalues"], np.load(os.path.join(npy, "eigenvalues.npy"))) and
          np.array_equal(sets["eigenvectors"], np.load(os.path.join(npy, "eigenvectors.npy"))),
          "/eigenvalues and /eigenvectors: the same bits as the .npy files")
    want = {"program": "dusk-eigh", "n": 40, "ntasks": 300, "seed": 7, "values_only": 0,
            "generator": "numpy-legacy-mt19937"}
    check(all(attrs.get(k) == v for k, v in want.items()) and "version" in attrs,
          f"the run's parameters as attributes: {attrs}")
    d = subprocess.run(["h5dump", "-H", os.path.join(h5, "results.h5")], capture_output=True,
                       text=True) if shutil.which("h5dump") else None
    if d is not None:
        check(d.returncode == 0 and "( 300, 40, 40 )" in d.stdout, "h5dump reads it")
    elif runlib.under_ci():
        check(False, "h5dump is missing (Debian: hdf5-tools), and CI is set")
    ref = sets

    # values only: one dataset; the format is in the manifest
    vo = os.path.join(tmp, "vo")
    r = run(["-n", "30", "--ntasks", "20", "--values-only", "-q", "--format", "h5", "--output", vo])
    s, a = datasets(os.path.join(vo, "results.h5"))
    check(r.returncode == 0 and list(s) == ["eigenvalues"] and a.get("values_only") == 1,
          f"--values-only: /eigenvalues alone ({list(s)}, {a.get('values_only')})")
    r = run(["--resume", vo, "-q"])
    check(r.returncode == 0 and "Nothing to do" in r.stdout,
          f"resumed by its directory alone: the manifest names h5 ({r.stdout.strip()!r})")
    r = run(["--resume", vo, "--format", "npy"])
    check(r.returncode == 2 and "h5" in r.stderr, f"a resume in another format refused ({r.stderr.strip()})")
    check(same(datasets(os.path.join(vo, "results.h5"))[0], s), "the finished file, resumed, unchanged")

    # SIGKILL at random moments; every killed file opens; resumed to the same datasets
    def long_args(t):
        return ["-n", "300", "--ntasks", str(t), "--seed", "4", "--vectors", "-q", "--no-progress"]

    T, duration, _ = runlib.sized_reference(
        lambda t: [exe] + long_args(t) + ["--format", "h5"], os.path.join(tmp, "long"), 20,
        40, 5000)
    LONG = long_args(T)
    long_ref, _ = datasets(os.path.join(tmp, "long", "results.h5"))
    rng = random.Random(int(os.environ.get("DUSK_TEST_SEED", "0")) or None)
    mid_run = 0  # kills that came with some rows listed, and not all
    for k in range(5):
        out = os.path.join(tmp, f"kill{k}")
        args, kills = LONG + ["--output", out, "--format", "h5"], 0
        while True:
            p = subprocess.Popen([exe] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if kills < 2:
                # in every other case, the first kill once the run saved some rows
                runlib.wait_to_kill(rng, p, out, duration * 0.9, k % 2 == 0 and kills == 0,
                                    f"kill {k}")
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    kills += 1
            rc = p.wait(timeout=300)
            mid_run += rc == -signal.SIGKILL and runlib.landed_mid_run(out, T)
            partial = os.path.join(out, "results.h5.partial")
            if rc == -signal.SIGKILL and os.path.exists(partial):
                try:
                    s, _ = datasets(partial)
                    m = manifest(out)
                    ids = runlib.manifest_ids(m["ids"])
                    rows_ok = all(np.array_equal(s["eigenvalues"][i], long_ref["eigenvalues"][i]) and
                                  np.array_equal(s["eigenvectors"][i], long_ref["eigenvectors"][i])
                                  for i in ids)
                    # rows never written are NaN, as HDF5 filled them, or results
                    rest = [i for i in range(T) if i not in ids]
                    rows_ok = rows_ok and all(np.isnan(s["eigenvalues"][i]).all() or
                                              np.array_equal(s["eigenvalues"][i], long_ref["eigenvalues"][i])
                                              for i in rest)
                    check(rows_ok, f"kill {k}: h5py opens the killed file; the {len(ids)} rows listed hold their results")
                except OSError as e:
                    check(False, f"kill {k}: h5py cannot open the killed file: {e}")
            # a kill may land after the rename, while the process shuts down: the file under
            # its final name must then be whole, and the manifest (saved first) say so
            final = os.path.join(out, "results.h5")
            if os.path.exists(final):
                m = manifest(out)
                check(m["state"] == "finished" and same(datasets(final)[0], long_ref),
                      f"kill {k}: results.h5 under its final name only when finished ({rc})")
            if rc == 0:
                break
            if rc != -signal.SIGKILL:
                check(False, f"kill {k}: exit {rc}")
                break
            if os.path.exists(os.path.join(out, "manifest.txt")):
                args = ["--resume", out, "-q", "--no-progress"]
        check(same(datasets(os.path.join(out, "results.h5"))[0], long_ref),
              f"kill {k} ({kills} kills) + resume: datasets identical to an uninterrupted run")
        shutil.rmtree(out)  # the sized runs are large on a fast machine
    check(mid_run >= 1, f"kills came while rows were being saved ({mid_run} times)")

    # an HDF5 input (chunked, compressed) with a bad matrix: that one fails alone
    rs = np.random.default_rng(3)
    b = rs.random((50, 20, 20))
    mats = b.transpose(0, 2, 1) @ b
    mats = (mats + mats.transpose(0, 2, 1)) / 2
    mats[17, 1, 2] = np.inf
    src = os.path.join(tmp, "in.h5")
    with h5py.File(src, "w") as f:
        f.create_dataset("/group/mats", data=mats, chunks=(1, 20, 20), compression="gzip", shuffle=True)
    out = os.path.join(tmp, "from_h5")
    r = run(["--input", src + ":/group/mats", "--output", out, "--format", "h5", "-q"])
    s, a = datasets(os.path.join(out, "results.h5"))
    good = [i for i in range(50) if i != 17]
    check(r.returncode == 3 and np.isnan(s["eigenvalues"][17]).all() and
          np.allclose(s["eigenvalues"][good], np.linalg.eigvalsh(mats[good]), rtol=1e-10, atol=1e-12),
          f"HDF5 in and out, a bad matrix failing alone: exit {r.returncode} ({r.stderr.strip()})")
    check(a.get("dataset") == "/group/mats" and a.get("input", "").endswith("in.h5"),
          f"the input file and dataset recorded ({a.get('input')}, {a.get('dataset')})")

    # ranks: each writes its own rows of the one file
    if shutil.which("mpirun"):
        mpirun = ["mpirun", "--oversubscribe"] + (["--allow-run-as-root"] if os.getuid() == 0 else [])
        mpirun += ["-x", "ASAN_OPTIONS", "-x", "STARPU_HOME"]
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"}
        for np_ in (1, 2, 3):
            out = os.path.join(tmp, f"np{np_}")
            r = run(ARGS + ["--output", out, "--format", "h5"], launcher=mpirun + ["-np", str(np_)],
                    env=env)
            if r.returncode != 0 and "without MPI support" in r.stderr:
                print("skip: no StarPU-MPI")
                break
            ok = r.returncode == 0 and same(datasets(os.path.join(out, "results.h5"))[0], ref)
            check(ok, f"mpirun -np {np_}: datasets identical to one process ({r.stderr.strip()[-200:]})")
    else:
        print("skip: no mpirun")

if fails:
    print(f"{len(fails)} failed")
    sys.exit(1)
print("all HDF5 checks passed")
