"""Server reflection under both names tools ask for: ``grpc.reflection.v1`` (current
tools try it first) and ``grpc.reflection.v1alpha``.

grpcio-reflection implements only v1alpha. The v1 protocol is the same messages
with the same field numbers in another proto package, so the v1 service is the
v1alpha servicer registered under the v1 method path; its descriptor (the v1alpha
file with the package renamed) goes into the default pool, so reflection can
describe itself under either name.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
V1_FILE_NAME = "grpc/reflection/v1/reflection.proto"


def _rename(type_name: str) -> str:
    old = f".{v1alpha_pb2.DESCRIPTOR.package}."
    return f".{V1_PACKAGE}." + type_name[len(old):] if type_name.startswith(old) else type_name


def _rename_message(message: descriptor_pb2.DescriptorProto) -> None:
    for field in message.field:
        if field.type_name:
            field.type_name = _rename(field.type_name)
    for nested in message.nested_type:
        _rename_message(nested)


def v1_file_descriptor() -> FileDescriptor:
    """``grpc/reflection/v1/reflection.proto`` in the default pool (added once)."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(V1_FILE_NAME)
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    v1alpha_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = V1_FILE_NAME, V1_PACKAGE
    proto.ClearField("options")
    for message in proto.message_type:
        _rename_message(message)
    for service in proto.service:
        for method in service.method:
            method.input_type = _rename(method.input_type)
            method.output_type = _rename(method.output_type)
    pool.Add(proto)
    return pool.FindFileByName(V1_FILE_NAME)


def enable_server_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Serve reflection v1 and v1alpha on ``server``, listing ``service_names`` and both
    reflection services."""
    v1_file_descriptor()
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    servicer = reflection.aio.ReflectionServicer(names)  # type: ignore[attr-defined]
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME,
                                              {"ServerReflectionInfo": handler}),)
    )
