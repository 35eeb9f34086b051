"""pytest's set-up for the Python package's tests (tests/CMakeLists.txt: test_python_eigh).

ctest runs them with PYTHONPATH naming the build tree's package (build/python) and
DUSK_TEST_BUILD naming the build directory: the dusk imported must be that build's, not one
installed elsewhere. Subprocesses (fresh interpreters, for what happens once per process)
get the same environment.
"""
import os
import subprocess
import sys
import textwrap

import pytest

BUILD = os.environ.get("DUSK_TEST_BUILD")
# as tests/runlib.py: multiplies the fixed workloads (a faster machine sees them smaller)
SCALE = float(os.environ.get("DUSK_TEST_SCALE") or 1)
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_configure(config):
    if BUILD:
        import dusk

        want = os.path.realpath(os.path.join(BUILD, "python", "dusk"))
        have = os.path.realpath(os.path.dirname(dusk.__file__))
        if have != want:
            raise pytest.UsageError(f"the dusk imported is {have}, not the build's {want}")


def run_python(code, env=None, timeout=240, **kw):
    """Run `code` in a fresh interpreter (this one), with this environment plus `env`;
    returns the CompletedProcess (text, stdout and stderr captured)."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=e, timeout=timeout,
                          capture_output=True, text=True, **kw)


@pytest.fixture
def python():
    return run_python
