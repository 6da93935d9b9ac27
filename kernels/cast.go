package kernels

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Cast converts arr (SQL type from; any Arrow layout Normalize accepts) to type to with
// PostgreSQL semantics and errors; NULLs stay NULL. The result is the caller's; arr is not retained.
func Cast(ctx *Context, arr arrow.Array, from, to Type) (arrow.Array, error) {
	if from.ID != Null && arr.DataType().ID() != arrow.NULL && !arrow.TypeEqual(arr.DataType(), from.Arrow()) {
		norm, got, err := Normalize(ctx, arr)
		if err != nil {
			return nil, err
		}
		defer norm.Release()
		arr = norm
		if got != from {
			// e.g. a decimal column whose declared type differs from its data
			if got.ID == from.ID && from.ID == Decimal {
				r, err := castDecimal(ctx, arr, got, from)
				if err != nil {
					return nil, err
				}
				defer r.Release()
				arr = r
			} else {
				from = got
			}
		}
	}
	n := arr.Len()
	if from.ID == Null || arr.DataType().ID() == arrow.NULL {
		return array.MakeArrayOfNull(ctx.Alloc, to.Arrow(), n), nil
	}
	if from == to {
		arr.Retain()
		return arr, nil
	}
	if to.ID == Null {
		return array.MakeArrayOfNull(ctx.Alloc, arrow.Null, n), nil
	}
	switch to.ID {
	case String:
		return castToString(ctx, arr, from)
	case Bool:
		return castToBool(ctx, arr, from, to)
	}
	if from.ID == String {
		return castFromString(ctx, arr.(*array.String), to)
	}
	switch to.ID {
	case Int16:
		return castToInt[int16](ctx, arr, from, to)
	case Int32:
		return castToInt[int32](ctx, arr, from, to)
	case Int64:
		return castToInt[int64](ctx, arr, from, to)
	case Float32:
		return castToFloat[float32](ctx, arr, from, to)
	case Float64:
		return castToFloat[float64](ctx, arr, from, to)
	case Decimal:
		return castToDecimal(ctx, arr, from, to)
	case Date:
		if from.ID == Timestamp {
			return castMap(ctx, arr, to, func(us int64) (int32, error) { return int32(floorDiv(us, usPerDay)), nil })
		}
	case Timestamp:
		if from.ID == Date {
			return castMap(ctx, arr, to, func(d int32) (int64, error) {
				r, o := mul64(int64(d), usPerDay)
				if o || r < minTSus {
					return 0, errTSRange
				}
				return r, nil
			})
		}
	}
	return nil, cannotCast(from, to)
}

func cannotCast(from, to Type) error {
	return fmt.Errorf("cannot cast type %s to %s", from, to)
}

// CastValue converts one value of type from to type to, with Cast's rules.
func CastValue(v Value, from, to Type) (Value, error) {
	if v.Null {
		return NullValue, nil
	}
	if from == to {
		return v, nil
	}
	mem := memory.DefaultAllocator
	if from.ID == Null {
		return NullValue, nil
	}
	in := MakeConst(mem, from, v)
	defer in.Release()
	out, err := Cast(&Context{Alloc: mem}, in, from, to)
	if err != nil {
		return Value{}, err
	}
	defer out.Release()
	return ValueAt(out, to, 0), nil
}

// castMap converts element by element through f (see mapFixed1).
func castMap[A, R arrow.FixedWidthType](ctx *Context, arr arrow.Array, to Type, f func(A) (R, error)) (arrow.Array, error) {
	return mapFixed1(ctx, []arrow.Array{arr}, arr.Len(), to, f)
}

// castLoop runs a typed conversion loop that reports possible failures;
// a failure is confirmed on a valid row with bad before err is returned.
func castLoop[A, R arrow.FixedWidthType](ctx *Context, arr arrow.Array, to Type, loop func(a []A, out []R) bool, bad func(A) bool, err error) (arrow.Array, error) {
	n := arr.Len()
	a := Values[A](arr)
	buf, out := allocT[R](ctx.Alloc, n)
	failed := loop(a, out)
	validity, nulls := Validity(ctx.Alloc, []arrow.Array{arr}, n)
	if failed && anyValid(validity, n, func(i int) bool { return bad(a[i]) }) {
		buf.Release()
		releaseBuf(validity)
		return nil, err
	}
	return FinishFixed(to.Arrow(), n, buf, validity, nulls), nil
}

type number interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~float32 | ~float64
}

func convert[A, R number](a []A, out []R) bool {
	for i, x := range a {
		out[i] = R(x)
	}
	return false
}

// narrow converts integers, flagging values that do not survive the trip.
func narrow[A, R int16 | int32 | int64](a []A, out []R) bool {
	var bad byte
	for i, x := range a {
		r := R(x)
		out[i] = r
		bad |= b2u(A(r) != x)
	}
	return bad != 0
}

// intBounds is the half-open float range [lo, hi) of an integer type.
func intBounds(t TypeID) (lo, hi float64) {
	switch t {
	case Int16:
		return math.MinInt16, -math.MinInt16
	case Int32:
		return math.MinInt32, -math.MinInt32
	}
	return math.MinInt64, -math.MinInt64
}

// floatToInt rounds half to even (rint) and flags out-of-range values.
func floatToInt[A float32 | float64, R int16 | int32 | int64](lo, hi float64) func(a []A, out []R) bool {
	return func(a []A, out []R) bool {
		var bad byte
		for i, x := range a {
			r := math.RoundToEven(float64(x))
			ok := r >= lo && r < hi
			if !ok {
				r = 0
			}
			out[i] = R(r)
			bad |= b2u(!ok)
		}
		return bad != 0
	}
}

func castToInt[R int16 | int32 | int64](ctx *Context, arr arrow.Array, from, to Type) (arrow.Array, error) {
	rerr := rangeErr(to.ID)
	lo, hi := intBounds(to.ID)
	switch from.ID {
	case Int16:
		return castLoop(ctx, arr, to, narrow[int16, R], func(x int16) bool { return int16(R(x)) != x }, rerr)
	case Int32:
		return castLoop(ctx, arr, to, narrow[int32, R], func(x int32) bool { return int32(R(x)) != x }, rerr)
	case Int64:
		return castLoop(ctx, arr, to, narrow[int64, R], func(x int64) bool { return int64(R(x)) != x }, rerr)
	case Float32:
		return castLoop(ctx, arr, to, floatToInt[float32, R](lo, hi), func(x float32) bool {
			r := math.RoundToEven(float64(x))
			return !(r >= lo && r < hi)
		}, rerr)
	case Float64:
		return castLoop(ctx, arr, to, floatToInt[float64, R](lo, hi), func(x float64) bool {
			r := math.RoundToEven(x)
			return !(r >= lo && r < hi)
		}, rerr)
	case Decimal:
		s := from.Scale
		return castMap(ctx, arr, to, func(x decimal128.Num) (R, error) {
			r := decScaleDown(x, s)
			if !fits64(r) || int64(R(int64(r.LowBits()))) != int64(r.LowBits()) {
				return 0, rerr
			}
			return R(int64(r.LowBits())), nil
		})
	case Bool:
		return castFromBool(ctx, arr, to, func(b bool) R { return R(b2u(b)) })
	}
	return nil, cannotCast(from, to)
}

func castToFloat[R float32 | float64](ctx *Context, arr arrow.Array, from, to Type) (arrow.Array, error) {
	switch from.ID {
	case Int16:
		return castLoop(ctx, arr, to, convert[int16, R], nil, nil)
	case Int32:
		return castLoop(ctx, arr, to, convert[int32, R], nil, nil)
	case Int64:
		return castLoop(ctx, arr, to, convert[int64, R], nil, nil)
	case Float32:
		return castLoop(ctx, arr, to, convert[float32, R], nil, nil)
	case Float64:
		// double -> real: PostgreSQL rejects overflow and underflow
		return castMap(ctx, arr, to, func(x float64) (R, error) {
			r := R(x)
			if float64(r)-float64(r) != 0 && x-x == 0 {
				return r, errFloatOverflow
			}
			if r == 0 && x != 0 {
				return r, errFloatUnderflow
			}
			return r, nil
		})
	case Decimal:
		s := from.Scale
		return castMap(ctx, arr, to, func(x decimal128.Num) (R, error) { return R(decToFloat(x, s)), nil })
	case Bool:
		return castFromBool(ctx, arr, to, func(b bool) R { return R(b2u(b)) })
	}
	return nil, cannotCast(from, to)
}

var errFloatUnderflow = errors.New("value out of range: underflow")

// castFromBool maps a boolean column to 0/1 values.
func castFromBool[R arrow.FixedWidthType](ctx *Context, arr arrow.Array, to Type, f func(bool) R) (arrow.Array, error) {
	n := arr.Len()
	bits, off := boolBits(arr)
	buf, out := allocT[R](ctx.Alloc, n)
	for i := range out {
		out[i] = f(bitutil.BitIsSet(bits, off+i))
	}
	validity, nulls := Validity(ctx.Alloc, []arrow.Array{arr}, n)
	return FinishFixed(to.Arrow(), n, buf, validity, nulls), nil
}

func castToBool(ctx *Context, arr arrow.Array, from, to Type) (arrow.Array, error) {
	n := arr.Len()
	bits := AllocBits(ctx.Alloc, n)
	out := bits.Bytes()
	validity, nulls := Validity(ctx.Alloc, []arrow.Array{arr}, n)
	fail := func(err error) (arrow.Array, error) {
		bits.Release()
		releaseBuf(validity)
		return nil, err
	}
	switch from.ID {
	case Int16:
		nonZero(Values[int16](arr), out)
	case Int32:
		nonZero(Values[int32](arr), out)
	case Int64:
		nonZero(Values[int64](arr), out)
	case Float32:
		nonZero(Values[float32](arr), out)
	case Float64:
		nonZero(Values[float64](arr), out)
	case Decimal:
		for i, x := range Values[decimal128.Num](arr) {
			out[i>>3] |= b2u(x != decimal128.Num{}) << (i & 7)
		}
	case String:
		s := arr.(*array.String)
		for i := 0; i < n; i++ {
			if !validAt(validity, i) {
				continue
			}
			b, ok := parseBool(strings.TrimSpace(s.Value(i)))
			if !ok {
				return fail(syntaxErr(TBool, s.Value(i)))
			}
			out[i>>3] |= b2u(b) << (i & 7)
		}
	default:
		return fail(cannotCast(from, to))
	}
	return NewBoolFromBits(n, bits, validity, nulls), nil
}

func nonZero[T number](v []T, out []byte) {
	for i, x := range v {
		out[i>>3] |= b2u(x != 0) << (i & 7)
	}
}

// parseBool accepts PostgreSQL's spellings: unique prefixes of true, false,
// yes, no, at least two letters of on/off, and 1/0, case-insensitively.
func parseBool(s string) (bool, bool) {
	if s == "" {
		return false, false
	}
	l := strings.ToLower(s)
	pre := func(word string) bool { return strings.HasPrefix(word, l) }
	switch l[0] {
	case 't':
		return true, pre("true")
	case 'y':
		return true, pre("yes")
	case 'f':
		return false, pre("false")
	case 'n':
		return false, pre("no")
	case 'o':
		if len(l) >= 2 && pre("on") {
			return true, true
		}
		if len(l) >= 2 && pre("off") {
			return false, true
		}
	case '1':
		return true, l == "1"
	case '0':
		return false, l == "0"
	}
	return false, false
}

func syntaxErr(t Type, s string) error {
	name := t.String()
	if t.ID == Decimal {
		name = "numeric"
	}
	return fmt.Errorf("invalid input syntax for type %s: %q", name, s)
}

func castToDecimal(ctx *Context, arr arrow.Array, from, to Type) (arrow.Array, error) {
	p, s := to.Precision, to.Scale
	switch from.ID {
	case Int16:
		return intToDec(ctx, arr, to, Values[int16](arr), 5)
	case Int32:
		return intToDec(ctx, arr, to, Values[int32](arr), 10)
	case Int64:
		return intToDec(ctx, arr, to, Values[int64](arr), 19)
	case Float32, Float64:
		bitsz := 64
		digits := 15
		if from.ID == Float32 {
			bitsz, digits = 32, 6
		}
		conv := func(x float64) (decimal128.Num, error) {
			switch {
			case math.IsNaN(x):
				return decimal128.Num{}, errors.New("cannot convert NaN to numeric")
			case math.IsInf(x, 0):
				return decimal128.Num{}, errors.New("cannot convert infinity to numeric")
			}
			var tmp [32]byte
			b := strconv.AppendFloat(tmp[:0], x, 'e', digits-1, bitsz)
			return parseDecimal(b, p, s)
		}
		if from.ID == Float32 {
			return castMap(ctx, arr, to, func(x float32) (decimal128.Num, error) { return conv(float64(x)) })
		}
		return castMap(ctx, arr, to, conv)
	case Decimal:
		return castDecimal(ctx, arr, from, to)
	case Bool:
		one, _ := decScaleUp(decimal128.FromI64(1), s)
		return castFromBool(ctx, arr, to, func(b bool) decimal128.Num {
			if b {
				return one
			}
			return decimal128.Num{}
		})
	}
	return nil, cannotCast(from, to)
}

// intToDec scales integers to decimal(p,s); digits is the integer type's
// width in decimal digits.
func intToDec[T int16 | int32 | int64](ctx *Context, arr arrow.Array, to Type, v []T, digits int32) (arrow.Array, error) {
	p, s := to.Precision, to.Scale
	if p <= 18 || digits+s <= 18 {
		m := pow10i[min(s, 18)]
		limit := int64(math.MaxInt64)
		if p <= 18 {
			limit = pow10i[p]
		}
		if s <= 18 {
			return castLoop(ctx, arr, to, func(a []T, out []decimal128.Num) bool {
				var bad byte
				for i, x := range a {
					r, o := mul64(int64(x), m)
					bad |= b2u(o || r >= limit || r <= -limit)
					out[i] = decimal128.FromI64(r)
				}
				return bad != 0
			}, func(x T) bool {
				r, o := mul64(int64(x), m)
				return o || r >= limit || r <= -limit
			}, errNumOverflow)
		}
	}
	return castMap(ctx, arr, to, func(x T) (decimal128.Num, error) {
		r, ok := decScaleUp(decimal128.FromI64(int64(x)), s)
		if !ok || !decFitsPrec(r, p) {
			return r, errNumOverflow
		}
		return r, nil
	})
}

// castDecimal rescales decimals (rounding half away from zero) and checks
// the target precision.
func castDecimal(ctx *Context, arr arrow.Array, from, to Type) (arrow.Array, error) {
	k := to.Scale - from.Scale
	p := to.Precision
	if k >= 0 && from.Precision+k <= 18 && p <= 18 {
		m, limit := pow10i[k], pow10i[p]
		return castLoop(ctx, arr, to, func(a []decimal128.Num, out []decimal128.Num) bool {
			var bad byte
			for i, x := range a {
				r := int64(x.LowBits()) * m
				bad |= b2u(r >= limit || r <= -limit)
				out[i] = decimal128.FromI64(r)
			}
			return bad != 0
		}, func(x decimal128.Num) bool {
			r := int64(x.LowBits()) * m
			return r >= limit || r <= -limit
		}, errNumOverflow)
	}
	return castMap(ctx, arr, to, func(x decimal128.Num) (decimal128.Num, error) {
		r, ok := decRescale(x, from.Scale, to.Scale)
		if !ok || !decFitsPrec(r, p) {
			return r, errNumOverflow
		}
		return r, nil
	})
}

// parseDecimal parses a numeric literal (digits, optional point, optional
// exponent) and rounds it half away from zero to scale s, checking
// precision p. b is the trimmed text.
func parseDecimal[S string | []byte](b S, p, s int32) (decimal128.Num, error) {
	bad := errDecSyntax
	i := 0
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var dbuf [48]byte
	digits := dbuf[:0]
	frac := 0
	seen := false
	point := false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			seen = true
			if len(digits) == 0 && c == '0' {
				if point {
					frac++
				}
				continue // leading zero
			}
			digits = append(digits, c)
			if point {
				frac++
			}
		case c == '.' && !point:
			point = true
		default:
			goto exp
		}
	}
exp:
	if !seen {
		return decimal128.Num{}, bad
	}
	e := 0
	if i < len(b) {
		if b[i] != 'e' && b[i] != 'E' {
			return decimal128.Num{}, bad
		}
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i == len(b) {
			return decimal128.Num{}, bad
		}
		for ; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return decimal128.Num{}, bad
			}
			if e < 100000 {
				e = e*10 + int(c-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	// value = digits * 10^(e - frac); unscaled = digits * 10^t
	t := e - frac + int(s)
	keep := len(digits) + t // digits kept when t < 0
	roundUp := false
	if t < 0 {
		if keep < 0 {
			keep = 0
		} else if keep < len(digits) {
			roundUp = digits[keep] >= '5'
		}
		digits = digits[:keep]
		t = 0
	}
	if len(digits)+t > 38 {
		return decimal128.Num{}, errNumOverflow
	}
	var m u128
	for _, c := range digits {
		m, _ = m.mul64(10)
		m = m.add64(uint64(c - '0'))
	}
	if t > 0 {
		m, _ = m.mul(pow10u[t])
	}
	if roundUp {
		m = m.add64(1)
	}
	r := numOf(m, neg)
	if !decFitsPrec(r, p) {
		return decimal128.Num{}, errNumOverflow
	}
	return r, nil
}

var errDecSyntax = errors.New("invalid numeric syntax")

// ParseDecimal parses text as numeric(p,s) with PostgreSQL's rules
// (surrounding whitespace ignored, rounding half away from zero).
func ParseDecimal(text string, p, s int32) (decimal128.Num, error) {
	r, err := parseDecimal(strings.TrimSpace(text), p, s)
	if err != nil && err != errNumOverflow {
		return r, syntaxErr(DecimalType(p, s), text)
	}
	return r, err
}

// castFromString parses strings into any non-string type.
func castFromString(ctx *Context, s *array.String, to Type) (arrow.Array, error) {
	switch to.ID {
	case Int16:
		return parseStrings(ctx, s, to, func(v string) (int16, error) {
			x, err := parseIntText(v, to)
			return int16(x), err
		})
	case Int32:
		return parseStrings(ctx, s, to, func(v string) (int32, error) {
			x, err := parseIntText(v, to)
			return int32(x), err
		})
	case Int64:
		return parseStrings(ctx, s, to, func(v string) (int64, error) { return parseIntText(v, to) })
	case Float32:
		return parseStrings(ctx, s, to, func(v string) (float32, error) {
			x, err := parseFloatText(v, to)
			return float32(x), err
		})
	case Float64:
		return parseStrings(ctx, s, to, func(v string) (float64, error) { return parseFloatText(v, to) })
	case Decimal:
		return parseStrings(ctx, s, to, func(v string) (decimal128.Num, error) {
			return ParseDecimal(v, to.Precision, to.Scale)
		})
	case Date:
		return parseStrings(ctx, s, to, func(v string) (int32, error) {
			d, _, err := parseDateTime(v, Date)
			return int32(d), err
		})
	case Timestamp:
		return parseStrings(ctx, s, to, func(v string) (int64, error) {
			d, tod, err := parseDateTime(v, Timestamp)
			if err != nil {
				return 0, err
			}
			r, o := mul64(d, usPerDay)
			r, o2 := add64(r, tod)
			if o || o2 || r < minTSus {
				return 0, fmt.Errorf("timestamp out of range: %q", v)
			}
			return r, nil
		})
	case Interval:
		return parseStrings(ctx, s, to, ParseInterval)
	}
	return nil, cannotCast(TString, to)
}

// parseStrings parses each valid row with parse; the first error fails the
// whole cast.
func parseStrings[R arrow.FixedWidthType](ctx *Context, s *array.String, to Type, parse func(string) (R, error)) (arrow.Array, error) {
	n := s.Len()
	buf, out := allocT[R](ctx.Alloc, n)
	validity, nulls := Validity(ctx.Alloc, []arrow.Array{s}, n)
	var zero R
	for i := range out {
		if !validAt(validity, i) {
			out[i] = zero
			continue
		}
		v, err := parse(s.Value(i))
		if err != nil {
			buf.Release()
			releaseBuf(validity)
			return nil, err
		}
		out[i] = v
	}
	return FinishFixed(to.Arrow(), n, buf, validity, nulls), nil
}

func parseIntText(v string, t Type) (int64, error) {
	s := strings.TrimSpace(v)
	x, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("value %q is out of range for type %s", s, t)
		}
		return 0, syntaxErr(t, v)
	}
	lo, hi := intBounds(t.ID)
	if float64(x) < lo || float64(x) >= hi {
		return 0, fmt.Errorf("value %q is out of range for type %s", s, t)
	}
	return x, nil
}

func parseFloatText(v string, t Type) (float64, error) {
	s := strings.TrimSpace(v)
	if strings.ContainsAny(s, "xX_pP") {
		return 0, syntaxErr(t, v)
	}
	bitsz := 64
	if t.ID == Float32 {
		bitsz = 32
	}
	x, err := strconv.ParseFloat(s, bitsz)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is out of range for type %s", s, t)
		}
		return 0, syntaxErr(t, v)
	}
	return x, nil
}

// parseDateTime parses 'YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][ zone][ BC]'
// into days and microseconds of the day. For a date the time part is
// accepted and ignored; a zone is ignored like PostgreSQL does for
// timestamp without time zone.
func parseDateTime(v string, t TypeID) (days, tod int64, err error) {
	s := strings.TrimSpace(v)
	bad := func() (int64, int64, error) { return 0, 0, syntaxErr(Type{ID: t}, v) }
	i := 0
	num := func(minD, maxD int) (int64, bool) {
		j := i
		var x int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-j < maxD {
			x = x*10 + int64(s[i]-'0')
			i++
		}
		return x, i-j >= minD
	}
	bc := false
	if len(s) > 3 && strings.EqualFold(s[len(s)-3:], " bc") {
		bc = true
		s = strings.TrimSpace(s[:len(s)-3])
	}
	y, ok := num(1, 9)
	if !ok || i >= len(s) || s[i] != '-' {
		return bad()
	}
	i++
	mo, ok := num(1, 2)
	if !ok || i >= len(s) || s[i] != '-' {
		return bad()
	}
	i++
	d, ok := num(1, 2)
	if !ok {
		return bad()
	}
	var h, mi, sec, us int64
	if i < len(s) {
		if s[i] != ' ' && s[i] != 'T' && s[i] != 't' {
			return bad()
		}
		for i < len(s) && (s[i] == ' ' || s[i] == 'T' || s[i] == 't') {
			i++
		}
		if h, ok = num(1, 2); !ok || i >= len(s) || s[i] != ':' {
			return bad()
		}
		i++
		if mi, ok = num(2, 2); !ok {
			return bad()
		}
		if i < len(s) && s[i] == ':' {
			i++
			if sec, ok = num(2, 2); !ok {
				return bad()
			}
			if i < len(s) && s[i] == '.' {
				i++
				j := i
				f, _ := num(0, 9)
				nd := i - j
				for ; nd < 6; nd++ {
					f *= 10
				}
				for ; nd > 6; nd-- {
					f /= 10 // beyond microseconds: truncate
				}
				us = f
			}
		}
		// optional zone: Z, UTC, +HH[:MM], -HH[:MM]; ignored
		rest := strings.TrimSpace(s[i:])
		if rest != "" && !validZone(rest) {
			return bad()
		}
	}
	if bc {
		y = 1 - y
	}
	if mo < 1 || mo > 12 || d < 1 || d > int64(daysIn(y, int(mo))) || h > 24 || mi > 59 || sec > 60 ||
		(h == 24 && (mi != 0 || sec != 0 || us != 0)) || (y == 0 && !bc) {
		return 0, 0, fmt.Errorf("date/time field value out of range: %q", v)
	}
	days = daysFromCivil(y, int(mo), int(d))
	tod = h*usPerHour + mi*usPerMin + sec*usPerSec + us
	if t == Date {
		tod = 0
		if days != int64(int32(days)) {
			return 0, 0, fmt.Errorf("date out of range: %q", v)
		}
	}
	return days, tod, nil
}

func validZone(z string) bool {
	l := strings.ToLower(z)
	if l == "z" || l == "utc" || l == "gmt" {
		return true
	}
	if l[0] != '+' && l[0] != '-' {
		return false
	}
	for _, c := range l[1:] {
		if (c < '0' || c > '9') && c != ':' {
			return false
		}
	}
	return len(l) > 1
}

// castToString formats values as PostgreSQL prints them.
func castToString(ctx *Context, arr arrow.Array, from Type) (arrow.Array, error) {
	n := arr.Len()
	validity, nulls := Validity(ctx.Alloc, []arrow.Array{arr}, n)
	out := newStrOut(ctx.Alloc, n, n*8)
	var tmp [64]byte
	emit := func(f func(i int, b []byte) []byte) {
		for i := 0; i < n; i++ {
			if !validAt(validity, i) {
				out.add("")
				continue
			}
			out.addBytes(f(i, tmp[:0]))
		}
	}
	switch from.ID {
	case Bool:
		bits, off := boolBits(arr)
		emit(func(i int, b []byte) []byte {
			if bitutil.BitIsSet(bits, off+i) {
				return append(b, "true"...)
			}
			return append(b, "false"...)
		})
	case Int16:
		v := Values[int16](arr)
		emit(func(i int, b []byte) []byte { return strconv.AppendInt(b, int64(v[i]), 10) })
	case Int32:
		v := Values[int32](arr)
		emit(func(i int, b []byte) []byte { return strconv.AppendInt(b, int64(v[i]), 10) })
	case Int64:
		v := Values[int64](arr)
		emit(func(i int, b []byte) []byte { return strconv.AppendInt(b, v[i], 10) })
	case Float32:
		v := Values[float32](arr)
		emit(func(i int, b []byte) []byte { return appendFloat(b, float64(v[i]), 32) })
	case Float64:
		v := Values[float64](arr)
		emit(func(i int, b []byte) []byte { return appendFloat(b, v[i], 64) })
	case Decimal:
		v := Values[decimal128.Num](arr)
		emit(func(i int, b []byte) []byte { return appendDecimal(b, v[i], from.Scale) })
	case Date:
		v := Values[int32](arr)
		emit(func(i int, b []byte) []byte { return appendDate(b, int64(v[i]), false) })
	case Timestamp:
		v := Values[int64](arr)
		emit(func(i int, b []byte) []byte { return appendTimestamp(b, v[i]) })
	case Interval:
		v := Values[arrow.MonthDayNanoInterval](arr)
		emit(func(i int, b []byte) []byte { return appendInterval(b, v[i]) })
	default:
		out.release()
		releaseBuf(validity)
		return nil, cannotCast(from, TString)
	}
	return out.finish(validity, nulls)
}

// appendFloat prints like FormatFloat without allocating.
func appendFloat(b []byte, f float64, bitsz int) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bitsz)
}

// appendU128 appends the decimal digits of m.
func appendU128(b []byte, m u128) []byte {
	if m.hi == 0 {
		return strconv.AppendUint(b, m.lo, 10)
	}
	const e19 = 10_000_000_000_000_000_000
	q, r := m.quoRem64(e19)
	b = appendU128(b, q)
	var tmp [20]byte
	d := strconv.AppendUint(tmp[:0], r, 10)
	for k := len(d); k < 19; k++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

// appendDecimal prints an unscaled decimal at scale s (like Num.ToString).
func appendDecimal(b []byte, x decimal128.Num, s int32) []byte {
	m, neg := magOf(x)
	if neg {
		b = append(b, '-')
	}
	start := len(b)
	b = appendU128(b, m)
	if s <= 0 {
		return b
	}
	digits := len(b) - start
	if digits <= int(s) {
		// 0.000ddd: shift the digits right to make room for "0." and zeros
		pad := int(s) - digits + 2
		for k := 0; k < pad; k++ {
			b = append(b, 0)
		}
		copy(b[start+pad:], b[start:start+digits])
		b[start] = '0'
		b[start+1] = '.'
		for k := start + 2; k < start+pad; k++ {
			b[k] = '0'
		}
		return b
	}
	at := len(b) - int(s)
	b = append(b, 0)
	copy(b[at+1:], b[at:len(b)-1])
	b[at] = '.'
	return b
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

// appendDate prints YYYY-MM-DD (with " BC" for years before 1 AD unless
// bcLater, when the caller prints the era after a time part).
func appendDate(b []byte, days int64, bcLater bool) []byte {
	y, m, d := civilFromDays(days)
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	for p := int64(1000); p > 1 && y < p; p /= 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, y, 10)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	if bc && !bcLater {
		b = append(b, " BC"...)
	}
	return b
}

// appendTimestamp prints YYYY-MM-DD HH:MM:SS[.ffffff] (trailing zeros of the
// fraction trimmed).
func appendTimestamp(b []byte, us int64) []byte {
	days, tod := splitTS(us)
	b = appendDate(b, days, true)
	b = append(b, ' ')
	b = append2(b, int(tod/usPerHour))
	b = append(b, ':')
	b = append2(b, int(tod/usPerMin%60))
	b = append(b, ':')
	b = append2(b, int(tod/usPerSec%60))
	b = appendFrac(b, tod%usPerSec, 6)
	if y, _, _ := civilFromDays(days); y <= 0 {
		b = append(b, " BC"...)
	}
	return b
}

// appendFrac appends ".ddd" for a fraction of width digits, trailing zeros
// trimmed; nothing for zero.
func appendFrac(b []byte, f int64, width int) []byte {
	if f == 0 {
		return b
	}
	var tmp [9]byte
	for k := width - 1; k >= 0; k-- {
		tmp[k] = byte('0' + f%10)
		f /= 10
	}
	w := width
	for w > 0 && tmp[w-1] == '0' {
		w--
	}
	b = append(b, '.')
	return append(b, tmp[:w]...)
}

// appendInterval prints an interval in PostgreSQL's default style, e.g.
// "1 year 2 mons -3 days +04:05:06.5".
func appendInterval(b []byte, v arrow.MonthDayNanoInterval) []byte {
	start := len(b)
	neg := false
	unit := func(x int64, name string) {
		if x == 0 {
			return
		}
		if len(b) > start {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, x, 10)
		b = append(b, ' ')
		b = append(b, name...)
		if x != 1 {
			b = append(b, 's')
		}
		neg = neg || x < 0
	}
	unit(int64(v.Months/12), "year")
	unit(int64(v.Months%12), "mon")
	unit(int64(v.Days), "day")
	ns := v.Nanoseconds
	if ns != 0 || len(b) == start {
		if len(b) > start {
			b = append(b, ' ')
		}
		var mag uint64
		if ns < 0 {
			b = append(b, '-')
			mag = uint64(-ns)
		} else {
			if neg {
				b = append(b, '+')
			}
			mag = uint64(ns)
		}
		h := mag / 3_600_000_000_000
		if h < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendUint(b, h, 10)
		b = append(b, ':')
		b = append2(b, int(mag/60_000_000_000%60))
		b = append(b, ':')
		b = append2(b, int(mag/1_000_000_000%60))
		b = appendFrac(b, int64(mag%1_000_000_000), 9)
	}
	return b
}

// ParseInterval parses PostgreSQL interval text ("1 year 2 mons 3 days 04:05:06.5", "10 hours",
// "-1 day +02:00", "@ 1 day ago", "1.5 days", "P1Y2M3DT4H5M6S").
func ParseInterval(text string) (arrow.MonthDayNanoInterval, error) {
	bad := func() (arrow.MonthDayNanoInterval, error) {
		return arrow.MonthDayNanoInterval{}, syntaxErr(TInterval, text)
	}
	s := strings.ToLower(strings.TrimSpace(text))
	s = strings.TrimSpace(strings.TrimPrefix(s, "@"))
	if s == "" {
		return bad()
	}
	var acc ivAcc
	if s[0] == 'p' {
		if !acc.iso(s[1:]) {
			return bad()
		}
		return acc.result(text)
	}
	ago := false
	if strings.HasSuffix(s, " ago") {
		ago = true
		s = strings.TrimSpace(s[:len(s)-4])
	}
	for s != "" {
		// a number, optionally signed, with fraction
		j := 0
		if s[j] == '+' || s[j] == '-' {
			j++
		}
		k := j
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		if j == k {
			return bad()
		}
		if j < len(s) && s[j] == ':' {
			// time: [-]HH:MM[:SS[.frac]]
			j = k
			for j < len(s) && s[j] != ' ' {
				j++
			}
			if !acc.clock(s[:j]) {
				return bad()
			}
			s = strings.TrimSpace(s[j:])
			continue
		}
		num, err := strconv.ParseFloat(s[:j], 64)
		if err != nil {
			return bad()
		}
		s = strings.TrimLeft(s[j:], " ")
		u := 0
		for u < len(s) && s[u] >= 'a' && s[u] <= 'z' {
			u++
		}
		name := s[:u]
		s = strings.TrimSpace(s[u:])
		if name == "" {
			name = "second"
		}
		if !acc.unit(num, name) {
			return bad()
		}
	}
	if ago {
		acc.months, acc.days, acc.ns = -acc.months, -acc.days, -acc.ns
	}
	return acc.result(text)
}

// ivAcc accumulates interval fields while parsing.
type ivAcc struct {
	months, days float64
	ns           float64
}

var ivUnits = map[string]struct {
	months, days, ns float64
}{
	"microsecond": {ns: 1e3}, "microseconds": {ns: 1e3}, "us": {ns: 1e3}, "usec": {ns: 1e3}, "usecs": {ns: 1e3},
	"millisecond": {ns: 1e6}, "milliseconds": {ns: 1e6}, "ms": {ns: 1e6}, "msec": {ns: 1e6}, "msecs": {ns: 1e6},
	"second": {ns: 1e9}, "seconds": {ns: 1e9}, "s": {ns: 1e9}, "sec": {ns: 1e9}, "secs": {ns: 1e9},
	"minute": {ns: 60e9}, "minutes": {ns: 60e9}, "m": {ns: 60e9}, "min": {ns: 60e9}, "mins": {ns: 60e9},
	"hour": {ns: 3600e9}, "hours": {ns: 3600e9}, "h": {ns: 3600e9}, "hr": {ns: 3600e9}, "hrs": {ns: 3600e9},
	"day": {days: 1}, "days": {days: 1}, "d": {days: 1},
	"week": {days: 7}, "weeks": {days: 7}, "w": {days: 7},
	"month": {months: 1}, "months": {months: 1}, "mon": {months: 1}, "mons": {months: 1},
	"year": {months: 12}, "years": {months: 12}, "y": {months: 12}, "yr": {months: 12}, "yrs": {months: 12},
	"decade": {months: 120}, "decades": {months: 120}, "dec": {months: 120}, "decs": {months: 120},
	"century": {months: 1200}, "centuries": {months: 1200}, "c": {months: 1200}, "cent": {months: 1200},
	"millennium": {months: 12000}, "millennia": {months: 12000}, "mil": {months: 12000}, "mils": {months: 12000},
}

func (a *ivAcc) unit(num float64, name string) bool {
	u, ok := ivUnits[name]
	if !ok {
		return false
	}
	a.months += num * u.months
	a.days += num * u.days
	a.ns += num * u.ns
	return true
}

// clock adds a [-]HH:MM[:SS[.frac]] time.
func (a *ivAcc) clock(s string) bool {
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	h, err1 := strconv.ParseUint(parts[0], 10, 32)
	m, err2 := strconv.ParseUint(parts[1], 10, 32)
	if err1 != nil || err2 != nil || m > 59 {
		return false
	}
	ns := float64(h)*3600e9 + float64(m)*60e9
	if len(parts) == 3 {
		sec, err := strconv.ParseFloat(parts[2], 64)
		if err != nil || sec < 0 || sec >= 60 || strings.ContainsAny(parts[2], "eE+-") {
			return false
		}
		ns += math.Round(sec * 1e9)
	}
	if neg {
		ns = -ns
	}
	a.ns += ns
	return true
}

// iso parses the part of an ISO 8601 duration after the P.
func (a *ivAcc) iso(s string) bool {
	timePart := false
	if s == "" {
		return false
	}
	for s != "" {
		if s[0] == 't' {
			timePart = true
			s = s[1:]
			continue
		}
		j := 0
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == '-' || s[j] == '+') {
			j++
		}
		if j == 0 || j == len(s) {
			return false
		}
		num, err := strconv.ParseFloat(s[:j], 64)
		if err != nil {
			return false
		}
		var name string
		switch s[j] {
		case 'y':
			name = "year"
		case 'm':
			name = "month"
			if timePart {
				name = "minute"
			}
		case 'w':
			name = "week"
		case 'd':
			name = "day"
		case 'h':
			name = "hour"
		case 's':
			name = "second"
		default:
			return false
		}
		a.unit(num, name)
		s = s[j+1:]
	}
	return true
}

// result cascades fractional months into days (30 per month) and fractional
// days into time, like PostgreSQL.
func (a *ivAcc) result(text string) (arrow.MonthDayNanoInterval, error) {
	months := math.Trunc(a.months)
	days := a.days + (a.months-months)*30
	wholeDays := math.Trunc(days)
	ns := math.Round(a.ns + (days-wholeDays)*nsPerDay)
	if months >= math.MaxInt32 || months <= math.MinInt32 || wholeDays >= math.MaxInt32 || wholeDays <= math.MinInt32 ||
		ns >= 9.2e18 || ns <= -9.2e18 || math.IsNaN(ns) {
		return arrow.MonthDayNanoInterval{}, fmt.Errorf("interval field value out of range: %q", text)
	}
	return arrow.MonthDayNanoInterval{Months: int32(months), Days: int32(wholeDays), Nanoseconds: int64(ns)}, nil
}

// Normalize converts an array of any Arrow type FromArrow accepts (int8, large_string,
// timestamp[ms], dictionary, ...) to its SQL type's canonical layout; the result is the caller's.
func Normalize(ctx *Context, arr arrow.Array) (arrow.Array, Type, error) {
	dt := arr.DataType()
	t, err := FromArrow(dt)
	if err != nil {
		return nil, Type{}, err
	}
	if arrow.TypeEqual(dt, t.Arrow()) {
		arr.Retain()
		return arr, t, nil
	}
	mem := ctx.Alloc
	n := arr.Len()
	validity := func() (*memory.Buffer, int) { return Validity(mem, []arrow.Array{arr}, n) }
	fixed := func(buf *memory.Buffer) arrow.Array {
		v, nulls := validity()
		return FinishFixed(t.Arrow(), n, buf, v, nulls)
	}
	switch dt.ID() {
	case arrow.INT8:
		buf, out := AllocFixed[int16](mem, n)
		convert(Values[int8](arr), out)
		return fixed(buf), t, nil
	case arrow.UINT8:
		buf, out := AllocFixed[int16](mem, n)
		convert(Values[uint8](arr), out)
		return fixed(buf), t, nil
	case arrow.UINT16:
		buf, out := AllocFixed[int32](mem, n)
		convert(Values[uint16](arr), out)
		return fixed(buf), t, nil
	case arrow.UINT32:
		buf, out := AllocFixed[int64](mem, n)
		convert(Values[uint32](arr), out)
		return fixed(buf), t, nil
	case arrow.UINT64:
		buf, out := decOut(mem, n)
		for i, x := range Values[uint64](arr) {
			out[i] = decimal128.FromU64(x)
		}
		return fixed(buf), t, nil
	case arrow.FLOAT16:
		buf, out := AllocFixed[float32](mem, n)
		f16 := arr.(*array.Float16)
		for i := range out {
			out[i] = f16.Value(i).Float32()
		}
		return fixed(buf), t, nil
	case arrow.DATE64:
		buf, out := AllocFixed[int32](mem, n)
		for i, x := range Values[arrow.Date64](arr) {
			out[i] = int32(floorDiv(int64(x), 86_400_000))
		}
		return fixed(buf), t, nil
	case arrow.TIMESTAMP:
		buf, out := AllocFixed[int64](mem, n)
		v := Values[arrow.Timestamp](arr)
		switch dt.(*arrow.TimestampType).Unit {
		case arrow.Second:
			for i, x := range v {
				out[i] = int64(x) * usPerSec
			}
		case arrow.Millisecond:
			for i, x := range v {
				out[i] = int64(x) * 1000
			}
		case arrow.Microsecond:
			for i, x := range v {
				out[i] = int64(x)
			}
		case arrow.Nanosecond:
			for i, x := range v {
				out[i] = floorDiv(int64(x), 1000)
			}
		}
		return fixed(buf), t, nil
	case arrow.DECIMAL128:
		// same values under the canonical (clamped) type
		buf, out := decOut(mem, n)
		copy(out, Values[decimal128.Num](arr))
		return fixed(buf), t, nil
	}
	// The rest (strings, binaries, other decimals, dictionaries) go value by
	// value through a builder.
	b := array.NewBuilder(mem, t.Arrow())
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		if arr.IsNull(i) {
			b.AppendNull()
			continue
		}
		switch a := arr.(type) {
		case *array.String:
			b.(*array.StringBuilder).Append(a.Value(i))
		case *array.LargeString:
			b.(*array.StringBuilder).Append(a.Value(i))
		case *array.StringView:
			b.(*array.StringBuilder).Append(a.Value(i))
		case *array.Binary:
			b.(*array.StringBuilder).Append(string(a.Value(i)))
		case *array.LargeBinary:
			b.(*array.StringBuilder).Append(string(a.Value(i)))
		case *array.Decimal32:
			b.(*array.Decimal128Builder).Append(decimal128.FromI64(int64(a.Value(i))))
		case *array.Decimal64:
			b.(*array.Decimal128Builder).Append(decimal128.FromI64(int64(a.Value(i))))
		case *array.Dictionary:
			dict := a.Dictionary()
			norm, _, err := Normalize(ctx, dict)
			if err != nil {
				return nil, Type{}, err
			}
			AppendValue(b, t, ValueAt(norm, t, a.GetValueIndex(i)))
			norm.Release()
		default:
			return nil, Type{}, fmt.Errorf("cannot convert Arrow type %s", dt)
		}
	}
	return b.NewArray(), t, nil
}
