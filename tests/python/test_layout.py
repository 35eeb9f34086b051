"""The package's ctypes structures against the C headers: a C program compiled here prints
the size and offset of every field of dusk_config and dusk_eigh_opts, which must be what
python/dusk/_lib.py declares (a field added or moved in the C struct and not in Python would
otherwise be read from the wrong place)."""
import ctypes
import os
import shutil
import subprocess

import pytest

from dusk import _lib

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "..", "..", "runtime", "include")


def c_layout(tmp_path, struct, fields, header):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler to read the headers' layout with")
    src = tmp_path / "layout.c"
    lines = [f'#include "{header}"', "#include <stdio.h>", "#include <stddef.h>",
             "int main(void) {", f'    printf("size %zu\\n", sizeof({struct}));']
    for f in fields:
        lines.append(f'    printf("{f} %zu %zu\\n", offsetof({struct}, {f}), '
                     f"sizeof((({struct} *)0)->{f}));")
    lines += ["    return 0;", "}"]
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-I", INCLUDE, str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return dict((line.split()[0], tuple(int(x) for x in line.split()[1:]))
                for line in out.splitlines())


def py_layout(cls, fields):
    layout = {f: (getattr(cls, f).offset, getattr(cls, f).size) for f in fields}
    layout["size"] = (getattr(cls, "_reserve").offset,)
    return layout


@pytest.mark.parametrize("struct, cls, fields, header", [
    ("dusk_config", _lib.Config, _lib.CONFIG_FIELDS, "dusk.h"),
    ("dusk_eigh_opts", _lib.EighOpts, _lib.EIGH_OPTS_FIELDS, "dusk_linalg.h"),
])
def test_structures_match_the_headers(tmp_path, struct, cls, fields, header):
    want = c_layout(tmp_path, struct, fields, header)
    have = py_layout(cls, fields)
    # the C struct's size, padded to its alignment, is where Python's reserve begins
    align = max(ctypes.alignment(t) for _, t in cls._fields_ if _ != "_reserve")
    have["size"] = ((have["size"][0] + align - 1) // align * align,)
    assert have == want
