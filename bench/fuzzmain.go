package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"time"

	"github.com/bellows-db/bellows/bench/internal/qgen"
)

// runFuzz is the "fuzz" subcommand: a differential fuzzing run against
// DuckDB (see difffuzz.go), or one query on both engines with --sql or
// --query-seed.
func runFuzz(args []string) error {
	fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
	duration := fs.Duration("duration", 3*time.Minute, "stop after this long")
	n := fs.Int("n", 0, "stop after this many queries (0: no limit)")
	first := fs.Int("first", 0, "index of the first query (query seed = seed*1000000 + index)")
	seed := fs.Int64("seed", 0, "base seed (0: random, printed)")
	maxFails := fs.Int("max-mismatches", 20, "stop after this many distinct mismatches")
	timeout := fs.Duration("timeout", 10*time.Second, "per-query time limit for each engine")
	one := fs.String("sql", "", "run this one query on both engines and print both results")
	workers := fs.Int("workers", 0, "run Bellows as an in-process cluster of this many workers (0: single node)")
	elastic := fs.Bool("elastic", false, "with --workers: change each query's parallelism at random moments while it runs")
	qseed := fs.Int64("query-seed", -1, "generate the query of this query seed (as printed with a mismatch), print it and run it on both engines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ctx := context.Background()
	if *one != "" || *qseed >= 0 {
		return fuzzOne(ctx, *one, *qseed, *timeout, *workers, *elastic)
	}
	if *seed == 0 {
		*seed = 1 + rand.Int63n(1<<40)
	}
	st, err := fuzzRun(ctx, fuzzConfig{Seed: *seed, N: *n, First: *first, Duration: *duration, Timeout: *timeout, MaxFails: *maxFails, Log: os.Stdout, Workers: *workers, Elastic: *elastic})
	if err != nil {
		return err
	}
	if len(st.Mismatches) > 0 {
		return fmt.Errorf("%d mismatches (seed %d)", len(st.Mismatches), *seed)
	}
	return nil
}

// fuzzOne runs one query (text, or the query of query seed qseed) on both
// engines and prints the outcome and both results.
func fuzzOne(ctx context.Context, text string, qseed int64, timeout time.Duration, workers int, elastic bool) error {
	dir, err := os.MkdirTemp("", "bellows-difffuzz-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeFuzzData(ctx, dir); err != nil {
		return err
	}
	f, err := newFuzzer(ctx, fuzzConfig{Timeout: timeout, Workers: workers, Elastic: elastic}, dir)
	if err != nil {
		return err
	}
	defer f.close()
	var q *qgen.Query
	if qseed >= 0 {
		q = qgen.New(qseed).Query()
		text = q.SQL()
	}
	fmt.Println(text)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	b, berr := f.runBellowsQuery(tctx, text)
	t1 := time.Now()
	d, derr := f.runDuckQuery(tctx, text)
	t2 := time.Now()
	fmt.Printf("bellows (%v): err=%v\n%s", t1.Sub(t0), berr, showRows("bellows", b))
	fmt.Printf("duckdb (%v): err=%v\n%s", t2.Sub(t1), derr, showRows("duckdb", d))
	if q != nil {
		class, detail := f.check(q)
		fmt.Println("outcome:", class, detail)
	}
	return nil
}
