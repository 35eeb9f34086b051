#!/usr/bin/python3
"""dusk-eigh end to end, checked against NumPy (an independent implementation):
- generated batches give NumPy's matrices: eigenvalues equal numpy.linalg.eigh's of
  np.random.seed(s + i); b = np.random.rand(n, n); a = b.T @ b, and eigenvectors satisfy
  a v = v w with v orthonormal;
- the outputs are standard .npy files, of the documented shapes and order;
- the same seed gives byte-identical results with 1 and 2 workers;
- --input reads (T, n, n) and (n, n) files in C and Fortran order;
- --rng philox gives the matrices of Philox4x32-10 as written out here again in Python;
- bad input files are refused with one line and exit 1, leaving no output file behind;
  a bad matrix inside a good file fails alone (exit 3, NaN row, failures.json).
Usage: test_app_numpy.py PATH/TO/dusk-eigh   (exits 77 when NumPy is missing; fails then
under CI)"""
import json
import os
import subprocess
import sys
import tempfile

import runlib

try:
    import numpy as np
except ImportError:
    runlib.missing("NumPy", "python3-numpy")

APP = sys.argv[1]
failures = []


def run(args, env_extra=None, cwd=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([APP, "--no-progress"] + args, capture_output=True, text=True,
                          env=env, timeout=300, cwd=cwd)


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def numpy_batch(n, t, seed):
    for i in range(t):
        np.random.seed(seed + i)
        b = np.random.rand(n, n)
        yield b.T @ b


M32 = 0xFFFFFFFF


def philox4x32_10(ctr, key):
    """Philox4x32-10 (Salmon et al. 2011), written from the paper for this test."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32)
    return c0, c1, c2, c3


def philox_rand(seed, count):
    out = []
    for j in range((count + 1) // 2):
        x = philox4x32_10((j & M32, j >> 32, 0, 0), (seed & M32, seed >> 32))
        out += [((x[0] >> 5) * 67108864 + (x[1] >> 6)) / 9007199254740992.0,
                ((x[2] >> 5) * 67108864 + (x[3] >> 6)) / 9007199254740992.0]
    return np.array(out[:count])


def check_decomposition(a, w, v, label):
    ew = np.linalg.eigh(a)[0]
    scale = np.abs(ew).max()
    check(np.all(np.diff(w) >= 0), f"{label}: eigenvalues ascending")
    check(np.abs(w - ew).max() <= 1e-12 * scale, f"{label}: eigenvalues equal NumPy's "
          f"(max diff {np.abs(w - ew).max() / scale:.1e} relative)")
    if v is not None:
        res = np.linalg.norm(a @ v - v * w) / (len(w) * np.linalg.norm(a))
        orth = np.linalg.norm(v.T @ v - np.eye(len(w)))
        check(res < 1e-13 and orth < 1e-11,
              f"{label}: a v = v w (residual {res:.1e}), vᵀv = I ({orth:.1e})")


with tempfile.TemporaryDirectory() as tmp:
    # ---- generated batch, with vectors, 2 workers
    n, t, seed = 64, 6, 11
    out2 = os.path.join(tmp, "w2")
    r = run(["-n", str(n), "--ntasks", str(t), "--seed", str(seed), "--output", out2,
             "--vectors", "--verify"], {"STARPU_NCPU": "2"})
    check(r.returncode == 0, f"generated batch exits 0 ({r.returncode}: {r.stderr.strip()})")
    check(f"Processed {t} tasks in " in r.stdout, "summary line printed")
    check(f"Verified: all {t} tasks passed" in r.stdout, "verification passed")
    w = np.load(os.path.join(out2, "eigenvalues.npy"))
    v = np.load(os.path.join(out2, "eigenvectors.npy"))
    check(w.dtype == np.float64 and w.shape == (t, n) and w.flags.c_contiguous,
          f"eigenvalues.npy is float64 {w.shape}")
    check(v.dtype == np.float64 and v.shape == (t, n, n), f"eigenvectors.npy is float64 {v.shape}")
    for i, a in enumerate(numpy_batch(n, t, seed)):
        check_decomposition(a, w[i], v[i], f"task {i}")
    check(not any(f.endswith(".partial") for f in os.listdir(out2)), "no .partial file left")

    # ---- 1 worker: byte-identical outputs
    out1 = os.path.join(tmp, "w1")
    r = run(["-n", str(n), "--ntasks", str(t), "--seed", str(seed), "--output", out1,
             "--vectors"], {"STARPU_NCPU": "1"})
    check(r.returncode == 0, "1-worker batch exits 0")
    for f in ("eigenvalues.npy", "eigenvectors.npy"):
        same = open(os.path.join(out1, f), "rb").read() == open(os.path.join(out2, f), "rb").read()
        check(same, f"{f} byte-identical with 1 and 2 workers")

    # ---- values only, and another scheduler
    out3 = os.path.join(tmp, "vo")
    r = run(["-n", "50", "--ntasks", "3", "--values-only", "--verify", "--output", out3,
             "--sched", "eager"])
    check(r.returncode == 0 and "Verified: all 3 tasks passed" in r.stdout,
          "--values-only --verify with eager")
    w = np.load(os.path.join(out3, "eigenvalues.npy"))
    check(not os.path.exists(os.path.join(out3, "eigenvectors.npy")), "no eigenvectors.npy")
    for i, a in enumerate(numpy_batch(50, 3, 0)):
        check_decomposition(a, w[i], None, f"values-only task {i}")

    # ---- --rng philox: the matrices of the generator written out above
    assert philox4x32_10((0, 0, 0, 0), (0, 0)) == (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)
    n, t, seed = 21, 3, 7
    outp = os.path.join(tmp, "philox")
    r = run(["-n", str(n), "--ntasks", str(t), "--seed", str(seed), "--rng", "philox",
             "--output", outp, "--vectors", "--verify"])
    check(r.returncode == 0 and "rng=philox" in r.stdout,
          f"--rng philox exits 0 ({r.returncode}: {r.stderr.strip()})")
    w = np.load(os.path.join(outp, "eigenvalues.npy"))
    v = np.load(os.path.join(outp, "eigenvectors.npy"))
    for i in range(t):
        b = philox_rand(seed + i, n * n).reshape(n, n)
        check_decomposition(b.T @ b, w[i], v[i], f"philox task {i}")
    r = run(["--rng", "philox", "--input", os.path.join(tmp, "none.npy")])
    check(r.returncode == 2 and "--rng" in r.stderr, "--rng with --input refused")

    # ---- --input: C order 3-d, Fortran order 3-d, 2-d
    rng = np.random.default_rng(5)
    mats = []
    for k in range(4):
        m = rng.standard_normal((40, 40))
        mats.append(m + m.T)
    stack = np.array(mats)
    for label, arr in (("C-order (T, n, n)", stack),
                       ("Fortran-order (T, n, n)", np.asfortranarray(stack)),
                       ("Fortran-order (n, n)", np.asfortranarray(stack[1])),
                       ("C-order (n, n)", stack[2])):
        path = os.path.join(tmp, "in.npy")
        np.save(path, arr)
        out = os.path.join(tmp, "in_out")
        r = run(["--input", path, "--output", out, "--vectors", "--verify"])
        check(r.returncode == 0, f"--input {label} exits 0 ({r.stderr.strip()})")
        w = np.load(os.path.join(out, "eigenvalues.npy"))
        v = np.load(os.path.join(out, "eigenvectors.npy"))
        batch = arr.reshape((-1, 40, 40))
        check(w.shape == (batch.shape[0], 40), f"--input {label}: shape {w.shape}")
        for i in range(batch.shape[0]):
            check_decomposition(np.ascontiguousarray(batch[i]), w[i], v[i], f"--input {label} {i}")

    # ---- float32 and big-endian inputs (issue 17): read as NumPy's astype('<f8') makes
    # them, so the results are byte-identical to a run on that float64 file
    def converted_run(label, arr):
        path = os.path.join(tmp, label + ".npy")
        np.save(path, arr)
        out = os.path.join(tmp, label + "_out")
        r = run(["--input", path, "--output", out, "--vectors", "-v"])
        return r, out

    r, wide_out = converted_run("wide", np.asfortranarray(stack.astype("<f4").astype("<f8")))
    check(r.returncode == 0, f"--input float32 values as float64: exit 0 ({r.stderr.strip()})")
    for dtype in ("<f4", ">f4", ">f8"):
        arr = stack.astype(dtype)
        label = "conv_" + dtype.replace("<", "le").replace(">", "be")
        r, out = converted_run(label, np.asfortranarray(arr) if dtype == ">f4" else arr)
        check(r.returncode == 0, f"--input {dtype}: exit 0 ({r.stderr.strip()})")
        said = ("widened to float64" if dtype[2] == "4" else "") + \
               ("big-endian" if dtype[0] == ">" else "")
        check(all(w in r.stderr for w in ("widened to float64", "big-endian") if w in said) and
              label + ".npy: " in r.stderr, f"--input {dtype}: -v says what is converted")
        if r.returncode != 0:
            continue
        w = np.load(os.path.join(out, "eigenvalues.npy"))
        v = np.load(os.path.join(out, "eigenvectors.npy"))
        wide = arr.astype("<f8")
        for i in range(wide.shape[0]):
            check_decomposition(wide[i], w[i], v[i], f"--input {dtype} {i}")
        if dtype[2] == "4":
            same = all(open(os.path.join(out, f), "rb").read() ==
                       open(os.path.join(wide_out, f), "rb").read()
                       for f in ("eigenvalues.npy", "eigenvectors.npy"))
            check(same, f"--input {dtype}: byte-identical to the run on astype('<f8')")

    # ---- HDF5 inputs (issue 14): the same results as the .npy file of the same values
    try:
        import h5py
    except ImportError:
        h5py = None
    if h5py is None:
        print("h5py is missing: HDF5 inputs not checked")
    else:
        h5 = os.path.join(tmp, "mats.h5")
        with h5py.File(h5, "w") as f:
            f.create_dataset("group/mats", data=stack.astype("<f4"), chunks=(1, 40, 40),
                             compression="gzip", shuffle=True)
        r = run(["--input", h5])
        without = "built without HDF5" in r.stderr
        if without:
            check(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1,
                  f"a dusk-eigh built without HDF5 says so ({r.stderr.strip()})")
        for spec in [] if without else [h5, h5 + ":/group/mats", h5 + ":group/mats"]:
            out = os.path.join(tmp, "h5_out")
            r = run(["--input", spec, "--output", out, "--vectors", "-v"])
            same = r.returncode == 0 and all(
                open(os.path.join(out, f), "rb").read() ==
                open(os.path.join(wide_out, f), "rb").read()
                for f in ("eigenvalues.npy", "eigenvectors.npy"))
            check(same and "float32 widened to float64" in r.stderr,
                  f"--input {spec}: byte-identical to the .npy run ({r.stderr.strip()})")
        with h5py.File(h5, "a") as f:
            f["other"] = stack[:2]
            f["ints"] = np.zeros((3, 3), dtype=np.int64)
        h5_refusals = [(h5, 2, "name one"), (h5 + ":/nope", 2, "no such dataset"),
                       (h5 + ":/group", 2, "is a group"), (h5 + ":/ints", 1, "holds int64"),
                       (os.path.join(tmp, "missing.h5") + ":/m", 2, "No such file")]
        for spec, code, words in [] if without else h5_refusals:
            r = run(["--input", spec])
            lines = r.stderr.strip().splitlines()
            check(r.returncode == code and len(lines) == 1 and words in lines[0] and
                  "HDF5-DIAG" not in r.stderr, f"--input {spec}: exit {code}, one line "
                  f"with '{words}' ({r.returncode}: {r.stderr.strip()})")

    # ---- refusals: one line naming the file, exit 1, no output left behind
    def refused(label, arr_or_bytes, words, code=1):
        path = os.path.join(tmp, "bad.npy")
        if isinstance(arr_or_bytes, bytes):
            open(path, "wb").write(arr_or_bytes)
        else:
            np.save(path, arr_or_bytes)
        out = os.path.join(tmp, "bad_out_" + label.replace(" ", "_"))
        r = run(["--input", path, "--output", out])
        lines = r.stderr.strip().splitlines()
        ok = (r.returncode == code and len(lines) == 1 and path in lines[0] and
              words in lines[0] and "Processed" not in r.stdout)
        left = os.listdir(out) if os.path.isdir(out) else []
        check(ok and not left, f"refused {label}: exit {r.returncode}, {lines}, left {left}")

    refused("int64", np.zeros((3, 3), dtype=np.int64), "'<i8'")
    refused("float16", stack[0].astype(np.float16), "'<f2'")
    refused("rank 1", np.zeros(5), "has 1 dimension (")
    refused("rank 4", np.zeros((2, 2, 3, 3)), "4 dimensions")
    refused("non-square", np.zeros((2, 3, 4)), "non-square")
    # ---- bad matrices inside a good file: that task fails, the others complete (exit 3)
    def one_bad(label, arr, bad, words):
        path = os.path.join(tmp, "one_bad.npy")
        np.save(path, arr)
        out = os.path.join(tmp, "one_bad_" + label.replace(" ", "_"))
        r = run(["--input", path, "--output", out, "--vectors"])
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 3 and len(lines) == 1 and words in lines[0] and
              "1 FAILED" in r.stdout, f"{label}: exit {r.returncode}, {lines}, {r.stdout!r}")
        w = np.load(os.path.join(out, "eigenvalues.npy"))
        v = np.load(os.path.join(out, "eigenvectors.npy"))
        check(np.isnan(w[bad]).all() and np.isnan(v[bad]).all(), f"{label}: failed row is NaN")
        for i in range(arr.shape[0]):
            if i != bad:
                check_decomposition(arr[i], w[i], v[i], f"{label}: good task {i}")
        with open(os.path.join(out, "failures.json")) as f:
            fails = json.load(f)["failures"]
        check(len(fails) == 1 and fails[0]["task"] == bad and fails[0]["step"] == "load" and
              words in fails[0]["reason"], f"{label}: failures.json {fails}")

    asym = stack.copy()
    asym[2, 3, 5] += 1.0
    one_bad("not symmetric", asym, 2, "matrix 2 is not symmetric")
    nan = stack.copy()
    nan[1, 0, 0] = np.nan
    one_bad("NaN", nan, 1, "non-finite")
    good = os.path.join(tmp, "good.npy")
    np.save(good, stack)
    raw = open(good, "rb").read()
    refused("truncated", raw[:-100], "truncated")
    refused("bad header", b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8',\n", "")
    refused("not npy", b"hello world, not an array", "")
    # T = 0: an empty batch gives empty results, as numpy.linalg.eigh does
    empty = os.path.join(tmp, "empty.npy")
    np.save(empty, np.zeros((0, 5, 5)))
    out = os.path.join(tmp, "empty_out")
    r = run(["--input", empty, "--output", out, "--vectors", "-q"])
    ok = r.returncode == 0 and os.path.exists(os.path.join(out, "eigenvalues.npy"))
    if ok:
        w, v = np.load(os.path.join(out, "eigenvalues.npy")), np.load(os.path.join(out, "eigenvectors.npy"))
        ok = w.shape == (0, 5) and v.shape == (0, 5, 5)
    check(ok, f"an input of 0 matrices: exit {r.returncode}, empty results ({r.stdout.strip()!r} {r.stderr.strip()!r})")
    refused("no size", np.zeros((3, 0, 0)), "holds matrices of no size")
    r = run(["--seed", "3", "--input", good])
    check(r.returncode == 2 and "--seed" in r.stderr, "--seed with --input refused")

    # ---- a resume reaches the input by another name (the path is not part of the run)
    out = os.path.join(tmp, "one_bad_not_symmetric")
    np.save(os.path.join(tmp, "one_bad.npy"), stack)  # the bad matrix, mended: now all good
    os.utime(os.path.join(tmp, "one_bad.npy"), ns=(0, 10**18))
    r = run(["--input", "one_bad.npy", "--output", out, "--vectors"], cwd=tmp)
    check(r.returncode == 0, f"a fresh run on the mended input: exit 0 ({r.stderr.strip()})")
    r = run(["--input", "./one_bad.npy", "--resume", out, "--vectors"], cwd=tmp)
    check(r.returncode == 0 and "Nothing to do" in r.stdout,
          f"--resume with the input spelled otherwise: exit 0, nothing to do "
          f"({r.returncode}: {r.stderr.strip()} {r.stdout.strip()})")
    # another file of the same size and time (issue 17: it was taken, and rows mixed): its
    # content differs, so its fingerprint does
    other = os.path.join(tmp, "other.npy")
    np.save(other, stack[::-1].copy())
    st = os.stat(os.path.join(tmp, "one_bad.npy"))
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    check(os.path.getsize(other) == st.st_size, "the other input has the same size")
    r = run(["--input", other, "--resume", out, "--vectors"])
    check(r.returncode == 2 and "Nothing to do" not in r.stdout,
          f"--resume with another file of the same size and time: refused, exit 2 "
          f"({r.returncode}: {r.stderr.strip()})")

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("all passed")
