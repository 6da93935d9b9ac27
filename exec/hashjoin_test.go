package exec

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// --- test fixtures ---

// hjReg is a kernel registry with the one comparison the tests' residuals use.
var hjReg = func() *kernels.Registry {
	r := kernels.NewRegistry()
	r.Register("cpu", "lt", kernels.Exact(kernels.TBool, hjLess, kernels.Int64, kernels.Int64))
	return r
}()

// hjLess is the residual kernel: args[0] < args[1] over bigint columns.
func hjLess(ctx *kernels.Context, args []arrow.Array, n int) (arrow.Array, error) {
	b := array.NewBooleanBuilder(ctx.Alloc)
	defer b.Release()
	for i := 0; i < n; i++ {
		x, y := kernels.ValueAt(args[0], kernels.TInt64, i%args[0].Len()), kernels.ValueAt(args[1], kernels.TInt64, i%args[1].Len())
		if x.Null || y.Null {
			b.AppendNull()
		} else {
			b.Append(x.I < y.I)
		}
	}
	return b.NewArray(), nil
}

func hjCols(base planner.ColumnID, prefix string, types ...kernels.Type) []planner.Column {
	cols := make([]planner.Column, len(types))
	for i, t := range types {
		cols[i] = planner.Column{ID: base + planner.ColumnID(i), Name: fmt.Sprintf("%s%d", prefix, i), Type: t, Nullable: true}
	}
	return cols
}

// Left: (k1 bigint, k2 text, v bigint); right: (k1 bigint, k2 text, w bigint).
var (
	hjL = hjCols(1, "l", kernels.TInt64, kernels.TString, kernels.TInt64)
	hjR = hjCols(11, "r", kernels.TInt64, kernels.TString, kernels.TInt64)
)

type hjRow []kernels.Value

// hjBatches builds batches of at most bs rows; with sliced set, they are
// slices of one larger batch (non-zero offsets).
func hjBatches(mem memory.Allocator, cols []planner.Column, rows []hjRow, bs int, sliced bool) []arrow.RecordBatch {
	sch := hjSchema(cols)
	mk := func(rows []hjRow) arrow.RecordBatch {
		arrs := make([]arrow.Array, len(cols))
		for c, col := range cols {
			b := array.NewBuilder(mem, col.Type.Arrow())
			for _, r := range rows {
				kernels.AppendValue(b, col.Type, r[c])
			}
			arrs[c] = b.NewArray()
			b.Release()
		}
		rb := array.NewRecordBatch(sch, arrs, int64(len(rows)))
		releaseAll(arrs)
		return rb
	}
	var out []arrow.RecordBatch
	if sliced && len(rows) > 0 {
		// A leading row that no batch uses gives every slice an offset.
		all := mk(append([]hjRow{rows[0]}, rows...))
		for i := 0; i < len(rows); i += bs {
			out = append(out, all.NewSlice(int64(i+1), int64(min(i+bs, len(rows))+1)))
		}
		all.Release()
		return out
	}
	for i := 0; i < len(rows); i += bs {
		out = append(out, mk(rows[i:min(i+bs, len(rows))]))
	}
	return out
}

func releaseBatches(bs []arrow.RecordBatch) {
	for _, b := range bs {
		b.Release()
	}
}

func hjRender(vals []kernels.Value, types []kernels.Type) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = v.Format(types[i])
	}
	return strings.Join(s, "|")
}

func hjRenderBatches(t testing.TB, bs []arrow.RecordBatch) []string {
	var out []string
	for _, b := range bs {
		types := make([]kernels.Type, b.NumCols())
		for c := range types {
			var err error
			if types[c], err = kernels.FromArrow(b.Column(c).DataType()); err != nil {
				t.Fatal(err)
			}
		}
		for r := 0; r < int(b.NumRows()); r++ {
			vals := make([]kernels.Value, b.NumCols())
			for c := range vals {
				vals[c] = kernels.ValueAt(b.Column(c), types[c], r)
			}
			out = append(out, hjRender(vals, types))
		}
	}
	sort.Strings(out)
	return out
}

// hjSpec describes one join for the engine and the reference.
type hjSpec struct {
	kind      planner.JoinKind
	keys      [][2]int // (left column, right column) equalities
	residual  bool     // left.v < right.w
	never     bool     // residual is the constant FALSE (overrides residual)
	rightOnly bool     // residual is 3 < right.w (overrides residual)
	leftOnly  bool     // residual is left.v < 3 (overrides residual)
	nullAware bool
}

func (s hjSpec) String() string {
	return fmt.Sprintf("%s/keys=%v/res=%v/na=%v", s.kind, s.keys, s.residual, s.nullAware)
}

func (s hjSpec) exprs(left, right []planner.Column) (lk, rk []*planner.Expr, res *planner.Expr) {
	for _, k := range s.keys {
		lk = append(lk, planner.Col(left[k[0]]))
		rk = append(rk, planner.Col(right[k[1]]))
	}
	if s.residual {
		res = planner.Call("lt", kernels.TBool, planner.Col(left[2]), planner.Col(right[2]))
	}
	if s.never {
		res = planner.BoolConst(false)
	}
	if s.rightOnly {
		res = planner.Call("lt", kernels.TBool, planner.Const(kernels.TInt64, kernels.Value{I: 3}), planner.Col(right[2]))
	}
	if s.leftOnly {
		res = planner.Call("lt", kernels.TBool, planner.Col(left[2]), planner.Const(kernels.TInt64, kernels.Value{I: 3}))
	}
	return
}

func hjKeyOf(v kernels.Value, t kernels.Type) string { return kernels.KeyOf(v, t) }

// hjReference is a nested-loop join with the specified semantics.
func hjReference(s hjSpec, left, right []planner.Column, lrows, rrows []hjRow) ([]string, error) {
	lt := make([]kernels.Type, len(left))
	for i, c := range left {
		lt[i] = c.Type
	}
	rt := make([]kernels.Type, len(right))
	for i, c := range right {
		rt[i] = c.Type
	}
	keyNull := func(r hjRow, side int) bool {
		for _, k := range s.keys {
			if r[k[side]].Null {
				return true
			}
		}
		return false
	}
	match := func(l, r hjRow) bool {
		if s.never {
			return false
		}
		if s.rightOnly && (r[2].Null || !(3 < r[2].I)) {
			return false
		}
		if s.leftOnly && (l[2].Null || !(l[2].I < 3)) {
			return false
		}
		for _, k := range s.keys {
			a, b := l[k[0]], r[k[1]]
			if a.Null || b.Null || hjKeyOf(a, lt[k[0]]) != hjKeyOf(b, rt[k[1]]) {
				return false
			}
		}
		if s.residual {
			a, b := l[2], r[2]
			if a.Null || b.Null || !(a.I < b.I) {
				return false
			}
		}
		return true
	}
	nullsOf := func(n int) []kernels.Value {
		v := make([]kernels.Value, n)
		for i := range v {
			v[i] = kernels.NullValue
		}
		return v
	}
	both := append(append([]kernels.Type{}, lt...), rt...)
	buildNull := false
	for _, r := range rrows {
		if keyNull(r, 1) {
			buildNull = true
		}
	}
	var out []string
	rmatched := make([]bool, len(rrows))
	for _, l := range lrows {
		cnt := 0
		for ri, r := range rrows {
			if !match(l, r) {
				continue
			}
			cnt++
			rmatched[ri] = true
			switch s.kind {
			case planner.JoinInner, planner.JoinLeft, planner.JoinRight, planner.JoinFull, planner.JoinSingle:
				out = append(out, hjRender(append(append([]kernels.Value{}, l...), r...), both))
			}
		}
		switch s.kind {
		case planner.JoinLeft, planner.JoinFull, planner.JoinSingle:
			if s.kind == planner.JoinSingle && cnt > 1 {
				return nil, errHJSingle
			}
			if cnt == 0 {
				out = append(out, hjRender(append(append([]kernels.Value{}, l...), nullsOf(len(right))...), both))
			}
		case planner.JoinSemi:
			if cnt > 0 {
				out = append(out, hjRender(l, lt))
			}
		case planner.JoinAnti:
			keep := cnt == 0
			if s.nullAware {
				keep = len(rrows) == 0 || (cnt == 0 && !keyNull(l, 0) && !buildNull)
			}
			if keep {
				out = append(out, hjRender(l, lt))
			}
		case planner.JoinMark:
			m := kernels.Value{}
			switch {
			case cnt > 0:
				m.I = 1
			case s.nullAware && len(rrows) > 0 && (keyNull(l, 0) || buildNull):
				m = kernels.NullValue
			}
			out = append(out, hjRender(append(append([]kernels.Value{}, l...), m), append(append([]kernels.Type{}, lt...), kernels.TBool)))
		}
	}
	if s.kind == planner.JoinRight || s.kind == planner.JoinFull {
		for ri, r := range rrows {
			if !rmatched[ri] {
				out = append(out, hjRender(append(nullsOf(len(left)), r...), both))
			}
		}
	}
	if s.kind == planner.JoinRightSemi || s.kind == planner.JoinRightAnti {
		for ri, r := range rrows {
			if rmatched[ri] == (s.kind == planner.JoinRightSemi) {
				out = append(out, hjRender(r, rt))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// hjRun builds with rb and probes with lb; it returns the rendered, sorted
// output rows.
func hjRun(t testing.TB, q *QueryContext, s hjSpec, left, right []planner.Column, lb, rb []arrow.RecordBatch, during func()) ([]string, error) {
	lk, rk, res := s.exprs(left, right)
	j, err := NewHashJoin(q, s.kind, left, right, lk, rk, res, s.nullAware)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	if err := q.Run(ctx, &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return rb }), Sink: j.BuildSink()}); err != nil {
		return nil, err
	}
	sink := NewBufferSink(q)
	defer sink.Close()
	done := make(chan struct{})
	var wg sync.WaitGroup
	if during != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
					during()
				}
			}
		}()
	}
	err = q.Run(ctx, &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return lb }), Ops: []Operator{j.Probe()}, Sink: sink})
	close(done)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for _, b := range sink.Batches() {
		if !b.Schema().Equal(j.Schema()) {
			t.Fatalf("output schema %s, want %s", b.Schema(), j.Schema())
		}
	}
	return hjRenderBatches(t, sink.Batches()), nil
}

func hjGenRows(rng *rand.Rand, n, dom int) []hjRow {
	strs := []string{"a", "bb", "", "ccc"}
	rows := make([]hjRow, n)
	for i := range rows {
		r := make(hjRow, 3)
		r[0] = kernels.Value{I: int64(rng.Intn(dom))}
		r[1] = kernels.Value{S: strs[rng.Intn(min(dom, len(strs)))]}
		r[2] = kernels.Value{I: int64(rng.Intn(10))}
		for c := range r {
			if rng.Intn(6) == 0 {
				r[c] = kernels.NullValue
			}
		}
		rows[i] = r
	}
	return rows
}

func hjCompare(t *testing.T, name string, got, want []string, gerr, werr error) {
	t.Helper()
	if werr != nil {
		if gerr == nil || !strings.Contains(gerr.Error(), werr.Error()) {
			t.Fatalf("%s: got error %v, want %v", name, gerr, werr)
		}
		return
	}
	if gerr != nil {
		t.Fatalf("%s: unexpected error %v", name, gerr)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s: got %d rows:\n%s\nwant %d rows:\n%s", name, len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
}

var hjKinds = []planner.JoinKind{planner.JoinInner, planner.JoinLeft, planner.JoinRight, planner.JoinFull, planner.JoinSemi, planner.JoinAnti, planner.JoinMark, planner.JoinSingle, planner.JoinRightSemi, planner.JoinRightAnti}

var hjKeySets = [][][2]int{
	{{0, 0}},         // int key (fast path)
	{{1, 1}},         // string key
	{{0, 0}, {1, 1}}, // multi-column key
	nil,              // nested loop
}

// TestHashJoinKinds compares every join kind with the nested-loop
// reference on random inputs with NULL and duplicate keys, empty sides,
// several key shapes and a residual, at several batch sizes and driver
// counts.
func TestHashJoinKinds(t *testing.T) {
	type dataset struct{ nl, nr, dom int }
	sets := []dataset{{25, 15, 4}, {30, 0, 3}, {0, 12, 3}, {18, 22, 2}, {9, 1, 5}}
	for _, bs := range []int{1, 3, 8192} {
		for _, drivers := range []int{1, 4} {
			t.Run(fmt.Sprintf("bs=%d/drivers=%d", bs, drivers), func(t *testing.T) {
				checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer checked.AssertSize(t, 0)
				q := NewQueryContext(checked, 0, drivers)
				q.Kernels = hjReg
				q.BatchSize = bs
				rng := rand.New(rand.NewSource(int64(bs*10 + drivers)))
				for di, ds := range sets {
					lrows, rrows := hjGenRows(rng, ds.nl, ds.dom), hjGenRows(rng, ds.nr, ds.dom)
					lb := hjBatches(q.Alloc, hjL, lrows, bs, di%2 == 0)
					rb := hjBatches(q.Alloc, hjR, rrows, bs, di%2 == 1)
					for _, kind := range hjKinds {
						for _, keys := range hjKeySets {
							for _, res := range []bool{false, true} {
								for _, na := range []bool{false, true} {
									if na && kind != planner.JoinAnti && kind != planner.JoinMark {
										continue
									}
									s := hjSpec{kind: kind, keys: keys, residual: res, nullAware: na}
									got, gerr := hjRun(t, q, s, hjL, hjR, lb, rb, nil)
									want, werr := hjReference(s, hjL, hjR, lrows, rrows)
									hjCompare(t, fmt.Sprintf("set %d %s", di, s), got, want, gerr, werr)
								}
							}
						}
					}
					releaseBatches(lb)
					releaseBatches(rb)
				}
				if q.Pool.Used() != 0 {
					t.Fatalf("pool holds %d bytes after the joins", q.Pool.Used())
				}
			})
		}
	}
}

// TestHashJoinExistenceStopsAtFirstMatch checks that the existence joins
// (semi, anti, mark) with a residual stop evaluating a probe row's
// candidates once one satisfies the residual: with one key value every
// probe row has 3000 candidates and the first already matches, so about
// one evaluation per probe row is enough (not 3000). Some rows never
// match (NULL v) and must still see their whole chain.
func TestHashJoinExistenceStopsAtFirstMatch(t *testing.T) {
	var evals atomic.Int64
	reg := kernels.NewRegistry()
	reg.Register("cpu", "lt", kernels.Exact(kernels.TBool, func(ctx *kernels.Context, args []arrow.Array, n int) (arrow.Array, error) {
		evals.Add(int64(n))
		return hjLess(ctx, args, n)
	}, kernels.Int64, kernels.Int64))
	const nl, nr, unmatched = 2000, 3000, 3
	var lrows, rrows []hjRow
	for i := 0; i < nl; i++ {
		v := kernels.Value{I: 0}
		if i%(nl/unmatched) == 7 {
			v = kernels.NullValue
		}
		lrows = append(lrows, hjRow{{I: 1}, {S: "k"}, v})
	}
	for i := 0; i < nr; i++ {
		rrows = append(rrows, hjRow{{I: 1}, {S: "k"}, {I: 5}})
	}
	for _, bs := range []int{64, 1024, 8192} {
		for _, kind := range []planner.JoinKind{planner.JoinSemi, planner.JoinAnti, planner.JoinMark} {
			q := NewQueryContext(memory.NewGoAllocator(), 0, 2)
			q.Kernels = reg
			q.BatchSize = bs
			lb := hjBatches(q.Alloc, hjL, lrows, bs, false)
			rb := hjBatches(q.Alloc, hjR, rrows, 8192, false)
			s := hjSpec{kind: kind, keys: [][2]int{{0, 0}}, residual: true}
			evals.Store(0)
			got, gerr := hjRun(t, q, s, hjL, hjR, lb, rb, nil)
			want, werr := hjReference(s, hjL, hjR, lrows, rrows)
			name := fmt.Sprintf("%s bs=%d", kind, bs)
			hjCompare(t, name, got, want, gerr, werr)
			// Matched rows: one evaluation each, plus at most one chunk
			// of look-ahead per probe batch; unmatched rows: their chain.
			limit := int64(nl + unmatched*nr + (nl/bs+1)*bs)
			if e := evals.Load(); e > limit {
				t.Errorf("%s: %d residual evaluations, want at most %d", name, e, limit)
			}
			releaseBatches(lb)
			releaseBatches(rb)
		}
	}
}

// TestHashJoinOneSidedResidual checks every join kind whose
// residual reads one side only, "keys AND FALSE", "3 < right.w" and
// "left.v < 3" (which the existence joins answer without pairing rows),
// against the reference.
func TestHashJoinOneSidedResidual(t *testing.T) {
	q := NewQueryContext(memory.NewGoAllocator(), 0, 2)
	q.Kernels = hjReg
	rng := rand.New(rand.NewSource(5))
	lrows, rrows := hjGenRows(rng, 30, 3), hjGenRows(rng, 20, 3)
	lb := hjBatches(q.Alloc, hjL, lrows, 7, true)
	rb := hjBatches(q.Alloc, hjR, rrows, 7, false)
	defer releaseBatches(lb)
	defer releaseBatches(rb)
	for _, kind := range hjKinds {
		for _, keys := range hjKeySets {
			var specs []hjSpec
			for _, na := range []bool{false, true} {
				if na && kind != planner.JoinAnti && kind != planner.JoinMark {
					continue
				}
				specs = append(specs, hjSpec{kind: kind, keys: keys, never: true, nullAware: na},
					hjSpec{kind: kind, keys: keys, rightOnly: true, nullAware: na},
					hjSpec{kind: kind, keys: keys, leftOnly: true, nullAware: na})
			}
			for _, s := range specs {
				got, gerr := hjRun(t, q, s, hjL, hjR, lb, rb, nil)
				want, werr := hjReference(s, hjL, hjR, lrows, rrows)
				hjCompare(t, fmt.Sprintf("%s never=%v rightOnly=%v leftOnly=%v", s, s.never, s.rightOnly, s.leftOnly), got, want, gerr, werr)
			}
		}
	}
}

// TestHashJoinKeyTypes joins on each key type (fixed-width, decimal,
// string, boolean, float, interval), which also exercises the typed gather
// of every column type.
func TestHashJoinKeyTypes(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	types := []kernels.Type{kernels.TInt16, kernels.TInt32, kernels.TInt64, kernels.TDate, kernels.TTimestamp,
		kernels.DecimalType(12, 2), kernels.TFloat64, kernels.TFloat32, kernels.TBool, kernels.TString, kernels.TInterval}
	gen := func(rng *rand.Rand, t kernels.Type) kernels.Value {
		if rng.Intn(5) == 0 {
			return kernels.NullValue
		}
		x := int64(rng.Intn(4))
		switch t.ID {
		case kernels.Timestamp:
			return kernels.Value{I: x * 1_000_000}
		case kernels.Decimal:
			return kernels.DecValue(decimal128.FromI64(x*100 + 5))
		case kernels.Float64, kernels.Float32:
			if x == 0 && rng.Intn(2) == 0 {
				return kernels.Value{F: math.Copysign(0, -1)}
			}
			return kernels.Value{F: float64(x) + 0.5}
		case kernels.Bool:
			return kernels.Value{I: x % 2}
		case kernels.String:
			return kernels.Value{S: strings.Repeat("x", int(x))}
		case kernels.Interval:
			return kernels.Value{Months: int32(x), Days: 1}
		}
		return kernels.Value{I: x}
	}
	for _, bs := range []int{3, 8192} {
		for ti, typ := range types {
			q := NewQueryContext(checked, 0, 2)
			q.Kernels = hjReg
			q.BatchSize = bs
			rng := rand.New(rand.NewSource(int64(ti)))
			left := hjCols(1, "l", typ, kernels.TString, kernels.TInt64)
			right := hjCols(11, "r", typ, typ, kernels.TInt64)
			var lrows, rrows []hjRow
			for i := 0; i < 20; i++ {
				lrows = append(lrows, hjRow{gen(rng, typ), {S: fmt.Sprint(i)}, {I: int64(i)}})
			}
			for i := 0; i < 14; i++ {
				rrows = append(rrows, hjRow{gen(rng, typ), gen(rng, typ), {I: int64(i)}})
			}
			lb := hjBatches(q.Alloc, left, lrows, bs, true)
			rb := hjBatches(q.Alloc, right, rrows, bs, ti%2 == 1)
			for _, kind := range []planner.JoinKind{planner.JoinInner, planner.JoinFull, planner.JoinAnti} {
				s := hjSpec{kind: kind, keys: [][2]int{{0, 0}}, residual: ti%2 == 0}
				got, gerr := hjRun(t, q, s, left, right, lb, rb, nil)
				want, werr := hjReference(s, left, right, lrows, rrows)
				hjCompare(t, fmt.Sprintf("%s bs=%d %s", typ, bs, s), got, want, gerr, werr)
			}
			releaseBatches(lb)
			releaseBatches(rb)
		}
	}
}

// TestHashJoinElasticParallelism changes the number of drivers while the
// probe pipeline runs.
func TestHashJoinElasticParallelism(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 2)
	q.Kernels = hjReg
	q.BatchSize = 3
	rng := rand.New(rand.NewSource(7))
	lrows, rrows := hjGenRows(rng, 1500, 40), hjGenRows(rng, 300, 40)
	lb := hjBatches(q.Alloc, hjL, lrows, 3, true)
	rb := hjBatches(q.Alloc, hjR, rrows, 7, false)
	defer releaseBatches(lb)
	defer releaseBatches(rb)
	var k atomic.Int64
	during := func() {
		q.SetParallelism(int(k.Add(1)%4) + 1)
		time.Sleep(50 * time.Microsecond)
	}
	for _, s := range []hjSpec{
		{kind: planner.JoinInner, keys: [][2]int{{0, 0}}},
		{kind: planner.JoinFull, keys: [][2]int{{0, 0}, {1, 1}}, residual: true},
		{kind: planner.JoinRight, keys: [][2]int{{1, 1}}},
		{kind: planner.JoinMark, keys: [][2]int{{0, 0}}, nullAware: true},
	} {
		got, gerr := hjRun(t, q, s, hjL, hjR, lb, rb, during)
		want, werr := hjReference(s, hjL, hjR, lrows, rrows)
		hjCompare(t, s.String(), got, want, gerr, werr)
	}
}

// TestHashJoinSingleError checks the scalar-subquery error of a single join.
func TestHashJoinSingleError(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 2)
	lrows := []hjRow{{{I: 1}, {S: "a"}, {I: 0}}, {{I: 2}, {S: "b"}, {I: 0}}}
	rrows := []hjRow{{{I: 1}, {S: "x"}, {I: 0}}, {{I: 2}, {S: "y"}, {I: 0}}, {{I: 2}, {S: "z"}, {I: 0}}}
	lb := hjBatches(q.Alloc, hjL, lrows, 8192, false)
	rb := hjBatches(q.Alloc, hjR, rrows, 8192, false)
	defer releaseBatches(lb)
	defer releaseBatches(rb)
	_, err := hjRun(t, q, hjSpec{kind: planner.JoinSingle, keys: [][2]int{{0, 0}}}, hjL, hjR, lb, rb, nil)
	if err == nil || err.Error() != "more than one row returned by a subquery used as an expression" {
		t.Fatalf("got %v", err)
	}
	// One match per row is fine.
	got, err := hjRun(t, q, hjSpec{kind: planner.JoinSingle, keys: [][2]int{{0, 0}, {1, 1}}}, hjL, hjR, lb, rb, nil)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v, %v", got, err)
	}
}

// TestHashJoinMemoryLimit runs joins under limits from tiny to ample: each
// either succeeds with the right result or fails with a memory-limit
// error, and nothing leaks.
func TestHashJoinMemoryLimit(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	rng := rand.New(rand.NewSource(3))
	lrows, rrows := hjGenRows(rng, 3000, 1000), hjGenRows(rng, 4000, 1000)
	// Inputs come from the parent allocator, outside the query's pool.
	lb := hjBatches(checked, hjL, lrows, 512, false)
	rb := hjBatches(checked, hjR, rrows, 512, true)
	defer releaseBatches(lb)
	defer releaseBatches(rb)
	fails := 0
	for _, s := range []hjSpec{
		{kind: planner.JoinFull, keys: [][2]int{{0, 0}, {1, 1}}, residual: true},
		{kind: planner.JoinInner, keys: [][2]int{{0, 0}}},
	} {
		want, _ := hjReference(s, hjL, hjR, lrows, rrows)
		for limit := int64(16 << 10); limit <= 16<<20; limit *= 2 {
			q := NewQueryContext(checked, limit, 2)
			q.Kernels = hjReg
			q.BatchSize = 512
			q.NoSpill = true
			got, err := hjRun(t, q, s, hjL, hjR, lb, rb, nil)
			if err != nil {
				if !strings.Contains(err.Error(), "memory limit") {
					t.Fatalf("limit %d: %v", limit, err)
				}
				fails++
				t.Logf("limit %d %s: %v", limit, s, err)
			} else {
				hjCompare(t, fmt.Sprintf("limit %d %s", limit, s), got, want, nil, nil)
			}
			if u := q.Pool.Used(); u != 0 {
				t.Fatalf("limit %d: pool holds %d bytes", limit, u)
			}
		}
	}
	if fails == 0 {
		t.Fatal("no run hit the memory limit")
	}
}

// TestHashJoinCloseUnfinalized frees a build side that never finalized.
func TestHashJoinCloseUnfinalized(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, 1)
	rb := hjBatches(q.Alloc, hjR, hjGenRows(rand.New(rand.NewSource(1)), 10, 3), 4, false)
	j, err := NewHashJoin(q, planner.JoinInner, hjL, hjR, []*planner.Expr{planner.Col(hjL[0])}, []*planner.Expr{planner.Col(hjR[0])}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sl, _ := j.BuildSink().Local(ctx)
	for _, b := range rb {
		if err := sl.Consume(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	releaseBatches(rb)
	j.Close()
	j.Close()
	if q.Pool.Used() != 0 {
		t.Fatalf("pool holds %d bytes", q.Pool.Used())
	}
}

// TestHashJoinHashMatchesRowKeys checks the integer fast path hashes keys
// exactly as RowKeys does, so buckets agree with other hash operators.
func TestHashJoinHashMatchesRowKeys(t *testing.T) {
	b := array.NewInt64Builder(memory.NewGoAllocator())
	vals := []int64{0, 1, -1, 42, 1 << 40, -(1 << 62)}
	b.AppendValues(vals, nil)
	a := b.NewArray()
	defer a.Release()
	var rk RowKeys
	rk.Encode([]arrow.Array{a}, len(vals))
	for i, v := range vals {
		if hjHashInt(v) != rk.Hash[i] {
			t.Fatalf("hash of %d differs from RowKeys", v)
		}
	}
}

// --- benchmark ---

type hjCountSink struct{ rows atomic.Int64 }

func (s *hjCountSink) Local(ctx context.Context) (SinkLocal, error) { return s, nil }
func (s *hjCountSink) Finalize(ctx context.Context) error           { return nil }
func (s *hjCountSink) Close()                                       {}
func (s *hjCountSink) Combine(ctx context.Context) error            { return nil }
func (s *hjCountSink) Consume(ctx context.Context, in arrow.RecordBatch) error {
	s.rows.Add(in.NumRows())
	return nil
}

func hjIntBatches(mem memory.Allocator, n, bs int, cols int, gen func(i, c int) int64) []arrow.RecordBatch {
	fields := make([]arrow.Field, cols)
	for c := range fields {
		fields[c] = arrow.Field{Name: fmt.Sprint("c", c), Type: arrow.PrimitiveTypes.Int64, Nullable: true}
	}
	sch := arrow.NewSchema(fields, nil)
	var out []arrow.RecordBatch
	for s := 0; s < n; s += bs {
		m := min(bs, n-s)
		arrs := make([]arrow.Array, cols)
		for c := range arrs {
			v := make([]int64, m)
			for i := range v {
				v[i] = gen(s+i, c)
			}
			arrs[c] = kernels.NewFixed(mem, arrow.PrimitiveTypes.Int64, v, nil, 0)
		}
		out = append(out, array.NewRecordBatch(sch, arrs, int64(m)))
		releaseAll(arrs)
	}
	return out
}

// BenchmarkHashJoin joins a 6M-row probe side (key, payload) with a
// 1.5M-row build side (unique int64 key, two payload columns), as
// lineitem with orders at TPC-H SF1; every probe row matches once.
func BenchmarkHashJoin(b *testing.B) {
	const nBuild, nProbe = 1_500_000, 6_000_000
	mem := memory.NewGoAllocator()
	perm := rand.New(rand.NewSource(1)).Perm(nBuild)
	build := hjIntBatches(mem, nBuild, DefaultBatchSize, 3, func(i, c int) int64 { return int64(perm[i]*4 + c) })
	rng := rand.New(rand.NewSource(2))
	probe := hjIntBatches(mem, nProbe, DefaultBatchSize, 2, func(i, c int) int64 {
		if c == 0 {
			return int64(rng.Intn(nBuild) * 4)
		}
		return int64(i)
	})
	defer releaseBatches(build)
	defer releaseBatches(probe)
	ci := func(id planner.ColumnID) planner.Column {
		return planner.Column{ID: id, Name: fmt.Sprint(id), Type: kernels.TInt64}
	}
	left := []planner.Column{ci(1), ci(2)}
	right := []planner.Column{ci(11), ci(12), ci(13)}
	for _, drivers := range []int{1, 2} {
		b.Run(fmt.Sprintf("drivers=%d", drivers), func(b *testing.B) {
			var buildNs, probeNs, probeCPU int64
			for it := 0; it < b.N; it++ {
				q := NewQueryContext(mem, 0, drivers)
				j, err := NewHashJoin(q, planner.JoinInner, left, right, []*planner.Expr{planner.Col(left[0])}, []*planner.Expr{planner.Col(right[0])}, nil, false)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				t0 := time.Now()
				if err := q.Run(ctx, &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return build }), Sink: j.BuildSink()}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				c1 := hjCPUNanos()
				sink := &hjCountSink{}
				if err := q.Run(ctx, &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return probe }), Ops: []Operator{j.Probe()}, Sink: sink}); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				probeCPU += hjCPUNanos() - c1
				if sink.rows.Load() != nProbe {
					b.Fatalf("joined %d rows", sink.rows.Load())
				}
				j.Close()
				buildNs += int64(t1.Sub(t0))
				probeNs += int64(t2.Sub(t1))
			}
			b.ReportMetric(float64(buildNs)/float64(b.N)/1e6, "build-ms")
			b.ReportMetric(float64(probeNs)/float64(b.N)/nProbe, "probe-ns/row")
			b.ReportMetric(float64(probeCPU)/float64(b.N)/nProbe, "probe-cpu-ns/row")
		})
	}
}

// TestHashJoinChunksMultipliedRows checks that a join whose probe batch
// multiplies into many pairs emits them in batches of about BatchSize
// rows (Expander), for inner, left and full joins with and without keys
// or a residual, and that the rows are all there.
func TestHashJoinChunksMultipliedRows(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	const bs = 64
	var lrows, rrows []hjRow
	for i := 0; i < 300; i++ {
		lrows = append(lrows, hjRow{{I: 1}, {S: "k"}, {I: int64(i % 10)}})
	}
	for i := 0; i < 500; i++ {
		rrows = append(rrows, hjRow{{I: 1}, {S: "k"}, {I: int64(i % 7)}})
	}
	for _, kind := range []planner.JoinKind{planner.JoinInner, planner.JoinLeft, planner.JoinFull, planner.JoinRight} {
		for _, keys := range [][][2]int{{{0, 0}}, nil} {
			for _, res := range []bool{false, true} {
				s := hjSpec{kind: kind, keys: keys, residual: res}
				q := NewQueryContext(checked, 0, 2)
				q.Kernels = hjReg
				q.BatchSize = bs
				lb := hjBatches(q.Alloc, hjL, lrows, 1000, false) // one probe batch of 300 rows
				rb := hjBatches(q.Alloc, hjR, rrows, 1000, false)
				lk, rk, re := s.exprs(hjL, hjR)
				j, err := NewHashJoin(q, s.kind, hjL, hjR, lk, rk, re, false)
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				if err := q.Run(ctx, &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return rb }), Sink: j.BuildSink()}); err != nil {
					t.Fatal(err)
				}
				sink := NewBufferSink(q)
				if err := q.Run(ctx, &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return lb }), Ops: []Operator{j.Probe()}, Sink: sink}); err != nil {
					t.Fatal(err)
				}
				largest := int64(0)
				for _, b := range sink.Batches() {
					largest = max(largest, b.NumRows())
				}
				got := hjRenderBatches(t, sink.Batches())
				want, _ := hjReference(s, hjL, hjR, lrows, rrows)
				hjCompare(t, s.String(), got, want, nil, nil)
				if largest > 2*bs {
					t.Errorf("%s: a batch of %d rows (batch size %d, %d rows in all)", s, largest, bs, len(got))
				}
				sink.Close()
				j.Close()
				releaseBatches(lb)
				releaseBatches(rb)
			}
		}
	}
}
