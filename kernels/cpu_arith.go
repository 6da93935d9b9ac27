package kernels

import (
	"errors"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arithOp is a binary arithmetic operator.
type arithOp uint8

const (
	opAdd arithOp = iota
	opSub
	opMul
	opDiv
	opMod
)

var arithOps = map[string]arithOp{"add": opAdd, "sub": opSub, "mul": opMul, "div": opDiv, "mod": opMod}

var errFloatOverflow = errors.New("value out of range: overflow")

// finishChecked wraps a computed fixed-width result. When the loop flagged
// division by zero (zero) or overflow (ovf) it confirms the flag on a valid
// row (NULL rows hold garbage) and fails with the matching error.
func finishChecked(ctx *Context, t Type, buf *memory.Buffer, args []arrow.Array, n int,
	zero, ovf bool, isZero, isOvf func(i int) bool, ovfErr error) (arrow.Array, error) {
	validity, nulls := Validity(ctx.Alloc, args, n)
	if (zero && anyValid(validity, n, isZero)) || (ovf && anyValid(validity, n, isOvf)) {
		buf.Release()
		releaseBuf(validity)
		if zero && anyValid(validity, n, isZero) {
			return nil, errDivZero
		}
		return nil, ovfErr
	}
	return FinishFixed(t.Arrow(), n, buf, validity, nulls), nil
}

// arithSmall implements smallint/integer arithmetic by widening to int64
// and checking the result fits T.
func arithSmall[T int16 | int32](op arithOp, t Type) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		a, b := Values[T](args[0]), Values[T](args[1])
		sa, sb := Stride(args[0], n), Stride(args[1], n)
		buf, out := AllocFixed[T](ctx.Alloc, n)
		var ovf, zero byte
		switch op {
		case opAdd:
			for i := range out {
				r := int64(a[i*sa]) + int64(b[i*sb])
				out[i] = T(r)
				ovf |= b2u(int64(T(r)) != r)
			}
		case opSub:
			for i := range out {
				r := int64(a[i*sa]) - int64(b[i*sb])
				out[i] = T(r)
				ovf |= b2u(int64(T(r)) != r)
			}
		case opMul:
			for i := range out {
				r := int64(a[i*sa]) * int64(b[i*sb])
				out[i] = T(r)
				ovf |= b2u(int64(T(r)) != r)
			}
		case opDiv, opMod:
			for i := range out {
				x, y := int64(a[i*sa]), int64(b[i*sb])
				if y == 0 {
					zero = 1
					out[i] = 0
					continue
				}
				r := x / y
				if op == opMod {
					r = x % y
				}
				out[i] = T(r)
				ovf |= b2u(int64(T(r)) != r)
			}
		}
		isZero := func(i int) bool { return (op == opDiv || op == opMod) && b[i*sb] == 0 }
		isOvf := func(i int) bool {
			x, y := int64(a[i*sa]), int64(b[i*sb])
			var r int64
			switch op {
			case opAdd:
				r = x + y
			case opSub:
				r = x - y
			case opMul:
				r = x * y
			case opDiv:
				if y == 0 {
					return false
				}
				r = x / y
			default:
				return false
			}
			return int64(T(r)) != r
		}
		return finishChecked(ctx, t, buf, args, n, zero != 0, ovf != 0, isZero, isOvf, rangeErr(t.ID))
	}
}

// mul64 multiplies with overflow detection.
func mul64(x, y int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(x), uint64(y))
	hi -= uint64((x>>63)&y) + uint64((y>>63)&x)
	r := int64(lo)
	return r, int64(hi) != r>>63
}

func add64(x, y int64) (int64, bool) {
	r := x + y
	return r, (x^r)&(y^r) < 0
}

func sub64(x, y int64) (int64, bool) {
	r := x - y
	return r, (x^y)&(x^r) < 0
}

// arith64 implements bigint arithmetic with overflow detection.
func arith64(op arithOp) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		a, b := Values[int64](args[0]), Values[int64](args[1])
		sa, sb := Stride(args[0], n), Stride(args[1], n)
		buf, out := AllocFixed[int64](ctx.Alloc, n)
		var ovf, zero byte
		switch op {
		case opAdd:
			for i := range out {
				x, y := a[i*sa], b[i*sb]
				r := x + y
				out[i] = r
				ovf |= b2u((x^r)&(y^r) < 0)
			}
		case opSub:
			for i := range out {
				x, y := a[i*sa], b[i*sb]
				r := x - y
				out[i] = r
				ovf |= b2u((x^y)&(x^r) < 0)
			}
		case opMul:
			for i := range out {
				r, o := mul64(a[i*sa], b[i*sb])
				out[i] = r
				ovf |= b2u(o)
			}
		case opDiv:
			for i := range out {
				x, y := a[i*sa], b[i*sb]
				if y == 0 {
					zero = 1
					out[i] = 0
					continue
				}
				out[i] = x / y
				ovf |= b2u(x == math.MinInt64 && y == -1)
			}
		case opMod:
			for i := range out {
				x, y := a[i*sa], b[i*sb]
				if y == 0 {
					zero = 1
					out[i] = 0
					continue
				}
				out[i] = x % y
			}
		}
		isZero := func(i int) bool { return (op == opDiv || op == opMod) && b[i*sb] == 0 }
		isOvf := func(i int) bool {
			x, y := a[i*sa], b[i*sb]
			var o bool
			switch op {
			case opAdd:
				_, o = add64(x, y)
			case opSub:
				_, o = sub64(x, y)
			case opMul:
				_, o = mul64(x, y)
			case opDiv:
				o = x == math.MinInt64 && y == -1
			}
			return o
		}
		return finishChecked(ctx, TInt64, buf, args, n, zero != 0, ovf != 0, isZero, isOvf, rangeErr(Int64))
	}
}

// arithFloat implements IEEE arithmetic with PostgreSQL's errors: division by
// zero, and overflow of finite operands to infinity.
func arithFloat[T float32 | float64](op arithOp, t Type) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		a, b := Values[T](args[0]), Values[T](args[1])
		sa, sb := Stride(args[0], n), Stride(args[1], n)
		buf, out := AllocFixed[T](ctx.Alloc, n)
		var ovf, zero byte
		switch op {
		case opAdd:
			for i := range out {
				out[i] = a[i*sa] + b[i*sb]
			}
		case opSub:
			for i := range out {
				out[i] = a[i*sa] - b[i*sb]
			}
		case opMul:
			for i := range out {
				out[i] = a[i*sa] * b[i*sb]
			}
		case opDiv:
			for i := range out {
				x, y := a[i*sa], b[i*sb]
				zero |= b2u(y == 0 && x == x)
				out[i] = x / y
			}
		case opMod:
			for i := range out {
				x, y := a[i*sa], b[i*sb]
				zero |= b2u(y == 0 && x == x)
				out[i] = T(math.Mod(float64(x), float64(y)))
			}
		}
		isOvf := func(i int) bool {
			x, y, r := a[i*sa], b[i*sb], out[i]
			return r-r != 0 && x-x == 0 && y-y == 0 && r == r
		}
		for i := range out {
			ovf |= b2u(isOvf(i))
		}
		isZero := func(i int) bool {
			x := a[i*sa]
			return (op == opDiv || op == opMod) && b[i*sb] == 0 && x == x
		}
		return finishChecked(ctx, t, buf, args, n, zero != 0, ovf != 0, isZero, isOvf, errFloatOverflow)
	}
}

// decimalArithType is the result type of decimal arithmetic.
func decimalArithType(op arithOp, a, b Type) Type {
	s := max(a.Scale, b.Scale)
	switch op {
	case opAdd, opSub:
		return DecimalType(max(a.Precision-a.Scale, b.Precision-b.Scale)+s+1, s)
	case opMul:
		return DecimalType(a.Precision+b.Precision, min(a.Scale+b.Scale, MaxDecimalPrecision))
	case opDiv:
		return TFloat64
	}
	return DecimalType(min(a.Precision-a.Scale, b.Precision-b.Scale)+s, s)
}

// arithDecimal implements decimal arithmetic. add/sub/mod align scales;
// mul adds scales; div returns double precision (a deliberate choice shared
// with DuckDB). Results past 38 digits fail with "numeric field overflow".
func arithDecimal(op arithOp, ta, tb Type) (Type, ExecFn) {
	ret := decimalArithType(op, ta, tb)
	if op == opDiv {
		return ret, func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
			a, b := Values[decimal128.Num](args[0]), Values[decimal128.Num](args[1])
			sa, sb := Stride(args[0], n), Stride(args[1], n)
			buf, out := AllocFixed[float64](ctx.Alloc, n)
			var zero byte
			for i := range out {
				y := b[i*sb]
				zero |= b2u(y == decimal128.Num{})
				out[i] = decToFloat(a[i*sa], ta.Scale) / decToFloat(y, tb.Scale)
			}
			isZero := func(i int) bool { return b[i*sb] == decimal128.Num{} }
			return finishChecked(ctx, ret, buf, args, n, zero != 0, false, isZero, nil, nil)
		}
	}
	s := ret.Scale
	ka, kb := s-ta.Scale, s-tb.Scale
	drop := int32(0) // mul: digits of scale beyond 38 to round away
	if op == opMul {
		ka, kb = 0, 0
		drop = ta.Scale + tb.Scale - ret.Scale
	}
	// With a result of at most 18 digits every aligned input and result fits
	// an int64 (mod's aligned inputs may not, so it takes the checked path).
	fast := ret.Precision <= 18 && op != opMod && drop == 0
	ma, mb := int64(1), int64(1)
	if ka <= 18 {
		ma = pow10i[ka]
	}
	if kb <= 18 {
		mb = pow10i[kb]
	}
	small := ka <= 18 && kb <= 18
	// one computes a row; ok is false on overflow, zero on division by zero.
	one := func(x, y decimal128.Num) (r decimal128.Num, ok, zero bool) {
		if op == opMod && y == (decimal128.Num{}) {
			return r, true, true
		}
		if small && fits64(x) && fits64(y) {
			xv, yv := int64(x.LowBits()), int64(y.LowBits())
			xs, o1 := mul64(xv, ma)
			ys, o2 := mul64(yv, mb)
			if !o1 && !o2 {
				var v int64
				var o3 bool
				switch op {
				case opAdd:
					v, o3 = add64(xs, ys)
				case opSub:
					v, o3 = sub64(xs, ys)
				case opMul:
					v, o3 = mul64(xs, ys)
				case opMod:
					v = xs % ys
				}
				if !o3 && drop == 0 {
					return decimal128.FromI64(v), true, false
				}
			}
		}
		xa, ok1 := decScaleUp(x, ka)
		yb, ok2 := decScaleUp(y, kb)
		if !ok1 || !ok2 {
			return r, false, false
		}
		switch op {
		case opAdd:
			r, ok = decAdd(xa, yb)
		case opSub:
			r, ok = decAdd(xa, yb.Negate())
		case opMul:
			r, ok = decMul(xa, yb)
			if ok && drop > 0 {
				r = decScaleDown(r, drop)
			}
		case opMod:
			r, ok = decRem(xa, yb), true
		}
		return r, ok, false
	}
	return ret, func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		a, b := Values[decimal128.Num](args[0]), Values[decimal128.Num](args[1])
		sa, sb := Stride(args[0], n), Stride(args[1], n)
		buf, out := decOut(ctx.Alloc, n)
		var ovf, zero byte
		// The unchecked loop serves results of at most 18 digits, and any
		// batch whose largest values leave a 63-bit result.
		if fast || (op != opMod && small && drop == 0 && decBatchFits(a, sa, ma, b, sb, mb, op == opMul, n)) {
			decUnchecked(op, out, a, sa, ma, b, sb, mb)
		} else {
			for i := range out {
				r, ok, z := one(a[i*sa], b[i*sb])
				out[i] = r
				ovf |= b2u(!ok)
				zero |= b2u(z)
			}
		}
		isZero := func(i int) bool { _, _, z := one(a[i*sa], b[i*sb]); return z }
		isOvf := func(i int) bool { _, ok, _ := one(a[i*sa], b[i*sb]); return !ok }
		return finishChecked(ctx, ret, buf, args, n, zero != 0, ovf != 0, isZero, isOvf, errNumOverflow)
	}
}

// decUnchecked computes add, sub or mul of the int64 values of a and b
// (aligned by ma and mb) without overflow checks.
func decUnchecked(op arithOp, out, a []decimal128.Num, sa int, ma int64, b []decimal128.Num, sb int, mb int64) {
	switch op {
	case opAdd:
		for i := range out {
			out[i] = decimal128.FromI64(int64(a[i*sa].LowBits())*ma + int64(b[i*sb].LowBits())*mb)
		}
	case opSub:
		for i := range out {
			out[i] = decimal128.FromI64(int64(a[i*sa].LowBits())*ma - int64(b[i*sb].LowBits())*mb)
		}
	case opMul:
		for i := range out {
			out[i] = decimal128.FromI64(int64(a[i*sa].LowBits()) * ma * int64(b[i*sb].LowBits()) * mb)
		}
	}
}

// decBatchFits reports whether every a[i*sa]*ma and b[i*sb]*mb fits in 64
// bits and their sum (or, with mul, product) cannot overflow 62 bits, so
// a batch can be computed without per-row checks. Values in NULL slots
// count too (they are usually zero).
func decBatchFits(a []decimal128.Num, sa int, ma int64, b []decimal128.Num, sb int, mb int64, mul bool, n int) bool {
	maxAbs := func(v []decimal128.Num, stride int) (uint64, bool) {
		var m uint64
		cnt := n
		if stride == 0 {
			cnt = 1
		}
		for i := 0; i < cnt; i++ {
			x := v[i*stride]
			lo, hi := x.LowBits(), x.HighBits()
			if hi != int64(lo)>>63 {
				return 0, false // needs more than 64 bits
			}
			abs := lo
			if hi < 0 {
				abs = -lo
			}
			m |= abs
		}
		return m, true
	}
	ax, ok1 := maxAbs(a, sa)
	bx, ok2 := maxAbs(b, sb)
	if !ok1 || !ok2 {
		return false
	}
	la := bits.Len64(ax) + bits.Len64(uint64(ma))
	lb := bits.Len64(bx) + bits.Len64(uint64(mb))
	if mul {
		return la+lb <= 62
	}
	return max(la, lb) <= 61
}

// unaryFixed maps a fixed-width column through f; f reports failure with a
// non-nil error, confirmed on a valid row before it is returned.
func unaryFixed[A, R arrow.FixedWidthType](ret Type, f func(A) (R, error)) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		return mapFixed1(ctx, args, n, ret, f)
	}
}

func mapFixed1[A, R arrow.FixedWidthType](ctx *Context, args []arrow.Array, n int, ret Type, f func(A) (R, error)) (arrow.Array, error) {
	a := Values[A](args[0])
	sa := Stride(args[0], n)
	buf, out := allocT[R](ctx.Alloc, n)
	var first error
	for i := range out {
		r, err := f(a[i*sa])
		out[i] = r
		if err != nil && first == nil {
			first = err
		}
	}
	validity, nulls := Validity(ctx.Alloc, args, n)
	if first != nil {
		for i := 0; i < n; i++ {
			if !validAt(validity, i) {
				continue
			}
			if _, err := f(a[i*sa]); err != nil {
				buf.Release()
				releaseBuf(validity)
				return nil, err
			}
		}
	}
	return FinishFixed(ret.Arrow(), n, buf, validity, nulls), nil
}

// mapFixed2 maps two fixed-width columns through f, like mapFixed1.
func mapFixed2[A, B, R arrow.FixedWidthType](ctx *Context, args []arrow.Array, n int, ret Type, f func(A, B) (R, error)) (arrow.Array, error) {
	a, b := Values[A](args[0]), Values[B](args[1])
	sa, sb := Stride(args[0], n), Stride(args[1], n)
	buf, out := allocT[R](ctx.Alloc, n)
	var first error
	for i := range out {
		r, err := f(a[i*sa], b[i*sb])
		out[i] = r
		if err != nil && first == nil {
			first = err
		}
	}
	validity, nulls := Validity(ctx.Alloc, args, n)
	if first != nil {
		for i := 0; i < n; i++ {
			if !validAt(validity, i) {
				continue
			}
			if _, err := f(a[i*sa], b[i*sb]); err != nil {
				buf.Release()
				releaseBuf(validity)
				return nil, err
			}
		}
	}
	return FinishFixed(ret.Arrow(), n, buf, validity, nulls), nil
}

func binFixed[A, B, R arrow.FixedWidthType](ret Type, f func(A, B) (R, error)) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		return mapFixed2(ctx, args, n, ret, f)
	}
}

// negInt negates an integer type, failing on its minimum value.
func negInt[T int16 | int32 | int64](t Type, abs bool) ExecFn {
	return unaryFixed(t, func(x T) (T, error) {
		if abs && x >= 0 {
			return x, nil
		}
		if x != 0 && x == -x {
			return x, rangeErr(t.ID)
		}
		return -x, nil
	})
}

func negFloat[T float32 | float64](t Type, abs bool) ExecFn {
	return unaryFixed(t, func(x T) (T, error) {
		if abs {
			return T(math.Abs(float64(x))), nil
		}
		return -x, nil
	})
}

func negDecimal(t Type, abs bool) ExecFn {
	return unaryFixed(t, func(x decimal128.Num) (decimal128.Num, error) {
		if abs {
			return x.Abs(), nil
		}
		return x.Negate(), nil
	})
}

func negInterval(x arrow.MonthDayNanoInterval) (arrow.MonthDayNanoInterval, error) {
	if x.Months == math.MinInt32 || x.Days == math.MinInt32 || x.Nanoseconds == math.MinInt64 {
		return x, errIvRange
	}
	return arrow.MonthDayNanoInterval{Months: -x.Months, Days: -x.Days, Nanoseconds: -x.Nanoseconds}, nil
}

// unaryNumResolver resolves neg or abs over one numeric (or interval for
// neg) argument; the result has the argument's type.
func unaryNumResolver(abs bool) Resolver {
	return func(in []Type) (Type, ExecFn, bool) {
		if len(in) != 1 {
			return Type{}, nil, false
		}
		t := in[0]
		switch t.ID {
		case Int16:
			return t, negInt[int16](t, abs), true
		case Int32:
			return t, negInt[int32](t, abs), true
		case Int64:
			return t, negInt[int64](t, abs), true
		case Float32:
			return t, negFloat[float32](t, abs), true
		case Float64:
			return t, negFloat[float64](t, abs), true
		case Decimal:
			return t, negDecimal(t, abs), true
		case Interval:
			if !abs {
				return t, unaryFixed(t, negInterval), true
			}
		}
		return Type{}, nil, false
	}
}

// arithResolver resolves add/sub/mul/div/mod: same-type numeric operands,
// plus the date/time signatures of dateArith.
func arithResolver(op arithOp) Resolver {
	return func(in []Type) (Type, ExecFn, bool) {
		if len(in) != 2 {
			return Type{}, nil, false
		}
		a, b := in[0], in[1]
		if a.ID == b.ID {
			switch a.ID {
			case Int16:
				return a, arithSmall[int16](op, a), true
			case Int32:
				return a, arithSmall[int32](op, a), true
			case Int64:
				return a, arith64(op), true
			case Float32:
				return a, arithFloat[float32](op, a), true
			case Float64:
				return a, arithFloat[float64](op, a), true
			case Decimal:
				ret, fn := arithDecimal(op, a, b)
				return ret, fn, true
			}
		}
		return dateArith(op, a, b)
	}
}
