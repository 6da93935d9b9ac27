package tpch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/schollz/progressbar/v3"
)

// DefaultRowGroupRows is the Parquet row group size used when
// GenOptions.RowGroupRows is 0.
const DefaultRowGroupRows = 122880

// GenOptions configures Generate.
type GenOptions struct {
	SF           float64   // scale factor > 0 (0.01, 0.1, 1, 10 ...)
	OutDir       string    // writes OutDir/<table>.parquet, creating OutDir
	Tables       []string  // nil = all 8
	RowGroupRows int       // rows per Parquet row group; 0 = 122880
	Progress     io.Writer // nil = no progress bar; else a schollz/progressbar on it
}

// tableGen describes how to generate one table in batches of base rows.
type tableGen struct {
	name  string
	rows  func(e *genEnv) int64 // base rows
	batch int64                 // base rows per batch
	gen   func(e *genEnv, rb *array.RecordBuilder, start, n int64)
	cost  int // relative size, to start big tables first
}

var tableGens = map[string]tableGen{
	"region":   {"region", func(*genEnv) int64 { return int64(len(distRegions)) }, 8192, genRegion, 0},
	"nation":   {"nation", func(*genEnv) int64 { return int64(len(distNations)) }, 8192, genNation, 1},
	"supplier": {"supplier", func(e *genEnv) int64 { return e.nSupp }, 8192, genSupplier, 2},
	"customer": {"customer", func(e *genEnv) int64 { return e.nCust }, 8192, genCustomer, 3},
	"part":     {"part", func(e *genEnv) int64 { return e.nPart }, 8192, genPart, 4},
	"partsupp": {"partsupp", func(e *genEnv) int64 { return e.nPart }, 2048, genPartsupp, 5},
	"orders":   {"orders", func(e *genEnv) int64 { return e.nOrders }, 8192, genOrders, 6},
	"lineitem": {"lineitem", func(e *genEnv) int64 { return e.nOrders }, 2048, genLineitem, 7},
}

// Generate writes the selected tables as OutDir/<table>.parquet (Snappy,
// RowGroupRows rows per row group). The output is deterministic: the same
// options give byte-identical files. Tables are generated concurrently (up
// to GOMAXPROCS at once) and streamed in batches of a few thousand rows; each
// file is written under a temporary name in OutDir and renamed once
// complete. On error or cancellation of ctx the temporary files are removed
// and the first error is returned.
func Generate(ctx context.Context, opt GenOptions) error {
	if !(opt.SF > 0) || opt.SF > 100000 {
		return fmt.Errorf("tpch: scale factor %v out of range (0, 100000]", opt.SF)
	}
	if opt.OutDir == "" {
		return errors.New("tpch: empty OutDir")
	}
	if opt.RowGroupRows < 0 {
		return fmt.Errorf("tpch: negative RowGroupRows %d", opt.RowGroupRows)
	}
	if opt.RowGroupRows == 0 {
		opt.RowGroupRows = DefaultRowGroupRows
	}
	names := opt.Tables
	if len(names) == 0 {
		names = tableNames
	}
	var gens []tableGen
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(n)
		g, ok := tableGens[n]
		if !ok {
			return fmt.Errorf("tpch: unknown table %q", n)
		}
		if !seen[n] {
			seen[n] = true
			gens = append(gens, g)
		}
	}
	sort.SliceStable(gens, func(i, j int) bool { return gens[i].cost > gens[j].cost })
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return fmt.Errorf("tpch: %w", err)
	}

	pool := getTextPool()
	defer runtime.KeepAlive(pool)
	e := newGenEnv(opt.SF, pool)

	var bar *progressbar.ProgressBar
	if opt.Progress != nil {
		var total int64
		for _, g := range gens {
			switch g.name {
			case "lineitem":
				total += lineitemRows(e)
			case "partsupp":
				total += g.rows(e) * suppPerPart
			default:
				total += g.rows(e)
			}
		}
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(opt.Progress),
			progressbar.OptionSetDescription(fmt.Sprintf("TPC-H SF %g", opt.SF)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opt.Progress) }),
		)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	procs := runtime.GOMAXPROCS(0)
	sem := make(chan struct{}, procs)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	// Start tables biggest first, at most procs at a time.
start:
	for _, g := range gens {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break start
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := writeTable(ctx, e, g, opt, procs, bar); err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return firstErr
	}
	if bar != nil {
		_ = bar.Finish()
	}
	return nil
}

func writerProps(table string, rowGroupRows int) *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(int64(rowGroupRows)),
		parquet.WithStoreDecimalAsInteger(true),
		parquet.WithDictionaryDefault(false),
	}
	for _, c := range tableColumns[table] {
		if c.dict {
			opts = append(opts, parquet.WithDictionaryFor(c.name, true))
		}
	}
	return parquet.NewWriterProperties(opts...)
}

type batchResult struct {
	rec  arrow.RecordBatch
	rows int64
}

// writeTable generates one table with up to procs generator goroutines,
// writing their batches in order through a single Parquet writer.
func writeTable(ctx context.Context, e *genEnv, g tableGen, opt GenOptions, procs int, bar *progressbar.ProgressBar) (err error) {
	schema := tableSchemas[g.name]
	final := filepath.Join(opt.OutDir, g.name+".parquet")
	f, err := os.CreateTemp(opt.OutDir, "."+g.name+".parquet.tmp*")
	if err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	tmp := f.Name()
	var fw *pqarrow.FileWriter
	defer func() {
		if err != nil {
			if fw != nil {
				_ = fw.Close()
			}
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	fw, err = pqarrow.NewFileWriter(schema, f, writerProps(g.name, opt.RowGroupRows),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return fmt.Errorf("tpch: %s: %w", g.name, err)
	}

	total := g.rows(e)
	nBatches := (total + g.batch - 1) / g.batch
	workers := int64(procs)
	if workers > nBatches {
		workers = nBatches
	}
	gctx, stop := context.WithCancel(ctx)
	chans := make([]chan batchResult, workers)
	var wg sync.WaitGroup
	for w := int64(0); w < workers; w++ {
		ch := make(chan batchResult, 2)
		chans[w] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
			defer rb.Release()
			for b := w; b < nBatches; b += workers {
				if gctx.Err() != nil {
					return
				}
				start := b * g.batch
				n := min(g.batch, total-start)
				g.gen(e, rb, start, n)
				rec := rb.NewRecordBatch()
				select {
				case ch <- batchResult{rec, rec.NumRows()}:
				case <-gctx.Done():
					rec.Release()
					return
				}
			}
		}()
	}
	defer func() {
		stop()
		for _, ch := range chans {
			for r := range ch {
				r.rec.Release()
			}
		}
		wg.Wait()
	}()

	for b := int64(0); b < nBatches; b++ {
		var r batchResult
		var ok bool
		select {
		case r, ok = <-chans[b%workers]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			if err = ctx.Err(); err == nil {
				err = fmt.Errorf("tpch: %s: generator stopped early", g.name)
			}
			return err
		}
		err = fw.WriteBuffered(r.rec)
		r.rec.Release()
		if err != nil {
			return fmt.Errorf("tpch: %s: %w", g.name, err)
		}
		if bar != nil {
			_ = bar.Add64(r.rows)
		}
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = fw.Close(); err != nil { // also closes f
		return fmt.Errorf("tpch: %s: %w", g.name, err)
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	if err = os.Rename(tmp, final); err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	return nil
}
