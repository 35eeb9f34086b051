"""dusk.map(..., processes=True): fn in a forked process per worker. Results byte-identical to
a plain loop and to the threads; an exception, a wrong shape, a child that dies (SIGKILL,
segfault, os._exit) fail their item alone; SIGKILL and Ctrl-C then resume; no child outlives
its parent; ranks. And progress=True says its summary on stderr, never stdout."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import dusk

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import runlib  # noqa: E402  (tests/runlib.py: waiting for evidence, never fixed sleeps)

PARENT = os.getpid()


def process_data(i):
    """The tutorial's task, small: its own generator per item."""
    b = np.random.RandomState(i).rand(12, 12)
    return np.linalg.eigh(b.T @ b)[0]


def two_outputs(i, x):
    return np.linalg.eigvalsh(np.outer(x, x) + np.eye(len(x)) * i), x.sum() * i


def pure_python(i):
    return np.array([sum(k * k % 7 for k in range(i)), i / 3.0])


def test_equal_to_a_loop_and_to_threads():
    T = 300
    want = np.stack([pure_python(i) for i in range(T)])
    assert dusk.map(pure_python, T, processes=True).tobytes() == want.tobytes()
    # BLAS and LAPACK: a loop with a worker's BLAS threads (a different count can change the
    # last bits), as the threads run it
    got = dusk.map(process_data, T, processes=True)
    with dusk._map._BlasAsAWorker():
        want = np.stack([process_data(i) for i in range(T)])
    assert got.tobytes() == want.tobytes()
    assert got.tobytes() == dusk.map(process_data, T).tobytes()
    # rows of an array in, two outputs out, several chunk sizes (one item per task too)
    x = np.random.default_rng(3).random((150, 5))
    with dusk._map._BlasAsAWorker():
        w = np.stack([two_outputs(i, x[i])[0] for i in range(150)])
    s = np.array([two_outputs(i, x[i])[1] for i in range(150)])
    for chunk in (None, 1, 7):
        gw, gs = dusk.map(two_outputs, x, processes=True, chunk=chunk)
        assert gw.tobytes() == w.tobytes() and gs.tobytes() == s.tobytes(), chunk


def test_lambda_closure_and_state_need_no_pickling():
    scale = {"k": 3.0}
    got = dusk.map(lambda i: np.array([i * scale["k"], float(os.getpid() != PARENT)]), 100,
                   processes=True)
    assert np.array_equal(got[:, 0], np.arange(100) * 3.0)
    assert got[20:, 1].all()  # run by the children (the first items may be the probe's)


def failing(i):
    if i == 37:
        raise ValueError(f"bad item {i}")
    if i == 41:
        return np.zeros(3)
    return np.full(2, float(i))


def test_exception_and_wrong_shape_fail_their_item_alone(tmp_path):
    r = dusk.map(failing, 80, processes=True, out=tmp_path / "o")
    assert r.failed == [37, 41]
    assert "ValueError: bad item 37" in r.reasons[37] and "in failing" in r.reasons[37]
    assert "returned shape (3,)" in r.reasons[41]
    got = r.load()
    want = np.stack([np.full(2, float(i)) for i in range(80)])
    want[[37, 41]] = np.nan
    assert np.array_equal(got, want, equal_nan=True)
    f = json.loads((tmp_path / "o" / "failures.json").read_text())
    text = json.dumps(f)
    assert "ValueError: bad item 37" in text and "test_map_procs.py" in text
    # the same reasons as the threads give
    t = dusk.map(failing, 80, out=tmp_path / "t")
    assert t.reasons == r.reasons


def dying(i):
    if os.getpid() != PARENT:  # never the test's own process (the probe runs here)
        if i == 30:
            os.kill(os.getpid(), signal.SIGKILL)
        if i == 45:
            import ctypes
            ctypes.string_at(0)  # a segfault
        if i == 60:
            os._exit(3)
    return np.full(3, i * 0.5)


def test_child_that_dies_fails_its_item_and_the_batch_goes_on():
    for chunk in (None, 4):
        with pytest.raises(dusk.MapError) as e:
            dusk.map(dying, 100, processes=True, chunk=chunk, errors="raise")
        err = e.value
        assert err.failed == [30, 45, 60], chunk
        assert "killed by signal 9 (SIGKILL)" in err.reasons[30]
        # under AddressSanitizer (preloaded in that build) its SEGV handler reports, then exits 1
        segv = "exited with status 1" if "libasan" in os.environ.get("LD_PRELOAD", "") else \
            "killed by signal 11 (SIGSEGV)"
        assert segv in err.reasons[45], err.reasons[45]
        assert "exited with status 3" in err.reasons[60]
        want = np.stack([np.full(3, i * 0.5) for i in range(100)])
        want[[30, 45, 60]] = np.nan
        assert np.array_equal(err.result, want, equal_nan=True)
    assert not children_of(os.getpid())  # every child reaped


def where_it_runs(i):
    cpus = os.sched_getaffinity(0)
    return np.array([os.getpid(), len(cpus), min(cpus)], dtype=np.float64)


@pytest.mark.skipif(os.environ.get("STARPU_WORKERS_NOBIND") == "1",
                    reason="StarPU's workers are not bound to cores here")
def test_each_child_runs_on_its_workers_core():
    """A worker and its child take turns on the worker's core (StarPU binds each worker to
    one): a child free to run anywhere was woken on the other core, busy with the other
    child, and its caches went cold."""
    r = dusk.map(where_it_runs, 200, processes=True)
    kids = r[r[:, 0] != PARENT]  # the shapes' probe runs the first items here
    assert len(kids) > 100
    assert (kids[:, 1] == 1).all(), np.unique(kids[:, 1:], axis=0)
    if len(os.sched_getaffinity(0)) > 1 and dusk._lib.cpu_worker_count() > 1:
        assert len(np.unique(kids[:, 2])) > 1  # on more than one core


def test_refusals():
    with pytest.raises(TypeError, match="processes must be True or False"):
        dusk.map(process_data, 3, processes="yes")
    import ctypes
    with pytest.raises(ValueError, match="processes=True is for a Python function"):
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                                 ctypes.c_void_p, ctypes.c_int64)
        dusk.map(proto(lambda *a: 0), 3, shape=(1,), processes=True)


def test_what_fn_prints_comes_once(tmp_path):
    code = """
        import sys
        import numpy as np, dusk
        print("before", flush=False)
        def f(i):
            sys.stdout.write(f"item {i}\\n")  # one write: the probe makes two calls at once
            return np.zeros(1)
        dusk.map(f, 40, processes=True, progress=False)
        print("after")
    """
    p = run(code)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines.count("before") == 1 and lines.count("after") == 1
    assert sorted(int(x.split()[1]) for x in lines if x.startswith("item")) == list(range(40))


# ---- in child processes: kills, Ctrl-C, ranks

SCRIPT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import dusk

    DELAY = float(os.environ.get("MAP_DELAY", "0"))

    def process(i):
        if DELAY:
            time.sleep(DELAY)
        if os.environ.get("MAP_HANG") and i >= 20:  # far longer than any test waits
            time.sleep(3600)
        rng = np.random.default_rng(i)
        b = rng.random((6, 6))
        return np.linalg.eigvalsh(b.T @ b), float(i) ** 0.5

    T = int(sys.argv[2])
    try:
        r = dusk.map(process, T, out=sys.argv[1], params={"n": 6}, chunk=2, progress=False,
                     processes=bool(os.environ.get("MAP_PROCESSES")))
    except KeyboardInterrupt as e:
        print("KeyboardInterrupt:", e, file=sys.stderr)
        sys.exit(130)
    print("outcome", r.outcome, "failed", r.failed)
    if os.environ.get("MAP_REPORT"):
        with open(os.path.join(os.environ["MAP_REPORT"], f"rank{dusk._map.rank()}"), "w") as f:
            f.write(f"outcome {r.outcome} failed {r.failed}")
""")


def env_for(delay=0.0, processes=True):
    env = dict(os.environ)
    env["MAP_DELAY"] = str(delay)
    env["MAP_PROCESSES"] = "1" if processes else ""
    env.setdefault("STARPU_SILENT", "1")
    return env


def run(code, env=None):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env=env or env_for(), capture_output=True, text=True, timeout=300)


def children_of(pid):
    """The live processes whose parent is pid."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(d))
    return found


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("procs") / "process.py"
    path.write_text(SCRIPT)
    return str(path)


@pytest.fixture(scope="module")
def reference(script, tmp_path_factory):
    """One uninterrupted run in threads: what every run with processes must equal, byte for
    byte."""
    T = runlib.scaled(300)
    out = str(tmp_path_factory.mktemp("ref") / "out")
    p = subprocess.run([sys.executable, script, out, str(T)], env=env_for(processes=False),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return T, {n: open(os.path.join(out, n), "rb").read() for n in ("result0.npy", "result1.npy")}


def same_as(reference, out):
    for name, data in reference[1].items():
        with open(os.path.join(out, name), "rb") as f:
            if f.read() != data:
                return False
    return True


def wait_children(p, seconds=60):
    """The children of the run p, once it has some (it forks them as its batch starts)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds and p.poll() is None:
        kids = children_of(p.pid)
        if kids:
            return kids
        time.sleep(0.02)
    pytest.fail(f"no child process of the run (exit {p.poll()}) within {seconds} s")


def wait_gone(pids, seconds=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        left = [p for p in pids if runlib.running(p)]
        if not left:
            return []
        time.sleep(0.02)
    return left


def test_sigkill_then_resume_and_no_child_left(script, reference, tmp_path):
    T, _ = reference
    rng = random.Random(os.environ.get("DUSK_TEST_SEED"))
    out = str(tmp_path / "out")
    landed = 0
    for attempt in range(3):
        p = subprocess.Popen([sys.executable, script, out, str(T)], env=env_for(0.01),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        runlib.wait_under_way(p, out, "dusk.map (processes) killed with SIGKILL")
        kids = wait_children(p)  # a resumed run's manifest lists items done before it forks
        runlib.wait_to_kill(rng, p, out, 0.3)
        p.kill()
        p.wait()
        assert wait_gone(kids) == [], "children outlived their parent's SIGKILL"
        if not runlib.landed_mid_run(out, T):
            break
        landed += 1
    p = subprocess.run([sys.executable, script, out, str(T)], env=env_for(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "outcome finished failed []" in p.stdout
    assert same_as(reference, out)
    assert landed >= 1


def test_children_busy_in_fn_die_with_their_parent(script, tmp_path):
    """A child in the middle of fn does not read its pipe: only the kernel's PR_SET_PDEATHSIG
    ends it when its parent is killed."""
    out = str(tmp_path / "out")
    env = env_for()
    env["MAP_HANG"] = "1"
    p = subprocess.Popen([sys.executable, script, out, "100"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runlib.wait_under_way(p, out, "dusk.map (processes, items that hang) killed with SIGKILL")
    kids = wait_children(p)
    p.kill()
    p.wait()
    assert wait_gone(kids) == [], "children busy in fn outlived their parent's SIGKILL"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_saves_and_resumes(script, reference, tmp_path, signum):
    """Ctrl-C (a terminal's SIGINT) and scancel's SIGTERM reach the whole process group, the
    children too: they ignore them; the parent stops the batch, the running items finish,
    what is done is saved, the children end."""
    T, _ = reference
    out = str(tmp_path / "out")
    p = subprocess.Popen([sys.executable, script, out, str(T)], env=env_for(0.01),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    runlib.wait_under_way(p, out, f"dusk.map (processes) stopped with {signum.name}")
    kids = wait_children(p)
    os.killpg(p.pid, signum)
    _, err = p.communicate(timeout=120)
    if signum == signal.SIGINT:
        assert p.returncode == 130, err
        assert "KeyboardInterrupt: dusk.map stopped:" in err
    else:
        assert p.returncode == 128 + signal.SIGTERM, err
        assert "dusk.map stopped by SIGTERM:" in err, err
    assert wait_gone(kids) == []
    m = runlib.manifests(out)[0]
    assert m.get("state") == "interrupted" and 0 < int(m.get("done")) < T
    p = subprocess.run([sys.executable, script, out, str(T)], env=env_for(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "outcome finished failed []" in p.stdout
    assert same_as(reference, out)


def test_ranks_byte_identical(script, reference, tmp_path):
    path = shutil.which("mpirun")
    if path is None:
        pytest.skip("mpirun is missing (Debian: openmpi-bin)")
    cmd = [path, "--oversubscribe"] + (["--allow-run-as-root"] if os.getuid() == 0 else [])
    for var in ("PYTHONPATH", "DUSK_TEST_BUILD", "STARPU_HOME", "STARPU_SILENT", "MAP_DELAY",
                "MAP_REPORT", "MAP_PROCESSES"):
        cmd += ["-x", var]
    T, _ = reference
    out = str(tmp_path / "out")
    env = env_for()
    env["MAP_REPORT"] = str(tmp_path)
    p = subprocess.run(cmd + ["-np", "2", sys.executable, script, out, str(T)],
                       env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0 and "without MPI support" in p.stderr:
        pytest.skip("this dusk has no StarPU-MPI")
    assert p.returncode == 0, p.stdout + p.stderr
    for r in range(2):
        assert (tmp_path / f"rank{r}").read_text() == "outcome finished failed []"
    assert same_as(reference, out)


def test_progress_summary_on_stderr(tmp_path):
    """As test_map_process.py's for the threads: stdout is the program's own."""
    code = f"""
        import numpy as np, dusk
        for _ in range(2):
            r = dusk.map(lambda i: np.zeros(2), 50, out={str(tmp_path / 'o')!r},
                         progress=True, processes=True)
        print("mine")
    """
    p = run(code)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "mine\n", p.stdout
    assert "Processed 50 items" in p.stderr and "Nothing to do" in p.stderr, p.stderr
