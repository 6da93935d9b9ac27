package exec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The Arrow IPC reader trusts the lengths in its flatbuffer metadata: a
// corrupt schema can make it allocate gigabytes (a crash, not an error) or
// recurse through shared subtrees without end. checkArrowMetadata walks the
// schema (and, for the file format, the footer) first and rejects vectors
// that do not fit in their buffer, deep nesting and oversized trees.

const (
	fbMaxDepth = 64
	fbMaxNodes = 1 << 16
)

var errBadArrowMetadata = errors.New("corrupt Arrow IPC metadata")

type fbChecker struct {
	buf   []byte
	nodes int
}

func (c *fbChecker) u32(pos int) (int, error) {
	if pos < 0 || pos+4 > len(c.buf) {
		return 0, errBadArrowMetadata
	}
	return int(binary.LittleEndian.Uint32(c.buf[pos:])), nil
}

// field returns the absolute position of a table's field (0 if absent).
func (c *fbChecker) field(table, slot int) (int, error) {
	if c.nodes++; c.nodes > fbMaxNodes {
		return 0, fmt.Errorf("%w: too many nodes", errBadArrowMetadata)
	}
	soff, err := c.u32(table)
	if err != nil {
		return 0, err
	}
	vt := table - int(int32(soff))
	if vt < 0 || vt+4 > len(c.buf) {
		return 0, errBadArrowMetadata
	}
	vtLen := int(binary.LittleEndian.Uint16(c.buf[vt:]))
	at := 4 + 2*slot
	if at+2 > vtLen || vt+at+2 > len(c.buf) {
		return 0, nil
	}
	off := int(binary.LittleEndian.Uint16(c.buf[vt+at:]))
	if off == 0 {
		return 0, nil
	}
	if table+off >= len(c.buf) {
		return 0, errBadArrowMetadata
	}
	return table + off, nil
}

// ref follows the offset stored at pos (to a table or vector).
func (c *fbChecker) ref(pos int) (int, error) {
	off, err := c.u32(pos)
	if err != nil {
		return 0, err
	}
	p := pos + off
	if p+4 > len(c.buf) {
		return 0, errBadArrowMetadata
	}
	return p, nil
}

// vector returns the start and length of a table's vector field whose
// elements are elem bytes wide, checking that it fits.
func (c *fbChecker) vector(table, slot, elem int) (start, n int, err error) {
	f, err := c.field(table, slot)
	if err != nil || f == 0 {
		return 0, 0, err
	}
	v, err := c.ref(f)
	if err != nil {
		return 0, 0, err
	}
	n, err = c.u32(v)
	if err != nil {
		return 0, 0, err
	}
	if n > (len(c.buf)-v-4)/elem {
		return 0, 0, fmt.Errorf("%w: vector of %d elements does not fit", errBadArrowMetadata, n)
	}
	return v + 4, n, nil
}

// tables checks each table of a vector of tables with check.
func (c *fbChecker) tables(table, slot int, check func(int) error) error {
	start, n, err := c.vector(table, slot, 4)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		t, err := c.ref(start + 4*i)
		if err != nil {
			return err
		}
		if err := check(t); err != nil {
			return err
		}
	}
	return nil
}

func (c *fbChecker) keyValues(table, slot int) error {
	return c.tables(table, slot, func(kv int) error {
		for s := 0; s < 2; s++ { // key, value strings
			if _, _, err := c.vector(kv, s, 1); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *fbChecker) arrowField(table, depth int) error {
	if depth > fbMaxDepth {
		return fmt.Errorf("%w: fields nested too deeply", errBadArrowMetadata)
	}
	if _, _, err := c.vector(table, 0, 1); err != nil { // name
		return err
	}
	if err := c.keyValues(table, 6); err != nil {
		return err
	}
	return c.tables(table, 5, func(ch int) error { return c.arrowField(ch, depth+1) })
}

func (c *fbChecker) schema(table int) error {
	if err := c.keyValues(table, 2); err != nil {
		return err
	}
	if _, _, err := c.vector(table, 3, 8); err != nil { // features
		return err
	}
	return c.tables(table, 1, func(f int) error { return c.arrowField(f, 0) })
}

// checkArrowMetadata validates the schema metadata of an Arrow IPC file
// (isFile: the footer) or stream (its first message).
func checkArrowMetadata(f *os.File, size int64, isFile bool) error {
	var fb []byte
	if isFile {
		if size < 18 {
			return fmt.Errorf("%w: file too small", errBadArrowMetadata)
		}
		tail := make([]byte, 4)
		if _, err := f.ReadAt(tail, size-10); err != nil {
			return err
		}
		n := int64(binary.LittleEndian.Uint32(tail))
		if n <= 0 || n > size-18 || n > 64<<20 {
			return fmt.Errorf("%w: footer size %d", errBadArrowMetadata, n)
		}
		fb = make([]byte, n)
		if _, err := f.ReadAt(fb, size-10-n); err != nil {
			return err
		}
	} else {
		head := make([]byte, 8)
		if _, err := f.ReadAt(head, 0); err != nil {
			if err == io.EOF {
				return fmt.Errorf("%w: stream too short", errBadArrowMetadata)
			}
			return err
		}
		start := int64(8)
		n := int64(int32(binary.LittleEndian.Uint32(head[4:])))
		if binary.LittleEndian.Uint32(head) != 0xFFFFFFFF { // pre-0.15 stream
			start, n = 4, int64(int32(binary.LittleEndian.Uint32(head)))
		}
		if n < 4 || n > size-start || n > 64<<20 {
			return fmt.Errorf("%w: schema message size %d", errBadArrowMetadata, n)
		}
		fb = make([]byte, n)
		if _, err := f.ReadAt(fb, start); err != nil {
			return err
		}
	}
	c := &fbChecker{buf: fb}
	root, err := c.ref(0)
	if err != nil {
		return err
	}
	if isFile {
		for _, slot := range []int{2, 3} { // dictionary and record batch blocks
			if _, _, err := c.vector(root, slot, 24); err != nil {
				return err
			}
		}
		if err := c.keyValues(root, 4); err != nil {
			return err
		}
		sf, err := c.field(root, 1)
		if err != nil || sf == 0 {
			return errors.Join(errBadArrowMetadata, err)
		}
		st, err := c.ref(sf)
		if err != nil {
			return err
		}
		return c.schema(st)
	}
	// Message: header_type (slot 1) must be Schema (1), header in slot 2.
	ht, err := c.field(root, 1)
	if err != nil {
		return err
	}
	if ht == 0 || c.buf[ht] != 1 {
		return fmt.Errorf("%w: the stream does not start with a schema", errBadArrowMetadata)
	}
	hf, err := c.field(root, 2)
	if err != nil || hf == 0 {
		return errors.Join(errBadArrowMetadata, err)
	}
	st, err := c.ref(hf)
	if err != nil {
		return err
	}
	return c.schema(st)
}

// checkArrowArray verifies that an array read from an IPC file has buffers
// large enough for its declared length, offset and (for strings) offsets,
// so that converting it cannot read out of bounds or allocate without
// limit.
func checkArrowArray(a arrow.Array) error {
	d := a.Data()
	n, off := d.Len(), d.Offset()
	if n < 0 || off < 0 || n > maxIPCRows {
		return fmt.Errorf("%w: array of %d rows at offset %d", errBadArrowMetadata, n, off)
	}
	bufs := d.Buffers()
	need := func(i, bytes int) error {
		if bytes == 0 {
			return nil
		}
		if i >= len(bufs) || bufs[i] == nil || bufs[i].Len() < bytes {
			return fmt.Errorf("%w: %s buffer %d holds fewer than %d bytes", errBadArrowMetadata, a.DataType(), i, bytes)
		}
		return nil
	}
	if d.NullN() > 0 && len(bufs) > 0 && bufs[0] != nil {
		if err := need(0, (off+n+7)/8); err != nil {
			return err
		}
	}
	switch dt := a.DataType().(type) {
	case *arrow.NullType:
		return nil
	case *arrow.BooleanType:
		return need(1, (off+n+7)/8)
	case *arrow.DictionaryType:
		idx, ok := dt.IndexType.(arrow.FixedWidthDataType)
		if !ok {
			return errBadArrowMetadata
		}
		if err := need(1, (off+n)*idx.BitWidth()/8); err != nil {
			return err
		}
		dict := a.(*array.Dictionary).Dictionary()
		return checkArrowArray(dict)
	case arrow.BinaryDataType:
		switch dt.ID() {
		case arrow.STRING, arrow.BINARY:
			if err := need(1, (off+n+1)*4); err != nil {
				return err
			}
			return checkOffsets(arrow.GetOffsets[int32](d, 1), bufs)
		case arrow.LARGE_STRING, arrow.LARGE_BINARY:
			if err := need(1, (off+n+1)*8); err != nil {
				return err
			}
			return checkOffsets(arrow.GetOffsets[int64](d, 1), bufs)
		}
		return nil // views: checked by their accessors' panics
	case arrow.FixedWidthDataType:
		return need(1, (off+n)*dt.BitWidth()/8)
	}
	return nil
}

func checkOffsets[T int32 | int64](offs []T, bufs []*memory.Buffer) error {
	data := 0
	if len(bufs) > 2 && bufs[2] != nil {
		data = bufs[2].Len()
	}
	for i := 1; i < len(offs); i++ {
		if offs[i] < offs[i-1] {
			return fmt.Errorf("%w: decreasing string offsets", errBadArrowMetadata)
		}
	}
	if len(offs) > 0 && (offs[0] < 0 || int64(offs[len(offs)-1]) > int64(data)) {
		return fmt.Errorf("%w: string offsets outside the data", errBadArrowMetadata)
	}
	return nil
}

// maxIPCRows bounds the rows of one IPC record batch.
const maxIPCRows = 1 << 31
