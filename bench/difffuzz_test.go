package main

import (
	"context"
	"flag"
	"math"
	"math/big"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Differential fuzzing against DuckDB (see difffuzz.go for the rules).
//
//	go test -run TestDifferentialFuzz -v .                        # the short CI run
//	go test -run TestDifferentialFuzz -v -timeout 40m . -difffuzz.duration=30m -difffuzz.n=0 -difffuzz.seed=0
//	BELLOWS_DIFFFUZZ_DURATION=30m BELLOWS_DIFFFUZZ_SEED=random go test -run TestDifferentialFuzz -timeout 40m .
//
// The short run uses a fixed seed, so CI is reproducible; seed 0 (or
// "random" in the environment) picks a random seed, printed.
var (
	fuzzN        = flag.Int("difffuzz.n", 3000, "differential fuzz: number of queries (0: no limit)")
	fuzzDuration = flag.Duration("difffuzz.duration", 150*time.Second, "differential fuzz: time budget")
	fuzzSeed     = flag.Int64("difffuzz.seed", 1, "differential fuzz: base seed (0: random)")
)

func TestDifferentialFuzz(t *testing.T) {
	diffFuzz(t, fuzzConfig{N: *fuzzN, Duration: *fuzzDuration, Seed: *fuzzSeed, Log: testLog{t}})
}

// TestDifferentialFuzzDistributed runs the generated queries on an
// in-process cluster of 3 workers (plans cut into stages of up to 3
// tasks: split aggregates, partitioned and broadcast joins, bounded
// exchanges) against single-node DuckDB: 1000 queries or 60 s, seed 2.
func TestDifferentialFuzzDistributed(t *testing.T) {
	diffFuzz(t, fuzzConfig{N: 1000, Duration: 60 * time.Second, Seed: 2, Log: testLog{t}, Workers: 3})
}

// diffFuzz runs one differential fuzzing session (the environment can
// override its length and seed) and fails on any mismatch.
func diffFuzz(t *testing.T, cfg fuzzConfig) {
	if s := os.Getenv("BELLOWS_DIFFFUZZ_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("BELLOWS_DIFFFUZZ_DURATION: %v", err)
		}
		cfg.Duration, cfg.N = d, 0
	}
	if s := os.Getenv("BELLOWS_DIFFFUZZ_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("BELLOWS_DIFFFUZZ_N: %v", err)
		}
		cfg.N = n
	}
	if s := os.Getenv("BELLOWS_DIFFFUZZ_SEED"); s != "" {
		if s == "random" {
			cfg.Seed = 0
		} else {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("BELLOWS_DIFFFUZZ_SEED: %v", err)
			}
			cfg.Seed = n
		}
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1 + rand.Int63n(1<<40)
	}
	if testing.Short() && cfg.N > 500 {
		cfg.N = 500
	}
	t.Logf("seed %d (reproduce with -difffuzz.seed=%d or BELLOWS_DIFFFUZZ_SEED=%d)", cfg.Seed, cfg.Seed, cfg.Seed)
	st, err := fuzzRun(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Queries < 100 {
		t.Errorf("only %d queries ran", st.Queries)
	}
	for i, m := range st.Mismatches {
		t.Errorf("mismatch %d (query seed %d):\n  shrunk: %s\n  original: %s\n  %s", i+1, m.QuerySeed, m.Shrunk, m.Original, m.Detail)
	}
	// Most generated queries must be valid: a generator that only makes
	// queries both engines reject tests nothing.
	if st.BothOK < st.Queries/2 {
		t.Errorf("only %d of %d queries ran on both engines (both failed: %d)", st.BothOK, st.Queries, st.BothErr)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestCompareRows checks the result comparison the fuzzer relies on.
func TestCompareRows(t *testing.T) {
	i := func(v int64) fval { return fval{kind: 'i', i: v} }
	f := func(v float64) fval { return fval{kind: 'f', f: v} }
	s := func(v string) fval { return fval{kind: 's', s: v} }
	null := fval{kind: 'n'}
	cases := []struct {
		name      string
		got, want frows
		ordered   bool
		same      bool
	}{
		{"equal", frows{{i(1), s("a")}}, frows{{i(1), s("a")}}, true, true},
		{"NULL is not ''", frows{{null}}, frows{{s("")}}, false, false},
		{"float tolerance", frows{{f(1.0000000001)}}, frows{{f(1)}}, true, true},
		{"float differs", frows{{f(1.5)}}, frows{{f(1)}}, true, false},
		{"exact ints differ", frows{{i(1 << 60)}}, frows{{i(1<<60 + 1)}}, true, false},
		{"exact vs decimal", frows{{i(2)}}, frows{{duckValue(duckdb.Decimal{Value: big.NewInt(200), Scale: 2}, "DECIMAL(3,2)")}}, true, true},
		{"order ignored", frows{{i(1)}, {i(2)}}, frows{{i(2)}, {i(1)}}, false, true},
		{"order kept", frows{{i(1)}, {i(2)}}, frows{{i(2)}, {i(1)}}, true, false},
		{"multiset counts", frows{{i(1)}, {i(1)}}, frows{{i(1)}, {i(2)}}, false, false},
		{"row count", frows{{i(1)}}, frows{}, false, false},
		{"NaN sorts last", frows{{f(math.NaN())}, {f(math.Inf(-1))}, {f(-1e10)}, {f(1)}, {null}}, frows{{f(-1e10)}, {null}, {f(1)}, {f(math.Inf(-1))}, {f(math.NaN())}}, false, true},
		{"near-equal sort", frows{{f(1.00000001), s("b")}, {f(1), s("a")}}, frows{{f(1), s("b")}, {f(1.00000001), s("a")}}, false, true},
	}
	for _, c := range cases {
		d := compareRows(c.got, c.want, c.ordered)
		if (d == "") != c.same {
			t.Errorf("%s: compareRows = %q, want same=%v", c.name, d, c.same)
		}
	}
}

// TestErrorKey checks that shrinking keeps to one error message.
func TestErrorKey(t *testing.T) {
	a := errorKey(outBErr, "bellows error: CASE types date and text cannot be matched (at line 1, column 82)")
	b := errorKey(outBErr, "bellows error: CASE types date and text cannot be matched (at line 1, column 19)\nmore")
	c := errorKey(outBErr, "bellows error: CASE types bigint and boolean cannot be matched (at line 1, column 8)")
	if a != b || a == c || a == "" {
		t.Errorf("errorKey: %q %q %q", a, b, c)
	}
	if errorKey(outDiff, "row 1 differs") != "" {
		t.Error("errorKey of a result difference is not empty")
	}
}
