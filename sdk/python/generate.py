#!/usr/bin/env python3
"""Regenerate the checked-in Python stubs from proto/ (one command).

    python sdk/python/generate.py          # or: just proto-python

needs grpcio-tools (pip install -r examples/python/requirements.txt). It
writes

  - the SDK's stubs, proto/evented/evented.proto ->
    sdk/python/src/evented/evented_pb2.py, .pyi, evented_pb2_grpc.py
    (module evented.evented_pb2, the package's own namespace);
  - the example domain's messages, proto/examples/domains.proto ->
    examples/python/shop/pb/examples/domains_pb2.py, .pyi
    (module shop.pb.examples.domains_pb2).

CI runs it and fails when the result differs from what is checked in. The
generated code records the grpcio-tools version that made it, so regenerate
with the pinned one (examples/python/requirements.txt).
"""
from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"

# (proto files, output directory, generate gRPC services)
TARGETS = [
    (["evented/evented.proto"], ROOT / "sdk" / "python" / "src", True),
    (["examples/domains.proto"], ROOT / "examples" / "python" / "shop" / "pb", False),
]


def main() -> int:
    try:
        from grpc_tools import protoc
    except ImportError:
        print("generate.py needs grpcio-tools: pip install -r examples/python/requirements.txt", file=sys.stderr)
        return 1
    import grpc_tools

    # The well-known types (any.proto, timestamp.proto, ...) ship with grpcio-tools.
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    for files, out, services in TARGETS:
        out.mkdir(parents=True, exist_ok=True)
        args = ["grpc_tools.protoc", f"-I{PROTO}", f"-I{well_known}", f"--python_out={out}", f"--pyi_out={out}"]
        if services:
            args.append(f"--grpc_python_out={out}")
        args += [str(PROTO / f) for f in files]
        if protoc.main(args) != 0:
            print(f"protoc failed for {files}", file=sys.stderr)
            return 1
        for f in files:
            # Each proto directory is a Python package: make it a regular one.
            init = out / pathlib.Path(f).parent / "__init__.py"
            if not init.exists():
                init.write_text('"""Generated from proto/ by sdk/python/generate.py; do not edit."""\n')
            print(f"{f} -> {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
