package kernels

import (
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEQ cmpOp = iota
	opNE
	opLT
	opLE
	opGT
	opGE
)

// cmpOps maps registry names to operators.
var cmpOps = map[string]cmpOp{"eq": opEQ, "ne": opNE, "lt": opLT, "le": opLE, "gt": opGT, "ge": opGE}

// flip returns the operator with its operands swapped (a < b == b > a).
func (o cmpOp) flip() cmpOp {
	switch o {
	case opLT:
		return opGT
	case opLE:
		return opGE
	case opGT:
		return opLT
	case opGE:
		return opLE
	}
	return o
}

// test applies the operator to a three-way comparison result.
func (o cmpOp) test(c int) bool {
	switch o {
	case opEQ:
		return c == 0
	case opNE:
		return c != 0
	case opLT:
		return c < 0
	case opLE:
		return c <= 0
	case opGT:
		return c > 0
	}
	return c >= 0
}

// ordered are the element types compared with Go's operators.
type ordered interface {
	~int16 | ~int32 | ~int64 | ~float32 | ~float64
}

// The packed loops below write 8 results per output byte. Only < and = are
// spelled out; the other operators swap operands or invert the bits (valid
// because callers never pass NaN here).

func ltVV[T ordered](a, b []T, out []byte) {
	b = b[:len(a)]
	j := 0
	for ; j+8 <= len(a); j += 8 {
		x, y := a[j:j+8:j+8], b[j:j+8:j+8]
		out[j>>3] = b2u(x[0] < y[0]) | b2u(x[1] < y[1])<<1 | b2u(x[2] < y[2])<<2 | b2u(x[3] < y[3])<<3 |
			b2u(x[4] < y[4])<<4 | b2u(x[5] < y[5])<<5 | b2u(x[6] < y[6])<<6 | b2u(x[7] < y[7])<<7
	}
	for ; j < len(a); j++ {
		out[j>>3] |= b2u(a[j] < b[j]) << (j & 7)
	}
}

func eqVV[T ordered](a, b []T, out []byte) {
	b = b[:len(a)]
	j := 0
	for ; j+8 <= len(a); j += 8 {
		x, y := a[j:j+8:j+8], b[j:j+8:j+8]
		out[j>>3] = b2u(x[0] == y[0]) | b2u(x[1] == y[1])<<1 | b2u(x[2] == y[2])<<2 | b2u(x[3] == y[3])<<3 |
			b2u(x[4] == y[4])<<4 | b2u(x[5] == y[5])<<5 | b2u(x[6] == y[6])<<6 | b2u(x[7] == y[7])<<7
	}
	for ; j < len(a); j++ {
		out[j>>3] |= b2u(a[j] == b[j]) << (j & 7)
	}
}

func ltVS[T ordered](a []T, s T, out []byte) {
	j := 0
	for ; j+8 <= len(a); j += 8 {
		x := a[j : j+8 : j+8]
		out[j>>3] = b2u(x[0] < s) | b2u(x[1] < s)<<1 | b2u(x[2] < s)<<2 | b2u(x[3] < s)<<3 |
			b2u(x[4] < s)<<4 | b2u(x[5] < s)<<5 | b2u(x[6] < s)<<6 | b2u(x[7] < s)<<7
	}
	for ; j < len(a); j++ {
		out[j>>3] |= b2u(a[j] < s) << (j & 7)
	}
}

func gtVS[T ordered](a []T, s T, out []byte) {
	j := 0
	for ; j+8 <= len(a); j += 8 {
		x := a[j : j+8 : j+8]
		out[j>>3] = b2u(x[0] > s) | b2u(x[1] > s)<<1 | b2u(x[2] > s)<<2 | b2u(x[3] > s)<<3 |
			b2u(x[4] > s)<<4 | b2u(x[5] > s)<<5 | b2u(x[6] > s)<<6 | b2u(x[7] > s)<<7
	}
	for ; j < len(a); j++ {
		out[j>>3] |= b2u(a[j] > s) << (j & 7)
	}
}

func eqVS[T ordered](a []T, s T, out []byte) {
	j := 0
	for ; j+8 <= len(a); j += 8 {
		x := a[j : j+8 : j+8]
		out[j>>3] = b2u(x[0] == s) | b2u(x[1] == s)<<1 | b2u(x[2] == s)<<2 | b2u(x[3] == s)<<3 |
			b2u(x[4] == s)<<4 | b2u(x[5] == s)<<5 | b2u(x[6] == s)<<6 | b2u(x[7] == s)<<7
	}
	for ; j < len(a); j++ {
		out[j>>3] |= b2u(a[j] == s) << (j & 7)
	}
}

// invertBits flips the first n bits.
func invertBits(out []byte, n int) {
	for i := 0; i < n/8; i++ {
		out[i] = ^out[i]
	}
	if r := n & 7; r != 0 {
		out[n/8] ^= byte(1)<<r - 1
	}
}

// cmpVV compares two full columns into a zeroed bitmap.
func cmpVV[T ordered](op cmpOp, a, b []T, out []byte) {
	switch op {
	case opEQ, opNE:
		eqVV(a, b, out)
	case opLT, opGE:
		ltVV(a, b, out)
	case opGT, opLE:
		ltVV(b, a, out)
	}
	if op == opNE || op == opGE || op == opLE {
		invertBits(out, len(a))
	}
}

// cmpVS compares a column with a constant into a zeroed bitmap.
func cmpVS[T ordered](op cmpOp, a []T, s T, out []byte) {
	switch op {
	case opEQ, opNE:
		eqVS(a, s, out)
	case opLT, opGE:
		ltVS(a, s, out)
	case opGT, opLE:
		gtVS(a, s, out)
	}
	if op == opNE || op == opGE || op == opLE {
		invertBits(out, len(a))
	}
}

func cmpOrd[T ordered](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// cmpShapes runs the comparison over the broadcast shape of a and b.
func cmpShapes[T ordered](op cmpOp, a []T, sa int, b []T, sb int, n int, out []byte) {
	switch {
	case n == 0:
	case sa == 1 && sb == 1:
		cmpVV(op, a[:n], b[:n], out)
	case sa == 1:
		cmpVS(op, a[:n], b[0], out)
	case sb == 1:
		cmpVS(op.flip(), b[:n], a[0], out)
	default:
		if op.test(cmpOrd(a[0], b[0])) {
			setAll(out, n)
		}
	}
}

// setAll sets the first n bits.
func setAll(out []byte, n int) {
	for i := 0; i < n/8; i++ {
		out[i] = 0xff
	}
	for i := n &^ 7; i < n; i++ {
		bitutil.SetBit(out, i)
	}
}

func boolResult(ctx *Context, args []arrow.Array, n int, fill func(out []byte)) arrow.Array {
	bits := AllocBits(ctx.Alloc, n)
	fill(bits.Bytes())
	validity, nulls := Validity(ctx.Alloc, args, n)
	return NewBoolFromBits(n, bits, validity, nulls)
}

func cmpFixed[T ordered](op cmpOp) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		return boolResult(ctx, args, n, func(out []byte) {
			cmpShapes(op, Values[T](args[0]), Stride(args[0], n), Values[T](args[1]), Stride(args[1], n), n, out)
		}), nil
	}
}

func hasNaN[T float32 | float64](v []T) bool {
	for _, x := range v {
		if x != x {
			return true
		}
	}
	return false
}

// cmpFloatNaN orders floats like PostgreSQL: NaN equals NaN and sorts above
// every other value.
func cmpFloatNaN[T float32 | float64](x, y T) int {
	xn, yn := x != x, y != y
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	case yn:
		return -1
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func cmpFloat[T float32 | float64](op cmpOp) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		a, b := Values[T](args[0]), Values[T](args[1])
		sa, sb := Stride(args[0], n), Stride(args[1], n)
		return boolResult(ctx, args, n, func(out []byte) {
			if !hasNaN(a) && !hasNaN(b) {
				cmpShapes(op, a, sa, b, sb, n, out)
				return
			}
			for i := 0; i < n; i++ {
				out[i>>3] |= b2u(op.test(cmpFloatNaN(a[i*sa], b[i*sb]))) << (i & 7)
			}
		}), nil
	}
}

var i64Pool = sync.Pool{New: func() any { return new([]int64) }}

func getI64(n int) *[]int64 {
	p := i64Pool.Get().(*[]int64)
	if cap(*p) < n {
		*p = make([]int64, n)
	}
	*p = (*p)[:n]
	return p
}

// decAsI64 writes the decimals of v, multiplied by 10^k, as int64 values; the
// caller guarantees they fit.
func decAsI64(v []decimal128.Num, k int32, out []int64) {
	m := pow10i[k]
	for i, x := range v {
		out[i] = int64(x.LowBits()) * m
	}
}

func cmpDecimal(op cmpOp, ta, tb Type) ExecFn {
	s := max(ta.Scale, tb.Scale)
	ka, kb := s-ta.Scale, s-tb.Scale
	fast := ta.Precision+ka <= 18 && tb.Precision+kb <= 18
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		a, b := Values[decimal128.Num](args[0]), Values[decimal128.Num](args[1])
		sa, sb := Stride(args[0], n), Stride(args[1], n)
		return boolResult(ctx, args, n, func(out []byte) {
			if fast {
				pa, pb := getI64(len(a)), getI64(len(b))
				decAsI64(a, ka, *pa)
				decAsI64(b, kb, *pb)
				cmpShapes(op, *pa, sa, *pb, sb, n, out)
				i64Pool.Put(pa)
				i64Pool.Put(pb)
				return
			}
			for i := 0; i < n; i++ {
				out[i>>3] |= b2u(op.test(decCmpScaled(a[i*sa], ta.Scale, b[i*sb], tb.Scale))) << (i & 7)
			}
		}), nil
	}
}

func cmpString(op cmpOp) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		a, b := args[0].(*array.String), args[1].(*array.String)
		sa, sb := Stride(a, n), Stride(b, n)
		return boolResult(ctx, args, n, func(out []byte) {
			switch {
			case n == 0:
			case sa == 0 && sb == 0:
				if op.test(strings.Compare(a.Value(0), b.Value(0))) {
					setAll(out, n)
				}
			case sa == 0 || sb == 0:
				col, c, o := a, b.Value(0), op
				if sa == 0 {
					col, c, o = b, a.Value(0), op.flip()
				}
				switch o {
				case opEQ:
					for i := 0; i < n; i++ {
						out[i>>3] |= b2u(col.Value(i) == c) << (i & 7)
					}
				case opNE:
					for i := 0; i < n; i++ {
						out[i>>3] |= b2u(col.Value(i) != c) << (i & 7)
					}
				default:
					for i := 0; i < n; i++ {
						out[i>>3] |= b2u(o.test(strings.Compare(col.Value(i), c))) << (i & 7)
					}
				}
			default:
				for i := 0; i < n; i++ {
					out[i>>3] |= b2u(op.test(strings.Compare(a.Value(i), b.Value(i)))) << (i & 7)
				}
			}
		}), nil
	}
}

func cmpBool(op cmpOp) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		ab, ao := boolBits(args[0])
		bb, bo := boolBits(args[1])
		sa, sb := Stride(args[0], n), Stride(args[1], n)
		return boolResult(ctx, args, n, func(out []byte) {
			for i := 0; i < n; i++ {
				x := int(b2u(bitutil.BitIsSet(ab, ao+i*sa)))
				y := int(b2u(bitutil.BitIsSet(bb, bo+i*sb)))
				out[i>>3] |= b2u(op.test(x-y)) << (i & 7)
			}
		}), nil
	}
}

// ivSpan is an interval's length in PostgreSQL's comparison sense: a month
// counts 30 days and a day 24 hours (so '1 month' = '30 days').
func ivSpan(v arrow.MonthDayNanoInterval) decimal128.Num {
	const dayNs = 86400 * 1_000_000_000
	s := decimal128.FromI64(int64(v.Months)*30 + int64(v.Days)).Mul(decimal128.FromI64(dayNs))
	return s.Add(decimal128.FromI64(v.Nanoseconds))
}

func cmpInterval(op cmpOp) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		a := Values[arrow.MonthDayNanoInterval](args[0])
		b := Values[arrow.MonthDayNanoInterval](args[1])
		sa, sb := Stride(args[0], n), Stride(args[1], n)
		return boolResult(ctx, args, n, func(out []byte) {
			for i := 0; i < n; i++ {
				x, y := a[i*sa], b[i*sb]
				c := 0
				if x != y {
					c = ivSpan(x).Cmp(ivSpan(y))
				}
				out[i>>3] |= b2u(op.test(c)) << (i & 7)
			}
		}), nil
	}
}

// compareResolver resolves a comparison over two arguments of the same type.
func compareResolver(op cmpOp) Resolver {
	return func(in []Type) (Type, ExecFn, bool) {
		if len(in) != 2 || in[0].ID != in[1].ID {
			return Type{}, nil, false
		}
		var fn ExecFn
		switch in[0].ID {
		case Bool:
			fn = cmpBool(op)
		case Int16:
			fn = cmpFixed[int16](op)
		case Int32, Date:
			fn = cmpFixed[int32](op)
		case Int64, Timestamp:
			fn = cmpFixed[int64](op)
		case Float32:
			fn = cmpFloat[float32](op)
		case Float64:
			fn = cmpFloat[float64](op)
		case Decimal:
			fn = cmpDecimal(op, in[0], in[1])
		case String:
			fn = cmpString(op)
		case Interval:
			fn = cmpInterval(op)
		default:
			return Type{}, nil, false
		}
		return TBool, fn, true
	}
}
