"""dusk.map(..., processes=True): each CPU worker hands its task's items to a process of its own.

Python code holds the GIL: under threads, only the part of each item that releases it (BLAS,
LAPACK, I/O) runs on several cores at once. Here the children run fn, each with its own GIL,
and dusk's workers only wait for them.

- The children are forked when the batch opens, from the thread that called dusk.map: fn,
  lambdas and closures, the items and the outputs' shapes are there as they are, never
  pickled. StarPU's threads exist then but do not run (no task is submitted yet); a child
  runs Python and NumPy only, never dusk or StarPU (its copy of them is left alone), and ends
  with os._exit (no atexit, no dusk stop).
- Each child owns a slot of one shared anonymous mapping: the outputs' rows of up to `cap`
  items and a status byte per item. A worker sends its child the items' ids over a pipe; the
  child writes each item's rows into its slot and marks it done (1) or failed (2, the
  reason sent back over the other pipe), then says "done". The worker copies the done rows
  into its task's buffers: results are never pickled.
- A child that dies (os._exit, a segfault, the OOM killer) is seen as the end of its pipe:
  the item it was running fails with how it ended, a new child is forked (from that worker's
  thread) and takes the items after it.
- No child outlives its parent: each asks the kernel for SIGKILL when the thread that forked
  it ends (PR_SET_PDEATHSIG; the calling thread, or a worker thread, which lives as long as
  dusk), and one that finds the pipe to its parent closed exits. The children ignore SIGINT
  and SIGTERM (a Ctrl-C reaches the whole process group): the parent stops the batch, the
  items running finish, and the parent ends them.
- Each child runs the workers' BLAS threads (1 by default), so its results are the thread
  mode's to the bit.
"""

import ctypes
import mmap
import os
import signal
import struct
import sys
import threading
import warnings

import numpy as np

from . import _lib

_PR_SET_PDEATHSIG = 1
_HDR = struct.Struct("<I")       # a reply's length
_FAIL = struct.Struct("<qi")     # a failed item: its index in the request, its code
_SLOT_BYTES = 16 << 20           # outputs' rows per child, at most (at least one item's)
EKERNEL = -14                    # DUSK_EKERNEL


def available():
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def _read_exact(fd, n):
    """n bytes from fd, or None at its end (the other side closed it, or died)."""
    parts, got = [], 0
    while got < n:
        try:
            b = os.read(fd, n - got)
        except InterruptedError:
            continue
        if not b:
            return None
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _ended_text(status):
    if os.WIFSIGNALED(status):
        n = os.WTERMSIG(status)
        try:
            name = signal.Signals(n).name
        except ValueError:
            name = f"signal {n}"
        return f"killed by signal {n} ({name})"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return f"ended (wait status {status})"


class _Child:
    __slots__ = ("pid", "req", "rep", "slot", "cpus")

    def __init__(self, pid, req, rep, slot):
        self.pid, self.req, self.rep, self.slot = pid, req, rep, slot
        self.cpus = None  # the cores it may run on, once a worker has set them


class Pool:
    """The children, one per CPU worker, and their shared slots."""

    def __init__(self, run, count, put, reason_of, one_line, return_error):
        self.run = run                  # the _Run: fn, items, shapes, sizes
        self.put = put                  # _map._put: one item's result into the output rows
        self.reason_of = reason_of      # _map._exception_reason: an exception's reason
        self.one_line = one_line        # _map._one_line
        self.return_error = return_error  # _map._ReturnError: fails with its text alone
        self.sizes = list(run.sizes)
        total = max(1, sum(self.sizes))
        self.cap = int(max(1, min(65536, _SLOT_BYTES // (8 * total))))
        self.offsets, at = [], 0
        for s in self.sizes:
            self.offsets.append(at)
            at += 8 * self.cap * s
        self.status_at = at
        self.slot_bytes = (at + self.cap + 4095) // 4096 * 4096
        self.count = count
        self.mm = mmap.mmap(-1, self.slot_bytes * count)  # MAP_SHARED | MAP_ANONYMOUS
        self.views = [self._views(k) for k in range(count)]
        self.blas = _lib.worker_blas_threads()
        try:
            self.affinity = os.sched_getaffinity(0)
        except OSError:
            self.affinity = None
        self.parent = os.getpid()
        self.lock = threading.Condition()
        self.forking = threading.Lock()
        self.idle = []
        self.children = {}              # slot -> _Child
        self.closed = False
        sys.stdout.flush()              # else the children's copies of the buffers print twice
        sys.stderr.flush()
        with warnings.catch_warnings():  # Python 3.12: forking a process with threads warns
            warnings.simplefilter("ignore", DeprecationWarning)
            for k in range(count):
                self.idle.append(self._start(k))

    def _views(self, k):
        base = k * self.slot_bytes
        outs = [np.frombuffer(self.mm, np.float64, self.cap * s, base + off).reshape(
            (self.cap,) + tuple(shape))
            for s, off, shape in zip(self.sizes, self.offsets, self.run.shapes)]
        status = np.frombuffer(self.mm, np.uint8, self.cap, base + self.status_at)
        return outs, status

    # ---- the parent's side

    def _start(self, slot):
        # One start at a time: a child forked while another start's pipes are open on both
        # ends would keep that child's reply pipe open, and its death would go unseen.
        with self.forking:
            self.children.pop(slot, None)
            req_r, req_w = os.pipe()
            rep_r, rep_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(req_w)
                    os.close(rep_r)
                    self._child(slot, req_r, rep_w)
                finally:
                    os._exit(0)
            os.close(req_r)
            os.close(rep_w)
            c = _Child(pid, req_w, rep_r, slot)
            if self.affinity is not None:
                # a child forked by a worker has that worker's core: it gets the caller's
                # cores, from here rather than from itself, so that it cannot undo a _bind
                # made after this returns
                try:
                    os.sched_setaffinity(pid, self.affinity)
                except OSError:
                    pass
            self.children[slot] = c
            return c

    def take(self):
        """An idle child: the one that last ran on this worker's cores, if it is idle (it
        stays there, its caches warm), else any."""
        try:
            mine = os.sched_getaffinity(0)
        except OSError:
            mine = None
        with self.lock:
            while not self.idle:
                self.lock.wait()
            for k, c in enumerate(self.idle):
                if c.cpus == mine:
                    return self.idle.pop(k)
            return self.idle.pop()

    def give(self, c):
        with self.lock:
            self.idle.append(c)
            self.lock.notify()

    def _reap(self, c):
        """Close c's pipes and wait for it. Returns its wait status."""
        self._hang_up(c)
        return self._wait(c)

    def _hang_up(self, c):
        """Close c's pipes: it exits at the end of its request pipe."""
        with self.forking:  # not while a start forks: its child closes the others' pipes
            if self.children.get(c.slot) is c:
                del self.children[c.slot]
            for fd in (c.req, c.rep):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _wait(self, c):
        """c's wait status, once it has exited: polled from 0.5 ms up to 10 ms apart (a child
        at the end of its pipe exits within a few milliseconds; a fixed 10 ms was most of what
        closing cost), and killed if it has not within about 2 seconds."""
        pause, waited = 0.0005, 0.0
        while waited < 2.0:
            pid, status = os.waitpid(c.pid, os.WNOHANG)
            if pid:
                return status
            threading.Event().wait(pause)
            waited += pause
            pause = min(2 * pause, 0.01)
        try:
            os.kill(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return os.waitpid(c.pid, 0)[1]

    def compute(self, c, ks, ids, outs_np, fail):
        """Items ids (their indices ks in the task) on child c: the rows of those that
        succeed copied into outs_np, fail(k, code, reason) for the others. Returns the child
        to go on with (a new one when c died)."""
        self._bind(c)
        at = 0
        while at < len(ids):
            part_ids = ids[at:at + self.cap]
            part_ks = ks[at:at + self.cap]
            n = len(part_ids)
            outs, status = self.views[c.slot]
            status[:n] = 0
            died = None
            failed = 0
            try:
                _write_all(c.req, struct.pack(f"<q{n}q", n, *part_ids))
            except OSError:
                died = True
            buf = b""
            while died is None:
                # the replies as they come, in as few reads as can be (one, usually)
                try:
                    more = os.read(c.rep, 65536)
                except InterruptedError:
                    continue
                if not more:
                    died = True
                    break
                buf += more
                while len(buf) >= _HDR.size:
                    size = _HDR.unpack_from(buf)[0]
                    if len(buf) < _HDR.size + size:
                        break
                    msg, buf = buf[_HDR.size:_HDR.size + size], buf[_HDR.size + size:]
                    if msg[:1] == b"D":
                        died = False
                        break
                    j, code = _FAIL.unpack_from(msg, 1)
                    failed += 1
                    fail(part_ks[j], code, msg[1 + _FAIL.size:].decode("utf-8", "replace"))
            k0 = part_ks[0]
            if not died and not failed and part_ks[-1] - k0 == n - 1:  # the usual: one copy
                for j, o in enumerate(outs):
                    outs_np[j][k0:k0 + n] = o[:n]
            else:
                ok = np.flatnonzero(status[:n] == 1)
                if len(ok):
                    dest = np.asarray(part_ks, np.int64)[ok]
                    for j, o in enumerate(outs):
                        outs_np[j][dest] = o[ok]
            if not died:
                at += n
                continue
            # the child ended: the first item neither done nor failed was running
            how = _ended_text(self._reap(c))
            left = np.flatnonzero(status[:n] == 0)
            if len(left):
                j = int(left[0])
                fail(part_ks[j], EKERNEL,
                     f"the process running fn (processes=True) {how} while running this item")
                at += j + 1
            else:
                at += n
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                c = self._start(c.slot)
            self._bind(c)
        return c

    def _bind(self, c):
        """c runs where the calling worker runs (StarPU binds each worker to a core): the
        worker and its child take turns, one waiting while the other runs, so on one core
        each wakes the other at once, and neither's caches go cold; a child free to run
        anywhere was woken on the other core, busy with the other child."""
        try:
            cpus = os.sched_getaffinity(0)  # this thread's
            if cpus != c.cpus:
                os.sched_setaffinity(c.pid, cpus)
                c.cpus = cpus
        except OSError:
            pass

    def close(self):
        """End every child (each exits at the end of its pipe) and wait for them."""
        if self.closed:
            return
        self.closed = True
        children = list(self.children.values())
        for c in children:  # all told first: they exit side by side
            self._hang_up(c)
        for c in children:
            self._wait(c)
        self.children.clear()
        self.idle.clear()
        self.views = None

    # ---- the child's side

    def _child(self, slot, req, rep):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != self.parent:  # the parent ended before the line above
            return
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                signal.signal(s, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
        for c in self.children.values():  # the other children's pipes: theirs alone
            for fd in (c.req, c.rep):
                if fd in (req, rep):
                    continue
                try:
                    os.close(fd)
                except OSError:
                    pass
        try:
            blas = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD)
            blas.openblas_set_num_threads.argtypes = [ctypes.c_int]
            blas.openblas_set_num_threads(self.blas)
        except (OSError, AttributeError):
            pass
        run, put = self.run, self.put
        outs, status = self.views[slot]
        fn, src, rows = run.fn, run.src, run.rows
        nouts, shapes = len(run.shapes), run.shapes
        return_error, reason_of, one_line = self.return_error, self.reason_of, self.one_line

        def failed(k, code, reason):
            status[k] = 2
            body = b"F" + _FAIL.pack(k, code) + reason.encode("utf-8", "replace")
            _write_all(rep, _HDR.pack(len(body)) + body)

        while True:
            h = _read_exact(req, 8)
            if h is None:
                return
            n = struct.unpack("<q", h)[0]
            ids = np.frombuffer(_read_exact(req, 8 * n) or b"", np.int64)
            if len(ids) != n:
                return
            for k in range(n):
                i = int(ids[k])
                try:
                    put(fn(i, src.row(i)) if rows else fn(i), outs, k, nouts, shapes)
                    status[k] = 1
                except return_error as e:
                    failed(k, _lib.EDATA, one_line(e))
                except BaseException as e:  # sys.exit in fn too: that item fails
                    failed(k, EKERNEL, reason_of(e))
            for f in (sys.stdout, sys.stderr):  # what fn printed, before os._exit drops it
                try:
                    f.flush()
                except Exception:
                    pass
            _write_all(rep, _HDR.pack(1) + b"D")

