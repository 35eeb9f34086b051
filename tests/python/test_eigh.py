"""dusk.eigh, dusk.eigvalsh and dusk.batch_eigh against numpy.linalg: eigenvalues to 1e-10
relative, residuals and orthogonality, the shapes and dtypes NumPy gives, the layouts it takes
(C, Fortran, strided, read-only), its refusals, non-finite matrices both ways, complex input
refused, several threads at once with the GIL released, and the tutorial's batch against
NumPy's generator."""
import threading
import tracemalloc

import numpy as np
import pytest

import dusk

RTOL = 1e-10


def sym_stack(shape, n, seed=0):
    """Symmetric positive matrices bᵀb, shape + (n, n), float64, C order."""
    rng = np.random.default_rng(seed)
    b = rng.random(tuple(shape) + (n, n))
    return b.swapaxes(-1, -2) @ b


def check_values(w, a, UPLO="L"):
    """w against numpy.linalg.eigvalsh(a): to 1e-10 of the largest, matrix by matrix."""
    ref = np.linalg.eigvalsh(a, UPLO=UPLO)
    assert w.shape == ref.shape
    scale = np.abs(ref).max(axis=-1, keepdims=True)
    err = np.abs(w - ref) / scale
    assert np.all(err <= RTOL), err.max()
    assert np.all(np.diff(w, axis=-1) >= 0)


def symmetrised(a, UPLO="L"):
    """The symmetric matrix LAPACK sees when it reads a's UPLO triangle."""
    t = np.tril(a) if UPLO == "L" else np.triu(a)
    return t + np.swapaxes(t, -1, -2) - t * np.eye(a.shape[-1])


def check_vectors(w, v, a, UPLO="L"):
    """The residual ||A V - V diag(w)|| / (n ||A||) and ||VᵀV - I|| of every matrix."""
    s = symmetrised(a, UPLO)
    n = a.shape[-1]
    res = np.linalg.norm(s @ v - v * w[..., None, :], axis=(-2, -1))
    assert np.all(res <= 1e-13 * n * np.linalg.norm(s, axis=(-2, -1)))
    orth = np.linalg.norm(np.swapaxes(v, -1, -2) @ v - np.eye(n), axis=(-2, -1))
    assert np.all(orth <= 1e-12)


# ---- results against NumPy -----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(), (7,), (3, 4)], ids=["n,n", "T,n,n", "A,B,n,n"])
def test_eigh_against_numpy(shape):
    a = sym_stack(shape, 30, seed=len(shape))
    r = dusk.eigh(a)
    w, v = r
    assert r.eigenvalues is w and r.eigenvectors is v
    assert w.shape == shape + (30,) and v.shape == shape + (30, 30)
    assert w.dtype == np.float64 and v.dtype == np.float64
    assert r.failed == []
    check_values(w, a)
    check_vectors(w, v, a)
    # the same columns as NumPy's, up to sign (the eigenvalues are well apart)
    w0, v0 = np.linalg.eigh(a)
    dots = np.abs(np.sum(v * v0, axis=-2))
    np.testing.assert_allclose(dots, 1, atol=1e-8)


@pytest.mark.parametrize("shape", [(), (7,), (3, 4)], ids=["n,n", "T,n,n", "A,B,n,n"])
def test_eigvalsh_against_numpy(shape):
    a = sym_stack(shape, 25, seed=10 + len(shape))
    w = dusk.eigvalsh(a)
    assert w.shape == shape + (25,) and w.dtype == np.float64
    check_values(w, a)


@pytest.mark.parametrize("UPLO", ["L", "U", "l", "u"])
def test_uplo_reads_one_triangle(UPLO):
    a = sym_stack((5,), 20, seed=3)
    # the triangle not named holds garbage, as it may for NumPy
    if UPLO.upper() == "L":
        a = np.tril(a) + np.triu(np.full_like(a, -7.5), 1)
    else:
        a = np.triu(a) + np.tril(np.full_like(a, 123.0), -1)
    w, v = dusk.eigh(a, UPLO=UPLO)
    check_values(w, a, UPLO=UPLO.upper())
    check_vectors(w, v, a, UPLO=UPLO.upper())
    check_values(dusk.eigvalsh(a, UPLO=UPLO), a, UPLO=UPLO.upper())


def test_uplo_refused():
    with pytest.raises(ValueError, match="UPLO"):
        dusk.eigh(np.eye(3), UPLO="X")
    with pytest.raises(ValueError, match="UPLO"):
        dusk.eigvalsh(np.eye(3), UPLO="upper")


def test_result_is_numpys_shape():
    r = dusk.eigh(np.eye(4))
    assert isinstance(r, tuple) and len(r) == 2
    assert r._fields == ("eigenvalues", "eigenvectors")
    if hasattr(np.linalg, "_linalg") and hasattr(np.linalg._linalg, "EighResult"):
        assert isinstance(r, np.linalg._linalg.EighResult)  # NumPy 2
    np.testing.assert_array_equal(r.eigenvalues, np.ones(4))


# ---- shapes, dtypes and layouts ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(0, 5, 5), (2, 0, 6, 6), (3, 0, 0), (0, 0)])
def test_empty(shape):
    a = np.zeros(shape)
    w0, v0 = np.linalg.eigh(a)
    w, v = dusk.eigh(a)
    assert w.shape == w0.shape and v.shape == v0.shape
    assert w.dtype == w0.dtype and v.dtype == v0.dtype
    assert dusk.eigvalsh(a).shape == np.linalg.eigvalsh(a).shape
    w, v = dusk.eigh(a.astype(np.float32))
    assert w.dtype == np.float32 and v.dtype == np.float32


def test_float32_in_float32_out():
    a = sym_stack((4,), 16, seed=5).astype(np.float32)
    w0, v0 = np.linalg.eigh(a)
    w, v = dusk.eigh(a)
    assert w.dtype == w0.dtype == np.float32 and v.dtype == v0.dtype == np.float32
    assert dusk.eigvalsh(a).dtype == np.linalg.eigvalsh(a).dtype == np.float32
    # computed in float64 from the float32 values, then rounded
    a64 = a.astype(np.float64)
    np.testing.assert_array_equal(w, np.linalg.eigvalsh(a64).astype(np.float32))
    np.testing.assert_allclose(w, w0, rtol=0, atol=1e-5 * np.abs(w0).max())


def test_integers_and_lists_become_float64():
    a = np.array([[2, 1], [1, 2]])
    w, v = dusk.eigh(a)
    assert w.dtype == np.float64
    np.testing.assert_allclose(w, [1, 3], rtol=RTOL)
    np.testing.assert_allclose(dusk.eigvalsh([[2.0, 0.0], [0.0, 1.0]]), [1, 2], rtol=RTOL)


def test_complex_refused():
    a = np.eye(3, dtype=np.complex128)
    for f in (dusk.eigh, dusk.eigvalsh):
        with pytest.raises(TypeError, match="complex"):
            f(a)
        with pytest.raises(TypeError, match="complex"):
            f(a.astype(np.complex64))


def test_unsupported_float_types_refused_as_numpy_does():
    for dt in (np.float16, np.longdouble):
        if np.dtype(dt) == np.float64:
            continue  # platforms where longdouble is double
        a = np.eye(3, dtype=dt)
        with pytest.raises(TypeError) as numpy_err:
            np.linalg.eigh(a)
        with pytest.raises(TypeError) as err:
            dusk.eigh(a)
        assert str(err.value) == str(numpy_err.value)


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((3, 4)), np.zeros((2, 3, 4)), np.float64(1)],
                         ids=["1-d", "3x4", "2x3x4", "scalar"])
def test_bad_shapes_as_numpy(bad):
    for ours, theirs in ((dusk.eigh, np.linalg.eigh), (dusk.eigvalsh, np.linalg.eigvalsh)):
        with pytest.raises(Exception) as numpy_err:
            theirs(bad)
        with pytest.raises(type(numpy_err.value)) as err:
            ours(bad)
        assert str(err.value) == str(numpy_err.value)


def test_fortran_order_strided_and_transposed_views():
    a = sym_stack((6,), 24, seed=6)
    w, v = dusk.eigh(a)
    # the same matrices in other layouts: copied once, the same bits
    stack_last = np.moveaxis(np.moveaxis(a, 0, -1).copy(), -1, 0)  # matrices not contiguous
    for view in (np.asfortranarray(a), stack_last):
        wv, vv = dusk.eigh(view)
        np.testing.assert_array_equal(wv, w)
        np.testing.assert_array_equal(vv, v)
    f = np.asfortranarray(a[2])
    assert f.flags.f_contiguous and not f.flags.c_contiguous
    np.testing.assert_array_equal(dusk.eigh(f).eigenvectors, v[2])
    # every other matrix, and every other row and column of each
    big = sym_stack((8,), 40, seed=7)
    for view in (big[::2], big[:, ::2, ::2], big[1::3, 5:30, 5:30]):
        assert not view.flags.c_contiguous
        wv, vv = dusk.eigh(view)
        w2, v2 = dusk.eigh(np.ascontiguousarray(view))
        np.testing.assert_array_equal(wv, w2)
        np.testing.assert_array_equal(vv, v2)
        check_values(wv, view)
    # a transposed view is its own matrix: the lower triangle of the view is read
    skew = np.tril(big[:2]) + np.triu(np.ones_like(big[:2]), 1)
    t = np.swapaxes(skew, -1, -2)  # now the garbage is below the diagonal
    check_values(dusk.eigvalsh(t, UPLO="U"), np.ascontiguousarray(t), UPLO="U")
    check_values(dusk.eigvalsh(t), np.ascontiguousarray(t))


def test_input_read_in_place_and_never_written():
    a = sym_stack((64,), 120, seed=8)  # 7.4 MB
    a.setflags(write=False)
    keep = a.copy()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        w = dusk.eigvalsh(a)
        in_place = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        dusk.eigvalsh(np.asfortranarray(a))
        fortran = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(a, keep)
    # C-ordered float64: nothing the size of the input (w is 64 x 120 values)
    assert in_place < a.nbytes / 4, in_place
    # Fortran order: the Fortran array made here, then dusk's one C-ordered copy, no more
    assert fortran < 2.5 * a.nbytes, fortran
    check_values(w, a)


# ---- failures ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_raises_naming_the_matrix(value):
    a = sym_stack((9,), 12, seed=9)
    a[4, 2, 3] = value
    for f in (dusk.eigh, dusk.eigvalsh):
        with pytest.raises(np.linalg.LinAlgError, match=r"matrix 4: .*non-finite") as err:
            f(a)
        assert err.value.index == (4,)
        assert [i for i, _ in err.value.failed] == [(4,)]


def test_non_finite_nan_mode_returns_the_others():
    a = sym_stack((3, 4), 12, seed=10)
    w_ref, v_ref = dusk.eigh(a)
    a[1, 2, 0, 0] = np.nan
    a[2, 3, 5, 1] = np.inf
    r = dusk.eigh(a, errors="nan")
    assert [i for i, _ in r.failed] == [(1, 2), (2, 3)]
    assert "non-finite" in r.failed[0][1]
    bad = np.zeros((3, 4), bool)
    bad[1, 2] = bad[2, 3] = True
    assert np.isnan(r.eigenvalues[bad]).all() and np.isnan(r.eigenvectors[bad]).all()
    np.testing.assert_array_equal(r.eigenvalues[~bad], w_ref[~bad])
    np.testing.assert_array_equal(r.eigenvectors[~bad], v_ref[~bad])
    failed = []
    w = dusk.eigvalsh(a, errors="nan", failed=failed)
    assert [i for i, _ in failed] == [(1, 2), (2, 3)]
    assert np.isnan(w[bad]).all() and np.isfinite(w[~bad]).all()
    with pytest.raises(np.linalg.LinAlgError, match=r"matrix \(1, 2\): .*2 of 12 matrices failed"):
        dusk.eigh(a)
    one = a[1, 2]
    with pytest.raises(np.linalg.LinAlgError, match="the matrix: .*non-finite"):
        dusk.eigvalsh(one)
    assert np.isnan(dusk.eigvalsh(one, errors="nan")).all()
    with pytest.raises(ValueError, match="errors"):
        dusk.eigh(a, errors="ignore")


def test_lapack_failure_raises(python):
    """A matrix LAPACK fails on (injected with DUSK_FAIL_TASKS: eigh's item 5 fails as a
    non-converging dsyevd would) raises LinAlgError, or is NaN with errors='nan'."""
    p = python("""
        import numpy as np, dusk
        rng = np.random.default_rng(0)
        b = rng.random((8, 10, 10)); a = b.swapaxes(1, 2) @ b
        try:
            dusk.eigh(a)
            print("no error")
        except np.linalg.LinAlgError as e:
            print("raised:", e, e.index)
        r = dusk.eigh(a, errors="nan")
        print("failed:", [i for i, _ in r.failed], np.isnan(r[0][5]).all(), np.isfinite(r[0][4]).all())
        """, env={"DUSK_FAIL_TASKS": "eigh-5"})
    assert p.returncode == 0, p.stderr
    assert "raised: dusk.eigh: matrix 5: injected failure" in p.stdout, p.stdout
    assert "(5,)" in p.stdout
    assert "failed: [(5,)] True True" in p.stdout, p.stdout


# ---- threads ------------------------------------------------------------------------------------

def test_several_threads_at_once():
    """4 threads, 5 calls each, eigh and eigvalsh: each gets the bits it gets alone."""
    stacks = [sym_stack((20,), 24, seed=100 + t) for t in range(4)]
    want = [dusk.eigh(s) if t % 2 == 0 else dusk.eigvalsh(s) for t, s in enumerate(stacks)]
    errors = []

    def work(t):
        try:
            for _ in range(5):
                if t % 2 == 0:
                    w, v = dusk.eigh(stacks[t])
                    np.testing.assert_array_equal(w, want[t].eigenvalues)
                    np.testing.assert_array_equal(v, want[t].eigenvectors)
                else:
                    np.testing.assert_array_equal(dusk.eigvalsh(stacks[t]), want[t])
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for t in range(0, 4, 2):
        check_vectors(want[t].eigenvalues, want[t].eigenvectors, stacks[t])


def test_gil_released_while_dusk_computes():
    """While a call computes in one thread, another runs Python: with the GIL held it could not
    run at all until the call returned."""
    started = threading.Event()

    def long_call():
        started.set()
        dusk.batch_eigh(200, 300, values_only=True)

    th = threading.Thread(target=long_call)
    th.start()
    started.wait()
    spins = 0
    while th.is_alive():
        spins += 1
    th.join()
    assert spins > 10000, spins


# ---- the tutorial's batch ---------------------------------------------------------------------

def numpy_batch(n, ntasks, seed):
    out = []
    for i in range(ntasks):
        np.random.seed(seed + i)
        b = np.random.rand(n, n)
        out.append(b.T @ b)
    return np.array(out)


def test_batch_eigh_against_numpys_generator():
    a = numpy_batch(50, 6, 3)
    w = dusk.batch_eigh(50, 6, seed=3)
    assert w.shape == (6, 50) and w.dtype == np.float64
    check_values(w, a)
    check_values(dusk.batch_eigh(50, 6, seed=3, values_only=True), a)
    r = dusk.batch_eigh(50, 6, seed=3, vectors=True)
    np.testing.assert_array_equal(r.eigenvalues, w)
    check_vectors(r.eigenvalues, r.eigenvectors, a)
    # task i is seed + i: a later seed is the same batch shifted
    np.testing.assert_array_equal(dusk.batch_eigh(50, 3, seed=6), w[3:])


def test_batch_eigh_arguments():
    assert dusk.batch_eigh(10, 0).shape == (0, 10)
    assert dusk.batch_eigh(0, 4).shape == (4, 0)
    r = dusk.batch_eigh(8, 2, vectors=True)
    assert r.eigenvectors.shape == (2, 8, 8)
    with pytest.raises(ValueError, match="exclude"):
        dusk.batch_eigh(8, 2, values_only=True, vectors=True)
    with pytest.raises(ValueError, match="2\\*\\*32"):
        dusk.batch_eigh(8, 2, seed=2**32 - 1)
    with pytest.raises(ValueError):
        dusk.batch_eigh(-1, 2)
    with pytest.raises(TypeError):
        dusk.batch_eigh(8.5, 2)
    # the last seed NumPy takes
    np.random.seed(2**32 - 1)
    b = np.random.rand(8, 8)
    check_values(dusk.batch_eigh(8, 1, seed=2**32 - 1)[0], b.T @ b)
