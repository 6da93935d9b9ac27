package exec

import (
	"testing"

	"github.com/bellows-db/bellows/kernels"
)

func TestEnforceSingleRow(t *testing.T) {
	cols := sxCols(kernels.TInt64, kernels.TString)
	sxCase(t, func(t *testing.T, q *QueryContext, bs, drivers int) {
		for n := 0; n <= 3; n++ {
			rows := sxGenRows(sxRand(int64(n)), cols, n, 0, 10)
			in := sxMake(q, cols, rows, bs)
			s := NewEnforceSingleRow(q, cols)
			err := sxRun(q, in, nil, s, 0)
			sxRelease(in)
			if n > 1 {
				if err == nil || err.Error() != "more than one row returned by a subquery used as an expression" {
					t.Fatalf("%d rows: got error %v", n, err)
				}
				s.Close()
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := sxDrain(t, q, s.Source())
			s.Close()
			want := rows
			if n == 0 {
				want = [][]kernels.Value{{kernels.NullValue, kernels.NullValue}}
			}
			if len(got) != 1 || sxRowKey(got[0]) != sxRowKey(want[0]) {
				t.Fatalf("%d rows: got %v", n, got)
			}
		}
	})
}
