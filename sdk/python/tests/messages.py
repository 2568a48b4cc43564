"""Message types for the SDK's tests, built from a descriptor (no protoc):
package sdktest, a counter domain."""
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(name="sdktest/counter.proto", package="sdktest", syntax="proto3")
    for name, fields in {
        "Create": [("name", _F.TYPE_STRING)],
        "Created": [("name", _F.TYPE_STRING)],
        "Add": [("points", _F.TYPE_INT32)],
        "Added": [("points", _F.TYPE_INT32), ("balance", _F.TYPE_INT32)],
        "Reset": [],
        "State": [("name", _F.TYPE_STRING), ("points", _F.TYPE_INT32)],
        "Total": [("points", _F.TYPE_INT32), ("events", _F.TYPE_INT32)],
    }.items():
        m = f.message_type.add(name=name)
        for i, (field, typ) in enumerate(fields, start=1):
            m.field.add(name=field, number=i, type=typ, label=_F.LABEL_OPTIONAL)
    return f


_pool = descriptor_pool.Default()
_pool.Add(_file())


def _cls(name: str):
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName("sdktest." + name))


Create = _cls("Create")
Created = _cls("Created")
Add = _cls("Add")
Added = _cls("Added")
Reset = _cls("Reset")
State = _cls("State")
Total = _cls("Total")
