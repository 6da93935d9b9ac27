package exec

import (
	"fmt"
	"math/big"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// aggState holds one aggregate function's state for every group of a table,
// in a columnar layout indexed by group id. Updates are typed loops over a
// whole batch: there is one interface call per batch, never per row.
type aggState interface {
	// resize makes room for n groups; new groups start empty.
	resize(n int)
	// update folds n rows into the groups gids[i]; gids == nil sends every
	// row to group 0 (no GROUP BY). args have length n.
	update(gids []int32, args []arrow.Array, n int)
	// merge folds group srcIdx[k] of src (same concrete type) into group
	// dstIdx[k].
	merge(src aggState, srcIdx, dstIdx []int32)
	// emit appends the results of groups [from, to) to b, a builder of the
	// aggregate's result type.
	emit(b array.Builder, from, to int) error
	// bytes estimates the memory held.
	bytes() int64
}

// aggValidity returns the validity bitmap and offset of a, or nil when a has no
// NULLs.
func aggValidity(a arrow.Array) ([]byte, int) {
	if a.NullN() == 0 {
		return nil, 0
	}
	return a.NullBitmapBytes(), a.Data().Offset()
}

// aggAllNull reports whether every row of a is NULL without a bitmap (the
// Arrow Null type).
func aggAllNull(a arrow.Array) bool {
	return a.Len() > 0 && a.NullN() == a.Len() && a.NullBitmapBytes() == nil
}

func aggGrow[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	if n <= cap(s) {
		old := len(s)
		s = s[:n]
		clear(s[old:])
		return s
	}
	ns := make([]T, n, max(n, 2*cap(s)))
	copy(ns, s)
	return ns
}

func aggSliceBytes[T any](s []T) int64 {
	var z T
	return int64(cap(s)) * int64(unsafe.Sizeof(z))
}

// ---- count ----

// aggCount counts rows (count_star) or rows whose arguments are all
// non-NULL (count).
type aggCount struct {
	c []int64
}

func (s *aggCount) resize(n int) { s.c = aggGrow(s.c, n) }
func (s *aggCount) bytes() int64 { return aggSliceBytes(s.c) }
func (s *aggCount) update(gids []int32, args []arrow.Array, n int) {
	var bits []byte
	var off int
	switch len(args) {
	case 0:
	case 1:
		if aggAllNull(args[0]) {
			return
		}
		bits, off = aggValidity(args[0])
	default:
		// count(a, b, ...): a row counts when no argument is NULL.
		var valid []bool
		for _, a := range args {
			if aggAllNull(a) {
				return
			}
			if a.NullN() == 0 {
				continue
			}
			if valid == nil {
				valid = make([]bool, n)
				for i := range valid {
					valid[i] = true
				}
			}
			for i := 0; i < n; i++ {
				if a.IsNull(i) {
					valid[i] = false
				}
			}
		}
		if valid != nil {
			if gids == nil {
				for _, v := range valid {
					if v {
						s.c[0]++
					}
				}
				return
			}
			for i, v := range valid {
				if v {
					s.c[gids[i]]++
				}
			}
			return
		}
	}
	if gids == nil {
		if bits == nil {
			s.c[0] += int64(n)
		} else {
			s.c[0] += int64(bitutil.CountSetBits(bits, off, n))
		}
		return
	}
	c := s.c
	gids = gids[:n]
	if bits == nil {
		for _, g := range gids {
			c[g]++
		}
		return
	}
	for i, g := range gids {
		if bitutil.BitIsSet(bits, off+i) {
			c[g]++
		}
	}
}

func (s *aggCount) merge(src aggState, srcIdx, dstIdx []int32) {
	o := src.(*aggCount)
	for k, g := range srcIdx {
		s.c[dstIdx[k]] += o.c[g]
	}
}

func (s *aggCount) emit(b array.Builder, from, to int) error {
	bb := b.(*array.Int64Builder)
	bb.AppendValues(s.c[from:to], nil)
	return nil
}

// ---- exact sums and averages of integers and decimals ----

// aggEachPartial calls fn(group, row) for each of the n rows of a split
// avg's partial results (planner.AvgMerge) whose sum is not NULL (a
// task's group that saw no value). Partial rows are few: one per group
// per task.
func aggEachPartial(gids []int32, sums arrow.Array, n int, fn func(g int32, i int)) {
	for i := range n {
		if sums.IsNull(i) {
			continue
		}
		g := int32(0)
		if gids != nil {
			g = gids[i]
		}
		fn(g, i)
	}
}

// aggWideAcc accumulates an exact sum: lo holds a running int64 sum and hi the
// 128-bit carry folded in whenever lo would overflow; the sum is hi+lo.
type aggWideAcc struct {
	lo  int64
	cnt int64
	hi  decimal128.Num
}

func (a *aggWideAcc) add(x int64) {
	r := a.lo + x
	if (a.lo^r)&(x^r) < 0 { // signed overflow
		a.addSlow(x)
		return
	}
	a.lo = r
	a.cnt++
}

// addSlow folds lo into hi, then adds x (rare: out of line so add inlines).
//
//go:noinline
func (a *aggWideAcc) addSlow(x int64) {
	a.hi = a.hi.Add(decimal128.FromI64(a.lo))
	a.lo = x
	a.cnt++
}

func (a *aggWideAcc) total() decimal128.Num { return a.hi.Add(decimal128.FromI64(a.lo)) }

// aggWide is sum or avg over smallint, integer, bigint or decimal
// arguments, computed exactly. With partials it is planner.AvgMerge: its
// arguments are partial sums (numeric) and counts of a split avg.
type aggWide struct {
	acc      []aggWideAcc
	avg      bool
	partials bool
	scale    int32 // of the argument
	res      kernels.Type
}

func (s *aggWide) resize(n int) { s.acc = aggGrow(s.acc, n) }
func (s *aggWide) bytes() int64 { return aggSliceBytes(s.acc) }

func (s *aggWide) update(gids []int32, args []arrow.Array, n int) {
	a := args[0]
	if s.partials {
		sums := arrow.GetValues[decimal128.Num](a.Data(), 1)
		counts := args[1].(*array.Int64).Int64Values()
		aggEachPartial(gids, a, n, func(g int32, i int) {
			p := &s.acc[g]
			cnt := p.cnt + counts[i]
			if v := sums[i]; v.HighBits() != int64(v.LowBits())>>63 {
				p.hi = p.hi.Add(v)
			} else {
				p.add(int64(v.LowBits()))
			}
			p.cnt = cnt
		})
		return
	}
	bits, off := aggValidity(a)
	switch arr := a.(type) {
	case *array.Int16:
		aggWideAddInts(s.acc, gids, arr.Int16Values(), bits, off)
	case *array.Int32:
		aggWideAddInts(s.acc, gids, arr.Int32Values(), bits, off)
	case *array.Int64:
		aggWideAddInts(s.acc, gids, arr.Int64Values(), bits, off)
	case *array.Decimal128:
		aggWideAddDecimals(s.acc, gids, arrow.GetValues[decimal128.Num](arr.Data(), 1), bits, off)
	default:
		panic(fmt.Sprintf("hash aggregate: unexpected %s argument for sum/avg", a.DataType()))
	}
}

func aggWideAddInts[T int16 | int32 | int64](acc []aggWideAcc, gids []int32, vals []T, bits []byte, off int) {
	if gids == nil {
		a := acc[0]
		for i, v := range vals {
			if bits != nil && !bitutil.BitIsSet(bits, off+i) {
				continue
			}
			a.add(int64(v))
		}
		acc[0] = a
		return
	}
	gids = gids[:len(vals)]
	for i, v := range vals {
		if bits != nil && !bitutil.BitIsSet(bits, off+i) {
			continue
		}
		acc[gids[i]].add(int64(v))
	}
}

func aggWideAddDecimals(acc []aggWideAcc, gids []int32, vals []decimal128.Num, bits []byte, off int) {
	if gids == nil {
		a := acc[0]
		for i, v := range vals {
			if bits != nil && !bitutil.BitIsSet(bits, off+i) {
				continue
			}
			lo := int64(v.LowBits())
			if v.HighBits() != lo>>63 { // does not fit in 64 bits
				a.hi = a.hi.Add(v)
				a.cnt++
				continue
			}
			a.add(lo)
		}
		acc[0] = a
		return
	}
	gids = gids[:len(vals)]
	for i, v := range vals {
		if bits != nil && !bitutil.BitIsSet(bits, off+i) {
			continue
		}
		p := &acc[gids[i]]
		lo := int64(v.LowBits())
		if v.HighBits() != lo>>63 {
			p.hi = p.hi.Add(v)
			p.cnt++
			continue
		}
		p.add(lo)
	}
}

func (s *aggWide) merge(src aggState, srcIdx, dstIdx []int32) {
	o := src.(*aggWide)
	for k, g := range srcIdx {
		sa := &o.acc[g]
		d := &s.acc[dstIdx[k]]
		d.hi = d.hi.Add(sa.hi)
		cnt := d.cnt + sa.cnt
		d.add(sa.lo)
		d.cnt = cnt
	}
}

func (s *aggWide) emit(b array.Builder, from, to int) error {
	for i := from; i < to; i++ {
		a := &s.acc[i]
		if a.cnt == 0 {
			b.AppendNull()
			continue
		}
		t := a.total()
		if s.avg {
			b.(*array.Float64Builder).Append(aggDivToFloat(t, s.scale, a.cnt))
			continue
		}
		switch bb := b.(type) {
		case *array.Int64Builder:
			if t.HighBits() != int64(t.LowBits())>>63 {
				return fmt.Errorf("bigint out of range")
			}
			bb.Append(int64(t.LowBits()))
		case *array.Decimal128Builder:
			if !t.FitsInPrecision(s.res.Precision) {
				return fmt.Errorf("numeric field overflow: sum does not fit in %s", s.res)
			}
			bb.Append(t)
		case *array.Float64Builder:
			bb.Append(t.ToFloat64(s.scale))
		default:
			return fmt.Errorf("internal error: sum result builder %T", b)
		}
	}
	return nil
}

var aggPow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// aggDivToFloat returns sum / 10^scale / cnt rounded once to the nearest
// float64, whatever the magnitudes.
func aggDivToFloat(sum decimal128.Num, scale int32, cnt int64) float64 {
	const exact = 1 << 53
	if scale >= 0 && int(scale) < len(aggPow10) && cnt < exact {
		p := aggPow10[scale]
		lo := int64(sum.LowBits())
		if sum.HighBits() == lo>>63 && lo > -exact && lo < exact && p < exact/cnt {
			// Both operands are exact float64s: IEEE division rounds once.
			return float64(lo) / float64(p*cnt)
		}
	}
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	den.Mul(den, big.NewInt(cnt))
	f, _ := new(big.Rat).SetFrac(sum.BigInt(), den).Float64()
	return f
}

// ---- float sums and averages ----

type aggFloatAcc struct {
	sum float64
	cnt int64
}

// aggFloat is sum or avg over real or double precision arguments. With
// partials it is planner.AvgMerge over double partial sums and counts.
type aggFloat struct {
	acc      []aggFloatAcc
	avg      bool
	partials bool
}

func (s *aggFloat) resize(n int) { s.acc = aggGrow(s.acc, n) }
func (s *aggFloat) bytes() int64 { return aggSliceBytes(s.acc) }

func (s *aggFloat) update(gids []int32, args []arrow.Array, n int) {
	a := args[0]
	if s.partials {
		sums := a.(*array.Float64).Float64Values()
		counts := args[1].(*array.Int64).Int64Values()
		aggEachPartial(gids, a, n, func(g int32, i int) {
			s.acc[g].sum += sums[i]
			s.acc[g].cnt += counts[i]
		})
		return
	}
	bits, off := aggValidity(a)
	switch arr := a.(type) {
	case *array.Float32:
		aggFloatAdd(s.acc, gids, arr.Float32Values(), bits, off)
	case *array.Float64:
		aggFloatAdd(s.acc, gids, arr.Float64Values(), bits, off)
	default:
		panic(fmt.Sprintf("hash aggregate: unexpected %s argument for float sum/avg", a.DataType()))
	}
}

func aggFloatAdd[T float32 | float64](acc []aggFloatAcc, gids []int32, vals []T, bits []byte, off int) {
	if gids == nil {
		a := acc[0]
		for i, v := range vals {
			if bits != nil && !bitutil.BitIsSet(bits, off+i) {
				continue
			}
			a.sum += float64(v)
			a.cnt++
		}
		acc[0] = a
		return
	}
	gids = gids[:len(vals)]
	for i, v := range vals {
		if bits != nil && !bitutil.BitIsSet(bits, off+i) {
			continue
		}
		p := &acc[gids[i]]
		p.sum += float64(v)
		p.cnt++
	}
}

func (s *aggFloat) merge(src aggState, srcIdx, dstIdx []int32) {
	o := src.(*aggFloat)
	for k, g := range srcIdx {
		d := &s.acc[dstIdx[k]]
		d.sum += o.acc[g].sum
		d.cnt += o.acc[g].cnt
	}
}

func (s *aggFloat) emit(b array.Builder, from, to int) error {
	bb := b.(*array.Float64Builder)
	for i := from; i < to; i++ {
		a := s.acc[i]
		switch {
		case a.cnt == 0:
			bb.AppendNull()
		case s.avg:
			bb.Append(a.sum / float64(a.cnt))
		default:
			bb.Append(a.sum)
		}
	}
	return nil
}

// ---- min and max ----

type aggOrdered interface {
	~int16 | ~int32 | ~int64 | ~float32 | ~float64
}

type aggMMAcc[T any] struct {
	v    T
	seen bool
}

// aggMinMax is min or max over fixed-width ordered values (integers,
// floats, dates, timestamps). NaN sorts above every number, as in
// PostgreSQL.
type aggMinMax[T aggOrdered] struct {
	acc []aggMMAcc[T]
	max bool
}

func (s *aggMinMax[T]) resize(n int) { s.acc = aggGrow(s.acc, n) }
func (s *aggMinMax[T]) bytes() int64 { return aggSliceBytes(s.acc) }

// aggBetter reports whether v should replace cur (v != v only for NaN).
func aggBetter[T aggOrdered](max bool, v, cur T) bool {
	if max {
		return v > cur || (v != v && cur == cur)
	}
	return v < cur || (cur != cur && v == v)
}

func (s *aggMinMax[T]) update(gids []int32, args []arrow.Array, n int) {
	a := args[0]
	if aggAllNull(a) {
		return
	}
	bits, off := aggValidity(a)
	vals := arrow.GetValues[T](a.Data(), 1)[:n]
	if gids == nil {
		p := s.acc[0]
		for i, v := range vals {
			if bits != nil && !bitutil.BitIsSet(bits, off+i) {
				continue
			}
			if !p.seen || aggBetter(s.max, v, p.v) {
				p.v, p.seen = v, true
			}
		}
		s.acc[0] = p
		return
	}
	gids = gids[:n]
	if s.max {
		for i, v := range vals {
			if bits != nil && !bitutil.BitIsSet(bits, off+i) {
				continue
			}
			p := &s.acc[gids[i]]
			if !p.seen || v > p.v || (v != v && p.v == p.v) {
				p.v, p.seen = v, true
			}
		}
		return
	}
	for i, v := range vals {
		if bits != nil && !bitutil.BitIsSet(bits, off+i) {
			continue
		}
		p := &s.acc[gids[i]]
		if !p.seen || v < p.v || (p.v != p.v && v == v) {
			p.v, p.seen = v, true
		}
	}
}

func (s *aggMinMax[T]) merge(src aggState, srcIdx, dstIdx []int32) {
	o := src.(*aggMinMax[T])
	for k, g := range srcIdx {
		sv := o.acc[g]
		if !sv.seen {
			continue
		}
		d := &s.acc[dstIdx[k]]
		if !d.seen || aggBetter(s.max, sv.v, d.v) {
			*d = sv
		}
	}
}

func (s *aggMinMax[T]) emit(b array.Builder, from, to int) error {
	bb, ok := b.(interface {
		Append(T)
		AppendNull()
	})
	if !ok {
		return fmt.Errorf("internal error: min/max result builder %T", b)
	}
	for _, a := range s.acc[from:to] {
		if a.seen {
			bb.Append(a.v)
		} else {
			bb.AppendNull()
		}
	}
	return nil
}

// aggDecMinMax is min or max over decimals.
type aggDecMinMax struct {
	acc []aggMMAcc[decimal128.Num]
	max bool
}

func aggDecBetter(max bool, v, cur decimal128.Num) bool {
	if max {
		return v.Greater(cur)
	}
	return v.Less(cur)
}

func (s *aggDecMinMax) resize(n int) { s.acc = aggGrow(s.acc, n) }
func (s *aggDecMinMax) bytes() int64 { return aggSliceBytes(s.acc) }

func (s *aggDecMinMax) update(gids []int32, args []arrow.Array, n int) {
	a := args[0]
	bits, off := aggValidity(a)
	vals := arrow.GetValues[decimal128.Num](a.Data(), 1)[:n]
	for i, v := range vals {
		if bits != nil && !bitutil.BitIsSet(bits, off+i) {
			continue
		}
		var p *aggMMAcc[decimal128.Num]
		if gids == nil {
			p = &s.acc[0]
		} else {
			p = &s.acc[gids[i]]
		}
		if !p.seen || aggDecBetter(s.max, v, p.v) {
			p.v, p.seen = v, true
		}
	}
}

func (s *aggDecMinMax) merge(src aggState, srcIdx, dstIdx []int32) {
	o := src.(*aggDecMinMax)
	for k, g := range srcIdx {
		sv := o.acc[g]
		d := &s.acc[dstIdx[k]]
		if sv.seen && (!d.seen || aggDecBetter(s.max, sv.v, d.v)) {
			*d = sv
		}
	}
}

func (s *aggDecMinMax) emit(b array.Builder, from, to int) error {
	bb := b.(*array.Decimal128Builder)
	for _, a := range s.acc[from:to] {
		if a.seen {
			bb.Append(a.v)
		} else {
			bb.AppendNull()
		}
	}
	return nil
}

// aggStrMinMax is min or max over strings (byte order). It keeps copies:
// never strings aliasing an input batch.
type aggStrMinMax struct {
	acc     []aggMMAcc[string]
	max     bool
	strSize int64
}

func (s *aggStrMinMax) resize(n int) { s.acc = aggGrow(s.acc, n) }
func (s *aggStrMinMax) bytes() int64 { return aggSliceBytes(s.acc) + s.strSize }

func aggStrBetter(max bool, v, cur string) bool {
	if max {
		return v > cur
	}
	return v < cur
}

func (s *aggStrMinMax) set(p *aggMMAcc[string], v string) {
	s.strSize += int64(len(v)) - int64(len(p.v))
	p.v, p.seen = strings.Clone(v), true
}

func (s *aggStrMinMax) update(gids []int32, args []arrow.Array, n int) {
	arr := args[0].(*array.String)
	if gids == nil {
		// Find the batch's best row first: copy one string per batch.
		best := -1
		var bv string
		for i := 0; i < n; i++ {
			if arr.IsNull(i) {
				continue
			}
			if v := arr.Value(i); best < 0 || aggStrBetter(s.max, v, bv) {
				best, bv = i, v
			}
		}
		if p := &s.acc[0]; best >= 0 && (!p.seen || aggStrBetter(s.max, bv, p.v)) {
			s.set(p, bv)
		}
		return
	}
	for i := 0; i < n; i++ {
		if arr.IsNull(i) {
			continue
		}
		v := arr.Value(i)
		if p := &s.acc[gids[i]]; !p.seen || aggStrBetter(s.max, v, p.v) {
			s.set(p, v)
		}
	}
}

func (s *aggStrMinMax) merge(src aggState, srcIdx, dstIdx []int32) {
	o := src.(*aggStrMinMax)
	for k, g := range srcIdx {
		sv := o.acc[g]
		d := &s.acc[dstIdx[k]]
		if sv.seen && (!d.seen || aggStrBetter(s.max, sv.v, d.v)) {
			// src is freed after the merge: share its copy.
			s.strSize += int64(len(sv.v)) - int64(len(d.v))
			*d = sv
		}
	}
}

func (s *aggStrMinMax) emit(b array.Builder, from, to int) error {
	bb := b.(*array.StringBuilder)
	for _, a := range s.acc[from:to] {
		if a.seen {
			bb.Append(a.v)
		} else {
			bb.AppendNull()
		}
	}
	return nil
}

// aggBool is min/bool_and (max: max/bool_or) over booleans. Each group
// holds 0 (no value yet), 1 (false) or 2 (true).
type aggBool struct {
	acc []uint8
	max bool
}

func (s *aggBool) resize(n int) { s.acc = aggGrow(s.acc, n) }
func (s *aggBool) bytes() int64 { return aggSliceBytes(s.acc) }

func (s *aggBool) fold(p *uint8, v uint8) {
	if *p == 0 || (s.max && v > *p) || (!s.max && v < *p) {
		*p = v
	}
}

func (s *aggBool) update(gids []int32, args []arrow.Array, n int) {
	arr := args[0].(*array.Boolean)
	for i := 0; i < n; i++ {
		if arr.IsNull(i) {
			continue
		}
		v := uint8(1)
		if arr.Value(i) {
			v = 2
		}
		g := int32(0)
		if gids != nil {
			g = gids[i]
		}
		s.fold(&s.acc[g], v)
	}
}

func (s *aggBool) merge(src aggState, srcIdx, dstIdx []int32) {
	o := src.(*aggBool)
	for k, g := range srcIdx {
		if v := o.acc[g]; v != 0 {
			s.fold(&s.acc[dstIdx[k]], v)
		}
	}
}

func (s *aggBool) emit(b array.Builder, from, to int) error {
	bb := b.(*array.BooleanBuilder)
	for _, v := range s.acc[from:to] {
		if v == 0 {
			bb.AppendNull()
		} else {
			bb.Append(v == 2)
		}
	}
	return nil
}

// ---- planning ----

// aggSpec is one planned aggregate call.
type aggSpec struct {
	fn       string
	distinct bool // DISTINCT that changes the result (count/sum/avg)
	args     []int
	argTypes []kernels.Type
	res      kernels.Type
	newState func() aggState
}

// planAggCall checks an aggregate call's argument and result types and picks its
// state implementation.
func planAggCall(c planner.AggCall) (*aggSpec, error) {
	sp := &aggSpec{fn: c.Func, res: c.Type}
	for _, a := range c.Args {
		sp.argTypes = append(sp.argTypes, a.Type)
	}
	bad := func() (*aggSpec, error) {
		ts := make([]string, len(sp.argTypes))
		for i, t := range sp.argTypes {
			ts[i] = t.String()
		}
		return nil, fmt.Errorf("hash aggregate: unsupported aggregate %s(%s) returning %s", c.Func, strings.Join(ts, ", "), c.Type)
	}
	one := func() (kernels.Type, bool) {
		if len(sp.argTypes) != 1 {
			return kernels.Type{}, false
		}
		return sp.argTypes[0], true
	}
	switch c.Func {
	case "count_star":
		if len(c.Args) != 0 || c.Type != kernels.TInt64 || c.Distinct {
			return bad()
		}
		sp.newState = func() aggState { return &aggCount{} }
	case "count":
		if len(c.Args) == 0 || c.Type != kernels.TInt64 {
			return bad()
		}
		sp.distinct = c.Distinct
		sp.newState = func() aggState { return &aggCount{} }
	case "sum", "avg":
		at, ok := one()
		if !ok {
			return bad()
		}
		sp.distinct = c.Distinct
		avg := c.Func == "avg"
		switch {
		case at.IsInteger() || at.ID == kernels.Decimal:
			scale := int32(0)
			if at.ID == kernels.Decimal {
				scale = at.Scale
			}
			okRes := c.Type == kernels.TFloat64 ||
				(!avg && c.Type == kernels.TInt64 && at.IsInteger()) ||
				(!avg && c.Type.ID == kernels.Decimal && c.Type.Scale == scale)
			if !okRes {
				return bad()
			}
			sp.newState = func() aggState { return &aggWide{avg: avg, scale: scale, res: c.Type} }
		case at.IsFloat():
			if c.Type != kernels.TFloat64 {
				return bad()
			}
			sp.newState = func() aggState { return &aggFloat{avg: avg} }
		default:
			return bad()
		}
	case planner.AvgMerge:
		// The final step of an avg the fragmenter split: (partial sum,
		// partial count), the sums numeric(38,s) or double.
		if len(sp.argTypes) != 2 || sp.argTypes[1] != kernels.TInt64 || c.Type != kernels.TFloat64 || c.Distinct {
			return bad()
		}
		switch at := sp.argTypes[0]; {
		case at.ID == kernels.Decimal:
			sp.newState = func() aggState { return &aggWide{avg: true, partials: true, scale: at.Scale, res: c.Type} }
		case at == kernels.TFloat64:
			sp.newState = func() aggState { return &aggFloat{avg: true, partials: true} }
		default:
			return bad()
		}
	case "min", "max", "bool_and", "bool_or", "every":
		at, ok := one()
		if !ok || c.Type != at {
			return bad()
		}
		// DISTINCT does not change these results.
		max := c.Func == "max" || c.Func == "bool_or"
		if c.Func != "min" && c.Func != "max" && at.ID != kernels.Bool {
			return bad()
		}
		switch at.ID {
		case kernels.Int16:
			sp.newState = func() aggState { return &aggMinMax[int16]{max: max} }
		case kernels.Int32:
			sp.newState = func() aggState { return &aggMinMax[int32]{max: max} }
		case kernels.Int64:
			sp.newState = func() aggState { return &aggMinMax[int64]{max: max} }
		case kernels.Float32:
			sp.newState = func() aggState { return &aggMinMax[float32]{max: max} }
		case kernels.Float64:
			sp.newState = func() aggState { return &aggMinMax[float64]{max: max} }
		case kernels.Date:
			sp.newState = func() aggState { return &aggMinMax[arrow.Date32]{max: max} }
		case kernels.Timestamp:
			sp.newState = func() aggState { return &aggMinMax[arrow.Timestamp]{max: max} }
		case kernels.Decimal:
			sp.newState = func() aggState { return &aggDecMinMax{max: max} }
		case kernels.String:
			sp.newState = func() aggState { return &aggStrMinMax{max: max} }
		case kernels.Bool:
			sp.newState = func() aggState { return &aggBool{max: max} }
		default:
			return bad()
		}
	default:
		return nil, fmt.Errorf("hash aggregate: unsupported aggregate function %q", c.Func)
	}
	return sp, nil
}
