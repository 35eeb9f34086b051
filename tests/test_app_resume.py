#!/usr/bin/python3
"""Nothing lost: dusk-eigh stopped by SIGKILL at random points, by SIGINT or SIGTERM, or with
failed tasks, resumes with --resume and ends with outputs byte-identical to an uninterrupted
run; a stopped run never leaves a file under its final name; a resume with other parameters
is refused.
The runs are sized from this machine (tests/runlib.py): about 5 s of work; the ones stopped by
a signal get it once their manifest shows them under way, and one that ended first fails the
test with the reason.
Usage: test_app_resume.py PATH/TO/dusk-eigh"""
import json
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
FINAL = ("eigenvalues.npy", "eigenvectors.npy")


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(args, env=None):
    return subprocess.run([exe] + args, capture_output=True, text=True, timeout=240,
                          env=dict(os.environ, **(env or {})))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def manifest(out):
    return runlib.manifest_fields(os.path.join(out, "manifest.txt"))


def same_as_reference(out, label):
    for name in FINAL:
        path = os.path.join(out, name)
        ok = os.path.exists(path) and read(path) == ref[name]
        check(ok, f"{label}: {name} is byte-identical to the uninterrupted run")
    check(not any(f.endswith(".partial") for f in os.listdir(out)), f"{label}: no .partial left")


def stopped_state_is_honest(out, label):
    """After a stop, a file under its final name must be complete, and the manifest true."""
    if not os.path.exists(os.path.join(out, "manifest.txt")):
        return  # killed before the manifest was first written: nothing is claimed
    m = manifest(out)
    for name in FINAL:
        if os.path.exists(os.path.join(out, name)):
            check(m["state"] == "finished" and read(os.path.join(out, name)) == ref[name],
                  f"{label}: {name} under its final name only when complete")
    # every task the manifest lists as done has its final rows already written
    ids = runlib.manifest_ids(m["ids"])
    check(len(ids) == int(m["done"]), f"{label}: manifest count matches its ids")
    name = "eigenvalues.npy"
    path = os.path.join(out, name)
    data = read(path if os.path.exists(path) else path + ".partial")
    header = len(data) - T * N * 8
    row = N * 8
    bad = [i for i in ids
           if data[header + i * row:header + (i + 1) * row] !=
           ref[name][header + i * row:header + (i + 1) * row]]
    check(not bad, f"{label}: tasks listed as done hold their results (wrong: {bad[:5]})")


N = 200  # the order: the results of a few seconds of work are not too large to compare


def args_for(t):
    return ["-n", str(N), "--ntasks", str(t), "--vectors", "--seed", "11", "-q", "--no-progress"]


with tempfile.TemporaryDirectory() as tmp:
    refdir = os.path.join(tmp, "ref")
    T, duration, r = runlib.sized_reference(lambda t: [exe] + args_for(t), refdir, 30, 60,
                                            10000)
    ARGS = args_for(T)
    check(r.returncode == 0, f"reference run exits 0 ({r.returncode}: {r.stderr.strip()})")
    ref = {name: read(os.path.join(refdir, name)) for name in FINAL}
    check(manifest(refdir)["state"] == "finished" and manifest(refdir)["done"] == str(T),
          f"the reference run's manifest says finished, {T} done")

    # ---- SIGKILL at random points, resumed (and killed again while resuming)
    rng = random.Random(int(os.environ.get("DUSK_TEST_SEED", "0")) or None)
    mid_run = 0  # kills that came with some tasks saved, and not all
    for k in range(6):
        out = os.path.join(tmp, f"kill{k}")
        args = ARGS + ["--output", out]
        kills = 0
        while True:
            p = subprocess.Popen([exe] + args, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            if kills < 2:
                # in every other case, the first kill once the run saved some tasks
                runlib.wait_to_kill(rng, p, out, duration * 1.1, k % 2 == 0 and kills == 0,
                                    f"kill {k}")
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    kills += 1
            rc = p.wait(timeout=240)
            mid_run += rc == -signal.SIGKILL and runlib.landed_mid_run(out, T)
            stopped_state_is_honest(out, f"kill {k}")
            if rc == 0:
                break
            check(rc == -signal.SIGKILL, f"kill {k}: killed run ended by SIGKILL ({rc})")
            if rc != -signal.SIGKILL:
                break
            if os.path.exists(os.path.join(out, "manifest.txt")):
                args = ARGS + ["--resume", out]
            # else killed before the manifest existed: start again
        same_as_reference(out, f"kill {k} ({kills} kills) + resume")
        shutil.rmtree(out)  # the sized runs are large on a fast machine
    check(mid_run >= 1, f"kills came while tasks were being saved ({mid_run} times)")

    # ---- SIGINT and SIGTERM: exit 128+N, a message saying how to resume, .partial kept
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = os.path.join(tmp, f"sig{int(sig)}")
        name = signal.Signals(sig).name
        p = subprocess.Popen([exe] + ARGS + ["--output", out], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        runlib.wait_under_way(p, out, name)
        p.send_signal(sig)
        stdout, stderr = p.communicate(timeout=240)
        if p.returncode == 0:
            check(False, f"{name}: the run finished before the signal came ({T} tasks)")
            continue
        check(p.returncode == 128 + int(sig), f"{name}: exit {p.returncode}, want {128 + int(sig)}")
        check("--resume " + out in stderr and "Processed" not in stdout,
              f"{name}: says how to resume ({stderr.strip()!r})")
        check(all(os.path.exists(os.path.join(out, n + ".partial")) for n in FINAL) and
              not any(os.path.exists(os.path.join(out, n)) for n in FINAL),
              f"{name}: outputs stay .partial: {os.listdir(out)}")
        check(manifest(out)["state"] == "interrupted", f"{name}: manifest says interrupted")
        stopped_state_is_honest(out, name)
        r = run(ARGS + ["--resume", out])
        check(r.returncode == 0, f"{name}: resume exits 0 ({r.stderr.strip()})")
        same_as_reference(out, f"{name} + resume")
        shutil.rmtree(out)

    # ---- a second Ctrl-C quits at once, without waiting for the running tasks (large ones
    #      here, about 3 s each, and the first signal as soon as the manifest lists one done:
    #      the graceful stop would take a while)
    out = os.path.join(tmp, "twice")
    n = runlib.size_order(lambda n: [exe, "-n", str(n), "--ntasks", "1", "--vectors", "-q",
                                     "--no-progress"], 500, 3.0, 6000)
    for attempt in range(3):  # larger while the machine outruns the sizing (work ~ n^3)
        big = ["-n", str(n), "--ntasks", "8", "--vectors", "-q", "--no-progress", "--output",
               out]
        p = subprocess.Popen([exe] + big, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        if runlib.wait_under_way(p, out, "two Ctrl-C", retry=attempt < 2) is not None:
            break
        p.stderr.close()
        shutil.rmtree(out)
        n = min(6000, int(n * 1.6))
    p.send_signal(signal.SIGINT)
    # the second only once the first was handled, and not within the few milliseconds in
    # which two signals count as one (timeout -s INT sends two at once)
    first = ""
    while p.poll() is None and "stopping:" not in first:
        first += p.stderr.readline()
    time.sleep(0.05)  # past the 20 ms in which two count as one, before the stop ends
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=240)
    stderr = first + stderr
    rc = p.returncode
    # The graceful stop may have ended before the second signal: then it exited 130 itself, or
    # the signal came after dusk_batch_free() put the default handler back (killed by SIGINT).
    # Either way it is the graceful stop's state that must be true.
    check(rc in (130, -signal.SIGINT), f"two Ctrl-C: exit {rc}")
    if rc in (130, -signal.SIGINT):
        if rc == -signal.SIGINT or "stopped:" in stderr:
            print(f"note: the graceful stop had ended before the second signal ({rc})")
            check("stopped:" in stderr and manifest(out)["state"] == "interrupted",
                  f"two Ctrl-C, stopped first: the stop is complete ({stderr.strip()!r})")
        else:
            # at once: the graceful path's closing lines never came, the manifest stays true
            check("stopping:" in stderr, f"two Ctrl-C: quit at once ({stderr.strip()!r})")
        check(not any(os.path.exists(os.path.join(out, n)) for n in FINAL),
              "two Ctrl-C: nothing under a final name")
        r = run(big[:-2] + ["--resume", out])
        check(r.returncode == 0, f"two Ctrl-C + resume: exit {r.returncode} ({r.stderr.strip()})")

    # ---- failed tasks: exit 3, NaN rows, failures.json; a resume computes only those
    out = os.path.join(tmp, "failed")
    r = run(ARGS + ["--output", out], env={"DUSK_FAIL_TASKS": f"eigh-5,gram-17,gen-{T - 1}"})
    check(r.returncode == 3, f"failed tasks: exit 3 ({r.returncode}: {r.stderr.strip()})")
    check("3 FAILED" in r.stdout and "failures.json" in r.stdout, f"summary: {r.stdout!r}")
    fails = json.load(open(os.path.join(out, "failures.json")))["failures"]
    got = sorted((f["task"], f["step"]) for f in fails)
    check(got == [(5, "eigh"), (17, "gram"), (T - 1, "gen")], f"failures.json lists {got}")
    check(all("injected" in f["reason"] for f in fails), "failures.json gives the reason")
    m = manifest(out)
    check(m["state"] == "finished" and m["done"] == str(T - 3), f"manifest: {m['state']} {m['done']}")
    r = run(ARGS + ["--resume", out])
    check(r.returncode == 0 and "Processed 3 tasks" in r.stdout,
          f"resume of failed tasks: exit {r.returncode}, {r.stdout.strip()!r}")
    check(not os.path.exists(os.path.join(out, "failures.json")), "failures.json gone once fixed")
    same_as_reference(out, "failed + resume")

    # ---- refusals
    def refused(args, words, code):
        r = run(args)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == code and len(lines) == 1 and words in lines[0],
              f"refused {args}: exit {r.returncode}, {lines}")

    refused(["-n", str(N + 1), "--ntasks", str(T), "--vectors", "--seed", "11", "--resume", refdir],
            "other parameters", 2)
    # the directory alone resumes: the run's flags are in its manifest; flags given must match
    r = run(["--resume", refdir, "-q"])
    check(r.returncode == 0 and "Nothing to do" in r.stdout,
          f"--resume DIR alone: exit {r.returncode}, {r.stdout.strip()!r} {r.stderr.strip()!r}")
    refused(["-n", str(N), "--ntasks", str(T), "--seed", "12", "--resume", refdir],
            "other parameters", 2)
    refused(["--values-only", "--resume", refdir], "exclude each other", 2)
    refused(["-n", str(N), "--ntasks", str(T), "--seed", "11", "--resume", os.path.join(tmp, "no")],
            "no run to resume there", 2)
    refused(["--output", refdir, "--resume", tmp], "different directories", 2)
    # the last step fails (a directory where eigenvectors.npy goes: the rename fails): the
    # results stay as .partial, and a resume names them
    blocked = os.path.join(tmp, "blocked")
    p = subprocess.Popen([exe] + ARGS + ["--output", blocked], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    runlib.wait_under_way(p, blocked, "a failed rename")
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=240)
    check(rc == 130, f"a failed rename: the run stopped by SIGINT exits 130 ({rc})")
    if rc == 130:
        # a .partial cut short (or grown) since the stop: refused in one line, exit 2, the
        # file as it was (zeros would otherwise come back as results)
        part = os.path.join(blocked, "eigenvalues.npy.partial")
        whole = read(part)
        for size in (len(whole) // 2, len(whole) + 8):
            with open(part, "r+b") as f:
                f.truncate(size)
            r = run(ARGS + ["--resume", blocked])
            lines = r.stderr.strip().splitlines()
            check(r.returncode == 2 and len(lines) == 1 and
                  f"eigenvalues.npy.partial is {size} bytes, its header says {len(whole)}: "
                  "damaged; start again with --overwrite" in lines[0] and
                  os.path.getsize(part) == size,
                  f"a resized .partial ({size} bytes): exit {r.returncode}, {lines}")
        with open(part, "wb") as f:
            f.write(whole)
        os.makedirs(os.path.join(blocked, "eigenvectors.npy", "x"))
        r = run(ARGS + ["--resume", blocked])
        check(r.returncode == 1 and "cannot finish writing" in r.stderr and
              os.path.exists(os.path.join(blocked, "eigenvectors.npy.partial")),
              f"a failed rename keeps the .partial file "
              f"({r.returncode}: {r.stderr.strip()}; {sorted(os.listdir(blocked))})")
        shutil.rmtree(os.path.join(blocked, "eigenvectors.npy"))
        r = run(ARGS + ["--resume", blocked])
        check(r.returncode == 0, f"the resume after it exits 0 ({r.stderr.strip()})")
        same_as_reference(blocked, "a failed rename, then resumed")
    # a damaged manifest left by rank 1 of a job under mpirun: refused, not merged or ignored
    os.makedirs(os.path.join(refdir, ".rank-1"))
    with open(os.path.join(refdir, ".rank-1", "manifest.txt"), "w") as f:
        f.write("garbage\n")
    refused(ARGS + ["--resume", refdir], "rank 1's", 2)
    shutil.rmtree(os.path.join(refdir, ".rank-1"))
    # a directory holding files of the user's, not of a dusk-eigh run: kept, and refused
    mine = os.path.join(tmp, "mine")
    os.makedirs(mine)
    for name in ("eigenvalues.npy", "failures.json"):
        with open(os.path.join(mine, name), "w") as f:
            f.write("the user's own\n")
    refused(ARGS + ["--output", mine], "is not from a dusk-eigh run", 2)
    check(all(open(os.path.join(mine, n)).read() == "the user's own\n"
              for n in ("eigenvalues.npy", "failures.json")), "the user's files are untouched")
    # a new run removes an earlier run's stale .partial files too
    stale = os.path.join(tmp, "stale")
    p = subprocess.Popen([exe] + ARGS + ["--output", stale], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    runlib.wait_under_way(p, stale, "stale .partial files")
    p.send_signal(signal.SIGINT)
    p.wait(timeout=240)
    # a new run would lose the stopped run's saved work: refused, pointing to --resume ...
    check(os.path.exists(os.path.join(stale, "eigenvalues.npy.partial")),
          f"stopped by SIGINT: eigenvalues.npy.partial kept ({p.returncode})")
    refused(["-n", "10", "--ntasks", "3", "--output", stale], "--resume " + stale, 2)
    # ... unless asked for
    r = run(["-n", "10", "--ntasks", "3", "--overwrite", "--output", stale])
    check(r.returncode == 0 and sorted(os.listdir(stale)) == [".dusk.lock", "eigenvalues.npy",
                                                               "manifest.txt"],
          f"a new run leaves no earlier .partial beside its results: {os.listdir(stale)}")
    # a run that failed between making its files and computing saved nothing: running it
    # again is not refused as a stopped run, and its resume, with its files gone (as a kill in
    # that gap leaves it), makes them. What dusk_init_check() foresees (StarPU's directory, a
    # trace directory that is a file, ...) refuses the run before its files are made
    # (test_failed_start.sh); a trace directory whose trace.json is a directory is seen only
    # once StarPU has started, after the files were made.
    blocked = os.path.join(tmp, "blocked-trace")
    os.makedirs(os.path.join(blocked, "trace.json"))
    early = os.path.join(tmp, "early")
    r = run(ARGS + ["--output", early], env={"DUSK_TRACE": blocked})
    check(r.returncode == 1 and os.path.exists(os.path.join(early, "manifest.txt")),
          f"dusk_init refused after the files were made: exit {r.returncode} "
          f"({r.stderr.strip()})")
    r = run(["-n", "10", "--ntasks", "3", "--output", early])
    check(r.returncode == 0, f"a new run where nothing was saved is not refused ({r.stderr.strip()})")
    r = run(ARGS + ["--output", os.path.join(tmp, "early2")], env={"DUSK_TRACE": blocked})
    for f in os.listdir(os.path.join(tmp, "early2")):
        if f.endswith(".partial"):
            os.unlink(os.path.join(tmp, "early2", f))
    r = run(["--resume", os.path.join(tmp, "early2")])
    check(r.returncode == 0, f"a resume with no files and nothing saved makes them ({r.stderr.strip()})")
    same_as_reference(os.path.join(tmp, "early2"), "killed before its files, resumed")
    # the resume command names the directory once, however --output was spelled
    p = subprocess.Popen([exe] + ARGS + ["--out", os.path.join(tmp, "abbrev")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runlib.wait_under_way(p, os.path.join(tmp, "abbrev"), "--out")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=240)
    hint = [line for line in err.splitlines() if "to resume:" in line]
    check(p.returncode == 130 and len(hint) == 1 and "--out " not in hint[0],
          f"the resume command drops --out: {p.returncode}, {hint}")
    # one run at a time per directory
    busy = os.path.join(tmp, "busy")
    p = subprocess.Popen([exe] + ARGS + ["--output", busy], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    runlib.wait_under_way(p, busy, "one run at a time")
    refused(ARGS + ["--output", busy], "another run is writing to " + busy, 1)
    p.wait(timeout=240)
    same_as_reference(busy, "the run that held the directory")
    # a new run into an old run's directory: the old results go first, whatever happens next
    r = run(["-n", "120", "--ntasks", "4", "--seed", "3", "--values-only", "-q", "--output", busy])
    check(r.returncode == 0 and sorted(f for f in os.listdir(busy) if not f.startswith(".")) ==
          ["eigenvalues.npy", "manifest.txt"], f"old results removed: {os.listdir(busy)}")
    # a finished run resumed: nothing to do, outputs unchanged
    r = run(ARGS + ["--resume", refdir])
    check(r.returncode == 0 and "Nothing to do" in r.stdout, f"resume of a finished run: {r.stdout!r}")
    same_as_reference(refdir, "finished run resumed")

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("all resume checks passed")
