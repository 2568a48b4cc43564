"""Running an example service: the address from the environment, logs as
JSON on standard error, stop on SIGTERM."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys

import evented


class JSONFormatter(logging.Formatter):
    """One JSON object per line, like the Go examples' slog handler."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
            "level": record.levelname.replace("WARNING", "WARN"),
            "msg": record.getMessage(),
            "service": self.service,
        }
        if record.exc_info:
            line["err"] = self.formatException(record.exc_info)
        return json.dumps(line)


def address(default_port: int) -> str:
    """LISTEN_HOST:PORT from the environment; an empty or unset LISTEN_HOST
    means every interface, PORT defaults to default_port."""
    host = os.environ.get("LISTEN_HOST", "")
    port = os.environ.get("PORT") or str(default_port)
    if not host:
        return f"[::]:{port}"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"{host}:{port}"


def run(name: str, default_port: int, what: str, *services: evented.Aggregate | evented.Projector | evented.Saga | evented.Upcaster) -> None:
    """Serves services until SIGTERM or SIGINT."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter(name))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    addr = address(default_port)
    log = logging.getLogger(name)
    try:
        # Logged once bound: a port in use is an error, never "serving".
        evented.serve(addr, *services, on_serving=lambda port: log.info("serving %s on %s (port %d)", what, addr, port))
    except Exception:
        logging.getLogger(name).exception("stopped")
        sys.exit(1)
