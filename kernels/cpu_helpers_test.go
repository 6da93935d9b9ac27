package kernels

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// tv builds a test Value of type t from a Go value: nil is NULL; strings are
// parsed for decimal, date, timestamp and interval types.
func tv(t *testing.T, typ Type, x any) Value {
	t.Helper()
	if x == nil {
		return NullValue
	}
	switch v := x.(type) {
	case bool:
		if v {
			return Value{I: 1}
		}
		return Value{}
	case int:
		return Value{I: int64(v)}
	case int64:
		return Value{I: v}
	case float64:
		return Value{F: v}
	case string:
		switch typ.ID {
		case String:
			return Value{S: v}
		case Decimal:
			d, err := ParseDecimal(v, typ.Precision, typ.Scale)
			if err != nil {
				t.Fatalf("bad decimal %q: %v", v, err)
			}
			return DecValue(d)
		case Date:
			d, _, err := parseDateTime(v, Date)
			if err != nil {
				t.Fatalf("bad date %q: %v", v, err)
			}
			return Value{I: d}
		case Timestamp:
			d, tod, err := parseDateTime(v, Timestamp)
			if err != nil {
				t.Fatalf("bad timestamp %q: %v", v, err)
			}
			return Value{I: d*usPerDay + tod}
		case Interval:
			iv, err := ParseInterval(v)
			if err != nil {
				t.Fatalf("bad interval %q: %v", v, err)
			}
			return Value{Months: iv.Months, Days: iv.Days, Nanos: iv.Nanoseconds}
		}
	}
	t.Fatalf("tv: cannot make %v from %T", typ, x)
	return Value{}
}

// mk builds an array of type typ from Go values (see tv).
func mk(t *testing.T, mem memory.Allocator, typ Type, xs ...any) arrow.Array {
	t.Helper()
	b := array.NewBuilder(mem, typ.Arrow())
	defer b.Release()
	for _, x := range xs {
		AppendValue(b, typ, tv(t, typ, x))
	}
	return b.NewArray()
}

// show renders element i of arr like PostgreSQL output ("NULL" for NULL).
func show(arr arrow.Array, typ Type, i int) string {
	if arr.IsNull(i) {
		return "NULL"
	}
	v := ValueAt(arr, typ, i)
	switch typ.ID {
	case Interval:
		return string(appendInterval(nil, arrow.MonthDayNanoInterval{Months: v.Months, Days: v.Days, Nanoseconds: v.Nanos}))
	case Timestamp:
		return string(appendTimestamp(nil, v.I))
	case Date:
		return string(appendDate(nil, v.I, false))
	case Decimal:
		return string(appendDecimal(nil, v.Dec, typ.Scale))
	}
	return v.Format(typ)
}

func showAll(arr arrow.Array, typ Type) string {
	parts := make([]string, arr.Len())
	for i := range parts {
		parts[i] = show(arr, typ, i)
	}
	return strings.Join(parts, ",")
}

func newMem(t *testing.T) *memory.CheckedAllocator {
	return memory.NewCheckedAllocator(memory.NewGoAllocator())
}

// call resolves name over the argument types in Default and runs it on n
// rows, returning the rendered result and the result type (or the error).
func call(t *testing.T, mem memory.Allocator, name string, types []Type, args []arrow.Array, n int) (string, Type, error) {
	t.Helper()
	k, err := Default.Resolve(name, types, "")
	if err != nil {
		return "", Type{}, err
	}
	out, err := k.Exec(&Context{Alloc: mem}, args, n)
	if err != nil {
		return "", k.Ret, err
	}
	defer out.Release()
	if out.Len() != n {
		t.Fatalf("%s: result has %d rows, want %d", name, out.Len(), n)
	}
	if !arrow.TypeEqual(out.DataType(), k.Ret.Arrow()) {
		t.Fatalf("%s: result type %s, declared %s", name, out.DataType(), k.Ret.Arrow())
	}
	return showAll(out, k.Ret), k.Ret, nil
}

// col is one argument of a table-driven kernel test.
type col struct {
	t    Type
	vals []any
}

func c(t Type, vals ...any) col { return col{t, vals} }

// kcase is a table-driven kernel test: want is the rendered result, or
// "error: <substring>" for an expected failure.
type kcase struct {
	name string
	fn   string
	args []col
	want string
}

// rowsOverride lets a case whose arguments are all constants run on more
// than one row: name it "rows=N ...".
func rowsOverride(name string) int {
	var n int
	if _, err := fmt.Sscanf(name, "rows=%d", &n); err == nil {
		return n
	}
	return 0
}

func runCases(t *testing.T, cases []kcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := newMem(t)
			defer mem.AssertSize(t, 0)
			n := 1
			types := make([]Type, len(tc.args))
			arrs := make([]arrow.Array, len(tc.args))
			for i, a := range tc.args {
				types[i] = a.t
				arrs[i] = mk(t, mem, a.t, a.vals...)
				defer arrs[i].Release()
				if len(a.vals) != 1 {
					n = len(a.vals)
				}
			}
			if r := rowsOverride(tc.name); r > 0 {
				n = r
			}
			got, _, err := call(t, mem, tc.fn, types, arrs, n)
			if err != nil {
				got = "error: " + err.Error()
			}
			if strings.HasPrefix(tc.want, "error: ") {
				if !strings.HasPrefix(got, "error: ") || !strings.Contains(got, tc.want[7:]) {
					t.Fatalf("%s: got %q, want %q", tc.fn, got, tc.want)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("%s%v: got %q, want %q", tc.fn, fmtArgs(tc.args), got, tc.want)
			}
		})
	}
}

func fmtArgs(cs []col) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprint(c.vals)
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

func dec(p, s int32) Type { return DecimalType(p, s) }
