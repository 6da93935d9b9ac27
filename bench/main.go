// Command bench compares Bellows with DuckDB on TPC-H.
//
//	go run . tpch --sf 1 [--runs 5] [--queries 1,6] [--data DIR] [--threads N]
//	              [--json FILE] [--png FILE]
//
// Bellows runs in-process through its embedded Go API; DuckDB runs
// in-process through database/sql over the same Parquet files. The medians
// are printed as a table, and every run time goes to a JSON file (with the
// machine and versions) and a bar chart PNG, by default
// results/tpch-sf<SF>.json and .png.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/bench/internal/harness"
)

func main() {
	// The engine's process setting for analytics (GOGC=400 unless GOGC is
	// set); DuckDB's memory is outside the Go heap either way.
	bellows.TuneGC()
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
	case "cluster":
		err = runCluster(os.Args[2:])
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
Parquet files, prints median times and ratios, and writes them with every
run time to results/tpch-sf<SF>.json and a bar chart to results/tpch-sf<SF>.png.

Run "go run . tpch -h" for the flags.

       go run . cluster [--sf 1] [--workers 1,2,4] [--runs 3]

Times the 22 queries through Flight SQL on "bellows serve" and on a
coordinator with N worker processes, and prints the overhead ratios.
`)
}

// outPath is the output file for a --json/--png flag value: def when the
// flag is empty, "" (no file) for "none".
func outPath(flagValue, def string) string {
	switch flagValue {
	case "":
		return def
	case "none":
		return ""
	}
	return flagValue
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
	jsonOut  string // "" = no JSON file
	pngOut   string // "" = no chart
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
	jsonOut := fs.String("json", "", `write the results as JSON to this file (default results/tpch-sf<SF>.json; "none" to skip)`)
	pngOut := fs.String("png", "", `write a bar chart (PNG) to this file (default results/tpch-sf<SF>.png; "none" to skip)`)
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
	cfg.jsonOut = outPath(*jsonOut, "results/tpch-sf"+cfg.sf+".json")
	cfg.pngOut = outPath(*pngOut, "results/tpch-sf"+cfg.sf+".png")
	cfg.dataDir = *data
	if cfg.dataDir == "" {
		cfg.dataDir = harness.DefaultDataDir(cfg.sf)
	}
	return benchTPCH(cfg)
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
	// Rows are only counted, so the recycling pool is safe (see
	// bellows.PooledAllocator).
	bdb, err := bellows.Open(bellows.Options{Parallelism: cfg.threads, MemoryLimit: cfg.memLimit, Allocator: bellows.PooledAllocator()})
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
	var duckVersion string
	if err := ddb.QueryRowContext(ctx, "SELECT version()").Scan(&duckVersion); err != nil {
		duckVersion = "unknown"
	}

	report := &Report{
		Machine:     probeMachine(ctx, cfg.repo, duckVersion, time.Now()),
		ScaleFactor: cfg.sf,
		Threads:     cfg.threads,
		Runs:        cfg.runs,
		WarmupRuns:  1,
		DataDir:     cfg.dataDir,
	}
	fmt.Printf("TPC-H SF %s, %d threads, median of %d timed runs after 1 warm-up; data %s\n",
		cfg.sf, cfg.threads, cfg.runs, cfg.dataDir)
	writeTableHeader(os.Stdout)
	start = time.Now()
	for _, q := range cfg.queries {
		name := fmt.Sprintf("q%02d", q)
		b := measure(cfg, func(ctx context.Context) (int64, error) { return runBellows(ctx, bdb.Query, texts[q]) })
		d := measure(cfg, func(ctx context.Context) (int64, error) { return runDuck(ctx, ddb, texts[q]) })
		res := newQueryResult(name, b, d)
		writeTableRow(os.Stdout, res)
		report.Queries = append(report.Queries, res)
	}
	report.Elapsed = time.Since(start).Seconds()
	report.Summarize()
	report.writeTableTotals(os.Stdout)

	if cfg.jsonOut != "" {
		if err := report.WriteJSON(cfg.jsonOut); err != nil {
			return fmt.Errorf("writing --json: %w", err)
		}
		fmt.Printf("wrote %s\n", cfg.jsonOut)
	}
	if cfg.pngOut != "" {
		if err := report.WritePNG(cfg.pngOut); err != nil {
			return fmt.Errorf("writing --png: %w", err)
		}
		fmt.Printf("wrote %s\n", cfg.pngOut)
	}
	return nil
}

// measure runs f once as a warm-up and then cfg.runs times, returning every
// timed run, their median and the row count of the last run. An error (or
// panic) stops the measurement and is recorded in the result.
func measure(cfg tpchConfig, f func(context.Context) (int64, error)) (m EngineResult) {
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
		return EngineResult{Error: err.Error()}
	}
	m.Times = make([]float64, 0, cfg.runs)
	for i := 0; i < cfg.runs; i++ {
		d, rows, err := run()
		if err != nil {
			m.Error = err.Error()
			return m
		}
		m.Times = append(m.Times, d.Seconds())
		m.Rows = rows
	}
	m.Median = median(m.Times)
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

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
