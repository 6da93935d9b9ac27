package kernels

import (
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

func TestCompare(t *testing.T) {
	nan := math.NaN()
	inf := math.Inf(1)
	cases := []kcase{
		{"int16 lt", "lt", []col{c(TInt16, 1, 2, 3, nil), c(TInt16, 2, 2, 2, 2)}, "true,false,false,NULL"},
		{"int32 eq", "eq", []col{c(TInt32, 1, 2, nil), c(TInt32, 1, 3, 1)}, "true,false,NULL"},
		{"int64 ge const right", "ge", []col{c(TInt64, 1, 2, 3, nil, 5), c(TInt64, 3)}, "false,false,true,NULL,true"},
		{"int64 lt const left", "lt", []col{c(TInt64, 3), c(TInt64, 1, 2, 3, 4, 5)}, "false,false,false,true,true"},
		{"int64 le const left", "le", []col{c(TInt64, 3), c(TInt64, 1, 3, 4)}, "false,true,true"},
		{"int64 ne", "ne", []col{c(TInt64, 1, 2), c(TInt64, 1, 3)}, "false,true"},
		{"int64 gt", "gt", []col{c(TInt64, 1, 4), c(TInt64, 1, 3)}, "false,true"},
		{"null const", "eq", []col{c(TInt64, 1, 2, 3), c(TInt64, nil)}, "NULL,NULL,NULL"},
		{"rows=3 both const broadcast", "lt", []col{c(TInt32, 1), c(TInt32, 2)}, "true,true,true"},
		{"rows=2 both const false", "gt", []col{c(TInt32, 1), c(TInt32, 2)}, "false,false"},
		{"rows=2 both const string", "eq", []col{c(TString, "a"), c(TString, "a")}, "true,true"},
		{"float nan eq", "eq", []col{c(TFloat64, nan, nan, 1.0, 0.0), c(TFloat64, nan, 1.0, nan, -0.0)}, "true,false,false,true"},
		{"float nan greatest", "gt", []col{c(TFloat64, nan, 1.0, inf), c(TFloat64, inf, nan, 1.0)}, "true,false,true"},
		{"float nan const", "lt", []col{c(TFloat64, 1.0, nan, inf), c(TFloat64, nan)}, "true,false,true"},
		{"float32 le", "le", []col{c(TFloat32, 1.5, 2.5), c(TFloat32, 2.5)}, "true,true"},
		{"float no nan", "ge", []col{c(TFloat64, 1.5, 2.5, 3.5), c(TFloat64, 2.5)}, "false,true,true"},
		{"decimal scales", "eq", []col{c(dec(15, 2), "1.50", "2.00", "3.10"), c(dec(10, 3), "1.500", "2.001", "3.100")}, "true,false,true"},
		{"decimal lt const", "lt", []col{c(dec(15, 2), "0.04", "0.05", "0.06", nil), c(dec(3, 2), "0.05")}, "true,false,false,NULL"},
		{"decimal wide", "gt", []col{c(dec(38, 2), "12345678901234567890123.45", "-1.00"), c(dec(38, 10), "12345678901234567890123.4499999999", "-0.9999999999")}, "true,false"},
		{"decimal overflowing rescale", "lt", []col{c(dec(38, 0), "99999999999999999999999999999999999999", "-99999999999999999999999999999999999999"), c(dec(38, 37), "1.5", "-1.5")}, "false,true"},
		{"decimal negative", "le", []col{c(dec(10, 2), "-1.25", "-1.24"), c(dec(10, 2), "-1.25")}, "true,false"},
		{"date", "lt", []col{c(TDate, "2020-01-01", "2021-06-30"), c(TDate, "2020-06-01")}, "true,false"},
		{"timestamp", "ge", []col{c(TTimestamp, "2020-01-01 10:00:00", "2020-01-01 09:59:59.999999"), c(TTimestamp, "2020-01-01 10:00:00")}, "true,false"},
		{"string", "lt", []col{c(TString, "abc", "abd", "ab", "b", nil), c(TString, "abd")}, "true,false,true,false,NULL"},
		{"string eq const", "eq", []col{c(TString, "abc", "abd", ""), c(TString, "abd")}, "false,true,false"},
		{"string ne const left", "ne", []col{c(TString, "abd"), c(TString, "abc", "abd")}, "true,false"},
		{"string gt const left", "gt", []col{c(TString, "b"), c(TString, "a", "c")}, "true,false"},
		{"string bytewise", "lt", []col{c(TString, "Z", "é"), c(TString, "a", "z")}, "true,false"},
		{"string vv", "ge", []col{c(TString, "x", "a"), c(TString, "x", "b")}, "true,false"},
		{"bool", "lt", []col{c(TBool, false, true, false), c(TBool, true, true, false)}, "true,false,false"},
		{"bool eq const", "eq", []col{c(TBool, false, true, nil), c(TBool, true)}, "false,true,NULL"},
		{"interval eq", "eq", []col{c(TInterval, "1 month", "1 day", "1 day"), c(TInterval, "30 days", "24 hours", "1 day 00:00:01")}, "true,true,false"},
		{"interval lt", "lt", []col{c(TInterval, "1 year", "-1 day"), c(TInterval, "13 months", "1 hour")}, "true,true"},
		{"mixed types unsupported", "eq", []col{c(TInt32, 1), c(TInt64, 1)}, "error: does not exist"},
	}
	runCases(t, cases)
}

func TestCompareSlicedInputs(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	a := mk(t, mem, TInt64, 0, 1, 2, nil, 4, 5, 6, 7, 8, 9, 10)
	defer a.Release()
	sl := array.NewSlice(a, 2, 11)
	defer sl.Release()
	b := mk(t, mem, TInt64, 5)
	defer b.Release()
	got, _, err := call(t, mem, "lt", []Type{TInt64, TInt64}, []arrow.Array{sl, b}, 9)
	if err != nil {
		t.Fatal(err)
	}
	if want := "true,NULL,true,false,false,false,false,false,false"; got != want {
		t.Fatalf("got %s want %s", got, want)
	}

	bs := mk(t, mem, TBool, true, false, true, nil, false)
	defer bs.Release()
	bsl := array.NewSlice(bs, 1, 5)
	defer bsl.Release()
	bc := mk(t, mem, TBool, false)
	defer bc.Release()
	got, _, err = call(t, mem, "eq", []Type{TBool, TBool}, []arrow.Array{bsl, bc}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := "true,false,NULL,true"; got != want {
		t.Fatalf("bool slice: got %s want %s", got, want)
	}
}

// TestCompareRandom checks every operator and broadcast shape on columns
// long enough for the packed loops against a row-by-row reference.
func TestCompareRandom(t *testing.T) {
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewSource(4))
	const n = 37
	gen := map[string]func() any{
		"int": func() any { return rng.Intn(5) },
		"float": func() any {
			if rng.Intn(6) == 0 {
				return math.NaN()
			}
			return float64(rng.Intn(5)) / 2
		},
		"dec": func() any { return []string{"1.5", "2", "-0.5", "2.0", "1.2"}[rng.Intn(5)] },
		"str": func() any { return []string{"a", "ab", "b", "", "é"}[rng.Intn(5)] },
	}
	types := map[string][2]Type{
		"int":   {TInt64, TInt64},
		"float": {TFloat64, TFloat64},
		"dec":   {dec(10, 2), dec(5, 1)},
		"str":   {TString, TString},
	}
	decSlow := [2]Type{dec(38, 2), dec(38, 1)}
	ref := func(kind string, x, y any) int {
		switch kind {
		case "int":
			return cmpOrd(int64(x.(int)), int64(y.(int)))
		case "float":
			return cmpFloatNaN(x.(float64), y.(float64))
		case "dec":
			fx, _ := strconv.ParseFloat(x.(string), 64)
			fy, _ := strconv.ParseFloat(y.(string), 64)
			return cmpOrd(fx, fy)
		}
		return strings.Compare(x.(string), y.(string))
	}
	for _, kind := range []string{"int", "float", "dec", "dec-slow", "str"} {
		base := strings.TrimSuffix(kind, "-slow")
		ts := types[base]
		if kind == "dec-slow" {
			ts = decSlow
		}
		for shape := 0; shape < 3; shape++ {
			la, lb := n, n
			if shape == 1 {
				lb = 1
			} else if shape == 2 {
				la = 1
			}
			av, bv := make([]any, la), make([]any, lb)
			for i := range av {
				av[i] = gen[base]()
				if rng.Intn(10) == 0 {
					av[i] = nil
				}
			}
			for i := range bv {
				bv[i] = gen[base]()
			}
			a, b := mk(t, mem, ts[0], av...), mk(t, mem, ts[1], bv...)
			for name, op := range cmpOps {
				got, _, err := call(t, mem, name, ts[:], []arrow.Array{a, b}, n)
				if err != nil {
					t.Fatal(err)
				}
				want := make([]string, n)
				for i := range want {
					x, y := av[min(i, la-1)], bv[min(i, lb-1)]
					if x == nil {
						want[i] = "NULL"
						continue
					}
					want[i] = strconv.FormatBool(op.test(ref(base, x, y)))
				}
				if w := strings.Join(want, ","); got != w {
					t.Fatalf("%s %s shape %d:\n a=%v\n b=%v\n got  %s\n want %s", kind, name, shape, av, bv, got, w)
				}
			}
			a.Release()
			b.Release()
		}
	}
}
