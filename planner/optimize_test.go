package planner_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/sql"
)

type cat map[string]*sql.Table

func (c cat) Lookup(n string) (*sql.Table, bool) { t, ok := c[n]; return t, ok }
func (c cat) TableFunction(n string, _ []kernels.Value) (*sql.Table, error) {
	return nil, fmt.Errorf("no table function %s", n)
}

// table makes a file table with integer key columns whose min/max stats
// make their distinct counts known.
func table(name string, rows float64, cols ...string) *sql.Table {
	t := &sql.Table{Name: name, Format: planner.FormatParquet, Stats: &planner.TableStats{Rows: rows, Columns: map[string]planner.ColumnStat{}}}
	for _, c := range cols {
		t.Columns = append(t.Columns, sql.ColumnDef{Name: c, Type: kernels.TInt64})
		max := rows
		switch {
		case strings.HasSuffix(c, "_nation"):
			max = 25
		case c == "f_a": // foreign keys range over their dimension's keys
			max = 2e5
		case c == "f_b":
			max = 1e4
		}
		t.Stats.Columns[c] = planner.ColumnStat{HasMinMax: true, Min: kernels.Value{I: 1}, Max: kernels.Value{I: int64(max)}}
	}
	return t
}

func plan(t *testing.T, q string) string {
	t.Helper()
	c := cat{
		"fact": table("fact", 6e6, "f_a", "f_b", "f_v"),
		"dima": table("dima", 2e5, "a_key", "a_nation", "a_v"),
		"dimb": table("dimb", 1e4, "b_key", "b_nation"),
		"tiny": table("tiny", 25, "t_nation", "t_v"),
	}
	ps, err := sql.Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sql.Bind(c, ps[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := planner.Optimize(st.Query.Plan)
	if err != nil {
		t.Fatal(err)
	}
	return planner.Explain(out, nil)
}

func TestPushDownIntoScans(t *testing.T) {
	p := plan(t, "SELECT f_v FROM fact, dima WHERE f_a = a_key AND a_v > 3 AND f_v < 10")
	if !strings.Contains(p, "Scan dima [a_key, a_v] filter: (a_v > 3)") || !strings.Contains(p, "filter: (f_v < 10)") {
		t.Fatalf("filters not pushed into scans / columns not pruned:\n%s", p)
	}
	if strings.Contains(p, "Filter") {
		t.Fatalf("a filter stayed above the join:\n%s", p)
	}
}

func TestOrFactoring(t *testing.T) {
	p := plan(t, "SELECT f_v FROM fact, dima WHERE (f_a = a_key AND a_v = 1 AND f_v = 1) OR (f_a = a_key AND a_v = 2 AND f_v = 2)")
	if !strings.Contains(p, "HashJoin inner on ((f_a = a_key)") && !strings.Contains(p, "HashJoin inner on ((a_key = f_a)") {
		t.Fatalf("common join key not factored out of the OR:\n%s", p)
	}
	if !strings.Contains(p, "Scan dima [a_key, a_v] filter: ((a_v = 1) OR (a_v = 2))") {
		t.Fatalf("implied OR not pushed to dima:\n%s", p)
	}
}

// TestJoinOrderAvoidsCrossProducts: FROM order puts two unconnected
// tables first; the greedy order must join along predicates.
func TestJoinOrderAvoidsCrossProducts(t *testing.T) {
	p := plan(t, "SELECT count(*) FROM dima, dimb, fact, tiny WHERE f_a = a_key AND f_b = b_key AND b_nation = t_nation")
	if strings.Contains(p, "HashJoin inner (est") {
		t.Fatalf("plan has a cross product:\n%s", p)
	}
	// the fact table must be on the probe side (left) of the lowest join
	lines := strings.Split(p, "\n")
	for i, l := range lines {
		if strings.Contains(l, "HashJoin") && i+1 < len(lines) && strings.Contains(lines[i+1], "Scan") {
			if !strings.Contains(lines[i+1], "Scan fact") {
				t.Fatalf("the lowest join does not probe with the fact table:\n%s", p)
			}
			break
		}
	}
}

func TestBuildSideIsSmaller(t *testing.T) {
	p := plan(t, "SELECT f_v FROM dimb JOIN fact ON f_b = b_key")
	i, j := strings.Index(p, "Scan fact"), strings.Index(p, "Scan dimb")
	if i < 0 || j < 0 || i > j {
		t.Fatalf("the small table is not the build (right) side:\n%s", p)
	}
}

func TestFoldConstants(t *testing.T) {
	p := plan(t, "SELECT f_v FROM fact WHERE f_v > 2 * 3 + 1 AND (1 = 1 OR f_a = 2)")
	if !strings.Contains(p, "filter: (f_v > 7)") || strings.Contains(p, "f_a") {
		t.Fatalf("constants not folded:\n%s", p)
	}
}

// TestSemiJoinReduction: a decorrelated grouped subquery aggregates only
// the groups a small filtered scan of the outer query can join with.
func TestSemiJoinReduction(t *testing.T) {
	p := plan(t, "SELECT f_v FROM fact, dima WHERE f_a = a_key AND a_v = 3 AND f_v > (SELECT avg(f2.f_v) FROM fact f2 WHERE f2.f_a = dima.a_key)")
	agg := strings.Index(p, "Aggregate group by [f_a]")
	semi := strings.Index(p, "HashJoin semi on (f_a = a_key)")
	if agg < 0 || semi < agg {
		t.Fatalf("the subquery's aggregate input is not reduced by a semi join with dima:\n%s", p)
	}
	// The outer key is filtered through an IN subquery (TPC-H Q20): the
	// aggregate is reduced by that subquery's filtered scan.
	p = plan(t, "SELECT b_key FROM dimb WHERE b_nation > (SELECT sum(f_v) FROM fact WHERE f_a = b_key AND f_b = b_nation) AND b_key IN (SELECT a_key FROM dima WHERE a_v = 3)")
	agg = strings.Index(p, "Aggregate group by [f_a, f_b]")
	semi = strings.LastIndex(p, "HashJoin semi on (f_a = a_key)")
	if agg < 0 || semi < agg {
		t.Fatalf("the subquery's aggregate input is not reduced through the IN subquery:\n%s", p)
	}
	// Without a filter on the outer scan there is nothing to gain.
	p = plan(t, "SELECT f_v FROM fact, dima WHERE f_a = a_key AND f_v > (SELECT avg(f2.f_v) FROM fact f2 WHERE f2.f_a = dima.a_key)")
	if strings.Contains(p, "HashJoin semi") {
		t.Fatalf("reduced without a selective outer scan:\n%s", p)
	}
}

// TestSemiJoinPushedToItsSide: an IN subquery on a dimension key filters
// that dimension before it joins the fact table (TPC-H Q18), and never
// the null-supplying side of an outer join.
func TestSemiJoinPushedToItsSide(t *testing.T) {
	p := plan(t, "SELECT f_v FROM fact, dima WHERE f_a = a_key AND a_key IN (SELECT b_key FROM dimb WHERE b_nation = 3)")
	semi := strings.Index(p, "HashJoin semi")
	if semi < 0 || !strings.Contains(p[semi:], "Scan dima") || strings.Contains(p[semi:], "Scan fact") {
		t.Fatalf("the semi join is not applied to dima below the fact join:\n%s", p)
	}
	p = plan(t, "SELECT f_v FROM fact LEFT JOIN dima ON f_a = a_key WHERE a_key IN (SELECT b_key FROM dimb)")
	if semi := strings.Index(p, "semi"); semi >= 0 && !strings.Contains(p[semi:], "Scan fact") {
		t.Fatalf("the semi join was pushed into the null-supplying side:\n%s", p)
	}
}

// TestDistinctStatsDriveSelectivity: a known distinct count (from a
// Parquet dictionary) sets the selectivity of = and IN on a column.
func TestDistinctStatsDriveSelectivity(t *testing.T) {
	tb := table("t", 1e6, "k")
	tb.Columns = append(tb.Columns, sql.ColumnDef{Name: "flag", Type: kernels.TString})
	tb.Stats.Columns["flag"] = planner.ColumnStat{Distinct: 4}
	for q, want := range map[string]string{
		"SELECT k FROM t WHERE flag = 'R'":         "est. 250000 rows",
		"SELECT k FROM t WHERE flag IN ('R', 'A')": "est. 500000 rows",
		"SELECT k FROM t WHERE flag <> 'R'":        "est. 750000 rows",
	} {
		ps, err := sql.Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		st, err := sql.Bind(cat{"t": tb}, ps[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := planner.Optimize(st.Query.Plan)
		if err != nil {
			t.Fatal(err)
		}
		if p := planner.Explain(out, nil); !strings.Contains(p, want) {
			t.Errorf("%s: want %q in\n%s", q, want, p)
		}
	}
}

// TestSemiJoinStaysAboveReducingJoins: when the joins above an EXISTS
// keep few of its side's rows (TPC-H Q21: suppliers of one nation), the
// semi join is not pushed under them.
func TestSemiJoinStaysAboveReducingJoins(t *testing.T) {
	p := plan(t, "SELECT f_v FROM fact, tiny WHERE f_b = t_v AND t_nation = 3 AND EXISTS (SELECT 1 FROM fact f2 WHERE f2.f_a = fact.f_a AND f2.f_b <> fact.f_b)")
	if sub := subtree(p, "semi"); !strings.Contains(sub, "Scan tiny") {
		t.Fatalf("the semi join was pushed below the join with the filtered dimension:\n%s", p)
	}
}

// subtree returns the EXPLAIN lines of the first node whose line contains
// marker, with the lines indented below it.
func subtree(p, marker string) string {
	lines := strings.Split(p, "\n")
	for i, l := range lines {
		if !strings.Contains(l, marker) {
			continue
		}
		depth := len(l) - len(strings.TrimLeft(l, " "))
		end := i + 1
		for end < len(lines) && len(lines[end])-len(strings.TrimLeft(lines[end], " ")) > depth {
			end++
		}
		return strings.Join(lines[i:end], "\n")
	}
	return ""
}

// TestBushyJoinThroughDimensionChain: a filter on a relation joined only
// through another dimension (nation behind supplier in TPC-H Q21) reduces
// the fact table through a bushy join, before the other dimensions.
func TestBushyJoinThroughDimensionChain(t *testing.T) {
	p := plan(t, "SELECT count(*) FROM fact, dima, dimb, tiny WHERE f_a = a_key AND f_b = b_key AND b_nation = t_nation AND t_v = 3")
	chain := false
	for _, l := range strings.Split(p, "\n") {
		if strings.Contains(l, "HashJoin") {
			sub := subtree(p, strings.TrimSpace(l))
			if strings.Contains(sub, "Scan dimb") && strings.Contains(sub, "Scan tiny") && !strings.Contains(sub, "Scan fact") {
				chain = true
			}
		}
	}
	if !chain {
		t.Fatalf("dimb and tiny are not joined as a unit:\n%s", p)
	}
	if sub := subtree(p, "(f_a = a_key)"); !strings.Contains(sub, "Scan tiny") {
		t.Fatalf("dima is joined before the chain reduced the fact table:\n%s", p)
	}
}

// An uncorrelated EXISTS needs one row of its subquery: the join reads it
// through a LIMIT 1 instead of pairing every outer row with every row.
func TestUncorrelatedExistsReadsOneRow(t *testing.T) {
	for _, q := range []string{
		"SELECT f_v FROM fact WHERE NOT EXISTS (SELECT 1 FROM dima WHERE a_v = 3)",
		"SELECT f_v FROM fact WHERE EXISTS (SELECT 1 FROM dima) OR f_v = 1",
	} {
		p := plan(t, q)
		if !strings.Contains(p, "Limit 1") {
			t.Errorf("%s: no LIMIT 1 on the subquery:\n%s", q, p)
		}
	}
}
