#!/usr/bin/python3
"""Stopping dusk-eigh, and going on: the resume command it prints names the program and the
directories by absolute paths, and works pasted into a shell in another directory; a second
signal quits at once and prints that command too; `timeout -s INT` (which signals the process
and its group, twice at once) is one graceful stop; the progress bar at a stop shows what was
saved, as the stop message does; a disk that fills up mid-run stops the run with a message
that claims only what the manifest on disk lists, and the run resumes to the same bytes once
there is room.
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
    return dict(l.rstrip("\n").split(" ", 1) for l in open(os.path.join(out, "manifest.txt")))


def wait_for(path, words, seconds=120):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if os.path.exists(path) and words in open(path, errors="replace").read():
            return True
        time.sleep(0.05)
    return False


ARGS = ["-n", "200", "--ntasks", "300", "--vectors", "--seed", "9", "--no-progress"]
with tempfile.TemporaryDirectory() as tmp:
    ref = os.path.join(tmp, "ref")
    r = subprocess.run([exe] + ARGS + ["--output", ref, "-q"], capture_output=True, text=True)
    check(r.returncode == 0, "reference run")
    want = {f: read(os.path.join(ref, f)) for f in ("eigenvalues.npy", "eigenvectors.npy")}

    # ---- Ctrl-C, from a directory given relatively; the hint pasted elsewhere works
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    p = subprocess.Popen([os.path.relpath(exe, work)] + ARGS + ["--output", "rel/out", "--progress"],
                         cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=240)
    hint = [l for l in err.splitlines() if "to resume:" in l]
    if p.returncode == 130 and len(hint) == 1:
        cmd = shlex.split(hint[0].split("to resume: ", 1)[1])
        out = os.path.join(work, "rel", "out")
        check(cmd[0] == exe and cmd[-1] == out and cmd[-2] == "--resume",
              f"the hint names the program and the directory by absolute paths: {cmd}")
        # the bar's last count is what was saved, as the stop message says
        counts = re.findall(r"\| (\d+)/300 \[", err)
        saved = re.search(r"stopped: (\d+) of 300 tasks done and saved", err)
        check(saved is not None and counts and int(counts[-1]) == int(saved.group(1)) ==
              int(manifest(out)["done"]),
              f"the bar at the stop ({counts[-1:] }), the message ({saved and saved.group(1)}) "
              f"and the manifest ({manifest(out)['done']}) agree")
        r = subprocess.run(cmd, cwd="/", capture_output=True, text=True, timeout=240)
        check(r.returncode == 0 and all(read(os.path.join(out, f)) == v for f, v in want.items()),
              f"the hint, run from /, resumes to the same bytes ({r.returncode}: {r.stderr.strip()[-200:]})")
    else:
        check(False, f"Ctrl-C: exit {p.returncode}, {hint}")

    # ---- a second signal: at once, with the hint
    out = os.path.join(tmp, "twice")
    p = subprocess.Popen([exe, "-n", "1500", "--ntasks", "8", "--vectors", "--no-progress",
                          "--output", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1.0)
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
        print(f"note: the run had stopped before the second signal ({p.returncode})")

    # ---- timeout -s INT: two signals at once are one graceful stop
    if shutil.which("timeout"):
        out = os.path.join(tmp, "timeout")
        log = os.path.join(tmp, "timeout.err")
        with open(log, "w") as f:
            subprocess.run(["timeout", "-s", "INT", "1", exe] + ARGS + ["--output", out],
                           stdout=subprocess.DEVNULL, stderr=f, timeout=240)
        # timeout may return before the program has finished stopping
        done = wait_for(log, "to resume:")
        err = open(log).read()
        check(done and err.count("stopping:") == 1 and "quit at once;" not in err and
              "stopped:" in err, f"timeout -s INT: one graceful stop ({done}, {err.count('stopping:')}: {err.strip()!r})")
        wait_for(os.path.join(out, "manifest.txt"), "state interrupted")
        time.sleep(0.5)

    # ---- a full disk mid-run: the message claims what the manifest on disk lists
    unshare = shutil.which("unshare")
    if unshare and os.getuid() == 0:
        script = f"""
set -e
d={shlex.quote(tmp)}/disk
mkdir -p "$d"
mount -t tmpfs -o size=200m tmpfs "$d"
{shlex.quote(exe)} -n 300 --ntasks 240 --vectors --seed 3 --no-progress --output "$d/out" >"$d/../full.out" 2>"$d/../full.err" &
pid=$!
# once the manifest lists some items (it is saved each second), leave room for
# about 14 more of the 240 items (720 KB each; the outputs are sparse files):
# the run meets the full disk mid-run however fast the machine is
while [ ! -s "$d/out/manifest.txt" ] || ! grep -q '^done [1-9]' "$d/out/manifest.txt"; do
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
done
avail=$(df -k --output=avail "$d" | tail -n 1)
dd if=/dev/zero of="$d/filler" bs=1M count=$(( avail / 1024 - 10 )) 2>/dev/null || true
set +e
wait $pid
echo "rc=$?" >"$d/../full.rc"
cat "$d/out/manifest.txt" >"$d/../full.manifest"
rm -f "$d/filler"
{shlex.quote(exe)} --resume "$d/out" -q --no-progress >"$d/../resume.out" 2>"$d/../resume.err"
echo "rc=$?" >"$d/../resume.rc"
cp "$d/out/eigenvalues.npy" "$d/out/eigenvectors.npy" "$d/.." 2>/dev/null
umount "$d"
"""
        r = subprocess.run([unshare, "-m", "sh", "-c", script], capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0 and "mount" in r.stderr:
            print(f"note: no tmpfs could be mounted here ({r.stderr.strip()}): the full disk not checked")
        else:
            rc = open(os.path.join(tmp, "full.rc")).read().strip()
            err = open(os.path.join(tmp, "full.err")).read()
            m = dict(l.rstrip("\n").split(" ", 1) for l in open(os.path.join(tmp, "full.manifest")))
            said = re.search(r"stopped: (\d+) of 240 tasks done and saved", err)
            check(rc == "rc=1" and "No space left" in err and said is not None and
                  said.group(1) == m["done"],
                  f"a full disk: exit 1, and the stop message claims what the manifest lists "
                  f"({rc}; said {said and said.group(1)}, manifest {m.get('done')}: {err.strip()!r})")
            rref = os.path.join(tmp, "ref3")
            subprocess.run([exe, "-n", "300", "--ntasks", "240", "--vectors", "--seed", "3", "-q",
                            "--output", rref], check=True, timeout=300)
            check(open(os.path.join(tmp, "resume.rc")).read().strip() == "rc=0" and
                  all(read(os.path.join(tmp, f)) == read(os.path.join(rref, f))
                      for f in ("eigenvalues.npy", "eigenvectors.npy")),
                  f"resumed with room again: the same bytes ({open(os.path.join(tmp, 'resume.err')).read().strip()})")
    else:
        print("note: not root or no unshare: the full disk not checked")

if fails:
    print(f"{len(fails)} failed")
    sys.exit(1)
print("all signal checks passed")
