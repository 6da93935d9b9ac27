package kernels

import "testing"

func TestCommonType(t *testing.T) {
	for _, tc := range []struct {
		a, b Type
		want Type
		ok   bool
	}{
		{TInt32, TInt32, TInt32, true},
		{TNull, TDate, TDate, true},
		{TString, TNull, TString, true},
		{TInt16, TInt32, TInt32, true},
		{TInt64, TInt16, TInt64, true},
		{TInt32, dec(15, 2), dec(15, 2), true},
		{TInt64, dec(15, 2), dec(21, 2), true},
		{dec(5, 0), TInt16, dec(5, 0), true},
		{TInt16, dec(3, 1), dec(6, 1), true},
		{dec(15, 2), dec(10, 3), dec(16, 3), true},
		{dec(38, 0), dec(10, 5), dec(38, 5), true},
		{TInt32, TFloat64, TFloat64, true},
		{TFloat32, TFloat32, TFloat32, true},
		{TFloat32, TInt16, TFloat64, true},
		{dec(10, 2), TFloat32, TFloat64, true},
		{TDate, TTimestamp, TTimestamp, true},
		{TTimestamp, TDate, TTimestamp, true},
		{TBool, TBool, TBool, true},
		{TInterval, TInterval, TInterval, true},
		{TString, TInt32, Type{}, false},
		{TBool, TInt32, Type{}, false},
		{TDate, TInt32, Type{}, false},
		{TInterval, TTimestamp, Type{}, false},
	} {
		got, ok := CommonType(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("CommonType(%s, %s) = %s, %v; want %s, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
		if ok {
			// the common type must be reachable implicitly from both sides
			if !CanImplicitCast(tc.a, got) || !CanImplicitCast(tc.b, got) {
				t.Errorf("CommonType(%s, %s) = %s is not implicitly reachable", tc.a, tc.b, got)
			}
		}
	}
}

func TestCanImplicitCast(t *testing.T) {
	for _, tc := range []struct {
		from, to Type
		want     bool
	}{
		{TInt16, TInt64, true},
		{TInt64, TInt32, false},
		{TInt32, TFloat32, true},
		{TInt32, dec(10, 0), true},
		{TInt32, dec(9, 0), false},
		{TInt64, dec(15, 2), false},
		{dec(10, 2), dec(12, 3), true},
		{dec(10, 2), dec(10, 3), false},
		{dec(10, 2), dec(10, 1), false},
		{dec(10, 2), TFloat64, true},
		{dec(10, 2), TInt64, false},
		{TFloat32, TFloat64, true},
		{TFloat64, TFloat32, false},
		{TFloat64, dec(38, 10), false},
		{TDate, TTimestamp, true},
		{TTimestamp, TDate, false},
		{TNull, TInterval, true},
		{TString, TDate, false},
		{TBool, TInt32, false},
	} {
		if got := CanImplicitCast(tc.from, tc.to); got != tc.want {
			t.Errorf("CanImplicitCast(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}
