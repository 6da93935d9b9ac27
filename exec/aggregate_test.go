package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// aggTestCol is one generated input column.
type aggTestCol struct {
	name string
	typ  kernels.Type
	vals []kernels.Value
}

// aggTestInput is a generated table.
type aggTestInput struct {
	n    int
	cols []aggTestCol
}

func (in *aggTestInput) idx(name string) int {
	for i, c := range in.cols {
		if c.name == name {
			return i
		}
	}
	panic("no column " + name)
}

func (in *aggTestInput) columns() []planner.Column {
	out := make([]planner.Column, len(in.cols))
	for i, c := range in.cols {
		out[i] = planner.Column{ID: planner.ColumnID(i + 1), Name: c.name, Type: c.typ, Nullable: true}
	}
	return out
}

// batches builds the input with mem in batches of bs rows.
func (in *aggTestInput) batches(mem memory.Allocator, bs int) []arrow.RecordBatch {
	fields := make([]arrow.Field, len(in.cols))
	for i, c := range in.cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.typ.Arrow(), Nullable: true}
	}
	sch := arrow.NewSchema(fields, nil)
	var out []arrow.RecordBatch
	for from := 0; from < in.n; from += bs {
		to := min(in.n, from+bs)
		arrs := make([]arrow.Array, len(in.cols))
		for i, c := range in.cols {
			b := array.NewBuilder(mem, c.typ.Arrow())
			for r := from; r < to; r++ {
				kernels.AppendValue(b, c.typ, c.vals[r])
			}
			arrs[i] = b.NewArray()
			b.Release()
		}
		out = append(out, array.NewRecordBatch(sch, arrs, int64(to-from)))
		releaseAll(arrs)
	}
	return out
}

var aggDec152 = kernels.DecimalType(15, 2)

// aggGenInput generates n rows with NULLs in every column.
func aggGenInput(n int, seed uint64) *aggTestInput {
	r := rand.New(rand.NewPCG(seed, 7))
	null := func(p float64) bool { return r.Float64() < p }
	col := func(name string, t kernels.Type, gen func() kernels.Value) aggTestCol {
		c := aggTestCol{name: name, typ: t, vals: make([]kernels.Value, n)}
		for i := range c.vals {
			if null(0.1) {
				c.vals[i] = kernels.NullValue
			} else {
				c.vals[i] = gen()
			}
		}
		return c
	}
	letters := "abcxyzAZ09é"
	str := func() string {
		l := r.IntN(8)
		var sb strings.Builder
		for range l {
			sb.WriteByte(letters[r.IntN(len(letters))])
		}
		return sb.String()
	}
	decs := []int64{-150, 0, 99, 12345, 99999999999999}
	in := &aggTestInput{n: n}
	in.cols = []aggTestCol{
		col("k1", kernels.TInt64, func() kernels.Value { return kernels.Value{I: int64(r.IntN(40)) - 5} }),
		col("k2", kernels.TString, func() kernels.Value { return kernels.Value{S: []string{"a", "b", "ccc", "", "zz"}[r.IntN(5)]} }),
		col("d", aggDec152, func() kernels.Value {
			return kernels.DecValue(decimal128.FromI64(r.Int64N(2e15) - 1e15 + 1))
		}),
		col("dd", aggDec152, func() kernels.Value { return kernels.DecValue(decimal128.FromI64(decs[r.IntN(len(decs))])) }),
		col("i32", kernels.TInt32, func() kernels.Value { return kernels.Value{I: int64(int32(r.Uint32()))} }),
		col("i16", kernels.TInt16, func() kernels.Value { return kernels.Value{I: int64(r.IntN(11) - 5)} }),
		col("big", kernels.TInt64, func() kernels.Value {
			v := int64(1)<<62 + r.Int64N(1<<60)
			if r.IntN(4) == 0 {
				v = -v
			}
			return kernels.Value{I: v}
		}),
		col("f", kernels.TFloat64, func() kernels.Value {
			if r.IntN(200) == 0 {
				return kernels.Value{F: math.NaN()}
			}
			return kernels.Value{F: float64(r.IntN(4001)-2000) / 2}
		}),
		col("f32", kernels.TFloat32, func() kernels.Value { return kernels.Value{F: float64(r.IntN(401)-200) / 4} }),
		col("dt", kernels.TDate, func() kernels.Value { return kernels.Value{I: int64(r.IntN(20000) - 3000)} }),
		col("ts", kernels.TTimestamp, func() kernels.Value { return kernels.Value{I: r.Int64N(1e15) - 1e14} }),
		col("s", kernels.TString, func() kernels.Value { return kernels.Value{S: str()} }),
		col("b", kernels.TBool, func() kernels.Value { return kernels.Value{I: int64(r.IntN(2))} }),
		col("kd", kernels.TDate, func() kernels.Value { return kernels.Value{I: int64(r.IntN(3))} }),
		col("kb", kernels.TBool, func() kernels.Value { return kernels.Value{I: int64(r.IntN(2))} }),
		col("kf", kernels.TFloat64, func() kernels.Value { return kernels.Value{F: []float64{1.5, -2, math.NaN()}[r.IntN(3)]} }),
	}
	nul := aggTestCol{name: "nul", typ: kernels.TInt64, vals: make([]kernels.Value, n)}
	for i := range nul.vals {
		nul.vals[i] = kernels.NullValue
	}
	in.cols = append(in.cols, nul)
	return in
}

// aggTestCall is an aggregate of a test: fn over column arg ("" for none).
type aggTestCall struct {
	fn       string
	arg      string
	distinct bool
	typ      kernels.Type
}

var aggTestCalls = []aggTestCall{
	{fn: "count_star", typ: kernels.TInt64},
	{fn: "count", arg: "d", typ: kernels.TInt64},
	{fn: "sum", arg: "d", typ: kernels.DecimalType(38, 2)},
	{fn: "avg", arg: "d", typ: kernels.TFloat64},
	{fn: "min", arg: "d", typ: aggDec152},
	{fn: "max", arg: "d", typ: aggDec152},
	{fn: "sum", arg: "i32", typ: kernels.TInt64},
	{fn: "avg", arg: "i32", typ: kernels.TFloat64},
	{fn: "max", arg: "i32", typ: kernels.TInt32},
	{fn: "sum", arg: "i16", typ: kernels.TInt64},
	{fn: "min", arg: "i16", typ: kernels.TInt16},
	{fn: "sum", arg: "big", typ: kernels.DecimalType(38, 0)},
	{fn: "avg", arg: "big", typ: kernels.TFloat64},
	{fn: "min", arg: "big", typ: kernels.TInt64},
	{fn: "sum", arg: "f", typ: kernels.TFloat64},
	{fn: "avg", arg: "f", typ: kernels.TFloat64},
	{fn: "min", arg: "f", typ: kernels.TFloat64},
	{fn: "max", arg: "f", typ: kernels.TFloat64},
	{fn: "sum", arg: "f32", typ: kernels.TFloat64},
	{fn: "min", arg: "f32", typ: kernels.TFloat32},
	{fn: "min", arg: "s", typ: kernels.TString},
	{fn: "max", arg: "s", typ: kernels.TString},
	{fn: "min", arg: "dt", typ: kernels.TDate},
	{fn: "max", arg: "dt", typ: kernels.TDate},
	{fn: "min", arg: "ts", typ: kernels.TTimestamp},
	{fn: "max", arg: "ts", typ: kernels.TTimestamp},
	{fn: "bool_and", arg: "b", typ: kernels.TBool},
	{fn: "bool_or", arg: "b", typ: kernels.TBool},
	{fn: "min", arg: "b", typ: kernels.TBool},
	{fn: "max", arg: "b", typ: kernels.TBool},
	{fn: "count", arg: "i16", distinct: true, typ: kernels.TInt64},
	{fn: "count", arg: "s", distinct: true, typ: kernels.TInt64},
	{fn: "sum", arg: "dd", distinct: true, typ: kernels.DecimalType(38, 2)},
	{fn: "avg", arg: "dd", distinct: true, typ: kernels.TFloat64},
	{fn: "avg", arg: "i16", distinct: true, typ: kernels.TFloat64},
	{fn: "sum", arg: "f32", distinct: true, typ: kernels.TFloat64},
	{fn: "max", arg: "dt", distinct: true, typ: kernels.TDate},
	{fn: "count", arg: "nul", typ: kernels.TInt64},
	{fn: "count", arg: "nul", distinct: true, typ: kernels.TInt64},
	{fn: "sum", arg: "nul", typ: kernels.DecimalType(38, 0)},
	{fn: "max", arg: "nul", typ: kernels.TInt64},
}

// aggRefCall computes one aggregate over a group's argument values the obvious way.
func aggRefCall(a aggTestCall, at kernels.Type, vals []kernels.Value, rows int) kernels.Value {
	if a.fn == "count_star" {
		return kernels.Value{I: int64(rows)}
	}
	var nn []kernels.Value
	seen := map[string]bool{}
	for _, v := range vals {
		if v.Null {
			continue
		}
		if a.distinct {
			k := kernels.KeyOf(v, at)
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		nn = append(nn, v)
	}
	if a.fn == "count" {
		return kernels.Value{I: int64(len(nn))}
	}
	if len(nn) == 0 {
		return kernels.NullValue
	}
	switch a.fn {
	case "sum", "avg":
		if at.IsFloat() {
			s := 0.0
			for _, v := range nn {
				s += v.F
			}
			if a.fn == "avg" {
				s /= float64(len(nn))
			}
			return kernels.Value{F: s}
		}
		sum := new(big.Int)
		for _, v := range nn {
			if at.ID == kernels.Decimal {
				sum.Add(sum, v.Dec.BigInt())
			} else {
				sum.Add(sum, big.NewInt(v.I))
			}
		}
		if a.fn == "avg" {
			den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(at.Scale)), nil)
			den.Mul(den, big.NewInt(int64(len(nn))))
			f, _ := new(big.Rat).SetFrac(sum, den).Float64()
			return kernels.Value{F: f}
		}
		if a.typ.ID == kernels.Int64 {
			return kernels.Value{I: sum.Int64()}
		}
		return kernels.DecValue(decimal128.FromBigInt(sum))
	case "min", "max", "bool_and", "bool_or":
		max := a.fn == "max" || a.fn == "bool_or"
		less := func(x, y kernels.Value) bool {
			switch {
			case at.ID == kernels.String:
				return x.S < y.S
			case at.ID == kernels.Decimal:
				return x.Dec.Less(y.Dec)
			case at.IsFloat():
				if math.IsNaN(y.F) {
					return !math.IsNaN(x.F)
				}
				return x.F < y.F
			}
			return x.I < y.I
		}
		best := nn[0]
		for _, v := range nn[1:] {
			if (max && less(best, v)) || (!max && less(v, best)) {
				best = v
			}
		}
		return best
	}
	panic(a.fn)
}

// aggReference returns the expected result: formatted rows keyed by group.
func aggReference(in *aggTestInput, groups []string, aggs []aggTestCall) map[string][]string {
	type grp struct {
		vals []kernels.Value
		rows []int
	}
	byKey := map[string]*grp{}
	for r := 0; r < in.n; r++ {
		var kb strings.Builder
		var gv []kernels.Value
		for _, g := range groups {
			c := in.cols[in.idx(g)]
			kb.WriteString(kernels.KeyOf(c.vals[r], c.typ) + "|")
			gv = append(gv, c.vals[r])
		}
		k := kb.String()
		gr := byKey[k]
		if gr == nil {
			gr = &grp{vals: gv}
			byKey[k] = gr
		}
		gr.rows = append(gr.rows, r)
	}
	if len(groups) == 0 && len(byKey) == 0 {
		byKey[""] = &grp{}
	}
	out := map[string][]string{}
	for k, gr := range byKey {
		var row []string
		for i, g := range groups {
			row = append(row, gr.vals[i].Format(in.cols[in.idx(g)].typ))
		}
		for _, a := range aggs {
			var at kernels.Type
			var vals []kernels.Value
			if a.arg != "" {
				c := in.cols[in.idx(a.arg)]
				at = c.typ
				for _, r := range gr.rows {
					vals = append(vals, c.vals[r])
				}
			}
			row = append(row, aggRefCall(a, at, vals, len(gr.rows)).Format(a.typ))
		}
		out[k] = row
	}
	return out
}

type aggRunOpts struct {
	batchSize int
	drivers   int
	elastic   bool
	flush     int   // local table size that triggers an early merge (0: default)
	spill     int64 // spill threshold (0: no spilling); the run must spill
}

// aggRunPipeline aggregates in through a pipeline and returns the formatted
// result rows keyed by group, checking for leaks.
func aggRunPipeline(t *testing.T, in *aggTestInput, groups []string, aggs []aggTestCall, rc aggRunOpts) map[string][]string {
	t.Helper()
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	q := NewQueryContext(checked, 0, rc.drivers)
	q.BatchSize = rc.batchSize
	if rc.spill != 0 {
		q.SpillThreshold = rc.spill
		q.SpillDir = t.TempDir()
		defer checkSpilled(t, q)
	}
	batches := in.batches(checked, rc.batchSize)
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	input := in.columns()
	var gexprs []*planner.Expr
	var out []planner.Column
	for i, g := range groups {
		c := input[in.idx(g)]
		gexprs = append(gexprs, planner.Col(c))
		out = append(out, planner.Column{ID: planner.ColumnID(100 + i), Name: g, Type: c.Type, Nullable: true})
	}
	var calls []planner.AggCall
	for j, a := range aggs {
		call := planner.AggCall{Func: a.fn, Distinct: a.distinct, Type: a.typ}
		if a.arg != "" {
			call.Args = []*planner.Expr{planner.Col(input[in.idx(a.arg)])}
		}
		calls = append(calls, call)
		out = append(out, planner.Column{ID: planner.ColumnID(200 + j), Name: fmt.Sprintf("agg%d", j), Type: a.typ, Nullable: true})
	}
	agg, err := NewHashAggregate(q, input, gexprs, calls, out)
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	if rc.flush > 0 {
		agg.flushGroups = rc.flush
	}
	p := &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return batches }), Sink: agg}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if rc.elastic {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q.SetParallelism(1 + i%4)
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	err = q.Run(context.Background(), p)
	close(stop)
	wg.Wait()
	p.Source.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rc.elastic && p.DriversStarted.Load() < 2 {
		t.Logf("elastic run started only %d drivers", p.DriversStarted.Load())
	}
	got := map[string][]string{}
	src := agg.Source()
	loc, err := src.Local(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := loc.Next(context.Background())
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		if int(b.NumRows()) > q.BatchSize {
			t.Errorf("result batch of %d rows, batch size %d", b.NumRows(), q.BatchSize)
		}
		for i, f := range out {
			if !arrow.TypeEqual(b.Column(i).DataType(), f.Type.Arrow()) {
				t.Fatalf("column %d: type %s, want %s", i, b.Column(i).DataType(), f.Type.Arrow())
			}
		}
		for r := 0; r < int(b.NumRows()); r++ {
			var kb strings.Builder
			row := make([]string, len(out))
			for i, f := range out {
				v := kernels.ValueAt(b.Column(i), f.Type, r)
				if i < len(groups) {
					kb.WriteString(kernels.KeyOf(v, f.Type) + "|")
				}
				row[i] = v.Format(f.Type)
			}
			k := kb.String()
			if _, dup := got[k]; dup {
				t.Errorf("group %q output twice", k)
			}
			got[k] = row
		}
		b.Release()
	}
	loc.Close()
	src.Close()
	agg.Close()
	if u := q.Pool.Used(); u != 0 {
		t.Errorf("memory pool holds %d bytes after Close", u)
	}
	return got
}

func aggCompare(t *testing.T, got, want map[string][]string, aggs []aggTestCall, ngroups int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d groups, want %d", len(got), len(want))
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	errs := 0
	for _, k := range keys {
		g, ok := got[k]
		if !ok {
			t.Errorf("group %q missing", k)
			errs++
		} else {
			for i := range want[k] {
				if g[i] != want[k][i] {
					what := "group column"
					if i >= ngroups {
						a := aggs[i-ngroups]
						what = fmt.Sprintf("%s(%s%s)", a.fn, map[bool]string{true: "DISTINCT ", false: ""}[a.distinct], a.arg)
					}
					t.Errorf("group %q %s: got %s, want %s", k, what, g[i], want[k][i])
					errs++
				}
			}
		}
		if errs > 10 {
			t.Fatal("too many differences")
		}
	}
}

func aggRunMatrix(t *testing.T, in *aggTestInput, groups []string, aggs []aggTestCall) {
	want := aggReference(in, groups, aggs)
	for _, bs := range []int{1, 3, 8192} {
		for _, d := range []int{1, 4} {
			t.Run(fmt.Sprintf("batch=%d/drivers=%d", bs, d), func(t *testing.T) {
				got := aggRunPipeline(t, in, groups, aggs, aggRunOpts{batchSize: bs, drivers: d})
				aggCompare(t, got, want, aggs, len(groups))
			})
		}
	}
}

func TestHashAggregateGroups(t *testing.T) {
	in := aggGenInput(3000, 1)
	aggRunMatrix(t, in, []string{"k1", "k2"}, aggTestCalls)
}

// TestHashAggregateEarlyFlush merges local tables into the global one
// while drivers still run.
func TestHashAggregateEarlyFlush(t *testing.T) {
	in := aggGenInput(3000, 9)
	groups := []string{"k1", "k2"}
	want := aggReference(in, groups, aggTestCalls)
	for _, d := range []int{1, 4} {
		got := aggRunPipeline(t, in, groups, aggTestCalls, aggRunOpts{batchSize: 64, drivers: d, flush: 50})
		aggCompare(t, got, want, aggTestCalls, len(groups))
	}
}

func TestHashAggregateNoGroups(t *testing.T) {
	in := aggGenInput(2000, 2)
	aggRunMatrix(t, in, nil, aggTestCalls)
}

func TestHashAggregateKeyTypes(t *testing.T) {
	in := aggGenInput(2000, 3)
	aggs := []aggTestCall{
		{fn: "count_star", typ: kernels.TInt64},
		{fn: "sum", arg: "d", typ: kernels.DecimalType(38, 2)},
		{fn: "count", arg: "s", distinct: true, typ: kernels.TInt64},
	}
	aggRunMatrix(t, in, []string{"kd", "kb", "kf", "dd", "i16"}, aggs)
	aggRunMatrix(t, in, []string{"s"}, aggs)
	aggRunMatrix(t, in, []string{"nul"}, aggs)
}

func TestHashAggregateEmpty(t *testing.T) {
	in := aggGenInput(0, 4)
	for _, groups := range [][]string{nil, {"k1", "k2"}} {
		want := aggReference(in, groups, aggTestCalls)
		if len(groups) == 0 && len(want) != 1 || len(groups) > 0 && len(want) != 0 {
			t.Fatalf("reference has %d rows", len(want))
		}
		for _, d := range []int{1, 4} {
			got := aggRunPipeline(t, in, groups, aggTestCalls, aggRunOpts{batchSize: 8192, drivers: d})
			aggCompare(t, got, want, aggTestCalls, len(groups))
		}
	}
	// Spot-check the no-GROUP-BY row: count 0, sum/avg/min NULL.
	got := aggRunPipeline(t, in, nil, aggTestCalls[:4], aggRunOpts{batchSize: 8192, drivers: 2})
	if row := got[""]; strings.Join(row, ",") != "0,0,NULL,NULL" {
		t.Errorf("empty aggregate row %v", row)
	}
}

func TestHashAggregateElastic(t *testing.T) {
	in := aggGenInput(6000, 5)
	for _, groups := range [][]string{{"k1", "k2"}, nil} {
		want := aggReference(in, groups, aggTestCalls)
		for i := 0; i < 2; i++ {
			got := aggRunPipeline(t, in, groups, aggTestCalls, aggRunOpts{batchSize: 3, drivers: 2, elastic: true})
			aggCompare(t, got, want, aggTestCalls, len(groups))
		}
	}
}

func TestHashAggregateMemoryLimit(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	n := 100000
	in := &aggTestInput{n: n, cols: []aggTestCol{{name: "k", typ: kernels.TInt64, vals: make([]kernels.Value, n)}}}
	for i := range in.cols[0].vals {
		in.cols[0].vals[i] = kernels.Value{I: int64(i)}
	}
	batches := in.batches(checked, 8192)
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	for _, drivers := range []int{1, 2} {
		q := NewQueryContext(checked, 256<<10, drivers)
		q.NoSpill = true
		input := in.columns()
		out := []planner.Column{{ID: 10, Name: "k", Type: kernels.TInt64}, {ID: 11, Name: "n", Type: kernels.TInt64}}
		agg, err := NewHashAggregate(q, input, []*planner.Expr{planner.Col(input[0])},
			[]planner.AggCall{{Func: "count_star", Type: kernels.TInt64}}, out)
		if err != nil {
			t.Fatal(err)
		}
		err = q.Run(context.Background(), &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return batches }), Sink: agg})
		var ml *ErrMemoryLimit
		if err == nil || !errors.As(err, &ml) || !strings.Contains(err.Error(), "memory limit") {
			t.Errorf("drivers=%d: got error %v, want a memory limit error", drivers, err)
		}
		agg.Close()
		if u := q.Pool.Used(); u != 0 {
			t.Errorf("pool holds %d bytes after Close", u)
		}
	}
}

// TestHashAggregateCloseWithoutFinalize frees locals that never combined and
// a global table that was never finalized (cancellation).
func TestHashAggregateCloseWithoutFinalize(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	in := aggGenInput(1000, 6)
	batches := in.batches(checked, 100)
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	q := NewQueryContext(checked, 0, 2)
	input := in.columns()
	var out []planner.Column
	var calls []planner.AggCall
	for j, a := range aggTestCalls {
		call := planner.AggCall{Func: a.fn, Distinct: a.distinct, Type: a.typ}
		if a.arg != "" {
			call.Args = []*planner.Expr{planner.Col(input[in.idx(a.arg)])}
		}
		calls = append(calls, call)
		out = append(out, planner.Column{ID: planner.ColumnID(200 + j), Type: a.typ})
	}
	out = append([]planner.Column{{ID: 99, Type: kernels.TString}}, out...)
	agg, err := NewHashAggregate(q, input, []*planner.Expr{planner.Col(input[in.idx("s")])}, calls, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l1, _ := agg.Local(ctx)
	l2, _ := agg.Local(ctx)
	for i, b := range batches {
		l := l1
		if i%2 == 1 {
			l = l2
		}
		if err := l.Consume(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l1.Combine(ctx); err != nil {
		t.Fatal(err)
	}
	if q.Pool.Used() == 0 {
		t.Error("no memory accounted for the tables")
	}
	agg.Close()
	agg.Close()
	if u := q.Pool.Used(); u != 0 {
		t.Errorf("pool holds %d bytes after Close", u)
	}
}

func TestHashAggregatePlanErrors(t *testing.T) {
	q := NewQueryContext(nil, 0, 1)
	in := aggGenInput(1, 7)
	input := in.columns()
	col := func(n string) *planner.Expr { return planner.Col(input[in.idx(n)]) }
	for _, c := range []planner.AggCall{
		{Func: "median", Args: []*planner.Expr{col("d")}, Type: aggDec152},
		{Func: "sum", Args: []*planner.Expr{col("s")}, Type: kernels.TString},
		{Func: "sum", Args: []*planner.Expr{col("d")}, Type: kernels.DecimalType(38, 3)},
		{Func: "avg", Args: []*planner.Expr{col("d")}, Type: aggDec152},
		{Func: "min", Args: []*planner.Expr{col("d")}, Type: kernels.TFloat64},
		{Func: "bool_and", Args: []*planner.Expr{col("i32")}, Type: kernels.TInt32},
	} {
		if _, err := NewHashAggregate(q, input, nil, []planner.AggCall{c}, []planner.Column{{Type: c.Type}}); err == nil {
			t.Errorf("%s(%s) -> %s: no error", c.Func, c.Args[0].Type, c.Type)
		}
	}
}

// TestAggregateKeyRoundTrip checks that aggDecodeKey inverts RowKeys.Encode
// for every type a group column can have.
func TestAggregateKeyRoundTrip(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	in := aggGenInput(500, 8)
	iv := aggTestCol{name: "iv", typ: kernels.TInterval, vals: make([]kernels.Value, in.n)}
	for i := range iv.vals {
		iv.vals[i] = kernels.Value{Months: int32(i - 7), Days: -int32(i), Nanos: int64(i) * 1e9}
	}
	iv.vals[3] = kernels.NullValue
	f32 := aggTestCol{name: "f32b", typ: kernels.TFloat32, vals: make([]kernels.Value, in.n)}
	for i := range f32.vals {
		f32.vals[i] = kernels.Value{F: float64(float32(float64(i) * 1.1))}
	}
	in.cols = append(in.cols, iv, f32)
	b := in.batches(checked, in.n)[0]
	defer b.Release()
	var rk RowKeys
	types := make([]kernels.Type, len(in.cols))
	blds := make([]array.Builder, len(in.cols))
	for i, c := range in.cols {
		types[i] = c.typ
		blds[i] = array.NewBuilder(checked, c.typ.Arrow())
		defer blds[i].Release()
	}
	rk.Encode(b.Columns(), in.n)
	for r := 0; r < in.n; r++ {
		rest, err := aggDecodeKey(rk.Key(r), types, blds)
		if err != nil || len(rest) != 0 {
			t.Fatalf("row %d: %v, %d bytes left", r, err, len(rest))
		}
	}
	for i, bl := range blds {
		arr := bl.NewArray()
		for r := 0; r < in.n; r++ {
			want := in.cols[i].vals[r].Format(types[i])
			if got := kernels.ValueAt(arr, types[i], r).Format(types[i]); got != want {
				t.Errorf("%s row %d: got %s, want %s", in.cols[i].name, r, got, want)
			}
		}
		arr.Release()
	}
}

// BenchmarkHashAggregate: 1M rows, an int64 key with 1000 groups, sum of a
// Decimal(15,2).
func BenchmarkHashAggregate(b *testing.B) {
	const rows = 1 << 20
	r := rand.New(rand.NewPCG(1, 2))
	mem := memory.NewGoAllocator()
	sch := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "d", Type: aggDec152.Arrow()}}, nil)
	mk := func(groups int) []arrow.RecordBatch {
		var out []arrow.RecordBatch
		for from := 0; from < rows; from += DefaultBatchSize {
			kb := array.NewInt64Builder(mem)
			db := array.NewDecimal128Builder(mem, aggDec152.Arrow().(*arrow.Decimal128Type))
			for i := from; i < min(rows, from+DefaultBatchSize); i++ {
				kb.Append(int64(r.IntN(groups)))
				db.Append(decimal128.FromI64(r.Int64N(1e7)))
			}
			k, d := kb.NewArray(), db.NewArray()
			out = append(out, array.NewRecordBatch(sch, []arrow.Array{k, d}, int64(k.Len())))
			k.Release()
			d.Release()
			kb.Release()
			db.Release()
		}
		return out
	}
	input := []planner.Column{{ID: 1, Name: "k", Type: kernels.TInt64}, {ID: 2, Name: "d", Type: aggDec152}}
	for _, bc := range []struct {
		name    string
		groups  int
		drivers int
		nogroup bool
	}{
		{"groups=1000/drivers=1", 1000, 1, false},
		{"groups=1000/drivers=2", 1000, 2, false},
		{"groups=250k/drivers=1", 250000, 1, false},
		{"nogroup/drivers=1", 1000, 1, true},
	} {
		batches := mk(bc.groups)
		b.Run(bc.name, func(b *testing.B) {
			cpu0 := aggProcessCPU()
			for b.Loop() {
				q := NewQueryContext(nil, 0, bc.drivers)
				var groups []*planner.Expr
				out := []planner.Column{{ID: 10, Type: kernels.TInt64}, {ID: 11, Type: kernels.DecimalType(38, 2)}}
				if !bc.nogroup {
					groups = []*planner.Expr{planner.Col(input[0])}
				} else {
					out = out[1:]
				}
				agg, err := NewHashAggregate(q, input, groups,
					[]planner.AggCall{{Func: "sum", Args: []*planner.Expr{planner.Col(input[1])}, Type: kernels.DecimalType(38, 2)}}, out)
				if err != nil {
					b.Fatal(err)
				}
				if err := q.Run(context.Background(), &Pipeline{Source: NewBatchSource(func() []arrow.RecordBatch { return batches }), Sink: agg}); err != nil {
					b.Fatal(err)
				}
				agg.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
			// CPU time per row (all threads): robust on a loaded machine.
			b.ReportMetric(float64((aggProcessCPU()-cpu0).Nanoseconds())/float64(b.N)/rows, "cpu-ns/row")
		})
		for _, x := range batches {
			x.Release()
		}
	}
}
