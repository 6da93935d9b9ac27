// Command bench compares Bellows with DuckDB on TPC-H.
//
//	go run . tpch --sf 1 [--runs 5] [--queries 1,6] [--data DIR] [--threads N]
//
// Bellows runs in-process through its embedded Go API; DuckDB runs
// in-process through database/sql over the same Parquet files.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/bench/internal/harness"
)

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "tpch":
		err = runTPCH(os.Args[2:])
	case "fuzz":
		err = runFuzz(os.Args[2:])
	case "help", "-h", "-help", "--help":
		usage(os.Stdout)
		return
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown subcommand %q\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: go run . tpch [flags]

Runs the 22 TPC-H queries on Bellows (embedded API) and DuckDB over the same
Parquet files and prints median times and ratios.

Run "go run . tpch -h" for the flags.
`)
}

type tpchConfig struct {
	sf       string
	runs     int
	queries  []int
	dataDir  string
	threads  int
	bin      string
	repo     string
	timeout  time.Duration
	regen    bool
	memLimit int64
}

func runTPCH(args []string) error {
	fs := flag.NewFlagSet("tpch", flag.ContinueOnError)
	sf := fs.String("sf", "1", "TPC-H scale factor")
	runs := fs.Int("runs", 5, "timed runs per query and engine (after one warm-up run)")
	queries := fs.String("queries", "", "queries to run, e.g. 1,6 or 1-5 (default all 22)")
	data := fs.String("data", "", "directory with <table>.parquet (default $TMPDIR/bellows-tpch-sf<SF>; generated if missing)")
	threads := fs.Int("threads", runtime.NumCPU(), "threads for both engines (Bellows Parallelism, DuckDB SET threads)")
	bin := fs.String("bellows", "", "bellows binary used to generate data (default: build ./cmd/bellows)")
	repo := fs.String("repo", "", "root of the bellows repository (default: found from the working directory)")
	timeout := fs.Duration("timeout", 10*time.Minute, "time limit of one query run")
	regen := fs.Bool("regen", false, "regenerate the data even if present")
	memLimit := fs.Int64("memory-limit", 0, "Bellows Options.MemoryLimit in bytes (0: engine default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := tpchConfig{runs: *runs, threads: *threads, bin: *bin, timeout: *timeout, regen: *regen, memLimit: *memLimit}
	var err error
	if cfg.sf, err = harness.NormalizeSF(*sf); err != nil {
		return err
	}
	if cfg.runs < 1 {
		return fmt.Errorf("--runs must be at least 1")
	}
	if cfg.threads < 1 {
		return fmt.Errorf("--threads must be at least 1")
	}
	if cfg.queries, err = harness.ParseQueryList(*queries); err != nil {
		return err
	}
	cfg.repo = *repo
	if cfg.repo == "" {
		wd, _ := os.Getwd()
		if cfg.repo, err = harness.FindRepoRoot(wd); err != nil {
			return err
		}
	}
	cfg.dataDir = *data
	if cfg.dataDir == "" {
		cfg.dataDir = harness.DefaultDataDir(cfg.sf)
	}
	return benchTPCH(cfg)
}

type measurement struct {
	median time.Duration
	rows   int64
	err    error
}

func benchTPCH(cfg tpchConfig) error {
	ctx := context.Background()

	// Data.
	var tmpBin string
	defer func() {
		if tmpBin != "" {
			os.RemoveAll(filepath.Dir(tmpBin))
		}
	}()
	getBin := func() (string, error) {
		if cfg.bin != "" {
			return cfg.bin, nil
		}
		dir, err := os.MkdirTemp("", "bellows-bench-bin-")
		if err != nil {
			return "", err
		}
		tmpBin = filepath.Join(dir, "bellows")
		fmt.Fprintf(os.Stderr, "building %s/cmd/bellows ...\n", cfg.repo)
		return tmpBin, harness.BuildBellows(ctx, cfg.repo, tmpBin)
	}
	start := time.Now()
	generated, err := harness.EnsureData(ctx, getBin, cfg.sf, harness.GeneratorKey(cfg.repo), cfg.dataDir, cfg.regen)
	if err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(os.Stderr, "generated TPC-H SF %s into %s in %.1fs\n", cfg.sf, cfg.dataDir, time.Since(start).Seconds())
	}

	texts := map[int]string{}
	for _, q := range cfg.queries {
		if texts[q], err = harness.ReadQuery(cfg.repo, q); err != nil {
			return err
		}
	}

	// Engines.
	bdb, err := bellows.Open(bellows.Options{Parallelism: cfg.threads, MemoryLimit: cfg.memLimit})
	if err != nil {
		return fmt.Errorf("bellows.Open: %w", err)
	}
	defer bdb.Close()
	for _, t := range harness.Tables {
		if err := bdb.RegisterTable(t, filepath.Join(cfg.dataDir, t+".parquet")); err != nil {
			return fmt.Errorf("bellows RegisterTable(%s): %w", t, err)
		}
	}
	ddb, err := harness.OpenDuckDB(ctx, cfg.dataDir, harness.Tables, cfg.threads)
	if err != nil {
		return err
	}
	defer ddb.Close()

	fmt.Printf("TPC-H SF %s, %d threads, median of %d timed runs after 1 warm-up; data %s\n",
		cfg.sf, cfg.threads, cfg.runs, cfg.dataDir)
	fmt.Printf("%-6s %12s %12s %8s  %s\n", "query", "bellows_s", "duckdb_s", "ratio", "note")

	var sumB, sumD time.Duration
	var logRatios float64
	ok, failed, nRatios := 0, 0, 0
	for _, q := range cfg.queries {
		name := fmt.Sprintf("q%02d", q)
		b := measure(cfg, func(ctx context.Context) (int64, error) { return runBellows(ctx, bdb.Query, texts[q]) })
		d := measure(cfg, func(ctx context.Context) (int64, error) { return runDuck(ctx, ddb, texts[q]) })
		bs, ds, rs := fmtSecs(b), fmtSecs(d), "-"
		var note string
		switch {
		case b.err != nil:
			note = "bellows ERR: " + oneLine(b.err.Error(), 200)
		case d.err != nil:
			note = "duckdb ERR: " + oneLine(d.err.Error(), 200)
		case b.rows != d.rows:
			note = fmt.Sprintf("ROW COUNT DIFFERS: bellows %d, duckdb %d", b.rows, d.rows)
		}
		if b.err != nil || d.err != nil {
			failed++
			fmt.Printf("%-6s %12s %12s %8s  %s\n", name, bs, ds, rs, note)
			continue
		}
		ratio := b.median.Seconds() / d.median.Seconds()
		fmt.Printf("%-6s %12s %12s %8.2f  %s\n", name, bs, ds, ratio, note)
		sumB += b.median
		sumD += d.median
		if ratio > 0 && !math.IsInf(ratio, 0) {
			logRatios += math.Log(ratio)
			nRatios++
		}
		ok++
	}
	fmt.Println(strings.Repeat("-", 48))
	if ok > 0 {
		fmt.Printf("%-6s %12.4f %12.4f %8.2f  (%d queries)\n", "sum", sumB.Seconds(), sumD.Seconds(), sumB.Seconds()/sumD.Seconds(), ok)
		if nRatios > 0 {
			fmt.Printf("geomean ratio bellows/duckdb: %.3f (%d queries)\n", math.Exp(logRatios/float64(nRatios)), nRatios)
		}
	}
	if failed > 0 {
		fmt.Printf("errors: %d of %d queries failed (excluded from sums)\n", failed, len(cfg.queries))
	}
	return nil
}

// measure runs f once as a warm-up and then cfg.runs times, returning the
// median duration and the row count of the last run. An error (or panic)
// stops the measurement.
func measure(cfg tpchConfig, f func(context.Context) (int64, error)) (m measurement) {
	run := func() (d time.Duration, rows int64, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
		defer cancel()
		runtime.GC()
		start := time.Now()
		rows, err = f(ctx)
		return time.Since(start), rows, err
	}
	if _, _, err := run(); err != nil {
		return measurement{err: err}
	}
	times := make([]time.Duration, 0, cfg.runs)
	for i := 0; i < cfg.runs; i++ {
		d, rows, err := run()
		if err != nil {
			return measurement{err: err}
		}
		times = append(times, d)
		m.rows = rows
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times)%2 == 1 {
		m.median = times[len(times)/2]
	} else {
		m.median = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	return m
}

// recordReader is the part of array.RecordReader the benchmark uses.
type recordReader interface {
	Next() bool
	RecordBatch() arrow.RecordBatch
	Err() error
	Release()
}

// runBellows runs each statement of script through the embedded API
// (query is the DB's Query method) and drains its result. It returns the
// row count of the last statement that returns rows. It is generic so that
// it does not depend on the name of Bellows' DB type or on Query returning
// exactly array.RecordReader.
func runBellows[R recordReader](ctx context.Context, query func(context.Context, string) (R, error), script string) (int64, error) {
	stmts := harness.SplitStatements(script)
	if len(stmts) == 0 {
		return 0, fmt.Errorf("empty query")
	}
	var rows int64
	for _, s := range stmts {
		rdr, err := query(ctx, s)
		if err != nil {
			return 0, err
		}
		if any(rdr) == nil {
			continue
		}
		var n int64
		for rdr.Next() {
			n += rdr.RecordBatch().NumRows()
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return 0, err
		}
		if harness.ReturnsRows(s) {
			rows = n
		}
	}
	return rows, nil
}

// runDuck runs script on DuckDB and drains the result rows.
func runDuck(ctx context.Context, db *sql.DB, script string) (int64, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var rows int64
	for _, s := range harness.SplitStatements(script) {
		if !harness.ReturnsRows(s) {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return 0, err
			}
			continue
		}
		r, err := conn.QueryContext(ctx, s)
		if err != nil {
			return 0, err
		}
		var n int64
		for r.Next() {
			n++
		}
		err = r.Err()
		r.Close()
		if err != nil {
			return 0, err
		}
		rows = n
	}
	return rows, nil
}

func fmtSecs(m measurement) string {
	if m.err != nil {
		return "ERR"
	}
	return fmt.Sprintf("%.4f", m.median.Seconds())
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
