#!/usr/bin/python3
"""dusk-eigh --share K/N: the shares of a job array, run as separate processes without Slurm
or MPI, write one directory, and its finished state is byte for byte one process's run:
- 3 shares (.npy, --vectors), started concurrently in the order 2, 1 and, long after those two
  ended, 0: until the last one ends nothing has its final name and the run's manifest does
  not say finished; then every file (eigenvalues.npy, eigenvectors.npy, manifest.txt) is the
  reference's and the shares' parts (.share-K/, .shares) are gone;
- 4 shares (HDF5) with failing tasks (DUSK_FAIL_TASKS), their K and N from a Slurm job
  array's variables as `--share slurm` reads them (--array=0-7:2, started 6, 2, 0, 4):
  results.h5, manifest.txt and failures.json are the reference's, the share owning the
  failed tasks exits 3, the others 0; arrays that are no range with a step are refused;
- a share killed (SIGKILL) once its manifest lists a task done (evidence, never a fixed time),
  the other shares finished: the outputs stay .partial; a share of another run (other -n), a
  share of another count, the same share twice and one process's --output are refused (exit
  2, one line, DIR untouched); the killed share run again with --continue computes only its
  tasks not saved, and the outputs are the reference's;
- a run only some shares finished is completed by one process's --resume, byte for byte.
Usage: test_app_shares.py PATH/TO/dusk-eigh"""
import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import runlib

exe = sys.argv[1]
failures = []


def check(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
        if detail:
            print("    " + detail.strip()[-3000:].replace("\n", "\n    "), flush=True)
    return cond


def start(args, env=None):
    return subprocess.Popen([exe] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def finish(p):
    out, err = p.communicate(timeout=900)
    return p.returncode, out, err


def run(args, env=None):
    return subprocess.run([exe] + args, capture_output=True, text=True, env=env, timeout=900)


def files(d):
    """Every file under D (relative names) with its bytes."""
    found = {}
    for root, _, names in os.walk(d):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, d)] = f.read()
    return found


def results(d):
    """The files a finished run leaves, without the lock files (the same in both, empty)."""
    return {k: v for k, v in files(d).items() if k not in (".dusk.lock", ".dusk-shares.lock")}


def same_as(ref, out, label):
    want, got = results(ref), results(out)
    differ = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    check(not differ, f"{label}: every file is the one-process run's, byte for byte "
          f"({', '.join(sorted(want))})", f"differ or missing: {differ}; "
          f"there: {sorted(got)}")


def field(d, key):
    try:
        with open(os.path.join(d, "manifest.txt")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition(" ")
                if k == key:
                    return v
    except FileNotFoundError:
        pass
    return None


def unnamed(out, names, label):
    """Nothing has its final name, every output is there as .partial, and the run's manifest
    is not finished."""
    there = set(os.listdir(out))
    check(all(n not in there and n + ".partial" in there for n in names) and
          field(out, "state") != "finished",
          f"{label}: the outputs are still .partial, the manifest not finished",
          f"{sorted(there)}, state {field(out, 'state')}")


def parts_gone(out, label):
    left = [n for n in os.listdir(out) if n.startswith(".share") or n.endswith(".partial")]
    check(not left, f"{label}: the shares' parts and the .partial names are gone", str(left))


with tempfile.TemporaryDirectory(prefix="dusk-shares-") as tmp:
    one = ["--ncpu", "1", "--no-progress"]

    # ---- 3 shares, .npy, the last long after the others
    label = "3 shares"
    base = ["-n", "24", "--ntasks", str(runlib.scaled(60)), "--vectors", "--seed", "5"] + one
    ref = os.path.join(tmp, "ref3")
    r = run(base + ["--output", ref])
    check(r.returncode == 0, f"{label}: the reference run exits 0", r.stderr)
    out = os.path.join(tmp, "three")
    first = [start(base + ["--share", f"{k}/3", "--continue", out]) for k in (2, 1)]
    ends = [finish(p) for p in first]
    check(all(e[0] == 0 for e in ends), f"{label}: shares 2 and 1 exit 0",
          "\n".join(e[2] for e in ends))
    unnamed(out, ["eigenvalues.npy", "eigenvectors.npy"], f"{label}, share 0 not run yet")
    rc, so, se = finish(start(base + ["--share", "0/3", "--continue", out]))
    check(rc == 0, f"{label}: share 0, long after, exits 0", se)
    same_as(ref, out, label)
    parts_gone(out, label)
    r = run(base + ["--share", "1/3", "--continue", out])
    check(r.returncode == 0 and "nothing to do" in r.stdout,
          f"{label}: a share run again after the end: nothing to do", r.stdout + r.stderr)
    same_as(ref, out, f"{label}, a share run again")

    # ---- 4 shares from a Slurm array's variables, HDF5, failing tasks
    label = "4 shares, --share slurm"
    h5 = run(["--help"]).stdout.find("--format npy|h5") >= 0 and \
        "without HDF5" not in run(["-n", "4", "--ntasks", "1", "--format", "h5", "--output",
                                   os.path.join(tmp, "probe")]).stderr
    if not h5:
        print("note: this dusk has no HDF5: the 4 shares write .npy")
    base = ["-n", "20", "--ntasks", str(runlib.scaled(41)), "--vectors",
            "--format", "h5" if h5 else "npy"] + one
    fail = dict(os.environ, DUSK_FAIL_TASKS="eigh-3,eigh-7,gen-10")
    ref = os.path.join(tmp, "ref4")
    r = run(base + ["--output", ref], env=fail)
    check(r.returncode == 3 and os.path.exists(os.path.join(ref, "failures.json")),
          f"{label}: the reference run exits 3 with failures.json", r.stderr)
    out = os.path.join(tmp, "four")

    def array_env(task):
        return dict(fail, SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_MIN="0",
                    SLURM_ARRAY_TASK_MAX="6", SLURM_ARRAY_TASK_STEP="2",
                    SLURM_ARRAY_TASK_COUNT="4", SLURM_ARRAY_JOB_ID="99")

    procs = {t: start(base + ["--share", "slurm", "--continue", out], env=array_env(t))
             for t in (6, 2, 0, 4)}
    ends = {t: finish(p) for t, p in procs.items()}
    # items 3 and 7 are share 3's (cyclic: i mod 4), item 10 share 2's
    want = {0: 0, 2: 0, 4: 3, 6: 3}
    check(all(ends[t][0] == want[t] for t in want),
          f"{label}: tasks 4 and 6 (shares 2 and 3, with failed items) exit 3, the others 0 "
          f"({ {t: e[0] for t, e in ends.items()} })", "\n".join(e[2] for e in ends.values()))
    same_as(ref, out, label)
    parts_gone(out, label)
    for env, what in ((dict(SLURM_ARRAY_TASK_ID="2", SLURM_ARRAY_TASK_MIN="1",
                            SLURM_ARRAY_TASK_MAX="5", SLURM_ARRAY_TASK_COUNT="3"),
                       "--array=1,2,5"),
                      ({}, "no job array")):
        e = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_ARRAY")}
        e.update(env)
        r = run(base + ["--share", "slurm", "--continue", os.path.join(tmp, "never")], env=e)
        check(r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "--share" in r.stderr
              and not os.path.exists(os.path.join(tmp, "never")),
              f"--share slurm under {what}: refused (exit 2, one line)", r.stderr)
    for bad in ("3/3", "1", "-1/2", "0/0", "a/b"):
        r = run(base + ["--share", bad, "--continue", os.path.join(tmp, "never")])
        check(r.returncode == 2 and len(r.stderr.splitlines()) == 1,
              f"--share {bad}: refused (exit 2, one line)", r.stderr)

    # ---- a share killed mid-run, run again
    label = "a share killed"
    cmd = ["-n", "100", "--vectors"] + one
    ref = os.path.join(tmp, "ref-kill")
    # the whole run computes about 2 x SECONDS with one worker: each share 2/3 of SECONDS
    ntasks, _, _ = runlib.sized_reference(lambda t: [exe] + cmd + ["--ntasks", str(t)], ref,
                                          20, 30, 200000, seconds=2 * runlib.SECONDS)
    base = cmd + ["--ntasks", str(ntasks)]
    out = os.path.join(tmp, "kill")
    procs = [start(base + ["--share", f"{k}/3", "--continue", out]) for k in range(3)]
    mine = os.path.join(out, ".share-1")
    t0 = time.monotonic()
    while not (procs[1].poll() is None and (field(mine, "done") or "0") != "0" and
               field(mine, "state") == "running"):
        if procs[1].poll() is not None or time.monotonic() - t0 > 60 + 8 * runlib.SECONDS:
            for p in procs:
                p.kill()
            runlib.fail_now(f"{label}: share 1 was not seen under way (exit {procs[1].poll()}, "
                            f"{field(mine, 'done')} done): too short on this machine")
        time.sleep(0.02)
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait()
    saved = int(field(mine, "done"))
    mine_tasks = len(range(1, ntasks, 3))
    check(0 < saved < mine_tasks and field(mine, "state") == "running",
          f"{label}: killed mid-run ({saved} of its {mine_tasks} tasks saved)")
    ends = [finish(procs[k]) for k in (0, 2)]
    check(all(e[0] == 0 for e in ends), f"{label}: shares 0 and 2 exit 0",
          "\n".join(e[2] for e in ends))
    unnamed(out, ["eigenvalues.npy", "eigenvectors.npy"], f"{label}, not run again yet")

    def refused(args, words, what):
        before = files(out)
        r = run(args)
        check(r.returncode == 2 and len(r.stderr.splitlines()) == 1 and words in r.stderr,
              f"{what}: refused (exit 2, one line: {r.stderr.strip()!r})", r.stdout + r.stderr)
        check(files(out) == before, f"{what}: DIR untouched")

    other = ["-n", "50", "--vectors", "--ntasks", str(ntasks)] + one
    refused(other + ["--share", "1/3", "--continue", out], "another run",
            "a share of another run (-n 50), --continue")
    refused(other + ["--share", "1/3", "--output", out], "another run",
            "a share of another run (-n 50), --output")
    refused(base + ["--share", "1/4", "--continue", out], "shares",
            "a share of 4 into a run of 3 shares")
    # the tasks it says are saved are every share's (DIR/manifest.txt lists none yet)
    in_shares = len(range(0, ntasks, 3)) + saved + len(range(2, ntasks, 3))
    refused(base + ["--output", out], f"stopped run ({in_shares} tasks saved)",
            "one process's --output over the shares' run")
    # the same share twice: a copy that runs holds the share's lock (held here as it would)
    with open(os.path.join(mine, "lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        refused(base + ["--share", "1/3", "--continue", out], "already running",
                "the same share twice at once")
    again = start(base + ["--share", "1/3", "--continue", out])
    rc, so, se = finish(again)
    check(rc == 0, f"{label}: run again with --continue, exits 0", se)
    m = re.search(r"Processed (\d+) tasks", so)
    check(m is not None and int(m.group(1)) == mine_tasks - saved,
          f"{label}: run again, computes only the {mine_tasks - saved} of its tasks not saved",
          so)
    same_as(ref, out, label)
    parts_gone(out, label)

    # ---- some shares only, then one process's --resume
    label = "one share of 2, then --resume"
    base = ["-n", "16", "--ntasks", str(runlib.scaled(30)), "--seed", "9"] + one
    ref = os.path.join(tmp, "ref2")
    r = run(base + ["--output", ref])
    out = os.path.join(tmp, "two")
    r = run(base + ["--share", "0/2", "--output", out])
    check(r.returncode == 0, f"{label}: share 0 exits 0", r.stderr)
    unnamed(out, ["eigenvalues.npy"], label)
    r = run(["--resume", out])  # the run's flags, --ncpu 1 among them, from its manifest
    check(r.returncode == 0, f"{label}: --resume exits 0", r.stderr)
    same_as(ref, out, label)
    parts_gone(out, label)

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
