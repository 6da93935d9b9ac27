package exec

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRowKeysMatchValueEncoding checks every encoding path (fixed width,
// strings with and without NULLs, long strings, sliced arrays, broadcast
// constants) against the per-value reference appendValue.
func TestRowKeysMatchValueEncoding(t *testing.T) {
	mem := memory.NewGoAllocator()
	sb := array.NewStringBuilder(mem)
	ib := array.NewInt64Builder(mem)
	for i := range 300 {
		switch {
		case i%7 == 3:
			sb.AppendNull()
		default:
			sb.Append(strings.Repeat(string(rune('a'+i%26)), i%150))
		}
		if i%5 == 2 {
			ib.AppendNull()
		} else {
			ib.Append(int64(i * 1000003))
		}
	}
	strs, ints := sb.NewArray(), ib.NewArray()
	defer strs.Release()
	defer ints.Release()
	sb.AppendValues([]string{"x", "yy", "", "long string past eight bytes"}, nil)
	noNull := sb.NewArray()
	defer noNull.Release()
	sb.Append("const")
	one := sb.NewArray()
	defer one.Release()
	sliced := array.NewSlice(strs, 17, 240)
	defer sliced.Release()
	slicedInts := array.NewSlice(ints, 17, 240)
	defer slicedInts.Release()
	slicedNoNull := array.NewSlice(noNull, 1, 4)
	defer slicedNoNull.Release()

	cases := map[string][]arrow.Array{
		"strings":        {strs, ints},
		"sliced":         {sliced, slicedInts},
		"sliced no null": {slicedNoNull},
		"no null":        {noNull},
		"broadcast":      {one, noNull},
	}
	for name, cols := range cases {
		n := cols[len(cols)-1].Len()
		var rk RowKeys
		rk.Encode(cols, n)
		for i := 0; i < n; i++ {
			var want []byte
			anyNull := false
			for _, c := range cols {
				j := i
				if c.Len() == 1 && n != 1 {
					j = 0
				}
				if c.IsNull(j) {
					want = append(want, 0)
					anyNull = true
					continue
				}
				want = append(want, 1)
				want = appendValue(want, c, j)
			}
			if got := rk.Buf[rk.Offs[i]:rk.Offs[i+1]]; !bytes.Equal(got, want) {
				t.Fatalf("%s row %d: key %x, want %x", name, i, got, want)
			}
			if rk.AnyNull[i] != anyNull {
				t.Fatalf("%s row %d: AnyNull %v, want %v", name, i, rk.AnyNull[i], anyNull)
			}
		}
	}
}
