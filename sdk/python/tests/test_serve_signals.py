"""serve stops on SIGTERM whatever the process is doing when it comes.

A Python signal handler runs in the main thread between any two steps of
whatever it was doing, with that code's locks held, and only once the main
thread runs Python again, whichever thread the kernel gave the signal to."""
import pathlib
import subprocess
import sys
import textwrap

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"
TESTS = pathlib.Path(__file__).resolve().parent

CHILD = textwrap.dedent("""
    import io, logging, os, signal, sys, threading
    sys.path[:0] = sys.argv[1:3]
    import counter, evented

    class Raw(io.RawIOBase):
        armed = False
        def writable(self):
            return True
        def write(self, b):
            if Raw.armed:
                Raw.armed = False
                signal.raise_signal(signal.SIGTERM)
            return os.write(2, b)

    sys.stderr = io.TextIOWrapper(io.BufferedWriter(Raw()), line_buffering=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    def serving(port):
        if sys.argv[3] == "in-a-log-write":
            Raw.armed = True
        else:  # later, while the main thread waits, which blocks SIGTERM
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
        logging.getLogger("child").info("listening on port %d", port)

    evented.serve("127.0.0.1:0", counter.new(), grace=0.5, on_serving=serving)
    print("stopped", flush=True)
""")


@pytest.mark.parametrize("where", [
    # The child's standard error is a buffered stream whose raw writer, on
    # the line that says the server listens, raises SIGTERM: the handler
    # runs there, with the buffer's lock held, as a signal coming in the
    # middle of the write does. A handler that logged raised RuntimeError
    # ("reentrant call"), which the logging module swallowed with the line
    # it was writing, and the server never stopped.
    "in-a-log-write",
    # The kernel gives the signal to one of gRPC's threads (the main one
    # blocks it) while the main thread waits: it must be woken, not wait
    # for Python code of its own to run the handler, which a handler that
    # wrote to a pipe of its own did.
    "to-another-thread",
])
def test_sigterm_stops_the_server(where):
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(SRC), str(TESTS), where],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"SIGTERM did not stop the server; its stderr: {err[-3000:]}") from None
    assert p.returncode == 0, err
    assert out == "stopped\n", out
    assert "INFO:child:listening on port" in err, err
    assert "INFO:evented:signal 15: stopping" in err.splitlines(), err
    assert "Logging error" not in err, err
