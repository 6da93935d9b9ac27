package exec

import (
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Evaluator computes a scalar expression over batches. It is immutable after
// Compile and safe for concurrent use by many drivers.
type Evaluator struct {
	root node
	Type kernels.Type
}

type node interface {
	// eval returns an array of length n, or of length 1 for a constant.
	eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error)
}

// Compile binds e to the positions of input and resolves its kernels.
func Compile(e *planner.Expr, input []planner.Column, reg *kernels.Registry) (*Evaluator, error) {
	if reg == nil {
		reg = kernels.Default
	}
	idx := make(map[planner.ColumnID]int, len(input))
	for i, c := range input {
		idx[c.ID] = i
	}
	n, err := compile(e, idx, reg)
	if err != nil {
		return nil, err
	}
	return &Evaluator{root: n, Type: e.Type}, nil
}

// Eval computes the expression over b; the result has b.NumRows() rows and
// belongs to the caller.
func (ev *Evaluator) Eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	arr, err := ev.root.eval(q, b)
	if err != nil {
		return nil, err
	}
	n := int(b.NumRows())
	if arr.Len() == 1 && n != 1 {
		defer arr.Release()
		return broadcast(q.Alloc, arr, ev.Type, n), nil
	}
	return arr, nil
}

// EvalConst evaluates an expression without column references.
func EvalConst(q *QueryContext, e *planner.Expr) (kernels.Value, error) {
	ev, err := Compile(e, nil, q.Kernels)
	if err != nil {
		return kernels.Value{}, err
	}
	sch := arrow.NewSchema(nil, nil)
	b := array.NewRecordBatch(sch, nil, 1)
	defer b.Release()
	arr, err := ev.Eval(q, b)
	if err != nil {
		return kernels.Value{}, err
	}
	defer arr.Release()
	return kernels.ValueAt(arr, e.Type, 0), nil
}

func broadcast(mem memory.Allocator, arr arrow.Array, t kernels.Type, n int) arrow.Array {
	return kernels.MakeConstN(mem, t, kernels.ValueAt(arr, t, 0), n)
}

func compile(e *planner.Expr, idx map[planner.ColumnID]int, reg *kernels.Registry) (node, error) {
	args := make([]node, len(e.Args))
	for i, a := range e.Args {
		n, err := compile(a, idx, reg)
		if err != nil {
			return nil, err
		}
		args[i] = n
	}
	switch e.Kind {
	case planner.EColumn:
		i, ok := idx[e.Col]
		if !ok {
			return nil, fmt.Errorf("internal error: column #%d not in operator input", e.Col)
		}
		return &colNode{i: i}, nil
	case planner.EConst:
		return &constNode{t: e.Type, v: e.Value}, nil
	case planner.ECall:
		types := make([]kernels.Type, len(e.Args))
		for i, a := range e.Args {
			types[i] = a.Type
		}
		k, err := reg.Resolve(e.Func, types, "")
		if err != nil {
			return nil, err
		}
		return &callNode{k: k, args: args}, nil
	case planner.EAnd:
		return &logicNode{and: true, args: args}, nil
	case planner.EOr:
		return &logicNode{and: false, args: args}, nil
	case planner.ENot:
		return &notNode{arg: args[0]}, nil
	case planner.EIsNull:
		return &isNullNode{arg: args[0]}, nil
	case planner.ECast:
		return &castNode{arg: args[0], from: e.Args[0].Type, to: e.Type}, nil
	case planner.ECase:
		return &caseNode{args: args, hasElse: e.HasElse, t: e.Type}, nil
	case planner.ECoalesce:
		return &coalesceNode{args: args, t: e.Type}, nil
	case planner.EIn:
		return compileIn(e, args, reg)
	case planner.ESubquery:
		return nil, fmt.Errorf("internal error: subquery was not decorrelated")
	case planner.EParam:
		return nil, fmt.Errorf("parameter $%d has no value", e.Col)
	}
	return nil, fmt.Errorf("internal error: unknown expression kind %d", e.Kind)
}

type colNode struct{ i int }

func (c *colNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	a := b.Column(c.i)
	a.Retain()
	return a, nil
}

type constNode struct {
	t kernels.Type
	v kernels.Value
}

func (c *constNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	return kernels.MakeConst(q.Alloc, c.t, c.v), nil
}

type callNode struct {
	k    *kernels.Kernel
	args []node
}

func evalArgs(q *QueryContext, b arrow.RecordBatch, args []node) ([]arrow.Array, error) {
	out := make([]arrow.Array, len(args))
	for i, a := range args {
		arr, err := a.eval(q, b)
		if err != nil {
			releaseAll(out[:i])
			return nil, err
		}
		out[i] = arr
	}
	return out, nil
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}

// rowsOf is the row count an evaluation must produce: constants collapse to
// one row so constant sub-expressions stay cheap.
func rowsOf(b arrow.RecordBatch, args []arrow.Array) int {
	for _, a := range args {
		if a.Len() != 1 {
			return a.Len()
		}
	}
	if len(args) == 0 {
		return int(b.NumRows())
	}
	return 1
}

func (c *callNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	args, err := evalArgs(q, b, c.args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(args)
	n := rowsOf(b, args)
	if len(args) == 0 {
		n = int(b.NumRows())
	}
	return c.k.Exec(q.KernelContext(), args, n)
}

type castNode struct {
	arg      node
	from, to kernels.Type
}

func (c *castNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	a, err := c.arg.eval(q, b)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	return kernels.Cast(q.KernelContext(), a, c.from, c.to)
}

// bools reads a boolean array as (value, valid) bitmaps, expanded to n rows.
func boolAt(a *array.Boolean, i int) (val, valid bool) {
	if a.Len() == 1 {
		i = 0
	}
	if a.IsNull(i) {
		return false, false
	}
	return a.Value(i), true
}

type logicNode struct {
	and  bool
	args []node
}

// boolBits returns the value and validity bitmaps of a boolean array as
// n-bit, offset-0 bitmaps (a length-1 constant is broadcast).
func boolBits(q *QueryContext, a *array.Boolean, n int) (val, valid []byte) {
	nb := int(bitutil.BytesForBits(int64(n)))
	val, valid = make([]byte, nb), make([]byte, nb)
	if a.Len() == 1 && n != 1 {
		v, ok := boolAt(a, 0)
		fill := func(b []byte, on bool) {
			if on {
				for i := range b {
					b[i] = 0xff
				}
			}
		}
		fill(valid, ok)
		fill(val, ok && v)
		return val, valid
	}
	off := a.Data().Offset()
	bitutil.CopyBitmap(a.Data().Buffers()[1].Bytes(), off, n, val, 0)
	if a.NullN() == 0 {
		for i := range valid {
			valid[i] = 0xff
		}
	} else {
		bitutil.CopyBitmap(a.NullBitmapBytes(), off, n, valid, 0)
	}
	return val, valid
}

// eval combines the arguments with Kleene logic, a byte at a time:
// AND is FALSE if any side is FALSE, TRUE if all are TRUE, else NULL;
// OR is TRUE if any side is TRUE, FALSE if all are FALSE, else NULL.
func (l *logicNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	args, err := evalArgs(q, b, l.args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(args)
	n := rowsOf(b, args)
	nb := int(bitutil.BytesForBits(int64(n)))
	// decided: rows where some argument decides the result (FALSE for AND,
	// TRUE for OR); allDefinite: rows where every argument is the neutral
	// value (TRUE for AND, FALSE for OR).
	decided := make([]byte, nb)
	allNeutral := make([]byte, nb)
	for i := range allNeutral {
		allNeutral[i] = 0xff
	}
	for _, a := range args {
		val, valid := boolBits(q, a.(*array.Boolean), n)
		for i := 0; i < nb; i++ {
			var dec, neu byte
			if l.and {
				dec = valid[i] &^ val[i]
				neu = valid[i] & val[i]
			} else {
				dec = valid[i] & val[i]
				neu = valid[i] &^ val[i]
			}
			decided[i] |= dec
			allNeutral[i] &= neu
		}
	}
	vals := kernels.AllocBits(q.Alloc, n)
	valid := kernels.AllocBits(q.Alloc, n)
	vb, vd := vals.Bytes(), valid.Bytes()
	for i := 0; i < nb; i++ {
		vd[i] = decided[i] | allNeutral[i]
		if l.and {
			vb[i] = allNeutral[i] &^ decided[i]
		} else {
			vb[i] = decided[i]
		}
	}
	nulls := n - bitutil.CountSetBits(vd, 0, n)
	if nulls == 0 {
		valid.Release()
		valid = nil
	}
	return kernels.NewBoolFromBits(n, vals, valid, nulls), nil
}

type notNode struct{ arg node }

func (x *notNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	a, err := x.arg.eval(q, b)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	n := a.Len()
	vals := kernels.AllocBits(q.Alloc, n)
	bitutil.InvertBitmap(a.Data().Buffers()[1].Bytes(), a.Data().Offset(), n, vals.Bytes(), 0)
	var valid *memory.Buffer
	if a.NullN() > 0 {
		valid = kernels.AllocBits(q.Alloc, n)
		bitutil.CopyBitmap(a.NullBitmapBytes(), a.Data().Offset(), n, valid.Bytes(), 0)
	}
	return kernels.NewBoolFromBits(n, vals, valid, a.NullN()), nil
}

type isNullNode struct{ arg node }

func (x *isNullNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	a, err := x.arg.eval(q, b)
	if err != nil {
		return nil, err
	}
	defer a.Release()
	n := a.Len()
	vals := kernels.AllocBits(q.Alloc, n)
	if a.NullN() > 0 {
		if a.DataType().ID() == arrow.NULL {
			for i := 0; i < n; i++ {
				bitutil.SetBit(vals.Bytes(), i)
			}
		} else {
			bitutil.InvertBitmap(a.NullBitmapBytes(), a.Data().Offset(), n, vals.Bytes(), 0)
		}
	}
	return kernels.NewBoolFromBits(n, vals, nil, 0), nil
}

type caseNode struct {
	args    []node
	hasElse bool
	t       kernels.Type
}

func (c *caseNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	args, err := evalArgs(q, b, c.args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(args)
	n := rowsOf(b, args)
	pairs := len(args) / 2
	bld := array.NewBuilder(q.Alloc, c.t.Arrow())
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < n; i++ {
		chosen := -1
		for p := 0; p < pairs; p++ {
			if v, ok := boolAt(args[2*p].(*array.Boolean), i); ok && v {
				chosen = 2*p + 1
				break
			}
		}
		if chosen < 0 && c.hasElse {
			chosen = len(args) - 1
		}
		if chosen < 0 {
			bld.AppendNull()
			continue
		}
		appendFrom(bld, args[chosen], c.t, i)
	}
	return bld.NewArray(), nil
}

// appendFrom appends element i (broadcast-aware) of a to bld.
func appendFrom(bld array.Builder, a arrow.Array, t kernels.Type, i int) {
	if a.Len() == 1 {
		i = 0
	}
	kernels.AppendValue(bld, t, kernels.ValueAt(a, t, i))
}

type coalesceNode struct {
	args []node
	t    kernels.Type
}

func (c *coalesceNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	args, err := evalArgs(q, b, c.args)
	if err != nil {
		return nil, err
	}
	defer releaseAll(args)
	n := rowsOf(b, args)
	bld := array.NewBuilder(q.Alloc, c.t.Arrow())
	defer bld.Release()
	bld.Reserve(n)
	for i := 0; i < n; i++ {
		done := false
		for _, a := range args {
			if !kernels.IsNullAt(a, i) {
				appendFrom(bld, a, c.t, i)
				done = true
				break
			}
		}
		if !done {
			bld.AppendNull()
		}
	}
	return bld.NewArray(), nil
}

// inNode evaluates x IN (list): TRUE on a match, NULL if x is NULL or no
// match and the list holds a NULL, else FALSE.
type inNode struct {
	x      node
	list   []node
	eqs    []*kernels.Kernel
	consts map[string]bool // encoded constant list, when all constant
	t      kernels.Type
	hasNul bool

	strsOnce sync.Once
	strs     map[string]bool
}

func compileIn(e *planner.Expr, args []node, reg *kernels.Registry) (node, error) {
	in := &inNode{x: args[0], list: args[1:], t: e.Args[0].Type}
	allConst := true
	for _, a := range e.Args[1:] {
		if a.Kind != planner.EConst {
			allConst = false
		}
		k, err := reg.Resolve("eq", []kernels.Type{e.Args[0].Type, a.Type}, "")
		if err != nil {
			return nil, err
		}
		in.eqs = append(in.eqs, k)
	}
	if allConst {
		in.consts = map[string]bool{}
		for _, a := range e.Args[1:] {
			if a.Value.Null {
				in.hasNul = true
				continue
			}
			v, err := kernels.CastValue(a.Value, a.Type, in.t)
			if err != nil {
				return nil, err
			}
			in.consts[kernels.KeyOf(v, in.t)] = true
		}
	}
	return in, nil
}

func (in *inNode) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	x, err := in.x.eval(q, b)
	if err != nil {
		return nil, err
	}
	defer x.Release()
	if in.consts != nil {
		if sa, ok := x.(*array.String); ok {
			return in.evalStrings(q, sa)
		}
		n := x.Len()
		vals := kernels.AllocBits(q.Alloc, n)
		valid := kernels.AllocBits(q.Alloc, n)
		nulls := 0
		for i := 0; i < n; i++ {
			if x.IsNull(i) {
				nulls++
				continue
			}
			if in.consts[kernels.KeyOf(kernels.ValueAt(x, in.t, i), in.t)] {
				bitutil.SetBit(vals.Bytes(), i)
				bitutil.SetBit(valid.Bytes(), i)
			} else if in.hasNul {
				nulls++
			} else {
				bitutil.SetBit(valid.Bytes(), i)
			}
		}
		if nulls == 0 {
			valid.Release()
			valid = nil
		}
		return kernels.NewBoolFromBits(n, vals, valid, nulls), nil
	}
	// General case: OR of equalities.
	eqs := make([]node, len(in.list))
	for i, l := range in.list {
		eqs[i] = &callNode{k: in.eqs[i], args: []node{&constArr{x}, l}}
	}
	return (&logicNode{and: false, args: eqs}).eval(q, b)
}

// constArr wraps an already computed array as a node.
type constArr struct{ a arrow.Array }

func (c *constArr) eval(q *QueryContext, b arrow.RecordBatch) (arrow.Array, error) {
	c.a.Retain()
	return c.a, nil
}

// evalStrings is IN over a constant list for strings, without building a
// key per row.
func (in *inNode) evalStrings(q *QueryContext, x *array.String) (arrow.Array, error) {
	in.strsOnce.Do(func() {
		m := make(map[string]bool, len(in.consts))
		for k := range in.consts {
			m[k[1:]] = true // KeyOf strings are "s" + value
		}
		in.strs = m
	})
	n := x.Len()
	vals := kernels.AllocBits(q.Alloc, n)
	valid := kernels.AllocBits(q.Alloc, n)
	vb, vd := vals.Bytes(), valid.Bytes()
	nulls := 0
	for i := 0; i < n; i++ {
		if x.IsNull(i) {
			nulls++
			continue
		}
		if in.strs[x.Value(i)] {
			bitutil.SetBit(vb, i)
			bitutil.SetBit(vd, i)
		} else if in.hasNul {
			nulls++
		} else {
			bitutil.SetBit(vd, i)
		}
	}
	if nulls == 0 {
		valid.Release()
		valid = nil
	}
	return kernels.NewBoolFromBits(n, vals, valid, nulls), nil
}
