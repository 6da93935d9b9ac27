package kernels

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Fixed lists the Go element types of fixed-width Arrow arrays kernels use.
type Fixed interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// Values returns the typed values of a fixed-width array (offset applied).
// The slice aliases the array's buffer: read-only, valid while arr lives.
func Values[T arrow.FixedWidthType](arr arrow.Array) []T {
	return arrow.GetValues[T](arr.Data(), 1)
}

// Stride is 0 for a broadcast constant (length 1 while n > 1), else 1.
func Stride(arr arrow.Array, n int) int {
	if arr.Len() == 1 && n != 1 {
		return 0
	}
	return 1
}

// IsNullAt reports whether element i (after broadcast) is NULL.
func IsNullAt(arr arrow.Array, i int) bool {
	if arr.NullN() == 0 {
		return false
	}
	if arr.Len() == 1 {
		return arr.IsNull(0)
	}
	return arr.IsNull(i)
}

// Validity computes the AND of the validity of args over n rows. It returns
// nil when no row is NULL. The buffer is allocated with mem.
func Validity(mem memory.Allocator, args []arrow.Array, n int) (*memory.Buffer, int) {
	hasNull := false
	for _, a := range args {
		if a.NullN() > 0 {
			hasNull = true
			break
		}
	}
	if !hasNull {
		return nil, 0
	}
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(n))))
	out := buf.Bytes()
	first := true
	for _, a := range args {
		if a.NullN() == 0 {
			continue
		}
		if a.Len() == 1 && n != 1 {
			// a NULL constant: every row is NULL
			for i := range out {
				out[i] = 0
			}
			first = false
			continue
		}
		bm := a.NullBitmapBytes()
		if first {
			bitutil.CopyBitmap(bm, a.Data().Offset(), n, out, 0)
			first = false
		} else {
			bitutil.BitmapAnd(out, bm, 0, int64(a.Data().Offset()), out, 0, int64(n))
		}
	}
	if first {
		for i := range out {
			out[i] = 0xff
		}
	}
	nulls := n - bitutil.CountSetBits(out, 0, n)
	if nulls == 0 {
		buf.Release()
		return nil, 0
	}
	return buf, nulls
}

// NewFixed builds an array of type dt from values and an optional validity
// buffer; it takes ownership of validity.
func NewFixed[T Fixed](mem memory.Allocator, dt arrow.DataType, vals []T, validity *memory.Buffer, nulls int) arrow.Array {
	buf := memory.NewResizableBuffer(mem)
	n := len(vals)
	buf.Resize(n * int(arrowSize[T]()))
	copy(arrow.GetData[T](buf.Bytes()), vals)
	data := array.NewData(dt, n, []*memory.Buffer{validity, buf}, nil, nulls, 0)
	defer data.Release()
	buf.Release()
	if validity != nil {
		validity.Release()
	}
	return array.MakeFromData(data)
}

// AllocFixed allocates an uninitialized fixed-width result of n values; fill
// the returned slice, then call Finish.
func AllocFixed[T Fixed](mem memory.Allocator, n int) (*memory.Buffer, []T) {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * int(arrowSize[T]()))
	return buf, arrow.GetData[T](buf.Bytes())
}

// FinishFixed wraps a value buffer and validity into an array of type dt,
// taking ownership of both buffers.
func FinishFixed(dt arrow.DataType, n int, values, validity *memory.Buffer, nulls int) arrow.Array {
	data := array.NewData(dt, n, []*memory.Buffer{validity, values}, nil, nulls, 0)
	values.Release()
	if validity != nil {
		validity.Release()
	}
	defer data.Release()
	return array.MakeFromData(data)
}

func arrowSize[T Fixed]() uintptr {
	var z T
	switch any(z).(type) {
	case int8, uint8:
		return 1
	case int16, uint16:
		return 2
	case int32, uint32, float32:
		return 4
	}
	return 8
}

// NewBoolFromBits builds a boolean array from a bitmap buffer (ownership taken).
func NewBoolFromBits(n int, bits, validity *memory.Buffer, nulls int) arrow.Array {
	data := array.NewData(arrow.FixedWidthTypes.Boolean, n, []*memory.Buffer{validity, bits}, nil, nulls, 0)
	bits.Release()
	if validity != nil {
		validity.Release()
	}
	defer data.Release()
	return array.MakeFromData(data)
}

// AllocBits allocates a zeroed bitmap of n bits.
func AllocBits(mem memory.Allocator, n int) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(n))))
	b := buf.Bytes()
	for i := range b {
		b[i] = 0
	}
	return buf
}

// MakeConst builds a length-1 array holding v of type t.
func MakeConst(mem memory.Allocator, t Type, v Value) arrow.Array {
	return MakeConstN(mem, t, v, 1)
}

// MakeConstN builds an array of n copies of v of type t.
func MakeConstN(mem memory.Allocator, t Type, v Value, n int) arrow.Array {
	b := array.NewBuilder(mem, t.Arrow())
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		AppendValue(b, t, v)
	}
	return b.NewArray()
}

// AppendValue appends v (of type t) to a builder of t.Arrow().
func AppendValue(b array.Builder, t Type, v Value) {
	if v.Null {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.BooleanBuilder:
		bb.Append(v.I != 0)
	case *array.Int16Builder:
		bb.Append(int16(v.I))
	case *array.Int32Builder:
		bb.Append(int32(v.I))
	case *array.Int64Builder:
		bb.Append(v.I)
	case *array.Float32Builder:
		bb.Append(float32(v.F))
	case *array.Float64Builder:
		bb.Append(v.F)
	case *array.Decimal128Builder:
		bb.Append(v.Dec)
	case *array.Date32Builder:
		bb.Append(arrow.Date32(v.I))
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(v.I))
	case *array.StringBuilder:
		bb.Append(v.S)
	case *array.MonthDayNanoIntervalBuilder:
		bb.Append(arrow.MonthDayNanoInterval{Months: v.Months, Days: v.Days, Nanoseconds: v.Nanos})
	case *array.NullBuilder:
		bb.AppendNull()
	default:
		panic("kernels: AppendValue: unsupported builder")
	}
}

// ValueAt reads element i of arr (of SQL type t) as a Value.
func ValueAt(arr arrow.Array, t Type, i int) Value {
	if arr.IsNull(i) {
		return NullValue
	}
	switch a := arr.(type) {
	case *array.Boolean:
		if a.Value(i) {
			return Value{I: 1}
		}
		return Value{}
	case *array.Int8:
		return Value{I: int64(a.Value(i))}
	case *array.Uint8:
		return Value{I: int64(a.Value(i))}
	case *array.Int16:
		return Value{I: int64(a.Value(i))}
	case *array.Uint16:
		return Value{I: int64(a.Value(i))}
	case *array.Int32:
		return Value{I: int64(a.Value(i))}
	case *array.Uint32:
		return Value{I: int64(a.Value(i))}
	case *array.Int64:
		return Value{I: a.Value(i)}
	case *array.Float32:
		return Value{F: float64(a.Value(i))}
	case *array.Float64:
		return Value{F: a.Value(i)}
	case *array.Decimal128:
		return DecValue(a.Value(i))
	case *array.Date32:
		return Value{I: int64(a.Value(i))}
	case *array.Timestamp:
		return Value{I: int64(a.Value(i))}
	case *array.String:
		return Value{S: a.Value(i)}
	case *array.LargeString:
		return Value{S: a.Value(i)}
	case *array.Binary:
		return Value{S: string(a.Value(i))}
	case *array.MonthDayNanoInterval:
		v := a.Value(i)
		return Value{Months: v.Months, Days: v.Days, Nanos: v.Nanoseconds}
	}
	return NullValue
}
