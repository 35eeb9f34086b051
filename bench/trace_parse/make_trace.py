#!/usr/bin/env python3
"""Write a synthetic dusk trace of T task events (the format dusk-eigh --trace writes, one rank,
two workers): T/3 chains gen -> gram -> eigh, each task with its items and deps.

Usage: make_trace.py T OUT.json"""
import sys

T, out = int(sys.argv[1]), sys.argv[2]
with open(out, "w") as f:
    f.write('{"traceEvents":[\n')
    f.write('{"ph":"M","pid":0,"tid":0,"name":"process_name","args":{"name":"rank 0"}},\n')
    for w in range(2):
        f.write('{"ph":"M","pid":0,"tid":%d,"name":"thread_name","args":{"name":"CPU %d"}},\n'
                % (w, w))
    ts = 0.0
    kinds = (("gen", 512), ("gram", 1024), ("eigh", 576))
    for i in range(T):
        item, k = divmod(i, 3)
        name, nbytes = kinds[k]
        deps = "" if k == 0 else str(i - 1)
        dur = 5.611 + (i % 7) * 3.25
        f.write('{"ph":"X","pid":0,"tid":%d,"ts":%.3f,"dur":%.3f,"name":"%s-%d","cat":"dusk_%s",'
                '"args":{"id":%d,"codelet":"dusk_%s","impl":"CPU","rows":8,"cols":8,"bytes":%d,'
                '"status":0,"attempts":1,"items":{"first":%d,"count":1,"step":1},'
                '"failed_items":0,"deps":[%s]}},\n'
                % (i % 2, ts, dur, name, item, name, i, name, nbytes, item, deps))
        ts += dur / 2 + 0.125
    f.write('{"ph":"M","pid":0,"tid":0,"name":"dusk_run","args":{"rank":0,"nranks":1,'
            '"epoch":1796591773.228446,"t1":%.3f,"version":"0.1.0","params":"synthetic"}}\n'
            % (ts + 100))
    f.write('],"displayTimeUnit":"ms"}\n')
