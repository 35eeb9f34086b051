#!/usr/bin/python3
"""dusk-eigh's progress lines on a stderr that is not a terminal (a batch job's output file):
with DUSK_PROGRESS_INTERVAL small, so that it is quick, a run sized from this machine
(tests/runlib.py) writes plain lines, newline-terminated, no carriage return:
  dusk-eigh: progress: D of T tasks (P%), F failed, R tasks/s, MM:SS left
with D rising to T, P its percentage, F the failed tasks so far (DUSK_FAIL_TASKS fails one),
one line per 5% of the tasks at most when tasks finish often; a line at least every 12
intervals when none finishes (one chunk holding every task); none with --no-progress, -q or
DUSK_PROGRESS_INTERVAL=off; a malformed value refused with one line, exit 2. Under
mpirun -np 2 (skipped without mpirun), rank 0's lines count the whole job: out of every task,
counts past rank 0's share, a failure on rank 1 counted, and a last line with every task.
Usage: test_app_progress.py PATH/TO/dusk-eigh"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import runlib

exe = sys.argv[1]
failures = []
LINE = re.compile(r"^dusk-eigh: progress: (\d+) of (\d+) tasks \((\d+)%\), (\d+) failed, "
                  r"([0-9.]+) tasks/s, (\d\d:\d\d|\d+:\d\d:\d\d|\?) left$")


def check(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)
        if detail:
            print("    " + detail.strip()[-3000:].replace("\n", "\n    "))
    return cond


def run(args, out, interval="0.2", extra_env=None):
    """dusk-eigh with stderr to a file (not a terminal): (exit status, stdout, stderr's bytes)."""
    env = dict(os.environ, DUSK_PROGRESS_INTERVAL=interval, **(extra_env or {}))
    if interval is None:
        del env["DUSK_PROGRESS_INTERVAL"]
    path = os.path.join(tmp, "stderr.txt")
    with open(path, "wb") as err:
        r = subprocess.run([exe] + args + ["--output", out], stdout=subprocess.PIPE,
                           stderr=err, text=True, env=env, timeout=600)
    with open(path, "rb") as f:
        return r.returncode, r.stdout, f.read()


def progress_lines(err):
    return [line for line in err.decode().splitlines() if "progress" in line]


def cmd_for(t):
    return [exe, "-n", "120", "--ntasks", str(t), "--ncpu", "1"]


with tempfile.TemporaryDirectory(prefix="dusk-progress-") as tmp:
    # about 3 s of work with one worker, at this machine's speed now
    t = runlib.size_tasks(cmd_for, 40, 40, 20000, seconds=3.0)
    args = ["-n", "120", "--ntasks", str(t), "--ncpu", "1"]

    # ---- lines as tasks finish
    rc, out, err = run(args, os.path.join(tmp, "a"))
    lines = progress_lines(err)
    check(rc == 0, f"a run of {t} tasks exits 0 ({rc})", out + err.decode())
    check(b"\r" not in err, "no carriage return in stderr")
    check(err.endswith(b"\n") or not err, "stderr ends with a newline")
    parsed = [LINE.match(line) for line in lines]
    check(len(lines) >= 3 and all(parsed),
          f"{len(lines)} progress lines (3 or more), each as documented", err.decode())
    parsed = [m for m in parsed if m]
    counts = [int(m.group(1)) for m in parsed]
    check(all(int(m.group(2)) == t for m in parsed), f"each line counts out of {t} tasks")
    check(counts == sorted(counts) and all(0 <= c <= t for c in counts),
          "the counts rise and stay within the batch", str(counts))
    check(all(int(m.group(3)) == c * 100 // t for m, c in zip(parsed, counts)),
          "each percentage is the count's")
    check(all(m.group(4) == "0" for m in parsed), "no failure reported")
    check(len(lines) <= 21 + 2, f"at most one line per 5% of the tasks, and a few more "
          f"({len(lines)})", "\n".join(lines))
    check(all(float(m.group(5)) > 0 for m in parsed if int(m.group(1)) > 0),
          "a rate once tasks are done")
    check(re.search(rf"^Processed {t} tasks", out, re.M) is not None, "the summary on stdout",
          out)

    # ---- a failed task: counted from then on
    rc, out, err = run(args, os.path.join(tmp, "b"), extra_env={"DUSK_FAIL_TASKS": "eigh-3"})
    parsed = [LINE.match(line) for line in progress_lines(err)]
    check(rc == 3 and parsed and all(parsed) and parsed[-1].group(4) == "1",
          f"with task 3 failed: exit 3 ({rc}), the last line says 1 failed", err.decode())

    # ---- no task finishes for a while (every task in one chunk, a window that lets it be):
    # lines come anyway, every 12 intervals (0.24 s), saying 0 done; at most 400 tasks (140 MB),
    # at least 0.6 s of work here
    k = min(t, 400)
    rc, out, err = run(["-n", "120", "--ntasks", str(k), "--ncpu", "1", "--chunk", str(k),
                        "--window-mb", "4096", "-v"], os.path.join(tmp, "c"), interval="0.02")
    parsed = [LINE.match(line) for line in progress_lines(err)]
    check(rc == 0 and f"largest chunk {k} tasks" in err.decode(),
          f"one chunk of {k} tasks ({rc})", err.decode())
    check(parsed and all(parsed) and parsed[0].group(1) == "0" and
          parsed[0].group(6) == "?",
          "no task done for a while: lines all the same, saying 0 done, time left unknown",
          err.decode())

    # ---- none asked for: --no-progress, -q, off; and a value refused
    for label, extra, interval in (("--no-progress", ["--no-progress"], "0.1"),
                                   ("-q", ["-q"], "0.1"),
                                   ("DUSK_PROGRESS_INTERVAL=off", [], "off")):
        rc, out, err = run(args[:3] + ["40"] + args[4:] + extra, os.path.join(tmp, "d" + label),
                           interval=interval)
        check(rc == 0 and not progress_lines(err), f"{label}: no progress line", err.decode())
    rc, out, err = run(args, os.path.join(tmp, "e"), interval="soon")
    check(rc == 2 and err.decode().splitlines() == [
        "dusk-eigh: DUSK_PROGRESS_INTERVAL='soon': expected seconds between progress lines "
        "(0 to 86400), or off"] and out == "", f"DUSK_PROGRESS_INTERVAL=soon: exit 2, one line "
          f"({rc})", err.decode())

    # ---- under two ranks: the whole job's counts (rank 1 runs the odd tasks, eigh-5 fails)
    if shutil.which("mpirun") is None:
        print("mpirun is missing (Debian: openmpi-bin): the part under ranks is skipped")
    else:
        mpirun = ["mpirun", "--oversubscribe", "-np", "2", "-x", "DUSK_PROGRESS_INTERVAL",
                  "-x", "DUSK_FAIL_TASKS", "-x", "ASAN_OPTIONS", "-x", "STARPU_SILENT"]
        if os.geteuid() == 0:
            mpirun.append("--allow-run-as-root")
        env = dict(os.environ, DUSK_PROGRESS_INTERVAL="0.2", DUSK_FAIL_TASKS="eigh-5",
                   STARPU_SILENT="1",
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
        path = os.path.join(tmp, "stderr-ranks.txt")
        with open(path, "wb") as errf:
            # three times the tasks: rank 0 hears the other's counts every second
            t *= 3
            r = subprocess.run(mpirun + [exe, "-n", "120", "--ntasks", str(t), "--ncpu", "1",
                                         "--output", os.path.join(tmp, "r")],
                               stdout=subprocess.PIPE, stderr=errf, text=True, env=env,
                               timeout=600)
        err = open(path, "rb").read().decode()
        lines = progress_lines(err.encode())
        parsed = [LINE.match(line) for line in lines]
        check(r.returncode == 3, f"under 2 ranks, task 5 failed: exit 3 ({r.returncode})", err)
        check(len(lines) >= 3 and all(parsed),
              f"under 2 ranks: {len(lines)} progress lines (3 or more), each as documented "
              "(the whole job's, not rank 0's share)", err)
        parsed = [m for m in parsed if m]
        counts = [int(m.group(1)) for m in parsed]
        check(parsed and all(int(m.group(2)) == t for m in parsed),
              f"under 2 ranks, each line counts out of the job's {t} tasks", err)
        check(any(c > (t + 1) // 2 for c in counts[:-1]),
              f"under 2 ranks, lines before the last count past rank 0's share ({counts})")
        check(parsed and counts[-1] == t and parsed[-1].group(4) == "1",
              "under 2 ranks, the last line counts every task and rank 1's failure",
              "\n".join(lines[-3:]))

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
