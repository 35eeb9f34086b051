#!/usr/bin/python3
"""dusk-eigh under a real Slurm's srun (one-machine cluster, tests/slurm_cluster.sh): with
`srun --mpi=pmix -n 2 -c 1 --cpu-bind=cores`, `-n 1 -c 2`, and 3 ranks on this machine's cores,
its outputs are byte for byte those of one process, and each rank runs as many CPU workers as
cores Slurm gave it, each worker bound to one of them: read mid-run from /proc, thread by
thread, against the mask srun reports (--cpu-bind=verbose), not only counted.
3 ranks on 2 cores: Slurm gives no task a core of its own when there are fewer cores than
tasks (`-n 3 -c 1` waits for resources forever; a node declared with more CPUs than it has,
SlurmdParameters=config_overrides, cannot lay the tasks out), so there the 3 ranks run in a
whole-node allocation with `--overcommit --cpu-bind=map_cpu:0,1,0`: one core each, two ranks
sharing core 0. With 3 cores or more, plain `-n 3 -c 1 --cpu-bind=cores`.
Usage: test_slurm_srun.py PATH/TO/dusk-eigh   (exit 77 only where Slurm cannot start)"""
import os
import re
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slurmlib  # noqa: E402
from slurmlib import check  # noqa: E402

exe = os.path.abspath(sys.argv[1])
cores = os.cpu_count()
SRUN = ["srun", "--mpi=pmix"]
BIND = re.compile(r"task\s+(\d+)\s+\d+\s+\[(\d+)\]: mask (0x[0-9a-fA-F]+) set")


def cpus_of_mask(mask):
    m = int(mask, 16)
    return {c for c in range(m.bit_length()) if m >> c & 1}


def cpu_list(text):
    """'0-2,5' -> {0, 1, 2, 5}"""
    cpus = set()
    for part in filter(None, text.strip().split(",")):
        a, _, b = part.partition("-")
        cpus.update(range(int(a), int(b or a) + 1))
    return cpus


def threads(pid):
    """{thread id: (name, CPUs allowed)} of a process, as /proc shows them now."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                allowed = re.search(r"^Cpus_allowed_list:\s*(\S+)", f.read(), re.M).group(1)
        except (FileNotFoundError, ProcessLookupError, AttributeError):
            continue
        out[tid] = (name, cpu_list(allowed))
    return out


def is_worker(name):
    return re.fullmatch(r"CPU \d+", name) is not None  # StarPU's CPU worker threads


def placed_run(slurm, label, prefix, ranks, batch, out):
    """Runs `prefix + [exe] + flags` (srun with --cpu-bind=...,verbose), reads every rank's
    threads while it runs, then checks the outputs and the placement."""
    argv = prefix + [exe] + batch.args + ["-v", "--no-progress", "--output", out]
    p = slurm.popen(argv)
    masks, errs = {}, []
    seen = {}  # rank -> {tid: (name, cpus)} with all its workers there

    def read_stderr():
        for line in p.stderr:
            errs.append(line)
            m = BIND.search(line)
            if m:
                masks[int(m.group(1))] = (int(m.group(2)), cpus_of_mask(m.group(3)))

    reader = threading.Thread(target=read_stderr)
    reader.start()

    def all_seen():
        for rank, (pid, mask) in list(masks.items()):
            if rank in seen:
                continue
            t = threads(pid)
            if sum(is_worker(n) for n, _ in t.values()) >= len(mask):
                seen[rank] = t
        return len(seen) == ranks or p.poll() is not None

    slurmlib.wait_for(all_seen, 600, interval=0.02)
    stdout = p.stdout.read()
    p.wait(timeout=600)
    reader.join()
    stderr = "".join(errs)
    if not check(p.returncode == 0, f"{label}: exit 0 (got {p.returncode})", stderr):
        return
    batch.same_as_reference(out, label)
    check(f"Processed {batch.t} tasks" in stdout, f"{label}: prints its summary", stdout)
    check(len(masks) == ranks, f"{label}: srun reports the binding of {ranks} ranks", stderr)
    if not check(len(seen) == ranks, f"{label}: every rank's workers were read mid-run (the "
                 f"run lasted long enough)", f"read {sorted(seen)}; {stderr}"):
        return
    for rank in sorted(masks):
        pid, mask = masks[rank]
        workers = [cpus for name, cpus in seen[rank].values() if is_worker(name)]
        where = sorted(sorted(c) for c in workers)
        check(len(workers) == len(mask),
              f"{label}: rank {rank} runs {len(mask)} CPU worker(s), one per core Slurm gave "
              f"it ({sorted(mask)})", f"workers bound to {where}")
        check(all(len(c) == 1 and c <= mask for c in workers) and
              len(set().union(*workers) if workers else set()) == len(workers),
              f"{label}: rank {rank}'s workers each bound to a core of its own inside its "
              f"cpuset {sorted(mask)}", f"workers bound to {where}")
        outside = {n: sorted(c) for n, c in seen[rank].values() if not c <= mask}
        check(not outside, f"{label}: no thread of rank {rank} runs outside its cpuset",
              str(outside))
    if ranks > 1:
        per_rank = sorted(len(m) for _, m in masks.values())
        if len(set(per_rank)) == 1:
            w = per_rank[0]
            check(f"{w} CPU worker{'s' if w > 1 else ''} on each of {ranks} ranks" in stdout,
                  f"{label}: its banner says {w} worker(s) on each of {ranks} ranks", stdout)
    return stderr


# the commands below, as docs/slurm.md shows them
slurmlib.doc_shows([
    "srun --mpi=pmix -n 2 -c 1 --cpu-bind=cores dusk-eigh -n 100 --ntasks 40 --vectors --output",
    "srun --mpi=pmix -n 1 -c 2 --cpu-bind=cores dusk-eigh",
    "salloc -N 1 --exclusive srun --mpi=pmix -n 3 --overcommit --cpu-bind=map_cpu:0,1,0 dusk-eigh"])
if slurmlib.failures:
    slurmlib.finish()

with tempfile.TemporaryDirectory(prefix="dusk-srun-") as tmp, slurmlib.Cluster() as slurm:
    slurmlib.skip_without_mpi(slurm, exe)
    # The command, byte for byte with one process (too short to read threads in).
    small = slurmlib.Batch(exe, 100, 40, vectors=True)
    small.reference(tmp)
    for np in (2, 3):
        out = os.path.join(tmp, f"small{np}")
        if np <= cores:
            argv = SRUN + ["-n", str(np), "-c", "1", "--cpu-bind=cores"]
        else:
            argv = ["salloc", "-N", "1", "--exclusive"] + SRUN + [
                "-n", str(np), "--overcommit",
                "--cpu-bind=map_cpu:" + ",".join(str(i % cores) for i in range(np))]
        r = slurm.run(argv + [exe] + small.args + ["--output", out], timeout=600)
        label = " ".join(a for a in argv if a not in ("salloc", "srun")) + " (n=100, 40 tasks)"
        if check(r.returncode == 0, f"{label}: exit 0 ({r.returncode})", r.stderr):
            small.same_as_reference(out, label)

    # The placement, read while the ranks run: a workload of a few seconds on one core.
    ntasks = slurmlib.sized_ntasks(exe, 100, 4.0)
    batch = slurmlib.Batch(exe, 100, ntasks, vectors=False)
    batch.reference(tmp)
    print(f"note: {ntasks} tasks of n = 100 for the placement runs")
    runs = [("-n 2 -c 1 --cpu-bind=cores", 2,
             SRUN + ["-n", "2", "-c", "1", "--cpu-bind=cores,verbose"])]
    if cores >= 2:
        runs.append(("-n 1 -c 2 --cpu-bind=cores", 1,
                     SRUN + ["-n", "1", "-c", "2", "--cpu-bind=cores,verbose"]))
    if cores >= 3:
        runs.append(("-n 3 -c 1 --cpu-bind=cores", 3,
                     SRUN + ["-n", "3", "-c", "1", "--cpu-bind=cores,verbose"]))
    else:
        cpus = ",".join(str(i % cores) for i in range(3))
        runs.append((f"-n 3 on {cores} cores: --overcommit --cpu-bind=map_cpu:{cpus}", 3,
                     ["salloc", "-N", "1", "--exclusive"] + SRUN +
                     ["-n", "3", "--overcommit", f"--cpu-bind=map_cpu:{cpus},verbose"]))
    for k, (label, ranks, prefix) in enumerate(runs):
        err = placed_run(slurm, label, prefix, ranks, batch, os.path.join(tmp, f"placed{k}"))
        if ranks == 3 and cores < 3 and err is not None:
            # 3 workers on 2 cores: dusk's oversubscription warning counts the ranks on a
            # node from srun's step layout (SLURM_STEP_TASKS_PER_NODE), said once per node
            warned = err.count("dusk: warning: the 3 ranks on this node start 3 workers in all")
            check(warned == 1, f"{label}: dusk's oversubscription warning, once ({warned})",
                  err)

slurmlib.finish()
