package sql

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// memCatalog is an in-memory catalog for binder tests; the engine's real
// catalog (file-backed) is exercised by the root package's tests.
type memCatalog map[string]*Table

func (m memCatalog) Lookup(name string) (*Table, bool) { t, ok := m[name]; return t, ok }
func (m memCatalog) TableFunction(name string, args []kernels.Value) (*Table, error) {
	return nil, fmt.Errorf("table function %s does not exist", name)
}

func testCatalog() memCatalog {
	col := func(n string, t kernels.Type) ColumnDef { return ColumnDef{Name: n, Type: t, Nullable: true} }
	return memCatalog{
		"t": {Name: "t", Format: planner.FormatParquet, Columns: []ColumnDef{
			col("a", kernels.TInt32), col("b", kernels.TString), col("c", kernels.DecimalType(15, 2)), col("d", kernels.TDate)}},
		"u": {Name: "u", Format: planner.FormatParquet, Columns: []ColumnDef{
			col("a", kernels.TInt64), col("e", kernels.TFloat64)}},
	}
}

func bind(t *testing.T, q string) (*Statement, error) {
	t.Helper()
	ps, err := Parse(q)
	if err != nil {
		return nil, err
	}
	if len(ps) != 1 {
		t.Fatalf("want one statement, got %d", len(ps))
	}
	return Bind(testCatalog(), ps[0], nil)
}

func TestBindErrors(t *testing.T) {
	cases := []struct {
		sql, want string
		line, col int
	}{
		{"SELECT * FROM nosuch", `relation "nosuch" does not exist`, 1, 15},
		{"SELECT x FROM t", `column "x" does not exist`, 1, 8},
		{"SELECT a FROM t, u", `column reference "a" is ambiguous`, 1, 8},
		{"SELECT\n  nosuchfn(a) FROM t", "function nosuchfn(integer) does not exist", 2, 3},
		{"SELECT a FROM t WHERE b + 1 > 0", "operator does not exist: text + integer", 1, 25},
		{"SELECT a, count(*) FROM t", `column "a" must appear in the GROUP BY clause`, 1, 8},
		{"SELECT substring(b) FROM t", "function substring(text) does not exist", 1, 8},
		{"SELECT a FROM t WHERE a", "argument of WHERE must be type boolean", 0, 0},
		{"SELECT sum(b) FROM t", "function sum(text) does not exist", 1, 8},
		{"SELECT * FROM t WHERE q.a = 1", `missing FROM-clause entry for table "q"`, 1, 23},
		{"SELECT a FROM t WHERE\n  a =", "syntax error at end of input", 2, 6},
		{"SELEC a FROM t", `syntax error at or near "SELEC"`, 1, 1},
		{"SELECT (SELECT a, b FROM t)", "subquery must return only one column", 1, 8},
		{"SELECT a FROM t UNION SELECT a, e FROM u", "each UNION query must have the same number of columns", 0, 0},
		{"SELECT CAST('x' AS integer)", `invalid input syntax for type integer`, 1, 8},
		{"SELECT row_number() FROM t", "window function row_number requires an OVER clause", 1, 8},
		{"SELECT sum(a) FROM t WHERE sum(a) > 1", "aggregate functions are not allowed in WHERE", 1, 28},
	}
	for _, c := range cases {
		_, err := bind(t, c.sql)
		if err == nil {
			t.Errorf("%q: no error, want %q", c.sql, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q, want it to contain %q", c.sql, err, c.want)
		}
		if c.line > 0 {
			se, ok := err.(*Error)
			if !ok {
				t.Errorf("%q: error %T is not *sql.Error", c.sql, err)
				continue
			}
			if se.Line != c.line || se.Column != c.col {
				t.Errorf("%q: position %d:%d, want %d:%d (%v)", c.sql, se.Line, se.Column, c.line, c.col, err)
			}
		}
	}
}

func TestBindTypes(t *testing.T) {
	cases := []struct {
		sql  string
		want []kernels.Type
	}{
		{"SELECT t.a + 1, t.a + u.a FROM t, u", []kernels.Type{kernels.TInt32, kernels.TInt64}},
		{"SELECT c * 2, c + 1.5, c / 2 FROM t", []kernels.Type{kernels.DecimalType(25, 2), kernels.DecimalType(16, 2), kernels.TFloat64}},
		{"SELECT d + 1, d - d, d + interval '1 month' FROM t", []kernels.Type{kernels.TDate, kernels.TInt32, kernels.TTimestamp}},
		{"SELECT count(*), sum(a), sum(c), avg(a), min(b) FROM t", []kernels.Type{kernels.TInt64, kernels.TInt64, kernels.DecimalType(38, 2), kernels.TFloat64, kernels.TString}},
		{"SELECT CASE WHEN a > 0 THEN 1 ELSE 2.5 END FROM t", []kernels.Type{kernels.DecimalType(11, 1)}},
		{"SELECT a::bigint, '2020-01-01'::date, b || a FROM t", []kernels.Type{kernels.TInt64, kernels.TDate, kernels.TString}},
	}
	for _, c := range cases {
		st, err := bind(t, c.sql)
		if err != nil {
			t.Errorf("%q: %v", c.sql, err)
			continue
		}
		cols := st.Query.Plan.Columns()
		if len(cols) != len(c.want) {
			t.Errorf("%q: %d columns, want %d", c.sql, len(cols), len(c.want))
			continue
		}
		for i, col := range cols {
			if col.Type != c.want[i] {
				t.Errorf("%q: column %d is %s, want %s", c.sql, i, col.Type, c.want[i])
			}
		}
	}
}

// TestDecorrelate checks that subqueries become joins of the right kind.
func TestDecorrelate(t *testing.T) {
	cases := []struct{ sql, want string }{
		{"SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a)", "HashJoin semi"},
		{"SELECT a FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.a = t.a)", "HashJoin anti"},
		{"SELECT a FROM t WHERE a NOT IN (SELECT a FROM u)", "HashJoin anti null-aware"},
		{"SELECT a FROM t WHERE a IN (SELECT a FROM u) OR b = 'x'", "HashJoin mark"},
		{"SELECT a FROM t WHERE c > (SELECT avg(e) FROM u WHERE u.a = t.a)", "HashJoin left"},
		{"SELECT a FROM t WHERE c > (SELECT avg(e) FROM u)", "EnforceSingleRow"},
	}
	for _, c := range cases {
		st, err := bind(t, c.sql)
		if err != nil {
			t.Errorf("%q: %v", c.sql, err)
			continue
		}
		text := planner.Explain(st.Query.Plan, nil)
		if strings.Contains(text, "subquery") || !strings.Contains(text, c.want) {
			t.Errorf("%q: plan lacks %q or still has a subquery:\n%s", c.sql, c.want, text)
		}
	}
}

// FuzzBind feeds arbitrary SQL to the parser and binder: errors are fine,
// panics are not.
func FuzzBind(f *testing.F) {
	for _, s := range []string{
		"SELECT a, sum(c) FROM t WHERE d > '2020-01-01' GROUP BY a HAVING count(*) > 1 ORDER BY 2 DESC LIMIT 3",
		"SELECT * FROM t JOIN u USING (a) WHERE EXISTS (SELECT 1 FROM u x WHERE x.a = t.a)",
		"WITH w AS (SELECT a FROM t) SELECT * FROM w UNION SELECT a FROM u",
		"SELECT CASE WHEN a IN (1,2) THEN b ELSE NULL END, row_number() OVER (PARTITION BY a ORDER BY c) FROM t",
		"SELECT extract(year FROM d), substring(b FROM 1 FOR 2), c::numeric(10,2) FROM t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		ps, err := Parse(q)
		if err != nil {
			return
		}
		for _, p := range ps {
			_, _ = Bind(testCatalog(), p, nil)
		}
	})
}
