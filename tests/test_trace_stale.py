#!/usr/bin/python3
"""A new run into an --output DIR that an earlier run traced into (--trace DIR), run without
--trace there, removes that trace (trace.json, report.html, dag.dot, and under several ranks
DIR/rank-K/ with theirs): it described results that are gone. Files of those names that dusk
did not write stay, as do other files and directories. A run that traces into DIR keeps its own
trace (written whole); a resume keeps the trace of the attempt it goes on with (documented in
docs/traces.md). The results are checked against NumPy each time.
Usage: test_trace_stale.py PATH/TO/dusk-eigh"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

exe = sys.argv[1]
fails = []
N, T = 8, 6
TRACE = ["trace.json", "report.html", "dag.dot"]


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        fails.append(what)


def run(args, launcher=(), env=None, code=0):
    e = dict(os.environ, **(env or {}))
    r = subprocess.run(list(launcher) + [exe, "-n", str(N), "--ntasks", str(T)] + args,
                       capture_output=True, text=True, timeout=600, env=e)
    if r.returncode != code:
        print(r.stderr)
    return r


def reference():
    vals = []
    for i in range(T):
        np.random.seed(i)
        b = np.random.rand(N, N)
        vals.append(np.linalg.eigvalsh(b.T @ b))
    return np.array(vals)


WANT = reference()


def results_right(out):
    got = np.load(os.path.join(out, "eigenvalues.npy"))
    return got.shape == WANT.shape and np.allclose(got, WANT, rtol=1e-10, atol=1e-10)


def tasks_in(path):
    with open(path) as f:
        return sum(1 for line in f if line.startswith('{"ph":"X"'))


with tempfile.TemporaryDirectory() as tmp:
    d = os.path.join(tmp, "out")
    r = run(["--output", d, "--trace", d])
    check(r.returncode == 0 and all(os.path.exists(os.path.join(d, f)) for f in TRACE),
          f"a traced run leaves its trace in DIR ({sorted(os.listdir(d))})")
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("mine\n")
    r = run(["--output", d])
    left = sorted(os.listdir(d))
    check(r.returncode == 0 and not any(f in left for f in TRACE) and "notes.txt" in left and
          results_right(d), f"a new run without --trace removes the earlier trace ({left})")

    # traced again into DIR: its own trace stays, whole
    r = run(["--output", d, "--trace", d])
    tj = os.path.join(d, "trace.json")
    check(r.returncode == 0 and all(os.path.exists(os.path.join(d, f)) for f in TRACE) and
          tasks_in(tj) >= 3 * T and results_right(d),
          "a run traced into DIR keeps its own trace")
    # traced elsewhere: DIR's old trace goes, the new one is elsewhere
    other = os.path.join(tmp, "elsewhere")
    r = run(["--output", d, "--trace", other])
    check(r.returncode == 0 and not any(os.path.exists(os.path.join(d, f)) for f in TRACE) and
          os.path.exists(os.path.join(other, "trace.json")) and results_right(d),
          "a run traced into another directory removes DIR's old trace")

    # files of those names that dusk did not write stay
    for f in TRACE:
        with open(os.path.join(d, f), "w") as fh:
            fh.write("not a trace\n")
    r = run(["--output", d])
    check(r.returncode == 0 and all(open(os.path.join(d, f)).read() == "not a trace\n"
                                    for f in TRACE),
          "files named like a trace that dusk did not write stay")
    for f in TRACE:
        os.unlink(os.path.join(d, f))

    # a resume keeps the trace of the attempt it goes on with (traced by DUSK_TRACE, which a
    # resume does not take over as it does --trace, recorded with the run's flags)
    r = run(["--output", d], env={"DUSK_FAIL_TASKS": "eigh-2", "DUSK_TRACE": d}, code=3)
    before = open(tj).read() if os.path.exists(tj) else None
    r2 = run(["--resume", d])
    check(r.returncode == 3 and r2.returncode == 0 and before is not None and
          os.path.exists(tj) and open(tj).read() == before and results_right(d),
          f"a resume that writes no trace keeps the trace of the run it resumes "
          f"({r.returncode}, {r2.returncode})")

    # several ranks: DIR/rank-K/ go too; a rank-K/ holding a file of the user's stays
    if shutil.which("mpirun"):
        mpirun = (["mpirun", "--oversubscribe"] + (["--allow-run-as-root"] if os.getuid() == 0
                                                   else []) +
                  ["-x", "ASAN_OPTIONS", "-x", "STARPU_HOME", "-np", "2"])
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0"}
        m = os.path.join(tmp, "mpi")
        r = run(["--output", m, "--trace", m], launcher=mpirun, env=env)
        if r.returncode != 0 and "without MPI support" in r.stderr:
            print("skip: dusk-eigh has no StarPU-MPI")
        else:
            ranks = sorted(f for f in os.listdir(m) if f.startswith("rank-"))
            check(r.returncode == 0 and ranks == ["rank-0", "rank-1"],
                  f"two ranks traced into DIR: rank-0/ and rank-1/ ({sorted(os.listdir(m))})")
            with open(os.path.join(m, "rank-1", "mine.txt"), "w") as f:
                f.write("mine\n")
            r = run(["--output", m])
            left = sorted(os.listdir(m))
            check(r.returncode == 0 and not any(f in left for f in TRACE) and
                  "rank-0" not in left and
                  sorted(os.listdir(os.path.join(m, "rank-1"))) == ["mine.txt"] and
                  results_right(m), f"then a run without --trace removes them ({left})")

if fails:
    print(f"{len(fails)} check(s) failed")
    sys.exit(1)
print("all checks passed")
