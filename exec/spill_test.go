package exec

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
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
				if groups[0] == "s" && (threshold == 1 || d == 1) {
					continue // slow (every group ends in its own partition), and covered by k1, k2
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

// TestHashJoinSpill runs every join kind with its build side spilled
// (grace partitions, some resident) and compares with the reference.
func TestHashJoinSpill(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	lrows, rrows := hjGenRows(rng, 300, 60), hjGenRows(rng, 400, 60)
	for _, cfg := range []struct {
		threshold int64
		drivers   int
		keys      [][2]int
	}{{256, 1, hjKeySets[0]}, {2 << 10, 4, hjKeySets[2]}} {
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
					for _, keys := range [][][2]int{cfg.keys} {
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

// TestRemoveStaleSpillDirs removes the spill folders of dead processes
// only.
func TestRemoveStaleSpillDirs(t *testing.T) {
	parent := t.TempDir()
	dead := filepath.Join(parent, spillDirPrefix+"2147483646-abc")
	live := filepath.Join(parent, fmt.Sprintf("%s%d-abc", spillDirPrefix, os.Getpid()))
	other := filepath.Join(parent, "bellows-spillage")
	for _, d := range []string{dead, live, other} {
		if err := os.MkdirAll(filepath.Join(d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	RemoveStaleSpillDirs(parent)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("stale folder kept: %v", err)
	}
	for _, d := range []string{live, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
}

// TestSpillManagerLifecycle: the folder appears with the first file and
// goes with Close, after which no file can be made.
func TestSpillManagerLifecycle(t *testing.T) {
	parent := t.TempDir()
	q := NewQueryContext(nil, 0, 1)
	q.SpillDir = parent
	if q.Spill().Dir() != "" {
		t.Fatal("folder made before the first file")
	}
	cols := sxCols(kernels.TInt64)
	in := sxMake(q, cols, [][]kernels.Value{{{I: 1}}, {{I: 2}}}, 1)
	defer sxRelease(in)
	w, err := q.newSpillWriter("test", in[0].Schema(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range in {
		if err := w.write(b); err != nil {
			t.Fatal(err)
		}
	}
	f, err := w.finish()
	if err != nil {
		t.Fatal(err)
	}
	dir := q.Spill().Dir()
	if !strings.HasPrefix(dir, parent) {
		t.Fatalf("spill folder %q not under %q", dir, parent)
	}
	var got []arrow.RecordBatch
	if err := readAll(t.Context(), q, f, func(b arrow.RecordBatch) error { b.Retain(); got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if rows := sxRows(t, got); len(rows) != 2 || rows[0][0].I != 1 || rows[1][0].I != 2 {
		t.Fatalf("read back %v", rows)
	}
	sxRelease(got)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("spill folder left after Close: %v", err)
	}
	if _, err := q.newSpillWriter("test", in[0].Schema(), nil); err == nil {
		t.Fatal("spill file made after Close")
	}
	f.remove() // after the folder is gone: harmless
}

// TestSpillReadBackOverLimit checks that reading a spill file back into a
// query that has no room for it fails with the memory-limit error (the IPC
// reader would otherwise report its recovered panic as "invalid message
// metadata").
func TestSpillReadBackOverLimit(t *testing.T) {
	q := NewQueryContext(memory.NewGoAllocator(), 64<<10, 1)
	q.SpillDir = t.TempDir()
	defer q.Close()
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	w, err := q.newSpillWriter("test", schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]int64, 100_000) // 800 kB: more than the 64 kB limit
	for i := range vals {
		vals[i] = int64(i)
	}
	b := batchOfInt64(schema, vals)
	err = w.write(b)
	b.Release()
	if err != nil {
		t.Fatal(err)
	}
	f, err := w.finish()
	if err != nil {
		t.Fatal(err)
	}
	defer f.remove()
	r, err := f.open(q.Alloc)
	if err == nil {
		defer r.close()
		var got arrow.RecordBatch
		got, err = r.next()
		if got != nil {
			got.Release()
		}
	}
	var lim *ErrMemoryLimit
	if !errors.As(err, &lim) {
		t.Fatalf("reading back over the limit: got %v, want a memory-limit error", err)
	}
	if u := q.Pool.Used(); u != 0 {
		t.Errorf("pool holds %d bytes after the failed read", u)
	}
}

// batchOfInt64 returns a one-column batch of vals (Go-allocated).
func batchOfInt64(schema *arrow.Schema, vals []int64) arrow.RecordBatch {
	bld := array.NewInt64Builder(memory.NewGoAllocator())
	defer bld.Release()
	bld.AppendValues(vals, nil)
	a := bld.NewArray()
	defer a.Release()
	return array.NewRecordBatch(schema, []arrow.Array{a}, int64(len(vals)))
}
