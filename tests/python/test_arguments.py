"""Arguments checked where they are given (NumPy's rule: ValueError/TypeError at the call that
got the bad argument, not later): configure() against the C library's one table of bounds
(dusk_config_bounds) and StarPU's list of policies, and eigh()'s `failed`; big-endian input
converted as NumPy converts it."""
import numpy as np
import pytest

import dusk


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"ncpu": 2**32 + 1}, ValueError, "ncpu must be from 0 to 4096"),
    ({"ncpu": 100000}, ValueError, "ncpu must be from 0 to 4096"),
    ({"ncpu": -1}, ValueError, "ncpu must be from 0 to"),
    ({"ncuda": 65}, ValueError, "ncuda must be from 0 to 64"),
    ({"blas_threads": 10**6}, ValueError, "blas_threads must be from 1 to 4096"),
    ({"blas_threads": 0}, ValueError, "blas_threads must be from 1"),
    ({"ncpu": 1.5}, TypeError, "ncpu must be an integer"),
    ({"ncpu": True}, TypeError, "ncpu must be an integer"),
    ({"sched": "bogus"}, ValueError, "unknown scheduler 'bogus'"),
    ({"sched": ""}, ValueError, "sched"),
    ({"sched": 3}, TypeError, "sched must be a str"),
    ({"trace": b"/x"}, TypeError, "trace must be a str"),
    ({"trace": ""}, ValueError, "trace must name a directory"),
    ({"trace": 7}, TypeError, "trace must be a str"),
    ({"progress": "sometimes"}, ValueError, "progress must be"),
])
def test_configure_refuses_at_the_call(python, kwargs, exc, words):
    # in a fresh interpreter: configure() is refused once dusk has started, and every case
    # must be refused by configure() itself, before anything starts
    p = python(f"""
        import dusk
        try:
            dusk.configure(**{kwargs!r})
        except {exc.__name__} as e:
            print("raised:", e)
        else:
            print("accepted")
        """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("raised: dusk.configure(): "), p.stdout
    assert words in p.stdout, p.stdout


def test_configure_accepts_the_bounds(python):
    p = python("""
        import dusk
        dusk.configure(ncpu=1, ncuda=0, blas_threads=1, sched="eager", trace=None)
        print(dusk.info()["cpu_workers"], dusk.info()["sched"])
        """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "eager"]


@pytest.mark.parametrize("dtype", [">f8", ">f4", "<f4"])
def test_big_endian_input_as_numpy(dtype):
    rng = np.random.default_rng(5)
    b = rng.random((3, 12, 12))
    a = (b @ b.transpose(0, 2, 1)).astype(dtype)
    w_np = np.linalg.eigvalsh(a)
    w = dusk.eigvalsh(a)
    assert w.dtype == w_np.dtype
    tol = 1e-4 if np.dtype(dtype).itemsize == 4 else 1e-10
    np.testing.assert_allclose(w, w_np, rtol=tol, atol=tol)
    r = dusk.eigh(a)
    assert r.eigenvectors.dtype == w_np.dtype
    np.testing.assert_allclose(r.eigenvalues, w_np, rtol=tol, atol=tol)


@pytest.mark.parametrize("fn", ["eigh", "eigvalsh"])
def test_failed_must_be_a_list_before_computing(fn):
    a = np.eye(4)[None].repeat(2, axis=0)
    with pytest.raises(TypeError, match="failed must be a list"):
        getattr(dusk, fn)(a, errors="nan", failed=())
    with pytest.raises(TypeError, match="failed must be a list"):
        dusk.batch_eigh(4, 2, errors="nan", failed=())
    got = []
    dusk.eigvalsh(a, errors="nan", failed=got)
    assert got == []
