package harness

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

func dec(unscaled int64, width, scale uint8) duckdb.Decimal {
	return duckdb.Decimal{Width: width, Scale: scale, Value: big.NewInt(unscaled)}
}

func TestCompareValue(t *testing.T) {
	date := time.Date(1995, 3, 15, 0, 0, 0, 0, time.UTC)
	hugeSum, _ := new(big.Int).SetString("123456789012345678901", 10)
	cases := []struct {
		name   string
		got    string
		want   any
		dbType string
		ok     bool
	}{
		// strings: exact
		{"string equal", "BUILDING", "BUILDING", "VARCHAR", true},
		{"string case differs", "building", "BUILDING", "VARCHAR", false},
		{"string trailing space", "BUILDING ", "BUILDING", "VARCHAR", false},
		{"string vs empty", "", "x", "VARCHAR", false},
		{"empty string", "", "", "VARCHAR", true},
		{"bytes", "abc", []byte("abc"), "BLOB", true},
		// NULL
		{"null vs empty field", "", nil, "INTEGER", true},
		{"null vs value", "0", nil, "INTEGER", false},
		{"null vs NULL text", "NULL", nil, "VARCHAR", false},
		{"value vs null field", "", int64(0), "BIGINT", false},
		// integers
		{"int32", "42", int32(42), "INTEGER", true},
		{"int32 differs", "43", int32(42), "INTEGER", false},
		{"int64", "-7", int64(-7), "BIGINT", true},
		{"int8/16, uints", "3", uint16(3), "USMALLINT", true},
		{"int as 42.0", "42.0", int64(42), "BIGINT", true},
		{"int not a number", "forty-two", int64(42), "BIGINT", false},
		{"hugeint", "123456789012345678901", hugeSum, "HUGEINT", true},
		{"hugeint differs", "123556789012345678901", hugeSum, "HUGEINT", false},
		{"big.Int value", "5", *big.NewInt(5), "HUGEINT", true},
		// floats: 1e-6 relative or 0.01 absolute
		{"float exact", "0.5", 0.5, "DOUBLE", true},
		{"float abs tol", "1.004", 1.0, "DOUBLE", true},
		{"float abs tol edge fail", "1.02", 1.0, "DOUBLE", false},
		{"float rel tol", "1000000.5", 1000000.0, "DOUBLE", true},
		{"float rel tol fail", "1000100", 1000000.0, "DOUBLE", false},
		{"float sci notation", "2.5e+07", 25000000.0, "DOUBLE", true},
		{"float32", "0.25", float32(0.25), "FLOAT", true},
		{"nan", "NaN", math.NaN(), "DOUBLE", true},
		{"nan vs number", "1", math.NaN(), "DOUBLE", false},
		{"inf", "+Inf", math.Inf(1), "DOUBLE", true},
		{"inf sign", "-Inf", math.Inf(1), "DOUBLE", false},
		// decimals
		{"decimal", "12.50", dec(1250, 15, 2), "DECIMAL(15,2)", true},
		{"decimal no trailing zero", "12.5", dec(1250, 15, 2), "DECIMAL(15,2)", true},
		{"decimal negative", "-0.07", dec(-7, 15, 2), "DECIMAL(15,2)", true},
		{"decimal differs", "12.60", dec(1250, 15, 2), "DECIMAL(15,2)", false},
		{"decimal big sum", "38192839274.9876", dec(381928392749876, 38, 4), "DECIMAL(38,4)", true},
		{"decimal big sum off by 1", "38192839275.9876", dec(381928392749876, 38, 4), "DECIMAL(38,4)", true}, // within 1e-6 relative
		{"decimal big sum off by 1e5", "38192939274.9876", dec(381928392749876, 38, 4), "DECIMAL(38,4)", false},
		{"decimal pointer", "1.00", &duckdb.Decimal{Width: 15, Scale: 2, Value: big.NewInt(100)}, "DECIMAL(15,2)", true},
		{"decimal vs string", "abc", dec(100, 15, 2), "DECIMAL(15,2)", false},
		// dates and times
		{"date", "1995-03-15", date, "DATE", true},
		{"date other day", "1995-03-16", date, "DATE", false},
		{"date with time part", "1995-03-15 00:00:00", date, "DATE", false},
		{"date other format", "03/15/1995", date, "DATE", false},
		{"date unknown type", "1995-03-15", date, "", true},
		{"timestamp", "1995-03-15 10:20:30", time.Date(1995, 3, 15, 10, 20, 30, 0, time.UTC), "TIMESTAMP", true},
		{"timestamp T", "1995-03-15T10:20:30.5", time.Date(1995, 3, 15, 10, 20, 30, 5e8, time.UTC), "TIMESTAMP", true},
		{"timestamp differs", "1995-03-15 10:20:31", time.Date(1995, 3, 15, 10, 20, 30, 0, time.UTC), "TIMESTAMP", false},
		// bool
		{"bool", "true", true, "BOOLEAN", true},
		{"bool differs", "false", true, "BOOLEAN", false},
	}
	for _, c := range cases {
		if got := CompareValue(c.got, c.want, c.dbType); got != c.ok {
			t.Errorf("%s: CompareValue(%q, %#v, %q) = %v, want %v", c.name, c.got, c.want, c.dbType, got, c.ok)
		}
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, c := range []struct {
		d    duckdb.Decimal
		want string
	}{
		{dec(1250, 15, 2), "12.50"},
		{dec(-7, 15, 2), "-0.07"},
		{dec(5, 15, 0), "5"},
		{dec(0, 15, 2), "0.00"},
		{dec(123, 15, 4), "0.0123"},
	} {
		if got := FormatValue(c.d, ""); got != c.want {
			t.Errorf("FormatValue(%v) = %q, want %q", c.d.Value, got, c.want)
		}
	}
}

func TestCompareResults(t *testing.T) {
	date := time.Date(1998, 9, 2, 0, 0, 0, 0, time.UTC)
	want := &Result{
		Columns: []string{"l_returnflag", "sum_qty", "avg_price", "cnt", "d", "comment"},
		Types:   []string{"VARCHAR", "DECIMAL(38,2)", "DOUBLE", "BIGINT", "DATE", "VARCHAR"},
		Rows: [][]any{
			{"A", dec(3774200, 38, 2), 38273.129734621, int64(1478493), date, nil},
			{"N", dec(9550, 38, 2), 38284.467760848, int64(38854), date, "x"},
			{"R", dec(3785523, 38, 2), 38250.854626099, int64(1478870), date, ""},
		},
	}
	good := "l_returnflag,sum_qty,avg_price,cnt,d,comment\r\n" +
		"A,37742.00,38273.12973462,1478493,1998-09-02,\r\n" +
		"N,95.50,38284.4677608,38854,1998-09-02,x\r\n" +
		"R,37855.23,38250.854626099,1478870,1998-09-02,\"\"\r\n"
	parse := func(s string) *CSVResult {
		t.Helper()
		r, err := ParseCSV([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if err := CompareResults(parse(good), want); err != nil {
		t.Fatalf("expected match, got: %v", err)
	}

	bad := []struct {
		name, csv, mustContain string
	}{
		{"wrong value", strings.Replace(good, "95.50", "95.60", 1), `row 1 (0-based), column 1 "sum_qty": bellows "95.60", duckdb 95.50`},
		{"wrong string", strings.Replace(good, "\nN,", "\nO,", 1), `column 0 "l_returnflag": bellows "O", duckdb "N"`},
		{"wrong date", strings.Replace(good, "N,95.50,38284.4677608,38854,1998-09-02", "N,95.50,38284.4677608,38854,1998-09-03", 1), `bellows "1998-09-03", duckdb 1998-09-02`},
		{"null expected", strings.Replace(good, "1998-09-02,\r\n", "1998-09-02,y\r\n", 1), `duckdb NULL`},
		{"missing row", strings.Replace(good, "R,37855.23,38250.854626099,1478870,1998-09-02,\"\"\r\n", "", 1), "row count differs: bellows 2 rows, duckdb 3 rows"},
		{"extra row", good + "S,1,1,1,1998-09-02,z\r\n", "row count differs: bellows 4 rows, duckdb 3 rows"},
		{"missing column", "a,b\r\n1,2\r\n", "column count differs"},
		{"swapped order", "l_returnflag,sum_qty,avg_price,cnt,d,comment\r\n" +
			"N,95.50,38284.4677608,38854,1998-09-02,x\r\n" +
			"A,37742.00,38273.12973462,1478493,1998-09-02,\r\n" +
			"R,37855.23,38250.854626099,1478870,1998-09-02,\r\n", "different order"},
		{"no rows", "l_returnflag,sum_qty,avg_price,cnt,d,comment\r\n", "bellows 0 rows"},
	}
	for _, b := range bad {
		err := CompareResults(parse(b.csv), want)
		if err == nil {
			t.Errorf("%s: expected a mismatch, got none", b.name)
			continue
		}
		if !strings.Contains(err.Error(), b.mustContain) {
			t.Errorf("%s: diff does not mention %q:\n%v", b.name, b.mustContain, err)
		}
	}
}

func TestParseCSV(t *testing.T) {
	r, err := ParseCSV([]byte("a,b\n\"x, \"\"y\"\"\",\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Header) != 2 || len(r.Rows) != 1 || r.Rows[0][0] != `x, "y"` || r.Rows[0][1] != "" {
		t.Fatalf("bad parse: %#v", r)
	}
	if _, err := ParseCSV(nil); err == nil {
		t.Error("empty output must be rejected (no header)")
	}
	if _, err := ParseCSV([]byte("a,b\n1,2,3\n")); err == nil {
		t.Error("ragged rows must be rejected")
	}
	if _, err := ParseCSV([]byte("a,b\n1,\"2\n")); err == nil {
		t.Error("unterminated quote must be rejected")
	}
	if _, err := ParseCSV([]byte("a,b\n1,2\"x\n")); err == nil {
		t.Error("bare quote must be rejected")
	}

	// A single-column result whose rows are NULL/'' is written as empty
	// lines; they are rows, not blank lines to skip.
	for _, c := range []struct {
		in   string
		rows int
	}{
		{"revenue\n\n", 1},
		{"revenue\r\n\r\n\r\n", 2},
		{"revenue\n1\n\n2", 3},
		{"revenue\n", 0},
		{"revenue", 0},
		{"a,b\r\n\"multi\nline\",\r\n", 1},
		{"a,b\n1,", 1},
	} {
		r, err := ParseCSV([]byte(c.in))
		if err != nil {
			t.Errorf("ParseCSV(%q): %v", c.in, err)
			continue
		}
		if len(r.Rows) != c.rows {
			t.Errorf("ParseCSV(%q): %d rows %q, want %d", c.in, len(r.Rows), r.Rows, c.rows)
		}
	}
	r, _ = ParseCSV([]byte("a,b\r\n\"multi\nline\",\r\n"))
	if r.Rows[0][0] != "multi\nline" || r.Rows[0][1] != "" {
		t.Errorf("quoted newline: %q", r.Rows[0])
	}
}

func TestSplitStatements(t *testing.T) {
	script := `-- q15; a comment with ; in it
SET parallelism = 4;
create view revenue0 (supplier_no, total_revenue) as
	select l_suppkey, sum(l_extendedprice * (1 - l_discount)) from lineitem
	where l_shipdate >= date '1996-01-01' /* ; */ group by l_suppkey;
select 'a;b' as "x;y" from revenue0;
drop view revenue0;
-- trailing comment only
`
	got := SplitStatements(script)
	if len(got) != 4 {
		t.Fatalf("got %d statements: %q", len(got), got)
	}
	kinds := []bool{false, false, true, false}
	for i, s := range got {
		if ReturnsRows(s) != kinds[i] {
			t.Errorf("ReturnsRows(%q) = %v", s, !kinds[i])
		}
	}
	if !strings.Contains(got[2], `'a;b' as "x;y"`) {
		t.Errorf("quoted semicolons split: %q", got[2])
	}
	if !ReturnsRows("  ( WITH x AS (SELECT 1) SELECT * FROM x)") {
		t.Error("parenthesised WITH should return rows")
	}
}

func TestParseQueryList(t *testing.T) {
	q, err := ParseQueryList(" 1, q3,6-8 ,3")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(q) != "[1 3 6 7 8]" {
		t.Errorf("got %v", q)
	}
	if all, _ := ParseQueryList(""); len(all) != 22 {
		t.Errorf("empty list should mean all 22, got %v", all)
	}
	for _, bad := range []string{"0", "23", "x", "5-2"} {
		if _, err := ParseQueryList(bad); err == nil {
			t.Errorf("ParseQueryList(%q) accepted", bad)
		}
	}
}
