#!/usr/bin/python3
"""report.html renders in a browser, at 600 and at 1200 px wide. Headless Chromium loads each
report with a probe script added in front of the page's own: it records what the chart draws
on its canvas and, once the page has loaded, measures the page and writes what it found into
the DOM, which --dump-dom prints. At both widths: the time axis's labels do not overlap and
stay inside the chart, the page does not scroll sideways and every table fits its section,
a failed task's outline is at least 3 px wide around a box at least 6 px wide, the header
names the program and the date of the run (or says the run described nothing), and the
tooltips name a task's items and a failed task's status. Screenshots at both widths must not
be blank: many distinct colours, a good share of non-white pixels, codelet colours inside
the chart. The reports are of hand-written traces (dusk-trace report) and of the writer's
small and 30,000-task (drawn aggregated) traces. Skips (77) only when Chromium is not
installed, and fails then under CI. Usage: test_trace_report.py PATH/TO/test_trace_writer PATH/TO/dusk-trace [KEEP_DIR]"""
import datetime
import html as htmllib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import runlib

WIDTHS = (600, 1200)
EPOCH = 1700000000.5  # 2023-11-14 22:13:20 UTC

PROBE = r"""<script>(function(){
const log=[];const P=CanvasRenderingContext2D.prototype,ft=P.fillText,sr=P.strokeRect,fr=P.fillRect;
P.fillText=function(t,x,y){log.push({k:'text',t:String(t),x:x,y:y,a:this.textAlign,
  w:this.measureText(t).width});return ft.apply(this,arguments);};
P.strokeRect=function(x,y,w,h){log.push({k:'stroke',x:x,y:y,w:w,h:h,lw:this.lineWidth,
  s:String(this.strokeStyle)});return sr.apply(this,arguments);};
P.fillRect=function(x,y,w,h){log.push({k:'fill',x:x,y:y,w:w,h:h,s:String(this.fillStyle)});
  return fr.apply(this,arguments);};
window.addEventListener('load',function(){
 const r={width:window.innerWidth};
 try{
 log.length=0;window.dispatchEvent(new Event('resize')); /* one whole drawing, logged */
 const cv=document.getElementById('gantt'),cb=cv.getBoundingClientRect();
 r.canvas=[cb.left+window.scrollX,cb.top+window.scrollY,cb.width,cb.height];
 const texts=log.filter(e=>e.k==='text'),top=Math.min(...texts.map(e=>e.y));
 const axis=texts.filter(e=>e.y===top).map(e=>{const l=e.a==='center'?e.x-e.w/2:
   e.a==='right'?e.x-e.w:e.x;return [l,l+e.w,e.t];}).sort((a,b)=>a[0]-b[0]);
 r.axis=axis.map(a=>a[2]);r.overlaps=[];r.outside=[];
 for(let i=0;i<axis.length;i++){
  if(i&&axis[i][0]<axis[i-1][1]+2)r.overlaps.push(axis[i-1][2]+' / '+axis[i][2]);
  if(axis[i][0]<0||axis[i][1]>cb.width)r.outside.push(axis[i][2]);}
 r.failed=log.filter(e=>e.k==='stroke'&&e.s.toLowerCase()==='#d92d20').map(e=>[e.lw,e.w,e.h]);
 r.pageOverflow=document.documentElement.scrollWidth-window.innerWidth;
 r.tables=[...document.querySelectorAll('table')].map(t=>{const s=t.closest('section'),
   cs=getComputedStyle(s),inner=s.clientWidth-parseFloat(cs.paddingLeft)-parseFloat(cs.paddingRight);
   return [t.querySelector('th')?t.querySelector('th').textContent:'',
     Math.round(t.getBoundingClientRect().width-inner)];});
 const h=document.querySelector('header');r.h1=h.querySelector('h1').textContent;
 const tm=h.querySelector('time');r.time=tm?tm.getAttribute('datetime'):null;
 r.meta=(h.querySelector('.meta')||{}).textContent||'';
 r.params=[...h.querySelectorAll('.params')].map(p=>[p.className,p.textContent]);
 r.title=document.title;
 /* hover the middle of every box drawn in a codelet colour; failed ones are drawn last */
 const tip=document.getElementById('tip'),seen=new Set();r.tips=[];
 for(const e of log){if(e.k!=='fill'||!D.col.includes(e.s)||e.h<4)continue;
  const key=Math.round(e.x)+','+Math.round(e.y);if(seen.has(key))continue;seen.add(key);
  cv.dispatchEvent(new MouseEvent('mousemove',{clientX:cb.left+e.x+e.w/2,
    clientY:cb.top+e.y+e.h/2,bubbles:true}));
  if(tip.style.display!=='none')r.tips.push(tip.textContent);}
 }catch(err){r.error=String(err&&err.stack||err);}
 document.documentElement.setAttribute('data-check',JSON.stringify(r));
});})();</script>"""


def decode_png(path):
    """RGB(A) 8-bit non-interlaced PNG -> (width, height, channels, rows of bytes)"""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG kind"
            ch = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * ch
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b = prev[i]
            c = prev[i - ch] if i >= ch else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def task(tid, i, key, codelet, ts_ms, dur_ms, status=0, extra=""):
    return ('{"ph":"X","pid":0,"tid":%d,"ts":%.3f,"dur":%.3f,"name":"%s","cat":"%s","args":'
            '{"id":%d,"codelet":"%s","impl":"CPU","rows":1,"cols":1,"bytes":8,"status":%d,'
            '"attempts":1,%s"deps":[%s]}},' % (tid, ts_ms * 1e3, dur_ms * 1e3, key, codelet, i,
                                               codelet, status, extra,
                                               str(i - 1) if i % 4 else ""))


def hand_trace(path, params, program=None, nworkers=2, makespan_ms=7.9):
    """A run of chunked tasks on nworkers workers over makespan_ms, one failing with status 1
    (a kernel's own code, not a DUSK_E* one) and a long reason; items on every task."""
    lines = ['{"traceEvents":[',
             '{"ph":"M","pid":0,"tid":0,"name":"process_name","args":{"name":"rank 0"}},']
    lines += ['{"ph":"M","pid":0,"tid":%d,"name":"thread_name","args":{"name":"CPU %d"}},'
              % (w, w) for w in range(nworkers)]
    n, i = 24, 0
    step = makespan_ms / (n / nworkers)
    for k in range(n):
        w, slot = k % nworkers, k // nworkers
        codelet = ("load_chunk", "solve_chunk", "check_chunk")[k % 3]
        items = '"items":{"first":%d,"count":4,"step":1},' % (4 * k)
        if k == 9:  # short, failed, with one item of its four without a result
            lines.append(task(w, i, "solve-%d" % k, codelet, slot * step, step * 0.02, 1,
                              items + '"failed_items":1,"reason":"kernel returned 1: the '
                              'matrix of item 37 is not positive definite (pivot 12 of 500 '
                              'is -3.2e-09), see the input",'))
        else:
            lines.append(task(w, i, "%s-%d" % (codelet.split("_")[0], k), codelet, slot * step,
                              step * 0.9, 0, items))
        i += 1
    run = {"rank": 0, "nranks": 1, "epoch": EPOCH, "t1": makespan_ms * 1e3 + 100,
           "version": "0.1.0", "params": params}
    if program:
        run["program"] = program
    lines.append('{"ph":"M","pid":0,"tid":0,"name":"dusk_run","args":%s}' % json.dumps(run))
    lines.append('],"displayTimeUnit":"ms"}')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def chromium_run(chromium, d, args, width, height, timeout=120):
    profile = tempfile.mkdtemp(dir=d)
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-quic", "--no-first-run", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync",
                           "--hide-scrollbars", f"--user-data-dir={profile}",
                           f"--window-size={width},{height}"] + args,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, TZ="UTC"))


def probe(chromium, d, html, width):
    """The probe's findings for html at width."""
    text = open(html, encoding="utf-8").read()
    probed = os.path.join(d, os.path.basename(os.path.dirname(html)) + "-" +
                          os.path.basename(html) + f".{width}.probe.html")
    with open(probed, "w", encoding="utf-8") as f:
        f.write(text.replace("<head>", "<head>" + PROBE, 1))
    r = chromium_run(chromium, d, ["--dump-dom", "file://" + probed], width, 2400)
    m = re.search(r'<html[^>]* data-check="([^"]*)"', r.stdout)
    if not m:
        return None
    return json.loads(htmllib.unescape(m.group(1)))


def screenshot_ok(chromium, d, html, width, canvas, name, keep):
    png = os.path.join(d, f"{name}-{width}.png")
    chromium_run(chromium, d, [f"--screenshot={png}", "file://" + html], width, 2400)
    if not os.path.exists(png):
        print(f"FAIL: no screenshot of {name} at {width} px")
        return False
    w, h, ch, rows = decode_png(png)
    colours, nonwhite = set(), 0
    for row in rows[::2]:
        for x in range(0, w * ch, ch * 2):
            px = row[x:x + 3]
            colours.add(px)
            nonwhite += px != b"\xff\xff\xff"
    share = nonwhite / ((h // 2) * (w // 2))
    left, top, cw, chh = (int(v) for v in canvas)
    gantt = set()
    for row in rows[top + 26:min(top + chh, h)]:
        for x in range((left + cw // 5) * ch, min(left + cw, w) * ch, ch):
            gantt.add(row[x:x + 3])
    ok = len(colours) >= 50 and share >= 0.2 and len(gantt) >= 4
    print(f"{'ok' if ok else 'FAIL'}: {name} at {width} px: {w}x{h}, {len(colours)} colours,"
          f" {share:.0%} non-white, {len(gantt)} colours in the chart")
    if keep:
        shutil.copy(png, os.path.join(keep, os.path.basename(png)))
    return ok


def main():
    writer, tool = sys.argv[1], sys.argv[2]
    keep = sys.argv[3] if len(sys.argv) > 3 else None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        runlib.missing("Chromium", "chromium")
    fails = 0

    def check(ok, what):
        nonlocal fails
        print(("ok: " if ok else "FAIL: ") + what)
        fails += not ok

    with tempfile.TemporaryDirectory() as d:
        subprocess.run([writer, d], check=True, stdout=subprocess.DEVNULL)
        os.makedirs(os.path.join(d, "hand"))
        os.makedirs(os.path.join(d, "bare"))
        hand_trace(os.path.join(d, "hand", "trace.json"), "solve --chunks 24 --items 96, "
                   "2 CPU workers, sched=lws", program="solve")
        # no description, no program: what a program that never calls dusk_set_run_info
        # writes; 6 workers, a makespan of 79 s
        hand_trace(os.path.join(d, "bare", "trace.json"), "", nworkers=6, makespan_ms=79000)
        for name in ("hand", "bare"):
            r = subprocess.run([tool, "report", "-q", "-o", os.path.join(d, name, "report.html"),
                                os.path.join(d, name, "trace.json")], capture_output=True,
                               text=True, env=dict(os.environ, TZ="UTC"))
            check(r.returncode == 0, f"dusk-trace report of {name} ({r.stderr.strip()})")
        date = datetime.datetime.fromtimestamp(int(EPOCH), datetime.timezone.utc)
        want_time = date.strftime("%Y-%m-%dT%H:%M:%S+0000")

        for name in ("hand", "bare", "small", "big"):
            html = os.path.join(d, name, "report.html")
            if not os.path.exists(html):
                check(False, f"{name}/report.html written")
                continue
            text = open(html, encoding="utf-8").read()
            for bad in ("http://", "https://", "<link", "src="):
                check(bad not in text, f"{name}/report.html is self-contained (no {bad!r})")
            for width in WIDTHS:
                r = probe(chromium, d, html, width)
                if r is None or "error" in r:
                    check(False, f"{name} at {width} px: the probe ran "
                          f"({r and r.get('error')})")
                    continue
                at = f"{name} at {width} px"
                check(r["width"] == width, f"{at}: the window is {r['width']} px wide")
                check(len(r["axis"]) >= 3 and not r["overlaps"] and not r["outside"],
                      f"{at}: time axis {r['axis']}, overlapping {r['overlaps']}, "
                      f"outside {r['outside']}")
                check(r["pageOverflow"] <= 0, f"{at}: the page does not scroll sideways "
                      f"({r['pageOverflow']} px too wide)")
                wide = [t for t in r["tables"] if t[1] > 0]
                check(not wide, f"{at}: every table fits its section (too wide: {wide})")
                if name in ("hand", "bare", "small"):
                    check(r["failed"] and all(lw >= 3 and w >= 6 for lw, w, h in r["failed"]),
                          f"{at}: failed tasks outlined 3 px or more around 6 px or more "
                          f"(outlines: line width, width, height {r['failed']})")
                if name == "hand":
                    check(r["h1"] == "solve" and r["title"].startswith("solve"),
                          f"{at}: the header names the program ({r['h1']!r}, {r['title']!r})")
                    check(r["time"] == want_time, f"{at}: the date of the run "
                          f"({r['time']} for {want_time})")
                    check("24 tasks (96 items)" in r["meta"], f"{at}: {r['meta']!r}")
                    check(any("items 4–7 (4)" in t for t in r["tips"]) and
                          any("FAILED: error 1" in t and "items 36–39 (4)" in t
                              for t in r["tips"]),
                          f"{at}: tooltips with items and the failed status "
                          f"({len(r['tips'])} hovered: {r['tips'][:2]} ...)")
                if name == "bare":
                    check(r["h1"] == "dusk trace report" and r["time"] == want_time and
                          r["params"] and r["params"][0][0] == "params none" and
                          "dusk_set_run_info" in r["params"][0][1],
                          f"{at}: a header without description ({r['h1']!r}, {r['time']}, "
                          f"{r['params']})")
                if name == "small":
                    check(r["h1"] == "test_trace_writer", f"{at}: program from the "
                          f"description: {r['h1']!r}")
                if not screenshot_ok(chromium, d, html, width, r["canvas"], name, keep):
                    fails += 1
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
