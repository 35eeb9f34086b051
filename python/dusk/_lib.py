"""libdusk.so through ctypes: finding it, the C declarations, and dusk's start and stop.

Nothing here is public; dusk/__init__.py is the package's interface. The structures mirror
runtime/include/dusk.h and dusk_linalg.h field by field (tests/python/test_layout.py checks
them against the headers with a C compiler).
"""

import atexit
import ctypes
import os
import threading

# ---- finding the library -----------------------------------------------------------------

SONAME = "libdusk.so.0"


def _recorded():
    """The library the build or the install recorded beside the package (_libpath.py), or None."""
    try:
        from . import _libpath
    except ImportError:
        return None
    return getattr(_libpath, "LIBRARY", None)


def _load():
    """Load libdusk.so: DUSK_LIBRARY when set (and nothing else then), else the one recorded by
    the build tree or the install, else whatever the dynamic loader finds (LD_LIBRARY_PATH, the
    system's directories). Returns (CDLL, path); raises ImportError saying what was tried."""
    tried = []
    env = os.environ.get("DUSK_LIBRARY")
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise ImportError(f"dusk: cannot load DUSK_LIBRARY={env}: {e}") from None
    recorded = _recorded()
    if recorded:
        if os.path.exists(recorded):
            try:
                return ctypes.CDLL(recorded), recorded
            except OSError as e:
                tried.append(f"{recorded} ({e})")
        else:
            tried.append(f"{recorded} (recorded by the build or install, no longer there)")
    try:
        return ctypes.CDLL(SONAME), SONAME
    except OSError as e:
        tried.append(f"{SONAME} from the loader's path ({e})")
    raise ImportError("dusk: libdusk.so not found; tried " + "; ".join(tried) +
                      ". Set DUSK_LIBRARY to its path, or add its directory to LD_LIBRARY_PATH")


lib, path = _load()

# ---- the C declarations ------------------------------------------------------------------

# Error codes (dusk.h)
EINVAL, ENOMEM, EDATA, ENUMERIC, ESTATE, ETASK, ECANCELED = -1, -2, -5, -6, -10, -11, -12
ERROR_NAMES = {
    -1: "DUSK_EINVAL", -2: "DUSK_ENOMEM", -3: "DUSK_EIO", -4: "DUSK_EFORMAT", -5: "DUSK_EDATA",
    -6: "DUSK_ENUMERIC", -7: "DUSK_EDEP", -8: "DUSK_ESTARPU", -9: "DUSK_ENODEV",
    -10: "DUSK_ESTATE", -11: "DUSK_ETASK", -12: "DUSK_ECANCELED", -13: "DUSK_EEXIST",
    -14: "DUSK_EKERNEL",
}
PROGRESS_AUTO, PROGRESS_OFF, PROGRESS_ON = -1, 0, 1


class Config(ctypes.Structure):
    """dusk_config (dusk.h). `_reserve` is not part of it: room past its end, so that a field
    appended to the C struct is written into memory of ours rather than past it."""
    _fields_ = [
        ("ncpu", ctypes.c_int),
        ("ncuda", ctypes.c_int),
        ("sched", ctypes.c_char * 32),
        ("blas_threads", ctypes.c_int),
        ("window", ctypes.c_int),
        ("window_mb", ctypes.c_int),
        ("progress", ctypes.c_int),
        ("verbose", ctypes.c_int),
        ("trace", ctypes.c_char * 1024),
        ("mpi_core", ctypes.c_int),
        ("_reserve", ctypes.c_char * 4096),
    ]


CONFIG_FIELDS = [f for f, _ in Config._fields_ if f != "_reserve"]


class EighOpts(ctypes.Structure):
    """dusk_eigh_opts (dusk_linalg.h), with the same room past its end."""
    _fields_ = [
        ("uplo", ctypes.c_char),
        ("vectors", ctypes.c_int),
        ("chunk", ctypes.c_int64),
        ("cancel", ctypes.POINTER(ctypes.c_int)),
        ("progress", ctypes.c_char_p),
        ("_reserve", ctypes.c_char * 256),
    ]


EIGH_OPTS_FIELDS = [f for f, _ in EighOpts._fields_ if f != "_reserve"]


def _declare(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_i64, _size, _vp, _cp = ctypes.c_int64, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p
strerror = _declare("dusk_strerror", _cp, ctypes.c_int)
config_init = _declare("dusk_config_init", ctypes.c_int, ctypes.POINTER(Config), _cp, _size)
init = _declare("dusk_init", ctypes.c_int, ctypes.POINTER(Config), _cp, _size)
shutdown = _declare("dusk_shutdown", None)
worker_count = _declare("dusk_worker_count", ctypes.c_int)
cpu_worker_count = _declare("dusk_cpu_worker_count", ctypes.c_int)
cuda_worker_count = _declare("dusk_cuda_worker_count", ctypes.c_int)
have_cuda = _declare("dusk_have_cuda", ctypes.c_int)
_ll, _llp, _cpp = ctypes.c_longlong, ctypes.POINTER(ctypes.c_longlong), ctypes.POINTER(_cp)
config_bounds = _declare("dusk_config_bounds", ctypes.c_int, ctypes.c_int, _llp, _llp, _llp, _cpp,
                         _cpp, _cpp)
sched_check = _declare("dusk_sched_check", ctypes.c_int, _cp, _cp, _size)
sched_name = _declare("dusk_sched_name", _cp)
eigh_opts_init = _declare("dusk_eigh_opts_init", ctypes.c_int, ctypes.POINTER(EighOpts))
# ctypes calls through a CDLL release the GIL for the length of the call.
eigh_stack = _declare("dusk_eigh_stack", ctypes.c_int, _vp, _i64, _i64, _vp, _vp, _vp,
                      ctypes.POINTER(EighOpts), _cp, _size)
eigh_generated = _declare("dusk_eigh_generated", ctypes.c_int, _i64, _i64, ctypes.c_uint32, _vp,
                          _vp, _vp, ctypes.POINTER(EighOpts), _cp, _size)

std_fds_open = _declare("dusk_std_fds_open", ctypes.c_int)
# Python started with a standard descriptor closed (`>&-`) keeps it closed (sys.stdout is
# None): the next file opened, an output of dusk.map's included, would get its number and
# whatever C code prints into it. /dev/null goes onto it now, before dusk starts or opens
# anything; should that fail, dusk_init() and dusk_batch_open() try again and say why.
std_fds_open()

# dusk_setting (dusk.h): the numeric settings configure() takes, by their dusk_config field
SETTINGS = {"ncpu": 0, "ncuda": 1, "blas_threads": 2}


def setting_bounds(name):
    """(lo, hi, unset) of a numeric setting, from the C library's one table of bounds
    (dusk_config_bounds): what dusk_init() will accept."""
    lo, hi, unset = ctypes.c_longlong(), ctypes.c_longlong(), ctypes.c_longlong()
    rc = config_bounds(SETTINGS[name], ctypes.byref(lo), ctypes.byref(hi), ctypes.byref(unset),
                       None, None, None)
    if rc != 0:
        raise DuskError(rc, f"dusk: no bounds for the setting {name}")
    return lo.value, hi.value, unset.value


def error_text(code):
    return strerror(code).decode("utf-8", "replace")


class DuskError(RuntimeError):
    """dusk refused or failed a call (not a matrix of it: those raise numpy's LinAlgError).
    `code` is the negative DUSK_E* code, `name` its name."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.name = ERROR_NAMES.get(code, str(code))


# ---- starting once, stopping at exit ------------------------------------------------------

_lock = threading.Lock()
_settings = {}
_state = {"started": False, "pid": None, "blas_threads": 1}
# The calls in flight (their cancel flags), so that the exit handler can stop them first.
_calls = {}
_calls_cond = threading.Condition()


def configure(settings):
    """Record settings for dusk_init(); refused once dusk has started."""
    with _lock:
        if _state["started"]:
            raise RuntimeError("dusk.configure(): dusk is already running in this process; "
                               "configure() must come before the first dusk call")
        _settings.update(settings)


def worker_blas_threads():
    """The BLAS threads each worker runs with (dusk_config.blas_threads), once started."""
    return _state["blas_threads"]


def started_pid():
    return _state["pid"] if _state["started"] else None


def ensure_started():
    """Start dusk on first use: dusk_config_init() (defaults, then the environment), then the
    settings given to configure(), then dusk_init(). Raises DuskError when dusk cannot start."""
    if _state["started"] and _state["pid"] == os.getpid():
        return
    with _lock:
        if _state["started"]:
            if _state["pid"] != os.getpid():
                raise RuntimeError(
                    f"dusk was started by process {_state['pid']}; a child made by fork() cannot "
                    "use it (StarPU's threads stayed in the parent): start children with the "
                    "'spawn' or 'forkserver' method, or use dusk in the parent only")
            return
        why = ctypes.create_string_buffer(512)
        cfg = Config()
        rc = config_init(ctypes.byref(cfg), why, len(why))
        if rc != 0:
            raise DuskError(rc, "dusk: " + why.value.decode("utf-8", "replace"))
        s = _settings
        for key in ("ncpu", "ncuda", "blas_threads"):
            if s.get(key) is not None:
                setattr(cfg, key, s[key])
        if s.get("sched") is not None:
            cfg.sched = s["sched"].encode()
        if s.get("trace") is not None:
            cfg.trace = s["trace"].encode()
        progress = s.get("progress")
        if progress is not None:
            cfg.progress = {True: PROGRESS_AUTO, False: PROGRESS_OFF, "always": PROGRESS_ON}[progress]
        # Python keeps this process's signals: dusk_init() asks StarPU for no handler of its
        # own (starpu_conf.catch_signals = 0), so Python's SIGINT and faulthandler stay.
        rc = init(ctypes.byref(cfg), why, len(why))
        if rc != 0:
            raise DuskError(rc, "dusk: cannot start: " + why.value.decode("utf-8", "replace"))
        _state["started"] = True
        _state["blas_threads"] = cfg.blas_threads
        _state["pid"] = os.getpid()
        atexit.register(_stop)


def _stop():
    """At exit: cancel the calls still running (daemon threads'), wait for them, then stop
    StarPU (which writes the trace when one was asked for)."""
    if not _state["started"] or _state["pid"] != os.getpid():
        return
    with _calls_cond:
        for flag in _calls.values():
            flag.value = 1
        while _calls:
            _calls_cond.wait(0.1)
    shutdown()
    _state["started"] = False


def call(fn, args, opts, interruptible, keep):
    """Run fn(*args, opts, why, len) (a dusk_eigh_* entry point) with the GIL released; return
    (rc, why). `keep` holds the arrays whose memory args point into: whoever runs the call holds
    them until it returns. From the main thread the call runs in a helper thread while this one
    waits in short timeouts, so that Ctrl-C is seen at once: then the call is cancelled (its
    flag), waited for, and KeyboardInterrupt raised. Should the interrupt come at a moment
    when this thread cannot wait (inside Thread.start), the call is cancelled all the same and
    the helper, which holds the memory, lets go of it once the call has returned."""
    cancel = ctypes.c_int(0)
    opts.cancel = ctypes.pointer(cancel)
    why = ctypes.create_string_buffer(1024)

    def run():
        with _calls_cond:
            _calls[id(cancel)] = cancel
        try:
            return fn(*args, ctypes.byref(opts), why, len(why)), keep
        finally:
            with _calls_cond:
                del _calls[id(cancel)]
                _calls_cond.notify_all()

    if not interruptible:
        rc, _ = run()
        return rc, why.value.decode("utf-8", "replace")
    result = []
    done = threading.Event()

    def helper_main():
        try:
            result.append(run()[0])
        finally:
            done.set()

    helper = threading.Thread(target=helper_main, name="dusk-call", daemon=True)
    try:
        helper.start()
    except BaseException:
        cancel.value = 1
        raise
    interrupted = None
    while not done.is_set():
        try:
            done.wait(0.05)
        except BaseException as e:  # KeyboardInterrupt, or SystemExit from a handler
            cancel.value = 1
            if interrupted is None:
                interrupted = e
    if interrupted is not None:
        raise interrupted
    return result[0], why.value.decode("utf-8", "replace")
