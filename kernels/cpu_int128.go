package kernels

import (
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// u128 is an unsigned 128-bit magnitude used by the decimal kernels. The
// arithmetic here never allocates (decimal128.Num's Div goes through big.Int).
type u128 struct{ hi, lo uint64 }

// pow10u[k] = 10^k for k in [0, 38] (a var initializer, so it is ready
// before any init function runs).
var pow10u = func() (t [39]u128) {
	p := u128{lo: 1}
	for k := range t {
		t[k] = p
		p, _ = p.mul64(10)
	}
	return t
}()

// pow10i[k] = 10^k for k in [0, 18].
var pow10i = func() (t [19]int64) {
	v := int64(1)
	for k := range t {
		t[k] = v
		v *= 10
	}
	return t
}()

// maxDec is 10^38: decimal magnitudes must stay below it.
var maxDec = pow10u[38]

// magOf splits a two's complement decimal into sign and magnitude.
func magOf(x decimal128.Num) (u128, bool) {
	hi, lo := uint64(x.HighBits()), x.LowBits()
	if int64(hi) < 0 {
		lo = ^lo + 1
		hi = ^hi
		if lo == 0 {
			hi++
		}
		return u128{hi, lo}, true
	}
	return u128{hi, lo}, false
}

// numOf rebuilds a decimal from sign and magnitude (magnitude < 2^127).
func numOf(m u128, neg bool) decimal128.Num {
	if neg {
		lo := ^m.lo + 1
		hi := ^m.hi
		if lo == 0 {
			hi++
		}
		return decimal128.New(int64(hi), lo)
	}
	return decimal128.New(int64(m.hi), m.lo)
}

// fits64 reports whether x is representable as an int64.
func fits64(x decimal128.Num) bool {
	return x.HighBits() == int64(x.LowBits())>>63
}

func (a u128) isZero() bool { return a.hi == 0 && a.lo == 0 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) add(b u128) (u128, bool) {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	hi, c2 := bits.Add64(a.hi, b.hi, c)
	return u128{hi, lo}, c2 != 0
}

func (a u128) sub(b u128) u128 {
	lo, br := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, br)
	return u128{hi, lo}
}

func (a u128) add64(b uint64) u128 {
	lo, c := bits.Add64(a.lo, b, 0)
	return u128{a.hi + c, lo}
}

// mul64 multiplies, reporting overflow past 128 bits.
func (a u128) mul64(b uint64) (u128, bool) {
	h1, lo := bits.Mul64(a.lo, b)
	h2, l2 := bits.Mul64(a.hi, b)
	hi, c := bits.Add64(h1, l2, 0)
	return u128{hi, lo}, h2 != 0 || c != 0
}

// mul multiplies, reporting overflow past 128 bits.
func (a u128) mul(b u128) (u128, bool) {
	if a.hi != 0 && b.hi != 0 {
		return u128{}, true
	}
	if a.hi == 0 {
		return b.mul64(a.lo)
	}
	return a.mul64(b.lo)
}

func (a u128) quoRem64(d uint64) (u128, uint64) {
	var q u128
	var r uint64
	if a.hi < d {
		q.lo, r = bits.Div64(a.hi, a.lo, d)
	} else {
		q.hi, r = bits.Div64(0, a.hi, d)
		q.lo, r = bits.Div64(r, a.lo, d)
	}
	return q, r
}

func (a u128) shl(n uint) u128 {
	if n >= 64 {
		return u128{a.lo << (n - 64), 0}
	}
	if n == 0 {
		return a
	}
	return u128{a.hi<<n | a.lo>>(64-n), a.lo << n}
}

func (a u128) shr1() u128 { return u128{a.hi >> 1, a.lo>>1 | a.hi<<63} }

// quoRem divides by a non-zero d (Hacker's Delight: a trial quotient from the
// normalized top word is within one of the true quotient).
func (a u128) quoRem(d u128) (u128, u128) {
	if d.hi == 0 {
		q, r := a.quoRem64(d.lo)
		return q, u128{lo: r}
	}
	n := uint(bits.LeadingZeros64(d.hi))
	d1 := d.shl(n)
	a1 := a.shr1()
	tq, _ := bits.Div64(a1.hi, a1.lo, d1.hi)
	tq >>= 63 - n
	if tq != 0 {
		tq--
	}
	q := u128{lo: tq}
	p, _ := d.mul64(tq)
	r := a.sub(p)
	if r.cmp(d) >= 0 {
		q = q.add64(1)
		r = r.sub(d)
	}
	return q, r
}

// decScaleUp multiplies x by 10^k; ok is false when the result reaches 38
// digits (or overflows 128 bits).
func decScaleUp(x decimal128.Num, k int32) (decimal128.Num, bool) {
	if k == 0 {
		return x, decFits(x)
	}
	if k > 38 {
		return x, x == (decimal128.Num{})
	}
	m, neg := magOf(x)
	r, ovf := m.mul(pow10u[k])
	if ovf || r.cmp(maxDec) >= 0 {
		return x, false
	}
	return numOf(r, neg), true
}

// decScaleDown divides x by 10^k rounding half away from zero.
func decScaleDown(x decimal128.Num, k int32) decimal128.Num {
	if k == 0 {
		return x
	}
	if k > 38 {
		return decimal128.Num{}
	}
	m, neg := magOf(x)
	d := pow10u[k]
	q, r := m.quoRem(d)
	r2, ovf := r.add(r)
	if ovf || r2.cmp(d) >= 0 {
		q = q.add64(1)
	}
	return numOf(q, neg)
}

// decTrunc divides x by 10^k truncating toward zero.
func decTrunc(x decimal128.Num, k int32) decimal128.Num {
	if k == 0 {
		return x
	}
	if k > 38 {
		return decimal128.Num{}
	}
	m, neg := magOf(x)
	q, _ := m.quoRem(pow10u[k])
	return numOf(q, neg)
}

// decRescale converts x from scale from to scale to (rounding half away from
// zero when reducing); ok is false when the result needs 38 digits or more.
func decRescale(x decimal128.Num, from, to int32) (decimal128.Num, bool) {
	if to >= from {
		return decScaleUp(x, to-from)
	}
	return decScaleDown(x, from-to), true
}

// decFits reports whether |x| < 10^38.
func decFits(x decimal128.Num) bool {
	m, _ := magOf(x)
	return m.cmp(maxDec) < 0
}

// decFitsPrec reports whether |x| < 10^p.
func decFitsPrec(x decimal128.Num, p int32) bool {
	if p >= 38 {
		return decFits(x)
	}
	m, _ := magOf(x)
	return m.cmp(pow10u[p]) < 0
}

// decAdd adds two decimals of equal scale; ok is false past 38 digits.
func decAdd(a, b decimal128.Num) (decimal128.Num, bool) {
	ma, na := magOf(a)
	mb, nb := magOf(b)
	if na == nb {
		r, ovf := ma.add(mb)
		if ovf || r.cmp(maxDec) >= 0 {
			return decimal128.Num{}, false
		}
		return numOf(r, na), true
	}
	if ma.cmp(mb) >= 0 {
		return numOf(ma.sub(mb), na), true
	}
	return numOf(mb.sub(ma), nb), true
}

// decMul multiplies two decimals (scales add); ok is false past 38 digits.
func decMul(a, b decimal128.Num) (decimal128.Num, bool) {
	ma, na := magOf(a)
	mb, nb := magOf(b)
	r, ovf := ma.mul(mb)
	if ovf || r.cmp(maxDec) >= 0 {
		return decimal128.Num{}, false
	}
	return numOf(r, na != nb), true
}

// decRem is the remainder of a / b (b non-zero) with the sign of a.
func decRem(a, b decimal128.Num) decimal128.Num {
	ma, na := magOf(a)
	mb, _ := magOf(b)
	_, r := ma.quoRem(mb)
	return numOf(r, na)
}

// decCmpScaled compares a (scale sa) with b (scale sb).
func decCmpScaled(a decimal128.Num, sa int32, b decimal128.Num, sb int32) int {
	if sa != sb {
		var ok bool
		if sa < sb {
			var a2 decimal128.Num
			if a2, ok = decScaleUp(a, sb-sa); !ok {
				return a.Sign() // |a| scaled exceeds any b
			}
			a = a2
		} else {
			var b2 decimal128.Num
			if b2, ok = decScaleUp(b, sa-sb); !ok {
				return -b.Sign()
			}
			b = b2
		}
	}
	return a.Cmp(b)
}

// decToFloat converts an unscaled decimal at scale s to the nearest float64.
func decToFloat(x decimal128.Num, s int32) float64 {
	if fits64(x) {
		v := int64(x.LowBits())
		if v > -(1<<53) && v < 1<<53 && s >= 0 && s <= 22 {
			return float64(v) / pow10f[s] // both exact: one rounding
		}
	}
	// correctly rounded through the decimal text
	var buf [48]byte
	b := appendDecimal(buf[:0], x, s)
	f, _ := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	return f
}

// pow10f[k] = 10^k exactly for k in [0, 22].
var pow10f = [23]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}
