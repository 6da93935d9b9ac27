package exec

import (
	"testing"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

func TestProjectExprs(t *testing.T) {
	cols := sxCols(kernels.TInt64, kernels.TBool, kernels.TString)
	c0, c1, c2 := planner.Col(cols[0]), planner.Col(cols[1]), planner.Col(cols[2])
	no := planner.Const(kernels.TString, kernels.Value{S: "no"})
	exprs := []*planner.Expr{
		c2,
		c0,
		planner.Const(kernels.TInt64, kernels.Value{I: 42}),
		{Kind: planner.ECoalesce, Type: kernels.TInt64, Args: []*planner.Expr{c0, planner.Const(kernels.TInt64, kernels.Value{})}},
		{Kind: planner.ECase, Type: kernels.TString, HasElse: true, Args: []*planner.Expr{c1, c2, no}},
		{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{c0}},
	}
	out := sxCols(kernels.TString, kernels.TInt64, kernels.TInt64, kernels.TInt64, kernels.TString, kernels.TBool)
	for i := range out {
		out[i].ID += 100
	}
	ref := func(r []kernels.Value) []kernels.Value {
		co := r[0]
		if co.Null {
			co = kernels.Value{}
		}
		cs := kernels.Value{S: "no"}
		if !r[1].Null && r[1].I == 1 {
			cs = r[2]
		}
		isn := kernels.Value{}
		if r[0].Null {
			isn.I = 1
		}
		return []kernels.Value{r[2], r[0], {I: 42}, co, cs, isn}
	}
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		rows := sxGenRows(sxRand(int64(bs)), cols, 300, 0.25, 20)
		in := sxMake(q, cols, rows, bs)
		defer sxRelease(in)
		p, err := NewProject(q, cols, exprs, out)
		if err != nil {
			t.Fatal(err)
		}
		buf := NewBufferSink(q)
		if err := sxRun(q, in, []Operator{p}, buf, 0); err != nil {
			t.Fatal(err)
		}
		got := sxRows(t, buf.Batches())
		for _, b := range buf.Batches() {
			if !b.Schema().Equal(schemaOf(out)) {
				t.Fatalf("schema %s", b.Schema())
			}
		}
		buf.Close()
		p.Close()
		want := make([][]kernels.Value, len(rows))
		for i, r := range rows {
			want[i] = ref(r)
		}
		sxSameMultiset(t, got, want)
		// No expressions: keeps the row count.
		p0, _ := NewProject(q, cols, nil, nil)
		buf = NewBufferSink(q)
		if err := sxRun(q, in, []Operator{p0}, buf, 0); err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		for _, b := range buf.Batches() {
			n += b.NumRows()
		}
		buf.Close()
		if n != int64(len(rows)) {
			t.Fatalf("got %d rows", n)
		}
	})
}
