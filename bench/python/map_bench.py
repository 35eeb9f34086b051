"""dusk.map against the ways the tutorial's readers run their own function (issue 25).

    map_bench.py [--quick] [-r REPS] [--cases LIST] [--out FILE.md] BUILD_DIR

Cases (each a fresh process per method and run, rounds alternating the methods' order; the
median of REPS runs counts):
  eigh1000  process_data at n = 1000, T = 32
  eigh100   process_data at n = 100, T = 2000
  empty     a function that does nothing, T = 1,000,000 (µs per item; Dask on fewer items)
  cfunc     the same task at n = 100 as a numba @cfunc, against dusk-eigh's C kernels
  memory    peak resident memory of dusk.map(out=DIR) at n = 100, T = 10,000 and 100,000

process_data is the tutorial's task as a user writes it for threads: a generator of its own
(np.random.RandomState(i)), b = rand(n, n), a = b.T @ b, np.linalg.eigh(a); it returns the
eigenvalues. The loop run again with one BLAS thread (serial-1) is the work alone: on C cores
no way can take less than its time / C, the bound the summary compares every way with.
dusk.map sets glibc's malloc thresholds (python/dusk/_map.py, _tune_malloc); the loop and
Pool are run with the same settings too (serial-1+malloc, pool+malloc), shown for what the
setting alone is worth, not counted as rivals; the bound takes the faster loop.
Every method's results are checked against the serial loop's (sum of the largest
eigenvalues, to 1e-9 relative). Times are of the work alone: pools, clusters, mpirun's ranks
and dusk's workers are started before the clock starts (a first call of dusk.map on 2 items).
Prints a markdown table and writes it to --out. Exit: 0 done, 1 a method failed or disagreed.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"

# ---- the task, as the tutorial's readers write it --------------------------------------------

TASK = r'''
import numpy as np
N = int(os.environ["BENCH_N"])
def process_data(i):
    rng = np.random.RandomState(i)
    b = rng.rand(N, N)
    a = b.T @ b
    w, v = np.linalg.eigh(a)
    return w
ZERO = np.zeros(1)
def nothing(i):
    return ZERO
'''

# Each method: code run in a fresh process with BENCH_N, BENCH_T, BENCH_FN set. It defines
# setup() (not timed) and work() -> list/array of results (timed), then teardown().
METHODS = {
    "serial": ("loop, NumPy's BLAS threads", r'''
def setup(): pass
def work(): return [FN(i) for i in range(T)]
def teardown(): pass
'''),
    # the work itself: no way on C cores can take less than this / C (the bound below)
    "serial-1": ("loop, 1 BLAS thread: the work alone", r'''
def setup(): pass
def work(): return [FN(i) for i in range(T)]
def teardown(): pass
'''),
    "serial-1+malloc": ("loop, 1 BLAS thread, malloc as dusk.map sets it: the work alone",
                        r'''
def setup(): pass
def work(): return [FN(i) for i in range(T)]
def teardown(): pass
'''),
    "threads": ("ThreadPoolExecutor(2), 1 BLAS thread", r'''
from concurrent.futures import ThreadPoolExecutor
def setup():
    global ex; ex = ThreadPoolExecutor(2); list(ex.map(abs, range(4)))
def work(): return list(ex.map(FN, range(T)))
def teardown(): ex.shutdown()
'''),
    "pool": ("multiprocessing.Pool(2), 1 BLAS thread", r'''
import multiprocessing
def setup():
    global pool; pool = multiprocessing.Pool(2); pool.map(abs, range(4))
def work(): return pool.map(FN, range(T), chunksize=max(1, T // 64))
def teardown(): pool.close(); pool.join()
'''),
    # Pool again with glibc's malloc set as dusk.map sets it (GLIBC_TUNABLES): what that
    # setting alone is worth to a rival; shown, not counted as one (users run Pool without it)
    "pool+malloc": ("multiprocessing.Pool(2), 1 BLAS thread, malloc as dusk.map sets it", r'''
import multiprocessing
def setup():
    global pool; pool = multiprocessing.Pool(2); pool.map(abs, range(4))
def work(): return pool.map(FN, range(T), chunksize=max(1, T // 64))
def teardown(): pool.close(); pool.join()
'''),
    "dask-threads": ("Dask threaded scheduler (2), 1 BLAS thread", r'''
import dask
def setup(): pass
def work():
    tasks = [dask.delayed(FN)(i) for i in range(T)]
    return dask.compute(*tasks, scheduler="threads", num_workers=2)
def teardown(): pass
'''),
    "dask-distributed": ("Dask LocalCluster, 2 workers x 1 thread", r'''
from dask.distributed import Client, LocalCluster
def setup():
    global cluster, client
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster); client.gather(client.map(abs, range(4)))
def work(): return client.gather(client.map(FN, range(T)))
def teardown(): client.close(); cluster.close()
'''),
    "mpi4py": ("mpi4py, mpirun -np 2, 1 BLAS thread", r'''
from mpi4py import MPI
comm = MPI.COMM_WORLD
def setup(): comm.Barrier()
def work():
    mine = [(i, FN(i)) for i in range(comm.rank, T, comm.size)]
    got = comm.gather(mine, root=0)
    if comm.rank: return None
    out = [None] * T
    for part in got:
        for i, w in part: out[i] = w
    return out
def teardown(): pass
'''),
    "dusk.map": ("dusk.map, 2 workers", r'''
import dusk
def setup(): dusk.map(FN, 2, progress=False)
def work(): return dusk.map(FN, T, progress=False)
def teardown(): pass
'''),
    # the GIL's other answer: each worker's items in a forked process of its own
    "dusk.map-processes": ("dusk.map(processes=True), 2 workers", r'''
import dusk
def setup(): dusk.map(FN, 2, progress=False, processes=True)
def work(): return dusk.map(FN, T, progress=False, processes=True)
def teardown(): pass
'''),
    # the GIL's answer: ranks (one worker each), as the tutorial's mpi4py step; under ranks
    # dusk.map writes its results (out=DIR) and rank 0 reads them back, inside the time
    "dusk.map-ranks": ("dusk.map, mpirun -np 2, 1 worker each, out=DIR", r'''
import dusk
D = os.environ["BENCH_DIR"]
def setup(): dusk.map(FN, 2, out=D + "/warm", progress=False, overwrite=True)
def work():
    r = dusk.map(FN, T, out=D + "/run", progress=False, overwrite=True)
    return r.load() if dusk._map.rank() == 0 else None
def teardown(): pass
'''),
}

RUNNER = r'''
import os, sys, time, json
T = int(os.environ["BENCH_T"])
''' + TASK + r'''
FN = globals()[os.environ["BENCH_FN"]]
{method}
if __name__ == "__main__":  # Dask's and multiprocessing's workers import this file again
    setup()
    t0 = time.perf_counter()
    res = work()
    dt = time.perf_counter() - t0
    if res is not None:
        import numpy as np
        check = float(sum(float(np.asarray(r).reshape(-1)[-1]) for r in res))
        print("BENCH " + json.dumps({{"seconds": dt, "check": check, "count": len(res)}}),
              flush=True)
    teardown()
'''


def env_for(build, n, t, fn, blas1, tuned=False):
    env = dict(os.environ)
    env.update(BENCH_N=str(n), BENCH_T=str(t), BENCH_FN=fn,
               PYTHONPATH=os.path.join(build, "python"), STARPU_SILENT="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if blas1:
        env["OPENBLAS_NUM_THREADS"] = "1"
    else:
        env.pop("OPENBLAS_NUM_THREADS", None)
    if tuned:  # dusk.map's malloc settings (python/dusk/_map.py, _tune_malloc)
        env["GLIBC_TUNABLES"] = ("glibc.malloc.mmap_threshold=33554432:"
                                 "glibc.malloc.trim_threshold=67108864")
    return env


def run_method(build, method, n, t, fn):
    code = RUNNER.format(method=METHODS[method][1])
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
        script = f.name
    cmd = [PY, script]
    env = env_for(build, n, t, fn, method not in ("serial",) + DUSK_WAYS,
                  tuned=method in SHOWN_ONLY)
    if method in ("mpi4py", "dusk.map-ranks"):
        cmd = ["mpirun", "--oversubscribe", "-np", "2", "-x", "OPENBLAS_NUM_THREADS",
               "-x", "BENCH_N", "-x", "BENCH_T", "-x", "BENCH_FN", "-x", "BENCH_DIR"] + cmd
    outdir = tempfile.mkdtemp(prefix="map-bench-")
    env["BENCH_DIR"] = outdir
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    finally:
        os.unlink(script)
        shutil.rmtree(outdir, ignore_errors=True)
    for line in p.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"{method} n={n} T={t}: exit {p.returncode}: "
                       f"{(p.stderr or p.stdout).strip()[-600:]}")


def compare(build, label, n, t, fn, methods, reps, per_item=False, t_for=None):
    """Rounds of every method, order rotating; returns rows for the table."""
    times = {m: [] for m in methods}
    checks = {}
    for r in range(reps):
        order = methods[r % len(methods):] + methods[:r % len(methods)]
        for m in order:
            tm = (t_for or {}).get(m, t)
            res = run_method(build, m, n, tm, fn)
            if res["count"] != tm:
                raise RuntimeError(f"{m}: {res['count']} results for {tm} items")
            times[m].append(res["seconds"] / (tm if per_item else 1))
            checks[m] = (res["check"], tm)
            print(f"  {label} {m}: {res['seconds']:.3f} s ({tm} items)", file=sys.stderr,
                  flush=True)
    ref, ref_t = checks[methods[0]]
    for m, (c, tm) in checks.items():
        if tm == ref_t and abs(c - ref) > 1e-9 * max(1.0, abs(ref)):
            raise RuntimeError(f"{label}: {m}'s results differ from {methods[0]}'s "
                               f"({c!r} vs {ref!r})")
    return {m: statistics.median(v) for m, v in times.items()}


DUSK_WAYS = ("dusk.map", "dusk.map-processes", "dusk.map-ranks")
SHOWN_ONLY = ("pool+malloc", "serial-1+malloc")  # in the table, never the best rival


def table_rows(label, med, unit, per_item=False, t_for=None, t=None):
    """The rows, and dusk.map's ratio over the best rival (the best of dusk's ways present)."""
    rivals = {m: v for m, v in med.items() if m not in DUSK_WAYS + SHOWN_ONLY}
    best = min(rivals, key=rivals.get)
    rows = []
    for m, v in med.items():
        shown = f"{v * 1e6:.2f} µs/item" if per_item else f"{v:.3f} s"
        ratio = rivals[best] / v if m in DUSK_WAYS else ""
        items = (t_for or {}).get(m, t)
        rows.append(f"| {label} | {m} ({METHODS[m][0]}) | {items} | {shown} | "
                    f"{f'{ratio:.2f}x over {best}' if ratio != '' else ''} |")
    return rows, {m: rivals[best] / med[m] for m in DUSK_WAYS if m in med}


def bound_text(med):
    """What the cores allow: the work alone (serial-1, or serial-1+malloc when faster: the
    same loop with dusk.map's malloc settings) shared out perfectly, and how near the best
    rival and dusk's ways come to it."""
    alone = [m for m in ("serial-1", "serial-1+malloc") if m in med]
    if not alone:
        return ""
    work = min(alone, key=med.get)
    cores = len(os.sched_getaffinity(0))
    bound = med[work] / cores
    rivals = {m: v for m, v in med.items() if m not in DUSK_WAYS + SHOWN_ONLY}
    best = min(rivals, key=rivals.get)
    ours = ", ".join(f"{m} {bound / med[m]:.2f}" for m in DUSK_WAYS if m in med)
    return (f"; the bound on {cores} cores (the work alone, {work} {med[work]:.3f} s, / "
            f"{cores}) {bound:.3f} s: {best} reaches {bound / rivals[best]:.2f} of it, {ours}")


def ratio_text(ratios):
    return ", ".join(f"{m} {r:.2f}x" for m, r in ratios.items())


CFUNC = r'''
import os, sys, time, json, ctypes
import numpy as np
from numba import cfunc, types, carray
import dusk
N, T = int(os.environ["BENCH_N"]), int(os.environ["BENCH_T"])
sig = types.int32(types.int64, types.CPointer(types.float64), types.int64,
                  types.CPointer(types.float64), types.int64)
@cfunc(sig, nopython=True)
def process_data(i, x, xlen, out, outlen):
    np.random.seed(i)            # numba's generator is per thread: no race between workers
    b = np.random.rand(N, N)
    a = b.T @ b
    w, v = np.linalg.eigh(a)
    o = carray(out, (outlen,))
    for k in range(outlen):
        o[k] = w[k]
    return 0
dusk.map(process_data, 2, shape=(N,), progress=False)
t0 = time.perf_counter()
res = dusk.map(process_data, T, shape=(N,), progress=False)
dt = time.perf_counter() - t0
print("BENCH " + json.dumps({"seconds": dt, "check": float(res[:, -1].sum()),
                             "count": len(res)}), flush=True)
'''


def run_cfunc(build, n, t):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(CFUNC)
        script = f.name
    try:
        p = subprocess.run([PY, script], env=env_for(build, n, t, "x", False),
                           capture_output=True, text=True, timeout=900)
    finally:
        os.unlink(script)
    for line in p.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])["seconds"]
    raise RuntimeError(f"cfunc: exit {p.returncode}: {(p.stderr or p.stdout).strip()[-600:]}")


def run_dusk_eigh(build, n, t):
    p = subprocess.run([os.path.join(build, "apps", "dusk-eigh"), "-n", str(n), "--ntasks",
                        str(t), "--no-progress"], capture_output=True, text=True, timeout=900,
                       env=env_for(build, n, t, "x", False))
    for line in (p.stdout + p.stderr).splitlines():
        if line.startswith("Processed"):
            return float(line.split(" in ")[1].split()[0])
    raise RuntimeError(f"dusk-eigh: exit {p.returncode}: {(p.stderr or p.stdout)[-600:]}")


MEMORY = r'''
import os, sys, resource, tempfile
import numpy as np
import dusk
N, T = int(os.environ["BENCH_N"]), int(os.environ["BENCH_T"])
''' + TASK.split("ZERO")[0] + r'''
d = tempfile.mkdtemp()
r = dusk.map(process_data, T, out=os.path.join(d, "out"), progress=False)
assert not r.failed
print("BENCH_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
import shutil; shutil.rmtree(d)
'''


def run_memory(build, n, t):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(MEMORY)
        script = f.name
    try:
        t0 = time.perf_counter()
        p = subprocess.run([PY, script], env=env_for(build, n, t, "x", False),
                           capture_output=True, text=True, timeout=3600)
        dt = time.perf_counter() - t0
    finally:
        os.unlink(script)
    for line in p.stdout.splitlines():
        if line.startswith("BENCH_KB"):
            return int(line.split()[1]) / 1024, dt
    raise RuntimeError(f"memory: exit {p.returncode}: {(p.stderr or p.stdout)[-600:]}")


def main():
    ap = argparse.ArgumentParser(prog="map_bench.py")
    ap.add_argument("build")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a trial in seconds")
    ap.add_argument("-r", "--reps", type=int, default=3)
    ap.add_argument("--cases", default="eigh1000,eigh100,empty,cfunc,memory")
    ap.add_argument("--out")
    ap.add_argument("--methods", help="only these ways (comma-separated names of METHODS)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    if not os.path.isdir(os.path.join(build, "python", "dusk")):
        print(f"map_bench.py: {build}/python/dusk: no dusk package (build first)",
              file=sys.stderr)
        return 2
    q = a.quick
    reps = 1 if q else a.reps
    cases = a.cases.split(",")
    all_methods = a.methods.split(",") if a.methods else list(METHODS)
    unknown = [m for m in all_methods if m not in METHODS]
    if unknown:
        print(f"map_bench.py: --methods: unknown {unknown} (known: {list(METHODS)})",
              file=sys.stderr)
        return 2
    lines = ["| case | method | items | time (median) | dusk.map against the best rival |",
             "| --- | --- | --- | --- | --- |"]
    summary = []
    try:
        if "eigh1000" in cases:
            n, t = (200, 8) if q else (1000, 32)
            med = compare(build, f"n={n}", n, t, "process_data", all_methods, reps)
            rows, ratio = table_rows(f"n = {n}, T = {t}", med, "s", t=t)
            lines += rows
            summary.append(f"n = {n}, T = {t}: {ratio_text(ratio)} the best rival "
                           f"(target >= 1.0){bound_text(med)}")
        if "eigh100" in cases:
            n, t = (50, 200) if q else (100, 2000)
            med = compare(build, f"n={n}", n, t, "process_data", all_methods, reps)
            rows, ratio = table_rows(f"n = {n}, T = {t}", med, "s", t=t)
            lines += rows
            summary.append(f"n = {n}, T = {t}: {ratio_text(ratio)} the best rival "
                           f"(target >= 1.15){bound_text(med)}")
        if "empty" in cases:
            t = 20000 if q else 1000000
            t_for = {"dask-threads": t // 20}
            ms = ["threads", "dask-threads", "dusk.map"]  # not through mpirun: µs per item
            med = compare(build, "empty", 1, t, "nothing", ms, reps, per_item=True,
                          t_for=t_for)
            rows, ratio = table_rows("empty function", med, "µs", per_item=True, t_for=t_for,
                                     t=t)
            lines += rows
            summary.append(f"empty function: dusk.map {med['dusk.map'] * 1e6:.2f} µs per item "
                           f"(target <= 3), ThreadPoolExecutor {med['threads'] * 1e6:.2f}, "
                           f"Dask threads {med['dask-threads'] * 1e6:.2f}")
        if "cfunc" in cases:
            n, t = (50, 200) if q else (100, 2000)
            cf, de = [], []
            for r in range(reps):
                for which in ((0, 1) if r % 2 == 0 else (1, 0)):
                    if which == 0:
                        cf.append(run_cfunc(build, n, t))
                    else:
                        de.append(run_dusk_eigh(build, n, t))
            c, d = statistics.median(cf), statistics.median(de)
            lines.append(f"| numba @cfunc, n = {n}, T = {t} | dusk.map(@cfunc) | {t} | "
                         f"{c:.3f} s | {c / d:.2f}x dusk-eigh's time |")
            lines.append(f"| numba @cfunc, n = {n}, T = {t} | dusk-eigh (C kernels, vectors) | "
                         f"{t} | {d:.3f} s | |")
            summary.append(f"@cfunc at n = {n}: {c / d:.2f}x dusk-eigh's time (target <= 1.3)")
        if "memory" in cases:
            n = 20 if q else 100
            for t in ((2000, 20000) if q else (10000, 100000)):
                mb, dt = run_memory(build, n, t)
                lines.append(f"| memory, n = {n}, T = {t}, out=DIR | dusk.map | {t} | "
                             f"{dt:.1f} s whole process | peak RSS {mb:.0f} MB |")
                summary.append(f"peak memory n = {n}, T = {t} to disk: {mb:.0f} MB")
    except RuntimeError as e:
        print(f"map_bench.py: {e}", file=sys.stderr)
        return 1
    text = "\n".join(lines) + "\n\n" + "\n".join(f"- {s}" for s in summary) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
