"""dusk.map in this process: results against a plain loop, inputs, outputs, failures, refusals."""
import json
import os

import numpy as np
import pytest

import dusk


def square_row(i):
    return np.array([i, i * i, np.sin(i)], dtype=float)


def with_row(i, x):
    return np.cumsum(x) * np.cos(i) + i


def two(i):
    return np.full((2, 3), float(i)), np.float64(i) / 7.0


def flaky(i):
    if i == 3:
        raise ZeroDivisionError("item three divides by zero")
    if i == 6:
        return np.zeros(5)
    return np.linspace(0.0, 1.0, 4) * i


def test_count_equals_loop_bitwise():
    T = 257
    got = dusk.map(square_row, T)
    want = np.stack([square_row(i) for i in range(T)])
    assert got.dtype == np.float64 and got.shape == (T, 3)
    assert got.tobytes() == want.tobytes()


def test_the_issue_example_and_scalars():
    a = dusk.map(lambda i: np.full(3, float(i)), 10)
    assert a.shape == (10, 3) and (a[:, 0] == np.arange(10)).all()
    s = dusk.map(lambda i: i * 0.5, 9, chunk=2)
    assert s.shape == (9,) and (s == np.arange(9) * 0.5).all()


@pytest.mark.parametrize("chunk", [None, 1, 5])
def test_array_rows(chunk):
    x = np.random.default_rng(1).random((40, 6))
    got = dusk.map(with_row, x, chunk=chunk)
    want = np.stack([with_row(i, x[i]) for i in range(40)])
    assert got.tobytes() == want.tobytes()


def test_float32_rows_are_float64(tmp_path):
    x = np.random.default_rng(2).random((12, 5)).astype(np.float32)
    seen = dusk.map(lambda i, r: np.array([r.dtype == np.float64, r.shape == (5,)], float), x)
    assert (seen == 1).all()
    got = dusk.map(with_row, x)
    want = np.stack([with_row(i, x[i].astype(np.float64)) for i in range(12)])
    assert got.tobytes() == want.tobytes()


def test_npy_and_hdf5_inputs(tmp_path):
    x = np.random.default_rng(3).random((30, 4, 2))
    np.save(tmp_path / "x.npy", x)
    want = np.stack([with_row(i, x[i]) for i in range(30)])
    assert dusk.map(with_row, str(tmp_path / "x.npy")).tobytes() == want.tobytes()
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["group/x"] = x
        f["other"] = np.zeros(3)
    got = dusk.map(with_row, f"{tmp_path}/x.h5:group/x")
    assert got.tobytes() == want.tobytes()
    with pytest.raises(ValueError, match="datasets"):
        dusk.map(with_row, str(tmp_path / "x.h5"))


def test_hdf5_data_never_written(tmp_path):
    """Rows a producer never wrote (chunks never allocated: HDF5 would read the fill value)
    fail as items, named; a dataset with nothing written is refused."""
    h5py = pytest.importorskip("h5py")
    x = np.random.default_rng(5).random((12, 4, 2))
    with h5py.File(tmp_path / "p.h5", "w") as f:
        d = f.create_dataset("x", shape=x.shape, dtype="f8", chunks=(1, 4, 2), fillvalue=0.0)
        for i in range(12):
            if i not in (2, 9):
                d[i] = x[i]
        f.create_dataset("none", shape=x.shape, dtype="f8", chunks=(1, 4, 2))
        f.create_dataset("flat", shape=x.shape, dtype="f8")
    r = dusk.map(with_row, f"{tmp_path}/p.h5:x", out=tmp_path / "o")
    assert r.failed == [2, 9]
    for i in (2, 9):
        assert f"item {i}: never written in the HDF5 dataset (chunk not allocated)" in r.reasons[i]
    ok = [i for i in range(12) if i not in (2, 9)]
    assert r.load()[ok].tobytes() == np.stack([with_row(i, x[i]) for i in ok]).tobytes()
    for name in ("none", "flat"):
        with pytest.raises(ValueError, match="never written"):
            dusk.map(with_row, f"{tmp_path}/p.h5:{name}")


def test_tuple_outputs_in_memory_and_on_disk(tmp_path):
    a, b = dusk.map(two, 11)
    assert a.shape == (11, 2, 3) and b.shape == (11,)
    assert (b == np.arange(11) / 7.0).all()
    r = dusk.map(two, 11, out=tmp_path / "o", names=["mat", "val"])
    assert isinstance(r, dusk.MapResult) and r.outcome == "finished" and r.failed == []
    assert set(r.paths) == {"mat", "val"}
    assert np.load(r.paths["mat"]).tobytes() == a.tobytes()
    la, lb = r.load()
    assert lb.tobytes() == b.tobytes()


def test_hdf5_output(tmp_path):
    pytest.importorskip("h5py")
    r = dusk.map(square_row, 20, out=tmp_path / "h", format="h5")
    assert r.paths["result"].endswith("results.h5:/result")
    assert r.load().tobytes() == dusk.map(square_row, 20).tobytes()


def test_failures_stay_per_item(tmp_path):
    got = dusk.map(flaky, 10)
    assert np.isnan(got[3]).all() and np.isnan(got[6]).all()
    ok = [i for i in range(10) if i not in (3, 6)]
    assert got[ok].tobytes() == np.stack([flaky(i) for i in ok]).tobytes()
    r = dusk.map(flaky, 10, out=tmp_path / "f")
    assert r.failed == [3, 6]
    assert "ZeroDivisionError: item three divides by zero" in r.reasons[3]
    assert "expected (4,)" in r.reasons[6] and "(5,)" in r.reasons[6]
    with open(tmp_path / "f" / "failures.json") as f:
        failures = {e["task"]: e for e in json.load(f)["failures"]}
    assert sorted(failures) == [3, 6]
    reason = failures[3]["reason"]
    assert reason.startswith("ZeroDivisionError: item three divides by zero")
    assert f"{__file__}:" in reason and "in flaky" in reason
    assert failures[3]["step"] == "flaky"
    assert "expected (4,)" in failures[6]["reason"]
    data = np.load(tmp_path / "f" / "result.npy")
    assert np.isnan(data[3]).all() and data[ok].tobytes() == got[ok].tobytes()


def test_errors_raise():
    with pytest.raises(dusk.MapError, match=r"2 of 10 items failed: \[3, 6\]") as e:
        dusk.map(flaky, 10, errors="raise")
    assert e.value.failed == [3, 6]
    assert "ZeroDivisionError" in str(e.value)
    assert e.value.result.shape == (10, 4)


def test_first_items_all_fail():
    def bad(i):
        raise KeyError(i)
    with pytest.raises(dusk.MapError, match="KeyError"):
        dusk.map(bad, 5)


def test_finished_run_is_reused_and_overwritten(tmp_path):
    calls = []

    def counted(i):
        calls.append(i)
        return np.array([float(i)])

    out = tmp_path / "r"
    dusk.map(counted, 20, out=out, params={"n": 1})
    first = (out / "result.npy").read_bytes()
    calls.clear()
    r = dusk.map(counted, 20, out=out, params={"n": 1})  # the same run, finished: kept
    assert r.failed == [] and (out / "result.npy").read_bytes() == first
    assert len(calls) <= 1  # at most the shape probe
    with pytest.raises(dusk.RunError, match="format 'npy'"):
        dusk.map(counted, 20, out=out, params={"n": 1}, format="h5")
    calls.clear()
    dusk.map(counted, 20, out=out, params={"n": 1}, overwrite=True)
    assert len(calls) >= 20


def test_another_runs_directory_is_refused(tmp_path):
    out = tmp_path / "r"
    dusk.map(square_row, 8, out=out, params={"seed": 1})
    before = {p: (out / p).read_bytes() for p in os.listdir(out) if not p.startswith(".")}
    for kwargs in ({"params": {"seed": 2}}, {"params": {"seed": 1}, "items": 9}):
        items = kwargs.pop("items", 8)
        with pytest.raises(dusk.RunError, match="another run"):
            dusk.map(square_row, items, out=out, **kwargs)
    with pytest.raises(dusk.RunError, match="another run"):
        dusk.map(with_row, np.zeros((8, 3)), out=out, params={"seed": 1})
    after = {p: (out / p).read_bytes() for p in os.listdir(out) if not p.startswith(".")}
    assert after == before
    # another program's run
    other = tmp_path / "other"
    other.mkdir()
    manifest = ("dusk-manifest 1\nprogram dusk-eigh\nparams n=4\ntasks 8\nstate finished\n"
                "done 8\nids 0-7\n")
    (other / "manifest.txt").write_text(manifest)
    with pytest.raises(dusk.RunError):
        dusk.map(square_row, 8, out=other)
    assert sorted(p for p in os.listdir(other) if not p.startswith(".")) == ["manifest.txt"]
    assert (other / "manifest.txt").read_text() == manifest
    with pytest.raises(dusk.RunError, match="no run"):
        dusk.map(square_row, 8, out=tmp_path / "empty", resume=True)


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="callable"):
        dusk.map(42, 3)
    with pytest.raises(ValueError, match="negative"):
        dusk.map(square_row, -1)
    with pytest.raises(TypeError, match="bool"):
        dusk.map(square_row, True)
    with pytest.raises(TypeError):
        dusk.map(square_row, 2.5)
    with pytest.raises(TypeError, match="real numbers"):
        dusk.map(with_row, np.array([["a"], ["b"]]))
    with pytest.raises(FileNotFoundError):
        dusk.map(with_row, str(tmp_path / "missing.npy"))
    for kw in ({"errors": "ignore"}, {"format": "csv"}, {"resume": "yes"}, {"chunk": 0},
               {"distribute": "random"}, {"names": ["a", "b"]}, {"names": ["bad name"]}):
        with pytest.raises(ValueError):
            dusk.map(square_row, 3, **kw)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        dusk.map(lambda i: np.zeros((2, 2, 2)), 3)
    with pytest.raises(ValueError, match="shape"):
        dusk.map(square_row, 3, shape=(4,))
    assert not (tmp_path / "x").exists()


def test_empty_batch():
    assert dusk.map(square_row, 0).shape == (0,)
    assert dusk.map(square_row, 0, shape=(3,)).shape == (0, 3)


def test_one_blas_thread_inside_fn():
    import ctypes
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        get = ob.openblas_get_num_threads
    except (OSError, AttributeError):
        pytest.skip("no OpenBLAS in this process")
    get.restype = ctypes.c_int
    before = get()
    inside = dusk.map(lambda i: float(get()), 16, chunk=1)
    assert set(inside.tolist()) == {1.0}
    assert get() == before


def test_from_another_thread():
    import threading
    got = []
    t = threading.Thread(target=lambda: got.append(dusk.map(square_row, 30)))
    t.start()
    t.join()
    assert got[0].tobytes() == np.stack([square_row(i) for i in range(30)]).tobytes()


@pytest.mark.parametrize("struct, cls, header", [
    ("dusk_map_spec", "MapSpec", "dusk_map.h"),
    ("dusk_batch_state", "BatchState", "dusk_batch.h"),
    ("dusk_batch_failure", "BatchFailure", "dusk_batch.h"),
])
def test_map_structures_match_the_headers(tmp_path, struct, cls, header):
    import ctypes
    from dusk import _map
    from test_layout import c_layout, py_layout
    cls = getattr(_map, cls)
    fields = [f for f, _ in cls._fields_ if f != "_reserve"]
    want = c_layout(tmp_path, struct, fields, header)
    have = py_layout(cls, fields)
    align = max(ctypes.alignment(t) for _, t in cls._fields_ if _ != "_reserve")
    have["size"] = ((have["size"][0] + align - 1) // align * align,)
    assert have == want


def test_failed_items_are_computed_again_by_the_same_call(tmp_path):
    calls = []
    fixed = tmp_path / "fixed"

    def sometimes(i):
        calls.append(i)
        if i == 3 and not fixed.exists():
            raise ValueError("not yet")
        return np.ones(2) * i

    r = dusk.map(sometimes, 10, out=tmp_path / "o")
    assert r.failed == [3]
    fixed.write_text("")
    calls.clear()
    r = dusk.map(sometimes, 10, out=tmp_path / "o")
    assert r.failed == [] and not (tmp_path / "o" / "failures.json").exists()
    assert sorted(set(calls)) == [0, 3]  # the shape probe, and the item that had failed
    assert r.load().tobytes() == (np.arange(10.0)[:, None] * np.ones(2)).tobytes()


@pytest.mark.parametrize("first_failing", [0, 3])
def test_fn_called_once_per_item(first_failing):
    """The shapes of the outputs come from fn's first calls; the run reuses what those calls
    gave (results and exceptions) rather than calling fn on those items a second time."""
    calls = {}

    def f(i):
        calls[i] = calls.get(i, 0) + 1
        if i < first_failing:
            raise RuntimeError(f"item {i} fails")
        return np.full(2, float(i))

    r = dusk.map(f, 40, chunk=3)
    assert sorted(calls) == list(range(40)) and set(calls.values()) == {1}, calls
    want = np.array([[np.nan, np.nan] if i < first_failing else [i, i] for i in range(40)])
    assert np.array_equal(r, want, equal_nan=True)


def test_probe_result_is_a_copy():
    """fn may return a buffer of its own that each call overwrites: item 0's row is item 0's."""
    buf = np.zeros(3)

    def f(i):
        buf[:] = i
        return buf.copy() if i else buf

    r = dusk.map(f, 10, chunk=1)
    assert np.array_equal(r, np.repeat(np.arange(10.0)[:, None], 3, axis=1))


def test_input_file_edited_in_place(tmp_path):
    """A .npy input edited in place (same size, blocks the sampled fingerprint misses) after a
    run: the same call raises RunError rather than return (or resume into) results of the old
    matrices; overwrite=True computes them from the new ones."""
    T, W = 20000, 64  # 10 MB: the fingerprint samples 3 MiB of it
    x = np.random.default_rng(7).random((T, W))
    path, out = str(tmp_path / "x.npy"), str(tmp_path / "o")
    np.save(path, x)
    r = dusk.map(with_row, path, out=out)
    assert r.load().tobytes() == np.stack([with_row(i, x[i]) for i in range(T)]).tobytes()
    size, header = os.path.getsize(path), os.path.getsize(path) - x.nbytes
    blocks = [(0, 1 << 20), (max(size - (1 << 20), 0), size)] + \
        [(size * k // 17, size * k // 17 + (1 << 16)) for k in range(1, 17)]
    row = next(i for i in range(T // 2, T) if not any(
        lo <= header + i * W * 8 + 8 * (W - 1) and header + i * W * 8 < hi for lo, hi in blocks))
    m = np.load(path, mmap_mode="r+")
    m[row, 3] += 1.0  # in no sampled block: the fingerprint alone would not see it
    m.flush()
    del m
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    with pytest.raises(dusk.RunError, match="modified since the run"):
        dusk.map(with_row, path, out=out)
    x[row, 3] += 1.0
    r = dusk.map(with_row, path, out=out, overwrite=True)
    assert r.load().tobytes() == np.stack([with_row(i, x[i]) for i in range(T)]).tobytes()
    # a manifest written before the time was kept is trusted as it was
    man = os.path.join(out, "manifest.txt")
    text = open(man).read()
    assert ":mtime=" in text
    import re
    with open(man, "w") as f:
        f.write(re.sub(r":mtime=[0-9]+", "", text))
    assert dusk.map(with_row, path, out=out).outcome == "finished"


MALLOC_SCRIPT = r'''
import resource
import numpy as np
import dusk

def task(i):  # the tutorial's, at n = 300
    rng = np.random.RandomState(i)
    b = rng.rand(300, 300)
    return np.linalg.eigh(b.T @ b)[0]

before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
r = dusk.map(task, 40, progress=False)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
assert r.shape == (40, 300) and np.all(r[:, 0] > -1e-9), r[:2]
print(faults)
'''


@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's allocator stands in for glibc's malloc here")
def test_malloc_keeps_an_items_arrays_for_the_next():
    """dusk.map sets glibc's malloc thresholds (mmap above 32 MiB, trim above 64 MiB) before
    fn first runs, so that an item's arrays are reused by the next rather than faulted in
    again page by page; DUSK_MALLOC=system leaves glibc's own. The tutorial's task at
    n = 300, 40 items: about 1,000 page faults an item with glibc's thresholds, under 200
    with dusk's (measured here); at n = 1000 the faults took a quarter of the time."""
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    faults = {}
    for mode in ("dusk", "system"):
        p = subprocess.run([sys.executable, "-c", MALLOC_SCRIPT], env=dict(env, DUSK_MALLOC=mode),
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        faults[mode] = int(p.stdout.split()[-1])
    assert faults["system"] > 3 * faults["dusk"], faults
