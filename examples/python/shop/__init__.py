"""What the Python example services share: the example domain's messages
(protobuf package ``examples``, generated from proto/examples/domains.proto by
sdk/python/generate.py) and a few helpers.

    from shop import domains_pb2 as pb
"""
from .pb.examples import domains_pb2

__all__ = ["domains_pb2"]
