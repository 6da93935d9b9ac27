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
	cursor  []int32 // scratch: per-row write position
}

// Key returns the encoded key of row i (aliases Buf).
func (rk *RowKeys) Key(i int) []byte { return rk.Buf[rk.Offs[i]:rk.Offs[i+1]] }

// Encode fills rk with the keys of n rows made of cols (each of length n or
// a length-1 constant) and their hashes. It works column by column (one type
// switch per column) into precomputed row offsets; the bytes are the same as
// appending each row's values in column order: per column a 1/0 marker, then
// (for non-NULL values) the value's encoding.
func (rk *RowKeys) Encode(cols []arrow.Array, n int) {
	if cap(rk.Offs) < n+1 {
		rk.Offs = make([]int32, n+1)
		rk.AnyNull = make([]bool, n)
		rk.Hash = make([]uint64, n)
		rk.cursor = make([]int32, n)
	}
	rk.Offs, rk.AnyNull, rk.Hash, rk.cursor = rk.Offs[:n+1], rk.AnyNull[:n], rk.Hash[:n], rk.cursor[:n]
	// Pass 1: row lengths.
	lens := rk.cursor
	for i := range lens {
		lens[i] = 0
		rk.AnyNull[i] = false
	}
	for _, c := range cols {
		w := fixedWidth(c)
		bc := c.Len() == 1 && n != 1
		switch {
		case w > 0 && c.NullN() == 0:
			for i := range lens {
				lens[i] += int32(1 + w)
			}
		case w > 0:
			for i := range lens {
				if isNull(c, i, bc) {
					lens[i]++
					rk.AnyNull[i] = true
				} else {
					lens[i] += int32(1 + w)
				}
			}
		case !bc && c.NullN() == 0 && isString(c):
			offs := c.(*array.String).ValueOffsets()
			for i := range lens {
				l := offs[i+1] - offs[i]
				lens[i] += 1 + int32(uvarintLen(uint64(l))) + l
			}
		default:
			for i := range lens {
				j := i
				if bc {
					j = 0
				}
				if c.IsNull(j) {
					lens[i]++
					rk.AnyNull[i] = true
					continue
				}
				lens[i] += 1 + int32(varLen(c, j))
			}
		}
	}
	total := int32(0)
	for i, l := range lens {
		rk.Offs[i] = total
		total += l
	}
	rk.Offs[n] = total
	if cap(rk.Buf) < int(total) {
		rk.Buf = make([]byte, total, total+total/4)
	}
	rk.Buf = rk.Buf[:total]
	cur := rk.cursor
	copy(cur, rk.Offs[:n])
	buf := rk.Buf
	// Pass 2: fill, one column at a time.
	for _, c := range cols {
		bc := c.Len() == 1 && n != 1
		nulls := c.NullN() > 0
		put8 := func(get func(j int) uint64) {
			for i := 0; i < n; i++ {
				j := i
				if bc {
					j = 0
				}
				p := cur[i]
				if nulls && c.IsNull(j) {
					buf[p] = 0
					cur[i] = p + 1
					continue
				}
				buf[p] = 1
				binary.LittleEndian.PutUint64(buf[p+1:], get(j))
				cur[i] = p + 9
			}
		}
		switch a := c.(type) {
		case *array.Int64:
			v := a.Int64Values()
			put8(func(j int) uint64 { return uint64(v[j]) })
		case *array.Int32:
			v := a.Int32Values()
			put8(func(j int) uint64 { return uint64(int64(v[j])) })
		case *array.Int16:
			v := a.Int16Values()
			put8(func(j int) uint64 { return uint64(int64(v[j])) })
		case *array.Date32:
			v := a.Date32Values()
			put8(func(j int) uint64 { return uint64(int64(v[j])) })
		case *array.Timestamp:
			v := a.TimestampValues()
			put8(func(j int) uint64 { return uint64(int64(v[j])) })
		case *array.Float64:
			v := a.Float64Values()
			put8(func(j int) uint64 { return floatBits(v[j]) })
		case *array.Float32:
			v := a.Float32Values()
			put8(func(j int) uint64 { return floatBits(float64(v[j])) })
		case *array.String:
			if bc {
				putGeneric(c, n, bc, buf, cur)
				break
			}
			offs, data := a.ValueOffsets(), stringData(a)
			for i := 0; i < n; i++ {
				p := cur[i]
				if nulls && a.IsNull(i) {
					buf[p] = 0
					cur[i] = p + 1
					continue
				}
				v := data[offs[i]:offs[i+1]]
				buf[p] = 1
				p++
				if l := len(v); l < 0x80 {
					buf[p] = byte(l)
					p++
				} else {
					p += int32(binary.PutUvarint(buf[p:], uint64(l)))
				}
				if len(v) <= 8 {
					for k, b := range v {
						buf[int(p)+k] = b
					}
				} else {
					copy(buf[p:], v)
				}
				cur[i] = p + int32(len(v))
			}
		default:
			putGeneric(c, n, bc, buf, cur)
		}
	}
	for i := 0; i < n; i++ {
		rk.Hash[i] = xxh3.Hash(buf[rk.Offs[i]:rk.Offs[i+1]])
	}
}

// stringData is the whole character buffer of a, which a.ValueOffsets
// index (ValueBytes starts at the first value instead).
func stringData(a *array.String) []byte {
	if b := a.Data().Buffers()[2]; b != nil {
		return b.Bytes()
	}
	return nil
}

func isString(c arrow.Array) bool {
	_, ok := c.(*array.String)
	return ok
}

// putGeneric writes column c's part of every row key through appendValue.
func putGeneric(c arrow.Array, n int, bc bool, buf []byte, cur []int32) {
	for i := 0; i < n; i++ {
		j := i
		if bc {
			j = 0
		}
		p := cur[i]
		if c.IsNull(j) {
			buf[p] = 0
			cur[i] = p + 1
			continue
		}
		buf[p] = 1
		out := appendValue(buf[p+1:p+1], c, j)
		cur[i] = p + 1 + int32(len(out))
	}
}

func isNull(c arrow.Array, i int, broadcast bool) bool {
	if broadcast {
		return c.IsNull(0)
	}
	return c.IsNull(i)
}

// fixedWidth is the encoded size of a non-NULL value of c's type, or 0 for
// variable-size encodings.
func fixedWidth(c arrow.Array) int {
	switch c.(type) {
	case *array.Int64, *array.Int32, *array.Int16, *array.Date32, *array.Timestamp, *array.Float64, *array.Float32:
		return 8
	case *array.Decimal128:
		return 16
	case *array.Boolean:
		return 1
	case *array.MonthDayNanoInterval:
		return 16
	}
	return 0
}

// varLen is the encoded size of value j of a variable-size column.
func varLen(c arrow.Array, j int) int {
	if s, ok := c.(*array.String); ok {
		l := len(s.Value(j))
		return uvarintLen(uint64(l)) + l
	}
	var scratch [64]byte
	return len(appendValue(scratch[:0], c, j))
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
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
