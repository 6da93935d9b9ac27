package kernels

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Errors shared by the CPU kernels, spelled as PostgreSQL spells them.
var (
	errDivZero     = errors.New("division by zero")
	errNumOverflow = errors.New("numeric field overflow")
	errDateRange   = errors.New("date out of range")
	errTSRange     = errors.New("timestamp out of range")
	errIvRange     = errors.New("interval out of range")
)

// rangeErr is the "<type> out of range" error of an integer type.
func rangeErr(t TypeID) error {
	return fmt.Errorf("%s out of range", Type{ID: t})
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// allocT allocates an uninitialized result of n fixed-width values of any
// Arrow element type (decimals and intervals included).
func allocT[T arrow.FixedWidthType](mem memory.Allocator, n int) (*memory.Buffer, []T) {
	var z T
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * int(unsafe.Sizeof(z)))
	return buf, arrow.GetData[T](buf.Bytes())
}

// validAt reports whether row i is valid in a validity buffer from Validity.
func validAt(v *memory.Buffer, i int) bool {
	return v == nil || bitutil.BitIsSet(v.Bytes(), i)
}

// anyValid reports whether some row i with bad(i) is valid; kernels run their
// loops without looking at NULLs and use this to confirm a detected error.
func anyValid(v *memory.Buffer, n int, bad func(i int) bool) bool {
	for i := 0; i < n; i++ {
		if validAt(v, i) && bad(i) {
			return true
		}
	}
	return false
}

func releaseBuf(b *memory.Buffer) {
	if b != nil {
		b.Release()
	}
}

// boolBits returns a boolean array's value bitmap and bit offset.
func boolBits(a arrow.Array) ([]byte, int) {
	return a.Data().Buffers()[1].Bytes(), a.Data().Offset()
}

// strOut builds a utf8 result row by row into buffers from the kernel's
// allocator; NULL rows are appended as empty strings and masked by the
// validity given to finish.
type strOut struct {
	offBuf  *memory.Buffer
	offs    []int32
	dataBuf *memory.Buffer
	data    []byte
	pos     int
	row     int
	tooBig  bool
}

func newStrOut(mem memory.Allocator, n, hint int) *strOut {
	b := &strOut{offBuf: memory.NewResizableBuffer(mem), dataBuf: memory.NewResizableBuffer(mem)}
	b.offBuf.Resize((n + 1) * 4)
	b.offs = arrow.Int32Traits.CastFromBytes(b.offBuf.Bytes())
	b.offs[0] = 0
	if hint > 0 {
		b.dataBuf.Reserve(hint)
		b.data = b.dataBuf.Buf()
	}
	return b
}

// tail returns room for at least k more bytes at the write position.
func (b *strOut) tail(k int) []byte {
	need := b.pos + k
	if need > len(b.data) {
		c := 2 * len(b.data)
		if c < need {
			c = need
		}
		if c < 256 {
			c = 256
		}
		b.dataBuf.Reserve(c)
		b.data = b.dataBuf.Buf()
	}
	return b.data[b.pos:need]
}

// commit ends the current row after k bytes were written into tail.
func (b *strOut) commit(k int) {
	b.pos += k
	if b.pos > math.MaxInt32 {
		b.tooBig = true
		b.pos = 0
	}
	b.row++
	b.offs[b.row] = int32(b.pos)
}

func (b *strOut) add(s string) {
	copy(b.tail(len(s)), s)
	b.commit(len(s))
}

func (b *strOut) addBytes(p []byte) {
	copy(b.tail(len(p)), p)
	b.commit(len(p))
}

// appendPart appends to the current row without ending it; endRow ends it.
func (b *strOut) appendPart(s string) {
	copy(b.tail(len(s)), s)
	b.pos += len(s)
}

func (b *strOut) endRow() { b.commit(0) }

func (b *strOut) release() {
	b.offBuf.Release()
	b.dataBuf.Release()
}

// finish builds the utf8 array, taking ownership of validity.
func (b *strOut) finish(validity *memory.Buffer, nulls int) (arrow.Array, error) {
	if b.tooBig {
		b.release()
		releaseBuf(validity)
		return nil, errors.New("string result too large")
	}
	b.dataBuf.ResizeNoShrink(b.pos)
	data := array.NewData(arrow.BinaryTypes.String, b.row, []*memory.Buffer{validity, b.offBuf, b.dataBuf}, nil, nulls, 0)
	b.release()
	releaseBuf(validity)
	defer data.Release()
	return array.MakeFromData(data), nil
}

// int64Arg reads an integer argument of any width as int64 values (a view for
// bigint, a converted copy otherwise).
func int64Arg(a arrow.Array) []int64 {
	switch a.DataType().ID() {
	case arrow.INT64:
		return Values[int64](a)
	case arrow.INT32:
		return widen(Values[int32](a))
	case arrow.INT16:
		return widen(Values[int16](a))
	case arrow.INT8:
		return widen(Values[int8](a))
	}
	panic(fmt.Sprintf("kernels: integer argument expected, got %s", a.DataType()))
}

func widen[T int8 | int16 | int32](v []T) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// stringAt reads row i (broadcast-aware) of a utf8 array.
func stringAt(a *array.String, i int) string {
	if a.Len() == 1 {
		return a.Value(0)
	}
	return a.Value(i)
}

// decOut allocates a decimal result.
func decOut(mem memory.Allocator, n int) (*memory.Buffer, []decimal128.Num) {
	return allocT[decimal128.Num](mem, n)
}
