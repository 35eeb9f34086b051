#!/usr/bin/python3
"""A Slurm batch job of dusk-eigh (examples/slurm/dusk-eigh.sbatch, as docs/slurm.md shows it,
2 ranks of 1 core) stopped mid-run, then resumed with another rank count, ends byte-identical
to one uninterrupted process (one-machine cluster, tests/slurm_cluster.sh):
- `scancel JOB`: SIGTERM to every rank, SIGKILL KillWait (5 s) later: dusk-eigh stops
  gracefully before that (exit 143, "stopped: K of T tasks done and saved"), the manifest lists
  only what is on disk, and the resume command it prints, run under 3 ranks, finishes the job;
- `scancel --signal=KILL JOB.0`: every rank SIGKILLed with no warning (on the job itself, Slurm
  turns --signal=KILL into a cancel: SIGTERM first): nothing claimed that is not on disk;
  resumed by one process, without Slurm;
- `scancel --signal=TERM JOB`: what `#SBATCH --signal=TERM@120` sends before the time limit;
  a graceful stop, resumed by the same script submitted again (`sbatch dusk-eigh.sbatch
  --resume DIR`) with 1 rank of 2 cores.
Each stop waits for evidence that the run is under way (a manifest lists a task done and rank
0's does not say finished), never for a fixed time; the workload is sized from a measured run
so that it lasts several seconds here, and a run that finished before its stop fails the test.
Usage: test_slurm_scancel.py PATH/TO/dusk-eigh   (exit 77 only where Slurm cannot start)"""
import os
import re
import shlex
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slurmlib  # noqa: E402
from slurmlib import check  # noqa: E402

exe = os.path.abspath(sys.argv[1])
here = os.path.dirname(os.path.abspath(__file__))
script = os.path.join(os.path.dirname(here), "examples", "slurm", "dusk-eigh.sbatch")
cores = os.cpu_count()


def three_ranks():
    """srun (or salloc + srun) for 3 ranks of one core each on this machine (see
    test_slurm_srun.py for why 2 cores need --overcommit)."""
    if cores >= 3:
        return ["srun", "--mpi=pmix", "-n", "3", "-c", "1", "--cpu-bind=cores"]
    return ["salloc", "-N", "1", "--exclusive", "srun", "--mpi=pmix", "-n", "3", "--overcommit",
            "--cpu-bind=map_cpu:" + ",".join(str(i % cores) for i in range(3))]


def submit_and_stop(slurm, tmp, batch, label, stop):
    """Submits the example script on a new directory, waits until the run is under way, stops
    it with `scancel` + stop (the job id is appended, with '.0' for the step when stop ends in
    '.0'), waits for the job's end; (output dir, the job's output text), or None (failed)."""
    out = os.path.join(tmp, re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-"))
    jobid = slurm.sbatch([f"--chdir={tmp}", f"--export=ALL,DUSK_EIGH={exe}", script] +
                         batch.args + ["--no-progress", "--output", out])
    if not slurmlib.job_under_way(slurm, jobid, out, f"{label}: before the stop"):
        return None
    target = jobid + ".0" if ".0" in stop else jobid
    r = slurm.run(["scancel"] + [a for a in stop if a != ".0"] + [target], timeout=120)
    check(r.returncode == 0, f"{label}: scancel exits 0", r.stderr)
    end = slurm.wait_job_end(jobid, 600)
    if not check(end is not None, f"{label}: the job ends"):
        return None
    text = slurmlib.job_output(tmp, jobid)
    state = slurmlib.manifest(out)[0].get("state")
    if not check(state != "finished", f"{label}: the run had not finished when stopped (make "
                 f"the workload longer)", text):
        return None
    print(f"note: {label}: job {jobid} ended {end.get('JobState')} (exit {end.get('ExitCode')})")
    return out, text


def graceful(batch, out, text, label):
    """A graceful stop: the ranks' summary of what is saved, and the manifest says the same."""
    fields, ids = slurmlib.manifest(out)
    check(fields.get("state") == "interrupted", f"{label}: the manifest says interrupted",
          str(fields))
    m = re.search(r"stopped: (\d+) of (\d+) tasks done and saved in (\S+)", text)
    check(m is not None and int(m.group(1)) == len(ids) and int(m.group(2)) == batch.t,
          f"{label}: says how many tasks are saved, as the manifest does ({len(ids)})", text)
    check("Exited with exit code 143" in text and "Killed" not in text,
          f"{label}: every rank exits 143 (stopped by SIGTERM), none killed", text)
    check(not any(d.startswith(".rank-") for d in os.listdir(out)),
          f"{label}: the ranks' manifests were merged into manifest.txt", str(os.listdir(out)))
    hint = re.search(r"to resume[^:]*: (.*)", text)
    words = shlex.split(hint.group(1)) if hint else []
    check(words[:1] == [exe] and words[-2:] == ["--resume", os.path.abspath(out)] and
          all(a in words for a in batch.args),
          f"{label}: prints the command that resumes it: dusk-eigh, its flags, --resume DIR",
          text)
    check(hint is not None and "under mpirun or srun" in hint.group(0),
          f"{label}: the resume hint says it runs under srun too", text)
    return words


def resumed(slurm, batch, out, argv, label):
    r = slurm.run(argv, timeout=900)
    if check(r.returncode == 0, f"{label}: exit 0 ({r.returncode})", r.stdout + r.stderr):
        batch.same_as_reference(out, label)
        check(slurmlib.manifest(out)[0].get("state") == "finished",
              f"{label}: the manifest says finished")


# the commands below, as docs/slurm.md shows them (the script: test_docs_files)
slurmlib.doc_shows(["scancel JOBID", "scancel --signal=KILL JOBID.0", "scancel --signal=TERM JOBID",
                    "sbatch --ntasks=1 --cpus-per-task=2 examples/slurm/dusk-eigh.sbatch --resume",
                    "dusk-eigh --resume $SCRATCH/eigh"])
if slurmlib.failures:
    slurmlib.finish()

with tempfile.TemporaryDirectory(prefix="dusk-scancel-") as tmp, slurmlib.Cluster() as slurm:
    slurmlib.skip_without_mpi(slurm, exe)
    # 2 ranks of one core: about 5 s of work, at whatever speed this machine has now
    ntasks = slurmlib.sized_ntasks(exe, 200, 10.0)
    batch = slurmlib.Batch(exe, 200, ntasks, vectors=False)
    print(f"note: {ntasks} tasks of n = 200")
    batch.reference(tmp)

    # ---- scancel: SIGTERM, then SIGKILL after KillWait; resumed by the printed command on
    # 3 ranks
    label = "scancel (TERM, KILL after KillWait)"
    got = submit_and_stop(slurm, tmp, batch, label, [])
    if got:
        out, text = got
        batch.honest(out, label)
        words = graceful(batch, out, text, label)
        if words:
            resumed(slurm, batch, out, three_ranks() + words, f"{label}, resumed on 3 ranks")

    # ---- SIGKILL to every rank, no warning; resumed by one process, no Slurm
    label = "scancel --signal=KILL JOB.0"
    got = submit_and_stop(slurm, tmp, batch, label, ["--signal=KILL", ".0"])
    if got:
        out, text = got
        check("stopped:" not in text, f"{label}: killed outright, no graceful stop", text)
        batch.honest(out, label)
        resumed(slurm, batch, out, [exe, "--resume", out],
                f"{label}, resumed by one process")

    # ---- what --signal=TERM@T sends before the time limit; resumed by the example script
    # submitted again, with 1 rank of 2 cores
    label = "scancel --signal=TERM (as #SBATCH --signal=TERM@120)"
    got = submit_and_stop(slurm, tmp, batch, label, ["--signal=TERM"])
    if got:
        out, text = got
        batch.honest(out, label)
        graceful(batch, out, text, label)
        jobid = slurm.sbatch([f"--chdir={tmp}", f"--export=ALL,DUSK_EIGH={exe}", "--ntasks=1",
                              f"--cpus-per-task={min(cores, 2)}", script, "--resume", out])
        end = slurm.wait_job_end(jobid, 900)
        text = slurmlib.job_output(tmp, jobid)
        label += ", resumed by sbatch -n 1 -c 2"
        if check(end is not None and end.get("JobState") == "COMPLETED",
                 f"{label}: the job completes ({end and end.get('JobState')})", text):
            batch.same_as_reference(out, label)

slurmlib.finish()
