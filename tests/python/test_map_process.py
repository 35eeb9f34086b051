"""dusk.map in child processes: SIGKILL then resume, Ctrl-C then resume, ranks, compiled
kernels (numba @cfunc, a C function through ctypes)."""
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dusk

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import runlib  # noqa: E402  (tests/runlib.py: waiting for evidence, never fixed sleeps)

# A child's script: item i sleeps DELAY seconds (released GIL), then a deterministic row.
SCRIPT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import dusk

    DELAY = float(os.environ.get("MAP_DELAY", "0"))

    def process(i):
        if DELAY:
            time.sleep(DELAY)
        rng = np.random.default_rng(i)
        b = rng.random((6, 6))
        return np.linalg.eigvalsh(b.T @ b), float(i) ** 0.5

    T = int(sys.argv[2])
    try:
        r = dusk.map(process, T, out=sys.argv[1], params={"n": 6}, chunk=2,
                     progress=bool(os.environ.get("MAP_PROGRESS")))
    except KeyboardInterrupt as e:
        print("KeyboardInterrupt:", e, file=sys.stderr)
        sys.exit(130)
    print("outcome", r.outcome, "failed", r.failed)
    if os.environ.get("MAP_REPORT"):  # one file per rank: mpirun interleaves their stdout
        with open(os.path.join(os.environ["MAP_REPORT"], f"rank{dusk._map.rank()}"), "w") as f:
            f.write(f"outcome {r.outcome} failed {r.failed}")
""")


def child_env(delay=0.0):
    env = dict(os.environ)
    env["MAP_DELAY"] = str(delay)
    env.setdefault("STARPU_SILENT", "1")
    return env


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("map") / "process.py"
    path.write_text(SCRIPT)
    return str(path)


@pytest.fixture(scope="module")
def reference(script, tmp_path_factory):
    """One uninterrupted run of T items, the outputs every other run must equal byte for byte."""
    T = runlib.scaled(400)
    out = str(tmp_path_factory.mktemp("ref") / "out")
    p = subprocess.run([sys.executable, script, out, str(T)], env=child_env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return T, {n: open(os.path.join(out, n), "rb").read() for n in ("result0.npy", "result1.npy")}


def same_as(reference, out):
    _, ref = reference
    for name, data in ref.items():
        with open(os.path.join(out, name), "rb") as f:
            if f.read() != data:
                return False
    return True


def computed(out):
    """The items the manifest lists done."""
    return sum(runlib._done(m) for m in runlib.manifests(out))


def test_sigkill_then_resume_byte_identical(script, reference, tmp_path):
    T, _ = reference
    rng = random.Random(os.environ.get("DUSK_TEST_SEED"))
    out = str(tmp_path / "out")
    delay = 0.01
    kills = landed = 0
    for attempt in range(3):
        p = subprocess.Popen([sys.executable, script, out, str(T)], env=child_env(delay),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        runlib.wait_under_way(p, out, "dusk.map killed with SIGKILL")
        runlib.wait_to_kill(rng, p, out, 0.3)
        p.kill()
        p.wait()
        kills += 1
        if not runlib.landed_mid_run(out, T):
            break
        landed += 1
        assert 0 < computed(out) < T  # the next run resumes, computing only what is missing
    p = subprocess.run([sys.executable, script, out, str(T)], env=child_env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "outcome finished failed []" in p.stdout
    assert same_as(reference, out)
    assert kills >= 1 and landed >= 1


def test_sigint_stops_saves_and_resumes(script, reference, tmp_path):
    T, _ = reference
    out = str(tmp_path / "out")
    p = subprocess.Popen([sys.executable, script, out, str(T)], env=child_env(0.01),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runlib.wait_under_way(p, out, "dusk.map stopped with SIGINT")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "KeyboardInterrupt: dusk.map stopped:" in err
    assert "run the same script again" in err and out in err
    m = runlib.manifests(out)[0]
    assert m.get("state") == "interrupted" and 0 < int(m.get("done")) < T
    assert not os.path.exists(os.path.join(out, "result0.npy"))  # still .partial
    p = subprocess.run([sys.executable, script, out, str(T)], env=child_env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert same_as(reference, out)


def test_sigterm_stops_saves_and_resumes(script, reference, tmp_path):
    """scancel, a job's time limit (--signal=TERM@...) and kill send SIGTERM: the batch stops
    as for Ctrl-C, saves, and the process ends with 143 (128 + SIGTERM) as SIGTERM would have
    ended it; the same script resumes it."""
    T, _ = reference
    out = str(tmp_path / "out")
    p = subprocess.Popen([sys.executable, script, out, str(T)], env=child_env(0.01),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runlib.wait_under_way(p, out, "dusk.map stopped with SIGTERM")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "dusk.map stopped by SIGTERM:" in err and "run the same script again" in err, err
    m = runlib.manifests(out)[0]
    assert m.get("state") == "interrupted" and 0 < int(m.get("done")) < T, m
    assert not os.path.exists(os.path.join(out, "result0.npy"))  # still .partial
    p = subprocess.run([sys.executable, script, out, str(T)], env=child_env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert same_as(reference, out)


def test_second_sigint_quits_at_once(script, reference, tmp_path):
    T, _ = reference
    out = str(tmp_path / "out")
    env = child_env(0.5)  # tasks of a second: the second Ctrl-C comes while they run
    env["MAP_PROGRESS"] = "1"
    p = subprocess.Popen([sys.executable, script, out, str(T)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runlib.wait_under_way(p, out, "dusk.map stopped with two SIGINTs")
    p.send_signal(signal.SIGINT)
    for line in p.stderr:  # evidence that the first was taken: the batch says it stops
        if "stopping" in line:
            break
    p.send_signal(signal.SIGINT)
    rest = p.stderr.read()
    p.wait(timeout=120)
    assert p.returncode == 130, rest
    assert "quit at once" in rest and "run the same script again" in rest
    p = subprocess.run([sys.executable, script, out, str(T)], env=child_env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert same_as(reference, out)


def mpirun():
    path = shutil.which("mpirun")
    if path is None:
        pytest.skip("mpirun is missing (Debian: openmpi-bin)")
    cmd = [path, "--oversubscribe"]
    if os.getuid() == 0:
        cmd.append("--allow-run-as-root")
    for var in ("PYTHONPATH", "DUSK_TEST_BUILD", "STARPU_HOME", "STARPU_SILENT", "MAP_DELAY",
                "MAP_REPORT"):
        cmd += ["-x", var]
    return cmd


@pytest.mark.parametrize("ranks", [2, 3])
def test_ranks_byte_identical(script, reference, tmp_path, ranks):
    T, _ = reference
    out = str(tmp_path / "out")
    env = child_env()
    env["MAP_REPORT"] = str(tmp_path)
    p = subprocess.run(mpirun() + ["-np", str(ranks), sys.executable, script, out, str(T)],
                       env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0 and "without MPI support" in p.stderr:
        pytest.skip("this dusk has no StarPU-MPI")
    assert p.returncode == 0, p.stdout + p.stderr
    for r in range(ranks):  # every rank returned the same
        assert (tmp_path / f"rank{r}").read_text() == "outcome finished failed []"
    assert same_as(reference, out)
    assert not any(n.startswith(".rank-") for n in os.listdir(out))


# Without out=: each rank computes its own items, and every rank gets every rank's rows and
# failures (item 3 fails on whichever rank owns it).
SCRIPT_MEMORY = textwrap.dedent("""
    import os, sys
    import numpy as np
    import dusk

    def process(i):
        if i == 3:
            raise ArithmeticError("item three")
        b = np.random.default_rng(i).random((6, 6))
        return np.linalg.eigvalsh(b.T @ b), -float(i) ** 0.5

    T, distribute, report = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    values, roots = dusk.map(process, T, distribute=distribute, chunk=3)
    r = dusk._map.rank()
    np.save(os.path.join(report, f"values{r}.npy"), values)
    np.save(os.path.join(report, f"roots{r}.npy"), roots)
    try:
        dusk.map(process, T, distribute=distribute, errors="raise")
    except dusk.MapError as e:
        with open(os.path.join(report, f"raised{r}"), "w") as f:
            f.write(f"{e.failed} {e.reasons[3]}")
""")


@pytest.mark.parametrize("ranks,distribute", [(2, "cyclic"), (3, "cyclic"), (3, "block")])
def test_ranks_without_out(tmp_path, ranks, distribute):
    T = 23
    script = tmp_path / "memory.py"
    script.write_text(SCRIPT_MEMORY)
    one = tmp_path / "one"
    one.mkdir()
    p = subprocess.run([sys.executable, str(script), str(T), distribute, str(one)],
                       env=child_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run(mpirun() + ["-np", str(ranks), sys.executable, str(script), str(T),
                                   distribute, str(tmp_path)],
                       env=child_env(), capture_output=True, text=True, timeout=600)
    if p.returncode != 0 and "without MPI support" in p.stderr:
        pytest.skip("this dusk has no StarPU-MPI")
    assert p.returncode == 0, p.stdout + p.stderr
    # the plain loop, here (with this process's BLAS threads: equal to rounding)
    want = np.full((T, 6), np.nan)
    for i in range(T):
        if i != 3:
            b = np.random.default_rng(i).random((6, 6))
            want[i] = np.linalg.eigvalsh(b.T @ b)
    ref = {name: np.load(one / f"{name}0.npy") for name in ("values", "roots")}
    assert np.allclose(ref["values"], want, rtol=0, atol=1e-11, equal_nan=True)  # |A| < 40
    assert np.isnan(ref["roots"][3]) and ref["roots"][5] == -5 ** 0.5
    for r in range(ranks):  # every rank: every rank's rows, bit for bit those of one process
        for name, data in ref.items():
            got = np.load(tmp_path / f"{name}{r}.npy")
            assert got.tobytes() == data.tobytes(), f"rank {r}: {name}"
        raised = (tmp_path / f"raised{r}").read_text()
        assert raised.startswith("[3] ") and "item three" in raised, f"rank {r}: {raised}"


# ---- compiled kernels: no Python on the path

KERNEL_C = r"""
#include <stdint.h>
int kernel(int64_t item, const double *x, int64_t xlen, double *out, int64_t outlen)
{
    if (item == 5) return 7;
    for (int64_t j = 0; j < outlen; j++)
        out[j] = (double)item * (double)(j + 1) + (xlen > 0 ? x[j % xlen] : 0.0);
    return 0;
}
"""


def kernel_reference(T, x, width):
    want = np.empty((T, width))
    for i in range(T):
        for j in range(width):
            want[i, j] = i * (j + 1) + (x[i, j % x.shape[1]] if x is not None else 0.0)
    want[5] = np.nan
    return want


def test_ctypes_kernel(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    (tmp_path / "k.c").write_text(KERNEL_C)
    so = tmp_path / "libk.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(so), str(tmp_path / "k.c")],
                   check=True)
    import ctypes
    fn = ctypes.CDLL(str(so)).kernel
    with pytest.raises(ValueError, match="shape"):
        dusk.map(fn, 10)
    got = dusk.map(fn, 40, shape=(3,))
    assert np.array_equal(got, kernel_reference(40, None, 3), equal_nan=True)
    x = np.random.default_rng(4).random((40, 2))
    got = dusk.map(fn, x, shape=(2, 2))
    assert np.array_equal(got.reshape(40, 4), kernel_reference(40, x, 4), equal_nan=True)
    xf = x.astype(np.float32)  # converted once, then read by the kernel
    got = dusk.map(fn, xf, shape=3)
    assert np.array_equal(got, kernel_reference(40, xf.astype(np.float64), 3), equal_nan=True)
    np.save(tmp_path / "x.npy", x)
    r = dusk.map(fn, str(tmp_path / "x.npy"), shape=(3,), out=tmp_path / "o")
    assert r.failed == [5] and "returned 7" in r.reasons[5]
    assert np.array_equal(r.load(), kernel_reference(40, x, 3), equal_nan=True)


def test_numba_cfunc_kernel():
    try:
        import numba
    except ImportError:
        if os.environ.get("CI"):  # the test command installs python3-numba: required there
            pytest.fail("numba is missing (python3-numba), and CI is set")
        pytest.skip("numba is missing (python3-numba)")
    from numba import types

    sig = types.int32(types.int64, types.CPointer(types.float64), types.int64,
                      types.CPointer(types.float64), types.int64)

    @numba.cfunc(sig, nopython=True)
    def kernel(item, x, xlen, out, outlen):
        if item == 5:
            return 7
        for j in range(outlen):
            out[j] = item * (j + 1.0) + (x[j % xlen] if xlen > 0 else 0.0)
        return 0

    got = dusk.map(kernel, 30, shape=(4,))
    assert np.array_equal(got, kernel_reference(30, None, 4), equal_nan=True)
    x = np.random.default_rng(5).random((30, 3))
    got = dusk.map(kernel, x, shape=(3,))
    assert np.array_equal(got, kernel_reference(30, x, 3), equal_nan=True)


def test_trace_names_tasks_after_the_function(tmp_path):
    code = textwrap.dedent(f"""
        import numpy as np, dusk
        def tutorial_step(i):
            return np.full(2, float(i))
        r = dusk.map(tutorial_step, 300, out={str(tmp_path / 'o')!r}, trace={str(tmp_path / 't')!r},
                     progress=False)
        print(r.outcome)
    """)
    p = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    for name in ("trace.json", "report.html", "dag.dot"):
        assert (tmp_path / "t" / name).exists(), name
    assert '"tutorial_step-' in (tmp_path / "t" / "trace.json").read_text()


def test_progress_summary_on_stderr(tmp_path):
    """progress=True: the bar, the summary and the resuming line on stderr, never stdout (a
    program's stdout is its own: it may be piped to another program)."""
    code = textwrap.dedent(f"""
        import numpy as np, dusk
        for _ in range(2):  # the second finds every item done: "Nothing to do"
            r = dusk.map(lambda i: np.zeros(2), 50, out={str(tmp_path / 'o')!r}, progress=True)
        print("mine")
    """)
    p = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "mine\n", p.stdout
    assert "Processed 50 items" in p.stderr and "Nothing to do" in p.stderr, p.stderr
