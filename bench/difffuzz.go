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
// as in PostgreSQL; the generator always spells NULLS FIRST/LAST and
// divides by NULLIF(x, 0).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
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
	btpch "github.com/bellows-db/bellows/tpch"
)

// fuzzConfig configures a differential fuzzing run.
type fuzzConfig struct {
	Seed      int64         // base seed; query i uses seed Seed*1e6 + i
	N         int           // stop after N queries (0: no limit)
	Duration  time.Duration // stop after this long (0: no limit)
	Timeout   time.Duration // per-query limit for each engine
	MaxFails  int           // stop after this many distinct mismatches
	ShrinkFor time.Duration // time budget to shrink one mismatch
	Log       io.Writer     // progress and mismatch reports
	DataDir   string        // where to write the data ("" = a temp dir)
}

// fuzzStats are the figures of a run.
type fuzzStats struct {
	Queries    int
	BothOK     int
	BothErr    int
	Overflow   int // one side failed with an overflow, treated as agreement
	Mismatches []fuzzMismatch
	Elapsed    time.Duration
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
	bdb  *bellows.DB
	ddb  *sql.DB
	conn *sql.Conn
}

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
	f.bdb, err = bellows.Open(bellows.Options{Parallelism: 2})
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
	if _, err := f.conn.ExecContext(ctx, "SET integer_division = true"); err != nil {
		f.close()
		return nil, err
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
	kind byte // 'n' NULL, 'x' exact number, 'f' float, 's' string, 'b' bool, 'd' date/time text
	x    *big.Rat
	f    float64
	s    string
}

func (v fval) String() string {
	switch v.kind {
	case 'n':
		return "NULL"
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

// key is v's sort key: numbers rounded to 6 significant digits, so that
// values equal within the tolerance almost always sort together.
func (v fval) key() string {
	switch v.kind {
	case 'x', 'f':
		return fmt.Sprintf("#%.6g", v.num())
	}
	return string(v.kind) + v.s
}

func (v fval) num() float64 {
	if v.kind == 'x' {
		f, _ := v.x.Float64()
		return f
	}
	return v.f
}

func (v fval) equal(w fval) bool {
	numeric := func(k byte) bool { return k == 'x' || k == 'f' }
	switch {
	case v.kind == 'x' && w.kind == 'x':
		return v.x.Cmp(w.x) == 0
	case numeric(v.kind) && numeric(w.kind):
		return harness.FloatsClose(v.num(), w.num())
	case v.kind != w.kind:
		return false
	}
	return v.s == w.s
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
		return fval{kind: 'x', x: new(big.Rat).SetInt64(v.I)}
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
	case *big.Int:
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
		return new(big.Rat).SetInt64(x), true
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
	for rs.Next() {
		b := rs.RecordBatch()
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
)

var overflowRE = regexp.MustCompile(`(?i)overflow|out of range|too large|cannot be represented`)

// check runs q on both engines and classifies the outcome; detail explains
// a mismatch.
func (f *fuzzer) check(q *qgen.Query) (class, detail string) {
	text := q.SQL()
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Timeout)
	defer cancel()
	brows, berr := f.runBellowsQuery(ctx, text)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return outTimeout, fmt.Sprintf("bellows did not finish within %v", f.cfg.Timeout)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), f.cfg.Timeout)
	defer dcancel()
	drows, derr := f.runDuckQuery(dctx, text)
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
	type kr struct {
		k   string
		row []fval
	}
	ks := make([]kr, len(r))
	for i, row := range r {
		parts := make([]string, len(row))
		for c, v := range row {
			parts[c] = v.key()
		}
		ks[i] = kr{strings.Join(parts, "\x00"), row}
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].k < ks[j].k })
	out := make(frows, len(r))
	for i := range ks {
		out[i] = ks[i].row
	}
	return out
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
	var b strings.Builder
	show := func(name string, r frows) {
		fmt.Fprintf(&b, "  %s (%d rows):\n", name, len(r))
		for i, row := range r {
			if i == 8 {
				fmt.Fprintf(&b, "    ...\n")
				break
			}
			fmt.Fprintf(&b, "    %v\n", row)
		}
	}
	show("bellows", got)
	show("duckdb", want)
	return b.String()
}

// fuzzRun generates and checks queries until cfg.N or cfg.Duration is
// reached, shrinking every mismatch.
func fuzzRun(ctx context.Context, cfg fuzzConfig) (*fuzzStats, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
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
	start = time.Now()
	seen := map[string]bool{}
	lastLog := start
	for i := 0; ; i++ {
		if cfg.N > 0 && i >= cfg.N {
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
		class, _ := f.check(q)
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
		}
		// A mismatch: shrink while the same class of mismatch persists.
		shrunk, tries := qgen.Shrink(q, func(c *qgen.Query) bool {
			cl, _ := f.check(c)
			return cl == class
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
	fmt.Fprintf(cfg.Log, "difffuzz: %d queries in %.1fs (%.0f/s): %d agree, %d both error, %d overflow-only, %d mismatches\n",
		st.Queries, st.Elapsed.Seconds(), float64(st.Queries)/st.Elapsed.Seconds(), st.BothOK, st.BothErr, st.Overflow, len(st.Mismatches))
	return st, nil
}
