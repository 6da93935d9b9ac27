package exec

import (
	"testing"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

func TestFilterConditions(t *testing.T) {
	cols := sxCols(kernels.TInt64, kernels.TBool, kernels.TString, kernels.DecimalType(12, 2), kernels.TDate, kernels.TFloat64)
	c0, c1 := planner.Col(cols[0]), planner.Col(cols[1])
	notNull := &planner.Expr{Kind: planner.ENot, Type: kernels.TBool, Args: []*planner.Expr{{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{c0}}}}
	isNull := &planner.Expr{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{c0}}
	type tc struct {
		name string
		cond *planner.Expr
		keep func(r []kernels.Value) bool
	}
	cases := []tc{
		{"nil", nil, func(r []kernels.Value) bool { return true }},
		{"true", planner.BoolConst(true), func(r []kernels.Value) bool { return true }},
		{"false", planner.BoolConst(false), func(r []kernels.Value) bool { return false }},
		{"null", planner.NullConst(kernels.TBool), func(r []kernels.Value) bool { return false }},
		{"bool column", c1, func(r []kernels.Value) bool { return !r[1].Null && r[1].I == 1 }},
		{"c0 not null and c1", planner.And(notNull, c1), func(r []kernels.Value) bool { return !r[0].Null && !r[1].Null && r[1].I == 1 }},
		{"c1 or c0 is null", &planner.Expr{Kind: planner.EOr, Type: kernels.TBool, Args: []*planner.Expr{c1, isNull}}, func(r []kernels.Value) bool { return r[0].Null || (!r[1].Null && r[1].I == 1) }},
	}
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		rows := sxGenRows(sxRand(int64(bs)), cols, 500, 0.25, 20)
		in := sxMake(q, cols, rows, bs)
		defer sxRelease(in)
		for _, c := range cases {
			f, err := NewFilter(q, cols, c.cond)
			if err != nil {
				t.Fatal(err)
			}
			buf := NewBufferSink(q)
			if err := sxRun(q, in, []Operator{f}, buf, 0); err != nil {
				t.Fatal(c.name, err)
			}
			got := sxRows(t, buf.Batches())
			buf.Close()
			f.Close()
			var want [][]kernels.Value
			for _, r := range rows {
				if c.keep(r) {
					want = append(want, r)
				}
			}
			t.Run(c.name, func(t *testing.T) { sxSameMultiset(t, got, want) })
		}
	})
	if _, err := NewFilter(NewQueryContext(nil, 0, 1), cols, c0); err == nil {
		t.Fatal("bigint condition accepted")
	}
}
