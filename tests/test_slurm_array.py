#!/usr/bin/python3
"""A Slurm job array of dusk-eigh without MPI (one-machine cluster, tests/slurm_cluster.sh):
examples/slurm/dusk-eigh-array.sbatch, as docs/slurm.md shows it (#SBATCH --array=0-3, one
`srun -n 1 ... dusk-eigh --share slurm --continue DIR ...` line), is
- submitted on a new directory; once array task 1's manifest (DIR/.share-1/) lists a task done
  (evidence, never a fixed time), that array task is cancelled with `scancel JOBID_1`: it stops
  gracefully (exit 143), the other three complete, and no output has its final name yet;
- requeued (`scontrol requeue JOBID_1`, let start at once): the same line goes on with its own
  share, computing only its tasks not saved, names the outputs as the last share, and every
  file is byte-identical to one uninterrupted process's (manifest.txt included);
- requeued once more after the run finished: it says there is nothing to do, and completes.
The workload is sized from a measured run so that each share lasts several seconds here.
Usage: test_slurm_array.py PATH/TO/dusk-eigh   (exit 77 only where Slurm cannot start)"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slurmlib  # noqa: E402
from slurmlib import check  # noqa: E402

exe = os.path.abspath(sys.argv[1])
here = os.path.dirname(os.path.abspath(__file__))
script = os.path.join(os.path.dirname(here), "examples", "slurm", "dusk-eigh-array.sbatch")
K = 1  # the array task cancelled and requeued


def share_manifest(out, k):
    try:
        return slurmlib.manifest_file(os.path.join(out, f".share-{k}", "manifest.txt"))
    except (FileNotFoundError, ValueError):
        return {}, set()


def output_of(tmp, jobid, k):
    try:
        with open(os.path.join(tmp, f"slurm-{jobid}_{k}.out")) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def same_files(ref, out, label):
    names = sorted(n for n in os.listdir(ref) if not n.startswith("."))
    got = sorted(n for n in os.listdir(out) if not n.startswith("."))
    check(got == names, f"{label}: the directory holds the files one process leaves ({names})",
          str(got))
    for name in names:
        path = os.path.join(out, name)
        want = slurmlib.read(os.path.join(ref, name))
        got = slurmlib.read(path) if os.path.exists(path) else b""
        check(got == want, f"{label}: {name} byte-identical to one process",
              (want + b"\n---\n" + got).decode("latin-1") if name.endswith(".txt") else "")
    left = [n for n in os.listdir(out) if n.startswith(".share") or n.endswith(".partial")]
    check(not left, f"{label}: no share's part or .partial file left", str(left))


slurmlib.doc_shows(["scontrol requeue JOBID_K", "#SBATCH --array=0-3",
                    "examples/slurm/dusk-eigh-array.sbatch $SCRATCH/eigh -n 1000 --ntasks 128"])
if slurmlib.failures:
    slurmlib.finish()

with tempfile.TemporaryDirectory(prefix="dusk-array-") as tmp, slurmlib.Cluster() as slurm:
    # 4 shares of one core: each about 4 s of work at this machine's speed now
    ntasks = slurmlib.sized_ntasks(exe, 200, 16.0)
    args = ["-n", "200", "--ntasks", str(ntasks)]
    print(f"note: {ntasks} tasks of n = 200, 4 shares")
    ref = os.path.join(tmp, "ref")
    # the same flags as the job's line (the manifest records them), its output aside
    r = subprocess.run([exe] + args + ["--output", ref], capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        print(f"FAIL: the one-process reference run exits {r.returncode}: {r.stderr}")
        sys.exit(1)
    out = os.path.join(tmp, "eigh")
    jobid = slurm.sbatch([f"--chdir={tmp}", f"--export=ALL,DUSK_EIGH={exe}", script, out] + args)
    tasks = [f"{jobid}_{k}" for k in range(4)]

    # ---- array task K cancelled mid-run
    label = f"array task {K} cancelled"
    under_way = slurmlib.wait_for(
        lambda: (lambda f, ids: f.get("state") == "running" and len(ids) >= 1)(
            *share_manifest(out, K)), 600)
    job = slurm.job(tasks[K])
    if not check(under_way and job.get("JobState") == "RUNNING",
                 f"{label}: it is under way before scancel (its manifest lists a task done)",
                 f"job {job.get('JobState')}, manifest {share_manifest(out, K)[0]}"):
        slurm.run(["scancel", jobid])
        slurmlib.finish()
    r = slurm.run(["scancel", tasks[K]], timeout=120)
    check(r.returncode == 0, f"{label}: scancel {tasks[K]} exits 0", r.stderr)
    ends = [slurm.wait_job_end(t, 900) for t in tasks]
    states = [e and e.get("JobState") for e in ends]
    check(states == ["CANCELLED" if k == K else "COMPLETED" for k in range(4)],
          f"{label}: it is CANCELLED, the other array tasks COMPLETED ({states})",
          "\n".join(output_of(tmp, jobid, k) for k in range(4)) + slurm.log_tail("slurmctld.log"))
    fields, ids = share_manifest(out, K)
    mine = len(range(K, ntasks, 4))
    saved = len(ids)
    text = output_of(tmp, jobid, K)
    check(fields.get("state") == "interrupted" and 0 < saved < mine,
          f"{label}: it stopped mid-run, its manifest saved ({saved} of its {mine} tasks)",
          str(fields) + text)
    check(re.search(r"stopped: \d+ of \d+ tasks done and saved", text) is not None,
          f"{label}: it stopped gracefully, saying what it saved", text)
    there = os.listdir(out)
    check("eigenvalues.npy" not in there and "eigenvalues.npy.partial" in there and
          slurmlib.manifest(out)[0].get("state") != "finished",
          f"{label}: the outputs keep their .partial names, the manifest is not finished",
          str(sorted(there)))

    # ---- requeued: its share goes on, and it names the outputs
    label = f"array task {K} requeued"
    if slurmlib.requeue_and_release(slurm, tasks[K], 1, label):
        end = slurm.wait_job_end(tasks[K], 900)
        text = output_of(tmp, jobid, K)
        if check(end is not None and end.get("JobState") == "COMPLETED",
                 f"{label}: it completes ({end and end.get('JobState')})",
                 text + slurm.log_tail("slurmctld.log")):
            m = re.findall(r"^Processed (\d+) tasks", text, re.M)
            check(m and int(m[-1]) == mine - saved,
                  f"{label}: computes only the {mine - saved} tasks of its share not saved", text)
            same_files(ref, out, label)

    # ---- requeued after the run finished: nothing to do
    label = f"array task {K} requeued again"
    if slurmlib.requeue_and_release(slurm, tasks[K], 2, label):
        end = slurm.wait_job_end(tasks[K], 900)
        text = output_of(tmp, jobid, K)
        check(end is not None and end.get("JobState") == "COMPLETED" and
              "nothing to do" in text, f"{label}: it completes, with nothing to do", text)
        same_files(ref, out, label)
    shutil.rmtree(ref, ignore_errors=True)

slurmlib.finish()
