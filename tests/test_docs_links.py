#!/usr/bin/env python3
"""Every relative link in README.md and docs/*.md resolves: the file or directory exists inside
the repository, and a #anchor names a heading of the Markdown file it points into (GitHub's
slugs: lowercase, punctuation dropped, spaces to hyphens, -1, -2, ... for repeats). Links to
other sites are not fetched. What reads as a link but is not taken apart here (a reference
link, a target with spaces) fails, so that none goes unchecked. The README and docs/README.md
must each link every docs/ page.

Usage: test_docs_links.py SOURCE_DIR
Prints one line per broken link (FILE:LINE: ...) and exits 1 when there is any; 2 on bad usage.
"""
import os
import re
import sys
import tempfile

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*(?:#+[ \t]*)?$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^()\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:[ \t]+\"[^\"]*\")?[ \t]*$", re.M)
HTML_ATTR = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.I)
HTML_ID = re.compile(r"<[a-z]+\b[^>]*?\b(?:id|name)=\"([^\"]+)\"", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# what starts a link, an image or a reference link, or names a target in HTML
UNREAD = re.compile(r"\]\(|\]\[|\b(?:href|src)\s*=", re.I)


def slug(text):
    """GitHub's anchor for a heading's text."""
    text = CODE_SPAN.sub(lambda m: m.group(2), text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def blank_code_blocks(lines):
    """The lines with fenced code blocks emptied (line numbers kept)."""
    out, fence = [], None
    for line in lines:
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
            out.append("")
        elif fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and \
                    line.strip() == m.group(1):
                fence = None
            out.append("")
        else:
            out.append(line)
    return out


ANCHORS = {}  # path: the anchors it defines


def anchors_of(path):
    """The anchors a Markdown file defines: its headings' slugs and explicit ids."""
    if path not in ANCHORS:
        with open(path, encoding="utf-8") as f:
            lines = blank_code_blocks(f.read().split("\n"))
        seen, found = {}, set()
        for i, line in enumerate(lines):
            m = ATX.match(line)
            text = m.group(2) if m else None
            if text is None and i > 0 and lines[i - 1].strip() and SETEXT.match(line) and \
                    not ATX.match(lines[i - 1]):
                text = lines[i - 1].strip()
            if text is None:
                continue
            s = slug(text)
            n = seen.get(s, 0)
            seen[s] = n + 1
            found.add(s if n == 0 else "%s-%d" % (s, n))
        for line in lines:
            found.update(HTML_ID.findall(line))
        ANCHORS[path] = found
    return ANCHORS[path]


def links_of(path):
    """(line, target) for every link of a Markdown file, code blocks and code spans aside; a
    target of None where something reads as a link that the patterns above do not take apart
    (a reference link, a target with parentheses or spaces, an attribute in single quotes),
    so that no link goes unchecked."""
    with open(path, encoding="utf-8") as f:
        text = "\n".join(blank_code_blocks(f.read().split("\n")))
    # code spans become blanks of the same length, so that offsets still give line numbers
    text = CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    found, taken = [], []
    for rx, group in ((LINK, 2), (REF_DEF, 1), (HTML_ATTR, 1)):
        for m in rx.finditer(text):
            found.append((text.count("\n", 0, m.start(group)) + 1, m.group(group)))
            taken.append(m.span())
    for m in UNREAD.finditer(text):
        if not any(a <= m.start() < b for a, b in taken):
            found.append((text.count("\n", 0, m.start()) + 1, None))
    return sorted(found, key=lambda f: (f[0], f[1] or ""))


def check_link(root, src, target):
    """None when target, written in the file src, resolves; else why not."""
    if SCHEME.match(target) or target.startswith("//"):
        return None  # another site: not fetched
    path, _, anchor = target.partition("#")
    dest = os.path.normpath(os.path.join(os.path.dirname(src), path)) if path else src
    rel = os.path.relpath(dest, root)
    if rel == ".." or rel.startswith(".." + os.sep):
        return "points outside the repository"
    if not os.path.exists(dest):
        return "no such file or directory: %s" % rel
    if not anchor:
        return None
    if not dest.endswith(".md"):
        return None if re.fullmatch(r"L\d+(-L\d+)?", anchor) else \
            "#%s: %s is not a Markdown file" % (anchor, rel)
    if anchor not in anchors_of(dest):
        return "#%s: no such heading in %s" % (anchor, rel)
    return None


def self_check():
    """The checker's own rules on cases whose answers GitHub gives; fails loudly if they drift."""
    cases = {
        "Quick start: two commands": "quick-start-two-commands",
        "Resuming: `--resume DIR`": "resuming---resume-dir",
        "Held graphs: memory per recorded task (bench/held_memory.sh)":
            "held-graphs-memory-per-recorded-task-benchheld_memorysh",
        "2026-12-01: Intel(R) Xeon(R) Processor, 2 cores, 24 GiB":
            "2026-12-01-intelr-xeonr-processor-2-cores-24-gib",
        "StarPU's knobs": "starpus-knobs",
        "A program of your own: sumsq.c": "a-program-of-your-own-sumsqc",
    }
    bad = ["slug(%r) = %r, want %r" % (t, slug(t), want)
           for t, want in cases.items() if slug(t) != want]
    for text, want in (("[a](b.md#c) `[d](e)` [f\ng](h)", [(1, "b.md#c"), (2, "h")]),
                       ("```\n[x](y)\n```\n![i](j.png)", [(4, "j.png")]),
                       ('[a][b]\n[c](d e.md)\n<a href=\'f.md\'>g</a>\n<a href="h.md">',
                        [(1, None), (2, None), (3, None), (4, "h.md")])):
        with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
            f.write(text)
        got = links_of(f.name)
        os.unlink(f.name)
        if got != want:
            bad.append("links_of(%r) = %r, want %r" % (text, got, want))
    return bad


def main(argv):
    if len(argv) != 2:
        print("usage: test_docs_links.py SOURCE_DIR", file=sys.stderr)
        return 2
    root = os.path.abspath(argv[1])
    if not os.path.isfile(os.path.join(root, "README.md")) or \
            not os.path.isdir(os.path.join(root, "docs")):
        print("test_docs_links.py: %s: no README.md and docs/ there" % argv[1], file=sys.stderr)
        return 2
    problems = self_check()
    docs = os.path.join(root, "docs")
    pages = sorted(os.path.join(docs, p) for p in os.listdir(docs) if p.endswith(".md"))
    files = [os.path.join(root, "README.md")] + pages
    nlinks = 0
    linked = {}
    for src in files:
        for line, target in links_of(src):
            nlinks += 1
            if target is None:
                problems.append("%s:%d: a link this checker cannot read (write it as "
                                "[text](target))" % (os.path.relpath(src, root), line))
                continue
            why = check_link(root, src, target)
            if why:
                problems.append("%s:%d: broken link (%s): %s" %
                                (os.path.relpath(src, root), line, target, why))
            path = target.partition("#")[0]
            if path and not SCHEME.match(path):
                dest = os.path.normpath(os.path.join(os.path.dirname(src), path))
                linked.setdefault(src, set()).add(dest)
    for index in (os.path.join(root, "README.md"), os.path.join(docs, "README.md")):
        for page in pages:
            if page != index and page not in linked.get(index, set()):
                problems.append("%s: does not link %s" %
                                (os.path.relpath(index, root), os.path.relpath(page, root)))
    for p in problems:
        print("FAIL: " + p)
    print("%d links in %d files checked, %d problems" % (nlinks, len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
