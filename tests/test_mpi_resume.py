#!/usr/bin/python3
"""Nothing lost across ranks: dusk-eigh under mpirun, stopped by SIGTERM on every rank (what a
batch system sends at the time limit), by Ctrl-C on mpirun, or killed outright (SIGKILL of
every process, at random moments), resumes with --resume under any number of ranks or as one
process, and ends with outputs byte-identical to an uninterrupted run of one process. A
stopped job leaves no file under its final name, and every task its manifests list as done
holds its results. The workloads are sized from this machine (tests/runlib.py), and the
signals sent once the ranks' manifests show them under way; a job that ended first fails the
test with the reason.
Usage: test_mpi_resume.py PATH/TO/dusk-eigh   (exit 77 without mpirun or StarPU-MPI)"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import runlib

exe = sys.argv[1]
failures = []

class Batch:
    """A workload, its final files, and (once run) an uninterrupted process's outputs. Its
    task count T comes from this machine: size(T)."""

    def __init__(self, n, vectors, seconds):
        self.n, self.vectors, self.seconds = n, vectors, seconds
        self.final = ("eigenvalues.npy",)
        self.rows = {"eigenvalues.npy": n * 8}
        if vectors:
            self.final += ("eigenvectors.npy",)
            self.rows["eigenvectors.npy"] = n * n * 8
        self.ref = {}
        self.size(1)

    def args_for(self, t):
        return (["-n", str(self.n), "--ntasks", str(t), "--seed", "5", "-q", "--no-progress"] +
                (["--vectors"] if self.vectors else []))

    def size(self, t):
        self.t, self.args = t, self.args_for(t)


# Fast tasks with eigenvectors (SIGTERM sent to the ranks, kills); slower ones for Ctrl-C on
# mpirun, which passes it on to the ranks only about a second later: longer, so that the
# signal, sent once the ranks' manifests show progress, arrives well before the end.
SMALL, SLOW = Batch(200, True, runlib.SECONDS), Batch(400, False, 2 * runlib.SECONDS)

if shutil.which("mpirun") is None:
    print("mpirun is missing (Debian: openmpi-bin): skipped")
    sys.exit(77)
# as tests/mpi_common.sh: root needs leave, and LeakSanitizer would report Open MPI's state
env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0",
           STARPU_SILENT="1")
MPIRUN = ["mpirun", "--oversubscribe", "-x", "ASAN_OPTIONS", "-x", "UBSAN_OPTIONS",
          "-x", "STARPU_HOME", "-x", "STARPU_SILENT"]
if os.geteuid() == 0:
    MPIRUN.append("--allow-run-as-root")


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def command(ranks, args):
    return ([exe] if ranks == 0 else MPIRUN + ["-np", str(ranks), exe]) + args


def run(ranks, args):
    return subprocess.run(command(ranks, args), capture_output=True, text=True, timeout=400,
                          env=env)


def start(ranks, args):
    return subprocess.Popen(command(ranks, args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def ranks_of(p):
    """The dusk-eigh processes mpirun started (its children)."""
    r = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def manifest_ids(path):
    fields = runlib.manifest_fields(path)
    return fields, runlib.manifest_ids(fields.get("ids", ""))


def done_ids(out):
    """What the manifests say is done: rank 0's and the other ranks' parts (.rank-K)."""
    ids = set()
    paths = [os.path.join(out, "manifest.txt")]
    paths += [os.path.join(out, d, "manifest.txt") for d in os.listdir(out)
              if d.startswith(".rank-")]
    for path in paths:
        try:
            ids |= manifest_ids(path)[1]
        except FileNotFoundError:  # not made yet, or merged by rank 0 meanwhile
            pass
    return ids


def honest(b, out, label):
    """No file under its final name unless finished; every task listed as done is written."""
    fields, _ = manifest_ids(os.path.join(out, "manifest.txt"))
    for name in b.final:
        if os.path.exists(os.path.join(out, name)):
            check(fields["state"] == "finished" and read(os.path.join(out, name)) == b.ref[name],
                  f"{label}: {name} under its final name only when complete")
    for name in b.final:
        row, path = b.rows[name], os.path.join(out, name)
        data = read(path if os.path.exists(path) else path + ".partial")
        header = len(data) - b.t * row
        bad = [i for i in sorted(done_ids(out))
               if data[header + i * row:header + (i + 1) * row] !=
               b.ref[name][header + i * row:header + (i + 1) * row]]
        check(not bad, f"{label}: tasks listed as done hold their {name} rows (wrong: {bad[:5]})")


def same_as_reference(b, out, label):
    for name in b.final:
        path = os.path.join(out, name)
        check(os.path.exists(path) and read(path) == b.ref[name],
              f"{label}: {name} is byte-identical to one uninterrupted process")
    left = [f for f in os.listdir(out) if f.endswith(".partial") or f.startswith(".rank-")]
    check(not left, f"{label}: no .partial file or rank manifest left ({left})")


def resume(b, out, ranks, label):
    r = run(ranks, b.args + ["--resume", out])
    check(r.returncode == 0, f"{label}: the resume exits 0 ({r.returncode}: {r.stderr.strip()})")
    same_as_reference(b, out, label)


with tempfile.TemporaryDirectory() as tmp:
    probe = run(2, ["-n", "8", "--ntasks", "2", "-q"])
    if "without MPI support" in probe.stderr:
        print("dusk-eigh has no StarPU-MPI: skipped")
        sys.exit(77)
    # the references, one process each, sized to compute for the batch's seconds
    for k, b in enumerate((SMALL, SLOW)):
        t, _, _ = runlib.sized_reference(lambda t: [exe] + b.args_for(t),
                                         os.path.join(tmp, f"ref{k}"), 40, 40, 10000,
                                         seconds=b.seconds, env=env)
        b.size(t)
        b.ref = {name: read(os.path.join(tmp, f"ref{k}", name)) for name in b.final}
    for b in (SMALL, SLOW):
        t0 = time.monotonic()
        out = os.path.join(tmp, f"timing{b.n}")
        r = run(2, b.args + ["--output", out])
        b.duration = time.monotonic() - t0
        check(r.returncode == 0, f"2 ranks, uninterrupted: exit 0 ({r.returncode})")
        same_as_reference(b, out, f"2 ranks, n = {b.n}, uninterrupted")

    # ---- SIGTERM to every rank, as a batch system sends it at the time limit; Ctrl-C on
    # mpirun, which passes it on to the ranks. Resumed under 3 ranks and as one process.
    for how, b, resume_ranks in (("SIGTERM to every rank", SMALL, 3),
                                 ("Ctrl-C on mpirun", SLOW, 0)):
        out = os.path.join(tmp, how.split()[0])
        p = start(2, b.args + ["--output", out])
        # once both ranks' manifests (saved every second) list tasks done: both catch signals
        runlib.wait_under_way(p, out, how, ranks=2)
        if how.startswith("SIGTERM"):
            for pid in ranks_of(p):
                os.kill(pid, signal.SIGTERM)
        else:
            p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=400)
        if p.returncode == 0 or manifest_ids(os.path.join(out, "manifest.txt"))[0].get(
                "state") == "finished":
            # the ranks had finished (mpirun exits non-zero all the same when signalled)
            check(False, f"{how}: the job finished before the signal came ({b.t} tasks)")
            continue
        check("to resume (under mpirun or srun, with any number of ranks):" in stderr and
              "--resume " + out in stderr, f"{how}: says how to resume ({stderr.strip()!r})")
        check("Processed" not in stdout, f"{how}: no summary")
        check(all(os.path.exists(os.path.join(out, n + ".partial")) for n in b.final) and
              not any(os.path.exists(os.path.join(out, n)) for n in b.final),
              f"{how}: outputs stay .partial: {sorted(os.listdir(out))}")
        fields, ids = manifest_ids(os.path.join(out, "manifest.txt"))
        # (none, when the signal came during start-up: a clean stop all the same)
        check(fields["state"] == "interrupted" and len(ids) <= b.t,
              f"{how}: manifest says interrupted ({len(ids)} tasks done)")
        check(not any(d.startswith(".rank-") for d in os.listdir(out)),
              f"{how}: the ranks' manifests were merged into manifest.txt")
        honest(b, out, how)
        resume(b, out, resume_ranks, f"{how}, resumed by {resume_ranks or 'one process'}")

    # ---- SIGKILL of every process at random moments (twice), resumed under 2 ranks
    rng = random.Random(int(os.environ.get("DUSK_TEST_SEED", "0")) or None)
    mid_run = 0  # kills that came with some tasks saved, and not all
    for k in range(3):
        out = os.path.join(tmp, f"kill{k}")
        args = SMALL.args + ["--output", out]
        for kill in range(2):
            p = start(2, args)
            # in every other case, the first kill once the ranks saved some tasks
            time.sleep(0.2 * SMALL.duration)
            runlib.wait_to_kill(rng, p, out, 0.8 * SMALL.duration, k % 2 == 0 and kill == 0,
                                f"kill {k}.{kill}")
            for pid in ranks_of(p) + [p.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.communicate(timeout=400)
            mid_run += runlib.landed_mid_run(out, SMALL.t)
            if not os.path.exists(os.path.join(out, "manifest.txt")):
                continue  # killed before rank 0 wrote it: the next try starts again
            honest(SMALL, out, f"kill {k}.{kill}")
            args = SMALL.args + ["--resume", out]
        if os.path.exists(os.path.join(out, "manifest.txt")):
            resume(SMALL, out, 2, f"kill {k}: killed twice, resumed by 2 ranks")
    check(mid_run >= 1, f"kills came while tasks were being saved ({mid_run} times)")

    # ---- a rank's manifest from another run is refused, not merged
    out = os.path.join(tmp, "other")
    r = run(0, SMALL.args + ["--output", out])
    os.makedirs(os.path.join(out, ".rank-1"))
    text = open(os.path.join(out, "manifest.txt")).read().replace("seed:5", "seed:6")
    open(os.path.join(out, ".rank-1", "manifest.txt"), "w").write(text)
    r = run(2, SMALL.args + ["--resume", out])
    check(r.returncode != 0 and "rank 1's" in r.stderr,
          f"a rank manifest of another run: refused ({r.returncode}: {r.stderr.strip()})")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
