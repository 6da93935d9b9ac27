package exec

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"

	"github.com/bellows-db/bellows/kernels"
)

// RowKeys holds the encoded key of every row of a batch: equal SQL values
// (after the binder coerced both sides to one type) give equal bytes, so
// keys can be hashed and compared as strings. Reuse one RowKeys per driver
// to avoid allocation.
type RowKeys struct {
	Buf     []byte
	Offs    []int32 // row i is Buf[Offs[i]:Offs[i+1]]
	AnyNull []bool  // some key column of row i is NULL
	Hash    []uint64
}

// Key returns the encoded key of row i (aliases Buf).
func (rk *RowKeys) Key(i int) []byte { return rk.Buf[rk.Offs[i]:rk.Offs[i+1]] }

// Encode fills rk with the keys of n rows made of cols (each of length n or
// a length-1 constant) and their hashes.
func (rk *RowKeys) Encode(cols []arrow.Array, n int) {
	rk.Buf = rk.Buf[:0]
	if cap(rk.Offs) < n+1 {
		rk.Offs = make([]int32, n+1)
		rk.AnyNull = make([]bool, n)
		rk.Hash = make([]uint64, n)
	}
	rk.Offs = rk.Offs[:n+1]
	rk.AnyNull = rk.AnyNull[:n]
	rk.Hash = rk.Hash[:n]
	for i := range rk.AnyNull {
		rk.AnyNull[i] = false
	}
	// Row-major encoding: for each row, each column.
	for i := 0; i < n; i++ {
		rk.Offs[i] = int32(len(rk.Buf))
		for _, c := range cols {
			j := i
			if c.Len() == 1 && n != 1 {
				j = 0
			}
			if c.IsNull(j) {
				rk.Buf = append(rk.Buf, 0)
				rk.AnyNull[i] = true
				continue
			}
			rk.Buf = append(rk.Buf, 1)
			rk.Buf = appendValue(rk.Buf, c, j)
		}
	}
	rk.Offs[n] = int32(len(rk.Buf))
	for i := 0; i < n; i++ {
		rk.Hash[i] = xxh3.Hash(rk.Buf[rk.Offs[i]:rk.Offs[i+1]])
	}
}

func appendValue(buf []byte, c arrow.Array, j int) []byte {
	switch a := c.(type) {
	case *array.Int64:
		return binary.LittleEndian.AppendUint64(buf, uint64(a.Value(j)))
	case *array.Int32:
		return binary.LittleEndian.AppendUint64(buf, uint64(int64(a.Value(j))))
	case *array.Int16:
		return binary.LittleEndian.AppendUint64(buf, uint64(int64(a.Value(j))))
	case *array.Date32:
		return binary.LittleEndian.AppendUint64(buf, uint64(int64(a.Value(j))))
	case *array.Timestamp:
		return binary.LittleEndian.AppendUint64(buf, uint64(int64(a.Value(j))))
	case *array.Float64:
		return binary.LittleEndian.AppendUint64(buf, floatBits(a.Value(j)))
	case *array.Float32:
		return binary.LittleEndian.AppendUint64(buf, floatBits(float64(a.Value(j))))
	case *array.Decimal128:
		v := a.Value(j)
		buf = binary.LittleEndian.AppendUint64(buf, v.LowBits())
		return binary.LittleEndian.AppendUint64(buf, uint64(v.HighBits()))
	case *array.String:
		s := a.Value(j)
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		return append(buf, s...)
	case *array.Boolean:
		if a.Value(j) {
			return append(buf, 1)
		}
		return append(buf, 0)
	case *array.MonthDayNanoInterval:
		v := a.Value(j)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v.Months))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v.Days))
		return binary.LittleEndian.AppendUint64(buf, uint64(v.Nanoseconds))
	}
	// Rare types: fall back to the generic value key.
	t, err := kernels.FromArrow(c.DataType())
	if err != nil {
		return buf
	}
	s := kernels.KeyOf(kernels.ValueAt(c, t, j), t)
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func floatBits(f float64) uint64 {
	if f == 0 {
		f = 0 // fold -0 into +0
	}
	if math.IsNaN(f) {
		return 0x7ff8000000000001
	}
	return math.Float64bits(f)
}
