"""Server reflection answers under grpc.reflection.v1 (what current tools ask first) and
under grpc.reflection.v1alpha, listing the same services and describing the gateway."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2 as pb

EXPECTED = {
    "claims.v1.ClaimGateway",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}


def _ask(channel: grpc.Channel, package: str,
         *requests: pb.ServerReflectionRequest) -> list[pb.ServerReflectionResponse]:
    # v1 and v1alpha are the same messages with the same field numbers: only the
    # method path differs on the wire, so one message type serves both clients.
    call = channel.stream_stream(
        f"/{package}.ServerReflection/ServerReflectionInfo",
        request_serializer=pb.ServerReflectionRequest.SerializeToString,
        response_deserializer=pb.ServerReflectionResponse.FromString,
    )
    return list(call(iter(requests), timeout=10))


@pytest.mark.parametrize("package", ["grpc.reflection.v1", "grpc.reflection.v1alpha"])
def test_reflection_lists_services_and_describes_them(channel: grpc.Channel,
                                                      package: str) -> None:
    listed, gateway_file, own_file = _ask(
        channel, package,
        pb.ServerReflectionRequest(list_services=""),
        pb.ServerReflectionRequest(file_containing_symbol="claims.v1.ClaimGateway"),
        pb.ServerReflectionRequest(file_containing_symbol=f"{package}.ServerReflection"),
    )
    assert {s.name for s in listed.list_services_response.service} == EXPECTED
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in gateway_file.file_descriptor_response.file_descriptor_proto]
    methods = {m.name for f in files for s in f.service if s.name == "ClaimGateway"
               for m in s.method}
    assert {"CheckEligibility", "Settle", "CancelByRequest", "Reconcile"} <= methods
    (described,) = [descriptor_pb2.FileDescriptorProto.FromString(raw)
                    for raw in own_file.file_descriptor_response.file_descriptor_proto]
    assert described.package == package
    assert [m.input_type for m in described.service[0].method] == [
        f".{package}.ServerReflectionRequest"]
