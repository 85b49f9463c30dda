#!/usr/bin/env python3
"""Exercises the generated Python client (clients/python/gen, from `bash clients/generate.sh`)
against a running `jiceng up` over native gRPC: only the generated stubs and messages, no
reflection. Creates a street under ROOT, reads it back, lists ROOT's children one per page, and
checks that a request with an empty name is INVALID_ARGUMENT with a google.rpc.BadRequest in
its details.

    python3 clients/python/test_client.py ENDPOINT TOKEN ROOT_UNIT_ID
"""

import os
import sys
import uuid

# The generated tree uses absolute imports (`from jiceng.org.v1 import org_pb2`); its `google`
# directory has no __init__.py, so it joins google.protobuf's namespace package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from jiceng.org.v1 import org_pb2, org_pb2_grpc  # noqa: E402


def fail(message):
    print(f"python client test FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def main():
    if len(sys.argv) != 4:
        fail("usage: test_client.py ENDPOINT TOKEN ROOT_UNIT_ID")
    endpoint, token, root = sys.argv[1:4]
    metadata = [("authorization", f"Bearer {token}")]
    with grpc.insecure_channel(endpoint) as channel:
        org = org_pb2_grpc.OrgServiceStub(channel)

        name = f"python-client street {uuid.uuid4().hex[:12]}"
        try:
            created = org.CreateUnit(
                org_pb2.CreateUnitRequest(
                    parent_id=root,
                    kind=org_pb2.UNIT_KIND_STREET_WORKING_COMMITTEE,
                    name=name,
                ),
                metadata=metadata,
                timeout=10,
            )
            read = org.GetUnit(org_pb2.GetUnitRequest(id=created.id), metadata=metadata, timeout=10)
        except grpc.RpcError as err:
            fail(f"create/get: {err.code().name}: {err.details()}")
        check(created.id, "CreateUnit returned no id")
        check(created.name == name, f"CreateUnit name {created.name!r}, sent {name!r}")
        check(created.parent_id == root, f"CreateUnit parent {created.parent_id!r}, want {root!r}")
        check(
            created.kind == org_pb2.UNIT_KIND_STREET_WORKING_COMMITTEE,
            f"CreateUnit kind {org_pb2.UnitKind.Name(created.kind)}",
        )
        check(created.status == org_pb2.UNIT_STATUS_ACTIVE, "the new unit is not ACTIVE")
        check(created.HasField("create_time"), "the new unit has no create_time")
        check(read == created, f"GetUnit differs from CreateUnit:\n{read}\nvs\n{created}")

        pages, seen, token_ = 0, [], ""
        while True:
            try:
                page = org.ListChildren(
                    org_pb2.ListChildrenRequest(parent_id=root, page_size=1, page_token=token_),
                    metadata=metadata,
                    timeout=10,
                )
            except grpc.RpcError as err:
                fail(f"ListChildren page {pages + 1}: {err.code().name}: {err.details()}")
            pages += 1
            check(len(page.units) <= 1, f"page {pages} has {len(page.units)} units, asked for 1")
            seen.extend(unit.id for unit in page.units)
            token_ = page.next_page_token
            if not token_:
                break
            check(pages < 10_000, "ListChildren does not end")
        check(
            seen.count(created.id) == 1,
            f"the new street appears {seen.count(created.id)} times in {pages} pages of children",
        )
        check(len(seen) == len(set(seen)), "a child appears on more than one page")

        try:
            org.CreateUnit(
                org_pb2.CreateUnitRequest(
                    parent_id=root, kind=org_pb2.UNIT_KIND_STREET_WORKING_COMMITTEE, name=""
                ),
                metadata=metadata,
                timeout=10,
            )
            fail("CreateUnit with an empty name succeeded")
        except grpc.RpcError as err:
            check(
                err.code() == grpc.StatusCode.INVALID_ARGUMENT,
                f"empty name: {err.code().name} ({err.details()}), want INVALID_ARGUMENT",
            )
            raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
            check(raw is not None, "empty name: no grpc-status-details-bin trailer")
            status = status_pb2.Status.FromString(raw)
            check(status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0], f"status {status}")
            bad = [
                error_details_pb2.BadRequest.FromString(d.value)
                for d in status.details
                if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)
            ]
            check(bad, f"empty name: no google.rpc.BadRequest in {status}")
            fields = [v.field for b in bad for v in b.field_violations]
            check("name" in fields, f"empty name: BadRequest names {fields}, not `name`")

    print(
        f"python client ok: native gRPC, generated stubs: created and read {created.id}, "
        f"{len(seen)} children of the root in {pages} pages of 1, empty name INVALID_ARGUMENT "
        f"with BadRequest on `name`"
    )


if __name__ == "__main__":
    main()
