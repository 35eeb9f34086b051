#!/usr/bin/python3
"""NumPy reads what dusk writes.

Usage: /usr/bin/python3 tests/npy_numpy_check.py PATH/TO/test_npy_roundtrip

Runs `test_npy_roundtrip --write DIR`, which writes its roundtrip files with
dusk_npy_create/write/commit, then loads each with np.load and checks its shape, dtype, order
and values (element k in C order is k * 0.25 - 1, as value_at() in test_npy_roundtrip.c).
Exits 77 (skipped) when NumPy is not installed; fails then under CI (tests/runlib.py).
"""
import os
import subprocess
import sys
import tempfile

import runlib

try:
    import numpy as np
except ImportError:
    runlib.missing("NumPy", "python3-numpy")

# the files test_npy_roundtrip.c writes, and their shapes
EXPECTED = {
    "shape_4.npy": (4,),
    "shape_3_5.npy": (3, 5),
    "shape_2_3_3.npy": (2, 3, 3),
    "shape_0_3.npy": (0, 3),
}


def main():
    if len(sys.argv) != 2:
        print("usage: %s TEST_NPY_ROUNDTRIP" % sys.argv[0], file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dusk-npy-check-") as tmp:
        subprocess.run([sys.argv[1], "--write", tmp], check=True)
        written = sorted(os.listdir(tmp))
        if written != sorted(EXPECTED):
            print("dusk wrote %s, expected %s" % (written, sorted(EXPECTED)), file=sys.stderr)
            return 1
        for name, shape in EXPECTED.items():
            path = os.path.join(tmp, name)
            a = np.load(path, allow_pickle=False)
            expected = (np.arange(int(np.prod(shape))) * 0.25 - 1.0).reshape(shape)
            if a.dtype != np.dtype("<f8") or a.shape != shape or not a.flags.c_contiguous:
                print("%s: numpy reads %s %s" % (name, a.dtype, a.shape), file=sys.stderr)
                return 1
            if not np.array_equal(a, expected):
                print("%s: numpy reads other values: %s" % (name, a), file=sys.stderr)
                return 1
            with open(path, "rb") as fp:
                version = np.lib.format.read_magic(fp)
                header = np.lib.format.read_array_header_1_0(fp)
                if version != (1, 0) or header[1] or fp.tell() % 64 != 0:
                    print("%s: version %s, header %s, data at %d"
                          % (name, version, header, fp.tell()), file=sys.stderr)
                    return 1
    print("numpy reads the %d files dusk wrote" % len(EXPECTED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
