package main

// TPC-H conformance: every query's result from the bellows CLI is compared,
// row by row and value by value, with DuckDB's result over the same Parquet
// files.
//
//	go test -timeout 30m ./...                              # SF 0.01 and 0.1
//	go test -short ./...                                    # SF 0.01 only
//	go test -run 'TestTPCH/sf0.01/q0[16]' .                 # some subtests
//	BELLOWS_TPCH_QUERIES=1,3,6 go test -run TestTPCH .      # some queries
//
// Environment:
//
//	BELLOWS_TPCH_QUERIES        queries to run ("1,3,6", "1-5"; default all 22)
//	BELLOWS_TPCH_SF             scale factors to run ("0.01,0.1"; default both, -short: 0.01)
//	BELLOWS_BIN                 use this bellows binary instead of building ./cmd/bellows
//	BELLOWS_TPCH_REGEN=1        regenerate the cached data ($TMPDIR/bellows-tpch-sf<SF>)
//	BELLOWS_TPCH_QUERY_TIMEOUT  time limit of one bellows CLI run (default 5m)

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bellows-db/bellows/bench/internal/harness"
)

// suite holds what the TPC-H tests share: the bellows binary, the data
// directories, DuckDB databases and DuckDB results (each query's DuckDB
// result is computed once per scale factor and reused by all variants).
type suite struct {
	mu      sync.Mutex
	tmp     string // removed by TestMain
	repo    string
	bin     string
	binErr  error
	binDone bool
	data    map[string]dataEntry
	duck    map[string]*sql.DB
	results map[string]duckEntry
}

type dataEntry struct {
	dir string
	err error
}

type duckEntry struct {
	res *harness.Result
	err error
	dur time.Duration
}

var tpch = &suite{
	data:    map[string]dataEntry{},
	duck:    map[string]*sql.DB{},
	results: map[string]duckEntry{},
}

func TestMain(m *testing.M) {
	code := m.Run()
	tpch.close()
	os.Exit(code)
}

func (s *suite) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, db := range s.duck {
		db.Close()
	}
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

func (s *suite) repoRoot(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repo == "" {
		root, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		s.repo = root
	}
	return s.repo
}

// binary builds the bellows binary once (or takes $BELLOWS_BIN).
func (s *suite) binary(t *testing.T) string {
	t.Helper()
	bin, err := s.binaryErr(t)
	if err != nil {
		t.Fatalf("bellows binary: %v", err)
	}
	return bin
}

func (s *suite) binaryErr(t *testing.T) (string, error) {
	repo := s.repoRoot(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.binDone {
		s.binDone = true
		if b := os.Getenv("BELLOWS_BIN"); b != "" {
			s.bin, s.binErr = filepath.Abs(b)
		} else {
			s.tmp, s.binErr = os.MkdirTemp("", "bellows-conformance-")
			if s.binErr == nil {
				s.bin = filepath.Join(s.tmp, "bellows")
				start := time.Now()
				if s.binErr = harness.BuildBellows(context.Background(), repo, s.bin); s.binErr == nil {
					t.Logf("built bellows in %.1fs", time.Since(start).Seconds())
				}
			}
		}
	}
	return s.bin, s.binErr
}

// dataDir returns the TPC-H data dir for sf, generating it if needed.
func (s *suite) dataDir(t *testing.T, sf string) string {
	t.Helper()
	s.mu.Lock()
	e, ok := s.data[sf]
	s.mu.Unlock()
	if !ok {
		dir := harness.DefaultDataDir(sf)
		start := time.Now()
		generated, err := harness.EnsureData(context.Background(), func() (string, error) {
			return s.binaryErr(t)
		}, sf, harness.GeneratorKey(s.repoRoot(t)), dir, os.Getenv("BELLOWS_TPCH_REGEN") == "1")
		if generated {
			t.Logf("generated TPC-H SF %s into %s in %.1fs", sf, dir, time.Since(start).Seconds())
		}
		e = dataEntry{dir: dir, err: err}
		s.mu.Lock()
		s.data[sf] = e
		s.mu.Unlock()
	}
	if e.err != nil {
		t.Fatalf("TPC-H data at SF %s: %v", sf, e.err)
	}
	return e.dir
}

// duckResult returns DuckDB's result for query q at sf (cached).
func (s *suite) duckResult(t *testing.T, sf, dir string, q int, text string) (*harness.Result, time.Duration) {
	t.Helper()
	key := fmt.Sprintf("%s/%d", sf, q)
	s.mu.Lock()
	e, ok := s.results[key]
	db := s.duck[sf]
	s.mu.Unlock()
	if !ok {
		ctx := context.Background()
		if db == nil {
			var err error
			if db, err = harness.OpenDuckDB(ctx, dir, harness.Tables, 0); err != nil {
				t.Fatalf("duckdb: %v", err)
			}
			s.mu.Lock()
			s.duck[sf] = db
			s.mu.Unlock()
		}
		start := time.Now()
		res, err := harness.RunDuckDB(ctx, db, text)
		e = duckEntry{res: res, err: err, dur: time.Since(start)}
		s.mu.Lock()
		s.results[key] = e
		s.mu.Unlock()
	}
	if e.err != nil {
		t.Fatalf("q%02d sf%s: DuckDB failed (the query text or the generated data is at fault, not the comparison): %v", q, sf, e.err)
	}
	return e.res, e.dur
}

func scaleFactors(t *testing.T) []string {
	if env := os.Getenv("BELLOWS_TPCH_SF"); env != "" {
		var out []string
		for _, f := range strings.Split(env, ",") {
			sf, err := harness.NormalizeSF(f)
			if err != nil {
				t.Fatalf("BELLOWS_TPCH_SF: %v", err)
			}
			out = append(out, sf)
		}
		return out
	}
	if testing.Short() {
		return []string{"0.01"}
	}
	return []string{"0.01", "0.1"}
}

func queryList(t *testing.T) []int {
	qs, err := harness.ParseQueryList(os.Getenv("BELLOWS_TPCH_QUERIES"))
	if err != nil {
		t.Fatalf("BELLOWS_TPCH_QUERIES: %v", err)
	}
	return qs
}

func queryTimeout(t *testing.T) time.Duration {
	d := 5 * time.Minute
	if env := os.Getenv("BELLOWS_TPCH_QUERY_TIMEOUT"); env != "" {
		var err error
		if d, err = time.ParseDuration(env); err != nil {
			t.Fatalf("BELLOWS_TPCH_QUERY_TIMEOUT: %v", err)
		}
	}
	if dl, ok := t.Deadline(); ok {
		// Fail this query rather than let the whole test binary time out.
		if left := time.Until(dl) - 15*time.Second; left < d {
			d = max(left, time.Second)
		}
	}
	return d
}

// runCLI runs `bellows sql --tables dir --format csv -f file` and parses
// its CSV output.
func runCLI(t *testing.T, bin, dir, file string) (*harness.CSVResult, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout(t))
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "sql", "--tables", dir, "--format", "csv", "-f", file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	dur := time.Since(start)
	if ctx.Err() != nil {
		return nil, dur, fmt.Errorf("bellows sql timed out after %s\nstderr:\n%s", dur.Round(time.Millisecond), clip(stderr.String()))
	}
	if err != nil {
		return nil, dur, fmt.Errorf("bellows sql failed: %v\nstderr:\n%s", err, clip(stderr.String()))
	}
	res, err := harness.ParseCSV(stdout.Bytes())
	if err != nil {
		return nil, dur, fmt.Errorf("%v\nstdout:\n%s", err, clip(stdout.String()))
	}
	return res, dur, nil
}

func clip(s string) string {
	const max = 4000
	if len(s) > max {
		return s[:max] + fmt.Sprintf("\n... (%d more bytes)", len(s)-max)
	}
	return s
}

// checkQuery runs one query file through the CLI and compares with DuckDB.
func checkQuery(t *testing.T, sf, dir string, q int, text, file, variant string) {
	t.Helper()
	want, duckDur := tpch.duckResult(t, sf, dir, q, text)
	got, dur, err := runCLI(t, tpch.binary(t), dir, file)
	label := fmt.Sprintf("q%02d sf%s%s", q, sf, variant)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	if err := harness.CompareResults(got, want); err != nil {
		t.Fatalf("%s: bellows and DuckDB results differ:\n%v", label, err)
	}
	t.Logf("%s: %d rows match; bellows CLI %.3fs (including process start), duckdb %.3fs", label, len(got.Rows), dur.Seconds(), duckDur.Seconds())
}

// checkWithSetting runs query q with `SET <setting>;` before it and
// compares with DuckDB's answer to the plain query.
func checkWithSetting(t *testing.T, repo, sf, dir string, q int, setting, label string) {
	t.Helper()
	text, err := harness.ReadQuery(repo, q)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), fmt.Sprintf("q%02d_set.sql", q))
	if err := os.WriteFile(file, []byte("SET "+setting+";\n"+text), 0o644); err != nil {
		t.Fatal(err)
	}
	checkQuery(t, sf, dir, q, text, file, label)
}

// TestTPCH runs the 22 query files as they are.
func TestTPCH(t *testing.T) {
	repo := tpch.repoRoot(t)
	qs := queryList(t)
	for _, sf := range scaleFactors(t) {
		t.Run("sf"+sf, func(t *testing.T) {
			dir := tpch.dataDir(t, sf)
			for _, q := range qs {
				t.Run(fmt.Sprintf("q%02d", q), func(t *testing.T) {
					file := harness.QueryFile(repo, q)
					text, err := os.ReadFile(file)
					if err != nil {
						t.Fatal(err)
					}
					checkQuery(t, sf, dir, q, string(text), file, "")
				})
			}
		})
	}
}

// TestTPCHParallelism runs each query with `SET parallelism = N;` first,
// for N = 1 and 4; the CLI prints only the query's result.
func TestTPCHParallelism(t *testing.T) {
	repo := tpch.repoRoot(t)
	qs := queryList(t)
	for _, sf := range scaleFactors(t) {
		t.Run("sf"+sf, func(t *testing.T) {
			dir := tpch.dataDir(t, sf)
			for _, p := range []int{1, 4} {
				t.Run(fmt.Sprintf("p%d", p), func(t *testing.T) {
					for _, q := range qs {
						t.Run(fmt.Sprintf("q%02d", q), func(t *testing.T) {
							checkWithSetting(t, repo, sf, dir, q, fmt.Sprintf("parallelism = %d", p), fmt.Sprintf(" parallelism=%d", p))
						})
					}
				})
			}
		})
	}
}

// TestTPCHMemoryLimit runs each query with `SET memory_limit = '<limit>';`
// first, where BELLOWS_TPCH_MEMORY_LIMIT gives the limit ("4GB"): the
// answers must still match DuckDB's, spilling where the operators need
// more. Skipped without the variable (the spilling tests of the main
// module force spilling at small scale in every run).
//
//	BELLOWS_TPCH_SF=10 BELLOWS_TPCH_MEMORY_LIMIT=4GB go test -timeout 3h -run TestTPCHMemoryLimit .
func TestTPCHMemoryLimit(t *testing.T) {
	limit := os.Getenv("BELLOWS_TPCH_MEMORY_LIMIT")
	if limit == "" {
		t.Skip("BELLOWS_TPCH_MEMORY_LIMIT is not set (e.g. 4GB): the memory-limited TPC-H run is opt-in")
	}
	repo := tpch.repoRoot(t)
	qs := queryList(t)
	for _, sf := range scaleFactors(t) {
		t.Run("sf"+sf, func(t *testing.T) {
			dir := tpch.dataDir(t, sf)
			for _, q := range qs {
				t.Run(fmt.Sprintf("q%02d", q), func(t *testing.T) {
					checkWithSetting(t, repo, sf, dir, q, fmt.Sprintf("memory_limit = '%s'", limit), " memory_limit="+limit)
				})
			}
		})
	}
}
