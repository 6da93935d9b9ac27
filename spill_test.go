package bellows

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/tpch"
)

// spillLimit is small enough that TPC-H SF 0.01 queries spill in joins and
// aggregations, and large enough for their scans' working memory.
const spillLimit = "SET memory_limit = '4MB'; SET batch_size = 1024"

// tpchSpillLimit is the limit of the 22-query run: at 4 MB the planner's
// reductions keep most SF 0.01 queries in memory.
const tpchSpillLimit = "SET memory_limit = '2MB'; SET batch_size = 1024"

func setLimit(t *testing.T, db *DB, on bool) {
	t.Helper()
	setLimitTo(t, db, on, spillLimit)
}

func setLimitTo(t *testing.T, db *DB, on bool, limit string) {
	t.Helper()
	stmt := "SET memory_limit = 0; SET batch_size = 8192"
	if on {
		stmt = limit
	}
	if err := db.Exec(context.Background(), stmt); err != nil {
		t.Fatal(err)
	}
}

// assertNoSpillFiles fails if a query left anything in the spill folder.
func assertNoSpillFiles(t *testing.T, dir, what string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("%s: spill folder holds %d entries (first %s)", what, len(ents), ents[0].Name())
	}
}

// TestTPCHSpill runs the 22 queries with a memory limit that makes them
// spill and compares every answer with the unlimited run; no spill file
// may outlive its query, and no buffer may leak.
func TestTPCHSpill(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	spillDir := t.TempDir()
	db := openTPCH(t, Options{Allocator: mem, SpillDir: spillDir})
	ctx := context.Background()
	spilled := 0
	for n := 1; n <= 22; n++ {
		q, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		setLimitTo(t, db, false, tpchSpillLimit)
		want, err := collect(t, db, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		setLimitTo(t, db, true, tpchSpillLimit)
		got, err := collect(t, db, ctx, q, nil)
		if err != nil {
			t.Fatalf("q%02d: %v", n, err)
		}
		compareRows(t, fmt.Sprintf("q%02d with a memory limit", n), want, got)
		assertNoSpillFiles(t, spillDir, fmt.Sprintf("q%02d", n))
		plan, err := collect(t, db, ctx, "EXPLAIN ANALYZE "+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.Join(plan, "\n"), " spilled=") {
			spilled++
		}
	}
	if spilled < 3 {
		t.Errorf("only %d queries spilled", spilled)
	}
	setLimitTo(t, db, false, tpchSpillLimit)
	mem.AssertSize(t, 0)
}

// TestSpillEveryOperator forces a spill in the sort, the aggregation and
// the hash join (inner and outer), checks EXPLAIN ANALYZE reports it, and
// compares the answers with the unlimited run.
func TestSpillEveryOperator(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	spillDir := t.TempDir()
	db := openTPCH(t, Options{Allocator: mem, SpillDir: spillDir})
	ctx := context.Background()
	for _, c := range []struct{ op, q string }{
		{"Sort", "SELECT l_orderkey, l_partkey, l_comment FROM lineitem ORDER BY l_comment DESC, l_orderkey, l_partkey"},
		{"Aggregate", "SELECT l_orderkey, l_partkey, count(*), sum(l_quantity), min(l_comment), count(DISTINCT l_suppkey) FROM lineitem GROUP BY 1, 2 ORDER BY 1, 2"},
		{"HashJoin inner", "SELECT a.l_returnflag, count(*), sum(a.l_quantity - b.l_quantity) FROM lineitem a JOIN lineitem b ON a.l_orderkey = b.l_orderkey AND a.l_linenumber = b.l_linenumber + 1 GROUP BY 1 ORDER BY 1"},
		{"HashJoin semi", "SELECT count(*), sum(a.l_quantity) FROM lineitem a WHERE EXISTS (SELECT 1 FROM lineitem b WHERE b.l_orderkey = a.l_orderkey AND b.l_linenumber = a.l_linenumber + 1 AND b.l_quantity > a.l_quantity)"},
		{"HashJoin anti", "SELECT count(*) FROM lineitem a WHERE NOT EXISTS (SELECT 1 FROM lineitem b WHERE b.l_orderkey = a.l_orderkey AND b.l_suppkey <> a.l_suppkey)"},
		{"HashJoin full", "SELECT count(*), count(o_orderkey), count(l_orderkey), sum(l_quantity) FROM orders FULL JOIN lineitem ON o_orderkey = l_orderkey + 3 AND l_linenumber < 5"},
		{"HashJoin right", "SELECT count(*), count(o_orderkey) FROM orders RIGHT JOIN lineitem ON o_orderkey = l_orderkey AND o_totalprice > l_extendedprice * 3"},
	} {
		t.Run(c.op, func(t *testing.T) {
			setLimit(t, db, false)
			want, err := collect(t, db, ctx, c.q, nil)
			if err != nil {
				t.Fatal(err)
			}
			setLimit(t, db, true)
			got, err := collect(t, db, ctx, c.q, nil)
			if err != nil {
				t.Fatal(err)
			}
			compareRows(t, "with a memory limit", want, got)
			assertNoSpillFiles(t, spillDir, c.op)
			plan, err := collect(t, db, ctx, "EXPLAIN ANALYZE "+c.q, nil)
			if err != nil {
				t.Fatal(err)
			}
			op := strings.Fields(c.op)[0]
			re := regexp.MustCompile(`(?m)^\s*` + op + `\b.*spilled=[1-9]`)
			if text := strings.Join(plan, "\n"); !re.MatchString(text) {
				t.Fatalf("%s did not spill:\n%s", op, text)
			}
			assertNoSpillFiles(t, spillDir, c.op+" (EXPLAIN ANALYZE)")
		})
	}
	setLimit(t, db, false)
	mem.AssertSize(t, 0)
}

// TestSpillCleanupOnCancelAndError checks that a spilling query that is
// cancelled, or fails, removes its spill files.
func TestSpillCleanupOnCancelAndError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	spillDir := t.TempDir()
	db := openTPCH(t, Options{Allocator: mem, SpillDir: spillDir})
	setLimit(t, db, true)
	defer setLimit(t, db, false)

	// Cancelled while the spilled aggregation is read back.
	ctx, cancel := context.WithCancel(context.Background())
	rows, err := db.Query(ctx, "SELECT l_orderkey, l_partkey, count(*) FROM lineitem GROUP BY 1, 2")
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("no first batch: %v", rows.Err())
	}
	cancel()
	for rows.Next() {
	}
	rows.Release()
	assertNoSpillFiles(t, spillDir, "cancelled query")

	// Fails after spilling: division by zero in the aggregation's output.
	_, err = collect(t, db, context.Background(), "SELECT l_orderkey, l_partkey, 1 / (count(*) - count(*)) FROM lineitem GROUP BY 1, 2", nil)
	if err == nil || !strings.Contains(err.Error(), "zero") {
		t.Fatalf("err = %v, want division by zero", err)
	}
	assertNoSpillFiles(t, spillDir, "failed query")
	mem.AssertSize(t, 0)
}
