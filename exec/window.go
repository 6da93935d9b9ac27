package exec

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Window is a Sink collecting its input; Finalize computes the window
// functions and Source yields the input batches with one column per function.
type Window struct {
	q      *QueryContext
	input  []planner.Column
	schema *arrow.Schema // input columns ++ function columns
	evs    []*Evaluator  // distinct expressions evaluated per batch
	groups []*winGroup
	fns    []winFn

	mu      sync.Mutex
	locals  map[*windowLocal]bool
	batches []winBatch
	res     []winResult
	refs    []rowRef // global row -> batch, row (for min/max)
	starts  []int    // first global row of each batch
	argGs   []*colGather
	next    int
	held    int64
	done    bool // Finalize ran
	closed  bool
}

type winBatch struct {
	b    arrow.RecordBatch
	arrs []arrow.Array // per expression of Window.evs
}

// winGroup is the functions sharing one PARTITION BY / ORDER BY.
type winGroup struct {
	exprs []int // expression indices: partition keys then order keys
	specs []keySpec
	np    int // partition keys
	fns   []int
}

type winFn struct {
	name    string
	arg     int // expression index, -1 for none
	argT    kernels.Type
	argKind keyKind
	out     kernels.Type
	offset  int // lag/lead: rows back/ahead
}

type winResult struct {
	i     []int64
	f     []float64
	d     []decimal128.Num
	src   []int32 // min/max: global row holding the value, -1 for NULL
	nulls []bool  // nil: none
}

func (r *winResult) bytes() int64 {
	return 8*int64(cap(r.i)+cap(r.f)) + 16*int64(cap(r.d)) + 4*int64(cap(r.src)) + int64(cap(r.nulls))
}

// NewWindow computes funcs over input; with ORDER BY a frame is RANGE UNBOUNDED
// PRECEDING..CURRENT ROW (peers share a value), without it the partition.
func NewWindow(q *QueryContext, input []planner.Column, funcs []planner.WindowFunc) (*Window, error) {
	w := &Window{q: q, input: input, locals: map[*windowLocal]bool{}}
	exprIdx := map[string]int{}
	addExpr := func(e *planner.Expr) (int, error) {
		k := e.String() + "|" + e.Type.String()
		if i, ok := exprIdx[k]; ok {
			return i, nil
		}
		ev, err := Compile(e, input, q.Kernels)
		if err != nil {
			return 0, err
		}
		w.evs = append(w.evs, ev)
		exprIdx[k] = len(w.evs) - 1
		return len(w.evs) - 1, nil
	}
	groupIdx := map[string]int{}
	outCols := append([]planner.Column(nil), input...)
	for fi, f := range funcs {
		fn := winFn{name: strings.ToLower(f.Func), arg: -1, out: f.Col.Type}
		switch fn.name {
		case "row_number", "rank", "dense_rank", "count_star":
			if fn.out.ID != kernels.Int64 {
				return nil, fmt.Errorf("internal error: %s must return bigint, not %s", fn.name, fn.out)
			}
		case "count", "sum", "avg", "min", "max":
			if len(f.Args) != 1 {
				return nil, fmt.Errorf("function %s takes exactly one argument", fn.name)
			}
			i, err := addExpr(f.Args[0])
			if err != nil {
				return nil, err
			}
			fn.arg, fn.argT = i, f.Args[0].Type
			if fn.name != "count" {
				if fn.argKind, err = keyKindOf(fn.argT); err != nil {
					return nil, err
				}
			}
			if err := checkWinTypes(fn); err != nil {
				return nil, err
			}
		case "ntile":
			if len(f.Args) != 1 || f.Args[0].Kind != planner.EConst || f.Args[0].Value.Null || !f.Args[0].Type.IsInteger() || f.Args[0].Value.I <= 0 {
				return nil, fmt.Errorf("argument of ntile must be a positive integer constant")
			}
			fn.offset = int(f.Args[0].Value.I)
		case "percent_rank", "cume_dist":
			if fn.out.ID != kernels.Float64 {
				return nil, fmt.Errorf("internal error: %s must return double precision", fn.name)
			}
		case "lag", "lead", "first_value", "last_value":
			if len(f.Args) < 1 {
				return nil, fmt.Errorf("function %s needs an argument", fn.name)
			}
			i, err := addExpr(f.Args[0])
			if err != nil {
				return nil, err
			}
			fn.arg, fn.argT, fn.offset = i, f.Args[0].Type, 1
			if fn.argKind, err = keyKindOf(fn.argT); err != nil {
				return nil, err
			}
			if len(f.Args) > 1 {
				o := f.Args[1]
				if o.Kind != planner.EConst || o.Value.Null || !o.Type.IsInteger() || o.Value.I < 0 {
					return nil, fmt.Errorf("the offset of %s must be a non-negative integer constant", fn.name)
				}
				fn.offset = int(o.Value.I)
			}
			if fn.out.ID != fn.argT.ID {
				return nil, fmt.Errorf("internal error: %s(%s) cannot return %s", fn.name, fn.argT, fn.out)
			}
		default:
			return nil, fmt.Errorf("window function %s is not supported", f.Func)
		}
		var gk strings.Builder
		var exprs []int
		var specs []keySpec
		for _, e := range f.PartitionBy {
			i, err := addExpr(e)
			if err != nil {
				return nil, err
			}
			kind, err := keyKindOf(e.Type)
			if err != nil {
				return nil, err
			}
			exprs = append(exprs, i)
			specs = append(specs, keySpec{kind: kind})
			fmt.Fprintf(&gk, "p%d,", i)
		}
		for _, o := range f.OrderBy {
			i, err := addExpr(o.Expr)
			if err != nil {
				return nil, err
			}
			kind, err := keyKindOf(o.Expr.Type)
			if err != nil {
				return nil, err
			}
			exprs = append(exprs, i)
			specs = append(specs, keySpec{kind: kind, desc: o.Desc, nullsFirst: o.NullsFirst})
			fmt.Fprintf(&gk, "o%d/%v/%v,", i, o.Desc, o.NullsFirst)
		}
		gi, ok := groupIdx[gk.String()]
		if !ok {
			gi = len(w.groups)
			groupIdx[gk.String()] = gi
			w.groups = append(w.groups, &winGroup{exprs: exprs, specs: specs, np: len(f.PartitionBy)})
		}
		w.groups[gi].fns = append(w.groups[gi].fns, fi)
		w.fns = append(w.fns, fn)
		outCols = append(outCols, f.Col)
	}
	w.schema = schemaOf(outCols)
	return w, nil
}

func checkWinTypes(fn winFn) error {
	bad := false
	switch fn.name {
	case "count":
		bad = fn.out.ID != kernels.Int64
	case "sum":
		switch {
		case fn.argT.IsInteger():
			bad = fn.out.ID != kernels.Int64 && fn.out.ID != kernels.Decimal
		case fn.argT.IsFloat():
			bad = !fn.out.IsFloat()
		case fn.argT.ID == kernels.Decimal:
			bad = fn.out.ID != kernels.Decimal || fn.out.Scale < fn.argT.Scale
		default:
			return fmt.Errorf("function sum(%s) does not exist", fn.argT)
		}
	case "avg":
		if !fn.argT.IsNumeric() {
			return fmt.Errorf("function avg(%s) does not exist", fn.argT)
		}
		bad = !fn.out.IsFloat()
	case "min", "max":
		bad = fn.out.ID != fn.argT.ID
	}
	if bad {
		return fmt.Errorf("internal error: %s(%s) cannot return %s", fn.name, fn.argT, fn.out)
	}
	return nil
}

type windowLocal struct {
	w       *Window
	batches []winBatch
}

// Local implements Sink.
func (w *Window) Local(ctx context.Context) (SinkLocal, error) {
	l := &windowLocal{w: w}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, fmt.Errorf("internal error: window used after Close")
	}
	w.locals[l] = true
	return l, nil
}

// Consume implements SinkLocal.
func (l *windowLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	arrs, err := evalAll(l.w.q, l.w.evs, in)
	if err != nil {
		return err
	}
	in.Retain()
	l.batches = append(l.batches, winBatch{b: in, arrs: arrs})
	return nil
}

// Combine implements SinkLocal.
func (l *windowLocal) Combine(ctx context.Context) error {
	w := l.w
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.locals, l)
	if w.closed {
		releaseWinBatches(l.batches)
	} else {
		w.batches = append(w.batches, l.batches...)
	}
	l.batches = nil
	return nil
}

func releaseWinBatches(bs []winBatch) {
	for _, b := range bs {
		if b.b != nil {
			b.b.Release()
		}
		releaseAll(b.arrs)
	}
}

// Finalize implements Sink: computes every function.
func (w *Window) Finalize(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	n := 0
	for _, b := range w.batches {
		n += int(b.b.NumRows())
	}
	if n >= 1<<31-1 {
		return fmt.Errorf("window: too many rows")
	}
	w.refs = make([]rowRef, 0, n)
	w.starts = make([]int, len(w.batches))
	for bi, b := range w.batches {
		w.starts[bi] = len(w.refs)
		for r := 0; r < int(b.b.NumRows()); r++ {
			w.refs = append(w.refs, rowRef{uint32(bi), uint32(r)})
		}
	}
	if err := w.account(); err != nil {
		return err
	}
	w.res = make([]winResult, len(w.fns))
	for _, g := range w.groups {
		if err := w.computeGroup(ctx, g, n); err != nil {
			return err
		}
	}
	// Only the arguments whose rows are copied to the output (min/max and
	// the value functions) are still needed.
	keep := map[int]bool{}
	for _, fn := range w.fns {
		switch fn.name {
		case "min", "max", "lag", "lead", "first_value", "last_value":
			keep[fn.arg] = true
		}
	}
	for _, b := range w.batches {
		for i, a := range b.arrs {
			if !keep[i] && a != nil {
				a.Release()
				b.arrs[i] = nil
			}
		}
	}
	return nil
}

func (w *Window) account() error {
	b := 8*int64(cap(w.refs)) + 8*int64(cap(w.starts))
	for i := range w.res {
		b += w.res[i].bytes()
	}
	return accountTo(w.q, &w.held, b, "window")
}

// keyColOf extracts expression e over all batches.
func (w *Window) keyColOf(e int, kind keyKind) (keyCol, error) {
	var k keyCol
	for _, b := range w.batches {
		if err := k.appendArray(kind, b.arrs[e]); err != nil {
			return k, err
		}
	}
	return k, nil
}

func (w *Window) computeGroup(ctx context.Context, g *winGroup, n int) error {
	keys := make([]keyCol, len(g.exprs))
	var scratch int64
	defer func() { w.q.Pool.Shrink(scratch) }()
	grow := func(b int64) error {
		if err := w.q.Pool.Grow(b, "window"); err != nil {
			return err
		}
		scratch += b
		return nil
	}
	for i, e := range g.exprs {
		k, err := w.keyColOf(e, g.specs[i].kind)
		if err != nil {
			return err
		}
		keys[i] = k
		if err := grow(k.bytes()); err != nil {
			return err
		}
	}
	if err := grow(int64((2*sortEntBytes + 6) * n)); err != nil {
		return err
	}
	ents, _ := sortRows(g.specs, keys, make([]sortEnt, n), make([]sortEnt, n))
	order := make([]uint32, n)
	for i, e := range ents {
		order[i] = e.i
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	// Partition and peer boundaries in sorted order.
	newPart := make([]bool, n)
	newPeer := make([]bool, n)
	pspecs, pkeys := g.specs[:g.np], keys[:g.np]
	ospecs, okeys := g.specs[g.np:], keys[g.np:]
	for pos := range order {
		if pos == 0 {
			newPart[0], newPeer[0] = true, true
			continue
		}
		a, b := int(order[pos-1]), int(order[pos])
		if len(pspecs) > 0 && cmpRows(pspecs, pkeys, a, pkeys, b, 0) != 0 {
			newPart[pos], newPeer[pos] = true, true
		} else if len(ospecs) > 0 && cmpRows(ospecs, okeys, a, okeys, b, 0) != 0 {
			newPeer[pos] = true
		}
	}
	clear(keys)
	for _, fi := range g.fns {
		if err := w.computeFn(ctx, fi, order, newPart, newPeer); err != nil {
			return err
		}
		if err := w.account(); err != nil {
			return err
		}
	}
	return nil
}

// winState accumulates one frame.
type winState struct {
	cnt  int64
	sumD decimal128.Num
	sumF float64
	best int32
}

func (w *Window) computeFn(ctx context.Context, fi int, order []uint32, newPart, newPeer []bool) error {
	fn := w.fns[fi]
	n := len(order)
	res := &w.res[fi]
	var arg keyCol
	if fn.arg >= 0 {
		kind := fn.argKind
		if fn.name == "count" {
			kind = kNull // only NULLs matter
		}
		var err error
		if kind == kNull {
			for _, b := range w.batches {
				a := b.arrs[fn.arg]
				if a.NullN() > 0 {
					if arg.nulls == nil {
						arg.nulls = make([]bool, arg.n, n)
					}
					for i := 0; i < a.Len(); i++ {
						arg.nulls = append(arg.nulls, a.IsNull(i))
					}
				} else if arg.nulls != nil {
					arg.nulls = append(arg.nulls, make([]bool, a.Len())...)
				}
				arg.n += a.Len()
			}
		} else if arg, err = w.keyColOf(fn.arg, kind); err != nil {
			return err
		}
		if err := w.q.Pool.Grow(arg.bytes(), "window"); err != nil {
			return err
		}
		defer w.q.Pool.Shrink(arg.bytes())
	}
	isNull := func(i int) bool { return arg.nulls != nil && arg.nulls[i] }
	outNulls := false
	switch fn.name {
	case "row_number", "rank", "dense_rank", "count", "count_star", "ntile":
		res.i = make([]int64, n)
	case "percent_rank", "cume_dist":
		res.f = make([]float64, n)
	case "sum":
		if fn.argKind == kFloat {
			res.f = make([]float64, n)
		} else {
			res.d = make([]decimal128.Num, n)
		}
		outNulls = true
	case "avg":
		res.f = make([]float64, n)
		outNulls = true
	case "min", "max", "lag", "lead", "first_value", "last_value":
		res.src = make([]int32, n)
	}
	if outNulls {
		res.nulls = make([]bool, n)
	}
	if err := w.account(); err != nil {
		return err
	}
	minSpec := keySpec{kind: fn.argKind, desc: fn.name == "max"}
	var st winState
	for ps := 0; ps < n; {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		pe := ps + 1
		for pe < n && !newPart[pe] {
			pe++
		}
		st = winState{best: -1}
		dense := int64(0)
		for gs := ps; gs < pe; {
			ge := gs + 1
			for ge < pe && !newPeer[ge] {
				ge++
			}
			dense++
			// Add the peer group to the frame.
			switch fn.name {
			case "count_star":
				st.cnt += int64(ge - gs)
			case "count", "sum", "avg", "min", "max":
				for pos := gs; pos < ge; pos++ {
					i := int(order[pos])
					if isNull(i) {
						continue
					}
					st.cnt++
					switch fn.name {
					case "sum", "avg":
						switch fn.argKind {
						case kInt:
							st.sumD = st.sumD.Add(decimal128.FromI64(arg.i[i]))
						case kFloat:
							st.sumF += arg.f[i]
						case kDec:
							st.sumD = st.sumD.Add(arg.d[i])
						}
					case "min", "max":
						if st.best < 0 || cmpKey(&minSpec, &arg, i, &arg, int(st.best)) < 0 {
							st.best = int32(i)
						}
					}
				}
			}
			for pos := gs; pos < ge; pos++ {
				i := int(order[pos])
				switch fn.name {
				case "row_number":
					res.i[i] = int64(pos - ps + 1)
				case "rank":
					res.i[i] = int64(gs - ps + 1)
				case "dense_rank":
					res.i[i] = dense
				case "count", "count_star":
					res.i[i] = st.cnt
				case "sum":
					if st.cnt == 0 {
						res.nulls[i] = true
					} else if res.f != nil {
						res.f[i] = st.sumF
					} else {
						res.d[i] = st.sumD
					}
				case "avg":
					if st.cnt == 0 {
						res.nulls[i] = true
						continue
					}
					switch fn.argKind {
					case kInt:
						res.f[i] = st.sumD.ToFloat64(0) / float64(st.cnt)
					case kFloat:
						res.f[i] = st.sumF / float64(st.cnt)
					case kDec:
						res.f[i] = st.sumD.ToFloat64(fn.argT.Scale) / float64(st.cnt)
					}
				case "min", "max":
					res.src[i] = st.best
				case "lag", "lead":
					// rows of the partition in window order; -1 is NULL
					src := pos - fn.offset
					if fn.name == "lead" {
						src = pos + fn.offset
					}
					res.src[i] = -1
					if src >= ps && src < pe {
						res.src[i] = int32(order[src])
					}
				case "ntile":
					res.i[i] = ntile(pos-ps, pe-ps, fn.offset)
				case "percent_rank":
					if pe-ps > 1 {
						res.f[i] = float64(gs-ps) / float64(pe-ps-1)
					}
				case "cume_dist":
					res.f[i] = float64(ge-ps) / float64(pe-ps)
				case "first_value":
					res.src[i] = int32(order[ps]) // default frame starts the partition
				case "last_value":
					res.src[i] = int32(order[ge-1]) // and ends at the current row's last peer
				}
			}
			gs = ge
		}
		ps = pe
	}
	if fn.name == "sum" && res.d != nil {
		return fixSums(fn, res)
	}
	return nil
}

// fixSums converts exact sums to the result type, checking overflow.
func fixSums(fn winFn, res *winResult) error {
	if fn.out.ID == kernels.Int64 {
		res.i = make([]int64, len(res.d))
		for i, d := range res.d {
			if res.nulls[i] {
				continue
			}
			hi, lo := d.HighBits(), d.LowBits()
			if !(hi == 0 && lo < 1<<63) && !(hi == -1 && lo >= 1<<63) {
				return fmt.Errorf("bigint out of range")
			}
			res.i[i] = int64(lo)
		}
		res.d = nil
		return nil
	}
	from := int32(0)
	if fn.argT.ID == kernels.Decimal {
		from = fn.argT.Scale
	}
	for i, d := range res.d {
		if res.nulls[i] {
			continue
		}
		if fn.out.Scale > from {
			d = d.IncreaseScaleBy(fn.out.Scale - from)
		}
		if !d.FitsInPrecision(fn.out.Precision) {
			return fmt.Errorf("numeric field overflow")
		}
		res.d[i] = d
	}
	return nil
}

// Close implements Sink: releases everything, also when Finalize never ran.
func (w *Window) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for l := range w.locals {
		releaseWinBatches(l.batches)
		l.batches = nil
	}
	w.locals = map[*windowLocal]bool{}
	releaseWinBatches(w.batches)
	w.batches, w.res, w.refs, w.starts, w.argGs = nil, nil, nil, nil, nil
	w.q.Pool.Shrink(w.held)
	w.held = 0
}

// Source returns the input batches with the function columns appended.
// Closing it releases the window's state.
func (w *Window) Source() Source {
	return &funcSource{next: w.nextOut, close: w.Close}
}

func (w *Window) nextOut(ctx context.Context) (arrow.RecordBatch, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, fmt.Errorf("internal error: window read after Close")
	}
	if !w.done || w.next >= len(w.batches) {
		return nil, io.EOF
	}
	bi := w.next
	b := w.batches[bi]
	start := w.starts[bi]
	n := int(b.b.NumRows())
	cols := make([]arrow.Array, 0, len(w.input)+len(w.fns))
	cols = append(cols, b.b.Columns()...)
	var owned []arrow.Array
	defer func() { releaseAll(owned) }()
	for fi, fn := range w.fns {
		a, err := w.buildColumn(fi, fn, start, n)
		if err != nil {
			return nil, err
		}
		owned = append(owned, a)
		cols = append(cols, a)
	}
	out := array.NewRecordBatch(fitSchema(w.schema, cols), cols, int64(n))
	w.next++
	b.b.Release() // the min/max arguments keep what they need
	w.batches[bi].b = nil
	return out, nil
}

func (w *Window) buildColumn(fi int, fn winFn, start, n int) (arrow.Array, error) {
	res := &w.res[fi]
	mem := w.q.Alloc
	var nulls []bool
	if res.nulls != nil {
		nulls = res.nulls[start : start+n]
	}
	dt := fn.out.Arrow()
	switch {
	case res.src != nil:
		if w.argGs == nil {
			w.argGs = make([]*colGather, len(w.fns))
		}
		g := w.argGs[fi]
		if g == nil {
			srcs := make([]arrow.Array, len(w.batches))
			for i, b := range w.batches {
				srcs[i] = b.arrs[fn.arg]
			}
			g = newColGather(srcs[0].DataType(), srcs)
			w.argGs[fi] = g
		}
		refs := make([]rowRef, n)
		for i, s := range res.src[start : start+n] {
			if s < 0 {
				refs[i] = rowRef{nullRef, 0}
			} else {
				refs[i] = w.refs[s]
			}
		}
		return g.gather(mem, refs)
	case res.i != nil:
		return buildFixedCol(mem, dt, res.i[start:start+n], nulls), nil
	case res.d != nil:
		return buildFixedCol(mem, dt, res.d[start:start+n], nulls), nil
	case res.f != nil:
		if fn.out.ID == kernels.Float32 {
			f32 := make([]float32, n)
			for i, v := range res.f[start : start+n] {
				f32[i] = float32(v)
			}
			return buildFixedCol(mem, dt, f32, nulls), nil
		}
		return buildFixedCol(mem, dt, res.f[start:start+n], nulls), nil
	}
	return array.MakeArrayOfNull(mem, dt, n), nil
}

// buildFixedCol builds a fixed-width array of type dt from vals, NULL where
// nulls (nil: none) is set.
func buildFixedCol[T any](mem memory.Allocator, dt arrow.DataType, vals []T, nulls []bool) arrow.Array {
	n := len(vals)
	var zero T
	sz := int(unsafe.Sizeof(zero))
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * sz)
	if n > 0 {
		copy(unsafe.Slice((*T)(unsafe.Pointer(&buf.Bytes()[0])), n), vals)
	}
	validity, nn := validityOf(mem, nulls)
	data := array.NewData(dt, n, []*memory.Buffer{validity, buf}, nil, nn, 0)
	buf.Release()
	if validity != nil {
		validity.Release()
	}
	defer data.Release()
	return array.MakeFromData(data)
}

// validityOf returns the validity bitmap for nulls, nil when none is set.
func validityOf(mem memory.Allocator, nulls []bool) (*memory.Buffer, int) {
	nn := 0
	for _, x := range nulls {
		if x {
			nn++
		}
	}
	if nn == 0 {
		return nil, 0
	}
	buf := kernels.AllocBits(mem, len(nulls))
	b := buf.Bytes()
	for i, x := range nulls {
		if !x {
			b[i>>3] |= 1 << (i & 7)
		}
	}
	return buf, nn
}

// ntile is the 1-based bucket of the r-th (0-based) of n rows split into k
// buckets as evenly as possible, the first n mod k buckets one row larger.
func ntile(r, n, k int) int64 {
	q, rem := n/k, n%k
	if r < rem*(q+1) {
		return int64(r/(q+1) + 1)
	}
	if q == 0 {
		return int64(r + 1)
	}
	return int64(rem + (r-rem*(q+1))/q + 1)
}
