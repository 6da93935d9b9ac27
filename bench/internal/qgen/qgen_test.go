package qgen

import (
	"strings"
	"testing"
	"time"
)

func TestDeterministic(t *testing.T) {
	for seed := int64(0); seed < 50; seed++ {
		a, b := New(seed).Query().SQL(), New(seed).Query().SQL()
		if a != b {
			t.Fatalf("seed %d: two generations differ:\n%s\n%s", seed, a, b)
		}
	}
	if New(1).Query().SQL() == New(2).Query().SQL() {
		t.Error("seeds 1 and 2 give the same query")
	}
}

// TestDeterministicResults checks the generator's contract: a LIMIT comes
// with an ORDER BY over every output column and no DOUBLE output column,
// and the recorded output types match the select lists.
func TestDeterministicResults(t *testing.T) {
	counts := map[string]int{}
	for seed := int64(0); seed < 2000; seed++ {
		q := New(seed).Query()
		s := q.SQL()
		if q.Limit >= 0 {
			if !q.Ordered() {
				t.Fatalf("seed %d: LIMIT without a total ORDER BY: %s", seed, s)
			}
			if hasDouble(q.Types) {
				t.Fatalf("seed %d: LIMIT over a DOUBLE column: %s", seed, s)
			}
		}
		checkTypes(t, seed, q)
		for _, f := range []string{"JOIN", "LEFT JOIN", "FULL JOIN", "GROUP BY", "HAVING", "DISTINCT", "EXISTS", " IN (SELECT", "UNION", "INTERSECT", "EXCEPT", "CASE", "CAST(", "LIMIT", "NULL", "fz AS"} {
			if strings.Contains(s, f) {
				counts[f]++
			}
		}
	}
	for f, n := range counts {
		if n < 20 {
			t.Errorf("only %d of 2000 queries use %q", n, f)
		}
	}
	if len(counts) < 16 {
		t.Errorf("some constructs never appear: %v", counts)
	}
}

func checkTypes(t *testing.T, seed int64, q *Query) {
	t.Helper()
	if q.Sel != nil {
		if len(q.Sel.Items) != len(q.Types) {
			t.Fatalf("seed %d: %d items, %d types", seed, len(q.Sel.Items), len(q.Types))
		}
		for i, it := range q.Sel.Items {
			if it.E.T != q.Types[i] {
				t.Fatalf("seed %d: item %d has type %v, recorded %v", seed, i, it.E.T, q.Types[i])
			}
		}
		return
	}
	checkTypes(t, seed, q.Left)
	checkTypes(t, seed, q.Right)
}

// TestShrinkKeepsProperty shrinks queries under a predicate and checks that
// the result still satisfies it and is no larger.
func TestShrinkKeepsProperty(t *testing.T) {
	shrunk := 0
	for seed := int64(0); seed < 300 && shrunk < 20; seed++ {
		q := New(seed).Query()
		if !strings.Contains(q.SQL(), "lineitem") || len(q.SQL()) < 200 {
			continue
		}
		still := func(c *Query) bool { return strings.Contains(c.SQL(), "lineitem") }
		before := q.SQL()
		s, tries := Shrink(q, still, 5000, time.Time{})
		if q.SQL() != before {
			t.Fatalf("seed %d: Shrink modified its input", seed)
		}
		if !still(s) {
			t.Fatalf("seed %d: shrunk query lost the property: %s", seed, s.SQL())
		}
		if len(s.SQL()) >= len(before) || tries == 0 {
			t.Fatalf("seed %d: not smaller after %d tries: %s", seed, tries, s.SQL())
		}
		if len(s.SQL()) > 100 {
			t.Errorf("seed %d: shrunk to %d bytes only: %s", seed, len(s.SQL()), s.SQL())
		}
		shrunk++
	}
	if shrunk == 0 {
		t.Fatal("no query to shrink")
	}
}

// TestMutationsTotal applies every mutation of many queries: none may
// panic, and each must render.
func TestMutationsTotal(t *testing.T) {
	for seed := int64(0); seed < 300; seed++ {
		q := New(seed).Query()
		for k := 0; ; k++ {
			c := q.Clone()
			if !applyMutation(c, k) {
				break
			}
			if c.SQL() == "" {
				t.Fatalf("seed %d mutation %d renders empty", seed, k)
			}
		}
	}
}
