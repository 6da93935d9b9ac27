package main

// Differential fuzzing of Bellows against DuckDB: random queries from
// internal/qgen run on both engines over the same Parquet files (TPC-H SF
// 0.01 from our generator, plus the edge-value table fz); results are
// compared as multisets (as sequences when the query orders by every
// output column and has no floating-point column).
//
// Agreement rules (decided here, documented in README.md):
//   - both engines fail: agreement (the generator makes invalid queries at
//     times, e.g. a cast of 'abc' to an integer; the error texts differ);
//   - one engine fails with an overflow / out-of-range error and the other
//     succeeds: agreement (integer widths of intermediate results and date
//     ranges are implementation-defined: DuckDB sums integers as HUGEINT);
//   - otherwise one engine failing is a mismatch, as is a different result.
//   - Numbers compare exactly when both are exact (integers, decimals) and
//     within harness.FloatsClose otherwise; NULL differs from ''.
//
// DuckDB runs with integer_division = true so that / on integers truncates
// as in PostgreSQL, and without its top_n optimizer (a wrong result, see
// newFuzzer); the generator always spells NULLS FIRST/LAST and divides by
// NULLIF(x, 0). BELLOWS_DIFFFUZZ_DUCKDB_SET adds one more DuckDB SET
// statement (for experiments with its settings).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/duckdb/duckdb-go/v2"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/bench/internal/harness"
	"github.com/bellows-db/bellows/bench/internal/qgen"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
	btpch "github.com/bellows-db/bellows/tpch"
)

// fuzzConfig configures a differential fuzzing run.
type fuzzConfig struct {
	Seed      int64         // base seed; query i uses seed Seed*1e6 + i
	N         int           // stop after N queries (0: no limit)
	First     int           // index of the first query (to rerun one query of a run)
	Duration  time.Duration // stop after this long (0: no limit)
	Timeout   time.Duration // per-query limit for each engine
	MaxFails  int           // stop after this many distinct mismatches
	ShrinkFor time.Duration // time budget to shrink one mismatch
	Log       io.Writer     // progress and mismatch reports
	DataDir   string        // where to write the data ("" = a temp dir)
	// Workers > 0 runs Bellows as an in-process cluster of that many
	// workers over loopback gRPC, its plans cut into stages of up to 3
	// tasks (small row counts per task, so scans split and aggregates and
	// joins cross exchanges), against single-node DuckDB.
	Workers int
	// Elastic (with Workers) changes the parallelism of each Bellows
	// query at random moments while it runs (1 to 4 tasks per scan and
	// elastic stage), so stages grow and shrink under every plan shape.
	Elastic bool
}

// fuzzStats are the figures of a run.
type fuzzStats struct {
	Queries    int
	BothOK     int
	BothErr    int
	Overflow   int // one side failed with an overflow, treated as agreement
	Skipped    int // too large a result or over the memory limit
	Timeouts   int // either engine slower than the per-query limit
	Mismatches []fuzzMismatch
	Elapsed    time.Duration
	// Time spent in each engine (queries and shrinking).
	BellowsTime, DuckTime time.Duration
}

// fuzzMismatch is one disagreement, with its shrunk query.
type fuzzMismatch struct {
	QuerySeed int64
	Original  string
	Shrunk    string
	Detail    string
}

// fuzzer holds both engines over the same files.
type fuzzer struct {
	cfg  fuzzConfig
	st   *fuzzStats
	bdb  *bellows.DB
	ddb  *sql.DB
	conn *sql.Conn
}

// fuzzMemoryLimit bounds each engine's memory per query, and
// fuzzMaxRows the rows of a result that are compared: a query over either
// is skipped (counted as too large), so that a random join that explodes
// cannot take the machine's memory.
const (
	fuzzMemoryLimit = 1 << 30
	fuzzMaxRows     = 20000
)

var errTooLarge = errors.New("result too large")

// fuzzTables are the tables the generator uses.
func fuzzTables() []string {
	return append(append([]string(nil), harness.Tables...), qgen.EdgeTable)
}

// writeFuzzData writes TPC-H SF 0.01 (small row groups, so scans split)
// and the edge table into dir.
func writeFuzzData(ctx context.Context, dir string) error {
	if err := btpch.Generate(ctx, btpch.GenOptions{SF: 0.01, OutDir: dir, RowGroupRows: 4096}); err != nil {
		return err
	}
	return writeEdgeTable(filepath.Join(dir, qgen.EdgeTable+".parquet"))
}

// writeEdgeTable writes the fz table: a unique id, then one column per type
// class holding NULLs, zeros, negatives, extremes and empty strings.
func writeEdgeTable(path string) error {
	dec := &arrow.Decimal128Type{Precision: 12, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "k", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "d", Type: dec, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "t", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "bo", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	type row struct {
		k, i any // int32 or nil
		b    any // int64 or nil
		d    any // int64 (cents) or nil
		f    any // float64 or nil
		s    any // string or nil
		t    any // "YYYY-MM-DD" or nil
		bo   any // bool or nil
	}
	rows := []row{
		{int32(0), int32(0), int64(0), int64(0), 0.0, "", "1970-01-01", false},
		{nil, nil, nil, nil, nil, nil, nil, nil},
		{int32(1), int32(1), int64(1), int64(1), 1.5, "a", "1992-01-01", true},
		{int32(2), int32(-1), int64(-1), int64(-1), -2.5, "A", "1998-12-31", true},
		{int32(3), int32(2147483647), int64(9223372036854775807), int64(99999999999), 1e10, " ", "2000-02-29", false},
		{int32(4), int32(-2147483648), int64(-9223372036854775807 - 1), int64(-99999999999), -1e10, "abc", "1969-12-31", nil},
		{int32(24), int32(42), int64(1000000000000), int64(50), 0.1, "ABC%", "1995-06-17", true},
		{int32(99), int32(7), nil, int64(-250), math.Copysign(0, -1), "x_y", nil, false},
		{nil, int32(3), int64(3), nil, 3.0, "héllo", "1996-01-01", nil},
		{int32(-1), nil, int64(42), int64(150), nil, "O'Brien", "1994-02-28", true},
		{int32(5), int32(100), int64(-5), int64(5), 2.0, nil, "1993-07-04", false},
		{int32(5), int32(0), int64(0), int64(0), 0.5, "R", "1997-03-15", nil},
		{int32(1), int32(-7), int64(7), int64(1234), -0.5, "BUILDING", "1995-03-15", true},
		{int32(0), nil, nil, nil, nil, "", nil, nil},
		{int32(17), int32(17), int64(17), int64(1700), 17.25, "GERMANY", "1998-08-02", false},
		{nil, int32(1), int64(-1), int64(-1), 1.5, "a ", "1992-01-01", true},
		{int32(7), int32(2147483647), nil, int64(99999999999), 1e-3, "MAIL", "1992-01-02", nil},
		{int32(12), int32(12), int64(12), int64(0), 1000.0, "abc", "1998-12-01", false},
		// NaN compares as in PostgreSQL and DuckDB: equal to itself, above
		// every number (and left out of Parquet's float statistics).
		{int32(8), int32(8), int64(8), int64(800), math.NaN(), "NaN", "1999-01-01", true},
		{int32(9), int32(9), int64(9), int64(900), math.Inf(1), "Infinity", "1999-01-02", false},
		{int32(10), int32(10), int64(10), int64(1000), math.Inf(-1), "-inf", "1999-01-03", nil},
	}
	mem := memory.NewGoAllocator()
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	for id, r := range rows {
		rb.Field(0).(*array.Int32Builder).Append(int32(id))
		appendOr(rb.Field(1), r.k, func(v any) { rb.Field(1).(*array.Int32Builder).Append(v.(int32)) })
		appendOr(rb.Field(2), r.i, func(v any) { rb.Field(2).(*array.Int32Builder).Append(v.(int32)) })
		appendOr(rb.Field(3), r.b, func(v any) { rb.Field(3).(*array.Int64Builder).Append(v.(int64)) })
		appendOr(rb.Field(4), r.d, func(v any) { rb.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(v.(int64))) })
		appendOr(rb.Field(5), r.f, func(v any) { rb.Field(5).(*array.Float64Builder).Append(v.(float64)) })
		appendOr(rb.Field(6), r.s, func(v any) { rb.Field(6).(*array.StringBuilder).Append(v.(string)) })
		appendOr(rb.Field(7), r.t, func(v any) {
			d, err := time.Parse("2006-01-02", v.(string))
			if err != nil {
				panic(err)
			}
			rb.Field(7).(*array.Date32Builder).Append(arrow.Date32FromTime(d))
		})
		appendOr(rb.Field(8), r.bo, func(v any) { rb.Field(8).(*array.BooleanBuilder).Append(v.(bool)) })
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// Two row groups, so that the table is read in more than one piece.
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(10)), pqarrow.DefaultWriterProps())
	if err != nil {
		f.Close()
		return err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func appendOr(b array.Builder, v any, appendV func(any)) {
	if v == nil {
		b.AppendNull()
		return
	}
	appendV(v)
}

// newFuzzer opens both engines over the files in dir.
func newFuzzer(ctx context.Context, cfg fuzzConfig, dir string) (*fuzzer, error) {
	f := &fuzzer{cfg: cfg}
	var err error
	opts := bellows.Options{Parallelism: 2, MemoryLimit: fuzzMemoryLimit}
	if cfg.Workers > 0 {
		opts.Workers = cfg.Workers
		opts.Fragment = planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 2000, BroadcastRows: 5000}
	}
	f.bdb, err = bellows.Open(opts)
	if err != nil {
		return nil, err
	}
	for _, t := range fuzzTables() {
		if err := f.bdb.RegisterTable(t, filepath.Join(dir, t+".parquet")); err != nil {
			f.close()
			return nil, err
		}
	}
	f.ddb, err = harness.OpenDuckDB(ctx, dir, fuzzTables(), 1)
	if err != nil {
		f.close()
		return nil, err
	}
	f.conn, err = f.ddb.Conn(ctx)
	if err != nil {
		f.close()
		return nil, err
	}
	// top_n is off: DuckDB 1.5.6 answers
	//   SELECT l.l_orderkey, o.o_orderkey FROM orders o LEFT JOIN lineitem l
	//   ON o.o_orderkey = l.l_orderkey ORDER BY 1 NULLS FIRST LIMIT 3
	// with NULL-extended rows for orders that have line items (found by
	// this fuzzer; without the optimizer, ORDER BY + LIMIT is sort + limit).
	sets := []string{"SET integer_division = true", fmt.Sprintf("SET memory_limit = '%dMB'", fuzzMemoryLimit>>20),
		"SET disabled_optimizers = 'top_n'"}
	if extra := os.Getenv("BELLOWS_DIFFFUZZ_DUCKDB_SET"); extra != "" {
		sets = append(sets, extra)
	}
	for _, set := range sets {
		if _, err := f.conn.ExecContext(ctx, set); err != nil {
			f.close()
			return nil, err
		}
	}
	return f, nil
}

func (f *fuzzer) close() {
	if f.conn != nil {
		f.conn.Close()
	}
	if f.ddb != nil {
		f.ddb.Close()
	}
	if f.bdb != nil {
		f.bdb.Close()
	}
}

// fval is a result value in a form both engines' values convert to.
type fval struct {
	kind byte // 'n' NULL, 'i' integer, 'x' exact number, 'f' float, 's' string, 'b' bool, 'd' date/time text
	i    int64
	x    *big.Rat
	f    float64
	s    string
}

func (v fval) String() string {
	switch v.kind {
	case 'n':
		return "NULL"
	case 'i':
		return fmt.Sprint(v.i)
	case 'x':
		if v.x.IsInt() {
			return v.x.Num().String()
		}
		return v.x.FloatString(6)
	case 'f':
		return fmt.Sprint(v.f)
	case 's':
		return fmt.Sprintf("%q", v.s)
	}
	return v.s
}

func (v fval) num() float64 {
	if v.kind == 'i' {
		return float64(v.i)
	}
	if v.kind == 'x' {
		f, _ := v.x.Float64()
		return f
	}
	return v.f
}

func (v fval) equal(w fval) bool {
	numeric := func(k byte) bool { return k == 'i' || k == 'x' || k == 'f' }
	exactKind := func(k byte) bool { return k == 'i' || k == 'x' }
	switch {
	case v.kind == 'i' && w.kind == 'i':
		return v.i == w.i
	case exactKind(v.kind) && exactKind(w.kind):
		return v.rat().Cmp(w.rat()) == 0
	case numeric(v.kind) && numeric(w.kind):
		return harness.FloatsClose(v.num(), w.num())
	case v.kind != w.kind:
		return false
	}
	return v.s == w.s
}

func (v fval) rat() *big.Rat {
	if v.kind == 'i' {
		return new(big.Rat).SetInt64(v.i)
	}
	return v.x
}

type frows [][]fval

func exact(s string) fval {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return fval{kind: 's', s: s}
	}
	return fval{kind: 'x', x: r}
}

// bellowsValue converts row i of arr.
func bellowsValue(arr arrow.Array, i int) fval {
	if d, ok := arr.(*array.Dictionary); ok {
		if d.IsNull(i) {
			return fval{kind: 'n'}
		}
		return bellowsValue(d.Dictionary(), d.GetValueIndex(i))
	}
	if arr.IsNull(i) {
		return fval{kind: 'n'}
	}
	t, err := kernels.FromArrow(arr.DataType())
	if err != nil {
		return fval{kind: 'd', s: arr.ValueStr(i)}
	}
	v := kernels.ValueAt(arr, t, i)
	if v.Null {
		return fval{kind: 'n'}
	}
	switch {
	case t.ID == kernels.Bool:
		return fval{kind: 'b', s: fmt.Sprint(v.I != 0)}
	case t.IsInteger():
		return fval{kind: 'i', i: v.I}
	case t.IsFloat():
		return fval{kind: 'f', f: v.F}
	case t.ID == kernels.Decimal:
		return exact(v.Dec.ToString(t.Scale))
	case t.ID == kernels.String:
		return fval{kind: 's', s: v.S}
	}
	return fval{kind: 'd', s: v.Format(t)}
}

func duckValue(v any, typ string) fval {
	switch x := v.(type) {
	case nil:
		return fval{kind: 'n'}
	case string:
		return fval{kind: 's', s: x}
	case []byte:
		return fval{kind: 's', s: string(x)}
	case bool:
		return fval{kind: 'b', s: fmt.Sprint(x)}
	case float32:
		return fval{kind: 'f', f: float64(x)}
	case float64:
		return fval{kind: 'f', f: x}
	case int64:
		return fval{kind: 'i', i: x}
	case int32:
		return fval{kind: 'i', i: int64(x)}
	case *big.Int:
		if x.IsInt64() {
			return fval{kind: 'i', i: x.Int64()}
		}
		return fval{kind: 'x', x: new(big.Rat).SetInt(x)}
	case duckdb.Decimal:
		if x.Value == nil {
			return exact("0")
		}
		r := new(big.Rat).SetFrac(x.Value, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Scale)), nil))
		return fval{kind: 'x', x: r}
	case time.Time:
		if strings.EqualFold(typ, "DATE") {
			return fval{kind: 'd', s: x.Format("2006-01-02")}
		}
		return fval{kind: 'd', s: x.Format("2006-01-02 15:04:05.999999")}
	}
	if f, ok := toInt(v); ok {
		return fval{kind: 'x', x: f}
	}
	return fval{kind: 'd', s: harness.FormatValue(v, typ)}
}

func toInt(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case int:
		return new(big.Rat).SetInt64(int64(x)), true
	case int8:
		return new(big.Rat).SetInt64(int64(x)), true
	case int16:
		return new(big.Rat).SetInt64(int64(x)), true
	case int32:
		return new(big.Rat).SetInt64(int64(x)), true
	case int64:
		return new(big.Rat).SetInt64(x), true // not reached: duckValue handles int64
	case uint8:
		return new(big.Rat).SetInt64(int64(x)), true
	case uint16:
		return new(big.Rat).SetInt64(int64(x)), true
	case uint32:
		return new(big.Rat).SetInt64(int64(x)), true
	case uint64:
		return new(big.Rat).SetInt(new(big.Int).SetUint64(x)), true
	}
	return nil, false
}

// runBellowsQuery runs q on Bellows and converts the result.
func (f *fuzzer) runBellowsQuery(ctx context.Context, q string) (rows frows, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("PANIC: %v", r)
		}
	}()
	rs, err := f.bdb.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rs.Release()
	if f.cfg.Elastic {
		done := make(chan struct{})
		defer close(done)
		go f.reshape(rs.ID(), done)
	}
	for rs.Next() {
		b := rs.RecordBatch()
		if len(rows)+int(b.NumRows()) > fuzzMaxRows {
			return nil, errTooLarge
		}
		for i := 0; i < int(b.NumRows()); i++ {
			row := make([]fval, b.NumCols())
			for c := range row {
				row[c] = bellowsValue(b.Column(c), i)
			}
			rows = append(rows, row)
		}
	}
	return rows, rs.Err()
}

// reshape sets the running query id to a random parallelism every few
// milliseconds until done closes; errors other than the query having
// ended are logged.
func (f *fuzzer) reshape(id string, done <-chan struct{}) {
	rng := rand.New(rand.NewSource(int64(len(id)) + time.Now().UnixNano()))
	for {
		select {
		case <-done:
			return
		case <-time.After(time.Duration(rng.Intn(4000)) * time.Microsecond):
		}
		// The query ending meanwhile is expected; anything else is news.
		err := f.bdb.SetParallelism(id, 1+rng.Intn(4))
		if err != nil && !strings.Contains(err.Error(), "no running query") && !strings.Contains(err.Error(), "no plan running") && f.cfg.Log != nil {
			fmt.Fprintf(f.cfg.Log, "difffuzz: set_parallelism(%s): %v\n", id, err)
		}
	}
}

func (f *fuzzer) runDuckQuery(ctx context.Context, q string) (frows, error) {
	r, err := f.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cts, err := r.ColumnTypes()
	if err != nil {
		return nil, err
	}
	var rows frows
	for r.Next() {
		if len(rows) >= fuzzMaxRows {
			return nil, errTooLarge
		}
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]fval, len(vals))
		for i, v := range vals {
			row[i] = duckValue(v, cts[i].DatabaseTypeName())
		}
		rows = append(rows, row)
	}
	return rows, r.Err()
}

// Outcome classes of one query.
const (
	outSame     = "same"
	outBothErr  = "both-error"
	outOverflow = "overflow"
	outDiff     = "different-results"
	outBErr     = "bellows-error"
	outDErr     = "duckdb-error"
	outTimeout  = "timeout"
	outSkipped  = "skipped" // too large a result or over the memory limit on either side
)

var resourceRE = regexp.MustCompile(`(?i)memory limit|out of memory`)

var overflowRE = regexp.MustCompile(`(?i)overflow|out of range|too large|cannot be represented|could not cast value .* to DECIMAL`)

// check runs q on both engines and classifies the outcome; detail explains
// a mismatch.
func (f *fuzzer) check(q *qgen.Query) (class, detail string) {
	text := q.SQL()
	// The engines run at the same time (DuckDB on one thread, Bellows on
	// two drivers): the run is bounded by the slower one, not the sum.
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Timeout)
	defer cancel()
	var drows frows
	var derr error
	var dtime time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.Now()
		drows, derr = f.runDuckQuery(ctx, text)
		dtime = time.Since(t)
	}()
	t0 := time.Now()
	brows, berr := f.runBellowsQuery(ctx, text)
	btime := time.Since(t0)
	<-done
	if f.st != nil {
		f.st.BellowsTime += btime
		f.st.DuckTime += dtime
	}
	if os.Getenv("BELLOWS_DIFFFUZZ_SLOW") != "" && max(btime, dtime) > 300*time.Millisecond {
		fmt.Fprintf(f.cfg.Log, "slow: bellows %v, duckdb %v, rows %d: %s\n", btime, dtime, len(drows), text)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return outTimeout, fmt.Sprintf("bellows %v, duckdb %v: over the limit of %v", btime, dtime, f.cfg.Timeout)
	}
	if derr != nil && strings.Contains(derr.Error(), "INTERNAL Error") {
		// DuckDB failed an assertion of its own (seen: "Failed to bind
		// column reference" under GROUP BY a constant): no oracle.
		return outSkipped, ""
	}
	if errors.Is(berr, errTooLarge) || (berr != nil && resourceRE.MatchString(berr.Error())) ||
		errors.Is(derr, errTooLarge) || (derr != nil && resourceRE.MatchString(derr.Error())) {
		return outSkipped, ""
	}
	switch {
	case berr != nil && derr != nil:
		return outBothErr, ""
	case berr != nil:
		if overflowRE.MatchString(berr.Error()) && !strings.Contains(berr.Error(), "PANIC") {
			return outOverflow, ""
		}
		return outBErr, "bellows error: " + berr.Error()
	case derr != nil:
		if overflowRE.MatchString(derr.Error()) {
			return outOverflow, ""
		}
		return outDErr, "duckdb error: " + derr.Error() + fmt.Sprintf("\nbellows returned %d rows", len(brows))
	}
	ordered := q.Ordered()
	for _, t := range q.Types {
		if t == qgen.Double {
			ordered = false
		}
	}
	if d := compareRows(brows, drows, ordered); d != "" {
		return outDiff, d
	}
	return outSame, ""
}

var positionRE = regexp.MustCompile(`\(at line \d+, column \d+\)|\d+`)

// errorKey identifies a one-sided error by the first line of its message
// without positions and numbers, so that shrinking does not wander from
// one error to another ("" for other outcomes).
func errorKey(class, detail string) string {
	if class != outBErr && class != outDErr {
		return ""
	}
	line, _, _ := strings.Cut(detail, "\n")
	return positionRE.ReplaceAllString(line, "#")
}

// compareRows compares two results: as sequences when ordered, else as
// multisets. It returns "" when they agree.
func compareRows(got, want frows, ordered bool) string {
	if len(got) != len(want) {
		return fmt.Sprintf("row count: bellows %d, duckdb %d\n%s", len(got), len(want), sample(got, want))
	}
	if !ordered {
		got, want = sortRows(got), sortRows(want)
	}
	bad := -1
	for i := range got {
		if !rowEqual(got[i], want[i]) {
			bad = i
			break
		}
	}
	if bad < 0 {
		return ""
	}
	if !ordered && multisetEqual(got, want) {
		return ""
	}
	return fmt.Sprintf("row %d differs (ordered=%v): bellows %v, duckdb %v\n%s", bad, ordered, got[bad], want[bad], sample(got, want))
}

func rowEqual(a, b []fval) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

func sortRows(r frows) frows {
	out := append(frows(nil), r...)
	sort.SliceStable(out, func(i, j int) bool { return compareRowOrder(out[i], out[j]) < 0 })
	return out
}

// compareRowOrder orders rows column by column: NULL first, then numbers
// by value (exact and float alike, so that values equal within the
// tolerance sort to the same place on both sides), then by kind and text.
func compareRowOrder(a, b []fval) int {
	for c := range min(len(a), len(b)) {
		if d := compareVal(a[c], b[c]); d != 0 {
			return d
		}
	}
	return len(a) - len(b)
}

func compareVal(a, b fval) int {
	rank := func(v fval) int {
		switch v.kind {
		case 'n':
			return 0
		case 'i', 'x', 'f':
			return 1
		}
		return 2
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	switch rank(a) {
	case 0:
		return 0
	case 1:
		x, y := a.num(), b.num()
		// NaN sorts after every number (as in PostgreSQL), so that the
		// order is total.
		switch xn, yn := math.IsNaN(x), math.IsNaN(y); {
		case xn && yn:
			return 0
		case xn:
			return 1
		case yn:
			return -1
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	if a.kind != b.kind {
		return int(a.kind) - int(b.kind)
	}
	return strings.Compare(a.s, b.s)
}

// multisetEqual matches rows greedily with tolerance (the fallback when
// rounding put near-equal numbers on different sides of a sort key).
func multisetEqual(got, want frows) bool {
	if len(got) > 5000 {
		return false
	}
	used := make([]bool, len(want))
	for _, g := range got {
		found := false
		for j, w := range want {
			if !used[j] && rowEqual(g, w) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func sample(got, want frows) string {
	return showRows("bellows", got) + showRows("duckdb", want)
}

// showRows renders up to 8 rows of r under the engine's name.
func showRows(name string, r frows) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s (%d rows):\n", name, len(r))
	for i, row := range r {
		if i == 8 {
			fmt.Fprintf(&b, "    ...\n")
			break
		}
		fmt.Fprintf(&b, "    %v\n", row)
	}
	return b.String()
}

// fuzzRun generates and checks queries until cfg.N or cfg.Duration is
// reached, shrinking every mismatch.
func fuzzRun(ctx context.Context, cfg fuzzConfig) (*fuzzStats, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxFails == 0 {
		cfg.MaxFails = 10
	}
	if cfg.ShrinkFor == 0 {
		cfg.ShrinkFor = 20 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	dir := cfg.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bellows-difffuzz-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	start := time.Now()
	if err := writeFuzzData(ctx, dir); err != nil {
		return nil, fmt.Errorf("write fuzz data: %w", err)
	}
	f, err := newFuzzer(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	defer f.close()
	fmt.Fprintf(cfg.Log, "difffuzz: seed %d, data ready in %.1fs\n", cfg.Seed, time.Since(start).Seconds())
	st := &fuzzStats{}
	f.st = st
	start = time.Now()
	seen := map[string]bool{}
	lastLog := start
	for i := cfg.First; ; i++ {
		if cfg.N > 0 && i >= cfg.First+cfg.N {
			break
		}
		if cfg.Duration > 0 && time.Since(start) >= cfg.Duration {
			break
		}
		if ctx.Err() != nil {
			break
		}
		qseed := cfg.Seed*1_000_000 + int64(i)
		q := qgen.New(qseed).Query()
		st.Queries++
		if time.Since(lastLog) > time.Minute {
			lastLog = time.Now()
			fmt.Fprintf(cfg.Log, "difffuzz: %d queries, %.0fs, %d mismatches\n", st.Queries, time.Since(start).Seconds(), len(st.Mismatches))
		}
		class, detail := f.check(q)
		switch class {
		case outSame:
			st.BothOK++
			continue
		case outBothErr:
			st.BothErr++
			continue
		case outOverflow:
			st.Overflow++
			continue
		case outSkipped:
			st.Skipped++
			continue
		case outTimeout:
			// Slowness is not a wrong answer; counted and reported.
			st.Timeouts++
			fmt.Fprintf(cfg.Log, "difffuzz: query seed %d timed out (%s): %s\n", qseed, detail, q.SQL())
			continue
		}
		// A mismatch: shrink while the same class of mismatch (for an
		// error, the same message) persists.
		key := errorKey(class, detail)
		shrunk, tries := qgen.Shrink(q, func(c *qgen.Query) bool {
			cl, d := f.check(c)
			return cl == class && errorKey(cl, d) == key
		}, 3000, time.Now().Add(cfg.ShrinkFor))
		_, sdetail := f.check(shrunk)
		m := fuzzMismatch{QuerySeed: qseed, Original: q.SQL(), Shrunk: shrunk.SQL(), Detail: class + ": " + sdetail}
		if seen[m.Shrunk] {
			continue
		}
		seen[m.Shrunk] = true
		st.Mismatches = append(st.Mismatches, m)
		fmt.Fprintf(cfg.Log, "MISMATCH #%d (query seed %d, %s, shrunk in %d tries)\n  original: %s\n  shrunk:   %s\n  %s\n",
			len(st.Mismatches), qseed, class, tries, m.Original, m.Shrunk, strings.ReplaceAll(m.Detail, "\n", "\n  "))
		if len(st.Mismatches) >= cfg.MaxFails {
			break
		}
	}
	st.Elapsed = time.Since(start)
	fmt.Fprintf(cfg.Log, "difffuzz: %d queries in %.1fs (%.0f/s): %d agree, %d both error, %d overflow-only, %d skipped (too large), %d timeouts, %d mismatches; time in bellows %.1fs, duckdb %.1fs\n",
		st.Queries, st.Elapsed.Seconds(), float64(st.Queries)/st.Elapsed.Seconds(), st.BothOK, st.BothErr, st.Overflow, st.Skipped, st.Timeouts, len(st.Mismatches),
		st.BellowsTime.Seconds(), st.DuckTime.Seconds())
	return st, nil
}
