#!/usr/bin/env python3
"""Calls a running `jiceng up` as a generic gRPC client would: no generated code, only what
server reflection tells. Checks health, creates a street under the district root with the dev
token, reads it back, reads the demo members' points leaderboard for the whole district, and
checks that a call without a token is refused.

    python3 scripts/smoke.py ENDPOINT TOKEN ROOT_UNIT_ID
"""

import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

SERVICE = "jiceng.org.v1.OrgService"
POINTS = "jiceng.member.v1.PointsService"


def call(channel, pool, method, request_json, token=None, service_name=SERVICE):
    service = pool.FindServiceByName(service_name)
    descriptor = service.FindMethodByName(method)
    request_class = message_factory.GetMessageClass(descriptor.input_type)
    response_class = message_factory.GetMessageClass(descriptor.output_type)
    stub = channel.unary_unary(
        f"/{service_name}/{method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    metadata = [("authorization", f"Bearer {token}")] if token else []
    request = json_format.ParseDict(request_json, request_class())
    return stub(request, metadata=metadata, timeout=10)


def main():
    endpoint, token, root = sys.argv[1:4]
    channel = grpc.insecure_channel(endpoint)
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10).status
    assert status == health_pb2.HealthCheckResponse.SERVING, status

    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    created = call(
        channel,
        pool,
        "CreateUnit",
        {"parentId": root, "kind": "UNIT_KIND_STREET_WORKING_COMMITTEE", "name": "塘桥街道党工委"},
        token,
    )
    read = call(channel, pool, "GetUnit", {"id": created.id}, token)
    assert read.name == "塘桥街道党工委" and read.parent_id == root, read

    board = call(channel, pool, "GetLeaderboard", {"orgId": root}, token, POINTS)
    assert len(board.top) == 6 and board.top[0].rank == 1, board

    try:
        call(channel, pool, "GetUnit", {"id": created.id})
        raise AssertionError("a call without a token was served")
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err.code()
    print(f"smoke test ok: health, reflection, create and read {created.id}, "
          f"leaderboard of {len(board.top)} demo members, no token refused")


if __name__ == "__main__":
    main()
