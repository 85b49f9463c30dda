#!/usr/bin/env bash
# Generates the clients from the protos, each with its ecosystem's own generator, into
# gitignored directories:
#   clients/python/gen/      grpc_tools' protoc: *_pb2.py, *_pb2.pyi, *_pb2_grpc.py (grpcio)
#   clients/typescript/gen/  protobuf-ts: messages and *.client.ts (any RpcTransport: gRPC-Web,
#                            gRPC, Twirp)
# Needs `pip install grpcio-tools==1.85.4` (its bundled protoc is the only protoc used) and npm.
#
#     bash clients/generate.sh
set -euo pipefail
cd "$(dirname "$0")/.."

protoc=(python3 -m grpc_tools.protoc)
# google/protobuf/*.proto as grpc_tools ships them.
wkt=$(python3 -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
# Every contract, and the vendored google/api and google/rpc ones they import or that carry the
# error details (google.rpc.Status, BadRequest, ...).
mapfile -t protos < <(cd proto && find jiceng io google -name '*.proto' | sort)

python_out=clients/python/gen
rm -rf "$python_out"
mkdir -p "$python_out"
"${protoc[@]}" -I proto -I "$wkt" \
  --python_out="$python_out" --pyi_out="$python_out" --grpc_python_out="$python_out" \
  "${protos[@]}"
echo "python: $(find "$python_out" -name '*_pb2.py' | wc -l) modules in $python_out"

ts_dir=clients/typescript
ts_out=$ts_dir/gen
(cd "$ts_dir" && npm ci --silent --no-audit --no-fund)
rm -rf "$ts_out"
mkdir -p "$ts_out"
# generate_dependencies: google/protobuf/timestamp.ts and the other imports come along.
# long_type_string: int64 as string, as the proto3 JSON mapping has it.
"${protoc[@]}" -I proto -I "$wkt" \
  --plugin=protoc-gen-ts="$ts_dir/node_modules/.bin/protoc-gen-ts" \
  --ts_out="$ts_out" --ts_opt=long_type_string,generate_dependencies \
  "${protos[@]}"
echo "typescript: $(find "$ts_out" -name '*.ts' | wc -l) files in $ts_out"
