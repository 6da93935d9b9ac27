package kernels

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func TestStringFuncs(t *testing.T) {
	S := TString
	cases := []kcase{
		{"concat", "concat", []col{c(S, "ab", "", nil), c(S, "cd", "x", "y")}, "abcd,x,NULL"},
		{"concat const left", "concat", []col{c(S, "pre-"), c(S, "a", "b")}, "pre-a,pre-b"},
		{"upper", "upper", []col{c(S, "abc Xy", "straße", nil)}, "ABC XY,STRAßE,NULL"},
		{"lower", "lower", []col{c(S, "ÀBC", "MiXeD")}, "àbc,mixed"},
		{"initcap", "initcap", []col{c(S, "hello wORLD", "o'neil 2nd-time")}, "Hello World,O'Neil 2nd-Time"},
		{"length", "length", []col{c(S, "héllo", "", nil)}, "5,0,NULL"},
		{"char_length", "char_length", []col{c(S, "日本")}, "2"},
		{"character_length", "character_length", []col{c(S, "ab")}, "2"},
		{"octet_length", "octet_length", []col{c(S, "héllo")}, "6"},
		{"substring from", "substring", []col{c(S, "hello"), c(TInt64, 2, -1, 0, 6, 5)}, "ello,hello,hello,,o"},
		{"substring count", "substring", []col{c(S, "hello"), c(TInt64, 0, 1, 2, -3, 4), c(TInt64, 3)}, "he,hel,ell,,lo"},
		{"substring count int32", "substring", []col{c(S, "héllo", "ab"), c(TInt32, 2), c(TInt32, 2)}, "él,b"},
		{"substring zero count", "substring", []col{c(S, "hello"), c(TInt64, 2), c(TInt64, 0)}, ""},
		{"substring negative count", "substring", []col{c(S, "hello"), c(TInt64, 2), c(TInt64, -1)}, "error: negative substring length not allowed"},
		{"substring negative count null", "substring", []col{c(S, nil), c(TInt64, 2), c(TInt64, -1)}, "NULL"},
		{"substr", "substr", []col{c(S, "hello"), c(TInt64, 4)}, "lo"},
		{"btrim", "btrim", []col{c(S, "  a b  ", "\tx ")}, "a b,\tx"},
		{"btrim set", "btrim", []col{c(S, "xxyhixy"), c(S, "xy")}, "hi"},
		{"ltrim", "ltrim", []col{c(S, "  a  ")}, "a  "},
		{"rtrim set", "rtrim", []col{c(S, "hi!!??"), c(S, "?!")}, "hi"},
		{"replace", "replace", []col{c(S, "abcabc", "aaa", "x", nil), c(S, "b"), c(S, "XY")}, "aXYcaXYc,aaa,x,NULL"},
		{"replace empty from", "replace", []col{c(S, "abc"), c(S, ""), c(S, "z")}, "abc"},
		{"replace to empty", "replace", []col{c(S, "aaa"), c(S, "a"), c(S, "")}, ""},
		{"strpos", "strpos", []col{c(S, "héllo", "abc", "abc"), c(S, "llo", "z", "")}, "3,0,1"},
		{"position", "position", []col{c(S, "abcabc"), c(S, "ca")}, "3"},
		{"left", "left", []col{c(S, "héllo"), c(TInt64, 2, -2, 0, 10, -10)}, "hé,hél,,héllo,"},
		{"right", "right", []col{c(S, "héllo"), c(TInt64, 2, -2, 0, 10, -10)}, "lo,llo,,héllo,"},
		{"starts_with", "starts_with", []col{c(S, "hello", "he", nil), c(S, "he", "hello", "h")}, "true,false,NULL"},
		{"lpad", "lpad", []col{c(S, "hi", "hello", "hi"), c(TInt64, 5, 2, 0)}, "   hi,he,"},
		{"lpad fill", "lpad", []col{c(S, "hi"), c(TInt32, 7), c(S, "xy")}, "xyxyxhi"},
		{"lpad empty fill", "lpad", []col{c(S, "hi"), c(TInt32, 7), c(S, "")}, "hi"},
		{"rpad fill", "rpad", []col{c(S, "hi", "日本語"), c(TInt64, 5, 2), c(S, "é")}, "hiééé,日本"},
		{"repeat", "repeat", []col{c(S, "ab", "x", "y"), c(TInt64, 3, 0, -1)}, "ababab,,"},
		{"repeat too large", "repeat", []col{c(S, "ab"), c(TInt64, 1<<40)}, "error: requested length too large"},
		{"reverse", "reverse", []col{c(S, "abc", "héllo", "")}, "cba,olléh,"},
		{"no such signature", "upper", []col{c(TInt64, 1)}, "error: does not exist"},
	}
	runCases(t, cases)
}

func TestStringLargeOutput(t *testing.T) {
	// many rows force the output buffer to grow several times
	mem := newMem(t)
	defer mem.AssertSize(t, 0)
	vals := make([]any, 3000)
	for i := range vals {
		vals[i] = strings.Repeat("x", i%50)
	}
	a := mk(t, mem, TString, vals...)
	defer a.Release()
	got, _, err := call(t, mem, "upper", []Type{TString}, []arrow.Array{a}, len(vals))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(got, ",")
	for i, p := range parts {
		if p != strings.Repeat("X", i%50) {
			t.Fatalf("row %d: %q", i, p)
		}
	}
}
