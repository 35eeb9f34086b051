#!/usr/bin/python3
"""What a resume records of its command line: the options a resume gives are added to the
recorded ones (the next resume hint shows them), but not those that only say again what the
line already says. A resume hint pasted whole (the recorded options, then --resume DIR), the
same options given again in another order, a path given relative that the line holds
absolute, an option given twice: the recorded line stays as it was. An option that changes
something (-v, then -q after it; another trace directory) is added, once. The run here has
one task failed by DUSK_FAIL_TASKS, so that every resume has that task to compute again (and
fails it again: exit 3).
Usage: test_app_resume_args.py PATH/TO/dusk-eigh"""
import os
import subprocess
import sys
import tempfile

import runlib

exe = sys.argv[1]
check = runlib.Checks()


def run(words, cwd):
    env = dict(os.environ, DUSK_FAIL_TASKS="eigh-3")
    p = subprocess.run([exe] + words, cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stderr


with tempfile.TemporaryDirectory(prefix="dusk-resume-args-") as tmp:
    out = os.path.join(tmp, "out")
    args = lambda: runlib.manifest_fields(os.path.join(out, "manifest.txt"))["args"]
    code, err = run(["-n", "12", "--ntasks", "8", "-q", "--no-progress", "--trace", "tr",
                     "--output", "out"], tmp)
    check(code == 3, f"the first run exits 3, one task failed ({code})", err)
    first = args()
    check(first == f"-n 12 --ntasks 8 -q --no-progress --trace {os.path.realpath(tmp)}/tr",
          f"it records its options, the trace directory absolute ({first!r})")

    cases = [
        ("the resume hint pasted whole", first.split() + ["--resume", out], first),
        ("the same options again, reordered, the path relative",
         ["--resume", "out", "--no-progress", "--trace", "tr", "-q"], first),
        ("--trace=DIR for the same directory", ["--trace=tr", "--resume", "out"], first),
        ("-v, which changes something", ["--resume", "out", "-v"], first + " -v"),
        ("-v again, twice", ["-v", "--resume", "out", "-v"], first + " -v"),
        ("-q after -v, which changes it back", ["--resume", "out", "-q"], first + " -v -q"),
        ("another trace directory", ["--resume", "out", "--trace", "tr2"],
         first + f" -v -q --trace {os.path.realpath(tmp)}/tr2"),
        ("the hint pasted whole again", None, None),
    ]
    for what, words, want in cases:
        if words is None:  # the line as it now is, pasted: nothing more
            want = args()
            words = want.split() + ["--resume", out]
        code, err = run(words, tmp)
        got = args()
        check(code == 3 and got == want, f"{what}: the recorded line is {want!r} ({got!r}, "
              f"exit {code})", err)

check.finish()
