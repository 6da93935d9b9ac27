package exec

import (
	"context"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Window test columns: id, part, ord, vi, vd, vf, vs.
var sxWinTypes = []kernels.Type{kernels.TInt64, kernels.TInt32, kernels.TInt64, kernels.TInt64, kernels.DecimalType(12, 2), kernels.TFloat64, kernels.TString}

func sxWinRows(n int, seed int64) [][]kernels.Value {
	r := sxRand(seed)
	cols := sxCols(sxWinTypes...)
	rows := sxGenRows(r, cols, n, 0.2, 12)
	for i, row := range rows {
		row[0] = kernels.Value{I: int64(i)}
		if r.Intn(10) < 8 && !row[4].Null { // mostly small decimals
			row[4] = kernels.DecValue(decimal128.FromI64(int64(r.Intn(2000) - 1000)))
		}
	}
	return rows
}

type sxWinSpec struct {
	part bool
	ord  []sxKey // over the window columns
}

// sxFrame is what the reference needs about one row's window.
type sxFrame struct {
	less, lessDistinct int
	frame              [][]kernels.Value
}

// sxFrames computes every row's frame the slow way.
func sxFrames(rows [][]kernels.Value, spec sxWinSpec) []sxFrame {
	pk := make([]string, len(rows))
	ok := make([]string, len(rows))
	for i, x := range rows {
		pk[i] = sxRowKey(x[1:2])
		var ks []kernels.Value
		for _, k := range spec.ord {
			ks = append(ks, x[k.col])
		}
		ok[i] = sxRowKey(ks)
	}
	out := make([]sxFrame, len(rows))
	for r, me := range rows {
		f := &out[r]
		distinct := map[string]bool{}
		for i, x := range rows {
			if spec.part && pk[i] != pk[r] {
				continue
			}
			c := sxCmpKeys(spec.ord, x, me)
			if c <= 0 {
				f.frame = append(f.frame, x)
			}
			if c < 0 {
				f.less++
				distinct[ok[i]] = true
			}
		}
		f.lessDistinct = len(distinct)
	}
	return out
}

// sxWinRef computes a function for one row from its frame.
func sxWinRef(f *sxFrame, fn string, arg int) kernels.Value {
	less, frame := f.less, f.frame
	switch fn {
	case "rank":
		return kernels.Value{I: int64(less + 1)}
	case "dense_rank":
		return kernels.Value{I: int64(f.lessDistinct + 1)}
	case "count_star":
		return kernels.Value{I: int64(len(frame))}
	}
	var vals []kernels.Value
	for _, x := range frame {
		if !x[arg].Null {
			vals = append(vals, x[arg])
		}
	}
	t := sxWinTypes[arg]
	switch fn {
	case "count":
		return kernels.Value{I: int64(len(vals))}
	case "sum", "avg":
		if len(vals) == 0 {
			return kernels.NullValue
		}
		var si int64
		var sf float64
		var sd decimal128.Num
		for _, v := range vals {
			si += v.I
			sf += v.F
			sd = sd.Add(v.Dec)
		}
		switch {
		case fn == "sum" && t.ID == kernels.Int64:
			return kernels.Value{I: si}
		case fn == "sum" && t.ID == kernels.Float64:
			return kernels.Value{F: sf}
		case fn == "sum":
			return kernels.DecValue(sd)
		case t.ID == kernels.Int64:
			return kernels.Value{F: float64(si) / float64(len(vals))}
		case t.ID == kernels.Float64:
			return kernels.Value{F: sf / float64(len(vals))}
		}
		return kernels.Value{F: sd.ToFloat64(t.Scale) / float64(len(vals))}
	case "min", "max":
		if len(vals) == 0 {
			return kernels.NullValue
		}
		best := vals[0]
		for _, v := range vals[1:] {
			c := sxCmpVal(t, v, best)
			if (fn == "min" && c < 0) || (fn == "max" && c > 0) {
				best = v
			}
		}
		return best
	}
	panic(fn)
}

func TestWindowFunctions(t *testing.T) {
	cols := sxCols(sxWinTypes...)
	for i := range cols {
		cols[i].Nullable = true
	}
	specs := []sxWinSpec{
		{},
		{part: true},
		{ord: []sxKey{{col: 2}}},
		{part: true, ord: []sxKey{{col: 2}}},
		{part: true, ord: []sxKey{{col: 2, desc: true, nullsFirst: true}, {col: 6}}},
		{ord: []sxKey{{col: 6, desc: true}, {col: 3, nullsFirst: true}}},
	}
	type fnDef struct {
		name string
		arg  int
		out  kernels.Type
	}
	fns := []fnDef{
		{"row_number", -1, kernels.TInt64}, {"rank", -1, kernels.TInt64}, {"dense_rank", -1, kernels.TInt64},
		{"count_star", -1, kernels.TInt64}, {"count", 6, kernels.TInt64}, {"count", 3, kernels.TInt64},
		{"sum", 3, kernels.TInt64}, {"sum", 4, kernels.DecimalType(38, 2)}, {"sum", 5, kernels.TFloat64},
		{"avg", 3, kernels.TFloat64}, {"avg", 4, kernels.TFloat64}, {"avg", 5, kernels.TFloat64},
		{"min", 6, kernels.TString}, {"max", 6, kernels.TString}, {"min", 4, sxWinTypes[4]}, {"max", 5, kernels.TFloat64},
		{"min", 3, kernels.TInt64}, {"max", 2, kernels.TInt64},
	}
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		rows := sxWinRows(160, int64(bs+drivers))
		for si, spec := range specs {
			for i := range spec.ord {
				spec.ord[i].t = sxWinTypes[spec.ord[i].col]
			}
			var funcs []planner.WindowFunc
			for fi, f := range fns {
				wf := planner.WindowFunc{Func: f.name, Col: planner.Column{ID: planner.ColumnID(100 + fi), Name: f.name, Type: f.out, Nullable: true}}
				if f.arg >= 0 {
					wf.Args = []*planner.Expr{planner.Col(cols[f.arg])}
				}
				if spec.part {
					wf.PartitionBy = []*planner.Expr{planner.Col(cols[1])}
				}
				wf.OrderBy = sxSortKeys(cols, spec.ord)
				funcs = append(funcs, wf)
			}
			w, err := NewWindow(q, cols, funcs)
			if err != nil {
				t.Fatal(err)
			}
			in := sxMake(q, cols, rows, bs)
			if err := sxRun(q, in, nil, w, 0); err != nil {
				t.Fatal(err)
			}
			sxRelease(in)
			got, _ := sxDrain(t, q, w.Source())
			w.Close()
			if len(got) != len(rows) {
				t.Fatalf("spec %d: %d rows, want %d", si, len(got), len(rows))
			}
			byID := map[int64][]kernels.Value{}
			for _, g := range got {
				if sxRowKey(g[:len(cols)]) != sxRowKey(rows[g[0].I]) {
					t.Fatalf("spec %d: input columns changed: %s vs %s", si, sxRowKey(g[:len(cols)]), sxRowKey(rows[g[0].I]))
				}
				byID[g[0].I] = g
			}
			frames := sxFrames(rows, spec)
			for fi, f := range fns {
				if f.name == "row_number" {
					sxCheckRowNumber(t, rows, spec, byID, len(cols)+fi)
					continue
				}
				for r := range rows {
					want := sxWinRef(&frames[r], f.name, f.arg)
					gotV := byID[int64(r)][len(cols)+fi]
					if !sxSameValue(gotV, want) {
						t.Fatalf("spec %d %s(%d) row %d: got %+v, want %+v", si, f.name, f.arg, r, gotV, want)
					}
				}
			}
		}
	})
}

func sxSameValue(a, b kernels.Value) bool {
	if a.Null || b.Null {
		return a.Null == b.Null
	}
	if math.IsNaN(a.F) || math.IsNaN(b.F) {
		return math.IsNaN(a.F) && math.IsNaN(b.F)
	}
	return a.I == b.I && a.F == b.F && a.S == b.S && a.Dec == b.Dec
}

// sxCheckRowNumber checks that row_number numbers each partition 1..n in an
// order consistent with the ORDER BY.
func sxCheckRowNumber(t *testing.T, rows [][]kernels.Value, spec sxWinSpec, byID map[int64][]kernels.Value, col int) {
	t.Helper()
	parts := map[string][][]kernels.Value{}
	for _, r := range rows {
		k := ""
		if spec.part {
			k = sxRowKey(r[1:2])
		}
		parts[k] = append(parts[k], byID[r[0].I])
	}
	for _, p := range parts {
		sort.Slice(p, func(i, j int) bool { return p[i][col].I < p[j][col].I })
		for i, r := range p {
			if r[col].I != int64(i+1) {
				t.Fatalf("row_number values %d at %d", r[col].I, i)
			}
			if i > 0 && sxCmpKeys(spec.ord, p[i-1], r) > 0 {
				t.Fatalf("row_number order breaks ORDER BY at %d", i)
			}
		}
	}
}

func TestWindowErrorsAndEmpty(t *testing.T) {
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		cols := sxCols(kernels.TInt64, kernels.TString)
		// sum over bigint overflows.
		w, err := NewWindow(q, cols, []planner.WindowFunc{{Func: "sum", Args: []*planner.Expr{planner.Col(cols[0])}, Col: planner.Column{ID: 9, Type: kernels.TInt64}}})
		if err != nil {
			t.Fatal(err)
		}
		rows := [][]kernels.Value{{{I: math.MaxInt64}, {S: "a"}}, {{I: 5}, {S: "b"}}}
		in := sxMake(q, cols, rows, bs)
		err = sxRun(q, in, nil, w, 0)
		sxRelease(in)
		w.Close()
		if err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Fatalf("want overflow error, got %v", err)
		}
		// Empty input.
		w, _ = NewWindow(q, cols, []planner.WindowFunc{{Func: "rank", OrderBy: []planner.SortKey{{Expr: planner.Col(cols[1])}}, Col: planner.Column{ID: 9, Type: kernels.TInt64}}})
		if err := sxRun(q, nil, nil, w, 0); err != nil {
			t.Fatal(err)
		}
		got, _ := sxDrain(t, q, w.Source())
		w.Close()
		if len(got) != 0 {
			t.Fatalf("got %d rows", len(got))
		}
		// Unknown function.
		if _, err := NewWindow(q, cols, []planner.WindowFunc{{Func: "ntile", Col: planner.Column{ID: 9, Type: kernels.TInt64}}}); err == nil {
			t.Fatal("ntile accepted")
		}
		// Close before Finalize releases the locals.
		w, _ = NewWindow(q, cols, []planner.WindowFunc{{Func: "row_number", Col: planner.Column{ID: 9, Type: kernels.TInt64}}})
		l, _ := w.Local(context.Background())
		in = sxMake(q, cols, rows, bs)
		for _, b := range in {
			if err := l.Consume(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
		sxRelease(in)
		w.Close()
	})
}
