package exec

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
)

// Typed gather and concatenation for the hash join. Both allocate with the
// given (accounting) allocator and release what they allocated when the
// allocator panics over the memory limit, so a failed query leaks nothing.

// hjReleaseOnPanic releases bufs if the caller is unwinding a panic, then
// re-panics. Use as: defer hjReleaseOnPanic(&bufs).
func hjReleaseOnPanic(bufs *[]*memory.Buffer) {
	if r := recover(); r != nil {
		for _, b := range *bufs {
			if b != nil {
				b.Release()
			}
		}
		panic(r)
	}
}

func hjNewBuf(mem memory.Allocator, size int, bufs *[]*memory.Buffer) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	*bufs = append(*bufs, b)
	b.Resize(size)
	return b
}

func hjZeroBits(mem memory.Allocator, n int, bufs *[]*memory.Buffer) *memory.Buffer {
	b := hjNewBuf(mem, int(bitutil.BytesForBits(int64(n))), bufs)
	clear(b.Bytes())
	return b
}

// hjBytesAs reinterprets a byte slice as a slice of T.
func hjBytesAs[T any](b []byte) []T {
	var z T
	sz := int(unsafe.Sizeof(z))
	if len(b) < sz {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/sz)
}

// hjFinish wraps buffers (ownership taken) into an array.
func hjFinish(dt arrow.DataType, n int, bufs []*memory.Buffer, nulls int) arrow.Array {
	data := array.NewData(dt, n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	defer data.Release()
	return array.MakeFromData(data)
}

func hjHasNeg(idx []int32) bool {
	for _, r := range idx {
		if r < 0 {
			return true
		}
	}
	return false
}

// hjIsIdentity reports whether idx is 0, 1, ..., n-1.
func hjIsIdentity(idx []int32, n int) bool {
	if len(idx) != n {
		return false
	}
	for i, r := range idx {
		if int(r) != i {
			return false
		}
	}
	return true
}

// hjTake returns a new array with out[i] = src[idx[i]], NULL where
// idx[i] < 0. src may be a slice (non-zero offset).
func hjTake(mem memory.Allocator, src arrow.Array, idx []int32) arrow.Array {
	n := len(idx)
	dt := src.DataType()
	if dt.ID() == arrow.NULL {
		return array.NewNull(n)
	}
	if src.Len() == 0 {
		// Only NULL references are possible.
		return array.MakeArrayOfNull(mem, dt, n)
	}
	var bufs []*memory.Buffer
	defer hjReleaseOnPanic(&bufs)
	d := src.Data()
	off := d.Offset()
	neg := hjHasNeg(idx)

	var validity *memory.Buffer
	nulls := 0
	if neg || src.NullN() > 0 {
		validity = hjZeroBits(mem, n, &bufs)
		vb := validity.Bytes()
		srcBits := src.NullBitmapBytes()
		if src.NullN() == 0 {
			srcBits = nil
		}
		for i, r := range idx {
			if r < 0 || (srcBits != nil && !bitutil.BitIsSet(srcBits, off+int(r))) {
				nulls++
				continue
			}
			bitutil.SetBit(vb, i)
		}
		if nulls == 0 {
			validity.Release()
			bufs = bufs[:0]
			validity = nil
		}
	}

	switch dt.ID() {
	case arrow.BOOL:
		vals := hjZeroBits(mem, n, &bufs)
		vb := vals.Bytes()
		sb := d.Buffers()[1].Bytes()
		for i, r := range idx {
			if r >= 0 && bitutil.BitIsSet(sb, off+int(r)) {
				bitutil.SetBit(vb, i)
			}
		}
		return hjFinish(dt, n, []*memory.Buffer{validity, vals}, nulls)
	case arrow.STRING, arrow.BINARY:
		return hjTakeString(mem, dt, d, idx, validity, nulls, &bufs)
	}
	if fw, ok := dt.(arrow.FixedWidthDataType); ok && fw.BitWidth()%8 == 0 && len(d.Buffers()) == 2 {
		w := fw.BitWidth() / 8
		vals := hjNewBuf(mem, n*w, &bufs)
		src := d.Buffers()[1].Bytes()
		dst := vals.Bytes()
		switch w {
		case 1:
			hjTakeFixed[uint8](dst, src, off, idx, neg)
		case 2:
			hjTakeFixed[uint16](dst, src, off, idx, neg)
		case 4:
			hjTakeFixed[uint32](dst, src, off, idx, neg)
		case 8:
			hjTakeFixed[uint64](dst, src, off, idx, neg)
		case 16:
			hjTakeFixed[[2]uint64](dst, src, off, idx, neg)
		default:
			for i, r := range idx {
				if r >= 0 {
					copy(dst[i*w:(i+1)*w], src[(off+int(r))*w:])
				} else {
					clear(dst[i*w : (i+1)*w])
				}
			}
		}
		return hjFinish(dt, n, []*memory.Buffer{validity, vals}, nulls)
	}
	// Rare types: go through values and a builder.
	if validity != nil {
		validity.Release()
	}
	bufs = nil
	return hjTakeGeneric(mem, src, idx)
}

func hjTakeFixed[T any](dst, src []byte, off int, idx []int32, neg bool) {
	s := hjBytesAs[T](src)[off:]
	o := hjBytesAs[T](dst)[:len(idx)]
	if !neg {
		for i, r := range idx {
			o[i] = s[r]
		}
		return
	}
	var z T
	for i, r := range idx {
		if r >= 0 {
			o[i] = s[r]
		} else {
			o[i] = z
		}
	}
}

func hjTakeString(mem memory.Allocator, dt arrow.DataType, d arrow.ArrayData, idx []int32, validity *memory.Buffer, nulls int, bufs *[]*memory.Buffer) arrow.Array {
	n := len(idx)
	srcOffs := arrow.GetOffsets[int32](d, 1)
	var srcData []byte
	if b := d.Buffers()[2]; b != nil {
		srcData = b.Bytes()
	}
	total := 0
	for _, r := range idx {
		if r >= 0 {
			total += int(srcOffs[r+1] - srcOffs[r])
		}
	}
	if total > math.MaxInt32 {
		panic(fmt.Errorf("hash join: string column of %d bytes exceeds the 2 GiB batch limit", total))
	}
	offBuf := hjNewBuf(mem, (n+1)*4, bufs)
	dataBuf := hjNewBuf(mem, total, bufs)
	offs := hjBytesAs[int32](offBuf.Bytes())[:n+1]
	out := dataBuf.Bytes()
	pos := int32(0)
	for i := 0; i < n; {
		r := idx[i]
		if r < 0 {
			offs[i] = pos
			i++
			continue
		}
		// A run of consecutive source rows (a filter that keeps most
		// rows) is one copy and a shifted range of offsets.
		j := i + 1
		for j < n && idx[j] == idx[j-1]+1 {
			j++
		}
		base := srcOffs[r]
		delta := pos - base
		for k, o := range srcOffs[r : int(r)+(j-i)] {
			offs[i+k] = o + delta
		}
		end := srcOffs[int(r)+(j-i)]
		pos += int32(copy(out[pos:], srcData[base:end]))
		i = j
	}
	offs[n] = pos
	return hjFinish(dt, n, []*memory.Buffer{validity, offBuf, dataBuf}, nulls)
}

func hjTakeGeneric(mem memory.Allocator, src arrow.Array, idx []int32) arrow.Array {
	t, err := kernels.FromArrow(src.DataType())
	if err != nil {
		panic(fmt.Errorf("hash join: %w", err))
	}
	b := array.NewBuilder(mem, src.DataType())
	defer b.Release()
	b.Reserve(len(idx))
	for _, r := range idx {
		if r < 0 {
			b.AppendNull()
			continue
		}
		kernels.AppendValue(b, t, kernels.ValueAt(src, t, int(r)))
	}
	return b.NewArray()
}

// hjConcat concatenates same-typed arrays into one new array.
func hjConcat(mem memory.Allocator, arrs []arrow.Array) (arrow.Array, error) {
	dt := arrs[0].DataType()
	n, nulls := 0, 0
	for _, a := range arrs {
		n += a.Len()
		nulls += a.NullN()
	}
	if dt.ID() == arrow.NULL {
		return array.NewNull(n), nil
	}
	var bufs []*memory.Buffer
	defer hjReleaseOnPanic(&bufs)
	var validity *memory.Buffer
	if nulls > 0 {
		validity = hjZeroBits(mem, n, &bufs)
		vb := validity.Bytes()
		pos := 0
		for _, a := range arrs {
			if a.NullN() > 0 {
				bitutil.CopyBitmap(a.NullBitmapBytes(), a.Data().Offset(), a.Len(), vb, pos)
			} else {
				bitutil.SetBitsTo(vb, int64(pos), int64(a.Len()), true)
			}
			pos += a.Len()
		}
	}
	switch dt.ID() {
	case arrow.BOOL:
		vals := hjZeroBits(mem, n, &bufs)
		pos := 0
		for _, a := range arrs {
			if a.Len() > 0 {
				bitutil.CopyBitmap(a.Data().Buffers()[1].Bytes(), a.Data().Offset(), a.Len(), vals.Bytes(), pos)
			}
			pos += a.Len()
		}
		return hjFinish(dt, n, []*memory.Buffer{validity, vals}, nulls), nil
	case arrow.STRING, arrow.BINARY:
		total := 0
		for _, a := range arrs {
			if a.Len() > 0 {
				o := arrow.GetOffsets[int32](a.Data(), 1)
				total += int(o[a.Len()] - o[0])
			}
		}
		if total > math.MaxInt32 {
			for _, b := range bufs {
				b.Release()
			}
			bufs = nil
			return nil, fmt.Errorf("hash join: build-side string column of %d bytes exceeds the 2 GiB limit", total)
		}
		offBuf := hjNewBuf(mem, (n+1)*4, &bufs)
		dataBuf := hjNewBuf(mem, total, &bufs)
		offs := hjBytesAs[int32](offBuf.Bytes())[:n+1]
		out := dataBuf.Bytes()
		row, pos := 0, int32(0)
		for _, a := range arrs {
			if a.Len() == 0 {
				continue
			}
			o := arrow.GetOffsets[int32](a.Data(), 1)
			base := o[0]
			for i := 0; i < a.Len(); i++ {
				offs[row+i] = pos + o[i] - base
			}
			if b := a.Data().Buffers()[2]; b != nil {
				copy(out[pos:], b.Bytes()[base:o[a.Len()]])
			}
			row += a.Len()
			pos += o[a.Len()] - base
		}
		offs[n] = pos
		return hjFinish(dt, n, []*memory.Buffer{validity, offBuf, dataBuf}, nulls), nil
	}
	if fw, ok := dt.(arrow.FixedWidthDataType); ok && fw.BitWidth()%8 == 0 {
		w := fw.BitWidth() / 8
		vals := hjNewBuf(mem, n*w, &bufs)
		dst := vals.Bytes()
		pos := 0
		for _, a := range arrs {
			if a.Len() > 0 {
				off := a.Data().Offset()
				copy(dst[pos*w:], a.Data().Buffers()[1].Bytes()[off*w:(off+a.Len())*w])
			}
			pos += a.Len()
		}
		return hjFinish(dt, n, []*memory.Buffer{validity, vals}, nulls), nil
	}
	for _, b := range bufs {
		b.Release()
	}
	bufs = nil
	return array.Concatenate(arrs, mem)
}
