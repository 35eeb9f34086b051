#!/usr/bin/python3
"""The live report: dusk-eigh --trace DIR rewrites DIR/report.html every few seconds while it
runs. A run sized from this machine (tests/runlib.py) to compute for about 12 s, with one task
failing (DUSK_FAIL_TASKS), is watched until its report.html is a live page (a refresh tag)
counting some but not all of its tasks, one failed; that page is copied and rendered with
headless Chromium: the DOM Chromium builds shows the count, the total and the failure, the
rate chart is there, and the screenshot is not blank (many colours, the progress bar's blue
over a good width); the same page with its time set an hour back (the last page of a run
killed without a word) says, once Chromium has run its script, that it is not updated. After the run: exit 3 (a task failed), and report.html is the full
report, with no refresh tag and no temporary file left beside it. Skips (77) only when
Chromium is missing, and fails then under CI.
Usage: test_app_live_report.py PATH/TO/dusk-eigh [KEEP_DIR]"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import runlib
from test_trace_report import chromium_run, decode_png

exe = sys.argv[1]
keep = sys.argv[2] if len(sys.argv) > 2 else None
failures = []
COUNT = re.compile(r'<span class="sub">(\d+) of (\d+) tasks')
FAILED = re.compile(r'<div class="v">(\d+)</div><div class="l">failed so far')
REFRESH = '<meta http-equiv="refresh" content="'
WRITTEN = re.compile(r'data-written="(\d+)"')
STALE_SHOWN = '<p id="stale" class="stale">Not updated since'
BADGE_STALE = 'class="live off">NOT UPDATED</span>'
BLUE = (0x3b, 0x82, 0xc4)


def check(cond, what, detail=""):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)
        if detail:
            print("    " + detail.strip()[-3000:].replace("\n", "\n    "))
    return cond


def cmd_for(t):
    return [exe, "-n", "120", "--ntasks", str(t), "--ncpu", "1"]


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    runlib.missing("Chromium", "chromium")

with tempfile.TemporaryDirectory(prefix="dusk-live-") as tmp:
    t = runlib.size_tasks(cmd_for, 40, 200, 200000, seconds=max(12.0, runlib.SECONDS))
    # evidence: a live page that counts tasks done, some but not all (the first page, at the
    # start, counts none; the next comes 3 s later). A run that ended first (the machine got
    # faster since the sizing run) is run again, 4 times larger, at most twice.
    for attempt in range(3):
        trace, out = os.path.join(tmp, f"trace{attempt}"), os.path.join(tmp, f"out{attempt}")
        report = os.path.join(trace, "report.html")
        env = dict(os.environ, DUSK_FAIL_TASKS="eigh-3")
        proc = subprocess.Popen(cmd_for(t) + ["--trace", trace, "--output", out],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        live, seen, t0 = None, 0, time.monotonic()
        while proc.poll() is None and time.monotonic() - t0 < 60 + 8 * runlib.SECONDS:
            page = read(report)
            m = COUNT.search(page or "")
            if page and REFRESH in page:
                seen += 1
                if m and 0 < int(m.group(1)) < int(m.group(2)):
                    live = page
                    break
            time.sleep(0.05)
        if live is not None:
            break
        running = proc.poll() is None
        proc.kill()
        o, e = proc.communicate()
        if running or attempt == 2:
            runlib.fail_now(f"no live report.html counting some of the {t} tasks seen while the "
                            f"run went on ({seen} live pages seen; exit {proc.returncode}): "
                            f"{e[-300:]}")
        print(f"the run of {t} tasks ended in {time.monotonic() - t0:.1f} s, before a second "
              f"page: again with {4 * t}", flush=True)
        t *= 4
    snap = os.path.join(tmp, "live.html")
    with open(snap, "w", encoding="utf-8") as f:
        f.write(live)
    m = COUNT.search(live)
    done, total = int(m.group(1)), int(m.group(2))
    check(total == t, f"the live page counts out of the job's {t} tasks ({total})")
    check(0 < done < t, f"the live page counts some but not all of them ({done})")
    check('<svg id="rate"' in live and "<polyline" in live, "the live page has a rate chart")
    check("RUNNING" in live and "time left" in live, "the live page says running, and the time left")
    fm = FAILED.search(live)
    check(fm is not None, "the live page counts the failures so far")

    # Chromium renders it: the DOM it builds shows the count; the screenshot is not blank
    dom = chromium_run(chromium, tmp, ["--dump-dom", "file://" + snap], 1200, 1000).stdout
    check(f"{done} of {t} tasks" in dom and "failed so far" in dom,
          "Chromium's DOM of the live page shows the count and the failures", dom[-600:])
    check(STALE_SHOWN not in dom and BADGE_STALE not in dom,
          "a page just written says nothing of being stale", dom[-600:])
    # the last page of a run killed without a word: once it is old, it says so and stops
    # reloading (its script, which Chromium runs against the clock)
    written = WRITTEN.search(live)
    if check(written is not None, "the live page says when it was written"):
        old = os.path.join(tmp, "old.html")
        hour_ago = int(written.group(1)) - 3600 * 1000
        with open(old, "w", encoding="utf-8") as f:
            f.write(WRITTEN.sub(f'data-written="{hour_ago}"', live))
        dom = chromium_run(chromium, tmp, ["--dump-dom", "file://" + old], 1200, 1000).stdout
        check(STALE_SHOWN in dom and "60 min ago" in dom and BADGE_STALE in dom,
              "a page written an hour ago says it is not updated, and since when", dom[-900:])
    png = os.path.join(tmp, "live.png")
    chromium_run(chromium, tmp, [f"--screenshot={png}", "file://" + snap], 1200, 1000)
    if check(os.path.exists(png), "Chromium took a screenshot of the live page"):
        w, h, ch, rows = decode_png(png)
        def blue_run(row):
            best = run_ = 0
            for x in range(0, w * ch, ch):
                run_ = run_ + 1 if tuple(row[x:x + 3]) == BLUE else 0
                best = max(best, run_)
            return best

        colours = {tuple(row[x:x + 3]) for row in rows[::3] for x in range(0, w * ch, ch * 3)}
        # the progress bar is the topmost blue on the page (the rate chart's line below it is
        # blue too): its width, a few rows into it
        top = next((y for y, row in enumerate(rows) if blue_run(row) >= 3), None)
        blue_width = blue_run(rows[min(top + 4, h - 1)]) if top is not None else 0
        # the bar's blue spans done/t of the bar (the page's width less its margins)
        want = (w - 2 * 47) * done / t
        check(len(colours) >= 30, f"the screenshot is not blank ({len(colours)} colours)")
        check(abs(blue_width - want) <= 0.05 * w + 4,
              f"the progress bar's blue spans the share done ({blue_width} px; about "
              f"{want:.0f} expected)")
        if keep:
            shutil.copy(png, os.path.join(keep, "live-report.png"))

    o, e = proc.communicate(timeout=600)
    check(proc.returncode == 3, f"the run exits 3, one task failed ({proc.returncode})", e)
    final = read(report) or ""
    check("dusk trace report</title>" in final and "Tasks per worker" in final,
          "after the run, report.html is the full report", final[:300])
    check(REFRESH not in final and "RUNNING" not in final, "the full report does not reload")
    check(not [n for n in os.listdir(trace) if n.endswith(".tmp")],
          "no temporary file left in the trace directory", str(os.listdir(trace)))
    if fm:
        check(int(fm.group(1)) == 1, f"the live page counts the one failure ({fm.group(1)})")

print("FAIL" if failures else "PASS")
sys.exit(1 if failures else 0)
