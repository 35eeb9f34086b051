"""dusk from Python: numpy.linalg.eigh for a whole stack of matrices, on every core.

numpy.linalg.eigh accepts a stack of matrices (..., n, n) but decomposes it one matrix after
another; dusk.eigh takes the same arguments and gives the same results, with every matrix of
the stack a task of dusk's task graph, run by all the cores at once (and GPUs, in a build with
CUDA). It is the whole of the change:

    import numpy as np
    import dusk

    w, v = dusk.eigh(stack)          # as np.linalg.eigh(stack): (..., n) and (..., n, n)
    w = dusk.eigvalsh(stack)         # as np.linalg.eigvalsh(stack)
    w = dusk.batch_eigh(400, 64)     # the tutorial's batch, its matrices made inside dusk

dusk starts on the first call, once per process, with its defaults and the usual environment
variables (STARPU_NCPU, STARPU_SCHED, DUSK_BLAS_THREADS, DUSK_TRACE, ...), or what configure()
set before; it stops at exit. The calls release the GIL while dusk computes and may come from
several threads at once; Ctrl-C during a call stops it (KeyboardInterrupt) and leaves dusk
usable. The package is pure Python over libdusk.so (ctypes): see `library` for the one in use,
and docs/install.md ("The Python package") for how it is found.
"""

import collections
import ctypes
import math
import operator
import os
import threading

import numpy as np
from numpy.linalg import LinAlgError

from . import _lib
from ._lib import DuskError
from ._map import map, MapResult, MapError, RunError  # noqa: A001 (dusk.map is the name)

__version__ = "0.1.0"
__all__ = ["eigh", "eigvalsh", "batch_eigh", "configure", "info", "EighResult", "DuskError",
           "LinAlgError", "library", "map", "MapResult", "MapError", "RunError"]

#: The path of the libdusk.so this package uses.
library = _lib.path

try:  # NumPy 2's result type, so that isinstance() checks written for NumPy hold
    from numpy.linalg._linalg import EighResult as _EighBase
except ImportError:  # NumPy 1.x returns a plain tuple: a namedtuple of NumPy 2's shape
    _EighBase = collections.namedtuple("EighResult", ["eigenvalues", "eigenvectors"])


class EighResult(_EighBase):
    """What eigh() returns: unpacks as ``w, v`` and has ``.eigenvalues`` and ``.eigenvectors``,
    as NumPy 2's EighResult. ``.failed`` lists the matrices that failed when errors='nan' (an
    empty list otherwise): ``(index, reason)`` pairs, index a tuple into the leading
    dimensions (``stack[index]`` is the matrix)."""

    def __new__(cls, eigenvalues, eigenvectors, failed=()):
        self = super().__new__(cls, eigenvalues, eigenvectors)
        self.failed = list(failed)
        return self


_PROGRESS = (None, True, False, "always")


def configure(ncpu=None, ncuda=None, sched=None, blas_threads=None, trace=None, progress=None):
    """Settle how dusk starts, before the first call (RuntimeError after it). Each argument left
    None keeps dusk's default, or the environment's value (in brackets):

    ncpu          CPU workers (STARPU_NCPU; default: one per core)
    ncuda         CUDA workers (STARPU_NCUDA; default: every GPU, in a build with CUDA)
    sched         StarPU's scheduling policy, e.g. "dmda" (STARPU_SCHED)
    blas_threads  BLAS threads per worker (DUSK_BLAS_THREADS; default 1)
    trace         a directory that receives trace.json, dag.dot and report.html at exit
                  (DUSK_TRACE)
    progress      True: a progress bar on stderr for each call, when stderr is a terminal;
                  "always": even when it is not; False or None (the default): none

    Calls may be repeated (the last value of each argument counts)."""
    settings = {}
    for name, value in (("ncpu", ncpu), ("ncuda", ncuda), ("blas_threads", blas_threads)):
        if value is None:
            continue
        if isinstance(value, bool):
            raise TypeError(f"dusk.configure(): {name} must be an integer, not {value!r}")
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"dusk.configure(): {name} must be an integer, not "
                            f"{type(value).__name__}") from None
        # the C library's one table of bounds: what dusk_init() would refuse, refused here
        lo, hi, _ = _lib.setting_bounds(name)
        if not lo <= value <= hi:
            raise ValueError(f"dusk.configure(): {name} must be from {lo} to {hi}, not {value}")
        settings[name] = value
    if sched is not None:
        if not isinstance(sched, str):
            raise TypeError(f"dusk.configure(): sched must be a str, not {type(sched).__name__}")
        why = ctypes.create_string_buffer(512)
        if not sched or len(sched.encode()) > 31 or "\0" in sched or \
                _lib.sched_check(sched.encode(), why, len(why)) != 0:
            detail = why.value.decode("utf-8", "replace") or f"not a policy name: {sched!r}"
            raise ValueError(f"dusk.configure(): sched: {detail}")
        settings["sched"] = sched
    if trace is not None:
        if not isinstance(trace, (str, os.PathLike)) or isinstance(os.fspath(trace), bytes):
            raise TypeError(f"dusk.configure(): trace must be a str or os.PathLike path, not "
                            f"{type(trace).__name__}")
        trace = os.fspath(trace)
        if trace == "" or "\0" in trace:
            raise ValueError("dusk.configure(): trace must name a directory, not "
                             f"{trace!r} (leave it None for no trace)")
        trace = os.path.abspath(trace)
        if len(trace.encode()) > 1023:
            raise ValueError("dusk.configure(): the trace directory's path is over 1023 bytes")
        settings["trace"] = trace
    if progress not in _PROGRESS or isinstance(progress, int) and not isinstance(progress, bool):
        raise ValueError(f"dusk.configure(): progress must be True, False, None or 'always', "
                         f"not {progress!r}")
    if progress is not None:
        settings["progress"] = progress
    _lib.configure(settings)


def info():
    """dusk as it runs in this process (starting it if need be): a dict of version, library,
    workers, cpu_workers, cuda_workers, have_cuda and sched."""
    _lib.ensure_started()
    return {
        "version": __version__,
        "library": library,
        "workers": _lib.worker_count(),
        "cpu_workers": _lib.cpu_worker_count(),
        "cuda_workers": _lib.cuda_worker_count(),
        "have_cuda": bool(_lib.have_cuda()),
        "sched": _lib.sched_name().decode(),
    }


# ---- the calls ---------------------------------------------------------------------------

def _label(name):
    """The progress bar's label, when configure() asked for bars."""
    return name.encode() if _lib._settings.get("progress") in (True, "always") else None


def _run(fn, args, opts, keep):
    _lib.ensure_started()
    interruptible = threading.current_thread() is threading.main_thread()
    return _lib.call(fn, args, opts, interruptible, keep)


def _opts(uplo, vectors, label):
    opts = _lib.EighOpts()
    _lib.eigh_opts_init(opts)
    opts.uplo = uplo.encode()
    opts.vectors = int(vectors)
    opts.progress = label
    return opts


def _where(index, lead):
    if not lead:
        return "the matrix"
    return f"matrix {index[0]}" if len(lead) == 1 else f"matrix {index}"


def _settle(fname, rc, why, status, lead, errors, failed):
    """The call's outcome: nothing to say, the failed matrices (errors='nan', also appended to
    `failed`), or the exception: LinAlgError for failed matrices, ValueError for refused
    arguments, DuskError for the rest."""
    if rc == 0:
        return []
    if rc == _lib.EINVAL:
        raise ValueError(f"{fname}: {why or _lib.error_text(rc)}")
    if rc != _lib.ETASK:
        raise DuskError(rc, f"{fname}: {why or _lib.error_text(rc)}")
    first, reason = -1, ""
    if why.startswith("matrix "):
        head, _, reason = why[len("matrix "):].partition(": ")
        first = int(head) if head.isdigit() else -1
    entries = []
    for k in np.flatnonzero(status):
        index = tuple(int(i) for i in np.unravel_index(int(k), lead)) if lead else ()
        text = reason if k == first else _lib.error_text(int(status[k]))
        entries.append((index, text))
    if failed is not None:
        failed.extend(entries)
    if errors == "raise":
        index, text = entries[0]
        more = (f" ({len(entries)} of {int(np.prod(lead))} matrices failed; errors='nan' returns "
                "the others)") if len(entries) > 1 else ""
        err = LinAlgError(f"{fname}: {_where(index, lead)}: {text}{more}")
        err.index = index
        err.failed = entries
        raise err
    return entries


def _real_type(dtype, fname):
    """The result type numpy.linalg gives for input of `dtype`, or TypeError as it does."""
    if np.issubdtype(dtype, np.complexfloating):
        raise TypeError(f"{fname}: complex input ({dtype}) is not supported: dusk decomposes real "
                        "symmetric matrices (numpy.linalg takes complex Hermitian ones)")
    # by kind and size, so that big-endian input ('>f4', '>f8') is converted as NumPy does
    if dtype.kind == "f" and dtype.itemsize == 4:
        return np.float32
    if np.issubdtype(dtype, np.inexact) and not (dtype.kind == "f" and dtype.itemsize == 8):
        raise TypeError(f"array type {dtype} is unsupported in linalg")
    return np.float64


def _check_errors(errors, fname, failed=None):
    if errors not in ("raise", "nan"):
        raise ValueError(f"{fname}: errors must be 'raise' or 'nan', not {errors!r}")
    if failed is not None and not callable(getattr(failed, "append", None)):
        raise TypeError(f"{fname}: failed must be a list (the failed matrices are appended to "
                        f"it), not {type(failed).__name__}")


def _decompose(fname, a, UPLO, vectors, errors, failed):
    a = np.asarray(a)
    UPLO = UPLO.upper() if isinstance(UPLO, str) else UPLO
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    _check_errors(errors, fname, failed)
    out = _real_type(a.dtype, fname)
    if a.ndim < 2:
        raise LinAlgError(f"{a.ndim}-dimensional array given. Array must be at least "
                          "two-dimensional")
    if a.shape[-1] != a.shape[-2]:
        raise LinAlgError("Last 2 dimensions of the array must be square")
    lead, n = a.shape[:-2], a.shape[-1]
    count = math.prod(lead)
    w = np.empty((count, n))
    v = np.empty((count, n, n)) if vectors else None
    entries = []
    if count > 0 and n > 0:
        # Read in place when it is already C-ordered, aligned float64; else copied once.
        x = np.require(a, dtype=np.float64, requirements=["C", "A"]).reshape(count, n, n)
        status = np.zeros(count, dtype=np.intc)
        opts = _opts(UPLO, False, _label(fname))
        rc, why = _run(_lib.eigh_stack, (x.ctypes.data, count, n, w.ctypes.data,
                                         None if v is None else v.ctypes.data,
                                         status.ctypes.data), opts, (x, w, v, status))
        entries = _settle(fname, rc, why, status, lead, errors, failed)
    w = w.reshape(lead + (n,)).astype(out, copy=False)
    if v is None:
        return w
    return EighResult(w, v.reshape(lead + (n, n)).astype(out, copy=False), entries)


def eigh(a, UPLO="L", *, errors="raise", failed=None):
    """numpy.linalg.eigh(a, UPLO), computed by dusk: the eigenvalues (ascending) and
    eigenvectors (in columns) of every symmetric matrix of `a`, shape (..., n, n).

    Returns an EighResult: ``w, v = dusk.eigh(a)``, or ``.eigenvalues`` (..., n) and
    ``.eigenvectors`` (..., n, n); float32 for float32 input, float64 otherwise, as NumPy.
    Only the triangle UPLO names ('L', the default, or 'U') is read. C-ordered float64 input is
    read where it lies; other input (Fortran order, strided views, other dtypes) is copied
    once. Complex input raises TypeError.

    A matrix holding NaN or Inf, or one LAPACK cannot decompose, raises
    numpy.linalg.LinAlgError naming its index and the reason (the exception's ``.index`` and
    ``.failed`` say which); with errors='nan' its results are NaN instead, the others are
    returned, and the result's ``.failed`` lists the failed ones as (index, reason) pairs
    (appended to the list `failed` too, when one is given)."""
    return _decompose("dusk.eigh", a, UPLO, True, errors, failed)


def eigvalsh(a, UPLO="L", *, errors="raise", failed=None):
    """numpy.linalg.eigvalsh(a, UPLO), computed by dusk: the eigenvalues (ascending) of every
    symmetric matrix of `a`, shape (..., n, n), as an array (..., n). Input, errors and failures
    as for eigh(); with errors='nan' the failed matrices are appended to the list `failed`, when
    one is given, as (index, reason) pairs."""
    return _decompose("dusk.eigvalsh", a, UPLO, False, errors, failed)


def batch_eigh(n, ntasks, seed=0, values_only=False, vectors=False, *, errors="raise",
               failed=None):
    """The tutorial's batch, made and decomposed inside dusk: for task i (0 <= i < ntasks),
    ``np.random.seed(seed + i); b = np.random.rand(n, n); a = b.T @ b``, then
    ``np.linalg.eigh(a)``. NumPy's matrices bit for bit, never all held at once (only the ones
    in flight), so a batch larger than memory runs too.

    Returns the eigenvalues, shape (ntasks, n); with vectors=True an EighResult of them and the
    eigenvectors (ntasks, n, n). The eigenvectors are computed unless values_only=True (as the
    tutorial's eigh does, for like-for-like timings), and kept only with vectors=True.
    errors and failed as for eigh()."""
    fname = "dusk.batch_eigh"
    n, ntasks, seed = operator.index(n), operator.index(ntasks), operator.index(seed)
    if n < 0 or ntasks < 0:
        raise ValueError(f"{fname}: n and ntasks must not be negative")
    if seed < 0 or seed + max(ntasks, 1) - 1 > 2**32 - 1:
        raise ValueError(f"{fname}: seed and seed + ntasks - 1 must be between 0 and 2**32 - 1 "
                         "(np.random.seed's range)")
    if values_only and vectors:
        raise ValueError(f"{fname}: values_only and vectors exclude each other")
    _check_errors(errors, fname, failed)
    w = np.empty((ntasks, n))
    v = np.empty((ntasks, n, n)) if vectors else None
    entries = []
    if ntasks > 0 and n > 0:
        status = np.zeros(ntasks, dtype=np.intc)
        opts = _opts("L", not values_only, _label(fname))
        rc, why = _run(_lib.eigh_generated, (n, ntasks, seed, w.ctypes.data,
                                             None if v is None else v.ctypes.data,
                                             status.ctypes.data), opts, (w, v, status))
        entries = _settle(fname, rc, why, status, (ntasks,), errors, failed)
    return EighResult(w, v, entries) if vectors else w
