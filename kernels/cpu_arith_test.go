package kernels

import (
	"math"
	"math/big"
	"math/rand"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

func TestArithInt(t *testing.T) {
	cases := []kcase{
		{"int16 add", "add", []col{c(TInt16, 1, 32000, nil), c(TInt16, 2, 767, 1)}, "3,32767,NULL"},
		{"int16 add overflow", "add", []col{c(TInt16, 1, 32000), c(TInt16, 2, 768)}, "error: smallint out of range"},
		{"int16 sub overflow", "sub", []col{c(TInt16, -32768), c(TInt16, 1)}, "error: smallint out of range"},
		{"int16 mul overflow", "mul", []col{c(TInt16, 200), c(TInt16, 200)}, "error: smallint out of range"},
		{"int16 div min", "div", []col{c(TInt16, -32768), c(TInt16, -1)}, "error: smallint out of range"},
		{"int32 mul", "mul", []col{c(TInt32, 46341, 3), c(TInt32, 46340)}, "2147441940,139020"},
		{"int32 mul overflow", "mul", []col{c(TInt32, 46341), c(TInt32, 46341)}, "error: integer out of range"},
		{"int32 div trunc", "div", []col{c(TInt32, 7, -7, 7, -7), c(TInt32, 2, 2, -2, -2)}, "3,-3,-3,3"},
		{"int32 mod sign", "mod", []col{c(TInt32, 7, -7, 7, -7), c(TInt32, 2, 2, -2, -2)}, "1,-1,1,-1"},
		{"int32 div zero", "div", []col{c(TInt32, 1, 2), c(TInt32, 1, 0)}, "error: division by zero"},
		{"int32 mod zero", "mod", []col{c(TInt32, 1, 2), c(TInt32, 0)}, "error: division by zero"},
		{"int32 div zero on null row", "div", []col{c(TInt32, 1, nil), c(TInt32, 1, 0)}, "1,NULL"},
		{"int32 overflow on null row", "add", []col{c(TInt32, 1, nil), c(TInt32, 1, math.MaxInt32)}, "2,NULL"},
		{"int32 sub const left", "sub", []col{c(TInt32, 10), c(TInt32, 1, 2, 3)}, "9,8,7"},
		{"int64 add overflow", "add", []col{c(TInt64, math.MaxInt64), c(TInt64, 1)}, "error: bigint out of range"},
		{"int64 sub overflow", "sub", []col{c(TInt64, math.MinInt64), c(TInt64, 1)}, "error: bigint out of range"},
		{"int64 mul overflow", "mul", []col{c(TInt64, int64(1)<<32), c(TInt64, int64(1)<<31)}, "error: bigint out of range"},
		{"int64 mul negative ok", "mul", []col{c(TInt64, -(int64(1) << 32)), c(TInt64, int64(1)<<31)}, "-9223372036854775808"},
		{"int64 div min", "div", []col{c(TInt64, math.MinInt64), c(TInt64, -1)}, "error: bigint out of range"},
		{"int64 mod min", "mod", []col{c(TInt64, math.MinInt64), c(TInt64, -1)}, "0"},
		{"int64 ops", "mul", []col{c(TInt64, 3, nil, -4), c(TInt64, 5)}, "15,NULL,-20"},
		{"int64 div zero", "div", []col{c(TInt64, 5), c(TInt64, 0)}, "error: division by zero"},
		{"int64 null const", "add", []col{c(TInt64, 5, 6), c(TInt64, nil)}, "NULL,NULL"},
		{"neg", "neg", []col{c(TInt32, 5, -3, nil)}, "-5,3,NULL"},
		{"neg overflow", "neg", []col{c(TInt16, -32768)}, "error: smallint out of range"},
		{"abs", "abs", []col{c(TInt64, -5, 3)}, "5,3"},
		{"abs overflow", "abs", []col{c(TInt64, math.MinInt64)}, "error: bigint out of range"},
	}
	runCases(t, cases)
}

func TestArithFloat(t *testing.T) {
	cases := []kcase{
		{"add", "add", []col{c(TFloat64, 1.5, nil), c(TFloat64, 2.25, 1.0)}, "3.75,NULL"},
		{"div", "div", []col{c(TFloat64, 1.0), c(TFloat64, 4.0, 8.0)}, "0.25,0.125"},
		{"div zero", "div", []col{c(TFloat64, 1.0), c(TFloat64, 0.0)}, "error: division by zero"},
		{"div zero null", "div", []col{c(TFloat64, nil, 1.0), c(TFloat64, 0.0, 2.0)}, "NULL,0.5"},
		{"nan div zero", "div", []col{c(TFloat64, math.NaN()), c(TFloat64, 0.0)}, "NaN"},
		{"overflow", "mul", []col{c(TFloat64, 1e300), c(TFloat64, 1e300)}, "error: value out of range: overflow"},
		{"inf ok", "mul", []col{c(TFloat64, math.Inf(1)), c(TFloat64, 2.0)}, "Infinity"},
		{"float32 sub", "sub", []col{c(TFloat32, 1.5), c(TFloat32, 0.25)}, "1.25"},
		{"float32 overflow", "mul", []col{c(TFloat32, 1e30), c(TFloat32, 1e30)}, "error: overflow"},
		{"mod", "mod", []col{c(TFloat64, 7.5, -7.5), c(TFloat64, 2.0)}, "1.5,-1.5"},
		{"neg", "neg", []col{c(TFloat64, 1.5, -0.5)}, "-1.5,0.5"},
		{"abs", "abs", []col{c(TFloat32, -1.5)}, "1.5"},
	}
	runCases(t, cases)
}

func TestArithDecimal(t *testing.T) {
	cases := []kcase{
		{"add align", "add", []col{c(dec(15, 2), "1.50", nil, "-1.00"), c(dec(10, 3), "2.125", "1.000", "0.001")}, "3.625,NULL,-0.999"},
		{"sub align", "sub", []col{c(dec(15, 2), "1.50"), c(dec(10, 3), "2.125")}, "-0.625"},
		{"mul", "mul", []col{c(dec(15, 2), "1.50", "-2.00"), c(dec(15, 2), "0.10")}, "0.1500,-0.2000"},
		{"mul wide", "mul", []col{c(dec(15, 2), "1234567890123.45"), c(dec(16, 2), "1000.00")}, "1234567890123450.0000"},
		{"mul big", "mul", []col{c(dec(38, 0), "10000000000000000000"), c(dec(38, 0), "10000000000000000000")}, "error: numeric field overflow"},
		{"div float", "div", []col{c(dec(15, 2), "1.00", "7.50"), c(dec(10, 3), "4.000", "2.500")}, "0.25,3"},
		{"div zero", "div", []col{c(dec(15, 2), "1.00"), c(dec(10, 3), "0.000")}, "error: division by zero"},
		{"mod", "mod", []col{c(dec(15, 2), "7.50", "-7.50"), c(dec(10, 1), "2.0")}, "1.50,-1.50"},
		{"mod zero", "mod", []col{c(dec(15, 2), "7.50"), c(dec(10, 1), "0.0")}, "error: division by zero"},
		{"add overflow", "add", []col{c(dec(38, 0), "99999999999999999999999999999999999999"), c(dec(38, 0), "1")}, "error: numeric field overflow"},
		{"add big ok", "add", []col{c(dec(38, 0), "99999999999999999999999999999999999998"), c(dec(38, 0), "1", "-99999999999999999999999999999999999999")}, "99999999999999999999999999999999999999,-1"},
		{"add rescale overflow", "add", []col{c(dec(38, 0), "9999999999999999999999999999999"), c(dec(38, 10), "1")}, "error: numeric field overflow"},
		{"sub big", "sub", []col{c(dec(38, 4), "-12345678901234567890123456.7890"), c(dec(38, 4), "1.0001")}, "-12345678901234567890123457.7891"},
		{"neg", "neg", []col{c(dec(10, 2), "1.25", "-3.00")}, "-1.25,3.00"},
		{"abs", "abs", []col{c(dec(10, 2), "-1.25")}, "1.25"},
	}
	runCases(t, cases)

	// result types
	for _, tc := range []struct {
		op   string
		a, b Type
		want Type
	}{
		{"add", dec(15, 2), dec(10, 3), dec(17, 3)},
		{"sub", dec(38, 2), dec(10, 3), dec(38, 3)},
		{"mul", dec(15, 2), dec(16, 2), dec(31, 4)},
		{"mul", dec(31, 4), dec(16, 2), dec(38, 6)},
		{"div", dec(15, 2), dec(10, 3), TFloat64},
		{"mod", dec(15, 2), dec(10, 1), dec(11, 2)},
	} {
		k, err := Default.Resolve(tc.op, []Type{tc.a, tc.b}, "")
		if err != nil {
			t.Fatal(err)
		}
		if k.Ret != tc.want {
			t.Errorf("%s(%s, %s) = %s, want %s", tc.op, tc.a, tc.b, k.Ret, tc.want)
		}
	}
}

// TestDecimalArithRandom checks the int64 fast paths and the 128-bit path
// against math/big.
func TestDecimalArithRandom(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewSource(1))
	randDec := func(p int32) decimal128.Num {
		digits := rng.Int31n(p) + 1
		b := new(big.Int).Rand(rng, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil))
		if rng.Intn(2) == 0 {
			b.Neg(b)
		}
		return decimal128.FromBigInt(b)
	}
	for _, tc := range []struct {
		op     string
		ta, tb Type
		digits int32 // at most this many digits (0: the precision), so
		// wide types with small values take the batch fast path
	}{
		{"add", dec(15, 2), dec(10, 3), 0}, {"sub", dec(9, 0), dec(9, 4), 0}, {"mul", dec(9, 2), dec(9, 3), 0},
		{"add", dec(30, 2), dec(20, 5), 0}, {"sub", dec(36, 6), dec(12, 0), 0}, {"mul", dec(20, 2), dec(15, 3), 0},
		{"mod", dec(15, 2), dec(10, 3), 0}, {"mod", dec(30, 2), dec(25, 8), 0},
		{"add", dec(30, 2), dec(20, 5), 9}, {"sub", dec(36, 6), dec(12, 0), 8}, {"mul", dec(31, 4), dec(16, 2), 9},
		{"mul", dec(31, 4), dec(16, 2), 12}, {"mul", dec(20, 2), dec(15, 3), 10},
	} {
		randDec := func(p int32) decimal128.Num {
			if tc.digits > 0 {
				p = min(p, tc.digits)
			}
			return randDec(p)
		}
		k, err := Default.Resolve(tc.op, []Type{tc.ta, tc.tb}, "")
		if err != nil {
			t.Fatal(err)
		}
		const n = 500
		av, bv := make([]any, n), make([]any, n)
		nums := make([][2]decimal128.Num, n)
		for i := range av {
			x, y := randDec(tc.ta.Precision), randDec(tc.tb.Precision)
			if y == (decimal128.Num{}) {
				y = decimal128.FromI64(1)
			}
			nums[i] = [2]decimal128.Num{x, y}
			av[i] = x.ToString(tc.ta.Scale)
			bv[i] = y.ToString(tc.tb.Scale)
		}
		a, b := mk(t, mem, tc.ta, av...), mk(t, mem, tc.tb, bv...)
		out, err := k.Exec(&Context{Alloc: mem}, []arrow.Array{a, b}, n)
		if err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		for i := 0; i < n; i++ {
			x := new(big.Rat).SetFrac(nums[i][0].BigInt(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(tc.ta.Scale)), nil))
			y := new(big.Rat).SetFrac(nums[i][1].BigInt(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(tc.tb.Scale)), nil))
			var want *big.Rat
			switch tc.op {
			case "add":
				want = new(big.Rat).Add(x, y)
			case "sub":
				want = new(big.Rat).Sub(x, y)
			case "mul":
				want = new(big.Rat).Mul(x, y)
			case "mod":
				q := new(big.Int).Quo(new(big.Int).Mul(x.Num(), y.Denom()), new(big.Int).Mul(y.Num(), x.Denom()))
				want = new(big.Rat).Sub(x, new(big.Rat).Mul(new(big.Rat).SetInt(q), y))
			}
			got := show(out, k.Ret, i)
			if w := want.FloatString(int(k.Ret.Scale)); got != w {
				t.Fatalf("%s(%s, %s) row %d: got %s want %s", tc.op, av[i], bv[i], i, got, w)
			}
		}
		out.Release()
		a.Release()
		b.Release()
	}
}

func TestU128QuoRem(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	two128 := new(big.Int).Lsh(big.NewInt(1), 128)
	toBig := func(u u128) *big.Int {
		return new(big.Int).Add(new(big.Int).Lsh(new(big.Int).SetUint64(u.hi), 64), new(big.Int).SetUint64(u.lo))
	}
	for i := 0; i < 20000; i++ {
		a := u128{rng.Uint64() >> uint(rng.Intn(64)), rng.Uint64()}
		d := u128{rng.Uint64() >> uint(rng.Intn(65)), rng.Uint64() >> uint(rng.Intn(64))}
		if i%3 == 0 {
			d.hi = 0
		}
		if d.isZero() {
			continue
		}
		q, r := a.quoRem(d)
		wq, wr := new(big.Int).QuoRem(toBig(a), toBig(d), new(big.Int))
		if toBig(q).Cmp(wq) != 0 || toBig(r).Cmp(wr) != 0 {
			t.Fatalf("%v / %v: got %v r %v, want %v r %v", toBig(a), toBig(d), toBig(q), toBig(r), wq, wr)
		}
		p, ovf := a.mul(d)
		wp := new(big.Int).Mul(toBig(a), toBig(d))
		if ovf != (wp.Cmp(two128) >= 0) || (!ovf && toBig(p).Cmp(wp) != 0) {
			t.Fatalf("%v * %v: got %v ovf %v, want %v", toBig(a), toBig(d), toBig(p), ovf, wp)
		}
	}
}

func TestDateArith(t *testing.T) {
	cases := []kcase{
		{"date + int", "add", []col{c(TDate, "2020-02-28", nil), c(TInt32, 1, 2)}, "2020-02-29,NULL"},
		{"int + date", "add", []col{c(TInt32, 3), c(TDate, "2020-12-30")}, "2021-01-02"},
		{"date - int", "sub", []col{c(TDate, "2020-03-01"), c(TInt32, 1)}, "2020-02-29"},
		{"date - bigint", "sub", []col{c(TDate, "2020-03-01"), c(TInt64, 366)}, "2019-03-01"},
		{"date - date", "sub", []col{c(TDate, "2020-03-01", "2019-01-01"), c(TDate, "2020-01-01")}, "60,-365"},
		{"date + month end", "add", []col{c(TDate, "2020-01-31", "2021-01-31", "2020-03-31"), c(TInterval, "1 month")}, "2020-02-29 00:00:00,2021-02-28 00:00:00,2020-04-30 00:00:00"},
		{"date - interval", "sub", []col{c(TDate, "2020-03-31"), c(TInterval, "1 month 1 day")}, "2020-02-28 00:00:00"},
		{"interval + date", "add", []col{c(TInterval, "1 year 2 hours"), c(TDate, "2020-02-29")}, "2021-02-28 02:00:00"},
		{"ts + interval", "add", []col{c(TTimestamp, "2020-01-31 10:30:00"), c(TInterval, "1 mon 1 day 01:00:00.5")}, "2020-03-01 11:30:00.5"},
		{"ts - interval", "sub", []col{c(TTimestamp, "2020-03-31 00:00:00"), c(TInterval, "1 month")}, "2020-02-29 00:00:00"},
		{"ts - interval negative", "sub", []col{c(TTimestamp, "2020-01-01 00:00:00"), c(TInterval, "-36 months")}, "2023-01-01 00:00:00"},
		{"interval + ts", "add", []col{c(TInterval, "2 days"), c(TTimestamp, "1969-12-31 23:00:00")}, "1970-01-02 23:00:00"},
		{"ts - ts", "sub", []col{c(TTimestamp, "2020-03-01 12:00:00", "2020-01-01 00:00:00"), c(TTimestamp, "2020-01-01 00:00:00", "2020-01-02 06:00:00")}, "60 days 12:00:00,-1 days -06:00:00"},
		{"iv + iv", "add", []col{c(TInterval, "1 month 2 days"), c(TInterval, "1 year 03:00:00")}, "1 year 1 mon 2 days 03:00:00"},
		{"iv - iv", "sub", []col{c(TInterval, "1 day"), c(TInterval, "2 days")}, "-1 days"},
		{"iv * int", "mul", []col{c(TInterval, "1 mon 2 days 00:00:01"), c(TInt64, 3)}, "3 mons 6 days 00:00:03"},
		{"int * iv", "mul", []col{c(TInt32, 2), c(TInterval, "1 hour")}, "02:00:00"},
		{"iv * float", "mul", []col{c(TInterval, "1 month", "1 day"), c(TFloat64, 1.5)}, "1 mon 15 days,1 day 12:00:00"},
		{"float * iv", "mul", []col{c(TFloat64, 0.5), c(TInterval, "1 year")}, "6 mons"},
		{"iv / float", "div", []col{c(TInterval, "3 days"), c(TFloat64, 2.0)}, "1 day 12:00:00"},
		{"iv / zero", "div", []col{c(TInterval, "3 days"), c(TFloat64, 0.0)}, "error: division by zero"},
		{"iv overflow", "mul", []col{c(TInterval, "1000000000 months"), c(TInt64, 10)}, "error: interval out of range"},
		{"neg iv", "neg", []col{c(TInterval, "1 day -02:00:00")}, "-1 days +02:00:00"},
		{"date overflow", "add", []col{c(TDate, "2020-01-01"), c(TInt64, int64(math.MaxInt32))}, "error: date out of range"},
	}
	runCases(t, cases)
}

// TestDecimalBatchFastPathBound: products just past 63 bits must leave
// the batch fast path and come out exact.
func TestDecimalBatchFastPathBound(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	k, err := Default.Resolve("mul", []Type{dec(20, 0), dec(20, 0)}, "")
	if err != nil {
		t.Fatal(err)
	}
	a := mk(t, mem, dec(20, 0), "4294967296", "3", "-4294967296")
	b := mk(t, mem, dec(20, 0), "2147483648", "5", "2147483649")
	defer a.Release()
	defer b.Release()
	out, err := k.Exec(&Context{Alloc: mem}, []arrow.Array{a, b}, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	for i, want := range []string{"9223372036854775808", "15", "-9223372041149743104"} {
		if got := show(out, k.Ret, i); got != want {
			t.Errorf("row %d: got %s want %s", i, got, want)
		}
	}
}
