"""dusk.map: your own function over T items, on every core and rank, with nothing lost.

The C side is the batch layer (dusk_batch.h) and its map driver (dusk_map.h): one task per
chunk of items on dusk's CPU workers. A Python function is entered once per task (one ctypes
callback, several items), under the GIL; a compiled function (a numba @cfunc, a ctypes
function pointer) is called by the workers directly, with no Python on the path.
"""

import ctypes
import hashlib
import itertools
import json
import os
import re
import signal
import sys
import threading
import traceback

import numpy as np

from . import _lib, _procs
from ._lib import DuskError

__all__ = ["map", "MapResult", "MapError", "RunError"]

PROGRAM = b"dusk.map"
EKERNEL = -14  # DUSK_EKERNEL
MAX_OUTPUTS = 8


class MapError(RuntimeError):
    """errors='raise': items failed. ``.failed`` lists their ids, ``.reasons`` maps id -> reason,
    ``.result`` is what dusk.map would have returned with errors='nan'."""

    def __init__(self, message, failed, reasons, result):
        super().__init__(message)
        self.failed = failed
        self.reasons = reasons
        self.result = result


class RunError(ValueError):
    """The output directory cannot take this run (another run's, another program's files, a
    stopped run not to be resumed), or a run to resume is not there."""


class MapResult:
    """What dusk.map(..., out=DIR) returns: ``.paths`` (output name -> file; for HDF5,
    ``"results.h5:/name"``), ``.failed`` (sorted ids of failed items), ``.reasons`` (id ->
    reason), ``.outcome`` ("finished") and ``.load()`` (the arrays, as dusk.map without out
    returns them)."""

    def __init__(self, dir, fmt, names, failed, reasons, outcome, single):
        self.dir = dir
        self.format = fmt
        self.names = list(names)
        self.failed = failed
        self.reasons = reasons
        self.outcome = outcome
        self._single = single
        if fmt == "h5":
            self.paths = {n: os.path.join(dir, "results.h5") + ":/" + n for n in names}
        else:
            self.paths = {n: os.path.join(dir, n + ".npy") for n in names}

    def load(self, mmap_mode=None):
        if self.format == "h5":
            import h5py
            with h5py.File(os.path.join(self.dir, "results.h5"), "r") as f:
                arrays = [f[n][()] for n in self.names]
        else:
            arrays = [np.load(self.paths[n], mmap_mode=mmap_mode) for n in self.names]
        return arrays[0] if self._single else tuple(arrays)

    def __repr__(self):
        return (f"MapResult(dir={self.dir!r}, outcome={self.outcome!r}, "
                f"failed={len(self.failed)} items, paths={self.paths!r})")


# ---- the C declarations -----------------------------------------------------------------

lib = _lib.lib
_i64, _vp, _cp, _int = ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int

CHUNK_FN = ctypes.CFUNCTYPE(_int, _vp, _vp, _i64, ctypes.POINTER(_i64),
                            ctypes.POINTER(ctypes.POINTER(ctypes.c_double)))
ITEM_FN = ctypes.CFUNCTYPE(_int, _i64, ctypes.POINTER(ctypes.c_double), _i64,
                           ctypes.POINTER(ctypes.c_double), _i64)
READ_FN = ctypes.CFUNCTYPE(_int, _vp, _i64, ctypes.POINTER(ctypes.c_double))


class MapSpec(ctypes.Structure):
    """dusk_map_spec (dusk_map.h)."""
    _fields_ = [("name", _cp), ("chunk", _vp), ("user", _vp), ("item", _vp), ("x", _vp),
                ("read", _vp), ("xlen", _i64), ("item_bytes", _i64),
                ("_reserve", ctypes.c_char * 256)]


class BatchState(ctypes.Structure):
    """dusk_batch_state (dusk_batch.h)."""
    _fields_ = [("outcome", _int), ("exit_status", _int), ("code", _int), ("signal", _int),
                ("usage", _int), ("why", _cp), ("ran", _int), ("dir", _cp), ("saved", _i64),
                ("saved_current", _int), ("resume", _cp), ("_reserve", ctypes.c_char * 256)]


class BatchFailure(ctypes.Structure):
    """dusk_batch_failure (dusk_batch.h)."""
    _fields_ = [("item", _i64), ("code", _int), ("step", _cp), ("reason", _cp), ("subject", _cp),
                ("_reserve", ctypes.c_char * 64)]


def _declare(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_pp = ctypes.POINTER(_vp)
batch_new = _declare("dusk_batch_new", _int, _cp, _i64, _pp)
batch_free = _declare("dusk_batch_free", None, _pp)
batch_add_output = _declare("dusk_batch_add_output", _int, _vp, _cp, _int,
                            ctypes.POINTER(_i64), ctypes.POINTER(_int))
batch_set_output = _declare("dusk_batch_set_output", _int, _vp, _cp, _cp)
batch_set_memory = _declare("dusk_batch_set_memory", _int, _vp, _int, _vp)
batch_resume = _declare("dusk_batch_resume", _int, _vp, _cp)
batch_set_overwrite = _declare("dusk_batch_set_overwrite", _int, _vp, _int)
batch_set_params = _declare("dusk_batch_set_params", _int, _vp, _cp)
batch_set_signals = _declare("dusk_batch_set_signals", _int, _vp, _int)
batch_stop = _declare("dusk_batch_stop", _int, _vp, _int)
batch_set_distribution = _declare("dusk_batch_set_distribution", _int, _vp, _int)
batch_set_chunk = _declare("dusk_batch_set_chunk", _int, _vp, _i64, _i64)
batch_set_task_target = _declare("dusk_batch_set_task_target", _int, _vp, ctypes.c_double,
                                 _int)
batch_set_label = _declare("dusk_batch_set_label", _int, _vp, _cp)
batch_set_flags = _declare("dusk_batch_set_flags", _int, _vp, _cp, _cp, _cp)
batch_set_resume_command = _declare("dusk_batch_set_resume_command", _int, _vp, _cp)
batch_open = _declare("dusk_batch_open", _int, _vp)
batch_get_state = _declare("dusk_batch_get_state", _int, _vp, ctypes.POINTER(BatchState))
batch_failure_count = _declare("dusk_batch_failure_count", _i64, _vp)
batch_get_failure = _declare("dusk_batch_get_failure", _int, _vp, _i64,
                             ctypes.POINTER(BatchFailure))
cli_report_text = _declare("dusk_cli_report_text_stderr", _int, _vp)  # stdout is the user's
map_run = _declare("dusk_map_run", _int, _vp, ctypes.POINTER(MapSpec))
kernel_name_check = _declare("dusk_kernel_name_check", _int, _cp, _cp, ctypes.c_size_t)
rank = _declare("dusk_rank", _int)
rank_count = _declare("dusk_rank_count", _int)
ranks_max = _declare("dusk_ranks_max", _int, _i64, ctypes.POINTER(_i64))
ranks_merge = _declare("dusk_ranks_merge", _int, _vp, ctypes.c_size_t)
# variadic: the fixed arguments declared, the format's arguments passed as ctypes objects
call_fail_item = lib.dusk_call_fail_item
call_fail_item.restype = None

# ---- one thread state per worker ---------------------------------------------------------
#
# A ctypes callback from a thread Python did not create makes a thread state for the call and
# destroys it after (several µs to hundreds of µs). The first callback on each worker takes
# one more PyGILState_Ensure() and never releases it: the thread keeps its thread state for
# its life, and every later callback finds it (a fraction of a µs).
_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.restype = ctypes.c_int
_kept = set()


def _keep_thread_state():
    ident = threading.get_ident()
    if ident not in _kept:
        _ensure()
        _kept.add(ident)


# ---- items -----------------------------------------------------------------------------

class _Items:
    """The items: a count, or rows of an array, a .npy file or an HDF5 dataset."""

    def __init__(self, items, fname):
        self.array = None      # rows in memory (or a memmap)
        self.dataset = None    # an h5py dataset
        self.h5file = None
        self.h5chunks = None   # its chunk shape, when only some chunks were ever written
        self.desc = None
        self.path = None       # the file the items are read from
        if isinstance(items, (bool, np.bool_)):
            raise TypeError(f"{fname}: items must be a count, an array or a file, not a bool")
        if isinstance(items, (int, np.integer)):
            self.count = int(items)
            if self.count < 0:
                raise ValueError(f"{fname}: the item count must not be negative, not "
                                 f"{self.count}")
            self.row_shape = None
            self.desc = f"count={self.count}"
            return
        if isinstance(items, (str, os.PathLike)):
            self._open_file(os.fspath(items), fname)
        else:
            try:
                a = np.asarray(items)
            except Exception as e:
                raise TypeError(f"{fname}: items must be a count, an array, a .npy path or "
                                f"'file.h5:dataset', not {type(items).__name__} ({e})") from None
            if a.ndim < 1:
                raise TypeError(f"{fname}: items must be a count or an array whose first "
                                f"dimension is the item, not a {a.ndim}-d array")
            self._check_dtype(a.dtype, fname, "items")
            self.array = a
            self.count = a.shape[0]
            self.row_shape = a.shape[1:]
            h = hashlib.sha256()
            h.update(repr((a.shape, a.dtype.str)).encode())
            h.update(np.ascontiguousarray(a).view(np.uint8).reshape(-1).data)
            self.desc = f"array{list(a.shape)}:{a.dtype.str}:sha256={h.hexdigest()[:32]}"

    @staticmethod
    def _check_dtype(dtype, fname, what):
        if dtype.kind not in "biuf":
            raise TypeError(f"{fname}: {what} must hold real numbers (read as float64), not "
                            f"{dtype}")

    def _open_file(self, spec, fname):
        path, dataset = spec, None
        if not os.path.exists(spec) and ":" in spec:
            path, _, dataset = spec.rpartition(":")
        self.path = path
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{fname}: {path}: no such file")
        with open(path, "rb") as f:
            magic = f.read(8)
        if magic.startswith(b"\x93NUMPY"):
            if dataset:
                raise ValueError(f"{fname}: {path} is a .npy file: it has no dataset {dataset!r}")
            a = np.load(path, mmap_mode="r")
            if a.ndim < 1:
                raise ValueError(f"{fname}: {path} holds a 0-d array: no items")
            self._check_dtype(a.dtype, fname, path)
            self.array = a
            self.count, self.row_shape = a.shape[0], a.shape[1:]
            self.desc = (f"npy{list(a.shape)}:{a.dtype.str}:"
                         f"{_sample_file(path, os.path.getsize(path))}{_mtime(path)}")
        elif magic.startswith(b"\x89HDF\r\n\x1a\n"):
            try:
                import h5py
            except ImportError:
                raise ImportError(f"{fname}: {path} is an HDF5 file: reading it needs h5py") \
                    from None
            f = h5py.File(path, "r")
            if not dataset:
                found = []
                f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
                if len(found) != 1:
                    f.close()
                    raise ValueError(f"{fname}: {path} holds {len(found)} datasets "
                                     f"({', '.join(found[:8])}): name one, as '{path}:NAME'")
                dataset = found[0]
            if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
                f.close()
                raise ValueError(f"{fname}: {path} has no dataset {dataset!r}")
            ds = f[dataset]
            if ds.ndim < 1:
                f.close()
                raise ValueError(f"{fname}: {path}:{dataset} is a scalar: no items")
            self._check_dtype(ds.dtype, fname, f"{path}:{dataset}")
            try:
                self._check_written(h5py, ds, f"{fname}: {path}:{dataset}")
            except ValueError:
                f.close()
                raise
            self.h5file, self.dataset = f, ds
            self.count, self.row_shape = ds.shape[0], ds.shape[1:]
            h = hashlib.sha256()
            for i in sorted(set(np.linspace(0, max(self.count - 1, 0), 17).astype(int).tolist())):
                if self.count:
                    h.update(np.ascontiguousarray(ds[i], dtype=np.float64).tobytes())
            self.desc = (f"h5:{dataset.lstrip('/')}{list(ds.shape)}:{ds.dtype.str}:"
                         f"sample={h.hexdigest()[:32]}{_mtime(path)}")
        else:
            raise ValueError(f"{fname}: {path} is neither a .npy file nor HDF5")

    def _check_written(self, h5py, ds, where):
        """HDF5 reads data never written as the fill value: a dataset with no storage at all
        is refused; in one whose chunks were only partly written, row() checks the chunks
        of each row (as dusk's C reader does, runtime/src/io/h5_read.c)."""
        if ds.size == 0:
            return
        h5d = h5py.h5d
        layout = ds.id.get_create_plist().get_layout()
        if layout not in (h5d.CHUNKED, h5d.CONTIGUOUS):
            return
        status = ds.id.get_space_status()
        if status == h5d.SPACE_STATUS_NOT_ALLOCATED:
            what = "none of its chunks has" if layout == h5d.CHUNKED else "its data has"
            raise ValueError(f"{where} was never written: {what} no storage in the file (HDF5 "
                             f"would read its fill value)")
        if status == h5d.SPACE_STATUS_PART_ALLOCATED and ds.chunks and \
                hasattr(ds.id, "get_chunk_info_by_coord"):
            self.h5chunks = ds.chunks

    def _row_written(self, i):
        """Whether every chunk holding row i was written (allocated)."""
        c, shape = self.h5chunks, self.dataset.shape
        starts = [[i // c[0] * c[0]]] + [range(0, shape[d], c[d]) for d in range(1, len(c))]
        get = self.dataset.id.get_chunk_info_by_coord
        return all(get(tuple(at)).byte_offset is not None for at in itertools.product(*starts))

    @property
    def has_rows(self):
        return self.row_shape is not None

    def row(self, i):
        if self.array is not None:
            r = self.array[i]
            if isinstance(r, np.memmap) or r.dtype != np.float64:
                return np.array(r, dtype=np.float64)
            return r
        if self.dataset is not None:
            if self.h5chunks is not None and not self._row_written(i):
                raise _NeverWritten(f"item {i}: never written in the HDF5 dataset (chunk not "
                                    f"allocated)")
            return np.asarray(self.dataset[i], dtype=np.float64)
        return None

    def close(self):
        if self.h5file is not None:
            self.h5file.close()
            self.h5file = self.dataset = None


def _mtime(path):
    """The file's modification time, in the run's identity: the sampled blocks miss most edits
    in place (np.load(mmap_mode='r+'), h5py 'r+'), which the time does not (see _same_run)."""
    return f":mtime={os.stat(path).st_mtime_ns}"


def _same_run(was, ident, path, out, fname, overwrite):
    """Whether a manifest's params `was` are this run's `ident`, the input file's modification
    time aside when the manifest predates it. A run of the same items whose file has another
    time raises RunError (unless overwrite): resuming it, or returning its results, could mix
    the results of two inputs."""
    if was == ident:
        return True
    strip = re.compile(r":mtime=[0-9]+")
    if was is None or strip.sub("", was) != strip.sub("", ident):
        return False
    if strip.search(was) is None:
        return True  # written before the time was kept: trusted as it was
    if overwrite:
        return False
    raise RunError(f"{fname}: {path} was modified since the run in {out} was made (its "
                   "modification time differs): its results and new ones would mix two inputs; "
                   "put the file back as it was, or pass overwrite=True to start again")


def _sample_file(path, size):
    """A fingerprint of a file: its size and blocks sampled through it (the first and last MiB,
    16 blocks of 64 KiB between)."""
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        for at in [0] + [size * k // 17 for k in range(1, 17)] + [max(size - (1 << 20), 0)]:
            f.seek(at)
            h.update(f.read(1 << 20 if at in (0, max(size - (1 << 20), 0)) else 1 << 16))
    return f"size={size}:sample={h.hexdigest()[:32]}"


# ---- the function ------------------------------------------------------------------------

def _compiled(fn):
    """The address of a compiled per-item function (numba @cfunc, ctypes function pointer),
    or None for a Python callable."""
    addr = getattr(fn, "address", None)
    if isinstance(addr, int) and not isinstance(addr, bool) and hasattr(fn, "ctypes"):
        return addr  # numba's CFunc
    if isinstance(fn, ctypes._CFuncPtr):
        return ctypes.cast(fn, ctypes.c_void_p).value
    return None


def _fn_name(fn):
    mod = getattr(fn, "__module__", None) or ""
    qual = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or \
        type(fn).__name__
    return f"{mod}.{qual}" if mod else qual


def _where(tb):
    frames = traceback.extract_tb(tb)
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename}:{f.lineno} in {f.name}"


def _one_line(text, limit=900):
    text = re.sub(r"[\t\r\n]+", " ", str(text)).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _exception_reason(e):
    where = _where(e.__traceback__)
    msg = _one_line(f"{type(e).__name__}: {e}")
    return f"{msg} (raised at {where})" if where else msg


class _ReturnError(Exception):
    """fn returned something that is not its outputs (the item fails with this reason)."""


def _as_outputs(r, nouts):
    """fn's return value as a tuple of arrays (one per output), or raise _ReturnError."""
    if nouts > 1 or isinstance(r, tuple):
        if not isinstance(r, tuple):
            raise _ReturnError(f"returned {type(r).__name__}, not a tuple of {nouts} arrays")
        if len(r) != nouts:
            raise _ReturnError(f"returned {len(r)} arrays, not {nouts}")
    else:
        r = (r,)
    out = []
    for v in r:
        try:
            a = np.asarray(v)
        except Exception as e:
            raise _ReturnError(f"returned {type(v).__name__}, not an array ({e})") from None
        if a.dtype.kind not in "biuf":
            raise _ReturnError(f"returned an array of {a.dtype}, not real numbers (float64 "
                               "results)")
        out.append(a)
    return out


def _shape_text(s):
    return "(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


# ---- the run ---------------------------------------------------------------------------

def _put(r, outs, k, nouts, shapes):
    """fn's result r for the task's k-th item into its rows of outs (one array per output);
    raises _ReturnError (the item fails with its text) when r is not the outputs."""
    if nouts == 1 and type(r) is np.ndarray and r.dtype.kind in "biuf":
        if r.shape != shapes[0]:
            raise _ShapeError(shapes[0], r.shape)
        outs[0][k] = r
        return
    vals = _as_outputs(r, nouts)
    for j, v in enumerate(vals):
        if v.shape != shapes[j]:
            raise _ShapeError(shapes[j], v.shape, j if nouts > 1 else None)
    for j, v in enumerate(vals):
        outs[j][k] = v


class _Run:
    """What the chunk callback needs: the function, the items, the outputs' shapes."""

    def __init__(self, fn, src, shapes, seen=None):
        self.fn = fn
        self.seen = seen or {}  # what the probe's calls gave: not called again
        self.src = src
        self.shapes = shapes
        self.sizes = [int(np.prod(s)) for s in shapes]
        self.rows = src.has_rows
        self.error = None
        self.pool = None  # processes=True: the children (_procs.Pool) that run fn

    def chunk(self, user, call, count, items, outs):
        try:
            _keep_thread_state()
            outs_np = []
            for j, shape in enumerate(self.shapes):
                n = count * self.sizes[j]
                buf = (ctypes.c_double * n).from_address(ctypes.addressof(outs[j].contents)) \
                    if n else None
                a = np.frombuffer(buf, dtype=np.float64) if n else np.empty(0)
                outs_np.append(a.reshape((count,) + tuple(shape)))
            fn, nouts, shapes, src, rows = self.fn, len(self.shapes), self.shapes, self.src, \
                self.rows
            seen, pool = self.seen, self.pool
            sent_k, sent_i = [], []  # processes=True: the items for this worker's child
            for k in range(count):
                i = items[k]
                try:
                    if seen and i in seen:
                        r = seen.pop(i)
                        if type(r) is _Cached:
                            raise r.e
                    elif pool is not None:
                        sent_k.append(k)
                        sent_i.append(i)
                        continue
                    else:
                        r = fn(i, src.row(i)) if rows else fn(i)
                    _put(r, outs_np, k, nouts, shapes)
                except _ReturnError as e:  # _ShapeError, _NeverWritten
                    call_fail_item(_vp(call), _i64(k), _int(_lib.EDATA), b"%s",
                                   _one_line(e).encode("utf-8", "replace"))
                except Exception as e:
                    reason = _exception_reason(e)
                    call_fail_item(_vp(call), _i64(k), _int(EKERNEL), b"%s",
                                   reason.encode("utf-8", "replace"))
            if sent_k:
                def fail(k, code, reason):
                    call_fail_item(_vp(call), _i64(k), _int(code), b"%s",
                                   reason.encode("utf-8", "replace"))
                child = pool.take()
                try:
                    child = pool.compute(child, sent_k, sent_i, outs_np, fail)
                finally:
                    pool.give(child)
            return 0
        except BaseException as e:  # never into C
            if self.error is None:
                self.error = e
            return EKERNEL

    def read(self, user, item, row):
        try:
            _keep_thread_state()
            r = self.src.row(item).reshape(-1)
            ctypes.memmove(row, r.ctypes.data, r.size * 8)
            return 0
        except BaseException:
            return -1


class _NeverWritten(_ReturnError):
    """An item's row was never written in its HDF5 dataset (the item fails with this reason)."""


class _ShapeError(_ReturnError):
    def __init__(self, want, got, index=None):
        which = "" if index is None else f" as output {index}"
        super().__init__(f"returned shape {_shape_text(got)}{which}, expected "
                         f"{_shape_text(want)} (the shape of the first item's result)")


class _BlasAsAWorker:
    """OpenBLAS's threads set to what each worker runs with (one by default), and put back
    after: what fn computes in the probe is what a worker would compute, to the bit (a
    different thread count can change the last bits of a BLAS result). Only where the
    OpenBLAS that dusk uses is the one in this process (else dusk sets no worker's count).
    OpenBLAS's pthreads build keeps one count for the process; its OpenMP build one per
    thread, so there each probing thread sets its own (per_thread)."""

    def __init__(self, per_thread=False):
        self.per_thread = per_thread

    def __enter__(self):
        self.saved = None
        try:
            blas = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD)
            self.get, self.set = blas.openblas_get_num_threads, blas.openblas_set_num_threads
            parallel = blas.openblas_get_parallel
        except (OSError, AttributeError):
            return self
        parallel.restype = ctypes.c_int
        if self.per_thread and parallel() != 2:  # not OpenMP: the caller's setting holds
            return self
        self.get.restype = ctypes.c_int
        self.set.argtypes = [ctypes.c_int]
        self.saved = self.get()
        self.set(_lib.worker_blas_threads())
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            self.set(self.saved)


def _own_items(T, distribute, most=16):
    """The first `most` items this rank computes (all ranks' when it has none)."""
    R, r = max(1, rank_count()), rank()
    if R > 1 and distribute == "cyclic":
        own = range(r, T, R)
    elif R > 1:  # as the batch layer splits them (runtime/src/batch/run.c)
        own = range(-(-r * T // R), -(-(r + 1) * T // R))
    else:
        own = range(T)
    own = list(own[:most])
    return own or list(range(min(T, most)))


def _probe(fn, src, fname, nouts_hint, distribute, wide=True):
    """fn called on this rank's first items until one succeeds: the outputs' shapes, and what
    those calls gave (item -> result or exception), which the run uses instead of calling fn a
    second time on those items. The first calls run at once in as many threads as dusk has
    CPU workers (one in this thread), so that the cores do not wait while the shapes are
    found; each with a worker's BLAS threads (_BlasAsAWorker). wide False: one call at a time
    (a run that is likely to be resumed or reused: the fewest calls). dusk is started first."""
    _lib.ensure_started()
    order = _own_items(src.count, distribute)
    width = max(1, min(len(order), _lib.cpu_worker_count())) if wide else 1
    seen = {}

    def call(i):
        try:
            r = fn(i, src.row(i)) if src.has_rows else fn(i)
            vals = _as_outputs(r, nouts_hint or (len(r) if isinstance(r, tuple) else 1))
            # a copy: fn may hand back a buffer of its own that its next call overwrites
            seen[i] = tuple(np.array(v, dtype=np.float64) for v in vals) \
                if isinstance(r, tuple) else np.array(vals[0], dtype=np.float64)
        except Exception as e:
            seen[i] = _Cached(e)

    def in_thread(i):
        with _BlasAsAWorker(per_thread=True):
            call(i)

    with _BlasAsAWorker():
        threads = [threading.Thread(target=in_thread, args=(i,), name="dusk-map-probe")
                   for i in order[1:width]]
        for t in threads:
            t.start()
        try:
            call(order[0])
        finally:
            for t in threads:
                t.join()
        for k, i in enumerate(order):
            if k >= width:
                call(i)
            r = seen[i]
            if type(r) is not _Cached:
                return ([v.shape for v in r] if isinstance(r, tuple) else [r.shape],
                        isinstance(r, tuple), seen)
    i = order[0]
    e = seen[i].e
    raise MapError(f"{fname}: the first {len(order)} items all failed, so the shape of the "
                   f"results is unknown; item {i}: {_exception_reason(e)}",
                   list(order), {i: _exception_reason(e)}, None) from e


class _Cached:
    """An exception fn raised while its outputs' shapes were probed: the item fails with it."""

    def __init__(self, e):
        self.e = e


def _read_manifest(dir):
    fields = {}
    try:
        with open(os.path.join(dir, "manifest.txt"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    if not lines or not lines[0].startswith("dusk-manifest"):
        return {}
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        fields[key] = value
    return fields


def _kernel_name(fn):
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", getattr(fn, "__name__", "") or "fn").strip("_") or "fn"
    if base.startswith("dusk_"):
        base = "fn_" + base
    base = base[:36]
    why = ctypes.create_string_buffer(256)
    for k in range(1, 1000):
        name = (base if k == 1 else f"{base}-{k}").encode()
        rc = kernel_name_check(name, why, len(why))
        if rc == 0:
            return name
        if rc != -13:  # not DUSK_EEXIST
            break
    return b"map_fn"


_run_lock = threading.Lock()  # one batch at a time in a process (signals, the trace)

MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
              "MALLOC_MMAP_MAX_", "MALLOC_ARENA_MAX")
_malloc_tuned = False


def _tune_malloc():
    """glibc's malloc set where its own adaptive thresholds stop (mmap above 32 MiB, the top
    of a heap given back above 64 MiB), once, before fn first runs: NumPy's arrays of an item
    (at n = 1000: several of 8 MiB and a 16 MiB LAPACK workspace) are then reused from item
    to item rather than mapped, faulted in page by page and unmapped each time, which took
    a quarter to a third of the time at n = 1000 (page faults 15x fewer; bench/RESULTS.md).
    At most 64 MiB of freed memory a heap is kept for the next item. Process-wide (the
    children of processes=True inherit it); not where the user chose (DUSK_MALLOC=system,
    MALLOC_*_ or glibc.malloc tunables in the environment), nor without glibc."""
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    if os.environ.get("DUSK_MALLOC") == "system" or any(v in os.environ for v in MALLOC_ENV) \
            or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 64 << 20)


def map(fn, items, *, out=None, format="npy", names=None, shape=None, params=None,
        resume="auto", errors="nan", chunk=None, distribute="cyclic", progress=None,
        trace=None, overwrite=False, processes=False):
    """Run ``fn`` on every item, on dusk's workers (and ranks), as ``[fn(i) for i in range(T)]``
    or ``[fn(i, x[i]) ...]`` stacked: see docs/python.md.

    fn        a Python callable returning an array (or a tuple of arrays, one per output), or
              a compiled per-item function (a numba @cfunc, a ctypes function pointer) of C
              signature ``int f(int64_t item, const double *x, int64_t xlen, double *out,
              int64_t outlen)``, which needs ``shape``
    items     a count T (fn(i)), or a NumPy array, a .npy path or 'file.h5:dataset' whose first
              dimension is the item (fn(i, x), x the item's row as float64, read item by item)
    out       a directory: the outputs are written there (NAME.npy, or results.h5 with
              format='h5'), with manifest.txt and failures.json, resumably; returns a MapResult.
              Without it the stacked arrays are returned.
    names     output names (default 'result', or 'result0', 'result1', ... for a tuple)
    shape     the output row shape (a compiled fn); for a Python fn it is inferred from the
              first item that succeeds, and checked when given
    params    what else decides the results (a dict or str, repr'd): with fn's qualified name
              and the items it identifies the run, for resuming
    resume    'auto': resume the same run stopped in out, start in a new or empty out; True:
              only resume; False: never resume
    errors    'nan': a failed item's rows are NaN (the others complete); 'raise': MapError
              after the batch, listing the failed items
    chunk     items per task (None: automatic)
    distribute 'cyclic' or 'block', under several ranks
    progress  the progress bar and summary on stderr (None: when stderr is a terminal)
    trace     a directory for trace.json, report.html and dag.dot (written when dusk stops, at
              exit); only before dusk has started in this process
    overwrite replace a finished (or another) run in out
    processes True: each worker runs fn in a process of its own (forked when the batch starts,
              so fn needs no pickling), with its own GIL: pure-Python work uses every core

    How fn runs: on dusk's CPU workers, several items per task (the chunker), one call into
    Python per task, under the GIL: work that releases it (NumPy/SciPy linear algebra, BLAS,
    FFTs, I/O, time.sleep) runs on every core at once. Each worker keeps one BLAS thread while
    fn runs (DUSK_BLAS_THREADS), as for dusk's own kernels. fn runs on several threads at once:
    np.random.seed(i) is one global generator that they race on; use
    np.random.default_rng(i) (or np.random.RandomState(i)) inside fn. A compiled function
    runs with no Python at all (rows of a float64 C-ordered array or .npy file are read in
    place; other inputs are read through Python, under the GIL).

    The run is identified by fn's ``__module__.__qualname__``, repr(params), the items (their
    count; an array's SHA-256; a file's shape, dtype, size, sampled blocks and modification
    time) and the outputs' names and shapes: a directory holding another run, or this run of a
    file modified since, is refused (RunError), never written.
    Ctrl-C (in the main thread) stops the batch: running tasks finish, what is done is saved,
    then KeyboardInterrupt says how to resume. Under several ranks (mpirun, srun) every rank
    runs the same call: each computes its own items (into out, or, without out, into arrays
    gathered on every rank at the end), and every rank returns the same.
    """
    fname = "dusk.map"
    # ---- the arguments
    kaddr = _compiled(fn)
    if kaddr is None and not callable(fn):
        raise TypeError(f"{fname}: fn must be callable (a function of the item), not "
                        f"{type(fn).__name__}")
    if format not in ("npy", "h5"):
        raise ValueError(f"{fname}: format must be 'npy' or 'h5', not {format!r}")
    if resume not in ("auto", True, False):
        raise ValueError(f"{fname}: resume must be 'auto', True or False, not {resume!r}")
    if errors not in ("nan", "raise"):
        raise ValueError(f"{fname}: errors must be 'nan' or 'raise', not {errors!r}")
    if distribute not in ("cyclic", "block"):
        raise ValueError(f"{fname}: distribute must be 'cyclic' or 'block', not {distribute!r}")
    if not isinstance(processes, (bool, np.bool_)):
        raise TypeError(f"{fname}: processes must be True or False, not {processes!r}")
    processes = bool(processes)
    if processes and kaddr is not None:
        raise ValueError(f"{fname}: processes=True is for a Python function: a compiled one "
                         "already runs on every core with no GIL")
    if processes and not _procs.available():
        raise ValueError(f"{fname}: processes=True needs fork() (Linux)")
    if chunk is not None:
        if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
            raise ValueError(f"{fname}: chunk must be a whole number >= 1 or None, not {chunk!r}")
    if out is not None:
        if not isinstance(out, (str, os.PathLike)) or isinstance(os.fspath(out), bytes):
            raise TypeError(f"{fname}: out must be a str or os.PathLike path, not "
                            f"{type(out).__name__}")
        out = os.path.abspath(os.fspath(out))
    elif resume is True:
        raise ValueError(f"{fname}: resume=True needs out=DIR (the run to resume)")
    if params is not None and not isinstance(params, str):
        params = repr(params)
    if shape is not None:
        try:
            shape = (int(shape),) if isinstance(shape, (int, np.integer)) else \
                tuple(int(d) for d in shape)
        except TypeError:
            raise TypeError(f"{fname}: shape must be a tuple of whole numbers, not "
                            f"{shape!r}") from None
        if any(d < 0 for d in shape):
            raise ValueError(f"{fname}: shape must not have negative sizes: {shape}")
    if kaddr is not None and shape is None:
        raise ValueError(f"{fname}: a compiled function (numba @cfunc, ctypes) needs shape=, the "
                         "shape of one item's output row")
    if trace is not None:
        trace = os.path.abspath(os.fspath(trace))
        started = _lib.started_pid() is not None
        if started and _lib._settings.get("trace") != trace:
            raise ValueError(f"{fname}: trace= must be given before dusk starts in this process "
                             "(the trace is written when dusk stops); use "
                             "dusk.configure(trace=DIR) first, or DUSK_TRACE=DIR")
        if not started:
            _lib.configure({"trace": trace})

    src = _Items(items, fname)
    try:
        return _map(fn, kaddr, src, out, format, names, shape, params, resume, errors, chunk,
                    distribute, progress, overwrite, fname, processes)
    finally:
        src.close()


PROCESS_TASKS = (0.05, 2)  # processes=True: 50 ms a task, at most half a worker's share left


def _map(fn, kaddr, src, out, format, names, shape, params, resume, errors, chunk, distribute,
         progress, overwrite, fname, processes):
    T = src.count
    if kaddr is None:
        _tune_malloc()
    # ---- the outputs' shapes
    seen = None
    if kaddr is not None:
        shapes, multi = [shape], False
    elif T == 0:
        shapes, multi = [shape or ()], False
    else:
        # a directory that holds a run of dusk.map of as many items is likely this one, to be
        # resumed or reused: the shapes from as few calls as can be
        m = _read_manifest(out) if out is not None else None
        again = m is not None and m.get("program") == PROGRAM.decode() and \
            m.get("tasks") == str(T)
        shapes, multi, seen = _probe(fn, src, fname, None, distribute, wide=not again)
        if shape is not None and len(shapes) == 1 and shapes[0] != shape:
            raise ValueError(f"{fname}: fn returned shape {_shape_text(shapes[0])} for the first "
                             f"item, but shape={_shape_text(shape)} was given")
    if len(shapes) > MAX_OUTPUTS:
        raise ValueError(f"{fname}: fn returns {len(shapes)} arrays: at most {MAX_OUTPUTS}")
    for s in shapes:
        if len(s) > 2:
            raise ValueError(f"{fname}: fn returns an array of shape {_shape_text(s)}: each "
                             "item's output may have at most 2 dimensions (reshape it)")
    if names is None:
        names = ["result"] if len(shapes) == 1 else [f"result{j}" for j in range(len(shapes))]
    elif isinstance(names, str):
        names = [names]
    names = list(names)
    if len(names) != len(shapes):
        raise ValueError(f"{fname}: {len(names)} names for {len(shapes)} outputs")
    for n in names:
        if not isinstance(n, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,47}", n):
            raise ValueError(f"{fname}: output name {n!r}: letters, digits and _ only (it names "
                             "a file)")
    if len(set(names)) != len(names):
        raise ValueError(f"{fname}: output names must differ: {names}")
    xlen = int(np.prod(src.row_shape)) if src.has_rows else 0

    ident = (f"fn={_fn_name(fn)} items={src.desc} params={params!r} outputs=" +
             ",".join(f"{n}{_shape_text(s)}" for n, s in zip(names, shapes)))
    ident = _one_line(ident, 4000)

    # ---- the directory: new, resume, or refuse
    do_resume = False
    if out is not None:
        m = _read_manifest(out)
        if m is not None and m.get("program") == PROGRAM.decode():
            same = _same_run(m.get("params"), ident, src.path, out, fname, overwrite) and \
                m.get("tasks") == str(T)
            if same:
                ident = m.get("params")  # as it was, should it predate the file's time
            if same and resume is not False:
                do_resume = not (overwrite and m.get("state") == "finished")
                if do_resume and m.get("format", "npy") != format:
                    raise RunError(f"{fname}: {out} holds this run in format "
                                   f"{m.get('format')!r}, not {format!r}: pass "
                                   f"format={m.get('format')!r} to resume it, or overwrite=True")
            elif not overwrite:
                if same:
                    raise RunError(f"{fname}: {out} holds this run ({m.get('state')}): resume it "
                                   "with resume='auto', or pass overwrite=True to start again")
                raise RunError(f"{fname}: {out} holds another run ({m.get('params')}), not this "
                               f"one ({ident}): use another directory, or overwrite=True")
        elif resume is True:
            raise RunError(f"{fname}: resume=True, but {out} holds no run of dusk.map to resume")

    _lib.ensure_started()

    with _run_lock:
        return _execute(fn, kaddr, src, out, format, names, shapes, multi, ident, do_resume,
                        errors, chunk, distribute, progress, overwrite, fname, T, xlen, seen,
                        processes)


def _execute(fn, kaddr, src, out, format, names, shapes, multi, ident, do_resume, errors, chunk,
             distribute, progress, overwrite, fname, T, xlen, seen, processes):
    b = _vp()

    def check(rc, what):
        if rc != 0:
            raise DuskError(rc, f"{fname}: {what}: {_lib.error_text(rc)}")

    check(batch_new(PROGRAM, T, ctypes.byref(b)), "cannot make the batch")
    keep = []
    pool = None
    try:
        for n, s in zip(names, shapes):
            dims = (_i64 * max(len(s), 1))(*s)
            check(batch_add_output(b, n.encode(), len(s), dims, None), f"output {n}")
        arrays = None
        if out is None:
            # under several ranks each rank's rows are merged into every rank's arrays at the
            # end (_merge_ranks): the rows it does not compute must be zero bits
            fill = np.nan if rank_count() == 1 else 0.0
            arrays = [np.full((T,) + tuple(s), fill) for s in shapes]
            for j, a in enumerate(arrays):
                check(batch_set_memory(b, j, a.ctypes.data), "cannot keep the results")
        elif do_resume:
            check(batch_resume(b, out.encode()), f"cannot resume {out}")
        else:
            rc = batch_set_output(b, out.encode(), format.encode())
            if rc == -9:
                raise ValueError(f"{fname}: format='h5' needs a dusk built with HDF5")
            check(rc, f"cannot write into {out}")
            check(batch_set_overwrite(b, int(bool(overwrite))), "overwrite")
        check(batch_set_params(b, ident.encode()), "params")
        check(batch_set_signals(b, 0), "signals")
        check(batch_set_distribution(b, 0 if distribute == "cyclic" else 1), "distribute")
        check(batch_set_chunk(b, -1 if chunk is None else int(chunk), 0), "chunk")
        if processes:
            # a task's items go to a child and back: a round trip, wake-ups in both processes,
            # the parent's threads on the child's core. With the default tasks (2 ms, at most
            # a sixteenth per worker of what is left) the children waited for the parent
            # about a tenth of the time at n = 100 on 2 cores: fewer, longer tasks
            # (bench/RESULTS.md); the last ones still shrink, so that no child waits long at
            # the end.
            check(batch_set_task_target(b, *PROCESS_TASKS), "task target")
        check(batch_set_flags(b, b"out", b"resume", b"overwrite"), "flags")
        if progress is None:
            progress = sys.stderr is not None and hasattr(sys.stderr, "isatty") and \
                sys.stderr.isatty()
        if progress:
            check(batch_set_label(b, (getattr(fn, "__name__", None) or "items").encode()[:47]),
                  "label")
            check(cli_report_text(b), "reporter")
            check(batch_set_resume_command(b, b"the same dusk.map call (run the script again)"),
                  "resume command")

        if batch_open(b) != 0:
            st = _state(b)
            why = st.why.decode("utf-8", "replace") if st.why else _lib.error_text(st.code)
            why = why.replace("--overwrite", "overwrite=True").replace("--resume", "resume")
            if st.usage:
                raise RunError(f"{fname}: {why}")
            raise DuskError(st.code, f"{fname}: {why}")

        spec = MapSpec()
        spec.name = _kernel_name(fn)
        spec.xlen = xlen
        run = None
        if kaddr is not None:
            spec.item = kaddr
            if src.has_rows:
                a = src.array
                if a is not None and a.dtype == np.float64 and a.dtype.isnative and \
                        a.flags.c_contiguous:
                    spec.x = a.ctypes.data if a.size else None
                elif a is not None and not isinstance(a, np.memmap):
                    a = np.ascontiguousarray(a, dtype=np.float64)
                    keep.append(a)
                    spec.x = a.ctypes.data if a.size else None
                if spec.x is None and T > 0 and xlen > 0:
                    run = _Run(None, src, shapes)
                    cb = READ_FN(run.read)
                    keep.append(cb)
                    spec.read = ctypes.cast(cb, _vp).value
        else:
            run = _Run(fn, src, shapes, seen)
            if processes and T > len(seen or ()):
                # after the batch opened (a refused one forks nothing), before any task runs
                pool = run.pool = _procs.Pool(run, max(1, _lib.cpu_worker_count()), _put,
                                              _exception_reason, _one_line, _ReturnError)
            cb = CHUNK_FN(run.chunk)
            keep.append(cb)
            spec.chunk = ctypes.cast(cb, _vp).value
        quit_message = (f"dusk.map: quit at once; what {out}/manifest.txt lists is saved: run "
                        "the same script again to resume" if out is not None else
                        "dusk.map: quit at once (nothing saved without out=DIR)")
        rc, signum = _run_interruptibly(b, spec, quit_message)
        st = _state(b)
        merged = None
        if out is None and rank_count() > 1:
            merged = _merge_ranks(b, arrays, fname,
                                  (run is None or run.error is None) and st.outcome == 1)
        if run is not None and run.error is not None:
            raise run.error
        if st.outcome == 2:  # STOPPED
            if out is not None:
                where = (f"{st.saved} of {T} items are saved in {out}; to resume, run the same "
                         "script again (the same dusk.map call: same function, items, params and "
                         "out)")
            else:
                where = "nothing is saved without out=DIR"
            if signum == signal.SIGTERM:
                # scancel, a walltime's --signal, kill: the process ends, as SIGTERM's default
                # would have ended it, but after saving (finally blocks and atexit still run)
                sys.stderr.write(f"{fname} stopped by SIGTERM: {where}\n")
                sys.stderr.flush()
                raise SystemExit(128 + signal.SIGTERM)
            raise KeyboardInterrupt(f"{fname} stopped: {where}")
        if st.outcome != 1:  # not FINISHED
            why = st.why.decode("utf-8", "replace") if st.why else _lib.error_text(rc)
            raise DuskError(st.code or rc, f"{fname}: {why}" +
                            (f" (what was done is saved in {out}: the same call resumes it)"
                             if out is not None and st.ran else ""))
        failed, reasons = _failures(b, out) if merged is None else merged
        result = MapResult(out, format, names, failed, reasons, "finished", not multi) \
            if out is not None else (arrays[0] if not multi else tuple(arrays))
        if failed and errors == "raise":
            i = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise MapError(f"{fname}: {len(failed)} of {T} items failed: {failed[:20]}"
                           f"{' ...' if len(failed) > 20 else ''}; item {i}: {reasons.get(i, '')}"
                           f"{more}", failed, reasons, result)
        return result
    finally:
        if pool is not None:
            pool.close()
        bb = ctypes.c_void_p(b.value)
        batch_free(ctypes.byref(bb))
        del keep


def _state(b):
    st = BatchState()
    batch_get_state(b, ctypes.byref(st))
    return st


def _failures(b, out):
    """The failed items and their reasons: every rank's (failures.json) with out, else ours."""
    reasons = {}
    if out is not None and rank_count() > 1:
        try:
            with open(os.path.join(out, "failures.json"), encoding="utf-8") as f:
                for e in json.load(f).get("failures", []):
                    reasons.setdefault(int(e["task"]), e.get("reason", ""))
        except FileNotFoundError:
            pass
    else:
        f = BatchFailure()
        for k in range(batch_failure_count(b)):
            if batch_get_failure(b, k, ctypes.byref(f)) == 0:
                reasons[int(f.item)] = (f.reason or b"").decode("utf-8", "replace")
    return sorted(reasons), reasons


def _merge_ranks(b, arrays, fname, ok):
    """Without out=, under several ranks: every rank's rows and failures, on every rank (each
    computed its own items into its arrays, zero elsewhere), when every rank finished (ok);
    else RunError on the ranks that did, naming the others. Every rank calls it, in the same
    order (collectives), whatever its outcome. Returns (failed, reasons)."""
    def agree(value):
        got = _i64(value)
        rc = ranks_max(value, ctypes.byref(got))
        if rc != 0:
            raise DuskError(rc, f"{fname}: the ranks cannot agree: {_lib.error_text(rc)}")
        return got.value

    if agree(0 if ok else 1):
        if ok:
            raise RunError(f"{fname}: another rank did not finish (see its messages): without "
                           "out=DIR nothing is kept; give out=DIR to keep what each rank did")
        return None
    mine = json.dumps(_failures(b, None)[1]).encode()
    width = agree(len(mine))
    texts = np.zeros(width * rank_count(), np.uint8)
    texts[rank() * width:rank() * width + len(mine)] = np.frombuffer(mine, np.uint8)
    for a in arrays + [texts]:
        rc = ranks_merge(a.ctypes.data, a.nbytes)
        if rc != 0:
            raise DuskError(rc, f"{fname}: cannot gather the ranks' results: "
                            f"{_lib.error_text(rc)}")
    reasons = {}
    for r in range(rank_count()):
        text = texts[r * width:(r + 1) * width].tobytes().rstrip(b"\0")
        reasons.update({int(k): v for k, v in json.loads(text or b"{}").items()})
    return sorted(reasons), reasons


def _run_interruptibly(b, spec, quit_message):
    """dusk_map_run in a helper thread while this one waits, so that Ctrl-C (in the main
    thread) stops the batch through dusk_batch_stop: it saves, then KeyboardInterrupt. A
    second Ctrl-C ends the process at once (the manifest on disk stays true). SIGTERM (scancel,
    kill, a job's time limit), where its handler is still Python's default, stops the batch
    the same way; the caller then ends the process with status 143. Returns dusk_map_run's
    code and the signal that stopped the batch (None if none).

    While the batch runs, these signals go to handlers of ours (Python's signal module, in this
    thread) rather than raising KeyboardInterrupt wherever this thread happens to be: an
    exception between two waits would leave the batch running while the interpreter exits."""
    if threading.current_thread() is not threading.main_thread():
        return map_run(b, ctypes.byref(spec)), None
    result = []
    done = threading.Event()
    stops = []

    def on_signal(signum, frame):
        if stops:  # a second signal, as for dusk's programs: at once
            sys.stderr.write(f"{quit_message}\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        stops.append(signum)
        batch_stop(b, signum)

    def helper():
        try:
            result.append(map_run(b, ctypes.byref(spec)))
        finally:
            done.set()

    previous = {}
    # SIGINT: unless ignored (a background job), where it stays ignored; SIGTERM: unless the
    # program has its own handler (or ignores it)
    if signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None):
        previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        previous[signal.SIGTERM] = signal.SIG_DFL
    for s in previous:
        signal.signal(s, on_signal)
    try:
        t = threading.Thread(target=helper, name="dusk-map", daemon=True)
        t.start()
        while not done.is_set():
            done.wait(0.05)
        t.join()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return result[0], (stops[0] if stops else None)
