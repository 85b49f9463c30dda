// Exercises the generated TypeScript client (clients/typescript/gen, from `bash
// clients/generate.sh`) against a running `jiceng up` over gRPC-Web (binary), as a browser or a
// Node service would call it: creates a street under ROOT, reads it back, lists ROOT's children
// one per page, and checks that a request with an empty name is INVALID_ARGUMENT with a
// google.rpc.BadRequest naming `name` in its details.
//
//     npx tsx test_client.ts ENDPOINT TOKEN ROOT_UNIT_ID     (ENDPOINT like http://127.0.0.1:50051)
import { randomUUID } from "node:crypto";
import { GrpcWebFetchTransport } from "@protobuf-ts/grpcweb-transport";
import { RpcError } from "@protobuf-ts/runtime-rpc";
import { OrgServiceClient } from "./gen/jiceng/org/v1/org.client";
import { UnitKind, UnitStatus, type Unit } from "./gen/jiceng/org/v1/org";
import { Status } from "./gen/google/rpc/status";
import { BadRequest } from "./gen/google/rpc/error_details";
import { Any } from "./gen/google/protobuf/any";

function fail(message: string): never {
  console.error(`typescript client test FAILED: ${message}`);
  process.exit(1);
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

function describe(err: unknown): string {
  if (!(err instanceof RpcError)) return String(err);
  // grpc-message arrives percent-encoded, as the gRPC protocol sends it.
  let message = err.message;
  try {
    message = decodeURIComponent(message);
  } catch {
    // not percent-encoded after all
  }
  return `${err.code}: ${message}`;
}

async function main(): Promise<void> {
  if (process.argv.length !== 5) fail("usage: test_client.ts ENDPOINT TOKEN ROOT_UNIT_ID");
  const [endpoint, token, root] = process.argv.slice(2);
  const transport = new GrpcWebFetchTransport({
    baseUrl: endpoint,
    format: "binary",
    meta: { authorization: `Bearer ${token}` },
    timeout: 10_000,
  });
  const org = new OrgServiceClient(transport);

  const name = `typescript-client street ${randomUUID().slice(0, 12)}`;
  let created: Unit;
  let read: Unit;
  try {
    ({ response: created } = await org.createUnit({
      parentId: root,
      kind: UnitKind.STREET_WORKING_COMMITTEE,
      name,
      code: "",
      requestId: "",
    }));
    ({ response: read } = await org.getUnit({ id: created.id }));
  } catch (err) {
    fail(`create/get: ${describe(err)}`);
  }
  check(created.id, "createUnit returned no id");
  check(created.name === name, `createUnit name ${created.name}, sent ${name}`);
  check(created.parentId === root, `createUnit parent ${created.parentId}, want ${root}`);
  check(
    created.kind === UnitKind.STREET_WORKING_COMMITTEE,
    `createUnit kind ${UnitKind[created.kind]}`,
  );
  check(created.status === UnitStatus.ACTIVE, "the new unit is not ACTIVE");
  check(created.createTime, "the new unit has no createTime");
  check(
    JSON.stringify(read) === JSON.stringify(created),
    `getUnit differs from createUnit: ${JSON.stringify(read)} vs ${JSON.stringify(created)}`,
  );

  const seen: string[] = [];
  let pages = 0;
  let pageToken = "";
  for (;;) {
    let units: Unit[];
    let next: string;
    try {
      ({
        response: { units, nextPageToken: next },
      } = await org.listChildren({ parentId: root, includeDissolved: false, pageSize: 1, pageToken }));
    } catch (err) {
      fail(`listChildren page ${pages + 1}: ${describe(err)}`);
    }
    pages += 1;
    check(units.length <= 1, `page ${pages} has ${units.length} units, asked for 1`);
    seen.push(...units.map((u) => u.id));
    pageToken = next;
    if (!pageToken) break;
    check(pages < 10_000, "listChildren does not end");
  }
  const times = seen.filter((id) => id === created.id).length;
  check(times === 1, `the new street appears ${times} times in ${pages} pages of children`);
  check(new Set(seen).size === seen.length, "a child appears on more than one page");

  let rejected: RpcError | undefined;
  try {
    await org.createUnit({
      parentId: root,
      kind: UnitKind.STREET_WORKING_COMMITTEE,
      name: "",
      code: "",
      requestId: "",
    });
  } catch (err) {
    if (!(err instanceof RpcError)) fail(`empty name: not an RpcError: ${String(err)}`);
    rejected = err;
  }
  check(rejected, "createUnit with an empty name succeeded");
  check(
    rejected.code === "INVALID_ARGUMENT",
    `empty name: ${describe(rejected)}, want INVALID_ARGUMENT`,
  );
  // gRPC-Web carries the trailers, grpc-status-details-bin among them (base64), in the body.
  const raw = rejected.meta["grpc-status-details-bin"];
  check(typeof raw === "string", "empty name: no grpc-status-details-bin trailer");
  const status = Status.fromBinary(Buffer.from(raw, "base64"));
  check(status.code === 3, `empty name: status code ${status.code}`);
  const fields = status.details
    .filter((d) => Any.contains(d, BadRequest))
    .flatMap((d) => Any.unpack(d, BadRequest).fieldViolations.map((v) => v.field));
  check(fields.includes("name"), `empty name: BadRequest names [${fields}], not \`name\``);

  console.log(
    `typescript client ok: gRPC-Web (binary), generated client: created and read ${created.id}, ` +
      `${seen.length} children of the root in ${pages} pages of 1, empty name INVALID_ARGUMENT ` +
      "with BadRequest on `name`",
  );
}

main().catch((err) => fail(describe(err)));
