"""What the tests that stop, kill or signal a run share (imported by tests/*.py; the shell
tests have tests/runlib.sh): runs sized from this machine's speed, signals sent only to a run
that is under way, and the tools that `tools/quickstart.sh test` installs required under CI.

- size_tasks(): the task count for which a run computes for about SECONDS seconds here, from
  the rate a short run of the same kind reports (a fixed count would finish before its signal
  on a faster machine, and make a slower one wait minutes).
- wait_under_way(): returns once the run's manifest lists a task done and no manifest says
  finished. A run that ended first, or showed no progress in time, fails the test at once
  with the reason: a test that cannot provoke what it checks must not pass.
- manifest_fields(), manifest_ids(): a manifest's lines as {key: value}, and its `ids`
  value as a set (every test reads manifests through them).
- missing(): a tool or module that `tools/quickstart.sh test` installs is missing: the test
  is skipped (exit 77), or fails where CI is set (.ci/run sets it).

Environment:
  DUSK_TEST_SCALE    (default 1) multiplies every fixed workload of these tests, the short
                     runs that size the others included: 0.2 is how a machine 5 times faster
                     sees them, 4 how a machine 4 times slower does.
  DUSK_TEST_SECONDS  (default 5) how long a sized run computes here. Lower, it shows the
                     margin of the waits (a machine whose load drops after the sizing run).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def _positive(name, default):
    text = os.environ.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        print(f"FAIL: {name}={text!r} is not a positive number", flush=True)
        sys.exit(2)
    return value


SCALE = _positive("DUSK_TEST_SCALE", 1.0)
SECONDS = _positive("DUSK_TEST_SECONDS", 5.0)


def scaled(count, least=1):
    """A fixed workload's `count` (tasks, items), multiplied by DUSK_TEST_SCALE."""
    return max(least, int(round(count * SCALE)))


def under_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(what, package):
    """`what` (from Debian's `package`, which tools/quickstart.sh test installs) is missing:
    fail under CI, where the test would otherwise pass unchecked, else skip (exit 77)."""
    if under_ci():
        print(f"FAIL: {what} is missing (Debian: {package}; tools/quickstart.sh test installs "
              f"it), and CI is set: not skipped", flush=True)
        sys.exit(1)
    print(f"{what} is missing (Debian: {package}): skipped", flush=True)
    sys.exit(77)


def fail_now(what):
    """Ends the test at once, failed, with one line saying why."""
    print(f"FAIL: {what}", flush=True)
    sys.exit(1)


class Checks:
    """A test's checks, each printed `ok: WHAT` or `FAIL: WHAT` (with its detail, cut to
    its end) as it is made, the test going on after a failure; finish() exits 1 if any
    failed, else 0. The pattern most test scripts here still spell out for themselves
    (a check() and a list of failures)."""

    def __init__(self):
        self.failures = []

    def __call__(self, cond, what, detail=""):
        print(("ok: " if cond else "FAIL: ") + what, flush=True)
        if not cond:
            self.failures.append(what)
            if detail:
                print("    " + detail.strip()[-2000:].replace("\n", "\n    "), flush=True)
        return cond

    def finish(self):
        if self.failures:
            print(f"{len(self.failures)} check(s) failed", flush=True)
            sys.exit(1)
        print("all checks passed", flush=True)
        sys.exit(0)


_SUMMARY = re.compile(r"^Processed (\d+) \S+ in ([0-9.]+) s", re.M)


def timed(cmd, env=None, timeout=600):
    """Runs `cmd`: (seconds it computed, from its summary line, else the wall time; the
    CompletedProcess)."""
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    wall = time.monotonic() - t0
    m = _SUMMARY.search(r.stdout)
    return (float(m.group(2)) if m else wall), r


def size_tasks(cmd_for, probe, least, most, seconds=None, env=None):
    """The task count T (least <= T <= most) for which `cmd_for(T)` (a command line; each run
    gets its own `--output DIR` appended) computes for about `seconds` (SECONDS) here: from the
    rate a run of `probe` x DUSK_TEST_SCALE tasks reports, the probe grown until it computes
    for half a second (the start-up apart)."""
    seconds = SECONDS if seconds is None else seconds
    t = min(most, scaled(probe))
    with tempfile.TemporaryDirectory() as d:
        for k in range(12):
            secs, r = timed(cmd_for(t) + ["--output", os.path.join(d, str(k))], env=env)
            if r.returncode != 0:
                fail_now(f"the run that sizes the others ({t} tasks) exits {r.returncode}: "
                         f"{r.stderr.strip()[-300:]}")
            if secs >= 0.5 or t >= most:
                break
            t = min(most, t * (8 if secs < 0.1 else 2))
    size = int(t / max(secs, 1e-3) * seconds)
    print(f"sized: {size} tasks ({t} computed in {secs:.2f} s here; {seconds:g} s wanted)",
          flush=True)
    return max(least, min(most, size))


def sized_reference(cmd_for, out, probe, least, most, seconds=None, env=None):
    """size_tasks(), then the uninterrupted run of that size into OUT, the reference the
    stopped runs are compared with; run again, larger, while it computed for less than half
    of `seconds` (SECONDS; the machine got faster since the sizing run). Returns (T, the
    reference's wall seconds, its CompletedProcess)."""
    seconds = SECONDS if seconds is None else seconds
    t = size_tasks(cmd_for, probe, least, most, seconds=seconds, env=env)
    for k in range(3):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.monotonic()
        secs, r = timed(cmd_for(t) + ["--output", out], env=env)
        wall = time.monotonic() - t0
        if r.returncode != 0:
            fail_now(f"the reference run ({t} tasks) exits {r.returncode}: "
                     f"{r.stderr.strip()[-300:]}")
        if secs >= seconds / 2 or t >= most or k == 2:
            break
        t = min(most, int(t * min(4.0, seconds / max(secs, 1e-3))))
        print(f"sized again: {t} tasks (the reference computed for {secs:.2f} s)", flush=True)
    return t, wall, r


def size_order(cmd_for, n0, seconds, most):
    """The matrix order n (at most `most`) for which the one task of `cmd_for(n)` (a command
    line; `--output DIR` appended) computes for about `seconds` here, from a run at
    n0 x DUSK_TEST_SCALE^(1/3) (eigh's work grows as n^3), n doubled until that run computes
    for 0.3 s."""
    n = min(most, max(8, int(n0 * SCALE ** (1 / 3))))
    with tempfile.TemporaryDirectory() as d:
        for k in range(8):
            secs, r = timed(cmd_for(n) + ["--output", os.path.join(d, str(k))])
            if r.returncode != 0:
                fail_now(f"the run that sizes the others (n = {n}) exits {r.returncode}: "
                         f"{r.stderr.strip()[-300:]}")
            if secs >= 0.3 or n >= most:
                break
            n = min(most, n * 2)
    size = min(most, max(n, int(n * (seconds / max(secs, 1e-3)) ** (1 / 3))))
    print(f"sized: n = {size} (one task of n = {n} computed in {secs:.2f} s here; "
          f"{seconds:g} s wanted)", flush=True)
    return size


def running(pid):
    """Whether process `pid` exists and has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def manifest_fields(path):
    """DIR/manifest.txt (or any manifest at PATH) as {key: value}: each line "key value"; a
    line without a space (such as a closing "end") is a key with an empty value. The one reader of
    manifest lines for the tests: a line-by-line `split(" ", 1)` breaks on such a line."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    return dict(line.partition(" ")[::2] for line in lines)


def manifest_ids(value):
    """A manifest's `ids` value as a set: comma-separated items "A" (one task), "A-B" (A to B)
    and "A-B:S" (A, A+S, ... up to B)."""
    ids = set()
    for part in filter(None, value.split(",")):
        span, _, step = part.partition(":")
        a, _, b = span.partition("-")
        ids.update(range(int(a), int(b or a) + 1, int(step or 1)))
    return ids


def manifests(out):
    """The fields of OUT/manifest.txt and of the other ranks' (OUT/.rank-K/manifest.txt), for
    those there now."""
    paths = [os.path.join(out, "manifest.txt")]
    try:
        paths += [os.path.join(out, d, "manifest.txt") for d in sorted(os.listdir(out))
                  if d.startswith(".rank-")]
    except FileNotFoundError:
        return []
    found = []
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            continue  # not written yet, or merged into rank 0's meanwhile
        found.append(dict(line.partition(" ")[::2] for line in lines))
    return found


def _done(fields):
    try:
        return int(fields.get("done", "0"))
    except ValueError:
        return 0


def under_way(out, ranks=1):
    """Whether the manifests in OUT show a run under way: `ranks` of them list a task done,
    and none says finished."""
    found = manifests(out)
    return (sum(_done(m) > 0 for m in found) >= ranks and
            not any(m.get("state") == "finished" for m in found))


def landed_mid_run(out, ntasks):
    """After a kill: whether the manifest on disk lists some but not all of `ntasks` tasks
    done, and does not say finished (the kill came while the run was computing)."""
    found = manifests(out)
    done = sum(_done(m) for m in found)
    return 0 < done < ntasks and not any(m.get("state") == "finished" for m in found)


def wait_under_way(proc, out, what, ranks=1, timeout=None, retry=False):
    """Waits until the run `proc` (a Popen) writes to OUT is under way (under_way(); OUT holds
    no earlier run's manifest). When it ended first, said finished, or showed no progress
    within `timeout` seconds (60 + 4 x SECONDS), the test fails at once with the reason,
    without waiting for anything more; with `retry`, a run that ended first (the machine got
    faster since it was sized) returns None instead, for the caller to run a larger one."""
    timeout = 60 + 4 * SECONDS if timeout is None else timeout
    t0 = time.monotonic()
    while True:
        rc = proc.poll()
        if rc is None and under_way(out, ranks):
            return time.monotonic() - t0
        found = manifests(out)
        if rc is not None or any(m.get("state") == "finished" for m in found):
            if rc is None:
                try:
                    rc = proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait()
            if retry:
                print(f"note: {what}: the run ended (exit {rc}) before it was seen under way, "
                      f"{time.monotonic() - t0:.1f} s after its start: running a larger one",
                      flush=True)
                return None
            fail_now(f"{what}: the run ended (exit {rc}, {[_done(m) for m in found]} done) "
                     f"before it was seen under way, {time.monotonic() - t0:.1f} s after "
                     f"its start: too short on this machine to be stopped mid-run")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            proc.wait()
            fail_now(f"{what}: no task done after {timeout:.0f} s (manifests: "
                     f"{[(m.get('state'), _done(m)) for m in found]}): killed")
        time.sleep(0.02)


def wait_to_kill(rng, proc, out, span, after_progress=False, what="a kill"):
    """Sleeps until a kill of the run `proc` is due: at a random moment within `span` seconds
    from now, whatever the run is doing then (starting, computing or ended); or, with
    `after_progress`, once the run is under way (wait_under_way()) and then within 0.3 x span,
    a kill that comes while tasks are being saved."""
    if after_progress:
        wait_under_way(proc, out, what)
        span *= 0.3
    time.sleep(rng.uniform(0.0, span))
