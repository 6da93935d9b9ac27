#!/usr/bin/env bash
# Regenerates the Go code of the project's .proto files. Needs protoc
# (Debian: protobuf-compiler) and protoc-gen-go at the module's protobuf
# version; the generated files are committed, so builds do not need them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"
command -v protoc-gen-go >/dev/null || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
protoc --go_out=. --go_opt=module=github.com/bellows-db/bellows planner/planpb/plan.proto
protoc --go_out=. --go_opt=module=github.com/bellows-db/bellows worker/workerpb/worker.proto
