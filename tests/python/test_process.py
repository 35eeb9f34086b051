"""What happens once per process, each case in a fresh interpreter: dusk started on first use
with the environment's settings or configure()'s, configure() refused once started, the trace
written at exit, the progress bar, a forked child refused, and the library found from the
build tree, from DUSK_LIBRARY, or not at all (ImportError saying what was tried)."""
import os

import pytest

import dusk


def test_starts_on_first_use_with_the_environment(python):
    p = python("""
        import dusk
        print(dusk.info()["cpu_workers"])
        """, env={"STARPU_NCPU": "1"})
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1"]


def test_configure_before_first_use(python):
    p = python("""
        import numpy as np, dusk
        dusk.configure(ncpu=1, blas_threads=1, sched="eager")
        dusk.configure(ncpu=2)  # the last value counts
        i = dusk.info()
        print(i["cpu_workers"], i["sched"])
        try:
            dusk.configure(ncpu=1)
        except RuntimeError as e:
            print("refused:", e)
        """, env={"STARPU_NCPU": "1"})
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "2 eager", p.stdout
    assert lines[1].startswith("refused: dusk.configure(): dusk is already running"), p.stdout


def test_numpy_keeps_its_threads_and_cores_between_calls(python):
    # OpenBLAS's pthreads build keeps one thread count for the process: dusk's workers' (1)
    # must not become NumPy's own, and idle workers must not poll. Found through the
    # OpenBLAS that NumPy and dusk share (skipped when this NumPy uses another BLAS).
    p = python("""
        import ctypes, resource, time
        import numpy as np, dusk
        try:
            blas = ctypes.CDLL("libopenblas.so.0")
            blas.openblas_get_num_threads
        except (OSError, AttributeError):
            print("skip")
            raise SystemExit(0)
        blas.openblas_set_num_threads(3)
        dusk.configure(ncpu=2, blas_threads=1)
        a = np.random.default_rng(0).random((8, 30, 30))
        w, v = dusk.eigh(a @ a.transpose(0, 2, 1))
        print(blas.openblas_get_num_threads())
        time.sleep(0.5)
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(1)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        print(f"{r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime:.3f}")
        """)
    assert p.returncode == 0, p.stderr
    out = p.stdout.split()
    if out == ["skip"]:
        pytest.skip("NumPy does not use libopenblas.so.0 here")
    assert out[0] == "3", p.stdout  # NumPy's own count back after the call
    assert float(out[1]) < 0.3, f"idle dusk used {out[1]} CPU-s in 1 s"


def test_configure_refuses_bad_values(python):
    p = python("""
        import dusk
        for kw in ({"ncpu": -1}, {"blas_threads": 0}, {"sched": ""}, {"progress": 2},
                   {"ncpu": 1.5}):
            try:
                dusk.configure(**kw)
                print("accepted", kw)
            except (ValueError, TypeError) as e:
                print(type(e).__name__)
        try:  # refused by configure() itself, not at the first call (issue 24)
            dusk.configure(sched="no-such-policy")
            print("accepted")
        except ValueError as e:
            print("ValueError", "no-such-policy" in str(e))
        """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["ValueError"] * 4 + ["TypeError", "ValueError", "True"], p.stdout


def test_trace_written_at_exit(python, tmp_path):
    p = python(f"""
        import numpy as np, dusk
        dusk.configure(trace={str(tmp_path / "trace")!r})
        dusk.eigvalsh(np.eye(5)[None].repeat(4, axis=0))
        """)
    assert p.returncode == 0, p.stderr
    for f in ("trace.json", "report.html", "dag.dot"):
        assert (tmp_path / "trace" / f).is_file(), (f, p.stderr)


def test_progress_bar_when_asked(python):
    code = """
        import numpy as np, dusk
        dusk.configure(progress={})
        dusk.eigvalsh(np.eye(8)[None].repeat(50, axis=0))
        """
    p = python(code.format("'always'"))
    assert p.returncode == 0, p.stderr
    assert "dusk.eigvalsh 100%" in p.stderr and "50/50" in p.stderr, p.stderr
    # True: only on a terminal, which stderr is not here
    p = python(code.format("True"))
    assert p.returncode == 0 and "dusk.eigvalsh" not in p.stderr, p.stderr
    p = python(code.format("None"))
    assert p.returncode == 0 and p.stderr == "", p.stderr


def test_forked_child_refused(python):
    p = python("""
        import os, numpy as np, dusk
        dusk.eigvalsh(np.eye(3))
        pid = os.fork()
        if pid == 0:
            try:
                dusk.eigvalsh(np.eye(3))
                os._exit(1)
            except RuntimeError as e:
                os._exit(0 if "fork()" in str(e) else 2)
        _, st = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(st))
        print("parent", dusk.eigvalsh(np.eye(3)).tolist())
        """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["child", "0", "parent", "[1.0,", "1.0,", "1.0]"], p.stdout


def test_library_from_the_build_tree_or_dusk_library(python):
    build = os.environ.get("DUSK_TEST_BUILD")
    if build:
        assert os.path.realpath(dusk.library) == os.path.realpath(
            os.path.join(build, "libdusk.so.0"))
    p = python("""
        import dusk, numpy as np
        print(dusk.library)
        print(dusk.eigvalsh(np.diag([3.0, 1.0, 2.0])).tolist())
        """, env={"DUSK_LIBRARY": os.path.realpath(dusk.library)})
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [os.path.realpath(dusk.library), "[1.0, 2.0, 3.0]"]
    p = python("import dusk", env={"DUSK_LIBRARY": "/nonexistent/libdusk.so"})
    assert p.returncode != 0
    assert "ImportError: dusk: cannot load DUSK_LIBRARY=/nonexistent/libdusk.so" in p.stderr
