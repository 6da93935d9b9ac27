package kernels

import (
	"math"
	"testing"
)

func TestMath(t *testing.T) {
	F := TFloat64
	cases := []kcase{
		{"round float", "round", []col{c(F, 2.5, -2.5, 1.4, nil)}, "3,-3,1,NULL"},
		{"round float digits", "round", []col{c(F, 1.2345, -1.2355, 1234.5), c(TInt32, 2, 3, -2)}, "1.23,-1.236,1200"},
		{"round int", "round", []col{c(TInt32, 5, nil)}, "5,NULL"},
		{"rows=3 round int const", "round", []col{c(TInt64, 7)}, "7,7,7"},
		{"round real", "round", []col{c(TFloat32, 2.5)}, "3"},
		{"round decimal", "round", []col{c(dec(10, 2), "2.50", "-2.50", "2.49", "9.99")}, "3,-3,2,10"},
		{"round decimal digits", "round", []col{c(dec(10, 3), "2.345", "-2.345", "9.999", "1.5"), c(TInt64, 2)}, "2.350,-2.350,10.000,1.500"},
		{"round decimal negative digits", "round", []col{c(dec(10, 1), "1250.0", "1249.9"), c(TInt64, -2)}, "1300.0,1200.0"},
		{"round decimal digits overflow", "round", []col{c(dec(38, 0), "99999999999999999999999999999999999999"), c(TInt64, -1)}, "error: numeric field overflow"},
		{"trunc float", "trunc", []col{c(F, 2.7, -2.7)}, "2,-2"},
		{"trunc decimal", "trunc", []col{c(dec(10, 2), "2.79", "-2.79")}, "2,-2"},
		{"trunc decimal digits", "trunc", []col{c(dec(10, 3), "2.799", "-2.799"), c(TInt32, 1)}, "2.700,-2.700"},
		{"floor", "floor", []col{c(F, 2.7, -2.3)}, "2,-3"},
		{"floor decimal wide", "floor", []col{c(dec(38, 38), "-0.5", "0.5")}, "-1,0"},
		{"floor decimal", "floor", []col{c(dec(5, 2), "2.70", "-2.30", "-2.00", "-0.50")}, "2,-3,-2,-1"},
		{"ceil", "ceil", []col{c(F, 2.1, -2.7)}, "3,-2"},
		{"ceiling decimal", "ceiling", []col{c(dec(3, 2), "2.01", "-2.70", "9.99")}, "3,-2,10"},
		{"sqrt", "sqrt", []col{c(F, 4.0, 2.25, nil)}, "2,1.5,NULL"},
		{"sqrt int", "sqrt", []col{c(TInt64, 16)}, "4"},
		{"sqrt decimal", "sqrt", []col{c(dec(5, 2), "6.25")}, "2.5"},
		{"sqrt negative", "sqrt", []col{c(F, -1.0)}, "error: cannot take square root of a negative number"},
		{"sqrt negative null", "sqrt", []col{c(F, nil, 4.0)}, "NULL,2"},
		{"power", "power", []col{c(F, 2.0, 4.0), c(F, 10.0, 0.5)}, "1024,2"},
		{"pow int", "pow", []col{c(TInt32, 2), c(TInt32, 3)}, "8"},
		{"power zero neg", "power", []col{c(F, 0.0), c(F, -1.0)}, "error: zero raised to a negative power is undefined"},
		{"power complex", "power", []col{c(F, -8.0), c(F, 0.5)}, "error: complex"},
		{"power overflow", "power", []col{c(F, 10.0), c(F, 400.0)}, "error: value out of range: overflow"},
		{"ln", "ln", []col{c(F, 1.0, math.E)}, "0,1"},
		{"ln zero", "ln", []col{c(F, 0.0)}, "error: cannot take logarithm of zero"},
		{"ln negative", "ln", []col{c(F, -1.0)}, "error: cannot take logarithm of a negative number"},
		{"log10", "log10", []col{c(F, 1000.0)}, "3"},
		{"log", "log", []col{c(F, 100.0)}, "2"},
		{"exp", "exp", []col{c(F, 0.0)}, "1"},
		{"exp overflow", "exp", []col{c(F, 1000.0)}, "error: value out of range: overflow"},
		{"sign", "sign", []col{c(F, -2.5, 0.0, 3.0)}, "-1,0,1"},
		{"sign int", "sign", []col{c(TInt32, -7, 0, 9)}, "-1,0,1"},
		{"sign decimal", "sign", []col{c(dec(5, 2), "-0.01", "0.00")}, "-1,0"},
		{"greatest", "greatest", []col{c(TInt64, 1, nil, nil), c(TInt64, 5, 2, nil), c(TInt64, 3)}, "5,3,3"},
		{"greatest all null", "greatest", []col{c(TInt64, nil, 1), c(TInt64, nil, nil)}, "NULL,1"},
		{"least", "least", []col{c(TFloat64, 1.5, math.NaN()), c(TFloat64, 0.5, 2.0)}, "0.5,2"},
		{"greatest nan", "greatest", []col{c(TFloat64, 1.5, math.NaN()), c(TFloat64, 0.5, 2.0)}, "1.5,NaN"},
		{"greatest decimal scales", "greatest", []col{c(dec(5, 2), "1.50", "3.00"), c(dec(6, 3), "1.501", "2.999")}, "1.501,3.000"},
		{"least string", "least", []col{c(TString, "b", nil), c(TString, "a", "z")}, "a,z"},
		{"greatest date", "greatest", []col{c(TDate, "2020-01-01"), c(TDate, "2019-01-01", "2021-01-01")}, "2020-01-01,2021-01-01"},
		{"greatest mixed fails", "greatest", []col{c(TInt64, 1), c(TInt32, 2)}, "error: does not exist"},
	}
	runCases(t, cases)
}
