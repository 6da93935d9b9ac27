package exec

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// scanTestRegistry holds comparison kernels (eq, ne, lt, le, gt, ge) over
// any comparable pair of types, implemented with Values: slow but simple.
var scanTestRegistry = func() *kernels.Registry {
	reg := kernels.NewRegistry()
	ops := map[string]func(int) bool{
		"eq": func(c int) bool { return c == 0 }, "ne": func(c int) bool { return c != 0 },
		"lt": func(c int) bool { return c < 0 }, "le": func(c int) bool { return c <= 0 },
		"gt": func(c int) bool { return c > 0 }, "ge": func(c int) bool { return c >= 0 },
	}
	for name, op := range ops {
		reg.Register("cpu", name, func(args []kernels.Type) (kernels.Type, kernels.ExecFn, bool) {
			if len(args) != 2 {
				return kernels.Type{}, nil, false
			}
			at, bt := args[0], args[1]
			fn := func(ctx *kernels.Context, in []arrow.Array, n int) (arrow.Array, error) {
				b := array.NewBooleanBuilder(ctx.Alloc)
				defer b.Release()
				for i := 0; i < n; i++ {
					ia, ib := i, i
					if in[0].Len() == 1 {
						ia = 0
					}
					if in[1].Len() == 1 {
						ib = 0
					}
					va, vb := kernels.ValueAt(in[0], at, ia), kernels.ValueAt(in[1], bt, ib)
					c, ok := scCmpValues(va, at, vb, bt)
					if !ok {
						b.AppendNull()
						continue
					}
					b.Append(op(c))
				}
				return b.NewArray(), nil
			}
			return kernels.TBool, fn, true
		})
	}
	return reg
}()

var scanDecType = kernels.DecimalType(15, 2)

// scanTestSchema is the Arrow schema of the generated test table.
var scanTestSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "I32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "dec", Type: scanDecType.Arrow(), Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "extra", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// row i of the test table: id = i, I32 = i%1000 (NULL when i%7 == 3),
// dec = i*3 cents, d = 10000 + i/100, s = "s<i%50>" (NULL when i%11 == 5).
func scanTestBatch(start, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, scanTestSchema)
	defer b.Release()
	for i := start; i < start+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 3 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int32Builder).Append(int32(i % 1000))
		}
		b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i) * 3))
		b.Field(3).(*array.Date32Builder).Append(arrow.Date32(10000 + i/100))
		if i%11 == 5 {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("s%d", i%50))
		}
		b.Field(5).(*array.Float64Builder).Append(float64(i) / 2)
	}
	return b.NewRecordBatch()
}

// scanWriteParquet writes rows [start, start+n) in row groups of rg rows.
func scanWriteParquet(t testing.TB, path string, start, n, rg int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(int64(rg)), parquet.WithStats(true))
	w, err := pqarrow.NewFileWriter(scanTestSchema, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < n; off += rg {
		b := scanTestBatch(start+off, min(rg, n-off))
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

var scanTestCols = map[string]kernels.Type{
	"id": kernels.TInt64, "I32": kernels.TInt32, "dec": scanDecType, "d": kernels.TDate, "s": kernels.TString, "extra": kernels.TFloat64,
}

// scanTestScan builds a scan of the named columns (file names given in any case).
func scanTestScan(format planner.FileFormat, paths []string, names ...string) *planner.Scan {
	s := &planner.Scan{Table: "t", Format: format, Paths: paths}
	for i, n := range names {
		t := kernels.TString
		for k, v := range scanTestCols {
			if strings.EqualFold(k, n) {
				t = v
			}
		}
		s.Cols = append(s.Cols, planner.Column{ID: planner.ColumnID(i + 1), Name: n, Type: t, Nullable: true})
		s.FileCols = append(s.FileCols, n)
	}
	return s
}

func scanColOf(s *planner.Scan, name string) *planner.Expr {
	for _, c := range s.Cols {
		if c.Name == name {
			return planner.Col(c)
		}
	}
	panic(name)
}

func scanTestQuery(t *testing.T, drivers int) (*QueryContext, *memory.CheckedAllocator) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	q := NewQueryContext(checked, 0, drivers)
	q.Kernels = scanTestRegistry
	return q, checked
}

// rows renders every row of the batches as text, for comparisons.
func scanRows(t *testing.T, schema []planner.Column, batches []arrow.RecordBatch) []string {
	t.Helper()
	var out []string
	for _, b := range batches {
		if int(b.NumCols()) != len(schema) {
			t.Fatalf("batch has %d columns, want %d", b.NumCols(), len(schema))
		}
		for i, c := range schema {
			if !arrow.TypeEqual(b.Column(i).DataType(), c.Type.Arrow()) {
				t.Fatalf("column %s has type %s, want %s", c.Name, b.Column(i).DataType(), c.Type.Arrow())
			}
		}
		for r := 0; r < int(b.NumRows()); r++ {
			parts := make([]string, len(schema))
			for i, c := range schema {
				parts[i] = kernels.ValueAt(b.Column(i), c.Type, r).Format(c.Type)
			}
			out = append(out, strings.Join(parts, "|"))
		}
	}
	return out
}

// scanExpectedRow renders row i of the test table for the named columns.
func scanExpectedRow(i int, names ...string) string {
	parts := make([]string, len(names))
	for k, n := range names {
		switch strings.ToLower(n) {
		case "id":
			parts[k] = fmt.Sprint(i)
		case "i32":
			if i%7 == 3 {
				parts[k] = "NULL"
			} else {
				parts[k] = fmt.Sprint(i % 1000)
			}
		case "dec":
			parts[k] = decimal128.FromI64(int64(i) * 3).ToString(2)
		case "d":
			parts[k] = kernels.FormatDate(int32(10000 + i/100))
		case "s":
			if i%11 == 5 {
				parts[k] = "NULL"
			} else {
				parts[k] = fmt.Sprintf("s%d", i%50)
			}
		case "extra":
			parts[k] = kernels.FormatFloat(float64(i)/2, 64)
		}
	}
	return strings.Join(parts, "|")
}

// scanParallelSink buffers batches and changes the query's parallelism when
// given batch counts are reached.
type scanParallelSink struct {
	*BufferSink
	q       *QueryContext
	n       atomic.Int64
	changes map[int64]int
}

func (s *scanParallelSink) Local(ctx context.Context) (SinkLocal, error) {
	l, _ := s.BufferSink.Local(ctx)
	return scanParallelLocal{l, s}, nil
}

type scanParallelLocal struct {
	SinkLocal
	s *scanParallelSink
}

func (l scanParallelLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	if p, ok := l.s.changes[l.s.n.Add(1)]; ok {
		l.s.q.SetParallelism(p)
	}
	return l.SinkLocal.Consume(ctx, in)
}

// scanRun runs s through a pipeline and returns its rows as text.
func scanRun(t *testing.T, q *QueryContext, s *planner.Scan, changes map[int64]int) ([]string, *ScanSource, *Pipeline) {
	t.Helper()
	src, err := NewScan(q, s)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sink := &scanParallelSink{BufferSink: NewBufferSink(q), q: q, changes: changes}
	defer sink.Close()
	p := &Pipeline{Name: "scan", Source: src, Sink: sink}
	if err := q.Run(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return scanRows(t, s.Cols, sink.Batches()), src.(*ScanSource), p
}

func scanCheckRows(t *testing.T, got []string, ids []int, names ...string) {
	t.Helper()
	want := make([]string, len(ids))
	for k, i := range ids {
		want[k] = scanExpectedRow(i, names...)
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for k := range got {
		if got[k] != want[k] {
			t.Fatalf("row mismatch: got %q, want %q", got[k], want[k])
		}
	}
}

func scanIDs(lo, hi int, keep func(int) bool) []int {
	var out []int
	for i := lo; i < hi; i++ {
		if keep == nil || keep(i) {
			out = append(out, i)
		}
	}
	return out
}

// scanTwoFiles writes ids [0,6000) and [6000,10000) in row groups of 1000.
func scanTwoFiles(t *testing.T) []string {
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.parquet"), filepath.Join(dir, "b.parquet")
	scanWriteParquet(t, p1, 0, 6000, 1000)
	scanWriteParquet(t, p2, 6000, 4000, 1000)
	return []string{p1, p2}
}

func TestScanParquetDrivers(t *testing.T) {
	paths := scanTwoFiles(t)
	names := []string{"id", "i32", "dec", "d", "s"} // "i32" matches "I32"
	cases := []struct {
		name    string
		drivers int
		changes map[int64]int
	}{
		{"1 driver", 1, nil},
		{"4 drivers", 4, nil},
		{"resized", 1, map[int64]int{3: 4, 15: 1, 30: 3, 60: 2}},
	}
	for _, c := range cases {
		for _, bs := range []int{1, 3, 256, DefaultBatchSize} {
			if bs == 1 && c.changes != nil {
				continue // 10,000 one-row batches: the resize points are batch counts
			}
			t.Run(fmt.Sprintf("%s/batch=%d", c.name, bs), func(t *testing.T) {
				q, checked := scanTestQuery(t, c.drivers)
				defer checked.AssertSize(t, 0)
				q.BatchSize = bs
				got, src, p := scanRun(t, q, scanTestScan(planner.FormatParquet, paths, names...), c.changes)
				scanCheckRows(t, got, scanIDs(0, 10000, nil), names...)
				if src.RowGroups != 10 || src.RowGroupsPruned != 0 || src.RowsRead.Load() != 10000 {
					t.Errorf("row groups %d, pruned %d, rows read %d", src.RowGroups, src.RowGroupsPruned, src.RowsRead.Load())
				}
				if c.changes != nil && p.MaxConcurrent.Load() < 2 {
					t.Errorf("parallelism never grew: max %d drivers", p.MaxConcurrent.Load())
				}
			})
		}
	}
}

func TestScanParquetProjection(t *testing.T) {
	paths := scanTwoFiles(t)
	q, checked := scanTestQuery(t, 2)
	defer checked.AssertSize(t, 0)
	// reordered subset, a column twice, and no columns at all
	got, _, _ := scanRun(t, q, scanTestScan(planner.FormatParquet, paths, "S", "extra", "id", "extra"), nil)
	scanCheckRows(t, got, scanIDs(0, 10000, nil), "s", "extra", "id", "extra")

	src, err := NewScan(q, scanTestScan(planner.FormatParquet, paths))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sink := NewBufferSink(q)
	defer sink.Close()
	if err := q.Run(context.Background(), &Pipeline{Source: src, Sink: sink}); err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, b := range sink.Batches() {
		total += b.NumRows()
	}
	if total != 10000 {
		t.Errorf("count(*) scan gave %d rows", total)
	}
}

func TestScanParquetFilterPruning(t *testing.T) {
	paths := scanTwoFiles(t)
	names := []string{"id", "i32", "dec", "d", "s"}
	s0 := scanTestScan(planner.FormatParquet, paths, names...)
	i64 := func(v int64) *planner.Expr { return planner.Const(kernels.TInt64, kernels.Value{I: v}) }
	cmp := func(op, col string, c *planner.Expr) *planner.Expr {
		return planner.Call(op, kernels.TBool, scanColOf(s0, col), c)
	}
	dec := func(cents int64) *planner.Expr {
		return planner.Const(scanDecType, kernels.DecValue(decimal128.FromI64(cents)))
	}
	date := func(d int32) *planner.Expr { return planner.Const(kernels.TDate, kernels.Value{I: int64(d)}) }
	str := func(s string) *planner.Expr { return planner.Const(kernels.TString, kernels.Value{S: s}) }
	in := func(col string, vals ...*planner.Expr) *planner.Expr {
		return &planner.Expr{Kind: planner.EIn, Type: kernels.TBool, Args: append([]*planner.Expr{scanColOf(s0, col)}, vals...)}
	}
	cases := []struct {
		name   string
		filter []*planner.Expr
		keep   func(i int) bool
		pruned int64
	}{
		{"id < 2500", []*planner.Expr{cmp("lt", "id", i64(2500))}, func(i int) bool { return i < 2500 }, 7},
		{"2500 > id (flipped)", []*planner.Expr{planner.Call("gt", kernels.TBool, i64(2500), scanColOf(s0, "id"))}, func(i int) bool { return i < 2500 }, 7},
		{"range", []*planner.Expr{cmp("ge", "id", i64(9000)), cmp("le", "id", i64(9500))}, func(i int) bool { return i >= 9000 && i <= 9500 }, 9},
		{"and tree", []*planner.Expr{planner.And(cmp("gt", "id", i64(3999)), cmp("lt", "id", i64(4001)))}, func(i int) bool { return i == 4000 }, 9},
		{"eq", []*planner.Expr{cmp("eq", "id", i64(7777))}, func(i int) bool { return i == 7777 }, 9},
		{"in", []*planner.Expr{in("id", i64(5), i64(5005), planner.NullConst(kernels.TInt64))}, func(i int) bool { return i == 5 || i == 5005 }, 8},
		{"or", []*planner.Expr{{Kind: planner.EOr, Type: kernels.TBool, Args: []*planner.Expr{cmp("lt", "id", i64(10)), cmp("gt", "id", i64(9990))}}},
			func(i int) bool { return i < 10 || i > 9990 }, 8},
		{"int32 out of range", []*planner.Expr{cmp("eq", "i32", planner.Const(kernels.TInt32, kernels.Value{I: 5000}))}, func(int) bool { return false }, 10},
		{"int32 ne (no pruning)", []*planner.Expr{cmp("ne", "i32", planner.Const(kernels.TInt32, kernels.Value{I: 5}))},
			func(i int) bool { return i%7 != 3 && i%1000 != 5 }, 0},
		{"decimal", []*planner.Expr{cmp("gt", "dec", dec(29000))}, func(i int) bool { return i*3 > 29000 }, 9},
		{"decimal vs int", []*planner.Expr{cmp("le", "dec", i64(30))}, func(i int) bool { return i*3 <= 3000 }, 8},
		{"date", []*planner.Expr{cmp("lt", "d", date(10010))}, func(i int) bool { return 10000+i/100 < 10010 }, 9},
		{"string above max", []*planner.Expr{cmp("gt", "s", str("zzz"))}, func(int) bool { return false }, 10},
		{"string eq", []*planner.Expr{cmp("eq", "s", str("s7"))}, func(i int) bool { return i%11 != 5 && i%50 == 7 }, 0},
		{"string ne", []*planner.Expr{cmp("ne", "s", str("s7"))}, func(i int) bool { return i%11 != 5 && i%50 != 7 }, 0},
		{"string is null", []*planner.Expr{{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{scanColOf(s0, "s")}}}, func(i int) bool { return i%11 == 5 }, 0},
		{"string or null", []*planner.Expr{{Kind: planner.EOr, Type: kernels.TBool, Args: []*planner.Expr{cmp("eq", "s", str("s3")),
			{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{scanColOf(s0, "s")}}}}},
			func(i int) bool { return i%11 == 5 || i%50 == 3 }, 0},
		{"string in and id", []*planner.Expr{in("s", str("s1"), str("s2")), cmp("lt", "id", i64(5000))},
			func(i int) bool { return i%11 != 5 && (i%50 == 1 || i%50 == 2) && i < 5000 }, 5},
		{"is null on non-null column", []*planner.Expr{{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{scanColOf(s0, "id")}}}, func(int) bool { return false }, 10},
		{"null constant", []*planner.Expr{cmp("eq", "id", planner.NullConst(kernels.TInt64))}, func(int) bool { return false }, 10},
		{"constant false", []*planner.Expr{planner.BoolConst(false)}, func(int) bool { return false }, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, drivers := range []int{1, 3} {
				q, checked := scanTestQuery(t, drivers)
				q.BatchSize = 300
				s := *s0
				s.Filter = c.filter
				got, src, _ := scanRun(t, q, &s, nil)
				scanCheckRows(t, got, scanIDs(0, 10000, c.keep), names...)
				if strings.HasPrefix(c.name, "string") && !strings.Contains(c.name, "above max") && src.DictFiltered.Load() == 0 {
					t.Errorf("no conjunct ran on the dictionary of s")
				}
				if src.RowGroupsPruned != c.pruned || src.RowGroups != 10 {
					t.Errorf("pruned %d of %d row groups, want %d of 10", src.RowGroupsPruned, src.RowGroups, c.pruned)
				}
				checked.AssertSize(t, 0)
			}
		})
	}
}

func TestScanParquetConversions(t *testing.T) {
	// narrow, unsigned, large, dictionary and other-unit types are widened
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "dict", Type: dictType, Nullable: true},
		{Name: "tms", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "tns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 9, Scale: 2}},
	}, nil)
	mem := memory.DefaultAllocator
	b := array.NewRecordBuilder(mem, schema)
	const n = 3000
	for i := 0; i < n; i++ {
		if i%5 == 0 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Int8Builder).Append(int8(i % 100))
		}
		b.Field(1).(*array.Uint16Builder).Append(uint16(60000 + i%5000))
		b.Field(2).(*array.Uint32Builder).Append(uint32(4_000_000_000 + i))
		if i%6 == 0 {
			b.Field(3).AppendNull()
			b.Field(4).AppendNull()
		} else {
			b.Field(3).(*array.LargeStringBuilder).Append(fmt.Sprintf("L%d", i))
			if err := b.Field(4).(*array.BinaryDictionaryBuilder).AppendString(fmt.Sprintf("k%d", i%13)); err != nil {
				t.Fatal(err)
			}
		}
		b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1500))
		b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1_000_001))
		b.Field(7).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i) * 7))
	}
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	dir := t.TempDir()
	path := filepath.Join(dir, "conv.parquet")
	f, _ := os.Create(path)
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1000)), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	arrowPath := filepath.Join(dir, "conv.arrow")
	af, _ := os.Create(arrowPath)
	iw, err := ipc.NewFileWriter(af, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := iw.Write(rec); err != nil {
		t.Fatal(err)
	}
	iw.Close()
	af.Close()

	names, types, err := InferSchema(planner.FormatParquet, []string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []kernels.Type{kernels.TInt16, kernels.TInt32, kernels.TInt64, kernels.TString, kernels.TString, kernels.TTimestamp, kernels.TTimestamp, kernels.DecimalType(9, 2)}
	if !slices.Equal(types, wantTypes) {
		t.Fatalf("inferred %v %v", names, types)
	}
	for _, format := range []planner.FileFormat{planner.FormatParquet, planner.FormatArrow} {
		p := path
		if format == planner.FormatArrow {
			p = arrowPath
		}
		s := &planner.Scan{Format: format, Paths: []string{p}, FileCols: names}
		for i, n := range names {
			typ := types[i]
			if n == "dec" {
				typ = kernels.DecimalType(15, 3) // read at another precision and scale
			}
			s.Cols = append(s.Cols, planner.Column{ID: planner.ColumnID(i + 1), Name: n, Type: typ})
		}
		q, checked := scanTestQuery(t, 2)
		got, _, _ := scanRun(t, q, s, nil)
		want := make([]string, n)
		for i := 0; i < n; i++ {
			i8, ls, dict := "NULL", "NULL", "NULL"
			if i%5 != 0 {
				i8 = fmt.Sprint(i % 100)
			}
			if i%6 != 0 {
				ls, dict = fmt.Sprintf("L%d", i), fmt.Sprintf("k%d", i%13)
			}
			want[i] = strings.Join([]string{i8, fmt.Sprint(60000 + i%5000), fmt.Sprint(4_000_000_000 + i), ls, dict,
				kernels.FormatTimestamp(int64(i) * 1500_000), kernels.FormatTimestamp(int64(i) * 1_000_001 / 1000),
				decimal128.FromI64(int64(i) * 70).ToString(3)}, "|")
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: conversion mismatch; first rows got %v want %v", format, got[:3], want[:3])
		}
		checked.AssertSize(t, 0)
	}
}

func TestScanErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	scanWriteParquet(t, good, 0, 3000, 1000)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i/13)
	}
	// corrupt the column chunks of the second row group (past the first
	// page headers) while keeping the footer intact
	corrupt := slices.Clone(data)
	for i := len(corrupt) / 3; i < len(corrupt)/2; i++ {
		corrupt[i] = 0xff
	}
	cases := []struct {
		name   string
		path   string
		needle []string
	}{
		{"missing", filepath.Join(dir, "nope.parquet"), []string{"nope.parquet", "no such file"}},
		{"random bytes", write("random.parquet", random), []string{"random.parquet"}},
		{"truncated footer", write("trunc.parquet", data[:len(data)-20]), []string{"trunc.parquet"}},
		{"empty", write("empty.parquet", nil), []string{"empty.parquet"}},
		{"corrupt data", write("corrupt.parquet", corrupt), []string{"corrupt.parquet", "row group"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, checked := scanTestQuery(t, 2)
			s := scanTestScan(planner.FormatParquet, []string{c.path}, "id", "i32", "dec", "d", "s", "extra")
			err := func() error {
				src, err := NewScan(q, s)
				if err != nil {
					return err
				}
				defer src.Close()
				sink := NewBufferSink(q)
				defer sink.Close()
				return q.Run(context.Background(), &Pipeline{Source: src, Sink: sink})
			}()
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, n := range c.needle {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not mention %q", err, n)
				}
			}
			_ = checked // a reader failing mid-page may leak its scratch buffers
			if _, _, err := InferSchema(planner.FormatParquet, []string{c.path}, nil); err == nil && c.name != "corrupt data" {
				t.Errorf("InferSchema: no error")
			}
			if _, err := ReadStats(planner.FormatParquet, []string{c.path}, nil); err == nil && c.name != "corrupt data" {
				t.Errorf("ReadStats: no error")
			}
		})
	}
	t.Run("missing column", func(t *testing.T) {
		q, checked := scanTestQuery(t, 1)
		defer checked.AssertSize(t, 0)
		_, err := NewScan(q, scanTestScan(planner.FormatParquet, []string{good}, "id", "nosuch"))
		if err == nil || !strings.Contains(err.Error(), "good.parquet") || !strings.Contains(err.Error(), "nosuch") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestReadStatsParquet(t *testing.T) {
	paths := scanTwoFiles(t)
	ts, err := ReadStats(planner.FormatParquet, paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Rows != 10000 {
		t.Errorf("rows = %v", ts.Rows)
	}
	check := func(col string, typ kernels.Type, lo, hi string, nulls int64) {
		t.Helper()
		cs, ok := ts.Columns[col]
		if !ok {
			t.Fatalf("no stats for %s", col)
		}
		if !cs.HasMinMax || cs.Min.Format(typ) != lo || cs.Max.Format(typ) != hi || cs.NullCount != nulls {
			t.Errorf("%s: min %s max %s nulls %d (minmax %v), want %s %s %d", col, cs.Min.Format(typ), cs.Max.Format(typ), cs.NullCount, cs.HasMinMax, lo, hi, nulls)
		}
	}
	nulls := func(mod, rem int) int64 {
		n := int64(0)
		for i := 0; i < 10000; i++ {
			if i%mod == rem {
				n++
			}
		}
		return n
	}
	check("id", kernels.TInt64, "0", "9999", 0)
	check("I32", kernels.TInt32, "0", "999", nulls(7, 3))
	check("dec", scanDecType, "0.00", "299.97", 0)
	check("d", kernels.TDate, kernels.FormatDate(10000), kernels.FormatDate(10099), 0)
	check("s", kernels.TString, "s0", "s9", nulls(11, 5))
	check("extra", kernels.TFloat64, "0", "4999.5", 0)
	// the dictionary of the low-cardinality string column gives its
	// distinct count; other columns have none
	if d := ts.Columns["s"].Distinct; d != 50 {
		t.Errorf("s: distinct %v, want 50 (its dictionary size)", d)
	}
	if d := ts.Columns["id"].Distinct; d != 0 {
		t.Errorf("id: distinct %v, want unknown (0)", d)
	}
}

func TestScanCSVRoundTrip(t *testing.T) {
	dir := t.TempDir()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: scanDecType.Arrow(), Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
		{Name: "small", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
	}, nil)
	names := []string{"plain", "", "with,comma", `with "quotes"`, "two\nlines", "  padded ", "ünïcødé"}
	const n = 2500
	mk := func(start, cnt int) arrow.RecordBatch {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		for i := start; i < start+cnt; i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i) - 100)
			if i%9 == 4 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(names[i%len(names)])
			}
			if i%8 == 1 {
				b.Field(2).AppendNull()
				b.Field(3).AppendNull()
				b.Field(4).AppendNull()
				b.Field(5).AppendNull()
				b.Field(6).AppendNull()
				b.Field(7).AppendNull()
				continue
			}
			b.Field(2).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i*37) - 5000))
			b.Field(3).(*array.Date32Builder).Append(arrow.Date32(i*13 - 20000))
			b.Field(4).(*array.Float64Builder).Append(float64(i) / 8)
			b.Field(5).(*array.BooleanBuilder).Append(i%2 == 0)
			b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1_234_567))
			b.Field(7).(*array.Int16Builder).Append(int16(i % 300))
		}
		return b.NewRecordBatch()
	}
	var batches []arrow.RecordBatch
	for off := 0; off < n; off += 700 {
		batches = append(batches, mk(off, min(700, n-off)))
	}
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	cols := make([]planner.Column, schema.NumFields())
	fileCols := make([]string, len(cols))
	for i, f := range schema.Fields() {
		typ, _ := kernels.FromArrow(f.Type)
		cols[i] = planner.Column{ID: planner.ColumnID(i + 1), Name: f.Name, Type: typ}
		fileCols[i] = f.Name
	}
	want := scanRows(t, cols, batches)
	slices.Sort(want)
	for _, format := range []planner.FileFormat{planner.FormatCSV, planner.FormatArrow, planner.FormatParquet} {
		t.Run(string(format), func(t *testing.T) {
			path := filepath.Join(dir, "rt."+string(format))
			w, err := NewFileWriter(format, path, schema)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range batches {
				if err := w.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatal("file visible before Close")
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w.Abort() // no effect after Close
			for _, drivers := range []int{1, 3} {
				q, checked := scanTestQuery(t, drivers)
				q.BatchSize = 333
				s := &planner.Scan{Format: format, Paths: []string{path, path}, Cols: cols, FileCols: fileCols}
				got, _, _ := scanRun(t, q, s, nil)
				slices.Sort(got)
				w2 := make([]string, 0, 2*len(want))
				for _, r := range want {
					w2 = append(w2, r, r)
				}
				if !slices.Equal(got, w2) {
					for i := range got {
						if got[i] != w2[i] {
							t.Fatalf("row %d: got %q, want %q", i, got[i], w2[i])
						}
					}
					t.Fatalf("got %d rows, want %d", len(got), len(w2))
				}
				checked.AssertSize(t, 0)
			}
			ts, err := ReadStats(format, []string{path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if format != planner.FormatCSV && ts.Rows != n {
				t.Errorf("ReadStats rows = %v, want %d", ts.Rows, n)
			}
			if format == planner.FormatCSV && ts.Rows < n { // quoted line breaks count too
				t.Errorf("ReadStats rows = %v, want about %d", ts.Rows, n)
			}
		})
	}
	// no files appear besides the committed ones
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestWriterAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.parquet")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := NewFileWriter(planner.FormatParquet, path, scanTestSchema)
	if err != nil {
		t.Fatal(err)
	}
	b := scanTestBatch(0, 10)
	defer b.Release()
	if err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Fatal("abort replaced the file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("leftover files: %v", entries)
	}
}

func TestScanCSVOptionsAndInference(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("a.csv", "\xef\xbb\xbfId,Price,When,Who,Mixed\r\n1,2.5,2024-01-31,ann,1\r\n2,,2024-02-29,\"b,ob\",x\r\n\r\n-3,1e3,,,2.5\r\n")
	names, types, err := InferSchema(planner.FormatCSV, []string{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"Id", "Price", "When", "Who", "Mixed"}) ||
		!slices.Equal(types, []kernels.Type{kernels.TInt64, kernels.TFloat64, kernels.TDate, kernels.TString, kernels.TString}) {
		t.Fatalf("inferred %v %v", names, types)
	}
	s := &planner.Scan{Format: planner.FormatCSV, Paths: []string{p}, FileCols: []string{"who", "id", "when", "price"}}
	for i, n := range s.FileCols {
		s.Cols = append(s.Cols, planner.Column{ID: planner.ColumnID(i + 1), Name: n, Type: types[scanMatchIdx(names, n)]})
	}
	q, checked := scanTestQuery(t, 1)
	got, _, _ := scanRun(t, q, s, nil)
	slices.Sort(got)
	want := []string{"NULL|-3|NULL|1000", "ann|1|2024-01-31|2.5", "b,ob|2|2024-02-29|NULL"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	checked.AssertSize(t, 0)

	// no header, tab delimiter
	p2 := write("b.tsv", "5\thello\n6\tworld")
	opts := map[string]string{"header": "false", "delim": `\t`}
	names, types, err = InferSchema(planner.FormatCSV, []string{p2}, opts)
	if err != nil || !slices.Equal(names, []string{"column0", "column1"}) || types[0] != kernels.TInt64 {
		t.Fatalf("inferred %v %v %v", names, types, err)
	}
	s2 := &planner.Scan{Format: planner.FormatCSV, Paths: []string{p2}, Options: opts, FileCols: []string{"column1", "column0"},
		Cols: []planner.Column{{ID: 1, Name: "b", Type: kernels.TString}, {ID: 2, Name: "a", Type: kernels.TInt32}}}
	q, checked = scanTestQuery(t, 1)
	got, _, _ = scanRun(t, q, s2, nil)
	if !slices.Equal(got, []string{"hello|5", "world|6"}) {
		t.Fatalf("got %q", got)
	}
	checked.AssertSize(t, 0)
	ts, err := ReadStats(planner.FormatCSV, []string{p2}, opts)
	if err != nil || ts.Rows != 2 {
		t.Fatalf("stats %v %v", ts, err)
	}

	// errors name the file, line and column
	bad := write("bad.csv", "a,b\n1,2\n3,x\n")
	s3 := &planner.Scan{Format: planner.FormatCSV, Paths: []string{bad}, FileCols: []string{"a", "b"},
		Cols: []planner.Column{{ID: 1, Name: "a", Type: kernels.TInt64}, {ID: 2, Name: "b", Type: kernels.TInt64}}}
	for _, c := range []struct{ text, want string }{
		{"a,b\n1,2\n3,x\n", `line 3, column "b": invalid input syntax for type bigint: "x"`},
		{"a,b\n1,2\n3\n", "line 3: expected 2 fields, found 1"},
		{"a,b\n1,\"2\n", "line 2: unterminated quoted field"},
		{"a,b\n1,\"2\"x\n", "line 2: unexpected character"},
		{"a,b\n1,99999999999999999999\n", `line 2, column "b"`},
	} {
		write("bad.csv", c.text)
		q, checked := scanTestQuery(t, 1)
		src, err := NewScan(q, s3)
		if err == nil {
			sink := NewBufferSink(q)
			err = q.Run(context.Background(), &Pipeline{Source: src, Sink: sink})
			sink.Close()
			src.Close()
		}
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got error %v, want %q", c.text, err, c.want)
		}
		checked.AssertSize(t, 0)
	}
	q, checked = scanTestQuery(t, 1)
	defer checked.AssertSize(t, 0)
	if _, err := NewScan(q, &planner.Scan{Format: planner.FormatCSV, Paths: []string{bad}, FileCols: []string{"zz"},
		Cols: []planner.Column{{ID: 1, Name: "zz", Type: kernels.TInt64}}}); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("missing column: %v", err)
	}
}

func scanMatchIdx(names []string, n string) int { return scMatchColumn(names, n) }

func TestScanArrowStream(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.arrows")
	f, _ := os.Create(path)
	w := ipc.NewWriter(f, ipc.WithSchema(scanTestSchema))
	for off := 0; off < 3000; off += 1000 {
		b := scanTestBatch(off, 1000)
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	w.Close()
	f.Close()
	q, checked := scanTestQuery(t, 2)
	defer checked.AssertSize(t, 0)
	names := []string{"id", "s", "dec"}
	got, _, _ := scanRun(t, q, scanTestScan(planner.FormatArrow, []string{path}, names...), nil)
	scanCheckRows(t, got, scanIDs(0, 3000, nil), names...)
	ts, err := ReadStats(planner.FormatArrow, []string{path}, nil)
	if err != nil || ts.Rows != 3000 {
		t.Fatalf("stats %v %v", ts, err)
	}
}

func TestCSVDecimalAndDateParsing(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"1.005", "1.01", true}, {"-1.005", "-1.01", true}, {"12", "12.00", true}, {".5", "0.50", true},
		{"+3.1", "3.10", true}, {"1e2", "100.00", true}, {"abc", "", false}, {"1.2.3", "", false}, {"", "", false},
		{"1234567890123.99", "1234567890123.99", true}, {"12345678901234.5", "", false},
	} {
		v, err := scParseDecimal([]byte(c.in), 15, 2)
		if (err == nil) != c.ok || (c.ok && v.ToString(2) != c.want) {
			t.Errorf("%q: got %s %v", c.in, v.ToString(2), err)
		}
	}
	for _, d := range []int32{-800000, -719468, -1, 0, 1, 59, 10957, 2932896} {
		s := kernels.FormatDate(d)
		if got, ok := scParseDate([]byte(s)); !ok && len(s) == 10 || ok && got != d {
			t.Errorf("%s: got %d ok %v, want %d", s, got, ok, d)
		}
		if len(s) == 10 && string(wrAppendDate(nil, d)) != s {
			t.Errorf("format %d: %s vs %s", d, wrAppendDate(nil, d), s)
		}
	}
	for _, s := range []string{"2023-02-29", "2024-13-01", "2024-00-10", "2024-1-01"} {
		if _, ok := scParseDate([]byte(s)); ok {
			t.Errorf("%s accepted", s)
		}
	}
}

// countSink counts rows.
type scanCountSink struct{ rows atomic.Int64 }

func (s *scanCountSink) Local(ctx context.Context) (SinkLocal, error) { return scanCountLocal{s}, nil }
func (s *scanCountSink) Finalize(ctx context.Context) error           { return nil }
func (s *scanCountSink) Close()                                       {}

type scanCountLocal struct{ s *scanCountSink }

func (l scanCountLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	l.s.rows.Add(in.NumRows())
	return nil
}
func (l scanCountLocal) Combine(ctx context.Context) error { return nil }

// BenchmarkScanLineitem scans the Parquet file named by BELLOWS_LINEITEM
// (e.g. a TPC-H lineitem) with one driver: all columns, the columns of Q1,
// and Q6's columns with its date filter pushed down.
func BenchmarkScanLineitem(b *testing.B) {
	path := os.Getenv("BELLOWS_LINEITEM")
	if path == "" {
		b.Skip("set BELLOWS_LINEITEM to a lineitem Parquet file")
	}
	names, types, err := InferSchema(planner.FormatParquet, []string{path}, nil)
	if err != nil {
		b.Fatal(err)
	}
	mk := func(cols ...string) *planner.Scan {
		s := &planner.Scan{Format: planner.FormatParquet, Paths: []string{path}}
		for i, n := range names {
			if len(cols) > 0 && !slices.Contains(cols, n) {
				continue
			}
			s.Cols = append(s.Cols, planner.Column{ID: planner.ColumnID(i + 1), Name: n, Type: types[i]})
			s.FileCols = append(s.FileCols, n)
		}
		return s
	}
	q6 := mk("l_shipdate", "l_discount", "l_quantity", "l_extendedprice")
	d94, _ := kernels.ParseDate("1994-01-01")
	d95, _ := kernels.ParseDate("1995-01-01")
	sd := scanColOf(q6, "l_shipdate")
	q6.Filter = []*planner.Expr{
		planner.Call("ge", kernels.TBool, sd, planner.Const(kernels.TDate, kernels.Value{I: int64(d94)})),
		planner.Call("lt", kernels.TBool, sd, planner.Const(kernels.TDate, kernels.Value{I: int64(d95)})),
	}
	for _, c := range []struct {
		name string
		s    *planner.Scan
	}{
		{"all", mk()},
		{"q1cols", mk("l_returnflag", "l_linestatus", "l_quantity", "l_extendedprice", "l_discount", "l_tax", "l_shipdate")},
		{"q6filter", q6},
	} {
		b.Run(c.name, func(b *testing.B) {
			rows := int64(0)
			cpu0 := scanCPUNanos()
			for b.Loop() {
				q := NewQueryContext(nil, 0, 1) // the real kernels
				src, err := NewScan(q, c.s)
				if err != nil {
					b.Fatal(err)
				}
				sink := &scanCountSink{}
				if err := q.Run(context.Background(), &Pipeline{Source: src, Sink: sink}); err != nil {
					b.Fatal(err)
				}
				src.Close()
				rows += src.(*ScanSource).RowsRead.Load()
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			if cpu := scanCPUNanos() - cpu0; cpu > 0 {
				b.ReportMetric(float64(rows)/(float64(cpu)/1e9), "rows/cpu-s")
			}
		})
	}
}

func TestScanIdleBetweenSplits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.parquet")
	scanWriteParquet(t, path, 0, 2000, 1000)
	q, checked := scanTestQuery(t, 1)
	defer checked.AssertSize(t, 0)
	q.BatchSize = 400
	src, err := NewScan(q, scanTestScan(planner.FormatParquet, []string{path}, "id"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	l, err := src.Local(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Idle() {
		t.Fatal("a fresh reader is not idle")
	}
	var idle []bool
	for {
		b, err := l.Next(ctx)
		if err != nil {
			break
		}
		idle = append(idle, l.Idle())
		b.Release()
	}
	// two row groups of 400+400+200 rows: idle after each group's last batch
	if want := []bool{false, false, true, false, false, true}; !slices.Equal(idle, want) {
		t.Fatalf("idle after each batch: %v, want %v", idle, want)
	}
}

func TestScanMemoryLimit(t *testing.T) {
	paths := scanTwoFiles(t)
	q := NewQueryContext(nil, 64<<10, 1)
	q.Kernels = scanTestRegistry
	src, err := NewScan(q, scanTestScan(planner.FormatParquet, paths, "id", "s", "dec"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sink := NewBufferSink(q)
	defer sink.Close()
	err = q.Run(context.Background(), &Pipeline{Source: src, Sink: sink})
	var ml *ErrMemoryLimit
	if !errors.As(err, &ml) {
		t.Fatalf("got %v, want a memory limit error", err)
	}
}

func TestScanArrowCorruptMetadata(t *testing.T) {
	// a stream whose schema claims 2^31-1 fields must fail cleanly instead
	// of making the IPC reader allocate without bound
	var stream bytes.Buffer
	w := ipc.NewWriter(&stream, ipc.WithSchema(scanTestSchema))
	b := scanTestBatch(0, 10)
	if err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	b.Release()
	w.Close()
	data := stream.Bytes()
	// locate Schema.fields in the first message and patch its length
	fb := data[8:]
	c := &fbChecker{buf: fb}
	root, _ := c.ref(0)
	hf, _ := c.field(root, 2)
	schema, _ := c.ref(hf)
	ff, _ := c.field(schema, 1)
	vec, err := c.ref(ff)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c.u32(vec); n != scanTestSchema.NumFields() {
		t.Fatalf("found a vector of %d, not the %d fields", n, scanTestSchema.NumFields())
	}
	binary.LittleEndian.PutUint32(fb[vec:], 0x7fffffff)
	path := filepath.Join(t.TempDir(), "bad.arrows")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = InferSchema(planner.FormatArrow, []string{path}, nil)
	if err == nil || !strings.Contains(err.Error(), "bad.arrows") || !errors.Is(err, errBadArrowMetadata) {
		t.Fatalf("got %v", err)
	}
}

// TestScanParquetUnscaledDecimals reads decimals stored as INT32 and
// INT64 (with NULLs) through the path that widens the stored integers,
// and a column read twice under two types, which must not take it.
func TestScanParquetUnscaledDecimals(t *testing.T) {
	d9 := &arrow.Decimal128Type{Precision: 9, Scale: 2}
	d15 := &arrow.Decimal128Type{Precision: 15, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: d9, Nullable: true}, {Name: "b", Type: d15, Nullable: true}}, nil)
	path := filepath.Join(t.TempDir(), "dec.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithStoreDecimalAsInteger(true), parquet.WithMaxRowGroupLength(700)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	const n = 2000
	want := make([]string, n)
	for i := 0; i < n; i++ {
		av, bv := int64(i*37-20000), int64(i)*1_000_000_007-7
		as, bs := decimal128.FromI64(av).ToString(2), decimal128.FromI64(bv).ToString(2)
		if i%9 == 4 {
			b.Field(0).AppendNull()
			as = "NULL"
		} else {
			b.Field(0).(*array.Decimal128Builder).Append(decimal128.FromI64(av))
		}
		if i%13 == 6 {
			b.Field(1).AppendNull()
			bs = "NULL"
		} else {
			b.Field(1).(*array.Decimal128Builder).Append(decimal128.FromI64(bv))
		}
		want[i] = as + "|" + bs + "|" + bs
	}
	rec := b.NewRecordBatch()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	b.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t9, _ := kernels.FromArrow(d9)
	t15, _ := kernels.FromArrow(d15)
	t20 := kernels.DecimalType(20, 2)
	for _, tc := range []struct {
		name     string
		bTypes   [2]kernels.Type
		unscaled bool
	}{{"own types", [2]kernels.Type{t15, t15}, true}, {"b read twice as two types", [2]kernels.Type{t15, t20}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			q, checked := scanTestQuery(t, 2)
			s := &planner.Scan{Table: "t", Format: planner.FormatParquet, Paths: []string{path}}
			for i, c := range []struct {
				file string
				t    kernels.Type
			}{{"a", t9}, {"b", tc.bTypes[0]}, {"b", tc.bTypes[1]}} {
				s.Cols = append(s.Cols, planner.Column{ID: planner.ColumnID(i + 1), Name: fmt.Sprint("c", i), Type: c.t, Nullable: true})
				s.FileCols = append(s.FileCols, c.file)
			}
			got, src, _ := scanRun(t, q, s, nil)
			pf := src.format.(*parquetScan).files[0]
			if pf.unscaled[0] != true || pf.unscaled[1] != tc.unscaled || pf.unscaled[2] != tc.unscaled {
				t.Errorf("unscaled columns %v, want [true %v %v]", pf.unscaled, tc.unscaled, tc.unscaled)
			}
			slices.Sort(got)
			w := append([]string(nil), want...)
			slices.Sort(w)
			if len(got) != len(w) {
				t.Fatalf("%d rows, want %d", len(got), len(w))
			}
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("row %q, want %q", got[i], w[i])
				}
			}
			checked.AssertSize(t, 0)
		})
	}
}

// TestScanFilterOnlyColumns: a column read only for the filter (Scan.Out
// leaves it out) is not emitted, and the kept rows are the same.
func TestScanFilterOnlyColumns(t *testing.T) {
	paths := scanTwoFiles(t)
	s := scanTestScan(planner.FormatParquet, paths, "id", "s", "d")
	s.Filter = []*planner.Expr{planner.Call("eq", kernels.TBool, scanColOf(s, "s"), planner.Const(kernels.TString, kernels.Value{S: "s7"})),
		planner.Call("lt", kernels.TBool, scanColOf(s, "d"), planner.Const(kernels.TDate, kernels.Value{I: 10090}))}
	s.Out = []int{0}
	for _, bs := range []int{7, DefaultBatchSize} {
		q, checked := scanTestQuery(t, 2)
		q.BatchSize = bs
		src, err := NewScan(q, s)
		if err != nil {
			t.Fatal(err)
		}
		sink := NewBufferSink(q)
		if err := q.Run(context.Background(), &Pipeline{Source: src, Sink: sink}); err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, b := range sink.Batches() {
			if b.NumCols() != 1 || b.Schema().Field(0).Name != "id" {
				t.Fatalf("batch schema %s, want only id", b.Schema())
			}
			for _, v := range b.Column(0).(*array.Int64).Int64Values() {
				got = append(got, int(v))
			}
		}
		slices.Sort(got)
		want := scanIDs(0, 10000, func(i int) bool { return i%11 != 5 && i%50 == 7 && 10000+i/100 < 10090 })
		if !slices.Equal(got, want) {
			t.Fatalf("batch size %d: ids %v, want %v", bs, got, want)
		}
		sink.Close()
		src.Close()
		checked.AssertSize(t, 0)
	}
}
