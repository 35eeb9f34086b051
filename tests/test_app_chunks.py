#!/usr/bin/python3
"""Several matrices per task (--chunk K|auto): the outputs are byte-identical whatever K, for
generated matrices and for --input; a bad matrix in the middle of a chunk fails alone (its
row NaN, failures.json naming it, the rest of the chunk saved); a chunked run killed with
SIGKILL at random moments resumes to byte-identical files; under mpirun -np 2 and 3 the
chunked outputs are those of one process; auto keeps one matrix per task where one is
enough work (n = 1000) and grows the chunks where it is not (n = 10). The killed runs are
sized from this machine (tests/runlib.py): about 5 s of work.
Usage: test_app_chunks.py PATH/TO/dusk-eigh"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np

import runlib

exe = sys.argv[1]
fails = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)


def run(args, env=None, timeout=300, launcher=()):
    return subprocess.run(list(launcher) + [exe] + args, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


def outputs(d):
    return {f: open(os.path.join(d, f), "rb").read()
            for f in ("eigenvalues.npy", "eigenvectors.npy") if os.path.exists(os.path.join(d, f))}


def largest_chunk(stderr):
    m = re.search(r"largest chunk (\d+) ", stderr)
    return int(m.group(1)) if m else -1


with tempfile.TemporaryDirectory() as tmp:
    # ---- the same bytes for --chunk 1, 7 and auto: generated, and from a file
    gen = ["-n", "12", "--ntasks", "300", "--seed", "5", "--vectors", "-q", "--no-progress"]
    rng = np.random.default_rng(1)
    b = rng.random((300, 12, 12))
    mats = b.transpose(0, 2, 1) @ b
    mats = (mats + mats.transpose(0, 2, 1)) / 2
    good = os.path.join(tmp, "good.npy")
    np.save(good, mats)
    inp = ["--input", good, "--vectors", "-q", "--no-progress"]
    for label, args in (("generated", gen), ("--input", inp)):
        ref = None
        for chunk in ("1", "7", "auto"):
            out = os.path.join(tmp, f"{'gen' if label == 'generated' else 'input'}-{chunk}")
            r = run(args + ["--chunk", chunk, "--output", out])
            check(r.returncode == 0, f"{label} --chunk {chunk}: exit 0 ({r.stderr.strip()})")
            got = outputs(out)
            if ref is None:
                ref = got
                check(len(ref) == 2, f"{label}: both outputs written")
            else:
                check(got == ref, f"{label} --chunk {chunk}: byte-identical to --chunk 1")
        if label == "--input":
            w = np.load(os.path.join(tmp, "input-1", "eigenvalues.npy"))
            check(np.allclose(w, np.linalg.eigvalsh(mats), rtol=1e-10, atol=1e-12),
                  "--input: eigenvalues agree with numpy.linalg.eigvalsh")
    r = run(gen + ["--chunk", "0"])
    check(r.returncode == 2 and "--chunk" in r.stderr, f"--chunk 0 refused ({r.stderr.strip()})")
    r = run(gen + ["--output", os.path.join(tmp, "x")], env={"DUSK_CHUNK": "x"})
    check(r.returncode == 2 and "DUSK_CHUNK" in r.stderr, f"DUSK_CHUNK=x refused ({r.stderr.strip()})")

    # ---- a NaN matrix in the middle of a chunk: that item alone fails
    bad = mats.copy()
    bad[10, 3, 4] = np.nan
    badf = os.path.join(tmp, "bad.npy")
    np.save(badf, bad)
    out = os.path.join(tmp, "bad7")
    r = run(["--input", badf, "--vectors", "-q", "--no-progress", "--chunk", "7", "--output", out])
    check(r.returncode == 3 and "1 FAILED" in r.stdout,
          f"a NaN in item 10 of the chunk 7..13: exit {r.returncode}, {r.stdout.strip()!r}")
    w = np.load(os.path.join(out, "eigenvalues.npy"))
    wref = np.load(os.path.join(tmp, "input-1", "eigenvalues.npy"))
    check(np.isnan(w[10]).all(), "its row is NaN")
    others = [i for i in range(300) if i != 10]
    check(np.array_equal(w[others], wref[others]),
          "every other item, the rest of its chunk included, is saved, byte for byte")
    with open(os.path.join(out, "failures.json")) as f:
        failed = json.load(f)["failures"]
    check([x["task"] for x in failed] == [10] and "non-finite" in failed[0]["reason"],
          f"failures.json names item 10 alone: {failed}")
    m = runlib.manifest_fields(os.path.join(out, "manifest.txt"))
    check(m["done"] == "299", f"the manifest lists 299 done ({m['done']})")

    # ---- a chunked run killed at random moments, resumed to the same bytes
    def long_args(t):
        return ["-n", "200", "--ntasks", str(t), "--seed", "2", "--vectors", "-q", "--no-progress",
                "--chunk", "16"]

    refdir = os.path.join(tmp, "long-ref")
    T, duration, r = runlib.sized_reference(lambda t: [exe] + long_args(t), refdir, 32, 160,
                                            10000)
    long = long_args(T)
    check(r.returncode == 0, f"the chunked reference run: exit 0 ({r.stderr.strip()})")
    ref = outputs(refdir)
    seed = random.Random(int(os.environ.get("DUSK_TEST_SEED", "0")) or None)
    mid_run = 0  # kills that came with some tasks saved, and not all
    for k in range(4):
        out = os.path.join(tmp, f"kill{k}")
        args, kills = long + ["--output", out], 0
        while True:
            p = subprocess.Popen([exe] + args, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            if kills < 2:
                # in every other case, the first kill once the run saved some tasks
                runlib.wait_to_kill(seed, p, out, duration * 0.9, k % 2 == 0 and kills == 0,
                                    f"kill {k}")
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    kills += 1
            rc = p.wait(timeout=300)
            mid_run += rc == -signal.SIGKILL and runlib.landed_mid_run(out, T)
            if rc == 0:
                break
            if rc != -signal.SIGKILL:
                check(False, f"kill {k}: a killed run ended with {rc}")
                break
            if os.path.exists(os.path.join(out, "manifest.txt")):
                args = ["--resume", out, "-q", "--no-progress"]  # the directory alone
        check(outputs(out) == ref, f"chunked, killed {kills} times, resumed: byte-identical")
        shutil.rmtree(out)  # the sized runs are large on a fast machine
    check(mid_run >= 1, f"kills came while tasks were being saved ({mid_run} times)")

    # ---- auto: one matrix per task at n = 1000, many at n = 10
    r = run(["-n", "1000", "--ntasks", "96", "--values-only", "-v", "--no-progress"])
    k1000 = largest_chunk(r.stderr)
    check(r.returncode == 0 and k1000 == 1, f"auto at n = 1000: 1 matrix per task (saw {k1000})")
    r = run(["-n", "10", "--ntasks", "20000", "--values-only", "-v", "--no-progress"])
    k10 = largest_chunk(r.stderr)
    check(r.returncode == 0 and k10 > 8, f"auto at n = 10: chunks grow (saw {k10})")

    # ---- ranks: chunked outputs identical to one process
    if shutil.which("mpirun"):
        mpirun = ["mpirun", "--oversubscribe"] + (["--allow-run-as-root"] if os.getuid() == 0 else [])
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"}
        mpirun += ["-x", "ASAN_OPTIONS", "-x", "STARPU_HOME"]
        for np_ in (2, 3):
            for dist in ("cyclic", "block"):
                out = os.path.join(tmp, f"np{np_}-{dist}")
                r = run(gen + ["--chunk", "5", "--distribution", dist, "--output", out], env=env,
                        launcher=mpirun + ["-np", str(np_)])
                if r.returncode != 0 and "without MPI support" in r.stderr:
                    print("skip: dusk-eigh has no StarPU-MPI")
                    break
                check(r.returncode == 0 and outputs(out) == outputs(os.path.join(tmp, "gen-1")),
                      f"-np {np_} {dist} --chunk 5: byte-identical to one process "
                      f"({r.returncode}: {r.stderr.strip()[-300:]})")
    else:
        print("skip: no mpirun")

if fails:
    print(f"{len(fails)} failed")
    sys.exit(1)
print("all chunk checks passed")
