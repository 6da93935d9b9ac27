package exec

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

func TestValuesRows(t *testing.T) {
	dec := kernels.DecimalType(10, 2)
	cols := sxCols(kernels.TInt64, kernels.TString, dec, kernels.TBool)
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		var rows [][]*planner.Expr
		var want [][]kernels.Value
		for i := 0; i < 20; i++ {
			var c0 *planner.Expr
			v0 := kernels.Value{I: int64(i)}
			switch i % 3 {
			case 0:
				c0 = planner.Const(kernels.TInt64, v0)
			case 1: // an int constant cast to the bigint column
				c0 = planner.Const(kernels.TInt32, v0)
			case 2: // not a plain constant: COALESCE(NULL, i)
				c0 = &planner.Expr{Kind: planner.ECoalesce, Type: kernels.TInt64, Args: []*planner.Expr{planner.NullConst(kernels.TInt64), planner.Const(kernels.TInt64, v0)}}
			}
			s := kernels.Value{S: string(rune('a' + i))}
			c1 := planner.Const(kernels.TString, s)
			if i%4 == 0 {
				c1, s = planner.NullConst(kernels.TNull), kernels.NullValue
			}
			d := kernels.DecValue(decimal128.FromI64(int64(i * 101)))
			b := kernels.Value{I: int64(i % 2)}
			rows = append(rows, []*planner.Expr{c0, c1, planner.Const(dec, d), planner.BoolConst(i%2 == 1)})
			want = append(want, []kernels.Value{v0, s, d, b})
		}
		src, err := NewValues(q, cols, rows)
		if err != nil {
			t.Fatal(err)
		}
		got, sizes := sxDrain(t, q, src)
		src.Close()
		if len(got) != len(want) {
			t.Fatalf("got %d rows", len(got))
		}
		for i := range got {
			if sxRowKey(got[i]) != sxRowKey(want[i]) {
				t.Fatalf("row %d: %s, want %s", i, sxRowKey(got[i]), sxRowKey(want[i]))
			}
		}
		for _, n := range sizes {
			if n > bs {
				t.Fatalf("batch of %d rows", n)
			}
		}
		// Many drivers reading one Values source.
		src, _ = NewValues(q, cols, rows)
		buf := NewBufferSink(q)
		if err := sxRunSource(q, src, nil, buf, 0); err != nil {
			t.Fatal(err)
		}
		sxSameMultiset(t, sxRows(t, buf.Batches()), want)
		buf.Close()
		src.Close()
	})
}

func TestValuesNoColumnsAndErrors(t *testing.T) {
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		src, err := NewValues(q, nil, [][]*planner.Expr{{}, {}, {}})
		if err != nil {
			t.Fatal(err)
		}
		buf := NewBufferSink(q)
		if err := sxRunSource(q, src, nil, buf, 1); err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		for _, b := range buf.Batches() {
			n += b.NumRows()
		}
		buf.Close()
		if n != 3 {
			t.Fatalf("got %d rows, want 3", n)
		}
		cols := sxCols(kernels.TInt64)
		if _, err := NewValues(q, cols, [][]*planner.Expr{{planner.Const(kernels.TString, kernels.Value{S: "x"})}}); err == nil {
			t.Fatal("text accepted for a bigint column")
		}
		if _, err := NewValues(q, cols, [][]*planner.Expr{{}}); err == nil {
			t.Fatal("short row accepted")
		}
	})
}
