package kernels

import (
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type castCase struct {
	from Type
	vals []any
	to   Type
	want string // rendered result or "error: <substring>"
}

func runCasts(t *testing.T, cases []castCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.from.String()+"->"+tc.to.String(), func(t *testing.T) {
			mem := newMem(t)
			defer mem.AssertSize(t, 0)
			in := mk(t, mem, tc.from, tc.vals...)
			defer in.Release()
			out, err := Cast(&Context{Alloc: mem}, in, tc.from, tc.to)
			got := ""
			if err != nil {
				got = "error: " + err.Error()
			} else {
				defer out.Release()
				if !arrow.TypeEqual(out.DataType(), tc.to.Arrow()) {
					t.Fatalf("result type %s, want %s", out.DataType(), tc.to.Arrow())
				}
				got = showAll(out, tc.to)
			}
			if strings.HasPrefix(tc.want, "error: ") {
				if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, tc.want[7:]) {
					t.Fatalf("cast %v: got %q, want %q", tc.vals, got, tc.want)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("cast %v: got %q, want %q", tc.vals, got, tc.want)
			}
		})
	}
}

func TestCastNumeric(t *testing.T) {
	runCasts(t, []castCase{
		{TInt16, []any{1, -2, nil}, TInt64, "1,-2,NULL"},
		{TInt64, []any{70000, nil}, TInt32, "70000,NULL"},
		{TInt64, []any{1, 70000}, TInt16, "error: smallint out of range"},
		{TInt64, []any{int64(1) << 40}, TInt32, "error: integer out of range"},
		{TInt32, []any{-32768, 32767}, TInt16, "-32768,32767"},
		{TInt32, []any{7}, TFloat64, "7"},
		{TInt64, []any{int64(1) << 53}, TFloat32, "9.007199e+15"},
		{TFloat64, []any{2.5, 3.5, -2.5, -0.4, nil}, TInt32, "2,4,-2,0,NULL"},
		{TFloat64, []any{1e10}, TInt32, "error: integer out of range"},
		{TFloat64, []any{math.NaN()}, TInt64, "error: bigint out of range"},
		{TFloat64, []any{9.2233720368547e18}, TInt64, "9223372036854700032"},
		{TFloat64, []any{9.3e18}, TInt64, "error: bigint out of range"},
		{TFloat32, []any{32767.4}, TInt16, "32767"},
		{TFloat32, []any{1.5}, TFloat64, "1.5"},
		{TFloat64, []any{0.1, math.Inf(1)}, TFloat32, "0.1,Infinity"},
		{TFloat64, []any{1e300}, TFloat32, "error: value out of range: overflow"},
		{TFloat64, []any{1e-300}, TFloat32, "error: value out of range: underflow"},
		{dec(10, 1), []any{"2.5", "-2.5", "2.4", nil}, TInt32, "3,-3,2,NULL"},
		{dec(10, 0), []any{"40000"}, TInt16, "error: smallint out of range"},
		{dec(38, 0), []any{"99999999999999999999"}, TInt64, "error: bigint out of range"},
		{dec(10, 2), []any{"1.25", "-0.05"}, TFloat64, "1.25,-0.05"},
		{dec(38, 10), []any{"1234567890123456789012345678.0123456789"}, TFloat64, "1.2345678901234569e+27"},
		{dec(10, 2), []any{"1.25"}, TFloat32, "1.25"},
		{TInt32, []any{123, -45, nil}, dec(5, 2), "123.00,-45.00,NULL"},
		{TInt32, []any{1000}, dec(5, 2), "error: numeric field overflow"},
		{TInt64, []any{math.MaxInt64}, dec(38, 10), "9223372036854775807.0000000000"},
		{TInt64, []any{math.MaxInt64}, dec(20, 2), "error: numeric field overflow"},
		{TInt16, []any{-32768}, dec(5, 0), "-32768"},
		{dec(10, 3), []any{"1.005", "-1.005", "1.004", nil}, dec(10, 2), "1.01,-1.01,1.00,NULL"},
		{dec(10, 2), []any{"123.45", "-12.34"}, dec(12, 4), "123.4500,-12.3400"},
		{dec(10, 2), []any{"123.45"}, dec(4, 2), "error: numeric field overflow"},
		{dec(38, 2), []any{"123456789012345678901234567890123456.78"}, dec(38, 1), "123456789012345678901234567890123456.8"},
		{dec(38, 2), []any{"123456789012345678901234567890123456.78"}, dec(38, 3), "error: numeric field overflow"},
		{TFloat64, []any{0.1, 2.675, -1.5, nil}, dec(10, 2), "0.10,2.68,-1.50,NULL"},
		{TFloat64, []any{1e20}, dec(10, 2), "error: numeric field overflow"},
		{TFloat64, []any{math.NaN()}, dec(10, 2), "error: cannot convert NaN to numeric"},
		{TFloat32, []any{0.1}, dec(10, 5), "0.10000"},
		{TBool, []any{true, false, nil}, TInt32, "1,0,NULL"},
		{TBool, []any{true}, dec(5, 2), "1.00"},
		{TInt64, []any{5, 0, -1, nil}, TBool, "true,false,true,NULL"},
		{TFloat64, []any{0.0, 0.5}, TBool, "false,true"},
		{dec(5, 2), []any{"0.00", "0.01"}, TBool, "false,true"},
		{TDate, []any{1}, TInt32, "error: cannot cast type date to integer"},
	})
}

func TestCastStrings(t *testing.T) {
	S := TString
	runCasts(t, []castCase{
		{S, []any{" 42 ", "-7", "+3", nil}, TInt32, "42,-7,3,NULL"},
		{S, []any{"abc"}, TInt32, `error: invalid input syntax for type integer: "abc"`},
		{S, []any{"1.5"}, TInt64, `error: invalid input syntax for type bigint: "1.5"`},
		{S, []any{"99999"}, TInt16, `error: value "99999" is out of range for type smallint`},
		{S, []any{"99999999999999999999"}, TInt64, `error: value "99999999999999999999" is out of range for type bigint`},
		{S, []any{"1.5", " NaN", "Infinity", "-inf", "1e3"}, TFloat64, "1.5,NaN,Infinity,-Infinity,1000"},
		{S, []any{"x"}, TFloat64, `error: invalid input syntax for type double precision: "x"`},
		{S, []any{"0x10"}, TFloat32, `error: invalid input syntax for type real: "0x10"`},
		{S, []any{"1e40"}, TFloat32, `error: "1e40" is out of range for type real`},
		{S, []any{" 1.235 ", "-1.235", "1e2", ".5", "5.", "-0.004", "000123.4500"}, dec(10, 2), "1.24,-1.24,100.00,0.50,5.00,0.00,123.45"},
		{S, []any{"1.5e-1", "12345678.994999"}, dec(10, 2), "0.15,12345678.99"},
		{S, []any{"abc"}, dec(10, 2), `error: invalid input syntax for type numeric: "abc"`},
		{S, []any{"1.2.3"}, dec(10, 2), `error: invalid input syntax for type numeric: "1.2.3"`},
		{S, []any{"1e"}, dec(10, 2), `error: invalid input syntax for type numeric`},
		{S, []any{"12345"}, dec(5, 2), "error: numeric field overflow"},
		{S, []any{"99999999999999999999999999999999999999"}, dec(38, 0), "99999999999999999999999999999999999999"},
		{S, []any{"t", "TRUE", "yes", "on", "1", " y ", "f", "No", "off", "0", "fa", nil}, TBool, "true,true,true,true,true,true,false,false,false,false,false,NULL"},
		{S, []any{"maybe"}, TBool, `error: invalid input syntax for type boolean: "maybe"`},
		{S, []any{"o"}, TBool, `error: invalid input syntax for type boolean: "o"`},
		{S, []any{"2020-02-29", " 2020-1-5 ", "2020-01-01 10:00:00", "0044-03-15 BC", nil}, TDate, "2020-02-29,2020-01-05,2020-01-01,0044-03-15 BC,NULL"},
		{S, []any{"2020-02-30"}, TDate, `error: date/time field value out of range: "2020-02-30"`},
		{S, []any{"abc"}, TDate, `error: invalid input syntax for type date: "abc"`},
		{S, []any{"2020-01-01 10:00", "2020-01-01T10:00:00.5", "2020-01-01", "2020-01-01 10:00:00+02", "1969-12-31 23:59:59.999999"}, TTimestamp,
			"2020-01-01 10:00:00,2020-01-01 10:00:00.5,2020-01-01 00:00:00,2020-01-01 10:00:00,1969-12-31 23:59:59.999999"},
		{S, []any{"2020-01-01 25:00"}, TTimestamp, `error: date/time field value out of range`},
		{S, []any{"2020-01-01 10:00 junk"}, TTimestamp, `error: invalid input syntax for type timestamp: "2020-01-01 10:00 junk"`},
		{S, []any{"1 year", "3 months", "2 days", "1 day 02:00:00", "10 hours", "1.5 days", "-1 day +02:00", "@ 1 day ago", "P1Y2M3DT4H5M6S", "1 week", "90 minutes", "1.5 years", "00:00:00.5", "5"}, TInterval,
			"1 year,3 mons,2 days,1 day 02:00:00,10:00:00,1 day 12:00:00,-1 days +02:00:00,-1 days,1 year 2 mons 3 days 04:05:06,7 days,01:30:00,1 year 6 mons,00:00:00.5,00:00:05"},
		{S, []any{"abc"}, TInterval, `error: invalid input syntax for type interval: "abc"`},
		{S, []any{"1 fortnight"}, TInterval, `error: invalid input syntax for type interval`},
	})
}

func TestCastToString(t *testing.T) {
	S := TString
	runCasts(t, []castCase{
		{TBool, []any{true, false, nil}, S, "true,false,NULL"},
		{TInt16, []any{-5}, S, "-5"},
		{TInt32, []any{42}, S, "42"},
		{TInt64, []any{math.MinInt64}, S, "-9223372036854775808"},
		{TFloat64, []any{1e6, 0.1, 1.5e-7, math.NaN(), math.Inf(-1), 123456.0}, S, "1e+06,0.1,1.5e-07,NaN,-Infinity,123456"},
		{TFloat32, []any{0.1}, S, "0.1"},
		{dec(10, 2), []any{"0.05", "-0.05", "123.40", "0.00", "-12.00"}, S, "0.05,-0.05,123.40,0.00,-12.00"},
		{dec(5, 0), []any{"-123"}, S, "-123"},
		{dec(38, 4), []any{"-12345678901234567890123456789012.3456"}, S, "-12345678901234567890123456789012.3456"},
		{dec(38, 38), []any{"0.00000000000000000000000000000000000012"}, S, "0.00000000000000000000000000000000000012"},
		{TDate, []any{"2020-02-29", "0001-01-01"}, S, "2020-02-29,0001-01-01"},
		{TTimestamp, []any{"2020-02-29 01:02:03", "2020-02-29 01:02:03.25"}, S, "2020-02-29 01:02:03,2020-02-29 01:02:03.25"},
		{TInterval, []any{"1 year 2 mons 3 days 04:05:06.5", "-1 day -02:00:00", "0 days"}, S, "1 year 2 mons 3 days 04:05:06.5,-1 days -02:00:00,00:00:00"},
	})
}

func TestCastDateTime(t *testing.T) {
	runCasts(t, []castCase{
		{TDate, []any{"2020-01-01", "1969-12-31", nil}, TTimestamp, "2020-01-01 00:00:00,1969-12-31 00:00:00,NULL"},
		{TTimestamp, []any{"2020-01-01 23:59:59", "1969-12-31 23:00:00"}, TDate, "2020-01-01,1969-12-31"},
		{TTimestamp, []any{"2020-01-01 00:00:00"}, TInterval, "error: cannot cast"},
	})
}

// withNulls rebuilds arr with the rows in mask set to NULL, keeping the
// values underneath (which kernels must then ignore).
func withNulls(mem memory.Allocator, arr arrow.Array, mask ...int) arrow.Array {
	bits := AllocBits(mem, arr.Len())
	for i := 0; i < arr.Len(); i++ {
		bits.Bytes()[i/8] |= 1 << (i % 8)
	}
	for _, i := range mask {
		bits.Bytes()[i/8] &^= 1 << (i % 8)
	}
	bufs := append([]*memory.Buffer{bits}, arr.Data().Buffers()[1:]...)
	data := array.NewData(arr.DataType(), arr.Len(), bufs, nil, len(mask), 0)
	defer data.Release()
	bits.Release()
	return array.MakeFromData(data)
}

func TestCastIgnoresNullGarbage(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	ctx := &Context{Alloc: mem}
	raw := mk(t, mem, TInt64, 1, 70000)
	defer raw.Release()
	in := withNulls(mem, raw, 1)
	defer in.Release()
	out, err := Cast(ctx, in, TInt64, TInt16)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := showAll(out, TInt16); got != "1,NULL" {
		t.Fatalf("got %s", got)
	}
	// and the arithmetic kernels too
	zero := mk(t, mem, TInt64, 0, 0)
	defer zero.Release()
	z := withNulls(mem, zero, 0, 1)
	defer z.Release()
	got, _, err := call(t, mem, "div", []Type{TInt64, TInt64}, []arrow.Array{in, z}, 2)
	if err != nil || got != "NULL,NULL" {
		t.Fatalf("div over NULL zeros: %q, %v", got, err)
	}
}

func TestCastSliced(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	ctx := &Context{Alloc: mem}
	a := mk(t, mem, TInt64, 1, 2, nil, 4)
	defer a.Release()
	sl := array.NewSlice(a, 1, 4)
	defer sl.Release()
	for _, to := range []Type{TInt16, TFloat64, dec(10, 2), TString, TBool} {
		out, err := Cast(ctx, sl, TInt64, to)
		if err != nil {
			t.Fatal(err)
		}
		want := map[TypeID]string{Int16: "2,NULL,4", Float64: "2,NULL,4", Decimal: "2.00,NULL,4.00", String: "2,NULL,4", Bool: "true,NULL,true"}[to.ID]
		if got := showAll(out, to); got != want {
			t.Errorf("%s: got %s want %s", to, got, want)
		}
		out.Release()
	}
	s := mk(t, mem, TString, "x", "12", nil, "7")
	defer s.Release()
	ssl := array.NewSlice(s, 1, 4)
	defer ssl.Release()
	out, err := Cast(ctx, ssl, TString, TInt32)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := showAll(out, TInt32); got != "12,NULL,7" {
		t.Fatalf("string slice: %s", got)
	}
}

func TestCastNull(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	in := array.NewNull(3)
	defer in.Release()
	for _, to := range []Type{TInt32, TString, dec(10, 2), TBool, TInterval} {
		out, err := Cast(&Context{Alloc: mem}, in, TNull, to)
		if err != nil {
			t.Fatal(err)
		}
		if out.Len() != 3 || out.NullN() != 3 || !arrow.TypeEqual(out.DataType(), to.Arrow()) {
			t.Errorf("%s: len %d nulls %d type %s", to, out.Len(), out.NullN(), out.DataType())
		}
		out.Release()
	}
}

func TestCastValue(t *testing.T) {
	for _, tc := range []struct {
		v        Value
		from, to Type
		want     string
	}{
		{Value{I: 5}, TInt64, TFloat64, "5"},
		{Value{S: "12"}, TString, TInt32, "12"},
		{Value{S: "1.5"}, TString, dec(5, 2), "1.50"},
		{Value{F: 2.5}, TFloat64, TInt16, "2"},
		{Value{I: 3}, TInt32, dec(10, 3), "3.000"},
		{NullValue, TString, TInt32, "NULL"},
		{Value{S: "2 days"}, TString, TInterval, "2 days"},
		{Value{S: "x"}, TString, TInt32, `error: invalid input syntax for type integer: "x"`},
		{Value{I: 100000}, TInt64, TInt16, "error: smallint out of range"},
	} {
		got, err := CastValue(tc.v, tc.from, tc.to)
		s := ""
		switch {
		case err != nil:
			s = "error: " + err.Error()
		case tc.to.ID == Interval:
			s = string(appendInterval(nil, arrow.MonthDayNanoInterval{Months: got.Months, Days: got.Days, Nanoseconds: got.Nanos}))
		default:
			s = got.Format(tc.to)
		}
		if s != tc.want {
			t.Errorf("CastValue(%v, %s, %s) = %q, want %q", tc.v, tc.from, tc.to, s, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	ctx := &Context{Alloc: mem}
	check := func(arr arrow.Array, want Type, rendered string) {
		t.Helper()
		defer arr.Release()
		out, typ, err := Normalize(ctx, arr)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Release()
		if typ != want || !arrow.TypeEqual(out.DataType(), want.Arrow()) {
			t.Fatalf("%s: got %s / %s", arr.DataType(), typ, out.DataType())
		}
		if got := showAll(out, typ); got != rendered {
			t.Fatalf("%s: got %s want %s", arr.DataType(), got, rendered)
		}
	}
	i8 := array.NewInt8Builder(mem)
	i8.AppendValues([]int8{-5, 7}, nil)
	i8.AppendNull()
	check(i8.NewArray(), TInt16, "-5,7,NULL")
	i8.Release()

	u64 := array.NewUint64Builder(mem)
	u64.AppendValues([]uint64{math.MaxUint64}, nil)
	check(u64.NewArray(), dec(20, 0), "18446744073709551615")
	u64.Release()

	tsb := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Millisecond})
	tsb.Append(1500)
	check(tsb.NewArray(), TTimestamp, "1970-01-01 00:00:01.5")
	tsb.Release()

	ls := array.NewLargeStringBuilder(mem)
	ls.AppendValues([]string{"a", "bc"}, nil)
	check(ls.NewArray(), TString, "a,bc")
	ls.Release()

	db := array.NewDictionaryBuilder(mem, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	db.AppendString("x")
	db.AppendString("y")
	db.AppendString("x")
	db.AppendNull()
	check(db.NewArray(), TString, "x,y,x,NULL")
	db.Release()

	// Cast accepts non-canonical input directly
	i8b := array.NewInt8Builder(mem)
	i8b.AppendValues([]int8{3}, nil)
	raw := i8b.NewArray()
	i8b.Release()
	defer raw.Release()
	out, err := Cast(ctx, raw, TInt16, TString)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := showAll(out, TString); got != "3" {
		t.Fatalf("cast int8: %s", got)
	}
}
