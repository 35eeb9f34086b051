#!/usr/bin/python3
"""A requeued Slurm job of dusk-eigh goes on where it stopped (one-machine cluster,
tests/slurm_cluster.sh): examples/slurm/dusk-eigh-requeue.sbatch, as docs/slurm.md shows it
(#SBATCH --requeue, 2 ranks of 1 core, one `srun ... dusk-eigh --continue DIR ...` line), is
- submitted on a new directory, and requeued with `scontrol requeue JOBID` once a manifest
  lists a task done (evidence, never a fixed time): every rank stops gracefully (exit 143),
  the job goes back to the queue, and while it waits there no output has its final name and
  every task a manifest lists as done has its rows on disk;
- let start at once (`scontrol update JobId=JOBID StartTime=now`: Slurm holds a requeued job
  about two minutes) and runs the same line again, which resumes: the job completes, its
  output holds both runs, and the outputs are byte-identical to one uninterrupted process;
- its output (slurm-JOBID.out) holds plain progress lines of the whole job (every rank's
  tasks, out of the job's), no carriage return (DUSK_PROGRESS_INTERVAL=0.5, so that they come
  quickly), the last of each run's counting every task it saved;
- requeued once more after it completed: the line says the run is finished and computes
  nothing; the job completes again, the outputs untouched.
The workload is sized from a measured run so that it lasts several seconds here; a run that
finished before its requeue fails the test.
Usage: test_slurm_requeue.py PATH/TO/dusk-eigh   (exit 77 only where Slurm cannot start)"""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slurmlib  # noqa: E402
from slurmlib import check  # noqa: E402

exe = os.path.abspath(sys.argv[1])
here = os.path.dirname(os.path.abspath(__file__))
script = os.path.join(os.path.dirname(here), "examples", "slurm", "dusk-eigh-requeue.sbatch")


PROGRESS = re.compile(r"^dusk-eigh: progress: (\d+) of (\d+) tasks \((\d+)%\), "
                      r"(\d+) failed, ([0-9.]+) tasks/s, (\S+) left$")


def snapshot(out):
    found = {}
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if os.path.isfile(path):
            found[name] = (slurmlib.read(path), os.stat(path).st_mtime_ns)
    return found


slurmlib.doc_shows(["scontrol requeue JOBID", "scontrol update JobId=JOBID StartTime=now",
                    "examples/slurm/dusk-eigh-requeue.sbatch $SCRATCH/eigh -n 1000 --ntasks 128"])
if slurmlib.failures:
    slurmlib.finish()

with tempfile.TemporaryDirectory(prefix="dusk-requeue-") as tmp, slurmlib.Cluster() as slurm:
    slurmlib.skip_without_mpi(slurm, exe)
    # 2 ranks of one core: about 5 s of work, at whatever speed this machine has now
    ntasks = slurmlib.sized_ntasks(exe, 200, 10.0)
    batch = slurmlib.Batch(exe, 200, ntasks, vectors=False)
    print(f"note: {ntasks} tasks of n = 200")
    batch.reference(tmp)
    out = os.path.join(tmp, "eigh")
    # progress lines every 5% of rank 0's tasks, 0.5 s apart at least: quick
    jobid = slurm.sbatch([f"--chdir={tmp}", f"--export=ALL,DUSK_EIGH={exe},"
                          f"DUSK_PROGRESS_INTERVAL=0.5", script, out] + batch.args)

    # ---- requeued mid-run
    label = "requeued mid-run"
    if not slurmlib.job_under_way(slurm, jobid, out, f"{label}: before the requeue"):
        slurmlib.finish()
    # while it waits in the queue: no file under its final name, every task listed as done
    # on disk
    if not slurmlib.requeue_and_release(slurm, jobid, 1, label, lambda: batch.honest(out, label)):
        slurm.run(["scancel", jobid])
        slurmlib.finish()
    text = slurmlib.job_output(tmp, jobid)
    check(slurmlib.manifest(out)[0].get("state") != "finished",
          f"{label}: the run had not finished when requeued (make the workload longer)", text)
    m = re.search(r"stopped: (\d+) of (\d+) tasks done and saved in (\S+)", text)
    check(m is not None and int(m.group(2)) == ntasks,
          f"{label}: the first run stopped gracefully, saying what it saved", text)
    check("Exited with exit code 143" in text and "Killed" not in text,
          f"{label}: every rank exits 143 (stopped by SIGTERM), none killed", text)

    # ---- the same line, run again, resumes
    label = "requeued, run again"
    end = slurm.wait_job_end(jobid, 900)
    text = slurmlib.job_output(tmp, jobid)
    if check(end is not None and end.get("JobState") == "COMPLETED",
             f"{label}: the job completes ({end and end.get('JobState')}, exit "
             f"{end and end.get('ExitCode')})", text + slurm.log_tail("slurmctld.log")):
        saved = int(m.group(1)) if m else -1
        check(f"resuming {out}: {saved} of {ntasks} tasks already done" in text,
              f"{label}: resumes from the {saved} tasks the first run saved", text)
        check(re.search(rf"Processed {ntasks - saved} tasks in .* on 2 ranks, {saved} more done "
                        r"before", text) is not None,
              f"{label}: computes only the {ntasks - saved} tasks not done", text)
        check(text.index("stopped:") < text.index("resuming"),
              f"{label}: slurm-{jobid}.out holds both runs, in order (--open-mode=append)", text)
        batch.same_as_reference(out, label)
        check(slurmlib.manifest(out)[0].get("state") == "finished",
              f"{label}: the manifest says finished")
        # the job's output: plain progress lines of the whole job, in both runs
        lines = [line for line in text.splitlines() if "progress" in line]
        parsed = [PROGRESS.match(line) for line in lines]
        check("\r" not in text, f"{label}: no carriage return in slurm-{jobid}.out")
        check(len(lines) >= 2 and all(parsed),
              f"{label}: {len(lines)} progress lines of the whole job, as documented",
              "\n".join(lines))
        totals = {int(p.group(2)) for p in parsed if p}
        check(totals == {ntasks}, f"{label}: the lines count out of the job's {ntasks} tasks",
              str(totals))
        check(parsed and parsed[-1] and int(parsed[-1].group(1)) == ntasks,
              f"{label}: the second run's last line counts every task", "\n".join(lines[-3:]))

        # ---- requeued once it completed: nothing to do
        label = "requeued after completing"
        before = snapshot(out)
        if slurmlib.requeue_and_release(slurm, jobid, 2, label):
            end = slurm.wait_job_end(jobid, 900)
            text = slurmlib.job_output(tmp, jobid)
            check(end is not None and end.get("JobState") == "COMPLETED",
                  f"{label}: the job completes ({end and end.get('JobState')})", text)
            check(text.rstrip("\n").endswith(
                f"dusk-eigh: --continue {out}: this run is finished ({ntasks} of {ntasks} "
                f"done): nothing to do"), f"{label}: says the run is finished", text)
            check(snapshot(out) == before, f"{label}: the outputs are untouched")
            batch.same_as_reference(out, label)

slurmlib.finish()
