package exec

import (
	"sort"
	"testing"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// TestWindowValueFunctions checks lag/lead/first_value/last_value, ntile,
// percent_rank and cume_dist against positions computed in the test, over
// a total order (id), with and without partitions, at every batch size and
// driver count of sxCase (checked allocator).
func TestWindowValueFunctions(t *testing.T) {
	cols := sxCols(sxWinTypes...)
	for i := range cols {
		cols[i].Nullable = true
	}
	type fnDef struct {
		name string
		args []*planner.Expr
		out  kernels.Type
	}
	i64 := func(v int64) *planner.Expr { return planner.Const(kernels.TInt64, kernels.Value{I: v}) }
	fns := []fnDef{
		{"lag", []*planner.Expr{planner.Col(cols[3])}, kernels.TInt64},
		{"lead", []*planner.Expr{planner.Col(cols[6]), i64(2)}, kernels.TString},
		{"lag", []*planner.Expr{planner.Col(cols[4]), i64(0)}, sxWinTypes[4]},
		{"first_value", []*planner.Expr{planner.Col(cols[6])}, kernels.TString},
		{"last_value", []*planner.Expr{planner.Col(cols[3])}, kernels.TInt64},
		{"ntile", []*planner.Expr{i64(3)}, kernels.TInt64},
		{"percent_rank", nil, kernels.TFloat64},
		{"cume_dist", nil, kernels.TFloat64},
	}
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		rows := sxWinRows(97, int64(bs+drivers))
		for _, part := range []bool{false, true} {
			var funcs []planner.WindowFunc
			for fi, f := range fns {
				wf := planner.WindowFunc{Func: f.name, Args: f.args, Col: planner.Column{ID: planner.ColumnID(200 + fi), Name: f.name, Type: f.out, Nullable: true}}
				if part {
					wf.PartitionBy = []*planner.Expr{planner.Col(cols[1])}
				}
				wf.OrderBy = []planner.SortKey{{Expr: planner.Col(cols[0])}}
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
				t.Fatalf("%d rows, want %d", len(got), len(rows))
			}
			// partitions as lists of row ids in id order
			parts := map[string][]int{}
			for i, r := range rows {
				k := ""
				if part {
					k = sxRowKey(r[1:2])
				}
				parts[k] = append(parts[k], i)
			}
			for _, g := range got {
				id := int(g[0].I)
				k := ""
				if part {
					k = sxRowKey(rows[id][1:2])
				}
				p := parts[k]
				sort.Ints(p)
				pos := sort.SearchInts(p, id)
				n := len(p)
				at := func(q, col int) kernels.Value {
					if q < 0 || q >= n {
						return kernels.NullValue
					}
					return rows[p[q]][col]
				}
				// ntile reference: bucket sizes, the first n%3 one larger
				bucket, start := int64(0), 0
				for b := 0; b < 3; b++ {
					size := n / 3
					if b < n%3 {
						size++
					}
					if pos >= start && pos < start+size {
						bucket = int64(b + 1)
					}
					start += size
				}
				pr := 0.0
				if n > 1 {
					pr = float64(pos) / float64(n-1)
				}
				want := []kernels.Value{
					at(pos-1, 3), at(pos+2, 6), at(pos, 4), at(0, 6), at(pos, 3),
					{I: bucket}, {F: pr}, {F: float64(pos+1) / float64(n)},
				}
				for fi := range fns {
					if gv := g[len(cols)+fi]; !sxSameValue(gv, want[fi]) {
						t.Fatalf("part=%v %s row %d (pos %d of %d): got %+v, want %+v", part, fns[fi].name, id, pos, n, gv, want[fi])
					}
				}
			}
		}
	})
}
