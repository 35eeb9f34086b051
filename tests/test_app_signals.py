#!/usr/bin/python3
"""Stopping dusk-eigh, and going on: the resume command it prints names the program and the
directories by absolute paths, and works pasted into a shell in another directory; a second
signal quits at once and prints that command too; `timeout -s INT` (which signals the process
and its group, twice at once) is one graceful stop; the progress bar at a stop shows what was
saved, as the stop message does; a disk that fills up mid-run stops the run with a message
that claims only what the manifest on disk lists, and the run resumes to the same bytes once
there is room (one process, and a share of a cyclic distribution, whose rows lie apart).
Every run here that is signalled is sized from this machine (tests/runlib.py) and signalled
once its manifest shows it under way; one that ended first fails the test with the reason.
Usage: test_app_signals.py PATH/TO/dusk-eigh"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import runlib

exe = os.path.abspath(sys.argv[1])
fails = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def manifest(out):
    return runlib.manifest_fields(os.path.join(out, "manifest.txt"))


def args_for(t):  # T tasks of n = 200, a few seconds of work here
    return ["-n", "200", "--ntasks", str(t), "--vectors", "--seed", "9", "--no-progress"]


with tempfile.TemporaryDirectory() as tmp:
    ref = os.path.join(tmp, "ref")
    T, _, r = runlib.sized_reference(lambda t: [exe] + args_for(t) + ["-q"], ref, 30, 50, 4000)
    check(r.returncode == 0, "reference run")
    ARGS = args_for(T)
    want = {f: read(os.path.join(ref, f)) for f in ("eigenvalues.npy", "eigenvectors.npy")}

    # ---- Ctrl-C, from a directory given relatively; the hint pasted elsewhere works
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    out = os.path.join(work, "rel", "out")
    with open(os.path.join(tmp, "ctrl-c.err"), "w+") as errf:
        p = subprocess.Popen([os.path.relpath(exe, work)] + ARGS + ["--output", "rel/out", "--progress"],
                             cwd=work, stdout=subprocess.DEVNULL, stderr=errf)
        runlib.wait_under_way(p, out, "Ctrl-C")
        p.send_signal(signal.SIGINT)
        p.wait(timeout=240)
        errf.seek(0)
        err = errf.read()
    hint = [l for l in err.splitlines() if "to resume:" in l]
    if p.returncode == 130 and len(hint) == 1:
        cmd = shlex.split(hint[0].split("to resume: ", 1)[1])
        check(cmd[0] == exe and cmd[-1] == out and cmd[-2] == "--resume",
              f"the hint names the program and the directory by absolute paths: {cmd}")
        # the bar's last count is what was saved, as the stop message says
        counts = re.findall(rf"\| (\d+)/{T} \[", err)
        saved = re.search(rf"stopped: (\d+) of {T} tasks done and saved", err)
        check(saved is not None and counts and int(counts[-1]) == int(saved.group(1)) ==
              int(manifest(out)["done"]),
              f"the bar at the stop ({counts[-1:] }), the message ({saved and saved.group(1)}) "
              f"and the manifest ({manifest(out)['done']}) agree")
        r = subprocess.run(cmd, cwd="/", capture_output=True, text=True, timeout=240)
        check(r.returncode == 0 and all(read(os.path.join(out, f)) == v for f, v in want.items()),
              f"the hint, run from /, resumes to the same bytes ({r.returncode}: {r.stderr.strip()[-200:]})")
    else:
        check(False, f"Ctrl-C: exit {p.returncode}, {hint}")

    # ---- a second signal: at once, with the hint. The graceful stop waits for the running
    #      tasks: they are large (about 3 s each here), and the first signal comes as soon as
    #      the manifest (saved each second) lists one done: the tasks then running have
    #      seconds left, and the stop is still going when the second signal comes
    n = runlib.size_order(lambda n: [exe, "-n", str(n), "--ntasks", "1", "--vectors", "-q",
                                     "--no-progress"], 500, 3.0, 6000)
    out = os.path.join(tmp, "twice")
    p = subprocess.Popen([exe, "-n", str(n), "--ntasks", "8", "--vectors", "--no-progress",
                          "--output", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    runlib.wait_under_way(p, out, "two signals")
    p.send_signal(signal.SIGINT)
    first = ""
    while p.poll() is None and "stopping:" not in first:
        first += p.stderr.readline()
    time.sleep(0.05)  # past the 20 ms in which two count as one, before the stop ends
    p.send_signal(signal.SIGINT)
    _, rest = p.communicate(timeout=240)
    err = first + rest
    if p.returncode == 130 and "stopped:" not in err:
        check("quit at once; to resume: " + exe in err and "--resume " + out in err,
              f"the second signal prints the resume command ({err.strip()!r})")
    else:
        check(False, f"two signals: the graceful stop had ended before the second signal "
                     f"({p.returncode}; tasks of n = {n}): {err.strip()!r}")

    # ---- timeout -s INT: two signals at once are one graceful stop. GNU timeout acts on
    #      SIGALRM as when its time runs out: sent once the run is under way
    if shutil.which("timeout"):
        out = os.path.join(tmp, "timeout")
        log = os.path.join(tmp, "timeout.err")
        with open(log, "w") as f:
            p = subprocess.Popen(["timeout", "-s", "INT", "600", exe] + ARGS + ["--output", out],
                                 stdout=subprocess.DEVNULL, stderr=f)
        runlib.wait_under_way(p, out, "timeout -s INT")
        child = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
        p.send_signal(signal.SIGALRM)
        rc = p.wait(timeout=240)
        # timeout waits for the program; were it gone first, its program ends by itself
        for pid in map(int, child.stdout.split()):
            end = time.monotonic() + 240
            while runlib.running(pid) and time.monotonic() < end:
                time.sleep(0.05)
        err = open(log).read()
        done = "to resume:" in err
        check(rc == 124 and done and err.count("stopping:") == 1 and "quit at once;" not in err and
              "stopped:" in err, f"timeout -s INT: one graceful stop (timeout exits {rc}, "
              f"{done}, {err.count('stopping:')}: {err.strip()!r})")

    # ---- a full disk mid-run: the message claims what the manifest on disk lists. Once as
    #      one process, whose rows are consecutive; once as share 0 of 2 with values only,
    #      where the disk fills with a cyclic distribution's rows (every other item's
    #      eigenvalues, written through a mapping of the file, whose blocks are allocated
    #      first: a full disk is ENOSPC, never SIGBUS), then resumed by one process, which does
    #      the other share's items too
    unshare = shutil.which("unshare")
    if unshare and os.getuid() == 0:
        rref = os.path.join(tmp, "ref3")
        T3, _, _ = runlib.sized_reference(
            lambda t: [exe, "-n", "300", "--ntasks", str(t), "--vectors", "--seed", "3", "-q",
                       "--no-progress"], rref, 20, 60, 2000)
        # room for every output (sparse files), and more: the filler takes what is left
        mb = T3 * (300 * 300 + 300) * 8 // 2**20 + 64
        # values only: 4 x the tasks, about as long as with vectors for half of them (a share)
        vref = os.path.join(tmp, "ref3v")
        r = subprocess.run([exe, "-n", "300", "--ntasks", str(4 * T3), "--values-only", "--seed",
                            "3", "-q", "--no-progress", "--output", vref], capture_output=True,
                           text=True, timeout=600)
        check(r.returncode == 0, f"the values-only reference run: exit 0 ({r.stderr.strip()})")
        # label, flags, tasks, manifest (a share keeps its own, in DIR/.share-K/, until the
        # last share ends), KB left once the run is under way (14 items with vectors, 720 KB
        # each; 14 pages of eigenvalues), outputs, reference. --chunk 8: 8 items a task, as
        # tiny tasks' chunks hold many, so that a share's rows go 8 at a time (through the
        # mapping); a task of n = 300 alone would be one row, one pwrite
        for label, extra, ntasks, man, leave, outs, ref in (
                ("a full disk", "--vectors", T3, "manifest.txt", 10240,
                 ("eigenvalues.npy", "eigenvectors.npy"), rref),
                ("a full disk, share 0 of 2 (cyclic), values only",
                 "--values-only --share 0/2 --chunk 8", 4 * T3, ".share-0/manifest.txt", 56,
                 ("eigenvalues.npy",), vref)):
            w = os.path.join(tmp, "full-share" if "share" in extra else "full")
            os.makedirs(w)
            script = f"""
set -e
d={shlex.quote(w)}/disk
mkdir -p "$d"
mount -t tmpfs -o size={mb}m tmpfs "$d"
{shlex.quote(exe)} -n 300 --ntasks {ntasks} --seed 3 --no-progress {extra} --output "$d/out" >"$d/../full.out" 2>"$d/../full.err" &
pid=$!
m="$d/out/{man}"
# once the manifest lists some items (it is saved each second) and the run goes on, leave
# room for about 14 more of the {ntasks} items (the outputs are sparse files): the run meets
# the full disk mid-run however fast the machine is
while [ ! -s "$m" ] || ! grep -q '^done [1-9]' "$m" || grep -q '^state finished' "$m"; do
    kill -0 $pid 2>/dev/null || {{ echo "the run ended before its manifest listed an item" >"$d/../full.early"; break; }}
    sleep 0.01
done
avail=$(df -k --output=avail "$d" | tail -n 1)
fill=$(( avail - {leave} ))
dd if=/dev/zero of="$d/filler" bs=1M count=$(( fill / 1024 )) 2>/dev/null || true
dd if=/dev/zero of="$d/filler" bs=4k count=$(( fill % 1024 / 4 )) oflag=append conv=notrunc 2>/dev/null || true
set +e
wait $pid
echo "rc=$?" >"$d/../full.rc"
cat "$m" >"$d/../full.manifest"
rm -f "$d/filler"
{shlex.quote(exe)} --resume "$d/out" -q --no-progress >"$d/../resume.out" 2>"$d/../resume.err"
echo "rc=$?" >"$d/../resume.rc"
cp "$d"/out/*.npy "$d/.." 2>/dev/null
umount "$d"
"""
            r = subprocess.run([unshare, "-m", "sh", "-c", script], capture_output=True,
                               text=True, timeout=600)
            if r.returncode != 0 and "mount" in r.stderr:
                print(f"note: no tmpfs could be mounted here ({r.stderr.strip()}): the full disk "
                      f"not checked")
                break
            if os.path.exists(os.path.join(w, "full.early")):
                check(False, f"{label}: the run ({ntasks} tasks) ended before its manifest listed "
                             f"an item: too short on this machine to meet the full disk mid-run")
                continue
            rc = open(os.path.join(w, "full.rc")).read().strip()
            err = open(os.path.join(w, "full.err")).read()
            m = runlib.manifest_fields(os.path.join(w, "full.manifest"))
            said = re.search(rf"stopped: (\d+) of {ntasks} tasks done and saved", err)
            check(rc == "rc=1" and "No space left" in err and said is not None and
                  said.group(1) == m["done"],
                  f"{label}: exit 1, and the stop message claims what the manifest lists "
                  f"({rc}; said {said and said.group(1)}, manifest {m.get('done')}: "
                  f"{err.strip()!r})")
            check(open(os.path.join(w, "resume.rc")).read().strip() == "rc=0" and
                  all(read(os.path.join(w, f)) == read(os.path.join(ref, f)) for f in outs),
                  f"{label}: resumed with room again, the same bytes "
                  f"({open(os.path.join(w, 'resume.err')).read().strip()})")
    else:
        print("note: not root or no unshare: the full disk not checked")

if fails:
    print(f"{len(fails)} failed")
    sys.exit(1)
print("all signal checks passed")
