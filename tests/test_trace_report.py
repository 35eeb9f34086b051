#!/usr/bin/python3
"""report.html renders in a browser: headless Chromium screenshots the report of a small
trace and of a 30,000-task one (drawn aggregated), and the pictures must not be blank: many
distinct colours, and a good share of non-white pixels. Skips (77) only when Chromium is not
installed. Usage: test_trace_report.py PATH/TO/test_trace_writer [KEEP_DIR]"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib


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


def main():
    writer = sys.argv[1]
    keep = sys.argv[2] if len(sys.argv) > 2 else None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("skip: chromium is not installed")
        return 77
    fails = 0
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([writer, d], check=True, stdout=subprocess.DEVNULL)
        for name in ("small", "big"):
            html = os.path.join(d, name, "report.html")
            text = open(html, encoding="utf-8").read()
            for bad in ("http://", "https://", "<link", "src="):
                if bad in text:
                    print(f"FAIL: {name}/report.html is not self-contained: has {bad!r}")
                    fails += 1
            png = os.path.join(d, name + ".png")
            profile = tempfile.mkdtemp(dir=d)
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", f"--screenshot={png}",
                            "--window-size=1400,1000", "file://" + html],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            if not os.path.exists(png):
                print(f"FAIL: no screenshot of {name}/report.html")
                fails += 1
                continue
            w, h, ch, rows = decode_png(png)
            colours, nonwhite = set(), 0
            for row in rows[::2]:
                for x in range(0, w * ch, ch * 2):
                    px = row[x:x + 3]
                    colours.add(px)
                    nonwhite += px != b"\xff\xff\xff"
            share = nonwhite / ((h // 2) * (w // 2))
            # the Gantt chart's region (below the cards) must hold codelet colours
            gantt = set()
            for row in rows[300:380]:
                for x in range(250 * ch, 1300 * ch, ch):
                    gantt.add(row[x:x + 3])
            ok = len(colours) >= 50 and share >= 0.2 and len(gantt) >= 4
            print(f"{'ok' if ok else 'FAIL'}: {name}/report.html: {w}x{h}, {len(colours)} colours,"
                  f" {share:.0%} non-white, {len(gantt)} colours in the chart")
            fails += not ok
            if keep:
                shutil.copy(png, os.path.join(keep, name + ".png"))
    return 1 if fails else 0


sys.exit(main())
