package exec

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
)

// This file converts arrays read from files into the engine's Arrow types
// (kernels.Type.Arrow()) and selects rows of engine arrays.

// scConvert returns arr as an array of to.Arrow(), owned by the caller.
// arr is borrowed. Dictionary arrays are unpacked; narrow, unsigned, large,
// view and other-unit types are widened or rebased.
func scConvert(mem memory.Allocator, arr arrow.Array, to kernels.Type) (arrow.Array, error) {
	want := to.Arrow()
	dt := arr.DataType()
	if arrow.TypeEqual(dt, want) {
		arr.Retain()
		return arr, nil
	}
	switch dt.ID() {
	case arrow.DICTIONARY:
		return scUnpackDict(mem, arr.(*array.Dictionary), to)
	case arrow.NULL:
		return array.MakeArrayOfNull(mem, want, arr.Len()), nil
	}
	from, err := kernels.FromArrow(dt)
	if err != nil {
		return nil, err
	}
	nat, err := scNormalize(mem, arr, from)
	if err != nil {
		return nil, err
	}
	if from == to {
		return nat, nil
	}
	defer nat.Release()
	return scCastArray(mem, nat, from, to)
}

// scNormalize converts arr to nat.Arrow(), where nat = FromArrow(arr's type).
func scNormalize(mem memory.Allocator, arr arrow.Array, nat kernels.Type) (arrow.Array, error) {
	want := nat.Arrow()
	dt := arr.DataType()
	if arrow.TypeEqual(dt, want) {
		arr.Retain()
		return arr, nil
	}
	switch dt.ID() {
	case arrow.INT8:
		return scMapFixed(mem, arr, want, func(v int8) (int16, bool) { return int16(v), true })
	case arrow.UINT8:
		return scMapFixed(mem, arr, want, func(v uint8) (int16, bool) { return int16(v), true })
	case arrow.UINT16:
		return scMapFixed(mem, arr, want, func(v uint16) (int32, bool) { return int32(v), true })
	case arrow.UINT32:
		return scMapFixed(mem, arr, want, func(v uint32) (int64, bool) { return int64(v), true })
	case arrow.UINT64:
		return scMapFixed(mem, arr, want, func(v uint64) (decimal128.Num, bool) { return decimal128.FromU64(v), true })
	case arrow.FLOAT16:
		return scMapFixed(mem, arr, want, func(v float16.Num) (float32, bool) { return v.Float32(), true })
	case arrow.DECIMAL32:
		return scMapFixed(mem, arr, want, func(v decimal.Decimal32) (decimal128.Num, bool) { return decimal128.FromI64(int64(v)), true })
	case arrow.DECIMAL64:
		return scMapFixed(mem, arr, want, func(v decimal.Decimal64) (decimal128.Num, bool) { return decimal128.FromI64(int64(v)), true })
	case arrow.DECIMAL128:
		// same scale (FromArrow keeps it), other precision: scRelabel
		return scRelabel(arr, want), nil
	case arrow.DECIMAL256:
		return scMapFixed(mem, arr, want, scDec256To128)
	case arrow.DATE64:
		return scMapFixed(mem, arr, want, func(v int64) (int32, bool) {
			d := scFloorDiv(v, 86_400_000)
			return int32(d), d >= math.MinInt32 && d <= math.MaxInt32
		})
	case arrow.TIMESTAMP:
		switch dt.(*arrow.TimestampType).Unit {
		case arrow.Second:
			return scMapFixed(mem, arr, want, func(v int64) (int64, bool) { return scMulCheck(v, 1_000_000) })
		case arrow.Millisecond:
			return scMapFixed(mem, arr, want, func(v int64) (int64, bool) { return scMulCheck(v, 1_000) })
		case arrow.Microsecond:
			return scRelabel(arr, want), nil
		case arrow.Nanosecond:
			return scMapFixed(mem, arr, want, func(v int64) (int64, bool) { return scFloorDiv(v, 1_000), true })
		}
	case arrow.BINARY:
		return scRelabel(arr, want), nil
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return scLargeToString(mem, arr)
	case arrow.STRING_VIEW:
		a := arr.(*array.StringView)
		return scBuildStrings(mem, arr, func(i int) string { return a.Value(i) }), nil
	}
	return nil, fmt.Errorf("cannot read Arrow type %s as %s", dt, nat)
}

// scCastArray converts an engine array of type from to type to: numeric
// widening and rescaling here, anything else through kernels.Cast.
func scCastArray(mem memory.Allocator, arr arrow.Array, from, to kernels.Type) (arrow.Array, error) {
	want := to.Arrow()
	overflow := func() error { return fmt.Errorf("value out of range for type %s", to) }
	switch {
	case from.IsInteger() && to.IsInteger():
		lo, hi := scIntRange(to)
		return scMapInts(mem, arr, func(x int64) (int64, bool) { return x, x >= lo && x <= hi }, want, overflow)
	case from.IsInteger() && to.IsFloat():
		ints, err := scInts(arr)
		if err != nil {
			return nil, err
		}
		if to.ID == kernels.Float32 {
			return scFill(mem, arr, want, func(i int) (float32, bool) { return float32(ints(i)), true }, overflow)
		}
		return scFill(mem, arr, want, func(i int) (float64, bool) { return float64(ints(i)), true }, overflow)
	case from.IsInteger() && to.ID == kernels.Decimal:
		ints, err := scInts(arr)
		if err != nil {
			return nil, err
		}
		return scFill(mem, arr, want, func(i int) (decimal128.Num, bool) {
			return scScaleDec(decimal128.FromI64(ints(i)), 0, to)
		}, overflow)
	case from.ID == kernels.Decimal && to.ID == kernels.Decimal:
		vals := kernels.Values[decimal128.Num](arr)
		return scFill(mem, arr, want, func(i int) (decimal128.Num, bool) { return scScaleDec(vals[i], from.Scale, to) }, overflow)
	case from.ID == kernels.Decimal && to.IsFloat():
		vals := kernels.Values[decimal128.Num](arr)
		if to.ID == kernels.Float32 {
			return scFill(mem, arr, want, func(i int) (float32, bool) { return vals[i].ToFloat32(from.Scale), true }, overflow)
		}
		return scFill(mem, arr, want, func(i int) (float64, bool) { return vals[i].ToFloat64(from.Scale), true }, overflow)
	case from.IsFloat() && to.IsFloat():
		if to.ID == kernels.Float64 {
			vals := kernels.Values[float32](arr)
			return scFill(mem, arr, want, func(i int) (float64, bool) { return float64(vals[i]), true }, overflow)
		}
		vals := kernels.Values[float64](arr)
		return scFill(mem, arr, want, func(i int) (float32, bool) { return float32(vals[i]), true }, overflow)
	case from.ID == kernels.Date && to.ID == kernels.Timestamp:
		vals := kernels.Values[int32](arr)
		return scFill(mem, arr, want, func(i int) (int64, bool) { return int64(vals[i]) * 86_400_000_000, true }, overflow)
	}
	return kernels.Cast(&kernels.Context{Alloc: mem}, arr, from, to)
}

func scIntRange(t kernels.Type) (int64, int64) {
	switch t.ID {
	case kernels.Int16:
		return math.MinInt16, math.MaxInt16
	case kernels.Int32:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

// scInts returns an accessor for an engine integer array.
func scInts(arr arrow.Array) (func(int) int64, error) {
	switch a := arr.(type) {
	case *array.Int16:
		v := a.Int16Values()
		return func(i int) int64 { return int64(v[i]) }, nil
	case *array.Int32:
		v := a.Int32Values()
		return func(i int) int64 { return int64(v[i]) }, nil
	case *array.Int64:
		v := a.Int64Values()
		return func(i int) int64 { return v[i] }, nil
	}
	return nil, fmt.Errorf("internal error: %s is not an integer array", arr.DataType())
}

func scMapInts(mem memory.Allocator, arr arrow.Array, f func(int64) (int64, bool), want arrow.DataType, overflow func() error) (arrow.Array, error) {
	ints, err := scInts(arr)
	if err != nil {
		return nil, err
	}
	switch want.ID() {
	case arrow.INT16:
		return scFill(mem, arr, want, func(i int) (int16, bool) { x, ok := f(ints(i)); return int16(x), ok }, overflow)
	case arrow.INT32:
		return scFill(mem, arr, want, func(i int) (int32, bool) { x, ok := f(ints(i)); return int32(x), ok }, overflow)
	}
	return scFill(mem, arr, want, func(i int) (int64, bool) { return f(ints(i)) }, overflow)
}

// scScaleDec rescales n from scale s to type to, checking the precision.
func scScaleDec(n decimal128.Num, s int32, to kernels.Type) (decimal128.Num, bool) {
	d := to.Scale - s
	if d > 38 || d < -38 {
		return n, false
	}
	if d > 0 {
		n = n.IncreaseScaleBy(d)
	} else if d < 0 {
		n = n.ReduceScaleBy(-d, true)
	}
	return n, to.Precision <= 0 || to.Precision > 38 || n.FitsInPrecision(to.Precision)
}

func scDec256To128(v decimal256.Num) (decimal128.Num, bool) {
	a := v.Array() // little-endian 64-bit words
	hi, lo := int64(a[1]), a[0]
	ext := uint64(0)
	if hi < 0 {
		ext = math.MaxUint64
	}
	return decimal128.New(hi, lo), a[2] == ext && a[3] == ext
}

func scFloorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func scMulCheck(a, b int64) (int64, bool) {
	if a > math.MaxInt64/b || a < math.MinInt64/b {
		return 0, false
	}
	return a * b, true
}

// scCopyValidity returns a fresh validity bitmap for arr (nil without nulls).
func scCopyValidity(mem memory.Allocator, arr arrow.Array) *memory.Buffer {
	if arr.NullN() == 0 {
		return nil
	}
	n := arr.Len()
	buf := kernels.AllocBits(mem, n)
	if bm := arr.NullBitmapBytes(); bm != nil {
		bitutil.CopyBitmap(bm, arr.Data().Offset(), n, buf.Bytes(), 0)
	}
	return buf
}

// scMapFixed converts a fixed-width array element-wise; f reports false for a
// value that does not fit.
func scMapFixed[S, D arrow.FixedWidthType](mem memory.Allocator, arr arrow.Array, want arrow.DataType, f func(S) (D, bool)) (arrow.Array, error) {
	src := arrow.GetValues[S](arr.Data(), 1)
	return scFill(mem, arr, want, func(i int) (D, bool) { return f(src[i]) },
		func() error { return fmt.Errorf("value out of range converting %s to %s", arr.DataType(), want) })
}

// scFill builds an array of want with arr's validity and values f(i).
func scFill[D arrow.FixedWidthType](mem memory.Allocator, arr arrow.Array, want arrow.DataType, f func(int) (D, bool), overflow func() error) (arrow.Array, error) {
	n := arr.Len()
	var z D
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * int(unsafe.Sizeof(z)))
	dst := arrow.GetData[D](buf.Bytes())[:n]
	hasNulls := arr.NullN() > 0
	for i := 0; i < n; i++ {
		if hasNulls && arr.IsNull(i) {
			dst[i] = z
			continue
		}
		v, ok := f(i)
		if !ok {
			buf.Release()
			return nil, overflow()
		}
		dst[i] = v
	}
	valid := scCopyValidity(mem, arr)
	data := array.NewData(want, n, []*memory.Buffer{valid, buf}, nil, arr.NullN(), 0)
	buf.Release()
	if valid != nil {
		valid.Release()
	}
	defer data.Release()
	return array.MakeFromData(data), nil
}

// scRelabel shares arr's buffers under another, layout-compatible type.
func scRelabel(arr arrow.Array, want arrow.DataType) arrow.Array {
	d := arr.Data()
	data := array.NewData(want, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
	defer data.Release()
	return array.MakeFromData(data)
}

func scLargeToString(mem memory.Allocator, arr arrow.Array) (arrow.Array, error) {
	d := arr.Data()
	n := d.Len()
	offs := arrow.GetOffsets[int64](d, 1)
	first, last := offs[0], offs[n]
	if last-first > math.MaxInt32 {
		return nil, fmt.Errorf("string data of %d bytes in one batch is too large", last-first)
	}
	ob := memory.NewResizableBuffer(mem)
	ob.Resize((n + 1) * 4)
	o := arrow.GetData[int32](ob.Bytes())[:n+1]
	for i := range o {
		o[i] = int32(offs[i] - first)
	}
	db := memory.NewResizableBuffer(mem)
	db.Resize(int(last - first))
	if last > first {
		copy(db.Bytes(), d.Buffers()[2].Bytes()[first:last])
	}
	valid := scCopyValidity(mem, arr)
	data := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{valid, ob, db}, nil, d.NullN(), 0)
	ob.Release()
	db.Release()
	if valid != nil {
		valid.Release()
	}
	defer data.Release()
	return array.MakeFromData(data), nil
}

func scBuildStrings(mem memory.Allocator, arr arrow.Array, at func(int) string) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	n := arr.Len()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if arr.IsNull(i) {
			b.AppendNull()
		} else {
			b.Append(at(i))
		}
	}
	return b.NewArray()
}

// scUnpackDict materializes a dictionary array as plain values of to.
func scUnpackDict(mem memory.Allocator, d *array.Dictionary, to kernels.Type) (arrow.Array, error) {
	dict, err := scConvert(mem, d.Dictionary(), to)
	if err != nil {
		return nil, err
	}
	defer dict.Release()
	idx, err := scDictIdx(d, dict.Len(), nil)
	if err != nil {
		return nil, err
	}
	return scTake(mem, dict, idx)
}

// scDictIdx returns d's indices as int32 (-1 for NULL rows) in idx's
// storage, checking them against the dictionary size.
func scDictIdx(d *array.Dictionary, size int, idx []int32) ([]int32, error) {
	n := d.Len()
	if cap(idx) < n {
		idx = make([]int32, n)
	}
	idx = idx[:n]
	var bad int64 = -1
	switch ix := d.Indices().(type) {
	case *array.Int8:
		bad = scDictIndices(ix.Int8Values(), idx, size)
	case *array.Uint8:
		bad = scDictIndices(ix.Uint8Values(), idx, size)
	case *array.Int16:
		bad = scDictIndices(ix.Int16Values(), idx, size)
	case *array.Uint16:
		bad = scDictIndices(ix.Uint16Values(), idx, size)
	case *array.Int32:
		bad = scDictIndices(ix.Int32Values(), idx, size)
	case *array.Uint32:
		bad = scDictIndices(ix.Uint32Values(), idx, size)
	case *array.Int64:
		bad = scDictIndices(ix.Int64Values(), idx, size)
	case *array.Uint64:
		bad = scDictIndices(ix.Uint64Values(), idx, size)
	default:
		return nil, fmt.Errorf("unsupported dictionary index type %s", d.Indices().DataType())
	}
	if d.NullN() > 0 {
		for i := 0; i < n; i++ {
			if d.IsNull(i) {
				idx[i] = -1
			}
		}
	}
	if bad >= 0 {
		// out of range is fine in NULL slots only
		for i := 0; i < n; i++ {
			if idx[i] == -2 {
				return nil, fmt.Errorf("dictionary index out of range (dictionary has %d values)", size)
			}
		}
	}
	return idx, nil
}

// scDictIndices copies dictionary indices to idx, marking those outside
// [0, size) with -2; it returns the first such position or -1.
func scDictIndices[T int8 | uint8 | int16 | uint16 | int32 | uint32 | int64 | uint64](src []T, idx []int32, size int) int64 {
	bad := int64(-1)
	for i, k := range src {
		if uint64(k) >= uint64(size) {
			idx[i] = -2
			if bad < 0 {
				bad = int64(i)
			}
			continue
		}
		idx[i] = int32(k)
	}
	return bad
}

// scTake gathers arr[idx[i]] (idx[i] < 0: NULL) into a new array of
// arr's type, with the hash join's gather; its error for string data past
// the 2 GiB batch limit comes back as an error.
func scTake(mem memory.Allocator, arr arrow.Array, idx []int32) (out arrow.Array, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(error)
			if !ok {
				panic(r) // memory-limit panics go on to the driver
			}
			out, err = nil, e
		}
	}()
	return hjTake(mem, arr, idx), nil
}

func scSelect(mem memory.Allocator, b arrow.RecordBatch, sel []int32) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, b.NumCols())
	for i := range cols {
		c, err := scTake(mem, b.Column(i), sel)
		if err != nil {
			releaseAll(cols[:i])
			return nil, err
		}
		cols[i] = c
	}
	out := array.NewRecordBatch(b.Schema(), cols, int64(len(sel)))
	releaseAll(cols)
	return out, nil
}

// scDecimalFromUnscaled widens the unscaled INT32/INT64 values of a
// Parquet decimal column to decimal128 of type to (the column's own
// precision and scale), keeping the validity bitmap.
func scDecimalFromUnscaled(mem memory.Allocator, arr arrow.Array, to kernels.Type) (arrow.Array, error) {
	d := arr.Data()
	off, n := d.Offset(), d.Len()
	buf := memory.NewResizableBuffer(mem)
	buf.Resize((off + n) * 16)
	out := arrow.Decimal128Traits.CastFromBytes(buf.Bytes())[off : off+n]
	switch a := arr.(type) {
	case *array.Int64:
		for i, v := range a.Int64Values() {
			out[i] = decimal128.New(v>>63, uint64(v))
		}
	case *array.Int32:
		for i, v := range a.Int32Values() {
			w := int64(v)
			out[i] = decimal128.New(w>>63, uint64(w))
		}
	default:
		buf.Release()
		return nil, fmt.Errorf("decimal column stored as %s, expected INT32 or INT64", arr.DataType())
	}
	validity := d.Buffers()[0]
	if validity != nil {
		validity.Retain()
	}
	nd := array.NewData(to.Arrow(), n, []*memory.Buffer{validity, buf}, nil, d.NullN(), off)
	defer nd.Release()
	buf.Release()
	if validity != nil {
		validity.Release()
	}
	return array.MakeFromData(nd), nil
}
