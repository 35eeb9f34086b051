"""What the Slurm tests share: a one-machine Slurm (tests/slurm_cluster.sh) as a context
manager, checks, and readers of dusk-eigh's outputs and manifests. Used by the tests the way
tests/mpi_common.sh is by the mpirun ones:

    with slurmlib.Cluster() as slurm:          # exit 77 (skipped) only where Slurm cannot start
        r = slurm.run(["srun", "-n", "2", ...])
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import runlib  # manifest_fields, manifest_ids (tests/ is on the path, as for the tests)

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print("    " + detail.strip().replace("\n", "\n    "))
    return cond


def finish():
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_for(pred, timeout, interval=0.05):
    """pred() once it is true (its value), or None after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v or None
        time.sleep(interval)


DOC = os.path.join(os.path.dirname(HERE), "docs", "slurm.md")


def doc_shows(snippets):
    """docs/slurm.md shows each command the test runs, word for word: checked before the cluster
    starts, so that a test skipped for want of Slurm still checks its page. (The files it shows
    whole, the job script among them, are shown as they are: test_docs_files checks that.)"""
    with open(DOC) as f:
        text = f.read()
    flat = re.sub(r"\\\n\s*", "", text)  # commands continued with a backslash, joined
    for snippet in snippets:
        check(snippet in flat, f"docs/slurm.md shows `{snippet}`")


class Cluster:
    """munged, slurmctld and slurmd under a temporary directory, for the time of a `with`."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="dusk-slurm-", dir="/tmp")
        r = subprocess.run(["bash", os.path.join(HERE, "slurm_cluster.sh"), "start", self.dir,
                            "--owner", str(os.getpid())],
                           capture_output=True, text=True, timeout=300)
        if r.returncode == 77:
            print(r.stdout.strip())
            shutil.rmtree(self.dir, ignore_errors=True)
            sys.exit(77)
        if r.returncode != 0:
            print("FAIL: the one-machine Slurm did not start:\n" + r.stdout + r.stderr)
            shutil.rmtree(self.dir, ignore_errors=True)
            sys.exit(1)
        # LeakSanitizer would report what Open MPI keeps until exit (as tests/mpi_common.sh)
        self.env = dict(os.environ, SLURM_CONF=os.path.join(self.dir, "slurm.conf"),
                        PATH=os.environ.get("PATH", "") + ":/usr/sbin", STARPU_SILENT="1",
                        ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
        return self

    def __exit__(self, *exc):
        r = subprocess.run(["bash", os.path.join(HERE, "slurm_cluster.sh"), "stop", self.dir],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            print("FAIL: stopping the Slurm cluster: " + r.stderr.strip())
            failures.append("the cluster stops")
        return False

    def log_tail(self, name, lines=20):
        try:
            with open(os.path.join(self.dir, "log", name)) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def run(self, argv, timeout=600, **kw):
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=self.env, **kw)

    def popen(self, argv, **kw):
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, **kw)

    def sbatch(self, argv):
        """argv: sbatch's options, the script and its arguments; the job id."""
        r = self.run(["sbatch", "--parsable"] + argv, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"sbatch failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout.strip().split(";")[0]

    def job(self, jobid):
        """The job's fields (scontrol show job), {} once it is gone."""
        r = self.run(["scontrol", "show", "job", "-o", jobid], timeout=60)
        if r.returncode != 0:
            return {}
        return dict(re.findall(r"(\w+)=(\S*)", r.stdout))

    def wait_job_end(self, jobid, timeout=600):
        """The job's fields once it has ended (JobState neither PENDING nor RUNNING nor
        COMPLETING), or None."""
        def ended():
            j = self.job(jobid)
            return j if j.get("JobState") not in ("PENDING", "RUNNING", "COMPLETING",
                                                    "CONFIGURING", None) else None
        return wait_for(ended, timeout, interval=0.2)


def job_under_way(slurm, jobid, out, label, timeout=600):
    """Waits until the job's run is under way (its manifests list a task done, the run not
    finished) and checks that the job is RUNNING then; cancels the job when it is not. Whether
    it is."""
    under_way = wait_for(lambda: (lambda st, ids: st not in (None, "finished") and len(ids) >= 1)(
        *progress(out)), timeout)
    job = slurm.job(jobid)
    if check(under_way and job.get("JobState") == "RUNNING",
             f"{label}: the job is under way (a manifest lists a task done)",
             f"job {job.get('JobState')}, manifest {progress(out)[0]}"):
        return True
    slurm.run(["scancel", jobid])
    return False


def job_output(tmp, jobid):
    """What the job wrote to slurm-JOBID.out in directory tmp (its --chdir)."""
    with open(os.path.join(tmp, f"slurm-{jobid}.out")) as f:
        return f.read()


def requeue_and_release(slurm, jobid, restarts, label, queued=None):
    """`scontrol requeue JOBID`, then, once the job is back in the queue (PENDING with
    Restarts=restarts), calls queued() and lets the job start at once. Whether that went as
    said. JOBID may name one task of an array (JOB_K)."""
    r = slurm.run(["scontrol", "requeue", jobid], timeout=120)
    if not check(r.returncode == 0, f"{label}: scontrol requeue {jobid} exits 0", r.stderr):
        return False
    back = wait_for(
        lambda: (lambda j: j if j.get("JobState") == "PENDING" and
                 j.get("Restarts") == str(restarts) else None)(slurm.job(jobid)), 300,
        interval=0.2)
    if not check(back is not None, f"{label}: the job is back in the queue (Restarts={restarts})",
                 str(slurm.job(jobid))):
        return False
    if queued:
        queued()
    # The run before must be over on the node too (sinfo: idle, no longer completing), and
    # the new one start in a later second: slurmd refuses a job whose credential is from the
    # second its earlier run's was revoked in ("Job credential revoked", the job FAILED), which
    # is why Slurm itself holds a requeued job for its credentials' lifetime (2 minutes).
    idle = wait_for(lambda: slurm.run(["sinfo", "-h", "-o", "%T"]).stdout.strip() ==
                    "idle", 300, interval=0.2)
    if not check(idle, f"{label}: the node is idle again"):
        return False
    second = int(time.time())
    wait_for(lambda: int(time.time()) >= second + 2, 5)
    r = slurm.run(["scontrol", "update", f"JobId={jobid}", "StartTime=now"], timeout=120)
    return check(r.returncode == 0, f"{label}: scontrol update StartTime=now exits 0", r.stderr)


def manifest(out):
    """Rank 0's manifest (DIR/manifest.txt) as {field: value} and the set of ids done."""
    return manifest_file(os.path.join(out, "manifest.txt"))


def manifest_file(path):
    fields = runlib.manifest_fields(path)
    return fields, runlib.manifest_ids(fields.get("ids", ""))


def progress(out):
    """(rank 0's state, ids done by every rank) as the manifests on disk say mid-run: rank
    0's DIR/manifest.txt and the other ranks' DIR/.rank-K/manifest.txt; (None, set()) before
    rank 0 wrote one."""
    try:
        state = manifest(out)[0].get("state")
    except (FileNotFoundError, ValueError):
        return None, set()
    ids = set()
    paths = [os.path.join(out, "manifest.txt")]
    try:
        paths += [os.path.join(out, d, "manifest.txt") for d in os.listdir(out)
                  if d.startswith(".rank-")]
    except FileNotFoundError:
        pass
    for path in paths:
        try:
            ids |= manifest_file(path)[1]
        except (FileNotFoundError, ValueError):  # not made yet, merged meanwhile, half written
            pass
    return state, ids


class Batch:
    """A dusk-eigh workload: its flags, its final files and (once made) one process's outputs,
    the reference every run is compared with byte for byte."""

    def __init__(self, exe, n, ntasks, vectors, extra=()):
        self.exe, self.n, self.t = exe, n, ntasks
        self.args = ["-n", str(n), "--ntasks", str(ntasks)] + list(extra)
        self.final = ["eigenvalues.npy"]
        self.rows = {"eigenvalues.npy": n * 8}
        if vectors:
            self.args.append("--vectors")
            self.final.append("eigenvectors.npy")
            self.rows["eigenvectors.npy"] = n * n * 8
        self.ref = {}

    def reference(self, tmp):
        out = os.path.join(tmp, f"ref-{self.n}-{self.t}")
        r = subprocess.run([self.exe] + self.args + ["-q", "--output", out],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            print(f"FAIL: the one-process reference run exits {r.returncode}: {r.stderr}")
            sys.exit(1)
        self.ref = {name: read(os.path.join(out, name)) for name in self.final}
        shutil.rmtree(out)

    def same_as_reference(self, out, label):
        for name in self.final:
            path = os.path.join(out, name)
            check(os.path.exists(path) and read(path) == self.ref[name],
                  f"{label}: {name} byte-identical to one process")
        left = [f for f in os.listdir(out) if f.endswith(".partial") or f.startswith(".rank-")]
        check(not left, f"{label}: no .partial file or rank manifest left", str(left))

    def honest(self, out, label):
        """After a stop: no file under its final name, and every task a manifest lists as
        done holds its results in the .partial file."""
        fields, _ = manifest(out)
        check(fields.get("state") != "finished", f"{label}: the manifest does not say finished",
              str(fields))
        for name in self.final:
            check(not os.path.exists(os.path.join(out, name)),
                  f"{label}: no {name} under its final name")
        _, ids = progress(out)
        for name in self.final:
            row, path = self.rows[name], os.path.join(out, name + ".partial")
            data = read(path) if os.path.exists(path) else b""
            header = len(data) - self.t * row
            bad = [i for i in sorted(ids)
                   if header < 0 or data[header + i * row:header + (i + 1) * row] !=
                   self.ref[name][header + i * row:header + (i + 1) * row]]
            check(not bad, f"{label}: the {len(ids)} tasks listed as done hold their {name} "
                  f"rows on disk", f"wrong: {bad[:5]}")
        return ids


def sized_ntasks(exe, n, seconds, vectors=False, lo=40, hi=20000):
    """How many tasks of size n one core computes in about `seconds` (start-up aside), from
    small measured runs (--ncpu 1, timed by dusk-eigh's own summary): the runs sized so last
    long enough on a fast machine and not too long on a slow one."""
    with tempfile.TemporaryDirectory(prefix="dusk-size-") as tmp:
        t = 20
        while True:
            args = [exe, "-n", str(n), "--ntasks", str(t), "--ncpu", "1", "--no-progress",
                    "--output", os.path.join(tmp, f"o{t}")] + (["--vectors"] if vectors else [])
            r = subprocess.run(args, capture_output=True, text=True, timeout=600)
            m = re.search(r"^Processed \d+ tasks in ([0-9.]+) s", r.stdout, re.M)
            if r.returncode != 0 or not m:
                print(f"FAIL: the sizing run exits {r.returncode}: {r.stdout}{r.stderr}")
                sys.exit(1)
            took = max(float(m.group(1)), 1e-3)
            if took >= 0.3 or t >= hi:
                break
            t *= 4
    return max(lo, min(hi, int(t / took * seconds)))


def skip_without_mpi(slurm, exe):
    """A dusk-eigh built without StarPU-MPI refuses several ranks with one line saying so:
    exit 77 then; any other failure of a 2-rank trial run fails the test."""
    r = slurm.run(["srun", "-n", "2", "-c", "1", exe, "-n", "8", "--ntasks", "2", "-q"],
                  timeout=300)
    if r.returncode != 0:
        if "without MPI support" in r.stderr:
            print("dusk-eigh has no StarPU-MPI: skipped")
            sys.exit(77)
        print("FAIL: a 2-rank trial run under srun failed:\n" + r.stdout + r.stderr)
        print(slurm.log_tail("slurmd.log"))
        sys.exit(1)
