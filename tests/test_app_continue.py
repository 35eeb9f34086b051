#!/usr/bin/python3
"""dusk-eigh --continue DIR, the one line of a job script that may be stopped and run again
(a requeued Slurm job), without Slurm: in each of the four states DIR can be in
- new (missing, or an empty directory): a run starts, as with --output DIR;
- this same run, stopped (SIGINT once under way, sized from this machine by tests/runlib.py):
  the stop says to run the same command again (not --resume), and that command goes on, as
  with --resume DIR, into outputs byte-identical to an uninterrupted run;
- this same run, finished: exit 0, one line on stdout saying so, nothing recomputed or touched;
- another run's outputs (another seed, task count, --vectors, format; a damaged manifest):
  exit 2, one line on stderr, nothing on stdout, DIR untouched;
and --continue with --output, --resume or --overwrite is refused (exit 2, one line).
Usage: test_app_continue.py PATH/TO/dusk-eigh"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import runlib

exe = sys.argv[1]
failures = []


def check(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print("    " + detail.strip().replace("\n", "\n    "))
    return cond


def run(args):
    return subprocess.run([exe] + args, capture_output=True, text=True, timeout=600)


def snapshot(out):
    """Every file of OUT with its bytes and modification time."""
    found = {}
    for root, _, files in os.walk(out):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, out)] = (f.read(), os.stat(path).st_mtime_ns)
    return found


def refused(args, out, words, label):
    """Exit 2, one stderr line containing `words`, empty stdout, OUT as it was."""
    before = snapshot(out)
    r = run(args)
    lines = r.stderr.splitlines()
    check(r.returncode == 2 and len(lines) == 1 and words in r.stderr and r.stdout == "",
          f"{label}: exit 2, one line ({r.returncode}: {r.stderr.strip()!r})",
          r.stdout + r.stderr)
    check(snapshot(out) == before, f"{label}: DIR untouched")


# the same run, uninterrupted, sized to compute for about DUSK_TEST_SECONDS (5 s) here with
# one worker, so that a SIGINT finds it under way
n = 120


def cmd_for(t):
    return [exe, "-n", str(n), "--ntasks", str(t), "--ncpu", "1", "--no-progress", "--vectors"]


with tempfile.TemporaryDirectory(prefix="dusk-continue-") as tmp:
    ref_dir = os.path.join(tmp, "ref")
    t, _, _ = runlib.sized_reference(cmd_for, ref_dir, 20, 40, 20000)
    names = ("eigenvalues.npy", "eigenvectors.npy")
    ref = {name: open(os.path.join(ref_dir, name), "rb").read() for name in names}
    args = ["-n", str(n), "--ntasks", str(t), "--ncpu", "1", "--no-progress", "--vectors"]

    def same_as_reference(out, label):
        for name in names:
            path = os.path.join(out, name)
            check(os.path.exists(path) and open(path, "rb").read() == ref[name],
                  f"{label}: {name} byte-identical to the uninterrupted run")
        check(not any(f.endswith(".partial") for f in os.listdir(out)),
              f"{label}: no .partial file left")

    # ---- new: a missing directory, and an empty one
    out = os.path.join(tmp, "new")
    r = run(args + ["--continue", out])
    check(r.returncode == 0 and "Processed" in r.stdout,
          f"new (missing DIR): a run starts and finishes ({r.returncode})", r.stdout + r.stderr)
    same_as_reference(out, "new (missing DIR)")
    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    r = run(["-n", "20", "--ntasks", "3", "--continue", empty])
    check(r.returncode == 0 and os.path.exists(os.path.join(empty, "eigenvalues.npy")),
          f"new (empty DIR): a run starts and finishes ({r.returncode})", r.stdout + r.stderr)

    # ---- the same run, stopped once under way, then the same command again
    out = os.path.join(tmp, "stopped")
    p = subprocess.Popen([exe] + args + ["--continue", out], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    runlib.wait_under_way(p, out, "--continue, to stop")
    p.send_signal(signal.SIGINT)
    so, se = p.communicate(timeout=600)
    check(p.returncode == 130 and "stopped:" in se, f"stopped by SIGINT: exit 130 ({p.returncode})",
          so + se)
    hints = [line for line in se.splitlines() if "command again" in line]
    check(len(hints) == 1 and hints[0].startswith(
        "dusk-eigh: to go on, run the same command again (a job script's line unchanged): ") and
          hints[0].endswith(" ".join(args) + " --continue " + os.path.abspath(out)) and
          "--resume" not in se,
          "stopped: the hint says to run the same --continue command again, not --resume", se)
    state = runlib.manifest_fields(os.path.join(out, "manifest.txt"))
    check(state.get("state") == "interrupted" and 0 < int(state.get("done", 0)) < t,
          f"stopped mid-run ({state.get('done')} of {t} done)")
    # ---- that manifest cut short (copied in part, a damaged disk): in its args line, in its
    # ids line, before its end line: refused as damaged (exit 2, one line), never read in part
    whole = open(os.path.join(out, "manifest.txt"), "rb").read()
    cuts = [whole.index(b"\nargs ") + 12, whole.index(b"\nids ") + 6, len(whole) - 4,
            len(whole) - 1]
    for k, cut in enumerate(cuts):
        part = os.path.join(tmp, f"cut-{k}")
        shutil.copytree(out, part)
        with open(os.path.join(part, "manifest.txt"), "wb") as f:
            f.write(whole[:cut])
        for flag in ("--continue", "--resume"):
            refused(args + [flag, part] if flag == "--continue" else [flag, part], part,
                    "damaged", f"manifest cut at byte {cut}, {flag}")
    r = run(args + ["--continue", out])
    check(r.returncode == 0 and f"resuming {out}: {state.get('done')} of {t}" in r.stdout,
          f"same run, stopped: --continue resumes it ({r.returncode})", r.stdout + r.stderr)
    check(f", {state.get('done')} more done before" in r.stdout,
          "same run, stopped: only the tasks not done are computed", r.stdout)
    same_as_reference(out, "same run, stopped, continued")

    # ---- the same run, finished: nothing to do, nothing touched
    before = snapshot(out)
    r = run(args + ["--continue", out])
    check(r.returncode == 0 and r.stdout.splitlines() ==
          [f"dusk-eigh: --continue {out}: this run is finished ({t} of {t} done): nothing to do"]
          and r.stderr == "",
          f"same run, finished: exit 0, one line saying so ({r.returncode})", r.stdout + r.stderr)
    check(snapshot(out) == before, "same run, finished: DIR untouched")
    r = run(args + ["-q", "--continue", out])
    check(r.returncode == 0 and r.stdout == "" and r.stderr == "",
          "same run, finished, -q: exit 0, silent", r.stdout + r.stderr)

    # ---- another run's outputs: refused, untouched
    refused(["-n", str(n), "--ntasks", str(t), "--seed", "1", "--vectors", "--continue", out],
            out, "holds the outputs of another run (its parameters:", "another seed")
    refused(["-n", str(n), "--ntasks", str(t + 1), "--vectors", "--continue", out], out,
            "holds the outputs of another run", "another task count")
    refused(["-n", str(n), "--ntasks", str(t), "--continue", out], out,
            "holds the outputs of another run", "without --vectors")
    if "without HDF5" not in run(["--format", "h5", "--help"]).stderr:
        refused(args + ["--format", "h5", "--continue", out], out, "written as npy, not h5",
                "another format")
    damaged = os.path.join(tmp, "damaged")
    os.mkdir(damaged)
    with open(os.path.join(damaged, "manifest.txt"), "w") as f:
        f.write("not a manifest\n")
    refused(args + ["--continue", damaged], damaged, "is not a dusk manifest", "damaged manifest")

    # ---- --continue takes the place of --output, --resume, --overwrite
    for flag in (["--output", out], ["--resume", out], ["--overwrite"]):
        refused(args + ["--continue", out] + flag, out,
                f"--continue DIR takes the place of {flag[0]}", f"--continue with {flag[0]}")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
