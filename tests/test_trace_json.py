#!/usr/bin/python3
"""trace.json as other tools read it: plain json.load (standard library only), exactly one
complete ("X") event per task id, ts + dur within the run, the worker and rank metadata.
Usage: test_trace_json.py PATH/TO/test_trace_writer"""
import json
import subprocess
import sys
import tempfile

fails = []


def check(cond, msg):
    if not cond:
        fails.append(msg)
        print("FAIL:", msg)


def check_trace(path, ntasks, nranks):
    with open(path) as f:
        doc = json.load(f)
    events = doc["traceEvents"]
    check(doc.get("displayTimeUnit") == "ms", f"{path}: displayTimeUnit")
    with open(path) as f:  # one event per line, as the reader relies on
        lines = f.read().splitlines()
    check(len(lines) == len(events) + 2, f"{path}: {len(lines)} lines for {len(events)} events")
    x = [e for e in events if e["ph"] == "X"]
    meta = [e for e in events if e["ph"] == "M"]
    ids = {}
    for e in x:
        ids.setdefault((e["pid"], e["args"]["id"]), []).append(e)
    check(len(x) == ntasks, f"{path}: {len(x)} X events, want {ntasks}")
    check(all(len(v) == 1 for v in ids.values()), f"{path}: a task id has several events")
    runs = {e["pid"]: e["args"] for e in meta if e["name"] == "dusk_run"}
    procs = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
    check(len(runs) == nranks, f"{path}: {len(runs)} dusk_run records, want {nranks}")
    for pid in runs:
        check(procs.get(pid) == f"rank {pid}", f"{path}: process_name of pid {pid}")
    for e in x:
        a = e["args"]
        for field in ("id", "codelet", "impl", "rows", "cols", "bytes", "status", "attempts", "deps"):
            check(field in a, f"{path}: event {e['name']} lacks args.{field}")
        check(a["impl"] in ("CPU", "CUDA"), f"{path}: impl {a['impl']}")
        check(isinstance(a["deps"], list), f"{path}: deps is not a list")
        check(e["dur"] >= 0 and e["ts"] >= 0, f"{path}: {e['name']} negative time")
        t1 = runs[e["pid"]]["t1"]
        check(e["ts"] + e["dur"] <= t1 + 1e-3, f"{path}: {e['name']} ends after the run")
        check((e["pid"], e["tid"]) in threads, f"{path}: no thread_name for tid {e['tid']}")
        if e["tid"] >= 0:
            check(threads[(e["pid"], e["tid"])].startswith(("CPU", "CUDA")),
                  f"{path}: worker name {threads[(e['pid'], e['tid'])]}")
    return x, runs


def main():
    writer = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([writer, d], check=True, stdout=subprocess.DEVNULL)
        x, runs = check_trace(f"{d}/small/trace.json", 9, 1)
        by_key = {e["name"]: e for e in x}
        check(by_key["d"]["args"]["deps"] == [4, 5], "deps of d")
        check(by_key["fail"]["args"]["status"] == -5, "status of fail")
        check(by_key["skipped"]["tid"] == -1, "a task that never ran has tid -1")
        check(runs[0]["params"] == 'test_trace_writer --synthetic "quoted" <html>', "params")
        check(abs(by_key["b"]["dur"] - 8000) < 0.01, "dur of b in microseconds")
        check_trace(f"{d}/big/trace.json", 30000, 1)
        mx, mruns = check_trace(f"{d}/merged.json", 18, 2)
        check({e["pid"] for e in mx} == {0, 1}, "merged trace has pids 0 and 1")
    print("ok" if not fails else f"{len(fails)} failure(s)")
    return 1 if fails else 0


sys.exit(main())
