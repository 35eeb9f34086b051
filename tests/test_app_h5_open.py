#!/usr/bin/python3
"""HDF5 inputs that cannot be read as they are, told apart from damaged files (exit 1):
- a file another program holds open for SWMR writing (h5py, libver="latest", swmr_mode, in a
  child process that waits): refused, saying a program is writing it, without suggesting
  h5clear (which would break the live file); once the writer has closed it, read right;
- a file whose writer stopped without closing it (marked open for writing): refused, with
  h5clear -s named for the case where no program is writing it;
- a dangling soft link (its dataset deleted) and an external link to a missing file, named as
  the dataset: refused as a missing dataset (exit 2, as for a name not in the file), saying
  what the link points to; a soft link to a dataset that is there is followed.
Each refusal is one line on stderr naming the file. Results are checked against NumPy.
Usage: test_app_h5_open.py PATH/TO/dusk-eigh   (exit 77 without h5py or HDF5 in dusk, failed
then under CI)"""
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

T, N = 5, 6
x = np.random.default_rng(7).standard_normal((T, N, N))
mats = x + x.transpose(0, 2, 1)
want = np.linalg.eigvalsh(mats)

# The writer: makes the file, goes into SWMR mode, says "ready", and keeps the file open until
# its stdin closes; with "crash", it leaves without closing the file (as a killed writer does).
WRITER = r"""
import os, sys
import h5py, numpy as np
path, mode = sys.argv[1], sys.argv[2]
mats = np.load(sys.argv[3])
f = h5py.File(path, "w", libver="latest")
f.create_dataset("mats", data=mats, maxshape=(None,) + mats.shape[1:],
                 chunks=(1,) + mats.shape[1:])
if mode == "swmr":
    f.swmr_mode = True
f.flush()
print("ready", flush=True)
if mode == "crash":
    os._exit(0)
sys.stdin.read()
f.close()
"""


def refused(spec, code, words, absent=(), label=None):
    r = run(["-n", str(N), "--ntasks", str(T), "--input", spec])
    lines = r.stderr.strip().splitlines()
    ok = (r.returncode == code and len(lines) == 1 and spec in lines[0] and
          all(w in lines[0] for w in words) and not any(w in lines[0] for w in absent) and
          "HDF5-DIAG" not in r.stderr)
    check(ok, f"{label or spec}: exit {code}, one line with {words} "
          f"({r.returncode}: {r.stderr.strip()})")


def reads(spec, tmp, label):
    out = os.path.join(tmp, "out_" + label)
    r = run(["-n", str(N), "--ntasks", str(T), "--input", spec, "--output", out])
    ok = r.returncode == 0
    if ok:
        got = np.load(os.path.join(out, "eigenvalues.npy"))
        ok = got.shape == want.shape and np.allclose(got, want, rtol=0, atol=1e-12)
    check(ok, f"{label}: read, eigenvalues as NumPy's ({r.returncode}: {r.stderr.strip()})")


with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "mats.npy")
    np.save(src, mats)

    # ---- a live SWMR writer
    live = os.path.join(tmp, "live.h5")
    w = subprocess.Popen([sys.executable, "-c", WRITER, live, "swmr", src],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        check(w.stdout.readline().strip() == "ready", "the SWMR writer has the file open")
        refused(live, 2, ["another program is writing it"], absent=["h5clear", "corrupt"],
                label="a file open for SWMR writing")
    finally:
        w.stdin.close()
        w.wait(timeout=60)
    check(w.returncode == 0, "the SWMR writer closed the file")
    reads(live, tmp, "the same file once its writer closed it")

    # ---- a writer that stopped without closing the file
    crashed = os.path.join(tmp, "crashed.h5")
    w = subprocess.run([sys.executable, "-c", WRITER, crashed, "crash", src],
                       capture_output=True, text=True, timeout=60)
    check(w.stdout.strip() == "ready", "the writer left without closing its file")
    refused(crashed, 2, ["marked open for writing", "h5clear -s"], absent=["corrupt"],
            label="a file left marked open for writing")

    # ---- links
    links = os.path.join(tmp, "links.h5")
    with h5py.File(links, "w") as f:
        f["mats"] = mats
        f["alias"] = h5py.SoftLink("/mats")
        f["gone"] = h5py.SoftLink("/deleted")
        f["g/gone"] = h5py.SoftLink("/g/renamed")
        f["ext"] = h5py.ExternalLink(os.path.join(tmp, "missing.h5"), "/mats")
    reads(links + ":/alias", tmp, "a soft link to the dataset")
    refused(links + ":/gone", 2, ["soft link to /deleted", "not in the file"],
            absent=["corrupt"])
    refused(links + ":g/gone", 2, ["soft link to /g/renamed", "not in the file"],
            absent=["corrupt"])
    refused(links + ":/ext", 2, ["external link to", "missing.h5"], absent=["corrupt"])
    refused(links + ":/nope", 2, ["no such dataset"])

if fails:
    print(f"{len(fails)} check(s) failed")
    sys.exit(1)
print("all checks passed")
