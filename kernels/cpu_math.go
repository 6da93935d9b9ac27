package kernels

import (
	"errors"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// asFloat64 wraps fn so that its numeric arguments (integers, real,
// decimals) arrive as double precision.
func asFloat64(in []Type, fn ExecFn) ExecFn {
	need := false
	for _, t := range in {
		if t.ID != Float64 {
			need = true
		}
	}
	if !need {
		return fn
	}
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		conv := make([]arrow.Array, len(args))
		for i, a := range args {
			if in[i].ID == Float64 {
				conv[i] = a
				continue
			}
			c, err := Cast(ctx, a, in[i], TFloat64)
			if err != nil {
				return nil, err
			}
			defer c.Release()
			conv[i] = c
		}
		return fn(ctx, conv, n)
	}
}

func allNumeric(in []Type) bool {
	for _, t := range in {
		if !t.IsNumeric() {
			return false
		}
	}
	return true
}

// floatFn resolves a double precision function of one argument; any
// numeric argument is converted to double precision first.
func floatFn(f func(float64) (float64, error)) Resolver {
	fn := unaryFixed(TFloat64, f)
	return func(in []Type) (Type, ExecFn, bool) {
		if len(in) != 1 || !allNumeric(in) {
			return Type{}, nil, false
		}
		return TFloat64, asFloat64(in, fn), true
	}
}

var (
	errSqrtNeg = errors.New("cannot take square root of a negative number")
	errLogZero = errors.New("cannot take logarithm of zero")
	errLogNeg  = errors.New("cannot take logarithm of a negative number")
)

func checkFloat(r, x float64) (float64, error) {
	if math.IsInf(r, 0) && !math.IsInf(x, 0) {
		return r, errFloatOverflow
	}
	return r, nil
}

func fSqrt(x float64) (float64, error) {
	if x < 0 {
		return 0, errSqrtNeg
	}
	return math.Sqrt(x), nil
}

func logFn(f func(float64) float64) func(float64) (float64, error) {
	return func(x float64) (float64, error) {
		switch {
		case x == 0:
			return 0, errLogZero
		case x < 0:
			return 0, errLogNeg
		}
		return f(x), nil
	}
}

func fExp(x float64) (float64, error) {
	r := math.Exp(x)
	if r == 0 && !math.IsInf(x, -1) {
		return r, errFloatUnderflow
	}
	return checkFloat(r, x)
}

func fPow(x, y float64) (float64, error) {
	if x == 0 && y < 0 {
		return 0, errors.New("zero raised to a negative power is undefined")
	}
	if x < 0 && y != math.Trunc(y) && !math.IsInf(y, 0) {
		return 0, errors.New("a negative number raised to a non-integer power yields a complex result")
	}
	r := math.Pow(x, y)
	if math.IsInf(r, 0) && !math.IsInf(x, 0) && !math.IsInf(y, 0) {
		return r, errFloatOverflow
	}
	return r, nil
}

func powResolver(in []Type) (Type, ExecFn, bool) {
	if len(in) != 2 || !allNumeric(in) {
		return Type{}, nil, false
	}
	return TFloat64, asFloat64(in, binFixed(TFloat64, fPow)), true
}

// roundFloat rounds half away from zero to d decimal digits (d may be
// negative).
func roundFloat(x float64, d int64, trunc bool) float64 {
	r := math.Round
	if trunc {
		r = math.Trunc
	}
	switch {
	case d == 0:
		return r(x)
	case d > 300 || math.IsInf(x, 0) || math.IsNaN(x):
		return x
	case d < -300:
		return math.Copysign(0, x)
	case d > 0:
		p := math.Pow10(int(d))
		y := x * p
		if math.IsInf(y, 0) {
			return x
		}
		return r(y) / p
	}
	p := math.Pow10(int(-d))
	return r(x/p) * p
}

// roundMode selects round, trunc, floor or ceil.
type roundMode uint8

const (
	rmRound roundMode = iota
	rmTrunc
	rmFloor
	rmCeil
)

// decRoundK divides x by 10^k (k >= 0) rounding per mode.
func decRoundK(x decimal128.Num, k int64, mode roundMode) decimal128.Num {
	if k == 0 || x.Sign() == 0 {
		return x
	}
	if k > 38 {
		// |x| < 10^38 <= 10^k: the quotient is 0 (floor/ceil move away from it)
		switch {
		case mode == rmFloor && x.Sign() < 0:
			return decimal128.FromI64(-1)
		case mode == rmCeil && x.Sign() > 0:
			return decimal128.FromI64(1)
		}
		return decimal128.Num{}
	}
	if mode == rmRound {
		return decScaleDown(x, int32(k))
	}
	q := decTrunc(x, int32(k))
	if back, _ := decScaleUp(q, int32(k)); back != x {
		if mode == rmFloor && x.Sign() < 0 {
			q = q.Sub(decimal128.FromI64(1))
		} else if mode == rmCeil && x.Sign() > 0 {
			q = q.Add(decimal128.FromI64(1))
		}
	}
	return q
}

// decRound rounds x (scale s) to d digits after the point, keeping scale s.
func decRound(x decimal128.Num, s int32, d int64, mode roundMode) (decimal128.Num, error) {
	if d >= int64(s) {
		return x, nil
	}
	k := int64(s) - d // digits to clear
	q := decRoundK(x, k, mode)
	if k > 38 {
		if q.Sign() == 0 {
			return q, nil
		}
		return q, errNumOverflow
	}
	r, ok := decScaleUp(q, int32(k))
	if !ok {
		return r, errNumOverflow
	}
	return r, nil
}

// roundResolver resolves round/trunc/floor/ceil. Integers are returned
// unchanged, real and double give double, decimals give a decimal: scale 0
// with one argument; with a digits argument the input scale is kept (values
// rounded, trailing zeros) and precision grows by one for the carry.
func roundResolver(mode roundMode) Resolver {
	return func(in []Type) (Type, ExecFn, bool) {
		if len(in) == 0 || len(in) > 2 || !in[0].IsNumeric() {
			return Type{}, nil, false
		}
		t := in[0]
		if len(in) == 2 {
			if mode == rmFloor || mode == rmCeil || !in[1].IsInteger() {
				return Type{}, nil, false
			}
			trunc := mode == rmTrunc
			switch {
			case t.IsInteger():
				return t, identity, true
			case t.IsFloat():
				fn := func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
					x, d := Values[float64](args[0]), newIntCol(args[1], n)
					sx := Stride(args[0], n)
					validity, nulls := Validity(ctx.Alloc, args, n)
					buf, out := AllocFixed[float64](ctx.Alloc, n)
					for i := range out {
						out[i] = roundFloat(x[i*sx], d.at(i), trunc)
					}
					return FinishFixed(arrow.PrimitiveTypes.Float64, n, buf, validity, nulls), nil
				}
				return TFloat64, asFloat64Arg0(t, fn), true
			}
			ret := DecimalType(t.Precision+1, t.Scale)
			return ret, func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
				x, d := Values[decimal128.Num](args[0]), newIntCol(args[1], n)
				sx := Stride(args[0], n)
				validity, nulls := Validity(ctx.Alloc, args, n)
				buf, out := decOut(ctx.Alloc, n)
				for i := range out {
					out[i] = decimal128.Num{}
					if !validAt(validity, i) {
						continue
					}
					r, err := decRound(x[i*sx], t.Scale, d.at(i), mode)
					if err == nil && !decFitsPrec(r, ret.Precision) {
						err = errNumOverflow
					}
					if err != nil {
						buf.Release()
						releaseBuf(validity)
						return nil, err
					}
					out[i] = r
				}
				return FinishFixed(ret.Arrow(), n, buf, validity, nulls), nil
			}, true
		}
		switch {
		case t.IsInteger():
			return t, identity, true
		case t.IsFloat():
			var f func(float64) float64
			switch mode {
			case rmRound:
				f = math.Round
			case rmTrunc:
				f = math.Trunc
			case rmFloor:
				f = math.Floor
			default:
				f = math.Ceil
			}
			fn := unaryFixed(TFloat64, func(x float64) (float64, error) { return f(x), nil })
			return TFloat64, asFloat64Arg0(t, fn), true
		}
		var ret Type
		switch mode {
		case rmRound:
			ret = DecimalType(t.Precision, 0)
		case rmTrunc:
			ret = DecimalType(max(t.Precision-t.Scale, 1), 0)
		default:
			ret = DecimalType(t.Precision-t.Scale+1, 0)
		}
		if t.Scale == 0 {
			return t, identity, true
		}
		s := t.Scale
		return ret, unaryFixed(ret, func(x decimal128.Num) (decimal128.Num, error) {
			return decRoundK(x, int64(s), mode), nil
		}), true
	}
}

// asFloat64Arg0 converts only the first argument to double precision.
func asFloat64Arg0(t Type, fn ExecFn) ExecFn {
	if t.ID == Float64 {
		return fn
	}
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		c, err := Cast(ctx, args[0], t, TFloat64)
		if err != nil {
			return nil, err
		}
		defer c.Release()
		conv := append([]arrow.Array{c}, args[1:]...)
		return fn(ctx, conv, n)
	}
}

func identity(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	a := args[0]
	if a.Len() == n {
		a.Retain()
		return a, nil
	}
	// a broadcast constant: materialize n rows
	t, err := FromArrow(a.DataType())
	if err != nil {
		return nil, err
	}
	if t.ID == Decimal {
		dt := a.DataType().(*arrow.Decimal128Type)
		t = Type{ID: Decimal, Precision: dt.Precision, Scale: dt.Scale}
	}
	return MakeConstN(ctx.Alloc, t, ValueAt(a, t, 0), n), nil
}

func signResolver(in []Type) (Type, ExecFn, bool) {
	if len(in) != 1 || !in[0].IsNumeric() {
		return Type{}, nil, false
	}
	t := in[0]
	switch t.ID {
	case Int16:
		return t, unaryFixed(t, func(x int16) (int16, error) { return int16(cmpOrd(x, 0)), nil }), true
	case Int32:
		return t, unaryFixed(t, func(x int32) (int32, error) { return int32(cmpOrd(x, 0)), nil }), true
	case Int64:
		return t, unaryFixed(t, func(x int64) (int64, error) { return int64(cmpOrd(x, 0)), nil }), true
	case Decimal:
		ret := DecimalType(1, 0)
		return ret, unaryFixed(ret, func(x decimal128.Num) (decimal128.Num, error) {
			return decimal128.FromI64(int64(x.Sign())), nil
		}), true
	}
	fn := unaryFixed(TFloat64, func(x float64) (float64, error) {
		if x != x {
			return x, nil
		}
		return float64(cmpOrd(x, 0)), nil
	})
	return TFloat64, asFloat64(in, fn), true
}

// extremeResolver resolves greatest/least over one or more arguments of the
// same type family (decimals are brought to a common scale). NULL arguments
// are ignored; the result is NULL only when all are NULL.
func extremeResolver(greatest bool) Resolver {
	return func(in []Type) (Type, ExecFn, bool) {
		if len(in) == 0 {
			return Type{}, nil, false
		}
		ret := in[0]
		for _, t := range in[1:] {
			if t.ID != ret.ID {
				return Type{}, nil, false
			}
			if t.ID == Decimal {
				ret = mergeDecimal(ret, t)
			}
		}
		var fn ExecFn
		switch ret.ID {
		case Int16:
			fn = extremeFixed(ret, greatest, cmpOrd[int16])
		case Int32, Date:
			fn = extremeFixed(ret, greatest, cmpOrd[int32])
		case Int64, Timestamp:
			fn = extremeFixed(ret, greatest, cmpOrd[int64])
		case Float32:
			fn = extremeFixed(ret, greatest, cmpFloatNaN[float32])
		case Float64:
			fn = extremeFixed(ret, greatest, cmpFloatNaN[float64])
		case Decimal:
			inner := extremeFixed(ret, greatest, func(a, b decimal128.Num) int { return a.Cmp(b) })
			fn = func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
				conv := make([]arrow.Array, len(args))
				for i, a := range args {
					c, err := Cast(ctx, a, in[i], ret)
					if err != nil {
						releaseAll(conv[:i])
						return nil, err
					}
					conv[i] = c
				}
				defer releaseAll(conv)
				return inner(ctx, conv, n)
			}
		case String:
			fn = extremeString(greatest)
		default:
			return Type{}, nil, false
		}
		return ret, fn, true
	}
}

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		if a != nil {
			a.Release()
		}
	}
}

func extremeFixed[T arrow.FixedWidthType](ret Type, greatest bool, cmp func(a, b T) int) ExecFn {
	want := -1
	if greatest {
		want = 1
	}
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		buf, out := allocT[T](ctx.Alloc, n)
		valid := AllocBits(ctx.Alloc, n)
		vb := valid.Bytes()
		vals := make([][]T, len(args))
		for k, a := range args {
			vals[k] = Values[T](a)
		}
		nulls := 0
		var zero T
		for i := range out {
			have := false
			var best T
			for k, a := range args {
				if IsNullAt(a, i) {
					continue
				}
				v := vals[k][i*Stride(a, n)]
				if !have || cmp(v, best) == want {
					best, have = v, true
				}
			}
			if have {
				out[i] = best
				bitutil.SetBit(vb, i)
			} else {
				out[i] = zero
				nulls++
			}
		}
		return FinishFixed(ret.Arrow(), n, buf, nullsOrNil(valid, nulls), nulls), nil
	}
}

func nullsOrNil(valid *memory.Buffer, nulls int) *memory.Buffer {
	if nulls == 0 {
		valid.Release()
		return nil
	}
	return valid
}

func extremeString(greatest bool) ExecFn {
	want := -1
	if greatest {
		want = 1
	}
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		valid := AllocBits(ctx.Alloc, n)
		vb := valid.Bytes()
		out := newStrOut(ctx.Alloc, n, 0)
		nulls := 0
		for i := 0; i < n; i++ {
			have := false
			var best string
			for _, a := range args {
				if IsNullAt(a, i) {
					continue
				}
				v := stringAt(a.(*array.String), i)
				if !have || strings.Compare(v, best) == want {
					best, have = v, true
				}
			}
			out.add(best)
			if have {
				bitutil.SetBit(vb, i)
			} else {
				nulls++
			}
		}
		return out.finish(nullsOrNil(valid, nulls), nulls)
	}
}
