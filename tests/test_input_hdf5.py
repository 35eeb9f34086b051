#!/usr/bin/python3
"""dusk_input against h5py and NumPy: make the fixtures (tests/fixtures/input/make_fixtures.py:
HDF5 files in every layout h5py writes, float32 and big-endian data, datasets to find or to
refuse, damaged files, .npy files), then run test_input_read on them with stderr captured.
It must pass and print nothing on stderr: HDF5's own error reports (HDF5-DIAG) must never
reach the user's terminal, whatever the file.
Usage: test_input_hdf5.py PATH/TO/test_input_read   (exits 77 without NumPy or h5py; fails
then under CI)"""
import os
import subprocess
import sys
import tempfile

import runlib

try:
    import h5py  # noqa: F401
    import numpy  # noqa: F401
except ImportError as e:
    runlib.missing(e.name, {"numpy": "python3-numpy"}.get(e.name, "python3-h5py"))

HERE = os.path.dirname(os.path.abspath(__file__))
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.executable, os.path.join(HERE, "fixtures", "input", "make_fixtures.py"),
                    tmp], check=True)
    r = subprocess.run([sys.argv[1], tmp], capture_output=True, text=True, timeout=240)
    sys.stdout.write(r.stdout)
    if r.returncode == 77:
        sys.exit(77)
    if r.stderr:
        print("stderr was not empty:\n" + r.stderr)
    if "HDF5-DIAG" in r.stderr or "HDF5-DIAG" in r.stdout:
        print("FAIL: HDF5's error stack was printed")
        sys.exit(1)
    if r.returncode != 0 or r.stderr:
        print(f"FAIL: test_input_read exited {r.returncode}")
        sys.exit(1)
print("all passed")
