"""Ctrl-C during a long call: SIGINT sent to a process computing a batch that would take many
minutes raises KeyboardInterrupt there within seconds (the call is cancelled: what runs
finishes, nothing more starts), and the process computes again afterwards. The signal comes
once the call's progress bar shows tasks done, never after a fixed time."""
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time

from conftest import SCALE

CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import dusk

    dusk.configure(progress="always")  # the bar on stderr: what the test waits for
    dusk.eigvalsh(np.eye(3))  # dusk started: the signal comes during the long call only
    print("ready", flush=True)
    t0 = time.monotonic()
    try:
        # about NTASKS x 40 ms of work: many minutes on any machine this runs on
        dusk.batch_eigh(600, NTASKS, values_only=True)
        print("not interrupted", flush=True)
    except KeyboardInterrupt:
        print(f"KeyboardInterrupt after {time.monotonic() - t0:.1f} s", flush=True)
    # usable afterwards, from the main thread and from another
    rng = np.random.default_rng(1)
    b = rng.random((5, 40, 40))
    a = b.swapaxes(1, 2) @ b
    w = dusk.eigvalsh(a)
    ref = np.linalg.eigvalsh(a)
    ok = np.abs(w - ref).max() <= 1e-10 * np.abs(ref).max()
    import threading
    out = []
    th = threading.Thread(target=lambda: out.append(dusk.batch_eigh(30, 4)))
    th.start(); th.join()
    print("computes again" if ok and out[0].shape == (4, 30) else "WRONG", flush=True)
""").replace("NTASKS", str(max(100, round(20000 * SCALE))))


def wait_for_progress(p, timeout=120):
    """Reads p's stderr until its batch_eigh bar shows a task done, or more: what it read.
    Fails at once when the process ended first, or after `timeout` seconds without one."""
    err, fd, end = b"", p.stderr.fileno(), time.monotonic() + timeout
    bar = re.compile(rb"dusk\.batch_eigh.*?\| ([0-9]+)/([0-9]+) \[")
    while time.monotonic() < end:
        if any(0 < int(k) < int(n) for k, n in bar.findall(err)):
            return err.decode(errors="replace")
        if select.select([fd], [], [], 0.1)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"the child ended before its batch was seen going: {err!r}"
            err += chunk
    raise AssertionError(f"no batch_eigh task done after {timeout} s: {err!r}")


def interrupt_child(signals):
    """Run CHILD and send it `signals` SIGINTs (10 ms apart) once its batch is going: its exit
    status, stdout and stderr."""
    p = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        assert p.stdout.readline().strip() == b"ready", p.stderr.read()
        # once the batch is going (a task done, the next ones running), Ctrl-C
        first = wait_for_progress(p)
        for i in range(signals):
            if i > 0:
                time.sleep(0.01)
            p.send_signal(signal.SIGINT)
        # far less than the batch would take: a KeyboardInterrupt that waited for it fails
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, out.decode(), first + err.decode(errors="replace")


def test_ctrl_c_interrupts_a_long_call_and_leaves_dusk_usable():
    rc, out, err = interrupt_child(1)
    assert rc == 0, err
    assert "KeyboardInterrupt after" in out, out + err
    assert "computes again" in out, out + err


def test_second_ctrl_c_still_waits_for_the_call():
    """Two signals in a row: the call's memory must outlive it, so the second one does not
    make the first return early; the exception comes once the call has stopped."""
    rc, out, err = interrupt_child(2)
    assert rc == 0, err
    assert "KeyboardInterrupt after" in out and "computes again" in out, out + err
