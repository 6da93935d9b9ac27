package exec

import (
	"context"
	"fmt"
	"testing"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// sxSetOpRef computes a set operation over row multisets.
func sxSetOpRef(kind planner.SetOpKind, all bool, left, right [][]kernels.Value) [][]kernels.Value {
	lc, rc := map[string]int{}, map[string]int{}
	rep := map[string][]kernels.Value{}
	var order []string
	for _, r := range left {
		k := sxRowKey(r)
		if _, ok := rep[k]; !ok {
			rep[k] = r
			order = append(order, k)
		}
		lc[k]++
	}
	for _, r := range right {
		k := sxRowKey(r)
		if _, ok := rep[k]; !ok {
			rep[k] = r
			order = append(order, k)
		}
		rc[k]++
	}
	var out [][]kernels.Value
	for _, k := range order {
		l, r := lc[k], rc[k]
		times := 0
		switch {
		case kind == planner.SetUnion && all:
			times = l + r
		case kind == planner.SetUnion:
			times = 1
		case kind == planner.SetIntersect && all:
			times = min(l, r)
		case kind == planner.SetIntersect:
			times = min(l, r, 1)
		case kind == planner.SetExcept && all:
			times = max(l-r, 0)
		case kind == planner.SetExcept:
			if l > 0 && r == 0 {
				times = 1
			}
		}
		for ; times > 0; times-- {
			out = append(out, rep[k])
		}
	}
	return out
}

func TestSetOpKinds(t *testing.T) {
	cols := sxCols(kernels.TInt64, kernels.TString, kernels.DecimalType(10, 2))
	kinds := []planner.SetOpKind{planner.SetUnion, planner.SetIntersect, planner.SetExcept}
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		r := sxRand(int64(bs * drivers))
		for round := 0; round < 3; round++ {
			nl, nr := 150, 120
			switch round {
			case 1:
				nr = 0
			case 2:
				nl = 0
			}
			// Draw from a small pool of rows: many duplicates, overlaps and
			// NULLs.
			pool := sxGenRows(r, cols, 25, 0.2, 4)
			pool = append(pool, []kernels.Value{kernels.NullValue, kernels.NullValue, kernels.NullValue})
			draw := func(n int, from [][]kernels.Value) [][]kernels.Value {
				out := make([][]kernels.Value, n)
				for i := range out {
					out[i] = from[r.Intn(len(from))]
				}
				return out
			}
			left := draw(nl, pool)
			right := draw(nr, pool[len(pool)/3:])
			for _, kind := range kinds {
				for _, all := range []bool{false, true} {
					name := fmt.Sprintf("%s all=%v round %d", kind, all, round)
					so, err := NewSetOp(q, kind, all, cols)
					if err != nil {
						t.Fatal(err)
					}
					lb, rb := sxMake(q, cols, left, bs), sxMake(q, cols, right, bs)
					if err := sxRun(q, lb, nil, so.LeftSink(), 0); err != nil {
						t.Fatal(name, err)
					}
					if err := sxRun(q, rb, nil, so.RightSink(), 0); err != nil {
						t.Fatal(name, err)
					}
					sxRelease(lb)
					sxRelease(rb)
					got, _ := sxDrain(t, q, so.Source())
					so.Close()
					want := sxSetOpRef(kind, all, left, right)
					t.Run(name, func(t *testing.T) { sxSameMultiset(t, got, want) })
				}
			}
		}
	})
}

func TestSetOpCloseEarly(t *testing.T) {
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		cols := sxCols(kernels.TInt64, kernels.TString)
		rows := sxGenRows(sxRand(1), cols, 50, 0.1, 5)
		for _, kind := range []planner.SetOpKind{planner.SetUnion, planner.SetExcept} {
			for _, all := range []bool{false, true} {
				so, _ := NewSetOp(q, kind, all, cols)
				in := sxMake(q, cols, rows, bs)
				if err := sxRun(q, in, nil, so.LeftSink(), 0); err != nil {
					t.Fatal(err)
				}
				// A right local that never combines.
				sink := so.RightSink()
				l, err := sink.Local(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Consume(context.Background(), in[0]); err != nil {
					t.Fatal(err)
				}
				sxRelease(in)
				sink.Close()
				so.Close() // idempotent
			}
		}
	})
}
