package exec

import (
	"fmt"
	"math/rand"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
)

// spillQuery returns a query context that spills once it holds threshold
// bytes, with its spill directory under a test directory, and a check to
// run at the end: the pool is empty and no spill file is left.
func spillQuery(t *testing.T, checked memory.Allocator, threshold int64, drivers, bs int) (*QueryContext, func()) {
	t.Helper()
	q := NewQueryContext(checked, 0, drivers)
	q.BatchSize = bs
	q.SpillThreshold = threshold
	q.SpillDir = t.TempDir()
	return q, func() { t.Helper(); checkSpilled(t, q) }
}

// checkSpilled checks that q spilled, then closes it and checks that its
// pool is empty and no spill file is left.
func checkSpilled(t *testing.T, q *QueryContext) {
	t.Helper()
	if q.Spill().FilesWritten() == 0 {
		t.Error("nothing was spilled")
	}
	t.Logf("spilled %d bytes in %d files", q.Spill().BytesWritten(), q.Spill().FilesWritten())
	{
		if err := q.Close(); err != nil {
			t.Error(err)
		}
		if u := q.Pool.Used(); u != 0 {
			t.Errorf("pool still holds %d bytes", u)
		}
		if n := q.Spill().live.Load(); n != 0 {
			t.Errorf("%d spill files not removed", n)
		}
		ents, err := os.ReadDir(q.SpillDir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Errorf("spill dir %s still holds %d entries", q.SpillDir, len(ents))
		}
	}
}

func TestHashAggregateSpill(t *testing.T) {
	in := aggGenInput(3000, 11)
	for _, groups := range [][]string{{"k1", "k2"}, {"s", "dt"}} {
		want := aggReference(in, groups, aggTestCalls)
		for _, threshold := range []int64{1, 16 << 10} {
			for _, d := range []int{1, 4} {
				if len(groups[0]) == 1 && threshold == 1 && d == 1 {
					continue // slow: every group ends in its own partition
				}
				t.Run(fmt.Sprintf("%v/threshold=%d/drivers=%d", groups, threshold, d), func(t *testing.T) {
					got := aggRunPipeline(t, in, groups, aggTestCalls, aggRunOpts{batchSize: 64, drivers: d, spill: threshold})
					aggCompare(t, got, want, aggTestCalls, len(groups))
				})
			}
		}
	}
}

func TestSortSpill(t *testing.T) {
	cols := sxCols(sxSortTypes...)
	for _, drivers := range []int{1, 3, 8} {
		for _, threshold := range []int64{1, 64 << 10} {
			checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
			q, check := spillQuery(t, checked, threshold, drivers, 97)
			r := rand.New(rand.NewSource(int64(drivers) + threshold))
			keys := []sxKey{{col: 1, desc: true}, {col: 2, nullsFirst: true}, {col: 0}}
			for i := range keys {
				keys[i].t = cols[keys[i].col].Type
			}
			rows := sxGenRows(r, cols, 5000, 0.1, 300)
			in := sxMake(q, cols, rows, 97)
			s, err := NewSort(q, cols, sxSortKeys(cols, keys))
			if err != nil {
				t.Fatal(err)
			}
			if err := sxRun(q, in, nil, s, 0); err != nil {
				t.Fatal(err)
			}
			sxRelease(in)
			if q.Spill().FilesWritten() == 0 {
				t.Fatalf("threshold %d: the sort did not spill", threshold)
			}
			got, _ := sxDrain(t, q, s.Source())
			s.Close()
			sxCheckSorted(t, keys, rows, got, 0, len(rows))
			check()
			checked.AssertSize(t, 0)
		}
	}
}

var _ = kernels.TInt64

// TestHashJoinSpill runs every join kind with its build side spilled
// (grace partitions, some resident) and compares with the reference.
func TestHashJoinSpill(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	lrows, rrows := hjGenRows(rng, 300, 60), hjGenRows(rng, 400, 60)
	for _, cfg := range []struct {
		threshold int64
		drivers   int
	}{{256, 1}, {2 << 10, 4}} {
		threshold, drivers := cfg.threshold, cfg.drivers
		{
			t.Run(fmt.Sprintf("threshold=%d/drivers=%d", threshold, drivers), func(t *testing.T) {
				checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer checked.AssertSize(t, 0)
				q, check := spillQuery(t, checked, threshold, drivers, 16)
				q.Kernels = hjReg
				lb := hjBatches(checked, hjL, lrows, 16, false)
				rb := hjBatches(checked, hjR, rrows, 16, true)
				defer releaseBatches(lb)
				defer releaseBatches(rb)
				for _, kind := range hjKinds {
					for _, keys := range [][][2]int{hjKeySets[0], hjKeySets[2]} {
						for _, res := range []bool{false, true} {
							s := hjSpec{kind: kind, keys: keys, residual: res}
							before := q.Spill().FilesWritten()
							got, gerr := hjRun(t, q, s, hjL, hjR, lb, rb, nil)
							want, werr := hjReference(s, hjL, hjR, lrows, rrows)
							hjCompare(t, s.String(), got, want, gerr, werr)
							if q.Spill().FilesWritten() == before {
								t.Errorf("%s did not spill", s)
							}
							if n := q.Spill().live.Load(); n != 0 {
								t.Errorf("%s: %d spill files left after Close", s, n)
							}
						}
					}
				}
				check()
			})
		}
	}
}
