"""The services' start-up line: logged once the port is bound, never
before a failure to bind."""
import json
import pathlib
import socket
import subprocess
import sys
import time

MAIN = pathlib.Path(__file__).resolve().parent.parent / "customer" / "main.py"


def start(port: int) -> subprocess.Popen:
    env = {"PORT": str(port), "LISTEN_HOST": "127.0.0.1", "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([sys.executable, str(MAIN)], env=env, stderr=subprocess.PIPE, text=True)


def test_a_port_in_use_is_an_error_not_serving():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        p = start(taken.getsockname()[1])
        _, err = p.communicate(timeout=30)
    assert p.returncode == 1, err
    msgs = [json.loads(line)["msg"] for line in err.splitlines() if line.startswith("{")]
    assert "stopped" in msgs, err
    assert not [m for m in msgs if m.startswith("serving")], err


def test_serving_line_comes_once_the_port_answers():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = start(port)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = p.stderr.readline()
            assert line, "the service exited before serving"
            if json.loads(line)["msg"].startswith("serving evented.BusinessLogic for domain customer"):
                break
        else:
            raise AssertionError("no serving line")
        assert f"(port {port})" in json.loads(line)["msg"]
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        p.terminate()
        p.wait(timeout=30)
