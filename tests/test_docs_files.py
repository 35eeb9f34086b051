#!/usr/bin/env python3
"""The files the docs show whole are shown as they are: in README.md and docs/*.md, the fenced
code block right after a `<!-- file: PATH (...) -->` line equals the repository's file PATH byte
for byte, so that a page cannot drift from the program the build compiles and the tests run
(examples/c/sumsq-stream.c, examples/c/sumsq.c, examples/batch/moments.c, the Slurm job
script). Every C program under examples/ must be shown so, by one page at least.

Usage: test_docs_files.py SOURCE_DIR
Prints one line per file shown, and one per problem (FILE:LINE: ...); exits 1 when there is any
problem, 2 on bad usage.
"""
import os
import re
import sys

MARKER = re.compile(r"^<!-- file: (\S+)(?: .*)? -->$")
OPEN = re.compile(r"^(`{3,}|~{3,})[\w+-]*$")


def shown_files(path):
    """(line, PATH, block) for each marker of a Markdown file; block is None where no fenced
    block follows the marker at once, or it is not closed."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    found = []
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        block = None
        fence = OPEN.match(lines[i + 1]) if i + 1 < len(lines) else None
        if fence:
            f = fence.group(1)
            for j in range(i + 2, len(lines)):
                if re.fullmatch(r" {0,3}%s{%d,}[ \t]*" % (re.escape(f[0]), len(f)), lines[j]):
                    block = "".join(line + "\n" for line in lines[i + 2:j])
                    break
        found.append((i + 1, m.group(1), block))
    return found


def first_difference(got, want):
    """The first line where two texts differ, for the message."""
    g, w = got.split("\n"), want.split("\n")
    for n, (a, b) in enumerate(zip(g, w), 1):
        if a != b:
            return "line %d: the page has %r, the file %r" % (n, a, b)
    return "the page has %d lines, the file %d" % (len(g) - 1, len(w) - 1)


def main(argv):
    if len(argv) != 2:
        print("usage: test_docs_files.py SOURCE_DIR", file=sys.stderr)
        return 2
    root = os.path.abspath(argv[1])
    docs = os.path.join(root, "docs")
    if not os.path.isfile(os.path.join(root, "README.md")) or not os.path.isdir(docs):
        print("test_docs_files.py: %s: no README.md and docs/ there" % argv[1], file=sys.stderr)
        return 2
    pages = [os.path.join(root, "README.md")] + \
        sorted(os.path.join(docs, p) for p in os.listdir(docs) if p.endswith(".md"))
    problems, marked, shown = [], set(), set()
    for page in pages:
        where = os.path.relpath(page, root)
        for line, rel, block in shown_files(page):
            path = os.path.normpath(os.path.join(root, rel))
            if os.path.relpath(path, root).startswith(".."):
                problems.append("%s:%d: %s is outside the repository" % (where, line, rel))
                continue
            marked.add(os.path.relpath(path, root))
            if block is None:
                problems.append("%s:%d: no closed code block right after the marker of %s" %
                                (where, line, rel))
                continue
            if not os.path.isfile(path):
                problems.append("%s:%d: shows %s, which does not exist" % (where, line, rel))
                continue
            with open(path, "rb") as f:
                want = f.read()
            if block.encode("utf-8") != want:
                problems.append("%s:%d: shows %s otherwise than it is (%s)" %
                                (where, line, rel, first_difference(block, want.decode(
                                    "utf-8", "replace"))))
                continue
            shown.add(os.path.relpath(path, root))
            print("ok: %s:%d shows %s as it is (%d lines)" % (where, line, rel, block.count("\n")))
    for top, _, names in os.walk(os.path.join(root, "examples")):
        for name in sorted(names):
            rel = os.path.relpath(os.path.join(top, name), root)
            if name.endswith(".c") and rel not in marked:
                problems.append("%s: no page shows it (a `<!-- file: %s -->` line before its "
                                "code block)" % (rel, rel))
    if not shown:
        problems.append("no page shows a file: the markers were not found")
    for p in problems:
        print("FAIL: " + p)
    print("%d files shown as they are, %d problems" % (len(shown), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
