package exec

import (
	"testing"

	"github.com/bellows-db/bellows/kernels"
)

func TestLimitAcrossDrivers(t *testing.T) {
	cols := sxCols(kernels.TInt64, kernels.TString)
	const n = 200
	rows := make([][]kernels.Value, n)
	for i := range rows {
		rows[i] = []kernels.Value{{I: int64(i)}, {S: "x"}}
	}
	cases := []struct{ count, offset int64 }{{10, 0}, {0, 0}, {-1, 0}, {-1, 50}, {25, 190}, {500, 0}, {7, 3}, {1, 199}, {3, 500}, {199, 1}}
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		in := sxMake(q, cols, rows, bs)
		defer sxRelease(in)
		for _, c := range cases {
			lim := NewLimit(q, c.count, c.offset)
			buf := NewBufferSink(q)
			if err := sxRun(q, in, []Operator{lim}, buf, 0); err != nil {
				t.Fatal(err)
			}
			got := sxRows(t, buf.Batches())
			buf.Close()
			lim.Close()
			want := max(0, min(n-c.offset, n))
			if c.count >= 0 {
				want = min(want, c.count)
			}
			if int64(len(got)) != want {
				t.Fatalf("limit %d offset %d: got %d rows, want %d", c.count, c.offset, len(got), want)
			}
			seen := map[int64]bool{}
			for i, r := range got {
				v := r[0].I
				if seen[v] || v < 0 || v >= n {
					t.Fatalf("bad or repeated row %d", v)
				}
				seen[v] = true
				// One driver on ordered input: exactly rows offset.. in order.
				if drivers == 1 && v != c.offset+int64(i) {
					t.Fatalf("limit %d offset %d: row %d is %d", c.count, c.offset, i, v)
				}
			}
		}
	})
}

func TestLimitAfterSort(t *testing.T) {
	cols := sxCols(kernels.TInt64, kernels.TString)
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		rows := sxGenRows(sxRand(5), cols, 100, 0.1, 40)
		in := sxMake(q, cols, rows, bs)
		keys := []sxKey{{col: 1, t: kernels.TString, desc: true}, {col: 0, t: kernels.TInt64}}
		s, _ := NewSort(q, cols, sxSortKeys(cols, keys))
		if err := sxRun(q, in, nil, s, 0); err != nil {
			t.Fatal(err)
		}
		sxRelease(in)
		lim := NewLimit(q, 15, 10)
		buf := NewBufferSink(q)
		src := s.Source()
		if err := sxRunSource(q, src, []Operator{lim}, buf, 1); err != nil {
			t.Fatal(err)
		}
		got := sxRows(t, buf.Batches())
		buf.Close()
		s.Close()
		sxCheckSorted(t, keys, rows, got, 10, 25)
	})
}
