package slt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows"
)

// ---- a fake engine ----

// fakeResult is what the fake returns for one SQL text: an error, or
// columns built from Go values (nil = NULL).
type fakeResult struct {
	err   error
	types []arrow.DataType
	rows  [][]any
	panic bool
}

type fakeDB struct {
	results map[string]fakeResult
	execs   []string
	closed  bool
}

func (f *fakeDB) lookup(sql string) (fakeResult, error) {
	r, ok := f.results[strings.TrimSpace(sql)]
	if !ok {
		return fakeResult{}, fmt.Errorf("fake: unknown SQL %q", sql)
	}
	if r.panic {
		panic("fake engine exploded")
	}
	return r, nil
}

func (f *fakeDB) Exec(ctx context.Context, sql string) error {
	f.execs = append(f.execs, sql)
	r, err := f.lookup(sql)
	if err != nil {
		return err
	}
	return r.err
}

func (f *fakeDB) Query(ctx context.Context, sql string) (array.RecordReader, error) {
	r, err := f.lookup(sql)
	if err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	rec := buildRecord(r.types, r.rows)
	defer rec.Release()
	return array.NewRecordReader(rec.Schema(), []arrow.RecordBatch{rec})
}

func (f *fakeDB) Close() error { f.closed = true; return nil }

func buildRecord(types []arrow.DataType, rows [][]any) arrow.RecordBatch {
	fields := make([]arrow.Field, len(types))
	for i, t := range types {
		fields[i] = arrow.Field{Name: fmt.Sprintf("c%d", i), Type: t, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, row := range rows {
		for c, v := range row {
			fb := b.Field(c)
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch x := fb.(type) {
			case *array.Int64Builder:
				x.Append(int64(v.(int)))
			case *array.Int32Builder:
				x.Append(int32(v.(int)))
			case *array.Float64Builder:
				x.Append(v.(float64))
			case *array.StringBuilder:
				x.Append(v.(string))
			case *array.BooleanBuilder:
				x.Append(v.(bool))
			case *array.Date32Builder:
				x.Append(arrow.Date32(v.(int)))
			case *array.Decimal128Builder:
				x.Append(decimal128.FromI64(int64(v.(int))))
			default:
				panic(fmt.Sprintf("buildRecord: %T", fb))
			}
		}
	}
	return b.NewRecordBatch()
}

func column(t *testing.T, dt arrow.DataType, vals ...any) arrow.Array {
	t.Helper()
	rows := make([][]any, len(vals))
	for i, v := range vals {
		rows[i] = []any{v}
	}
	rec := buildRecord([]arrow.DataType{dt}, rows)
	col := rec.Column(0)
	col.Retain()
	rec.Release()
	t.Cleanup(col.Release)
	return col
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.slt")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---- parser ----

func TestParse(t *testing.T) {
	src := `# a comment
hash-threshold 3

statement ok
CREATE TABLE t(a INTEGER)

skipif postgresql # not here
statement error no such.*table
SELECT *
  FROM nosuch

onlyif sqlite
query I rowsort label-1
SELECT a FROM t
----
1
2

query IT valuesort
SELECT 1, 'x'
----
1	x

query error division by zero
SELECT 1/0

statement error
SELECT 1/0
----
by zero

query R
SELECT 1

halt

frobnicate 12
`
	recs := ParseString(src)
	kinds := []Kind{KindHashThreshold, KindStatement, KindStatement, KindQuery, KindQuery, KindQuery, KindStatement, KindQuery, KindHalt, KindUnknown}
	if len(recs) != len(kinds) {
		for _, r := range recs {
			t.Log(r)
		}
		t.Fatalf("got %d records, want %d", len(recs), len(kinds))
	}
	for i, k := range kinds {
		if recs[i].Kind != k {
			t.Errorf("record %d: kind %d, want %d", i, recs[i].Kind, k)
		}
	}
	if recs[0].Threshold != 3 || recs[0].Line != 2 {
		t.Errorf("hash-threshold: %+v", recs[0])
	}
	if r := recs[1]; r.SQL != "CREATE TABLE t(a INTEGER)" || r.ExpectError || r.Line != 4 {
		t.Errorf("statement ok: %+v", r)
	}
	r := recs[2]
	if !r.ExpectError || r.ErrorRegex != "no such.*table" || r.SQL != "SELECT *\n  FROM nosuch" || r.Line != 8 {
		t.Errorf("statement error: %+v", r)
	}
	if len(r.Conditions) != 1 || !r.Conditions[0].Skip || r.Conditions[0].Engine != "postgresql" {
		t.Errorf("skipif: %+v", r.Conditions)
	}
	if r.Applies("postgresql") || !r.Applies("sqlite") {
		t.Errorf("skipif applies wrongly")
	}
	r = recs[3]
	if r.Types != "I" || r.Sort != RowSort || r.Label != "label-1" || r.SQL != "SELECT a FROM t" ||
		strings.Join(r.Expected, ",") != "1,2" || r.Applies("postgresql") || !r.Applies("SQLite") {
		t.Errorf("query: %+v", r)
	}
	if r := recs[4]; r.Types != "IT" || r.Sort != ValueSort || r.Label != "" || len(r.Expected) != 1 {
		t.Errorf("query valuesort: %+v", r)
	}
	if r := recs[5]; !r.ExpectError || r.ErrorRegex != "division by zero" || r.SQL != "SELECT 1/0" {
		t.Errorf("query error: %+v", r)
	}
	if r := recs[6]; !r.ExpectError || r.ErrorRegex != "" || r.ErrorText != "by zero" {
		t.Errorf("statement error with text: %+v", r)
	}
	// a query without "----" ends at the blank line: no results expected
	if r := recs[7]; r.SQL != "SELECT 1" || r.Expected != nil || r.Types != "R" {
		t.Errorf("empty query: %+v", r)
	}
	if r := recs[9]; r.Directive != "frobnicate 12" {
		t.Errorf("unknown: %+v", r)
	}
}

func TestSplitExpected(t *testing.T) {
	cases := []struct {
		lines   []string
		ncols   int
		nvalues int
		want    string
	}{
		{[]string{"1", "2", "3", "4"}, 2, 4, "1|2|3|4"},
		{[]string{"1\t2", "3\t4"}, 2, 4, "1|2|3|4"},
		{[]string{"1\t(empty)"}, 2, 2, "1|(empty)"},
		{[]string{"1 2", "3 4"}, 2, 4, "1|2|3|4"},
		// values with spaces, one per line
		{[]string{"table t1 row 1", "table t2 row 2"}, 2, 2, "table t1 row 1|table t2 row 2"},
		// row count does not match the result: left as lines
		{[]string{"1 2", "3 4"}, 2, 6, "1 2|3 4"},
		{[]string{"a b"}, 1, 1, "a b"},
	}
	for _, c := range cases {
		got := strings.Join(splitExpected(c.lines, c.ncols, c.nvalues), "|")
		if got != c.want {
			t.Errorf("splitExpected(%q, %d, %d) = %q, want %q", c.lines, c.ncols, c.nvalues, got, c.want)
		}
	}
}

// ---- values ----

func TestRenderValue(t *testing.T) {
	dec := &arrow.Decimal128Type{Precision: 10, Scale: 2}
	cases := []struct {
		arr  arrow.Array
		i    int
		typ  byte
		want string
	}{
		{column(t, arrow.PrimitiveTypes.Int64, 42, nil), 0, 'I', "42"},
		{column(t, arrow.PrimitiveTypes.Int64, 42, nil), 1, 'I', "NULL"},
		{column(t, arrow.PrimitiveTypes.Int64, 42, nil), 1, 'T', "NULL"},
		{column(t, arrow.PrimitiveTypes.Int64, 42, nil), 0, 'R', "42.000"},
		{column(t, arrow.PrimitiveTypes.Int32, -7), 0, 'T', "-7"},
		{column(t, arrow.PrimitiveTypes.Float64, 2.5), 0, 'R', "2.500"},
		{column(t, arrow.PrimitiveTypes.Float64, 1.0/3), 0, 'R', "0.333"},
		{column(t, arrow.PrimitiveTypes.Float64, 2.0/3), 0, 'R', "0.667"},
		{column(t, arrow.PrimitiveTypes.Float64, 2.9), 0, 'I', "2"},
		{column(t, arrow.PrimitiveTypes.Float64, -2.9), 0, 'I', "-2"},
		{column(t, arrow.PrimitiveTypes.Float64, 2.5), 0, 'T', "2.5"},
		{column(t, dec, 123456), 0, 'T', "1234.56"},
		{column(t, dec, 123456), 0, 'I', "1234"},
		{column(t, dec, 123456), 0, 'R', "1234.560"},
		{column(t, dec, -50), 0, 'I', "0"},
		{column(t, dec, -250), 0, 'I', "-2"},
		{column(t, dec, -250), 0, 'T', "-2.50"},
		{column(t, arrow.BinaryTypes.String, ""), 0, 'T', "(empty)"},
		{column(t, arrow.BinaryTypes.String, "a\tb"), 0, 'T', "a@b"},
		{column(t, arrow.BinaryTypes.String, "h\u00e9"), 0, 'T', "h@@"},
		{column(t, arrow.BinaryTypes.String, "plain text"), 0, 'T', "plain text"},
		{column(t, arrow.BinaryTypes.String, "12abc"), 0, 'I', "12"},
		{column(t, arrow.BinaryTypes.String, "abc"), 0, 'I', "0"},
		{column(t, arrow.BinaryTypes.String, "1.25x"), 0, 'R', "1.250"},
		{column(t, arrow.FixedWidthTypes.Boolean, true), 0, 'T', "true"},
		{column(t, arrow.FixedWidthTypes.Boolean, false), 0, 'T', "false"},
		{column(t, arrow.FixedWidthTypes.Boolean, true), 0, 'I', "1"},
		{column(t, arrow.FixedWidthTypes.Date32, 19724), 0, 'T', "2024-01-02"},
	}
	for _, c := range cases {
		if got := RenderValue(c.arr, c.i, c.typ); got != c.want {
			t.Errorf("RenderValue(%s[%d], %c) = %q, want %q", c.arr.DataType(), c.i, c.typ, got, c.want)
		}
	}
}

func TestHash(t *testing.T) {
	if got, want := Hash([]string{"1", "2", "3"}), "3 values hashing to c0710d6b4f15dfa88f600b0e6b624077"; got != want {
		t.Errorf("Hash = %q, want %q", got, want)
	}
	if got, want := Hash([]string{"NULL", "(empty)"}), "2 values hashing to 14ad0be6c1ebb606277cbbb8e0bcc287"; got != want {
		t.Errorf("Hash = %q, want %q", got, want)
	}
	if !isHashResult([]string{"30 values hashing to 3c13dee48d9356ae19af2515e05e6b54"}) || isHashResult([]string{"30"}) {
		t.Error("isHashResult")
	}
}

func TestSortValues(t *testing.T) {
	v := []string{"b", "2", "a", "10", "a", "1"}
	SortValues(v, 2, RowSort)
	if got := strings.Join(v, ","); got != "a,1,a,10,b,2" {
		t.Errorf("rowsort: %s", got)
	}
	v = []string{"b", "2", "a", "10", "NULL", "1"}
	SortValues(v, 2, ValueSort)
	if got := strings.Join(v, ","); got != "1,10,2,NULL,a,b" {
		t.Errorf("valuesort: %s", got)
	}
	v = []string{"b", "a"}
	SortValues(v, 1, NoSort)
	if got := strings.Join(v, ","); got != "b,a" {
		t.Errorf("nosort: %s", got)
	}
}

// ---- runner on the fake engine ----

func newFake() *fakeDB {
	i64 := arrow.PrimitiveTypes.Int64
	str := arrow.BinaryTypes.String
	return &fakeDB{results: map[string]fakeResult{
		"CREATE TABLE t(a INTEGER)": {},
		"BAD":                       {err: fmt.Errorf(`syntax error at or near "BAD" (at line 1, column 1)`)},
		"SELECT 1/0":                {err: fmt.Errorf("division by zero")},
		"SELECT a FROM t":           {types: []arrow.DataType{i64}, rows: [][]any{{3}, {1}, {2}}},
		"SELECT a, b FROM t":        {types: []arrow.DataType{i64, str}, rows: [][]any{{2, "y"}, {1, "x"}, {3, nil}}},
		"SELECT nine":               {types: []arrow.DataType{i64}, rows: [][]any{{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}}},
		"SELECT empty":              {types: []arrow.DataType{str}, rows: [][]any{{""}}},
		"SELECT none":               {types: []arrow.DataType{i64}},
		"SELECT boom":               {panic: true},
	}}
}

func TestRunFileFake(t *testing.T) {
	src := `statement ok
CREATE TABLE t(a INTEGER)

# passes: statement error with matching regex
statement error syntax error at or near "BAD".*line 1, column 1
BAD

# fails: regex does not match
statement error division
BAD

# fails: statement ok that errors
statement ok
BAD

# fails: statement error that succeeds
statement error
CREATE TABLE t(a INTEGER)

query I nosort
SELECT a FROM t
----
3
1
2

query I rowsort
SELECT a FROM t
----
1
2
3

# fails: wrong order without a sort mode
query I nosort
SELECT a FROM t
----
1
2
3

query IT rowsort
SELECT a, b FROM t
----
1	x
2	y
3	NULL

query IT rowsort
SELECT a, b FROM t
----
1
x
2
y
3
NULL

# fails: wrong value
query IT rowsort
SELECT a, b FROM t
----
1	x
2	y
3	z

# fails: column count
query I
SELECT a, b FROM t
----
1

query I
SELECT nine
----
9 values hashing to ` + md5Of("1", "2", "3", "4", "5", "6", "7", "8", "9") + `

# fails: wrong hash
query I
SELECT nine
----
9 values hashing to 00000000000000000000000000000000

query T
SELECT empty
----
(empty)

query I
SELECT none
----

# fails: expected rows, got none
query I
SELECT none
----
1

query error division by zero
SELECT 1/0

# fails: a query error
query I
SELECT 1/0
----
1

# fails: the engine panics; the run goes on
query I
SELECT boom
----
1

skipif postgresql
query I
SELECT missing
----
1

onlyif sqlite
statement ok
SELECT missing

onlyif postgresql
query I
SELECT a FROM t
----
3
1
2

query I valuesort lbl
SELECT a FROM t
----
1
2
3

query I rowsort lbl
SELECT a FROM t
----
1
2
3

# fails: same label, different result
query I nosort lbl
SELECT nine
----
9 values hashing to ` + md5Of("1", "2", "3", "4", "5", "6", "7", "8", "9") + `

hash-threshold 0

query I
SELECT nine
----
1
2
3
4
5
6
7
8
9

# fails: unknown directive
frobnicate

onlyif sqlite
halt

statement ok
CREATE TABLE t(a INTEGER)

halt

statement ok
SELECT never run
`
	path := writeFile(t, src)
	fake := newFake()
	res, err := RunFile(context.Background(), path, func() (DB, error) { return fake, nil }, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !fake.closed {
		t.Error("the database was not closed")
	}
	for _, f := range res.Failures {
		t.Log(f)
	}
	if res.Passed != 15 || res.Failed != 12 || res.Skipped != 2 {
		t.Errorf("passed %d failed %d skipped %d, want 15, 12, 2", res.Passed, res.Failed, res.Skipped)
	}
	// every failure names the record's directive line
	wantLines := []int{9, 13, 17, 35, 60, 68, 79, 94, 103, 109, 147, 168}
	if len(res.Failures) != res.Failed {
		t.Fatalf("%d failure messages for %d failures", len(res.Failures), res.Failed)
	}
	for i, line := range wantLines {
		prefix := fmt.Sprintf("%s:%d: ", path, line)
		if !strings.HasPrefix(res.Failures[i], prefix) {
			t.Errorf("failure %d = %q, want prefix %q", i, firstLine(res.Failures[i]), prefix)
		}
	}
	for _, want := range []string{"does not match", "expected an error", "wrong result", "columns", "wrong result hash", "panic: fake engine exploded", "differs from the one at line", "unknown directive", "division by zero"} {
		found := false
		for _, f := range res.Failures {
			if strings.Contains(f, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no failure mentions %q", want)
		}
	}
	for _, e := range fake.execs {
		if strings.Contains(e, "never run") {
			t.Error("halt did not stop the file")
		}
	}
}

func TestRunFileVerboseAndEngine(t *testing.T) {
	src := `onlyif mysql
halt

skipif mysql
query I rowsort
SELECT a FROM t
----
1
2
3
`
	path := writeFile(t, src)
	var out strings.Builder
	res, err := RunFile(context.Background(), path, func() (DB, error) { return newFake(), nil }, Options{Verbose: true, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed != 1 || res.Failed != 0 {
		t.Errorf("postgresql: %+v", res)
	}
	if !strings.Contains(out.String(), ":5: ok") {
		t.Errorf("verbose output %q", out.String())
	}
	res, err = RunFile(context.Background(), path, func() (DB, error) { return newFake(), nil }, Options{Engine: "MySQL"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed != 0 || res.Failed != 0 || res.Skipped != 0 {
		t.Errorf("mysql halts at once: %+v", res)
	}
}

func TestRunFileErrors(t *testing.T) {
	if _, err := RunFile(context.Background(), filepath.Join(t.TempDir(), "missing.slt"), func() (DB, error) { return newFake(), nil }, Options{}); err == nil {
		t.Error("missing file: no error")
	}
	path := writeFile(t, "statement ok\nSELECT 1\n")
	if _, err := RunFile(context.Background(), path, func() (DB, error) { return nil, fmt.Errorf("cannot open") }, Options{}); err == nil {
		t.Error("failing newDB: no error")
	}
}

func TestTestDirSubstitution(t *testing.T) {
	path := writeFile(t, "statement ok\nCOPY x TO '__TEST_DIR__/f.parquet'\n")
	fake := newFake()
	fake.results = map[string]fakeResult{}
	res, _ := RunFile(context.Background(), path, func() (DB, error) { return fake, nil }, Options{})
	if res.Failed != 1 || len(fake.execs) != 1 || strings.Contains(fake.execs[0], TestDirVar) || !strings.Contains(fake.execs[0], "/f.parquet") {
		t.Errorf("execs %q, result %+v", fake.execs, res)
	}
}

func md5Of(values ...string) string {
	h := Hash(values)
	return h[strings.LastIndex(h, " ")+1:]
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ---- the real engine ----

// TestSLTFiles runs every testdata/slt/*.slt file on a fresh embedded
// engine and fails with the list of failing records.
func TestSLTFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "slt", "*.slt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/slt/*.slt files")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".slt"), func(t *testing.T) {
			res, err := RunFile(context.Background(), f, NewBellows(bellows.Options{}), Options{Engine: "postgresql"})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d passed, %d failed, %d skipped", res.Passed, res.Failed, res.Skipped)
			if res.Failed > 0 {
				t.Errorf("%d of %d records failed:\n%s", res.Failed, res.Passed+res.Failed, strings.Join(res.Failures, "\n"))
			}
		})
	}
}
