package exec

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// ---------------------------------------------------------------------------
// Test helpers shared by the sort/top-n/limit/window/set-op/values/single/
// filter/project tests (prefix sx).

var sxBatchSizes = []int{1, 3, 8192}
var sxDriverCounts = []int{1, 4}

// sxCase runs fn for every batch size and driver count with a checked
// allocator that must end empty.
func sxCase(t *testing.T, fn func(t *testing.T, q *QueryContext, bs, drivers int)) {
	for _, bs := range sxBatchSizes {
		for _, d := range sxDriverCounts {
			t.Run(fmt.Sprintf("bs%d/d%d", bs, d), func(t *testing.T) {
				checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer checked.AssertSize(t, 0)
				q := NewQueryContext(checked, 0, d)
				q.BatchSize = bs
				fn(t, q, bs, d)
				if u := q.Pool.Used(); u != 0 {
					t.Errorf("pool still holds %d bytes", u)
				}
			})
		}
	}
}

func sxCols(types ...kernels.Type) []planner.Column {
	cols := make([]planner.Column, len(types))
	for i, t := range types {
		cols[i] = planner.Column{ID: planner.ColumnID(i + 1), Name: fmt.Sprintf("c%d", i+1), Type: t, Nullable: true}
	}
	return cols
}

// sxMake builds batches of bs rows holding rows.
func sxMake(q *QueryContext, cols []planner.Column, rows [][]kernels.Value, bs int) []arrow.RecordBatch {
	schema := schemaOf(cols)
	var out []arrow.RecordBatch
	for lo := 0; lo < len(rows); lo += bs {
		hi := min(lo+bs, len(rows))
		arrs := make([]arrow.Array, len(cols))
		for c, col := range cols {
			b := array.NewBuilder(q.Alloc, col.Type.Arrow())
			for _, r := range rows[lo:hi] {
				kernels.AppendValue(b, col.Type, r[c])
			}
			arrs[c] = b.NewArray()
			b.Release()
		}
		out = append(out, array.NewRecordBatch(schema, arrs, int64(hi-lo)))
		releaseAll(arrs)
	}
	return out
}

func sxRelease(bs []arrow.RecordBatch) {
	for _, b := range bs {
		b.Release()
	}
}

// sxRows reads batches back as values (strings copied).
func sxRows(t testing.TB, batches []arrow.RecordBatch) [][]kernels.Value {
	var rows [][]kernels.Value
	for _, b := range batches {
		types := make([]kernels.Type, b.NumCols())
		for c := range types {
			ty, err := kernels.FromArrow(b.Column(c).DataType())
			if err != nil {
				t.Fatal(err)
			}
			types[c] = ty
		}
		for r := 0; r < int(b.NumRows()); r++ {
			row := make([]kernels.Value, b.NumCols())
			for c := range row {
				v := kernels.ValueAt(b.Column(c), types[c], r)
				v.S = strings.Clone(v.S)
				row[c] = v
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// sxRun runs a pipeline over batches (not released) into sink.
func sxRun(q *QueryContext, batches []arrow.RecordBatch, ops []Operator, sink Sink, maxDrivers int) error {
	src := NewBatchSource(func() []arrow.RecordBatch { return batches })
	return q.Run(context.Background(), &Pipeline{Source: src, Ops: ops, Sink: sink, MaxDrivers: maxDrivers})
}

// sxDrain reads src with one driver and returns its rows and batch sizes.
func sxDrain(t testing.TB, q *QueryContext, src Source) ([][]kernels.Value, []int) {
	buf := NewBufferSink(q)
	defer buf.Close()
	if err := q.Run(context.Background(), &Pipeline{Source: src, Sink: buf, MaxDrivers: 1}); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, b := range buf.Batches() {
		sizes = append(sizes, int(b.NumRows()))
	}
	return sxRows(t, buf.Batches()), sizes
}

var sxDec = kernels.DecimalType(38, 2)

// sxGen returns a random value of t: NULL with probability nullP, else from
// a domain of about dom values (with large decimals, long shared string
// prefixes, NaN and -0 mixed in).
func sxGen(r *rand.Rand, t kernels.Type, nullP float64, dom int) kernels.Value {
	if r.Float64() < nullP {
		return kernels.NullValue
	}
	x := int64(r.Intn(dom) - dom/2)
	switch t.ID {
	case kernels.Bool:
		return kernels.Value{I: int64(r.Intn(2))}
	case kernels.Int16, kernels.Int32, kernels.Int64, kernels.Date:
		return kernels.Value{I: x}
	case kernels.Timestamp:
		return kernels.Value{I: x * 1_000_000}
	case kernels.Float32, kernels.Float64:
		switch r.Intn(20) {
		case 0:
			return kernels.Value{F: math.NaN()}
		case 1:
			return kernels.Value{F: math.Copysign(0, -1)}
		}
		return kernels.Value{F: float64(x) / 4}
	case kernels.Decimal:
		if r.Intn(5) == 0 {
			return kernels.DecValue(decimal128.New(int64(r.Intn(5)-2), uint64(r.Intn(dom))<<40))
		}
		return kernels.DecValue(decimal128.FromI64(x * 25))
	case kernels.String:
		pre := []string{"", "abcdefgh", "abcdefghij", "Z"}[r.Intn(4)]
		return kernels.Value{S: fmt.Sprintf("%s%d", pre, x)}
	}
	panic("sxGen: type")
}

func sxGenRows(r *rand.Rand, cols []planner.Column, n int, nullP float64, dom int) [][]kernels.Value {
	rows := make([][]kernels.Value, n)
	for i := range rows {
		row := make([]kernels.Value, len(cols))
		for c, col := range cols {
			row[c] = sxGen(r, col.Type, nullP, dom)
		}
		rows[i] = row
	}
	return rows
}

// sxCmpVal compares non-NULL values of type t.
func sxCmpVal(t kernels.Type, a, b kernels.Value) int {
	switch t.ID {
	case kernels.Float32, kernels.Float64:
		an, bn := math.IsNaN(a.F), math.IsNaN(b.F)
		switch {
		case an && bn:
			return 0
		case an:
			return 1
		case bn:
			return -1
		}
		if a.F < b.F {
			return -1
		}
		if a.F > b.F {
			return 1
		}
		return 0
	case kernels.Decimal:
		return a.Dec.Cmp(b.Dec)
	case kernels.String:
		return strings.Compare(a.S, b.S)
	}
	if a.I < b.I {
		return -1
	}
	if a.I > b.I {
		return 1
	}
	return 0
}

type sxKey struct {
	col              int
	t                kernels.Type
	desc, nullsFirst bool
}

func sxCmpKeys(keys []sxKey, a, b []kernels.Value) int {
	for _, k := range keys {
		x, y := a[k.col], b[k.col]
		var c int
		switch {
		case x.Null && y.Null:
		case x.Null:
			c = 1
			if k.nullsFirst {
				c = -1
			}
		case y.Null:
			c = -1
			if k.nullsFirst {
				c = 1
			}
		default:
			c = sxCmpVal(k.t, x, y)
			if k.desc {
				c = -c
			}
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func sxRowKey(row []kernels.Value) string {
	var b strings.Builder
	for _, v := range row {
		if v.Null {
			b.WriteString("N|")
			continue
		}
		if math.IsNaN(v.F) {
			v.F = math.NaN()
		}
		fmt.Fprintf(&b, "%d/%v/%q/%d/%d|", v.I, v.F, v.S, v.Dec.HighBits(), v.Dec.LowBits())
	}
	return b.String()
}

// sxSameMultiset reports a difference between two row multisets.
func sxSameMultiset(t *testing.T, got, want [][]kernels.Value) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	m := map[string]int{}
	for _, r := range want {
		m[sxRowKey(r)]++
	}
	for _, r := range got {
		k := sxRowKey(r)
		if m[k] == 0 {
			t.Fatalf("unexpected row %s", k)
		}
		m[k]--
	}
}

// sxCheckSorted checks that got holds the rows of want[lo:hi] of the
// reference order: same key sequence, rows from the input.
func sxCheckSorted(t *testing.T, keys []sxKey, input, got [][]kernels.Value, lo, hi int) {
	t.Helper()
	ref := slices.Clone(input)
	sort.SliceStable(ref, func(i, j int) bool { return sxCmpKeys(keys, ref[i], ref[j]) < 0 })
	lo, hi = min(lo, len(ref)), min(hi, len(ref))
	want := ref[lo:hi]
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if sxCmpKeys(keys, got[i], want[i]) != 0 {
			t.Fatalf("row %d: keys of %s, want those of %s", i, sxRowKey(got[i]), sxRowKey(want[i]))
		}
	}
	// The rows themselves: a sub-multiset of the input; with the whole
	// input, the same multiset.
	if lo == 0 && hi == len(ref) {
		sxSameMultiset(t, got, input)
		return
	}
	m := map[string]int{}
	for _, r := range input {
		m[sxRowKey(r)]++
	}
	for _, r := range got {
		k := sxRowKey(r)
		if m[k] == 0 {
			t.Fatalf("row %s not in the input", k)
		}
		m[k]--
	}
}

func sxSortKeys(cols []planner.Column, keys []sxKey) []planner.SortKey {
	out := make([]planner.SortKey, len(keys))
	for i, k := range keys {
		out[i] = planner.SortKey{Expr: planner.Col(cols[k.col]), Desc: k.desc, NullsFirst: k.nullsFirst}
	}
	return out
}

// ---------------------------------------------------------------------------
// Sort.

var sxSortTypes = []kernels.Type{kernels.TInt64, kernels.TString, sxDec, kernels.TDate, kernels.TFloat64, kernels.TTimestamp, kernels.TInt32, kernels.TBool}

var sxSortKeySets = [][]sxKey{
	{{col: 0}},
	{{col: 0, desc: true, nullsFirst: true}, {col: 1}},
	{{col: 1, desc: true}, {col: 2, nullsFirst: true}, {col: 0}},
	{{col: 2, desc: true, nullsFirst: false}, {col: 3, desc: false, nullsFirst: true}, {col: 1}},
	{{col: 3}, {col: 4, desc: true}, {col: 5, nullsFirst: true}, {col: 6, desc: true}, {col: 7}},
	{{col: 4, nullsFirst: true}, {col: 1, desc: true, nullsFirst: true}},
	{{col: 1}, {col: 0, desc: true}},
	// Large groups of equal first keys (radix on the second key).
	{{col: 7}, {col: 1, desc: true}, {col: 0}},
	{{col: 7, desc: true, nullsFirst: true}, {col: 0}, {col: 3, desc: true}},
	{{col: 7}, {col: 2, nullsFirst: true}},
}

func TestSortRandom(t *testing.T) {
	cols := sxCols(sxSortTypes...)
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		r := rand.New(rand.NewSource(int64(bs*10 + drivers)))
		for ki, ks := range sxSortKeySets {
			for i := range ks {
				ks[i].t = cols[ks[i].col].Type
			}
			n := 300
			switch {
			case ki >= 7:
				n = 700 // groups of equal booleans above the radix threshold
			case ki%3 == 1:
				n = 40 // below the radix threshold
			}
			rows := sxGenRows(r, cols, n, 0.15, 30)
			in := sxMake(q, cols, rows, bs)
			s, err := NewSort(q, cols, sxSortKeys(cols, ks))
			if err != nil {
				t.Fatal(err)
			}
			if err := sxRun(q, in, nil, s, 0); err != nil {
				t.Fatal(err)
			}
			sxRelease(in)
			got, sizes := sxDrain(t, q, s.Source())
			s.Close()
			sxCheckSorted(t, ks, rows, got, 0, n)
			for i, sz := range sizes {
				if sz > bs || (sz < bs && i != len(sizes)-1) {
					t.Fatalf("batch sizes %v for batch size %d", sizes, bs)
				}
			}
		}
	})
}

func TestSortExprKeyAndEmpty(t *testing.T) {
	cols := sxCols(kernels.TInt64, kernels.TString)
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		r := rand.New(rand.NewSource(7))
		rows := sxGenRows(r, cols, 300, 0.3, 50)
		// ORDER BY COALESCE(c1, 1000) DESC, c2
		coalesce := &planner.Expr{Kind: planner.ECoalesce, Type: kernels.TInt64, Args: []*planner.Expr{planner.Col(cols[0]), planner.Const(kernels.TInt64, kernels.Value{I: 1000})}}
		s, err := NewSort(q, cols, []planner.SortKey{{Expr: coalesce, Desc: true}, {Expr: planner.Col(cols[1])}})
		if err != nil {
			t.Fatal(err)
		}
		in := sxMake(q, cols, rows, bs)
		if err := sxRun(q, in, nil, s, 0); err != nil {
			t.Fatal(err)
		}
		sxRelease(in)
		got, _ := sxDrain(t, q, s.Source())
		s.Close()
		ref := make([][]kernels.Value, len(rows))
		for i, row := range rows {
			c := row[0]
			if c.Null {
				c = kernels.Value{I: 1000}
			}
			ref[i] = append([]kernels.Value{c}, row...)
		}
		gotX := make([][]kernels.Value, len(got))
		for i, row := range got {
			c := row[0]
			if c.Null {
				c = kernels.Value{I: 1000}
			}
			gotX[i] = append([]kernels.Value{c}, row...)
		}
		sxCheckSorted(t, []sxKey{{col: 0, t: kernels.TInt64, desc: true}, {col: 2, t: kernels.TString}}, ref, gotX, 0, len(ref))

		// Empty input.
		s2, _ := NewSort(q, cols, sxSortKeys(cols, []sxKey{{col: 0}}))
		if err := sxRun(q, nil, nil, s2, 0); err != nil {
			t.Fatal(err)
		}
		got, _ = sxDrain(t, q, s2.Source())
		s2.Close()
		if len(got) != 0 {
			t.Fatalf("empty sort gave %d rows", len(got))
		}
	})
}

func TestSortCloseWithoutFinalize(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 2)
	cols := sxCols(kernels.TInt64, kernels.TString)
	rows := sxGenRows(rand.New(rand.NewSource(1)), cols, 100, 0.1, 10)
	in := sxMake(q, cols, rows, 7)
	defer func() { sxRelease(in) }()
	s, _ := NewSort(q, cols, sxSortKeys(cols, []sxKey{{col: 1}}))
	l, _ := s.Local(context.Background())
	for _, b := range in[:3] {
		if err := l.Consume(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	l2, _ := s.Local(context.Background())
	_ = l2.Consume(context.Background(), in[4])
	_ = l2.Combine(context.Background())
	s.Close()
	sxRelease(in)
	in = nil
	if u := q.Pool.Used(); u != 0 {
		t.Fatalf("pool holds %d bytes", u)
	}
}

func TestSortMemoryLimit(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	cols := sxCols(kernels.TInt64, kernels.TString)
	q0 := NewQueryContext(checked, 0, 1)
	rows := sxGenRows(rand.New(rand.NewSource(1)), cols, 20000, 0.1, 1000)
	in := sxMake(q0, cols, rows, 1024)
	defer sxRelease(in)
	q := NewQueryContext(checked, 200_000, 2)
	q.NoSpill = true
	s, _ := NewSort(q, cols, sxSortKeys(cols, []sxKey{{col: 1}}))
	err := sxRun(q, in, nil, s, 0)
	var ml *ErrMemoryLimit
	if !errors.As(err, &ml) {
		t.Fatalf("want a memory limit error, got %v", err)
	}
	s.Close()
	if u := q.Pool.Used(); u != 0 {
		t.Fatalf("pool holds %d bytes", u)
	}
}

// ---------------------------------------------------------------------------
// Top-N.

func TestTopNRandom(t *testing.T) {
	cols := sxCols(sxSortTypes...)
	type lo struct{ limit, offset int64 }
	cases := []lo{{10, 0}, {7, 5}, {0, 3}, {1, 0}, {100, 350}, {5000, 2}, {-1, 20}, {250, 100}}
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		r := rand.New(rand.NewSource(int64(bs + drivers)))
		for ci, c := range cases {
			ks := sxSortKeySets[ci%len(sxSortKeySets)]
			for i := range ks {
				ks[i].t = cols[ks[i].col].Type
			}
			n := 400
			rows := sxGenRows(r, cols, n, 0.15, 30)
			in := sxMake(q, cols, rows, bs)
			tn, err := NewTopN(q, cols, sxSortKeys(cols, ks), c.limit, c.offset)
			if err != nil {
				t.Fatal(err)
			}
			if err := sxRun(q, in, nil, tn, 0); err != nil {
				t.Fatal(err)
			}
			sxRelease(in)
			got, _ := sxDrain(t, q, tn.Source())
			tn.Close()
			hi := n
			if c.limit >= 0 {
				hi = int(c.offset + c.limit)
			}
			sxCheckSorted(t, ks, rows, got, int(c.offset), hi)
		}
	})
}

// TestTopNBounded checks that a driver's buffer stays bounded.
func TestTopNBounded(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 1)
	q.BatchSize = 100
	cols := sxCols(kernels.TInt64, kernels.TString)
	ks := []sxKey{{col: 0, t: kernels.TInt64}, {col: 1, t: kernels.TString, desc: true}}
	tn, _ := NewTopN(q, cols, sxSortKeys(cols, ks), 10, 5)
	sl, _ := tn.Local(context.Background())
	l := sl.(*topNLocal)
	r := rand.New(rand.NewSource(3))
	var all [][]kernels.Value
	for i := 0; i < 200; i++ {
		rows := sxGenRows(r, cols, 100, 0.05, 100000)
		all = append(all, rows...)
		in := sxMake(q, cols, rows, 100)
		if err := l.Consume(context.Background(), in[0]); err != nil {
			t.Fatal(err)
		}
		sxRelease(in)
		if l.st.n > 15+max(15, q.BatchSize) {
			t.Fatalf("local buffer holds %d rows", l.st.n)
		}
	}
	if err := l.Combine(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tn.Finalize(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := sxDrain(t, q, tn.Source())
	tn.Close()
	sxCheckSorted(t, ks, all, got, 5, 15)
}

// ---------------------------------------------------------------------------
// Benchmark: 1M rows by (int64, string).

func BenchmarkSort1M(b *testing.B) {
	const n = 1 << 20
	cols := sxCols(kernels.TInt64, kernels.TString)
	r := rand.New(rand.NewSource(1))
	q := NewQueryContext(nil, 0, 1)
	rows := make([][]kernels.Value, n)
	for i := range rows {
		rows[i] = []kernels.Value{{I: r.Int63n(100_000)}, {S: fmt.Sprintf("s%09d", r.Intn(1_000_000_000))}}
	}
	in := sxMake(q, cols, rows, DefaultBatchSize)
	defer sxRelease(in)
	keys := []sxKey{{col: 0}, {col: 1, desc: true}}
	// The sort step alone: prefixes, radix sort, tie-breaks.
	b.Run("sortRows", func(b *testing.B) {
		evs, specs, err := compileKeys(q, cols, sxSortKeys(cols, keys))
		if err != nil {
			b.Fatal(err)
		}
		st := newRowStore("bench", specs)
		defer st.release(q)
		for _, batch := range in {
			ks, _ := evalAll(q, evs, batch)
			if err := st.add(q, batch, ks); err != nil {
				b.Fatal(err)
			}
		}
		ents, tmp := make([]sortEnt, n), make([]sortEnt, n)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			sortRows(specs, st.keys, ents, tmp)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
	})
	// End to end: consume, sort, merge, gather the output batches.
	for _, d := range []int{1, 2} {
		b.Run(fmt.Sprintf("pipeline/drivers%d", d), func(b *testing.B) {
			q.SetParallelism(d)
			for i := 0; i < b.N; i++ {
				s, _ := NewSort(q, cols, sxSortKeys(cols, keys))
				if err := sxRun(q, in, nil, s, 0); err != nil {
					b.Fatal(err)
				}
				src := s.Source()
				loc, _ := src.Local(context.Background())
				for {
					out, err := loc.Next(context.Background())
					if err != nil {
						break
					}
					out.Release()
				}
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
		})
	}
}

func sxRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }

// sxRunSource runs a pipeline from src into sink.
func sxRunSource(q *QueryContext, src Source, ops []Operator, sink Sink, maxDrivers int) error {
	return q.Run(context.Background(), &Pipeline{Source: src, Ops: ops, Sink: sink, MaxDrivers: maxDrivers})
}

// TestSortRowsGroups drives sortRows directly over group sizes around the
// radix and insertion-sort thresholds.
func TestSortRowsGroups(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 1)
	cols := sxCols(kernels.TInt64, kernels.TString, sxDec, kernels.TFloat64, kernels.TInt64)
	keySets := [][]sxKey{
		{{col: 4}, {col: 0}},
		{{col: 0}, {col: 4, desc: true}},
		{{col: 0}, {col: 1}},
		{{col: 0, desc: true, nullsFirst: true}, {col: 3, desc: true}, {col: 1}},
		{{col: 2}, {col: 0}},
		{{col: 3, nullsFirst: true}, {col: 2, desc: true}},
		{{col: 1, desc: true}, {col: 0, nullsFirst: true}},
	}
	r := sxRand(11)
	for _, n := range []int{0, 1, 2, 17, 255, 256, 1000, 6000} {
		for _, dom := range []int{1, 3, 40, 100000} {
			for _, ks := range keySets {
				for i := range ks {
					ks[i].t = cols[ks[i].col].Type
				}
				rows := sxGenRows(r, cols, n, 0.1, dom)
				for _, row := range rows {
					if v := &row[1]; dom > 1000 && !v.Null {
						// Long shared prefixes: MSD refinement over 8-byte steps.
						v.S = fmt.Sprintf("Customer#%012d%s", len(v.S)%3, v.S)
					}
					if v := &row[4]; v.Null || v.I < 0 {
						*v = kernels.Value{I: int64(len(v.S)) + v.I*v.I} // non-negative, no NULL: one radix pass
					}
				}
				in := sxMake(q, cols, rows, max(n, 1))
				evs, specs, err := compileKeys(q, cols, sxSortKeys(cols, ks))
				if err != nil {
					t.Fatal(err)
				}
				st := newRowStore("test", specs)
				for _, b := range in {
					keys, _ := evalAll(q, evs, b)
					if err := st.add(q, b, keys); err != nil {
						t.Fatal(err)
					}
				}
				sxRelease(in)
				ents, _ := sortRows(specs, st.keys, make([]sortEnt, n), make([]sortEnt, n))
				seen := make([]bool, n)
				for i, e := range ents {
					if seen[e.i] {
						t.Fatalf("row %d twice", e.i)
					}
					seen[e.i] = true
					if i > 0 && sxCmpKeys(ks, rows[ents[i-1].i], rows[e.i]) > 0 {
						t.Fatalf("n=%d dom=%d keys %v: rows %d and %d out of order: %s > %s", n, dom, ks, i-1, i, sxRowKey(rows[ents[i-1].i]), sxRowKey(rows[e.i]))
					}
				}
				st.release(q)
			}
		}
	}
}

// TestTopNManyLocals merges the runs of many drivers that came and went.
func TestTopNManyLocals(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 1)
	q.BatchSize = 16
	cols := sxCols(kernels.TString, kernels.TInt64)
	ks := []sxKey{{col: 0, t: kernels.TString, desc: true, nullsFirst: true}, {col: 1, t: kernels.TInt64}}
	tn, _ := NewTopN(q, cols, sxSortKeys(cols, ks), 20, 3)
	r := sxRand(9)
	var all [][]kernels.Value
	ctx := context.Background()
	for d := 0; d < 30; d++ {
		l, _ := tn.Local(ctx)
		rows := sxGenRows(r, cols, 40, 0.1, 50)
		all = append(all, rows...)
		in := sxMake(q, cols, rows, 16)
		for _, b := range in {
			if err := l.Consume(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		sxRelease(in)
		if err := l.Combine(ctx); err != nil {
			t.Fatal(err)
		}
		if len(tn.runs) >= maxTopNRuns {
			t.Fatalf("%d runs kept", len(tn.runs))
		}
	}
	if err := tn.Finalize(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := sxDrain(t, q, tn.Source())
	tn.Close()
	sxCheckSorted(t, ks, all, got, 3, 23)
}

func TestRowStoreRefs(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 1)
	cols := sxCols(kernels.TInt64)
	for _, sizes := range [][]int{{4}, {4, 4, 4, 2}, {4, 4, 7}, {3, 3, 5, 1, 3}, {1, 2, 3}, {5, 5, 5, 5}} {
		st := newRowStore("test", []keySpec{{kind: kInt}})
		var want []rowRef
		for b, n := range sizes {
			rows := make([][]kernels.Value, n)
			for i := range rows {
				rows[i] = []kernels.Value{{I: int64(i)}}
				want = append(want, rowRef{uint32(b), uint32(i)})
			}
			in := sxMake(q, cols, rows, n)
			keys, _ := evalAll(q, []*Evaluator{{root: &colNode{i: 0}, Type: kernels.TInt64}}, in[0])
			if err := st.add(q, in[0], keys); err != nil {
				t.Fatal(err)
			}
			sxRelease(in)
		}
		for i, w := range want {
			if got := st.ref(uint32(i)); got != w {
				t.Fatalf("sizes %v: row %d is %v, want %v", sizes, i, got, w)
			}
		}
		st.release(q)
	}
}

// TestSortMergeRuns merges runs whose second keys lie in different ranges
// (their p1 prefixes keep different bits) or hold NULLs.
func TestSortMergeRuns(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 1)
	q.BatchSize = 50
	cols := sxCols(kernels.TInt32, kernels.TInt64, kernels.TString, sxDec)
	ctx := context.Background()
	r := sxRand(4)
	for _, ks := range [][]sxKey{
		{{col: 0}, {col: 1}, {col: 2}},
		{{col: 0, desc: true}, {col: 1, desc: true, nullsFirst: true}},
		{{col: 0}, {col: 3}, {col: 1, desc: true}},
		{{col: 0, nullsFirst: true}, {col: 2, desc: true}, {col: 1}},
	} {
		for i := range ks {
			ks[i].t = cols[ks[i].col].Type
		}
		s, _ := NewSort(q, cols, sxSortKeys(cols, ks))
		var all [][]kernels.Value
		for d := 0; d < 6; d++ {
			nullP := 0.0
			if d == 0 {
				nullP = 0.1 // NULLs: p1 keeps the top bits
			}
			rows := sxGenRows(r, cols, 300+d, nullP, 3)
			for _, row := range rows {
				if row[1].Null {
					continue
				}
				row[1].I++ // 0..2
				switch d % 3 {
				case 1:
					row[1].I += 1 << 40 // same kept bits, other high bits
				case 2:
					row[1].I = row[1].I<<34 | int64(5+2*(d%2)) // other low bits
				}
				if d%2 == 1 && !row[3].Null {
					row[3] = kernels.DecValue(decimal128.FromI64(row[1].I))
				}
			}
			all = append(all, rows...)
			l, _ := s.Local(ctx)
			in := sxMake(q, cols, rows, 50)
			for _, b := range in {
				if err := l.Consume(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			sxRelease(in)
			if err := l.Combine(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Finalize(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := sxDrain(t, q, s.Source())
		s.Close()
		sxCheckSorted(t, ks, all, got, 0, len(all))
	}
}
