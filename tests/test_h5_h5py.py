#!/usr/bin/python3
"""HDF5 result files (runtime/src/io/h5.h) read by h5py and h5dump, and killed mid-write.

test_h5_output's writer makes DIR/results.h5.partial with /eigenvalues (T, n) and
/eigenvectors (T, n, n), then writes every row with pwrite() from several threads, logging
each row once written. Checked here:
- h5py reads the datasets bit for bit as NumPy computes the rows, float64, contiguous, with
  the run's attributes (strings as str, integers as int64); h5dump reads the whole file;
- SIGKILL of the writer at random moments (while it makes the file, or writes rows): whenever
  the file exists under its name, h5py opens it, every row the log lists is whole, every
  other value is NaN or its own value (a row cut mid-write), the attributes are intact; and
  the writer's resume (dusk__h5_check, then the rows not logged) ends with datasets
  identical to an uninterrupted run's.
Usage: test_h5_h5py.py PATH/TO/test_h5_output   (exits 77 without NumPy or h5py; fails then
under CI, as without h5dump)"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import runlib

try:
    import h5py
    import numpy as np
except ImportError as e:
    runlib.missing(e.name, {"numpy": "python3-numpy"}.get(e.name, "python3-h5py"))

WRITER = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def expected(t, n):
    i = np.arange(t, dtype=np.int64)[:, None]
    j = np.arange(n, dtype=np.int64)[None, :]
    w = (i * 1000003 + j).astype(np.float64) / 7.0
    k = np.arange(n, dtype=np.int64)[None, None, :]
    v = -(i[:, :, None] * 1000003 + j[:, :, None] * n + k).astype(np.float64) / 13.0
    return w, v


ATTRS = {"program": "dusk-eigh", "input": "mats.h5", "dataset": "/group/mats",
         "note": "ünïcode and spaces: ok", "values_only": 0, "negative": -123456789012}


def check_attrs(f, t, n, label):
    a = dict(f.attrs)
    want = dict(ATTRS, n=n, ntasks=t)
    ok = all(k in a and a[k] == v and type(a[k]) is (str if isinstance(v, str) else np.int64)
             for k, v in want.items()) and isinstance(a.get("version"), str)
    check(ok, f"{label}: attributes {sorted(a)} hold the run's values, as str and int64")


def read(path):
    with h5py.File(path, "r") as f:
        return f["eigenvalues"][()], f["eigenvectors"][()]


def bits_equal(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


with tempfile.TemporaryDirectory() as tmp:
    # ---- a whole run: h5py and h5dump read it ----------------------------------------------
    t, n = 60, 7
    path = os.path.join(tmp, "results.h5.partial")
    log = os.path.join(tmp, "log")
    r = subprocess.run([WRITER, "write", path, str(t), str(n), "4", log], capture_output=True,
                       text=True, timeout=120)
    check(r.returncode == 0 and r.stderr == "", f"writer exits 0, quietly ({r.stderr.strip()})")
    w_want, v_want = expected(t, n)
    with h5py.File(path, "r") as f:
        check(sorted(f.keys()) == ["eigenvalues", "eigenvectors"], f"datasets {sorted(f.keys())}")
        for name, want in (("eigenvalues", w_want), ("eigenvectors", v_want)):
            d = f[name]
            layout = d.id.get_create_plist().get_layout()
            check(d.dtype == np.dtype("<f8") and d.shape == want.shape and
                  layout == h5py.h5d.CONTIGUOUS and d.chunks is None and d.compression is None,
                  f"/{name}: float64 {d.shape}, contiguous")
            check(bits_equal(d[()], want), f"/{name}: bit for bit NumPy's values")
            offset = d.id.get_offset()
            with open(path, "rb") as raw:
                raw.seek(offset)
                check(raw.read(want.nbytes) == want.tobytes(),
                      f"/{name}: the raw bytes at its offset ({offset}) are the rows")
        check_attrs(f, t, n, "whole run")
    dump = shutil.which("h5dump")
    if dump is None and runlib.under_ci():
        check(False, "h5dump is missing (Debian: hdf5-tools), and CI is set")
    elif dump is None:
        print("h5dump is missing (hdf5-tools): not checked")
    else:
        r = subprocess.run([dump, path], capture_output=True, text=True, timeout=120)
        out = r.stdout
        check(r.returncode == 0 and 'DATASET "eigenvalues"' in out and
              'DATASET "eigenvectors"' in out and 'ATTRIBUTE "program"' in out and
              '"dusk-eigh"' in out and "H5T_IEEE_F64LE" in out and
              "( %d, %d, %d )" % (t, n, n) in out,
              f"h5dump reads the whole file (exit {r.returncode}, {len(out)} bytes)")
        r = subprocess.run([dump, "-d", "/eigenvalues", "-s", "3,0", "-c", "1,2", "-m", "%.17g",
                            path], capture_output=True, text=True, timeout=60)
        got = [float(line.split(":")[1].strip(" ,")) for line in r.stdout.splitlines()
               if line.strip().startswith("(3,")]
        check(r.returncode == 0 and got == [w_want[3, 0], w_want[3, 1]],
              f"h5dump reads /eigenvalues[3, 0:2] as NumPy's values ({got})")

    # ---- SIGKILL at random moments -------------------------------------------------------
    t, n, delay_us = 240, 24, 1500  # 4 threads: about 0.1 s of rows after the file is made
    w_want, v_want = expected(t, n)
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    print(f"kill moments drawn with seed {seed}")
    trials, mid_write, during_create = 24, 0, 0
    for trial in range(trials):
        d = os.path.join(tmp, f"kill{trial}")
        os.mkdir(d)
        path = os.path.join(d, "results.h5.partial")
        log = os.path.join(d, "log")
        p = subprocess.Popen([WRITER, "write", path, str(t), str(n), "4", str(delay_us), log],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if trial % 3 == 0:
            time.sleep(rng.uniform(0, 0.03))  # from its start: often while making the file
        else:
            p.stdout.readline()  # "created ...": then somewhere among the rows
            time.sleep(rng.uniform(0, 0.12))
        p.send_signal(signal.SIGKILL)
        _, err = p.communicate(timeout=60)
        label = f"kill {trial}"
        if p.returncode != -signal.SIGKILL:
            check(p.returncode == 0 and err == "", f"{label}: finished before the kill")
        if not os.path.exists(path):
            # killed while making it: only results.h5.partial.tmp may be there, never a
            # half-made file under the name
            left = sorted(os.listdir(d))
            check(set(left) <= {"results.h5.partial.tmp"}, f"{label}: no file yet ({left})")
            during_create += 1
            continue
        done = set()
        if os.path.exists(log):
            done = {int(x) for x in open(log).read().split()}
        try:
            with h5py.File(path, "r") as f:
                w, v = f["eigenvalues"][()], f["eigenvectors"][()]
                check_attrs(f, t, n, label)
        except Exception as e:  # h5py must open every killed file
            check(False, f"{label}: h5py opens the killed file ({e})")
            continue
        rows = sorted(done)
        whole = all(bits_equal(w[i], w_want[i]) and bits_equal(v[i], v_want[i]) for i in rows)
        others = [i for i in range(t) if i not in done]
        nan_or_own = all(
            np.all(np.isnan(w[i]) | (w[i] == w_want[i])) and
            np.all(np.isnan(v[i]) | (v[i] == v_want[i])) for i in others)
        unwritten = sum(bool(np.isnan(w[i]).all() and np.isnan(v[i]).all()) for i in others)
        check(whole and nan_or_own,
              f"{label}: {len(rows)} rows logged are whole, the other {len(others)} NaN "
              f"({unwritten}) or their own values")
        if 0 < len(rows) < t:
            mid_write += 1
        r = subprocess.run([WRITER, "resume", path, str(t), str(n), "3", log],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0 and r.stderr == "", f"{label}: resumed ({r.stderr.strip()})")
        w, v = read(path)
        check(bits_equal(w, w_want) and bits_equal(v, v_want),
              f"{label}: after the resume, identical to an uninterrupted run")
    print(f"{mid_write} of {trials} kills came among the rows, {during_create} while making "
          f"the file")
    check(mid_write >= trials // 3, f"at least {trials // 3} kills came among the rows")

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("all passed")
