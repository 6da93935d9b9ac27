package bellows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/kernels"
)

// rowsText renders every row of r as "a|b|c" and releases r.
func rowsText(t *testing.T, r *Rows) []string {
	t.Helper()
	defer r.Release()
	var out []string
	for r.Next() {
		b := r.RecordBatch()
		for i := 0; i < int(b.NumRows()); i++ {
			var cells []string
			for c := 0; c < int(b.NumCols()); c++ {
				typ, err := kernels.FromArrow(b.Column(c).DataType())
				if err != nil {
					t.Fatal(err)
				}
				cells = append(cells, kernels.ValueAt(b.Column(c), typ, i).Format(typ))
			}
			out = append(out, strings.Join(cells, "|"))
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sessionQuery(t *testing.T, s *Session, q string) []string {
	t.Helper()
	r, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rowsText(t, r)
}

// TestSessionsKeepTheirSettings checks that SET in one session leaves the
// others (and the DB's default session) alone.
func TestSessionsKeepTheirSettings(t *testing.T) {
	db, err := Open(Options{Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b := db.NewSession(), db.NewSession()
	ctx := context.Background()
	if _, err := a.Exec(ctx, "SET parallelism = 3; SET memory_limit = '64MB'; SET statement_timeout = '5s'"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *Session
		name string
		want string
	}{
		{a, "parallelism", "3"}, {b, "parallelism", "2"}, {db.def, "parallelism", "2"},
		{a, "memory_limit", "67108864"}, {b, "memory_limit", "0"},
		{a, "statement_timeout", "5s"}, {b, "statement_timeout", "0"},
	} {
		if got := sessionQuery(t, c.s, "SHOW "+c.name); len(got) != 1 || got[0] != c.want {
			t.Errorf("SHOW %s = %v, want %s", c.name, got, c.want)
		}
	}
	if _, err := a.Exec(ctx, "RESET parallelism"); err != nil {
		t.Fatal(err)
	}
	if got := sessionQuery(t, a, "SHOW parallelism"); got[0] != "2" {
		t.Errorf("after RESET: parallelism %v, want 2", got)
	}
}

// TestStatementTimeout checks that statement_timeout stops a long query
// with PostgreSQL's message, and that a query within it runs.
func TestStatementTimeout(t *testing.T) {
	db := openTPCH(t, Options{})
	s := db.NewSession()
	ctx := context.Background()
	if _, err := s.Exec(ctx, "SET statement_timeout = 50"); err != nil {
		t.Fatal(err)
	}
	// A cross join of lineitem with itself: minutes of work.
	r, err := s.Query(ctx, "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_quantity + b.l_quantity > 1000")
	if err == nil {
		for r.Next() {
		}
		err = r.Err()
		r.Release()
	}
	if !errors.Is(err, ErrStatementTimeout) {
		t.Fatalf("got %v, want the statement timeout", err)
	}
	if got := sessionQuery(t, s, "SELECT count(*) FROM nation"); got[0] != "25" {
		t.Fatalf("count(*) nation = %v", got)
	}
}

// TestRowsAffected checks the counts INSERT, CREATE TABLE AS and COPY
// report.
func TestRowsAffected(t *testing.T) {
	db, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := db.NewSession()
	ctx := context.Background()
	for _, c := range []struct {
		sql  string
		want int64
	}{
		{"CREATE TABLE t (a INTEGER, b TEXT)", 0},
		{"INSERT INTO t VALUES (1, 'x'), (2, NULL), (3, 'z')", 3},
		{"INSERT INTO t SELECT a + 10, b FROM t WHERE a > 1", 2},
		{"INSERT INTO t SELECT a, b FROM t WHERE a > 100", 0},
		{"CREATE TABLE u AS SELECT * FROM t", 5},
		{"COPY (SELECT * FROM u WHERE a < 3) TO '" + t.TempDir() + "/u.parquet'", 2},
		{"DROP TABLE u", 0},
	} {
		res, err := s.Exec(ctx, c.sql)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if res.RowsAffected != c.want {
			t.Errorf("%s: %d rows affected, want %d", c.sql, res.RowsAffected, c.want)
		}
	}
}

// TestPreparedStatements binds parameters of every supported type (Go
// values and Arrow arrays, NULL included) and reuses one statement.
func TestPreparedStatements(t *testing.T) {
	db, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := db.NewSession()
	ctx := context.Background()
	if _, err := s.Exec(ctx, `CREATE TABLE p (i INTEGER, b BIGINT, f DOUBLE PRECISION, d DECIMAL(12,2), s TEXT, dt DATE, ts TIMESTAMP, ok BOOLEAN)`); err != nil {
		t.Fatal(err)
	}
	ins, err := s.Prepare("INSERT INTO p VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
	if err != nil {
		t.Fatal(err)
	}
	if ins.NumParams != 8 || ins.Schema() != nil {
		t.Fatalf("insert: %d params, schema %v", ins.NumParams, ins.Schema())
	}
	ts := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)
	goRow := []any{int32(7), int64(1) << 40, 2.5, "12.25", "héllo", "2024-02-29", ts, true}
	var ps []Param
	for _, v := range goRow {
		p, err := ParamOf(v)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if res, err := ins.Exec(ctx, ps...); err != nil || res.RowsAffected != 1 {
		t.Fatalf("insert Go values: %v, %+v", err, res)
	}
	// The same statement again, with Arrow parameters, all NULL but one.
	nulls := make([]Param, 8)
	for i := range nulls {
		nulls[i] = NullParam
	}
	nulls[0], _ = ParamOf(8)
	if _, err := ins.Exec(ctx, nulls...); err != nil {
		t.Fatal(err)
	}
	arrowRow := arrowParams(t, 9)
	if _, err := ins.Exec(ctx, arrowRow...); err != nil {
		t.Fatal(err)
	}
	sel, err := s.Prepare("SELECT i, b, f, d, s, dt, ts, ok FROM p WHERE i >= $1 ORDER BY i")
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumParams != 1 || sel.Schema().NumFields() != 8 {
		t.Fatalf("select: %d params, schema %v", sel.NumParams, sel.Schema())
	}
	p7, _ := ParamOf(7)
	r, err := sel.Query(ctx, p7)
	if err != nil {
		t.Fatal(err)
	}
	got := rowsText(t, r)
	want := []string{
		"7|1099511627776|2.5|12.25|héllo|2024-02-29|2024-02-29 13:14:15.123456|true",
		"8|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
		"9|-3|0.5|-1.50|arrow|1970-01-02|1970-01-01 00:00:01|false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p9, _ := ParamOf(int64(9))
	if got := rowsText(t, must(sel.Query(ctx, p9))); len(got) != 1 {
		t.Fatalf("i >= 9: %v", got)
	}
	if _, err := sel.Query(ctx); err == nil || !strings.Contains(err.Error(), "1 parameters, 0 given") {
		t.Fatalf("missing parameter: %v", err)
	}
	// A NULL parameter compares as NULL: no row.
	if got := rowsText(t, must(sel.Query(ctx, NullParam))); len(got) != 0 {
		t.Fatalf("i >= NULL: %v", got)
	}
}

func must(r *Rows, err error) *Rows {
	if err != nil {
		panic(err)
	}
	return r
}

// arrowParams returns the parameters of one row, built from Arrow arrays of
// the types Flight SQL clients send (int32, int16 for bigint, float32, a
// decimal, a string, date32, a timestamp in seconds, a boolean).
func arrowParams(t *testing.T, i int32) []Param {
	t.Helper()
	mem := memory.NewGoAllocator()
	var arrs []arrow.Array
	ib := array.NewInt32Builder(mem)
	ib.Append(i)
	arrs = append(arrs, ib.NewArray())
	sb := array.NewInt16Builder(mem)
	sb.Append(-3)
	arrs = append(arrs, sb.NewArray())
	fb := array.NewFloat32Builder(mem)
	fb.Append(0.5)
	arrs = append(arrs, fb.NewArray())
	db := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 5, Scale: 1})
	db.Append(decimal128.FromI64(-15))
	arrs = append(arrs, db.NewArray())
	tb := array.NewStringBuilder(mem)
	tb.Append("arrow")
	arrs = append(arrs, tb.NewArray())
	dtb := array.NewDate32Builder(mem)
	dtb.Append(1)
	arrs = append(arrs, dtb.NewArray())
	tsb := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Second})
	tsb.Append(1)
	arrs = append(arrs, tsb.NewArray())
	bb := array.NewBooleanBuilder(mem)
	bb.Append(false)
	arrs = append(arrs, bb.NewArray())
	var out []Param
	for _, a := range arrs {
		p, err := ParamFromArrow(a, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
		a.Release()
	}
	return out
}
