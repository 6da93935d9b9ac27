#!/usr/bin/env bash
# Runs every test of the project: the main module (unit tests, the race
# detector on the concurrent packages, .slt suites, short fuzzing of the
# parsers and readers, the official TPC-H SF 1 answers when
# ../shared/tpch/answers/official-sf1 exists) and the bench module's TPC-H
# conformance against DuckDB at SF 0.01 and 0.1, plus its short
# differential fuzzing runs against DuckDB (TestDifferentialFuzz: 3000
# queries or 150 s; TestDifferentialFuzzDistributed: 1000 queries or 60 s
# on an in-process 3-worker cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
# Freed Arrow buffers are overwritten before the pool reuses them, so a
# missing Retain shows up as a wrong answer in every test below.
export BELLOWS_BUFFER_POISON=1

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== unit tests (main module)"
# The official SF 1 answers check (TestTPCHOfficialSF1: generates SF 1 and
# runs the 22 queries, about a minute) runs when the shared answers are
# beside the repository; otherwise it is skipped and says why.
official="../shared/tpch/answers/official-sf1"
if [ -z "${BELLOWS_TPCH_OFFICIAL:-}" ] && [ -f "$official/colprecision.txt" ]; then
  BELLOWS_TPCH_OFFICIAL="$(cd "$official" && pwd)"
  export BELLOWS_TPCH_OFFICIAL
fi
if [ -n "${BELLOWS_TPCH_OFFICIAL:-}" ]; then
  echo "official TPC-H SF 1 answers: $BELLOWS_TPCH_OFFICIAL"
else
  echo "official TPC-H SF 1 answers not found at $official: TestTPCHOfficialSF1 is skipped"
fi
go test -count=1 ./...

echo "== race detector (concurrent packages)"
go test -count=1 -timeout 30m -race ./exec/ ./tpch/ ./server/
# The distributed runtime (worker, coordinator) under the race detector:
# in-process tasks, Flight over loopback, the embedded cluster, growing and
# shrinking running stages, lost and joining workers, bounded exchanges,
# split aggregates.
go test -count=1 -timeout 30m -race -run 'TestDistributed|TestEmbeddedCluster|TestAddTasks|TestSetParallelism|TestLostWorkerTasksRerun$|TestWorkerJoins|TestEarlyFinishing|TestSplitAggregates|TestExplainAnalyzeDistributed|TestElasticStage|TestLostWorkerTasksRerunThroughKeptOutputs' .
go test -count=1 -timeout 10m -race ./cluster/ ./coordinator/...

echo "== fuzzing (short)"
# Budgets are execution counts, not durations: go1.26's fuzz coordinator
# can fail a duration-bounded run with a spurious "context deadline
# exceeded" at the deadline (golang/go#75804, fixed in go1.27). Each count
# is about ten seconds of fuzzing on a 2-core machine; FUZZSCALE multiplies
# them for a longer run.
FUZZSCALE=${FUZZSCALE:-1}
fuzz() { # target package executions
  go test -run '^$' -fuzz "^$1\$" -fuzztime "$(( $3 * FUZZSCALE ))x" -fuzzminimizetime 200x "$2"
}
fuzz FuzzParquetScan ./exec/ 600
fuzz FuzzCSVScan ./exec/ 6000
fuzz FuzzBind ./sql/ 30000
fuzz FuzzUnmarshal ./planner/planpb/ 20000
fuzz FuzzApply ./coordinator/fsm/ 20000

echo "== TPC-H conformance and differential fuzzing against DuckDB (bench module)"
(cd bench && go test -count=1 -timeout 40m ./...)
