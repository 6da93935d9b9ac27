package exec

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Filter keeps the rows of its input for which a condition is TRUE.
type Filter struct {
	q  *QueryContext
	ev *Evaluator // nil: keep every row
}

// NewFilter returns an Operator keeping the rows of input (columns input)
// where cond is TRUE (NULL and FALSE drop the row); a nil cond keeps all.
func NewFilter(q *QueryContext, input []planner.Column, cond *planner.Expr) (Operator, error) {
	f := &Filter{q: q}
	if cond == nil || cond.IsTrue() {
		return f, nil
	}
	if cond.Type.ID != kernels.Bool && cond.Type.ID != kernels.Null {
		return nil, fmt.Errorf("argument of WHERE must be type boolean, not type %s", cond.Type)
	}
	ev, err := Compile(cond, input, q.Kernels)
	if err != nil {
		return nil, err
	}
	f.ev = ev
	return f, nil
}

// Local implements Operator.
func (f *Filter) Local(ctx context.Context) (OperatorLocal, error) { return &filterLocal{f: f}, nil }

// Close implements Operator.
func (f *Filter) Close() {}

type filterLocal struct {
	f   *Filter
	sel []int32
}

func (l *filterLocal) Close() {}

// Process implements OperatorLocal.
func (l *filterLocal) Process(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error) {
	if l.f.ev == nil {
		in.Retain()
		return in, nil
	}
	q := l.f.q
	arr, err := l.f.ev.Eval(q, in)
	if err != nil {
		return nil, err
	}
	defer arr.Release()
	n := int(in.NumRows())
	var sel []int32
	switch a := arr.(type) {
	case *array.Null:
		return nil, nil
	case *array.Boolean:
		sel = selectTrue(a, l.sel[:0])
		l.sel = sel
	default:
		return nil, fmt.Errorf("internal error: filter condition evaluated to %s", arr.DataType())
	}
	switch len(sel) {
	case 0:
		return nil, nil
	case n:
		in.Retain()
		return in, nil
	}
	return takeBatch(q.Alloc, in, sel)
}

// selectTrue appends to sel the positions where a is TRUE (not NULL).
func selectTrue(a *array.Boolean, sel []int32) []int32 {
	n := a.Len()
	if n == 0 {
		return sel
	}
	vals := a.Data().Buffers()[1].Bytes()
	off := a.Data().Offset()
	var valid []byte
	if a.NullN() > 0 {
		valid = a.NullBitmapBytes()
	}
	for i := 0; i < n; i++ {
		if !bitutil.BitIsSet(vals, off+i) {
			continue
		}
		if valid != nil && !bitutil.BitIsSet(valid, off+i) {
			continue
		}
		sel = append(sel, int32(i))
	}
	return sel
}

// rowRef names row r of batch b of some batch list. A ref with b == nullRef
// gathers as NULL.
type rowRef struct{ b, r uint32 }

const nullRef = ^uint32(0)

type gatherKind uint8

const (
	gNull gatherKind = iota
	gBool
	gStr
	gFixed
	gGeneric
)

// colGather reads one column spread over many arrays of one type and builds
// arrays from row references, with typed copies (no per-row interface call).
// The source arrays must stay alive while it is used.
type colGather struct {
	dt    arrow.DataType
	kind  gatherKind
	width int // bytes per value, gFixed
	srcs  []arrow.Array
	ptrs  []unsafe.Pointer // first value (offset applied), gFixed
	bits  [][]byte         // value bitmap, gBool
	boff  []int
	valid [][]byte // validity bitmap, nil when the source has no NULL
	voff  []int
	offs  [][]int32 // gStr: offsets (offset applied)
	data  [][]byte  // gStr: whole value buffer
	sqlT  kernels.Type
	anyNl bool
	avg   int // gStr: average value bytes, -1 until computed
}

// newColGather prepares typed access to srcs; dt is the output type (the
// sources must share its physical layout).
func newColGather(dt arrow.DataType, srcs []arrow.Array) *colGather {
	g := &colGather{dt: dt, srcs: srcs, valid: make([][]byte, len(srcs)), voff: make([]int, len(srcs)), avg: -1}
	for i, s := range srcs {
		if s.NullN() > 0 && s.DataType().ID() != arrow.NULL {
			g.valid[i] = s.NullBitmapBytes()
			g.voff[i] = s.Data().Offset()
			g.anyNl = true
		}
	}
	switch dt.ID() {
	case arrow.NULL:
		g.kind = gNull
		return g
	case arrow.BOOL:
		g.kind = gBool
		g.bits = make([][]byte, len(srcs))
		g.boff = make([]int, len(srcs))
		for i, s := range srcs {
			if s.Len() > 0 {
				g.bits[i] = s.Data().Buffers()[1].Bytes()
				g.boff[i] = s.Data().Offset()
			}
		}
		return g
	case arrow.STRING, arrow.BINARY:
		g.kind = gStr
		g.offs = make([][]int32, len(srcs))
		g.data = make([][]byte, len(srcs))
		for i, s := range srcs {
			d := s.Data()
			if s.Len() == 0 {
				continue
			}
			g.offs[i] = arrow.Int32Traits.CastFromBytes(d.Buffers()[1].Bytes())[d.Offset() : d.Offset()+d.Len()+1]
			if b := d.Buffers()[2]; b != nil {
				g.data[i] = b.Bytes()
			}
		}
		return g
	}
	if fw, ok := dt.(arrow.FixedWidthDataType); ok {
		switch w := fw.BitWidth() / 8; w {
		case 1, 2, 4, 8, 16:
			if fw.BitWidth()%8 == 0 {
				g.kind = gFixed
				g.width = w
				g.ptrs = make([]unsafe.Pointer, len(srcs))
				for i, s := range srcs {
					d := s.Data()
					if s.Len() > 0 && d.Buffers()[1] != nil {
						g.ptrs[i] = unsafe.Pointer(&d.Buffers()[1].Bytes()[d.Offset()*w])
					}
				}
				return g
			}
		}
	}
	g.kind = gGeneric
	t, err := kernels.FromArrow(dt)
	if err == nil {
		g.sqlT = t
	}
	return g
}

// estimate guesses the string bytes of n gathered rows.
func (g *colGather) estimate(n int) int {
	if g.avg < 0 {
		rows, bytes := 0, 0
		for _, o := range g.offs {
			if len(o) > 0 {
				rows += len(o) - 1
				bytes += int(o[len(o)-1] - o[0])
			}
		}
		g.avg = 0
		if rows > 0 {
			g.avg = (bytes + rows - 1) / rows
		}
	}
	return n*g.avg + 64
}

func gatherFixed[T any](ptrs []unsafe.Pointer, refs []rowRef, out []T) {
	var zero T
	sz := unsafe.Sizeof(zero)
	for i, r := range refs {
		if r.b == nullRef {
			out[i] = zero
			continue
		}
		out[i] = *(*T)(unsafe.Add(ptrs[r.b], uintptr(r.r)*sz))
	}
}

// gatherValidity returns the validity bitmap of the gathered rows, nil when
// none is NULL.
func (g *colGather) gatherValidity(mem memory.Allocator, refs []rowRef) (*memory.Buffer, int) {
	need := g.anyNl
	if !need {
		for _, r := range refs {
			if r.b == nullRef {
				need = true
				break
			}
		}
	}
	if !need {
		return nil, 0
	}
	buf := kernels.AllocBits(mem, len(refs))
	vb := buf.Bytes()
	nulls := 0
	for i, r := range refs {
		if r.b == nullRef {
			nulls++
			continue
		}
		if v := g.valid[r.b]; v != nil && !bitutil.BitIsSet(v, g.voff[r.b]+int(r.r)) {
			nulls++
			continue
		}
		bitutil.SetBit(vb, i)
	}
	if nulls == 0 {
		buf.Release()
		return nil, 0
	}
	return buf, nulls
}

// gather builds an array of len(refs) rows: row i is row refs[i].r of
// srcs[refs[i].b] (NULL for nullRef). The result belongs to the caller.
func (g *colGather) gather(mem memory.Allocator, refs []rowRef) (arrow.Array, error) {
	n := len(refs)
	if g.kind == gNull {
		return array.NewNull(n), nil
	}
	if g.kind == gGeneric {
		return g.gatherGeneric(mem, refs)
	}
	validity, nulls := g.gatherValidity(mem, refs)
	var bufs []*memory.Buffer
	switch g.kind {
	case gBool:
		vals := kernels.AllocBits(mem, n)
		vb := vals.Bytes()
		for i, r := range refs {
			if r.b != nullRef && bitutil.BitIsSet(g.bits[r.b], g.boff[r.b]+int(r.r)) {
				bitutil.SetBit(vb, i)
			}
		}
		bufs = []*memory.Buffer{validity, vals}
	case gStr:
		// One pass, growing the data buffer from an estimate.
		offBuf, offs := kernels.AllocFixed[int32](mem, n+1)
		dataBuf := memory.NewResizableBuffer(mem)
		dataBuf.Resize(g.estimate(n))
		data := dataBuf.Bytes()
		pos := 0
		for i, r := range refs {
			offs[i] = int32(pos)
			if r.b == nullRef {
				continue
			}
			o := g.offs[r.b]
			v := g.data[r.b][o[r.r]:o[r.r+1]]
			if pos+len(v) > len(data) {
				if pos+len(v) > 1<<31-1 {
					offBuf.Release()
					dataBuf.Release()
					if validity != nil {
						validity.Release()
					}
					return nil, fmt.Errorf("string data of one batch exceeds 2 GiB")
				}
				dataBuf.Resize(max(2*len(data), pos+len(v)))
				data = dataBuf.Bytes()
			}
			pos += copy(data[pos:], v)
		}
		offs[n] = int32(pos)
		dataBuf.Resize(pos)
		bufs = []*memory.Buffer{validity, offBuf, dataBuf}
	case gFixed:
		vals := memory.NewResizableBuffer(mem)
		vals.Resize(n * g.width)
		if n > 0 {
			p := unsafe.Pointer(&vals.Bytes()[0])
			switch g.width {
			case 1:
				gatherFixed(g.ptrs, refs, unsafe.Slice((*uint8)(p), n))
			case 2:
				gatherFixed(g.ptrs, refs, unsafe.Slice((*uint16)(p), n))
			case 4:
				gatherFixed(g.ptrs, refs, unsafe.Slice((*uint32)(p), n))
			case 8:
				gatherFixed(g.ptrs, refs, unsafe.Slice((*uint64)(p), n))
			case 16:
				gatherFixed(g.ptrs, refs, unsafe.Slice((*[2]uint64)(p), n))
			}
		}
		bufs = []*memory.Buffer{validity, vals}
	}
	data := array.NewData(g.dt, n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	defer data.Release()
	return array.MakeFromData(data), nil
}

func (g *colGather) gatherGeneric(mem memory.Allocator, refs []rowRef) (arrow.Array, error) {
	if g.sqlT == (kernels.Type{}) && g.dt.ID() != arrow.NULL {
		return nil, fmt.Errorf("internal error: cannot gather values of type %s", g.dt)
	}
	bld := array.NewBuilder(mem, g.dt)
	defer bld.Release()
	bld.Reserve(len(refs))
	for _, r := range refs {
		if r.b == nullRef {
			bld.AppendNull()
			continue
		}
		kernels.AppendValue(bld, g.sqlT, kernels.ValueAt(g.srcs[r.b], g.sqlT, int(r.r)))
	}
	return bld.NewArray(), nil
}

// columnGatherers returns one gatherer per field of schema over batches.
func columnGatherers(schema *arrow.Schema, batches []arrow.RecordBatch) []*colGather {
	gs := make([]*colGather, schema.NumFields())
	for c := range gs {
		srcs := make([]arrow.Array, len(batches))
		for i, b := range batches {
			srcs[i] = b.Column(c)
		}
		gs[c] = newColGather(schema.Field(c).Type, srcs)
	}
	return gs
}

// gatherBatch builds a batch of schema from refs, one gatherer per column.
func gatherBatch(mem memory.Allocator, schema *arrow.Schema, gs []*colGather, refs []rowRef) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, len(gs))
	defer releaseAll(cols)
	for c, g := range gs {
		a, err := g.gather(mem, refs)
		if err != nil {
			return nil, err
		}
		cols[c] = a
	}
	return array.NewRecordBatch(schema, cols, int64(len(refs))), nil
}

// takeBatch returns the rows sel of b as a new batch.
func takeBatch(mem memory.Allocator, b arrow.RecordBatch, sel []int32) (arrow.RecordBatch, error) {
	refs := make([]rowRef, len(sel))
	for i, r := range sel {
		refs[i] = rowRef{0, uint32(r)}
	}
	gs := columnGatherers(b.Schema(), []arrow.RecordBatch{b})
	return gatherBatch(mem, b.Schema(), gs, refs)
}

// takeArrays returns the rows sel of each array.
func takeArrays(mem memory.Allocator, arrs []arrow.Array, sel []int32) ([]arrow.Array, error) {
	refs := make([]rowRef, len(sel))
	for i, r := range sel {
		refs[i] = rowRef{0, uint32(r)}
	}
	out := make([]arrow.Array, len(arrs))
	for i, a := range arrs {
		g := newColGather(a.DataType(), []arrow.Array{a})
		t, err := g.gather(mem, refs)
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}
