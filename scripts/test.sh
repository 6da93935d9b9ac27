#!/usr/bin/env bash
# Runs every test of the project: the main module (unit tests, the race
# detector on the concurrent packages, .slt suites, short fuzzing of the
# parsers and readers) and the bench module's TPC-H conformance against
# DuckDB at SF 0.01 and 0.1, plus its short differential fuzzing run
# against DuckDB (TestDifferentialFuzz: 3000 queries or 150 s).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== unit tests (main module)"
go test -count=1 ./...

echo "== race detector (concurrent packages)"
go test -count=1 -race ./exec/ ./tpch/

echo "== fuzzing (short)"
FUZZTIME=${FUZZTIME:-10s}
for target in FuzzParquetScan FuzzCSVScan; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 2s ./exec/
done
go test -run '^$' -fuzz '^FuzzBind$' -fuzztime "$FUZZTIME" ./sql/

echo "== TPC-H conformance and differential fuzzing against DuckDB (bench module)"
(cd bench && go test -count=1 -timeout 40m ./...)
