#!/usr/bin/python3
"""Traces end to end: dusk-eigh --trace DIR and DUSK_TRACE=DIR with dusk-reduce write a
trace.json with exactly one task event per task (keys as the app names them, dependencies
pointing at the tasks that produced the data), a dag.dot that Graphviz renders, and a
report.html; dusk-trace summarises them. Also checks dusk-reduce's answer.
Usage: test_app_trace.py BUILD_DIR"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

build = sys.argv[1]
eigh = os.path.join(build, "apps", "dusk-eigh")
reduce_ = os.path.join(build, "apps", "dusk-reduce")
tool = os.path.join(build, "tools", "dusk-trace")
fails = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)


def load(d):
    with open(os.path.join(d, "trace.json")) as f:
        doc = json.load(f)
    ev = doc["traceEvents"]
    tasks = [e for e in ev if e["ph"] == "X"]
    run = [e for e in ev if e["ph"] == "M" and e["name"] == "dusk_run"]
    workers = {e["tid"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    return tasks, run, workers


with tempfile.TemporaryDirectory() as tmp:
    d = os.path.join(tmp, "eigh")
    t = 5
    r = subprocess.run([eigh, "-n", "40", "--ntasks", str(t), "--verify", "--no-progress",
                        "--trace", d], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"dusk-eigh --trace exits 0 ({r.stderr.strip()})")
    tasks, run, workers = load(d)
    keys = sorted(e["name"] for e in tasks)
    want = sorted(f"{s}-{i}" for s in ("gen", "gram", "eigh", "verify") for i in range(t))
    check(keys == want, f"one event per task: {len(keys)} events, keys as named by the app")
    check(len(run) == 1, "run metadata present")
    end = run[0]["args"]["t1"] if run else 0
    check(all(0 <= e["ts"] and e["ts"] + e["dur"] <= end + 1 for e in tasks),
          "every task within the run")
    check(all(e["tid"] in workers for e in tasks), "every task on a named worker")
    check(all(e["args"]["status"] == 0 and e["args"]["impl"] == "CPU" for e in tasks),
          "status and implementation recorded")
    by_name = {e["name"]: e for e in tasks}
    for i in range(t):
        g, m, e, v = (by_name[f"{s}-{i}"] for s in ("gen", "gram", "eigh", "verify"))
        ok = (g["args"]["deps"] == [] and g["args"]["id"] in m["args"]["deps"] and
              m["args"]["id"] in e["args"]["deps"] and e["args"]["id"] in v["args"]["deps"] and
              e["args"]["id"] not in e["args"]["deps"])
        ok = ok and g["ts"] + g["dur"] <= m["ts"] and m["ts"] + m["dur"] <= e["ts"]
        check(ok, f"task {i}: gen -> gram -> eigh -> verify, in the deps and in time")
    check(os.path.getsize(os.path.join(d, "report.html")) > 1000, "report.html written")
    if shutil.which("dot"):
        r = subprocess.run(["dot", "-Tsvg", os.path.join(d, "dag.dot")], capture_output=True)
        check(r.returncode == 0 and b"<svg" in r.stdout, "dag.dot renders with dot")
    r = subprocess.run([tool, os.path.join(d, "trace.json")], capture_output=True, text=True)
    check(r.returncode == 0 and "critical path" in r.stdout and f"{4 * t} tasks" in r.stdout,
          "dusk-trace summarises it")

    # failures: dusk-eigh and dusk-trace count them alike (the skipped dependents apart)
    d4 = os.path.join(tmp, "fail")
    r = subprocess.run([eigh, "-n", "50", "--ntasks", "10", "--no-progress", "--output",
                        os.path.join(tmp, "fo"), "--trace", d4], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, DUSK_FAIL_TASKS="eigh-5,gen-7"))
    check(r.returncode == 3 and "2 FAILED" in r.stdout + r.stderr,
          f"dusk-eigh with 2 injected failures: exit {r.returncode}, 2 FAILED")
    r = subprocess.run([tool, os.path.join(d4, "trace.json")], capture_output=True, text=True)
    # gen-7 fails: the tasks after it (gram-7, eigh-7, ...) are skipped, not failed
    with open(os.path.join(d4, "trace.json")) as f:
        ev = [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]
    skipped = sum(e["args"]["status"] == -7 for e in ev)  # DUSK_EDEP
    want = f"tasks (2 failed, {skipped} not run because of them)"
    first = r.stdout.splitlines()[0] if r.stdout else r.stderr
    check(r.returncode == 0 and skipped >= 2 and want in first, f"dusk-trace: '{want}' in '{first}'")

    # DUSK_TRACE for any program linked with dusk: dusk-reduce, 8 chunks
    d2 = os.path.join(tmp, "reduce")
    env = dict(os.environ, DUSK_TRACE=d2)
    r = subprocess.run([reduce_, "--chunks", "8", "--size", "1000", "--no-progress"],
                       capture_output=True, text=True, env=env, timeout=120)
    check(r.returncode == 0 and "Sum of squares" in r.stdout,
          f"dusk-reduce agrees with its serial loop ({r.stdout.strip()})")
    tasks, run, workers = load(d2)
    names = [e["name"] for e in tasks]
    check(len(names) == 8 + 8 + 7 and len(set(names)) == len(names),
          f"DUSK_TRACE: {len(names)} events for 8 gen + 8 sumsq + 7 add")
    adds = [e for e in tasks if e["name"].startswith("add-")]
    check(all(len(e["args"]["deps"]) == 2 for e in adds), "each add waits for two sums")

    # explicit dependencies appear in the trace, on held and on running predecessors
    d3 = os.path.join(tmp, "options")
    opts = os.path.join(build, "tests", "test_graph_options")
    r = subprocess.run([opts], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, DUSK_TRACE=d3, STARPU_NCPU="2"))
    check(r.returncode == 0, f"test_graph_options under DUSK_TRACE ({r.stderr.strip()[-200:]})")
    tasks, run, workers = load(d3)
    by = {e["name"]: e for e in tasks}
    if all(k in by for k in ("x-2", "x-7", "after-held", "running", "after-running")):
        deps = set(by["after-held"]["args"]["deps"])
        check({by["x-2"]["args"]["id"], by["x-7"]["args"]["id"]} <= deps,
              "explicit dependencies of a held task are in the trace")
        check(by["running"]["args"]["id"] in by["after-running"]["args"]["deps"],
              "an explicit dependency on a finished task is in the trace")
    else:
        check(False, "keyed tasks of test_graph_options are in the trace")

# A trace directory is treated like --output: files of the same names that dusk did not write
# are refused, never replaced; dag.dot is complete or absent (a killed run leaves
# dag.dot.partial, never a cut dag.dot that Graphviz rejects).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runlib  # noqa: E402  (waiting for evidence that a run is under way, never a fixed sleep)

with tempfile.TemporaryDirectory() as tmp:
    for name in ("report.html", "trace.json", "dag.dot"):
        d = os.path.join(tmp, "mine-" + name)
        os.makedirs(d)
        with open(os.path.join(d, name), "w") as f:
            f.write("my own notes\n")
        r = subprocess.run([eigh, "-n", "10", "--ntasks", "3", "--no-progress", "--trace", d],
                           capture_output=True, text=True, timeout=120)
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and f"{name} is not a file dusk wrote" in
              lines[0], f"--trace into a directory holding my own {name}: refused in one line "
              f"(exit {r.returncode}: {r.stderr.strip()!r})")
        with open(os.path.join(d, name)) as f:
            check(f.read() == "my own notes\n", f"my own {name} is untouched")
        check(sorted(os.listdir(d)) == [name], f"nothing else written beside my own {name}")

    d = os.path.join(tmp, "again")
    for k in range(2):
        r = subprocess.run([eigh, "-n", "10", "--ntasks", "3", "--no-progress", "--trace", d],
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"traced run {k + 1} into the same directory exits 0 "
              f"({r.stderr.strip()})")
    check(sorted(os.listdir(d)) == ["dag.dot", "report.html", "trace.json"],
          f"a run's own trace files are replaced by the next: {sorted(os.listdir(d))}")

    d, out = os.path.join(tmp, "killed"), os.path.join(tmp, "killed-out")
    cmd = lambda t: [eigh, "-n", "60", "--ntasks", str(t), "--no-progress"]  # noqa: E731
    t = runlib.size_tasks(cmd, 200, 200, 10**7)
    for attempt in range(3):  # larger while the machine outruns the sizing
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(os.path.join(tmp, "again"), d)  # an earlier run's complete trace
        p = subprocess.Popen(cmd(t) + ["--output", out, "--trace", d],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if runlib.wait_under_way(p, out, "a traced run killed", retry=attempt < 2) is not None:
            break
        p.stderr.close()
        t *= 4
    p.kill()
    p.wait()
    names = sorted(os.listdir(d))
    check("dag.dot" not in names and "dag.dot.partial" in names,
          f"a killed traced run leaves dag.dot.partial and no dag.dot (earlier or cut): {names}")
    r = subprocess.run([tool, os.path.join(d, "trace.json")], capture_output=True, text=True)
    check(r.returncode == 0 and "truncated" in r.stderr,
          f"its cut trace.json is still read ({r.returncode}: {r.stderr.strip()[-200:]})")

if fails:
    print(f"{len(fails)} failed")
    sys.exit(1)
print("all passed")
